/**
 * @file
 * libscoresde: forward stochastic differential equations.
 *
 * A scoresde_sde describes a forward SDE  dx = f(x, t) dt + g(t) dw  on the
 * time interval [0, T]. Every built-in SDE has an affine drift f = a(t) x and a
 * scalar diffusion g(t), so its perturbation kernel is Gaussian:
 *
 *     x_t | x_0 ~ N(alpha(t) x_0, sigma(t)^2 I),
 *     a = alpha'/alpha,   g^2 = 2 sigma sigma' - 2 a sigma^2.
 *
 * Kinds and their parameters (defaults are the published values):
 *   VE       sigma(t) = s(t) = smin (smax/smin)^t, alpha = 1, T = 1,
 *            g^2 = 2 ln(smax/smin) s(t)^2; smin = 0.01, smax = 50 (score_sde).
 *            Convention: sigma(t) = s(t), as score_sde does. The SDE started at
 *            a point x_0 at t = 0 has variance s(t)^2 - smin^2; sigma(t) = s(t)
 *            treats p_0 as the data already blurred by N(0, smin^2), so a forward
 *            simulation matches alpha, sigma when started from x_0 + smin z.
 *   VP       beta(t) = bmin + t (bmax - bmin), a = -beta/2, g^2 = beta, T = 1;
 *            bmin = 0.1, bmax = 20 (score_sde).
 *   SUBVP    VP's drift, g^2 = beta (1 - exp(-2 bmin t - (bmax - bmin) t^2)),
 *            sigma = 1 - alpha^2; same defaults.
 *   SCHEDULE any (alpha, sigma) schedule from a user hook (seed 000, Exercise 8.1).
 *   COSINE   the iDDPM cosine schedule alpha = cos(((t+s)/(1+s)) pi/2) /
 *            cos((s/(1+s)) pi/2), sigma = sqrt(1 - alpha^2), s = 0.008, stopped
 *            at T = 0.9946 (alpha(1) = 0 makes the drift infinite; 0.9946 is the
 *            end time DPM-Solver uses for this schedule).
 *   EDM      alpha = 1, sigma = t, g^2 = 2t; T = sigma_max = 80, and the
 *            sampling and training eps are sigma_min = 0.002 (Karras et al. 2022).
 *   OU       a = -theta, g = s, alpha = exp(-theta t),
 *            sigma^2 = s^2 (1 - exp(-2 theta t)) / (2 theta); defaults (a library
 *            choice, no published standard): theta = 1, s = sqrt(2) (stationary
 *            law N(0, I)), T = 8.
 *   CUSTOM   drift and diffusion from user hooks, optionally a marginal hook.
 *
 * Priors: VE N(0, smax^2 I); VP and SUBVP N(0, I); EDM N(0, T^2 I);
 * OU N(0, s^2/(2 theta) I); COSINE, SCHEDULE and CUSTOM (with a marginal hook)
 * N(0, sigma(T)^2 I), which treats alpha(T) x_0 as negligible.
 *
 * Eps: sampling 1e-3 (VP, SUBVP, COSINE, SCHEDULE, OU, CUSTOM), 1e-5 (VE),
 * sigma_min (EDM); training 1e-5 for all but EDM (sigma_min).
 *
 * Times: every time argument must be finite and in [0, T]; otherwise the call
 * returns SCORESDE_EINVAL naming the index and value.
 *
 * Randomness (see scoresde/rng.h): sample i of a call uses stream
 * first_sample + i; the element j of that sample's draw uses the offset
 * SCORESDE_RNG_OFFSET(purpose, draw + j) (simulation: draw + k D + j for step
 * k), with the purposes PERTURB, PRIOR and SIMULATE. Results never depend on
 * how a batch is split.
 *
 * Thread safety: an SDE is immutable after creation and may be shared between
 * threads; every function here is thread-safe on a shared SDE. Hooks of a
 * SCHEDULE or CUSTOM SDE are then called from those threads concurrently and
 * must allow it.
 *
 * Errors: SCORESDE_EINVAL for NULL pointers, zero sizes, non-finite or
 * out-of-range arguments; SCORESDE_ENOMEM; SCORESDE_ECALLBACK when a hook
 * returns non-zero; SCORESDE_ENUMERIC when a hook returns a non-finite or
 * invalid value (negative sigma or g, non-positive alpha); SCORESDE_EUNSUPPORTED
 * for an operation that needs the marginal on a CUSTOM SDE without one.
 * scoresde_last_error() then says which argument or value was wrong.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SCORESDE_SDE_H
#define SCORESDE_SDE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct scoresde_sde scoresde_sde;

/** The kinds of SDE (values frozen; only ever added). */
typedef enum scoresde_sde_kind_t {
    SCORESDE_SDE_VE = 1,
    SCORESDE_SDE_VP = 2,
    SCORESDE_SDE_SUBVP = 3,
    SCORESDE_SDE_SCHEDULE = 4, /**< general (alpha, sigma) from user callbacks */
    SCORESDE_SDE_COSINE = 5,   /**< general schedule, iDDPM cosine, built in */
    SCORESDE_SDE_EDM = 6,
    SCORESDE_SDE_OU = 7,
    SCORESDE_SDE_CUSTOM = 8
} scoresde_sde_kind_t;

