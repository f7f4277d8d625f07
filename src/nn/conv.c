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

/* The chunk is sized by the output, OH x OW patches of K*K*C floats per sample. */
static int chunk_samples(int B, const leash_conv_geom *g)
{
    size_t per_sample = (size_t)leash_conv_out_h(g) * leash_conv_out_w(g) * g->K * g->K * g->C;
    size_t n = COL_BUDGET_FLOATS / per_sample;
    if (n < 1) n = 1;
    return n < (size_t)B ? (int)n : B;
}

int leash_conv_chunk_samples(int B, const leash_conv_geom *g) { return chunk_samples(B, g); }

size_t leash_conv_col_floats(int B, const leash_conv_geom *g)
{
    return (size_t)chunk_samples(B, g) * leash_conv_out_h(g) * leash_conv_out_w(g) * g->K * g->K *
           g->C;
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
static void im2col_valid(float *col, const float *in, int nb, int H, int W, int C, int K)
{
    switch (K * C) {
        SEGMENT_LENGTHS(IM2COL_CASE)
    default: im2col_kc(col, in, nb, H, W, C, K, (size_t)K * C);
    }
}

/* Inlined for constant run lengths and channel counts, so the inner loops unroll. */
#define COL2IM_ROWS_CASE(n) case n: col2im_rows_kc(din, col, nb, H, W, C, K, n); return;
#define COL2IM_TAPS_CASE(n) case n: col2im_taps_c(din, col, nb, H, W, n, K); return;
static void col2im_valid(float *din, const float *col, int nb, int H, int W, int C, int K)
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

/* The general path, for stride > 1 or padding. Patch (oy, ox) has its top left at input
 * (y0, x0) = (oy S - P, ox S - P): its rows outside the input are zeros, the others zeros
 * left of column 0, the run of the input row, zeros right of column W. Whole rows of
 * zeros go first and last, and patches inside the input from left to right (most of
 * them) copy their rows with the constant-length loop of the valid path; no bounds are
 * checked per float. Offsets into the input are signed, as a patch may start before it;
 * only entries inside it are read. */

/* The entries [*lo, *hi) of K starting at x0 lie in [0, n); none where pad >= K puts a
 * whole patch in the padding. */
static inline void span(int x0, int n, int K, int *lo, int *hi)
{
    int a = x0 < 0 ? -x0 : 0, b = n - x0 < K ? n - x0 : K;
    a = a < K ? a : K;
    *lo = a, *hi = b > a ? b : a;
}

/* One patch: rows [ky0, ky1) inside the input, floats [lo, hi) of each inside its row;
 * at is the (signed) input offset of the patch's top left. */
static inline __attribute__((always_inline)) void
patch_kc(float *restrict col, const float *restrict in, ptrdiff_t at, size_t row, int K, int ky0,
         int ky1, size_t lo, size_t hi, size_t kc)
{
    if (ky0 > 0) memset(col, 0, (size_t)ky0 * kc * sizeof *col);
    col += (size_t)ky0 * kc;
    at += (ptrdiff_t)(ky0 * row);
    if (lo == 0 && hi == kc) {
        for (int ky = ky0; ky < ky1; ++ky, col += kc, at += (ptrdiff_t)row)
            for (size_t i = 0; i < kc; ++i) col[i] = in[at + (ptrdiff_t)i];
    } else {
        for (int ky = ky0; ky < ky1; ++ky, col += kc, at += (ptrdiff_t)row) {
            for (size_t i = 0; i < kc; ++i) col[i] = 0.0f;
            if (kc <= 16) /* short rows: unrolled, no call to memmove */
                for (size_t i = 0; i < kc; ++i) {
                    if (i >= lo && i < hi) col[i] = in[at + (ptrdiff_t)i];
                }
            else
                for (size_t i = lo; i < hi; ++i) col[i] = in[at + (ptrdiff_t)i];
        }
    }
    if (ky1 < K) memset(col, 0, (size_t)(K - ky1) * kc * sizeof *col);
}

/* Patch (oy, ox) of a row of patches whose rows [ky0, ky1) lie inside the input. */
static inline __attribute__((always_inline)) void
edge_patch_kc(float *restrict col, const float *restrict in, const leash_conv_geom *g, int y0,
              int ky0, int ky1, int ox, size_t kc)
{
    int x0 = ox * g->stride - g->pad, kx0, kx1;
    span(x0, g->W, g->K, &kx0, &kx1);
    ptrdiff_t at = ((ptrdiff_t)y0 * g->W + x0) * g->C;
    patch_kc(col, in, at, (size_t)g->W * g->C, g->K, ky0, ky1, (size_t)kx0 * g->C,
             (size_t)kx1 * g->C, kc);
}

/* The outputs [*ox0, *ox1) whose patches lie inside the input's columns. */
static void inner_columns(const leash_conv_geom *g, int *ox0, int *ox1)
{
    int S = g->stride, P = g->pad, OW = leash_conv_out_w(g);
    int a = (P + S - 1) / S, b = g->W - g->K + P >= 0 ? (g->W - g->K + P) / S + 1 : 0;
    a = a < OW ? a : OW;
    *ox0 = a, *ox1 = b < OW ? (b > a ? b : a) : OW;
}

/* Per row of patches: the left edge, the patches inside the input's columns [ox0, ox1),
 * then the right edge. Inside the input altogether (no rows in the padding either), a
 * patch is the valid path's K runs of kc floats, read a stride further on each time. */
static inline __attribute__((always_inline)) void
im2col_general_kc(float *restrict col, const float *restrict in, int nb, const leash_conv_geom *g,
                  size_t kc)
{
    int H = g->H, W = g->W, C = g->C, K = g->K, S = g->stride, P = g->pad, ky0, ky1, ox0, ox1;
    int OH = leash_conv_out_h(g), OW = leash_conv_out_w(g);
    inner_columns(g, &ox0, &ox1);
    size_t row = (size_t)W * C, kkc = (size_t)K * kc, step = (size_t)S * C;
    for (int s = 0; s < nb; ++s, in += (size_t)H * row)
        for (int oy = 0; oy < OH; ++oy) {
            int y0 = oy * S - P, ox = 0;
            span(y0, H, K, &ky0, &ky1);
            for (; ox < ox0; ++ox, col += kkc) edge_patch_kc(col, in, g, y0, ky0, ky1, ox, kc);
            if (ky0 == 0 && ky1 == K && ox0 < ox1) {
                const float *src = in + (size_t)y0 * row + (size_t)(ox0 * S - P) * C;
                for (; ox < ox1; ++ox, src += step)
                    for (int ky = 0; ky < K; ++ky, col += kc)
                        for (size_t i = 0; i < kc; ++i) col[i] = src[ky * row + i];
            }
            for (; ox < OW; ++ox, col += kkc) edge_patch_kc(col, in, g, y0, ky0, ky1, ox, kc);
        }
}

/* The adjoint of edge_patch_kc: entries in the padding are dropped. */
static inline __attribute__((always_inline)) void
edge_unpatch_kc(float *restrict din, const float *restrict col, const leash_conv_geom *g, int y0,
                int ky0, int ky1, int ox, size_t kc)
{
    int x0 = ox * g->stride - g->pad, kx0, kx1;
    span(x0, g->W, g->K, &kx0, &kx1);
    size_t row = (size_t)g->W * g->C, lo = (size_t)kx0 * g->C, hi = (size_t)kx1 * g->C;
    ptrdiff_t at = ((ptrdiff_t)(y0 + ky0) * g->W + x0) * g->C;
    col += (size_t)ky0 * kc;
    for (int ky = ky0; ky < ky1; ++ky, col += kc, at += (ptrdiff_t)row)
        for (size_t i = lo; i < hi; ++i) din[at + (ptrdiff_t)i] += col[i];
}

/* The adjoint of im2col_general_kc by patch row, in the same order of patches. */
static inline __attribute__((always_inline)) void
col2im_rows_general_kc(float *restrict din, const float *restrict col, int nb,
                       const leash_conv_geom *g, size_t kc)
{
    int H = g->H, W = g->W, C = g->C, K = g->K, S = g->stride, P = g->pad, ky0, ky1, ox0, ox1;
    int OH = leash_conv_out_h(g), OW = leash_conv_out_w(g);
    inner_columns(g, &ox0, &ox1);
    size_t row = (size_t)W * C, kkc = (size_t)K * kc, step = (size_t)S * C;
    memset(din, 0, (size_t)nb * H * row * sizeof *din);
    for (int s = 0; s < nb; ++s, din += (size_t)H * row)
        for (int oy = 0; oy < OH; ++oy) {
            int y0 = oy * S - P, ox = 0;
            span(y0, H, K, &ky0, &ky1);
            for (; ox < ox0; ++ox, col += kkc) edge_unpatch_kc(din, col, g, y0, ky0, ky1, ox, kc);
            if (ky0 == 0 && ky1 == K && ox0 < ox1) {
                float *dst = din + (size_t)y0 * row + (size_t)(ox0 * S - P) * C;
                for (; ox < ox1; ++ox, dst += step)
                    for (int ky = 0; ky < K; ++ky, col += kc)
                        for (size_t i = 0; i < kc; ++i) dst[ky * row + i] += col[i];
            }
            for (; ox < OW; ++ox, col += kkc) edge_unpatch_kc(din, col, g, y0, ky0, ky1, ox, kc);
        }
}

/* The outputs o in [*lo, *hi) of n_out whose tap at input o S + off lies in [0, n). */
static inline void tap_range(int n_out, int S, int off, int n, int *lo, int *hi)
{
    int a = off < 0 ? (-off + S - 1) / S : 0, b = off < n ? (n - 1 - off) / S + 1 : 0;
    b = b < n_out ? b : n_out;
    *lo = a, *hi = b > a ? b : a;
}

/* The adjoint by kernel tap (see col2im_taps_c), each tap over the outputs that read an
 * input pixel, so no bounds checks run per element. S is the stride, passed as a
 * constant 1 where it is, so that the input gradient runs are contiguous as in the
 * valid path. */
static inline __attribute__((always_inline)) void
col2im_taps_general_c(float *restrict din, const float *restrict col, int nb,
                      const leash_conv_geom *g, int C, int S)
{
    int H = g->H, W = g->W, K = g->K, P = g->pad;
    int OH = leash_conv_out_h(g), OW = leash_conv_out_w(g), oy0, oy1, ox0, ox1;
    size_t kkc = (size_t)K * K * C;
    for (int s = 0; s < nb; ++s, din += (size_t)H * W * C, col += (size_t)OH * OW * kkc) {
        memset(din, 0, (size_t)H * W * C * sizeof *din);
        for (int ky = 0; ky < K; ++ky) {
            tap_range(OH, S, ky - P, H, &oy0, &oy1);
            for (int kx = 0; kx < K; ++kx) {
                tap_range(OW, S, kx - P, W, &ox0, &ox1);
                if (ox0 == ox1) continue;
                size_t step = (size_t)S * C, tap = (size_t)(ky * K + kx) * C;
                for (int oy = oy0; oy < oy1; ++oy) {
                    float *dst = din + ((size_t)(oy * S + ky - P) * W + (ox0 * S + kx - P)) * C;
                    const float *src = col + ((size_t)oy * OW + ox0) * kkc + tap;
                    for (int ox = 0; ox < ox1 - ox0; ++ox)
                        for (int c = 0; c < C; ++c) dst[ox * step + c] += src[ox * kkc + c];
                }
            }
        }
    }
}

/* The general path's dispatch is kept out of line: inlined beside the valid path, it
 * made gcc spill the valid loops' registers, and the CNN's first layer (28x28x1, K = 3)
 * ran 8-11% slower. */
#define IM2COL_GENERAL_CASE(n) case n: im2col_general_kc(col, in, nb, g, n); return;
static __attribute__((noinline)) void im2col_general(float *col, const float *in, int nb,
                                                     const leash_conv_geom *g)
{
    switch (g->K * g->C) {
        SEGMENT_LENGTHS(IM2COL_GENERAL_CASE)
    default: im2col_general_kc(col, in, nb, g, (size_t)g->K * g->C);
    }
}

/* The same choice of order as col2im_valid. */
#define COL2IM_ROWS_GENERAL_CASE(n) case n: col2im_rows_general_kc(din, col, nb, g, n); return;
#define COL2IM_TAPS_GENERAL_CASE(n)                                                                \
    case n:                                                                                        \
        if (g->stride == 1) col2im_taps_general_c(din, col, nb, g, n, 1);                          \
        else col2im_taps_general_c(din, col, nb, g, n, g->stride);                                 \
        return;
static __attribute__((noinline)) void col2im_general(float *din, const float *col, int nb,
                                                     const leash_conv_geom *g)
{
    if (g->K * g->C <= 12) {
        switch (g->C) {
            COL2IM_TAPS_GENERAL_CASE(1) COL2IM_TAPS_GENERAL_CASE(2) COL2IM_TAPS_GENERAL_CASE(3)
            COL2IM_TAPS_GENERAL_CASE(4)
        default: col2im_taps_general_c(din, col, nb, g, g->C, g->stride); return;
        }
    }
    switch (g->K * g->C) {
        SEGMENT_LENGTHS(COL2IM_ROWS_GENERAL_CASE)
    default: col2im_rows_general_kc(din, col, nb, g, (size_t)g->K * g->C);
    }
}

/* Stride 1 without padding keeps the valid path, bit for bit and at its speed. */
static void im2col(float *col, const float *in, int nb, const leash_conv_geom *g)
{
    if (g->stride == 1 && g->pad == 0) im2col_valid(col, in, nb, g->H, g->W, g->C, g->K);
    else im2col_general(col, in, nb, g);
}

static void col2im(float *din, const float *col, int nb, const leash_conv_geom *g)
{
    if (g->stride == 1 && g->pad == 0) col2im_valid(din, col, nb, g->H, g->W, g->C, g->K);
    else col2im_general(din, col, nb, g);
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
    /* Lane i holds channel i % OC (P is a multiple of OC): the same additions in the same
     * order as a loop over i, without an integer division per lane, which had cost a few
     * percent of a backward pass without din on layers of one sample per chunk. */
    for (int i = 0; i < P; i += OC)
        for (int oc = 0; oc < OC; ++oc) dbias[oc] += acc[i + oc];
}

void leash_conv_forward(float *out, float *col, const float *in, const float *w, const float *bias,
                        int B, const leash_conv_geom *g)
{
    int OC = g->OC, KKC = g->K * g->K * g->C, OHW = leash_conv_out_h(g) * leash_conv_out_w(g);
    size_t isz = (size_t)g->H * g->W * g->C;
    int chunk = chunk_samples(B, g);
    for (int s0 = 0; s0 < B; s0 += chunk) {
        int nb = B - s0 < chunk ? B - s0 : chunk;
        int rows = nb * OHW;
        float *o = out + (size_t)s0 * OHW * OC;
        im2col(col, in + (size_t)s0 * isz, nb, g);
        if (bias) fill_bias(o, bias, (size_t)rows, OC);
        /* o[rows][OC] (+)= col[rows][KKC] * w[OC][KKC]^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, OC, KKC, 1.0f, col, KKC, w, KKC,
                    bias ? 1.0f : 0.0f, o, OC);
    }
}

void leash_conv_backward(float *din, float *dw, float *dbias, float *col, const float *dout,
                         const float *in, const float *w, int B, const leash_conv_geom *g)
{
    int OC = g->OC, KKC = g->K * g->K * g->C, OHW = leash_conv_out_h(g) * leash_conv_out_w(g);
    size_t isz = (size_t)g->H * g->W * g->C;
    int chunk = chunk_samples(B, g);
    for (int s0 = 0; s0 < B; s0 += chunk) {
        int nb = B - s0 < chunk ? B - s0 : chunk;
        int rows = nb * OHW;
        const float *d = dout + (size_t)s0 * OHW * OC;
        if (dbias) sum_bias(dbias, d, (size_t)rows, OC);
        /* dw[OC][KKC] += d^T[OC][rows] * col[rows][KKC]. col is recomputed, not kept from
         * the forward pass: keeping it would take B*OH*OW*K*K*C floats per conv layer (21 MB
         * per worker for the CNN at b = 512, 49 MB for LeNet), held in L3 rather than L2,
         * and skipping the recompute outright (an upper bound on the gain) saved only 5%
         * of a CNN step. Memory won. */
        im2col(col, in + (size_t)s0 * isz, nb, g);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, KKC, rows, 1.0f, d, OC, col, KKC,
                    1.0f, dw, KKC);
        if (din) {
            /* dcol[rows][KKC] = d[rows][OC] * w[OC][KKC], reusing the scratch */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, KKC, OC, 1.0f, d, OC, w,
                        KKC, 0.0f, col, KKC);
            col2im(din + (size_t)s0 * isz, col, nb, g);
        }
    }
}

int leash_conv_gemm_shapes(leash_gemm_shape *s, int max, int with_din, int with_bias, int B,
                           const leash_conv_geom *g)
{
    int OC = g->OC, KKC = g->K * g->K * g->C, OHW = leash_conv_out_h(g) * leash_conv_out_w(g);
    int chunk = chunk_samples(B, g), n = 0;
    for (int s0 = 0; s0 < B; s0 += chunk) {
        int rows = (B - s0 < chunk ? B - s0 : chunk) * OHW;
        if (n + 2 + with_din > max) return LEASH_EINVAL;
        float beta = with_bias ? 1.0f : 0.0f;
        s[n++] = (leash_gemm_shape){CblasNoTrans, CblasTrans, rows, OC, KKC, beta};
        s[n++] = (leash_gemm_shape){CblasTrans, CblasNoTrans, OC, KKC, rows, 1.0f};
        if (with_din) s[n++] = (leash_gemm_shape){CblasNoTrans, CblasNoTrans, rows, KKC, OC, 0.0f};
    }
    return n;
}
