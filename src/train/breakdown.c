/* The time breakdown: see breakdown_internal.h. */
#include <assert.h>

#include "mpi/comm_internal.h"
#include "train/breakdown_internal.h"

void leash_breakdown_begin(trainer *t)
{
    for (int i = 0; i < t->cfg->threads; ++i) {
        const leash_worker_stats *st = &t->workers[i].stats;
        t->split.base[i] = (leash_time_split){.compute = st->time_compute,
                                              .read = st->time_read,
                                              .publish = st->time_publish,
                                              .wait = st->time_wait};
    }
    t->split.elapsed0 = t->prog.elapsed;
    t->split.segments0 = t->split.segments;
}

/* Worker w's fractions of the epoch's `window` seconds, of which `paused` were between
 * segments. */
static leash_time_split worker_split(const trainer *t, int w, double window, double paused)
{
    const leash_worker_stats *st = &t->workers[w].stats;
    const leash_time_split *b = &t->split.base[w];
    if (window <= 0) return (leash_time_split){.idle = 1.0};
    leash_time_split s = {.compute = (st->time_compute - b->compute) / window,
                          .read = (st->time_read - b->read) / window,
                          .publish = (st->time_publish - b->publish) / window,
                          .wait = (st->time_wait - b->wait + paused) / window};
    const double busy = s.compute + s.read + s.publish + s.wait;
    s.idle = busy < 1.0 ? 1.0 - busy : 0.0;
    return s;
}

static void add_split(leash_time_split *to, const leash_time_split *s)
{
    to->compute += s->compute;
    to->read += s->read;
    to->publish += s->publish;
    to->wait += s->wait;
    to->idle += s->idle;
}

int leash_breakdown_epoch(trainer *t, leash_epoch_stats *st)
{
    const int m = t->cfg->threads;
    const double window = t->prog.elapsed - t->split.elapsed0;
    const double in_segments = t->split.segments - t->split.segments0;
    const double paused = window > in_segments ? window - in_segments : 0.0;
    /* Reduced as doubles: the sums of every rank's workers' fractions, and their count. */
    struct {
        leash_time_split sum;
        double workers;
    } all = {{0}, (double)m};
    static_assert(sizeof all == 6 * sizeof(double), "reduced as 6 doubles");
    for (int i = 0; i < m; ++i) {
        const leash_time_split s = worker_split(t, i, window, paused);
        t->res->worker_splits[(size_t)t->res->nepochs * (size_t)m + (size_t)i] = s;
        add_split(&all.sum, &s);
    }
    int rc = leash_comm_allreduce_sum_d((double *)&all, 6);
    if (rc) return rc;
    const double k = 1.0 / all.workers;
    st->split = (leash_time_split){all.sum.compute * k, all.sum.read * k, all.sum.publish * k,
                                   all.sum.wait * k, all.sum.idle * k};
    st->split_known = 1;
    return 0;
}
