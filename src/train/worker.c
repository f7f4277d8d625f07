/* The workers and their rounds: see worker_internal.h. The loop is written once here
 * against the strategy interface; the strategy decides how reads and publishes
 * synchronize. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock_internal.h"
#include "core/error_internal.h"
#include "leash/placement.h"
#include "train/trainer_internal.h"

uint64_t leash_workers_updates(const trainer *t)
{
    uint64_t u = 0;
    for (int i = 0; i < t->cfg->threads; ++i) u += t->workers[i].stats.updates;
    return u;
}

void leash_workers_trace_sums(const trainer *t, double *sum, uint64_t *n)
{
    *sum = 0.0;
    *n = 0;
    for (int i = 0; i < t->cfg->threads; ++i) {
        *n += atomic_load_explicit(&t->workers[i].trace_n, memory_order_relaxed);
        *sum += atomic_load_explicit(&t->workers[i].trace_sum, memory_order_relaxed);
    }
}

/* Round r's window of the epoch's permutation, gathered into the worker's input:
 * consecutive windows, wrapping if the rounds ask for more samples than one pass holds. */
static void gather_round(worker *w, long r)
{
    trainer *t = w->t;
    const int b = t->cfg->batch;
    const size_t ntrain = t->train->n;
    size_t pos = (size_t)r * (size_t)b % ntrain;
    for (int i = 0; i < b; ++i) {
        w->idx[i] = t->perm[pos];
        if (++pos == ntrain) pos = 0;
    }
    leash_dataset_gather(leash_workspace_input(w->ws), leash_workspace_labels(w->ws), t->train,
                         &t->map, w->idx, b);
}

/* Add to a worker's trace sums, the sum before the count (see worker): relaxed loads and
 * stores, since only that worker writes them (or the main thread, before any runs). */
static void add_relaxed(_Atomic double *sum, _Atomic uint64_t *n, double dsum, uint64_t dn)
{
    atomic_store_explicit(sum, atomic_load_explicit(sum, memory_order_relaxed) + dsum,
                          memory_order_relaxed);
    atomic_store_explicit(n, atomic_load_explicit(n, memory_order_relaxed) + dn,
                          memory_order_relaxed);
}

/* A computed loss: into the epoch's and the trace's sums if it is finite; otherwise the
 * run has diverged, on the earliest version any worker saw it on. Returns whether it
 * was finite. */
static int count_loss(worker *w, float loss, uint64_t ts)
{
    trainer *t = w->t;
    if (isfinite(loss)) {
        w->loss_sum += loss;
        ++w->losses;
        if (t->trace.every) add_relaxed(&w->trace_sum, &w->trace_n, loss, 1);
        return 1;
    }
    leash_failures *f = &t->failures;
    uint64_t seen = atomic_load_explicit(&f->diverged_at, memory_order_relaxed);
    while (ts < seen && !atomic_compare_exchange_weak_explicit(&f->diverged_at, &seen, ts,
                                                               memory_order_relaxed,
                                                               memory_order_relaxed)) {
    }
    atomic_store_explicit(&f->diverged, 1, memory_order_relaxed);
    return 0;
}

void leash_count_update(void *arg)
{
    trainer *t = arg;
    leash_counting *c = &t->count;
    uint64_t now = atomic_fetch_add(&c->published, 1) + 1;
    if (t->trace.every && now % (uint64_t)t->trace.every == 0) {
        double sum;
        uint64_t n;
        leash_workers_trace_sums(t, &sum, &n);
        leash_trace_record(&t->trace, now, sum, n);
    }
    if (now == c->pause_at) atomic_store_explicit(&c->pause, 1, memory_order_relaxed);
    if (c->wakeups && now == atomic_load(&c->wake_at)) leash_gate_wake(&t->gate);
}

/* The instants that divide a round into its phases, and the waits inside them. */
typedef struct round_clock {
    double start, read, gradient, release, publish, end;
    double wait_read, wait_publish; /* the strategy's lock or barrier waits */
} round_clock;

/* Whether the timeline records this round: 1 in timeline_every of the worker's. */
static leash_tl_track *sampled(worker *w)
{
    if (!w->track) return NULL;
    if (w->tl_skip-- > 0) return NULL;
    w->tl_skip = w->t->timeline.tl.every - 1;
    return w->track;
}

/* The round's phases into the worker's time breakdown, and onto its track if sampled. */
static void account_round(worker *w, const round_clock *c)
{
    leash_worker_stats *st = &w->stats;
    st->time_compute += (c->read - c->start) + (c->release - c->gradient);
    st->time_read += (c->gradient - c->read) + (c->publish - c->release) - c->wait_read;
    st->time_publish += (c->end - c->publish) - c->wait_publish;
    if (!st->tl) return;
    leash_tl_add(st->tl, LEASH_TL_BATCH, c->start, c->read, 0);
    leash_tl_add(st->tl, LEASH_TL_READ, c->read, c->gradient, 0);
    leash_tl_add(st->tl, LEASH_TL_GRADIENT, c->gradient, c->release, 0);
    leash_tl_add(st->tl, LEASH_TL_PUBLISH, c->publish, c->end, 0);
    st->tl = NULL;
}

