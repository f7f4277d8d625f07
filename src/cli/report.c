#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include <cblas.h>
#include <hwloc.h>

#include "cli/report.h"
#include "core/error_internal.h"
#include "core/json_internal.h"
#include "core/store_internal.h"
#include "mpi/comm_internal.h"
#include "leash/dist.h"

/* Equal digests of the final parameters on all ranks show the final averaging left the
 * same bits everywhere (the local ones, before it, show what the rounds did). */
static uint64_t params_digest(const leash_result *res)
{
    return leash_fnv1a64(res->params, res->model.nparams * sizeof *res->params);
}

/* The figures' columns past the named ones: the local digest and the rounds' updates.
 * Update counts below 2^53 are exact in doubles. */
static void rank_extras(double *mine, const leash_result *res)
{
    mine[LEASH_RANK_LOCAL_HI] = (double)(res->local_digest >> 32);
    mine[LEASH_RANK_LOCAL_LO] = (double)(res->local_digest & 0xffffffffu);
    mine[LEASH_RANK_NROUND_UPDATES] = res->nround_updates;
    for (int i = 0; i < res->nround_updates; ++i)
        mine[LEASH_RANK_ROUND_UPDATES + i] = (double)res->round_updates[i];
}

int leash_report_gather(leash_rank_table *t, const leash_result *res, const leash_run_info *info)
{
    uint64_t digest = params_digest(res);
    t->ranks = leash_dist_size();
    t->rows = NULL;
    t->staleness = t->attempts = NULL;
    double mine[LEASH_RANK_FIELDS] = {
        [LEASH_RANK_TRAIN_SAMPLES] = (double)info->ntrain,
        [LEASH_RANK_UPDATES] = (double)res->updates,
        [LEASH_RANK_GRADIENTS] = (double)res->gradients,
        [LEASH_RANK_DROPPED] = (double)res->dropped,
        [LEASH_RANK_FAILED_CAS] = (double)res->failed_cas,
        [LEASH_RANK_PEAK_VERSIONS] = (double)res->peak_versions,
        [LEASH_RANK_TIME] = res->time_s,
        [LEASH_RANK_SAMPLES] = (double)res->samples,
        [LEASH_RANK_COMPUTE] = res->time_compute_s,
        [LEASH_RANK_READ] = res->time_read_s,
        [LEASH_RANK_PUBLISH] = res->time_publish_s,
        [LEASH_RANK_WAIT] = res->time_wait_s,
        [LEASH_RANK_MIX] = res->time_mix_s,
        [LEASH_RANK_AVERAGINGS] = (double)res->averagings,
        [LEASH_RANK_MPI] = res->time_mpi_s,
        [LEASH_RANK_AVERAGING] = res->time_averaging_s,
        [LEASH_RANK_PEAK_RSS] = (double)info->peak_rss_bytes,
        [LEASH_RANK_BEHIND] = (double)res->rounds_behind,
        /* 32-bit halves: exact in doubles. */
        [LEASH_RANK_DIGEST_HI] = (double)(digest >> 32),
        [LEASH_RANK_DIGEST_LO] = (double)(digest & 0xffffffffu),
    };
    rank_extras(mine, res);
    int root = leash_dist_rank() == 0;
    /* Counts below 2^53 add exactly in doubles. */
    size_t bins = (size_t)res->tau_max + 1 + (size_t)res->attempt_bins;
    double *h = malloc(bins * sizeof *h);
    t->staleness = malloc(((size_t)res->tau_max + 1) * sizeof *t->staleness);
    t->attempts = malloc((size_t)res->attempt_bins * sizeof *t->attempts);
    if (root) t->rows = malloc((size_t)t->ranks * LEASH_RANK_FIELDS * sizeof *t->rows);
    int rc = (root && !t->rows) || !h || !t->staleness || !t->attempts
                 ? leash_fail(LEASH_ENOMEM, "out of memory for the ranks' figures")
                 : 0;
    /* Agree before the collectives, so that a rank short of memory leaves none waiting. */
    int err = leash_dist_agree(rc);
    if (!err) err = leash_comm_gather_d(mine, LEASH_RANK_FIELDS, t->rows);
    if (!err && h) {
        for (int i = 0; i <= res->tau_max; ++i) h[i] = (double)res->staleness_hist[i];
        for (int i = 0; i < res->attempt_bins; ++i)
            h[(size_t)res->tau_max + 1 + (size_t)i] = (double)res->attempts_hist[i];
        err = leash_comm_allreduce_sum_d(h, (int)bins);
        for (int i = 0; !err && i <= res->tau_max; ++i) t->staleness[i] = (uint64_t)h[i];
        for (int i = 0; !err && i < res->attempt_bins; ++i)
            t->attempts[i] = (uint64_t)h[(size_t)res->tau_max + 1 + (size_t)i];
    }
    free(h);
    return err;
}

