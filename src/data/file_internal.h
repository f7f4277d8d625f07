/* Reading dataset files: plain or gzip-compressed, with every failure recorded as a
 * one-line message that names the file (see core/error_internal.h). */
#ifndef LEASH_DATA_FILE_INTERNAL_H
#define LEASH_DATA_FILE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

/* A file open for reading; gzip data is told from plain data by its magic bytes and
 * inflated here (not through gz*, which ignores whatever follows the gzip stream). */
typedef struct leash_file {
    int fd, has_fd;
    const char *path; /* for messages; not owned */
    size_t size;      /* bytes on disk (compressed size for gzip data) */
    size_t pos;       /* bytes delivered so far (uncompressed) */
    int compressed;   /* the content is gzip data */
    size_t raw_pos;   /* bytes read from disk so far */
    unsigned char *in; /* bytes read from disk, [in_pos, in_len) not yet used */
    size_t in_pos, in_len;
    z_stream z;
    int z_ready; /* z is initialized */
    int member;  /* inside a gzip member */
    int z_end;   /* the last member ended with the input */
} leash_file;

/* Open a regular file (never blocking: a FIFO is refused, not waited on). Failure:
 * LEASH_EIO, "PATH: <strerror>" or "PATH: not a regular file". */
int leash_file_open(leash_file *f, const char *path);

/* Read up to n bytes; *got < n only at the end of the data. Failure: LEASH_EFORMAT
 * "PATH: corrupt gzip data" (a truncated gzip stream included) or "PATH: N bytes after
 * the end of the gzip data", LEASH_EIO
 * "PATH: <strerror>", LEASH_ENOMEM. */
int leash_file_read(leash_file *f, void *buf, size_t n, size_t *got);

/* Read on to the end of the data and count the bytes left, storing none of them. */
int leash_file_rest(leash_file *f, size_t *rest);

/* An upper bound on the bytes still to come: exact for plain data, deflate's best
 * compression ratio for gzip data. Lets a loader reject a header that promises more
 * than the file can hold before it allocates a buffer of that size. */
size_t leash_file_max_rest(const leash_file *f);

/* Close f; safe on a zeroed or already closed leash_file. */
void leash_file_close(leash_file *f);

/* Read and check the headers of an IDX image file and its label file (no data): the
 * image count and shape. Failures as leash_idx_load's. */
int leash_idx_probe(const char *images_path, const char *labels_path, size_t *n, int *rows,
                    int *cols);

/* Check CIFAR-10 batch files as leash_cifar_load does, from their sizes (no data): the
 * record count. */
int leash_cifar_probe(const char *const *paths, int npaths, size_t *n);

/* Big-endian 32-bit integer at p. */
uint32_t leash_be32(const uint8_t *p);

/* *out = "dir/name" (malloc'd; a trailing '/' of dir is not doubled). */
int leash_path_join(char **out, const char *dir, const char *name);

#endif
