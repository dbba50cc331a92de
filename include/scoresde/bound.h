/*
 * libscoresde: the variational bound on the negative log-likelihood of the
 * reverse-time SDE, and a report of likelihood figures term by term.
 *
 * The bound (Song, Durkan, Murray and Ermon 2021; Huang, Lim and Courville
 * 2021), for a data point x_0 (the model's input) and an SDE with a Gaussian
 * marginal alpha(t), sigma(t), on [eps, T] (EPS as for likelihoods: NaN is the
 * SDE's training eps):
 *   -ln p(x_0) <= PRIOR + SCORE + BOUNDARY, where
 *   PRIOR    = E[-ln pi(x_T)], x_T ~ N(alpha_T x_0, sigma_T^2 I), in closed
 *              form for the prior N(0, v I): D/2 ln(2 pi v)
 *              + (alpha_T^2 |x_0|^2 + D sigma_T^2) / (2 v);
 *   SCORE    = 1/2 int_eps^T g^2 E|s(x_t, t) + z / sigma_t|^2 dt,
 *              x_t = alpha_t x_0 + sigma_t z, z ~ N(0, I);
 *   BOUNDARY = D ln(sigma_eps / (alpha_eps sigma_T)).
 * p is the density of x_0 = x_eps / alpha_eps + (sigma_eps / alpha_eps) w,
 * w ~ N(0, I), with x_eps drawn by the model's reverse SDE from pi (the
 * Gaussian decoder whose bound has this BOUNDARY); the guide's page 12
 * derives it. SCORE is estimated with BOUND_DRAWS = M draws (t, z) per point:
 *   UNIFORM     t = eps + (T - eps) u, term (T - eps) g^2 |sigma s + z|^2 / (2 sigma^2);
 *   IMPORTANCE  t with density (g^2 / sigma^2) / Z, Z = 2 ln(r(T) / r(eps)),
 *               r = sigma / alpha (uniform in ln r, inverted by bisection),
 *               term Z |sigma s + z|^2 / 2.
 * Randomness: point i (stream first_sample + i under seed), draw m, with
 * E = D rounded up to even and P = E + 2: u at offset
 * SCORESDE_RNG_OFFSET(SCORESDE_RNG_BOUND, m P), z at
 * SCORESDE_RNG_OFFSET(SCORESDE_RNG_BOUND, m P + 2 + j), j < D (whole Philox
 * blocks, so u and z never share one).
 * Results are bit-reproducible and do not depend on BLOCK or on how the
 * points are split into calls. The model is evaluated in batches of BLOCK
 * points on the calling thread (THREADS is not used).
 *
 * Thread safety: both calls only read the sampler and the model.
 */
#ifndef SCORESDE_BOUND_H
#define SCORESDE_BOUND_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "model.h"
#include "sampler.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Report kinds (values frozen). */
typedef enum scoresde_report_kind_t {
    SCORESDE_REPORT_ODE = 1,  /**< the probability-flow likelihood (ODE method) */
    SCORESDE_REPORT_BOUND = 2 /**< the variational bound (any method) */
} scoresde_report_kind_t;

/** Columns of a report row, in nats unless named otherwise (values frozen). */
typedef enum scoresde_report_column_t {
    SCORESDE_REPORT_PRIOR = 0,    /**< -ln pi(x_T) (ODE) or PRIOR (bound) */
    SCORESDE_REPORT_FLOW = 1,     /**< -(integrated divergence) (ODE) or SCORE (bound) */
    SCORESDE_REPORT_BOUNDARY = 2, /**< 0 (ODE) or BOUNDARY (bound) */
    SCORESDE_REPORT_DEQUANT = 3,  /**< D (bits ln 2 - ln DATA_SCALE) */
    SCORESDE_REPORT_TOTAL = 4,    /**< ((PRIOR + FLOW) + BOUNDARY) + DEQUANT, exactly */
    SCORESDE_REPORT_BPD = 5,      /**< TOTAL / (D ln 2), bits per dimension */
    SCORESDE_REPORT_STDERR = 6,   /**< standard error of TOTAL (Monte Carlo), or NaN */
    SCORESDE_REPORT_COLUMNS = 7   /**< the number of columns */
} scoresde_report_column_t;

