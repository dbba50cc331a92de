/*
 * The precision-generic half of the residual network engine, included
 * twice by resmlp.c: with R = double and R = float. It expects R, F(name),
 * GEMM, R_SQRT and R_IS_F64, and undefines them at the end. The formulas of
 * the LayerNorm passes are in docs/math.md ("Residual networks"). Every pass
 * here runs on the calling thread, over the rows of one part (resmlp.c
 * shares a call's parts among threads, split.h), with the part's view of
 * the workspace.
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "act_pass.h"

/* C (m x n, row stride rs_c) = A B + beta C with element (i, p) of A at
 * a[i*rs_a + p*cs_a], likewise B (as in mlp_impl.h). */
static void F(rgemm)(sd_resmlp_ws *ws, size_t m, size_t n, size_t k, const R *a, size_t rs_a,
                     size_t cs_a, const R *b, size_t rs_b, size_t cs_b, R beta, R *c, size_t rs_c)
{
    R one = 1;
    ws->flops += (uint64_t)2 * m * n * k;
    GEMM(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)m, (dim_t)n, (dim_t)k, &one, (R *)a,
         (inc_t)rs_a, (inc_t)cs_a, (R *)b, (inc_t)rs_b, (inc_t)cs_b, &beta, c, (inc_t)rs_c, 1,
         NULL, &ws->rntm);
}

/* C (m x n) = A (m x k) W^T (+ beta C) for W (n x k) row-major. */
static void F(mul_wt)(sd_resmlp_ws *ws, size_t m, size_t n, size_t k, const R *A, size_t lda,
                      const R *Wt, R beta, R *C, size_t ldc)
{
    F(rgemm)(ws, m, n, k, A, lda, 1, Wt, 1, k, beta, C, ldc);
}

/* C (m x k) = A (m x n) W for W (n x k) row-major. */
static void F(mul_w)(sd_resmlp_ws *ws, size_t m, size_t n, size_t k, const R *A, size_t lda,
                     const R *Wm, R *C, size_t ldc)
{
    F(rgemm)(ws, m, k, n, A, lda, 1, Wm, k, 1, 0, C, ldc);
}

/* gW (n x k) += G^T X for G (m x n), X (m x k). */
static void F(acc_gt)(sd_resmlp_ws *ws, size_t m, size_t n, size_t k, const R *G, size_t ldg,
                      const R *X, size_t ldx, R *gW)
{
    F(rgemm)(ws, n, k, m, G, 1, ldg, X, ldx, 1, 1, gW, k);
}

/* Sums in a fixed order of four lanes (the compiler may not reassociate),
 * so a row's result never depends on its address or the thread. */
static inline R F(rsum)(const R *restrict a, size_t w)
{
    R s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t j = 0;
    for (; j + 4 <= w; j += 4) {
        s0 += a[j];
        s1 += a[j + 1];
        s2 += a[j + 2];
        s3 += a[j + 3];
    }
    for (; j < w; j++)
        s0 += a[j];
    return (s0 + s1) + (s2 + s3);
}

static inline R F(rdot)(const R *restrict a, const R *restrict b, size_t w)
{
    R s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t j = 0;
    for (; j + 4 <= w; j += 4) {
        s0 += a[j] * b[j];
        s1 += a[j + 1] * b[j + 1];
        s2 += a[j + 2] * b[j + 2];
        s3 += a[j + 3] * b[j + 3];
    }
    for (; j < w; j++)
        s0 += a[j] * b[j];
    return (s0 + s1) + (s2 + s3);
}

/* acc[j] += sum over rows i (in order) of A[i*lda + j] (times B[i*ldb + j]
 * when B is not NULL, plus A2[i*lda + j] B2[i*ldb + j] when A2 is not NULL). */
