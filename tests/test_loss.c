/*
 * Losses: the seed identities (ESM, ISM and DSM differ by model-independent
 * constants), ESM of the exact score is zero, DSM at the exact score equals its
 * closed form, sliced and Hutchinson estimators are unbiased for the exact
 * trace, results do not depend on how a run is split into calls, finite-
 * difference parameter gradients for every loss, weighting and reduction, and
 * each kind of bad input with its code and message; the fused score-then-
 * backward path and the fused probe path (terms and backward in one jvp
 * pass per probe) are bit-identical to the separate ones.
 * Statistical checks use fixed seeds and a 5-sigma bound from the sample size.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "loss_internal.h"
#include "model_internal.h"
#include "scoresde.h"
#include "testutil.h"

#define Z_BOUND 5.0

/* A different score: another mixture (exact divergence). */
static scoresde_model *other_mixture(const scoresde_sde *sde)
{
    static const double w[2] = {0.6, 0.4};
    static const double mu[4] = {-0.5, 0.0, 1.0, 0.5};
    static const double var[4] = {0.5, 0.6, 0.3, 0.8};
    scoresde_model *m = NULL;
    ck_assert_int_eq(scoresde_model_create_gmm(&m, sde, 2, 2, w, mu, var), SCORESDE_OK);
    return m;
}

/* A hook score s(x) = -(x - 0.2) / 0.7 with its exact divergence -D / 0.7. */
static int hook_score(const double *x, const double *t, size_t n, size_t D, double *s, void *u)
{
    (void)t, (void)u;
    for (size_t k = 0; k < n * D; k++)
        s[k] = -(x[k] - 0.2) / 0.7;
    return 0;
}
static int hook_div(const double *x, const double *t, size_t n, size_t D, double *d, void *u)
{
    (void)x, (void)t, (void)u;
    for (size_t i = 0; i < n; i++)
        d[i] = -(double)D / 0.7;
    return 0;
}

static scoresde_loss *make_loss(int kind)
{
    scoresde_loss *l = NULL;
    ck_assert_int_eq(scoresde_loss_create(&l, kind), SCORESDE_OK);
    ck_assert_int_eq(scoresde_loss_kind(l), kind);
    return l;
}

static void at_fixed_time(scoresde_loss *l, double t)
{
    ck_assert_int_eq(scoresde_loss_set_int(l, SCORESDE_LOSS_TIME_MODE, SCORESDE_LOSS_TIME_FIXED),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_loss_set_double(l, SCORESDE_LOSS_FIXED_TIME, t), SCORESDE_OK);
}

/* |mean of a_i - b_i| within Z_BOUND standard errors of `expect`. */
static void check_paired_mean(const double *a, const double *b, size_t n, double expect,
                              const char *what)
{
    double m = 0, v = 0;
    for (size_t i = 0; i < n; i++)
        m += (a[i] - (b ? b[i] : 0.0));
    m /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double d = a[i] - (b ? b[i] : 0.0) - m;
        v += d * d;
    }
    v /= (double)(n - 1);
    double se = sqrt(v / (double)n);
    ck_assert_msg(fabs(m - expect) <= Z_BOUND * se + 1e-12,
                  "%s: mean %.6g, expected %.6g, standard error %.3g", what, m, expect, se);
}

/* ESM of the exact score is exactly zero; ESM(b) - ESM(a) = ISM(b) - ISM(a) =
 * DSM(b) - DSM(a) at a fixed noise level (seed 000 Lemmas 8.3, 8.4), for b a
 * mixture and b a hook, both reductions, on data sampled from the mixture. */
START_TEST(seed_identities)
{
    const size_t n = 20000;
    const int reduction = _i % 2;
    const int use_hook = _i / 2;
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *a = test_mixture(sde), *b = NULL;
    if (use_hook)
        ck_assert_int_eq(scoresde_model_create_score_fn(&b, sde, 2, hook_score, hook_div, NULL),
                         SCORESDE_OK);
    else
        b = other_mixture(sde);
    double *x0 = test_data_of(a, n, 11);
    scoresde_loss *esm = make_loss(SCORESDE_LOSS_ESM), *ism = make_loss(SCORESDE_LOSS_ISM),
                  *dsm = make_loss(SCORESDE_LOSS_DSM);
    scoresde_loss *all[3] = {esm, ism, dsm};
    for (int k = 0; k < 3; k++) {
        at_fixed_time(all[k], 0.3);
        ck_assert_int_eq(scoresde_loss_set_int(all[k], SCORESDE_LOSS_REDUCTION, reduction),
                         SCORESDE_OK);
    }
    ck_assert_int_eq(scoresde_loss_set_reference(esm, a), SCORESDE_OK);
    double *pa[3], *pb[3], va[3], vb[3];
    for (int k = 0; k < 3; k++) {
        pa[k] = malloc(n * sizeof(double));
        pb[k] = malloc(n * sizeof(double));
        ck_assert_int_eq(scoresde_loss_eval(all[k], a, x0, n, 2, 7, 0, &va[k], pa[k], NULL, 0),
                         SCORESDE_OK);
        ck_assert_int_eq(scoresde_loss_eval(all[k], b, x0, n, 2, 7, 0, &vb[k], pb[k], NULL, 0),
                         SCORESDE_OK);
    }
    ck_assert(va[0] == 0.0); /* the reference against itself */
    ck_assert(vb[0] > 0.0);
    /* differences per sample: d_k = pb_k - pa_k; compare d_0 with d_1 and d_2 */
    double *d[3];
    for (int k = 0; k < 3; k++) {
        d[k] = malloc(n * sizeof(double));
        for (size_t i = 0; i < n; i++)
            d[k][i] = pb[k][i] - pa[k][i];
    }
    check_paired_mean(d[0], d[1], n, 0.0, "ESM(b)-ESM(a) vs ISM(b)-ISM(a)");
    check_paired_mean(d[0], d[2], n, 0.0, "ESM(b)-ESM(a) vs DSM(b)-DSM(a)");
    /* the identities are not vacuous: the difference itself is far from zero */
    ck_assert_double_gt(vb[0] - va[0], 0.05 * fabs(vb[0]));
    for (int k = 0; k < 3; k++) {
        free(pa[k]), free(pb[k]), free(d[k]);
        scoresde_loss_free(all[k]);
    }
    free(x0);
    scoresde_model_free(a);
    scoresde_model_free(b);
    scoresde_sde_free(sde);
}
END_TEST

/* DSM at the exact score of N(mu, v I) data equals
 * c lambda D/2 (1/sigma^2 - 1/(alpha^2 v + sigma^2)) (the expected kernel-score
 * energy minus the marginal score energy), for several SDEs, times and both
 * reductions; lambda = sigma^2. */
