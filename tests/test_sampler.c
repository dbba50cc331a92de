/*
 * Tests of the solve module: sampler options and grids, PC samplers against
 * an exact Gaussian mixture, reproducibility, probability-flow ODE orders,
 * adaptive tolerance, encoding, hooks and bad input.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scoresde.h"
#include "testutil.h"

#define OK(expr) ck_assert_int_eq((expr), SCORESDE_OK)

/* ------------------------------------------------------------ the mixture */

/* Two well-separated components in 2-D (misclassification by nearest
 * posterior is below 1e-5, negligible against the tolerances below). */
static const double mix_w[2] = {0.3, 0.7};
static const double mix_mu[4] = {-3.0, -1.0, 3.0, 2.0};
static const double mix_var[4] = {0.3, 0.5, 0.5, 0.2};

static scoresde_model *mixture_model(int kind)
{
    scoresde_sde *sde = NULL;
    OK(scoresde_sde_create_default(&sde, kind));
    scoresde_model *m = NULL;
    OK(scoresde_model_create_gmm(&m, sde, 2, 2, mix_w, mix_mu, mix_var));
    scoresde_sde_free(sde);
    return m;
}

static double mix_cdf_proj(double y, const double *u)
{
    double F = 0.0;
    for (int k = 0; k < 2; k++) {
        double m = u[0] * mix_mu[2 * k] + u[1] * mix_mu[2 * k + 1];
        double v = u[0] * u[0] * mix_var[2 * k] + u[1] * u[1] * mix_var[2 * k + 1];
        F += mix_w[k] * test_normal_cdf((y - m) / sqrt(v));
    }
    return F;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Compare n samples with the mixture. Bounds are 5 standard errors of the
 * sample statistics (a z-bound of 5); KS uses sqrt(n) D < 2.7, whose
 * Kolmogorov tail probability is about 1e-6. `slack` adds a bias allowance
 * for the sampler's discretisation. */
static void check_mixture(const double *x, size_t n, double slack, const char *what)
{
    size_t cnt[2] = {0, 0};
    double sum[2][2] = {{0}}, sq[2][2] = {{0}};
    for (size_t i = 0; i < n; i++) {
        const double *p = x + 2 * i;
        double d0 = 0, d1 = 0;
        for (int j = 0; j < 2; j++) {
            d0 += (p[j] - mix_mu[j]) * (p[j] - mix_mu[j]) / mix_var[j];
            d1 += (p[j] - mix_mu[2 + j]) * (p[j] - mix_mu[2 + j]) / mix_var[2 + j];
        }
        int k = d0 + log(mix_var[0] * mix_var[1]) - 2 * log(mix_w[0]) <
                        d1 + log(mix_var[2] * mix_var[3]) - 2 * log(mix_w[1])
                    ? 0
                    : 1;
        cnt[k]++;
        for (int j = 0; j < 2; j++) {
            sum[k][j] += p[j];
            sq[k][j] += p[j] * p[j];
        }
    }
    for (int k = 0; k < 2; k++) {
        double w = (double)cnt[k] / (double)n;
        double se = sqrt(mix_w[k] * (1 - mix_w[k]) / (double)n);
        ck_assert_msg(fabs(w - mix_w[k]) < 5 * se + slack, "%s: mass %d = %g, expected %g", what,
                      k, w, mix_w[k]);
        for (int j = 0; j < 2; j++) {
            double nk = (double)cnt[k];
            double mean = sum[k][j] / nk, var = (sq[k][j] - nk * mean * mean) / (nk - 1);
            double v = mix_var[2 * k + j];
            ck_assert_msg(fabs(mean - mix_mu[2 * k + j]) < 5 * sqrt(v / nk) + slack,
                          "%s: mean[%d][%d] = %g, expected %g", what, k, j, mean,
                          mix_mu[2 * k + j]);
            ck_assert_msg(fabs(var - v) < 5 * v * sqrt(2 / (nk - 1)) + slack,
                          "%s: var[%d][%d] = %g, expected %g", what, k, j, var, v);
        }
    }
    double *y = malloc(n * sizeof *y);
    ck_assert_ptr_nonnull(y);
    for (int q = 0; q < 4; q++) {
        double ang = 0.4 + q * 0.8, u[2] = {cos(ang), sin(ang)};
        for (size_t i = 0; i < n; i++)
            y[i] = u[0] * x[2 * i] + u[1] * x[2 * i + 1];
        qsort(y, n, sizeof *y, cmp_double);
        double dmax = 0.0;
        for (size_t i = 0; i < n; i++) {
            double F = mix_cdf_proj(y[i], u);
            dmax = fmax(dmax, fmax((double)(i + 1) / (double)n - F, F - (double)i / (double)n));
        }
        ck_assert_msg(sqrt((double)n) * dmax < 2.7 + sqrt((double)n) * slack,
                      "%s: KS on direction %d: sqrt(n) D = %g", what, q, sqrt((double)n) * dmax);
    }
    free(y);
}

static scoresde_sampler *pc_sampler(int pred, int corr, int64_t steps)
{
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, SCORESDE_SAMPLER_PC));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_PREDICTOR, pred));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_CORRECTOR, corr));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, steps));
    return s;
}

/* ------------------------------------------------------------ settings */

static int nan_setting(int o)
{
    return o == SCORESDE_SAMPLER_EPS || o == SCORESDE_SAMPLER_H_INIT || o == SCORESDE_SAMPLER_H_MIN;
}

START_TEST(test_settings)
{
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, SCORESDE_SAMPLER_PC));
    ck_assert_int_eq(scoresde_sampler_method(s), SCORESDE_SAMPLER_PC);
    ck_assert_int_eq(scoresde_sampler_method(NULL), 0);
    int64_t iv;
    double dv, lo, hi;
    int is_int;
    OK(scoresde_sampler_get_int(s, SCORESDE_SAMPLER_STEPS, &iv));
    ck_assert_int_eq(iv, 1000);
    OK(scoresde_sampler_get_double(s, SCORESDE_SAMPLER_SNR, &dv));
    ck_assert(dv == 0.16);
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_SNR, 0.2));
    OK(scoresde_sampler_get_double(s, SCORESDE_SAMPLER_SNR, &dv));
    ck_assert(dv == 0.2);
    /* every method and setting: a new sampler starts at _default, which lies
     * within the bounds (or is NaN for the three "library chooses" settings);
     * the per-method settings the header names differ from PC's */
    const int methods[8] = {SCORESDE_SAMPLER_PC,    SCORESDE_SAMPLER_ODE,  SCORESDE_SAMPLER_EDM,
                            SCORESDE_SAMPLER_DPMPP, SCORESDE_SAMPLER_IPNDM, SCORESDE_SAMPLER_DDIM,
                            SCORESDE_SAMPLER_DPMPP_SDE, SCORESDE_SAMPLER_RESTART};
    for (int q = 0; q < 8; q++) {
        scoresde_sampler *f = NULL;
        OK(scoresde_sampler_create(&f, methods[q]));
        for (int o = 1; o <= SCORESDE_SAMPLER_RESTART_STEPS; o++) {
            double def, got;
            OK(scoresde_sampler_bounds(o, &lo, &hi, &is_int));
            OK(scoresde_sampler_default(methods[q], o, &def));
            if (is_int) {
                OK(scoresde_sampler_get_int(f, o, &iv));
                got = (double)iv;
            } else {
                OK(scoresde_sampler_get_double(f, o, &got));
            }
            if (nan_setting(o)) {
                ck_assert_msg(isnan(def) && isnan(got), "method %d setting %d: %g, %g", methods[q],
                              o, def, got);
            } else {
                ck_assert_msg(def == got, "method %d setting %d: default %g, new sampler %g",
                              methods[q], o, def, got);
                ck_assert_msg(def >= lo && def <= hi, "setting %d: %g outside [%g, %g]", o, def, lo,
                              hi);
            }
        }
        scoresde_sampler_free(f);
    }
    double d;
    OK(scoresde_sampler_default(SCORESDE_SAMPLER_EDM, SCORESDE_SAMPLER_STEPS, &d));
    ck_assert(d == 17);
    OK(scoresde_sampler_default(SCORESDE_SAMPLER_EDM, SCORESDE_SAMPLER_GRID, &d));
    ck_assert(d == SCORESDE_SAMPLER_GRID_KARRAS);
    OK(scoresde_sampler_default(SCORESDE_SAMPLER_DPMPP, SCORESDE_SAMPLER_STEPS, &d));
    ck_assert(d == 20);
    OK(scoresde_sampler_default(SCORESDE_SAMPLER_DPMPP, SCORESDE_SAMPLER_GRID, &d));
    ck_assert(d == SCORESDE_SAMPLER_GRID_LOGSNR);
    OK(scoresde_sampler_default(SCORESDE_SAMPLER_DPMPP, SCORESDE_SAMPLER_DENOISE, &d));
    ck_assert(d == 0);
    OK(scoresde_sampler_default(SCORESDE_SAMPLER_PC, SCORESDE_SAMPLER_DENOISE, &d));
    ck_assert(d == 1);
    ck_assert_int_eq(scoresde_sampler_default(77, SCORESDE_SAMPLER_STEPS, &d), SCORESDE_EINVAL);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "method 77"));
    ck_assert_int_eq(scoresde_sampler_default(SCORESDE_SAMPLER_PC, SCORESDE_SAMPLER_RESTART_STEPS + 1, &d), SCORESDE_EINVAL);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "setting 49"));
    ck_assert_int_eq(scoresde_sampler_default(SCORESDE_SAMPLER_PC, 1, NULL), SCORESDE_EINVAL);
    /* every setting: settable at both bounds and read back, refused just
     * outside them and through the other type's functions (the message
     * names the setting); NaN only for EPS, H_INIT and H_MIN */
    for (int o = 1; o <= 29; o++) {
        OK(scoresde_sampler_bounds(o, &lo, &hi, &is_int));
        ck_assert(isfinite(lo) && isfinite(hi) && lo <= hi);
        if (is_int) {
            for (int b = 0; b < 2; b++) {
                int64_t v = (int64_t)(b == 0 ? lo : hi);
                OK(scoresde_sampler_set_int(s, o, v));
                OK(scoresde_sampler_get_int(s, o, &iv));
                ck_assert_int_eq(iv, v);
            }
            ck_assert_int_eq(scoresde_sampler_set_int(s, o, (int64_t)hi + 1), SCORESDE_EINVAL);
            ck_assert_int_eq(scoresde_sampler_set_int(s, o, (int64_t)lo - 1), SCORESDE_EINVAL);
            ck_assert_int_eq(scoresde_sampler_set_double(s, o, lo), SCORESDE_EINVAL);
            ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "scoresde_sampler_set_int"));
            ck_assert_int_eq(scoresde_sampler_get_double(s, o, &dv), SCORESDE_EINVAL);
        } else {
            for (int b = 0; b < 2; b++) {
                OK(scoresde_sampler_set_double(s, o, b == 0 ? lo : hi));
                OK(scoresde_sampler_get_double(s, o, &dv));
                ck_assert(dv == (b == 0 ? lo : hi));
            }
            ck_assert_int_eq(scoresde_sampler_set_double(s, o, INFINITY), SCORESDE_EINVAL);
            if (lo > 0.0)
                ck_assert_int_eq(scoresde_sampler_set_double(s, o, lo / 2), SCORESDE_EINVAL);
            else
                ck_assert_int_eq(scoresde_sampler_set_double(s, o, -1e-300), SCORESDE_EINVAL);
            if (nan_setting(o)) {
                OK(scoresde_sampler_set_double(s, o, NAN));
                OK(scoresde_sampler_get_double(s, o, &dv));
                ck_assert(isnan(dv));
            } else {
                ck_assert_int_eq(scoresde_sampler_set_double(s, o, NAN), SCORESDE_EINVAL);
                ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "NaN"));
            }
            ck_assert_int_eq(scoresde_sampler_set_int(s, o, 0), SCORESDE_EINVAL);
            ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "scoresde_sampler_set_double"));
            ck_assert_int_eq(scoresde_sampler_get_int(s, o, &iv), SCORESDE_EINVAL);
        }
    }
    /* the three NaN settings: 0 is an ordinary value for EPS and H_MIN;
     * H_INIT must be positive */
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_EPS, 0.0));
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_H_MIN, 0.0));
    ck_assert_int_eq(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_H_INIT, 0.0), SCORESDE_EINVAL);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "H_INIT"));
    ck_assert_int_eq(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_RTOL, -1e-5),
                     SCORESDE_EINVAL);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "RTOL"));
    ck_assert_int_eq(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 0), SCORESDE_EINVAL);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "STEPS"));
    ck_assert_int_eq(
        scoresde_sampler_set_int(s, SCORESDE_SAMPLER_GRID, SCORESDE_SAMPLER_GRID_ARRAY),
        SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_sampler_set_int(s, 99, 1), SCORESDE_EINVAL);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "setting 99"));
    ck_assert_int_eq(scoresde_sampler_bounds(0, &lo, &hi, NULL), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_sampler_set_int(NULL, SCORESDE_SAMPLER_STEPS, 5), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_sampler_get_int(s, SCORESDE_SAMPLER_SNR, &iv), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_sampler_get_int(s, SCORESDE_SAMPLER_STEPS, NULL), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_sampler_get_double(NULL, SCORESDE_SAMPLER_SNR, &dv), SCORESDE_EINVAL);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "sampler"));
    /* the messages name the setting and the value, or the function to use */
    test_expect_error(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 0), SCORESDE_EINVAL,
                      "STEPS = 0 is outside");
    test_expect_error(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_MAX_STEPS, 1000000001),
                      SCORESDE_EINVAL,
                      "MAX_STEPS = 1000000001 is outside its bounds [1, 1000000000]");
    test_expect_error(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_SNR, NAN), SCORESDE_EINVAL,
                      "SNR = NaN");
    test_expect_error(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_RHO, 0.0), SCORESDE_EINVAL,
                      "RHO = 0 is outside");
    test_expect_error(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_H_INIT, -1.0),
                      SCORESDE_EINVAL, "(or NaN)");
    test_expect_error(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_STEPS, 5.0), SCORESDE_EINVAL,
                      "STEPS (1) is an integer (use scoresde_sampler_set_int)");
    test_expect_error(scoresde_sampler_get_int(s, SCORESDE_SAMPLER_LAM, &iv), SCORESDE_EINVAL,
                      "LAM (9) is a double (use scoresde_sampler_get_double)");
    test_expect_error(
        scoresde_sampler_set_int(s, SCORESDE_SAMPLER_GRID, SCORESDE_SAMPLER_GRID_ARRAY),
        SCORESDE_EINVAL, "GRID = ARRAY (4) is set by scoresde_sampler_set_grid");
    test_expect_error(scoresde_sampler_set_int(s, 0, 1), SCORESDE_EINVAL,
                      "setting 0 is not a sampler setting");
    /* GRID's reported upper bound is the last grid a setter takes (ARRAY is
     * scoresde_sampler_set_grid's) */
    OK(scoresde_sampler_bounds(SCORESDE_SAMPLER_GRID, &lo, &hi, &is_int));
    ck_assert(lo == SCORESDE_SAMPLER_GRID_UNIFORM_T && hi == SCORESDE_SAMPLER_GRID_POWER && is_int);
    /* a caller's grid: refused settings keep it; a new GRID drops it and
     * stays, a new STEPS drops it and GRID returns to the method's own */
    const double mine[3] = {0.9, 0.5, 0.1};
    int64_t g;
    OK(scoresde_sampler_set_grid(s, mine, 3));
    test_expect_error(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 0), SCORESDE_EINVAL,
                      "STEPS = 0");
    test_expect_error(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_GRID, 6), SCORESDE_EINVAL,
                      "GRID = 6");
    test_expect_error(
        scoresde_sampler_set_int(s, SCORESDE_SAMPLER_GRID, SCORESDE_SAMPLER_GRID_ARRAY),
        SCORESDE_EINVAL, "scoresde_sampler_set_grid");
    OK(scoresde_sampler_get_int(s, SCORESDE_SAMPLER_GRID, &g));
    ck_assert_int_eq(g, SCORESDE_SAMPLER_GRID_ARRAY);
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_GRID, SCORESDE_SAMPLER_GRID_LOGSNR));
    OK(scoresde_sampler_get_int(s, SCORESDE_SAMPLER_GRID, &g));
    ck_assert_int_eq(g, SCORESDE_SAMPLER_GRID_LOGSNR);
    OK(scoresde_sampler_get_int(s, SCORESDE_SAMPLER_STEPS, &iv));
    ck_assert_int_eq(iv, 2); /* the dropped grid's */
    OK(scoresde_sampler_set_grid(s, mine, 3));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 7));
    OK(scoresde_sampler_get_int(s, SCORESDE_SAMPLER_GRID, &g));
    ck_assert_int_eq(g, SCORESDE_SAMPLER_GRID_UNIFORM_T); /* PC's own */
    OK(scoresde_sampler_get_int(s, SCORESDE_SAMPLER_STEPS, &iv));
    ck_assert_int_eq(iv, 7);
    scoresde_sampler_free(s);
    scoresde_sampler_free(NULL);
    ck_assert_int_eq(scoresde_sampler_create(&s, 77), SCORESDE_EINVAL);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(scoresde_sampler_create(NULL, SCORESDE_SAMPLER_PC), SCORESDE_EINVAL);
}
END_TEST

