/*
 * Loss and trainer refusals not reached elsewhere (issue 17's coverage goal):
 * NULL arguments; a model callback that fails at its k-th call, for every k
 * until the evaluation succeeds, under each loss kind (each failure is
 * SCORESDE_ECALLBACK and nothing else); losses over SDEs whose schedule turns
 * bad; eps and fixed times outside [0, T]; checkpoints whose loss settings
 * differ from the trainer's; a step failing inside fit; fit_cond's broadcast
 * and all-null conditions. (Forged checkpoints: test_coverage_files.c.)
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "scoresde.h"
#include "testutil.h"

/* The N(0, I) score -x and its divergence, failing as the test_countdown
 * `u` says (score and divergence calls counted together). */
static int cd_score(const double *x, const double *t, size_t n, size_t D, double *s, void *u)
{
    (void)t;
    if (test_countdown_fails(u))
        return 1;
    for (size_t k = 0; k < n * D; k++)
        s[k] = -x[k];
    return 0;
}

static int cd_div(const double *x, const double *t, size_t n, size_t D, double *d, void *u)
{
    (void)x, (void)t;
    if (test_countdown_fails(u))
        return 1;
    for (size_t i = 0; i < n; i++)
        d[i] = -(double)D;
    return 0;
}

static const int all_kinds[] = {SCORESDE_LOSS_ESM,  SCORESDE_LOSS_ISM,  SCORESDE_LOSS_SSM,
                                SCORESDE_LOSS_SSM_VR, SCORESDE_LOSS_DSM, SCORESDE_LOSS_SMLD,
                                SCORESDE_LOSS_DDPM};

/* Fail each callback call in turn: each failure is the evaluation's
 * ECALLBACK; past the calls it makes, it succeeds with the same value. */
