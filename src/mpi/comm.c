/* MPI start-up and the collectives of comm_internal.h. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mpi.h>

#include "core/clock_internal.h"
#include "core/error_internal.h"
#include "core/stop_internal.h"
#include "mpi/comm_internal.h"
#include "leash/dist.h"

/* Set by leash_dist_init: whether this process initialized MPI, and its place. Written
 * once on the training thread before any worker starts. */
static int mpi_started;
static int my_rank, nranks = 1;
static int broken;
static int broken_rc = LEASH_EMPI; /* why: what a later collective then returns at once */
static int peer_error;

int leash_dist_launched(void)
{
    /* Open MPI's mpirun, PMIx launchers (srun --mpi=pmix, prterun), and the PMI-1/2
     * launchers of MPICH-family mpiexec each set one of these in every rank. */
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; ++i)
        if (getenv(vars[i])) return 1;
    return 0;
}

int leash_dist_init(int *argc, char ***argv)
{
    if (mpi_started || !leash_dist_launched()) return 0;
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return leash_fail(LEASH_EMPI, "MPI_Init_thread failed");
    mpi_started = 1;
    if (provided < MPI_THREAD_FUNNELED) {
        leash_dist_finalize();
        return leash_fail(LEASH_EMPI, "the MPI library does not provide MPI_THREAD_FUNNELED");
    }
    /* Failed calls return to leash (MPI's default ends the job at once), so that its own
     * error paths run: one message, and MPI_Abort where a rank left a collective. The
     * communicators leash derives inherit the handler. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &my_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    /* A launcher of another MPI makes every process a singleton: say so rather than
     * train P unrelated models. */
    const char *launched = getenv("OMPI_COMM_WORLD_SIZE");
    if (!launched) launched = getenv("PMI_SIZE");
    if (launched && atoi(launched) != nranks) {
        int want = atoi(launched);
        leash_dist_finalize();
        return leash_fail(LEASH_EMPI,
                          "the launcher started %d ranks but MPI sees %d: is leash built against "
                          "the launcher's MPI?",
                          want, nranks);
    }
    return 0;
}

int leash_dist_rank(void) { return my_rank; }
int leash_dist_size(void) { return nranks; }

void leash_dist_finalize(void)
{
    if (!mpi_started) return;
    MPI_Finalize();
    mpi_started = 0;
    my_rank = 0;
    nranks = 1;
}

