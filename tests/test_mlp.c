/*
 * The network engine: gradients, tangents and divergences against central
 * finite differences, float32 against float64, bit-identical results across
 * thread counts (and the row split's schedule), the documented
 * initialisation, argument errors, and the
 * float32 SiLU pass's own exp and sigmoid against libm (ulp bounds) and
 * against their scalar form (bits).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "mlp.h"
#include "split.h"
#include "testutil.h"

static const char *act_name[] = {"silu", "relu", "tanh", "softplus", "gelu_tanh", "gelu"};

/* Central differences with step 1e-5 on O(1) quantities: truncation error
 * ~h^2 f''' ~ 1e-10 and rounding ~1e-16 / h ~ 1e-11, so a correct gradient is
 * four orders of magnitude inside the 1e-6 bound. */
#define FD_H 1e-5
#define FD_TOL 1e-6

/* A small network with random (non-zero) biases, so every parameter matters. */
static sd_mlp *small_net(sd_mlp_act act, sd_mlp_prec prec, size_t n_in, size_t n_out,
                         uint64_t seed)
{
    size_t widths[2] = {6, 5};
    sd_mlp *net = NULL;
    ck_assert_int_eq(sd_mlp_create(&net, n_in, 2, widths, n_out, act, prec, seed, 0), SCORESDE_OK);
    size_t np = sd_mlp_num_params(net);
    double *p = test_normals(seed + 1000, np, 0.7);
    ck_assert_int_eq(sd_mlp_set_params(net, p), SCORESDE_OK);
    free(p);
    return net;
}

enum { N_ROWS = 7, N_IN = 3, N_OUT = 2 };

/* A scalar objective of the network on N_ROWS rows x: sum(w .* net(x)) when v
 * is NULL, else sum(go .* net(x)) + sum(gt .* J(x) v); out and jv are
 * scratch. */
typedef struct {
    sd_mlp *net;
    sd_mlp_ws *ws;
    double *x;
    const double *w, *v, *go, *gt;
    double *out, *jv;
} fd_problem;

static double fd_objective(const fd_problem *f)
{
    double s = 0;
    if (f->v == NULL) {
        ck_assert_int_eq(sd_mlp_forward(f->net, f->ws, N_ROWS, f->x, f->out), SCORESDE_OK);
        for (size_t i = 0; i < N_ROWS * sd_mlp_n_out(f->net); i++)
            s += f->w[i] * f->out[i];
    } else {
        ck_assert_int_eq(sd_mlp_jvp(f->net, f->ws, N_ROWS, f->x, f->v, f->out, f->jv),
                         SCORESDE_OK);
        for (size_t i = 0; i < N_ROWS * sd_mlp_n_out(f->net); i++)
            s += f->go[i] * f->out[i] + f->gt[i] * f->jv[i];
    }
    return s;
}

/* Central differences (step FD_H) of the objective with respect to each of
 * the np parameters (into fd; p is scratch) and each of the N_ROWS x N_IN
 * inputs (into fd_in); parameters and inputs are left as they were. */
static void central_differences(const fd_problem *f, double *p, size_t np, double *fd,
                                double *fd_in)
{
    sd_mlp_get_params(f->net, p);
    for (size_t k = 0; k < np; k++) {
        double keep = p[k];
        p[k] = keep + FD_H;
        sd_mlp_set_params(f->net, p);
        double fp = fd_objective(f);
        p[k] = keep - FD_H;
        sd_mlp_set_params(f->net, p);
        double fm = fd_objective(f);
        p[k] = keep;
        fd[k] = (fp - fm) / (2 * FD_H);
    }
    sd_mlp_set_params(f->net, p);
    for (size_t k = 0; k < N_ROWS * N_IN; k++) {
        double keep = f->x[k];
        f->x[k] = keep + FD_H;
        double fp = fd_objective(f);
        f->x[k] = keep - FD_H;
        double fm = fd_objective(f);
        f->x[k] = keep;
        fd_in[k] = (fp - fm) / (2 * FD_H);
    }
}

/* Parameter and input gradients of sum(w .* out) against central differences,
 * with blocks of 3 rows so that a partial block and accumulation across blocks
 * are exercised; param_grad starts non-zero to prove accumulation. */
START_TEST(backward_matches_finite_differences)
{
    sd_mlp_act act = (sd_mlp_act)_i;
    sd_mlp *net = small_net(act, SD_MLP_F64, N_IN, N_OUT, 11 + (uint64_t)_i);
    sd_mlp_ws *ws = NULL;
    ck_assert_int_eq(sd_mlp_ws_create(net, N_ROWS, 3, 1, &ws), SCORESDE_OK);
    size_t np = sd_mlp_num_params(net);
    double *x = test_normals(21, N_ROWS * N_IN, 1.0);
    double *w = test_normals(22, N_ROWS * N_OUT, 1.0);
    double out[N_ROWS * N_OUT], in_grad[N_ROWS * N_IN], fd_in[N_ROWS * N_IN];
    double *grad = malloc(np * sizeof *grad), *fd = malloc(np * sizeof *fd);
    double *p = malloc(np * sizeof *p);
    for (size_t i = 0; i < np; i++)
        grad[i] = 1.0;
    ck_assert_int_eq(sd_mlp_forward(net, ws, N_ROWS, x, out), SCORESDE_OK);
    ck_assert_int_eq(sd_mlp_backward(net, ws, w, grad, in_grad), SCORESDE_OK);
    for (size_t i = 0; i < np; i++)
        grad[i] -= 1.0;

    const fd_problem f = {.net = net, .ws = ws, .x = x, .w = w, .out = out};
    central_differences(&f, p, np, fd, fd_in);
    double ep = test_rel_err(grad, fd, np), ei = test_rel_err(in_grad, fd_in, N_ROWS * N_IN);
    ck_assert_msg(ep < FD_TOL, "%s: parameter gradient relative error %g", act_name[_i], ep);
    ck_assert_msg(ei < FD_TOL, "%s: input gradient relative error %g", act_name[_i], ei);
    free(x);
    free(w);
    free(grad);
    free(fd);
    free(p);
    sd_mlp_ws_free(ws);
    sd_mlp_free(net);
}
END_TEST

