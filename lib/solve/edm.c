/*
 * The EDM sampler (Karras et al. 2022, Algorithm 2): Heun steps in the
 * noise-to-signal ratio r = sigma/alpha with x_edm = x / alpha (so VP-type
 * SDEs work too), stochastic churn, and the final step to r = 0, which is the
 * denoiser itself (Euler from r to 0 gives x + (0 - r)(x - D)/r = D).
 * Its denoiser, start and end (sd_edm_*) serve iPNDM (ipndm.c) and Restart
 * (restart.c) too.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <string.h>

#include "solve_internal.h"

static int edm_prepare(sd_run *run)
{
    return sd_solve_need_sigma(run, "the EDM sampler");
}

static size_t edm_ws(const sd_run *run)
{
    return 5 * run->D;
}

static size_t edm_state(const sd_run *run)
{
    return 0;
}

/* D(x_edm; r) = predict_data(alpha(t) x_edm, t) at one time t for the block. */
int sd_edm_denoise(sd_block *b, const double *xe, double t, double alpha, double sigma,
                       double *xs, double *out)
{
    size_t nD = b->n * b->run->D;
    for (size_t e = 0; e < nD; e++)
        xs[e] = alpha * xe[e];
    for (size_t i = 0; i < b->n; i++)
        b->t[i] = t;
    SD_TRY(sd_solve_model_data(b, xs, b->t, out));
    SD_TRY(sd_solve_guide_data(b, xs, alpha, sigma, out));
    b->nfe++;
    return SCORESDE_OK;
}

/* The Heun step from level `from` to `to` (ws: 3 n D doubles). */
int sd_edm_heun(sd_block *b, const double *xh, const sd_edm_level *from, const sd_edm_level *to,
                double *ws)
{
    size_t nD = b->n * b->run->D;
    double *xs = ws, *den = xs + nD, *d = den + nD;
    SD_TRY(sd_edm_denoise(b, xh, from->t, from->alpha, from->sigma, xs, den));
    double dt = to->r - from->r;
    for (size_t e = 0; e < nD; e++) {
        d[e] = (xh[e] - den[e]) / from->r;
        b->x[e] = xh[e] + dt * d[e];
    }
    SD_TRY(sd_edm_denoise(b, b->x, to->t, to->alpha, to->sigma, xs, den));
    for (size_t e = 0; e < nD; e++) {
        double d2 = (b->x[e] - den[e]) / to->r;
        b->x[e] = xh[e] + dt * 0.5 * (d[e] + d2);
    }
    return SCORESDE_OK;
}

int sd_edm_init(sd_block *b)
{
    const sd_run *r = b->run;
    size_t nD = b->n * r->D;
    for (size_t e = 0; e < nD; e++)
        b->x[e] /= r->alpha[0];
    return SCORESDE_OK;
}

int sd_edm_step(sd_block *b, size_t k)
{
    const sd_run *r = b->run;
    const scoresde_sampler *s = r->s;
    size_t nD = b->n * r->D;
    /* workspace: x_hat, z, then the Heun step's three vectors */
    double *xh = b->ws, *z = xh + nD, *hw = z + nD;
    double t = r->grid[k], u = r->grid[k + 1];
    double si = r->sigma[k] / r->alpha[k], sn = r->sigma[k + 1] / r->alpha[k + 1];
    b->t_now = t;
    double churn = s->opt[SCORESDE_SAMPLER_S_CHURN], gamma = 0.0;
    if (churn > 0.0 && si >= s->opt[SCORESDE_SAMPLER_S_TMIN] &&
        si <= s->opt[SCORESDE_SAMPLER_S_TMAX])
        gamma = fmin(churn / (double)(r->N + 1), sqrt(2.0) - 1.0);
    double shat = si, that = t, ahat = r->alpha[k], sghat = r->sigma[k];
    if (gamma > 0.0) {
        /* The raised noise level must stay within the SDE's [0, T]. */
        double T = scoresde_sde_end_time(r->sde), rT;
        SD_TRY(sd_solve_ratio_at(r->sde, T, &rT));
        shat = fmin(si * (1.0 + gamma), rT);
        if (shat > si) {
            SD_TRY(sd_solve_time_of_ratio(r->sde, shat, t, T, &that));
            SD_TRY(scoresde_sde_marginal(r->sde, &that, 1, &ahat, &sghat, NULL, NULL));
            shat = sghat / ahat;
        } else {
            shat = si;
        }
    }
    if (shat > si) {
        sd_solve_noise(b, k, z);
        double c = sqrt(shat * shat - si * si) * s->opt[SCORESDE_SAMPLER_S_NOISE];
        for (size_t e = 0; e < nD; e++)
            xh[e] = b->x[e] + c * z[e];
    } else {
        memcpy(xh, b->x, nD * sizeof(double));
    }
    const sd_edm_level from = {that, ahat, sghat, shat};
    const sd_edm_level to = {u, r->alpha[k + 1], r->sigma[k + 1], sn};
    SD_TRY(sd_edm_heun(b, xh, &from, &to, hw));
    b->t_now = u;
    b->accepted += b->n;
    if (k + 1 == r->N)
        b->done = 1;
    return SCORESDE_OK;
}

/* The last step to r = 0 (DENOISE), or back to x = alpha x_edm at eps. */
int sd_edm_finish(sd_block *b)
{
    const sd_run *r = b->run;
    size_t nD = b->n * r->D, N = r->N;
    double f;
    SD_TRY(sd_solve_final_factor(r, &f));
    if (f == 0.0) {
        for (size_t e = 0; e < nD; e++)
            b->x[e] *= r->alpha[N];
        return SCORESDE_OK;
    }
    double *xs = b->ws, *den = xs + nD;
    SD_TRY(sd_edm_denoise(b, b->x, r->grid[N], r->alpha[N], r->sigma[N], xs, den));
    for (size_t e = 0; e < nD; e++)
        b->x[e] = f * den[e];
    return SCORESDE_OK;
}

/* Karras et al.'s 18 noise levels on their grid: 17 Heun steps and the final step. */
const sd_method_default sd_edm_defaults[] = {{SCORESDE_SAMPLER_GRID, SCORESDE_SAMPLER_GRID_KARRAS},
                                             {SCORESDE_SAMPLER_STEPS, 17},
                                             {0, 0}};

const sd_method_ops sd_method_edm = {
    .name = "EDM",
    .key = "edm",
    .method = SCORESDE_SAMPLER_EDM,
    .defaults = sd_edm_defaults,
    .reads = SD_READS_CHURN | SD_READS_FINAL | SD_READS_DATA,
    .prepare = edm_prepare,
    .ws_doubles = edm_ws,
    .state_doubles = edm_state,
    .init = sd_edm_init,
    .step = sd_edm_step,
    .finish = sd_edm_finish,
};
