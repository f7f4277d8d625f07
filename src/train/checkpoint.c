/* Checkpoints: see checkpoint_internal.h and doc/file-formats.md. */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "core/clock_internal.h"
#include "core/error_internal.h"
#include "leash/dist.h"
#include "mpi/comm_internal.h"
#include "train/breakdown_internal.h"
#include "train/checkpoint_internal.h"
#include "train/model_io_internal.h"

uint32_t leash_dataset_digest(const leash_dataset *d)
{
    uint32_t shape[4] = {(uint32_t)d->h, (uint32_t)d->w, (uint32_t)d->c, (uint32_t)d->nclasses};
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32_z(crc, (const Bytef *)shape, sizeof shape);
    /* Float data by their bytes; byte data exactly as before float data existed, so that
     * checkpoints of byte datasets keep their digests. */
    if (d->values)
        crc = crc32_z(crc, (const Bytef *)d->values,
                      d->n * leash_dataset_sample_size(d) * sizeof *d->values);
    else
        crc = crc32_z(crc, d->pixels, d->n * leash_dataset_sample_size(d));
    crc = crc32_z(crc, d->labels, d->n);
    return (uint32_t)crc;
}

/* --- what a resumed run must match ------------------------------------------------ */

/* The settings that decide what training computes, as (flag, value) text pairs: a
 * mismatch names the flag, and the file lists them readably. Epochs, the target loss and
 * the checkpoint schedule may change between a run and its resumption. */
enum { MAX_PAIRS = 24, VALUE_LEN = 40, FLAG_LEN = 40 };
typedef struct config_pairs {
    int n;
    const char *flag[MAX_PAIRS];
    char value[MAX_PAIRS][VALUE_LEN];
    const char *layers; /* -A's value: the layer list, of any length */
} config_pairs;

