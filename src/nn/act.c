#include <math.h>

#include "core/simd_internal.h"
#include "nn/layers_internal.h"

LEASH_VECTOR_CLONES
void leash_relu_forward(float *restrict out, const float *restrict in, size_t n)
{
    for (size_t i = 0; i < n; ++i) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

LEASH_VECTOR_CLONES
void leash_relu_backward(float *restrict din, const float *restrict dout, const float *restrict out,
                         size_t n)
{
    /* Both loads unconditional, so the select vectorizes instead of branching per element. */
    for (size_t i = 0; i < n; ++i) {
        float g = dout[i];
        din[i] = out[i] > 0.0f ? g : 0.0f;
    }
}

void leash_sigmoid_forward(float *restrict out, const float *restrict in, size_t n)
{
    for (size_t i = 0; i < n; ++i) out[i] = 1.0f / (1.0f + expf(-in[i]));
}

void leash_sigmoid_backward(float *restrict din, const float *restrict dout,
                            const float *restrict out, size_t n)
{
    for (size_t i = 0; i < n; ++i) din[i] = dout[i] * out[i] * (1.0f - out[i]);
}

void leash_tanh_forward(float *restrict out, const float *restrict in, size_t n)
{
    for (size_t i = 0; i < n; ++i) out[i] = tanhf(in[i]);
}

/* tanh' = 1 - tanh^2: the forward pass's output suffices, as for sigmoid. */
void leash_tanh_backward(float *restrict din, const float *restrict dout, const float *restrict out,
                         size_t n)
{
    for (size_t i = 0; i < n; ++i) din[i] = dout[i] * (1.0f - out[i] * out[i]);
}

LEASH_VECTOR_CLONES
void leash_bias_relu_forward(float *out, const float *in, const float *restrict bias, int B,
                             int C)
{
    for (int b = 0; b < B; ++b, in += C, out += C)
        for (int c = 0; c < C; ++c) {
            float v = in[c] + bias[c];
            out[c] = v > 0.0f ? v : 0.0f;
        }
}

LEASH_VECTOR_CLONES
void leash_relu_bias_backward(float *din, float *restrict dbias, const float *dout,
                              const float *restrict out, int B, int C)
{
    for (int b = 0; b < B; ++b, din += C, dout += C, out += C)
        for (int c = 0; c < C; ++c) {
            float d = dout[c]; /* loaded unconditionally, as in leash_relu_backward */
            float g = out[c] > 0.0f ? d : 0.0f;
            din[c] = g;
            dbias[c] += g;
        }
}
