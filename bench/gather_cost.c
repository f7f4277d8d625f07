/* What gathering a mini-batch costs, and what transparent huge pages save on it.
 *
 * Gathers batches of b samples of Fashion-MNIST's training set in a random order (as an
 * epoch's permutation draws them) into a float batch, from the pixels as leash loads them
 * (2 MiB-aligned, advised for huge pages) and from a copy in ordinary malloc'd memory,
 * alternating batch by batch. Between batches a 16 MiB buffer is written, as a training
 * step's sgemm calls would evict the batch and the dataset's cache lines. Prints one
 * JSON object: microseconds per batch for each, their ratio, and whether the process
 * got huge pages at all (AnonHugePages in /proc/self/smaps_rollup).
 *
 * Usage: gather_cost [-b BATCH] [-k PASSES] [--data-dir DIR] */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "leash/rng.h"

static long anon_huge_kb(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb;
}

int main(int argc, char **argv)
{
    const char *dir = "/usr/share/datasets/fashion-mnist";
    int b = 512, passes = 3;
    static const struct option opts[] = {{"data-dir", required_argument, NULL, 'd'},
                                         {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "b:k:", opts, NULL)) != -1) {
        if (opt == 'd') dir = optarg;
        else if (opt == 'b') b = atoi(optarg);
        else if (opt == 'k') passes = atoi(optarg);
        else return 2;
    }
    leash_dataset huge;
    if (b < 1 || passes < 1) {
        fprintf(stderr, "usage: gather_cost [-b BATCH] [-k PASSES] [--data-dir DIR]\n");
        return 2;
    }
    if (leash_dataset_load(&huge, LEASH_DATA_FASHION_MNIST, dir, LEASH_SPLIT_TRAIN) != 0) {
        fprintf(stderr, "gather_cost: %s\n", leash_last_error());
        return 2;
    }
    size_t s = leash_dataset_sample_size(&huge), n = huge.n;
    if ((size_t)b > n) return 2;
    leash_dataset plain = huge;
    plain.pixels = malloc(n * s);
    uint32_t *perm = malloc(n * sizeof *perm);
    float *x = leash_params_alloc((size_t)b * s), *evict = leash_params_alloc((size_t)4 << 20);
    int *y = malloc((size_t)b * sizeof *y);
    if (!plain.pixels || !perm || !x || !evict || !y) return 1;
    memcpy(plain.pixels, huge.pixels, n * s);
    leash_input_map map;
    leash_input_map_standardize(&map, &huge);
    for (size_t i = 0; i < n; ++i) perm[i] = (uint32_t)i;
    leash_rng rng;
    leash_rng_seed(&rng, 1);

    double t_huge = 0.0, t_plain = 0.0;
    long batches = 0;
    for (int p = 0; p < passes; ++p) {
        leash_rng_shuffle_u32(&rng, perm, n);
        for (size_t pos = 0; pos + (size_t)b <= n; pos += (size_t)b, ++batches)
            for (int which = 0; which < 2; ++which) {
                for (size_t j = 0; j < ((size_t)4 << 20); j += 16) evict[j] += 1.0f;
                int from_plain = which ^ (int)(batches & 1);
                double t0 = leash_now();
                leash_dataset_gather(x, y, from_plain ? &plain : &huge, &map, perm + pos, b);
                *(from_plain ? &t_plain : &t_huge) += leash_now() - t0;
            }
    }
    printf("{\"benchmark\": \"gather_cost\", \"batch\": %d, \"batches\": %ld, "
           "\"anon_huge_pages_kb\": %ld, \"huge_pages_us_per_batch\": %.1f, "
           "\"plain_pages_us_per_batch\": %.1f, \"plain_over_huge\": %.3f}\n",
           b, batches, anon_huge_kb(), 1e6 * t_huge / batches, 1e6 * t_plain / batches,
           t_plain / t_huge);
    free(plain.pixels);
    leash_dataset_free(&huge);
    free(perm), free(y);
    leash_params_free(x), leash_params_free(evict);
    return 0;
}
