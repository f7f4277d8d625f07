#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/options.h"
#include "core/error_internal.h"

/* Long options without a short form. */
enum {
    OPT_DATA_DIR = 256,
    OPT_SEED,
    OPT_AVG_EVERY,
    OPT_AVG_PERIOD,
    OPT_AVG_MODE,
    OPT_OUTPUT,
    OPT_HOLDOUT,
    OPT_INIT,
    OPT_ACTIVATION,
    OPT_SYNTH_TRAIN,
    OPT_SYNTH_TEST,
    OPT_TAU_MAX,
    OPT_TAIL_AMPLITUDE,
    OPT_TARGET_LOSS,
    OPT_PLACEMENT,
    OPT_TOPOLOGY,
    OPT_CHECKPOINT,
    OPT_CHECKPOINT_EVERY,
    OPT_CHECKPOINT_PERIOD,
    OPT_RESUME,
    OPT_SAVE_MODEL,
    OPT_EVALUATE,
    OPT_TRACE_EVERY,
    OPT_INPUT_SCALE,
    OPT_DESCRIBE,
    OPT_CLASSES,
    OPT_STALL_WARN,
    OPT_PROGRESS_EVERY,
    OPT_TIMELINE,
    OPT_TIMELINE_EVERY,
    OPT_TIMELINE_MAX_EVENTS,
    OPT_HELP,
    OPT_VERSION
};

