/*
 * The fused score and divergence (issue 14): sd_model_score_div_c against
 * the separate score then divergence / Hutchinson calls, for every model
 * kind, and the probability-flow likelihood through it against the same
 * likelihood on the old path (the model's own table without the fused
 * slot, so score then divergence / hutchinson run as before).
 *
 * Tolerances: the non-network kinds and the residual MLP are compared bit
 * for bit (the fused call runs the separate calls' arithmetic in their
 * order; the residual MLP's workspace has BLIS's small-matrix kernels off,
 * so its stacked GEMMs give each row the bits of the separate passes). The
 * MLP's stacked pass runs the separate passes' elementwise arithmetic, but
 * its GEMMs have other row counts, and BLIS picks kernels (so summation
 * orders) by row count: values can differ by rounding. The bound used,
 * normwise per call: max |fused - separate| <= 256 eps_R (1 + max |separate|)
 * with eps_R the compute precision's epsilon (measured: below 8 eps_R);
 * the likelihood integrates such differences over 4 x 20 RK4 stages,
 * bounded by 1e-9 (float64) and 1e-3 (float32) relative to 1 + |ln p|.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "testutil.h"

#define OK(call) ck_assert_msg((call) == SCORESDE_OK, "%s", scoresde_last_error())

enum { N = 300, D = 3, M = 3 };

/* A network model: kind 0 MLP, 1 residual MLP; cond 0 none, 1 EMBED
 * features with the null condition (the MLP's EMBED_LAYERS: the embedding
 * in every hidden layer), 2 CONCAT, 3 EMBED labels. Random
 * parameters (the residual MLP's output layer starts at zero). */
static scoresde_model *network(const scoresde_sde *sde, int kind, int prec, int output, int cond,
                               size_t chunk)
{
    scoresde_model *m = NULL;
    size_t C = cond == 0 ? 0 : cond == 3 ? 1 : 2;
    if (kind == 0) {
        scoresde_mlp_options o;
        size_t widths[2] = {32, 24};
        OK(scoresde_model_mlp_options_init(&o, sizeof o));
        o.n_hidden = 2;
        o.widths = widths;
        o.output = output;
        o.precision = prec;
        o.seed = 7;
        o.chunk_rows = chunk;
        o.cond_dim = C;
        o.cond_input = cond == 2   ? SCORESDE_MLP_COND_CONCAT
                       : cond == 1 ? SCORESDE_MLP_COND_EMBED_LAYERS
                                   : SCORESDE_MLP_COND_EMBED;
        o.cond_classes = cond == 3 ? 4 : 0;
        o.cond_null = cond == 1;
        OK(scoresde_model_create_mlp(&m, sde, D, &o));
    } else {
        scoresde_resmlp_options o;
        OK(scoresde_model_resmlp_options_init(&o, sizeof o));
        o.width = 24;
        o.blocks = 2;
        o.output = output;
        o.precision = prec;
        o.seed = 7;
        o.chunk_rows = chunk;
        o.cond_dim = C;
        o.cond_input = cond == 2 ? SCORESDE_MLP_COND_CONCAT : SCORESDE_MLP_COND_EMBED;
        o.cond_classes = cond == 3 ? 4 : 0;
        o.cond_null = cond == 1;
        OK(scoresde_model_create_resmlp(&m, sde, D, &o));
    }
    size_t np = scoresde_model_num_params(m);
    double *p = test_normals(31, np, 0.3);
    OK(scoresde_model_set_params(m, p, np));
    free(p);
    return m;
}

/* The condition of N samples for cond (NULL for 0): features or labels,
 * every fifth sample null where the model takes it. */
typedef struct {
    double c[N * 2];
    unsigned char null[N];
    scoresde_cond cond;
} cond_rows;

static const scoresde_cond *make_cond(cond_rows *cr, int cond)
{
    if (cond == 0)
        return NULL;
    size_t C = cond == 3 ? 1 : 2;
    for (size_t i = 0; i < N; i++) {
        cr->null[i] = cond == 1 && i % 5 == 0;
        for (size_t j = 0; j < C; j++)
            cr->c[i * C + j] = cond == 3 ? (double)(i % 4) : 0.5 * sin((double)(i * C + j));
    }
    cr->cond = (scoresde_cond){sizeof cr->cond, C, cr->c, N, cond == 1 ? cr->null : NULL};
    return &cr->cond;
}

