/* Layer kernels: x_forward / x_backward pairs, outputs first, dimensions last.
 *
 * Activations are batch-major with each sample in HWC order. Forward passes overwrite
 * their outputs. Backward passes OVERWRITE the input gradient din and ACCUMULATE (+=)
 * into the parameter gradients dw and dbias:
 * - din: in these sequential models each activation gradient has exactly one writer,
 *   the layer above, so writing it saves zeroing every activation gradient each step
 *   (a memset as costly as a layer pass on the CNN).
 * - dw, dbias: a conv layer adds one partial sum per im2col chunk, and the fused passes
 *   below add a bias gradient for the layer beneath them, so these buffers really are
 *   shared between calls; the caller zeroes them once per step.
 * A NULL din skips the input gradient (the first layer never needs it). */
#ifndef LEASH_LAYERS_INTERNAL_H
#define LEASH_LAYERS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <cblas.h>

#include "leash/error.h"
#include "leash/nn.h"

/* One cblas_sgemm call (row-major, alpha = 1) as a layer issues it. The benchmarks
 * time these shapes alone to get the rate a training step would reach if it did nothing
 * but its GEMMs; each layer lists its calls next to the code that makes them. */
typedef struct leash_gemm_shape {
    CBLAS_TRANSPOSE ta, tb;
    int m, n, k;
    float beta;
} leash_gemm_shape;

/* The calls of one forward + backward pass of m on a batch of B, in order, into s
 * (room for max); returns how many, or LEASH_EINVAL if max is too small. */
int leash_model_gemm_shapes(const leash_model *m, int B, leash_gemm_shape *s, int max);
int leash_fc_gemm_shapes(leash_gemm_shape *s, int max, int with_din, int with_bias, int B, int C,
                         int OC);

/* out[B][OC] = in[B][C] * w[OC][C]^T + bias[OC]. A NULL bias leaves it out (for a fused
 * pass above that adds it); a NULL dbias in the backward pass skips its gradient. */
void leash_fc_forward(float *out, const float *in, const float *w, const float *bias, int B, int C,
                      int OC);
void leash_fc_backward(float *din, float *dw, float *dbias, const float *dout, const float *in,
                       const float *w, int B, int C, int OC);

/* A convolution's geometry: input H x W x C, OC output channels, K x K kernel, stride
 * `stride`, `pad` zeros on each side; output OH x OW with OH = (H + 2 pad - K) / stride + 1.
 * The callers keep stride >= 1, pad >= 0 and K <= H + 2 pad, W + 2 pad. */
typedef struct leash_conv_geom {
    int H, W, C, OC, K, stride, pad;
} leash_conv_geom;

static inline int leash_conv_out_h(const leash_conv_geom *g)
{
    return (g->H + 2 * g->pad - g->K) / g->stride + 1;
}

static inline int leash_conv_out_w(const leash_conv_geom *g)
{
    return (g->W + 2 * g->pad - g->K) / g->stride + 1;
}

/* K x K convolution: in[B][H][W][C] -> out[B][OH][OW][OC] with w[OC][K][K][C], output
 * (oy, ox) over the window whose top left is input (oy stride - pad, ox stride - pad);
 * window entries outside the input read as 0 (and take no gradient). col is scratch of
 * leash_conv_col_floats(...) floats: the batch goes through im2col in chunks so the
 * scratch stays small for any batch size. bias and dbias may be NULL as for fc. */
size_t leash_conv_col_floats(int B, const leash_conv_geom *g);
/* Samples per im2col chunk: a caller that runs the layer chunk by chunk (with B at most
 * this) issues the same sgemm calls as one call on the whole batch. */
int leash_conv_chunk_samples(int B, const leash_conv_geom *g);
void leash_conv_forward(float *out, float *col, const float *in, const float *w, const float *bias,
                        int B, const leash_conv_geom *g);
void leash_conv_backward(float *din, float *dw, float *dbias, float *col, const float *dout,
                         const float *in, const float *w, int B, const leash_conv_geom *g);
int leash_conv_gemm_shapes(leash_gemm_shape *s, int max, int with_din, int with_bias, int B,
                           const leash_conv_geom *g);

/* K x K max pooling, stride K: in[B][H][W][C] -> out[B][H/K][W/K][C]; argmax records
 * the flat input index of each output's maximum for the backward pass, which writes
 * all of din: the gradient at each argmax, 0 elsewhere and in dropped rows/columns. */
void leash_maxpool_forward(float *out, int32_t *argmax, const float *in, int B, int H, int W, int C,
                           int K);
void leash_maxpool_backward(float *din, const float *dout, const int32_t *argmax, int B, int H,
                            int W, int C, int K);

/* K x K average pooling, stride K: in[B][H][W][C] -> out[B][H/K][W/K][C], each output the
 * mean of its window. The backward pass writes all of din: dout / K^2 over each window, 0
 * in the dropped rows/columns. */
void leash_avgpool_forward(float *out, const float *in, int B, int H, int W, int C, int K);
void leash_avgpool_backward(float *din, const float *dout, int B, int H, int W, int C, int K);

/* bias (per channel) + ReLU + max pooling in one pass over in, the output of a conv layer
 * run without its bias: out = max(0, bias[c] + max over the window). The ReLU's own
 * activations are never stored. The backward pass writes din as maxpool does, with ReLU's
 * mask (out > 0) applied, and adds the conv layer's bias gradient into dbias[C]. */
void leash_relu_maxpool_forward(float *out, int32_t *argmax, const float *in, const float *bias,
                                int B, int H, int W, int C, int K);
void leash_relu_maxpool_backward(float *din, float *dbias, const float *dout, const float *out,
                                 const int32_t *argmax, int B, int H, int W, int C, int K);

/* Elementwise; the arrays must not overlap. Some are built as target clones, whose
 * symbols GCC exports whatever -fvisibility says: hidden here by name. */
#pragma GCC visibility push(hidden)
void leash_relu_forward(float *restrict out, const float *restrict in, size_t n);
void leash_relu_backward(float *restrict din, const float *restrict dout, const float *restrict out,
                         size_t n);
void leash_sigmoid_forward(float *restrict out, const float *restrict in, size_t n);
void leash_sigmoid_backward(float *restrict din, const float *restrict dout,
                            const float *restrict out, size_t n);
void leash_tanh_forward(float *restrict out, const float *restrict in, size_t n);
/* din = dout * (1 - out^2), from the forward pass's output as for sigmoid. */
void leash_tanh_backward(float *restrict din, const float *restrict dout, const float *restrict out,
                         size_t n);
/* out[B][C] = relu(in + bias[C]) after an fc layer run without its bias; the backward
 * pass writes din = dout where out > 0 (else 0) and adds din's column sums into dbias.
 * Both may run in place (out == in, din == dout): the model does, so that the block
 * keeps one activation buffer and one gradient buffer in cache instead of two each. */
void leash_bias_relu_forward(float *out, const float *in, const float *restrict bias, int B,
                             int C);
void leash_relu_bias_backward(float *din, float *restrict dbias, const float *dout,
                              const float *restrict out, int B, int C);
#pragma GCC visibility pop

/* Softmax over K logits per sample with cross-entropy against labels y: writes the
 * probabilities, returns the SUM of the B per-sample losses (computed in double). */
double leash_softmax_xent_forward(float *probs, const float *logits, const int *y, int B, int K);
/* Gradient of the MEAN loss over the batch with respect to the logits. */
void leash_softmax_xent_backward(float *dlogits, const float *probs, const int *y, int B, int K);

#endif