/**
 * The variational bound on -ln p(x_i) (see the top of this header) for n
 * points x (n x D, finite; D the model's dimension, else SCORESDE_EDIM):
 * nll[i] (nats) and, if stderr_out is not NULL, its Monte-Carlo standard
 * error (the sample standard deviation of the M terms over sqrt(M); NaN for
 * M = 1). terms (n x 3, or NULL) receives PRIOR, SCORE and BOUNDARY, with
 * nll[i] = (PRIOR + SCORE) + BOUNDARY exactly. Bits per dimension:
 * nll / (D ln 2), or scoresde_sampler_report for discrete data.
 * Any method's sampler works; the settings used are EPS, BOUND_DRAWS,
 * BOUND_TIME and BLOCK.
 * SCORESDE_EINVAL for a NULL s, model, x or nll, n or D zero, non-finite x,
 * eps not in (0, T) with sigma(eps) > 0, IMPORTANCE where sigma/alpha is not
 * increasing from eps to T, or M P above 2^56 (the offsets' limit);
 * SCORESDE_EUNSUPPORTED for an SDE without a Gaussian marginal;
 * SCORESDE_ENUMERIC for a non-finite score; SCORESDE_ENOMEM; the model's
 * errors. Thread-safe.
 */
SCORESDE_API int scoresde_sampler_bound(const scoresde_sampler *s, const scoresde_model *model,
                                        const double *x, size_t n, size_t D, uint64_t seed,
                                        uint64_t first_sample, double *nll, double *stderr_out,
                                        double *terms);

/**
 * A likelihood report: for each of n data points x (n x D) a row of
 * `columns` doubles in terms (n x columns; columns >= 1, the first `columns`
 * of scoresde_report_column_t are written, up to SCORESDE_REPORT_COLUMNS).
 * The model sees y = DATA_SCALE v + DATA_SHIFT with
 *   DEQUANT_BITS = b = 0: v = x (continuous data);
 *   b > 0: x holds integers in [0, 2^b - 1] and v = (x + u) / 2^b, u uniform
 *          on [0, 1)^D, K = DEQUANT_DRAWS draws per point (uniform
 *          dequantisation: -ln P(x) <= E_u[-ln p(y)] + DEQUANT).
 * Each column is the mean over the K draws of the kind's per-draw figure:
 * ODE, -ln p(y) = PRIOR + FLOW by scoresde_sampler_likelihood (its settings,
 * seed and first_sample); BOUND, scoresde_sampler_bound's terms.
 * STDERR: for K > 1 the sample standard deviation of the K per-draw totals
 * over sqrt(K); for K = 1 the bound's standard error (BOUND), 0 for the ODE
 * with the exact divergence, NaN with a Hutchinson estimate.
 * Randomness (point i: stream first_sample + i): with b > 0, draw k uses
 * u at offsets SCORESDE_RNG_OFFSET(SCORESDE_RNG_BOUND, k S + j), j < D,
 * S = E + M P, M = BOUND_DRAWS (E, P as above), and a BOUND report's time
 * draws of draw k start at offset k S + E (in place of 0); with b = 0 a BOUND report
 * is scoresde_sampler_bound's, bit for bit. stats (or NULL) as for
 * sampling: nfe is the ODE's largest, or K M for BOUND; t_final is T.
 * SCORESDE_EINVAL for NULL s, model, x or terms, an unknown kind, columns 0
 * or above SCORESDE_REPORT_COLUMNS, x not finite (b = 0) or not an integer in
 * range (b > 0, naming the entry), K S above 2^56, a stats struct_size below
 * the first layout; otherwise the errors of scoresde_sampler_likelihood
 * (ODE) or scoresde_sampler_bound (BOUND). Thread-safe.
 */
SCORESDE_API int scoresde_sampler_report(const scoresde_sampler *s, const scoresde_model *model,
                                         int kind, const double *x, size_t n, size_t D,
                                         uint64_t seed, uint64_t first_sample, double *terms,
                                         size_t columns, scoresde_sampler_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* SCORESDE_BOUND_H */