/* J v against (net(x + h v) - net(x - h v)) / 2h, and the jvp's primal
 * output against the plain forward. */
START_TEST(jvp_matches_finite_differences)
{
    sd_mlp_act act = (sd_mlp_act)_i;
    sd_mlp *net = small_net(act, SD_MLP_F64, N_IN, N_OUT, 31 + (uint64_t)_i);
    sd_mlp_ws *ws = NULL;
    ck_assert_int_eq(sd_mlp_ws_create(net, N_ROWS, 3, 1, &ws), SCORESDE_OK);
    double *x = test_normals(41, N_ROWS * N_IN, 1.0), *v = test_normals(42, N_ROWS * N_IN, 1.0);
    double xp[N_ROWS * N_IN], xm[N_ROWS * N_IN];
    double out[N_ROWS * N_OUT], out2[N_ROWS * N_OUT], jv[N_ROWS * N_OUT];
    double yp[N_ROWS * N_OUT], ym[N_ROWS * N_OUT], fd[N_ROWS * N_OUT];
    ck_assert_int_eq(sd_mlp_jvp(net, ws, N_ROWS, x, v, out, jv), SCORESDE_OK);
    ck_assert_int_eq(sd_mlp_forward(net, ws, N_ROWS, x, out2), SCORESDE_OK);
    ck_assert_msg(test_rel_err(out, out2, N_ROWS * N_OUT) < 1e-14,
                  "jvp output differs from forward");
    for (size_t i = 0; i < N_ROWS * N_IN; i++) {
        xp[i] = x[i] + FD_H * v[i];
        xm[i] = x[i] - FD_H * v[i];
    }
    sd_mlp_forward(net, ws, N_ROWS, xp, yp);
    sd_mlp_forward(net, ws, N_ROWS, xm, ym);
    for (size_t i = 0; i < N_ROWS * N_OUT; i++)
        fd[i] = (yp[i] - ym[i]) / (2 * FD_H);
    double e = test_rel_err(jv, fd, N_ROWS * N_OUT);
    ck_assert_msg(e < FD_TOL, "%s: Jv relative error %g", act_name[_i], e);
    free(x);
    free(v);
    sd_mlp_ws_free(ws);
    sd_mlp_free(net);
}
END_TEST

/* The gradient of sum(g_out .* out) + sum(g_tan .* Jv) with respect to the
 * parameters and to x, against central differences of that objective, which
 * is evaluated exactly through the jvp (its Jv needs no differencing). */
START_TEST(tangent_backward_matches_finite_differences)
{
    sd_mlp_act act = (sd_mlp_act)_i;
    sd_mlp *net = small_net(act, SD_MLP_F64, N_IN, N_OUT, 51 + (uint64_t)_i);
    sd_mlp_ws *ws = NULL;
    ck_assert_int_eq(sd_mlp_ws_create(net, N_ROWS, 3, 1, &ws), SCORESDE_OK);
    size_t np = sd_mlp_num_params(net);
    double *x = test_normals(61, N_ROWS * N_IN, 1.0), *v = test_normals(62, N_ROWS * N_IN, 1.0);
    double *go = test_normals(63, N_ROWS * N_OUT, 1.0), *gt = test_normals(64, N_ROWS * N_OUT, 1.0);
    double out[N_ROWS * N_OUT], jv[N_ROWS * N_OUT], in_grad[N_ROWS * N_IN], fd_in[N_ROWS * N_IN];
    double *grad = calloc(np, sizeof *grad), *fd = malloc(np * sizeof *fd);
    double *p = malloc(np * sizeof *p);
    for (int with_out = 0; with_out < 2; with_out++) {
        const double *g_out = with_out ? go : NULL;
        double zero[N_ROWS * N_OUT] = {0};
        const double *go_eff = with_out ? go : zero;
        memset(grad, 0, np * sizeof *grad);
        ck_assert_int_eq(sd_mlp_jvp(net, ws, N_ROWS, x, v, out, jv), SCORESDE_OK);
        ck_assert_int_eq(sd_mlp_tangent_backward(net, ws, g_out, gt, grad, in_grad), SCORESDE_OK);
        const fd_problem f = {.net = net, .ws = ws, .x = x, .v = v, .go = go_eff, .gt = gt,
                              .out = out, .jv = jv};
        central_differences(&f, p, np, fd, fd_in);
        double ep = test_rel_err(grad, fd, np), ei = test_rel_err(in_grad, fd_in, N_ROWS * N_IN);
        ck_assert_msg(ep < FD_TOL, "%s (g_out %s): parameter gradient relative error %g",
                      act_name[_i], with_out ? "given" : "NULL", ep);
        ck_assert_msg(ei < FD_TOL, "%s (g_out %s): input gradient relative error %g",
                      act_name[_i], with_out ? "given" : "NULL", ei);
    }
    free(x);
    free(v);
    free(go);
    free(gt);
    free(grad);
    free(fd);
    free(p);
    sd_mlp_ws_free(ws);
    sd_mlp_free(net);
}
END_TEST

/* div f(x) = sum_j (J e_j)_j with one tangent pass per input dimension, against
 * the trace of a central-difference Jacobian. */
