/* Layer kernels: finite-difference gradient checks, input gradients written and
 * parameter gradients accumulated, NULL din, the BLAS paths against double-precision
 * loops over the definitions, strided and padded convolution (against the reference and,
 * bit for bit, against a valid one on the padded input), max pooling on a hand-built
 * input, average pooling, tanh, the fused bias/ReLU/pooling passes and the numerics of
 * softmax + cross-entropy. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "nn/layers_internal.h"
#include "tap.h"

/* Every gradient check below passes if max relative error < GRAD_TOL. */
#define GRAD_TOL 1e-3
/* Gradients here are O(1), but a few happen to be small; a central difference carries
 * an absolute error of up to about 5e-6 (float32 rounding of the outputs divided by the
 * step), so values under FD_FLOOR are compared in absolute terms: |a - n| < 1e-5. */
#define FD_FLOOR 1e-2
/* fc and conv are affine in any single coordinate, so a central difference has no
 * truncation error whatever the step: a large one only shrinks the share of float32
 * rounding in the difference of the two outputs. */
#define AFFINE_STEP 0.25f
/* BLAS results against the double-precision definitions. */
#define BLAS_TOL 1e-4

/* ---- finite-difference checks ------------------------------------------------- */

typedef struct fc_case {
    float *out, *in, *w, *bias, *r;
    int B, C, OC;
} fc_case;

/* L = sum(out .* r), so dL/dout = r. */
static double fc_objective(void *p)
{
    fc_case *c = p;
    leash_fc_forward(c->out, c->in, c->w, c->bias, c->B, c->C, c->OC);
    return gc_dot(c->out, c->r, (size_t)c->B * c->OC);
}

static void fc_gradcheck(void)
{
    enum { B = 3, C = 7, OC = 5 };
    leash_rng rng;
    leash_rng_seed(&rng, 11);
    fc_case c = {gc_floats(B * OC), gc_floats(B * C), gc_floats(OC * C), gc_floats(OC),
                 gc_floats(B * OC), B, C, OC};
    float *din = gc_floats(B * C), *dw = gc_floats(OC * C), *db = gc_floats(OC);
    gc_fill_uniform(c.in, B * C, -1, 1, &rng);
    gc_fill_uniform(c.w, OC * C, -1, 1, &rng);
    gc_fill_uniform(c.bias, OC, -1, 1, &rng);
    gc_fill_uniform(c.r, B * OC, -1, 1, &rng);
    leash_fc_backward(din, dw, db, c.r, c.in, c.w, B, C, OC);

    double e_in = gc_check_all(fc_objective, &c, c.in, din, B * C, AFFINE_STEP, FD_FLOOR);
    double e_w = gc_check_all(fc_objective, &c, c.w, dw, OC * C, AFFINE_STEP, FD_FLOOR);
    double e_b = gc_check_all(fc_objective, &c, c.bias, db, OC, AFFINE_STEP, FD_FLOOR);
    free(c.out), free(c.in), free(c.w), free(c.bias), free(c.r);
    free(din), free(dw), free(db);
    ASSERT_DBL_LE(e_in, GRAD_TOL);
    ASSERT_DBL_LE(e_w, GRAD_TOL);
    ASSERT_DBL_LE(e_b, GRAD_TOL);
}

typedef struct conv_case {
    float *out, *col, *in, *w, *bias, *r;
    int B;
    leash_conv_geom g;
} conv_case;

static size_t conv_out_size(int B, const leash_conv_geom *g)
{
    return (size_t)B * leash_conv_out_h(g) * leash_conv_out_w(g) * g->OC;
}

static double conv_objective(void *p)
{
    conv_case *c = p;
    leash_conv_forward(c->out, c->col, c->in, c->w, c->bias, c->B, &c->g);
    return gc_dot(c->out, c->r, conv_out_size(c->B, &c->g));
}

/* Stride S and padding P on a (K + 4) x (K + 3) input. */
static void conv_gradcheck_case(int C, int K, int S, int P, uint64_t seed)
{
    leash_rng rng;
    leash_rng_seed(&rng, seed);
    conv_case c = {.B = 2, .g = {K + 4, K + 3, C, 3, K, S, P}};
    int OC = c.g.OC;
    size_t nin = (size_t)c.B * c.g.H * c.g.W * C, nw = (size_t)OC * K * K * C;
    size_t nout = conv_out_size(c.B, &c.g);
    c.out = gc_floats(nout);
    c.col = gc_floats(leash_conv_col_floats(c.B, &c.g));
    c.in = gc_floats(nin);
    c.w = gc_floats(nw);
    c.bias = gc_floats(OC);
    c.r = gc_floats(nout);
    float *din = gc_floats(nin), *dw = gc_floats(nw), *db = gc_floats(OC);
    gc_fill_uniform(c.in, nin, -1, 1, &rng);
    gc_fill_uniform(c.w, nw, -1, 1, &rng);
    gc_fill_uniform(c.bias, OC, -1, 1, &rng);
    gc_fill_uniform(c.r, nout, -1, 1, &rng);
    leash_conv_backward(din, dw, db, c.col, c.r, c.in, c.w, c.B, &c.g);

    double e_in = gc_check_all(conv_objective, &c, c.in, din, nin, AFFINE_STEP, FD_FLOOR);
    double e_w = gc_check_all(conv_objective, &c, c.w, dw, nw, AFFINE_STEP, FD_FLOOR);
    double e_b = gc_check_all(conv_objective, &c, c.bias, db, OC, AFFINE_STEP, FD_FLOOR);
    free(c.out), free(c.col), free(c.in), free(c.w), free(c.bias), free(c.r);
    free(din), free(dw), free(db);
    ASSERT_DBL_LE(e_in, GRAD_TOL);
    ASSERT_DBL_LE(e_w, GRAD_TOL);
    ASSERT_DBL_LE(e_b, GRAD_TOL);
}

static void conv_gradcheck_c1_k3(void) { conv_gradcheck_case(1, 3, 1, 0, 21); }
static void conv_gradcheck_c3_k3(void) { conv_gradcheck_case(3, 3, 1, 0, 22); }
static void conv_gradcheck_c1_k5(void) { conv_gradcheck_case(1, 5, 1, 0, 23); }
static void conv_gradcheck_c3_k5(void) { conv_gradcheck_case(3, 5, 1, 0, 24); }
/* The general path: padding alone, stride alone (K > S, so windows overlap), both, and a
 * stride larger than the kernel (S > K: some input pixels are read by no window). */
static void conv_gradcheck_strided_padded(void)
{
    conv_gradcheck_case(1, 5, 1, 2, 25);
    conv_gradcheck_case(3, 3, 2, 0, 26);
    conv_gradcheck_case(3, 3, 2, 1, 27);
    conv_gradcheck_case(1, 2, 3, 1, 28);
}

typedef struct pool_case {
    float *out, *in, *r;
    int32_t *argmax;
    int B, H, W, C;
} pool_case;

static size_t pool_out_size(const pool_case *c)
{
    return (size_t)c->B * (c->H / 2) * (c->W / 2) * c->C;
}

static double pool_objective(void *p)
{
    pool_case *c = p;
    leash_maxpool_forward(c->out, c->argmax, c->in, c->B, c->H, c->W, c->C, 2);
    return gc_dot(c->out, c->r, pool_out_size(c));
}

/* Max pooling is piecewise linear with kinks where two window entries tie. The inputs
 * are a shuffled grid of distinct multiples of 1/64 and the step is 1/256, so no
 * perturbed value can overtake another and every difference is exact. */
static void pool_gradcheck_case(int H, int W, int C, uint64_t seed)
{
    leash_rng rng;
    leash_rng_seed(&rng, seed);
    pool_case c = {.B = 2, .H = H, .W = W, .C = C};
    size_t nin = (size_t)c.B * H * W * C, nout = pool_out_size(&c);
    c.out = gc_floats(nout);
    c.in = gc_floats(nin);
    c.r = gc_floats(nout);
    c.argmax = gc_calloc(nout, sizeof *c.argmax);
    uint32_t *perm = gc_calloc(nin, sizeof *perm);
    for (size_t i = 0; i < nin; ++i) perm[i] = (uint32_t)i;
    leash_rng_shuffle_u32(&rng, perm, nin);
    for (size_t i = 0; i < nin; ++i) c.in[i] = ((float)perm[i] - (float)(nin / 2)) / 64.0f;
    gc_fill_uniform(c.r, nout, -1, 1, &rng);
    float *din = gc_floats(nin);
    pool_objective(&c);
    leash_maxpool_backward(din, c.r, c.argmax, c.B, H, W, C, 2);

    /* Rows and columns beyond the last full window take no part. */
    int dropped_nonzero = 0;
    for (int b = 0; b < c.B; ++b)
        for (int y = 0; y < H; ++y)
            for (int x = 0; x < W; ++x)
                for (int ch = 0; ch < C; ++ch)
                    if ((y >= H / 2 * 2 || x >= W / 2 * 2) &&
                        din[(((size_t)b * H + y) * W + x) * C + ch] != 0.0f)
                        ++dropped_nonzero;
    double e_in = gc_check_all(pool_objective, &c, c.in, din, nin, 1.0f / 256, FD_FLOOR);
    free(c.out), free(c.in), free(c.r), free(c.argmax), free(perm), free(din);
    ASSERT_INT_EQ(dropped_nonzero, 0);
    ASSERT_DBL_LE(e_in, GRAD_TOL);
}

