/* NumPy .npz datasets: archives written here, by hand (a small zip writer, so that sizes
 * and CRCs can lie) and by numpy where /usr/bin/python3 has it, valid and broken in every
 * way the reader checks for; then float data through the dataset functions. */
#include <math.h>
#include <sys/wait.h>

#include "leash/data.h"
#include "leash/error.h"
#include "leash/rng.h"
#include "tap.h"
#include "testutil.h"
#include "data/dataset_internal.h"

/* --- writing archives --------------------------------------------------------------- */

typedef struct buf {
    uint8_t *p;
    size_t len, cap;
} buf;

static void put(buf *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put16(buf *b, unsigned v) { put(b, (uint8_t[]){v & 0xff, v >> 8 & 0xff}, 2); }

static void put32(buf *b, uint32_t v)
{
    put(b, (uint8_t[]){v & 0xff, v >> 8 & 0xff, v >> 16 & 0xff, v >> 24 & 0xff}, 4);
}

/* One zip entry. stated (if nonzero) replaces the uncompressed size the headers state;
 * crc_xor spoils the CRC; raw (if set) is the compressed payload, as it is. */
typedef struct zentry {
    const char *name;
    const uint8_t *data;
    size_t len;
    int deflate;
    uint32_t stated, crc_xor;
    const uint8_t *raw;
    size_t raw_len;
} zentry;

/* Raw deflate (no zlib or gzip wrapper) of n bytes, as zip holds it. */
static uint8_t *deflate_raw(const uint8_t *data, size_t n, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
    size_t cap = deflateBound(&zs, (uLong)n);
    uint8_t *out = malloc(cap);
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    if (!out || deflate(&zs, Z_FINISH) != Z_STREAM_END) abort();
    *out_len = zs.total_out;
    deflateEnd(&zs);
    return out;
}

/* The local header's fields from the version needed on, as the central one repeats them. */
static void put_common(buf *b, const zentry *e, uint32_t crc, size_t clen)
{
    put16(b, 20);
    put16(b, 0);
    put16(b, e->deflate ? 8 : 0);
    put16(b, 0);
    put16(b, 0x21); /* 1980-01-01 */
    put32(b, crc);
    put32(b, (uint32_t)clen);
    put32(b, e->stated ? e->stated : (uint32_t)e->len);
    put16(b, (unsigned)strlen(e->name));
    put16(b, 0);
}

static int write_zip(const char *path, const zentry *e, int n)
{
    buf b = {0}, cd = {0};
    for (int i = 0; i < n; ++i) {
        size_t clen = e[i].len;
        uint8_t *z = NULL;
        const uint8_t *payload = e[i].data;
        if (e[i].raw) {
            payload = e[i].raw;
            clen = e[i].raw_len;
        } else if (e[i].deflate) {
            payload = z = deflate_raw(e[i].data, e[i].len, &clen);
        }
        uint32_t crc = (uint32_t)crc32_z(crc32(0, Z_NULL, 0), e[i].data, e[i].len) ^ e[i].crc_xor;
        put32(&cd, 0x02014b50);
        put16(&cd, 20);
        put_common(&cd, &e[i], crc, clen);
        put16(&cd, 0);
        put16(&cd, 0);
        put16(&cd, 0);
        put32(&cd, 0);
        put32(&cd, (uint32_t)b.len);
        put(&cd, e[i].name, strlen(e[i].name));
        put32(&b, 0x04034b50);
        put_common(&b, &e[i], crc, clen);
        put(&b, e[i].name, strlen(e[i].name));
        put(&b, payload, clen);
        free(z);
    }
    size_t cd_offset = b.len;
    put(&b, cd.p, cd.len);
    put32(&b, 0x06054b50);
    put32(&b, 0);
    put16(&b, (unsigned)n);
    put16(&b, (unsigned)n);
    put32(&b, (uint32_t)cd.len);
    put32(&b, (uint32_t)cd_offset);
    put16(&b, 0);
    int rc = tu_write(path, b.p, b.len);
    free(b.p);
    free(cd.p);
    return rc;
}

/* A .npy file: the header text dict (padded as numpy pads it, to 64 bytes in all), then
 * data. version 1, 2 or 3; a dict of NULL is replaced by one made of descr and shape. */
static buf npy_file(int version, const char *dict, const void *data, size_t len)
{
    buf b = {0};
    size_t lenbytes = version == 1 ? 2 : 4, dlen = strlen(dict);
    size_t total = (8 + lenbytes + dlen + 1 + 63) / 64 * 64, hlen = total - 8 - lenbytes;
    put(&b, "\x93NUMPY", 6);
    put(&b, (uint8_t[]){(uint8_t)version, 0}, 2);
    if (version == 1)
        put16(&b, (unsigned)hlen);
    else
        put32(&b, (uint32_t)hlen);
    put(&b, dict, dlen);
    for (size_t i = dlen; i + 1 < hlen; ++i) put(&b, " ", 1);
    put(&b, "\n", 1);
    put(&b, data, len);
    return b;
}

static const char *dict_of(const char *descr, const char *shape)
{
    return tu_fmt("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
}

/* An array for an archive: its name (x_train...), dict and data. */
typedef struct arr {
    const char *name, *dict;
    const void *data;
    size_t len;
} arr;

#define ARR(name, descr, shape, data, len) ((arr){name, dict_of(descr, shape), data, len})

/* file (in the scratch directory) holding the arrays as .npy entries; its path. */
static const char *write_npz(const char *file, int deflate, const arr *a, int n)
{
    zentry e[8];
    buf files[8];
    char names[8][64];
    for (int i = 0; i < n; ++i) {
        files[i] = npy_file(1, a[i].dict, a[i].data, a[i].len);
        snprintf(names[i], sizeof names[i], "%s.npy", a[i].name);
        e[i] =
            (zentry){.name = names[i], .data = files[i].p, .len = files[i].len, .deflate = deflate};
    }
    const char *path = tu_path(file);
    int rc = write_zip(path, e, n);
    for (int i = 0; i < n; ++i) free(files[i].p);
    return rc == 0 ? path : NULL;
}

/* --- the datasets used below ------------------------------------------------------------ */

enum { N = 6, H = 3, W = 4, NT = 2 };
static uint8_t x8[N * H * W * 3], xt8[NT * H * W * 3];
static uint8_t y8[N] = {0, 3, 1, 2, 1, 0}, yt8[NT] = {2, 4};
static float x32[N * H * W], xt32[NT * H * W];
static double x64[N * H * W], xt64[NT * H * W];

static void make_data(void)
{
    for (size_t i = 0; i < sizeof x8; ++i) x8[i] = (uint8_t)(i * 37 + 11);
    for (size_t i = 0; i < sizeof xt8; ++i) xt8[i] = (uint8_t)(i * 53 + 7);
    for (size_t i = 0; i < N * H * W; ++i) x32[i] = (float)i * 0.37f - 5.0f;
    for (size_t i = 0; i < NT * H * W; ++i) xt32[i] = (float)i * -1.5f + 0.125f;
    for (size_t i = 0; i < N * H * W; ++i) x64[i] = (double)i / 7.0 - 1e-3;
    for (size_t i = 0; i < NT * H * W; ++i) xt64[i] = 1.0 / ((double)i + 3.0);
}

/* The usual four arrays: x of descr/shape, labels uint8. */
static const char *four(const char *file, int deflate, const char *descr, const char *shape,
                        const char *tshape, const void *x, size_t xlen, const void *xt,
                        size_t xtlen)
{
    arr a[4] = {ARR("x_train", descr, shape, x, xlen), ARR("y_train", "|u1", "(6,)", y8, N),
                ARR("x_test", descr, tshape, xt, xtlen), ARR("y_test", "|u1", "(2,)", yt8, NT)};
    return write_npz(file, deflate, a, 4);
}

#define LOAD_OK(path, tr, te, min)                                                                 \
    do {                                                                                           \
        ASSERT_NOT_NULL(path);                                                                     \
        int rc_ = leash_npz_load(&(tr), &(te), (path), (min));                                     \
        if (rc_ != 0) TAP_FAIL_AT("%s", leash_last_error());                                       \
    } while (0)

static void test_uint8_nhw(void)
{
    const char *path =
        four("u8.npz", 0, "|u1", "(6, 3, 4)", "(2, 3, 4)", x8, N * H * W, xt8, NT * H * W);
    leash_npz_info info;
    ASSERT_NOT_NULL(path);
    ASSERT_INT_EQ(leash_npz_probe(&info, path), 0);
    ASSERT_TRUE(info.ntrain == N && info.ntest == NT && info.h == H && info.w == W && info.c == 1 &&
                info.has_test == 1 && info.is_float == 0);
    leash_dataset tr, te;
    LOAD_OK(path, tr, te, 0);
    ASSERT_TRUE(tr.n == N && tr.h == H && tr.w == W && tr.c == 1 && tr.values == NULL);
    ASSERT_TRUE(te.n == NT && te.h == H && te.w == W && te.c == 1 && te.values == NULL);
    /* Byte for byte the arrays written. */
    ASSERT_TRUE(memcmp(tr.pixels, x8, N * H * W) == 0 && memcmp(tr.labels, y8, N) == 0);
    ASSERT_TRUE(memcmp(te.pixels, xt8, NT * H * W) == 0 && memcmp(te.labels, yt8, NT) == 0);
    /* 1 + the largest label of either split (4, in the test split). */
    ASSERT_INT_EQ(tr.nclasses, 5);
    ASSERT_INT_EQ(te.nclasses, 5);
    leash_dataset_free(&tr);
    leash_dataset_free(&te);
}

static void test_uint8_nhwc(void)
{
    const char *path =
        four("u8c.npz", 1, "|u1", "(6, 3, 4, 3)", "(2, 3, 4, 3)", x8, sizeof x8, xt8, sizeof xt8);
    leash_dataset tr, te;
    LOAD_OK(path, tr, te, 0);
    ASSERT_TRUE(tr.n == N && tr.h == H && tr.w == W && tr.c == 3 && te.c == 3);
    ASSERT_TRUE(memcmp(tr.pixels, x8, sizeof x8) == 0 && memcmp(te.pixels, xt8, sizeof xt8) == 0);
    leash_dataset_free(&tr);
    leash_dataset_free(&te);
}

static void test_float32(void)
{
    const char *path =
        four("f4.npz", 1, "<f4", "(6, 3, 4)", "(2, 3, 4)", x32, sizeof x32, xt32, sizeof xt32);
    leash_npz_info info;
    ASSERT_NOT_NULL(path);
    ASSERT_INT_EQ(leash_npz_probe(&info, path), 0);
    ASSERT_INT_EQ(info.is_float, 1);
    leash_dataset tr, te;
    LOAD_OK(path, tr, te, 0);
    ASSERT_TRUE(tr.pixels == NULL && te.pixels == NULL && tr.values && te.values);
    ASSERT_TRUE(memcmp(tr.values, x32, sizeof x32) == 0);
    ASSERT_TRUE(memcmp(te.values, xt32, sizeof xt32) == 0);
    ASSERT_TRUE(memcmp(tr.labels, y8, N) == 0);
    leash_dataset_free(&tr);
    leash_dataset_free(&te);
}

static void test_float64(void)
{
    const char *path = four("f8.npz", 0, "<f8", "(6, 3, 4, 1)", "(2, 3, 4, 1)", x64, sizeof x64,
                            xt64, sizeof xt64);
    leash_dataset tr, te;
    LOAD_OK(path, tr, te, 0);
    ASSERT_TRUE(tr.c == 1 && tr.values && !tr.pixels);
    /* Rounded to float32 as a C conversion (and numpy's astype) rounds. */
    for (size_t i = 0; i < N * H * W; ++i) ASSERT_TRUE(tr.values[i] == (float)x64[i]);
    for (size_t i = 0; i < NT * H * W; ++i) ASSERT_TRUE(te.values[i] == (float)xt64[i]);
    leash_dataset_free(&tr);
    leash_dataset_free(&te);
}

static void test_feature_vectors(void)
{
    const char *path =
        four("nf.npz", 0, "<f4", "(6, 12)", "(2, 12)", x32, sizeof x32, xt32, sizeof xt32);
    leash_npz_info info;
    ASSERT_NOT_NULL(path);
    ASSERT_INT_EQ(leash_npz_probe(&info, path), 0);
    ASSERT_TRUE(info.h == 1 && info.w == 12 && info.c == 1);
    leash_dataset tr, te;
    LOAD_OK(path, tr, te, 0);
    ASSERT_TRUE(tr.h == 1 && tr.w == 12 && tr.c == 1 && te.h == 1 && te.w == 12);
    ASSERT_TRUE(memcmp(tr.values, x32, sizeof x32) == 0);
    leash_dataset_free(&tr);
    leash_dataset_free(&te);
}

/* Labels 0, 3, 1, 2, 1, 0 in each integer dtype, little-endian; (N, 1) too. */
static void test_label_dtypes(void)
{
    static const char *descr[] = {"|i1", "|u1", "<i2", "<u2", "<i4",
                                  "<u4", "<i8", "<u8", "i1",  "u1"};
    for (size_t t = 0; t < sizeof descr / sizeof *descr; ++t) {
        size_t size = (size_t)(descr[t][strlen(descr[t]) - 1] - '0');
        uint8_t y[N * 8] = {0};
        for (int i = 0; i < N; ++i) y[(size_t)i * size] = y8[i];
        arr a[2] = {ARR("x_train", "|u1", "(6, 3, 4)", x8, N * H * W),
                    ARR("y_train", descr[t], t % 2 ? "(6, 1)" : "(6,)", y, N * size)};
        const char *path = write_npz("labels.npz", 1, a, 2);
        leash_dataset tr, te;
        LOAD_OK(path, tr, te, 0);
        if (memcmp(tr.labels, y8, N) != 0 || tr.nclasses != 4 || te.n != 0)
            TAP_FAIL_AT("labels of dtype %s", descr[t]);
        leash_dataset_free(&tr);
    }
}

static int same_dataset(const leash_dataset *a, const leash_dataset *b)
{
    size_t s = leash_dataset_sample_size(a);
    if (a->n != b->n || a->h != b->h || a->w != b->w || a->c != b->c || a->nclasses != b->nclasses)
        return 0;
    if (!a->values != !b->values || !a->pixels != !b->pixels) return 0;
    if (a->n == 0) return 1;
    if (a->values && memcmp(a->values, b->values, a->n * s * sizeof(float)) != 0) return 0;
    if (a->pixels && memcmp(a->pixels, b->pixels, a->n * s) != 0) return 0;
    return memcmp(a->labels, b->labels, a->n) == 0;
}

static void test_stored_and_deflated_same(void)
{
    const char *descr[] = {"|u1", "<f4", "<f8"};
    const void *x[] = {x8, x32, x64}, *xt[] = {xt8, xt32, xt64};
    const size_t size[] = {1, 4, 8};
    for (int t = 0; t < 3; ++t) {
        const char *s = four("stored.npz", 0, descr[t], "(6, 3, 4)", "(2, 3, 4)", x[t],
                             N * H * W * size[t], xt[t], NT * H * W * size[t]);
        const char *d = four("deflated.npz", 1, descr[t], "(6, 3, 4)", "(2, 3, 4)", x[t],
                             N * H * W * size[t], xt[t], NT * H * W * size[t]);
        leash_dataset str, ste, dtr, dte;
        LOAD_OK(s, str, ste, 0);
        LOAD_OK(d, dtr, dte, 0);
        ASSERT_TRUE(same_dataset(&str, &dtr) && same_dataset(&ste, &dte));
        leash_dataset_free(&str);
        leash_dataset_free(&ste);
        leash_dataset_free(&dtr);
        leash_dataset_free(&dte);
    }
}

static void test_no_test_pair(void)
{
    arr a[2] = {ARR("x_train", "|u1", "(6, 3, 4)", x8, N * H * W),
                ARR("y_train", "|u1", "(6,)", y8, N)};
    const char *path = write_npz("train-only.npz", 0, a, 2);
    leash_npz_info info;
    ASSERT_NOT_NULL(path);
    ASSERT_INT_EQ(leash_npz_probe(&info, path), 0);
    ASSERT_TRUE(info.has_test == 0 && info.ntest == 0 && info.ntrain == N);
    leash_dataset tr, te;
    LOAD_OK(path, tr, te, 0);
    ASSERT_TRUE(te.n == 0 && te.pixels == NULL && te.values == NULL && te.labels == NULL);
    ASSERT_INT_EQ(tr.nclasses, 4);
    leash_dataset_free(&tr);
    leash_dataset_free(&te);
    /* min_classes: more classes than the labels show, never fewer. */
    LOAD_OK(path, tr, te, 10);
    ASSERT_INT_EQ(tr.nclasses, 10);
    leash_dataset_free(&tr);
    LOAD_OK(path, tr, te, 2);
    ASSERT_INT_EQ(tr.nclasses, 4);
    leash_dataset_free(&tr);
    LOAD_OK(path, tr, te, 256);
    ASSERT_INT_EQ(tr.nclasses, 256);
    leash_dataset_free(&tr);
}

/* --- refusals ------------------------------------------------------------------------- */

/* leash_npz_load fails with code and exactly the message msg, leaving both splits empty. */
#define ASSERT_LOAD_FAILS(path, min, code, msg)                                                    \
    do {                                                                                           \
        ASSERT_NOT_NULL(path);                                                                     \
        leash_dataset tr_, te_;                                                                    \
        int rc_ = leash_npz_load(&tr_, &te_, (path), (min));                                       \
        ASSERT_INT_EQ(rc_, (code));                                                                \
        ASSERT_STR_EQ(leash_last_error(), (msg));                                                  \
        ASSERT_TRUE(tr_.pixels == NULL && tr_.values == NULL && tr_.labels == NULL && tr_.n == 0); \
        ASSERT_TRUE(te_.pixels == NULL && te_.values == NULL && te_.labels == NULL && te_.n == 0); \
    } while (0)

/* ... and so does leash_npz_probe (a failure its headers show). */
#define ASSERT_REFUSED(path, code, msg)                                                            \
    do {                                                                                           \
        leash_npz_info info_;                                                                      \
        ASSERT_NOT_NULL(path);                                                                     \
        ASSERT_INT_EQ(leash_npz_probe(&info_, (path)), (code));                                    \
        ASSERT_STR_EQ(leash_last_error(), (msg));                                                  \
        ASSERT_LOAD_FAILS(path, 0, code, msg);                                                     \
    } while (0)

/* An archive of x_train (descr, shape, data) and labels y8. */
static const char *with_x(const char *descr, const char *shape, const void *x, size_t len)
{
    arr a[2] = {ARR("x_train", descr, shape, x, len), ARR("y_train", "|u1", "(6,)", y8, N)};
    return write_npz("bad.npz", 1, a, 2);
}

/* An archive of x8 as (6, 3, 4) and y_train (descr, shape, data). */
static const char *with_y(const char *descr, const char *shape, const void *y, size_t len)
{
    arr a[2] = {ARR("x_train", "|u1", "(6, 3, 4)", x8, N * H * W),
                ARR("y_train", descr, shape, y, len)};
    return write_npz("bad.npz", 1, a, 2);
}

#define ARRAY_MSG(path, name, what) tu_fmt("%s: array '%s': %s", path, name, what)

static void test_refuse_missing_arrays(void)
{
    arr x = ARR("x_train", "|u1", "(6, 3, 4)", x8, N * H * W),
        y = ARR("y_train", "|u1", "(6,)", y8, N);
    arr xt = ARR("x_test", "|u1", "(2, 3, 4)", xt8, NT * H * W),
        yt = ARR("y_test", "|u1", "(2,)", yt8, NT);
    const char *rest =
        "an .npz dataset holds x_train and y_train, and optionally x_test and y_test";
    const char *p = write_npz("bad.npz", 0, (arr[]){y, xt, yt}, 3);
    ASSERT_REFUSED(p, LEASH_EFORMAT,
                   tu_fmt("%s: no array 'x_train' (entry x_train.npy): %s", p, rest));
    p = write_npz("bad.npz", 0, (arr[]){x}, 1);
    ASSERT_REFUSED(p, LEASH_EFORMAT,
                   tu_fmt("%s: no array 'y_train' (entry y_train.npy): %s", p, rest));
    p = write_npz("bad.npz", 0, (arr[]){x, y, xt}, 3);
    ASSERT_REFUSED(p, LEASH_EFORMAT,
                   tu_fmt("%s: array 'x_test' without 'y_test': a test split needs both", p));
    p = write_npz("bad.npz", 0, (arr[]){x, y, yt}, 3);
    ASSERT_REFUSED(p, LEASH_EFORMAT,
                   tu_fmt("%s: array 'y_test' without 'x_test': a test split needs both", p));
    /* Nothing but other entries; an empty archive. */
    p = write_npz("bad.npz", 0, (arr[]){{"X_train", x.dict, x8, N * H * W}}, 1);
    ASSERT_REFUSED(p, LEASH_EFORMAT,
                   tu_fmt("%s: no array 'x_train' (entry x_train.npy): %s", p, rest));
    p = write_npz("bad.npz", 0, NULL, 0);
    ASSERT_REFUSED(p, LEASH_EFORMAT,
                   tu_fmt("%s: no array 'x_train' (entry x_train.npy): %s", p, rest));
}

static void test_refuse_dtypes(void)
{
    const char *x_want = "(uint8, float32 or float64)";
    const char *y_want = "(an integer dtype: int8-int64 or uint8-uint64)";
    static const char *bad_x[] = {"<c8", "<i4",    "|i1", "<f2", "<u2", "|b1",  "<U4", "|S4",
                                  "|V4", "<M8[s]", "f4",  "|f4", "=f4", "<f16", ""};
    for (size_t t = 0; t < sizeof bad_x / sizeof *bad_x; ++t) {
        const char *p = with_x(bad_x[t], "(6, 3, 4)", x64, N * H * W * 8);
        ASSERT_REFUSED(
            p, LEASH_EFORMAT,
            ARRAY_MSG(p, "x_train", tu_fmt("dtype '%s' is not supported %s", bad_x[t], x_want)));
    }
    static const char *bad_y[] = {"<f4", "<f8", "|b1", "<c8", "<i16", "i2"};
    for (size_t t = 0; t < sizeof bad_y / sizeof *bad_y; ++t) {
        const char *p = with_y(bad_y[t], "(6,)", x64, N * 16);
        ASSERT_REFUSED(
            p, LEASH_EFORMAT,
            ARRAY_MSG(p, "y_train", tu_fmt("dtype '%s' is not supported %s", bad_y[t], y_want)));
    }
    const char *p = with_x(">f4", "(6, 3, 4)", x32, sizeof x32);
    ASSERT_REFUSED(p, LEASH_EFORMAT,
                   ARRAY_MSG(p, "x_train",
                             "dtype '>f4' is big-endian: only little-endian data are "
                             "supported (convert with .astype('<f4'))"));
    p = with_y(">i8", "(6,)", x64, N * 8);
    ASSERT_REFUSED(p, LEASH_EFORMAT,
                   ARRAY_MSG(p, "y_train",
                             "dtype '>i8' is big-endian: only little-endian data are "
                             "supported (convert with .astype('<i8'))"));
}

/* Pickles are refused from the header, never unpickled; so are fields and Fortran order. */
static void test_refuse_objects_and_layouts(void)
{
    const char *p;
    static const char *objects[] = {"|O", "O", "<O8"};
    for (size_t t = 0; t < 3; ++t) {
        p = with_x(objects[t], "(6, 3, 4)", x64, N * H * W * 8);
        ASSERT_REFUSED(p, LEASH_EFORMAT,
                       ARRAY_MSG(p, "x_train",
                                 tu_fmt("dtype '%s' holds Python objects (a pickle), "
                                        "which are never loaded",
                                        objects[t])));
    }
    p = with_y("|O", "(6,)", x64, N * 8);
    ASSERT_REFUSED(p, LEASH_EFORMAT,
                   ARRAY_MSG(p, "y_train",
                             "dtype '|O' holds Python objects (a pickle), which are "
                             "never loaded"));
    arr a[2] = {{"x_train",
                 "{'descr': [('a', '<f4'), ('b', '|O')], 'fortran_order': False, "
                 "'shape': (6, 3, 4)}",
                 x32, sizeof x32},
                ARR("y_train", "|u1", "(6,)", y8, N)};
    p = write_npz("bad.npz", 0, a, 2);
    ASSERT_REFUSED(
        p, LEASH_EFORMAT,
        ARRAY_MSG(p, "x_train", "a structured dtype is not supported (uint8, float32 or float64)"));
    a[0].dict = "{'descr': '<f4', 'fortran_order': True, 'shape': (6, 3, 4)}";
    p = write_npz("bad.npz", 0, a, 2);
    ASSERT_REFUSED(p, LEASH_EFORMAT,
                   ARRAY_MSG(p, "x_train",
                             "Fortran order is not supported: save a C-ordered "
                             "array (np.ascontiguousarray)"));
}

static void test_refuse_shapes(void)
{
    const char *p = with_x("|u1", "(72,)", x8, 72);
    const char *x_shapes = "is not supported: (N, H, W), (N, H, W, C) or (N, F)";
    ASSERT_REFUSED(p, LEASH_EFORMAT, ARRAY_MSG(p, "x_train", tu_fmt("shape (72,) %s", x_shapes)));
    p = with_x("|u1", "(6, 3, 4, 1, 1)", x8, 72);
    ASSERT_REFUSED(p, LEASH_EFORMAT,
                   ARRAY_MSG(p, "x_train", tu_fmt("shape (6, 3, 4, 1, 1) %s", x_shapes)));
    p = with_x("|u1", "()", x8, 1);
    ASSERT_REFUSED(p, LEASH_EFORMAT, ARRAY_MSG(p, "x_train", tu_fmt("shape () %s", x_shapes)));
    p = with_x("|u1", "(0, 3, 4)", x8, 0);
    ASSERT_REFUSED(p, LEASH_EFORMAT, ARRAY_MSG(p, "x_train", "no samples (shape (0, 3, 4))"));
    p = with_x("|u1", "(6, 0, 4)", x8, 0);
    ASSERT_REFUSED(p, LEASH_EFORMAT, ARRAY_MSG(p, "x_train", "empty samples (shape (6, 0, 4))"));
    p = with_x("|u1", "(6, 1, 1, 17)", x8, N * 17);
    ASSERT_REFUSED(p, LEASH_EFORMAT,
                   ARRAY_MSG(p, "x_train",
                             "shape (6, 1, 1, 17): 17 channels, at most 16 are "
                             "supported (channels last)"));
    p = with_x("|u1", "(1, 65537)", x8, 0);
    ASSERT_REFUSED(
        p, LEASH_EFORMAT,
        ARRAY_MSG(p, "x_train", "shape (1, 65537): sides of at most 65536 are supported"));
    /* 16 channels is the limit, and loads. */
    static uint8_t x16[N * 16];
    p = with_x("|u1", "(6, 1, 1, 16)", x16, sizeof x16);
    leash_dataset tr, te;
    LOAD_OK(p, tr, te, 0);
    ASSERT_INT_EQ(tr.c, 16);
    leash_dataset_free(&tr);

    p = with_y("|u1", "(6, 2)", x8, 12);
    ASSERT_REFUSED(p, LEASH_EFORMAT,
                   ARRAY_MSG(p, "y_train", "shape (6, 2) is not supported: labels are (N,)"));
    p = with_y("|u1", "(5,)", y8, 5);
    ASSERT_REFUSED(p, LEASH_EFORMAT,
                   ARRAY_MSG(p, "y_train", "5 labels for the 6 samples of 'x_train'"));
    p = with_y("|u1", "(0,)", y8, 0);
    ASSERT_REFUSED(p, LEASH_EFORMAT, ARRAY_MSG(p, "y_train", "no samples (shape (0,))"));
    /* A shape whose byte count overflows. */
    p = with_x("<f8", "(4294967296, 65536, 65536)", x8, 0);
    ASSERT_REFUSED(
        p, LEASH_EFORMAT,
        ARRAY_MSG(p, "x_train", tu_fmt("its shape holds more than %zu elements", SIZE_MAX)));
}

static void test_refuse_split_mismatch(void)
{
    const char *p =
        four("bad.npz", 0, "|u1", "(6, 3, 4)", "(2, 4, 3)", x8, N * H * W, xt8, NT * H * W);
    ASSERT_REFUSED(
        p, LEASH_EFORMAT,
        ARRAY_MSG(p, "x_test", "samples of shape (4, 3), but those of 'x_train' are (3, 4)"));
    p = four("bad.npz", 0, "|u1", "(6, 3, 4)", "(2, 12)", x8, N * H * W, xt8, NT * H * W);
    ASSERT_REFUSED(
        p, LEASH_EFORMAT,
        ARRAY_MSG(p, "x_test", "samples of shape (12,), but those of 'x_train' are (3, 4)"));
    arr a[4] = {ARR("x_train", "|u1", "(6, 3, 4)", x8, N * H * W),
                ARR("y_train", "|u1", "(6,)", y8, N),
                ARR("x_test", "<f4", "(2, 3, 4)", xt32, sizeof xt32),
                ARR("y_test", "|u1", "(2,)", yt8, NT)};
    p = write_npz("bad.npz", 0, a, 4);
    ASSERT_REFUSED(p, LEASH_EFORMAT,
                   ARRAY_MSG(p, "x_test",
                             "dtype '<f4', but 'x_train' is '|u1': both splits must be "
                             "bytes or both floats"));
    a[3] = ARR("y_test", "|u1", "(3,)", y8, 3);
    a[2] = ARR("x_test", "|u1", "(2, 3, 4)", xt8, NT * H * W);
    p = write_npz("bad.npz", 0, a, 4);
    ASSERT_REFUSED(p, LEASH_EFORMAT,
                   ARRAY_MSG(p, "y_test", "3 labels for the 2 samples of 'x_test'"));
    /* (N, H, W) and (N, H, W, 1) are the same samples. */
    p = four("ok.npz", 0, "|u1", "(6, 3, 4)", "(2, 3, 4, 1)", x8, N * H * W, xt8, NT * H * W);
    leash_dataset tr, te;
    LOAD_OK(p, tr, te, 0);
    leash_dataset_free(&tr);
    leash_dataset_free(&te);
}

static void test_refuse_labels(void)
{
    const int8_t neg[N] = {0, 1, 2, -1, 0, 1};
    const char *p = with_y("|i1", "(6,)", neg, N);
    ASSERT_LOAD_FAILS(p, 0, LEASH_EFORMAT,
                      ARRAY_MSG(p, "y_train", "label -1 at index 3 is negative"));
    const int64_t neg64[N] = {0, 1, 2, 3, 4, INT64_MIN};
    p = with_y("<i8", "(6,)", neg64, sizeof neg64);
    ASSERT_LOAD_FAILS(p, 0, LEASH_EFORMAT,
                      ARRAY_MSG(p, "y_train", "label -9223372036854775808 at index 5 is negative"));
    const uint16_t big[N] = {0, 1, 256, 2, 0, 1};
    p = with_y("<u2", "(6,)", big, sizeof big);
    const char *range = "is out of range: at most 256 classes (labels 0-255) are supported";
    ASSERT_LOAD_FAILS(p, 0, LEASH_EFORMAT,
                      ARRAY_MSG(p, "y_train", tu_fmt("label 256 at index 2 %s", range)));
    const uint64_t huge[N] = {0, 1, 2, 3, 4, UINT64_MAX};
    p = with_y("<u8", "(6,)", huge, sizeof huge);
    ASSERT_LOAD_FAILS(
        p, 0, LEASH_EFORMAT,
        ARRAY_MSG(p, "y_train", tu_fmt("label 18446744073709551615 at index 5 %s", range)));
    /* 255 is the largest label, 256 classes. */
    const uint8_t top[N] = {0, 255, 3, 3, 3, 3};
    p = with_y("|u1", "(6,)", top, N);
    leash_dataset tr, te;
    LOAD_OK(p, tr, te, 0);
    ASSERT_INT_EQ(tr.nclasses, 256);
    leash_dataset_free(&tr);
    /* In the test split too. */
    const int16_t yt16[NT] = {1, -300};
    arr a[4] = {ARR("x_train", "|u1", "(6, 3, 4)", x8, N * H * W),
                ARR("y_train", "|u1", "(6,)", y8, N),
                ARR("x_test", "|u1", "(2, 3, 4)", xt8, NT * H * W),
                ARR("y_test", "<i2", "(2,)", yt16, sizeof yt16)};
    p = write_npz("bad.npz", 0, a, 4);
    ASSERT_LOAD_FAILS(p, 0, LEASH_EFORMAT,
                      ARRAY_MSG(p, "y_test", "label -300 at index 1 is negative"));
    /* One class is no classifier; min_classes beyond what bytes hold. */
    const uint8_t zeros[N] = {0};
    p = with_y("|u1", "(6,)", zeros, N);
    ASSERT_LOAD_FAILS(
        p, 0, LEASH_EFORMAT,
        ARRAY_MSG(p, "y_train", "every label is 0: a classifier needs at least 2 classes"));
    LOAD_OK(p, tr, te, 3);
    ASSERT_INT_EQ(tr.nclasses, 3);
    leash_dataset_free(&tr);
    ASSERT_LOAD_FAILS(
        p, 257, LEASH_EINVAL,
        tu_fmt("%s: 257 classes asked for: at most 256 are supported (labels are bytes)", p));
    ASSERT_LOAD_FAILS(
        p, -1, LEASH_EINVAL,
        tu_fmt("%s: -1 classes asked for: at most 256 are supported (labels are bytes)", p));
}

static void test_refuse_float_values(void)
{
    float xf[N * H * W];
    memcpy(xf, x32, sizeof xf);
    xf[2 * H * W + 5] = NAN;
    const char *p = with_x("<f4", "(6, 3, 4)", xf, sizeof xf);
    ASSERT_LOAD_FAILS(p, 0, LEASH_EFORMAT,
                      ARRAY_MSG(p, "x_train", "sample 2 holds a value that is not finite (nan)"));
    xf[2 * H * W + 5] = 0;
    xf[5 * H * W] = -INFINITY;
    p = with_x("<f4", "(6, 3, 4)", xf, sizeof xf);
    ASSERT_LOAD_FAILS(p, 0, LEASH_EFORMAT,
                      ARRAY_MSG(p, "x_train", "sample 5 holds a value that is not finite (-inf)"));
    double xd[N * H * W];
    memcpy(xd, x64, sizeof xd);
    xd[H * W] = 1e300;
    p = with_x("<f8", "(6, 3, 4)", xd, sizeof xd);
    ASSERT_LOAD_FAILS(p, 0, LEASH_EFORMAT,
                      ARRAY_MSG(p, "x_train", "sample 1 holds 1e+300, beyond float32's range"));
}

/* Header dicts and prefixes that are not what numpy writes. */
static void test_refuse_headers(void)
{
    static const struct {
        const char *dict, *why;
    } bad[] = {
        {"", "no '{'"},
        {"{'descr': '<f4', 'fortran_order': False}", "no 'shape'"},
        {"{'shape': (6, 3, 4), 'fortran_order': False}", "no 'descr'"},
        {"{'descr': '<f4', 'shape': (6, 3, 4)}", "no 'fortran_order'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6, 3, 4), 'x': 1}",
         "a key other than 'descr', 'fortran_order' and 'shape'"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6, 3, 4)}",
         "a key given twice"},
        {"{'descr': '<f4', 'fortran_order': 0, 'shape': (6, 3, 4)}",
         "'fortran_order' is neither True nor False"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': [6, 3, 4]}",
         "'shape' is not a tuple of sizes"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6, -3, 4)}",
         "'shape' is not a tuple of sizes"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}",
         "'shape' is not a tuple of sizes"},
        {"{'descr': <f4, 'fortran_order': False, 'shape': (6, 3, 4)}",
         "'descr' is not a dtype string"},
        {"{'descr': '<f\\x34', 'fortran_order': False, 'shape': (6, 3, 4)}",
         "'descr' is not a dtype string"},
        {"{descr: '<f4'}", "a key is not a quoted name followed by ':'"},
        {"{'descr': '<f4' 'fortran_order': False, 'shape': (6, 3, 4)}",
         "no ',' or '}' after a value"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6, 3, 4)} junk",
         "text after the dict"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6, 3, 4)",
         "no ',' or '}' after a value"},
    };
    for (size_t t = 0; t < sizeof bad / sizeof *bad; ++t) {
        arr a[2] = {{"x_train", bad[t].dict, x32, sizeof x32},
                    ARR("y_train", "|u1", "(6,)", y8, N)};
        const char *p = write_npz("bad.npz", 0, a, 2);
        ASSERT_REFUSED(p, LEASH_EFORMAT,
                       ARRAY_MSG(p, "x_train", tu_fmt("malformed .npy header: %s", bad[t].why)));
    }
}

