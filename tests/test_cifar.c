/* CIFAR-10 binary batches: generated files, planar records reordered to HWC, batches
 * concatenated in order, and the malformed cases. */
#include <sys/stat.h>

#include "leash/leash.h"
#include "tap.h"
#include "testutil.h"

enum { PLANE = 32 * 32, SAMPLE = 3 * PLANE, RECORD = 1 + SAMPLE };

/* Value of channel ch at plane position p of the image with identity id: different
 * in every channel, position and image, so that any misplaced byte shows. */
static uint8_t value(int id, int ch, size_t p)
{
    static const unsigned mul[3] = {3, 5, 11};
    return (uint8_t)(p * mul[ch] + (size_t)id * 13 + (size_t)ch * 101);
}

/* Records for images first_id, first_id + 1, ... with the given labels. */
static uint8_t *make_batch(int first_id, const uint8_t *labels, size_t n)
{
    uint8_t *b = malloc(n * RECORD);
    if (!b) return NULL;
    for (size_t i = 0; i < n; ++i) {
        uint8_t *rec = b + i * RECORD;
        rec[0] = labels[i];
        for (int ch = 0; ch < 3; ++ch)
            for (size_t p = 0; p < PLANE; ++p)
                rec[1 + ch * PLANE + p] = value(first_id + (int)i, ch, p);
    }
    return b;
}

static int write_batch(const char *path, int first_id, const uint8_t *labels, size_t n)
{
    uint8_t *b = make_batch(first_id, labels, n);
    int rc = b ? tu_write(path, b, n * RECORD) : -1;
    free(b);
    return rc;
}

/* Sample i of d is image id, label label, in HWC order. */
#define ASSERT_SAMPLE(d, i, id, label)                                                             \
    do {                                                                                           \
        ASSERT_INT_EQ((d).labels[i], (label));                                                     \
        const uint8_t *px_ = (d).pixels + SAMPLE * (size_t)(i);                                    \
        for (size_t y_ = 0; y_ < 32; ++y_)                                                         \
            for (size_t x_ = 0; x_ < 32; ++x_)                                                     \
                for (int c_ = 0; c_ < 3; ++c_)                                                     \
                    ASSERT_INT_EQ(px_[(y_ * 32 + x_) * 3 + c_], value((id), c_, y_ * 32 + x_));    \
    } while (0)

#define ASSERT_CIFAR_FAILS(paths, npaths, code, msg)                                               \
    do {                                                                                           \
        leash_dataset d_;                                                                          \
        ASSERT_INT_EQ(leash_cifar_load(&d_, (paths), (npaths)), (code));                           \
        ASSERT_STR_EQ(leash_last_error(), (msg));                                                  \
        ASSERT_TRUE(d_.pixels == NULL && d_.labels == NULL && d_.n == 0);                          \
    } while (0)

static void test_two_batches(void)
{
    static const uint8_t la[3] = {3, 0, 9}, lb[2] = {5, 1};
    const char *a = tu_path("a.bin"), *b = tu_path("b.bin");
    ASSERT_INT_EQ(write_batch(a, 0, la, 3), 0);
    ASSERT_INT_EQ(write_batch(b, 3, lb, 2), 0);

    const char *ab[2] = {a, b};
    leash_dataset d;
    int rc = leash_cifar_load(&d, ab, 2);
    if (rc != 0) TAP_FAIL_AT("%s", leash_last_error());
    ASSERT_SIZE_EQ(d.n, 5);
    ASSERT_INT_EQ(d.h, 32);
    ASSERT_INT_EQ(d.w, 32);
    ASSERT_INT_EQ(d.c, 3);
    ASSERT_INT_EQ(d.nclasses, 10);
    ASSERT_SAMPLE(d, 0, 0, 3);
    ASSERT_SAMPLE(d, 1, 1, 0);
    ASSERT_SAMPLE(d, 2, 2, 9);
    ASSERT_SAMPLE(d, 3, 3, 5);
    ASSERT_SAMPLE(d, 4, 4, 1);
    leash_dataset_free(&d);

    /* The other order concatenates the other way. */
    const char *ba[2] = {b, a};
    rc = leash_cifar_load(&d, ba, 2);
    if (rc != 0) TAP_FAIL_AT("%s", leash_last_error());
    ASSERT_SIZE_EQ(d.n, 5);
    ASSERT_SAMPLE(d, 0, 3, 5);
    ASSERT_SAMPLE(d, 1, 4, 1);
    ASSERT_SAMPLE(d, 2, 0, 3);
    ASSERT_SAMPLE(d, 4, 2, 9);
    leash_dataset_free(&d);
}

