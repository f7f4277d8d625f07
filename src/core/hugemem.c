#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/hugemem_internal.h"

#define HUGE_PAGE ((size_t)2 << 20)

void *leash_huge_alloc(size_t bytes)
{
    if (bytes < HUGE_PAGE) return malloc(bytes ? bytes : 1);
    /* Aligned to a huge page, so that every whole 2 MiB of the buffer can be one page; the
     * advice matters where THP is in "madvise" mode (Debian's default) and is harmless
     * elsewhere. It is given before the first touch, when the pages are faulted in. A
     * refusal (no THP in this kernel) leaves ordinary pages: the buffer works either way. */
    void *p = aligned_alloc(HUGE_PAGE, (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE);
#ifdef MADV_HUGEPAGE
    if (p) (void)madvise(p, (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE, MADV_HUGEPAGE);
#endif
    return p;
}

void *leash_huge_grow(void *p, size_t used, size_t bytes)
{
    void *q = leash_huge_alloc(bytes);
    if (!q) return NULL;
    memcpy(q, p, used < bytes ? used : bytes);
    free(p);
    return q;
}
