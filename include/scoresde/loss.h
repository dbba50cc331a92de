/**
 * @file
 * libscoresde: score-matching losses (docs/math.md section 4).
 *
 * A scoresde_loss is configured once (kind, then typed setters) and then
 * evaluated on a batch of data x_0 (n x D, row-major) for a model: it returns
 * the batch loss, optionally the per-sample values, and, for trainable models
 * (SCORESDE_MODEL_MLP), ADDS the parameter gradient of the batch loss to a
 * caller's array.
 *
 * Every kind has the same shape. Sample i gets a time t_i, a point x_i (the
 * data itself, or the data perturbed to time t_i), a weight w_i = lambda(t_i) c,
 * and a quantity Q_i; its value is w_i Q_i and the batch loss is the mean
 * (1/n) sum_i w_i Q_i, summed in index order. The reduction factor c is 1 for
 * SCORESDE_LOSS_REDUCE_HALF_SUM and 2/D for SCORESDE_LOSS_REDUCE_MEAN, so
 * that HALF_SUM gives 1/2 sum_j r_j^2 and MEAN gives (1/D) sum_j r_j^2 for a
 * residual r (score_sde's reduce_mean = True form). With s = s(x_i, t_i) the
 * model's score and J its Jacobian ds/dx there:
 *   ESM      Q = 1/2 ||s - s_ref||^2, s_ref the reference model's score at
 *            (x_i, t_i) (scoresde_loss_set_reference; any model kind).
 *   ISM      Q = 1/2 ||s||^2 + tr J, the trace exact (scoresde_model_divergence).
 *   SSM      Q = (1/M) sum_m [ 1/2 (v_m^T s)^2 + v_m^T J v_m ].
 *   SSM_VR   Q = 1/2 ||s||^2 + (1/M) sum_m v_m^T J v_m.
 *   DSM      Q = 1/2 ||s + z / sigma(t_i)||^2 with x_i = alpha x_0 + sigma z.
 *            With lambda = sigma^2 and MEAN this is score_sde's
 *            (1/D) ||sigma s + z||^2; with lambda = g^2, its likelihood weighting.
 *   SMLD     DSM at the discrete level times t_k = k T / (N - 1), k uniform on
 *            {0..N-1}, lambda = sigma(t_k)^2 whatever the weighting setting (on
 *            a VE SDE sigma(t_k) are NCSN's geometric levels).
 *   DDPM     level k uniform on {0..N-1}, abar_k = prod_{l<=k} (1 - beta_l) from
 *            the DDPM table of the model's VP SDE (scoresde_sde_discretize),
 *            x_i = sqrt(abar_k) x_0 + sqrt(1 - abar_k) z, model time
 *            t_k = (k + 1) T / N (the end of the k+1 steps abar_k integrates,
 *            where sigma(t_k) > 0), eps_hat = -sigma(t_k) s (the model's noise prediction), Q =
 *            1/2 ||eps_hat - z||^2, lambda = 1. Needs a SCORESDE_SDE_VP model.
 * ESM, ISM, SSM and SSM_VR evaluate on the data itself by default
 * (SCORESDE_LOSS_TIME_DATA: x_i = x_0, t_i = the FIXED_TIME setting, default
 * 0, lambda = 1). With another time mode they apply at a noise level: x_i is
 * the data perturbed to t_i as for DSM and the weight lambda(t_i) applies.
 *
 * Time modes (SCORESDE_LOSS_TIME_MODE):
 *   DATA       ESM/ISM/SSM only (above).
 *   UNIFORM    t ~ U(eps, T), eps = the EPS setting or, if that is NaN (the
 *              default), the SDE's training eps (scoresde_sde_training_eps).
 *   LOGNORMAL  EDM: ln sigma ~ N(P_MEAN, P_STD^2) (defaults -1.2, 1.2), for a
 *              SCORESDE_SDE_EDM model (sigma(t) = t), t = sigma clipped to
 *              [eps, T]. Other SDEs: SCORESDE_EUNSUPPORTED.
 *   FIXED      t = the FIXED_TIME setting for every sample.
 *   IMPORTANCE t on [eps, T] (eps as for UNIFORM) with density
 *              p(t) = (g^2 / sigma^2) / Z, Z = 2 ln(r(T) / r(eps)),
 *              r = sigma / alpha (Song et al. 2021, maximum likelihood
 *              training): ln r(t) = ln r(eps) + u ln(r(T) / r(eps)) with the
 *              uniform u of UNIFORM, r inverted by bisection. Each sample's
 *              weight is multiplied by 1 / ((T - eps) p(t)), so the loss has
 *              the expectation it has with UNIFORM times and a lower variance
 *              for the G2 weighting (whose weight then is Z sigma^2 / (T - eps)).
 *              Needs 0 < r(eps) < r(T) (SCORESDE_EINVAL otherwise) and a
 *              Gaussian marginal (SCORESDE_EUNSUPPORTED).
 * Weightings lambda(t) (SCORESDE_LOSS_WEIGHTING; DSM, and ESM/ISM/SSM at a
 * noise level): SIGMA2 sigma(t)^2 (default); G2 g(t)^2 (likelihood weighting);
 * UNIFORM 1; EDM sigma^2 (sigma_e^2 + sd^2) / sd^2 with sigma_e = sigma/alpha
 * and sd = SIGMA_DATA (default 0.5), which makes the DSM value c/2 times EDM's
 * (sigma_e^2 + sd^2)/(sigma_e sd)^2 ||D(x) - x_0||^2; USER the weight hook.
 *
 * Randomness: sample i of a call is sample first_sample + i of the run and
 * draws from Philox stream first_sample + i under `seed`:
 *   the time or level:  uniform element SCORESDE_RNG_OFFSET(SCORESDE_RNG_TIME, 0)
 *                       (UNIFORM: t = eps + u (T - eps); levels: k = floor(u N),
 *                       at most N - 1); LOGNORMAL: normal element
 *                       SCORESDE_RNG_OFFSET(SCORESDE_RNG_TIME, 1);
 *   the noise z:        normal elements SCORESDE_RNG_OFFSET(SCORESDE_RNG_PERTURB, j),
 *                       j < D (as scoresde_sde_perturb with draw 0);
 *   probe m, element j: SCORESDE_RNG_OFFSET(SCORESDE_RNG_PROBE, m D + j):
 *                       RADEMACHER -1 if the uniform element is below 1/2, else
 *                       +1; GAUSSIAN the normal element; SPHERE the normal
 *                       elements of the probe scaled to norm sqrt(D).
 * So values do not depend on how a run is split into batches, and the loss
 * code sums in a fixed order: the thread count never changes a bit.
 *
 * Thread safety: a configured loss is read-only in scoresde_loss_eval and
 * the getters; any number of threads may evaluate or read one loss at once.
 * The setters and scoresde_loss_free must not run concurrently with anything
 * on that loss.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SCORESDE_LOSS_H
#define SCORESDE_LOSS_H

#include "common.h"
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An opaque loss configuration. */
typedef struct scoresde_loss scoresde_loss;

