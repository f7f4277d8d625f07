/* Checkpoint files: see checkpoint_internal.h and doc/file-formats.md. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error_internal.h"
#include "leash/dist.h"
#include "mpi/comm_internal.h"
#include "train/checkpoint_internal.h"
#include "train/model_io_internal.h"

/* --- what a resumed run must match ------------------------------------------------ */

/* The settings that decide what training computes, as (key, value) text pairs: the file
 * keys them by leash's flags (its format since the first checkpoints) and lists them
 * readably, and a mismatch names the configuration's field. Epochs, the target loss and
 * the checkpoint schedule may change between a run and its resumption. */
enum { MAX_PAIRS = 24, VALUE_LEN = 40, FLAG_LEN = 40 };
typedef struct config_pairs {
    int n;
    const char *flag[MAX_PAIRS], *field[MAX_PAIRS];
    char value[MAX_PAIRS][VALUE_LEN];
    const char *layers; /* -A's value: the layer list, of any length */
} config_pairs;

static void pair(config_pairs *p, const char *flag, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void pair(config_pairs *p, const char *flag, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    p->flag[p->n] = flag;
    p->field[p->n] = field;
    vsnprintf(p->value[p->n], VALUE_LEN, fmt, ap);
    va_end(ap);
    ++p->n;
}

/* The shortest text that reads back as v ("0.1", not "0.10000000000000001"). */
static void shortest(char *out, size_t size, double v)
{
    for (int digits = 1; digits <= 17; ++digits) {
        snprintf(out, size, "%.*g", digits, v);
        if (strtod(out, NULL) == v) return;
    }
}

static void pair_double(config_pairs *p, const char *flag, const char *field, double v)
{
    char text[VALUE_LEN];
    shortest(text, sizeof text, v);
    pair(p, flag, field, "%s", text);
}

/* The model is named by its layer list (the MLP preset's -L, -U and --activation are in
 * it), which is compared apart from the pairs. */
static void describe_config(config_pairs *p, const leash_config *c, const leash_model *m,
                            int ranks)
{
    p->n = 0;
    p->layers = m->layers_text;
    pair(p, "-a", "algorithm", "%s", leash_algorithm_name(c->algorithm));
    pair(p, "-n", "threads", "%d", c->threads);
    pair(p, "--init", "init", "%s", leash_init_name(c->init));
    if (c->algorithm == LEASH_ALGO_LSH) {
        if (c->persistence == LEASH_PERSIST_INF)
            pair(p, "-B", "persistence", "inf");
        else
            pair(p, "-B", "persistence", "%ld", c->persistence);
    }
    pair(p, "-r", "rounds", "%ld", c->rounds);
    pair(p, "-b", "batch", "%d", c->batch);
    pair_double(p, "-l", "step", c->step);
    pair_double(p, "-m", "momentum", c->momentum);
    pair(p, "-t", "step_policy", "%s", leash_step_policy_name(c->step_policy));
    pair(p, "--tau-max", "tau_max", "%d", c->tau_max);
    if (c->step_policy == LEASH_STEP_TAIL)
        pair_double(p, "--tail-amplitude", "tail_amplitude", c->tail_amplitude);
    pair(p, "--seed", "seed", "%llu", (unsigned long long)c->seed);
    pair(p, "-D", "dataset", "%s", leash_dataset_name(c->dataset));
    pair(p, "--avg-every", "avg_every", "%ld", c->avg_every);
    pair_double(p, "--avg-period", "avg_period", c->avg_period);
    pair(p, "--avg-mode", "avg_blocking", "%s", c->avg_blocking ? "blocking" : "overlapped");
    pair(p, "ranks", "ranks", "%d", ranks);
}

static void put_string(leash_wbuf *b, const char *s)
{
    size_t n = strlen(s);
    leash_wbuf_u32(b, (uint32_t)n);
    leash_wbuf_bytes(b, s, n);
}

/* A string of at most size - 1 bytes into out; "" and bad on anything longer. */
static void get_string(leash_rbuf *r, char *out, size_t size)
{
    uint32_t n = leash_rbuf_u32(r);
    const unsigned char *p = n < size ? leash_rbuf_take(r, n) : NULL;
    if (!p) {
        r->bad = 1;
        out[0] = '\0';
        return;
    }
    memcpy(out, p, n);
    out[n] = '\0';
}

/* Whether the next string of r is s (bad if there is none). */
static int next_string_is(leash_rbuf *r, const char *s, const char **text, uint32_t *len)
{
    *len = leash_rbuf_u32(r);
    *text = (const char *)leash_rbuf_take(r, *len);
    if (!*text) r->bad = 1;
    return *text && *len == strlen(s) && memcmp(*text, s, *len) == 0;
}

static void write_config(leash_wbuf *b, const leash_checkpoint_id *id)
{
    config_pairs p;
    describe_config(&p, id->cfg, id->model, leash_dist_size());
    leash_wbuf_begin(b, "CONF");
    put_string(b, p.layers);
    leash_wbuf_u32(b, (uint32_t)p.n);
    for (int i = 0; i < p.n; ++i) {
        put_string(b, p.flag[i]);
        put_string(b, p.value[i]);
    }
    leash_wbuf_end(b);
    leash_wbuf_begin(b, "DATA");
    leash_wbuf_u64(b, id->ntest);
    leash_wbuf_u32(b, id->test_digest);
    leash_wbuf_end(b);
}

/* A layout setting ("ranks" or "-n") of the file: a count of at least 1, else -1. */
static int layout_count(const char *value)
{
    char *end;
    long v = strtol(value, &end, 10);
    return *end || end == value || v < 1 || v > INT_MAX ? -1 : (int)v;
}

/* The file's configuration against this run's: every setting must match but the layout
 * (the rank count and -n), which goes to *from_ranks and *from_threads. */
static int check_config(const leash_store *s, const leash_checkpoint_id *id, int *from_ranks,
                        int *from_threads)
{
    const char *path = s->path;
    config_pairs mine;
    describe_config(&mine, id->cfg, id->model, leash_dist_size());
    leash_rbuf r;
    if (leash_store_section(s, "CONF", 0, &r) != 0)
        return leash_fail(LEASH_EFORMAT, "checkpoint %s: no CONF section", path);
    const char *layers;
    uint32_t len;
    if (!next_string_is(&r, mine.layers, &layers, &len) && !r.bad)
        return leash_fail(LEASH_EINVAL, "checkpoint %s: written for leash_config.arch = %.*s, this run is "
                          "leash_config.arch = %s",
                          path, (int)len, layers, mine.layers);
    uint32_t n = leash_rbuf_u32(&r);
    char flag[FLAG_LEN], value[VALUE_LEN];
    for (uint32_t i = 0; i < n && !r.bad; ++i) {
        get_string(&r, flag, sizeof flag);
        get_string(&r, value, sizeof value);
        int *layout = strcmp(flag, "ranks") == 0 ? from_ranks
                      : strcmp(flag, "-n") == 0  ? from_threads
                                                 : NULL;
        if (layout) {
            if ((*layout = layout_count(value)) < 0) r.bad = 1;
            continue;
        }
        for (int k = 0; k < mine.n && !r.bad; ++k) {
            if (strcmp(flag, mine.flag[k]) != 0 || strcmp(value, mine.value[k]) == 0) continue;
            return leash_fail(LEASH_EINVAL,
                              "checkpoint %s: written for leash_config.%s = %s, this run is "
                              "leash_config.%s = %s",
                              path, mine.field[k], value, mine.field[k], mine.value[k]);
        }
    }
    if (r.bad) return leash_fail(LEASH_EFORMAT, "checkpoint %s: malformed CONF section", path);
    /* A setting this run has and the file lacks: written for other defaults. */
    if (n != (uint32_t)mine.n)
        return leash_fail(LEASH_EINVAL,
                          "checkpoint %s: written for another configuration (%u settings, this "
                          "run has %d)",
                          path, n, mine.n);
    if (leash_store_section(s, "DATA", 0, &r) != 0)
        return leash_fail(LEASH_EFORMAT, "checkpoint %s: no DATA section", path);
    uint64_t ntest = leash_rbuf_u64(&r);
    uint32_t digest = leash_rbuf_u32(&r);
    if (r.bad) return leash_fail(LEASH_EFORMAT, "checkpoint %s: malformed DATA section", path);
    if (ntest != id->ntest || digest != id->test_digest)
        return leash_fail(LEASH_EINVAL,
                          "checkpoint %s: written for another test set (%llu samples, CRC "
                          "%08x; this run's: %zu, %08x)",
                          path, (unsigned long long)ntest, digest, id->ntest, id->test_digest);
    return 0;
}

/* --- writing ----------------------------------------------------------------------- */

/* Rank 0: the file from the ranks' states laid end to end (lens: each one's length). */
static int write_file(const leash_checkpoint_id *id, const float *params, const unsigned char *all,
                      const size_t *lens, void (*tail)(leash_wbuf *, const void *),
                      const void *tail_arg)
{
    leash_wbuf b;
    leash_wbuf_init(&b, LEASH_CHECKPOINT_MAGIC, LEASH_CHECKPOINT_VERSION);
    write_config(&b, id);
    leash_model_sections_write(&b, id->cfg, id->model, params, id->map, leash_dist_size());
    size_t off = 0;
    for (int r = 0; r < leash_dist_size(); ++r) {
        leash_wbuf_begin(&b, "RANK");
        leash_wbuf_bytes(&b, all + off, lens[r]);
        leash_wbuf_end(&b);
        off += lens[r];
    }
    if (tail) tail(&b, tail_arg);
    int rc = leash_wbuf_finish(&b);
    if (!rc) rc = leash_write_atomic(id->cfg->checkpoint, b.data, b.len, "leash_config.checkpoint =");
    leash_wbuf_free(&b);
    return rc;
}

int leash_checkpoint_write(const leash_checkpoint_id *id, const float *params, leash_wbuf *mine,
                           void (*tail)(leash_wbuf *, const void *), const void *tail_arg)
{
    const int root = leash_dist_rank() == 0;
    int rc = mine->oom ? leash_fail(LEASH_ENOMEM, "out of memory for a checkpoint") : 0;
    if ((rc = leash_dist_agree(rc)) != 0) {
        leash_wbuf_free(mine);
        return rc;
    }
    unsigned char *all = NULL;
    size_t *lens = root ? calloc((size_t)leash_dist_size(), sizeof *lens) : NULL;
    rc = root && !lens ? leash_fail(LEASH_ENOMEM, "out of memory for a checkpoint") : 0;
    if ((rc = leash_dist_agree(rc)) == 0) rc = leash_comm_gather_bytes(mine->data, mine->len, &all, lens);
    leash_wbuf_free(mine);
    if (!rc && root) rc = write_file(id, params, all, lens, tail, tail_arg);
    free(all);
    free(lens);
    if (rc == LEASH_EMPI) return rc;
    return leash_dist_agree(rc);
}

/* --- reading ----------------------------------------------------------------------- */

/* Who sees a checkpoint: rank 0, and how many other ranks. */
typedef union sightings {
    struct {
        double by_root, by_others;
    };
    double all[2];
} sightings;
LEASH_AGREEMENT(sightings);

int leash_checkpoint_locate(const char *path, int *found)
{
    const int here = access(path, F_OK) == 0, root = leash_dist_rank() == 0;
    sightings seen = {.by_root = root && here, .by_others = !root && here};
    int rc = LEASH_AGREE_SUM(&seen);
    if (rc) return rc;
    *found = seen.by_root > 0;
    if (!*found && seen.by_others > 0 && root)
        rc = leash_fail(LEASH_EINVAL,
                        "checkpoint %s: rank 0 cannot see it but %d other rank%s can: rank 0 "
                        "reads and writes checkpoints, so the path must be visible to it "
                        "(shared storage, or rank 0 on the node that holds the file)",
                        path, (int)seen.by_others, seen.by_others > 1 ? "s" : "");
    return leash_dist_agree(rc);
}

/* The model sections must describe this run's model, its inputs scaled alike; their
 * parameters (the last finished epoch was scored on them) become the result's until the
 * next epoch ends. */
static int read_model(const leash_checkpoint_id *id, const leash_store *s, float *params)
{
    const char *path = s->path;
    leash_saved_model sm;
    int rc = leash_model_sections_read(&sm, s, "checkpoint");
    if (rc) return rc;
    const leash_model *m = id->model;
    if (sm.model.nparams != m->nparams || sm.model.in_h != m->in_h || sm.model.in_w != m->in_w ||
        sm.model.in_c != m->in_c || sm.model.nclasses != m->nclasses)
        rc = leash_fail(LEASH_EINVAL, "checkpoint %s: written for a model of another shape", path);
    else if (memcmp(&sm.map, id->map, sizeof sm.map) != 0)
        rc = leash_fail(LEASH_EINVAL,
                        "checkpoint %s: written for another input scaling (leash_config.input_map)", path);
    else
        memcpy(params, sm.params, m->nparams * sizeof *sm.params);
    leash_saved_model_free(&sm);
    return rc;
}

/* The RANK sections: one for each of the file's ranks, no more. */
static int count_ranks(const leash_store *s, int from_ranks)
{
    leash_rbuf r;
    for (int k = 0; k < from_ranks; ++k)
        if (leash_store_section(s, "RANK", k, &r) != 0)
            return leash_fail(LEASH_EFORMAT, "checkpoint %s: no state for rank %d", s->path, k);
    if (leash_store_section(s, "RANK", from_ranks, &r) == 0)
        return leash_fail(LEASH_EFORMAT, "checkpoint %s: written by more than %d ranks", s->path,
                          from_ranks);
    return 0;
}

int leash_checkpoint_open(leash_checkpoint_file *f, const leash_checkpoint_id *id, float *params)
{
    *f = (leash_checkpoint_file){.from_ranks = leash_dist_size(), .from_threads = id->cfg->threads};
    int rc = leash_store_read(&f->store, id->cfg->resume, LEASH_CHECKPOINT_MAGIC,
                              LEASH_CHECKPOINT_VERSION, "checkpoint");
    if (rc) return rc;
    if ((rc = check_config(&f->store, id, &f->from_ranks, &f->from_threads)) != 0 ||
        (rc = read_model(id, &f->store, params)) != 0 ||
        (rc = count_ranks(&f->store, f->from_ranks)) != 0)
        leash_checkpoint_close(f);
    return rc;
}

void leash_checkpoint_rank(const leash_checkpoint_file *f, int k, leash_rbuf *r)
{
    leash_store_section(&f->store, "RANK", k, r);
}

int leash_checkpoint_lay_out(const leash_checkpoint_file *f, int ranks, unsigned char **all,
                             size_t *lens)
{
    leash_rbuf r;
    size_t total = 0;
    for (int k = 0; k < ranks; ++k) {
        leash_checkpoint_rank(f, k < f->from_ranks ? k : 0, &r);
        total += (lens[k] = r.len);
    }
    if (!(*all = malloc(total ? total : 1)))
        return leash_fail(LEASH_ENOMEM, "checkpoint %s: out of memory", f->store.path);
    for (size_t k = 0, off = 0; k < (size_t)ranks; off += lens[k++]) {
        leash_checkpoint_rank(f, (int)k < f->from_ranks ? (int)k : 0, &r);
        memcpy(*all + off, r.p, r.len);
    }
    return 0;
}

void leash_checkpoint_close(leash_checkpoint_file *f) { leash_store_free(&f->store); }
