/*
 * PC correctors: one table row per corrector (formulas in sampler.h and
 * docs/math.md section 5). Each takes one step at grid time t_k.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>

#include "solve_internal.h"

static int corr_none(sd_block *b, size_t k, uint64_t draw)
{
    return SCORESDE_OK;
}

static double norm2(const double *v, size_t D)
{
    double s = 0.0;
    for (size_t j = 0; j < D; j++)
        s += v[j] * v[j];
    return sqrt(s);
}

/* score_sde's Langevin corrector with a signal-to-noise ratio. */
static int corr_langevin(sd_block *b, size_t k, uint64_t draw)
{
    const sd_run *r = b->run;
    size_t D = r->D, nD = b->n * D;
    double *score = b->ws, *z = score + nD;
    double snr = r->s->opt[SCORESDE_SAMPLER_SNR];
    /* a = 1 - beta_i of the step into t_k, in the exact ratio form. */
    double a = 1.0;
    if (r->alpha != NULL) {
        double ratio = r->alpha[k] / r->alpha[k + 1];
        a = ratio * ratio;
    }
    SD_TRY(sd_solve_score_at(b, b->x, r->grid[k], score));
    sd_solve_noise(b, draw, z);
    double gbar = 0.0, zbar = 0.0;
    int rule = sd_opt_int(r->s, SCORESDE_SAMPLER_BATCH_NORMS);
    if (rule == SCORESDE_SAMPLER_NORMS_NOISE_LEVEL) {
        /* step = 2 a (snr sigma_t)^2: the per-sample rule with ||z||/||s||
         * replaced by sigma_t, the ratio for a point mass blurred by the
         * marginal's noise (||s|| ~ ||z|| / sigma_t); it depends on neither the
         * sample nor the batch. pc_prepare checked the marginal. */
        double q = snr * r->sigma[k], step = 2.0 * a * q * q, c = sqrt(2.0 * step);
        for (size_t e = 0; e < nD; e++)
            b->x[e] = b->x[e] + step * score[e] + c * z[e];
        return SCORESDE_OK;
    }
    int batch = rule == SCORESDE_SAMPLER_NORMS_BATCH;
    if (batch) { /* mean of the per-sample norms, summed in sample order */
        for (size_t i = 0; i < b->n; i++) {
            gbar += norm2(score + i * D, D);
            zbar += norm2(z + i * D, D);
        }
        gbar /= (double)b->n;
        zbar /= (double)b->n;
    }
    for (size_t i = 0; i < b->n; i++) {
        double gn = batch ? gbar : norm2(score + i * D, D);
        double zn = batch ? zbar : norm2(z + i * D, D);
        double step = 0.0;
        if (gn > 0.0) {
            double q = snr * zn / gn;
            step = 2.0 * a * q * q;
        }
        double c = sqrt(2.0 * step);
        double *x = b->x + i * D;
        const double *s = score + i * D, *zi = z + i * D;
        for (size_t j = 0; j < D; j++)
            x[j] = x[j] + step * s[j] + c * zi[j];
    }
    return SCORESDE_OK;
}

/* NCSN's annealed Langevin dynamics: step = ALD_STEP sigma_k^2 / sigma_N^2. */
static int corr_annealed(sd_block *b, size_t k, uint64_t draw)
{
    const sd_run *r = b->run;
    size_t nD = b->n * r->D;
    double *score = b->ws, *z = score + nD;
    double ratio = r->sigma[k] / r->sigma[r->N];
    double step = r->s->opt[SCORESDE_SAMPLER_ALD_STEP] * ratio * ratio;
    SD_TRY(sd_solve_score_at(b, b->x, r->grid[k], score));
    sd_solve_noise(b, draw, z);
    double c = sqrt(step);
    for (size_t e = 0; e < nD; e++)
        b->x[e] = b->x[e] + 0.5 * step * score[e] + c * z[e];
    return SCORESDE_OK;
}

static const sd_corrector_ops corrector_table[] = {
    {"none", SCORESDE_SAMPLER_CORRECTOR_NONE, 0, corr_none},
    {"Langevin", SCORESDE_SAMPLER_CORRECTOR_LANGEVIN, 0, corr_langevin},
    {"annealed Langevin", SCORESDE_SAMPLER_CORRECTOR_ANNEALED, 1, corr_annealed},
};

const sd_corrector_ops *sd_corrector_find(int id)
{
    for (size_t i = 0; i < sizeof corrector_table / sizeof corrector_table[0]; i++)
        if (corrector_table[i].id == id)
            return &corrector_table[i];
    return NULL;
}
