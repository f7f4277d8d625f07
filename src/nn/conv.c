#include <string.h>

#include <cblas.h>

#include "nn/layers_internal.h"

/* Largest im2col scratch in floats (64 KiB), as a chunk of a few samples needs: then a
 * chunk's patches, OpenBLAS's packed copy of them, the conv outputs and the fused pooling
 * pass over them (model.c runs a conv - relu - pool block chunk by chunk) all stay in L1
 * and L2, for the price of more, smaller sgemm calls (each still over a thousand rows).
 * Against 1 MiB chunks, gradients per second rose 8-10% on the CNN and 22% on LeNet
 * (bench/compute_bound; 4 MiB chunks had been slower still, the pooling pass reading its
 * input back from L3). */
#define COL_BUDGET_FLOATS ((size_t)1 << 14)

static int chunk_samples(int B, int OH, int OW, int C, int K)
{
    size_t per_sample = (size_t)OH * OW * K * K * C;
    size_t n = COL_BUDGET_FLOATS / per_sample;
    if (n < 1) n = 1;
    return n < (size_t)B ? (int)n : B;
}

int leash_conv_chunk_samples(int B, int H, int W, int C, int K)
{
    return chunk_samples(B, H - K + 1, W - K + 1, C, K);
}

size_t leash_conv_col_floats(int B, int H, int W, int C, int K)
{
    int OH = H - K + 1, OW = W - K + 1;
    return (size_t)chunk_samples(B, OH, OW, C, K) * OH * OW * K * K * C;
}

/* Row segments are K*C floats, a handful: a memcpy call per segment costs more than the
 * copy. So the passes below are inlined for a constant segment length, which gcc turns
 * into a few vector moves, for the lengths the built-in models use (K*C of CNN and LeNet
 * on 1- and 3-channel inputs), with a generic loop for any other. */
#define SEGMENT_LENGTHS(X) X(3) X(5) X(9) X(12) X(15) X(30)

/* col[(s*OH + oy)*OW + ox][(ky*K + kx)*C + c] = in[s][oy+ky][ox+kx][c] for nb samples:
 * each patch row is K runs of K*C contiguous floats in the HWC input. */
static inline __attribute__((always_inline)) void
im2col_kc(float *restrict col, const float *restrict in, int nb, int H, int W, int C, int K,
          size_t kc)
{
    int OH = H - K + 1, OW = W - K + 1;
    size_t row = (size_t)W * C;
    for (int s = 0; s < nb; ++s)
        for (int oy = 0; oy < OH; ++oy) {
            const float *src = in + ((size_t)s * H + oy) * row;
            for (int ox = 0; ox < OW; ++ox, src += C)
                for (int ky = 0; ky < K; ++ky, col += kc)
                    for (size_t i = 0; i < kc; ++i) col[i] = src[ky * row + i];
        }
}

/* The adjoints of im2col: add the patch entries back into the input gradient (patches
 * overlap), which they first clear. Two orders, as each suits a layer:
 * - by patch row, the order im2col writes them: K runs of K*C contiguous floats each;
 * - by kernel tap: for one tap, consecutive outputs add into distinct input pixels.
 * With short runs (K*C <= 12: the CNN's 3x3 kernels on 4 channels) each patch row read
 * elements that the row before had just stored at an overlapping offset, the loads
 * waited on those stores, and the rows ran 2.7x slower than the taps; with long runs
 * (LeNet's 5x5 on 6 channels: 30 floats) the rows were 1.4x faster. */
static inline __attribute__((always_inline)) void
col2im_rows_kc(float *restrict din, const float *restrict col, int nb, int H, int W, int C, int K,
               size_t kc)
{
    int OH = H - K + 1, OW = W - K + 1;
    size_t row = (size_t)W * C;
    memset(din, 0, (size_t)nb * H * W * C * sizeof *din);
    for (int s = 0; s < nb; ++s)
        for (int oy = 0; oy < OH; ++oy) {
            float *dst = din + ((size_t)s * H + oy) * row;
            for (int ox = 0; ox < OW; ++ox, dst += C)
                for (int ky = 0; ky < K; ++ky, col += kc)
                    for (size_t i = 0; i < kc; ++i) dst[ky * row + i] += col[i];
        }
}

