/*
 * The IID composition model (SCORESDE_MODEL_IID): the posterior score given
 * N independent observations y_1..y_N, built from a conditional model of
 * single observations and a model of the prior. Each method is one table row
 * (sd_model_iid_factorized_ops, sd_model_iid_gauss_ops) sharing the
 * evaluation below.
 *
 * With s_k = s(x, t | y_k) (the conditional model with observation k) and
 * s_0 the prior's diffused score at the same point and time:
 *   FACTORIZED:  s = sum_k s_k - (N - 1) s_0.
 *   GAUSS:       with a = alpha(t)^2, b = sigma(t)^2, the prior precision P0,
 *                one observation's posterior precision Pp (the caller's, at
 *                t = 0) and P = N Pp - (N - 1) P0 = Q diag(lam) Q^T,
 *                  s = (a I + b P)^-1 [(a I + b Pp) sum_k s_k
 *                                      - (N - 1) (a I + b P0) s_0],
 *                the Gaussian correction of the denoising precisions (the
 *                header and docs/guide/14-conditional.md derive it).
 * Both are linear in the component scores with matrices that depend on t
 * only, so the Jacobian-vector product is the same combination of the
 * components' products.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <string.h>

#include "model_internal.h"

typedef struct sd_iid_state {
    scoresde_model *cond;  /* own copy of the single-observation model */
    scoresde_model *prior; /* own copy of the prior model, or NULL: cond's null condition */
    size_t N, C;
    double *y;  /* N x C observations */
    double *Pp; /* GAUSS: D x D posterior precision of one observation */
    double *P0; /* GAUSS: D x D prior precision */
    double *Q;  /* GAUSS: D x D eigenvectors of N Pp - (N - 1) P0 */
    double *lam; /* GAUSS: D eigenvalues */
} sd_iid_state;

static void iid_free_state(void *state)
{
    sd_iid_state *s = state;
    if (s == NULL)
        return;
    scoresde_model_free(s->cond);
    scoresde_model_free(s->prior);
    sd_free(s->y);
    sd_free(s->Pp);
    sd_free(s);
}

/* A state with the arrays (y always; the GAUSS block when gauss) allocated. */
static sd_iid_state *iid_alloc(size_t N, size_t C, size_t D, int gauss)
{
    sd_iid_state *s = sd_calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->N = N;
    s->C = C;
    s->y = sd_calloc(N * C, sizeof(double));
    if (gauss)
        s->Pp = sd_calloc(3 * D * D + D, sizeof(double));
    if (s->y == NULL || (gauss && s->Pp == NULL)) {
        iid_free_state(s);
        return NULL;
    }
    if (gauss) {
        s->P0 = s->Pp + D * D;
        s->Q = s->P0 + D * D;
        s->lam = s->Q + D * D;
    }
    return s;
}

static int iid_clone_state(const scoresde_model *src, void **out)
{
    const sd_iid_state *s = src->state;
    size_t D = src->dim;
    sd_iid_state *c = iid_alloc(s->N, s->C, D, s->Pp != NULL);
    if (c == NULL)
        return SCORESDE_ENOMEM;
    memcpy(c->y, s->y, s->N * s->C * sizeof(double));
    if (s->Pp != NULL)
        memcpy(c->Pp, s->Pp, (3 * D * D + D) * sizeof(double));
    int rc = scoresde_model_clone(&c->cond, s->cond);
    if (rc == SCORESDE_OK && s->prior != NULL)
        rc = scoresde_model_clone(&c->prior, s->prior);
    if (rc != SCORESDE_OK) {
        iid_free_state(c);
        return rc;
    }
    *out = c;
    return SCORESDE_OK;
}

/* out = M v for the D x D matrix M. */
static void matvec(const double *M, size_t D, const double *v, double *out)
{
    for (size_t i = 0; i < D; i++) {
        double acc = 0.0;
        for (size_t j = 0; j < D; j++)
            acc += M[i * D + j] * v[j];
        out[i] = acc;
    }
}

/* Component evaluations (scores, or Jacobian products along v when v is not
 * NULL, with the scores too when want_score) summed into S (observations) and
 * s0 (prior), jS / j0 for the products. Work: n x D (two blocks when v). */
