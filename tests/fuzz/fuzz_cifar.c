/* The CIFAR-10 reader: the input is split into one or two batch files (first byte: the
 * split point's share of the rest, 0 for one file). */
#include "data/file_internal.h"
#include "fuzz.h"
#include "leash/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const size_t split = data[0] ? (size - 1) * data[0] / 255 : size - 1;
    data += 1;
    size -= 1;
    fuzz_file f[2];
    int nfiles = split < size ? 2 : 1;
    if (fuzz_file_open(&f[0], data, split) != 0) return 0;
    if (nfiles == 2 && fuzz_file_open(&f[1], data + split, size - split) != 0) {
        fuzz_file_close(&f[0]);
        return 0;
    }
    const char *paths[2] = {f[0].path, nfiles == 2 ? f[1].path : NULL};
    size_t n;
    leash_cifar_probe(paths, nfiles, &n);
    leash_dataset d;
    if (leash_cifar_load(&d, paths, nfiles) == 0) {
        if (d.n != n || d.h != 32 || d.w != 32 || d.c != 3) abort();
        for (size_t i = 0; i < d.n; ++i)
            if (d.labels[i] >= 10) abort();
        leash_dataset_free(&d);
    }
    for (int k = 0; k < nfiles; ++k) fuzz_file_close(&f[k]);
    return 0;
}