/* The gradient on theta; the test hook's worker takes longer over it. */
static float gradient(worker *w, const float *theta)
{
    trainer *t = w->t;
    float loss = leash_model_gradient(t->model, theta, w->grad, w->ws, t->cfg->batch);
    if (w->id == t->slow_worker) {
        const struct timespec d = {(time_t)t->slow_s, (long)(fmod(t->slow_s, 1.0) * 1e9)};
        nanosleep(&d, NULL);
    }
    return loss;
}

/* One mini-batch: gather round r's samples, compute the gradient on a pinned version,
 * publish it. Returns 0, or -1 if the loss was not finite or the publish failed. */
static int do_round(worker *w, long r)
{
    trainer *t = w->t;
    leash_worker_stats *st = &w->stats;
    round_clock c = {.start = leash_now()};
    st->tl = sampled(w);
    gather_round(w, r);
    uint64_t ts;
    double waited = st->time_wait;
    c.read = leash_now();
    const float *theta = t->ops->read(t->strategy, w->id, &ts, st);
    c.gradient = leash_now();
    float loss = gradient(w, theta);
    c.release = leash_now();
    t->ops->release(t->strategy, w->id, theta);
    c.wait_read = st->time_wait - waited;
    waited = st->time_wait;
    c.publish = leash_now();
    ++st->gradients;
    const int ok = count_loss(w, loss, ts);
    /* A lockstep strategy needs every worker at every barrier, so even a diverged
     * gradient is published there; the run stops at the end of the epoch. */
    int rc = ok || t->ops->lockstep ? t->ops->publish(t->strategy, w->id, w->grad, ts, st) : 0;
    c.end = leash_now();
    c.wait_publish = st->time_wait - waited;
    account_round(w, &c);
    if (rc == 1 && !t->ops->lockstep) leash_count_update(t);
    if (rc < 0) {
        int none = 0;
        atomic_compare_exchange_strong_explicit(&t->failures.error, &none, rc,
                                                memory_order_relaxed, memory_order_relaxed);
        return -1;
    }
    return ok ? 0 : -1;
}

/* A lockstep worker's share of a segment. Every worker must reach every barrier, so the
 * workers stop after the same round (see leash_handout.lockstep_end), and a lockstep
 * epoch runs to its end even when a gradient diverged: a worker cannot tell whether
 * another one has already gone on into the next round (and set diverged there), so
 * stopping early could strand it. */
static void run_lockstep(worker *w)
{
    trainer *t = w->t;
    leash_handout *h = &t->handout;
    const int m = t->cfg->threads;
    for (long k = h->lockstep_first; k < atomic_load_explicit(&h->lockstep_end, memory_order_relaxed);
         ++k) {
        if (w->id == 0 && leash_pause_asked(t))
            atomic_store_explicit(&h->lockstep_end, k + 1, memory_order_relaxed);
        do_round(w, k * m + w->id);
    }
}

/* The worker's share of a segment: from the epoch's position until its end, a pause, a
 * stop or a failure. */
static void run_segment(worker *w)
{
    trainer *t = w->t;
    if (t->ops->lockstep) {
        run_lockstep(w);
        return;
    }
    for (;;) {
        if (leash_pause_asked(t) ||
            atomic_load_explicit(&t->failures.diverged, memory_order_relaxed) ||
            atomic_load_explicit(&t->failures.error, memory_order_relaxed))
            return;
        long r = atomic_fetch_add_explicit(&t->handout.next_round, 1, memory_order_relaxed);
        if (r >= t->rounds || do_round(w, r) != 0) return;
    }
}

void *leash_worker_main(void *arg)
{
    worker *w = arg;
    trainer *t = w->t;
    unsigned long seen = 0;
    if (t->cfg->placement && t->cfg->topology)
        w->bound = leash_placement_bind_thread(t->cfg->placement, t->cfg->topology, w->id) == 0;
    while (!leash_gate_enter(&t->gate, &seen)) {
        if (w->track && w->segment_end > 0)
            leash_tl_add(w->track, LEASH_TL_PAUSED, w->segment_end, leash_now(), 0);
        run_segment(w);
        w->segment_end = leash_now();
        leash_gate_leave(&t->gate);
    }
    return NULL;
}

