/*
 * The variational bound and the likelihood report (scoresde/bound.h).
 * Gaussian data N(m, v I) with its exact score make every expectation a
 * closed form (the guide's page 12): the expected gap of the bound over
 * -ln p_0 is KL(p_T | pi) + (D/2) ln(1 + sigma_eps^2 / (alpha_eps^2 v)), and
 * scaling the score by c raises the expected bound by
 * (c - 1)^2 (D/2) ln(V_T alpha_eps^2 / (V_eps alpha_T^2)), V = alpha^2 v + sigma^2.
 * Statistical checks use 4 standard errors estimated from the same points.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scoresde.h"
#include "testutil.h"

#define OK(expr) ck_assert_int_eq((expr), SCORESDE_OK)

#define D 2
#define NPTS 400
static const double MEAN[D] = {0.5, -1.0};
static const double VAR = 0.3;

typedef struct gauss {
    scoresde_sde *sde;
    scoresde_model *exact;
    double x[NPTS * D];
    double nll0[NPTS]; /* -ln p_0(x_i) */
} gauss;

static void gauss_init(gauss *g, int kind)
{
    g->sde = test_make_sde(kind);
    double w = 1, var[D] = {VAR, VAR};
    OK(scoresde_model_create_gmm(&g->exact, g->sde, 1, D, &w, MEAN, var));
    OK(scoresde_rng_normal(5, 0, 0, NPTS * D, g->x));
    for (size_t i = 0; i < NPTS; i++) {
        g->nll0[i] = 0.5 * D * log(2 * M_PI * VAR);
        for (size_t j = 0; j < D; j++) {
            g->x[i * D + j] = MEAN[j] + sqrt(VAR) * g->x[i * D + j];
            double e = g->x[i * D + j] - MEAN[j];
            g->nll0[i] += e * e / (2 * VAR);
        }
    }
}

static void gauss_free(gauss *g)
{
    scoresde_model_free(g->exact);
    scoresde_sde_free(g->sde);
}

static void marginal_at(const scoresde_sde *sde, double t, double *a, double *s)
{
    OK(scoresde_sde_marginal(sde, &t, 1, a, s, NULL, NULL));
}

/* Mean and standard error of d[0..n-1]. */
static void mean_se(const double *d, size_t n, double *mean, double *se)
{
    double var;
    test_moments(d, n, 1, 0, mean, &var);
    *se = sqrt(var / (double)n);
}

static scoresde_sampler *bound_sampler(int time_mode, int draws)
{
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, SCORESDE_SAMPLER_PC));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BOUND_TIME, time_mode));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BOUND_DRAWS, draws));
    return s;
}

static const int KINDS[3] = {SCORESDE_SDE_VP, SCORESDE_SDE_SUBVP, SCORESDE_SDE_VE};
/* eps per kind where the boundary term is visible (sigma_eps^2 ~ 0.1 v) and
 * the estimate's spread small enough to test the gap tightly. */
static const double GAP_EPS[3] = {0.05, 0.1, 0.3};

/* Exact score: bound >= -ln p_0 on average, by the theoretical gap. */
START_TEST(test_exact_gap)
{
    gauss g;
    gauss_init(&g, KINDS[_i]);
    scoresde_sampler *s = bound_sampler(SCORESDE_SAMPLER_BOUND_TIME_IMPORTANCE, 32);
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_EPS, GAP_EPS[_i]));
    double nll[NPTS], se[NPTS], terms[NPTS * 3], gap[NPTS];
    OK(scoresde_sampler_bound(s, g.exact, g.x, NPTS, D, 11, 0, nll, se, terms));
    for (size_t i = 0; i < NPTS; i++) {
        ck_assert(nll[i] == (terms[3 * i] + terms[3 * i + 1]) + terms[3 * i + 2]);
        gap[i] = nll[i] - g.nll0[i];
    }
    double eps = GAP_EPS[_i], T = scoresde_sde_end_time(g.sde);
    double ae, se_, aT, sT, v;
    marginal_at(g.sde, eps, &ae, &se_);
    marginal_at(g.sde, T, &aT, &sT);
    OK(scoresde_sde_prior_var(g.sde, &v));
    double VT = aT * aT * VAR + sT * sT, theory = 0.5 * D * log(1 + se_ * se_ / (ae * ae * VAR));
    for (size_t j = 0; j < D; j++)
        theory += 0.5 * ((VT + aT * aT * MEAN[j] * MEAN[j]) / v - 1 - log(VT / v));
    double m, e;
    mean_se(gap, NPTS, &m, &e);
    printf("exact-score gap (%d): %.4f +- %.4f, theory %.4f\n", KINDS[_i], m, e, theory);
    ck_assert_msg(fabs(m - theory) < 4 * e, "gap %g +- %g vs %g", m, e, theory);
    ck_assert(m + 3 * e > 0);
    scoresde_sampler_free(s);
    gauss_free(&g);
}
END_TEST

