/*
 * The activations' own arithmetic (lib/nn/act.h, vmath.h) against libm:
 * every activation's value and first two derivatives, in double against
 * quadruple-precision libquadmath and in float against double libm, on a
 * dense sweep, a sweep of every magnitude (subnormal to the largest finite
 * number, both signs), random points and the extreme inputs (+-0, the
 * smallest subnormal, the largest finite, +-inf, NaN). The error of each
 * output is measured in ulps of the larger of the exact value and the
 * magnitude of the terms it is the sum of (act.h lists them), and checked
 * against the bound act.h documents. And the vectorised passes give the
 * bits of the scalar evaluation, in the vector body and the remainder.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <quadmath.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "act.h"
#include "internal.h"
#include "mlp.h"
#include "testutil.h"

typedef __float128 Q;

/* The exact value of one output and the magnitude of the terms it sums. */
typedef struct ref3 {
    Q v[3], m[3];
} ref3;

#define GK sqrtq(2 / acosq((Q)-1))
#define GC ((Q)44715 / 1000000)

/* The reference in quadruple precision (for double) or double (for float):
 * the formulas of act.h in forms without cancellation, with libquadmath's or
 * libm's functions. Q works for both: float references are computed in
 * double and widened. */
static ref3 ref_quad(sd_act act, Q z)
{
    ref3 r;
    Q s = 1 / (1 + expq(-z)), o = 1 / (1 + expq(z));
    switch (act) {
    case SD_ACT_RELU:
        r.v[0] = z > 0 ? z : 0;
        r.v[1] = z > 0 ? 1 : 0;
        r.v[2] = 0;
        for (int k = 0; k < 3; k++)
            r.m[k] = fabsq(r.v[k]);
        break;
    case SD_ACT_TANH: {
        Q t = tanhq(z), c = coshq(z), d = 1 / (c * c);
        r.v[0] = t;
        r.v[1] = d;
        r.v[2] = -2 * t * d;
        for (int k = 0; k < 3; k++)
            r.m[k] = fabsq(r.v[k]);
        break;
    }
    case SD_ACT_SOFTPLUS:
        r.v[0] = (z > 0 ? z : 0) + log1pq(expq(-fabsq(z)));
        r.v[1] = s;
        r.v[2] = s * o;
        for (int k = 0; k < 3; k++)
            r.m[k] = fabsq(r.v[k]);
        break;
    case SD_ACT_GELU_TANH: {
        Q u = GK * (z + GC * z * z * z), up = GK * (1 + 3 * GC * z * z), upp = 6 * GK * GC * z;
        Q t = tanhq(u), c = coshq(u), sech2 = 1 / (c * c), onep = 2 / (1 + expq(-2 * u));
        r.v[0] = z * onep / 2;
        r.v[1] = onep / 2 + z * sech2 * up / 2;
        r.v[2] = sech2 * (up + z * (upp - 2 * t * up * up) / 2);
        r.m[0] = fabsq(r.v[0]);
        r.m[1] = onep / 2 + fabsq(z * sech2 * up / 2);
        r.m[2] = sech2 * (up + fabsq(z * upp / 2) + fabsq(z * t * up * up));
        break;
    }
    case SD_ACT_GELU: {
        Q cdf = erfcq(-z / sqrtq((Q)2)) / 2, pdf = expq(-z * z / 2) / sqrtq(2 * acosq((Q)-1));
        r.v[0] = z * cdf;
        r.v[1] = cdf + z * pdf;
        r.v[2] = pdf * (2 - z * z);
        r.m[0] = fabsq(r.v[0]);
        r.m[1] = cdf + fabsq(z * pdf);
        r.m[2] = pdf * (2 + z * z);
        break;
    }
    case SD_ACT_SILU:
    default:
        r.v[0] = z * s;
        r.v[1] = s * (1 + z * o);
        r.v[2] = s * o * (2 + z * (o - s));
        r.m[0] = fabsq(r.v[0]);
        r.m[1] = s * (1 + fabsq(z * o));
        r.m[2] = s * o * (2 + fabsq(z * (o - s)));
        break;
    }
    return r;
}

