/* Model builders and parameter arrays: exact layer shapes and parameter counts, the
 * layout of the tensor table, aligned allocation, initialization statistics and
 * determinism, and argument checking. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "leash/error.h"
#include "leash/nn.h"
#include "tap.h"

/* ---- shapes and counts ------------------------------------------------------------ */

typedef struct layer_spec {
    leash_layer_kind kind;
    int in_h, in_w, in_c, out_h, out_w, out_c;
    int k;                  /* conv and pool only */
    size_t weights, biases; /* tensor sizes, 0 for a layer without parameters */
} layer_spec;

#define FC_SPEC(in, out) {LEASH_LAYER_FC, 1, 1, in, 1, 1, out, 0, (size_t)(in) * (out), out}
#define RELU_SPEC(h, w, c) {LEASH_LAYER_RELU, h, w, c, h, w, c, 0, 0, 0}
#define CONV_SPEC(h, w, c, k, oc)                                                          \
    {LEASH_LAYER_CONV, h, w, c, h - k + 1, w - k + 1, oc, k, (size_t)(oc) * (k) * (k) * (c), oc}
#define POOL_SPEC(h, w, c) {LEASH_LAYER_MAXPOOL, h, w, c, h / 2, w / 2, c, 2, 0, 0}

/* Compares m's layer table with want[0..n) and returns the number of mismatches,
 * reporting each. */
static int layers_differ(const leash_model *m, const layer_spec *want, int n)
{
    if (m->nlayers != n) {
        tap_diag("%d layers, want %d", m->nlayers, n);
        return 1;
    }
    int bad = 0;
    for (int i = 0; i < n; ++i) {
        const leash_layer *l = &m->layers[i];
        const layer_spec *s = &want[i];
        int has_k = s->kind == LEASH_LAYER_CONV || s->kind == LEASH_LAYER_MAXPOOL;
        size_t weights = l->weight >= 0 ? m->tensor_size[l->weight] : 0;
        size_t biases = l->bias >= 0 ? m->tensor_size[l->bias] : 0;
        if (l->kind != s->kind || l->in_h != s->in_h || l->in_w != s->in_w || l->in_c != s->in_c ||
            l->out_h != s->out_h || l->out_w != s->out_w || l->out_c != s->out_c ||
            (has_k && l->k != s->k) || weights != s->weights || biases != s->biases ||
            (s->weights == 0) != (l->weight < 0) || (s->biases == 0) != (l->bias < 0)) {
            tap_diag("layer %d: kind %d %dx%dx%d -> %dx%dx%d k %d, %zu + %zu parameters", i,
                     (int)l->kind, l->in_h, l->in_w, l->in_c, l->out_h, l->out_w, l->out_c, l->k,
                     weights, biases);
            ++bad;
        }
    }
    return bad;
}

static void mlp_shapes(void)
{
    static const layer_spec want[] = {
        FC_SPEC(784, 128), RELU_SPEC(1, 1, 128), FC_SPEC(128, 128), RELU_SPEC(1, 1, 128),
        FC_SPEC(128, 128), RELU_SPEC(1, 1, 128), FC_SPEC(128, 10)};
    leash_model m;
    ASSERT_INT_EQ(leash_model_mlp(&m, 28, 28, 1, 10, 3, 128, LEASH_ACT_RELU), 0);
    ASSERT_INT_EQ(layers_differ(&m, want, 7), 0);
    ASSERT_INT_EQ(m.ntensors, 8);
    ASSERT_INT_EQ(m.nclasses, 10);
    ASSERT_SIZE_EQ(leash_model_input_size(&m), 784);
    ASSERT_SIZE_EQ(leash_model_count_params(&m),
                   784 * 128 + 128 + 2 * (128 * 128 + 128) + 128 * 10 + 10);
    ASSERT_SIZE_EQ(leash_model_count_params(&m), 134794);
    ASSERT_STR_EQ(m.layers_text, "fc:128,relu,fc:128,relu,fc:128,relu,fc");
    leash_model_free(&m);

    /* Sigmoid and tanh hidden layers, no hidden layer at all. */
    ASSERT_INT_EQ(leash_model_mlp(&m, 8, 8, 1, 3, 1, 5, LEASH_ACT_SIGMOID), 0);
    ASSERT_INT_EQ(m.nlayers, 3);
    ASSERT_INT_EQ(m.layers[1].kind, LEASH_LAYER_SIGMOID);
    leash_model_free(&m);
    ASSERT_INT_EQ(leash_model_mlp(&m, 8, 8, 1, 3, 2, 5, LEASH_ACT_TANH), 0);
    ASSERT_STR_EQ(m.layers_text, "fc:5,tanh,fc:5,tanh,fc");
    leash_model_free(&m);
    ASSERT_INT_EQ(leash_model_mlp(&m, 8, 8, 1, 3, 0, 5, LEASH_ACT_RELU), 0);
    ASSERT_INT_EQ(m.nlayers, 1);
    ASSERT_SIZE_EQ(leash_model_count_params(&m), 64 * 3 + 3);
    leash_model_free(&m);
}

