/*
 * The generic layer of score models: argument checks done once, conversions
 * between score, data and noise predictions, divergence and Jacobian products
 * built from whichever slots a kind provides.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <string.h>

#include "model_internal.h"

/* ------------------------------------------------------------ construction */

int sd_model_create(scoresde_model **out, const sd_model_ops *ops, const scoresde_sde *sde,
                    size_t dim, void *state)
{
    scoresde_model *m = sd_calloc(1, sizeof *m);
    if (m == NULL) {
        ops->free_state(state);
        return SCORESDE_ENOMEM;
    }
    int rc = scoresde_sde_clone(&m->sde, sde);
    if (rc != SCORESDE_OK) {
        ops->free_state(state);
        sd_free(m);
        return rc;
    }
    m->ops = ops;
    m->dim = dim;
    m->state = state;
    *out = m;
    return SCORESDE_OK;
}

int sd_model_marginal(const scoresde_model *m, double t, double *alpha, double *sigma)
{
    SD_TRY(scoresde_sde_marginal(m->sde, &t, 1, alpha, sigma, NULL, NULL));
    if (!(isfinite(*alpha) && *alpha > 0.0 && isfinite(*sigma) && *sigma >= 0.0))
        return sd_fail(SCORESDE_ENUMERIC,
                       "the SDE's marginal at t = %g is alpha = %g, sigma = %g; a model needs "
                       "alpha > 0 and sigma >= 0",
                       t, *alpha, *sigma);
    return SCORESDE_OK;
}

int sd_model_marginals_into(const scoresde_model *m, const double *t, size_t n, double *alpha,
                            double *sigma)
{
    SD_TRY(scoresde_sde_marginal(m->sde, t, n, alpha, sigma, NULL, NULL));
    for (size_t i = 0; i < n; i++)
        if (!(isfinite(alpha[i]) && alpha[i] > 0.0 && isfinite(sigma[i]) && sigma[i] >= 0.0))
            return sd_fail(SCORESDE_ENUMERIC,
                           "the SDE's marginal at t[%zu] = %g is alpha = %g, sigma = %g; a model "
                           "needs alpha > 0 and sigma >= 0",
                           i, t[i], alpha[i], sigma[i]);
    return SCORESDE_OK;
}

int sd_model_marginal_in_chunks(const scoresde_model *m, const double *t, size_t n, size_t i,
                                double *alpha, double *sigma, double *a, double *sg)
{
    size_t j = i % SD_MARGINAL_CHUNK;
    if (j == 0) {
        size_t c = n - i < SD_MARGINAL_CHUNK ? n - i : SD_MARGINAL_CHUNK;
        SD_TRY(sd_model_marginals_into(m, t + i, c, alpha, sigma));
    }
    *a = alpha[j];
    *sg = sigma[j];
    return SCORESDE_OK;
}

int sd_model_marginals(const scoresde_model *m, const double *t, size_t n, double **ab)
{
    double *alpha = sd_calloc(2 * n, sizeof *alpha); /* counts overflow-checked */
    if (alpha == NULL)
        return SCORESDE_ENOMEM;
    int rc = sd_model_marginals_into(m, t, n, alpha, alpha + n);
    if (rc != SCORESDE_OK) {
        sd_free(alpha);
        return rc;
    }
    *ab = alpha;
    return SCORESDE_OK;
}

/* A pooled block: the link, then the caller's doubles. */
typedef struct sd_ws_block {
    struct sd_ws_block *next;
    double mem[];
} sd_ws_block;

void sd_ws_pool_init(sd_ws_pool *p)
{
    pthread_mutex_init(&p->lock, NULL);
    p->free = NULL;
}

void sd_ws_pool_destroy(sd_ws_pool *p)
{
    while (p->free) {
        sd_ws_block *next = p->free->next;
        sd_free(p->free);
        p->free = next;
    }
    pthread_mutex_destroy(&p->lock);
}

double *sd_ws_pool_take(sd_ws_pool *p, size_t count)
{
    pthread_mutex_lock(&p->lock);
    sd_ws_block *b = p->free;
    if (b)
        p->free = b->next;
    pthread_mutex_unlock(&p->lock);
    if (b == NULL)
        b = sd_malloc(sizeof(sd_ws_block) + count * sizeof(double));
    return b ? b->mem : NULL;
}

void sd_ws_pool_give(sd_ws_pool *p, double *ws)
{
    sd_ws_block *b = (sd_ws_block *)((char *)ws - offsetof(sd_ws_block, mem));
    pthread_mutex_lock(&p->lock);
    b->next = p->free;
    p->free = b;
    pthread_mutex_unlock(&p->lock);
}

double sd_model_param_limit(const scoresde_model *m)
{
    return m->ops->param_limit ? m->ops->param_limit(m) : INFINITY;
}

int scoresde_model_clone(scoresde_model **out, const scoresde_model *model)
{
    SD_TRY(sd_check_ptr(out, "out"));
    *out = NULL;
    SD_TRY(sd_check_ptr(model, "model"));
    void *state = NULL;
    SD_TRY(model->ops->clone_state(model, &state));
    SD_TRY(sd_model_create(out, model->ops, model->sde, model->dim, state));
    int rc = sd_transform_copy(model->transform, model->dim, &(*out)->transform);
    if (rc != SCORESDE_OK) {
        scoresde_model_free(*out);
        *out = NULL;
        return rc;
    }
    (*out)->cond_dim = model->cond_dim;
    (*out)->cond_labels = model->cond_labels;
    (*out)->cond_null = model->cond_null;
    return SCORESDE_OK;
}