START_TEST(callback_fails_at_each_call)
{
    int kind = all_kinds[_i];
    scoresde_sde *sde = test_make_sde(kind == SCORESDE_LOSS_SMLD ? SCORESDE_SDE_VE
                                                                 : SCORESDE_SDE_VP);
    test_countdown c = {0, -1}, ref_cd = {0, -1};
    scoresde_model *m = NULL, *ref = NULL;
    ck_assert_int_eq(scoresde_model_create_score_fn(&m, sde, 2, cd_score, cd_div, &c), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_create_score_fn(&ref, sde, 2, cd_score, NULL, &ref_cd),
                     SCORESDE_OK);
    scoresde_loss *l = NULL;
    ck_assert_int_eq(scoresde_loss_create(&l, kind), SCORESDE_OK);
    if (kind == SCORESDE_LOSS_ESM)
        ck_assert_int_eq(scoresde_loss_set_reference(l, ref), SCORESDE_OK);
    double x[6] = {0.1, -0.2, 0.3, 0.4, -0.5, 0.6}, want, v;
    ck_assert_int_eq(scoresde_loss_eval(l, m, x, 3, 2, 7, 0, &want, NULL, NULL, 0), SCORESDE_OK);
    const long mc = c.calls, rn = ref_cd.calls;
    ck_assert_int_gt(mc, 0);
    ck_assert_int_eq(rn > 0, kind == SCORESDE_LOSS_ESM);
    /* the model's calls, then (ESM) the reference's: every failure surfaces */
    for (long k = 0; k <= mc + rn; k++) {
        c.calls = ref_cd.calls = 0;
        c.fail_at = k < mc ? k : -1;
        ref_cd.fail_at = k < mc ? -1 : k - mc;
        int rc = scoresde_loss_eval(l, m, x, 3, 2, 7, 0, &v, NULL, NULL, 0);
        if (k == mc + rn) {
            ck_assert_int_eq(rc, SCORESDE_OK);
            ck_assert_double_eq(v, want);
        } else {
            test_expect_error(rc, SCORESDE_ECALLBACK, "callback returned 1");
        }
    }
    scoresde_loss_free(l);
    scoresde_model_free(ref);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* alpha = 1, sigma = 0.1 + t (g^2 = 2 sigma) on [0, T]; then bad as `mode`. */
typedef struct {
    int mode; /* 0 good, 1 fails, 2 sigma = 0, 3 sigma decreasing */
} sched;

static int schedule(const double *t, size_t n, double *al, double *si, double *da, double *ds,
                    void *user)
{
    const sched *c = user;
    if (c->mode == 1)
        return 1;
    for (size_t i = 0; i < n; i++) {
        al[i] = 1.0;
        da[i] = 0.0;
        si[i] = c->mode == 2 ? 0.0 : c->mode == 3 ? 2.0 - t[i] : 0.1 + t[i];
        ds[i] = c->mode == 2 ? 0.0 : c->mode == 3 ? -1.0 : 1.0;
    }
    return 0;
}

static int set_mode(scoresde_loss *l, int time_mode, int weighting)
{
    int rc = scoresde_loss_set_int(l, SCORESDE_LOSS_TIME_MODE, time_mode);
    return rc ? rc : scoresde_loss_set_int(l, SCORESDE_LOSS_WEIGHTING, weighting);
}

START_TEST(loss_over_bad_schedule)
{
    sched c = {0};
    scoresde_sde *s = NULL;
    ck_assert_int_eq(scoresde_sde_create_schedule(&s, 0.5, schedule, &c), SCORESDE_OK);
    test_countdown none = {0, -1};
    scoresde_model *m = NULL;
    ck_assert_int_eq(scoresde_model_create_score_fn(&m, s, 2, cd_score, NULL, &none), SCORESDE_OK);
    scoresde_loss *l = NULL;
    ck_assert_int_eq(scoresde_loss_create(&l, SCORESDE_LOSS_DSM), SCORESDE_OK);
    double x[4] = {0.1, 0.2, 0.3, 0.4}, v, good;
    /* importance-sampled times with the likelihood weighting */
    ck_assert_int_eq(set_mode(l, SCORESDE_LOSS_TIME_IMPORTANCE, SCORESDE_LOSS_WEIGHT_G2),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_loss_eval(l, m, x, 2, 2, 1, 0, &good, NULL, NULL, 0), SCORESDE_OK);
    ck_assert(isfinite(good));
    c.mode = 1;
    test_expect_error(scoresde_loss_eval(l, m, x, 2, 2, 1, 0, &v, NULL, NULL, 0), SCORESDE_ECALLBACK,
                 "the schedule hook returned non-zero");
    c.mode = 2;
    test_expect_error(scoresde_loss_eval(l, m, x, 2, 2, 1, 0, &v, NULL, NULL, 0), SCORESDE_EINVAL,
                 "importance-sampled times need 0 < sigma/alpha < inf");
    c.mode = 3;
    test_expect_error(scoresde_loss_eval(l, m, x, 2, 2, 1, 0, &v, NULL, NULL, 0), SCORESDE_EINVAL,
                 "importance-sampled times need sigma/alpha increasing");
    /* uniform times, each weighting meets the failing hook */
    c.mode = 1;
    static const int weightings[3] = {SCORESDE_LOSS_WEIGHT_G2, SCORESDE_LOSS_WEIGHT_SIGMA2,
                                      SCORESDE_LOSS_WEIGHT_UNIFORM};
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(set_mode(l, SCORESDE_LOSS_TIME_UNIFORM, weightings[k]), SCORESDE_OK);
        test_expect_error(scoresde_loss_eval(l, m, x, 2, 2, 1, 0, &v, NULL, NULL, 0),
                     SCORESDE_ECALLBACK, "the schedule hook returned non-zero");
    }
    /* eps at or above T = 0.5, for uniform and importance-sampled times */
    c.mode = 0;
    ck_assert_int_eq(scoresde_loss_set_double(l, SCORESDE_LOSS_EPS, 0.5), SCORESDE_OK);
    test_expect_error(scoresde_loss_eval(l, m, x, 2, 2, 1, 0, &v, NULL, NULL, 0), SCORESDE_EINVAL,
                 "eps (0.5) is not below T (0.5)");
    ck_assert_int_eq(set_mode(l, SCORESDE_LOSS_TIME_IMPORTANCE, SCORESDE_LOSS_WEIGHT_G2),
                     SCORESDE_OK);
    test_expect_error(scoresde_loss_eval(l, m, x, 2, 2, 1, 0, &v, NULL, NULL, 0), SCORESDE_EINVAL,
                 "increasing from eps (0.5) to T (0.5)");
    /* a fixed time beyond T */
    ck_assert_int_eq(scoresde_loss_set_double(l, SCORESDE_LOSS_EPS, NAN), SCORESDE_OK);
    ck_assert_int_eq(set_mode(l, SCORESDE_LOSS_TIME_FIXED, SCORESDE_LOSS_WEIGHT_SIGMA2),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_loss_set_double(l, SCORESDE_LOSS_FIXED_TIME, 0.75), SCORESDE_OK);
    test_expect_error(scoresde_loss_eval(l, m, x, 2, 2, 1, 0, &v, NULL, NULL, 0), SCORESDE_EINVAL,
                 "fixed time (0.75) is outside [0, T = 0.5]");
    scoresde_loss_free(l);
    scoresde_model_free(m);
    scoresde_sde_free(s);
}
END_TEST

