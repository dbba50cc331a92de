/*
 * Tests of the Restart sampler (SCORESDE_SAMPLER_RESTART, lib/solve/restart.c):
 * K = 0 is the EDM sampler bit for bit; the restart jump carries exact states
 * of p_{t_min} to the closed-form p_{t_max}; samples of the exact 1-D and 2-D
 * mixtures have their masses, means and variances (tolerances from the sample
 * size); defaults and NFE; reproducibility; NaN and bad settings refused.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "solve_internal.h"
#include "testutil.h"

#define OK(expr) ck_assert_int_eq((expr), SCORESDE_OK)
#define S(name) SCORESDE_SAMPLER_##name

typedef struct gmm {
    size_t K, D;
    const double *w, *mu, *var;
} gmm;

static const double m1_w[2] = {0.25, 0.75}, m1_mu[2] = {-2.0, 1.5}, m1_var[2] = {0.2, 0.5};
static const double m2_w[3] = {0.5, 0.3, 0.2};
static const double m2_mu[6] = {-1.0, 0.5, 1.5, 1.0, 0.0, -1.5};
static const double m2_var[6] = {0.3, 0.2, 0.1, 0.4, 0.25, 0.15};
static const gmm mix1 = {2, 1, m1_w, m1_mu, m1_var};
static const gmm mix2 = {3, 2, m2_w, m2_mu, m2_var};

static scoresde_model *gmm_model(const gmm *g, const scoresde_sde *sde)
{
    scoresde_model *m = NULL;
    OK(scoresde_model_create_gmm(&m, sde, g->K, g->D, g->w, g->mu, g->var));
    return m;
}

/* The component of the largest weighted density at t with marginal
 * (alpha, sigma). */
static size_t classify(const gmm *g, const double *x, double alpha, double sigma)
{
    size_t best = 0;
    double lbest = -INFINITY;
    for (size_t k = 0; k < g->K; k++) {
        double l = log(g->w[k]);
        for (size_t j = 0; j < g->D; j++) {
            double v = alpha * alpha * g->var[k * g->D + j] + sigma * sigma;
            double e = x[j] - alpha * g->mu[k * g->D + j];
            l -= 0.5 * (e * e / v + log(v));
        }
        if (l > lbest) {
            lbest = l;
            best = k;
        }
    }
    return best;
}

/* x (n samples) against p_t of the mixture, t with marginal (alpha, sigma):
 * each coordinate's mean and variance against the closed form within 4.5
 * standard errors (the variance's from the sample's fourth moment), and the
 * fractions of samples the classifier gives each component against those of
 * n exact draws y of p_t (two-sample, 4.5 standard errors). */
static void check_marginal(const gmm *g, const double *x, const double *y, size_t n,
                           double alpha, double sigma, const char *what)
{
    size_t D = g->D;
    for (size_t j = 0; j < D; j++) {
        double mean = 0.0, m2 = 0.0;
        for (size_t k = 0; k < g->K; k++) {
            double mu = alpha * g->mu[k * D + j];
            double v = alpha * alpha * g->var[k * D + j] + sigma * sigma;
            mean += g->w[k] * mu;
            m2 += g->w[k] * (v + mu * mu);
        }
        double var = m2 - mean * mean, sm = 0.0, sv = 0.0, s4 = 0.0;
        for (size_t i = 0; i < n; i++)
            sm += x[i * D + j];
        sm /= (double)n;
        for (size_t i = 0; i < n; i++) {
            double e = x[i * D + j] - sm;
            sv += e * e;
            s4 += e * e * e * e;
        }
        sv /= (double)(n - 1);
        s4 /= (double)n;
        double se_m = sqrt(var / (double)n), se_v = sqrt((s4 - sv * sv) / (double)n);
        if (getenv("SD_MEASURE") != NULL)
            printf("%s, coordinate %zu: mean %.4f (%.4f, %.1f se), var %.4f (%.4f, %.1f se)\n",
                   what, j, sm, mean, (sm - mean) / se_m, sv, var, (sv - var) / se_v);
        ck_assert_msg(fabs(sm - mean) < 4.5 * se_m, "%s, coordinate %zu: mean %g, exact %g", what,
                      j, sm, mean);
        ck_assert_msg(fabs(sv - var) < 4.5 * se_v, "%s, coordinate %zu: variance %g, exact %g",
                      what, j, sv, var);
    }
    for (size_t k = 0; k < g->K; k++) {
        size_t cx = 0, cy = 0;
        for (size_t i = 0; i < n; i++) {
            cx += classify(g, x + i * D, alpha, sigma) == k;
            cy += classify(g, y + i * D, alpha, sigma) == k;
        }
        double px = (double)cx / (double)n, py = (double)cy / (double)n, p = 0.5 * (px + py);
        double se = sqrt(p * (1.0 - p) * 2.0 / (double)n);
        if (getenv("SD_MEASURE") != NULL)
            printf("%s, component %zu: mass %.4f (exact draws %.4f, %.1f se)\n", what, k, px, py,
                   (px - py) / se);
        ck_assert_msg(fabs(px - py) < 4.5 * se + 1e-12, "%s, component %zu: mass %g, exact %g",
                      what, k, px, py);
    }
}

