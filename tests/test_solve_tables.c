/*
 * The solve module's tables, checked as data: every ODE stepper's Butcher
 * tableau satisfies the order conditions of its order (Hairer, Norsett and
 * Wanner, Solving ODEs I, II.2: one per rooted tree, up to order 5) and
 * fails one of the next order, its nodes are the row sums of a, and the
 * adaptive pair is FSAL with an embedded solution of one order less; and
 * the step-size controller the adaptive solvers share (control.c): its
 * factors, clamps, clipping, H_MIN and MAX_STEPS, and the block summary.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>

#include "solve_internal.h"
#include "testutil.h"

enum { S = SD_RK_STAGES, MAX_ORDER = 5 };

/* v = A u (the strictly lower triangle of the tableau). */
static void amul(const sd_ode_stepper *st, const double *u, double *v)
{
    for (size_t i = 0; i < S; i++) {
        v[i] = 0.0;
        for (size_t j = 0; j < i; j++)
            v[i] += st->a[i][j] * u[j];
    }
}

static double dot(const double *w, const double *v)
{
    double s = 0.0;
    for (size_t i = 0; i < S; i++)
        s += w[i] * v[i];
    return s;
}

/* The largest order p <= MAX_ORDER whose conditions all hold for weights w
 * (to 1e-13): sum w Phi(tree) = 1 / gamma(tree) for every rooted tree of
 * p nodes or fewer. */
static int order_of(const sd_ode_stepper *st, const double *w)
{
    double one[S], c[S], c2[S], c3[S], c4[S], ac[S], ac2[S], ac3[S], aac[S], aac2[S], aaac[S];
    double cac[S], c2ac[S], acac[S], acc2[S], cc2[S], caac[S];
    for (size_t i = 0; i < S; i++) {
        one[i] = 1.0;
        c[i] = st->c[i];
        c2[i] = c[i] * c[i];
        c3[i] = c2[i] * c[i];
        c4[i] = c3[i] * c[i];
    }
    amul(st, c, ac);
    amul(st, c2, ac2);
    amul(st, c3, ac3);
    amul(st, ac, aac);
    amul(st, ac2, aac2);
    amul(st, aac, aaac);
    for (size_t i = 0; i < S; i++) {
        cac[i] = c[i] * ac[i];
        c2ac[i] = c2[i] * ac[i];
        acac[i] = ac[i] * ac[i];
        cc2[i] = c[i] * ac2[i];
        caac[i] = c[i] * aac[i];
    }
    amul(st, cac, acc2); /* A (c . A c) */
    const struct {
        int order;
        double got, want;
    } cond[] = {
        {1, dot(w, one), 1.0},       {2, dot(w, c), 1.0 / 2},      {3, dot(w, c2), 1.0 / 3},
        {3, dot(w, ac), 1.0 / 6},    {4, dot(w, c3), 1.0 / 4},     {4, dot(w, cac), 1.0 / 8},
        {4, dot(w, ac2), 1.0 / 12},  {4, dot(w, aac), 1.0 / 24},   {5, dot(w, c4), 1.0 / 5},
        {5, dot(w, c2ac), 1.0 / 10}, {5, dot(w, acac), 1.0 / 20},  {5, dot(w, cc2), 1.0 / 15},
        {5, dot(w, ac3), 1.0 / 20},  {5, dot(w, caac), 1.0 / 30},  {5, dot(w, acc2), 1.0 / 40},
        {5, dot(w, aac2), 1.0 / 60}, {5, dot(w, aaac), 1.0 / 120},
    };
    int p = MAX_ORDER;
    for (size_t q = 0; q < sizeof cond / sizeof cond[0]; q++)
        if (!(fabs(cond[q].got - cond[q].want) <= 1e-13) && cond[q].order - 1 < p)
            p = cond[q].order - 1;
    return p;
}

