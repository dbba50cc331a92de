/*
 * Model refusals not reached elsewhere (issue 17's coverage goal): every
 * evaluation of each closed-form and callback model over a schedule SDE
 * whose hook starts failing (what worked before now fails with the hook's
 * ECALLBACK; what is unsupported stays so); the creators' NULL, zero, too
 * large and non-finite arguments and SDEs without a Gaussian marginal; a
 * conditional divergence hook; parameter copies onto the model itself.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "scoresde.h"
#include "testutil.h"

static int denoiser(const double *x, const double *t, size_t n, size_t D, double *x0, void *u)
{
    (void)t, (void)u;
    for (size_t k = 0; k < n * D; k++)
        x0[k] = 0.5 * x[k];
    return 0;
}

static int cond_score(const double *x, const double *t, size_t n, size_t D, const double *c,
                      size_t c_stride, const unsigned char *null_mask, double *s, void *u)
{
    (void)t, (void)c, (void)c_stride, (void)null_mask, (void)u;
    for (size_t k = 0; k < n * D; k++)
        s[k] = -x[k];
    return 0;
}

static int cond_div(const double *x, const double *t, size_t n, size_t D, const double *c,
                    size_t c_stride, const unsigned char *null_mask, double *d, void *u)
{
    (void)x, (void)t, (void)null_mask, (void)u;
    for (size_t i = 0; i < n; i++)
        d[i] = -(double)D + (c ? c[i * c_stride] : 0.0);
    return 0;
}

enum { OPS = 8 };

/* Each evaluation of m (D = 2) at t = 0.5 for two samples. */
static void evaluate_all(const scoresde_model *m, int rc[OPS])
{
    double x[4] = {0.1, -0.2, 0.3, 0.4}, t[2] = {0.5, 0.5}, y[4], z[4], v[4] = {1, 0, 0, 1};
    double d[2];
    rc[0] = scoresde_model_score(m, x, t, 2, 2, y);
    rc[1] = scoresde_model_predict_data(m, x, t, 2, 2, y);
    rc[2] = scoresde_model_predict_noise(m, x, t, 2, 2, y);
    rc[3] = scoresde_model_divergence(m, x, t, 2, 2, d);
    rc[4] = scoresde_model_jvp(m, x, t, 2, 2, v, y, z);
    rc[5] = scoresde_model_hutchinson(m, x, t, 2, 2, v, 1, d);
    rc[6] = scoresde_model_log_density(m, x, t, 2, 2, d);
    rc[7] = scoresde_model_sample(m, t, 2, 2, 3, 0, y);
}

START_TEST(schedule_fails_under_each_model)
{
    test_countdown cd = {0, -1};
    scoresde_sde *s = NULL;
    ck_assert_int_eq(scoresde_sde_create_schedule(&s, 1.0, test_vp_schedule, &cd), SCORESDE_OK);
    const double w[2] = {0.4, 0.6}, mu[4] = {-1, 0, 1, 0.5}, var[4] = {0.5, 1, 1.5, 2};
    const double probs[2] = {0.5, 0.5}, cw[2] = {1, 1};
    const double pm[2] = {0, 0}, P[4] = {1, 0.2, 0.2, 1}, A[2] = {1, 1}, N[1] = {0.5};
    scoresde_model *models[4] = {NULL};
    ck_assert_int_eq(scoresde_model_create_gmm(&models[0], s, 2, 2, w, mu, var), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_create_cond_gmm(&models[1], s, 2, 1, 2, probs, cw, mu, var),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_create_linear_gaussian(&models[2], s, 2, 1, pm, P, A, NULL, N),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_create_denoiser_fn(&models[3], s, 2, denoiser, NULL, NULL),
                     SCORESDE_OK);
    /* ops that never ask the SDE: the denoiser's data prediction is D itself */
    static const unsigned sde_free[4] = {0, 0, 0, 1u << 1};
    for (int k = 0; k < 4; k++) {
        int before[OPS], after[OPS], worked = 0;
        cd.fail_at = -1;
        evaluate_all(models[k], before);
        cd.fail_at = 0; /* every call fails */
        evaluate_all(models[k], after);
        for (int j = 0; j < OPS; j++) {
            if (before[j] == SCORESDE_OK) {
                worked++;
                int want = sde_free[k] >> j & 1 ? SCORESDE_OK : SCORESDE_ECALLBACK;
                ck_assert_msg(after[j] == want, "model %d op %d: rc %d", k, j, after[j]);
            } else {
                ck_assert_msg(before[j] == SCORESDE_EUNSUPPORTED, "model %d op %d: rc %d", k, j,
                              before[j]);
                ck_assert_int_eq(after[j], before[j]);
            }
        }
        ck_assert_int_ge(worked, 3);
        scoresde_model_free(models[k]);
    }
    scoresde_sde_free(s);
}
END_TEST

static int custom_drift(const double *x, const double *t, size_t n, size_t D, double *f, void *u)
{
    (void)t, (void)u;
    for (size_t k = 0; k < n * D; k++)
        f[k] = -x[k];
    return 0;
}

