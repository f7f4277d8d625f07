#include <stdlib.h>

#include <hwloc.h>

#include "core/error_internal.h"
#include "leash/placement.h"

/* A usable core: its PUs inside the cpuset, and its NUMA node. */
typedef struct core_info {
    int logical;
    int numa;
    int npus;
    int pus[8]; /* OS indices, in logical order; more hardware threads are ignored */
} core_info;

static int numa_of(hwloc_topology_t topo, hwloc_const_cpuset_t set)
{
    hwloc_obj_t node = NULL;
    while ((node = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, node)) != NULL)
        if (node->cpuset && hwloc_bitmap_isincluded(set, node->cpuset)) return (int)node->os_index;
    return -1;
}

/* The cores (or, on a topology without cores, the PUs) that intersect the cpuset. */
static int collect_cores(hwloc_topology_t topo, hwloc_const_cpuset_t cpuset, core_info **out,
                         int *ncores)
{
    hwloc_obj_type_t type =
        hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE) > 0 ? HWLOC_OBJ_CORE : HWLOC_OBJ_PU;
    int total = hwloc_get_nbobjs_by_type(topo, type);
    core_info *cores = calloc(total > 0 ? (size_t)total : 1, sizeof *cores);
    if (!cores) return leash_fail(LEASH_ENOMEM, "placement: out of memory");
    int n = 0;
    for (int i = 0; i < total; ++i) {
        hwloc_obj_t core = hwloc_get_obj_by_type(topo, type, (unsigned)i);
        if (!core || !core->cpuset || !hwloc_bitmap_intersects(core->cpuset, cpuset)) continue;
        core_info *c = &cores[n];
        c->logical = (int)core->logical_index;
        c->numa = numa_of(topo, core->cpuset);
        hwloc_obj_t pu = NULL;
        while (c->npus < 8 &&
               (pu = hwloc_get_next_obj_inside_cpuset_by_type(topo, core->cpuset, HWLOC_OBJ_PU, pu)))
            if (hwloc_bitmap_isset(cpuset, pu->os_index)) c->pus[c->npus++] = (int)pu->os_index;
        if (c->npus) ++n;
    }
    *out = cores;
    *ncores = n;
    return 0;
}

/* Scatter order: deal the cores round-robin over the NUMA nodes (nodes in order of
 * their first core): the first core of every node, then the second of every node, ... */
static int scatter_order(core_info *cores, int n)
{
    core_info *sorted = malloc((size_t)n * sizeof *sorted);
    int *nodes = malloc((size_t)n * sizeof *nodes), *rank = malloc((size_t)n * sizeof *rank);
    if (!sorted || !nodes || !rank) {
        free(sorted);
        free(nodes);
        free(rank);
        return leash_fail(LEASH_ENOMEM, "placement: out of memory");
    }
    /* rank[i]: how many cores of the same node come before core i. */
    int nnodes = 0, maxrank = 0;
    for (int i = 0; i < n; ++i) {
        int j = 0;
        while (j < nnodes && nodes[j] != cores[i].numa) ++j;
        if (j == nnodes) nodes[nnodes++] = cores[i].numa;
        rank[i] = 0;
        for (int k = 0; k < i; ++k) rank[i] += cores[k].numa == cores[i].numa;
        maxrank = rank[i] > maxrank ? rank[i] : maxrank;
    }
    int k = 0;
    for (int r = 0; r <= maxrank; ++r)
        for (int j = 0; j < nnodes; ++j)
            for (int i = 0; i < n; ++i)
                if (rank[i] == r && cores[i].numa == nodes[j]) sorted[k++] = cores[i];
    for (int i = 0; i < n; ++i) cores[i] = sorted[i];
    free(sorted);
    free(nodes);
    free(rank);
    return 0;
}

int leash_placement_plan(leash_placement *p, hwloc_topology_t topo, hwloc_const_cpuset_t cpuset,
                         int nworkers, leash_place_policy policy)
{
    *p = (leash_placement){.model_numa = -1};
    if (nworkers < 1) return leash_fail(LEASH_EINVAL, "placement: %d workers", nworkers);
    if (!cpuset) cpuset = hwloc_topology_get_allowed_cpuset(topo);
    core_info *cores = NULL;
    int ncores = 0, rc = collect_cores(topo, cpuset, &cores, &ncores);
    if (rc) return rc;
    if (ncores == 0) {
        free(cores);
        return leash_fail(LEASH_EINVAL, "placement: the cpuset holds no PU of this machine");
    }
    if (policy == LEASH_PLACE_SCATTER && (rc = scatter_order(cores, ncores)) != 0) {
        free(cores);
        return rc;
    }

    int maxpus = 0, pus = 0;
    for (int i = 0; i < ncores; ++i) {
        pus += cores[i].npus;
        maxpus = cores[i].npus > maxpus ? cores[i].npus : maxpus;
    }
    p->workers = calloc((size_t)nworkers, sizeof *p->workers);
    if (!p->workers) {
        free(cores);
        return leash_fail(LEASH_ENOMEM, "placement: out of memory for %d workers", nworkers);
    }
    /* Slot k: the (k / cores)-th hardware thread of each core in order, skipping cores
     * that have fewer; the list of PUs repeats when there are more workers than PUs. */
    int w = 0;
    while (w < nworkers)
        for (int t = 0; t < maxpus && w < nworkers; ++t)
            for (int i = 0; i < ncores && w < nworkers; ++i)
                if (t < cores[i].npus)
                    p->workers[w++] = (leash_worker_place){cores[i].pus[t], cores[i].logical,
                                                           cores[i].numa};
    p->nworkers = nworkers;
    p->cores = ncores;
    p->pus = pus;
    p->oversubscribed = nworkers > pus;

    /* The node local to the most workers; ties go to the lowest OS index. */
    int best = -1, best_count = 0;
    for (int i = 0; i < nworkers; ++i) {
        int node = p->workers[i].numa, count = 0;
        if (node < 0) continue;
        for (int j = 0; j < nworkers; ++j) count += p->workers[j].numa == node;
        if (count > best_count || (count == best_count && node < best)) {
            best = node;
            best_count = count;
        }
    }
    p->model_numa = best;
    free(cores);
    return 0;
}