static void pair(config_pairs *p, const char *flag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void pair(config_pairs *p, const char *flag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    p->flag[p->n] = flag;
    vsnprintf(p->value[p->n], VALUE_LEN, fmt, ap);
    va_end(ap);
    ++p->n;
}

/* The shortest text that reads back as v ("0.1", not "0.10000000000000001"). */
static void shortest(char *out, size_t size, double v)
{
    for (int digits = 1; digits <= 17; ++digits) {
        snprintf(out, size, "%.*g", digits, v);
        if (strtod(out, NULL) == v) return;
    }
}

static void pair_double(config_pairs *p, const char *flag, double v)
{
    char text[VALUE_LEN];
    shortest(text, sizeof text, v);
    pair(p, flag, "%s", text);
}

/* The model is named by its layer list (the MLP preset's -L, -U and --activation are in
 * it), which is compared apart from the pairs. */
static void describe_config(config_pairs *p, const leash_config *c, const leash_model *m,
                            int ranks)
{
    p->n = 0;
    p->layers = m->layers_text;
    pair(p, "-a", "%s", leash_algorithm_name(c->algorithm));
    pair(p, "-n", "%d", c->threads);
    pair(p, "--init", "%s", leash_init_name(c->init));
    if (c->algorithm == LEASH_ALGO_LSH) {
        if (c->persistence == LEASH_PERSIST_INF)
            pair(p, "-B", "inf");
        else
            pair(p, "-B", "%ld", c->persistence);
    }
    pair(p, "-r", "%ld", c->rounds);
    pair(p, "-b", "%d", c->batch);
    pair_double(p, "-l", c->step);
    pair_double(p, "-m", c->momentum);
    pair(p, "-t", "%s", leash_step_policy_name(c->step_policy));
    pair(p, "--tau-max", "%d", c->tau_max);
    if (c->step_policy == LEASH_STEP_TAIL) pair_double(p, "--tail-amplitude", c->tail_amplitude);
    pair(p, "--seed", "%llu", (unsigned long long)c->seed);
    pair(p, "-D", "%s", leash_dataset_name(c->dataset));
    pair(p, "--avg-every", "%ld", c->avg_every);
    pair_double(p, "--avg-period", c->avg_period);
    pair(p, "--avg-mode", "%s", c->avg_blocking ? "blocking" : "overlapped");
    pair(p, "ranks", "%d", ranks);
}

static void put_string(leash_wbuf *b, const char *s)
{
    size_t n = strlen(s);
    leash_wbuf_u32(b, (uint32_t)n);
    leash_wbuf_bytes(b, s, n);
}

/* A string of at most size - 1 bytes into out; "" and bad on anything longer. */
static void get_string(leash_rbuf *r, char *out, size_t size)
{
    uint32_t n = leash_rbuf_u32(r);
    const unsigned char *p = n < size ? leash_rbuf_take(r, n) : NULL;
    if (!p) {
        r->bad = 1;
        out[0] = '\0';
        return;
    }
    memcpy(out, p, n);
    out[n] = '\0';
}

/* Whether the next string of r is s (bad if there is none). */
static int next_string_is(leash_rbuf *r, const char *s, const char **text, uint32_t *len)
{
    *len = leash_rbuf_u32(r);
    *text = (const char *)leash_rbuf_take(r, *len);
    if (!*text) r->bad = 1;
    return *text && *len == strlen(s) && memcmp(*text, s, *len) == 0;
}

static void write_config(leash_wbuf *b, const trainer *t)
{
    config_pairs p;
    describe_config(&p, t->cfg, t->model, leash_dist_size());
    leash_wbuf_begin(b, "CONF");
    put_string(b, p.layers);
    leash_wbuf_u32(b, (uint32_t)p.n);
    for (int i = 0; i < p.n; ++i) {
        put_string(b, p.flag[i]);
        put_string(b, p.value[i]);
    }
    leash_wbuf_end(b);
    leash_wbuf_begin(b, "DATA");
    leash_wbuf_u64(b, t->test->n);
    leash_wbuf_u32(b, t->test_digest);
    leash_wbuf_end(b);
}

/* A layout setting ("ranks" or "-n") of the file: a count of at least 1, else -1. */
static int layout_count(const char *value)
{
    char *end;
    long v = strtol(value, &end, 10);
    return *end || end == value || v < 1 || v > INT_MAX ? -1 : (int)v;
}

/* The file's configuration against this run's: every setting must match but the layout
 * (the rank count and -n), which goes to *from_ranks and *from_threads. */
static int check_config(const leash_store *s, const trainer *t, int *from_ranks, int *from_threads)
{
    const char *path = s->path;
    config_pairs mine;
    describe_config(&mine, t->cfg, t->model, leash_dist_size());
    leash_rbuf r;
    if (leash_store_section(s, "CONF", 0, &r) != 0)
        return leash_fail(LEASH_EFORMAT, "checkpoint %s: no CONF section", path);
    const char *layers;
    uint32_t len;
    if (!next_string_is(&r, mine.layers, &layers, &len) && !r.bad)
        return leash_fail(LEASH_EINVAL, "checkpoint %s: written for -A %.*s, this run is -A %s",
                          path, (int)len, layers, mine.layers);
    uint32_t n = leash_rbuf_u32(&r);
    char flag[FLAG_LEN], value[VALUE_LEN];
    for (uint32_t i = 0; i < n && !r.bad; ++i) {
        get_string(&r, flag, sizeof flag);
        get_string(&r, value, sizeof value);
        int *layout = strcmp(flag, "ranks") == 0 ? from_ranks
                      : strcmp(flag, "-n") == 0  ? from_threads
                                                 : NULL;
        if (layout) {
            if ((*layout = layout_count(value)) < 0) r.bad = 1;
            continue;
        }
        for (int k = 0; k < mine.n && !r.bad; ++k) {
            if (strcmp(flag, mine.flag[k]) != 0 || strcmp(value, mine.value[k]) == 0) continue;
            return leash_fail(LEASH_EINVAL, "checkpoint %s: written for %s %s, this run is %s %s",
                              path, flag, value, flag, mine.value[k]);
        }
    }
    if (r.bad) return leash_fail(LEASH_EFORMAT, "checkpoint %s: malformed CONF section", path);
    /* A setting this run has and the file lacks: written for other defaults. */
    if (n != (uint32_t)mine.n)
        return leash_fail(LEASH_EINVAL,
                          "checkpoint %s: written for another configuration (%u settings, this "
                          "run has %d)",
                          path, n, mine.n);
    if (leash_store_section(s, "DATA", 0, &r) != 0)
        return leash_fail(LEASH_EFORMAT, "checkpoint %s: no DATA section", path);
    uint64_t ntest = leash_rbuf_u64(&r);
    uint32_t digest = leash_rbuf_u32(&r);
    if (r.bad) return leash_fail(LEASH_EFORMAT, "checkpoint %s: malformed DATA section", path);
    if (ntest != t->test->n || digest != t->test_digest)
        return leash_fail(LEASH_EINVAL,
                          "checkpoint %s: written for another test set (%llu samples, CRC "
                          "%08x; this run's: %zu, %08x)",
                          path, (unsigned long long)ntest, digest, t->test->n, t->test_digest);
    return 0;
}

/* --- one rank's state ---------------------------------------------------------------- */

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

/* Seconds until an absolute leash_now() deadline, or -1 for none: clocks differ from
 * process to process, durations carry over. */
static double remaining(double at, double now) { return at < 0 ? -1.0 : fmax(at - now, 0.0); }
static double deadline(double left, double now) { return left < 0 ? -1.0 : now + left; }

/* The parts of a rank's state, in the order leash_checkpoint_apply and parse_front read
 * them. */
static void put_results(leash_wbuf *b, const leash_result *res)
{
    leash_wbuf_u32(b, (uint32_t)res->nepochs);
    for (int e = 0; e < res->nepochs; ++e) {
        const leash_epoch_stats *s = &res->epochs[e];
        leash_wbuf_f64(b, s->train_loss);
        leash_wbuf_f64(b, s->test_loss);
        leash_wbuf_f64(b, s->test_accuracy);
        leash_wbuf_f64(b, s->time_s);
        leash_wbuf_u64(b, s->updates);
        leash_wbuf_f64(b, s->staleness_mean);
        leash_wbuf_u32(b, (uint32_t)s->staleness_max);
        leash_wbuf_f64(b, s->failed_cas_rate);
        leash_wbuf_u64(b, s->live_versions);
    }
    leash_wbuf_f64(b, res->time_s);
    leash_wbuf_f64(b, res->time_to_target_s);
    leash_wbuf_f64(b, res->eval_time_s);
    leash_wbuf_u64(b, res->updates);
    leash_wbuf_u64(b, res->samples);
    leash_wbuf_u32(b, (uint32_t)res->resumes);
    leash_wbuf_f64(b, res->start_time);
    leash_wbuf_u64(b, res->checkpoints + 1); /* this one included */
    leash_wbuf_f64(b, res->time_checkpoint_s);
}

static void put_position(leash_wbuf *b, const trainer *t, double now)
{
    const leash_progress *pg = &t->prog;
    leash_wbuf_u32(b, (uint32_t)pg->started);
    leash_wbuf_i64(b, pg->position);
    leash_wbuf_f64(b, pg->elapsed);
    leash_wbuf_u64(b, pg->updates_before);
    for (int i = 0; i < 4; ++i) leash_wbuf_u64(b, pg->rng.s[i]);
    leash_wbuf_u64(b, pg->next_ckpt_updates);
    leash_wbuf_f64(b, remaining(pg->next_ckpt_time, now));
    leash_wbuf_bytes(b, t->perm, t->train->n * sizeof *t->perm);
}

/* The newest parameters (theta: scratch of nparams floats) and their timestamp, then
 * momentum. */
static void put_strategy(leash_wbuf *b, trainer *t, float *theta)
{
    const size_t n = t->model->nparams;
    const int m = t->cfg->threads;
    uint64_t ts;
    t->ops->snapshot(t->strategy, theta, &ts);
    leash_wbuf_u64(b, ts);
    leash_wbuf_u64(b, leash_trainer_peak_versions(t));
    leash_wbuf_floats(b, theta, n);
    uint32_t nvel = 0;
    for (int k = 0; k < m; ++k) nvel += t->ops->velocity(t->strategy, k) != NULL;
    leash_wbuf_u32(b, nvel);
    for (int k = 0; k < m; ++k) {
        const float *v = t->ops->velocity(t->strategy, k);
        if (!v) continue;
        leash_wbuf_u32(b, (uint32_t)k);
        leash_wbuf_floats(b, v, n);
    }
}

static void put_stepper_and_averager(leash_wbuf *b, const trainer *t, uint64_t *hist, int bins,
                                     double now)
{
    uint64_t samples;
    leash_stepper_state(t->stepper, hist, &samples);
    leash_wbuf_u32(b, (uint32_t)bins);
    leash_wbuf_bytes(b, hist, (size_t)bins * sizeof *hist);
    leash_wbuf_u64(b, samples);
    leash_wbuf_u64(b, t->av.rounds);
    leash_wbuf_f64(b, t->av.time_mpi);
    leash_wbuf_f64(b, t->av.time_total);
    leash_wbuf_u64(b, t->av.next_updates);
    leash_wbuf_f64(b, remaining(t->av.next_time, now));
}

/* The workers, the loss trace so far, and the counters the next epoch's figures start
 * from. */
static void put_workers_and_trace(leash_wbuf *b, trainer *t, int bins)
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
    const uint64_t points = t->trace_every ? leash_trainer_updates(t) / (uint64_t)t->trace_every : 0;
    leash_wbuf_u64(b, (uint64_t)t->trace_every);
    leash_wbuf_u64(b, points < t->trace_cap ? points : t->trace_cap);
    for (uint64_t k = 0; k < points && k < t->trace_cap; ++k) {
        const leash_trace_raw *p = &t->trace[k];
        leash_wbuf_f64(b, p->time_s);
        leash_wbuf_u64(b, p->updates);
        leash_wbuf_f64(b, p->loss_sum);
        leash_wbuf_u64(b, p->losses);
    }
    leash_wbuf_bytes(b, t->prev_hist, (size_t)bins * sizeof *t->prev_hist);
    leash_wbuf_u64(b, t->prev_failed);
    leash_wbuf_u64(b, t->prev_gradients);
}

