/* The process's stop request: see stop_internal.h. Lock-free, hence async-signal-safe to
 * store from a handler; read relaxed, as a hint: whoever acts on it orders what follows
 * by its own means (the trainer's gate, a file descriptor's close). */
#include <stdatomic.h>

#include "core/stop_internal.h"
#include "leash/train.h"

static _Atomic int stop_requested;

void leash_request_stop(void) { atomic_store_explicit(&stop_requested, 1, memory_order_relaxed); }
void leash_clear_stop(void) { atomic_store_explicit(&stop_requested, 0, memory_order_relaxed); }
int leash_stop_asked(void) { return atomic_load_explicit(&stop_requested, memory_order_relaxed); }