/* numpy's variants that load: no trailing comma, double quotes, Python 2's longs,
 * versions 2.0 and 3.0. */
static void test_header_variants(void)
{
    static const char *good[] = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (6, 3, 4)}",
        "{\"descr\": \"<f4\", \"shape\": (6,3,4,), \"fortran_order\": False}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (6L, 3L, 4L), }"};
    for (int version = 1; version <= 3; ++version)
        for (size_t t = 0; t < sizeof good / sizeof *good; ++t) {
            buf xb = npy_file(version, good[t], x32, sizeof x32),
                yb = npy_file(1, dict_of("|u1", "(6,)"), y8, N);
            zentry e[2] = {{.name = "x_train.npy", .data = xb.p, .len = xb.len},
                           {.name = "y_train.npy", .data = yb.p, .len = yb.len}};
            const char *p = tu_path("good.npz");
            ASSERT_INT_EQ(write_zip(p, e, 2), 0);
            free(xb.p);
            free(yb.p);
            leash_dataset tr, te;
            LOAD_OK(p, tr, te, 0);
            ASSERT_TRUE(memcmp(tr.values, x32, sizeof x32) == 0);
            leash_dataset_free(&tr);
        }
}

/* An archive of y8 and an x_train entry of the given bytes (a .npy file or not). */
static const char *with_x_entry(const uint8_t *data, size_t len, int deflate)
{
    buf yb = npy_file(1, dict_of("|u1", "(6,)"), y8, N);
    zentry e[2] = {{.name = "x_train.npy", .data = data, .len = len, .deflate = deflate},
                   {.name = "y_train.npy", .data = yb.p, .len = yb.len}};
    const char *p = tu_path("bad.npz");
    int rc = write_zip(p, e, 2);
    free(yb.p);
    return rc == 0 ? p : NULL;
}