/** score_sde's default number of discrete noise levels. */
#define SCORESDE_SDE_DEFAULT_LEVELS 1000

/**
 * A batched schedule or marginal hook: for the n times t[0..n-1], write
 * alpha(t), sigma(t) and their time derivatives. All four outputs are non-NULL
 * arrays of n doubles. Return 0, or non-zero to stop (SCORESDE_ECALLBACK).
 * Requirements: alpha > 0, sigma >= 0, all finite, except that dsigma_dt may be
 * +infinity where sigma = 0 (e.g. sigma ~ sqrt(t) at t = 0).
 */
typedef int (*scoresde_schedule_fn)(const double *t, size_t n, double *alpha, double *sigma,
                                    double *dalpha_dt, double *dsigma_dt, void *user);

/**
 * A batched drift hook: f_out[i*D + j] = f(x_i, t_i)_j for the n x D batch x
 * (row-major) and the per-sample times t[0..n-1]. Return 0 or non-zero to stop.
 */
typedef int (*scoresde_drift_fn)(const double *x, const double *t, size_t n, size_t D,
                                 double *f_out, void *user);

/**
 * A batched diffusion hook: g_out[i] = g(t_i) >= 0 for the n times t.
 * Return 0 or non-zero to stop.
 */
typedef int (*scoresde_diffusion_fn)(const double *t, size_t n, double *g_out, void *user);

/* ---------------------------------------------------------------- creation
 *
 * Every built-in creator below (and so every model file, which goes through
 * them) also refuses, with SCORESDE_EINVAL naming all the parameters,
 * parameters that pass the checks listed with each creator but whose
 * consequences do not: a default eps not below T; at t = 0, both eps, T/2
 * and T an alpha that is not finite and positive, a sigma^2 that is not
 * finite (or not positive after t = 0), a drift factor or g^2 that is not
 * finite, or g^2 < 0; a prior variance that is not finite and positive
 * (e.g. VE with sigma_max / sigma_min overflowing, OU with theta = 1e308).
 */

/**
 * Create a built-in SDE with its published default parameters (above).
 * SCORESDE_EINVAL for SCHEDULE and CUSTOM (they need hooks), an unknown kind or
 * a NULL out. On failure *out is set to NULL (if out is not NULL).
 * The handle is freed with scoresde_sde_free.
 */
SCORESDE_API int scoresde_sde_create_default(scoresde_sde **out, int kind);

/**
 * VP SDE with beta(t) = beta_min + t (beta_max - beta_min) on [0, 1].
 * SCORESDE_EINVAL if a value is not finite, beta_min < 0, beta_max < beta_min
 * or beta_max <= 0.
 */
SCORESDE_API int scoresde_sde_create_vp(scoresde_sde **out, double beta_min, double beta_max);

/** sub-VP SDE; the parameters and their checks are VP's. */
SCORESDE_API int scoresde_sde_create_subvp(scoresde_sde **out, double beta_min, double beta_max);

