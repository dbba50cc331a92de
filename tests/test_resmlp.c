/*
 * The residual network engine (lib/nn/resmlp.h): every pass against central
 * finite differences (parameters, inputs and embedding features, for every
 * activation), float32 against float64, bit-identical results across
 * thread counts and row splits, the zero output layer at creation, and the
 * engine's refusals.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "resmlp.h"
#include "testutil.h"

static const char *act_name[] = {"silu", "relu", "tanh", "softplus", "gelu_tanh", "gelu"};

/* As tests/test_mlp.c: step 1e-5 on O(1) quantities leaves a correct
 * gradient four orders of magnitude inside 1e-6. */
#define FD_H 1e-5
#define FD_TOL 1e-6

/* Width 6 (not a multiple of the 4-lane sums), two blocks. */
enum { N = 5, NI = 3, NE = 4, WD = 6, NB = 2, NO = 3 };

/* A network with every parameter random (LayerNorm scales around 1), so
 * every one of them matters. */
static sd_resmlp *small_net(sd_act act, sd_mlp_prec prec, uint64_t seed)
{
    sd_resmlp *net = NULL;
    ck_assert_int_eq(sd_resmlp_create(&net, NI, NE, WD, NB, NO, act, prec, seed), SCORESDE_OK);
    size_t np = sd_resmlp_num_params(net);
    double *p = test_normals(seed + 1000, np, 0.5);
    ck_assert_int_eq(sd_resmlp_set_params(net, p), SCORESDE_OK);
    free(p);
    return net;
}

typedef struct {
    sd_resmlp *net;
    sd_resmlp_ws *ws;
    double *x, *e;
    const double *v, *go, *gt;
} fd_problem;

/* sum(go .* out) (+ sum(gt .* J v) when v is set). */
static double objective(const fd_problem *f)
{
    double out[N * NO], jv[N * NO], s = 0;
    if (f->v)
        ck_assert_int_eq(sd_resmlp_jvp(f->net, f->ws, N, f->x, f->e, f->v, out, jv), SCORESDE_OK);
    else
        ck_assert_int_eq(sd_resmlp_forward(f->net, f->ws, N, f->x, f->e, out), SCORESDE_OK);
    for (size_t i = 0; i < N * NO; i++)
        s += f->go[i] * out[i] + (f->v ? f->gt[i] * jv[i] : 0.0);
    return s;
}

/* Central differences of the objective in each of the n values at p (the
 * parameters when set_params, else an input array), into fd. */
static void central(const fd_problem *f, double *p, size_t n, int params, double *fd)
{
    for (size_t k = 0; k < n; k++) {
        double keep = p[k];
        p[k] = keep + FD_H;
        if (params)
            sd_resmlp_set_params(f->net, p);
        double fp = objective(f);
        p[k] = keep - FD_H;
        if (params)
            sd_resmlp_set_params(f->net, p);
        double fm = objective(f);
        p[k] = keep;
        fd[k] = (fp - fm) / (2 * FD_H);
    }
    if (params)
        sd_resmlp_set_params(f->net, p);
}

/* The gradients of the forward (_i < 6) or tangent (_i >= 6) objective with
 * respect to the parameters (LayerNorm scales and shifts included), the
 * inputs and the features. */
