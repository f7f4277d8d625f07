/* The layer-list language of -A (doc/design.md, "Architectures"): parsing, the
 * canonical text, and the presets, which are layer lists defined here and nowhere else. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error_internal.h"
#include "nn/spec_internal.h"

/* Bounds far beyond any network that fits in memory, so that products of them cannot
 * overflow a size_t (the model checks what they multiply to). */
enum { MAX_WIDTH = 1 << 24, MAX_SIDE = 1 << 12, MAX_HIDDEN = 1 << 16 };

typedef struct layer_name {
    const char *name;
    leash_layer_kind kind;
} layer_name;

static const layer_name layer_names[] = {
    {"fc", LEASH_LAYER_FC},           {"conv", LEASH_LAYER_CONV},
    {"maxpool", LEASH_LAYER_MAXPOOL}, {"avgpool", LEASH_LAYER_AVGPOOL},
    {"relu", LEASH_LAYER_RELU},       {"sigmoid", LEASH_LAYER_SIGMOID},
    {"tanh", LEASH_LAYER_TANH},
};
enum { NLAYER_NAMES = sizeof layer_names / sizeof layer_names[0] };

/* The presets, as X(NAME, LAYERS): MLP's layers (NULL) are made from -L, -U and
 * --activation (mlp_layers), the others' are fixed lists. */
#define PRESETS(X)                                                                  \
    X("MLP", NULL)                                                                  \
    X("CNN", "conv:4:3,relu,maxpool:2,conv:8:3,relu,maxpool:2,fc:128,relu,fc")      \
    X("LENET", "conv:6:5,relu,maxpool:2,conv:16:5,relu,maxpool:2,fc:120,relu,fc")

#define PRESET_NAME(NAME, LAYERS) NAME,
#define PRESET_LAYERS(NAME, LAYERS) LAYERS,
static const char *const preset_names[] = {PRESETS(PRESET_NAME)};
static const char *const preset_layers[] = {PRESETS(PRESET_LAYERS)};
const leash_names leash_preset_names = {
    "preset", preset_names, (int)(sizeof preset_names / sizeof *preset_names)};

const char *leash_layer_kind_name(leash_layer_kind k)
{
    for (int i = 0; i < NLAYER_NAMES; ++i)
        if (layer_names[i].kind == k) return layer_names[i].name;
    return "?";
}

const char *leash_arch_preset(const char *arch)
{
    const int p = arch ? leash_names_find(&leash_preset_names, arch) : -1;
    return p >= 0 ? preset_names[p] : NULL;
}

/* A decimal number in [min, max] with nothing else in text[0..len). */
static int parse_number(const char *text, size_t len, long min, long max, int *out)
{
    if (len == 0 || len > 9) return -1;
    long v = 0;
    for (size_t i = 0; i < len; ++i) {
        if (!isdigit((unsigned char)text[i])) return -1;
        v = v * 10 + (text[i] - '0');
    }
    if (v < min || v > max) return -1;
    *out = (int)v;
    return 0;
}

/* The fields of a token after its kind, split at ':'. */
enum { MAX_FIELDS = 5 };
typedef struct fields {
    int n;
    const char *at[MAX_FIELDS];
    size_t len[MAX_FIELDS];
} fields;

static int split_fields(const char *text, size_t len, fields *f)
{
    f->n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; ++i)
        if (i == len || text[i] == ':') {
            if (f->n == MAX_FIELDS) return -1;
            f->at[f->n] = text + start;
            f->len[f->n++] = i - start;
            start = i + 1;
        }
    return 0;
}

static int token_fail(int pos, const char *text, size_t len, const char *what)
{
    return leash_fail(LEASH_EINVAL, "layer %d '%.*s': %s", pos, (int)len, text, what);
}

