/* The synthetic generator (determinism, shape, learnability) and the dataset helpers
 * every loader shares: slice, gather, free, and the arguments leash_dataset_load refuses. */
#include "leash/data.h"
#include "leash/error.h"
#include "leash/rng.h"
#include "tap.h"

static int same_data(const leash_dataset *a, const leash_dataset *b)
{
    return a->n == b->n && a->h == b->h && a->w == b->w && a->c == b->c &&
           memcmp(a->pixels, b->pixels, a->n * leash_dataset_sample_size(a)) == 0 &&
           memcmp(a->labels, b->labels, a->n) == 0;
}

static void test_deterministic(void)
{
    leash_dataset tr1, te1, tr2, te2, tr3, te3, tr4, te4;
    ASSERT_INT_EQ(leash_synth_generate(&tr1, &te1, 500, 200, 28, 28, 42), 0);
    ASSERT_INT_EQ(leash_synth_generate(&tr2, &te2, 500, 200, 28, 28, 42), 0);
    ASSERT_INT_EQ(leash_synth_generate(&tr3, &te3, 500, 200, 28, 28, 43), 0);
    /* A smaller training set: the same first samples, the same test set. */
    ASSERT_INT_EQ(leash_synth_generate(&tr4, &te4, 300, 200, 28, 28, 42), 0);
    ASSERT_TRUE(same_data(&tr1, &tr2));
    ASSERT_TRUE(same_data(&te1, &te2));
    ASSERT_TRUE(memcmp(tr1.pixels, tr3.pixels, 500 * 28 * 28) != 0);
    ASSERT_TRUE(memcmp(te1.pixels, te3.pixels, 200 * 28 * 28) != 0);
    ASSERT_TRUE(memcmp(tr1.labels, tr3.labels, 500) != 0);
    ASSERT_TRUE(same_data(&te1, &te4));
    ASSERT_TRUE(memcmp(tr1.pixels, tr4.pixels, 300 * 28 * 28) == 0);
    ASSERT_TRUE(memcmp(tr1.labels, tr4.labels, 300) == 0);
    /* Train and test are different draws. */
    ASSERT_TRUE(memcmp(tr1.pixels, te1.pixels, 200 * 28 * 28) != 0);
    leash_dataset *all[] = {&tr1, &te1, &tr2, &te2, &tr3, &te3, &tr4, &te4};
    for (size_t i = 0; i < sizeof all / sizeof *all; ++i) leash_dataset_free(all[i]);
}

static void test_shape_and_balance(void)
{
    leash_dataset tr, te;
    ASSERT_INT_EQ(leash_synth_generate(&tr, &te, 5000, 7, 12, 20, 7), 0);
    ASSERT_SIZE_EQ(tr.n, 5000);
    ASSERT_SIZE_EQ(te.n, 7);
    ASSERT_INT_EQ(tr.h, 12);
    ASSERT_INT_EQ(tr.w, 20);
    ASSERT_INT_EQ(tr.c, 1);
    ASSERT_INT_EQ(tr.nclasses, 10);
    ASSERT_INT_EQ(te.h, 12);
    ASSERT_INT_EQ(te.w, 20);
    ASSERT_INT_EQ(te.c, 1);
    ASSERT_INT_EQ(te.nclasses, 10);
    size_t count[10] = {0};
    for (size_t i = 0; i < tr.n; ++i) {
        ASSERT_INT_LE(tr.labels[i], 9);
        ++count[tr.labels[i]];
    }
    /* 500 expected per class, standard deviation about 21. */
    for (int k = 0; k < 10; ++k) {
        ASSERT_INT_LE(400, count[k]);
        ASSERT_INT_LE(count[k], 600);
    }
    for (size_t i = 0; i < te.n; ++i) ASSERT_INT_LE(te.labels[i], 9);
    /* The images use the range: neither blank nor saturated. */
    size_t s = leash_dataset_sample_size(&tr);
    double mean = 0.0;
    for (size_t i = 0; i < tr.n * s; ++i) mean += tr.pixels[i];
    mean /= (double)(tr.n * s);
    ASSERT_DBL_GE(mean, 20.0);
    ASSERT_DBL_LE(mean, 200.0);
    leash_dataset_free(&tr);
    leash_dataset_free(&te);
}