START_TEST(dsm_exact_constant)
{
    const size_t n = 20000, D = 2;
    static const int kinds[3] = {SCORESDE_SDE_VP, SCORESDE_SDE_VE, SCORESDE_SDE_SUBVP};
    scoresde_sde *sde = test_make_sde(kinds[_i % 3]);
    const double tt = _i < 3 ? 0.2 : 0.7, v = 0.3;
    const double w = 1.0, mu[2] = {0.4, -0.8}, var[2] = {v, v};
    scoresde_model *g = NULL;
    ck_assert_int_eq(scoresde_model_create_gmm(&g, sde, 1, D, &w, mu, var), SCORESDE_OK);
    double *x0 = test_data_of(g, n, 3), *per = malloc(n * sizeof(double)), value;
    for (int red = 0; red < 2; red++) {
        scoresde_loss *l = make_loss(SCORESDE_LOSS_DSM);
        at_fixed_time(l, tt);
        ck_assert_int_eq(scoresde_loss_set_int(l, SCORESDE_LOSS_REDUCTION, red), SCORESDE_OK);
        ck_assert_int_eq(scoresde_loss_eval(l, g, x0, n, D, 5, 0, &value, per, NULL, 0),
                         SCORESDE_OK);
        double al, sg;
        ck_assert_int_eq(scoresde_sde_marginal(sde, &tt, 1, &al, &sg, NULL, NULL), SCORESDE_OK);
        const double c = red == SCORESDE_LOSS_REDUCE_MEAN ? 2.0 / (double)D : 1.0;
        const double expect =
            c * sg * sg * (double)D / 2.0 * (1.0 / (sg * sg) - 1.0 / (al * al * v + sg * sg));
        check_paired_mean(per, NULL, n, expect, "DSM at the exact score");
        double sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += per[i];
        ck_assert(sum / (double)n == value); /* the batch value is the mean, same order */
        scoresde_loss_free(l);
    }
    free(x0), free(per);
    scoresde_model_free(g);
    scoresde_sde_free(sde);
}
END_TEST

/* SSM and SSM-VR minus ISM have mean zero over probes (sliced / Hutchinson
 * estimators unbiased for the exact trace), for each probe law and M = 1, 3,
 * on the data itself and at a noise level. */
START_TEST(sliced_unbiased)
{
    const size_t n = 20000;
    const int probe = _i % 3;
    const int M = _i < 3 ? 1 : 3;
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *a = test_mixture(sde);
    double *x0 = test_data_of(a, n, 21), *pi = malloc(n * sizeof(double)),
           *ps = malloc(n * sizeof(double)), vi, vs;
    for (int noisy = 0; noisy < 2; noisy++) {
        scoresde_loss *ism = make_loss(SCORESDE_LOSS_ISM);
        if (noisy)
            at_fixed_time(ism, 0.4);
        ck_assert_int_eq(scoresde_loss_eval(ism, a, x0, n, 2, 9, 0, &vi, pi, NULL, 0),
                         SCORESDE_OK);
        for (int kind = SCORESDE_LOSS_SSM; kind <= SCORESDE_LOSS_SSM_VR; kind++) {
            scoresde_loss *s = make_loss(kind);
            if (noisy)
                at_fixed_time(s, 0.4);
            ck_assert_int_eq(scoresde_loss_set_int(s, SCORESDE_LOSS_PROBE, probe), SCORESDE_OK);
            ck_assert_int_eq(scoresde_loss_set_int(s, SCORESDE_LOSS_NUM_PROBES, M), SCORESDE_OK);
            ck_assert_int_eq(scoresde_loss_eval(s, a, x0, n, 2, 9, 0, &vs, ps, NULL, 0),
                             SCORESDE_OK);
            check_paired_mean(ps, pi, n, 0.0, kind == SCORESDE_LOSS_SSM ? "SSM - ISM"
                                                                          : "SSM_VR - ISM");
            /* the probes are random: per-sample values do differ */
            int differ = 0;
            for (size_t i = 0; i < n && !differ; i++)
                differ = ps[i] != pi[i];
            ck_assert(differ);
            scoresde_loss_free(s);
        }
        scoresde_loss_free(ism);
    }
    free(x0), free(pi), free(ps);
    scoresde_model_free(a);
    scoresde_sde_free(sde);
}
END_TEST

/* Sample i of a run gets the same value whether it is evaluated in one call or
 * in two calls split at any row (first_sample carries the index). */
START_TEST(split_invariance)
{
    static const int kinds[5] = {SCORESDE_LOSS_DSM, SCORESDE_LOSS_SSM, SCORESDE_LOSS_SSM_VR,
                                 SCORESDE_LOSS_SMLD, SCORESDE_LOSS_ISM};
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VE);
    scoresde_model *a = test_mixture(sde);
    const size_t n = 17;
    double *x0 = test_data_of(a, n, 4), all[17], part[17], v;
    for (int k = 0; k < 5; k++) {
        scoresde_loss *l = make_loss(kinds[k]);
        if (kinds[k] == SCORESDE_LOSS_ISM || kinds[k] == SCORESDE_LOSS_SSM ||
            kinds[k] == SCORESDE_LOSS_SSM_VR)
            ck_assert_int_eq(scoresde_loss_set_int(l, SCORESDE_LOSS_TIME_MODE,
                                                   SCORESDE_LOSS_TIME_UNIFORM),
                             SCORESDE_OK);
        ck_assert_int_eq(scoresde_loss_eval(l, a, x0, n, 2, 99, 1000, &v, all, NULL, 0),
                         SCORESDE_OK);
        ck_assert_int_eq(scoresde_loss_eval(l, a, x0, 6, 2, 99, 1000, &v, part, NULL, 0),
                         SCORESDE_OK);
        ck_assert_int_eq(scoresde_loss_eval(l, a, x0 + 12, n - 6, 2, 99, 1006, &v, part + 6,
                                            NULL, 0),
                         SCORESDE_OK);
        ck_assert_mem_eq(all, part, sizeof all);
        /* another seed gives other draws */
        ck_assert_int_eq(scoresde_loss_eval(l, a, x0, n, 2, 100, 1000, &v, part, NULL, 0),
                         SCORESDE_OK);
        ck_assert(memcmp(all, part, sizeof all) != 0);
        scoresde_loss_free(l);
    }
    free(x0);
    scoresde_model_free(a);
    scoresde_sde_free(sde);
}
END_TEST

/* The thread count never changes a bit: an MLP evaluated with 1 and with 2
 * threads gives identical loss values, per-sample values and gradients
 * (DSM and SSM-VR, several chunks). */
START_TEST(thread_count_invariance)
{
    const int kind = _i == 0 ? SCORESDE_LOSS_DSM : SCORESDE_LOSS_SSM_VR;
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *gmm = test_mixture(sde), *m[2];
    for (int k = 0; k < 2; k++) {
        scoresde_mlp_options o;
        ck_assert_int_eq(scoresde_model_mlp_options_init(&o, sizeof o), SCORESDE_OK);
        o.n_hidden = 2;
        static const size_t widths[2] = {32, 32};
        o.widths = widths;
        o.chunk_rows = 64;
        o.n_threads = k + 1;
        o.seed = 3;
        ck_assert_int_eq(scoresde_model_create_mlp(&m[k], sde, 2, &o), SCORESDE_OK);
    }
    scoresde_loss *l = make_loss(kind);
    ck_assert_int_eq(scoresde_loss_set_int(l, SCORESDE_LOSS_TIME_MODE, SCORESDE_LOSS_TIME_UNIFORM),
                     SCORESDE_OK);
    const size_t n = 300;
    double *x0 = test_data_of(gmm, n, 17), v[2], *per[2], *g[2];
    size_t np = test_num_params(m[0]);
    for (int k = 0; k < 2; k++) {
        per[k] = malloc(n * sizeof(double));
        g[k] = calloc(np, sizeof(double));
        ck_assert_int_eq(scoresde_loss_eval(l, m[k], x0, n, 2, 8, 0, &v[k], per[k], g[k], np),
                         SCORESDE_OK);
    }
    ck_assert(memcmp(&v[0], &v[1], sizeof(double)) == 0);
    ck_assert_mem_eq(per[0], per[1], n * sizeof(double));
    ck_assert_mem_eq(g[0], g[1], np * sizeof(double));
    for (int k = 0; k < 2; k++) {
        free(per[k]), free(g[k]);
        scoresde_model_free(m[k]);
    }
    free(x0);
    scoresde_loss_free(l);
    scoresde_model_free(gmm);
    scoresde_sde_free(sde);
}
END_TEST

