/*
 * The shared layer of the network kinds: output preconditioning, time
 * features, the EMBED condition and the workspace pool (precond.h explains
 * the arithmetic), and the model-kind slots every network kind uses.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "precond.h"

#include "io.h"

#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

static void slot_free(const sd_pmodel *pm, sd_pslot *s)
{
    if (!s)
        return;
    if (s->ws)
        pm->net->ws_free(s->ws);
    sd_free(s->xs);
    sd_free(s->vs);
    sd_free(s->feat);
    sd_free(s->fg);
    sd_free(s->out);
    sd_free(s->jv);
    sd_free(s->g);
    sd_free(s->coef);
    sd_free(s->mv);
    sd_free(s->mjv);
    sd_free(s);
}

/* A slot whose workspace runs BLIS on `blis_threads` threads (0: n_threads,
 * or 1 inside a parallel region). */
static int slot_take(const scoresde_model *m, sd_pslot **out, int blis_threads)
{
    sd_pmodel *pm = m->state;
    pthread_mutex_lock(&pm->lock);
    sd_pslot *s = pm->pool;
    if (s)
        pm->pool = s->next;
    pthread_mutex_unlock(&pm->lock);
    /* no nested parallelism: see precond.h */
    int nt = blis_threads > 0 ? blis_threads : omp_in_parallel() ? 1 : pm->n_threads;
    if (s) {
        pm->net->ws_set_threads(s->ws, nt);
        *out = s;
        return SCORESDE_OK;
    }
    size_t C = pm->chunk_rows, D = m->dim, E = pm->embed_dim;
    s = sd_calloc(1, sizeof *s);
    if (!s)
        return SCORESDE_ENOMEM;
    int rc = pm->net->ws_create(pm, C, nt, &s->ws);
    if (rc == SCORESDE_OK) {
        s->xs = sd_malloc(C * D * sizeof(double));
        s->vs = sd_malloc(C * D * sizeof(double));
        s->feat = sd_malloc(C * E * sizeof(double));
        s->fg = pm->n_cp ? sd_malloc(C * E * sizeof(double)) : NULL;
        s->out = sd_malloc(C * D * sizeof(double));
        s->jv = sd_malloc(C * D * sizeof(double));
        s->g = sd_malloc(C * D * sizeof(double));
        s->coef = sd_malloc(3 * C * sizeof(double));
        s->mv = sd_malloc(2 * C * D * sizeof(double));
        s->mjv = sd_malloc(2 * C * D * sizeof(double));
        if (!s->xs || !s->vs || !s->feat || (pm->n_cp && !s->fg) || !s->out || !s->jv ||
            !s->g || !s->coef || !s->mv || !s->mjv)
            rc = SCORESDE_ENOMEM;
    }
    if (rc != SCORESDE_OK) {
        slot_free(pm, s);
        return rc;
    }
    *out = s;
    return SCORESDE_OK;
}

static int slot_acquire(const scoresde_model *m, sd_pslot **out)
{
    return slot_take(m, out, 0);
}

static void slot_release(const scoresde_model *m, sd_pslot *s)
{
    sd_pmodel *pm = m->state;
    pthread_mutex_lock(&pm->lock);
    s->next = pm->pool;
    pm->pool = s;
    pthread_mutex_unlock(&pm->lock);
}

uint64_t sd_pmodel_cond_params(size_t embed_dim, size_t cond_dim, size_t cond_classes,
                               int cond_input, int cond_null)
{
    if (cond_dim == 0 || !sd_pmodel_embedded(cond_input))
        return 0;
    return (uint64_t)(cond_classes ? cond_classes : cond_dim) * embed_dim +
           (cond_null ? embed_dim : 0);
}

/* The condition's parameters in the model's precision: check them all
 * (store 0), or store them (store 1, after a check). */
static int set_cond_params(sd_pmodel *pm, const double *theta, int store)
{
    size_t off = pm->net->num_params(pm);
    for (size_t q = 0; q < pm->n_cp; q++) {
        if (!store && pm->f32 && !(fabs(theta[q]) < SD_FLOAT32_LIMIT))
            return sd_fail(SCORESDE_EINVAL,
                           "theta[%zu] (%g), a condition parameter, is beyond float32's range",
                           q + off, theta[q]);
        if (store)
            pm->cp[q] = pm->f32 ? (double)(float)theta[q] : theta[q];
    }
    return SCORESDE_OK;
}