static void cnn_shapes(void)
{
    static const layer_spec want[] = {
        CONV_SPEC(28, 28, 1, 3, 4), RELU_SPEC(26, 26, 4), POOL_SPEC(26, 26, 4),
        CONV_SPEC(13, 13, 4, 3, 8), RELU_SPEC(11, 11, 8), POOL_SPEC(11, 11, 8),
        FC_SPEC(5 * 5 * 8, 128),    RELU_SPEC(1, 1, 128), FC_SPEC(128, 10)};
    leash_model m;
    ASSERT_INT_EQ(leash_model_cnn(&m, 28, 28, 1, 10), 0);
    ASSERT_INT_EQ(layers_differ(&m, want, 9), 0);
    ASSERT_INT_EQ(m.ntensors, 8);
    ASSERT_SIZE_EQ(leash_model_count_params(&m),
                   (4 * 9 + 4) + (8 * 9 * 4 + 8) + (200 * 128 + 128) + (128 * 10 + 10));
    ASSERT_SIZE_EQ(leash_model_count_params(&m), 27354);
    leash_model_free(&m);
}

static void lenet_cifar_shapes(void)
{
    static const layer_spec want[] = {
        CONV_SPEC(32, 32, 3, 5, 6),  RELU_SPEC(28, 28, 6),  POOL_SPEC(28, 28, 6),
        CONV_SPEC(14, 14, 6, 5, 16), RELU_SPEC(10, 10, 16), POOL_SPEC(10, 10, 16),
        FC_SPEC(5 * 5 * 16, 120),    RELU_SPEC(1, 1, 120),  FC_SPEC(120, 10)};
    leash_model m;
    ASSERT_INT_EQ(leash_model_lenet(&m, 32, 32, 3, 10), 0);
    ASSERT_INT_EQ(layers_differ(&m, want, 9), 0);
    ASSERT_SIZE_EQ(leash_model_count_params(&m),
                   (6 * 75 + 6) + (16 * 150 + 16) + (400 * 120 + 120) + (120 * 10 + 10));
    ASSERT_SIZE_EQ(leash_model_count_params(&m), 52202);
    leash_model_free(&m);
}

static void lenet_mnist_shapes(void)
{
    static const layer_spec want[] = {
        CONV_SPEC(28, 28, 1, 5, 6),  RELU_SPEC(24, 24, 6), POOL_SPEC(24, 24, 6),
        CONV_SPEC(12, 12, 6, 5, 16), RELU_SPEC(8, 8, 16),  POOL_SPEC(8, 8, 16),
        FC_SPEC(4 * 4 * 16, 120),    RELU_SPEC(1, 1, 120), FC_SPEC(120, 10)};
    leash_model m;
    ASSERT_INT_EQ(leash_model_lenet(&m, 28, 28, 1, 10), 0);
    ASSERT_INT_EQ(layers_differ(&m, want, 9), 0);
    ASSERT_SIZE_EQ(leash_model_count_params(&m),
                   (6 * 25 + 6) + (16 * 150 + 16) + (256 * 120 + 120) + (120 * 10 + 10));
    ASSERT_SIZE_EQ(leash_model_count_params(&m), 34622);
    leash_model_free(&m);
}

