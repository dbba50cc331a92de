/*
 * Score models: the exact Gaussian mixture against finite differences of its
 * own log-density and against quadrature, exact sampling against moments and
 * the mixture CDF, hook models against the mixture, divergences and
 * Hutchinson estimates, thread safety, and the errors of bad input.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "io.h"
#include "model_internal.h"
#include "testutil.h"

/* Expect a code and a message fragment. */
#define EXPECT(call, code, fragment)                                                          \
    do {                                                                                      \
        ck_assert_int_eq((call), (code));                                                     \
        ck_assert_msg(strstr(scoresde_last_error(), (fragment)) != NULL,                      \
                      "message \"%s\" lacks \"%s\"", scoresde_last_error(), (fragment));      \
    } while (0)

/* A 2-D mixture of three unequal, anisotropic components. */
enum { K3 = 3, D2 = 2 };
static const double W3[K3] = {0.5, 0.3, 0.2};
static const double MU3[K3 * D2] = {-1.0, 0.5, 1.5, -0.5, 0.2, 2.0};
static const double V3[K3 * D2] = {0.3, 0.1, 0.05, 0.4, 0.2, 0.2};

static const int ALL_KINDS[] = {SCORESDE_SDE_VE,     SCORESDE_SDE_VP,  SCORESDE_SDE_SUBVP,
                                SCORESDE_SDE_COSINE, SCORESDE_SDE_EDM, SCORESDE_SDE_OU};
enum { N_KINDS = sizeof ALL_KINDS / sizeof ALL_KINDS[0] };

static scoresde_model *make_gmm(int kind)
{
    scoresde_sde *sde = test_make_sde(kind);
    scoresde_model *m = NULL;
    ck_assert_int_eq(scoresde_model_create_gmm(&m, sde, K3, D2, W3, MU3, V3), SCORESDE_OK);
    /* The model keeps its own copy: the caller's SDE may go at once. */
    scoresde_sde_free(sde);
    return m;
}

static void marginal(const scoresde_model *m, double t, double *alpha, double *sigma)
{
    ck_assert_int_eq(scoresde_sde_marginal(scoresde_model_sde(m), &t, 1, alpha, sigma, NULL, NULL),
                     SCORESDE_OK);
}

/* The smallest standard deviation of any component of p_t, its length scale. */
static double min_scale(const scoresde_model *m, double t, const double *var, size_t count)
{
    double alpha, sigma, c = INFINITY;
    marginal(m, t, &alpha, &sigma);
    for (size_t q = 0; q < count; q++)
        c = fmin(c, alpha * alpha * var[q] + sigma * sigma);
    return sqrt(c);
}

/* Test times for an SDE: 0, 1e-5 (every eps used), then up to T. */
static void test_times(const scoresde_model *m, double times[6])
{
    double T = scoresde_sde_end_time(scoresde_model_sde(m));
    times[0] = 0.0;
    times[1] = 1e-5;
    times[2] = 1e-3 * T;
    times[3] = 0.1 * T;
    times[4] = 0.5 * T;
    times[5] = T;
}

/* ------------------------------------------------------------ exact mixture */

START_TEST(gmm_score_is_gradient_of_log_density)
{
    /* Every SDE kind, t from 0 to T, at exact samples of p_t and at a point far
     * out in the tail (where a naive sum of densities underflows to 0). */
    for (int kk = 0; kk < N_KINDS; kk++) {
        scoresde_model *m = make_gmm(ALL_KINDS[kk]);
        double times[6];
        test_times(m, times);
        for (int it = 0; it < 6; it++) {
            enum { NP = 7 };
            double t[NP], x[NP * D2], s[NP * D2];
            for (int i = 0; i < NP; i++)
                t[i] = times[it];
            ck_assert_int_eq(scoresde_model_sample(m, t, NP - 1, D2, 11, 100 * kk + it, x),
                             SCORESDE_OK);
            double alpha, sigma;
            marginal(m, times[it], &alpha, &sigma);
            double spread = sqrt(alpha * alpha * 0.4 + sigma * sigma);
            x[(NP - 1) * D2] = 30.0 * spread;
            x[(NP - 1) * D2 + 1] = -25.0 * spread;
            ck_assert_int_eq(scoresde_model_score(m, x, t, NP, D2, s), SCORESDE_OK);
            double scale = min_scale(m, times[it], V3, K3 * D2);
            /* Central differences: truncation ~ (h/scale)^2, rounding ~
             * 1e-16 |ln p| / h; h = 1e-4 scale keeps both far below 1e-6. */
            double h = 1e-4 * scale;
            for (int i = 0; i < NP; i++)
                for (int j = 0; j < D2; j++) {
                    double xp[D2], xm[D2], lp, lm;
                    memcpy(xp, x + i * D2, sizeof xp);
                    memcpy(xm, x + i * D2, sizeof xm);
                    xp[j] += h;
                    xm[j] -= h;
                    ck_assert_int_eq(scoresde_model_log_density(m, xp, t, 1, D2, &lp),
                                     SCORESDE_OK);
                    ck_assert_int_eq(scoresde_model_log_density(m, xm, t, 1, D2, &lm),
                                     SCORESDE_OK);
                    ck_assert(isfinite(lp) && isfinite(lm));
                    double fd = (lp - lm) / (2.0 * h), exact = s[i * D2 + j];
                    ck_assert_msg(fabs(fd - exact) <= 1e-6 * (fabs(exact) + 1.0 / scale),
                                  "kind %d t %g sample %d coord %d: score %.12g, fd %.12g",
                                  ALL_KINDS[kk], times[it], i, j, exact, fd);
                }
        }
        scoresde_model_free(m);
    }
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* Trapezoid rule on [-L, L]^D with a step of a quarter of the narrowest
 * component's standard deviation: for Gaussians the error falls like
 * exp(-2 pi^2 16), far below the tolerance. */
static double integrate_density(const scoresde_model *m, double t, size_t D, const double *mu,
                                const double *var, size_t K)
{
    double alpha, sigma, cmax = 0.0, mumax = 0.0;
    marginal(m, t, &alpha, &sigma);
    for (size_t q = 0; q < K * D; q++) {
        cmax = fmax(cmax, alpha * alpha * var[q] + sigma * sigma);
        mumax = fmax(mumax, fabs(alpha * mu[q]));
    }
    double h = 0.25 * min_scale(m, t, var, K * D);
    double L = mumax + 12.0 * sqrt(cmax);
    size_t npts = (size_t)ceil(2.0 * L / h) + 1;
    h = 2.0 * L / (double)(npts - 1);
    double *x = malloc(npts * D * sizeof *x), *tt = malloc(npts * sizeof *tt);
    double *lp = malloc(npts * sizeof *lp);
    for (size_t i = 0; i < npts; i++)
        tt[i] = t;
    double total = 0.0;
    size_t rows = D == 1 ? 1 : npts;
    for (size_t r = 0; r < rows; r++) {
        for (size_t i = 0; i < npts; i++) {
            x[i * D] = -L + (double)i * h;
            if (D == 2)
                x[i * D + 1] = -L + (double)r * h;
        }
        ck_assert_int_eq(scoresde_model_log_density(m, x, tt, npts, D, lp), SCORESDE_OK);
        double row = 0.0;
        for (size_t i = 0; i < npts; i++)
            row += exp(lp[i]) * ((i == 0 || i == npts - 1) ? 0.5 : 1.0);
        double wr = (D == 2 && (r == 0 || r == npts - 1)) ? 0.5 : 1.0;
        total += wr * row * h * (D == 2 ? h : 1.0);
    }
    free(x);
    free(tt);
    free(lp);
    return total;
}

START_TEST(gmm_density_integrates_to_one)
{
    static const double w1[3] = {0.5, 0.3, 0.2}, mu1[3] = {-1.0, 1.5, 0.2},
                        v1[3] = {0.3, 0.05, 0.2};
    for (int kk = 0; kk < N_KINDS; kk++) {
        scoresde_sde *sde = test_make_sde(ALL_KINDS[kk]);
        scoresde_model *m1 = NULL, *m2 = NULL;
        ck_assert_int_eq(scoresde_model_create_gmm(&m1, sde, 3, 1, w1, mu1, v1), SCORESDE_OK);
        ck_assert_int_eq(scoresde_model_create_gmm(&m2, sde, K3, D2, W3, MU3, V3), SCORESDE_OK);
        double times[6];
        test_times(m1, times);
        for (int it = 0; it < 6; it++) {
            double z1 = integrate_density(m1, times[it], 1, mu1, v1, 3);
            ck_assert_msg(fabs(z1 - 1.0) < 1e-10, "1-D kind %d t %g: %.15g", ALL_KINDS[kk],
                          times[it], z1);
        }
        /* 2-D at three times (the grid costs ~ 10^5 points each). */
        for (int it = 0; it < 6; it += 2) {
            double z2 = integrate_density(m2, times[it], 2, MU3, V3, K3);
            ck_assert_msg(fabs(z2 - 1.0) < 1e-10, "2-D kind %d t %g: %.15g", ALL_KINDS[kk],
                          times[it], z2);
        }
        scoresde_model_free(m1);
        scoresde_model_free(m2);
        scoresde_sde_free(sde);
    }
}
END_TEST

START_TEST(gmm_samples_match_mean_and_covariance)
{
    enum { N = 40000 };
    scoresde_model *m = make_gmm(SCORESDE_SDE_VP);
    double *x = malloc(N * D2 * sizeof *x), *t = malloc(N * sizeof *t);
    const double times[] = {0.0, 0.3, 1.0};
    for (int it = 0; it < 3; it++) {
        for (int i = 0; i < N; i++)
            t[i] = times[it];
        ck_assert_int_eq(scoresde_model_sample(m, t, N, D2, 2026, 0, x), SCORESDE_OK);
        double alpha, sigma;
        marginal(m, times[it], &alpha, &sigma);
        /* Exact moments of p_t: mean = alpha sum w mu; second moment
         * sum w (diag(alpha^2 v + sigma^2) + alpha^2 mu mu^T). */
        double mean[D2] = {0, 0}, cov[D2][D2] = {{0, 0}, {0, 0}};
        for (int k = 0; k < K3; k++)
            for (int a = 0; a < D2; a++) {
                mean[a] += W3[k] * alpha * MU3[k * D2 + a];
                for (int b = 0; b < D2; b++)
                    cov[a][b] += W3[k] * (alpha * alpha * MU3[k * D2 + a] * MU3[k * D2 + b] +
                                          (a == b ? alpha * alpha * V3[k * D2 + a] +
                                                        sigma * sigma
                                                  : 0.0));
            }
        for (int a = 0; a < D2; a++)
            for (int b = 0; b < D2; b++)
                cov[a][b] -= mean[a] * mean[b];
        for (int a = 0; a < D2; a++) {
            double m_hat, var_hat;
            test_moments(x, N, D2, (size_t)a, &m_hat, &var_hat);
            /* z-bound 5 on the standard error sqrt(var / N). */
            ck_assert_double_le(fabs(m_hat - mean[a]), 5.0 * sqrt(cov[a][a] / N));
            for (int b = 0; b < D2; b++) {
                /* Centred at the exact mean, the product y = (x_a - m_a)(x_b - m_b)
                 * has mean cov_ab; its standard error is sd(y) / sqrt(N). */
                double sy = 0.0, syy = 0.0;
                for (int i = 0; i < N; i++) {
                    double y = (x[i * D2 + a] - mean[a]) * (x[i * D2 + b] - mean[b]);
                    sy += y;
                    syy += y * y;
                }
                double ybar = sy / N, sd = sqrt((syy / N - ybar * ybar) * N / (N - 1.0));
                ck_assert_msg(fabs(ybar - cov[a][b]) <= 5.0 * sd / sqrt((double)N),
                              "t %g cov[%d][%d] %.6g vs %.6g (se %.3g)", times[it], a, b, ybar,
                              cov[a][b], sd / sqrt((double)N));
            }
        }
    }
    free(x);
    free(t);
    scoresde_model_free(m);
}
END_TEST

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

START_TEST(gmm_samples_follow_the_mixture_cdf)
{
    /* 1-D, well separated components: checks the component choice (weights)
     * and the per-component noise together. */
    enum { N = 20000 };
    static const double w[3] = {0.2, 0.5, 0.3}, mu[3] = {-4.0, 0.0, 5.0}, v[3] = {0.5, 1.0, 0.25};
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VE);
    scoresde_model *m = NULL;
    ck_assert_int_eq(scoresde_model_create_gmm(&m, sde, 3, 1, w, mu, v), SCORESDE_OK);
    double *x = malloc(N * sizeof *x), *t = malloc(N * sizeof *t);
    const double times[] = {0.0, 0.5};
    for (int it = 0; it < 2; it++) {
        for (int i = 0; i < N; i++)
            t[i] = times[it];
        ck_assert_int_eq(scoresde_model_sample(m, t, N, 1, 7, 1000, x), SCORESDE_OK);
        double alpha, sigma;
        marginal(m, times[it], &alpha, &sigma);
        qsort(x, N, sizeof *x, compare_doubles);
        double d = 0.0;
        for (int i = 0; i < N; i++) {
            double F = 0.0;
            for (int k = 0; k < 3; k++)
                F += w[k] * test_normal_cdf((x[i] - alpha * mu[k]) /
                                            sqrt(alpha * alpha * v[k] + sigma * sigma));
            d = fmax(d, fmax(fabs(F - (double)i / N), fabs((double)(i + 1) / N - F)));
        }
        /* sqrt(ln(2/p)/2) / sqrt(N) with p = 1e-6 is 2.69 / sqrt(N). */
        ck_assert_msg(d < 2.69 / sqrt((double)N), "t %g: KS %.4g", times[it], d);
    }
    free(x);
    free(t);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

START_TEST(gmm_samples_do_not_depend_on_the_split)
{
    enum { N = 9 };
    scoresde_model *m = make_gmm(SCORESDE_SDE_SUBVP);
    double t[N], whole[N * D2], part[N * D2];
    for (int i = 0; i < N; i++)
        t[i] = 0.1 * i;
    ck_assert_int_eq(scoresde_model_sample(m, t, N, D2, 5, 40, whole), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_sample(m, t, 4, D2, 5, 40, part), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_sample(m, t + 4, N - 4, D2, 5, 44, part + 4 * D2),
                     SCORESDE_OK);
    ck_assert(memcmp(whole, part, sizeof whole) == 0);

    /* The documented draws: u at MODEL offset 0, z_j at MODEL offset 2 + j. */
    const sd_gmm_state *s = m->state;
    for (int i = 0; i < N; i++) {
        double u, z[D2], alpha, sigma;
        scoresde_rng_uniform(5, 40 + i, SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, 0), 1, &u);
        scoresde_rng_normal(5, 40 + i, SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, 2), D2, z);
        marginal(m, t[i], &alpha, &sigma);
        int k = u < s->weight[0] ? 0 : u < s->weight[0] + s->weight[1] ? 1 : 2;
        for (int j = 0; j < D2; j++) {
            double want = alpha * MU3[k * D2 + j] +
                          sqrt(alpha * alpha * V3[k * D2 + j] + sigma * sigma) * z[j];
            ck_assert_double_eq_tol(whole[i * D2 + j], want, 1e-14 * (1.0 + fabs(want)));
        }
    }
    scoresde_model_free(m);
}
END_TEST