void scoresde_model_free(scoresde_model *model)
{
    if (model == NULL)
        return;
    model->ops->free_state(model->state);
    scoresde_sde_free(model->sde);
    sd_free(model->transform);
    sd_free(model);
}

size_t scoresde_model_dim(const scoresde_model *model)
{
    return model ? model->dim : 0;
}

int scoresde_model_kind(const scoresde_model *model)
{
    return model ? model->ops->kind : 0;
}

const scoresde_sde *scoresde_model_sde(const scoresde_model *model)
{
    return model ? model->sde : NULL;
}

/* ------------------------------------------------------------------ checks */

/* The checks every evaluation shares (see model.h): model, sizes, dimension,
 * x and t pointers, and every time finite and within [0, T]. */
static int check_times(const scoresde_model *m, const double *t, size_t n)
{
    SD_TRY(sd_check_ptr(t, "t"));
    double T = scoresde_sde_end_time(m->sde);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(t[i]))
            return sd_fail(SCORESDE_EINVAL, "t[%zu] is not finite (%g)", i, t[i]);
        if (t[i] < 0.0 || t[i] > T)
            return sd_fail(SCORESDE_EINVAL, "t[%zu] (%g) is outside [0, T] = [0, %g]", i, t[i],
                           T);
    }
    return SCORESDE_OK;
}

static int check_shape(const scoresde_model *m, size_t n, size_t D)
{
    SD_TRY(sd_check_ptr(m, "model"));
    if (n == 0)
        return sd_fail(SCORESDE_EINVAL, "n (the number of samples) is zero");
    if (D == 0)
        return sd_fail(SCORESDE_EINVAL, "D (the dimension) is zero");
    if (D != m->dim)
        return sd_fail(SCORESDE_EDIM, "x has dimension %zu, the model expects %zu", D, m->dim);
    return SCORESDE_OK;
}

static int check_eval(const scoresde_model *m, const double *x, const double *t, size_t n,
                      size_t D, const void *output, const char *output_name)
{
    SD_TRY(check_shape(m, n, D));
    SD_TRY(sd_check_doubles(x, n, D, "x"));
    SD_TRY(check_times(m, t, n));
    return sd_check_ptr(output, output_name);
}

/* check_eval for a caller that has checked x's values itself (the sampler:
 * its own scan reports a non-finite state as ENUMERIC), so x is scanned once
 * per evaluation: everything but the finiteness of x. */
static int check_eval_xf(const scoresde_model *m, const double *x, const double *t, size_t n,
                         size_t D, const void *output, const char *output_name)
{
    SD_TRY(check_shape(m, n, D));
    SD_TRY(sd_check_batch(x, n, D, "x"));
    SD_TRY(check_times(m, t, n));
    return sd_check_ptr(output, output_name);
}

/* ---------------------------------------------------------------- conditions */

size_t scoresde_model_cond_dim(const scoresde_model *model)
{
    return model ? model->cond_dim : 0;
}

size_t scoresde_model_cond_classes(const scoresde_model *model)
{
    return model ? model->cond_labels : 0;
}

int scoresde_model_cond_null(const scoresde_model *model)
{
    return model && model->cond_dim > 0 && model->cond_null;
}

static int refuse_null(const scoresde_model *m, const char *how)
{
    return sd_fail(SCORESDE_EINVAL,
                   "%s asks for the null condition, which this %s model does not accept (it "
                   "was not made with a null condition; pass a condition for every sample)",
                   how, m->ops->name);
}

/* One row's values: finite, and integer labels in range. */
static int check_cond_row(const scoresde_model *m, const double *row, size_t i)
{
    for (size_t j = 0; j < m->cond_dim; j++)
        if (!isfinite(row[j]))
            return sd_fail(SCORESDE_EINVAL, "cond->c is not finite (%g) for sample %zu, feature %zu",
                           row[j], i, j);
    size_t K = m->cond_labels;
    if (K > 0 && !(row[0] >= 0.0 && row[0] < (double)K && row[0] == floor(row[0])))
        return sd_fail(SCORESDE_EINVAL,
                       "cond->c holds %g for sample %zu; the model takes integer class labels "
                       "in [0, %zu)",
                       row[0], i, K);
    return SCORESDE_OK;
}

