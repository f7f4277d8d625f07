/* An epoch's segments: see segment_internal.h. */
#include <math.h>

#include "core/clock_internal.h"
#include "core/error_internal.h"
#include "leash/dist.h"
#include "train/segment_internal.h"
#include "train/state_internal.h"
#include "train/trainer_internal.h"

/* What the ranks decide between segments: each field counts the ranks that say so. */
typedef union segment_vote {
    struct {
        double stop;           /* asked to stop */
        double checkpoint_due; /* a checkpoint due */
        double unfinished;     /* rounds of the epoch left */
        double round_due;      /* a blocking round due */
        double ready;          /* due for that round, or done with the epoch */
    };
    double all[5];
} segment_vote;
LEASH_AGREEMENT(segment_vote);

/* The earlier of two deadlines, < 0 meaning none. */
static double earliest(double a, double b) { return a < 0 ? b : b < 0 ? a : fmin(a, b); }

void leash_progress_report(trainer *t)
{
    const leash_config *c = t->cfg;
    leash_progress_calls *pc = &t->progress;
    const double now = leash_now();
    if (pc->next < 0 || now < pc->next) return;
    pc->next = now + c->progress_every;
    double sum;
    uint64_t n;
    leash_workers_trace_sums(t, &sum, &n);
    const leash_progress_info p = {
        .epoch = t->res->nepochs + 1,
        .updates = atomic_load(&t->count.published) - t->prog.updates_before,
        .updates_per_epoch = (uint64_t)leash_updates_per_epoch(t),
        .elapsed_s = t->prog.elapsed + (now - t->trace.seg_start),
        .loss = n > pc->losses ? (sum - pc->loss) / (double)(n - pc->losses) : NAN,
    };
    pc->loss = sum;
    pc->losses = n;
    c->on_progress(&p, c->progress_arg);
}

/* The checkpoint period's deadline (< 0: none). */
static double checkpoint_deadline(const trainer *t)
{
    return t->cfg->checkpoint && t->cfg->checkpoint_period > 0 ? t->prog.next_ckpt_time : -1.0;
}

static int paused(trainer *t)
{
    return atomic_load_explicit(&t->count.pause, memory_order_relaxed);
}

static void pause_workers(trainer *t)
{
    atomic_store_explicit(&t->count.pause, 1, memory_order_relaxed);
}

/* Sleep until the workers finish the segment; at the checkpoint period's deadline ask
 * them to pause (they then finish within a mini-batch); report progress when it is due. */
static void wait_workers(trainer *t)
{
    const double due = checkpoint_deadline(t);
    for (;;) {
        const int ckpt = due >= 0 && !paused(t);
        if (leash_gate_wait(&t->gate, earliest(ckpt ? due : -1.0, t->progress.next), 0)) return;
        if (ckpt && leash_now() >= due) pause_workers(t);
        leash_progress_report(t);
    }
}

/* Sleep until the workers finish the segment or a round is due (by count: woken by the
 * worker that reaches it, see leash_counting; by time: at the deadline). A checkpoint's
 * deadline pauses the workers, as in wait_workers. Returns whether they finished. */
static int wait_for_round(trainer *t, const leash_averager *av)
{
    const double ckpt = checkpoint_deadline(t);
    double at = av->next_time;
    if (ckpt >= 0 && !paused(t) && (at < 0 || ckpt < at)) at = ckpt;
    at = earliest(at, t->progress.next);
    if (t->count.wakeups) atomic_store(&t->count.wake_at, av->next_updates);
    /* A round already due: no sleep, but the wake-up flag is cleared as by a wait. */
    if (t->count.wakeups && atomic_load(&t->count.published) >= av->next_updates) at = 0.0;
    const int done = leash_gate_wait(&t->gate, at, t->count.wakeups);
    if (ckpt >= 0 && leash_now() >= ckpt) pause_workers(t);
    leash_progress_report(t);
    return done;
}

/* For the averaging layer: no worker runs. */
static int workers_idle(void *arg)
{
    trainer *t = arg;
    return leash_gate_idle(&t->gate);
}

