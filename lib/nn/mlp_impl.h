/*
 * The precision-generic half of the network engine, included twice by mlp.c:
 * once with R = double and once with R = float. It expects R, F(name) (name
 * mangling), GEMM (bli_dgemm_ex or bli_sgemm_ex) and R_IS_F64 to be defined,
 * and undefines them at the end.
 * The activation passes are the shared ones (act_pass.h).
 * SPDX-License-Identifier: BSD-3-Clause
 */

/* C (m x n, row stride rs_c, unit column stride) = A B + beta C, where
 * op element (i, p) of A is a[i*rs_a + p*cs_a] and likewise for B. Dimensions
 * were validated when the network and workspace were created, so BLIS never
 * sees a bad argument. Strides instead of transpose flags: BLIS packs any
 * layout, and the reader sees the index map directly. */
static void F(gemm)(sd_mlp_ws *ws, size_t m, size_t n, size_t k, const R *a, size_t rs_a,
                    size_t cs_a, const R *b, size_t rs_b, size_t cs_b, R beta, R *c, size_t rs_c)
{
    R one = 1;
    ws->flops += (uint64_t)2 * m * n * k;
    GEMM(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)m, (dim_t)n, (dim_t)k, &one, (R *)a,
         (inc_t)rs_a, (inc_t)cs_a, (R *)b, (inc_t)rs_b, (inc_t)cs_b, &beta, c, (inc_t)rs_c, 1,
         NULL, &ws->rntm);
}

#include "act_pass.h"

/* The embedding inputs of slot `slot` (mlp.h): the last n_emb columns of
 * its h[0] rows (row stride n_in; primal rows, then tangent rows). */
static const R *F(emb_rows)(const sd_mlp *net, const sd_mlp_ws *ws, size_t slot)
{
    size_t ni = net->dims[0];
    return (const R *)ws->h[0] + slot * 2 * ws->block * ni + (ni - net->n_emb);
}

/* Forward one block of r rows whose inputs are already in slot `slot` of h[0]
 * (x rows, then v rows in tangent mode). The outputs are left in ws->y
 * (m r x n_out, without the output bias). */
static void F(forward_block)(const sd_mlp *net, sd_mlp_ws *ws, size_t slot, size_t r, int tangent)
{
    const R *P = (const R *)net->params;
    size_t m = tangent ? 2 : 1, L = net->n_layers;
    for (size_t l = 1; l <= L; l++) {
        size_t in = net->dims[l - 1], w = net->dims[l];
        const R *hin = (const R *)ws->h[l - 1] + slot * 2 * ws->block * in;
        const R *W = P + net->woff[l - 1];
        /* z = h W^T: element (p, j) of W^T is W[j*in + p]. */
        R *Z = l < L ? (R *)ws->h[l] + slot * 2 * ws->block * w : (R *)ws->y;
        F(gemm)(ws, m * r, w, in, hin, in, 1, W, 1, in, 0, Z, w);
        /* z += e P_l^T (and its tangent) for the hidden layers after the first. */
        if (net->n_emb && l > 1 && l < L)
            F(gemm)(ws, m * r, w, net->n_emb, F(emb_rows)(net, ws, slot), net->dims[0], 1,
                    P + net->poff[l - 1], 1, net->n_emb, 1, Z, w);
        if (l < L)
            F(activate)(net->act, tangent, r, w, Z, P + net->boff[l - 1],
                        (R *)ws->d[l] + slot * ws->block * w, (R *)ws->e[l] + slot * ws->block * w,
                        ws->n_threads);
    }
}

/* Backward one block: ws->g[0] holds the output adjoint (r rows; in tangent
 * mode followed by r rows of the tangent adjoint). gw is the weight-gradient
 * accumulator in the compute precision (the caller's vector for float64), or
 * NULL; in_grad_rows receives the input adjoint (r x n_in) if not NULL. */