/* The channel counts the forward pass inlines (4, 6, 8, 16). */
static void maxpool_gradcheck_specialized(void)
{
    pool_gradcheck_case(6, 5, 4, 33);
    pool_gradcheck_case(5, 6, 6, 34);
    pool_gradcheck_case(4, 4, 8, 35);
    pool_gradcheck_case(4, 5, 16, 36);
}
static void maxpool_gradcheck_even(void) { pool_gradcheck_case(6, 4, 2, 31); }
static void maxpool_gradcheck_odd(void) { pool_gradcheck_case(7, 5, 3, 32); }

typedef struct act_case {
    float *out, *in, *r;
    size_t n;
    void (*forward)(float *, const float *, size_t);
} act_case;

static double act_objective(void *p)
{
    act_case *c = p;
    c->forward(c->out, c->in, c->n);
    return gc_dot(c->out, c->r, c->n);
}

/* ReLU's only kink is at 0: inputs have |x| >= 0.1 and the step is 0.01, so neither
 * x - h nor x + h crosses it (and the difference is exact). */
static void relu_gradcheck(void)
{
    enum { N = 64 };
    leash_rng rng;
    leash_rng_seed(&rng, 41);
    act_case c = {gc_floats(N), gc_floats(N), gc_floats(N), N, leash_relu_forward};
    float *din = gc_floats(N);
    gc_fill_away_from_zero(c.in, N, 0.1, 1, &rng);
    gc_fill_uniform(c.r, N, -1, 1, &rng);
    act_objective(&c);
    leash_relu_backward(din, c.r, c.out, N);
    double e_in = gc_check_all(act_objective, &c, c.in, din, N, 0.01f, FD_FLOOR);
    free(c.out), free(c.in), free(c.r), free(din);
    ASSERT_DBL_LE(e_in, GRAD_TOL);
}

/* Sigmoid is smooth: with h = 0.01 the truncation error is at most h^2/6 relative
 * (|s'''/s'| <= 1) and float32 rounding of s adds about 6e-8 / (2h) = 3e-6 absolute. The
 * weights r are kept away from zero and |x| <= 3 so every gradient is >= 0.02. */
static void sigmoid_gradcheck(void)
{
    enum { N = 64 };
    leash_rng rng;
    leash_rng_seed(&rng, 42);
    act_case c = {gc_floats(N), gc_floats(N), gc_floats(N), N, leash_sigmoid_forward};
    float *din = gc_floats(N);
    gc_fill_uniform(c.in, N, -3, 3, &rng);
    gc_fill_away_from_zero(c.r, N, 0.5, 1, &rng);
    act_objective(&c);
    leash_sigmoid_backward(din, c.r, c.out, N);
    double e_in = gc_check_all(act_objective, &c, c.in, din, N, 0.01f, FD_FLOOR);
    free(c.out), free(c.in), free(c.r), free(din);
    ASSERT_DBL_LE(e_in, GRAD_TOL);
}

/* tanh is smooth: with h = 0.01 the truncation error is at most h^2 |f'''/f'| / 6 <= 7e-5
 * relative (|f'''/f'| = 2 |1 - 3 tanh^2| <= 4), and float32 rounding of tanh adds about
 * 6e-8 / (2h) = 3e-6 absolute. |x| <= 2 and |r| >= 0.5 keep every gradient >= 0.03. */
static void tanh_gradcheck(void)
{
    enum { N = 64 };
    leash_rng rng;
    leash_rng_seed(&rng, 44);
    act_case c = {gc_floats(N), gc_floats(N), gc_floats(N), N, leash_tanh_forward};
    float *din = gc_floats(N);
    gc_fill_uniform(c.in, N, -2, 2, &rng);
    gc_fill_away_from_zero(c.r, N, 0.5, 1, &rng);
    act_objective(&c);
    leash_tanh_backward(din, c.r, c.out, N);
    double e_in = gc_check_all(act_objective, &c, c.in, din, N, 0.01f, FD_FLOOR);
    free(c.out), free(c.in), free(c.r), free(din);
    ASSERT_DBL_LE(e_in, GRAD_TOL);
}

typedef struct xent_case {
    float *probs, *logits;
    int *y;
    int B, K;
} xent_case;

/* The backward pass differentiates the MEAN loss; the forward returns the sum. */
static double xent_objective(void *p)
{
    xent_case *c = p;
    return leash_softmax_xent_forward(c->probs, c->logits, c->y, c->B, c->K) / c->B;
}

/* Logits in [-1, 1] keep every probability above 0.03, so every gradient is >= 0.01.
 * With h = 0.01 the truncation error is about 1e-7 and float32 rounding of expf adds
 * about 6e-8 / (2h B) = 1e-6. */
static void softmax_xent_gradcheck(void)
{
    enum { B = 3, K = 10 };
    leash_rng rng;
    leash_rng_seed(&rng, 43);
    int y[B];
    xent_case c = {gc_floats(B * K), gc_floats(B * K), y, B, K};
    float *dlogits = gc_floats(B * K);
    gc_fill_uniform(c.logits, B * K, -1, 1, &rng);
    for (int b = 0; b < B; ++b) y[b] = (int)leash_rng_below(&rng, K);
    xent_objective(&c);
    leash_softmax_xent_backward(dlogits, c.probs, y, B, K);
    double e = gc_check_all(xent_objective, &c, c.logits, dlogits, B * K, 0.01f, FD_FLOOR);
    free(c.probs), free(c.logits), free(dlogits);
    ASSERT_DBL_LE(e, GRAD_TOL);
}

/* ---- backward passes: din written, parameter gradients accumulated ------------- */

/* Largest |got - (prefill + fresh)| relative to max(|.|, 1): fresh is what the backward
 * pass wrote into zeroed buffers, got what it left in buffers holding prefill. */
static double accumulate_err(const float *got, const float *prefill, const float *fresh, size_t n)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; ++i)
        worst = fmax(worst, gc_rel_err(got[i], (double)prefill[i] + fresh[i], 1.0));
    return worst;
}

/* Count of entries where got differs from fresh bit for bit (a NaN left over counts). */
static size_t overwrite_mismatches(const float *got, const float *fresh, size_t n)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; ++i) bad += memcmp(&got[i], &fresh[i], sizeof *got) != 0;
    return bad;
}

/* Copies of a prefill, which the pass under test accumulates into. */
static float *copy_floats(const float *x, size_t n)
{
    float *c = gc_floats(n);
    memcpy(c, x, n * sizeof *c);
    return c;
}

/* An input gradient buffer full of NaN: any read of its old contents shows. */
static float *nan_floats(size_t n)
{
    float *c = gc_floats(n);
    for (size_t i = 0; i < n; ++i) c[i] = NAN;
    return c;
}

/* BLAS may fold the prefill in before the last partial product of a long inner
 * dimension, so parameter gradients are allowed a few float32 roundings; an overwrite
 * or a double add is off by O(1). */
#define ACCUM_TOL 1e-5

static void fc_backward_writes_din(void)
{
    enum { B = 9, C = 33, OC = 17 };
    leash_rng rng;
    leash_rng_seed(&rng, 51);
    float *in = gc_floats(B * C), *w = gc_floats(OC * C), *dout = gc_floats(B * OC);
    float *din0 = gc_floats(B * C), *dw0 = gc_floats(OC * C), *db0 = gc_floats(OC);
    float *pw = gc_floats(OC * C), *pb = gc_floats(OC);
    gc_fill_uniform(in, B * C, -1, 1, &rng);
    gc_fill_uniform(w, OC * C, -1, 1, &rng);
    gc_fill_uniform(dout, B * OC, -1, 1, &rng);
    gc_fill_uniform(pw, OC * C, -1, 1, &rng);
    gc_fill_uniform(pb, OC, -1, 1, &rng);
    float *din = nan_floats(B * C), *dw = copy_floats(pw, OC * C), *db = copy_floats(pb, OC);
    leash_fc_backward(din0, dw0, db0, dout, in, w, B, C, OC);
    leash_fc_backward(din, dw, db, dout, in, w, B, C, OC);
    size_t bad_in = overwrite_mismatches(din, din0, B * C);
    double e_w = accumulate_err(dw, pw, dw0, OC * C);
    double e_b = accumulate_err(db, pb, db0, OC);
    free(in), free(w), free(dout), free(din0), free(dw0), free(db0);
    free(pw), free(pb), free(din), free(dw), free(db);
    ASSERT_SIZE_EQ(bad_in, 0);
    ASSERT_DBL_LE(e_w, ACCUM_TOL);
    ASSERT_DBL_LE(e_b, ACCUM_TOL);
}