void leash_rank_table_free(leash_rank_table *t)
{
    free(t->rows);
    free(t->staleness);
    free(t->attempts);
    t->rows = NULL;
    t->staleness = t->attempts = NULL;
}

/* Column k of the ranks' table: sum or maximum over ranks. */
static double ranks_sum(const leash_rank_table *t, int k)
{
    double s = 0;
    for (int r = 0; r < t->ranks; ++r) s += t->rows[r * LEASH_RANK_FIELDS + k];
    return s;
}

static double ranks_max(const leash_rank_table *t, int k)
{
    double m = t->rows[k];
    for (int r = 1; r < t->ranks; ++r)
        if (t->rows[r * LEASH_RANK_FIELDS + k] > m) m = t->rows[r * LEASH_RANK_FIELDS + k];
    return m;
}

static void write_config(leash_json *j, const leash_options *o, const leash_run_info *info)
{
    const leash_config *c = &o->cfg;
    leash_json_key(j, "config");
    leash_json_begin_object(j);
    leash_json_kv_string(j, "algorithm", leash_algorithm_name(c->algorithm));
    leash_json_kv_int(j, "threads", c->threads);
    const char *preset = leash_arch_preset(c->arch);
    leash_json_kv_string(j, "arch", preset ? preset : o->layers);
    leash_json_kv_string(j, "layers", o->layers);
    leash_json_kv_int(j, "hidden_layers", c->hidden_layers);
    leash_json_kv_int(j, "units", c->units);
    leash_json_kv_string(j, "activation", leash_activation_name(c->activation));
    leash_json_kv_string(j, "init", leash_init_name(c->init));
    if (c->persistence == LEASH_PERSIST_INF) {
        leash_json_kv_string(j, "persistence", "inf");
    } else {
        leash_json_kv_int(j, "persistence", c->persistence);
    }
    leash_json_kv_int(j, "epochs", c->epochs);
    leash_json_kv_int(j, "rounds", c->rounds);
    leash_json_kv_int(j, "batch", c->batch);
    leash_json_kv_double(j, "step", c->step);
    leash_json_kv_double(j, "momentum", c->momentum);
    leash_json_kv_string(j, "step_policy", leash_step_policy_name(c->step_policy));
    leash_json_kv_int(j, "tau_max", c->tau_max);
    leash_json_kv_double(j, "tail_amplitude", c->tail_amplitude);
    leash_json_kv_double(j, "target_loss", c->target_loss);
    leash_json_kv_uint(j, "seed", c->seed);
    leash_json_kv_string(j, "dataset", leash_dataset_name(o->dataset));
    leash_json_kv_string(j, "data_dir", info->data_dir);
    leash_json_kv_int(j, "holdout", o->holdout);
    leash_json_kv_string(j, "input_scale",
                         leash_names_name(&leash_cli_input_scales, (int)o->input_scale));
    leash_json_kv_int(j, "train_samples", (int64_t)info->ntrain);
    leash_json_kv_int(j, "test_samples", (int64_t)info->ntest);
    leash_json_kv_int(j, "avg_every", c->avg_every);
    leash_json_kv_double(j, "avg_period_s", c->avg_period);
    leash_json_kv_string(j, "avg_mode", leash_names_name(&leash_cli_avg_modes, c->avg_blocking));
    leash_json_end_object(j);
}

