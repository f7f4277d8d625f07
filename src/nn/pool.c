#include "nn/layers_internal.h"

void leash_maxpool_forward(float *out, int32_t *argmax, const float *in, int B, int H, int W, int C,
                           int K)
{
    int OH = H / K, OW = W / K;
    for (int s = 0; s < B; ++s) {
        size_t base = (size_t)s * H * W * C;
        for (int oy = 0; oy < OH; ++oy)
            for (int ox = 0; ox < OW; ++ox) {
                /* Channels innermost: the C lanes of one window compare in parallel. */
                for (int c = 0; c < C; ++c) {
                    size_t first = base + ((size_t)(oy * K) * W + ox * K) * C + c;
                    out[c] = in[first];
                    argmax[c] = (int32_t)first;
                }
                for (int ky = 0; ky < K; ++ky)
                    for (int kx = 0; kx < K; ++kx) {
                        size_t at = base + ((size_t)(oy * K + ky) * W + ox * K + kx) * C;
                        for (int c = 0; c < C; ++c)
                            if (in[at + c] > out[c]) {
                                out[c] = in[at + c];
                                argmax[c] = (int32_t)(at + c);
                            }
                    }
                out += C;
                argmax += C;
            }
    }
}

void leash_maxpool_backward(float *din, const float *dout, const int32_t *argmax, size_t nout)
{
    for (size_t i = 0; i < nout; ++i) din[argmax[i]] += dout[i];
}