int sd_pmodel_init(sd_pmodel *pm, const sd_pnet_ops *net, const sd_pmodel_config *cfg,
                   const double *freq)
{
    if (pthread_mutex_init(&pm->lock, NULL) != 0)
        return sd_fail(SCORESDE_ENOMEM, "could not create the %s model's workspace lock",
                       cfg->name);
    pm->net = net;
    pm->name = cfg->name;
    pm->dim = cfg->dim;
    pm->output = cfg->output;
    pm->embedding = cfg->embedding;
    pm->embed_dim = cfg->embed_dim;
    pm->sigma_data = cfg->sigma_data;
    pm->chunk_rows = cfg->chunk_rows;
    pm->n_threads = cfg->n_threads;
    pm->f32 = cfg->precision == SCORESDE_MLP_FLOAT32;
    pm->cond_dim = cfg->cond_dim;
    pm->cond_classes = cfg->cond_classes;
    pm->cond_input = cfg->cond_input;
    pm->cond_null = cfg->cond_dim > 0 && cfg->cond_null;
    size_t C = cfg->cond_dim, E = cfg->embed_dim;
    pm->n_cp = (size_t)sd_pmodel_cond_params(E, C, cfg->cond_classes, cfg->cond_input,
                                             pm->cond_null);
    size_t h = E / 2;
    pm->freq = sd_malloc(h * sizeof(double));
    pm->cp = sd_calloc(pm->n_cp ? pm->n_cp : 1, sizeof(double)); /* u starts at zero */
    if (!pm->freq || !pm->cp) {
        sd_pmodel_fini(pm);
        return SCORESDE_ENOMEM;
    }
    if (freq != NULL) {
        memcpy(pm->freq, freq, h * sizeof(double));
    } else if (cfg->embedding == SCORESDE_MLP_EMBED_FOURIER) {
        sd_rng_normal(cfg->seed, UINT64_C(1) << 32, SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, 0), h,
                      pm->freq);
        for (size_t k = 0; k < h; k++)
            pm->freq[k] *= 2.0 * M_PI * cfg->fourier_scale;
    } else {
        for (size_t k = 0; k < h; k++)
            pm->freq[k] = h > 1 ? exp(-log(10000.0) * (double)k / (double)(h - 1)) : 1.0;
    }
    if (pm->n_cp) {
        /* E ~ N(0, 1/C) or T ~ N(0, 1), then u = 0 (model.h). */
        size_t n_emb = pm->n_cp - (pm->cond_null ? E : 0);
        double scale = cfg->cond_classes ? 1.0 : sqrt(1.0 / (double)C);
        sd_rng_normal(cfg->seed, (UINT64_C(1) << 32) + 1,
                      SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, 0), n_emb, pm->cp);
        for (size_t q = 0; q < n_emb; q++)
            pm->cp[q] *= scale;
        /* normals are far inside float's range: no check needed */
        for (size_t q = 0; q < pm->n_cp; q++)
            pm->cp[q] = pm->f32 ? (double)(float)pm->cp[q] : pm->cp[q];
    }
    return SCORESDE_OK;
}

void sd_pmodel_fini(sd_pmodel *pm)
{
    while (pm->pool) {
        sd_pslot *s = pm->pool;
        pm->pool = s->next;
        slot_free(pm, s);
    }
    pthread_mutex_destroy(&pm->lock);
    sd_free(pm->freq);
    sd_free(pm->cp);
    pm->freq = NULL;
    pm->cp = NULL;
}

void sd_pmodel_set_cond_fields(scoresde_model *m, const sd_pmodel *pm)
{
    m->cond_dim = pm->cond_dim;
    m->cond_labels = pm->cond_classes;
    m->cond_null = pm->cond_dim > 0 && pm->cond_null;
}

void sd_pmodel_concat_row(const sd_pmodel *pm, const sd_cond *cond, size_t i, double *dst)
{
    int null = sd_cond_is_null(cond, i);
    const double *c = null ? NULL : sd_cond_row(cond, i);
    for (size_t j = 0; j < pm->cond_dim; j++)
        dst[j] = null ? 0.0 : c[j];
}

/* Where the condition's embedding parameters start in pm->cp: E or T, then
 * the null vector u. */
static const double *cond_null_vector(const sd_pmodel *pm)
{
    size_t rows = pm->cond_classes ? pm->cond_classes : pm->cond_dim;
    return pm->cp + rows * pm->embed_dim; /* T is K x E; E is E x C: same count */
}

/* The EMBED condition's part of one row of features: adds E c, T_k or u. */
static void embed_condition(const sd_pmodel *pm, const sd_cond *cond, size_t i, double *f)
{
    size_t E = pm->embed_dim, C = pm->cond_dim;
    if (sd_cond_is_null(cond, i)) {
        const double *u = cond_null_vector(pm);
        for (size_t k = 0; k < E; k++)
            f[k] += u[k];
        return;
    }
    const double *c = sd_cond_row(cond, i);
    if (pm->cond_classes) {
        const double *T = pm->cp + (size_t)c[0] * E;
        for (size_t k = 0; k < E; k++)
            f[k] += T[k];
    } else {
        for (size_t k = 0; k < E; k++) {
            double e = 0.0;
            for (size_t j = 0; j < C; j++)
                e += pm->cp[k * C + j] * c[j];
            f[k] += e;
        }
    }
}

/* ADD the gradient of the condition's parameters, from the feature adjoints
 * of rows i0 .. i0+r-1 in s->fg, to grad (the condition's part of the
 * gradient); rows in order, so the sum does not depend on threads. */
static void condition_backward(const sd_pmodel *pm, const sd_pslot *s, const sd_cond *cond,
                               size_t i0, size_t r, double *grad)
{
    size_t E = pm->embed_dim, C = pm->cond_dim;
    double *gu = grad + (cond_null_vector(pm) - pm->cp);
    for (size_t i = 0; i < r; i++) {
        const double *ge = s->fg + i * E;
        if (sd_cond_is_null(cond, i0 + i)) {
            for (size_t k = 0; k < E; k++)
                gu[k] += ge[k];
            continue;
        }
        const double *c = sd_cond_row(cond, i0 + i);
        if (pm->cond_classes) {
            double *gT = grad + (size_t)c[0] * E;
            for (size_t k = 0; k < E; k++)
                gT[k] += ge[k];
        } else {
            for (size_t k = 0; k < E; k++)
                for (size_t j = 0; j < C; j++)
                    grad[k * C + j] += ge[k] * c[j];
        }
    }
}

/* Coefficients, scaled inputs and features of rows i0 .. i0+r-1, loaded
 * into the network's workspace. */
