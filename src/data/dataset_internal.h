/* What the library needs of a data set beyond its public API. */
#ifndef LEASH_DATASET_INTERNAL_H
#define LEASH_DATASET_INTERNAL_H

#include <stdint.h>

#include "leash/data.h"

/* CRC-32 of a data set's shape, pixels (or float values) and labels: its identity in a
 * checkpoint. */
uint32_t leash_dataset_digest(const leash_dataset *d);

#endif
