/* Whole models: leash_model_gradient against central differences of the loss, its
 * agreement with leash_model_evaluate, batching, overwriting, and the count of correct
 * predictions.
 *
 * Central differences of the float32 forward pass cannot resolve 1e-3 on the first
 * layers of the convolutional models: the mean loss carries float32 rounding of about
 * 3e-7 that changes with every perturbation, and a step large enough to drown it moves
 * hundreds of ReLU pre-activations and pooling maxima across their kinks. So the
 * coordinate-wise checks differentiate a double-precision evaluation of the same model
 * (the layer table run through the reference kernels), which first has to reproduce
 * leash_model_evaluate's loss, and a directional derivative through
 * leash_model_evaluate itself ties the gradient to the float32 loss end to end. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "leash/error.h"
#include "leash/nn.h"
#include "tap.h"

#define NCLASSES 10

typedef struct net_config {
    const char *name;
    const char *arch;
    int in_h, in_w, in_c;
    int hidden_layers, units; /* MLP only */
    leash_activation act;     /* MLP only */
    int B;
} net_config;

enum { MLP_RELU, MLP_SIGMOID, CNN, LENET_CIFAR, LENET_MNIST, LIST_ODD, LIST_C3, LIST_CONV, NCONFIGS };

static const net_config configs[NCONFIGS] = {
    [MLP_RELU] = {"MLP relu 8x8x1", "MLP", 8, 8, 1, 2, 16, LEASH_ACT_RELU, 4},
    [MLP_SIGMOID] = {"MLP sigmoid 8x8x1", "MLP", 8, 8, 1, 2, 16, LEASH_ACT_SIGMOID, 4},
    [CNN] = {"CNN 28x28x1", "CNN", 28, 28, 1, 0, 0, LEASH_ACT_RELU, 3},
    [LENET_CIFAR] = {"LENET 32x32x3", "LENET", 32, 32, 3, 0, 0, LEASH_ACT_RELU, 3},
    [LENET_MNIST] = {"LENET 28x28x1", "LENET", 28, 28, 1, 0, 0, LEASH_ACT_RELU, 5},
    /* Layer lists with every kind of layer: stride and padding (on odd and even sides,
     * with 1 and 3 channels), average pooling, tanh, a padded conv inside the fused
     * conv - relu - maxpool block, and a list of convolutions alone. */
    [LIST_ODD] = {"conv:3:3:s2:p1,tanh,avgpool:2,conv:4:2:p1,relu,maxpool:2,fc:6,sigmoid,fc "
                  "13x13x1",
                  "conv:3:3:s2:p1,tanh,avgpool:2,conv:4:2:p1,relu,maxpool:2,fc:6,sigmoid,fc", 13,
                  13, 1, 0, 0, LEASH_ACT_RELU, 4},
    [LIST_C3] = {"conv:5:3:p1,relu,maxpool:2,conv:4:3:s2,sigmoid,avgpool:1,fc:8,relu,fc 10x10x3",
                 "conv:5:3:p1,relu,maxpool:2,conv:4:3:s2,sigmoid,avgpool:1,fc:8,relu,fc", 10, 10, 3,
                 0, 0, LEASH_ACT_RELU, 3},
    [LIST_CONV] = {"conv:2:4:s3:p2,tanh,conv:10:3 8x8x1", "conv:2:4:s3:p2,tanh,conv:10:3", 8, 8, 1,
                   0, 0, LEASH_ACT_RELU, 5},
};

/* A model with He-initialized parameters and a workspace holding a random batch. */
typedef struct net {
    leash_model m;
    float *params, *grads;
    leash_workspace *ws;
    int B;
} net;

static void net_close(net *n)
{
    leash_params_free(n->params);
    leash_params_free(n->grads);
    leash_workspace_destroy(n->ws);
    leash_model_free(&n->m);
    memset(n, 0, sizeof *n);
}

/* The workspace holds max_batch >= B samples, so passes on fewer than max_batch are
 * exercised too. Biases get small random values so that their forward path matters. */