static const struct option long_options[] = {
    {"algorithm", required_argument, NULL, 'a'},
    {"threads", required_argument, NULL, 'n'},
    {"arch", required_argument, NULL, 'A'},
    {"layers", required_argument, NULL, 'L'},
    {"units", required_argument, NULL, 'U'},
    {"persistence", required_argument, NULL, 'B'},
    {"epochs", required_argument, NULL, 'e'},
    {"rounds", required_argument, NULL, 'r'},
    {"batch", required_argument, NULL, 'b'},
    {"step", required_argument, NULL, 'l'},
    {"momentum", required_argument, NULL, 'm'},
    {"dataset", required_argument, NULL, 'D'},
    {"step-policy", required_argument, NULL, 't'},
    {"quiet", no_argument, NULL, 'q'},
    {"data-dir", required_argument, NULL, OPT_DATA_DIR},
    {"seed", required_argument, NULL, OPT_SEED},
    {"avg-every", required_argument, NULL, OPT_AVG_EVERY},
    {"avg-period", required_argument, NULL, OPT_AVG_PERIOD},
    {"avg-mode", required_argument, NULL, OPT_AVG_MODE},
    {"output", required_argument, NULL, OPT_OUTPUT},
    {"holdout", required_argument, NULL, OPT_HOLDOUT},
    {"init", required_argument, NULL, OPT_INIT},
    {"activation", required_argument, NULL, OPT_ACTIVATION},
    {"synth-train", required_argument, NULL, OPT_SYNTH_TRAIN},
    {"synth-test", required_argument, NULL, OPT_SYNTH_TEST},
    {"tau-max", required_argument, NULL, OPT_TAU_MAX},
    {"tail-amplitude", required_argument, NULL, OPT_TAIL_AMPLITUDE},
    {"target-loss", required_argument, NULL, OPT_TARGET_LOSS},
    {"placement", required_argument, NULL, OPT_PLACEMENT},
    {"topology", no_argument, NULL, OPT_TOPOLOGY},
    {"checkpoint", required_argument, NULL, OPT_CHECKPOINT},
    {"checkpoint-every", required_argument, NULL, OPT_CHECKPOINT_EVERY},
    {"checkpoint-period", required_argument, NULL, OPT_CHECKPOINT_PERIOD},
    {"resume", required_argument, NULL, OPT_RESUME},
    {"save-model", required_argument, NULL, OPT_SAVE_MODEL},
    {"evaluate", required_argument, NULL, OPT_EVALUATE},
    {"trace-every", required_argument, NULL, OPT_TRACE_EVERY},
    {"input-scale", required_argument, NULL, OPT_INPUT_SCALE},
    {"describe", no_argument, NULL, OPT_DESCRIBE},
    {"classes", required_argument, NULL, OPT_CLASSES},
    {"stall-warn", required_argument, NULL, OPT_STALL_WARN},
    {"progress-every", required_argument, NULL, OPT_PROGRESS_EVERY},
    {"timeline", required_argument, NULL, OPT_TIMELINE},
    {"timeline-every", required_argument, NULL, OPT_TIMELINE_EVERY},
    {"timeline-max-events", required_argument, NULL, OPT_TIMELINE_MAX_EVENTS},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

void leash_options_free(leash_options *o)
{
    free(o->layers);
    o->layers = NULL;
}

/* --help, in three parts: the training, the data and model around it, the run. */
static void usage_training(FILE *out)
{
    fputs(
        "Usage: leash [OPTION]...\n"
        "Train an MLP or CNN with SGD, its worker threads synchronized by a chosen strategy.\n"
        "\n"
        "  -a, --algorithm ALGO\n"
        "                      SEQ (sequential), SYNC (synchronous parallel), ASYNC\n"
        "                      (lock-based AsyncSGD), HOG (HOGWILD!) or LSH (Leashed-SGD)\n"
        "                      (default SEQ)\n"
        "  -n, --threads N     worker threads per rank (default 1)\n"
        "  -A, --arch ARCH     a preset, MLP, CNN or LENET (default MLP), or a layer list\n"
        "                      from the input, comma-separated: conv:C:K[:sS][:pP]\n"
        "                      (C channels, KxK kernel, stride S, padding P), maxpool:K,\n"
        "                      avgpool:K, fc:N, relu, sigmoid, tanh, and fc last (one\n"
        "                      output per class); CNN is conv:4:3,relu,maxpool:2,\n"
        "                      conv:8:3,relu,maxpool:2,fc:128,relu,fc\n"
        "  -L, --layers N      MLP hidden layers (default 3)\n"
        "  -U, --units N       MLP units per hidden layer (default 128)\n"
        "  -B, --persistence N LSH persistence bound: CAS failures before a gradient is\n"
        "                      dropped; 0 = one attempt, inf or -1 = never drop (default inf)\n"
        "  -e, --epochs N      epochs (default 10)\n"
        "  -r, --rounds N      mini-batch gradients per epoch and rank, all its threads\n"
        "                      together (default: the rank's training samples / batch\n"
        "                      size, one pass over its shard)\n"
        "  -b, --batch N       mini-batch size (default 512)\n"
        "  -l, --step X        step size for the MEAN loss over a batch (default 0.5), as in\n"
        "                      the paper authors' tool; its inputs differ: see --input-scale\n"
        "  -m, --momentum X    momentum, 0 <= X < 1 (default 0)\n"
        "  -D, --dataset NAME  MNIST, FASHION-MNIST, CIFAR10 or SYNTH (default FASHION-MNIST),\n"
        "                      or FILE.npz: NumPy arrays x_train, y_train and optionally\n"
        "                      x_test, y_test (x: uint8, float32 or float64, (N, H, W),\n"
        "                      (N, H, W, C) or (N, F); y: integers)\n"
        "  -t, --step-policy POLICY\n"
        "                      staleness-adaptive step: NONE, INVERSE, TAIL or FLEET\n"
        "                      (default NONE)\n"
        "  -q, --quiet         no progress lines on stderr\n",
        out);
}

static void usage_data(FILE *out)
{
    fputs(
        "  --data-dir DIR      dataset directory (default: FASHION-MNIST\n"
        "                      /usr/share/datasets/fashion-mnist, MNIST\n"
        "                      /usr/share/datasets/mnist, CIFAR10\n"
        "                      /usr/share/datasets/cifar-10-batches-bin)\n"
        "  --holdout N         use only the test split: its last N samples are the test set,\n"
        "                      the samples before them the training set (-D FILE.npz: the\n"
        "                      last N of x_train and y_train; x_test and y_test unused)\n"
        "  --classes N         -D FILE.npz: at least N classes (default: 1 + the largest\n"
        "                      label)\n"
        "  --seed N            seed for initialization, shuffling and SYNTH (default 1)\n"
        "  --input-scale S     pixels to inputs: standardize (per channel, with the\n"
        "                      training set's mean and deviation; default), unit (/255,\n"
        "                      as torchvision's ToTensor) or raw (0-255, as the paper\n"
        "                      authors' tool feeds MNIST and Fashion-MNIST); float data\n"
        "                      (.npz): standardize or raw (the values as stored)\n"
        "  --init NAME         weight initialization: NORMAL (N(0, 0.01^2)), HE or GLOROT\n"
        "  --activation NAME   MLP hidden activation: RELU, SIGMOID or TANH (default RELU)\n"
        "  --synth-train N     SYNTH training samples (default 6000)\n"
        "  --synth-test N      SYNTH test samples (default 1000)\n"
        "  --tau-max N         staleness clamp for -t and the histogram (default 200)\n"
        "  --tail-amplitude X  amplitude A of -t TAIL, 0 <= X <= 1 (default 1)\n"
        "  --target-loss X     stop after the first epoch whose training loss is <= X\n"
        "  --placement P       bind workers to PUs: compact (default), scatter or none\n"
        "  --topology          print the topology, the cpuset and the placement for -n,\n"
        "                      then exit\n"
        "  --describe          print -A's layers for -D's input, each with its output shape\n"
        "                      and parameter count, then exit\n",
        out);
}

static void usage_run(FILE *out)
{
    fputs(
        "  --avg-every K       under MPI, average the ranks' models every K local updates\n"
        "                      (default 0: only once, at the end)\n"
        "  --avg-period S      ... and/or every S seconds (default 0: not by time)\n"
        "  --avg-mode MODE     overlapped (default: the workers never wait for a round) or\n"
        "                      blocking (they pause at exactly every K-th update while the\n"
        "                      ranks average: SEQ and SYNC then repeat bit for bit)\n"
        "  --stall-warn S      a rank that waits S seconds for the others says which have\n"
        "                      arrived, and a stop ends such a wait (default 60; 0: never)\n"
        "  --progress-every S  print a progress line every S seconds inside epochs (for\n"
        "                      logs; on a terminal a live line is redrawn without it)\n"
        "  --output FILE       write the JSON result document to FILE (default stdout),\n"
        "                      rewritten after every epoch\n"
        "  --checkpoint FILE   write checkpoints to FILE: at the end of the run, when it is\n"
        "                      stopped by a signal, and as the next two options say\n"
        "  --checkpoint-every N   ... every N updates (of this rank)\n"
        "  --checkpoint-period S  ... every S seconds\n"
        "  --resume FILE       continue the run a checkpoint holds (same configuration and\n"
        "                      data; on other ranks or -n, from the mean of its models);\n"
        "                      --resume auto: from --checkpoint's file if it exists, else\n"
        "                      start afresh (one command line for requeues)\n"
        "  --trace-every N     a point of the loss trace every N updates (default: about\n"
        "                      20 an epoch; 0: no trace)\n"
        "  --timeline FILE     write a timeline of every worker and rank (Chrome trace\n"
        "                      format: Perfetto, chrome://tracing, leash-report --timeline)\n"
        "  --timeline-every N  ... recording 1 update in N per worker (default 10)\n"
        "  --timeline-max-events N  ... keeping at most N events in all (default\n"
        "                      500000; the file says where it was cut)\n"
        "  --save-model FILE   save the final model (architecture, parameters, scaling)\n"
        "  --evaluate FILE     score a saved model or a checkpoint on the test set of -D\n"
        "                      and --data-dir, print {test_loss, test_accuracy}, and exit\n"
        "  --help              print this help and exit\n"
        "  --version           print the version and exit\n"
        "\n"
        "SIGTERM, SIGINT and SIGUSR1 stop the run at the next mini-batch: it writes the\n"
        "result so far and its checkpoint (with --checkpoint; the stop line prints the\n"
        "command that resumes it), and exits with status 75. A second signal ends it at\n"
        "once. Under mpirun, send SIGUSR1 (forwarded to every rank): on SIGINT or\n"
        "SIGTERM mpirun stops the ranks alike but exits with a status of its own.\n"
        "\n"
        "Exit status: 0 success, 1 runtime failure (e.g. the loss diverged),\n"
        "2 bad usage or bad input, 75 stopped early by a signal (resumable).\n",
        out);
}

void leash_options_usage(FILE *out)
{
    usage_training(out);
    usage_data(out);
    usage_run(out);
}

const char *leash_default_data_dir(leash_dataset_kind k)
{
    switch (k) {
    case LEASH_DATA_MNIST: return "/usr/share/datasets/mnist";
    case LEASH_DATA_FASHION_MNIST: return "/usr/share/datasets/fashion-mnist";
    case LEASH_DATA_CIFAR10: return "/usr/share/datasets/cifar-10-batches-bin";
    case LEASH_DATA_SYNTH:
    case LEASH_DATA_NPZ: return NULL;
    }
    return NULL;
}

/* -D FILE.npz: any path whose name ends in .npz. */
static int is_npz(const char *text)
{
    size_t n = strlen(text);
    return n > 4 && strcasecmp(text + n - 4, ".npz") == 0;
}

/* Flag as the user wrote it, for messages: "-n" or "--seed". */
static const char *flag_name(int opt, char *buf, size_t len)
{
    for (const struct option *o = long_options; o->name; ++o)
        if (o->val == opt) {
            if (opt < 256)
                snprintf(buf, len, "-%c", opt);
            else
                snprintf(buf, len, "--%s", o->name);
            return buf;
        }
    return "?";
}

static int parse_long(int opt, const char *text, long min, long max, long *out)
{
    char flag[32];
    flag_name(opt, flag, sizeof flag);
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || *end != '\0')
        return leash_fail(LEASH_EINVAL, "%s %s: not a whole number", flag, text);
    if (errno == ERANGE || v < min || v > max)
        return leash_fail(LEASH_EINVAL, "%s %s: must be between %ld and %ld", flag, text, min, max);
    *out = v;
    return 0;
}

