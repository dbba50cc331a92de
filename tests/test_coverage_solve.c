/*
 * Sampler refusals and failure paths not reached elsewhere (issue 17's
 * coverage goal). For each method (PC with each predictor and corrector, the
 * ODE with each solver, EDM with churn, DPM-Solver++ of each order, adaptive
 * and UniPC) and each entry point (sample, inpaint, encode, likelihood,
 * bound, report, Langevin): the score callback, then the SDE's schedule
 * hook, fails at its k-th call for every k the run makes; each such run
 * returns the hook's SCORESDE_ECALLBACK, and the run without a failure
 * succeeds. Then NULL and out-of-range arguments, and the bound and report
 * paths of one draw, a stats struct and non-finite terms.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <math.h>
#include <string.h>

#include "scoresde.h"
#include "testutil.h"

static test_countdown score_cd = {0, -1}, sched_cd = {0, -1};

/* The score of N(0, I), the marginal of test_vp_schedule's SDE from N(0, I) data. */
static int score(const double *x, const double *t, size_t n, size_t D, double *s, void *u)
{
    (void)t, (void)u;
    if (test_countdown_fails(&score_cd))
        return 1;
    for (size_t k = 0; k < n * D; k++)
        s[k] = -x[k];
    return 0;
}

static int divergence(const double *x, const double *t, size_t n, size_t D, double *d, void *u)
{
    (void)x, (void)t, (void)u;
    if (test_countdown_fails(&score_cd))
        return 1;
    for (size_t i = 0; i < n; i++)
        d[i] = -(double)D;
    return 0;
}

enum { SAMPLE, INPAINT, ENCODE, LIKELIHOOD, BOUND, REPORT_ODE, REPORT_BOUND, LANGEVIN };

typedef struct {
    int method, entry;
    int settings[4][2]; /* integer settings (id, value), id 0 ends */
} config;

#define PC SCORESDE_SAMPLER_PC
#define ODE SCORESDE_SAMPLER_ODE
#define DPMPP SCORESDE_SAMPLER_DPMPP
#define PRED SCORESDE_SAMPLER_PREDICTOR
#define CORR SCORESDE_SAMPLER_CORRECTOR
#define SOLVER SCORESDE_SAMPLER_SOLVER
#define ORDER SCORESDE_SAMPLER_ORDER

static const config configs[] = {
    {PC, SAMPLE, {{PRED, 1}, {CORR, 1}}},
    {PC, SAMPLE, {{PRED, 2}, {CORR, 2}}},
    {PC, SAMPLE, {{PRED, 3}, {CORR, 0}}},
    {PC, INPAINT, {{PRED, 2}}},
    {ODE, SAMPLE, {{SOLVER, 1}}},
    {ODE, SAMPLE, {{SOLVER, 2}}},
    {ODE, SAMPLE, {{SOLVER, 3}}},
    {ODE, SAMPLE, {{SOLVER, 4}}},
    {ODE, ENCODE, {{SOLVER, 4}}},
    {ODE, LIKELIHOOD, {{SOLVER, 3}}},
    {ODE, LIKELIHOOD, {{SOLVER, 4}, {SCORESDE_SAMPLER_DIVERGENCE, 2}}},
    {SCORESDE_SAMPLER_EDM, SAMPLE, {{0, 0}}},
    {DPMPP, SAMPLE, {{ORDER, 1}, {SCORESDE_SAMPLER_DENOISE, 1}}},
    {DPMPP, SAMPLE, {{ORDER, 2}}},
    {DPMPP, SAMPLE, {{ORDER, 3}}},
    {DPMPP, SAMPLE, {{SCORESDE_SAMPLER_ADAPTIVE, 1}}},
    {DPMPP, SAMPLE, {{SCORESDE_SAMPLER_UNIPC, 1}, {ORDER, 3}}},
    {PC, BOUND, {{SCORESDE_SAMPLER_BOUND_DRAWS, 2}}},
    {ODE, REPORT_ODE, {{SOLVER, 2}}},
    {PC, REPORT_BOUND, {{SCORESDE_SAMPLER_BOUND_DRAWS, 1}}},
    {PC, LANGEVIN, {{SCORESDE_SAMPLER_STEPS, 3}}},
};

