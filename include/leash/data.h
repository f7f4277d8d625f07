/* Datasets: images kept once as uint8 (HWC per sample), or as floats for data that comes
 * as floats (NumPy .npz files of float32 or float64); labels as uint8. */
#ifndef LEASH_DATA_H
#define LEASH_DATA_H

#include "leash/api.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct leash_dataset {
    uint8_t *pixels; /* n * h * w * c bytes, sample-major, each sample in HWC order; NULL
                      * when the data are floats */
    float *values;   /* float data: n * h * w * c floats laid out as pixels; NULL for bytes */
    uint8_t *labels; /* n labels, each < nclasses (so at most 256 classes) */
    size_t n;
    int h, w, c;
    int nclasses;
} leash_dataset;

static inline size_t leash_dataset_sample_size(const leash_dataset *d)
{
    return (size_t)d->h * (size_t)d->w * (size_t)d->c;
}

/* The kinds of data, as X(ID, NAME): LEASH_DATA_ID, named NAME (leash_dataset_name and
 * leash_dataset_parse, leash/train.h). */
#define LEASH_DATASET_KINDS(X)              \
    X(MNIST, "MNIST")                       \
    X(FASHION_MNIST, "FASHION-MNIST")       \
    X(CIFAR10, "CIFAR10")                   \
    X(SYNTH, "SYNTH")                       \
    X(NPZ, "NPZ") /* a NumPy .npz file (leash_npz_load) */

#define LEASH_DATA_ENUMERATOR_(ID, NAME) LEASH_DATA_##ID,
typedef enum leash_dataset_kind { LEASH_DATASET_KINDS(LEASH_DATA_ENUMERATOR_) } leash_dataset_kind;
#undef LEASH_DATA_ENUMERATOR_

typedef enum leash_split { LEASH_SPLIT_TRAIN, LEASH_SPLIT_TEST } leash_split;

LEASH_API void leash_dataset_free(leash_dataset *d);

/* Load one split of a dataset from dir under its standard file names: IDX
 * (train|t10k)-(images-idx3|labels-idx1)-ubyte, plain or with .gz appended; CIFAR-10
 * data_batch_1.bin .. data_batch_5.bin or test_batch.bin. A missing directory or file
 * is reported by its name. Not for LEASH_DATA_SYNTH. */
LEASH_API int leash_dataset_load(leash_dataset *out, leash_dataset_kind kind, const char *dir,
                                 leash_split split);

/* Load both splits from dir, after checking every file's header (IDX) or size
 * (CIFAR-10) and that the test images have the training images' shape: a bad file of
 * either split is reported before any data is read. */
LEASH_API int leash_dataset_load_splits(leash_dataset *train, leash_dataset *test,
                                        leash_dataset_kind kind, const char *dir);

/* Load an IDX image file and its IDX label file (MNIST, Fashion-MNIST), each plain or
 * gzip-compressed (detected from the content, not the name). Every header field is
 * checked: magic numbers, dimensions, counts of images vs labels, label range (< 10),
 * and that the file holds exactly the bytes its header promises. */
LEASH_API int leash_idx_load(leash_dataset *out, const char *images_path, const char *labels_path);

/* Load CIFAR-10 binary batches (each record: 1 label byte, then 3072 bytes of 32x32
 * planes R, G, B), concatenated in the given order; pixels are reordered to HWC. */
LEASH_API int leash_cifar_load(leash_dataset *out, const char *const *paths, int npaths);

/* A NumPy .npz dataset (np.savez or np.savez_compressed), laid out as Keras' mnist.npz:
 * arrays x_train and y_train, and optionally the test pair x_test and y_test (both or
 * neither); other arrays are ignored. x: dtype uint8 ('|u1'), float32 ('<f4') or float64
 * ('<f8'), little-endian and in C order, shaped (N, H, W) (one channel), (N, H, W, C)
 * (channels last, at most LEASH_MAX_CHANNELS) or (N, F) (feature vectors, loaded as
 * H = 1, W = F, C = 1); float data are kept as floats (float64 rounded to float32) and
 * must be finite. y: any integer dtype, shaped (N,) or (N, 1), labels 0-255: labels are
 * stored as bytes, so at most 256 classes. Arrays of Python objects (pickles) are
 * refused, never loaded. */