START_TEST(gmm_results_do_not_depend_on_the_batch)
{
    /* Coefficients are reused across samples that share a time: each sample's
     * result must still be bit-identical to evaluating it alone. */
    enum { NP = 6 };
    scoresde_model *m = make_gmm(SCORESDE_SDE_COSINE);
    double t[NP] = {0.3, 0.3, 0.7, 0.3, 0.7, 0.7}, x[NP * D2], v[NP * D2];
    double s[NP * D2], jv[NP * D2], div[NP], lp[NP];
    ck_assert_int_eq(scoresde_model_sample(m, t, NP, D2, 21, 0, x), SCORESDE_OK);
    scoresde_rng_normal(21, 1, 0, NP * D2, v);
    ck_assert_int_eq(scoresde_model_score(m, x, t, NP, D2, s), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_jvp(m, x, t, NP, D2, v, NULL, jv), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_divergence(m, x, t, NP, D2, div), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_log_density(m, x, t, NP, D2, lp), SCORESDE_OK);
    for (int i = 0; i < NP; i++) {
        double s1[D2], jv1[D2], div1, lp1;
        ck_assert_int_eq(scoresde_model_score(m, x + i * D2, t + i, 1, D2, s1), SCORESDE_OK);
        ck_assert_int_eq(scoresde_model_jvp(m, x + i * D2, t + i, 1, D2, v + i * D2, NULL, jv1),
                         SCORESDE_OK);
        ck_assert_int_eq(scoresde_model_divergence(m, x + i * D2, t + i, 1, D2, &div1),
                         SCORESDE_OK);
        ck_assert_int_eq(scoresde_model_log_density(m, x + i * D2, t + i, 1, D2, &lp1),
                         SCORESDE_OK);
        ck_assert(memcmp(s1, s + i * D2, sizeof s1) == 0);
        ck_assert(memcmp(jv1, jv + i * D2, sizeof jv1) == 0);
        ck_assert(div1 == div[i] && lp1 == lp[i]);
    }
    scoresde_model_free(m);
}
END_TEST

START_TEST(standard_normal_stays_standard_under_vp)
{
    /* alpha^2 + sigma^2 = 1 for VP and cosine: N(0, I) data keep the law
     * N(0, I) at every t, whose score is -x and whose ln p is the prior's. */
    static const int kinds[] = {SCORESDE_SDE_VP, SCORESDE_SDE_COSINE};
    static const double w = 1.0, mu[3] = {0, 0, 0}, v[3] = {1, 1, 1};
    for (int kk = 0; kk < 2; kk++) {
        scoresde_sde *sde = test_make_sde(kinds[kk]);
        scoresde_model *m = NULL;
        ck_assert_int_eq(scoresde_model_create_gmm(&m, sde, 1, 3, &w, mu, v), SCORESDE_OK);
        double T = scoresde_sde_end_time(sde);
        double t[3] = {0.0, 0.4 * T, T}, x[9] = {0.5, -1, 2, 3, 0.1, -0.2, -4, 4, 0};
        double s[9], lp[3], prior[3];
        ck_assert_int_eq(scoresde_model_score(m, x, t, 3, 3, s), SCORESDE_OK);
        ck_assert_int_eq(scoresde_model_log_density(m, x, t, 3, 3, lp), SCORESDE_OK);
        /* The closed form; under VP it is also the SDE's prior (cosine's prior
         * uses sigma(T)^2 < 1, treating alpha(T) x_0 as negligible). */
        for (int i = 0; i < 3; i++)
            prior[i] = -1.5 * log(2.0 * M_PI) -
                       0.5 * (x[3 * i] * x[3 * i] + x[3 * i + 1] * x[3 * i + 1] +
                              x[3 * i + 2] * x[3 * i + 2]);
        if (kinds[kk] == SCORESDE_SDE_VP) {
            double p2[3];
            ck_assert_int_eq(scoresde_sde_prior_logp(sde, x, 3, 3, p2), SCORESDE_OK);
            for (int i = 0; i < 3; i++)
                ck_assert_double_eq_tol(p2[i], prior[i], 1e-13 * (1.0 + fabs(prior[i])));
        }
        for (int q = 0; q < 9; q++)
            ck_assert_double_eq_tol(s[q], -x[q], 1e-14 * (1.0 + fabs(x[q])));
        for (int i = 0; i < 3; i++)
            ck_assert_double_eq_tol(lp[i], prior[i], 1e-13 * (1.0 + fabs(prior[i])));
        scoresde_model_free(m);
        scoresde_sde_free(sde);
    }
}
END_TEST

