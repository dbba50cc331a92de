/*
 * Importance sampling of times for the likelihood weighting g^2 (Song et al.
 * 2021, "Maximum likelihood training of score-based diffusion models").
 * For an SDE with a Gaussian marginal, g^2 = d sigma^2/dt - 2 (alpha'/alpha)
 * sigma^2, so g^2 / sigma^2 = d/dt ln r^2 with r = sigma / alpha: the
 * proposal p(t) proportional to g^2 / sigma^2 on [eps, T] is uniform in ln r,
 * with normaliser Z = 2 ln(r(T) / r(eps)). Drawing ln r uniformly and
 * inverting r by bisection covers every SDE with a marginal at once.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>

#include "internal.h"
#include "sde_internal.h"

static int log_ratio(const scoresde_sde *sde, double t, double *lr)
{
    double a, sg;
    SD_TRY(scoresde_sde_marginal(sde, &t, 1, &a, &sg, NULL, NULL));
    *lr = log(sg / a);
    if (!isfinite(*lr))
        return sd_fail(SCORESDE_EINVAL,
                       "importance-sampled times need 0 < sigma/alpha < inf; at t = %g it is %g",
                       t, sg / a);
    return SCORESDE_OK;
}

int sd_sde_importance_prepare(const scoresde_sde *sde, double eps, double T,
                              sd_importance *out)
{
    SD_TRY(log_ratio(sde, eps, &out->lr_eps));
    SD_TRY(log_ratio(sde, T, &out->lr_T));
    if (!(out->lr_T > out->lr_eps))
        return sd_fail(SCORESDE_EINVAL,
                       "importance-sampled times need sigma/alpha increasing from eps (%g) to T (%g)",
                       eps, T);
    out->eps = eps;
    out->T = T;
    out->Z = 2.0 * (out->lr_T - out->lr_eps);
    out->sde = sde;
    return SCORESDE_OK;
}

int sd_sde_importance_time(const sd_importance *is, double u, double *t)
{
    double target = is->lr_eps + u * (is->lr_T - is->lr_eps);
    double lo = is->eps, hi = is->T;
    /* The shared bisection (level.c), exact to the last bit. */
    SD_TRY(sd_sde_level_bracket(is->sde, log_ratio, target, &lo, &hi));
    *t = hi;
    return SCORESDE_OK;
}
