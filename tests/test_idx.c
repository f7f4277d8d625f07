/* IDX loading: the real Fashion-MNIST and MNIST files where present, then small
 * generated files, valid and broken in every way the loader checks for. */
#include <sys/stat.h>

#include "leash/data.h"
#include "leash/error.h"
#include "tap.h"
#include "testutil.h"

/* --- real data ---------------------------------------------------------------- */

/* What a directory lacking a dataset's files should hold, as the messages say. */
#define IDX_FILES                                                                         \
    "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "     \
    "t10k-labels-idx1-ubyte, each plain or .gz"
#define SHOULD_HOLD(name) "; the directory should hold " name "'s " IDX_FILES

static const char *env_dir(const char *var, const char *fallback)
{
    const char *d = getenv(var);
    return d && *d ? d : fallback;
}

static int is_dir(const char *path)
{
    struct stat st;
    return *path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static const char *fashion_dir(void)
{
    return env_dir("LEASH_FASHION_DIR", "/usr/share/datasets/fashion-mnist");
}

/* Only where the build points to it (MNIST is not installed system-wide). */
static const char *mnist_dir(void) { return env_dir("LEASH_MNIST_DIR", ""); }

static uint64_t pixel_sum(const leash_dataset *d)
{
    uint64_t sum = 0;
    size_t total = d->n * leash_dataset_sample_size(d);
    for (size_t i = 0; i < total; ++i) sum += d->pixels[i];
    return sum;
}

/* Shape, label range and per-class counts of a 28x28 split of n images. */
#define ASSERT_MNIST_LIKE(d, count, hist)                                                          \
    do {                                                                                           \
        ASSERT_SIZE_EQ((d).n, (count));                                                            \
        ASSERT_INT_EQ((d).h, 28);                                                                  \
        ASSERT_INT_EQ((d).w, 28);                                                                  \
        ASSERT_INT_EQ((d).c, 1);                                                                   \
        ASSERT_INT_EQ((d).nclasses, 10);                                                           \
        size_t seen_[10] = {0};                                                                    \
        for (size_t i_ = 0; i_ < (d).n; ++i_) {                                                    \
            ASSERT_INT_LE((d).labels[i_], 9);                                                      \
            ++seen_[(d).labels[i_]];                                                               \
        }                                                                                          \
        for (int k_ = 0; k_ < 10; ++k_) ASSERT_SIZE_EQ(seen_[k_], (hist)[k_]);                     \
    } while (0)

static void test_fashion_train(void)
{
    static const size_t hist[10] = {6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000};
    static const uint8_t first[8] = {9, 0, 0, 3, 0, 2, 7, 2};
    leash_dataset d;
    int rc = leash_dataset_load(&d, LEASH_DATA_FASHION_MNIST, fashion_dir(), LEASH_SPLIT_TRAIN);
    if (rc != 0) TAP_FAIL_AT("%s", leash_last_error());
    ASSERT_MNIST_LIKE(d, 60000, hist);
    ASSERT_TRUE(memcmp(d.labels, first, sizeof first) == 0);
    ASSERT_INT_EQ(pixel_sum(&d), 3431114169ULL);
    leash_dataset_free(&d);
}

/* The test split from its .gz files, then from plain copies decompressed here. */
static void test_fashion_test_gz_and_plain(void)
{
    static const size_t hist[10] = {1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000};
    static const uint8_t first[8] = {9, 2, 1, 1, 6, 1, 4, 6};
    const char *dir = fashion_dir();
    leash_dataset gz, plain;
    int rc = leash_dataset_load(&gz, LEASH_DATA_FASHION_MNIST, dir, LEASH_SPLIT_TEST);
    if (rc != 0) TAP_FAIL_AT("%s", leash_last_error());
    ASSERT_MNIST_LIKE(gz, 10000, hist);
    ASSERT_TRUE(memcmp(gz.labels, first, sizeof first) == 0);
    ASSERT_INT_EQ(pixel_sum(&gz), 573469082ULL);

    const char *copy = tu_path("fashion-plain");
    ASSERT_INT_EQ(mkdir(copy, 0700), 0);
    ASSERT_INT_EQ(tu_gunzip(tu_fmt("%s/t10k-images-idx3-ubyte.gz", dir),
                            tu_fmt("%s/t10k-images-idx3-ubyte", copy)),
                  0);
    ASSERT_INT_EQ(tu_gunzip(tu_fmt("%s/t10k-labels-idx1-ubyte.gz", dir),
                            tu_fmt("%s/t10k-labels-idx1-ubyte", copy)),
                  0);
    rc = leash_dataset_load(&plain, LEASH_DATA_FASHION_MNIST, copy, LEASH_SPLIT_TEST);
    if (rc != 0) TAP_FAIL_AT("%s", leash_last_error());
    ASSERT_SIZE_EQ(plain.n, gz.n);
    ASSERT_INT_EQ(pixel_sum(&plain), pixel_sum(&gz));
    ASSERT_TRUE(memcmp(plain.pixels, gz.pixels, gz.n * 28 * 28) == 0);
    ASSERT_TRUE(memcmp(plain.labels, gz.labels, gz.n) == 0);
    leash_dataset_free(&plain);
    leash_dataset_free(&gz);
}

static void test_mnist_digits(void)
{
    static const size_t hist[10] = {980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009};
    static const uint8_t first[8] = {7, 2, 1, 0, 4, 1, 4, 9};
    leash_dataset d;
    int rc = leash_dataset_load(&d, LEASH_DATA_MNIST, mnist_dir(), LEASH_SPLIT_TEST);
    if (rc != 0) TAP_FAIL_AT("%s", leash_last_error());
    ASSERT_MNIST_LIKE(d, 10000, hist);
    ASSERT_TRUE(memcmp(d.labels, first, sizeof first) == 0);
    ASSERT_INT_EQ(pixel_sum(&d), 264923200ULL);
    leash_dataset_free(&d);
}

/* That directory holds only the t10k files: the train split names the .gz it wanted. */
static void test_mnist_train_missing(void)
{
    const char *dir = mnist_dir();
    leash_dataset d;
    ASSERT_INT_EQ(leash_dataset_load(&d, LEASH_DATA_MNIST, dir, LEASH_SPLIT_TRAIN), LEASH_EIO);
    ASSERT_STR_EQ(leash_last_error(),
                  tu_fmt("%s/train-images-idx3-ubyte.gz: not found (nor "
                         "%s/train-images-idx3-ubyte)" SHOULD_HOLD("MNIST"),
                         dir, dir));
    ASSERT_TRUE(d.pixels == NULL && d.labels == NULL && d.n == 0);
}

/* --- generated files ---------------------------------------------------------- */

enum {
    N = 12,
    ROWS = 5,
    COLS = 4,
    DATA = N * ROWS * COLS,
    IMAGES_MAGIC = 0x803,
    LABELS_MAGIC = 0x801
};

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint8_t pixel(size_t i) { return (uint8_t)(i * 37 + 11); }

/* An images file: header, then ndata bytes of the pixel pattern. buf holds 16 + ndata. */
static size_t make_images(uint8_t *buf, uint32_t magic, uint32_t n, uint32_t rows, uint32_t cols,
                          size_t ndata)
{
    put_be32(buf, magic);
    put_be32(buf + 4, n);
    put_be32(buf + 8, rows);
    put_be32(buf + 12, cols);
    for (size_t i = 0; i < ndata; ++i) buf[16 + i] = pixel(i);
    return 16 + ndata;
}

/* A labels file: header, then ndata labels 0, 1, ..., 9, 0, ... buf holds 8 + ndata. */
static size_t make_labels(uint8_t *buf, uint32_t magic, uint32_t n, size_t ndata)
{
    put_be32(buf, magic);
    put_be32(buf + 4, n);
    for (size_t i = 0; i < ndata; ++i) buf[8 + i] = (uint8_t)(i % 10);
    return 8 + ndata;
}

/* Write bytes under name (plain) or name.gz (compressed); returns the path or NULL. */
static const char *put(const char *name, int gz, const uint8_t *data, size_t n)
{
    const char *path = tu_fmt("%s/%s%s", tu_dir, name, gz ? ".gz" : "");
    return (gz ? tu_write_gz(path, data, n) : tu_write(path, data, n)) == 0 ? path : NULL;
}

static uint8_t good_images[16 + DATA], good_labels[8 + N];

static void make_good(void)
{
    make_images(good_images, IMAGES_MAGIC, N, ROWS, COLS, DATA);
    make_labels(good_labels, LABELS_MAGIC, N, N);
}

/* The load fails with code and exactly msg, leaving *out empty. */
#define ASSERT_IDX_FAILS(ipath, lpath, code, msg)                                                  \
    do {                                                                                           \
        leash_dataset d_;                                                                          \
        ASSERT_INT_EQ(leash_idx_load(&d_, (ipath), (lpath)), (code));                              \
        ASSERT_STR_EQ(leash_last_error(), (msg));                                                  \
        ASSERT_TRUE(d_.pixels == NULL && d_.labels == NULL && d_.n == 0);                          \
    } while (0)

#define ASSERT_IDX_GOOD(d)                                                                         \
    do {                                                                                           \
        ASSERT_SIZE_EQ((d).n, N);                                                                  \
        ASSERT_INT_EQ((d).h, ROWS);                                                                \
        ASSERT_INT_EQ((d).w, COLS);                                                                \
        ASSERT_INT_EQ((d).c, 1);                                                                   \
        ASSERT_INT_EQ((d).nclasses, 10);                                                           \
        for (size_t i_ = 0; i_ < DATA; ++i_) ASSERT_INT_EQ((d).pixels[i_], pixel(i_));             \
        for (size_t i_ = 0; i_ < N; ++i_) ASSERT_INT_EQ((d).labels[i_], i_ % 10);                  \
    } while (0)

static void test_roundtrip(void)
{
    make_good();
    /* Every mix of plain and compressed files: gzip is told by content, not name. */
    for (int gi = 0; gi < 2; ++gi) {
        for (int gl = 0; gl < 2; ++gl) {
            const char *ip =
                put(tu_fmt("rt%d%d-images", gi, gl), gi, good_images, sizeof good_images);
            const char *lp =
                put(tu_fmt("rt%d%d-labels", gi, gl), gl, good_labels, sizeof good_labels);
            ASSERT_NOT_NULL(ip);
            ASSERT_NOT_NULL(lp);
            leash_dataset d;
            int rc = leash_idx_load(&d, ip, lp);
            if (rc != 0) TAP_FAIL_AT("%s", leash_last_error());
            ASSERT_IDX_GOOD(d);
            leash_dataset_free(&d);
        }
    }
}

/* A gzip file named without .gz, and a plain one named with it. */
static void test_gzip_detected_by_content(void)
{
    make_good();
    const char *ip = tu_path("content-images");
    const char *lp = tu_path("content-labels.gz");
    ASSERT_INT_EQ(tu_write_gz(ip, good_images, sizeof good_images), 0);
    ASSERT_INT_EQ(tu_write(lp, good_labels, sizeof good_labels), 0);
    leash_dataset d;
    int rc = leash_idx_load(&d, ip, lp);
    if (rc != 0) TAP_FAIL_AT("%s", leash_last_error());
    ASSERT_IDX_GOOD(d);
    leash_dataset_free(&d);
}

/* leash_dataset_load takes the plain file over the .gz one when both exist, and
 * finds the .gz one alone. */
static void test_load_names(void)
{
    make_good();
    const char *dir = tu_path("names");
    ASSERT_INT_EQ(mkdir(dir, 0700), 0);
    uint8_t other[sizeof good_labels];
    make_labels(other, LABELS_MAGIC, N, N);
    for (size_t i = 0; i < N; ++i) other[8 + i] = (uint8_t)(9 - i % 10);
    ASSERT_INT_EQ(
        tu_write(tu_fmt("%s/t10k-images-idx3-ubyte.gz", dir), good_images, sizeof good_images), 0);
    ASSERT_INT_EQ(tu_write_gz(tu_fmt("%s/t10k-labels-idx1-ubyte.gz", dir), other, sizeof other), 0);
    ASSERT_INT_EQ(
        tu_write(tu_fmt("%s/t10k-labels-idx1-ubyte", dir), good_labels, sizeof good_labels), 0);
    leash_dataset d;
    /* A trailing slash on the directory is not doubled in the names. */
    int rc = leash_dataset_load(&d, LEASH_DATA_MNIST, tu_fmt("%s/", dir), LEASH_SPLIT_TEST);
    if (rc != 0) TAP_FAIL_AT("%s", leash_last_error());
    ASSERT_IDX_GOOD(d);
    leash_dataset_free(&d);
}

static void test_bad_magic(void)
{
    make_good();
    for (int gz = 0; gz < 2; ++gz) {
        uint8_t img[sizeof good_images], lab[sizeof good_labels];
        make_images(img, 0x00000801, N, ROWS, COLS, DATA);
        make_labels(lab, 0x00000803, N, N);
        const char *gi = put("good-images", gz, good_images, sizeof good_images);
        const char *gl = put("good-labels", gz, good_labels, sizeof good_labels);
        const char *bi = put("magic-images", gz, img, sizeof img);
        const char *bl = put("magic-labels", gz, lab, sizeof lab);
        ASSERT_TRUE(gi && gl && bi && bl);
        ASSERT_IDX_FAILS(
            bi, gl, LEASH_EFORMAT,
            tu_fmt("%s: bad magic number 0x00000801 (expected 0x00000803, IDX images)", bi));
        ASSERT_IDX_FAILS(
            gi, bl, LEASH_EFORMAT,
            tu_fmt("%s: bad magic number 0x00000803 (expected 0x00000801, IDX labels)", bl));
        /* The images and labels files the wrong way round. */
        ASSERT_IDX_FAILS(
            gl, gi, LEASH_EFORMAT,
            tu_fmt("%s: bad magic number 0x00000801 (expected 0x00000803, IDX images)", gl));
    }
}

static void test_truncated(void)
{
    make_good();
    for (int gz = 0; gz < 2; ++gz) {
        uint8_t img[sizeof good_images], lab[sizeof good_labels];
        size_t ni = make_images(img, IMAGES_MAGIC, N, ROWS, COLS, DATA - 5);
        size_t nl = make_labels(lab, LABELS_MAGIC, N, N - 1);
        const char *gi = put("good-images", gz, good_images, sizeof good_images);
        const char *gl = put("good-labels", gz, good_labels, sizeof good_labels);
        const char *ti = put("trunc-images", gz, img, ni);
        const char *tl = put("trunc-labels", gz, lab, nl);
        const char *hi = put("trunc-header", gz, good_images, 10);
        const char *hl = put("trunc-lheader", gz, good_labels, 6);
        ASSERT_TRUE(gi && gl && ti && tl && hi && hl);
        ASSERT_IDX_FAILS(ti, gl, LEASH_EFORMAT,
                         tu_fmt("%s: truncated: header promises %d bytes of data, file has %d", ti,
                                DATA, DATA - 5));
        ASSERT_IDX_FAILS(
            gi, tl, LEASH_EFORMAT,
            tu_fmt("%s: truncated: header promises %d bytes of data, file has %d", tl, N, N - 1));
        ASSERT_IDX_FAILS(
            hi, gl, LEASH_EFORMAT,
            tu_fmt("%s: truncated: IDX images header needs 16 bytes, file has 10", hi));
        ASSERT_IDX_FAILS(gi, hl, LEASH_EFORMAT,
                         tu_fmt("%s: truncated: IDX labels header needs 8 bytes, file has 6", hl));
    }
}

/* A header promising far more than the file could hold is caught before any buffer
 * of that size is allocated (under AddressSanitizer such a request would abort). */
static void test_huge_count(void)
{
    make_good();
    for (int gz = 0; gz < 2; ++gz) {
        uint8_t img[sizeof good_images], lab[sizeof good_labels];
        make_images(img, IMAGES_MAGIC, 4000000000u, 4096, 4096, DATA);
        make_labels(lab, LABELS_MAGIC, 4000000000u, N);
        const char *bi = put("huge-images", gz, img, sizeof img);
        const char *bl = put("huge-labels", gz, lab, sizeof lab);
        ASSERT_TRUE(bi && bl);
        ASSERT_IDX_FAILS(bi, bl, LEASH_EFORMAT,
                         tu_fmt("%s: truncated: header promises %zu bytes of data, file has %d", bi,
                                (size_t)4000000000u * 4096 * 4096, DATA));
    }
}

static void test_trailing_bytes(void)
{
    make_good();
    for (int gz = 0; gz < 2; ++gz) {
        uint8_t img[sizeof good_images + 3], lab[sizeof good_labels + 1];
        size_t ni = make_images(img, IMAGES_MAGIC, N, ROWS, COLS, DATA + 3);
        size_t nl = make_labels(lab, LABELS_MAGIC, N, N + 1);
        const char *gi = put("good-images", gz, good_images, sizeof good_images);
        const char *gl = put("good-labels", gz, good_labels, sizeof good_labels);
        const char *ti = put("trail-images", gz, img, ni);
        const char *tl = put("trail-labels", gz, lab, nl);
        ASSERT_TRUE(gi && gl && ti && tl);
        ASSERT_IDX_FAILS(ti, gl, LEASH_EFORMAT,
                         tu_fmt("%s: 3 unexpected bytes after the data the header promises", ti));
        ASSERT_IDX_FAILS(gi, tl, LEASH_EFORMAT,
                         tu_fmt("%s: 1 unexpected bytes after the data the header promises", tl));
    }
}

static void test_label_count_differs(void)
{
    make_good();
    for (int gz = 0; gz < 2; ++gz) {
        uint8_t lab[sizeof good_labels];
        size_t nl = make_labels(lab, LABELS_MAGIC, N - 1, N - 1);
        const char *gi = put("good-images", gz, good_images, sizeof good_images);
        const char *bl = put("count-labels", gz, lab, nl);
        ASSERT_TRUE(gi && bl);
        ASSERT_IDX_FAILS(gi, bl, LEASH_EFORMAT,
                         tu_fmt("%s: %d labels but %s holds %d images", bl, N - 1, gi, N));
    }
}

static void test_label_out_of_range(void)
{
    make_good();
    for (int gz = 0; gz < 2; ++gz) {
        uint8_t lab[sizeof good_labels];
        make_labels(lab, LABELS_MAGIC, N, N);
        lab[8 + 5] = 10;
        const char *gi = put("good-images", gz, good_images, sizeof good_images);
        const char *bl = put("range-labels", gz, lab, sizeof lab);
        ASSERT_TRUE(gi && bl);
        ASSERT_IDX_FAILS(gi, bl, LEASH_EFORMAT,
                         tu_fmt("%s: label 10 at index 5 is out of range (0-9)", bl));
        lab[8 + 5] = 5;
        lab[8 + N - 1] = 255;
        ASSERT_NOT_NULL(bl = put("range-labels", gz, lab, sizeof lab));
        ASSERT_IDX_FAILS(gi, bl, LEASH_EFORMAT,
                         tu_fmt("%s: label 255 at index %d is out of range (0-9)", bl, N - 1));
    }
}

static void test_bad_dimensions(void)
{
    make_good();
    for (int gz = 0; gz < 2; ++gz) {
        uint8_t img[sizeof good_images], lab[8];
        size_t ni = make_images(img, IMAGES_MAGIC, 0, ROWS, COLS, 0);
        size_t nl = make_labels(lab, LABELS_MAGIC, 0, 0);
        const char *gl = put("good-labels", gz, good_labels, sizeof good_labels);
        const char *zi = put("zero-images", gz, img, ni);
        const char *zl = put("zero-labels", gz, lab, nl);
        ASSERT_TRUE(gl && zi && zl);
        ASSERT_IDX_FAILS(zi, zl, LEASH_EFORMAT,
                         tu_fmt("%s: bad number of images 0 (expected at least 1)", zi));

        make_images(img, IMAGES_MAGIC, N, 0, COLS, DATA);
        ASSERT_NOT_NULL(zi = put("rows-images", gz, img, sizeof img));
        ASSERT_IDX_FAILS(zi, gl, LEASH_EFORMAT,
                         tu_fmt("%s: bad number of rows 0 (expected 1-4096)", zi));

        make_images(img, IMAGES_MAGIC, N, ROWS, 4097, DATA);
        ASSERT_NOT_NULL(zi = put("cols-images", gz, img, sizeof img));
        ASSERT_IDX_FAILS(zi, gl, LEASH_EFORMAT,
                         tu_fmt("%s: bad number of columns 4097 (expected 1-4096)", zi));
    }
}

static void test_corrupt_gzip(void)
{
    make_good();
    size_t zn;
    uint8_t *z = tu_gzip(good_images, sizeof good_images, &zn);
    ASSERT_NOT_NULL(z);
    const char *gl = put("good-labels", 1, good_labels, sizeof good_labels);
    ASSERT_NOT_NULL(gl);

    /* A flipped byte in the deflate data: bad codes or a checksum mismatch. */
    const char *bad = tu_path("corrupt-images.gz");
    z[zn / 2] ^= 0x55;
    int wrote = tu_write(bad, z, zn);
    z[zn / 2] ^= 0x55;
    /* A stream cut short, which zlib reports without failing the read. */
    const char *cut = tu_path("cut-images.gz");
    if (wrote == 0) wrote = tu_write(cut, z, zn - 12);
    free(z);
    ASSERT_INT_EQ(wrote, 0);
    ASSERT_IDX_FAILS(bad, gl, LEASH_EFORMAT, tu_fmt("%s: corrupt gzip data", bad));
    ASSERT_IDX_FAILS(cut, gl, LEASH_EFORMAT, tu_fmt("%s: corrupt gzip data", cut));
}

static void test_missing_file(void)
{
    make_good();
    const char *gi = put("good-images", 0, good_images, sizeof good_images);
    const char *gl = put("good-labels", 0, good_labels, sizeof good_labels);
    ASSERT_TRUE(gi && gl);
    const char *none = tu_path("no-such-file");
    ASSERT_IDX_FAILS(none, gl, LEASH_EIO, tu_fmt("%s: No such file or directory", none));
    ASSERT_IDX_FAILS(gi, none, LEASH_EIO, tu_fmt("%s: No such file or directory", none));
    ASSERT_IDX_FAILS(tu_dir, gl, LEASH_EIO, tu_fmt("%s: Is a directory", tu_dir));

    /* Through leash_dataset_load: the images file missing, then only the labels file. */
    const char *dir = tu_path("missing");
    ASSERT_INT_EQ(mkdir(dir, 0700), 0);
    leash_dataset d;
    ASSERT_INT_EQ(leash_dataset_load(&d, LEASH_DATA_FASHION_MNIST, dir, LEASH_SPLIT_TRAIN),
                  LEASH_EIO);
    ASSERT_STR_EQ(leash_last_error(),
                  tu_fmt("%s/train-images-idx3-ubyte.gz: not found (nor "
                         "%s/train-images-idx3-ubyte)" SHOULD_HOLD("FASHION-MNIST"),
                         dir, dir));
    ASSERT_INT_EQ(
        tu_write_gz(tu_fmt("%s/t10k-images-idx3-ubyte.gz", dir), good_images, sizeof good_images),
        0);
    ASSERT_INT_EQ(leash_dataset_load(&d, LEASH_DATA_MNIST, dir, LEASH_SPLIT_TEST), LEASH_EIO);
    ASSERT_STR_EQ(leash_last_error(),
                  tu_fmt("%s/t10k-labels-idx1-ubyte.gz: not found (nor "
                         "%s/t10k-labels-idx1-ubyte)" SHOULD_HOLD("MNIST"),
                         dir, dir));
    ASSERT_TRUE(d.pixels == NULL && d.labels == NULL && d.n == 0);
}

static void test_missing_directory(void)
{
    leash_dataset d;
    const char *dir = tu_path("no-such-dir");
    ASSERT_INT_EQ(leash_dataset_load(&d, LEASH_DATA_MNIST, dir, LEASH_SPLIT_TRAIN), LEASH_EIO);
    ASSERT_STR_EQ(leash_last_error(),
                  tu_fmt("%s: cannot open data directory: No such file or directory"
                         SHOULD_HOLD("MNIST"), dir));
    const char *file = tu_path("a-file");
    ASSERT_INT_EQ(tu_write(file, "x", 1), 0);
    ASSERT_INT_EQ(leash_dataset_load(&d, LEASH_DATA_FASHION_MNIST, file, LEASH_SPLIT_TEST),
                  LEASH_EIO);
    ASSERT_STR_EQ(leash_last_error(),
                  tu_fmt("%s: cannot open data directory: Not a directory"
                         SHOULD_HOLD("FASHION-MNIST"), file));
    ASSERT_TRUE(d.pixels == NULL && d.labels == NULL && d.n == 0);
}

int main(void)
{
    tap_plan(17);
    if (tu_setup() != 0) {
        printf("Bail out! cannot create a scratch directory\n");
        return 1;
    }
    if (is_dir(fashion_dir())) {
        TAP_RUN(test_fashion_train);
        TAP_RUN(test_fashion_test_gz_and_plain);
    } else {
        tap_skip("test_fashion_train", "no Fashion-MNIST directory (LEASH_FASHION_DIR)");
        tap_skip("test_fashion_test_gz_and_plain",
                 "no Fashion-MNIST directory (LEASH_FASHION_DIR)");
    }
    if (is_dir(mnist_dir())) {
        TAP_RUN(test_mnist_digits);
        TAP_RUN(test_mnist_train_missing);
    } else {
        tap_skip("test_mnist_digits", "no MNIST directory (LEASH_MNIST_DIR)");
        tap_skip("test_mnist_train_missing", "no MNIST directory (LEASH_MNIST_DIR)");
    }
    TAP_RUN(test_roundtrip);
    TAP_RUN(test_gzip_detected_by_content);
    TAP_RUN(test_load_names);
    TAP_RUN(test_bad_magic);
    TAP_RUN(test_truncated);
    TAP_RUN(test_huge_count);
    TAP_RUN(test_trailing_bytes);
    TAP_RUN(test_label_count_differs);
    TAP_RUN(test_label_out_of_range);
    TAP_RUN(test_bad_dimensions);
    TAP_RUN(test_corrupt_gzip);
    TAP_RUN(test_missing_file);
    TAP_RUN(test_missing_directory);
    tu_cleanup();
    return tap_done();
}
