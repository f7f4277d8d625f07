/* Models: a layer list plus one sizes/offsets table for all parameters.
 *
 * All parameters of a model live in one 64-byte-aligned float array (a "version");
 * gradients, momentum and every other per-parameter buffer mirror it 1:1, so one
 * vector operation covers a whole model. Each tensor starts on a 64-byte boundary. */
#ifndef LEASH_NN_H
#define LEASH_NN_H

#include "leash/api.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Weight initializations, as X(ID, NAME): LEASH_INIT_ID, named NAME (leash_init_name and
 * leash_init_parse, leash/train.h). */
#define LEASH_INITS(X) X(NORMAL, "NORMAL") X(HE, "HE") X(GLOROT, "GLOROT")

#define LEASH_INIT_ENUMERATOR_(ID, NAME) LEASH_INIT_##ID,
typedef enum leash_init { LEASH_INITS(LEASH_INIT_ENUMERATOR_) } leash_init;
#undef LEASH_INIT_ENUMERATOR_

/* The hidden activations of the MLP preset, as X(ID, NAME): LEASH_ACT_ID, named NAME.
 * Saved models hold the value: a new activation goes last. */
#define LEASH_ACTIVATIONS(X) X(RELU, "RELU") X(SIGMOID, "SIGMOID") X(TANH, "TANH")

#define LEASH_ACT_ENUMERATOR_(ID, NAME) LEASH_ACT_##ID,
typedef enum leash_activation { LEASH_ACTIVATIONS(LEASH_ACT_ENUMERATOR_) } leash_activation;
#undef LEASH_ACT_ENUMERATOR_

typedef enum leash_layer_kind {
    LEASH_LAYER_FC,      /* out = in * W^T + b, W is [out_c][in features] */
    LEASH_LAYER_CONV,    /* k x k convolution with stride and zero padding, W is
                          * [out_c][k][k][in_c] */
    LEASH_LAYER_MAXPOOL, /* k x k windows, stride k, trailing rows/columns dropped */
    LEASH_LAYER_AVGPOOL, /* the same windows, their mean */
    LEASH_LAYER_RELU,
    LEASH_LAYER_SIGMOID,
    LEASH_LAYER_TANH
} leash_layer_kind;

typedef struct leash_layer {
    leash_layer_kind kind;
    int in_h, in_w, in_c;    /* per-sample input shape, HWC (fully connected: 1 x 1 x features) */
    int out_h, out_w, out_c; /* per-sample output shape */
    int k;                   /* kernel or pooling window side */
    int stride, pad;         /* convolutions: stride and zeros on each side (1 and 0 otherwise) */
    int weight, bias;        /* tensor indices in the model's table, -1 if none */
} leash_layer;

/* A model: its layers and the sizes table of its one parameter array. Built by
 * leash_model_from_layers (or a preset's shortcut below), released by leash_model_free. */
typedef struct leash_model {
    int nlayers;
    leash_layer *layers;
    int ntensors;
    size_t *tensor_size;   /* floats in each tensor */
    size_t *tensor_offset; /* floats from the start of the array */
    size_t nparams;        /* floats in the whole array, padding included */
    int in_h, in_w, in_c;
    int nclasses;
    char *layers_text; /* the canonical layer list the model was built from */
} leash_model;

/* The architecture language (doc/design.md, "Architectures"). An architecture is a
 * preset name (MLP, CNN, LENET; case-insensitive) or a comma-separated layer list, from
 * the input: conv:C:K[:sS][:pP], maxpool:K, avgpool:K, fc:N, fc (last layer only: as
 * many outputs as classes), relu, sigmoid, tanh. */

/* The canonical name of the preset arch names, or NULL if it names none. */
LEASH_API const char *leash_arch_preset(const char *arch);
/* The canonical layer list of arch (NULL: MLP) into *layers (free()); hidden_layers,
 * units and act shape the MLP preset only. LEASH_EINVAL with one line naming the layer
 * by position and text on a malformed list. */
LEASH_API int leash_arch_layers(const char *arch, int hidden_layers, int units,
                                leash_activation act, char **layers);