static int parse_int(int opt, const char *text, long min, long max, int *out)
{
    long v = 0;
    int rc = parse_long(opt, text, min, max, &v);
    if (rc == 0) *out = (int)v;
    return rc;
}

/* A finite number within min..max, each bound inclusive or not. */
static int parse_double(int opt, const char *text, double min, int min_inclusive, double max,
                        int max_inclusive, double *out)
{
    char flag[32];
    flag_name(opt, flag, sizeof flag);
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || !isfinite(v))
        return leash_fail(LEASH_EINVAL, "%s %s: not a number", flag, text);
    if (min_inclusive ? v < min : v <= min)
        return leash_fail(LEASH_EINVAL, "%s %s: must be %s %g", flag, text,
                          min_inclusive ? "at least" : "greater than", min);
    if (max_inclusive ? v > max : v >= max)
        return leash_fail(LEASH_EINVAL, "%s %s: must be %s %g", flag, text,
                          max_inclusive ? "at most" : "less than", max);
    *out = v;
    return 0;
}

/* The outcome rc of parsing opt's value: a message, which names the value first, is
 * prefixed with the flag ("-a FOO: unknown algorithm ..."). */
static int with_flag(int opt, int rc)
{
    if (rc == 0) return 0;
    char flag[32], msg[1024];
    flag_name(opt, flag, sizeof flag);
    snprintf(msg, sizeof msg, "%s", leash_last_error());
    return leash_fail(rc, "%s %s", flag, msg);
}

