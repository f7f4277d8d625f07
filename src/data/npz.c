/* NumPy .npz datasets: a zip archive (read with libzip) of .npy arrays, whose headers are
 * parsed here (see leash/data.h for what is accepted). Every size comes from the file, so
 * each is bounded and overflow-checked, and checked against the others (the zip's stated
 * sizes against the .npy header's promise), before anything is allocated. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zip.h>

#include "core/error_internal.h"
#include "core/hugemem_internal.h"
#include "data/npz_internal.h"
#include "leash/data.h"

enum { X_TRAIN, Y_TRAIN, X_TEST, Y_TEST, NARRAYS };
static const char *const array_name[NARRAYS] = {"x_train", "y_train", "x_test", "y_test"};

#define NPY_MAGIC "\x93NUMPY"
#define NPY_PREFIX 8         /* the magic, then major and minor version bytes */
#define NPY_MAX_DIMS 32      /* numpy's own limit */
#define NPY_MAX_HEADER 65536 /* numpy writes about 128 bytes, and reads at most 10000 */
#define MAX_SIDE 65536       /* of H, W and F: what a saved model may hold (model_io.c) */
#define MAX_CLASSES 256      /* labels are stored as bytes */
/* Deflate cannot expand data by more than about 1032:1: a larger stated size is a lie
 * (or a bomb) that no allocation should follow. */
#define DEFLATE_MAX_RATIO 1032
#define CHUNK ((size_t)1 << 16)

typedef enum npy_kind { NPY_UINT, NPY_INT, NPY_FLOAT } npy_kind;

typedef struct npy_array {
    char descr[64]; /* the dtype as written, for messages */
    int structured; /* the dtype is a list of fields, not a string */
    npy_kind kind;
    size_t itemsize;
    int ndim;
    uint64_t shape[NPY_MAX_DIMS];
    int fortran;
    size_t header_bytes; /* before the data: prefix, length field, header text */
    size_t count;        /* elements */
    size_t nbytes;       /* bytes of data */
} npy_array;

typedef struct npz {
    const char *path; /* for messages */
    zip_t *za;
    uint64_t archive_size;
    zip_int64_t index[NARRAYS]; /* entries' indices; -1: absent */
    npy_array a[NARRAYS];
    int h, w, c, is_float, has_test;
} npz;

static int fail_array(const npz *z, int k, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_array(const npz *z, int k, int code, const char *fmt, ...)
{
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return leash_fail(code, "%s: array '%s': %s", z->path, array_name[k], what);
}

static int is_x(int k) { return k == X_TRAIN || k == X_TEST; }

/* --- the .npy header's dict ------------------------------------------------------- */

typedef struct cursor {
    const char *p, *end;
} cursor;

static void skip_space(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        ++c->p;
}

static int eat(cursor *c, char ch)
{
    skip_space(c);
    if (c->p == c->end || *c->p != ch) return 0;
    ++c->p;
    return 1;
}

static int eat_word(cursor *c, const char *word)
{
    size_t n = strlen(word);
    skip_space(c);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) return 0;
    c->p += n;
    return 1;
}

/* A quoted string of printable characters without escapes (no string a header leash
 * accepts needs one), so that it can go into a one-line message as it is. */
static int parse_string(cursor *c, char *out, size_t cap)
{
    skip_space(c);
    if (c->p == c->end || (*c->p != '\'' && *c->p != '"')) return -1;
    char quote = *c->p++;
    size_t len = 0;
    for (; c->p < c->end && *c->p != quote; ++c->p) {
        if (*c->p == '\\' || *c->p < ' ' || *c->p > '~' || len + 1 >= cap) return -1;
        out[len++] = *c->p;
    }
    if (c->p == c->end) return -1;
    ++c->p;
    out[len] = '\0';
    return 0;
}

static int parse_uint(cursor *c, uint64_t *v)
{
    skip_space(c);
    if (c->p == c->end || *c->p < '0' || *c->p > '9') return -1;
    uint64_t x = 0;
    for (; c->p < c->end && *c->p >= '0' && *c->p <= '9'; ++c->p) {
        unsigned d = (unsigned)(*c->p - '0');
        if (x > (UINT64_MAX - d) / 10) return -1;
        x = x * 10 + d;
    }
    if (c->p < c->end && *c->p == 'L') ++c->p; /* Python 2's long literal, in old files */
    *v = x;
    return 0;
}