static int net_open(net *n, const net_config *cfg, int max_batch, uint64_t seed)
{
    memset(n, 0, sizeof *n);
    int rc = leash_model_build(&n->m, cfg->arch, cfg->in_h, cfg->in_w, cfg->in_c, NCLASSES,
                               cfg->hidden_layers, cfg->units, cfg->act);
    if (rc) return rc;
    rc = leash_workspace_create(&n->ws, &n->m, max_batch);
    if (rc) return rc;
    n->B = cfg->B;
    n->params = leash_params_alloc(n->m.nparams);
    n->grads = leash_params_alloc(n->m.nparams);
    if (!n->params || !n->grads) return LEASH_ENOMEM;
    leash_model_init_params(&n->m, n->params, LEASH_INIT_HE, seed);
    leash_rng rng;
    leash_rng_seed(&rng, seed + 1);
    for (int i = 0; i < n->m.nlayers; ++i)
        if (n->m.layers[i].bias >= 0) {
            int t = n->m.layers[i].bias;
            gc_fill_uniform(n->params + n->m.tensor_offset[t], n->m.tensor_size[t], -0.1, 0.1,
                            &rng);
        }
    gc_fill_uniform(leash_workspace_input(n->ws), (size_t)max_batch * leash_model_input_size(&n->m),
                    0, 1, &rng);
    for (int s = 0; s < max_batch; ++s)
        leash_workspace_labels(n->ws)[s] = (int)leash_rng_below(&rng, NCLASSES);
    return 0;
}

/* Mean loss of the first b samples through leash_model_evaluate. */
static double eval_mean_loss(const net *n, const float *params, int b)
{
    double loss_sum = 0.0;
    long correct = 0;
    leash_model_evaluate(&n->m, params, n->ws, b, &loss_sum, &correct);
    return loss_sum / b;
}

/* ---- the model in double precision ------------------------------------------- */

#define FNV_OFFSET 14695981039346656037u
#define FNV_PRIME 1099511628211u

typedef struct ref_net {
    const leash_model *m;
    double *params; /* a double copy of the float32 parameters, perturbed in place */
    double *input;
    const int *labels;
    int B;
    double *act[2]; /* activations, alternating between layers */
    uint64_t kinks; /* hash of every ReLU sign and pooling argmax of the last pass */
} ref_net;

static size_t layer_out_size(const leash_layer *l)
{
    return (size_t)l->out_h * l->out_w * l->out_c;
}

static void ref_open(ref_net *r, const net *n)
{
    size_t most = 0;
    for (int i = 0; i < n->m.nlayers; ++i) {
        size_t s = layer_out_size(&n->m.layers[i]);
        most = s > most ? s : most;
    }
    r->m = &n->m;
    r->params = gc_to_double(n->params, n->m.nparams);
    r->input = gc_to_double(leash_workspace_input(n->ws),
                            (size_t)n->B * leash_model_input_size(&n->m));
    r->labels = leash_workspace_labels(n->ws);
    r->B = n->B;
    r->act[0] = gc_doubles((size_t)n->B * most);
    r->act[1] = gc_doubles((size_t)n->B * most);
}

static void ref_close(ref_net *r)
{
    free(r->params);
    free(r->input);
    free(r->act[0]);
    free(r->act[1]);
}

static void ref_avgpool(double *out, const double *in, const leash_layer *l, int B)
{
    int H = l->in_h, W = l->in_w, C = l->in_c, K = l->k;
    for (int b = 0; b < B; ++b)
        for (int oy = 0; oy < l->out_h; ++oy)
            for (int ox = 0; ox < l->out_w; ++ox)
                for (int c = 0; c < C; ++c) {
                    double sum = 0.0;
                    for (int ky = 0; ky < K; ++ky)
                        for (int kx = 0; kx < K; ++kx)
                            sum += in[(((size_t)b * H + oy * K + ky) * W + ox * K + kx) * C + c];
                    *out++ = sum / (K * K);
                }
}