START_TEST(gmm_predictions_are_consistent)
{
    /* A single Gaussian (K = 1): the data prediction is the posterior mean
     * mu + alpha v / c (x - alpha mu), and x = alpha x0_hat + sigma eps_hat. */
    static const double w = 1.0, mu[3] = {0.5, -1.0, 2.0}, v[3] = {0.2, 1.0, 3.0};
    for (int kk = 0; kk < N_KINDS; kk++) {
        scoresde_sde *sde = test_make_sde(ALL_KINDS[kk]);
        scoresde_model *m = NULL;
        ck_assert_int_eq(scoresde_model_create_gmm(&m, sde, 1, 3, &w, mu, v), SCORESDE_OK);
        double T = scoresde_sde_end_time(sde);
        double t[2] = {0.01 * T, 0.7 * T}, x[6] = {0.1, 0.2, -0.3, 1.5, -2.0, 0.7};
        double x0[6], eps[6];
        ck_assert_int_eq(scoresde_model_predict_data(m, x, t, 2, 3, x0), SCORESDE_OK);
        ck_assert_int_eq(scoresde_model_predict_noise(m, x, t, 2, 3, eps), SCORESDE_OK);
        for (int i = 0; i < 2; i++) {
            double alpha, sigma;
            marginal(m, t[i], &alpha, &sigma);
            for (int j = 0; j < 3; j++) {
                double c = alpha * alpha * v[j] + sigma * sigma;
                double post = mu[j] + alpha * v[j] / c * (x[i * 3 + j] - alpha * mu[j]);
                ck_assert_double_eq_tol(x0[i * 3 + j], post, 1e-12 * (1.0 + fabs(post)));
                double back = alpha * x0[i * 3 + j] + sigma * eps[i * 3 + j];
                ck_assert_double_eq_tol(back, x[i * 3 + j], 1e-12 * (1.0 + fabs(x[i * 3 + j])));
            }
        }
        scoresde_model_free(m);
        scoresde_sde_free(sde);
    }
}
END_TEST

/* ---------------------------------------------------------- divergence */

/* Central-difference Jacobian of the score at one point: J[a*D + b] = ds_a/dx_b. */
static void fd_jacobian(const scoresde_model *m, const double *x, double t, size_t D, double h,
                        double *J)
{
    double *xp = malloc(D * sizeof *xp), *sp = malloc(D * sizeof *sp), *sm = malloc(D * sizeof *sm);
    for (size_t b = 0; b < D; b++) {
        memcpy(xp, x, D * sizeof *xp);
        xp[b] = x[b] + h;
        ck_assert_int_eq(scoresde_model_score(m, xp, &t, 1, D, sp), SCORESDE_OK);
        xp[b] = x[b] - h;
        ck_assert_int_eq(scoresde_model_score(m, xp, &t, 1, D, sm), SCORESDE_OK);
        for (size_t a = 0; a < D; a++)
            J[a * D + b] = (sp[a] - sm[a]) / (2.0 * h);
    }
    free(xp);
    free(sp);
    free(sm);
}

START_TEST(gmm_divergence_and_jvp_match_finite_differences)
{
    for (int kk = 0; kk < N_KINDS; kk++) {
        scoresde_model *m = make_gmm(ALL_KINDS[kk]);
        double times[6];
        test_times(m, times);
        for (int it = 0; it < 6; it++) {
            enum { NP = 5 };
            double t[NP], x[NP * D2], div[NP], v[NP * D2], jv[NP * D2], s[NP * D2], s2[NP * D2];
            for (int i = 0; i < NP; i++)
                t[i] = times[it];
            ck_assert_int_eq(scoresde_model_sample(m, t, NP, D2, 3, 10 * it, x), SCORESDE_OK);
            scoresde_rng_normal(4, it, 0, NP * D2, v);
            ck_assert_int_eq(scoresde_model_divergence(m, x, t, NP, D2, div), SCORESDE_OK);
            ck_assert_int_eq(scoresde_model_jvp(m, x, t, NP, D2, v, s, jv), SCORESDE_OK);
            ck_assert_int_eq(scoresde_model_score(m, x, t, NP, D2, s2), SCORESDE_OK);
            ck_assert(memcmp(s, s2, sizeof s) == 0);
            double scale = min_scale(m, times[it], V3, K3 * D2);
            for (int i = 0; i < NP; i++) {
                double J[D2 * D2];
                fd_jacobian(m, x + i * D2, t[i], D2, 1e-4 * scale, J);
                double tol = 1e-6 / (scale * scale);
                ck_assert_msg(fabs(div[i] - (J[0] + J[3])) <= tol,
                              "kind %d t %g: div %.12g, fd trace %.12g", ALL_KINDS[kk],
                              times[it], div[i], J[0] + J[3]);
                for (int a = 0; a < D2; a++) {
                    double fd = J[a * D2] * v[i * D2] + J[a * D2 + 1] * v[i * D2 + 1];
                    ck_assert_double_le(fabs(jv[i * D2 + a] - fd),
                                        tol * (fabs(v[i * D2]) + fabs(v[i * D2 + 1])));
                }
            }
        }
        scoresde_model_free(m);
    }
}
END_TEST

START_TEST(hutchinson_converges_to_the_divergence)
{
    /* M Rademacher probes at one point: per-probe values by replicating the
     * point, then the estimate must lie within 5 standard errors of the exact
     * divergence, and a single call with M probes must give their mean. */
    enum { M = 4000, DD = 4 };
    static const double w[2] = {0.6, 0.4};
    static const double mu[2 * DD] = {1, -1, 0.5, 0, -1, 1, 0, 2};
    static const double v[2 * DD] = {0.3, 0.6, 1.0, 0.2, 0.5, 0.1, 0.4, 0.8};
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = NULL;
    ck_assert_int_eq(scoresde_model_create_gmm(&m, sde, 2, DD, w, mu, v), SCORESDE_OK);
    double x[DD] = {0.2, 0.1, -0.4, 0.9}, t0 = 0.2, exact;
    ck_assert_int_eq(scoresde_model_divergence(m, x, &t0, 1, DD, &exact), SCORESDE_OK);
    double *probes = malloc(M * DD * sizeof *probes), *xr = malloc(M * DD * sizeof *xr);
    double *tr = malloc(M * sizeof *tr), *per = malloc(M * sizeof *per);
    scoresde_rng_uniform(99, 0, 0, M * DD, probes);
    for (int q = 0; q < M * DD; q++)
        probes[q] = probes[q] < 0.5 ? -1.0 : 1.0;
    for (int i = 0; i < M; i++) {
        memcpy(xr + i * DD, x, sizeof x);
        tr[i] = t0;
    }
    ck_assert_int_eq(scoresde_model_hutchinson(m, xr, tr, M, DD, probes, 1, per), SCORESDE_OK);
    double sum = 0.0, sumsq = 0.0;
    for (int i = 0; i < M; i++) {
        sum += per[i];
        sumsq += per[i] * per[i];
    }
    double mean = sum / M, se = sqrt((sumsq / M - mean * mean) / (M - 1.0));
    ck_assert_double_gt(se, 0.0);
    ck_assert_msg(fabs(mean - exact) <= 5.0 * se, "mean %.6g exact %.6g se %.3g", mean, exact,
                  se);
    double one;
    ck_assert_int_eq(scoresde_model_hutchinson(m, x, &t0, 1, DD, probes, M, &one), SCORESDE_OK);
    ck_assert_double_eq_tol(one, mean, 1e-12 * (1.0 + fabs(mean)));
    /* Each probe value is exactly v^T J v: for Rademacher probes the diagonal
     * part is the divergence, so values differ from it only through the
     * off-diagonal of a symmetric J; check one against the FD Jacobian. */
    double J[DD * DD], vjv = 0.0;
    fd_jacobian(m, x, t0, DD, 1e-5, J);
    for (int a = 0; a < DD; a++)
        for (int b = 0; b < DD; b++)
            vjv += probes[a] * J[a * DD + b] * probes[b];
    ck_assert_double_eq_tol(per[0], vjv, 1e-6 * (1.0 + fabs(vjv)));
    free(probes);
    free(xr);
    free(tr);
    free(per);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* A kind with an exact jvp and no divergence (as the MLP will be): the generic
 * layer must build the divergence from D tangent passes. */
START_TEST(divergence_from_exact_jvp_passes)
{
    scoresde_model *g = make_gmm(SCORESDE_SDE_VE);
    static sd_model_ops no_div;
    no_div = sd_model_gmm_ops;
    no_div.divergence = NULL;
    void *state = NULL;
    ck_assert_int_eq(sd_model_gmm_ops.clone_state(g, &state), SCORESDE_OK);
    scoresde_model *m = NULL;
    ck_assert_int_eq(sd_model_create(&m, &no_div, scoresde_model_sde(g), D2, state), SCORESDE_OK);
    double x[3 * D2] = {0.1, 0.2, -1.0, 3.0, 0.7, 0.7}, t[3] = {0.0, 0.4, 1.0};
    double a[3], b[3];
    ck_assert_int_eq(scoresde_model_divergence(g, x, t, 3, D2, a), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_divergence(m, x, t, 3, D2, b), SCORESDE_OK);
    for (int i = 0; i < 3; i++)
        ck_assert_double_eq_tol(a[i], b[i], 1e-12 * (1.0 + fabs(a[i])));
    scoresde_model_free(m);
    scoresde_model_free(g);
}
END_TEST

/* A test-only trainable kind, s(x) = b - x with the D parameters b, to check
 * the generic layer's trainable functions (the MLP kind fills the same slots). */
static int shift_score(const scoresde_model *m, const double *x, const double *t, size_t n,
                       const sd_cond *cond, double *out)
{
    const double *b = m->state;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m->dim; j++)
            out[i * m->dim + j] = b[j] - x[i * m->dim + j];
    return SCORESDE_OK;
}
static size_t shift_num_params(const scoresde_model *m)
{
    return m->dim;
}
static int shift_get(const scoresde_model *m, double *theta)
{
    memcpy(theta, m->state, m->dim * sizeof *theta);
    return SCORESDE_OK;
}
static int shift_set(scoresde_model *m, const double *theta)
{
    memcpy(m->state, theta, m->dim * sizeof *theta);
    return SCORESDE_OK;
}
/* d/db of sum_ij g_ij s_ij = sum_i g_i. */
static int shift_backward(const scoresde_model *m, const double *x, const double *t, size_t n,
                          const sd_cond *cond, const double *g, double *grad)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m->dim; j++)
            grad[j] += g[i * m->dim + j];
    return SCORESDE_OK;
}
/* J = -I does not depend on b: the probe terms add nothing. */
static int shift_probe_backward(const scoresde_model *m, const double *x, const double *t,
                                size_t n, const sd_cond *cond, const double *probes, size_t M,
                                const double *w, double *grad)
{
    return SCORESDE_OK;
}
static int shift_clone(const scoresde_model *src, void **out)
{
    double *b = sd_malloc(src->dim * sizeof *b);
    if (b == NULL)
        return SCORESDE_ENOMEM;
    memcpy(b, src->state, src->dim * sizeof *b);
    *out = b;
    return SCORESDE_OK;
}
static const sd_model_ops shift_ops = {
    .name = "test-shift",
    .kind = 99,
    .score = shift_score,
    .clone_state = shift_clone,
    .free_state = sd_free,
    .num_params = shift_num_params,
    .get_params = shift_get,
    .set_params = shift_set,
    .score_backward = shift_backward,
    .probe_backward = shift_probe_backward,
};