static int run(const scoresde_sampler *s, const scoresde_model *m, int entry)
{
    double x[4] = {0.3, -0.2, 0.1, 0.4}, y[4], lp[2], terms[2 * 7];
    static const unsigned char mask[4] = {1, 0, 0, 1};
    switch (entry) {
    case SAMPLE: return scoresde_sampler_sample(s, m, NULL, 2, 2, 5, 0, y, NULL);
    case INPAINT: return scoresde_sampler_inpaint(s, m, x, mask, 2, 2, 5, 0, y, NULL);
    case ENCODE: return scoresde_sampler_encode(s, m, x, 2, 2, y, NULL);
    case LIKELIHOOD: return scoresde_sampler_likelihood(s, m, x, 2, 2, 5, 0, lp, y, NULL);
    case BOUND: return scoresde_sampler_bound(s, m, x, 2, 2, 5, 0, lp, y, NULL);
    case REPORT_ODE:
        return scoresde_sampler_report(s, m, SCORESDE_REPORT_ODE, x, 2, 2, 5, 0, terms, 7, NULL);
    case REPORT_BOUND:
        return scoresde_sampler_report(s, m, SCORESDE_REPORT_BOUND, x, 2, 2, 5, 0, terms, 7, NULL);
    default: return scoresde_sampler_langevin(s, score, NULL, x, 2, 2, 5, 0, y, NULL);
    }
}

static scoresde_sampler *make_sampler(const config *c)
{
    scoresde_sampler *s = NULL;
    ck_assert_int_eq(scoresde_sampler_create(&s, c->method), SCORESDE_OK);
    ck_assert_int_eq(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 3), SCORESDE_OK);
    if (c->method == SCORESDE_SAMPLER_EDM)
        ck_assert_int_eq(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_S_CHURN, 5.0),
                         SCORESDE_OK);
    if (c->method == SCORESDE_SAMPLER_ODE && c->entry != LIKELIHOOD && c->entry != REPORT_ODE) {
        ck_assert_int_eq(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_RTOL, 1e-3), SCORESDE_OK);
        ck_assert_int_eq(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_ATOL, 1e-3), SCORESDE_OK);
    }
    for (int k = 0; k < 4 && c->settings[k][0]; k++)
        ck_assert_int_eq(scoresde_sampler_set_int(s, c->settings[k][0], c->settings[k][1]),
                         SCORESDE_OK);
    return s;
}

/* Run with call k of `cd` failing: the hook's ECALLBACK with `needle`. */
static void fail_at(const scoresde_sampler *s, const scoresde_model *m, int entry,
                    test_countdown *cd, long k, long total, const char *needle)
{
    score_cd = (test_countdown){0, -1};
    sched_cd = (test_countdown){0, -1};
    cd->fail_at = k;
    int rc = run(s, m, entry);
    ck_assert_msg(rc == SCORESDE_ECALLBACK, "call %ld of %ld: rc %d (%s)", k, total, rc,
                  scoresde_last_error());
    ck_assert_msg(strstr(scoresde_last_error(), needle) != NULL, "'%s' lacks '%s'",
                  scoresde_last_error(), needle);
    cd->fail_at = -1;
}

/* Fail each call of `cd` in turn (every call of the first 400; beyond that,
 * about 200 calls spread evenly, and the last). */
static void sweep(const scoresde_sampler *s, const scoresde_model *m, int entry,
                  test_countdown *cd, const char *needle)
{
    score_cd = (test_countdown){0, -1};
    sched_cd = (test_countdown){0, -1};
    ck_assert_msg(run(s, m, entry) == SCORESDE_OK, "%s", scoresde_last_error());
    const long total = cd->calls;
    ck_assert_int_gt(total, 0);
    const long stride = total > 400 ? total / 200 : 1;
    for (long k = 0; k < total; k += stride)
        fail_at(s, m, entry, cd, k, total, needle);
    if ((total - 1) % stride != 0)
        fail_at(s, m, entry, cd, total - 1, total, needle);
}

