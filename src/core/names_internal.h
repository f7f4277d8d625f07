/* The names of an enumeration's values, from its one list (an X-macro such as
 * LEASH_ALGORITHMS): its name and parse functions (names.c), the command line's choices
 * and the presets of -A read them through one table type. */
#ifndef LEASH_NAMES_INTERNAL_H
#define LEASH_NAMES_INTERNAL_H

#include <stddef.h>

typedef struct leash_names {
    const char *what;         /* what a name names, for messages: "algorithm" */
    const char *const *names; /* names[v] names value v */
    int count;
} leash_names;

/* The tables of the public enumerations (names.c). */
extern const leash_names leash_algorithm_names, leash_step_policy_names, leash_init_names,
    leash_activation_names, leash_dataset_names, leash_place_policy_names;

/* The name of value v, or "?" if it has none. */
const char *leash_names_name(const leash_names *t, int v);
/* The value that text names (case-insensitive), or -1. */
int leash_names_find(const leash_names *t, const char *text);
/* "A, B or C": every name, into buf (size bytes, cut short if need be). */
void leash_names_list(const leash_names *t, char *buf, size_t size);
/* The value that text names into *v (case-insensitive), or LEASH_EINVAL with "TEXT:
 * unknown WHAT (expected A, B or C)", *v unchanged. */
int leash_names_parse(const leash_names *t, const char *text, int *v);

#endif
