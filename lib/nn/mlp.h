/*
 * The fully connected network engine behind the neural model kind (private).
 *
 * A network maps n_in inputs through hidden layers of the given widths to
 * n_out linear outputs:
 *
 *     h_0 = x,  z_l = h_{l-1} W_l^T + b_l,  h_l = act(z_l)   (l = 1 .. L-1)
 *     y   = h_{L-1} W_L^T + b_L
 *
 * with W_l of shape dims[l] x dims[l-1] (row-major) and dims = {n_in, widths...,
 * n_out}. Hidden activations are those of act.h (SiLU the default).
 * The parameters are stored in the compute precision (float64 or float32); the
 * interface speaks double and converts at the edges.
 *
 * Flat parameter order (get/set_params and every gradient vector):
 *     W_1 (row-major, dims[1] x dims[0]), b_1 (dims[1]), W_2, b_2, ..., W_L, b_L,
 *     then with embedding inputs P_2, ..., P_{L-1}.
 *
 * Embedding inputs (sd_mlp_create_emb, n_emb > 0): the last n_emb of the n_in
 * inputs, e, also enter every hidden layer after the first directly,
 *
 *     z_l = h_{l-1} W_l^T + e P_l^T + b_l    (l = 2 .. L-1),
 *
 * with P_l of shape dims[l] x n_emb (row-major); layer 1 sees e through the
 * last n_emb columns of W_1, as any input, and the output layer does not
 * see it. There is no bias of its own: b_l already is the pre-activation's.
 * The P_l follow b_L in the flat order above and start at zero, so a new
 * network computes what the same network with n_emb = 0 computes, bit for
 * bit. Every pass treats e as inputs (the tangent covers all n_in inputs,
 * in_grad includes e's adjoint). n_emb = 0 is the plain network above.
 *
 * Initialisation (deterministic from seed and stream): W_l[i][j] =
 * sqrt(c / dims[l-1]) * z with z = element i*dims[l-1] + j of
 * scoresde_rng_normal(seed, stream + (l - 1), SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, 0)),
 * c = 2 for the hidden layers of a ReLU network (He) and c = 1 otherwise
 * (LeCun, also for every output layer); all biases are zero.
 *
 * Batches are row-major (x[i*n_in + j]) and are processed in row blocks, so the
 * elementwise passes work on data a GEMM has just written. Matrix products go
 * through BLIS's typed expert API with the workspace's own rntm_t (one BLIS
 * thread): the host program's global BLIS settings are never read or changed.
 *
 * Threads: a network is read-only during evaluation, so any number of threads
 * may evaluate it at once, each with its own workspace. set_params must not
 * run concurrently with an evaluation of the same network. A workspace belongs
 * to one thread at a time. A workspace's own threads share a call's row
 * blocks (split.h): one OpenMP parallel region per call, each thread taking
 * whole blocks through the whole network on one BLIS thread; none inside
 * another OpenMP region.
 *
 * Reproducibility: a block's rows are computed as on one thread whatever the
 * thread count, so outputs, tangents and input gradients do not depend on it.
 * Parameter gradients are summed block by block: each block's gradient is
 * formed from zero (its GEMMs sum over the block's rows in BLIS's order:
 * k blocked by KC, each block added to the last) and the blocks' gradients are
 * added to the caller's double vector in block order, for both precisions.
 * So 1, 2 and 3 threads give bit-identical results (tested). Results do
 * depend on the row-block size: it fixes the blocks' boundaries, and BLIS's
 * small-matrix kernels choose a product's summation order by its row count.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SD_MLP_H
#define SD_MLP_H

#include <stddef.h>
#include <stdint.h>

#include "act.h"

/* The shared activations (act.h): SiLU, ReLU, tanh, softplus, GELU (tanh
 * form and exact). */
typedef sd_act sd_mlp_act;
#define SD_MLP_SILU SD_ACT_SILU
#define SD_MLP_RELU SD_ACT_RELU
#define SD_MLP_TANH SD_ACT_TANH
#define SD_MLP_SOFTPLUS SD_ACT_SOFTPLUS
#define SD_MLP_GELU_TANH SD_ACT_GELU_TANH
#define SD_MLP_GELU SD_ACT_GELU

typedef enum sd_mlp_prec {
    SD_MLP_F64 = 0,
    SD_MLP_F32 = 1
} sd_mlp_prec;

typedef struct sd_mlp sd_mlp;
typedef struct sd_mlp_ws sd_mlp_ws;