static const struct {
    int id, order;
} orders[] = {
    {SCORESDE_SAMPLER_SOLVER_EULER, 1},
    {SCORESDE_SAMPLER_SOLVER_HEUN, 2},
    {SCORESDE_SAMPLER_SOLVER_RK4, 4},
    {SCORESDE_SAMPLER_SOLVER_DOPRI5, 5},
};

START_TEST(test_tableau_orders)
{
    const sd_ode_stepper *st = sd_ode_stepper_find(orders[_i].id);
    ck_assert_ptr_nonnull(st);
    ck_assert_uint_le(st->stages, S);
    /* explicit, nodes the row sums, nothing beyond the stages */
    for (size_t i = 0; i < S; i++) {
        double sum = 0.0;
        for (size_t j = 0; j < S; j++) {
            if (j >= i || i >= st->stages)
                ck_assert_msg(st->a[i][j] == 0.0, "%s: a[%zu][%zu] = %g", st->name, i, j,
                              st->a[i][j]);
            sum += st->a[i][j];
        }
        ck_assert_msg(fabs(sum - st->c[i]) <= 1e-15, "%s: c[%zu] = %g, row sum %g", st->name, i,
                      st->c[i], sum);
        if (i >= st->stages)
            ck_assert(st->b[i] == 0.0 && st->e[i] == 0.0 && st->c[i] == 0.0);
    }
    /* exactly its order (MAX_ORDER: the conditions known here) */
    ck_assert_int_eq(order_of(st, st->b), orders[_i].order);
    if (st->error_order == 0) {
        for (size_t i = 0; i < S; i++)
            ck_assert(st->e[i] == 0.0);
        return;
    }
    /* the adaptive pair: FSAL, and b_hat = b - e of the estimate's order */
    for (size_t j = 0; j < S; j++)
        ck_assert_msg(st->a[st->stages - 1][j] == st->b[j], "%s: not FSAL at %zu", st->name, j);
    ck_assert(st->c[st->stages - 1] == 1.0);
    double bhat[S];
    for (size_t j = 0; j < S; j++)
        bhat[j] = st->b[j] - st->e[j];
    ck_assert_int_eq(order_of(st, bhat), (int)st->error_order);
}
END_TEST

START_TEST(test_stepper_find)
{
    ck_assert_ptr_null(sd_ode_stepper_find(0));
    ck_assert_ptr_null(sd_ode_stepper_find(SCORESDE_SAMPLER_SOLVER_DOPRI5 + 1));
}
END_TEST

/* ------------------------------------------------------------ the controller */

#define OK(expr) ck_assert_int_eq((expr), SCORESDE_OK)

/* The next step of sample 0 after a step h with error err (rest left). */
static int next_step(const sd_control *c, sd_block *b, double h, double err, double rest,
                     double *h_next)
{
    double st[SD_CTL_N] = {0.25, 0, 0, 4, 2, 0}; /* at t = 0.25 after 6 steps */
    int rc = sd_control_next(c, b, 0, st, h, err, rest);
    *h_next = st[SD_CTL_H];
    return rc;
}

