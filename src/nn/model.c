#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "leash/nn.h"
#include "leash/rng.h"
#include "nn/layers_internal.h"

#define FLOATS_PER_LINE 16
#define MAX_SAMPLE_VALUES ((size_t)1 << 24)
/* A conv layer's geometry: stride 1, no padding. */
#define CONV_GEOM(l) (&(leash_conv_geom){(l)->in_h, (l)->in_w, (l)->in_c, (l)->out_c, (l)->k, 1, 0})

static int add_tensor(leash_model *m, size_t n)
{
    int t = m->ntensors++;
    m->tensor_size[t] = n;
    m->tensor_offset[t] = m->nparams;
    m->nparams += (n + FLOATS_PER_LINE - 1) / FLOATS_PER_LINE * FLOATS_PER_LINE;
    return t;
}

static leash_layer *push_layer(leash_model *m, leash_layer_kind kind)
{
    leash_layer *l = &m->layers[m->nlayers];
    const leash_layer *prev = m->nlayers ? &m->layers[m->nlayers - 1] : NULL;
    ++m->nlayers;
    memset(l, 0, sizeof *l);
    l->kind = kind;
    l->in_h = prev ? prev->out_h : m->in_h;
    l->in_w = prev ? prev->out_w : m->in_w;
    l->in_c = prev ? prev->out_c : m->in_c;
    l->out_h = l->in_h;
    l->out_w = l->in_w;
    l->out_c = l->in_c;
    l->weight = l->bias = -1;
    return l;
}

static void add_fc(leash_model *m, int units)
{
    leash_layer *l = push_layer(m, LEASH_LAYER_FC);
    int features = l->in_h * l->in_w * l->in_c;
    /* A fully connected layer sees its input flattened (HWC order). */
    l->in_h = l->in_w = 1;
    l->in_c = features;
    l->out_h = l->out_w = 1;
    l->out_c = units;
    l->weight = add_tensor(m, (size_t)units * features);
    l->bias = add_tensor(m, (size_t)units);
}

static void add_conv(leash_model *m, int k, int channels)
{
    leash_layer *l = push_layer(m, LEASH_LAYER_CONV);
    l->k = k;
    l->out_h = l->in_h - k + 1;
    l->out_w = l->in_w - k + 1;
    l->out_c = channels;
    l->weight = add_tensor(m, (size_t)channels * k * k * l->in_c);
    l->bias = add_tensor(m, (size_t)channels);
}

static void add_pool(leash_model *m, int k)
{
    leash_layer *l = push_layer(m, LEASH_LAYER_MAXPOOL);
    l->k = k;
    l->out_h = l->in_h / k;
    l->out_w = l->in_w / k;
}

static void add_act(leash_model *m, leash_activation act)
{
    push_layer(m, act == LEASH_ACT_SIGMOID ? LEASH_LAYER_SIGMOID : LEASH_LAYER_RELU);
}

static int start(leash_model *m, int in_h, int in_w, int in_c, int nclasses)
{
    memset(m, 0, sizeof *m);
    if (in_h <= 0 || in_w <= 0 || in_c <= 0)
        return leash_fail(LEASH_EINVAL, "input shape %dx%dx%d is not positive", in_h, in_w, in_c);
    /* Layers index a sample's values with int: keep every per-sample size far below that. */
    if ((size_t)in_h * (size_t)in_w * (size_t)in_c > MAX_SAMPLE_VALUES)
        return leash_fail(LEASH_EINVAL, "input shape %dx%dx%d: more than %zu values per sample",
                          in_h, in_w, in_c, MAX_SAMPLE_VALUES);
    if (nclasses < 2) return leash_fail(LEASH_EINVAL, "%d classes: at least 2 needed", nclasses);
    m->in_h = in_h;
    m->in_w = in_w;
    m->in_c = in_c;
    m->nclasses = nclasses;
    return 0;
}

int leash_model_mlp(leash_model *m, int in_h, int in_w, int in_c, int nclasses, int hidden_layers,
                    int units, leash_activation act)
{
    int rc = start(m, in_h, in_w, in_c, nclasses);
    if (rc) return rc;
    /* Two layers per hidden layer plus the output layer must fit the layer table. */
    if (hidden_layers < 0 || hidden_layers > (LEASH_MAX_LAYERS - 1) / 2)
        return leash_fail(LEASH_EINVAL, "%d hidden layers: between 0 and %d supported",
                          hidden_layers, (LEASH_MAX_LAYERS - 1) / 2);
    if (units <= 0) return leash_fail(LEASH_EINVAL, "%d units per layer: must be positive", units);
    for (int i = 0; i < hidden_layers; ++i) {
        add_fc(m, units);
        add_act(m, act);
    }
    add_fc(m, nclasses);
    return 0;
}