typedef struct scaled {
    const scoresde_model *exact;
    double c;
} scaled;

static int scaled_score(const double *x, const double *t, size_t n, size_t dim, double *out,
                        void *user)
{
    const scaled *sc = user;
    int rc = scoresde_model_score(sc->exact, x, t, n, dim, out);
    for (size_t i = 0; i < n * dim; i++)
        out[i] *= sc->c;
    return rc;
}

/* A score scaled by c raises the bound by the integrated score error. */
START_TEST(test_wrong_score)
{
    gauss g;
    gauss_init(&g, KINDS[_i]);
    scaled sc = {g.exact, 1.25};
    scoresde_model *wrong = NULL;
    OK(scoresde_model_create_score_fn(&wrong, g.sde, D, scaled_score, NULL, &sc));
    scoresde_sampler *s = bound_sampler(SCORESDE_SAMPLER_BOUND_TIME_IMPORTANCE, 8);
    double nll1[NPTS], nllc[NPTS], rise[NPTS];
    OK(scoresde_sampler_bound(s, g.exact, g.x, NPTS, D, 3, 0, nll1, NULL, NULL));
    OK(scoresde_sampler_bound(s, wrong, g.x, NPTS, D, 3, 0, nllc, NULL, NULL));
    for (size_t i = 0; i < NPTS; i++)
        rise[i] = nllc[i] - nll1[i];
    double eps = scoresde_sde_training_eps(g.sde), T = scoresde_sde_end_time(g.sde);
    double ae, se_, aT, sT;
    marginal_at(g.sde, eps, &ae, &se_);
    marginal_at(g.sde, T, &aT, &sT);
    double Ve = ae * ae * VAR + se_ * se_, VT = aT * aT * VAR + sT * sT;
    double theory = (sc.c - 1) * (sc.c - 1) * 0.5 * D * log(VT * ae * ae / (Ve * aT * aT));
    double m, e;
    mean_se(rise, NPTS, &m, &e);
    printf("scaled score (c = %.2f, %d): rise %.4f +- %.4f, integrated score error %.4f\n",
           sc.c, KINDS[_i], m, e, theory);
    ck_assert_msg(fabs(m - theory) < 4 * e, "rise %g +- %g vs %g", m, e, theory);
    ck_assert(m > 0);
    scoresde_sampler_free(s);
    scoresde_model_free(wrong);
    gauss_free(&g);
}
END_TEST