/* ---- layout -------------------------------------------------------------------------- */

/* The models the layout and initialization tests run over. */
enum { BIG_MLP, ODD_MLP, CNN, LENET_CIFAR, LENET_MNIST, NMODELS };

static int build(leash_model *m, int which)
{
    switch (which) {
    case BIG_MLP: return leash_model_mlp(m, 28, 28, 1, 10, 3, 128, LEASH_ACT_RELU);
    /* Seven hidden layers of odd sizes: every tensor needs padding. */
    case ODD_MLP: return leash_model_mlp(m, 3, 5, 1, 7, 7, 13, LEASH_ACT_SIGMOID);
    case CNN: return leash_model_cnn(m, 28, 28, 1, 10);
    case LENET_CIFAR: return leash_model_lenet(m, 32, 32, 3, 10);
    default: return leash_model_lenet(m, 28, 28, 1, 10);
    }
}

/* Every tensor starts on a 64-byte boundary, none overlaps another, nparams covers them
 * all with no more than a cache line of padding each, and every layer's tensors exist. */
static void tensor_layout(void)
{
    for (int which = 0; which < NMODELS; ++which) {
        leash_model m;
        ASSERT_INT_EQ(build(&m, which), 0);
        ASSERT_INT_LE(1, m.ntensors);
        for (int t = 0; t < m.ntensors; ++t) {
            size_t off = m.tensor_offset[t], end = off + m.tensor_size[t];
            ASSERT_SIZE_EQ(off % 16, 0);
            ASSERT_TRUE(m.tensor_size[t] > 0);
            ASSERT_TRUE(end <= m.nparams);
            for (int u = 0; u < m.ntensors; ++u)
                if (u != t)
                    ASSERT_TRUE(end <= m.tensor_offset[u] ||
                                m.tensor_offset[u] + m.tensor_size[u] <= off);
        }
        ASSERT_TRUE(m.nparams <= leash_model_count_params(&m) + 15 * (size_t)m.ntensors);
        for (int i = 0; i < m.nlayers; ++i) {
            ASSERT_TRUE(m.layers[i].weight < m.ntensors && m.layers[i].bias < m.ntensors);
            ASSERT_TRUE(m.layers[i].weight < 0 || m.layers[i].weight != m.layers[i].bias);
        }
        leash_model_free(&m);
    }
}

static void params_alloc_aligned_and_zeroed(void)
{
    static const size_t sizes[] = {1, 15, 16, 17, 100, 134794, 1u << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; ++i) {
        float *p = leash_params_alloc(sizes[i]);
        ASSERT_NOT_NULL(p);
        size_t nonzero = 0;
        for (size_t j = 0; j < sizes[i]; ++j) nonzero += p[j] != 0.0f;
        uintptr_t misalign = (uintptr_t)p % 64;
        leash_params_free(p);
        ASSERT_INT_EQ(misalign, 0);
        ASSERT_SIZE_EQ(nonzero, 0);
    }
}

/* ---- initialization ------------------------------------------------------------------ */

static double fan_in(const leash_layer *l)
{
    return (l->kind == LEASH_LAYER_CONV ? l->k * l->k : 1) * (double)l->in_c;
}

static double fan_out(const leash_layer *l)
{
    return (l->kind == LEASH_LAYER_CONV ? l->k * l->k : 1) * (double)l->out_c;
}

/* Allowed relative deviation of a sample standard deviation from the true one over n
 * draws: 5% or five standard errors (1/sqrt(2n) for a normal), whichever is larger. */
static double std_tolerance(size_t n) { return fmax(0.05, 5.0 / sqrt(2.0 * (double)n)); }

