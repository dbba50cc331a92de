/*
 * Prior-support rejection on the sampler (scoresde_sampler_set_support,
 * issue 11): flagged samples are redrawn with counter-based seeds, the
 * accepted ones follow the truncated law, the counts reach the stats, and
 * sample i's bits do not depend on the batch, BLOCK, THREADS or the other
 * samples' conditions.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "scoresde.h"
#include "testutil.h"

#define OK(expr) ck_assert_int_eq((expr), SCORESDE_OK)

/* Support x_0 > lo (lo through user); counts its calls and rows. */
typedef struct box {
    double lo;
    size_t calls, rows;
    int fail;
} box;

static int half_space(const double *x, size_t n, size_t D, unsigned char *outside, void *user)
{
    box *b = user;
    b->calls++;
    b->rows += n;
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(outside[i], 0);
    for (size_t i = 0; i < n; i++)
        outside[i] = !(x[i * D] > b->lo);
    return b->fail;
}

/* A 1-D standard normal target (a one-component mixture). */
static scoresde_model *normal_1d(int sde_kind)
{
    scoresde_sde *sde = test_make_sde(sde_kind);
    scoresde_model *m = NULL;
    const double w = 1, mu = 0, var = 1;
    OK(scoresde_model_create_gmm(&m, sde, 1, 1, &w, &mu, &var));
    scoresde_sde_free(sde);
    return m;
}

static scoresde_sampler *sampler(int method)
{
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, method));
    if (method == SCORESDE_SAMPLER_PC) {
        OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 200));
        OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_CORRECTOR,
                                    SCORESDE_SAMPLER_CORRECTOR_NONE));
    }
    return s;
}

/* N(0, 1) truncated to x > -0.5 from PC (stochastic) and ODE (deterministic,
 * the redraw's fresh prior start gives a new point): every sample inside,
 * mean and variance of the truncated normal, stats counting the redraws. */
START_TEST(test_support_truncated)
{
    static const int methods[2] = {SCORESDE_SAMPLER_PC, SCORESDE_SAMPLER_ODE};
    scoresde_model *m = normal_1d(SCORESDE_SDE_VP);
    scoresde_sampler *s = sampler(methods[_i]);
    size_t n = 3000;
    double *x = malloc(n * sizeof *x), *plain = malloc(n * sizeof *plain);
    OK(scoresde_sampler_sample(s, m, NULL, n, 1, 5, 0, plain, NULL));
    size_t first_out = 0;
    for (size_t i = 0; i < n; i++)
        first_out += !(plain[i] > -0.5);
    box b = {-0.5, 0, 0, 0};
    OK(scoresde_sampler_set_support(s, half_space, &b));
    scoresde_sampler_stats st = {.struct_size = sizeof st};
    OK(scoresde_sampler_sample(s, m, NULL, n, 1, 5, 0, x, &st));
    ck_assert_uint_eq(st.outside, 0);
    ck_assert_uint_ge(st.redrawn, first_out);
    ck_assert_uint_eq(b.rows, n + st.redrawn); /* the batch once, then each redraw */
    double mean = 0, var = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert(x[i] > -0.5);
        if (plain[i] > -0.5) /* samples inside on the first pass are kept as drawn */
            ck_assert(x[i] == plain[i]);
        mean += x[i] / (double)n;
    }
    for (size_t i = 0; i < n; i++)
        var += (x[i] - mean) * (x[i] - mean) / (double)(n - 1);
    /* truncated normal on (a, inf), a = -0.5: lambda = phi(a) / (1 - Phi(a)) */
    double a = -0.5, lam = exp(-0.5 * a * a) / sqrt(2 * M_PI) / (1 - test_normal_cdf(a));
    double tm = lam, tv = 1 + a * lam - lam * lam;
    ck_assert_msg(fabs(mean - tm) < 4.5 * sqrt(tv / (double)n) + 0.01, "mean %g, exact %g", mean,
                  tm);
    ck_assert_msg(fabs(var - tv) < 4.5 * tv * sqrt(2.0 / (double)n) + 0.02, "variance %g, exact %g",
                  var, tv);
    /* the expected number of first-pass rejections: n Phi(a) within 4.5 sd */
    double p = test_normal_cdf(a);
    ck_assert(fabs((double)first_out - (double)n * p) < 4.5 * sqrt((double)n * p * (1 - p)) + 0.02 * (double)n);
    /* the first stats layout is accepted (the new fields are not written) */
    scoresde_sampler_stats old;
    memset(&old, 0xab, sizeof old);
    old.struct_size = offsetof(scoresde_sampler_stats, redrawn);
    OK(scoresde_sampler_sample(s, m, NULL, 4, 1, 5, 0, x, &old));
    ck_assert_uint_eq(old.redrawn, 0xababababababababull);
    free(x);
    free(plain);
    scoresde_sampler_free(s);
    scoresde_model_free(m);
}
END_TEST

