/*
 * SDE refusals not reached elsewhere (issue 17's coverage goal): NULL and
 * non-finite arguments of the creators, schedule and custom hooks that turn
 * bad after creation (each bad value named by its message, in every entry
 * point that evaluates the hook), a schedule whose g^2 is zero up to
 * round-off, a prior without spread, simulation that overflows.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "scoresde.h"
#include "sde_internal.h"
#include "testutil.h"

START_TEST(null_out_and_non_finite)
{
    test_expect_error(scoresde_sde_create_vp(NULL, 0.1, 20), SCORESDE_EINVAL, "out is NULL");
    test_expect_error(scoresde_sde_create_ve(NULL, 0.01, 50), SCORESDE_EINVAL, "out is NULL");
    test_expect_error(scoresde_sde_create_edm(NULL, 0.002, 80), SCORESDE_EINVAL, "out is NULL");
    test_expect_error(scoresde_sde_create_cosine(NULL, 0.008, 0.99), SCORESDE_EINVAL, "out is NULL");
    test_expect_error(scoresde_sde_create_ou(NULL, 1, 1, 1), SCORESDE_EINVAL, "out is NULL");
    test_expect_error(scoresde_sde_create_schedule(NULL, 1, NULL, NULL), SCORESDE_EINVAL,
                 "out is NULL");
    test_expect_error(scoresde_sde_create_custom(NULL, 1, NULL, NULL, NULL, NULL), SCORESDE_EINVAL,
                 "out is NULL");
    scoresde_sde *s = (scoresde_sde *)&s;
    test_expect_error(scoresde_sde_create_cosine(&s, NAN, 0.99), SCORESDE_EINVAL,
                 "s (nan) is not finite");
    ck_assert_ptr_null(s);
    test_expect_error(scoresde_sde_create_cosine(&s, 0.008, INFINITY), SCORESDE_EINVAL,
                 "T (inf) is not finite");
    test_expect_error(scoresde_sde_create_ou(&s, NAN, 1, 1), SCORESDE_EINVAL,
                 "theta (nan) is not finite");
    test_expect_error(scoresde_sde_create_ou(&s, 1, -INFINITY, 1), SCORESDE_EINVAL,
                 "s (-inf) is not finite");
    /* the default training eps 1e-5 is above T */
    test_expect_error(scoresde_sde_create_ou(&s, 1, 1, 5e-6), SCORESDE_EINVAL, "eps");
    ck_assert_ptr_null(s);
    /* VE with sigma(1)^2 = 1e308 finite, g^2(1) = 2 ln(1e304) 1e308 not */
    test_expect_error(scoresde_sde_create_ve(&s, 1e-150, 1e154), SCORESDE_EINVAL, "give g^2(1) = inf");
    /* OU with theta = 1e-300: sigma(8)^2 = s^2 8 finite, the stationary
     * variance s^2 / (2 theta) not */
    test_expect_error(scoresde_sde_create_ou(&s, 1e-300, 1e5, 8), SCORESDE_EINVAL,
                 "give a prior variance of inf");
    ck_assert_ptr_null(s);
    /* simulate checks its SDE and times */
    double x[2] = {0, 0};
    test_expect_error(scoresde_sde_simulate(NULL, x, 1, 2, 0, 1, 4, 1, 0, 0, x), SCORESDE_EINVAL,
                 "sde is NULL");
    scoresde_sde *vp = test_make_sde(SCORESDE_SDE_VP);
    test_expect_error(scoresde_sde_simulate(vp, x, 1, 2, -0.5, 1, 4, 1, 0, 0, x), SCORESDE_EINVAL,
                 "t0 (-0.5) is outside");
    test_expect_error(scoresde_sde_simulate(vp, x, 1, 2, 2.0, 1, 4, 1, 0, 0, x), SCORESDE_EINVAL,
                 "t0 (2) is outside");
    test_expect_error(scoresde_sde_simulate(vp, x, 1, 2, 0, -1.0, 4, 1, 0, 0, x), SCORESDE_EINVAL,
                 "t1 (-1) is outside");
    test_expect_error(scoresde_sde_simulate(vp, x, 1, 2, 0, 3.0, 4, 1, 0, 0, x), SCORESDE_EINVAL,
                 "t1 (3) is outside");
    test_expect_error(scoresde_sde_prior_var(NULL, x), SCORESDE_EINVAL, "sde is NULL");
    scoresde_sde_free(vp);
}
END_TEST