static void test_refuse_npy_prefix(void)
{
    const char *p = with_x_entry((const uint8_t *)"PK not an array", 15, 0);
    ASSERT_REFUSED(p, LEASH_EFORMAT,
                   ARRAY_MSG(p, "x_train", "entry x_train.npy is not a .npy array (no magic)"));
    p = with_x_entry((const uint8_t *)"\x93NUMP", 5, 1);
    ASSERT_REFUSED(p, LEASH_EFORMAT,
                   ARRAY_MSG(p, "x_train", "entry x_train.npy is not a .npy array (no magic)"));
    p = with_x_entry((const uint8_t *)"", 0, 0);
    ASSERT_REFUSED(p, LEASH_EFORMAT,
                   ARRAY_MSG(p, "x_train", "entry x_train.npy is not a .npy array (no magic)"));
    buf b = npy_file(1, dict_of("<f4", "(6, 3, 4)"), x32, sizeof x32);
    b.p[6] = 4;
    p = with_x_entry(b.p, b.len, 0);
    ASSERT_REFUSED(
        p, LEASH_EFORMAT,
        ARRAY_MSG(p, "x_train", ".npy format version 4.0 is not supported (1.0, 2.0 or 3.0)"));
    b.p[6] = 1;
    b.p[7] = 1;
    p = with_x_entry(b.p, b.len, 0);
    ASSERT_REFUSED(
        p, LEASH_EFORMAT,
        ARRAY_MSG(p, "x_train", ".npy format version 1.1 is not supported (1.0, 2.0 or 3.0)"));
    b.p[7] = 0;
    p = with_x_entry(b.p, 9, 1);
    ASSERT_REFUSED(p, LEASH_EFORMAT, ARRAY_MSG(p, "x_train", "truncated .npy header"));
    p = with_x_entry(b.p, 40, 0);
    ASSERT_REFUSED(p, LEASH_EFORMAT, ARRAY_MSG(p, "x_train", "truncated .npy header"));
    free(b.p);
    /* A header length beyond what is read, from a version 2.0 file. */
    b = npy_file(2, dict_of("<f4", "(6, 3, 4)"), x32, sizeof x32);
    b.p[10] = 1; /* + 65536 */
    p = with_x_entry(b.p, b.len, 0);
    ASSERT_REFUSED(p, LEASH_EFORMAT,
                   ARRAY_MSG(p, "x_train",
                             tu_fmt(".npy header of %zu bytes (at most 65536 are read)",
                                    (size_t)b.p[8] + 65536)));
    free(b.p);
}

