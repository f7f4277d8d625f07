#ifndef LEASH_CLI_REPORT_H
#define LEASH_CLI_REPORT_H

#include <stdio.h>

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

/* Write the JSON result document (doc/output.md) for one finished run. */
void leash_report_write(FILE *out, const leash_options *o, const leash_run_info *info,
                        const leash_result *res);

#endif