/**
 * VE SDE with s(t) = sigma_min (sigma_max/sigma_min)^t on [0, 1].
 * SCORESDE_EINVAL if a value is not finite, sigma_min <= 0 or
 * sigma_max <= sigma_min.
 */
SCORESDE_API int scoresde_sde_create_ve(scoresde_sde **out, double sigma_min, double sigma_max);

/**
 * EDM SDE: sigma(t) = t, T = sigma_max, eps = sigma_min. Checks as VE.
 */
SCORESDE_API int scoresde_sde_create_edm(scoresde_sde **out, double sigma_min, double sigma_max);

/**
 * Cosine schedule with offset s >= 0 on [0, T], 0 < T < 1.
 * SCORESDE_EINVAL for non-finite values, s < 0, or T outside (0, 1).
 */
SCORESDE_API int scoresde_sde_create_cosine(scoresde_sde **out, double s, double T);

/**
 * Ornstein-Uhlenbeck SDE dx = -theta x dt + s dw on [0, T].
 * SCORESDE_EINVAL for non-finite values, theta <= 0, s <= 0 or T <= 0.
 */
SCORESDE_API int scoresde_sde_create_ou(scoresde_sde **out, double theta, double s, double T);

/**
 * A general (alpha, sigma) SDE on [0, T] (seed 000, Exercise 8.1): drift
 * (alpha'/alpha) x, g^2 = 2 sigma sigma' - 2 (alpha'/alpha) sigma^2.
 * The schedule should have alpha(0) = 1; if sigma(0) > 0, p_0 is read as the
 * data blurred by N(0, sigma(0)^2), as for VE.
 * At creation the hook is evaluated at t_k = k T / 64, k = 1..64, and the SDE is
 * refused with SCORESDE_EINVAL if alpha <= 0, sigma < 0, a value is not finite,
 * or g^2 < 0 at one of them (a schedule whose noise would have to shrink).
 * SCORESDE_ECALLBACK if the hook fails there. The SDE keeps the function
 * pointer and `user`; `user` is the caller's to keep alive while the SDE (or a
 * clone) exists. T must be finite and > 0.
 */
SCORESDE_API int scoresde_sde_create_schedule(scoresde_sde **out, double T,
                                              scoresde_schedule_fn schedule, void *user);

/**
 * A custom SDE on [0, T] from a drift and a diffusion hook (both required).
 * `marginal` may be NULL; without it the operations that need the Gaussian
 * marginal (marginal, perturb, kernel score, prior, exact-ratio discretisation)
 * return SCORESDE_EUNSUPPORTED, and discretize uses the Euler-Maruyama form.
 * With it, the caller promises the hooks describe the same process. `user` is
 * passed to every hook and is the caller's to keep alive.
 */
SCORESDE_API int scoresde_sde_create_custom(scoresde_sde **out, double T, scoresde_drift_fn drift,
                                            scoresde_diffusion_fn diffusion,
                                            scoresde_schedule_fn marginal, void *user);

/** Free an SDE; NULL is accepted. */
SCORESDE_API void scoresde_sde_free(scoresde_sde *sde);

/**
 * A new, independent copy of `sde` into *out (hook pointers and `user` are
 * shared, not copied). Returns SCORESDE_OK, SCORESDE_EINVAL (NULL out or sde)
 * or SCORESDE_ENOMEM; on failure *out is NULL (if out is not NULL).
 * Free the copy with scoresde_sde_free. Thread-safe.
 */
SCORESDE_API int scoresde_sde_clone(scoresde_sde **out, const scoresde_sde *sde);

/* ---------------------------------------------------------------- queries */

/** The kind (a scoresde_sde_kind_t), or 0 for NULL. Thread-safe. */
SCORESDE_API int scoresde_sde_kind(const scoresde_sde *sde);

/** The end time T, or NaN for NULL. Thread-safe. */
SCORESDE_API double scoresde_sde_end_time(const scoresde_sde *sde);

/** The recommended time at which sampling stops, or NaN for NULL. Thread-safe. */
SCORESDE_API double scoresde_sde_sampling_eps(const scoresde_sde *sde);

/** The recommended smallest training time, or NaN for NULL. Thread-safe. */
SCORESDE_API double scoresde_sde_training_eps(const scoresde_sde *sde);