/* leash_dataset_load reads data_batch_1..5.bin in order for train, test_batch.bin for test. */
static void test_load_directory(void)
{
    const char *dir = tu_path("cifar");
    ASSERT_INT_EQ(mkdir(dir, 0700), 0);
    static const uint8_t labels[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    for (int k = 0; k < 5; ++k)
        ASSERT_INT_EQ(
            write_batch(tu_fmt("%s/data_batch_%d.bin", dir, k + 1), 2 * k, labels + 2 * k, 2), 0);
    ASSERT_INT_EQ(write_batch(tu_fmt("%s/test_batch.bin", dir), 100, labels + 7, 3), 0);

    leash_dataset d;
    int rc = leash_dataset_load(&d, LEASH_DATA_CIFAR10, dir, LEASH_SPLIT_TRAIN);
    if (rc != 0) TAP_FAIL_AT("%s", leash_last_error());
    ASSERT_SIZE_EQ(d.n, 10);
    for (int i = 0; i < 10; ++i) ASSERT_SAMPLE(d, i, i, i);
    leash_dataset_free(&d);

    rc = leash_dataset_load(&d, LEASH_DATA_CIFAR10, dir, LEASH_SPLIT_TEST);
    if (rc != 0) TAP_FAIL_AT("%s", leash_last_error());
    ASSERT_SIZE_EQ(d.n, 3);
    for (int i = 0; i < 3; ++i) ASSERT_SAMPLE(d, i, 100 + i, 7 + i);
    leash_dataset_free(&d);
}

static void test_bad_size(void)
{
    static const uint8_t labels[2] = {1, 2};
    uint8_t *b = make_batch(0, labels, 2);
    ASSERT_NOT_NULL(b);
    const char *good = tu_path("size-good.bin");
    const char *shortp = tu_path("size-short.bin");
    const char *longp = tu_path("size-long.bin");
    int rc = tu_write(good, b, 2 * RECORD);
    if (rc == 0) rc = tu_write(shortp, b, 2 * RECORD - 1);
    if (rc == 0) rc = tu_write(longp, b, RECORD + 5);
    free(b);
    ASSERT_INT_EQ(rc, 0);
    const char *p1[2] = {good, shortp};
    ASSERT_CIFAR_FAILS(
        p1, 2, LEASH_EFORMAT,
        tu_fmt("%s: size 6145 is not a multiple of the 3073-byte CIFAR-10 record", shortp));
    const char *p2[1] = {longp};
    ASSERT_CIFAR_FAILS(
        p2, 1, LEASH_EFORMAT,
        tu_fmt("%s: size 3078 is not a multiple of the 3073-byte CIFAR-10 record", longp));
}

static void test_empty_file(void)
{
    const char *empty = tu_path("empty.bin");
    ASSERT_INT_EQ(tu_write(empty, "", 0), 0);
    const char *p[1] = {empty};
    ASSERT_CIFAR_FAILS(p, 1, LEASH_EFORMAT,
                       tu_fmt("%s: empty file (expected 3073-byte CIFAR-10 records)", empty));
}

static void test_label_out_of_range(void)
{
    static const uint8_t la[2] = {0, 9}, lb[3] = {4, 10, 2};
    const char *a = tu_path("range-a.bin"), *b = tu_path("range-b.bin");
    ASSERT_INT_EQ(write_batch(a, 0, la, 2), 0);
    ASSERT_INT_EQ(write_batch(b, 2, lb, 3), 0);
    const char *p[2] = {a, b};
    ASSERT_CIFAR_FAILS(p, 2, LEASH_EFORMAT,
                       tu_fmt("%s: label 10 at index 1 is out of range (0-9)", b));
}

/* The record count comes from the size on disk, so compressed batches are refused. */
static void test_gzip_refused(void)
{
    static const uint8_t labels[1] = {6};
    uint8_t *b = make_batch(0, labels, 1);
    ASSERT_NOT_NULL(b);
    const char *gz = tu_path("batch.bin.gz");
    int rc = tu_write_gz(gz, b, RECORD);
    free(b);
    ASSERT_INT_EQ(rc, 0);
    const char *p[1] = {gz};
    ASSERT_CIFAR_FAILS(p, 1, LEASH_EFORMAT,
                       tu_fmt("%s: gzip-compressed; CIFAR-10 batches are read uncompressed", gz));
}

/* What a directory lacking CIFAR-10's files should hold, as the messages say. */
#define SHOULD_HOLD                                                                       \
    "; the directory should hold CIFAR10's binary version: data_batch_1.bin to "        \
    "data_batch_5.bin and test_batch.bin"

static void test_missing(void)
{
    const char *none = tu_path("none.bin");
    const char *p[1] = {none};
    ASSERT_CIFAR_FAILS(p, 1, LEASH_EIO, tu_fmt("%s: No such file or directory", none));
    ASSERT_CIFAR_FAILS(p, 0, LEASH_EINVAL, "no CIFAR-10 batch files given");

    /* Through leash_dataset_load: a batch missing from the train set, the test batch
     * missing, the directory missing. */
    const char *dir = tu_path("partial");
    ASSERT_INT_EQ(mkdir(dir, 0700), 0);
    static const uint8_t labels[1] = {3};
    ASSERT_INT_EQ(write_batch(tu_fmt("%s/data_batch_1.bin", dir), 0, labels, 1), 0);
    ASSERT_INT_EQ(write_batch(tu_fmt("%s/data_batch_2.bin", dir), 0, labels, 1), 0);
    leash_dataset d;
    ASSERT_INT_EQ(leash_dataset_load(&d, LEASH_DATA_CIFAR10, dir, LEASH_SPLIT_TRAIN), LEASH_EIO);
    ASSERT_STR_EQ(leash_last_error(), tu_fmt("%s/data_batch_3.bin: not found" SHOULD_HOLD, dir));
    ASSERT_INT_EQ(leash_dataset_load(&d, LEASH_DATA_CIFAR10, dir, LEASH_SPLIT_TEST), LEASH_EIO);
    ASSERT_STR_EQ(leash_last_error(), tu_fmt("%s/test_batch.bin: not found" SHOULD_HOLD, dir));
    const char *nodir = tu_path("no-such-dir");
    ASSERT_INT_EQ(leash_dataset_load(&d, LEASH_DATA_CIFAR10, nodir, LEASH_SPLIT_TEST), LEASH_EIO);
    ASSERT_STR_EQ(leash_last_error(),
                  tu_fmt("%s: cannot open data directory: No such file or directory" SHOULD_HOLD,
                         nodir));
    ASSERT_TRUE(d.pixels == NULL && d.labels == NULL && d.n == 0);
}

/* A learnable CIFAR-shaped set: the class (0, 1 or 2) is the colour plane that is
 * brightest on average, by 45 levels over planes whose means vary (70-109) from image
 * to image and whose pixels are noisy (+-60), so that no single pixel tells the class. */
static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static int write_learnable(const char *path, size_t n, uint32_t *seed)
{
    uint8_t *b = malloc(n * RECORD);
    if (!b) return -1;
    for (size_t i = 0; i < n; ++i) {
        uint8_t *rec = b + i * RECORD;
        int cls = (int)(lcg(seed) % 3);
        rec[0] = (uint8_t)cls;
        for (int ch = 0; ch < 3; ++ch) {
            int mean = 70 + (int)(lcg(seed) % 40) + (ch == cls ? 45 : 0);
            for (size_t p = 0; p < PLANE; ++p) {
                int v = mean + (int)(lcg(seed) % 121) - 60;
                rec[1 + ch * PLANE + p] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    }
    int rc = tu_write(path, b, n * RECORD);
    free(b);
    return rc;
}

/* Both splits through leash_dataset_load_splits, then a small MLP trained on them: the
 * reader's pixels and labels must line up for it to learn what chance (1/3) cannot. */
static void test_splits_train(void)
{
    const char *dir = tu_path("learn");
    ASSERT_INT_EQ(mkdir(dir, 0700), 0);
    uint32_t seed = 12345;
    for (int k = 1; k <= 5; ++k)
        ASSERT_INT_EQ(write_learnable(tu_fmt("%s/data_batch_%d.bin", dir, k), 120, &seed), 0);
    ASSERT_INT_EQ(write_learnable(tu_fmt("%s/test_batch.bin", dir), 300, &seed), 0);

    leash_dataset tr, te;
    int rc = leash_dataset_load_splits(&tr, &te, LEASH_DATA_CIFAR10, dir);
    if (rc != 0) TAP_FAIL_AT("%s", leash_last_error());
    ASSERT_SIZE_EQ(tr.n, 600);
    ASSERT_SIZE_EQ(te.n, 300);
    ASSERT_INT_EQ(tr.h * tr.w * tr.c, SAMPLE);
    ASSERT_INT_EQ(te.h * te.w * te.c, SAMPLE);
    /* The label of every image is the plane brightest in its HWC pixels. */
    for (int s = 0; s < 2; ++s) {
        const leash_dataset *d = s ? &te : &tr;
        for (size_t i = 0; i < d->n; ++i) {
            unsigned long sum[3] = {0, 0, 0};
            for (size_t p = 0; p < SAMPLE; ++p) sum[p % 3] += d->pixels[i * SAMPLE + p];
            int best = sum[1] > sum[0] ? 1 : 0;
            if (sum[2] > sum[best]) best = 2;
            ASSERT_INT_EQ(d->labels[i], best);
        }
    }

    leash_config c;
    leash_config_defaults(&c);
    c.dataset = LEASH_DATA_CIFAR10;
    c.hidden_layers = 1;
    c.units = 32;
    c.batch = 20;
    c.epochs = 4;
    c.step = 0.02;
    c.init = LEASH_INIT_HE;
    leash_result r;
    rc = leash_train(&c, &tr, &te, &r, NULL, NULL);
    if (rc != 0) TAP_FAIL_AT("%s", leash_last_error());
    double acc = r.epochs[r.nepochs - 1].test_accuracy;
    tap_diag("MLP on the learnable CIFAR-shaped set: test accuracy %.4f", acc);
    /* Chance is 1/3 (3 classes); a reader that misplaces labels or planes stays near it. */
    ASSERT_DBL_GE(acc, 0.9);
    leash_result_free(&r);
    leash_dataset_free(&tr);
    leash_dataset_free(&te);
}

/* leash_dataset_load_splits checks both splits' sizes before reading: a test batch cut
 * short inside a record is reported by name, and nothing is returned. */
static void test_splits_refused(void)
{
    const char *dir = tu_path("splits-bad");
    ASSERT_INT_EQ(mkdir(dir, 0700), 0);
    static const uint8_t labels[2] = {4, 7};
    for (int k = 1; k <= 5; ++k)
        ASSERT_INT_EQ(write_batch(tu_fmt("%s/data_batch_%d.bin", dir, k), k, labels, 2), 0);
    uint8_t *b = make_batch(0, labels, 2);
    ASSERT_NOT_NULL(b);
    const char *test = tu_fmt("%s/test_batch.bin", dir);
    char tpath[4096];
    snprintf(tpath, sizeof tpath, "%s", test);
    int rc = tu_write(tpath, b, RECORD + 100);
    free(b);
    ASSERT_INT_EQ(rc, 0);
    leash_dataset tr, te;
    ASSERT_INT_EQ(leash_dataset_load_splits(&tr, &te, LEASH_DATA_CIFAR10, dir), LEASH_EFORMAT);
    ASSERT_STR_EQ(leash_last_error(),
                  tu_fmt("%s: size 3173 is not a multiple of the 3073-byte CIFAR-10 record", tpath));
    ASSERT_TRUE(tr.pixels == NULL && tr.n == 0 && te.pixels == NULL && te.n == 0);

    /* A label out of range in the third training batch. */
    static const uint8_t bad[2] = {2, 11};
    ASSERT_INT_EQ(write_batch(tpath, 0, labels, 2), 0);
    const char *third = tu_fmt("%s/data_batch_3.bin", dir);
    char p3[4096];
    snprintf(p3, sizeof p3, "%s", third);
    ASSERT_INT_EQ(write_batch(p3, 0, bad, 2), 0);
    ASSERT_INT_EQ(leash_dataset_load_splits(&tr, &te, LEASH_DATA_CIFAR10, dir), LEASH_EFORMAT);
    ASSERT_STR_EQ(leash_last_error(), tu_fmt("%s: label 11 at index 1 is out of range (0-9)", p3));
    ASSERT_TRUE(tr.pixels == NULL && tr.n == 0 && te.pixels == NULL && te.n == 0);

    /* A training batch missing. */
    ASSERT_INT_EQ(unlink(tu_fmt("%s/data_batch_5.bin", dir)), 0);
    ASSERT_INT_EQ(leash_dataset_load_splits(&tr, &te, LEASH_DATA_CIFAR10, dir), LEASH_EIO);
    ASSERT_STR_EQ(leash_last_error(), tu_fmt("%s/data_batch_5.bin: not found" SHOULD_HOLD, dir));
}

/* The real CIFAR-10 binary version, where LEASH_CIFAR_DIR names it: 5000 images of
 * each class for training, 1000 for testing. */
static const char *cifar_dir(void)
{
    const char *d = getenv("LEASH_CIFAR_DIR");
    return d && *d ? d : NULL;
}

static void test_real_cifar(void)
{
    static const struct {
        leash_split split;
        size_t n;
    } splits[2] = {{LEASH_SPLIT_TRAIN, 50000}, {LEASH_SPLIT_TEST, 10000}};
    for (int k = 0; k < 2; ++k) {
        leash_dataset d;
        int rc = leash_dataset_load(&d, LEASH_DATA_CIFAR10, cifar_dir(), splits[k].split);
        if (rc != 0) TAP_FAIL_AT("%s", leash_last_error());
        ASSERT_SIZE_EQ(d.n, splits[k].n);
        ASSERT_INT_EQ(d.h, 32);
        ASSERT_INT_EQ(d.w, 32);
        ASSERT_INT_EQ(d.c, 3);
        size_t count[10] = {0};
        for (size_t i = 0; i < d.n; ++i) ++count[d.labels[i]];
        leash_dataset_free(&d);
        for (int c = 0; c < 10; ++c) ASSERT_SIZE_EQ(count[c], splits[k].n / 10);
    }
}

int main(void)
{
    tap_plan(10);
    if (tu_setup() != 0) {
        printf("Bail out! cannot create a scratch directory\n");
        return 1;
    }
    if (cifar_dir())
        TAP_RUN(test_real_cifar);
    else
        tap_skip("test_real_cifar", "LEASH_CIFAR_DIR not set");
    TAP_RUN(test_two_batches);
    TAP_RUN(test_load_directory);
    TAP_RUN(test_bad_size);
    TAP_RUN(test_empty_file);
    TAP_RUN(test_label_out_of_range);
    TAP_RUN(test_gzip_refused);
    TAP_RUN(test_missing);
    TAP_RUN(test_splits_train);
    TAP_RUN(test_splits_refused);
    tu_cleanup();
    return tap_done();
}
