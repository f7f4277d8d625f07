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
enum { HOST_LEN = 65 /* Linux's HOST_NAME_MAX + 1 */ };
static char my_host[HOST_LEN] = "?";

static int peers_open(void);
static void peers_close(void);

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
    if (!mpi_started) gethostname(my_host, sizeof my_host - 1);
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
    return nranks > 1 ? peers_open() : 0;
}

int leash_dist_rank(void) { return my_rank; }
int leash_dist_size(void) { return nranks; }

void leash_dist_finalize(void)
{
    if (!mpi_started) return;
    peers_close();
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

/* Who has reached a collective, asked only when one stalls. Each rank counts the
 * collectives it starts (seq; every rank starts the same ones in the same order). A rank
 * that has waited --stall-warn seconds sends a query about its seq to every other rank on
 * a private duplicate of MPI_COMM_WORLD (so that no receive of leash's own can take it);
 * every rank that is itself waiting in wait_for answers with its own seq. A rank that
 * computes, is held or frozen, or cannot be reached does not answer: waiting ranks are
 * the ones that can. Messages are two int64s; answers echo the seq asked about, so late
 * ones (the asker has gone on) are told apart and dropped. */
enum { QUERY_TAG = 1, ANSWER_TAG = 2 };
/* How long an asker collects answers: ranks that wait poll every 50 us, so those that
 * can answer have done so long before, even on a loaded node. */
#define ASK_S 0.5
/* Ranks named per list: a large job's line names the first ones and counts the rest. */
enum { LIST_MAX = 16 };

/* This rank's send of one message: its buffer lives until the send completes. */
typedef struct {
    MPI_Request req;
    int64_t msg[2];
} peer_slot;

static MPI_Comm peers = MPI_COMM_NULL;  /* the private duplicate, once made */
static int64_t seq;                     /* collectives this rank has started */
static int64_t asked = -1;              /* the collective this rank asks about; -1: none */
static int64_t *heard;                  /* per rank: the seq it answered with; -1: none */
static peer_slot *queries, *answers;    /* per rank: this rank's query to it, answer to it */
static char *hosts;                     /* every rank's host, HOST_LEN each; NULL until known */
static int workers_running;             /* leash_comm_set_workers_running */

void leash_comm_set_workers_running(int running) { workers_running = running != 0; }

/* Send (a, b) to rank `to` on the private communicator, unless the slot's previous
 * message is still on its way (its buffer in use): then that peer is not taking messages
 * now, and this one is dropped. Never blocks. */
static void peer_send(peer_slot *s, int64_t a, int64_t b, int to, int tag)
{
    int done = 0;
    if (MPI_Test(&s->req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS || !done) return;
    s->msg[0] = a;
    s->msg[1] = b;
    if (MPI_Isend(s->msg, 2, MPI_INT64_T, to, tag, peers, &s->req) != MPI_SUCCESS)
        s->req = MPI_REQUEST_NULL;
}

/* Receive what has come on the private communicator: answer queries (when answer is
 * set), record answers about the current ask, drop the rest. Only messages Iprobe has
 * seen are received, so this never blocks; a bounded number per call. */
static void peers_serve(int answer)
{
    if (peers == MPI_COMM_NULL) return;
    for (int n = 0; n < 2 * nranks + 2; ++n) {
        int flag = 0;
        MPI_Status st;
        int64_t msg[2] = {-1, -1};
        if (MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, peers, &flag, &st) != MPI_SUCCESS || !flag)
            return;
        if (MPI_Recv(msg, 2, MPI_INT64_T, st.MPI_SOURCE, st.MPI_TAG, peers, MPI_STATUS_IGNORE) !=
            MPI_SUCCESS)
            return;
        if (st.MPI_TAG == QUERY_TAG && answer)
            peer_send(&answers[st.MPI_SOURCE], msg[0], seq, st.MPI_SOURCE, ANSWER_TAG);
        else if (st.MPI_TAG == ANSWER_TAG && asked >= 0 && msg[0] == asked)
            heard[st.MPI_SOURCE] = msg[1];
    }
}

/* Ask every other rank where it is, about the collective this rank waits in. */
static void peers_ask(void)
{
    asked = seq;
    for (int r = 0; r < nranks; ++r) {
        heard[r] = r == my_rank ? seq : -1;
        if (r != my_rank) peer_send(&queries[r], seq, 0, r, QUERY_TAG);
    }
}

static int all_heard(void)
{
    for (int r = 0; r < nranks; ++r)
        if (heard[r] < 0) return 0;
    return 1;
}

const char *leash_comm_host(int r)
{
    if (r == my_rank) return my_host;
    return hosts ? hosts + (size_t)r * HOST_LEN : "host unknown";
}

/* Whether rank r has reached the wait's operation: 1 yes, 0 not that this rank knows,
 * -1 not part of it. A collective: r answered the ask with its seq or a later one (a
 * rooted collective lets some ranks go on). A send or receive: only the peer is awaited. */
static int reached(int r, int peer)
{
    if (r == my_rank) return 1;
    if (peer >= 0) return r == peer ? 0 : -1;
    return heard[r] >= asked;
}

/* Append "; LABEL: r (host), ..." for the ranks whose reached() is want. */
static size_t list_ranks(char *buf, size_t cap, size_t len, const char *label, int want, int peer)
{
    int named = 0, more = 0;
    if (len >= cap) return cap - 1;
    len += (size_t)snprintf(buf + len, cap - len, "; %s:", label);
    for (int r = 0; r < nranks && len < cap; ++r) {
        if (reached(r, peer) != want) continue;
        if (named == LIST_MAX) {
            ++more;
            continue;
        }
        len += (size_t)snprintf(buf + len, cap - len, "%s %d (%s)", named++ ? "," : "", r,
                                leash_comm_host(r));
    }
    if (len < cap && more) len += (size_t)snprintf(buf + len, cap - len, ", and %d more", more);
    if (len < cap && !named) len += (size_t)snprintf(buf + len, cap - len, " none");
    return len < cap ? len : cap - 1;
}

/* The stall line, in one write so that ranks' lines do not interleave. Without the
 * private communicator (its own creation stalls) nobody could be asked. */
static void say_stalled(const char *what, int peer, double waited)
{
    char line[2 * LIST_MAX * (HOST_LEN + 16) + 2 * HOST_LEN + 256];
    const char *who = workers_running ? "main thread waits, workers go on"
                                      : "main thread and workers wait";
    size_t len = (size_t)snprintf(line, sizeof line,
                                  "leash: rank %d (%s): waiting %.0f s for the other ranks in %s "
                                  "(%s)",
                                  my_rank, my_host, waited, what, who);
    if (peer < 0 && asked < 0) {
        snprintf(line + len, sizeof line - len, "; one may be slow, stopped or unreachable");
    } else {
        len = list_ranks(line, sizeof line, len, "arrived", 1, peer);
        len = list_ranks(line, sizeof line, len, "not arrived", 0, peer);
    }
    fprintf(stderr, "%s\n", line);
}

/* A wait's stall report: at --stall-warn seconds ask the others (a collective), then say
 * who has arrived once all have answered or ASK_S later; *state 0: quiet, 1: asking,
 * 2: said. A wait that ends while asking says nothing: every rank had come. */
static void stall_step(int *state, double *asked_at, const char *what, int peer, double waited)
{
    if (*state == 2 || stall_warn_s <= 0 || waited < stall_warn_s) return;
    if (*state == 0) {
        *state = 1;
        *asked_at = waited;
        if (peer < 0 && peers != MPI_COMM_NULL) peers_ask();
    }
    if (asked >= 0 && !all_heard() && waited - *asked_at < ASK_S) return;
    say_stalled(what, peer, waited);
    asked = -1;
    *state = 2;
}

/* Complete a nonblocking operation without spinning: a collective (peer -1) or a send or
 * receive with rank peer. A blocking collective busy-polls while it waits for slower
 * ranks, and the main thread would then take a core from this rank's workers (or,
 * oversubscribed, from another rank's). Testing every 50 us keeps the operation
 * progressing (Open MPI progresses it inside MPI_Test) at a negligible cost in latency.
 * Meanwhile this rank answers the others' stall queries; a long wait is reported, and a
 * stop ends one that would never end. */
static int wait_for(MPI_Request *req, int rc, const char *what, int peer)
{
    if (rc != MPI_SUCCESS) return check(rc, what);
    /* This rank already gave up on a collective: the job is ending (leash_dist_abort), and
     * the others may never come. The first failure's message stands. */
    if (broken) return broken_rc;
    if (peer < 0) ++seq;
    const struct timespec pause = {0, 50000};
    double last = leash_now(), waited = 0.0, stop_seen = -1.0, asked_at = 0.0;
    int state = 0, done = 0;
    while ((rc = MPI_Test(req, &done, MPI_STATUS_IGNORE)) == MPI_SUCCESS && !done) {
        peers_serve(1);
        /* Time spent waiting, not time this process was frozen (SIGSTOP, a suspended VM):
         * a rank that was itself stopped does not blame the others. */
        const double now = leash_now();
        waited += fmin(now - last, 0.1);
        last = now;
        stall_step(&state, &asked_at, what, peer, waited);
        if (stop_seen < 0 && leash_stop_asked()) stop_seen = waited;
        if (stop_seen >= 0 && waited - stop_seen > stop_grace_s()) {
            broken = 1;
            broken_rc = LEASH_ESTOPPED;
            asked = -1;
            return leash_fail(LEASH_ESTOPPED, "stopped after waiting %.0f s for the other ranks in %s",
                              waited, what);
        }
        nanosleep(&pause, NULL);
    }
    asked = -1;
    if (rc != MPI_SUCCESS) return check(rc, what);
    if (state == 2)
        fprintf(stderr, "leash: rank %d (%s): %s completed after %.0f s\n", my_rank, my_host, what,
                waited);
    return 0;
}

static int wait_gently(MPI_Request *req, int rc, const char *what)
{
    return wait_for(req, rc, what, -1);
}

/* At start-up, collective: the private communicator of the stall queries, then every
 * rank's host for the stall lines (until it is known they say "host unknown"). Both go
 * through wait_for, so that a rank slow to start is reported like any other. */
static int peers_open(void)
{
    heard = malloc((size_t)nranks * sizeof *heard);
    queries = malloc(2 * (size_t)nranks * sizeof *queries);
    char *all = malloc((size_t)nranks * HOST_LEN);
    if (!heard || !queries || !all) {
        free(heard);
        free(queries);
        free(all);
        heard = NULL;
        queries = NULL;
        return leash_fail(LEASH_ENOMEM, "out of memory for %d ranks", nranks);
    }
    answers = queries + nranks;
    for (int r = 0; r < 2 * nranks; ++r) queries[r].req = MPI_REQUEST_NULL;
    MPI_Comm dup = MPI_COMM_NULL;
    MPI_Request req;
    int rc = wait_gently(&req, MPI_Comm_idup(MPI_COMM_WORLD, &dup, &req), "MPI_Comm_dup");
    if (rc == 0) {
        peers = dup;
        rc = wait_gently(&req, MPI_Iallgather(my_host, HOST_LEN, MPI_CHAR, all, HOST_LEN, MPI_CHAR,
                                              MPI_COMM_WORLD, &req),
                         "MPI_Allgather");
    }
    if (rc) {
        free(all);
        return rc;
    }
    for (int r = 0; r < nranks; ++r) all[(size_t)r * HOST_LEN + HOST_LEN - 1] = '\0';
    hosts = all;
    return 0;
}

/* Before MPI_Finalize: take in what has come (queries go unanswered now), and let go of
 * this rank's sends that nobody received (a query to a rank that had gone on, an answer
 * to one that had), so that none is left for MPI_Finalize to wait on. The communicator
 * itself is left to MPI_Finalize: a message still in flight to it could otherwise
 * arrive for a freed one. */
static void peers_close(void)
{
    peers_serve(0);
    for (int r = 0; queries && r < 2 * nranks; ++r) {
        int done = 0;
        if (MPI_Test(&queries[r].req, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && done) continue;
        MPI_Cancel(&queries[r].req);
        MPI_Request_free(&queries[r].req);
    }
    free(heard);
    free(queries);
    free(hosts);
    heard = NULL;
    queries = answers = NULL;
    hosts = NULL;
    peers = MPI_COMM_NULL;
    seq = 0;
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
        if ((rc = wait_for(&req, rc, out ? "MPI_Send" : "MPI_Recv", peer)) != 0) return rc;
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
        int rc = wait_for(&req, MPI_Isend(&sent, 1, MPI_DOUBLE, peer, CLOCK_TAG, MPI_COMM_WORLD, &req),
                          "MPI_Send", peer);
        if (rc == 0)
            rc = wait_for(&req, MPI_Irecv(&theirs, 1, MPI_DOUBLE, peer, CLOCK_TAG, MPI_COMM_WORLD, &req),
                          "MPI_Recv", peer);
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
        int rc = wait_for(&req, MPI_Irecv(&ping, 1, MPI_DOUBLE, 0, CLOCK_TAG, MPI_COMM_WORLD, &req),
                          "MPI_Recv", 0);
        double now = leash_now() + skew;
        if (rc == 0)
            rc = wait_for(&req, MPI_Isend(&now, 1, MPI_DOUBLE, 0, CLOCK_TAG, MPI_COMM_WORLD, &req),
                          "MPI_Send", 0);
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