static uint64_t ref_maxpool(double *out, const double *in, const leash_layer *l, int B, uint64_t h)
{
    int H = l->in_h, W = l->in_w, C = l->in_c, K = l->k;
    for (int b = 0; b < B; ++b)
        for (int oy = 0; oy < l->out_h; ++oy)
            for (int ox = 0; ox < l->out_w; ++ox)
                for (int c = 0; c < C; ++c) {
                    size_t best = (((size_t)b * H + oy * K) * W + ox * K) * C + c;
                    for (int ky = 0; ky < K; ++ky)
                        for (int kx = 0; kx < K; ++kx) {
                            size_t at = (((size_t)b * H + oy * K + ky) * W + ox * K + kx) * C + c;
                            if (in[at] > in[best]) best = at;
                        }
                    *out++ = in[best];
                    h = (h ^ best) * FNV_PRIME;
                }
    return h;
}

/* Mean cross-entropy of the batch, everything in double. */
static double ref_loss(ref_net *r)
{
    const leash_model *m = r->m;
    const double *in = r->input;
    uint64_t h = FNV_OFFSET;
    for (int i = 0; i < m->nlayers; ++i) {
        const leash_layer *l = &m->layers[i];
        double *out = r->act[i & 1];
        size_t n = (size_t)r->B * layer_out_size(l);
        const double *w = l->weight >= 0 ? r->params + m->tensor_offset[l->weight] : NULL;
        const double *bias = l->bias >= 0 ? r->params + m->tensor_offset[l->bias] : NULL;
        switch (l->kind) {
        case LEASH_LAYER_FC: gc_ref_fc_forward(out, in, w, bias, r->B, l->in_c, l->out_c); break;
        case LEASH_LAYER_CONV:
            gc_ref_conv_sp_forward(out, in, w, bias, r->B, l->in_h, l->in_w, l->in_c, l->out_c, l->k,
                                   l->stride, l->pad);
            break;
        case LEASH_LAYER_MAXPOOL: h = ref_maxpool(out, in, l, r->B, h); break;
        case LEASH_LAYER_AVGPOOL: ref_avgpool(out, in, l, r->B); break;
        case LEASH_LAYER_TANH:
            for (size_t j = 0; j < n; ++j) out[j] = tanh(in[j]);
            break;
        case LEASH_LAYER_RELU:
            for (size_t j = 0; j < n; ++j) {
                out[j] = in[j] > 0.0 ? in[j] : 0.0;
                h = (h ^ (in[j] > 0.0)) * FNV_PRIME;
            }
            break;
        case LEASH_LAYER_SIGMOID:
            for (size_t j = 0; j < n; ++j) out[j] = 1.0 / (1.0 + exp(-in[j]));
            break;
        }
        in = out;
    }
    r->kinks = h;
    double total = 0.0;
    for (int b = 0; b < r->B; ++b) {
        const double *z = in + (size_t)b * m->nclasses;
        double zmax = z[0], sum = 0.0;
        for (int k = 1; k < m->nclasses; ++k) zmax = fmax(zmax, z[k]);
        for (int k = 0; k < m->nclasses; ++k) sum += exp(z[k] - zmax);
        total += log(sum) - (z[r->labels[b]] - zmax);
    }
    return total / r->B;
}

/* ---- coordinate-wise gradient checks ------------------------------------------ */

/* Coordinates checked per tensor (all of a smaller one). */
#define COORDS_PER_TENSOR 20
/* In double the loss is exact to about 1e-15, so a step of 1e-7 leaves about 1e-8 of
 * rounding and no measurable truncation in a central difference. So small a step
 * seldom moves a ReLU sign or a pooling argmax; a coordinate where it does is skipped. */
#define REF_STEP 1e-7
#define MODEL_TOL 1e-3
/* A float32 gradient entry sums thousands of terms, so its rounding error follows the
 * size of the terms, not of the sum: measured, up to about 1e-6 of the tensor's largest
 * entry, whatever the entry's own size. Entries are therefore compared relative to at
 * least FLOOR_SHARE of the tensor's largest entry, and never below MODEL_FLOOR, which
 * leaves a tenfold margin; a wrong gradient is off by far more. */
