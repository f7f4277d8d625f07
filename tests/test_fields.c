/* The program's names for the library's settings (src/cli/fields.c): a message that
 * names leash_config's fields reads with leash's flags, and nothing else changes. */
#include <string.h>

#include "cli/fields.h"
#include "tap.h"

static const char *named(const char *msg, size_t size)
{
    static char out[512];
    leash_cli_name_flags(out, size, msg);
    return out;
}

static void test_fields_become_flags(void)
{
    ASSERT_STR_EQ(named("leash_config.threads = 2: SEQ runs exactly one worker thread", 512),
                  "-n 2: SEQ runs exactly one worker thread");
    ASSERT_STR_EQ(named("leash_config.units = 65536 leash_config.hidden_layers = 7: the run", 512),
                  "-U 65536 -L 7: the run");
    ASSERT_STR_EQ(named("written for another input scaling (leash_config.input_map)", 512),
                  "written for another input scaling (--input-scale)");
    ASSERT_STR_EQ(named("leash_config.checkpoint = /x/ck: directory /x does not exist", 512),
                  "--checkpoint /x/ck: directory /x does not exist");
}

static void test_other_text_untouched(void)
{
    const char *plain = "the placement plans 2 workers for 4 threads (step, batch)";
    ASSERT_STR_EQ(named(plain, 512), plain);
    /* Not a field: left as the library wrote it. */
    ASSERT_STR_EQ(named("leash_config.nonesuch = 1", 512), "leash_config.nonesuch = 1");
    ASSERT_STR_EQ(named("leash_config.", 512), "leash_config.");
    ASSERT_STR_EQ(leash_cli_flag_of("step"), "-l");
    ASSERT_TRUE(leash_cli_flag_of("nonesuch") == NULL);
}

static void test_truncated(void)
{
    ASSERT_STR_EQ(named("leash_config.timeline_max_events = 5: x", 8), "--timel");
    ASSERT_STR_EQ(named("abcdef", 4), "abc");
    ASSERT_STR_EQ(named("abc", 1), "");
}

int main(void)
{
    tap_plan(3);
    TAP_RUN(test_fields_become_flags);
    TAP_RUN(test_other_text_untouched);
    TAP_RUN(test_truncated);
    return tap_done();
}
