/* Collective operations over the ranks, for the training thread only (MPI_THREAD_FUNNELED).
 *
 * Every function is collective: all ranks call it in the same order with the same sizes.
 * Without MPI (one rank) each is the identity, so the trainer runs the same code with and
 * without a launcher. All return 0 or LEASH_EMPI. */
#ifndef LEASH_COMM_INTERNAL_H
#define LEASH_COMM_INTERNAL_H

#include <stddef.h>

/* x <- sum over ranks of x, on every rank. */
int leash_comm_allreduce_sum_f(float *x, size_t n);
int leash_comm_allreduce_sum_d(double *x, int n);
int leash_comm_allreduce_min_d(double *x, int n);

/* x <- mean over ranks of x, computed on rank 0 and broadcast, so that all ranks hold
 * the same bits (an allreduce does not promise that). */
int leash_comm_mean(float *x, size_t n);

/* x <- rank 0's x on every rank. */
int leash_comm_bcast_f(float *x, size_t n);

/* Rank 0 gets every rank's n doubles in rank order in all (size() * n); other ranks may
 * pass NULL. */
int leash_comm_gather_d(const double *mine, int n, double *all);

/* Rank 0 gets every rank's len bytes at mine, concatenated in rank order into *all
 * (malloc'd; rank 0 frees it) with each rank's length in lens (size() entries); other
 * ranks pass NULL for both. */
int leash_comm_gather_bytes(const void *mine, size_t len, unsigned char **all, size_t *lens);

/* The reverse: rank 0 passes the concatenation all and the lengths lens; every rank gets
 * its own piece in *mine (malloc'd, *len bytes). Others pass NULL for all and lens. */
int leash_comm_scatter_bytes(const unsigned char *all, const size_t *lens, unsigned char **mine,
                             size_t *len);

/* Collective: on rank 0, each rank's monotonic clock minus rank 0's (offset, seconds)
 * and the most that estimate can be off (uncertainty), size() entries each; other ranks
 * pass arrays they ignore (NULL is fine). skew (0 but in tests) is added to this rank's
 * clock, as if it ran that much ahead. */
int leash_comm_clock_offsets(double *offset, double *uncertainty, double skew);

/* Who waits with the main thread, for the stall line of leash_dist_set_stall_warning:
 * 1 while this rank's workers go on training during the collectives that follow (an
 * overlapped averaging segment: the line then says "main thread waits, workers go on"),
 * 0 (the default) while they are paused or done, so that the whole rank waits ("main
 * thread and workers wait"). Called by the thread that makes the collectives (the
 * training thread), between them; it changes only the line's wording. */
void leash_comm_set_workers_running(int running);

/* Rank r's host name: this rank's from leash_dist_init on, the others' once the ranks
 * have gathered them there (several ranks only); "host unknown" before. */
const char *leash_comm_host(int r);

/* This rank left the collective sequence (see leash_dist_broken). */
void leash_comm_mark_broken(void);

/* The ranks' agreements are unions of named fields and one array, `all`, over the same
 * storage: code reads and writes the names, the reduction takes the array, and
 * LEASH_AGREEMENT checks that no name lies outside it. */
#define LEASH_AGREEMENT(type)                                                              \
    _Static_assert(sizeof(type) == sizeof(((type *)0)->all), #type ": a field outside `all`")
#define LEASH_AGREE_LEN(u) (sizeof (u)->all / sizeof (u)->all[0])
#define LEASH_AGREE_SUM(u)                                                                 \
    _Generic((u)->all[0], double: leash_comm_allreduce_sum_d((double *)(u)->all,             \
                                                                 (int)LEASH_AGREE_LEN(u)),   \
             float: leash_comm_allreduce_sum_f((float *)(u)->all, LEASH_AGREE_LEN(u)))
#define LEASH_AGREE_MIN(u) leash_comm_allreduce_min_d((u)->all, (int)LEASH_AGREE_LEN(u))

#endif
