/* Train a model through libleash: Leashed-SGD with two worker threads on a synthetic
 * data set, one line per epoch from the epoch callback, then the model saved to a file,
 * loaded back, and checked: the same architecture, parameters and input scaling, bit for
 * bit, and the same test figures as the trained model's.
 *
 * Build it against an installed leash (C or C++), with the shared library or with the
 * static one:
 *
 *   cc train.c $(pkg-config --cflags --libs leash) -o train
 *   c++ -x c++ train.c -x none $(pkg-config --cflags --libs leash) -o train
 *   cc train.c $(pkg-config --static --cflags --libs leash) -o train
 *
 * and run it as `./train [FILE]` (FILE: where the model goes, default train.model).
 * It exits with 0 when the reloaded model matches, 1 otherwise. */
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

/* Called by leash_train on the training thread after each epoch's evaluation, with the
 * run so far; returning a LEASH_E* code instead of 0 would stop the run. */
static int on_epoch(const leash_result *so_far, void *arg)
{
    const leash_config *cfg = (const leash_config *)arg;
    const leash_epoch_stats *s = &so_far->epochs[so_far->nepochs - 1];
    printf("epoch %d/%d: train loss %.4f, test loss %.4f, test accuracy %.4f, %llu updates\n",
           s->epoch, cfg->epochs, s->train_loss, s->test_loss, s->test_accuracy,
           (unsigned long long)s->updates);
    return 0;
}

/* Whether the loaded model is the one saved: architecture, parameters and input map. */
static int same_model(const leash_saved_model *sm, const leash_config *cfg,
                      const leash_result *res, const leash_input_map *map)
{
    const size_t n = res->model.nparams;
    return strcmp(sm->arch, cfg->arch) == 0 && sm->hidden_layers == cfg->hidden_layers &&
           sm->units == cfg->units && sm->activation == cfg->activation &&
           sm->model.nparams == n && memcmp(sm->params, res->params, n * sizeof *sm->params) == 0 &&
           sm->map.c == map->c &&
           memcmp(sm->map.scale, map->scale, (size_t)map->c * sizeof *map->scale) == 0 &&
           memcmp(sm->map.shift, map->shift, (size_t)map->c * sizeof *map->shift) == 0;
}

/* Save the trained model to path, load it back and check it against the trained one:
 * the same bits, and the same test figures as its last epoch's (leash_evaluate scores
 * as training did, with the batch size and ranks the file records). */
static int check_reload(const char *path, const leash_config *cfg, const leash_result *res,
                        const leash_input_map *map, const leash_dataset *test)
{
    int rc = leash_model_save(path, cfg, &res->model, res->params, map);
    if (rc != 0) return failed("saving the model", rc);
    printf("saved %zu parameters to %s\n", leash_model_count_params(&res->model), path);
    leash_saved_model sm;
    if ((rc = leash_model_load(&sm, path)) != 0) return failed("loading the model", rc);
    int status = 1;
    double loss, accuracy;
    const leash_epoch_stats *last = &res->epochs[res->nepochs - 1];
    if (!same_model(&sm, cfg, res, map))
        fprintf(stderr, "train: the loaded model differs from the saved one\n");
    else if ((rc = leash_evaluate(&sm.model, sm.params, &sm.map, test, sm.eval_batch,
                                  sm.eval_ranks, &loss, &accuracy)) != 0)
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
    leash_saved_model_free(&sm);
    return status;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "train.model";
    leash_dataset train, test;
    leash_input_map map;
    leash_config cfg;
    leash_result res;
    int status = 1;

    /* 3000 training and 500 test images of 28 x 28 in 10 classes, from seed 7. */
    int rc = leash_synth_generate(&train, &test, 3000, 500, 28, 28, 7);
    if (rc != 0) return failed("generating the data", rc);
    /* Scale inputs by the training set's statistics; the saved model keeps the map. */
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
    rc = leash_train(&cfg, &train, &test, &res, on_epoch, &cfg);
    if (rc != 0)
        failed("training", rc);
    else
        status = check_reload(path, &cfg, &res, &map, &test);
    /* A failed run may still hold the epochs it finished: free it either way. */
    leash_result_free(&res);
    leash_dataset_free(&train);
    leash_dataset_free(&test);
    return status;
}
