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

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* Model files (lib/core/io.h, file layer) define these; a pointer to an
 * incomplete struct is all the table needs. */
struct sd_writer;
struct sd_reader;

/* The caller's step between the score and the backward of a fused
 * score_vjp: rows i0 .. i0+r-1 of the score are final; it writes the same
 * rows of the output gradient (both arrays are the caller's, see score_vjp).
 * Returns SCORESDE_OK or a status it has already reported with sd_fail. */
typedef int (*sd_vjp_fill_fn)(size_t i0, size_t r, void *ctx);

/*
 * Conditions (issue 11). A conditional model has cond_dim = C > 0 features
 * per sample; the public scoresde_cond (common.h) is checked once, by
 * sd_cond_resolve, into an sd_cond that kinds read without re-checking:
 *   row i's condition is c + i * stride (C doubles; stride 0 = one row
 *   broadcast to every sample); sample i is null (the model's null
 *   condition) when c is NULL (all null) or null[i] != 0 (null may be NULL).
 * For a kind with integer labels (cond_labels = K > 0, C = 1) every non-null
 * value is already checked to be an integer in [0, K).
 * Every evaluation slot below takes `const sd_cond *cond`; NULL means
 * unconditional, and is what every slot of an unconditional model
 * (cond_dim 0) always gets: the generic layer refuses conditions for it, so
 * unconditional kinds simply ignore the argument. A conditional model's
 * slots always get a non-NULL cond (possibly all null). A slot that passes a
 * batch of other rows on (a finite-difference batch of 2n rows, a block of
 * rows i0..) passes the matching condition: sd_cond_rows gives the view of
 * rows i0.. of a condition.
 * Samplers and losses call the sd_model_*_c dispatchers with a resolved
 * condition (they check the batch as the public calls do; the condition is
 * trusted); the public *_cond functions resolve and then dispatch.
 */
typedef struct sd_cond {
    const double *c;           /* row i at c + i * stride; NULL: all null */
    size_t stride;             /* C, or 0 = one row broadcast */
    const unsigned char *null; /* per-sample null mask, or NULL = none */
} sd_cond;

/* Check `cond` for a batch of n samples of model m (common.h lists the
 * rules and errors; m NULL and n = 0 are EINVAL too) and fill *out. Returns SCORESDE_OK with *out_is set to
 * out, or with *out_is NULL for an unconditional model given no condition;
 * failing, records a message naming the sample, feature or value.
 * A conditional model given cond NULL gets the all-null condition when the
 * model accepts it, else EINVAL. */
int sd_cond_resolve(const scoresde_model *m, const scoresde_cond *cond, size_t n, sd_cond *out,
                    const sd_cond **out_is);

/* The view of rows i0.. of a resolved condition (NULL stays NULL). */
sd_cond sd_cond_rows(const sd_cond *cond, size_t i0);

/* Whether sample i is null under cond (cond non-NULL). */
static inline int sd_cond_is_null(const sd_cond *cond, size_t i)
{
    return cond->c == NULL || (cond->null != NULL && cond->null[i] != 0);
}

/* Row i's features (sample i not null). */
static inline const double *sd_cond_row(const sd_cond *cond, size_t i)
{
    return cond->c + i * cond->stride;
}