static void batch(double **x, double **t, double **probes)
{
    *x = test_normals(41, N * D, 1.0);
    *t = malloc(N * sizeof(double));
    for (size_t i = 0; i < N; i++)
        (*t)[i] = 0.03 + 0.95 * (double)i / (double)N;
    *probes = test_normals(43, N * M * D, 1.0);
}

static double max_abs(const double *a, size_t cnt)
{
    double m = 0.0;
    for (size_t q = 0; q < cnt; q++)
        m = fmax(m, fabs(a[q]));
    return m;
}

/* max |a - b| <= tol (1 + max |b|), or bit for bit when tol is 0. */
static void assert_near(const double *a, const double *b, size_t cnt, double tol,
                        const char *what)
{
    if (tol == 0.0) {
        ck_assert_msg(memcmp(a, b, cnt * sizeof *a) == 0, "%s: not bit-identical", what);
        return;
    }
    double bound = tol * (1.0 + max_abs(b, cnt)), worst = 0.0;
    for (size_t q = 0; q < cnt; q++)
        worst = fmax(worst, fabs(a[q] - b[q]));
    ck_assert_msg(worst <= bound, "%s: max difference %g above %g", what, worst, bound);
}

/* The fused call (with scratch of the documented size, and with ws NULL)
 * against score then divergence, and score then Hutchinson. */
static void check_fused(const scoresde_model *m, const scoresde_cond *cond, double tol,
                        const char *name)
{
    double *x, *t, *pr;
    batch(&x, &t, &pr);
    double *s_ref = malloc(N * D * sizeof(double)), *s = malloc(N * D * sizeof(double));
    double d_ref[N], d[N], h_ref[N];
    sd_cond rc;
    const sd_cond *rcp;
    OK(sd_cond_resolve(m, cond, N, &rc, &rcp));
    size_t per = sd_model_score_div_ws(m, M);
    double *ws = malloc((N * per + 1) * sizeof(double));
    char what[160];
    OK(scoresde_model_score_cond(m, x, t, N, D, cond, s_ref));
    int exact = scoresde_model_divergence_cond(m, x, t, N, D, cond, d_ref);
    if (exact == SCORESDE_OK) {
        for (int w = 0; w < 2; w++) {
            OK(sd_model_score_div_c(m, x, t, N, D, rcp, NULL, 0, s, d, w ? ws : NULL));
            snprintf(what, sizeof what, "%s exact score (ws %d)", name, w);
            assert_near(s, s_ref, N * D, tol, what);
            snprintf(what, sizeof what, "%s exact divergence (ws %d)", name, w);
            assert_near(d, d_ref, N, tol, what);
        }
    } else {
        /* the same refusal from the fused call */
        ck_assert_int_eq(sd_model_score_div_c(m, x, t, N, D, rcp, NULL, 0, s, d, ws), exact);
    }
    OK(scoresde_model_hutchinson_cond(m, x, t, N, D, cond, pr, M, h_ref));
    for (int w = 0; w < 2; w++) {
        OK(sd_model_score_div_c(m, x, t, N, D, rcp, pr, M, s, d, w ? ws : NULL));
        snprintf(what, sizeof what, "%s Hutchinson score (ws %d)", name, w);
        assert_near(s, s_ref, N * D, tol, what);
        snprintf(what, sizeof what, "%s Hutchinson estimate (ws %d)", name, w);
        assert_near(d, h_ref, N, tol, what);
    }
    free(ws);
    free(s_ref);
    free(s);
    free(x);
    free(t);
    free(pr);
}

static const int outputs[4] = {SCORESDE_MLP_OUTPUT_SCORE, SCORESDE_MLP_OUTPUT_NOISE,
                               SCORESDE_MLP_OUTPUT_DATA, SCORESDE_MLP_OUTPUT_EDM};

/* _i = kind x 2 + precision (the residual MLP bit for bit): every output
 * parameterisation and condition;
 * chunk_rows 1024 (one chunk), 64 (several) and 1 (2 rows of room: one
 * tangent per stacked pass, the tangent groups' path). */