static void F(colsum)(size_t r, size_t w, const R *A, const R *Bm, const R *A2, const R *B2,
                      size_t lda, size_t ldb, R *acc)
{
    for (size_t i = 0; i < r; i++) {
        const R *restrict a = A + i * lda;
        R *restrict s = acc;
        if (!Bm) {
            SD_SIMD
            for (size_t j = 0; j < w; j++)
                s[j] += a[j];
        } else if (!A2) {
            const R *restrict b = Bm + i * ldb;
            SD_SIMD
            for (size_t j = 0; j < w; j++)
                s[j] += a[j] * b[j];
        } else {
            const R *restrict b = Bm + i * ldb;
            const R *restrict a2 = A2 + i * lda;
            const R *restrict b2 = B2 + i * ldb;
            SD_SIMD
            for (size_t j = 0; j < w; j++)
                s[j] += a[j] * b[j] + a2[j] * b2[j];
        }
    }
}

/*
 * LayerNorm forward of r rows of H (r x w; in tangent mode followed by r
 * tangent rows): first the residual stream's pending bias (the layer
 * before's, bias) is added to the primal rows of H, in the pass that reads
 * them; then XH gets xhat (and the tangent rows dh, copied), N gets
 * n = g xhat + beta (and tn = g dxhat), DX dxhat, RS rho.
 */
/* One row i of ln_forward (below), compiled for every vector width
 * (SD_ACT_CLONES: the same bits on each). */
SD_ACT_CLONES static void F(ln_forward_row)(int tangent, size_t r, size_t i, size_t w, R *H,
                                            const R *bias, const R *g, const R *beta, R *XH,
                                            R *N, R *DX, R *RS)
{
    R inv_w = (R)1 / (R)w;
    R *restrict h = H + i * w;
    R *restrict xh = XH + i * w, *restrict n = N + i * w;
    SD_SIMD
    for (size_t j = 0; j < w; j++)
        h[j] += bias[j];
    R mu = F(rsum)(h, w) * inv_w;
    SD_SIMD
    for (size_t j = 0; j < w; j++)
        xh[j] = h[j] - mu;
    R var = F(rdot)(xh, xh, w) * inv_w;
    R rho = (R)1 / R_SQRT(var + (R)SD_RESMLP_LN_EPS);
    RS[i] = rho;
    SD_SIMD
    for (size_t j = 0; j < w; j++) {
        xh[j] *= rho;
        n[j] = g[j] * xh[j] + beta[j];
    }
    if (tangent) {
        const R *restrict v = H + (r + i) * w;
        R *restrict vc = XH + (r + i) * w, *restrict tn = N + (r + i) * w;
        R *restrict dx = DX + i * w;
        R dm = F(rsum)(v, w) * inv_w, dq = F(rdot)(v, xh, w) * inv_w;
        SD_SIMD
        for (size_t j = 0; j < w; j++) {
            vc[j] = v[j];
            dx[j] = rho * (v[j] - dm - xh[j] * dq);
            tn[j] = g[j] * dx[j];
        }
    }
}

static void F(ln_forward)(int tangent, size_t r, size_t w, R *H, const R *bias, const R *g,
                          const R *beta, R *XH, R *N, R *DX, R *RS)
{
    for (size_t i = 0; i < r; i++)
        F(ln_forward_row)(tangent, r, i, w, H, bias, g, beta, XH, N, DX, RS);
}

/*
 * LayerNorm backward: G3 holds (n-bar; tn-bar) of r rows; ADDs the
 * parameter gradients into gg, gb (when gg is not NULL) and ADDs (h-bar;
 * dh-bar) into G (G3 is overwritten). With q = n-bar g and dq = tn-bar g,
 * v the tangent dh, Qu = u - mean u, a_v = mean(xhat v):
 *   h-bar  += rho (q - mean q - xhat mean(q xhat))
 *             + rho^2 (-mean(dq Qv) xhat - a_v Q dq - mean(dq xhat) Qv
 *                      + 3 a_v mean(dq xhat) xhat)
 *   dh-bar += rho (dq - mean dq - xhat mean(dq xhat)).
 */
/* One row i of ln_backward's input adjoint (below), compiled for every
 * vector width (SD_ACT_CLONES: the same bits on each). */
