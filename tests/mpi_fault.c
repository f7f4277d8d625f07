/* leash with MPI faults injected, through MPI's profiling interface. Linked into a copy
 * of the program (tests/leash_mpifault) only.
 *
 * LEASH_TEST_MPI_FAIL_RANK=R: the first MPI_Iallreduce of floats on rank R returns an
 * error instead of starting (the first averaging round's opening reduction), so that
 * tests can see what a rank whose round fails does to the job.
 *
 * LEASH_TEST_MPI_HOLD_RANK=R, LEASH_TEST_MPI_HOLD_S=S: rank R sleeps S seconds before
 * its first MPI_Iallreduce, so that the other ranks wait for it there (a rank held back
 * at start). Every rank then prints, on entering its first MPI_Iallreduce, the line
 * "leash_mpifault: rank N enters its first MPI_Iallreduce at T" (T: CLOCK_REALTIME in
 * seconds), so that tests can time what the waiting ranks say from their wait's start.
 * With LEASH_TEST_MPI_HOLD_FLOAT set, the hold (and the line) come at the first
 * MPI_Iallreduce of floats instead: the first averaging round's.
 *
 * LEASH_TEST_MPI_DEAF_RANK=R: MPI_Iprobe on rank R never finds a message, so that what
 * the others send it outside collectives (stall queries) stays unreceived up to
 * MPI_Finalize. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <mpi.h>

static void hold_first(int rank)
{
    const char *hold_rank = getenv("LEASH_TEST_MPI_HOLD_RANK");
    if (!hold_rank) return;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    fprintf(stderr, "leash_mpifault: rank %d enters its first MPI_Iallreduce at %lld.%06ld\n", rank,
            (long long)now.tv_sec, now.tv_nsec / 1000);
    const char *hold_s = getenv("LEASH_TEST_MPI_HOLD_S");
    if (atoi(hold_rank) != rank || !hold_s) return;
    const double s = atof(hold_s);
    struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {
    }
}

int MPI_Iallreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype,
                   MPI_Op op, MPI_Comm comm, MPI_Request *request)
{
    static int failed, entered;
    const char *fail_rank = getenv("LEASH_TEST_MPI_FAIL_RANK");
    int rank = -1;
    MPI_Comm_rank(comm, &rank);
    if (!entered && (!getenv("LEASH_TEST_MPI_HOLD_FLOAT") || datatype == MPI_FLOAT)) {
        entered = 1;
        hold_first(rank);
    }
    if (!failed && fail_rank && atoi(fail_rank) == rank && datatype == MPI_FLOAT) {
        failed = 1;
        return MPI_ERR_OTHER;
    }
    return PMPI_Iallreduce(sendbuf, recvbuf, count, datatype, op, comm, request);
}

int MPI_Iprobe(int source, int tag, MPI_Comm comm, int *flag, MPI_Status *status)
{
    const char *deaf_rank = getenv("LEASH_TEST_MPI_DEAF_RANK");
    int rank = -1;
    MPI_Comm_rank(comm, &rank);
    if (deaf_rank && atoi(deaf_rank) == rank) {
        *flag = 0;
        return MPI_SUCCESS;
    }
    return PMPI_Iprobe(source, tag, comm, flag, status);
}