/* (), (n,), (n, m), ... */
static int parse_shape(cursor *c, npy_array *a)
{
    a->ndim = 0;
    if (!eat(c, '(')) return -1;
    if (eat(c, ')')) return 0;
    for (;;) {
        if (a->ndim == NPY_MAX_DIMS || parse_uint(c, &a->shape[a->ndim++]) != 0) return -1;
        if (eat(c, ')')) return 0;
        if (!eat(c, ',')) return -1;
        if (eat(c, ')')) return 0;
    }
}

/* A parse failure: *why says what is wrong. */
static int bad(const char **why, const char *what)
{
    *why = what;
    return -1;
}

/* One key: value pair; 1 when the dtype is structured (nothing more to read: it is
 * refused whatever follows). */
static int parse_entry(cursor *c, npy_array *a, int *seen, const char **why)
{
    char key[16];
    if (parse_string(c, key, sizeof key) != 0 || !eat(c, ':'))
        return bad(why, "a key is not a quoted name followed by ':'");
    int bit = !strcmp(key, "descr")           ? 1
              : !strcmp(key, "fortran_order") ? 2
              : !strcmp(key, "shape")         ? 4
                                              : 0;
    if (!bit) return bad(why, "a key other than 'descr', 'fortran_order' and 'shape'");
    if (*seen & bit) return bad(why, "a key given twice");
    *seen |= bit;
    if (bit == 1) {
        skip_space(c);
        if (c->p < c->end && *c->p == '[') return a->structured = 1;
        if (parse_string(c, a->descr, sizeof a->descr) != 0)
            return bad(why, "'descr' is not a dtype string");
    } else if (bit == 2) {
        if (eat_word(c, "True"))
            a->fortran = 1;
        else if (eat_word(c, "False"))
            a->fortran = 0;
        else
            return bad(why, "'fortran_order' is neither True nor False");
    } else if (parse_shape(c, a) != 0) {
        return bad(why, "'shape' is not a tuple of sizes");
    }
    return 0;
}

/* {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } and padding. */
static int parse_dict(npy_array *a, const char *text, size_t len, const char **why)
{
    cursor c = {text, text + len};
    int seen = 0, rc;
    if (!eat(&c, '{')) return bad(why, "no '{'");
    while (!eat(&c, '}')) {
        if ((rc = parse_entry(&c, a, &seen, why)) != 0) return rc > 0 ? 0 : -1;
        if (eat(&c, ',')) continue;
        if (eat(&c, '}')) break;
        return bad(why, "no ',' or '}' after a value");
    }
    skip_space(&c);
    if (c.p != c.end) return bad(why, "text after the dict");
    if (seen != 7)
        return bad(why, !(seen & 1)   ? "no 'descr'"
                        : !(seen & 2) ? "no 'fortran_order'"
                                      : "no 'shape'");
    return 0;
}

/* --- reading entries ---------------------------------------------------------------- */

/* A libzip failure on array k's entry, by what libzip says went wrong. */
static int zip_failure(const npz *z, int k, zip_error_t *e)
{
    int code = zip_error_code_zip(e);
    if (code == ZIP_ER_MEMORY) return fail_array(z, k, LEASH_ENOMEM, "out of memory");
    if (code == ZIP_ER_READ || code == ZIP_ER_SEEK)
        return fail_array(z, k, LEASH_EIO, "cannot read entry %s.npy: %s", array_name[k],
                          zip_error_strerror(e));
    return fail_array(z, k, LEASH_EFORMAT, "corrupt entry %s.npy (libzip: %s)", array_name[k],
                      zip_error_strerror(e));
}

/* Up to n bytes; fewer only at the entry's end. */
static int read_some(const npz *z, int k, zip_file_t *f, void *buf, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n) {
        zip_int64_t r = zip_fread(f, (char *)buf + *got, n - *got);
        if (r < 0) return zip_failure(z, k, zip_file_get_error(f));
        if (r == 0) break;
        *got += (size_t)r;
    }
    return 0;
}

static int truncated(const npz *z, int k, size_t has)
{
    return fail_array(z, k, LEASH_EFORMAT,
                      "truncated: its header promises %zu bytes of data, the entry holds %zu",
                      z->a[k].nbytes, has);
}

static int read_exact(const npz *z, int k, zip_file_t *f, void *buf, size_t n)
{
    size_t got;
    int rc = read_some(z, k, f, buf, n, &got);
    if (rc == 0 && got < n) rc = truncated(z, k, got);
    return rc;
}

/* The data end where the header says. Reading on to the end also has libzip check the
 * entry's CRC and size. */
static int expect_end(const npz *z, int k, zip_file_t *f)
{
    unsigned char extra[64];
    size_t got;
    int rc = read_some(z, k, f, extra, sizeof extra, &got);
    if (rc == 0 && got > 0)
        rc = fail_array(z, k, LEASH_EFORMAT, "more data than its header promises (%zu bytes)",
                        z->a[k].nbytes);
    return rc;
}