static int custom_diffusion(const double *t, size_t n, double *g, void *u)
{
    (void)t, (void)u;
    for (size_t i = 0; i < n; i++)
        g[i] = 1.0;
    return 0;
}

START_TEST(creator_refusals)
{
    scoresde_sde *vp = test_make_sde(SCORESDE_SDE_VP), *custom = NULL;
    ck_assert_int_eq(scoresde_sde_create_custom(&custom, 1.0, custom_drift, custom_diffusion,
                                                NULL, NULL),
                     SCORESDE_OK);
    scoresde_model *m = (scoresde_model *)&m;
    const double probs[2] = {0.5, 0.5}, cw[2] = {1, 1}, mu[4] = {-1, 0, 1, 0.5};
    const double var[4] = {0.5, 1, 1.5, 2}, badv[4] = {0.5, NAN, 1.5, 2}, badw[2] = {1, -1};
    /* class-conditional mixture */
    test_expect_error(scoresde_model_create_cond_gmm(NULL, vp, 2, 1, 2, probs, cw, mu, var),
                 SCORESDE_EINVAL, "out is NULL");
    test_expect_error(scoresde_model_create_cond_gmm(&m, NULL, 2, 1, 2, probs, cw, mu, var),
                 SCORESDE_EINVAL, "sde is NULL");
    ck_assert_ptr_null(m);
    test_expect_error(scoresde_model_create_cond_gmm(&m, vp, 2, 0, 2, probs, cw, mu, var),
                 SCORESDE_EINVAL, "M (the components per class) is zero");
    test_expect_error(scoresde_model_create_cond_gmm(&m, vp, 2, 1, 0, probs, cw, mu, var),
                 SCORESDE_EINVAL, "D (the dimension) is zero");
    test_expect_error(scoresde_model_create_cond_gmm(&m, vp, SIZE_MAX, 2, 2, probs, cw, mu, var),
                 SCORESDE_EINVAL, "K x M");
    test_expect_error(scoresde_model_create_cond_gmm(&m, vp, 2, 1, 2, probs, cw, mu, badv),
                 SCORESDE_EINVAL, "variances");
    test_expect_error(scoresde_model_create_cond_gmm(&m, vp, 2, 1, 2, probs, badw, mu, var),
                 SCORESDE_EINVAL, "weights");
    test_expect_error(scoresde_model_create_cond_gmm(&m, custom, 2, 1, 2, probs, cw, mu, var),
                 SCORESDE_EUNSUPPORTED, "a class-conditional Gaussian-mixture model");
    /* mixture */
    test_expect_error(scoresde_model_create_gmm(&m, vp, 2, 2, badw, mu, var), SCORESDE_EINVAL,
                 "weights");
    ck_assert_ptr_null(m);
    /* linear-Gaussian */
    const double pm[2] = {0, 0}, P[4] = {1, 0.2, 0.2, 1}, A[2] = {1, 1}, N[1] = {0.5};
    const double nan2[2] = {NAN, 0}, badP[4] = {1, 0.2, 0.2, INFINITY}, notpd[1] = {-1};
    test_expect_error(scoresde_model_create_linear_gaussian(NULL, vp, 2, 1, pm, P, A, NULL, N),
                 SCORESDE_EINVAL, "out is NULL");
    test_expect_error(scoresde_model_create_linear_gaussian(&m, NULL, 2, 1, pm, P, A, NULL, N),
                 SCORESDE_EINVAL, "sde is NULL");
    test_expect_error(scoresde_model_create_linear_gaussian(&m, vp, 0, 1, pm, P, A, NULL, N),
                 SCORESDE_EINVAL, "D (the dimension of theta) is zero");
    test_expect_error(scoresde_model_create_linear_gaussian(&m, vp, 4097, 1, pm, P, A, NULL, N),
                 SCORESDE_EINVAL, "must be at most 4096");
    test_expect_error(scoresde_model_create_linear_gaussian(&m, vp, 2, 4097, pm, P, A, NULL, N),
                 SCORESDE_EINVAL, "must be at most 4096");
    test_expect_error(scoresde_model_create_linear_gaussian(&m, vp, 2, 1, NULL, P, A, NULL, N),
                 SCORESDE_EINVAL, "prior_mean is NULL");
    test_expect_error(scoresde_model_create_linear_gaussian(&m, vp, 2, 1, nan2, P, A, NULL, N),
                 SCORESDE_EINVAL, "prior_mean");
    test_expect_error(scoresde_model_create_linear_gaussian(&m, vp, 2, 1, pm, P, NULL, NULL, N),
                 SCORESDE_EINVAL, "A is NULL");
    test_expect_error(scoresde_model_create_linear_gaussian(&m, vp, 2, 1, pm, P, A, nan2, N),
                 SCORESDE_EINVAL, "b");
    test_expect_error(scoresde_model_create_linear_gaussian(&m, vp, 2, 1, pm, NULL, A, NULL, N),
                 SCORESDE_EINVAL, "prior_cov is NULL");
    test_expect_error(scoresde_model_create_linear_gaussian(&m, vp, 2, 1, pm, badP, A, NULL, N),
                 SCORESDE_EINVAL, "prior_cov");
    test_expect_error(scoresde_model_create_linear_gaussian(&m, vp, 2, 1, pm, P, A, NULL, NULL),
                 SCORESDE_EINVAL, "noise_cov is NULL");
    test_expect_error(scoresde_model_create_linear_gaussian(&m, vp, 2, 1, pm, P, A, NULL, notpd),
                 SCORESDE_EINVAL, "noise_cov");
    test_expect_error(scoresde_model_create_linear_gaussian(&m, custom, 2, 1, pm, P, A, NULL, N),
                 SCORESDE_EUNSUPPORTED, "a linear-Gaussian model");
    ck_assert_ptr_null(m);
    /* callback models */
    test_expect_error(scoresde_model_create_score_fn(NULL, vp, 2, NULL, NULL, NULL), SCORESDE_EINVAL,
                 "out is NULL");
    test_expect_error(scoresde_model_create_denoiser_fn(&m, NULL, 2, denoiser, NULL, NULL),
                 SCORESDE_EINVAL, "sde is NULL");
    test_expect_error(scoresde_model_create_denoiser_fn(&m, custom, 2, denoiser, NULL, NULL),
                 SCORESDE_EUNSUPPORTED, "a denoiser model");
    test_expect_error(scoresde_model_create_cond_score_fn(NULL, vp, 2, 1, 0, cond_score, NULL, NULL),
                 SCORESDE_EINVAL, "out is NULL");
    test_expect_error(scoresde_model_create_cond_score_fn(&m, NULL, 2, 1, 0, cond_score, NULL, NULL),
                 SCORESDE_EINVAL, "sde is NULL");
    ck_assert_ptr_null(m);
    scoresde_sde_free(custom);
    scoresde_sde_free(vp);
}
END_TEST

