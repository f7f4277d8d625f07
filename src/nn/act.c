#include <math.h>

#include "nn/layers_internal.h"

void leash_relu_forward(float *out, const float *in, size_t n)
{
    for (size_t i = 0; i < n; ++i) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

void leash_relu_backward(float *din, const float *dout, const float *out, size_t n)
{
    for (size_t i = 0; i < n; ++i) din[i] += out[i] > 0.0f ? dout[i] : 0.0f;
}

void leash_sigmoid_forward(float *out, const float *in, size_t n)
{
    for (size_t i = 0; i < n; ++i) out[i] = 1.0f / (1.0f + expf(-in[i]));
}

void leash_sigmoid_backward(float *din, const float *dout, const float *out, size_t n)
{
    for (size_t i = 0; i < n; ++i) din[i] += dout[i] * out[i] * (1.0f - out[i]);
}