START_TEST(exact_divergence_matches_fd_trace)
{
    enum { D = 3 };
    sd_mlp_act act = (sd_mlp_act)_i;
    sd_mlp *net = small_net(act, SD_MLP_F64, D, D, 71 + (uint64_t)_i);
    sd_mlp_ws *ws = NULL;
    ck_assert_int_eq(sd_mlp_ws_create(net, N_ROWS, 0, 1, &ws), SCORESDE_OK);
    double *x = test_normals(81, N_ROWS * D, 1.0);
    double v[N_ROWS * D], jv[N_ROWS * D], yp[N_ROWS * D], ym[N_ROWS * D];
    double div[N_ROWS] = {0}, fd[N_ROWS] = {0};
    for (size_t j = 0; j < D; j++) {
        for (size_t i = 0; i < N_ROWS * D; i++)
            v[i] = (i % D == j) ? 1.0 : 0.0;
        ck_assert_int_eq(sd_mlp_jvp(net, ws, N_ROWS, x, v, NULL, jv), SCORESDE_OK);
        for (size_t i = 0; i < N_ROWS; i++)
            div[i] += jv[i * D + j];
        for (size_t i = 0; i < N_ROWS; i++)
            x[i * D + j] += FD_H;
        sd_mlp_forward(net, ws, N_ROWS, x, yp);
        for (size_t i = 0; i < N_ROWS; i++)
            x[i * D + j] -= 2 * FD_H;
        sd_mlp_forward(net, ws, N_ROWS, x, ym);
        for (size_t i = 0; i < N_ROWS; i++) {
            x[i * D + j] += FD_H;
            fd[i] += (yp[i * D + j] - ym[i * D + j]) / (2 * FD_H);
        }
    }
    double e = test_rel_err(div, fd, N_ROWS);
    ck_assert_msg(e < FD_TOL, "%s: divergence relative error %g", act_name[_i], e);
    free(x);
    sd_mlp_ws_free(ws);
    sd_mlp_free(net);
}
END_TEST

/* The same parameters (rounded to float) in float32 and float64 networks:
 * every output and gradient agrees to single precision. The bound 1e-4 on
 * the component-wise relative error (floored at 1e-3 of the scale) covers a
 * few hundred float roundings of eps = 6e-8 through three layers. */
START_TEST(float32_agrees_with_float64)
{
    sd_mlp_act act = (sd_mlp_act)_i;
    enum { N = 300, D = 3 };
    size_t widths[2] = {40, 30};
    sd_mlp *n64 = NULL, *n32 = NULL;
    ck_assert_int_eq(sd_mlp_create(&n64, D, 2, widths, D, act, SD_MLP_F64, 5, 0), SCORESDE_OK);
    ck_assert_int_eq(sd_mlp_create(&n32, D, 2, widths, D, act, SD_MLP_F32, 5, 0), SCORESDE_OK);
    size_t np = sd_mlp_num_params(n64);
    ck_assert_uint_eq(np, sd_mlp_num_params(n32));
    double *p = test_normals(91, np, 0.3), *p32 = malloc(np * sizeof *p32);
    for (size_t i = 0; i < np; i++)
        p[i] = (double)(float)p[i];
    sd_mlp_set_params(n64, p);
    sd_mlp_set_params(n32, p);
    sd_mlp_get_params(n32, p32);
    ck_assert_mem_eq(p, p32, np * sizeof *p);
    sd_mlp_ws *w64 = NULL, *w32 = NULL;
    ck_assert_int_eq(sd_mlp_ws_create(n64, N, 64, 1, &w64), SCORESDE_OK);
    ck_assert_int_eq(sd_mlp_ws_create(n32, N, 64, 1, &w32), SCORESDE_OK);
    double *x = test_normals(92, N * D, 1.0), *v = test_normals(93, N * D, 1.0);
    double *go = test_normals(94, N * D, 1.0), *gt = test_normals(95, N * D, 1.0);
    double *o64 = malloc(N * D * sizeof(double)), *o32 = malloc(N * D * sizeof(double));
    double *j64 = malloc(N * D * sizeof(double)), *j32 = malloc(N * D * sizeof(double));
    double *i64 = malloc(N * D * sizeof(double)), *i32 = malloc(N * D * sizeof(double));
    double *g64 = calloc(np, sizeof(double)), *g32 = calloc(np, sizeof(double));
    const double tol = 1e-4;

    sd_mlp_forward(n64, w64, N, x, o64);
    sd_mlp_forward(n32, w32, N, x, o32);
    ck_assert_msg(test_rel_err(o32, o64, N * D) < tol, "forward %g", test_rel_err(o32, o64, N * D));
    sd_mlp_backward(n64, w64, go, g64, i64);
    sd_mlp_backward(n32, w32, go, g32, i32);
    ck_assert_msg(test_rel_err(g32, g64, np) < tol, "param grad %g", test_rel_err(g32, g64, np));
    ck_assert_msg(test_rel_err(i32, i64, N * D) < tol, "input grad %g",
                  test_rel_err(i32, i64, N * D));

    memset(g64, 0, np * sizeof(double));
    memset(g32, 0, np * sizeof(double));
    sd_mlp_jvp(n64, w64, N, x, v, o64, j64);
    sd_mlp_jvp(n32, w32, N, x, v, o32, j32);
    ck_assert_msg(test_rel_err(j32, j64, N * D) < tol, "jvp %g", test_rel_err(j32, j64, N * D));
    sd_mlp_tangent_backward(n64, w64, go, gt, g64, i64);
    sd_mlp_tangent_backward(n32, w32, go, gt, g32, i32);
    ck_assert_msg(test_rel_err(g32, g64, np) < tol, "tangent param grad %g",
                  test_rel_err(g32, g64, np));
    ck_assert_msg(test_rel_err(i32, i64, N * D) < tol, "tangent input grad %g",
                  test_rel_err(i32, i64, N * D));
    free(p);
    free(p32);
    free(x);
    free(v);
    free(go);
    free(gt);
    free(o64);
    free(o32);
    free(j64);
    free(j32);
    free(i64);
    free(i32);
    free(g64);
    free(g32);
    sd_mlp_ws_free(w64);
    sd_mlp_ws_free(w32);
    sd_mlp_free(n64);
    sd_mlp_free(n32);
}
END_TEST

/* Every result of every pass is bit-identical with 1, 2 and 3 threads (both
 * precisions, without and with embedding inputs) for row blocks of 512 (two
 * blocks of 700 rows), 100 and 37 (rounds of blocks, a partial last one):
 * threads take whole blocks and the blocks' parameter gradients are added
 * in block order (split.h). The stacked pass too, with 2 tangents. */