int sd_cond_resolve(const scoresde_model *m, const scoresde_cond *cond, size_t n, sd_cond *out,
                    const sd_cond **out_is)
{
    *out_is = NULL;
    /* No condition for an unconditional model: nothing to check (the
     * caller's own checks then report a NULL model or n = 0 as before). */
    if ((m == NULL || m->cond_dim == 0) && cond == NULL)
        return SCORESDE_OK;
    SD_TRY(sd_check_ptr(m, "model"));
    if (n == 0)
        return sd_fail(SCORESDE_EINVAL, "n (the number of samples) is zero");
    if (m->cond_dim == 0)
        return sd_fail(SCORESDE_EINVAL,
                       "cond was given, but this %s model is unconditional (use the call "
                       "without _cond, or pass cond = NULL)",
                       m->ops->name);
    *out = (sd_cond){NULL, 0, NULL};
    if (cond == NULL) {
        if (!m->cond_null)
            return refuse_null(m, "cond = NULL (or the call without _cond)");
        *out_is = out;
        return SCORESDE_OK;
    }
    SD_TRY(sd_check_struct_in(cond->struct_size, sizeof(scoresde_cond), sizeof(scoresde_cond),
                              "cond->struct_size"));
    if (cond->C != m->cond_dim)
        return sd_fail(SCORESDE_EDIM, "cond->C is %zu, the model's condition has %zu features",
                       cond->C, m->cond_dim);
    if (cond->c == NULL) {
        if (!m->cond_null)
            return refuse_null(m, "cond->c = NULL");
        *out_is = out;
        return SCORESDE_OK;
    }
    if (cond->rows != n && cond->rows != 1)
        return sd_fail(SCORESDE_EINVAL,
                       "cond->rows is %zu; it must be n = %zu (one row per sample) or 1 (one "
                       "row for all)",
                       cond->rows, n);
    out->c = cond->c;
    out->stride = cond->rows == 1 ? 0 : m->cond_dim;
    out->null = cond->null_mask;
    int checked = 0; /* a broadcast row is checked once */
    for (size_t i = 0; i < n; i++) {
        if (sd_cond_is_null(out, i)) {
            if (!m->cond_null)
                return sd_fail(SCORESDE_EINVAL,
                               "cond->null_mask[%zu] asks for the null condition, which this "
                               "%s model does not accept",
                               i, m->ops->name);
            continue;
        }
        if (!checked || out->stride > 0)
            SD_TRY(check_cond_row(m, sd_cond_row(out, i), i));
        checked = 1;
    }
    *out_is = out;
    return SCORESDE_OK;
}

sd_cond sd_cond_rows(const sd_cond *cond, size_t i0)
{
    sd_cond v = *cond;
    if (v.c)
        v.c += i0 * v.stride;
    if (v.null)
        v.null += i0;
    return v;
}

/* The public twins: resolve `cond` for the batch, then call `call`. */
#define WITH_COND(model, n, cond, call)                                   \
    do {                                                                  \
        sd_cond rc_;                                                      \
        const sd_cond *rcp_;                                              \
        SD_TRY(sd_cond_resolve(model, cond, n, &rc_, &rcp_));             \
        return call;                                                      \
    } while (0)

/* Turn the score s of n samples (in place in out) into a prediction by
 * Tweedie's formula: E[x_0 | x_t] = (x_t + sigma^2 s) / alpha (to_data), or
 * the noise eps = -sigma s (x_t = alpha x_0 + sigma z has kernel score
 * -z / sigma). Marginals come in chunks on the stack: a sampler's steps
 * allocate nothing here, whatever n. */
static int tweedie(const scoresde_model *m, const double *x, const double *t, size_t n,
                   double *out, int to_data)
{
    enum { CHUNK = 64 };
    const size_t D = m->dim;
    double alpha[CHUNK], sigma[CHUNK];
    for (size_t i0 = 0; i0 < n; i0 += CHUNK) {
        size_t c = n - i0 < CHUNK ? n - i0 : CHUNK;
        SD_TRY(sd_model_marginals_into(m, t + i0, c, alpha, sigma));
        for (size_t k = 0; k < c; k++) {
            double *o = out + (i0 + k) * D;
            const double *xi = x + (i0 + k) * D, s2 = sigma[k] * sigma[k];
            for (size_t j = 0; j < D; j++)
                o[j] = to_data ? (xi[j] + s2 * o[j]) / alpha[k] : -sigma[k] * o[j];
        }
    }
    return SCORESDE_OK;
}

/* ---------------------------------------------------------------- evaluation */

int sd_model_score_c(const scoresde_model *model, const double *x, const double *t, size_t n,
                     size_t D, const sd_cond *cond, double *score)
{
    SD_TRY(check_eval(model, x, t, n, D, score, "score"));
    return model->ops->score(model, x, t, n, cond, score);
}

/* The data prediction of checked arguments: the kind's own, or Tweedie's
 * formula on its score. */
static int predict_data(const scoresde_model *model, const double *x, const double *t, size_t n,
                        const sd_cond *cond, double *x0_hat)
{
    if (model->ops->predict_data)
        return model->ops->predict_data(model, x, t, n, cond, x0_hat);
    SD_TRY(model->ops->score(model, x, t, n, cond, x0_hat));
    return tweedie(model, x, t, n, x0_hat, 1);
}

int sd_model_predict_data_c(const scoresde_model *model, const double *x, const double *t,
                            size_t n, size_t D, const sd_cond *cond, double *x0_hat)
{
    SD_TRY(check_eval(model, x, t, n, D, x0_hat, "x0_hat"));
    return predict_data(model, x, t, n, cond, x0_hat);
}

int sd_model_score_cf(const scoresde_model *model, const double *x, const double *t, size_t n,
                      size_t D, const sd_cond *cond, double *score)
{
    SD_TRY(check_eval_xf(model, x, t, n, D, score, "score"));
    return model->ops->score(model, x, t, n, cond, score);
}