/* Backward of one conv case (3x3, stride S, padding P) into a NaN-filled din and
 * prefilled dw, db; *bad_in counts din entries not equal to a fresh run's, *e_w and *e_b
 * are the accumulation errors. */
static void conv_write_case(int B, int H, int W, int S, int P, uint64_t seed, size_t *bad_in,
                            double *e_w, double *e_b)
{
    enum { C = 1, OC = 4, K = 3 };
    const leash_conv_geom g = {H, W, C, OC, K, S, P};
    size_t nin = (size_t)B * H * W * C, nw = OC * K * K * C, nout = conv_out_size(B, &g);
    leash_rng rng;
    leash_rng_seed(&rng, seed);
    float *in = gc_floats(nin), *w = gc_floats(nw), *dout = gc_floats(nout);
    float *col = gc_floats(leash_conv_col_floats(B, &g));
    float *din0 = gc_floats(nin), *dw0 = gc_floats(nw), *db0 = gc_floats(OC);
    float *pw = gc_floats(nw), *pb = gc_floats(OC);
    gc_fill_uniform(in, nin, -1, 1, &rng);
    gc_fill_uniform(w, nw, -1, 1, &rng);
    gc_fill_uniform(dout, nout, -1, 1, &rng);
    gc_fill_uniform(pw, nw, -1, 1, &rng);
    gc_fill_uniform(pb, OC, -1, 1, &rng);
    float *din = nan_floats(nin), *dw = copy_floats(pw, nw), *db = copy_floats(pb, OC);
    leash_conv_backward(din0, dw0, db0, col, dout, in, w, B, &g);
    leash_conv_backward(din, dw, db, col, dout, in, w, B, &g);
    *bad_in = overwrite_mismatches(din, din0, nin);
    *e_w = accumulate_err(dw, pw, dw0, nw);
    *e_b = accumulate_err(db, pb, db0, OC);
    free(in), free(w), free(dout), free(col), free(din0), free(dw0), free(db0);
    free(pw), free(pb), free(din), free(dw), free(db);
}

/* A small case for the accumulation, and one of several im2col chunks (28x28x1, K = 3: 2
 * samples per chunk) for din, which is cleared per chunk by col2im. The large case's
 * weight gradients sum 67,600 products each, too many for ACCUM_TOL. */
static void conv_backward_writes_din(void)
{
    size_t bad_small, bad_chunked;
    double e_w, e_b, e_w_chunked, e_b_chunked;
    conv_write_case(3, 9, 8, 1, 0, 52, &bad_small, &e_w, &e_b);
    conv_write_case(100, 28, 28, 1, 0, 56, &bad_chunked, &e_w_chunked, &e_b_chunked);
    ASSERT_SIZE_EQ(bad_small, 0);
    ASSERT_SIZE_EQ(bad_chunked, 0);
    ASSERT_DBL_LE(e_w, ACCUM_TOL);
    ASSERT_DBL_LE(e_b, ACCUM_TOL);
}

/* The general path's col2im clears din too: padded, strided, and with stride 4 > K = 3,
 * where every fourth input row and column is read by no window and must still be
 * written (0); and chunked (28x28x1 padded: 2 samples per chunk). */
static void conv_general_backward_writes_din(void)
{
    static const int cases[][5] = {
        {3, 9, 8, 2, 1}, {2, 11, 10, 4, 2}, {3, 7, 9, 3, 0}, {100, 28, 28, 1, 1}};
    for (int i = 0; i < 4; ++i) {
        size_t bad;
        double e_w, e_b;
        const int *c = cases[i];
        conv_write_case(c[0], c[1], c[2], c[3], c[4], 57 + (uint64_t)i, &bad, &e_w, &e_b);
        ASSERT_SIZE_EQ(bad, 0);
        if (c[0] < 100) { /* see conv_backward_writes_din */
            ASSERT_DBL_LE(e_w, ACCUM_TOL);
            ASSERT_DBL_LE(e_b, ACCUM_TOL);
        }
    }
}

/* Odd H and W: the dropped row and column must be written (0) too. */
static void maxpool_backward_writes_din(void)
{
    enum { B = 2, H = 5, W = 7, C = 3, NIN = B * H * W * C, NOUT = B * (H / 2) * (W / 2) * C };
    leash_rng rng;
    leash_rng_seed(&rng, 53);
    float *in = gc_floats(NIN), *out = gc_floats(NOUT), *dout = gc_floats(NOUT);
    float *din0 = gc_floats(NIN), *din = nan_floats(NIN);
    int32_t *argmax = gc_calloc(NOUT, sizeof *argmax);
    gc_fill_uniform(in, NIN, -1, 1, &rng);
    gc_fill_uniform(dout, NOUT, -1, 1, &rng);
    leash_maxpool_forward(out, argmax, in, B, H, W, C, 2);
    leash_maxpool_backward(din0, dout, argmax, B, H, W, C, 2);
    leash_maxpool_backward(din, dout, argmax, B, H, W, C, 2);
    size_t bad = overwrite_mismatches(din, din0, NIN);
    free(in), free(out), free(dout), free(din0), free(argmax), free(din);
    ASSERT_SIZE_EQ(bad, 0);
}

static void activation_backward_writes_din(void (*forward)(float *, const float *, size_t),
                                           void (*backward)(float *, const float *, const float *,
                                                            size_t))
{
    enum { N = 257 };
    leash_rng rng;
    leash_rng_seed(&rng, 54);
    float *in = gc_floats(N), *out = gc_floats(N), *dout = gc_floats(N);
    float *din0 = gc_floats(N), *din = nan_floats(N);
    gc_fill_uniform(in, N, -2, 2, &rng);
    gc_fill_uniform(dout, N, -1, 1, &rng);
    forward(out, in, N);
    backward(din0, dout, out, N);
    backward(din, dout, out, N);
    size_t bad = overwrite_mismatches(din, din0, N);
    free(in), free(out), free(dout), free(din0), free(din);
    ASSERT_SIZE_EQ(bad, 0);
}

static void relu_backward_writes_din(void)
{
    activation_backward_writes_din(leash_relu_forward, leash_relu_backward);
}

static void sigmoid_backward_writes_din(void)
{
    activation_backward_writes_din(leash_sigmoid_forward, leash_sigmoid_backward);
}

static void tanh_backward_writes_din(void)
{
    activation_backward_writes_din(leash_tanh_forward, leash_tanh_backward);
}

static void softmax_xent_backward_writes_din(void)
{
    enum { B = 5, K = 10 };
    leash_rng rng;
    leash_rng_seed(&rng, 55);
    int y[B];
    float *logits = gc_floats(B * K), *probs = gc_floats(B * K);
    float *d0 = gc_floats(B * K), *d = nan_floats(B * K);
    gc_fill_uniform(logits, B * K, -3, 3, &rng);
    for (int b = 0; b < B; ++b) y[b] = (int)leash_rng_below(&rng, K);
    leash_softmax_xent_forward(probs, logits, y, B, K);
    leash_softmax_xent_backward(d0, probs, y, B, K);
    leash_softmax_xent_backward(d, probs, y, B, K);
    size_t bad = overwrite_mismatches(d, d0, B * K);
    free(logits), free(probs), free(d0), free(d);
    ASSERT_SIZE_EQ(bad, 0);
}

/* ---- fused passes ---------------------------------------------------------------- */

typedef struct relu_pool_case {
    float *out, *in, *bias, *r;
    int32_t *argmax;
    int B, H, W, C;
} relu_pool_case;

static size_t relu_pool_out_size(const relu_pool_case *c)
{
    return (size_t)c->B * (c->H / 2) * (c->W / 2) * c->C;
}

static double relu_pool_objective(void *p)
{
    relu_pool_case *c = p;
    leash_relu_maxpool_forward(c->out, c->argmax, c->in, c->bias, c->B, c->H, c->W, c->C, 2);
    return gc_dot(c->out, c->r, relu_pool_out_size(c));
}

/* bias + ReLU + max pooling: finite differences on the input and the bias, the same
 * output and input gradient as the three unfused passes, and every din entry written.
 * Inputs are distinct multiples of 1/64 and biases odd multiples of 1/128, so no window
 * maximum plus its bias is within a step (1/256) of a tie or of ReLU's kink at 0. */