static int iid_components(const scoresde_model *m, const double *x, const double *t, size_t n,
                          const double *v, int want_score, double *S, double *s0, double *jS,
                          double *j0, double *work)
{
    const sd_iid_state *s = m->state;
    size_t D = m->dim, nd = n * D;
    double *ws = work, *wj = work + nd;
    for (size_t k = 0; k < s->N; k++) {
        sd_cond ck = {s->y + k * s->C, 0, NULL};
        double *so = k == 0 ? S : ws, *jo = k == 0 ? jS : wj;
        if (v == NULL)
            SD_TRY(sd_model_score_c(s->cond, x, t, n, D, &ck, so));
        else
            SD_TRY(sd_model_jvp_c(s->cond, x, t, n, D, &ck, v, want_score ? so : NULL, jo));
        for (size_t r = 0; k > 0 && r < nd; r++) {
            if (v == NULL || want_score)
                S[r] += ws[r];
            if (v != NULL)
                jS[r] += wj[r];
        }
    }
    const scoresde_model *pm = s->prior != NULL ? s->prior : s->cond;
    sd_cond null_all = {NULL, 0, NULL};
    const sd_cond *pc = s->prior != NULL ? NULL : &null_all;
    if (v == NULL)
        return sd_model_score_c(pm, x, t, n, D, pc, s0);
    return sd_model_jvp_c(pm, x, t, n, D, pc, v, want_score ? s0 : NULL, j0);
}

/* out = the method's combination of (S, s0) for every sample (alpha, sigma
 * from ab, NULL for FACTORIZED). tmp: 2 D doubles. */
static void iid_combine(const scoresde_model *m, size_t n, const double *ab, const double *S,
                        const double *s0, double *out, double *tmp)
{
    const sd_iid_state *s = m->state;
    size_t D = m->dim;
    double w0 = (double)(s->N - 1);
    for (size_t i = 0; i < n; i++) {
        const double *Si = S + i * D, *s0i = s0 + i * D;
        double *oi = out + i * D;
        if (ab == NULL) {
            for (size_t j = 0; j < D; j++)
                oi[j] = Si[j] - w0 * s0i[j];
            continue;
        }
        double a = ab[i] * ab[i], b = ab[n + i] * ab[n + i];
        double *u = tmp, *q = tmp + D;
        matvec(s->Pp, D, Si, u);
        matvec(s->P0, D, s0i, q);
        for (size_t j = 0; j < D; j++)
            u[j] = a * (Si[j] - w0 * s0i[j]) + b * (u[j] - w0 * q[j]);
        /* (a I + b P)^-1 u = Q diag(1 / (a + b lam)) Q^T u */
        for (size_t k = 0; k < D; k++) {
            double acc = 0.0;
            for (size_t j = 0; j < D; j++)
                acc += s->Q[j * D + k] * u[j];
            q[k] = acc / (a + b * s->lam[k]);
        }
        matvec(s->Q, D, q, oi);
    }
}

/* Doubles per sample iid_eval_ws needs: alpha and sigma, S, s0, jS, j0,
 * work (2 blocks), then 2 D of combination scratch (at most 2 D per sample). */
static size_t iid_eval_per_row(const scoresde_model *m)
{
    return 2 + 8 * m->dim;
}

/* Score (v NULL) or Jacobian product (v set; score_out may be NULL), in ws
 * (n iid_eval_per_row doubles). */
static int iid_eval_ws(const scoresde_model *m, const double *x, const double *t, size_t n,
                       const double *v, double *score_out, double *jv, double *ws)
{
    const sd_iid_state *s = m->state;
    size_t D = m->dim, nd = n * D;
    double *ab = s->Pp != NULL ? ws : NULL; /* NULL: FACTORIZED (iid_combine) */
    if (ab != NULL)
        SD_TRY(sd_model_marginals_into(m, t, n, ab, ab + n));
    double *S = ws + 2 * n, *s0 = S + nd, *jS = s0 + nd, *j0 = jS + nd, *work = j0 + nd;
    double *tmp = work + 2 * nd;
    double *sc = v == NULL ? jv : score_out; /* where the score goes */
    SD_TRY(iid_components(m, x, t, n, v, sc != NULL, S, s0, jS, j0, work));
    if (sc != NULL)
        iid_combine(m, n, ab, S, s0, sc, tmp);
    if (v != NULL)
        iid_combine(m, n, ab, jS, j0, jv, tmp);
    return SCORESDE_OK;
}

