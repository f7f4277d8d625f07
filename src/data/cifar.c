#include <stdlib.h>

#include "core/error_internal.h"
#include "core/hugemem_internal.h"
#include "data/file_internal.h"
#include "leash/data.h"

#define CIFAR_SIDE 32
#define CIFAR_PLANE (CIFAR_SIDE * CIFAR_SIDE)
#define CIFAR_SAMPLE (3 * CIFAR_PLANE)
#define CIFAR_RECORD (1 + CIFAR_SAMPLE)
#define NCLASSES 10

/* Number of records in a batch file, from its size. */
static int count_records(const char *path, size_t *count)
{
    leash_file f;
    int rc = leash_file_open(&f, path);
    if (rc != 0) return rc;
    /* The record count comes from the size on disk, which gzip data would not give. */
    if (f.compressed)
        rc = leash_fail(LEASH_EFORMAT,
                        "%s: gzip-compressed; CIFAR-10 batches are read uncompressed", path);
    else if (f.size == 0)
        rc = leash_fail(LEASH_EFORMAT, "%s: empty file (expected %d-byte CIFAR-10 records)", path,
                        CIFAR_RECORD);
    else if (f.size % CIFAR_RECORD != 0)
        rc = leash_fail(LEASH_EFORMAT,
                        "%s: size %zu is not a multiple of the %d-byte CIFAR-10 record", path,
                        f.size, CIFAR_RECORD);
    else
        *count = f.size / CIFAR_RECORD;
    leash_file_close(&f);
    return rc;
}

/* Read count records, moving each image from planar R, G, B to HWC. */
static int read_records(leash_file *f, size_t count, uint8_t *pixels, uint8_t *labels)
{
    uint8_t rec[CIFAR_RECORD];
    for (size_t i = 0; i < count; ++i) {
        size_t got;
        int rc = leash_file_read(f, rec, sizeof rec, &got);
        if (rc != 0) return rc;
        /* Only if the file shrank since its size was taken. */
        if (got < sizeof rec)
            return leash_fail(LEASH_EFORMAT, "%s: truncated: record %zu is incomplete", f->path, i);
        if (rec[0] >= NCLASSES)
            return leash_fail(LEASH_EFORMAT, "%s: label %u at index %zu is out of range (0-9)",
                              f->path, (unsigned)rec[0], i);
        labels[i] = rec[0];
        const uint8_t *r = rec + 1, *g = r + CIFAR_PLANE, *b = g + CIFAR_PLANE;
        uint8_t *dst = pixels + i * CIFAR_SAMPLE;
        for (size_t p = 0; p < CIFAR_PLANE; ++p) {
            dst[3 * p] = r[p];
            dst[3 * p + 1] = g[p];
            dst[3 * p + 2] = b[p];
        }
    }
    return 0;
}

static int load(leash_dataset *d, const char *const *paths, int npaths, size_t *counts)
{
    int rc;
    for (int k = 0; k < npaths; ++k) {
        if ((rc = count_records(paths[k], &counts[k])) != 0) return rc;
        d->n += counts[k];
    }
    d->pixels = leash_huge_alloc(d->n * CIFAR_SAMPLE);
    d->labels = malloc(d->n);
    if (!d->pixels || !d->labels)
        return leash_fail(LEASH_ENOMEM, "out of memory for %zu CIFAR-10 images", d->n);
    size_t first = 0;
    for (int k = 0; k < npaths; ++k) {
        leash_file f;
        if ((rc = leash_file_open(&f, paths[k])) != 0) return rc;
        rc = read_records(&f, counts[k], d->pixels + first * CIFAR_SAMPLE, d->labels + first);
        leash_file_close(&f);
        if (rc != 0) return rc;
        first += counts[k];
    }
    return 0;
}

int leash_cifar_probe(const char *const *paths, int npaths, size_t *n)
{
    *n = 0;
    for (int k = 0; k < npaths; ++k) {
        size_t count = 0;
        int rc = count_records(paths[k], &count);
        if (rc != 0) return rc;
        *n += count;
    }
    return 0;
}

int leash_cifar_load(leash_dataset *out, const char *const *paths, int npaths)
{
    *out = (leash_dataset){0};
    if (!paths || npaths <= 0) return leash_fail(LEASH_EINVAL, "no CIFAR-10 batch files given");
    size_t *counts = malloc((size_t)npaths * sizeof *counts);
    if (!counts) return leash_fail(LEASH_ENOMEM, "out of memory");
    leash_dataset d = {.h = CIFAR_SIDE, .w = CIFAR_SIDE, .c = 3, .nclasses = NCLASSES};
    int rc = load(&d, paths, npaths, counts);
    free(counts);
    if (rc != 0) {
        leash_dataset_free(&d);
        return rc;
    }
    *out = d;
    return 0;
}
