/* The averaging layer: see averaging_internal.h. */
#include <math.h>
#include <string.h>
#include <time.h>

#include "core/clock_internal.h"
#include "core/error_internal.h"
#include "mpi/averaging_internal.h"
#include "mpi/comm_internal.h"
#include "leash/dist.h"

int leash_averager_init(leash_averager *a, const leash_strategy_ops *ops, leash_strategy *s,
                        size_t n, long every, double period)
{
    memset(a, 0, sizeof *a);
    a->ops = ops;
    a->strategy = s;
    a->n = n;
    a->every = every;
    a->period = period;
    a->next_updates = every > 0 ? (uint64_t)every : UINT64_MAX;
    a->next_time = period > 0 ? leash_now() + period : -1.0;
    a->snapshot = leash_params_alloc(n);
    a->sum = leash_params_alloc(n);
    if (!a->snapshot || !a->sum) {
        leash_averager_free(a);
        return leash_fail(LEASH_ENOMEM, "out of memory for the averaging buffers");
    }
    return 0;
}

void leash_averager_free(leash_averager *a)
{
    leash_params_free(a->snapshot);
    leash_params_free(a->sum);
    a->snapshot = a->sum = NULL;
}

/* A span on the main thread's timeline track, if there is one. */
static void span(leash_averager *a, leash_tl_kind kind, double t0, double t1)
{
    if (a->track) leash_tl_add(a->track, kind, t0, t1, (uint32_t)a->rounds);
}

int leash_averager_due(const leash_averager *a, uint64_t updates, double now)
{
    return updates >= a->next_updates || (a->next_time >= 0 && now >= a->next_time);
}

/* Wait until a request the strategy posted has been carried out: by a worker at its next
 * update, or here once the workers have stopped. Only this thread waits. */
static void complete(leash_averager *a, int (*idle)(void *), void *arg)
{
    const struct timespec pause = {0, 50000};
    while (a->ops->mix_pending(a->strategy)) {
        if (idle(arg)) {
            a->ops->mix_serve(a->strategy);
            return;
        }
        nanosleep(&pause, NULL);
    }
}

/* What the ranks tell each other first in a round: how many have finished their epoch,
 * how many pause. */
typedef union round_start {
    struct {
        float finished, paused;
    };
    float all[2];
} round_start;
LEASH_AGREEMENT(round_start);

int leash_averager_round(leash_averager *a, uint64_t updates, int finished, int pause,
                         int (*idle)(void *), void *arg, int *all_finished, int *any_pause)
{
    double t0 = leash_now();
    const int ranks = leash_dist_size();
    /* First agree whether every rank has finished its epoch: then there is nothing left
     * to pair, and no averaging. Counts of ranks are small integers: exact in float, the
     * same on every rank. */
    round_start v = {.finished = finished ? 1.0f : 0.0f, .paused = pause ? 1.0f : 0.0f};
    int rc = LEASH_AGREE_SUM(&v);
    if (rc) return rc;
    *all_finished = (int)v.finished == ranks;
    *any_pause = v.paused > 0;
    a->time_mpi += leash_now() - t0;
    a->time_total += leash_now() - t0;
    return *all_finished ? 0 : leash_averager_exchange(a, updates, idle, arg);
}

int leash_averager_exchange(leash_averager *a, uint64_t updates, int (*idle)(void *), void *arg)
{
    double t0 = leash_now();
    const int ranks = leash_dist_size();
    int rc;
    if (a->every > 0 && updates >= a->next_updates + (uint64_t)a->every)
        a->behind += (updates - a->next_updates) / (uint64_t)a->every;
    if ((rc = a->ops->mix_read(a->strategy, a->snapshot)) < 0) return rc;
    if (rc == 1) complete(a, idle, arg);
    memcpy(a->sum, a->snapshot, a->n * sizeof *a->sum);
    double t1 = leash_now();
    span(a, LEASH_TL_SNAPSHOT, t0, t1);
    if ((rc = leash_comm_allreduce_sum_f(a->sum, a->n)) != 0) return rc;
    const double t2 = leash_now();
    a->time_mpi += t2 - t1;
    span(a, LEASH_TL_EXCHANGE, t1, t2);
    /* The correction, in place: average - snapshot. With one rank it is zero, and
     * publishing it would only cost an update (and, for HOG, race the workers' own). */
    if (ranks > 1) {
        const float inv = 1.0f / (float)ranks;
        for (size_t i = 0; i < a->n; ++i) a->sum[i] = a->sum[i] * inv - a->snapshot[i];
        rc = a->ops->mix_apply(a->strategy, a->sum);
        if (rc < 0) return rc;
        if (rc == 1) complete(a, idle, arg);
        span(a, LEASH_TL_CORRECTION, t2, leash_now());
    }
    double now = leash_now();
    span(a, LEASH_TL_ROUND, t0, now); /* numbered like its parts: from 0 */
    ++a->rounds;
    a->time_total += now - t0;
    if (a->every > 0) a->next_updates = updates + (uint64_t)a->every;
    if (a->period > 0) a->next_time = now + a->period;
    return 0;
}

/* --- checkpoints ------------------------------------------------------------------- */

/* Deadlines are saved as the time left: clocks differ from process to process, durations
 * carry over. < 0: none. */
void leash_averager_save(leash_wbuf *b, const leash_averager *a, double now)
{
    leash_wbuf_u64(b, a->rounds);
    leash_wbuf_f64(b, a->time_mpi);
    leash_wbuf_f64(b, a->time_total);
    leash_wbuf_u64(b, a->next_updates);
    leash_wbuf_f64(b, a->next_time < 0 ? -1.0 : fmax(a->next_time - now, 0.0));
}

void leash_averager_load(leash_averager *a, leash_rbuf *r, int own, int schedule, double now)
{
    uint64_t rounds = leash_rbuf_u64(r);
    double time_mpi = leash_rbuf_f64(r), time_total = leash_rbuf_f64(r);
    uint64_t next_updates = leash_rbuf_u64(r);
    double left = leash_rbuf_f64(r);
    if (!own) return;
    a->rounds = rounds;
    a->time_mpi = time_mpi;
    a->time_total = time_total;
    if (schedule) {
        a->next_updates = next_updates;
        a->next_time = left < 0 ? -1.0 : now + left;
    }
}