/* The value text names among t's choices into *out, or its message led by the flag. */
static int parse_choice(int opt, const leash_names *t, const char *text, int *out)
{
    return with_flag(opt, leash_names_parse(t, text, out));
}

/* The value of the long option that name (up to any '=') is a unique prefix of, or -1. */
static int long_value(const char *name)
{
    size_t len = strcspn(name, "=");
    int value = -1, matches = 0;
    for (const struct option *p = long_options; p->name; ++p) {
        if (strncmp(p->name, name, len) != 0) continue;
        if (strlen(p->name) == len) return p->val;
        value = p->val;
        ++matches;
    }
    return matches == 1 ? value : -1;
}

/* The message for an option getopt refused (why: NULL for an unknown or ambiguous one).
 * arg is the argument getopt stopped at, short the option character (0 for a long
 * option): inside a cluster such as -Zq only the character says which one it was. */
static int bad_option(const char *arg, int short_opt, const char *why)
{
    char flag[64];
    const int is_long =
        strncmp(arg, "--", 2) == 0 && (short_opt == 0 || long_value(arg + 2) == short_opt);
    if (!is_long) {
        snprintf(flag, sizeof flag, "-%c", short_opt);
        return leash_fail(LEASH_EINVAL, "%s: %s", flag, why ? why : "unknown option (see leash --help)");
    }
    size_t len = strcspn(arg + 2, "=");
    snprintf(flag, sizeof flag, "--%.*s", (int)(len < 48 ? len : 48), arg + 2);
    if (why) return leash_fail(LEASH_EINVAL, "%s: %s", flag, why);
    /* getopt_long accepts unique prefixes; a prefix of several names is ambiguous. */
    char names[256] = "";
    size_t used = 0;
    int matches = 0;
    for (const struct option *p = long_options; p->name; ++p)
        if (len > 0 && strncmp(p->name, arg + 2, len) == 0) {
            ++matches;
            if (used < sizeof names)
                used += (size_t)snprintf(names + used, sizeof names - used, "%s--%s",
                                         matches > 1 ? ", " : "", p->name);
        }
    if (matches > 1)
        return leash_fail(LEASH_EINVAL, "%s: ambiguous option (could be %s)", flag, names);
    if (matches == 1 && strchr(arg, '='))
        return leash_fail(LEASH_EINVAL, "%s: takes no value", flag);
    return leash_fail(LEASH_EINVAL, "%s: unknown option (see leash --help)", flag);
}

