/* Training throughput against the sgemm-bound rate of the same model, in one process.
 *
 * The sgemm-bound rate is what the training step would reach if it did nothing but its
 * cblas_sgemm calls: the same shapes and transposes, run back to back, by as many
 * threads at once as the run has workers (their rates summed). The training rate is
 * leash_train's own (batch gathering, forward, backward, update or publish; evaluation
 * excluded). Runs alternate between the two so drift on a noisy machine hits both; the
 * figures are medians, and the ratio is the median of the per-pair ratios.
 *
 * Both rates are also given in GFLOP/s: flop_per_sample is 2 m n k summed over the
 * step's sgemm calls, over the batch (bench/fma_peak gives the core's peak).
 *
 * Usage: train_throughput [-a ALGO] [-n THREADS] [-A ARCH] [-b BATCH] [-e EPOCHS]
 *                         [-r ROUNDS] [-l STEP] [-k PAIRS] [--init NAME] [--data-dir DIR]
 * (-a: SEQ, SYNC, ASYNC, HOG or LSH, default SEQ with 1 worker; -A: a preset (MLP, CNN,
 * LENET) or a layer list, as leash -A takes; -b: 512 by default; -r: mini-batches per
 * epoch, 0 for one pass; the CNNs take a pass of several seconds; -l: the step, 0.1 by
 * default so that no worker count diverges; --init: NORMAL (default), HE or GLOROT).
 * The MLP is 3 x 128 ReLU. Prints one JSON object on stdout. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include <cblas.h>

#include "bench_util.h"

int main(int argc, char **argv)
{
    const char *dir = "/usr/share/datasets/fashion-mnist", *arch = "MLP", *algo = "SEQ";
    const char *init = "NORMAL";
    int pairs = 5, epochs = 1, threads = 1, batch = 512;
    long rounds = 0;
    double step = 0.1;
    static const struct option opts[] = {{"data-dir", required_argument, NULL, 'd'},
                                         {"init", required_argument, NULL, 'i'},
                                         {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "a:n:A:b:e:k:l:r:", opts, NULL)) != -1) {
        if (opt == 'd') dir = optarg;
        else if (opt == 'i') init = optarg;
        else if (opt == 'b') batch = atoi(optarg);
        else if (opt == 'a') algo = optarg;
        else if (opt == 'n') threads = atoi(optarg);
        else if (opt == 'A') arch = optarg;
        else if (opt == 'e') epochs = atoi(optarg);
        else if (opt == 'r') rounds = atol(optarg);
        else if (opt == 'l') step = atof(optarg);
        else if (opt == 'k') pairs = atoi(optarg);
        else return 2;
    }
    leash_config cfg;
    leash_config_defaults(&cfg); /* MLP 3 x 128: the reference run */
    leash_model m;
    if (pairs < 1 || pairs > BENCH_MAX_RUNS || epochs < 1 || rounds < 0 || threads < 1 ||
        threads > BENCH_MAX_THREADS || batch < 1 || step <= 0 ||
        leash_algorithm_parse(algo, &cfg.algorithm) != 0 ||
        leash_init_parse(init, &cfg.init) != 0 || bench_model(&m, arch) != 0) {
        fprintf(stderr, "usage: train_throughput [-a ALGO] [-n N] [-A ARCH] [-b B] [-e E] [-r R] "
                        "[-l STEP] [-k K] [--init NAME] [--data-dir D]\n");
        return 2;
    }
    cfg.arch = arch;
    cfg.batch = batch;
    cfg.epochs = epochs;
    cfg.rounds = rounds;
    cfg.threads = threads;
    cfg.step = step;

    leash_dataset train, test;
    if (leash_dataset_load(&train, LEASH_DATA_FASHION_MNIST, dir, LEASH_SPLIT_TRAIN) ||
        leash_dataset_load(&test, LEASH_DATA_FASHION_MNIST, dir, LEASH_SPLIT_TEST)) {
        fprintf(stderr, "train_throughput: %s\n", leash_last_error());
        return 2;
    }
    static leash_gemm_shape shapes[BENCH_MAX_SHAPES];
    int nshapes = leash_model_gemm_shapes(&m, cfg.batch, shapes, BENCH_MAX_SHAPES);
    if (nshapes < 0) return 1;
    double gf = bench_gemm_flops(shapes, nshapes) / cfg.batch / 1e9; /* GFLOP a sample */

    double train_rate[BENCH_MAX_RUNS], gemm_rate[BENCH_MAX_RUNS], ratio[BENCH_MAX_RUNS];
    for (int p = 0; p < pairs; ++p) {
        leash_result res;
        if (leash_train(&cfg, &train, &test, &res, NULL, NULL) != 0) {
            fprintf(stderr, "train_throughput: %s\n", leash_last_error());
            return 1;
        }
        train_rate[p] = (double)res.samples / res.time_s;
        /* As long as the training run, so both see the same machine state. */
        gemm_rate[p] = bench_sgemm_rate_threads(shapes, nshapes, cfg.batch, res.time_s, threads);
        ratio[p] = train_rate[p] / gemm_rate[p];
        leash_result_free(&res);
    }
    printf("{\"benchmark\": \"train_throughput\", \"algorithm\": \"%s\", \"threads\": %d, "
           "\"model\": \"%s\", \"init\": \"%s\", \"batch\": %d, \"epochs_per_run\": %d, "
           "\"rounds_per_epoch\": %ld, \"pairs\": %d, \"flop_per_sample\": %.0f, ",
           algo, threads, arch, init, cfg.batch, epochs, rounds, pairs, gf * 1e9);
    bench_print_blas();
    double tr = bench_median(train_rate, pairs), gemm = bench_median(gemm_rate, pairs);
    printf(", \"train_samples_per_s\": %.1f, \"sgemm_bound_samples_per_s\": %.1f, \"ratio\": %.3f, "
           "\"train_gflops\": %.2f, \"sgemm_bound_gflops\": %.2f}\n",
           tr, gemm, bench_median(ratio, pairs), tr * gf, gemm * gf);
    leash_model_free(&m);
    leash_dataset_free(&train);
    leash_dataset_free(&test);
    return 0;
}
