#include <stdlib.h>
#include <string.h>

#include "leash/nn.h"

float *leash_params_alloc(size_t n)
{
    /* 64-byte alignment: cache-line aligned tensors, whole AVX-512 vectors. */
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    if (bytes == 0) bytes = 64;
    float *p = aligned_alloc(64, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void leash_params_free(float *p) { free(p); }
