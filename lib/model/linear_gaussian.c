/*
 * The exact linear-Gaussian model: prior theta ~ N(m0, S0) in D dimensions,
 * observation y = A theta + b + e, e ~ N(0, Se) in C dimensions. Its
 * posterior is Gaussian (Bayes for jointly Gaussian variables):
 *     P  = S0^-1 + A^T Se^-1 A,   Sp = P^-1,
 *     mp = Sp (S0^-1 m0 + A^T Se^-1 (y - b)) = mbase + G y,
 *     G  = Sp A^T Se^-1,  mbase = Sp S0^-1 m0 - G b,
 * so Sp does not depend on y and is diagonalised once: Sp = Q diag(l) Q^T.
 * Through x_t = alpha theta + sigma z the diffused posterior is
 * N(alpha mp, Q diag(c) Q^T) with c_k = alpha^2 l_k + sigma^2, whence
 *     s = -Q diag(1/c) Q^T (x - alpha mp),  div s = -sum_k 1/c_k,
 *     ln p_t = -(sum_k ln(2 pi c_k) + sum_k u_k^2 / c_k) / 2,  u = Q^T (x - alpha mp).
 * The null condition is the prior, handled the same way with S0's own
 * eigenvectors.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <string.h>

#include "model_internal.h"

static const double LOG_2PI = 1.8378770664093454835606594728112; /* ln(2 pi) */

/* Every array in one block, so a clone is one copy. */
typedef struct sd_lg_state {
    size_t C, size; /* features of y; doubles in the block */
    double *block;
    double *m0;     /* D: prior mean */
    double *Q0, *l0; /* D x D (column k the k-th eigenvector), D: prior covariance */
    double *Qp, *lp; /* the same for the posterior covariance */
    double *mbase;  /* D */
    double *G;      /* D x C */
    sd_ws_pool pool; /* evaluation workspaces (lg_work) */
} sd_lg_state;

static void lg_free_state(void *state)
{
    sd_lg_state *s = state;
    if (s == NULL)
        return;
    sd_ws_pool_destroy(&s->pool);
    sd_free(s->block);
    sd_free(s);
}

static sd_lg_state *lg_alloc_state(size_t D, size_t C)
{
    sd_lg_state *s = sd_calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->C = C;
    sd_ws_pool_init(&s->pool);
    s->size = 2 * D * D + 5 * D + D * C;
    s->block = sd_calloc(s->size, sizeof(double));
    if (s->block == NULL) {
        lg_free_state(s);
        return NULL;
    }
    s->m0 = s->block;
    s->Q0 = s->m0 + D;
    s->l0 = s->Q0 + D * D;
    s->Qp = s->l0 + D;
    s->lp = s->Qp + D * D;
    s->mbase = s->lp + D;
    s->G = s->mbase + D;
    return s;
}

static int lg_clone_state(const scoresde_model *src, void **out)
{
    const sd_lg_state *s = src->state;
    sd_lg_state *c = lg_alloc_state(src->dim, s->C);
    if (c == NULL)
        return SCORESDE_ENOMEM;
    memcpy(c->block, s->block, s->size * sizeof(double));
    *out = c;
    return SCORESDE_OK;
}

/* One sample's Gaussian: eigenvectors, eigenvalues and mean (into mean). */
typedef struct lg_gauss {
    const double *Q, *l;
    const double *mean;
} lg_gauss;

static lg_gauss lg_pick(const scoresde_model *m, const sd_cond *cond, size_t i, double *mean)
{
    const sd_lg_state *s = m->state;
    size_t D = m->dim, C = s->C;
    if (sd_cond_is_null(cond, i))
        return (lg_gauss){s->Q0, s->l0, s->m0};
    const double *y = sd_cond_row(cond, i);
    for (size_t j = 0; j < D; j++) {
        double acc = s->mbase[j];
        for (size_t q = 0; q < C; q++)
            acc += s->G[j * C + q] * y[q];
        mean[j] = acc;
    }
    return (lg_gauss){s->Qp, s->lp, mean};
}

