/* Error codes: every leash_ function returns 0 or one of these (negative). */
#ifndef LEASH_ERROR_H
#define LEASH_ERROR_H

#include "leash/api.h"

#ifdef __cplusplus
extern "C" {
#endif

enum leash_error {
    LEASH_OK = 0,
    LEASH_ENOMEM = -1,    /* allocation failed */
    LEASH_EINVAL = -2,    /* invalid argument or option value */
    LEASH_EIO = -3,       /* a file could not be opened, read or written */
    LEASH_EFORMAT = -4,   /* a file's contents are malformed */
    LEASH_EDIVERGED = -5, /* training produced a non-finite loss */
    LEASH_EUNSUPPORTED = -6,
    LEASH_EMPI = -7, /* an MPI call failed */
    LEASH_EPEER = -8,   /* another rank failed (and reported why) */
    LEASH_ESTOPPED = -9, /* stopped early on request (leash_request_stop), resumable */
    LEASH_EWRITE = -10   /* a result could not be written (disk full, broken pipe) */
};

/* Fixed description of an error code. */
LEASH_API const char *leash_strerror(int err);

/* Description of the last error raised by a leash_ call on this thread: one line that
 * names the file or option and what is wrong (empty if none was recorded). */
LEASH_API const char *leash_last_error(void);

/* Messages name the settings they are about as the configuration's fields, written
 * "leash_config.FIELD = VALUE" (a program that has its own names for them, such as
 * leash's flags, can replace them). */

/* Where the library's warnings go (one line each, without a trailing newline): by
 * default to standard error as "leash: warning: MESSAGE". A NULL handler restores the
 * default. Set it before training; it is called on the thread that warns. */
typedef void (*leash_warning_fn)(const char *message, void *arg);
LEASH_API void leash_set_warning_handler(leash_warning_fn handler, void *arg);

#ifdef __cplusplus
}
#endif
#endif
