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
static void F(gemm)(sd_mlp_lane *ln, size_t m, size_t n, size_t k, const R *a, size_t rs_a,
                    size_t cs_a, const R *b, size_t rs_b, size_t cs_b, R beta, R *c, size_t rs_c)
{
    R one = 1;
    ln->flops += (uint64_t)2 * m * n * k;
    GEMM(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)m, (dim_t)n, (dim_t)k, &one, (R *)a,
         (inc_t)rs_a, (inc_t)cs_a, (R *)b, (inc_t)rs_b, (inc_t)cs_b, &beta, c, (inc_t)rs_c, 1,
         NULL, &ln->rntm);
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
 * (x rows, then v rows in tangent mode), on lane ln. The outputs are left in
 * ln->y (m r x n_out, without the output bias). Without keep (not in tangent
 * mode) the slot's act' rows are not written: no backward state. */
static void F(forward_block)(const sd_mlp *net, const sd_mlp_ws *ws, sd_mlp_lane *ln, size_t slot,
                             size_t r, int tangent, int keep)
{
    const R *P = (const R *)net->params;
    size_t m = tangent ? 2 : 1, L = net->n_layers;
    for (size_t l = 1; l <= L; l++) {
        size_t in = net->dims[l - 1], w = net->dims[l];
        const R *hin = (const R *)ws->h[l - 1] + slot * 2 * ws->block * in;
        const R *W = P + net->woff[l - 1];
        /* z = h W^T: element (p, j) of W^T is W[j*in + p]. */
        R *Z = l < L ? (R *)ws->h[l] + slot * 2 * ws->block * w : (R *)ln->y;
        F(gemm)(ln, m * r, w, in, hin, in, 1, W, 1, in, 0, Z, w);
        /* z += e P_l^T (and its tangent) for the hidden layers after the first. */
        if (net->n_emb && l > 1 && l < L)
            F(gemm)(ln, m * r, w, net->n_emb, F(emb_rows)(net, ws, slot), net->dims[0], 1,
                    P + net->poff[l - 1], 1, net->n_emb, 1, Z, w);
        if (l < L)
            F(activate)(net->act, tangent, r, w, Z, P + net->boff[l - 1],
                        tangent || keep ? (R *)ws->d[l] + slot * ws->block * w : NULL,
                        (R *)ws->e[l] + slot * ws->block * w);
    }
}

/* Backward one block on lane ln: ln->g[0] holds the output adjoint (r rows;
 * in tangent mode followed by r rows of the tangent adjoint). gw (ln->grad or
 * NULL) receives the block's parameter gradient, from zero; in_grad_block
 * receives the input adjoint rows (r x n_in) if not NULL. */