/* Accuracy on test of the classifier that picks the nearest class mean of train. */
static double nearest_mean_accuracy(const leash_dataset *tr, const leash_dataset *te)
{
    size_t s = leash_dataset_sample_size(tr);
    double *mean = calloc(10 * s, sizeof *mean);
    if (!mean) return -1.0;
    size_t count[10] = {0};
    for (size_t i = 0; i < tr->n; ++i) {
        ++count[tr->labels[i]];
        for (size_t j = 0; j < s; ++j) mean[tr->labels[i] * s + j] += tr->pixels[i * s + j];
    }
    for (int k = 0; k < 10; ++k)
        for (size_t j = 0; j < s; ++j) mean[k * s + j] /= count[k] ? (double)count[k] : 1.0;
    size_t right = 0;
    for (size_t i = 0; i < te->n; ++i) {
        int best = 0;
        double best_d = INFINITY;
        for (int k = 0; k < 10; ++k) {
            double dist = 0.0;
            for (size_t j = 0; j < s; ++j) {
                double e = te->pixels[i * s + j] - mean[k * s + j];
                dist += e * e;
            }
            if (dist < best_d) {
                best_d = dist;
                best = k;
            }
        }
        right += best == te->labels[i];
    }
    free(mean);
    return (double)right / (double)te->n;
}

/* Learnable by a linear classifier, but not so easily that every model scores 100%. */
static void test_learnable(void)
{
    for (uint64_t seed = 1; seed <= 3; ++seed) {
        leash_dataset tr, te;
        ASSERT_INT_EQ(leash_synth_generate(&tr, &te, 5000, 2000, 28, 28, seed), 0);
        double acc = nearest_mean_accuracy(&tr, &te);
        tap_diag("seed %llu: nearest class mean accuracy %.3f", (unsigned long long)seed, acc);
        leash_dataset_free(&tr);
        leash_dataset_free(&te);
        ASSERT_DBL_GE(acc, 0.8);
        ASSERT_DBL_LE(acc, 0.98);
    }
}

static void test_invalid_arguments(void)
{
    leash_dataset tr, te;
    ASSERT_INT_EQ(leash_synth_generate(&tr, &te, 0, 10, 8, 8, 1), LEASH_EINVAL);
    ASSERT_STR_EQ(leash_last_error(), "synthetic dataset: training set size is 0");
    ASSERT_TRUE(tr.pixels == NULL && te.pixels == NULL && tr.n == 0 && te.n == 0);
    ASSERT_INT_EQ(leash_synth_generate(&tr, &te, 10, 0, 8, 8, 1), LEASH_EINVAL);
    ASSERT_STR_EQ(leash_last_error(), "synthetic dataset: test set size is 0");
    ASSERT_INT_EQ(leash_synth_generate(&tr, &te, 10, 10, 0, 8, 1), LEASH_EINVAL);
    ASSERT_STR_EQ(leash_last_error(), "synthetic dataset: image size 0x8 is out of range (1-4096)");
    ASSERT_INT_EQ(leash_synth_generate(&tr, &te, 10, 10, 8, -3, 1), LEASH_EINVAL);
    ASSERT_STR_EQ(leash_last_error(),
                  "synthetic dataset: image size 8x-3 is out of range (1-4096)");
    ASSERT_INT_EQ(leash_synth_generate(&tr, &te, 10, 10, 4097, 8, 1), LEASH_EINVAL);
    ASSERT_STR_EQ(leash_last_error(),
                  "synthetic dataset: image size 4097x8 is out of range (1-4096)");
    ASSERT_TRUE(tr.pixels == NULL && te.pixels == NULL);

    /* The smallest images work. */
    ASSERT_INT_EQ(leash_synth_generate(&tr, &te, 3, 2, 1, 1, 1), 0);
    ASSERT_SIZE_EQ(tr.n * leash_dataset_sample_size(&tr), 3);
    leash_dataset_free(&tr);
    leash_dataset_free(&te);
}