START_TEST(describe_refusals)
{
    scoresde_sde *vp = test_make_sde(SCORESDE_SDE_VP), *out = NULL;
    int kind;
    double p[8];
    size_t count;
    test_expect_error(sd_sde_describe(vp, NULL, p, &count), SCORESDE_EINVAL, "kind is NULL");
    test_expect_error(sd_sde_describe(vp, &kind, NULL, &count), SCORESDE_EINVAL, "params is NULL");
    test_expect_error(sd_sde_describe(vp, &kind, p, NULL), SCORESDE_EINVAL, "count is NULL");
    ck_assert_int_eq(sd_sde_describe(vp, &kind, p, &count), SCORESDE_OK);
    test_expect_error(sd_sde_from_description(kind, p, count, NULL), SCORESDE_EINVAL, "out is NULL");
    test_expect_error(sd_sde_from_description(kind, NULL, count, &out), SCORESDE_EINVAL,
                 "params is NULL");
    static const int bad_kinds[3] = {SCORESDE_SDE_VE - 1, SCORESDE_SDE_OU + 1,
                                     SCORESDE_SDE_SCHEDULE};
    for (int k = 0; k < 3; k++)
        test_expect_error(sd_sde_from_description(bad_kinds[k], p, count, &out), SCORESDE_EINVAL,
                     "is not a built-in SDE kind");
    ck_assert_ptr_null(out);
    scoresde_sde_free(vp);
}
END_TEST

/* The schedule alpha = 1, sigma = s0 + t (g^2 = 2 sigma), bad in one way
 * everywhere once `mode` is set after creation. */
enum {
    GOOD,
    ALPHA_NAN,
    ALPHA_NEG,
    SIGMA_NAN,
    SIGMA_NEG,
    DA_INF,
    DS_NAN,
    DS_NEG_INF,
    DS_INF_SIGMA_POS,
    G2_NAN,  /* sigma = 0 with sigma' = +inf: accepted by the hook check, g^2 undefined */
    G2_NEG,  /* sigma' < 0 */
    SHRINK,  /* sigma decreasing: valid values, a negative discrete variance */
    ZERO,    /* sigma = 0: valid, deterministic, without a prior */
    FAIL,    /* the hook returns non-zero */
    N_MODES
};

typedef struct {
    int mode;
    double s0;
} sched_ctx;

static int schedule(const double *t, size_t n, double *al, double *si, double *da, double *ds,
                    void *user)
{
    const sched_ctx *c = user;
    if (c->mode == FAIL)
        return 1;
    for (size_t i = 0; i < n; i++) {
        al[i] = 1.0;
        si[i] = c->s0 + t[i];
        da[i] = 0.0;
        ds[i] = 1.0;
        switch (c->mode) {
        case ALPHA_NAN: al[i] = NAN; break;
        case ALPHA_NEG: al[i] = -1.0; break;
        case SIGMA_NAN: si[i] = NAN; break;
        case SIGMA_NEG: si[i] = -1.0; break;
        case DA_INF: da[i] = INFINITY; break;
        case DS_NAN: ds[i] = NAN; break;
        case DS_NEG_INF: ds[i] = -INFINITY; break;
        case DS_INF_SIGMA_POS: ds[i] = INFINITY; break;
        case G2_NAN: si[i] = 0.0, ds[i] = INFINITY; break;
        case G2_NEG: ds[i] = -1.0; break;
        case SHRINK: si[i] = 2.0 - t[i], ds[i] = -1.0; break;
        case ZERO: si[i] = 0.0, ds[i] = 0.0; break;
        default: break;
        }
    }
    return 0;
}