static int dummy_progress(uint64_t step, double t, uint64_t nfe, void *user)
{
    return 0;
}

static int dummy_guidance(const double *x, const double *t, size_t n, size_t D, double *grad,
                          void *user)
{
    return 0;
}

/* clone: out first; an independent copy of the settings, the grid array and
 * the hooks */
START_TEST(test_clone)
{
    scoresde_sampler *s = NULL, *c = NULL;
    OK(scoresde_sampler_create(&s, SCORESDE_SAMPLER_EDM));
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_S_CHURN, 3.5));
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_H_MIN, 0.0));
    const double grid[4] = {1.0, 0.5, 0.1, 0.01};
    OK(scoresde_sampler_set_grid(s, grid, 4));
    int tag = 0;
    OK(scoresde_sampler_set_progress(s, dummy_progress, &tag));
    OK(scoresde_sampler_set_guidance(s, dummy_guidance, &tag, 0.5));
    OK(scoresde_sampler_clone(&c, s));
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_ne(c, s);
    ck_assert_int_eq(scoresde_sampler_method(c), SCORESDE_SAMPLER_EDM);
    for (int o = 1; o <= 29; o++) {
        int is_int;
        OK(scoresde_sampler_bounds(o, NULL, NULL, &is_int));
        if (is_int) {
            int64_t a, b;
            OK(scoresde_sampler_get_int(s, o, &a));
            OK(scoresde_sampler_get_int(c, o, &b));
            ck_assert_int_eq(a, b);
        } else {
            double a, b;
            OK(scoresde_sampler_get_double(s, o, &a));
            OK(scoresde_sampler_get_double(c, o, &b));
            ck_assert(a == b || (isnan(a) && isnan(b)));
        }
    }
    /* the grid was copied: the clone keeps it after the original drops its own */
    scoresde_sde *sde = NULL;
    OK(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 5));
    double t[4];
    OK(scoresde_sampler_times(c, sde, t, 4));
    ck_assert(memcmp(t, grid, sizeof t) == 0);
    int64_t g;
    OK(scoresde_sampler_get_int(s, SCORESDE_SAMPLER_GRID, &g));
    ck_assert_int_eq(g, SCORESDE_SAMPLER_GRID_KARRAS); /* EDM's own grid again */
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_EPS, NAN));
    double t6[6];
    OK(scoresde_sampler_times(s, sde, t6, 6));
    ck_assert(t6[0] == 1.0 && t6[5] == 1e-3 && t6[4] > t6[5]);
    OK(scoresde_sampler_get_int(c, SCORESDE_SAMPLER_GRID, &g));
    ck_assert_int_eq(g, SCORESDE_SAMPLER_GRID_ARRAY);
    /* settings are independent */
    OK(scoresde_sampler_set_double(c, SCORESDE_SAMPLER_S_CHURN, 1.0));
    double v;
    OK(scoresde_sampler_get_double(s, SCORESDE_SAMPLER_S_CHURN, &v));
    ck_assert(v == 3.5);
    scoresde_sampler_free(s); /* the clone outlives its source */
    OK(scoresde_sampler_times(c, sde, t, 4));
    scoresde_sampler *c2 = (scoresde_sampler *)&tag;
    ck_assert_int_eq(scoresde_sampler_clone(&c2, NULL), SCORESDE_EINVAL);
    ck_assert_ptr_null(c2);
    ck_assert_int_eq(scoresde_sampler_clone(NULL, c), SCORESDE_EINVAL);
    scoresde_sampler_free(c);
    scoresde_sde_free(sde);
}
END_TEST

/* ------------------------------------------------------------ grids */

START_TEST(test_grids)
{
    scoresde_sde *vp = NULL;
    OK(scoresde_sde_create_default(&vp, SCORESDE_SDE_VP));
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, SCORESDE_SAMPLER_ODE));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 20));
    double t[21], a[21], sg[21];
    ck_assert_int_eq(scoresde_sampler_times(s, vp, t, 20), SCORESDE_EINVAL);
    for (int g = SCORESDE_SAMPLER_GRID_UNIFORM_T; g <= SCORESDE_SAMPLER_GRID_LOGSNR; g++) {
        OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_GRID, g));
        OK(scoresde_sampler_times(s, vp, t, 21));
        ck_assert(t[0] == 1.0 && t[20] == 1e-3);
        OK(scoresde_sde_marginal(vp, t, 21, a, sg, NULL, NULL));
        for (int k = 1; k <= 20; k++) {
            ck_assert(t[k] < t[k - 1]);
            double f = k / 20.0, want, got;
            if (g == SCORESDE_SAMPLER_GRID_UNIFORM_T) {
                want = 1.0 + f * (1e-3 - 1.0);
                got = t[k];
            } else if (g == SCORESDE_SAMPLER_GRID_KARRAS) {
                double hi = pow(sg[0] / a[0], 1 / 7.0), lo = pow(sg[20] / a[20], 1 / 7.0);
                want = hi + f * (lo - hi);
                got = pow(sg[k] / a[k], 1 / 7.0);
            } else {
                double hi = log(a[0] / sg[0]), lo = log(a[20] / sg[20]);
                want = hi + f * (lo - hi);
                got = log(a[k] / sg[k]);
            }
            ck_assert_msg(fabs(got - want) < 1e-12 * (1 + fabs(want)), "grid %d k %d: %g vs %g",
                          g, k, got, want);
        }
    }
    /* the caller's grid */
    const double mine[4] = {0.9, 0.5, 0.2, 0.01};
    OK(scoresde_sampler_set_grid(s, mine, 4));
    int64_t steps;
    OK(scoresde_sampler_get_int(s, SCORESDE_SAMPLER_STEPS, &steps));
    ck_assert_int_eq(steps, 3);
    OK(scoresde_sampler_times(s, vp, t, 4));
    ck_assert(memcmp(t, mine, sizeof mine) == 0);
    const double bad1[3] = {0.9, 0.95, 0.1}, bad2[2] = {0.5, 0.0}, bad3[2] = {0.5, NAN};
    ck_assert_int_eq(scoresde_sampler_set_grid(s, bad1, 3), SCORESDE_EINVAL);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "decreasing"));
    ck_assert_int_eq(scoresde_sampler_set_grid(s, bad2, 2), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_sampler_set_grid(s, bad3, 2), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_sampler_set_grid(s, mine, 1), SCORESDE_EINVAL);
    const double late[2] = {1.5, 0.1};
    OK(scoresde_sampler_set_grid(s, late, 2));
    ck_assert_int_eq(scoresde_sampler_times(s, vp, t, 2), SCORESDE_EINVAL);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "t[0]"));
    /* eps >= T */
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 1));
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_EPS, 1.0));
    ck_assert_int_eq(scoresde_sampler_times(s, vp, t, 2), SCORESDE_EINVAL);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "eps"));
    scoresde_sampler_free(s);
    scoresde_sde_free(vp);
}
END_TEST

/* ------------------------------------------------------------ distributions */

typedef struct pc_case {
    int sde, pred, corr;
    int64_t steps, corr_steps;
    double slack;
} pc_case;

/* Langevin cases use BATCH_NORMS = 1: with per-sample norms in 2-D, a sample
 * where ||s|| is near 0 takes a huge step (see sampler.h), which measurably
 * biases the masses (per-sample norms: test_langevin_norms). */

