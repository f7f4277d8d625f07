#include <string.h>

#include <cblas.h>

#include "nn/layers_internal.h"

/* Largest im2col scratch in floats (4 MiB): big enough that each sgemm has thousands of
 * rows, small enough to stay in L2/L3 with the layer's output. */
#define COL_BUDGET_FLOATS ((size_t)1 << 20)

static int chunk_samples(int B, int OH, int OW, int C, int K)
{
    size_t per_sample = (size_t)OH * OW * K * K * C;
    size_t n = COL_BUDGET_FLOATS / per_sample;
    if (n < 1) n = 1;
    return n < (size_t)B ? (int)n : B;
}

size_t leash_conv_col_floats(int B, int H, int W, int C, int K)
{
    int OH = H - K + 1, OW = W - K + 1;
    return (size_t)chunk_samples(B, OH, OW, C, K) * OH * OW * K * K * C;
}

/* col[(s*OH + oy)*OW + ox][(ky*K + kx)*C + c] = in[s][oy+ky][ox+kx][c] for nb samples:
 * each patch row is K runs of K*C contiguous floats in the HWC input. */
static void im2col(float *col, const float *in, int nb, int H, int W, int C, int K)
{
    int OH = H - K + 1, OW = W - K + 1;
    size_t kc = (size_t)K * C;
    for (int s = 0; s < nb; ++s) {
        const float *img = in + (size_t)s * H * W * C;
        for (int oy = 0; oy < OH; ++oy)
            for (int ox = 0; ox < OW; ++ox) {
                for (int ky = 0; ky < K; ++ky) {
                    memcpy(col, img + ((size_t)(oy + ky) * W + ox) * C, kc * sizeof *col);
                    col += kc;
                }
            }
    }
}

/* The adjoint of im2col: scatter-add patch rows back into the input gradient. */
static void col2im_add(float *din, const float *col, int nb, int H, int W, int C, int K)
{
    int OH = H - K + 1, OW = W - K + 1;
    size_t kc = (size_t)K * C;
    for (int s = 0; s < nb; ++s) {
        float *img = din + (size_t)s * H * W * C;
        for (int oy = 0; oy < OH; ++oy)
            for (int ox = 0; ox < OW; ++ox)
                for (int ky = 0; ky < K; ++ky) {
                    float *dst = img + ((size_t)(oy + ky) * W + ox) * C;
                    for (size_t i = 0; i < kc; ++i) dst[i] += col[i];
                    col += kc;
                }
    }
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
        for (int r = 0; r < rows; ++r)
            for (int oc = 0; oc < OC; ++oc) o[(size_t)r * OC + oc] = bias[oc];
        /* o[rows][OC] += col[rows][KKC] * w[OC][KKC]^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, OC, KKC, 1.0f, col, KKC, w, KKC,
                    1.0f, o, OC);
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
        for (int r = 0; r < rows; ++r)
            for (int oc = 0; oc < OC; ++oc) dbias[oc] += d[(size_t)r * OC + oc];
        /* dw[OC][KKC] += d^T[OC][rows] * col[rows][KKC] (col recomputed, not stored) */
        im2col(col, in + (size_t)s0 * H * W * C, nb, H, W, C, K);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, KKC, rows, 1.0f, d, OC, col, KKC,
                    1.0f, dw, KKC);
        if (din) {
            /* dcol[rows][KKC] = d[rows][OC] * w[OC][KKC], reusing the scratch */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, KKC, OC, 1.0f, d, OC, w,
                        KKC, 0.0f, col, KKC);
            col2im_add(din + (size_t)s0 * H * W * C, col, nb, H, W, C, K);
        }
    }
}