typedef struct sd_model_ops {
    const char *name; /* "gmm", "score_fn", ... used in messages and files */
    int kind;         /* SCORESDE_MODEL_* */

    /* ---- evaluation: all batches n x D with D = m->dim, t checked ---- */

    /* Required. out = s(x_i, t_i). */
    int (*score)(const scoresde_model *m, const double *x, const double *t, size_t n,
                 const sd_cond *cond, double *out);

    /* Optional native data prediction E[x_0 | x_t] (denoiser kinds); NULL:
     * the generic layer uses Tweedie on the score. */
    int (*predict_data)(const scoresde_model *m, const double *x, const double *t, size_t n,
                        const sd_cond *cond, double *x0_out);

    /* Optional exact divergence tr(ds/dx), n values. NULL: the generic layer
     * uses D exact jvp passes if jvp is set, else EUNSUPPORTED. */
    int (*divergence)(const scoresde_model *m, const double *x, const double *t, size_t n,
                      const sd_cond *cond, double *div);

    /* Optional exact Jacobian-vector product jv_i = (ds/dx)(x_i) v_i; score_out
     * may be NULL, else receives s. NULL: the generic layer uses central
     * differences of score (documented in model.h). */
    int (*jvp)(const scoresde_model *m, const double *x, const double *t, size_t n,
               const sd_cond *cond, const double *v, double *score_out, double *jv);

    /* Optional exact ln p_t(x_i), n values. NULL: EUNSUPPORTED. */
    int (*log_density)(const scoresde_model *m, const double *x, const double *t, size_t n,
                       const sd_cond *cond, double *logp);

    /* Optional exact sampling of p_t (offsets documented in model.h).
     * NULL: EUNSUPPORTED. */
    int (*sample)(const scoresde_model *m, const double *t, size_t n, const sd_cond *cond,
                  uint64_t seed, uint64_t first_sample, double *x);

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
     * leaves m->state NULL and allocates nothing). n_params is the count of
     * the file's PARM section, already checked to fit in that section (0 for
     * kinds without parameters): a trainable kind refuses an architecture
     * whose parameter count differs, before allocating it, so a forged
     * architecture can never ask for more memory than the file holds. */
    int (*save_state)(const scoresde_model *m, struct sd_writer *w);
    int (*load_state)(scoresde_model *m, struct sd_reader *r, size_t n_params);

    /* ---- trainable kinds only (all NULL otherwise) ---- */

    size_t (*num_params)(const scoresde_model *m);
    /* theta has num_params values; counts already checked. */
    int (*get_params)(const scoresde_model *m, double *theta);
    int (*set_params)(scoresde_model *m, const double *theta); /* theta finite */
    /* Optional: the magnitude from which a parameter no longer fits the
     * kind's storage (SD_FLOAT32_LIMIT for a float32 MLP); set_params refuses
     * |theta_k| >= it. NULL: any finite value fits. */
    double (*param_limit)(const scoresde_model *m);
    /* Optional: SCORESDE_OK if dst and src (same kind, same dimension) have
     * the same parameter shapes, else EDIM naming the first difference.
     * NULL: equal parameter counts are enough. */
    int (*same_shape)(const scoresde_model *dst, const scoresde_model *src);
    /* ADD d/dtheta sum_ij out_grad[i*D+j] s(x_i)_j into grad. */
    int (*score_backward)(const scoresde_model *m, const double *x, const double *t, size_t n,
                          const sd_cond *cond, const double *out_grad, double *grad);
    /* Optional fused score then backward, for losses whose output gradient
     * depends on the score: in row order, for consecutive row ranges i0 ..
     * i0+r-1 covering the batch, write score[i0*D ..] (n x D), call
     * fill(i0, r, ctx), which writes out_grad[i0*D ..] (n x D) for those rows,
     * then ADD d/dtheta sum out_grad.s over those rows into grad, using the
     * state the score pass kept instead of a second forward. The gradient must
     * be bit-identical to score on all rows followed by score_backward (same
     * row ranges and accumulation order). A non-zero fill status is returned
     * as is, with grad holding the ranges done. NULL: sd_model_score_vjp runs
     * score, fill(0, n) and score_backward. */
    int (*score_vjp)(const scoresde_model *m, const double *x, const double *t, size_t n,
                     const sd_cond *cond, double *score, double *out_grad, sd_vjp_fill_fn fill, void *ctx,
                     double *grad);
    /* ADD d/dtheta sum_i sum_k w[i*M+k] v_ik^T J_i v_ik into grad (probes finite). */
    int (*probe_backward)(const scoresde_model *m, const double *x, const double *t, size_t n,
                          const sd_cond *cond, const double *probes, size_t M, const double *weights,
                          double *grad);
    /* Optional fused probe terms and their backward, for the ISM and sliced
     * losses: per chunk of rows, one tangent pass per probe gives both
     * v^T J v and the state its backward needs. probes non-NULL (n x M x D,
     * finite): est[i] = (1/M) sum_k v_ik^T J_i v_ik, the arithmetic of
     * scoresde_model_hutchinson. probes NULL: the D axis probes e_k (M == D),
     * est[i] = sum_k (J_i)_kk in axis order, the arithmetic of
     * scoresde_model_divergence through jvp. Either way it ADDs
     * d/dtheta sum_i sum_k weights[i*M+k] v_ik^T J_i v_ik into grad in the
     * order probe_backward adds it, so est and grad are bit-identical to
     * that pair of calls with one jvp pass per probe fewer (the caller adds
     * the score's gradient before, as the separate path does). On failure
     * grad holds the chunks done and est is unspecified. NULL: the caller
     * runs the two separate calls. */
    int (*probe_vjp)(const scoresde_model *m, const double *x, const double *t, size_t n,
                     const sd_cond *cond, const double *probes, size_t M, const double *weights, double *est,
                     double *grad);

    /* Optional fused score and divergence (issue 14), for the
     * probability-flow likelihood: score (n x D) = s(x_i) and div (n) = the
     * exact divergence (probes NULL; M unread) or the Hutchinson estimate
     * with the M probes (n x M x D, finite), each in the arithmetic of
     * score followed by scoresde_model_divergence / _hutchinson (same
     * products, same sums in the same order; the MLP's GEMMs may round
     * differently: sd_model_score_div_c). ws: the caller's scratch of
     * score_div_ws(m, M) doubles per sample; evaluations allocate nothing
     * once the kind's pools are filled. On failure score and div are
     * unspecified; the score's failure is reported before the divergence's
     * (the networks: within each chunk of chunk_rows rows).
     * NULL: sd_model_score_div_c runs score, then the Hutchinson sum in ws
     * or the exact divergence as scoresde_model_divergence dispatches it
     * (allocation-free for the kinds without this slot: all have a
     * divergence slot). */
    int (*score_div)(const scoresde_model *m, const double *x, const double *t, size_t n,
                     const sd_cond *cond, const double *probes, size_t M, double *score,
                     double *div, double *ws);
    /* Doubles per sample that score_div needs in ws; NULL: none. */
    size_t (*score_div_ws)(const scoresde_model *m, size_t M);
} sd_model_ops;

