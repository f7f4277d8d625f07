/* What a run's configuration, data and model must satisfy before anything is
 * allocated: see checks_internal.h. */
#include <stdio.h>
#include <string.h>

#include "core/error_internal.h"
#include "leash/placement.h"
#include "train/checks_internal.h"

int leash_check_inputs(const leash_config *cfg, const leash_dataset *train,
                       const leash_dataset *test)
{
    if (cfg->batch <= 0 || cfg->epochs <= 0 || cfg->rounds < 0 || cfg->threads < 1 ||
        cfg->tau_max < 0 || cfg->target_loss < 0 || cfg->avg_every < 0 ||
        !(cfg->avg_period >= 0) || cfg->checkpoint_every < 0 || !(cfg->checkpoint_period >= 0) ||
        (cfg->trace_every < 0 && cfg->trace_every != LEASH_TRACE_AUTO))
        return leash_fail(LEASH_EINVAL, "invalid training configuration");
    if (cfg->placement && cfg->placement->nworkers < cfg->threads)
        return leash_fail(LEASH_EINVAL, "the placement plans %d workers for %d threads",
                          cfg->placement->nworkers, cfg->threads);
    int rc = leash_blas_check_threads(cfg->threads);
    if (rc) return rc;
    if (cfg->algorithm == LEASH_ALGO_SEQ && cfg->threads != 1)
        return leash_fail(LEASH_EINVAL,
                          "leash_config.threads = %d: SEQ runs exactly one worker thread",
                          cfg->threads);
    if ((size_t)cfg->batch > train->n)
        return leash_fail(LEASH_EINVAL,
                          "leash_config.batch = %d: batch size exceeds the %zu training samples",
                          cfg->batch, train->n);
    if (train->n > UINT32_MAX)
        return leash_fail(LEASH_EINVAL, "%zu training samples: at most %u supported", train->n,
                          UINT32_MAX);
    if (train->h != test->h || train->w != test->w || train->c != test->c)
        return leash_fail(LEASH_EINVAL, "training and test images differ in shape");
    if (train->c > LEASH_MAX_CHANNELS)
        return leash_fail(LEASH_EINVAL, "%d channels: at most %d supported", train->c,
                          LEASH_MAX_CHANNELS);
    return 0;
}

void leash_memory_floor_of(leash_memory_floor *out, const leash_config *cfg,
                           const leash_model *m, size_t ntrain, size_t ntest, uint64_t versions)
{
    const double threads = cfg->threads, vec = (double)m->nparams * sizeof(float);
    const double held = (double)(versions ? versions : 1);
    const double averaging = cfg->avg_every > 0 || cfg->avg_period > 0;
    *out = (leash_memory_floor){
        .data = (double)(ntrain + ntest) * (double)(leash_model_input_size(m) + 1),
        .parameters = vec * (held + 1 + 2 * averaging + threads),
        .workspaces = threads * (double)leash_workspace_bytes(m, cfg->batch),
        .histograms = threads * ((double)cfg->tau_max + 1) * sizeof(uint64_t),
        .records = (double)cfg->epochs * sizeof(leash_epoch_stats) +
                   (double)ntrain * sizeof(uint32_t),
    };
    out->total = out->data + out->parameters + out->workspaces + out->histograms + out->records;
}

/* One part of the floor: what it is, its size and the setting that sizes it. */
typedef struct floor_part {
    const char *what;
    double bytes;
    char setting[96];
} floor_part;

/* The floor's largest part. */
static floor_part largest_part(const leash_memory_floor *f, const leash_config *cfg)
{
    floor_part parts[5] = {{"parameter vectors", f->parameters, ""},
                           {"mini-batch workspaces", f->workspaces, ""},
                           {"staleness histograms", f->histograms, ""},
                           {"per-epoch records", f->records, ""},
                           {"training and test samples", f->data, ""}};
    const char *preset = leash_arch_preset(cfg->arch);
    if (preset && strcmp(preset, "MLP") == 0)
        snprintf(parts[0].setting, sizeof parts[0].setting,
                 "leash_config.units = %d leash_config.hidden_layers = %d", cfg->units,
                 cfg->hidden_layers);
    else
        snprintf(parts[0].setting, sizeof parts[0].setting, "leash_config.arch");
    snprintf(parts[1].setting, sizeof parts[1].setting, "leash_config.batch = %d", cfg->batch);
    snprintf(parts[2].setting, sizeof parts[2].setting, "leash_config.tau_max = %d", cfg->tau_max);
    snprintf(parts[3].setting, sizeof parts[3].setting, "leash_config.epochs = %d", cfg->epochs);
    snprintf(parts[4].setting, sizeof parts[4].setting, "leash_config.dataset = %s",
             leash_dataset_name(cfg->dataset));
    int big = 0;
    for (int i = 1; i < 5; ++i)
        if (parts[i].bytes > parts[big].bytes) big = i;
    return parts[big];
}

/* Refuse, naming the setting behind the largest part, a run whose floor (one version
 * held) exceeds the machine's memory: asking malloc would end it in "out of memory", or
 * succeed on overcommitted pages and fail later. */
int leash_check_memory(const leash_config *cfg, const leash_model *model,
                       const leash_dataset *train, const leash_dataset *test)
{
    leash_memory_floor f;
    leash_memory_floor_of(&f, cfg, model, train->n, test->n, 1);
    const double have = (double)leash_memory_total(), gib = 1024.0 * 1024.0 * 1024.0;
    if (f.total <= have) return 0;
    const floor_part big = largest_part(&f, cfg);
    return leash_fail(LEASH_EINVAL,
                      "%s: the run would need %.1f GiB (%.1f GiB of %s), more than the %.1f GiB "
                      "of memory",
                      big.setting, f.total / gib, big.bytes / gib, big.what, have / gib);
}