void leash_placement_free(leash_placement *p)
{
    free(p->workers);
    *p = (leash_placement){.model_numa = -1};
}

int leash_placement_bind_thread(const leash_placement *p, hwloc_topology_t topo, int w)
{
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (!set) return leash_fail(LEASH_ENOMEM, "placement: out of memory");
    hwloc_bitmap_only(set, (unsigned)p->workers[w].pu);
    int rc = hwloc_set_cpubind(topo, set, HWLOC_CPUBIND_THREAD);
    hwloc_bitmap_free(set);
    return rc == 0 ? 0
                   : leash_fail(LEASH_EUNSUPPORTED, "cannot bind worker %d to PU %d", w,
                                p->workers[w].pu);
}

int leash_placement_bind_memory(const leash_placement *p, hwloc_topology_t topo)
{
    if (p->model_numa < 0) return leash_fail(LEASH_EUNSUPPORTED, "no NUMA node to bind memory to");
    hwloc_bitmap_t nodes = hwloc_bitmap_alloc();
    if (!nodes) return leash_fail(LEASH_ENOMEM, "placement: out of memory");
    hwloc_bitmap_only(nodes, (unsigned)p->model_numa);
    int rc = hwloc_set_membind(topo, nodes, HWLOC_MEMBIND_BIND,
                               HWLOC_MEMBIND_THREAD | HWLOC_MEMBIND_BYNODESET);
    hwloc_bitmap_free(nodes);
    return rc == 0 ? 0
                   : leash_fail(LEASH_EUNSUPPORTED, "cannot bind memory to NUMA node %d",
                                p->model_numa);
}

int leash_cpuset_share(hwloc_topology_t topo, hwloc_bitmap_t cpuset, int index, int count)
{
    int ncores = hwloc_get_nbobjs_inside_cpuset_by_type(topo, cpuset, HWLOC_OBJ_CORE);
    if (ncores <= 0) return leash_fail(LEASH_EINVAL, "hwloc: the cpuset holds no core");
    if (count <= 1) return 0;
    int first, last; /* cores [first, last) of those in cpuset */
    if (count <= ncores) {
        first = (int)((long)index * ncores / count);
        last = (int)((long)(index + 1) * ncores / count);
    } else {
        first = index % ncores;
        last = first + 1;
    }
    hwloc_bitmap_t keep = hwloc_bitmap_alloc();
    if (!keep) return leash_fail(LEASH_ENOMEM, "hwloc: out of memory");
    for (int i = first; i < last; ++i) {
        hwloc_obj_t core = hwloc_get_obj_inside_cpuset_by_type(topo, cpuset, HWLOC_OBJ_CORE, (unsigned)i);
        if (core) hwloc_bitmap_or(keep, keep, core->cpuset);
    }
    hwloc_bitmap_and(cpuset, cpuset, keep);
    hwloc_bitmap_free(keep);
    return 0;
}

int leash_topology_load(hwloc_topology_t *topo, hwloc_bitmap_t *cpuset)
{
    *topo = NULL;
    *cpuset = NULL;
    hwloc_topology_t t;
    if (hwloc_topology_init(&t) != 0) return leash_fail(LEASH_ENOMEM, "hwloc: cannot initialize");
    if (hwloc_topology_load(t) != 0) {
        hwloc_topology_destroy(t);
        return leash_fail(LEASH_EUNSUPPORTED, "hwloc: cannot discover this machine's topology");
    }
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (!set) {
        hwloc_topology_destroy(t);
        return leash_fail(LEASH_ENOMEM, "hwloc: out of memory");
    }
    /* The launcher's binding; an unbound process (or an OS that will not say) gets the
     * whole allowed cpuset. */
    if (hwloc_get_cpubind(t, set, HWLOC_CPUBIND_PROCESS) != 0 || hwloc_bitmap_iszero(set))
        hwloc_bitmap_copy(set, hwloc_topology_get_allowed_cpuset(t));
    hwloc_bitmap_and(set, set, hwloc_topology_get_allowed_cpuset(t));
    *topo = t;
    *cpuset = set;
    return 0;
}