/* The same with its scratch allocated for the call. */
static int iid_eval(const scoresde_model *m, const double *x, const double *t, size_t n,
                    const double *v, double *score_out, double *jv)
{
    double *buf = sd_calloc(n, iid_eval_per_row(m) * sizeof(double)); /* checks n x size */
    if (buf == NULL)
        return SCORESDE_ENOMEM;
    int rc = iid_eval_ws(m, x, t, n, v, score_out, jv, buf);
    sd_free(buf);
    return rc;
}

static int iid_score(const scoresde_model *m, const double *x, const double *t, size_t n,
                     const sd_cond *cond, double *out)
{
    (void)cond;
    return iid_eval(m, x, t, n, NULL, NULL, out);
}

static int iid_jvp(const scoresde_model *m, const double *x, const double *t, size_t n,
                   const sd_cond *cond, const double *v, double *score_out, double *jv)
{
    (void)cond;
    return iid_eval(m, x, t, n, v, score_out, jv);
}

/* FACTORIZED: the same combination of the components' divergences; d: n
 * doubles of scratch. */
static int iid_divergence_in(const scoresde_model *m, const double *x, const double *t, size_t n,
                             double *div, double *d)
{
    const sd_iid_state *s = m->state;
    size_t D = m->dim;
    for (size_t k = 0; k < s->N; k++) {
        sd_cond ck = {s->y + k * s->C, 0, NULL};
        SD_TRY(sd_model_divergence_c(s->cond, x, t, n, D, &ck, k == 0 ? div : d));
        for (size_t i = 0; k > 0 && i < n; i++)
            div[i] += d[i];
    }
    sd_cond null_all = {NULL, 0, NULL};
    SD_TRY(s->prior != NULL ? sd_model_divergence_c(s->prior, x, t, n, D, NULL, d)
                            : sd_model_divergence_c(s->cond, x, t, n, D, &null_all, d));
    for (size_t i = 0; i < n; i++)
        div[i] -= (double)(s->N - 1) * d[i];
    return SCORESDE_OK;
}

static int iid_divergence(const scoresde_model *m, const double *x, const double *t, size_t n,
                          const sd_cond *cond, double *div)
{
    (void)cond;
    double *d = sd_malloc(n * sizeof *d);
    if (d == NULL)
        return SCORESDE_ENOMEM;
    int rc = iid_divergence_in(m, x, t, n, div, d);
    sd_free(d);
    return rc;
}

/* The fused slot (model_internal.h), in the caller's scratch: the score,
 * then the factorized divergence, the D exact products (GAUSS) or the
 * Hutchinson sum, each as the separate calls compute it. ws: 2 n D
 * tangent doubles, then iid_eval_ws's, then n for the divergence. */
static int iid_jvp_ws(const scoresde_model *m, const double *x, const double *t, size_t n,
                      const sd_cond *cond, const double *v, double *jv, double *ws)
{
    (void)cond;
    return iid_eval_ws(m, x, t, n, v, NULL, jv, ws);
}

static size_t iid_score_div_ws(const scoresde_model *m, size_t M)
{
    (void)M;
    return 2 * m->dim + iid_eval_per_row(m) + 1;
}

static int iid_score_div(const scoresde_model *m, const double *x, const double *t, size_t n,
                         const sd_cond *cond, const double *probes, size_t M, double *score,
                         double *div, double *ws)
{
    const sd_iid_state *s = m->state;
    size_t nd = n * m->dim;
    SD_TRY(iid_eval_ws(m, x, t, n, NULL, NULL, score, ws + 2 * nd));
    if (probes)
        return sd_model_probes_hutchinson(m, x, t, n, cond, probes, M, iid_jvp_ws, ws, div);
    if (s->Pp == NULL)
        return iid_divergence_in(m, x, t, n, div, ws + nd * 2 + n * iid_eval_per_row(m));
    return sd_model_axes_divergence(m, x, t, n, cond, iid_jvp_ws, ws, div);
}