/* Uniform and importance-sampled times: same mean, importance has less variance. */
START_TEST(test_importance_variance)
{
    gauss g;
    gauss_init(&g, SCORESDE_SDE_VP);
    scoresde_sampler *su = bound_sampler(SCORESDE_SAMPLER_BOUND_TIME_UNIFORM, 16);
    scoresde_sampler *si = bound_sampler(SCORESDE_SAMPLER_BOUND_TIME_IMPORTANCE, 16);
    OK(scoresde_sampler_set_double(su, SCORESDE_SAMPLER_EPS, 1e-3));
    OK(scoresde_sampler_set_double(si, SCORESDE_SAMPLER_EPS, 1e-3));
    double nu[NPTS], ni[NPTS], seu[NPTS], sei[NPTS], diff[NPTS];
    OK(scoresde_sampler_bound(su, g.exact, g.x, NPTS, D, 8, 0, nu, seu, NULL));
    OK(scoresde_sampler_bound(si, g.exact, g.x, NPTS, D, 9, 0, ni, sei, NULL));
    double vu = 0, vi = 0;
    for (size_t i = 0; i < NPTS; i++) {
        diff[i] = nu[i] - ni[i];
        vu += seu[i] * seu[i];
        vi += sei[i] * sei[i];
    }
    double m, e;
    mean_se(diff, NPTS, &m, &e);
    printf("uniform - importance: %.4f +- %.4f; variance ratio uniform/importance %.1f "
           "(eps 1e-3)\n", m, e, vu / vi);
    ck_assert_msg(fabs(m) < 4 * e, "means differ: %g +- %g", m, e);
    ck_assert_msg(vu / vi > 2, "variance ratio %g", vu / vi);
    scoresde_sampler_free(su);
    scoresde_sampler_free(si);
    gauss_free(&g);
}
END_TEST

/* Likelihood-weighted DSM (G2) with importance-sampled times keeps the
 * uniform-time loss's expectation and has a lower variance. A scaled score
 * keeps the loss away from its irreducible part alone. */
START_TEST(test_loss_importance)
{
    gauss g;
    gauss_init(&g, SCORESDE_SDE_VP);
    scaled sc = {g.exact, 0.8};
    scoresde_model *m = NULL;
    OK(scoresde_model_create_score_fn(&m, g.sde, D, scaled_score, NULL, &sc));
    double per[2][NPTS], mean[2], var[2];
    for (int k = 0; k < 2; k++) {
        scoresde_loss *l = NULL;
        OK(scoresde_loss_create(&l, SCORESDE_LOSS_DSM));
        OK(scoresde_loss_set_int(l, SCORESDE_LOSS_WEIGHTING, SCORESDE_LOSS_WEIGHT_G2));
        OK(scoresde_loss_set_int(l, SCORESDE_LOSS_TIME_MODE,
                                 k ? SCORESDE_LOSS_TIME_IMPORTANCE : SCORESDE_LOSS_TIME_UNIFORM));
        OK(scoresde_loss_set_double(l, SCORESDE_LOSS_EPS, 1e-3));
        double value;
        OK(scoresde_loss_eval(l, m, g.x, NPTS, D, 21 + k, 0, &value, per[k], NULL, 0));
        test_moments(per[k], NPTS, 1, 0, &mean[k], &var[k]);
        scoresde_loss_free(l);
    }
    double se = sqrt((var[0] + var[1]) / NPTS);
    printf("G2-weighted DSM: uniform %.3f, importance %.3f (+- %.3f); variance ratio %.1f\n",
           mean[0], mean[1], se, var[0] / var[1]);
    ck_assert_msg(fabs(mean[0] - mean[1]) < 4 * se, "%g vs %g +- %g", mean[0], mean[1], se);
    ck_assert(var[0] > 2 * var[1]);
    scoresde_model_free(m);
    gauss_free(&g);
}
END_TEST

/* The bound of an MLP trained for 600 steps on N((2, -1), 0.25 I) data with
 * the default DSM (sigma^2 weighting, uniform times) or with likelihood
 * training (G2 weighting, importance-sampled times), on 500 training points,
 * 64 draws each, the same draws for both (so the difference is sharp). */
