#ifndef LEASH_CLI_OPTIONS_H
#define LEASH_CLI_OPTIONS_H

#include <stdio.h>

#include "core/names_internal.h"
#include "leash/placement.h"
#include "leash/train.h"

/* Above every option's getopt value (short options are characters, long-only ones
 * follow 256). */
#define LEASH_OPTIONS_MAX 320

/* --input-scale: how pixel bytes become inputs, as X(ID, NAME): LEASH_SCALE_ID, named NAME. */
#define LEASH_INPUT_SCALES(X) X(STANDARDIZE, "standardize") X(UNIT, "unit") X(RAW, "raw")

#define LEASH_SCALE_ENUMERATOR_(ID, NAME) LEASH_SCALE_##ID,
typedef enum leash_input_scale { LEASH_INPUT_SCALES(LEASH_SCALE_ENUMERATOR_) } leash_input_scale;
#undef LEASH_SCALE_ENUMERATOR_

typedef struct leash_options {
    leash_config cfg;
    leash_dataset_kind dataset; /* -D */
    const char *data_dir;       /* --data-dir, or -D's .npz file; NULL: the dataset's standard place */
    const char *data_file;      /* -D FILE.npz */
    int classes;                /* --classes: 0, or at least this many classes (.npz) */
    const char *output;         /* --output; NULL: stdout */
    const char *resume;         /* --resume FILE, or "auto"; cfg.resume is set from it */
    const char *save_model;     /* --save-model */
    const char *evaluate;       /* --evaluate: score this saved model and exit */
    long holdout;               /* --holdout: 0, or test samples taken from the test split */
    leash_input_scale input_scale;
    long synth_train, synth_test;
    int placement;      /* --placement: LEASH_PLACE_COMPACT/SCATTER, or -1 for none */
    double stall_warn;  /* --stall-warn: seconds before a waiting rank says so; 0: never */
    double progress_every; /* --progress-every: seconds between plain progress lines; 0: none */
    int topology;       /* --topology: print the topology and the plan, then exit */
    int describe;       /* --describe: print -A's layers and shapes, then exit */
    char *layers;       /* -A's canonical layer list (leash_options_free releases it) */
    int quiet;   /* -q */
    int help;    /* --help */
    int version; /* --version */
    unsigned char given[LEASH_OPTIONS_MAX]; /* given[opt]: the flag was on the command line */
} leash_options;

/* Parse argv. On a bad flag or value returns LEASH_EINVAL with a one-line description
 * (naming the flag and what is wrong) in leash_last_error(). */
int leash_options_parse(leash_options *o, int argc, char **argv);

/* The choices of the flags whose names are not exactly a public enumeration's: -D's (the
 * dataset kinds but NPZ), --placement's (the policies, then none), --input-scale's and
 * --avg-mode's (leash_config.avg_blocking's 0 and 1). A choice's value is its index, but
 * none's (-1). */
extern const leash_names leash_cli_datasets, leash_cli_placements, leash_cli_input_scales,
    leash_cli_avg_modes;

/* The dataset's standard directory when --data-dir is not given. */
const char *leash_default_data_dir(leash_dataset_kind k);

void leash_options_usage(FILE *out);
void leash_options_free(leash_options *o);

/* Print one warning line to err for each flag given that has no effect in this run
 * (ranks: the job's rank count); returns how many. */
int leash_options_warn(const leash_options *o, int ranks, FILE *err);

#endif