START_TEST(trainable_slots_are_reached_through_checked_calls)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    double *b = sd_calloc(3, sizeof *b);
    scoresde_model *m = NULL;
    ck_assert_int_eq(sd_model_create(&m, &shift_ops, sde, 3, b), SCORESDE_OK);
    size_t count = 0;
    count = scoresde_model_num_params(m);
    ck_assert_uint_gt(count, 0);
    ck_assert_uint_eq(count, 3);
    double theta[3] = {1, 2, 3}, back[3], x[6] = {1, 1, 1, 0, 0, 0}, t[2] = {0.1, 0.2}, s[6];
    EXPECT(scoresde_model_set_params(m, theta, 2), SCORESDE_EDIM,
           "theta has 2 values, the model has 3 parameters");
    theta[1] = NAN;
    EXPECT(scoresde_model_set_params(m, theta, 3), SCORESDE_EINVAL, "theta[1] is not finite");
    theta[1] = 2;
    ck_assert_int_eq(scoresde_model_set_params(m, theta, 3), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_get_params(m, back, 3), SCORESDE_OK);
    ck_assert(memcmp(theta, back, sizeof back) == 0);
    ck_assert_int_eq(scoresde_model_score(m, x, t, 2, 3, s), SCORESDE_OK);
    ck_assert(s[0] == 0.0 && s[5] == 3.0);
    /* The divergence comes from neither a divergence nor a jvp slot. */
    EXPECT(scoresde_model_divergence(m, x, t, 2, 3, s), SCORESDE_EUNSUPPORTED, "test-shift");
    double g[6] = {1, 2, 3, 4, 5, 6}, grad[3] = {10, 10, 10};
    ck_assert_int_eq(scoresde_model_score_backward(m, x, t, 2, 3, g, grad, 3), SCORESDE_OK);
    ck_assert(grad[0] == 15 && grad[1] == 17 && grad[2] == 19); /* added, not overwritten */
    EXPECT(scoresde_model_score_backward(m, x, t, 2, 3, g, grad, 4), SCORESDE_EDIM, "param_grad has 4");
    EXPECT(scoresde_model_score_backward(m, x, t, 2, 2, g, grad, 3), SCORESDE_EDIM, "dimension 2");
    EXPECT(scoresde_model_score_backward(m, x, t, 2, 3, NULL, grad, 3), SCORESDE_EINVAL, "score_grad is NULL");
    double probes[6] = {1, -1, 1, 1, 1, -1}, w[2] = {1, 1};
    ck_assert_int_eq(scoresde_model_probe_backward(m, x, t, 2, 3, probes, 1, w, grad, 3), SCORESDE_OK);
    EXPECT(scoresde_model_probe_backward(m, x, t, 2, 3, probes, 0, w, grad, 3), SCORESDE_EINVAL, "M (the number");
    EXPECT(scoresde_model_probe_backward(m, x, t, 2, 3, probes, 1, NULL, grad, 3), SCORESDE_EINVAL, "weights is NULL");
    scoresde_model *c = NULL;
    ck_assert_int_eq(scoresde_model_clone(&c, m), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_get_params(c, back, 3), SCORESDE_OK);
    ck_assert(memcmp(theta, back, sizeof back) == 0);
    scoresde_model_free(c);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* A test-only conditional kind (C = D, or C = 1 for labels, c_j then meaning
 * c_(j mod C)): s(x | c) = c - (1 + c_0^2) x, and
 * s(x | null) = -x. It has no jvp slot, so Jacobian products go through the
 * generic finite differences, which must pass each sample's condition with
 * both of its shifted points (J = -(1 + c_0^2) I tells which one was used). */
static int cshift_score(const scoresde_model *m, const double *x, const double *t, size_t n,
                        const sd_cond *cond, double *out)
{
    ck_assert_ptr_nonnull(cond);
    size_t D = m->dim;
    for (size_t i = 0; i < n; i++) {
        int null = sd_cond_is_null(cond, i);
        const double *c = null ? NULL : sd_cond_row(cond, i);
        for (size_t j = 0; j < D; j++)
            out[i * D + j] = null ? -x[i * D + j]
                                  : c[j % m->cond_dim] - (1.0 + c[0] * c[0]) * x[i * D + j];
    }
    return SCORESDE_OK;
}
static int cshift_clone(const scoresde_model *src, void **out)
{
    *out = NULL;
    return SCORESDE_OK;
}
static void cshift_free(void *state)
{
}
static const sd_model_ops cshift_ops = {
    .name = "test-cond-shift",
    .kind = 98,
    .score = cshift_score,
    .clone_state = cshift_clone,
    .free_state = cshift_free,
};

static scoresde_model *make_cshift(size_t D, size_t labels, int null_ok)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = NULL;
    ck_assert_int_eq(sd_model_create(&m, &cshift_ops, sde, D, NULL), SCORESDE_OK);
    scoresde_sde_free(sde);
    m->cond_dim = labels ? 1 : D;
    m->cond_labels = labels;
    m->cond_null = null_ok;
    return m;
}

static scoresde_cond cond_of(size_t C, const double *c, size_t rows, const unsigned char *mask)
{
    return (scoresde_cond){sizeof(scoresde_cond), C, c, rows, mask};
}