SD_ACT_CLONES static void F(ln_backward_row)(int tangent, size_t r, size_t i, size_t w, R *G3,
                                             const R *g, const R *XH, const R *RS, R *G)
{
    R inv_w = (R)1 / (R)w;
    const R *restrict xh = XH + i * w;
    R *restrict q = G3 + i * w, *restrict hb = G + i * w;
    R rho = RS[i];
    SD_SIMD
    for (size_t j = 0; j < w; j++)
        q[j] *= g[j];
    R mq = F(rsum)(q, w) * inv_w, mqx = F(rdot)(q, xh, w) * inv_w;
    SD_SIMD
    for (size_t j = 0; j < w; j++)
        hb[j] += rho * (q[j] - mq - xh[j] * mqx);
    if (tangent) {
        R *restrict dq = G3 + (r + i) * w, *restrict tb = G + (r + i) * w;
        const R *restrict v = XH + (r + i) * w;
        SD_SIMD
        for (size_t j = 0; j < w; j++)
            dq[j] *= g[j];
        R mdq = F(rsum)(dq, w) * inv_w, mdqx = F(rdot)(dq, xh, w) * inv_w;
        R mv = F(rsum)(v, w) * inv_w, av = F(rdot)(xh, v, w) * inv_w;
        R mqv = F(rdot)(dq, v, w) * inv_w - mv * mdq;
        R rho2 = rho * rho, c3 = (R)3 * av * mdqx - mqv;
        SD_SIMD
        for (size_t j = 0; j < w; j++) {
            hb[j] += rho2 * (c3 * xh[j] - av * (dq[j] - mdq) - mdqx * (v[j] - mv));
            tb[j] += rho * (dq[j] - mdq - xh[j] * mdqx);
        }
    }
}

static void F(ln_backward)(int tangent, size_t r, size_t w, R *G3, const R *g, const R *XH,
                           const R *DX, const R *RS, R *gg, R *gb, R *G)
{
    if (gg) {
        if (tangent)
            F(colsum)(r, w, G3, XH, G3 + r * w, DX, w, w, gg);
        else
            F(colsum)(r, w, G3, XH, NULL, NULL, w, w, gg);
        F(colsum)(r, w, G3, NULL, NULL, NULL, w, w, gb);
    }
    for (size_t i = 0; i < r; i++)
        F(ln_backward_row)(tangent, r, i, w, G3, g, XH, RS, G);
}

/* The tangent rows of a LayerNorm for the stacked pass: T tangent rows at
 * H + r w (tangent row q belongs to primal row q mod r), after ln_forward of
 * the r primal rows left xhat in XH and rho in RS: N's row r + q gets
 * g dxhat, with the arithmetic of ln_forward's tangent mode. */
static void F(ln_tangents)(size_t r, size_t T, size_t w, const R *H, const R *g, const R *XH,
                           const R *RS, R *N)
{
    R inv_w = (R)1 / (R)w;
    for (size_t q = 0; q < T; q++) {
        size_t i = q % r;
        const R *restrict v = H + (r + q) * w, *restrict xh = XH + i * w;
        R *restrict tn = N + (r + q) * w;
        R rho = RS[i];
        R dm = F(rsum)(v, w) * inv_w, dq = F(rdot)(v, xh, w) * inv_w;
        SD_SIMD
        for (size_t j = 0; j < w; j++) {
            R dx = rho * (v[j] - dm - xh[j] * dq);
            tn[j] = g[j] * dx;
        }
    }
}

/* The layers before the blocks, for r primal rows (in, emb) and the m - r
 * tangent rows the caller has put in X0 after them: X0's primal rows and
 * the embedding features in the compute precision, every block's embedding
 * projection in one product (EP = e P^T; each block's activation pass adds
 * it with its bias p) and H = X0 W_in^T. The input layer's bias b_in is left
 * pending: the first LayerNorm adds it. */
