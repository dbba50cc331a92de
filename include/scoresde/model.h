/**
 * @file
 * libscoresde: score models.
 *
 * A scoresde_model evaluates the score s(x, t) = grad_x ln p_t(x) of a batch
 * (n x D row-major doubles, one time per sample) for the forward SDE it was
 * created with. The model keeps its own copy of that SDE (scoresde_sde_clone),
 * so the caller may free the SDE right after creating the model.
 *
 * Kinds of model:
 *  - SCORESDE_MODEL_GMM: a Gaussian mixture p_0 = sum_k w_k N(mu_k, diag(v_k))
 *    pushed exactly through the SDE's Gaussian marginal
 *    x_t | x_0 ~ N(alpha(t) x_0, sigma(t)^2 I):
 *        p_t = sum_k w_k N(alpha mu_k, diag(alpha^2 v_k + sigma^2)).
 *    Exact score, data and noise predictions, divergence, Jacobian-vector
 *    products, ln p_t and exact samples of p_t. A single Gaussian is K = 1.
 *    Needs an SDE with a Gaussian marginal (every built-in SDE has one).
 *    p_t follows the SDE's own (alpha, sigma): under VE, sigma(0) = sigma_min
 *    (scoresde/sde.h), so the model's p_0 is the mixture blurred by
 *    N(0, sigma_min^2 I); for the other built-in SDEs sigma(0) = 0.
 *  - SCORESDE_MODEL_SCORE_FN: the caller's score function (and, optionally,
 *    the divergence of the score). Energy-based models pass -grad E here.
 *  - SCORESDE_MODEL_DENOISER_FN: the caller's denoiser D(x, t) ~ E[x_0 | x_t];
 *    the library converts it to a score by Tweedie's formula
 *    s = (alpha D - x) / sigma^2 (needs a Gaussian marginal and sigma(t) > 0).
 *  - SCORESDE_MODEL_MLP: a trainable network (created by the MLP module).
 *  - SCORESDE_MODEL_RESMLP: a trainable residual network (1.1; "Residual
 *    MLP models" below).
 *
 * Argument checks shared by every evaluation function: the model, x, t and
 * every output must be non-NULL (SCORESDE_EINVAL); n and D must be positive
 * (SCORESDE_EINVAL); D must equal the model's dimension (SCORESDE_EDIM);
 * every t[i] must be finite and within [0, T] of the model's SDE
 * (SCORESDE_EINVAL); x itself is not scanned (NaN in gives NaN out, or
 * SCORESDE_ENUMERIC where the library notices). Outputs must not overlap the
 * inputs. Each failure records a message for scoresde_last_error() naming the
 * argument and its value. On failure the outputs hold unspecified values.
 *
 * Thread safety: a model is read-only during evaluation. Any number of
 * threads may call the evaluation functions (score, predict_*, divergence,
 * jvp, hutchinson, log_density, sample, the getters, clone, *_backward) on one
 * model at the same time, and get the same bits as a single thread would.
 * scoresde_model_set_params, scoresde_model_copy_params (on its dst) and
 * scoresde_model_free must not run concurrently with any other call on the
 * same model. A model's own evaluation calls its user callbacks (the score,
 * denoiser and divergence hooks, a CUSTOM SDE's hooks) from the thread that
 * made that evaluation call: an MLP model's n_threads > 1 threads run only
 * the network's own arithmetic, never a user callback. But a library call
 * that evaluates the model on its own worker threads (a sampler with
 * THREADS > 1 and more than one block, see scoresde/sampler.h) calls the
 * hooks from those worker threads, concurrently; and several of the caller's
 * threads may evaluate one hook model at once. Hooks used that way must be
 * thread-safe.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SCORESDE_MODEL_H
#define SCORESDE_MODEL_H

#include "common.h"
#include "sde.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An opaque score model. */
typedef struct scoresde_model scoresde_model;

/** Kinds of model (values frozen; only ever added). */
typedef enum scoresde_model_kind_t {
    SCORESDE_MODEL_GMM = 1,          /**< exact Gaussian mixture */
    SCORESDE_MODEL_SCORE_FN = 2,     /**< user score callback */
    SCORESDE_MODEL_DENOISER_FN = 3,  /**< user denoiser callback, converted by Tweedie */
    SCORESDE_MODEL_MLP = 4,          /**< trainable multilayer perceptron */
    SCORESDE_MODEL_COND_GMM = 5,     /**< exact class-conditional Gaussian mixture (1.1) */
    SCORESDE_MODEL_LINEAR_GAUSSIAN = 6, /**< exact linear-Gaussian posterior (1.1) */
    SCORESDE_MODEL_IID = 7,          /**< posterior of N IID observations, composed (1.1) */
    SCORESDE_MODEL_RESMLP = 8        /**< trainable residual MLP (1.1) */
} scoresde_model_kind_t;

/**
 * A user score: write s(x_i, t_i) for i < n into score_out (n x D, row-major).
 * x and t are the caller's batch; score_out does not alias them.
 * Return 0 on success; any other value stops the library call, which then
 * returns SCORESDE_ECALLBACK. A non-finite value written makes the call fail
 * with SCORESDE_ENUMERIC. The hook may call the library, but must not evaluate
 * the model it belongs to (that would recurse without end).
 */
typedef int (*scoresde_score_fn)(const double *x, const double *t, size_t n, size_t D,
                                  double *score_out, void *user);

/**
 * A user divergence of the score: write div_x s(x_i, t_i) = tr(ds/dx) for
 * i < n into div_out (n values). Return 0 on success, non-zero to stop.
 */
typedef int (*scoresde_divergence_fn)(const double *x, const double *t, size_t n, size_t D,
                                      double *div_out, void *user);

/**
 * A user denoiser: write D(x_i, t_i), an estimate of E[x_0 | x_t = x_i], for
 * i < n into x0_out (n x D). Return 0 on success, non-zero to stop.
 */
typedef int (*scoresde_denoiser_fn)(const double *x, const double *t, size_t n, size_t D,
                                    double *x0_out, void *user);

/* ---------------------------------------------------------------- creation */

/**
 * Create the exact model of the Gaussian mixture
 * p_0 = sum_k w_k N(mu_k, diag(v_k)) under `sde`.
 *
 * weights: K positive finite numbers; they are normalised to sum to 1.
 * means: K x D finite values (mu_k = means + k*D).
 * variances: K x D positive finite diagonal covariances (v_k = variances + k*D).
 * The model copies the SDE and every array; the caller keeps ownership of
 * its arguments. Free the model with scoresde_model_free.
 *
 * Returns SCORESDE_OK, SCORESDE_EINVAL (NULL pointer, K or D zero, a weight,
 * mean or variance not finite or out of range), SCORESDE_EUNSUPPORTED (the
 * SDE has no Gaussian marginal) or SCORESDE_ENOMEM. Every creation function
 * sets *out to NULL when it fails (if out is not NULL). Thread-safe.
 */
SCORESDE_API int scoresde_model_create_gmm(scoresde_model **out, const scoresde_sde *sde,
                                           size_t K, size_t D, const double *weights,
                                           const double *means, const double *variances);

/**
 * Create a model whose score is the caller's function `score`.
 * `divergence` may be NULL: the exact divergence is then unsupported, and
 * Jacobian-vector products (hence Hutchinson estimates) use central finite
 * differences of `score` (see scoresde_model_jvp). `user` is passed back
 * unchanged; the library neither reads nor frees it, and it must outlive the
 * model and its clones.
 *
 * Returns SCORESDE_OK, SCORESDE_EINVAL (out, sde or score NULL, D zero) or
 * SCORESDE_ENOMEM. Thread-safe.
 */