START_TEST(threads_bit_identical)
{
    sd_mlp_prec prec = (sd_mlp_prec)(_i % 2);
    size_t n_emb = _i / 2 ? 2 : 0;
    enum { N = 700, D = 4, NV = 2, K = 2, NRES = 7 };
    size_t widths[3] = {128, 96, 128};
    sd_mlp *net = NULL;
    ck_assert_int_eq(sd_mlp_create_emb(&net, D, n_emb, 3, widths, D, SD_MLP_SILU, prec, 3, 0),
                     SCORESDE_OK);
    size_t np = sd_mlp_num_params(net);
    double *p = test_normals(101, np, 0.1);
    sd_mlp_set_params(net, p);
    double *x = test_normals(102, N * D, 1.0), *v = test_normals(103, N * D, 1.0);
    double *go = test_normals(104, N * D, 1.0), *gt = test_normals(105, N * D, 1.0);
    double *vm = test_normals(106, K * N * NV, 1.0);
    size_t len[NRES] = {N * D, np, N * D, N * D, np, N * D, K * N * D};
    const size_t blocks[3] = {0, 100, 37};
    for (int bi = 0; bi < 3; bi++) {
        double *res[3][NRES];
        for (int t = 0; t < 3; t++) {
            sd_mlp_ws *ws = NULL;
            ck_assert_int_eq(sd_mlp_ws_create(net, N, blocks[bi], t + 1, &ws), SCORESDE_OK);
            for (int k = 0; k < NRES; k++)
                res[t][k] = calloc(len[k], sizeof(double));
            ck_assert_int_eq(sd_mlp_forward(net, ws, N, x, res[t][0]), SCORESDE_OK);
            ck_assert_int_eq(sd_mlp_backward(net, ws, go, res[t][1], res[t][2]), SCORESDE_OK);
            ck_assert_int_eq(sd_mlp_jvp(net, ws, N, x, v, NULL, res[t][3]), SCORESDE_OK);
            ck_assert_int_eq(sd_mlp_tangent_backward(net, ws, go, gt, res[t][4], res[t][5]),
                             SCORESDE_OK);
            ck_assert_int_eq(sd_mlp_jvp_multi(net, ws, N, x, K, NV, vm, NULL, res[t][6]),
                             SCORESDE_OK);
            sd_mlp_ws_free(ws);
        }
        for (int t = 1; t < 3; t++)
            for (int k = 0; k < NRES; k++)
                ck_assert_msg(memcmp(res[0][k], res[t][k], len[k] * sizeof(double)) == 0,
                              "prec %d emb %zu block %zu: result %d differs between 1 and %d "
                              "threads",
                              prec, n_emb, blocks[bi], k, t + 1);
        for (int t = 0; t < 3; t++)
            for (int k = 0; k < NRES; k++)
                free(res[t][k]);
    }
    free(p);
    free(x);
    free(v);
    free(go);
    free(gt);
    free(vm);
    sd_mlp_free(net);
}
END_TEST

/* The row split's schedule (split.h) on its own, with 1 to 4 threads and 1
 * to 9 parts: every part runs once, and the sum's elements get the parts'
 * contributions in part order whatever the thread count. The contributions
 * span 40 binades, so another order would round differently. */
enum { SPLIT_LANES = 4, SPLIT_SUM = 33, SPLIT_PARTS = 9 };
typedef struct {
    double lane[SPLIT_LANES][SPLIT_SUM], sum[SPLIT_SUM];
    int runs[SPLIT_PARTS];
} split_probe;

static double split_term(size_t p, size_t i)
{
    return ldexp(1.0 + 0.1 * (double)((p * 7 + i * 3) % 11), (int)((p * 13 + i * 5) % 41) - 20) *
           ((p + i) % 3 ? 1.0 : -1.0);
}

static void split_part(void *ctx, size_t p, int q)
{
    split_probe *c = ctx;
    for (size_t i = 0; i < SPLIT_SUM; i++)
        c->lane[q][i] = split_term(p, i);
#pragma omp atomic
    c->runs[p]++;
}

static void split_reduce(void *ctx, size_t p0, size_t count, size_t lo, size_t hi)
{
    (void)p0;
    split_probe *c = ctx;
    for (size_t b = 0; b < count; b++)
        for (size_t i = lo; i < hi; i++)
            c->sum[i] += c->lane[b][i];
}

START_TEST(split_schedule_sums_in_part_order)
{
    static split_probe c;
    for (size_t parts = 1; parts <= SPLIT_PARTS; parts++) {
        double want[SPLIT_SUM];
        for (size_t i = 0; i < SPLIT_SUM; i++) {
            want[i] = 0.25;
            for (size_t p = 0; p < parts; p++)
                want[i] += split_term(p, i);
        }
        for (int nt = 1; nt <= SPLIT_LANES; nt++) {
            memset(&c, 0, sizeof c);
            for (size_t i = 0; i < SPLIT_SUM; i++)
                c.sum[i] = 0.25;
            sd_nn_split_sum(nt, parts, SPLIT_SUM, split_part, split_reduce, &c);
            ck_assert_msg(memcmp(c.sum, want, sizeof want) == 0, "%zu parts, %d threads", parts,
                          nt);
            for (size_t p = 0; p < parts; p++)
                ck_assert_int_eq(c.runs[p], 1);
            memset(c.runs, 0, sizeof c.runs);
            sd_nn_split_run(nt, parts, split_part, &c);
            for (size_t p = 0; p < parts; p++)
                ck_assert_int_eq(c.runs[p], 1);
        }
    }
    /* the thread count: one a part and a lane, 1 for one part or thread */
    ck_assert_int_eq(sd_nn_split_threads(4, 3, 8), 3);
    ck_assert_int_eq(sd_nn_split_threads(4, 9, 2), 2);
    ck_assert_int_eq(sd_nn_split_threads(1, 9, 8), 1);
    ck_assert_int_eq(sd_nn_split_threads(4, 1, 8), 1);
    int inside = 0;
#pragma omp parallel num_threads(1)
    inside = sd_nn_split_threads(4, 9, 8);
    ck_assert_int_eq(inside, 1);
}
END_TEST