static int write_rank_state(leash_wbuf *b, trainer *t)
{
    const int bins = t->cfg->tau_max + 1;
    const double now = leash_now();
    float *theta = leash_params_alloc(t->model->nparams);
    uint64_t *hist = malloc((size_t)bins * sizeof *hist);
    if (!theta || !hist) {
        leash_params_free(theta);
        free(hist);
        return leash_fail(LEASH_ENOMEM, "out of memory for a checkpoint");
    }
    leash_wbuf_u32(b, (uint32_t)leash_dist_rank());
    leash_wbuf_u64(b, t->train->n);
    leash_wbuf_u32(b, t->train_digest);
    put_results(b, t->res);
    put_position(b, t, now);
    put_strategy(b, t, theta);
    put_stepper_and_averager(b, t, hist, bins, now);
    put_workers_and_trace(b, t, bins);
    leash_params_free(theta);
    free(hist);
    return 0;
}

int leash_checkpoint_write(trainer *t)
{
    const int root = leash_dist_rank() == 0;
    leash_wbuf mine = {0};
    int rc = write_rank_state(&mine, t);
    if (!rc && mine.oom) rc = leash_fail(LEASH_ENOMEM, "out of memory for a checkpoint");
    if ((rc = leash_dist_agree(rc)) != 0) {
        leash_wbuf_free(&mine);
        return rc;
    }
    unsigned char *all = NULL;
    size_t *lens = root ? calloc((size_t)leash_dist_size(), sizeof *lens) : NULL;
    rc = root && !lens ? leash_fail(LEASH_ENOMEM, "out of memory for a checkpoint") : 0;
    if ((rc = leash_dist_agree(rc)) == 0) rc = leash_comm_gather_bytes(mine.data, mine.len, &all, lens);
    leash_wbuf_free(&mine);
    if (!rc && root) {
        leash_wbuf b;
        leash_wbuf_init(&b, LEASH_CHECKPOINT_MAGIC, LEASH_CHECKPOINT_VERSION);
        write_config(&b, t);
        leash_model_sections_write(&b, t->cfg, t->model, t->res->params, &t->map,
                                   leash_dist_size());
        size_t off = 0;
        for (int r = 0; r < leash_dist_size(); ++r) {
            leash_wbuf_begin(&b, "RANK");
            leash_wbuf_bytes(&b, all + off, lens[r]);
            leash_wbuf_end(&b);
            off += lens[r];
        }
        leash_breakdown_save(&b, t);
        rc = leash_wbuf_finish(&b);
        if (!rc) rc = leash_write_atomic(t->cfg->checkpoint, b.data, b.len, "--checkpoint");
        leash_wbuf_free(&b);
        free(all);
    }
    free(lens);
    if (rc == LEASH_EMPI) return rc;
    return leash_dist_agree(rc);
}

/* --- resuming ---------------------------------------------------------------------- */