START_TEST(gradients_match_finite_differences)
{
    int tangent = _i >= 6;
    sd_act act = (sd_act)(_i % 6);
    sd_resmlp *net = small_net(act, SD_MLP_F64, 11 + (uint64_t)_i);
    sd_resmlp_ws *ws = NULL;
    ck_assert_int_eq(sd_resmlp_ws_create(net, N, 1, &ws), SCORESDE_OK);
    size_t np = sd_resmlp_num_params(net);
    double *x = test_normals(21, N * NI, 1.0), *e = test_normals(22, N * NE, 1.0);
    double *v = test_normals(23, N * NI, 1.0), *go = test_normals(24, N * NO, 1.0);
    double *gt = test_normals(25, N * NO, 1.0);
    double out[N * NO], jv[N * NO], gin[N * NI], ge[N * NE], fin[N * NI], fe[N * NE];
    double *grad = malloc(np * sizeof *grad), *fd = malloc(np * sizeof *fd);
    double *p = malloc(np * sizeof *p);
    for (size_t i = 0; i < np; i++)
        grad[i] = 1.0; /* the gradient is added */
    if (tangent) {
        ck_assert_int_eq(sd_resmlp_jvp(net, ws, N, x, e, v, out, jv), SCORESDE_OK);
        ck_assert_int_eq(sd_resmlp_tangent_backward(net, ws, go, gt, grad, ge, gin), SCORESDE_OK);
    } else {
        ck_assert_int_eq(sd_resmlp_forward(net, ws, N, x, e, out), SCORESDE_OK);
        ck_assert_int_eq(sd_resmlp_backward(net, ws, go, grad, ge, gin), SCORESDE_OK);
    }
    for (size_t i = 0; i < np; i++)
        grad[i] -= 1.0;
    fd_problem f = {.net = net, .ws = ws, .x = x, .e = e, .v = tangent ? v : NULL, .go = go,
                    .gt = gt};
    sd_resmlp_get_params(net, p);
    central(&f, p, np, 1, fd);
    central(&f, x, N * NI, 0, fin);
    central(&f, e, N * NE, 0, fe);
    double ep = test_rel_err(grad, fd, np), ei = test_rel_err(gin, fin, N * NI);
    double ee = test_rel_err(ge, fe, N * NE);
    ck_assert_msg(ep < FD_TOL, "%s %s: parameter gradient relative error %g", act_name[_i % 6],
                  tangent ? "tangent" : "forward", ep);
    ck_assert_msg(ei < FD_TOL, "%s %s: input gradient relative error %g", act_name[_i % 6],
                  tangent ? "tangent" : "forward", ei);
    ck_assert_msg(ee < FD_TOL, "%s %s: feature gradient relative error %g", act_name[_i % 6],
                  tangent ? "tangent" : "forward", ee);
    free(x), free(e), free(v), free(go), free(gt), free(grad), free(fd), free(p);
    sd_resmlp_ws_free(ws);
    sd_resmlp_free(net);
}
END_TEST

/* J v against central differences of the forward along v; the tangent
 * backward with g_out NULL equals the one with g_out zero. */
START_TEST(jvp_matches_finite_differences)
{
    sd_act act = (sd_act)_i;
    sd_resmlp *net = small_net(act, SD_MLP_F64, 31 + (uint64_t)_i);
    sd_resmlp_ws *ws = NULL;
    ck_assert_int_eq(sd_resmlp_ws_create(net, N, 1, &ws), SCORESDE_OK);
    double *x = test_normals(41, N * NI, 1.0), *e = test_normals(42, N * NE, 1.0);
    double *v = test_normals(43, N * NI, 1.0);
    double out[N * NO], out2[N * NO], jv[N * NO], yp[N * NO], ym[N * NO], fd[N * NO];
    double xp[N * NI], xm[N * NI];
    ck_assert_int_eq(sd_resmlp_jvp(net, ws, N, x, e, v, out, jv), SCORESDE_OK);
    ck_assert_int_eq(sd_resmlp_forward(net, ws, N, x, e, out2), SCORESDE_OK);
    ck_assert(memcmp(out, out2, sizeof out) == 0);
    for (size_t i = 0; i < N * NI; i++) {
        xp[i] = x[i] + FD_H * v[i];
        xm[i] = x[i] - FD_H * v[i];
    }
    sd_resmlp_forward(net, ws, N, xp, e, yp);
    sd_resmlp_forward(net, ws, N, xm, e, ym);
    for (size_t i = 0; i < N * NO; i++)
        fd[i] = (yp[i] - ym[i]) / (2 * FD_H);
    double err = test_rel_err(jv, fd, N * NO);
    ck_assert_msg(err < FD_TOL, "%s: Jv relative error %g", act_name[_i], err);
    free(x), free(e), free(v);
    sd_resmlp_ws_free(ws);
    sd_resmlp_free(net);
}
END_TEST

/* One evaluation of everything on a wider network: outputs, J v and both
 * gradients of n rows (BN, or BT: 3 parts of 100 rows, split.h) in calls
 * of `split` rows, into out (sizes below). */
