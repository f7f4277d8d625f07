/* Train a model through libleash: Leashed-SGD with two worker threads on a synthetic
 * data set, one line per epoch from the epoch callback, then the parameters saved to a
 * file, loaded back, and checked: the same bits, and the same test figures as the
 * trained model's.
 *
 * Build it against an installed leash (C or C++), with the shared library or with the
 * static one:
 *
 *   cc train.c $(pkg-config --cflags --libs leash) -o train
 *   c++ -x c++ train.c -x none $(pkg-config --cflags --libs leash) -o train
 *   cc train.c $(pkg-config --static --cflags --libs leash) -o train
 *
 * and run it as `./train [FILE]` (FILE: where the parameters go, default
 * train-params.bin). It exits with 0 when the reloaded model matches, 1 otherwise. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <leash/leash.h>

/* Print a failed call's message, which names what went wrong. */
static int failed(const char *what, int rc)
{
    const char *msg = leash_last_error();
    fprintf(stderr, "train: %s: %s\n", what, msg[0] ? msg : leash_strerror(rc));
    return 1;
}

/* Called by leash_train on the training thread after each epoch's evaluation. */
static void on_epoch(const leash_epoch_stats *s, void *arg)
{
    const leash_config *cfg = (const leash_config *)arg;
    printf("epoch %d/%d: train loss %.4f, test loss %.4f, test accuracy %.4f, %llu updates\n",
           s->epoch, cfg->epochs, s->train_loss, s->test_loss, s->test_accuracy,
           (unsigned long long)s->updates);
}

/* Test loss and accuracy of params, in batches of `batch` samples as leash_train
 * evaluates, so that the same parameters give the same figures to the last bit. */
static int evaluate(const leash_model *m, const float *params, const leash_input_map *map,
                    const leash_dataset *test, int batch, double *loss, double *accuracy)
{
    leash_workspace *ws = NULL;
    int rc = leash_workspace_create(&ws, m, batch);
    if (rc) return rc;
    uint32_t *idx = (uint32_t *)malloc((size_t)batch * sizeof *idx);
    if (!idx) {
        leash_workspace_destroy(ws);
        return LEASH_ENOMEM;
    }
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
    free(idx);
    leash_workspace_destroy(ws);
    return 0;
}

/* Saving and loading the parameters: n floats as they are in memory, after their count. */
static int save_params(const char *path, const float *params, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return LEASH_EIO;
    uint64_t count = n;
    int bad = fwrite(&count, sizeof count, 1, f) != 1 || fwrite(params, sizeof *params, n, f) != n;
    bad |= fclose(f) != 0;
    return bad ? LEASH_EIO : 0;
}

static int load_params(const char *path, float *params, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return LEASH_EIO;
    uint64_t count = 0;
    int bad = fread(&count, sizeof count, 1, f) != 1 || count != n ||
              fread(params, sizeof *params, n, f) != n;
    fclose(f);
    return bad ? LEASH_EFORMAT : 0;
}

/* Save the trained parameters to path, load them back and check them against the
 * trained model: the same bits, and the same test figures as its last epoch's. */
static int check_reload(const char *path, const leash_config *cfg, const leash_result *res,
                        const leash_input_map *map, const leash_dataset *test)
{
    const size_t n = res->model.nparams;
    if (save_params(path, res->params, n) != 0) {
        fprintf(stderr, "train: %s: cannot write the parameters\n", path);
        return 1;
    }
    printf("saved %zu parameters to %s\n", leash_model_count_params(&res->model), path);
    float *reloaded = leash_params_alloc(n);
    if (!reloaded) return failed("allocating", LEASH_ENOMEM);
    int status = 1;
    double loss, accuracy;
    const leash_epoch_stats *last = &res->epochs[res->nepochs - 1];
    int rc = load_params(path, reloaded, n);
    if (rc != 0)
        fprintf(stderr, "train: %s: cannot read the parameters back\n", path);
    else if (memcmp(reloaded, res->params, n * sizeof *reloaded) != 0)
        fprintf(stderr, "train: the reloaded parameters differ from the saved ones\n");
    else if ((rc = evaluate(&res->model, reloaded, map, test, cfg->batch, &loss, &accuracy)) != 0)
        failed("evaluating", rc);
    else if (loss != last->test_loss || accuracy != last->test_accuracy)
        fprintf(stderr, "train: the reloaded model scores %.17g / %.17g, not %.17g / %.17g\n",
                loss, accuracy, last->test_loss, last->test_accuracy);
    else {
        printf("reloaded: the same parameters, bit for bit; test loss %.4f, test accuracy %.4f, "
               "as after training\n",
               loss, accuracy);
        status = 0;
    }
    leash_params_free(reloaded);
    return status;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "train-params.bin";
    leash_dataset train, test;
    leash_input_map map;
    leash_config cfg;
    leash_result res;
    int status = 1;

    /* 3000 training and 500 test images of 28 x 28 in 10 classes, from seed 7. */
    int rc = leash_synth_generate(&train, &test, 3000, 500, 28, 28, 7);
    if (rc != 0) return failed("generating the data", rc);
    /* Scale inputs by the training set's statistics; keep the map to evaluate later. */
    leash_input_map_standardize(&map, &train);

    leash_config_defaults(&cfg);
    cfg.algorithm = LEASH_ALGO_LSH;
    cfg.threads = 2;
    cfg.hidden_layers = 1;
    cfg.units = 64;
    cfg.batch = 32;
    cfg.step = 0.1;
    cfg.epochs = 5;
    cfg.input_map = &map;
    if ((rc = leash_train(&cfg, &train, &test, &res, on_epoch, &cfg)) != 0) {
        failed("training", rc);
    } else {
        status = check_reload(path, &cfg, &res, &map, &test);
        leash_result_free(&res);
    }
    leash_dataset_free(&train);
    leash_dataset_free(&test);
    return status;
}