/* RESTART_K = 0 gives the EDM sampler's bits, with and without churn, on
 * VP and VE, and its NFE, whatever the (unused) restart interval. */
START_TEST(test_restart_k0_is_edm)
{
    static const int kinds[2] = {SCORESDE_SDE_VP, SCORESDE_SDE_VE};
    for (int q = 0; q < 4; q++) {
        scoresde_sde *sde = test_make_sde(kinds[q % 2]);
        scoresde_model *m = test_mixture(sde);
        scoresde_sampler *a = NULL, *b = NULL;
        OK(scoresde_sampler_create(&a, S(EDM)));
        OK(scoresde_sampler_create(&b, S(RESTART)));
        OK(scoresde_sampler_set_int(b, S(RESTART_K), 0));
        if (q % 2) { /* unused interval settings that K > 0 would refuse */
            OK(scoresde_sampler_set_double(b, S(RESTART_TMIN), 5.0));
            OK(scoresde_sampler_set_double(b, S(RESTART_TMAX), 1.0));
        }
        if (q >= 2) {
            OK(scoresde_sampler_set_double(a, S(S_CHURN), 20.0));
            OK(scoresde_sampler_set_double(b, S(S_CHURN), 20.0));
            OK(scoresde_sampler_set_int(a, S(STEPS), 25));
            OK(scoresde_sampler_set_int(b, S(STEPS), 25));
        }
        double x[32], y[32];
        scoresde_sampler_stats sa = {.struct_size = sizeof sa}, sb = {.struct_size = sizeof sb};
        OK(scoresde_sampler_sample(a, m, NULL, 16, 2, 3, 0, x, &sa));
        OK(scoresde_sampler_sample(b, m, NULL, 16, 2, 3, 0, y, &sb));
        ck_assert_msg(memcmp(x, y, sizeof x) == 0, "case %d: K = 0 differs from EDM", q);
        ck_assert_uint_eq(sa.nfe, sb.nfe);
        ck_assert_uint_eq(sa.accepted, sb.accepted);
        scoresde_sampler_free(a);
        scoresde_sampler_free(b);
        scoresde_model_free(m);
        scoresde_sde_free(sde);
    }
}
END_TEST

/* The created settings are the paper's CIFAR-10 ones on EDM's grid, NFE
 * 2 N + 2 K M + 1 = 43; other K and M count as documented. */