/* The initialisation documented in mlp.h, reproduced from the RNG. */
START_TEST(initialisation_is_documented_draw)
{
    size_t widths[1] = {4};
    for (int relu = 0; relu < 2; relu++) {
        sd_mlp *net = NULL;
        sd_mlp_act act = relu ? SD_MLP_RELU : SD_MLP_TANH;
        ck_assert_int_eq(sd_mlp_create(&net, 3, 1, widths, 2, act, SD_MLP_F64, 77, 9),
                         SCORESDE_OK);
        ck_assert_uint_eq(sd_mlp_num_params(net), 3 * 4 + 4 + 4 * 2 + 2);
        double p[26], z1[12], z2[8];
        sd_mlp_get_params(net, p);
        scoresde_rng_normal(77, 9, SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, 0), 12, z1);
        scoresde_rng_normal(77, 10, SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, 0), 8, z2);
        double c1 = relu ? 2.0 : 1.0;
        for (int i = 0; i < 12; i++)
            ck_assert(p[i] == sqrt(c1 / 3.0) * z1[i]);
        for (int i = 0; i < 4; i++)
            ck_assert(p[12 + i] == 0.0);
        for (int i = 0; i < 8; i++)
            ck_assert(p[16 + i] == sqrt(1.0 / 4.0) * z2[i]);
        ck_assert(p[24] == 0.0 && p[25] == 0.0);
        sd_mlp_free(net);
    }
}
END_TEST

/* Batches beyond the workspace's rows are evaluated block by block and agree
 * with a large workspace; the block size changes no forward result beyond
 * rounding; backward then reports that no state was kept. */
START_TEST(large_batches_and_block_sizes)
{
    enum { N = 50, D = 3 };
    sd_mlp *net = small_net(SD_MLP_SILU, SD_MLP_F64, D, D, 7);
    sd_mlp_ws *small = NULL, *big = NULL;
    ck_assert_int_eq(sd_mlp_ws_create(net, 8, 3, 1, &small), SCORESDE_OK);
    ck_assert_int_eq(sd_mlp_ws_create(net, N, 0, 1, &big), SCORESDE_OK);
    double *x = test_normals(111, N * D, 1.0), a[N * D], b[N * D], g[N * D];
    ck_assert_int_eq(sd_mlp_forward(net, small, N, x, a), SCORESDE_OK);
    ck_assert_int_eq(sd_mlp_forward(net, big, N, x, b), SCORESDE_OK);
    ck_assert_msg(test_rel_err(a, b, N * D) < 1e-12, "block sizes differ by %g",
                  test_rel_err(a, b, N * D));
    ck_assert_int_eq(sd_mlp_backward(net, small, a, NULL, g), SCORESDE_EINVAL);
    ck_assert_int_eq(sd_mlp_jvp(net, small, N, x, x, NULL, g), SCORESDE_EINVAL);
    free(x);
    sd_mlp_ws_free(small);
    sd_mlp_ws_free(big);
    sd_mlp_free(net);
}
END_TEST

/* The forward that keeps no state (sd_mlp_predict) gives sd_mlp_forward's
 * bits: every activation, both precisions, with and without embedding
 * inputs (_i: activation x 4 + precision x 2 + embedding), on 1 and 2
 * threads, for batches that fit the workspace (several row blocks, a
 * partial last one) and that do not; a backward after it is refused, also
 * when a forward came before it. */
START_TEST(predict_is_forward_without_state)
{
    sd_mlp_act act = (sd_mlp_act)(_i / 4);
    sd_mlp_prec prec = (sd_mlp_prec)(_i / 2 % 2);
    size_t n_emb = _i % 2 ? 2 : 0;
    enum { N = 230, MAXR = 150, D = 4 };
    size_t widths[3] = {40, 24, 40};
    sd_mlp *net = NULL;
    ck_assert_int_eq(sd_mlp_create_emb(&net, D, n_emb, 3, widths, D, act, prec, 5, 0),
                     SCORESDE_OK);
    size_t np = sd_mlp_num_params(net);
    double *p = test_normals(121, np, 0.3), *x = test_normals(122, N * D, 1.5);
    ck_assert_int_eq(sd_mlp_set_params(net, p), SCORESDE_OK);
    double a[N * D], b[N * D], g[N * D];
    for (int th = 1; th <= 2; th++) {
        sd_mlp_ws *ws = NULL;
        ck_assert_int_eq(sd_mlp_ws_create(net, MAXR, 64, th, &ws), SCORESDE_OK);
        const size_t rows[2] = {MAXR - 9, N};
        for (int k = 0; k < 2; k++) {
            memset(b, 0, sizeof b);
            ck_assert_int_eq(sd_mlp_forward(net, ws, rows[k], x, a), SCORESDE_OK);
            ck_assert_int_eq(sd_mlp_predict(net, ws, rows[k], x, b), SCORESDE_OK);
            ck_assert_msg(memcmp(a, b, rows[k] * D * sizeof *a) == 0,
                          "act %d prec %d emb %zu threads %d: %zu rows differ", act, prec, n_emb,
                          th, rows[k]);
            ck_assert_int_eq(sd_mlp_backward(net, ws, a, NULL, g), SCORESDE_EINVAL);
        }
        sd_mlp_ws_free(ws);
    }
    free(p);
    free(x);
    sd_mlp_free(net);
}
END_TEST