/* Log-normal times (EDM) with eps at T = sigma_max. */
START_TEST(lognormal_eps_at_T)
{
    scoresde_sde *edm = NULL;
    ck_assert_int_eq(scoresde_sde_create_edm(&edm, 0.002, 8.0), SCORESDE_OK);
    test_countdown none = {0, -1};
    scoresde_model *m = NULL;
    ck_assert_int_eq(scoresde_model_create_score_fn(&m, edm, 2, cd_score, NULL, &none),
                     SCORESDE_OK);
    scoresde_loss *l = NULL;
    ck_assert_int_eq(scoresde_loss_create(&l, SCORESDE_LOSS_DSM), SCORESDE_OK);
    ck_assert_int_eq(scoresde_loss_set_int(l, SCORESDE_LOSS_TIME_MODE,
                                           SCORESDE_LOSS_TIME_LOGNORMAL),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_loss_set_double(l, SCORESDE_LOSS_EPS, 8.0), SCORESDE_OK);
    double x[4] = {0.1, 0.2, 0.3, 0.4}, v;
    test_expect_error(scoresde_loss_eval(l, m, x, 2, 2, 1, 0, &v, NULL, NULL, 0), SCORESDE_EINVAL,
                 "eps (8) is not below T (8)");
    scoresde_loss_free(l);
    scoresde_model_free(m);
    scoresde_sde_free(edm);
}
END_TEST

START_TEST(loss_null_arguments)
{
    scoresde_loss *l = NULL;
    ck_assert_int_eq(scoresde_loss_create(&l, SCORESDE_LOSS_DSM), SCORESDE_OK);
    test_expect_error(scoresde_loss_set_weight_fn(NULL, NULL, NULL), SCORESDE_EINVAL, "loss is NULL");
    test_expect_error(scoresde_loss_set_weight_fn(l, NULL, NULL), SCORESDE_EINVAL, "fn is NULL");
    test_expect_error(scoresde_loss_set_reference(NULL, NULL), SCORESDE_EINVAL, "loss is NULL");
    double v, x[2] = {0, 0};
    test_expect_error(scoresde_loss_eval(NULL, NULL, x, 1, 2, 1, 0, &v, NULL, NULL, 0),
                 SCORESDE_EINVAL, "loss is NULL");
    test_expect_error(scoresde_loss_eval(l, NULL, x, 1, 2, 1, 0, &v, NULL, NULL, 0), SCORESDE_EINVAL,
                 "model is NULL");
    scoresde_loss_free(l);
}
END_TEST

/* ---- the trainer */

typedef struct {
    scoresde_sde *sde;
    scoresde_model *model;
    scoresde_loss *loss;
    scoresde_trainer *tr;
    size_t P;
} run;

static void run_open(run *r, size_t cond_dim, int cond_null)
{
    r->sde = test_make_sde(SCORESDE_SDE_VP);
    const size_t widths[1] = {4};
    scoresde_mlp_options o;
    test_mlp_options(&o, 1, widths, SCORESDE_MLP_OUTPUT_NOISE, 4, 5);
    o.cond_dim = cond_dim;
    o.cond_null = cond_null;
    ck_assert_int_eq(scoresde_model_create_mlp(&r->model, r->sde, 2, &o), SCORESDE_OK);
    ck_assert_int_eq(scoresde_loss_create(&r->loss, SCORESDE_LOSS_DSM), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_create(&r->tr, r->model, r->loss), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_set_int(r->tr, SCORESDE_TRAIN_BATCH, 4), SCORESDE_OK);
    r->P = scoresde_trainer_num_params(r->tr);
}

