/* Saved models: a trained model's architecture, parameters and input scaling in one
 * file (doc/file-formats.md), to be scored or used later. */
#ifndef LEASH_MODEL_IO_H
#define LEASH_MODEL_IO_H

#include "leash/api.h"

#include "leash/data.h"
#include "leash/nn.h"
#include "leash/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Save the model m of cfg's architecture with params and the input map it was trained
 * with, written atomically (a temporary file beside path, renamed). cfg->batch is kept
 * as the batch size to score it with, so that scores equal the run's own. */
LEASH_API int leash_model_save(const char *path, const leash_config *cfg, const leash_model *m,
                               const float *params, const leash_input_map *map);

typedef struct leash_saved_model {
    char *arch;   /* leash_config.arch: a preset name or the layer list itself */
    char *layers; /* the layer list (model.layers_text is its canonical form) */
    int hidden_layers, units;    /* MLP preset */
    leash_activation activation; /* MLP preset */
    leash_model model;
    leash_input_map map;
    float *params;    /* model.nparams floats (leash_params_alloc) */
    int eval_batch;   /* the batch size the run scored with */
    int eval_ranks;   /* the ranks it scored with (each a slice of the test set) */
} leash_saved_model;

/* Load a saved model, or the model of a checkpoint (the parameters its last finished
 * epoch was scored on). A file that is not one, is corrupt or truncated: LEASH_EFORMAT
 * with a line naming it. */
LEASH_API int leash_model_load(leash_saved_model *out, const char *path);
LEASH_API void leash_saved_model_free(leash_saved_model *sm);

#ifdef __cplusplus
}
#endif

#endif
