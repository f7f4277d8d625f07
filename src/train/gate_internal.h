/* The worker gate: the main thread starts the workers on a segment and sleeps until
 * they have all finished it, or until a worker wakes it, or until a deadline. Threads,
 * not epochs: the gate knows nothing of what a segment trains.
 *
 * The mutex orders everything a worker wrote during a segment before what the main
 * thread reads after the workers finished, and the main thread's writes before the gate
 * opens before what the workers read in the segment. */
#ifndef LEASH_GATE_INTERNAL_H
#define LEASH_GATE_INTERNAL_H

#include <pthread.h>

typedef struct leash_gate {
    pthread_mutex_t lock;
    pthread_cond_t started, finished_cv;
    /* All under lock: generation advances to start a segment (or, with quit set, to end
     * the run); finished counts the workers done with the current one; wake is a
     * worker's call to the main thread. */
    unsigned long generation;
    int threads, finished, quit, wake;
} leash_gate;

/* A gate for `threads` workers; its finished condition waits on CLOCK_MONOTONIC, the
 * clock of leash_now(). */
int leash_gate_init(leash_gate *g, int threads);
void leash_gate_destroy(leash_gate *g);

/* Main thread: start the workers on the next segment (or, with quit, release them). */
void leash_gate_open(leash_gate *g, int quit);
/* Main thread: sleep until every worker has finished the segment, until `at` (a
 * leash_now() time; < 0: none) or, if until_woken, until a worker called
 * leash_gate_wake (the call is then used up). Returns whether the workers finished. */
int leash_gate_wait(leash_gate *g, double at, int until_woken);
/* Whether no worker runs (the lock orders their writes before the caller's reads). */
int leash_gate_idle(leash_gate *g);

/* Worker: wait for the next segment after the one *seen; returns 1 to quit. */
int leash_gate_enter(leash_gate *g, unsigned long *seen);
/* Worker: done with the segment. */
void leash_gate_leave(leash_gate *g);
/* Worker: wake the main thread. */
void leash_gate_wake(leash_gate *g);

#endif
