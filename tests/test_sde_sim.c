/*
 * Forward Euler-Maruyama simulation of every kind of SDE against its Gaussian
 * marginal N(alpha(t) x_0, sigma(t)^2): 10^5 paths in D = 1.
 *
 * Tolerances. With n = 10^5 paths the sample mean has standard error
 * sigma / sqrt(n) and the sample variance sigma^2 sqrt(2 / (n - 1)) (the paths
 * are exactly Gaussian: Euler-Maruyama on a linear SDE from a Gaussian start);
 * each is tested at 5 standard errors (z = 5, a false alarm about once in 1.7
 * million per check; the seeds are fixed anyway).
 * Euler bias. For a linear SDE the Euler-Maruyama moments follow exactly
 *     m_{k+1} = (1 + a_k dt) m_k,   v_{k+1} = (1 + a_k dt)^2 v_k + g_k^2 dt,
 * so the test computes the bias of the scheme instead of guessing it, and
 * asserts that it is at most a fifth of the statistical bound for the chosen
 * step count; that is how the step counts below were picked.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "testutil.h"

enum { NPATH = 100000 };
static const double Z_BOUND = 5.0;

/* A flow-matching style schedule: alpha = 1 - t, sigma = t (g^2 = 2t/(1-t)). */
static int linear_schedule(const double *t, size_t n, double *alpha, double *sigma,
                           double *dalpha_dt, double *dsigma_dt, void *user)
{
    (void)user;
    for (size_t i = 0; i < n; i++) {
        alpha[i] = 1.0 - t[i];
        sigma[i] = t[i];
        dalpha_dt[i] = -1.0;
        dsigma_dt[i] = 1.0;
    }
    return 0;
}

/* A custom OU process dx = -theta x dt + s dw given through hooks. */
struct ou_params {
    double theta, s;
};

static int ou_drift(const double *x, const double *t, size_t n, size_t D, double *f, void *user)
{
    const struct ou_params *p = user;
    (void)t;
    for (size_t k = 0; k < n * D; k++)
        f[k] = -p->theta * x[k];
    return 0;
}

static int ou_diffusion(const double *t, size_t n, double *g, void *user)
{
    const struct ou_params *p = user;
    (void)t;
    for (size_t i = 0; i < n; i++)
        g[i] = p->s;
    return 0;
}

static int ou_marginal(const double *t, size_t n, double *alpha, double *sigma, double *da,
                       double *ds, void *user)
{
    const struct ou_params *p = user;
    for (size_t i = 0; i < n; i++) {
        alpha[i] = exp(-p->theta * t[i]);
        double v = p->s * p->s * -expm1(-2 * p->theta * t[i]) / (2 * p->theta);
        sigma[i] = sqrt(v);
        da[i] = -p->theta * alpha[i];
        ds[i] = sigma[i] > 0 ? 0.5 * p->s * p->s * alpha[i] * alpha[i] / sigma[i] : INFINITY;
    }
    return 0;
}

static struct ou_params custom_ou = {0.5, 1.0};

static scoresde_sde *make_case(int kind)
{
    scoresde_sde *sde = NULL;
    int rc;
    if (kind == SCORESDE_SDE_SCHEDULE)
        rc = scoresde_sde_create_schedule(&sde, 0.99, linear_schedule, NULL);
    else if (kind == SCORESDE_SDE_CUSTOM)
        rc = scoresde_sde_create_custom(&sde, 2.0, ou_drift, ou_diffusion, ou_marginal,
                                        &custom_ou);
    else
        rc = scoresde_sde_create_default(&sde, kind);
    ck_assert_int_eq(rc, SCORESDE_OK);
    return sde;
}

static const struct sim_case {
    int kind;
    double t1;
    size_t steps;
} cases[] = {
    {SCORESDE_SDE_VE, 0.1, 200},     {SCORESDE_SDE_VP, 0.3, 200},
    {SCORESDE_SDE_SUBVP, 0.3, 300},  {SCORESDE_SDE_SCHEDULE, 0.5, 100},
    {SCORESDE_SDE_COSINE, 0.5, 200}, {SCORESDE_SDE_EDM, 2.0, 250},
    {SCORESDE_SDE_OU, 0.5, 100},     {SCORESDE_SDE_CUSTOM, 2.0, 200},
};

/* For kind cases[_i]: start every path at x_0 = 2 perturbed to t = 0 (which is
 * x_0 itself where sigma(0) = 0, and x_0 + smin z for VE, the score_sde
 * convention's blurred data), simulate to t1, compare with the marginal. */