static void relu_maxpool_case(int H, int W, int C, uint64_t seed)
{
    leash_rng rng;
    leash_rng_seed(&rng, seed);
    relu_pool_case c = {.B = 2, .H = H, .W = W, .C = C};
    size_t nin = (size_t)c.B * H * W * C, nout = relu_pool_out_size(&c);
    c.out = gc_floats(nout);
    c.in = gc_floats(nin);
    c.bias = gc_floats((size_t)C);
    c.r = gc_floats(nout);
    c.argmax = gc_calloc(nout, sizeof *c.argmax);
    uint32_t *perm = gc_calloc(nin, sizeof *perm);
    for (size_t i = 0; i < nin; ++i) perm[i] = (uint32_t)i;
    leash_rng_shuffle_u32(&rng, perm, nin);
    for (size_t i = 0; i < nin; ++i) c.in[i] = ((float)perm[i] - (float)(nin / 2)) / 64.0f;
    for (int k = 0; k < C; ++k)
        c.bias[k] = (float)(2 * (int)leash_rng_below(&rng, 64) - 63) / 128.0f;
    gc_fill_uniform(c.r, nout, -1, 1, &rng);
    float *din = nan_floats(nin), *db = gc_floats((size_t)C);
    relu_pool_objective(&c);
    leash_relu_maxpool_backward(din, db, c.r, c.out, c.argmax, c.B, H, W, C, 2);

    /* The unfused reference: the bias added per channel, ReLU, then max pooling. */
    float *pre = gc_floats(nin), *act = gc_floats(nin), *ref_out = gc_floats(nout);
    float *ref_dact = gc_floats(nin), *ref_din = gc_floats(nin);
    int32_t *ref_arg = gc_calloc(nout, sizeof *ref_arg);
    for (size_t i = 0; i < nin; ++i) pre[i] = c.in[i] + c.bias[i % (size_t)C];
    leash_relu_forward(act, pre, nin);
    leash_maxpool_forward(ref_out, ref_arg, act, c.B, H, W, C, 2);
    leash_maxpool_backward(ref_dact, c.r, ref_arg, c.B, H, W, C, 2);
    leash_relu_backward(ref_din, ref_dact, act, nin);
    size_t out_bad = overwrite_mismatches(c.out, ref_out, nout);
    size_t din_bad = overwrite_mismatches(din, ref_din, nin);

    double e_in = gc_check_all(relu_pool_objective, &c, c.in, din, nin, 1.0f / 256, FD_FLOOR);
    double e_b = gc_check_all(relu_pool_objective, &c, c.bias, db, (size_t)C, 1.0f / 256,
                              FD_FLOOR);
    free(c.out), free(c.in), free(c.bias), free(c.r), free(c.argmax), free(perm), free(din);
    free(db), free(pre), free(act), free(ref_out), free(ref_dact), free(ref_din), free(ref_arg);
    ASSERT_SIZE_EQ(out_bad, 0);
    ASSERT_SIZE_EQ(din_bad, 0);
    ASSERT_DBL_LE(e_in, GRAD_TOL);
    ASSERT_DBL_LE(e_b, GRAD_TOL);
}

/* The specialized channel counts and a generic one, with even and odd sides. */
static void relu_maxpool_fused(void)
{
    relu_maxpool_case(6, 4, 4, 101);
    relu_maxpool_case(11, 11, 8, 102);
    relu_maxpool_case(5, 6, 6, 103);
    relu_maxpool_case(4, 5, 16, 104);
    relu_maxpool_case(7, 5, 3, 105);
}

typedef struct bias_relu_case {
    float *out, *in, *bias, *r;
    int B, C;
} bias_relu_case;

static double bias_relu_objective(void *p)
{
    bias_relu_case *c = p;
    leash_bias_relu_forward(c->out, c->in, c->bias, c->B, c->C);
    return gc_dot(c->out, c->r, (size_t)c->B * c->C);
}

/* bias + ReLU after fc: finite differences on input and bias (inputs and biases keep
 * every sum at least 0.05 from the kink, step 0.01), din written, dbias accumulated;
 * in place (as the model runs it) bit for bit the same. */
static void bias_relu_fused(void)
{
    enum { B = 7, C = 19 };
    leash_rng rng;
    leash_rng_seed(&rng, 106);
    bias_relu_case c = {gc_floats(B * C), gc_floats(B * C), gc_floats(C), gc_floats(B * C), B, C};
    gc_fill_uniform(c.bias, C, -0.5, 0.5, &rng);
    for (int b = 0; b < B; ++b)
        for (int k = 0; k < C; ++k) {
            float v;
            do v = (float)(4.0 * leash_rng_uniform(&rng) - 2.0);
            while (fabsf(v + c.bias[k]) < 0.05f);
            c.in[b * C + k] = v;
        }
    gc_fill_uniform(c.r, B * C, -1, 1, &rng);
    float *din = nan_floats(B * C), *db0 = gc_floats(C), *pb = gc_floats(C);
    gc_fill_uniform(pb, C, -1, 1, &rng);
    float *db = copy_floats(pb, C);
    bias_relu_objective(&c);
    leash_relu_bias_backward(din, db0, c.r, c.out, B, C);
    double e_in = gc_check_all(bias_relu_objective, &c, c.in, din, B * C, 0.01f, FD_FLOOR);
    double e_b = gc_check_all(bias_relu_objective, &c, c.bias, db0, C, 0.01f, FD_FLOOR);
    float *din2 = nan_floats(B * C);
    leash_relu_bias_backward(din2, db, c.r, c.out, B, C);
    size_t bad_in = overwrite_mismatches(din2, din, B * C);
    double e_acc = accumulate_err(db, pb, db0, C);
    float *x = copy_floats(c.in, B * C), *d = copy_floats(c.r, B * C), *db3 = gc_floats(C);
    bias_relu_objective(&c);
    leash_bias_relu_forward(x, x, c.bias, B, C);
    leash_relu_bias_backward(d, db3, d, x, B, C);
    int in_place = !memcmp(x, c.out, sizeof(float) * B * C) &&
                   !memcmp(d, din, sizeof(float) * B * C) && !memcmp(db3, db0, sizeof(float) * C);
    free(c.out), free(c.in), free(c.bias), free(c.r), free(din), free(db0), free(pb), free(db);
    free(din2), free(x), free(d), free(db3);
    ASSERT_TRUE(in_place);
    ASSERT_DBL_LE(e_in, GRAD_TOL);
    ASSERT_DBL_LE(e_b, GRAD_TOL);
    ASSERT_SIZE_EQ(bad_in, 0);
    ASSERT_DBL_LE(e_acc, ACCUM_TOL);
}

/* ---- NULL din ------------------------------------------------------------------ */

/* Weight and bias gradients do not depend on whether din is wanted: bit for bit. */
static void fc_backward_null_din(void)
{
    enum { B = 6, C = 20, OC = 7 };
    leash_rng rng;
    leash_rng_seed(&rng, 61);
    float *in = gc_floats(B * C), *w = gc_floats(OC * C), *dout = gc_floats(B * OC);
    float *din = gc_floats(B * C), *dw1 = gc_floats(OC * C), *db1 = gc_floats(OC);
    float *dw2 = gc_floats(OC * C), *db2 = gc_floats(OC);
    gc_fill_uniform(in, B * C, -1, 1, &rng);
    gc_fill_uniform(w, OC * C, -1, 1, &rng);
    gc_fill_uniform(dout, B * OC, -1, 1, &rng);
    leash_fc_backward(din, dw1, db1, dout, in, w, B, C, OC);
    leash_fc_backward(NULL, dw2, db2, dout, in, w, B, C, OC);
    int same = !memcmp(dw1, dw2, sizeof(float) * OC * C) && !memcmp(db1, db2, sizeof(float) * OC);
    free(in), free(w), free(dout), free(din), free(dw1), free(db1), free(dw2), free(db2);
    ASSERT_TRUE(same);
}

/* Several im2col chunks (28x28x1, K = 3: 6084 floats per sample, 2 per chunk). */
static void conv_backward_null_din(void)
{
    enum { B = 200, H = 28, W = 28, C = 1, OC = 4, K = 3, OH = H - K + 1, OW = W - K + 1 };
    enum { NIN = B * H * W * C, NW = OC * K * K * C, NOUT = B * OH * OW * OC };
    leash_rng rng;
    leash_rng_seed(&rng, 62);
    float *in = gc_floats(NIN), *w = gc_floats(NW), *dout = gc_floats(NOUT);
    const leash_conv_geom g = {H, W, C, OC, K, 1, 0};
    float *col = gc_floats(leash_conv_col_floats(B, &g));
    float *din = gc_floats(NIN), *dw1 = gc_floats(NW), *db1 = gc_floats(OC);
    float *dw2 = gc_floats(NW), *db2 = gc_floats(OC);
    gc_fill_uniform(in, NIN, -1, 1, &rng);
    gc_fill_uniform(w, NW, -1, 1, &rng);
    gc_fill_uniform(dout, NOUT, -1, 1, &rng);
    leash_conv_backward(din, dw1, db1, col, dout, in, w, B, &g);
    leash_conv_backward(NULL, dw2, db2, col, dout, in, w, B, &g);
    int same = !memcmp(dw1, dw2, sizeof(float) * NW) && !memcmp(db1, db2, sizeof(float) * OC);
    free(in), free(w), free(dout), free(col), free(din), free(dw1), free(db1), free(dw2),
        free(db2);
    ASSERT_TRUE(same);
}

