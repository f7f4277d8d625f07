/* leash: the command-line program. Only main prints errors and chooses exit codes. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>
#include <hwloc.h>

#include "cli/describe.h"
#include "cli/fields.h"
#include "cli/options.h"
#include "cli/report.h"
#include "core/clock_internal.h"
#include "core/error_internal.h"
#include "core/json_internal.h"
#include "core/store_internal.h"
#include "leash/leash.h"

/* 75 is sysexits.h's EX_TEMPFAIL: stopped early, try again (resume). */
enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_STOPPED = 75 };

/* Bad input (options, data) is the user's to fix: exit 2. A stop that cut a wait short:
 * 75. Anything else: exit 1. */
static int exit_code_for(int rc)
{
    if (rc == LEASH_ESTOPPED) return EXIT_STOPPED;
    return rc == LEASH_EINVAL || rc == LEASH_EIO || rc == LEASH_EFORMAT || rc == LEASH_EUNSUPPORTED
               ? EXIT_USAGE
               : EXIT_RUNTIME;
}

/* Messages name the rank when there are several, and settings by their flags. */
static void message(const char *what, const char *text)
{
    char named[1200];
    leash_cli_name_flags(named, sizeof named, text);
    if (leash_dist_size() > 1)
        fprintf(stderr, "leash: rank %d: %s%s\n", leash_dist_rank(), what, named);
    else
        fprintf(stderr, "leash: %s%s\n", what, named);
}

/* The library's warnings, with settings named by their flags. */
static void warning(const char *text, void *arg)
{
    (void)arg;
    char named[1200];
    leash_cli_name_flags(named, sizeof named, text);
    fprintf(stderr, "leash: warning: %s\n", named);
}

static int fail(int rc)
{
    const char *msg = leash_last_error();
    message("", msg[0] ? msg : leash_strerror(rc));
    return exit_code_for(rc);
}

/* After an error the ranks agreed on (leash_dist_agree): the first failing rank reports
 * it, every rank exits with its code. */
static int fail_agreed(int rc)
{
    return rc == LEASH_EPEER ? exit_code_for(leash_dist_peer_error()) : fail(rc);
}

/* This rank's shard of train (all of it for one rank), scaled as --input-scale says;
 * standardized with the statistics of the whole training set, so that every shard is
 * mapped alike. */
static int take_shard(leash_dataset *train, leash_input_map *map, leash_input_scale scale,
                      uint64_t seed)
{
    if (scale == LEASH_SCALE_UNIT)
        leash_input_map_unit(map, train->c);
    else if (scale == LEASH_SCALE_RAW)
        leash_input_map_raw(map, train->c);
    else
        leash_input_map_standardize(map, train);
    if (leash_dist_size() == 1) return 0;
    leash_dataset shard;
    int rc = leash_dataset_shard(&shard, train, leash_dist_rank(), leash_dist_size(), seed);
    if (rc) return rc;
    leash_dataset_free(train);
    *train = shard;
    return 0;
}

/* A data directory the user did not choose: say whose default it is and how to choose. */
static int hint_default_dir(int rc, const leash_options *o)
{
    if (rc != LEASH_EIO || o->data_dir || o->dataset == LEASH_DATA_SYNTH) return rc;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", leash_last_error());
    return leash_fail(rc,
                      "%s; it is the default directory of -D %s%s: give another with --data-dir",
                      msg, leash_dataset_name(o->dataset),
                      o->dataset == LEASH_DATA_FASHION_MNIST
                          ? ", filled by the Debian package dataset-fashion-mnist"
                          : "");
}

/* -D FILE.npz: both splits, or with --holdout the last N training samples as the test
 * set. */
static int load_npz(const leash_options *o, leash_dataset *train, leash_dataset *test)
{
    leash_dataset all = {0}, unused = {0};
    int rc = leash_npz_load(o->holdout ? &all : train, o->holdout ? &unused : test,
                            o->data_file, o->classes);
    leash_dataset_free(&unused);
    if (rc || !o->holdout) {
        if (!rc && test->n == 0)
            rc = leash_fail(LEASH_EINVAL,
                            "-D %s: no x_test and y_test: give --holdout N to test on the last N "
                            "training samples",
                            o->data_file);
        return rc;
    }
    if ((size_t)o->holdout >= all.n) {
        rc = leash_fail(LEASH_EINVAL, "--holdout %ld: must be less than the %zu samples of x_train in %s",
                        o->holdout, all.n, o->data_file);
    } else {
        size_t ntrain = all.n - (size_t)o->holdout;
        rc = leash_dataset_slice(train, &all, 0, ntrain);
        if (!rc) rc = leash_dataset_slice(test, &all, ntrain, (size_t)o->holdout);
    }
    leash_dataset_free(&all);
    return rc;
}