static void F(backward_block)(const sd_mlp *net, sd_mlp_ws *ws, size_t slot, size_t r, int tangent,
                              R *gw, R **in_grad_block)
{
    const R *P = (const R *)net->params;
    size_t m = tangent ? 2 : 1, L = net->n_layers;
    R *G = (R *)ws->g[0], *Gn = (R *)ws->g[1];
    for (size_t l = L; l >= 1; l--) {
        size_t in = net->dims[l - 1], w = net->dims[l];
        if (l < L) {
            /* G holds (h-bar; t-bar) of layer l: turn it into (z-bar; u-bar).
             * z-bar = h-bar a' + t-bar u a''  and  u-bar = t-bar a'. */
            const R *D = (const R *)ws->d[l] + slot * ws->block * w;
            const R *E = (const R *)ws->e[l] + slot * ws->block * w;
            int nt = ws->n_threads;
            R *Gp = G;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
            for (size_t i = 0; i < r; i++) {
                R *restrict hb = Gp + i * w;
                const R *restrict dr = D + i * w;
                /* SD_SIMD: elementwise, so vectorising changes no bit. */
                if (!tangent) {
                    SD_SIMD
                    for (size_t j = 0; j < w; j++)
                        hb[j] *= dr[j];
                } else {
                    R *restrict tb = Gp + (r + i) * w;
                    const R *restrict er = E + i * w;
                    SD_SIMD
                    for (size_t j = 0; j < w; j++) {
                        R t = tb[j];
                        hb[j] = hb[j] * dr[j] + t * er[j];
                        tb[j] = t * dr[j];
                    }
                }
            }
        }
        if (gw) {
            /* dW += (z-bar; u-bar)^T (h; t): element (p, k) of the transposed
             * adjoint is G[k*w + p]. One GEMM covers both halves. */
            const R *hin = (const R *)ws->h[l - 1] + slot * 2 * ws->block * in;
            F(gemm)(ws, w, in, m * r, G, 1, w, hin, in, 1, 1, gw + net->woff[l - 1], in);
            /* The bias sees only the primal rows. Threads split the columns
             * and each column is summed over rows in order, so the thread
             * count never changes the sum. */
            R *gb = gw + net->boff[l - 1];
            const R *Gc = G;
            int nt = ws->n_threads;
#pragma omp parallel num_threads(nt) if (nt > 1 && w >= 64)
            {
                size_t T = (size_t)omp_get_num_threads(), q = (size_t)omp_get_thread_num();
                size_t j0 = w * q / T, j1 = w * (q + 1) / T;
                for (size_t i = 0; i < r; i++) {
                    const R *restrict gr = Gc + i * w;
                    /* Vectorised across columns: each column's sum still
                     * runs over rows in order. */
                    SD_SIMD
                    for (size_t j = j0; j < j1; j++)
                        gb[j] += gr[j];
                }
            }
        }
        if (net->n_emb && l > 1 && l < L) {
            size_t ne = net->n_emb;
            const R *e = F(emb_rows)(net, ws, slot);
            /* dP_l += (z-bar; u-bar)^T (e; its tangent), as dW_l. */
            if (gw)
                F(gemm)(ws, w, ne, m * r, G, 1, w, e, net->dims[0], 1, 1, gw + net->poff[l - 1],
                        ne);
            /* e-bar (primal rows) = sum over these layers, from the top, of z-bar P_l. */
            if (in_grad_block)
                F(gemm)(ws, r, ne, w, G, w, 1, P + net->poff[l - 1], ne, 1, l == L - 1 ? 0 : 1,
                        (R *)ws->ge, ne);
        }
        if (l > 1 || in_grad_block) {
            /* (h-bar; t-bar) of layer l-1 = (z-bar; u-bar) W. */
            F(gemm)(ws, m * r, in, w, G, w, 1, P + net->woff[l - 1], in, 1, 0, Gn, in);
            R *tmp = G;
            G = Gn;
            Gn = tmp;
        }
    }
    if (in_grad_block) {
        /* The embedding's adjoint: through W_1 (in G) plus through the P_l. */
        if (net->n_emb && L > 2) {
            size_t ni = net->dims[0], ne = net->n_emb;
            const R *ge = (const R *)ws->ge;
            for (size_t i = 0; i < r; i++)
                for (size_t j = 0; j < ne; j++)
                    G[i * ni + (ni - ne) + j] += ge[i * ne + j];
        }
        *in_grad_block = G;
    }
}

/* The driver of forward and jvp: converts inputs, runs blocks, writes outputs. */
static void F(forward)(const sd_mlp *net, sd_mlp_ws *ws, size_t n, const double *in,
                       const double *v, double *out, double *jv)
{
    const R *P = (const R *)net->params;
    size_t n_in = net->dims[0], n_out = net->dims[net->n_layers], B = ws->block;
    const R *bias = P + net->boff[net->n_layers - 1];
    int tangent = v != NULL;
    for (size_t k = 0, row = 0; row < n; k++, row += B) {
        size_t r = n - row < B ? n - row : B, slot = k % ws->slots;
        R *h0 = (R *)ws->h[0] + slot * 2 * B * n_in;
        for (size_t i = 0; i < r * n_in; i++)
            h0[i] = (R)in[row * n_in + i];
        if (tangent)
            for (size_t i = 0; i < r * n_in; i++)
                h0[r * n_in + i] = (R)v[row * n_in + i];
        F(forward_block)(net, ws, slot, r, tangent);
        const R *y = (const R *)ws->y;
        if (out)
            for (size_t i = 0; i < r; i++)
                for (size_t j = 0; j < n_out; j++)
                    out[(row + i) * n_out + j] = (double)(y[i * n_out + j] + bias[j]);
        if (tangent)
            for (size_t i = 0; i < r * n_out; i++)
                jv[row * n_out + i] = (double)y[r * n_out + i];
    }
}