/* Per-call scratch from the state's pool, so a sampler's steps allocate
 * nothing (issue 17, finding 8): the marginals of SD_MARGINAL_CHUNK samples
 * at a time (one batched call to the SDE each), then mean, u (D each).
 * Samples are visited in order. */
typedef struct lg_work {
    double *ws;
    const double *t;
    size_t n;
    double *alpha, *sigma, *mean, *u;
} lg_work;

static int lg_work_begin(const scoresde_model *m, const double *t, size_t n, lg_work *w)
{
    sd_lg_state *s = m->state;
    w->ws = sd_ws_pool_take(&s->pool, 2 * SD_MARGINAL_CHUNK + 2 * m->dim);
    if (w->ws == NULL)
        return SCORESDE_ENOMEM;
    w->t = t;
    w->n = n;
    w->alpha = w->ws;
    w->sigma = w->alpha + SD_MARGINAL_CHUNK;
    w->mean = w->sigma + SD_MARGINAL_CHUNK;
    w->u = w->mean + m->dim;
    return SCORESDE_OK;
}

/* Sample i's alpha and sigma (sd_model_marginal_in_chunks). */
static int lg_marginal(const scoresde_model *m, lg_work *w, size_t i, double *a, double *sg)
{
    return sd_model_marginal_in_chunks(m, w->t, w->n, i, w->alpha, w->sigma, a, sg);
}

/* Return the workspace to the pool; passes rc through. */
static int lg_work_end(const scoresde_model *m, lg_work *w, int rc)
{
    sd_lg_state *s = m->state;
    sd_ws_pool_give(&s->pool, w->ws);
    return rc;
}

/* u = diag(1/c) Q^T v for the sample's Gaussian at (alpha, sigma). */
static void lg_whiten(const lg_gauss *g, size_t D, double alpha, double sigma, const double *v,
                      double *u)
{
    for (size_t k = 0; k < D; k++) {
        double acc = 0.0;
        for (size_t j = 0; j < D; j++)
            acc += g->Q[j * D + k] * v[j];
        u[k] = acc / (alpha * alpha * g->l[k] + sigma * sigma);
    }
}

/* out = -Q u. */
static void lg_unwhiten(const lg_gauss *g, size_t D, const double *u, double *out)
{
    for (size_t j = 0; j < D; j++) {
        double acc = 0.0;
        for (size_t k = 0; k < D; k++)
            acc += g->Q[j * D + k] * u[k];
        out[j] = -acc;
    }
}

/* The score of sample i into out; leaves u = diag(1/c) Q^T (x - alpha mean). */
static void lg_score_one(const scoresde_model *m, const sd_cond *cond, lg_work *w, size_t i,
                         double a, double sg, const double *x, double *out)
{
    size_t D = m->dim;
    lg_gauss g = lg_pick(m, cond, i, w->mean);
    for (size_t j = 0; j < D; j++)
        out[j] = x[j] - a * g.mean[j];
    lg_whiten(&g, D, a, sg, out, w->u);
    lg_unwhiten(&g, D, w->u, out);
}

static int lg_score(const scoresde_model *m, const double *x, const double *t, size_t n,
                    const sd_cond *cond, double *out)
{
    size_t D = m->dim;
    lg_work w;
    SD_TRY(lg_work_begin(m, t, n, &w));
    int rc = SCORESDE_OK;
    double a, sg;
    for (size_t i = 0; i < n && (rc = lg_marginal(m, &w, i, &a, &sg)) == SCORESDE_OK; i++)
        lg_score_one(m, cond, &w, i, a, sg, x + i * D, out + i * D);
    return lg_work_end(m, &w, rc);
}

static int lg_log_density(const scoresde_model *m, const double *x, const double *t, size_t n,
                          const sd_cond *cond, double *logp)
{
    size_t D = m->dim;
    lg_work w;
    SD_TRY(lg_work_begin(m, t, n, &w));
    int rc = SCORESDE_OK;
    double a, sg;
    for (size_t i = 0; i < n && (rc = lg_marginal(m, &w, i, &a, &sg)) == SCORESDE_OK; i++) {
        double acc = 0.0;
        lg_gauss g = lg_pick(m, cond, i, w.mean);
        for (size_t k = 0; k < D; k++) {
            double ck = a * a * g.l[k] + sg * sg, u = 0.0;
            for (size_t j = 0; j < D; j++)
                u += g.Q[j * D + k] * (x[i * D + j] - a * g.mean[j]);
            acc += log(ck) + LOG_2PI + u * u / ck;
        }
        logp[i] = -0.5 * acc;
    }
    return lg_work_end(m, &w, rc);
}