/* The model of a layer list for inputs in_h x in_w x in_c and nclasses classes; every
 * layer is checked against the shape it receives ("layer 3 'conv:64:9': its 9x9 kernel
 * is larger than its 5x5x32 input") and the last must give nclasses outputs. */
LEASH_API int leash_model_from_layers(leash_model *m, const char *layers, int in_h, int in_w,
                                      int in_c, int nclasses);
/* The model of arch (a preset or a layer list), as leash_arch_layers then
 * leash_model_from_layers. */
LEASH_API int leash_model_build(leash_model *m, const char *arch, int in_h, int in_w, int in_c,
                                int nclasses, int hidden_layers, int units, leash_activation act);
/* Release what a built model holds (a zeroed or failed model is fine too). */
LEASH_API void leash_model_free(leash_model *m);
/* Shortcuts for the presets. */
LEASH_API int leash_model_mlp(leash_model *m, int in_h, int in_w, int in_c, int nclasses,
                              int hidden_layers, int units, leash_activation act);
LEASH_API int leash_model_cnn(leash_model *m, int in_h, int in_w, int in_c, int nclasses);
LEASH_API int leash_model_lenet(leash_model *m, int in_h, int in_w, int in_c, int nclasses);

/* A layer's kind as the language names it ("conv"), and the layer as a token of the
 * language ("conv:32:5:p2"; the last fc layer as "fc:N"), as snprintf. */
LEASH_API const char *leash_layer_kind_name(leash_layer_kind k);
LEASH_API int leash_layer_token(const leash_layer *l, char *buf, size_t size);
/* Real (unpadded) parameters of layer i. */
LEASH_API size_t leash_layer_count_params(const leash_model *m, int i);

static inline size_t leash_model_input_size(const leash_model *m)
{
    return (size_t)m->in_h * (size_t)m->in_w * (size_t)m->in_c;
}

/* Number of real (unpadded) parameters. */
LEASH_API size_t leash_model_count_params(const leash_model *m);

/* A zeroed, 64-byte-aligned array of n floats; free with leash_params_free. */
LEASH_API float *leash_params_alloc(size_t n);
LEASH_API void leash_params_free(float *p);

/* How many threads may call the BLAS at once (OpenBLAS's buffer tables, fixed at its
 * build): the most workers a rank can run. */
LEASH_API int leash_blas_max_callers(void);
/* 0 if threads workers are within leash_blas_max_callers(), else LEASH_EINVAL naming
 * leash_config.threads. */
LEASH_API int leash_blas_check_threads(int threads);

/* Weights ~ N(0, 0.01^2) (NORMAL), N(0, 2/fan_in) (HE) or U(+-sqrt(6/(fan_in+fan_out)))
 * (GLOROT); biases zero. Deterministic for a given seed. */
LEASH_API void leash_model_init_params(const leash_model *m, float *params, leash_init init,
                                       uint64_t seed);

/* Per-thread scratch: activations, their gradients, im2col and pooling buffers for
 * batches of up to max_batch samples. */
typedef struct leash_workspace leash_workspace;

LEASH_API int leash_workspace_create(leash_workspace **ws, const leash_model *m, int max_batch);
LEASH_API void leash_workspace_destroy(leash_workspace *ws);
/* Bytes a workspace for max_batch holds (its share of the memory floor). */
LEASH_API size_t leash_workspace_bytes(const leash_model *m, int max_batch);
/* The batch inputs (max_batch * input size floats) and labels the model reads. */
LEASH_API float *leash_workspace_input(leash_workspace *ws);
LEASH_API int *leash_workspace_labels(leash_workspace *ws);

/* Forward pass on the first b samples of the workspace input; adds the summed
 * cross-entropy to *loss_sum and the number of correct argmax predictions to *correct. */
LEASH_API void leash_model_evaluate(const leash_model *m, const float *params, leash_workspace *ws,
                                    int b, double *loss_sum, long *correct);

/* Forward and backward pass: overwrites grads (m->nparams floats) with the gradient of
 * the mean cross-entropy over the b samples and returns that mean loss. */
LEASH_API float leash_model_gradient(const leash_model *m, const float *params, float *grads,
                                     leash_workspace *ws, int b);

#ifdef __cplusplus
}
#endif
#endif