SCORESDE_API int scoresde_model_create_score_fn(scoresde_model **out, const scoresde_sde *sde,
                                                size_t D, scoresde_score_fn score,
                                                scoresde_divergence_fn divergence, void *user);

/**
 * Create a model from the caller's denoiser D(x, t) ~ E[x_0 | x_t]. The score
 * is s = (alpha(t) D - x) / sigma(t)^2 (Tweedie), the data prediction is D
 * itself and the noise prediction (x - alpha D) / sigma.
 * `divergence` may be NULL; if given it returns div_x D (the divergence of the
 * denoiser, not of the score); the score's divergence is then
 * (alpha div D - D_dim) / sigma^2. Without it, the exact divergence is
 * unsupported and Jacobian-vector products use finite differences.
 * Score, noise prediction, divergence and Jacobian products at a time where
 * sigma(t) = 0 fail with SCORESDE_EINVAL (the denoiser then defines no score).
 * Precision: the conversion divides a difference by sigma^2, so at small sigma
 * the score carries an absolute rounding error of about 1e-16 |x| / sigma^2;
 * that is the nature of Tweedie's formula, not of this implementation.
 *
 * Returns SCORESDE_OK, SCORESDE_EINVAL, SCORESDE_EUNSUPPORTED (the SDE has
 * no Gaussian marginal) or SCORESDE_ENOMEM. Thread-safe.
 */
SCORESDE_API int scoresde_model_create_denoiser_fn(scoresde_model **out,
                                                   const scoresde_sde *sde, size_t D,
                                                   scoresde_denoiser_fn denoiser,
                                                   scoresde_divergence_fn divergence,
                                                   void *user);

/**
 * Make an independent copy of `model` into *out (its own SDE copy and
 * parameters; hook models share the caller's `user` pointer). Returns
 * SCORESDE_OK, SCORESDE_EINVAL (NULL out or model) or SCORESDE_ENOMEM; on
 * failure *out is NULL (if out is not NULL). Free the copy with
 * scoresde_model_free. Thread-safe.
 */
SCORESDE_API int scoresde_model_clone(scoresde_model **out, const scoresde_model *model);

/** Free a model and everything it owns. NULL is accepted. */
SCORESDE_API void scoresde_model_free(scoresde_model *model);

/* ----------------------------------------------------------------- getters */

/** The model's dimension D, or 0 for NULL. Thread-safe. */
SCORESDE_API size_t scoresde_model_dim(const scoresde_model *model);

/** The model's kind (a scoresde_model_kind_t), or 0 for NULL. Thread-safe. */
SCORESDE_API int scoresde_model_kind(const scoresde_model *model);

/**
 * The model's own SDE (a copy made at creation), or NULL for NULL. The
 * pointer is borrowed: valid until the model is freed; do not free it.
 * Thread-safe.
 */
SCORESDE_API const scoresde_sde *scoresde_model_sde(const scoresde_model *model);

/* -------------------------------------------------------------- evaluation */

/**
 * score[i*D + j] = s(x_i, t_i)_j for i < n. See the shared argument checks
 * at the top. Returns SCORESDE_OK, SCORESDE_EINVAL, SCORESDE_EDIM,
 * SCORESDE_ECALLBACK (a hook returned non-zero), SCORESDE_ENUMERIC (a hook
 * wrote a non-finite value) or SCORESDE_ENOMEM. Thread-safe.
 */
SCORESDE_API int scoresde_model_score(const scoresde_model *model, const double *x,
                                      const double *t, size_t n, size_t D, double *score);

/**
 * The data prediction x0_hat = E[x_0 | x_t] = (x + sigma^2 s) / alpha
 * (Tweedie), n x D. For a denoiser model it is the denoiser's output.
 * Needs a Gaussian marginal (SCORESDE_EUNSUPPORTED otherwise).
 * Errors as scoresde_model_score. Thread-safe.
 */
SCORESDE_API int scoresde_model_predict_data(const scoresde_model *model, const double *x,
                                             const double *t, size_t n, size_t D,
                                             double *x0_hat);

/**
 * The noise prediction eps_hat = -sigma s (so x = alpha x0_hat + sigma eps_hat),
 * n x D. Needs a Gaussian marginal (SCORESDE_EUNSUPPORTED otherwise).
 * Errors as scoresde_model_score. Thread-safe.
 */
SCORESDE_API int scoresde_model_predict_noise(const scoresde_model *model, const double *x,
                                              const double *t, size_t n, size_t D,
                                              double *eps_hat);

/**
 * The exact divergence div_x s(x_i, t_i) = tr(ds/dx) for i < n (n values).
 * Analytic for the mixture; the divergence hook for hook models; D
 * Jacobian-vector products for kinds with exact ones (MLP).
 * Returns SCORESDE_EUNSUPPORTED for hook models created without a divergence
 * hook (use scoresde_model_hutchinson), otherwise as scoresde_model_score.
 * Thread-safe.
 */
SCORESDE_API int scoresde_model_divergence(const scoresde_model *model, const double *x,
                                           const double *t, size_t n, size_t D, double *div);

/**
 * Jacobian-vector products: jv_i = (ds/dx)(x_i, t_i) v_i for i < n
 * (v and jv are n x D; score may be NULL, else it receives s(x_i, t_i)).
 * Exact for the mixture and the MLP. For hook models, central differences of
 * the hook: jv = (s(x + h u) - s(x - h u)) / (2 h) * ||v||_inf with
 * u = v / ||v||_inf and h = 2^-17 * max(1, ||x_i||_inf): the error is about
 * (h / l)^2 relative, where l is the length over which the score changes (for
 * l well below 1e-2, prefer the exact divergence from a divergence hook). The hook sees
 * one batch of 2n points (x + h u, then x - h u); the score, when asked for,
 * costs one more call. A zero v_i gives jv_i = 0.
 * v must be finite (SCORESDE_EINVAL). Otherwise errors as scoresde_model_score.
 * Thread-safe.
 */
SCORESDE_API int scoresde_model_jvp(const scoresde_model *model, const double *x,
                                    const double *t, size_t n, size_t D, const double *v,
                                    double *score, double *jv);

/**
 * Hutchinson estimates of the divergence from caller-given probes:
 * est[i] = (1/M) sum_m v_im^T (ds/dx)(x_i, t_i) v_im, where probe m of sample
 * i is probes[(i*M + m)*D .. +D). With E[v v^T] = I (Rademacher, Gaussian,
 * sphere of radius sqrt(D)) it is unbiased for the divergence. Uses
 * scoresde_model_jvp, so it is exact per probe for the mixture and the MLP and
 * uses finite differences for hook models (see there).
 * M must be positive and probes finite (SCORESDE_EINVAL). Otherwise errors as
 * scoresde_model_score. Thread-safe.
 */
SCORESDE_API int scoresde_model_hutchinson(const scoresde_model *model, const double *x,
                                           const double *t, size_t n, size_t D,
                                           const double *probes, size_t M, double *est);

/**
 * The exact log-density ln p_t(x_i) at time t_i for i < n (n values).
 * Mixture models only (SCORESDE_EUNSUPPORTED otherwise); computed by a
 * log-sum-exp over components, stable for any t down to 0.
 * Errors as scoresde_model_score. Thread-safe.
 */