/* The choices of the flags whose names are not exactly an enumeration's, from the lists
 * (options.h). The others parse with their enumeration's own function. */
#define NAME_OF(ID, NAME) NAME,
#define NAMES(what, names) {what, names, (int)(sizeof names / sizeof *names)}

/* -D's names: every kind's but NPZ's, the last, which a file's name chooses (FILE.npz). */
static const char *const dataset_names[] = {LEASH_DATASET_KINDS(NAME_OF)};
_Static_assert(LEASH_DATA_NPZ + 1 == sizeof dataset_names / sizeof *dataset_names,
               "-D's names are the kinds before NPZ");
const leash_names leash_cli_datasets = {"dataset", dataset_names, LEASH_DATA_NPZ};
static const char *const placement_names[] = {LEASH_PLACE_POLICIES(NAME_OF) "none"};
const leash_names leash_cli_placements = NAMES("placement", placement_names);
static const char *const input_scale_names[] = {LEASH_INPUT_SCALES(NAME_OF)};
const leash_names leash_cli_input_scales = NAMES("input scaling", input_scale_names);
static const char *const avg_mode_names[] = {"overlapped", "blocking"};
const leash_names leash_cli_avg_modes = NAMES("averaging mode", avg_mode_names);

/* What leash runs without options. */
static void options_defaults(leash_options *o)
{
    memset(o, 0, sizeof *o);
    leash_config_defaults(&o->cfg);
    o->dataset = LEASH_DATA_FASHION_MNIST;
    o->synth_train = 6000;
    o->synth_test = 1000;
    o->placement = LEASH_PLACE_COMPACT;
    o->stall_warn = 60.0;
}

