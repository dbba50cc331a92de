/*
 * The EDM sampler (Karras et al. 2022, Algorithm 2): Heun steps in the
 * noise-to-signal ratio r = sigma/alpha with x_edm = x / alpha (so VP-type
 * SDEs work too), stochastic churn, and the final step to r = 0, which is the
 * denoiser itself (Euler from r to 0 gives x + (0 - r)(x - D)/r = D).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <string.h>

#include "solve_internal.h"

static int edm_prepare(sd_run *run)
{
    if (run->alpha == NULL)
        return sd_fail(SCORESDE_EUNSUPPORTED,
                       "the EDM sampler needs the SDE's Gaussian marginal, which this SDE lacks");
    for (size_t k = 0; k <= run->N; k++)
        if (!(run->sigma[k] > 0.0))
            return sd_fail(SCORESDE_EINVAL,
                           "the EDM sampler needs sigma > 0 on the grid; sigma(t[%zu] = %g) = %g",
                           k, run->grid[k], run->sigma[k]);
    return SCORESDE_OK;
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
static int edm_denoise(sd_block *b, const double *xe, double t, double alpha, double sigma,
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

static int edm_init(sd_block *b)
{
    const sd_run *r = b->run;
    size_t nD = b->n * r->D;
    for (size_t e = 0; e < nD; e++)
        b->x[e] /= r->alpha[0];
    return SCORESDE_OK;
}

static int edm_step(sd_block *b, size_t k)
{
    const sd_run *r = b->run;
    const scoresde_sampler *s = r->s;
    size_t nD = b->n * r->D;
    double *xs = b->ws, *den = xs + nD, *xh = den + nD, *d = xh + nD, *z = d + nD;
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
    SD_TRY(edm_denoise(b, xh, that, ahat, sghat, xs, den));
    double dt = sn - shat;
    for (size_t e = 0; e < nD; e++) {
        d[e] = (xh[e] - den[e]) / shat;
        b->x[e] = xh[e] + dt * d[e];
    }
    SD_TRY(edm_denoise(b, b->x, u, r->alpha[k + 1], r->sigma[k + 1], xs, den));
    for (size_t e = 0; e < nD; e++) {
        double d2 = (b->x[e] - den[e]) / sn;
        b->x[e] = xh[e] + dt * 0.5 * (d[e] + d2);
    }
    b->t_now = u;
    b->accepted += b->n;
    if (k + 1 == r->N)
        b->done = 1;
    return SCORESDE_OK;
}

/* The last step to r = 0 (DENOISE), or back to x = alpha x_edm at eps. */
static int edm_finish(sd_block *b)
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
    SD_TRY(edm_denoise(b, b->x, r->grid[N], r->alpha[N], r->sigma[N], xs, den));
    for (size_t e = 0; e < nD; e++)
        b->x[e] = f * den[e];
    return SCORESDE_OK;
}

const sd_method_ops sd_method_edm = {
    "EDM", SCORESDE_SAMPLER_EDM, edm_prepare, edm_ws, edm_state, edm_init, edm_step, edm_finish,
};