struct scoresde_model {
    const sd_model_ops *ops;
    scoresde_sde *sde; /* owned copy (scoresde_sde_clone) */
    size_t dim;
    void *state; /* the kind's, freed with ops->free_state */
    /* Conditions (see sd_cond): set by the kind's constructor after
     * sd_model_create, or by its load_state on the shell model (the file
     * layer copies them); copied by clone. */
    size_t cond_dim;    /* C, 0 = unconditional */
    size_t cond_labels; /* K > 0: integer labels in [0, K) (C = 1) */
    int cond_null;      /* the null condition is accepted */
    /* The data transform (model.h, issue 13): NULL = none (the identity),
     * else 2 D doubles, shift[0..D) then scale[D..2D), checked; copied by
     * clone, saved in the XFRM section (lib/model/transform.c). */
    double *transform;
};

/* The transform's file section (XFRM, docs/file-format.md): sd_transform_write
 * appends it to w when m has a transform (nothing otherwise);
 * sd_transform_read reads it from container c into a new block *transform
 * (NULL when c has no XFRM), checking its dimension against dim and every
 * value (ECORRUPT naming the field; `where` names the file kind in the
 * message); the caller owns the block. */
struct sd_container;
int sd_transform_write(const scoresde_model *m, struct sd_writer *w);
int sd_transform_read(const struct sd_container *c, double **transform, size_t dim, const char *where);

/* A copy of a transform block of dim dimensions (NULL stays NULL). */
int sd_transform_copy(const double *src, size_t dim, double **out);

/* Score then parameter backward through the kind's fused score_vjp, or the
 * separate slots when it has none (see score_vjp). Checks what
 * scoresde_model_score_backward checks (trainable model, count, batch, times,
 * score and out_grad non-NULL, fill non-NULL). Allocates nothing itself.
 * Errors: those of score, fill and score_backward. */
int sd_model_score_vjp(const scoresde_model *model, const double *x, const double *t, size_t n,
                       size_t D, const sd_cond *cond, double *score, double *out_grad, sd_vjp_fill_fn fill, void *ctx,
                       double *grad, size_t count);

/* The probe terms and their parameter backward through the kind's fused
 * probe_vjp (see there; probes NULL: the D axis probes, M must equal D).
 * Checks what scoresde_model_probe_backward checks (trainable model, count,
 * batch, times, M > 0, finite probes, weights and est non-NULL).
 * Allocates nothing. Errors: EUNSUPPORTED for a kind without the slot (the
 * caller then runs scoresde_model_hutchinson or _divergence, and
 * scoresde_model_probe_backward), and those of the kind's jvp and backward. */
int sd_model_probe_vjp(const scoresde_model *model, const double *x, const double *t, size_t n,
                       size_t D, const sd_cond *cond, const double *probes, size_t M, const double *weights,
                       double *est, double *grad, size_t count);

/* Dispatchers with a resolved condition (cond NULL: unconditional; see
 * sd_cond): the checks and meaning of the public function of the same name
 * without the condition check. */
int sd_model_score_c(const scoresde_model *model, const double *x, const double *t, size_t n,
                     size_t D, const sd_cond *cond, double *score);
int sd_model_predict_data_c(const scoresde_model *model, const double *x, const double *t,
                            size_t n, size_t D, const sd_cond *cond, double *x0_hat);