int leash_checkpoint_locate(const char *path, int *found)
{
    double seen[2] = {0, 0}; /* by rank 0, by the other ranks */
    seen[leash_dist_rank() != 0] = access(path, F_OK) == 0;
    int rc = leash_comm_allreduce_sum_d(seen, 2);
    if (rc) return rc;
    *found = seen[0] > 0;
    if (!*found && seen[1] > 0 && leash_dist_rank() == 0)
        rc = leash_fail(LEASH_EINVAL,
                        "checkpoint %s: rank 0 cannot see it but %d other rank%s can: rank 0 "
                        "reads and writes checkpoints, so the path must be visible to it "
                        "(shared storage, or rank 0 on the node that holds the file)",
                        path, (int)seen[1], seen[1] > 1 ? "s" : "");
    return leash_dist_agree(rc);
}

static int malformed(const trainer *t, const char *what)
{
    return leash_fail(LEASH_EFORMAT, "checkpoint %s: rank %d's state is malformed (%s)",
                      t->cfg->resume, leash_dist_rank(), what);
}

/* The parts of a rank's state, read in the order write_rank_state wrote them; each reader
 * serves both a rank restoring its own state and rank 0 skimming every rank's. */

/* put_results' layout after the epoch count, into res (its epochs hold res->nepochs). */
static void get_results(leash_rbuf *r, leash_result *res)
{
    for (int e = 0; e < res->nepochs; ++e) {
        leash_epoch_stats *s = &res->epochs[e];
        s->epoch = e + 1;
        s->train_loss = leash_rbuf_f64(r);
        s->test_loss = leash_rbuf_f64(r);
        s->test_accuracy = leash_rbuf_f64(r);
        s->time_s = leash_rbuf_f64(r);
        s->updates = leash_rbuf_u64(r);
        s->staleness_mean = leash_rbuf_f64(r);
        s->staleness_max = (int)leash_rbuf_u32(r);
        s->failed_cas_rate = leash_rbuf_f64(r);
        s->live_versions = leash_rbuf_u64(r);
    }
    res->time_s = leash_rbuf_f64(r);
    res->time_to_target_s = leash_rbuf_f64(r);
    res->eval_time_s = leash_rbuf_f64(r);
    res->updates = leash_rbuf_u64(r);
    res->samples = leash_rbuf_u64(r);
    res->resumes = (int)leash_rbuf_u32(r) + 1;
    res->start_time = leash_rbuf_f64(r);
    res->checkpoints = leash_rbuf_u64(r);
    res->time_checkpoint_s = leash_rbuf_f64(r);
}

/* put_position's layout: the permutation of ntrain samples into perm, or skipped. */
static void get_position(leash_rbuf *r, leash_progress *pg, uint32_t *perm, uint64_t ntrain)
{
    const double now = leash_now();
    pg->started = (int)leash_rbuf_u32(r);
    pg->position = (long)leash_rbuf_i64(r);
    pg->elapsed = leash_rbuf_f64(r);
    pg->updates_before = leash_rbuf_u64(r);
    for (int i = 0; i < 4; ++i) pg->rng.s[i] = leash_rbuf_u64(r);
    pg->next_ckpt_updates = leash_rbuf_u64(r);
    pg->next_ckpt_time = deadline(leash_rbuf_f64(r), now);
    if (ntrain > SIZE_MAX / sizeof *perm)
        r->bad = 1;
    else if (perm)
        leash_rbuf_bytes(r, perm, ntrain * sizeof *perm);
    else
        leash_rbuf_take(r, ntrain * sizeof *perm);
}

/* --- resuming on another layout: rank 0's plan ---------------------------------------- */

/* Rank 0's part of a resume on another layout: the checkpoint's layout, the means of its
 * ranks' parameters and momentum buffers, and the update and sample counts each new
 * rank carries on (carry[2 k], carry[2 k + 1]). */
typedef struct reshape_plan {
    int from_ranks, from_threads;
    float *theta, *velocity, *scratch;
    uint32_t nvelocities;
    double *carry;
    uint64_t ntrain;
} reshape_plan;

static void plan_free(reshape_plan *p)
{
    leash_params_free(p->theta);
    leash_params_free(p->velocity);
    leash_params_free(p->scratch);
    free(p->carry);
    memset(p, 0, sizeof *p);
}

/* Add the next n floats of r to sum, or (first) copy them: a sum in rank order, equal to
 * MPI's for two ranks, -0.0 included. */
static void add_floats(leash_rbuf *r, float *sum, float *scratch, size_t n, int first)
{
    leash_rbuf_floats(r, first ? sum : scratch, n);
    if (!first && !r->bad)
        for (size_t i = 0; i < n; ++i) sum[i] += scratch[i];
}

/* Old rank j's state into the plan: its job totals, shard size, parameters and momentum. */
static int skim_rank(const trainer *t, leash_rbuf r, int j, reshape_plan *p)
{
    const size_t n = t->model->nparams;
    leash_result res = {0};
    leash_progress pg;
    leash_rbuf_u32(&r);
    uint64_t ntrain = leash_rbuf_u64(&r);
    leash_rbuf_u32(&r);
    uint32_t nepochs = leash_rbuf_u32(&r);
    if (!r.bad && nepochs > (uint32_t)t->cfg->epochs)
        return leash_fail(LEASH_EINVAL, "-e %d: the checkpoint %s has finished %u epochs already",
                          t->cfg->epochs, t->cfg->resume, nepochs);
    res.nepochs = (int)nepochs;
    if (!(res.epochs = calloc(nepochs + 1, sizeof *res.epochs)))
        return leash_fail(LEASH_ENOMEM, "out of memory");
    get_results(&r, &res);
    free(res.epochs);
    get_position(&r, &pg, NULL, ntrain);
    leash_rbuf_u64(&r); /* timestamp */
    leash_rbuf_u64(&r); /* peak live versions */
    add_floats(&r, p->theta, p->scratch, n, j == 0);
    uint32_t nvel = leash_rbuf_u32(&r);
    for (uint32_t i = 0; i < nvel && !r.bad; ++i) {
        leash_rbuf_u32(&r);
        add_floats(&r, p->velocity, p->scratch, n, p->nvelocities++ == 0);
    }
    if (r.bad || nvel > (uint32_t)p->from_threads)
        return leash_fail(LEASH_EFORMAT, "checkpoint %s: rank %d's state is malformed", t->cfg->resume, j);
    const int k = j % leash_dist_size();
    p->carry[2 * k] += (double)res.updates;
    p->carry[2 * k + 1] += (double)res.samples;
    p->ntrain += ntrain;
    return 0;
}

