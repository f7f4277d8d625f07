#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "sync/stepsize_internal.h"

/* TAIL's sample, in multiples of the thread count: 5 m gradient updates from global
 * update index 10 m on, as in the authors' tool (there, indices [10 m, 15 m); here the
 * averaging layer's corrections also take indices, and they are not gradients). */
#define TAIL_WINDOW_START 10
#define TAIL_WINDOW_END 15

struct leash_stepper {
    leash_step_policy policy;
    float eta;
    int tau_max;
    double tail_amplitude;
    uint64_t window_start, window_len;
    /* eta(tau) for tau = 0 .. tau_max. For TAIL it holds the plain eta until the sample
     * is complete; then the one thread that completes it rewrites the table and sets
     * tail_ready. */
    _Atomic float *table;
    _Atomic uint64_t *tail_hist; /* staleness counts of the sampled window */
    _Atomic uint64_t tail_claimed; /* tickets for a place in the sample, handed out once */
    _Atomic uint64_t tail_samples; /* samples recorded */
};

int leash_stepper_create(leash_stepper **out, leash_step_policy policy, double eta, int threads,
                         int tau_max, double tail_amplitude)
{
    *out = NULL;
    if (tau_max < 0 || threads < 1 || !(eta > 0) || tail_amplitude < 0 || tail_amplitude > 1)
        return leash_fail(LEASH_EINVAL, "invalid step-size policy parameters");
    leash_stepper *s = calloc(1, sizeof *s);
    if (!s) return leash_fail(LEASH_ENOMEM, "step sizes: out of memory");
    s->policy = policy;
    s->eta = (float)eta;
    s->tau_max = tau_max;
    s->tail_amplitude = tail_amplitude;
    s->window_start = (uint64_t)TAIL_WINDOW_START * (uint64_t)threads;
    s->window_len = (uint64_t)(TAIL_WINDOW_END - TAIL_WINDOW_START) * (uint64_t)threads;
    s->table = calloc((size_t)tau_max + 1, sizeof *s->table);
    s->tail_hist = calloc((size_t)tau_max + 1, sizeof *s->tail_hist);
    if (!s->table || !s->tail_hist) {
        leash_stepper_destroy(s);
        return leash_fail(LEASH_ENOMEM, "step sizes: out of memory");
    }
    double T = threads + 1.0, beta = 2.0 / T * log(1.0 + floor(T / 2.0));
    for (int tau = 0; tau <= tau_max; ++tau) {
        double f = 1.0;
        if (policy == LEASH_STEP_INVERSE) f = 1.0 / (tau + 1.0);
        if (policy == LEASH_STEP_FLEET) f = exp(-beta * tau);
        atomic_init(&s->table[tau], (float)(eta * f));
    }
    *out = s;
    return 0;
}

void leash_stepper_destroy(leash_stepper *s)
{
    if (!s) return;
    free(s->table);
    free(s->tail_hist);
    free(s);
}

int leash_stepper_tau_max(const leash_stepper *s) { return s->tau_max; }

float leash_stepper_eta(const leash_stepper *s, uint64_t tau)
{
    if (tau > (uint64_t)s->tau_max) tau = (uint64_t)s->tau_max;
    /* Relaxed: each entry is one float written once by TAIL's completing thread; an
     * update that still sees the old NONE value is as valid as one that ran earlier. */
    return atomic_load_explicit(&s->table[tau], memory_order_relaxed);
}

/* TAIL: eta (1 + A (1 - 2 F(tau))) with F(tau) the fraction of samples below tau. */
static void tail_finish(leash_stepper *s)
{
    uint64_t below = 0;
    for (int tau = 0; tau <= s->tau_max; ++tau) {
        double F = (double)below / (double)s->window_len;
        atomic_store_explicit(&s->table[tau],
                              (float)(s->eta * (1.0 + s->tail_amplitude * (1.0 - 2.0 * F))),
                              memory_order_relaxed);
        /* Relaxed suffices: see leash_stepper_observe. */
        below += atomic_load_explicit(&s->tail_hist[tau], memory_order_relaxed);
    }
}

