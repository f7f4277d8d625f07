#include "core/json_internal.h"
#include "tap.h"

/* Run fn against a memory stream and return what it wrote (caller frees). */
static char *render(void (*fn)(leash_json *))
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    leash_json j;
    leash_json_init(&j, f);
    fn(&j);
    fclose(f);
    return buf;
}

static void nested(leash_json *j)
{
    leash_json_begin_object(j);
    leash_json_kv_string(j, "name", "leash");
    leash_json_kv_int(j, "n", -3);
    leash_json_key(j, "hist");
    leash_json_begin_array(j);
    leash_json_uint(j, 1);
    leash_json_uint(j, 18446744073709551615ULL);
    leash_json_end_array(j);
    leash_json_key(j, "empty");
    leash_json_begin_array(j);
    leash_json_end_array(j);
    leash_json_key(j, "o");
    leash_json_begin_object(j);
    leash_json_kv_bool(j, "t", 1);
    leash_json_key(j, "z");
    leash_json_null(j);
    leash_json_end_object(j);
    leash_json_end_object(j);
}

static void test_layout(void)
{
    char *s = render(nested);
    ASSERT_STR_EQ(s, "{\n"
                     "  \"name\": \"leash\",\n"
                     "  \"n\": -3,\n"
                     "  \"hist\": [\n"
                     "    1,\n"
                     "    18446744073709551615\n"
                     "  ],\n"
                     "  \"empty\": [],\n"
                     "  \"o\": {\n"
                     "    \"t\": true,\n"
                     "    \"z\": null\n"
                     "  }\n"
                     "}\n");
    free(s);
}

static void escapes(leash_json *j)
{
    leash_json_begin_array(j);
    leash_json_string(j, "a\"b\\c\nd\te\x01/");
    leash_json_string(j, NULL);
    leash_json_end_array(j);
}

static void test_escapes(void)
{
    char *s = render(escapes);
    ASSERT_STR_EQ(s, "[\n  \"a\\\"b\\\\c\\nd\\te\\u0001/\",\n  null\n]\n");
    free(s);
}

static void numbers(leash_json *j)
{
    leash_json_begin_array(j);
    leash_json_double(j, 0.1);
    leash_json_double(j, NAN);
    leash_json_double(j, -INFINITY);
    leash_json_double(j, 1e300);
    leash_json_end_array(j);
}

/* Doubles round-trip exactly; JSON has no NaN or infinity, so they become null. */
static void test_numbers(void)
{
    char *s = render(numbers);
    ASSERT_NOT_NULL(s);
    double back = strtod(s + 4, NULL);
    ASSERT_TRUE(back == 0.1);
    ASSERT_STR_CONTAINS(s, ",\n  null,\n  null,\n  1.0000000000000001e+300\n]");
    free(s);
}

int main(void)
{
    tap_plan(3);
    TAP_RUN(test_layout);
    TAP_RUN(test_escapes);
    TAP_RUN(test_numbers);
    return tap_done();
}
