/* What recording costs a worker, in nanoseconds, measured without training around it
 * (a training run's samples/s is too noisy on a shared VM to resolve it).
 *
 * - breakdown: the three clock reads do_round takes beyond what it took before the
 *   breakdown (every round pays them, with or without --timeline);
 * - sampled: one sampled LSH round's recording: its clock reads and its events (batch,
 *   read, gradient, publish, one CAS, a staleness and a live-versions counter);
 * - unsampled: the countdown and the NULL checks of a round the timeline skips.
 * Divide by a round's time (1 / updates per second per worker) for the fraction.
 * Prints one JSON object.
 *
 * Usage: timeline_record [-k ROUNDS] */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/clock_internal.h"
#include "core/timeline_internal.h"

/* Keeps the compiler from dropping what is measured. */
static volatile double sink;

static double per_round(double t0, long k) { return (leash_now() - t0) / (double)k * 1e9; }

static double breakdown(long k)
{
    double t0 = leash_now(), acc = 0.0;
    for (long i = 0; i < k; ++i) {
        const double a = leash_now(), b = leash_now(), c = leash_now();
        acc += (b - a) + (c - b);
    }
    sink = acc;
    return per_round(t0, k);
}

static double sampled(leash_tl_track *tr, long k)
{
    double t0 = leash_now();
    for (long i = 0; i < k; ++i) {
        if (tr->n + 8 > tr->cap) tr->n = 0; /* a track that never fills */
        const double a = leash_now(), b = leash_now(), c = leash_now(), d = leash_now();
        const double e = leash_now(), f = leash_now(), g = leash_now(), h = leash_now();
        leash_tl_add(tr, LEASH_TL_CAS, e, f, 0);
        leash_tl_add(tr, LEASH_TL_STALENESS, f, f, 1);
        leash_tl_add(tr, LEASH_TL_LIVE, g, g, 3);
        leash_tl_add(tr, LEASH_TL_BATCH, a, b, 0);
        leash_tl_add(tr, LEASH_TL_READ, b, c, 0);
        leash_tl_add(tr, LEASH_TL_GRADIENT, c, d, 0);
        leash_tl_add(tr, LEASH_TL_PUBLISH, d, h, 0);
    }
    return per_round(t0, k);
}

static double unsampled(leash_tl_track *tr, long k)
{
    long skip = 9;
    leash_tl_track *volatile track = tr;
    double t0 = leash_now();
    for (long i = 0; i < k; ++i) {
        leash_tl_track *st = NULL;
        if (track && skip-- <= 0) skip = 9;
        /* the strategy's and do_round's checks of the round's track */
        for (int j = 0; j < 4; ++j)
            if (st) leash_tl_add(st, LEASH_TL_CAS, 0, 0, 0);
    }
    return per_round(t0, k);
}

int main(int argc, char **argv)
{
    long k = 2000000;
    int opt;
    while ((opt = getopt(argc, argv, "k:")) != -1) {
        if (opt == 'k') k = atol(optarg);
        else {
            fprintf(stderr, "usage: timeline_record [-k ROUNDS]\n");
            return 2;
        }
    }
    leash_timeline tl;
    if (leash_timeline_create(&tl, 1, 10, 1 << 20) != 0) return 1;
    const double b = breakdown(k), s = sampled(&tl.tracks[0], k), u = unsampled(&tl.tracks[0], k);
    printf("{\"rounds\": %ld, \"breakdown_ns\": %.1f, \"sampled_ns\": %.1f, \"unsampled_ns\": %.1f}\n",
           k, b, s, u);
    leash_timeline_destroy(&tl);
    return 0;
}
