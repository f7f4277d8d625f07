/* A dataset in memory: freeing, slicing and sharding it, its input maps, gathering a
 * mini-batch, and its digest. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "core/error_internal.h"
#include "core/hugemem_internal.h"
#include "core/simd_internal.h"
#include "data/dataset_internal.h"
#include "data/file_internal.h"
#include "leash/data.h"
#include "leash/rng.h"

void leash_dataset_free(leash_dataset *d)
{
    if (!d) return;
    free(d->pixels);
    free(d->values);
    free(d->labels);
    *d = (leash_dataset){0};
}

/* Bytes of one sample's data: pixels or float values. */
static size_t sample_bytes(const leash_dataset *d)
{
    return leash_dataset_sample_size(d) * (d->values ? sizeof *d->values : 1);
}

/* The first sample of src's data, as bytes (pixels or float values). */
static const unsigned char *data_bytes(const leash_dataset *d)
{
    return d->values ? (const unsigned char *)d->values : d->pixels;
}

/* d (a copy of a source's fields) given buffers of its own for count samples, of the
 * source's kind; 0 or -1, with nothing allocated on failure. */
static int alloc_like(leash_dataset *d, size_t count)
{
    size_t bytes = count * sample_bytes(d);
    int floats = d->values != NULL;
    d->n = count;
    d->pixels = floats ? NULL : leash_huge_alloc(bytes);
    d->values = floats ? leash_huge_alloc(bytes) : NULL;
    d->labels = malloc(count);
    if ((d->pixels || d->values) && d->labels) return 0;
    leash_dataset_free(d);
    return -1;
}

int leash_dataset_slice(leash_dataset *out, const leash_dataset *src, size_t first, size_t count)
{
    *out = (leash_dataset){0};
    if (count == 0 || first > src->n || count > src->n - first)
        return leash_fail(LEASH_EINVAL,
                          "cannot take %zu samples from index %zu of a dataset of %zu", count,
                          first, src->n);
    size_t s = sample_bytes(src);
    leash_dataset d = *src;
    if (alloc_like(&d, count) != 0)
        return leash_fail(LEASH_ENOMEM, "out of memory for a slice of %zu samples", count);
    memcpy(d.values ? (unsigned char *)d.values : d.pixels, data_bytes(src) + first * s, count * s);
    memcpy(d.labels, src->labels + first, count);
    *out = d;
    return 0;
}

void leash_input_map_unit(leash_input_map *map, int c)
{
    *map = (leash_input_map){.c = c};
    for (int k = 0; k < c && k < LEASH_MAX_CHANNELS; ++k) map->scale[k] = 1.0f / 255.0f;
}

void leash_input_map_raw(leash_input_map *map, int c)
{
    *map = (leash_input_map){.c = c};
    for (int k = 0; k < c && k < LEASH_MAX_CHANNELS; ++k) map->scale[k] = 1.0f;
}

/* Per-channel mean and variance of byte data. */
static void byte_moments(const leash_dataset *d, int c, double *mean, double *var)
{
    double sum[LEASH_MAX_CHANNELS] = {0}, sq[LEASH_MAX_CHANNELS] = {0};
    size_t pixels = d->n * (size_t)d->h * (size_t)d->w;
    /* Exact integer sums per block of pixels (255^2 * 2^16 fits easily), then doubles:
     * no rounding drift over the 47 million bytes of Fashion-MNIST. */
    const size_t block = (size_t)1 << 16;
    for (size_t first = 0; first < pixels; first += block) {
        uint64_t s[LEASH_MAX_CHANNELS] = {0}, q[LEASH_MAX_CHANNELS] = {0};
        size_t last = pixels - first < block ? pixels : first + block;
        for (int k = 0; k < c; ++k) {
            const uint8_t *p = d->pixels + k;
            for (size_t j = first; j < last; ++j) {
                uint32_t v = p[j * (size_t)c];
                s[k] += v;
                q[k] += v * v;
            }
        }
        for (int k = 0; k < c; ++k) {
            sum[k] += (double)s[k];
            sq[k] += (double)q[k];
        }
    }
    for (int k = 0; k < c; ++k) {
        mean[k] = sum[k] / (double)pixels;
        var[k] = sq[k] / (double)pixels - mean[k] * mean[k];
    }
}

