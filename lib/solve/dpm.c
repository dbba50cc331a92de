/*
 * DPM-Solver++ multistep (Lu et al. 2022, arXiv:2211.01095), data prediction,
 * orders 1-3, in lambda = ln(alpha/sigma) (formulas in MATH.md section 5).
 * Warm-up: step k (from 0) uses at most order k + 1, except that 3M takes
 * its first step with the singlestep DPM-Solver++(2S) (see dpm_first_2s).
 * With fewer than 15
 * steps the last steps use lower orders too (order <= N - k), as the
 * reference implementations do for short runs (lower_order_final).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <string.h>

#include "solve_internal.h"

static int dpm_prepare(sd_run *run)
{
    if (run->alpha == NULL)
        return sd_fail(SCORESDE_EUNSUPPORTED,
                       "DPM-Solver++ needs the SDE's Gaussian marginal, which this SDE lacks");
    for (size_t k = 0; k <= run->N; k++)
        if (!(run->sigma[k] > 0.0))
            return sd_fail(SCORESDE_EINVAL,
                           "DPM-Solver++ needs sigma > 0 on the grid; sigma(t[%zu] = %g) = %g", k,
                           run->grid[k], run->sigma[k]);
    return SCORESDE_OK;
}

static size_t dpm_ws(const sd_run *run)
{
    return 3 * run->D;
}

static size_t dpm_state(const sd_run *run)
{
    return 2 * run->D; /* the two previous data predictions */
}

static double lam_at(const sd_run *r, size_t k)
{
    return log(r->alpha[k] / r->sigma[k]);
}

/* DPM-Solver++(2S) (Lu et al. 2022, Algorithm 1, r = 1/2) for the first
 * step of 3M: a one-step warm-up of local order 3, so the first step does not
 * cap the global order at 2 as an order-1 start would (one extra NFE).
 * m0 is the data prediction at t_0; the result replaces b->x. */
static int dpm_first_2s(sd_block *b, const double *m0)
{
    const sd_run *r = b->run;
    size_t D = r->D, nD = b->n * D;
    double *xm = b->ws + nD, *mm = xm + nD;
    double ls = lam_at(r, 0), h = lam_at(r, 1) - ls;
    double tm, am, sm, T = r->grid[0];
    /* the time where lambda = ls + h/2, i.e. sigma/alpha = exp(-(ls + h/2)) */
    SD_TRY(sd_solve_time_of_ratio(r->sde, exp(-(ls + 0.5 * h)), r->grid[1], T, &tm));
    SD_TRY(scoresde_sde_marginal(r->sde, &tm, 1, &am, &sm, NULL, NULL));
    double ratio_m = sm / r->sigma[0], cm = -am * expm1(-0.5 * h);
    for (size_t e = 0; e < nD; e++)
        xm[e] = ratio_m * b->x[e] + cm * m0[e];
    for (size_t i = 0; i < b->n; i++)
        b->t[i] = tm;
    SD_TRY(scoresde_model_predict_data(r->model, xm, b->t, b->n, D, mm));
    SD_TRY(sd_solve_guide_data(b, xm, am, sm, mm));
    b->nfe++;
    double ratio = r->sigma[1] / r->sigma[0], c = -r->alpha[1] * expm1(-h);
    for (size_t e = 0; e < nD; e++)
        b->x[e] = ratio * b->x[e] + c * mm[e];
    return SCORESDE_OK;
}

static int dpm_step(sd_block *b, size_t k)
{
    const sd_run *r = b->run;
    size_t D = r->D, N = r->N;
    double *m0 = b->ws;
    b->t_now = r->grid[k];
    for (size_t i = 0; i < b->n; i++)
        b->t[i] = r->grid[k];
    SD_TRY(scoresde_model_predict_data(r->model, b->x, b->t, b->n, D, m0));
    SD_TRY(sd_solve_guide_data(b, b->x, r->alpha[k], r->sigma[k], m0));
    b->nfe++;
    size_t want = sd_opt_size(r->s, SCORESDE_SAMPLER_ORDER), order = want;
    if (order > k + 1)
        order = k + 1;
    if (N < 15 && order > N - k)
        order = N - k;
    int single = k == 0 && want == 3 && N > 1;
    double h = lam_at(r, k + 1) - lam_at(r, k), phi1 = expm1(-h);
    double at = r->alpha[k + 1], ratio = r->sigma[k + 1] / r->sigma[k];
    double c1 = -at * phi1, c2 = 0.0, c3 = 0.0, r0 = 1.0, r1 = 1.0;
    if (order >= 2)
        r0 = (lam_at(r, k) - lam_at(r, k - 1)) / h;
    if (order == 2)
        c2 = -0.5 * at * phi1;
    if (order == 3) {
        r1 = (lam_at(r, k - 1) - lam_at(r, k - 2)) / h;
        double phi2 = phi1 / h + 1.0, phi3 = phi2 / h - 0.5;
        c2 = at * phi2;
        c3 = -at * phi3;
    }
    if (single)
        SD_TRY(dpm_first_2s(b, m0));
    for (size_t i = 0; i < b->n; i++) {
        double *x = b->x + i * D, *m1 = b->state + i * 2 * D, *m2 = m1 + D;
        const double *mm = m0 + i * D;
        for (size_t j = 0; j < D; j++) {
            if (!single) {
                double v = ratio * x[j] + c1 * mm[j];
                if (order == 2) {
                    v += c2 * (mm[j] - m1[j]) / r0;
                } else if (order == 3) {
                    double d10 = (mm[j] - m1[j]) / r0, d11 = (m1[j] - m2[j]) / r1;
                    /* d2 = h^2 m'' (see sampler.h: twice MATH.md's D2) */
                    double d1 = d10 + r0 / (r0 + r1) * (d10 - d11);
                    double d2 = 2.0 * (d10 - d11) / (r0 + r1);
                    v += c2 * d1 + c3 * d2;
                }
                x[j] = v;
            }
            m2[j] = m1[j];
            m1[j] = mm[j];
        }
    }
    b->t_now = r->grid[k + 1];
    b->accepted += b->n;
    if (k + 1 == N)
        b->done = 1;
    return SCORESDE_OK;
}

/* Optional Tweedie denoising at eps. */
static int dpm_finish(sd_block *b)
{
    const sd_run *r = b->run;
    if (!sd_opt_int(r->s, SCORESDE_SAMPLER_DENOISE))
        return SCORESDE_OK;
    size_t nD = b->n * r->D;
    for (size_t i = 0; i < b->n; i++)
        b->t[i] = r->grid[r->N];
    SD_TRY(scoresde_model_predict_data(r->model, b->x, b->t, b->n, r->D, b->ws));
    SD_TRY(sd_solve_guide_data(b, b->x, r->alpha[r->N], r->sigma[r->N], b->ws));
    b->nfe++;
    memcpy(b->x, b->ws, nD * sizeof(double));
    return SCORESDE_OK;
}

const sd_method_ops sd_method_dpmpp = {
    "DPM-Solver++", SCORESDE_SAMPLER_DPMPP, dpm_prepare, dpm_ws, dpm_state, NULL, dpm_step,
    dpm_finish,
};