enum { BN = 40, BT = 300, BI = 5, BE = 8, BW = 33, BB = 3, BO = 5 };
static void run_all(sd_resmlp *net, int threads, size_t n, size_t split, double *out,
                    double *jv, double *g1, double *g2)
{
    sd_resmlp_ws *ws = NULL;
    ck_assert_int_eq(sd_resmlp_ws_create(net, n, threads, &ws), SCORESDE_OK);
    double *x = test_normals(51, n * BI, 1.0), *e = test_normals(52, n * BE, 1.0);
    double *v = test_normals(53, n * BI, 1.0), *go = test_normals(54, n * BO, 1.0);
    size_t np = sd_resmlp_num_params(net);
    memset(g1, 0, np * sizeof *g1);
    memset(g2, 0, np * sizeof *g2);
    for (size_t i0 = 0; i0 < n; i0 += split) {
        size_t r = n - i0 < split ? n - i0 : split;
        ck_assert_int_eq(sd_resmlp_forward(net, ws, r, x + i0 * BI, e + i0 * BE, out + i0 * BO),
                         SCORESDE_OK);
        if (split == n)
            ck_assert_int_eq(sd_resmlp_backward(net, ws, go, g1, NULL, NULL), SCORESDE_OK);
        ck_assert_int_eq(sd_resmlp_jvp(net, ws, r, x + i0 * BI, e + i0 * BE, v + i0 * BI, NULL,
                                       jv + i0 * BO),
                         SCORESDE_OK);
        if (split == n)
            ck_assert_int_eq(sd_resmlp_tangent_backward(net, ws, NULL, go, g2, NULL, NULL),
                             SCORESDE_OK);
    }
    free(x), free(e), free(v), free(go);
    sd_resmlp_ws_free(ws);
}

/* float32 against float64 with the same (rounded) parameters: 1e-4
 * relative, as for the MLP engine. */
START_TEST(float32_agrees_with_float64)
{
    sd_act act = (sd_act)_i;
    sd_resmlp *a = NULL, *b = NULL;
    ck_assert_int_eq(sd_resmlp_create(&a, BI, BE, BW, BB, BO, act, SD_MLP_F64, 3), SCORESDE_OK);
    ck_assert_int_eq(sd_resmlp_create(&b, BI, BE, BW, BB, BO, act, SD_MLP_F32, 3), SCORESDE_OK);
    size_t np = sd_resmlp_num_params(a);
    double *p = test_normals(5, np, 0.3);
    for (size_t i = 0; i < np; i++)
        p[i] = (double)(float)p[i];
    sd_resmlp_set_params(a, p);
    sd_resmlp_set_params(b, p);
    double oa[BN * BO], ob[BN * BO], ja[BN * BO], jb[BN * BO];
    double *ga1 = malloc(np * 8), *ga2 = malloc(np * 8), *gb1 = malloc(np * 8), *gb2 = malloc(np * 8);
    run_all(a, 1, BN, BN, oa, ja, ga1, ga2);
    run_all(b, 1, BN, BN, ob, jb, gb1, gb2);
    ck_assert_msg(test_rel_err(ob, oa, BN * BO) < 1e-4, "%s out", act_name[_i]);
    ck_assert_msg(test_rel_err(jb, ja, BN * BO) < 1e-4, "%s jv", act_name[_i]);
    ck_assert_msg(test_rel_err(gb1, ga1, np) < 1e-4, "%s grad %g", act_name[_i],
                  test_rel_err(gb1, ga1, np));
    ck_assert_msg(test_rel_err(gb2, ga2, np) < 1e-4, "%s tangent grad %g", act_name[_i],
                  test_rel_err(gb2, ga2, np));
    free(p), free(ga1), free(ga2), free(gb1), free(gb2);
    sd_resmlp_free(a);
    sd_resmlp_free(b);
}
END_TEST

/* 1, 2 and 3 threads give the same bits for everything (threads take whole
 * parts; the parts' gradients are added in part order); splitting the rows
 * into calls of 7 gives the same outputs and J v. */
