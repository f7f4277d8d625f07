/* leash with one MPI failure injected, through MPI's profiling interface: the first
 * MPI_Iallreduce of floats on the rank LEASH_TEST_MPI_FAIL_RANK names returns an error
 * instead of starting (the first averaging round's opening reduction), so that tests can
 * see what a rank whose round fails does to the job. Linked into a copy of the program
 * (tests/leash_mpifault) only. */
#include <stdlib.h>

#include <mpi.h>

int MPI_Iallreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype,
                   MPI_Op op, MPI_Comm comm, MPI_Request *request)
{
    static int failed;
    const char *fail_rank = getenv("LEASH_TEST_MPI_FAIL_RANK");
    int rank = -1;
    MPI_Comm_rank(comm, &rank);
    if (!failed && fail_rank && atoi(fail_rank) == rank && datatype == MPI_FLOAT) {
        failed = 1;
        return MPI_ERR_OTHER;
    }
    return PMPI_Iallreduce(sendbuf, recvbuf, count, datatype, op, comm, request);
}
