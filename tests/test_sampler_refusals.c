/*
 * The samplers' refusals: every documented refusal of a method, entry point,
 * grid or hook returns its specific status with a message naming the cause,
 * and finishing steps (DPM-Solver++'s final denoising) give exactly what
 * their definition says.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define OK(expr) ck_assert_int_eq((expr), SCORESDE_OK)

enum { N = 3, D = 2 };

static const double x0[N * D] = {0.5, -1.0, 1.5, 0.25, -0.75, 0.0};

/* Assert `rc` is `status` and the message names `needle`. */
static scoresde_sampler *make_sampler(int method, int steps)
{
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, method));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, steps));
    return s;
}

/* ---- hooks */

/* The score of N(0, I). */
static int unit_score(const double *x, const double *t, size_t n, size_t d, double *out,
                      void *user)
{
    for (size_t i = 0; i < n * d; i++)
        out[i] = -x[i];
    return 0;
}

/* Score and guidance hooks have one signature: a hook that fails, and one
 * that writes the value *user everywhere (NaN; or 1e308, finite but so large
 * that a step's state overflows). */
static int failing_hook(const double *x, const double *t, size_t n, size_t d, double *out,
                        void *user)
{
    return 1;
}

static int constant_hook(const double *x, const double *t, size_t n, size_t d, double *out,
                         void *user)
{
    for (size_t i = 0; i < n * d; i++)
        out[i] = *(const double *)user;
    return 0;
}

static double nan_value = NAN, huge_value = 1e308;

static int drift_zero(const double *x, const double *t, size_t n, size_t d, double *f,
                      void *user)
{
    memset(f, 0, n * d * sizeof *f);
    return 0;
}

static int diffusion_one(const double *t, size_t n, double *g, void *user)
{
    for (size_t i = 0; i < n; i++)
        g[i] = 1.0;
    return 0;
}

/* A model of `score` over the default SDE of `kind`. */
static scoresde_model *hook_model(scoresde_sde **sde, int kind, scoresde_score_fn score,
                                  void *user)
{
    OK(scoresde_sde_create_default(sde, kind));
    scoresde_model *m = NULL;
    OK(scoresde_model_create_score_fn(&m, *sde, D, score, NULL, user));
    return m;
}

/* A model over a custom SDE (Brownian motion), which has no Gaussian marginal. */
static scoresde_model *custom_model(scoresde_sde **sde)
{
    OK(scoresde_sde_create_custom(sde, 1.0, drift_zero, diffusion_one, NULL, NULL));
    scoresde_model *m = NULL;
    OK(scoresde_model_create_score_fn(&m, *sde, D, unit_score, NULL, NULL));
    return m;
}

/* ---- methods that need the Gaussian marginal */

