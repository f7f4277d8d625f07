#include <cblas.h>

#include "nn/layers_internal.h"

void leash_fc_forward(float *out, const float *in, const float *w, const float *bias, int B, int C,
                      int OC)
{
    /* Seed each row with the bias so that one sgemm with beta = 1 finishes the layer. */
    if (bias)
        for (int b = 0; b < B; ++b) {
            float *row = out + (size_t)b * OC;
            for (int o = 0; o < OC; ++o) row[o] = bias[o];
        }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, OC, C, 1.0f, in, C, w, C,
                bias ? 1.0f : 0.0f, out, OC);
}

void leash_fc_backward(float *din, float *dw, float *dbias, const float *dout, const float *in,
                       const float *w, int B, int C, int OC)
{
    /* dw[OC][C] += dout^T[OC][B] * in[B][C] */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, B, 1.0f, dout, OC, in, C, 1.0f, dw,
                C);
    if (dbias)
        for (int b = 0; b < B; ++b) {
            const float *row = dout + (size_t)b * OC;
            for (int o = 0; o < OC; ++o) dbias[o] += row[o];
        }
    /* din[B][C] = dout[B][OC] * w[OC][C] */
    if (din)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, C, OC, 1.0f, dout, OC, w, C,
                    0.0f, din, C);
}

int leash_fc_gemm_shapes(leash_gemm_shape *s, int max, int with_din, int with_bias, int B, int C,
                         int OC)
{
    int n = with_din ? 3 : 2;
    if (n > max) return LEASH_EINVAL;
    s[0] = (leash_gemm_shape){CblasNoTrans, CblasTrans, B, OC, C, with_bias ? 1.0f : 0.0f};
    s[1] = (leash_gemm_shape){CblasTrans, CblasNoTrans, OC, C, B, 1.0f};
    if (with_din) s[2] = (leash_gemm_shape){CblasNoTrans, CblasNoTrans, B, C, OC, 0.0f};
    return n;
}