START_TEST(simulation_matches_marginal)
{
    const struct sim_case *c = &cases[_i];
    scoresde_sde *sde = make_case(c->kind);
    const double x0 = 2.0, t0 = 0.0, t1 = c->t1;
    double *x = malloc(NPATH * sizeof *x), *tz = malloc(NPATH * sizeof *tz);
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(tz);
    for (size_t i = 0; i < NPATH; i++) {
        x[i] = x0;
        tz[i] = t0;
    }
    ck_assert_int_eq(scoresde_sde_perturb(sde, x, tz, NPATH, 1, 42, 0, 0, x, NULL), SCORESDE_OK);
    ck_assert_int_eq(scoresde_sde_simulate(sde, x, NPATH, 1, t0, t1, c->steps, 42, 0, 0, x),
                     SCORESDE_OK);

    double a0, s0, a1, s1;
    ck_assert_int_eq(scoresde_sde_marginal(sde, &t0, 1, &a0, &s0, NULL, NULL), SCORESDE_OK);
    ck_assert_int_eq(scoresde_sde_marginal(sde, &t1, 1, &a1, &s1, NULL, NULL), SCORESDE_OK);
    double mean_exact = a1 * x0, var_exact = s1 * s1;
    double mean_bound = Z_BOUND * s1 / sqrt((double)NPATH);
    double var_bound = Z_BOUND * var_exact * sqrt(2.0 / (NPATH - 1));

    /* The scheme's own moments, from the library's drift and diffusion. */
    double m = a0 * x0, v = s0 * s0, dt = (t1 - t0) / (double)c->steps;
    for (size_t k = 0; k < c->steps; k++) {
        double tk = t0 + (double)k * dt, one = 1.0, a, g;
        ck_assert_int_eq(scoresde_sde_drift(sde, &one, &tk, 1, 1, &a), SCORESDE_OK);
        ck_assert_int_eq(scoresde_sde_diffusion(sde, &tk, 1, &g), SCORESDE_OK);
        m *= 1.0 + a * dt;
        v = (1.0 + a * dt) * (1.0 + a * dt) * v + g * g * dt;
    }
    double mean_bias = fabs(m - mean_exact), var_bias = fabs(v - var_exact);
    if (mean_bias > 0.2 * mean_bound || var_bias > 0.2 * var_bound)
        ck_abort_msg("kind %d: Euler bias too large for %zu steps: mean %g (bound %g), "
                     "var %g (bound %g)",
                     c->kind, c->steps, mean_bias, mean_bound, var_bias, var_bound);

    double mean, var;
    test_moments(x, NPATH, 1, 0, &mean, &var);
    if (fabs(mean - mean_exact) > mean_bound || fabs(var - var_exact) > var_bound)
        ck_abort_msg("kind %d at t = %g: mean %.6g vs %.6g (bound %.3g), var %.6g vs %.6g "
                     "(bound %.3g)",
                     c->kind, t1, mean, mean_exact, mean_bound, var, var_exact, var_bound);
    free(x);
    free(tz);
    scoresde_sde_free(sde);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* Without the smin blur, the VE process from a point has variance
 * s(t)^2 - smin^2 (seed 001 eq. 46), not s(t)^2: the convention matters. */
START_TEST(ve_from_a_point_has_the_unblurred_variance)
{
    scoresde_sde *ve = make_case(SCORESDE_SDE_VE);
    double *x = calloc(NPATH, sizeof *x);
    ck_assert_ptr_nonnull(x);
    const double t1 = 0.1;
    ck_assert_int_eq(scoresde_sde_simulate(ve, x, NPATH, 1, 0.0, t1, 200, 7, 0, 0, x),
                     SCORESDE_OK);
    double s1, mean, var, s0, t0 = 0.0;
    scoresde_sde_marginal(ve, &t1, 1, NULL, &s1, NULL, NULL);
    scoresde_sde_marginal(ve, &t0, 1, NULL, &s0, NULL, NULL);
    test_moments(x, NPATH, 1, 0, &mean, &var);
    double want = s1 * s1 - s0 * s0;
    /* 5 standard errors plus the Euler bias, which is below 0.5% here
     * (8.5 dt relative, from the left-point rule on g^2 ~ exp(2 t ln 5000)). */
    ck_assert(fabs(var - want) <= Z_BOUND * want * sqrt(2.0 / (NPATH - 1)) + 0.005 * want);
    /* ... and s(t)^2 is far outside that: the difference smin^2 = 1e-4 is 24%
     * of s(0.1)^2 = 4.2e-4. */
    ck_assert(fabs(var - s1 * s1) > 0.5 * s0 * s0);
    free(x);
    scoresde_sde_free(ve);
}
END_TEST

/* Sample i's noise is stream first_sample + i: any split of the batch gives
 * the same paths, bit for bit. */
START_TEST(simulation_is_independent_of_batching)
{
    enum { N = 10, D = 3 };
    scoresde_sde *vp = make_case(SCORESDE_SDE_VP);
    double x0[N * D], whole[N * D], part[N * D];
    for (int k = 0; k < N * D; k++)
        x0[k] = 0.1 * k - 1.0;
    ck_assert_int_eq(scoresde_sde_simulate(vp, x0, N, D, 0.1, 0.9, 50, 5, 100, 17, whole),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_sde_simulate(vp, x0, 4, D, 0.1, 0.9, 50, 5, 100, 17, part),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_sde_simulate(vp, x0 + 4 * D, 6, D, 0.1, 0.9, 50, 5, 104, 17,
                                           part + 4 * D),
                     SCORESDE_OK);
    ck_assert(memcmp(whole, part, sizeof whole) == 0);
    /* One step by hand from the documented offsets. */
    double one[D], z[D], t = 0.1, g, f[D];
    ck_assert_int_eq(scoresde_sde_simulate(vp, x0, 1, D, 0.1, 0.2, 1, 5, 100, 17, one),
                     SCORESDE_OK);
    scoresde_rng_normal(5, 100, SCORESDE_RNG_OFFSET(SCORESDE_RNG_SIMULATE, 17), D, z);
    scoresde_sde_drift(vp, x0, &t, 1, D, f);
    scoresde_sde_diffusion(vp, &t, 1, &g);
    for (int j = 0; j < D; j++)
        ck_assert_double_eq_tol(one[j], x0[j] + f[j] * 0.1 + g * sqrt(0.1) * z[j], 1e-15);
    scoresde_sde_free(vp);
}
END_TEST

/* One SDE shared by four threads, each simulating its own slice of the
 * samples: the paths equal those of a single call (the SDE is read-only and
 * sample i's noise is stream i). */
enum { TN = 4000, TD = 2, TTHREADS = 4 };

struct slice {
    const scoresde_sde *sde;
    const double *x0;
    double *out;
    size_t first, count;
    int rc;
};

static void *simulate_slice(void *arg)
{
    struct slice *s = arg;
    s->rc = scoresde_sde_simulate(s->sde, s->x0 + s->first * TD, s->count, TD, 0.0,
                                  scoresde_sde_end_time(s->sde) / 2, 40, 77, s->first, 3,
                                  s->out + s->first * TD);
    return NULL;
}

START_TEST(a_shared_sde_gives_the_same_paths_from_many_threads)
{
    const int kinds[] = {SCORESDE_SDE_VP, SCORESDE_SDE_CUSTOM};
    for (int q = 0; q < 2; q++) {
        scoresde_sde *sde = make_case(kinds[q]);
        double *x0 = malloc(TN * TD * sizeof *x0), *serial = malloc(TN * TD * sizeof *x0);
        double *threaded = malloc(TN * TD * sizeof *x0);
        for (size_t k = 0; k < TN * TD; k++)
            x0[k] = sin(0.37 * (double)k);
        ck_assert_int_eq(scoresde_sde_simulate(sde, x0, TN, TD, 0.0, scoresde_sde_end_time(sde) / 2, 40,
                                               77, 0, 3, serial),
                         SCORESDE_OK);
        pthread_t th[TTHREADS];
        struct slice sl[TTHREADS];
        for (int w = 0; w < TTHREADS; w++) {
            sl[w] = (struct slice){sde, x0, threaded, (size_t)w * TN / TTHREADS,
                                   TN / TTHREADS, -1};
            ck_assert_int_eq(pthread_create(&th[w], NULL, simulate_slice, &sl[w]), 0);
        }
        for (int w = 0; w < TTHREADS; w++) {
            pthread_join(th[w], NULL);
            ck_assert_int_eq(sl[w].rc, SCORESDE_OK);
        }
        ck_assert(memcmp(serial, threaded, TN * TD * sizeof *x0) == 0);
        free(x0);
        free(serial);
        free(threaded);
        scoresde_sde_free(sde);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sde_sim");
    TCase *tc = tcase_create("sde_sim");
    tcase_add_loop_test(tc, simulation_matches_marginal, 0,
                        (int)(sizeof cases / sizeof cases[0]));
    tcase_add_test(tc, ve_from_a_point_has_the_unblurred_variance);
    tcase_add_test(tc, simulation_is_independent_of_batching);
    tcase_add_test(tc, a_shared_sde_gives_the_same_paths_from_many_threads);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