START_TEST(test_controller)
{
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, SCORESDE_SAMPLER_ODE));
    sd_run run = {0};
    run.s = s;
    run.first = 100;
    run.t_start = 1.0;
    run.t_end = 0.0;
    sd_block b = {0};
    b.run = &run;
    b.i0 = 7;
    b.n = 1;
    sd_control c;
    sd_control_init(&c, s, 4, 1.0, "step size");
    ck_assert(c.exponent == -0.2 && c.h_min == 1e-14 && c.max_steps == 100000);
    ck_assert(sd_control_accepts(1.0) && !sd_control_accepts(nextafter(1.0, 2.0)));
    double h;
    /* fac = 0.9 err^(-1/5) within [0.2, 5]; 5 for err = 0 */
    OK(next_step(&c, &b, -0.01, 0.0, -1.0, &h));
    ck_assert(h == -0.01 * 5.0);
    OK(next_step(&c, &b, -0.01, 1.0, -1.0, &h));
    ck_assert(h == -0.01 * 0.9);
    OK(next_step(&c, &b, -0.01, 0.5, -1.0, &h));
    ck_assert(h == -0.01 * (0.9 * pow(0.5, -0.2)));
    OK(next_step(&c, &b, -0.01, 1e-10, -1.0, &h)); /* 90: growth clamped to 5 */
    ck_assert(h == -0.01 * 5.0);
    OK(next_step(&c, &b, -0.01, 2.0, -1.0, &h)); /* rejected: shrinks */
    ck_assert(h == -0.01 * (0.9 * pow(2.0, -0.2)));
    OK(next_step(&c, &b, -0.01, 1e6, -1.0, &h)); /* 0.057: clamped to 0.2 */
    ck_assert(h == -0.01 * 0.2);
    /* clipped to what is left, either direction */
    OK(next_step(&c, &b, -0.1, 0.0, -0.3, &h));
    ck_assert(h == -0.3);
    OK(next_step(&c, &b, 0.1, 0.0, 0.3, &h));
    ck_assert(h == 0.3);
    /* another error order: exponent -1/3 (adaptive DPM-Solver++) */
    sd_control c2;
    sd_control_init(&c2, s, 2, 20.0, "lambda step");
    ck_assert(c2.h_min == 1e-14 * 20.0);
    OK(next_step(&c2, &b, 0.05, 8.0, 10.0, &h));
    ck_assert(h == 0.05 * (0.9 * pow(8.0, -1.0 / 3.0)));
    /* H_MIN and MAX_STEPS from the settings */
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_H_MIN, 1e-3));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_MAX_STEPS, 7));
    sd_control_init(&c, s, 4, 1.0, "step size");
    OK(next_step(&c, &b, -0.01, 1e6, -1.0, &h)); /* 0.002 >= H_MIN */
    test_expect_error(next_step(&c, &b, -0.004, 1e6, -1.0, &h), SCORESDE_ENUMERIC,
                      "sample 107: the step size 0.0008 fell below H_MIN (0.001) at t = 0.25");
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_MAX_STEPS, 6));
    sd_control_init(&c, s, 4, 1.0, "step size");
    test_expect_error(next_step(&c, &b, -0.01, 0.5, -1.0, &h), SCORESDE_ENUMERIC,
                      "sample 107 did not reach t = 0 within MAX_STEPS (6) steps; it is at t = 0.25");
    scoresde_sampler_free(s);
}
END_TEST

/* The block's summary: least advanced time (in the run's direction), done
 * only when all are, the largest nfe, summed counts. */
START_TEST(test_controller_summary)
{
    double st[2 * SD_CTL_N] = {0.5, 0, 1, 3, 1, 20, 0.25, 0, 0, 5, 2, 26};
    sd_run run = {0};
    sd_block b = {0};
    b.run = &run;
    b.n = 2;
    b.state = st;
    run.t_start = 1.0; /* backward: the least advanced has the larger t */
    run.t_end = 0.0;
    sd_control_summarise(&b, SD_CTL_N);
    ck_assert(b.t_now == 0.5 && b.done == 0 && b.nfe == 26 && b.accepted == 8 && b.rejected == 3);
    run.t_start = 0.0; /* forward */
    run.t_end = 1.0;
    st[SD_CTL_N + SD_CTL_DONE] = 1;
    sd_control_summarise(&b, SD_CTL_N);
    ck_assert(b.t_now == 0.25 && b.done == 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("solve_tables");
    TCase *tc = tcase_create("tables");
    tcase_add_loop_test(tc, test_tableau_orders, 0, sizeof orders / sizeof orders[0]);
    tcase_add_test(tc, test_stepper_find);
    tcase_add_test(tc, test_controller);
    tcase_add_test(tc, test_controller_summary);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
