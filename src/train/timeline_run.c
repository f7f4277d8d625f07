/* A run's timeline: see timeline_run_internal.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock_internal.h"
#include "core/error_internal.h"
#include "core/store_internal.h"
#include "leash/dist.h"
#include "mpi/comm_internal.h"
#include "train/timeline_run_internal.h"

/* A rank's part as sent to rank 0: this header, a header per track, then every track's
 * events (the ranks of one job share one architecture). */
typedef struct part_header {
    uint32_t ntracks;
    uint32_t reserved;
} part_header;

typedef struct track_header {
    uint32_t n;
    uint32_t reserved;
    double cut_at; /* this rank's clock, or < 0 */
} track_header;

/* A test hook (LEASH_TEST_CLOCK_SKEW=RANK:SECONDS, RANK > 0): that rank's timeline runs
 * on a clock that far ahead of its real one, as another node's clock would, so that
 * tests can see the alignment undo it. 0 everywhere else (rank 0's clock is the
 * reference: skewing it would skew nothing). */
static double test_skew(void)
{
    const char *hook = getenv("LEASH_TEST_CLOCK_SKEW");
    int rank;
    double s;
    if (hook && sscanf(hook, "%d:%lf", &rank, &s) == 2 && rank > 0 && rank == leash_dist_rank() &&
        fabs(s) < 1e6)
        return s;
    return 0.0;
}

/* The events each thread of each rank may keep: the file's cap shared evenly, or 0 (with
 * the error said) when that leaves a thread too few to show anything. The same on every
 * rank: the ranks share one configuration. */
static long track_room(const leash_config *cfg, int ranks)
{
    const long threads = (long)ranks * (cfg->threads + 1L);
    if (cfg->timeline_every < 1 || cfg->timeline_max_events < LEASH_TIMELINE_MIN_EVENTS ||
        cfg->timeline_max_events > LEASH_TIMELINE_MAX_EVENTS_LIMIT) {
        leash_fail(LEASH_EINVAL,
                   "leash_config.timeline_every = %ld, leash_config.timeline_max_events = %ld: "
                   "at least 1, and %ld to %ld",
                   cfg->timeline_every, cfg->timeline_max_events,
                   (long)LEASH_TIMELINE_MIN_EVENTS, (long)LEASH_TIMELINE_MAX_EVENTS_LIMIT);
        return 0;
    }
    if (cfg->timeline_max_events / threads < LEASH_TIMELINE_MIN_TRACK) {
        leash_fail(LEASH_EINVAL,
                   "leash_config.timeline_max_events = %ld: fewer than %d events a thread (%d "
                   "rank(s) x %d threads: give at least %ld)",
                   cfg->timeline_max_events, LEASH_TIMELINE_MIN_TRACK, ranks, cfg->threads + 1,
                   threads * LEASH_TIMELINE_MIN_TRACK);
        return 0;
    }
    return cfg->timeline_max_events / threads;
}

int leash_tl_run_start(leash_tl_run *r, const leash_config *cfg)
{
    memset(r, 0, sizeof *r);
    if (!cfg->timeline) return 0;
    const int ranks = leash_dist_size(), root = leash_dist_rank() == 0;
    const long room = track_room(cfg, ranks);
    int rc = room ? leash_timeline_create(&r->tl, cfg->threads, cfg->timeline_every, room) : LEASH_EINVAL;
    if (rc == 0 && root) {
        r->offset = calloc((size_t)ranks, sizeof *r->offset);
        r->uncertainty = calloc((size_t)ranks, sizeof *r->uncertainty);
        if (!r->offset || !r->uncertainty) rc = leash_fail(LEASH_ENOMEM, "timeline: out of memory");
    }
    r->skew = test_skew();
    if ((rc = leash_dist_agree(rc)) == 0)
        rc = leash_comm_clock_offsets(r->offset, r->uncertainty, r->skew);
    r->origin = leash_now() + r->skew;
    return rc;
}

