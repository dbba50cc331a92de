/*
 * Stochastic data-prediction samplers on a grid (1.1): DDIM with eta (Song,
 * Meng and Ermon 2021) and the stochastic multistep DPM-Solver++ (Lu et al.
 * 2022, SDE-DPM-Solver++ 2M, and its third-order form), both in the general
 * (alpha, sigma) form with lambda = ln(alpha/sigma). Formulas in sampler.h.
 * Noise of step k: draw k (sd_solve_noise).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>

#include "solve_internal.h"

/* The data prediction m (guided) at grid point k into out; nfe += 1. */
static int data_at(sd_block *b, size_t k, double *out)
{
    const sd_run *r = b->run;
    for (size_t i = 0; i < b->n; i++)
        b->t[i] = r->grid[k];
    SD_TRY(sd_solve_model_data(b, b->x, b->t, out));
    SD_TRY(sd_solve_guide_data(b, b->x, r->alpha[k], r->sigma[k], out));
    b->nfe++;
    return SCORESDE_OK;
}

static void step_done(sd_block *b, size_t k)
{
    b->t_now = b->run->grid[k + 1];
    b->accepted += b->n;
    if (k + 1 == b->run->N)
        b->done = 1;
}

/* Tweedie or nothing at eps (FINAL_STEP), as DPM-Solver++. */
static int sde_finish(sd_block *b)
{
    const sd_run *r = b->run;
    double f;
    SD_TRY(sd_solve_final_factor(r, &f));
    if (f == 0.0)
        return SCORESDE_OK;
    double *m = b->ws;
    SD_TRY(data_at(b, r->N, m));
    for (size_t e = 0; e < b->n * r->D; e++)
        b->x[e] = f * m[e];
    return SCORESDE_OK;
}

/* ------------------------------------------------------------------ DDIM
 * From t = t_k to s = t_{k+1}, h = lambda_s - lambda_t, m = m(x, t),
 * e = (x - alpha_t m) / sigma_t:
 *   sigma_eta = ETA sigma_s sqrt(1 - e^(-2h))   (ETA = 1: the posterior's
 *              standard deviation of x_s given x_t and x_0 = m),
 *   x_s = alpha_s m + sqrt(sigma_s^2 - sigma_eta^2) e + sigma_eta z
 * (sigma_eta capped at sigma_s for ETA > 1). */

static int ddim_prepare(sd_run *run)
{
    return sd_solve_need_sigma(run, "DDIM");
}

static size_t ddim_ws(const sd_run *run)
{
    return 2 * run->D;
}

static size_t no_state(const sd_run *run)
{
    (void)run;
    return 0;
}

static int ddim_step(sd_block *b, size_t k)
{
    const sd_run *r = b->run;
    size_t nD = b->n * r->D;
    double *m = b->ws, *z = m + nD;
    b->t_now = r->grid[k];
    SD_TRY(data_at(b, k, m));
    double eta = r->s->opt[SCORESDE_SAMPLER_ETA];
    double at = r->alpha[k], st = r->sigma[k], as = r->alpha[k + 1], ss = r->sigma[k + 1];
    double h = sd_solve_lambda(r, k + 1) - sd_solve_lambda(r, k);
    double se = fmin(eta * ss * sqrt(-expm1(-2.0 * h)), ss);
    double ce = sqrt(ss * ss - se * se) / st;
    if (se > 0.0)
        sd_solve_noise(b, k, z);
    for (size_t e = 0; e < nD; e++) {
        double v = as * m[e] + ce * (b->x[e] - at * m[e]);
        b->x[e] = se > 0.0 ? v + se * z[e] : v;
    }
    step_done(b, k);
    return SCORESDE_OK;
}

const sd_method_ops sd_method_ddim = {
    .name = "DDIM",
    .key = "ddim",
    .method = SCORESDE_SAMPLER_DDIM,
    .defaults = (const sd_method_default[]){{SCORESDE_SAMPLER_GRID, SCORESDE_SAMPLER_GRID_LOGSNR},
                                           {SCORESDE_SAMPLER_STEPS, 50},
                                           {SCORESDE_SAMPLER_ETA, 0},
                                           {SCORESDE_SAMPLER_DENOISE, 0},
                                           {SCORESDE_SAMPLER_FINAL_STEP,
                                            SCORESDE_SAMPLER_FINAL_STOP},
                                           {0, 0}},
    .reads = SD_SETTING_BIT(ETA) | SD_READS_FINAL | SD_READS_DATA,
    .prepare = ddim_prepare,
    .ws_doubles = ddim_ws,
    .state_doubles = no_state,
    .step = ddim_step,
    .finish = sde_finish,
};

