/* Reading dataset files: plain or gzip-compressed, with every failure recorded as a
 * one-line message that names the file (see core/error_internal.h). */
#ifndef LEASH_DATA_FILE_INTERNAL_H
#define LEASH_DATA_FILE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

/* A file open for reading; zlib tells gzip data from plain data by its content. */
typedef struct leash_file {
    gzFile gz;
    const char *path; /* for messages; not owned */
    size_t size;      /* bytes on disk (compressed size for gzip data) */
    size_t pos;       /* bytes delivered so far (uncompressed) */
    int compressed;   /* the content is gzip data */
} leash_file;

/* Open a regular file. Failure: LEASH_EIO, "PATH: <strerror>". */
int leash_file_open(leash_file *f, const char *path);

/* Read up to n bytes; *got < n only at the end of the data. Failure: LEASH_EFORMAT
 * "PATH: corrupt gzip data" (a truncated gzip stream included), LEASH_EIO
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

/* Big-endian 32-bit integer at p. */
uint32_t leash_be32(const uint8_t *p);

/* *out = "dir/name" (malloc'd; a trailing '/' of dir is not doubled). */
int leash_path_join(char **out, const char *dir, const char *name);

#endif
