/* The timeline: spans, instants and counters recorded per thread, for a Chrome trace.
 *
 * Each thread (a worker, or the rank's main thread) owns one track: a preallocated
 * array it alone appends to, so recording takes no lock, no atomic and no allocation.
 * The main thread reads the tracks only while no worker runs (the trainer's gate orders
 * the workers' writes before it), at the end of the run. A full track stops recording
 * and remembers when: the file then says it was cut. */
#ifndef LEASH_TIMELINE_INTERNAL_H
#define LEASH_TIMELINE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Every kind of event: its enum, its name in the trace, and its phase (X: a span,
 * i: an instant, C: a counter whose value is the event's arg). */
#define LEASH_TL_KINDS(X)                                                                        \
    X(BATCH, "batch", 'X')          /* gathering the mini-batch */                            \
    X(READ, "read", 'X')            /* reading a version: pin (LSH) or copy */                \
    X(GRADIENT, "gradient", 'X')    /* forward and backward */                                \
    X(PUBLISH, "publish", 'X')      /* applying the gradient, whatever it takes */            \
    X(CAS, "cas", 'X')              /* LSH: one attempt (arg 1: it failed) */                 \
    X(DROPPED, "dropped", 'i')      /* LSH: the gradient dropped at the persistence bound */  \
    X(UPDATE, "update", 'X')        /* SEQ, HOG: the update itself */                         \
    X(LOCK_WAIT, "lock wait", 'X')  /* ASYNC: waiting for the lock */                         \
    X(LOCK_HELD, "lock held", 'X')  /* ASYNC: copying or updating under it */                 \
    X(BARRIER, "barrier", 'X')      /* SYNC: waiting for the other workers */                 \
    X(MEAN, "mean", 'X')            /* SYNC: applying this worker's slice of the mean */      \
    X(MIX, "averaging work", 'X')   /* SEQ, SYNC: a round's read or correction, for it */     \
    X(PAUSED, "paused", 'X')        /* a worker between segments */                           \
    X(STALENESS, "staleness", 'C')  /* an update's staleness */                               \
    X(LIVE, "live versions", 'C')   /* LSH: versions referenced after an update */            \
    X(ROUND, "round", 'X')          /* main thread: an averaging round */                     \
    X(SNAPSHOT, "snapshot", 'X')    /* its copy of this rank's model */                       \
    X(EXCHANGE, "exchange", 'X')    /* its reduction over the ranks */                        \
    X(CORRECTION, "correction", 'X') /* its change to this rank's model */                    \
    X(CHECKPOINT, "checkpoint", 'X')                                                          \
    X(EVALUATION, "evaluation", 'X')

typedef enum leash_tl_kind {
#define LEASH_TL_ENUM(e, name, ph) LEASH_TL_##e,
    LEASH_TL_KINDS(LEASH_TL_ENUM)
#undef LEASH_TL_ENUM
    LEASH_TL_KIND_COUNT
} leash_tl_kind;

const char *leash_tl_kind_name(leash_tl_kind k);
char leash_tl_kind_phase(leash_tl_kind k);

/* One event: leash_now() seconds at its start and end (equal for an instant or a
 * counter). */
typedef struct leash_tl_event {
    double t0, t1;
    uint32_t kind;
    uint32_t arg;
} leash_tl_event;

typedef struct leash_tl_track {
    _Alignas(64) leash_tl_event *ev;
    uint32_t n, cap;
    double cut_at; /* < 0 while nothing was lost; else when the first event was */
} leash_tl_track;

static inline void leash_tl_add(leash_tl_track *tr, leash_tl_kind kind, double t0, double t1,
                                uint32_t arg)
{
    if (tr->n < tr->cap)
        tr->ev[tr->n++] = (leash_tl_event){t0, t1, (uint32_t)kind, arg};
    else if (tr->cut_at < 0)
        tr->cut_at = t0;
}

/* A rank's tracks: workers 0 .. threads - 1, then the main thread. */
typedef struct leash_timeline {
    int ntracks;
    long every;     /* record 1 update in `every` per worker */
    leash_tl_track *tracks;
} leash_timeline;

/* Tracks for threads workers and the main thread, room events each. */
int leash_timeline_create(leash_timeline *tl, int threads, long every, long room);
void leash_timeline_destroy(leash_timeline *tl);
/* Events recorded over all tracks. */
uint64_t leash_timeline_events(const leash_timeline *tl);

#endif