/* ---------------------------------------------------- DPM-Solver++ SDE
 * With c = 1 + ETA, the reverse SDE of the family dx = [f - c g^2 s / 2] dt
 * + sqrt(ETA) g dW (ETA = 1: the reverse SDE; 0: the probability-flow ODE)
 * integrated exactly in its linear part, for a data prediction m(lambda)
 * that is a polynomial in lambda:
 *   x_s = (sigma_s/sigma_t) e^(-ETA h) x_t + alpha_s [(1 - e^(-ch)) m
 *         + h phi2(ch) m' + h^2 (-phi3(ch)) m''] + sigma_s sqrt(1 - e^(-2 ETA h)) z,
 *   phi2(y) = 1 + expm1(-y)/y, phi3(y) = phi2(y)/y - 1/2,
 * with m' and m'' from the previous data predictions as in 3M (d1 = h m',
 * d2 = h^2 m''; order 2: d1 = (m_k - m_{k-1})/r0, d2 = 0; order 1: both 0).
 * The first-order step is the exact solution for a constant m (the noise
 * exact in distribution); the higher orders are exact for linear or
 * quadratic m in lambda and otherwise approximations of the data
 * prediction's path, like the deterministic multistep formulas. k-diffusion's
 * dpmpp_2m_sde in its default ("midpoint") form instead weights d1 by
 * (1 - e^(-ch))/2, which matches h phi2(ch) to first order in h only. */

static int dps_prepare(sd_run *run)
{
    SD_TRY(sd_solve_need_sigma(run, "DPM-Solver++ SDE"));
    if (sd_opt_int(run->s, SCORESDE_SAMPLER_ORDER) > 3)
        return sd_fail(SCORESDE_EINVAL, "DPM-Solver++ SDE has ORDER 1 to 3; ORDER = %d",
                       sd_opt_int(run->s, SCORESDE_SAMPLER_ORDER));
    return SCORESDE_OK;
}

static size_t dps_ws(const sd_run *run)
{
    return 2 * run->D;
}

static size_t dps_state(const sd_run *run)
{
    return 2 * run->D; /* m_{k-1}, m_{k-2} */
}

static double phi2(double y)
{
    if (fabs(y) < 1e-4)
        return y * (0.5 - y / 6.0);
    return 1.0 + expm1(-y) / y;
}

static double phi3(double y)
{
    if (fabs(y) < 1e-3)
        return -y * (1.0 / 6.0 - y / 24.0); /* phi2/y - 1/2 */
    return phi2(y) / y - 0.5;
}

static int dps_step(sd_block *b, size_t k)
{
    const sd_run *r = b->run;
    size_t D = r->D, nD = b->n * D;
    double *m = b->ws, *z = m + nD;
    b->t_now = r->grid[k];
    SD_TRY(data_at(b, k, m));
    size_t order = sd_solve_multistep_order(r, k, sd_opt_size(r->s, SCORESDE_SAMPLER_ORDER), sd_solve_lambda);
    double eta = r->s->opt[SCORESDE_SAMPLER_ETA], c = 1.0 + eta;
    double h = sd_solve_lambda(r, k + 1) - sd_solve_lambda(r, k), as = r->alpha[k + 1];
    double cx = r->sigma[k + 1] / r->sigma[k] * exp(-eta * h);
    double c0 = -as * expm1(-c * h), c1 = as * phi2(c * h), c2 = -as * phi3(c * h);
    double cz = r->sigma[k + 1] * sqrt(-expm1(-2.0 * eta * h));
    double r0 = 1.0, r1 = 1.0;
    if (order >= 2)
        r0 = (sd_solve_lambda(r, k) - sd_solve_lambda(r, k - 1)) / h;
    if (order >= 3)
        r1 = (sd_solve_lambda(r, k - 1) - sd_solve_lambda(r, k - 2)) / h;
    if (cz > 0.0)
        sd_solve_noise(b, k, z);
    for (size_t i = 0; i < b->n; i++) {
        double *x = b->x + i * D, *m1 = b->state + i * 2 * D, *m2 = m1 + D;
        const double *mm = m + i * D, *zi = z + i * D;
        for (size_t j = 0; j < D; j++) {
            double v = cx * x[j] + c0 * mm[j];
            if (order == 2) {
                v += c1 * (mm[j] - m1[j]) / r0;
            } else if (order == 3) {
                double d10 = (mm[j] - m1[j]) / r0, d11 = (m1[j] - m2[j]) / r1;
                double d1 = d10 + r0 / (r0 + r1) * (d10 - d11);
                double d2 = 2.0 * (d10 - d11) / (r0 + r1);
                v += c1 * d1 + c2 * d2;
            }
            x[j] = cz > 0.0 ? v + cz * zi[j] : v;
            m2[j] = m1[j];
            m1[j] = mm[j];
        }
    }
    step_done(b, k);
    return SCORESDE_OK;
}

const sd_method_ops sd_method_dpmpp_sde = {
    .name = "DPM-Solver++ SDE",
    .key = "dpmpp_sde",
    .method = SCORESDE_SAMPLER_DPMPP_SDE,
    .defaults = (const sd_method_default[]){{SCORESDE_SAMPLER_GRID, SCORESDE_SAMPLER_GRID_LOGSNR},
                                           {SCORESDE_SAMPLER_STEPS, 20},
                                           {SCORESDE_SAMPLER_ETA, 1},
                                           {SCORESDE_SAMPLER_DENOISE, 0},
                                           {SCORESDE_SAMPLER_FINAL_STEP,
                                            SCORESDE_SAMPLER_FINAL_STOP},
                                           {0, 0}},
    .reads = SD_SETTING_BIT(ETA) | SD_READS_MULTISTEP | SD_READS_FINAL | SD_READS_DATA,
    .prepare = dps_prepare,
    .ws_doubles = dps_ws,
    .state_doubles = dps_state,
    .step = dps_step,
    .finish = sde_finish,
};