static int lg_divergence(const scoresde_model *m, const double *x, const double *t, size_t n,
                         const sd_cond *cond, double *div)
{
    (void)x;
    size_t D = m->dim;
    lg_work w;
    SD_TRY(lg_work_begin(m, t, n, &w));
    int rc = SCORESDE_OK;
    double a, sg;
    for (size_t i = 0; i < n && (rc = lg_marginal(m, &w, i, &a, &sg)) == SCORESDE_OK; i++) {
        double acc = 0.0;
        lg_gauss g = lg_pick(m, cond, i, w.mean);
        for (size_t k = 0; k < D; k++)
            acc += 1.0 / (a * a * g.l[k] + sg * sg);
        div[i] = -acc;
    }
    return lg_work_end(m, &w, rc);
}

/* The Jacobian is -Q diag(1/c) Q^T, the same for every x. */
static int lg_jvp(const scoresde_model *m, const double *x, const double *t, size_t n,
                  const sd_cond *cond, const double *v, double *score_out, double *jv)
{
    size_t D = m->dim;
    lg_work w;
    SD_TRY(lg_work_begin(m, t, n, &w));
    int rc = SCORESDE_OK;
    double a, sg;
    for (size_t i = 0; i < n && (rc = lg_marginal(m, &w, i, &a, &sg)) == SCORESDE_OK; i++) {
        if (score_out)
            lg_score_one(m, cond, &w, i, a, sg, x + i * D, score_out + i * D);
        lg_gauss g = lg_pick(m, cond, i, w.mean);
        lg_whiten(&g, D, a, sg, v + i * D, w.u);
        lg_unwhiten(&g, D, w.u, jv + i * D);
    }
    return lg_work_end(m, &w, rc);
}

/* x = alpha mean + Q diag(sqrt(c)) z, z from the sample's stream. */
static int lg_sample(const scoresde_model *m, const double *t, size_t n, const sd_cond *cond,
                     uint64_t seed, uint64_t first_sample, double *x)
{
    size_t D = m->dim;
    lg_work w;
    SD_TRY(lg_work_begin(m, t, n, &w));
    int rc = SCORESDE_OK;
    double a, sg;
    for (size_t i = 0; i < n && (rc = lg_marginal(m, &w, i, &a, &sg)) == SCORESDE_OK; i++) {
        lg_gauss g = lg_pick(m, cond, i, w.mean);
        sd_rng_normal(seed, first_sample + i, SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, 0), D,
                      w.u);
        for (size_t k = 0; k < D; k++)
            w.u[k] *= sqrt(a * a * g.l[k] + sg * sg);
        for (size_t j = 0; j < D; j++) {
            double acc = a * g.mean[j];
            for (size_t k = 0; k < D; k++)
                acc += g.Q[j * D + k] * w.u[k];
            x[i * D + j] = acc;
        }
    }
    return lg_work_end(m, &w, rc);
}

const sd_model_ops sd_model_linear_gaussian_ops = {
    .name = "linear-Gaussian",
    .kind = SCORESDE_MODEL_LINEAR_GAUSSIAN,
    .score = lg_score,
    .divergence = lg_divergence,
    .jvp = lg_jvp,
    .log_density = lg_log_density,
    .sample = lg_sample,
    .clone_state = lg_clone_state,
    .free_state = lg_free_state,
};

/* ---------------------------------------------------------------- creation */

/* Cyclic Jacobi (declared in model_internal.h): converges quadratically;
 * a sweep with no rotation above rounding ends it. */