static const pc_case pc_cases[] = {
    {SCORESDE_SDE_VP, SCORESDE_SAMPLER_PREDICTOR_REVERSE_DIFFUSION,
     SCORESDE_SAMPLER_CORRECTOR_LANGEVIN, 500, 1, 0},
    {SCORESDE_SDE_VP, SCORESDE_SAMPLER_PREDICTOR_EULER_MARUYAMA, SCORESDE_SAMPLER_CORRECTOR_NONE,
     500, 0, 0},
    {SCORESDE_SDE_VP, SCORESDE_SAMPLER_PREDICTOR_ANCESTRAL, SCORESDE_SAMPLER_CORRECTOR_NONE, 500, 0,
     0},
    {SCORESDE_SDE_VE, SCORESDE_SAMPLER_PREDICTOR_REVERSE_DIFFUSION,
     SCORESDE_SAMPLER_CORRECTOR_LANGEVIN, 500, 1, 0},
    {SCORESDE_SDE_VE, SCORESDE_SAMPLER_PREDICTOR_EULER_MARUYAMA, SCORESDE_SAMPLER_CORRECTOR_NONE,
     500, 0, 0},
    {SCORESDE_SDE_VE, SCORESDE_SAMPLER_PREDICTOR_ANCESTRAL, SCORESDE_SAMPLER_CORRECTOR_LANGEVIN,
     500, 1, 0},
    {SCORESDE_SDE_VE, SCORESDE_SAMPLER_PREDICTOR_NONE, SCORESDE_SAMPLER_CORRECTOR_ANNEALED, 200, 5,
     0},
    {SCORESDE_SDE_SUBVP, SCORESDE_SAMPLER_PREDICTOR_REVERSE_DIFFUSION,
     SCORESDE_SAMPLER_CORRECTOR_LANGEVIN, 500, 1, 0},
    {SCORESDE_SDE_SUBVP, SCORESDE_SAMPLER_PREDICTOR_EULER_MARUYAMA,
     SCORESDE_SAMPLER_CORRECTOR_LANGEVIN, 500, 1, 0},
    {SCORESDE_SDE_SUBVP, SCORESDE_SAMPLER_PREDICTOR_ANCESTRAL, SCORESDE_SAMPLER_CORRECTOR_NONE, 500,
     0, 0},
};

START_TEST(test_pc_mixture)
{
    const pc_case *c = &pc_cases[_i];
    scoresde_model *m = mixture_model(c->sde);
    scoresde_sampler *s = pc_sampler(c->pred, c->corr, c->steps);
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_CORRECTOR_STEPS, c->corr_steps));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BATCH_NORMS, 1));
    size_t n = 2000;
    double *x = malloc(n * 2 * sizeof *x);
    scoresde_sampler_stats st = {.struct_size = sizeof st};
    OK(scoresde_sampler_sample(s, m, NULL, n, 2, 1234 + (uint64_t)_i, 0, x, &st));
    int pred_nfe = c->pred == SCORESDE_SAMPLER_PREDICTOR_NONE ? 0 : 1;
    ck_assert_uint_eq(st.nfe, (uint64_t)(c->steps * (c->corr_steps + pred_nfe) + 1));
    ck_assert_uint_eq(st.accepted, (uint64_t)c->steps * n);
    ck_assert_uint_eq(st.rejected, 0);
    char what[64];
    snprintf(what, sizeof what, "case %d", _i);
    check_mixture(x, n, c->slack, what);
    free(x);
    scoresde_sampler_free(s);
    scoresde_model_free(m);
}
END_TEST

/* N(mu, 0.5 I) in 32-D under VP, reverse diffusion + Langevin. Each
 * coordinate's mean within 5 standard errors; the variance pooled over the
 * 32 coordinates within 5 standard errors (sd of the pooled ratio
 * sqrt(2 / (32 (n - 1)))), plus 0.02 for the discretisation. The lam knob
 * (Euler-Maruyama, LAM = 0.5 and LAM = 0, the latter the ODE) and DENOISE = 0
 * are checked the same way. */
START_TEST(test_highdim)
{
    enum { D = 32 };
    double mu[D], var[D], w[1] = {1.0};
    for (int j = 0; j < D; j++) {
        mu[j] = 0.1 * (j - 16);
        var[j] = 0.5;
    }
    scoresde_sde *sde = NULL;
    OK(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP));
    scoresde_model *m = NULL;
    OK(scoresde_model_create_gmm(&m, sde, 1, D, w, mu, var));
    scoresde_sampler *s = NULL;
    if (_i == 0) {
        s = pc_sampler(SCORESDE_SAMPLER_PREDICTOR_REVERSE_DIFFUSION,
                       SCORESDE_SAMPLER_CORRECTOR_LANGEVIN, 200);
        OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BATCH_NORMS, 1));
    } else {
        s = pc_sampler(SCORESDE_SAMPLER_PREDICTOR_EULER_MARUYAMA, SCORESDE_SAMPLER_CORRECTOR_NONE,
                       200);
        OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_LAM, _i == 1 ? 0.5 : 0.0));
        OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_DENOISE, 0));
    }
    size_t n = 500;
    double *x = malloc(n * D * sizeof *x);
    OK(scoresde_sampler_sample(s, m, NULL, n, D, 77, 0, x, NULL));
    double pooled = 0.0;
    for (int j = 0; j < D; j++) {
        double mean, v;
        test_moments(x, n, D, (size_t)j, &mean, &v);
        ck_assert_msg(fabs(mean - mu[j]) < 5 * sqrt(0.5 / (double)n), "case %d: mean[%d] = %g",
                      _i, j, mean);
        pooled += v / 0.5 / D;
    }
    ck_assert_msg(fabs(pooled - 1.0) < 5 * sqrt(2.0 / (D * (double)(n - 1))) + 0.02,
                  "case %d: pooled variance ratio %g", _i, pooled);
    free(x);
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* Per-sample norms are the batch average over a block of one sample, bit for
 * bit; and they differ from the batch average over larger blocks. (Their
 * distributional bias is documented in sampler.h: measured variance
 * inflation 13% in 32-D and 3.6% in 256-D at 200 steps, against 1.8% with
 * batch norms, so no distribution test claims them.) */
START_TEST(test_langevin_norms)
{
    scoresde_model *m = mixture_model(SCORESDE_SDE_VP);
    scoresde_sampler *s = pc_sampler(SCORESDE_SAMPLER_PREDICTOR_REVERSE_DIFFUSION,
                                     SCORESDE_SAMPLER_CORRECTOR_LANGEVIN, 30);
    double a[40], b[40], c[40];
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BATCH_NORMS, SCORESDE_SAMPLER_NORMS_PER_SAMPLE));
    OK(scoresde_sampler_sample(s, m, NULL, 20, 2, 3, 0, a, NULL));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BATCH_NORMS, 1));
    OK(scoresde_sampler_sample(s, m, NULL, 20, 2, 3, 0, c, NULL));
    ck_assert(memcmp(a, c, sizeof a) != 0);
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BLOCK, 1));
    OK(scoresde_sampler_sample(s, m, NULL, 20, 2, 3, 0, b, NULL));
    ck_assert(memcmp(a, b, sizeof a) == 0);
    scoresde_sampler_free(s);
    scoresde_model_free(m);
}
END_TEST

/* The exact samples of the mixture pass the same checks (the checks are sound). */
START_TEST(test_exact_samples_pass)
{
    scoresde_model *m = mixture_model(SCORESDE_SDE_VP);
    size_t n = 2000;
    double *x = malloc(n * 2 * sizeof *x), *t = malloc(n * sizeof *t);
    for (size_t i = 0; i < n; i++)
        t[i] = 0.0;
    OK(scoresde_model_sample(m, t, n, 2, 99, 0, x));
    check_mixture(x, n, 0, "exact");
    free(x);
    free(t);
    scoresde_model_free(m);
}
END_TEST

/* ------------------------------------------------------------ reproducibility */

static void sample_split(const scoresde_sampler *s, const scoresde_model *m, size_t n,
                         size_t parts, double *x)
{
    size_t per = n / parts;
    for (size_t p = 0; p < parts; p++)
        OK(scoresde_sampler_sample(s, m, NULL, per, 2, 7, p * per, x + p * per * 2, NULL));
}

START_TEST(test_reproducible)
{
    scoresde_model *m = mixture_model(SCORESDE_SDE_VP);
    scoresde_sampler *s = pc_sampler(SCORESDE_SAMPLER_PREDICTOR_EULER_MARUYAMA,
                                     SCORESDE_SAMPLER_CORRECTOR_LANGEVIN, 40);
    if (_i == 1) { /* the adaptive ODE has per-sample steps */
        scoresde_sampler_free(s);
        OK(scoresde_sampler_create(&s, SCORESDE_SAMPLER_ODE));
    } else if (_i == 2) { /* 3M with UniC: per-sample state across steps */
        scoresde_sampler_free(s);
        OK(scoresde_sampler_create(&s, SCORESDE_SAMPLER_DPMPP));
        OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_ORDER, 3));
        OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_UNIPC, 1));
    }
    size_t n = 100;
    double a[200], b[200], c[200], d[200];
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BLOCK, 16));
    sample_split(s, m, n, 1, a);
    sample_split(s, m, n, 4, b);
    ck_assert(memcmp(a, b, sizeof a) == 0);
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_THREADS, 2));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BLOCK, 7));
    sample_split(s, m, n, 1, c);
    ck_assert(memcmp(a, c, sizeof a) == 0);
    /* sample i is sample i whatever call it is drawn in */
    OK(scoresde_sampler_sample(s, m, NULL, n - 1, 2, 7, 1, d, NULL));
    ck_assert(memcmp(a + 2, d, (n - 1) * 2 * sizeof(double)) == 0);
    ck_assert(memcmp(a, d, 2 * sizeof(double)) != 0);
    scoresde_sampler_free(s);
    scoresde_model_free(m);
}
END_TEST

/* The MLP model under sampler threads: with THREADS = 2 and several blocks
 * each block's evaluation runs on one thread inside the sampler's parallel
 * region (model_mlp.c); with one block the model's own 2 threads run. The
 * samples must be bit-identical either way (PC with noise, DPM-Solver++ 2M
 * without and with UniC). */
START_TEST(test_mlp_threads)
{
    scoresde_sde *sde = NULL;
    OK(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP));
    scoresde_mlp_options o;
    OK(scoresde_model_mlp_options_init(&o, sizeof o));
    o.n_hidden = 2;
    static const size_t widths[2] = {96, 96};
    o.widths = widths;
    o.n_threads = 2;
    scoresde_model *m = NULL;
    OK(scoresde_model_create_mlp(&m, sde, 2, &o));
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, _i == 0 ? SCORESDE_SAMPLER_PC : SCORESDE_SAMPLER_DPMPP));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 12));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_UNIPC, _i == 2)); /* 2M with UniC */
    enum { NM = 200 };
    static double a[2 * NM], b[2 * NM], c[2 * NM];
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BLOCK, NM)); /* one block */
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_THREADS, 2));
    OK(scoresde_sampler_sample(s, m, NULL, NM, 2, 3, 0, a, NULL));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BLOCK, 16)); /* 13 blocks */
    OK(scoresde_sampler_sample(s, m, NULL, NM, 2, 3, 0, b, NULL));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_THREADS, 1));
    OK(scoresde_sampler_sample(s, m, NULL, NM, 2, 3, 0, c, NULL));
    ck_assert(memcmp(a, b, sizeof a) == 0);
    ck_assert(memcmp(a, c, sizeof a) == 0);
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* ------------------------------------------------------------ hooks, errors */

static int cancel_at_3(uint64_t step, double t, uint64_t nfe, void *user)
{
    size_t *calls = user;
    ++*calls;
    ck_assert_uint_eq(nfe, 2 * step); /* Langevin + Euler-Maruyama per step */
    ck_assert(t < 1.0);
    return step == 3;
}

static int count_steps(uint64_t step, double t, uint64_t nfe, void *user)
{
    size_t *calls = user;
    ++*calls;
    return 0;
}

static int huge_score(const double *x, const double *t, size_t n, size_t D, double *out,
                      void *user)
{
    for (size_t e = 0; e < n * D; e++)
        out[e] = 1e308;
    return 0;
}