START_TEST(each_callback_call_fails)
{
    const config *c = &configs[_i];
    scoresde_sde *sde = NULL;
    ck_assert_int_eq(scoresde_sde_create_schedule(&sde, 1.0, test_vp_schedule, &sched_cd),
                     SCORESDE_OK);
    scoresde_model *m = NULL;
    ck_assert_int_eq(scoresde_model_create_score_fn(&m, sde, 2, score, divergence, NULL),
                     SCORESDE_OK);
    scoresde_sampler *s = make_sampler(c);
    if (c->entry == LANGEVIN) { /* the caller's score, no model or SDE */
        sweep(s, m, c->entry, &score_cd, "the Langevin score hook failed");
    } else {
        sweep(s, m, c->entry, &score_cd, "callback returned 1");
        sweep(s, m, c->entry, &sched_cd, "the schedule hook returned non-zero");
    }
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

START_TEST(null_and_range_arguments)
{
    scoresde_sde *vp = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = NULL;
    ck_assert_int_eq(scoresde_model_create_score_fn(&m, vp, 2, score, divergence, NULL),
                     SCORESDE_OK);
    scoresde_sampler *s = NULL;
    ck_assert_int_eq(scoresde_sampler_create(&s, SCORESDE_SAMPLER_PC), SCORESDE_OK);
    double t[3] = {1.0, 0.5, 0.1}, x[4] = {0, 0, 0, 0}, y[4], lp[2], bpd[2] = {0, 0};
    test_expect_error(scoresde_sampler_set_grid(NULL, t, 3), SCORESDE_EINVAL, "sampler is NULL");
    test_expect_error(scoresde_sampler_set_grid(s, NULL, 3), SCORESDE_EINVAL, "t is NULL");
    test_expect_error(scoresde_sampler_set_guidance(NULL, NULL, NULL, 0), SCORESDE_EINVAL,
                 "sampler is NULL");
    test_expect_error(scoresde_sampler_set_progress(NULL, NULL, NULL), SCORESDE_EINVAL,
                 "sampler is NULL");
    test_expect_error(scoresde_sampler_times(NULL, vp, t, 3), SCORESDE_EINVAL, "sampler is NULL");
    test_expect_error(scoresde_sampler_times(s, NULL, t, 3), SCORESDE_EINVAL, "sde is NULL");
    test_expect_error(scoresde_sampler_times(s, vp, NULL, 3), SCORESDE_EINVAL, "t is NULL");
    test_expect_error(scoresde_sampler_sample(NULL, m, NULL, 2, 2, 1, 0, y, NULL), SCORESDE_EINVAL,
                 "sampler is NULL");
    test_expect_error(scoresde_sampler_encode(s, NULL, x, 2, 2, y, NULL), SCORESDE_EINVAL,
                 "model is NULL");
    test_expect_error(scoresde_sampler_encode(s, m, NULL, 2, 2, y, NULL), SCORESDE_EINVAL,
                 "x0 is NULL");
    test_expect_error(scoresde_sampler_encode(s, m, x, 2, 2, NULL, NULL), SCORESDE_EINVAL,
                 "x_out is NULL");
    scoresde_sampler_stats small = {.struct_size = 4};
    test_expect_error(scoresde_sampler_encode(s, m, x, 2, 2, y, &small), SCORESDE_EINVAL, "stats");
    test_expect_error(scoresde_sampler_likelihood(NULL, m, x, 2, 2, 1, 0, lp, NULL, NULL),
                 SCORESDE_EINVAL, "sampler is NULL");
    test_expect_error(scoresde_sampler_likelihood(s, NULL, x, 2, 2, 1, 0, lp, NULL, NULL),
                 SCORESDE_EINVAL, "model is NULL");
    /* bits per dimension */
    test_expect_error(scoresde_bits_per_dim(NULL, 2, 2, 8, 1.0, bpd), SCORESDE_EINVAL, "logp is NULL");
    test_expect_error(scoresde_bits_per_dim(lp, 2, 2, 8, 1.0, NULL), SCORESDE_EINVAL, "bpd is NULL");
    test_expect_error(scoresde_bits_per_dim(lp, 0, 2, 8, 1.0, bpd), SCORESDE_EINVAL, "n");
    test_expect_error(scoresde_bits_per_dim(lp, 2, 2, 0, 1.0, bpd), SCORESDE_EINVAL, "bits");
    test_expect_error(scoresde_bits_per_dim(lp, 2, 2, 65, 1.0, bpd), SCORESDE_EINVAL, "bits");
    test_expect_error(scoresde_bits_per_dim(lp, 2, 2, 8, NAN, bpd), SCORESDE_EINVAL, "scale");
    test_expect_error(scoresde_bits_per_dim(lp, 2, 2, 8, -1.0, bpd), SCORESDE_EINVAL, "scale");
    /* Langevin */
    test_expect_error(scoresde_sampler_langevin(NULL, score, NULL, x, 2, 2, 1, 0, y, NULL),
                 SCORESDE_EINVAL, "sampler is NULL");
    test_expect_error(scoresde_sampler_langevin(s, score, NULL, NULL, 2, 2, 1, 0, y, NULL),
                 SCORESDE_EINVAL, "x0 is NULL");
    test_expect_error(scoresde_sampler_langevin(s, score, NULL, x, 2, 2, 1, 0, NULL, NULL),
                 SCORESDE_EINVAL, "x_out is NULL");
    test_expect_error(scoresde_sampler_langevin(s, score, NULL, x, 0, 2, 1, 0, y, NULL),
                 SCORESDE_EINVAL, "n");
    test_expect_error(scoresde_sampler_langevin(s, score, NULL, x, 2, 0, 1, 0, y, NULL),
                 SCORESDE_EINVAL, "D");
    test_expect_error(scoresde_sampler_langevin(s, score, NULL, x, 2, 2, 1, 0, y, &small),
                 SCORESDE_EINVAL, "stats");
    /* bound and report */
    double terms[14];
    test_expect_error(scoresde_sampler_bound(NULL, m, x, 2, 2, 1, 0, lp, NULL, NULL), SCORESDE_EINVAL,
                 "sampler is NULL");
    test_expect_error(scoresde_sampler_bound(s, NULL, x, 2, 2, 1, 0, lp, NULL, NULL), SCORESDE_EINVAL,
                 "model is NULL");
    test_expect_error(scoresde_sampler_bound(s, m, NULL, 2, 2, 1, 0, lp, NULL, NULL), SCORESDE_EINVAL,
                 "x is NULL");
    test_expect_error(scoresde_sampler_bound(s, m, x, 2, 0, 1, 0, lp, NULL, NULL), SCORESDE_EINVAL,
                 "D");
    test_expect_error(scoresde_sampler_report(s, m, SCORESDE_REPORT_BOUND, x, 2, 2, 1, 0, terms, 0,
                                         NULL),
                 SCORESDE_EINVAL, "columns (0) is not in [1, 7]");
    test_expect_error(scoresde_sampler_report(s, m, SCORESDE_REPORT_BOUND, x, 2, 2, 1, 0, terms, 8,
                                         NULL),
                 SCORESDE_EINVAL, "columns (8) is not in [1, 7]");
    test_expect_error(scoresde_sampler_report(s, m, SCORESDE_REPORT_BOUND, x, 2, 2, 1, 0, terms, 7,
                                         &small),
                 SCORESDE_EINVAL, "stats");
    /* discrete data must be integers in [0, 2^b - 1] */
    ck_assert_int_eq(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_DEQUANT_BITS, 2), SCORESDE_OK);
    static const double bad_data[3] = {0.5, 4.0, -1.0};
    for (int k = 0; k < 3; k++) {
        double xd[4] = {0, 1, 2, 3};
        xd[k + 1] = bad_data[k];
        ck_assert_int_eq(scoresde_sampler_report(s, m, SCORESDE_REPORT_BOUND, xd, 2, 2, 1, 0,
                                                 terms, 7, NULL),
                         SCORESDE_EINVAL);
    }
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(vp);
}
END_TEST