/** Kinds of loss (values frozen). */
typedef enum scoresde_loss_kind_t {
    SCORESDE_LOSS_ESM = 1,
    SCORESDE_LOSS_ISM = 2,
    SCORESDE_LOSS_SSM = 3,
    SCORESDE_LOSS_SSM_VR = 4,
    SCORESDE_LOSS_DSM = 5,
    SCORESDE_LOSS_SMLD = 6,
    SCORESDE_LOSS_DDPM = 7
} scoresde_loss_kind_t;

/**
 * Settings (ids frozen), integer (scoresde_loss_set_int / get_int) or double
 * (scoresde_loss_set_double / get_double): the functions of the other type
 * refuse an id. Each entry gives the type, the inclusive bounds
 * (scoresde_loss_bounds) and the default (scoresde_loss_default).
 */
typedef enum scoresde_loss_setting_t {
    /** int, SCORESDE_LOSS_TIME_* in [0, 4]; default DATA for ESM, ISM, SSM
     *  and SSM_VR, UNIFORM for DSM, SMLD and DDPM (which ignore it: they draw levels) */
    SCORESDE_LOSS_TIME_MODE = 1,
    /** int, SCORESDE_LOSS_WEIGHT_* in [0, 4]; default SIGMA2. USER needs the
     *  hook (scoresde_loss_set_weight_fn, which also selects it) */
    SCORESDE_LOSS_WEIGHTING = 2,
    /** int, SCORESDE_LOSS_REDUCE_* in [0, 1]; default MEAN */
    SCORESDE_LOSS_REDUCTION = 3,
    /** int, SCORESDE_LOSS_PROBE_* in [0, 2]; default RADEMACHER (SSM, SSM_VR) */
    SCORESDE_LOSS_PROBE = 4,
    /** int, M probes per sample in [1, 65536]; default 1 */
    SCORESDE_LOSS_NUM_PROBES = 5,
    /** int, N levels of SMLD/DDPM in [2, 2^24]; default 1000 */
    SCORESDE_LOSS_LEVELS = 6,
    /** double, smallest time of UNIFORM/LOGNORMAL in [0, 1e300], or NaN:
     *  the SDE's training eps (scoresde_sde_training_eps); default NaN */
    SCORESDE_LOSS_EPS = 7,
    /** double, the time of the FIXED and DATA modes, any finite value
     *  (bounds [-DBL_MAX, DBL_MAX]; evaluation refuses one outside [0, T]); default 0 */
    SCORESDE_LOSS_FIXED_TIME = 8,
    /** double, EDM log-normal mean, any finite value; default -1.2 */
    SCORESDE_LOSS_P_MEAN = 9,
    /** double, EDM log-normal std, finite and > 0 (bounds [DBL_TRUE_MIN,
     *  DBL_MAX], the smallest positive double); default 1.2 */
    SCORESDE_LOSS_P_STD = 10,
    /** double, EDM sigma_data, finite and > 0 (bounds as P_STD); default 0.5 */
    SCORESDE_LOSS_SIGMA_DATA = 11
} scoresde_loss_setting_t;

