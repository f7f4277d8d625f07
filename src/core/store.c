/* Sectioned binary files and atomic writes: see store_internal.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "core/error_internal.h"
#include "core/stop_internal.h"
#include "core/store_internal.h"

/* Header: magic + version; a section header: tag + length; trailer: the CRC. */
enum { HEADER_LEN = LEASH_STORE_MAGIC_LEN + 4, SECTION_HEADER_LEN = 4 + 8, TRAILER_LEN = 4 };

static void reserve(leash_wbuf *b, size_t n)
{
    if (b->oom || b->cap - b->len >= n) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2) {
            b->oom = 1;
            return;
        }
        cap *= 2;
    }
    unsigned char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = 1;
        return;
    }
    b->data = p;
    b->cap = cap;
}

void leash_wbuf_bytes(leash_wbuf *b, const void *p, size_t n)
{
    reserve(b, n);
    if (b->oom) return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void leash_wbuf_init(leash_wbuf *b, const char magic[LEASH_STORE_MAGIC_LEN], uint32_t version)
{
    memset(b, 0, sizeof *b);
    leash_wbuf_bytes(b, magic, LEASH_STORE_MAGIC_LEN);
    leash_wbuf_u32(b, version);
}

void leash_wbuf_free(leash_wbuf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* The host is little-endian (checked in the header), so the in-memory bytes are the
 * file's. */
void leash_wbuf_u32(leash_wbuf *b, uint32_t v) { leash_wbuf_bytes(b, &v, sizeof v); }
void leash_wbuf_u64(leash_wbuf *b, uint64_t v) { leash_wbuf_bytes(b, &v, sizeof v); }
void leash_wbuf_i64(leash_wbuf *b, int64_t v) { leash_wbuf_bytes(b, &v, sizeof v); }
void leash_wbuf_f64(leash_wbuf *b, double v) { leash_wbuf_bytes(b, &v, sizeof v); }
void leash_wbuf_floats(leash_wbuf *b, const float *p, size_t n)
{
    if (n > SIZE_MAX / sizeof *p) {
        b->oom = 1;
        return;
    }
    leash_wbuf_bytes(b, p, n * sizeof *p);
}

void leash_wbuf_begin(leash_wbuf *b, const char tag[4])
{
    leash_wbuf_bytes(b, tag, 4);
    b->section = b->len;
    leash_wbuf_u64(b, 0);
}

void leash_wbuf_end(leash_wbuf *b)
{
    if (b->oom) return;
    uint64_t len = b->len - b->section - 8;
    memcpy(b->data + b->section, &len, sizeof len);
    b->section = 0;
}

int leash_wbuf_finish(leash_wbuf *b)
{
    uint32_t crc = 0;
    if (!b->oom) crc = (uint32_t)crc32_z(crc32(0L, Z_NULL, 0), b->data, b->len);
    leash_wbuf_u32(b, crc);
    return b->oom ? leash_fail(LEASH_ENOMEM, "out of memory for a file of %zu bytes", b->len) : 0;
}

static const unsigned char *take(leash_rbuf *r, size_t n)
{
    if (r->bad || r->len - r->pos < n) {
        r->bad = 1;
        return NULL;
    }
    const unsigned char *p = r->p + r->pos;
    r->pos += n;
    return p;
}

const unsigned char *leash_rbuf_take(leash_rbuf *r, size_t n) { return take(r, n); }

void leash_rbuf_bytes(leash_rbuf *r, void *out, size_t n)
{
    const unsigned char *p = take(r, n);
    if (p) memcpy(out, p, n);
}

uint32_t leash_rbuf_u32(leash_rbuf *r)
{
    uint32_t v = 0;
    leash_rbuf_bytes(r, &v, sizeof v);
    return v;
}

uint64_t leash_rbuf_u64(leash_rbuf *r)
{
    uint64_t v = 0;
    leash_rbuf_bytes(r, &v, sizeof v);
    return v;
}

int64_t leash_rbuf_i64(leash_rbuf *r)
{
    int64_t v = 0;
    leash_rbuf_bytes(r, &v, sizeof v);
    return v;
}

double leash_rbuf_f64(leash_rbuf *r)
{
    double v = 0;
    leash_rbuf_bytes(r, &v, sizeof v);
    return v;
}

void leash_rbuf_floats(leash_rbuf *r, float *out, size_t n)
{
    if (n > SIZE_MAX / sizeof *out) {
        r->bad = 1;
        return;
    }
    leash_rbuf_bytes(r, out, n * sizeof *out);
}

/* Read all of a regular file. */
static int read_file(const char *path, const char *what, unsigned char **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return leash_fail(LEASH_EIO, "%s %s: %s", what, path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return leash_fail(LEASH_EIO, "%s %s: %s", what, path, strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return leash_fail(LEASH_EIO, "%s %s: %s", what, path,
                          S_ISDIR(st.st_mode) ? strerror(EISDIR) : "not a regular file");
    }
    size_t size = (size_t)st.st_size;
    unsigned char *buf = malloc(size ? size : 1);
    if (!buf) {
        close(fd);
        return leash_fail(LEASH_ENOMEM, "%s %s: out of memory for %zu bytes", what, path, size);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    int err = errno;
    close(fd);
    if (got != size) {
        free(buf);
        return leash_fail(LEASH_EIO, "%s %s: %s", what, path,
                          got < size && err ? strerror(err) : "changed while read");
    }
    *data = buf;
    *len = size;
    return 0;
}

int leash_store_read(leash_store *s, const char *path, const char magic[LEASH_STORE_MAGIC_LEN],
                     uint32_t version, const char *what)
{
    return leash_store_read_versions(s, path, magic, version, version, what);
}

int leash_store_read_versions(leash_store *s, const char *path,
                              const char magic[LEASH_STORE_MAGIC_LEN], uint32_t oldest,
                              uint32_t version, const char *what)
{
    memset(s, 0, sizeof *s);
    s->path = path;
    int rc = read_file(path, what, &s->data, &s->len);
    if (rc) return rc;
    if (s->len < LEASH_STORE_MAGIC_LEN || memcmp(s->data, magic, LEASH_STORE_MAGIC_LEN) != 0) {
        rc = leash_fail(LEASH_EFORMAT, "%s %s: not a leash %s file", what, path, what);
        goto bad;
    }
    if (s->len < HEADER_LEN + TRAILER_LEN) {
        rc = leash_fail(LEASH_EFORMAT, "%s %s: truncated (%zu bytes)", what, path, s->len);
        goto bad;
    }
    uint32_t v, crc;
    memcpy(&v, s->data + LEASH_STORE_MAGIC_LEN, sizeof v);
    memcpy(&crc, s->data + s->len - TRAILER_LEN, sizeof crc);
    if (v < oldest || v > version) {
        rc = oldest == version
                 ? leash_fail(LEASH_EFORMAT, "%s %s: format version %u, this leash reads version %u",
                              what, path, v, version)
                 : leash_fail(LEASH_EFORMAT,
                              "%s %s: format version %u, this leash reads versions %u to %u", what,
                              path, v, oldest, version);
        goto bad;
    }
    s->version = v;
    if ((uint32_t)crc32_z(crc32(0L, Z_NULL, 0), s->data, s->len - TRAILER_LEN) != crc) {
        rc = leash_fail(LEASH_EFORMAT, "%s %s: CRC mismatch: the file is corrupt or truncated",
                        what, path);
        goto bad;
    }
    /* Walk the sections once: every length must end inside the file. */
    size_t pos = HEADER_LEN, end = s->len - TRAILER_LEN;
    while (pos < end) {
        uint64_t len;
        if (end - pos < SECTION_HEADER_LEN) goto malformed;
        memcpy(&len, s->data + pos + 4, sizeof len);
        pos += SECTION_HEADER_LEN;
        if (len > end - pos) goto malformed;
        pos += (size_t)len;
    }
    return 0;
malformed:
    rc = leash_fail(LEASH_EFORMAT, "%s %s: a section runs past the end of the file", what, path);
bad:
    leash_store_free(s);
    return rc;
}

void leash_store_free(leash_store *s)
{
    free(s->data);
    s->data = NULL;
    s->len = 0;
}

int leash_store_section(const leash_store *s, const char tag[4], int index, leash_rbuf *out)
{
    size_t pos = HEADER_LEN, end = s->len - TRAILER_LEN;
    while (pos < end) {
        uint64_t len;
        memcpy(&len, s->data + pos + 4, sizeof len);
        if (memcmp(s->data + pos, tag, 4) == 0 && index-- == 0) {
            *out = (leash_rbuf){s->data + pos + SECTION_HEADER_LEN, (size_t)len, 0, 0};
            return 0;
        }
        pos += SECTION_HEADER_LEN + (size_t)len;
    }
    return -1;
}

/* The temporary file of the write in progress, for leash_write_atomic_abandon. Writes
 * happen on one thread; the handler only reads, after tmp_active says the path is set. */
static char tmp_path[PATH_MAX];
static volatile sig_atomic_t tmp_active;

void leash_write_atomic_abandon(void)
{
    if (tmp_active) unlink(tmp_path);
}

/* path's directory into dir ("." when path has none). */
static int dir_of(const char *path, char *dir, size_t size)
{
    const char *slash = strrchr(path, '/');
    size_t len = slash ? (size_t)(slash - path) : 1;
    if (slash && len == 0) len = 1; /* "/name" */
    if (len + 1 > size) return -1;
    memcpy(dir, slash ? path : ".", len);
    dir[len] = '\0';
    return 0;
}

/* The file path names once symbolic links in its last component are followed, even to
 * a target that does not exist yet: writing through a link replaces the file it points
 * to and keeps the link (the directories on the way are the kernel's to follow). */
static int follow_links(const char *path, char *out, size_t size, const char *what)
{
    if (strlen(path) >= size) return leash_fail(LEASH_EINVAL, "%s %s: name too long", what, path);
    strcpy(out, path);
    for (int depth = 0; depth < 40; ++depth) {
        struct stat st;
        if (lstat(out, &st) != 0 || !S_ISLNK(st.st_mode)) return 0;
        char link[PATH_MAX], dir[PATH_MAX];
        ssize_t n = readlink(out, link, sizeof link - 1);
        if (n < 0) return leash_fail(LEASH_EIO, "%s %s: %s", what, path, strerror(errno));
        link[n] = '\0';
        if (link[0] == '/' || dir_of(out, dir, sizeof dir) != 0) {
            if ((size_t)n >= size) break;
            strcpy(out, link);
        } else if ((size_t)snprintf(out, size, "%s/%s", dir, link) >= size) {
            break;
        }
    }
    return leash_fail(LEASH_EINVAL, "%s %s: %s", what, path, strerror(ELOOP));
}

static mode_t new_file_mode(void)
{
    /* umask can only be read by setting it; put it back at once. */
    mode_t mask = umask(022);
    umask(mask);
    return 0666 & ~mask;
}

/* Checks on the file path resolves to (target): streams allows an existing target that
 * is not a regular file (a device, a FIFO), which is then written in place. */
static int check_target(const char *path, const char *target, const char *what, int streams)
{
    char dir[PATH_MAX];
    struct stat st;
    if (!path[0]) return leash_fail(LEASH_EINVAL, "%s: empty file name", what);
    if (dir_of(target, dir, sizeof dir) != 0)
        return leash_fail(LEASH_EINVAL, "%s %s: name too long", what, path);
    if (stat(target, &st) == 0 && !S_ISREG(st.st_mode)) {
        if (S_ISDIR(st.st_mode)) return leash_fail(LEASH_EINVAL, "%s %s: is a directory", what, path);
        if (!streams)
            return leash_fail(LEASH_EINVAL,
                              "%s %s: exists and is not a regular file (not replaced)", what, path);
        if (access(target, W_OK) != 0)
            return leash_fail(LEASH_EIO, "%s %s: %s", what, path, strerror(errno));
        return 0;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return leash_fail(LEASH_EIO, "%s %s: directory %s does not exist", what, path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return leash_fail(LEASH_EIO, "%s %s: cannot create files in %s: %s", what, path, dir,
                          strerror(errno));
    return 0;
}

/* path's target (PATH_MAX bytes), followed and checked as check_target does. */
static int resolve(const char *path, char *target, const char *what, int streams)
{
    int rc = follow_links(path, target, PATH_MAX, what);
    return rc ? rc : check_target(path, target, what, streams);
}

int leash_check_writable(const char *path, const char *what)
{
    char target[PATH_MAX];
    return resolve(path, target, what, 0);
}

int leash_check_output(const char *path, const char *what)
{
    char target[PATH_MAX];
    return resolve(path, target, what, 1);
}

int leash_output_is_stream(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
}

static int write_all(int fd, const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, p + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno;
        done += (size_t)n;
    }
    return 0;
}

/* A FIFO may have no reader yet, or one that reads slowly: wait for it in steps of 50 ms,
 * never blind, so that a stop request ends the wait (a signal alone would only restart
 * the call). Returns 0 once ready, or -1 if a stop was asked for. */
static int wait_for_reader(void)
{
    const struct timespec step = {0, 50 * 1000 * 1000};
    if (leash_stop_asked()) return -1;
    nanosleep(&step, NULL);
    return 0;
}

static int stopped_waiting(const char *path, const char *what)
{
    return leash_fail(LEASH_ESTOPPED, "%s %s: stopped while waiting for its reader; nothing more was written",
                      what, path);
}

/* Write into an existing device or FIFO as it is: renaming a file over it would replace
 * /dev/null, or leave a FIFO's reader waiting. Opened without blocking: a FIFO without a
 * reader (ENXIO) is retried, a full one (EAGAIN) waited on, both until a stop. */
static int write_stream(const char *path, const char *target, const void *data, size_t len,
                        const char *what)
{
    int fd;
    while ((fd = open(target, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0) {
        if (errno != ENXIO && errno != EINTR)
            return leash_fail(LEASH_EWRITE, "%s %s: %s", what, path, strerror(errno));
        if (wait_for_reader()) return stopped_waiting(path, what);
    }
    const unsigned char *p = data;
    int err = 0, stopped = 0;
    for (size_t done = 0; done < len && !err && !stopped;) {
        ssize_t n = write(fd, p + done, len - done);
        if (n >= 0)
            done += (size_t)n;
        else if (errno == EAGAIN)
            stopped = wait_for_reader();
        else if (errno != EINTR)
            err = errno;
    }
    if (close(fd) != 0 && !err && errno != EINTR) err = errno;
    if (stopped) return stopped_waiting(path, what);
    return err ? leash_fail(LEASH_EWRITE, "%s %s: cannot write: %s", what, path, strerror(err)) : 0;
}

static int write_file(const char *path, const char *target, const void *data, size_t len,
                      const char *what)
{
    char dir[PATH_MAX];
    dir_of(target, dir, sizeof dir);
    /* A replaced file keeps its permissions (and, where leash may, its owner); a new one
     * gets what the umask allows. */
    struct stat old;
    const int exists = stat(target, &old) == 0;
    const mode_t mode = exists ? old.st_mode & 07777 : new_file_mode();
    /* A short fixed name, so that any legal path has a legal temporary beside it. */
    if ((size_t)snprintf(tmp_path, sizeof tmp_path, "%s/.leash-XXXXXX", dir) >= sizeof tmp_path)
        return leash_fail(LEASH_EINVAL, "%s %s: name too long", what, path);
    tmp_active = 1;
    int fd = mkostemp(tmp_path, O_CLOEXEC);
    if (fd < 0) {
        tmp_active = 0;
        return leash_fail(LEASH_EWRITE, "%s %s: cannot create a file in %s: %s", what, path, dir,
                          strerror(errno));
    }
    int err = write_all(fd, data, len);
    if (!err && exists && (old.st_uid != geteuid() || old.st_gid != getegid()))
        (void)!fchown(fd, old.st_uid, old.st_gid); /* best-effort: only root may give away */
    if (!err && fchmod(fd, mode) != 0) err = errno;
    if (!err && fsync(fd) != 0) err = errno;
    if (close(fd) != 0 && !err) err = errno;
    if (!err && rename(tmp_path, target) != 0) err = errno;
    if (err) {
        unlink(tmp_path);
        tmp_active = 0;
        return leash_fail(LEASH_EWRITE, "%s %s: cannot write: %s", what, path, strerror(err));
    }
    tmp_active = 0;
    /* The rename is durable once the directory is. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

int leash_write_atomic(const char *path, const void *data, size_t len, const char *what)
{
    char target[PATH_MAX];
    int rc = resolve(path, target, what, 0);
    return rc ? rc : write_file(path, target, data, len, what);
}

int leash_write_output(const char *path, const void *data, size_t len, const char *what)
{
    char target[PATH_MAX];
    int rc = resolve(path, target, what, 1);
    if (rc) return rc;
    return leash_output_is_stream(target) ? write_stream(path, target, data, len, what)
                                          : write_file(path, target, data, len, what);
}

uint64_t leash_fnv1a64(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}
