/* The version pool: reference counts validated against generation tags.
 *
 * References. `latest` owns one reference to the slot it names; every pin owns one; the
 * owner of a draft owns the one that `latest` inherits when the draft is installed.
 * Invariants:
 *  I1 A slot's generation changes only in the atomic step that takes its refcount from 1
 *     to 0 (unref), so while a reference exists the incarnation, its buffer and its
 *     timestamp are frozen; the step to 0 is the only way a slot reaches the free list.
 *  I2 Refcount 0 <=> the slot is on the free list or held by the one thread that is
 *     pushing, popping or arming it; nobody else touches its buffer.
 *  I3 `latest` names (i, g) only while slot i is in generation g with refcount >= 1 (its
 *     own reference): the draft is armed with that reference before install publishes
 *     it, and it is dropped only by the install that replaces the tag.
 *  I4 A pin increments the state only if it still carries the generation of the tag the
 *     reader got from `latest`. By I1 and I3 that means the same incarnation, still alive
 *     (refcount >= 1), so a pin never resurrects a recycled slot: a stale reader's CAS
 *     compares against a newer generation and fails. No use-after-free, no ABA.
 * Generations are 48 bits and grow by one per recycle: a stale tag could match again
 * only if its slot were recycled 2^48 times (2.8e14 full-version publishes, days even at
 * a billion per second) while one reader sits between loading `latest` and its CAS.
 * The free list is a Treiber stack whose head carries a 48-bit counter bumped by every
 * push and pop, which closes its ABA window by the same argument.
 *
 * Bound. LSH (the only caller) keeps each of its T user threads to at most two slots
 * off the free list: one pin (a read or a snapshot), or one slot it is dropping (refcount
 * 0, not yet pushed), or inside a publish a draft plus its base (pinned, or being
 * dropped after a failed CAS). A thread that finds the free list empty holds nothing: it
 * is about to take its draft. Say k threads are such growers (found it empty, not yet
 * grown). When the last of them found it empty, every grown slot was `latest` or held
 * by one of the other T - k threads, so grown + k <= 1 + 2 (T - k) + k <= 2T; a grow
 * turns a grower into a grown slot and keeps the sum, and nothing else adds to it. So
 * the pool never needs more than 2T slots (2T + 1 would need a thread to grow while
 * holding two), and LSH sizes it 2T; tests/torture reaches that. Exceeding capacity
 * means a caller broke the rule; the pool aborts. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "sync/version_pool_internal.h"

static uint64_t pack(uint64_t high, uint32_t low) { return high << LEASH_VP_LOW_BITS | low; }

int leash_vpool_create(leash_vpool **out, size_t n, uint32_t capacity, const float *theta0,
                       uint64_t timestamp0)
{
    if (n == 0 || capacity == 0 || capacity > LEASH_VP_MAX_SLOTS)
        return leash_fail(LEASH_EINVAL, "version pool: %u slots of %zu floats (need 1-%u, n > 0)",
                          capacity, n, LEASH_VP_MAX_SLOTS);
    leash_vpool *p = aligned_alloc(LEASH_CACHE_LINE, sizeof *p);
    if (!p) return leash_fail(LEASH_ENOMEM, "version pool: out of memory");
    memset(p, 0, sizeof *p);
    p->slots = aligned_alloc(LEASH_CACHE_LINE, (size_t)capacity * sizeof *p->slots);
    float *theta = leash_params_alloc(n);
    if (!p->slots || !theta) {
        leash_params_free(theta);
        free(p->slots);
        free(p);
        return leash_fail(LEASH_ENOMEM, "version pool: out of memory for %u slots of %zu floats",
                          capacity, n);
    }
    memset(p->slots, 0, (size_t)capacity * sizeof *p->slots);
    for (uint32_t i = 0; i < capacity; ++i) {
        atomic_init(&p->slots[i].state, 0);
        atomic_init(&p->slots[i].next, LEASH_VP_NONE);
    }
    memcpy(theta, theta0, n * sizeof *theta);
    p->slots[0].data = theta;
    p->slots[0].timestamp = timestamp0;
    atomic_init(&p->slots[0].state, pack(0, 1)); /* the reference of `latest` */
    atomic_init(&p->latest, pack(0, 0));
    atomic_init(&p->free_head, pack(0, LEASH_VP_NONE));
    atomic_init(&p->grown, 1);
    p->capacity = capacity;
    p->n = n;
    *out = p;
    return 0;
}