/** Time modes. */
typedef enum scoresde_loss_time_mode_t {
    SCORESDE_LOSS_TIME_DATA = 0,
    SCORESDE_LOSS_TIME_UNIFORM = 1,
    SCORESDE_LOSS_TIME_LOGNORMAL = 2,
    SCORESDE_LOSS_TIME_FIXED = 3,
    SCORESDE_LOSS_TIME_IMPORTANCE = 4
} scoresde_loss_time_mode_t;

/** Weightings lambda(t). */
typedef enum scoresde_loss_weighting_t {
    SCORESDE_LOSS_WEIGHT_SIGMA2 = 0,
    SCORESDE_LOSS_WEIGHT_G2 = 1,
    SCORESDE_LOSS_WEIGHT_UNIFORM = 2,
    SCORESDE_LOSS_WEIGHT_EDM = 3,
    SCORESDE_LOSS_WEIGHT_USER = 4
} scoresde_loss_weighting_t;

/** Reductions over dimensions. */
typedef enum scoresde_loss_reduction_t {
    SCORESDE_LOSS_REDUCE_MEAN = 0,
    SCORESDE_LOSS_REDUCE_HALF_SUM = 1
} scoresde_loss_reduction_t;

/** Probe distributions (all with E[v v^T] = I). */
typedef enum scoresde_loss_probe_t {
    SCORESDE_LOSS_PROBE_RADEMACHER = 0,
    SCORESDE_LOSS_PROBE_GAUSSIAN = 1,
    SCORESDE_LOSS_PROBE_SPHERE = 2
} scoresde_loss_probe_t;

/**
 * A user weight: w_out[i] = lambda(t[i]) >= 0 for i < n. Return 0, or non-zero
 * to stop (the evaluation then returns SCORESDE_ECALLBACK). A negative or
 * non-finite weight makes the evaluation return SCORESDE_ENUMERIC.
 */
typedef int (*scoresde_loss_weight_fn)(const double *t, size_t n, double *w_out, void *user);

/**
 * Create a loss of the given kind with every setting at its default
 * (scoresde_loss_default(kind, setting): see scoresde_loss_setting_t).
 * Returns SCORESDE_OK, SCORESDE_EINVAL (out NULL or an unknown kind, naming
 * it; *out is set to NULL when out is not NULL) or SCORESDE_ENOMEM.
 * Free with scoresde_loss_free. Thread-safe.
 */
SCORESDE_API int scoresde_loss_create(scoresde_loss **out, int kind);

/** Free a loss (not the reference model it borrows). NULL is accepted. */
SCORESDE_API void scoresde_loss_free(scoresde_loss *loss);

/** The loss's kind, or 0 for NULL. Thread-safe. */
SCORESDE_API int scoresde_loss_kind(const scoresde_loss *loss);

