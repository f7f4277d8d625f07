/* Datasets: images kept once as uint8 (HWC per sample), labels as uint8. */
#ifndef LEASH_DATA_H
#define LEASH_DATA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct leash_dataset {
    uint8_t *pixels; /* n * h * w * c bytes, sample-major, each sample in HWC order */
    uint8_t *labels; /* n labels, each < nclasses */
    size_t n;
    int h, w, c;
    int nclasses;
} leash_dataset;

static inline size_t leash_dataset_sample_size(const leash_dataset *d)
{
    return (size_t)d->h * (size_t)d->w * (size_t)d->c;
}

typedef enum leash_dataset_kind {
    LEASH_DATA_MNIST,
    LEASH_DATA_FASHION_MNIST,
    LEASH_DATA_CIFAR10,
    LEASH_DATA_SYNTH
} leash_dataset_kind;

typedef enum leash_split { LEASH_SPLIT_TRAIN, LEASH_SPLIT_TEST } leash_split;

void leash_dataset_free(leash_dataset *d);

/* Load one split of a dataset from dir under its standard file names: IDX
 * (train|t10k)-(images-idx3|labels-idx1)-ubyte, plain or with .gz appended; CIFAR-10
 * data_batch_1.bin .. data_batch_5.bin or test_batch.bin. A missing directory or file
 * is reported by its name. Not for LEASH_DATA_SYNTH. */
int leash_dataset_load(leash_dataset *out, leash_dataset_kind kind, const char *dir,
                       leash_split split);

/* Load both splits from dir, after checking every file's header (IDX) or size
 * (CIFAR-10) and that the test images have the training images' shape: a bad file of
 * either split is reported before any data is read. */
int leash_dataset_load_splits(leash_dataset *train, leash_dataset *test, leash_dataset_kind kind,
                              const char *dir);

/* Load an IDX image file and its IDX label file (MNIST, Fashion-MNIST), each plain or
 * gzip-compressed (detected from the content, not the name). Every header field is
 * checked: magic numbers, dimensions, counts of images vs labels, label range (< 10),
 * and that the file holds exactly the bytes its header promises. */
int leash_idx_load(leash_dataset *out, const char *images_path, const char *labels_path);

/* Load CIFAR-10 binary batches (each record: 1 label byte, then 3072 bytes of 32x32
 * planes R, G, B), concatenated in the given order; pixels are reordered to HWC. */
int leash_cifar_load(leash_dataset *out, const char *const *paths, int npaths);

/* Seeded synthetic classification data: 10 classes of h x w x 1 images, each class a
 * random prototype image plus per-sample noise, so that a model can learn it. The
 * train and test sets come from the same distribution. */
int leash_synth_generate(leash_dataset *train, leash_dataset *test, size_t ntrain,
                         size_t ntest, int h, int w, uint64_t seed);

/* Copy samples [first, first + count) of src into out. */
int leash_dataset_slice(leash_dataset *out, const leash_dataset *src, size_t first, size_t count);

/* Rank `rank` of `nranks`' shard of src: a permutation of all samples seeded by seed
 * (the same on every rank), of which this rank takes positions rank, rank + nranks, ...
 * The shards are disjoint and together hold every sample once; their sizes differ by at
 * most one. */
int leash_dataset_shard(leash_dataset *out, const leash_dataset *src, int rank, int nranks,
                        uint64_t seed);

#define LEASH_MAX_CHANNELS 4

/* Per-channel affine map from a pixel byte to a model input: x = byte * scale + shift. */
typedef struct leash_input_map {
    int c;
    float scale[LEASH_MAX_CHANNELS];
    float shift[LEASH_MAX_CHANNELS];
} leash_input_map;

/* x = byte / 255, in [0, 1] (torchvision's ToTensor). */
void leash_input_map_unit(leash_input_map *map, int c);
/* x = byte, in [0, 255]: what the paper authors' tool feeds its MNIST-family models. */
void leash_input_map_raw(leash_input_map *map, int c);
/* Zero mean and unit variance per channel over all of d's pixels (the training set's,
 * applied to every split), as torchvision's Normalize does with precomputed statistics.
 * A constant channel is only shifted. */
void leash_input_map_standardize(leash_input_map *map, const leash_dataset *d);

/* Map the samples idx[0..b) through map into x (b * sample_size floats) and their
 * labels into y. */
void leash_dataset_gather(float *x, int *y, const leash_dataset *d, const leash_input_map *map,
                          const uint32_t *idx, int b);

#ifdef __cplusplus
}
#endif
#endif