/* The driver of both backward passes over the n rows of the stored state. */
static void F(backward)(const sd_mlp *net, sd_mlp_ws *ws, const double *g_out,
                        const double *g_tan, double *param_grad, double *in_grad)
{
    size_t n = ws->n, n_in = net->dims[0], n_out = net->dims[net->n_layers], B = ws->block;
    int tangent = ws->state == SD_MLP_STATE_TANGENT;
    R *gw = NULL;
    if (param_grad) {
#if R_IS_F64
        gw = param_grad;
#else
        gw = (R *)ws->gacc;
        memset(gw, 0, net->n_params * sizeof(R));
#endif
    }
    for (size_t k = 0, row = 0; row < n; k++, row += B) {
        size_t r = n - row < B ? n - row : B;
        R *G = (R *)ws->g[0];
        for (size_t i = 0; i < r * n_out; i++)
            G[i] = g_out ? (R)g_out[row * n_out + i] : 0;
        if (tangent)
            for (size_t i = 0; i < r * n_out; i++)
                G[r * n_out + i] = (R)g_tan[row * n_out + i];
        R *ig = NULL;
        F(backward_block)(net, ws, k, r, tangent, gw, in_grad ? &ig : NULL);
        if (in_grad)
            for (size_t i = 0; i < r * n_in; i++)
                in_grad[row * n_in + i] = (double)ig[i];
    }
#if !R_IS_F64
    if (param_grad)
        for (size_t i = 0; i < net->n_params; i++)
            param_grad[i] += (double)gw[i];
#endif
}

/* The stacked-tangent pass (issue 14, sd_mlp_jvp_multi): per row block of rb
 * rows, the input slab of h[0] holds the rb primal rows and then G tangent
 * blocks of rb rows each (tangent k's first nv columns from v, the rest
 * zero), so each layer is ONE GEMM of (1 + G) rb rows; the activation pass
 * runs on the primal rows (act and act' as in forward) and each tangent row
 * is then multiplied by act' elementwise, as the jvp pass does (d u). No
 * backward state is kept. Tangent k's input row i is v[(k n + i) nv ..] and
 * its output row jv[(k n + i) n_out ..]. */
static void F(forward_multi)(const sd_mlp *net, sd_mlp_ws *ws, size_t n, const double *in,
                             size_t K, size_t nv, const double *v, double *out, double *jv)
{
    const R *P = (const R *)net->params;
    size_t n_in = net->dims[0], n_out = net->dims[net->n_layers], L = net->n_layers;
    size_t cap = 2 * ws->block; /* rows of ws->y, the smallest stacked buffer */
    size_t G = K < cap - 1 ? K : cap - 1, rb0 = cap / (1 + G);
    const R *bias = P + net->boff[L - 1];
    int nt = ws->n_threads;
    for (size_t g0 = 0; g0 < K; g0 += G) {
        size_t gc = K - g0 < G ? K - g0 : G;
        for (size_t row = 0; row < n; row += rb0) {
            size_t rb = n - row < rb0 ? n - row : rb0, m = (1 + gc) * rb;
            R *h0 = (R *)ws->h[0];
            for (size_t i = 0; i < rb * n_in; i++)
                h0[i] = (R)in[row * n_in + i];
            for (size_t k = 0; k < gc; k++)
                for (size_t i = 0; i < rb; i++) {
                    R *dst = h0 + ((1 + k) * rb + i) * n_in;
                    const double *src = v + ((g0 + k) * n + row + i) * nv;
                    for (size_t j = 0; j < n_in; j++)
                        dst[j] = j < nv ? (R)src[j] : 0;
                }
            for (size_t l = 1; l <= L; l++) {
                size_t win = net->dims[l - 1], w = net->dims[l];
                const R *hin = (const R *)ws->h[l - 1];
                R *Z = l < L ? (R *)ws->h[l] : (R *)ws->y;
                F(gemm)(ws, m, w, win, hin, win, 1, P + net->woff[l - 1], 1, win, 0, Z, w);
                /* z += e P_l^T on the primal rows of the hidden layers after the
                 * first (forward_block's term); the tangents are in x only, so
                 * their embedding columns, and this term's tangent, are zero. */
                if (net->n_emb && l > 1 && l < L)
                    F(gemm)(ws, rb, w, net->n_emb, h0 + (n_in - net->n_emb), n_in, 1,
                            P + net->poff[l - 1], 1, net->n_emb, 1, Z, w);
                if (l == L)
                    break;
                R *Dv = (R *)ws->d[l];
                F(activate)(net->act, 0, rb, w, Z, P + net->boff[l - 1], Dv, (R *)ws->e[l], nt);
                F(times_act_prime)(rb, gc * rb, w, Z, Dv, nt);
            }
            const R *y = (const R *)ws->y;
            if (out && g0 == 0)
                for (size_t i = 0; i < rb; i++)
                    for (size_t j = 0; j < n_out; j++)
                        out[(row + i) * n_out + j] = (double)(y[i * n_out + j] + bias[j]);
            for (size_t k = 0; k < gc; k++)
                for (size_t i = 0; i < rb * n_out; i++)
                    jv[((g0 + k) * n + row) * n_out + i] = (double)y[((1 + k) * rb) * n_out + i];
        }
    }
}

#undef R
#undef F
#undef GEMM
#undef R_IS_F64