static int open_entry(const npz *z, int k, zip_file_t **f)
{
    *f = zip_fopen_index(z->za, (zip_uint64_t)z->index[k], 0);
    return *f ? 0 : zip_failure(z, k, zip_get_error(z->za));
}

/* The magic, the version, the header's length and its dict. */
static int read_header(const npz *z, int k, zip_file_t *f, npy_array *a)
{
    uint8_t pre[NPY_PREFIX + 4];
    size_t got;
    int rc = read_some(z, k, f, pre, NPY_PREFIX, &got);
    if (rc) return rc;
    if (got < NPY_PREFIX || memcmp(pre, NPY_MAGIC, 6) != 0)
        return fail_array(z, k, LEASH_EFORMAT, "entry %s.npy is not a .npy array (no magic)",
                          array_name[k]);
    int major = pre[6], minor = pre[7];
    if (major < 1 || major > 3 || minor != 0)
        return fail_array(z, k, LEASH_EFORMAT,
                          ".npy format version %d.%d is not supported (1.0, 2.0 or 3.0)", major,
                          minor);
    size_t lenbytes = major == 1 ? 2 : 4;
    if ((rc = read_some(z, k, f, pre + NPY_PREFIX, lenbytes, &got)) != 0) return rc;
    if (got < lenbytes) return fail_array(z, k, LEASH_EFORMAT, "truncated .npy header");
    size_t len = (size_t)pre[8] | (size_t)pre[9] << 8;
    if (major > 1) len |= (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    if (len > NPY_MAX_HEADER)
        return fail_array(z, k, LEASH_EFORMAT, ".npy header of %zu bytes (at most %d are read)",
                          len, NPY_MAX_HEADER);
    char *text = malloc(len + 1);
    if (!text) return fail_array(z, k, LEASH_ENOMEM, "out of memory");
    rc = read_some(z, k, f, text, len, &got);
    const char *why = NULL;
    if (rc == 0 && got < len) rc = fail_array(z, k, LEASH_EFORMAT, "truncated .npy header");
    if (rc == 0 && parse_dict(a, text, len, &why) != 0)
        rc = fail_array(z, k, LEASH_EFORMAT, "malformed .npy header: %s", why);
    free(text);
    a->header_bytes = NPY_PREFIX + lenbytes + len;
    return rc;
}

/* --- what each array may hold ----------------------------------------------------- */

/* A plain number dtype: [byte order] kind size, as '<f4', '|u1', 'i8'. */
static int decode_descr(npy_array *a, char *order)
{
    const char *d = a->descr;
    *order = *d == '<' || *d == '>' || *d == '|' || *d == '=' ? *d++ : '\0';
    char kind = *d++;
    if (kind != 'u' && kind != 'i' && kind != 'f') return -1;
    if (*d < '1' || *d > '8' || d[1] != '\0') return -1;
    a->itemsize = (size_t)(*d - '0');
    a->kind = kind == 'u' ? NPY_UINT : kind == 'i' ? NPY_INT : NPY_FLOAT;
    size_t s = a->itemsize;
    return s == 1 || s == 2 || s == 4 || s == 8 ? 0 : -1;
}

static int check_dtype(npz *z, int k)
{
    npy_array *a = &z->a[k];
    const char *want =
        is_x(k) ? "uint8, float32 or float64" : "an integer dtype: int8-int64 or uint8-uint64";
    if (a->structured)
        return fail_array(z, k, LEASH_EFORMAT, "a structured dtype is not supported (%s)", want);
    if (strchr(a->descr, 'O'))
        return fail_array(z, k, LEASH_EFORMAT,
                          "dtype '%s' holds Python objects (a pickle), which are never loaded",
                          a->descr);
    char order;
    int ok = decode_descr(a, &order) == 0;
    if (ok && order == '>' && a->itemsize > 1)
        return fail_array(z, k, LEASH_EFORMAT,
                          "dtype '%s' is big-endian: only little-endian data are supported "
                          "(convert with .astype('<%s'))",
                          a->descr, a->descr + 1);
    ok = ok && (a->itemsize == 1 ? order != '=' : order == '<');
    if (is_x(k))
        ok = ok &&
             (a->kind == NPY_FLOAT ? a->itemsize >= 4 : a->kind == NPY_UINT && a->itemsize == 1);
    else
        ok = ok && a->kind != NPY_FLOAT;
    if (!ok)
        return fail_array(z, k, LEASH_EFORMAT, "dtype '%s' is not supported (%s)", a->descr, want);
    if (a->fortran)
        return fail_array(z, k, LEASH_EFORMAT,
                          "Fortran order is not supported: save a C-ordered array "
                          "(np.ascontiguousarray)");
    return 0;
}

/* "(3, 4)", "(3,)", as Python writes tuples. */
static void format_shape(char *out, size_t cap, const uint64_t *shape, int ndim)
{
    size_t len = (size_t)snprintf(out, cap, "(");
    for (int i = 0; i < ndim && len < cap; ++i)
        len += (size_t)snprintf(out + len, cap - len, i ? ", %llu" : "%llu",
                                (unsigned long long)shape[i]);
    if (len < cap) snprintf(out + len, cap - len, ndim == 1 ? ",)" : ")");
}

static int check_x_shape(const npz *z, int k)
{
    const npy_array *a = &z->a[k];
    char shape[256];
    format_shape(shape, sizeof shape, a->shape, a->ndim);
    if (a->ndim < 2 || a->ndim > 4)
        return fail_array(z, k, LEASH_EFORMAT,
                          "shape %s is not supported: (N, H, W), (N, H, W, C) or (N, F)", shape);
    if (a->shape[0] == 0) return fail_array(z, k, LEASH_EFORMAT, "no samples (shape %s)", shape);
    for (int i = 1; i < a->ndim; ++i)
        if (a->shape[i] == 0)
            return fail_array(z, k, LEASH_EFORMAT, "empty samples (shape %s)", shape);
    uint64_t h = a->ndim == 2 ? 1 : a->shape[1], w = a->ndim == 2 ? a->shape[1] : a->shape[2];
    if (h > MAX_SIDE || w > MAX_SIDE)
        return fail_array(z, k, LEASH_EFORMAT, "shape %s: sides of at most %d are supported", shape,
                          MAX_SIDE);
    if (a->ndim == 4 && a->shape[3] > LEASH_MAX_CHANNELS)
        return fail_array(z, k, LEASH_EFORMAT,
                          "shape %s: %llu channels, at most %d are supported (channels last)",
                          shape, (unsigned long long)a->shape[3], LEASH_MAX_CHANNELS);
    return 0;
}

static int check_y_shape(const npz *z, int k)
{
    const npy_array *a = &z->a[k];
    char shape[256];
    format_shape(shape, sizeof shape, a->shape, a->ndim);
    if (a->ndim != 1 && !(a->ndim == 2 && a->shape[1] == 1))
        return fail_array(z, k, LEASH_EFORMAT, "shape %s is not supported: labels are (N,)", shape);
    if (a->shape[0] == 0) return fail_array(z, k, LEASH_EFORMAT, "no samples (shape %s)", shape);
    return 0;
}

/* The entry's stated sizes, before anything is read. */
static int check_entry(const npz *z, int k, const zip_stat_t *st)
{
    const zip_uint64_t need = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD;
    const char *name = array_name[k];
    if ((st->valid & need) != need)
        return fail_array(z, k, LEASH_EFORMAT, "entry %s.npy has no stated size", name);
    if ((st->valid & ZIP_STAT_ENCRYPTION_METHOD) && st->encryption_method != ZIP_EM_NONE)
        return fail_array(z, k, LEASH_EFORMAT, "entry %s.npy is encrypted", name);
    if (st->comp_method != ZIP_CM_STORE && st->comp_method != ZIP_CM_DEFLATE)
        return fail_array(z, k, LEASH_EFORMAT,
                          "entry %s.npy is compressed with method %d: only stored and deflated "
                          "entries (np.savez, np.savez_compressed) are supported",
                          name, (int)st->comp_method);
    /* The archive holds the compressed bytes, and they bound the uncompressed ones. */
    uint64_t most = st->comp_size;
    if (st->comp_method == ZIP_CM_DEFLATE)
        most =
            most < UINT64_MAX / DEFLATE_MAX_RATIO - 1 ? (most + 1) * DEFLATE_MAX_RATIO : UINT64_MAX;
    if (st->comp_size > z->archive_size || st->size > most)
        return fail_array(z, k, LEASH_EFORMAT,
                          "entry %s.npy states %llu bytes uncompressed, more than its %llu "
                          "compressed bytes can hold",
                          name, (unsigned long long)st->size, (unsigned long long)st->comp_size);
    return 0;
}

/* Elements and bytes, overflow-checked, and the zip's stated size against them. */
static int check_sizes(npz *z, int k, const zip_stat_t *st)
{
    npy_array *a = &z->a[k];
    size_t count = 1;
    for (int i = 0; i < a->ndim; ++i) {
        if (a->shape[i] > SIZE_MAX || (a->shape[i] && count > SIZE_MAX / a->shape[i]))
            return fail_array(z, k, LEASH_EFORMAT, "its shape holds more than %zu elements",
                              SIZE_MAX);
        count *= (size_t)a->shape[i];
    }
    a->count = count;
    if (count > (SIZE_MAX - a->header_bytes) / a->itemsize)
        return fail_array(z, k, LEASH_EFORMAT, "its shape holds more than %zu bytes", SIZE_MAX);
    a->nbytes = count * a->itemsize;
    if (st->size != a->header_bytes + a->nbytes)
        return fail_array(z, k, LEASH_EFORMAT,
                          "entry %s.npy states %llu bytes uncompressed, but its .npy header "
                          "promises %zu (%zu of header, %zu of data)",
                          array_name[k], (unsigned long long)st->size, a->header_bytes + a->nbytes,
                          a->header_bytes, a->nbytes);
    return 0;
}

static int read_array_header(npz *z, int k)
{
    zip_stat_t st;
    zip_file_t *f;
    if (zip_stat_index(z->za, (zip_uint64_t)z->index[k], 0, &st) != 0)
        return zip_failure(z, k, zip_get_error(z->za));
    int rc = check_entry(z, k, &st);
    if (rc == 0) rc = open_entry(z, k, &f);
    if (rc) return rc;
    rc = read_header(z, k, f, &z->a[k]);
    if (rc == 0) rc = check_dtype(z, k);
    if (rc == 0) rc = is_x(k) ? check_x_shape(z, k) : check_y_shape(z, k);
    if (rc == 0) rc = check_sizes(z, k, &st);
    zip_fclose(f);
    return rc;
}

/* --- the arrays together --------------------------------------------------------- */

static int locate(npz *z)
{
    for (int k = 0; k < NARRAYS; ++k) {
        char name[16];
        snprintf(name, sizeof name, "%s.npy", array_name[k]);
        z->index[k] = zip_name_locate(z->za, name, 0);
    }
    for (int k = X_TRAIN; k <= Y_TRAIN; ++k)
        if (z->index[k] < 0)
            return leash_fail(LEASH_EFORMAT,
                              "%s: no array '%s' (entry %s.npy): an .npz dataset holds x_train "
                              "and y_train, and optionally x_test and y_test",
                              z->path, array_name[k], array_name[k]);
    z->has_test = z->index[X_TEST] >= 0 && z->index[Y_TEST] >= 0;
    if (!z->has_test && (z->index[X_TEST] >= 0 || z->index[Y_TEST] >= 0)) {
        int has = z->index[X_TEST] >= 0 ? X_TEST : Y_TEST;
        return leash_fail(LEASH_EFORMAT, "%s: array '%s' without '%s': a test split needs both",
                          z->path, array_name[has], array_name[has == X_TEST ? Y_TEST : X_TEST]);
    }
    return 0;
}

/* H, W, C of array k's samples: (N, F) is one row of F values. */
static void sample_shape(const npy_array *a, int *h, int *w, int *c)
{
    *h = a->ndim == 2 ? 1 : (int)a->shape[1];
    *w = a->ndim == 2 ? (int)a->shape[1] : (int)a->shape[2];
    *c = a->ndim == 4 ? (int)a->shape[3] : 1;
}

static int check_splits(npz *z)
{
    for (int x = X_TRAIN; x <= (z->has_test ? X_TEST : X_TRAIN); x += 2) {
        const npy_array *ax = &z->a[x], *ay = &z->a[x + 1];
        if (ay->shape[0] != ax->shape[0])
            return fail_array(z, x + 1, LEASH_EFORMAT, "%llu labels for the %llu samples of '%s'",
                              (unsigned long long)ay->shape[0], (unsigned long long)ax->shape[0],
                              array_name[x]);
    }
    sample_shape(&z->a[X_TRAIN], &z->h, &z->w, &z->c);
    z->is_float = z->a[X_TRAIN].kind == NPY_FLOAT;
    if (!z->has_test) return 0;
    const npy_array *tr = &z->a[X_TRAIN], *te = &z->a[X_TEST];
    int h, w, c;
    sample_shape(te, &h, &w, &c);
    if (h != z->h || w != z->w || c != z->c) {
        char s_te[256], s_tr[256];
        format_shape(s_te, sizeof s_te, te->shape + 1, te->ndim - 1);
        format_shape(s_tr, sizeof s_tr, tr->shape + 1, tr->ndim - 1);
        return fail_array(z, X_TEST, LEASH_EFORMAT,
                          "samples of shape %s, but those of 'x_train' are %s", s_te, s_tr);
    }
    if ((te->kind == NPY_FLOAT) != z->is_float)
        return fail_array(z, X_TEST, LEASH_EFORMAT,
                          "dtype '%s', but 'x_train' is '%s': both splits must be bytes or both "
                          "floats",
                          te->descr, tr->descr);
    return 0;
}

/* The arrays as they will be held: refused before any allocation if the machine's memory
 * cannot hold them (a stated size cannot be trusted to fit). */
static int check_memory(const npz *z)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return 0;
    const uint64_t memory = (uint64_t)pages * (uint64_t)page;
    uint64_t total = 0;
    for (int k = 0; k < NARRAYS; ++k) {
        if (z->index[k] < 0) continue;
        const npy_array *a = &z->a[k];
        uint64_t bytes = is_x(k) ? a->count * (z->is_float ? sizeof(float) : 1) : a->shape[0];
        if (bytes > memory - total)
            return fail_array(z, k, LEASH_ENOMEM,
                              "the dataset needs %llu bytes of memory, more than this machine's "
                              "%llu",
                              (unsigned long long)(total + bytes), (unsigned long long)memory);
        total += bytes;
    }
    return 0;
}

