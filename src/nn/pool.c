#include <string.h>

#include "nn/layers_internal.h"

/* Four channels at a time in GCC vector types (unaligned, as channel runs start
 * anywhere): gcc does not vectorize the float compare that selects an int32 argmax on
 * its own, and the scalar version spent its time in comiss and cmov. */
typedef float vf4 __attribute__((vector_size(16), aligned(4), may_alias));
typedef int32_t vi4 __attribute__((vector_size(16), aligned(4), may_alias));

/* One output row of OW windows. Each window's maximum is kept in registers and chosen
 * with selects, not branches: the comparisons are data-dependent and would mispredict
 * about half the time. Ties keep the first maximum in scan order. With fuse set, the
 * output is relu(max + bias[c]): a per-channel bias and ReLU are both monotone, so they
 * commute with the maximum and touch only the pooled values. */
static inline __attribute__((always_inline)) void
pool_row(float *restrict out, int32_t *restrict argmax, const float *restrict in,
         const float *restrict bias, size_t first, int OW, int W, int C, int K, int fuse)
{
    const vi4 lane = {0, 1, 2, 3};
    for (int ox = 0; ox < OW; ++ox, out += C, argmax += C) {
        int32_t at0 = (int32_t)(first + (size_t)ox * K * C);
        int c = 0;
        for (; c + 4 <= C; c += 4) {
            vf4 best = *(const vf4 *)(in + at0 + c);
            vi4 arg = lane + (at0 + c);
            for (int ky = 0; ky < K; ++ky)
                for (int kx = ky ? 0 : 1; kx < K; ++kx) {
                    int32_t at = at0 + (ky * W + kx) * C + c;
                    vf4 v = *(const vf4 *)(in + at);
                    vi4 better = v > best;
                    best = (vf4)((better & (vi4)v) | (~better & (vi4)best));
                    arg = (better & (lane + at)) | (~better & arg);
                }
            if (fuse) {
                best += *(const vf4 *)(bias + c);
                best = (vf4)((best > 0.0f) & (vi4)best);
            }
            *(vf4 *)(out + c) = best;
            *(vi4 *)(argmax + c) = arg;
        }
        for (; c < C; ++c) {
            float best = in[at0 + c];
            int32_t arg = at0 + c;
            for (int ky = 0; ky < K; ++ky)
                for (int kx = ky ? 0 : 1; kx < K; ++kx) {
                    int32_t at = at0 + (ky * W + kx) * C + c;
                    float v = in[at];
                    int better = v > best;
                    best = better ? v : best;
                    arg = better ? at : arg;
                }
            if (fuse) {
                best += bias[c];
                best = best > 0.0f ? best : 0.0f;
            }
            out[c] = best;
            argmax[c] = arg;
        }
    }
}

static inline __attribute__((always_inline)) void
pool_c(float *restrict out, int32_t *restrict argmax, const float *restrict in,
       const float *restrict bias, int B, int H, int W, int C, int K, int fuse)
{
    int OH = H / K, OW = W / K;
    for (int s = 0; s < B; ++s)
        for (int oy = 0; oy < OH; ++oy) {
            size_t first = ((size_t)s * H + (size_t)oy * K) * W * C;
            pool_row(out, argmax, in, bias, first, OW, W, C, K, fuse);
            out += (size_t)OW * C;
            argmax += (size_t)OW * C;
        }
}

/* Inlined for a constant channel count where the built-in models pool (CNN: 4, 8;
 * LeNet: 6, 16) and their window (2), so the loops unroll and vectorize. */
#define POOL_CASE(n, f)                                                                            \
    case n:                                                                                        \
        if (K == 2) pool_c(out, argmax, in, bias, B, H, W, n, 2, f);                              \
        else pool_c(out, argmax, in, bias, B, H, W, n, K, f);                                     \
        return;
#define POOL_CASES(f) POOL_CASE(4, f) POOL_CASE(6, f) POOL_CASE(8, f) POOL_CASE(16, f)

void leash_maxpool_forward(float *out, int32_t *argmax, const float *in, int B, int H, int W, int C,
                           int K)
{
    const float *bias = NULL;
    switch (C) {
        POOL_CASES(0)
    default: pool_c(out, argmax, in, bias, B, H, W, C, K, 0);
    }
}

void leash_relu_maxpool_forward(float *out, int32_t *argmax, const float *in, const float *bias,
                                int B, int H, int W, int C, int K)
{
    switch (C) {
        POOL_CASES(1)
    default: pool_c(out, argmax, in, bias, B, H, W, C, K, 1);
    }
}