SCORESDE_API int scoresde_model_log_density(const scoresde_model *model, const double *x,
                                            const double *t, size_t n, size_t D,
                                            double *logp);

/**
 * Exact samples of p_t: x[i*D ..] ~ p_{t_i} for i < n. Mixture models only
 * (SCORESDE_EUNSUPPORTED otherwise).
 *
 * Sample i of the call is sample number first_sample + i of the run and uses
 * Philox stream first_sample + i under `seed`, so samples do not depend on how
 * a run is split into calls. Within that stream:
 *  - the component: u = uniform element SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, 0);
 *    the chosen k is the first with u < w_0 + ... + w_k (the last component
 *    if rounding leaves u above the total);
 *  - the noise: z_j = normal element SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, 2 + j)
 *    for j < D; x_j = alpha mu_kj + sqrt(alpha^2 v_kj + sigma^2) z_j.
 * Checks as at the top (x is the output here). Returns SCORESDE_OK,
 * SCORESDE_EINVAL, SCORESDE_EDIM, SCORESDE_EUNSUPPORTED or SCORESDE_ENOMEM.
 * Thread-safe.
 */
SCORESDE_API int scoresde_model_sample(const scoresde_model *model, const double *t, size_t n,
                                       size_t D, uint64_t seed, uint64_t first_sample,
                                       double *x);

/* ------------------------------------------------------------- conditions
 * Conditional models (1.1): scoresde/common.h's conventions list says how a
 * batch's conditions are passed (scoresde_cond) and what each error means.
 * Every *_cond function below is its 1.0 twin with `cond` added right after
 * the input batch arguments; it checks what the twin checks, then the
 * condition, and has the twin's errors plus the condition's (SCORESDE_EINVAL,
 * SCORESDE_EDIM). cond NULL is the 1.0 call. Thread-safe as the twins. */

/** The condition's features per sample C; 0 for an unconditional model or NULL. */
SCORESDE_API size_t scoresde_model_cond_dim(const scoresde_model *model);

/**
 * K > 0 if the model takes an integer class label in [0, K) as its one
 * condition feature (C = 1); 0 otherwise and for NULL.
 */
SCORESDE_API size_t scoresde_model_cond_classes(const scoresde_model *model);

/**
 * 1 if the model accepts the null condition (cond NULL, c NULL or a set
 * null_mask entry), 0 if it does not, is unconditional, or for NULL.
 */
SCORESDE_API int scoresde_model_cond_null(const scoresde_model *model);

/** scoresde_model_score with conditions. */
SCORESDE_API int scoresde_model_score_cond(const scoresde_model *model, const double *x,
                                           const double *t, size_t n, size_t D,
                                           const scoresde_cond *cond, double *score);

/** scoresde_model_predict_data with conditions. */
SCORESDE_API int scoresde_model_predict_data_cond(const scoresde_model *model, const double *x,
                                                  const double *t, size_t n, size_t D,
                                                  const scoresde_cond *cond, double *x0_hat);

/** scoresde_model_predict_noise with conditions. */
SCORESDE_API int scoresde_model_predict_noise_cond(const scoresde_model *model,
                                                   const double *x, const double *t, size_t n,
                                                   size_t D, const scoresde_cond *cond,
                                                   double *eps_hat);

/** scoresde_model_divergence with conditions. */
SCORESDE_API int scoresde_model_divergence_cond(const scoresde_model *model, const double *x,
                                                const double *t, size_t n, size_t D,
                                                const scoresde_cond *cond, double *div);

/**
 * scoresde_model_jvp with conditions: the derivative is in x only (the
 * condition is held fixed). Hook models' finite differences pass the
 * condition of sample i with both of its shifted points.
 */
SCORESDE_API int scoresde_model_jvp_cond(const scoresde_model *model, const double *x,
                                         const double *t, size_t n, size_t D,
                                         const scoresde_cond *cond, const double *v,
                                         double *score, double *jv);

/** scoresde_model_hutchinson with conditions. */
SCORESDE_API int scoresde_model_hutchinson_cond(const scoresde_model *model, const double *x,
                                                const double *t, size_t n, size_t D,
                                                const scoresde_cond *cond,
                                                const double *probes, size_t M, double *est);

/** scoresde_model_log_density with conditions: ln p_t(x_i | c_i). */
SCORESDE_API int scoresde_model_log_density_cond(const scoresde_model *model, const double *x,
                                                 const double *t, size_t n, size_t D,
                                                 const scoresde_cond *cond, double *logp);

/**
 * scoresde_model_sample with conditions: x[i*D ..] ~ p_{t_i}(. | c_i); the
 * condition goes right after t, n, D (the input batch of this call).
 */
SCORESDE_API int scoresde_model_sample_cond(const scoresde_model *model, const double *t,
                                            size_t n, size_t D, const scoresde_cond *cond,
                                            uint64_t seed, uint64_t first_sample, double *x);

/* ------------------------------------------- exact conditional models (1.1)
 * Two exact conditional models, for tests and for users, with the exact
 * score of p_t(x | c) under any SDE with a Gaussian marginal
 * x_t = alpha(t) x_0 + sigma(t) z, its divergence and Jacobian products,
 * ln p_t(x | c) and exact samples; both accept the null condition. Neither
 * can be saved to a file (SCORESDE_EUNSUPPORTED from the save calls).
 *
 * Class-conditional mixture (SCORESDE_MODEL_COND_GMM): K classes, class k
 * a diagonal mixture p_0(x | k) = sum_m w_km N(mu_km, diag(v_km)) of M
 * components, class probabilities pi_k. The condition is the class label
 * (C = 1, scoresde_model_cond_classes = K): the double k, an integer in
 * [0, K). The null condition is the unconditional mixture
 * p_0(x) = sum_k pi_k p_0(x | k), i.e. the K M components with weights
 * pi_k w_km. Each sample's density is the mixture of scoresde_model_create_gmm
 * for its class (or the null mixture), with the formulas and sampling
 * offsets documented there (the component drawn among its mixture's).
 *
 * Linear-Gaussian (SCORESDE_MODEL_LINEAR_GAUSSIAN): theta ~ N(m0, S0) in D
 * dimensions (the model's x), y = A theta + b + e with e ~ N(0, Se) in C
 * dimensions (the condition). The condition y gives the posterior
 * N(mp, Sp): Sp = (S0^-1 + A^T Se^-1 A)^-1, mp = Sp (S0^-1 m0 +
 * A^T Se^-1 (y - b)), diffused to N(alpha mp, alpha^2 Sp + sigma^2 I); the
 * null condition is the prior, diffused to N(alpha m0, alpha^2 S0 + sigma^2 I).
 * Exact samples of sample i: z_k = normal element
 * SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, k), k < D, of stream
 * first_sample + i; x = alpha mean + Q diag(sqrt(alpha^2 l + sigma^2)) z with
 * the covariance's eigenvectors Q and eigenvalues l (found at creation by
 * cyclic Jacobi rotations). */

/**
 * Create the class-conditional mixture of K classes of M components in D
 * dimensions. class_probs: K positive finite numbers (normalised to sum 1).
 * weights: K x M positive finite numbers, normalised within each class
 * (weights[k*M + m] = w_km). means, variances: K x M x D finite values and
 * positive finite diagonal variances (component m of class k at
 * (k*M + m)*D). Every array is copied. Returns SCORESDE_OK, SCORESDE_EINVAL
 * (NULL pointer, K, M or D zero, a value not finite or out of range, naming
 * the array and index), SCORESDE_EUNSUPPORTED (the SDE has no Gaussian
 * marginal) or SCORESDE_ENOMEM; *out is NULL on failure. Thread-safe.
 */