/* Rank 0: the means of the checkpoint's F ranks (p->from_ranks) and what each new rank
 * carries on. ntrain_now: this run's training samples over all ranks. */
static int plan_reshape(const trainer *t, const leash_store *s, reshape_plan *p, double ntrain_now)
{
    const size_t n = t->model->nparams;
    p->theta = leash_params_alloc(n);
    p->velocity = leash_params_alloc(n);
    p->scratch = leash_params_alloc(n);
    p->carry = calloc(2 * (size_t)leash_dist_size(), sizeof *p->carry);
    if (!p->theta || !p->velocity || !p->scratch || !p->carry)
        return leash_fail(LEASH_ENOMEM, "out of memory");
    for (int j = 0; j < p->from_ranks; ++j) {
        leash_rbuf r;
        leash_store_section(s, "RANK", j, &r);
        int rc = skim_rank(t, r, j, p);
        if (rc) return rc;
    }
    if ((double)p->ntrain != ntrain_now)
        return leash_fail(LEASH_EINVAL,
                          "checkpoint %s: written for a training set of %llu samples, this run's "
                          "has %.0f",
                          t->cfg->resume, (unsigned long long)p->ntrain, ntrain_now);
    const float inv = 1.0f / (float)p->from_ranks;
    for (size_t i = 0; i < n; ++i) p->theta[i] *= inv;
    const float vinv = p->nvelocities ? 1.0f / (float)p->nvelocities : 0.0f;
    for (size_t i = 0; i < n; ++i) p->velocity[i] *= vinv;
    return 0;
}

/* --- resuming ------------------------------------------------------------------------ */

/* The model sections must describe this run's model, its inputs scaled alike; their
 * parameters (the last finished epoch was scored on them) become the result's until the
 * next epoch ends. */
static int read_model(trainer *t, const leash_store *s)
{
    const char *path = t->cfg->resume;
    leash_saved_model sm;
    int rc = leash_model_sections_read(&sm, s, "checkpoint");
    if (rc) return rc;
    const leash_model *m = t->model;
    if (sm.model.nparams != m->nparams || sm.model.in_h != m->in_h || sm.model.in_w != m->in_w ||
        sm.model.in_c != m->in_c || sm.model.nclasses != m->nclasses)
        rc = leash_fail(LEASH_EINVAL, "checkpoint %s: written for a model of another shape", path);
    else if (memcmp(&sm.map, &t->map, sizeof sm.map) != 0)
        rc = leash_fail(LEASH_EINVAL,
                        "checkpoint %s: written for another input scaling (--input-scale)", path);
    else
        memcpy(t->res->params, sm.params, m->nparams * sizeof *sm.params);
    leash_saved_model_free(&sm);
    return rc;
}

/* Rank 0: read and check the file, plan a resume on another layout, and lay the ranks'
 * states end to end for the scatter (rank 0's for a rank the file lacks). */
static int read_for_ranks(trainer *t, unsigned char **all, size_t *lens, reshape_plan *plan,
                          double ntrain_now)
{
    leash_store s;
    const char *path = t->cfg->resume;
    int rc = leash_store_read(&s, path, LEASH_CHECKPOINT_MAGIC, LEASH_CHECKPOINT_VERSION,
                              "checkpoint");
    if (rc) return rc;
    const int ranks = leash_dist_size();
    int from_ranks = ranks, from_threads = t->cfg->threads;
    if ((rc = check_config(&s, t, &from_ranks, &from_threads)) != 0 ||
        (rc = read_model(t, &s)) != 0)
        goto out;
    leash_rbuf r;
    for (int k = 0; k < from_ranks; ++k)
        if (leash_store_section(&s, "RANK", k, &r) != 0) {
            rc = leash_fail(LEASH_EFORMAT, "checkpoint %s: no state for rank %d", path, k);
            goto out;
        }
    if (leash_store_section(&s, "RANK", from_ranks, &r) == 0) {
        rc = leash_fail(LEASH_EFORMAT, "checkpoint %s: written by more than %d ranks", path,
                        from_ranks);
        goto out;
    }
    if (from_ranks != ranks || from_threads != t->cfg->threads) {
        *plan = (reshape_plan){.from_ranks = from_ranks, .from_threads = from_threads};
        if ((rc = plan_reshape(t, &s, plan, ntrain_now)) != 0) goto out;
    }
    size_t total = 0;
    for (int k = 0; k < ranks; ++k) {
        leash_store_section(&s, "RANK", k < from_ranks ? k : 0, &r);
        total += (lens[k] = r.len);
    }
    if (!(*all = malloc(total ? total : 1))) {
        rc = leash_fail(LEASH_ENOMEM, "checkpoint %s: out of memory", path);
        goto out;
    }
    for (size_t k = 0, off = 0; k < (size_t)ranks; off += lens[k++]) {
        leash_store_section(&s, "RANK", (int)k < from_ranks ? (int)k : 0, &r);
        memcpy(*all + off, r.p, r.len);
    }
    if (leash_store_section(&s, "SPLT", 0, &r) == 0) leash_breakdown_load(t, r);
out:
    leash_store_free(&s);
    return rc;
}

