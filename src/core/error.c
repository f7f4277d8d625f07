#include <stdarg.h>
#include <stdio.h>

#include "core/error_internal.h"

/* Per thread, so that workers reporting errors never race on one buffer. */
static _Thread_local char last_error[1024];

const char *leash_strerror(int err)
{
    switch (err) {
    case LEASH_OK: return "success";
    case LEASH_ENOMEM: return "out of memory";
    case LEASH_EINVAL: return "invalid argument";
    case LEASH_EIO: return "input/output error";
    case LEASH_EFORMAT: return "malformed file";
    case LEASH_EDIVERGED: return "training diverged (non-finite loss)";
    case LEASH_EUNSUPPORTED: return "not supported";
    case LEASH_EMPI: return "MPI error";
    case LEASH_EPEER: return "another rank failed";
    case LEASH_ESTOPPED: return "stopped early on request";
    case LEASH_EWRITE: return "cannot write the result";
    default: return "unknown error";
    }
}

const char *leash_last_error(void) { return last_error; }

int leash_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return code;
}

static void print_warning(const char *message, void *arg)
{
    (void)arg;
    fprintf(stderr, "leash: warning: %s\n", message);
}

/* Set before training starts, read by whichever thread warns: the threads the library
 * starts are created after it, which orders the write before their reads. */
static leash_warning_fn warning_handler = print_warning;
static void *warning_arg;

void leash_set_warning_handler(leash_warning_fn handler, void *arg)
{
    warning_handler = handler ? handler : print_warning;
    warning_arg = handler ? arg : NULL;
}

void leash_warn(const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    warning_handler(message, warning_arg);
}