#define FLOOR_SHARE 1e-2
#define MODEL_FLOOR 1e-4

typedef struct gradcheck_result {
    double worst;   /* largest relative error over the checked coordinates */
    size_t checked; /* coordinates compared */
    size_t skipped; /* coordinates whose +-step moved a ReLU or pooling kink */
    size_t nonzero; /* checked coordinates with |gradient| >= MODEL_FLOOR */
} gradcheck_result;

static void check_model(int config, uint64_t seed, gradcheck_result *res)
{
    const net_config *cfg = &configs[config];
    memset(res, 0, sizeof *res);
    net n;
    ASSERT_INT_EQ(net_open(&n, cfg, cfg->B + 2, seed), 0);
    leash_model_gradient(&n.m, n.params, n.grads, n.ws, n.B);

    ref_net r;
    ref_open(&r, &n);
    ref_loss(&r);
    uint64_t base = r.kinks;
    leash_rng rng;
    leash_rng_seed(&rng, seed + 2);
    for (int t = 0; t < n.m.ntensors; ++t) {
        size_t size = n.m.tensor_size[t], off = n.m.tensor_offset[t];
        double min_scale = MODEL_FLOOR;
        for (size_t j = 0; j < size; ++j)
            min_scale = fmax(min_scale, FLOOR_SHARE * fabsf(n.grads[off + j]));
        size_t picks[COORDS_PER_TENSOR], npicks = 0;
        while (npicks < COORDS_PER_TENSOR && npicks < size) {
            size_t j = size <= COORDS_PER_TENSOR ? npicks : (size_t)leash_rng_below(&rng, size);
            int dup = 0;
            for (size_t k = 0; k < npicks; ++k) dup |= picks[k] == j;
            if (!dup) picks[npicks++] = j;
        }
        for (size_t k = 0; k < npicks; ++k) {
            double *x = &r.params[off + picks[k]], x0 = *x;
            *x = x0 + REF_STEP;
            double lp = ref_loss(&r);
            uint64_t kp = r.kinks;
            *x = x0 - REF_STEP;
            double lm = ref_loss(&r);
            uint64_t km = r.kinks;
            *x = x0;
            if (kp != base || km != base) {
                ++res->skipped;
                continue;
            }
            double num = (lp - lm) / ((x0 + REF_STEP) - (x0 - REF_STEP));
            float g = n.grads[off + picks[k]];
            res->worst = fmax(res->worst, gc_rel_err(g, num, min_scale));
            res->nonzero += fabs(g) >= MODEL_FLOOR;
            ++res->checked;
        }
    }
    ref_close(&r);
    net_close(&n);
}

static void model_gradcheck(int config, uint64_t seed)
{
    gradcheck_result res;
    check_model(config, seed, &res);
    if (tap_current_failed) return;
    /* Skipping many coordinates would hollow the check out; so would a model whose
     * gradient vanishes almost everywhere. */
    ASSERT_INT_LE(res.skipped * 10, res.checked);
    ASSERT_INT_LE(res.checked, 2 * res.nonzero);
    ASSERT_DBL_LE(res.worst, MODEL_TOL);
}

static void mlp_relu_gradcheck(void) { model_gradcheck(MLP_RELU, 101); }
static void mlp_sigmoid_gradcheck(void) { model_gradcheck(MLP_SIGMOID, 102); }
static void cnn_gradcheck(void) { model_gradcheck(CNN, 103); }
static void lenet_cifar_gradcheck(void) { model_gradcheck(LENET_CIFAR, 104); }
static void lenet_mnist_gradcheck(void) { model_gradcheck(LENET_MNIST, 105); }
static void list_odd_gradcheck(void) { model_gradcheck(LIST_ODD, 106); }
static void list_c3_gradcheck(void) { model_gradcheck(LIST_C3, 107); }
static void list_conv_gradcheck(void) { model_gradcheck(LIST_CONV, 108); }