START_TEST(threads_and_row_splits_bit_identical)
{
    sd_mlp_prec prec = _i ? SD_MLP_F32 : SD_MLP_F64;
    sd_resmlp *net = NULL;
    ck_assert_int_eq(sd_resmlp_create(&net, BI, BE, BW, BB, BO, SD_ACT_SILU, prec, 9), SCORESDE_OK);
    size_t np = sd_resmlp_num_params(net);
    double *p = test_normals(6, np, 0.3);
    sd_resmlp_set_params(net, p);
    double o1[BT * BO], o2[BT * BO], o3[BT * BO], j1[BT * BO], j2[BT * BO], j3[BT * BO];
    double *a1 = malloc(np * 8), *a2 = malloc(np * 8), *b1 = malloc(np * 8), *b2 = malloc(np * 8);
    run_all(net, 1, BT, BT, o1, j1, a1, a2);
    for (int th = 2; th <= 3; th++) {
        run_all(net, th, BT, BT, o2, j2, b1, b2);
        ck_assert(memcmp(o1, o2, sizeof o1) == 0 && memcmp(j1, j2, sizeof j1) == 0);
        ck_assert(memcmp(a1, b1, np * 8) == 0 && memcmp(a2, b2, np * 8) == 0);
    }
    run_all(net, 2, BT, 7, o3, j3, b1, b2);
    ck_assert(memcmp(o1, o3, sizeof o1) == 0 && memcmp(j1, j3, sizeof j1) == 0);
    free(p), free(a1), free(a2), free(b1), free(b2);
    sd_resmlp_free(net);
}
END_TEST

/* At creation the output layer is zero: y = 0, and the count is the
 * documented one. */
START_TEST(zero_output_layer_and_count)
{
    sd_resmlp *net = NULL;
    ck_assert_int_eq(sd_resmlp_create(&net, BI, BE, BW, BB, BO, SD_ACT_GELU, SD_MLP_F64, 1),
                     SCORESDE_OK);
    ck_assert_uint_eq(sd_resmlp_num_params(net), sd_resmlp_count(BI, BE, BW, BB, BO));
    double o[BN * BO], j[BN * BO];
    size_t np = sd_resmlp_num_params(net);
    double *g1 = malloc(np * 8), *g2 = malloc(np * 8);
    run_all(net, 1, BN, BN, o, j, g1, g2);
    for (size_t i = 0; i < BN * BO; i++)
        ck_assert(o[i] == 0.0 && j[i] == 0.0);
    free(g1), free(g2);
    sd_resmlp_free(net);
}
END_TEST

/* The forward that keeps no state (sd_resmlp_predict) gives
 * sd_resmlp_forward's bits: every activation, both precisions (_i:
 * activation x 2 + precision), 3 parts on 1 to 3 threads; a backward after
 * it is refused, also when a forward came before it. */
START_TEST(predict_is_forward_without_state)
{
    sd_act act = (sd_act)(_i / 2);
    sd_mlp_prec prec = _i % 2 ? SD_MLP_F32 : SD_MLP_F64;
    sd_resmlp *net = NULL;
    ck_assert_int_eq(sd_resmlp_create(&net, BI, BE, BW, BB, BO, act, prec, 4), SCORESDE_OK);
    size_t np = sd_resmlp_num_params(net);
    double *p = test_normals(71, np, 0.4);
    ck_assert_int_eq(sd_resmlp_set_params(net, p), SCORESDE_OK);
    double *x = test_normals(72, BT * BI, 1.0), *e = test_normals(73, BT * BE, 1.0);
    double a[BT * BO], b[BT * BO];
    for (int th = 1; th <= 3; th++) {
        sd_resmlp_ws *ws = NULL;
        ck_assert_int_eq(sd_resmlp_ws_create(net, BT, th, &ws), SCORESDE_OK);
        ck_assert_int_eq(sd_resmlp_forward(net, ws, BT, x, e, a), SCORESDE_OK);
        ck_assert_int_eq(sd_resmlp_predict(net, ws, BT, x, e, b), SCORESDE_OK);
        ck_assert_msg(memcmp(a, b, sizeof a) == 0, "act %d prec %d threads %d", act, prec, th);
        ck_assert_int_eq(sd_resmlp_backward(net, ws, a, NULL, NULL, NULL), SCORESDE_EINVAL);
        sd_resmlp_ws_free(ws);
    }
    free(p), free(x), free(e);
    sd_resmlp_free(net);
}
END_TEST