/**
 * The public name of a loss kind (1.1; the form of scoresde/common.h's Names:
 * "ssm_vr" for SCORESDE_LOSS_SSM_VR), static storage; NULL for an unknown
 * kind, without recording an error. Kinds run from 1 with no gaps.
 * Thread-safe.
 */
SCORESDE_API const char *scoresde_loss_kind_name(int kind);

/**
 * The kind named `name` into *kind (1.1). SCORESDE_EINVAL for a NULL name or
 * kind, or a name that is not a kind's (the message lists them). Thread-safe.
 */
SCORESDE_API int scoresde_loss_kind_id(const char *name, int *kind);

/**
 * Set an integer setting (scoresde_loss_setting_t) to a value within its
 * bounds. WEIGHTING = USER also needs the hook installed
 * (scoresde_loss_set_weight_fn). Returns SCORESDE_OK or SCORESDE_EINVAL
 * (loss NULL; an unknown id or a double setting's id; a value out of bounds;
 * the message names the setting and the value); on failure nothing changes.
 * Not thread-safe on the same loss.
 */
SCORESDE_API int scoresde_loss_set_int(scoresde_loss *loss, int setting, int64_t value);

/**
 * Set a double setting (scoresde_loss_setting_t) to a value within its
 * bounds; EPS also takes NaN (the SDE's training eps). Returns SCORESDE_OK or
 * SCORESDE_EINVAL (loss NULL; an unknown id or an integer setting's id; a
 * value out of bounds, infinities and NaN included; the message names the
 * setting and the value); on failure nothing changes. Not thread-safe on
 * the same loss.
 */
SCORESDE_API int scoresde_loss_set_double(scoresde_loss *loss, int setting, double value);

/**
 * Read an integer setting into *value. Returns SCORESDE_OK or SCORESDE_EINVAL
 * (loss or value NULL; an unknown id or a double setting's id). Thread-safe
 * (concurrent readers of one loss; not with its setters).
 */
SCORESDE_API int scoresde_loss_get_int(const scoresde_loss *loss, int setting, int64_t *value);

/**
 * Read a double setting into *value (NaN for EPS when the SDE's is used).
 * Returns SCORESDE_OK or SCORESDE_EINVAL (loss or value NULL; an unknown id
 * or an integer setting's id). Thread-safe as scoresde_loss_get_int.
 */
SCORESDE_API int scoresde_loss_get_double(const scoresde_loss *loss, int setting,
                                          double *value);

/**
 * The inclusive bounds of a setting, as doubles for either type, and whether
 * it is an integer setting (*is_int 1 or 0); any output may be NULL. EPS also
 * takes NaN, which its bounds do not express. Returns SCORESDE_OK or
 * SCORESDE_EINVAL (unknown id). Thread-safe.
 */
SCORESDE_API int scoresde_loss_bounds(int setting, double *lower, double *upper, int *is_int);

/**
 * The value (as a double) a new loss of `kind` starts with for `setting`:
 * the defaults listed in scoresde_loss_setting_t (only TIME_MODE depends on
 * the kind). Returns SCORESDE_OK or SCORESDE_EINVAL (value NULL, unknown kind
 * or id). Thread-safe.
 */
SCORESDE_API int scoresde_loss_default(int kind, int setting, double *value);

/**
 * The public name of a setting (1.1; the form of scoresde/common.h's Names:
 * "num_probes" for SCORESDE_LOSS_NUM_PROBES), static storage; NULL for an
 * unknown id, without recording an error. Ids run from 1 with no gaps.
 * Thread-safe.
 */
SCORESDE_API const char *scoresde_loss_setting_name(int setting);

/**
 * The id of the setting named `name` into *setting (1.1). SCORESDE_EINVAL
 * for a NULL name or setting, or a name that is not a loss setting's.
 * Thread-safe.
 */
SCORESDE_API int scoresde_loss_setting_id(const char *name, int *setting);

/**
 * The public name of value `value` of an enum-valued setting (1.1; TIME_MODE,
 * WEIGHTING, REDUCTION, PROBE: "lognormal" for SCORESDE_LOSS_TIME_LOGNORMAL,
 * "half_sum" for SCORESDE_LOSS_REDUCE_HALF_SUM), static storage; NULL for
 * another setting or a value outside its bounds, without recording an
 * error. Thread-safe.
 */
SCORESDE_API const char *scoresde_loss_value_name(int setting, int value);

