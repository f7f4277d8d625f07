#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "core/error_internal.h"
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

/* OpenBLAS hands each call in flight one buffer from a table fixed when it was built:
 * NUM_BUFFERS = max(50, 2 * MAX_THREADS) entries (driver/others/memory.c), then, once
 * those are taken, an overflow table of NEW_BUFFERS = 512 more; a caller beyond both
 * gets no buffer and sgemm crashes. Its build string says MAX_THREADS. */
static long blas_built_threads(void)
{
    const char *config = openblas_get_config();
    const char *at = config ? strstr(config, "MAX_THREADS=") : NULL;
    return at ? strtol(at + strlen("MAX_THREADS="), NULL, 10) : 0;
}

int leash_blas_max_callers(void)
{
    long threads = blas_built_threads();
    long buffers = 2 * threads > 50 ? 2 * threads : 50;
    return (int)(buffers + 512);
}

int leash_blas_check_threads(int threads)
{
    if (threads <= leash_blas_max_callers()) return 0;
    return leash_fail(LEASH_EINVAL,
                      "leash_config.threads = %d: at most %d workers: OpenBLAS (built with MAX_THREADS=%ld) serves "
                      "at most that many threads calling it at once",
                      threads, leash_blas_max_callers(), blas_built_threads());
}
