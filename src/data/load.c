/* Loading a dataset's splits from a directory under their standard file names: which
 * files, found plain or gzipped, read by the format's reader (idx.c, cifar.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error_internal.h"
#include "data/file_internal.h"
#include "leash/data.h"
#include "leash/train.h"

#define CIFAR_TRAIN_BATCHES 5

/* Whether path may exist: anything but ENOENT is left for the open to report. */
static int present(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 || errno != ENOENT;
}

/* The files a dataset is read from, for the messages about a directory that lacks them. */
static const char *expected_files(leash_dataset_kind kind)
{
    return kind == LEASH_DATA_CIFAR10
               ? "binary version: data_batch_1.bin to data_batch_5.bin and test_batch.bin"
               : "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
                 "t10k-labels-idx1-ubyte, each plain or .gz";
}

/* Fail with code, the message fmt's text followed by what the directory should hold. */
#define fail_missing(code, kind, fmt, ...)                                                    \
    leash_fail(code, fmt "; the directory should hold %s's %s", __VA_ARGS__,                  \
               leash_dataset_name(kind), expected_files(kind))

/* IDX file name in dir, plain preferred over name.gz. */
static int find_idx(char **out, const char *dir, const char *name, leash_dataset_kind kind)
{
    char *plain, *gz;
    int rc = leash_path_join(&plain, dir, name);
    if (rc != 0) return rc;
    if (present(plain)) {
        *out = plain;
        return 0;
    }
    if (asprintf(&gz, "%s.gz", plain) < 0) {
        free(plain);
        return leash_fail(LEASH_ENOMEM, "%s.gz: out of memory", plain);
    }
    if (present(gz)) {
        free(plain);
        *out = gz;
        return 0;
    }
    rc = fail_missing(LEASH_EIO, kind, "%s: not found (nor %s)", gz, plain);
    free(gz);
    free(plain);
    return rc;
}

/* A split's file names: IDX images and labels (2), or CIFAR-10 batches (5 or 1). */
typedef struct split_files {
    char *paths[CIFAR_TRAIN_BATCHES];
    int n;
} split_files;

static void split_files_free(split_files *f)
{
    for (int k = 0; k < f->n; ++k) free(f->paths[k]);
    f->n = 0;
}

static int find_files(split_files *f, leash_dataset_kind kind, const char *dir, leash_split split)
{
    *f = (split_files){0};
    int rc = 0;
    if (kind != LEASH_DATA_CIFAR10) {
        const char *images =
            split == LEASH_SPLIT_TRAIN ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte";
        const char *labels =
            split == LEASH_SPLIT_TRAIN ? "train-labels-idx1-ubyte" : "t10k-labels-idx1-ubyte";
        if ((rc = find_idx(&f->paths[0], dir, images, kind)) == 0) f->n = 1;
        if (rc == 0 && (rc = find_idx(&f->paths[1], dir, labels, kind)) == 0) f->n = 2;
        return rc;
    }
    int npaths = split == LEASH_SPLIT_TRAIN ? CIFAR_TRAIN_BATCHES : 1;
    for (int k = 0; k < npaths && rc == 0; ++k) {
        char name[32];
        if (split == LEASH_SPLIT_TRAIN)
            snprintf(name, sizeof name, "data_batch_%d.bin", k + 1);
        else
            snprintf(name, sizeof name, "test_batch.bin");
        if ((rc = leash_path_join(&f->paths[k], dir, name)) != 0) break;
        f->n = k + 1;
        if (!present(f->paths[k]))
            rc = fail_missing(LEASH_EIO, LEASH_DATA_CIFAR10, "%s: not found", f->paths[k]);
    }
    return rc;
}

/* A split's headers (IDX) or sizes (CIFAR-10), checked; its image shape. */
static int probe(const split_files *f, leash_dataset_kind kind, int *h, int *w)
{
    size_t n;
    if (kind != LEASH_DATA_CIFAR10) return leash_idx_probe(f->paths[0], f->paths[1], &n, h, w);
    *h = *w = 32;
    return leash_cifar_probe((const char *const *)f->paths, f->n, &n);
}

static int load_files(leash_dataset *out, const split_files *f, leash_dataset_kind kind)
{
    if (kind != LEASH_DATA_CIFAR10) return leash_idx_load(out, f->paths[0], f->paths[1]);
    return leash_cifar_load(out, (const char *const *)f->paths, f->n);
}

static int check_request(leash_dataset_kind kind, const char *dir)
{
    if (kind == LEASH_DATA_SYNTH)
        return leash_fail(LEASH_EINVAL, "the SYNTH dataset is generated, not loaded from files");
    if (kind == LEASH_DATA_NPZ)
        return leash_fail(LEASH_EINVAL, "an .npz dataset is one file: load it with leash_npz_load");
    if (kind != LEASH_DATA_MNIST && kind != LEASH_DATA_FASHION_MNIST && kind != LEASH_DATA_CIFAR10)
        return leash_fail(LEASH_EINVAL, "unknown dataset kind %d", (int)kind);
    struct stat st;
    int err = stat(dir, &st) != 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
    if (err)
        return fail_missing(LEASH_EIO, kind, "%s: cannot open data directory: %s", dir,
                            strerror(err));
    return 0;
}

int leash_dataset_load_splits(leash_dataset *train, leash_dataset *test, leash_dataset_kind kind,
                              const char *dir)
{
    *train = *test = (leash_dataset){0};
    split_files ftrain = {0}, ftest = {0};
    int htrain, wtrain, htest, wtest;
    int rc = check_request(kind, dir);
    if (rc == 0) rc = find_files(&ftrain, kind, dir, LEASH_SPLIT_TRAIN);
    if (rc == 0) rc = find_files(&ftest, kind, dir, LEASH_SPLIT_TEST);
    /* Every header before any data: a bad or mismatched test split is reported at once,
     * not after gigabytes of training images. */
    if (rc == 0) rc = probe(&ftrain, kind, &htrain, &wtrain);
    if (rc == 0) rc = probe(&ftest, kind, &htest, &wtest);
    if (rc == 0 && (htest != htrain || wtest != wtrain))
        rc = leash_fail(LEASH_EFORMAT, "%s: images of %dx%d, but those of %s are %dx%d",
                        ftest.paths[0], htest, wtest, ftrain.paths[0], htrain, wtrain);
    if (rc == 0) rc = load_files(train, &ftrain, kind);
    if (rc == 0 && (rc = load_files(test, &ftest, kind)) != 0) leash_dataset_free(train);
    split_files_free(&ftrain);
    split_files_free(&ftest);
    return rc;
}

int leash_dataset_load(leash_dataset *out, leash_dataset_kind kind, const char *dir,
                       leash_split split)
{
    *out = (leash_dataset){0};
    if (split != LEASH_SPLIT_TRAIN && split != LEASH_SPLIT_TEST)
        return leash_fail(LEASH_EINVAL, "unknown dataset split %d", (int)split);
    split_files f = {0};
    int rc = check_request(kind, dir);
    if (rc == 0) rc = find_files(&f, kind, dir, split);
    if (rc == 0) rc = load_files(out, &f, kind);
    split_files_free(&f);
    return rc;
}
