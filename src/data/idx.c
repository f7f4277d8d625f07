#include <stdlib.h>

#include "core/error_internal.h"
#include "core/hugemem_internal.h"
#include "data/file_internal.h"
#include "leash/data.h"

#define IDX_IMAGES_MAGIC 0x00000803u
#define IDX_LABELS_MAGIC 0x00000801u
#define IDX_MAX_SIDE 4096u
#define NCLASSES 10
/* Gzip data is read into a buffer that starts this large and doubles. */
#define GROW_FROM ((size_t)1 << 24)

/* Read an IDX header of len bytes (magic first) and check its magic number. */
static int read_header(leash_file *f, uint8_t *hdr, size_t len, uint32_t magic, const char *what)
{
    size_t got;
    int rc = leash_file_read(f, hdr, len, &got);
    if (rc != 0) return rc;
    if (got >= 4 && leash_be32(hdr) != magic)
        return leash_fail(LEASH_EFORMAT, "%s: bad magic number 0x%08x (expected 0x%08x, %s)",
                          f->path, leash_be32(hdr), magic, what);
    if (got < len)
        return leash_fail(LEASH_EFORMAT, "%s: truncated: %s header needs %zu bytes, file has %zu",
                          f->path, what, len, got);
    return 0;
}

static int truncated(const leash_file *f, size_t promised, size_t has)
{
    return leash_fail(LEASH_EFORMAT,
                      "%s: truncated: header promises %zu bytes of data, file has %zu", f->path,
                      promised, has);
}

/* Read exactly the size bytes of data that follow the header into a new buffer, and
 * check that nothing follows them. */
static int read_data(leash_file *f, size_t size, uint8_t **out)
{
    size_t got;
    int rc;
    if (size > leash_file_max_rest(f)) {
        /* Cannot hold it: count what is there for the message, but allocate nothing. */
        rc = leash_file_rest(f, &got);
        return rc != 0 ? rc : truncated(f, size, got);
    }
    /* Padding raises a gzip file's size, and so the bound above, at no cost: trust only
     * data that arrives, growing the buffer with it, so that a header promising more than
     * the file holds is "truncated", not a huge allocation. */
    size_t cap = f->compressed && size > GROW_FROM ? GROW_FROM : size, have = 0;
    uint8_t *buf = leash_huge_alloc(cap);
    if (!buf) return leash_fail(LEASH_ENOMEM, "%s: out of memory for %zu bytes", f->path, size);
    for (;;) {
        rc = leash_file_read(f, buf + have, cap - have, &got);
        have += got;
        if (rc != 0 || have < cap || cap == size) break;
        size_t next = cap > size / 2 ? size : 2 * cap;
        uint8_t *grown = leash_huge_grow(buf, have, next);
        if (!grown) {
            rc = leash_fail(LEASH_ENOMEM, "%s: out of memory for %zu bytes", f->path, next);
            break;
        }
        buf = grown;
        cap = next;
    }
    if (rc == 0 && have < size) rc = truncated(f, size, have);
    if (rc == 0) {
        size_t extra;
        rc = leash_file_rest(f, &extra);
        if (rc == 0 && extra > 0)
            rc = leash_fail(LEASH_EFORMAT,
                            "%s: %zu unexpected bytes after the data the header promises", f->path,
                            extra);
    }
    if (rc != 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    return 0;
}

static int check_side(const leash_file *f, const char *field, uint32_t v)
{
    if (v == 0 || v > IDX_MAX_SIDE)
        return leash_fail(LEASH_EFORMAT, "%s: bad number of %s %u (expected 1-%u)", f->path, field,
                          v, IDX_MAX_SIDE);
    return 0;
}

/* Both headers, checked against each other: fl is opened here; the caller closes both. */
static int read_headers(leash_file *fi, leash_file *fl, const char *labels_path, uint32_t *n,
                        uint32_t *rows, uint32_t *cols)
{
    uint8_t hi[16], hl[8];
    int rc = read_header(fi, hi, sizeof hi, IDX_IMAGES_MAGIC, "IDX images");
    if (rc != 0) return rc;
    *n = leash_be32(hi + 4);
    *rows = leash_be32(hi + 8);
    *cols = leash_be32(hi + 12);
    if (*n == 0)
        return leash_fail(LEASH_EFORMAT, "%s: bad number of images 0 (expected at least 1)",
                          fi->path);
    if ((rc = check_side(fi, "rows", *rows)) != 0 || (rc = check_side(fi, "columns", *cols)) != 0)
        return rc;
    if ((rc = leash_file_open(fl, labels_path)) != 0) return rc;
    rc = read_header(fl, hl, sizeof hl, IDX_LABELS_MAGIC, "IDX labels");
    if (rc != 0) return rc;
    uint32_t nl = leash_be32(hl + 4);
    if (nl != *n)
        return leash_fail(LEASH_EFORMAT, "%s: %u labels but %s holds %u images", fl->path, nl,
                          fi->path, *n);
    return 0;
}

int leash_idx_probe(const char *images_path, const char *labels_path, size_t *n, int *rows,
                    int *cols)
{
    leash_file fi, fl = {0};
    uint32_t count = 0, r = 0, c = 0;
    int rc = leash_file_open(&fi, images_path);
    if (rc == 0) rc = read_headers(&fi, &fl, labels_path, &count, &r, &c);
    leash_file_close(&fl);
    leash_file_close(&fi);
    *n = count;
    *rows = (int)r;
    *cols = (int)c;
    return rc;
}

/* Headers first, so that a mismatch between the two files is reported before the
 * (large) image data is read. Opens fl; the caller closes both. */
static int load(leash_dataset *out, leash_file *fi, leash_file *fl, const char *labels_path)
{
    uint32_t n, rows, cols;
    int rc = read_headers(fi, fl, labels_path, &n, &rows, &cols);
    if (rc != 0) return rc;

    size_t side = (size_t)rows * cols;
    if (n > SIZE_MAX / side)
        return leash_fail(LEASH_ENOMEM, "%s: %u images of %ux%u do not fit in memory", fi->path, n,
                          rows, cols);
    leash_dataset d = {.n = n, .h = (int)rows, .w = (int)cols, .c = 1, .nclasses = NCLASSES};
    if ((rc = read_data(fi, d.n * side, &d.pixels)) != 0) return rc;
    if ((rc = read_data(fl, d.n, &d.labels)) != 0) {
        leash_dataset_free(&d);
        return rc;
    }
    for (size_t i = 0; i < d.n; ++i) {
        if (d.labels[i] >= NCLASSES) {
            rc = leash_fail(LEASH_EFORMAT, "%s: label %u at index %zu is out of range (0-9)",
                            fl->path, (unsigned)d.labels[i], i);
            leash_dataset_free(&d);
            return rc;
        }
    }
    *out = d;
    return 0;
}

int leash_idx_load(leash_dataset *out, const char *images_path, const char *labels_path)
{
    *out = (leash_dataset){0};
    leash_file fi, fl = {0};
    int rc = leash_file_open(&fi, images_path);
    if (rc == 0) rc = load(out, &fi, &fl, labels_path);
    leash_file_close(&fl);
    leash_file_close(&fi);
    return rc;
}
