/*
 * The SDE module's private interface, for the model-file format and the tests.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SD_SDE_INTERNAL_H
#define SD_SDE_INTERNAL_H

#include <stddef.h>

#include "scoresde.h"

/* The kind and parameters of a built-in SDE (VE, VP, SUBVP, COSINE, EDM, OU),
 * enough to rebuild it; EUNSUPPORTED for SCHEDULE and CUSTOM (hooks).
 * Parameters by kind: VE and EDM {sigma_min, sigma_max}; VP and SUBVP
 * {beta_min, beta_max}; COSINE {s, T}; OU {theta, s, T}. */
int sd_sde_describe(const scoresde_sde *sde, int *kind, double params[8], size_t *count);

/* Rebuild a built-in SDE from sd_sde_describe's output; EINVAL for a wrong
 * count, an unknown kind or invalid parameters (the creators' checks). */
int sd_sde_from_description(int kind, const double *params, size_t count, scoresde_sde **out);

/* Importance sampling of times with density p(t) = (g^2 / sigma^2) / Z on
 * [eps, T], Z = 2 ln(r(T) / r(eps)), r = sigma / alpha (importance.c). */
typedef struct sd_importance {
    const scoresde_sde *sde;
    double eps, T;
    double lr_eps, lr_T; /* ln r at eps and T */
    double Z;            /* g^2 / (sigma^2 p(t)), the same for every t */
} sd_importance;

/* EUNSUPPORTED without a marginal; EINVAL unless 0 < r(eps) < r(T) < inf. */
int sd_sde_importance_prepare(const scoresde_sde *sde, double eps, double T,
                              sd_importance *out);
/* The time with CDF value u in [0, 1]: ln r(t) = ln r(eps) + u ln(r(T)/r(eps)). */
int sd_sde_importance_time(const sd_importance *is, double u, double *t);

/* A noise level of an SDE at time t (for example sigma/alpha or its
 * logarithm), increasing in t; non-zero (an error code it recorded) where it
 * cannot be evaluated. */
typedef int (*sd_sde_level_fn)(const scoresde_sde *sde, double t, double *v);

/* Bisection for the time where level(t) reaches target within [*lo, *hi]:
 * the midpoint 0.5 (lo + hi) replaces lo where level < target and hi
 * otherwise, until no double lies strictly between them; the final bracket
 * is written back (adjacent doubles; the caller picks its point). Every
 * level evaluation's error is returned as it is. */
int sd_sde_level_bracket(const scoresde_sde *sde, sd_sde_level_fn level, double target,
                         double *lo, double *hi);

#endif /* SD_SDE_INTERNAL_H */