int sd_model_predict_noise_c(const scoresde_model *model, const double *x, const double *t,
                             size_t n, size_t D, const sd_cond *cond, double *eps_hat);
/* The same two for a caller that has checked x's values itself (the
 * sampler reports a non-finite state as its own ENUMERIC failure): every
 * check but x's finiteness, so an evaluation scans x once. */
int sd_model_score_cf(const scoresde_model *model, const double *x, const double *t, size_t n,
                      size_t D, const sd_cond *cond, double *score);
int sd_model_predict_data_cf(const scoresde_model *model, const double *x, const double *t,
                             size_t n, size_t D, const sd_cond *cond, double *x0_hat);
int sd_model_divergence_c(const scoresde_model *model, const double *x, const double *t,
                          size_t n, size_t D, const sd_cond *cond, double *div);
int sd_model_jvp_c(const scoresde_model *model, const double *x, const double *t, size_t n,
                   size_t D, const sd_cond *cond, const double *v, double *score, double *jv);
int sd_model_hutchinson_c(const scoresde_model *model, const double *x, const double *t,
                          size_t n, size_t D, const sd_cond *cond, const double *probes,
                          size_t M, double *est);
int sd_model_log_density_c(const scoresde_model *model, const double *x, const double *t,
                           size_t n, size_t D, const sd_cond *cond, double *logp);
int sd_model_sample_c(const scoresde_model *model, const double *t, size_t n, size_t D,
                      const sd_cond *cond, uint64_t seed, uint64_t first_sample, double *x);
int sd_model_score_backward_c(const scoresde_model *model, const double *x, const double *t,
                              size_t n, size_t D, const sd_cond *cond, const double *score_grad,
                              double *param_grad, size_t count);
int sd_model_probe_backward_c(const scoresde_model *model, const double *x, const double *t,
                              size_t n, size_t D, const sd_cond *cond, const double *probes,
                              size_t M, const double *weights, double *param_grad,
                              size_t count);

/* The fused score and divergence (issue 14): the checks of
 * scoresde_model_score and of _divergence (probes NULL) or _hutchinson
 * (probes n x M x D, M > 0, finite), then the kind's score_div slot, or
 * score followed by the divergence (as sd_model_divergence_c dispatches
 * it) or the Hutchinson sum over M jvp passes (central differences for
 * kinds without jvp) in ws. ws: sd_model_score_div_ws(model, M) doubles per sample,
 * or NULL (then allocated for this call). Results are those of score then
 * divergence / hutchinson, bit for bit for every kind but the MLP, whose
 * stacked pass can differ from its separate passes by the rounding of
 * BLIS's small-matrix GEMM kernels (chosen by row count; the residual MLP
 * turns them off and is bit for bit): tests/test_score_div.c bounds it by
 * 256 eps normwise. Errors: those of score, then of divergence /
 * hutchinson. */
int sd_model_score_div_c(const scoresde_model *model, const double *x, const double *t, size_t n,
                         size_t D, const sd_cond *cond, const double *probes, size_t M,
                         double *score, double *div, double *ws);
/* The same for a caller that has checked x's values itself (the likelihood
 * reports a non-finite state as its own ENUMERIC failure): every check but
 * x's finiteness, so a right-hand side scans x once (as sd_model_score_cf). */
int sd_model_score_div_cf(const scoresde_model *model, const double *x, const double *t,
                          size_t n, size_t D, const sd_cond *cond, const double *probes,
                          size_t M, double *score, double *div, double *ws);

/* Doubles per sample sd_model_score_div_c needs in ws for M probes (M is
 * unread for the exact divergence, which the caller asks with probes NULL). */
size_t sd_model_score_div_ws(const scoresde_model *model, size_t M);

/* A Jacobian product into caller scratch (jvp_ws doubles the caller sized):
 * what the generic divergence and Hutchinson sums call per tangent. */
typedef int (*sd_jvp_ws_fn)(const scoresde_model *m, const double *x, const double *t, size_t n,
                            const sd_cond *cond, const double *v, double *jv, double *ws);

/* The generic sums on caller scratch: div = sum_j (J e_j)_j in axis order
 * (scoresde_model_divergence's arithmetic), est = (1/M) sum_k v_k.J v_k in
 * probe order (scoresde_model_hutchinson's), with jvp evaluated on
 * ws + 2 n D (ws: 2 n D doubles, then what jvp needs). */
int sd_model_axes_divergence(const scoresde_model *m, const double *x, const double *t, size_t n,
                             const sd_cond *cond, sd_jvp_ws_fn jvp, double *ws, double *div);
