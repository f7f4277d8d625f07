/* Resuming from a checkpoint: see resume_internal.h. */
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "leash/dist.h"
#include "mpi/comm_internal.h"
#include "train/breakdown_internal.h"
#include "train/checkpoint_internal.h"
#include "train/resume_internal.h"
#include "train/state_internal.h"
#include "train/trainer_internal.h"

/* --- resuming on another layout: rank 0's plan ---------------------------------------- */

/* The job's update and sample counts a new rank carries on: one per rank, summed over the
 * ranks as doubles (rank 0's figures and the others' zeros: a broadcast). */
typedef struct carried {
    double updates, samples;
} carried;
_Static_assert(sizeof(carried) == 2 * sizeof(double), "carried: reduced as 2 doubles");

/* The layout of a resume, rank 0's, summed with the others' zeros: a broadcast. */
typedef union resume_layout {
    struct {
        double from_ranks, from_threads, momentum;
    };
    double all[3];
} resume_layout;
LEASH_AGREEMENT(resume_layout);

/* Rank 0's part of a resume on another layout: the checkpoint's layout, the means of its
 * ranks' parameters and momentum buffers, and the update and sample counts each new
 * rank carries on (carry[k] for new rank k). */
typedef struct reshape_plan {
    int from_ranks, from_threads;
    float *theta, *velocity, *scratch;
    uint32_t nvelocities;
    carried *carry;
    uint64_t ntrain;
} reshape_plan;

static void plan_free(reshape_plan *p)
{
    leash_params_free(p->theta);
    leash_params_free(p->velocity);
    leash_params_free(p->scratch);
    free(p->carry);
    memset(p, 0, sizeof *p);
}

/* Add scratch to sum: a sum in rank order, equal to MPI's for two ranks, -0.0 included
 * (the first term is read into sum itself). */
static void add_floats(float *sum, const float *scratch, size_t n)
{
    for (size_t i = 0; i < n; ++i) sum[i] += scratch[i];
}

/* Old rank j's state into the plan: its job totals, shard size, parameters and momentum. */
static int skim_rank(const trainer *t, leash_rbuf r, int j, reshape_plan *p)
{
    const size_t n = t->model->nparams;
    leash_saved_strategy st;
    leash_state_totals tot;
    int rc = leash_state_skim(t, r, j, j == 0 ? p->theta : p->scratch,
                              (uint32_t)p->from_threads, &st, &tot);
    if (rc) return rc;
    if (j > 0) add_floats(p->theta, p->scratch, n);
    for (uint32_t i = 0; i < st.nbuffers; ++i) {
        uint32_t k;
        const int first = p->nvelocities++ == 0;
        leash_saved_momentum_next(&st.momentum, &k, first ? p->velocity : p->scratch, n);
        if (!first) add_floats(p->velocity, p->scratch, n);
    }
    const int k = j % leash_dist_size();
    p->carry[k].updates += (double)tot.updates;
    p->carry[k].samples += (double)tot.samples;
    p->ntrain += tot.ntrain;
    return 0;
}

/* Rank 0: the means of the checkpoint's F ranks (p->from_ranks) and what each new rank
 * carries on. ntrain_now: this run's training samples over all ranks. */
static int plan_reshape(const trainer *t, const leash_checkpoint_file *f, reshape_plan *p,
                        double ntrain_now)
{
    const size_t n = t->model->nparams;
    p->theta = leash_params_alloc(n);
    p->velocity = leash_params_alloc(n);
    p->scratch = leash_params_alloc(n);
    p->carry = calloc((size_t)leash_dist_size(), sizeof *p->carry);
    if (!p->theta || !p->velocity || !p->scratch || !p->carry)
        return leash_fail(LEASH_ENOMEM, "out of memory");
    for (int j = 0; j < p->from_ranks; ++j) {
        leash_rbuf r;
        leash_checkpoint_rank(f, j, &r);
        int rc = skim_rank(t, r, j, p);
        if (rc) return rc;
    }
    if ((double)p->ntrain != ntrain_now)
        return leash_fail(LEASH_EINVAL,
                          "checkpoint %s: written for a training set of %llu samples, this run's "
                          "has %.0f",
                          t->cfg->resume, (unsigned long long)p->ntrain, ntrain_now);
    const float inv = 1.0f / (float)p->from_ranks;
    for (size_t i = 0; i < n; ++i) p->theta[i] *= inv;
    const float vinv = p->nvelocities ? 1.0f / (float)p->nvelocities : 0.0f;
    for (size_t i = 0; i < n; ++i) p->velocity[i] *= vinv;
    return 0;
}

/* --- every rank ----------------------------------------------------------------------- */

/* Rank 0: read and check the file, plan a resume on another layout, and lay the ranks'
 * states end to end for the scatter (rank 0's for a rank the file lacks). */