/* ------------------------------------------------------------- gradients */

static int user_weight(const double *t, size_t n, double *w, void *u)
{
    (void)u;
    for (size_t i = 0; i < n; i++)
        w[i] = 1.0 + t[i] * t[i];
    return 0;
}

static scoresde_model *small_mlp(const scoresde_sde *sde, int output, uint64_t seed)
{
    static const size_t widths[2] = {8, 6};
    scoresde_mlp_options o;
    test_mlp_options(&o, 2, widths, output, 4, seed);
    o.activation = SCORESDE_MLP_SILU;
    scoresde_model *m = NULL;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, sde, 2, &o), SCORESDE_OK);
    size_t np = test_num_params(m);
    double *p = malloc(np * sizeof *p);
    scoresde_rng_normal(seed + 77, 0, 0, np, p);
    for (size_t k = 0; k < np; k++)
        p[k] *= 0.5;
    ck_assert_int_eq(scoresde_model_set_params(m, p, np), SCORESDE_OK);
    free(p);
    return m;
}

typedef struct {
    int kind, sde, output, time_mode, weighting, reduction, probe, M;
    const char *name;
} grad_case;

static const grad_case grad_cases[] = {
    {SCORESDE_LOSS_ESM, SCORESDE_SDE_VP, SCORESDE_MLP_OUTPUT_SCORE, SCORESDE_LOSS_TIME_DATA, 0, 0, 0, 1, "ESM data"},
    {SCORESDE_LOSS_ESM, SCORESDE_SDE_VP, SCORESDE_MLP_OUTPUT_NOISE, SCORESDE_LOSS_TIME_UNIFORM, SCORESDE_LOSS_WEIGHT_SIGMA2, 1, 0, 1, "ESM noisy"},
    {SCORESDE_LOSS_ISM, SCORESDE_SDE_VP, SCORESDE_MLP_OUTPUT_SCORE, SCORESDE_LOSS_TIME_DATA, 0, 0, 0, 1, "ISM data"},
    {SCORESDE_LOSS_ISM, SCORESDE_SDE_VE, SCORESDE_MLP_OUTPUT_NOISE, SCORESDE_LOSS_TIME_FIXED, SCORESDE_LOSS_WEIGHT_SIGMA2, 1, 0, 1, "ISM at a level"},
    {SCORESDE_LOSS_SSM, SCORESDE_SDE_VP, SCORESDE_MLP_OUTPUT_SCORE, SCORESDE_LOSS_TIME_DATA, 0, 0, SCORESDE_LOSS_PROBE_RADEMACHER, 2, "SSM rademacher"},
    {SCORESDE_LOSS_SSM, SCORESDE_SDE_VP, SCORESDE_MLP_OUTPUT_DATA, SCORESDE_LOSS_TIME_UNIFORM, SCORESDE_LOSS_WEIGHT_G2, 1, SCORESDE_LOSS_PROBE_GAUSSIAN, 3, "SSM gaussian noisy"},
    {SCORESDE_LOSS_SSM_VR, SCORESDE_SDE_VP, SCORESDE_MLP_OUTPUT_SCORE, SCORESDE_LOSS_TIME_DATA, 0, 1, SCORESDE_LOSS_PROBE_SPHERE, 2, "SSM_VR sphere"},
    {SCORESDE_LOSS_SSM_VR, SCORESDE_SDE_VE, SCORESDE_MLP_OUTPUT_NOISE, SCORESDE_LOSS_TIME_FIXED, SCORESDE_LOSS_WEIGHT_SIGMA2, 0, SCORESDE_LOSS_PROBE_RADEMACHER, 1, "SSM_VR at a level"},
    {SCORESDE_LOSS_DSM, SCORESDE_SDE_VP, SCORESDE_MLP_OUTPUT_NOISE, SCORESDE_LOSS_TIME_UNIFORM, SCORESDE_LOSS_WEIGHT_SIGMA2, 0, 0, 1, "DSM sigma2 mean"},
    {SCORESDE_LOSS_DSM, SCORESDE_SDE_VP, SCORESDE_MLP_OUTPUT_NOISE, SCORESDE_LOSS_TIME_UNIFORM, SCORESDE_LOSS_WEIGHT_SIGMA2, 1, 0, 1, "DSM sigma2 half-sum"},
    {SCORESDE_LOSS_DSM, SCORESDE_SDE_SUBVP, SCORESDE_MLP_OUTPUT_SCORE, SCORESDE_LOSS_TIME_UNIFORM, SCORESDE_LOSS_WEIGHT_G2, 0, 0, 1, "DSM g2"},
    {SCORESDE_LOSS_DSM, SCORESDE_SDE_VE, SCORESDE_MLP_OUTPUT_DATA, SCORESDE_LOSS_TIME_UNIFORM, SCORESDE_LOSS_WEIGHT_UNIFORM, 1, 0, 1, "DSM uniform"},
    {SCORESDE_LOSS_DSM, SCORESDE_SDE_EDM, SCORESDE_MLP_OUTPUT_EDM, SCORESDE_LOSS_TIME_LOGNORMAL, SCORESDE_LOSS_WEIGHT_EDM, 0, 0, 1, "DSM EDM lognormal"},
    {SCORESDE_LOSS_DSM, SCORESDE_SDE_VP, SCORESDE_MLP_OUTPUT_NOISE, SCORESDE_LOSS_TIME_UNIFORM, SCORESDE_LOSS_WEIGHT_USER, 1, 0, 1, "DSM user weight"},
    {SCORESDE_LOSS_SMLD, SCORESDE_SDE_VE, SCORESDE_MLP_OUTPUT_NOISE, 0, 0, 0, 0, 1, "SMLD"},
    {SCORESDE_LOSS_DDPM, SCORESDE_SDE_VP, SCORESDE_MLP_OUTPUT_NOISE, 0, 0, 0, 0, 1, "DDPM"},
};
#define N_GRAD_CASES (sizeof grad_cases / sizeof grad_cases[0])

/* The loss of a gradient case: its kind, time mode (fixed time 0.35),
 * weighting, reduction, probes, and `ref` as the reference. */
