#ifndef LEASH_CLOCK_INTERNAL_H
#define LEASH_CLOCK_INTERNAL_H

#include <stddef.h>

/* Seconds on the monotonic clock (for intervals only). */
double leash_now(void);

/* Peak resident set size of this process in bytes (getrusage's maximum RSS). */
size_t leash_peak_rss_bytes(void);

#endif