/* Every rank: the plan's layout and what this rank carries on (rank 0's figures, summed
 * with the others' zeros: a broadcast). */
static int share_plan(const trainer *t, const reshape_plan *p, leash_resume *rs)
{
    const int ranks = leash_dist_size(), rank = leash_dist_rank();
    double layout[3] = {p->from_ranks, p->from_threads, p->nvelocities > 0};
    int rc = leash_comm_allreduce_sum_d(layout, 3);
    if (rc || layout[0] == 0) return rc;
    rs->reshape.from_ranks = (int)layout[0];
    rs->reshape.from_threads = (int)layout[1];
    rs->reshape.own = rank < rs->reshape.from_ranks;
    double *carry = calloc(2 * (size_t)ranks, sizeof *carry);
    if (layout[2] > 0 && !(rs->reshape.velocity = leash_params_alloc(t->model->nparams)))
        rc = LEASH_ENOMEM;
    if (!carry) rc = LEASH_ENOMEM;
    if ((rc = leash_dist_agree(rc ? leash_fail(rc, "out of memory") : 0)) != 0) {
        free(carry);
        return rc;
    }
    if (p->carry) memcpy(carry, p->carry, 2 * (size_t)ranks * sizeof *carry);
    if ((rc = leash_comm_allreduce_sum_d(carry, 2 * ranks)) == 0) {
        rs->reshape.updates = (uint64_t)carry[2 * rank];
        rs->reshape.samples = (uint64_t)carry[2 * rank + 1];
    }
    free(carry);
    return rc;
}

/* Every rank: the plan's means, the result's record of the resume, rank 0's warning. */
static int share_means(trainer *t, const reshape_plan *p, leash_resume *rs)
{
    const size_t n = t->model->nparams;
    const int root = leash_dist_rank() == 0;
    if (root) memcpy(rs->theta, p->theta, n * sizeof *rs->theta);
    int rc = leash_comm_bcast_f(rs->theta, n);
    if (!rc && rs->reshape.velocity) {
        if (root) memcpy(rs->reshape.velocity, p->velocity, n * sizeof *rs->reshape.velocity);
        rc = leash_comm_bcast_f(rs->reshape.velocity, n);
    }
    if (rc) return rc;
    leash_result *res = t->res;
    res->resumed_from_ranks = rs->reshape.from_ranks;
    res->resumed_from_threads = rs->reshape.from_threads;
    res->resumed_start_digest = leash_fnv1a64(rs->theta, n * sizeof *rs->theta);
    if (root)
        fprintf(stderr,
                "leash: warning: checkpoint %s: written by %d rank%s with -n %d, resumed by %d "
                "rank%s with -n %d: every rank starts from the mean of its ranks' models, and "
                "the run is no longer bit-for-bit resumable\n",
                t->cfg->resume, rs->reshape.from_ranks, rs->reshape.from_ranks == 1 ? "" : "s",
                rs->reshape.from_threads, leash_dist_size(), leash_dist_size() == 1 ? "" : "s",
                t->cfg->threads);
    return 0;
}

/* The rank, and its shard's identity when the shards are this run's. Sets *ntrain. */
static int parse_header(trainer *t, leash_resume *rs, uint64_t *ntrain)
{
    leash_rbuf *r = &rs->rest;
    const int reshaped = rs->reshape.from_ranks > 0;
    uint32_t rank = leash_rbuf_u32(r);
    *ntrain = leash_rbuf_u64(r);
    uint32_t digest = leash_rbuf_u32(r);
    if (r->bad || rank != (!reshaped || rs->reshape.own ? (uint32_t)leash_dist_rank() : 0))
        return malformed(t, "rank");
    /* Shards of another rank count hold other samples: rank 0 checked their total. */
    if (reshaped && rs->reshape.from_ranks != leash_dist_size()) return 0;
    if (*ntrain != t->train->n || digest != t->train_digest)
        return leash_fail(LEASH_EINVAL,
                          "checkpoint %s: written for other training data (rank %d: %llu "
                          "samples, CRC %08x; this run's: %zu, %08x)",
                          t->cfg->resume, leash_dist_rank(), (unsigned long long)*ntrain, digest,
                          t->train->n, t->train_digest);
    return 0;
}

static int parse_results(trainer *t, leash_resume *rs)
{
    leash_rbuf *r = &rs->rest;
    uint32_t nepochs = leash_rbuf_u32(r);
    if (r->bad) return malformed(t, "epochs");
    if (nepochs > (uint32_t)t->cfg->epochs)
        return leash_fail(LEASH_EINVAL, "-e %d: the checkpoint %s has finished %u epochs already",
                          t->cfg->epochs, t->cfg->resume, nepochs);
    t->res->nepochs = (int)nepochs;
    get_results(r, t->res);
    if (rs->reshape.from_ranks) {
        t->res->updates = rs->reshape.updates;
        t->res->samples = rs->reshape.samples;
    }
    return 0;
}

/* On another layout, the epoch in progress goes on at the same fraction of its rounds
 * (on a fresh permutation of this rank's shard if the shards changed); a new rank's
 * counters start from zero. */