static scoresde_loss *grad_case_loss(const grad_case *gc, const scoresde_model *ref)
{
    scoresde_loss *l = make_loss(gc->kind);
    if (gc->time_mode)
        ck_assert_int_eq(scoresde_loss_set_int(l, SCORESDE_LOSS_TIME_MODE, gc->time_mode),
                         SCORESDE_OK);
    if (gc->time_mode == SCORESDE_LOSS_TIME_FIXED)
        ck_assert_int_eq(scoresde_loss_set_double(l, SCORESDE_LOSS_FIXED_TIME, 0.35),
                         SCORESDE_OK);
    if (gc->weighting == SCORESDE_LOSS_WEIGHT_USER)
        ck_assert_int_eq(scoresde_loss_set_weight_fn(l, user_weight, NULL), SCORESDE_OK);
    else
        ck_assert_int_eq(scoresde_loss_set_int(l, SCORESDE_LOSS_WEIGHTING, gc->weighting),
                         SCORESDE_OK);
    ck_assert_int_eq(scoresde_loss_set_int(l, SCORESDE_LOSS_REDUCTION, gc->reduction), SCORESDE_OK);
    ck_assert_int_eq(scoresde_loss_set_int(l, SCORESDE_LOSS_PROBE, gc->probe), SCORESDE_OK);
    ck_assert_int_eq(scoresde_loss_set_int(l, SCORESDE_LOSS_NUM_PROBES, gc->M), SCORESDE_OK);
    ck_assert_int_eq(scoresde_loss_set_reference(l, ref), SCORESDE_OK);
    return l;
}

/* The gradient the loss adds equals central differences of the loss value
 * (same seed, so the same times, noise and probes) for every parameter:
 * worst component error relative to the gradient's largest component
 * below 1e-6. */
START_TEST(gradient_matches_finite_differences)
{
    const grad_case *gc = &grad_cases[_i];
    scoresde_sde *sde = test_make_sde(gc->sde);
    scoresde_model *m = small_mlp(sde, gc->output, 5 + (uint64_t)_i);
    scoresde_model *ref = test_mixture(sde);
    scoresde_loss *l = grad_case_loss(gc, ref);

    const size_t n = 6;
    double *x0 = test_data_of(ref, n, 31);
    size_t np = test_num_params(m);
    double *theta = malloc(np * sizeof *theta), *g = calloc(np, sizeof *g),
           *fd = malloc(np * sizeof *fd), v0, v1, vp, vm;
    ck_assert_int_eq(scoresde_model_get_params(m, theta, np), SCORESDE_OK);
    ck_assert_int_eq(scoresde_loss_eval(l, m, x0, n, 2, 13, 0, &v0, NULL, NULL, 0), SCORESDE_OK);
    ck_assert_int_eq(scoresde_loss_eval(l, m, x0, n, 2, 13, 0, &v1, NULL, g, np), SCORESDE_OK);
    ck_assert(v0 == v1);
    ck_assert(isfinite(v0));
    for (size_t k = 0; k < np; k++) {
        const double keep = theta[k], h = 1e-5 * fmax(1.0, fabs(keep));
        theta[k] = keep + h;
        ck_assert_int_eq(scoresde_model_set_params(m, theta, np), SCORESDE_OK);
        ck_assert_int_eq(scoresde_loss_eval(l, m, x0, n, 2, 13, 0, &vp, NULL, NULL, 0),
                         SCORESDE_OK);
        theta[k] = keep - h;
        ck_assert_int_eq(scoresde_model_set_params(m, theta, np), SCORESDE_OK);
        ck_assert_int_eq(scoresde_loss_eval(l, m, x0, n, 2, 13, 0, &vm, NULL, NULL, 0),
                         SCORESDE_OK);
        theta[k] = keep;
        fd[k] = (vp - vm) / (2 * h);
    }
    double scale = 0, worst = 0;
    for (size_t k = 0; k < np; k++)
        scale = fmax(scale, fabs(fd[k]));
    for (size_t k = 0; k < np; k++)
        worst = fmax(worst, fabs(g[k] - fd[k]) / scale);
    ck_assert_msg(scale > 0 && worst < 1e-6, "%s: relative gradient error %.3g (scale %.3g)",
                  gc->name, worst, scale);
    /* the gradient is added, not written */
    ck_assert_int_eq(scoresde_model_set_params(m, theta, np), SCORESDE_OK);
    ck_assert_int_eq(scoresde_loss_eval(l, m, x0, n, 2, 13, 0, &v1, NULL, g, np), SCORESDE_OK);
    for (size_t k = 0; k < np; k++)
        ck_assert(fabs(g[k] - 2 * fd[k]) <= 2e-6 * scale);
    free(theta), free(g), free(fd), free(x0);
    scoresde_loss_free(l);
    scoresde_model_free(m);
    scoresde_model_free(ref);
    scoresde_sde_free(sde);
}
END_TEST

/* ---------------------------------------------------------------- errors */

static int failing_weight(const double *t, size_t n, double *w, void *u)
{
    (void)t, (void)n, (void)w, (void)u;
    return 3;
}