START_TEST(networks_fused_within_rounding)
{
    int kind = _i / 2, prec = _i % 2;
    double tol = kind == 1 ? 0.0 : 256.0 * (prec ? 0x1p-23 : 0x1p-52);
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    for (int o = 0; o < 4; o++)
        for (int cond = 0; cond < 4; cond++) {
            size_t chunk = cond == 1 ? 64 : cond == 2 && o == 1 ? 1 : 1024;
            scoresde_model *m = network(sde, kind, prec, outputs[o], cond, chunk);
            cond_rows cr;
            char name[96];
            snprintf(name, sizeof name, "%s f%d output %d cond %d chunk %zu",
                     kind ? "resmlp" : "mlp", prec ? 32 : 64, outputs[o], cond, chunk);
            check_fused(m, make_cond(&cr, cond), tol, name);
            scoresde_model_free(m);
        }
    scoresde_sde_free(sde);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

static int minus_x_score(const double *x, const double *t, size_t n, size_t d, double *s,
                         void *user)
{
    (void)t, (void)user;
    for (size_t k = 0; k < n * d; k++)
        s[k] = -x[k] + 0.1 * sin(x[k]);
    return 0;
}

static int minus_x_div(const double *x, const double *t, size_t n, size_t d, double *div,
                       void *user)
{
    (void)t, (void)user;
    for (size_t i = 0; i < n; i++) {
        div[i] = 0.0;
        for (size_t j = 0; j < d; j++)
            div[i] += -1.0 + 0.1 * cos(x[i * d + j]);
    }
    return 0;
}

static int half_denoiser(const double *x, const double *t, size_t n, size_t d, const double *c,
                         size_t c_stride, const unsigned char *null_mask, double *x0, void *user)
{
    (void)t, (void)user;
    for (size_t i = 0; i < n; i++) {
        int null = c == NULL || (null_mask != NULL && null_mask[i]);
        for (size_t j = 0; j < d; j++)
            x0[i * d + j] = 0.5 * x[i * d + j] + (null ? 0.0 : 0.1 * c[i * c_stride]);
    }
    return 0;
}

/* Every exact kind, bit for bit: mixture, class-conditional mixture,
 * linear-Gaussian, IID (both methods), the hooks with a divergence hook and
 * without (Hutchinson by central differences; the exact divergence refused
 * alike). */
START_TEST(exact_kinds_fused_bit_identical)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m[9] = {0};
    const scoresde_cond *conds[9] = {0};
    cond_rows labels, feats;
    /* 0: a mixture in D dimensions */
    {
        const double w[2] = {0.3, 0.7}, mu[2 * D] = {-1, 0.5, 0, 1, -0.5, 0.2};
        const double var[2 * D] = {0.5, 1, 0.7, 0.3, 0.4, 1.2};
        OK(scoresde_model_create_gmm(&m[0], sde, 2, D, w, mu, var));
    }
    /* 1: a class-conditional mixture (4 classes of 2 components) */
    {
        double cp[4] = {1, 2, 3, 4}, w[8], mu[8 * D], var[8 * D];
        for (int k = 0; k < 8; k++) {
            w[k] = 1.0 + k % 3;
            for (int j = 0; j < D; j++) {
                mu[k * D + j] = 0.3 * (k - 4) + 0.1 * j;
                var[k * D + j] = 0.2 + 0.1 * ((k + j) % 4);
            }
        }
        OK(scoresde_model_create_cond_gmm(&m[1], sde, 4, 2, D, cp, w, mu, var));
        conds[1] = make_cond(&labels, 3);
    }
    /* 2: linear-Gaussian, C = 2 */
    const double m0[D] = {0.1, -0.2, 0.3}, S0[D * D] = {1, 0.3, 0, 0.3, 1, 0.1, 0, 0.1, 0.8};
    const double A[2 * D] = {1, 0, 0.5, 0, 1, -0.3}, Se[4] = {0.5, 0.1, 0.1, 0.4};
    OK(scoresde_model_create_linear_gaussian(&m[2], sde, D, 2, m0, S0, A, NULL, Se));
    conds[2] = make_cond(&feats, 1);
    /* 3, 4: IID posteriors of 3 observations of m[2], FACTORIZED and GAUSS */
    {
        const double ys[6] = {0.2, -0.1, 0.5, 0.3, -0.4, 0.0};
        double P0[D * D], Pp[D * D], work[3 * D * D];
        /* P0 = S0^-1 by Gauss-Jordan; Pp = P0 + A^T Se^-1 A */
        double a[D * 2 * D];
        for (int i = 0; i < D; i++)
            for (int j = 0; j < 2 * D; j++)
                a[i * 2 * D + j] = j < D ? S0[i * D + j] : (j - D == i);
        for (int c = 0; c < D; c++) {
            double p = a[c * 2 * D + c];
            for (int j = 0; j < 2 * D; j++)
                a[c * 2 * D + j] /= p;
            for (int r = 0; r < D; r++)
                if (r != c) {
                    double f = a[r * 2 * D + c];
                    for (int j = 0; j < 2 * D; j++)
                        a[r * 2 * D + j] -= f * a[c * 2 * D + j];
                }
        }
        for (int i = 0; i < D; i++)
            for (int j = 0; j < D; j++)
                P0[i * D + j] = 0.5 * (a[i * 2 * D + D + j] + a[j * 2 * D + D + i]);
        const double det = Se[0] * Se[3] - Se[1] * Se[2];
        const double Si[4] = {Se[3] / det, -Se[1] / det, -Se[2] / det, Se[0] / det};
        (void)work;
        for (int i = 0; i < D; i++)
            for (int j = 0; j < D; j++) {
                double acc = 0.0;
                for (int p = 0; p < 2; p++)
                    for (int q = 0; q < 2; q++)
                        acc += A[p * D + i] * Si[p * 2 + q] * A[q * D + j];
                Pp[i * D + j] = P0[i * D + j] + acc;
            }
        OK(scoresde_model_create_iid(&m[3], m[2], NULL, 3, ys, SCORESDE_IID_FACTORIZED, NULL,
                                     NULL));
        OK(scoresde_model_create_iid(&m[4], m[2], NULL, 3, ys, SCORESDE_IID_GAUSS, P0, Pp));
    }
    /* 5, 6: a score hook with and without its divergence hook */
    OK(scoresde_model_create_score_fn(&m[5], sde, D, minus_x_score, minus_x_div, NULL));
    OK(scoresde_model_create_score_fn(&m[6], sde, D, minus_x_score, NULL, NULL));
    /* 7: a conditional denoiser hook without divergence (central differences
     * on a doubled per-sample condition with a null mask) */
    OK(scoresde_model_create_cond_denoiser_fn(&m[7], sde, D, 2, 1, half_denoiser, NULL, NULL));
    conds[7] = conds[2];
    for (int k = 0; k < 8; k++) {
        char name[32];
        snprintf(name, sizeof name, "kind %d", k);
        check_fused(m[k], conds[k], 0.0, name);
    }
    for (int k = 0; k < 9; k++)
        scoresde_model_free(m[k]);
    scoresde_sde_free(sde);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* The old path: the model's own table without the fused slot. */
typedef struct {
    sd_model_ops ops;
    const sd_model_ops *saved;
} plain_ops;

static void make_plain(scoresde_model *m, plain_ops *p)
{
    p->saved = m->ops;
    p->ops = *m->ops;
    p->ops.score_div = NULL;
    p->ops.score_div_ws = NULL;
    m->ops = &p->ops;
}

static void likelihood(const scoresde_model *m, int div, const scoresde_cond *cond, size_t n,
                       const double *x, double *logp, double *lat)
{
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, SCORESDE_SAMPLER_ODE));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_SOLVER, SCORESDE_SAMPLER_SOLVER_RK4));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 20));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_DIVERGENCE, div));
    OK(scoresde_sampler_likelihood_cond(s, m, x, n, D, cond, 5, 0, logp, lat, NULL));
    scoresde_sampler_free(s);
}