static ref3 ref_double(sd_act act, double z)
{
    ref3 r;
    double s = 1 / (1 + exp(-z)), o = 1 / (1 + exp(z)), v[3], m[3];
    switch (act) {
    case SD_ACT_RELU:
        v[0] = z > 0 ? z : 0;
        v[1] = z > 0 ? 1 : 0;
        v[2] = 0;
        for (int k = 0; k < 3; k++)
            m[k] = fabs(v[k]);
        break;
    case SD_ACT_TANH: {
        double t = tanh(z), c = cosh(z), d = 1 / (c * c);
        v[0] = t;
        v[1] = d;
        v[2] = -2 * t * d;
        for (int k = 0; k < 3; k++)
            m[k] = fabs(v[k]);
        break;
    }
    case SD_ACT_SOFTPLUS:
        v[0] = (z > 0 ? z : 0) + log1p(exp(-fabs(z)));
        v[1] = s;
        v[2] = s * o;
        for (int k = 0; k < 3; k++)
            m[k] = fabs(v[k]);
        break;
    case SD_ACT_GELU_TANH: {
        double k = (double)GK, c0 = (double)GC;
        double u = k * (z + c0 * z * z * z), up = k * (1 + 3 * c0 * z * z), upp = 6 * k * c0 * z;
        double t = tanh(u), c = cosh(u), sech2 = 1 / (c * c), onep = 2 / (1 + exp(-2 * u));
        v[0] = z * onep / 2;
        v[1] = onep / 2 + z * sech2 * up / 2;
        v[2] = sech2 * (up + z * (upp - 2 * t * up * up) / 2);
        m[0] = fabs(v[0]);
        m[1] = onep / 2 + fabs(z * sech2 * up / 2);
        m[2] = sech2 * (up + fabs(z * upp / 2) + fabs(z * t * up * up));
        break;
    }
    case SD_ACT_GELU: {
        double cdf = erfc(-z / sqrt(2.0)) / 2, pdf = exp(-z * z / 2) / sqrt(2 * M_PI);
        v[0] = z * cdf;
        v[1] = cdf + z * pdf;
        v[2] = pdf * (2 - z * z);
        m[0] = fabs(v[0]);
        m[1] = cdf + fabs(z * pdf);
        m[2] = pdf * (2 + z * z);
        break;
    }
    case SD_ACT_SILU:
    default:
        v[0] = z * s;
        v[1] = s * (1 + z * o);
        v[2] = s * o * (2 + z * (o - s));
        m[0] = fabs(v[0]);
        m[1] = s * (1 + fabs(z * o));
        m[2] = s * o * (2 + fabs(z * (o - s)));
        break;
    }
    for (int k = 0; k < 3; k++) {
        r.v[k] = v[k];
        r.m[k] = m[k];
    }
    return r;
}

/* The spacing of doubles (f64) or floats at |x| (the smallest subnormal's
 * at and below it). */
static Q ulp_at(Q x, int f64)
{
    x = fabsq(x);
    if (f64) {
        if (x < (Q)DBL_MIN)
            return (Q)0x1p-1074;
        if (x > (Q)DBL_MAX)
            x = (Q)DBL_MAX;
        return ldexpq(1, ilogbq(x) - 52);
    }
    if (x < (Q)FLT_MIN)
        return (Q)0x1p-149;
    if (x > (Q)FLT_MAX)
        x = (Q)FLT_MAX;
    return ldexpq(1, ilogbq(x) - 23);
}

static const char *const act_name[] = {"silu", "relu", "tanh", "softplus", "gelu_tanh", "gelu"};
static const char *const out_name[] = {"value", "first derivative", "second derivative"};

typedef struct worst3 {
    double err[3], at[3];
} worst3;

static void measure(sd_act act, int f64, double z, worst3 *w)
{
    double got[3];
    ref3 r;
    if (f64) {
        sd_act_eval(act, z, &got[0], &got[1], &got[2]);
        r = ref_quad(act, (Q)z);
    } else {
        float gf[3];
        sd_act_evalf(act, (float)z, &gf[0], &gf[1], &gf[2]);
        for (int k = 0; k < 3; k++)
            got[k] = gf[k];
        r = ref_double(act, (double)(float)z);
    }
    for (int k = 0; k < 3; k++) {
        Q scale = r.m[k] > fabsq(r.v[k]) ? r.m[k] : fabsq(r.v[k]);
        double e = (double)(fabsq((Q)got[k] - r.v[k]) / ulp_at(scale, f64));
        if (!(e <= w->err[k])) {
            w->err[k] = isnan(e) ? INFINITY : e;
            w->at[k] = z;
        }
    }
}

