#ifndef LEASH_ERROR_INTERNAL_H
#define LEASH_ERROR_INTERNAL_H

#include "leash/error.h"

/* Record a one-line description of a failure for leash_last_error() on this thread
 * and return code, so a failing path reads: return leash_fail(LEASH_EIO, "%s: ...", path); */
int leash_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A warning, through the handler of leash_set_warning_handler. */
void leash_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
