/* The layer-list language's parser (spec.c), for the model builder. */
#ifndef LEASH_SPEC_INTERNAL_H
#define LEASH_SPEC_INTERNAL_H

#include <stddef.h>

#include "core/names_internal.h"
#include "leash/nn.h"

/* The names of -A's presets (MLP, CNN, LENET), as leash_arch_preset knows them. */
extern const leash_names leash_preset_names;

/* One token of a layer list, as parsed: no shapes yet (the model builder derives them
 * from the input and checks that every layer fits). */
typedef struct leash_layer_spec {
    leash_layer_kind kind;
    int size;        /* conv: output channels; fc: outputs, 0 for "fc" (as many as classes) */
    int k;           /* conv: kernel side; pools: window side */
    int stride, pad; /* conv only (1 and 0 otherwise) */
    const char *text; /* the token as written, for messages (not terminated) */
    size_t text_len;
} leash_layer_spec;

/* Parse a comma-separated layer list into *specs (count entries, free()); on a syntax
 * error, LEASH_EINVAL with "layer N 'TOKEN': what is wrong". */
int leash_layers_parse(const char *text, leash_layer_spec **specs, int *count);

/* The token's canonical text (lowercase; conv's s1 and p0 left out) into buf, as
 * snprintf. */
int leash_layer_spec_format(const leash_layer_spec *s, char *buf, size_t size);

#endif
