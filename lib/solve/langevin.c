/*
 * Plain (unadjusted) Langevin dynamics for a time-free score s = grad log p
 * of a fixed target (docs/math.md section 3; seed 003 eq. 8):
 *     x <- x + delta s(x) + sqrt(2 delta) z.
 * A method row like the samplers' (the same driver and entry path); the
 * score is the caller's hook, in the run's context, called with t = 0 for
 * every sample.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>

#include "solve_internal.h"

/* The run's context: the caller's score hook. */
typedef struct lgv_ctx {
    scoresde_score_fn score;
    void *user;
} lgv_ctx;

void sd_langevin_set_score(sd_run *run, scoresde_score_fn score, void *user)
{
    lgv_ctx *c = run->ctx;
    c->score = score;
    c->user = user;
}

static size_t lgv_ws(const sd_run *run)
{
    return 2 * run->D;
}

static size_t lgv_state(const sd_run *run)
{
    return 0;
}

static int lgv_step(sd_block *b, size_t k)
{
    const sd_run *r = b->run;
    const lgv_ctx *hook = r->ctx;
    size_t nD = b->n * r->D;
    double *score = b->ws, *z = score + nD;
    double delta = r->s->opt[SCORESDE_SAMPLER_LANGEVIN_STEP];
    for (size_t i = 0; i < b->n; i++)
        b->t[i] = 0.0;
    if (hook->score(b->x, b->t, b->n, r->D, score, hook->user) != 0)
        return sd_fail(SCORESDE_ECALLBACK, "the Langevin score hook failed at step %zu", k + 1);
    b->nfe++;
    sd_solve_noise(b, k, z);
    double c = sqrt(2.0 * delta);
    for (size_t e = 0; e < nD; e++)
        b->x[e] = b->x[e] + delta * score[e] + c * z[e];
    b->accepted += b->n;
    if (k + 1 == r->N)
        b->done = 1;
    return SCORESDE_OK;
}

/* Not a sampler method (any sampler's settings run it): method 0. No
 * prepare: the entry point checked every argument, and the settings it
 * reads (STEPS, LANGEVIN_STEP, THREADS, BLOCK) were checked when set. */
const sd_method_ops sd_method_langevin = {
    .name = "Langevin dynamics",
    .method = 0,
    .reads = SD_SETTING_BIT(LANGEVIN_STEP),
    .ctx_size = sizeof(lgv_ctx),
    .ws_doubles = lgv_ws,
    .state_doubles = lgv_state,
    .step = lgv_step,
};