/* Deterministic points: a dense sweep of [-60, 60], every magnitude from
 * the smallest subnormal to the largest finite (16 per binade in double, 64 in float, both
 * signs), and uniform random points on the range where the activations
 * bend (+-2 lim) and on +-1000. */
static void sweep(sd_act act, int f64, worst3 *w)
{
    const int dense = f64 ? 40000 : 120000;
    for (int i = 0; i <= dense; i++) {
        double z = -60.0 + 120.0 * (double)i / dense;
        measure(act, f64, f64 ? z : (double)(float)z, w);
    }
    int emin = f64 ? -1074 : -149, emax = f64 ? 1023 : 127;
    for (int e = emin; e <= emax; e++)
        for (int j = 0; j < (f64 ? 16 : 64); j++) {
            double z = ldexp(1.0 + j / 64.0, e);
            if (!f64 && (float)z != z)
                continue;
            measure(act, f64, z, w);
            measure(act, f64, -z, w);
        }
    uint64_t st = 0x9e3779b97f4a7c15ULL ^ (uint64_t)act;
    for (int i = 0; i < (f64 ? 30000 : 100000); i++) {
        st = st * 6364136223846793005ULL + 1442695040888963407ULL;
        double u = (double)(st >> 11) * 0x1p-53;
        double lim = i & 1 ? 1000.0 : (f64 ? 45.0 : 20.0);
        double z = (2 * u - 1) * lim;
        measure(act, f64, f64 ? z : (double)(float)z, w);
    }
    const double ext[] = {0.0, -0.0, 0x1p-1074, -0x1p-1074, DBL_MIN, -DBL_MIN, FLT_MIN, -FLT_MIN,
                          0x1p-149, -0x1p-149, FLT_MAX, -FLT_MAX, DBL_MAX, -DBL_MAX};
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (f64 || fabs(ext[i]) <= FLT_MAX)
            measure(act, f64, ext[i], w);
}

START_TEST(within_documented_error)
{
    sd_act act = (sd_act)(_i / 2);
    int f64 = _i % 2;
    worst3 w = {{0, 0, 0}, {0, 0, 0}};
    sweep(act, f64, &w);
    for (int k = 0; k < 3; k++) {
        double bound = sd_act_max_ulp(act, k, !f64);
        printf("%-9s %s %-17s max error %.3f ulp at z = %.17g (bound %g)\n", act_name[act],
               f64 ? "double" : "float ", out_name[k], w.err[k], w.at[k], bound);
        ck_assert_msg(w.err[k] <= bound, "%s %s %s: %.3f ulp at z = %.17g, bound %g",
                      act_name[act], f64 ? "double" : "float", out_name[k], w.err[k], w.at[k],
                      bound);
    }
}
END_TEST

/* +-inf give the limits, NaN gives NaN in all three outputs. */
START_TEST(infinities_and_nan)
{
    /* {act(-inf), act'(-inf), act''(-inf), act(+inf), act'(+inf), act''(+inf)} */
    static const double lim[6][6] = {
        {0, 0, 0, INFINITY, 1, 0},  /* silu */
        {0, 0, 0, INFINITY, 1, 0},  /* relu */
        {-1, 0, 0, 1, 0, 0},        /* tanh */
        {0, 0, 0, INFINITY, 1, 0},  /* softplus */
        {0, 0, 0, INFINITY, 1, 0},  /* gelu_tanh */
        {0, 0, 0, INFINITY, 1, 0},  /* gelu */
    };
    for (int a = 0; a <= SD_ACT_LAST; a++) {
        for (int side = 0; side < 2; side++) {
            double z = side ? INFINITY : -INFINITY, o[3];
            float of[3];
            sd_act_eval((sd_act)a, z, &o[0], &o[1], &o[2]);
            sd_act_evalf((sd_act)a, (float)z, &of[0], &of[1], &of[2]);
            for (int k = 0; k < 3; k++) {
                ck_assert_msg(o[k] == lim[a][3 * side + k], "%s %s at %g: %g", act_name[a],
                              out_name[k], z, o[k]);
                ck_assert_msg((double)of[k] == lim[a][3 * side + k], "%s float %s at %g: %g",
                              act_name[a], out_name[k], z, (double)of[k]);
            }
        }
        const double nans[2] = {NAN, -NAN};
        for (int i = 0; i < 2; i++) {
            double o[3];
            float of[3];
            sd_act_eval((sd_act)a, nans[i], &o[0], &o[1], &o[2]);
            sd_act_evalf((sd_act)a, (float)nans[i], &of[0], &of[1], &of[2]);
            for (int k = 0; k < 3; k++) {
                ck_assert_msg(isnan(o[k]), "%s %s at NaN: %g", act_name[a], out_name[k], o[k]);
                ck_assert_msg(isnan(of[k]), "%s float %s at NaN", act_name[a], out_name[k]);
            }
        }
    }
}
END_TEST

