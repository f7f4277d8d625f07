/* -A against -D's input before any data is loaded: the check every run makes, and
 * --describe's table. */
#include <stdio.h>
#include <string.h>

#include "cli/describe.h"
#include "core/error_internal.h"

int leash_cli_input_shape(const leash_options *o, leash_input_shape *s)
{
    memset(s, 0, sizeof *s);
    s->nclasses = 10;
    switch (o->dataset) {
    case LEASH_DATA_MNIST:
    case LEASH_DATA_FASHION_MNIST:
    case LEASH_DATA_SYNTH: s->h = s->w = 28, s->c = 1; return 0;
    case LEASH_DATA_CIFAR10: s->h = s->w = 32, s->c = 3; return 0;
    case LEASH_DATA_NPZ: {
        /* The classes come from the labels' values: unknown until they are read. */
        leash_npz_info info;
        int rc = leash_npz_probe(&info, o->data_file);
        s->h = info.h, s->w = info.w, s->c = info.c;
        s->nclasses = o->classes;
        s->is_float = info.is_float;
        return rc;
    }
    }
    return leash_fail(LEASH_EINVAL, "-D: unknown dataset %d", (int)o->dataset);
}

/* The model of -A for shape s; errors name -A. Unknown classes (0): any count the last
 * layer gives is taken. */
static int build(leash_model *m, const leash_options *o, const leash_input_shape *s)
{
    int rc = leash_model_from_layers(m, o->layers, s->h, s->w, s->c, s->nclasses ? s->nclasses : 2);
    if (rc == LEASH_EINVAL && !s->nclasses && strstr(leash_last_error(), "the last layer gives")) {
        rc = 0;
    } else if (rc == LEASH_EINVAL) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", leash_last_error());
        rc = leash_fail(rc, "-A: %s", msg);
    }
    return rc;
}

static int check_shape(const leash_options *o, const leash_input_shape *s)
{
    leash_model m;
    int rc = build(&m, o, s);
    leash_model_free(&m);
    if (!rc && s->is_float && o->input_scale == LEASH_SCALE_UNIT)
        rc = leash_fail(LEASH_EINVAL,
                        "--input-scale unit: the data of %s are floats (standardize or raw)",
                        o->data_file);
    return rc;
}

int leash_cli_check_arch(const leash_options *o)
{
    leash_input_shape s;
    int rc = leash_cli_input_shape(o, &s);
    return rc ? rc : check_shape(o, &s);
}

int leash_cli_check_data(const leash_options *o, const leash_dataset *train)
{
    leash_input_shape s = {train->h, train->w, train->c, train->nclasses, train->values != NULL};
    return check_shape(o, &s);
}

/* The classes of an .npz file, from its labels. */
static int npz_classes(const leash_options *o, int *nclasses)
{
    leash_dataset train = {0}, test = {0};
    int rc = leash_npz_load(&train, &test, o->data_file, o->classes);
    *nclasses = train.nclasses;
    leash_dataset_free(&train);
    leash_dataset_free(&test);
    return rc;
}

static void print_layers(const leash_options *o, const leash_model *m, const leash_input_shape *s,
                         FILE *out)
{
    const char *preset = leash_arch_preset(o->cfg.arch);
    char token[64], shape[48];
    fprintf(out, "%s%s%s\non %s: %dx%dx%d inputs, %d classes\n", preset ? preset : "",
            preset ? " = " : "", m->layers_text,
            o->data_file ? o->data_file : leash_dataset_name(o->dataset), s->h, s->w, s->c,
            s->nclasses);
    fprintf(out, "%5s  %-24s %-16s %12s\n", "layer", "", "output", "parameters");
    snprintf(shape, sizeof shape, "%dx%dx%d", s->h, s->w, s->c);
    fprintf(out, "%5s  %-24s %-16s\n", "", "input", shape);
    for (int i = 0; i < m->nlayers; ++i) {
        const leash_layer *l = &m->layers[i];
        leash_layer_token(l, token, sizeof token);
        snprintf(shape, sizeof shape, "%dx%dx%d", l->out_h, l->out_w, l->out_c);
        fprintf(out, "%5d  %-24s %-16s %12zu\n", i + 1, token, shape,
                leash_layer_count_params(m, i));
    }
    fprintf(out, "%5s  %-24s %-16s %12zu\n", "", "total", "", leash_model_count_params(m));
}

int leash_cli_describe(const leash_options *o, FILE *out)
{
    leash_input_shape s;
    leash_model m;
    int rc = leash_cli_input_shape(o, &s);
    if (!rc && !s.nclasses) rc = npz_classes(o, &s.nclasses);
    if (!rc) rc = build(&m, o, &s);
    if (rc) return rc;
    print_layers(o, &m, &s, out);
    leash_model_free(&m);
    return 0;
}