void leash_stepper_state(const leash_stepper *s, uint64_t *hist, uint64_t *samples)
{
    for (int tau = 0; tau <= s->tau_max; ++tau)
        hist[tau] = atomic_load_explicit(&s->tail_hist[tau], memory_order_relaxed);
    *samples = atomic_load_explicit(&s->tail_samples, memory_order_relaxed);
}

int leash_stepper_restore(leash_stepper *s, const uint64_t *hist, uint64_t samples)
{
    uint64_t total = 0;
    for (int tau = 0; tau <= s->tau_max; ++tau) total += hist[tau];
    if (total != samples || samples > s->window_len)
        return leash_fail(LEASH_EFORMAT, "step-size state: %llu samples of a window of %llu",
                          (unsigned long long)samples, (unsigned long long)s->window_len);
    /* No update runs yet: the trainer starts the workers after this. */
    for (int tau = 0; tau <= s->tau_max; ++tau)
        atomic_store_explicit(&s->tail_hist[tau], hist[tau], memory_order_relaxed);
    atomic_store_explicit(&s->tail_claimed, samples, memory_order_relaxed);
    atomic_store_explicit(&s->tail_samples, samples, memory_order_relaxed);
    if (s->policy == LEASH_STEP_TAIL && samples == s->window_len) tail_finish(s);
    return 0;
}

void leash_stepper_observe(leash_stepper *s, uint64_t idx, uint64_t tau)
{
    if (s->policy != LEASH_STEP_TAIL || idx < s->window_start) return;
    /* Relaxed: the load only spares the counter's cache line once the sample is full;
     * the fetch_add, one RMW order on tail_claimed, gives each place to one update. */
    if (atomic_load_explicit(&s->tail_claimed, memory_order_relaxed) >= s->window_len) return;
    if (atomic_fetch_add_explicit(&s->tail_claimed, 1, memory_order_relaxed) >= s->window_len)
        return;
    if (tau > (uint64_t)s->tau_max) tau = (uint64_t)s->tau_max;
    atomic_fetch_add_explicit(&s->tail_hist[tau], 1, memory_order_relaxed);
    /* acq_rel: each sampler's relaxed histogram increment is sequenced before its
     * release here, and the thread that completes the count acquires all of them (one
     * release sequence of RMWs), so tail_finish sees every sampled increment. */
    if (atomic_fetch_add_explicit(&s->tail_samples, 1, memory_order_acq_rel) + 1 == s->window_len)
        tail_finish(s);
}

/* --- checkpoints ------------------------------------------------------------------- */

void leash_stepper_save(leash_wbuf *b, const leash_stepper *s, int bins)
{
    uint64_t *hist = calloc((size_t)bins, sizeof *hist), samples = 0;
    if (!hist) {
        b->oom = 1;
        return;
    }
    leash_stepper_state(s, hist, &samples);
    leash_wbuf_u32(b, (uint32_t)bins);
    leash_wbuf_bytes(b, hist, (size_t)bins * sizeof *hist);
    leash_wbuf_u64(b, samples);
    free(hist);
}

int leash_stepper_load(leash_stepper *s, leash_rbuf *r, int bins, int keep)
{
    uint32_t nbins = leash_rbuf_u32(r);
    const unsigned char *saved = leash_rbuf_take(r, (size_t)bins * sizeof(uint64_t));
    uint64_t samples = leash_rbuf_u64(r);
    if (r->bad || nbins != (uint32_t)bins) return LEASH_EFORMAT;
    if (!keep) return 0;
    uint64_t *hist = malloc((size_t)bins * sizeof *hist);
    if (!hist) return leash_fail(LEASH_ENOMEM, "out of memory");
    memcpy(hist, saved, (size_t)bins * sizeof *hist);
    int rc = leash_stepper_restore(s, hist, samples);
    free(hist);
    return rc ? LEASH_EFORMAT : 0;
}