static int reshape_position(trainer *t, const leash_resume *rs, uint64_t ntrain_old)
{
    leash_progress *pg = &t->prog;
    const leash_config *c = t->cfg;
    if (!rs->reshape.own) pg->updates_before = pg->next_ckpt_updates = 0;
    if (rs->reshape.from_ranks != leash_dist_size()) {
        long old_rounds = c->rounds ? c->rounds : (long)(ntrain_old / (uint64_t)c->batch);
        if (t->ops->lockstep && old_rounds > 0) old_rounds -= old_rounds % rs->reshape.from_threads;
        if (old_rounds < 1 || pg->position > old_rounds) return malformed(t, "position");
        pg->position = (long)((double)pg->position * (double)t->rounds / (double)old_rounds);
        if (pg->started) leash_rng_shuffle_u32(&pg->rng, t->perm, t->train->n);
    }
    if (pg->position > t->rounds) pg->position = t->rounds;
    if (t->ops->lockstep) pg->position -= pg->position % c->threads;
    return 0;
}

static int parse_position(trainer *t, leash_resume *rs, uint64_t ntrain)
{
    leash_progress *pg = &t->prog;
    const int same_shards = !rs->reshape.from_ranks || rs->reshape.from_ranks == leash_dist_size();
    get_position(&rs->rest, pg, same_shards ? t->perm : NULL, ntrain);
    if (rs->rest.bad || pg->started > 1 || pg->position < 0) return malformed(t, "position");
    if (same_shards)
        for (size_t i = 0; i < t->train->n; ++i)
            if (t->perm[i] >= t->train->n) return malformed(t, "permutation");
    if (rs->reshape.from_ranks) return reshape_position(t, rs, ntrain);
    return pg->position > t->rounds ? malformed(t, "position") : 0;
}

/* This rank's state, up to the strategy's parameters. */
static int parse_front(trainer *t, leash_resume *rs)
{
    leash_rbuf *r = &rs->rest;
    *r = (leash_rbuf){rs->blob, rs->len, 0, 0};
    uint64_t ntrain;
    int rc = parse_header(t, rs, &ntrain);
    if (!rc) rc = parse_results(t, rs);
    if (!rc) rc = parse_position(t, rs, ntrain);
    if (rc) return rc;
    rs->timestamp = leash_rbuf_u64(r);
    t->peak0 = leash_rbuf_u64(r);
    const size_t n = t->model->nparams;
    /* Copied out: a section's payload has no float alignment. */
    if (!(rs->theta = leash_params_alloc(n))) return leash_fail(LEASH_ENOMEM, "out of memory");
    leash_rbuf_floats(r, rs->theta, n);
    return r->bad ? malformed(t, "parameters") : 0;
}

int leash_checkpoint_load(trainer *t, leash_resume *rs)
{
    memset(rs, 0, sizeof *rs);
    const int root = leash_dist_rank() == 0;
    reshape_plan plan = {0};
    unsigned char *all = NULL;
    double ntrain = (double)t->train->n;
    int rc = leash_comm_allreduce_sum_d(&ntrain, 1);
    if (rc) return rc;
    size_t *lens = root ? calloc((size_t)leash_dist_size(), sizeof *lens) : NULL;
    rc = root && !lens ? leash_fail(LEASH_ENOMEM, "out of memory") : 0;
    if (!rc && root) rc = read_for_ranks(t, &all, lens, &plan, ntrain);
    if ((rc = leash_dist_agree(rc)) == 0 && (rc = share_plan(t, &plan, rs)) == 0)
        rc = leash_comm_scatter_bytes(all, lens, &rs->blob, &rs->len);
    free(all);
    free(lens);
    if (!rc) rc = leash_comm_bcast_f(t->res->params, t->model->nparams);
    if (!rc && (rc = leash_dist_agree(parse_front(t, rs))) == 0 && rs->reshape.from_ranks)
        rc = share_means(t, &plan, rs);
    plan_free(&plan);
    return rc;
}

/* Momentum: this rank's buffers, or on another layout the mean of all of them. */
static int apply_momentum(trainer *t, leash_resume *rs)
{
    leash_rbuf *r = &rs->rest;
    const int m = t->cfg->threads, reshaped = rs->reshape.from_ranks > 0;
    const size_t bytes = t->model->nparams * sizeof(float);
    uint32_t nvel = leash_rbuf_u32(r);
    if (r->bad || nvel > (uint32_t)(reshaped ? rs->reshape.from_threads : m))
        return malformed(t, "momentum");
    for (uint32_t i = 0; i < nvel; ++i) {
        uint32_t k = leash_rbuf_u32(r);
        if (reshaped) {
            leash_rbuf_take(r, bytes);
            continue;
        }
        float *v = k < (uint32_t)m ? t->ops->velocity(t->strategy, (int)k) : NULL;
        if (!v) return malformed(t, "momentum buffer");
        leash_rbuf_floats(r, v, t->model->nparams);
    }
    for (int k = 0; reshaped && rs->reshape.velocity && k < m; ++k) {
        float *v = t->ops->velocity(t->strategy, k);
        if (v) memcpy(v, rs->reshape.velocity, bytes);
    }
    return r->bad ? malformed(t, "momentum") : 0;
}

/* The step-size policy's state: this rank's, on its own -n (TAIL's sample is sized by
 * the threads); a new rank's, or on another -n, starts afresh. */
static int apply_stepper(trainer *t, leash_rbuf *r, int bins, int keep)
{
    uint32_t nbins = leash_rbuf_u32(r);
    const unsigned char *hist = leash_rbuf_take(r, (size_t)bins * sizeof(uint64_t));
    uint64_t samples = leash_rbuf_u64(r);
    if (r->bad || nbins != (uint32_t)bins) return malformed(t, "step sizes");
    if (!keep) return 0;
    uint64_t *h = malloc((size_t)bins * sizeof *h);
    if (!h) return leash_fail(LEASH_ENOMEM, "out of memory");
    memcpy(h, hist, (size_t)bins * sizeof *h);
    int rc = leash_stepper_restore(t->stepper, h, samples);
    free(h);
    return rc ? malformed(t, "step sizes") : 0;
}

