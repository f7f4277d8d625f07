/* Models: a layer list plus one sizes/offsets table for all parameters.
 *
 * All parameters of a model live in one 64-byte-aligned float array (a "version");
 * gradients, momentum and every other per-parameter buffer mirror it 1:1, so one
 * vector operation covers a whole model. Each tensor starts on a 64-byte boundary. */
#ifndef LEASH_NN_H
#define LEASH_NN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LEASH_MAX_LAYERS 16
#define LEASH_MAX_TENSORS 16

typedef enum leash_arch { LEASH_ARCH_MLP, LEASH_ARCH_CNN, LEASH_ARCH_LENET } leash_arch;
typedef enum leash_init { LEASH_INIT_NORMAL, LEASH_INIT_HE, LEASH_INIT_GLOROT } leash_init;
typedef enum leash_activation { LEASH_ACT_RELU, LEASH_ACT_SIGMOID } leash_activation;

typedef enum leash_layer_kind {
    LEASH_LAYER_FC,      /* out = in * W^T + b, W is [out_c][in features] */
    LEASH_LAYER_CONV,    /* valid k x k convolution, stride 1, W is [out_c][k][k][in_c] */
    LEASH_LAYER_MAXPOOL, /* k x k windows, stride k, trailing rows/columns dropped */
    LEASH_LAYER_RELU,
    LEASH_LAYER_SIGMOID
} leash_layer_kind;

typedef struct leash_layer {
    leash_layer_kind kind;
    int in_h, in_w, in_c;    /* per-sample input shape, HWC (fully connected: 1 x 1 x features) */
    int out_h, out_w, out_c; /* per-sample output shape */
    int k;                   /* kernel or pooling window side */
    int weight, bias;        /* tensor indices in the model's table, -1 if none */
} leash_layer;

typedef struct leash_model {
    int nlayers;
    leash_layer layers[LEASH_MAX_LAYERS];
    int ntensors;
    size_t tensor_size[LEASH_MAX_TENSORS];   /* floats in each tensor */
    size_t tensor_offset[LEASH_MAX_TENSORS]; /* floats from the start of the array */
    size_t nparams;                          /* floats in the whole array, padding included */
    int in_h, in_w, in_c;
    int nclasses;
} leash_model;

/* L hidden fully connected layers of U units with the given activation, then a
 * fully connected layer to nclasses logits (softmax is part of the loss). */
int leash_model_mlp(leash_model *m, int in_h, int in_w, int in_c, int nclasses, int hidden_layers,
                    int units, leash_activation act);
/* conv 3x3x4 - relu - maxpool 2 - conv 3x3x8 - relu - maxpool 2 - fc 128 - relu - fc nclasses */
int leash_model_cnn(leash_model *m, int in_h, int in_w, int in_c, int nclasses);
/* conv 5x5x6 - relu - maxpool 2 - conv 5x5x16 - relu - maxpool 2 - fc 120 - relu - fc nclasses */
int leash_model_lenet(leash_model *m, int in_h, int in_w, int in_c, int nclasses);

/* The model of architecture arch for inputs in_h x in_w x in_c (hidden_layers, units and
 * act apply to the MLP only). */
int leash_model_build(leash_model *m, leash_arch arch, int in_h, int in_w, int in_c,
                      int nclasses, int hidden_layers, int units, leash_activation act);

static inline size_t leash_model_input_size(const leash_model *m)
{
    return (size_t)m->in_h * (size_t)m->in_w * (size_t)m->in_c;
}

/* Number of real (unpadded) parameters. */
size_t leash_model_count_params(const leash_model *m);

/* A zeroed, 64-byte-aligned array of n floats; free with leash_params_free. */
float *leash_params_alloc(size_t n);
void leash_params_free(float *p);

/* How many threads may call the BLAS at once (OpenBLAS's buffer tables, fixed at its
 * build): the most workers a rank can run. */
int leash_blas_max_callers(void);
/* 0 if threads workers are within leash_blas_max_callers(), else LEASH_EINVAL naming -n. */
int leash_blas_check_threads(int threads);

/* Weights ~ N(0, 0.01^2) (NORMAL), N(0, 2/fan_in) (HE) or U(+-sqrt(6/(fan_in+fan_out)))
 * (GLOROT); biases zero. Deterministic for a given seed. */
void leash_model_init_params(const leash_model *m, float *params, leash_init init, uint64_t seed);

/* Per-thread scratch: activations, their gradients, im2col and pooling buffers for
 * batches of up to max_batch samples. */
typedef struct leash_workspace leash_workspace;

int leash_workspace_create(leash_workspace **ws, const leash_model *m, int max_batch);
void leash_workspace_destroy(leash_workspace *ws);
/* Bytes a workspace for max_batch holds (its share of the memory floor). */
size_t leash_workspace_bytes(const leash_model *m, int max_batch);
/* The batch inputs (max_batch * input size floats) and labels the model reads. */
float *leash_workspace_input(leash_workspace *ws);
int *leash_workspace_labels(leash_workspace *ws);

/* Forward pass on the first b samples of the workspace input; adds the summed
 * cross-entropy to *loss_sum and the number of correct argmax predictions to *correct. */
void leash_model_evaluate(const leash_model *m, const float *params, leash_workspace *ws, int b,
                          double *loss_sum, long *correct);

/* Forward and backward pass: overwrites grads (m->nparams floats) with the gradient of
 * the mean cross-entropy over the b samples and returns that mean loss. */
float leash_model_gradient(const leash_model *m, const float *params, float *grads,
                           leash_workspace *ws, int b);

#ifdef __cplusplus
}
#endif
#endif