/* conv k x k x c1 - relu - pool 2 - conv k x k x c2 - relu - pool 2 - fc hidden - relu - fc */
static int conv_net(leash_model *m, int in_h, int in_w, int in_c, int nclasses, int k, int c1,
                    int c2, int hidden)
{
    int rc = start(m, in_h, in_w, in_c, nclasses);
    if (rc) return rc;
    /* Each conv shrinks a side by k - 1 and each pool halves it; the last map must be >= 1. */
    int side = in_h < in_w ? in_h : in_w;
    if (((side - k + 1) / 2 - k + 1) / 2 < 1)
        return leash_fail(LEASH_EINVAL, "input %dx%d is too small for two %dx%d convolutions",
                          in_h, in_w, k, k);
    add_conv(m, k, c1);
    add_act(m, LEASH_ACT_RELU);
    add_pool(m, 2);
    add_conv(m, k, c2);
    add_act(m, LEASH_ACT_RELU);
    add_pool(m, 2);
    add_fc(m, hidden);
    add_act(m, LEASH_ACT_RELU);
    add_fc(m, nclasses);
    return 0;
}

int leash_model_cnn(leash_model *m, int in_h, int in_w, int in_c, int nclasses)
{
    return conv_net(m, in_h, in_w, in_c, nclasses, 3, 4, 8, 128);
}

int leash_model_lenet(leash_model *m, int in_h, int in_w, int in_c, int nclasses)
{
    return conv_net(m, in_h, in_w, in_c, nclasses, 5, 6, 16, 120);
}

int leash_model_build(leash_model *m, leash_arch arch, int in_h, int in_w, int in_c,
                      int nclasses, int hidden_layers, int units, leash_activation act)
{
    switch (arch) {
    case LEASH_ARCH_MLP:
        return leash_model_mlp(m, in_h, in_w, in_c, nclasses, hidden_layers, units, act);
    case LEASH_ARCH_CNN: return leash_model_cnn(m, in_h, in_w, in_c, nclasses);
    case LEASH_ARCH_LENET: return leash_model_lenet(m, in_h, in_w, in_c, nclasses);
    }
    return leash_fail(LEASH_EINVAL, "unknown architecture %d", (int)arch);
}

size_t leash_model_count_params(const leash_model *m)
{
    size_t n = 0;
    for (int t = 0; t < m->ntensors; ++t) n += m->tensor_size[t];
    return n;
}

void leash_model_init_params(const leash_model *m, float *params, leash_init init, uint64_t seed)
{
    leash_rng rng;
    leash_rng_seed(&rng, seed);
    memset(params, 0, m->nparams * sizeof *params);
    for (int i = 0; i < m->nlayers; ++i) {
        const leash_layer *l = &m->layers[i];
        if (l->weight < 0) continue;
        int kk = l->kind == LEASH_LAYER_CONV ? l->k * l->k : 1;
        double fan_in = (double)kk * l->in_c, fan_out = (double)kk * l->out_c;
        float *w = params + m->tensor_offset[l->weight];
        size_t n = m->tensor_size[l->weight];
        double scale = init == LEASH_INIT_HE       ? sqrt(2.0 / fan_in)
                       : init == LEASH_INIT_GLOROT ? sqrt(6.0 / (fan_in + fan_out))
                                                   : 0.01;
        for (size_t j = 0; j < n; ++j)
            w[j] = (float)(init == LEASH_INIT_GLOROT ? scale * (2.0 * leash_rng_uniform(&rng) - 1.0)
                                                     : scale * leash_rng_normal(&rng));
    }
}

/* ---- workspace -------------------------------------------------------------------- */

struct leash_workspace {
    int max_batch;
    float *input;
    int *labels;
    float *act[LEASH_MAX_LAYERS];  /* output of each layer */
    float *dact[LEASH_MAX_LAYERS]; /* gradient of the loss with respect to act */
    int32_t *argmax[LEASH_MAX_LAYERS];
    float *col;
    float *probs;
};

static size_t out_size(const leash_layer *l) { return (size_t)l->out_h * l->out_w * l->out_c; }