START_TEST(conditions_are_checked_once_with_named_errors)
{
    scoresde_model *g = make_gmm(SCORESDE_SDE_VP), *m = make_cshift(2, 0, 0);
    double x[4] = {1, 2, 3, 4}, t[2] = {0.1, 0.2}, s[4], c[4] = {1, 2, 3, 4};
    scoresde_cond cd = cond_of(2, c, 2, NULL);
    ck_assert_uint_eq(scoresde_model_cond_dim(m), 2);
    ck_assert_uint_eq(scoresde_model_cond_dim(g), 0);
    ck_assert_uint_eq(scoresde_model_cond_dim(NULL), 0);
    ck_assert_int_eq(scoresde_model_cond_null(m), 0);
    EXPECT(scoresde_model_score_cond(g, x, t, 2, 2, &cd, s), SCORESDE_EINVAL, "is unconditional");
    EXPECT(scoresde_model_score(m, x, t, 2, 2, s), SCORESDE_EINVAL, "does not accept");
    EXPECT(scoresde_model_score_cond(m, x, t, 2, 2, NULL, s), SCORESDE_EINVAL, "null condition");
    cd.C = 3;
    EXPECT(scoresde_model_score_cond(m, x, t, 2, 2, &cd, s), SCORESDE_EDIM, "cond->C is 3");
    cd = cond_of(2, c, 0, NULL);
    EXPECT(scoresde_model_score_cond(m, x, t, 2, 2, &cd, s), SCORESDE_EINVAL, "cond->rows is 0");
    cd = cond_of(2, c, 3, NULL);
    EXPECT(scoresde_model_score_cond(m, x, t, 2, 2, &cd, s), SCORESDE_EINVAL, "cond->rows is 3");
    cd = cond_of(2, NULL, 2, NULL);
    EXPECT(scoresde_model_score_cond(m, x, t, 2, 2, &cd, s), SCORESDE_EINVAL, "cond->c = NULL");
    unsigned char mask[2] = {0, 1};
    cd = cond_of(2, c, 2, mask);
    EXPECT(scoresde_model_score_cond(m, x, t, 2, 2, &cd, s), SCORESDE_EINVAL,
           "cond->null_mask[1]");
    c[3] = INFINITY;
    cd = cond_of(2, c, 2, NULL);
    EXPECT(scoresde_model_score_cond(m, x, t, 2, 2, &cd, s), SCORESDE_EINVAL,
           "sample 1, feature 1");
    cd.struct_size = 8;
    EXPECT(scoresde_model_score_cond(m, x, t, 2, 2, &cd, s), SCORESDE_EINVAL, "struct_size");
    scoresde_model_free(m);

    /* Integer labels: C = 1, integers in [0, K). */
    m = make_cshift(2, 3, 1);
    ck_assert_uint_eq(scoresde_model_cond_classes(m), 3);
    double lab[2] = {2, 1.5};
    cd = cond_of(1, lab, 2, NULL);
    EXPECT(scoresde_model_score_cond(m, x, t, 2, 2, &cd, s), SCORESDE_EINVAL,
           "holds 1.5 for sample 1");
    lab[1] = 3;
    EXPECT(scoresde_model_score_cond(m, x, t, 2, 2, &cd, s), SCORESDE_EINVAL,
           "holds 3 for sample 1");
    lab[1] = -1;
    EXPECT(scoresde_model_score_cond(m, x, t, 2, 2, &cd, s), SCORESDE_EINVAL, "[0, 3)");
    lab[1] = 0;
    ck_assert_int_eq(scoresde_model_score_cond(m, x, t, 2, 2, &cd, s), SCORESDE_OK);
    /* A masked sample's value is not looked at; the null model accepts it. */
    lab[1] = NAN;
    cd = cond_of(1, lab, 2, mask);
    ck_assert_int_eq(scoresde_model_score_cond(m, x, t, 2, 2, &cd, s), SCORESDE_OK);
    ck_assert(s[2] == -3 && s[3] == -4);
    scoresde_model_free(m);
    scoresde_model_free(g);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

START_TEST(conditions_broadcast_mask_and_reach_finite_differences)
{
    enum { n = 3, D = 2 };
    scoresde_model *m = make_cshift(D, 0, 1);
    double x[n * D] = {0.5, -1, 2, 0.25, -0.75, 1}, t[n] = {0.1, 0.5, 0.9};
    double c[n * D] = {0.5, 1, 0.5, 1, 0.5, 1}, row[D] = {0.5, 1};
    double a[n * D], b[n * D];
    scoresde_cond all = cond_of(D, c, n, NULL), one = cond_of(D, row, 1, NULL);
    ck_assert_int_eq(scoresde_model_score_cond(m, x, t, n, D, &all, a), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_score_cond(m, x, t, n, D, &one, b), SCORESDE_OK);
    ck_assert(memcmp(a, b, sizeof a) == 0);
    ck_assert(a[0] == 0.5 - 1.25 * 0.5);
    /* The null condition: the 1.0 call, cond NULL, c NULL, or a mask. */
    unsigned char mask[n] = {0, 1, 0};
    scoresde_cond masked = cond_of(D, row, 1, mask);
    ck_assert_int_eq(scoresde_model_score_cond(m, x, t, n, D, &masked, b), SCORESDE_OK);
    ck_assert(b[0] == a[0] && b[2] == -2 && b[3] == -0.25 && b[4] == a[4]);
    ck_assert_int_eq(scoresde_model_score(m, x, t, n, D, b), SCORESDE_OK);
    ck_assert(b[0] == -0.5 && b[5] == -1);
    /* Finite differences: J = -(1 + c_0^2) I for a conditioned sample, -I
     * for a null one; broadcast, per-row and masked conditions alike. */
    c[2] = 2; /* sample 1: 1 + c_0^2 = 5 */
    double v[n * D] = {1, 0, 0, 1, 1, 1}, jv[n * D];
    const scoresde_cond *conds[3] = {&all, &masked, NULL};
    double want[3][n] = {{1.25, 5, 1.25}, {1.25, 1, 1.25}, {1, 1, 1}};
    masked = cond_of(D, c, n, mask);
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(scoresde_model_jvp_cond(m, x, t, n, D, conds[k], v, a, jv), SCORESDE_OK);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < D; j++)
                ck_assert_double_eq_tol(jv[i * D + j], -want[k][i] * v[i * D + j], 1e-9);
    }
    double probes[n * D] = {1, 1, 1, -1, -1, 1}, est[n];
    ck_assert_int_eq(scoresde_model_hutchinson_cond(m, x, t, n, D, &all, probes, 1, est),
                     SCORESDE_OK);
    ck_assert_double_eq_tol(est[1], -10, 1e-8);
    EXPECT(scoresde_model_divergence_cond(m, x, t, n, D, &all, est), SCORESDE_EUNSUPPORTED,
           "no exact divergence");
    /* sd_cond_rows: the view of rows 1.. scores as those rows of the batch. */
    sd_cond rs;
    const sd_cond *rsp;
    ck_assert_int_eq(sd_cond_resolve(m, &masked, n, &rs, &rsp), SCORESDE_OK);
    sd_cond tail = sd_cond_rows(rsp, 1);
    ck_assert_int_eq(sd_model_score_c(m, x + D, t + 1, n - 1, D, &tail, b), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_score_cond(m, x, t, n, D, &masked, a), SCORESDE_OK);
    ck_assert(memcmp(a + D, b, (n - 1) * D * sizeof *a) == 0);
    scoresde_model *cl = NULL;
    ck_assert_int_eq(scoresde_model_clone(&cl, m), SCORESDE_OK);
    ck_assert_uint_eq(scoresde_model_cond_dim(cl), D);
    ck_assert_int_eq(scoresde_model_cond_null(cl), 1);
    scoresde_model_free(cl);
    scoresde_model_free(m);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* Build a model the way the file layer does: ops, SDE and dimension, no
 * state, then load_state from a reader. */
static int load_gmm(const uint8_t *data, size_t size, size_t dim, scoresde_model **out)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = NULL;
    ck_assert_int_eq(sd_model_create(&m, &sd_model_gmm_ops, sde, dim, NULL), SCORESDE_OK);
    scoresde_sde_free(sde);
    sd_reader r;
    sd_reader_init(&r, data, size);
    int rc = m->ops->load_state(m, &r, 0);
    if (rc != SCORESDE_OK) {
        scoresde_model_free(m);
        return rc;
    }
    ck_assert_uint_eq(sd_reader_remaining(&r), 0);
    *out = m;
    return SCORESDE_OK;
}

/* Store a double's bit pattern little-endian, as the file format does. */
static void put_le_f64(uint8_t *p, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    for (int b = 0; b < 8; b++)
        p[b] = (uint8_t)(u >> (8 * b));
}

START_TEST(gmm_state_saves_and_loads_bit_for_bit)
{
    scoresde_model *m = make_gmm(SCORESDE_SDE_VP), *back = NULL;
    sd_writer w;
    sd_writer_init(&w);
    ck_assert_int_eq(m->ops->save_state(m, &w), SCORESDE_OK);
    uint8_t *data;
    size_t size;
    ck_assert_int_eq(sd_writer_take(&w, &data, &size), SCORESDE_OK);
    ck_assert_uint_eq(size, 16 + 8 * (K3 + 2 * K3 * D2));
    ck_assert_int_eq(load_gmm(data, size, D2, &back), SCORESDE_OK);
    double x[4] = {0.3, -0.2, 5.0, 1.0}, t[2] = {0.0, 0.7}, a[4], b[4];
    ck_assert_int_eq(scoresde_model_score(m, x, t, 2, D2, a), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_score(back, x, t, 2, D2, b), SCORESDE_OK);
    ck_assert(memcmp(a, b, sizeof a) == 0);
    ck_assert_int_eq(scoresde_model_log_density(m, x, t, 2, D2, a), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_log_density(back, x, t, 2, D2, b), SCORESDE_OK);
    ck_assert(memcmp(a, b, 2 * sizeof a[0]) == 0);
    scoresde_model_free(back);

    /* Every truncation is ECORRUPT, and leaves nothing allocated. */
    for (size_t cut = 0; cut < size; cut++) {
        back = NULL;
        ck_assert_int_eq(load_gmm(data, cut, D2, &back), SCORESDE_ECORRUPT);
        ck_assert_ptr_null(back);
    }
    /* A model of another dimension, a huge count, bad values. */
    EXPECT(load_gmm(data, size, 3, &back), SCORESDE_ECORRUPT, "dimension 2, the model 3");
    uint8_t *bad = malloc(size);
    memcpy(bad, data, size);
    bad[7] = 0x40; /* K = 2^62 + 3 */
    EXPECT(load_gmm(bad, size, D2, &back), SCORESDE_ECORRUPT, "mixture components");
    memcpy(bad, data, size);
    memset(bad, 0, 8);
    EXPECT(load_gmm(bad, size, D2, &back), SCORESDE_ECORRUPT, "no components");
    memcpy(bad, data, size);
    put_le_f64(bad + size - 8, -1.0); /* the last variance */
    EXPECT(load_gmm(bad, size, D2, &back), SCORESDE_ECORRUPT, "mixture variance 5 is -1");
    memcpy(bad, data, size);
    put_le_f64(bad + 16, 0.25); /* the first weight */
    EXPECT(load_gmm(bad, size, D2, &back), SCORESDE_ECORRUPT, "weights sum to");
    memcpy(bad, data, size);
    put_le_f64(bad + 16 + 8 * K3, NAN); /* the first mean */
    EXPECT(load_gmm(bad, size, D2, &back), SCORESDE_ECORRUPT, "mixture mean 0 is nan");
    free(bad);
    sd_free(data);
    scoresde_model_free(m);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* -------------------------------------------------------------- hooks */

/* A score hook that forwards to another model (the exact mixture). */
static int forward_score(const double *x, const double *t, size_t n, size_t D, double *out,
                         void *user)
{
    return scoresde_model_score(user, x, t, n, D, out) == SCORESDE_OK ? 0 : 1;
}

static int forward_divergence(const double *x, const double *t, size_t n, size_t D, double *out,
                              void *user)
{
    return scoresde_model_divergence(user, x, t, n, D, out) == SCORESDE_OK ? 0 : 1;
}

START_TEST(score_hook_reproduces_the_mixture)
{
    scoresde_model *g = make_gmm(SCORESDE_SDE_VP);
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *h = NULL, *hd = NULL;
    ck_assert_int_eq(scoresde_model_create_score_fn(&h, sde, D2, forward_score, NULL, g),
                     SCORESDE_OK);
    ck_assert_int_eq(
        scoresde_model_create_score_fn(&hd, sde, D2, forward_score, forward_divergence, g),
        SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_kind(h), SCORESDE_MODEL_SCORE_FN);
    enum { NP = 6 };
    double t[NP] = {0.01, 0.05, 0.2, 0.4, 0.8, 1.0}, x[NP * D2], v[NP * D2];
    ck_assert_int_eq(scoresde_model_sample(g, t, NP, D2, 8, 0, x), SCORESDE_OK);
    scoresde_rng_normal(8, 1, 0, NP * D2, v);
    double s1[NP * D2], s2[NP * D2], j1[NP * D2], j2[NP * D2], d1[NP], d2[NP], e1[NP], e2[NP];
    ck_assert_int_eq(scoresde_model_score(g, x, t, NP, D2, s1), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_score(h, x, t, NP, D2, s2), SCORESDE_OK);
    ck_assert(memcmp(s1, s2, sizeof s1) == 0);
    /* Exact divergence needs the hook; with it, the hook's value is returned. */
    ck_assert_int_eq(scoresde_model_divergence(h, x, t, NP, D2, d2), SCORESDE_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "divergence hook"));
    ck_assert_int_eq(scoresde_model_divergence(g, x, t, NP, D2, d1), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_divergence(hd, x, t, NP, D2, d2), SCORESDE_OK);
    ck_assert(memcmp(d1, d2, sizeof d1) == 0);
    /* Without a Jacobian, products are central differences (documented step
     * h ~ 2^-17): truncation (h / 0.2)^2 ~ 1e-9 for this mixture's length scale
     * 0.2, rounding eps / h ~ 3e-11; measured errors are below 3e-11. */
    ck_assert_int_eq(scoresde_model_jvp(g, x, t, NP, D2, v, NULL, j1), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_jvp(h, x, t, NP, D2, v, s2, j2), SCORESDE_OK);
    ck_assert(memcmp(s1, s2, sizeof s1) == 0);
    for (int q = 0; q < NP * D2; q++)
        ck_assert_double_le(fabs(j1[q] - j2[q]), 1e-8 * (1.0 + fabs(j1[q])));
    ck_assert_int_eq(scoresde_model_hutchinson(g, x, t, NP, D2, v, 1, e1), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_hutchinson(h, x, t, NP, D2, v, 1, e2), SCORESDE_OK);
    for (int i = 0; i < NP; i++)
        ck_assert_double_le(fabs(e1[i] - e2[i]), 1e-8 * (1.0 + fabs(e1[i])));
    /* A zero probe gives a zero product, not 0/0. */
    double zero[NP * D2] = {0};
    ck_assert_int_eq(scoresde_model_jvp(h, x, t, NP, D2, zero, NULL, j2), SCORESDE_OK);
    for (int q = 0; q < NP * D2; q++)
        ck_assert(j2[q] == 0.0);
    ck_assert_int_eq(scoresde_model_log_density(h, x, t, NP, D2, e2), SCORESDE_EUNSUPPORTED);
    ck_assert_int_eq(scoresde_model_sample(h, t, NP, D2, 1, 0, x), SCORESDE_EUNSUPPORTED);
    scoresde_model_free(h);
    scoresde_model_free(hd);
    scoresde_model_free(g);
    scoresde_sde_free(sde);
}
END_TEST

