/* The worker gate: see gate_internal.h. */
#include <time.h>

#include "core/clock_internal.h"
#include "core/error_internal.h"
#include "train/gate_internal.h"

int leash_gate_init(leash_gate *g, int threads)
{
    *g = (leash_gate){.threads = threads};
    if (pthread_mutex_init(&g->lock, NULL) != 0) goto fail;
    if (pthread_cond_init(&g->started, NULL) != 0) {
        pthread_mutex_destroy(&g->lock);
        goto fail;
    }
    pthread_condattr_t monotonic;
    int cv = pthread_condattr_init(&monotonic);
    if (cv == 0) {
        cv = pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
        if (cv == 0) cv = pthread_cond_init(&g->finished_cv, &monotonic);
        pthread_condattr_destroy(&monotonic);
    }
    if (cv == 0) return 0;
    pthread_cond_destroy(&g->started);
    pthread_mutex_destroy(&g->lock);
fail:
    return leash_fail(LEASH_ENOMEM, "cannot create the workers' gate");
}

void leash_gate_destroy(leash_gate *g)
{
    pthread_mutex_destroy(&g->lock);
    pthread_cond_destroy(&g->started);
    pthread_cond_destroy(&g->finished_cv);
}

void leash_gate_open(leash_gate *g, int quit)
{
    pthread_mutex_lock(&g->lock);
    g->finished = 0;
    g->quit = quit;
    ++g->generation;
    pthread_cond_broadcast(&g->started);
    pthread_mutex_unlock(&g->lock);
}

static struct timespec to_timespec(double at)
{
    /* Deadlines are bounded by the options; a time_t still holds any clamped one. */
    if (at > 1e15) at = 1e15;
    struct timespec ts;
    ts.tv_sec = (time_t)at;
    ts.tv_nsec = (long)((at - (double)ts.tv_sec) * 1e9);
    return ts;
}

int leash_gate_wait(leash_gate *g, double at, int until_woken)
{
    const struct timespec deadline = to_timespec(at);
    int timed_out = 0;
    pthread_mutex_lock(&g->lock);
    while (g->finished < g->threads && !(until_woken && g->wake) && !timed_out) {
        if (at >= 0)
            timed_out = pthread_cond_timedwait(&g->finished_cv, &g->lock, &deadline) != 0;
        else
            pthread_cond_wait(&g->finished_cv, &g->lock);
    }
    if (until_woken) g->wake = 0;
    const int done = g->finished == g->threads;
    pthread_mutex_unlock(&g->lock);
    return done;
}

int leash_gate_idle(leash_gate *g)
{
    pthread_mutex_lock(&g->lock);
    const int idle = g->finished == g->threads;
    pthread_mutex_unlock(&g->lock);
    return idle;
}

int leash_gate_enter(leash_gate *g, unsigned long *seen)
{
    pthread_mutex_lock(&g->lock);
    while (g->generation == *seen) pthread_cond_wait(&g->started, &g->lock);
    *seen = g->generation;
    const int quit = g->quit;
    pthread_mutex_unlock(&g->lock);
    return quit;
}

void leash_gate_leave(leash_gate *g)
{
    pthread_mutex_lock(&g->lock);
    if (++g->finished == g->threads) pthread_cond_signal(&g->finished_cv);
    pthread_mutex_unlock(&g->lock);
}

void leash_gate_wake(leash_gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->wake = 1;
    pthread_cond_signal(&g->finished_cv);
    pthread_mutex_unlock(&g->lock);
}
