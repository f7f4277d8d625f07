/* The registries: each enumeration's values, names and parser come from one list (an
 * X-macro), and its name and parse functions, the command line's choices, -A's presets
 * and the strategies' operations agree with that list and round-trip every name. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cli/options.h"
#include "core/names_internal.h"
#include "leash/leash.h"
#include "nn/spec_internal.h"
#include "sync/strategy_internal.h"
#include "tap.h"

/* Entries of a list: 0 LIST(PLUS_ONE). */
#define PLUS_ONE(...) +1

/* text with every letter's case swapped: names parse case-insensitively. */
static const char *swap_case(const char *text)
{
    static char buf[64];
    size_t i = 0;
    for (; text[i] && i + 1 < sizeof buf; ++i)
        buf[i] = (char)(islower((unsigned char)text[i]) ? toupper((unsigned char)text[i])
                                                         : tolower((unsigned char)text[i]));
    buf[i] = '\0';
    return buf;
}

/* A name one types unquoted: letters, digits and '-', at least one. */
static int is_word(const char *name)
{
    if (!name[0]) return 0;
    for (; *name; ++name)
        if (!isalnum((unsigned char)*name) && *name != '-') return 0;
    return 1;
}

/* A table of count names: each a word that names its own value alone, in any case; values
 * beyond it have no name; an unknown name is refused with a message that lists the names. */
static void check_names(const leash_names *t, int count)
{
    ASSERT_INT_EQ(t->count, count);
    char expected[256], message[512];
    leash_names_list(t, expected, sizeof expected);
    for (int v = 0; v < t->count; ++v) {
        const char *name = leash_names_name(t, v);
        int got = -1;
        if (!is_word(name)) TAP_FAIL_AT("%s %d's name \"%s\" is not a word", t->what, v, name);
        ASSERT_INT_EQ(leash_names_parse(t, name, &got), 0);
        ASSERT_INT_EQ(got, v);
        ASSERT_INT_EQ(leash_names_find(t, swap_case(name)), v);
        ASSERT_TRUE(strstr(expected, name) != NULL);
    }
    ASSERT_STR_EQ(leash_names_name(t, -1), "?");
    ASSERT_STR_EQ(leash_names_name(t, t->count), "?");
    int untouched = 77;
    ASSERT_INT_EQ(leash_names_parse(t, "no-such-name", &untouched), LEASH_EINVAL);
    ASSERT_INT_EQ(untouched, 77);
    snprintf(message, sizeof message, "no-such-name: unknown %s (expected %s)", t->what, expected);
    ASSERT_STR_EQ(leash_last_error(), message);
}

/* An enumeration's public functions over its count values: parse(name(v)) == v and
 * name(parse(name)) == name, in either case; nothing beyond has a name; an unknown name
 * is refused and leaves *out alone. */