START_TEST(test_hooks_and_errors)
{
    scoresde_model *m = mixture_model(SCORESDE_SDE_VP);
    scoresde_sampler *s = pc_sampler(SCORESDE_SAMPLER_PREDICTOR_EULER_MARUYAMA,
                                     SCORESDE_SAMPLER_CORRECTOR_LANGEVIN, 10);
    double x[20], xt[20];
    size_t calls = 0;
    OK(scoresde_sampler_set_progress(s, cancel_at_3, &calls));
    ck_assert_int_eq(scoresde_sampler_sample(s, m, NULL, 10, 2, 1, 0, x, NULL), SCORESDE_ECALLBACK);
    ck_assert_uint_eq(calls, 3);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "progress"));
    calls = 0;
    OK(scoresde_sampler_set_progress(s, count_steps, &calls));
    OK(scoresde_sampler_sample(s, m, NULL, 10, 2, 1, 0, x, NULL));
    ck_assert_uint_eq(calls, 10);
    OK(scoresde_sampler_set_progress(s, NULL, NULL));
    /* caller's x_T: equal to the prior draw gives the same samples */
    scoresde_sde *sde = NULL;
    OK(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP));
    OK(scoresde_sde_prior_sample(sde, 10, 2, 1, 0, 0, xt));
    double y[20];
    OK(scoresde_sampler_sample(s, m, xt, 10, 2, 1, 0, y, NULL));
    ck_assert(memcmp(x, y, sizeof x) == 0);
    OK(scoresde_sampler_sample(s, m, xt, 10, 2, 1, 0, xt, NULL)); /* in place */
    ck_assert(memcmp(x, xt, sizeof x) == 0);
    /* bad input */
    ck_assert_int_eq(scoresde_sampler_sample(s, m, NULL, 0, 2, 1, 0, x, NULL), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_sampler_sample(NULL, m, NULL, 1, 2, 1, 0, x, NULL), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_sampler_sample(s, NULL, NULL, 1, 2, 1, 0, x, NULL), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_sampler_sample(s, m, NULL, 1, 2, 1, 0, NULL, NULL), SCORESDE_EINVAL);
    xt[3] = NAN;
    ck_assert_int_eq(scoresde_sampler_sample(s, m, xt, 10, 2, 1, 0, x, NULL), SCORESDE_EINVAL);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "x_T"));
    scoresde_sampler_stats small = {.struct_size = 4};
    ck_assert_int_eq(scoresde_sampler_sample(s, m, NULL, 1, 2, 1, 0, x, &small), SCORESDE_EINVAL);
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_EPS, 2.0));
    ck_assert_int_eq(scoresde_sampler_sample(s, m, NULL, 1, 2, 1, 0, x, NULL), SCORESDE_EINVAL);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "eps"));
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_EPS, NAN));
    /* D must be the model's dimension */
    ck_assert_int_eq(scoresde_sampler_sample(s, m, NULL, 1, 3, 1, 0, x, NULL), SCORESDE_EDIM);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "D (3)"));
    ck_assert_int_eq(scoresde_sampler_sample(s, m, NULL, 1, 0, 1, 0, x, NULL), SCORESDE_EINVAL);
    /* stats, an output struct: one from a newer header (larger) gets the
     * fields this library knows and its tail zeroed; one smaller than the
     * first layout (ending at t_final) is refused */
    struct {
        scoresde_sampler_stats st;
        uint64_t later[3];
    } big;
    memset(&big, 0xAB, sizeof big);
    big.st.struct_size = sizeof big;
    OK(scoresde_sampler_sample(s, m, NULL, 1, 2, 1, 0, x, &big.st));
    ck_assert_uint_eq(big.st.struct_size, sizeof big);
    ck_assert_uint_eq(big.st.nfe, 21);
    ck_assert_uint_eq(big.st.accepted, 10);
    ck_assert_uint_eq(big.st.rejected, 0);
    ck_assert(big.st.t_final == 1e-3);
    for (int k = 0; k < 3; k++)
        ck_assert_uint_eq(big.later[k], 0);
    scoresde_sampler_stats cut = {.struct_size = offsetof(scoresde_sampler_stats, t_final)};
    ck_assert_int_eq(scoresde_sampler_sample(s, m, NULL, 1, 2, 1, 0, x, &cut), SCORESDE_EINVAL);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "stats->struct_size"));
    scoresde_sampler_stats exact = {.struct_size = sizeof exact};
    OK(scoresde_sampler_sample(s, m, NULL, 1, 2, 1, 0, x, &exact));
    ck_assert_uint_eq(exact.nfe, 21);
    /* EPS = NaN (the default) stops at the SDE's sampling eps; 0 runs to t = 0 */
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_EPS, 0.0));
    OK(scoresde_sampler_sample(s, m, NULL, 4, 2, 1, 0, x, &exact));
    ck_assert(exact.t_final == 0.0);
    for (int e = 0; e < 8; e++)
        ck_assert(isfinite(x[e]));
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_EPS, NAN));
    /* ... but a grid in sigma/alpha cannot reach sigma(0) = 0: EINVAL naming EPS */
    scoresde_sampler *dpm = NULL;
    OK(scoresde_sampler_create(&dpm, SCORESDE_SAMPLER_DPMPP));
    OK(scoresde_sampler_set_double(dpm, SCORESDE_SAMPLER_EPS, 0.0));
    ck_assert_int_eq(scoresde_sampler_sample(dpm, m, NULL, 1, 2, 1, 0, x, NULL), SCORESDE_EINVAL);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "EPS"));
    scoresde_sampler_free(dpm);
    /* NaN/Inf in the state: named sample, step and time */
    scoresde_model *bad = NULL;
    OK(scoresde_model_create_score_fn(&bad, sde, 2, huge_score, NULL, NULL));
    ck_assert_int_eq(scoresde_sampler_sample(s, bad, NULL, 3, 2, 1, 5, x, NULL), SCORESDE_ENUMERIC);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "sample 5"));
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "step 1"));
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "t = "));
    /* a custom SDE without a marginal cannot use the ratio-form predictors */
    scoresde_sampler *rd = pc_sampler(SCORESDE_SAMPLER_PREDICTOR_REVERSE_DIFFUSION,
                                      SCORESDE_SAMPLER_CORRECTOR_NONE, 5);
    scoresde_sampler_free(rd);
    scoresde_model_free(bad);
    scoresde_sde_free(sde);
    scoresde_sampler_free(s);
    scoresde_model_free(m);
}
END_TEST

/* ------------------------------------------------------------ ODE orders */

/* Single Gaussian N(mu, s2 I) under VP: the exact probability-flow map from
 * time u to t is x_t - alpha_t mu = sqrt(c_t / c_u) (x_u - alpha_u mu),
 * c = alpha^2 s2 + sigma^2 (docs/math.md section 2). */
static const double g_mu[2] = {1.0, -0.5}, g_var[2] = {0.25, 0.25}, g_w[1] = {1.0};

static scoresde_model *gauss_model(scoresde_sde **sde_out)
{
    scoresde_sde *sde = NULL;
    OK(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP));
    scoresde_model *m = NULL;
    OK(scoresde_model_create_gmm(&m, sde, 1, 2, g_w, g_mu, g_var));
    *sde_out = sde;
    return m;
}

static void gauss_flow(const scoresde_sde *sde, const double *xu, double u, double t, double *xt)
{
    double au, su, at, st;
    OK(scoresde_sde_marginal(sde, &u, 1, &au, &su, NULL, NULL));
    OK(scoresde_sde_marginal(sde, &t, 1, &at, &st, NULL, NULL));
    double f = sqrt((at * at * 0.25 + st * st) / (au * au * 0.25 + su * su));
    for (int j = 0; j < 2; j++)
        xt[j] = at * g_mu[j] + f * (xu[j] - au * g_mu[j]);
}

static double ode_error(const scoresde_model *m, const scoresde_sde *sde, int solver, int64_t N,
                        int grid)
{
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, SCORESDE_SAMPLER_ODE));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_SOLVER, solver));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, N));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_GRID, grid));
    double x[8], want[2], err = 0.0;
    OK(scoresde_sampler_sample(s, m, NULL, 4, 2, 3, 0, x, NULL));
    double xT[8];
    OK(scoresde_sde_prior_sample(sde, 4, 2, 3, 0, 0, xT));
    for (int i = 0; i < 4; i++) {
        gauss_flow(sde, xT + 2 * i, 1.0, 1e-3, want);
        for (int j = 0; j < 2; j++)
            err = fmax(err, fabs(x[2 * i + j] - want[j]));
    }
    scoresde_sampler_free(s);
    return err;
}

START_TEST(test_ode_orders)
{
    scoresde_sde *sde = NULL;
    scoresde_model *m = gauss_model(&sde);
    static const struct {
        int solver;
        int64_t N;
        double order;
    } c[] = {{SCORESDE_SAMPLER_SOLVER_EULER, 200, 1},
             {SCORESDE_SAMPLER_SOLVER_HEUN, 50, 2},
             {SCORESDE_SAMPLER_SOLVER_RK4, 20, 4}};
    for (int g = SCORESDE_SAMPLER_GRID_UNIFORM_T; g <= SCORESDE_SAMPLER_GRID_LOGSNR; g += 2)
        for (int q = 0; q < 3; q++) {
            double e1 = ode_error(m, sde, c[q].solver, c[q].N, g);
            double e2 = ode_error(m, sde, c[q].solver, 2 * c[q].N, g);
            double slope = log(e1 / e2) / log(2.0);
            ck_assert_msg(fabs(slope - c[q].order) < 0.3,
                          "solver %d grid %d: errors %g, %g, slope %g", c[q].solver, g, e1, e2,
                          slope);
        }
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* Error at eps of a deterministic method against the exact flow (DPMPP:
 * with the UniC corrector if unipc). */
static double method_error(const scoresde_model *m, const scoresde_sde *sde, int method,
                           int64_t order, int unipc, int64_t N)
{
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, method));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, N));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_DENOISE, 0));
    if (method == SCORESDE_SAMPLER_DPMPP) {
        OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_ORDER, order));
        OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_UNIPC, unipc));
        /* On the uniform log-SNR grid 3M converges at order 4 on this
         * Gaussian (measured), a superconvergence of the problem; the Karras
         * grid shows the nominal orders. */
        OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_GRID, SCORESDE_SAMPLER_GRID_KARRAS));
        /* The formulas' orders: no lower orders on the last steps. The
         * default (LOWER_ORDER_FINAL = 2) takes the last ORDER - 1 steps at
         * ORDER - 1, which keeps the predictors' order but costs UniPC one
         * on its uncorrected last step (measured: slope 3.61 for UniPC 3M
         * here) */
        OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_LOWER_ORDER_FINAL, 0));
    }
    double x[8], xT[8], want[2], err = 0.0;
    scoresde_sampler_stats st = {.struct_size = sizeof st};
    OK(scoresde_sampler_sample(s, m, NULL, 4, 2, 3, 0, x, &st));
    ck_assert_uint_eq(st.nfe, (uint64_t)(method == SCORESDE_SAMPLER_EDM ? 2 * N
                                         : order == 3                   ? N + 1
                                                                        : N));
    OK(scoresde_sde_prior_sample(sde, 4, 2, 3, 0, 0, xT));
    for (int i = 0; i < 4; i++) {
        gauss_flow(sde, xT + 2 * i, 1.0, 1e-3, want);
        for (int j = 0; j < 2; j++)
            err = fmax(err, fabs(x[2 * i + j] - want[j]));
    }
    scoresde_sampler_free(s);
    return err;
}

/* DPM-Solver++ 1, 2M, 3M and EDM's Heun on the Karras grid: slopes within
 * 0.3 of 1, 2, 3, 2. With the UniC corrector (UNIPC = 1, same NFE, checked
 * in method_error) DPM-Solver++ 1, 2M, 3M gain one order: 2, 3, 4
 * (measured: slopes 1.97, 3.04, 4.00 between N = 40 and 80; without UniC
 * 0.97, 2.08, 3.08 at those N). */
