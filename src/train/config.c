/* Configuration defaults (the names of enumerated options: src/core/names.c). */
#include <string.h>
#include <unistd.h>

#include "leash/train.h"

void leash_config_defaults(leash_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->algorithm = LEASH_ALGO_SEQ;
    cfg->threads = 1;
    cfg->arch = "MLP";
    cfg->hidden_layers = 3;
    cfg->units = 128;
    cfg->activation = LEASH_ACT_RELU;
    cfg->init = LEASH_INIT_NORMAL;
    cfg->persistence = LEASH_PERSIST_INF;
    cfg->epochs = 10;
    cfg->rounds = 0;
    cfg->batch = 512;
    cfg->step = 0.5;
    cfg->momentum = 0.0;
    cfg->step_policy = LEASH_STEP_NONE;
    cfg->tau_max = 200;
    cfg->tail_amplitude = 1.0;
    cfg->seed = 1;
    cfg->dataset = LEASH_DATA_FASHION_MNIST;
    cfg->trace_every = LEASH_TRACE_AUTO;
    cfg->timeline_every = LEASH_TIMELINE_EVERY;
    cfg->timeline_max_events = LEASH_TIMELINE_MAX_EVENTS;
}

uint64_t leash_memory_total(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : UINT64_MAX;
}