static void run_close(run *r)
{
    scoresde_trainer_free(r->tr);
    scoresde_loss_free(r->loss);
    scoresde_model_free(r->model);
    scoresde_sde_free(r->sde);
}

START_TEST(trainer_null_arguments)
{
    run r;
    run_open(&r, 0, 0);
    double x[8] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8}, v;
    double *g = calloc(r.P, sizeof(double));
    void *buf;
    size_t size;
    scoresde_model *out = NULL;
    test_expect_error(scoresde_trainer_create(NULL, r.model, r.loss), SCORESDE_EINVAL, "out is NULL");
    test_expect_error(scoresde_trainer_backward_cond(NULL, x, 4, 2, NULL, 0, &v), SCORESDE_EINVAL,
                 "trainer is NULL");
    test_expect_error(scoresde_trainer_get_grad(NULL, g, r.P), SCORESDE_EINVAL, "trainer is NULL");
    test_expect_error(scoresde_trainer_get_grad(r.tr, NULL, r.P), SCORESDE_EINVAL, "grad is NULL");
    test_expect_error(scoresde_trainer_set_grad(r.tr, NULL, r.P), SCORESDE_EINVAL, "grad is NULL");
    test_expect_error(scoresde_trainer_get_ema(r.tr, NULL, r.P), SCORESDE_EINVAL, "theta is NULL");
    test_expect_error(scoresde_trainer_apply(NULL, NULL), SCORESDE_EINVAL, "trainer is NULL");
    test_expect_error(scoresde_trainer_step_cond(NULL, x, 4, 2, NULL, &v), SCORESDE_EINVAL,
                 "trainer is NULL");
    test_expect_error(scoresde_trainer_fit(NULL, x, 4, 2, 1, NULL, NULL), SCORESDE_EINVAL,
                 "trainer is NULL");
    test_expect_error(scoresde_trainer_fit(r.tr, x, 2, 4, 1, NULL, NULL), SCORESDE_EDIM,
                 "data has dimension 4, the model expects 2");
    test_expect_error(scoresde_trainer_save_buffer(NULL, &buf, &size), SCORESDE_EINVAL,
                 "trainer is NULL");
    test_expect_error(scoresde_trainer_save_buffer(r.tr, NULL, &size), SCORESDE_EINVAL,
                 "data is NULL");
    test_expect_error(scoresde_trainer_save_buffer(r.tr, &buf, NULL), SCORESDE_EINVAL,
                 "size is NULL");
    test_expect_error(scoresde_trainer_save(NULL, "x"), SCORESDE_EINVAL, "trainer is NULL");
    test_expect_error(scoresde_trainer_save(r.tr, NULL), SCORESDE_EINVAL, "path is NULL");
    test_expect_error(scoresde_trainer_load_buffer(NULL, x, 8), SCORESDE_EINVAL, "trainer is NULL");
    test_expect_error(scoresde_trainer_load_buffer(r.tr, NULL, 8), SCORESDE_EINVAL, "data is NULL");
    test_expect_error(scoresde_trainer_load(NULL, "x"), SCORESDE_EINVAL, "trainer is NULL");
    test_expect_error(scoresde_trainer_load(r.tr, NULL), SCORESDE_EINVAL, "path is NULL");
    test_expect_error(scoresde_trainer_export(NULL, r.tr, SCORESDE_TRAIN_EXPORT_EMA), SCORESDE_EINVAL,
                 "out is NULL");
    test_expect_error(scoresde_trainer_export(&out, NULL, SCORESDE_TRAIN_EXPORT_EMA), SCORESDE_EINVAL,
                 "trainer is NULL");
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(scoresde_trainer_steps(r.tr), 0);
    free(g);
    run_close(&r);
}
END_TEST

/* A weight hook that fails stops fit at its first step, nothing advanced. */
static int failing_weight(const double *t, size_t n, double *w, void *u)
{
    (void)t, (void)n, (void)w, (void)u;
    return 1;
}

START_TEST(fit_stops_on_a_failing_step)
{
    run r;
    run_open(&r, 0, 0);
    ck_assert_int_eq(scoresde_loss_set_weight_fn(r.loss, failing_weight, NULL), SCORESDE_OK);
    double x[8] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8};
    ck_assert_int_eq(scoresde_trainer_fit(r.tr, x, 4, 2, 3, NULL, NULL), SCORESDE_ECALLBACK);
    ck_assert_uint_eq(scoresde_trainer_steps(r.tr), 0);
    run_close(&r);
}
END_TEST