/* ---- BLAS paths against the definitions ---------------------------------------- */

/* Forward and backward of one fc shape against the reference; returns the worst error. */
static double fc_reference_case(int B, int C, int OC, leash_rng *rng)
{
    size_t nin = (size_t)B * C, nw = (size_t)OC * C, nout = (size_t)B * OC;
    float *in = gc_floats(nin), *w = gc_floats(nw), *bias = gc_floats(OC), *dout = gc_floats(nout);
    float *out = gc_floats(nout), *din = gc_floats(nin), *dw = gc_floats(nw), *db = gc_floats(OC);
    gc_fill_uniform(in, nin, -1, 1, rng);
    gc_fill_uniform(w, nw, -1, 1, rng);
    gc_fill_uniform(bias, OC, -1, 1, rng);
    gc_fill_uniform(dout, nout, -1, 1, rng);
    leash_fc_forward(out, in, w, bias, B, C, OC);
    leash_fc_backward(din, dw, db, dout, in, w, B, C, OC);

    double *in_d = gc_to_double(in, nin), *w_d = gc_to_double(w, nw);
    double *bias_d = gc_to_double(bias, OC), *dout_d = gc_to_double(dout, nout);
    double *out_r = gc_doubles(nout), *din_r = gc_doubles(nin), *dw_r = gc_doubles(nw),
           *db_r = gc_doubles(OC);
    gc_ref_fc_forward(out_r, in_d, w_d, bias_d, B, C, OC);
    gc_ref_fc_backward(din_r, dw_r, db_r, dout_d, in_d, w_d, B, C, OC);
    double worst = fmax(fmax(gc_tensor_err(out, out_r, nout), gc_tensor_err(din, din_r, nin)),
                        fmax(gc_tensor_err(dw, dw_r, nw), gc_tensor_err(db, db_r, OC)));
    free(in), free(w), free(bias), free(dout), free(out), free(din), free(dw), free(db);
    free(in_d), free(w_d), free(bias_d), free(dout_d), free(out_r), free(din_r), free(dw_r),
        free(db_r);
    return worst;
}

static void fc_matches_reference(void)
{
    static const int shapes[][3] = {
        {1, 1, 1}, {1, 784, 128}, {128, 784, 128}, {64, 128, 10}, {5, 3, 2}};
    leash_rng rng;
    leash_rng_seed(&rng, 71);
    double worst = 0.0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; ++i)
        worst = fmax(worst, fc_reference_case(shapes[i][0], shapes[i][1], shapes[i][2], &rng));
    for (int i = 0; i < 8; ++i) {
        int B = 1 + (int)leash_rng_below(&rng, 70), C = 1 + (int)leash_rng_below(&rng, 300);
        int OC = 1 + (int)leash_rng_below(&rng, 70);
        worst = fmax(worst, fc_reference_case(B, C, OC, &rng));
    }
    ASSERT_DBL_LE(worst, BLAS_TOL);
}

/* Forward and backward of one conv geometry against the reference; the worst error. */
static double conv_sp_reference_case(int B, const leash_conv_geom *g, leash_rng *rng)
{
    int H = g->H, W = g->W, C = g->C, OC = g->OC, K = g->K;
    size_t nin = (size_t)B * H * W * C, nw = (size_t)OC * K * K * C, nout = conv_out_size(B, g);
    float *in = gc_floats(nin), *w = gc_floats(nw), *bias = gc_floats(OC), *dout = gc_floats(nout);
    float *out = gc_floats(nout), *din = gc_floats(nin), *dw = gc_floats(nw), *db = gc_floats(OC);
    float *col = gc_floats(leash_conv_col_floats(B, g));
    gc_fill_uniform(in, nin, -1, 1, rng);
    gc_fill_uniform(w, nw, -1, 1, rng);
    gc_fill_uniform(bias, OC, -1, 1, rng);
    gc_fill_uniform(dout, nout, -1, 1, rng);
    leash_conv_forward(out, col, in, w, bias, B, g);
    leash_conv_backward(din, dw, db, col, dout, in, w, B, g);

    double *in_d = gc_to_double(in, nin), *w_d = gc_to_double(w, nw);
    double *bias_d = gc_to_double(bias, OC), *dout_d = gc_to_double(dout, nout);
    double *out_r = gc_doubles(nout), *din_r = gc_doubles(nin), *dw_r = gc_doubles(nw),
           *db_r = gc_doubles(OC);
    gc_ref_conv_sp_forward(out_r, in_d, w_d, bias_d, B, H, W, C, OC, K, g->stride, g->pad);
    gc_ref_conv_sp_backward(din_r, dw_r, db_r, dout_d, in_d, w_d, B, H, W, C, OC, K, g->stride,
                            g->pad);
    double worst = fmax(fmax(gc_tensor_err(out, out_r, nout), gc_tensor_err(din, din_r, nin)),
                        fmax(gc_tensor_err(dw, dw_r, nw), gc_tensor_err(db, db_r, OC)));
    free(in), free(w), free(bias), free(dout), free(out), free(din), free(dw), free(db), free(col);
    free(in_d), free(w_d), free(bias_d), free(dout_d), free(out_r), free(din_r), free(dw_r),
        free(db_r);
    return worst;
}

/* The valid convolution: stride 1, no padding. */
static double conv_reference_case(int B, int H, int W, int C, int OC, int K, leash_rng *rng)
{
    return conv_sp_reference_case(B, &(leash_conv_geom){H, W, C, OC, K, 1, 0}, rng);
}

static void conv_matches_reference(void)
{
    static const int ks[] = {1, 2, 3, 5};
    leash_rng rng;
    leash_rng_seed(&rng, 72);
    double worst = conv_reference_case(1, 5, 5, 1, 1, 5, &rng); /* a single output pixel */
    for (int i = 0; i < 12; ++i) {
        int K = ks[leash_rng_below(&rng, 4)];
        int B = 1 + (int)leash_rng_below(&rng, 5);
        int H = K + (int)leash_rng_below(&rng, 10), W = K + (int)leash_rng_below(&rng, 10);
        int C = 1 + (int)leash_rng_below(&rng, 4), OC = 1 + (int)leash_rng_below(&rng, 9);
        worst = fmax(worst, conv_reference_case(B, H, W, C, OC, K, &rng));
    }
    ASSERT_DBL_LE(worst, BLAS_TOL);
}

/* The inlined paths: each segment length im2col and col2im specialize (K*C = 3, 5, 9,
 * 12, 15, 30) and a generic one (8), with output channel counts under, not dividing, and
 * over the 64-float blocks of the bias passes. */
static void conv_specialized_match_reference(void)
{
    static const int kc[][2] = {{3, 1}, {5, 1}, {3, 3}, {3, 4}, {5, 3}, {5, 6}, {2, 4}};
    static const int ocs[] = {4, 6, 7, 16, 70};
    leash_rng rng;
    leash_rng_seed(&rng, 74);
    double worst = 0.0;
    for (int i = 0; i < 7; ++i)
        worst = fmax(worst, conv_reference_case(2, 9, 8, kc[i][1], ocs[i % 5], kc[i][0], &rng));
    ASSERT_DBL_LE(worst, BLAS_TOL);
}

/* The sgemm calls the layers report for the benchmarks' bound: an MLP's 2 + 3 + 3 + 3, and
 * the CNN's conv layers once per im2col chunk (28x28x1 with no input gradient, 13x13x4
 * with one), then its two FC layers. The heads of fused blocks (every conv, and fc 128
 * before its ReLU) run their forward sgemm without the bias, with beta = 0. */