void leash_vpool_destroy(leash_vpool *p)
{
    if (!p) return;
    uint32_t grown = atomic_load_explicit(&p->grown, memory_order_relaxed); /* threads joined */
    for (uint32_t i = 0; i < grown; ++i) leash_params_free(p->slots[i].data);
    free(p->slots);
    free(p);
}

/* The tag must come from an acquire load of `latest` by this thread (pin_latest), which
 * is what makes the version's contents visible; the state is only validated and counted
 * here, so relaxed accesses suffice: a CAS always compares against the newest state, so a
 * stale load can only make it fail, and the matching unref (acq_rel) orders this holder's
 * reads before any recycling. */
int leash_vpool_try_pin(leash_vpool *p, uint64_t tag)
{
    _Atomic uint64_t *state = &p->slots[leash_vp_index(tag)].state;
    uint64_t s = atomic_load_explicit(state, memory_order_relaxed);
    while (leash_vp_gen(s) == leash_vp_gen(tag)) {
        assert(leash_vp_refs(s) > 0 && leash_vp_refs(s) < LEASH_VP_LOW_MASK); /* I3, bound */
        if (atomic_compare_exchange_weak_explicit(state, &s, s + 1, memory_order_relaxed,
                                                  memory_order_relaxed))
            return 1;
    }
    return 0;
}

uint64_t leash_vpool_pin_latest(leash_vpool *p)
{
    /* A failed pin means the slot was recycled, so `latest` moved on: someone progressed. */
    for (;;) {
        /* acquire: pairs with the release CAS of install, so the version's floats,
         * timestamp and armed state are visible before they are read. */
        uint64_t tag = atomic_load_explicit(&p->latest, memory_order_acquire);
        if (leash_vpool_try_pin(p, tag)) return tag;
    }
}

static void push(leash_vpool *p, uint32_t i)
{
    /* relaxed: the link is published by the release CAS below. */
    uint64_t head = atomic_load_explicit(&p->free_head, memory_order_relaxed);
    uint64_t next;
    do {
        /* relaxed store: a popper reads it only after acquiring the head that names i. */
        atomic_store_explicit(&p->slots[i].next, leash_vp_index(head), memory_order_relaxed);
        next = pack(leash_vp_gen(head) + 1, i);
        /* release: hands the link, and (through the unref chain) every former holder's
         * reads of the buffer, to the thread that pops i; failure retries, relaxed. */
    } while (!atomic_compare_exchange_weak_explicit(&p->free_head, &head, next,
                                                    memory_order_release, memory_order_relaxed));
}

#ifdef LEASH_VPOOL_TEST_HOOKS
void (*leash_vpool_pop_window)(leash_vpool *p);
#define POP_WINDOW(p) (leash_vpool_pop_window ? leash_vpool_pop_window(p) : (void)0)
#else
#define POP_WINDOW(p) ((void)0)
#endif

/* Pop the top slot, LEASH_VP_NONE if the list is empty. */
static uint32_t pop(leash_vpool *p)
{
    /* acquire: pairs with push's release, so the top slot's link is the pusher's. */
    uint64_t head = atomic_load_explicit(&p->free_head, memory_order_acquire);
    for (;;) {
        uint32_t top = leash_vp_index(head);
        if (top == LEASH_VP_NONE) return LEASH_VP_NONE;
        /* relaxed: if another thread popped top and pushed it again meanwhile, the head's
         * counter changed and the CAS below fails, discarding this value. */
        uint32_t below = atomic_load_explicit(&p->slots[top].next, memory_order_relaxed);
        POP_WINDOW(p);
        /* acquire on success: the buffer's former holders' reads happen before our
         * writes into it; on failure too, since the fresh head's link is read next. */
        if (atomic_compare_exchange_weak_explicit(&p->free_head, &head,
                                                  pack(leash_vp_gen(head) + 1, below),
                                                  memory_order_acquire, memory_order_acquire))
            return top;
    }
}

void leash_vpool_unref(leash_vpool *p, uint32_t i) { leash_vpool_unref_n(p, i, 1); }

