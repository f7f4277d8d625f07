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

/* What the ranks sum at an epoch's end: every rank's workers' fractions, and their count. */
typedef union split_sums {
    struct {
        leash_time_split sum;
        double workers;
    };
    double all[6];
} split_sums;
LEASH_AGREEMENT(split_sums);

int leash_breakdown_epoch(trainer *t, leash_epoch_stats *st)
{
    const int m = t->cfg->threads;
    const double window = t->prog.elapsed - t->split.elapsed0;
    const double in_segments = t->split.segments - t->split.segments0;
    const double paused = window > in_segments ? window - in_segments : 0.0;
    /* Reduced as doubles: the sums of every rank's workers' fractions, and their count. */
    split_sums all = {.sum = {0}, .workers = (double)m};
    for (int i = 0; i < m; ++i) {
        const leash_time_split s = worker_split(t, i, window, paused);
        t->res->worker_splits[(size_t)t->res->nepochs * (size_t)m + (size_t)i] = s;
        add_split(&all.sum, &s);
    }
    int rc = LEASH_AGREE_SUM(&all);
    if (rc) return rc;
    const double k = 1.0 / all.workers;
    st->split = (leash_time_split){all.sum.compute * k, all.sum.read * k, all.sum.publish * k,
                                   all.sum.wait * k, all.sum.idle * k};
    st->split_known = LEASH_SPLIT_WORKERS;
    return 0;
}

static void put_split(leash_wbuf *b, const leash_time_split *s)
{
    leash_wbuf_f64(b, s->compute);
    leash_wbuf_f64(b, s->read);
    leash_wbuf_f64(b, s->publish);
    leash_wbuf_f64(b, s->wait);
    leash_wbuf_f64(b, s->idle);
}

static leash_time_split get_split(leash_rbuf *r)
{
    leash_time_split s;
    s.compute = leash_rbuf_f64(r);
    s.read = leash_rbuf_f64(r);
    s.publish = leash_rbuf_f64(r);
    s.wait = leash_rbuf_f64(r);
    s.idle = leash_rbuf_f64(r);
    return s;
}

void leash_breakdown_save(leash_wbuf *b, const trainer *t)
{
    const leash_result *res = t->res;
    const int m = t->cfg->threads;
    leash_wbuf_begin(b, "SPLT");
    leash_wbuf_u32(b, (uint32_t)res->nepochs);
    leash_wbuf_u32(b, (uint32_t)m);
    for (int e = 0; e < res->nepochs; ++e) {
        const leash_epoch_stats *s = &res->epochs[e];
        leash_wbuf_u32(b, (uint32_t)s->split_known);
        put_split(b, &s->split);
        for (int w = 0; s->split_known == LEASH_SPLIT_WORKERS && w < m; ++w)
            put_split(b, &res->worker_splits[(size_t)e * (size_t)m + (size_t)w]);
    }
    leash_wbuf_end(b);
}

void leash_breakdown_load(trainer *t, leash_rbuf r)
{
    leash_result *res = t->res;
    const int m = t->cfg->threads;
    const uint32_t nepochs = leash_rbuf_u32(&r), threads = leash_rbuf_u32(&r);
    for (uint32_t e = 0; e < nepochs && e < (uint32_t)t->cfg->epochs && !r.bad; ++e) {
        leash_epoch_stats *s = &res->epochs[e];
        uint32_t known = leash_rbuf_u32(&r);
        s->split = get_split(&r);
        for (uint32_t w = 0; known == LEASH_SPLIT_WORKERS && w < threads && !r.bad; ++w) {
            const leash_time_split ws = get_split(&r);
            if (threads == (uint32_t)m) res->worker_splits[(size_t)e * (size_t)m + w] = ws;
        }
        /* Workers of another -n: their shares are not this run's workers'. */
        s->split_known = known == LEASH_SPLIT_WORKERS && threads != (uint32_t)m ? LEASH_SPLIT_MEAN
                         : known <= LEASH_SPLIT_WORKERS                        ? (int)known
                                                                                : LEASH_SPLIT_NONE;
    }
    if (r.bad)
        for (int e = 0; e < t->cfg->epochs; ++e) res->epochs[e].split_known = LEASH_SPLIT_NONE;
}
