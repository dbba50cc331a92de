/*
 * The solve module's tables, checked as data: every ODE stepper's Butcher
 * tableau satisfies the order conditions of its order (Hairer, Norsett and
 * Wanner, Solving ODEs I, II.2: one per rooted tree, up to order 5) and
 * fails one of the next order, its nodes are the row sums of a, and the
 * adaptive pair is FSAL with an embedded solution of one order less.
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

int main(void)
{
    Suite *s = suite_create("solve_tables");
    TCase *tc = tcase_create("tables");
    tcase_add_loop_test(tc, test_tableau_orders, 0, sizeof orders / sizeof orders[0]);
    tcase_add_test(tc, test_stepper_find);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