/* A flag with a short form: the training itself. 1 if opt is none of them. */
static int parse_short_flag(leash_options *o, int opt, const char *arg)
{
    leash_config *c = &o->cfg;
    int rc = 0, choice = 0;
    switch (opt) {
    case 'a': return with_flag(opt, leash_algorithm_parse(arg, &c->algorithm));
    case 'n': return parse_int(opt, arg, 1, 4096, &c->threads);
    case 'A': c->arch = arg; return 0;
    case 'L': return parse_int(opt, arg, 0, 1 << 12, &c->hidden_layers);
    case 'U': return parse_int(opt, arg, 1, 1 << 16, &c->units);
    case 'B':
        if (strcasecmp(arg, "inf") == 0) {
            c->persistence = LEASH_PERSIST_INF;
            return 0;
        }
        return parse_long(opt, arg, -1, LONG_MAX, &c->persistence);
    case 'e': return parse_int(opt, arg, 1, INT_MAX, &c->epochs);
    case 'r': return parse_long(opt, arg, 1, LONG_MAX, &c->rounds);
    case 'b': return parse_int(opt, arg, 1, 1 << 20, &c->batch);
    case 'l': return parse_double(opt, arg, 0.0, 0, HUGE_VAL, 0, &c->step);
    case 'm': return parse_double(opt, arg, 0.0, 1, 1.0, 0, &c->momentum);
    case 'D':
        if (is_npz(arg)) {
            o->dataset = LEASH_DATA_NPZ;
            o->data_file = arg;
        } else if ((rc = parse_choice(opt, &leash_cli_datasets, arg, &choice)) == 0) {
            o->dataset = (leash_dataset_kind)choice;
            o->data_file = NULL;
        }
        return rc;
    case 't': return with_flag(opt, leash_step_policy_parse(arg, &c->step_policy));
    case 'q': o->quiet = 1; return 0;
    default: return 1;
    }
}

/* A long-only flag about the model, the data and its scaling. 1 if opt is none of them. */
static int parse_model_flag(leash_options *o, int opt, const char *arg)
{
    leash_config *c = &o->cfg;
    int rc = 0, choice = 0;
    long v = 0;
    switch (opt) {
    case OPT_DATA_DIR: o->data_dir = arg; return 0;
    case OPT_SEED:
        if ((rc = parse_long(opt, arg, 0, LONG_MAX, &v)) == 0) c->seed = (uint64_t)v;
        return rc;
    case OPT_HOLDOUT: return parse_long(opt, arg, 1, LONG_MAX, &o->holdout);
    case OPT_INIT: return with_flag(opt, leash_init_parse(arg, &c->init));
    case OPT_ACTIVATION: return with_flag(opt, leash_activation_parse(arg, &c->activation));
    case OPT_SYNTH_TRAIN: return parse_long(opt, arg, 1, 1L << 24, &o->synth_train);
    case OPT_SYNTH_TEST: return parse_long(opt, arg, 1, 1L << 24, &o->synth_test);
    case OPT_TAU_MAX: return parse_int(opt, arg, 0, 1 << 20, &c->tau_max);
    case OPT_TAIL_AMPLITUDE: return parse_double(opt, arg, 0.0, 1, 1.0, 1, &c->tail_amplitude);
    case OPT_INPUT_SCALE:
        if ((rc = parse_choice(opt, &leash_cli_input_scales, arg, &choice)) == 0)
            o->input_scale = (leash_input_scale)choice;
        return rc;
    case OPT_TARGET_LOSS: return parse_double(opt, arg, 0.0, 0, HUGE_VAL, 0, &c->target_loss);
    case OPT_CLASSES: return parse_int(opt, arg, 2, 256, &o->classes);
    case OPT_DESCRIBE: o->describe = 1; return 0;
    default: return 1;
    }
}

/* A long-only flag about the run: averaging, placement, files, reporting. 1 if opt is
 * none of them. */