static int prepare_chunk(const scoresde_model *m, sd_pslot *s, const double *x, const double *t,
                         const sd_cond *cond, size_t i0, size_t r)
{
    const sd_pmodel *pm = m->state;
    size_t D = m->dim, E = pm->embed_dim, h = E / 2;
    double sd = pm->sigma_data;
    int out = pm->output;
    for (size_t i = 0; i < r; i++) {
        double ti = t[i0 + i], alpha, sigma, A, B, C, tau;
        SD_TRY(sd_model_marginal(m, ti, &alpha, &sigma));
        if (sigma <= 0.0 && (out != SCORESDE_MLP_OUTPUT_SCORE ||
                             pm->embedding == SCORESDE_MLP_EMBED_FOURIER))
            return sd_fail(SCORESDE_EINVAL,
                           "t[%zu] = %g gives sigma(t) = 0, where this %s model (%s) is not "
                           "defined",
                           i0 + i, ti, pm->name,
                           out != SCORESDE_MLP_OUTPUT_SCORE ? "its output parameterisation"
                                                            : "its Fourier embedding of ln sigma");
        switch (out) {
        case SCORESDE_MLP_OUTPUT_NOISE:
            A = 0.0;
            B = -1.0 / sigma;
            C = 1.0;
            break;
        case SCORESDE_MLP_OUTPUT_DATA:
            A = -1.0 / (sigma * sigma);
            B = alpha / (sigma * sigma);
            C = 1.0;
            break;
        case SCORESDE_MLP_OUTPUT_EDM: {
            double se = sigma / alpha, q = se * se + sd * sd, rq = sqrt(q);
            A = -1.0 / (alpha * alpha * q);
            B = sd / (sigma * rq);
            C = 1.0 / (alpha * rq);
            break;
        }
        case SCORESDE_MLP_OUTPUT_SCORE:
        default:
            A = 0.0;
            B = 1.0;
            C = 1.0;
            break;
        }
        if (out == SCORESDE_MLP_OUTPUT_EDM)
            tau = log(sigma / alpha) / 4.0; /* c_noise */
        else if (pm->embedding == SCORESDE_MLP_EMBED_FOURIER)
            tau = log(sigma);
        else
            tau = 999.0 * ti;
        s->coef[i] = A;
        s->coef[r + i] = B;
        s->coef[2 * r + i] = C;
        double *xr = s->xs + i * D, *f = s->feat + i * E;
        for (size_t j = 0; j < D; j++)
            xr[j] = C * x[(i0 + i) * D + j];
        for (size_t k = 0; k < h; k++) {
            double a = tau * pm->freq[k];
            f[k] = sin(a);
            f[h + k] = cos(a);
        }
        if (pm->n_cp)
            embed_condition(pm, cond, i0 + i, f);
    }
    pm->net->load(pm, s->ws, r, s->xs, s->feat, cond, i0);
    return SCORESDE_OK;
}

/* s = A x + B F for rows of a chunk, checking for non-finite results. */
static int finish_score(const scoresde_model *m, const sd_pslot *s, const double *x,
                        const double *t, size_t i0, size_t r, double *score)
{
    const sd_pmodel *pm = m->state;
    size_t D = m->dim;
    for (size_t i = 0; i < r; i++) {
        double A = s->coef[i], B = s->coef[r + i];
        for (size_t j = 0; j < D; j++) {
            double v = A * x[(i0 + i) * D + j] + B * s->out[i * D + j];
            if (!isfinite(v))
                return sd_fail(SCORESDE_ENUMERIC,
                               "the %s score is not finite (%g) for sample %zu, coordinate "
                               "%zu (t = %g)",
                               pm->name, v, i0 + i, j, t[i0 + i]);
            score[(i0 + i) * D + j] = v;
        }
    }
    return SCORESDE_OK;
}

/* The rows of the chunk starting at row i0 of n. */
static size_t chunk_len(const sd_pmodel *pm, size_t n, size_t i0)
{
    return n - i0 < pm->chunk_rows ? n - i0 : pm->chunk_rows;
}

/* The score of rows i0 .. i0+r-1 into out; with keep the forward state
 * stays in the slot's workspace for a backward pass (else the network's
 * predict, the same bits without it). */
static int score_chunk(const scoresde_model *m, sd_pslot *s, const double *x, const double *t,
                       const sd_cond *cond, size_t i0, size_t r, int keep, double *out)
{
    const sd_pmodel *pm = m->state;
    int rc = prepare_chunk(m, s, x, t, cond, i0, r);
    if (rc == SCORESDE_OK)
        rc = (keep ? pm->net->forward : pm->net->predict)(pm, s->ws, r, s->out);
    if (rc == SCORESDE_OK)
        rc = finish_score(m, s, x, t, i0, r, out);
    return rc;
}

/* The score of rows lo .. hi-1 into out, chunk by chunk, with one slot on
 * one BLIS thread (scores are threaded by splitting rows, below). */
static int score_rows(const scoresde_model *m, const double *x, const double *t, size_t lo,
                      size_t hi, const sd_cond *cond, double *out)
{
    const sd_pmodel *pm = m->state;
    sd_pslot *s;
    SD_TRY(slot_take(m, &s, 1));
    int rc = SCORESDE_OK;
    for (size_t i0 = lo; i0 < hi && rc == SCORESDE_OK; i0 += pm->chunk_rows)
        rc = score_chunk(m, s, x, t, cond, i0, chunk_len(pm, hi, i0), 0, out);
    slot_release(m, s);
    return rc;
}

/* The threads a score of n rows splits its rows over (see precond.h): the
 * n_threads granted at the top level (never inside any OpenMP region, active
 * or not), at most one per SD_SPLIT_ROWS rows (a fork and join costs about
 * one row's evaluation on an idle machine, but a thread's wake-up on a busy
 * one can cost thousands); 1: no split. */