START_TEST(bad_input)
{
    scoresde_sde *vp = test_make_sde(SCORESDE_SDE_VP), *ve = test_make_sde(SCORESDE_SDE_VE);
    scoresde_model *a = test_mixture(vp), *ave = test_mixture(ve), *mlp = small_mlp(vp, 1, 1);
    scoresde_loss *l = NULL;
    double x[8] = {0, 1, 2, 3, 4, 5, 6, 7}, v, g[4];
    test_expect_error(scoresde_loss_create(&l, 42), SCORESDE_EINVAL, "kind (42)");
    ck_assert_ptr_null(l);
    test_expect_error(scoresde_loss_create(NULL, SCORESDE_LOSS_DSM), SCORESDE_EINVAL, "out");
    l = make_loss(SCORESDE_LOSS_DSM);
    test_expect_error(scoresde_loss_set_int(l, SCORESDE_LOSS_NUM_PROBES, 0), SCORESDE_EINVAL,
                      "NUM_PROBES = 0 is outside");
    test_expect_error(scoresde_loss_set_int(l, SCORESDE_LOSS_LEVELS, 1), SCORESDE_EINVAL,
                      "LEVELS = 1 is outside");
    test_expect_error(scoresde_loss_set_int(l, SCORESDE_LOSS_WEIGHTING, 9), SCORESDE_EINVAL,
                      "WEIGHTING = 9 is outside");
    test_expect_error(scoresde_loss_set_int(l, SCORESDE_LOSS_WEIGHTING, SCORESDE_LOSS_WEIGHT_USER),
                      SCORESDE_EINVAL, "hook");
    test_expect_error(scoresde_loss_set_int(l, 77, 0), SCORESDE_EINVAL,
                      "setting 77 is not a loss setting");
    test_expect_error(scoresde_loss_set_double(l, SCORESDE_LOSS_P_STD, 0.0), SCORESDE_EINVAL,
                      "P_STD = 0 is outside");
    test_expect_error(scoresde_loss_set_double(l, SCORESDE_LOSS_EPS, -1.0), SCORESDE_EINVAL,
                      "EPS = -1 is outside");
    test_expect_error(scoresde_loss_set_double(l, SCORESDE_LOSS_FIXED_TIME, INFINITY),
                      SCORESDE_EINVAL, "FIXED_TIME = inf is outside");
    /* zero batch, wrong dimension, NaN data naming the first bad row */
    test_expect_error(scoresde_loss_eval(l, a, x, 0, 2, 1, 0, &v, NULL, NULL, 0), SCORESDE_EINVAL,
                      "batch size n is zero");
    test_expect_error(scoresde_loss_eval(l, a, x, 2, 4, 1, 0, &v, NULL, NULL, 0), SCORESDE_EDIM,
                      "dimension 4");
    x[5] = NAN;
    x[7] = INFINITY;
    test_expect_error(scoresde_loss_eval(l, a, x, 4, 2, 1, 0, &v, NULL, NULL, 0), SCORESDE_EINVAL,
                      "x0 row 2 (column 1)");
    x[5] = 5, x[7] = 7;
    test_expect_error(scoresde_loss_eval(l, a, x, 4, 2, 1, 0, NULL, NULL, NULL, 0), SCORESDE_EINVAL,
                      "value");
    /* gradients: a model without parameters, a wrong count */
    test_expect_error(scoresde_loss_eval(l, a, x, 4, 2, 1, 0, &v, NULL, g, 4),
                      SCORESDE_EUNSUPPORTED, "");
    test_expect_error(scoresde_loss_eval(l, mlp, x, 4, 2, 1, 0, &v, NULL, g, 4), SCORESDE_EDIM,
                      "count (4)");
    test_expect_error(scoresde_loss_eval(l, a, x, 4, 2, 1, 0, &v, NULL, NULL, 4), SCORESDE_EINVAL,
                      "grad is NULL");
    /* DSM needs noise: DATA mode and a zero-sigma fixed time */
    ck_assert_int_eq(scoresde_loss_set_int(l, SCORESDE_LOSS_TIME_MODE, SCORESDE_LOSS_TIME_DATA),
                     SCORESDE_OK);
    test_expect_error(scoresde_loss_eval(l, a, x, 4, 2, 1, 0, &v, NULL, NULL, 0), SCORESDE_EINVAL,
                      "DATA");
    at_fixed_time(l, 0.0);
    test_expect_error(scoresde_loss_eval(l, a, x, 4, 2, 1, 0, &v, NULL, NULL, 0), SCORESDE_EINVAL,
                      "sigma(t) is zero");
    at_fixed_time(l, 2.0);
    test_expect_error(scoresde_loss_eval(l, a, x, 4, 2, 1, 0, &v, NULL, NULL, 0), SCORESDE_EINVAL,
                      "fixed time (2)");
    ck_assert_int_eq(
        scoresde_loss_set_int(l, SCORESDE_LOSS_TIME_MODE, SCORESDE_LOSS_TIME_LOGNORMAL),
        SCORESDE_OK);
    test_expect_error(scoresde_loss_eval(l, a, x, 4, 2, 1, 0, &v, NULL, NULL, 0),
                      SCORESDE_EUNSUPPORTED, "EDM");
    ck_assert_int_eq(scoresde_loss_set_int(l, SCORESDE_LOSS_TIME_MODE, SCORESDE_LOSS_TIME_UNIFORM),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_loss_set_weight_fn(l, failing_weight, NULL), SCORESDE_OK);
    test_expect_error(scoresde_loss_eval(l, a, x, 4, 2, 1, 0, &v, NULL, NULL, 0),
                      SCORESDE_ECALLBACK, "weight hook");
    scoresde_loss_free(l);
    /* ESM without a reference, DDPM on a VE SDE, ISM on a hook without divergence */
    l = make_loss(SCORESDE_LOSS_ESM);
    test_expect_error(scoresde_loss_eval(l, a, x, 4, 2, 1, 0, &v, NULL, NULL, 0), SCORESDE_EINVAL,
                      "reference");
    scoresde_loss_free(l);
    l = make_loss(SCORESDE_LOSS_DDPM);
    test_expect_error(scoresde_loss_eval(l, ave, x, 4, 2, 1, 0, &v, NULL, NULL, 0),
                      SCORESDE_EUNSUPPORTED, "VP");
    scoresde_loss_free(l);
    scoresde_model *h = NULL;
    ck_assert_int_eq(scoresde_model_create_score_fn(&h, vp, 2, hook_score, NULL, NULL),
                     SCORESDE_OK);
    l = make_loss(SCORESDE_LOSS_ISM);
    ck_assert_int_eq(scoresde_loss_eval(l, h, x, 4, 2, 1, 0, &v, NULL, NULL, 0),
                     SCORESDE_EUNSUPPORTED);
    scoresde_loss_free(l);
    scoresde_loss_free(NULL);
    ck_assert_int_eq(scoresde_loss_kind(NULL), 0);
    scoresde_model_free(h);
    scoresde_model_free(a);
    scoresde_model_free(ave);
    scoresde_model_free(mlp);
    scoresde_sde_free(vp);
    scoresde_sde_free(ve);
}
END_TEST

/* Evaluate l on m (n <= 11 samples, gradient added to 0.25s) through m's
 * own ops and through `separate` (the same ops with a fused slot cleared),
 * and assert that the value, the per-sample values and the gradient agree
 * bit for bit and that the gradient moved. Returns the value. */
static double assert_same_bits(const scoresde_loss *l, scoresde_model *m,
                               const sd_model_ops *separate, const double *x0, size_t n,
                               uint64_t seed, uint64_t first, const char *what)
{
    ck_assert(n <= 11);
    size_t np = test_num_params(m);
    double *g[2], ps[2][11] = {{0}}, v[2];
    const sd_model_ops *fused = m->ops;
    for (int k = 0; k < 2; k++) {
        g[k] = malloc(np * sizeof *g[k]);
        for (size_t q = 0; q < np; q++)
            g[k][q] = 0.25; /* added to, not written */
        m->ops = k ? separate : fused;
        ck_assert_int_eq(scoresde_loss_eval(l, m, x0, n, 2, seed, first, &v[k], ps[k], g[k], np),
                         SCORESDE_OK);
    }
    m->ops = fused;
    ck_assert(isfinite(v[0]));
    ck_assert_msg(memcmp(&v[0], &v[1], sizeof v[0]) == 0, "%s: value differs", what);
    ck_assert_msg(memcmp(ps[0], ps[1], sizeof ps[0]) == 0, "%s: per-sample values differ", what);
    ck_assert_msg(memcmp(g[0], g[1], np * sizeof *g[0]) == 0, "%s: gradient differs", what);
    double moved = 0;
    for (size_t q = 0; q < np; q++)
        moved = fmax(moved, fabs(g[0][q] - 0.25));
    ck_assert(moved > 0);
    free(g[0]), free(g[1]);
    return v[0];
}

/* The fused score-then-backward path (the MLP kind's score_vjp, which keeps
 * the forward state) gives bit for bit the value, per-sample values and
 * gradient of the separate path (score on every row, then score_backward
 * with its own forward), which sd_model_score_vjp runs for a kind without
 * the slot: same model with score_vjp cleared. Chunks of 4 rows over 11
 * samples cover several full chunks and a partial one; float64 and float32. */
START_TEST(fused_matches_separate)
{
    const grad_case *gc = &grad_cases[_i / 2];
    const int f32 = _i % 2;
    scoresde_sde *sde = test_make_sde(gc->sde);
    static const size_t widths[2] = {8, 6};
    scoresde_mlp_options o;
    test_mlp_options(&o, 2, widths, gc->output, 4, 3 + (uint64_t)_i);
    o.chunk_rows = 4;
    o.precision = f32 ? SCORESDE_MLP_FLOAT32 : SCORESDE_MLP_FLOAT64;
    scoresde_model *m = NULL;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, sde, 2, &o), SCORESDE_OK);
    ck_assert(m->ops->score_vjp != NULL);
    scoresde_model *ref = test_mixture(sde);
    scoresde_loss *l = grad_case_loss(gc, ref);

    const size_t n = 11;
    double *x0 = test_data_of(ref, n, 41);
    sd_model_ops separate = *m->ops;
    separate.score_vjp = NULL;
    char what[96];
    snprintf(what, sizeof what, "%s (%s)", gc->name, f32 ? "float32" : "float64");
    assert_same_bits(l, m, &separate, x0, n, 17, 5, what);
    free(x0);
    scoresde_loss_free(l);
    scoresde_model_free(m);
    scoresde_model_free(ref);
    scoresde_sde_free(sde);
}
END_TEST

