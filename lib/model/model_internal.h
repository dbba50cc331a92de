/*
 * The score-model object and the per-kind table of functions; never installed.
 *
 * A kind of model is one sd_model_ops table (GSL's gsl_odeiv2_step_type is the
 * pattern): adding a kind means one source file with one table and one
 * constructor, not a switch in every function. The generic layer (model.c)
 * checks every argument once: model non-NULL, x/t/outputs non-NULL, n > 0,
 * D == model->dim, t finite and within [0, T]. Kind functions therefore get
 * valid batches and never re-check them; they only report what is theirs
 * (hook failures, non-finite results, allocation failures), through sd_fail.
 *
 * Evaluation slots take a const model and must not write to it: several
 * threads evaluate one model at once. A kind that needs scratch memory
 * allocates it per call, or keeps its own lock-guarded pool in its state.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SD_MODEL_INTERNAL_H
#define SD_MODEL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* Model files (lib/core/io.h, file layer) define these; a pointer to an
 * incomplete struct is all the table needs. */
struct sd_writer;
struct sd_reader;

typedef struct sd_model_ops {
    const char *name; /* "gmm", "score_fn", ... used in messages and files */
    int kind;         /* SCORESDE_MODEL_* */

    /* ---- evaluation: all batches n x D with D = m->dim, t checked ---- */

    /* Required. out = s(x_i, t_i). */
    int (*score)(const scoresde_model *m, const double *x, const double *t, size_t n,
                 double *out);

    /* Optional native data prediction E[x_0 | x_t] (denoiser kinds); NULL:
     * the generic layer uses Tweedie on the score. */
    int (*predict_data)(const scoresde_model *m, const double *x, const double *t, size_t n,
                        double *x0_out);

    /* Optional exact divergence tr(ds/dx), n values. NULL: the generic layer
     * uses D exact jvp passes if jvp is set, else EUNSUPPORTED. */
    int (*divergence)(const scoresde_model *m, const double *x, const double *t, size_t n,
                      double *div);

    /* Optional exact Jacobian-vector product jv_i = (ds/dx)(x_i) v_i; score_out
     * may be NULL, else receives s. NULL: the generic layer uses central
     * differences of score (documented in model.h). */
    int (*jvp)(const scoresde_model *m, const double *x, const double *t, size_t n,
               const double *v, double *score_out, double *jv);

    /* Optional exact ln p_t(x_i), n values. NULL: EUNSUPPORTED. */
    int (*log_density)(const scoresde_model *m, const double *x, const double *t, size_t n,
                       double *logp);

    /* Optional exact sampling of p_t (offsets documented in model.h).
     * NULL: EUNSUPPORTED. */
    int (*sample)(const scoresde_model *m, const double *t, size_t n, uint64_t seed,
                  uint64_t first_sample, double *x);

    /* ---- state ---- */

    /* Required. Deep copy of src->state into *state_out. */
    int (*clone_state)(const scoresde_model *src, void **state_out);
    /* Required. Frees a state (NULL accepted). */
    void (*free_state)(void *state);

    /* Files (lib/core/io.h). NULL: the kind cannot be saved. save_state
     * appends the kind's payload to w (the mixture's layout is documented in
     * gmm.c); load_state is called on a model whose ops, sde and dim are set
     * and whose state is NULL: it reads exactly that payload from r, checks
     * every count before allocating and every value (ECORRUPT with the field's
     * name), and on success stores the new state in m->state (on failure it
     * leaves m->state NULL and allocates nothing). */
    int (*save_state)(const scoresde_model *m, struct sd_writer *w);
    int (*load_state)(scoresde_model *m, struct sd_reader *r);

    /* ---- trainable kinds only (all NULL otherwise) ---- */

    size_t (*num_params)(const scoresde_model *m);
    /* theta has num_params values; counts already checked. */
    int (*get_params)(const scoresde_model *m, double *theta);
    int (*set_params)(scoresde_model *m, const double *theta); /* theta finite */
    /* ADD d/dtheta sum_ij out_grad[i*D+j] s(x_i)_j into grad. */
    int (*score_backward)(const scoresde_model *m, const double *x, const double *t, size_t n,
                          const double *out_grad, double *grad);
    /* ADD d/dtheta sum_i sum_k w[i*M+k] v_ik^T J_i v_ik into grad (probes finite). */
    int (*probe_backward)(const scoresde_model *m, const double *x, const double *t, size_t n,
                          const double *probes, size_t M, const double *weights,
                          double *grad);
} sd_model_ops;

struct scoresde_model {
    const sd_model_ops *ops;
    scoresde_sde *sde; /* owned copy (scoresde_sde_clone) */
    size_t dim;
    void *state; /* the kind's, freed with ops->free_state */
};

/* Build a model around a kind's state: clones `sde`, takes ownership of
 * `state` (freed with ops->free_state if creation fails). */
int sd_model_create(scoresde_model **out, const sd_model_ops *ops, const scoresde_sde *sde,
                    size_t dim, void *state);

/* The Gaussian marginal of the model's SDE at one (checked) time. Fails with
 * the SDE's status, or ENUMERIC unless alpha > 0 and sigma >= 0 are finite. */
int sd_model_marginal(const scoresde_model *m, double t, double *alpha, double *sigma);

/* The same at n times in one call to the SDE (one hook call for schedule
 * SDEs): *ab is a new block of 2n doubles, alpha[i] = ab[i] and
 * sigma[i] = ab[n + i], which the caller frees with sd_free. */
int sd_model_marginals(const scoresde_model *m, const double *t, size_t n, double **ab);

/* SCORESDE_OK if the SDE has a Gaussian marginal, else EUNSUPPORTED with a
 * message naming `what` (the model that needs it). */
int sd_model_require_marginal(const scoresde_sde *sde, const char *what);

/* The mixture's parameters, kept for files: K components in dim dimensions.
 * log_w: ln of the normalised weights; mean and var: K x dim. */
typedef struct sd_gmm_state {
    size_t K;
    double *weight; /* K, normalised */
    double *log_w;  /* K */
    double *mean;   /* K x dim */
    double *var;    /* K x dim, > 0 */
} sd_gmm_state;

/* Hook kinds' state: the caller's functions and pointer. */
typedef struct sd_hook_state {
    scoresde_score_fn score;
    scoresde_denoiser_fn denoiser;
    scoresde_divergence_fn divergence;
    void *user;
} sd_hook_state;

extern const sd_model_ops sd_model_gmm_ops;
extern const sd_model_ops sd_model_score_fn_ops;
extern const sd_model_ops sd_model_denoiser_fn_ops;

#endif /* SD_MODEL_INTERNAL_H */