#define SD_SPLIT_ROWS 256
static int split_threads(const sd_pmodel *pm, size_t n)
{
    if (pm->n_threads < 2 || omp_get_level() > 0)
        return 1;
    int nt = pm->n_threads, procs = omp_get_num_procs(), limit = omp_get_thread_limit();
    if (nt > procs)
        nt = procs;
    if (nt > limit)
        nt = limit;
    if ((size_t)nt > n / SD_SPLIT_ROWS)
        nt = (int)(n / SD_SPLIT_ROWS);
    return nt < 1 ? 1 : nt;
}

int sd_pmodel_score(const scoresde_model *m, const double *x, const double *t, size_t n,
                    const sd_cond *cond, double *out)
{
    int nt = split_threads(m->state, n);
    if (nt == 1)
        return score_rows(m, x, t, 0, n, cond, out);
    /* thread q of the team: rows [q n / team, (q + 1) n / team), each on one
     * BLIS thread (its slot is taken inside the region); a row's score does
     * not depend on the rows beside it, so the bits are the serial ones, and
     * the error is the lowest failing part's (the serial order's first) */
    int fail_q = INT_MAX, fail_rc = SCORESDE_OK;
    char fail_msg[256] = "";
#pragma omp parallel num_threads(nt)
    {
        int q = omp_get_thread_num(), team = omp_get_num_threads();
        size_t lo = n * (size_t)q / (size_t)team, hi = n * ((size_t)q + 1) / (size_t)team;
        int rc = score_rows(m, x, t, lo, hi, cond, out);
        if (rc != SCORESDE_OK) {
#pragma omp critical(sd_pmodel_split)
            if (q < fail_q) {
                fail_q = q;
                fail_rc = rc;
                snprintf(fail_msg, sizeof fail_msg, "%s", scoresde_last_error());
            }
        }
    }
    return fail_rc == SCORESDE_OK ? SCORESDE_OK : sd_fail(fail_rc, "%s", fail_msg);
}

/* Tangent inputs of a chunk: C v (the features' tangent is zero). */
static void tangent_inputs(const scoresde_model *m, sd_pslot *s, const double *v, size_t ld,
                           size_t i0, size_t r)
{
    size_t D = m->dim;
    for (size_t i = 0; i < r; i++) {
        double C = s->coef[2 * r + i];
        for (size_t j = 0; j < D; j++)
            s->vs[i * D + j] = C * v[(i0 + i) * ld + j];
    }
}

/* Axis tangent inputs of a chunk: C e_k, with e_k's 1.0 and 0.0 multiplied
 * as tangent_inputs multiplies a stored e_k. */
static void axis_tangent_inputs(const scoresde_model *m, sd_pslot *s, size_t k, size_t r)
{
    size_t D = m->dim;
    for (size_t i = 0; i < r; i++) {
        double C = s->coef[2 * r + i];
        for (size_t j = 0; j < D; j++)
            s->vs[i * D + j] = C * (j == k ? 1.0 : 0.0);
    }
}

/* (J_s v)_j = A v_j + B (J_F (C v, 0))_j: one function for jvp and
 * probe_vjp, so both round alike. */
static inline double jv_value(double A, double v, double B, double jvF)
{
    return A * v + B * jvF;
}

static int jv_not_finite(const sd_pmodel *pm, double val, size_t i, size_t j, const double *t)
{
    return sd_fail(SCORESDE_ENUMERIC,
                   "the %s Jacobian product is not finite (%g) for sample %zu, coordinate %zu "
                   "(t = %g)",
                   pm->name, val, i, j, t[i]);
}

int sd_pmodel_jvp(const scoresde_model *m, const double *x, const double *t, size_t n,
                  const sd_cond *cond, const double *v, double *score_out, double *jv)
{
    const sd_pmodel *pm = m->state;
    size_t D = m->dim;
    sd_pslot *s;
    SD_TRY(slot_acquire(m, &s));
    int rc = SCORESDE_OK;
    for (size_t i0 = 0; i0 < n && rc == SCORESDE_OK; i0 += pm->chunk_rows) {
        size_t r = chunk_len(pm, n, i0);
        rc = prepare_chunk(m, s, x, t, cond, i0, r);
        if (rc != SCORESDE_OK)
            break;
        tangent_inputs(m, s, v, D, i0, r);
        rc = pm->net->jvp(pm, s->ws, r, s->vs, s->out, s->jv);
        if (rc == SCORESDE_OK && score_out)
            rc = finish_score(m, s, x, t, i0, r, score_out);
        for (size_t i = 0; rc == SCORESDE_OK && i < r; i++) {
            double A = s->coef[i], B = s->coef[r + i];
            for (size_t j = 0; j < D; j++) {
                double val = jv_value(A, v[(i0 + i) * D + j], B, s->jv[i * D + j]);
                if (!isfinite(val))
                    rc = jv_not_finite(pm, val, i0 + i, j, t);
                jv[(i0 + i) * D + j] = val;
            }
        }
    }
    slot_release(m, s);
    return rc;
}

/* Backpropagate the chunk's output gradient (rows i0 .. i0+r of out_grad,
 * through the output coefficient B) from the forward state in the slot's
 * workspace, adding into grad. */
