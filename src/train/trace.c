/* The loss trace: see trace_internal.h. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "core/clock_internal.h"
#include "core/error_internal.h"
#include "train/trace_internal.h"

int leash_trace_alloc(leash_trace *tr, long every, int epochs, long per_epoch)
{
    leash_trace_free(tr);
    tr->every = every;
    if (!every) return 0;
    const size_t cap = (size_t)epochs * (size_t)(per_epoch / every + 1) + 1;
    if (!(tr->points = calloc(cap, sizeof *tr->points)))
        return leash_fail(LEASH_ENOMEM, "out of memory for a loss trace of %zu points", cap);
    tr->cap = cap;
    return 0;
}

void leash_trace_free(leash_trace *tr)
{
    free(tr->points);
    tr->points = NULL;
    tr->cap = 0;
}

void leash_trace_record(leash_trace *tr, uint64_t updates, double sum, uint64_t n)
{
    size_t k = (size_t)(updates / (uint64_t)tr->every) - 1;
    if (k >= tr->cap) return;
    tr->points[k] = (leash_trace_raw){tr->time_base + (leash_now() - tr->seg_start), updates, sum, n};
}

/* The first crossing of the target by the trace's means, interpolated linearly between
 * the point before and the point that reached it (from the run's start for the first). */
static void trace_target(leash_result *res, double target)
{
    double t0 = 0.0, u0 = 0.0, l0 = INFINITY;
    for (size_t k = 0; k < res->ntrace; ++k) {
        const leash_trace_point *p = &res->trace[k];
        if (p->loss <= target) {
            double f = isfinite(l0) ? (l0 - target) / (l0 - p->loss) : 1.0;
            res->time_to_target_s = t0 + f * (p->time_s - t0);
            res->updates_to_target = u0 + f * ((double)p->updates - u0);
            return;
        }
        if (isfinite(p->loss)) {
            t0 = p->time_s;
            u0 = (double)p->updates;
            l0 = p->loss;
        }
    }
    res->time_to_target_s = res->updates_to_target = -1.0;
}

int leash_trace_collect(leash_result *res, const leash_trace *tr, uint64_t published,
                        double target)
{
    if (!res->trace && !(res->trace = calloc(tr->cap ? tr->cap : 1, sizeof *res->trace)))
        return LEASH_ENOMEM;
    uint64_t points = published / (uint64_t)tr->every;
    res->trace_every = tr->every;
    res->ntrace = points < tr->cap ? (size_t)points : tr->cap;
    double sum = 0.0;
    uint64_t n = 0;
    for (size_t k = 0; k < res->ntrace; ++k) {
        const leash_trace_raw *r = &tr->points[k];
        res->trace[k] = (leash_trace_point){r->time_s, r->updates,
                                            r->losses > n ? (r->loss_sum - sum) / (double)(r->losses - n)
                                                          : NAN};
        sum = r->loss_sum;
        n = r->losses;
    }
    if (target > 0) trace_target(res, target);
    return 0;
}

void leash_trace_save(leash_wbuf *b, const leash_trace *tr, uint64_t updates)
{
    const uint64_t points = tr->every ? updates / (uint64_t)tr->every : 0;
    leash_wbuf_u64(b, (uint64_t)tr->every);
    leash_wbuf_u64(b, points < tr->cap ? points : tr->cap);
    for (uint64_t k = 0; k < points && k < tr->cap; ++k) {
        const leash_trace_raw *p = &tr->points[k];
        leash_wbuf_f64(b, p->time_s);
        leash_wbuf_u64(b, p->updates);
        leash_wbuf_f64(b, p->loss_sum);
        leash_wbuf_u64(b, p->losses);
    }
}

/* Room for a trace of `points` so far and a whole run's more at this layout's rate. */
static int grow_trace(leash_trace *tr, uint64_t points)
{
    if (points > SIZE_MAX / sizeof *tr->points - tr->cap) return LEASH_EFORMAT;
    const size_t cap = (size_t)points + tr->cap;
    leash_trace_raw *room = calloc(cap, sizeof *room);
    if (!room) return leash_fail(LEASH_ENOMEM, "out of memory for a loss trace of %zu points", cap);
    free(tr->points);
    tr->points = room;
    tr->cap = cap;
    return 0;
}

int leash_trace_load(leash_trace *tr, leash_rbuf *r, int own, int grow, int epochs,
                     long per_epoch)
{
    /* The trace goes on at the saved interval, whatever this run asks for: its points so
     * far are that far apart (a run saved without one stays without). */
    uint64_t every = leash_rbuf_u64(r), points = leash_rbuf_u64(r);
    int rc;
    if (r->bad || every > (uint64_t)LONG_MAX) return LEASH_EFORMAT;
    if (every != (uint64_t)tr->every &&
        (rc = leash_trace_alloc(tr, (long)every, epochs, per_epoch)) != 0)
        return rc;
    /* A point is 32 bytes: no more than the section holds. */
    if (points > (r->len - r->pos) / 32) return LEASH_EFORMAT;
    /* After a resume on another layout, a run's points so far can outnumber what this
     * layout's epochs would hold. */
    if (own && every && (grow || points > tr->cap) && (rc = grow_trace(tr, points)) != 0)
        return rc;
    if (own && points > tr->cap) return LEASH_EFORMAT;
    for (uint64_t k = 0; k < points; ++k) {
        leash_trace_raw p;
        p.time_s = leash_rbuf_f64(r);
        p.updates = leash_rbuf_u64(r);
        p.loss_sum = leash_rbuf_f64(r);
        p.losses = leash_rbuf_u64(r);
        if (own) tr->points[k] = p;
    }
    return 0;
}
