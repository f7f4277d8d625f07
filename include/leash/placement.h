/* Worker placement on the node's topology (hwloc): which PU each worker thread runs on
 * and which NUMA node holds the model.
 *
 * leash_placement_plan is a pure function of (topology, cpuset, workers, policy), so it
 * is tested on hwloc synthetic topologies; binding is a separate, best-effort step. */
#ifndef LEASH_PLACEMENT_H
#define LEASH_PLACEMENT_H

#include "leash/api.h"

/* hwloc's own types, declared here so that this header does not need <hwloc.h>: a
 * program that passes topologies and cpusets includes it itself (hwloc_topology_t is
 * struct hwloc_topology *, hwloc_bitmap_t struct hwloc_bitmap_s *). */
struct hwloc_topology;
struct hwloc_bitmap_s;

#ifdef __cplusplus
extern "C" {
#endif

/* The placement policies, as X(ID, NAME): LEASH_PLACE_ID, named NAME
 * (leash_place_policy_name, leash_place_policy_parse). */
#define LEASH_PLACE_POLICIES(X)                                               \
    /* fill cores in topology order: neighbours share caches and memory */    \
    X(COMPACT, "compact")                                                     \
    /* deal cores round-robin over the NUMA nodes: spread bandwidth */        \
    X(SCATTER, "scatter")

#define LEASH_PLACE_ENUMERATOR_(ID, NAME) LEASH_PLACE_##ID,
typedef enum leash_place_policy {
    LEASH_PLACE_POLICIES(LEASH_PLACE_ENUMERATOR_)
} leash_place_policy;
#undef LEASH_PLACE_ENUMERATOR_

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
LEASH_API int leash_placement_plan(leash_placement *p, struct hwloc_topology *topo,
                                   const struct hwloc_bitmap_s *cpuset, int nworkers,
                                   leash_place_policy policy);
LEASH_API void leash_placement_free(leash_placement *p);

/* Bind the calling thread to worker w's PU. Returns 0, or LEASH_EUNSUPPORTED when the
 * OS refuses (binding is best-effort: the caller may go on unbound). */
LEASH_API int leash_placement_bind_thread(const leash_placement *p, struct hwloc_topology *topo,
                                          int w);

/* Bind the calling thread's future allocations to the model's NUMA node (first touch
 * then puts the model there). 0, or LEASH_EUNSUPPORTED. */
LEASH_API int leash_placement_bind_memory(const leash_placement *p, struct hwloc_topology *topo);

/* The policy's name ("?" for none), and the policy of a name, as leash_algorithm_parse. */
LEASH_API const char *leash_place_policy_name(leash_place_policy policy);
LEASH_API int leash_place_policy_parse(const char *name, leash_place_policy *out);

/* Share a cpuset among count ranks that were all given the same one (mpirun --bind-to
 * none, several ranks per node): rank index keeps a contiguous block of the cores in it
 * (core order, so blocks follow packages and NUMA nodes), with their PUs in cpuset. With
 * more ranks than cores, ranks share cores round-robin. Pure: depends only on its
 * arguments. Returns 0, or LEASH_EINVAL if cpuset holds no core. */
LEASH_API int leash_cpuset_share(struct hwloc_topology *topo, struct hwloc_bitmap_s *cpuset,
                                 int index, int count);

/* Discover this machine (*topo, to destroy with hwloc_topology_destroy) and the cpuset
 * the process was started on by its launcher (mpirun --bind-to, SLURM, taskset), or the
 * allowed cpuset when the process is not bound (*cpuset, to free with hwloc_bitmap_free). */
LEASH_API int leash_topology_load(struct hwloc_topology **topo, struct hwloc_bitmap_s **cpuset);

#ifdef __cplusplus
}
#endif
#endif
