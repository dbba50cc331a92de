/*
 * Models backed by the caller's functions: a score hook (energy-based models
 * pass -grad E) and a denoiser hook converted by Tweedie's formula.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <string.h>

#include "model_internal.h"

static void hook_free_state(void *state)
{
    sd_free(state);
}

static int hook_clone_state(const scoresde_model *src, void **out)
{
    sd_hook_state *c = sd_malloc(sizeof *c);
    if (c == NULL)
        return SCORESDE_ENOMEM;
    memcpy(c, src->state, sizeof *c);
    *out = c;
    return SCORESDE_OK;
}

static int hook_returned(int rc, const char *what)
{
    return sd_fail(SCORESDE_ECALLBACK, "the %s callback returned %d", what, rc);
}

/* A hook's output is checked where it enters the library, so a NaN is
 * reported with its sample and time instead of travelling on. */
static int hook_check_output(const double *out, const double *t, size_t n, size_t width,
                             const char *what)
{
    for (size_t q = 0; q < n * width; q++)
        if (!isfinite(out[q]))
            return sd_fail(SCORESDE_ENUMERIC,
                           "the %s callback wrote a non-finite value (%g) for sample %zu, "
                           "coordinate %zu (t = %g)",
                           what, out[q], q / width, q % width, t[q / width]);
    return SCORESDE_OK;
}

static int hook_no_divergence(const scoresde_model *m)
{
    return sd_fail(SCORESDE_EUNSUPPORTED,
                   "the %s model was created without a divergence hook; use "
                   "scoresde_model_hutchinson",
                   m->ops->name);
}

/* The divergence hook, conditional or not; its raw return value. */
static int hook_divergence(const sd_hook_state *st, const scoresde_model *m, const double *x,
                           const double *t, size_t n, const sd_cond *cond, double *div)
{
    if (st->cond_divergence)
        return st->cond_divergence(x, t, n, m->dim, cond->c, cond->stride, cond->null, div,
                                   st->user);
    return st->divergence(x, t, n, m->dim, div, st->user);
}

/* ------------------------------------------------------------- score hook */

static int score_fn_score(const scoresde_model *m, const double *x, const double *t, size_t n, const sd_cond *cond,
                          double *out)
{
    const sd_hook_state *st = m->state;
    int rc = st->cond_score ? st->cond_score(x, t, n, m->dim, cond->c, cond->stride, cond->null,
                                             out, st->user)
                            : st->score(x, t, n, m->dim, out, st->user);
    if (rc != 0)
        return hook_returned(rc, "score");
    return hook_check_output(out, t, n, m->dim, "score");
}

static int score_fn_divergence(const scoresde_model *m, const double *x, const double *t,
                               size_t n, const sd_cond *cond, double *div)
{
    const sd_hook_state *st = m->state;
    if (st->divergence == NULL && st->cond_divergence == NULL)
        return hook_no_divergence(m);
    int rc = hook_divergence(st, m, x, t, n, cond, div);
    if (rc != 0)
        return hook_returned(rc, "divergence");
    return hook_check_output(div, t, n, 1, "divergence");
}

const sd_model_ops sd_model_score_fn_ops = {
    .name = "score-callback",
    .kind = SCORESDE_MODEL_SCORE_FN,
    .score = score_fn_score,
    .divergence = score_fn_divergence,
    .clone_state = hook_clone_state,
    .free_state = hook_free_state,
};

/* ---------------------------------------------------------- denoiser hook */

/* Samples whose marginals the denoiser's Tweedie step holds at once, on the
 * stack: an evaluation allocates nothing, whatever n is (issue 17, finding 8). */
#define DENOISER_CHUNK 64