static const struct {
    int mode, code;
    const char *needle;
} hook_cases[] = {
    {ALPHA_NAN, SCORESDE_ENUMERIC, "schedule hook: alpha(0.5) = nan must be positive"},
    {ALPHA_NEG, SCORESDE_ENUMERIC, "schedule hook: alpha(0.5) = -1 must be positive"},
    {SIGMA_NAN, SCORESDE_ENUMERIC, "schedule hook: sigma(0.5) = nan must be >= 0"},
    {SIGMA_NEG, SCORESDE_ENUMERIC, "schedule hook: sigma(0.5) = -1 must be >= 0"},
    {DA_INF, SCORESDE_ENUMERIC, "schedule hook: dalpha_dt(0.5) = inf is not finite"},
    {DS_NAN, SCORESDE_ENUMERIC, "schedule hook: dsigma_dt(0.5) = nan"},
    {DS_NEG_INF, SCORESDE_ENUMERIC, "schedule hook: dsigma_dt(0.5) = -inf"},
    {DS_INF_SIGMA_POS, SCORESDE_ENUMERIC, "schedule hook: dsigma_dt(0.5) = inf"},
    {FAIL, SCORESDE_ECALLBACK, "the schedule hook returned non-zero"},
};

/* Every entry point that evaluates the schedule reports the bad value. */
START_TEST(schedule_turns_bad)
{
    sched_ctx c = {GOOD, 0.1};
    scoresde_sde *s = NULL;
    ck_assert_int_eq(scoresde_sde_create_schedule(&s, 1.0, schedule, &c), SCORESDE_OK);
    double t[2] = {0.5, 0.5}, x[4] = {0.1, 0.2, 0.3, 0.4}, y[4], z[4], g[2], v;
    c.mode = hook_cases[_i].mode;
    int code = hook_cases[_i].code;
    const char *needle = hook_cases[_i].needle;
    test_expect_error(scoresde_sde_marginal(s, t, 2, y, NULL, NULL, NULL), code, needle);
    test_expect_error(scoresde_sde_diffusion(s, t, 2, g), code, needle);
    test_expect_error(scoresde_sde_drift(s, x, t, 2, 2, y), code, needle);
    test_expect_error(scoresde_sde_perturb(s, x, t, 2, 2, 1, 0, 0, y, z), code, needle);
    test_expect_error(scoresde_sde_kernel_score(s, x, x, t, 2, 2, y), code, needle);
    test_expect_error(scoresde_sde_reverse_drift(s, x, t, x, 2, 2, 1.0, y), code, needle);
    test_expect_error(scoresde_sde_discretize(s, 3, x, t, 2, 2, y, g), code, needle);
    test_expect_error(scoresde_sde_simulate(s, x, 2, 2, 0.5, 1.0, 3, 1, 0, 0, y), code, needle);
    /* at T */
    for (int k = 0; k < 2; k++)
        t[k] = 1.0;
    if (c.mode != FAIL) {
        char at_T[96];
        snprintf(at_T, sizeof at_T, "%.*s", (int)(strstr(needle, "(0.5)") - needle), needle);
        test_expect_error(scoresde_sde_prior_var(s, &v), code, at_T);
    } else {
        test_expect_error(scoresde_sde_prior_var(s, &v), code, needle);
    }
    scoresde_sde_free(s);
}
END_TEST