static void test_slice(void)
{
    leash_dataset tr, te, sl;
    ASSERT_INT_EQ(leash_synth_generate(&tr, &te, 100, 1, 6, 5, 3), 0);
    ASSERT_INT_EQ(leash_dataset_slice(&sl, &tr, 10, 25), 0);
    ASSERT_SIZE_EQ(sl.n, 25);
    ASSERT_INT_EQ(sl.h, 6);
    ASSERT_INT_EQ(sl.w, 5);
    ASSERT_INT_EQ(sl.c, 1);
    ASSERT_INT_EQ(sl.nclasses, 10);
    ASSERT_TRUE(memcmp(sl.pixels, tr.pixels + 10 * 30, 25 * 30) == 0);
    ASSERT_TRUE(memcmp(sl.labels, tr.labels + 10, 25) == 0);
    /* A copy: the source can go. */
    ASSERT_TRUE(sl.pixels != tr.pixels + 10 * 30);
    uint8_t first = tr.pixels[10 * 30];
    leash_dataset_free(&tr);
    leash_dataset_free(&te);
    ASSERT_INT_EQ(sl.pixels[0], first);
    leash_dataset_free(&sl);

    /* The whole set and its last sample are fine; one past the end is not. */
    ASSERT_INT_EQ(leash_synth_generate(&tr, &te, 100, 1, 6, 5, 3), 0);
    ASSERT_INT_EQ(leash_dataset_slice(&sl, &tr, 0, 100), 0);
    ASSERT_TRUE(same_data(&sl, &tr));
    leash_dataset_free(&sl);
    ASSERT_INT_EQ(leash_dataset_slice(&sl, &tr, 99, 1), 0);
    ASSERT_INT_EQ(sl.labels[0], tr.labels[99]);
    leash_dataset_free(&sl);
    ASSERT_INT_EQ(leash_dataset_slice(&sl, &tr, 95, 6), LEASH_EINVAL);
    ASSERT_STR_EQ(leash_last_error(), "cannot take 6 samples from index 95 of a dataset of 100");
    ASSERT_TRUE(sl.pixels == NULL && sl.labels == NULL && sl.n == 0);
    ASSERT_INT_EQ(leash_dataset_slice(&sl, &tr, 101, 0), LEASH_EINVAL);
    ASSERT_INT_EQ(leash_dataset_slice(&sl, &tr, 5, 0), LEASH_EINVAL);
    ASSERT_STR_EQ(leash_last_error(), "cannot take 0 samples from index 5 of a dataset of 100");
    ASSERT_INT_EQ(leash_dataset_slice(&sl, &tr, 50, SIZE_MAX), LEASH_EINVAL);
    leash_dataset_free(&tr);
    leash_dataset_free(&te);
}

/* Standardization makes each channel of the (gathered) training set zero-mean and
 * unit-variance, channel by channel, and leaves constant channels finite. */
static void test_standardize(void)
{
    enum { N = 50, H = 2, W = 3, C = 3, S = H * W * C };
    uint8_t pixels[N * S], labels[N] = {0};
    leash_rng rng;
    leash_rng_seed(&rng, 5);
    for (int i = 0; i < N * S; ++i) {
        int k = i % C; /* channel 0 spans 0..255, channel 1 is 100..110, channel 2 constant */
        pixels[i] = (uint8_t)(k == 0 ? leash_rng_below(&rng, 256)
                              : k == 1 ? 100 + leash_rng_below(&rng, 11)
                                       : 42);
    }
    leash_dataset d = {.pixels = pixels, .labels = labels, .n = N, .h = H, .w = W, .c = C,
                       .nclasses = 10};
    leash_input_map map;
    leash_input_map_standardize(&map, &d);
    ASSERT_INT_EQ(map.c, C);
    uint32_t idx[N];
    for (uint32_t i = 0; i < N; ++i) idx[i] = i;
    float x[N * S];
    int y[N];
    leash_dataset_gather(x, y, &d, &map, idx, N);
    for (int k = 0; k < C; ++k) {
        double sum = 0, sq = 0;
        for (int i = k; i < N * S; i += C) {
            sum += x[i];
            sq += (double)x[i] * x[i];
        }
        double mean = sum / (N * S / C), var = sq / (N * S / C) - mean * mean;
        ASSERT_DBL_NEAR(mean, 0.0, 1e-5);
        ASSERT_DBL_NEAR(var, k == 2 ? 0.0 : 1.0, 1e-4);
    }
}