/* Rounds until every rank has finished the segment (see averaging_internal.h). */
static int rounds_until_all_finished(trainer *t, leash_averager *av, int all_finished)
{
    int any_pause = 0, rc;
    while (!all_finished) {
        if ((rc = leash_averager_round(av, atomic_load(&t->count.published), 1,
                                       leash_pause_asked(t), workers_idle, t, &all_finished,
                                       &any_pause)) != 0)
            return rc;
        if (any_pause) pause_workers(t);
    }
    return 0;
}

/* The main thread's share of a segment with the averaging layer on: rounds whenever one
 * is due while the workers run, then, with several ranks, rounds until every rank has
 * finished the segment. A rank that pauses tells the others in the next round, and they
 * pause too. */
static int averaging_segment(trainer *t, leash_averager *av)
{
    int all_finished = 0, any_pause = 0, rc = 0;
    /* A stall line says who waits: the workers go on while this rank's own run, then
     * the whole rank waits for the others to finish the segment. */
    leash_comm_set_workers_running(1);
    while (rc == 0 && !wait_for_round(t, av)) {
        uint64_t updates = atomic_load(&t->count.published);
        const int pause = leash_pause_asked(t);
        if ((pause && leash_dist_size() > 1) || leash_averager_due(av, updates, leash_now())) {
            rc = leash_averager_round(av, updates, 0, pause, workers_idle, t, &all_finished,
                                      &any_pause);
            if (any_pause) pause_workers(t);
        }
    }
    leash_comm_set_workers_running(0);
    if (rc || leash_dist_size() == 1) return rc;
    return rounds_until_all_finished(t, av, all_finished);
}

/* A blocking round (collective; no worker runs on any rank): every rank is at its round's
 * update count or done with the epoch, so the ranks average exactly the models they have
 * at those counts. A rank that was not due keeps its own schedule. */
static int blocking_round(trainer *t, int due)
{
    const uint64_t next = t->av.next_updates;
    const uint64_t updates = atomic_load(&t->count.published);
    int rc = leash_averager_exchange(&t->av, updates, workers_idle, t);
    if (rc) {
        leash_comm_mark_broken();
        return rc;
    }
    if (!due) t->av.next_updates = next;
    /* Where the round fell on this rank: the output shows that rounds ran, and when. */
    leash_result *res = t->res;
    if (res->nround_updates < LEASH_ROUND_UPDATES_MAX)
        res->round_updates[res->nround_updates++] = updates;
    return 0;
}

/* The last round of a lockstep segment that starts at lockstep_first and pauses at
 * pause_at updates (one update a round), or the epoch's end. */
static long lockstep_end(const trainer *t, uint64_t pause_at, uint64_t published)
{
    long end = t->rounds / t->cfg->threads;
    if (pause_at != UINT64_MAX) {
        const uint64_t left = pause_at > published ? pause_at - published : 0;
        if (left < (uint64_t)(end - t->handout.lockstep_first))
            end = t->handout.lockstep_first + (long)left;
    }
    return end;
}

/* Prepare the segment that starts at the epoch's position. It ends at the next counted
 * pause (checkpoint_every's, or a blocking round's): a lockstep segment is cut there
 * exactly, and one already due pauses before it starts. */
static void plan_segment(trainer *t)
{
    const leash_progress *pg = &t->prog;
    uint64_t pause_at = t->cfg->checkpoint && t->cfg->checkpoint_every > 0 ? pg->next_ckpt_updates
                                                                           : UINT64_MAX;
    if (t->blocking && t->av.next_updates < pause_at) pause_at = t->av.next_updates;
    const uint64_t published = atomic_load(&t->count.published);
    t->count.pause_at = pause_at;
    atomic_store_explicit(&t->count.pause, pause_at <= published, memory_order_relaxed);
    atomic_store_explicit(&t->handout.next_round, pg->position, memory_order_relaxed);
    t->handout.lockstep_first = pg->position / t->cfg->threads;
    atomic_store_explicit(&t->handout.lockstep_end, lockstep_end(t, pause_at, published),
                          memory_order_relaxed);
    t->trace.time_base = t->res->time_s + pg->elapsed;
    t->trace.seg_start = leash_now();
}

/* The averaging layer failed: other ranks may be waiting in a round for this one, so
 * only an abort ends the job now (leash_dist_broken). Stop the workers claiming more and
 * let the segment end before returning: a lockstep worker that has not yet left the gate
 * would otherwise see the quit and never reach the barrier the others wait at. */