/* Tweedie needs sigma(t) > 0, checked for every sample before the hook runs. */
static int denoiser_check_sigma(const scoresde_model *m, const double *t, size_t n)
{
    double alpha[DENOISER_CHUNK], sigma[DENOISER_CHUNK];
    for (size_t i0 = 0; i0 < n; i0 += DENOISER_CHUNK) {
        size_t c = n - i0 < DENOISER_CHUNK ? n - i0 : DENOISER_CHUNK;
        SD_TRY(sd_model_marginals_into(m, t + i0, c, alpha, sigma));
        for (size_t k = 0; k < c; k++)
            if (!(sigma[k] > 0.0))
                return sd_fail(SCORESDE_EINVAL,
                               "t[%zu] = %g gives sigma(t) = 0, where a denoiser defines no "
                               "score",
                               i0 + k, t[i0 + k]);
    }
    return SCORESDE_OK;
}

/* The score from the denoiser's output in `out` (n x D), or with `divergence`
 * the score's divergence from the divergence hook's (n values), in place. The
 * marginals are computed chunk by chunk as in the check. */
static int denoiser_tweedie(const scoresde_model *m, const double *x, const double *t, size_t n,
                            double *out, int divergence)
{
    double alpha[DENOISER_CHUNK], sigma[DENOISER_CHUNK];
    size_t D = m->dim;
    for (size_t i0 = 0; i0 < n; i0 += DENOISER_CHUNK) {
        size_t c = n - i0 < DENOISER_CHUNK ? n - i0 : DENOISER_CHUNK;
        SD_TRY(sd_model_marginals_into(m, t + i0, c, alpha, sigma));
        for (size_t k = 0; k < c; k++) {
            size_t i = i0 + k;
            double a = alpha[k], s2 = sigma[k] * sigma[k];
            if (divergence) {
                /* div s = (alpha div D - D) / sigma^2, since
                 * ds/dx = (alpha dD/dx - I) / sigma^2 */
                out[i] = (a * out[i] - (double)D) / s2;
                continue;
            }
            /* Tweedie: s = (alpha D(x) - x) / sigma^2. */
            for (size_t j = 0; j < D; j++)
                out[i * D + j] = (a * out[i * D + j] - x[i * D + j]) / s2;
        }
    }
    return SCORESDE_OK;
}

static int denoiser_data(const scoresde_model *m, const double *x, const double *t, size_t n, const sd_cond *cond,
                         double *x0)
{
    const sd_hook_state *st = m->state;
    int rc = st->cond_denoiser ? st->cond_denoiser(x, t, n, m->dim, cond->c, cond->stride,
                                                   cond->null, x0, st->user)
                               : st->denoiser(x, t, n, m->dim, x0, st->user);
    if (rc != 0)
        return hook_returned(rc, "denoiser");
    return hook_check_output(x0, t, n, m->dim, "denoiser");
}

static int denoiser_score(const scoresde_model *m, const double *x, const double *t, size_t n, const sd_cond *cond,
                          double *out)
{
    SD_TRY(denoiser_check_sigma(m, t, n));
    SD_TRY(denoiser_data(m, x, t, n, cond, out));
    return denoiser_tweedie(m, x, t, n, out, 0);
}

static int denoiser_divergence(const scoresde_model *m, const double *x, const double *t,
                               size_t n, const sd_cond *cond, double *div)
{
    const sd_hook_state *st = m->state;
    if (st->divergence == NULL && st->cond_divergence == NULL)
        return hook_no_divergence(m);
    SD_TRY(denoiser_check_sigma(m, t, n));
    int rc = hook_divergence(st, m, x, t, n, cond, div);
    SD_TRY(rc != 0 ? hook_returned(rc, "divergence")
                   : hook_check_output(div, t, n, 1, "divergence"));
    return denoiser_tweedie(m, x, t, n, div, 1);
}

const sd_model_ops sd_model_denoiser_fn_ops = {
    .name = "denoiser-callback",
    .kind = SCORESDE_MODEL_DENOISER_FN,
    .score = denoiser_score,
    .predict_data = denoiser_data,
    .divergence = denoiser_divergence,
    .clone_state = hook_clone_state,
    .free_state = hook_free_state,
};

/* --------------------------------------------------------------- creation */