/* _i = kind x 2 + precision; exact and both Hutchinson probes, with and
 * without a condition, two output parameterisations. */
START_TEST(likelihood_fused_matches_old_path)
{
    int kind = _i / 2, prec = _i % 2;
    double tol = kind == 1 ? 0.0 : prec ? 1e-3 : 1e-9; /* residual MLP: bit for bit */
    enum { NL = 100 };
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    double *x = test_normals(51, NL * D, 0.8);
    double lp[NL], lp0[NL], lat[NL * D], lat0[NL * D];
    const int divs[3] = {SCORESDE_SAMPLER_DIVERGENCE_EXACT, SCORESDE_SAMPLER_DIVERGENCE_RADEMACHER,
                         SCORESDE_SAMPLER_DIVERGENCE_GAUSSIAN};
    for (int o = 0; o < 2; o++)
        for (int cond = 0; cond < 2; cond++) {
            scoresde_model *m = network(sde, kind, prec, o ? SCORESDE_MLP_OUTPUT_EDM : SCORESDE_MLP_OUTPUT_NOISE,
                                        cond, 64);
            cond_rows cr;
            const scoresde_cond *c = make_cond(&cr, cond);
            if (c)
                cr.cond.rows = NL;
            for (int dv = 0; dv < 3; dv++) {
                likelihood(m, divs[dv], c, NL, x, lp, lat);
                plain_ops p;
                make_plain(m, &p);
                likelihood(m, divs[dv], c, NL, x, lp0, lat0);
                m->ops = p.saved;
                char what[96];
                snprintf(what, sizeof what, "%s f%d output %d cond %d divergence %d: ln p",
                         kind ? "resmlp" : "mlp", prec ? 32 : 64, o, cond, divs[dv]);
                for (size_t i = 0; i < NL; i++)
                    ck_assert_msg(fabs(lp[i] - lp0[i]) <= tol * (1.0 + fabs(lp0[i])),
                                  "%s of sample %zu: %.17g, the old path %.17g", what, i, lp[i],
                                  lp0[i]);
                snprintf(what, sizeof what, "%s f%d output %d cond %d divergence %d: latent",
                         kind ? "resmlp" : "mlp", prec ? 32 : 64, o, cond, divs[dv]);
                assert_near(lat, lat0, NL * D, tol, what);
            }
            scoresde_model_free(m);
        }
    free(x);
    scoresde_sde_free(sde);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* A loss value without gradient takes the fused call for its probe terms
 * (ISM: the exact divergence; SSM: M probes): the value and per-sample
 * values against the old path (the table without the slot), bit for bit
 * for the residual MLP, within the MLP's rounding bound otherwise; noisy
 * times (UNIFORM) so every output parameterisation's coefficients enter. */
START_TEST(loss_values_through_fused_call)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    const int kinds[2] = {SCORESDE_LOSS_ISM, SCORESDE_LOSS_SSM};
    double *x0 = test_normals(81, N * D, 0.7);
    for (int net = 0; net < 2; net++)
        for (int o = 0; o < 4; o++)
            for (int lk = 0; lk < 2; lk++) {
                scoresde_model *m = network(sde, net, 0, outputs[o], 0, 64);
                scoresde_loss *l = NULL;
                OK(scoresde_loss_create(&l, kinds[lk]));
                OK(scoresde_loss_set_int(l, SCORESDE_LOSS_TIME_MODE, SCORESDE_LOSS_TIME_UNIFORM));
                if (kinds[lk] == SCORESDE_LOSS_SSM)
                    OK(scoresde_loss_set_int(l, SCORESDE_LOSS_NUM_PROBES, 2));
                double v[2], *ps[2] = {malloc(N * sizeof(double)), malloc(N * sizeof(double))};
                for (int k = 0; k < 2; k++) {
                    plain_ops p;
                    if (k)
                        make_plain(m, &p);
                    OK(scoresde_loss_eval(l, m, x0, N, D, 9, 0, &v[k], ps[k], NULL, 0));
                    if (k)
                        m->ops = p.saved;
                }
                char what[96];
                snprintf(what, sizeof what, "%s output %d loss %d: per-sample values",
                         net ? "resmlp" : "mlp", outputs[o], kinds[lk]);
                assert_near(ps[0], ps[1], N, net ? 0.0 : 256.0 * 0x1p-52, what);
                ck_assert(net ? v[0] == v[1] : fabs(v[0] - v[1]) <= 1e-12 * (1 + fabs(v[1])));
                free(ps[0]), free(ps[1]);
                scoresde_loss_free(l);
                scoresde_model_free(m);
            }
    free(x0);
    scoresde_sde_free(sde);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

static int exploding_score(const double *x, const double *t, size_t n, size_t d, double *s,
                           void *user)
{
    (void)x, (void)user;
    /* finite, but past t = 0.55 the drift -g^2 s / 2 overflows (g^2 > 11) */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            s[i * d + j] = t[i] > 0.55 ? 1.7e308 : 0.0;
    return 0;
}

/* A score whose flow overflows inside a step (RK4's second stage at
 * t = 0.55 gives an infinite stage state): the likelihood stops with the
 * solver's numeric failure naming the sample, before the model sees it. */
START_TEST(likelihood_state_overflow_refused)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = NULL;
    OK(scoresde_model_create_score_fn(&m, sde, D, exploding_score, minus_x_div, NULL));
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, SCORESDE_SAMPLER_ODE));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_SOLVER, SCORESDE_SAMPLER_SOLVER_RK4));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 10));
    double x[2 * D] = {0.1, 0.2, 0.3, -0.1, -0.2, -0.3}, lp[2];
    test_expect_error(scoresde_sampler_likelihood(s, m, x, 2, D, 1, 0, lp, NULL, NULL),
                      SCORESDE_ENUMERIC, "the state is not finite");
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* The fused call's refusals: those of the separate calls. */
START_TEST(fused_refusals)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = network(sde, 0, 0, SCORESDE_MLP_OUTPUT_NOISE, 0, 64);
    double x[D] = {0.1, 0.2, 0.3}, t = 0.5, s[D], d, pr[D] = {1, NAN, 1}, bad_t = 2.0;
    test_expect_error(sd_model_score_div_c(m, x, &t, 1, D, NULL, pr, 0, s, &d, NULL),
                      SCORESDE_EINVAL, "M (the number of probes");
    test_expect_error(sd_model_score_div_c(m, x, &t, 1, D, NULL, pr, 1, s, &d, NULL),
                      SCORESDE_EINVAL, "probes");
    test_expect_error(sd_model_score_div_c(m, x, &t, 1, D, NULL, NULL, 0, s, NULL, NULL),
                      SCORESDE_EINVAL, "div");
    test_expect_error(sd_model_score_div_c(m, x, &bad_t, 1, D, NULL, NULL, 0, s, &d, NULL),
                      SCORESDE_EINVAL, "outside [0, T]");
    test_expect_error(sd_model_score_div_c(m, x, &t, 1, D - 1, NULL, NULL, 0, s, &d, NULL),
                      SCORESDE_EDIM, "dimension");
    /* probes near DBL_MAX: the products overflow, refused as Hutchinson
     * refuses them, by both networks */
    double huge[2 * D];
    for (int k = 0; k < 2 * D; k++)
        huge[k] = k % 2 ? -1.7e308 : 1.7e308;
    double xs[2 * D] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, ts[2] = {1e-3, 1e-3}, ss[2 * D], ds[2];
    test_expect_error(sd_model_score_div_c(m, xs, ts, 2, D, NULL, huge, 1, ss, ds, NULL),
                      SCORESDE_ENUMERIC, "the MLP Jacobian product is not finite");
    scoresde_model *r = network(sde, 1, 0, SCORESDE_MLP_OUTPUT_NOISE, 0, 64);
    test_expect_error(sd_model_score_div_c(r, xs, ts, 2, D, NULL, huge, 1, ss, ds, NULL),
                      SCORESDE_ENUMERIC, "the residual MLP Jacobian product is not finite");
    scoresde_model_free(r);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* The no-rescan twin (the likelihood's): the same bits as the checked call
 * on finite x, every check but x's values (a NaN in x reaches the network
 * and comes back as its non-finite score, where the checked call refuses
 * x), and the other refusals kept. */