/**
 * The value named `name` of an enum-valued setting into *value (1.1).
 * SCORESDE_EINVAL for a NULL name or value, an unknown setting, a setting
 * without named values, or a name that is not one of its values (the
 * message lists them). Thread-safe.
 */
SCORESDE_API int scoresde_loss_value_id(int setting, const char *name, int *value);

/**
 * The reference model of ESM (borrowed: it must outlive the evaluations; the
 * loss does not free it). Its dimension must match the data's at evaluation
 * (SCORESDE_EDIM). NULL clears it. Returns SCORESDE_OK or SCORESDE_EINVAL
 * (loss NULL). Not thread-safe on the same loss.
 */
SCORESDE_API int scoresde_loss_set_reference(scoresde_loss *loss, const scoresde_model *reference);

/**
 * The weight hook of SCORESDE_LOSS_WEIGHT_USER (also selects that weighting).
 * Returns SCORESDE_OK or SCORESDE_EINVAL (loss or fn NULL). `user` is the
 * caller's to keep alive. Not thread-safe on the same loss.
 */
SCORESDE_API int scoresde_loss_set_weight_fn(scoresde_loss *loss, scoresde_loss_weight_fn fn,
                                             void *user);

/**
 * Evaluate the loss on the batch x0 (n x D) for `model`.
 * *value receives the batch loss (required); per_sample (n values) the values
 * w_i Q_i when not NULL. When grad is not NULL the gradient of the batch loss
 * with respect to the model's parameters is ADDED to grad (count values, count
 * = scoresde_model_num_params), through scoresde_model_score_backward and,
 * for ISM/SSM/SSM_VR, scoresde_model_probe_backward (ISM with the D axis
 * probes, which is the exact trace); for an MLP model the probe terms and
 * their backward come from one pass instead, with the same bits. grad NULL
 * requires count 0.
 * The call allocates a workspace of O(n D) doubles (O(n D^2) for the ISM
 * gradient of a model other than an MLP), freed before it returns.
 * Randomness: see the top of this header.
 *
 * Returns SCORESDE_OK; SCORESDE_EINVAL (NULL argument, n or D zero, x0 with a
 * non-finite entry: the message names the first bad row and column; ESM
 * without a reference; DATA mode for DSM; a time outside [0, T]);
 * SCORESDE_EDIM (D differs from the model's or the reference's, count differs
 * from the parameter count); SCORESDE_EUNSUPPORTED (gradient of a model
 * without parameters, ISM for a model without an exact divergence, DDPM on a
 * non-VP SDE, LOGNORMAL on a non-EDM SDE, an SDE without a Gaussian marginal
 * for a perturbed mode); SCORESDE_ECALLBACK (a hook failed); SCORESDE_ENUMERIC
 * (a non-finite loss value, naming the sample, or a bad user weight);
 * SCORESDE_ENOMEM. On failure *value and per_sample are unspecified and grad
 * may hold partial sums. Thread-safe (see above); the model's own rules apply.
 */
SCORESDE_API int scoresde_loss_eval(const scoresde_loss *loss, const scoresde_model *model,
                                    const double *x0, size_t n, size_t D, uint64_t seed,
                                    uint64_t first_sample, double *value, double *per_sample,
                                    double *grad, size_t count);

/**
 * scoresde_loss_eval for a conditional model (1.1; scoresde/common.h's
 * conventions list): sample i is scored as s(x_i, t_i | c_i). Every kind
 * perturbs x only, never c: the times, noise and probes drawn are those of
 * scoresde_loss_eval, so sample i's value depends on its own x0, condition
 * and stream only. An ESM reference model that takes the same condition
 * (same C and classes) gets it too; an unconditional reference gets none;
 * another is SCORESDE_EDIM. cond NULL is scoresde_loss_eval. Errors: those
 * of scoresde_loss_eval and of the condition. Thread-safe as
 * scoresde_loss_eval.
 */
SCORESDE_API int scoresde_loss_eval_cond(const scoresde_loss *loss, const scoresde_model *model,
                                         const double *x0, size_t n, size_t D,
                                         const scoresde_cond *cond, uint64_t seed,
                                         uint64_t first_sample, double *value,
                                         double *per_sample, double *grad, size_t count);

#ifdef __cplusplus
}
#endif

#endif /* SCORESDE_LOSS_H */
