#include <inttypes.h>
#include <math.h>

#include "core/json_internal.h"

void leash_json_init(leash_json *j, FILE *out)
{
    j->out = out;
    j->depth = 0;
    j->count[0] = 0;
    j->after_key = 0;
    j->inline_from = 0;
}

/* Whether values at the current level go on one line. */
static int on_one_line(const leash_json *j) { return j->inline_from && j->depth >= j->inline_from; }

static void indent(leash_json *j)
{
    fputc('\n', j->out);
    for (int i = 0; i < j->depth; ++i) fputs("  ", j->out);
}

/* Separator and indentation before any value (or key) at the current level. */
static void before_value(leash_json *j)
{
    if (j->after_key) {
        j->after_key = 0;
        return;
    }
    if (j->depth > 0) {
        const int later = j->count[j->depth]++ > 0;
        if (later) fputc(',', j->out);
        if (!on_one_line(j))
            indent(j);
        else if (later)
            fputc(' ', j->out);
    }
}

static void open_level(leash_json *j, char c)
{
    before_value(j);
    fputc(c, j->out);
    if (j->depth + 1 < LEASH_JSON_MAX_DEPTH) ++j->depth;
    j->count[j->depth] = 0;
}

static void close_level(leash_json *j, char c)
{
    const int had_values = j->count[j->depth] > 0, one_line = on_one_line(j);
    if (j->depth > 0) --j->depth;
    if (had_values && !one_line) indent(j);
    if (j->inline_from > j->depth) j->inline_from = 0;
    fputc(c, j->out);
    if (j->depth == 0) fputc('\n', j->out);
}

void leash_json_begin_object(leash_json *j) { open_level(j, '{'); }
void leash_json_end_object(leash_json *j) { close_level(j, '}'); }
void leash_json_begin_array(leash_json *j) { open_level(j, '['); }
void leash_json_end_array(leash_json *j) { close_level(j, ']'); }
void leash_json_begin_inline_array(leash_json *j)
{
    open_level(j, '[');
    if (!j->inline_from) j->inline_from = j->depth;
}

static void write_escaped(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; ++p) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (*p < 0x20)
                fprintf(out, "\\u%04x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

void leash_json_key(leash_json *j, const char *key)
{
    before_value(j);
    write_escaped(j->out, key);
    fputs(": ", j->out);
    j->after_key = 1;
}

void leash_json_string(leash_json *j, const char *s)
{
    before_value(j);
    if (s)
        write_escaped(j->out, s);
    else
        fputs("null", j->out);
}

void leash_json_double(leash_json *j, double v)
{
    before_value(j);
    /* 17 significant digits round-trip any double; JSON has no NaN or infinity. */
    if (isfinite(v))
        fprintf(j->out, "%.17g", v);
    else
        fputs("null", j->out);
}

void leash_json_int(leash_json *j, int64_t v)
{
    before_value(j);
    fprintf(j->out, "%" PRId64, v);
}

void leash_json_uint(leash_json *j, uint64_t v)
{
    before_value(j);
    fprintf(j->out, "%" PRIu64, v);
}

void leash_json_bool(leash_json *j, int v)
{
    before_value(j);
    fputs(v ? "true" : "false", j->out);
}

void leash_json_null(leash_json *j)
{
    before_value(j);
    fputs("null", j->out);
}

void leash_json_kv_string(leash_json *j, const char *key, const char *s)
{
    leash_json_key(j, key);
    leash_json_string(j, s);
}

void leash_json_kv_double(leash_json *j, const char *key, double v)
{
    leash_json_key(j, key);
    leash_json_double(j, v);
}

void leash_json_kv_int(leash_json *j, const char *key, int64_t v)
{
    leash_json_key(j, key);
    leash_json_int(j, v);
}

void leash_json_kv_uint(leash_json *j, const char *key, uint64_t v)
{
    leash_json_key(j, key);
    leash_json_uint(j, v);
}

void leash_json_kv_bool(leash_json *j, const char *key, int v)
{
    leash_json_key(j, key);
    leash_json_bool(j, v);
}

void leash_json_kv_null(leash_json *j, const char *key)
{
    leash_json_key(j, key);
    leash_json_null(j);
}