/* The averaging layer's counters and schedule; a new rank keeps its fresh ones. */
static void apply_averager(trainer *t, leash_rbuf *r, int own)
{
    const double now = leash_now();
    uint64_t rounds = leash_rbuf_u64(r);
    double time_mpi = leash_rbuf_f64(r), time_total = leash_rbuf_f64(r);
    uint64_t next_updates = leash_rbuf_u64(r);
    double next_time = deadline(leash_rbuf_f64(r), now);
    if (!own) return;
    t->av.rounds = rounds;
    t->av.time_mpi = time_mpi;
    t->av.time_total = time_total;
    if (t->averaging) {
        t->av.next_updates = next_updates;
        t->av.next_time = next_time;
    }
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

/* The workers' sums and counters: the file's worker i is this rank's worker i mod -n (the
 * same worker on the same layout); a new rank's stay zero. */
static int apply_workers(trainer *t, leash_resume *rs, int bins)
{
    leash_rbuf *r = &rs->rest;
    const int m = t->cfg->threads, own = !rs->reshape.from_ranks || rs->reshape.own;
    const int from = rs->reshape.from_ranks ? rs->reshape.from_threads : m;
    uint32_t nworkers = leash_rbuf_u32(r);
    if (r->bad || nworkers != (uint32_t)from) return malformed(t, "workers");
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
        /* No worker runs yet: relaxed is enough. */
        atomic_store_explicit(&w->trace_sum,
                              atomic_load_explicit(&w->trace_sum, memory_order_relaxed) + trace_sum,
                              memory_order_relaxed);
        atomic_store_explicit(&w->trace_n,
                              atomic_load_explicit(&w->trace_n, memory_order_relaxed) + trace_n,
                              memory_order_relaxed);
        add_stats(&w->stats, &st, bins);
    }
    free(st.staleness);
    return r->bad ? malformed(t, "workers' statistics") : 0;
}

/* Room for a trace of `points` so far and a whole run's more at this layout's rate. */
static int grow_trace(trainer *t, uint64_t points)
{
    if (points > SIZE_MAX / sizeof *t->trace - t->trace_cap) return malformed(t, "loss trace");
    const size_t cap = (size_t)points + t->trace_cap;
    leash_trace_raw *room = calloc(cap, sizeof *room);
    if (!room) return leash_fail(LEASH_ENOMEM, "out of memory for a loss trace of %zu points", cap);
    free(t->trace);
    t->trace = room;
    t->trace_cap = cap;
    return 0;
}

/* The loss trace so far; a new rank's starts empty, at the file's interval. */
static int apply_trace(trainer *t, leash_rbuf *r, int own, int reshaped)
{
    /* The trace goes on at the checkpointed interval, whatever this run asks for: its
     * points so far are that far apart (a run checkpointed without one stays without). */
    uint64_t every = leash_rbuf_u64(r), points = leash_rbuf_u64(r);
    int rc;
    if (r->bad || every > (uint64_t)LONG_MAX) return malformed(t, "loss trace");
    if (every != (uint64_t)t->trace_every && (rc = leash_trainer_trace_alloc(t, (long)every)) != 0)
        return rc;
    /* A point is 32 bytes: no more than the section holds. */
    if (points > (r->len - r->pos) / 32) return malformed(t, "loss trace");
    /* After a resume on another layout, a run's points so far can outnumber what this
     * layout's epochs would hold. */
    if (own && every && (reshaped || points > t->trace_cap) && (rc = grow_trace(t, points)) != 0)
        return rc;
    if (own && points > t->trace_cap) return malformed(t, "loss trace");
    for (uint64_t k = 0; k < points; ++k) {
        leash_trace_raw p;
        p.time_s = leash_rbuf_f64(r);
        p.updates = leash_rbuf_u64(r);
        p.loss_sum = leash_rbuf_f64(r);
        p.losses = leash_rbuf_u64(r);
        if (own) t->trace[k] = p;
    }
    return 0;
}

/* The counters the next epoch's figures start from; a new rank's are zero. */
static void apply_epoch_base(trainer *t, leash_rbuf *r, int bins, int own)
{
    const unsigned char *hist = leash_rbuf_take(r, (size_t)bins * sizeof *t->prev_hist);
    uint64_t failed = leash_rbuf_u64(r), gradients = leash_rbuf_u64(r);
    if (!own || !hist) return;
    memcpy(t->prev_hist, hist, (size_t)bins * sizeof *t->prev_hist);
    t->prev_failed = failed;
    t->prev_gradients = gradients;
}

int leash_checkpoint_apply(trainer *t, leash_resume *rs)
{
    leash_rbuf *r = &rs->rest;
    const int bins = t->cfg->tau_max + 1;
    const int own = !rs->reshape.from_ranks || rs->reshape.own;
    int rc = apply_momentum(t, rs);
    if (!rc) rc = apply_stepper(t, r, bins, own && (!rs->reshape.from_ranks ||
                                                   rs->reshape.from_threads == t->cfg->threads));
    if (rc) return rc;
    apply_averager(t, r, own);
    if ((rc = apply_workers(t, rs, bins)) != 0 || (rc = apply_trace(t, r, own, rs->reshape.from_ranks > 0)) != 0)
        return rc;
    apply_epoch_base(t, r, bins, own);
    if (r->bad || r->pos != r->len) return malformed(t, "workers' statistics");
    return 0;
}

void leash_resume_free(leash_resume *r)
{
    free(r->blob);
    leash_params_free(r->theta);
    leash_params_free(r->reshape.velocity);
    memset(r, 0, sizeof *r);
}
