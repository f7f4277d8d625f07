/* The loss trace: the mean training loss every `every` updates of this rank, recorded by
 * the workers as the run goes, turned into the result's trace points, and kept in
 * checkpoints. */
#ifndef LEASH_TRACE_INTERNAL_H
#define LEASH_TRACE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/store_internal.h"
#include "leash/train.h"

/* A point as recorded: cumulative losses over all workers when this rank's update count
 * reached `updates`; the means come from differences of consecutive points. */
typedef struct leash_trace_raw {
    double time_s;
    uint64_t updates;
    double loss_sum;
    uint64_t losses;
} leash_trace_raw;

/* Point k is written by the one worker whose update makes this rank's count
 * (k + 1) * every, and read by the main thread only while no worker runs (the gate
 * orders it). Workers time a point as time_base (training time before the segment) plus
 * the time since seg_start, both set before the gate opens. */
typedef struct leash_trace {
    long every; /* 0: no trace */
    size_t cap;
    leash_trace_raw *points;
    double time_base, seg_start;
} leash_trace;

/* Room for every point of a run of `epochs` epochs of `per_epoch` updates at one point
 * every `every` updates (0: no trace), replacing any previous buffer. */
int leash_trace_alloc(leash_trace *tr, long every, int epochs, long per_epoch);
void leash_trace_free(leash_trace *tr);

/* A worker's record of the point at this rank's update count `updates` (a multiple of
 * every), given the workers' loss sums. */
void leash_trace_record(leash_trace *tr, uint64_t updates, double sum, uint64_t n);

/* The trace so far (`published` updates) into the result, with the first crossing of
 * `target` (0: none). */
int leash_trace_collect(leash_result *res, const leash_trace *tr, uint64_t published,
                        double target);

/* Checkpoints: the interval and the points of `updates` updates so far. */
void leash_trace_save(leash_wbuf *b, const leash_trace *tr, uint64_t updates);
/* The saved trace: it goes on at the saved interval (reallocating at the layout's
 * size); own: this rank's (else read and dropped); grow: make room for the saved points
 * beyond this layout's run (a resume on another layout). Returns 0, LEASH_EFORMAT if
 * malformed, or a reported error. */
int leash_trace_load(leash_trace *tr, leash_rbuf *r, int own, int grow, int epochs,
                     long per_epoch);

#endif
