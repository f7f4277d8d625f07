/* The IDX reader, plain and gzip. Input: a mode byte, a 32-bit split point, then the
 * image file's bytes up to the split and the label file's after it. Mode bit 0 (1): the
 * harness gzips the image file, bit 1 (2) the label file, so that mutations of the
 * content reach the parser through inflate too; raw gzip data (mode clear) mutates the
 * gzip framing itself. */
#include <string.h>

#include "data/file_internal.h"
#include "fuzz.h"
#include "leash/data.h"

static int as_file(fuzz_file *f, const uint8_t *p, size_t n, int gz)
{
    if (!gz) return fuzz_file_open(f, p, n);
    size_t zn = 0;
    unsigned char *z = fuzz_gzip(p, n, &zn);
    int rc = z ? fuzz_file_open(f, z, zn) : -1;
    free(z);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5) return 0;
    const int mode = data[0];
    uint32_t split;
    memcpy(&split, data + 1, sizeof split);
    data += 5;
    size -= 5;
    split = size ? split % (uint32_t)(size + 1) : 0;
    fuzz_file images, labels;
    if (as_file(&images, data, split, mode & 1) != 0) return 0;
    if (as_file(&labels, data + split, size - split, mode & 2) != 0) {
        fuzz_file_close(&images);
        return 0;
    }
    size_t n;
    int rows, cols;
    leash_idx_probe(images.path, labels.path, &n, &rows, &cols);
    leash_dataset d;
    if (leash_idx_load(&d, images.path, labels.path) == 0) {
        /* Whatever loads must be whole: every label in range. */
        for (size_t i = 0; i < d.n; ++i)
            if (d.labels[i] >= 10) abort();
        leash_dataset_free(&d);
    }
    fuzz_file_close(&labels);
    fuzz_file_close(&images);
    return 0;
}