static inline __attribute__((always_inline)) void
col2im_taps_c(float *restrict din, const float *restrict col, int nb, int H, int W, int C, int K)
{
    int OH = H - K + 1, OW = W - K + 1;
    size_t kkc = (size_t)K * K * C;
    for (int s = 0; s < nb; ++s, din += (size_t)H * W * C, col += (size_t)OH * OW * kkc) {
        memset(din, 0, (size_t)H * W * C * sizeof *din);
        for (int ky = 0; ky < K; ++ky)
            for (int kx = 0; kx < K; ++kx)
                for (int oy = 0; oy < OH; ++oy) {
                    float *dst = din + ((size_t)(oy + ky) * W + kx) * C;
                    const float *src = col + (size_t)oy * OW * kkc + (size_t)(ky * K + kx) * C;
                    for (int ox = 0; ox < OW; ++ox)
                        for (int c = 0; c < C; ++c) dst[(size_t)ox * C + c] += src[ox * kkc + c];
                }
    }
}

#define IM2COL_CASE(n) case n: im2col_kc(col, in, nb, H, W, C, K, n); return;
static void im2col(float *col, const float *in, int nb, int H, int W, int C, int K)
{
    switch (K * C) {
        SEGMENT_LENGTHS(IM2COL_CASE)
    default: im2col_kc(col, in, nb, H, W, C, K, (size_t)K * C);
    }
}

/* Inlined for constant run lengths and channel counts, so the inner loops unroll. */
#define COL2IM_ROWS_CASE(n) case n: col2im_rows_kc(din, col, nb, H, W, C, K, n); return;
#define COL2IM_TAPS_CASE(n) case n: col2im_taps_c(din, col, nb, H, W, n, K); return;
static void col2im(float *din, const float *col, int nb, int H, int W, int C, int K)
{
    if (K * C <= 12) {
        switch (C) {
            COL2IM_TAPS_CASE(1) COL2IM_TAPS_CASE(2) COL2IM_TAPS_CASE(3) COL2IM_TAPS_CASE(4)
        default: col2im_taps_c(din, col, nb, H, W, C, K); return;
        }
    }
    switch (K * C) {
        SEGMENT_LENGTHS(COL2IM_ROWS_CASE)
    default: col2im_rows_kc(din, col, nb, H, W, C, K, (size_t)K * C);
    }
}

/* Bias rows and their gradient over rows x OC outputs, done in blocks of whole rows
 * of about 64 floats so that the inner loops are long enough to vectorize for any OC. */
enum { BIAS_BLOCK = 64 };

static int bias_block(int OC) { return OC < BIAS_BLOCK ? BIAS_BLOCK / OC * OC : OC; }

/* out[r][oc] = bias[oc] */
static void fill_bias(float *restrict out, const float *restrict bias, size_t rows, int OC)
{
    float pattern[BIAS_BLOCK];
    int P = bias_block(OC);
    if (P > BIAS_BLOCK) {
        for (size_t r = 0; r < rows; ++r) memcpy(out + r * OC, bias, (size_t)OC * sizeof *out);
        return;
    }
    for (int i = 0; i < P; ++i) pattern[i] = bias[i % OC];
    size_t n = rows * OC, j = 0;
    for (; j + P <= n; j += P) memcpy(out + j, pattern, (size_t)P * sizeof *out);
    memcpy(out + j, pattern, (n - j) * sizeof *out);
}

