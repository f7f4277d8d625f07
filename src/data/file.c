#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error_internal.h"
#include "data/file_internal.h"

/* Deflate cannot expand data by more than about 1032:1, so gzip data of s bytes
 * decompresses to less than s * 1032 (plus a little for the last block). */
#define DEFLATE_MAX_RATIO 1032

enum { INPUT_BUFFER = 1 << 17 };

static int os_error(const leash_file *f, int err)
{
    return leash_fail(LEASH_EIO, "%s: %s", f->path, strerror(err));
}

/* Up to n bytes of the file as it is on disk; fewer only at its end. */
static int read_raw(leash_file *f, unsigned char *buf, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n) {
        ssize_t r = read(f->fd, buf + *got, n - *got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return os_error(f, errno);
        if (r == 0) break;
        *got += (size_t)r;
    }
    f->raw_pos += *got;
    return 0;
}

int leash_file_open(leash_file *f, const char *path)
{
    *f = (leash_file){.path = path};
    /* O_NONBLOCK: opening a FIFO would otherwise wait for a writer forever; only regular
     * files are read, and reading those never blocks in the O_NONBLOCK sense. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return leash_fail(LEASH_EIO, "%s: %s", path, strerror(errno));
    f->fd = fd;
    f->has_fd = 1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        leash_file_close(f);
        return os_error(f, err);
    }
    if (!S_ISREG(st.st_mode)) {
        leash_file_close(f);
        return leash_fail(LEASH_EIO, "%s: %s", path,
                          S_ISDIR(st.st_mode) ? strerror(EISDIR) : "not a regular file");
    }
    f->size = (size_t)st.st_size;
    if (!(f->in = malloc(INPUT_BUFFER))) {
        leash_file_close(f);
        return leash_fail(LEASH_ENOMEM, "%s: out of memory", path);
    }
    /* gzip is told by its magic bytes, not the name. */
    int rc = read_raw(f, f->in, 2, &f->in_len);
    if (rc) {
        leash_file_close(f);
        return rc;
    }
    f->compressed = f->in_len == 2 && f->in[0] == 0x1f && f->in[1] == 0x8b;
    if (f->compressed) {
        if (inflateInit2(&f->z, 16 + MAX_WBITS) != Z_OK) {
            leash_file_close(f);
            return leash_fail(LEASH_ENOMEM, "%s: out of memory", path);
        }
        f->z_ready = 1;
        f->member = 1; /* the first one starts at byte 0 */
    }
    return 0;
}

static int corrupt(const leash_file *f)
{
    return leash_fail(LEASH_EFORMAT, "%s: corrupt gzip data", f->path);
}

/* Inflate into buf; a gzip file may hold several members one after another (as gzip
 * reads them), and nothing else: bytes after the last member break the promise that a
 * file holds exactly what its header says, so they are refused, not ignored. */
static int inflate_some(leash_file *f, unsigned char *buf, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n && !f->z_end) {
        if (f->in_pos == f->in_len) {
            int rc = read_raw(f, f->in, INPUT_BUFFER, &f->in_len);
            if (rc) return rc;
            f->in_pos = 0;
            if (f->in_len == 0) {
                /* Input ended: inside a member it was cut short. */
                if (f->member) return corrupt(f);
                f->z_end = 1;
                break;
            }
        }
        if (!f->member) {
            /* Between members: another must start here. */
            size_t left = f->in_len - f->in_pos;
            if (left < 2 && f->in_len == INPUT_BUFFER) {
                memmove(f->in, f->in + f->in_pos, left);
                size_t more;
                int rc = read_raw(f, f->in + left, INPUT_BUFFER - left, &more);
                if (rc) return rc;
                f->in_pos = 0;
                f->in_len = left + more;
                left = f->in_len;
            }
            if (left < 2 || f->in[f->in_pos] != 0x1f || f->in[f->in_pos + 1] != 0x8b)
                return leash_fail(LEASH_EFORMAT, "%s: %zu bytes after the end of the gzip data",
                                  f->path, f->size - (f->raw_pos - left));
            if (inflateReset(&f->z) != Z_OK) return corrupt(f);
            f->member = 1;
        }
        size_t want = n - *got > UINT_MAX ? UINT_MAX : n - *got;
        f->z.next_in = f->in + f->in_pos;
        f->z.avail_in = (uInt)(f->in_len - f->in_pos);
        f->z.next_out = buf + *got;
        f->z.avail_out = (uInt)want;
        int zr = inflate(&f->z, Z_NO_FLUSH);
        f->in_pos = f->in_len - f->z.avail_in;
        *got += want - f->z.avail_out;
        if (zr == Z_STREAM_END) {
            f->member = 0;
        } else if (zr == Z_MEM_ERROR) {
            return leash_fail(LEASH_ENOMEM, "%s: out of memory", f->path);
        } else if (zr != Z_OK && !(zr == Z_BUF_ERROR && f->z.avail_in == 0)) {
            return corrupt(f);
        }
    }
    return 0;
}

int leash_file_read(leash_file *f, void *buf, size_t n, size_t *got)
{
    unsigned char *p = buf;
    int rc = 0;
    *got = 0;
    if (!f->compressed) {
        /* Bytes read to tell the format come first. */
        size_t early = f->in_len - f->in_pos < n ? f->in_len - f->in_pos : n;
        memcpy(p, f->in + f->in_pos, early);
        f->in_pos += early;
        size_t more = 0;
        if (early < n) rc = read_raw(f, p + early, n - early, &more);
        *got = early + more;
    } else {
        rc = inflate_some(f, p, n, got);
    }
    f->pos += *got;
    return rc;
}

int leash_file_rest(leash_file *f, size_t *rest)
{
    unsigned char scratch[16384];
    size_t total = 0, got;
    do {
        int rc = leash_file_read(f, scratch, sizeof scratch, &got);
        if (rc != 0) return rc;
        total += got;
    } while (got == sizeof scratch);
    *rest = total;
    return 0;
}

size_t leash_file_max_rest(const leash_file *f)
{
    if (!f->compressed) return f->size > f->pos ? f->size - f->pos : 0;
    if (f->size >= SIZE_MAX / DEFLATE_MAX_RATIO - 1) return SIZE_MAX;
    return (f->size + 1) * DEFLATE_MAX_RATIO;
}

void leash_file_close(leash_file *f)
{
    if (f->z_ready) inflateEnd(&f->z);
    if (f->has_fd) close(f->fd);
    free(f->in);
    f->z_ready = 0;
    f->has_fd = 0;
    f->in = NULL;
}

uint32_t leash_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int leash_path_join(char **out, const char *dir, const char *name)
{
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') --len;
    const char *sep = len == 0 || dir[len - 1] == '/' ? "" : "/";
    if (asprintf(out, "%.*s%s%s", (int)len, dir, sep, name) < 0) {
        *out = NULL;
        return leash_fail(LEASH_ENOMEM, "%s/%s: out of memory", dir, name);
    }
    return 0;
}
