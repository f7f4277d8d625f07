/* Binary files of sections, and writing any file atomically.
 *
 * Layout (doc/file-formats.md), every integer little-endian:
 *   magic (8 bytes) | format version (u32) | sections ... | CRC-32 (u32)
 *   section: tag (4 ASCII bytes) | payload length (u64) | payload
 * The CRC (zlib's crc32) covers every byte before it. A reader checks the magic, the
 * version, the CRC and every length before it looks at a payload, so a corrupt,
 * truncated or foreign file is refused as a whole; a payload reader that runs past its
 * section's end marks the reader bad instead of reading beyond it. */
#ifndef LEASH_STORE_INTERNAL_H
#define LEASH_STORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "leash's file formats are written with the host's float layout: little-endian hosts only"
#endif

#define LEASH_STORE_MAGIC_LEN 8

/* A growing byte buffer; an allocation failure sets oom and later writes do nothing. */
typedef struct leash_wbuf {
    unsigned char *data;
    size_t len, cap;
    int oom;
    size_t section; /* offset of the open section's length field; 0: none */
} leash_wbuf;

void leash_wbuf_init(leash_wbuf *b, const char magic[LEASH_STORE_MAGIC_LEN], uint32_t version);
void leash_wbuf_free(leash_wbuf *b);
void leash_wbuf_bytes(leash_wbuf *b, const void *p, size_t n);
void leash_wbuf_u32(leash_wbuf *b, uint32_t v);
void leash_wbuf_u64(leash_wbuf *b, uint64_t v);
void leash_wbuf_i64(leash_wbuf *b, int64_t v);
void leash_wbuf_f64(leash_wbuf *b, double v);
void leash_wbuf_floats(leash_wbuf *b, const float *p, size_t n);
/* Sections do not nest: begin closes nothing, end fills in the open one's length. */
void leash_wbuf_begin(leash_wbuf *b, const char tag[4]);
void leash_wbuf_end(leash_wbuf *b);
/* Append the CRC; then data[0..len) is the whole file. LEASH_ENOMEM if any write failed. */
int leash_wbuf_finish(leash_wbuf *b);

/* A read-only view of a section's payload. */
typedef struct leash_rbuf {
    const unsigned char *p;
    size_t len, pos;
    int bad; /* a read ran past the end */
} leash_rbuf;

uint32_t leash_rbuf_u32(leash_rbuf *r);
uint64_t leash_rbuf_u64(leash_rbuf *r);
int64_t leash_rbuf_i64(leash_rbuf *r);
double leash_rbuf_f64(leash_rbuf *r);
/* Copy n floats (or bytes) out; on a short payload copies nothing and marks r bad. */
void leash_rbuf_floats(leash_rbuf *r, float *out, size_t n);
void leash_rbuf_bytes(leash_rbuf *r, void *out, size_t n);
/* The next n bytes in place (NULL and bad if fewer remain). */
const unsigned char *leash_rbuf_take(leash_rbuf *r, size_t n);

/* A whole file read into memory and checked: magic, version, CRC, section lengths. */
typedef struct leash_store {
    unsigned char *data;
    size_t len;
    const char *path; /* for messages; not owned */
    uint32_t version; /* the file's format version */
} leash_store;

/* Read and check path. what names the kind of file for messages ("checkpoint"). A file
 * of another kind, a corrupt or truncated one: LEASH_EFORMAT, "PATH: ..."; an
 * unreadable one LEASH_EIO. */
int leash_store_read(leash_store *s, const char *path, const char magic[LEASH_STORE_MAGIC_LEN],
                     uint32_t version, const char *what);
/* The same for a reader of every format version from oldest to version. */
int leash_store_read_versions(leash_store *s, const char *path,
                              const char magic[LEASH_STORE_MAGIC_LEN], uint32_t oldest,
                              uint32_t version, const char *what);
void leash_store_free(leash_store *s);
/* The first section with tag (index-th of that tag, counting from 0); 0 if found. */
int leash_store_section(const leash_store *s, const char tag[4], int index, leash_rbuf *out);

/* Write data to path atomically: a temporary file in the directory of the file path
 * names (symbolic links followed, so a link stays a link), fsynced, given the permission
 * bits (and, where possible, the owner) of the file it replaces or, for a new file,
 * 0666 less the umask, renamed over it, and the directory fsynced. On failure nothing at
 * path changed and no temporary file remains. An existing target that is not a regular
 * file is refused (LEASH_EINVAL); a failed write is LEASH_EWRITE, "what PATH: ...". */
int leash_write_atomic(const char *path, const void *data, size_t len, const char *what);

/* The same for a result document, except that an existing device or FIFO (/dev/null, a
 * pipe to a reader) is written in place, never replaced. */
int leash_write_output(const char *path, const void *data, size_t len, const char *what);

/* Check, before a long run, that path can be written by leash_write_atomic (resp.
 * leash_write_output): its directory exists and takes new files, and path is not a
 * directory nor (resp. is a device or FIFO leash may write) another non-regular file. */
int leash_check_writable(const char *path, const char *what);
int leash_check_output(const char *path, const char *what);

/* Whether path names (through links) an existing device or FIFO: written once, at the
 * end, rather than rewritten after every epoch. */
int leash_output_is_stream(const char *path);

/* For a signal handler that ends the process at once: unlink the temporary file a
 * leash_write_atomic in progress has open, if any. Async-signal-safe. */
void leash_write_atomic_abandon(void);

/* 64-bit FNV-1a of n bytes: the parameters' digests in the run's output, cheap to
 * compare across ranks and runs. */
uint64_t leash_fnv1a64(const void *p, size_t n);

#endif