leash_tl_track *leash_tl_run_track(leash_tl_run *r, int w)
{
    return r->tl.tracks ? &r->tl.tracks[w] : NULL;
}

void leash_tl_run_free(leash_tl_run *r)
{
    leash_timeline_destroy(&r->tl);
    free(r->offset);
    free(r->uncertainty);
    memset(r, 0, sizeof *r);
}

/* This rank's part (malloc'd), as laid out above, its times on the (test-skewed) clock. */
static unsigned char *pack(const leash_timeline *tl, double skew, size_t *len)
{
    size_t bytes = sizeof(part_header) + (size_t)tl->ntracks * sizeof(track_header);
    for (int i = 0; i < tl->ntracks; ++i) bytes += tl->tracks[i].n * sizeof(leash_tl_event);
    unsigned char *p = malloc(bytes);
    if (!p) return NULL;
    const part_header h = {.ntracks = (uint32_t)tl->ntracks};
    memcpy(p, &h, sizeof h);
    size_t at = sizeof h;
    for (int i = 0; i < tl->ntracks; ++i, at += sizeof(track_header)) {
        const double cut_at = tl->tracks[i].cut_at;
        const track_header th = {.n = tl->tracks[i].n, .cut_at = cut_at < 0 ? cut_at : cut_at + skew};
        memcpy(p + at, &th, sizeof th);
    }
    for (int i = 0; i < tl->ntracks; ++i)
        for (uint32_t k = 0; k < tl->tracks[i].n; ++k, at += sizeof(leash_tl_event)) {
            leash_tl_event e = tl->tracks[i].ev[k];
            e.t0 += skew;
            e.t1 += skew;
            memcpy(p + at, &e, sizeof e);
        }
    *len = bytes;
    return p;
}

/* Microseconds with three decimals from nanoseconds, exactly: spans nested when recorded
 * stay nested in the file. */
static void put_us(FILE *f, long long ns)
{
    fprintf(f, "%s%lld.%03lld", ns < 0 ? "-" : "", llabs(ns) / 1000, llabs(ns) % 1000);
}

static void put_args(FILE *f, const leash_tl_event *e)
{
    switch ((leash_tl_kind)e->kind) {
    case LEASH_TL_CAS: fprintf(f, "{\"failed\":%s}", e->arg ? "true" : "false"); break;
    case LEASH_TL_STALENESS: fprintf(f, "{\"tau\":%u}", e->arg); break;
    case LEASH_TL_LIVE: fprintf(f, "{\"versions\":%u}", e->arg); break;
    case LEASH_TL_ROUND:
    case LEASH_TL_SNAPSHOT:
    case LEASH_TL_EXCHANGE:
    case LEASH_TL_CORRECTION: fprintf(f, "{\"round\":%u}", e->arg); break;
    default: fputs("{}", f);
    }
}

/* One event of rank pid's thread tid; zero: the rank's own clock at rank 0's time zero. */
static void put_event(FILE *f, const leash_tl_event *e, int pid, int tid, int main_tid, double zero)
{
    const char ph = leash_tl_kind_phase((leash_tl_kind)e->kind);
    const long long t0 = llround((e->t0 - zero) * 1e9), t1 = llround((e->t1 - zero) * 1e9);
    fprintf(f, ",\n{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"%c\",\"pid\":%d,\"tid\":%d,\"ts\":",
            leash_tl_kind_name((leash_tl_kind)e->kind), tid == main_tid ? "main" : "worker", ph,
            pid, tid);
    put_us(f, t0);
    if (ph == 'X') {
        fputs(",\"dur\":", f);
        put_us(f, t1 - t0);
    }
    if (ph == 'i') fputs(",\"s\":\"t\"", f);
    fputs(",\"args\":", f);
    put_args(f, e);
    fputc('}', f);
}