static void F(prologue)(const sd_resmlp *net, sd_resmlp_ws *ws, size_t r, size_t m,
                        const double *in, const double *emb)
{
    const R *P = (const R *)net->params;
    size_t W = net->W, B = net->B, E = net->E, ni = net->n_in;
    R *X0 = (R *)ws->x0, *EM = (R *)ws->emb, *EP = (R *)ws->ep;
    for (size_t i = 0; i < r * ni; i++)
        X0[i] = (R)in[i];
    for (size_t i = 0; i < r * E; i++)
        EM[i] = (R)emb[i];
    F(mul_wt)(ws, r, B * W, E, EM, E, P + net->o_P, 0, EP, B * W);
    F(mul_wt)(ws, m, W, ni, X0, ni, P + net->o_win, 0, (R *)ws->h, W);
}

/* The blocks, the final LayerNorm and the output layer's product (Y = N
 * W_out^T, its bias not added) of r primal rows and T tangent rows after
 * the prologue. With keep (forward; jvp: T = r) every block's row passes
 * leave the state the backward passes need in the block's own arrays, the
 * tangent rows going through ln_forward's and the activation's tangent
 * modes. Otherwise (predict: T = 0; the stacked pass) no state is kept:
 * every block reuses block 0's arrays, act' is formed only for the tangent
 * rows of the stacked pass, and those go through ln_tangents and
 * times_act_prime. The same arithmetic either way. Each layer's bias on the
 * residual stream (b_in, then b2 of each block) is added by the LayerNorm
 * that next reads the rows. */
static void F(trunk)(const sd_resmlp *net, sd_resmlp_ws *ws, size_t r, size_t T, int keep)
{
    const R *P = (const R *)net->params;
    size_t W = net->W, B = net->B, m = r + T;
    int tangent = T > 0 && keep, stacked = T > 0 && !keep;
    R *H = (R *)ws->h;
    const R *pending = P + net->o_bin;
    for (size_t b = 0; b <= B; b++) {
        size_t sb = keep ? b : 0; /* the arrays the block's row passes use */
        R *XH = (R *)ws->xh[sb], *N = (R *)ws->nn[sb], *RS = (R *)ws->rs[sb];
        size_t o_g = b < B ? block_at(net, b).g : net->o_gf;
        F(ln_forward)(tangent, r, W, H, pending, P + o_g, P + o_g + W, XH, N, (R *)ws->dx[sb],
                      RS);
        if (stacked)
            F(ln_tangents)(r, T, W, H, P + o_g, XH, RS, N);
        if (b == B)
            break;
        sd_resmlp_block k = block_at(net, b);
        R *A = (R *)ws->aa[sb], *Dv = keep || stacked ? (R *)ws->dd[sb] : NULL;
        F(mul_wt)(ws, m, W, W, N, W, P + k.W1, 0, A, W);
        /* a = act(z + b1) + e P_b^T + p_b on the primal rows */
        F(activate_add)(net->act, tangent, r, W, A, P + k.b1, Dv, (R *)ws->ee[sb],
                        (R *)ws->ep + b * W, B * W, P + net->o_p + b * W);
        if (stacked)
            F(times_act_prime)(r, T, W, A, Dv);
        F(mul_wt)(ws, m, W, W, A, W, P + k.W2, 1, H, W);
        pending = P + k.b2;
    }
    F(mul_wt)(ws, m, net->n_out, W, (R *)ws->nn[keep ? B : 0], W, P + net->o_wout, 0,
              (R *)ws->y, net->n_out);
}

/* out (r x n_out) = Y's primal rows + b_out, in double. */
static void F(put_out)(const sd_resmlp *net, const sd_resmlp_ws *ws, size_t r, double *out)
{
    size_t no = net->n_out;
    const R *Y = (const R *)ws->y, *bo = (const R *)net->params + net->o_wout + no * net->W;
    for (size_t i = 0; i < r; i++)
        for (size_t j = 0; j < no; j++)
            out[i * no + j] = (double)(Y[i * no + j] + bo[j]);
}

/* The forward pass of r rows; in tangent mode (keep) the tangent rows
 * follow. keep: the backward state is kept (trunk). */
