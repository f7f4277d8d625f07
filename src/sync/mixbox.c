/* The averaging layer's mailbox for SEQ and SYNC.
 *
 * Their workers touch the parameters without synchronization, so the main thread may not
 * read or write them while workers run. Instead it posts a request; the worker that owns
 * the parameters at an update point carries it out and marks it done.
 *
 * Protocol: request goes NONE -> READ|APPLY (main thread, only when NONE) and back to
 * NONE (the owning worker, once carried out). Exactly one thread writes in each state, so
 * plain stores suffice for the transitions; the memory orders carry the payload:
 *  - post: out/delta are written before the release store of the request, and the
 *    owner's acquire load in take sees them.
 *  - done: the copy (READ) or the changed parameters (APPLY) are written before the
 *    release store of NONE; the main thread's acquire load in pending sees them, so it may
 *    then read out and reuse delta. */
#include <string.h>

#include "sync/strategy_internal.h"

void leash_mixbox_init(leash_mixbox *b)
{
    atomic_init(&b->request, LEASH_MIX_NONE);
    b->out = NULL;
    b->delta = NULL;
}

int leash_mixbox_post_read(leash_mixbox *b, float *out)
{
    b->out = out;
    atomic_store_explicit(&b->request, LEASH_MIX_READ, memory_order_release);
    return 1;
}

int leash_mixbox_post_apply(leash_mixbox *b, const float *delta)
{
    b->delta = delta;
    atomic_store_explicit(&b->request, LEASH_MIX_APPLY, memory_order_release);
    return 1;
}

int leash_mixbox_pending(leash_mixbox *b)
{
    return atomic_load_explicit(&b->request, memory_order_acquire) != LEASH_MIX_NONE;
}

int leash_mixbox_take(leash_mixbox *b)
{
    return atomic_load_explicit(&b->request, memory_order_acquire);
}

void leash_mixbox_done(leash_mixbox *b)
{
    atomic_store_explicit(&b->request, LEASH_MIX_NONE, memory_order_release);
}

int leash_mixbox_serve(leash_mixbox *b, float *theta, size_t n, uint64_t *timestamp)
{
    int request = leash_mixbox_take(b);
    if (request == LEASH_MIX_READ) {
        memcpy(b->out, theta, n * sizeof *theta);
    } else if (request == LEASH_MIX_APPLY) {
        leash_axpy_inplace(theta, b->delta, -1.0f, n);
        ++*timestamp;
    } else {
        return request;
    }
    leash_mixbox_done(b);
    return request;
}