START_TEST(test_fast_sampler_orders)
{
    scoresde_sde *sde = NULL;
    scoresde_model *m = gauss_model(&sde);
    static const struct {
        int method;
        int64_t order, N;
        double nominal;
    } c[] = {{SCORESDE_SAMPLER_DPMPP, 1, 40, 1},
             {SCORESDE_SAMPLER_DPMPP, 2, 40, 2},
             {SCORESDE_SAMPLER_DPMPP, 3, 80, 3},
             {SCORESDE_SAMPLER_EDM, 0, 20, 2}};
    for (int q = 0; q < 7; q++) {
        /* cases 4..6: DPM-Solver++ of order q - 3 with UniC, nominal q - 2 */
        int uc = q >= 4;
        int method = uc ? SCORESDE_SAMPLER_DPMPP : c[q].method;
        int64_t order = uc ? q - 3 : c[q].order, N = uc ? 40 : c[q].N;
        double nominal = uc ? q - 2 : c[q].nominal;
        double e1 = method_error(m, sde, method, order, uc, N);
        double e2 = method_error(m, sde, method, order, uc, 2 * N);
        double slope = log(e1 / e2) / log(2.0);
        ck_assert_msg(fabs(slope - nominal) < 0.3, "case %d: errors %g, %g, slope %g", q, e1, e2,
                      slope);
    }
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* UniC on short runs (lower orders on the last steps when N < 15): the NFE
 * is that without UniC; a run with no corrected step (N = 1: the last step
 * is never corrected; N = 2 with ORDER = 3: nor is 3M's 2S first step) is
 * bit-identical to DPM-Solver++
 * alone; every other short run changes and stays finite. */
START_TEST(test_unipc_short)
{
    scoresde_sde *sde = NULL;
    scoresde_model *m = gauss_model(&sde);
    for (int64_t order = 1; order <= 3; order++)
        for (int64_t N = 1; N <= 6; N++) {
            double x[2][8];
            uint64_t nfe[2];
            for (int uc = 0; uc < 2; uc++) {
                scoresde_sampler *s = NULL;
                OK(scoresde_sampler_create(&s, SCORESDE_SAMPLER_DPMPP));
                OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_ORDER, order));
                OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, N));
                OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_UNIPC, uc));
                scoresde_sampler_stats st = {.struct_size = sizeof st};
                OK(scoresde_sampler_sample(s, m, NULL, 4, 2, 3, 0, x[uc], &st));
                nfe[uc] = st.nfe;
                scoresde_sampler_free(s);
            }
            ck_assert_uint_eq(nfe[0], nfe[1]);
            int same = memcmp(x[0], x[1], sizeof x[0]) == 0;
            int want_same = N == 1 || (N == 2 && order == 3);
            ck_assert_msg(same == want_same, "order %d N %d: same %d", (int)order, (int)N, same);
            for (int e = 0; e < 8; e++)
                ck_assert(isfinite(x[1][e]));
        }
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* EDM with churn and DPM-Solver++ with final denoising sample the mixture. */
START_TEST(test_fast_sampler_mixture)
{
    int sdes[2] = {SCORESDE_SDE_VE, SCORESDE_SDE_VP};
    scoresde_model *m = mixture_model(sdes[_i % 2]);
    scoresde_sampler *s = NULL;
    if (_i < 2) {
        OK(scoresde_sampler_create(&s, SCORESDE_SAMPLER_EDM));
        OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 60));
        OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_S_CHURN, 40));
    } else {
        OK(scoresde_sampler_create(&s, SCORESDE_SAMPLER_DPMPP));
        OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_ORDER, 3));
        OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 40));
    }
    size_t n = 2000;
    double *x = malloc(2 * n * sizeof *x);
    OK(scoresde_sampler_sample(s, m, NULL, n, 2, 5, 0, x, NULL));
    char what[32];
    snprintf(what, sizeof what, "fast case %d", _i);
    check_mixture(x, n, 0, what);
    free(x);
    scoresde_sampler_free(s);
    scoresde_model_free(m);
}
END_TEST

/* Euler-Maruyama (the reverse SDE, LAM = 1) has weak order 1: on the
 * Ornstein-Uhlenbeck SDE (T = 8) with data N((20, -20), 0.25 I), the errors
 * of the sample mean and variance at eps halve with the step (slopes within
 * 0.3 of 1 between N = 80 and 160). The mean error (about 0.1 at N = 160,
 * proportional to |mu|) and the variance error (about 0.05) are 30 to 70
 * standard errors of their Monte Carlo estimates (0.0016, 0.0011 with 2 x
 * 40000 values), so the slopes are measured to about 0.05 (measured:
 * 1.12 for the mean, 1.18 for the variance). */
START_TEST(test_em_weak_order)
{
    static const double mu[2] = {20.0, -20.0}, v[2] = {0.25, 0.25}, w1[1] = {1.0};
    scoresde_sde *sde = NULL;
    OK(scoresde_sde_create_default(&sde, SCORESDE_SDE_OU));
    scoresde_model *m = NULL;
    OK(scoresde_model_create_gmm(&m, sde, 1, 2, w1, mu, v));
    double eps = scoresde_sde_sampling_eps(sde), a, sg;
    OK(scoresde_sde_marginal(sde, &eps, 1, &a, &sg, NULL, NULL));
    double var_exact = a * a * 0.25 + sg * sg;
    size_t n = 40000;
    double *x = malloc(2 * n * sizeof *x), em[2], ev[2];
    for (int q = 0; q < 2; q++) {
        scoresde_sampler *s = pc_sampler(SCORESDE_SAMPLER_PREDICTOR_EULER_MARUYAMA,
                                         SCORESDE_SAMPLER_CORRECTOR_NONE, 80 << q);
        OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_DENOISE, 0));
        OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BLOCK, 1024));
        OK(scoresde_sampler_sample(s, m, NULL, n, 2, 31 + (uint64_t)q, 0, x, NULL));
        double me = 0.0, ve = 0.0;
        for (size_t e = 0; e < 2 * n; e++) {
            double d = x[e] - a * mu[e % 2];
            me += (e % 2 == 0 ? d : -d) / (double)(2 * n); /* error along mu's direction */
            ve += d * d / (double)(2 * n);
        }
        em[q] = fabs(me);
        ev[q] = fabs(ve - me * me - var_exact);
        scoresde_sampler_free(s);
    }
    double sm = log(em[0] / em[1]) / log(2.0), sv = log(ev[0] / ev[1]) / log(2.0);
    ck_assert_msg(fabs(sm - 1.0) < 0.3, "mean errors %g, %g: slope %g", em[0], em[1], sm);
    ck_assert_msg(fabs(sv - 1.0) < 0.3, "variance errors %g, %g: slope %g", ev[0], ev[1], sv);
    free(x);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* An adaptive sampler's limits, on one sample of `model` into x (2 values):
 * RTOL = ATOL = 0 is refused (EINVAL); MAX_STEPS = 3 at RTOL = 1e-10 runs
 * out (ENUMERIC naming MAX_STEPS). Leaves RTOL = 1e-10, ATOL = 0 and
 * MAX_STEPS back at its default. */
static void assert_adaptive_limits(scoresde_sampler *s, const scoresde_model *model,
                                   uint64_t seed, double *x)
{
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_ATOL, 0));
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_RTOL, 0));
    ck_assert_int_eq(scoresde_sampler_sample(s, model, NULL, 1, 2, seed, 0, x, NULL),
                     SCORESDE_EINVAL);
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_RTOL, 1e-10));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_MAX_STEPS, 3));
    ck_assert_int_eq(scoresde_sampler_sample(s, model, NULL, 1, 2, seed, 0, x, NULL),
                     SCORESDE_ENUMERIC);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "MAX_STEPS"));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_MAX_STEPS, 100000));
}

START_TEST(test_dopri_tolerance)
{
    scoresde_sde *sde = NULL;
    scoresde_model *m = gauss_model(&sde);
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, SCORESDE_SAMPLER_ODE));
    double tols[3] = {1e-6, 1e-8, 1e-10};
    for (int q = 0; q < 3; q++) {
        OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_RTOL, tols[q]));
        OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_ATOL, tols[q]));
        double x[16], xT[16], want[2], err = 0.0;
        scoresde_sampler_stats st = {.struct_size = sizeof st};
        OK(scoresde_sampler_sample(s, m, NULL, 8, 2, 5, 0, x, &st));
        OK(scoresde_sde_prior_sample(sde, 8, 2, 5, 0, 0, xT));
        for (int i = 0; i < 8; i++) {
            gauss_flow(sde, xT + 2 * i, 1.0, 1e-3, want);
            for (int j = 0; j < 2; j++)
                err = fmax(err, fabs(x[2 * i + j] - want[j]));
        }
        /* global error within 10x the tolerance on an O(1) solution (measured:
         * 0.7x, 0.4x, 0.6x; at 1e-4 the error is 23x, so loose tolerances are
         * not claimed) */
        ck_assert_msg(err < 10 * tols[q], "tol %g: error %g (nfe %llu)", tols[q], err,
                      (unsigned long long)st.nfe);
        ck_assert(st.t_final == 1e-3);
        ck_assert(st.accepted > 0 && st.nfe >= 6 * (st.accepted / 8));
    }
    /* negative tolerance, both zero */
    ck_assert_int_eq(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_ATOL, -1), SCORESDE_EINVAL);
    double x[2];
    assert_adaptive_limits(s, m, 5, x);
    /* the minimum step */
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_H_MIN, 0.5));
    ck_assert_int_eq(scoresde_sampler_sample(s, m, NULL, 1, 2, 5, 0, x, NULL), SCORESDE_ENUMERIC);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "H_MIN"));
    /* H_INIT = NaN (the default) is Hairer's automatic first step, which
     * costs one evaluation more than a given one: for one sample
     * nfe = 2 + 6 (accepted + rejected), against 1 + 6 (...) with H_INIT set.
     * H_MIN = 0 means no minimum. */
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_H_MIN, 0.0));
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_RTOL, 1e-6));
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_ATOL, 1e-6));
    scoresde_sampler_stats st = {.struct_size = sizeof st};
    OK(scoresde_sampler_sample(s, m, NULL, 1, 2, 5, 0, x, &st));
    ck_assert_uint_eq(st.nfe, 2 + 6 * (st.accepted + st.rejected));
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_H_INIT, 1e-2));
    OK(scoresde_sampler_sample(s, m, NULL, 1, 2, 5, 0, x, &st));
    ck_assert_uint_eq(st.nfe, 1 + 6 * (st.accepted + st.rejected));
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_H_INIT, NAN));
    OK(scoresde_sampler_sample(s, m, NULL, 1, 2, 5, 0, x, &st));
    ck_assert_uint_eq(st.nfe, 2 + 6 * (st.accepted + st.rejected));
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* Adaptive DPM-Solver++ (ADAPTIVE = 1) on the single Gaussian against its
 * exact flow: the global error follows the tolerance, and error against the
 * mean NFE falls at the pair's order 3 (a third-order method needs
 * NFE ~ err^(-1/3)). Per-sample steps keep sample i independent of BLOCK
 * and THREADS, bit for bit. */
static double adaptive_error(const scoresde_model *m, const scoresde_sde *sde, double tol,
                             double *mean_nfe)
{
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, SCORESDE_SAMPLER_DPMPP));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_ADAPTIVE, 1));
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_RTOL, tol));
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_ATOL, tol));
    double x[16], xT[16], want[2], err = 0.0;
    scoresde_sampler_stats st = {.struct_size = sizeof st};
    OK(scoresde_sampler_sample(s, m, NULL, 8, 2, 5, 0, x, &st));
    OK(scoresde_sde_prior_sample(sde, 8, 2, 5, 0, 0, xT));
    for (int i = 0; i < 8; i++) {
        gauss_flow(sde, xT + 2 * i, 1.0, 1e-3, want);
        for (int j = 0; j < 2; j++)
            err = fmax(err, fabs(x[2 * i + j] - want[j]));
    }
    ck_assert(st.t_final == 1e-3);
    ck_assert(st.nfe >= 3 * ((st.accepted + st.rejected) / 8));
    *mean_nfe = 3.0 * (double)(st.accepted + st.rejected) / 8.0;
    scoresde_sampler_free(s);
    return err;
}