/* ---------------------------------------------------------------- coefficients */

/**
 * alpha(t_i), sigma(t_i) and their time derivatives for n times; any output may
 * be NULL. dsigma_dt is +infinity where sigma = 0 and sigma ~ sqrt(t) (VP,
 * COSINE, OU at t = 0). SCORESDE_EINVAL for a time outside [0, T] or not
 * finite; SCORESDE_EUNSUPPORTED for a custom SDE without a marginal hook.
 */
SCORESDE_API int scoresde_sde_marginal(const scoresde_sde *sde, const double *t, size_t n,
                                       double *alpha, double *sigma, double *dalpha_dt,
                                       double *dsigma_dt);

/**
 * The drift f(x_i, t_i) for the n x D batch x and per-sample times t, into
 * f_out (n x D, must not overlap x). SCORESDE_ENUMERIC if a SCHEDULE's coefficient is
 * not finite (e.g. alpha' / alpha where the hook gives nonsense).
 */
SCORESDE_API int scoresde_sde_drift(const scoresde_sde *sde, const double *x, const double *t,
                                    size_t n, size_t D, double *f_out);

/**
 * The diffusion g(t_i) >= 0 for n times into g_out. For SCHEDULE, g^2 from the
 * Exercise 8.1 formula; SCORESDE_ENUMERIC if it is negative or not finite there
 * (also where sigma = 0 and dsigma_dt is infinite, where g is undefined).
 */
SCORESDE_API int scoresde_sde_diffusion(const scoresde_sde *sde, const double *t, size_t n,
                                        double *g_out);

/* ---------------------------------------------------------------- perturbation */

/**
 * x_t = alpha(t_i) x0_i + sigma(t_i) z_i with z_i ~ N(0, I) drawn from stream
 * first_sample + i at offsets SCORESDE_RNG_OFFSET(SCORESDE_RNG_PERTURB, draw + j),
 * j < D (draw + D must not exceed 2^56: SCORESDE_EINVAL, so that no draw
 * wraps into another purpose). xt_out (n x D) receives x_t;
 * z_out (n x D) receives z if not NULL. xt_out may equal x0.
 */
SCORESDE_API int scoresde_sde_perturb(const scoresde_sde *sde, const double *x0, const double *t,
                                      size_t n, size_t D, uint64_t seed, uint64_t first_sample,
                                      uint64_t draw, double *xt_out, double *z_out);

/**
 * The kernel score grad log p(x_t | x_0) = -(x_t - alpha x0) / sigma^2 for each
 * sample, into score_out (n x D). SCORESDE_EINVAL where sigma(t_i) = 0.
 */
SCORESDE_API int scoresde_sde_kernel_score(const scoresde_sde *sde, const double *xt,
                                           const double *x0, const double *t, size_t n, size_t D,
                                           double *score_out);

/* ---------------------------------------------------------------- prior */

/** The variance v of the prior N(0, v I) (see above) into *var. */
SCORESDE_API int scoresde_sde_prior_var(const scoresde_sde *sde, double *var);

/**
 * n samples of the prior into x_out (n x D): sample i from stream
 * first_sample + i at offsets SCORESDE_RNG_OFFSET(SCORESDE_RNG_PRIOR, draw + j),
 * j < D. Returns SCORESDE_OK, or SCORESDE_EINVAL (NULL sde or x_out, n or D
 * zero, n x D doubles overflowing size_t, or draw + D beyond 2^56, so that no
 * draw wraps into another purpose).
 */
SCORESDE_API int scoresde_sde_prior_sample(const scoresde_sde *sde, size_t n, size_t D,
                                           uint64_t seed, uint64_t first_sample, uint64_t draw,
                                           double *x_out);

/**
 * The prior log-density -D/2 ln(2 pi v) - ||x_i||^2 / (2 v) of each sample into
 * logp_out (n doubles).
 */
SCORESDE_API int scoresde_sde_prior_logp(const scoresde_sde *sde, const double *x, size_t n,
                                         size_t D, double *logp_out);

/* ---------------------------------------------------------------- discretisation */

