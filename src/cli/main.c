/* leash: the command-line program. Only main prints errors and chooses exit codes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include "cli/options.h"
#include "cli/report.h"
#include "core/clock_internal.h"
#include "core/error_internal.h"
#include "leash/leash.h"

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* Bad input (options, data) is the user's to fix: exit 2. Anything else: exit 1. */
static int exit_code_for(int rc)
{
    return rc == LEASH_EINVAL || rc == LEASH_EIO || rc == LEASH_EFORMAT || rc == LEASH_EUNSUPPORTED
               ? EXIT_USAGE
               : EXIT_RUNTIME;
}

/* Messages name the rank when there are several. */
static void message(const char *what, const char *text)
{
    if (leash_dist_size() > 1)
        fprintf(stderr, "leash: rank %d: %s%s\n", leash_dist_rank(), what, text);
    else
        fprintf(stderr, "leash: %s%s\n", what, text);
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

/* The result document goes to a temporary file beside --output, created before
 * training so an unwritable path fails at once, and renamed into place only when
 * complete: readers never see a half-written file. */
typedef struct output_file {
    const char *path;
    char *tmp_path;
    FILE *f;
} output_file;

static int output_open(output_file *o, const char *path)
{
    memset(o, 0, sizeof *o);
    o->path = path;
    if (!path) {
        o->f = stdout;
        return 0;
    }
    size_t len = strlen(path) + sizeof ".tmp.XXXXXX";
    o->tmp_path = malloc(len);
    if (!o->tmp_path) return -1;
    snprintf(o->tmp_path, len, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(o->tmp_path);
    if (fd < 0 || !(o->f = fdopen(fd, "w"))) {
        int err = errno;
        if (fd >= 0) {
            close(fd);
            unlink(o->tmp_path);
        }
        fprintf(stderr, "leash: --output %s: cannot create: %s\n", path, strerror(err));
        free(o->tmp_path);
        o->tmp_path = NULL;
        return -1;
    }
    return 0;
}

static void output_discard(output_file *o)
{
    if (o->tmp_path) {
        fclose(o->f);
        unlink(o->tmp_path);
        free(o->tmp_path);
        o->tmp_path = NULL;
    }
}

static int output_commit(output_file *o)
{
    if (!o->tmp_path) return fflush(o->f) == 0 ? 0 : -1;
    int bad = ferror(o->f) | fflush(o->f) | fsync(fileno(o->f));
    bad |= fclose(o->f);
    if (bad || rename(o->tmp_path, o->path) != 0) {
        fprintf(stderr, "leash: --output %s: cannot write: %s\n", o->path, strerror(errno));
        unlink(o->tmp_path);
        free(o->tmp_path);
        return -1;
    }
    free(o->tmp_path);
    return 0;
}

/* This rank's shard of train (all of it for one rank), scaled with the statistics of the
 * whole training set so that every shard is mapped alike. */
static int take_shard(leash_dataset *train, leash_input_map *map, uint64_t seed)
{
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

static int load_data(const leash_options *o, const char *dir, leash_dataset *train,
                     leash_dataset *test)
{
    if (o->dataset == LEASH_DATA_SYNTH)
        return leash_synth_generate(train, test, (size_t)o->synth_train, (size_t)o->synth_test, 28,
                                    28, o->cfg.seed);
    if (!o->holdout) {
        int rc = leash_dataset_load(train, o->dataset, dir, LEASH_SPLIT_TRAIN);
        return rc ? rc : leash_dataset_load(test, o->dataset, dir, LEASH_SPLIT_TEST);
    }
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

typedef struct progress {
    int epochs;
    int quiet;
} progress;

static void print_epoch(const leash_epoch_stats *s, void *arg)
{
    const progress *p = arg;
    if (p->quiet || leash_dist_rank() != 0) return;
    fprintf(stderr,
            "epoch %d/%d  train_loss %.4f  test_loss %.4f  test_acc %.4f  time %.2f s  "
            "updates/s %.1f\n",
            s->epoch, p->epochs, s->train_loss, s->test_loss, s->test_accuracy, s->time_s,
            s->time_s > 0 ? (double)s->updates / s->time_s : 0.0);
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

/* One rank's run, from options to result document. */
static int run(int argc, char **argv)
{
    const int root = leash_dist_rank() == 0;
    leash_options o;
    int rc = leash_options_parse(&o, argc, argv);
    /* Every rank parses the same arguments: rank 0 speaks for all, without a rank. */
    if (rc) {
        if (root) fprintf(stderr, "leash: %s\n", leash_last_error());
        return exit_code_for(rc);
    }
    if (o.help || o.version) {
        if (root && o.help) leash_options_usage(stdout);
        if (root && o.version) printf("leash %s\n", PACKAGE_VERSION);
        return 0;
    }

    hwloc_topology_t topo = NULL;
    hwloc_bitmap_t cpuset = NULL;
    leash_placement plan = {0};
    int policy = o.placement < 0 ? LEASH_PLACE_COMPACT : o.placement;
    rc = leash_topology_load(&topo, &cpuset);
    /* --topology shows the cpuset as given and the share the run would use. */
    hwloc_bitmap_t given = rc == 0 && o.topology ? hwloc_bitmap_dup(cpuset) : NULL;
    int sharers = 1;
    int shared = share_cpuset(topo, cpuset, &sharers);
    if (rc == 0) rc = shared;
    if (rc == 0) rc = leash_placement_plan(&plan, topo, cpuset, o.cfg.threads, (leash_place_policy)policy);
    if (o.topology) {
        int status = 0;
        if (rc)
            status = fail(rc);
        else if (root)
            print_topology(topo, given ? given : cpuset, cpuset, sharers, &plan, o.placement);
        hwloc_bitmap_free(given);
        leash_placement_free(&plan);
        hwloc_bitmap_free(cpuset);
        if (topo) hwloc_topology_destroy(topo);
        return status;
    }
    if (rc) { /* binding is best-effort: train unbound */
        message("warning: ", leash_last_error());
        fprintf(stderr, "leash: workers run unbound\n");
        o.placement = -1;
    }

    output_file out = {0};
    leash_dataset train = {0}, test = {0};
    leash_input_map map;
    leash_result res = {0};
    leash_rank_table ranks = {0};
    int status = EXIT_USAGE;
    const char *dir = o.data_dir ? o.data_dir : leash_default_data_dir(o.dataset);
    /* Only rank 0 writes the document; the ranks agree on start-up errors so that one
     * message is printed and every rank exits alike, without a hang. */
    rc = root && output_open(&out, o.output) != 0 ? LEASH_EIO : 0;
    int quiet_error = rc != 0; /* output_open printed its message */
    if (rc == 0) rc = hint_default_dir(load_data(&o, dir, &train, &test), &o);
    if (rc == 0) rc = take_shard(&train, &map, o.cfg.seed);
    int agreed = leash_dist_agree(rc);
    if (agreed) {
        output_discard(&out);
        status = quiet_error && agreed == rc ? exit_code_for(rc) : fail_agreed(agreed);
        goto done;
    }
    o.cfg.input_map = &map;
    if (!o.quiet && root) {
        warn_slow_blas();
        fprintf(stderr, "leash %s: %s, %s on %s (%zu train, %zu test), batch %d, step %g, %d thread%s",
                PACKAGE_VERSION, leash_algorithm_name(o.cfg.algorithm), leash_arch_name(o.cfg.arch),
                leash_dataset_name(o.dataset), train.n, test.n, o.cfg.batch, o.cfg.step,
                o.cfg.threads, o.cfg.threads == 1 ? "" : "s");
        if (leash_dist_size() > 1)
            fprintf(stderr, " per rank, %d ranks (--avg-every %ld, --avg-period %g)",
                    leash_dist_size(), o.cfg.avg_every, o.cfg.avg_period);
        fputc('\n', stderr);
        if (plan.nworkers) print_plan(stderr, &plan, o.placement);
    }
    if (plan.oversubscribed && o.placement >= 0) {
        char hint[256], text[352];
        more_pus_hint(hint, sizeof hint, topo, &plan, sharers);
        snprintf(text, sizeof text, "%d workers on %d PU%s: oversubscribed%s", plan.nworkers,
                 plan.pus, plan.pus == 1 ? "" : "s", hint);
        message("warning: ", text);
    }
    if (o.placement >= 0) {
        o.cfg.placement = &plan;
        o.cfg.topology = topo;
        /* First touch by this thread (initial parameters, buffers) lands on the model's
         * node; best-effort like the binding itself. */
        leash_placement_bind_memory(&plan, topo);
    }

    progress p = {o.cfg.epochs, o.quiet};
    if ((rc = leash_train(&o.cfg, &train, &test, &res, print_epoch, &p)) != 0) {
        output_discard(&out);
        /* The rank that failed reports; the others learned of it at an agreement. */
        status = fail_agreed(rc);
        goto done;
    }
    leash_run_info info = {o.dataset == LEASH_DATA_SYNTH ? NULL : dir, train.n, test.n,
                           leash_peak_rss_bytes(), topo, cpuset, plan.nworkers ? &plan : NULL,
                           o.placement};
    if ((rc = leash_report_gather(&ranks, &res, &info)) != 0) {
        output_discard(&out);
        status = fail_agreed(rc);
        goto done;
    }
    status = 0;
    if (root) {
        leash_report_write(out.f, &o, &info, &res, &ranks);
        status = output_commit(&out) == 0 ? 0 : EXIT_RUNTIME;
    }
done:
    /* Other ranks may wait for this one in a collective that it left: end them all. */
    if (leash_dist_broken()) leash_dist_abort(status ? status : EXIT_RUNTIME);
    leash_rank_table_free(&ranks);
    leash_result_free(&res);
    leash_dataset_free(&train);
    leash_dataset_free(&test);
    leash_placement_free(&plan);
    hwloc_bitmap_free(cpuset);
    if (topo) hwloc_topology_destroy(topo);
    return status;
}

int main(int argc, char **argv)
{
    int rc = leash_dist_init(&argc, &argv);
    if (rc) return fail(rc);
    int status = run(argc, argv);
    leash_dist_finalize();
    return status;
}