START_TEST(test_dpm_adaptive)
{
    scoresde_sde *sde = NULL;
    scoresde_model *m = gauss_model(&sde);
    double n1, n2, e1 = adaptive_error(m, sde, 1e-5, &n1), e2 = adaptive_error(m, sde, 1e-8, &n2);
    double slope = log(e1 / e2) / log(n2 / n1);
    /* measured: errors 5.5e-6 and 4.9e-9 (0.55x, 0.49x the tolerance) at mean
     * NFE 165 and 1235, slope 3.48 (a little above 3, as 3M's order 4 on
     * this Gaussian with the log-SNR grid); an order-2 pair would give 2 */
    ck_assert_msg(e1 < 10 * 1e-5 && e2 < 10 * 1e-8, "errors %g, %g", e1, e2);
    ck_assert_msg(slope > 2.6 && slope < 4.0, "errors %g, %g at NFE %g, %g: slope %g", e1, e2,
                  n1, n2, slope);
    /* reproducibility: BLOCK and THREADS change nothing */
    scoresde_model *mix = mixture_model(SCORESDE_SDE_VP);
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, SCORESDE_SAMPLER_DPMPP));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_ADAPTIVE, 1));
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_RTOL, 1e-3));
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_ATOL, 1e-3));
    static double a[120], b[120];
    OK(scoresde_sampler_sample(s, mix, NULL, 60, 2, 9, 0, a, NULL));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BLOCK, 7));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_THREADS, 2));
    OK(scoresde_sampler_sample(s, mix, NULL, 60, 2, 9, 0, b, NULL));
    ck_assert(memcmp(a, b, sizeof a) == 0);
    /* tolerances both zero; the step limit */
    assert_adaptive_limits(s, mix, 9, a);
    /* H_INIT = NaN is Lu et al.'s 0.05 in lambda: the same bits as 0.05 set
     * explicitly, other bits for another first step */
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_RTOL, 1e-3));
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_ATOL, 1e-3));
    OK(scoresde_sampler_sample(s, mix, NULL, 60, 2, 9, 0, a, NULL));
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_H_INIT, 0.05));
    OK(scoresde_sampler_sample(s, mix, NULL, 60, 2, 9, 0, b, NULL));
    ck_assert(memcmp(a, b, sizeof a) == 0);
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_H_INIT, 0.5));
    OK(scoresde_sampler_sample(s, mix, NULL, 60, 2, 9, 0, b, NULL));
    ck_assert(memcmp(a, b, sizeof a) != 0);
    scoresde_sampler_free(s);
    scoresde_model_free(mix);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

START_TEST(test_encode_decode)
{
    scoresde_model *m = mixture_model(SCORESDE_SDE_VP);
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, SCORESDE_SAMPLER_ODE));
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_RTOL, 1e-10));
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_ATOL, 1e-10));
    size_t n = 20;
    double x0[40], t[20], z[40], back[40];
    for (size_t i = 0; i < n; i++)
        t[i] = 1e-3;
    OK(scoresde_model_sample(m, t, n, 2, 11, 0, x0));
    scoresde_sampler_stats st = {.struct_size = sizeof st};
    OK(scoresde_sampler_encode(s, m, x0, n, 2, z, &st));
    ck_assert(st.t_final == 1.0);
    OK(scoresde_sampler_sample(s, m, z, n, 2, 0, 0, back, NULL));
    for (size_t e = 0; e < 2 * n; e++)
        ck_assert_msg(fabs(back[e] - x0[e]) < 1e-6, "element %zu: %g vs %g", e, back[e], x0[e]);
    /* fixed-step RK4 encodes on the reversed grid */
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_SOLVER, SCORESDE_SAMPLER_SOLVER_RK4));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 400));
    OK(scoresde_sampler_encode(s, m, x0, n, 2, z, NULL));
    OK(scoresde_sampler_sample(s, m, z, n, 2, 0, 0, back, NULL));
    for (size_t e = 0; e < 2 * n; e++)
        ck_assert_msg(fabs(back[e] - x0[e]) < 1e-6, "RK4 element %zu: %g vs %g", e, back[e],
                      x0[e]);
    scoresde_sampler *pc = NULL;
    OK(scoresde_sampler_create(&pc, SCORESDE_SAMPLER_PC));
    ck_assert_int_eq(scoresde_sampler_encode(pc, m, x0, n, 2, z, NULL), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_sampler_encode(s, m, x0, n, 1, z, NULL), SCORESDE_EDIM);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "D (1)"));
    ck_assert_int_eq(scoresde_sampler_encode(s, m, x0, n, 0, z, NULL), SCORESDE_EINVAL);
    scoresde_sampler_free(pc);
    scoresde_sampler_free(s);
    scoresde_model_free(m);
}
END_TEST

/* ------------------------------------------------------------ Langevin */

static int mixture_score_t0(const double *x, const double *t, size_t n, size_t D, double *out,
                            void *user)
{
    return scoresde_model_score(user, x, t, n, D, out) != SCORESDE_OK;
}

/* Exact samples of the mixture stay distributed as the mixture under 400
 * steps of delta = 1e-3 (the unadjusted bias, delta / 2 on a variance, is
 * 5e-4, below the 5-sigma bounds), and actually move. */
START_TEST(test_langevin_dynamics)
{
    scoresde_model *m = mixture_model(SCORESDE_SDE_VP);
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, SCORESDE_SAMPLER_PC));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 400));
    size_t n = 2000;
    double *x0 = malloc(2 * n * sizeof *x0), *x = malloc(2 * n * sizeof *x);
    double *t = calloc(n, sizeof *t);
    OK(scoresde_model_sample(m, t, n, 2, 8, 0, x0));
    scoresde_sampler_stats st = {.struct_size = sizeof st};
    OK(scoresde_sampler_langevin(s, mixture_score_t0, m, x0, n, 2, 9, 0, x, &st));
    ck_assert_uint_eq(st.nfe, 400);
    double moved = 0.0;
    for (size_t e = 0; e < 2 * n; e++)
        moved += fabs(x[e] - x0[e]) / (double)(2 * n);
    ck_assert_msg(moved > 0.3, "mean displacement %g", moved); /* ~ sqrt(2 x 0.4) */
    check_mixture(x, n, 0, "Langevin");
    ck_assert_int_eq(scoresde_sampler_langevin(s, NULL, m, x0, n, 2, 9, 0, x, NULL),
                     SCORESDE_EINVAL);
    free(x0);
    free(x);
    free(t);
    scoresde_sampler_free(s);
    scoresde_model_free(m);
}
END_TEST

/* ------------------------------------------------------------ guidance */

typedef struct two_models {
    const scoresde_model *a, *b;
} two_models;

/* grad = s_B - s_A: guiding model A by it gives model B's score exactly. */
static int score_difference(const double *x, const double *t, size_t n, size_t D, double *grad,
                            void *user)
{
    const two_models *tm = user;
    double *sa = malloc(n * D * sizeof *sa);
    if (sa == NULL)
        return 1;
    int rc = scoresde_model_score(tm->b, x, t, n, D, grad) != SCORESDE_OK ||
             scoresde_model_score(tm->a, x, t, n, D, sa) != SCORESDE_OK;
    for (size_t e = 0; e < n * D; e++)
        grad[e] -= sa[e];
    free(sa);
    return rc;
}

static int failing_guidance(const double *x, const double *t, size_t n, size_t D, double *grad,
                            void *user)
{
    return 1;
}

/* A single Gaussian guided by the exact score difference samples the
 * mixture, with every method (PC, adaptive ODE, EDM with churn, DPM 3M). */
START_TEST(test_guidance)
{
    scoresde_sde *sde = NULL;
    OK(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP));
    scoresde_model *a = NULL, *b = mixture_model(SCORESDE_SDE_VP);
    double w1[1] = {1.0};
    OK(scoresde_model_create_gmm(&a, sde, 1, 2, w1, mix_mu + 2, mix_var + 2));
    two_models tm = {a, b};
    int methods[6] = {SCORESDE_SAMPLER_PC,    SCORESDE_SAMPLER_ODE,   SCORESDE_SAMPLER_EDM,
                      SCORESDE_SAMPLER_DPMPP, SCORESDE_SAMPLER_DPMPP, SCORESDE_SAMPLER_DPMPP};
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, methods[_i]));
    if (_i == 0) {
        OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 300));
        OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BATCH_NORMS, 1));
    } else if (_i == 2) {
        OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 60));
        OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_S_CHURN, 40));
    } else if (_i == 3 || _i == 5) { /* 5: with UniC */
        OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_ORDER, 3));
        OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 40));
        OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_UNIPC, _i == 5));
    } else if (_i == 4) { /* adaptive: guidance per sample (per-sample times) */
        OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_ADAPTIVE, 1));
        OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_RTOL, 1e-3));
        OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_ATOL, 1e-3));
    }
    size_t n = 2000;
    double *x = malloc(2 * n * sizeof *x), *y = malloc(2 * n * sizeof *y);
    /* scale 0 changes nothing, bit for bit */
    OK(scoresde_sampler_sample(s, a, NULL, 50, 2, 6, 0, x, NULL));
    OK(scoresde_sampler_set_guidance(s, score_difference, &tm, 0.0));
    OK(scoresde_sampler_sample(s, a, NULL, 50, 2, 6, 0, y, NULL));
    ck_assert(memcmp(x, y, 100 * sizeof(double)) == 0);
    OK(scoresde_sampler_set_guidance(s, score_difference, &tm, 1.0));
    OK(scoresde_sampler_sample(s, a, NULL, n, 2, 6, 0, x, NULL));
    char what[32];
    snprintf(what, sizeof what, "guided method %d", methods[_i]);
    check_mixture(x, n, 0, what);
    OK(scoresde_sampler_set_guidance(s, failing_guidance, NULL, 1.0));
    ck_assert_int_eq(scoresde_sampler_sample(s, a, NULL, 4, 2, 6, 0, x, NULL), SCORESDE_ECALLBACK);
    ck_assert_int_eq(scoresde_sampler_set_guidance(s, failing_guidance, NULL, NAN),
                     SCORESDE_EINVAL);
    free(x);
    free(y);
    scoresde_sampler_free(s);
    scoresde_model_free(a);
    scoresde_model_free(b);
    scoresde_sde_free(sde);
}
END_TEST

/* ------------------------------------------------------------ inpainting */

/* Mixture 0.5 N((-1, -2), diag(1, 0.3)) + 0.5 N((1, 2), diag(1, 0.3)) with
 * x_0 known = 0.2: the exact x_1 | x_0 is 0.5 N(-2, 0.3) + 0.5 N(2, 0.3)
 * reweighted by N(0.2; -+1, 1), mass 0.599 above 0. score_sde's replacement
 * method is not exact: it gives 0.536 (VP) and 0.532 (VE) at n = 2000, a
 * bias documented in sampler.h. What it must get right, and what is tested:
 * the known coordinate is exactly 0.2; within each mode the free coordinate
 * is N(-+2, 0.3) (mean and variance within 5 standard errors, KS
 * sqrt(n_k) D < 2.7); the mass above 0 lies between the unconditional 0.5
 * (minus 5 standard errors) and the exact 0.599 (plus 5). */