void sd_sym_eigen(double *a, size_t n, double *V, double *l)
{
    for (size_t i = 0; i < n * n; i++)
        V[i] = (i / n == i % n) ? 1.0 : 0.0;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0.0, diag = 0.0;
        for (size_t p = 0; p < n; p++) {
            diag += a[p * n + p] * a[p * n + p];
            for (size_t q = p + 1; q < n; q++)
                off += a[p * n + q] * a[p * n + q];
        }
        if (off <= 1e-32 * diag || off == 0.0)
            break;
        for (size_t p = 0; p < n; p++)
            for (size_t q = p + 1; q < n; q++) {
                double apq = a[p * n + q];
                if (apq == 0.0)
                    continue;
                double theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                double tn = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
                double c = 1.0 / sqrt(tn * tn + 1.0), s = tn * c;
                for (size_t k = 0; k < n; k++) { /* columns p, q */
                    double akp = a[k * n + p], akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for (size_t k = 0; k < n; k++) { /* rows p, q */
                    double apk = a[p * n + k], aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for (size_t k = 0; k < n; k++) {
                    double vkp = V[k * n + p], vkq = V[k * n + q];
                    V[k * n + p] = c * vkp - s * vkq;
                    V[k * n + q] = s * vkp + c * vkq;
                }
            }
    }
    for (size_t k = 0; k < n; k++)
        l[k] = a[k * n + k];
}

/* (declared in model_internal.h) */
int sd_check_spd(const double *S, size_t n, const char *what, double *work, double *V,
                 double *l)
{
    SD_TRY(sd_check_ptr(S, what));
    SD_TRY(sd_check_finite(S, n * n, what));
    double scale = 0.0;
    for (size_t k = 0; k < n; k++)
        scale = fmax(scale, fabs(S[k * n + k]));
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            if (fabs(S[i * n + j] - S[j * n + i]) > 1e-12 * scale)
                return sd_fail(SCORESDE_EINVAL, "%s is not symmetric: [%zu][%zu] = %g, [%zu][%zu] = %g",
                               what, i, j, S[i * n + j], j, i, S[j * n + i]);
            work[i * n + j] = 0.5 * (S[i * n + j] + S[j * n + i]);
        }
    sd_sym_eigen(work, n, V, l);
    double lmax = 0.0;
    for (size_t k = 0; k < n; k++)
        lmax = fmax(lmax, l[k]);
    for (size_t k = 0; k < n; k++)
        if (!(l[k] > 1e-13 * lmax))
            return sd_fail(SCORESDE_EINVAL,
                           "%s is not positive definite (eigenvalue %g, the largest %g)", what,
                           l[k], lmax);
    return SCORESDE_OK;
}

/* out = V diag(f(l)) V^T with f = 1/l (n x n). */
static void inverse_from_eigen(const double *V, const double *l, size_t n, double *out)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double acc = 0.0;
            for (size_t k = 0; k < n; k++)
                acc += V[i * n + k] * V[j * n + k] / l[k];
            out[i * n + j] = acc;
        }
}

/* The posterior quantities of the header comment into s (work holds
 * 3 C^2 + C + 2 D^2 + D C doubles). */