/* Per-channel mean and variance of float data, in double: the mean first, then the
 * squared deviations from it, which for data far from zero keeps the precision that
 * sq / n - mean^2 would cancel away. */
static void float_moments(const leash_dataset *d, int c, double *mean, double *var)
{
    double sum[LEASH_MAX_CHANNELS] = {0}, sq[LEASH_MAX_CHANNELS] = {0};
    size_t pixels = d->n * (size_t)d->h * (size_t)d->w;
    const float *v = d->values;
    for (size_t j = 0; j < pixels; ++j)
        for (int k = 0; k < c; ++k) sum[k] += v[j * (size_t)c + k];
    for (int k = 0; k < c; ++k) mean[k] = sum[k] / (double)pixels;
    for (size_t j = 0; j < pixels; ++j)
        for (int k = 0; k < c; ++k) {
            double e = v[j * (size_t)c + k] - mean[k];
            sq[k] += e * e;
        }
    for (int k = 0; k < c; ++k) var[k] = sq[k] / (double)pixels;
}

void leash_input_map_standardize(leash_input_map *map, const leash_dataset *d)
{
    int c = d->c < LEASH_MAX_CHANNELS ? d->c : LEASH_MAX_CHANNELS;
    double mean[LEASH_MAX_CHANNELS], var[LEASH_MAX_CHANNELS];
    if (d->values)
        float_moments(d, c, mean, var);
    else
        byte_moments(d, c, mean, var);
    *map = (leash_input_map){.c = c};
    for (int k = 0; k < c; ++k) {
        /* A constant channel: bytes are scaled as by leash_input_map_unit, floats kept. */
        double flat = d->values ? 1.0 : 1.0 / 255.0;
        double inv_std = var[k] > 1e-12 ? 1.0 / sqrt(var[k]) : flat;
        map->scale[k] = (float)inv_std;
        map->shift[k] = (float)(-mean[k] * inv_std);
    }
}

int leash_dataset_shard(leash_dataset *out, const leash_dataset *src, int rank, int nranks,
                        uint64_t seed)
{
    *out = (leash_dataset){0};
    if (nranks < 1 || rank < 0 || rank >= nranks || (size_t)nranks > src->n)
        return leash_fail(LEASH_EINVAL, "cannot make shard %d of %d from %zu samples", rank, nranks,
                          src->n);
    if (src->n > UINT32_MAX)
        return leash_fail(LEASH_EINVAL, "%zu samples: at most %u can be sharded", src->n, UINT32_MAX);
    size_t s = sample_bytes(src);
    size_t count = (src->n - (size_t)rank + (size_t)nranks - 1) / (size_t)nranks;
    leash_dataset d = *src;
    if (alloc_like(&d, count) != 0)
        return leash_fail(LEASH_ENOMEM, "out of memory for a shard of %zu samples", count);
    uint32_t *perm = malloc(src->n * sizeof *perm);
    if (!perm) {
        leash_dataset_free(&d);
        return leash_fail(LEASH_ENOMEM, "out of memory for a shard of %zu samples", count);
    }
    for (size_t i = 0; i < src->n; ++i) perm[i] = (uint32_t)i;
    leash_rng rng;
    leash_rng_seed(&rng, seed);
    leash_rng_shuffle_u32(&rng, perm, src->n);
    unsigned char *to = d.values ? (unsigned char *)d.values : d.pixels;
    for (size_t k = 0; k < count; ++k) {
        size_t from = perm[(size_t)rank + k * (size_t)nranks];
        memcpy(to + k * s, data_bytes(src) + from * s, s);
        d.labels[k] = src->labels[from];
    }
    free(perm);
    *out = d;
    return 0;
}

/* restrict parameters (which survive inlining, unlike restrict locals) spare the
 * vectorized loop a run-time aliasing check. */