START_TEST(test_restart_defaults)
{
    static const struct {
        int id;
        double v;
    } want[] = {{S(RESTART_K), 2},       {S(RESTART_TMIN), 0.06}, {S(RESTART_TMAX), 0.3},
                {S(RESTART_STEPS), 2},   {S(STEPS), 17},          {S(GRID), S(GRID_KARRAS)},
                {S(RHO), 7},             {S(FINAL_STEP), S(FINAL_TWEEDIE)}};
    for (size_t q = 0; q < sizeof want / sizeof want[0]; q++) {
        double d;
        OK(scoresde_sampler_default(S(RESTART), want[q].id, &d));
        ck_assert_msg(d == want[q].v, "setting %d: %g", want[q].id, d);
    }
    double lo, hi;
    int is_int;
    OK(scoresde_sampler_bounds(S(RESTART_K), &lo, &hi, &is_int));
    ck_assert(lo == 0 && hi == 1e6 && is_int);
    OK(scoresde_sampler_bounds(S(RESTART_TMAX), &lo, &hi, &is_int));
    ck_assert(lo == 1e-300 && hi == 1e300 && !is_int);
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = test_mixture(sde);
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, S(RESTART)));
    double x[16];
    scoresde_sampler_stats st = {.struct_size = sizeof st};
    OK(scoresde_sampler_sample(s, m, NULL, 8, 2, 1, 0, x, &st));
    ck_assert_uint_eq(st.nfe, 43);
    ck_assert_uint_eq(st.accepted, 8 * (17 + 2 * 2));
    OK(scoresde_sampler_set_int(s, S(RESTART_K), 5));
    OK(scoresde_sampler_set_int(s, S(RESTART_STEPS), 3));
    OK(scoresde_sampler_set_int(s, S(STEPS), 10));
    OK(scoresde_sampler_set_int(s, S(FINAL_STEP), S(FINAL_STOP)));
    OK(scoresde_sampler_sample(s, m, NULL, 8, 2, 1, 0, x, &st));
    ck_assert_uint_eq(st.nfe, 2 * 10 + 2 * 5 * 3);
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* The restart jump x_edm += sqrt(r_max^2 - r_min^2) z on exact states of
 * p_{t_min} gives p_{t_max} (closed-form moments and masses) for VP, VE and
 * sub-VP, 20000 states of the 2-D mixture; and the noise is draw N + i. */
START_TEST(test_restart_jump_marginal)
{
    static const int kinds[3] = {SCORESDE_SDE_VP, SCORESDE_SDE_VE, SCORESDE_SDE_SUBVP};
    enum { n = 20000, D = 2 };
    double *x = malloc(n * D * sizeof *x), *y = malloc(n * D * sizeof *y);
    double *z = malloc(n * D * sizeof *z), *t = malloc(n * sizeof *t);
    ck_assert(x != NULL && y != NULL && z != NULL && t != NULL);
    for (int q = 0; q < 3; q++) {
        scoresde_sde *sde = test_make_sde(kinds[q]);
        scoresde_model *m = gmm_model(&mix2, sde);
        double ts[2] = {0.2, 0.5}, al[2], sg[2];
        OK(scoresde_sde_marginal(sde, ts, 2, al, sg, NULL, NULL));
        for (size_t i = 0; i < n; i++)
            t[i] = ts[0];
        OK(scoresde_model_sample(m, t, n, D, 40 + (uint64_t)q, 0, x));
        for (size_t i = 0; i < n; i++)
            t[i] = ts[1];
        OK(scoresde_model_sample(m, t, n, D, 50 + (uint64_t)q, 0, y));
        sd_run run = {0};
        run.D = D;
        run.seed = 60 + (uint64_t)q;
        run.N = 17;
        sd_block b = {0};
        b.run = &run;
        b.n = n;
        b.x = x;
        double rmin = sg[0] / al[0], rmax = sg[1] / al[1];
        for (size_t e = 0; e < n * D; e++)
            x[e] /= al[0];
        sd_restart_jump(&b, run.N + 1, sqrt(rmax * rmax - rmin * rmin), z);
        for (size_t e = 0; e < n * D; e++)
            x[e] *= al[1];
        char what[64];
        snprintf(what, sizeof what, "jump, sde %d", kinds[q]);
        check_marginal(&mix2, x, y, n, al[1], sg[1], what);
        /* the noise is the sampler's draw N + 1 of each sample's stream */
        double zz[D];
        scoresde_rng_normal(run.seed, 123, SCORESDE_RNG_OFFSET(SCORESDE_RNG_SAMPLER, 18 * D), D, zz);
        ck_assert(zz[0] == z[123 * D] && zz[1] == z[123 * D + 1]);
        scoresde_model_free(m);
        scoresde_sde_free(sde);
    }
    free(x);
    free(y);
    free(z);
    free(t);
}
END_TEST