static void gemm_shapes_follow_layers(void)
{
    leash_model mlp, cnn;
    leash_gemm_shape s[64];
    ASSERT_INT_EQ(leash_model_mlp(&mlp, 28, 28, 1, 10, 3, 128, LEASH_ACT_RELU), 0);
    ASSERT_INT_EQ(leash_model_cnn(&cnn, 28, 28, 1, 10), 0);
    ASSERT_INT_EQ(leash_model_gemm_shapes(&mlp, 512, s, 64), 11);
    ASSERT_INT_EQ(s[0].m, 512);
    ASSERT_INT_EQ(s[0].n, 128);
    ASSERT_INT_EQ(s[0].k, 784);
    ASSERT_DBL_NEAR(s[0].beta, 0.0, 0.0);
    ASSERT_DBL_NEAR(s[8].beta, 1.0, 0.0); /* the output layer adds its own bias */
    int c1 = leash_conv_chunk_samples(512, &(leash_conv_geom){28, 28, 1, 4, 3, 1, 0});
    int c2 = leash_conv_chunk_samples(512, &(leash_conv_geom){13, 13, 4, 8, 3, 1, 0});
    int n1 = (512 + c1 - 1) / c1, n2 = (512 + c2 - 1) / c2, want = n1 * 2 + n2 * 3 + 3 + 3;
    ASSERT_TRUE(n1 > 1 && n2 > 1);
    static leash_gemm_shape big[2048];
    ASSERT_INT_EQ(leash_model_gemm_shapes(&cnn, 512, big, 2048), want);
    ASSERT_DBL_NEAR(big[0].beta, 0.0, 0.0);
    ASSERT_INT_EQ(leash_model_gemm_shapes(&cnn, 512, big, want - 1), LEASH_EINVAL);
    leash_model_free(&mlp);
    leash_model_free(&cnn);
}

/* Batches that go through im2col in several chunks: 28x28x1 with K = 3 is 6084 floats
 * per sample (2 per 2^14-float chunk, so 601 samples end in a partial chunk), 32x32x3
 * with K = 5 is 58800, more than the budget (1 per chunk). */
static void conv_chunked_matches_reference(void)
{
    leash_rng rng;
    leash_rng_seed(&rng, 73);
    size_t col_mnist = leash_conv_col_floats(601, &(leash_conv_geom){28, 28, 1, 4, 3, 1, 0});
    size_t col_cifar = leash_conv_col_floats(40, &(leash_conv_geom){32, 32, 3, 6, 5, 1, 0});
    double worst = fmax(conv_reference_case(601, 28, 28, 1, 4, 3, &rng),
                        conv_reference_case(40, 32, 32, 3, 6, 5, &rng));
    ASSERT_SIZE_EQ(col_mnist, (size_t)2 * 26 * 26 * 9);
    ASSERT_SIZE_EQ(col_cifar, (size_t)28 * 28 * 75);
    ASSERT_DBL_LE(worst, BLAS_TOL);
}

/* ---- strided and padded convolution ------------------------------------------- */

/* The general im2col/col2im against the reference: 1 and 3 channels (and 2, 4, 5, 6, 10,
 * 32: the taps and rows orders, inlined and generic), odd and even sides, strides 1-3,
 * padding 0-2 with K above, equal to and below the stride, windows wholly in the
 * padding (P >= K), and the benchmark's two layers (pad 2, K*C = 5 and 160), chunked. */
static void conv_strided_padded_match_reference(void)
{
    static const int cases[][8] = {/* B, H, W, C, OC, K, S, P */
                                   {2, 7, 7, 1, 4, 3, 1, 1},    {2, 8, 6, 3, 5, 3, 2, 1},
                                   {3, 9, 8, 1, 3, 2, 3, 0},    {2, 10, 9, 3, 6, 2, 3, 2},
                                   {2, 11, 10, 1, 4, 5, 2, 2},  {2, 6, 7, 3, 2, 5, 1, 2},
                                   {2, 5, 5, 1, 3, 1, 2, 1},    {2, 6, 5, 3, 4, 3, 3, 2},
                                   {2, 4, 4, 3, 3, 2, 2, 2},    {2, 12, 12, 4, 7, 3, 2, 1},
                                   {2, 9, 7, 2, 5, 3, 3, 1},    {2, 8, 9, 5, 3, 2, 1, 1},
                                   {2, 7, 8, 10, 4, 3, 2, 1},   {2, 9, 9, 6, 5, 3, 1, 2},
                                   {3, 28, 28, 1, 32, 5, 1, 2}, {2, 14, 14, 32, 64, 5, 1, 2}};
    leash_rng rng;
    leash_rng_seed(&rng, 75);
    double worst = 0.0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        const int *c = cases[i];
        leash_conv_geom g = {c[1], c[2], c[3], c[4], c[5], c[6], c[7]};
        worst = fmax(worst, conv_sp_reference_case(c[0], &g, &rng));
    }
    ASSERT_DBL_LE(worst, BLAS_TOL);
}

/* Random geometries on the general path (stride 1 is drawn only with padding). */
static void conv_random_geometries_match_reference(void)
{
    static const int ks[] = {1, 2, 3, 5};
    leash_rng rng;
    leash_rng_seed(&rng, 76);
    double worst = 0.0;
    for (int i = 0; i < 16; ++i) {
        int K = ks[leash_rng_below(&rng, 4)], S = 1 + (int)leash_rng_below(&rng, 3);
        int P = (S == 1) + (int)leash_rng_below(&rng, 3 - (S == 1));
        int lo = K - 2 * P > 1 ? K - 2 * P : 1; /* the smallest side with an output */
        int H = lo + (int)leash_rng_below(&rng, 10), W = lo + (int)leash_rng_below(&rng, 10);
        int C = 1 + (int)leash_rng_below(&rng, 4), OC = 1 + (int)leash_rng_below(&rng, 9);
        int B = 1 + (int)leash_rng_below(&rng, 4);
        const leash_conv_geom g = {H, W, C, OC, K, S, P};
        worst = fmax(worst, conv_sp_reference_case(B, &g, &rng));
    }
    ASSERT_DBL_LE(worst, BLAS_TOL);
}

/* Zero padding is exactly a valid convolution of the zero-padded input: the patches are
 * the same floats and the chunks the same sgemm calls, and col2im adds the same terms in
 * the same order, so out, dw, dbias and din (the padded one's interior) agree bit for
 * bit. Returns the number of floats that differ. */
static size_t conv_padded_vs_valid(int B, int H, int W, int C, int K, int P, leash_rng *rng)
{
    enum { OC = 5 };
    const leash_conv_geom g = {H, W, C, OC, K, 1, P}, v = {H + 2 * P, W + 2 * P, C, OC, K, 1, 0};
    size_t nin = (size_t)B * H * W * C, nvin = (size_t)B * v.H * v.W * C;
    size_t nw = (size_t)OC * K * K * C, nout = conv_out_size(B, &g);
    float *in = gc_floats(nin), *vin = gc_floats(nvin), *w = gc_floats(nw), *bias = gc_floats(OC);
    float *dout = gc_floats(nout), *out[2], *din[2], *dw[2], *db[2];
    gc_fill_uniform(in, nin, -1, 1, rng);
    gc_fill_uniform(w, nw, -1, 1, rng);
    gc_fill_uniform(bias, OC, -1, 1, rng);
    gc_fill_uniform(dout, nout, -1, 1, rng);
    for (int b = 0; b < B; ++b)
        for (int y = 0; y < H; ++y)
            memcpy(vin + (((size_t)b * v.H + y + P) * v.W + P) * C,
                   in + ((size_t)b * H + y) * W * C, (size_t)W * C * sizeof *in);
    for (int k = 0; k < 2; ++k) {
        const leash_conv_geom *gk = k ? &v : &g;
        float *col = gc_floats(leash_conv_col_floats(B, gk));
        out[k] = gc_floats(nout), din[k] = gc_floats(k ? nvin : nin);
        dw[k] = gc_floats(nw), db[k] = gc_floats(OC);
        leash_conv_forward(out[k], col, k ? vin : in, w, bias, B, gk);
        leash_conv_backward(din[k], dw[k], db[k], col, dout, k ? vin : in, w, B, gk);
        free(col);
    }
    size_t bad = overwrite_mismatches(out[0], out[1], nout) +
                 overwrite_mismatches(dw[0], dw[1], nw) + overwrite_mismatches(db[0], db[1], OC);
    for (int b = 0; b < B; ++b)
        for (int y = 0; y < H; ++y)
            bad += overwrite_mismatches(din[0] + ((size_t)b * H + y) * W * C,
                                        din[1] + (((size_t)b * v.H + y + P) * v.W + P) * C,
                                        (size_t)W * C);
    free(in), free(vin), free(w), free(bias), free(dout);
    for (int k = 0; k < 2; ++k) free(out[k]), free(din[k]), free(dw[k]), free(db[k]);
    return bad;
}

/* The benchmark's layers (K*C = 5, 160), the taps order (C = 1, 3, 4) and the rows
 * order (inlined 15 and 30, generic 18), chunked where a sample fills a chunk. */