static void F(res_forward)(const sd_resmlp *net, sd_resmlp_ws *ws, size_t r, const double *in,
                           const double *emb, const double *v, double *out, double *jv,
                           int keep)
{
    size_t ni = net->n_in, no = net->n_out, T = v ? r : 0;
    R *X0 = (R *)ws->x0;
    for (size_t i = 0; i < T * ni; i++)
        X0[r * ni + i] = (R)v[i];
    F(prologue)(net, ws, r, r + T, in, emb);
    F(trunk)(net, ws, r, T, keep);
    if (out)
        F(put_out)(net, ws, r, out);
    const R *Y = (const R *)ws->y;
    for (size_t i = 0; i < T * no; i++)
        jv[i] = (double)Y[r * no + i];
}

/* Both backward passes over the stored state. */
static void F(res_backward)(const sd_resmlp *net, sd_resmlp_ws *ws, const double *g_out,
                            const double *g_tan, double *param_grad, double *emb_grad,
                            double *in_grad)
{
    const R *P = (const R *)net->params;
    size_t W = net->W, B = net->B, E = net->E, ni = net->n_in, no = net->n_out, r = ws->n;
    int tangent = ws->state == SD_RESMLP_STATE_TANGENT;
    size_t m = tangent ? 2 * r : r;
    R *gw = NULL;
    if (param_grad) {
#if R_IS_F64
        gw = param_grad;
#else
        gw = (R *)ws->gacc;
        memset(gw, 0, net->n_params * sizeof(R));
#endif
    }
    R *GY = (R *)ws->gy, *G = (R *)ws->g, *G2 = (R *)ws->g2, *G3 = (R *)ws->g3;
    R *GA = (R *)ws->ga;
    for (size_t i = 0; i < r * no; i++)
        GY[i] = g_out ? (R)g_out[i] : 0;
    if (tangent)
        for (size_t i = 0; i < r * no; i++)
            GY[r * no + i] = (R)g_tan[i];
    /* output layer and final LayerNorm */
    if (gw) {
        F(acc_gt)(ws, m, no, W, GY, no, (R *)ws->nn[B], W, gw + net->o_wout);
        F(colsum)(r, no, GY, NULL, NULL, NULL, no, no, gw + net->o_wout + no * W);
    }
    F(mul_w)(ws, m, no, W, GY, no, P + net->o_wout, G3, W);
    memset(G, 0, m * W * sizeof(R));
    F(ln_backward)(tangent, r, W, G3, P + net->o_gf, (R *)ws->xh[B], (R *)ws->dx[B],
                   (R *)ws->rs[B], gw ? gw + net->o_gf : NULL, gw ? gw + net->o_gf + W : NULL,
                   G);
    for (size_t b = B; b-- > 0;) {
        sd_resmlp_block k = block_at(net, b);
        const R *D = (const R *)ws->dd[b], *Ee = (const R *)ws->ee[b];
        if (gw) {
            F(acc_gt)(ws, m, W, W, G, W, (R *)ws->aa[b], W, gw + k.W2);
            F(colsum)(r, W, G, NULL, NULL, NULL, W, W, gw + k.b2);
        }
        /* (a-bar; ta-bar) = (h-bar; th-bar) W2 */
        F(mul_w)(ws, m, W, W, G, W, P + k.W2, G2, W);
        /* a-bar feeds the embedding projection; then through the activation:
         * z-bar = a-bar act' + ta-bar u act'', u-bar = ta-bar act' */
        for (size_t i = 0; i < r; i++) {
            R *restrict ab = G2 + i * W;
            R *restrict ga = GA + i * B * W + b * W;
            const R *restrict d = D + i * W;
            SD_SIMD
            for (size_t j = 0; j < W; j++)
                ga[j] = ab[j];
            if (!tangent) {
                SD_SIMD
                for (size_t j = 0; j < W; j++)
                    ab[j] *= d[j];
            } else {
                R *restrict tb = G2 + (r + i) * W;
                const R *restrict e = Ee + i * W;
                SD_SIMD
                for (size_t j = 0; j < W; j++) {
                    R t = tb[j];
                    ab[j] = ab[j] * d[j] + t * e[j];
                    tb[j] = t * d[j];
                }
            }
        }
        if (gw) {
            F(acc_gt)(ws, m, W, W, G2, W, (R *)ws->nn[b], W, gw + k.W1);
            F(colsum)(r, W, G2, NULL, NULL, NULL, W, W, gw + k.b1);
        }
        F(mul_w)(ws, m, W, W, G2, W, P + k.W1, G3, W);
        F(ln_backward)(tangent, r, W, G3, P + k.g, (R *)ws->xh[b], (R *)ws->dx[b],
                       (R *)ws->rs[b], gw ? gw + k.g : NULL, gw ? gw + k.beta : NULL, G);
    }
    /* the embedding projections, all blocks in one product each */
    if (gw) {
        F(acc_gt)(ws, r, B * W, E, GA, B * W, (R *)ws->emb, E, gw + net->o_P);
        F(colsum)(r, B * W, GA, NULL, NULL, NULL, B * W, B * W, gw + net->o_p);
    }
    if (emb_grad) {
        R *GE = (R *)ws->ge;
        F(mul_w)(ws, r, B * W, E, GA, B * W, P + net->o_P, GE, E);
        for (size_t i = 0; i < r * E; i++)
            emb_grad[i] = (double)GE[i];
    }
    /* input layer */
    if (gw) {
        F(acc_gt)(ws, m, W, ni, G, W, (R *)ws->x0, ni, gw + net->o_win);
        F(colsum)(r, W, G, NULL, NULL, NULL, W, W, gw + net->o_bin);
    }
    if (in_grad) {
        R *GI = (R *)ws->gin;
        F(mul_w)(ws, r, W, ni, G, W, P + net->o_win, GI, ni);
        for (size_t i = 0; i < r * ni; i++)
            in_grad[i] = (double)GI[i];
    }
#if !R_IS_F64
    if (param_grad)
        for (size_t i = 0; i < net->n_params; i++)
            param_grad[i] += (double)gw[i];
#endif
}