/* conv:C:K, then :sS and :pP in either order, each at most once. */
static int parse_conv(leash_layer_spec *s, const fields *f, int pos, const char *text, size_t len)
{
    static const char *usage = "expected conv:C:K with optional :sS (stride) and :pP (padding)";
    if (f->n < 3 || parse_number(f->at[1], f->len[1], 1, MAX_WIDTH, &s->size) ||
        parse_number(f->at[2], f->len[2], 1, MAX_SIDE, &s->k))
        return token_fail(pos, text, len, usage);
    int seen_s = 0, seen_p = 0;
    for (int i = 3; i < f->n; ++i) {
        char tag = f->len[i] ? f->at[i][0] : '\0';
        int *seen = tag == 's' ? &seen_s : tag == 'p' ? &seen_p : NULL;
        int *value = tag == 's' ? &s->stride : &s->pad;
        if (!seen || *seen ||
            parse_number(f->at[i] + 1, f->len[i] - 1, tag == 's', MAX_SIDE, value))
            return token_fail(pos, text, len, usage);
        *seen = 1;
    }
    if (s->pad >= s->k)
        return token_fail(pos, text, len, "its padding must be smaller than its kernel");
    return 0;
}

static int parse_token(leash_layer_spec *s, int pos, const char *text, size_t len, int last)
{
    fields f;
    memset(s, 0, sizeof *s);
    s->stride = 1;
    s->text = text;
    s->text_len = len;
    if (len == 0) return token_fail(pos, text, len, "empty (two commas in a row?)");
    int i = 0;
    if (split_fields(text, len, &f) == 0)
        for (; i < NLAYER_NAMES; ++i)
            if (strlen(layer_names[i].name) == f.len[0] &&
                strncasecmp(layer_names[i].name, f.at[0], f.len[0]) == 0)
                break;
    if (i == NLAYER_NAMES)
        return token_fail(pos, text, len,
                          "unknown layer (expected conv:C:K[:sS][:pP], maxpool:K, avgpool:K, "
                          "fc:N, fc, relu, sigmoid or tanh)");
    s->kind = layer_names[i].kind;
    switch (s->kind) {
    case LEASH_LAYER_CONV: return parse_conv(s, &f, pos, text, len);
    case LEASH_LAYER_MAXPOOL:
    case LEASH_LAYER_AVGPOOL:
        if (f.n != 2 || parse_number(f.at[1], f.len[1], 1, MAX_SIDE, &s->k))
            return token_fail(pos, text, len, "expected maxpool:K or avgpool:K (K x K windows)");
        return 0;
    case LEASH_LAYER_FC:
        if (f.n == 1 && !last)
            return token_fail(pos, text, len,
                              "'fc' without a size is the last layer only (fc:N elsewhere)");
        if (f.n > 2 || (f.n == 2 && parse_number(f.at[1], f.len[1], 1, MAX_WIDTH, &s->size)))
            return token_fail(pos, text, len, "expected fc:N (N outputs) or fc (last layer)");
        return 0;
    default:
        if (f.n != 1) return token_fail(pos, text, len, "takes no parameters");
        return 0;
    }
}

int leash_layers_parse(const char *text, leash_layer_spec **out, int *count)
{
    *out = NULL;
    *count = 0;
    int n = 1;
    for (const char *p = text; *p; ++p) n += *p == ',';
    leash_layer_spec *s = calloc((size_t)n, sizeof *s);
    if (!s) return leash_fail(LEASH_ENOMEM, "layer list: out of memory");
    const char *start = text;
    for (int i = 0; i < n; ++i) {
        const char *end = strchr(start, ',');
        size_t len = end ? (size_t)(end - start) : strlen(start);
        /* "conv:8:3, relu" as a shell user may quote it: spaces around a token are no
         * part of it. */
        const char *tok = start;
        size_t tlen = len;
        while (tlen && isspace((unsigned char)*tok)) ++tok, --tlen;
        while (tlen && isspace((unsigned char)tok[tlen - 1])) --tlen;
        int rc = parse_token(&s[i], i + 1, tok, tlen, i + 1 == n);
        if (rc) {
            free(s);
            return rc;
        }
        start += len + 1;
    }
    *out = s;
    *count = n;
    return 0;
}