/* The double-precision model is the one leash_model_evaluate runs: same loss up to
 * float32 rounding of the activations. */
static void evaluate_matches_double_reference(void)
{
    for (int c = 0; c < NCONFIGS; ++c) {
        net n;
        ASSERT_INT_EQ(net_open(&n, &configs[c], configs[c].B, 200 + (uint64_t)c), 0);
        ref_net r;
        ref_open(&r, &n);
        double want = ref_loss(&r), got = eval_mean_loss(&n, n.params, n.B);
        double err = gc_rel_err(got, want, 0.0);
        ref_close(&r);
        net_close(&n);
        if (err > 1e-5) tap_diag("%s", configs[c].name);
        ASSERT_DBL_LE(err, 1e-5);
    }
}

/* L(p + h v) - L(p - h v) through leash_model_evaluate against g . (2 h v), along
 * v = g / max|g|: the direction in which the change stands furthest above the float32
 * noise of the loss (about 3e-7). The step trades that noise against the ReLU and
 * pooling kinks every larger step crosses somewhere in the model; together they leave
 * up to about 1e-2 on the LENETs (measured over several seeds), so this is a coarse
 * end-to-end tie to the float32 loss, and the coordinate-wise checks above are the
 * precise ones. A gradient of the wrong scale or sign is off by O(1). */
#define DIRECTION_STEP 3e-4f
#define DIRECTION_TOL 3e-2

static void gradient_is_derivative_of_evaluate(void)
{
    for (int c = 0; c < NCONFIGS; ++c) {
        net n;
        ASSERT_INT_EQ(net_open(&n, &configs[c], configs[c].B, 300 + (uint64_t)c), 0);
        size_t np = n.m.nparams;
        float *plus = gc_floats(np), *minus = gc_floats(np), gmax = 0.0f;
        leash_model_gradient(&n.m, n.params, n.grads, n.ws, n.B);
        for (size_t i = 0; i < np; ++i) gmax = fmaxf(gmax, fabsf(n.grads[i]));
        double predicted = 0.0;
        for (size_t i = 0; i < np; ++i) {
            float v = n.grads[i] / gmax;
            plus[i] = n.params[i] + DIRECTION_STEP * v;
            minus[i] = n.params[i] - DIRECTION_STEP * v;
            /* The step actually taken, after rounding to float32. */
            predicted += (double)n.grads[i] * ((double)plus[i] - minus[i]);
        }
        double measured = eval_mean_loss(&n, plus, n.B) - eval_mean_loss(&n, minus, n.B);
        double err = gc_rel_err(measured, predicted, 0.0);
        free(plus), free(minus);
        net_close(&n);
        if (err > DIRECTION_TOL) tap_diag("%s", configs[c].name);
        ASSERT_DBL_LE(err, DIRECTION_TOL);
    }
}

/* ---- consistency ------------------------------------------------------------------ */

static void gradient_loss_matches_evaluate(void)
{
    for (int c = 0; c < NCONFIGS; ++c) {
        net n;
        ASSERT_INT_EQ(net_open(&n, &configs[c], configs[c].B + 1, 500 + (uint64_t)c), 0);
        double want = eval_mean_loss(&n, n.params, n.B);
        double got = leash_model_gradient(&n.m, n.params, n.grads, n.ws, n.B);
        net_close(&n);
        ASSERT_DBL_LE(gc_rel_err(got, want, 0.0), 1e-7);
    }
}

/* The gradient of the mean over B = 4 is the mean of the four per-sample gradients,
 * each from a workspace of one sample. Entries are compared relative to at least the
 * tensor's RMS: summing the samples in another order moves an entry by float32 rounding
 * of its terms, which can be large next to an entry that cancels. */