static int prepare(npz *z)
{
    int rc = locate(z);
    /* Every header before any data: a bad test split is reported at once. */
    for (int k = 0; k < NARRAYS && rc == 0; ++k)
        if (z->index[k] >= 0) rc = read_array_header(z, k);
    if (rc == 0) rc = check_splits(z);
    if (rc == 0) rc = check_memory(z);
    return rc;
}

/* --- the data ------------------------------------------------------------------------ */

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

static uint64_t le_uint(const uint8_t *p, size_t size)
{
    uint64_t v = 0;
    for (size_t i = size; i-- > 0;) v = v << 8 | p[i];
    return v;
}

/* Entry k opened, its header read past: positioned at the data. */
static int open_data(const npz *z, int k, zip_file_t **f)
{
    int rc = open_entry(z, k, f);
    if (rc) return rc;
    unsigned char *skip = malloc(z->a[k].header_bytes);
    rc = skip ? read_exact(z, k, *f, skip, z->a[k].header_bytes)
              : fail_array(z, k, LEASH_ENOMEM, "out of memory");
    free(skip);
    if (rc) zip_fclose(*f);
    return rc;
}

/* Array k's data through fn, CHUNK bytes at a time (whole elements). */
typedef int (*sink_fn)(void *sink, const uint8_t *p, size_t first, size_t count);