static int load_data(const leash_options *o, const char *dir, leash_dataset *train,
                     leash_dataset *test)
{
    if (o->dataset == LEASH_DATA_NPZ) return load_npz(o, train, test);
    if (o->dataset == LEASH_DATA_SYNTH) {
        /* 28x28 bytes a sample, generated before anything else is sized. */
        const double bytes = (double)(o->synth_train + o->synth_test) * 28 * 28;
        if (bytes > (double)leash_memory_total())
            return leash_fail(LEASH_EINVAL,
                              "--synth-train %ld --synth-test %ld: %.1f GiB of images, more than "
                              "the %.1f GiB of memory",
                              o->synth_train, o->synth_test, bytes / (1 << 30),
                              (double)leash_memory_total() / (1 << 30));
        return leash_synth_generate(train, test, (size_t)o->synth_train, (size_t)o->synth_test, 28,
                                    28, o->cfg.seed);
    }
    if (!o->holdout) return leash_dataset_load_splits(train, test, o->dataset, dir);
    leash_dataset all = {0};
    int rc = leash_dataset_load(&all, o->dataset, dir, LEASH_SPLIT_TEST);
    if (rc) return rc;
    if ((size_t)o->holdout >= all.n) {
        rc = leash_fail(LEASH_EINVAL,
                        "--holdout %ld: must be less than the %zu samples of the test split in %s",
                        o->holdout, all.n, dir);
        leash_dataset_free(&all);
        return rc;
    }
    size_t ntrain = all.n - (size_t)o->holdout;
    rc = leash_dataset_slice(train, &all, 0, ntrain);
    if (!rc) rc = leash_dataset_slice(test, &all, ntrain, (size_t)o->holdout);
    leash_dataset_free(&all);
    return rc;
}

/* OpenBLAS 0.3.21 (Debian 12) does not recognize recent Intel models and falls back to
 * its SSE3 "Prescott" kernels, several times slower than the AVX2 ones the CPU runs. The
 * kernels are chosen when the library loads, so only the environment can change them. */
static void warn_slow_blas(void)
{
    const char *core = openblas_get_corename();
    if (strcmp(core, "Prescott") == 0 && __builtin_cpu_supports("avx2"))
        fprintf(stderr,
                "leash: warning: OpenBLAS uses its %s kernels on this AVX2 CPU; set "
                "OPENBLAS_CORETYPE=Haswell (or SkylakeX with AVX-512) for much faster training\n",
                core);
}

/* One line of stderr: the plan, so that a job log shows where the workers ran. */
static void print_plan(FILE *f, const leash_placement *plan, int policy)
{
    fprintf(f, "placement: %s, %d worker%s on PU%s", policy < 0 ? "none (unbound)" : leash_place_policy_name((leash_place_policy)policy),
            plan->nworkers, plan->nworkers == 1 ? "" : "s", plan->nworkers == 1 ? "" : "s");
    for (int i = 0; i < plan->nworkers; ++i)
        fprintf(f, "%s%d", i ? "," : " ", plan->workers[i].pu);
    fprintf(f, " (%d core%s, %d PU%s available), model on NUMA node %d\n", plan->cores,
            plan->cores == 1 ? "" : "s", plan->pus, plan->pus == 1 ? "" : "s", plan->model_numa);
}

/* For a plan with more workers than PUs: how to give the process the PUs it needs. With
 * sharers > 1, ranks on this node were given the same cpuset and split it. */
static void more_pus_hint(char *buf, size_t len, hwloc_topology_t topo, const leash_placement *plan,
                          int sharers)
{
    const int machine = hwloc_bitmap_weight(hwloc_topology_get_allowed_cpuset(topo));
    const int m = plan->nworkers;
    if (machine < m)
        snprintf(buf, len, "; this machine has %d PUs: use fewer workers (-n)", machine);
    else if (sharers > 1)
        snprintf(buf, len,
                 "; the %d ranks on this node split its cores: start fewer per node, or fewer "
                 "workers (-n)",
                 sharers);
    else if (leash_dist_launched())
        snprintf(buf, len,
                 "; give each rank %d cores: mpirun --map-by slot:PE=%d (or --bind-to none, and "
                 "the ranks on a node split its cores), srun --cpus-per-task=%d",
                 m, m, m);
    else
        snprintf(buf, len, "; this process was given %d of this machine's %d PUs", plan->pus,
                 machine);
}