static void batch_gradient_is_mean_of_samples(void)
{
    static const int which[] = {MLP_RELU, MLP_SIGMOID, CNN, LENET_CIFAR, LIST_ODD, LIST_C3};
    for (size_t c = 0; c < sizeof which / sizeof which[0]; ++c) {
        net_config cfg = configs[which[c]];
        cfg.B = 4;
        net n;
        leash_workspace *ws1;
        ASSERT_INT_EQ(net_open(&n, &cfg, 4, 600 + (uint64_t)c), 0);
        ASSERT_INT_EQ(leash_workspace_create(&ws1, &n.m, 1), 0);
        size_t np = n.m.nparams, in_size = leash_model_input_size(&n.m);
        double *mean = gc_doubles(np), loss_mean = 0.0;
        float *one = gc_floats(np);
        double loss = leash_model_gradient(&n.m, n.params, n.grads, n.ws, 4);
        for (int s = 0; s < 4; ++s) {
            memcpy(leash_workspace_input(ws1), leash_workspace_input(n.ws) + (size_t)s * in_size,
                   in_size * sizeof(float));
            leash_workspace_labels(ws1)[0] = leash_workspace_labels(n.ws)[s];
            loss_mean += leash_model_gradient(&n.m, n.params, one, ws1, 1) / 4.0;
            for (size_t i = 0; i < np; ++i) mean[i] += one[i] / 4.0;
        }
        double worst = 0.0;
        for (int t = 0; t < n.m.ntensors; ++t) {
            size_t off = n.m.tensor_offset[t], size = n.m.tensor_size[t];
            worst = fmax(worst, gc_tensor_err(n.grads + off, mean + off, size));
        }
        free(mean), free(one);
        leash_workspace_destroy(ws1);
        net_close(&n);
        if (worst > 1e-5) tap_diag("%s", configs[which[c]].name);
        ASSERT_DBL_LE(gc_rel_err(loss, loss_mean, 0.0), 1e-6);
        ASSERT_DBL_LE(worst, 1e-5);
    }
}

/* grads is overwritten, not accumulated, and the workspace's own gradient buffers start
 * from zero on every call: a buffer full of NaN and a repeated call both give the bytes
 * of a call into a fresh buffer. */
static void gradient_overwrites(void)
{
    for (int c = 0; c < NCONFIGS; ++c) {
        net n;
        ASSERT_INT_EQ(net_open(&n, &configs[c], configs[c].B, 700 + (uint64_t)c), 0);
        size_t bytes = n.m.nparams * sizeof(float);
        float *fresh = leash_params_alloc(n.m.nparams);
        ASSERT_NOT_NULL(fresh);
        leash_model_gradient(&n.m, n.params, fresh, n.ws, n.B);
        memset(n.grads, 0xff, bytes);
        leash_model_gradient(&n.m, n.params, n.grads, n.ws, n.B);
        int after_nan = !memcmp(n.grads, fresh, bytes);
        leash_model_gradient(&n.m, n.params, n.grads, n.ws, n.B);
        int after_repeat = !memcmp(n.grads, fresh, bytes);
        leash_params_free(fresh);
        net_close(&n);
        ASSERT_TRUE(after_nan);
        ASSERT_TRUE(after_repeat);
    }
}

/* ---- predictions ------------------------------------------------------------------ */

/* No hidden layer, identity weights and a bias on class 3: the logits are the inputs
 * plus 0.5 on the last class, which flips sample 2's prediction. */
enum { TOY_B = 6, TOY_K = 4 };
static const float toy_input[TOY_B][TOY_K] = {
    {1, 0, 0, 0},     /* logits 1 0 0 .5: predicts 0 */
    {0, 2, 1, 0},     /* predicts 1 */
    {0, 0, 1, 0.8f},  /* logits 0 0 1 1.3: predicts 3 */
    {0, 0, 3, 0},     /* predicts 2 */
    {-1, -2, -3, -4}, /* logits -1 -2 -3 -3.5: predicts 0 */
    {0, 0, 0, 0},     /* predicts 3 */
};
static const int toy_labels[TOY_B] = {0, 1, 2, 2, 3, 3}; /* right: 0, 1, 3, 5 */