const sd_model_ops sd_model_iid_factorized_ops = {
    .name = "IID (factorized)",
    .kind = SCORESDE_MODEL_IID,
    .score = iid_score,
    .divergence = iid_divergence,
    .jvp = iid_jvp,
    .score_div = iid_score_div,
    .score_div_ws = iid_score_div_ws,
    .clone_state = iid_clone_state,
    .free_state = iid_free_state,
};

/* GAUSS: the divergence from D exact Jacobian products (the generic layer). */
const sd_model_ops sd_model_iid_gauss_ops = {
    .name = "IID (Gauss-corrected)",
    .kind = SCORESDE_MODEL_IID,
    .score = iid_score,
    .jvp = iid_jvp,
    .score_div = iid_score_div,
    .score_div_ws = iid_score_div_ws,
    .clone_state = iid_clone_state,
    .free_state = iid_free_state,
};

/* ---------------------------------------------------------------- creation */

/* The prior model must describe the same forward SDE as the conditional one:
 * the same kind and end time, and (with marginals) the same alpha and sigma
 * at T / 2 and T. */
static int check_same_sde(const scoresde_sde *a, const scoresde_sde *b)
{
    double Ta = scoresde_sde_end_time(a), Tb = scoresde_sde_end_time(b);
    if (scoresde_sde_kind(a) != scoresde_sde_kind(b) || Ta != Tb)
        return sd_fail(SCORESDE_EINVAL,
                       "prior_model's SDE (kind %d, T = %g) is not cond_model's (kind %d, "
                       "T = %g)",
                       scoresde_sde_kind(b), Tb, scoresde_sde_kind(a), Ta);
    double t[2] = {0.5 * Ta, Ta}, ma[4], mb[4];
    if (scoresde_sde_marginal(a, t, 2, ma, ma + 2, NULL, NULL) != SCORESDE_OK ||
        scoresde_sde_marginal(b, t, 2, mb, mb + 2, NULL, NULL) != SCORESDE_OK)
        return SCORESDE_OK; /* no marginal to compare (FACTORIZED only) */
    for (int k = 0; k < 4; k++)
        if (fabs(ma[k] - mb[k]) > 1e-12 * fmax(1.0, fabs(ma[k])))
            return sd_fail(SCORESDE_EINVAL,
                           "prior_model's SDE has other parameters than cond_model's (its "
                           "marginal at t = %g differs)",
                           t[k % 2]);
    return SCORESDE_OK;
}

/* GAUSS: copy the precisions and diagonalise N Pp - (N - 1) P0. */
static int iid_gauss_setup(sd_iid_state *s, size_t D, const double *P0, const double *Pp)
{
    double *work = sd_malloc((2 * D * D + D) * sizeof(double));
    if (work == NULL)
        return SCORESDE_ENOMEM;
    double *V = work + D * D, *l = V + D * D;
    int rc = sd_check_spd(P0, D, "prior_precision", work, V, l);
    if (rc == SCORESDE_OK)
        rc = sd_check_spd(Pp, D, "posterior_precision", work, V, l);
    if (rc == SCORESDE_OK) {
        memcpy(s->P0, P0, D * D * sizeof(double));
        memcpy(s->Pp, Pp, D * D * sizeof(double));
        double N = (double)s->N;
        for (size_t i = 0; i < D; i++)
            for (size_t j = 0; j < D; j++)
                work[i * D + j] = N * 0.5 * (Pp[i * D + j] + Pp[j * D + i]) -
                                  (N - 1.0) * 0.5 * (P0[i * D + j] + P0[j * D + i]);
        sd_sym_eigen(work, D, s->Q, s->lam);
        double lmax = 0.0;
        for (size_t k = 0; k < D; k++)
            lmax = fmax(lmax, fabs(s->lam[k]));
        for (size_t k = 0; k < D && rc == SCORESDE_OK; k++)
            if (!(s->lam[k] > 1e-13 * lmax))
                rc = sd_fail(SCORESDE_EINVAL,
                             "the combined precision N posterior_precision - (N - 1) "
                             "prior_precision (N = %zu) is not positive definite (eigenvalue "
                             "%g): the posterior precision is too small for the prior's",
                             s->N, s->lam[k]);
    }
    sd_free(work);
    return rc;
}