/* --topology: what leash sees and what it would do with -n and --placement: the cpuset
 * the launcher gave, this rank's share of it when ranks on the node were given the same
 * one (sharers of them), and the plan on that share. */
static void print_topology(hwloc_topology_t topo, hwloc_const_bitmap_t given,
                           hwloc_const_bitmap_t cpuset, int sharers, const leash_placement *plan,
                           int policy)
{
    char *set = NULL;
    hwloc_bitmap_list_asprintf(&set, given);
    printf("machine: %d package%s, %d NUMA node%s, %d cores, %d PUs\n",
           hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE),
           hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE) == 1 ? "" : "s",
           hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE),
           hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE) == 1 ? "" : "s",
           hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE), hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU));
    printf("cpuset given to this process: %s\n", set ? set : "?");
    free(set);
    if (sharers > 1) {
        set = NULL;
        hwloc_bitmap_list_asprintf(&set, cpuset);
        printf("shared by the %d ranks on this node given it: rank %d uses %s\n", sharers,
               leash_dist_rank(), set ? set : "?");
        free(set);
    }
    print_plan(stdout, plan, policy);
    for (int i = 0; i < plan->nworkers; ++i)
        printf("  worker %d: PU %d, core %d, NUMA node %d\n", i, plan->workers[i].pu,
               plan->workers[i].core, plan->workers[i].numa);
    if (plan->oversubscribed) {
        char hint[256];
        more_pus_hint(hint, sizeof hint, topo, plan, sharers);
        printf("oversubscribed: %d workers share %d PU%s%s\n", plan->nworkers, plan->pus,
               plan->pus == 1 ? "" : "s", hint);
    }
}

/* Ranks on one node given the same cpuset split it, instead of all planning their
 * workers onto its first cores; *count gets how many ranks share it. Collective: a rank
 * without a topology (topo NULL) takes part all the same. */
static int share_cpuset(hwloc_topology_t topo, hwloc_bitmap_t cpuset, int *count)
{
    char *text = NULL;
    if (topo && hwloc_bitmap_list_asprintf(&text, cpuset) < 0) text = NULL;
    int index;
    int rc = leash_dist_node_peers(text ? text : "", &index, count);
    free(text);
    if (rc || !topo) return rc;
    return leash_cpuset_share(topo, cpuset, index, *count);
}


/* The first SIGTERM, SIGINT or SIGUSR1 asks the run to stop at its next safe point; the
 * second ends the process at once, removing a temporary file being written (the files
 * already in place stay whole). */
static volatile sig_atomic_t signals_seen;

static void on_signal(int sig)
{
    (void)sig;
    if (signals_seen++ == 0) {
        leash_request_stop();
        return;
    }
    leash_write_atomic_abandon();
    _exit(EXIT_STOPPED);
}

static void catch_signals(void)
{
    /* A reader that went away is reported as a failed write (EPIPE), not a silent death. */
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    const int sigs[] = {SIGTERM, SIGINT, SIGUSR1};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; ++i) sigaction(sigs[i], &sa, NULL);
}

/* The caller closed standard output: the result has nowhere to go without --output. */
static int stdout_closed;

/* A standard descriptor left closed would be taken by the next file opened (a data file,
 * the temporary result file): progress lines would then be written into the document.
 * Hold each one with /dev/null opened the wrong way round, so that it stays as unusable
 * as a closed one (EBADF) while no file can take its number. */
static int hold_std_fds(void)
{
    for (int fd = 0; fd <= 2; ++fd) {
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
        if (fd == 1) stdout_closed = 1;
        if (open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY) != fd) return -1;
    }
    return 0;
}

/* Write a document held in memory: atomically to path (or into the device or FIFO it
 * names), or to stdout. */
static int emit(const char *path, const char *data, size_t len, const char *what)
{
    if (path) return leash_write_output(path, data, len, what);
    if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0)
        return leash_fail(LEASH_EWRITE, "standard output: cannot write the result: %s",
                          strerror(errno));
    return 0;
}

