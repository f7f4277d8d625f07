/* The training loop: epochs of worker rounds, evaluation after each epoch.
 *
 * The worker loop is written once here against the strategy interface; the strategy
 * decides how reads and publishes synchronize. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "core/clock_internal.h"
#include "core/error_internal.h"
#include "leash/rng.h"
#include "sync/strategy_internal.h"

void leash_config_defaults(leash_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->algorithm = LEASH_ALGO_SEQ;
    cfg->threads = 1;
    cfg->arch = LEASH_ARCH_MLP;
    cfg->hidden_layers = 3;
    cfg->units = 128;
    cfg->activation = LEASH_ACT_RELU;
    cfg->init = LEASH_INIT_NORMAL;
    cfg->persistence = LEASH_PERSIST_INF;
    cfg->epochs = 10;
    cfg->rounds = 0;
    cfg->batch = 512;
    cfg->step = 0.5;
    cfg->momentum = 0.0;
    cfg->step_policy = LEASH_STEP_NONE;
    cfg->seed = 1;
}

const char *leash_algorithm_name(leash_algorithm a)
{
    static const char *const names[] = {"SEQ", "SYNC", "ASYNC", "HOG", "LSH"};
    return (unsigned)a < 5 ? names[a] : "?";
}

const char *leash_arch_name(leash_arch a)
{
    static const char *const names[] = {"MLP", "CNN", "LENET"};
    return (unsigned)a < 3 ? names[a] : "?";
}

const char *leash_step_policy_name(leash_step_policy p)
{
    static const char *const names[] = {"NONE", "INVERSE", "TAIL", "FLEET"};
    return (unsigned)p < 4 ? names[p] : "?";
}

const char *leash_init_name(leash_init i)
{
    static const char *const names[] = {"NORMAL", "HE", "GLOROT"};
    return (unsigned)i < 3 ? names[i] : "?";
}

const char *leash_activation_name(leash_activation a)
{
    static const char *const names[] = {"RELU", "SIGMOID"};
    return (unsigned)a < 2 ? names[a] : "?";
}

const char *leash_dataset_name(leash_dataset_kind k)
{
    static const char *const names[] = {"MNIST", "FASHION-MNIST", "CIFAR10", "SYNTH"};
    return (unsigned)k < 4 ? names[k] : "?";
}

static const leash_strategy_ops *strategy_for(leash_algorithm a)
{
    switch (a) {
    case LEASH_ALGO_SEQ: return &leash_seq_ops;
    default: return NULL;
    }
}

static int build_model(leash_model *m, const leash_config *cfg, const leash_dataset *d)
{
    switch (cfg->arch) {
    case LEASH_ARCH_MLP:
        return leash_model_mlp(m, d->h, d->w, d->c, d->nclasses, cfg->hidden_layers, cfg->units,
                               cfg->activation);
    case LEASH_ARCH_CNN: return leash_model_cnn(m, d->h, d->w, d->c, d->nclasses);
    case LEASH_ARCH_LENET: return leash_model_lenet(m, d->h, d->w, d->c, d->nclasses);
    }
    return leash_fail(LEASH_EINVAL, "unknown architecture %d", (int)cfg->arch);
}

/* Mean loss and accuracy of params over the whole test set, in batches of ws's size. */
static void evaluate(const leash_model *m, const float *params, leash_workspace *ws, int batch,
                     const leash_dataset *test, const leash_input_map *map, uint32_t *idx,
                     double *loss, double *accuracy)
{
    double loss_sum = 0.0;
    long correct = 0;
    for (size_t first = 0; first < test->n; first += (size_t)batch) {
        int b = test->n - first < (size_t)batch ? (int)(test->n - first) : batch;
        for (int i = 0; i < b; ++i) idx[i] = (uint32_t)(first + (size_t)i);
        leash_dataset_gather(leash_workspace_input(ws), leash_workspace_labels(ws), test, map, idx,
                             b);
        leash_model_evaluate(m, params, ws, b, &loss_sum, &correct);
    }
    *loss = loss_sum / (double)test->n;
    *accuracy = (double)correct / (double)test->n;
}