static int stream(const npz *z, int k, zip_file_t *f, sink_fn fn, void *sink)
{
    const npy_array *a = &z->a[k];
    uint8_t *buf = malloc(CHUNK);
    if (!buf) return fail_array(z, k, LEASH_ENOMEM, "out of memory");
    const size_t per = CHUNK / a->itemsize;
    int rc = 0;
    for (size_t done = 0; rc == 0 && done < a->count; done += per) {
        size_t want = a->count - done < per ? a->count - done : per, got;
        rc = read_some(z, k, f, buf, want * a->itemsize, &got);
        if (rc == 0 && got < want * a->itemsize) rc = truncated(z, k, done * a->itemsize + got);
        if (rc == 0) rc = fn(sink, buf, done, want);
    }
    free(buf);
    return rc;
}

typedef struct value_sink {
    const npz *z;
    int k;
    float *out;
    size_t sample; /* values per sample, for messages */
} value_sink;

static int not_finite(const value_sink *s, size_t i, double v)
{
    if (isfinite(v))
        return fail_array(s->z, s->k, LEASH_EFORMAT, "sample %zu holds %g, beyond float32's range",
                          i / s->sample, v);
    return fail_array(s->z, s->k, LEASH_EFORMAT, "sample %zu holds a value that is not finite (%g)",
                      i / s->sample, v);
}