typedef struct moments {
    double mean, std, maxabs;
} moments;

static moments tensor_moments(const float *x, size_t n)
{
    double s = 0.0, ss = 0.0, maxabs = 0.0;
    for (size_t i = 0; i < n; ++i) {
        s += x[i];
        ss += (double)x[i] * x[i];
        maxabs = fmax(maxabs, fabs(x[i]));
    }
    double mean = s / (double)n;
    return (moments){mean, sqrt(fmax(ss / (double)n - mean * mean, 0.0)), maxabs};
}

/* The expected standard deviation of layer l's weights under init. */
static double expected_std(const leash_layer *l, leash_init init)
{
    switch (init) {
    case LEASH_INIT_HE: return sqrt(2.0 / fan_in(l));
    case LEASH_INIT_GLOROT: return sqrt(6.0 / (fan_in(l) + fan_out(l))) / sqrt(3.0);
    default: return 0.01;
    }
}

/* Every weight tensor of every model: mean near 0, standard deviation as init says and,
 * for GLOROT, nothing outside +-sqrt(6 / (fan_in + fan_out)); every bias exactly zero. */
static void check_init(leash_init init)
{
    for (int which = 0; which < NMODELS; ++which) {
        leash_model m;
        ASSERT_INT_EQ(build(&m, which), 0);
        float *p = leash_params_alloc(m.nparams);
        ASSERT_NOT_NULL(p);
        memset(p, 0xab, m.nparams * sizeof *p); /* init must not rely on a zeroed array */
        leash_model_init_params(&m, p, init, 1234);
        int bad = 0;
        for (int i = 0; i < m.nlayers; ++i) {
            const leash_layer *l = &m.layers[i];
            if (l->weight < 0) continue;
            size_t n = m.tensor_size[l->weight];
            moments w = tensor_moments(p + m.tensor_offset[l->weight], n);
            moments b = tensor_moments(p + m.tensor_offset[l->bias], m.tensor_size[l->bias]);
            double want = expected_std(l, init);
            double bound = sqrt(6.0 / (fan_in(l) + fan_out(l)));
            if (fabs(w.std / want - 1.0) > std_tolerance(n) ||
                fabs(w.mean) > 5.0 * want / sqrt((double)n) ||
                (init == LEASH_INIT_GLOROT && w.maxabs > bound) || b.maxabs != 0.0) {
                tap_diag("model %d layer %d: mean %.3g std %.4g (want %.4g) max %.4g, "
                         "bias max %.3g",
                         which, i, w.mean, w.std, want, w.maxabs, b.maxabs);
                ++bad;
            }
        }
        leash_params_free(p);
        leash_model_free(&m);
        ASSERT_INT_EQ(bad, 0);
    }
}

static void init_normal(void) { check_init(LEASH_INIT_NORMAL); }
static void init_he(void) { check_init(LEASH_INIT_HE); }
static void init_glorot(void) { check_init(LEASH_INIT_GLOROT); }

/* All of the big MLP's weights together: std 0.01 within 1% (the standard error of
 * 134656 draws is 0.2%). */
static void init_normal_pooled_std(void)
{
    leash_model m;
    ASSERT_INT_EQ(build(&m, BIG_MLP), 0);
    float *p = leash_params_alloc(m.nparams);
    ASSERT_NOT_NULL(p);
    leash_model_init_params(&m, p, LEASH_INIT_NORMAL, 99);
    double ss = 0.0;
    size_t n = 0;
    for (int i = 0; i < m.nlayers; ++i) {
        const leash_layer *l = &m.layers[i];
        if (l->weight < 0) continue;
        const float *w = p + m.tensor_offset[l->weight];
        for (size_t j = 0; j < m.tensor_size[l->weight]; ++j) ss += (double)w[j] * w[j];
        n += m.tensor_size[l->weight];
    }
    leash_params_free(p);
    leash_model_free(&m);
    ASSERT_SIZE_EQ(n, 134794 - 3 * 128 - 10);
    ASSERT_DBL_NEAR(sqrt(ss / (double)n), 0.01, 0.01 * 0.01);
}