SCORESDE_API int scoresde_model_create_cond_gmm(scoresde_model **out, const scoresde_sde *sde,
                                                size_t K, size_t M, size_t D,
                                                const double *class_probs,
                                                const double *weights, const double *means,
                                                const double *variances);

/**
 * Create the linear-Gaussian posterior model: prior_mean (D), prior_cov
 * (D x D), A (C x D, row-major: y_q = sum_j A[q*D + j] theta_j + b_q + e_q),
 * b (C, or NULL for zero), noise_cov (C x C). The covariances must be finite,
 * symmetric to 1e-12 of their largest diagonal entry and positive definite
 * (smallest eigenvalue above 1e-13 of the largest). Every array is copied.
 * D and C at most 4096. Returns SCORESDE_OK, SCORESDE_EINVAL (NULL pointer,
 * D or C zero or too large, a non-finite value, a covariance not symmetric
 * or not positive definite, naming it), SCORESDE_EUNSUPPORTED (no Gaussian
 * marginal) or SCORESDE_ENOMEM; *out is NULL on failure. Thread-safe.
 */
SCORESDE_API int scoresde_model_create_linear_gaussian(scoresde_model **out,
                                                       const scoresde_sde *sde, size_t D,
                                                       size_t C, const double *prior_mean,
                                                       const double *prior_cov, const double *A,
                                                       const double *b, const double *noise_cov);

/* ------------------------------------------- IID observations (1.1)
 * Simulation-based inference with N independent observations y_1..y_N of
 * one parameter theta, from a model trained on single observations
 * (Geffner, Papamakarios and Mnih 2023, "Compositional score modeling for
 * simulation-based inference"; sbi's iid_method). Bayes gives, at t = 0,
 *     p(theta | y_1..N) proportional to p(theta)^(1 - N) prod_k p(theta | y_k),
 * so the score at t = 0 is sum_k s(theta | y_k) - (N - 1) s_prior(theta).
 * At t > 0 the diffused posterior p_t(x | y_1..N) does NOT factor that way,
 * and each method is an approximation there:
 *  - SCORESDE_IID_FACTORIZED: s = sum_k s_t(x | y_k) - (N - 1) s_prior_t(x),
 *    with s_prior_t the prior's diffused score. Exact for N = 1 (bit for bit
 *    the single-observation score) and at times where sigma(t) = 0; at
 *    t > 0 it is wrong even for Gaussians (1-D, prior variance 1, one
 *    observation's posterior variance 1/2, N = 2, alpha = sigma = 1: its
 *    precision 0.83 against the exact 0.75). Samplers then rely on the
 *    composed score being right near t = 0 (a corrector helps); sbi's
 *    "fnpe" without its prior weighting.
 *  - SCORESDE_IID_GAUSS (Geffner et al.'s Gaussian correction; sbi's
 *    "gauss"): the denoising posteriors p(theta_0 | x_t, y_k) and
 *    p(theta_0 | x_t) are taken Gaussian with the precisions
 *    L_k = a/b I + Pp and L_0 = a/b I + P0 (a = alpha(t)^2, b = sigma(t)^2;
 *    Pp one observation's posterior precision, the same for every k; P0 the
 *    prior's), and
 *      s = L^-1 (L_p sum_k s_k - (N - 1) L_0 s_0),  L = a/b I + N Pp - (N - 1) P0,
 *    computed as (a I + b P)^-1 [(a I + b Pp) sum_k s_k - (N - 1)(a I + b P0) s_0]
 *    with P = N Pp - (N - 1) P0 (diagonalised at creation), so sigma = 0 is
 *    the factorized formula. It is EXACT at every t when the prior and the
 *    single-observation posteriors are Gaussian with these precisions (the
 *    linear-Gaussian model): s_k = -(a Pp^-1 + b I)^-1 (x - alpha m_k) gives
 *    (a I + b Pp) s_k = -Pp (x - alpha m_k), likewise for the prior, so the
 *    bracket is -P (x - alpha m) with P m = sum_k Pp m_k - (N - 1) P0 m0,
 *    the N-observation posterior N(m, P^-1), and (a I + b P)^-1 P =
 *    (a P^-1 + b I)^-1 makes s its exact diffused score (see
 *    docs/guide/14-conditional.md). Otherwise it is a Gaussian approximation
 *    whose quality depends on how Gaussian the posteriors are. The caller
 *    gives the precisions (for a learned model: the inverse of an estimated
 *    posterior covariance, e.g. from posterior samples for one observation).
 * The composed model is an unconditional model of dimension D (kind
 * SCORESDE_MODEL_IID): every sampler, likelihood and evaluation call takes
 * it. Its score costs N + 1 evaluations of the component models (N of n
 * rows with one observation broadcast each, one of the prior); Jacobian
 * products are the same combination of the components' (exact where
 * theirs are); the divergence is the combination of theirs (FACTORIZED) or
 * D Jacobian products (GAUSS). It has no log-density, exact samples or
 * parameters (SCORESDE_EUNSUPPORTED) and cannot be saved. */

/** Methods of combining single-observation scores (values frozen). */
typedef enum scoresde_iid_method_t {
    SCORESDE_IID_FACTORIZED = 1, /**< sum_k s_k - (N - 1) s_prior (exact at t = 0 only) */
    SCORESDE_IID_GAUSS = 2       /**< Geffner et al.'s Gaussian-corrected combination */
} scoresde_iid_method_t;

/**
 * Create the composed posterior model of N observations y (N x C row-major,
 * C = cond_model's condition features; checked as conditions are: finite,
 * integer labels in range) for cond_model, a conditional model of
 * p(theta | y) for ONE observation. prior_model: an unconditional model of
 * the prior's diffused score under the same SDE (an exact Gaussian mixture,
 * a network trained on prior draws), or NULL to use cond_model's null
 * condition (a model trained with condition dropout, or an exact model).
 * method: a scoresde_iid_method_t. prior_precision and posterior_precision:
 * D x D symmetric positive-definite matrices for GAUSS (the prior's inverse
 * covariance and one observation's posterior inverse covariance, at t = 0),
 * NULL for FACTORIZED. The model keeps its own copies of both models
 * (scoresde_model_clone), of y and of the precisions; its SDE is cond_model's.
 * Returns SCORESDE_OK, SCORESDE_EINVAL (NULL out, cond_model or y;
 * cond_model unconditional; N zero; a bad observation, naming row and
 * feature; prior_model NULL while cond_model refuses the null condition;
 * prior_model conditional or of another SDE; an unknown method; precisions
 * given to FACTORIZED or missing, not symmetric positive definite, or
 * N Pp - (N - 1) P0 not positive definite for GAUSS), SCORESDE_EDIM
 * (prior_model's dimension differs), SCORESDE_EUNSUPPORTED (GAUSS
 * without a Gaussian marginal) or SCORESDE_ENOMEM; *out is NULL on failure.
 * Thread-safe; the composed model is as thread-safe as its components.
 */
SCORESDE_API int scoresde_model_create_iid(scoresde_model **out,
                                           const scoresde_model *cond_model,
                                           const scoresde_model *prior_model, size_t N,
                                           const double *y, int method,
                                           const double *prior_precision,
                                           const double *posterior_precision);