/* Where the result goes must be writable before anything long starts. */
static int check_result_path(const leash_options *o)
{
    if (o->output) return leash_check_output(o->output, "--output");
    if (stdout_closed)
        return leash_fail(LEASH_EINVAL,
                          "standard output is closed: nowhere to write the result (give --output FILE)");
    return 0;
}

/* An argument as the shell reads it back: single-quoted unless it is plainly safe. */
static void put_shell_word(FILE *f, const char *w)
{
    if (w[0] && strspn(w, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./=:,+-@%") ==
                    strlen(w)) {
        fputs(w, f);
        return;
    }
    fputc('\'', f);
    for (; *w; ++w) *w == '\'' ? fputs("'\\''", f) : fputc(*w, f);
    fputc('\'', f);
}

/* After a stop: what was done, and the command that resumes it (this one, its --resume
 * replaced by the checkpoint), or why there is none. */
static void print_stop_line(FILE *f, const leash_options *o, int nepochs, int argc,
                            char *const *argv)
{
    fprintf(f, "leash: stopped by a signal after %d of %d epochs", nepochs, o->cfg.epochs);
    if (!o->cfg.checkpoint) {
        fprintf(f, "; without --checkpoint it cannot be resumed (the result so far is %s%s)\n",
                o->output ? "in " : "on standard output", o->output ? o->output : "");
        return;
    }
    if (leash_dist_size() > 1)
        fprintf(f, "; to resume, start the same %d ranks with:", leash_dist_size());
    else
        fputs("; to resume:", f);
    for (int i = 0; i < argc; ++i) {
        if (strcmp(argv[i], "--resume") == 0) {
            ++i;
            continue;
        }
        if (strncmp(argv[i], "--resume=", 9) == 0) continue;
        fputc(' ', f);
        put_shell_word(f, argv[i]);
    }
    fputs(" --resume ", f);
    put_shell_word(f, o->cfg.checkpoint);
    fputc('\n', f);
}

/* Everything the result document is made of besides the result itself. */
typedef struct report_ctx {
    const leash_options *o;
    leash_run_info info;
    leash_provenance prov;
    /* The progress line: redrawn in place (a terminal), or plain lines (--progress-every);
     * drawn: a live line is on the screen, to be erased before the next message. */
    int progress_live, progress_drawn;
} report_ctx;

/* Collective: gather the ranks' figures and, on rank 0, write the document for the run
 * so far (to --output; to stdout only once the run has ended). */
static int write_report(report_ctx *c, const leash_result *res, leash_run_status status)
{
    if (status == LEASH_RUN_RUNNING && !c->o->output) return 0;
    leash_rank_table ranks = {0};
    c->info.peak_rss_bytes = leash_peak_rss_bytes();
    int rc = leash_report_gather(&ranks, res, &c->info);
    /* A device or FIFO gets one document, the last, as stdout does. */
    const int once = status == LEASH_RUN_RUNNING && leash_output_is_stream(c->o->output);
    if (rc == 0 && leash_dist_rank() == 0 && !once) {
        char *doc = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&doc, &len);
        if (!f) {
            rc = leash_fail(LEASH_ENOMEM, "out of memory for the result document");
        } else {
            leash_report_write(f, c->o, &c->info, &c->prov, status, res, &ranks);
            rc = fclose(f) == 0 ? emit(c->o->output, doc, len, "--output")
                                : leash_fail(LEASH_ENOMEM, "out of memory for the result document");
        }
        free(doc);
    }
    leash_rank_table_free(&ranks);
    return rc;
}

/* Inside an epoch (rank 0, workers running): where it stands, its speed, the loss since
 * the previous line, and the time left at that speed. */
static void on_progress(const leash_progress_info *p, void *arg)
{
    report_ctx *c = arg;
    const double rate = p->elapsed_s > 0 ? (double)p->updates / p->elapsed_s : 0.0;
    char loss[32] = "-", eta[32] = "-";
    if (!isnan(p->loss)) snprintf(loss, sizeof loss, "%.4f", p->loss);
    if (rate > 0 && p->updates_per_epoch >= p->updates)
        snprintf(eta, sizeof eta, "%.0f s", (double)(p->updates_per_epoch - p->updates) / rate);
    fprintf(stderr, "%sepoch %d/%d  updates %llu/%llu  updates/s %.1f  loss %s  eta %s%s",
            c->progress_live ? "\r" : "", p->epoch, c->o->cfg.epochs, (unsigned long long)p->updates,
            (unsigned long long)p->updates_per_epoch, rate, loss, eta,
            c->progress_live ? "\033[K" : "\n");
    c->progress_drawn = c->progress_live;
}