void leash_vpool_unref_n(leash_vpool *p, uint32_t i, uint32_t refs)
{
    _Atomic uint64_t *state = &p->slots[i].state;
    /* relaxed: only a guess for the CAS, which rereads the newest value on failure. */
    uint64_t s = atomic_load_explicit(state, memory_order_relaxed);
    uint64_t next;
    do {
        assert(leash_vp_refs(s) >= refs); /* the references are owned by the caller */
        /* The last reference bumps the generation in the same step (I1). */
        next = leash_vp_refs(s) == refs ? pack(leash_vp_gen(s) + 1, 0) : s - refs;
        /* acq_rel: release orders this holder's reads of the buffer before the slot's
         * reuse; acquire lets the thread that drops the last reference (and pushes) see
         * every earlier holder's release, since all writes to state between them are
         * read-modify-writes. Failure only refreshes s: relaxed. */
    } while (!atomic_compare_exchange_weak_explicit(state, &s, next, memory_order_acq_rel,
                                                    memory_order_relaxed));
    if (leash_vp_refs(next) == 0) push(p, i);
}

/* Claim a new slot with a fresh buffer, allocated before the claim so that a failed
 * allocation claims nothing. */
static int grow(leash_vpool *p, uint32_t *i)
{
    float *data = leash_params_alloc(p->n);
    if (!data)
        return leash_fail(LEASH_ENOMEM, "version pool: out of memory for a version of %zu floats",
                          p->n);
    /* relaxed: the counter only hands out indices; the slot's buffer pointer reaches
     * other threads through install's release CAS or the free list, like its contents. */
    uint32_t g = atomic_load_explicit(&p->grown, memory_order_relaxed);
    do {
        if (g >= p->capacity) abort(); /* the bound above was broken by a caller */
    } while (!atomic_compare_exchange_weak_explicit(&p->grown, &g, g + 1, memory_order_relaxed,
                                                    memory_order_relaxed));
    p->slots[g].data = data;
    *i = g;
    return 0;
}

int leash_vpool_acquire(leash_vpool *p, uint32_t *i)
{
    uint32_t d = pop(p);
    if (d == LEASH_VP_NONE) {
        int rc = grow(p, &d);
        if (rc) return rc;
    }
    _Atomic uint64_t *state = &p->slots[d].state;
    /* relaxed: the slot is ours alone (refcount 0, I2); stale readers compare older
     * generations and fail whatever they load; install's release CAS publishes this
     * store together with the tag. */
    uint64_t s = atomic_load_explicit(state, memory_order_relaxed);
    atomic_store_explicit(state, pack(leash_vp_gen(s), 1), memory_order_relaxed);
    *i = d;
    return 0;
}

int leash_vpool_install(leash_vpool *p, uint64_t expected, uint32_t d, uint32_t also_release)
{
    /* relaxed: our own store from acquire. */
    uint64_t gen = leash_vp_gen(atomic_load_explicit(&p->slots[d].state, memory_order_relaxed));
    /* release on success: the draft's floats, timestamp and armed state become visible
     * to every thread that acquires the new tag. Failure reads nothing that is used
     * (the caller pins afresh with an acquire load): relaxed. */
    if (!atomic_compare_exchange_strong_explicit(&p->latest, &expected, pack(gen, d),
                                                 memory_order_release, memory_order_relaxed))
        return 0;
    /* The reference `latest` held, and the caller's own on the same slot, in one step:
     * this state word is the most contended one, so one read-modify-write, not two. */
    leash_vpool_unref_n(p, leash_vp_index(expected), 1 + also_release);
    return 1;
}

uint32_t leash_vpool_peak(const leash_vpool *p)
{
    /* relaxed: a statistic, read while the workers are parked at the trainer's gate,
     * whose mutex orders their growth before this load. */
    return atomic_load_explicit(&p->grown, memory_order_relaxed);
}

uint32_t leash_vpool_live(const leash_vpool *p)
{
    /* relaxed: a sample for the timeline while other threads run, not a synchronization;
     * a slot counts if anyone held a reference to it when its state word was read. */
    uint32_t live = 0;
    const uint32_t grown = atomic_load_explicit(&p->grown, memory_order_relaxed);
    for (uint32_t i = 0; i < grown; ++i)
        live += leash_vp_refs(atomic_load_explicit(&p->slots[i].state, memory_order_relaxed)) > 0;
    return live;
}

uint32_t leash_vpool_free_count(const leash_vpool *p)
{
    /* relaxed: the pool is quiescent (caller's contract); thread joins order the pushes. */
    uint32_t count = 0;
    for (uint32_t i = leash_vp_index(atomic_load_explicit(&p->free_head, memory_order_relaxed));
         i != LEASH_VP_NONE; i = atomic_load_explicit(&p->slots[i].next, memory_order_relaxed))
        ++count;
    return count;
}