/* The fused probe path (the MLP kind's probe_vjp: one jvp pass per probe
 * gives the terms v^T J v and their parameter backward) gives bit for bit
 * the value, per-sample values and gradient of the separate path
 * (divergence or hutchinson first, then the score's backward, then
 * probe_backward with its own jvp passes), which the loss runs for a kind
 * without the slot: same model with probe_vjp cleared. ISM, and SSM and
 * SSM_VR with each probe type (M = 1, 2, 3), on output parameterisations
 * with A != 0 (DATA, EDM) and C != 1 (EDM); MEAN and HALF_SUM; float64 and
 * float32; chunks of 1, 4 and 16 rows over 11 samples (single rows, full
 * chunks and a partial one, one chunk holding the batch). */
typedef struct {
    int kind, probe, M, sde, output, time_mode, weighting;
    const char *name;
} probe_case;

static const probe_case probe_cases[] = {
    {SCORESDE_LOSS_ISM, 0, 1, SCORESDE_SDE_VP, SCORESDE_MLP_OUTPUT_SCORE, SCORESDE_LOSS_TIME_DATA, 0, "ISM data"},
    {SCORESDE_LOSS_ISM, 0, 1, SCORESDE_SDE_VP, SCORESDE_MLP_OUTPUT_DATA, SCORESDE_LOSS_TIME_UNIFORM, SCORESDE_LOSS_WEIGHT_G2, "ISM noisy"},
    {SCORESDE_LOSS_SSM, SCORESDE_LOSS_PROBE_RADEMACHER, 1, SCORESDE_SDE_VP, SCORESDE_MLP_OUTPUT_DATA, SCORESDE_LOSS_TIME_UNIFORM, SCORESDE_LOSS_WEIGHT_G2, "SSM rademacher"},
    {SCORESDE_LOSS_SSM, SCORESDE_LOSS_PROBE_GAUSSIAN, 3, SCORESDE_SDE_VE, SCORESDE_MLP_OUTPUT_NOISE, SCORESDE_LOSS_TIME_FIXED, SCORESDE_LOSS_WEIGHT_SIGMA2, "SSM gaussian"},
    {SCORESDE_LOSS_SSM, SCORESDE_LOSS_PROBE_SPHERE, 2, SCORESDE_SDE_VP, SCORESDE_MLP_OUTPUT_SCORE, SCORESDE_LOSS_TIME_DATA, 0, "SSM sphere"},
    {SCORESDE_LOSS_SSM_VR, SCORESDE_LOSS_PROBE_RADEMACHER, 2, SCORESDE_SDE_VP, SCORESDE_MLP_OUTPUT_SCORE, SCORESDE_LOSS_TIME_DATA, 0, "SSM_VR rademacher"},
    {SCORESDE_LOSS_SSM_VR, SCORESDE_LOSS_PROBE_GAUSSIAN, 1, SCORESDE_SDE_VP, SCORESDE_MLP_OUTPUT_NOISE, SCORESDE_LOSS_TIME_UNIFORM, SCORESDE_LOSS_WEIGHT_SIGMA2, "SSM_VR gaussian"},
    {SCORESDE_LOSS_SSM_VR, SCORESDE_LOSS_PROBE_SPHERE, 3, SCORESDE_SDE_EDM, SCORESDE_MLP_OUTPUT_EDM, SCORESDE_LOSS_TIME_LOGNORMAL, SCORESDE_LOSS_WEIGHT_EDM, "SSM_VR sphere EDM"},
};
#define N_PROBE_CASES (sizeof probe_cases / sizeof probe_cases[0])

START_TEST(fused_probes_match_separate)
{
    const probe_case *pc = &probe_cases[_i / 4];
    const int f32 = _i % 2, half_sum = (_i / 2) % 2;
    scoresde_sde *sde = test_make_sde(pc->sde);
    scoresde_model *ref = test_mixture(sde);
    const grad_case gc = {pc->kind, pc->sde, pc->output, pc->time_mode, pc->weighting,
                          half_sum, pc->probe, pc->M, pc->name};
    scoresde_loss *l = grad_case_loss(&gc, ref);
    const size_t n = 11;
    double *x0 = test_data_of(ref, n, 43);
    static const size_t chunks[3] = {1, 4, 16};
    for (int c = 0; c < 3; c++) {
        static const size_t widths[2] = {8, 6};
        scoresde_mlp_options o;
        test_mlp_options(&o, 2, widths, pc->output, 4, 11 + (uint64_t)_i);
        o.chunk_rows = chunks[c];
        o.precision = f32 ? SCORESDE_MLP_FLOAT32 : SCORESDE_MLP_FLOAT64;
        scoresde_model *m = NULL;
        ck_assert_int_eq(scoresde_model_create_mlp(&m, sde, 2, &o), SCORESDE_OK);
        ck_assert(m->ops->probe_vjp != NULL);
        sd_model_ops separate = *m->ops;
        separate.probe_vjp = NULL;
        char what[128];
        snprintf(what, sizeof what, "%s (%s, %s, chunks of %zu)", pc->name,
                 f32 ? "float32" : "float64", half_sum ? "half-sum" : "mean", chunks[c]);
        double v = assert_same_bits(l, m, &separate, x0, n, 19, 3, what);
        /* the value without a gradient (divergence or hutchinson) is the same */
        double v0;
        ck_assert_int_eq(scoresde_loss_eval(l, m, x0, n, 2, 19, 3, &v0, NULL, NULL, 0),
                         SCORESDE_OK);
        ck_assert(memcmp(&v0, &v, sizeof v0) == 0);
        scoresde_model_free(m);
    }
    free(x0);
    scoresde_loss_free(l);
    scoresde_model_free(ref);
    scoresde_sde_free(sde);
}
END_TEST

/* sd_model_probe_vjp's own checks: parameter count, M = 0, axis probes with
 * M != D, non-finite probes, and a kind without the slot (EUNSUPPORTED). */
