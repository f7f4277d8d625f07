/* A run's timeline: its tracks, the ranks' clocks, and the file rank 0 writes
 * (doc/output.md describes the file). */
#ifndef LEASH_TIMELINE_RUN_INTERNAL_H
#define LEASH_TIMELINE_RUN_INTERNAL_H

#include "core/timeline_internal.h"
#include "leash/train.h"

typedef struct leash_tl_run {
    leash_timeline tl; /* tl.tracks NULL: no timeline */
    double origin;     /* this rank's clock when the timeline started */
    double skew;       /* added to this rank's clock: 0 but in tests (timeline_run.c) */
    /* Rank 0: each rank's clock minus rank 0's, and how far off that may be. */
    double *offset, *uncertainty;
} leash_tl_run;

/* Collective: with cfg->timeline set, tracks for cfg->threads workers and the main
 * thread, the ranks' clock offsets measured, time zero now; otherwise nothing. */
int leash_tl_run_start(leash_tl_run *r, const leash_config *cfg);
/* The track of worker w, or of the main thread (w = threads); NULL without a timeline. */
leash_tl_track *leash_tl_run_track(leash_tl_run *r, int w);
/* Collective: every rank's events to rank 0, which writes cfg->timeline. */
int leash_tl_run_write(leash_tl_run *r, const leash_config *cfg, leash_result *res);
void leash_tl_run_free(leash_tl_run *r);

#endif
