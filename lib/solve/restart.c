/*
 * Restart sampling (Xu, Deng, Cheng, Tian, Liu and Jaakkola 2023, "Restart
 * sampling for improving generative processes"): the EDM sampler's Heun
 * steps of the probability-flow ODE in r = sigma/alpha with x_edm = x/alpha
 * (edm.c) on the main grid, and at the grid point j nearest RESTART_TMIN
 * (r_j = r_min) K = RESTART_K restarts: each adds the forward noise that
 * carries the state from r_min back up to r_max = RESTART_TMAX, then
 * integrates back down to r_j with RESTART_STEPS Heun steps of its own.
 *
 * The jump is the SDE's own transition: for a linear SDE with marginal
 * x_t = alpha_t x_0 + sigma_t z, x_u given x_s (u > s) is Gaussian with mean
 * (alpha_u/alpha_s) x_s and variance sigma_u^2 - (alpha_u/alpha_s)^2 sigma_s^2,
 * which in x_edm is x_edm + sqrt(r_u^2 - r_s^2) z: an exact state of p_s
 * becomes an exact state of p_u.
 *
 * The restart levels are Karras's between r_max and r_min with RHO,
 * r_m = (r_max^(1/rho) + (m/M)(r_min^(1/rho) - r_max^(1/rho)))^rho,
 * m = 0..M (M = RESTART_STEPS), the first at r_max itself and the last the
 * grid point j; each level's time is found by bisection (to the last bit),
 * and r is then sigma/alpha at that time. They are computed again in every
 * block, from the settings only, so the result does not depend on the
 * blocks. Noise of restart i (i = 0..K-1): draw N + i (N = STEPS; the main
 * steps' churn uses draws 0..N-1).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <string.h>

#include "solve_internal.h"

static double tmin_distance(const sd_run *r, size_t k)
{
    return fabs(r->sigma[k] / r->alpha[k] - r->s->opt[SCORESDE_SAMPLER_RESTART_TMIN]);
}

/* The main grid point (1..N) whose r is nearest RESTART_TMIN (the first of
 * equals): where the restarts start and end. */
static size_t restart_index(const sd_run *r)
{
    size_t best = 1;
    double dbest = INFINITY;
    for (size_t k = 1; k <= r->N; k++) {
        double dk = tmin_distance(r, k);
        if (dk < dbest) {
            dbest = dk;
            best = k;
        }
    }
    return best;
}

/* Level m (0..M) of the restart interval ending at grid point j. */
static int restart_level(const sd_run *r, size_t j, size_t m, sd_edm_level *lv)
{
    size_t M = sd_opt_size(r->s, SCORESDE_SAMPLER_RESTART_STEPS);
    if (m == M) {
        *lv = (sd_edm_level){r->grid[j], r->alpha[j], r->sigma[j], r->sigma[j] / r->alpha[j]};
        return SCORESDE_OK;
    }
    double rmax = r->s->opt[SCORESDE_SAMPLER_RESTART_TMAX], target = rmax;
    if (m > 0) {
        double rho = r->s->opt[SCORESDE_SAMPLER_RHO], rmin = r->sigma[j] / r->alpha[j];
        double a = pow(rmax, 1.0 / rho), b = pow(rmin, 1.0 / rho);
        target = pow(a + ((double)m / (double)M) * (b - a), rho);
    }
    double t;
    SD_TRY(sd_solve_time_of_ratio(r->sde, target, r->grid[j], scoresde_sde_end_time(r->sde), &t));
    double al, sg;
    SD_TRY(scoresde_sde_marginal(r->sde, &t, 1, &al, &sg, NULL, NULL));
    *lv = (sd_edm_level){t, al, sg, sg / al};
    return SCORESDE_OK;
}