/* What the run cannot do without (doc/output.md): the library's floor at the versions
 * the strategy held at its peak. */
static size_t memory_floor(const leash_options *o, const leash_run_info *info,
                           const leash_result *res)
{
    leash_memory_floor f;
    leash_memory_floor_of(&f, &o->cfg, &res->model, info->ntrain, info->ntest, res->peak_versions);
    return (size_t)f.total;
}

static void write_final(leash_json *j, const leash_result *res, const leash_rank_table *t,
                        size_t floor)
{
    /* Over all ranks: updates and samples add up; wall times and memory are the largest. */
    double time_s = ranks_max(t, LEASH_RANK_TIME), samples = ranks_sum(t, LEASH_RANK_SAMPLES);
    double updates = ranks_sum(t, LEASH_RANK_UPDATES);
    /* A run stopped before its first epoch ended has no figures yet (null). */
    const leash_epoch_stats none = {.train_loss = NAN, .test_loss = NAN, .test_accuracy = NAN};
    const leash_epoch_stats *last = res->nepochs ? &res->epochs[res->nepochs - 1] : &none;
    leash_json_key(j, "final");
    leash_json_begin_object(j);
    leash_json_kv_double(j, "train_loss", last->train_loss);
    leash_json_kv_double(j, "test_loss", last->test_loss);
    leash_json_kv_double(j, "test_accuracy", last->test_accuracy);
    leash_json_kv_double(j, "time_s", time_s);
    leash_json_kv_double(j, "eval_time_s", res->eval_time_s);
    if (res->time_to_target_s >= 0) {
        leash_json_kv_double(j, "time_to_target_s", res->time_to_target_s);
        leash_json_kv_double(j, "updates_to_target", res->updates_to_target);
    } else {
        leash_json_kv_null(j, "time_to_target_s");
        leash_json_kv_null(j, "updates_to_target");
    }
    leash_json_kv_uint(j, "updates", (uint64_t)updates);
    leash_json_kv_double(j, "samples_per_s", time_s > 0 ? samples / time_s : 0);
    leash_json_kv_double(j, "updates_per_s", time_s > 0 ? updates / time_s : 0);
    leash_json_kv_uint(j, "peak_rss_bytes", (uint64_t)ranks_max(t, LEASH_RANK_PEAK_RSS));
    leash_json_kv_uint(j, "memory_floor_bytes", floor); /* rank 0's */
    leash_json_kv_uint(j, "parameters", leash_model_count_params(&res->model));
    leash_json_end_object(j);
}

/* A histogram without its trailing empty bins (the document stays short). */
static void write_hist(leash_json *j, const char *key, const uint64_t *bins, int n)
{
    while (n > 1 && bins[n - 1] == 0) --n;
    leash_json_key(j, key);
    leash_json_begin_array(j);
    for (int i = 0; i < n; ++i) leash_json_uint(j, bins[i]);
    leash_json_end_array(j);
}

static void write_sync(leash_json *j, const leash_options *o, const leash_result *res,
                       const leash_rank_table *t)
{
    leash_json_key(j, "sync");
    leash_json_begin_object(j);
    leash_json_kv_string(j, "algorithm", leash_algorithm_name(o->cfg.algorithm));
    leash_json_kv_int(j, "tau_max", res->tau_max);
    write_hist(j, "staleness_hist", t->staleness, res->tau_max + 1);
    uint64_t n = 0, sum = 0;
    int max = 0;
    for (int tau = 0; tau <= res->tau_max; ++tau) {
        n += t->staleness[tau];
        sum += (uint64_t)tau * t->staleness[tau];
        if (t->staleness[tau]) max = tau;
    }
    leash_json_kv_double(j, "staleness_mean", n ? (double)sum / (double)n : 0.0);
    leash_json_kv_int(j, "staleness_max", max);
    write_hist(j, "cas_attempts_hist", t->attempts, res->attempt_bins);
    leash_json_kv_uint(j, "gradients", (uint64_t)ranks_sum(t, LEASH_RANK_GRADIENTS));
    leash_json_kv_uint(j, "failed_cas", (uint64_t)ranks_sum(t, LEASH_RANK_FAILED_CAS));
    leash_json_kv_uint(j, "dropped_gradients", (uint64_t)ranks_sum(t, LEASH_RANK_DROPPED));
    leash_json_kv_uint(j, "peak_live_versions", (uint64_t)ranks_max(t, LEASH_RANK_PEAK_VERSIONS));
    leash_json_kv_uint(j, "timestamp", res->timestamp); /* rank 0's */
    leash_json_key(j, "updates_per_thread"); /* rank 0's workers */
    leash_json_begin_array(j);
    for (int i = 0; i < res->threads; ++i) leash_json_uint(j, res->updates_per_thread[i]);
    leash_json_end_array(j);
    leash_json_kv_double(j, "time_compute_s", ranks_sum(t, LEASH_RANK_COMPUTE));
    leash_json_kv_double(j, "time_read_s", ranks_sum(t, LEASH_RANK_READ));
    leash_json_kv_double(j, "time_publish_s", ranks_sum(t, LEASH_RANK_PUBLISH));
    leash_json_kv_double(j, "time_wait_s", ranks_sum(t, LEASH_RANK_WAIT));
    leash_json_end_object(j);
}