static void conv_padded_equals_valid_of_padded(void)
{
    static const int cases[][6] = {/* B, H, W, C, K, P */
                                   {3, 28, 28, 1, 5, 2}, {2, 14, 14, 32, 5, 2}, {3, 9, 8, 3, 3, 1},
                                   {2, 7, 9, 4, 3, 2},   {2, 8, 7, 3, 5, 1},    {2, 9, 10, 6, 5, 2},
                                   {3, 6, 7, 6, 3, 1}};
    leash_rng rng;
    leash_rng_seed(&rng, 77);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        const int *c = cases[i];
        ASSERT_SIZE_EQ(conv_padded_vs_valid(c[0], c[1], c[2], c[3], c[4], c[5], &rng), 0);
    }
}

/* Strided and padded layers chunk by their output (OH x OW patches per sample) and report
 * B*OH*OW rows in all: 28x28x1, K = 3, stride 2, pad 1 is 14x14 outputs, 1764 floats per
 * sample and 9 samples per chunk (sized by the input's 26x26 it would be 2); 13x13x4,
 * K = 3, pad 1 keeps 13x13 (2 per chunk, not 3). */
static void conv_general_chunks_and_shapes(void)
{
    const leash_conv_geom s2 = {28, 28, 1, 8, 3, 2, 1}, p1 = {13, 13, 4, 8, 3, 1, 1};
    leash_gemm_shape sh[512];
    ASSERT_INT_EQ(leash_conv_out_h(&s2), 14);
    ASSERT_INT_EQ(leash_conv_out_w(&(leash_conv_geom){10, 9, 1, 1, 2, 3, 2}), 4); /* 11 / 3 + 1 */
    ASSERT_INT_EQ(leash_conv_chunk_samples(512, &s2), 9);
    ASSERT_INT_EQ(leash_conv_chunk_samples(512, &p1), 2);
    ASSERT_SIZE_EQ(leash_conv_col_floats(512, &s2), (size_t)9 * 14 * 14 * 9);
    ASSERT_SIZE_EQ(leash_conv_col_floats(5, &s2), (size_t)5 * 14 * 14 * 9);
    int n = leash_conv_gemm_shapes(sh, 512, 1, 1, 512, &s2), rows = 0;
    ASSERT_INT_EQ(n, 3 * ((512 + 8) / 9));
    for (int i = 0; i < n; i += 3) {
        rows += sh[i].m;
        ASSERT_TRUE(sh[i].m % (14 * 14) == 0 && sh[i].m <= 9 * 14 * 14);
        ASSERT_TRUE(sh[i].n == 8 && sh[i].k == 9 && sh[i + 1].k == sh[i].m);
        ASSERT_TRUE(sh[i + 2].m == sh[i].m && sh[i + 2].n == 9 && sh[i + 2].k == 8);
    }
    ASSERT_INT_EQ(rows, 512 * 14 * 14);
    ASSERT_INT_EQ(leash_conv_gemm_shapes(sh, 512, 0, 0, 512, &p1), 2 * 256);
    ASSERT_INT_EQ(sh[0].m, 2 * 13 * 13);
    ASSERT_INT_EQ(leash_conv_gemm_shapes(sh, 3, 1, 0, 7, &p1), LEASH_EINVAL);
}

/* ---- max pooling on a hand-built input ------------------------------------------ */

/* Two 3x5x2 samples, K = 2: one output row of two windows; row 2 and column 4 (all 99)
 * are dropped. Channel 1 of sample 0 is all negative, so the maximum cannot come from a
 * zero-initialized accumulator. */
