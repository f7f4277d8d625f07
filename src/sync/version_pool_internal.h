/* A bounded pool of immutable parameter versions with validated, generation-tagged
 * reference counts: the reclamation scheme of LSH (see version_pool.c for the proof).
 *
 * A version lives in a slot: a float buffer, its timestamp and an atomic state word
 * (generation << 16 | refcount). A tag names one incarnation of a slot: generation << 16
 * | index. `latest` holds the tag of the newest version. Free slots sit on a lock-free
 * stack; a slot's buffer is allocated the first time the stack is found empty and is
 * reused, never freed, until the pool is destroyed. */
#ifndef LEASH_VERSION_POOL_INTERNAL_H
#define LEASH_VERSION_POOL_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sync/strategy_internal.h"

/* Low 16 bits: the reference count in a state word, the slot index in a tag or in the
 * free-list head. High 48 bits: the generation, or the free-list head's ABA counter. */
#define LEASH_VP_LOW_BITS 16
#define LEASH_VP_LOW_MASK ((UINT64_C(1) << LEASH_VP_LOW_BITS) - 1)
/* Index meaning "no slot" (the empty free list); so at most 0xFFFF slots. */
#define LEASH_VP_NONE ((uint32_t)LEASH_VP_LOW_MASK)
#define LEASH_VP_MAX_SLOTS LEASH_VP_NONE

static inline uint32_t leash_vp_index(uint64_t tag) { return (uint32_t)(tag & LEASH_VP_LOW_MASK); }
static inline uint64_t leash_vp_gen(uint64_t word) { return word >> LEASH_VP_LOW_BITS; }
static inline uint32_t leash_vp_refs(uint64_t state)
{
    return (uint32_t)(state & LEASH_VP_LOW_MASK);
}

typedef struct leash_vslot {
    _Alignas(LEASH_CACHE_LINE) _Atomic uint64_t state; /* generation << 16 | refcount */
    _Atomic uint32_t next; /* free-list link; atomic because a stale popper may read it */
    uint64_t timestamp;    /* updates applied to reach this version; set before publication */
    float *data;           /* nparams floats, NULL until the slot is first used */
} leash_vslot;

typedef struct leash_vpool {
    _Alignas(LEASH_CACHE_LINE) _Atomic uint64_t latest; /* tag of the newest version */
    _Alignas(LEASH_CACHE_LINE) _Atomic uint64_t free_head; /* counter << 16 | top index */
    _Alignas(LEASH_CACHE_LINE) _Atomic uint32_t grown; /* slots with a buffer; written rarely */
    uint32_t capacity;
    size_t n; /* floats per version */
    leash_vslot *slots;
} leash_vpool;

/* A pool of at most capacity slots whose latest version is a copy of theta0 with
 * timestamp timestamp0 (0 for a new run, the checkpointed one for a resumed run). */
int leash_vpool_create(leash_vpool **p, size_t n, uint32_t capacity, const float *theta0,
                       uint64_t timestamp0);
void leash_vpool_destroy(leash_vpool *p);

/* Pin the newest version (one more reference) and return its tag. Lock-free. */
uint64_t leash_vpool_pin_latest(leash_vpool *p);
/* Pin the incarnation named by tag, which must come from an acquire load of `latest`
 * by this thread (that load is what makes the version's contents visible); 0 (and
 * nothing pinned) if that slot has been recycled since, 1 on success. */
int leash_vpool_try_pin(leash_vpool *p, uint64_t tag);
/* Drop one reference (refs references) to slot i; dropping the last recycles the slot
 * onto the free list. */
void leash_vpool_unref(leash_vpool *p, uint32_t i);
void leash_vpool_unref_n(leash_vpool *p, uint32_t i, uint32_t refs);

/* Take a slot for a new draft, from the free list or by growing the pool: its state is
 * (its generation, 1 reference: the future `latest` reference, or the owner's until it
 * is discarded with leash_vpool_unref). LEASH_ENOMEM if a buffer cannot be allocated. */
int leash_vpool_acquire(leash_vpool *p, uint32_t *i);
/* Make draft d the newest version if `latest` still holds tag expected: 1 on success
 * (the reference `latest` held to expected is dropped, together with also_release more
 * of the caller's own; the draft's reference now belongs to `latest`), 0 if another
 * version was published first (nothing is dropped). */
int leash_vpool_install(leash_vpool *p, uint64_t expected, uint32_t d, uint32_t also_release);

/* Slots whose buffers were ever allocated: the pool's size, an upper bound on the
 * versions held at once (the pool can grow while another thread is between dropping a
 * slot's last reference and pushing it onto the free list). */
uint32_t leash_vpool_peak(const leash_vpool *p);
/* Slots referenced now (latest, pins, drafts), read slot by slot while others may run:
 * a sample, not an atomic snapshot. */
uint32_t leash_vpool_live(const leash_vpool *p);
/* Length of the free list; only meaningful while no thread uses the pool (tests). */
uint32_t leash_vpool_free_count(const leash_vpool *p);

#ifdef LEASH_VPOOL_TEST_HOOKS
/* Only in tests/test_vpool's own build of version_pool.c: called by pop between reading
 * the top slot's link and the CAS that unlinks it, the window the head's ABA counter
 * guards, so that a test can run other pool operations there deterministically. */
extern void (*leash_vpool_pop_window)(leash_vpool *p);
#endif

/* The pool behind an LSH strategy, for tests that check its steady state or drive it. */
leash_vpool *leash_lsh_pool(leash_strategy *s);

#endif