/* Erase a live progress line, so that the next message starts a clean line. */
static void erase_progress(report_ctx *c)
{
    if (c->progress_drawn) fputs("\r\033[K", stderr);
    c->progress_drawn = 0;
}

/* Progress inside epochs, on rank 0 unless -q: live on a terminal, plain lines with
 * --progress-every, none in a log. */
static void want_progress(leash_options *o, report_ctx *c)
{
    if (o->quiet || leash_dist_rank() != 0 || (o->progress_every <= 0 && !isatty(STDERR_FILENO)))
        return;
    c->progress_live = o->progress_every <= 0;
    o->cfg.progress_every = c->progress_live ? 0.25 : o->progress_every;
    o->cfg.on_progress = on_progress;
    o->cfg.progress_arg = c;
}

/* After each epoch: the epoch's line, and the document so far. */
static int on_epoch(const leash_result *res, void *arg)
{
    report_ctx *c = arg;
    const leash_epoch_stats *s = &res->epochs[res->nepochs - 1];
    erase_progress(c);
    if (!c->o->quiet && leash_dist_rank() == 0)
        fprintf(stderr,
                "epoch %d/%d  train_loss %.4f  test_loss %.4f  test_acc %.4f  time %.2f s  "
                "updates/s %.1f\n",
                s->epoch, c->o->cfg.epochs, s->train_loss, s->test_loss, s->test_accuracy,
                s->time_s, s->time_s > 0 ? (double)s->updates / s->time_s : 0.0);
    return write_report(c, res, LEASH_RUN_RUNNING);
}

/* The test set a run with these options scores on (for --evaluate). */
static int load_test(const leash_options *o, const char *dir, leash_dataset *test)
{
    leash_dataset train = {0};
    int rc;
    if (o->dataset == LEASH_DATA_SYNTH || o->dataset == LEASH_DATA_NPZ || o->holdout) {
        rc = load_data(o, dir, &train, test);
        leash_dataset_free(&train);
        return rc;
    }
    return leash_dataset_load(test, o->dataset, dir, LEASH_SPLIT_TEST);
}

/* --evaluate FILE: score a saved model (or a checkpoint's) as its run did. */
static int evaluate(const leash_options *o)
{
    const int root = leash_dist_rank() == 0;
    const char *dir = o->data_dir ? o->data_dir : leash_default_data_dir(o->dataset);
    leash_saved_model sm = {0};
    leash_dataset test = {0};
    int rc = root ? check_result_path(o) : 0;
    if (rc == 0) rc = leash_model_load(&sm, o->evaluate);
    if ((rc = leash_dist_agree(rc)) != 0) {
        leash_saved_model_free(&sm);
        return fail_agreed(rc);
    }
    double loss = 0, acc = 0;
    rc = hint_default_dir(load_test(o, dir, &test), o);
    if (rc == 0)
        rc = leash_evaluate(&sm.model, sm.params, &sm.map, &test, sm.eval_batch, sm.eval_ranks,
                            &loss, &acc);
    if ((rc = leash_dist_agree(rc)) != 0) {
        leash_dataset_free(&test);
        leash_saved_model_free(&sm);
        return fail_agreed(rc);
    }
    if (rc == 0 && root) {
        char *doc = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&doc, &len);
        if (f) {
            fprintf(f, "{\n  \"model\": ");
            leash_json j;
            leash_json_init(&j, f);
            leash_json_string(&j, o->evaluate);
            fprintf(f, ",\n  \"dataset\": \"%s\",\n  \"test_samples\": %zu,\n", leash_dataset_name(o->dataset), test.n);
            fprintf(f, "  \"test_loss\": %.17g,\n  \"test_accuracy\": %.17g\n}\n", loss, acc);
        }
        rc = f && fclose(f) == 0 ? emit(o->output, doc, len, "--output")
                                 : leash_fail(LEASH_ENOMEM, "out of memory");
        free(doc);
    }
    leash_dataset_free(&test);
    leash_saved_model_free(&sm);
    return rc ? fail(rc) : 0;
}

/* One rank's run, from options to result document. */
/* The machine as this rank sees it: its topology, the cpuset it was given (and its
 * share of it when ranks share one), and the workers' plan there. */