int sd_model_predict_data_cf(const scoresde_model *model, const double *x, const double *t,
                             size_t n, size_t D, const sd_cond *cond, double *x0_hat)
{
    SD_TRY(check_eval_xf(model, x, t, n, D, x0_hat, "x0_hat"));
    return predict_data(model, x, t, n, cond, x0_hat);
}

int sd_model_predict_noise_c(const scoresde_model *model, const double *x, const double *t,
                             size_t n, size_t D, const sd_cond *cond, double *eps_hat)
{
    SD_TRY(check_eval(model, x, t, n, D, eps_hat, "eps_hat"));
    SD_TRY(model->ops->score(model, x, t, n, cond, eps_hat));
    return tweedie(model, x, t, n, eps_hat, 0);
}

/* The condition of the finite-difference batch of 2n rows (x + h u, then
 * x - h u): row n + i repeats row i. A broadcast or all-null condition is
 * its own doubling; otherwise the rows, then the mask, go to mem (room for
 * 2 n C doubles and 2 n bytes: fd_doubles counts it). */
static void cond_twice(const scoresde_model *m, const sd_cond *cond, size_t n, sd_cond *out,
                       double *mem)
{
    *out = *cond;
    if (cond->c == NULL || (cond->stride == 0 && cond->null == NULL))
        return;
    size_t C = m->cond_dim, rows = cond->stride ? 2 * n : 1;
    double *c = mem;
    unsigned char *mask = (unsigned char *)(mem + rows * C);
    for (size_t i = 0; i < rows; i++)
        memcpy(c + i * C, cond->c + (i % n) * cond->stride, C * sizeof *c);
    for (size_t i = 0; cond->null && i < 2 * n; i++)
        mask[i] = cond->null[i % n];
    *out = (sd_cond){c, cond->stride, cond->null ? mask : NULL};
}

/* Doubles the central differences of n rows need: the 2n shifted rows and
 * their scores, their times and steps, the doubled condition. */
static size_t fd_per_row(const scoresde_model *m)
{
    size_t C = m->cond_dim;
    return 4 * m->dim + 4 + (C ? 2 * C + 1 : 0);
}

/* Central differences of the score along v (model.h documents the step),
 * in ws (n fd_per_row doubles). */
static int jvp_fd_ws(const scoresde_model *m, const double *x, const double *t, size_t n,
                     const sd_cond *cond, const double *v, double *jv, double *ws)
{
    size_t D = m->dim, nd = n * D;
    double *xp = ws, *sp = xp + 2 * nd, *tp = sp + 2 * nd, *step = tp + 2 * n; /* h, ||v||_inf */
    sd_cond c2;
    if (cond)
        cond_twice(m, cond, n, &c2, step + 2 * n);
    for (size_t i = 0; i < n; i++) {
        double xinf = 0.0, vinf = 0.0;
        for (size_t j = 0; j < D; j++) {
            xinf = fmax(xinf, fabs(x[i * D + j]));
            vinf = fmax(vinf, fabs(v[i * D + j]));
        }
        /* h ~ eps^(1/3) balances rounding (eps/h) against truncation (h^2). */
        double h = 0x1p-17 * fmax(1.0, xinf);
        double scale = vinf > 0.0 ? h / vinf : 0.0;
        for (size_t j = 0; j < D; j++) {
            xp[i * D + j] = x[i * D + j] + scale * v[i * D + j];
            xp[nd + i * D + j] = x[i * D + j] - scale * v[i * D + j];
        }
        tp[i] = tp[n + i] = t[i];
        step[i] = h;
        step[n + i] = vinf;
    }
    SD_TRY(m->ops->score(m, xp, tp, 2 * n, cond ? &c2 : NULL, sp));
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < D; j++)
            jv[i * D + j] =
                (sp[i * D + j] - sp[nd + i * D + j]) / (2.0 * step[i]) * step[n + i];
    return SCORESDE_OK;
}

/* A block of n per doubles for one call (NULL and ENOMEM, or the size's
 * overflow, reported). */
static int take_scratch(size_t n, size_t per, double **out)
{
    size_t cnt;
    *out = NULL;
    SD_TRY(sd_mul_size(n, per, &cnt, "scratch"));
    *out = sd_calloc(cnt ? cnt : 1, sizeof(double));
    return *out ? SCORESDE_OK : SCORESDE_ENOMEM;
}

static int jvp_finite_difference(const scoresde_model *m, const double *x, const double *t,
                                 size_t n, const sd_cond *cond, const double *v, double *jv)
{
    double *ws;
    SD_TRY(take_scratch(n, fd_per_row(m), &ws));
    int rc = jvp_fd_ws(m, x, t, n, cond, v, jv, ws);
    sd_free(ws);
    return rc;
}

/* jvp without argument checks, for the generic layer's own use. */
static int model_jvp(const scoresde_model *m, const double *x, const double *t, size_t n,
                     const sd_cond *cond, const double *v, double *score, double *jv)
{
    if (m->ops->jvp)
        return m->ops->jvp(m, x, t, n, cond, v, score, jv);
    if (score)
        SD_TRY(m->ops->score(m, x, t, n, cond, score));
    return jvp_finite_difference(m, x, t, n, cond, v, jv);
}

