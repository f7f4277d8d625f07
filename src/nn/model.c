/* Models from layer lists: shapes, checks and the sizes table (nn.h). The passes over a
 * model are in pass.c. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "leash/nn.h"
#include "leash/rng.h"
#include "nn/spec_internal.h"

#define FLOATS_PER_LINE 16
/* Layers index a sample's values with int: keep every per-sample size far below that. */
#define MAX_SAMPLE_VALUES ((size_t)1 << 24)

static void add_tensor(leash_model *m, int *index, size_t n)
{
    int t = *index = m->ntensors++;
    m->tensor_size[t] = n;
    m->tensor_offset[t] = m->nparams;
    m->nparams += (n + FLOATS_PER_LINE - 1) / FLOATS_PER_LINE * FLOATS_PER_LINE;
}

/* Checking one layer against the shape it receives: errors name it as the user wrote it. */
typedef struct layer_check {
    const leash_layer_spec *spec;
    int pos;
} layer_check;

static int layer_fail(const layer_check *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int layer_fail(const layer_check *c, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return leash_fail(LEASH_EINVAL, "layer %d '%.*s': %s", c->pos, (int)c->spec->text_len,
                      c->spec->text, what);
}

/* The output side of a window of side k moved by stride over side + 2 pad values. */
static int window_out(int side, int k, int stride, int pad)
{
    return (side + 2 * pad - k) / stride + 1;
}

static int shape_conv(leash_layer *l, const layer_check *c)
{
    const leash_layer_spec *s = c->spec;
    if (s->k > l->in_h + 2 * s->pad || s->k > l->in_w + 2 * s->pad)
        return layer_fail(c, "its %dx%d kernel is larger than its %dx%dx%d input%s", s->k, s->k,
                          l->in_h, l->in_w, l->in_c, s->pad ? " with its padding" : "");
    l->k = s->k;
    l->stride = s->stride;
    l->pad = s->pad;
    l->out_h = window_out(l->in_h, s->k, s->stride, s->pad);
    l->out_w = window_out(l->in_w, s->k, s->stride, s->pad);
    l->out_c = s->size;
    return 0;
}

static int shape_pool(leash_layer *l, const layer_check *c)
{
    const leash_layer_spec *s = c->spec;
    if (s->k > l->in_h || s->k > l->in_w)
        return layer_fail(c, "its %dx%d window is larger than its %dx%dx%d input", s->k, s->k,
                          l->in_h, l->in_w, l->in_c);
    l->k = s->k;
    l->out_h = l->in_h / s->k;
    l->out_w = l->in_w / s->k;
    return 0;
}

static int shape_fc(leash_layer *l, const layer_check *c, int nclasses)
{
    /* A fully connected layer sees its input flattened (HWC order). */
    l->in_c = l->in_h * l->in_w * l->in_c;
    l->in_h = l->in_w = l->out_h = l->out_w = 1;
    l->out_c = c->spec->size ? c->spec->size : nclasses;
    return 0;
}

/* Layer i's shapes from the layer before (or the input), checked; then its tensors. */
static int add_layer(leash_model *m, int i, const leash_layer_spec *s)
{
    leash_layer *l = &m->layers[i];
    const leash_layer *prev = i ? &m->layers[i - 1] : NULL;
    layer_check c = {s, i + 1};
    memset(l, 0, sizeof *l);
    l->kind = s->kind;
    l->in_h = l->out_h = prev ? prev->out_h : m->in_h;
    l->in_w = l->out_w = prev ? prev->out_w : m->in_w;
    l->in_c = l->out_c = prev ? prev->out_c : m->in_c;
    l->stride = 1;
    l->weight = l->bias = -1;
    int rc = s->kind == LEASH_LAYER_CONV ? shape_conv(l, &c)
             : s->kind == LEASH_LAYER_MAXPOOL || s->kind == LEASH_LAYER_AVGPOOL ? shape_pool(l, &c)
             : s->kind == LEASH_LAYER_FC ? shape_fc(l, &c, m->nclasses)
                                         : 0;
    if (rc) return rc;
    size_t out = (size_t)l->out_h * l->out_w * l->out_c;
    if (out > MAX_SAMPLE_VALUES)
        return layer_fail(&c, "its %dx%dx%d output is more than %zu values per sample", l->out_h,
                          l->out_w, l->out_c, MAX_SAMPLE_VALUES);
    if (s->kind == LEASH_LAYER_CONV || s->kind == LEASH_LAYER_FC) {
        size_t taps = s->kind == LEASH_LAYER_CONV ? (size_t)l->k * l->k : 1;
        add_tensor(m, &l->weight, (size_t)l->out_c * taps * l->in_c);
        add_tensor(m, &l->bias, (size_t)l->out_c);
    }
    return 0;
}

static int start(leash_model *m, int in_h, int in_w, int in_c, int nclasses, int nlayers)
{
    memset(m, 0, sizeof *m);
    if (in_h <= 0 || in_w <= 0 || in_c <= 0)
        return leash_fail(LEASH_EINVAL, "input shape %dx%dx%d is not positive", in_h, in_w, in_c);
    if ((size_t)in_h * (size_t)in_w * (size_t)in_c > MAX_SAMPLE_VALUES)
        return leash_fail(LEASH_EINVAL, "input shape %dx%dx%d: more than %zu values per sample",
                          in_h, in_w, in_c, MAX_SAMPLE_VALUES);
    if (nclasses < 2) return leash_fail(LEASH_EINVAL, "%d classes: at least 2 needed", nclasses);
    m->in_h = in_h;
    m->in_w = in_w;
    m->in_c = in_c;
    m->nclasses = nclasses;
    /* At most two tensors a layer. */
    m->layers = calloc((size_t)nlayers, sizeof *m->layers);
    m->tensor_size = calloc(2 * (size_t)nlayers, sizeof *m->tensor_size);
    m->tensor_offset = calloc(2 * (size_t)nlayers, sizeof *m->tensor_offset);
    if (!m->layers || !m->tensor_size || !m->tensor_offset)
        return leash_fail(LEASH_ENOMEM, "model of %d layers: out of memory", nlayers);
    return 0;
}

static int check_output(const leash_model *m, const leash_layer_spec *s)
{
    const leash_layer *l = &m->layers[m->nlayers - 1];
    size_t out = (size_t)l->out_h * l->out_w * l->out_c;
    if (out == (size_t)m->nclasses) return 0;
    layer_check c = {s, m->nlayers};
    return layer_fail(&c, "the last layer gives %zu outputs (%dx%dx%d), the data has %d classes",
                      out, l->out_h, l->out_w, l->out_c, m->nclasses);
}

static int build(leash_model *m, const char *text, int in_h, int in_w, int in_c, int nclasses)
{
    leash_layer_spec *s;
    int n, rc = leash_layers_parse(text, &s, &n);
    if (rc) return rc;
    rc = start(m, in_h, in_w, in_c, nclasses, n);
    for (int i = 0; !rc && i < n; ++i) {
        rc = add_layer(m, i, &s[i]);
        m->nlayers = i + 1;
    }
    if (!rc) rc = check_output(m, &s[n - 1]);
    free(s);
    return rc;
}

/* The model of arch's layer list; errors quote the tokens as arch wrote them. */
static int build_arch(leash_model *m, const char *arch, int in_h, int in_w, int in_c,
                      int nclasses, int hidden_layers, int units, leash_activation act)
{
    char *canonical;
    memset(m, 0, sizeof *m);
    int rc = leash_arch_layers(arch, hidden_layers, units, act, &canonical);
    if (rc) return rc;
    rc = build(m, leash_arch_preset(arch ? arch : "MLP") ? canonical : arch, in_h, in_w, in_c,
               nclasses);
    if (rc) {
        free(canonical);
        leash_model_free(m);
        return rc;
    }
    m->layers_text = canonical;
    return 0;
}

int leash_model_from_layers(leash_model *m, const char *layers, int in_h, int in_w, int in_c,
                            int nclasses)
{
    memset(m, 0, sizeof *m);
    if (leash_arch_preset(layers))
        return leash_fail(LEASH_EINVAL, "'%s' is a preset, not a layer list", layers);
    return build_arch(m, layers, in_h, in_w, in_c, nclasses, 0, 1, LEASH_ACT_RELU);
}

int leash_model_build(leash_model *m, const char *arch, int in_h, int in_w, int in_c,
                      int nclasses, int hidden_layers, int units, leash_activation act)
{
    return build_arch(m, arch, in_h, in_w, in_c, nclasses, hidden_layers, units, act);
}

void leash_model_free(leash_model *m)
{
    free(m->layers);
    free(m->tensor_size);
    free(m->tensor_offset);
    free(m->layers_text);
    memset(m, 0, sizeof *m);
}

int leash_model_mlp(leash_model *m, int in_h, int in_w, int in_c, int nclasses, int hidden_layers,
                    int units, leash_activation act)
{
    return leash_model_build(m, "MLP", in_h, in_w, in_c, nclasses, hidden_layers, units, act);
}

int leash_model_cnn(leash_model *m, int in_h, int in_w, int in_c, int nclasses)
{
    return leash_model_build(m, "CNN", in_h, in_w, in_c, nclasses, 0, 1, LEASH_ACT_RELU);
}

int leash_model_lenet(leash_model *m, int in_h, int in_w, int in_c, int nclasses)
{
    return leash_model_build(m, "LENET", in_h, in_w, in_c, nclasses, 0, 1, LEASH_ACT_RELU);
}

int leash_layer_token(const leash_layer *l, char *buf, size_t size)
{
    leash_layer_spec s = {.kind = l->kind, .k = l->k, .stride = l->stride, .pad = l->pad};
    s.size = l->kind == LEASH_LAYER_CONV || l->kind == LEASH_LAYER_FC ? l->out_c : 0;
    return leash_layer_spec_format(&s, buf, size);
}

size_t leash_layer_count_params(const leash_model *m, int i)
{
    const leash_layer *l = &m->layers[i];
    size_t n = 0;
    if (l->weight >= 0) n += m->tensor_size[l->weight];
    if (l->bias >= 0) n += m->tensor_size[l->bias];
    return n;
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