/* Samples of the 1-D and 2-D mixtures (exact score, VP and VE, 4000 each)
 * have the data's masses, means and variances: the created restart settings
 * on 60 main steps, and many restarts (K = 10, M = 10 on [0.1, 1.5]), which
 * with the exact score must not bias the result. (At the created 17 steps
 * the discretisation shows: 40000 samples of the 2-D mixture under VP have
 * variances 1.467, 1.116 against 1.4025, 1.0625; EDM alone 1.503, 1.142.) */
START_TEST(test_restart_mixture)
{
    const gmm *g = _i % 2 ? &mix2 : &mix1;
    int kind = (_i / 2) % 2 ? SCORESDE_SDE_VE : SCORESDE_SDE_VP;
    int many = _i >= 4;
    enum { n = 4000 };
    scoresde_sde *sde = test_make_sde(kind);
    scoresde_model *m = gmm_model(g, sde);
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, S(RESTART)));
    OK(scoresde_sampler_set_int(s, S(STEPS), 60));
    if (many) {
        OK(scoresde_sampler_set_int(s, S(RESTART_K), 10));
        OK(scoresde_sampler_set_int(s, S(RESTART_STEPS), 10));
        OK(scoresde_sampler_set_double(s, S(RESTART_TMIN), 0.1));
        OK(scoresde_sampler_set_double(s, S(RESTART_TMAX), 1.5));
    }
    double *x = malloc(n * g->D * sizeof *x), *y = malloc(n * g->D * sizeof *y);
    double *t = calloc(n, sizeof *t);
    ck_assert(x != NULL && y != NULL && t != NULL);
    OK(scoresde_sampler_sample(s, m, NULL, n, g->D, 200 + (uint64_t)_i, 0, x, NULL));
    OK(scoresde_model_sample(m, t, n, g->D, 300 + (uint64_t)_i, 0, y));
    char what[64];
    snprintf(what, sizeof what, "case %d (D = %zu, sde %d%s)", _i, g->D, kind,
             many ? ", K = 10, M = 10" : "");
    check_marginal(g, x, y, n, 1.0, 0.0, what);
    free(x);
    free(y);
    free(t);
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* A score that is NaN for sample positions with x[0] > 2, else N(0, I)'s. */
static int nan_far_score(const double *x, const double *t, size_t n, size_t d, double *out,
                         void *user)
{
    (void)t;
    (void)user;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            out[i * d + j] = x[i * d] > 2.0 ? NAN : -x[i * d + j];
    return 0;
}

/* Sample i is bit-identical whatever the batch, split, BLOCK and THREADS
 * (with churn too); restarts change the result; a non-finite evaluation
 * is SCORESDE_ENUMERIC naming the sample. */