static int restart_prepare(sd_run *run)
{
    SD_TRY(sd_solve_need_sigma(run, "the Restart sampler"));
    const scoresde_sampler *s = run->s;
    if (sd_opt_size(s, SCORESDE_SAMPLER_RESTART_K) == 0)
        return SCORESDE_OK; /* the EDM sampler, whatever the unused settings */
    double tmin = s->opt[SCORESDE_SAMPLER_RESTART_TMIN];
    double tmax = s->opt[SCORESDE_SAMPLER_RESTART_TMAX];
    size_t K = sd_opt_size(s, SCORESDE_SAMPLER_RESTART_K);
    size_t M = sd_opt_size(s, SCORESDE_SAMPLER_RESTART_STEPS);
    if (!(tmin < tmax))
        return sd_fail(SCORESDE_EINVAL,
                       "the Restart sampler needs RESTART_TMIN (%g) below RESTART_TMAX (%g)",
                       tmin, tmax);
    double rT = run->sigma[0] / run->alpha[0];
    if (!(tmax <= rT))
        return sd_fail(SCORESDE_EINVAL,
                       "RESTART_TMAX (%g) is above sigma/alpha at the grid's first time t = %g "
                       "(%g): the restarts must stay within the run",
                       tmax, run->grid[0], rT);
    /* the steps of a sample: N main steps and K M restart steps */
    double steps = (double)run->N + (double)K * (double)M;
    double max_steps = s->opt[SCORESDE_SAMPLER_MAX_STEPS];
    if (steps > max_steps)
        return sd_fail(SCORESDE_EINVAL,
                       "the Restart sampler would take %.0f steps (STEPS %zu + RESTART_K %zu x "
                       "RESTART_STEPS %zu), more than MAX_STEPS (%.0f)",
                       steps, run->N, K, M, max_steps);
    size_t j = restart_index(run);
    double rmin = run->sigma[j] / run->alpha[j];
    if (!(rmin < tmax))
        return sd_fail(SCORESDE_EINVAL,
                       "the grid point nearest RESTART_TMIN (%g), sigma/alpha = %g at t[%zu] = "
                       "%g, is not below RESTART_TMAX (%g)",
                       tmin, rmin, j, run->grid[j], tmax);
    /* the restart levels must decrease strictly (enough resolution in t) */
    sd_edm_level prev, lv;
    SD_TRY(restart_level(run, j, 0, &prev));
    for (size_t m = 1; m <= M; m++) {
        SD_TRY(restart_level(run, j, m, &lv));
        if (!(lv.t < prev.t && lv.r < prev.r))
            return sd_fail(SCORESDE_EINVAL,
                           "the restart levels do not decrease at level %zu of %zu (t = %g): too "
                           "many RESTART_STEPS for the interval [%g, %g]",
                           m, M, lv.t, rmin, tmax);
        prev = lv;
    }
    return SCORESDE_OK;
}

static size_t restart_ws(const sd_run *run)
{
    return 5 * run->D;
}

static size_t restart_state(const sd_run *run)
{
    (void)run;
    return 0;
}

/* x_edm += c z, z the sampler noise of draw number `draw` (restart.c's jump
 * from r_min to r_max: c = sqrt(r_max^2 - r_min^2)); z: n D scratch. */
void sd_restart_jump(sd_block *b, uint64_t draw, double c, double *z)
{
    size_t nD = b->n * b->run->D;
    sd_solve_noise(b, draw, z);
    for (size_t e = 0; e < nD; e++)
        b->x[e] += c * z[e];
}

/* Whether grid point j is restart_index's: the full scan only where j is a
 * local minimum of the distance of the kind restart_index picks (strictly
 * nearer than j - 1, no farther than j + 1), so a run costs O(N). */
static int is_restart_point(const sd_run *r, size_t j)
{
    double d = tmin_distance(r, j);
    if (j > 1 && !(d < tmin_distance(r, j - 1)))
        return 0;
    if (j < r->N && tmin_distance(r, j + 1) < d)
        return 0;
    return restart_index(r) == j;
}

static int restart_step(sd_block *b, size_t k)
{
    SD_TRY(sd_edm_step(b, k));
    const sd_run *r = b->run;
    size_t K = sd_opt_size(r->s, SCORESDE_SAMPLER_RESTART_K);
    if (K == 0 || !is_restart_point(r, k + 1))
        return SCORESDE_OK;
    size_t j = k + 1, M = sd_opt_size(r->s, SCORESDE_SAMPLER_RESTART_STEPS);
    size_t nD = b->n * r->D;
    double *xh = b->ws, *z = xh + nD, *hw = z + nD;
    sd_edm_level top, from, to;
    SD_TRY(restart_level(r, j, 0, &top));
    double rmin = r->sigma[j] / r->alpha[j], c = sqrt(top.r * top.r - rmin * rmin);
    for (size_t i = 0; i < K; i++) {
        sd_restart_jump(b, (uint64_t)r->N + i, c, z);
        from = top;
        for (size_t m = 1; m <= M; m++) {
            SD_TRY(restart_level(r, j, m, &to));
            b->t_now = from.t;
            memcpy(xh, b->x, nD * sizeof *xh);
            SD_TRY(sd_edm_heun(b, xh, &from, &to, hw));
            b->accepted += b->n;
            from = to;
        }
    }
    b->t_now = r->grid[j];
    return SCORESDE_OK;
}

const sd_method_ops sd_method_restart = {
    .name = "Restart",
    .key = "restart",
    .method = SCORESDE_SAMPLER_RESTART,
    .defaults = sd_edm_defaults,
    .reads = SD_READS_CHURN | SD_READS_FINAL | SD_READS_DATA | SD_SETTING_BIT(RESTART_K) |
             SD_SETTING_BIT(RESTART_TMIN) | SD_SETTING_BIT(RESTART_TMAX) |
             SD_SETTING_BIT(RESTART_STEPS) | SD_SETTING_BIT(MAX_STEPS),
    .prepare = restart_prepare,
    .ws_doubles = restart_ws,
    .state_doubles = restart_state,
    .init = sd_edm_init,
    .step = restart_step,
    .finish = sd_edm_finish,
};