/* Shards are disjoint, cover the set, differ in size by at most one, and do not depend
 * on who computes them (same seed, same shards). Samples are told apart by content. */
static void test_shard(void)
{
    leash_dataset tr, te;
    ASSERT_INT_EQ(leash_synth_generate(&tr, &te, 1003, 1, 4, 4, 21), 0);
    size_t s = leash_dataset_sample_size(&tr);
    for (int p = 1; p <= 4; ++p) {
        int *seen = calloc(tr.n, sizeof *seen);
        ASSERT_NOT_NULL(seen);
        size_t total = 0;
        for (int r = 0; r < p; ++r) {
            leash_dataset sh, again;
            ASSERT_INT_EQ(leash_dataset_shard(&sh, &tr, r, p, 77), 0);
            ASSERT_INT_EQ(leash_dataset_shard(&again, &tr, r, p, 77), 0);
            ASSERT_TRUE(sh.n == again.n && memcmp(sh.pixels, again.pixels, sh.n * s) == 0);
            ASSERT_TRUE(sh.n == tr.n / (size_t)p || sh.n == tr.n / (size_t)p + 1);
            total += sh.n;
            for (size_t k = 0; k < sh.n; ++k) {
                size_t i = 0; /* find the original sample with these pixels and label */
                while (i < tr.n && (seen[i] || tr.labels[i] != sh.labels[k] ||
                                    memcmp(tr.pixels + i * s, sh.pixels + k * s, s) != 0))
                    ++i;
                ASSERT_TRUE(i < tr.n);
                seen[i] = 1;
            }
            leash_dataset_free(&sh);
            leash_dataset_free(&again);
        }
        ASSERT_SIZE_EQ(total, tr.n);
        for (size_t i = 0; i < tr.n; ++i) ASSERT_INT_EQ(seen[i], 1);
        free(seen);
    }
    leash_dataset sh;
    ASSERT_INT_EQ(leash_dataset_shard(&sh, &tr, 2, 2, 1), LEASH_EINVAL);
    ASSERT_INT_EQ(leash_dataset_shard(&sh, &tr, 0, 0, 1), LEASH_EINVAL);
    leash_dataset_free(&tr);
    leash_dataset_free(&te);
}