/* dbias[oc] += sum_r d[r][oc], summed in P independent lanes first. */
static void sum_bias(float *restrict dbias, const float *restrict d, size_t rows, int OC)
{
    float acc[BIAS_BLOCK] = {0};
    int P = bias_block(OC);
    if (P > BIAS_BLOCK) {
        for (size_t r = 0; r < rows; ++r)
            for (int oc = 0; oc < OC; ++oc) dbias[oc] += d[r * OC + oc];
        return;
    }
    size_t n = rows * OC, j = 0;
    for (; j + P <= n; j += P)
        for (int i = 0; i < P; ++i) acc[i] += d[j + i];
    for (int i = 0; j + i < n; ++i) acc[i] += d[j + i];
    for (int i = 0; i < P; ++i) dbias[i % OC] += acc[i];
}

void leash_conv_forward(float *out, float *col, const float *in, const float *w, const float *bias,
                        int B, int H, int W, int C, int OC, int K)
{
    int OH = H - K + 1, OW = W - K + 1, KKC = K * K * C;
    int chunk = chunk_samples(B, OH, OW, C, K);
    for (int s0 = 0; s0 < B; s0 += chunk) {
        int nb = B - s0 < chunk ? B - s0 : chunk;
        int rows = nb * OH * OW;
        float *o = out + (size_t)s0 * OH * OW * OC;
        im2col(col, in + (size_t)s0 * H * W * C, nb, H, W, C, K);
        if (bias) fill_bias(o, bias, (size_t)rows, OC);
        /* o[rows][OC] (+)= col[rows][KKC] * w[OC][KKC]^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, OC, KKC, 1.0f, col, KKC, w, KKC,
                    bias ? 1.0f : 0.0f, o, OC);
    }
}

void leash_conv_backward(float *din, float *dw, float *dbias, float *col, const float *dout,
                         const float *in, const float *w, int B, int H, int W, int C, int OC, int K)
{
    int OH = H - K + 1, OW = W - K + 1, KKC = K * K * C;
    int chunk = chunk_samples(B, OH, OW, C, K);
    for (int s0 = 0; s0 < B; s0 += chunk) {
        int nb = B - s0 < chunk ? B - s0 : chunk;
        int rows = nb * OH * OW;
        const float *d = dout + (size_t)s0 * OH * OW * OC;
        if (dbias) sum_bias(dbias, d, (size_t)rows, OC);
        /* dw[OC][KKC] += d^T[OC][rows] * col[rows][KKC]. col is recomputed, not kept from
         * the forward pass: keeping it would take B*OH*OW*K*K*C floats per conv layer (21 MB
         * per worker for the CNN at b = 512, 49 MB for LeNet), held in L3 rather than L2,
         * and skipping the recompute outright (an upper bound on the gain) saved only 5%
         * of a CNN step. Memory won. */
        im2col(col, in + (size_t)s0 * H * W * C, nb, H, W, C, K);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, KKC, rows, 1.0f, d, OC, col, KKC,
                    1.0f, dw, KKC);
        if (din) {
            /* dcol[rows][KKC] = d[rows][OC] * w[OC][KKC], reusing the scratch */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, KKC, OC, 1.0f, d, OC, w,
                        KKC, 0.0f, col, KKC);
            col2im(din + (size_t)s0 * H * W * C, col, nb, H, W, C, K);
        }
    }
}

int leash_conv_gemm_shapes(leash_gemm_shape *s, int max, int with_din, int with_bias, int B, int H,
                           int W, int C, int OC, int K)
{
    int OH = H - K + 1, OW = W - K + 1, KKC = K * K * C;
    int chunk = chunk_samples(B, OH, OW, C, K), n = 0;
    for (int s0 = 0; s0 < B; s0 += chunk) {
        int rows = (B - s0 < chunk ? B - s0 : chunk) * OH * OW;
        if (n + 2 + with_din > max) return LEASH_EINVAL;
        float beta = with_bias ? 1.0f : 0.0f;
        s[n++] = (leash_gemm_shape){CblasNoTrans, CblasTrans, rows, OC, KKC, beta};
        s[n++] = (leash_gemm_shape){CblasTrans, CblasNoTrans, OC, KKC, rows, 1.0f};
        if (with_din) s[n++] = (leash_gemm_shape){CblasNoTrans, CblasNoTrans, rows, KKC, OC, 0.0f};
    }
    return n;
}