static void train_and_bound(const scoresde_sde *sde, const double *data, size_t n, int mle,
                            double *nll)
{
    scoresde_mlp_options opt;
    OK(scoresde_model_mlp_options_init(&opt, sizeof opt));
    const size_t widths[2] = {32, 32};
    opt.n_hidden = 2, opt.widths = widths, opt.seed = 1;
    scoresde_model *net = NULL, *ema = NULL;
    scoresde_loss *loss = NULL;
    scoresde_trainer *tr = NULL;
    OK(scoresde_model_create_mlp(&net, sde, D, &opt));
    OK(scoresde_loss_create(&loss, SCORESDE_LOSS_DSM));
    if (mle) {
        OK(scoresde_loss_set_int(loss, SCORESDE_LOSS_WEIGHTING, SCORESDE_LOSS_WEIGHT_G2));
        OK(scoresde_loss_set_int(loss, SCORESDE_LOSS_TIME_MODE, SCORESDE_LOSS_TIME_IMPORTANCE));
    }
    OK(scoresde_trainer_create(&tr, net, loss));
    OK(scoresde_trainer_set_double(tr, SCORESDE_TRAIN_LR, 3e-3));
    OK(scoresde_trainer_set_int(tr, SCORESDE_TRAIN_WARMUP, 100));
    OK(scoresde_trainer_fit(tr, data, n, D, 600, NULL, NULL));
    OK(scoresde_trainer_export(&ema, tr, SCORESDE_TRAIN_EXPORT_EMA));
    scoresde_sampler *s = bound_sampler(SCORESDE_SAMPLER_BOUND_TIME_IMPORTANCE, 64);
    OK(scoresde_sampler_bound(s, ema, data, 500, D, 3, 0, nll, NULL, NULL));
    scoresde_sampler_free(s);
    scoresde_model_free(ema);
    scoresde_trainer_free(tr);
    scoresde_loss_free(loss);
    scoresde_model_free(net);
}

START_TEST(test_likelihood_training)
{
    enum { N = 2000 };
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    double *data = test_normals(7, N * D, 0.5), nll[2][500], diff[500];
    for (size_t k = 0; k < N * D; k++)
        data[k] += k % 2 ? -1.0 : 2.0;
    train_and_bound(sde, data, N, 0, nll[0]);
    train_and_bound(sde, data, N, 1, nll[1]);
    for (size_t i = 0; i < 500; i++)
        diff[i] = nll[0][i] - nll[1][i];
    double m0, m1, m, e, v;
    test_moments(nll[0], 500, 1, 0, &m0, &v);
    test_moments(nll[1], 500, 1, 0, &m1, &v);
    mean_se(diff, 500, &m, &e);
    printf("trained 600 steps: bound %.3f (sigma^2, uniform t), %.3f (g^2, importance t); "
           "difference %.3f +- %.3f; data entropy %.3f\n", m0, m1, m, e,
           D * 0.5 * log(2 * M_PI * M_E * 0.25));
    ck_assert_msg(m > 4 * e, "likelihood training did not lower the bound: %g +- %g", m, e);
    free(data);
    scoresde_sde_free(sde);
}
END_TEST

/* Bit-reproducible, independent of BLOCK and of the split into calls. */
START_TEST(test_reproducible)
{
    gauss g;
    gauss_init(&g, SCORESDE_SDE_VP);
    scoresde_sampler *s = bound_sampler(SCORESDE_SAMPLER_BOUND_TIME_IMPORTANCE, 4);
    double a[NPTS], b[NPTS];
    OK(scoresde_sampler_bound(s, g.exact, g.x, NPTS, D, 2, 0, a, NULL, NULL));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BLOCK, 7));
    OK(scoresde_sampler_bound(s, g.exact, g.x, 100, D, 2, 0, b, NULL, NULL));
    OK(scoresde_sampler_bound(s, g.exact, g.x + 100 * D, NPTS - 100, D, 2, 100, b + 100, NULL,
                              NULL));
    ck_assert(memcmp(a, b, sizeof a) == 0);
    scoresde_sampler_free(s);
    gauss_free(&g);
}
END_TEST