/* Layer runs that forward and backward take as one block, to spare passes over memory:
 * conv - relu - maxpool folds the conv bias and the ReLU into the pooling pass (the
 * ReLU's activations are never stored), fc - relu folds the fc bias into the ReLU and
 * runs it in place (the fc's output and its gradient share the ReLU's buffers: the
 * backward pass needs only the ReLU's output). */
typedef enum block_kind { BLOCK_ONE, BLOCK_CONV_RELU_POOL, BLOCK_FC_RELU } block_kind;

static block_kind block_at(const leash_model *m, int i)
{
    const leash_layer *l = m->layers;
    int left = m->nlayers - i;
    if (left >= 3 && l[i].kind == LEASH_LAYER_CONV && l[i + 1].kind == LEASH_LAYER_RELU &&
        l[i + 2].kind == LEASH_LAYER_MAXPOOL)
        return BLOCK_CONV_RELU_POOL;
    if (left >= 2 && l[i].kind == LEASH_LAYER_FC && l[i + 1].kind == LEASH_LAYER_RELU)
        return BLOCK_FC_RELU;
    return BLOCK_ONE;
}

static int block_len(block_kind k)
{
    return k == BLOCK_CONV_RELU_POOL ? 3 : k == BLOCK_FC_RELU ? 2 : 1;
}

/* Whether layer i's activations and their gradient have buffers of their own: all but
 * the ReLU of a block (a conv block never stores it, an fc block shares the fc's). */
static int stored(const leash_model *m, int i)
{
    return !(i >= 1 && block_at(m, i - 1) != BLOCK_ONE);
}

int leash_workspace_create(leash_workspace **out, const leash_model *m, int max_batch)
{
    *out = NULL;
    if (max_batch <= 0) return leash_fail(LEASH_EINVAL, "batch size %d is not positive", max_batch);
    leash_workspace *ws = calloc(1, sizeof *ws);
    if (!ws) return leash_fail(LEASH_ENOMEM, "workspace: out of memory");
    ws->max_batch = max_batch;
    size_t B = (size_t)max_batch, col = 0;
    int ok = (ws->input = leash_params_alloc(B * leash_model_input_size(m))) != NULL &&
             (ws->labels = calloc(B, sizeof *ws->labels)) != NULL &&
             (ws->probs = leash_params_alloc(B * (size_t)m->nclasses)) != NULL;
    for (int i = 0; ok && i < m->nlayers; ++i) {
        const leash_layer *l = &m->layers[i];
        size_t n = B * out_size(l);
        if (stored(m, i))
            ok = (ws->act[i] = leash_params_alloc(n)) != NULL &&
                 (ws->dact[i] = leash_params_alloc(n)) != NULL;
        else if (block_at(m, i - 1) == BLOCK_FC_RELU) {
            ws->act[i] = ws->act[i - 1];
            ws->dact[i] = ws->dact[i - 1];
        }
        if (ok && l->kind == LEASH_LAYER_MAXPOOL)
            ok = (ws->argmax[i] = calloc(n, sizeof(int32_t))) != NULL;
        if (l->kind == LEASH_LAYER_CONV) {
            size_t c = leash_conv_col_floats(max_batch, CONV_GEOM(l));
            col = c > col ? c : col;
        }
    }
    if (ok && col) ok = (ws->col = leash_params_alloc(col)) != NULL;
    if (!ok) {
        leash_workspace_destroy(ws);
        return leash_fail(LEASH_ENOMEM, "workspace for batch %d: out of memory", max_batch);
    }
    *out = ws;
    return 0;
}

size_t leash_workspace_bytes(const leash_model *m, int max_batch)
{
    /* The same buffers as leash_workspace_create, each rounded to its 64-byte blocks. */
    if (max_batch <= 0) return 0;
    size_t B = (size_t)max_batch, col = 0;
    size_t floats = (B * leash_model_input_size(m) + 15) / 16 * 16 +
                    (B * (size_t)m->nclasses + 15) / 16 * 16;
    size_t bytes = B * sizeof(int);
    for (int i = 0; i < m->nlayers; ++i) {
        const leash_layer *l = &m->layers[i];
        if (stored(m, i)) floats += 2 * ((B * out_size(l) + 15) / 16 * 16);
        if (l->kind == LEASH_LAYER_MAXPOOL) bytes += B * out_size(l) * sizeof(int32_t);
        if (l->kind == LEASH_LAYER_CONV) {
            size_t c = leash_conv_col_floats(max_batch, CONV_GEOM(l));
            col = c > col ? c : col;
        }
    }
    return bytes + (floats + (col + 15) / 16 * 16) * sizeof(float);
}