/* ----------------------------------------------------- conditional hooks (1.1)
 * The caller's functions with the batch's conditions: row i's condition is
 * the C doubles at c + i * c_stride, where c_stride is C (a row per sample)
 * or 0 (one row for every sample, a broadcast). Sample i asks for the null
 * condition when c is NULL (every sample) or null_mask[i] != 0 (null_mask
 * NULL: no sample); the hook then ignores row i, which need not be valid.
 * Values are as the caller gave them to the _cond call (finite; checked by
 * the library); the library may pass rows of its own (a finite-difference
 * batch of 2n rows repeats sample i's condition, classifier-free guidance
 * appends n null rows). Return values and output checks as the
 * unconditional hooks (scoresde_score_fn). */

/** A conditional score: write s(x_i, t_i | c_i) into score_out (n x D). */
typedef int (*scoresde_cond_score_fn)(const double *x, const double *t, size_t n, size_t D,
                                      const double *c, size_t c_stride,
                                      const unsigned char *null_mask, double *score_out,
                                      void *user);

/** A conditional denoiser: write D(x_i, t_i | c_i) ~ E[x_0 | x_t = x_i, c_i] into x0_out. */
typedef int (*scoresde_cond_denoiser_fn)(const double *x, const double *t, size_t n, size_t D,
                                         const double *c, size_t c_stride,
                                         const unsigned char *null_mask, double *x0_out,
                                         void *user);

/** A conditional divergence (of the score, or of the denoiser for a denoiser model). */
typedef int (*scoresde_cond_divergence_fn)(const double *x, const double *t, size_t n,
                                           size_t D, const double *c, size_t c_stride,
                                           const unsigned char *null_mask, double *div_out,
                                           void *user);

/**
 * A conditional score-callback model (kind SCORESDE_MODEL_SCORE_FN with
 * cond_dim C > 0): as scoresde_model_create_score_fn, with the condition
 * rows passed to the hooks. accepts_null non-zero: the hooks handle the null
 * condition (scoresde_model_cond_null is then 1); zero: the library refuses
 * it before any hook runs. divergence may be NULL. Returns SCORESDE_OK,
 * SCORESDE_EINVAL (out, sde or score NULL, D or C zero) or SCORESDE_ENOMEM.
 * Thread-safe.
 */
SCORESDE_API int scoresde_model_create_cond_score_fn(scoresde_model **out,
                                                     const scoresde_sde *sde, size_t D,
                                                     size_t C, int accepts_null,
                                                     scoresde_cond_score_fn score,
                                                     scoresde_cond_divergence_fn divergence,
                                                     void *user);

/**
 * A conditional denoiser-callback model (kind SCORESDE_MODEL_DENOISER_FN
 * with cond_dim C > 0): as scoresde_model_create_denoiser_fn (Tweedie,
 * divergence of the denoiser), with the condition rows passed to the hooks;
 * accepts_null as scoresde_model_create_cond_score_fn. Returns SCORESDE_OK,
 * SCORESDE_EINVAL, SCORESDE_EUNSUPPORTED (no Gaussian marginal) or
 * SCORESDE_ENOMEM. Thread-safe.
 */
SCORESDE_API int scoresde_model_create_cond_denoiser_fn(scoresde_model **out,
                                                        const scoresde_sde *sde, size_t D,
                                                        size_t C, int accepts_null,
                                                        scoresde_cond_denoiser_fn denoiser,
                                                        scoresde_cond_divergence_fn divergence,
                                                        void *user);

/* --------------------------------------------------------- trainable models
 * Kinds without trainable parameters (GMM, hooks) return SCORESDE_EUNSUPPORTED
 * from every function in this section that returns a status, with a message
 * naming the kind. */

/**
 * The number of trainable parameters; 0 for NULL and for kinds without
 * trainable parameters (GMM, hooks). Thread-safe.
 */
SCORESDE_API size_t scoresde_model_num_params(const scoresde_model *model);

/**
 * Copy the parameters into theta (count = scoresde_model_num_params values,
 * in the kind's documented flat order). Returns SCORESDE_OK, SCORESDE_EINVAL
 * (NULL), SCORESDE_EDIM (wrong count) or SCORESDE_EUNSUPPORTED. Thread-safe.
 */
SCORESDE_API int scoresde_model_get_params(const scoresde_model *model, double *theta,
                                           size_t count);

/**
 * Replace the parameters by theta (count values, all finite). Returns
 * SCORESDE_OK, SCORESDE_EINVAL (NULL or non-finite; for a float32 MLP a value
 * that rounds to float32 infinity, naming it: nothing is stored), SCORESDE_EDIM or
 * SCORESDE_EUNSUPPORTED. NOT thread-safe: no other call may use the model
 * meanwhile.
 */
SCORESDE_API int scoresde_model_set_params(scoresde_model *model, const double *theta,
                                           size_t count);

/**
 * Copy the parameters of src into dst (for instance to start or reset an
 * exponential moving average of a model being trained). Both must be
 * trainable models of the same kind and the same parameter shapes: for MLPs,
 * the same D, embed_dim, number of hidden layers and widths. Other options
 * (activation, output parameterisation, embedding, sigma_data, chunking,
 * threads) may differ and are not copied; so may the precision: values go
 * through scoresde_model_set_params's conversion, exact from float32 to
 * float64 and rounded to nearest from float64 to float32. dst == src is
 * accepted (nothing changes). Uses a temporary block of num_params doubles.
 *
 * Returns SCORESDE_OK, SCORESDE_EINVAL (NULL; kinds differ; a float64 value
 * beyond float32's range), SCORESDE_EUNSUPPORTED (either model has no
 * trainable parameters), SCORESDE_EDIM (dimensions, layer sizes or parameter
 * counts differ; the message names the first difference) or SCORESDE_ENOMEM.
 * On failure dst is unchanged. src is only read (other threads may evaluate
 * it meanwhile); NOT thread-safe for dst, as scoresde_model_set_params.
 */
SCORESDE_API int scoresde_model_copy_params(scoresde_model *dst, const scoresde_model *src);

/**
 * Backpropagation of the score: ADD to param_grad (count values) the gradient
 * with respect to the parameters of sum_{i,j} score_grad[i*D + j] s(x_i, t_i)_j.
 * Errors as scoresde_model_get_params and scoresde_model_score. Thread-safe.
 */
SCORESDE_API int scoresde_model_score_backward(const scoresde_model *model, const double *x,
                                               const double *t, size_t n, size_t D,
                                               const double *score_grad, double *param_grad,
                                               size_t count);

/**
 * Backpropagation of probe terms (sliced score matching): ADD to param_grad
 * (count values) the gradient with respect to the parameters of
 * sum_i sum_m weights[i*M + m] v_im^T (ds/dx)(x_i, t_i) v_im, probes laid out
 * as in scoresde_model_hutchinson. Errors as scoresde_model_score_backward.
 * Thread-safe.
 */
SCORESDE_API int scoresde_model_probe_backward(const scoresde_model *model, const double *x,
                                               const double *t, size_t n, size_t D,
                                               const double *probes, size_t M,
                                               const double *weights, double *param_grad,
                                               size_t count);

/** scoresde_model_score_backward with conditions (gradients in the parameters only). */
SCORESDE_API int scoresde_model_score_backward_cond(const scoresde_model *model,
                                                    const double *x, const double *t, size_t n,
                                                    size_t D, const scoresde_cond *cond,
                                                    const double *score_grad,
                                                    double *param_grad, size_t count);

