/*
 * iPNDM (Zhang and Chen 2023), the Adams-Bashforth multistep method on the
 * EDM sampler's ODE dx_edm/dr = (x_edm - D(x_edm; r)) / r, with that
 * sampler's denoiser, start and end (edm.c's sd_edm_denoise, sd_edm_init and
 * sd_edm_finish). With d_k = (x_edm - D(x_edm; r_k)) / r_k at grid point k
 * (the noise prediction), x_edm += (r_{k+1} - r_k) sum_j c_pj d_{k-j}, with the
 * Adams-Bashforth weights of constant steps, c_1 = 1, c_2 = (3, -1)/2,
 * c_3 = (23, -16, 5)/12, c_4 = (55, -59, 37, -9)/24, at order
 * p = min(ORDER, k + 1) (the warm-up; then LOWER_ORDER_FINAL and the
 * step-ratio guard, in lambda: in r it fired on the first steps of every
 * Karras and power grid, where r falls fastest, and cost accuracy). One
 * evaluation per step. State: d_{k-1..k-3}.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>

#include "solve_internal.h"

static size_t ipndm_ws(const sd_run *run)
{
    return 2 * run->D;
}

static size_t ipndm_state(const sd_run *run)
{
    return 3 * run->D;
}

static int ipndm_prepare(sd_run *run)
{
    return sd_solve_need_sigma(run, "the iPNDM sampler");
}

static double r_of(const sd_run *r, size_t k)
{
    return r->sigma[k] / r->alpha[k];
}

static int ipndm_step(sd_block *b, size_t k)
{
    static const double c[4][4] = {{1.0, 0, 0, 0},
                                   {3.0 / 2.0, -1.0 / 2.0, 0, 0},
                                   {23.0 / 12.0, -16.0 / 12.0, 5.0 / 12.0, 0},
                                   {55.0 / 24.0, -59.0 / 24.0, 37.0 / 24.0, -9.0 / 24.0}};
    const sd_run *r = b->run;
    size_t D = r->D, nD = b->n * D, N = r->N;
    double *xs = b->ws, *den = xs + nD;
    b->t_now = r->grid[k];
    SD_TRY(sd_edm_denoise(b, b->x, r->grid[k], r->alpha[k], r->sigma[k], xs, den));
    size_t p = sd_solve_multistep_order(r, k, sd_opt_size(r->s, SCORESDE_SAMPLER_ORDER), sd_solve_lambda);
    double rk = r_of(r, k), dr = r_of(r, k + 1) - rk;
    for (size_t i = 0; i < b->n; i++) {
        double *x = b->x + i * D, *h1 = b->state + i * 3 * D, *h2 = h1 + D, *h3 = h2 + D;
        const double *dn = den + i * D;
        for (size_t j = 0; j < D; j++) {
            double d0 = (x[j] - dn[j]) / rk;
            double v = c[p - 1][0] * d0;
            if (p >= 2)
                v += c[p - 1][1] * h1[j];
            if (p >= 3)
                v += c[p - 1][2] * h2[j];
            if (p >= 4)
                v += c[p - 1][3] * h3[j];
            x[j] += dr * v;
            h3[j] = h2[j];
            h2[j] = h1[j];
            h1[j] = d0;
        }
    }
    b->t_now = r->grid[k + 1];
    b->accepted += b->n;
    if (k + 1 == N)
        b->done = 1;
    return SCORESDE_OK;
}

const sd_method_ops sd_method_ipndm = {
    .name = "iPNDM",
    .key = "ipndm",
    .method = SCORESDE_SAMPLER_IPNDM,
    .defaults = (const sd_method_default[]){{SCORESDE_SAMPLER_GRID, SCORESDE_SAMPLER_GRID_KARRAS},
                                           {SCORESDE_SAMPLER_STEPS, 10},
                                           {SCORESDE_SAMPLER_ORDER, 4},
                                           {0, 0}},
    .reads = SD_READS_MULTISTEP | SD_READS_FINAL | SD_READS_DATA,
    .prepare = ipndm_prepare,
    .ws_doubles = ipndm_ws,
    .state_doubles = ipndm_state,
    .init = sd_edm_init,
    .step = ipndm_step,
    .finish = sd_edm_finish,
};