/* Writes every input gradient: zero the whole of din (one memset, which streams at
 * full width; the caller works in chunks that stay in cache), then store each output's
 * gradient g at its argmax. With fuse set, g is dout where the pooled output is positive
 * (ReLU's mask) and 0 elsewhere, and dbias[c] collects g. */
static inline __attribute__((always_inline)) void
unpool_c(float *restrict din, float *restrict dbias, const float *restrict dout,
         const float *restrict out, const int32_t *restrict argmax, int B, int H, int W, int C,
         int K, int fuse)
{
    size_t nout = (size_t)B * (H / K) * (W / K) * C;
    memset(din, 0, (size_t)B * H * W * C * sizeof *din);
    for (size_t o = 0; o < nout; o += (size_t)C)
        for (int c = 0; c < C; ++c) {
            float g = dout[o + c];
            if (fuse) {
                g = out[o + c] > 0.0f ? g : 0.0f;
                dbias[c] += g;
            }
            din[argmax[o + c]] = g;
        }
}

/* Inlined for the channel counts of the built-in models, so that the bias gradient
 * stays in registers. */
#define UNPOOL_CASE(n, f) case n: unpool_c(din, dbias, dout, out, argmax, B, H, W, n, K, f); return;
#define UNPOOL_CASES(f) UNPOOL_CASE(4, f) UNPOOL_CASE(6, f) UNPOOL_CASE(8, f) UNPOOL_CASE(16, f)

void leash_maxpool_backward(float *din, const float *dout, const int32_t *argmax, int B, int H,
                            int W, int C, int K)
{
    float *dbias = NULL;
    const float *out = NULL;
    switch (C) {
        UNPOOL_CASES(0)
    default: unpool_c(din, dbias, dout, out, argmax, B, H, W, C, K, 0);
    }
}

void leash_relu_maxpool_backward(float *din, float *dbias, const float *dout, const float *out,
                                 const int32_t *argmax, int B, int H, int W, int C, int K)
{
    switch (C) {
        UNPOOL_CASES(1)
    default: unpool_c(din, dbias, dout, out, argmax, B, H, W, C, K, 1);
    }
}

/* Average pooling. The mean is the window's sum times 1/K^2, and the backward pass
 * spreads dout times the same factor, so the two passes are exact transposes of one
 * linear map up to the rounding of the sums. Sums run a whole output row at a time,
 * window column by column, so the inner loop runs over channels and vectorizes. */
void leash_avgpool_forward(float *restrict out, const float *restrict in, int B, int H, int W, int C,
                           int K)
{
    int OH = H / K, OW = W / K;
    size_t row = (size_t)W * C, orow = (size_t)OW * C;
    float scale = 1.0f / (float)(K * K);
    for (int s = 0; s < B; ++s)
        for (int oy = 0; oy < OH; ++oy, out += orow) {
            const float *top = in + ((size_t)s * H + (size_t)oy * K) * row;
            for (size_t i = 0; i < orow; ++i) out[i] = 0.0f;
            for (int ky = 0; ky < K; ++ky)
                for (int ox = 0; ox < OW; ++ox)
                    for (int kx = 0; kx < K; ++kx) {
                        const float *src = top + ky * row + (size_t)(ox * K + kx) * C;
                        float *dst = out + (size_t)ox * C;
                        for (int c = 0; c < C; ++c) dst[c] += src[c];
                    }
            for (size_t i = 0; i < orow; ++i) out[i] *= scale;
        }
}

/* Writes every input gradient, row by row: the pooled rows take dout / K^2 in their
 * windows and 0 in the dropped columns; the dropped rows take 0. */
void leash_avgpool_backward(float *restrict din, const float *restrict dout, int B, int H, int W,
                            int C, int K)
{
    int OH = H / K, OW = W / K;
    size_t row = (size_t)W * C, used = (size_t)OW * K * C;
    float scale = 1.0f / (float)(K * K);
    for (int s = 0; s < B; ++s)
        for (int y = 0; y < H; ++y, din += row) {
            if (y >= OH * K) {
                memset(din, 0, row * sizeof *din);
                continue;
            }
            const float *g = dout + ((size_t)s * OH + y / K) * OW * C;
            for (int ox = 0; ox < OW; ++ox)
                for (int kx = 0; kx < K; ++kx) {
                    float *dst = din + (size_t)(ox * K + kx) * C;
                    for (int c = 0; c < C; ++c) dst[c] = g[(size_t)ox * C + c] * scale;
                }
            memset(din + used, 0, (row - used) * sizeof *din);
        }
}
