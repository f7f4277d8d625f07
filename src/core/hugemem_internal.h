/* Large buffers read at random (the datasets' pixels), in memory that transparent huge
 * pages can back: a sample drawn at random then costs no TLB miss, which on 4 KiB pages
 * made gathering a mini-batch of Fashion-MNIST 1.16x slower (bench/gather_cost). Free
 * with free(). */
#ifndef LEASH_CORE_HUGEMEM_INTERNAL_H
#define LEASH_CORE_HUGEMEM_INTERNAL_H

#include <stddef.h>

/* bytes of uninitialized memory, or NULL. */
void *leash_huge_alloc(size_t bytes);

/* p (from leash_huge_alloc, holding used bytes) grown to bytes, or NULL with p kept. */
void *leash_huge_grow(void *p, size_t used, size_t bytes);

#endif