int sd_model_probes_hutchinson(const scoresde_model *m, const double *x, const double *t,
                               size_t n, const sd_cond *cond, const double *probes, size_t M,
                               sd_jvp_ws_fn jvp, double *ws, double *est);

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

/* The same into the caller's alpha[n] and sigma[n]: no allocation. */
int sd_model_marginals_into(const scoresde_model *m, const double *t, size_t n, double *alpha,
                            double *sigma);

/* The model's param_limit (INFINITY for kinds without one): what a trainer
 * checks its master copy and EMA against before it commits a step. */
double sd_model_param_limit(const scoresde_model *m);

/* Samples whose marginals a chunked evaluation holds at once. */
#define SD_MARGINAL_CHUNK 256

/* For evaluations that visit samples i = 0 .. n-1 in order with a bounded
 * workspace: sample i's alpha and sigma into *a, *sg, computing those of the
 * chunk of SD_MARGINAL_CHUNK samples that starts at i (into alpha[] and
 * sigma[], SD_MARGINAL_CHUNK each) when i is its first. */
int sd_model_marginal_in_chunks(const scoresde_model *m, const double *t, size_t n, size_t i,
                                double *alpha, double *sigma, double *a, double *sg);

/* SCORESDE_OK if the SDE has a Gaussian marginal, else EUNSUPPORTED with a
 * message naming `what` (the model that needs it). */
int sd_model_require_marginal(const scoresde_sde *sde, const char *what);

/* A lock-guarded list of free evaluation workspaces of one size, for kinds
 * whose evaluations need scratch (the mixture, the linear-Gaussian model):
 * an evaluation takes one, or allocates it when the list is empty, and gives
 * it back, so repeated evaluations allocate nothing once every thread that
 * evaluates at once has one. Every block of a pool has the same count. */
typedef struct sd_ws_pool {
    pthread_mutex_t lock;
    struct sd_ws_block *free;
} sd_ws_pool;

void sd_ws_pool_init(sd_ws_pool *p);
/* Frees the pooled blocks and the lock. */
void sd_ws_pool_destroy(sd_ws_pool *p);
/* `count` doubles, from the list or new; NULL when the allocator fails. */
double *sd_ws_pool_take(sd_ws_pool *p, size_t count);
/* Returns a block from sd_ws_pool_take to the list. */
void sd_ws_pool_give(sd_ws_pool *p, double *ws);

/* The mixture's parameters, kept for files: K components in dim dimensions.
 * log_w: ln of the normalised weights; mean and var: K x dim. */
typedef struct sd_gmm_state {
    size_t K;
    double *weight; /* K, normalised */
    double *log_w;  /* K */
    double *mean;   /* K x dim */
    double *var;    /* K x dim, > 0 */
    sd_ws_pool pool;        /* evaluation workspaces (gmm.c) */
} sd_gmm_state;

/* Hook kinds' state: the caller's functions and pointer. */
typedef struct sd_hook_state {
    scoresde_score_fn score;
    scoresde_denoiser_fn denoiser;
    scoresde_divergence_fn divergence;
    /* conditional hooks (cond_dim > 0): these instead of the three above */
    scoresde_cond_score_fn cond_score;
    scoresde_cond_denoiser_fn cond_denoiser;
    scoresde_cond_divergence_fn cond_divergence;
    void *user;
} sd_hook_state;

/* Symmetric eigen-decomposition by cyclic Jacobi rotations: the n x n
 * matrix a (destroyed) = V diag(l) V^T, column k of V (row-major) the k-th
 * eigenvector (linear_gaussian.c). */
void sd_sym_eigen(double *a, size_t n, double *V, double *l);

/* A covariance or precision argument S (n x n): non-NULL, finite, symmetric
 * to 1e-12 of its largest diagonal entry and positive definite (smallest
 * eigenvalue above 1e-13 of the largest); EINVAL naming `what` otherwise.
 * Writes its eigenvectors V and eigenvalues l (work: n x n). */
int sd_check_spd(const double *S, size_t n, const char *what, double *work, double *V,
                 double *l);

extern const sd_model_ops sd_model_gmm_ops;
extern const sd_model_ops sd_model_score_fn_ops;
extern const sd_model_ops sd_model_denoiser_fn_ops;
extern const sd_model_ops sd_model_mlp_ops;
extern const sd_model_ops sd_model_resmlp_ops;
extern const sd_model_ops sd_model_cond_gmm_ops;
extern const sd_model_ops sd_model_linear_gaussian_ops;
extern const sd_model_ops sd_model_iid_factorized_ops;
extern const sd_model_ops sd_model_iid_gauss_ops;

#endif /* SD_MODEL_INTERNAL_H */