static void test_gather(void)
{
    uint8_t pixels[4 * 3] = {0, 51, 255, 1, 2, 3, 255, 255, 0, 100, 200, 50};
    uint8_t labels[4] = {3, 7, 0, 9};
    leash_dataset d = {
        .pixels = pixels, .labels = labels, .n = 4, .h = 1, .w = 3, .c = 1, .nclasses = 10};
    const uint32_t idx[5] = {2, 0, 3, 0, 1};
    float x[5 * 3];
    int y[5];
    leash_input_map unit;
    leash_input_map_unit(&unit, 1);
    leash_dataset_gather(x, y, &d, &unit, idx, 5);
    ASSERT_TRUE(x[0] == 1.0f && x[1] == 1.0f && x[2] == 0.0f);
    ASSERT_TRUE(x[3] == 0.0f);
    ASSERT_DBL_NEAR(x[4], 0.2, 1e-7);
    ASSERT_TRUE(x[5] == 1.0f);
    for (int i = 0; i < 5; ++i) {
        ASSERT_INT_EQ(y[i], labels[idx[i]]);
        for (int j = 0; j < 3; ++j)
            ASSERT_DBL_NEAR(x[i * 3 + j], pixels[idx[i] * 3 + j] / 255.0, 1e-7);
    }
    /* --input-scale raw: the bytes themselves, exactly (as the authors' tool feeds them). */
    leash_input_map raw;
    leash_input_map_raw(&raw, 1);
    leash_dataset_gather(x, y, &d, &raw, idx, 5);
    for (int i = 0; i < 5 * 3; ++i) ASSERT_TRUE(x[i] == (float)pixels[idx[i / 3] * 3 + i % 3]);

    /* Larger samples (the vectorized path), in a shuffled order. */
    leash_dataset tr, te;
    ASSERT_INT_EQ(leash_synth_generate(&tr, &te, 64, 1, 28, 28, 9), 0);
    enum { B = 16, S = 28 * 28 };
    uint32_t order[B];
    for (uint32_t i = 0; i < B; ++i) order[i] = (i * 37 + 5) % 64;
    float *xb = malloc(B * S * sizeof *xb);
    int yb[B];
    ASSERT_NOT_NULL(xb);
    leash_dataset_gather(xb, yb, &tr, &unit, order, B);
    int bad = 0;
    for (int i = 0; i < B; ++i) {
        bad += yb[i] != tr.labels[order[i]];
        for (int j = 0; j < S; ++j) {
            float want = (float)tr.pixels[(size_t)order[i] * S + j] / 255.0f;
            bad += !(fabsf(xb[i * S + j] - want) <= 1e-7f && xb[i * S + j] >= 0.0f &&
                     xb[i * S + j] <= 1.0f);
        }
    }
    free(xb);
    leash_dataset_free(&tr);
    leash_dataset_free(&te);
    ASSERT_INT_EQ(bad, 0);
}

static void test_free(void)
{
    leash_dataset d = {0};
    leash_dataset_free(&d);
    ASSERT_TRUE(d.pixels == NULL && d.labels == NULL && d.n == 0 && d.h == 0);
    leash_dataset_free(NULL);
    leash_dataset te;
    ASSERT_INT_EQ(leash_synth_generate(&d, &te, 4, 4, 3, 3, 1), 0);
    leash_dataset_free(&d);
    ASSERT_TRUE(d.pixels == NULL && d.labels == NULL && d.n == 0 && d.h == 0 && d.w == 0 &&
                d.c == 0 && d.nclasses == 0);
    leash_dataset_free(&d); /* twice is harmless */
    leash_dataset_free(&te);
}

static void test_load_refuses(void)
{
    leash_dataset d;
    ASSERT_INT_EQ(leash_dataset_load(&d, LEASH_DATA_SYNTH, "/", LEASH_SPLIT_TRAIN), LEASH_EINVAL);
    ASSERT_STR_EQ(leash_last_error(), "the SYNTH dataset is generated, not loaded from files");
    ASSERT_INT_EQ(leash_dataset_load(&d, (leash_dataset_kind)42, "/", LEASH_SPLIT_TRAIN),
                  LEASH_EINVAL);
    ASSERT_STR_EQ(leash_last_error(), "unknown dataset kind 42");
    ASSERT_INT_EQ(leash_dataset_load(&d, LEASH_DATA_MNIST, "/", (leash_split)7), LEASH_EINVAL);
    ASSERT_STR_EQ(leash_last_error(), "unknown dataset split 7");
    ASSERT_TRUE(d.pixels == NULL && d.labels == NULL && d.n == 0);
}

int main(void)
{
    tap_plan(10);
    TAP_RUN(test_deterministic);
    TAP_RUN(test_shape_and_balance);
    TAP_RUN(test_learnable);
    TAP_RUN(test_invalid_arguments);
    TAP_RUN(test_slice);
    TAP_RUN(test_gather);
    TAP_RUN(test_standardize);
    TAP_RUN(test_shard);
    TAP_RUN(test_free);
    TAP_RUN(test_load_refuses);
    return tap_done();
}