LEASH_NORETURN void leash_dist_abort(int code)
{
    if (mpi_started) MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

static int active(void) { return mpi_started && nranks > 1; }

void leash_comm_mark_broken(void) { broken = 1; }
int leash_dist_broken(void) { return broken; }

static int check(int rc, const char *what)
{
    if (rc == MPI_SUCCESS) return 0;
    broken = 1;
    return leash_fail(LEASH_EMPI, "%s failed (MPI error %d)", what, rc);
}

/* MPI counts are ints: larger vectors go in pieces. */
#define CHUNK ((size_t)INT_MAX / 2)

/* Seconds a rank waits in a collective before it says so (leash_dist_set_stall_warning);
 * written before the first collective, by the thread that makes them all. */
static double stall_warn_s = 60.0;

void leash_dist_set_stall_warning(double seconds) { stall_warn_s = seconds; }

/* A stop reaches every rank (mpirun forwards the signal, Slurm signals every task), and
 * the ranks then meet at their next safe point: a wait that outlasts this after the stop
 * will not end. */
static double stop_grace_s(void) { return stall_warn_s > 0 ? fmax(10.0, stall_warn_s) : 60.0; }

static void say_waiting(const char *what, double waited, int ended)
{
    char host[256] = "?";
    gethostname(host, sizeof host - 1);
    if (ended)
        fprintf(stderr, "leash: rank %d (%s): %s completed after %.0f s\n", my_rank, host, what, waited);
    else
        fprintf(stderr,
                "leash: rank %d (%s): waiting %.0f s for the other ranks in %s; one may be slow, "
                "stopped or unreachable\n",
                my_rank, host, waited, what);
}

/* Complete a nonblocking collective without spinning. A blocking collective busy-polls
 * while it waits for slower ranks, and the main thread would then take a core from this
 * rank's workers (or, oversubscribed, from another rank's). Testing every 50 us keeps
 * the collective progressing (Open MPI progresses it inside MPI_Test) at a negligible
 * cost in latency. A long wait is reported, and a stop ends one that would never end. */
static int wait_gently(MPI_Request *req, int rc, const char *what)
{
    if (rc != MPI_SUCCESS) return check(rc, what);
    /* This rank already gave up on a collective: the job is ending (leash_dist_abort), and
     * the others may never come. The first failure's message stands. */
    if (broken) return broken_rc;
    const struct timespec pause = {0, 50000};
    double last = leash_now(), waited = 0.0, stop_seen = -1.0;
    int warned = 0;
    for (;;) {
        int done = 0;
        if ((rc = MPI_Test(req, &done, MPI_STATUS_IGNORE)) != MPI_SUCCESS) return check(rc, what);
        if (done) break;
        /* Time spent waiting, not time this process was frozen (SIGSTOP, a suspended VM):
         * a rank that was itself stopped does not blame the others. */
        const double now = leash_now();
        waited += fmin(now - last, 0.1);
        last = now;
        if (!warned && stall_warn_s > 0 && waited >= stall_warn_s) {
            say_waiting(what, waited, 0);
            warned = 1;
        }
        if (stop_seen < 0 && leash_stop_asked()) stop_seen = waited;
        if (stop_seen >= 0 && waited - stop_seen > stop_grace_s()) {
            broken = 1;
            broken_rc = LEASH_ESTOPPED;
            return leash_fail(LEASH_ESTOPPED, "stopped after waiting %.0f s for the other ranks in %s",
                              waited, what);
        }
        nanosleep(&pause, NULL);
    }
    if (warned) say_waiting(what, waited, 1);
    return 0;
}

int leash_dist_agree(int rc)
{
    /* MINLOC on (rank, code) pairs: the lowest failing rank, carrying its code along. */
    struct {
        int rank, code;
    } me = {rc ? my_rank : nranks, rc};
    if (active()) {
        MPI_Request req;
        int err = wait_gently(&req, MPI_Iallreduce(MPI_IN_PLACE, &me, 1, MPI_2INT, MPI_MINLOC,
                                                   MPI_COMM_WORLD, &req),
                              "MPI_Allreduce");
        if (err) return err;
    }
    if (me.rank == nranks) return 0;
    peer_error = me.code;
    return me.rank == my_rank ? rc : LEASH_EPEER;
}

int leash_dist_peer_error(void) { return peer_error; }

int leash_dist_check_same(long value)
{
    if (!active()) return 0;
    long v[2] = {value, -value}; /* the largest and, negated, the smallest */
    MPI_Request req;
    int rc = wait_gently(&req, MPI_Iallreduce(MPI_IN_PLACE, v, 2, MPI_LONG, MPI_MAX, MPI_COMM_WORLD,
                                              &req),
                         "MPI_Allreduce");
    return rc ? rc : v[0] != -v[1];
}

int leash_dist_node_peers(const char *cpuset, int *index, int *count)
{
    *index = 0;
    *count = 1;
    if (!active()) return 0;
    MPI_Comm node, same;
    int rc = check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, my_rank,
                                       MPI_INFO_NULL, &node),
                   "MPI_Comm_split_type");
    if (rc) return rc;
    /* Ranks with equal cpusets get the same color (FNV-1a of the text, kept non-negative
     * as MPI_Comm_split requires). */
    uint32_t h = 2166136261u;
    for (const char *p = cpuset; *p; ++p) h = (h ^ (unsigned char)*p) * 16777619u;
    rc = check(MPI_Comm_split(node, (int)(h & 0x7fffffff), my_rank, &same), "MPI_Comm_split");
    if (rc == 0) {
        MPI_Comm_rank(same, index);
        MPI_Comm_size(same, count);
        MPI_Comm_free(&same);
    }
    MPI_Comm_free(&node);
    return rc;
}

int leash_comm_allreduce_sum_f(float *x, size_t n)
{
    if (!active()) return 0;
    for (size_t i = 0; i < n; i += CHUNK) {
        int c = (int)(n - i < CHUNK ? n - i : CHUNK);
        MPI_Request req;
        int rc = wait_gently(&req, MPI_Iallreduce(MPI_IN_PLACE, x + i, c, MPI_FLOAT, MPI_SUM,
                                                  MPI_COMM_WORLD, &req),
                             "MPI_Allreduce");
        if (rc) return rc;
    }
    return 0;
}