/* The exact posterior mean of a Gaussian N(mu, diag v) under the SDE. */
typedef struct gauss_user {
    const scoresde_sde *sde;
    const double *mu, *v;
} gauss_user;

static int gauss_denoiser(const double *x, const double *t, size_t n, size_t D, double *out,
                          void *user)
{
    const gauss_user *g = user;
    for (size_t i = 0; i < n; i++) {
        double alpha, sigma;
        if (scoresde_sde_marginal(g->sde, t + i, 1, &alpha, &sigma, NULL, NULL) != SCORESDE_OK)
            return 1;
        for (size_t j = 0; j < D; j++) {
            double c = alpha * alpha * g->v[j] + sigma * sigma;
            out[i * D + j] = g->mu[j] + alpha * g->v[j] / c * (x[i * D + j] - alpha * g->mu[j]);
        }
    }
    return 0;
}

static int gauss_denoiser_div(const double *x, const double *t, size_t n, size_t D, double *out,
                              void *user)
{
    const gauss_user *g = user;
    for (size_t i = 0; i < n; i++) {
        double alpha, sigma;
        if (scoresde_sde_marginal(g->sde, t + i, 1, &alpha, &sigma, NULL, NULL) != SCORESDE_OK)
            return 1;
        out[i] = 0.0;
        for (size_t j = 0; j < D; j++)
            out[i] += alpha * g->v[j] / (alpha * alpha * g->v[j] + sigma * sigma);
    }
    return 0;
}

START_TEST(denoiser_of_gaussian_posterior_mean_gives_exact_score)
{
    static const double w = 1.0, mu[3] = {0.5, -1.0, 2.0}, v[3] = {0.2, 1.0, 3.0};
    for (int kk = 0; kk < N_KINDS; kk++) {
        scoresde_sde *sde = test_make_sde(ALL_KINDS[kk]);
        gauss_user u = {sde, mu, v};
        scoresde_model *g = NULL, *dn = NULL;
        ck_assert_int_eq(scoresde_model_create_gmm(&g, sde, 1, 3, &w, mu, v), SCORESDE_OK);
        ck_assert_int_eq(scoresde_model_create_denoiser_fn(&dn, sde, 3, gauss_denoiser,
                                                           gauss_denoiser_div, &u),
                         SCORESDE_OK);
        ck_assert_int_eq(scoresde_model_kind(dn), SCORESDE_MODEL_DENOISER_FN);
        double T = scoresde_sde_end_time(sde);
        enum { NP = 4 };
        double t[NP] = {1e-3 * T, 0.1 * T, 0.5 * T, T}, x[NP * 3];
        ck_assert_int_eq(scoresde_model_sample(g, t, NP, 3, 6, 0, x), SCORESDE_OK);
        double a[NP * 3], b[NP * 3], da[NP], db[NP];
        ck_assert_int_eq(scoresde_model_score(g, x, t, NP, 3, a), SCORESDE_OK);
        ck_assert_int_eq(scoresde_model_score(dn, x, t, NP, 3, b), SCORESDE_OK);
        for (int q = 0; q < NP * 3; q++) {
            double sigma, alpha;
            marginal(g, t[q / 3], &alpha, &sigma);
            /* Tweedie divides by sigma^2: rounding of D (~1e-16 |x|) grows by 1/sigma^2. */
            double tol = 1e-13 * (1.0 + fabs(x[q])) / (sigma * sigma) + 1e-12 * fabs(a[q]);
            ck_assert_msg(fabs(a[q] - b[q]) <= tol, "kind %d q %d: %.15g vs %.15g",
                          ALL_KINDS[kk], q, a[q], b[q]);
        }
        ck_assert_int_eq(scoresde_model_predict_data(g, x, t, NP, 3, a), SCORESDE_OK);
        ck_assert_int_eq(scoresde_model_predict_data(dn, x, t, NP, 3, b), SCORESDE_OK);
        for (int q = 0; q < NP * 3; q++)
            ck_assert_double_eq_tol(a[q], b[q], 1e-12 * (1.0 + fabs(a[q])));
        ck_assert_int_eq(scoresde_model_predict_noise(g, x, t, NP, 3, a), SCORESDE_OK);
        ck_assert_int_eq(scoresde_model_predict_noise(dn, x, t, NP, 3, b), SCORESDE_OK);
        for (int q = 0; q < NP * 3; q++) {
            double sigma, alpha;
            marginal(g, t[q / 3], &alpha, &sigma);
            ck_assert_double_le(fabs(a[q] - b[q]), 1e-13 * (1.0 + fabs(x[q])) / sigma + 1e-12);
        }
        ck_assert_int_eq(scoresde_model_divergence(g, x, t, NP, 3, da), SCORESDE_OK);
        ck_assert_int_eq(scoresde_model_divergence(dn, x, t, NP, 3, db), SCORESDE_OK);
        for (int i = 0; i < NP; i++) {
            double sigma, alpha;
            marginal(g, t[i], &alpha, &sigma);
            /* (alpha div D - D) / sigma^2 cancels: rounding of ~D eps grows by 1/sigma^2. */
            double tol = 3.0 * 1e-15 / (sigma * sigma) + 1e-12 * fabs(da[i]);
            ck_assert_msg(fabs(da[i] - db[i]) <= tol, "kind %d t %g sigma %g: %.15g vs %.15g",
                          ALL_KINDS[kk], t[i], sigma, da[i], db[i]);
        }
        scoresde_model_free(g);
        scoresde_model_free(dn);
        scoresde_sde_free(sde);
    }
}
END_TEST

static int failing_hook(const double *x, const double *t, size_t n, size_t D, double *out,
                        void *user)
{
    (void)x;
    (void)t;
    (void)n;
    (void)D;
    (void)out;
    return *(const int *)user;
}

static int nan_hook(const double *x, const double *t, size_t n, size_t D, double *out,
                    void *user)
{
    for (size_t q = 0; q < n * D; q++)
        out[q] = x[q];
    out[n * D - 1] = NAN;
    return 0;
}

START_TEST(hook_errors_stop_the_call)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    int code = 7;
    scoresde_model *sf = NULL, *df = NULL, *nf = NULL;
    ck_assert_int_eq(scoresde_model_create_score_fn(&sf, sde, 2, failing_hook, failing_hook, &code),
                     SCORESDE_OK);
    ck_assert_int_eq(
        scoresde_model_create_denoiser_fn(&df, sde, 2, failing_hook, failing_hook, &code),
        SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_create_score_fn(&nf, sde, 2, nan_hook, NULL, NULL),
                     SCORESDE_OK);
    double x[4] = {1, 2, 3, 4}, t[2] = {0.5, 0.6}, out[4], v[4] = {1, 0, 0, 1};
    scoresde_model *both[2] = {sf, df};
    for (int b = 0; b < 2; b++) {
        scoresde_model *m = both[b];
        ck_assert_int_eq(scoresde_model_score(m, x, t, 2, 2, out), SCORESDE_ECALLBACK);
        ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "returned 7"));
        ck_assert_int_eq(scoresde_model_predict_data(m, x, t, 2, 2, out), SCORESDE_ECALLBACK);
        ck_assert_int_eq(scoresde_model_predict_noise(m, x, t, 2, 2, out), SCORESDE_ECALLBACK);
        ck_assert_int_eq(scoresde_model_divergence(m, x, t, 2, 2, out), SCORESDE_ECALLBACK);
        ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "divergence callback returned 7"));
        ck_assert_int_eq(scoresde_model_jvp(m, x, t, 2, 2, v, NULL, out), SCORESDE_ECALLBACK);
        ck_assert_int_eq(scoresde_model_hutchinson(m, x, t, 2, 2, v, 1, out), SCORESDE_ECALLBACK);
    }
    ck_assert_int_eq(scoresde_model_score(nf, x, t, 2, 2, out), SCORESDE_ENUMERIC);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "non-finite"));
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "sample 1, coordinate 1"));
    /* A denoiser gives no score where sigma = 0 (VP at t = 0). */
    double t0[2] = {0.5, 0.0};
    ck_assert_int_eq(scoresde_model_score(df, x, t0, 2, 2, out), SCORESDE_EINVAL);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "t[1] = 0 gives sigma(t) = 0"));
    scoresde_model_free(sf);
    scoresde_model_free(df);
    scoresde_model_free(nf);
    scoresde_sde_free(sde);
}
END_TEST