static void write_mpi(leash_json *j, const leash_options *o, const leash_rank_table *t)
{
    leash_json_key(j, "mpi");
    leash_json_begin_object(j);
    leash_json_kv_int(j, "ranks", t->ranks);
    leash_json_kv_int(j, "avg_every", o->cfg.avg_every);
    leash_json_kv_double(j, "avg_period_s", o->cfg.avg_period);
    /* Rounds are collective: every rank runs the same number. */
    leash_json_kv_uint(j, "averagings", (uint64_t)t->rows[LEASH_RANK_AVERAGINGS]);
    leash_json_kv_uint(j, "rounds_behind", (uint64_t)ranks_max(t, LEASH_RANK_BEHIND));
    leash_json_kv_double(j, "time_mpi_s", ranks_max(t, LEASH_RANK_MPI));
    leash_json_kv_double(j, "time_averaging_s", ranks_max(t, LEASH_RANK_AVERAGING));
    leash_json_kv_double(j, "worker_wait_s", ranks_sum(t, LEASH_RANK_MIX));
    leash_json_end_object(j);
}

static void write_ranks(leash_json *j, const leash_rank_table *t)
{
    static const char *const names[LEASH_RANK_DIGEST_HI] = {
        "train_samples", "updates", "gradients", "dropped_gradients", "failed_cas",
        "peak_live_versions", "time_s", "samples", "time_compute_s", "time_read_s", "time_publish_s",
        "time_wait_s", "worker_wait_s", "averagings", "time_mpi_s", "time_averaging_s",
        "peak_rss_bytes", "rounds_behind"};
    enum { NAMED = LEASH_RANK_DIGEST_HI };
    leash_json_key(j, "per_rank");
    leash_json_begin_array(j);
    for (int r = 0; r < t->ranks; ++r) {
        const double *row = &t->rows[r * LEASH_RANK_FIELDS];
        leash_json_begin_object(j);
        leash_json_kv_int(j, "rank", r);
        for (int k = 0; k < NAMED; ++k) {
            /* Times are seconds; everything else counts something. */
            if (k == LEASH_RANK_TIME || (k >= LEASH_RANK_COMPUTE && k <= LEASH_RANK_MIX) ||
                k == LEASH_RANK_MPI || k == LEASH_RANK_AVERAGING)
                leash_json_kv_double(j, names[k], row[k]);
            else
                leash_json_kv_uint(j, names[k], (uint64_t)row[k]);
        }
        leash_json_kv_double(j, "samples_per_s",
                             row[LEASH_RANK_TIME] > 0 ? row[LEASH_RANK_SAMPLES] / row[LEASH_RANK_TIME] : 0);
        char digest[17];
        snprintf(digest, sizeof digest, "%08lx%08lx", (unsigned long)row[LEASH_RANK_DIGEST_HI],
                 (unsigned long)row[LEASH_RANK_DIGEST_LO]);
        leash_json_kv_string(j, "params_digest", digest);
        snprintf(digest, sizeof digest, "%08lx%08lx", (unsigned long)row[LEASH_RANK_LOCAL_HI],
                 (unsigned long)row[LEASH_RANK_LOCAL_LO]);
        leash_json_kv_string(j, "local_digest", digest);
        leash_json_key(j, "round_updates");
        leash_json_begin_inline_array(j);
        for (int i = 0; i < (int)row[LEASH_RANK_NROUND_UPDATES]; ++i)
            leash_json_uint(j, (uint64_t)row[LEASH_RANK_ROUND_UPDATES + i]);
        leash_json_end_array(j);
        leash_json_end_object(j);
    }
    leash_json_end_array(j);
}