static int parse_run_flag(leash_options *o, int opt, const char *arg)
{
    leash_config *c = &o->cfg;
    int rc = 0, choice = 0;
    switch (opt) {
    case OPT_AVG_EVERY: return parse_long(opt, arg, 0, LONG_MAX, &c->avg_every);
    case OPT_AVG_MODE: return parse_choice(opt, &leash_cli_avg_modes, arg, &c->avg_blocking);
    /* Bounded like --checkpoint-period: a deadline must stay a representable time. */
    case OPT_AVG_PERIOD: return parse_double(opt, arg, 0.0, 1, 1e9, 1, &c->avg_period);
    case OPT_PLACEMENT:
        if ((rc = parse_choice(opt, &leash_cli_placements, arg, &choice)) == 0)
            o->placement = choice + 1 == leash_cli_placements.count ? -1 : choice;
        return rc;
    case OPT_TOPOLOGY: o->topology = 1; return 0;
    case OPT_OUTPUT: o->output = arg; return 0;
    case OPT_CHECKPOINT: c->checkpoint = arg; return 0;
    case OPT_CHECKPOINT_EVERY: return parse_long(opt, arg, 1, LONG_MAX, &c->checkpoint_every);
    case OPT_CHECKPOINT_PERIOD: return parse_double(opt, arg, 0.0, 0, 1e9, 1, &c->checkpoint_period);
    case OPT_RESUME: o->resume = arg; return 0;
    case OPT_SAVE_MODEL: o->save_model = arg; return 0;
    case OPT_EVALUATE: o->evaluate = arg; return 0;
    case OPT_TRACE_EVERY: return parse_long(opt, arg, 0, LONG_MAX, &c->trace_every);
    case OPT_STALL_WARN: return parse_double(opt, arg, 0.0, 1, 1e9, 1, &o->stall_warn);
    case OPT_PROGRESS_EVERY: return parse_double(opt, arg, 0.0, 0, 1e9, 1, &o->progress_every);
    case OPT_TIMELINE: c->timeline = arg; return 0;
    case OPT_TIMELINE_EVERY: return parse_long(opt, arg, 1, LONG_MAX, &c->timeline_every);
    /* The file's events: rank 0 holds them all as JSON while it writes (about 150 bytes
     * each), and each thread of each rank must get 100 (checked when the run starts). */
    case OPT_TIMELINE_MAX_EVENTS:
        return parse_long(opt, arg, LEASH_TIMELINE_MIN_EVENTS, LEASH_TIMELINE_MAX_EVENTS_LIMIT,
                          &c->timeline_max_events);
    case OPT_HELP: o->help = 1; return 0;
    case OPT_VERSION: o->version = 1; return 0;
    default: return 1;
    }
}

/* The flags together: what no single flag's parse can see. */
static int check_combinations(leash_options *o)
{
    leash_config *c = &o->cfg;
    if (leash_arch_layers(c->arch, c->hidden_layers, c->units, c->activation, &o->layers) != 0) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", leash_last_error());
        return leash_fail(LEASH_EINVAL, "-A: %s", msg);
    }
    c->dataset = o->dataset;
    if (o->data_file) {
        if (o->given[OPT_DATA_DIR])
            return leash_fail(LEASH_EINVAL, "--data-dir: not used with -D %s (the file is the data)",
                              o->data_file);
        o->data_dir = o->data_file;
    }
    if (c->avg_blocking && (c->avg_period > 0 || c->avg_every == 0))
        return leash_fail(LEASH_EINVAL, "--avg-mode blocking: rounds come every --avg-every K updates%s",
                          c->avg_period > 0 ? ", not by time (drop --avg-period)" : "; give K");
    if (!c->checkpoint && (c->checkpoint_every || c->checkpoint_period))
        return leash_fail(LEASH_EINVAL, "--checkpoint-%s: needs --checkpoint FILE",
                          c->checkpoint_every ? "every" : "period");
    if (o->resume && strcmp(o->resume, "auto") == 0 && !c->checkpoint)
        return leash_fail(LEASH_EINVAL, "--resume auto: needs --checkpoint FILE to resume from");
    const char *files[] = {c->checkpoint, o->resume, o->save_model, o->evaluate, o->output};
    const char *names[] = {"--checkpoint", "--resume", "--save-model", "--evaluate", "--output"};
    for (int i = 0; i < 5; ++i)
        if (files[i] && !files[i][0]) return leash_fail(LEASH_EINVAL, "%s: empty file name", names[i]);
    return 0;
}

