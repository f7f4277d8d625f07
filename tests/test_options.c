/* leash_options_parse: repeated parses in one process, and the messages for options
 * getopt refuses inside a cluster or by an ambiguous prefix. */
#include <stdlib.h>
#include <string.h>

#include "cli/options.h"
#include "leash/error.h"
#include "tap.h"

/* Parse a copy of args (as a fresh, separately allocated argv), then free the copy, so
 * that anything the parser kept from it would be read after free by the next parse. */
static int parse(leash_options *o, int argc, const char *const *args)
{
    char **argv = calloc((size_t)argc + 1, sizeof *argv);
    for (int i = 0; i < argc; ++i) argv[i] = strdup(args[i]);
    leash_options_free(o);
    int rc = leash_options_parse(o, argc, argv);
    /* What the parse kept (file names) points into argv: done with it here. */
    for (int i = 0; i < argc; ++i) free(argv[i]);
    free(argv);
    return rc;
}

static void test_parse_twice(void)
{
    leash_options o = {0};
    /* A failure inside the cluster -qZ leaves glibc's getopt pointing into it. */
    const char *bad[] = {"leash", "-qZ"};
    ASSERT_INT_EQ(parse(&o, 2, bad), LEASH_EINVAL);
    ASSERT_STR_EQ(leash_last_error(), "-Z: unknown option (see leash --help)");
    const char *good[] = {"leash", "-q", "-n", "3", "-a", "LSH"};
    ASSERT_INT_EQ(parse(&o, 6, good), 0);
    ASSERT_INT_EQ(o.quiet, 1);
    ASSERT_INT_EQ(o.cfg.threads, 3);
    /* And again from a cluster stopped by a missing value. */
    const char *missing[] = {"leash", "-qb"};
    ASSERT_INT_EQ(parse(&o, 2, missing), LEASH_EINVAL);
    ASSERT_STR_EQ(leash_last_error(), "-b: missing value");
    const char *plain[] = {"leash", "-e", "4"};
    ASSERT_INT_EQ(parse(&o, 3, plain), 0);
    ASSERT_INT_EQ(o.quiet, 0);
    ASSERT_INT_EQ(o.cfg.epochs, 4);
    leash_options_free(&o);
}

static void test_messages(void)
{
    leash_options o = {0};
    const char *cluster[] = {"leash", "-Zq"};
    ASSERT_INT_EQ(parse(&o, 2, cluster), LEASH_EINVAL);
    ASSERT_STR_EQ(leash_last_error(), "-Z: unknown option (see leash --help)");
    const char *ambiguous[] = {"leash", "--s", "1"};
    ASSERT_INT_EQ(parse(&o, 3, ambiguous), LEASH_EINVAL);
    ASSERT_STR_CONTAINS(leash_last_error(), "--s: ambiguous option (could be --step, ");
    const char *unknown[] = {"leash", "--frobnicate=3"};
    ASSERT_INT_EQ(parse(&o, 2, unknown), LEASH_EINVAL);
    ASSERT_STR_EQ(leash_last_error(), "--frobnicate: unknown option (see leash --help)");
    const char *novalue[] = {"leash", "--quiet=1"};
    ASSERT_INT_EQ(parse(&o, 2, novalue), LEASH_EINVAL);
    ASSERT_STR_EQ(leash_last_error(), "--quiet: takes no value");
    const char *prefix[] = {"leash", "--thr", "2"};
    ASSERT_INT_EQ(parse(&o, 3, prefix), 0);
    ASSERT_INT_EQ(o.cfg.threads, 2);
    const char *period[] = {"leash", "--avg-period", "1e300"};
    ASSERT_INT_EQ(parse(&o, 3, period), LEASH_EINVAL);
    ASSERT_STR_EQ(leash_last_error(), "--avg-period 1e300: must be at most 1e+09");
    leash_options_free(&o);
}

int main(void)
{
    tap_plan(2);
    TAP_RUN(test_parse_twice);
    TAP_RUN(test_messages);
    return tap_done();
}
