/* Saved models: see leash/model_io.h; the layout is in doc/file-formats.md. */
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "core/names_internal.h"
#include "leash/dist.h"
#include "train/checkpoint_internal.h"
#include "train/model_io_internal.h"

void leash_model_sections_write(leash_wbuf *b, const leash_config *cfg, const leash_model *m,
                                const float *params, const leash_input_map *map, int ranks)
{
    /* What -A named (a preset or the list itself) and the layer list it stands for. */
    const char *preset = leash_arch_preset(cfg->arch ? cfg->arch : "MLP");
    const char *arch = preset ? preset : m->layers_text;
    leash_wbuf_begin(b, "ARCH");
    leash_wbuf_u32(b, (uint32_t)strlen(arch));
    leash_wbuf_bytes(b, arch, strlen(arch));
    leash_wbuf_u32(b, (uint32_t)strlen(m->layers_text));
    leash_wbuf_bytes(b, m->layers_text, strlen(m->layers_text));
    leash_wbuf_u32(b, (uint32_t)cfg->hidden_layers);
    leash_wbuf_u32(b, (uint32_t)cfg->units);
    leash_wbuf_u32(b, (uint32_t)cfg->activation);
    leash_wbuf_u32(b, (uint32_t)m->in_h);
    leash_wbuf_u32(b, (uint32_t)m->in_w);
    leash_wbuf_u32(b, (uint32_t)m->in_c);
    leash_wbuf_u32(b, (uint32_t)m->nclasses);
    leash_wbuf_u64(b, m->nparams);
    leash_wbuf_end(b);
    leash_wbuf_begin(b, "IMAP");
    leash_wbuf_u32(b, (uint32_t)map->c);
    leash_wbuf_floats(b, map->scale, (size_t)map->c);
    leash_wbuf_floats(b, map->shift, (size_t)map->c);
    leash_wbuf_end(b);
    leash_wbuf_begin(b, "EVAL");
    leash_wbuf_u32(b, (uint32_t)cfg->batch);
    leash_wbuf_u32(b, (uint32_t)ranks);
    leash_wbuf_end(b);
    leash_wbuf_begin(b, "PARM");
    leash_wbuf_floats(b, params, m->nparams);
    leash_wbuf_end(b);
}

int leash_model_save(const char *path, const leash_config *cfg, const leash_model *m,
                     const float *params, const leash_input_map *map)
{
    leash_wbuf b;
    leash_wbuf_init(&b, LEASH_MODEL_MAGIC, LEASH_MODEL_VERSION);
    leash_model_sections_write(&b, cfg, m, params, map, leash_dist_size());
    int rc = leash_wbuf_finish(&b);
    if (!rc) rc = leash_write_atomic(path, b.data, b.len, "saved model");
    leash_wbuf_free(&b);
    return rc;
}

/* Sizes far beyond any model leash builds mark a foreign or damaged file. */
enum { MAX_DIM = 1 << 16, MAX_UNITS = 1 << 20 };