int scoresde_model_create_iid(scoresde_model **out, const scoresde_model *cond_model,
                              const scoresde_model *prior_model, size_t N, const double *y,
                              int method, const double *prior_precision,
                              const double *posterior_precision)
{
    SD_TRY(sd_check_ptr(out, "out"));
    *out = NULL;
    SD_TRY(sd_check_ptr(cond_model, "cond_model"));
    size_t C = cond_model->cond_dim, D = cond_model->dim;
    if (C == 0)
        return sd_fail(SCORESDE_EINVAL,
                       "cond_model is unconditional: the IID model needs a model of "
                       "p(theta | y) for one observation");
    if (N == 0)
        return sd_fail(SCORESDE_EINVAL, "N (the number of observations) is zero");
    SD_TRY(sd_check_ptr(y, "y"));
    /* y: N rows checked as the conditional model's conditions are */
    scoresde_cond yc = {sizeof yc, C, y, N, NULL};
    sd_cond resolved;
    const sd_cond *is;
    SD_TRY(sd_cond_resolve(cond_model, &yc, N, &resolved, &is));
    if (prior_model == NULL) {
        if (!cond_model->cond_null)
            return sd_fail(SCORESDE_EINVAL,
                           "prior_model is NULL, but cond_model does not accept the null "
                           "condition that would give the prior's score");
    } else {
        if (prior_model->cond_dim != 0)
            return sd_fail(SCORESDE_EINVAL,
                           "prior_model is conditional (C = %zu); give an unconditional model "
                           "of the prior, or NULL for cond_model's null condition",
                           prior_model->cond_dim);
        if (prior_model->dim != D)
            return sd_fail(SCORESDE_EDIM,
                           "prior_model has dimension %zu, cond_model has %zu",
                           prior_model->dim, D);
        SD_TRY(check_same_sde(cond_model->sde, prior_model->sde));
    }
    const sd_model_ops *ops;
    if (method == SCORESDE_IID_FACTORIZED) {
        if (prior_precision != NULL || posterior_precision != NULL)
            return sd_fail(SCORESDE_EINVAL,
                           "the FACTORIZED method takes no precisions (prior_precision and "
                           "posterior_precision must be NULL)");
        ops = &sd_model_iid_factorized_ops;
    } else if (method == SCORESDE_IID_GAUSS) {
        SD_TRY(sd_check_ptr(prior_precision, "prior_precision"));
        SD_TRY(sd_check_ptr(posterior_precision, "posterior_precision"));
        SD_TRY(sd_model_require_marginal(cond_model->sde, "the GAUSS IID method"));
        ops = &sd_model_iid_gauss_ops;
    } else {
        return sd_fail(SCORESDE_EINVAL,
                       "method %d is not an IID method (FACTORIZED = 1, GAUSS = 2)", method);
    }
    sd_iid_state *s = iid_alloc(N, C, D, ops == &sd_model_iid_gauss_ops);
    if (s == NULL)
        return SCORESDE_ENOMEM;
    memcpy(s->y, y, N * C * sizeof(double));
    int rc = SCORESDE_OK;
    if (s->Pp != NULL)
        rc = iid_gauss_setup(s, D, prior_precision, posterior_precision);
    if (rc == SCORESDE_OK)
        rc = scoresde_model_clone(&s->cond, cond_model);
    if (rc == SCORESDE_OK && prior_model != NULL)
        rc = scoresde_model_clone(&s->prior, prior_model);
    if (rc != SCORESDE_OK) {
        iid_free_state(s);
        return rc;
    }
    return sd_model_create(out, ops, cond_model->sde, D, s);
}