typedef struct leash_npz_info {
    size_t ntrain, ntest; /* samples; ntest 0 without a test pair */
    int h, w, c;          /* each sample's shape (the same in both splits) */
    int has_test;         /* the file holds x_test and y_test */
    int is_float;         /* x is float32 or float64 (loaded into leash_dataset.values) */
} leash_npz_info;

/* What an .npz file holds, from its arrays' headers alone (no array data read): every
 * check but those of the labels' values is made, and fails as leash_npz_load would. */
LEASH_API int leash_npz_probe(leash_npz_info *info, const char *path);

/* Load both splits of an .npz file; test is left empty (n = 0) when the file has no test
 * pair. nclasses (both splits) is 1 + the largest label of either split, or min_classes
 * if that is more (0: no minimum; at most 256), and at least 2. Failures name the file
 * and the array: LEASH_EFORMAT for content (a malformed archive or .npy header, an
 * unsupported dtype or shape, a label out of range, data shorter or longer than the
 * header promises), LEASH_EIO, LEASH_ENOMEM (also for arrays larger than the machine's
 * memory), LEASH_EINVAL for min_classes. */
LEASH_API int leash_npz_load(leash_dataset *train, leash_dataset *test, const char *path,
                             int min_classes);

/* Seeded synthetic classification data: 10 classes of h x w x 1 images, each class a
 * random prototype image plus per-sample noise, so that a model can learn it. The
 * train and test sets come from the same distribution. */
LEASH_API int leash_synth_generate(leash_dataset *train, leash_dataset *test, size_t ntrain,
                                   size_t ntest, int h, int w, uint64_t seed);

/* Copy samples [first, first + count) of src into out. */
LEASH_API int leash_dataset_slice(leash_dataset *out, const leash_dataset *src, size_t first,
                                  size_t count);

/* Rank `rank` of `nranks`' shard of src: a permutation of all samples seeded by seed
 * (the same on every rank), of which this rank takes positions rank, rank + nranks, ...
 * The shards are disjoint and together hold every sample once; their sizes differ by at
 * most one. */
LEASH_API int leash_dataset_shard(leash_dataset *out, const leash_dataset *src, int rank,
                                  int nranks, uint64_t seed);

#define LEASH_MAX_CHANNELS 16

/* Per-channel affine map from a pixel byte (or a float value) to a model input:
 * x = byte * scale + shift. */
typedef struct leash_input_map {
    int c;
    float scale[LEASH_MAX_CHANNELS];
    float shift[LEASH_MAX_CHANNELS];
} leash_input_map;

/* x = byte / 255, in [0, 1] (torchvision's ToTensor). */
LEASH_API void leash_input_map_unit(leash_input_map *map, int c);
/* x = byte, in [0, 255]: what the paper authors' tool feeds its MNIST-family models. */
LEASH_API void leash_input_map_raw(leash_input_map *map, int c);
/* Zero mean and unit variance per channel over all of d's pixels or float values (the
 * training set's, applied to every split), as torchvision's Normalize does with
 * precomputed statistics. A constant channel is only shifted. */
LEASH_API void leash_input_map_standardize(leash_input_map *map, const leash_dataset *d);

/* Map the samples idx[0..b) through map into x (b * sample_size floats) and their
 * labels into y: x = byte * scale[c] + shift[c], or value * scale[c] + shift[c] for
 * float data. */
LEASH_API void leash_dataset_gather(float *x, int *y, const leash_dataset *d,
                                    const leash_input_map *map, const uint32_t *idx, int b);

#ifdef __cplusplus
}
#endif
#endif
