/* Placement plans on hwloc synthetic topologies: exact PUs for compact and scatter. */
#include <stdlib.h>
#include <string.h>

#include <hwloc.h>

#include "leash/error.h"
#include "leash/placement.h"
#include "tap.h"

static hwloc_topology_t load(const char *synthetic)
{
    hwloc_topology_t t;
    if (hwloc_topology_init(&t) != 0) return NULL;
    if (hwloc_topology_set_synthetic(t, synthetic) != 0 || hwloc_topology_load(t) != 0) {
        hwloc_topology_destroy(t);
        return NULL;
    }
    return t;
}

/* The plan's PUs equal want[0..n). */
static int same_pus(const leash_placement *p, const int *want, int n)
{
    if (p->nworkers != n) return 0;
    for (int i = 0; i < n; ++i)
        if (p->workers[i].pu != want[i]) return 0;
    return 1;
}

static void show(const char *what, const leash_placement *p)
{
    char line[512];
    int used = snprintf(line, sizeof line, "%s:", what);
    for (int i = 0; i < p->nworkers && used < (int)sizeof line - 8; ++i)
        used += snprintf(line + used, sizeof line - (size_t)used, " %d", p->workers[i].pu);
    tap_diag("%s (numa %d)", line, p->model_numa);
}

/* 2 packages x 2 NUMA nodes x 8 cores x 2 PUs: PU P#k is on core k/2 and node k/16. */
static void two_sockets_compact(void)
{
    hwloc_topology_t t = load("pack:2 numa:2 core:8 pu:2");
    ASSERT_NOT_NULL(t);
    leash_placement p;
    ASSERT_INT_EQ(leash_placement_plan(&p, t, NULL, 4, LEASH_PLACE_COMPACT), 0);
    show("compact 4", &p);
    ASSERT_TRUE(same_pus(&p, (const int[]){0, 2, 4, 6}, 4));
    ASSERT_INT_EQ(p.model_numa, 0);
    ASSERT_INT_EQ(p.cores, 32);
    ASSERT_INT_EQ(p.pus, 64);
    ASSERT_INT_EQ(p.oversubscribed, 0);
    for (int i = 0; i < 4; ++i) ASSERT_INT_EQ(p.workers[i].core, i);
    leash_placement_free(&p);

    /* 34 workers: one per core (32), then the second hardware thread of cores 0 and 1. */
    ASSERT_INT_EQ(leash_placement_plan(&p, t, NULL, 34, LEASH_PLACE_COMPACT), 0);
    ASSERT_INT_EQ(p.workers[31].pu, 62);
    ASSERT_INT_EQ(p.workers[32].pu, 1);
    ASSERT_INT_EQ(p.workers[33].pu, 3);
    ASSERT_INT_EQ(p.workers[20].numa, 2);
    leash_placement_free(&p);

    /* 66 workers on 64 PUs: oversubscribed, wrapping to P#0 and P#2. */
    ASSERT_INT_EQ(leash_placement_plan(&p, t, NULL, 66, LEASH_PLACE_COMPACT), 0);
    ASSERT_INT_EQ(p.oversubscribed, 1);
    ASSERT_INT_EQ(p.workers[64].pu, 0);
    ASSERT_INT_EQ(p.workers[65].pu, 2);
    leash_placement_free(&p);
    hwloc_topology_destroy(t);
}

static void two_sockets_scatter(void)
{
    hwloc_topology_t t = load("pack:2 numa:2 core:8 pu:2");
    ASSERT_NOT_NULL(t);
    leash_placement p;
    /* First core of each of the 4 nodes, then their second cores. */
    ASSERT_INT_EQ(leash_placement_plan(&p, t, NULL, 6, LEASH_PLACE_SCATTER), 0);
    show("scatter 6", &p);
    ASSERT_TRUE(same_pus(&p, (const int[]){0, 16, 32, 48, 2, 18}, 6));
    for (int i = 0; i < 6; ++i) ASSERT_INT_EQ(p.workers[i].numa, i % 4);
    /* Nodes 0 and 1 hold two workers each: the tie goes to node 0. */
    ASSERT_INT_EQ(p.model_numa, 0);
    leash_placement_free(&p);
    hwloc_topology_destroy(t);
}

static void small_machine(void)
{
    hwloc_topology_t t = load("pack:1 numa:1 core:4 pu:1");
    ASSERT_NOT_NULL(t);
    leash_placement p;
    for (int policy = 0; policy < 2; ++policy) {
        ASSERT_INT_EQ(leash_placement_plan(&p, t, NULL, 3, (leash_place_policy)policy), 0);
        ASSERT_TRUE(same_pus(&p, (const int[]){0, 1, 2}, 3));
        ASSERT_INT_EQ(p.model_numa, 0);
        leash_placement_free(&p);
    }
    /* More workers than PUs: a warning case, not an error; the PUs repeat in order. */
    ASSERT_INT_EQ(leash_placement_plan(&p, t, NULL, 6, LEASH_PLACE_COMPACT), 0);
    ASSERT_TRUE(same_pus(&p, (const int[]){0, 1, 2, 3, 0, 1}, 6));
    ASSERT_INT_EQ(p.oversubscribed, 1);
    leash_placement_free(&p);
    hwloc_topology_destroy(t);
}

/* A launcher's cpuset inside NUMA node 1 (P#18..23: cores 9, 10, 11): only those PUs,
 * the model on node 1, and scatter equals compact within one node. */
