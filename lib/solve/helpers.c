/*
 * What every method shares: model evaluations (with conditions and
 * classifier-free guidance, dynamic thresholding), the guidance hook, the
 * sampler noise, the multistep step-ratio guard, the data-prediction
 * methods' checks and the final step.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <string.h>

#include "solve_internal.h"

size_t sd_solve_ratio_guard(const sd_run *r, size_t k, size_t order,
                            double (*v)(const sd_run *r, size_t k))
{
    double rmax = r->s->opt[SCORESDE_SAMPLER_STEP_RATIO_MAX];
    if (!(rmax < 1e300))
        return order;
    size_t q = 1;
    double h_next = v(r, k + 1) - v(r, k);
    while (q < order) {
        double h = v(r, k + 1 - q) - v(r, k - q); /* the step before the ones accepted */
        double ratio = fabs(h) > fabs(h_next) ? fabs(h / h_next) : fabs(h_next / h);
        if (!(ratio <= rmax))
            break;
        h_next = h;
        q++;
    }
    return q;
}

double sd_solve_lambda(const sd_run *r, size_t k)
{
    return log(r->alpha[k] / r->sigma[k]);
}

size_t sd_solve_multistep_order(const sd_run *r, size_t k, size_t order,
                                 double (*v)(const sd_run *r, size_t k))
{
    size_t N = r->N, last = N - k; /* steps left, this one included */
    int lof = sd_opt_int(r->s, SCORESDE_SAMPLER_LOWER_ORDER_FINAL);
    if (lof == 2 && last + 1 < order)
        last = order - 1; /* the last order - 1 steps at order - 1 */
    if (order > k + 1)
        order = k + 1;
    if ((lof == 2 || (lof == 1 && N < 15)) && order > last)
        order = last;
    return sd_solve_ratio_guard(r, k, order, v);
}

int sd_solve_need_sigma(const sd_run *run, const char *what)
{
    if (run->alpha == NULL)
        return sd_fail(SCORESDE_EUNSUPPORTED,
                       "%s needs the SDE's Gaussian marginal, which this SDE lacks", what);
    for (size_t k = 0; k <= run->N; k++)
        if (!(run->sigma[k] > 0.0))
            return sd_fail(SCORESDE_EINVAL, "%s needs sigma > 0 on the grid; sigma(t[%zu] = %g) = %g",
                           what, k, run->grid[k], run->sigma[k]);
    return SCORESDE_OK;
}

int sd_solve_final_factor(const sd_run *r, double *factor)
{
    int final = sd_opt_int(r->s, SCORESDE_SAMPLER_FINAL_STEP);
    *factor = final == SCORESDE_SAMPLER_FINAL_STOP ? 0.0 : 1.0;
    if (final == SCORESDE_SAMPLER_FINAL_TO_ZERO) {
        double t0 = 0.0, a0;
        SD_TRY(scoresde_sde_marginal(r->sde, &t0, 1, &a0, NULL, NULL, NULL));
        *factor = a0;
    }
    return SCORESDE_OK;
}


static int guidance_grad(sd_block *b, const double *x, const double *t)
{
    const scoresde_sampler *s = b->run->s;
    size_t nD = b->n * b->run->D;
    if (s->guidance(x, t, b->n, b->run->D, b->gws, s->guidance_user) != 0)
        return sd_fail(SCORESDE_ECALLBACK, "the guidance hook failed (at t = %g)", t[0]);
    for (size_t e = 0; e < nD; e++)
        if (!isfinite(b->gws[e]))
            return sd_fail(SCORESDE_ENUMERIC,
                           "the guidance hook wrote %g for sample %llu, element %zu (t = %g)",
                           b->gws[e], (unsigned long long)(b->run->first + b->i0 + e / b->run->D),
                           e % b->run->D, t[e / b->run->D]);
    return SCORESDE_OK;
}

int sd_solve_guide_score(sd_block *b, const double *x, const double *t, double *score)
{
    const scoresde_sampler *s = b->run->s;
    if (s->guidance == NULL || b->gws == NULL)
        return SCORESDE_OK;
    SD_TRY(guidance_grad(b, x, t));
    size_t nD = b->n * b->run->D;
    for (size_t e = 0; e < nD; e++)
        score[e] += s->guidance_scale * b->gws[e];
    return SCORESDE_OK;
}

int sd_solve_guide_data(sd_block *b, const double *x, double alpha, double sigma, double *m)
{
    const scoresde_sampler *s = b->run->s;
    if (s->guidance == NULL || b->gws == NULL)
        return SCORESDE_OK;
    SD_TRY(guidance_grad(b, x, b->t));
    size_t nD = b->n * b->run->D;
    double c = sigma * sigma / alpha * s->guidance_scale;
    for (size_t e = 0; e < nD; e++)
        m[e] += c * b->gws[e];
    return SCORESDE_OK;
}

const sd_cond *sd_solve_block_cond(const sd_block *b, sd_cond *view)
{
    if (b->run->cond == NULL)
        return NULL;
    *view = sd_cond_rows(b->run->cond, b->i0);
    return view;
}

/* One batched call of 2n rows for classifier-free guidance: rows i < n are
 * sample i with its condition, rows n + i the same point with the null
 * condition, each condition row copied (null rows zero), so the model sees
 * a plain per-row condition whatever the caller's broadcast. */