/* A host name as a JSON string's content: anything unusual becomes '?'. */
static void clean_host(char *h)
{
    for (; *h; ++h)
        if (!((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') || (*h >= '0' && *h <= '9') ||
              *h == '.' || *h == '-' || *h == '_'))
            *h = '?';
}

/* Names and order of rank pid's process and threads. */
static void put_names(FILE *f, int pid, const char *host, int ntracks)
{
    fprintf(f, ",\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"ts\":0,"
               "\"args\":{\"name\":\"rank %d (%s)\"}}",
            pid, pid, host);
    fprintf(f, ",\n{\"name\":\"process_sort_index\",\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"ts\":0,"
               "\"args\":{\"sort_index\":%d}}",
            pid, pid);
    for (int w = 0; w < ntracks; ++w) {
        char name[32];
        if (w == ntracks - 1)
            snprintf(name, sizeof name, "main");
        else
            snprintf(name, sizeof name, "worker %d", w);
        fprintf(f, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"ts\":0,"
                   "\"args\":{\"name\":\"%s\"}}",
                pid, w, name);
        fprintf(f, ",\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"ts\":0,"
                   "\"args\":{\"sort_index\":%d}}",
                pid, w, w);
    }
}

/* Where a track ran out of room: an instant that says so. */
static void put_cut(FILE *f, int pid, int tid, double at, double zero, long max_events)
{
    fprintf(f, ",\n{\"name\":\"timeline cut\",\"cat\":\"leash\",\"ph\":\"i\",\"s\":\"t\",\"pid\":%d,"
               "\"tid\":%d,\"ts\":",
            pid, tid);
    put_us(f, llround((at - zero) * 1e9));
    fprintf(f, ",\"args\":{\"note\":\"this track's share of the file's %ld events was full: "
               "nothing after this point was recorded\"}}",
            max_events);
}

/* Rank pid's part into the document; -1 if it is malformed. zero: its clock at rank 0's
 * time zero. */
static int put_part(FILE *f, const unsigned char *p, size_t len, int pid, double zero,
                    long max_events, leash_result *res, uint64_t *events)
{
    part_header h;
    if (len < sizeof h) return -1;
    memcpy(&h, p, sizeof h);
    size_t at = sizeof h + (size_t)h.ntracks * sizeof(track_header);
    if (h.ntracks == 0 || h.ntracks > 65536 || len < at) return -1;
    char host[256];
    snprintf(host, sizeof host, "%s", leash_comm_host(pid)); /* gathered at start-up */
    clean_host(host);
    put_names(f, pid, host, (int)h.ntracks);
    for (uint32_t i = 0; i < h.ntracks; ++i) {
        track_header th;
        memcpy(&th, p + sizeof h + i * sizeof th, sizeof th);
        if ((len - at) / sizeof(leash_tl_event) < th.n) return -1;
        for (uint32_t k = 0; k < th.n; ++k, at += sizeof(leash_tl_event)) {
            leash_tl_event e;
            memcpy(&e, p + at, sizeof e);
            put_event(f, &e, pid, (int)i, (int)h.ntracks - 1, zero);
        }
        *events += th.n;
        if (th.cut_at >= 0) {
            res->timeline_cut = 1;
            put_cut(f, pid, (int)i, th.cut_at, zero, max_events);
        }
    }
    return 0;
}

/* The document's closing metadata: what was recorded, and how well the clocks agree. */
static void put_other(FILE *f, const leash_tl_run *r, const leash_config *cfg, int ranks,
                      uint64_t events, int cut)
{
    fprintf(f, "\n],\n\"displayTimeUnit\":\"ms\",\n\"otherData\":{\"generator\":\"leash\","
               "\"algorithm\":\"%s\",\"threads\":%d,\"ranks\":%d,\"timeline_every\":%ld,"
               "\"max_events\":%ld,\"events\":%llu,\"cut\":%s,",
            leash_algorithm_name(cfg->algorithm), cfg->threads, ranks, cfg->timeline_every,
            cfg->timeline_max_events, (unsigned long long)events, cut ? "true" : "false");
    if (cut)
        fputs("\"note\":\"cut short: a track ran out of room (see its 'timeline cut' event); "
              "raise --timeline-max-events or record fewer updates (--timeline-every)\",",
              f);
    fputs("\"clock\":\"each rank's monotonic clock shifted onto rank 0's; ts 0 is the "
          "timeline's start on rank 0\",\"clock_offset_us\":[",
          f);
    for (int k = 0; k < ranks; ++k) fprintf(f, "%s%.3f", k ? "," : "", r->offset[k] * 1e6);
    fputs("],\"clock_uncertainty_us\":[", f);
    for (int k = 0; k < ranks; ++k) fprintf(f, "%s%.3f", k ? "," : "", r->uncertainty[k] * 1e6);
    fputs("]}}\n", f);
}

/* Rank 0: the whole document from every rank's part, to cfg->timeline. */
static int write_doc(leash_tl_run *r, const leash_config *cfg, const unsigned char *all,
                     const size_t *lens, leash_result *res)
{
    const int ranks = leash_dist_size();
    char *doc = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&doc, &len);
    if (!f) return leash_fail(LEASH_ENOMEM, "timeline: out of memory");
    fputs("{\"traceEvents\":[\n{\"name\":\"start\",\"cat\":\"leash\",\"ph\":\"i\",\"s\":\"g\","
          "\"pid\":0,\"tid\":0,\"ts\":0,\"args\":{}}",
          f);
    int rc = 0;
    size_t at = 0;
    uint64_t events = 0;
    res->timeline_cut = 0;
    for (int k = 0; k < ranks && rc == 0; at += lens[k], ++k)
        if (put_part(f, all + at, lens[k], k, r->origin + r->offset[k], cfg->timeline_max_events,
                     res, &events) != 0)
            rc = leash_fail(LEASH_EFORMAT, "timeline: rank %d's events are malformed", k);
    put_other(f, r, cfg, ranks, events, res->timeline_cut);
    res->timeline_events = events;
    if (ferror(f) && rc == 0) rc = leash_fail(LEASH_ENOMEM, "timeline: out of memory");
    if (fclose(f) != 0 && rc == 0) rc = leash_fail(LEASH_ENOMEM, "timeline: out of memory");
    if (rc == 0) rc = leash_write_output(cfg->timeline, doc, len, "leash_config.timeline =");
    free(doc);
    return rc;
}