static int backward_chunk(const scoresde_model *m, sd_pslot *s, const sd_cond *cond,
                          const double *out_grad, size_t i0, size_t r, double *grad)
{
    const sd_pmodel *pm = m->state;
    size_t D = m->dim;
    for (size_t i = 0; i < r; i++)
        for (size_t j = 0; j < D; j++)
            s->g[i * D + j] = s->coef[r + i] * out_grad[(i0 + i) * D + j];
    SD_TRY(pm->net->backward(pm, s->ws, s->g, grad, pm->n_cp ? s->fg : NULL));
    if (pm->n_cp)
        condition_backward(pm, s, cond, i0, r, grad + pm->net->num_params(pm));
    return SCORESDE_OK;
}

int sd_pmodel_score_backward(const scoresde_model *m, const double *x, const double *t, size_t n,
                             const sd_cond *cond, const double *out_grad, double *grad)
{
    const sd_pmodel *pm = m->state;
    sd_pslot *s;
    SD_TRY(slot_acquire(m, &s));
    int rc = SCORESDE_OK;
    for (size_t i0 = 0; i0 < n && rc == SCORESDE_OK; i0 += pm->chunk_rows) {
        size_t r = chunk_len(pm, n, i0);
        rc = prepare_chunk(m, s, x, t, cond, i0, r);
        if (rc == SCORESDE_OK)
            rc = pm->net->forward(pm, s->ws, r, s->out);
        if (rc != SCORESDE_OK)
            break;
        rc = backward_chunk(m, s, cond, out_grad, i0, r, grad);
    }
    slot_release(m, s);
    return rc;
}

/* Fused score and backward: per chunk, the forward pass keeps its state in
 * the slot's workspace, the caller turns the chunk's score into its output
 * gradient, and the backward runs on that state. Chunks, the arithmetic of
 * each and the order in which chunks add into grad are those of score
 * followed by score_backward, so the result is bit-identical to that pair
 * with one forward pass (and one prepare_chunk) fewer per chunk. */
int sd_pmodel_score_vjp(const scoresde_model *m, const double *x, const double *t, size_t n,
                        const sd_cond *cond, double *score, double *out_grad, sd_vjp_fill_fn fill,
                        void *ctx, double *grad)
{
    const sd_pmodel *pm = m->state;
    sd_pslot *s;
    SD_TRY(slot_acquire(m, &s));
    int rc = SCORESDE_OK;
    for (size_t i0 = 0; i0 < n && rc == SCORESDE_OK; i0 += pm->chunk_rows) {
        size_t r = chunk_len(pm, n, i0);
        rc = score_chunk(m, s, x, t, cond, i0, r, 1, score);
        if (rc == SCORESDE_OK)
            rc = fill(i0, r, ctx);
        if (rc != SCORESDE_OK)
            break;
        rc = backward_chunk(m, s, cond, out_grad, i0, r, grad);
    }
    slot_release(m, s);
    return rc;
}

/* Probe terms and their backward (the probe_vjp slot; probe_backward is the
 * same pass with est NULL). Per chunk: one prepare_chunk, then per probe
 * index k one jvp whose result gives the chunk's terms v^T J v (as jvp
 * forms J_s v and the generic hutchinson/divergence sum it: same products,
 * same order per sample) and whose state the tangent backward uses. So est
 * and grad are bit-identical to a Hutchinson or divergence call followed by
 * probe_backward, with one jvp pass per probe fewer. A per-sample sum over k
 * is independent of the chunk loop order. */
int sd_pmodel_probe_vjp(const scoresde_model *m, const double *x, const double *t, size_t n,
                        const sd_cond *cond, const double *probes, size_t M,
                        const double *weights, double *est, double *grad)
{
    const sd_pmodel *pm = m->state;
    size_t D = m->dim;
    sd_pslot *s;
    SD_TRY(slot_acquire(m, &s));
    int rc = SCORESDE_OK;
    for (size_t i0 = 0; i0 < n && rc == SCORESDE_OK; i0 += pm->chunk_rows) {
        size_t r = chunk_len(pm, n, i0);
        rc = prepare_chunk(m, s, x, t, cond, i0, r);
        for (size_t i = 0; est && i < r; i++)
            est[i0 + i] = 0.0;
        for (size_t k = 0; rc == SCORESDE_OK && k < M; k++) {
            if (probes)
                tangent_inputs(m, s, probes + k * D, M * D, i0, r);
            else
                axis_tangent_inputs(m, s, k, r);
            rc = pm->net->jvp(pm, s->ws, r, s->vs, NULL, s->jv);
            for (size_t i = 0; rc == SCORESDE_OK && i < r; i++) {
                double A = s->coef[i], B = s->coef[r + i];
                double f = grad ? weights[(i0 + i) * M + k] * B : 0.0, dot = 0.0;
                const double *v = probes ? probes + ((i0 + i) * M + k) * D : NULL;
                for (size_t j = 0; j < D; j++) {
                    double vj = v ? v[j] : (j == k ? 1.0 : 0.0);
                    double val = jv_value(A, vj, B, s->jv[i * D + j]);
                    if (!isfinite(val)) {
                        rc = jv_not_finite(pm, val, i0 + i, j, t);
                        break;
                    }
                    if (v)
                        dot += vj * val;
                    else if (est && j == k)
                        est[i0 + i] += val;
                    /* The backward seed of w v^T J v (the tangent input
                     * already carries C: w B v). */
                    if (grad)
                        s->g[i * D + j] = f * vj;
                }
                if (v && est)
                    est[i0 + i] += dot;
            }
            if (rc == SCORESDE_OK && grad)
                rc = pm->net->tangent_backward(pm, s->ws, s->g, grad, pm->n_cp ? s->fg : NULL);
            if (rc == SCORESDE_OK && grad && pm->n_cp)
                condition_backward(pm, s, cond, i0, r, grad + pm->net->num_params(pm));
        }
        for (size_t i = 0; rc == SCORESDE_OK && probes && est && i < r; i++)
            est[i0 + i] /= (double)M;
    }
    slot_release(m, s);
    return rc;
}