static int averaging_failed(trainer *t, int rc)
{
    leash_comm_mark_broken();
    int none = 0;
    atomic_compare_exchange_strong_explicit(&t->failures.error, &none, rc, memory_order_relaxed,
                                            memory_order_relaxed);
    pause_workers(t);
    wait_workers(t);
    return rc;
}

/* Run the planned segment: the workers until they stop, the main thread meanwhile in the
 * averaging layer's rounds or asleep; then the epoch's position after it. */
static int drive_segment(trainer *t)
{
    leash_gate_open(&t->gate, 0);
    if (t->averaging && !t->blocking) {
        int rc = averaging_segment(t, &t->av);
        if (rc) return averaging_failed(t, rc);
    } else {
        wait_workers(t);
    }
    t->split.segments += leash_now() - t->trace.seg_start;
    const int m = t->cfg->threads;
    long done = t->ops->lockstep
                    ? atomic_load_explicit(&t->handout.lockstep_end, memory_order_relaxed) * m
                    : atomic_load_explicit(&t->handout.next_round, memory_order_relaxed);
    t->prog.position = done < t->rounds ? done : t->rounds;
    return 0;
}

/* The segment's failures, as the ranks agree on them: the lowest failing rank reports,
 * all stop. */
static int agree_on_failures(trainer *t)
{
    leash_failures *f = &t->failures;
    int error = atomic_load_explicit(&f->error, memory_order_relaxed);
    if (error)
        leash_fail(error, "%s: cannot apply a gradient: %s",
                   leash_algorithm_name(t->cfg->algorithm), leash_strerror(error));
    else if (atomic_load_explicit(&f->diverged, memory_order_relaxed))
        error = leash_fail(LEASH_EDIVERGED, LEASH_DIVERGED_FORMAT, t->res->nepochs + 1,
                           (unsigned long long)atomic_load(&f->diverged_at), "leash_config.step");
    return leash_dist_agree(error);
}

/* Between segments, as the ranks voted: a checkpoint when one is due or a stop asked (and
 * the epoch or a round has work left), then a blocking round when every rank is ready for
 * it and none stops. The round is training time, the checkpoint's pause is not. */
static int between_segments(trainer *t, const segment_vote *v, int due)
{
    int rc = 0;
    if ((v->unfinished > 0 || v->round_due > 0) && (v->stop > 0 || v->checkpoint_due > 0))
        rc = leash_state_checkpoint(t);
    if (rc == 0 && v->stop == 0 && v->round_due > 0 && (int)v->ready == leash_dist_size()) {
        const double t0 = leash_now();
        rc = blocking_round(t, due);
        t->prog.elapsed += leash_now() - t0;
    }
    return rc;
}

/* One segment and the ranks' vote after it. */
static int segment(trainer *t, segment_vote *v, int *due)
{
    leash_progress *pg = &t->prog;
    const double t0 = leash_now();
    plan_segment(t);
    int rc = drive_segment(t);
    if (rc) return rc;
    if ((rc = agree_on_failures(t)) != 0) {
        pg->elapsed += leash_now() - t0;
        return rc;
    }
    *due = t->blocking && atomic_load(&t->count.published) >= t->av.next_updates;
    *v = (segment_vote){.stop = leash_stop_asked(),
                        .checkpoint_due = leash_checkpoint_due(t),
                        .unfinished = pg->position < t->rounds,
                        .round_due = *due,
                        .ready = *due || pg->position >= t->rounds};
    rc = LEASH_AGREE_SUM(v);
    /* The segment's time counts before a checkpoint records it, so that a run resumed
     * from it goes on at the time it stopped. */
    pg->elapsed += leash_now() - t0;
    return rc;
}

int leash_segments_run(trainer *t, int *stopped)
{
    for (;;) {
        segment_vote v;
        int due, rc = segment(t, &v, &due);
        if (rc || (rc = between_segments(t, &v, due)) != 0) return rc;
        /* Every rank done with the epoch: its end comes next (a stop is seen there). */
        if (v.unfinished == 0 && v.round_due == 0) return 0;
        if (v.stop > 0) {
            *stopped = 1;
            return 0;
        }
    }
}