/* A string of the ARCH section, into a new allocation (NULL and bad on a short one). */
static char *take_string(leash_rbuf *r)
{
    uint32_t n = leash_rbuf_u32(r);
    const unsigned char *p = leash_rbuf_take(r, n);
    char *s = p ? malloc((size_t)n + 1) : NULL;
    if (!s) {
        r->bad = 1;
        return NULL;
    }
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* Version 1 named a preset by its number, the layer list being implied. */
static void read_arch_v1(leash_rbuf *r, leash_saved_model *out)
{
    static const char *const names[] = {"MLP", "CNN", "LENET"};
    uint32_t arch = leash_rbuf_u32(r);
    out->hidden_layers = (int)leash_rbuf_u32(r);
    out->units = (int)leash_rbuf_u32(r);
    out->activation = (leash_activation)leash_rbuf_u32(r);
    if (arch > 2) r->bad = 1;
    out->arch = r->bad ? NULL : strdup(names[arch]);
    if (!out->arch || leash_arch_layers(out->arch, out->hidden_layers, out->units,
                                        out->activation, &out->layers) != 0)
        r->bad = 1;
}

static void read_arch_v2(leash_rbuf *r, leash_saved_model *out)
{
    out->arch = take_string(r);
    out->layers = take_string(r);
    out->hidden_layers = (int)leash_rbuf_u32(r);
    out->units = (int)leash_rbuf_u32(r);
    out->activation = (leash_activation)leash_rbuf_u32(r);
}

static int read_arch(leash_saved_model *out, const leash_store *s, const char *what)
{
    leash_rbuf r;
    const char *path = s->path;
    if (leash_store_section(s, "ARCH", 0, &r) != 0)
        return leash_fail(LEASH_EFORMAT, "%s %s: no ARCH section", what, path);
    if (s->version == 1 && strcmp(what, "saved model") == 0)
        read_arch_v1(&r, out);
    else
        read_arch_v2(&r, out);
    uint32_t h = leash_rbuf_u32(&r), w = leash_rbuf_u32(&r);
    uint32_t c = leash_rbuf_u32(&r), classes = leash_rbuf_u32(&r);
    uint64_t nparams = leash_rbuf_u64(&r);
    if (r.bad || (unsigned)out->activation >= (unsigned)leash_activation_names.count ||
        h < 1 || h > MAX_DIM || w < 1 || w > MAX_DIM || c < 1 || c > LEASH_MAX_CHANNELS ||
        classes < 2 || classes > MAX_UNITS)
        return leash_fail(LEASH_EFORMAT, "%s %s: malformed ARCH section", what, path);
    int rc = leash_model_from_layers(&out->model, out->layers, (int)h, (int)w, (int)c,
                                     (int)classes);
    if (rc || out->model.nparams != nparams)
        return leash_fail(LEASH_EFORMAT, "%s %s: the ARCH section describes no model leash builds",
                          what, path);
    return 0;
}

int leash_model_sections_read(leash_saved_model *out, const leash_store *s, const char *what)
{
    memset(out, 0, sizeof *out);
    leash_rbuf r;
    const char *path = s->path;
    int rc = read_arch(out, s, what);
    if (rc) return rc;
    int c = out->model.in_c;
    if (leash_store_section(s, "IMAP", 0, &r) != 0)
        return leash_fail(LEASH_EFORMAT, "%s %s: no IMAP section", what, path);
    out->map.c = (int)leash_rbuf_u32(&r);
    if (r.bad || out->map.c != c)
        return leash_fail(LEASH_EFORMAT, "%s %s: malformed IMAP section", what, path);
    leash_rbuf_floats(&r, out->map.scale, (size_t)c);
    leash_rbuf_floats(&r, out->map.shift, (size_t)c);

    leash_rbuf e;
    if (leash_store_section(s, "EVAL", 0, &e) != 0)
        return leash_fail(LEASH_EFORMAT, "%s %s: no EVAL section", what, path);
    out->eval_batch = (int)leash_rbuf_u32(&e);
    out->eval_ranks = (int)leash_rbuf_u32(&e);
    if (r.bad || e.bad || out->eval_batch < 1 || out->eval_ranks < 1)
        return leash_fail(LEASH_EFORMAT, "%s %s: malformed IMAP or EVAL section", what, path);

    size_t nparams = out->model.nparams;
    if (leash_store_section(s, "PARM", 0, &r) != 0 || r.len != nparams * sizeof(float))
        return leash_fail(LEASH_EFORMAT, "%s %s: no PARM section of %zu floats", what, path,
                          nparams);
    if (!(out->params = leash_params_alloc(out->model.nparams)))
        return leash_fail(LEASH_ENOMEM, "%s %s: out of memory for %zu parameters", what, path,
                          out->model.nparams);
    leash_rbuf_floats(&r, out->params, out->model.nparams);
    return 0;
}

int leash_model_load(leash_saved_model *out, const char *path)
{
    memset(out, 0, sizeof *out);
    /* A checkpoint holds the same model sections; a file of neither kind is named so. */
    leash_store s;
    const char *what = "saved model";
    int rc = leash_store_read_versions(&s, path, LEASH_MODEL_MAGIC, LEASH_MODEL_OLDEST_VERSION,
                                       LEASH_MODEL_VERSION, what);
    if (rc == LEASH_EFORMAT && strstr(leash_last_error(), ": not a leash ")) {
        what = "checkpoint";
        rc = leash_store_read(&s, path, LEASH_CHECKPOINT_MAGIC, LEASH_CHECKPOINT_VERSION, what);
        if (rc == LEASH_EFORMAT && strstr(leash_last_error(), ": not a leash "))
            rc = leash_fail(LEASH_EFORMAT, "%s: neither a leash saved model nor a checkpoint",
                            path);
    }
    if (rc) return rc;
    rc = leash_model_sections_read(out, &s, what);
    leash_store_free(&s);
    if (rc) leash_saved_model_free(out);
    return rc;
}

void leash_saved_model_free(leash_saved_model *sm)
{
    leash_params_free(sm->params);
    leash_model_free(&sm->model);
    free(sm->arch);
    free(sm->layers);
    memset(sm, 0, sizeof *sm);
}
