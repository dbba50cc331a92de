/*
 * The predictor-corrector method: at each grid time, the corrector steps,
 * then the predictor (score_sde's order); optional Tweedie denoising at eps.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "solve_internal.h"

/* The run's context: the rows of PREDICTOR and CORRECTOR and, when
 * inpainting, the known coordinates. */
typedef struct pc_ctx {
    const sd_predictor_ops *p;
    const sd_corrector_ops *c;
    const unsigned char *mask; /* D flags (non-zero = known), or NULL: sampling */
    const double *known;       /* n x D values for the call */
} pc_ctx;

void sd_pc_set_known(sd_run *run, const unsigned char *mask, const double *known)
{
    pc_ctx *pc = run->ctx;
    pc->mask = mask;
    pc->known = known;
}

static int pc_prepare(sd_run *run)
{
    const scoresde_sampler *s = run->s;
    pc_ctx *pc = run->ctx;
    const sd_predictor_ops *p = sd_predictor_find(sd_opt_int(s, SCORESDE_SAMPLER_PREDICTOR));
    const sd_corrector_ops *c = sd_corrector_find(sd_opt_int(s, SCORESDE_SAMPLER_CORRECTOR));
    if (run->alpha == NULL && pc->mask != NULL)
        return sd_fail(SCORESDE_EUNSUPPORTED,
                       "inpainting needs the SDE's Gaussian marginal, which this SDE lacks");
    if (run->alpha == NULL) {
        int noise_level =
            c->id == SCORESDE_SAMPLER_CORRECTOR_LANGEVIN &&
            sd_opt_int(s, SCORESDE_SAMPLER_BATCH_NORMS) == SCORESDE_SAMPLER_NORMS_NOISE_LEVEL;
        const char *need = p->needs_marginal   ? p->name
                           : c->needs_marginal ? c->name
                           : noise_level       ? "the Langevin step rule BATCH_NORMS = NOISE_LEVEL"
                           : sd_opt_int(s, SCORESDE_SAMPLER_FINAL_STEP) ? "FINAL_STEP (DENOISE)"
                                                                     : NULL;
        if (need != NULL)
            return sd_fail(SCORESDE_EUNSUPPORTED,
                           "%s needs the SDE's Gaussian marginal, which this SDE lacks", need);
    }
    /* The sampler noise and the inpainting noise (one draw more, the start)
     * each count their offsets within their own purpose, which holds 2^56
     * (see sampler.h and rng.h). */
    uint64_t C = sd_opt_size(s, SCORESDE_SAMPLER_CORRECTOR_STEPS);
    double draws = ((double)run->N * (double)(C + 1) + 1.0) * (double)run->D;
    if (draws > 0x1p56)
        return sd_fail(SCORESDE_EINVAL,
                       "the run needs %g noise draws per sample ((STEPS x (CORRECTOR_STEPS + 1) "
                       "+ 1) x D), more than the 2^56 the offsets of a purpose allow",
                       draws);
    pc->p = p;
    pc->c = c;
    return SCORESDE_OK;
}

static size_t pc_ws(const sd_run *run)
{
    return SD_PC_WS * run->D;
}

static size_t pc_state(const sd_run *run)
{
    return 0;
}

/* Inpainting (score_sde's replacement): known coordinates become
 * alpha(t_k) y + sigma(t_k) z with fresh noise from offsets
 * SCORESDE_RNG_OFFSET(INPAINT, d D + j) for draw d. */

static void pc_impose(sd_block *b, size_t k, uint64_t d)
{
    const sd_run *r = b->run;
    const pc_ctx *pc = r->ctx;
    if (pc->mask == NULL)
        return;
    size_t D = r->D;
    double *z = b->ws + b->n * D; /* the noise buffer, free between updates */
    for (size_t i = 0; i < b->n; i++)
        sd_rng_normal(r->seed, r->first + b->i0 + i,
                      SCORESDE_RNG_OFFSET(SCORESDE_RNG_INPAINT, d * D), D, z + i * D);
    double a = r->alpha[k], sg = r->sigma[k];
    for (size_t i = 0; i < b->n; i++) {
        const double *y = pc->known + (b->i0 + i) * D;
        for (size_t j = 0; j < D; j++)
            if (pc->mask[j])
                b->x[i * D + j] = a * y[j] + sg * z[i * D + j];
    }
}

static int pc_init(sd_block *b)
{
    /* the start: draw number N (C + 1), the first one no step uses */
    uint64_t C = sd_opt_size(b->run->s, SCORESDE_SAMPLER_CORRECTOR_STEPS);
    pc_impose(b, 0, (uint64_t)b->run->N * (C + 1));
    return SCORESDE_OK;
}

static int pc_step(sd_block *b, size_t k)
{
    const sd_run *r = b->run;
    const pc_ctx *pc = r->ctx;
    const sd_predictor_ops *p = pc->p;
    const sd_corrector_ops *c = pc->c;
    uint64_t C = sd_opt_size(r->s, SCORESDE_SAMPLER_CORRECTOR_STEPS);
    uint64_t base = (uint64_t)k * (C + 1);
    b->t_now = r->grid[k];
    for (uint64_t j = 0; j < C; j++) {
        SD_TRY(c->step(b, k, base + j));
        pc_impose(b, k, base + j);
    }
    SD_TRY(p->step(b, k, base + C));
    pc_impose(b, k + 1, base + C);
    b->t_now = r->grid[k + 1];
    b->accepted += b->n;
    if (k + 1 == r->N)
        b->done = 1;
    return SCORESDE_OK;
}

/* The known coordinates end exactly at their values. */
static void pc_known_exact(sd_block *b)
{
    const sd_run *r = b->run;
    const pc_ctx *pc = r->ctx;
    if (pc->mask == NULL)
        return;
    for (size_t i = 0; i < b->n; i++)
        for (size_t j = 0; j < r->D; j++)
            if (pc->mask[j])
                b->x[i * r->D + j] = pc->known[(b->i0 + i) * r->D + j];
}

/* Tweedie: E[x_0 | x_eps] = (x + sigma^2 s) / alpha. */
static int pc_finish(sd_block *b)
{
    const sd_run *r = b->run;
    double f;
    SD_TRY(sd_solve_final_factor(r, &f));
    if (f == 0.0) {
        pc_known_exact(b);
        return SCORESDE_OK;
    }
    size_t nD = b->n * r->D;
    double *score = b->ws;
    double a = r->alpha[r->N], sg = r->sigma[r->N];
    SD_TRY(sd_solve_score_at(b, b->x, r->grid[r->N], score));
    for (size_t e = 0; e < nD; e++)
        b->x[e] = f * ((b->x[e] + sg * sg * score[e]) / a);
    pc_known_exact(b);
    return SCORESDE_OK;
}

const sd_method_ops sd_method_pc = {
    .name = "PC",
    .key = "pc",
    .method = SCORESDE_SAMPLER_PC,
    .reads = SD_SETTING_BIT(PREDICTOR) | SD_SETTING_BIT(CORRECTOR) |
             SD_SETTING_BIT(CORRECTOR_STEPS) | SD_SETTING_BIT(SNR) |
             SD_SETTING_BIT(BATCH_NORMS) | SD_SETTING_BIT(LAM) | SD_SETTING_BIT(ALD_STEP) |
             SD_READS_FINAL,
    .ctx_size = sizeof(pc_ctx),
    .prepare = pc_prepare,
    .ws_doubles = pc_ws,
    .state_doubles = pc_state,
    .init = pc_init,
    .step = pc_step,
    .finish = pc_finish,
};
