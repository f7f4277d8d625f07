#include <math.h>

#include "nn/layers_internal.h"

double leash_softmax_xent_forward(float *probs, const float *logits, const int *y, int B, int K)
{
    double total = 0.0;
    for (int b = 0; b < B; ++b) {
        const float *z = logits + (size_t)b * K;
        float *p = probs + (size_t)b * K;
        float zmax = z[0];
        for (int k = 1; k < K; ++k) zmax = z[k] > zmax ? z[k] : zmax;
        /* Shifting by the max keeps expf finite; the sum is tiny, so double costs nothing. */
        double sum = 0.0;
        for (int k = 0; k < K; ++k) {
            p[k] = expf(z[k] - zmax);
            sum += p[k];
        }
        float inv = (float)(1.0 / sum);
        for (int k = 0; k < K; ++k) p[k] *= inv;
        total += log(sum) - (double)(z[y[b]] - zmax);
    }
    return total;
}

void leash_softmax_xent_backward(float *dlogits, const float *probs, const int *y, int B, int K)
{
    float scale = 1.0f / (float)B;
    for (int b = 0; b < B; ++b) {
        const float *p = probs + (size_t)b * K;
        float *d = dlogits + (size_t)b * K;
        for (int k = 0; k < K; ++k) d[k] = scale * p[k];
        d[y[b]] -= scale;
    }
}