/* Floats as float32, float64 rounded to float32 as numpy's astype does. A non-finite
 * input would only surface later as a diverged loss. */
static int take_values(void *sink, const uint8_t *p, size_t first, size_t count)
{
    value_sink *s = sink;
    float *out = s->out + first;
    if (s->z->a[s->k].itemsize == 4) {
        for (size_t i = 0; i < count; ++i) {
            uint32_t u = le32(p + 4 * i);
            memcpy(&out[i], &u, sizeof u);
            if (!isfinite(out[i])) return not_finite(s, first + i, out[i]);
        }
        return 0;
    }
    for (size_t i = 0; i < count; ++i) {
        uint64_t u = le64(p + 8 * i);
        double v;
        memcpy(&v, &u, sizeof v);
        out[i] = (float)v;
        if (!isfinite(out[i])) return not_finite(s, first + i, v);
    }
    return 0;
}

typedef struct label_sink {
    const npz *z;
    int k;
    uint8_t *out;
    int *max; /* the largest label so far */
} label_sink;

static int take_labels(void *sink, const uint8_t *p, size_t first, size_t count)
{
    label_sink *s = sink;
    const npy_array *a = &s->z->a[s->k];
    const unsigned bits = (unsigned)(8 * a->itemsize);
    for (size_t i = 0; i < count; ++i) {
        uint64_t u = le_uint(p + i * a->itemsize, a->itemsize);
        if (a->kind == NPY_INT && (u >> (bits - 1) & 1)) {
            /* |u| in two's complement of `bits` bits (2^64 wraps to 0 for int64). */
            uint64_t magnitude = (bits < 64 ? (uint64_t)1 << bits : 0) - u;
            return fail_array(s->z, s->k, LEASH_EFORMAT, "label -%llu at index %zu is negative",
                              (unsigned long long)magnitude, first + i);
        }
        if (u >= MAX_CLASSES)
            return fail_array(s->z, s->k, LEASH_EFORMAT,
                              "label %llu at index %zu is out of range: at most %d classes "
                              "(labels 0-%d) are supported",
                              (unsigned long long)u, first + i, MAX_CLASSES, MAX_CLASSES - 1);
        s->out[first + i] = (uint8_t)u;
        if ((int)u > *s->max) *s->max = (int)u;
    }
    return 0;
}

