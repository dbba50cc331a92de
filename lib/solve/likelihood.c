/*
 * Log-likelihood through the probability-flow ODE (docs/math.md section 6): the
 * ODE steppers of ode.c integrate the augmented state [x, delta] from eps to
 * T with d delta/dt = div F = D a(t) - g^2 div s / 2, so that
 * ln p_eps(x) = ln p_T(x_T) + delta(T).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <string.h>

#include "solve_internal.h"

/* The run's context: the ODE's (first, so the steppers read it) and the
 * call's probes. */
typedef struct lik_ctx {
    sd_ode_ctx ode;
    const double *probes; /* n x D for the call (Hutchinson), or NULL (exact) */
} lik_ctx;

/* The score and the divergence (exact, or the call's one probe per sample)
 * in one fused model call (sd_model_score_div_cf: the networks' stacked pass,
 * the other kinds' closed forms or separate passes) on the block's scratch,
 * so a step allocates nothing. Likelihoods are never guided (setup_cond
 * leaves run->cfg 0 for them: a guided score has no likelihood). */
static int lik_rhs(sd_block *b, const double *y, const double *t, double *out)
{
    const sd_run *r = b->run;
    const double *probes = ((const lik_ctx *)r->ctx)->probes;
    size_t D = r->D, Dy = D + 1, n = b->n;
    double *xs = sd_ode_scratch(b), *score = xs + n * D, *drift = score + n * D;
    double *div = drift + n * D, *al = div + n, *dal = al + n, *g = dal + n;
    sd_cond view;
    const sd_cond *cv = sd_solve_block_cond(b, &view);
    for (size_t i = 0; i < n; i++)
        memcpy(xs + i * D, y + i * Dy, D * sizeof(double));
    const double *pr = probes ? probes + b->i0 * D : NULL;
    /* x is scanned once: the state check (ENUMERIC), then the no-rescan call */
    SD_TRY(sd_solve_check_state(b, xs, t));
    SD_TRY(sd_model_score_div_cf(r->model, xs, t, n, D, cv, pr, 1, score, div, g + n));
    SD_TRY(scoresde_sde_pf_drift(r->sde, xs, t, score, n, D, drift));
    SD_TRY(scoresde_sde_marginal(r->sde, t, n, al, NULL, dal, NULL));
    SD_TRY(scoresde_sde_diffusion(r->sde, t, n, g));
    for (size_t i = 0; i < n; i++) {
        memcpy(out + i * Dy, drift + i * D, D * sizeof(double));
        out[i * Dy + D] = (double)D * dal[i] / al[i] - 0.5 * g[i] * g[i] * div[i];
    }
    return SCORESDE_OK;
}

int sd_likelihood_setup(sd_run *run, size_t n, const double *x, double **y_out)
{
    lik_ctx *c = run->ctx;
    size_t D = run->D, Dy = D + 1;
    int mode = sd_opt_int(run->s, SCORESDE_SAMPLER_DIVERGENCE);
    size_t per = Dy + (mode != SCORESDE_SAMPLER_DIVERGENCE_EXACT ? D : 0);
    double *y = sd_calloc(n, per * sizeof(double));
    if (y == NULL)
        return SCORESDE_ENOMEM;
    if (mode != SCORESDE_SAMPLER_DIVERGENCE_EXACT) {
        /* One probe per sample, fixed for the whole solve (score_sde). */
        double *probes = y + n * Dy;
        for (size_t i = 0; i < n; i++) {
            double *v = probes + i * D;
            uint64_t off = SCORESDE_RNG_OFFSET(SCORESDE_RNG_PROBE, 0);
            if (mode == SCORESDE_SAMPLER_DIVERGENCE_GAUSSIAN) {
                sd_rng_normal(run->seed, run->first + i, off, D, v);
            } else {
                sd_rng_uniform(run->seed, run->first + i, off, D, v);
                for (size_t j = 0; j < D; j++)
                    v[j] = v[j] < 0.5 ? -1.0 : 1.0;
            }
        }
        c->probes = probes;
    }
    for (size_t i = 0; i < n; i++)
        memcpy(y + i * Dy, x + i * D, D * sizeof(double));
    run->Dy = Dy;
    *y_out = y;
    return SCORESDE_OK;
}

static int lik_prepare(sd_run *run)
{
    lik_ctx *c = run->ctx;
    c->ode.rhs = lik_rhs;
    /* xs, score, drift (n x D), div, alpha, alpha', g (n), the model's
     * fused scratch (sd_model_score_div_ws) */
    c->ode.rhs_ws = 3 * run->D + 4 + sd_model_score_div_ws(run->model, 1);
    return sd_ode_prepare(run);
}

/* The ODE's steppers (SOLVER) on [x, delta] from eps to T. */
const sd_method_ops sd_method_likelihood = {
    .name = "likelihood",
    .method = SCORESDE_SAMPLER_ODE,
    .reads = SD_SETTING_BIT(SOLVER) | SD_READS_ADAPTIVE | SD_SETTING_BIT(DIVERGENCE),
    .ctx_size = sizeof(lik_ctx),
    .prepare = lik_prepare,
    .ws_doubles = sd_ode_ws,
    .state_doubles = sd_ode_state,
    .init = sd_ode_init,
    .step = sd_ode_step,
};
