/*
 * Learning with the residual MLP (issue 12): on 8-D and 32-D Gaussian
 * mixtures (data drawn from the exact mixture model), DSM training for a
 * fixed budget reaches a lower time-weighted score error than a plain MLP
 * of about the same parameter count trained with the same steps, batches
 * and settings; and probability-flow ODE samples of the residual model
 * match the mixture's masses and moments. Both networks use the EDM
 * parameterisation (sigma_data 1.5, about the data's scale): the residual
 * network's final LayerNorm makes its output independent of the scale of
 * its stream, which suits EDM's c_in / c_skip and not a bare noise
 * prediction (measured: NOISE at D = 32 gave the MLP the lower error). The
 * figures are printed for the guide (docs/guide/15-networks.md); the
 * LEARN_* variables change the budget and sizes for measurements.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { K = 4, N_DATA = 4096, N_EVAL = 2048, N_SAMPLES = 1024 };
static const double weights[K] = {0.4, 0.3, 0.2, 0.1};
#define VAR0 0.25

typedef struct {
    size_t D;
    scoresde_sde *sde;
    scoresde_model *gmm;
    double *means; /* K x D */
    double *data;  /* N_DATA x D */
} problem;

static void problem_init(problem *p, size_t D)
{
    p->D = D;
    p->sde = test_make_sde(SCORESDE_SDE_VP);
    p->means = test_normals(77, K * D, 1.5);
    double *var = malloc(K * D * sizeof *var);
    for (size_t i = 0; i < K * D; i++)
        var[i] = VAR0;
    ck_assert_int_eq(scoresde_model_create_gmm(&p->gmm, p->sde, K, D, weights, p->means, var),
                     SCORESDE_OK);
    free(var);
    double *t0 = calloc(N_DATA, sizeof *t0);
    p->data = malloc(N_DATA * D * sizeof *p->data);
    ck_assert_int_eq(scoresde_model_sample(p->gmm, t0, N_DATA, D, 5, 0, p->data), SCORESDE_OK);
    free(t0);
}

static void problem_free(problem *p)
{
    scoresde_model_free(p->gmm);
    scoresde_sde_free(p->sde);
    free(p->means);
    free(p->data);
}

/* DSM for `steps` steps of batch 128 (Adam, lr 2e-3, warmup 50, the
 * default EMA); the model keeps the raw parameters, *ema (if not NULL)
 * receives the EMA export. */
static void train(scoresde_model *m, const problem *p, int steps, scoresde_model **ema)
{
    scoresde_loss *loss = NULL;
    ck_assert_int_eq(scoresde_loss_create(&loss, SCORESDE_LOSS_DSM), SCORESDE_OK);
    scoresde_trainer *tr = NULL;
    ck_assert_int_eq(scoresde_trainer_create(&tr, m, loss), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_set_double(tr, SCORESDE_TRAIN_LR, 2e-3), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_set_int(tr, SCORESDE_TRAIN_WARMUP, 50), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_set_int(tr, SCORESDE_TRAIN_BATCH, 128), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_fit(tr, p->data, N_DATA, p->D, (uint64_t)steps, NULL, NULL),
                     SCORESDE_OK);
    if (ema)
        ck_assert_int_eq(scoresde_trainer_export(ema, tr, SCORESDE_TRAIN_EXPORT_EMA), SCORESDE_OK);
    scoresde_trainer_free(tr);
    scoresde_loss_free(loss);
}

/* E_t E_x sigma(t)^2 |s(x, t) - grad log p_t(x)|^2 / D over N_EVAL draws of
 * t uniform in [0.02, 1] and x ~ p_t (the exact mixture's), the same draws
 * for every model: the noise-prediction error per coordinate. */
static double weighted_error(const scoresde_model *m, const problem *p)
{
    size_t D = p->D;
    double *t = malloc(N_EVAL * sizeof *t), *u = malloc(N_EVAL * sizeof *u);
    double *x = malloc(N_EVAL * D * 8), *s = malloc(N_EVAL * D * 8), *e = malloc(N_EVAL * D * 8);
    double *alpha = malloc(N_EVAL * 8), *sigma = malloc(N_EVAL * 8);
    ck_assert_int_eq(scoresde_rng_uniform(9, 0, 0, N_EVAL, u), SCORESDE_OK);
    for (size_t i = 0; i < N_EVAL; i++)
        t[i] = 0.02 + 0.98 * u[i];
    ck_assert_int_eq(scoresde_model_sample(p->gmm, t, N_EVAL, D, 10, 0, x), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_score(p->gmm, x, t, N_EVAL, D, e), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_score(m, x, t, N_EVAL, D, s), SCORESDE_OK);
    ck_assert_int_eq(scoresde_sde_marginal(p->sde, t, N_EVAL, alpha, sigma, NULL, NULL),
                     SCORESDE_OK);
    double sum = 0;
    for (size_t i = 0; i < N_EVAL; i++)
        for (size_t j = 0; j < D; j++) {
            double d = sigma[i] * (s[i * D + j] - e[i * D + j]);
            sum += d * d;
        }
    free(t), free(u), free(x), free(s), free(e), free(alpha), free(sigma);
    return sum / (double)(N_EVAL * D);
}

static size_t hidden_for(size_t D, size_t E, size_t target)
{
    /* 3 hidden layers of h: (D + E) h + h + 2 (h^2 + h) + D h + D */
    size_t best = 1;
    for (size_t h = 1; h < 4096; h++) {
        size_t n = (D + E) * h + h + 2 * (h * h + h) + D * h + D;
        if (n > target)
            break;
        best = h;
    }
    return best;
}

/* The ODE samples' component masses (nearest mean) and overall moments
 * against the mixture's. */