void leash_workspace_destroy(leash_workspace *ws)
{
    if (!ws) return;
    for (int i = 0; i < LEASH_MAX_LAYERS; ++i) {
        /* A shared buffer belongs to the layer before (see stored). */
        if (i == 0 || ws->act[i] != ws->act[i - 1]) leash_params_free(ws->act[i]);
        if (i == 0 || ws->dact[i] != ws->dact[i - 1]) leash_params_free(ws->dact[i]);
        free(ws->argmax[i]);
    }
    leash_params_free(ws->input);
    leash_params_free(ws->probs);
    leash_params_free(ws->col);
    free(ws->labels);
    free(ws);
}

float *leash_workspace_input(leash_workspace *ws) { return ws->input; }
int *leash_workspace_labels(leash_workspace *ws) { return ws->labels; }

static void forward(const leash_model *m, const float *params, leash_workspace *ws, int B)
{
    const float *in = ws->input;
    for (int i = 0; i < m->nlayers;) {
        const leash_layer *l = &m->layers[i];
        block_kind kind = block_at(m, i);
        float *out = ws->act[i];
        const float *w = l->weight >= 0 ? params + m->tensor_offset[l->weight] : NULL;
        const float *b = l->bias >= 0 ? params + m->tensor_offset[l->bias] : NULL;
        if (kind == BLOCK_CONV_RELU_POOL) {
            /* Chunk by chunk, so the pooling pass reads conv outputs still in cache. */
            const leash_layer *pool = &m->layers[i + 2];
            size_t isz = (size_t)l->in_h * l->in_w * l->in_c, osz = out_size(l);
            size_t psz = out_size(pool);
            int chunk = leash_conv_chunk_samples(B, CONV_GEOM(l));
            for (int s0 = 0; s0 < B; s0 += chunk) {
                int nb = B - s0 < chunk ? B - s0 : chunk;
                float *o = out + s0 * osz;
                leash_conv_forward(o, ws->col, in + s0 * isz, w, NULL, nb, CONV_GEOM(l));
                leash_relu_maxpool_forward(ws->act[i + 2] + s0 * psz, ws->argmax[i + 2] + s0 * psz,
                                           o, b, nb, l->out_h, l->out_w, l->out_c, pool->k);
            }
        } else if (kind == BLOCK_FC_RELU) {
            leash_fc_forward(out, in, w, NULL, B, l->in_c, l->out_c);
            leash_bias_relu_forward(out, out, b, B, l->out_c);
        } else {
            switch (l->kind) {
            case LEASH_LAYER_FC: leash_fc_forward(out, in, w, b, B, l->in_c, l->out_c); break;
            case LEASH_LAYER_CONV:
                leash_conv_forward(out, ws->col, in, w, b, B, CONV_GEOM(l));
                break;
            case LEASH_LAYER_MAXPOOL:
                leash_maxpool_forward(out, ws->argmax[i], in, B, l->in_h, l->in_w, l->in_c, l->k);
                break;
            case LEASH_LAYER_RELU: leash_relu_forward(out, in, (size_t)B * out_size(l)); break;
            case LEASH_LAYER_SIGMOID:
                leash_sigmoid_forward(out, in, (size_t)B * out_size(l));
                break;
            }
        }
        i += block_len(kind);
        in = ws->act[i - 1];
    }
}

void leash_model_evaluate(const leash_model *m, const float *params, leash_workspace *ws, int b,
                          double *loss_sum, long *correct)
{
    forward(m, params, ws, b);
    int K = m->nclasses;
    const float *logits = ws->act[m->nlayers - 1];
    *loss_sum += leash_softmax_xent_forward(ws->probs, logits, ws->labels, b, K);
    long hits = 0;
    for (int s = 0; s < b; ++s) {
        const float *z = logits + (size_t)s * K;
        int best = 0;
        for (int k = 1; k < K; ++k)
            if (z[k] > z[best]) best = k;
        hits += best == ws->labels[s];
    }
    *correct += hits;
}

