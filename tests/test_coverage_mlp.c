/*
 * MLP model refusals not reached elsewhere (issue 17's coverage goal):
 * options past their limits (hidden layers, condition classes, the input
 * width), float32 condition parameters beyond float's range, and Jacobian
 * products that overflow (JVP and the probe terms of Hutchinson's estimate),
 * each with its code and message.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "scoresde.h"
#include "testutil.h"

static const size_t widths[1] = {4};

START_TEST(options_past_limits)
{
    scoresde_sde *vp = test_make_sde(SCORESDE_SDE_VP);
    scoresde_mlp_options o;
    scoresde_model *m = (scoresde_model *)&m;
    test_mlp_options(&o, SCORESDE_MLP_MAX_HIDDEN + 1, widths, SCORESDE_MLP_OUTPUT_NOISE, 4, 1);
    test_expect_error(scoresde_model_create_mlp(&m, vp, 2, &o), SCORESDE_EINVAL,
                 "n_hidden (65) is above 64");
    ck_assert_ptr_null(m);
    test_mlp_options(&o, 1, widths, SCORESDE_MLP_OUTPUT_NOISE, 4, 1);
    o.cond_dim = 1;
    o.cond_classes = ((size_t)1 << 20) + 1;
    test_expect_error(scoresde_model_create_mlp(&m, vp, 2, &o), SCORESDE_EINVAL,
                 "cond_classes (1048577) is above 2^20");
    test_mlp_options(&o, 1, widths, SCORESDE_MLP_OUTPUT_NOISE, 4, 1);
    test_expect_error(scoresde_model_create_mlp(&m, vp, (size_t)1 << 20, &o), SCORESDE_EINVAL,
                 "D (1048576) is above the network's limit");
    ck_assert_ptr_null(m);
    scoresde_sde_free(vp);
}
END_TEST

/* A float32 MLP with a label table: parameters beyond float's range are
 * refused, naming the condition parameter; nothing changes. */
START_TEST(float32_condition_parameters)
{
    scoresde_sde *vp = test_make_sde(SCORESDE_SDE_VP);
    scoresde_mlp_options o;
    test_mlp_options(&o, 1, widths, SCORESDE_MLP_OUTPUT_NOISE, 4, 1);
    o.precision = SCORESDE_MLP_FLOAT32;
    o.cond_dim = 1;
    o.cond_classes = 3;
    scoresde_model *m = NULL;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, vp, 2, &o), SCORESDE_OK);
    size_t P = test_num_params(m);
    double *theta = malloc(P * sizeof(double)), *before = malloc(P * sizeof(double));
    ck_assert_int_eq(scoresde_model_get_params(m, before, P), SCORESDE_OK);
    memcpy(theta, before, P * sizeof(double));
    theta[P - 1] = 1e39;
    test_expect_error(scoresde_model_set_params(m, theta, P), SCORESDE_EINVAL,
                 "a condition parameter, is beyond float32's range");
    ck_assert_int_eq(scoresde_model_get_params(m, theta, P), SCORESDE_OK);
    ck_assert_mem_eq(theta, before, P * sizeof(double));
    free(before);
    free(theta);
    scoresde_model_free(m);
    scoresde_sde_free(vp);
}
END_TEST

/* Tangents near DBL_MAX: the Jacobian product overflows and is refused. */
START_TEST(jacobian_products_overflow)
{
    scoresde_sde *vp = test_make_sde(SCORESDE_SDE_VP);
    scoresde_mlp_options o;
    test_mlp_options(&o, 1, widths, SCORESDE_MLP_OUTPUT_NOISE, 4, 1);
    scoresde_model *m = NULL;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, vp, 2, &o), SCORESDE_OK);
    double x[4] = {0.1, 0.2, 0.3, 0.4}, t[2] = {1e-3, 1e-3}, v[4], s[4], jv[4], est[2];
    for (int k = 0; k < 4; k++)
        v[k] = k % 2 ? -1.7e308 : 1.7e308;
    test_expect_error(scoresde_model_jvp(m, x, t, 2, 2, v, s, jv), SCORESDE_ENUMERIC,
                 "the MLP Jacobian product is not finite");
    test_expect_error(scoresde_model_hutchinson(m, x, t, 2, 2, v, 1, est), SCORESDE_ENUMERIC,
                 "the MLP Jacobian product is not finite");
    /* ordinary tangents are fine */
    for (int k = 0; k < 4; k++)
        v[k] = k % 2 ? -1.0 : 1.0;
    ck_assert_int_eq(scoresde_model_jvp(m, x, t, 2, 2, v, s, jv), SCORESDE_OK);
    scoresde_model_free(m);
    scoresde_sde_free(vp);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("coverage_mlp");
    TCase *tc = tcase_create("mlp");
    tcase_add_test(tc, options_past_limits);
    tcase_add_test(tc, float32_condition_parameters);
    tcase_add_test(tc, jacobian_products_overflow);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(suite());
}