/* The conditional divergence hook is the divergence of a conditional score
 * model; without one, the divergence is unsupported. */
START_TEST(cond_divergence_hook)
{
    scoresde_sde *vp = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = NULL, *nodiv = NULL;
    ck_assert_int_eq(scoresde_model_create_cond_score_fn(&m, vp, 2, 1, 0, cond_score, cond_div,
                                                         NULL),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_create_cond_score_fn(&nodiv, vp, 2, 1, 0, cond_score, NULL,
                                                         NULL),
                     SCORESDE_OK);
    double x[4] = {0.1, 0.2, 0.3, 0.4}, t[2] = {0.5, 0.5}, c[2] = {0.25, 0.75}, d[2];
    scoresde_cond cond = {sizeof cond, 1, c, 2, NULL};
    ck_assert_int_eq(scoresde_model_divergence_cond(m, x, t, 2, 2, &cond, d), SCORESDE_OK);
    ck_assert_double_eq(d[0], -1.75);
    ck_assert_double_eq(d[1], -1.25);
    ck_assert_int_eq(scoresde_model_divergence_cond(nodiv, x, t, 2, 2, &cond, d),
                     SCORESDE_EUNSUPPORTED);
    /* a condition for no samples */
    test_expect_error(scoresde_model_divergence_cond(m, x, t, 0, 2, &cond, d), SCORESDE_EINVAL,
                 "n (the number of samples) is zero");
    test_expect_error(scoresde_model_divergence_cond(NULL, x, t, 2, 2, &cond, d), SCORESDE_EINVAL,
                 "model is NULL");
    scoresde_model_free(nodiv);
    scoresde_model_free(m);
    scoresde_sde_free(vp);
}
END_TEST

/* Copying a model's parameters onto itself changes nothing. */
START_TEST(copy_params_onto_itself)
{
    scoresde_sde *vp = test_make_sde(SCORESDE_SDE_VP);
    const size_t widths[1] = {3};
    scoresde_mlp_options o;
    test_mlp_options(&o, 1, widths, SCORESDE_MLP_OUTPUT_NOISE, 4, 9);
    scoresde_model *m = NULL, *c = NULL;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, vp, 2, &o), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_clone(&c, m), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_copy_params(m, m), SCORESDE_OK);
    test_assert_same_params(m, c);
    double th[1];
    test_expect_error(scoresde_model_get_params(NULL, th, 1), SCORESDE_EINVAL, "model is NULL");
    test_expect_error(scoresde_model_get_params(m, NULL, 1), SCORESDE_EINVAL, "theta is NULL");
    scoresde_model_free(c);
    scoresde_model_free(m);
    scoresde_sde_free(vp);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("coverage_model");
    TCase *tc = tcase_create("model");
    tcase_add_test(tc, schedule_fails_under_each_model);
    tcase_add_test(tc, creator_refusals);
    tcase_add_test(tc, cond_divergence_hook);
    tcase_add_test(tc, copy_params_onto_itself);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(suite());
}
