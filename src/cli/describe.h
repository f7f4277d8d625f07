/* -A against -D's input before any data is loaded (describe.c). */
#ifndef LEASH_CLI_DESCRIBE_H
#define LEASH_CLI_DESCRIBE_H

#include <stdio.h>

#include "cli/options.h"

typedef struct leash_input_shape {
    int h, w, c;
    int nclasses; /* 0: not known before the labels are read (.npz) */
    int is_float;
} leash_input_shape;

/* The per-sample shape and class count -D's data will have, from its headers alone. */
int leash_cli_input_shape(const leash_options *o, leash_input_shape *s);
/* Whether -A's layers fit that input: LEASH_EINVAL with "-A: layer N 'TOKEN': ..." if not
 * (and whether --input-scale suits the data). */
int leash_cli_check_arch(const leash_options *o);
/* The same against the loaded training set, whose classes are now known. */
int leash_cli_check_data(const leash_options *o, const leash_dataset *train);
/* --describe: -A's layers, each with its output shape and parameter count. */
int leash_cli_describe(const leash_options *o, FILE *out);

#endif
