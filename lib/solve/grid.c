/*
 * Time grids: eps, the built-in GRID kinds (uniform in t, Karras, log-SNR,
 * power) or the caller's array, r = sigma/alpha and its inverse, and a run's
 * grid with its marginal.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <string.h>

#include "sde_internal.h"
#include "solve_internal.h"

int sd_solve_eps(const scoresde_sampler *s, const scoresde_sde *sde, double *eps)
{
    double T = scoresde_sde_end_time(sde);
    double e = s->opt[SCORESDE_SAMPLER_EPS];
    if (isnan(e))
        e = scoresde_sde_sampling_eps(sde);
    if (!(e < T))
        return sd_fail(SCORESDE_EINVAL, "eps (%g) is not below the SDE's end time T (%g)", e, T);
    if (s->grid != NULL && !(s->grid[0] <= T))
        return sd_fail(SCORESDE_EINVAL, "the grid starts at t[0] = %g, after the SDE's T (%g)",
                       s->grid[0], T);
    *eps = e;
    return SCORESDE_OK;
}

/* r(t) = sigma(t) / alpha(t), the noise-to-signal ratio (EDM's sigma). */
int sd_solve_ratio_at(const scoresde_sde *sde, double t, double *r)
{
    double a, sg;
    SD_TRY(scoresde_sde_marginal(sde, &t, 1, &a, &sg, NULL, NULL));
    *r = sg / a;
    if (!isfinite(*r))
        return sd_fail(SCORESDE_ENUMERIC, "sigma/alpha at t = %g is not finite", t);
    return SCORESDE_OK;
}

/* The time in [lo, hi] where r(t) = target, r increasing: the shared
 * bisection (lib/sde/level.c) to the last bit, then the midpoint of the
 * final bracket. */
int sd_solve_time_of_ratio(const scoresde_sde *sde, double target, double lo, double hi,
                           double *t)
{
    SD_TRY(sd_sde_level_bracket(sde, sd_solve_ratio_at, target, &lo, &hi));
    *t = 0.5 * (lo + hi);
    return SCORESDE_OK;
}

int sd_solve_grid(const scoresde_sampler *s, const scoresde_sde *sde, double eps, double *t,
                  size_t count)
{
    size_t N = count - 1;
    double T = scoresde_sde_end_time(sde);
    int kind = sd_opt_int(s, SCORESDE_SAMPLER_GRID);
    if (kind == SCORESDE_SAMPLER_GRID_ARRAY) {
        memcpy(t, s->grid, count * sizeof *t);
        return SCORESDE_OK;
    }
    t[0] = T;
    t[N] = eps;
    if (kind == SCORESDE_SAMPLER_GRID_UNIFORM_T) {
        for (size_t k = 1; k < N; k++)
            t[k] = T + ((double)k / (double)N) * (eps - T);
        return SCORESDE_OK;
    }
    if (kind == SCORESDE_SAMPLER_GRID_POWER) {
        double p = s->opt[SCORESDE_SAMPLER_POWER];
        for (size_t k = 1; k < N; k++)
            t[k] = eps + (T - eps) * pow(1.0 - (double)k / (double)N, p);
        for (size_t k = 1; k <= N; k++)
            if (!(t[k] < t[k - 1]))
                return sd_fail(SCORESDE_EINVAL,
                               "the POWER grid is not strictly decreasing at t[%zu] = %g: too "
                               "many steps for POWER = %g",
                               k, t[k], p);
        return SCORESDE_OK;
    }
    double rmax, rmin;
    SD_TRY(sd_solve_ratio_at(sde, T, &rmax));
    SD_TRY(sd_solve_ratio_at(sde, eps, &rmin));
    if (rmin == 0.0) /* a setting, not a numerical failure: EPS = 0 where sigma(0) = 0 */
        return sd_fail(SCORESDE_EINVAL,
                       "the %s grid needs sigma/alpha > 0 at eps, and it is 0 at eps = %g: set "
                       "EPS above 0 (or NaN, the SDE's sampling eps)",
                       kind == SCORESDE_SAMPLER_GRID_KARRAS ? "KARRAS" : "LOGSNR", eps);
    if (!(rmin > 0.0 && rmax > rmin))
        return sd_fail(SCORESDE_ENUMERIC,
                       "sigma/alpha must increase from eps to T for this grid; it is %g at "
                       "eps = %g and %g at T = %g",
                       rmin, eps, rmax, T);
    double rho = s->opt[SCORESDE_SAMPLER_RHO];
    for (size_t k = 1; k < N; k++) {
        double f = (double)k / (double)N, r;
        if (kind == SCORESDE_SAMPLER_GRID_KARRAS) {
            double a = pow(rmax, 1.0 / rho), b = pow(rmin, 1.0 / rho);
            r = pow(a + f * (b - a), rho);
        } else { /* LOGSNR: uniform in ln r = -lambda */
            r = exp(log(rmax) + f * (log(rmin) - log(rmax)));
        }
        SD_TRY(sd_solve_time_of_ratio(sde, r, eps, T, &t[k]));
    }
    for (size_t k = 1; k <= N; k++)
        if (!(t[k] < t[k - 1]))
            return sd_fail(SCORESDE_ENUMERIC,
                           "the grid is not strictly decreasing at t[%zu] = %g (t[%zu] = %g): "
                           "too many steps for the schedule, or sigma/alpha not increasing",
                           k, t[k], k - 1, t[k - 1]);
    return SCORESDE_OK;
}

int scoresde_sampler_times(const scoresde_sampler *s, const scoresde_sde *sde, double *t,
                           size_t count)
{
    SD_TRY(sd_check_ptr(s, "sampler"));
    SD_TRY(sd_check_ptr(sde, "sde"));
    SD_TRY(sd_check_ptr(t, "t"));
    size_t N = sd_opt_size(s, SCORESDE_SAMPLER_STEPS);
    if (count != N + 1)
        return sd_fail(SCORESDE_EINVAL, "count (%zu) is not STEPS + 1 (%zu)", count, N + 1);
    double eps;
    SD_TRY(sd_solve_eps(s, sde, &eps));
    return sd_solve_grid(s, sde, eps, t, count);
}

int sd_solve_setup_grid(sd_run *run, double eps, int reverse, double **buf)
{
    const scoresde_sampler *s = run->s;
    size_t N = sd_opt_size(s, SCORESDE_SAMPLER_STEPS);
    size_t count = N + 1;
    double *g = sd_calloc(3 * count, sizeof(double));
    if (g == NULL)
        return SCORESDE_ENOMEM;
    *buf = g;
    SD_TRY(sd_solve_grid(s, run->sde, eps, g, count));
    if (reverse)
        for (size_t k = 0; k < count / 2; k++) {
            double tmp = g[k];
            g[k] = g[count - 1 - k];
            g[count - 1 - k] = tmp;
        }
    run->N = N;
    run->grid = g;
    run->t_start = g[0];
    run->t_end = g[N];
    int rc = scoresde_sde_marginal(run->sde, g, count, g + count, g + 2 * count, NULL, NULL);
    if (rc == SCORESDE_OK) {
        run->alpha = g + count;
        run->sigma = g + 2 * count;
    } else if (rc != SCORESDE_EUNSUPPORTED) {
        return rc;
    }
    return SCORESDE_OK;
}