/* A .npy file of x32 (a 128-byte header and 288 bytes of data). */
static buf x32_file(void) { return npy_file(1, dict_of("<f4", "(6, 3, 4)"), x32, sizeof x32); }

static void test_refuse_sizes(void)
{
    buf b = x32_file(), yb = npy_file(1, dict_of("|u1", "(6,)"), y8, N);
    const char *p = tu_path("bad.npz");
    /* Data shorter or longer than the header promises, the zip's sizes telling the truth. */
    p = with_x_entry(b.p, b.len - 4, 1);
    ASSERT_REFUSED(p, LEASH_EFORMAT,
                   ARRAY_MSG(p, "x_train",
                             "entry x_train.npy states 412 bytes uncompressed, but its "
                             ".npy header promises 416 (128 of header, 288 of data)"));
    uint8_t longer[512];
    memcpy(longer, b.p, b.len);
    memset(longer + b.len, 0, 8);
    p = with_x_entry(longer, b.len + 8, 0);
    ASSERT_REFUSED(p, LEASH_EFORMAT,
                   ARRAY_MSG(p, "x_train",
                             "entry x_train.npy states 424 bytes uncompressed, but its "
                             ".npy header promises 416 (128 of header, 288 of data)"));
    /* The zip states the size the header promises, but the data are shorter or longer:
     * deflate streams of other lengths. */
    size_t zlen;
    uint8_t *z = deflate_raw(b.p, b.len - 8, &zlen);
    zentry e[2] = {
        {.name = "x_train.npy", .data = b.p, .len = b.len, .deflate = 1, .raw = z, .raw_len = zlen},
        {.name = "y_train.npy", .data = yb.p, .len = yb.len}};
    ASSERT_INT_EQ(write_zip(p, e, 2), 0);
    ASSERT_LOAD_FAILS(p, 0, LEASH_EFORMAT,
                      ARRAY_MSG(p, "x_train", "corrupt entry x_train.npy (libzip: CRC error)"));
    /* ... the CRC that of the shorter data. */
    e[0].len = b.len - 8;
    e[0].stated = (uint32_t)b.len;
    ASSERT_INT_EQ(write_zip(p, e, 2), 0);
    ASSERT_LOAD_FAILS(p, 0, LEASH_EFORMAT,
                      ARRAY_MSG(p, "x_train",
                                "truncated: its header promises 288 bytes of data, the "
                                "entry holds 280"));
    e[0].len = b.len;
    e[0].stated = 0;
    free(z);
    z = deflate_raw(longer, b.len + 8, &zlen);
    e[0].raw = z;
    e[0].raw_len = zlen;
    ASSERT_INT_EQ(write_zip(p, e, 2), 0);
    ASSERT_LOAD_FAILS(p, 0, LEASH_EFORMAT,
                      ARRAY_MSG(p, "x_train", "corrupt entry x_train.npy (libzip: CRC error)"));
    e[0].data = longer;
    e[0].len = b.len + 8;
    e[0].stated = (uint32_t)b.len;
    ASSERT_INT_EQ(write_zip(p, e, 2), 0);
    ASSERT_LOAD_FAILS(p, 0, LEASH_EFORMAT,
                      ARRAY_MSG(p, "x_train", "more data than its header promises (288 bytes)"));
    free(z);
    free(b.p);
    free(yb.p);
}