/* fit_cond with one condition row for every sample (stride 0) takes the same
 * steps as the same row repeated for each data row; with every sample null
 * (c NULL) and dropout on, the mask is left as it is. */
START_TEST(fit_cond_broadcast_and_all_null)
{
    run a, b;
    run_open(&a, 1, 1);
    run_open(&b, 1, 1);
    double x[8] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8}, one = 0.5;
    double rows[4] = {0.5, 0.5, 0.5, 0.5};
    scoresde_cond bc = {sizeof bc, 1, &one, 1, NULL}, full = {sizeof full, 1, rows, 4, NULL};
    ck_assert_int_eq(scoresde_trainer_fit_cond(a.tr, x, 4, 2, &bc, 2, NULL, NULL), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_fit_cond(b.tr, x, 4, 2, &full, 2, NULL, NULL), SCORESDE_OK);
    test_assert_same_params(a.model, b.model);
    /* all null, with and without dropout: the same steps */
    scoresde_cond none = {sizeof none, 1, NULL, 4, NULL};
    ck_assert_int_eq(scoresde_trainer_set_double(a.tr, SCORESDE_TRAIN_COND_DROPOUT, 0.5),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_step_cond(a.tr, x, 4, 2, &none, NULL), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_step_cond(b.tr, x, 4, 2, &none, NULL), SCORESDE_OK);
    test_assert_same_params(a.model, b.model);
    /* a condition of the wrong kind is refused before anything runs */
    scoresde_cond bad = {sizeof bad, 1, rows, 3, NULL};
    ck_assert_int_eq(scoresde_trainer_step_cond(a.tr, x, 4, 2, &bad, NULL), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_trainer_backward_cond(a.tr, x, 4, 2, &bad, 0, NULL), SCORESDE_EINVAL);
    ck_assert_uint_eq(scoresde_trainer_steps(a.tr), 3);
    run_close(&a);
    run_close(&b);
}
END_TEST

/* A checkpoint of a loss with other settings than the trainer's is refused
 * (EINVAL, naming the setting), the trainer untouched. */
START_TEST(checkpoint_loss_settings_differ)
{
    run a, b;
    run_open(&a, 0, 0);
    run_open(&b, 0, 0);
    void *buf;
    size_t size;
    ck_assert_int_eq(scoresde_trainer_save_buffer(a.tr, &buf, &size), SCORESDE_OK);
    ck_assert_int_eq(scoresde_loss_set_int(b.loss, SCORESDE_LOSS_NUM_PROBES, 3), SCORESDE_OK);
    test_expect_error(scoresde_trainer_load_buffer(b.tr, buf, size), SCORESDE_EINVAL,
                 "the checkpoint's loss has M = 1");
    ck_assert_int_eq(scoresde_loss_set_int(b.loss, SCORESDE_LOSS_NUM_PROBES, 1), SCORESDE_OK);
    ck_assert_int_eq(scoresde_loss_set_double(b.loss, SCORESDE_LOSS_P_STD, 1.5), SCORESDE_OK);
    test_expect_error(scoresde_trainer_load_buffer(b.tr, buf, size), SCORESDE_EINVAL,
                 "the checkpoint's loss has P_std");
    ck_assert_uint_eq(scoresde_trainer_steps(b.tr), 0);
    scoresde_buffer_free(buf);
    run_close(&a);
    run_close(&b);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("coverage_train");
    TCase *tc = tcase_create("loss");
    tcase_add_loop_test(tc, callback_fails_at_each_call, 0,
                        sizeof all_kinds / sizeof all_kinds[0]);
    tcase_add_test(tc, loss_over_bad_schedule);
    tcase_add_test(tc, lognormal_eps_at_T);
    tcase_add_test(tc, loss_null_arguments);
    suite_add_tcase(s, tc);
    tc = tcase_create("trainer");
    tcase_add_test(tc, trainer_null_arguments);
    tcase_add_test(tc, fit_stops_on_a_failing_step);
    tcase_add_test(tc, fit_cond_broadcast_and_all_null);
    tcase_add_test(tc, checkpoint_loss_settings_differ);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(suite());
}