START_TEST(marginal_needed)
{
    scoresde_sde *sde = NULL;
    scoresde_model *m = custom_model(&sde);
    double out[N * D];
    static const unsigned char mask[N * D] = {1, 0, 1, 0, 1, 0};

    scoresde_sampler *pc = make_sampler(SCORESDE_SAMPLER_PC, 4);
    test_expect_error(scoresde_sampler_inpaint(pc, m, x0, mask, N, D, 1, 0, out, NULL),
                      SCORESDE_EUNSUPPORTED, "inpainting");
    OK(scoresde_sampler_set_int(pc, SCORESDE_SAMPLER_PREDICTOR,
                                SCORESDE_SAMPLER_PREDICTOR_ANCESTRAL));
    test_expect_error(scoresde_sampler_sample(pc, m, x0, N, D, 1, 0, out, NULL),
                      SCORESDE_EUNSUPPORTED, "marginal");
    OK(scoresde_sampler_set_int(pc, SCORESDE_SAMPLER_PREDICTOR,
                                SCORESDE_SAMPLER_PREDICTOR_EULER_MARUYAMA));
    OK(scoresde_sampler_set_int(pc, SCORESDE_SAMPLER_CORRECTOR, SCORESDE_SAMPLER_CORRECTOR_NONE));
    test_expect_error(scoresde_sampler_sample(pc, m, x0, N, D, 1, 0, out, NULL),
                      SCORESDE_EUNSUPPORTED, "DENOISE");
    OK(scoresde_sampler_set_int(pc, SCORESDE_SAMPLER_DENOISE, 0));
    OK(scoresde_sampler_sample(pc, m, x0, N, D, 1, 0, out, NULL)); /* Euler-Maruyama needs none */

    const int methods[2] = {SCORESDE_SAMPLER_EDM, SCORESDE_SAMPLER_DPMPP};
    for (int i = 0; i < 2; i++) {
        scoresde_sampler *s = make_sampler(methods[i], 4);
        test_expect_error(scoresde_sampler_sample(s, m, x0, N, D, 1, 0, out, NULL),
                          SCORESDE_EUNSUPPORTED, "marginal");
        scoresde_sampler_free(s);
    }
    scoresde_sampler_free(pc);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* EDM and DPM-Solver++ divide by sigma: a grid reaching sigma = 0 is refused. */
START_TEST(sigma_zero_on_grid)
{
    scoresde_sde *sde = NULL;
    scoresde_model *m = hook_model(&sde, SCORESDE_SDE_VP, unit_score, NULL);
    double out[N * D];
    const int methods[2] = {SCORESDE_SAMPLER_EDM, SCORESDE_SAMPLER_DPMPP};
    for (int i = 0; i < 2; i++) {
        scoresde_sampler *s = make_sampler(methods[i], 4);
        OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_GRID, SCORESDE_SAMPLER_GRID_UNIFORM_T));
        OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_EPS, 0.0)); /* VP: sigma(0) = 0 */
        test_expect_error(scoresde_sampler_sample(s, m, NULL, N, D, 1, 0, out, NULL),
                          SCORESDE_EINVAL, "sigma > 0");
        scoresde_sampler_free(s);
    }
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* ---- grids */

START_TEST(grid_refusals)
{
    scoresde_sde *sde = NULL;
    scoresde_model *m = hook_model(&sde, SCORESDE_SDE_VP, unit_score, NULL);
    scoresde_sampler *s = make_sampler(SCORESDE_SAMPLER_DPMPP, 4);

    /* More steps than STEPS allows (10^6). */
    size_t count = 1000002;
    double *t = malloc(count * sizeof *t);
    for (size_t k = 0; k < count; k++)
        t[k] = 1.0 - 0.999 * (double)k / (double)(count - 1);
    test_expect_error(scoresde_sampler_set_grid(s, t, count), SCORESDE_EINVAL, "1000001 steps");
    free(t);

    scoresde_sampler_free(s);

    /* Likelihoods integrate from eps to T: no caller's grid, eps below T. */
    scoresde_sampler *ode = make_sampler(SCORESDE_SAMPLER_ODE, 4);
    double logp[N];
    OK(scoresde_sampler_set_double(ode, SCORESDE_SAMPLER_EPS, 2.0));
    test_expect_error(scoresde_sampler_likelihood(ode, m, x0, N, D, 1, 0, logp, NULL, NULL),
                      SCORESDE_EINVAL, "not below");
    OK(scoresde_sampler_set_double(ode, SCORESDE_SAMPLER_EPS, NAN));
    static const double grid[3] = {1.0, 0.5, 1e-3};
    OK(scoresde_sampler_set_grid(ode, grid, 3));
    test_expect_error(scoresde_sampler_likelihood(ode, m, x0, N, D, 1, 0, logp, NULL, NULL),
                      SCORESDE_EINVAL, "GRID = ARRAY");
    scoresde_sampler_free(ode);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* ---- hooks that fail or return non-finite values */

START_TEST(hook_failures)
{
    scoresde_sde *sde = NULL;
    scoresde_model *m = hook_model(&sde, SCORESDE_SDE_VP, unit_score, NULL);
    double out[N * D];
    scoresde_sampler *s = make_sampler(SCORESDE_SAMPLER_PC, 4);

    OK(scoresde_sampler_set_guidance(s, failing_hook, NULL, 1.0));
    test_expect_error(scoresde_sampler_sample(s, m, NULL, N, D, 1, 0, out, NULL),
                      SCORESDE_ECALLBACK, "guidance hook failed");
    OK(scoresde_sampler_set_guidance(s, constant_hook, &nan_value, 1.0));
    test_expect_error(scoresde_sampler_sample(s, m, NULL, N, D, 1, 0, out, NULL), SCORESDE_ENUMERIC,
                      "guidance hook wrote");
    OK(scoresde_sampler_set_guidance(s, NULL, NULL, 0.0));

    test_expect_error(scoresde_sampler_langevin(s, failing_hook, NULL, x0, N, D, 1, 0, out, NULL),
                      SCORESDE_ECALLBACK, "Langevin score hook failed at step 1");

    /* y and x_out the same array. */
    static const unsigned char mask[N * D] = {1, 0, 1, 0, 1, 0};
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 4));
    double y[N * D];
    memcpy(y, x0, sizeof y);
    test_expect_error(scoresde_sampler_inpaint(s, m, y, mask, N, D, 1, 0, y, NULL), SCORESDE_EINVAL,
                      "same array");
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* A score that overflows the state: every method stops with ENUMERIC and
 * says where, as adaptive solvers do when their error estimate overflows; a
 * NaN from the score hook itself is caught where it comes out. */