START_TEST(fused_probe_checks)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    static const size_t widths[1] = {5};
    scoresde_mlp_options o;
    test_mlp_options(&o, 1, widths, SCORESDE_MLP_OUTPUT_NOISE, 2, 7);
    scoresde_model *m = NULL;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, sde, 2, &o), SCORESDE_OK);
    size_t np = test_num_params(m);
    double x[8], t[4], pr[8], w[8], est[4], *g = calloc(np, sizeof *g);
    for (int i = 0; i < 8; i++)
        x[i] = 0.1 * i, pr[i] = i % 3 ? 1.0 : -1.0, w[i] = 0.5;
    for (int i = 0; i < 4; i++)
        t[i] = 0.2 + 0.1 * i;
    ck_assert_int_eq(sd_model_probe_vjp(m, x, t, 4, 2, NULL, pr, 1, w, est, g, np), SCORESDE_OK);
    ck_assert_int_eq(sd_model_probe_vjp(m, x, t, 4, 2, NULL, NULL, 2, w, est, g, np), SCORESDE_OK);
    test_expect_error(sd_model_probe_vjp(m, x, t, 4, 2, NULL, pr, 1, w, est, g, np - 1),
                      SCORESDE_EDIM, "param_grad");
    test_expect_error(sd_model_probe_vjp(m, x, t, 4, 2, NULL, pr, 0, w, est, g, np),
                      SCORESDE_EINVAL, "M (the number of probes");
    test_expect_error(sd_model_probe_vjp(m, x, t, 4, 2, NULL, NULL, 1, w, est, g, np),
                      SCORESDE_EINVAL, "axis probes need M = D = 2");
    test_expect_error(sd_model_probe_vjp(m, x, t, 4, 2, NULL, pr, 1, NULL, est, g, np),
                      SCORESDE_EINVAL, "weights");
    test_expect_error(sd_model_probe_vjp(m, x, t, 4, 2, NULL, pr, 1, w, NULL, g, np),
                      SCORESDE_EINVAL, "est");
    pr[5] = NAN;
    test_expect_error(sd_model_probe_vjp(m, x, t, 4, 2, NULL, pr, 1, w, est, g, np),
                      SCORESDE_EINVAL, "probes");
    pr[5] = 1.0;
    const sd_model_ops *fused = m->ops;
    sd_model_ops separate = *fused;
    separate.probe_vjp = NULL;
    m->ops = &separate;
    test_expect_error(sd_model_probe_vjp(m, x, t, 4, 2, NULL, pr, 1, w, est, g, np),
                      SCORESDE_EUNSUPPORTED, "no fused probe backward");
    m->ops = fused;
    free(g);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* A fill step's failure (the loss's non-finite check) stops the fused pass
 * with its own status and message. */
static int failing_fill(size_t i0, size_t r, void *ctx)
{
    size_t *calls = ctx;
    (*calls)++;
    if (i0 + r > 4)
        return sd_fail(SCORESDE_ENUMERIC, "fill refused rows %zu..%zu", i0, i0 + r - 1);
    return SCORESDE_OK;
}

