/* Ranks: MPI start-up and shutdown for programs built on leash.
 *
 * Only the thread that called leash_dist_init may call MPI (MPI_THREAD_FUNNELED): in
 * leash that is the training thread, never a worker. A process not started by an MPI
 * launcher does not initialize MPI at all and is rank 0 of 1; so is any process before
 * leash_dist_init. */
#ifndef LEASH_DIST_H
#define LEASH_DIST_H

#include "leash/api.h"

/* leash_dist_abort does not return: C11's _Noreturn, C++11's attribute. */
#ifdef __cplusplus
#define LEASH_NORETURN [[noreturn]]
#else
#define LEASH_NORETURN _Noreturn
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Nonzero if an MPI launcher (mpirun, srun --mpi=pmix, mpiexec) started this process. */
LEASH_API int leash_dist_launched(void);

/* Initialize MPI with MPI_THREAD_FUNNELED if leash_dist_launched(); otherwise do nothing.
 * Returns 0 or LEASH_EMPI. */
LEASH_API int leash_dist_init(int *argc, char ***argv);

/* This process's rank and the number of ranks (0 and 1 without MPI). */
LEASH_API int leash_dist_rank(void);
LEASH_API int leash_dist_size(void);

/* A rank that waits longer than `seconds` for the others in a collective (an averaging
 * round, a safe point, an agreement) asks them where they are and says once on stderr,
 * within half a second, naming its rank, its host and the call, which ranks have arrived
 * and which not, with their hosts; and again when the wait ends; 0: never. Default 60.
 * A stop asked for (leash_request_stop) during such a wait ends it once the stop is
 * max(10, seconds) seconds old (60 with no warning): the others had the stop too and
 * would have come, so this rank fails with LEASH_ESTOPPED and leash_dist_broken(),
 * instead of hanging. */
LEASH_API void leash_dist_set_stall_warning(double seconds);

/* Finalize MPI if leash_dist_init started it. */
LEASH_API void leash_dist_finalize(void);

/* End every rank of the job with code (MPI_Abort), or just this process without MPI.
 * For failures that other ranks cannot learn of at a collective step. */
LEASH_API LEASH_NORETURN void leash_dist_abort(int code);

/* Collective: among the ranks on this node that pass the same cpuset (as text), this
 * rank's index and their count (0 and 1 without MPI), for leash_cpuset_share. */
LEASH_API int leash_dist_node_peers(const char *cpuset, int *index, int *count);

/* Nonzero once this rank has failed in the middle of a collective sequence (an MPI call
 * failed, or an averaging round could not complete): other ranks may wait for it
 * forever, so the job must end with leash_dist_abort. Errors the ranks agreed on
 * (leash_dist_agree) leave it zero. */
LEASH_API int leash_dist_broken(void);

/* Collective: the ranks agree on an error, so that exactly one of them reports it and
 * all stop alike. Each passes its own code (0: none). Returns 0 if no rank failed; the
 * lowest failing rank gets its own rc back, every other rank LEASH_EPEER (and
 * leash_dist_peer_error then gives that rank's code); LEASH_EMPI if MPI failed. */
LEASH_API int leash_dist_agree(int rc);

/* Collective: 0 if every rank passed the same value, 1 if they differ, LEASH_EMPI if MPI
 * failed (0 without MPI). */
LEASH_API int leash_dist_check_same(long value);

/* The error code of the rank that failed first, as the last agreement that found a
 * failure learned it: what a rank told LEASH_EPEER exits with. */
LEASH_API int leash_dist_peer_error(void);

#ifdef __cplusplus
}
#endif
#endif