/** scoresde_model_probe_backward with conditions. */
SCORESDE_API int scoresde_model_probe_backward_cond(const scoresde_model *model,
                                                    const double *x, const double *t, size_t n,
                                                    size_t D, const scoresde_cond *cond,
                                                    const double *probes, size_t M,
                                                    const double *weights, double *param_grad,
                                                    size_t count);

/* --------------------------------------------------------- data transform
 * Any model may carry a per-dimension affine map between the units of the
 * data and the units the model works in (issue 13):
 *     x_data[j] = shift[j] + scale[j] * x_model[j],   scale[j] > 0,
 * typically the column means and standard deviations a tool standardised
 * its data with before training. The transform is metadata applied by the
 * caller: every evaluation function, sampler, loss and trainer keeps working
 * in model units exactly as in 1.0 (a model with a transform gives the same
 * bits as the same model without one). It is saved with the model (a
 * section of model files written only when a transform is set, so files of
 * models without one are unchanged; docs/file-format.md), copied by
 * scoresde_model_clone (so trainers' exported models carry it) and stored in
 * training checkpoints. Densities change by the Jacobian of the map:
 *     ln p_data(x) = ln p_model(z) - log_det,   z = from_data(x),
 *     log_det = sum_j ln scale[j]   (scoresde_model_transform_log_det).
 * A model without a transform has the identity (shift 0, scale 1). Setting
 * the transform is NOT thread-safe (as scoresde_model_set_params); the other
 * functions only read the model and are thread-safe. */

/**
 * Set the model's data transform: shift and scale hold D values each (D the
 * model's dimension); both NULL clears it (the identity). The values are
 * copied. Returns SCORESDE_OK or SCORESDE_EINVAL (model NULL; only one of
 * shift and scale NULL; shift[j] not finite; scale[j] not finite or <= 0:
 * the message names the element and its value); on failure the model is
 * unchanged. Setting the identity explicitly is a transform (it is saved).
 */
SCORESDE_API int scoresde_model_set_transform(scoresde_model *model, const double *shift,
                                              const double *scale);

/**
 * Copy the transform into shift and scale (D values each; either may be
 * NULL to skip it): the identity (0, 1) when none is set. Returns
 * SCORESDE_OK or SCORESDE_EINVAL (model NULL). Thread-safe.
 */
SCORESDE_API int scoresde_model_get_transform(const scoresde_model *model, double *shift,
                                              double *scale);

/** 1 if a transform is set, 0 if not (or model is NULL). Thread-safe. */
SCORESDE_API int scoresde_model_has_transform(const scoresde_model *model);

/**
 * Map n rows of D values (row-major, in place) from model units to data
 * units: x = shift + scale * x. n = 0 does nothing. Returns
 * SCORESDE_OK or SCORESDE_EINVAL (model NULL, x NULL with n > 0). The
 * values are not scanned (NaN stays NaN). Thread-safe.
 */
SCORESDE_API int scoresde_model_to_data(const scoresde_model *model, double *x, size_t n);

/**
 * Map n rows in place from data units to model units: x = (x - shift) /
 * scale. Errors as scoresde_model_to_data. to_data(from_data(x)) returns x
 * to within a few ulps (exactly for the identity). Thread-safe.
 */
SCORESDE_API int scoresde_model_from_data(const scoresde_model *model, double *x, size_t n);

/**
 * *log_det = sum_j ln scale[j] (0 for the identity), the log-Jacobian of
 * to_data: ln p_data(x) = ln p_model(from_data(x)) - *log_det. Returns
 * SCORESDE_OK or SCORESDE_EINVAL (NULL). Thread-safe.
 */
SCORESDE_API int scoresde_model_transform_log_det(const scoresde_model *model, double *log_det);

/* ------------------------------------------------------------ MLP models
 * A fully connected score network (SCORESDE_MODEL_MLP). The network F sees
 * the scaled input c_in x and a time embedding e(t) of embed_dim features,
 * and its D outputs become a score through the output parameterisation:
 *   SCORE:  s = F(x, e)                                   (direct score)
 *   NOISE:  s = -F(x, e) / sigma                          (noise prediction)
 *   DATA:   s = (alpha F(x, e) - x) / sigma^2             (denoiser, Tweedie)
 *   EDM:    with x_e = x / alpha, sigma_e = sigma / alpha (Karras et al. 2022,
 *           VP-type SDEs included; alpha = 1 for VE and EDM SDEs),
 *           c_skip = sd^2 / (sigma_e^2 + sd^2), c_out = sigma_e sd / sqrt(sigma_e^2 + sd^2),
 *           c_in = 1 / sqrt(sigma_e^2 + sd^2), c_noise = ln(sigma_e) / 4, sd = sigma_data,
 *           D = c_skip x_e + c_out F(c_in x_e, e(c_noise)),  s = (alpha D - x) / sigma^2.
 * NOISE, DATA and EDM need sigma(t) > 0: a time with sigma(t) = 0 fails with
 * SCORESDE_EINVAL.
 * Time embeddings (embed_dim = 2 h features):
 *   FOURIER:    tau = ln sigma(t) (c_noise under EDM), features
 *               [sin(2 pi W_k tau), cos(2 pi W_k tau)], k < h, with W_k = fourier_scale
 *               * normal element k of Philox stream 2^32 under the model's seed at
 *               offset SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, 0); fixed, not trained
 *               (score_sde's VE models: fourier_scale 16). Needs sigma(t) > 0.
 *   SINUSOIDAL: tau = 999 t (c_noise under EDM), features [sin(tau f_k), cos(tau f_k)],
 *               f_k = 10000^(-k / (h - 1)) (f_0 = 1 if h = 1) (DDPM, score_sde's VP models).
 *   AUTO:       SINUSOIDAL for VP and sub-VP SDEs, FOURIER otherwise.
 * Parameters: the network's, in its flat order: W_1 (rows = first hidden
 * width, columns = D + embed_dim: the D inputs, then the features), b_1, ...,
 * W_L (D rows), b_L; row-major. Initialisation from `seed`: W_l normal with
 * variance c / fan_in from streams 0, 1, ... (c = 2 for hidden ReLU layers,
 * else 1), offsets SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, k) for element k;
 * biases zero.
 * Precision FLOAT32 stores parameters and computes in single precision; the
 * API stays double. The activations (both precisions, and the residual MLP's
 * too) are the library's own vectorised approximations, not libm: SiLU,
 * softplus, tanh and the tanh form of GELU through its own e^x, ln(1 + y),
 * exact GELU through its own normal distribution function; each value and
 * its first two derivatives within a few ulp of the exact one (at most 3, 2,
 * 3, 5 and 6 ulp for the values, 10 for the worst second derivative;
 * docs/guide lists every bound), deterministic: the same bits on every CPU
 * of a build's target and for every batch size, thread count and chunk.
 * Networks of 1.0.0 files load to the same parameters; their outputs may
 * differ from 1.0.0's within those bounds (1.0.0 used libm's exp, tanh,
 * log1p and erfc).
 * Conditional MLPs (1.1; options cond_dim = C > 0, cond_input, cond_classes,
 * cond_null): the condition c of sample i enters the network with its time
 * features e(t):
 *   EMBED_LAYERS (default): the features become f = e(t) + E c, E a learned
 *     embed_dim x C matrix; with integer labels (cond_classes = K)
 *     f = e(t) + T_k, T a learned K x embed_dim table and k the label. The
 *     null condition (cond_null) is a learned vector u: f = e(t) + u. f (the
 *     time embedding with the condition's added) enters EVERY hidden layer:
 *     layer 1 through W_1's embed_dim feature columns as for an
 *     unconditional MLP, and each hidden layer l = 2 .. n_hidden through its
 *     own learned projection P_l (width_l x embed_dim), added to its
 *     pre-activation: z_l = h_{l-1} W_l^T + f P_l^T + b_l (b_l is the
 *     pre-activation's only bias: a second one would be its exact twin).
 *     The output layer does not see f. With n_hidden <= 1 this is EMBED.
 *   EMBED: the same f, entering through W_1 only (the first layer), as the
 *     time features of an unconditional MLP do.
 *   CONCAT: c is appended to the network input, W_1 then has D + embed_dim + C
 *     columns (the D inputs, the time features, the condition); the null
 *     condition is c = 0 (prefer EMBED for classifier-free guidance, where a
 *     learned null vector cannot be confused with a real condition). CONCAT
 *     takes real features only: cond_classes > 0 with CONCAT is refused
 *     (SCORESDE_EINVAL); pass a label k of K classes as a one-hot row
 *     (cond_dim = K, 1 at feature k) instead, or use EMBED's label table.
 * docs/guide/14-conditional.md says when to choose which, with
 * measurements. cond_input is read only when cond_dim > 0 (C = 0 is the 1.0 network
 * whatever its value).
 * Parameters: the network's (above: W_1, b_1, ..., W_L, b_L), then for
 * EMBED_LAYERS P_2, ..., P_{n_hidden} (row-major), then the condition's: E
 * (embed_dim x C, row-major) or T (K x embed_dim), then u (embed_dim, if
 * cond_null).
 * Initialisation: the P_l zero (so a new EMBED_LAYERS model computes what
 * the EMBED model of the same options and seed does, bit for bit, and
 * training grows the projections from there); E normal with variance 1 / C,
 * T standard normal, both from Philox stream 2^32 + 1 under the seed at offset
 * SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, 0) in that order; u zero. A FLOAT32
 * model rounds them to float as it rounds its other parameters. Gradients
 * with respect to them follow every backward pass; Jacobians are in x only.
 * Evaluations of one MLP model are thread-safe: each call takes a workspace
 * from the model's mutex-guarded pool (allocating one only when none is free)
 * and gives it back. Results do not depend on the number of threads calling.
 */