START_TEST(fused_cf_skips_only_the_x_scan)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = network(sde, 0, 0, SCORESDE_MLP_OUTPUT_NOISE, 0, 64);
    double xs[2 * D] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, ts[2] = {0.3, 0.7}, bad_t[2] = {0.3, 2.0};
    double s1[2 * D], s2[2 * D], d1[2], d2[2];
    OK(sd_model_score_div_c(m, xs, ts, 2, D, NULL, NULL, 0, s1, d1, NULL));
    OK(sd_model_score_div_cf(m, xs, ts, 2, D, NULL, NULL, 0, s2, d2, NULL));
    ck_assert(memcmp(s1, s2, sizeof s1) == 0 && memcmp(d1, d2, sizeof d1) == 0);
    test_expect_error(sd_model_score_div_cf(m, xs, bad_t, 2, D, NULL, NULL, 0, s2, d2, NULL),
                      SCORESDE_EINVAL, "outside [0, T]");
    xs[4] = NAN;
    ck_assert_int_eq(sd_model_score_div_c(m, xs, ts, 2, D, NULL, NULL, 0, s1, d1, NULL),
                     SCORESDE_EINVAL);
    test_expect_error(sd_model_score_div_cf(m, xs, ts, 2, D, NULL, NULL, 0, s2, d2, NULL),
                      SCORESDE_ENUMERIC, "not finite");
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("score_div");
    TCase *tc = tcase_create("score_div");
    tcase_add_loop_test(tc, networks_fused_within_rounding, 0, 4);
    tcase_add_test(tc, exact_kinds_fused_bit_identical);
    tcase_add_loop_test(tc, likelihood_fused_matches_old_path, 0, 4);
    tcase_add_test(tc, loss_values_through_fused_call);
    tcase_add_test(tc, fused_refusals);
    tcase_add_test(tc, fused_cf_skips_only_the_x_scan);
    tcase_add_test(tc, likelihood_state_overflow_refused);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
