/* The names of the enumerations: each table, and each name and parse function, comes from
 * its enumeration's list in the public headers, the list its enumerators come from too. */
#include <stdio.h>
#include <strings.h>

#include "core/error_internal.h"
#include "core/names_internal.h"
#include "leash/placement.h"
#include "leash/train.h"

const char *leash_names_name(const leash_names *t, int v)
{
    return v >= 0 && v < t->count ? t->names[v] : "?";
}

int leash_names_find(const leash_names *t, const char *text)
{
    for (int v = 0; v < t->count; ++v)
        if (strcasecmp(text, t->names[v]) == 0) return v;
    return -1;
}

void leash_names_list(const leash_names *t, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int v = 0; v < t->count && used < size; ++v)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", t->names[v],
                                 v + 2 < t->count ? ", " : v + 1 < t->count ? " or " : "");
}

int leash_names_parse(const leash_names *t, const char *text, int *v)
{
    const int found = leash_names_find(t, text);
    if (found >= 0) {
        *v = found;
        return 0;
    }
    char names[256];
    leash_names_list(t, names, sizeof names);
    return leash_fail(LEASH_EINVAL, "%s: unknown %s (expected %s)", text, t->what, names);
}

#define NAME_OF(ID, NAME) NAME,
#define NAME_OF_ALGORITHM(ID, NAME, id) NAME,

/* An enumeration's table, prefix_names, from its list (list(name_of) gives its names in
 * the order of their values), and its public functions prefix_name and prefix_parse. */
#define NAMED_ENUM(prefix, type, what, list, name_of)                                     \
    static const char *const prefix##_strings[] = {list(name_of)};                      \
    const leash_names prefix##_names = {                                                 \
        what, prefix##_strings, (int)(sizeof prefix##_strings / sizeof *prefix##_strings)}; \
    const char *prefix##_name(type v) { return leash_names_name(&prefix##_names, (int)v); } \
    int prefix##_parse(const char *name, type *out)                                      \
    {                                                                                    \
        int v = 0, rc = leash_names_parse(&prefix##_names, name, &v);                    \
        if (rc == 0) *out = (type)v;                                                     \
        return rc;                                                                       \
    }

NAMED_ENUM(leash_algorithm, leash_algorithm, "algorithm", LEASH_ALGORITHMS, NAME_OF_ALGORITHM)
NAMED_ENUM(leash_step_policy, leash_step_policy, "step policy", LEASH_STEP_POLICIES, NAME_OF)
NAMED_ENUM(leash_init, leash_init, "initialization", LEASH_INITS, NAME_OF)
NAMED_ENUM(leash_activation, leash_activation, "activation", LEASH_ACTIVATIONS, NAME_OF)
NAMED_ENUM(leash_dataset, leash_dataset_kind, "dataset", LEASH_DATASET_KINDS, NAME_OF)
NAMED_ENUM(leash_place_policy, leash_place_policy, "placement", LEASH_PLACE_POLICIES, NAME_OF)