START_TEST(test_restart_reproducible)
{
    enum { n = 12, D = 2 };
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = test_mixture(sde);
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, S(RESTART)));
    OK(scoresde_sampler_set_int(s, S(STEPS), 12));
    OK(scoresde_sampler_set_int(s, S(RESTART_K), 3));
    if (_i == 1)
        OK(scoresde_sampler_set_double(s, S(S_CHURN), 10.0));
    double a[n * D], b[n * D], c[n * D];
    OK(scoresde_sampler_sample(s, m, NULL, n, D, 9, 0, a, NULL));
    OK(scoresde_sampler_set_int(s, S(BLOCK), 5));
    OK(scoresde_sampler_set_int(s, S(THREADS), 2));
    OK(scoresde_sampler_sample(s, m, NULL, 7, D, 9, 0, b, NULL));
    OK(scoresde_sampler_sample(s, m, NULL, n - 7, D, 9, 7, b + 7 * D, NULL));
    ck_assert_msg(memcmp(a, b, sizeof a) == 0, "results depend on the split");
    OK(scoresde_sampler_set_int(s, S(RESTART_K), 0));
    OK(scoresde_sampler_sample(s, m, NULL, n, D, 9, 0, c, NULL));
    ck_assert(memcmp(a, c, sizeof a) != 0);
    OK(scoresde_sampler_set_int(s, S(RESTART_K), 3));
    scoresde_model *bad = NULL;
    OK(scoresde_model_create_score_fn(&bad, sde, D, nan_far_score, NULL, NULL));
    double xT[n * D];
    for (int i = 0; i < n * D; i++)
        xT[i] = i == 6 * D ? 3.0 : 0.1;
    ck_assert_int_eq(scoresde_sampler_sample(s, bad, xT, n, D, 9, 0, a, NULL), SCORESDE_ENUMERIC);
    ck_assert_msg(test_contains(scoresde_last_error(), "non-finite"), "%s", scoresde_last_error());
    scoresde_model_free(bad);
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

static int zero_drift(const double *x, const double *t, size_t n, size_t d, double *out,
                      void *user)
{
    (void)x;
    (void)t;
    (void)user;
    memset(out, 0, n * d * sizeof *out);
    return 0;
}

static int unit_diffusion(const double *t, size_t n, double *g, void *user)
{
    (void)t;
    (void)user;
    for (size_t i = 0; i < n; i++)
        g[i] = 1.0;
    return 0;
}

static int unit_score(const double *x, const double *t, size_t n, size_t d, double *out,
                      void *user)
{
    (void)t;
    (void)user;
    for (size_t i = 0; i < n * d; i++)
        out[i] = -x[i];
    return 0;
}

/* Bad settings: out of bounds at the setter; RESTART_TMIN >= RESTART_TMAX,
 * RESTART_TMAX above the run's top level, a grid point nearest RESTART_TMIN
 * that is not below RESTART_TMAX, N + K M above MAX_STEPS, restart levels
 * that cannot decrease, and an SDE without a marginal, at sampling. */