START_TEST(bad_arguments_are_rejected)
{
    size_t widths[2] = {4, 0};
    sd_mlp *net = NULL, *other = NULL;
    ck_assert_int_eq(sd_mlp_create(NULL, 2, 1, widths, 2, SD_MLP_SILU, SD_MLP_F64, 1, 0),
                     SCORESDE_EINVAL);
    ck_assert_int_eq(sd_mlp_create(&net, 0, 1, widths, 2, SD_MLP_SILU, SD_MLP_F64, 1, 0),
                     SCORESDE_EINVAL);
    ck_assert_ptr_null(net);
    ck_assert_int_eq(sd_mlp_create(&net, 2, 1, widths, 0, SD_MLP_SILU, SD_MLP_F64, 1, 0),
                     SCORESDE_EINVAL);
    ck_assert_int_eq(sd_mlp_create(&net, 2, 1, NULL, 2, SD_MLP_SILU, SD_MLP_F64, 1, 0),
                     SCORESDE_EINVAL);
    ck_assert_int_eq(sd_mlp_create(&net, 2, 2, widths, 2, SD_MLP_SILU, SD_MLP_F64, 1, 0),
                     SCORESDE_EINVAL);
    ck_assert(strstr(scoresde_last_error(), "width 0") != NULL);
    ck_assert_int_eq(sd_mlp_create(&net, 2, 1, widths, 2, (sd_mlp_act)9, SD_MLP_F64, 1, 0),
                     SCORESDE_EINVAL);
    ck_assert_int_eq(sd_mlp_create(&net, 2, 1, widths, 2, SD_MLP_SILU, (sd_mlp_prec)5, 1, 0),
                     SCORESDE_EINVAL);
    ck_assert_int_eq(sd_mlp_create(&net, 2, SD_MLP_MAX_HIDDEN + 1, widths, 2, SD_MLP_SILU,
                                   SD_MLP_F64, 1, 0),
                     SCORESDE_EINVAL);
    ck_assert_int_eq(sd_mlp_create(&net, 2, 1, widths, 2, SD_MLP_SILU, SD_MLP_F32, 1, 0),
                     SCORESDE_OK);
    ck_assert_int_eq(sd_mlp_create(&other, 2, 1, widths, 2, SD_MLP_SILU, SD_MLP_F64, 1, 0),
                     SCORESDE_OK);
    sd_mlp_ws *ws = NULL, *ows = NULL;
    ck_assert_int_eq(sd_mlp_ws_create(net, 0, 0, 1, &ws), SCORESDE_EINVAL);
    ck_assert_int_eq(sd_mlp_ws_create(net, 4, 0, 0, &ws), SCORESDE_EINVAL);
    ck_assert_int_eq(sd_mlp_ws_create(NULL, 4, 0, 1, &ws), SCORESDE_EINVAL);
    ck_assert_int_eq(sd_mlp_ws_create(net, 4, 0, 1, &ws), SCORESDE_OK);
    ck_assert_int_eq(sd_mlp_ws_create(other, 4, 0, 1, &ows), SCORESDE_OK);

    double x[8] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8}, y[8], g[8];
    size_t np = sd_mlp_num_params(net);
    double p[32], q[32];
    ck_assert_uint_eq(np, 2 * 4 + 4 + 4 * 2 + 2);
    /* No state yet: both backward passes refuse. */
    ck_assert_int_eq(sd_mlp_backward(net, ws, x, NULL, g), SCORESDE_EINVAL);
    ck_assert_int_eq(sd_mlp_tangent_backward(net, ws, NULL, x, NULL, g), SCORESDE_EINVAL);
    ck_assert_int_eq(sd_mlp_forward(net, ows, 4, x, y), SCORESDE_EINVAL);
    ck_assert(strstr(scoresde_last_error(), "another network") != NULL);
    ck_assert_int_eq(sd_mlp_forward(net, ws, 0, x, y), SCORESDE_EINVAL);
    ck_assert_int_eq(sd_mlp_forward(net, ws, 4, NULL, y), SCORESDE_EINVAL);
    ck_assert_int_eq(sd_mlp_forward(net, ws, 4, x, NULL), SCORESDE_EINVAL);
    ck_assert_int_eq(sd_mlp_jvp(net, ws, 5, x, x, y, g), SCORESDE_EINVAL);
    ck_assert_int_eq(sd_mlp_jvp(net, ws, 4, x, NULL, y, g), SCORESDE_EINVAL);
    ck_assert_int_eq(sd_mlp_forward(net, ws, 4, x, y), SCORESDE_OK);
    /* A forward's state does not serve the tangent backward. */
    ck_assert_int_eq(sd_mlp_tangent_backward(net, ws, NULL, x, NULL, g), SCORESDE_EINVAL);
    ck_assert_int_eq(sd_mlp_backward(net, ws, NULL, NULL, g), SCORESDE_EINVAL);
    ck_assert_int_eq(sd_mlp_backward(net, ws, y, NULL, g), SCORESDE_OK);

    ck_assert_int_eq(sd_mlp_get_params(net, NULL), SCORESDE_EINVAL);
    sd_mlp_get_params(net, p);
    memcpy(q, p, sizeof p);
    q[3] = NAN;
    ck_assert_int_eq(sd_mlp_set_params(net, q), SCORESDE_EINVAL);
    q[3] = 1e300; /* finite, but not as a float */
    ck_assert_int_eq(sd_mlp_set_params(net, q), SCORESDE_EINVAL);
    sd_mlp_get_params(net, q);
    ck_assert_mem_eq(p, q, np * sizeof(double));
    sd_mlp_ws_free(ws);
    sd_mlp_ws_free(ows);
    sd_mlp_ws_free(NULL);
    sd_mlp_free(net);
    sd_mlp_free(other);
    sd_mlp_free(NULL);
}
END_TEST

/* ------------------------------------------------ float32 exp and sigmoid */

/* |got - want| in units of the spacing of floats at want rounded to float
 * (the ulp of the correctly rounded result); want from double libm, whose
 * own error (< 1e-16 relative) is 2^-29 of a float ulp. */
static double ulp_error(float got, double want)
{
    float w = (float)want;
    double u = (double)nextafterf(w, INFINITY) - (double)w;
    return fabs((double)got - want) / u;
}

/* sd_mlp_expf_nonpos is within SD_MLP_EXPF_MAX_ULP of e^x (the ulp of a
 * subnormal result where it is one) on a sweep of every 61st float in
 * [-104, 0] (18 million values, both ends included), exact at 0, 0 below
 * -104 (where e^x rounds to 0) and at -inf, NaN for NaN. */
