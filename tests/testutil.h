/* Helpers shared by the test programs: a private scratch directory, files written
 * from bytes (plain or gzip-compressed), expected messages built with printf formats.
 * All static inline, so that a test program that leaves some unused gets no warning. */
#ifndef LEASH_TESTS_TESTUTIL_H
#define LEASH_TESTS_TESTUTIL_H

#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* The scratch directory, set by tu_setup(). */
static char tu_dir[PATH_MAX];

/* Create a private directory under $TMPDIR (or /tmp); 0 on success. */
static inline int tu_setup(void)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    if (snprintf(tu_dir, sizeof tu_dir, "%s/leash-test.XXXXXX", base) >= (int)sizeof tu_dir)
        return -1;
    return mkdtemp(tu_dir) ? 0 : -1;
}

static inline int tu_remove_entry(const char *path, const struct stat *st, int flag,
                                  struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Remove the scratch directory and everything in it. */
static inline void tu_cleanup(void)
{
    if (tu_dir[0]) nftw(tu_dir, tu_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    tu_dir[0] = '\0';
}

/* printf into one of a few rotating static buffers, so that several results can be
 * live at once (paths, expected messages) without freeing anything. */
static inline const char *tu_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline const char *tu_fmt(const char *fmt, ...)
{
    static char bufs[32][PATH_MAX + 256];
    static unsigned next;
    char *b = bufs[next++ % 32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof bufs[0], fmt, ap);
    va_end(ap);
    return b;
}

/* Path of name inside the scratch directory (a tu_fmt buffer). */
static inline const char *tu_path(const char *name) { return tu_fmt("%s/%s", tu_dir, name); }

/* Write n bytes to path; 0 on success. */
static inline int tu_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t put = fwrite(data, 1, n, f);
    return fclose(f) == 0 && put == n ? 0 : -1;
}

/* Gzip-compress n bytes into a malloc'd buffer of *outn bytes; NULL on failure. */
static inline uint8_t *tu_gzip(const void *data, size_t n, size_t *outn)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    /* windowBits 15 + 16: a gzip wrapper rather than a zlib one. */
    if (deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    size_t cap = deflateBound(&zs, (uLong)n);
    uint8_t *out = malloc(cap);
    if (!out) {
        deflateEnd(&zs);
        return NULL;
    }
    zs.next_in = (Bytef *)(uintptr_t)data; /* zlib's API is not const-correct */
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    int rc = deflate(&zs, Z_FINISH);
    *outn = zs.total_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    return out;
}

/* Write n bytes gzip-compressed to path; 0 on success. */
static inline int tu_write_gz(const char *path, const void *data, size_t n)
{
    size_t zn;
    uint8_t *z = tu_gzip(data, n, &zn);
    if (!z) return -1;
    int rc = tu_write(path, z, zn);
    free(z);
    return rc;
}

/* Write the decompressed content of the gzip file src to dst; 0 on success. */
static inline int tu_gunzip(const char *src, const char *dst)
{
    gzFile in = gzopen(src, "rb");
    if (!in) return -1;
    FILE *out = fopen(dst, "wb");
    if (!out) {
        gzclose(in);
        return -1;
    }
    static unsigned char buf[1 << 16];
    int r, rc = 0;
    while ((r = gzread(in, buf, sizeof buf)) > 0)
        if (fwrite(buf, 1, (size_t)r, out) != (size_t)r) rc = -1;
    if (r < 0) rc = -1;
    if (gzclose(in) != Z_OK) rc = -1;
    if (fclose(out) != 0) rc = -1;
    return rc;
}

/* Whether v is theta0 - k eta c for one k: a consistent version when every update
 * applies the same gradient c (the strategy tests' known-gradient setting). */
static inline int tu_consistent(const float *v, const float *theta0, const float *c, float eta,
                                size_t n)
{
    double k = ((double)theta0[0] - v[0]) / ((double)eta * c[0]);
    for (size_t i = 1; i < n; ++i)
        if ((double)theta0[i] - k * eta * c[i] != (double)v[i]) return 0;
    return 1;
}

#endif