static int read_x(const npz *z, int k, leash_dataset *d)
{
    zip_file_t *f;
    int rc = open_data(z, k, &f);
    if (rc) return rc;
    if (d->pixels) {
        rc = read_exact(z, k, f, d->pixels, z->a[k].nbytes);
    } else {
        value_sink s = {z, k, d->values, leash_dataset_sample_size(d)};
        rc = stream(z, k, f, take_values, &s);
    }
    if (rc == 0) rc = expect_end(z, k, f);
    zip_fclose(f);
    return rc;
}

static int read_y(const npz *z, int k, uint8_t *labels, int *max)
{
    zip_file_t *f;
    int rc = open_data(z, k, &f);
    if (rc) return rc;
    label_sink s = {z, k, labels, max};
    rc = stream(z, k, f, take_labels, &s);
    if (rc == 0) rc = expect_end(z, k, f);
    zip_fclose(f);
    return rc;
}

/* Split 0 (train) or 1 (test); *max: the largest label so far. */
static int load_split(const npz *z, int split, leash_dataset *d, int *max)
{
    const int x = 2 * split;
    const npy_array *a = &z->a[x];
    *d = (leash_dataset){.n = (size_t)a->shape[0], .h = z->h, .w = z->w, .c = z->c};
    if (z->is_float)
        d->values = leash_huge_alloc(a->count * sizeof *d->values);
    else
        d->pixels = leash_huge_alloc(a->count);
    d->labels = malloc(d->n);
    if ((!d->values && !d->pixels) || !d->labels) {
        leash_dataset_free(d);
        return fail_array(z, x, LEASH_ENOMEM, "out of memory for %llu samples",
                          (unsigned long long)a->shape[0]);
    }
    int rc = read_x(z, x, d);
    if (rc == 0) rc = read_y(z, x + 1, d->labels, max);
    if (rc) leash_dataset_free(d);
    return rc;
}

/* --- opening, and the entry points --------------------------------------------------- */

static int open_failure(const char *path, zip_error_t *e)
{
    int code = zip_error_code_zip(e);
    if (code == ZIP_ER_MEMORY) return leash_fail(LEASH_ENOMEM, "%s: out of memory", path);
    if (code == ZIP_ER_NOZIP)
        return leash_fail(LEASH_EFORMAT, "%s: not a zip archive (an .npz file is one)", path);
    if (code == ZIP_ER_READ || code == ZIP_ER_SEEK || code == ZIP_ER_OPEN)
        return leash_fail(LEASH_EIO, "%s: %s", path, zip_error_strerror(e));
    return leash_fail(LEASH_EFORMAT, "%s: corrupt zip archive (libzip: %s)", path,
                      zip_error_strerror(e));
}

/* z->za from src, which is freed on failure. */
static int open_archive(npz *z, zip_source_t *src)
{
    zip_error_t e;
    zip_error_init(&e);
    /* ZIP_CHECKCONS: each local header must match the central directory. */
    z->za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &e);
    int rc = 0;
    if (!z->za) {
        zip_source_free(src);
        rc = open_failure(z->path, &e);
    }
    zip_error_fini(&e);
    return rc;
}