int leash_layer_spec_format(const leash_layer_spec *s, char *buf, size_t size)
{
    const char *name = leash_layer_kind_name(s->kind);
    switch (s->kind) {
    case LEASH_LAYER_CONV: {
        int n = snprintf(buf, size, "conv:%d:%d", s->size, s->k);
        if (s->stride != 1 && n >= 0 && (size_t)n < size)
            n += snprintf(buf + n, size - (size_t)n, ":s%d", s->stride);
        if (s->pad && n >= 0 && (size_t)n < size)
            n += snprintf(buf + n, size - (size_t)n, ":p%d", s->pad);
        return n;
    }
    case LEASH_LAYER_MAXPOOL:
    case LEASH_LAYER_AVGPOOL: return snprintf(buf, size, "%s:%d", name, s->k);
    case LEASH_LAYER_FC:
        return s->size ? snprintf(buf, size, "fc:%d", s->size) : snprintf(buf, size, "fc");
    default: return snprintf(buf, size, "%s", name);
    }
}

/* The canonical text of a parsed list: tokens lowercase, s1 and p0 left out. */
static int format_list(const leash_layer_spec *s, int n, char **out)
{
    enum { TOKEN_MAX = 48 }; /* "conv:16777216:4096:s4096:p4095" and more */
    char *text = malloc((size_t)n * TOKEN_MAX + 1), *p = text;
    if (!text) return leash_fail(LEASH_ENOMEM, "layer list: out of memory");
    for (int i = 0; i < n; ++i) {
        if (i) *p++ = ',';
        p += leash_layer_spec_format(&s[i], p, TOKEN_MAX);
    }
    *p = '\0';
    *out = text;
    return 0;
}

static int mlp_layers(int hidden_layers, int units, leash_activation act, char **out)
{
    if (hidden_layers < 0 || hidden_layers > MAX_HIDDEN)
        return leash_fail(LEASH_EINVAL, "%d hidden layers: between 0 and %d supported",
                          hidden_layers, MAX_HIDDEN);
    if (units <= 0 || units > MAX_WIDTH)
        return leash_fail(LEASH_EINVAL, "%d units per layer: between 1 and %d supported", units,
                          MAX_WIDTH);
    const char *name = act == LEASH_ACT_SIGMOID ? "sigmoid" : act == LEASH_ACT_TANH ? "tanh"
                                                                                   : "relu";
    size_t each = 32;
    char *text = malloc((size_t)hidden_layers * each + 3), *p = text;
    if (!text) return leash_fail(LEASH_ENOMEM, "layer list: out of memory");
    for (int i = 0; i < hidden_layers; ++i) p += sprintf(p, "fc:%d,%s,", units, name);
    strcpy(p, "fc");
    *out = text;
    return 0;
}

int leash_arch_layers(const char *arch, int hidden_layers, int units, leash_activation act,
                      char **layers)
{
    *layers = NULL;
    const int p = leash_names_find(&leash_preset_names, arch ? arch : "MLP");
    if (p >= 0 && !preset_layers[p]) return mlp_layers(hidden_layers, units, act, layers);
    if (p >= 0) arch = preset_layers[p];
    leash_layer_spec *s;
    int n, rc = leash_layers_parse(arch, &s, &n);
    if (rc) {
        /* A single word that is no layer was most likely meant as a preset. */
        if (!strchr(arch, ',') && !strchr(arch, ':') &&
            strstr(leash_last_error(), "unknown layer")) {
            char presets[128];
            leash_names_list(&leash_preset_names, presets, sizeof presets);
            return leash_fail(LEASH_EINVAL, "'%s': neither a preset (%s) nor a layer list", arch,
                              presets);
        }
        return rc;
    }
    rc = format_list(s, n, layers);
    free(s);
    return rc;
}