START_TEST(refusals)
{
    sd_resmlp *net = NULL;
    ck_assert_int_eq(sd_resmlp_create(&net, 0, 1, 1, 1, 1, SD_ACT_SILU, SD_MLP_F64, 0),
                     SCORESDE_EINVAL);
    ck_assert_int_eq(sd_resmlp_create(&net, 1, 1, 1, 65, 1, SD_ACT_SILU, SD_MLP_F64, 0),
                     SCORESDE_EINVAL);
    ck_assert_int_eq(sd_resmlp_create(&net, 1, 1, 1, 1, 1, (sd_act)6, SD_MLP_F64, 0),
                     SCORESDE_EINVAL);
    ck_assert_int_eq(sd_resmlp_create(&net, 1, 1, 1, 1, 1, SD_ACT_SILU, (sd_mlp_prec)2, 0),
                     SCORESDE_EINVAL);
    ck_assert_int_eq(sd_resmlp_create(&net, 2, 2, 4, 1, 2, SD_ACT_SILU, SD_MLP_F32, 0),
                     SCORESDE_OK);
    sd_resmlp_ws *ws = NULL;
    ck_assert_int_eq(sd_resmlp_ws_create(net, 0, 1, &ws), SCORESDE_EINVAL);
    ck_assert_int_eq(sd_resmlp_ws_create(net, 2, 1, &ws), SCORESDE_OK);
    double x[6] = {0}, g[6] = {0};
    ck_assert_int_eq(sd_resmlp_forward(net, ws, 3, x, x, g), SCORESDE_EINVAL);
    ck_assert_int_eq(sd_resmlp_backward(net, ws, g, NULL, NULL, NULL), SCORESDE_EINVAL);
    ck_assert(test_contains(scoresde_last_error(), "needs a preceding forward"));
    ck_assert_int_eq(sd_resmlp_tangent_backward(net, ws, NULL, g, NULL, NULL, NULL),
                     SCORESDE_EINVAL);
    size_t np = sd_resmlp_num_params(net);
    double *p = calloc(np, sizeof *p);
    p[1] = 1e300;
    ck_assert_int_eq(sd_resmlp_set_params(net, p), SCORESDE_EINVAL);
    p[1] = NAN;
    ck_assert_int_eq(sd_resmlp_set_params(net, p), SCORESDE_EINVAL);
    free(p);
    sd_resmlp_ws_set_threads(ws, 2);
    ck_assert_uint_eq(sd_resmlp_ws_gemm_flops(ws), 0);
    sd_resmlp_ws_free(ws);
    sd_resmlp_free(net);
    sd_resmlp_free(NULL);
    sd_resmlp_ws_free(NULL);
}
END_TEST

/* The shared activations (act.h): first and second derivatives against
 * central differences of the value and of the first derivative, at points
 * away from ReLU's kink, and the float32 code against the float64 one. */
START_TEST(activation_derivatives)
{
    sd_act act = (sd_act)_i;
    for (int q = -60; q <= 60; q++) {
        double z = 0.1 * q + 0.037, a, d, s2, ap, dp, sp, am, dm, sm;
        sd_act_eval(act, z, &a, &d, &s2);
        sd_act_eval(act, z + FD_H, &ap, &dp, &sp);
        sd_act_eval(act, z - FD_H, &am, &dm, &sm);
        double fd1 = (ap - am) / (2 * FD_H), fd2 = (dp - dm) / (2 * FD_H);
        ck_assert_msg(fabs(d - fd1) <= FD_TOL * fmax(1.0, fabs(d)), "%s z %g: a' %g, fd %g",
                      act_name[_i], z, d, fd1);
        ck_assert_msg(fabs(s2 - fd2) <= FD_TOL * fmax(1.0, fabs(s2)), "%s z %g: a'' %g, fd %g",
                      act_name[_i], z, s2, fd2);
        float af, df, sf;
        sd_act_evalf(act, (float)z, &af, &df, &sf);
        ck_assert_msg(fabs(af - a) <= 1e-6 * fmax(1.0, fabs(a)) &&
                          fabs(df - d) <= 1e-6 * fmax(1.0, fabs(d)) &&
                          fabs(sf - s2) <= 1e-6 * fmax(1.0, fabs(s2)),
                      "%s z %g: float32 %g %g %g, float64 %g %g %g", act_name[_i], z, af, df, sf,
                      a, d, s2);
    }
}
END_TEST

/* The stacked-tangent pass (issue 14) against forward and one jvp per
 * tangent, bit for bit: every activation, both precisions, max_rows 300
 * (3 parts, several row blocks for 1 to 3 tangents) and 2 (room for 3
 * tangent rows: groups for K = 5), tangents on the first 3 of 5 inputs,
 * threads 1 to 3.
 * (The workspace turns BLIS's small-matrix kernels off, so a row's GEMM
 * sums do not depend on the rows beside it; the MLP's keeps them and is
 * compared within rounding, tests/test_mlp.c.) _i: activation x 2 +
 * precision. */