typedef struct machine {
    hwloc_topology_t topo;
    hwloc_bitmap_t cpuset;
    hwloc_bitmap_t given; /* the cpuset as given, kept for --topology */
    leash_placement plan;
    int sharers;
} machine;

/* Collective (the ranks on a node share out a common cpuset): plan the workers. */
static int plan_machine(machine *mc, const leash_options *o)
{
    int rc = leash_topology_load(&mc->topo, &mc->cpuset);
    mc->given = rc == 0 && o->topology ? hwloc_bitmap_dup(mc->cpuset) : NULL;
    mc->sharers = 1;
    int shared = share_cpuset(mc->topo, mc->cpuset, &mc->sharers);
    if (rc == 0) rc = shared;
    const int policy = o->placement < 0 ? LEASH_PLACE_COMPACT : o->placement;
    if (rc == 0)
        rc = leash_placement_plan(&mc->plan, mc->topo, mc->cpuset, o->cfg.threads,
                                  (leash_place_policy)policy);
    return rc;
}

static void machine_free(machine *mc)
{
    hwloc_bitmap_free(mc->given);
    leash_placement_free(&mc->plan);
    hwloc_bitmap_free(mc->cpuset);
    if (mc->topo) hwloc_topology_destroy(mc->topo);
}

/* --topology: what a rank sees and would do (rc: how planning went). */
static int show_topology(const machine *mc, const leash_options *o, int rc)
{
    if (rc) return fail(rc);
    if (leash_dist_rank() == 0)
        print_topology(mc->topo, mc->given ? mc->given : mc->cpuset, mc->cpuset, mc->sharers,
                       &mc->plan, o->placement);
    return 0;
}

/* Rank 0: the files it will write, checked before anything long starts. */
static int check_output_paths(const leash_options *o)
{
    int rc = check_result_path(o);
    if (!rc && o->save_model) rc = leash_check_writable(o->save_model, "--save-model");
    if (!rc && o->cfg.checkpoint) rc = leash_check_writable(o->cfg.checkpoint, "--checkpoint");
    if (!rc && o->cfg.timeline) rc = leash_check_output(o->cfg.timeline, "--timeline");
    return rc;
}

/* Collective: the checkpoint to resume from must exist for rank 0, which reads it
 * (--resume auto without one starts afresh). */
static int check_resume(const leash_options *o)
{
    const char *path = o->cfg.resume_auto ? o->cfg.checkpoint : o->cfg.resume;
    int found = 0;
    int rc = path ? leash_checkpoint_locate(path, &found) : 0;
    if (rc) return rc;
    if (path && !found && !o->cfg.resume_auto && leash_dist_rank() == 0)
        rc = leash_fail(LEASH_EIO, "--resume %s: %s", path, strerror(ENOENT));
    return leash_dist_agree(rc);
}

/* Collective: the run's files checked, before the data are loaded (only rank 0 writes
 * files; a bad path fails now, not after loading or training), then the data loaded on
 * every rank, agreed on so that one message is printed and every rank exits alike. */
static int load_inputs(const leash_options *o, const char *dir, leash_dataset *train,
                       leash_dataset *test, leash_input_map *map)
{
    int rc = leash_dist_rank() == 0 ? check_output_paths(o) : 0;
    if ((rc = leash_dist_agree(rc)) == 0) rc = check_resume(o);
    if (rc) return rc;
    rc = leash_cli_check_arch(o);
    if (rc == 0) rc = hint_default_dir(load_data(o, dir, train, test), o);
    if (rc == 0) rc = leash_cli_check_data(o, train);
    if (rc == 0) rc = take_shard(train, map, o->input_scale, o->cfg.seed);
    return leash_dist_agree(rc);
}

/* The start-up lines (rank 0, unless -q), the oversubscription warning, and the plan
 * handed to the run. */