/* The same seed gives the same bytes, padding included, whatever the array held; another
 * seed or another scheme gives different ones. */
static void init_deterministic(void)
{
    static const leash_init inits[] = {LEASH_INIT_NORMAL, LEASH_INIT_HE, LEASH_INIT_GLOROT};
    for (int which = 0; which < NMODELS; ++which) {
        leash_model m;
        ASSERT_INT_EQ(build(&m, which), 0);
        size_t bytes = m.nparams * sizeof(float);
        float *a = leash_params_alloc(m.nparams), *b = leash_params_alloc(m.nparams);
        ASSERT_NOT_NULL(a);
        ASSERT_NOT_NULL(b);
        int same = 1, other_seed = 0, other_init = 0;
        for (int i = 0; i < 3; ++i) {
            memset(b, 0x5a, bytes);
            leash_model_init_params(&m, a, inits[i], 7);
            leash_model_init_params(&m, b, inits[i], 7);
            same &= !memcmp(a, b, bytes);
            leash_model_init_params(&m, b, inits[i], 8);
            other_seed += !memcmp(a, b, bytes);
            leash_model_init_params(&m, b, inits[(i + 1) % 3], 7);
            other_init += !memcmp(a, b, bytes);
        }
        leash_params_free(a);
        leash_params_free(b);
        leash_model_free(&m);
        ASSERT_TRUE(same);
        ASSERT_INT_EQ(other_seed, 0);
        ASSERT_INT_EQ(other_init, 0);
    }
}

/* ---- argument checking ---------------------------------------------------------------- */