static int read_for_ranks(trainer *t, unsigned char **all, size_t *lens, reshape_plan *plan,
                          double ntrain_now)
{
    const leash_checkpoint_id id = leash_state_identity(t);
    leash_checkpoint_file f;
    int rc = leash_checkpoint_open(&f, &id, t->res->params);
    if (rc) return rc;
    const int ranks = leash_dist_size();
    if (f.from_ranks != ranks || f.from_threads != t->cfg->threads) {
        *plan = (reshape_plan){.from_ranks = f.from_ranks, .from_threads = f.from_threads};
        rc = plan_reshape(t, &f, plan, ntrain_now);
    }
    if (!rc) rc = leash_checkpoint_lay_out(&f, ranks, all, lens);
    leash_rbuf r;
    if (!rc && leash_store_section(&f.store, "SPLT", 0, &r) == 0) leash_breakdown_load(t, r);
    leash_checkpoint_close(&f);
    return rc;
}

/* Every rank: the plan's layout and what this rank carries on (rank 0's figures, summed
 * with the others' zeros: a broadcast). */
static int share_plan(const trainer *t, const reshape_plan *p, leash_resume *rs)
{
    const int ranks = leash_dist_size(), rank = leash_dist_rank();
    resume_layout layout = {.from_ranks = p->from_ranks,
                            .from_threads = p->from_threads,
                            .momentum = p->nvelocities > 0};
    int rc = LEASH_AGREE_SUM(&layout);
    if (rc || layout.from_ranks == 0) return rc;
    rs->reshape.from_ranks = (int)layout.from_ranks;
    rs->reshape.from_threads = (int)layout.from_threads;
    rs->reshape.own = rank < rs->reshape.from_ranks;
    carried *carry = calloc((size_t)ranks, sizeof *carry);
    if (layout.momentum > 0 && !(rs->reshape.velocity = leash_params_alloc(t->model->nparams)))
        rc = LEASH_ENOMEM;
    if (!carry) rc = LEASH_ENOMEM;
    if ((rc = leash_dist_agree(rc ? leash_fail(rc, "out of memory") : 0)) != 0) {
        free(carry);
        return rc;
    }
    if (p->carry) memcpy(carry, p->carry, (size_t)ranks * sizeof *carry);
    if ((rc = leash_comm_allreduce_sum_d(&carry->updates, 2 * ranks)) == 0) {
        rs->reshape.updates = (uint64_t)carry[rank].updates;
        rs->reshape.samples = (uint64_t)carry[rank].samples;
    }
    free(carry);
    return rc;
}

/* Every rank: the plan's means, the result's record of the resume, rank 0's warning. */
static int share_means(trainer *t, const reshape_plan *p, leash_resume *rs)
{
    const size_t n = t->model->nparams;
    const int root = leash_dist_rank() == 0;
    if (root) memcpy(rs->theta, p->theta, n * sizeof *rs->theta);
    int rc = leash_comm_bcast_f(rs->theta, n);
    if (!rc && rs->reshape.velocity) {
        if (root) memcpy(rs->reshape.velocity, p->velocity, n * sizeof *rs->reshape.velocity);
        rc = leash_comm_bcast_f(rs->reshape.velocity, n);
    }
    if (rc) return rc;
    leash_result *res = t->res;
    res->resumed_from_ranks = rs->reshape.from_ranks;
    res->resumed_from_threads = rs->reshape.from_threads;
    res->resumed_start_digest = leash_fnv1a64(rs->theta, n * sizeof *rs->theta);
    if (root)
        leash_warn("checkpoint %s: written by %d rank%s with leash_config.threads = %d, resumed "
                   "by %d rank%s with leash_config.threads = %d: every rank starts from the "
                   "mean of its ranks' models, and the run is no longer bit-for-bit resumable",
                   t->cfg->resume, rs->reshape.from_ranks, rs->reshape.from_ranks == 1 ? "" : "s",
                   rs->reshape.from_threads, leash_dist_size(), leash_dist_size() == 1 ? "" : "s",
                   t->cfg->threads);
    return 0;
}

int leash_resume_load(trainer *t, leash_resume *rs)
{
    memset(rs, 0, sizeof *rs);
    const int root = leash_dist_rank() == 0;
    reshape_plan plan = {0};
    unsigned char *all = NULL;
    double ntrain = (double)t->train->n;
    int rc = leash_comm_allreduce_sum_d(&ntrain, 1);
    if (rc) return rc;
    size_t *lens = root ? calloc((size_t)leash_dist_size(), sizeof *lens) : NULL;
    rc = root && !lens ? leash_fail(LEASH_ENOMEM, "out of memory") : 0;
    if (!rc && root) rc = read_for_ranks(t, &all, lens, &plan, ntrain);
    if ((rc = leash_dist_agree(rc)) == 0 && (rc = share_plan(t, &plan, rs)) == 0)
        rc = leash_comm_scatter_bytes(all, lens, &rs->blob, &rs->len);
    free(all);
    free(lens);
    if (!rc) rc = leash_comm_bcast_f(t->res->params, t->model->nparams);
    if (!rc && (rc = leash_dist_agree(leash_state_load(t, rs))) == 0 && rs->reshape.from_ranks)
        rc = share_means(t, &plan, rs);
    plan_free(&plan);
    return rc;
}

void leash_resume_free(leash_resume *r)
{
    free(r->blob);
    leash_params_free(r->theta);
    leash_params_free(r->reshape.velocity);
    memset(r, 0, sizeof *r);
}