float leash_model_gradient(const leash_model *m, const float *params, float *grads,
                           leash_workspace *ws, int B)
{
    forward(m, params, ws, B);
    int last = m->nlayers - 1, K = m->nclasses;
    double loss = leash_softmax_xent_forward(ws->probs, ws->act[last], ws->labels, B, K) / B;

    /* Parameter gradients accumulate (conv chunks, fused bias passes): start them at
     * zero. Activation gradients are written, not accumulated, so they need no clearing. */
    memset(grads, 0, m->nparams * sizeof *grads);
    leash_softmax_xent_backward(ws->dact[last], ws->probs, ws->labels, B, K);

    int first[LEASH_MAX_LAYERS], nblocks = 0;
    for (int i = 0; i <= last; i += block_len(block_at(m, i))) first[nblocks++] = i;
    while (nblocks-- > 0) {
        int i = first[nblocks];
        const leash_layer *l = &m->layers[i];
        block_kind kind = block_at(m, i);
        int top = i + block_len(kind) - 1; /* the block's last layer */
        const float *in = i ? ws->act[i - 1] : ws->input;
        float *din = i ? ws->dact[i - 1] : NULL;
        const float *w = l->weight >= 0 ? params + m->tensor_offset[l->weight] : NULL;
        float *dw = l->weight >= 0 ? grads + m->tensor_offset[l->weight] : NULL;
        float *db = l->bias >= 0 ? grads + m->tensor_offset[l->bias] : NULL;
        size_t n = (size_t)B * out_size(l);
        switch (kind) {
        case BLOCK_CONV_RELU_POOL: {
            /* The forward pass's chunks: argmax indices are relative to each chunk. */
            size_t isz = (size_t)l->in_h * l->in_w * l->in_c, osz = out_size(l);
            size_t psz = out_size(&m->layers[top]);
            int chunk = leash_conv_chunk_samples(B, CONV_GEOM(l));
            for (int s0 = 0; s0 < B; s0 += chunk) {
                int nb = B - s0 < chunk ? B - s0 : chunk;
                float *d = ws->dact[i] + s0 * osz;
                size_t p0 = s0 * psz;
                leash_relu_maxpool_backward(d, db, ws->dact[top] + p0, ws->act[top] + p0,
                                            ws->argmax[top] + p0, nb, l->out_h, l->out_w, l->out_c,
                                            m->layers[top].k);
                leash_conv_backward(din ? din + s0 * isz : NULL, dw, NULL, ws->col, d,
                                    in + s0 * isz, w, nb, CONV_GEOM(l));
            }
            break;
        }
        case BLOCK_FC_RELU:
            leash_relu_bias_backward(ws->dact[i], db, ws->dact[top], ws->act[top], B, l->out_c);
            leash_fc_backward(din, dw, NULL, ws->dact[i], in, w, B, l->in_c, l->out_c);
            break;
        case BLOCK_ONE:
            switch (l->kind) {
            case LEASH_LAYER_FC:
                leash_fc_backward(din, dw, db, ws->dact[i], in, w, B, l->in_c, l->out_c);
                break;
            case LEASH_LAYER_CONV:
                leash_conv_backward(din, dw, db, ws->col, ws->dact[i], in, w, B, CONV_GEOM(l));
                break;
            case LEASH_LAYER_MAXPOOL:
                if (din)
                    leash_maxpool_backward(din, ws->dact[i], ws->argmax[i], B, l->in_h, l->in_w,
                                           l->in_c, l->k);
                break;
            case LEASH_LAYER_RELU:
                if (din) leash_relu_backward(din, ws->dact[i], ws->act[i], n);
                break;
            case LEASH_LAYER_SIGMOID:
                if (din) leash_sigmoid_backward(din, ws->dact[i], ws->act[i], n);
                break;
            }
            break;
        }
    }
    return (float)loss;
}

int leash_model_gemm_shapes(const leash_model *m, int B, leash_gemm_shape *s, int max)
{
    int n = 0;
    for (int i = 0; i < m->nlayers; ++i) {
        const leash_layer *l = &m->layers[i];
        /* The head of a fused block runs without its bias (the pass above adds it). */
        int rc = 0, din = i > 0, bias = block_at(m, i) == BLOCK_ONE;
        if (l->kind == LEASH_LAYER_FC)
            rc = leash_fc_gemm_shapes(s + n, max - n, din, bias, B, l->in_c, l->out_c);
        else if (l->kind == LEASH_LAYER_CONV)
            rc = leash_conv_gemm_shapes(s + n, max - n, din, bias, B, CONV_GEOM(l));
        if (rc < 0) return rc;
        n += rc;
    }
    return n;
}