static void announce_and_place(leash_options *o, machine *mc, const leash_dataset *train,
                               const leash_dataset *test)
{
    leash_placement *plan = &mc->plan;
    if (!o->quiet && leash_dist_rank() == 0) {
        warn_slow_blas();
        fprintf(stderr, "leash %s: %s, %s on %s (%zu train, %zu test), batch %d, step %g, %d thread%s",
                PACKAGE_VERSION, leash_algorithm_name(o->cfg.algorithm),
                leash_arch_preset(o->cfg.arch) ? leash_arch_preset(o->cfg.arch) : o->layers,
                o->data_file ? o->data_file : leash_dataset_name(o->dataset), train->n, test->n,
                o->cfg.batch, o->cfg.step,
                o->cfg.threads, o->cfg.threads == 1 ? "" : "s");
        if (leash_dist_size() > 1)
            fprintf(stderr, " per rank, %d ranks (--avg-every %ld, --avg-period %g)",
                    leash_dist_size(), o->cfg.avg_every, o->cfg.avg_period);
        fputc('\n', stderr);
        if (plan->nworkers) print_plan(stderr, plan, o->placement);
    }
    if (plan->oversubscribed && o->placement >= 0) {
        char hint[256], text[352];
        more_pus_hint(hint, sizeof hint, mc->topo, plan, mc->sharers);
        snprintf(text, sizeof text, "%d workers on %d PU%s: oversubscribed%s", plan->nworkers,
                 plan->pus, plan->pus == 1 ? "" : "s", hint);
        message("warning: ", text);
    }
    if (o->placement >= 0) {
        o->cfg.placement = plan;
        o->cfg.topology = mc->topo;
        /* First touch by this thread (initial parameters, buffers) lands on the model's
         * node; best-effort like the binding itself. */
        leash_placement_bind_memory(plan, mc->topo);
    }
}

/* After leash_train (rc): say how the run ended, write its document and its saved
 * model. Returns the exit status. */
static int report_run(report_ctx *ctx, leash_result *res, int rc, const leash_input_map *map)
{
    const leash_options *o = ctx->o;
    const int root = leash_dist_rank() == 0;
    leash_run_status outcome = rc == 0                ? LEASH_RUN_COMPLETE
                               : rc == LEASH_ESTOPPED  ? LEASH_RUN_INTERRUPTED
                               : rc == LEASH_EDIVERGED ? LEASH_RUN_DIVERGED
                                                       : LEASH_RUN_RUNNING;
    /* The rank that failed reports; the others learned of it at an agreement. */
    if (outcome == LEASH_RUN_RUNNING) return fail_agreed(rc);
    if (root && outcome == LEASH_RUN_DIVERGED)
        fprintf(stderr, "leash: " LEASH_DIVERGED_FORMAT "; the result keeps the %d epoch%s before\n",
                res->diverged_epoch, (unsigned long long)res->diverged_update, "-l", res->nepochs,
                res->nepochs == 1 ? "" : "s");
    if (root && outcome == LEASH_RUN_INTERRUPTED && !o->quiet)
        print_stop_line(stderr, o, res->nepochs, ctx->prov.argc, ctx->prov.argv);
    if ((rc = write_report(ctx, res, outcome)) == 0 && root && outcome == LEASH_RUN_COMPLETE &&
        o->save_model)
        rc = leash_model_save(o->save_model, &o->cfg, &res->model, res->params, map);
    if ((rc = leash_dist_agree(rc)) != 0) return fail_agreed(rc);
    return outcome == LEASH_RUN_COMPLETE      ? 0
           : outcome == LEASH_RUN_INTERRUPTED ? EXIT_STOPPED
                                              : EXIT_RUNTIME;
}

/* Load, train, report. Returns the exit status. */
static int train_run(leash_options *o, machine *mc, int argc, char **argv)
{
    leash_dataset train = {0}, test = {0};
    leash_input_map map;
    leash_result res = {0};
    char data_dir[PATH_MAX];
    int status;
    const char *dir = o->data_dir ? o->data_dir : leash_default_data_dir(o->dataset);
    int rc = load_inputs(o, dir, &train, &test, &map);
    if (rc) {
        status = fail_agreed(rc);
    } else {
        o->cfg.input_map = &map;
        announce_and_place(o, mc, &train, &test);
        const char *abs_dir = o->dataset == LEASH_DATA_SYNTH ? NULL
                              : realpath(dir, data_dir)     ? data_dir
                                                            : dir;
        report_ctx ctx = {o,
                          {abs_dir, train.n, test.n, 0, mc->topo, mc->cpuset,
                           mc->plan.nworkers ? &mc->plan : NULL, o->placement},
                          {argc, argv, abs_dir},
                          0,
                          0};
        want_progress(o, &ctx);
        rc = leash_train(&o->cfg, &train, &test, &res, on_epoch, &ctx);
        erase_progress(&ctx);
        /* The run's outcome stands; its document says the timeline is missing (in the
         * program's words, as the warning). */
        if (res.timeline_error) {
            char named[sizeof res.timeline_message];
            leash_cli_name_flags(named, sizeof named, res.timeline_message);
            memcpy(res.timeline_message, named, sizeof named);
            fprintf(stderr, "leash: warning: no timeline: %s\n", res.timeline_message);
        }
        status = report_run(&ctx, &res, rc, &map);
    }
    /* Other ranks may wait for this one in a collective that it left: end them all. */
    if (leash_dist_broken()) leash_dist_abort(status ? status : EXIT_RUNTIME);
    leash_result_free(&res);
    leash_dataset_free(&train);
    leash_dataset_free(&test);
    return status;
}