static void write_topology(leash_json *j, const leash_run_info *info, const leash_result *res)
{
    leash_json_key(j, "topology");
    if (!info->topology) {
        leash_json_null(j);
    } else {
        hwloc_topology_t t = info->topology;
        char *set = NULL;
        hwloc_bitmap_list_asprintf(&set, info->cpuset);
        leash_json_begin_object(j);
        leash_json_kv_int(j, "packages", hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PACKAGE));
        leash_json_kv_int(j, "numa_nodes", hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE));
        leash_json_kv_int(j, "cores", hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE));
        leash_json_kv_int(j, "pus", hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PU));
        leash_json_kv_string(j, "cpuset", set);
        leash_json_kv_string(j, "policy", info->policy < 0 ? "none" : leash_place_policy_name((leash_place_policy)info->policy));
        if (info->plan) {
            leash_json_kv_int(j, "model_numa", info->plan->model_numa);
            leash_json_kv_bool(j, "oversubscribed", info->plan->oversubscribed);
        }
        leash_json_end_object(j);
        free(set);
    }
    leash_json_key(j, "placement");
    leash_json_begin_array(j);
    for (int i = 0; info->plan && i < info->plan->nworkers; ++i) {
        const leash_worker_place *w = &info->plan->workers[i];
        leash_json_begin_object(j);
        leash_json_kv_int(j, "worker", i);
        leash_json_kv_int(j, "pu", w->pu);
        leash_json_kv_int(j, "core", w->core);
        leash_json_kv_int(j, "numa", w->numa);
        leash_json_kv_bool(j, "bound", res->bound && i < res->threads && res->bound[i]);
        leash_json_end_object(j);
    }
    leash_json_end_array(j);
}

