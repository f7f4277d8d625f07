/* Worker placement on the node's topology (hwloc): which PU each worker thread runs on
 * and which NUMA node holds the model.
 *
 * leash_placement_plan is a pure function of (topology, cpuset, workers, policy), so it
 * is tested on hwloc synthetic topologies; binding is a separate, best-effort step. */
#ifndef LEASH_PLACEMENT_H
#define LEASH_PLACEMENT_H

#include <hwloc.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum leash_place_policy {
    LEASH_PLACE_COMPACT, /* fill cores in topology order: neighbours share caches and memory */
    LEASH_PLACE_SCATTER  /* deal cores round-robin over the NUMA nodes: spread bandwidth */
} leash_place_policy;

typedef struct leash_worker_place {
    int pu;   /* OS index of the PU the worker is bound to */
    int core; /* logical index of its core */
    int numa; /* OS index of the NUMA node local to it, -1 if unknown */
} leash_worker_place;

typedef struct leash_placement {
    int nworkers;
    leash_worker_place *workers;
    int model_numa;     /* OS index of the NUMA node that holds the model, -1 if unknown */
    int cores, pus;     /* cores and PUs of the cpuset */
    int oversubscribed; /* more workers than PUs: some PUs run several workers */
} leash_placement;

/* Plan nworkers workers on the PUs of cpuset (the launcher's binding; the whole
 * machine if NULL). One worker per core first, in policy order; then the cores' other
 * hardware threads; beyond that the plan wraps around (oversubscribed). The model goes
 * to the NUMA node local to the most workers (the lowest OS index on a tie). */
int leash_placement_plan(leash_placement *p, hwloc_topology_t topo, hwloc_const_cpuset_t cpuset,
                         int nworkers, leash_place_policy policy);
void leash_placement_free(leash_placement *p);

/* Bind the calling thread to worker w's PU. Returns 0, or LEASH_EUNSUPPORTED when the
 * OS refuses (binding is best-effort: the caller may go on unbound). */
int leash_placement_bind_thread(const leash_placement *p, hwloc_topology_t topo, int w);

/* Bind the calling thread's future allocations to the model's NUMA node (first touch
 * then puts the model there). 0, or LEASH_EUNSUPPORTED. */
int leash_placement_bind_memory(const leash_placement *p, hwloc_topology_t topo);

const char *leash_place_policy_name(leash_place_policy policy);

/* Share a cpuset among count ranks that were all given the same one (mpirun --bind-to
 * none, several ranks per node): rank index keeps a contiguous block of the cores in it
 * (core order, so blocks follow packages and NUMA nodes), with their PUs in cpuset. With
 * more ranks than cores, ranks share cores round-robin. Pure: depends only on its
 * arguments. Returns 0, or LEASH_EINVAL if cpuset holds no core. */
int leash_cpuset_share(hwloc_topology_t topo, hwloc_bitmap_t cpuset, int index, int count);

/* Discover this machine (*topo, to destroy with hwloc_topology_destroy) and the cpuset
 * the process was started on by its launcher (mpirun --bind-to, SLURM, taskset), or the
 * allowed cpuset when the process is not bound (*cpuset, to free with hwloc_bitmap_free). */
int leash_topology_load(hwloc_topology_t *topo, hwloc_bitmap_t *cpuset);

#ifdef __cplusplus
}
#endif
#endif