/* g^2 itself: undefined (NaN) or negative after creation. */
START_TEST(schedule_g2_bad)
{
    sched_ctx c = {GOOD, 0.1};
    scoresde_sde *s = NULL;
    ck_assert_int_eq(scoresde_sde_create_schedule(&s, 1.0, schedule, &c), SCORESDE_OK);
    double t[1] = {0.5}, x[2] = {0.1, 0.2}, y[2], g[1];
    c.mode = G2_NAN;
    /* the marginal itself is valid (sigma = 0, sigma' = +inf) */
    ck_assert_int_eq(scoresde_sde_marginal(s, t, 1, NULL, y, NULL, NULL), SCORESDE_OK);
    ck_assert_double_eq(y[0], 0.0);
    test_expect_error(scoresde_sde_diffusion(s, t, 1, g), SCORESDE_ENUMERIC, "g^2");
    c.mode = G2_NEG;
    test_expect_error(scoresde_sde_diffusion(s, t, 1, g), SCORESDE_ENUMERIC, "g^2");
    /* a shrinking sigma: each value valid, the discrete step's variance
     * sigma_i^2 - sigma_{i-1}^2 negative */
    c.mode = SHRINK;
    test_expect_error(scoresde_sde_discretize(s, 3, x, t, 1, 2, y, g), SCORESDE_ENUMERIC,
                 "discretize: sigma_i^2 - r^2 sigma_{i-1}^2");
    scoresde_sde_free(s);
}
END_TEST

/* The prior variance of a schedule is sigma(T)^2; sigma = 0 has none. */
START_TEST(schedule_without_prior)
{
    sched_ctx c = {GOOD, 0.0};
    scoresde_sde *s = NULL;
    ck_assert_int_eq(scoresde_sde_create_schedule(&s, 1.0, schedule, &c), SCORESDE_OK);
    c.mode = SHRINK; /* sigma(T) = 2 - T = 1 */
    double v;
    ck_assert_int_eq(scoresde_sde_prior_var(s, &v), SCORESDE_OK);
    ck_assert_double_eq_tol(v, 1.0, 1e-15);
    c.mode = ZERO;
    test_expect_error(scoresde_sde_prior_var(s, &v), SCORESDE_ENUMERIC,
                 "sigma(T = 1) is zero: no prior");
    scoresde_sde_free(s);
}
END_TEST

/* alpha = 1, sigma = 0.3 + t with sigma' = 1: the check's time grid passes;
 * then the hook's g^2 = 2 sigma sigma' - 2 (alpha'/alpha) sigma^2 with
 * alpha' = sigma' alpha / sigma (1 + 1e-14) is -2e-14 sigma sigma' away from
 * zero: within round-off it counts as 0. */
static int flat_schedule(const double *t, size_t n, double *al, double *si, double *da,
                         double *ds, void *user)
{
    (void)user;
    for (size_t i = 0; i < n; i++) {
        si[i] = 0.3 + t[i];
        ds[i] = 1.0;
        al[i] = 1.0;
        da[i] = (1.0 + 1e-14) / si[i];
    }
    return 0;
}

START_TEST(schedule_g2_round_off)
{
    scoresde_sde *s = NULL;
    ck_assert_int_eq(scoresde_sde_create_schedule(&s, 1.0, flat_schedule, NULL), SCORESDE_OK);
    double t[3] = {0.1, 0.5, 1.0}, g[3];
    ck_assert_int_eq(scoresde_sde_diffusion(s, t, 3, g), SCORESDE_OK);
    for (int k = 0; k < 3; k++)
        ck_assert_double_eq(g[k], 0.0);
    scoresde_sde_free(s);
}
END_TEST

/* ---- custom SDEs: drift and diffusion hooks */

typedef struct {
    int fail_drift, fail_diffusion;
    double drift, g;
} custom_ctx;

static int drift(const double *x, const double *t, size_t n, size_t D, double *f, void *user)
{
    (void)x, (void)t;
    const custom_ctx *c = user;
    if (c->fail_drift)
        return 1;
    for (size_t k = 0; k < n * D; k++)
        f[k] = c->drift;
    return 0;
}

static int diffusion(const double *t, size_t n, double *g, void *user)
{
    (void)t;
    const custom_ctx *c = user;
    if (c->fail_diffusion)
        return 1;
    for (size_t i = 0; i < n; i++)
        g[i] = c->g;
    return 0;
}