static void maxpool_forward_exact(void)
{
    static const float in[2 * 3 * 5 * 2] = {
        /* sample 0 */
        1, -5, 2, -3, 0, -1, 7, -2, 99, 99, /* y = 0: (c0, c1) for x = 0..4 */
        3, -4, 0, -6, 8, -7, 6, -8, 99, 99, /* y = 1 */
        99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
        /* sample 1 */
        0, 4, 1, 3, 2, 2, 3, 1, 99, 99, /* y = 0 */
        2, 1, 5, 0, 4, 9, -1, 8, 99, 99, /* y = 1 */
        99, 99, 99, 99, 99, 99, 99, 99, 99, 99};
    /* [b][ox][c], argmax = b * 30 + (y * 5 + x) * 2 + c */
    static const float want_out[8] = {3, -3, 8, -1, 5, 4, 4, 9};
    static const int32_t want_arg[8] = {10, 3, 14, 5, 42, 31, 44, 45};
    static const float dout[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    float out[8];
    int32_t argmax[8];
    float din[60] = {0};
    leash_maxpool_forward(out, argmax, in, 2, 3, 5, 2, 2);
    leash_maxpool_backward(din, dout, argmax, 2, 3, 5, 2, 2);
    for (int i = 0; i < 8; ++i) {
        ASSERT_DBL_NEAR(out[i], want_out[i], 0.0);
        ASSERT_INT_EQ(argmax[i], want_arg[i]);
    }
    /* The gradient lands on the maxima and nowhere else. */
    float want_din[60] = {0};
    for (int i = 0; i < 8; ++i) want_din[want_arg[i]] = dout[i];
    ASSERT_TRUE(memcmp(din, want_din, sizeof din) == 0);
}

/* ---- average pooling ------------------------------------------------------------ */

typedef struct avgpool_case {
    float *out, *in, *r;
    int B, H, W, C, K;
} avgpool_case;

static size_t avgpool_out_size(const avgpool_case *c)
{
    return (size_t)c->B * (c->H / c->K) * (c->W / c->K) * c->C;
}

static double avgpool_objective(void *p)
{
    avgpool_case *c = p;
    leash_avgpool_forward(c->out, c->in, c->B, c->H, c->W, c->C, c->K);
    return gc_dot(c->out, c->r, avgpool_out_size(c));
}

/* The mean of each K x K window, in double, over the windows that fit. */
static void ref_avgpool(double *out, const float *in, const avgpool_case *c)
{
    int K = c->K, OH = c->H / K, OW = c->W / K;
    for (int b = 0; b < c->B; ++b)
        for (int oy = 0; oy < OH; ++oy)
            for (int ox = 0; ox < OW; ++ox)
                for (int ch = 0; ch < c->C; ++ch, ++out) {
                    double s = 0.0;
                    for (int y = oy * K; y < oy * K + K; ++y)
                        for (int x = ox * K; x < ox * K + K; ++x)
                            s += in[(((size_t)b * c->H + y) * c->W + x) * c->C + ch];
                    *out = s / (K * K);
                }
}

/* Forward against the mean in double; backward against finite differences (the layer is
 * linear: any step is exact up to rounding), into a NaN-filled din that must come out as
 * a fresh run's, with 0 in the rows and columns beyond the last full window. */
static void avgpool_case_check(int H, int W, int C, int K, uint64_t seed)
{
    leash_rng rng;
    leash_rng_seed(&rng, seed);
    avgpool_case c = {.B = 2, .H = H, .W = W, .C = C, .K = K};
    size_t nin = (size_t)c.B * H * W * C, nout = avgpool_out_size(&c);
    c.out = gc_floats(nout), c.in = gc_floats(nin), c.r = gc_floats(nout);
    gc_fill_uniform(c.in, nin, -1, 1, &rng);
    gc_fill_uniform(c.r, nout, -1, 1, &rng);
    double *ref = gc_doubles(nout);
    avgpool_objective(&c);
    ref_avgpool(ref, c.in, &c);
    double e_out = gc_tensor_err(c.out, ref, nout);
    float *din = nan_floats(nin), *din0 = gc_floats(nin);
    leash_avgpool_backward(din0, c.r, c.B, H, W, C, K);
    leash_avgpool_backward(din, c.r, c.B, H, W, C, K);
    size_t bad_in = overwrite_mismatches(din, din0, nin), dropped_nonzero = 0;
    for (size_t i = 0; i < nin; ++i) {
        size_t x = i / C % W, y = i / C / W % H;
        dropped_nonzero += (y >= (size_t)(H / K * K) || x >= (size_t)(W / K * K)) && din[i] != 0;
    }
    double e_in = gc_check_all(avgpool_objective, &c, c.in, din, nin, AFFINE_STEP, FD_FLOOR);
    free(c.out), free(c.in), free(c.r), free(ref), free(din), free(din0);
    ASSERT_DBL_LE(e_out, 1e-5);
    ASSERT_SIZE_EQ(bad_in, 0);
    ASSERT_SIZE_EQ(dropped_nonzero, 0);
    ASSERT_DBL_LE(e_in, GRAD_TOL);
}

/* Odd sides (a row and a column dropped), sides leaving two rows or three columns over,
 * an exact fit, and 1 to 16 channels. */
static void avgpool_matches_reference(void)
{
    avgpool_case_check(7, 5, 3, 2, 111);
    avgpool_case_check(8, 11, 4, 3, 112);
    avgpool_case_check(9, 7, 16, 4, 113);
    avgpool_case_check(6, 4, 1, 2, 114);
    avgpool_case_check(5, 5, 2, 5, 115);
}

/* ---- element-wise forward passes ------------------------------------------------ */

static void activations_match_definition(void)
{
    enum { N = 1000 };
    leash_rng rng;
    leash_rng_seed(&rng, 81);
    float *in = gc_floats(N), *relu = gc_floats(N), *sig = gc_floats(N);
    gc_fill_uniform(in, N, -20, 20, &rng);
    in[0] = 0.0f;
    leash_relu_forward(relu, in, N);
    leash_sigmoid_forward(sig, in, N);
    size_t relu_bad = 0;
    double sig_err = 0.0;
    for (size_t i = 0; i < N; ++i) {
        relu_bad += relu[i] != (in[i] > 0.0f ? in[i] : 0.0f);
        sig_err = fmax(sig_err, gc_rel_err(sig[i], 1.0 / (1.0 + exp(-(double)in[i])), 0.0));
    }
    free(in), free(relu), free(sig);
    ASSERT_SIZE_EQ(relu_bad, 0);
    ASSERT_DBL_LE(sig_err, 1e-6);
}

/* tanh against the double-precision function, saturating to +-1 at |x| = 20; its
 * backward pass against its definition dout (1 - out^2) evaluated in double, within the
 * float rounding of the product (absolute for gradients under 1). */
static void tanh_matches_definition(void)
{
    enum { N = 1000 };
    leash_rng rng;
    leash_rng_seed(&rng, 82);
    float *in = gc_floats(N), *out = gc_floats(N), *dout = gc_floats(N), *din = gc_floats(N);
    gc_fill_uniform(in, N, -20, 20, &rng);
    gc_fill_uniform(dout, N, -1, 1, &rng);
    in[0] = 0.0f, in[1] = 1e-20f, in[2] = -20.0f, in[3] = 20.0f;
    leash_tanh_forward(out, in, N);
    leash_tanh_backward(din, dout, out, N);
    double out_err = 0.0, din_err = 0.0;
    for (size_t i = 0; i < N; ++i) {
        out_err = fmax(out_err, gc_rel_err(out[i], tanh((double)in[i]), 0.0));
        double want = (double)dout[i] * (1.0 - (double)out[i] * out[i]);
        din_err = fmax(din_err, gc_rel_err(din[i], want, 1.0));
    }
    int saturated = out[2] == -1.0f && out[3] == 1.0f && din[2] == 0.0f && din[3] == 0.0f;
    free(in), free(out), free(dout), free(din);
    ASSERT_DBL_LE(out_err, 1e-6);
    ASSERT_DBL_LE(din_err, 1e-6);
    ASSERT_TRUE(saturated);
}

/* ---- softmax + cross-entropy ------------------------------------------------------ */

/* -log softmax(z)[y] in double, shifted by the maximum. */
static double ref_xent(const float *z, int K, int y, double *p)
{
    double zmax = z[0], sum = 0.0;
    for (int k = 1; k < K; ++k) zmax = fmax(zmax, z[k]);
    for (int k = 0; k < K; ++k) sum += exp((double)z[k] - zmax);
    for (int k = 0; k < K; ++k) p[k] = exp((double)z[k] - zmax) / sum;
    return log(sum) - ((double)z[y] - zmax);
}

static void softmax_probs_and_loss(void)
{
    enum { B = 6, K = 10 };
    leash_rng rng;
    leash_rng_seed(&rng, 91);
    float logits[B * K], probs[B * K];
    int y[B];
    double p_ref[K], loss_ref = 0.0, sum_err = 0.0, p_err = 0.0, logp_err = 0.0;
    gc_fill_uniform(logits, B * K, -8, 8, &rng);
    for (int b = 0; b < B; ++b) y[b] = (int)leash_rng_below(&rng, K);
    double loss = leash_softmax_xent_forward(probs, logits, y, B, K);
    for (int b = 0; b < B; ++b) {
        double l = ref_xent(logits + b * K, K, y[b], p_ref), sum = 0.0;
        loss_ref += l;
        for (int k = 0; k < K; ++k) {
            sum += probs[b * K + k];
            p_err = fmax(p_err, gc_rel_err(probs[b * K + k], p_ref[k], 0.0));
        }
        sum_err = fmax(sum_err, fabs(sum - 1.0));
        /* The loss is the -log of the probability the forward pass reports. */
        logp_err = fmax(logp_err, gc_rel_err(-log(probs[b * K + y[b]]), l, 1.0));
    }
    ASSERT_DBL_LE(sum_err, 1e-6);
    ASSERT_DBL_LE(p_err, 1e-6);
    ASSERT_DBL_LE(logp_err, 1e-6);
    ASSERT_DBL_LE(gc_rel_err(loss, loss_ref, 0.0), 1e-6);
}

/* Logits of magnitude 1e4: exp overflows float and double alike without the shift. */
static void softmax_stable_large_logits(void)
{
    enum { B = 3, K = 4 };
    static const float logits[B * K] = {1e4f, -1e4f, 9999.0f, 0.0f, /* y = 2 */
                                        -1e4f, -1e4f, -1e4f, -1e4f, /* y = 0 */
                                        -1e4f, 1e4f, 5e3f, -5e3f};  /* y = 0 */
    static const int y[B] = {2, 0, 0};
    /* log(1 + e^-1) + 1, log 4 and 2e4 (+ e^-5000, lost in double too) */
    const double want[B] = {log1p(exp(-1.0)) + 1.0, log(4.0), 2e4};
    float probs[B * K], d[B * K] = {0};
    double p_ref[K], loss = leash_softmax_xent_forward(probs, logits, y, B, K);
    leash_softmax_xent_backward(d, probs, y, B, K);
    int finite = isfinite(loss);
    double p_err = 0.0, row_sum_err = 0.0;
    for (int b = 0; b < B; ++b) {
        ASSERT_DBL_LE(gc_rel_err(ref_xent(logits + b * K, K, y[b], p_ref), want[b], 0.0), 1e-12);
        double row = 0.0;
        for (int k = 0; k < K; ++k) {
            finite &= isfinite(probs[b * K + k]) && isfinite(d[b * K + k]);
            row += probs[b * K + k];
            p_err = fmax(p_err, fabs(probs[b * K + k] - p_ref[k]));
        }
        row_sum_err = fmax(row_sum_err, fabs(row - 1.0));
    }
    ASSERT_TRUE(finite);
    ASSERT_DBL_LE(p_err, 1e-6);
    ASSERT_DBL_LE(row_sum_err, 1e-6);
    ASSERT_DBL_LE(gc_rel_err(loss, want[0] + want[1] + want[2], 0.0), 1e-6);
}

int main(void)
{
    tap_plan(40);
    TAP_RUN(fc_gradcheck);
    TAP_RUN(conv_gradcheck_c1_k3);
    TAP_RUN(conv_gradcheck_c3_k3);
    TAP_RUN(conv_gradcheck_c1_k5);
    TAP_RUN(conv_gradcheck_c3_k5);
    TAP_RUN(conv_gradcheck_strided_padded);
    TAP_RUN(maxpool_gradcheck_even);
    TAP_RUN(maxpool_gradcheck_odd);
    TAP_RUN(maxpool_gradcheck_specialized);
    TAP_RUN(relu_gradcheck);
    TAP_RUN(sigmoid_gradcheck);
    TAP_RUN(tanh_gradcheck);
    TAP_RUN(softmax_xent_gradcheck);
    TAP_RUN(fc_backward_writes_din);
    TAP_RUN(conv_backward_writes_din);
    TAP_RUN(conv_general_backward_writes_din);
    TAP_RUN(maxpool_backward_writes_din);
    TAP_RUN(relu_backward_writes_din);
    TAP_RUN(sigmoid_backward_writes_din);
    TAP_RUN(tanh_backward_writes_din);
    TAP_RUN(softmax_xent_backward_writes_din);
    TAP_RUN(relu_maxpool_fused);
    TAP_RUN(bias_relu_fused);
    TAP_RUN(fc_backward_null_din);
    TAP_RUN(conv_backward_null_din);
    TAP_RUN(fc_matches_reference);
    TAP_RUN(conv_matches_reference);
    TAP_RUN(conv_chunked_matches_reference);
    TAP_RUN(conv_specialized_match_reference);
    TAP_RUN(gemm_shapes_follow_layers);
    TAP_RUN(conv_strided_padded_match_reference);
    TAP_RUN(conv_random_geometries_match_reference);
    TAP_RUN(conv_padded_equals_valid_of_padded);
    TAP_RUN(conv_general_chunks_and_shapes);
    TAP_RUN(maxpool_forward_exact);
    TAP_RUN(avgpool_matches_reference);
    TAP_RUN(activations_match_definition);
    TAP_RUN(tanh_matches_definition);
    TAP_RUN(softmax_probs_and_loss);
    TAP_RUN(softmax_stable_large_logits);
    return tap_done();
}