static int lg_build(sd_lg_state *s, size_t D, size_t C, const double *m0, const double *S0,
                    const double *A, const double *b, const double *Se, double *work)
{
    double *Ve = work, *le = Ve + C * C, *Sei = le + C, *tmp = Sei + C * C;
    double *S0i = tmp + C * C, *P = S0i + D * D, *AtSei = P + D * D;
    memcpy(s->m0, m0, D * sizeof(double));
    SD_TRY(sd_check_spd(S0, D, "prior_cov", P, s->Q0, s->l0));
    SD_TRY(sd_check_spd(Se, C, "noise_cov", tmp, Ve, le));
    inverse_from_eigen(s->Q0, s->l0, D, S0i);
    inverse_from_eigen(Ve, le, C, Sei);
    for (size_t i = 0; i < D; i++) /* A^T Se^-1, D x C */
        for (size_t q = 0; q < C; q++) {
            double acc = 0.0;
            for (size_t r = 0; r < C; r++)
                acc += A[r * D + i] * Sei[r * C + q];
            AtSei[i * C + q] = acc;
        }
    for (size_t i = 0; i < D; i++) /* P = S0^-1 + A^T Se^-1 A */
        for (size_t j = 0; j < D; j++) {
            double acc = S0i[i * D + j];
            for (size_t q = 0; q < C; q++)
                acc += AtSei[i * C + q] * A[q * D + j];
            P[i * D + j] = acc;
        }
    for (size_t i = 0; i < D; i++) /* symmetric to the last bit for Jacobi */
        for (size_t j = i + 1; j < D; j++)
            P[i * D + j] = P[j * D + i] = 0.5 * (P[i * D + j] + P[j * D + i]);
    sd_sym_eigen(P, D, s->Qp, s->lp);
    for (size_t k = 0; k < D; k++)
        s->lp[k] = 1.0 / s->lp[k];
    /* G = Sp A^T Se^-1 and mbase = Sp (S0^-1 m0) - G b, with Sp = Qp diag(lp) Qp^T */
    for (size_t i = 0; i < D; i++) {
        for (size_t q = 0; q < C; q++) {
            double acc = 0.0;
            for (size_t j = 0; j < D; j++) {
                double spij = 0.0;
                for (size_t k = 0; k < D; k++)
                    spij += s->Qp[i * D + k] * s->lp[k] * s->Qp[j * D + k];
                acc += spij * AtSei[j * C + q];
            }
            s->G[i * C + q] = acc;
        }
        double acc = 0.0;
        for (size_t j = 0; j < D; j++) {
            double spij = 0.0, h = 0.0;
            for (size_t k = 0; k < D; k++)
                spij += s->Qp[i * D + k] * s->lp[k] * s->Qp[j * D + k];
            for (size_t r = 0; r < D; r++)
                h += S0i[j * D + r] * m0[r];
            acc += spij * h;
        }
        for (size_t q = 0; b != NULL && q < C; q++)
            acc -= s->G[i * C + q] * b[q];
        s->mbase[i] = acc;
    }
    return SCORESDE_OK;
}

int scoresde_model_create_linear_gaussian(scoresde_model **out, const scoresde_sde *sde,
                                          size_t D, size_t C, const double *prior_mean,
                                          const double *prior_cov, const double *A,
                                          const double *b, const double *noise_cov)
{
    SD_TRY(sd_check_ptr(out, "out"));
    *out = NULL;
    SD_TRY(sd_check_ptr(sde, "sde"));
    if (D == 0)
        return sd_fail(SCORESDE_EINVAL, "D (the dimension of theta) is zero");
    if (C == 0)
        return sd_fail(SCORESDE_EINVAL, "C (the dimension of y) is zero");
    if (D > 4096 || C > 4096)
        return sd_fail(SCORESDE_EINVAL, "D (%zu) and C (%zu) must be at most 4096", D, C);
    SD_TRY(sd_check_ptr(prior_mean, "prior_mean"));
    SD_TRY(sd_check_finite(prior_mean, D, "prior_mean"));
    SD_TRY(sd_check_ptr(A, "A"));
    SD_TRY(sd_check_finite(A, C * D, "A"));
    if (b != NULL)
        SD_TRY(sd_check_finite(b, C, "b"));
    SD_TRY(sd_check_ptr(prior_cov, "prior_cov"));
    SD_TRY(sd_check_ptr(noise_cov, "noise_cov"));
    SD_TRY(sd_model_require_marginal(sde, "a linear-Gaussian model"));
    sd_lg_state *s = lg_alloc_state(D, C);
    double *work = sd_malloc((3 * C * C + C + 2 * D * D + D * C) * sizeof(double));
    int rc = s && work ? lg_build(s, D, C, prior_mean, prior_cov, A, b, noise_cov, work)
                       : SCORESDE_ENOMEM;
    sd_free(work);
    if (rc != SCORESDE_OK) {
        lg_free_state(s);
        return rc;
    }
    SD_TRY(sd_model_create(out, &sd_model_linear_gaussian_ops, sde, D, s));
    (*out)->cond_dim = C;
    (*out)->cond_null = 1;
    return SCORESDE_OK;
}
