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
        return leash_fail(LEASH_EINVAL, "-n %d: SEQ runs exactly one worker thread", cfg->threads);
    if ((size_t)cfg->batch > train->n)
        return leash_fail(LEASH_EINVAL, "-b %d: batch size exceeds the %zu training samples",
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

/* Refuse, naming the flag behind the largest share, a run whose buffers cannot fit in
 * the machine's memory: asking malloc would end it in "out of memory", or succeed on
 * overcommitted pages and fail later. A lower bound: the parameter vectors every
 * strategy needs (the result, the averaging layer's two, a gradient per worker, one
 * shared copy), the workers' workspaces and histograms, the per-epoch records. */
int leash_check_memory(const leash_config *cfg, const leash_model *model, const leash_dataset *train)
{
    const double m = cfg->threads, vec = (double)model->nparams * sizeof(float);
    struct {
        char flag[64];
        const char *what;
        double bytes;
    } need[4] = {
        {"", "parameter vectors", vec * (m + 4)},
        {"", "mini-batch workspaces", m * (double)leash_workspace_bytes(model, cfg->batch)},
        {"", "staleness histograms", m * ((double)cfg->tau_max + 1) * sizeof(uint64_t)},
        {"", "per-epoch records", (double)cfg->epochs * sizeof(leash_epoch_stats)},
    };
    if (leash_arch_preset(cfg->arch) && strcmp(leash_arch_preset(cfg->arch), "MLP") == 0)
        snprintf(need[0].flag, sizeof need[0].flag, "-U %d -L %d", cfg->units, cfg->hidden_layers);
    else
        snprintf(need[0].flag, sizeof need[0].flag, "-A");
    snprintf(need[1].flag, sizeof need[1].flag, "-b %d", cfg->batch);
    snprintf(need[2].flag, sizeof need[2].flag, "--tau-max %d", cfg->tau_max);
    snprintf(need[3].flag, sizeof need[3].flag, "-e %d", cfg->epochs);
    double total = (double)train->n * sizeof(uint32_t);
    int big = 0;
    for (int i = 0; i < 4; ++i) {
        total += need[i].bytes;
        if (need[i].bytes > need[big].bytes) big = i;
    }
    const double have = (double)leash_memory_total(), gib = 1024.0 * 1024.0 * 1024.0;
    if (total <= have) return 0;
    return leash_fail(LEASH_EINVAL,
                      "%s: the run would need %.1f GiB (%.1f GiB of %s), more than the %.1f GiB "
                      "of memory",
                      need[big].flag, total / gib, need[big].bytes / gib, need[big].what, have / gib);
}