/* Bombs: a few compressed bytes stating 4 GB, refused before anything is allocated
 * (whatever the header says), deflated or stored. */
static void test_refuse_bombs(void)
{
    buf b = x32_file(), yb = npy_file(1, dict_of("|u1", "(6,)"), y8, N);
    const char *p = tu_path("bad.npz");
    size_t zlen;
    free(deflate_raw(b.p, b.len, &zlen));
    zentry e[2] = {{0}, {.name = "y_train.npy", .data = yb.p, .len = yb.len}};
    e[0] = (zentry){
        .name = "x_train.npy", .data = b.p, .len = b.len, .deflate = 1, .stated = 4000000000u};
    ASSERT_INT_EQ(write_zip(p, e, 2), 0);
    ASSERT_REFUSED(p, LEASH_EFORMAT,
                   ARRAY_MSG(p, "x_train",
                             tu_fmt("entry x_train.npy states 4000000000 bytes "
                                    "uncompressed, more than its %zu compressed "
                                    "bytes can hold",
                                    zlen)));
    e[0].deflate = 0;
    ASSERT_INT_EQ(write_zip(p, e, 2), 0);
    ASSERT_REFUSED(p, LEASH_EFORMAT,
                   ARRAY_MSG(p, "x_train",
                             "entry x_train.npy states 4000000000 bytes "
                             "uncompressed, more than its 416 compressed bytes can "
                             "hold"));
    /* Within deflate's ratio, but not what the header promises. */
    buf big = npy_file(1, dict_of("|u1", "(1000, 1000)"), NULL, 0);
    uint8_t *zeros = calloc(1, big.len + 1000000);
    memcpy(zeros, big.p, big.len);
    e[0] = (zentry){.name = "x_train.npy",
                    .data = zeros,
                    .len = big.len + 1000000,
                    .deflate = 1,
                    .stated = 1001064};
    ASSERT_INT_EQ(write_zip(p, e, 2), 0);
    ASSERT_REFUSED(p, LEASH_EFORMAT,
                   ARRAY_MSG(p, "x_train",
                             "entry x_train.npy states 1001064 bytes uncompressed, "
                             "but its .npy header promises 1000128 (128 of header, "
                             "1000000 of data)"));
    free(zeros);
    free(big.p);
    free(b.p);
    free(yb.p);
}