/* The exact divergence: the probe pass with the D axis probes and no
 * backward (grad NULL), so it allocates nothing; per sample the same
 * products and sum order as the generic layer's D jvp calls. */
int sd_pmodel_divergence(const scoresde_model *m, const double *x, const double *t, size_t n,
                         const sd_cond *cond, double *div)
{
    return sd_pmodel_probe_vjp(m, x, t, n, cond, NULL, m->dim, NULL, div, NULL);
}

int sd_pmodel_score_div(const scoresde_model *m, const double *x, const double *t, size_t n,
                        const sd_cond *cond, const double *probes, size_t M, double *score,
                        double *div, double *ws)
{
    (void)ws;
    const sd_pmodel *pm = m->state;
    size_t D = m->dim, K = probes ? M : D, cap = 2 * pm->chunk_rows;
    size_t G = K < cap - 1 ? K : cap - 1;
    sd_pslot *s;
    SD_TRY(slot_acquire(m, &s));
    int rc = SCORESDE_OK;
    for (size_t i0 = 0; i0 < n && rc == SCORESDE_OK; i0 += pm->chunk_rows) {
        size_t r = chunk_len(pm, n, i0), bad_i = 0, bad_j = 0;
        double bad = 0.0;
        int jv_bad = 0;
        rc = prepare_chunk(m, s, x, t, cond, i0, r);
        for (size_t i = 0; i < r; i++)
            div[i0 + i] = 0.0;
        for (size_t g0 = 0; rc == SCORESDE_OK && g0 < K; g0 += G) {
            size_t gc = K - g0 < G ? K - g0 : G, q0 = cap / (1 + gc);
            for (size_t i1 = 0; rc == SCORESDE_OK && i1 < r; i1 += q0) {
                size_t q = r - i1 < q0 ? r - i1 : q0;
                /* the tangent inputs C v (axis: C e_k, multiplied as a stored e_k) */
                for (size_t k = 0; k < gc; k++)
                    for (size_t i = 0; i < q; i++) {
                        double C = s->coef[2 * r + i1 + i];
                        const double *v = probes ? probes + ((i0 + i1 + i) * M + g0 + k) * D : NULL;
                        double *dst = s->mv + (k * q + i) * D;
                        for (size_t j = 0; j < D; j++)
                            dst[j] = C * (v ? v[j] : (j == g0 + k ? 1.0 : 0.0));
                    }
                rc = pm->net->jvp_multi(pm, s->ws, i1, q, gc, s->mv,
                                        g0 == 0 ? s->out + i1 * D : NULL, s->mjv);
                for (size_t k = 0; rc == SCORESDE_OK && k < gc; k++)
                    for (size_t i = 0; i < q; i++) {
                        size_t row = i1 + i, kk = g0 + k;
                        double A = s->coef[row], B = s->coef[r + row], dot = 0.0;
                        const double *v = probes ? probes + ((i0 + row) * M + kk) * D : NULL;
                        const double *jf = s->mjv + (k * q + i) * D;
                        for (size_t j = 0; j < D; j++) {
                            double vj = v ? v[j] : (j == kk ? 1.0 : 0.0);
                            double val = jv_value(A, vj, B, jf[j]);
                            if (!isfinite(val) && !jv_bad) {
                                jv_bad = 1;
                                bad = val, bad_i = i0 + row, bad_j = j;
                            }
                            if (v)
                                dot += vj * val;
                            else if (j == kk)
                                div[i0 + row] += val;
                        }
                        if (v)
                            div[i0 + row] += dot;
                    }
            }
        }
        for (size_t i = 0; rc == SCORESDE_OK && probes && i < r; i++)
            div[i0 + i] /= (double)M;
        /* the score's failure first, as the separate score then divergence */
        if (rc == SCORESDE_OK)
            rc = finish_score(m, s, x, t, i0, r, score);
        if (rc == SCORESDE_OK && jv_bad)
            rc = jv_not_finite(pm, bad, bad_i, bad_j, t);
    }
    slot_release(m, s);
    return rc;
}

int sd_pmodel_probe_backward(const scoresde_model *m, const double *x, const double *t, size_t n,
                             const sd_cond *cond, const double *probes, size_t M,
                             const double *weights, double *grad)
{
    return sd_pmodel_probe_vjp(m, x, t, n, cond, probes, M, weights, NULL, grad);
}

size_t sd_pmodel_num_params(const scoresde_model *m)
{
    const sd_pmodel *pm = m->state;
    return pm->net->num_params(pm) + pm->n_cp;
}

double sd_pmodel_param_limit(const scoresde_model *m)
{
    const sd_pmodel *pm = m->state;
    return pm->f32 ? SD_FLOAT32_LIMIT : INFINITY;
}

int sd_pmodel_get_params(const scoresde_model *m, double *theta)
{
    const sd_pmodel *pm = m->state;
    memcpy(theta + pm->net->num_params(pm), pm->cp, pm->n_cp * sizeof *theta);
    pm->net->get_params(pm, theta);
    return SCORESDE_OK;
}

int sd_pmodel_set_params(scoresde_model *m, const double *theta)
{
    sd_pmodel *pm = m->state;
    const double *tc = theta + pm->net->num_params(pm);
    SD_TRY(set_cond_params(pm, tc, 0));
    SD_TRY(pm->net->set_params(pm, theta));
    return set_cond_params(pm, tc, 1);
}

