#include <math.h>

#include "nn/layers_internal.h"

void leash_relu_forward(float *restrict out, const float *restrict in, size_t n)
{
    for (size_t i = 0; i < n; ++i) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

void leash_relu_backward(float *restrict din, const float *restrict dout, const float *restrict out,
                         size_t n)
{
    /* Both loads unconditional, so the select vectorizes instead of branching per element. */
    for (size_t i = 0; i < n; ++i) {
        float g = dout[i];
        din[i] += out[i] > 0.0f ? g : 0.0f;
    }
}

void leash_sigmoid_forward(float *restrict out, const float *restrict in, size_t n)
{
    for (size_t i = 0; i < n; ++i) out[i] = 1.0f / (1.0f + expf(-in[i]));
}

void leash_sigmoid_backward(float *restrict din, const float *restrict dout,
                            const float *restrict out, size_t n)
{
    for (size_t i = 0; i < n; ++i) din[i] += dout[i] * out[i] * (1.0f - out[i]);
}