int leash_comm_allreduce_sum_d(double *x, int n)
{
    if (!active()) return 0;
    MPI_Request req;
    return wait_gently(&req, MPI_Iallreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &req),
                       "MPI_Allreduce");
}

int leash_comm_allreduce_min_d(double *x, int n)
{
    if (!active()) return 0;
    MPI_Request req;
    return wait_gently(&req, MPI_Iallreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD, &req),
                       "MPI_Allreduce");
}

int leash_comm_bcast_f(float *x, size_t n)
{
    if (!active()) return 0;
    for (size_t i = 0; i < n; i += CHUNK) {
        int c = (int)(n - i < CHUNK ? n - i : CHUNK);
        MPI_Request req;
        int rc = wait_gently(&req, MPI_Ibcast(x + i, c, MPI_FLOAT, 0, MPI_COMM_WORLD, &req), "MPI_Bcast");
        if (rc) return rc;
    }
    return 0;
}

int leash_comm_mean(float *x, size_t n)
{
    if (!active()) return 0;
    const float inv = 1.0f / (float)nranks;
    for (size_t i = 0; i < n; i += CHUNK) {
        int c = (int)(n - i < CHUNK ? n - i : CHUNK);
        MPI_Request req;
        int rc = wait_gently(&req, MPI_Ireduce(my_rank == 0 ? MPI_IN_PLACE : x + i, x + i, c,
                                               MPI_FLOAT, MPI_SUM, 0, MPI_COMM_WORLD, &req),
                             "MPI_Reduce");
        if (rc) return rc;
    }
    if (my_rank == 0)
        for (size_t i = 0; i < n; ++i) x[i] *= inv;
    return leash_comm_bcast_f(x, n);
}

int leash_comm_gather_d(const double *mine, int n, double *all)
{
    if (!active()) {
        for (int i = 0; i < n; ++i) all[i] = mine[i];
        return 0;
    }
    MPI_Request req;
    return wait_gently(&req, MPI_Igather(mine, n, MPI_DOUBLE, all, n, MPI_DOUBLE, 0, MPI_COMM_WORLD, &req),
                       "MPI_Gather");
}

/* Point-to-point pieces of a blob; counts are ints, so large blobs go in chunks. */
enum { BLOB_TAG = 7 };

/* Send len bytes from out to rank peer, or (out NULL) receive them into in. */
static int transfer_bytes(const unsigned char *out, unsigned char *in, size_t len, int peer)
{
    for (size_t i = 0; i < len; i += CHUNK) {
        int c = (int)(len - i < CHUNK ? len - i : CHUNK);
        MPI_Request req;
        int rc = out ? MPI_Isend(out + i, c, MPI_BYTE, peer, BLOB_TAG, MPI_COMM_WORLD, &req)
                     : MPI_Irecv(in + i, c, MPI_BYTE, peer, BLOB_TAG, MPI_COMM_WORLD, &req);
        if ((rc = wait_gently(&req, rc, out ? "MPI_Send" : "MPI_Recv")) != 0) return rc;
    }
    return 0;
}

int leash_comm_gather_bytes(const void *mine, size_t len, unsigned char **all, size_t *lens)
{
    double l = (double)len, *ls = my_rank == 0 ? malloc((size_t)nranks * sizeof *ls) : NULL;
    int rc = my_rank == 0 && !ls ? leash_fail(LEASH_ENOMEM, "out of memory for %d ranks", nranks) : 0;
    if ((rc = leash_dist_agree(rc)) != 0) return rc;
    if ((rc = leash_comm_gather_d(&l, 1, ls)) != 0) {
        free(ls);
        return rc;
    }
    size_t total = 0;
    if (my_rank == 0) {
        for (int r = 0; r < nranks; ++r) total += (lens[r] = (size_t)ls[r]);
        free(ls);
        if (!(*all = malloc(total ? total : 1)))
            rc = leash_fail(LEASH_ENOMEM, "out of memory for %zu bytes from the ranks", total);
    }
    if ((rc = leash_dist_agree(rc)) != 0) {
        if (my_rank == 0) {
            free(*all);
            *all = NULL;
        }
        return rc;
    }
    if (my_rank != 0) return transfer_bytes(mine, NULL, len, 0);
    memcpy(*all, mine, len);
    size_t off = lens[0];
    for (int r = 1; r < nranks && rc == 0; ++r) {
        rc = transfer_bytes(NULL, *all + off, lens[r], r);
        off += lens[r];
    }
    if (rc) {
        free(*all);
        *all = NULL;
    }
    return rc;
}

