/* A small streaming JSON writer: values are written in order, commas and indentation
 * are handled here, strings are escaped, non-finite numbers become null. */
#ifndef LEASH_JSON_INTERNAL_H
#define LEASH_JSON_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#define LEASH_JSON_MAX_DEPTH 16

typedef struct leash_json {
    FILE *out;
    int depth;
    int count[LEASH_JSON_MAX_DEPTH]; /* values written so far at each open level */
    int after_key;                   /* a key was written; its value comes next */
    int inline_from;                 /* levels from this depth on go on one line; 0: none */
} leash_json;

void leash_json_init(leash_json *j, FILE *out);
void leash_json_begin_object(leash_json *j);
void leash_json_end_object(leash_json *j);
void leash_json_begin_array(leash_json *j);
void leash_json_end_array(leash_json *j);
/* An array written on one line, nested values included (close it with end_array). */
void leash_json_begin_inline_array(leash_json *j);
void leash_json_key(leash_json *j, const char *key);
void leash_json_string(leash_json *j, const char *s);
void leash_json_double(leash_json *j, double v);
void leash_json_int(leash_json *j, int64_t v);
void leash_json_uint(leash_json *j, uint64_t v);
void leash_json_bool(leash_json *j, int v);
void leash_json_null(leash_json *j);

/* Shorthands for "key": value pairs inside an object. */
void leash_json_kv_string(leash_json *j, const char *key, const char *s);
void leash_json_kv_double(leash_json *j, const char *key, double v);
void leash_json_kv_int(leash_json *j, const char *key, int64_t v);
void leash_json_kv_uint(leash_json *j, const char *key, uint64_t v);
void leash_json_kv_bool(leash_json *j, const char *key, int v);
void leash_json_kv_null(leash_json *j, const char *key);

#endif