static void check_samples(const scoresde_model *m, const problem *p, double *mass_err,
                          double *mean_err, double *var_err)
{
    size_t D = p->D;
    scoresde_sampler *s = NULL;
    ck_assert_int_eq(scoresde_sampler_create(&s, SCORESDE_SAMPLER_ODE), SCORESDE_OK);
    ck_assert_int_eq(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 100), SCORESDE_OK);
    double *x = malloc(N_SAMPLES * D * sizeof *x);
    ck_assert_int_eq(scoresde_sampler_sample(s, m, NULL, N_SAMPLES, D, 21, 0, x, NULL),
                     SCORESDE_OK);
    double count[K] = {0};
    double *mean = calloc(D, 8), *want_mean = calloc(D, 8), *var = calloc(D, 8);
    for (size_t i = 0; i < N_SAMPLES; i++) {
        size_t best = 0;
        double bd = INFINITY;
        for (size_t k = 0; k < K; k++) {
            double d2 = 0;
            for (size_t j = 0; j < D; j++) {
                double d = x[i * D + j] - p->means[k * D + j];
                d2 += d * d;
            }
            if (d2 < bd) {
                bd = d2;
                best = k;
            }
        }
        count[best] += 1;
        for (size_t j = 0; j < D; j++)
            mean[j] += x[i * D + j] / N_SAMPLES;
    }
    *mass_err = 0;
    for (size_t k = 0; k < K; k++)
        *mass_err = fmax(*mass_err, fabs(count[k] / N_SAMPLES - weights[k]));
    for (size_t k = 0; k < K; k++)
        for (size_t j = 0; j < D; j++)
            want_mean[j] += weights[k] * p->means[k * D + j];
    for (size_t i = 0; i < N_SAMPLES; i++)
        for (size_t j = 0; j < D; j++) {
            double d = x[i * D + j] - mean[j];
            var[j] += d * d / (N_SAMPLES - 1);
        }
    *mean_err = 0;
    *var_err = 0;
    for (size_t j = 0; j < D; j++) {
        double want_var = VAR0;
        for (size_t k = 0; k < K; k++) {
            double d = p->means[k * D + j] - want_mean[j];
            want_var += weights[k] * d * d;
        }
        *mean_err = fmax(*mean_err, fabs(mean[j] - want_mean[j]) / sqrt(want_var));
        *var_err = fmax(*var_err, fabs(var[j] / want_var - 1.0));
    }
    free(x), free(mean), free(want_mean), free(var);
    scoresde_sampler_free(s);
}

static const size_t dims[2] = {8, 32};

START_TEST(resmlp_beats_mlp_and_samples_the_mixture)
{
    size_t D = getenv("LEARN_D") ? (size_t)atoi(getenv("LEARN_D")) : dims[_i], E = 16;
    int steps = getenv("LEARN_STEPS") ? atoi(getenv("LEARN_STEPS")) : 1500;
    size_t W = getenv("LEARN_W") ? (size_t)atoi(getenv("LEARN_W")) : 32;
    problem p;
    problem_init(&p, D);
    scoresde_resmlp_options ro;
    scoresde_model_resmlp_options_init(&ro, sizeof ro);
    ro.width = W;
    ro.blocks = 2;
    ro.embed_dim = E;
    ro.seed = 1;
    ro.output = getenv("LEARN_OUT") ? atoi(getenv("LEARN_OUT")) : SCORESDE_MLP_OUTPUT_EDM;
    ro.sigma_data = 1.5;
    ro.blocks = getenv("LEARN_B") ? (size_t)atoi(getenv("LEARN_B")) : 2;
    scoresde_model *res = NULL;
    ck_assert_int_eq(scoresde_model_create_resmlp(&res, p.sde, D, &ro), SCORESDE_OK);
    size_t np = test_num_params(res);
    size_t h = hidden_for(D, E, np);
    size_t widths[3] = {h, h, h};
    scoresde_mlp_options mo;
    test_mlp_options(&mo, 3, widths, ro.output, E, 1);
    mo.sigma_data = ro.sigma_data;
    scoresde_model *mlp = NULL;
    ck_assert_int_eq(scoresde_model_create_mlp(&mlp, p.sde, D, &mo), SCORESDE_OK);
    size_t nm = test_num_params(mlp);
    scoresde_model *ema = NULL;
    train(res, &p, steps, &ema);
    train(mlp, &p, steps, NULL);
    double er = weighted_error(res, &p), em = weighted_error(mlp, &p);
    double mass, mean, var;
    check_samples(ema, &p, &mass, &mean, &var);
    printf("D=%zu steps=%d: resmlp (W=%zu, B=2, %zu params) error %.4f; MLP (3 x %zu, %zu "
           "params) error %.4f; ODE samples: mass error %.3f, mean error %.3f sd, variance "
           "error %.3f\n",
           D, steps, W, np, er, h, nm, em, mass, mean, var);
    ck_assert_msg(er < em, "resmlp %g, MLP %g", er, em);
    /* The budget leaves model error above the sampling error (masses: SE
     * 0.015 at w = 0.4 and n = 1024; means 0.03 sd): the bounds are the
     * measured figures (mass 0.040 / 0.028, mean 0.105 / 0.117 sd, variance
     * 0.207 / 0.603 for D = 8 / 32) with a margin, so a regression that
     * breaks sampling fails while the seeds stay fixed. */
    ck_assert_msg(mass < 0.06, "mass error %g", mass);
    ck_assert_msg(mean < 0.2, "mean error %g", mean);
    ck_assert_msg(var < (D > 8 ? 0.8 : 0.35), "variance error %g", var);
    scoresde_model_free(res);
    scoresde_model_free(ema);
    scoresde_model_free(mlp);
    problem_free(&p);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("learn_resmlp");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, resmlp_beats_mlp_and_samples_the_mixture, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(suite()); }