/* The same on caller scratch (n fd_per_row doubles for kinds without jvp). */
static int model_jvp_ws(const scoresde_model *m, const double *x, const double *t, size_t n,
                        const sd_cond *cond, const double *v, double *jv, double *ws)
{
    if (m->ops->jvp)
        return m->ops->jvp(m, x, t, n, cond, v, NULL, jv);
    return jvp_fd_ws(m, x, t, n, cond, v, jv, ws);
}

int sd_model_jvp_c(const scoresde_model *model, const double *x, const double *t, size_t n,
                   size_t D, const sd_cond *cond, const double *v, double *score, double *jv)
{
    SD_TRY(check_eval(model, x, t, n, D, jv, "jv"));
    SD_TRY(sd_check_doubles(v, n, D, "v"));
    return model_jvp(model, x, t, n, cond, v, score, jv);
}

int sd_model_divergence_c(const scoresde_model *model, const double *x, const double *t,
                          size_t n, size_t D, const sd_cond *cond, double *div)
{
    SD_TRY(check_eval(model, x, t, n, D, div, "div"));
    if (model->ops->divergence)
        return model->ops->divergence(model, x, t, n, cond, div);
    if (!model->ops->jvp)
        return sd_fail(SCORESDE_EUNSUPPORTED,
                       "the %s model has no exact divergence; give it a divergence hook or use "
                       "scoresde_model_hutchinson",
                       model->ops->name);
    double *ws;
    SD_TRY(take_scratch(n, 2 * D, &ws));
    int rc = sd_model_axes_divergence(model, x, t, n, cond, model_jvp_ws, ws, div);
    sd_free(ws);
    return rc;
}

int sd_model_axes_divergence(const scoresde_model *m, const double *x, const double *t, size_t n,
                             const sd_cond *cond, sd_jvp_ws_fn jvp, double *ws, double *div)
{
    /* Exact Jacobian products along each axis: div = sum_j (J e_j)_j. */
    size_t D = m->dim, nd = n * D;
    double *e = ws, *jv = ws + nd;
    memset(e, 0, nd * sizeof *e);
    for (size_t i = 0; i < n; i++)
        div[i] = 0.0;
    for (size_t j = 0; j < D; j++) {
        for (size_t i = 0; i < n; i++) {
            if (j > 0)
                e[i * D + j - 1] = 0.0;
            e[i * D + j] = 1.0;
        }
        SD_TRY(jvp(m, x, t, n, cond, e, jv, ws + 2 * nd));
        for (size_t i = 0; i < n; i++)
            div[i] += jv[i * D + j];
    }
    return SCORESDE_OK;
}

int sd_model_probes_hutchinson(const scoresde_model *m, const double *x, const double *t,
                               size_t n, const sd_cond *cond, const double *probes, size_t M,
                               sd_jvp_ws_fn jvp, double *ws, double *est)
{
    size_t D = m->dim, nd = n * D;
    double *v = ws, *jv = ws + nd;
    for (size_t i = 0; i < n; i++)
        est[i] = 0.0;
    /* One batched product per probe index; sums run in probe order. */
    for (size_t k = 0; k < M; k++) {
        for (size_t i = 0; i < n; i++)
            memcpy(v + i * D, probes + (i * M + k) * D, D * sizeof *v);
        SD_TRY(jvp(m, x, t, n, cond, v, jv, ws + 2 * nd));
        for (size_t i = 0; i < n; i++) {
            double dot = 0.0;
            for (size_t j = 0; j < D; j++)
                dot += v[i * D + j] * jv[i * D + j];
            est[i] += dot;
        }
    }
    for (size_t i = 0; i < n; i++)
        est[i] /= (double)M;
    return SCORESDE_OK;
}

/* The generic fused path's scratch per sample (Hutchinson): two n x D
 * tangent arrays, then the central differences' for kinds without jvp. */
static size_t generic_score_div_per_row(const scoresde_model *m)
{
    return 2 * m->dim + (m->ops->jvp ? 0 : fd_per_row(m));
}

int sd_model_hutchinson_c(const scoresde_model *model, const double *x, const double *t,
                          size_t n, size_t D, const sd_cond *cond, const double *probes,
                          size_t M, double *est)
{
    SD_TRY(check_eval(model, x, t, n, D, est, "est"));
    SD_TRY(sd_check_ptr(probes, "probes"));
    if (M == 0)
        return sd_fail(SCORESDE_EINVAL, "M (the number of probes per sample) is zero");
    SD_TRY(sd_check_doubles(probes, n * D, M, "probes"));
    double *ws;
    SD_TRY(take_scratch(n, generic_score_div_per_row(model), &ws));
    int rc = sd_model_probes_hutchinson(model, x, t, n, cond, probes, M, model_jvp_ws, ws, est);
    sd_free(ws);
    return rc;
}

size_t sd_model_score_div_ws(const scoresde_model *model, size_t M)
{
    if (model->ops->score_div)
        return model->ops->score_div_ws ? model->ops->score_div_ws(model, M) : 0;
    return generic_score_div_per_row(model);
}

/* sd_model_score_div_c and its twin _cf: scan_x says whether x's values are
 * checked here (the other checks run either way). */