START_TEST(custom_hooks_fail)
{
    custom_ctx c = {0, 0, 0.5, 1.0};
    scoresde_sde *s = NULL;
    ck_assert_int_eq(scoresde_sde_create_custom(&s, 1.0, drift, diffusion, NULL, &c), SCORESDE_OK);
    double t[1] = {0.5}, x[2] = {0.1, 0.2}, y[2], g[1];
    /* Euler-Maruyama discretisation with dt = T / N */
    ck_assert_int_eq(scoresde_sde_discretize(s, 4, x, t, 1, 2, y, g), SCORESDE_OK);
    ck_assert_double_eq_tol(y[0], 0.5 * 0.25, 1e-15);
    ck_assert_double_eq_tol(g[0], 0.5, 1e-15);
    c.fail_drift = 1;
    test_expect_error(scoresde_sde_discretize(s, 4, x, t, 1, 2, y, g), SCORESDE_ECALLBACK,
                 "the drift hook returned non-zero");
    test_expect_error(scoresde_sde_reverse_drift(s, x, t, x, 1, 2, 0.0, y), SCORESDE_ECALLBACK,
                 "the drift hook returned non-zero");
    c.fail_drift = 0;
    c.fail_diffusion = 1;
    test_expect_error(scoresde_sde_discretize(s, 4, x, t, 1, 2, y, g), SCORESDE_ECALLBACK,
                 "the diffusion hook returned non-zero");
    test_expect_error(scoresde_sde_simulate(s, x, 1, 2, 0.0, 1.0, 2, 1, 0, 0, y), SCORESDE_ECALLBACK,
                 "the diffusion hook returned non-zero");
    c.fail_diffusion = 0;
    c.g = NAN;
    test_expect_error(scoresde_sde_diffusion(s, t, 1, g), SCORESDE_ENUMERIC,
                 "diffusion hook: g(0.5) = nan must be finite and >= 0");
    c.g = -1.0;
    test_expect_error(scoresde_sde_diffusion(s, t, 1, g), SCORESDE_ENUMERIC,
                 "diffusion hook: g(0.5) = -1 must be finite and >= 0");
    scoresde_sde_free(s);
}
END_TEST

/* x0 = 1e308 under a drift of 1e308 without noise: x = 1.5e308 after the
 * first of two steps (dt = 0.5), +inf after the second. */
START_TEST(simulate_overflows)
{
    custom_ctx c = {0, 0, 1e308, 0.0};
    scoresde_sde *s = NULL;
    ck_assert_int_eq(scoresde_sde_create_custom(&s, 1.0, drift, diffusion, NULL, &c), SCORESDE_OK);
    double x[2] = {1e308, 0.0}, y[2];
    ck_assert_int_eq(scoresde_sde_simulate(s, x, 1, 2, 0.0, 0.5, 1, 1, 0, 0, y), SCORESDE_OK);
    ck_assert_double_eq(y[0], 1.5e308);
    ck_assert_double_eq(y[1], 0.5e308);
    test_expect_error(scoresde_sde_simulate(s, x, 1, 2, 0.0, 1.0, 2, 1, 0, 0, y), SCORESDE_ENUMERIC,
                 "simulate: sample 0 became non-finite at step 1 (t = 1)");
    scoresde_sde_free(s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("coverage_sde");
    TCase *tc = tcase_create("refusals");
    tcase_add_test(tc, null_out_and_non_finite);
    tcase_add_test(tc, describe_refusals);
    tcase_add_loop_test(tc, schedule_turns_bad, 0, sizeof hook_cases / sizeof hook_cases[0]);
    tcase_add_test(tc, schedule_g2_bad);
    tcase_add_test(tc, schedule_without_prior);
    tcase_add_test(tc, schedule_g2_round_off);
    tcase_add_test(tc, custom_hooks_fail);
    tcase_add_test(tc, simulate_overflows);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(suite());
}
