/* Scoring a model: see evaluate_internal.h and leash_evaluate in train.h. */
#include <stdlib.h>

#include <cblas.h>

#include "core/error_internal.h"
#include "train/evaluate_internal.h"

void leash_test_slice(size_t n, int rank, int ranks, size_t *begin, size_t *end)
{
    *begin = n * (size_t)rank / (size_t)ranks;
    *end = n * (size_t)(rank + 1) / (size_t)ranks;
}

void leash_evaluate_range(const leash_model *m, const float *params, leash_workspace *ws, int b,
                          const leash_dataset *test, const leash_input_map *map, uint32_t *idx,
                          size_t begin, size_t end, double sums[2])
{
    double loss_sum = 0.0;
    long correct = 0;
    for (size_t first = begin; first < end; first += (size_t)b) {
        int count = end - first < (size_t)b ? (int)(end - first) : b;
        for (int i = 0; i < count; ++i) idx[i] = (uint32_t)(first + (size_t)i);
        leash_dataset_gather(leash_workspace_input(ws), leash_workspace_labels(ws), test, map, idx,
                             count);
        leash_model_evaluate(m, params, ws, count, &loss_sum, &correct);
    }
    sums[0] += loss_sum;
    sums[1] += (double)correct;
}

int leash_evaluate(const leash_model *m, const float *params, const leash_input_map *map,
                   const leash_dataset *test, int batch, int ranks, double *loss, double *accuracy)
{
    if (batch < 1 || ranks < 1 || test->n == 0)
        return leash_fail(LEASH_EINVAL, "evaluation: batch %d, %d ranks, %zu test samples", batch,
                          ranks, test->n);
    if ((size_t)test->h * (size_t)test->w * (size_t)test->c != leash_model_input_size(m) ||
        test->nclasses > m->nclasses)
        return leash_fail(LEASH_EINVAL,
                          "the test images (%dx%dx%d, %d classes) do not fit the model "
                          "(%dx%dx%d, %d classes)",
                          test->h, test->w, test->c, test->nclasses, m->in_h, m->in_w, m->in_c,
                          m->nclasses);
    /* Training runs OpenBLAS on one thread; a product split over several may round
     * differently, and the scores must be the run's own. */
    openblas_set_num_threads(1);
    leash_workspace *ws;
    int rc = leash_workspace_create(&ws, m, batch);
    if (rc) return rc;
    uint32_t *idx = malloc((size_t)batch * sizeof *idx);
    if (!idx) {
        leash_workspace_destroy(ws);
        return leash_fail(LEASH_ENOMEM, "out of memory for evaluation");
    }
    /* As a run with `ranks` ranks scores: each rank sums its slice, then the slices' sums
     * are added in rank order. */
    double total[2] = {0.0, 0.0};
    for (int r = 0; r < ranks; ++r) {
        double sums[2] = {0.0, 0.0};
        size_t begin, end;
        leash_test_slice(test->n, r, ranks, &begin, &end);
        leash_evaluate_range(m, params, ws, batch, test, map, idx, begin, end, sums);
        total[0] += sums[0];
        total[1] += sums[1];
    }
    *loss = total[0] / (double)test->n;
    *accuracy = total[1] / (double)test->n;
    free(idx);
    leash_workspace_destroy(ws);
    return 0;
}