START_TEST(non_finite_states)
{
    scoresde_sde *sde = NULL;
    scoresde_model *huge = hook_model(&sde, SCORESDE_SDE_VP, constant_hook, &huge_value);
    scoresde_model *nan = NULL;
    OK(scoresde_model_create_score_fn(&nan, sde, D, constant_hook, NULL, &nan_value));
    double out[N * D];
    for (int method = SCORESDE_SAMPLER_PC; method <= SCORESDE_SAMPLER_DPMPP; method++) {
        scoresde_sampler *s = make_sampler(method, 4);
        int rc = scoresde_sampler_sample(s, huge, NULL, N, D, 1, 0, out, NULL);
        test_expect_error(rc, SCORESDE_ENUMERIC, "finite");
        scoresde_sampler_free(s);
    }
    scoresde_sampler *pc = make_sampler(SCORESDE_SAMPLER_PC, 4);
    test_expect_error(scoresde_sampler_sample(pc, nan, NULL, N, D, 1, 0, out, NULL),
                      SCORESDE_ENUMERIC, "score callback wrote a non-finite value");
    scoresde_sampler_free(pc);
    /* Adaptive solvers: DOPRI5 (the ODE default) and adaptive DPM-Solver++. */
    scoresde_sampler *ode = make_sampler(SCORESDE_SAMPLER_ODE, 4);
    test_expect_error(scoresde_sampler_sample(ode, huge, NULL, N, D, 1, 0, out, NULL),
                      SCORESDE_ENUMERIC, "not finite");
    scoresde_sampler *dpm = make_sampler(SCORESDE_SAMPLER_DPMPP, 4);
    OK(scoresde_sampler_set_int(dpm, SCORESDE_SAMPLER_ADAPTIVE, 1));
    test_expect_error(scoresde_sampler_sample(dpm, huge, NULL, N, D, 1, 0, out, NULL),
                      SCORESDE_ENUMERIC, "not finite");
    scoresde_sampler_free(dpm);
    scoresde_sampler_free(ode);
    scoresde_model_free(nan);
    scoresde_model_free(huge);
    scoresde_sde_free(sde);
}
END_TEST