/* The passes in the networks, vectorised, give the bits of the scalar
 * evaluation (sd_act_eval): a network with one input, a hidden layer of 37
 * (vector body and remainder) with weights c_j and zero biases and an
 * identity output layer returns act(c_j x) exactly (the GEMMs add zeros),
 * and its J v at v = 1 is act'(c_j x) c_j rounded once. Every activation, both
 * precisions, z over [-45, 45] and the extremes. */
START_TEST(passes_match_scalar)
{
    enum { W = 37, N = 13 };
    sd_act act = (sd_act)(_i / 2);
    int f32 = _i % 2;
    size_t widths[1] = {W};
    sd_mlp *net;
    ck_assert_int_eq(sd_mlp_create(&net, 1, 1, widths, W, (sd_mlp_act)act,
                                   f32 ? SD_MLP_F32 : SD_MLP_F64, 1, 0),
                     SCORESDE_OK);
    size_t np = sd_mlp_num_params(net);
    double *p = calloc(np, sizeof *p), x[N], v[N], out[N * W], jv[N * W];
    for (size_t j = 0; j < W; j++)
        p[j] = (double)(float)(0.125 * ((double)j - 18.0)); /* W_1, then b_1 = 0 */
    for (size_t j = 0; j < W; j++)
        p[2 * W + j * W + j] = 1.0; /* W_2 = I, b_2 = 0 */
    ck_assert_int_eq(sd_mlp_set_params(net, p), SCORESDE_OK);
    for (size_t i = 0; i < N; i++) {
        x[i] = (double)(float)(-20.0 + 40.0 * (double)i / (N - 1));
        v[i] = 1.0;
    }
    x[0] = 1e30; /* the clamps, in the vector body too */
    x[1] = -1e30;
    sd_mlp_ws *ws;
    ck_assert_int_eq(sd_mlp_ws_create(net, N, 0, 1, &ws), SCORESDE_OK);
    ck_assert_int_eq(sd_mlp_jvp(net, ws, N, x, v, out, jv), SCORESDE_OK);
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < W; j++) {
            double want_a, want_t;
            if (f32) {
                float z = (float)p[j] * (float)x[i] + 0.0f, a, d, s2;
                sd_act_evalf(act, z, &a, &d, &s2);
                want_a = a;
                want_t = (double)(d * (float)p[j]);
            } else {
                double z = p[j] * x[i] + 0.0, a, d, s2;
                sd_act_eval(act, z, &a, &d, &s2);
                want_a = a;
                want_t = d * p[j];
            }
            ck_assert_msg(out[i * W + j] == want_a, "%s row %zu column %zu: %.17g, scalar %.17g",
                          act_name[act], i, j, out[i * W + j], want_a);
            ck_assert_msg(jv[i * W + j] == want_t,
                          "%s tangent row %zu column %zu: %.17g, scalar %.17g", act_name[act], i,
                          j, jv[i * W + j], want_t);
        }
    sd_mlp_ws_free(ws);
    sd_mlp_free(net);
    free(p);
}
END_TEST

static Suite *act_suite(void)
{
    Suite *s = suite_create("act");
    TCase *tc = tcase_create("error");
    tcase_add_loop_test(tc, within_documented_error, 0, 2 * (SD_ACT_LAST + 1));
    tcase_add_test(tc, infinities_and_nan);
    tcase_add_loop_test(tc, passes_match_scalar, 0, 2 * (SD_ACT_LAST + 1));
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(act_suite()); }