START_TEST(stacked_tangents_match_jvp)
{
    sd_act act = (sd_act)(_i / 2);
    sd_mlp_prec prec = (sd_mlp_prec)(_i % 2);
    enum { NV = 3, KMAX = 5 };
    sd_resmlp *net = NULL;
    ck_assert_int_eq(sd_resmlp_create(&net, BI, BE, BW, BB, BO, act, prec, 4), SCORESDE_OK);
    size_t np = sd_resmlp_num_params(net);
    double *p = test_normals(61, np, 0.4);
    ck_assert_int_eq(sd_resmlp_set_params(net, p), SCORESDE_OK);
    double *x = test_normals(62, BT * BI, 1.0), *e = test_normals(63, BT * BE, 1.0);
    double *v = test_normals(64, KMAX * BT * NV, 1.0), *vf = calloc(BT * BI, sizeof(double));
    double out[BT * BO], ref[BT * BO], jv[KMAX * BT * BO];
    const size_t rows[2] = {BT, 2}, ks[4] = {1, 2, 3, KMAX};
    for (int th = 1; th <= 3; th++)
        for (int ri = 0; ri < 2; ri++)
            for (int ki = 0; ki < 4; ki++) {
                size_t n = rows[ri], K = ks[ki];
                sd_resmlp_ws *ws = NULL;
                ck_assert_int_eq(sd_resmlp_ws_create(net, n, th, &ws), SCORESDE_OK);
                ck_assert_int_eq(sd_resmlp_jvp_multi(net, ws, n, x, e, K, NV, v, out, jv),
                                 SCORESDE_OK);
                ck_assert_int_eq(sd_resmlp_forward(net, ws, n, x, e, ref), SCORESDE_OK);
                ck_assert_msg(memcmp(out, ref, n * BO * sizeof(double)) == 0,
                              "%s prec %d n %zu K %zu: outputs differ", act_name[act], prec, n, K);
                for (size_t k = 0; k < K; k++) {
                    for (size_t i = 0; i < n; i++)
                        memcpy(vf + i * BI, v + (k * n + i) * NV, NV * sizeof(double));
                    ck_assert_int_eq(sd_resmlp_jvp(net, ws, n, x, e, vf, NULL, ref), SCORESDE_OK);
                    ck_assert_msg(memcmp(jv + k * n * BO, ref, n * BO * sizeof(double)) == 0,
                                  "%s prec %d n %zu K %zu threads %d: tangent %zu differs",
                                  act_name[act], prec, n, K, th, k);
                }
                sd_resmlp_ws_free(ws);
            }
    sd_resmlp_ws *ws = NULL;
    ck_assert_int_eq(sd_resmlp_ws_create(net, 4, 1, &ws), SCORESDE_OK);
    test_expect_error(sd_resmlp_jvp_multi(net, ws, 4, x, e, 0, NV, v, out, jv), SCORESDE_EINVAL,
                      "K (0)");
    test_expect_error(sd_resmlp_jvp_multi(net, ws, 4, x, e, 1, BI + 1, v, out, jv),
                      SCORESDE_EINVAL, "nv");
    test_expect_error(sd_resmlp_jvp_multi(net, ws, 5, x, e, 1, NV, v, out, jv), SCORESDE_EINVAL,
                      "rows");
    sd_resmlp_ws_free(ws);
    free(p), free(x), free(e), free(v), free(vf);
    sd_resmlp_free(net);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("resmlp");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, gradients_match_finite_differences, 0, 12);
    tcase_add_loop_test(tc, jvp_matches_finite_differences, 0, 6);
    tcase_add_loop_test(tc, float32_agrees_with_float64, 0, 6);
    tcase_add_loop_test(tc, threads_and_row_splits_bit_identical, 0, 2);
    tcase_add_loop_test(tc, stacked_tangents_match_jvp, 0, 12);
    tcase_add_test(tc, zero_output_layer_and_count);
    tcase_add_test(tc, refusals);
    tcase_add_loop_test(tc, predict_is_forward_without_state, 0, 12);
    tcase_add_loop_test(tc, activation_derivatives, 0, 6);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(suite()); }