/* One draw per point: the bound's standard error is NaN (M = 1), the report
 * fills the stats struct; a score that overflows the bound's term is refused. */
static int huge(const double *x, const double *t, size_t n, size_t D, double *s, void *u)
{
    (void)x, (void)t, (void)u;
    for (size_t k = 0; k < n * D; k++)
        s[k] = 1e200;
    return 0;
}

START_TEST(bound_single_draw_and_stats)
{
    scoresde_sde *vp = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = NULL, *h = NULL;
    ck_assert_int_eq(scoresde_model_create_score_fn(&m, vp, 2, score, divergence, NULL),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_create_score_fn(&h, vp, 2, huge, NULL, NULL), SCORESDE_OK);
    scoresde_sampler *s = NULL;
    ck_assert_int_eq(scoresde_sampler_create(&s, SCORESDE_SAMPLER_PC), SCORESDE_OK);
    ck_assert_int_eq(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BOUND_DRAWS, 1), SCORESDE_OK);
    double x[4] = {0.3, -0.2, 0.1, 0.4}, nll[2], se[2], terms[14];
    ck_assert_int_eq(scoresde_sampler_bound(s, m, x, 2, 2, 3, 0, nll, se, NULL), SCORESDE_OK);
    ck_assert(isnan(se[0]) && isnan(se[1]));
    ck_assert(isfinite(nll[0]) && isfinite(nll[1]));
    scoresde_sampler_stats st = {.struct_size = sizeof st};
    ck_assert_int_eq(scoresde_sampler_report(s, m, SCORESDE_REPORT_BOUND, x, 2, 2, 3, 0, terms, 7,
                                             &st),
                     SCORESDE_OK);
    ck_assert_uint_eq(st.nfe, 1);
    ck_assert_double_eq(st.t_final, 1.0);
    /* with b = 0 a BOUND report is the bound, bit for bit */
    ck_assert_double_eq(terms[SCORESDE_REPORT_TOTAL], nll[0]);
    ck_assert(isnan(terms[SCORESDE_REPORT_STDERR]));
    test_expect_error(scoresde_sampler_bound(s, h, x, 2, 2, 3, 0, nll, se, NULL), SCORESDE_ENUMERIC,
                 "");
    scoresde_sampler_free(s);
    scoresde_model_free(h);
    scoresde_model_free(m);
    scoresde_sde_free(vp);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("coverage_solve");
    TCase *tc = tcase_create("solve");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, each_callback_call_fails, 0, sizeof configs / sizeof configs[0]);
    tcase_add_test(tc, null_and_range_arguments);
    tcase_add_test(tc, bound_single_draw_and_stats);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(suite());
}
