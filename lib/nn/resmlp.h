/*
 * The residual network engine behind the residual MLP model kind (private).
 *
 * With W the width, B the number of blocks, n_in inputs x, E embedding
 * features e (the time and EMBED condition features, which carry no
 * tangent) and n_out outputs, a row is
 *
 *     h_0     = x W_in^T + b_in                              (n_in -> W)
 *     block b = 0 .. B-1, with h = h_b:
 *       n     = LN_b(h) = g_b * xhat + beta_b,  xhat = (h - mean h) rho,
 *               rho = 1 / sqrt(var h + SD_RESMLP_LN_EPS)  (biased variance over W)
 *       a     = act(n W1_b^T + b1_b) + e P_b^T + p_b
 *       h_b+1 = h + a W2_b^T + b2_b
 *     y       = LN_f(h_B) W_out^T + b_out                    (W -> n_out)
 *
 * Activations are act.h's. Initialisation from seed: W_in normal with
 * variance 1 / n_in from Philox stream 0; W1_b variance c / W (c = 2 for
 * ReLU, else 1) from stream 1 + 2b and W2_b variance 1 / W from stream
 * 2 + 2b; P (all blocks) variance 1 / E from stream 1 + 2B, all at offset
 * SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, 0) for element 0 on; the
 * LayerNorm scales 1; every bias and shift 0; W_out and b_out 0, so y = 0
 * until trained.
 *
 * Flat parameter order (get/set_params and every gradient vector), row-major:
 *     W_in (W x n_in), b_in (W),
 *     per block: g_b (W), beta_b (W), W1_b (W x W), b1_b (W), W2_b (W x W), b2_b (W),
 *     P (B W x E: block b's rows b W .. b W + W - 1), p (B W),
 *     g_f (W), beta_f (W), W_out (n_out x W), b_out (n_out).
 *
 * Every matrix product goes through BLIS's typed expert API with the
 * workspace's rntm_t (one BLIS thread). Threads: as the MLP engine (mlp.h):
 * a network is read-only during evaluation, a workspace belongs to one
 * thread at a time. A call's n rows are cut into ceil(n / 128) parts of
 * equal size, whatever the thread count, and the workspace's threads share
 * the parts (split.h): one OpenMP parallel region per call, each thread
 * taking whole parts through the whole network. Results do not depend on
 * the thread count: a row is computed alike in any part (the GEMMs run
 * BLIS's conventional kernels, so a row's products do not depend on the
 * rows beside it; per-row reductions run in a fixed order). Nor on how a
 * batch is split into calls for the forward and tangent passes. Parameter
 * gradients are summed part by part: each part's from zero (columns summed
 * over its rows in order), added into the caller's vector in part order.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SD_RESMLP_H
#define SD_RESMLP_H

#include <stddef.h>
#include <stdint.h>

#include "act.h"
#include "mlp.h"

#define SD_RESMLP_LN_EPS 1e-5
#define SD_RESMLP_MAX_BLOCKS 64
#define SD_RESMLP_MAX_WIDTH ((size_t)1 << 16)

typedef struct sd_resmlp sd_resmlp;
typedef struct sd_resmlp_ws sd_resmlp_ws;

/* Errors: SCORESDE_EINVAL (NULL out, a zero size, blocks above
 * SD_RESMLP_MAX_BLOCKS, width above SD_RESMLP_MAX_WIDTH, n_in, E or n_out
 * above SD_MLP_MAX_WIDTH, unknown activation or precision), SCORESDE_ENOMEM. */
int sd_resmlp_create(sd_resmlp **out, size_t n_in, size_t n_emb, size_t width, size_t blocks,
                     size_t n_out, sd_act act, sd_mlp_prec prec, uint64_t seed);
void sd_resmlp_free(sd_resmlp *net);

/* The parameter count of a network of these sizes (fits 64 bits for the
 * limits above). */
uint64_t sd_resmlp_count(size_t n_in, size_t n_emb, size_t width, size_t blocks, size_t n_out);
size_t sd_resmlp_num_params(const sd_resmlp *net);

/* As sd_mlp_get_params / sd_mlp_set_params (set: finite values that fit the
 * precision, else EINVAL and nothing changes). */
