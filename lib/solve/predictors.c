/*
 * PC predictors: one table row per predictor (formulas in sampler.h and
 * docs/math.md section 5). Each moves a block from grid time t_k to t_{k+1}.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>

#include "solve_internal.h"

static int pred_none(sd_block *b, size_t k, uint64_t draw)
{
    return SCORESDE_OK;
}

/* Euler-Maruyama on the lam family dx = [f - (1 + lam^2)/2 g^2 s] dt + lam g dw. */
static int pred_euler_maruyama(sd_block *b, size_t k, uint64_t draw)
{
    const sd_run *r = b->run;
    size_t D = r->D, nD = b->n * D;
    double *score = b->ws, *z = score + nD, *drift = z + nD;
    double t = r->grid[k], h = t - r->grid[k + 1];
    double lam = r->s->opt[SCORESDE_SAMPLER_LAM], g;
    SD_TRY(sd_solve_score_at(b, b->x, t, score));
    SD_TRY(scoresde_sde_reverse_drift(r->sde, b->x, b->t, score, b->n, D, lam, drift));
    SD_TRY(scoresde_sde_diffusion(r->sde, &t, 1, &g));
    sd_solve_noise(b, draw, z);
    double c = lam * g * sqrt(h);
    for (size_t e = 0; e < nD; e++)
        b->x[e] = b->x[e] - h * drift[e] + c * z[e];
    return SCORESDE_OK;
}

/* Reverse of the exact-ratio forward step x_t = r x_u + G z from u to t. */
static int pred_reverse_diffusion(sd_block *b, size_t k, uint64_t draw)
{
    const sd_run *r = b->run;
    size_t nD = b->n * r->D;
    double *score = b->ws, *z = score + nD;
    double at = r->alpha[k], st = r->sigma[k], au = r->alpha[k + 1], su = r->sigma[k + 1];
    double ratio = at / au, G2 = st * st - ratio * ratio * su * su;
    if (G2 < 0.0)
        G2 = 0.0; /* round-off on a flat stretch of the schedule */
    SD_TRY(sd_solve_score_at(b, b->x, r->grid[k], score));
    sd_solve_noise(b, draw, z);
    double G = sqrt(G2);
    for (size_t e = 0; e < nD; e++)
        b->x[e] = (2.0 - ratio) * b->x[e] + G2 * score[e] + G * z[e];
    return SCORESDE_OK;
}

/* The Gaussian posterior p(x_u | x_t, x_0 = x0_hat) (DDPM, general form). */
static int pred_ancestral(sd_block *b, size_t k, uint64_t draw)
{
    const sd_run *r = b->run;
    size_t nD = b->n * r->D;
    double *score = b->ws, *z = score + nD;
    double at = r->alpha[k], st = r->sigma[k], au = r->alpha[k + 1], su = r->sigma[k + 1];
    double a = at / au, st2 = st * st, su2 = su * su;
    double v = st2 - a * a * su2;
    if (v < 0.0)
        v = 0.0;
    double cx = a * su2 / st2, c0 = au * v / st2, sd = sqrt(v * su2 / st2);
    SD_TRY(sd_solve_score_at(b, b->x, r->grid[k], score));
    sd_solve_noise(b, draw, z);
    for (size_t e = 0; e < nD; e++) {
        double x0 = (b->x[e] + st2 * score[e]) / at;
        b->x[e] = cx * b->x[e] + c0 * x0 + sd * z[e];
    }
    return SCORESDE_OK;
}

static const sd_predictor_ops predictor_table[] = {
    {"none", SCORESDE_SAMPLER_PREDICTOR_NONE, 0, 0, pred_none},
    {"Euler-Maruyama", SCORESDE_SAMPLER_PREDICTOR_EULER_MARUYAMA, 0, 1, pred_euler_maruyama},
    {"reverse diffusion", SCORESDE_SAMPLER_PREDICTOR_REVERSE_DIFFUSION, 1, 1,
     pred_reverse_diffusion},
    {"ancestral", SCORESDE_SAMPLER_PREDICTOR_ANCESTRAL, 1, 1, pred_ancestral},
};

const sd_predictor_ops *sd_predictor_find(int id)
{
    for (size_t i = 0; i < sizeof predictor_table / sizeof predictor_table[0]; i++)
        if (predictor_table[i].id == id)
            return &predictor_table[i];
    return NULL;
}