int scoresde_model_create_score_fn(scoresde_model **out, const scoresde_sde *sde, size_t D,
                                   scoresde_score_fn score, scoresde_divergence_fn divergence,
                                   void *user)
{
    SD_TRY(sd_check_ptr(out, "out"));
    *out = NULL;
    SD_TRY(sd_check_ptr(sde, "sde"));
    if (D == 0)
        return sd_fail(SCORESDE_EINVAL, "D (the dimension) is zero");
    if (score == NULL)
        return sd_fail(SCORESDE_EINVAL, "score (the callback) is NULL");
    sd_hook_state *st = sd_calloc(1, sizeof *st);
    if (st == NULL)
        return SCORESDE_ENOMEM;
    st->score = score;
    st->divergence = divergence;
    st->user = user;
    return sd_model_create(out, &sd_model_score_fn_ops, sde, D, st);
}

int scoresde_model_create_denoiser_fn(scoresde_model **out, const scoresde_sde *sde, size_t D,
                                      scoresde_denoiser_fn denoiser,
                                      scoresde_divergence_fn divergence, void *user)
{
    SD_TRY(sd_check_ptr(out, "out"));
    *out = NULL;
    SD_TRY(sd_check_ptr(sde, "sde"));
    if (D == 0)
        return sd_fail(SCORESDE_EINVAL, "D (the dimension) is zero");
    if (denoiser == NULL)
        return sd_fail(SCORESDE_EINVAL, "denoiser (the callback) is NULL");
    SD_TRY(sd_model_require_marginal(sde, "a denoiser model"));
    sd_hook_state *st = sd_calloc(1, sizeof *st);
    if (st == NULL)
        return SCORESDE_ENOMEM;
    st->denoiser = denoiser;
    st->divergence = divergence;
    st->user = user;
    return sd_model_create(out, &sd_model_denoiser_fn_ops, sde, D, st);
}

/* The conditional hooks: the same kinds with condition rows (cond_dim C);
 * `hooks` holds the caller's functions (checked: main non-NULL). */
static int cond_hook_create(scoresde_model **out, const sd_model_ops *ops, const scoresde_sde *sde,
                            size_t D, size_t C, int accepts_null, const sd_hook_state *hooks,
                            const char *main_name)
{
    SD_TRY(sd_check_ptr(out, "out"));
    *out = NULL;
    SD_TRY(sd_check_ptr(sde, "sde"));
    if (D == 0)
        return sd_fail(SCORESDE_EINVAL, "D (the dimension) is zero");
    if (C == 0)
        return sd_fail(SCORESDE_EINVAL,
                       "C (the condition's features) is zero; use the unconditional hook");
    if (hooks->cond_score == NULL && hooks->cond_denoiser == NULL)
        return sd_fail(SCORESDE_EINVAL, "%s (the callback) is NULL", main_name);
    if (ops == &sd_model_denoiser_fn_ops)
        SD_TRY(sd_model_require_marginal(sde, "a denoiser model"));
    sd_hook_state *st = sd_malloc(sizeof *st);
    if (st == NULL)
        return SCORESDE_ENOMEM;
    *st = *hooks;
    SD_TRY(sd_model_create(out, ops, sde, D, st));
    (*out)->cond_dim = C;
    (*out)->cond_null = accepts_null != 0;
    return SCORESDE_OK;
}

int scoresde_model_create_cond_score_fn(scoresde_model **out, const scoresde_sde *sde, size_t D,
                                        size_t C, int accepts_null, scoresde_cond_score_fn score,
                                        scoresde_cond_divergence_fn divergence, void *user)
{
    sd_hook_state h = {.cond_score = score, .cond_divergence = divergence, .user = user};
    return cond_hook_create(out, &sd_model_score_fn_ops, sde, D, C, accepts_null, &h, "score");
}

int scoresde_model_create_cond_denoiser_fn(scoresde_model **out, const scoresde_sde *sde,
                                           size_t D, size_t C, int accepts_null,
                                           scoresde_cond_denoiser_fn denoiser,
                                           scoresde_cond_divergence_fn divergence, void *user)
{
    sd_hook_state h = {.cond_denoiser = denoiser, .cond_divergence = divergence, .user = user};
    return cond_hook_create(out, &sd_model_denoiser_fn_ops, sde, D, C, accepts_null, &h,
                            "denoiser");
}