static int score_div(const scoresde_model *model, const double *x, const double *t, size_t n,
                     size_t D, const sd_cond *cond, const double *probes, size_t M,
                     double *score, double *div, double *ws, int scan_x)
{
    SD_TRY(scan_x ? check_eval(model, x, t, n, D, score, "score")
                  : check_eval_xf(model, x, t, n, D, score, "score"));
    SD_TRY(sd_check_ptr(div, "div"));
    if (probes) {
        if (M == 0)
            return sd_fail(SCORESDE_EINVAL, "M (the number of probes per sample) is zero");
        SD_TRY(sd_check_doubles(probes, n * D, M, "probes"));
    }
    if (ws == NULL) {
        SD_TRY(take_scratch(n, sd_model_score_div_ws(model, M), &ws));
        int rc = score_div(model, x, t, n, D, cond, probes, M, score, div, ws, scan_x);
        sd_free(ws);
        return rc;
    }
    const sd_model_ops *ops = model->ops;
    if (ops->score_div)
        return ops->score_div(model, x, t, n, cond, probes, M, score, div, ws);
    SD_TRY(ops->score(model, x, t, n, cond, score));
    if (probes)
        return sd_model_probes_hutchinson(model, x, t, n, cond, probes, M, model_jvp_ws, ws, div);
    /* every kind without score_div has a divergence slot (closed forms,
     * hooks), called on the arguments checked above: no allocation and no
     * second scan of x (the public call's dispatch for any other kind) */
    if (ops->divergence)
        return ops->divergence(model, x, t, n, cond, div);
    return sd_model_divergence_c(model, x, t, n, D, cond, div);
}

int sd_model_score_div_c(const scoresde_model *model, const double *x, const double *t, size_t n,
                         size_t D, const sd_cond *cond, const double *probes, size_t M,
                         double *score, double *div, double *ws)
{
    return score_div(model, x, t, n, D, cond, probes, M, score, div, ws, 1);
}

int sd_model_score_div_cf(const scoresde_model *model, const double *x, const double *t,
                          size_t n, size_t D, const sd_cond *cond, const double *probes,
                          size_t M, double *score, double *div, double *ws)
{
    return score_div(model, x, t, n, D, cond, probes, M, score, div, ws, 0);
}

int sd_model_log_density_c(const scoresde_model *model, const double *x, const double *t,
                           size_t n, size_t D, const sd_cond *cond, double *logp)
{
    SD_TRY(check_eval(model, x, t, n, D, logp, "logp"));
    if (!model->ops->log_density)
        return sd_fail(SCORESDE_EUNSUPPORTED, "the %s model has no exact log-density",
                       model->ops->name);
    return model->ops->log_density(model, x, t, n, cond, logp);
}

int sd_model_sample_c(const scoresde_model *model, const double *t, size_t n, size_t D,
                      const sd_cond *cond, uint64_t seed, uint64_t first_sample, double *x)
{
    SD_TRY(check_shape(model, n, D));
    SD_TRY(sd_check_batch(x, n, D, "x"));
    SD_TRY(check_times(model, t, n));
    if (!model->ops->sample)
        return sd_fail(SCORESDE_EUNSUPPORTED, "the %s model cannot draw exact samples",
                       model->ops->name);
    return model->ops->sample(model, t, n, cond, seed, first_sample, x);
}

/* The public calls: the 1.0 function is its _cond twin with cond NULL. */

int scoresde_model_score_cond(const scoresde_model *model, const double *x, const double *t,
                              size_t n, size_t D, const scoresde_cond *cond, double *score)
{
    WITH_COND(model, n, cond, sd_model_score_c(model, x, t, n, D, rcp_, score));
}

int scoresde_model_score(const scoresde_model *model, const double *x, const double *t,
                         size_t n, size_t D, double *score)
{
    return scoresde_model_score_cond(model, x, t, n, D, NULL, score);
}

int scoresde_model_predict_data_cond(const scoresde_model *model, const double *x,
                                     const double *t, size_t n, size_t D,
                                     const scoresde_cond *cond, double *x0_hat)
{
    WITH_COND(model, n, cond, sd_model_predict_data_c(model, x, t, n, D, rcp_, x0_hat));
}

int scoresde_model_predict_data(const scoresde_model *model, const double *x, const double *t,
                                size_t n, size_t D, double *x0_hat)
{
    return scoresde_model_predict_data_cond(model, x, t, n, D, NULL, x0_hat);
}

int scoresde_model_predict_noise_cond(const scoresde_model *model, const double *x,
                                      const double *t, size_t n, size_t D,
                                      const scoresde_cond *cond, double *eps_hat)
{
    WITH_COND(model, n, cond, sd_model_predict_noise_c(model, x, t, n, D, rcp_, eps_hat));
}

int scoresde_model_predict_noise(const scoresde_model *model, const double *x, const double *t,
                                 size_t n, size_t D, double *eps_hat)
{
    return scoresde_model_predict_noise_cond(model, x, t, n, D, NULL, eps_hat);
}

