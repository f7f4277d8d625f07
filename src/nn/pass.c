/* Forward and backward passes over a model, and the per-thread workspace they use. */
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "leash/nn.h"
#include "nn/layers_internal.h"

struct leash_workspace {
    int max_batch;
    int nlayers;
    float *input;
    int *labels;
    float **act;      /* output of each layer */
    float **dact;     /* gradient of the loss with respect to act */
    int32_t **argmax; /* max pooling's choices */
    int *block_first; /* the first layer of each block, in order */
    int nblocks;
    float *col;
    float *probs;
};

static size_t out_size(const leash_layer *l) { return (size_t)l->out_h * l->out_w * l->out_c; }

static leash_conv_geom conv_geom(const leash_layer *l)
{
    return (leash_conv_geom){.H = l->in_h, .W = l->in_w, .C = l->in_c, .OC = l->out_c, .K = l->k,
                             .stride = l->stride, .pad = l->pad};
}

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

/* Whether layer i is the second or third layer of a block (blocks are found greedily from
 * the input, as the passes walk them). */
static int inside_block(const leash_model *m, int i)
{
    for (int j = 0; j <= i;) {
        int len = block_len(block_at(m, j));
        if (i < j + len) return i != j;
        j += len;
    }
    return 0;
}

/* Whether layer i's activations and their gradient have buffers of their own: all but
 * the ReLU of a block (a conv block never stores it, an fc block shares the fc's). */
static int stored(const leash_model *m, int i)
{
    return !(i >= 1 && inside_block(m, i) && m->layers[i].kind == LEASH_LAYER_RELU);
}

/* The largest im2col scratch of any conv layer, in floats. */
static size_t col_floats(const leash_model *m, int max_batch)
{
    size_t col = 0;
    for (int i = 0; i < m->nlayers; ++i)
        if (m->layers[i].kind == LEASH_LAYER_CONV) {
            leash_conv_geom g = conv_geom(&m->layers[i]);
            size_t c = leash_conv_col_floats(max_batch, &g);
            col = c > col ? c : col;
        }
    return col;
}

static int alloc_tables(leash_workspace *ws, const leash_model *m)
{
    /* A built model has at least one layer. */
    size_t n = m->nlayers > 0 ? (size_t)m->nlayers : 1;
    ws->nlayers = m->nlayers;
    ws->act = calloc(n, sizeof *ws->act);
    ws->dact = calloc(n, sizeof *ws->dact);
    ws->argmax = calloc(n, sizeof *ws->argmax);
    ws->block_first = calloc(n, sizeof *ws->block_first);
    if (!ws->act || !ws->dact || !ws->argmax || !ws->block_first) return -1;
    for (int i = 0; i < m->nlayers; i += block_len(block_at(m, i)))
        ws->block_first[ws->nblocks++] = i;
    return 0;
}

static int alloc_layer(leash_workspace *ws, const leash_model *m, int i, size_t B)
{
    const leash_layer *l = &m->layers[i];
    size_t n = B * out_size(l);
    if (stored(m, i)) {
        if (!(ws->act[i] = leash_params_alloc(n)) || !(ws->dact[i] = leash_params_alloc(n)))
            return -1;
    } else if (m->layers[i - 1].kind == LEASH_LAYER_FC) {
        ws->act[i] = ws->act[i - 1];
        ws->dact[i] = ws->dact[i - 1];
    }
    if (l->kind == LEASH_LAYER_MAXPOOL && !(ws->argmax[i] = calloc(n, sizeof(int32_t))))
        return -1;
    return 0;
}

int leash_workspace_create(leash_workspace **out, const leash_model *m, int max_batch)
{
    *out = NULL;
    if (max_batch <= 0) return leash_fail(LEASH_EINVAL, "batch size %d is not positive", max_batch);
    leash_workspace *ws = calloc(1, sizeof *ws);
    if (!ws) return leash_fail(LEASH_ENOMEM, "workspace: out of memory");
    ws->max_batch = max_batch;
    size_t B = (size_t)max_batch, col = col_floats(m, max_batch);
    int ok = alloc_tables(ws, m) == 0 &&
             (ws->input = leash_params_alloc(B * leash_model_input_size(m))) != NULL &&
             (ws->labels = calloc(B, sizeof *ws->labels)) != NULL &&
             (ws->probs = leash_params_alloc(B * (size_t)m->nclasses)) != NULL;
    for (int i = 0; ok && i < m->nlayers; ++i) ok = alloc_layer(ws, m, i, B) == 0;
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
    size_t B = (size_t)max_batch, col = col_floats(m, max_batch);
    size_t floats = (B * leash_model_input_size(m) + 15) / 16 * 16 +
                    (B * (size_t)m->nclasses + 15) / 16 * 16;
    size_t bytes = B * sizeof(int) + (size_t)m->nlayers * (3 * sizeof(void *) + sizeof(int));
    for (int i = 0; i < m->nlayers; ++i) {
        const leash_layer *l = &m->layers[i];
        if (stored(m, i)) floats += 2 * ((B * out_size(l) + 15) / 16 * 16);
        if (l->kind == LEASH_LAYER_MAXPOOL) bytes += B * out_size(l) * sizeof(int32_t);
    }
    return bytes + (floats + (col + 15) / 16 * 16) * sizeof(float);
}