START_TEST(test_inpainting)
{
    scoresde_sde *sde = NULL;
    OK(scoresde_sde_create_default(&sde, _i == 0 ? SCORESDE_SDE_VP : SCORESDE_SDE_VE));
    const double w[2] = {0.5, 0.5}, mu[4] = {-1, -2, 1, 2}, var[4] = {1, 0.3, 1, 0.3};
    scoresde_model *m = NULL;
    OK(scoresde_model_create_gmm(&m, sde, 2, 2, w, mu, var));
    scoresde_sampler *s = pc_sampler(SCORESDE_SAMPLER_PREDICTOR_REVERSE_DIFFUSION,
                                     SCORESDE_SAMPLER_CORRECTOR_LANGEVIN, 500);
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BATCH_NORMS, 1));
    size_t n = 2000;
    double *y = malloc(2 * n * sizeof *y), *x = malloc(2 * n * sizeof *x);
    for (size_t i = 0; i < n; i++) {
        y[2 * i] = 0.2;
        y[2 * i + 1] = NAN; /* not read: unknown */
    }
    const unsigned char mask[2] = {1, 0};
    OK(scoresde_sampler_inpaint(s, m, y, mask, n, 2, 12, 0, x, NULL));
    double l0 = exp(-0.5 * 1.2 * 1.2), l1 = exp(-0.5 * 0.8 * 0.8);
    double p1 = l1 / (l0 + l1), se = sqrt(0.25 / (double)n);
    double *f = malloc(n * sizeof *f);
    size_t above = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert(x[2 * i] == 0.2);
        f[i] = x[2 * i + 1];
        above += f[i] > 0;
    }
    double mass = (double)above / (double)n;
    ck_assert_msg(mass > 0.5 - 5 * se && mass < p1 + 5 * se, "mass above 0: %g (exact %g)", mass,
                  p1);
    qsort(f, n, sizeof *f, cmp_double);
    size_t lo = n - above; /* f[0..lo) below 0, f[lo..n) above */
    for (int k = 0; k < 2; k++) {
        double *g = k == 0 ? f : f + lo, c = k == 0 ? -2.0 : 2.0;
        size_t nk = k == 0 ? lo : above;
        double mean, v, dmax = 0.0;
        test_moments(g, nk, 1, 0, &mean, &v);
        ck_assert_msg(fabs(mean - c) < 5 * sqrt(0.3 / (double)nk), "mode %d mean %g", k, mean);
        ck_assert_msg(fabs(v - 0.3) < 5 * 0.3 * sqrt(2.0 / (double)(nk - 1)), "mode %d var %g", k,
                      v);
        for (size_t i = 0; i < nk; i++) {
            double F = test_normal_cdf((g[i] - c) / sqrt(0.3));
            dmax = fmax(dmax, fmax((double)(i + 1) / (double)nk - F, F - (double)i / (double)nk));
        }
        ck_assert_msg(sqrt((double)nk) * dmax < 2.7, "mode %d KS %g", k, sqrt((double)nk) * dmax);
    }
    /* bad input */
    ck_assert_int_eq(scoresde_sampler_inpaint(s, m, y, mask, n, 3, 12, 0, x, NULL), SCORESDE_EDIM);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "D (3)"));
    ck_assert_int_eq(scoresde_sampler_inpaint(s, m, y, NULL, n, 2, 12, 0, x, NULL),
                     SCORESDE_EINVAL);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "mask"));
    y[0] = INFINITY;
    ck_assert_int_eq(scoresde_sampler_inpaint(s, m, y, mask, n, 2, 12, 0, x, NULL),
                     SCORESDE_EINVAL);
    scoresde_sampler *ode = NULL;
    OK(scoresde_sampler_create(&ode, SCORESDE_SAMPLER_ODE));
    ck_assert_int_eq(scoresde_sampler_inpaint(ode, m, y, mask, n, 2, 12, 0, x, NULL),
                     SCORESDE_EINVAL);
    scoresde_sampler_free(ode);
    free(f);
    free(x);
    free(y);
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* The replacement noise of inpainting comes from the INPAINT purpose: with
 * CORRECTOR_STEPS = 0 and STEPS = 1, the start is draw d = 1, and the first score
 * evaluation (the predictor's, at t_0 = T) sees the known coordinate
 * alpha(T) y + sigma(T) z with z at offset OFFSET(INPAINT, d D + j) of the
 * sample's stream (sampler.h). */
typedef struct first_call {
    int calls;
    double x[8];
} first_call;

static int record_first(const double *x, const double *t, size_t n, size_t D, double *out,
                        void *user)
{
    first_call *fc = user;
    if (fc->calls++ == 0)
        memcpy(fc->x, x, n * D * sizeof *x);
    for (size_t e = 0; e < n * D; e++)
        out[e] = 0.0;
    return 0;
}

START_TEST(test_inpainting_noise)
{
    scoresde_sde *sde = NULL;
    OK(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP));
    first_call fc = {0};
    scoresde_model *m = NULL;
    OK(scoresde_model_create_score_fn(&m, sde, 2, record_first, NULL, &fc));
    scoresde_sampler *s =
        pc_sampler(SCORESDE_SAMPLER_PREDICTOR_EULER_MARUYAMA, SCORESDE_SAMPLER_CORRECTOR_NONE, 1);
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_CORRECTOR_STEPS, 0));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BLOCK, 4));
    const unsigned char mask[2] = {0, 1};
    const double y[8] = {0, 0.5, 0, -1, 0, 2, 0, 0.25};
    double x[8], prior[8], T = 1.0, a, sg;
    OK(scoresde_sampler_inpaint(s, m, y, mask, 4, 2, 99, 10, x, NULL));
    ck_assert_int_eq(fc.calls, 2); /* the predictor and the final denoising */
    OK(scoresde_sde_marginal(sde, &T, 1, &a, &sg, NULL, NULL));
    OK(scoresde_sde_prior_sample(sde, 4, 2, 99, 10, 0, prior));
    for (uint64_t i = 0; i < 4; i++) {
        double z;
        OK(scoresde_rng_normal(99, 10 + i, SCORESDE_RNG_OFFSET(SCORESDE_RNG_INPAINT, 1 * 2 + 1), 1,
                               &z));
        ck_assert_msg(fabs(fc.x[2 * i + 1] - (a * y[2 * i + 1] + sg * z)) < 1e-15,
                      "sample %d: %.17g", (int)i, fc.x[2 * i + 1]);
        ck_assert(fc.x[2 * i] == prior[2 * i]);  /* the free coordinate: the prior draw */
        ck_assert(x[2 * i + 1] == y[2 * i + 1]); /* known coordinates end at y exactly */
    }
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* Exact conditional inpainting: the replacement method plus the guidance
 * term grad_{x_t} ln p(y | x_t) samples x_free | x_0,known = y exactly.
 * Under p_t(x_t | y) the known coordinates x_t,known = alpha y + sigma z are
 * independent of x_t,free given y (the noise is diagonal), so fresh
 * replacement is consistent, and s + grad ln p(y | x_t) = grad ln p_t(x_t | y)
 * is the conditional score. For a diagonal Gaussian mixture, with per
 * coordinate s_kj = alpha^2 v_kj + sigma^2 and the log-densities
 * P_k = ln w_k + ln N(x_t; alpha mu_k, diag s_k),
 * L_k = P_k + sum_{j known} ln N(y_j; m_kj, c_kj) where the posterior of
 * x_0,j given x_t and component k is N(m_kj, c_kj),
 * m_kj = mu_kj + (alpha v_kj / s_kj)(x_tj - alpha mu_kj), c_kj = v_kj sigma^2 / s_kj,
 * ln p(y | x_t) = LSE_k L_k - LSE_k P_k, whose gradient is, with
 * r = softmax(L), q = softmax(P) and g_kj = -(x_tj - alpha mu_kj) / s_kj,
 *   sum_k (r_k - q_k) g_kj  - [j known] sum_k r_k (m_kj - y_j) alpha / sigma^2
 * (d m_kj / d x_tj = alpha v_kj / s_kj, and (alpha v_kj / s_kj) / c_kj = alpha / sigma^2).
 * The test checks this gradient against central differences of ln p(y | x_t). */
typedef struct cond_guide {
    const scoresde_sde *sde;
    const double *w, *mu, *var; /* K = 2 components in D = 2 */
    const unsigned char *mask;
    const double *y; /* n x D, read at the known coordinates */
} cond_guide;

/* ln p(y | x_t) of one sample, and its gradient into grad (may be NULL). */
static double cond_logp(const cond_guide *cg, const double *x, const double *y, double a,
                        double sg, double *grad)
{
    double P[2], L[2], m[2][2];
    for (int k = 0; k < 2; k++) {
        P[k] = log(cg->w[k]);
        L[k] = 0.0;
        for (int j = 0; j < 2; j++) {
            double v = cg->var[2 * k + j], s = a * a * v + sg * sg, d = x[j] - a * cg->mu[2 * k + j];
            P[k] += -0.5 * (d * d / s + log(2 * 3.14159265358979323846 * s));
            m[k][j] = cg->mu[2 * k + j] + a * v / s * d;
            if (cg->mask[j]) {
                double c = v * sg * sg / s, e = y[j] - m[k][j];
                L[k] += -0.5 * (e * e / c + log(2 * 3.14159265358979323846 * c));
            }
        }
        L[k] += P[k];
    }
    double lm = fmax(L[0], L[1]), pm = fmax(P[0], P[1]);
    double ls = lm + log(exp(L[0] - lm) + exp(L[1] - lm));
    double ps = pm + log(exp(P[0] - pm) + exp(P[1] - pm));
    if (grad != NULL)
        for (int j = 0; j < 2; j++) {
            grad[j] = 0.0;
            for (int k = 0; k < 2; k++) {
                double r = exp(L[k] - ls), q = exp(P[k] - ps);
                double s = a * a * cg->var[2 * k + j] + sg * sg;
                grad[j] += (r - q) * (-(x[j] - a * cg->mu[2 * k + j]) / s);
                if (cg->mask[j])
                    grad[j] -= r * (m[k][j] - y[j]) * a / (sg * sg);
            }
        }
    return ls - ps;
}

static int cond_guidance(const double *x, const double *t, size_t n, size_t D, double *grad,
                         void *user)
{
    const cond_guide *cg = user;
    for (size_t i = 0; i < n; i++) {
        double a, sg;
        if (D != 2 || scoresde_sde_marginal(cg->sde, t + i, 1, &a, &sg, NULL, NULL) != SCORESDE_OK)
            return 1;
        cond_logp(cg, x + 2 * i, cg->y + 2 * i, a, sg, grad + 2 * i);
    }
    return 0;
}

/* The exact conditional x_1 | x_0 = y0 of the mixture of test_inpainting:
 * 0.5 N(-2, 0.3) + 0.5 N(2, 0.3) reweighted by N(y0; -+1, 1), so mode 1
 * (above 0) has mass p1 = l1 / (l0 + l1). Checked (VP, PC with the same
 * settings, n = 4000): the known coordinate is exactly y0; the mass above 0
 * within 5 standard errors of p1 (5 se = 0.039; measured 0.6015 against
 * p1 = 0.5987, KS 0.78; with guidance scale 0, plain replacement, the same
 * run gives 0.549 and fails); each mode's mean and
 * variance within 5 standard errors of (-+2, 0.3); KS of all free values
 * against the exact conditional CDF, sqrt(n) D < 2.7. Classifying by sign
 * misplaces a mode's tail beyond 2 / sqrt(0.3) = 3.65 sd (1.3e-4 of it),
 * far below the bounds. */
START_TEST(test_inpainting_exact)
{
    scoresde_sde *sde = NULL;
    OK(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP));
    const double w[2] = {0.5, 0.5}, mu[4] = {-1, -2, 1, 2}, var[4] = {1, 0.3, 1, 0.3};
    scoresde_model *m = NULL;
    OK(scoresde_model_create_gmm(&m, sde, 2, 2, w, mu, var));
    const unsigned char mask[2] = {1, 0};
    size_t n = 4000;
    double *y = malloc(2 * n * sizeof *y), *x = malloc(2 * n * sizeof *x);
    ck_assert_ptr_nonnull(y);
    ck_assert_ptr_nonnull(x);
    for (size_t i = 0; i < n; i++) {
        y[2 * i] = 0.2;
        y[2 * i + 1] = NAN; /* not read: unknown */
    }
    cond_guide cg = {sde, w, mu, var, mask, y};
    /* the analytic gradient against central differences of ln p(y | x_t) */
    const double pts[3][3] = {{0.3, 0.1, 0.8}, {0.7, -1.5, 2.2}, {0.05, 0.25, -1.9}};
    for (int p = 0; p < 3; p++) {
        double a, sg, g[2], xt[2] = {pts[p][1], pts[p][2]};
        OK(scoresde_sde_marginal(sde, &pts[p][0], 1, &a, &sg, NULL, NULL));
        cond_logp(&cg, xt, y, a, sg, g);
        for (int j = 0; j < 2; j++) {
            double h = 1e-5, xp[2] = {xt[0], xt[1]}, xm[2] = {xt[0], xt[1]};
            xp[j] += h;
            xm[j] -= h;
            double fd = (cond_logp(&cg, xp, y, a, sg, NULL) - cond_logp(&cg, xm, y, a, sg, NULL)) /
                        (2 * h);
            ck_assert_msg(fabs(fd - g[j]) < 1e-6 * (1 + fabs(g[j])),
                          "grad ln p(y | x_t) at t = %g, j = %d: %g, differences %g", pts[p][0],
                          j, g[j], fd);
        }
    }
    scoresde_sampler *s = pc_sampler(SCORESDE_SAMPLER_PREDICTOR_REVERSE_DIFFUSION,
                                     SCORESDE_SAMPLER_CORRECTOR_LANGEVIN, 500);
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BATCH_NORMS, 1));
    OK(scoresde_sampler_set_guidance(s, cond_guidance, &cg, 1.0));
    OK(scoresde_sampler_inpaint(s, m, y, mask, n, 2, 12, 0, x, NULL));
    double l0 = exp(-0.5 * 1.2 * 1.2), l1 = exp(-0.5 * 0.8 * 0.8), p1 = l1 / (l0 + l1);
    double *f = malloc(n * sizeof *f);
    ck_assert_ptr_nonnull(f);
    size_t above = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert(x[2 * i] == 0.2);
        f[i] = x[2 * i + 1];
        above += f[i] > 0;
    }
    double mass = (double)above / (double)n, se = sqrt(p1 * (1 - p1) / (double)n);
    ck_assert_msg(fabs(mass - p1) < 5 * se, "mass above 0: %g (exact %g, 5 se %g)", mass, p1,
                  5 * se);
    qsort(f, n, sizeof *f, cmp_double);
    size_t lo = n - above;
    for (int k = 0; k < 2; k++) {
        double *g = k == 0 ? f : f + lo, c = k == 0 ? -2.0 : 2.0, mean, v;
        size_t nk = k == 0 ? lo : above;
        test_moments(g, nk, 1, 0, &mean, &v);
        ck_assert_msg(fabs(mean - c) < 5 * sqrt(0.3 / (double)nk), "mode %d mean %g", k, mean);
        ck_assert_msg(fabs(v - 0.3) < 5 * 0.3 * sqrt(2.0 / (double)(nk - 1)), "mode %d var %g", k,
                      v);
    }
    double dmax = 0.0;
    for (size_t i = 0; i < n; i++) {
        double F = (1 - p1) * test_normal_cdf((f[i] + 2) / sqrt(0.3)) +
                   p1 * test_normal_cdf((f[i] - 2) / sqrt(0.3));
        dmax = fmax(dmax, fmax((double)(i + 1) / (double)n - F, F - (double)i / (double)n));
    }
    ck_assert_msg(sqrt((double)n) * dmax < 2.7, "KS against the exact conditional: %g",
                  sqrt((double)n) * dmax);
    free(f);
    free(x);
    free(y);
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* ------------------------------------------------------------ likelihood */