static void test_refuse_archives(void)
{
    const char *p = tu_path("bad.npz");
    ASSERT_INT_EQ(tu_write(p, "not a zip archive at all, but long enough to look", 49), 0);
    ASSERT_REFUSED(p, LEASH_EFORMAT, tu_fmt("%s: not a zip archive (an .npz file is one)", p));
    ASSERT_INT_EQ(tu_write(p, "", 0), 0);
    ASSERT_REFUSED(p, LEASH_EFORMAT, tu_fmt("%s: empty file (an .npz file is a zip archive)", p));
    const char *missing = tu_path("missing.npz");
    ASSERT_REFUSED(missing, LEASH_EIO, tu_fmt("%s: No such file or directory", missing));
    ASSERT_REFUSED(tu_dir, LEASH_EIO, tu_fmt("%s: Is a directory", tu_dir));
    /* Cut short: the end of central directory record is gone. */
    const char *good =
        four("cut.npz", 1, "<f4", "(6, 3, 4)", "(2, 3, 4)", x32, sizeof x32, xt32, sizeof xt32);
    ASSERT_NOT_NULL(good);
    FILE *f = fopen(good, "rb");
    static uint8_t whole[8192];
    size_t n = f ? fread(whole, 1, sizeof whole, f) : 0;
    if (f) fclose(f);
    ASSERT_TRUE(n > 100 && n < sizeof whole);
    ASSERT_INT_EQ(tu_write(p, whole, n - 30), 0);
    ASSERT_REFUSED(p, LEASH_EFORMAT, tu_fmt("%s: not a zip archive (an .npz file is one)", p));
    /* A byte of the first entry's data changed: its CRC no longer matches. */
    uint8_t copy[8192];
    memcpy(copy, whole, n);
    copy[30 + strlen("x_train.npy") + 80] ^= 0x55;
    ASSERT_INT_EQ(tu_write(p, copy, n), 0);
    leash_dataset tr, te;
    int rc = leash_npz_load(&tr, &te, p, 0);
    ASSERT_INT_EQ(rc, LEASH_EFORMAT);
    ASSERT_STR_CONTAINS(leash_last_error(),
                        tu_fmt("%s: array 'x_train': corrupt entry x_train.npy (libzip: ", p));
    /* The CRC itself wrong. */
    buf b = x32_file(), yb = npy_file(1, dict_of("|u1", "(6,)"), y8, N);
    zentry e[2] = {{.name = "x_train.npy", .data = b.p, .len = b.len, .crc_xor = 1},
                   {.name = "y_train.npy", .data = yb.p, .len = yb.len}};
    ASSERT_INT_EQ(write_zip(p, e, 2), 0);
    ASSERT_LOAD_FAILS(p, 0, LEASH_EFORMAT,
                      ARRAY_MSG(p, "x_train", "corrupt entry x_train.npy (libzip: CRC error)"));
    e[0].crc_xor = 0;
    e[1].crc_xor = 0x80000000u;
    e[1].deflate = 1;
    ASSERT_INT_EQ(write_zip(p, e, 2), 0);
    ASSERT_LOAD_FAILS(p, 0, LEASH_EFORMAT,
                      ARRAY_MSG(p, "y_train", "corrupt entry y_train.npy (libzip: CRC error)"));
    free(b.p);
    free(yb.p);
}

