/* The option parser: the input is the arguments, separated by NUL bytes. Each input is
 * parsed twice, from two separately allocated copies (the first freed before the second
 * parse), so that state kept from an earlier argv is caught; the warnings for flags
 * without effect are produced too. */
#include <string.h>

#include "cli/options.h"
#include "fuzz.h"

enum { MAX_ARGS = 64 };

static char **split_args(const uint8_t *data, size_t size, int *argc)
{
    char **argv = calloc(MAX_ARGS + 2, sizeof *argv);
    if (!argv) return NULL;
    argv[0] = strdup("leash");
    int n = 1;
    size_t start = 0;
    for (size_t i = 0; i <= size && n <= MAX_ARGS; ++i) {
        if (i < size && data[i] != '\0') continue;
        argv[n] = malloc(i - start + 1);
        if (!argv[n]) break;
        memcpy(argv[n], data + start, i - start);
        argv[n++][i - start] = '\0';
        start = i + 1;
    }
    *argc = n;
    return argv;
}

static void free_args(char **argv, int argc)
{
    for (int i = 0; i < argc; ++i) free(argv[i]);
    free(argv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *sink;
    if (!sink) sink = fopen("/dev/null", "w");
    for (int pass = 0; pass < 2; ++pass) {
        int argc = 0;
        char **argv = split_args(data, size, &argc);
        if (!argv) return 0;
        leash_options o;
        if (leash_options_parse(&o, argc, argv) == 0 && sink) leash_options_warn(&o, 1, sink);
        leash_options_free(&o);
        free_args(argv, argc);
    }
    return 0;
}