/* The report: terms add up exactly; dequantised bits/dim by hand. */
START_TEST(test_report_dequant)
{
    gauss g;
    gauss_init(&g, SCORESDE_SDE_VP);
    enum { N = 3, K = 2, BITS = 3 };
    const double x[N * D] = {0, 7, 3, 4, 6, 1};
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, SCORESDE_SAMPLER_ODE));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_DEQUANT_BITS, BITS));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_DEQUANT_DRAWS, K));
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_DATA_SCALE, 2));
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_DATA_SHIFT, -1));
    double rows[N * SCORESDE_REPORT_COLUMNS];
    OK(scoresde_sampler_report(s, g.exact, SCORESDE_REPORT_ODE, x, N, D, 4, 10, rows,
                               SCORESDE_REPORT_COLUMNS, NULL));
    /* By hand: y = 2 (x + u) / 8 - 1, u at the documented offsets (M = 8,
     * E = D = 2, P = 4). */
    const size_t S = D + 8 * (D + 2);
    double hand[N] = {0}, tot[K][N];
    for (size_t k = 0; k < K; k++) {
        double y[N * D], lp[N];
        for (size_t i = 0; i < N; i++) {
            OK(scoresde_rng_uniform(4, 10 + i, SCORESDE_RNG_OFFSET(SCORESDE_RNG_BOUND, k * S), D,
                                    y + i * D));
            for (size_t j = 0; j < D; j++)
                y[i * D + j] = 2 * (x[i * D + j] + y[i * D + j]) / 8 - 1;
        }
        OK(scoresde_sampler_likelihood(s, g.exact, y, N, D, 4, 10, lp, NULL, NULL));
        for (size_t i = 0; i < N; i++) {
            tot[k][i] = -lp[i] + D * (BITS * M_LN2 - M_LN2);
            hand[i] += tot[k][i] / K;
        }
    }
    for (size_t i = 0; i < N; i++) {
        const double *r = rows + i * SCORESDE_REPORT_COLUMNS;
        ck_assert(r[SCORESDE_REPORT_TOTAL] == ((r[0] + r[1]) + r[2]) + r[3]);
        ck_assert(fabs(r[SCORESDE_REPORT_DEQUANT] - D * 2 * M_LN2) < 1e-15);
        ck_assert_msg(fabs(r[SCORESDE_REPORT_TOTAL] - hand[i]) < 1e-9, "%g vs %g",
                      r[SCORESDE_REPORT_TOTAL], hand[i]);
        ck_assert(fabs(r[SCORESDE_REPORT_BPD] - hand[i] / (D * M_LN2)) < 1e-9);
        double sd = fabs(tot[0][i] - tot[1][i]) / sqrt(2.0); /* K = 2: sd / sqrt(2) */
        ck_assert(fabs(r[SCORESDE_REPORT_STDERR] - sd / sqrt(2.0)) < 1e-9);
    }
    /* BOUND report of continuous data is scoresde_sampler_bound's, bit for bit. */
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_DEQUANT_BITS, 0));
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_DATA_SCALE, 1));
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_DATA_SHIFT, 0));
    double nll[N], se[N], r2[N * 5];
    OK(scoresde_sampler_bound(s, g.exact, g.x, N, D, 4, 0, nll, se, NULL));
    OK(scoresde_sampler_report(s, g.exact, SCORESDE_REPORT_BOUND, g.x, N, D, 4, 0, r2, 5, NULL));
    for (size_t i = 0; i < N; i++)
        ck_assert(r2[i * 5 + SCORESDE_REPORT_TOTAL] == nll[i]);
    scoresde_sampler_free(s);
    gauss_free(&g);
}
END_TEST

static int no_drift(const double *x, const double *t, size_t n, size_t dim, double *f, void *u)
{
    (void)x, (void)t, (void)u;
    memset(f, 0, n * dim * sizeof(double));
    return 0;
}

static int unit_diffusion(const double *t, size_t n, double *g, void *u)
{
    (void)t, (void)u;
    for (size_t i = 0; i < n; i++)
        g[i] = 1;
    return 0;
}