static void cpuset_inside_one_node(void)
{
    hwloc_topology_t t = load("pack:2 numa:2 core:8 pu:2");
    ASSERT_NOT_NULL(t);
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    hwloc_bitmap_set_range(set, 18, 23);
    leash_placement p;
    for (int policy = 0; policy < 2; ++policy) {
        ASSERT_INT_EQ(leash_placement_plan(&p, t, set, 4, (leash_place_policy)policy), 0);
        show(policy ? "subset scatter 4" : "subset compact 4", &p);
        ASSERT_TRUE(same_pus(&p, (const int[]){18, 20, 22, 19}, 4));
        ASSERT_INT_EQ(p.model_numa, 1);
        ASSERT_INT_EQ(p.cores, 3);
        ASSERT_INT_EQ(p.pus, 6);
        leash_placement_free(&p);
    }
    /* A cpuset with only one hardware thread of a core counts that core once. */
    hwloc_bitmap_only(set, 33);
    ASSERT_INT_EQ(leash_placement_plan(&p, t, set, 2, LEASH_PLACE_COMPACT), 0);
    ASSERT_TRUE(same_pus(&p, (const int[]){33, 33}, 2));
    ASSERT_INT_EQ(p.model_numa, 2);
    ASSERT_INT_EQ(p.oversubscribed, 1);
    leash_placement_free(&p);
    hwloc_bitmap_free(set);
    hwloc_topology_destroy(t);
}

static void rejects_bad_requests(void)
{
    hwloc_topology_t t = load("pack:1 numa:1 core:4 pu:1");
    ASSERT_NOT_NULL(t);
    leash_placement p;
    ASSERT_INT_EQ(leash_placement_plan(&p, t, NULL, 0, LEASH_PLACE_COMPACT), LEASH_EINVAL);
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    hwloc_bitmap_only(set, 100); /* not a PU of this machine */
    ASSERT_INT_EQ(leash_placement_plan(&p, t, set, 1, LEASH_PLACE_COMPACT), LEASH_EINVAL);
    hwloc_bitmap_free(set);
    hwloc_topology_destroy(t);
}

/* The bits of set, as "a-b,c" text. */
static int set_is(hwloc_const_bitmap_t set, const char *want)
{
    char *text = NULL;
    hwloc_bitmap_list_asprintf(&text, set);
    int same = text && strcmp(text, want) == 0;
    if (!same) tap_diag("cpuset %s, want %s", text ? text : "?", want);
    free(text);
    return same;
}

/* Ranks given the same cpuset share it by contiguous blocks of cores: 4 ranks on a
 * 4-node machine get one node each, 3 ranks blocks of 5, 5 and 6 of its 16 cores, and
 * more ranks than cores share cores round-robin. */
static void ranks_share_a_cpuset(void)
{
    hwloc_topology_t t = load("pack:2 numa:2 core:4 pu:2"); /* 16 cores: PU k on core k/2, node k/8 */
    hwloc_bitmap_t set;
    ASSERT_NOT_NULL(t);
    static const char *const by_node[] = {"0-7", "8-15", "16-23", "24-31"};
    for (int r = 0; r < 4; ++r) {
        set = hwloc_bitmap_dup(hwloc_topology_get_topology_cpuset(t));
        ASSERT_INT_EQ(leash_cpuset_share(t, set, r, 4), 0);
        ASSERT_TRUE(set_is(set, by_node[r]));
        leash_placement p;
        ASSERT_INT_EQ(leash_placement_plan(&p, t, set, 4, LEASH_PLACE_COMPACT), 0);
        ASSERT_INT_EQ(p.model_numa, r);
        leash_placement_free(&p);
        hwloc_bitmap_free(set);
    }
    static const char *const by_three[] = {"0-9", "10-19", "20-31"};
    for (int r = 0; r < 3; ++r) {
        set = hwloc_bitmap_dup(hwloc_topology_get_topology_cpuset(t));
        ASSERT_INT_EQ(leash_cpuset_share(t, set, r, 3), 0);
        ASSERT_TRUE(set_is(set, by_three[r]));
        hwloc_bitmap_free(set);
    }
    hwloc_topology_destroy(t);

    t = load("pack:1 numa:1 core:2 pu:1");
    ASSERT_NOT_NULL(t);
    static const char *const crowded[] = {"0", "1", "0"};
    for (int r = 0; r < 3; ++r) {
        set = hwloc_bitmap_dup(hwloc_topology_get_topology_cpuset(t));
        ASSERT_INT_EQ(leash_cpuset_share(t, set, r, 3), 0);
        ASSERT_TRUE(set_is(set, crowded[r]));
        hwloc_bitmap_free(set);
    }
    /* One rank keeps its cpuset whole. */
    set = hwloc_bitmap_dup(hwloc_topology_get_topology_cpuset(t));
    ASSERT_INT_EQ(leash_cpuset_share(t, set, 0, 1), 0);
    ASSERT_TRUE(set_is(set, "0-1"));
    hwloc_bitmap_free(set);
    hwloc_topology_destroy(t);
}

int main(void)
{
    tap_plan(6);
    TAP_RUN(two_sockets_compact);
    TAP_RUN(two_sockets_scatter);
    TAP_RUN(small_machine);
    TAP_RUN(cpuset_inside_one_node);
    TAP_RUN(rejects_bad_requests);
    TAP_RUN(ranks_share_a_cpuset);
    return tap_done();
}