START_TEST(fused_fill_failure)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_mlp_options o;
    ck_assert_int_eq(scoresde_model_mlp_options_init(&o, sizeof o), SCORESDE_OK);
    o.n_hidden = 1;
    static const size_t widths[1] = {5};
    o.widths = widths;
    o.embed_dim = 2;
    o.chunk_rows = 4;
    scoresde_model *m = NULL;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, sde, 2, &o), SCORESDE_OK);
    size_t np = test_num_params(m), calls = 0;
    double x[20], t[10], s[20], og[20], *g = calloc(np, sizeof *g);
    for (int i = 0; i < 20; i++)
        x[i] = 0.1 * i, og[i] = 1.0;
    for (int i = 0; i < 10; i++)
        t[i] = 0.1 + 0.05 * i;
    test_expect_error(sd_model_score_vjp(m, x, t, 10, 2, NULL, s, og, failing_fill, &calls, g, np),
                      SCORESDE_ENUMERIC, "fill refused rows 4..7");
    ck_assert_uint_eq(calls, 2);
    test_expect_error(
        sd_model_score_vjp(m, x, t, 10, 2, NULL, s, og, (sd_vjp_fill_fn)0, &calls, g, np),
        SCORESDE_EINVAL, "fill");
    test_expect_error(
        sd_model_score_vjp(m, x, t, 10, 2, NULL, s, og, failing_fill, &calls, g, np - 1),
        SCORESDE_EDIM, "param_grad");
    free(g);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* A kept workspace (the trainer's) gives the bits of a fresh one, whether
 * it has to grow (n = 5, then 11) or is reused larger than needed (n = 3
 * after 11), for a gradient kind with levels (DDPM: levels and the table
 * share the block) and for SSM (probes). */
START_TEST(kept_workspace_matches_fresh)
{
    const int kinds[2] = {SCORESDE_LOSS_DDPM, SCORESDE_LOSS_SSM};
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = small_mlp(sde, SCORESDE_MLP_OUTPUT_NOISE, 9);
    scoresde_model *ref = test_mixture(sde);
    double *x0 = test_data_of(ref, 11, 43);
    size_t np = test_num_params(m);
    double *g0 = malloc(np * sizeof *g0), *g1 = malloc(np * sizeof *g1);
    for (int k = 0; k < 2; k++) {
        scoresde_loss *l = make_loss(kinds[k]);
        if (kinds[k] == SCORESDE_LOSS_SSM)
            ck_assert_int_eq(scoresde_loss_set_int(l, SCORESDE_LOSS_TIME_MODE,
                                                   SCORESDE_LOSS_TIME_UNIFORM),
                             SCORESDE_OK);
        sd_loss_buf buf = {NULL, 0};
        const size_t ns[3] = {5, 11, 3};
        for (int c = 0; c < 3; c++) {
            double v0, v1, p0[11], p1[11];
            memset(g0, 0, np * sizeof *g0);
            memset(g1, 0, np * sizeof *g1);
            ck_assert_int_eq(scoresde_loss_eval(l, m, x0, ns[c], 2, 7, 2, &v0, p0, g0, np),
                             SCORESDE_OK);
            ck_assert_int_eq(sd_loss_eval_buf(l, m, x0, ns[c], 2, NULL, 7, 2, &v1, p1, g1, np, &buf),
                             SCORESDE_OK);
            ck_assert(buf.block != NULL);
            ck_assert(memcmp(&v0, &v1, sizeof v0) == 0);
            ck_assert(memcmp(p0, p1, ns[c] * sizeof p0[0]) == 0);
            ck_assert(memcmp(g0, g1, np * sizeof *g0) == 0);
        }
        sd_loss_buf_free(&buf);
        ck_assert(buf.block == NULL && buf.bytes == 0);
        sd_loss_buf_free(NULL);
        scoresde_loss_free(l);
    }
    free(g0), free(g1), free(x0);
    scoresde_model_free(m);
    scoresde_model_free(ref);
    scoresde_sde_free(sde);
}
END_TEST

/* The settings table: for every kind and setting, bounds and default are
 * answered, a new loss starts at the default, both bounds round-trip through
 * set/get, the values just beyond them are refused (leaving the setting
 * unchanged), and an id of the other type is refused by every typed call. */
static int unit_weight(const double *t, size_t n, double *w, void *user)
{
    (void)t, (void)user;
    for (size_t i = 0; i < n; i++)
        w[i] = 1.0;
    return 0;
}

static int64_t int_bound(double b)
{
    /* the int64 range's ends are reported rounded to +-2^63 */
    return b >= 0x1p63 ? INT64_MAX : (int64_t)b;
}

START_TEST(settings_table)
{
    for (int kind = SCORESDE_LOSS_ESM; kind <= SCORESDE_LOSS_DDPM; kind++) {
        scoresde_loss *l = make_loss(kind);
        ck_assert_int_eq(scoresde_loss_set_weight_fn(l, unit_weight, NULL), SCORESDE_OK);
        scoresde_loss *fresh = make_loss(kind);
        for (int id = SCORESDE_LOSS_TIME_MODE; id <= SCORESDE_LOSS_SIGMA_DATA; id++) {
            double lo, hi, def;
            int is_int = -1;
            ck_assert_int_eq(scoresde_loss_bounds(id, &lo, &hi, &is_int), SCORESDE_OK);
            ck_assert_int_eq(is_int, id <= SCORESDE_LOSS_LEVELS);
            ck_assert_int_eq(scoresde_loss_default(kind, id, &def), SCORESDE_OK);
            ck_assert(lo <= hi);
            if (is_int) {
                int64_t got, lo_i = int_bound(lo), hi_i = int_bound(hi);
                ck_assert_int_eq(scoresde_loss_get_int(fresh, id, &got), SCORESDE_OK);
                ck_assert_msg((double)got == def, "kind %d setting %d: %lld, default %g", kind,
                              id, (long long)got, def);
                ck_assert(def >= lo && def <= hi);
                ck_assert_int_eq(scoresde_loss_set_int(l, id, lo_i), SCORESDE_OK);
                ck_assert_int_eq(scoresde_loss_get_int(l, id, &got), SCORESDE_OK);
                ck_assert_int_eq(got, lo_i);
                ck_assert_int_eq(scoresde_loss_set_int(l, id, lo_i - 1), SCORESDE_EINVAL);
                ck_assert_int_eq(scoresde_loss_set_int(l, id, hi_i), SCORESDE_OK);
                ck_assert_int_eq(scoresde_loss_set_int(l, id, hi_i + 1), SCORESDE_EINVAL);
                ck_assert_int_eq(scoresde_loss_get_int(l, id, &got), SCORESDE_OK);
                ck_assert_int_eq(got, hi_i);
                double d;
                test_expect_error(scoresde_loss_set_double(l, id, lo), SCORESDE_EINVAL,
                                  "is an integer (use scoresde_loss_set_int)");
                test_expect_error(scoresde_loss_get_double(l, id, &d), SCORESDE_EINVAL,
                                  "is an integer (use scoresde_loss_get_int)");
            } else {
                double got;
                ck_assert_int_eq(scoresde_loss_get_double(fresh, id, &got), SCORESDE_OK);
                ck_assert_msg(memcmp(&got, &def, sizeof got) == 0,
                              "kind %d setting %d: %g, default %g", kind, id, got, def);
                ck_assert(isnan(def) ? id == SCORESDE_LOSS_EPS : (def >= lo && def <= hi));
                ck_assert_int_eq(scoresde_loss_set_double(l, id, lo), SCORESDE_OK);
                ck_assert_int_eq(scoresde_loss_get_double(l, id, &got), SCORESDE_OK);
                ck_assert(got == lo);
                ck_assert_int_eq(scoresde_loss_set_double(l, id, nextafter(lo, -INFINITY)),
                                 SCORESDE_EINVAL);
                ck_assert_int_eq(scoresde_loss_set_double(l, id, hi), SCORESDE_OK);
                ck_assert_int_eq(scoresde_loss_set_double(l, id, nextafter(hi, INFINITY)),
                                 SCORESDE_EINVAL);
                ck_assert_int_eq(scoresde_loss_set_double(l, id, INFINITY), SCORESDE_EINVAL);
                ck_assert_int_eq(scoresde_loss_get_double(l, id, &got), SCORESDE_OK);
                ck_assert(got == hi);
                /* NaN is "the SDE's eps" for EPS, refused elsewhere */
                ck_assert_int_eq(scoresde_loss_set_double(l, id, NAN),
                                 id == SCORESDE_LOSS_EPS ? SCORESDE_OK : SCORESDE_EINVAL);
                ck_assert_int_eq(scoresde_loss_get_double(l, id, &got), SCORESDE_OK);
                ck_assert(id == SCORESDE_LOSS_EPS ? isnan(got) : got == hi);
                int64_t i;
                test_expect_error(scoresde_loss_set_int(l, id, 0), SCORESDE_EINVAL,
                                  "is a double (use scoresde_loss_set_double)");
                test_expect_error(scoresde_loss_get_int(l, id, &i), SCORESDE_EINVAL,
                                  "is a double (use scoresde_loss_get_double)");
            }
        }
        scoresde_loss_free(l);
        scoresde_loss_free(fresh);
    }
    /* the kind-dependent default */
    double v;
    ck_assert_int_eq(scoresde_loss_default(SCORESDE_LOSS_SSM, SCORESDE_LOSS_TIME_MODE, &v),
                     SCORESDE_OK);
    ck_assert(v == SCORESDE_LOSS_TIME_DATA);
    ck_assert_int_eq(scoresde_loss_default(SCORESDE_LOSS_DSM, SCORESDE_LOSS_TIME_MODE, &v),
                     SCORESDE_OK);
    ck_assert(v == SCORESDE_LOSS_TIME_UNIFORM);
    /* unknown ids and kinds, NULL arguments */
    scoresde_loss *l = make_loss(SCORESDE_LOSS_DSM);
    int64_t i;
    const int bad_ids[2] = {0, SCORESDE_LOSS_SIGMA_DATA + 1};
    for (int k = 0; k < 2; k++) {
        const int id = bad_ids[k];
        test_expect_error(scoresde_loss_bounds(id, NULL, NULL, NULL), SCORESDE_EINVAL,
                          "is not a loss setting");
        test_expect_error(scoresde_loss_default(SCORESDE_LOSS_DSM, id, &v), SCORESDE_EINVAL,
                          "is not a loss setting");
        ck_assert_int_eq(scoresde_loss_set_int(l, id, 1), SCORESDE_EINVAL);
        ck_assert_int_eq(scoresde_loss_set_double(l, id, 1.0), SCORESDE_EINVAL);
        ck_assert_int_eq(scoresde_loss_get_int(l, id, &i), SCORESDE_EINVAL);
        ck_assert_int_eq(scoresde_loss_get_double(l, id, &v), SCORESDE_EINVAL);
    }
    test_expect_error(scoresde_loss_default(0, SCORESDE_LOSS_EPS, &v), SCORESDE_EINVAL, "kind (0)");
    ck_assert_int_eq(scoresde_loss_default(SCORESDE_LOSS_DSM, SCORESDE_LOSS_EPS, NULL),
                     SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_loss_get_int(NULL, SCORESDE_LOSS_LEVELS, &i), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_loss_get_int(l, SCORESDE_LOSS_LEVELS, NULL), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_loss_get_double(NULL, SCORESDE_LOSS_EPS, &v), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_loss_set_int(NULL, SCORESDE_LOSS_LEVELS, 5), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_loss_set_double(NULL, SCORESDE_LOSS_EPS, 0.1), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_loss_kind(NULL), 0);
    ck_assert_int_eq(scoresde_loss_kind(l), SCORESDE_LOSS_DSM);
    scoresde_loss_free(l);
}
END_TEST

static Suite *loss_suite(void)
{
    Suite *s = suite_create("loss");
    TCase *tc = tcase_create("loss");
    tcase_add_loop_test(tc, seed_identities, 0, 4);
    tcase_add_loop_test(tc, dsm_exact_constant, 0, 6);
    tcase_add_loop_test(tc, sliced_unbiased, 0, 6);
    tcase_add_test(tc, split_invariance);
    tcase_add_loop_test(tc, thread_count_invariance, 0, 2);
    tcase_add_loop_test(tc, gradient_matches_finite_differences, 0, (int)N_GRAD_CASES);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, settings_table);
    tcase_add_loop_test(tc, fused_matches_separate, 0, (int)(2 * N_GRAD_CASES));
    tcase_add_test(tc, fused_fill_failure);
    tcase_add_loop_test(tc, fused_probes_match_separate, 0, (int)(4 * N_PROBE_CASES));
    tcase_add_test(tc, fused_probe_checks);
    tcase_add_test(tc, kept_workspace_matches_fresh);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(loss_suite()); }