int sd_pmodel_copy_params(sd_pmodel *dst, const sd_pmodel *src)
{
    size_t np = src->net->num_params(src);
    double *theta = sd_malloc(np * sizeof *theta);
    if (!theta)
        return SCORESDE_ENOMEM;
    src->net->get_params(src, theta);
    int rc = dst->net->set_params(dst, theta);
    sd_free(theta);
    memcpy(dst->cp, src->cp, src->n_cp * sizeof *dst->cp);
    return rc;
}

int sd_pmodel_same_cond(const sd_pmodel *a, const sd_pmodel *b)
{
    if (a->cond_dim != b->cond_dim || a->cond_classes != b->cond_classes ||
        (a->cond_dim && (a->cond_input != b->cond_input || !a->cond_null != !b->cond_null)))
        return sd_fail(SCORESDE_EDIM,
                       "dst and src take different conditions (cond_dim %zu and %zu, "
                       "cond_classes %zu and %zu, or cond_input or cond_null differ)",
                       a->cond_dim, b->cond_dim, a->cond_classes, b->cond_classes);
    return SCORESDE_OK;
}

int sd_pmodel_check(const sd_pmodel_config *o, int code, const char *where)
{
    if (o->activation < SCORESDE_MLP_SILU || o->activation > SCORESDE_MLP_GELU)
        return sd_fail(code, "%sactivation (%d) is not a SCORESDE_MLP_* activation", where,
                       o->activation);
    if (o->output < SCORESDE_MLP_OUTPUT_SCORE || o->output > SCORESDE_MLP_OUTPUT_EDM)
        return sd_fail(code, "%soutput (%d) is not a SCORESDE_MLP_OUTPUT_* value", where,
                       o->output);
    if (o->embedding < SCORESDE_MLP_EMBED_AUTO || o->embedding > SCORESDE_MLP_EMBED_SINUSOIDAL)
        return sd_fail(code, "%sembedding (%d) is not a SCORESDE_MLP_EMBED_* value", where,
                       o->embedding);
    if (o->embed_dim < 2 || o->embed_dim > 4096 || o->embed_dim % 2 != 0)
        return sd_fail(code, "%sembed_dim (%zu) must be even and between 2 and 4096", where,
                       o->embed_dim);
    if (!(isfinite(o->fourier_scale) && o->fourier_scale > 0))
        return sd_fail(code, "%sfourier_scale (%g) must be positive and finite", where,
                       o->fourier_scale);
    if (!(isfinite(o->sigma_data) && o->sigma_data > 0))
        return sd_fail(code, "%ssigma_data (%g) must be positive and finite", where,
                       o->sigma_data);
    if (o->precision != SCORESDE_MLP_FLOAT64 && o->precision != SCORESDE_MLP_FLOAT32)
        return sd_fail(code, "%sprecision (%d) is not a SCORESDE_MLP_* precision", where,
                       o->precision);
    if (o->chunk_rows < 1 || o->chunk_rows > ((size_t)1 << 20))
        return sd_fail(code, "%schunk_rows (%zu) is not between 1 and 2^20", where,
                       o->chunk_rows);
    if (o->n_threads < 1 || o->n_threads > 1024)
        return sd_fail(code, "%sn_threads (%d) is not between 1 and 1024", where, o->n_threads);
    if (o->cond_dim > 4096)
        return sd_fail(code, "%scond_dim (%zu) is above 4096", where, o->cond_dim);
    if (o->cond_dim > 0) {
        if (o->cond_input != SCORESDE_MLP_COND_CONCAT && !sd_pmodel_embedded(o->cond_input))
            return sd_fail(code, "%scond_input (%d) is not a SCORESDE_MLP_COND_* value", where,
                           o->cond_input);
        if (o->cond_classes > ((size_t)1 << 20))
            return sd_fail(code, "%scond_classes (%zu) is above 2^20", where, o->cond_classes);
        if (o->cond_classes > 0 && o->cond_dim != 1)
            return sd_fail(code,
                           "%scond_classes (%zu) needs cond_dim 1 (the label) and cond_input "
                           "SCORESDE_MLP_COND_EMBED or _EMBED_LAYERS",
                           where, o->cond_classes);
        if (o->cond_classes > 0 && !sd_pmodel_embedded(o->cond_input))
            return sd_fail(code,
                           "%scond_classes (%zu) needs cond_input SCORESDE_MLP_COND_EMBED or "
                           "_EMBED_LAYERS: "
                           "CONCAT takes real features (for labels with CONCAT, pass a one-hot "
                           "row, cond_dim = %zu and cond_classes = 0)",
                           where, o->cond_classes, o->cond_classes);
    } else if (o->cond_classes > 0 || o->cond_null) {
        return sd_fail(code, "%scond_classes and cond_null need cond_dim > 0", where);
    }
    return SCORESDE_OK;
}

void sd_pmodel_put_head(struct sd_writer *w, const sd_pmodel_config *o)
{
    sd_writer_put_u64(w, (uint64_t)o->dim);
    sd_writer_put_u32(w, (uint32_t)o->activation);
    sd_writer_put_u32(w, (uint32_t)o->output);
    sd_writer_put_u32(w, (uint32_t)o->embedding);
    sd_writer_put_u32(w, (uint32_t)o->precision);
    sd_writer_put_u64(w, (uint64_t)o->embed_dim);
    sd_writer_put_f64(w, o->fourier_scale);
    sd_writer_put_f64(w, o->sigma_data);
    sd_writer_put_u64(w, o->seed);
    sd_writer_put_u64(w, (uint64_t)o->chunk_rows);
    sd_writer_put_u32(w, (uint32_t)o->n_threads);
}