START_TEST(expf_within_documented_ulp)
{
    double worst = 0, at = 0;
    uint32_t lo_bits;
    const float lo = -104.0f;
    memcpy(&lo_bits, &lo, sizeof lo_bits);
    for (uint32_t b = 0x80000000u;; b += 61) {
        if (b > lo_bits)
            b = lo_bits;
        float x;
        memcpy(&x, &b, sizeof x);
        double e = ulp_error(sd_mlp_expf_nonpos(x), exp((double)x));
        if (e > worst)
            worst = e, at = x;
        if (b == lo_bits)
            break;
    }
    ck_assert_msg(worst <= SD_MLP_EXPF_MAX_ULP, "expf error %.3f ulp at x = %.9g", worst, at);
    ck_assert(sd_mlp_expf_nonpos(0.0f) == 1.0f);
    ck_assert(sd_mlp_expf_nonpos(-0.0f) == 1.0f);
    ck_assert(sd_mlp_expf_nonpos(nextafterf(lo, -INFINITY)) == 0.0f);
    ck_assert(sd_mlp_expf_nonpos(-1000.0f) == 0.0f);
    ck_assert(sd_mlp_expf_nonpos(-INFINITY) == 0.0f);
    ck_assert(isnan(sd_mlp_expf_nonpos(NAN)));
    ck_assert(sd_mlp_expf_nonpos(-88.0f) > 0.0f); /* subnormal, not flushed */
}
END_TEST

/* sd_mlp_sigmoidf is within 3 ulp of 1 / (1 + e^-z) (double libm; the ulp
 * of a subnormal result where it is one) on every 101st float of magnitude
 * up to 104, both signs (22 million values); it is exactly 1/2 at 0, 1 and
 * 0 at +-inf, 1 at 100 and 0 below -104. libm's own 1 / (1 + expf(-z)) in
 * float is off by up to 2.5 ulp on [-87, 87] (measured), so this is no
 * worse. */
START_TEST(sigmoidf_within_3_ulp)
{
    double worst = 0, at = 0;
    uint32_t top;
    const float lim = 104.0f;
    memcpy(&top, &lim, sizeof top);
    for (uint32_t b = 0; b <= top; b += 101) {
        for (int sgn = 0; sgn < 2; sgn++) {
            uint32_t bb = b | (sgn ? 0x80000000u : 0u);
            float z;
            memcpy(&z, &bb, sizeof z);
            double want = 1.0 / (1.0 + exp(-(double)z));
            double e = ulp_error(sd_mlp_sigmoidf(z), want);
            if (e > worst)
                worst = e, at = z;
        }
    }
    ck_assert_msg(worst <= 3.0, "sigmoid error %.3f ulp at z = %.9g", worst, at);
    ck_assert(sd_mlp_sigmoidf(0.0f) == 0.5f);
    ck_assert(sd_mlp_sigmoidf(INFINITY) == 1.0f);
    ck_assert(sd_mlp_sigmoidf(-INFINITY) == 0.0f);
    ck_assert(sd_mlp_sigmoidf(-105.0f) == 0.0f);
    ck_assert(sd_mlp_sigmoidf(-88.0f) > 0.0f);
    ck_assert(sd_mlp_sigmoidf(100.0f) == 1.0f);
}
END_TEST

/* The float32 SiLU pass, vectorised, gives the bits of the scalar
 * evaluation (sd_act_evalf, z sigmoid(z) with the subnormal range entered
 * once) for every element, whether it falls in the vector
 * body or the remainder (width 37, rows of odd offsets): a network with one
 * input, a hidden layer of 37 with weights c_j and zero biases, and an
 * identity output layer returns silu(c_j x) exactly (the GEMMs add zeros). */
START_TEST(float32_silu_pass_matches_scalar)
{
    enum { W = 37, N = 9 };
    size_t widths[1] = {W};
    sd_mlp *net;
    ck_assert_int_eq(sd_mlp_create(&net, 1, 1, widths, W, SD_MLP_SILU, SD_MLP_F32, 1, 0),
                     SCORESDE_OK);
    size_t np = sd_mlp_num_params(net);
    ck_assert_uint_eq(np, W + W + W * W + W);
    double *p = calloc(np, sizeof *p), x[N], out[N * W];
    for (size_t j = 0; j < W; j++)
        p[j] = (double)(float)(0.37 * ((double)j - 18.0)); /* W_1, then b_1 = 0 */
    for (size_t j = 0; j < W; j++)
        p[2 * W + j * W + j] = 1.0; /* W_2 = I, b_2 = 0 */
    ck_assert_int_eq(sd_mlp_set_params(net, p), SCORESDE_OK);
    for (size_t i = 0; i < N; i++)
        x[i] = (double)(float)(-30.0 + 7.5 * (double)i);
    sd_mlp_ws *ws;
    ck_assert_int_eq(sd_mlp_ws_create(net, N, 0, 1, &ws), SCORESDE_OK);
    ck_assert_int_eq(sd_mlp_forward(net, ws, N, x, out), SCORESDE_OK);
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < W; j++) {
            float z = (float)p[j] * (float)x[i] + 0.0f;
            float want, d, s2;
            sd_act_evalf(SD_ACT_SILU, z, &want, &d, &s2);
            ck_assert_msg((float)out[i * W + j] == want || (want == 0 && out[i * W + j] == 0),
                          "row %zu column %zu: %.9g, scalar %.9g", i, j, out[i * W + j],
                          (double)want);
        }
    sd_mlp_ws_free(ws);
    sd_mlp_free(net);
    free(p);
}
END_TEST

/* Within 64 epsilon of the compute precision, relative to 1 + |b|, for
 * every element: BLIS picks its GEMM kernel by the row count, so a row's
 * bits can change with the rows stacked beside it (the old forward and jvp
 * passes already differ so: 200 rows of a 3 x 256 SiLU net give outputs
 * 9e-16 apart in float64, 4e-7 in float32, relative to 1 + |value|). */
static void assert_close_rows(const double *a, const double *b, size_t cnt, int prec,
                              const char *what)
{
    double tol = 64.0 * (prec == SD_MLP_F32 ? 0x1p-23 : 0x1p-52);
    for (size_t q = 0; q < cnt; q++)
        ck_assert_msg(fabs(a[q] - b[q]) <= tol * (1.0 + fabs(b[q])),
                      "%s: element %zu is %.17g, the reference %.17g", what, q, a[q], b[q]);
}