/* Adaptive DPM-Solver++ with a smallest step above what the error allows. */
START_TEST(adaptive_h_min)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = test_mixture(sde);
    scoresde_sampler *s = make_sampler(SCORESDE_SAMPLER_DPMPP, 4);
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_ADAPTIVE, 1));
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_H_MIN, 10.0));
    double out[N * D];
    test_expect_error(scoresde_sampler_sample(s, m, NULL, N, D, 1, 0, out, NULL), SCORESDE_ENUMERIC,
                      "below H_MIN");
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* DPM-Solver++'s DENOISE replaces the last state x by the data prediction
 * D(x, t_N): the same run without it, then one predict_data call, gives the
 * same bits. */
START_TEST(dpm_final_denoise_is_data_prediction)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = test_mixture(sde);
    scoresde_sampler *s = make_sampler(SCORESDE_SAMPLER_DPMPP, 10);
    double plain[N * D], denoised[N * D], expect[N * D], t[11];
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_DENOISE, 0));
    OK(scoresde_sampler_sample(s, m, NULL, N, D, 4, 0, plain, NULL));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_DENOISE, 1));
    scoresde_sampler_stats st = {.struct_size = sizeof st};
    OK(scoresde_sampler_sample(s, m, NULL, N, D, 4, 0, denoised, &st));
    OK(scoresde_sampler_times(s, sde, t, 11));
    double tN[N] = {t[10], t[10], t[10]};
    OK(scoresde_model_predict_data(m, plain, tN, N, D, expect));
    ck_assert_mem_eq(denoised, expect, sizeof expect);
    ck_assert_uint_eq(st.nfe, 11); /* 10 steps and the denoising evaluation */
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* ---- callback models' own refusals and clones */

static int identity_denoiser(const double *x, const double *t, size_t n, size_t d, double *x0_out,
                             void *user)
{
    memcpy(x0_out, x, n * d * sizeof *x);
    return 0;
}

START_TEST(callback_models)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP), *custom = NULL;
    scoresde_model *m = (scoresde_model *)sde;
    test_expect_error(scoresde_model_create_denoiser_fn(&m, sde, 0, identity_denoiser, NULL, NULL),
                      SCORESDE_EINVAL, "D (the dimension)");
    ck_assert_ptr_null(m);
    test_expect_error(scoresde_model_create_denoiser_fn(&m, sde, D, NULL, NULL, NULL),
                      SCORESDE_EINVAL, "denoiser");
    OK(scoresde_sde_create_custom(&custom, 1.0, drift_zero, diffusion_one, NULL, NULL));
    test_expect_error(
        scoresde_model_create_denoiser_fn(&m, custom, D, identity_denoiser, NULL, NULL),
        SCORESDE_EUNSUPPORTED, "marginal");

    /* A clone of a hook model calls the same hook. */
    scoresde_model *a = NULL, *b = NULL;
    OK(scoresde_model_create_score_fn(&a, sde, D, unit_score, NULL, NULL));
    OK(scoresde_model_clone(&b, a));
    double t[N] = {0.5, 0.5, 0.5}, sa[N * D], sb[N * D], div[N];
    OK(scoresde_model_score(a, x0, t, N, D, sa));
    OK(scoresde_model_score(b, x0, t, N, D, sb));
    ck_assert_mem_eq(sa, sb, sizeof sa);
    test_expect_error(scoresde_model_divergence(b, x0, t, N, D, div), SCORESDE_EUNSUPPORTED,
                      "divergence");
    scoresde_model_free(b);
    scoresde_model_free(a);
    scoresde_sde_free(custom);
    scoresde_sde_free(sde);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sampler_refusals");
    TCase *tc = tcase_create("refusals");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, marginal_needed);
    tcase_add_test(tc, sigma_zero_on_grid);
    tcase_add_test(tc, grid_refusals);
    tcase_add_test(tc, hook_failures);
    tcase_add_test(tc, non_finite_states);
    tcase_add_test(tc, adaptive_h_min);
    tcase_add_test(tc, dpm_final_denoise_is_data_prediction);
    tcase_add_test(tc, callback_models);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