void leash_workspace_destroy(leash_workspace *ws)
{
    if (!ws) return;
    for (int i = 0; ws->act && i < ws->nlayers; ++i) {
        /* A shared buffer belongs to the layer before (see stored). */
        if (i == 0 || ws->act[i] != ws->act[i - 1]) leash_params_free(ws->act[i]);
        if (i == 0 || ws->dact[i] != ws->dact[i - 1]) leash_params_free(ws->dact[i]);
        free(ws->argmax[i]);
    }
    free(ws->act);
    free(ws->dact);
    free(ws->argmax);
    free(ws->block_first);
    leash_params_free(ws->input);
    leash_params_free(ws->probs);
    leash_params_free(ws->col);
    free(ws->labels);
    free(ws);
}

float *leash_workspace_input(leash_workspace *ws) { return ws->input; }
int *leash_workspace_labels(leash_workspace *ws) { return ws->labels; }

/* What a block's pass reads and writes: its first layer, that layer's input and
 * parameters, and (backward) their gradients. */
typedef struct block_io {
    int i;
    const leash_layer *l;
    const float *in;
    const float *w, *b;
    float *din, *dw, *db; /* backward only */
} block_io;

static block_io block_io_at(const leash_model *m, const float *params, float *grads,
                            const leash_workspace *ws, int i)
{
    const leash_layer *l = &m->layers[i];
    block_io io = {.i = i, .l = l, .in = i ? ws->act[i - 1] : ws->input};
    io.w = l->weight >= 0 ? params + m->tensor_offset[l->weight] : NULL;
    io.b = l->bias >= 0 ? params + m->tensor_offset[l->bias] : NULL;
    if (grads) {
        io.din = i ? ws->dact[i - 1] : NULL;
        io.dw = l->weight >= 0 ? grads + m->tensor_offset[l->weight] : NULL;
        io.db = l->bias >= 0 ? grads + m->tensor_offset[l->bias] : NULL;
    }
    return io;
}

/* conv - relu - maxpool chunk by chunk, so the pooling pass reads conv outputs still in
 * cache; argmax indices are relative to each chunk. */
static void conv_block_forward(const leash_model *m, leash_workspace *ws, const block_io *io, int B)
{
    const leash_layer *l = io->l, *pool = &m->layers[io->i + 2];
    leash_conv_geom g = conv_geom(l);
    size_t isz = (size_t)l->in_h * l->in_w * l->in_c, osz = out_size(l), psz = out_size(pool);
    int chunk = leash_conv_chunk_samples(B, &g);
    for (int s0 = 0; s0 < B; s0 += chunk) {
        int nb = B - s0 < chunk ? B - s0 : chunk;
        float *o = ws->act[io->i] + s0 * osz;
        leash_conv_forward(o, ws->col, io->in + s0 * isz, io->w, NULL, nb, &g);
        leash_relu_maxpool_forward(ws->act[io->i + 2] + s0 * psz, ws->argmax[io->i + 2] + s0 * psz,
                                   o, io->b, nb, l->out_h, l->out_w, l->out_c, pool->k);
    }
}

static void layer_forward(leash_workspace *ws, const block_io *io, int B)
{
    const leash_layer *l = io->l;
    float *out = ws->act[io->i];
    size_t n = (size_t)B * out_size(l);
    leash_conv_geom g = conv_geom(l);
    switch (l->kind) {
    case LEASH_LAYER_FC: leash_fc_forward(out, io->in, io->w, io->b, B, l->in_c, l->out_c); break;
    case LEASH_LAYER_CONV: leash_conv_forward(out, ws->col, io->in, io->w, io->b, B, &g); break;
    case LEASH_LAYER_MAXPOOL:
        leash_maxpool_forward(out, ws->argmax[io->i], io->in, B, l->in_h, l->in_w, l->in_c, l->k);
        break;
    case LEASH_LAYER_AVGPOOL:
        leash_avgpool_forward(out, io->in, B, l->in_h, l->in_w, l->in_c, l->k);
        break;
    case LEASH_LAYER_RELU: leash_relu_forward(out, io->in, n); break;
    case LEASH_LAYER_SIGMOID: leash_sigmoid_forward(out, io->in, n); break;
    case LEASH_LAYER_TANH: leash_tanh_forward(out, io->in, n); break;
    }
}