int scoresde_model_jvp_cond(const scoresde_model *model, const double *x, const double *t,
                            size_t n, size_t D, const scoresde_cond *cond, const double *v,
                            double *score, double *jv)
{
    WITH_COND(model, n, cond, sd_model_jvp_c(model, x, t, n, D, rcp_, v, score, jv));
}

int scoresde_model_jvp(const scoresde_model *model, const double *x, const double *t, size_t n,
                       size_t D, const double *v, double *score, double *jv)
{
    return scoresde_model_jvp_cond(model, x, t, n, D, NULL, v, score, jv);
}

int scoresde_model_divergence_cond(const scoresde_model *model, const double *x,
                                   const double *t, size_t n, size_t D,
                                   const scoresde_cond *cond, double *div)
{
    WITH_COND(model, n, cond, sd_model_divergence_c(model, x, t, n, D, rcp_, div));
}

int scoresde_model_divergence(const scoresde_model *model, const double *x, const double *t,
                              size_t n, size_t D, double *div)
{
    return scoresde_model_divergence_cond(model, x, t, n, D, NULL, div);
}

int scoresde_model_hutchinson_cond(const scoresde_model *model, const double *x,
                                   const double *t, size_t n, size_t D,
                                   const scoresde_cond *cond, const double *probes, size_t M,
                                   double *est)
{
    WITH_COND(model, n, cond, sd_model_hutchinson_c(model, x, t, n, D, rcp_, probes, M, est));
}

int scoresde_model_hutchinson(const scoresde_model *model, const double *x, const double *t,
                              size_t n, size_t D, const double *probes, size_t M, double *est)
{
    return scoresde_model_hutchinson_cond(model, x, t, n, D, NULL, probes, M, est);
}

int scoresde_model_log_density_cond(const scoresde_model *model, const double *x,
                                    const double *t, size_t n, size_t D,
                                    const scoresde_cond *cond, double *logp)
{
    WITH_COND(model, n, cond, sd_model_log_density_c(model, x, t, n, D, rcp_, logp));
}

int scoresde_model_log_density(const scoresde_model *model, const double *x, const double *t,
                               size_t n, size_t D, double *logp)
{
    return scoresde_model_log_density_cond(model, x, t, n, D, NULL, logp);
}

int scoresde_model_sample_cond(const scoresde_model *model, const double *t, size_t n,
                               size_t D, const scoresde_cond *cond, uint64_t seed,
                               uint64_t first_sample, double *x)
{
    WITH_COND(model, n, cond, sd_model_sample_c(model, t, n, D, rcp_, seed, first_sample, x));
}

int scoresde_model_sample(const scoresde_model *model, const double *t, size_t n, size_t D,
                          uint64_t seed, uint64_t first_sample, double *x)
{
    return scoresde_model_sample_cond(model, t, n, D, NULL, seed, first_sample, x);
}

/* ------------------------------------------------------------- trainable */

static int check_trainable(const scoresde_model *m, const void *array, const char *name,
                           size_t count)
{
    SD_TRY(sd_check_ptr(m, "model"));
    if (!m->ops->num_params)
        return sd_fail(SCORESDE_EUNSUPPORTED, "the %s model has no trainable parameters",
                       m->ops->name);
    SD_TRY(sd_check_ptr(array, name));
    size_t want = m->ops->num_params(m);
    if (count != want)
        return sd_fail(SCORESDE_EDIM, "%s has %zu values, the model has %zu parameters", name,
                       count, want);
    return SCORESDE_OK;
}

size_t scoresde_model_num_params(const scoresde_model *model)
{
    if (model == NULL || !model->ops->num_params)
        return 0;
    return model->ops->num_params(model);
}

int scoresde_model_get_params(const scoresde_model *model, double *theta, size_t count)
{
    SD_TRY(check_trainable(model, theta, "theta", count));
    return model->ops->get_params(model, theta);
}

int scoresde_model_set_params(scoresde_model *model, const double *theta, size_t count)
{
    SD_TRY(check_trainable(model, theta, "theta", count));
    SD_TRY(sd_check_finite(theta, count, "theta"));
    return model->ops->set_params(model, theta);
}

int scoresde_model_copy_params(scoresde_model *dst, const scoresde_model *src)
{
    SD_TRY(sd_check_ptr(dst, "dst"));
    SD_TRY(sd_check_ptr(src, "src"));
    if (!dst->ops->num_params)
        return sd_fail(SCORESDE_EUNSUPPORTED, "dst is a %s model, which has no trainable parameters",
                       dst->ops->name);
    if (!src->ops->num_params)
        return sd_fail(SCORESDE_EUNSUPPORTED, "src is a %s model, which has no trainable parameters",
                       src->ops->name);
    if (dst->ops != src->ops)
        return sd_fail(SCORESDE_EINVAL,
                       "dst is a %s model and src a %s model: parameters are copied only between "
                       "models of one kind",
                       dst->ops->name, src->ops->name);
    if (dst->dim != src->dim)
        return sd_fail(SCORESDE_EDIM, "dst has dimension %zu and src %zu", dst->dim, src->dim);
    if (dst->ops->same_shape)
        SD_TRY(dst->ops->same_shape(dst, src));
    size_t n = dst->ops->num_params(dst), ns = src->ops->num_params(src);
    if (n != ns)
        return sd_fail(SCORESDE_EDIM, "dst has %zu parameters and src %zu", n, ns);
    if (dst == src || n == 0)
        return SCORESDE_OK;
    size_t bytes;
    SD_TRY(sd_mul_size(n, sizeof(double), &bytes, "parameters"));
    double *theta = sd_malloc(bytes);
    if (!theta)
        return SCORESDE_ENOMEM;
    int rc = src->ops->get_params(src, theta);
    if (rc == SCORESDE_OK)
        rc = dst->ops->set_params(dst, theta);
    sd_free(theta);
    return rc;
}