static void F(backward_block)(const sd_mlp *net, const sd_mlp_ws *ws, sd_mlp_lane *ln, size_t slot,
                              size_t r, int tangent, R *gw, R **in_grad_block)
{
    const R *P = (const R *)net->params;
    size_t m = tangent ? 2 : 1, L = net->n_layers;
    R *G = (R *)ln->g[0], *Gn = (R *)ln->g[1];
    for (size_t l = L; l >= 1; l--) {
        size_t in = net->dims[l - 1], w = net->dims[l];
        if (l < L) {
            /* G holds (h-bar; t-bar) of layer l: turn it into (z-bar; u-bar).
             * z-bar = h-bar a' + t-bar u a''  and  u-bar = t-bar a'. */
            const R *D = (const R *)ws->d[l] + slot * ws->block * w;
            const R *E = (const R *)ws->e[l] + slot * ws->block * w;
            for (size_t i = 0; i < r; i++) {
                R *restrict hb = G + i * w;
                const R *restrict dr = D + i * w;
                /* SD_SIMD: elementwise, so vectorising changes no bit. */
                if (!tangent) {
                    SD_SIMD
                    for (size_t j = 0; j < w; j++)
                        hb[j] *= dr[j];
                } else {
                    R *restrict tb = G + (r + i) * w;
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
            /* dW = (z-bar; u-bar)^T (h; t): element (p, k) of the transposed
             * adjoint is G[k*w + p]. One GEMM covers both halves. */
            const R *hin = (const R *)ws->h[l - 1] + slot * 2 * ws->block * in;
            F(gemm)(ln, w, in, m * r, G, 1, w, hin, in, 1, 0, gw + net->woff[l - 1], in);
            /* The bias sees only the primal rows, summed over them in order
             * (vectorised across columns). */
            R *restrict gb = gw + net->boff[l - 1];
            for (size_t j = 0; j < w; j++)
                gb[j] = 0;
            for (size_t i = 0; i < r; i++) {
                const R *restrict gr = G + i * w;
                SD_SIMD
                for (size_t j = 0; j < w; j++)
                    gb[j] += gr[j];
            }
        }
        if (net->n_emb && l > 1 && l < L) {
            size_t ne = net->n_emb;
            const R *e = F(emb_rows)(net, ws, slot);
            /* dP_l = (z-bar; u-bar)^T (e; its tangent), as dW_l. */
            if (gw)
                F(gemm)(ln, w, ne, m * r, G, 1, w, e, net->dims[0], 1, 0, gw + net->poff[l - 1],
                        ne);
            /* e-bar (primal rows) = sum over these layers, from the top, of z-bar P_l. */
            if (in_grad_block)
                F(gemm)(ln, r, ne, w, G, w, 1, P + net->poff[l - 1], ne, 1, l == L - 1 ? 0 : 1,
                        (R *)ln->ge, ne);
        }
        if (l > 1 || in_grad_block) {
            /* (h-bar; t-bar) of layer l-1 = (z-bar; u-bar) W. */
            F(gemm)(ln, m * r, in, w, G, w, 1, P + net->woff[l - 1], in, 1, 0, Gn, in);
            R *tmp = G;
            G = Gn;
            Gn = tmp;
        }
    }
    if (in_grad_block) {
        /* The embedding's adjoint: through W_1 (in G) plus through the P_l. */
        if (net->n_emb && L > 2) {
            size_t ni = net->dims[0], ne = net->n_emb;
            const R *ge = (const R *)ln->ge;
            for (size_t i = 0; i < r; i++)
                for (size_t j = 0; j < ne; j++)
                    G[i * ni + (ni - ne) + j] += ge[i * ne + j];
        }
        *in_grad_block = G;
    }
}

/* Row block k of forward or jvp (sd_nn_part_fn): converts its inputs, runs
 * it on lane q, writes its outputs. Its state stays in slot k when it is
 * kept (c->stored), else the lane's own slot q is scratch and no act' is
 * formed. */
static void F(forward_part)(void *ctx, size_t k, int q)
{
    const mlp_pass *c = ctx;
    const sd_mlp *net = c->net;
    const sd_mlp_ws *ws = c->ws;
    sd_mlp_lane *ln = &ws->lane[q];
    size_t n_in = net->dims[0], n_out = net->dims[net->n_layers], B = ws->block;
    size_t row = k * B, r = c->n - row < B ? c->n - row : B, slot = c->stored ? k : (size_t)q;
    const R *bias = (const R *)net->params + net->boff[net->n_layers - 1];
    R *h0 = (R *)ws->h[0] + slot * 2 * B * n_in;
    for (size_t i = 0; i < r * n_in; i++)
        h0[i] = (R)c->in[row * n_in + i];
    if (c->v)
        for (size_t i = 0; i < r * n_in; i++)
            h0[r * n_in + i] = (R)c->v[row * n_in + i];
    F(forward_block)(net, ws, ln, slot, r, c->v != NULL, c->stored);
    const R *y = (const R *)ln->y;
    if (c->out)
        for (size_t i = 0; i < r; i++)
            for (size_t j = 0; j < n_out; j++)
                c->out[(row + i) * n_out + j] = (double)(y[i * n_out + j] + bias[j]);
    if (c->v)
        for (size_t i = 0; i < r * n_out; i++)
            c->jv[row * n_out + i] = (double)y[r * n_out + i];
}

/* The driver of forward and jvp: the row blocks shared among threads. With
 * keep the state is kept when the batch fits the workspace. */
static void F(forward)(const sd_mlp *net, sd_mlp_ws *ws, size_t n, const double *in,
                       const double *v, double *out, double *jv, int keep)
{
    size_t blocks = n / ws->block + (n % ws->block != 0);
    mlp_pass c = {.net = net, .ws = ws, .n = n, .in = in, .v = v, .out = out, .jv = jv,
                  .stored = keep && n <= ws->slots * ws->block};
    sd_nn_split_run(sd_nn_split_threads(ws->n_threads, blocks, ws->lanes), blocks,
                    F(forward_part), &c);
}

/* Row block k of a backward pass on lane q (sd_nn_part_fn): its parameter
 * gradient into the lane's buffer, its input adjoint into in_grad. */
static void F(backward_part)(void *ctx, size_t k, int q)
{
    const mlp_pass *c = ctx;
    const sd_mlp *net = c->net;
    const sd_mlp_ws *ws = c->ws;
    sd_mlp_lane *ln = &ws->lane[q];
    size_t n_in = net->dims[0], n_out = net->dims[net->n_layers], B = ws->block;
    size_t row = k * B, r = c->n - row < B ? c->n - row : B;
    R *G = (R *)ln->g[0];
    for (size_t i = 0; i < r * n_out; i++)
        G[i] = c->g_out ? (R)c->g_out[row * n_out + i] : 0;
    if (c->g_tan)
        for (size_t i = 0; i < r * n_out; i++)
            G[r * n_out + i] = (R)c->g_tan[row * n_out + i];
    R *ig = NULL;
    F(backward_block)(net, ws, ln, k, r, c->g_tan != NULL, c->param_grad ? (R *)ln->grad : NULL,
                      c->in_grad ? &ig : NULL);
    if (c->in_grad)
        for (size_t i = 0; i < r * n_in; i++)
            c->in_grad[row * n_in + i] = (double)ig[i];
}

/* Add lanes 0 .. count-1's block gradients, in order, into param_grad[lo, hi)
 * (sd_nn_reduce_fn). */
static void F(backward_reduce)(void *ctx, size_t p0, size_t count, size_t lo, size_t hi)
{
    (void)p0;
    const mlp_pass *c = ctx;
    for (size_t b = 0; b < count; b++) {
        const R *restrict g = (const R *)c->ws->lane[b].grad;
        double *restrict pg = c->param_grad;
        SD_SIMD
        for (size_t i = lo; i < hi; i++)
            pg[i] += (double)g[i];
    }
}

/* The driver of both backward passes over the n rows of the stored state:
 * blocks shared among threads, their parameter gradients added into
 * param_grad in block order (split.h), so the thread count changes no bit. */
static void F(backward)(const sd_mlp *net, sd_mlp_ws *ws, const double *g_out,
                        const double *g_tan, double *param_grad, double *in_grad)
{
    size_t n = ws->n, blocks = n / ws->block + (n % ws->block != 0);
    int tangent = ws->state == SD_MLP_STATE_TANGENT;
    mlp_pass c = {.net = net, .ws = ws, .n = n, .g_out = g_out, .g_tan = tangent ? g_tan : NULL,
                  .param_grad = param_grad, .in_grad = in_grad};
    int nt = sd_nn_split_threads(ws->n_threads, blocks, ws->lanes);
    if (param_grad)
        sd_nn_split_sum(nt, blocks, net->n_params, F(backward_part), F(backward_reduce), &c);
    else
        sd_nn_split_run(nt, blocks, F(backward_part), &c);
}

/* One part of the stacked-tangent pass (issue 14, sd_mlp_jvp_multi) on lane q
 * (sd_nn_part_fn): part p is row block p % c->nrb (of c->rb0 rows) of tangent
 * group p / c->nrb (of c->G tangents). Its input slab, the h[0] rows of the
 * lane's slot q, holds the rb primal rows and then the group's tangent
 * blocks of rb rows each (tangent k's first nv columns from v, the rest
 * zero), so each layer is ONE GEMM of (1 + gc) rb rows; the activation pass
 * runs on the primal rows (act and act' as in forward) and each tangent row
 * is then multiplied by act' elementwise, as the jvp pass does (d u). No
 * backward state is kept. Tangent k's input row i is v[(k n + i) nv ..] and
 * its output row jv[(k n + i) n_out ..]. */
static void F(multi_part)(void *ctx, size_t p, int q)
{
    const mlp_pass *c = ctx;
    const sd_mlp *net = c->net;
    const sd_mlp_ws *ws = c->ws;
    sd_mlp_lane *ln = &ws->lane[q];
    const R *P = (const R *)net->params;
    size_t n_in = net->dims[0], n_out = net->dims[net->n_layers], L = net->n_layers;
    size_t n = c->n, nv = c->nv, slot = (size_t)q, B = ws->block;
    size_t g0 = p / c->nrb * c->G, row = p % c->nrb * c->rb0;
    size_t gc = c->K - g0 < c->G ? c->K - g0 : c->G;
    size_t rb = n - row < c->rb0 ? n - row : c->rb0, m = (1 + gc) * rb;
    const R *bias = P + net->boff[L - 1];
    R *h0 = (R *)ws->h[0] + slot * 2 * B * n_in;
    for (size_t i = 0; i < rb * n_in; i++)
        h0[i] = (R)c->in[row * n_in + i];
    for (size_t k = 0; k < gc; k++)
        for (size_t i = 0; i < rb; i++) {
            R *dst = h0 + ((1 + k) * rb + i) * n_in;
            const double *src = c->v + ((g0 + k) * n + row + i) * nv;
            for (size_t j = 0; j < n_in; j++)
                dst[j] = j < nv ? (R)src[j] : 0;
        }
    for (size_t l = 1; l <= L; l++) {
        size_t win = net->dims[l - 1], w = net->dims[l];
        const R *hin = (const R *)ws->h[l - 1] + slot * 2 * B * win;
        R *Z = l < L ? (R *)ws->h[l] + slot * 2 * B * w : (R *)ln->y;
        F(gemm)(ln, m, w, win, hin, win, 1, P + net->woff[l - 1], 1, win, 0, Z, w);
        /* z += e P_l^T on the primal rows of the hidden layers after the
         * first (forward_block's term); the tangents are in x only, so
         * their embedding columns, and this term's tangent, are zero. */
        if (net->n_emb && l > 1 && l < L)
            F(gemm)(ln, rb, w, net->n_emb, h0 + (n_in - net->n_emb), n_in, 1,
                    P + net->poff[l - 1], 1, net->n_emb, 1, Z, w);
        if (l == L)
            break;
        R *Dv = (R *)ws->d[l] + slot * B * w;
        F(activate)(net->act, 0, rb, w, Z, P + net->boff[l - 1], Dv,
                    (R *)ws->e[l] + slot * B * w);
        F(times_act_prime)(rb, gc * rb, w, Z, Dv);
    }
    const R *y = (const R *)ln->y;
    if (c->out && g0 == 0)
        for (size_t i = 0; i < rb; i++)
            for (size_t j = 0; j < n_out; j++)
                c->out[(row + i) * n_out + j] = (double)(y[i * n_out + j] + bias[j]);
    for (size_t k = 0; k < gc; k++)
        for (size_t i = 0; i < rb * n_out; i++)
            c->jv[((g0 + k) * n + row) * n_out + i] = (double)y[((1 + k) * rb) * n_out + i];
}

/* The stacked-tangent pass: row blocks of 2 block / (1 + G) rows (the
 * stacked rows fill a slot's 2 x block rows), tangents in groups of G, the
 * (group, row block) parts shared among threads. */
static void F(forward_multi)(const sd_mlp *net, sd_mlp_ws *ws, size_t n, const double *in,
                             size_t K, size_t nv, const double *v, double *out, double *jv)
{
    size_t cap = 2 * ws->block; /* rows of a lane's y, the smallest stacked buffer */
    size_t G = K < cap - 1 ? K : cap - 1, rb0 = cap / (1 + G);
    size_t nrb = n / rb0 + (n % rb0 != 0), groups = K / G + (K % G != 0);
    mlp_pass c = {.net = net, .ws = ws, .n = n, .in = in, .v = v, .out = out, .jv = jv,
                  .K = K, .nv = nv, .G = G, .rb0 = rb0, .nrb = nrb};
    sd_nn_split_run(sd_nn_split_threads(ws->n_threads, groups * nrb, ws->lanes), groups * nrb,
                    F(multi_part), &c);
}

#undef R
#undef F
#undef GEMM
#undef R_IS_F64