/* call must fail with LEASH_EINVAL and a message that names the offending value. */
#define EXPECT_EINVAL(call, needle)                                                         \
    do {                                                                                    \
        int rc_ = (call);                                                                   \
        if (rc_ != LEASH_EINVAL) TAP_FAIL_AT("%s returned %d, not LEASH_EINVAL", #call, rc_); \
        ASSERT_STR_CONTAINS(leash_last_error(), needle);                                    \
    } while (0)

static void mlp_rejects_bad_arguments(void)
{
    leash_model m;
    EXPECT_EINVAL(leash_model_mlp(&m, 28, 28, 1, 10, -3, 128, LEASH_ACT_RELU), "-3");
    EXPECT_EINVAL(leash_model_mlp(&m, 28, 28, 1, 10, 3, -5, LEASH_ACT_RELU), "-5");
    EXPECT_EINVAL(leash_model_mlp(&m, 28, 28, 1, 10, 3, 0, LEASH_ACT_RELU), "0");
    EXPECT_EINVAL(leash_model_mlp(&m, 28, 28, 1, 1, 3, 128, LEASH_ACT_RELU), "class");
    EXPECT_EINVAL(leash_model_mlp(&m, 0, 28, 1, 10, 3, 128, LEASH_ACT_RELU), "0x28x1");
    EXPECT_EINVAL(leash_model_mlp(&m, 28, 28, -2, 10, 3, 128, LEASH_ACT_RELU), "28x28x-2");
    /* No table caps the depth: 100 hidden layers build. */
    ASSERT_INT_EQ(leash_model_mlp(&m, 28, 28, 1, 2, 100, 1, LEASH_ACT_RELU), 0);
    ASSERT_INT_EQ(m.nlayers, 201);
    ASSERT_INT_EQ(m.ntensors, 202);
    leash_model_free(&m);
}

/* Each convolution takes k - 1 off a side and each pooling halves it: the CNN needs
 * sides of at least 10 (10 -> 8 -> 4 -> 2 -> 1), the LENET at least 16 (16 -> 12 -> 6 ->
 * 2 -> 1). */
static void conv_nets_reject_small_inputs(void)
{
    leash_model m;
    const char *cnn_pool = "layer 6 'maxpool:2': its 2x2 window is larger than its ";
    char want[128];
    snprintf(want, sizeof want, "%s1x1x8 input", cnn_pool);
    EXPECT_EINVAL(leash_model_cnn(&m, 8, 8, 1, 10), want);
    EXPECT_EINVAL(leash_model_cnn(&m, 9, 9, 1, 10), want);
    snprintf(want, sizeof want, "%s11x1x8 input", cnn_pool);
    EXPECT_EINVAL(leash_model_cnn(&m, 28, 9, 1, 10), want);
    EXPECT_EINVAL(leash_model_cnn(&m, 28, 28, 0, 10), "28x28x0");
    EXPECT_EINVAL(leash_model_cnn(&m, 28, 28, 1, 1), "class");
    EXPECT_EINVAL(leash_model_lenet(&m, 15, 15, 3, 10), "1x1x16 input");
    EXPECT_EINVAL(leash_model_lenet(&m, 32, 15, 3, 10), "10x1x16 input");
    ASSERT_INT_EQ(leash_model_cnn(&m, 10, 10, 1, 10), 0);
    ASSERT_INT_EQ(m.layers[6].in_c, 8);
    leash_model_free(&m);
    ASSERT_INT_EQ(leash_model_lenet(&m, 16, 16, 3, 10), 0);
    ASSERT_INT_EQ(m.layers[6].in_c, 16);
    leash_model_free(&m);
}

/* Inputs whose feature count does not fit an int cannot be described by the layer
 * table (its shapes are ints). */
static void builders_reject_oversized_inputs(void)
{
    leash_model m;
    EXPECT_EINVAL(leash_model_mlp(&m, 65536, 65536, 1, 10, 1, 16, LEASH_ACT_RELU), "65536");
    EXPECT_EINVAL(leash_model_cnn(&m, 1 << 30, 1 << 30, 1, 10), "1073741824");
    EXPECT_EINVAL(leash_model_lenet(&m, 1 << 30, 1 << 30, 3, 10), "1073741824");
}

/* A hidden-layer count whose layer count (2L + 1) overflows an int must be rejected,
 * not wrap to a negative number that passes the range check. Run in a child process:
 * an unchecked count writes past the layer table. */
static void mlp_rejects_huge_layer_count(void)
{
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        leash_model m;
        int rc = leash_model_mlp(&m, 28, 28, 1, 10, 1 << 30, 16, LEASH_ACT_RELU);
        _exit(rc == LEASH_EINVAL && leash_last_error()[0] ? 0 : 1);
    }
    int status;
    ASSERT_INT_EQ(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status)) tap_diag("leash_model_mlp killed by signal %d", WTERMSIG(status));
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_INT_EQ(WEXITSTATUS(status), 0);
}

static void workspace_rejects_bad_batch(void)
{
    leash_model m;
    leash_workspace *ws;
    ASSERT_INT_EQ(leash_model_cnn(&m, 28, 28, 1, 10), 0);
    EXPECT_EINVAL(leash_workspace_create(&ws, &m, 0), "0");
    EXPECT_EINVAL(leash_workspace_create(&ws, &m, -2), "-2");
    leash_model_free(&m);
}

int main(void)
{
    tap_plan(16);
    TAP_RUN(mlp_shapes);
    TAP_RUN(cnn_shapes);
    TAP_RUN(lenet_cifar_shapes);
    TAP_RUN(lenet_mnist_shapes);
    TAP_RUN(tensor_layout);
    TAP_RUN(params_alloc_aligned_and_zeroed);
    TAP_RUN(init_normal);
    TAP_RUN(init_he);
    TAP_RUN(init_glorot);
    TAP_RUN(init_normal_pooled_std);
    TAP_RUN(init_deterministic);
    TAP_RUN(mlp_rejects_bad_arguments);
    TAP_RUN(conv_nets_reject_small_inputs);
    TAP_RUN(builders_reject_oversized_inputs);
    TAP_RUN(mlp_rejects_huge_layer_count);
    TAP_RUN(workspace_rejects_bad_batch);
    return tap_done();
}