/* The stacked-tangent pass (issue 14) against forward and one jvp per
 * tangent, within assert_close_rows: every activation, both precisions, batches below,
 * at and above a row block, 1 to 3 tangents, and (block_rows 4: room for 7
 * tangents per pass) 10 tangents in groups; tangents on the first nv inputs
 * only (the rest zero, as the model kinds' features). _i: activation x 2 +
 * precision; threads 1 and 2. */
START_TEST(stacked_tangents_match_jvp)
{
    sd_mlp_act act = (sd_mlp_act)(_i / 2);
    sd_mlp_prec prec = (sd_mlp_prec)(_i % 2);
    enum { NIN = 5, NV = 3, NOUT = 3, NMAX = 1100, KMAX = 10 };
    size_t widths[2] = {64, 48};
    sd_mlp *net = NULL;
    ck_assert_int_eq(sd_mlp_create(&net, NIN, 2, widths, NOUT, act, prec, 5, 0), SCORESDE_OK);
    size_t np = sd_mlp_num_params(net);
    double *p = test_normals(201, np, 0.3);
    ck_assert_int_eq(sd_mlp_set_params(net, p), SCORESDE_OK);
    double *x = test_normals(202, NMAX * NIN, 1.0), *v = test_normals(203, KMAX * NMAX * NV, 1.0);
    double *vf = calloc(NMAX * NIN, sizeof(double)), *ref = malloc(NMAX * NOUT * sizeof(double));
    double *out = malloc(NMAX * NOUT * sizeof(double));
    double *jv = malloc(KMAX * NMAX * NOUT * sizeof(double));
    /* (n, block_rows, threads): one and several row blocks of the default
     * 512, and block_rows 4 (groups of 7 tangents for K = 10) */
    const size_t cases[6][3] = {{1, 0, 1}, {7, 0, 1}, {NMAX, 0, 1}, {NMAX, 0, 2}, {7, 4, 1},
                                {17, 4, 2}};
    const size_t ks[4] = {1, 2, 3, KMAX};
    for (int ci = 0; ci < 6; ci++)
                for (int ki = 0; ki < 4; ki++) {
                    size_t n = cases[ci][0], K = ks[ki], blocks[1] = {cases[ci][1]};
                    int bi = 0, th = (int)cases[ci][2];
                    if (th > 1 && act != SD_MLP_SILU)
                        continue; /* threads: SiLU only (threads split rows alike for all) */
                    sd_mlp_ws *ws = NULL;
                    ck_assert_int_eq(sd_mlp_ws_create(net, n, blocks[bi], th, &ws), SCORESDE_OK);
                    ck_assert_int_eq(sd_mlp_jvp_multi(net, ws, n, x, K, NV, v, out, jv),
                                     SCORESDE_OK);
                    ck_assert_int_eq(sd_mlp_forward(net, ws, n, x, ref), SCORESDE_OK);
                    char what[128];
                    snprintf(what, sizeof what, "%s prec %d n %zu K %zu block %zu threads %d",
                             act_name[act], prec, n, K, blocks[bi], th);
                    assert_close_rows(out, ref, n * NOUT, prec, what);
                    for (size_t k = 0; k < K; k++) {
                        for (size_t i = 0; i < n; i++)
                            memcpy(vf + i * NIN, v + (k * n + i) * NV, NV * sizeof(double));
                        ck_assert_int_eq(sd_mlp_jvp(net, ws, n, x, vf, NULL, ref), SCORESDE_OK);
                        assert_close_rows(jv + k * n * NOUT, ref, n * NOUT, prec, what);
                    }
                    sd_mlp_ws_free(ws);
                }
    /* refusals */
    sd_mlp_ws *ws = NULL;
    ck_assert_int_eq(sd_mlp_ws_create(net, 4, 0, 1, &ws), SCORESDE_OK);
    test_expect_error(sd_mlp_jvp_multi(net, ws, 4, x, 1, NIN + 1, v, out, jv), SCORESDE_EINVAL,
                      "nv");
    test_expect_error(sd_mlp_jvp_multi(net, ws, 4, x, 0, NV, v, out, jv), SCORESDE_EINVAL, "K");
    test_expect_error(sd_mlp_jvp_multi(net, ws, 4, x, 1, NV, NULL, out, jv), SCORESDE_EINVAL,
                      "v");
    sd_mlp_ws_free(ws);
    free(p);
    free(x);
    free(v);
    free(vf);
    free(ref);
    free(out);
    free(jv);
    sd_mlp_free(net);
}
END_TEST

static Suite *mlp_suite(void)
{
    Suite *s = suite_create("mlp");
    TCase *tc = tcase_create("gradients");
    tcase_add_loop_test(tc, backward_matches_finite_differences, 0, 6);
    tcase_add_loop_test(tc, jvp_matches_finite_differences, 0, 6);
    tcase_add_loop_test(tc, tangent_backward_matches_finite_differences, 0, 6);
    tcase_add_loop_test(tc, exact_divergence_matches_fd_trace, 0, 6);
    suite_add_tcase(s, tc);
    TCase *tp = tcase_create("precision_and_threads");
    tcase_add_loop_test(tp, float32_agrees_with_float64, 0, 6);
    tcase_add_loop_test(tp, threads_bit_identical, 0, 4);
    tcase_add_test(tp, split_schedule_sums_in_part_order);
    tcase_add_loop_test(tp, stacked_tangents_match_jvp, 0, 12);
    suite_add_tcase(s, tp);
    TCase *tm = tcase_create("misc");
    tcase_add_test(tm, initialisation_is_documented_draw);
    tcase_add_test(tm, large_batches_and_block_sizes);
    tcase_add_loop_test(tm, predict_is_forward_without_state, 0, 24);
    tcase_add_test(tm, bad_arguments_are_rejected);
    tcase_add_test(tm, expf_within_documented_ulp);
    tcase_add_test(tm, sigmoidf_within_3_ulp);
    tcase_add_test(tm, float32_silu_pass_matches_scalar);
    suite_add_tcase(s, tm);
    return s;
}

int main(void) { return test_run_suite(mlp_suite()); }
