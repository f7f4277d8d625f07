#ifndef LEASH_CLI_REPORT_H
#define LEASH_CLI_REPORT_H

#include <stdio.h>

#include <hwloc.h>

#include "cli/options.h"

/* What the run was given besides the options: dataset sizes and where they came from. */
typedef struct leash_run_info {
    const char *data_dir; /* NULL for SYNTH */
    size_t ntrain, ntest;
    size_t peak_rss_bytes;
    hwloc_topology_t topology;     /* NULL if it could not be discovered */
    hwloc_const_bitmap_t cpuset;   /* the launcher's cpuset */
    const leash_placement *plan;   /* NULL if none was made */
    int policy;                    /* LEASH_PLACE_*, or -1: not bound */
} leash_run_info;

/* Every rank's figures, gathered on rank 0 (one row of LEASH_RANK_FIELDS per rank). */
enum {
    LEASH_RANK_TRAIN_SAMPLES, LEASH_RANK_UPDATES, LEASH_RANK_GRADIENTS, LEASH_RANK_DROPPED,
    LEASH_RANK_FAILED_CAS, LEASH_RANK_PEAK_VERSIONS, LEASH_RANK_TIME, LEASH_RANK_SAMPLES,
    LEASH_RANK_COMPUTE, LEASH_RANK_READ, LEASH_RANK_PUBLISH, LEASH_RANK_WAIT, LEASH_RANK_MIX,
    LEASH_RANK_AVERAGINGS, LEASH_RANK_MPI, LEASH_RANK_AVERAGING, LEASH_RANK_PEAK_RSS,
    LEASH_RANK_BEHIND,
    LEASH_RANK_DIGEST_HI, LEASH_RANK_DIGEST_LO, /* FNV-1a of the final parameters' bytes */
    LEASH_RANK_LOCAL_HI, LEASH_RANK_LOCAL_LO,   /* ... of the rank's own, before the mean */
    LEASH_RANK_NROUND_UPDATES,                  /* then that many blocking rounds' updates */
    LEASH_RANK_ROUND_UPDATES,
    LEASH_RANK_FIELDS = LEASH_RANK_ROUND_UPDATES + LEASH_ROUND_UPDATES_MAX
};
typedef struct leash_rank_table {
    int ranks;
    double *rows;         /* rank 0 only */
    uint64_t *staleness;  /* the ranks' histograms summed (tau_max + 1 bins) */
    uint64_t *attempts;   /* attempt_bins bins */
} leash_rank_table;

/* Collective: gather every rank's figures into t on rank 0, with the sums of the ranks'
 * staleness and CAS-attempt histograms. */
int leash_report_gather(leash_rank_table *t, const leash_result *res, const leash_run_info *info);
void leash_rank_table_free(leash_rank_table *t);

/* Where the run came from (doc/output.md, "provenance"). */
typedef struct leash_provenance {
    int argc;
    char **argv;
    const char *data_dir; /* absolute; NULL for SYNTH */
} leash_provenance;

/* How the run stands: "running", "complete", "interrupted" or "diverged". */
typedef enum leash_run_status {
    LEASH_RUN_RUNNING, LEASH_RUN_COMPLETE, LEASH_RUN_INTERRUPTED, LEASH_RUN_DIVERGED
} leash_run_status;

/* Write the JSON result document (doc/output.md) for the run so far, with the ranks'
 * table from leash_report_gather. */
void leash_report_write(FILE *out, const leash_options *o, const leash_run_info *info,
                        const leash_provenance *prov, leash_run_status status,
                        const leash_result *res, const leash_rank_table *ranks);

#endif