/* Sample i (redraws included) is the same bits alone, in a batch, with
 * BLOCK 3 and THREADS 2, and with other samples' conditions changed. */
START_TEST(test_support_reproducible)
{
    static const double m0[2] = {0.0, 0.0}, S0[4] = {1.0, 0.2, 0.2, 0.8};
    static const double A[2] = {1.0, 0.5}, Se[1] = {0.5};
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = NULL;
    OK(scoresde_model_create_linear_gaussian(&m, sde, 2, 1, m0, S0, A, NULL, Se));
    scoresde_sampler *s = sampler(SCORESDE_SAMPLER_PC);
    box b = {0.0, 0, 0, 0};
    OK(scoresde_sampler_set_support(s, half_space, &b));
    enum { n = 12 };
    double y[n], y2[n], all[2 * n], again[2 * n], one[2];
    for (size_t i = 0; i < n; i++)
        y[i] = y2[i] = 0.2 * (double)i - 1.0;
    scoresde_cond c = {sizeof c, 1, y, n, NULL};
    scoresde_sampler_stats st = {.struct_size = sizeof st};
    OK(scoresde_sampler_sample_cond(s, m, NULL, n, 2, &c, 17, 100, all, &st));
    ck_assert_uint_gt(st.redrawn, 0);
    ck_assert_uint_eq(st.outside, 0);
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BLOCK, 3));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_THREADS, 2));
    for (size_t i = 0; i < n; i += 2) /* other samples' conditions change */
        y2[i] += 0.7;
    scoresde_cond c2 = {sizeof c2, 1, y2, n, NULL};
    OK(scoresde_sampler_sample_cond(s, m, NULL, n, 2, &c2, 17, 100, again, NULL));
    for (size_t i = 1; i < n; i += 2) {
        ck_assert_mem_eq(all + 2 * i, again + 2 * i, 2 * sizeof(double));
        scoresde_cond ci = {sizeof ci, 1, &y[i], 1, NULL}; /* a broadcast row, alone */
        OK(scoresde_sampler_sample_cond(s, m, NULL, 1, 2, &ci, 17, 100 + i, one, NULL));
        ck_assert_mem_eq(all + 2 * i, one, sizeof one);
    }
    /* null-masked samples are redrawn with the null condition (the prior) */
    unsigned char mask[n] = {0}, yes = 1;
    mask[3] = 1;
    scoresde_cond cm = {sizeof cm, 1, y, n, mask};
    OK(scoresde_sampler_sample_cond(s, m, NULL, n, 2, &cm, 17, 100, all, NULL));
    scoresde_cond c3 = {sizeof c3, 1, &y[3], 1, &yes};
    OK(scoresde_sampler_sample_cond(s, m, NULL, 1, 2, &c3, 17, 103, one, NULL));
    ck_assert_mem_eq(all + 6, one, sizeof one);
    ck_assert(one[0] > 0.0);
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* SUPPORT_RETRIES bounds the redraws: an empty support leaves every sample
 * outside after exactly that many each; 0 only counts, leaving the plain
 * run's bits; a hook failure is ECALLBACK; removing the hook restores the
 * plain run; inpainting redraws too, keeping its known coordinates. */
