#include <stdlib.h>

#include <cblas.h>

#include "cli/report.h"
#include "core/json_internal.h"

static void write_config(leash_json *j, const leash_options *o, const leash_run_info *info)
{
    const leash_config *c = &o->cfg;
    leash_json_key(j, "config");
    leash_json_begin_object(j);
    leash_json_kv_string(j, "algorithm", leash_algorithm_name(c->algorithm));
    leash_json_kv_int(j, "threads", c->threads);
    leash_json_kv_string(j, "arch", leash_arch_name(c->arch));
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
    leash_json_kv_int(j, "train_samples", (int64_t)info->ntrain);
    leash_json_kv_int(j, "test_samples", (int64_t)info->ntest);
    leash_json_kv_int(j, "avg_every", o->avg_every);
    leash_json_end_object(j);
}

/* What the run cannot do without (doc/output.md): the dataset's bytes, the versions the
 * strategy held at its peak, and each worker's gradient and workspace. */
static size_t memory_floor(const leash_options *o, const leash_run_info *info,
                           const leash_result *res)
{
    size_t params = res->model.nparams * sizeof(float);
    return (info->ntrain + info->ntest) * (leash_model_input_size(&res->model) + 1) +
           res->peak_versions * params +
           (size_t)o->cfg.threads * (params + leash_workspace_bytes(&res->model, o->cfg.batch));
}

static void write_final(leash_json *j, const leash_result *res, size_t peak_rss, size_t floor)
{
    const leash_epoch_stats *last = &res->epochs[res->nepochs - 1];
    leash_json_key(j, "final");
    leash_json_begin_object(j);
    leash_json_kv_double(j, "train_loss", last->train_loss);
    leash_json_kv_double(j, "test_loss", last->test_loss);
    leash_json_kv_double(j, "test_accuracy", last->test_accuracy);
    leash_json_kv_double(j, "time_s", res->time_s);
    leash_json_kv_double(j, "eval_time_s", res->eval_time_s);
    if (res->time_to_target_s >= 0)
        leash_json_kv_double(j, "time_to_target_s", res->time_to_target_s);
    else
        leash_json_kv_null(j, "time_to_target_s");
    leash_json_kv_uint(j, "updates", res->updates);
    leash_json_kv_double(j, "samples_per_s", res->time_s > 0 ? (double)res->samples / res->time_s : 0);
    leash_json_kv_double(j, "updates_per_s", res->time_s > 0 ? (double)res->updates / res->time_s : 0);
    leash_json_kv_uint(j, "peak_rss_bytes", peak_rss);
    leash_json_kv_uint(j, "memory_floor_bytes", floor);
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

static void write_sync(leash_json *j, const leash_options *o, const leash_result *res)
{
    leash_json_key(j, "sync");
    leash_json_begin_object(j);
    leash_json_kv_string(j, "algorithm", leash_algorithm_name(o->cfg.algorithm));
    leash_json_kv_int(j, "tau_max", res->tau_max);
    write_hist(j, "staleness_hist", res->staleness_hist, res->tau_max + 1);
    uint64_t n = 0, sum = 0;
    int max = 0;
    for (int t = 0; t <= res->tau_max; ++t) {
        n += res->staleness_hist[t];
        sum += (uint64_t)t * res->staleness_hist[t];
        if (res->staleness_hist[t]) max = t;
    }
    leash_json_kv_double(j, "staleness_mean", n ? (double)sum / (double)n : 0.0);
    leash_json_kv_int(j, "staleness_max", max);
    write_hist(j, "cas_attempts_hist", res->attempts_hist, res->attempt_bins);
    leash_json_kv_uint(j, "gradients", res->gradients);
    leash_json_kv_uint(j, "failed_cas", res->failed_cas);
    leash_json_kv_uint(j, "dropped_gradients", res->dropped);
    leash_json_kv_uint(j, "peak_live_versions", res->peak_versions);
    leash_json_key(j, "updates_per_thread");
    leash_json_begin_array(j);
    for (int i = 0; i < res->threads; ++i) leash_json_uint(j, res->updates_per_thread[i]);
    leash_json_end_array(j);
    leash_json_kv_double(j, "time_compute_s", res->time_compute_s);
    leash_json_kv_double(j, "time_publish_s", res->time_publish_s);
    leash_json_kv_double(j, "time_wait_s", res->time_wait_s);
    leash_json_end_object(j);
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

void leash_report_write(FILE *out, const leash_options *o, const leash_run_info *info,
                        const leash_result *res)
{
    leash_json j;
    leash_json_init(&j, out);
    leash_json_begin_object(&j);
    leash_json_kv_string(&j, "leash_version", PACKAGE_VERSION);
    write_config(&j, o, info);
    leash_json_kv_int(&j, "ranks", 1);
    leash_json_kv_int(&j, "threads_per_rank", o->cfg.threads);
    write_topology(&j, info, res);
    leash_json_key(&j, "blas");
    leash_json_begin_object(&j);
    leash_json_kv_string(&j, "config", openblas_get_config());
    leash_json_kv_string(&j, "core", openblas_get_corename());
    leash_json_kv_string(&j, "openblas_coretype_env", getenv("OPENBLAS_CORETYPE"));
    leash_json_end_object(&j);

    leash_json_key(&j, "epochs");
    leash_json_begin_array(&j);
    for (int e = 0; e < res->nepochs; ++e) {
        const leash_epoch_stats *s = &res->epochs[e];
        leash_json_begin_object(&j);
        leash_json_kv_int(&j, "epoch", s->epoch);
        leash_json_kv_double(&j, "train_loss", s->train_loss);
        leash_json_kv_double(&j, "test_loss", s->test_loss);
        leash_json_kv_double(&j, "test_accuracy", s->test_accuracy);
        leash_json_kv_double(&j, "time_s", s->time_s);
        leash_json_kv_uint(&j, "updates", s->updates);
        leash_json_end_object(&j);
    }
    leash_json_end_array(&j);

    write_final(&j, res, info->peak_rss_bytes, memory_floor(o, info, res));
    write_sync(&j, o, res);
    leash_json_key(&j, "mpi");
    leash_json_begin_object(&j);
    leash_json_kv_int(&j, "averagings", 0);
    leash_json_kv_double(&j, "time_mpi_s", 0.0);
    leash_json_end_object(&j);
    leash_json_end_object(&j);
}