/* --- numpy's own files ------------------------------------------------------------------ */

static int have_numpy(void)
{
    return system("/usr/bin/python3 -c 'import numpy' > /dev/null 2>&1") == 0;
}

/* Run a Python script (stdin) with the scratch directory as its argument; 0 on success. */
static int python(const char *script)
{
    FILE *py = popen(tu_fmt("/usr/bin/python3 - '%s'", tu_dir), "w");
    if (!py) return -1;
    fputs(script, py);
    int status = pclose(py);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static const char numpy_files[] =
    "import numpy as np, os, sys\n"
    "d = sys.argv[1]\n"
    "rng = np.random.default_rng(7)\n"
    "x = rng.integers(0, 256, (50, 7, 5, 3), dtype=np.uint8)\n"
    "y = rng.integers(0, 12, 50).astype(np.int64)\n"
    "xt = rng.integers(0, 256, (9, 7, 5, 3), dtype=np.uint8)\n"
    "yt = np.arange(9, dtype=np.uint16) % 10\n"
    "for name, save in (('s', np.savez), ('c', np.savez_compressed)):\n"
    "    save(os.path.join(d, f'u8-{name}.npz'), x_train=x, y_train=y, x_test=xt, y_test=yt)\n"
    "    save(os.path.join(d, f'f4-{name}.npz'), x_train=x.astype('<f4') / 255, y_train=y)\n"
    "    save(os.path.join(d, f'f8-{name}.npz'), x_train=x.reshape(50, -1) / 7.0, y_train=y,\n"
    "         x_test=xt.reshape(9, -1) / 7.0, y_test=yt)\n"
    "x.tofile(os.path.join(d, 'x.bin')); xt.tofile(os.path.join(d, 'xt.bin'))\n"
    "y.astype(np.uint8).tofile(os.path.join(d, 'y.bin'))\n"
    "yt.astype(np.uint8).tofile(os.path.join(d, 'yt.bin'))\n"
    "(x.reshape(50, -1) / 7.0).astype(np.float32).tofile(os.path.join(d, 'f8.bin'))\n"
    "np.savez(os.path.join(d, 'big.npz'), x_train=x.astype('>f4'), y_train=y)\n"
    "np.savez(os.path.join(d, 'obj.npz'), x_train=x, y_train=np.array([1, 'a'] * 25, "
    "dtype=object))\n"
    "np.savez(os.path.join(d, 'fortran.npz'), x_train=np.asfortranarray(x), y_train=y)\n"
    "np.savez(os.path.join(d, 'c8.npz'), x_train=x.astype(np.complex64), y_train=y)\n";

static int file_equals(const char *name, const void *data, size_t n)
{
    static uint8_t b[1 << 20];
    FILE *f = fopen(tu_path(name), "rb");
    size_t got = f ? fread(b, 1, sizeof b, f) : 0;
    if (f) fclose(f);
    return got == n && memcmp(b, data, n) == 0;
}

static void test_numpy_savez(void)
{
    if (!have_numpy()) TAP_SKIP("/usr/bin/python3 has no numpy");
    ASSERT_INT_EQ(python(numpy_files), 0);
    const char *kinds[] = {"u8", "f4", "f8"};
    for (int k = 0; k < 3; ++k) {
        leash_dataset str, ste, ctr, cte;
        LOAD_OK(tu_path(tu_fmt("%s-s.npz", kinds[k])), str, ste, 0);
        LOAD_OK(tu_path(tu_fmt("%s-c.npz", kinds[k])), ctr, cte, 0);
        ASSERT_TRUE(same_dataset(&str, &ctr) && same_dataset(&ste, &cte));
        ASSERT_TRUE(str.n == 50 && str.nclasses >= 10);
        if (k == 0) {
            ASSERT_TRUE(str.h == 7 && str.w == 5 && str.c == 3 && ste.n == 9);
            ASSERT_TRUE(file_equals("x.bin", str.pixels, 50 * 105));
            ASSERT_TRUE(file_equals("xt.bin", ste.pixels, 9 * 105));
            ASSERT_TRUE(file_equals("y.bin", str.labels, 50) &&
                        file_equals("yt.bin", ste.labels, 9));
        } else if (k == 1) {
            ASSERT_TRUE(str.values && ste.n == 0);
            for (size_t i = 0; i < 50 * 105; ++i)
                ASSERT_TRUE(str.values[i] <= 1.0f && str.values[i] >= 0);
        } else {
            ASSERT_TRUE(str.h == 1 && str.w == 105 && str.c == 1);
            ASSERT_TRUE(file_equals("f8.bin", str.values, 50 * 105 * sizeof(float)));
        }
        leash_dataset_free(&str);
        leash_dataset_free(&ste);
        leash_dataset_free(&ctr);
        leash_dataset_free(&cte);
    }
    const char *p = tu_path("big.npz");
    ASSERT_REFUSED(p, LEASH_EFORMAT,
                   ARRAY_MSG(p, "x_train",
                             "dtype '>f4' is big-endian: only little-endian data are "
                             "supported (convert with .astype('<f4'))"));
    p = tu_path("obj.npz");
    ASSERT_REFUSED(p, LEASH_EFORMAT,
                   ARRAY_MSG(p, "y_train",
                             "dtype '|O' holds Python objects (a pickle), which are "
                             "never loaded"));
    p = tu_path("fortran.npz");
    ASSERT_REFUSED(p, LEASH_EFORMAT,
                   ARRAY_MSG(p, "x_train",
                             "Fortran order is not supported: save a C-ordered "
                             "array (np.ascontiguousarray)"));
    p = tu_path("c8.npz");
    ASSERT_REFUSED(
        p, LEASH_EFORMAT,
        ARRAY_MSG(p, "x_train", "dtype '<c8' is not supported (uint8, float32 or float64)"));
}

/* --- float data in the dataset functions ------------------------------------------------- */

enum { GN = 7, GH = 2, GW = 3 };

/* A byte dataset and a float one of the same values (integers), c channels. */
static void twin_datasets(leash_dataset *b, leash_dataset *f, int c, uint64_t seed)
{
    size_t total = (size_t)GN * GH * GW * (size_t)c;
    leash_rng rng;
    leash_rng_seed(&rng, seed);
    *b = (leash_dataset){.pixels = malloc(total),
                         .labels = malloc(GN),
                         .n = GN,
                         .h = GH,
                         .w = GW,
                         .c = c,
                         .nclasses = 5};
    *f = *b;
    f->pixels = NULL;
    f->values = malloc(total * sizeof(float));
    f->labels = malloc(GN);
    if (!b->pixels || !b->labels || !f->values || !f->labels) abort();
    for (size_t i = 0; i < total; ++i) {
        b->pixels[i] = (uint8_t)leash_rng_below(&rng, 256);
        f->values[i] = b->pixels[i];
    }
    for (int i = 0; i < GN; ++i) b->labels[i] = f->labels[i] = (uint8_t)(i % 5);
}

/* Gathered floats are the bytes' gather, bit for bit, with any map: the same arithmetic.
 * And for values that are not integers, value * scale + shift exactly (fused or not, as
 * the build's vector versions do it). */
static void test_gather_float_exact(void)
{
    const uint32_t idx[] = {6, 0, 3, 3, 1};
    const int b = 5;
    for (int c = 1; c <= 3; c += 2) {
        leash_dataset db, df;
        twin_datasets(&db, &df, c, 11 + (uint64_t)c);
        leash_input_map map = {
            .c = c, .scale = {0.1f, 1.0f / 255.0f, 3.7f}, .shift = {-0.5f, 0.25f, 1e-3f}};
        size_t s = leash_dataset_sample_size(&db);
        float xb[5 * GH * GW * 3], xf[5 * GH * GW * 3];
        int yb[5], yf[5];
        leash_dataset_gather(xb, yb, &db, &map, idx, b);
        leash_dataset_gather(xf, yf, &df, &map, idx, b);
        ASSERT_TRUE(memcmp(xb, xf, (size_t)b * s * sizeof(float)) == 0);
        ASSERT_TRUE(memcmp(yb, yf, sizeof yb) == 0);
        for (size_t i = 0; i < (size_t)GN * s; ++i) df.values[i] = df.values[i] / 7.3f - 2.1f;
        leash_dataset_gather(xf, yf, &df, &map, idx, b);
        for (int i = 0; i < b; ++i)
            for (size_t j = 0; j < s; ++j) {
                int k = (int)(j % (size_t)c);
                volatile float v = df.values[idx[i] * s + j], prod = v * map.scale[k];
                float plain = prod + map.shift[k], fused = fmaf(v, map.scale[k], map.shift[k]);
                float got = xf[(size_t)i * s + j];
                if (got != plain && got != fused)
                    TAP_FAIL_AT("x[%d][%zu] = %.9g, not %.9g", i, j, got, plain);
            }
        leash_dataset_free(&db);
        leash_dataset_free(&df);
    }
}

/* Slices, shards and the standardization of float data match those of the same values
 * as bytes; the checkpoint digest tells float data apart and keeps the bytes' formula. */
static void test_float_dataset_functions(void)
{
    leash_dataset db, df, sb, sf;
    twin_datasets(&db, &df, 3, 5);
    const size_t s = leash_dataset_sample_size(&db);
    ASSERT_INT_EQ(leash_dataset_slice(&sf, &df, 2, 4), 0);
    ASSERT_TRUE(sf.pixels == NULL && sf.values != df.values && sf.n == 4);
    for (size_t i = 0; i < 4 * s; ++i) ASSERT_TRUE(sf.values[i] == df.values[2 * s + i]);
    ASSERT_TRUE(memcmp(sf.labels, df.labels + 2, 4) == 0);
    leash_dataset_free(&sf);
    ASSERT_INT_EQ(leash_dataset_shard(&sb, &db, 1, 3, 99), 0);
    ASSERT_INT_EQ(leash_dataset_shard(&sf, &df, 1, 3, 99), 0);
    ASSERT_TRUE(sf.n == sb.n && sf.pixels == NULL && sf.values);
    for (size_t i = 0; i < sb.n * s; ++i) ASSERT_TRUE(sf.values[i] == (float)sb.pixels[i]);
    ASSERT_TRUE(memcmp(sf.labels, sb.labels, sb.n) == 0);
    leash_dataset_free(&sb);
    leash_dataset_free(&sf);
    leash_input_map mb, mf;
    leash_input_map_standardize(&mb, &db);
    leash_input_map_standardize(&mf, &df);
    ASSERT_INT_EQ(mf.c, 3);
    for (int k = 0; k < 3; ++k) {
        ASSERT_DBL_NEAR(mf.scale[k], mb.scale[k], 1e-6 * fabs(mb.scale[k]));
        ASSERT_DBL_NEAR(mf.shift[k], mb.shift[k], 1e-6 * fabs(mb.shift[k]) + 1e-7);
    }
    /* Far from zero, the float path keeps its precision: values 1e4 + {0, 1}. */
    leash_dataset far = df;
    float vals[GN * GH * GW * 3];
    for (size_t i = 0; i < GN * s; ++i) vals[i] = 1e4f + (float)(i % 2);
    far.values = vals;
    leash_input_map_standardize(&mf, &far);
    ASSERT_DBL_NEAR(mf.scale[0], 2.0, 1e-3);
    ASSERT_DBL_NEAR(mf.shift[0], -2.0 * (1e4 + 0.5), 2.0);
    /* A constant float channel is only shifted. */
    for (size_t i = 0; i < GN * s; ++i) vals[i] = 3.5f;
    leash_input_map_standardize(&mf, &far);
    ASSERT_TRUE(mf.scale[1] == 1.0f && mf.shift[1] == -3.5f);
    /* The digest: the bytes' as it always was, the floats' by their bytes. */
    uint32_t shape[4] = {GH, GW, 3, 5};
    uLong crc = crc32_z(crc32(0L, Z_NULL, 0), (const Bytef *)shape, sizeof shape);
    crc = crc32_z(crc, db.pixels, GN * s);
    crc = crc32_z(crc, db.labels, GN);
    ASSERT_INT_EQ(leash_dataset_digest(&db), (uint32_t)crc);
    uint32_t d0 = leash_dataset_digest(&df);
    df.values[5] += 0.5f;
    ASSERT_TRUE(leash_dataset_digest(&df) != d0 && d0 != leash_dataset_digest(&db));
    leash_dataset_free(&db);
    leash_dataset_free(&df);
}

int main(void)
{
    if (tu_setup() != 0) {
        printf("Bail out! cannot create a scratch directory\n");
        return 1;
    }
    make_data();
    tap_plan(24);
    TAP_RUN(test_uint8_nhw);
    TAP_RUN(test_uint8_nhwc);
    TAP_RUN(test_float32);
    TAP_RUN(test_float64);
    TAP_RUN(test_feature_vectors);
    TAP_RUN(test_label_dtypes);
    TAP_RUN(test_stored_and_deflated_same);
    TAP_RUN(test_no_test_pair);
    TAP_RUN(test_refuse_missing_arrays);
    TAP_RUN(test_refuse_dtypes);
    TAP_RUN(test_refuse_objects_and_layouts);
    TAP_RUN(test_refuse_shapes);
    TAP_RUN(test_refuse_split_mismatch);
    TAP_RUN(test_refuse_labels);
    TAP_RUN(test_refuse_float_values);
    TAP_RUN(test_refuse_headers);
    TAP_RUN(test_header_variants);
    TAP_RUN(test_refuse_npy_prefix);
    TAP_RUN(test_refuse_sizes);
    TAP_RUN(test_refuse_bombs);
    TAP_RUN(test_refuse_archives);
    TAP_RUN(test_numpy_savez);
    TAP_RUN(test_gather_float_exact);
    TAP_RUN(test_float_dataset_functions);
    tu_cleanup();
    return tap_done();
}