int leash_options_parse(leash_options *o, int argc, char **argv)
{
    options_defaults(o);
    opterr = 0; /* messages are ours, in one format */
    /* 0, not 1: glibc then resets all of getopt's state, including its pointer into the
     * previous argv's option cluster, so that a second parse reads only this argv. */
    optind = 0;
    int opt, rc = 0;
    while (rc == 0 && (opt = getopt_long(argc, argv, ":a:n:A:L:U:B:e:r:b:l:m:D:t:q", long_options,
                                         NULL)) != -1) {
        if (opt == ':')
            rc = bad_option(argv[optind - 1], optopt, "missing value");
        else if ((rc = parse_short_flag(o, opt, optarg)) == 1 &&
                 (rc = parse_model_flag(o, opt, optarg)) == 1 &&
                 (rc = parse_run_flag(o, opt, optarg)) == 1)
            rc = bad_option(argv[optind - 1], optopt, NULL);
        if (opt > 0 && opt < LEASH_OPTIONS_MAX) o->given[opt] = 1;
    }
    if (rc) return rc;
    if (optind < argc)
        return leash_fail(LEASH_EINVAL, "%s: unexpected argument (see leash --help)", argv[optind]);
    return check_combinations(o);
}

/* A flag the user gave in a run where it changes nothing: said once, so that a typo or a
 * misread flag is not silently ignored. */
static void unused(FILE *err, int *count, const char *flag, const char *why)
{
    fprintf(err, "leash: warning: %s: no effect %s\n", flag, why);
    ++*count;
}

int leash_options_warn(const leash_options *o, int ranks, FILE *err)
{
    const leash_config *c = &o->cfg;
    const unsigned char *g = o->given;
    int count = 0;
    if (o->evaluate || o->topology || o->describe || o->help || o->version) return 0;
    const int synth = o->dataset == LEASH_DATA_SYNTH;
    if (synth && g[OPT_HOLDOUT]) unused(err, &count, "--holdout", "with -D SYNTH (use --synth-test)");
    if (synth && g[OPT_DATA_DIR]) unused(err, &count, "--data-dir", "with -D SYNTH (generated data)");
    if (!synth && g[OPT_SYNTH_TRAIN]) unused(err, &count, "--synth-train", "without -D SYNTH");
    if (!synth && g[OPT_SYNTH_TEST]) unused(err, &count, "--synth-test", "without -D SYNTH");
    if (!o->data_file && g[OPT_CLASSES]) unused(err, &count, "--classes", "without -D FILE.npz");
    if (c->algorithm != LEASH_ALGO_LSH && g['B']) unused(err, &count, "-B", "without -a LSH");
    const char *preset = leash_arch_preset(c->arch);
    if (!preset || strcmp(preset, "MLP") != 0) {
        if (g['L']) unused(err, &count, "-L", "without -A MLP");
        if (g['U']) unused(err, &count, "-U", "without -A MLP");
        if (g[OPT_ACTIVATION]) unused(err, &count, "--activation", "without -A MLP");
    }
    if (!c->timeline && g[OPT_TIMELINE_EVERY]) unused(err, &count, "--timeline-every", "without --timeline");
    if (!c->timeline && g[OPT_TIMELINE_MAX_EVENTS])
        unused(err, &count, "--timeline-max-events", "without --timeline");
    if (c->step_policy != LEASH_STEP_TAIL && g[OPT_TAIL_AMPLITUDE])
        unused(err, &count, "--tail-amplitude", "without -t TAIL");
    if (c->step_policy != LEASH_STEP_NONE &&
        (c->algorithm == LEASH_ALGO_SEQ || c->algorithm == LEASH_ALGO_SYNC))
        unused(err, &count, "-t", "with -a SEQ or SYNC (their updates are never stale)");
    if (ranks == 1) {
        if (g[OPT_AVG_EVERY]) unused(err, &count, "--avg-every", "with one rank (nothing to average)");
        if (g[OPT_AVG_PERIOD]) unused(err, &count, "--avg-period", "with one rank (nothing to average)");
        if (g[OPT_STALL_WARN]) unused(err, &count, "--stall-warn", "with one rank (no other to wait for)");
    }
    return count;
}
