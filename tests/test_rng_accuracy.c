/*
 * The normals' own logarithm, sine and cosine (lib/core/rng.c) against
 * quadruple-precision libquadmath over their whole ranges: ln u on every
 * binade of [2^-54, 1] (random mantissas, the ends of each binade, the
 * reduction's switch at sqrt(1/2), and the last thousand values below 1),
 * sin and cos of 2 pi u on [0, 1] (random multiples of 2^-54, every binade
 * of small u, a thousand neighbours either side of every multiple of 1/8,
 * where the reduction switches quadrant), and the normals of the streams.
 * Errors in ulps of the exact value, checked against the bounds internal.h
 * documents (SD_RNG_*_MAX_ULP); the largest are printed.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <math.h>
#include <quadmath.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "testutil.h"

typedef __float128 Q;

/* |got - exact| in ulps of the exact value (of double precision; an exact 0
 * counts in ulps of the smallest subnormal). */
static double ulps(double got, Q exact)
{
    Q a = fabsq(exact);
    int e = a == 0 ? -1074 : ilogbq(a) - 52;
    if (e < -1074)
        e = -1074;
    return (double)(fabsq((Q)got - exact) / scalbnq(1, e));
}

/* A reproducible 64-bit generator for the test points (splitmix64). */
static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

typedef struct worst {
    double err, at;
} worst;

static void keep(worst *w, double err, double at)
{
    if (err > w->err || w->err != w->err) {
        w->err = err;
        w->at = at;
    }
}

static void log_at(worst *w, double u)
{
    keep(w, ulps(sd_rng_log(u), logq((Q)u)), u);
}

START_TEST(log_over_its_range)
{
    worst w = {0.0, 0.0};
    uint64_t s = 1;
    for (int e = -54; e < 0; e++) {
        double lo = ldexp(1.0, e);
        for (int i = 0; i < 1 << 15; i++)
            log_at(&w, lo * (1.0 + (double)(next(&s) >> 12) * 0x1p-52));
        log_at(&w, lo);
        log_at(&w, nextafter(2.0 * lo, 0.0));
        for (int i = -200; i <= 200; i++) { /* the switch of the reduction at sqrt(1/2) 2^e */
            double m = 0x1.6a09e667f3bcdp-1 + i * 0x1p-53;
            log_at(&w, ldexp(m, e + 1));
        }
    }
    double u = 1.0;
    for (int i = 0; i < 1000; i++, u = nextafter(u, 0.0))
        log_at(&w, u);
    printf("ln u: max error %.3f ulp at u = %a (bound %g)\n", w.err, w.at, SD_RNG_LOG_MAX_ULP);
    ck_assert_msg(w.err <= SD_RNG_LOG_MAX_ULP, "ln: %.3f ulp at %a", w.err, w.at);
}
END_TEST

/* sin and cos of 2 pi u exactly: the reduction to |t| <= 1/8 is exact in
 * double too, so the reference reduces the same way and needs quadruple
 * precision only for sinq and cosq of 2 pi t (and 0 is exactly 0). */
static void exact_sincos(double u, Q *sx, Q *cx)
{
    double q = nearbyint(4.0 * u), t = u - q / 4;
    Q x = 2 * acosq(-1) * (Q)t, st = sinq(x), ct = cosq(x);
    int k = (int)q & 3;
    *sx = k == 0 ? st : k == 1 ? ct : k == 2 ? -st : -ct;
    *cx = k == 0 ? ct : k == 1 ? -st : k == 2 ? -ct : st;
}

static void sincos_at(worst *ws, worst *wc, double u)
{
    Q sx, cx;
    exact_sincos(u, &sx, &cx);
    double sn, cs;
    sd_rng_sincos_2pi(u, &sn, &cs);
    keep(ws, ulps(sn, sx), u);
    keep(wc, ulps(cs, cx), u);
}

START_TEST(sincos_over_its_range)
{
    worst ws = {0.0, 0.0}, wc = {0.0, 0.0};
    uint64_t s = 2;
    for (int i = 0; i < 1 << 21; i++)
        sincos_at(&ws, &wc, (double)(next(&s) >> 10) * 0x1p-54);
    for (int e = -54; e < 0; e++)
        for (int i = 0; i < 64; i++)
            sincos_at(&ws, &wc, ldexp(1.0 + (double)(next(&s) >> 12) * 0x1p-52, e));
    for (int k = 0; k <= 8; k++)
        for (int i = -1000; i <= 1000; i++) {
            double u = k / 8.0 + i * 0x1p-54;
            if (u >= 0.0 && u <= 1.0)
                sincos_at(&ws, &wc, u);
        }
    printf("sin 2 pi u: max error %.3f ulp at u = %a (bound %g)\n", ws.err, ws.at,
           SD_RNG_SIN_MAX_ULP);
    printf("cos 2 pi u: max error %.3f ulp at u = %a (bound %g)\n", wc.err, wc.at,
           SD_RNG_COS_MAX_ULP);
    ck_assert_msg(ws.err <= SD_RNG_SIN_MAX_ULP, "sin: %.3f ulp at %a", ws.err, ws.at);
    ck_assert_msg(wc.err <= SD_RNG_COS_MAX_ULP, "cos: %.3f ulp at %a", wc.err, wc.at);
}
END_TEST

/* The streams' normals against sqrt(-2 ln u_a) cos(2 pi u_b) (and sin) in
 * quadruple precision, from their uniforms. */
START_TEST(normals_against_exact_box_muller)
{
    enum { N = 1 << 20 };
    double *z = malloc(N * sizeof *z), *u = malloc(N * sizeof *u);
    ck_assert(z && u);
    scoresde_rng_normal(99, 5, 0, N, z);
    scoresde_rng_uniform(99, 5, 0, N, u);
    worst w = {0.0, 0.0};
    for (int j = 0; j < N; j += 2) {
        Q r = sqrtq(-2 * logq((Q)u[j])), sx, cx;
        exact_sincos(u[j + 1], &sx, &cx);
        keep(&w, ulps(z[j], r * cx), u[j + 1]);
        keep(&w, ulps(z[j + 1], r * sx), u[j + 1]);
    }
    printf("normals: max error %.3f ulp (bound %g)\n", w.err, SD_RNG_NORMAL_MAX_ULP);
    ck_assert_msg(w.err <= SD_RNG_NORMAL_MAX_ULP, "normal: %.3f ulp at u_b = %a", w.err, w.at);
    free(z);
    free(u);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rng_accuracy");
    TCase *tc = tcase_create("rng_accuracy");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, log_over_its_range);
    tcase_add_test(tc, sincos_over_its_range);
    tcase_add_test(tc, normals_against_exact_box_muller);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
