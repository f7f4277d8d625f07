/* The .npz reader on an archive held in memory: what leash_npz_probe and leash_npz_load
 * do on a file, for the fuzz harness (tests/fuzz/fuzz_npz.c), which would otherwise go
 * through a file per input. name stands for the file in messages. */
#ifndef LEASH_DATA_NPZ_INTERNAL_H
#define LEASH_DATA_NPZ_INTERNAL_H

#include <stddef.h>

#include "leash/data.h"

int leash_npz_probe_buffer(leash_npz_info *info, const void *data, size_t size, const char *name);

int leash_npz_load_buffer(leash_dataset *train, leash_dataset *test, const void *data, size_t size,
                          const char *name, int min_classes);

#endif
