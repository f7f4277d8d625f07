/* The result a run fills in (leash/train.h): the workers' statistics summed into it,
 * and its records in checkpoints. */
#ifndef LEASH_RESULT_INTERNAL_H
#define LEASH_RESULT_INTERNAL_H

#include "core/store_internal.h"
#include "leash/train.h"

typedef struct trainer trainer;

/* Sum the workers' statistics, the trace and the averaging layer's counters into the
 * result (again after every epoch: the result so far is what the epoch callback sees). */
int leash_result_collect(leash_result *res, const trainer *t);

/* The most versions the strategy held, over resumptions too. */
uint64_t leash_result_peak_versions(const trainer *t);

/* Checkpoints: the records so far (epochs, times, counts), this checkpoint counted. */
void leash_results_save(leash_wbuf *b, const leash_result *res);
/* The saved records into res, whose epochs have room for max_epochs. Returns 0,
 * LEASH_EFORMAT if malformed, or LEASH_EINVAL if the file has finished more epochs than
 * max_epochs (res->nepochs says how many). */
int leash_results_load(leash_rbuf *r, leash_result *res, int max_epochs);

#endif