#define CHECK_FUNCTIONS(type, prefix, count)                                          \
    do {                                                                              \
        for (int v = 0; v < (count); ++v) {                                           \
            const char *name = prefix##_name((type)v);                                \
            type got = (type)(count);                                                 \
            ASSERT_INT_EQ(prefix##_parse(name, &got), 0);                             \
            ASSERT_INT_EQ(got, v);                                                    \
            ASSERT_STR_EQ(prefix##_name(got), name);                                  \
            got = (type)(count);                                                      \
            ASSERT_INT_EQ(prefix##_parse(swap_case(name), &got), 0);                  \
            ASSERT_INT_EQ(got, v);                                                    \
        }                                                                             \
        ASSERT_STR_EQ(prefix##_name((type)(count)), "?");                             \
        type untouched = (type)1;                                                     \
        ASSERT_INT_EQ(prefix##_parse("no-such-name", &untouched), LEASH_EINVAL);      \
        ASSERT_INT_EQ(untouched, 1);                                                  \
    } while (0)

/* Each line of a list: its enumerator's value is its position, and its name is the
 * line's. */
#define CHECK_LINE(prefix, value, name)                                               \
    do {                                                                              \
        ASSERT_INT_EQ(value, position++);                                             \
        ASSERT_STR_EQ(prefix##_name(value), name);                                    \
    } while (0)

static void test_algorithms(void)
{
    int position = 0;
    /* ... and the strategy's operations are its file's, made for its algorithm. */
#define LINE(ID, NAME, id)                                                            \
    CHECK_LINE(leash_algorithm, LEASH_ALGO_##ID, NAME);                               \
    ASSERT_TRUE(leash_strategy_for(LEASH_ALGO_##ID) == &leash_##id##_ops);            \
    ASSERT_INT_EQ(leash_strategy_for(LEASH_ALGO_##ID)->algorithm, LEASH_ALGO_##ID);
    LEASH_ALGORITHMS(LINE)
#undef LINE
    const int count = 0 LEASH_ALGORITHMS(PLUS_ONE);
    ASSERT_INT_EQ(position, count);
    check_names(&leash_algorithm_names, count);
    CHECK_FUNCTIONS(leash_algorithm, leash_algorithm, count);
    ASSERT_TRUE(leash_strategy_for((leash_algorithm)count) == NULL);
    ASSERT_TRUE(leash_strategy_for((leash_algorithm)-1) == NULL);
}

/* An enumeration's list against its enum (LINE checks a line), its table and its name
 * and parse functions. */
#define CHECK_ENUMERATION(LIST, LINE, table, type, prefix)                            \
    do {                                                                              \
        int position = 0;                                                             \
        LIST(LINE)                                                                    \
        const int count = 0 LIST(PLUS_ONE);                                           \
        ASSERT_INT_EQ(position, count);                                               \
        check_names(&(table), count);                                                 \
        CHECK_FUNCTIONS(type, prefix, count);                                         \
    } while (0)
#define STEP_LINE(ID, NAME) CHECK_LINE(leash_step_policy, LEASH_STEP_##ID, NAME);
#define INIT_LINE(ID, NAME) CHECK_LINE(leash_init, LEASH_INIT_##ID, NAME);
#define ACT_LINE(ID, NAME) CHECK_LINE(leash_activation, LEASH_ACT_##ID, NAME);
#define DATA_LINE(ID, NAME) CHECK_LINE(leash_dataset, LEASH_DATA_##ID, NAME);
#define PLACE_LINE(ID, NAME) CHECK_LINE(leash_place_policy, LEASH_PLACE_##ID, NAME);

static void test_step_policies(void)
{
    CHECK_ENUMERATION(LEASH_STEP_POLICIES, STEP_LINE, leash_step_policy_names,
                      leash_step_policy, leash_step_policy);
}

static void test_inits_and_activations(void)
{
    CHECK_ENUMERATION(LEASH_INITS, INIT_LINE, leash_init_names, leash_init, leash_init);
    CHECK_ENUMERATION(LEASH_ACTIVATIONS, ACT_LINE, leash_activation_names, leash_activation,
                      leash_activation);
}

static void test_datasets_and_placements(void)
{
    CHECK_ENUMERATION(LEASH_DATASET_KINDS, DATA_LINE, leash_dataset_names, leash_dataset_kind,
                      leash_dataset);
    CHECK_ENUMERATION(LEASH_PLACE_POLICIES, PLACE_LINE, leash_place_policy_names,
                      leash_place_policy, leash_place_policy);
}

/* The presets: each is its own canonical name, in any case, and a word that is none
 * is refused with a message listing them. */
static void test_presets(void)
{
    const leash_names *t = &leash_preset_names;
    check_names(t, t->count);
    for (int p = 0; p < t->count; ++p) {
        const char *name = leash_names_name(t, p);
        char *layers = NULL;
        ASSERT_STR_EQ(leash_arch_preset(name), name);
        ASSERT_STR_EQ(leash_arch_preset(swap_case(name)), name);
        ASSERT_INT_EQ(leash_arch_layers(name, 1, 4, LEASH_ACT_RELU, &layers), 0);
        free(layers);
    }
    ASSERT_TRUE(leash_arch_preset("RNN") == NULL);
    char *layers = NULL, presets[128], message[256];
    ASSERT_INT_EQ(leash_arch_layers("RNN", 1, 4, LEASH_ACT_RELU, &layers), LEASH_EINVAL);
    leash_names_list(t, presets, sizeof presets);
    snprintf(message, sizeof message, "'RNN': neither a preset (%s) nor a layer list", presets);
    ASSERT_STR_EQ(leash_last_error(), message);
}

/* leash's options from flag and value (and --avg-every, which --avg-mode blocking needs),
 * the value copied to a buffer that outlives the parse. */
static int parse_flag(leash_options *o, const char *flag, const char *value)
{
    static char args[5][64];
    const char *given[] = {"leash", "--avg-every", "1", flag, value};
    char *argv[6] = {NULL};
    for (int i = 0; i < 5; ++i) argv[i] = strncpy(args[i], given[i], sizeof args[i] - 1);
    leash_options_free(o);
    return leash_options_parse(o, 5, argv);
}

/* The command line's own choices: -D's are the kinds but NPZ, --placement's the policies
 * then none, --input-scale's its list; each flag takes each name, and refuses NPZ's. */
static void test_command_line(void)
{
    leash_options o = {0};
    check_names(&leash_cli_datasets, LEASH_DATA_NPZ);
    for (int k = 0; k < LEASH_DATA_NPZ; ++k) {
        ASSERT_STR_EQ(leash_names_name(&leash_cli_datasets, k), leash_dataset_name((leash_dataset_kind)k));
        ASSERT_INT_EQ(parse_flag(&o, "-D", leash_dataset_name((leash_dataset_kind)k)), 0);
        ASSERT_INT_EQ(o.dataset, k);
    }
    ASSERT_INT_EQ(parse_flag(&o, "-D", leash_dataset_name(LEASH_DATA_NPZ)), LEASH_EINVAL);
    const int policies = 0 LEASH_PLACE_POLICIES(PLUS_ONE);
    check_names(&leash_cli_placements, policies + 1);
    for (int p = 0; p <= policies; ++p) {
        ASSERT_INT_EQ(parse_flag(&o, "--placement", leash_names_name(&leash_cli_placements, p)), 0);
        ASSERT_INT_EQ(o.placement, p < policies ? p : -1);
        if (p < policies)
            ASSERT_STR_EQ(leash_names_name(&leash_cli_placements, p),
                          leash_place_policy_name((leash_place_policy)p));
    }
    ASSERT_STR_EQ(leash_names_name(&leash_cli_placements, policies), "none");
    int position = 0;
#define LINE(ID, NAME)                                                                \
    ASSERT_INT_EQ(LEASH_SCALE_##ID, position++);                                      \
    ASSERT_STR_EQ(leash_names_name(&leash_cli_input_scales, LEASH_SCALE_##ID), NAME); \
    ASSERT_INT_EQ(parse_flag(&o, "--input-scale", NAME), 0);                          \
    ASSERT_INT_EQ(o.input_scale, LEASH_SCALE_##ID);
    LEASH_INPUT_SCALES(LINE)
#undef LINE
    check_names(&leash_cli_input_scales, position);
    check_names(&leash_cli_avg_modes, 2);
    for (int blocking = 0; blocking < 2; ++blocking) {
        ASSERT_INT_EQ(parse_flag(&o, "--avg-mode", leash_names_name(&leash_cli_avg_modes, blocking)), 0);
        ASSERT_INT_EQ(o.cfg.avg_blocking, blocking);
    }
    leash_options_free(&o);
}

/* The flags that take an enumeration's names, through leash's own parse: each name sets
 * its value. */
static void test_command_line_enumerations(void)
{
    leash_options o = {0};
    for (int v = 0; v < 0 LEASH_ALGORITHMS(PLUS_ONE); ++v) {
        ASSERT_INT_EQ(parse_flag(&o, "-a", leash_algorithm_name((leash_algorithm)v)), 0);
        ASSERT_INT_EQ(o.cfg.algorithm, v);
    }
    for (int v = 0; v < 0 LEASH_STEP_POLICIES(PLUS_ONE); ++v) {
        ASSERT_INT_EQ(parse_flag(&o, "-t", leash_step_policy_name((leash_step_policy)v)), 0);
        ASSERT_INT_EQ(o.cfg.step_policy, v);
    }
    for (int v = 0; v < 0 LEASH_INITS(PLUS_ONE); ++v) {
        ASSERT_INT_EQ(parse_flag(&o, "--init", leash_init_name((leash_init)v)), 0);
        ASSERT_INT_EQ(o.cfg.init, v);
    }
    for (int v = 0; v < 0 LEASH_ACTIVATIONS(PLUS_ONE); ++v) {
        ASSERT_INT_EQ(parse_flag(&o, "--activation", leash_activation_name((leash_activation)v)), 0);
        ASSERT_INT_EQ(o.cfg.activation, v);
    }
    leash_options_free(&o);
}

int main(void)
{
    tap_plan(7);
    TAP_RUN(test_algorithms);
    TAP_RUN(test_step_policies);
    TAP_RUN(test_inits_and_activations);
    TAP_RUN(test_datasets_and_placements);
    TAP_RUN(test_presets);
    TAP_RUN(test_command_line);
    TAP_RUN(test_command_line_enumerations);
    return tap_done();
}