static void forward(const leash_model *m, const float *params, leash_workspace *ws, int B)
{
    for (int k = 0; k < ws->nblocks; ++k) {
        block_io io = block_io_at(m, params, NULL, ws, ws->block_first[k]);
        switch (block_at(m, io.i)) {
        case BLOCK_CONV_RELU_POOL: conv_block_forward(m, ws, &io, B); break;
        case BLOCK_FC_RELU: {
            float *out = ws->act[io.i];
            leash_fc_forward(out, io.in, io.w, NULL, B, io.l->in_c, io.l->out_c);
            leash_bias_relu_forward(out, out, io.b, B, io.l->out_c);
            break;
        }
        case BLOCK_ONE: layer_forward(ws, &io, B); break;
        }
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

/* The forward pass's chunks, backward: each chunk's pooling pass then its conv. */
static void conv_block_backward(const leash_model *m, leash_workspace *ws, const block_io *io,
                                int B)
{
    const leash_layer *l = io->l;
    int top = io->i + 2;
    leash_conv_geom g = conv_geom(l);
    size_t isz = (size_t)l->in_h * l->in_w * l->in_c, osz = out_size(l);
    size_t psz = out_size(&m->layers[top]);
    int chunk = leash_conv_chunk_samples(B, &g);
    for (int s0 = 0; s0 < B; s0 += chunk) {
        int nb = B - s0 < chunk ? B - s0 : chunk;
        float *d = ws->dact[io->i] + s0 * osz;
        size_t p0 = s0 * psz;
        leash_relu_maxpool_backward(d, io->db, ws->dact[top] + p0, ws->act[top] + p0,
                                    ws->argmax[top] + p0, nb, l->out_h, l->out_w, l->out_c,
                                    m->layers[top].k);
        leash_conv_backward(io->din ? io->din + s0 * isz : NULL, io->dw, NULL, ws->col, d,
                            io->in + s0 * isz, io->w, nb, &g);
    }
}

static void layer_backward(leash_workspace *ws, const block_io *io, int B)
{
    const leash_layer *l = io->l;
    const float *dout = ws->dact[io->i], *out = ws->act[io->i];
    size_t n = (size_t)B * out_size(l);
    leash_conv_geom g = conv_geom(l);
    if (l->kind == LEASH_LAYER_FC)
        leash_fc_backward(io->din, io->dw, io->db, dout, io->in, io->w, B, l->in_c, l->out_c);
    else if (l->kind == LEASH_LAYER_CONV)
        leash_conv_backward(io->din, io->dw, io->db, ws->col, dout, io->in, io->w, B, &g);
    else if (!io->din)
        return; /* the first layer's input needs no gradient */
    switch (l->kind) {
    case LEASH_LAYER_MAXPOOL:
        leash_maxpool_backward(io->din, dout, ws->argmax[io->i], B, l->in_h, l->in_w, l->in_c,
                               l->k);
        break;
    case LEASH_LAYER_AVGPOOL:
        leash_avgpool_backward(io->din, dout, B, l->in_h, l->in_w, l->in_c, l->k);
        break;
    case LEASH_LAYER_RELU: leash_relu_backward(io->din, dout, out, n); break;
    case LEASH_LAYER_SIGMOID: leash_sigmoid_backward(io->din, dout, out, n); break;
    case LEASH_LAYER_TANH: leash_tanh_backward(io->din, dout, out, n); break;
    default: break;
    }
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
    for (int k = ws->nblocks - 1; k >= 0; --k) {
        block_io io = block_io_at(m, params, grads, ws, ws->block_first[k]);
        switch (block_at(m, io.i)) {
        case BLOCK_CONV_RELU_POOL: conv_block_backward(m, ws, &io, B); break;
        case BLOCK_FC_RELU:
            leash_relu_bias_backward(ws->dact[io.i], io.db, ws->dact[io.i + 1],
                                     ws->act[io.i + 1], B, io.l->out_c);
            leash_fc_backward(io.din, io.dw, NULL, ws->dact[io.i], io.in, io.w, B, io.l->in_c,
                              io.l->out_c);
            break;
        case BLOCK_ONE: layer_backward(ws, &io, B); break;
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
        leash_conv_geom g = conv_geom(l);
        if (l->kind == LEASH_LAYER_FC)
            rc = leash_fc_gemm_shapes(s + n, max - n, din, bias, B, l->in_c, l->out_c);
        else if (l->kind == LEASH_LAYER_CONV)
            rc = leash_conv_gemm_shapes(s + n, max - n, din, bias, B, &g);
        if (rc < 0) return rc;
        n += rc;
    }
    return n;
}
