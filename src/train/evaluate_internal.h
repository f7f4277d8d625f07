/* Scoring a model on a test set, the same way in training and in leash_evaluate. */
#ifndef LEASH_EVALUATE_INTERNAL_H
#define LEASH_EVALUATE_INTERNAL_H

#include "leash/train.h"

/* Rank `rank` of `ranks`' slice of test: samples [n rank / ranks, n (rank + 1) / ranks). */
void leash_test_slice(size_t n, int rank, int ranks, size_t *begin, size_t *end);

/* Add the summed loss and the correct answers of params on test samples [begin, end),
 * scored in batches of ws's size b with idx as scratch (b entries), to sums[0], sums[1]. */
void leash_evaluate_range(const leash_model *m, const float *params, leash_workspace *ws, int b,
                          const leash_dataset *test, const leash_input_map *map, uint32_t *idx,
                          size_t begin, size_t end, double sums[2]);

#endif