/**
 * One step of the discretised forward process over N >= 2 levels, the step that
 * leads into level i:  x_i = x_{i-1} + f_i + G_i z.
 * Level i has time t_i = i T / (N - 1); each t[k] selects the nearest level
 * i = round(t[k] (N - 1) / T) (score_sde truncates, which turns a time one
 * rounding error below a level into the level before it).
 * The form depends on the kind:
 *   VP (DDPM)  beta_i = bmin/N + i (bmax - bmin) / (N (N - 1)),
 *              f_i = (sqrt(1 - beta_i) - 1) x, G_i = sqrt(beta_i);
 *   VE (SMLD)  sigma_i = s(t_i), f_i = 0, G_i = sqrt(sigma_i^2 - sigma_{i-1}^2),
 *              sigma_{-1} = 0;
 *   every other SDE with a marginal (exact ratio):
 *              r = alpha(t_i)/alpha(t_{i-1}), f_i = (r - 1) x,
 *              G_i = sqrt(sigma(t_i)^2 - r^2 sigma(t_{i-1})^2),
 *              with level -1 the clean data (alpha = 1, sigma = 0);
 *   CUSTOM without a marginal (Euler-Maruyama): f_i = f(x, t_i) T/N,
 *              G_i = g(t_i) sqrt(T/N).
 * f_out is n x D (must not overlap x), G_out has n entries. SCORESDE_EINVAL for N < 2.
 */
SCORESDE_API int scoresde_sde_discretize(const scoresde_sde *sde, size_t N, const double *x,
                                         const double *t, size_t n, size_t D, double *f_out,
                                         double *G_out);

/* ---------------------------------------------------------------- reverse time */

/**
 * The drift of the reverse-time family (docs/math.md section 3)
 *     dx = [f(x, t) - (1 + lam^2)/2 g(t)^2 score] dt + lam g(t) dw_bar
 * into out (n x D, must not overlap x or score): lam = 1 is the reverse SDE (Anderson),
 * lam = 0 the probability-flow ODE. The matching diffusion is lam g(t).
 * SCORESDE_EINVAL if lam < 0 or not finite.
 */
SCORESDE_API int scoresde_sde_reverse_drift(const scoresde_sde *sde, const double *x,
                                            const double *t, const double *score, size_t n,
                                            size_t D, double lam, double *out);

/** The probability-flow ODE drift f - g^2 score / 2: reverse_drift with lam = 0. */
SCORESDE_API int scoresde_sde_pf_drift(const scoresde_sde *sde, const double *x, const double *t,
                                       const double *score, size_t n, size_t D, double *out);

/* ---------------------------------------------------------------- simulation */

/**
 * Forward Euler-Maruyama simulation of n paths from x0 (n x D) at time t0 to
 * t1, 0 <= t0 < t1 <= T, in `steps` equal steps:
 *     x <- x + f(x, t_k) dt + g(t_k) sqrt(dt) z,   t_k = t0 + k dt.
 * The Brownian increment of sample i at step k, element j, is stream
 * first_sample + i, offset SCORESDE_RNG_OFFSET(SCORESDE_RNG_SIMULATE,
 * draw + k D + j). x_out (n x D) may equal x0 (on failure it holds partly
 * simulated paths). The drift hook of a CUSTOM SDE is called on sub-batches
 * of at most 256 rows (callers may rely on this bound). The call allocates a
 * workspace whose size depends on D, not on n.
 * Returns SCORESDE_OK; SCORESDE_EINVAL for NULL pointers, n, D or steps
 * zero, t0 or t1 outside [0, T] or t1 <= t0, or draw + steps x D beyond 2^56;
 * SCORESDE_ENOMEM; SCORESDE_ECALLBACK or SCORESDE_ENUMERIC from a hook;
 * SCORESDE_ENUMERIC (with the step and time) if a path becomes non-finite.
 */
SCORESDE_API int scoresde_sde_simulate(const scoresde_sde *sde, const double *x0, size_t n,
                                       size_t D, double t0, double t1, uint64_t steps,
                                       uint64_t seed, uint64_t first_sample, uint64_t draw,
                                       double *x_out);

#ifdef __cplusplus
}
#endif

#endif /* SCORESDE_SDE_H */