int leash_comm_scatter_bytes(const unsigned char *all, const size_t *lens, unsigned char **mine,
                             size_t *len)
{
    /* Rank 0 tells each rank its length, then sends its bytes. */
    uint64_t n = 0;
    MPI_Request req;
    int rc = 0;
    if (active()) {
        uint64_t *ls = NULL;
        if (my_rank == 0) {
            ls = malloc((size_t)nranks * sizeof *ls);
            rc = ls ? 0 : leash_fail(LEASH_ENOMEM, "out of memory for %d ranks", nranks);
            for (int r = 0; ls && r < nranks; ++r) ls[r] = lens[r];
        }
        if ((rc = leash_dist_agree(rc)) != 0) return rc;
        rc = wait_gently(&req, MPI_Iscatter(ls, 1, MPI_UINT64_T, &n, 1, MPI_UINT64_T, 0,
                                            MPI_COMM_WORLD, &req),
                         "MPI_Scatter");
        free(ls);
        if (rc) return rc;
    } else {
        n = lens[0];
    }
    *len = (size_t)n;
    *mine = malloc(n ? (size_t)n : 1);
    rc = *mine ? 0 : leash_fail(LEASH_ENOMEM, "out of memory for %llu bytes", (unsigned long long)n);
    if ((rc = leash_dist_agree(rc)) != 0) {
        free(*mine);
        *mine = NULL;
        return rc;
    }
    if (my_rank == 0) {
        memcpy(*mine, all, (size_t)n);
        size_t off = lens[0];
        for (int r = 1; r < nranks && rc == 0; ++r) {
            rc = transfer_bytes(all + off, NULL, lens[r], r);
            off += lens[r];
        }
    } else {
        rc = transfer_bytes(NULL, *mine, (size_t)n, 0);
    }
    return rc;
}

/* Clock offsets: ping-pongs between rank 0 and each other rank in turn. */
enum { CLOCK_TAG = 8, CLOCK_PINGS = 16 };

/* Rank 0's side with peer: the offset from the round trip with the least delay. */
static int clock_ping(int peer, double *offset, double *uncertainty)
{
    double best = INFINITY;
    for (int k = 0; k < CLOCK_PINGS; ++k) {
        double sent = leash_now(), theirs = 0.0;
        MPI_Request req;
        int rc = wait_gently(&req, MPI_Isend(&sent, 1, MPI_DOUBLE, peer, CLOCK_TAG, MPI_COMM_WORLD, &req),
                             "MPI_Send");
        if (rc == 0)
            rc = wait_gently(&req, MPI_Irecv(&theirs, 1, MPI_DOUBLE, peer, CLOCK_TAG, MPI_COMM_WORLD, &req),
                             "MPI_Recv");
        if (rc) return rc;
        const double back = leash_now();
        /* The peer read its clock somewhere within the round trip: at its middle, the
         * error is at most half of it. */
        if (back - sent < best) {
            best = back - sent;
            *offset = theirs - 0.5 * (sent + back);
        }
    }
    *uncertainty = 0.5 * best;
    return 0;
}

/* The other side: answer every ping with this rank's clock (plus skew: see
 * leash_comm_clock_offsets). */
static int clock_pong(double skew)
{
    for (int k = 0; k < CLOCK_PINGS; ++k) {
        double ping = 0.0;
        MPI_Request req;
        int rc = wait_gently(&req, MPI_Irecv(&ping, 1, MPI_DOUBLE, 0, CLOCK_TAG, MPI_COMM_WORLD, &req),
                             "MPI_Recv");
        double now = leash_now() + skew;
        if (rc == 0)
            rc = wait_gently(&req, MPI_Isend(&now, 1, MPI_DOUBLE, 0, CLOCK_TAG, MPI_COMM_WORLD, &req),
                             "MPI_Send");
        if (rc) return rc;
    }
    return 0;
}

int leash_comm_clock_offsets(double *offset, double *uncertainty, double skew)
{
    if (my_rank == 0) offset[0] = uncertainty[0] = 0.0;
    if (!active()) return 0;
    int rc = 0;
    for (int r = 1; r < nranks && rc == 0; ++r) {
        if (my_rank == 0)
            rc = clock_ping(r, &offset[r], &uncertainty[r]);
        else if (my_rank == r)
            rc = clock_pong(skew);
    }
    return leash_dist_agree(rc);
}