static int cfg_eval(sd_block *b, const double *x, const double *t, int data, double *out)
{
    const sd_run *r = b->run;
    size_t D = r->D, C = scoresde_model_cond_dim(r->model), n = b->n, nD = n * D;
    double *x2 = b->cfg_ws, *t2 = x2 + 2 * nD, *o2 = t2 + 2 * n, *c2 = o2 + 2 * nD;
    unsigned char *mask = (unsigned char *)(c2 + 2 * n * C);
    sd_cond view;
    const sd_cond *cv = sd_solve_block_cond(b, &view);
    memcpy(x2, x, nD * sizeof *x2);
    memcpy(x2 + nD, x, nD * sizeof *x2);
    memcpy(t2, t, n * sizeof *t2);
    memcpy(t2 + n, t, n * sizeof *t2);
    memset(c2, 0, 2 * n * C * sizeof *c2);
    for (size_t i = 0; i < n; i++) {
        mask[i] = (unsigned char)sd_cond_is_null(cv, i);
        mask[n + i] = 1;
        if (!mask[i])
            memcpy(c2 + i * C, sd_cond_row(cv, i), C * sizeof *c2);
    }
    sd_cond both = {c2, C, mask};
    SD_TRY(data ? sd_model_predict_data_cf(r->model, x2, t2, 2 * n, D, &both, o2)
                : sd_model_score_cf(r->model, x2, t2, 2 * n, D, &both, o2));
    double g = 1.0 + r->cfg;
    for (size_t e = 0; e < nD; e++)
        out[e] = o2[nD + e] + g * (o2[e] - o2[nD + e]);
    return SCORESDE_OK;
}

/* A state a step made non-finite is the sampler's numeric failure
 * (ENUMERIC), not a bad argument of the model call that would follow; the
 * model calls below (sd_model_*_cf) then skip their own scan of x, so each
 * evaluation reads x once for its check. */
int sd_solve_check_state(const sd_block *b, const double *x, const double *t)
{
    const sd_run *r = b->run;
    for (size_t i = 0; i < b->n; i++)
        for (size_t j = 0; j < r->D; j++)
            if (!isfinite(x[i * r->D + j]))
                return sd_fail(SCORESDE_ENUMERIC,
                               "sample %llu: the state is not finite at t = %g (the step "
                               "before it diverged)",
                               (unsigned long long)(r->first + b->i0 + i), t[i]);
    return SCORESDE_OK;
}

static int model_eval(sd_block *b, const double *x, const double *t, int data, double *out)
{
    const sd_run *r = b->run;
    SD_TRY(sd_solve_check_state(b, x, t));
    if (r->cfg != 0.0)
        return cfg_eval(b, x, t, data, out);
    sd_cond view;
    const sd_cond *cv = sd_solve_block_cond(b, &view);
    return data ? sd_model_predict_data_cf(r->model, x, t, b->n, r->D, cv, out)
                : sd_model_score_cf(r->model, x, t, b->n, r->D, cv, out);
}

int sd_solve_model_score(sd_block *b, const double *x, const double *t, double *out)
{
    return model_eval(b, x, t, 0, out);
}

/* Dynamic thresholding of one sample's data prediction m (D values): s =
 * the p-quantile of |m_j| (the smallest value with at least ceil(p D) of the
 * |m_j| at or below it, found by bisection on the value so nothing is
 * allocated), s = max(s, c), m = clip(m, -s, s) c / s. */
static void threshold_one(double *m, size_t D, double p, double c)
{
    double hi = 0.0;
    for (size_t j = 0; j < D; j++)
        hi = fmax(hi, fabs(m[j]));
    size_t need = (size_t)ceil(p * (double)D);
    if (need < 1)
        need = 1;
    double lo = 0.0;
    for (int it = 0; it < 200; it++) {
        double mid = 0.5 * (lo + hi);
        if (!(mid > lo && mid < hi))
            break;
        size_t cnt = 0;
        for (size_t j = 0; j < D; j++)
            cnt += fabs(m[j]) <= mid;
        if (cnt >= need)
            hi = mid;
        else
            lo = mid;
    }
    double sq = fmax(hi, c);
    for (size_t j = 0; j < D; j++)
        m[j] = fmin(fmax(m[j], -sq), sq) * (c / sq);
}

int sd_solve_model_data(sd_block *b, const double *x, const double *t, double *out)
{
    SD_TRY(model_eval(b, x, t, 1, out));
    double p = b->run->s->opt[SCORESDE_SAMPLER_THRESHOLD];
    if (p > 0.0)
        for (size_t i = 0; i < b->n; i++)
            threshold_one(out + i * b->run->D, b->run->D, p,
                          b->run->s->opt[SCORESDE_SAMPLER_THRESHOLD_BOUND]);
    return SCORESDE_OK;
}

int sd_solve_score_at(sd_block *b, const double *x, double t, double *score)
{
    for (size_t i = 0; i < b->n; i++)
        b->t[i] = t;
    SD_TRY(sd_solve_model_score(b, x, b->t, score));
    SD_TRY(sd_solve_guide_score(b, x, b->t, score));
    b->nfe++;
    return SCORESDE_OK;
}

void sd_solve_noise(const sd_block *b, uint64_t draw, double *z)
{
    const sd_run *r = b->run;
    for (size_t i = 0; i < b->n; i++)
        sd_rng_normal(r->seed, r->first + b->i0 + i,
                      SCORESDE_RNG_OFFSET(SCORESDE_RNG_SAMPLER, draw * r->D), r->D,
                      z + i * r->D);
}