/* "2026-12-01T22:13:21Z" */
static void iso8601(char *buf, size_t len, double unix_time)
{
    time_t secs = (time_t)unix_time;
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void kv_env(leash_json *j, const char *key, const char *var)
{
    const char *v = getenv(var);
    if (v)
        leash_json_kv_string(j, key, v);
    else
        leash_json_kv_null(j, key);
}

static void write_provenance(leash_json *j, const leash_provenance *p, const leash_result *res,
                             int ranks)
{
    char when[32];
    iso8601(when, sizeof when, res->start_time);
    leash_json_key(j, "provenance");
    leash_json_begin_object(j);
    leash_json_kv_string(j, "start_time", when);
    leash_json_key(j, "command_line");
    leash_json_begin_array(j);
    for (int i = 0; i < p->argc; ++i) leash_json_string(j, p->argv[i]);
    leash_json_end_array(j);
    leash_json_key(j, "hosts");
    leash_json_begin_array(j);
    for (int r = 0; r < ranks; ++r) leash_json_string(j, leash_comm_host(r));
    leash_json_end_array(j);
    leash_json_kv_string(j, "data_dir", p->data_dir);
    leash_json_key(j, "slurm");
    if (getenv("SLURM_JOB_ID")) {
        leash_json_begin_object(j);
        kv_env(j, "job_id", "SLURM_JOB_ID");
        kv_env(j, "array_job_id", "SLURM_ARRAY_JOB_ID");
        kv_env(j, "array_task_id", "SLURM_ARRAY_TASK_ID");
        kv_env(j, "restart_count", "SLURM_RESTART_COUNT");
        leash_json_end_object(j);
    } else {
        leash_json_null(j);
    }
    leash_json_end_object(j);
}

static void write_diverged(leash_json *j, leash_run_status status, const leash_result *res)
{
    leash_json_key(j, "diverged");
    if (status != LEASH_RUN_DIVERGED) {
        leash_json_null(j);
        return;
    }
    leash_json_begin_object(j);
    leash_json_kv_int(j, "epoch", res->diverged_epoch);
    leash_json_kv_uint(j, "update", res->diverged_update);
    leash_json_end_object(j);
}

static void write_blas(leash_json *j)
{
    leash_json_key(j, "blas");
    leash_json_begin_object(j);
    leash_json_kv_string(j, "config", openblas_get_config());
    leash_json_kv_string(j, "core", openblas_get_corename());
    leash_json_kv_string(j, "openblas_coretype_env", getenv("OPENBLAS_CORETYPE"));
    leash_json_end_object(j);
}

static void split_fields(leash_json *j, const leash_time_split *s)
{
    leash_json_kv_double(j, "compute", s->compute);
    leash_json_kv_double(j, "read", s->read);
    leash_json_kv_double(j, "publish", s->publish);
    leash_json_kv_double(j, "wait", s->wait);
    leash_json_kv_double(j, "idle", s->idle);
}

/* Epoch e's time breakdown: the mean over all workers, then rank 0's workers (null when
 * a resume changed -n since); null when unknown. */
static void write_split(leash_json *j, const leash_result *res, int e)
{
    const leash_epoch_stats *s = &res->epochs[e];
    leash_json_key(j, "time_split");
    if (s->split_known == LEASH_SPLIT_NONE) {
        leash_json_null(j);
        return;
    }
    leash_json_begin_object(j);
    split_fields(j, &s->split);
    leash_json_key(j, "workers");
    if (s->split_known != LEASH_SPLIT_WORKERS) {
        leash_json_null(j);
        leash_json_end_object(j);
        return;
    }
    leash_json_begin_array(j);
    for (int w = 0; w < res->threads; ++w) {
        leash_json_begin_object(j);
        leash_json_kv_int(j, "worker", w);
        split_fields(j, &res->worker_splits[(size_t)e * (size_t)res->threads + (size_t)w]);
        leash_json_end_object(j);
    }
    leash_json_end_array(j);
    leash_json_end_object(j);
}

static void write_epochs(leash_json *j, const leash_result *res)
{
    leash_json_key(j, "epochs");
    leash_json_begin_array(j);
    for (int e = 0; e < res->nepochs; ++e) {
        const leash_epoch_stats *s = &res->epochs[e];
        leash_json_begin_object(j);
        leash_json_kv_int(j, "epoch", s->epoch);
        leash_json_kv_double(j, "train_loss", s->train_loss);
        leash_json_kv_double(j, "test_loss", s->test_loss);
        leash_json_kv_double(j, "test_accuracy", s->test_accuracy);
        leash_json_kv_double(j, "time_s", s->time_s);
        leash_json_kv_uint(j, "updates", s->updates);
        leash_json_kv_double(j, "staleness_mean", s->staleness_mean);
        leash_json_kv_int(j, "staleness_max", s->staleness_max);
        leash_json_kv_double(j, "failed_cas_rate", s->failed_cas_rate);
        leash_json_kv_uint(j, "live_versions", s->live_versions);
        write_split(j, res, e);
        leash_json_end_object(j);
    }
    leash_json_end_array(j);
}

/* [time_s, updates, loss] triples: compact, for plotting. */
static void write_trace(leash_json *j, const leash_result *res)
{
    leash_json_key(j, "trace");
    leash_json_begin_object(j);
    leash_json_kv_int(j, "every", res->trace_every);
    leash_json_key(j, "points");
    leash_json_begin_array(j);
    for (size_t k = 0; k < res->ntrace; ++k) {
        leash_json_begin_inline_array(j);
        leash_json_double(j, res->trace[k].time_s);
        leash_json_uint(j, res->trace[k].updates);
        leash_json_double(j, res->trace[k].loss);
        leash_json_end_array(j);
    }
    leash_json_end_array(j);
    leash_json_end_object(j);
}

/* {from, to} of a resume on another layout (from 0: the same layout), else null. */
static void write_layout_change(leash_json *j, const char *key, int from, int to)
{
    if (!from) {
        leash_json_kv_null(j, key);
        return;
    }
    leash_json_key(j, key);
    leash_json_begin_object(j);
    leash_json_kv_int(j, "from", from);
    leash_json_kv_int(j, "to", to);
    leash_json_end_object(j);
}

static void write_checkpoints(leash_json *j, const leash_options *o, const leash_result *res,
                              int t_ranks)
{
    leash_json_key(j, "checkpoints");
    leash_json_begin_object(j);
    leash_json_kv_string(j, "file", o->cfg.checkpoint);
    /* --resume auto resumes from --checkpoint's file when it exists. */
    leash_json_kv_string(j, "resumed_from",
                         !res->resumed ? NULL : o->cfg.resume ? o->cfg.resume : o->cfg.checkpoint);
    write_layout_change(j, "resumed_ranks", res->resumed_from_ranks, t_ranks);
    write_layout_change(j, "resumed_threads", res->resumed_from_threads, o->cfg.threads);
    if (res->resumed_from_ranks) {
        char digest[17];
        snprintf(digest, sizeof digest, "%016llx", (unsigned long long)res->resumed_start_digest);
        leash_json_kv_string(j, "resumed_start_digest", digest);
    } else {
        leash_json_kv_null(j, "resumed_start_digest");
    }
    leash_json_kv_uint(j, "written", res->checkpoints);
    leash_json_kv_double(j, "time_s", res->time_checkpoint_s);
    leash_json_end_object(j);
}

/* The timeline's file and what it holds (once written, at the end of the run). */
static void write_timeline(leash_json *j, const leash_config *c, leash_run_status status,
                           const leash_result *res)
{
    leash_json_key(j, "timeline");
    if (!c->timeline) {
        leash_json_null(j);
        return;
    }
    leash_json_begin_object(j);
    leash_json_kv_string(j, "file", c->timeline);
    leash_json_kv_int(j, "every", c->timeline_every);
    leash_json_kv_int(j, "max_events", c->timeline_max_events);
    if (status == LEASH_RUN_RUNNING) {
        leash_json_kv_null(j, "events");
        leash_json_kv_null(j, "cut");
    } else if (res->timeline_error) {
        leash_json_kv_null(j, "events");
        leash_json_kv_null(j, "cut");
    } else {
        leash_json_kv_uint(j, "events", res->timeline_events);
        leash_json_kv_bool(j, "cut", res->timeline_cut);
    }
    if (res->timeline_error)
        leash_json_kv_string(j, "error", res->timeline_message);
    else
        leash_json_kv_null(j, "error");
    leash_json_end_object(j);
}

void leash_report_write(FILE *out, const leash_options *o, const leash_run_info *info,
                        const leash_provenance *prov, leash_run_status status,
                        const leash_result *res, const leash_rank_table *t)
{
    static const char *const statuses[] = {"running", "complete", "interrupted", "diverged"};
    leash_json j;
    leash_json_init(&j, out);
    leash_json_begin_object(&j);
    leash_json_kv_string(&j, "leash_version", PACKAGE_VERSION);
    leash_json_kv_string(&j, "status", statuses[status]);
    leash_json_kv_int(&j, "resumes", res->resumes);
    write_diverged(&j, status, res);
    write_provenance(&j, prov, res, t->ranks);
    write_config(&j, o, info);
    leash_json_kv_int(&j, "ranks", t->ranks);
    leash_json_kv_int(&j, "threads_per_rank", o->cfg.threads);
    write_topology(&j, info, res);
    write_blas(&j);
    write_epochs(&j, res);
    write_trace(&j, res);
    write_final(&j, res, t, memory_floor(o, info, res));
    write_sync(&j, o, res, t);
    write_mpi(&j, o, t);
    write_checkpoints(&j, o, res, t->ranks);
    write_timeline(&j, &o->cfg, status, res);
    write_ranks(&j, t);
    leash_json_end_object(&j);
}