/* libzip reads an empty file as an empty archive: say what it is instead. */
static int empty(const npz *z)
{
    return leash_fail(LEASH_EFORMAT, "%s: empty file (an .npz file is a zip archive)", z->path);
}

static int open_file(npz *z, const char *path)
{
    *z = (npz){.path = path};
    /* O_NONBLOCK: a FIFO is refused below, not waited on. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return leash_fail(LEASH_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    int err = fstat(fd, &st) != 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
    if (err || !S_ISREG(st.st_mode)) {
        close(fd);
        return leash_fail(LEASH_EIO, "%s: %s", path, err ? strerror(err) : "not a regular file");
    }
    z->archive_size = (uint64_t)st.st_size;
    FILE *fp = z->archive_size ? fdopen(fd, "rb") : NULL;
    if (!fp) {
        err = errno;
        close(fd);
        return z->archive_size ? leash_fail(LEASH_EIO, "%s: %s", path, strerror(err)) : empty(z);
    }
    zip_error_t e;
    zip_error_init(&e);
    zip_source_t *src = zip_source_filep_create(fp, 0, -1, &e);
    int rc = src ? open_archive(z, src) : open_failure(path, &e);
    if (!src) fclose(fp);
    zip_error_fini(&e);
    return rc;
}

static int open_buffer(npz *z, const void *data, size_t size, const char *name)
{
    *z = (npz){.path = name, .archive_size = size};
    if (size == 0) return empty(z);
    zip_error_t e;
    zip_error_init(&e);
    zip_source_t *src = zip_source_buffer_create(data, size, 0, &e);
    int rc = src ? open_archive(z, src) : open_failure(name, &e);
    zip_error_fini(&e);
    return rc;
}

static void close_npz(npz *z)
{
    if (z->za) zip_discard(z->za);
    z->za = NULL;
}

static int probe_opened(npz *z, leash_npz_info *info, int rc)
{
    if (rc == 0) rc = prepare(z);
    if (rc == 0)
        *info = (leash_npz_info){.ntrain = (size_t)z->a[X_TRAIN].shape[0],
                                 .ntest = z->has_test ? (size_t)z->a[X_TEST].shape[0] : 0,
                                 .h = z->h,
                                 .w = z->w,
                                 .c = z->c,
                                 .has_test = z->has_test,
                                 .is_float = z->is_float};
    close_npz(z);
    return rc;
}

static int load_opened(npz *z, leash_dataset *train, leash_dataset *test, int min_classes, int rc)
{
    int max = -1;
    if (rc == 0) rc = prepare(z);
    if (rc == 0) rc = load_split(z, 0, train, &max);
    if (rc == 0 && z->has_test) rc = load_split(z, 1, test, &max);
    int classes = max + 1 > min_classes ? max + 1 : min_classes;
    if (rc == 0 && classes < 2)
        rc = fail_array(z, Y_TRAIN, LEASH_EFORMAT,
                        "every label is 0: a classifier needs at least 2 classes");
    if (rc == 0) {
        train->nclasses = classes;
        if (z->has_test) test->nclasses = classes;
    } else {
        leash_dataset_free(train);
        leash_dataset_free(test);
    }
    close_npz(z);
    return rc;
}

static int check_min_classes(const char *path, int min_classes)
{
    if (min_classes < 0 || min_classes > MAX_CLASSES)
        return leash_fail(LEASH_EINVAL,
                          "%s: %d classes asked for: at most %d are supported (labels are bytes)",
                          path, min_classes, MAX_CLASSES);
    return 0;
}

int leash_npz_probe(leash_npz_info *info, const char *path)
{
    npz z;
    *info = (leash_npz_info){0};
    return probe_opened(&z, info, open_file(&z, path));
}

int leash_npz_probe_buffer(leash_npz_info *info, const void *data, size_t size, const char *name)
{
    npz z;
    *info = (leash_npz_info){0};
    return probe_opened(&z, info, open_buffer(&z, data, size, name));
}

int leash_npz_load(leash_dataset *train, leash_dataset *test, const char *path, int min_classes)
{
    npz z = {0};
    *train = *test = (leash_dataset){0};
    int rc = check_min_classes(path, min_classes);
    return load_opened(&z, train, test, min_classes, rc ? rc : open_file(&z, path));
}

int leash_npz_load_buffer(leash_dataset *train, leash_dataset *test, const void *data, size_t size,
                          const char *name, int min_classes)
{
    npz z = {0};
    *train = *test = (leash_dataset){0};
    int rc = check_min_classes(name, min_classes);
    return load_opened(&z, train, test, min_classes, rc ? rc : open_buffer(&z, data, size, name));
}