/* The stacked-tangent pass (sd_resmlp_jvp_multi) over rows lo .. hi-1 of a
 * call of n rows (the stride of the tangents): per row block of rb rows,
 * the rb primal rows and then G tangent blocks of rb rows go through each
 * product as ONE GEMM; the row passes (LayerNorm, activation, biases, the
 * embedding) run as forward's on the primal rows and as jvp's on the
 * tangent rows. No backward state is kept. */
static void F(res_forward_multi)(const sd_resmlp *net, sd_resmlp_ws *ws, size_t n, size_t lo,
                                 size_t hi, const double *in, const double *emb, size_t K,
                                 size_t nv, const double *v, double *out, double *jv)
{
    size_t E = net->E, ni = net->n_in, no = net->n_out;
    size_t cap = 2 * ws->max_rows;
    size_t G = K < cap - 1 ? K : cap - 1, rb0 = cap / (1 + G);
    R *X0 = (R *)ws->x0;
    const R *Y = (const R *)ws->y;
    for (size_t g0 = 0; g0 < K; g0 += G) {
        size_t gc = K - g0 < G ? K - g0 : G;
        for (size_t row = lo; row < hi; row += rb0) {
            size_t r = hi - row < rb0 ? hi - row : rb0, T = gc * r;
            for (size_t k = 0; k < gc; k++)
                for (size_t i = 0; i < r; i++) {
                    R *dst = X0 + ((1 + k) * r + i) * ni;
                    const double *src = v + ((g0 + k) * n + row + i) * nv;
                    for (size_t j = 0; j < ni; j++)
                        dst[j] = j < nv ? (R)src[j] : 0;
                }
            F(prologue)(net, ws, r, r + T, in + row * ni, emb + row * E);
            F(trunk)(net, ws, r, T, 0);
            if (out && g0 == 0)
                F(put_out)(net, ws, r, out + row * no);
            for (size_t k = 0; k < gc; k++)
                for (size_t i = 0; i < r * no; i++)
                    jv[((g0 + k) * n + row) * no + i] = (double)Y[(1 + k) * r * no + i];
        }
    }
}

#undef R
#undef F
#undef GEMM
#undef R_SQRT
#undef R_IS_F64