int leash_workers_create(trainer *t)
{
    int m = t->cfg->threads;
    t->workers = aligned_alloc(LEASH_CACHE_LINE, (size_t)m * sizeof *t->workers);
    if (!t->workers) return leash_fail(LEASH_ENOMEM, "out of memory for %d workers", m);
    memset(t->workers, 0, (size_t)m * sizeof *t->workers);
    for (int i = 0; i < m; ++i) {
        worker *w = &t->workers[i];
        w->id = i;
        w->t = t;
        int rc = leash_workspace_create(&w->ws, t->model, t->cfg->batch);
        if (rc) return rc;
        w->grad = leash_params_alloc(t->model->nparams);
        w->idx = malloc((size_t)t->cfg->batch * sizeof *w->idx);
        w->stats.staleness = calloc((size_t)t->cfg->tau_max + 1, sizeof *w->stats.staleness);
        if (!w->grad || !w->idx || !w->stats.staleness)
            return leash_fail(LEASH_ENOMEM, "out of memory for worker %d", i);
    }
    return 0;
}

void leash_workers_free(trainer *t)
{
    if (!t->workers) return;
    for (int i = 0; i < t->cfg->threads; ++i) {
        worker *w = &t->workers[i];
        leash_workspace_destroy(w->ws);
        leash_params_free(w->grad);
        free(w->idx);
        free(w->stats.staleness);
    }
    free(t->workers);
    t->workers = NULL;
}

/* --- checkpoints ------------------------------------------------------------------- */

static void put_stats(leash_wbuf *b, const leash_worker_stats *st, int bins)
{
    leash_wbuf_u64(b, st->updates);
    leash_wbuf_u64(b, st->dropped);
    leash_wbuf_u64(b, st->failed_cas);
    leash_wbuf_u64(b, st->gradients);
    leash_wbuf_bytes(b, st->staleness, (size_t)bins * sizeof *st->staleness);
    leash_wbuf_bytes(b, st->attempts, sizeof st->attempts);
    leash_wbuf_f64(b, st->time_compute);
    leash_wbuf_f64(b, st->time_publish);
    leash_wbuf_f64(b, st->time_wait);
    leash_wbuf_f64(b, st->time_mix);
}

static void get_stats(leash_rbuf *r, leash_worker_stats *st, int bins)
{
    st->updates = leash_rbuf_u64(r);
    st->dropped = leash_rbuf_u64(r);
    st->failed_cas = leash_rbuf_u64(r);
    st->gradients = leash_rbuf_u64(r);
    leash_rbuf_bytes(r, st->staleness, (size_t)bins * sizeof *st->staleness);
    leash_rbuf_bytes(r, st->attempts, sizeof st->attempts);
    st->time_compute = leash_rbuf_f64(r);
    st->time_publish = leash_rbuf_f64(r);
    st->time_wait = leash_rbuf_f64(r);
    st->time_mix = leash_rbuf_f64(r);
}

static void add_stats(leash_worker_stats *to, const leash_worker_stats *from, int bins)
{
    to->updates += from->updates;
    to->dropped += from->dropped;
    to->failed_cas += from->failed_cas;
    to->gradients += from->gradients;
    for (int k = 0; k < bins; ++k) to->staleness[k] += from->staleness[k];
    for (int k = 0; k < LEASH_ATTEMPT_BINS; ++k) to->attempts[k] += from->attempts[k];
    to->time_compute += from->time_compute;
    to->time_publish += from->time_publish;
    to->time_wait += from->time_wait;
    to->time_mix += from->time_mix;
}

void leash_workers_save(leash_wbuf *b, const trainer *t, int bins)
{
    const int m = t->cfg->threads;
    leash_wbuf_u32(b, (uint32_t)m);
    for (int i = 0; i < m; ++i) {
        const worker *w = &t->workers[i];
        leash_wbuf_f64(b, w->loss_sum);
        leash_wbuf_u64(b, w->losses);
        leash_wbuf_f64(b, atomic_load_explicit(&w->trace_sum, memory_order_relaxed));
        leash_wbuf_u64(b, atomic_load_explicit(&w->trace_n, memory_order_relaxed));
        put_stats(b, &w->stats, bins);
    }
}

int leash_workers_load(trainer *t, leash_rbuf *r, int from, int own, int bins, const char **bad)
{
    const int m = t->cfg->threads;
    uint32_t nworkers = leash_rbuf_u32(r);
    *bad = "workers";
    if (r->bad || nworkers != (uint32_t)from) return LEASH_EFORMAT;
    *bad = "workers' statistics";
    leash_worker_stats st = {.staleness = calloc((size_t)bins, sizeof *st.staleness)};
    if (!st.staleness) return leash_fail(LEASH_ENOMEM, "out of memory");
    for (int i = 0; i < from; ++i) {
        worker *w = &t->workers[i % m];
        double loss_sum = leash_rbuf_f64(r);
        uint64_t losses = leash_rbuf_u64(r);
        double trace_sum = leash_rbuf_f64(r);
        uint64_t trace_n = leash_rbuf_u64(r);
        get_stats(r, &st, bins);
        if (!own) continue;
        w->loss_sum += loss_sum;
        w->losses += losses;
        add_relaxed(&w->trace_sum, &w->trace_n, trace_sum, trace_n);
        add_stats(&w->stats, &st, bins);
    }
    free(st.staleness);
    return r->bad ? LEASH_EFORMAT : 0;
}
