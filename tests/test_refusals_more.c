/*
 * Refusals not reached elsewhere (issue 17's coverage goal): a user weight
 * that is negative or not finite, a loss value that overflows (each kind's
 * message names it), an ESM reference of another dimension.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <math.h>
#include <string.h>

#include "scoresde.h"
#include "testutil.h"

/* A score so large that 1/2 ||s||^2 overflows to +inf. */
static int huge_score(const double *x, const double *t, size_t n, size_t D, double *s, void *u)
{
    (void)x, (void)t, (void)u;
    for (size_t k = 0; k < n * D; k++)
        s[k] = 1e200;
    return 0;
}
static int zero_div(const double *x, const double *t, size_t n, size_t D, double *d, void *u)
{
    (void)x, (void)t, (void)D, (void)u;
    for (size_t i = 0; i < n; i++)
        d[i] = 0.0;
    return 0;
}

/* lambda(t) = *(double *)user for every sample. */
static int const_weight(const double *t, size_t n, double *w, void *u)
{
    (void)t;
    for (size_t i = 0; i < n; i++)
        w[i] = *(const double *)u;
    return 0;
}

START_TEST(bad_user_weight)
{
    static const double bad[3] = {-1.0, NAN, INFINITY};
    scoresde_sde *vp = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *a = test_mixture(vp);
    double x[4] = {0.1, 0.2, 0.3, 0.4}, v;
    for (int k = 0; k < 3; k++) {
        scoresde_loss *l = NULL;
        ck_assert_int_eq(scoresde_loss_create(&l, SCORESDE_LOSS_DSM), SCORESDE_OK);
        ck_assert_int_eq(scoresde_loss_set_weight_fn(l, const_weight, (void *)&bad[k]),
                         SCORESDE_OK);
        test_expect_error(scoresde_loss_eval(l, a, x, 2, 2, 1, 0, &v, NULL, NULL, 0),
                          SCORESDE_ENUMERIC, "the loss weight hook gave lambda");
        scoresde_loss_free(l);
    }
    scoresde_model_free(a);
    scoresde_sde_free(vp);
}
END_TEST

/* Each kind's overflowing loss is refused with the kind and the sample named. */
static const struct {
    int kind, sde;
    const char *needle;
} overflow_cases[] = {
    {SCORESDE_LOSS_ESM, SCORESDE_SDE_VP, "the ESM loss of sample 0"},
    {SCORESDE_LOSS_ISM, SCORESDE_SDE_VP, "the ISM loss of sample 0"},
    {SCORESDE_LOSS_SSM, SCORESDE_SDE_VP, "the SSM loss of sample 0"},
    {SCORESDE_LOSS_SSM_VR, SCORESDE_SDE_VP, "the SSM_VR loss of sample 0"},
    {SCORESDE_LOSS_DSM, SCORESDE_SDE_VP, "the DSM loss of sample 0"},
    {SCORESDE_LOSS_SMLD, SCORESDE_SDE_VE, "the SMLD loss of sample 0"},
    {SCORESDE_LOSS_DDPM, SCORESDE_SDE_VP, "the DDPM loss of sample 0"},
};

START_TEST(overflowing_loss)
{
    scoresde_sde *sde = test_make_sde(overflow_cases[_i].sde);
    scoresde_model *h = NULL, *ref = test_mixture(sde);
    ck_assert_int_eq(scoresde_model_create_score_fn(&h, sde, 2, huge_score, zero_div, NULL),
                     SCORESDE_OK);
    scoresde_loss *l = NULL;
    ck_assert_int_eq(scoresde_loss_create(&l, overflow_cases[_i].kind), SCORESDE_OK);
    ck_assert_int_eq(scoresde_loss_set_reference(l, ref), SCORESDE_OK);
    double x[4] = {0.1, 0.2, 0.3, 0.4}, v;
    test_expect_error(scoresde_loss_eval(l, h, x, 2, 2, 1, 0, &v, NULL, NULL, 0), SCORESDE_ENUMERIC,
                      overflow_cases[_i].needle);
    scoresde_loss_free(l);
    scoresde_model_free(h);
    scoresde_model_free(ref);
    scoresde_sde_free(sde);
}
END_TEST

START_TEST(esm_reference_dimension)
{
    scoresde_sde *vp = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *h = NULL, *ref = test_mixture(vp);
    ck_assert_int_eq(scoresde_model_create_score_fn(&h, vp, 3, huge_score, NULL, NULL),
                     SCORESDE_OK);
    scoresde_loss *l = NULL;
    ck_assert_int_eq(scoresde_loss_create(&l, SCORESDE_LOSS_ESM), SCORESDE_OK);
    ck_assert_int_eq(scoresde_loss_set_reference(l, ref), SCORESDE_OK);
    double x[6] = {0}, v;
    test_expect_error(scoresde_loss_eval(l, h, x, 2, 3, 1, 0, &v, NULL, NULL, 0), SCORESDE_EDIM,
                      "the reference model has dimension 2, x0 has 3");
    scoresde_loss_free(l);
    scoresde_model_free(h);
    scoresde_model_free(ref);
    scoresde_sde_free(vp);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("refusals_more");
    TCase *tc = tcase_create("loss");
    tcase_add_test(tc, bad_user_weight);
    tcase_add_loop_test(tc, overflowing_loss, 0,
                        (int)(sizeof overflow_cases / sizeof overflow_cases[0]));
    tcase_add_test(tc, esm_reference_dimension);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