/* Rank 0's own failure to write the file is the timeline's, not the run's: it goes into
 * res (timeline_error, timeline_message) and the run's outcome stands. The ranks do not
 * wait while rank 0 writes. */
int leash_tl_run_write(leash_tl_run *r, const leash_config *cfg, leash_result *res)
{
    if (!r->tl.tracks) return 0;
    res->timeline_events = leash_timeline_events(&r->tl);
    size_t len = 0, *lens = NULL;
    unsigned char *mine = pack(&r->tl, r->skew, &len), *all = NULL;
    int rc = mine ? 0 : leash_fail(LEASH_ENOMEM, "timeline: out of memory");
    if (rc == 0 && leash_dist_rank() == 0 &&
        !(lens = calloc((size_t)leash_dist_size(), sizeof *lens)))
        rc = leash_fail(LEASH_ENOMEM, "timeline: out of memory");
    if ((rc = leash_dist_agree(rc)) == 0)
        rc = leash_comm_gather_bytes(mine, len, leash_dist_rank() == 0 ? &all : NULL, lens);
    free(mine);
    if (rc == 0 && leash_dist_rank() == 0 && (res->timeline_error = write_doc(r, cfg, all, lens, res)))
        snprintf(res->timeline_message, sizeof res->timeline_message, "%s", leash_last_error());
    free(all);
    free(lens);
    return rc;
}