/* Hard limits, checked on creation. */
#define SD_MLP_MAX_HIDDEN 64
#define SD_MLP_MAX_WIDTH ((size_t)1 << 20)

/*
 * Create a network: n_in inputs, n_hidden hidden layers of widths[0..n_hidden-1]
 * (widths may be NULL when n_hidden is 0), n_out outputs, initialised from
 * (seed, stream) as described above.
 * Errors: SCORESDE_EINVAL (NULL out, zero sizes, widths NULL with n_hidden > 0,
 * n_hidden above SD_MLP_MAX_HIDDEN, a width above SD_MLP_MAX_WIDTH, unknown
 * activation or precision), SCORESDE_ENOMEM.
 */
int sd_mlp_create(sd_mlp **out, size_t n_in, size_t n_hidden, const size_t *widths, size_t n_out,
                  sd_mlp_act act, sd_mlp_prec prec, uint64_t seed, uint64_t stream);

/* The same with n_emb embedding inputs (above), 0 .. n_in; sd_mlp_create is
 * n_emb = 0. Errors: as sd_mlp_create, and SCORESDE_EINVAL for n_emb > n_in. */
int sd_mlp_create_emb(sd_mlp **out, size_t n_in, size_t n_emb, size_t n_hidden,
                      const size_t *widths, size_t n_out, sd_mlp_act act, sd_mlp_prec prec,
                      uint64_t seed, uint64_t stream);
void sd_mlp_free(sd_mlp *net);

size_t sd_mlp_num_params(const sd_mlp *net);
size_t sd_mlp_n_in(const sd_mlp *net);
size_t sd_mlp_n_out(const sd_mlp *net);
sd_mlp_act sd_mlp_activation(const sd_mlp *net);
sd_mlp_prec sd_mlp_precision(const sd_mlp *net);

/* Copy the num_params parameters out in the flat order (float32 networks are
 * widened exactly). Errors: SCORESDE_EINVAL for NULL arguments. */
int sd_mlp_get_params(const sd_mlp *net, double *params);

/* Set all parameters from a flat vector (rounded to float32 for a float32
 * network). Errors: SCORESDE_EINVAL for NULL arguments or a non-finite value
 * (the network is then unchanged). Not thread-safe with evaluations. */
int sd_mlp_set_params(sd_mlp *net, const double *params);

/*
 * A workspace for batches of up to max_rows rows with backward state, sharing
 * a call's row blocks among up to n_threads threads (>= 1): fewer when the
 * OpenMP runtime grants fewer (OMP_THREAD_LIMIT, an enclosing parallel
 * region that may not nest), the machine has fewer processors, or a call has
 * fewer blocks (at most ceil(max_rows / block_rows) threads). block_rows is the
 * row-block size; 0 picks the default, 512 (a block of a 256-wide layer is
 * 1 MiB in float64, inside this machine's 2 MiB L2 per core, and 512 measured
 * fastest of 128..1024 for the benchmark shape). Everything an evaluation
 * needs is allocated here; evaluations allocate nothing.
 * Errors: SCORESDE_EINVAL (NULL, zero max_rows, n_threads < 1 or > 1024),
 * SCORESDE_ENOMEM.
 */
int sd_mlp_ws_create(const sd_mlp *net, size_t max_rows, size_t block_rows, int n_threads,
                     sd_mlp_ws **out);
void sd_mlp_ws_free(sd_mlp_ws *ws);

/* Change the workspace's thread count (a request, granted as in
 * sd_mlp_ws_create) for its next
 * evaluations. Results do not depend on it (see Reproducibility). The caller
 * owns the workspace exclusively (no evaluation on it may be running). */
void sd_mlp_ws_set_threads(sd_mlp_ws *ws, int n_threads);

/* The thread count a network engine's workspace keeps for a request of
 * n_threads (>= 1): cut to what the OpenMP runtime will grant (above
 * OMP_THREAD_LIMIT, in a region that may not nest) and to the processors. */
int sd_nn_granted_threads(int n_threads);

/* The number of floating-point operations of the GEMMs the workspace has run
 * since creation (2 m n k per call), for the benchmark's GEMM-bound check. */
uint64_t sd_mlp_ws_gemm_flops(const sd_mlp_ws *ws);

/*
 * out (n x n_out) = net(in) (n x n_in). When n <= max_rows of the workspace,
 * keeps what sd_mlp_backward needs; larger batches are evaluated block by block
 * without backward state. Errors: SCORESDE_EINVAL (NULL, n = 0, workspace of
 * another network).
 */
int sd_mlp_forward(const sd_mlp *net, sd_mlp_ws *ws, size_t n, const double *in, double *out);