START_TEST(test_bad_input)
{
    gauss g;
    gauss_init(&g, SCORESDE_SDE_VP);
    scoresde_sampler *s = bound_sampler(SCORESDE_SAMPLER_BOUND_TIME_IMPORTANCE, 2);
    double nll[2], x[4] = {0, 1, NAN, 0}, rows[2 * SCORESDE_REPORT_COLUMNS];
    test_expect_error(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BOUND_DRAWS, 0), SCORESDE_EINVAL,
                      "BOUND_DRAWS");
    test_expect_error(scoresde_sampler_bound(s, g.exact, x, 2, D, 1, 0, nll, NULL, NULL),
                      SCORESDE_EINVAL, "x");
    test_expect_error(scoresde_sampler_bound(s, g.exact, g.x, 2, 3, 1, 0, nll, NULL, NULL),
                      SCORESDE_EDIM, "D");
    test_expect_error(scoresde_sampler_bound(s, g.exact, g.x, 0, D, 1, 0, nll, NULL, NULL),
                      SCORESDE_EINVAL, "n");
    test_expect_error(scoresde_sampler_bound(s, g.exact, g.x, 2, D, 1, 0, NULL, NULL, NULL),
                      SCORESDE_EINVAL, "nll");
    /* Sizes that overflow: n x D doubles past SIZE_MAX bytes, refused before any access. */
    test_expect_error(
        scoresde_sampler_bound(s, g.exact, g.x, SIZE_MAX / 2 + 1, D, 1, 0, nll, NULL, NULL),
        SCORESDE_EINVAL, "x");
    test_expect_error(scoresde_sampler_report(s, g.exact, SCORESDE_REPORT_BOUND, g.x, SIZE_MAX / 4,
                                              D, 1, 0, rows, 7, NULL),
                      SCORESDE_EINVAL, "x");
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_EPS, 0));
    test_expect_error(scoresde_sampler_bound(s, g.exact, g.x, 2, D, 1, 0, nll, NULL, NULL),
                      SCORESDE_EINVAL, "eps");
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_EPS, NAN));
    test_expect_error(scoresde_sampler_report(s, g.exact, 3, g.x, 2, D, 1, 0, rows, 7, NULL),
                      SCORESDE_EINVAL, "kind");
    test_expect_error(
        scoresde_sampler_report(s, g.exact, SCORESDE_REPORT_BOUND, g.x, 2, D, 1, 0, rows, 8, NULL),
        SCORESDE_EINVAL, "columns");
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_DEQUANT_BITS, 8));
    double frac[4] = {1, 2.5, 3, 4};
    test_expect_error(
        scoresde_sampler_report(s, g.exact, SCORESDE_REPORT_BOUND, frac, 2, D, 1, 0, rows, 7, NULL),
        SCORESDE_EINVAL, "x[1]");
    /* ODE report needs the ODE method (this sampler is PC). */
    frac[1] = 2;
    test_expect_error(
        scoresde_sampler_report(s, g.exact, SCORESDE_REPORT_ODE, frac, 2, D, 1, 0, rows, 7, NULL),
        SCORESDE_EINVAL, "ODE");
    /* An SDE without a Gaussian marginal. */
    scoresde_sde *custom = NULL;
    scoresde_model *m = NULL;
    OK(scoresde_sde_create_custom(&custom, 1, no_drift, unit_diffusion, NULL, NULL));
    scaled sc = {g.exact, 1};
    OK(scoresde_model_create_score_fn(&m, custom, D, scaled_score, NULL, &sc));
    ck_assert_int_eq(scoresde_sampler_bound(s, m, g.x, 2, D, 1, 0, nll, NULL, NULL),
                     SCORESDE_EUNSUPPORTED);
    scoresde_model_free(m);
    scoresde_sde_free(custom);
    scoresde_sampler_free(s);
    gauss_free(&g);
}
END_TEST

static Suite *bound_suite(void)
{
    Suite *s = suite_create("bound");
    TCase *tc = tcase_create("bound");
    tcase_add_loop_test(tc, test_exact_gap, 0, 3);
    tcase_add_loop_test(tc, test_wrong_score, 0, 3);
    tcase_add_test(tc, test_importance_variance);
    tcase_add_test(tc, test_loss_importance);
    tcase_add_test(tc, test_likelihood_training);
    tcase_add_test(tc, test_reproducible);
    tcase_add_test(tc, test_report_dequant);
    tcase_add_test(tc, test_bad_input);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(bound_suite());
}