LEASH_VECTOR_CLONES
static void map_gray(float *restrict dst, const uint8_t *restrict src, size_t n, float scale,
                     float shift)
{
    for (size_t j = 0; j < n; ++j) dst[j] = (float)src[j] * scale + shift;
}

LEASH_VECTOR_CLONES
static void map_channels(float *restrict dst, const uint8_t *restrict src, size_t pixels, int c,
                         const float *scale, const float *shift)
{
    for (size_t p = 0; p < pixels; ++p)
        for (int k = 0; k < c; ++k) dst[p * c + k] = (float)src[p * c + k] * scale[k] + shift[k];
}

/* The byte functions' arithmetic on float values: value * scale + shift. */
LEASH_VECTOR_CLONES
static void map_gray_values(float *restrict dst, const float *restrict src, size_t n, float scale,
                            float shift)
{
    for (size_t j = 0; j < n; ++j) dst[j] = src[j] * scale + shift;
}

LEASH_VECTOR_CLONES
static void map_channels_values(float *restrict dst, const float *restrict src, size_t pixels,
                                int c, const float *scale, const float *shift)
{
    for (size_t p = 0; p < pixels; ++p)
        for (int k = 0; k < c; ++k) dst[p * c + k] = src[p * c + k] * scale[k] + shift[k];
}

static void gather_values(float *x, int *y, const leash_dataset *d, const leash_input_map *map,
                          const uint32_t *idx, int b)
{
    const size_t s = leash_dataset_sample_size(d);
    for (int i = 0; i < b; ++i) {
        const float *src = d->values + (size_t)idx[i] * s;
        if (i + 1 < b) {
            const float *next = d->values + (size_t)idx[i + 1] * s;
            for (size_t off = 0; off < s; off += 16) __builtin_prefetch(next + off);
        }
        float *dst = x + (size_t)i * s;
        if (d->c == 1)
            map_gray_values(dst, src, s, map->scale[0], map->shift[0]);
        else
            map_channels_values(dst, src, s / (size_t)d->c, d->c, map->scale, map->shift);
        y[i] = d->labels[idx[i]];
    }
}

void leash_dataset_gather(float *x, int *y, const leash_dataset *d, const leash_input_map *map,
                          const uint32_t *idx, int b)
{
    if (d->values) {
        gather_values(x, y, d, map, idx, b);
        return;
    }
    const size_t s = leash_dataset_sample_size(d);
    for (int i = 0; i < b; ++i) {
        const uint8_t *src = d->pixels + (size_t)idx[i] * s;
        /* Samples come in random order, so the hardware prefetcher cannot guess the next
         * one: ask for it (all its cache lines) while this one is converted. */
        if (i + 1 < b) {
            const uint8_t *next = d->pixels + (size_t)idx[i + 1] * s;
            for (size_t off = 0; off < s; off += 64) __builtin_prefetch(next + off);
        }
        float *dst = x + (size_t)i * s;
        if (d->c == 1)
            map_gray(dst, src, s, map->scale[0], map->shift[0]);
        else
            map_channels(dst, src, s / (size_t)d->c, d->c, map->scale, map->shift);
        y[i] = d->labels[idx[i]];
    }
}

uint32_t leash_dataset_digest(const leash_dataset *d)
{
    uint32_t shape[4] = {(uint32_t)d->h, (uint32_t)d->w, (uint32_t)d->c, (uint32_t)d->nclasses};
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32_z(crc, (const Bytef *)shape, sizeof shape);
    /* Float data by their bytes; byte data exactly as before float data existed, so that
     * checkpoints of byte datasets keep their digests. */
    if (d->values)
        crc = crc32_z(crc, (const Bytef *)d->values,
                      d->n * leash_dataset_sample_size(d) * sizeof *d->values);
    else
        crc = crc32_z(crc, d->pixels, d->n * leash_dataset_sample_size(d));
    crc = crc32_z(crc, d->labels, d->n);
    return (uint32_t)crc;
}