/*
 * out = net(in) as sd_mlp_forward computes it (the same bits), keeping no
 * backward state (a backward after it is refused): each row block runs in
 * its thread's scratch slot and no act' is formed. For evaluations no
 * backward follows (scores in samplers). Errors: as sd_mlp_forward.
 */
int sd_mlp_predict(const sd_mlp *net, sd_mlp_ws *ws, size_t n, const double *in, double *out);

/*
 * After sd_mlp_forward on this workspace with n <= max_rows rows: ACCUMULATE
 * into param_grad (num_params, may be NULL) the gradient of sum(out_grad .* out)
 * with respect to the parameters, and WRITE into in_grad (n x n_in, may be NULL)
 * its gradient with respect to the input. out_grad is n x n_out.
 * Errors: SCORESDE_EINVAL (NULL net/ws/out_grad, no matching forward state).
 */
int sd_mlp_backward(const sd_mlp *net, sd_mlp_ws *ws, const double *out_grad, double *param_grad,
                    double *in_grad);

/*
 * Forward-mode tangent: out (n x n_out, may be NULL) = net(in) and
 * jv (n x n_out) = J(in) v, row by row, for tangents v (n x n_in). Keeps what
 * sd_mlp_tangent_backward needs. Requires n <= max_rows.
 * Errors: SCORESDE_EINVAL (NULL, n = 0, n > max_rows, workspace of another network).
 */
int sd_mlp_jvp(const sd_mlp *net, sd_mlp_ws *ws, size_t n, const double *in, const double *v,
               double *out, double *jv);

/*
 * Forward with K tangents at once (the fused score and divergence, issue 14):
 * out (n x n_out, may be NULL) = net(in) and, for k = 0 .. K-1,
 * jv[k n n_out ..] (n x n_out) = J(in) v_k, where tangent v_k's row i has
 * v[(k n + i) nv + j] in input column j < nv and 0 in the others (the
 * features carry no tangent). Each layer is one GEMM over the primal rows
 * and the tangent rows stacked (within the workspace's 2 x block_rows rows:
 * row blocks of 2 block / (1 + K) rows; more than 2 block - 1 tangents go in
 * groups, each repeating the primal rows). The elementwise arithmetic is
 * forward's and jvp's; the GEMMs' is BLIS's, which picks its kernel by the
 * row count, so a value can differ from sd_mlp_forward's / sd_mlp_jvp's by
 * rounding (those two already differ so from each other): within
 * 64 epsilon of the compute precision relative to 1 + |value| in the tests
 * (tests/test_mlp.c). Keeps no backward state. Any n.
 * Errors: SCORESDE_EINVAL (NULL, n or K zero, nv outside [1, n_in], a
 * workspace of another network).
 */
int sd_mlp_jvp_multi(const sd_mlp *net, sd_mlp_ws *ws, size_t n, const double *in, size_t K,
                     size_t nv, const double *v, double *out, double *jv);

/*
 * After sd_mlp_jvp on this workspace: ACCUMULATE into param_grad (may be NULL)
 * the parameter gradient of sum(g_out .* out) + sum(g_tan .* Jv), and WRITE into
 * in_grad (n x n_in, may be NULL) its gradient with respect to the input x
 * (v held fixed). g_out may be NULL (taken as zero); g_tan is n x n_out.
 * Needs the activation's second derivative (zero for ReLU).
 * Errors: SCORESDE_EINVAL (NULL net/ws/g_tan, no matching jvp state).
 */
int sd_mlp_tangent_backward(const sd_mlp *net, sd_mlp_ws *ws, const double *g_out,
                            const double *g_tan, double *param_grad, double *in_grad);

/*
 * The float32 activations' own exponential and sigmoid (vmath.h explains
 * the method), exposed for tests. sd_mlp_expf_nonpos(x), x <= 0: within
 * SD_MLP_EXPF_MAX_ULP ulp of e^x (subnormal results included) for
 * -104 <= x <= 0, 0 below (where e^x rounds to 0) and at -inf, NaN for NaN.
 * sd_mlp_sigmoidf(z): 1 / (1 + e^-z) through it, within 3 ulp for
 * |z| <= 104, exactly 0 below -104. Both are deterministic (IEEE +, *, /
 * and bit operations only). Float64 networks use the double forms of the
 * same kernels (act.h states every activation's error).
 */
#define SD_MLP_EXPF_MAX_ULP 1
float sd_mlp_expf_nonpos(float x);
float sd_mlp_sigmoidf(float z);

#endif /* SD_MLP_H */