START_TEST(test_restart_refusals)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = test_mixture(sde);
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, S(RESTART)));
    double x[8];
    test_expect_error(scoresde_sampler_set_int(s, S(RESTART_K), -1), SCORESDE_EINVAL, "RESTART_K");
    test_expect_error(scoresde_sampler_set_int(s, S(RESTART_K), 1000001), SCORESDE_EINVAL,
                      "RESTART_K");
    test_expect_error(scoresde_sampler_set_int(s, S(RESTART_STEPS), 0), SCORESDE_EINVAL,
                      "RESTART_STEPS");
    test_expect_error(scoresde_sampler_set_double(s, S(RESTART_TMAX), 0.0), SCORESDE_EINVAL,
                      "RESTART_TMAX");
    test_expect_error(scoresde_sampler_set_double(s, S(RESTART_TMIN), -1.0), SCORESDE_EINVAL,
                      "RESTART_TMIN");
    test_expect_error(scoresde_sampler_set_double(s, S(RESTART_TMIN), NAN), SCORESDE_EINVAL,
                      "RESTART_TMIN");
    OK(scoresde_sampler_set_double(s, S(RESTART_TMIN), 0.3));
    test_expect_error(scoresde_sampler_sample(s, m, NULL, 4, 2, 1, 0, x, NULL), SCORESDE_EINVAL,
                      "RESTART_TMIN (0.3) below RESTART_TMAX (0.3)");
    OK(scoresde_sampler_set_double(s, S(RESTART_TMIN), 0.06));
    OK(scoresde_sampler_set_double(s, S(RESTART_TMAX), 1e6));
    test_expect_error(scoresde_sampler_sample(s, m, NULL, 4, 2, 1, 0, x, NULL), SCORESDE_EINVAL,
                      "RESTART_TMAX (1e+06) is above sigma/alpha");
    /* 3 Karras steps: the point nearest RESTART_TMIN = 15 is r_1 > 20, above RESTART_TMAX */
    OK(scoresde_sampler_set_double(s, S(RESTART_TMAX), 16.0));
    OK(scoresde_sampler_set_double(s, S(RESTART_TMIN), 15.0));
    OK(scoresde_sampler_set_int(s, S(STEPS), 3));
    double t[4], al[4], sg[4];
    OK(scoresde_sampler_times(s, sde, t, 4));
    OK(scoresde_sde_marginal(sde, t, 4, al, sg, NULL, NULL));
    ck_assert(sg[1] / al[1] > 20.0 && sg[2] / al[2] < 9.0);
    test_expect_error(scoresde_sampler_sample(s, m, NULL, 4, 2, 1, 0, x, NULL), SCORESDE_EINVAL,
                      "is not below RESTART_TMAX");
    OK(scoresde_sampler_set_double(s, S(RESTART_TMIN), 0.06));
    OK(scoresde_sampler_set_int(s, S(STEPS), 17));
    OK(scoresde_sampler_set_double(s, S(RESTART_TMAX), 0.3));
    OK(scoresde_sampler_set_int(s, S(RESTART_K), 1000));
    OK(scoresde_sampler_set_int(s, S(RESTART_STEPS), 100));
    OK(scoresde_sampler_set_int(s, S(MAX_STEPS), 100016));
    test_expect_error(scoresde_sampler_sample(s, m, NULL, 4, 2, 1, 0, x, NULL), SCORESDE_EINVAL,
                      "100017 steps (STEPS 17 + RESTART_K 1000 x RESTART_STEPS 100), more than "
                      "MAX_STEPS (100016)");
    /* an interval a few ulps wide cannot hold 1000 decreasing levels */
    OK(scoresde_sampler_set_int(s, S(RESTART_K), 1));
    OK(scoresde_sampler_set_int(s, S(RESTART_STEPS), 1000));
    OK(scoresde_sampler_set_int(s, S(STEPS), 3));
    OK(scoresde_sampler_set_double(s, S(RESTART_TMIN), 0.0));
    OK(scoresde_sampler_times(s, sde, t, 4));
    OK(scoresde_sde_marginal(sde, t, 4, al, sg, NULL, NULL));
    OK(scoresde_sampler_set_double(s, S(RESTART_TMAX), sg[3] / al[3] * (1 + 1e-13)));
    test_expect_error(scoresde_sampler_sample(s, m, NULL, 4, 2, 1, 0, x, NULL), SCORESDE_EINVAL,
                      "too many RESTART_STEPS");
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    /* no Gaussian marginal */
    OK(scoresde_sde_create_custom(&sde, 1.0, zero_drift, unit_diffusion, NULL, NULL));
    OK(scoresde_model_create_score_fn(&m, sde, 2, unit_score, NULL, NULL));
    OK(scoresde_sampler_create(&s, S(RESTART)));
    OK(scoresde_sampler_set_int(s, S(GRID), S(GRID_UNIFORM_T)));
    double x0[8] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8};
    test_expect_error(scoresde_sampler_sample(s, m, x0, 4, 2, 1, 0, x, NULL),
                      SCORESDE_EUNSUPPORTED, "the Restart sampler needs");
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

static Suite *restart_suite(void)
{
    Suite *s = suite_create("sampler_restart");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_restart_k0_is_edm);
    tcase_add_test(tc, test_restart_defaults);
    tcase_add_test(tc, test_restart_jump_marginal);
    tcase_add_loop_test(tc, test_restart_mixture, 0, 8);
    tcase_add_loop_test(tc, test_restart_reproducible, 0, 2);
    tcase_add_test(tc, test_restart_refusals);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(restart_suite());
}