/* ------------------------------------------------------------- threads */

typedef struct thread_job {
    const scoresde_model *m;
    const double *x, *t, *v;
    size_t n;
    double *score, *div, *logp, *jv;
    int rc;
} thread_job;

static void *evaluate(void *arg)
{
    thread_job *j = arg;
    j->rc = scoresde_model_score(j->m, j->x, j->t, j->n, D2, j->score);
    if (j->rc == SCORESDE_OK)
        j->rc = scoresde_model_divergence(j->m, j->x, j->t, j->n, D2, j->div);
    if (j->rc == SCORESDE_OK)
        j->rc = scoresde_model_log_density(j->m, j->x, j->t, j->n, D2, j->logp);
    if (j->rc == SCORESDE_OK)
        j->rc = scoresde_model_jvp(j->m, j->x, j->t, j->n, D2, j->v, NULL, j->jv);
    return NULL;
}

START_TEST(threads_share_one_model)
{
    enum { NT = 4, N = 500 };
    scoresde_model *m = make_gmm(SCORESDE_SDE_VP);
    double *x = malloc(N * D2 * sizeof *x), *t = malloc(N * sizeof *t);
    double *v = malloc(N * D2 * sizeof *v);
    for (int i = 0; i < N; i++)
        t[i] = (i + 1.0) / N;
    ck_assert_int_eq(scoresde_model_sample(m, t, N, D2, 12, 0, x), SCORESDE_OK);
    scoresde_rng_normal(12, 1, 0, N * D2, v);
    thread_job jobs[NT + 1];
    for (int k = 0; k <= NT; k++) {
        jobs[k] = (thread_job){m, x, t, v, N, malloc(N * D2 * sizeof(double)),
                               malloc(N * sizeof(double)), malloc(N * sizeof(double)),
                               malloc(N * D2 * sizeof(double)), -1};
    }
    evaluate(&jobs[NT]); /* the single-threaded reference */
    ck_assert_int_eq(jobs[NT].rc, SCORESDE_OK);
    pthread_t th[NT];
    for (int k = 0; k < NT; k++)
        ck_assert_int_eq(pthread_create(&th[k], NULL, evaluate, &jobs[k]), 0);
    for (int k = 0; k < NT; k++)
        ck_assert_int_eq(pthread_join(th[k], NULL), 0);
    for (int k = 0; k < NT; k++) {
        ck_assert_int_eq(jobs[k].rc, SCORESDE_OK);
        ck_assert(memcmp(jobs[k].score, jobs[NT].score, N * D2 * sizeof(double)) == 0);
        ck_assert(memcmp(jobs[k].div, jobs[NT].div, N * sizeof(double)) == 0);
        ck_assert(memcmp(jobs[k].logp, jobs[NT].logp, N * sizeof(double)) == 0);
        ck_assert(memcmp(jobs[k].jv, jobs[NT].jv, N * D2 * sizeof(double)) == 0);
    }
    for (int k = 0; k <= NT; k++) {
        free(jobs[k].score);
        free(jobs[k].div);
        free(jobs[k].logp);
        free(jobs[k].jv);
    }
    free(x);
    free(t);
    free(v);
    scoresde_model_free(m);
}
END_TEST

/* ------------------------------------------------ objects and bad input */

START_TEST(clone_and_getters)
{
    scoresde_model *m = make_gmm(SCORESDE_SDE_EDM), *c = NULL;
    ck_assert_uint_eq(scoresde_model_dim(m), D2);
    ck_assert_int_eq(scoresde_model_kind(m), SCORESDE_MODEL_GMM);
    ck_assert_int_eq(scoresde_sde_kind(scoresde_model_sde(m)), SCORESDE_SDE_EDM);
    ck_assert_uint_eq(scoresde_model_dim(NULL), 0);
    ck_assert_int_eq(scoresde_model_kind(NULL), 0);
    ck_assert_ptr_null(scoresde_model_sde(NULL));
    ck_assert_int_eq(scoresde_model_clone(&c, m), SCORESDE_OK);
    double x[4] = {0.3, -0.2, 5.0, 1.0}, t[2] = {0.5, 40.0}, a[4], b[4];
    /* The internal marginal helpers agree with each other and with the SDE. */
    double *ab = NULL, al, si;
    ck_assert_int_eq(sd_model_marginals(m, t, 2, &ab), SCORESDE_OK);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(sd_model_marginal(m, t[i], &al, &si), SCORESDE_OK);
        ck_assert(al == ab[i] && si == ab[2 + i]);
        ck_assert(al == 1.0 && si == t[i]); /* EDM: alpha = 1, sigma = t */
    }
    sd_free(ab);
    ck_assert_int_eq(scoresde_model_score(m, x, t, 2, D2, a), SCORESDE_OK);
    scoresde_model_free(m);
    ck_assert_int_eq(scoresde_model_score(c, x, t, 2, D2, b), SCORESDE_OK);
    ck_assert(memcmp(a, b, sizeof a) == 0);
    ck_assert_ptr_ne(scoresde_model_sde(c), NULL);
    scoresde_model_free(c);
    scoresde_model_free(NULL);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST


START_TEST(bad_input_gets_codes_and_messages)
{
    scoresde_model *m = make_gmm(SCORESDE_SDE_VP), *out = NULL;
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    double x[4] = {0, 1, 2, 3}, t[2] = {0.5, 0.5}, s[4], v[4] = {1, 1, 1, 1};
    EXPECT(scoresde_model_score(NULL, x, t, 2, 2, s), SCORESDE_EINVAL, "model is NULL");
    EXPECT(scoresde_model_score(m, NULL, t, 2, 2, s), SCORESDE_EINVAL, "x");
    EXPECT(scoresde_model_score(m, x, NULL, 2, 2, s), SCORESDE_EINVAL, "t is NULL");
    EXPECT(scoresde_model_score(m, x, t, 2, 2, NULL), SCORESDE_EINVAL, "score is NULL");
    EXPECT(scoresde_model_score(m, x, t, 0, 2, s), SCORESDE_EINVAL, "n (the number of samples) is zero");
    EXPECT(scoresde_model_score(m, x, t, 2, 0, s), SCORESDE_EINVAL, "D (the dimension) is zero");
    EXPECT(scoresde_model_score(m, x, t, 1, 3, s), SCORESDE_EDIM,
           "x has dimension 3, the model expects 2");
    double tb[2] = {0.5, NAN};
    EXPECT(scoresde_model_score(m, x, tb, 2, 2, s), SCORESDE_EINVAL, "t[1] is not finite");
    tb[1] = -0.1;
    EXPECT(scoresde_model_score(m, x, tb, 2, 2, s), SCORESDE_EINVAL,
           "t[1] (-0.1) is outside [0, T] = [0, 1]");
    tb[1] = 1.5;
    EXPECT(scoresde_model_divergence(m, x, tb, 2, 2, s), SCORESDE_EINVAL, "t[1] (1.5) is outside");
    tb[1] = INFINITY;
    EXPECT(scoresde_model_log_density(m, x, tb, 2, 2, s), SCORESDE_EINVAL, "t[1] is not finite");
    EXPECT(scoresde_model_sample(m, tb, 2, 2, 1, 0, s), SCORESDE_EINVAL, "t[1] is not finite");
    EXPECT(scoresde_model_sample(m, t, 2, 3, 1, 0, s), SCORESDE_EDIM, "dimension 3");
    EXPECT(scoresde_model_sample(m, t, 2, 2, 1, 0, NULL), SCORESDE_EINVAL, "x");
    EXPECT(scoresde_model_predict_data(m, x, t, 2, 2, NULL), SCORESDE_EINVAL, "x0_hat is NULL");
    EXPECT(scoresde_model_predict_noise(m, x, t, 2, 2, NULL), SCORESDE_EINVAL, "eps_hat is NULL");
    EXPECT(scoresde_model_jvp(m, x, t, 2, 2, NULL, NULL, s), SCORESDE_EINVAL, "v is NULL");
    double vb[4] = {1, 1, NAN, 1};
    EXPECT(scoresde_model_jvp(m, x, t, 2, 2, vb, NULL, s), SCORESDE_EINVAL, "v[2] is not finite");
    EXPECT(scoresde_model_hutchinson(m, x, t, 2, 2, v, 0, s), SCORESDE_EINVAL, "M (the number of probes");
    EXPECT(scoresde_model_hutchinson(m, x, t, 2, 2, NULL, 1, s), SCORESDE_EINVAL, "probes is NULL");
    EXPECT(scoresde_model_hutchinson(m, x, t, 2, 2, vb, 1, s), SCORESDE_EINVAL, "probes[2] is not finite");

    /* Trainable functions on a kind without parameters. */
    double theta[1];
    ck_assert_uint_eq(scoresde_model_num_params(m), 0);
    EXPECT(scoresde_model_get_params(m, theta, 1), SCORESDE_EUNSUPPORTED, "Gaussian-mixture");
    EXPECT(scoresde_model_set_params(m, theta, 1), SCORESDE_EUNSUPPORTED, "no trainable");
    EXPECT(scoresde_model_score_backward(m, x, t, 2, 2, s, theta, 1), SCORESDE_EUNSUPPORTED, "no trainable");
    EXPECT(scoresde_model_probe_backward(m, x, t, 2, 2, v, 1, s, theta, 1), SCORESDE_EUNSUPPORTED, "no trainable");
    ck_assert_uint_eq(scoresde_model_num_params(NULL), 0);
    ck_assert_int_eq(scoresde_model_kind(NULL), 0);

    /* Creation. */
    static const double w2[2] = {1, 1}, mu2[2] = {0, 1}, v2[2] = {1, 1};
    double bad[2] = {1, -1};
    EXPECT(scoresde_model_create_gmm(NULL, sde, 2, 1, w2, mu2, v2), SCORESDE_EINVAL, "out is NULL");
    EXPECT(scoresde_model_create_gmm(&out, NULL, 2, 1, w2, mu2, v2), SCORESDE_EINVAL, "sde is NULL");
    EXPECT(scoresde_model_create_gmm(&out, sde, 0, 1, w2, mu2, v2), SCORESDE_EINVAL, "K (the number of components) is zero");
    EXPECT(scoresde_model_create_gmm(&out, sde, 2, 0, w2, mu2, v2), SCORESDE_EINVAL, "D (the dimension) is zero");
    EXPECT(scoresde_model_create_gmm(&out, sde, 2, 1, NULL, mu2, v2), SCORESDE_EINVAL, "weights is NULL");
    EXPECT(scoresde_model_create_gmm(&out, sde, 2, 1, w2, NULL, v2), SCORESDE_EINVAL, "means");
    EXPECT(scoresde_model_create_gmm(&out, sde, 2, 1, w2, mu2, NULL), SCORESDE_EINVAL, "variances");
    EXPECT(scoresde_model_create_gmm(&out, sde, 2, 1, bad, mu2, v2), SCORESDE_EINVAL,
           "weights[1] (-1) is not a positive finite number");
    bad[1] = 0.0;
    EXPECT(scoresde_model_create_gmm(&out, sde, 2, 1, w2, mu2, bad), SCORESDE_EINVAL,
           "variances[1] (0) (component 1, coordinate 0)");
    bad[1] = NAN;
    EXPECT(scoresde_model_create_gmm(&out, sde, 2, 1, w2, bad, v2), SCORESDE_EINVAL, "means[1] is not finite");
    double huge[2] = {1e308, 1e308};
    EXPECT(scoresde_model_create_gmm(&out, sde, 2, 1, huge, mu2, v2), SCORESDE_EINVAL, "the weights sum to inf");
    ck_assert_ptr_null(out);
    EXPECT(scoresde_model_create_score_fn(&out, sde, 2, NULL, NULL, NULL), SCORESDE_EINVAL, "score (the callback) is NULL");
    EXPECT(scoresde_model_create_score_fn(&out, sde, 0, forward_score, NULL, NULL), SCORESDE_EINVAL, "D (the dimension) is zero");
    EXPECT(scoresde_model_create_score_fn(&out, NULL, 2, forward_score, NULL, NULL), SCORESDE_EINVAL, "sde is NULL");
    EXPECT(scoresde_model_create_denoiser_fn(&out, sde, 2, NULL, NULL, NULL), SCORESDE_EINVAL, "denoiser (the callback) is NULL");
    EXPECT(scoresde_model_create_denoiser_fn(NULL, sde, 2, gauss_denoiser, NULL, NULL), SCORESDE_EINVAL, "out is NULL");
    ck_assert_ptr_null(out);
    EXPECT(scoresde_model_clone(&out, NULL), SCORESDE_EINVAL, "model is NULL");
    EXPECT(scoresde_model_clone(NULL, m), SCORESDE_EINVAL, "out is NULL");
    out = m; /* a failing clone clears *out */
    EXPECT(scoresde_model_clone(&out, NULL), SCORESDE_EINVAL, "model is NULL");
    ck_assert_ptr_null(out);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* A custom SDE without a marginal cannot carry a mixture or a denoiser. */
static int zero_drift(const double *x, const double *t, size_t n, size_t D, double *f, void *user)
{
    (void)x;
    (void)t;
    (void)user;
    memset(f, 0, n * D * sizeof *f);
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

static int minus_x(const double *x, const double *t, size_t n, size_t D, double *out, void *user)
{
    for (size_t q = 0; q < n * D; q++)
        out[q] = -x[q];
    return 0;
}

START_TEST(models_that_need_a_marginal_refuse_sdes_without_one)
{
    scoresde_sde *sde = NULL;
    ck_assert_int_eq(
        scoresde_sde_create_custom(&sde, 1.0, zero_drift, unit_diffusion, NULL, NULL),
        SCORESDE_OK);
    scoresde_model *m = NULL;
    static const double w = 1.0, mu = 0.0, v = 1.0;
    EXPECT(scoresde_model_create_gmm(&m, sde, 1, 1, &w, &mu, &v), SCORESDE_EUNSUPPORTED,
           "Gaussian-mixture model needs an SDE with a Gaussian marginal");
    EXPECT(scoresde_model_create_denoiser_fn(&m, sde, 1, gauss_denoiser, NULL, NULL),
           SCORESDE_EUNSUPPORTED, "denoiser model needs");
    /* A score hook works with any SDE; only the Tweedie conversions need alpha, sigma. */
    ck_assert_int_eq(scoresde_model_create_score_fn(&m, sde, 1, minus_x, NULL, NULL),
                     SCORESDE_OK);
    double x = 1.0, t = 0.5, out;
    ck_assert_int_eq(scoresde_model_score(m, &x, &t, 1, 1, &out), SCORESDE_OK);
    ck_assert(out == -1.0);
    ck_assert_int_eq(scoresde_model_predict_data(m, &x, &t, 1, 1, &out), SCORESDE_EUNSUPPORTED);
    ck_assert_int_eq(scoresde_model_predict_noise(m, &x, &t, 1, 1, &out), SCORESDE_EUNSUPPORTED);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST


/* The allocation budget of test_budget_malloc. */
static size_t alloc_budget;

START_TEST(allocation_failures_are_reported_without_leaks)
{
    /* Every budget from 0 up: each call either succeeds or fails with ENOMEM,
     * and everything freed afterwards leaves no block behind. */
    int done = 0;
    for (size_t budget = 0; budget < 64 && !done; budget++) {
        ck_assert_uint_eq(scoresde_live_allocations(), 0);
        ck_assert_int_eq(
            scoresde_set_allocator(test_budget_malloc, test_budget_free, &alloc_budget),
            SCORESDE_OK);
        alloc_budget = SIZE_MAX;
        scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
        alloc_budget = budget;
        scoresde_model *m = NULL, *c = NULL;
        double x[4] = {0.1, 0.2, 0.3, 0.4}, t[2] = {0.3, 0.9}, out[4];
        double v[8] = {1, 0, 0, 1, -1, 1, 1, -1}; /* n x M x D = 2 x 2 x 2 */
        int rc = scoresde_model_create_gmm(&m, sde, K3, D2, W3, MU3, V3);
        if (rc == SCORESDE_OK)
            rc = scoresde_model_clone(&c, m);
        if (rc == SCORESDE_OK)
            rc = scoresde_model_score(c, x, t, 2, D2, out);
        if (rc == SCORESDE_OK)
            rc = scoresde_model_divergence(c, x, t, 2, D2, out);
        if (rc == SCORESDE_OK)
            rc = scoresde_model_hutchinson(c, x, t, 2, D2, v, 2, out);
        if (rc == SCORESDE_OK)
            done = 1;
        else
            ck_assert_int_eq(rc, SCORESDE_ENOMEM);
        scoresde_model_free(c);
        scoresde_model_free(m);
        scoresde_sde_free(sde);
        ck_assert_uint_eq(scoresde_live_allocations(), 0);
        ck_assert_int_eq(scoresde_set_allocator(NULL, NULL, NULL), SCORESDE_OK);
    }
    ck_assert(done);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("model");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, gmm_score_is_gradient_of_log_density);
    tcase_add_test(tc, conditions_are_checked_once_with_named_errors);
    tcase_add_test(tc, conditions_broadcast_mask_and_reach_finite_differences);
    tcase_add_test(tc, gmm_density_integrates_to_one);
    tcase_add_test(tc, gmm_samples_match_mean_and_covariance);
    tcase_add_test(tc, gmm_samples_follow_the_mixture_cdf);
    tcase_add_test(tc, gmm_samples_do_not_depend_on_the_split);
    tcase_add_test(tc, gmm_results_do_not_depend_on_the_batch);
    tcase_add_test(tc, standard_normal_stays_standard_under_vp);
    tcase_add_test(tc, gmm_predictions_are_consistent);
    tcase_add_test(tc, gmm_divergence_and_jvp_match_finite_differences);
    tcase_add_test(tc, hutchinson_converges_to_the_divergence);
    tcase_add_test(tc, divergence_from_exact_jvp_passes);
    tcase_add_test(tc, gmm_state_saves_and_loads_bit_for_bit);
    tcase_add_test(tc, trainable_slots_are_reached_through_checked_calls);
    tcase_add_test(tc, score_hook_reproduces_the_mixture);
    tcase_add_test(tc, denoiser_of_gaussian_posterior_mean_gives_exact_score);
    tcase_add_test(tc, hook_errors_stop_the_call);
    tcase_add_test(tc, threads_share_one_model);
    tcase_add_test(tc, clone_and_getters);
    tcase_add_test(tc, bad_input_gets_codes_and_messages);
    tcase_add_test(tc, models_that_need_a_marginal_refuse_sdes_without_one);
    tcase_add_test(tc, allocation_failures_are_reported_without_leaks);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