/** How the condition enters an MLP model (values frozen). */
typedef enum scoresde_mlp_cond_input_t {
    SCORESDE_MLP_COND_CONCAT = 1, /**< the C features are extra network inputs */
    SCORESDE_MLP_COND_EMBED = 2,  /**< a learned embedding of c is added to the time features */
    SCORESDE_MLP_COND_EMBED_LAYERS = 3 /**< as EMBED, and the sum enters every hidden layer
                                            of an MLP (1.1; the residual MLP refuses it: its
                                            EMBED already enters every block) */
} scoresde_mlp_cond_input_t;

/** Hidden-layer activations of the network kinds (MLP and residual MLP;
 *  values frozen). */
typedef enum scoresde_mlp_activation_t {
    SCORESDE_MLP_SILU = 0,
    SCORESDE_MLP_RELU = 1,
    SCORESDE_MLP_TANH = 2,
    SCORESDE_MLP_SOFTPLUS = 3,
    SCORESDE_MLP_GELU_TANH = 4, /**< GELU, tanh form z (1 + tanh(k (z + 0.044715 z^3))) / 2,
                                     k = sqrt(2 / pi) (1.1) */
    SCORESDE_MLP_GELU = 5       /**< GELU, exact form z Phi(z) through erf (1.1) */
} scoresde_mlp_activation_t;

/** Output parameterisations of an MLP model (values frozen). */
typedef enum scoresde_mlp_output_t {
    SCORESDE_MLP_OUTPUT_SCORE = 0,
    SCORESDE_MLP_OUTPUT_NOISE = 1,
    SCORESDE_MLP_OUTPUT_DATA = 2,
    SCORESDE_MLP_OUTPUT_EDM = 3
} scoresde_mlp_output_t;

/** Time embeddings of an MLP model (values frozen). */
typedef enum scoresde_mlp_embedding_t {
    SCORESDE_MLP_EMBED_AUTO = 0,
    SCORESDE_MLP_EMBED_FOURIER = 1,
    SCORESDE_MLP_EMBED_SINUSOIDAL = 2
} scoresde_mlp_embedding_t;

/** Compute precisions of an MLP model (values frozen). */
typedef enum scoresde_mlp_precision_t {
    SCORESDE_MLP_FLOAT64 = 0,
    SCORESDE_MLP_FLOAT32 = 1
} scoresde_mlp_precision_t;

/** The largest number of hidden layers of an MLP model. */
#define SCORESDE_MLP_MAX_HIDDEN 64

/**
 * Options of an MLP model. Versioned (scoresde/common.h): struct_size is the
 * first field and fields are only ever appended after n_threads, the last
 * field of the 1.0 layout. Fill it with scoresde_model_mlp_options_init and
 * change what you need. A program built against an older header passes its
 * smaller struct_size: the library reads only that many bytes and gives the
 * fields beyond them their defaults.
 */
typedef struct scoresde_mlp_options {
    size_t struct_size;      /**< sizeof(scoresde_mlp_options) */
    size_t n_hidden;         /**< hidden layers, 0 .. SCORESDE_MLP_MAX_HIDDEN (default 3) */
    const size_t *widths;    /**< NULL (default): every hidden layer 256 wide; else
                                  n_hidden widths, each 1 .. 2^20, read and copied by
                                  scoresde_model_create_mlp (the array need not
                                  outlive that call) */
    int activation;          /**< SCORESDE_MLP_SILU (default), RELU, TANH, SOFTPLUS,
                                  GELU_TANH, GELU (1.1) */
    int output;              /**< SCORESDE_MLP_OUTPUT_* (default NOISE) */
    int embedding;           /**< SCORESDE_MLP_EMBED_* (default AUTO) */
    size_t embed_dim;        /**< time features, even, 2 .. 4096 (default 16) */
    double fourier_scale;    /**< std of the Fourier frequencies, > 0 (default 16) */
    double sigma_data;       /**< EDM's sigma_data, > 0 (default 0.5) */
    int precision;           /**< SCORESDE_MLP_FLOAT64 (default) or FLOAT32 */
    uint64_t seed;           /**< initialisation and Fourier frequencies (default 0) */
    size_t chunk_rows;       /**< rows per workspace pass, 1 .. 2^20 (default 1024) */
    int n_threads;           /**< threads per evaluation, 1 .. 1024 (default 1): a
                                  request, granted up to the OpenMP thread limit
                                  (OMP_THREAD_LIMIT) and the number of processors;
                                  an evaluation called from inside any OpenMP
                                  parallel region, active or not (a sampler with
                                  THREADS > 1 and several blocks, `parallel if(0)`)
                                  uses 1 (no nested threads). Scores and data and
                                  noise predictions split their rows over the
                                  threads (at least 256 rows each, else one
                                  thread); the other passes use BLIS's
                                  threads. The bits never depend on it */
    /* ---- 1.1: conditions (see "Conditional MLPs" above) ---- */
    size_t cond_dim;         /**< condition features C, 0 .. 4096 (default 0:
                                  unconditional, the 1.0 network bit for bit) */
    int cond_input;          /**< SCORESDE_MLP_COND_EMBED_LAYERS (default), _EMBED
                                  or _CONCAT */
    size_t cond_classes;     /**< K > 0: the condition is an integer label in
                                  [0, K), 1 .. 2^20 (needs cond_dim 1 and
                                  EMBED_LAYERS or EMBED);
                                  default 0 (real-valued features) */
    int cond_null;           /**< non-zero: the model accepts the null condition
                                  (train it with the trainer's COND_DROPOUT);
                                  default 0; needs cond_dim > 0 */
} scoresde_mlp_options;