START_TEST(test_support_limits)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = test_mixture(sde);
    scoresde_sampler *s = sampler(SCORESDE_SAMPLER_PC);
    size_t n = 20;
    double x[40], plain[40], v;
    scoresde_sampler_stats st0 = {.struct_size = sizeof st0};
    OK(scoresde_sampler_sample(s, m, NULL, n, 2, 3, 0, plain, &st0));
    ck_assert_int_eq(scoresde_sampler_set_support(NULL, half_space, NULL), SCORESDE_EINVAL);
    OK(scoresde_sampler_default(SCORESDE_SAMPLER_PC, SCORESDE_SAMPLER_SUPPORT_RETRIES, &v));
    ck_assert(v == 100);
    ck_assert_int_eq(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_SUPPORT_RETRIES, -1),
                     SCORESDE_EINVAL);
    box never = {1e300, 0, 0, 0};
    OK(scoresde_sampler_set_support(s, half_space, &never));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_SUPPORT_RETRIES, 3));
    scoresde_sampler_stats st = {.struct_size = sizeof st};
    OK(scoresde_sampler_sample(s, m, NULL, n, 2, 3, 0, x, &st));
    ck_assert_uint_eq(st.redrawn, 3 * n);
    ck_assert_uint_eq(st.outside, n);
    ck_assert_uint_eq(never.calls, 1 + 3 * n);
    ck_assert_uint_eq(st.accepted, st0.accepted + 3 * n * (st0.accepted / n));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_SUPPORT_RETRIES, 0));
    OK(scoresde_sampler_sample(s, m, NULL, n, 2, 3, 0, x, &st));
    ck_assert_uint_eq(st.redrawn, 0);
    ck_assert_uint_eq(st.outside, n);
    ck_assert_mem_eq(x, plain, sizeof x);
    box failing = {0.0, 0, 0, 1};
    OK(scoresde_sampler_set_support(s, half_space, &failing));
    ck_assert_int_eq(scoresde_sampler_sample(s, m, NULL, n, 2, 3, 0, x, NULL),
                     SCORESDE_ECALLBACK);
    ck_assert(test_contains(scoresde_last_error(), "prior-support hook"));
    /* a clone keeps the hook */
    scoresde_sampler *cl = NULL;
    OK(scoresde_sampler_clone(&cl, s));
    ck_assert_int_eq(scoresde_sampler_sample(cl, m, NULL, n, 2, 3, 0, x, NULL),
                     SCORESDE_ECALLBACK);
    scoresde_sampler_free(cl);
    OK(scoresde_sampler_set_support(s, NULL, NULL));
    OK(scoresde_sampler_sample(s, m, NULL, n, 2, 3, 0, x, NULL));
    ck_assert_mem_eq(x, plain, sizeof x);
    /* inpainting: coordinate 1 known, support x_0 > 0 */
    double y[40];
    unsigned char mask[2] = {0, 1};
    for (size_t i = 0; i < n; i++) {
        y[2 * i] = 0;
        y[2 * i + 1] = 0.5;
    }
    box right = {0.0, 0, 0, 0};
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_SUPPORT_RETRIES, 100));
    OK(scoresde_sampler_set_support(s, half_space, &right));
    OK(scoresde_sampler_inpaint(s, m, y, mask, n, 2, 8, 0, x, &st));
    ck_assert_uint_gt(st.redrawn, 0);
    ck_assert_uint_eq(st.outside, 0);
    for (size_t i = 0; i < n; i++) {
        ck_assert(x[2 * i] > 0.0);
        ck_assert(x[2 * i + 1] == 0.5);
    }
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

static Suite *support_suite(void)
{
    Suite *s = suite_create("support");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_support_truncated, 0, 2);
    tcase_add_test(tc, test_support_reproducible);
    tcase_add_test(tc, test_support_limits);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(support_suite());
}
