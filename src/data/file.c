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

int leash_file_open(leash_file *f, const char *path)
{
    *f = (leash_file){.path = path};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return leash_fail(LEASH_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return leash_fail(LEASH_EIO, "%s: %s", path, strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return leash_fail(LEASH_EIO, "%s: %s", path,
                          S_ISDIR(st.st_mode) ? strerror(EISDIR) : "not a regular file");
    }
    f->gz = gzdopen(fd, "rb");
    if (!f->gz) {
        close(fd);
        return leash_fail(LEASH_ENOMEM, "%s: out of memory", path);
    }
    /* Larger than zlib's 8 KiB default: the big image files are read in one pass. */
    gzbuffer(f->gz, 1u << 17);
    f->size = (size_t)st.st_size;
    f->compressed = !gzdirect(f->gz);
    return 0;
}

static int file_error(leash_file *f)
{
    int errnum;
    gzerror(f->gz, &errnum);
    if (errnum == Z_ERRNO) return leash_fail(LEASH_EIO, "%s: %s", f->path, strerror(errno));
    if (errnum == Z_MEM_ERROR) return leash_fail(LEASH_ENOMEM, "%s: out of memory", f->path);
    return leash_fail(LEASH_EFORMAT, "%s: corrupt gzip data", f->path);
}

int leash_file_read(leash_file *f, void *buf, size_t n, size_t *got)
{
    unsigned char *p = buf;
    size_t done = 0;
    *got = 0;
    while (done < n) {
        /* gzread counts in unsigned and returns int. */
        unsigned want = n - done > INT_MAX ? INT_MAX : (unsigned)(n - done);
        int r = gzread(f->gz, p + done, want);
        if (r < 0) return file_error(f);
        done += (size_t)r;
        if ((unsigned)r < want) {
            /* Short reads mean the end of the data, or a gzip stream cut short,
             * which zlib reports as Z_BUF_ERROR without failing the read. */
            int errnum;
            gzerror(f->gz, &errnum);
            if (errnum != Z_OK) return file_error(f);
            break;
        }
    }
    f->pos += done;
    *got = done;
    return 0;
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
    if (f->gz) gzclose_r(f->gz);
    f->gz = NULL;
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
