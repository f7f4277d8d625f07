/* Run under mpirun: every rank takes its shard of one synthetic training set (an odd
 * size, so shards differ in length) as leash does, and rank 0 checks that the shards are
 * disjoint and together cover the set. Samples are told apart by their contents, which
 * the test first checks are unique. Exit 0 if all holds, 1 with a message otherwise. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <mpi.h>

#include "leash/leash.h"

static uint64_t sample_hash(const leash_dataset *d, size_t i)
{
    size_t bytes = (size_t)d->h * (size_t)d->w * (size_t)d->c;
    const uint8_t *p = d->pixels + i * bytes;
    uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)d->labels[i];
    for (size_t k = 0; k < bytes; ++k) h = (h ^ p[k]) * 0x100000001b3ULL;
    return h;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (leash_dist_init(&argc, &argv) != 0 || leash_dist_size() < 2) {
        fprintf(stderr, "mpi_shards: run me under mpirun with at least 2 ranks\n");
        return 1;
    }
    int rank = leash_dist_rank(), size = leash_dist_size();
    leash_dataset train, test, shard;
    if (leash_synth_generate(&train, &test, 3001, 10, 28, 28, 5) != 0 ||
        leash_dataset_shard(&shard, &train, rank, size, 77) != 0) {
        fprintf(stderr, "mpi_shards: rank %d: %s\n", rank, leash_last_error());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    int n = (int)shard.n;
    uint64_t *mine = malloc((size_t)n * sizeof *mine);
    for (int i = 0; i < n; ++i) mine[i] = sample_hash(&shard, (size_t)i);
    int *counts = rank == 0 ? malloc((size_t)size * sizeof *counts) : NULL;
    int *offsets = rank == 0 ? malloc((size_t)size * sizeof *offsets) : NULL;
    MPI_Gather(&n, 1, MPI_INT, counts, 1, MPI_INT, 0, MPI_COMM_WORLD);
    uint64_t *all = NULL;
    int total = 0;
    if (rank == 0) {
        for (int r = 0; r < size; ++r) {
            offsets[r] = total;
            total += counts[r];
        }
        all = malloc((size_t)total * sizeof *all);
    }
    MPI_Gatherv(mine, n, MPI_UINT64_T, all, counts, offsets, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    int status = 0;
    if (rank == 0) {
        size_t full_n = train.n;
        uint64_t *full = malloc(full_n * sizeof *full);
        for (size_t i = 0; i < full_n; ++i) full[i] = sample_hash(&train, i);
        qsort(full, full_n, sizeof *full, cmp_u64);
        qsort(all, (size_t)total, sizeof *all, cmp_u64);
        for (size_t i = 1; i < full_n; ++i)
            if (full[i] == full[i - 1]) {
                fprintf(stderr, "mpi_shards: two samples of the set look alike\n");
                status = 1;
                break;
            }
        for (int r = 0; r < size && !status; ++r)
            if (counts[r] != (int)(full_n / (size_t)size) + (r < (int)(full_n % (size_t)size))) {
                fprintf(stderr, "mpi_shards: rank %d holds %d samples\n", r, counts[r]);
                status = 1;
            }
        if (!status && (size_t)total != full_n) {
            fprintf(stderr, "mpi_shards: the shards hold %d samples, the set %zu\n", total, full_n);
            status = 1;
        }
        for (size_t i = 0; !status && i < full_n; ++i)
            if (all[i] != full[i]) {
                fprintf(stderr, "mpi_shards: the shards are not a partition of the set\n");
                status = 1;
            }
        if (!status) printf("%d shards of %zu samples: disjoint, covering\n", size, full_n);
        free(full);
    }
    MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
    free(all);
    free(counts);
    free(offsets);
    free(mine);
    leash_dataset_free(&shard);
    leash_dataset_free(&train);
    leash_dataset_free(&test);
    leash_dist_finalize();
    return status;
}
