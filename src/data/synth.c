#include <math.h>
#include <stdlib.h>

#include "core/error_internal.h"
#include "core/hugemem_internal.h"
#include "leash/data.h"
#include "leash/rng.h"

#define NCLASSES 10
#define MAX_SIDE 4096

/* Difficulty: tuned so that a nearest-class-mean classifier scores about 0.85-0.9 on
 * 28x28 images and softmax regression about 0.95, i.e. learnable but not trivial. */
#define BLOBS 4           /* Gaussian blobs per class prototype */
#define NOISE_SD 48.0f    /* per-pixel noise, in pixel levels */
#define CONTRAST_MIN 0.6  /* each sample scales its prototype by [MIN, MIN + RANGE) */
#define CONTRAST_RANGE 0.6
#define MIX_MAX 0.5       /* and blends in up to this much of another class's prototype */

/* Prototype of one class: a few blobs of random place, shape and brightness. */
static void make_prototype(float *proto, int h, int w, leash_rng *rng)
{
    for (size_t i = 0; i < (size_t)h * (size_t)w; ++i) proto[i] = 0.0f;
    for (int b = 0; b < BLOBS; ++b) {
        double cy = leash_rng_uniform(rng) * h, cx = leash_rng_uniform(rng) * w;
        double sy = (0.06 + 0.14 * leash_rng_uniform(rng)) * h + 0.5;
        double sx = (0.06 + 0.14 * leash_rng_uniform(rng)) * w + 0.5;
        double amp = 96.0 + 160.0 * leash_rng_uniform(rng);
        for (int y = 0; y < h; ++y) {
            double ey = (y - cy) / sy;
            for (int x = 0; x < w; ++x) {
                double ex = (x - cx) / sx;
                proto[(size_t)y * w + x] += (float)(amp * exp(-0.5 * (ey * ey + ex * ex)));
            }
        }
    }
}

/* Approximately normal noise with standard deviation 1 from one draw: the sum of four
 * 16-bit uniforms (variance 4/12 of the unit range, hence the sqrt(3)). */
static float noise(leash_rng *rng)
{
    uint64_t r = leash_rng_next(rng);
    uint32_t sum = (uint32_t)(r & 0xffff) + (uint32_t)(r >> 16 & 0xffff) +
                   (uint32_t)(r >> 32 & 0xffff) + (uint32_t)(r >> 48);
    return ((float)sum * (1.0f / 65536.0f) - 2.0f) * 1.7320508f;
}

/* One sample of class k: its prototype blended with some of another class's,
 * shifted by a pixel or two, scaled in contrast, plus noise, so that the classes
 * overlap and a model has to learn more than a template. */
static void make_sample(uint8_t *dst, const float *protos, int k, int h, int w, leash_rng *rng)
{
    size_t s = (size_t)h * (size_t)w;
    int other = (int)leash_rng_below(rng, NCLASSES - 1);
    other += other >= k;
    const float *mine = protos + (size_t)k * s, *theirs = protos + (size_t)other * s;
    float mix = (float)(MIX_MAX * leash_rng_uniform(rng));
    int shift = (h < w ? h : w) / 14;
    int dy = (int)leash_rng_below(rng, 2 * (uint64_t)shift + 1) - shift;
    int dx = (int)leash_rng_below(rng, 2 * (uint64_t)shift + 1) - shift;
    float contrast = (float)(CONTRAST_MIN + CONTRAST_RANGE * leash_rng_uniform(rng));
    for (int y = 0; y < h; ++y) {
        int py = y - dy;
        for (int x = 0; x < w; ++x) {
            int px = x - dx;
            float v = 0.0f;
            if (py >= 0 && py < h && px >= 0 && px < w) {
                size_t p = (size_t)py * w + px;
                v = (1.0f - mix) * mine[p] + mix * theirs[p];
            }
            v = v * contrast + NOISE_SD * noise(rng);
            v = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
            dst[(size_t)y * w + x] = (uint8_t)(v + 0.5f);
        }
    }
}

static int generate(leash_dataset *d, size_t n, int h, int w, const float *protos, uint64_t seed)
{
    size_t s = (size_t)h * (size_t)w;
    *d = (leash_dataset){.n = n, .h = h, .w = w, .c = 1, .nclasses = NCLASSES};
    if (n > SIZE_MAX / s)
        return leash_fail(LEASH_ENOMEM,
                          "synthetic dataset: %zu images of %dx%d do not fit in memory", n, h, w);
    d->pixels = leash_huge_alloc(n * s);
    d->labels = malloc(n);
    if (!d->pixels || !d->labels) {
        leash_dataset_free(d);
        return leash_fail(LEASH_ENOMEM, "synthetic dataset: out of memory for %zu images of %dx%d",
                          n, h, w);
    }
    leash_rng rng;
    leash_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; ++i) {
        d->labels[i] = (uint8_t)leash_rng_below(&rng, NCLASSES);
        make_sample(d->pixels + i * s, protos, d->labels[i], h, w, &rng);
    }
    return 0;
}

int leash_synth_generate(leash_dataset *train, leash_dataset *test, size_t ntrain, size_t ntest,
                         int h, int w, uint64_t seed)
{
    *train = (leash_dataset){0};
    *test = (leash_dataset){0};
    if (ntrain == 0) return leash_fail(LEASH_EINVAL, "synthetic dataset: training set size is 0");
    if (ntest == 0) return leash_fail(LEASH_EINVAL, "synthetic dataset: test set size is 0");
    if (h <= 0 || w <= 0 || h > MAX_SIDE || w > MAX_SIDE)
        return leash_fail(LEASH_EINVAL,
                          "synthetic dataset: image size %dx%d is out of range (1-%d)", h, w,
                          MAX_SIDE);

    /* Independent streams for the prototypes and each split, so that the test set
     * does not depend on the size of the training set. */
    leash_rng master;
    leash_rng_seed(&master, seed);
    uint64_t proto_seed = leash_rng_next(&master);
    uint64_t train_seed = leash_rng_next(&master);
    uint64_t test_seed = leash_rng_next(&master);

    size_t s = (size_t)h * (size_t)w;
    float *protos = malloc(NCLASSES * s * sizeof *protos);
    if (!protos) return leash_fail(LEASH_ENOMEM, "synthetic dataset: out of memory");
    leash_rng rng;
    leash_rng_seed(&rng, proto_seed);
    for (int k = 0; k < NCLASSES; ++k) make_prototype(protos + k * s, h, w, &rng);

    int rc = generate(train, ntrain, h, w, protos, train_seed);
    if (rc == 0) rc = generate(test, ntest, h, w, protos, test_seed);
    free(protos);
    if (rc != 0) {
        leash_dataset_free(train);
        leash_dataset_free(test);
    }
    return rc;
}