START_TEST(test_likelihood_exact)
{
    scoresde_model *m = mixture_model(_i == 0 ? SCORESDE_SDE_VP : SCORESDE_SDE_SUBVP);
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, SCORESDE_SAMPLER_ODE));
    /* defaults: DP45, RTOL = ATOL = 1e-5, eps = 1e-5. The prior N(0, I)
     * differs from the exact p_T by about 1e-3 nats here (alpha(1) = 0.0066
     * times means of size 3), so the ODE part is checked by swapping the
     * prior's ln p_T(x_T) for the exact one. */
    size_t n = 6;
    double x[12], t[6], want[6], got[6], lat[12];
    for (size_t i = 0; i < n; i++)
        t[i] = 1e-5;
    OK(scoresde_model_sample(m, t, n, 2, 21, 0, x));
    OK(scoresde_model_log_density(m, x, t, n, 2, want));
    scoresde_sampler_stats st = {.struct_size = sizeof st};
    OK(scoresde_sampler_likelihood(s, m, x, n, 2, 0, 0, got, lat, &st));
    ck_assert(st.t_final == 1.0 && st.nfe > 0);
    const scoresde_sde *sde = scoresde_model_sde(m);
    double tT[6] = {1, 1, 1, 1, 1, 1}, lT[6], lprior[6];
    OK(scoresde_model_log_density(m, lat, tT, n, 2, lT));
    OK(scoresde_sde_prior_logp(sde, lat, n, 2, lprior));
    for (size_t i = 0; i < n; i++)
        got[i] += lT[i] - lprior[i];
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabs(got[i] - want[i]) < 1e-3, "sample %zu: ln p %g, exact %g", i, got[i],
                      want[i]);
    /* a point of low density between the modes (ln p = -15.6) */
    double mid[2] = {0.0, 0.5}, mw, mg;
    OK(scoresde_model_log_density(m, mid, t, 1, 2, &mw));
    double ml[2];
    OK(scoresde_sampler_likelihood(s, m, mid, 1, 2, 0, 0, &mg, ml, NULL));
    OK(scoresde_model_log_density(m, ml, tT, 1, 2, lT));
    OK(scoresde_sde_prior_logp(sde, ml, 1, 2, lprior));
    mg += lT[0] - lprior[0];
    ck_assert_msg(fabs(mg - mw) < 1e-3, "midpoint: ln p %g, exact %g", mg, mw);
    /* the latent is the encoding (the step sequences differ) */
    double z[12];
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_EPS, 1e-5));
    OK(scoresde_sampler_encode(s, m, x, n, 2, z, NULL));
    for (size_t e = 0; e < 2 * n; e++)
        ck_assert(fabs(z[e] - lat[e]) < 1e-3); /* two solves at tolerance 1e-5 */
    scoresde_sampler *pc = NULL;
    OK(scoresde_sampler_create(&pc, SCORESDE_SAMPLER_PC));
    ck_assert_int_eq(scoresde_sampler_likelihood(pc, m, x, n, 2, 0, 0, got, NULL, NULL),
                     SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_sampler_likelihood(s, m, x, n, 4, 0, 0, got, NULL, NULL),
                     SCORESDE_EDIM);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "D (4)"));
    scoresde_sampler_free(pc);
    scoresde_sampler_free(s);
    scoresde_model_free(m);
}
END_TEST

/* Hutchinson with fixed probes is unbiased: the mean over n independent
 * probes lies within 5 standard errors of the exact-divergence value. */
START_TEST(test_likelihood_hutchinson)
{
    scoresde_model *m = mixture_model(SCORESDE_SDE_VP);
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, SCORESDE_SAMPLER_ODE));
    size_t n = 200;
    double *x = malloc(2 * n * sizeof *x), *lp = malloc(n * sizeof *lp), exact;
    for (size_t i = 0; i < n; i++) {
        x[2 * i] = 2.5;
        x[2 * i + 1] = 1.8;
    }
    OK(scoresde_sampler_likelihood(s, m, x, 1, 2, 0, 0, &exact, NULL, NULL));
    int mode =
        _i == 0 ? SCORESDE_SAMPLER_DIVERGENCE_RADEMACHER : SCORESDE_SAMPLER_DIVERGENCE_GAUSSIAN;
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_DIVERGENCE, mode));
    OK(scoresde_sampler_likelihood(s, m, x, n, 2, 4, 0, lp, NULL, NULL));
    double mean, var;
    test_moments(lp, n, 1, 0, &mean, &var);
    ck_assert(var > 0.0); /* the probes differ */
    ck_assert_msg(fabs(mean - exact) < 5 * sqrt(var / (double)n),
                  "mode %d: mean %g, exact %g, se %g", mode, mean, exact, sqrt(var / (double)n));
    free(x);
    free(lp);
    scoresde_sampler_free(s);
    scoresde_model_free(m);
}
END_TEST

START_TEST(test_bits_per_dim)
{
    /* b-bit data whose density on y = scale u + shift is uniform over the
     * cube: ln p = -D ln scale, and the bound is exactly b bits. */
    double lp[2] = {-3 * log(2.0), -3 * log(2.0) - 3 * log(2.0)}, bpd[2];
    OK(scoresde_bits_per_dim(lp, 2, 3, 8, 2.0, bpd));
    ck_assert(fabs(bpd[0] - 8.0) < 1e-12);
    ck_assert(fabs(bpd[1] - 9.0) < 1e-12); /* half the density: one bit more */
    /* score_sde's case: 8 bits on [-1, 1) (scale 2): offset 7 = 8 - log2(2) */
    double lq = -10.0, b;
    OK(scoresde_bits_per_dim(&lq, 1, 4, 8, 2.0, &b));
    ck_assert(fabs(b - (10.0 / (4 * log(2.0)) + 7.0)) < 1e-12);
    ck_assert_int_eq(scoresde_bits_per_dim(&lq, 1, 4, 0, 2.0, &b), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_bits_per_dim(&lq, 1, 4, 8, -2.0, &b), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_bits_per_dim(&lq, 1, 0, 8, 2.0, &b), SCORESDE_EINVAL);
}
END_TEST

/* ------------------------------------------------------------ allocation */

static size_t alloc_budget;

/* Every allocation budget from 0 up: each call succeeds or fails with
 * SCORESDE_ENOMEM, and freeing everything leaves no block behind. */
START_TEST(test_allocation_failures)
{
    /* Every budget up to 300 (all of the sampler's own allocations come
     * early), then sparser ones through the model's per-call scratch. */
    int done = 0;
    for (size_t budget = 0; budget < 100000 && !done; budget += budget < 300 ? 1 : 7) {
        ck_assert_uint_eq(scoresde_live_allocations(), 0);
        OK(scoresde_set_allocator(test_budget_malloc, test_budget_free, &alloc_budget));
        alloc_budget = SIZE_MAX;
        scoresde_model *m = mixture_model(SCORESDE_SDE_VP);
        alloc_budget = budget;
        scoresde_sampler *s = NULL, *c = NULL, *o = NULL;
        double x[8], lp[4], grid[3] = {1.0, 0.5, 0.01};
        const unsigned char mask[2] = {1, 0};
        const double y[8] = {0.1, 0, 0.2, 0, 0.3, 0, 0.4, 0};
        int rc = scoresde_sampler_create(&s, SCORESDE_SAMPLER_PC);
        if (rc == SCORESDE_OK)
            rc = scoresde_sampler_set_grid(s, grid, 3);
        if (rc == SCORESDE_OK)
            rc = scoresde_sampler_clone(&c, s);
        if (rc == SCORESDE_OK)
            rc = scoresde_sampler_sample(c, m, NULL, 4, 2, 1, 0, x, NULL);
        if (rc == SCORESDE_OK)
            rc = scoresde_sampler_inpaint(c, m, y, mask, 4, 2, 1, 0, x, NULL);
        if (rc == SCORESDE_OK)
            rc = scoresde_sampler_create(&o, SCORESDE_SAMPLER_ODE);
        if (rc == SCORESDE_OK)
            rc = scoresde_sampler_set_int(o, SCORESDE_SAMPLER_DIVERGENCE,
                                          SCORESDE_SAMPLER_DIVERGENCE_GAUSSIAN);
        if (rc == SCORESDE_OK)
            rc = scoresde_sampler_set_int(o, SCORESDE_SAMPLER_SOLVER, SCORESDE_SAMPLER_SOLVER_RK4);
        if (rc == SCORESDE_OK)
            rc = scoresde_sampler_set_int(o, SCORESDE_SAMPLER_STEPS, 3);
        if (rc == SCORESDE_OK)
            rc = scoresde_sampler_likelihood(o, m, y, 4, 2, 1, 0, lp, NULL, NULL);
        if (rc == SCORESDE_OK)
            done = 1;
        else
            ck_assert_int_eq(rc, SCORESDE_ENOMEM);
        scoresde_sampler_free(o);
        scoresde_sampler_free(c);
        scoresde_sampler_free(s);
        scoresde_model_free(m);
        ck_assert_uint_eq(scoresde_live_allocations(), 0);
        OK(scoresde_set_allocator(NULL, NULL, NULL));
    }
    ck_assert(done);
}
END_TEST

static Suite *sampler_suite(void)
{
    Suite *s = suite_create("sampler");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_settings);
    tcase_add_test(tc, test_clone);
    tcase_add_test(tc, test_grids);
    tcase_add_test(tc, test_exact_samples_pass);
    tcase_add_loop_test(tc, test_pc_mixture, 0, (int)(sizeof pc_cases / sizeof pc_cases[0]));
    tcase_add_loop_test(tc, test_reproducible, 0, 3);
    tcase_add_loop_test(tc, test_highdim, 0, 3);
    tcase_add_test(tc, test_langevin_norms);
    tcase_add_test(tc, test_hooks_and_errors);
    tcase_add_loop_test(tc, test_mlp_threads, 0, 3);
    tcase_add_test(tc, test_ode_orders);
    tcase_add_test(tc, test_dopri_tolerance);
    tcase_add_test(tc, test_dpm_adaptive);
    tcase_add_test(tc, test_em_weak_order);
    tcase_add_test(tc, test_fast_sampler_orders);
    tcase_add_test(tc, test_unipc_short);
    tcase_add_loop_test(tc, test_fast_sampler_mixture, 0, 4);
    tcase_add_test(tc, test_encode_decode);
    tcase_add_loop_test(tc, test_likelihood_exact, 0, 2);
    tcase_add_loop_test(tc, test_likelihood_hutchinson, 0, 2);
    tcase_add_test(tc, test_bits_per_dim);
    tcase_add_test(tc, test_allocation_failures);
    tcase_add_test(tc, test_langevin_dynamics);
    tcase_add_loop_test(tc, test_guidance, 0, 6);
    tcase_add_loop_test(tc, test_inpainting, 0, 2);
    tcase_add_test(tc, test_inpainting_noise);
    tcase_add_test(tc, test_inpainting_exact);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(sampler_suite());
}