void sd_resmlp_get_params(const sd_resmlp *net, double *params);
int sd_resmlp_set_params(sd_resmlp *net, const double *params);

/* A workspace for up to max_rows rows per call, with everything an
 * evaluation needs (evaluations allocate nothing). Errors: SCORESDE_EINVAL
 * (zero max_rows, n_threads outside 1 .. 1024), SCORESDE_ENOMEM. */
int sd_resmlp_ws_create(const sd_resmlp *net, size_t max_rows, int n_threads,
                        sd_resmlp_ws **out);
void sd_resmlp_ws_free(sd_resmlp_ws *ws);
void sd_resmlp_ws_set_threads(sd_resmlp_ws *ws, int n_threads);
/* GEMM flops run on the workspace since creation (2 m n k per call). */
uint64_t sd_resmlp_ws_gemm_flops(const sd_resmlp_ws *ws);

/* out (n x n_out) = net(in (n x n_in), emb (n x E)), keeping the state
 * sd_resmlp_backward needs. The callers (the model kind and the tests)
 * pass checked arguments with n <= max_rows; n = 0 or more is EINVAL. */
int sd_resmlp_forward(const sd_resmlp *net, sd_resmlp_ws *ws, size_t n, const double *in,
                      const double *emb, double *out);

/* out = net(in, emb) as sd_resmlp_forward computes it (the same bits),
 * keeping no backward state (a backward after it is refused): every block
 * reuses the first block's row arrays and no act' is formed. For
 * evaluations no backward follows (scores in samplers). Arguments as
 * sd_resmlp_forward's. */
int sd_resmlp_predict(const sd_resmlp *net, sd_resmlp_ws *ws, size_t n, const double *in,
                      const double *emb, double *out);

/* out (may be NULL) = net(in, emb) and jv = J_in v for tangents v (n x n_in;
 * emb carries none), keeping the state sd_resmlp_tangent_backward needs. */
int sd_resmlp_jvp(const sd_resmlp *net, sd_resmlp_ws *ws, size_t n, const double *in,
                  const double *emb, const double *v, double *out, double *jv);

/* The stacked-tangent pass (the fused score and divergence, issue 14):
 * out (may be NULL) = net(in, emb) and, for k = 0 .. K-1, jv[k n n_out ..]
 * (n x n_out) = J_in v_k with tangent v_k's row i at v[(k n + i) nv ..] on
 * the first nv inputs (the others zero). Each product is one GEMM over the
 * primal rows and the tangent rows stacked (row blocks of
 * 2 max_rows / (1 + K) rows; more than 2 max_rows - 1 tangents in groups).
 * The row passes' arithmetic is forward's and jvp's, and the workspace's
 * GEMMs (small-matrix kernels off) give a row the same bits whatever rows
 * are stacked with it: every value is bit for bit forward's or jvp's
 * (tests/test_resmlp.c). Keeps no backward state. n <= max_rows, else EINVAL; K = 0 or
 * nv outside [1, n_in] is EINVAL. */
int sd_resmlp_jvp_multi(const sd_resmlp *net, sd_resmlp_ws *ws, size_t n, const double *in,
                        const double *emb, size_t K, size_t nv, const double *v, double *out,
                        double *jv);

/* After forward: ADD to param_grad (may be NULL) the gradient of
 * sum(g_out .* out); WRITE the gradients with respect to emb into emb_grad
 * (n x E) and to in into in_grad (n x n_in), each unless NULL. */
int sd_resmlp_backward(const sd_resmlp *net, sd_resmlp_ws *ws, const double *g_out,
                       double *param_grad, double *emb_grad, double *in_grad);

/* After jvp: the same for sum(g_out .* out) + sum(g_tan .* jv) (g_out may be
 * NULL, taken as zero), v held fixed; second derivatives of the activations
 * and of the LayerNorms included. */
int sd_resmlp_tangent_backward(const sd_resmlp *net, sd_resmlp_ws *ws, const double *g_out,
                               const double *g_tan, double *param_grad, double *emb_grad,
                               double *in_grad);

#endif /* SD_RESMLP_H */
