/* The .npz reader. Input: a mode byte, then the archive. Mode bit 0 (1): the harness
 * builds the archive itself from the rest, so that mutations reach the .npy parser
 * instead of failing the zip's CRCs: three little-endian 16-bit lengths split the rest
 * into x_train.npy, y_train.npy and x_test.npy, y_test.npy takes what is left, an empty
 * part leaves its entry out; bit 1 (2) deflates those entries, else they are stored.
 * Bit 2 (4): the archive is read from a file (leash_npz_load), else from memory
 * (leash_npz_load_buffer). Bits 3-7: min_classes. */
#include <math.h>
#include <string.h>

#include "data/npz_internal.h"
#include "fuzz.h"
#include "leash/data.h"

typedef struct zbuf {
    uint8_t *p;
    size_t len, cap;
    int bad;
} zbuf;

static void put(zbuf *b, const void *data, size_t n)
{
    if (b->bad) return;
    if (b->len + n > b->cap) {
        size_t cap = (b->len + n) * 2 + 64;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->bad = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put16(zbuf *b, unsigned v) { put(b, (uint8_t[]){v & 0xff, v >> 8 & 0xff}, 2); }

static void put32(zbuf *b, uint32_t v)
{
    put(b, (uint8_t[]){v & 0xff, v >> 8 & 0xff, v >> 16 & 0xff, v >> 24 & 0xff}, 4);
}

/* Raw deflate of n bytes (malloc'd, *zlen bytes), or NULL. */
static uint8_t *deflate_raw(const uint8_t *data, size_t n, size_t *zlen)
{
    z_stream z = {0};
    if (deflateInit2(&z, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) return NULL;
    size_t cap = deflateBound(&z, (uLong)n);
    uint8_t *out = malloc(cap ? cap : 1);
    z.next_in = (Bytef *)(uintptr_t)data;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (out && deflate(&z, Z_FINISH) != Z_STREAM_END) {
        free(out);
        out = NULL;
    }
    *zlen = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

/* The fields a local header and a central directory entry share. */
static void put_common(zbuf *b, int deflated, uint32_t crc, size_t clen, size_t len, size_t namelen)
{
    put16(b, 20);
    put16(b, 0);
    put16(b, deflated ? 8 : 0);
    put16(b, 0);
    put16(b, 0x21);
    put32(b, crc);
    put32(b, (uint32_t)clen);
    put32(b, (uint32_t)len);
    put16(b, (unsigned)namelen);
    put16(b, 0);
}

static void put_entry(zbuf *b, zbuf *cd, const char *name, const uint8_t *p, size_t n, int deflated)
{
    size_t clen = n, namelen = strlen(name);
    uint8_t *z = deflated ? deflate_raw(p, n, &clen) : NULL;
    if (deflated && !z) {
        b->bad = 1;
        return;
    }
    uint32_t crc = (uint32_t)crc32_z(crc32(0L, Z_NULL, 0), p, n);
    put32(cd, 0x02014b50);
    put16(cd, 20);
    put_common(cd, deflated, crc, clen, n, namelen);
    put(cd, (uint8_t[10]){0}, 10); /* comment length, disk, attributes */
    put32(cd, (uint32_t)b->len);
    put(cd, name, namelen);
    put32(b, 0x04034b50);
    put_common(b, deflated, crc, clen, n, namelen);
    put(b, name, namelen);
    put(b, z ? z : p, clen);
    free(z);
}

/* A zip of the parts of data (see the top), in b. */
static void build_zip(zbuf *b, const uint8_t *data, size_t size, int deflated)
{
    static const char *const names[4] = {"x_train.npy", "y_train.npy", "x_test.npy", "y_test.npy"};
    if (size < 6) return;
    size_t len[4], off = 6, entries = 0;
    for (int k = 0; k < 3; ++k) {
        size_t want = (size_t)data[2 * k] | (size_t)data[2 * k + 1] << 8;
        len[k] = want < size - off ? want : size - off;
        off += len[k];
    }
    len[3] = size - off;
    zbuf cd = {0};
    off = 6;
    for (int k = 0; k < 4; ++k) {
        if (len[k]) put_entry(b, &cd, names[k], data + off, len[k], deflated);
        entries += len[k] > 0;
        off += len[k];
    }
    size_t cd_offset = b->len;
    put(b, cd.p, cd.len);
    put32(b, 0x06054b50);
    put32(b, 0);
    put16(b, (unsigned)entries);
    put16(b, (unsigned)entries);
    put32(b, (uint32_t)cd.len);
    put32(b, (uint32_t)cd_offset);
    put16(b, 0);
    b->bad |= cd.bad;
    free(cd.p);
}

/* What loads must be whole: shapes as probed, labels in range, values finite. */
static void check(const leash_dataset *tr, const leash_dataset *te, const leash_npz_info *info,
                  int min_classes)
{
    if (tr->n == 0 || tr->n != info->ntrain || te->n != info->ntest || tr->h != info->h ||
        tr->w != info->w || tr->c != info->c || !tr->values != !info->is_float ||
        !tr->pixels == !tr->values || tr->nclasses < 2 || tr->nclasses > 256 ||
        tr->nclasses < min_classes || tr->c > LEASH_MAX_CHANNELS)
        abort();
    const leash_dataset *d[2] = {tr, te};
    for (int s = 0; s < 2; ++s) {
        if (d[s]->n && (d[s]->nclasses != tr->nclasses || d[s]->h != tr->h || d[s]->c != tr->c))
            abort();
        for (size_t i = 0; i < d[s]->n; ++i)
            if (d[s]->labels[i] >= tr->nclasses) abort();
        size_t values = d[s]->values ? d[s]->n * leash_dataset_sample_size(d[s]) : 0;
        for (size_t i = 0; i < values; ++i)
            if (!isfinite(d[s]->values[i])) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const int mode = data[0], min_classes = mode >> 3;
    zbuf built = {0};
    const uint8_t *archive = data + 1;
    size_t len = size - 1;
    if (mode & 1) {
        build_zip(&built, data + 1, size - 1, mode & 2);
        if (built.bad) {
            free(built.p);
            return 0;
        }
        archive = built.p;
        len = built.len;
    }
    leash_npz_info info;
    leash_dataset tr, te;
    int probed, loaded;
    fuzz_file f;
    if (mode & 4) {
        if (fuzz_file_open(&f, archive, len) != 0) {
            free(built.p);
            return 0;
        }
        probed = leash_npz_probe(&info, f.path);
        loaded = leash_npz_load(&tr, &te, f.path, min_classes);
        fuzz_file_close(&f);
    } else {
        probed = leash_npz_probe_buffer(&info, archive, len, "fuzz.npz");
        loaded = leash_npz_load_buffer(&tr, &te, archive, len, "fuzz.npz", min_classes);
    }
    /* Whatever loads was probed fine first, and is whole. */
    if (loaded == 0) {
        if (probed != 0) abort();
        check(&tr, &te, &info, min_classes);
        leash_dataset_free(&tr);
        leash_dataset_free(&te);
    } else if (tr.n || te.n || tr.pixels || tr.values || tr.labels || te.labels) {
        abort();
    }
    free(built.p);
    return 0;
}