int sd_model_score_backward_c(const scoresde_model *model, const double *x, const double *t,
                              size_t n, size_t D, const sd_cond *cond, const double *score_grad,
                              double *param_grad, size_t count)
{
    SD_TRY(check_trainable(model, param_grad, "param_grad", count));
    SD_TRY(check_eval(model, x, t, n, D, score_grad, "score_grad"));
    return model->ops->score_backward(model, x, t, n, cond, score_grad, param_grad);
}

int scoresde_model_score_backward_cond(const scoresde_model *model, const double *x,
                                       const double *t, size_t n, size_t D,
                                       const scoresde_cond *cond, const double *score_grad,
                                       double *param_grad, size_t count)
{
    WITH_COND(model, n, cond,
              sd_model_score_backward_c(model, x, t, n, D, rcp_, score_grad, param_grad, count));
}

int scoresde_model_score_backward(const scoresde_model *model, const double *x,
                                  const double *t, size_t n, size_t D, const double *score_grad,
                                  double *param_grad, size_t count)
{
    return scoresde_model_score_backward_cond(model, x, t, n, D, NULL, score_grad, param_grad,
                                              count);
}

int sd_model_score_vjp(const scoresde_model *model, const double *x, const double *t, size_t n,
                       size_t D, const sd_cond *cond, double *score, double *out_grad, sd_vjp_fill_fn fill, void *ctx,
                       double *grad, size_t count)
{
    SD_TRY(check_trainable(model, grad, "param_grad", count));
    SD_TRY(check_eval(model, x, t, n, D, score, "score"));
    SD_TRY(sd_check_ptr(out_grad, "out_grad"));
    SD_TRY(sd_check_ptr((const void *)(uintptr_t)fill, "fill"));
    if (model->ops->score_vjp)
        return model->ops->score_vjp(model, x, t, n, cond, score, out_grad, fill, ctx, grad);
    SD_TRY(model->ops->score(model, x, t, n, cond, score));
    SD_TRY(fill(0, n, ctx));
    return model->ops->score_backward(model, x, t, n, cond, out_grad, grad);
}

int sd_model_probe_backward_c(const scoresde_model *model, const double *x, const double *t,
                              size_t n, size_t D, const sd_cond *cond, const double *probes,
                              size_t M, const double *weights, double *param_grad,
                              size_t count)
{
    SD_TRY(check_trainable(model, param_grad, "param_grad", count));
    SD_TRY(check_eval(model, x, t, n, D, probes, "probes"));
    SD_TRY(sd_check_ptr(weights, "weights"));
    if (M == 0)
        return sd_fail(SCORESDE_EINVAL, "M (the number of probes per sample) is zero");
    SD_TRY(sd_check_doubles(probes, n * D, M, "probes"));
    return model->ops->probe_backward(model, x, t, n, cond, probes, M, weights, param_grad);
}

int scoresde_model_probe_backward_cond(const scoresde_model *model, const double *x,
                                       const double *t, size_t n, size_t D,
                                       const scoresde_cond *cond, const double *probes,
                                       size_t M, const double *weights, double *param_grad,
                                       size_t count)
{
    WITH_COND(model, n, cond,
              sd_model_probe_backward_c(model, x, t, n, D, rcp_, probes, M, weights, param_grad,
                                        count));
}

int scoresde_model_probe_backward(const scoresde_model *model, const double *x,
                                  const double *t, size_t n, size_t D, const double *probes,
                                  size_t M, const double *weights, double *param_grad,
                                  size_t count)
{
    return scoresde_model_probe_backward_cond(model, x, t, n, D, NULL, probes, M, weights,
                                              param_grad, count);
}

int sd_model_probe_vjp(const scoresde_model *model, const double *x, const double *t, size_t n,
                       size_t D, const sd_cond *cond, const double *probes, size_t M, const double *weights,
                       double *est, double *grad, size_t count)
{
    SD_TRY(check_trainable(model, grad, "param_grad", count));
    SD_TRY(check_eval(model, x, t, n, D, est, "est"));
    SD_TRY(sd_check_ptr(weights, "weights"));
    if (M == 0)
        return sd_fail(SCORESDE_EINVAL, "M (the number of probes per sample) is zero");
    if (probes) {
        SD_TRY(sd_check_doubles(probes, n * D, M, "probes"));
    } else if (M != D) {
        return sd_fail(SCORESDE_EINVAL, "axis probes need M = D = %zu, M is %zu", D, M);
    }
    if (!model->ops->probe_vjp)
        return sd_fail(SCORESDE_EUNSUPPORTED, "the %s model has no fused probe backward",
                       model->ops->name);
    return model->ops->probe_vjp(model, x, t, n, cond, probes, M, weights, est, grad);
}