/**
 * Fill *opts with the defaults above; pass struct_size =
 * sizeof(scoresde_mlp_options) as the caller's header defines it. Any size
 * from the 1.0 layout (ending at n_threads) up to this library's sizeof is
 * accepted; exactly struct_size bytes are written, and opts->struct_size is
 * set to it. Returns SCORESDE_OK, or SCORESDE_EINVAL for NULL opts or a
 * struct_size smaller than the 1.0 layout or larger than this library's
 * (a program built against a newer header). Thread-safe.
 */
SCORESDE_API int scoresde_model_mlp_options_init(scoresde_mlp_options *opts, size_t struct_size);

/**
 * Create an MLP score model of dimension D for `sde` (copied) with the given
 * options (NULL: the defaults). opts->struct_size is checked as by
 * scoresde_model_mlp_options_init; only that many bytes of *opts are read and
 * the fields beyond them take their defaults. The widths array (if not NULL)
 * is read here and copied. The model owns its parameters; free it with
 * scoresde_model_free.
 * Returns SCORESDE_OK, SCORESDE_EINVAL (NULL out or sde, D zero, a
 * struct_size outside [1.0 layout, sizeof], an option out of range, naming
 * it) or SCORESDE_ENOMEM. Thread-safe.
 */
SCORESDE_API int scoresde_model_create_mlp(scoresde_model **out, const scoresde_sde *sde,
                                           size_t D, const scoresde_mlp_options *opts);

/* ------------------------------------------------------- residual MLP models
 * A residual score network (SCORESDE_MODEL_RESMLP, 1.1) for low- and
 * mid-dimensional data, where plain MLPs train poorly past a few layers.
 * Its output parameterisation (SCORE, NOISE, DATA, EDM), time embedding
 * (FOURIER, SINUSOIDAL, AUTO) and conditions (EMBED, CONCAT, labels, the
 * null condition) are those of the MLP models above, computed by the same
 * code; only the network F differs. With W = width, B = blocks, e the
 * embed_dim time features (plus E c, T_k or u for an EMBED condition) and
 * x_in = c_in x (followed by c for a CONCAT condition):
 *     h_0     = x_in W_in^T + b_in
 *     h_b+1   = h_b + (act(LN_b(h_b) W1_b^T + b1_b) + e P_b^T + p_b) W2_b^T + b2_b
 *     F       = LN_f(h_B) W_out^T + b_out
 * LN(h) = g * (h - mean h) / sqrt(var h + 1e-5) + beta over the W features
 * (learned scale g and shift beta), act the chosen activation (GELU in its
 * tanh form or exactly, see scoresde_mlp_activation_t). W_out and b_out
 * start at zero, so an untrained model is the parameterisation's identity:
 * F = 0, s = A x (0 for SCORE and NOISE, -x / sigma^2 for DATA).
 * Parameters, in this order, row-major: W_in (W x (D [+ C for CONCAT])),
 * b_in (W); per block g_b (W), beta_b (W), W1_b (W x W), b1_b (W), W2_b
 * (W x W), b2_b (W); P (B W x embed_dim, block b's rows b W ..), p (B W);
 * g_f (W), beta_f (W), W_out (D x W), b_out (D); then the EMBED condition's
 * as for the MLP. Initialisation from seed: W_in normal with variance
 * 1 / fan_in from Philox stream 0, W1_b variance c / W (c = 2 for ReLU,
 * else 1) from stream 1 + 2 b, W2_b variance 1 / W from stream 2 + 2 b, P
 * variance 1 / embed_dim from stream 1 + 2 B (offset
 * SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, 0) for element 0 on), LayerNorm
 * scales 1, everything else 0; the condition's as for the MLP.
 * Every pass of the MLP kind exists (exact J v, divergence, gradients of
 * every loss, files, clones, parameter copies between models of the same
 * shape); evaluations are thread-safe and bit-identical across thread
 * counts and chunk_rows; parameter gradients across thread counts.
 */

/**
 * Options of a residual MLP model. Versioned (scoresde/common.h): fields
 * are only ever appended. Fill it with scoresde_model_resmlp_options_init.
 */
typedef struct scoresde_resmlp_options {
    size_t struct_size;      /**< sizeof(scoresde_resmlp_options) */
    size_t width;            /**< W, 1 .. 65536 (default 256) */
    size_t blocks;           /**< residual blocks B, 0 .. 64 (default 4) */
    int activation;          /**< SCORESDE_MLP_SILU (default) .. SCORESDE_MLP_GELU */
    int output;              /**< SCORESDE_MLP_OUTPUT_* (default NOISE) */
    int embedding;           /**< SCORESDE_MLP_EMBED_* (default AUTO) */
    size_t embed_dim;        /**< time features, even, 2 .. 4096 (default 32) */
    double fourier_scale;    /**< std of the Fourier frequencies, > 0 (default 16) */
    double sigma_data;       /**< EDM's sigma_data, > 0 (default 0.5) */
    int precision;           /**< SCORESDE_MLP_FLOAT64 (default) or FLOAT32 */
    uint64_t seed;           /**< initialisation and Fourier frequencies (default 0) */
    size_t chunk_rows;       /**< rows per workspace pass, 1 .. 2^20 (default 256) */
    int n_threads;           /**< threads per evaluation, 1 .. 1024 (default 1), as
                                  scoresde_mlp_options.n_threads */
    size_t cond_dim;         /**< condition features C, 0 .. 4096 (default 0) */
    int cond_input;          /**< SCORESDE_MLP_COND_EMBED (default) or _CONCAT
                                  (_EMBED_LAYERS is refused: EMBED enters every block) */
    size_t cond_classes;     /**< integer labels in [0, K) (needs cond_dim 1, EMBED) */
    int cond_null;           /**< non-zero: the null condition is accepted */
} scoresde_resmlp_options;

/**
 * Fill *opts with the defaults above; struct_size must be
 * sizeof(scoresde_resmlp_options) of this or an older 1.1 header (the
 * first layout is the 1.1 one). Returns SCORESDE_OK or SCORESDE_EINVAL
 * (NULL opts, struct_size out of range). Thread-safe.
 */
SCORESDE_API int scoresde_model_resmlp_options_init(scoresde_resmlp_options *opts,
                                                    size_t struct_size);

/**
 * Create a residual MLP score model of dimension D for `sde` (copied) with
 * the given options (NULL: the defaults). Returns SCORESDE_OK,
 * SCORESDE_EINVAL (NULL out or sde, D zero or above 2^20 - embed_dim -
 * cond_dim, a struct_size out of range, an option out of range, naming it)
 * or SCORESDE_ENOMEM. Free the model with scoresde_model_free. Thread-safe.
 */
SCORESDE_API int scoresde_model_create_resmlp(scoresde_model **out, const scoresde_sde *sde,
                                              size_t D, const scoresde_resmlp_options *opts);

#ifdef __cplusplus
}
#endif

#endif /* SCORESDE_MODEL_H */
