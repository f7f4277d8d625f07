/* What the fuzz harnesses share: the libFuzzer entry point, and files in memory.
 *
 * Each harness defines LLVMFuzzerTestOneInput. Built with -fsanitize=fuzzer it is a
 * libFuzzer target (make fuzz); linked with replay.c it is a plain program that runs
 * the seed corpus and the reproducers in tests/fuzz/regressions/ (make check). */
#ifndef LEASH_TESTS_FUZZ_H
#define LEASH_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A file in memory holding data, named by a path the loaders open like any file. */
typedef struct fuzz_file {
    int fd;
    char path[64];
} fuzz_file;

static inline int fuzz_file_open(fuzz_file *f, const void *data, size_t size)
{
    f->fd = memfd_create("leash-fuzz", MFD_CLOEXEC);
    if (f->fd < 0) return -1;
    snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
    const unsigned char *p = data;
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(f->fd, p + done, size - done);
        if (n <= 0) {
            close(f->fd);
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

static inline void fuzz_file_close(fuzz_file *f) { close(f->fd); }

/* data as a gzip stream (malloc'd, *zlen bytes), or NULL. */
static inline unsigned char *fuzz_gzip(const void *data, size_t size, size_t *zlen)
{
    z_stream z = {0};
    if (deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) return NULL;
    size_t cap = deflateBound(&z, (uLong)size);
    unsigned char *out = malloc(cap ? cap : 1);
    if (out) {
        z.next_in = (Bytef *)(uintptr_t)data;
        z.avail_in = (uInt)size;
        z.next_out = out;
        z.avail_out = (uInt)cap;
        if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
            free(out);
            out = NULL;
        } else {
            *zlen = cap - z.avail_out;
        }
    }
    deflateEnd(&z);
    return out;
}

/* fuzz_file_open for a leash container file (core/store_internal.h), its CRC trailer
 * made right in the file, so that mutations reach the section readers instead of all
 * failing the CRC. */
static inline int fuzz_file_open_crc_fixed(fuzz_file *f, const uint8_t *data, size_t size)
{
    if (fuzz_file_open(f, data, size) != 0) return -1;
    if (size >= 16) {
        uint32_t crc = (uint32_t)crc32_z(crc32(0L, Z_NULL, 0), data, size - 4);
        if (pwrite(f->fd, &crc, sizeof crc, (off_t)(size - 4)) != (ssize_t)sizeof crc) {
            fuzz_file_close(f);
            return -1;
        }
    }
    return 0;
}

#endif