/* Each rank parses its own arguments (a wrapper may give ranks different ones): the
 * ranks agree, so that a bad flag on any of them ends all, with one message. Then they
 * must agree on what to do, or some would wait in collectives the others never join.
 * Returns 0, or the agreed error. */
static int agree_on_options(leash_options *o, int argc, char **argv)
{
    int rc = leash_options_parse(o, argc, argv);
    /* Before the first agreement: a rank held back at start is reported there too. */
    if (rc == 0) leash_dist_set_stall_warning(o->stall_warn);
    if ((rc = leash_dist_agree(rc)) != 0) return rc;
    const int mode = o->help       ? 1
                     : o->version  ? 2
                     : o->evaluate ? 3
                     : o->topology ? 4
                     : o->describe ? 5
                                   : 0;
    if ((rc = leash_dist_check_same(mode)) > 0)
        rc = leash_fail(LEASH_EINVAL, "the ranks were given different modes (--help, --version, "
                                      "--evaluate, --topology, --describe or training)");
    /* The timeline's start and end are collective: every rank records, or none. */
    if (rc == 0 && leash_dist_check_same(o->cfg.timeline != NULL) > 0)
        rc = leash_fail(LEASH_EINVAL, "--timeline: given to some ranks only (every rank records "
                                      "its part; rank 0 writes the file)");
    if (rc == 0 && mode == 0) rc = leash_blas_check_threads(o->cfg.threads);
    return leash_dist_agree(rc);
}

/* --describe: the layers for -D's input (every rank checks, rank 0 prints). */
static int describe(const leash_options *o)
{
    int rc = leash_dist_rank() == 0 ? leash_cli_describe(o, stdout) : 0;
    return (rc = leash_dist_agree(rc)) != 0 ? fail_agreed(rc) : 0;
}

static int run_parsed(leash_options *o, int argc, char **argv)
{
    const int root = leash_dist_rank() == 0;
    if (root) leash_options_warn(o, leash_dist_size(), stderr);
    if (o->help || o->version) {
        if (root && o->help) leash_options_usage(stdout);
        if (root && o->version) printf("leash %s\n", PACKAGE_VERSION);
        return 0;
    }
    if (o->evaluate) return evaluate(o);
    if (o->describe) return describe(o);
    if (o->resume && strcmp(o->resume, "auto") == 0)
        o->cfg.resume_auto = 1;
    else
        o->cfg.resume = o->resume;

    machine mc = {0};
    int rc = plan_machine(&mc, o);
    int status;
    if (o->topology) {
        status = show_topology(&mc, o, rc);
    } else {
        if (rc) { /* binding is best-effort: train unbound */
            message("warning: ", leash_last_error());
            fprintf(stderr, "leash: workers run unbound\n");
            o->placement = -1;
        }
        status = train_run(o, &mc, argc, argv);
    }
    machine_free(&mc);
    return status;
}

static int run(int argc, char **argv)
{
    leash_options o;
    int rc = agree_on_options(&o, argc, argv);
    int status = rc ? fail_agreed(rc) : run_parsed(&o, argc, argv);
    leash_options_free(&o);
    return status;
}

int main(int argc, char **argv)
{
    if (hold_std_fds() != 0) return EXIT_RUNTIME;
    leash_set_warning_handler(warning, NULL);
    int rc = leash_dist_init(&argc, &argv);
    if (rc) return fail(rc);
    catch_signals();
    int status = run(argc, argv);
    leash_dist_finalize();
    /* What --help, --version or --topology printed must have arrived (a write that failed
     * before the final flush left only the error indicator set). */
    if ((fflush(stdout) != 0 || ferror(stdout)) && status == 0) {
        fprintf(stderr, "leash: standard output: %s\n", strerror(errno));
        status = EXIT_RUNTIME;
    }
    return status;
}