static int toy_open(leash_model *m, float **params, leash_workspace **ws)
{
    int rc = leash_model_mlp(m, 1, 1, TOY_K, TOY_K, 0, 1, LEASH_ACT_RELU);
    if (rc) return rc;
    rc = leash_workspace_create(ws, m, TOY_B);
    if (rc) return rc;
    *params = leash_params_alloc(m->nparams);
    if (!*params) return LEASH_ENOMEM;
    float *w = *params + m->tensor_offset[m->layers[0].weight];
    float *bias = *params + m->tensor_offset[m->layers[0].bias];
    for (int k = 0; k < TOY_K; ++k) w[k * TOY_K + k] = 1.0f;
    bias[TOY_K - 1] = 0.5f;
    memcpy(leash_workspace_input(*ws), toy_input, sizeof toy_input);
    memcpy(leash_workspace_labels(*ws), toy_labels, sizeof toy_labels);
    return 0;
}

static double toy_loss(int b)
{
    double total = 0.0;
    for (int s = 0; s < b; ++s) {
        double z[TOY_K], sum = 0.0;
        for (int k = 0; k < TOY_K; ++k) z[k] = toy_input[s][k] + (k == TOY_K - 1 ? 0.5 : 0.0);
        for (int k = 0; k < TOY_K; ++k) sum += exp(z[k]);
        total += log(sum) - z[toy_labels[s]];
    }
    return total;
}

static void evaluate_counts_correct(void)
{
    leash_model m;
    float *params = NULL;
    leash_workspace *ws = NULL;
    int rc = toy_open(&m, &params, &ws);
    double loss6 = 0.0, loss3 = 0.0;
    long correct6 = 0, correct3 = 0;
    if (!rc) {
        leash_model_evaluate(&m, params, ws, TOY_B, &loss6, &correct6);
        leash_model_evaluate(&m, params, ws, 3, &loss3, &correct3);
    }
    leash_params_free(params);
    leash_workspace_destroy(ws);
    leash_model_free(&m);
    ASSERT_INT_EQ(rc, 0);
    ASSERT_INT_EQ(correct6, 4);
    ASSERT_INT_EQ(correct3, 2);
    ASSERT_DBL_LE(gc_rel_err(loss6, toy_loss(TOY_B), 0.0), 1e-6);
    ASSERT_DBL_LE(gc_rel_err(loss3, toy_loss(3), 0.0), 1e-6);
}

/* evaluate adds to *loss_sum and *correct, so batches can be summed over a data set. */
static void evaluate_accumulates(void)
{
    leash_model m;
    float *params = NULL;
    leash_workspace *ws = NULL;
    int rc = toy_open(&m, &params, &ws);
    double loss = 1.5;
    long correct = 7;
    if (!rc) {
        leash_model_evaluate(&m, params, ws, TOY_B, &loss, &correct);
        leash_model_evaluate(&m, params, ws, TOY_B, &loss, &correct);
    }
    leash_params_free(params);
    leash_workspace_destroy(ws);
    leash_model_free(&m);
    ASSERT_INT_EQ(rc, 0);
    ASSERT_INT_EQ(correct, 7 + 2 * 4);
    ASSERT_DBL_LE(gc_rel_err(loss, 1.5 + 2 * toy_loss(TOY_B), 0.0), 1e-6);
}

int main(void)
{
    tap_plan(15);
    TAP_RUN(mlp_relu_gradcheck);
    TAP_RUN(mlp_sigmoid_gradcheck);
    TAP_RUN(cnn_gradcheck);
    TAP_RUN(lenet_cifar_gradcheck);
    TAP_RUN(lenet_mnist_gradcheck);
    TAP_RUN(list_odd_gradcheck);
    TAP_RUN(list_c3_gradcheck);
    TAP_RUN(list_conv_gradcheck);
    TAP_RUN(evaluate_matches_double_reference);
    TAP_RUN(gradient_is_derivative_of_evaluate);
    TAP_RUN(gradient_loss_matches_evaluate);
    TAP_RUN(batch_gradient_is_mean_of_samples);
    TAP_RUN(gradient_overwrites);
    TAP_RUN(evaluate_counts_correct);
    TAP_RUN(evaluate_accumulates);
    return tap_done();
}