void sd_pmodel_put_cond(struct sd_writer *w, const sd_pmodel_config *o)
{
    sd_writer_put_u64(w, (uint64_t)o->cond_dim);
    sd_writer_put_u32(w, (uint32_t)o->cond_input);
    sd_writer_put_u64(w, (uint64_t)o->cond_classes);
    sd_writer_put_u32(w, (uint32_t)(o->cond_null != 0));
}

int sd_pmodel_get_enum(struct sd_reader *r, const char *kind, int lo, int hi, int *out,
                       const char *what)
{
    uint32_t v;
    size_t at = sd_reader_offset(r);
    SD_TRY(sd_reader_get_u32(r, &v, what));
    if (v < (uint32_t)lo || v > (uint32_t)hi)
        return sd_fail(SCORESDE_ECORRUPT, "the %s %s at offset %zu (%u) is not between %d and %d",
                       kind, what, at, v, lo, hi);
    *out = (int)v;
    return SCORESDE_OK;
}

int sd_pmodel_get_count(struct sd_reader *r, const char *kind, uint64_t lo, uint64_t hi,
                        size_t *out, const char *what)
{
    uint64_t v;
    size_t at = sd_reader_offset(r);
    SD_TRY(sd_reader_get_u64(r, &v, what));
    if (v < lo || v > hi)
        return sd_fail(SCORESDE_ECORRUPT,
                       "the %s %s at offset %zu (%llu) is not between %llu and %llu", kind, what,
                       at, (unsigned long long)v, (unsigned long long)lo, (unsigned long long)hi);
    *out = (size_t)v;
    return SCORESDE_OK;
}

int sd_pmodel_get_head(struct sd_reader *r, sd_pmodel_config *o)
{
    const char *k = o->name;
    size_t D;
    SD_TRY(sd_pmodel_get_count(r, k, o->dim, o->dim, &D, "dimension (must equal the model's)"));
    SD_TRY(sd_pmodel_get_enum(r, k, SCORESDE_MLP_SILU, SCORESDE_MLP_GELU, &o->activation,
                              "activation"));
    SD_TRY(sd_pmodel_get_enum(r, k, SCORESDE_MLP_OUTPUT_SCORE, SCORESDE_MLP_OUTPUT_EDM,
                              &o->output, "output parameterisation"));
    /* Files hold the resolved embedding, never AUTO. */
    SD_TRY(sd_pmodel_get_enum(r, k, SCORESDE_MLP_EMBED_FOURIER, SCORESDE_MLP_EMBED_SINUSOIDAL,
                              &o->embedding, "embedding"));
    SD_TRY(sd_pmodel_get_enum(r, k, SCORESDE_MLP_FLOAT64, SCORESDE_MLP_FLOAT32, &o->precision,
                              "precision"));
    SD_TRY(sd_pmodel_get_count(r, k, 2, 4096, &o->embed_dim, "embedding dimension"));
    SD_TRY(sd_reader_get_f64(r, &o->fourier_scale, "Fourier scale"));
    SD_TRY(sd_reader_get_f64(r, &o->sigma_data, "sigma_data"));
    SD_TRY(sd_reader_get_u64(r, &o->seed, "seed"));
    SD_TRY(sd_pmodel_get_count(r, k, 1, (uint64_t)1 << 20, &o->chunk_rows, "chunk_rows"));
    SD_TRY(sd_pmodel_get_enum(r, k, 1, 1024, &o->n_threads, "thread count"));
    return SCORESDE_OK;
}

int sd_pmodel_get_cond(struct sd_reader *r, uint64_t min_dim, sd_pmodel_config *o)
{
    const char *k = o->name;
    SD_TRY(sd_pmodel_get_count(r, k, min_dim, 4096, &o->cond_dim, "condition dimension"));
    SD_TRY(sd_pmodel_get_enum(r, k, SCORESDE_MLP_COND_CONCAT, SCORESDE_MLP_COND_EMBED_LAYERS,
                              &o->cond_input, "condition input"));
    SD_TRY(sd_pmodel_get_count(r, k, 0, (uint64_t)1 << 20, &o->cond_classes,
                               "condition classes"));
    SD_TRY(sd_pmodel_get_enum(r, k, 0, 1, &o->cond_null, "null-condition flag"));
    return SCORESDE_OK;
}

int sd_pmodel_get_freq(struct sd_reader *r, const sd_pmodel_config *o, double *freq)
{
    size_t h = o->embed_dim / 2;
    SD_TRY(sd_reader_check_count(r, h, sizeof(double), "embedding frequencies"));
    SD_TRY(sd_reader_get_f64_array(r, freq, h, "embedding frequencies"));
    for (size_t k = 0; k < h; k++)
        if (!isfinite(freq[k]))
            return sd_fail(SCORESDE_ECORRUPT, "the %s embedding frequency %zu (%g) is not finite",
                           o->name, k, freq[k]);
    return SCORESDE_OK;
}

int sd_pmodel_resolve_embedding(int embedding, const scoresde_sde *sde)
{
    if (embedding != SCORESDE_MLP_EMBED_AUTO)
        return embedding;
    int k = scoresde_sde_kind(sde);
    return (k == SCORESDE_SDE_VP || k == SCORESDE_SDE_SUBVP) ? SCORESDE_MLP_EMBED_SINUSOIDAL
                                                             : SCORESDE_MLP_EMBED_FOURIER;
}