int leash_train(const leash_config *cfg, const leash_dataset *train, const leash_dataset *test,
                leash_result *res, leash_epoch_callback on_epoch, void *arg)
{
    memset(res, 0, sizeof *res);
    const leash_strategy_ops *ops = strategy_for(cfg->algorithm);
    if (!ops)
        return leash_fail(LEASH_EUNSUPPORTED, "-a %s: not implemented yet (available: SEQ)",
                          leash_algorithm_name(cfg->algorithm));
    if (cfg->batch <= 0 || cfg->epochs <= 0 || cfg->rounds < 0 || cfg->threads != 1)
        return leash_fail(LEASH_EINVAL, "invalid training configuration");
    if ((size_t)cfg->batch > train->n)
        return leash_fail(LEASH_EINVAL, "-b %d: batch size exceeds the %zu training samples",
                          cfg->batch, train->n);
    if (train->h != test->h || train->w != test->w || train->c != test->c)
        return leash_fail(LEASH_EINVAL, "training and test images differ in shape");
    if (train->c > LEASH_MAX_CHANNELS)
        return leash_fail(LEASH_EINVAL, "%d channels: at most %d supported", train->c,
                          LEASH_MAX_CHANNELS);

    int rc = build_model(&res->model, cfg, train);
    if (rc) return rc;
    const leash_model *m = &res->model;
    long rounds = cfg->rounds ? cfg->rounds : (long)(train->n / (size_t)cfg->batch);
    size_t ntrain = train->n;

    /* Workers are the parallelism: OpenBLAS must not start threads of its own. */
    openblas_set_num_threads(1);

    leash_strategy *strategy = NULL;
    leash_workspace *ws = NULL;
    uint32_t *perm = malloc(ntrain * sizeof *perm);
    uint32_t *idx = malloc((size_t)cfg->batch * sizeof *idx);
    float *grad = leash_params_alloc(m->nparams);
    res->params = leash_params_alloc(m->nparams);
    res->epochs = calloc((size_t)cfg->epochs, sizeof *res->epochs);
    if (!perm || !idx || !grad || !res->params || !res->epochs) {
        rc = leash_fail(LEASH_ENOMEM, "out of memory for training buffers");
        goto out;
    }
    leash_model_init_params(m, res->params, cfg->init, cfg->seed);
    if ((rc = ops->create(&strategy, m, res->params, cfg)) != 0) goto out;
    if ((rc = leash_workspace_create(&ws, m, cfg->batch)) != 0) goto out;

    leash_input_map map;
    leash_input_map_standardize(&map, train);
    leash_rng rng;
    leash_rng_seed(&rng, cfg->seed ^ 0x5eed5eed5eed5eedULL);
    for (size_t i = 0; i < ntrain; ++i) perm[i] = (uint32_t)i;
    float *x = leash_workspace_input(ws);
    int *y = leash_workspace_labels(ws);
    const int b = cfg->batch;

    for (int e = 0; e < cfg->epochs; ++e) {
        leash_rng_shuffle_u32(&rng, perm, ntrain);
        double t_epoch = leash_now(), loss_sum = 0.0;
        uint64_t applied = 0;
        for (long r = 0; r < rounds; ++r) {
            /* Consecutive windows of this epoch's permutation, wrapping if -r asks for
             * more samples than one pass holds. */
            size_t start = (size_t)r * (size_t)b % ntrain;
            for (int i = 0; i < b; ++i) idx[i] = perm[(start + (size_t)i) % ntrain];
            leash_dataset_gather(x, y, train, &map, idx, b);

            double t0 = leash_now();
            uint64_t ts;
            const float *theta = ops->read(strategy, 0, &ts);
            float loss = leash_model_gradient(m, theta, grad, ws, b);
            ops->release(strategy, 0, theta);
            double t1 = leash_now();
            if (!isfinite(loss)) {
                rc = leash_fail(LEASH_EDIVERGED,
                                "training diverged: the loss became %g in epoch %d, round %ld "
                                "(try a smaller -l)",
                                (double)loss, e + 1, r + 1);
                goto out;
            }
            applied += (uint64_t)ops->publish(strategy, 0, grad, ts);
            res->time_compute_s += t1 - t0;
            res->time_publish_s += leash_now() - t1;
            loss_sum += loss;
        }
        leash_epoch_stats *st = &res->epochs[e];
        st->epoch = e + 1;
        st->time_s = leash_now() - t_epoch;
        st->updates = applied;
        st->train_loss = loss_sum / (double)rounds;
        res->time_s += st->time_s;
        res->updates += applied;
        res->samples += applied * (uint64_t)b;

        double t_eval = leash_now();
        ops->snapshot(strategy, res->params);
        evaluate(m, res->params, ws, b, test, &map, idx, &st->test_loss, &st->test_accuracy);
        res->eval_time_s += leash_now() - t_eval;
        res->nepochs = e + 1;
        if (on_epoch) on_epoch(st, arg);
    }
out:
    if (strategy) ops->destroy(strategy);
    leash_workspace_destroy(ws);
    leash_params_free(grad);
    free(idx);
    free(perm);
    if (rc) leash_result_free(res);
    return rc;
}

void leash_result_free(leash_result *res)
{
    leash_params_free(res->params);
    free(res->epochs);
    memset(res, 0, sizeof *res);
}
