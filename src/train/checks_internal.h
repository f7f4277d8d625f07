/* What a run must satisfy before anything is allocated: each rank checks, and the ranks
 * agree on the outcome before their first collective. */
#ifndef LEASH_CHECKS_INTERNAL_H
#define LEASH_CHECKS_INTERNAL_H

#include "leash/train.h"

/* The configuration's values, and the data's against them. */
int leash_check_inputs(const leash_config *cfg, const leash_dataset *train,
                       const leash_dataset *test);
/* Whether the run's buffers can fit in the machine's memory. */
int leash_check_memory(const leash_config *cfg, const leash_model *model,
                       const leash_dataset *train, const leash_dataset *test);

#endif
