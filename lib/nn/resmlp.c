/*
 * The residual network engine (resmlp.h): creation, parameters, workspaces
 * and entry points; the arithmetic is in resmlp_impl.h, instantiated for
 * double and float below.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "resmlp.h"

#include <blis.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "internal.h"
#include "split.h"

/* A call's rows are cut into ceil(n / SD_RESMLP_PART_ROWS) parts of equal
 * size (within a row), whatever the thread count; threads take whole parts
 * (split.h). */
#define SD_RESMLP_PART_ROWS 128

enum { SD_RESMLP_STATE_NONE = 0, SD_RESMLP_STATE_FORWARD = 1, SD_RESMLP_STATE_TANGENT = 2 };

struct sd_resmlp {
    sd_act act;
    sd_mlp_prec prec;
    size_t n_in, E, W, B, n_out, n_params;
    /* offsets in the flat vector (resmlp.h) */
    size_t o_win, o_bin, o_blk, blk, o_P, o_p, o_gf, o_wout;
    void *params; /* n_params values of the compute type */
};

/* One thread's share of a call (split.h): a part's parameter gradient and
 * GEMM flops. */
typedef struct sd_resmlp_lane {
    double *grad;   /* n_params: one part's parameter gradient */
    void *gacc;     /* n_params (float32 networks): its accumulator */
    uint64_t flops;
} sd_resmlp_lane;

struct sd_resmlp_ws {
    const sd_resmlp *net;
    size_t max_rows;
    int n_threads;
    size_t lanes;   /* min(processors, parts of max_rows rows) */
    sd_resmlp_lane *lane;
    rntm_t rntm;    /* one BLIS thread, small-matrix kernels off */
    int state;
    size_t n;
    uint64_t flops;
    void *mem; /* one block holding everything below */
    /* 2 rows per row (primal, then tangent) unless noted "r" */
    void *x0;  /* x n_in */
    void *emb; /* r x E */
    void *ep;  /* r x B W */
    void *h;   /* x W: the residual stream */
    /* per block and (index B) the final LayerNorm */
    void *xh[SD_RESMLP_MAX_BLOCKS + 1]; /* x W: xhat; dh */
    void *nn[SD_RESMLP_MAX_BLOCKS + 1]; /* x W: LN output and its tangent */
    void *dx[SD_RESMLP_MAX_BLOCKS + 1]; /* r x W: dxhat */
    void *rs[SD_RESMLP_MAX_BLOCKS + 1]; /* r: rho */
    void *aa[SD_RESMLP_MAX_BLOCKS];     /* x W: the block's a and its tangent */
    void *dd[SD_RESMLP_MAX_BLOCKS];     /* r x W: act' */
    void *ee[SD_RESMLP_MAX_BLOCKS];     /* r x W: u act'' */
    void *y;                            /* x n_out */
    void *g, *g2, *g3;                  /* x W: adjoints */
    void *gy;                           /* x n_out */
    void *ga;                           /* r x B W: a-bar of every block */
    void *ge;                           /* r x E */
    void *gin;                          /* r x n_in */
    void *gacc;                         /* a part's view: its lane's */
};

/* Where block b's parameters are in the flat vector (resmlp.h's order),
 * for the parameters and for every gradient vector alike. */
typedef struct sd_resmlp_block {
    size_t g, beta, W1, b1, W2, b2;
} sd_resmlp_block;

static sd_resmlp_block block_at(const sd_resmlp *net, size_t b)
{
    size_t W = net->W;
    sd_resmlp_block k;
    k.g = net->o_blk + b * net->blk;
    k.beta = k.g + W;
    k.W1 = k.beta + W;
    k.b1 = k.W1 + W * W;
    k.W2 = k.b1 + W;
    k.b2 = k.W2 + W * W;
    return k;
}

#define R double
#define F(name) name##_f64
#define GEMM bli_dgemm_ex
#define R_SQRT sqrt
#define R_IS_F64 1
#include "resmlp_impl.h"

#define R float
#define F(name) name##_f32
#define GEMM bli_sgemm_ex
#define R_SQRT sqrtf
#define R_IS_F64 0
#include "resmlp_impl.h"

static size_t elem_size(const sd_resmlp *net)
{
    return net->prec == SD_MLP_F32 ? sizeof(float) : sizeof(double);
}

uint64_t sd_resmlp_count(size_t n_in, size_t n_emb, size_t width, size_t blocks, size_t n_out)
{
    uint64_t W = width, B = blocks;
    return W * n_in + W + B * (4 * W + 2 * W * W) + B * W * n_emb + B * W + 2 * W +
           (uint64_t)n_out * W + n_out;
}

static void set_param(sd_resmlp *net, size_t i, double v)
{
    if (net->prec == SD_MLP_F32)
        ((float *)net->params)[i] = (float)v;
    else
        ((double *)net->params)[i] = v;
}

/* cnt normals of (seed, stream) times scale into the parameters at off. */
static void init_normal(sd_resmlp *net, size_t off, size_t cnt, double scale, uint64_t seed,
                        uint64_t stream, double *tmp)
{
    sd_rng_normal(seed, stream, SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, 0), cnt, tmp);
    for (size_t i = 0; i < cnt; i++)
        set_param(net, off + i, scale * tmp[i]);
}

int sd_resmlp_create(sd_resmlp **out, size_t n_in, size_t n_emb, size_t width, size_t blocks,
                     size_t n_out, sd_act act, sd_mlp_prec prec, uint64_t seed)
{
    SD_TRY(sd_check_ptr(out, "out"));
    *out = NULL;
    if (n_in == 0 || n_emb == 0 || width == 0 || n_out == 0 || n_in > SD_MLP_MAX_WIDTH ||
        n_emb > SD_MLP_MAX_WIDTH || n_out > SD_MLP_MAX_WIDTH || width > SD_RESMLP_MAX_WIDTH ||
        blocks > SD_RESMLP_MAX_BLOCKS)
        return sd_fail(SCORESDE_EINVAL,
                       "a residual network of %zu inputs, %zu features, width %zu, %zu blocks "
                       "and %zu outputs is outside the engine's limits",
                       n_in, n_emb, width, blocks, n_out);
    if ((unsigned)act > SD_ACT_LAST)
        return sd_fail(SCORESDE_EINVAL, "activation (%d) is not a known activation", (int)act);
    if ((unsigned)prec > SD_MLP_F32)
        return sd_fail(SCORESDE_EINVAL, "precision (%d) is not a known precision", (int)prec);
    sd_resmlp *net = sd_calloc(1, sizeof *net);
    if (!net)
        return SCORESDE_ENOMEM;
    size_t W = width, B = blocks;
    net->act = act;
    net->prec = prec;
    net->n_in = n_in;
    net->E = n_emb;
    net->W = W;
    net->B = B;
    net->n_out = n_out;
    net->o_win = 0;
    net->o_bin = W * n_in;
    net->o_blk = net->o_bin + W;
    net->blk = 4 * W + 2 * W * W;
    net->o_P = net->o_blk + B * net->blk;
    net->o_p = net->o_P + B * W * n_emb;
    net->o_gf = net->o_p + B * W;
    net->o_wout = net->o_gf + 2 * W;
    net->n_params = net->o_wout + n_out * W + n_out;
    size_t big = W * n_in;
    if (W * W > big)
        big = W * W;
    if (B * W * n_emb > big)
        big = B * W * n_emb;
    net->params = sd_calloc(net->n_params, elem_size(net));
    double *tmp = sd_malloc(big * sizeof(double));
    if (!net->params || !tmp) {
        sd_free(tmp);
        sd_resmlp_free(net);
        return SCORESDE_ENOMEM;
    }
    init_normal(net, net->o_win, W * n_in, sqrt(1.0 / (double)n_in), seed, 0, tmp);
    double c = act == SD_ACT_RELU ? 2.0 : 1.0;
    for (size_t b = 0; b < B; b++) {
        sd_resmlp_block k = block_at(net, b);
        for (size_t j = 0; j < W; j++)
            set_param(net, k.g + j, 1.0); /* LayerNorm scale */
        init_normal(net, k.W1, W * W, sqrt(c / (double)W), seed, 1 + 2 * b, tmp);
        init_normal(net, k.W2, W * W, sqrt(1.0 / (double)W), seed, 2 + 2 * b, tmp);
    }
    init_normal(net, net->o_P, B * W * n_emb, sqrt(1.0 / (double)n_emb), seed, 1 + 2 * B, tmp);
    for (size_t j = 0; j < W; j++)
        set_param(net, net->o_gf + j, 1.0);
    /* W_out, b_out and every bias and shift stay zero (calloc) */
    sd_free(tmp);
    *out = net;
    return SCORESDE_OK;
}

void sd_resmlp_free(sd_resmlp *net)
{
    if (!net)
        return;
    sd_free(net->params);
    sd_free(net);
}

size_t sd_resmlp_num_params(const sd_resmlp *net) { return net->n_params; }

void sd_resmlp_get_params(const sd_resmlp *net, double *params)
{
    for (size_t i = 0; i < net->n_params; i++)
        params[i] = net->prec == SD_MLP_F32 ? (double)((const float *)net->params)[i]
                                            : ((const double *)net->params)[i];
}

int sd_resmlp_set_params(sd_resmlp *net, const double *params)
{
    for (size_t i = 0; i < net->n_params; i++) {
        if (!isfinite(params[i]))
            return sd_fail(SCORESDE_EINVAL, "params[%zu] (%g) is not finite", i, params[i]);
        if (net->prec == SD_MLP_F32 && !(fabs(params[i]) < SD_FLOAT32_LIMIT))
            return sd_fail(SCORESDE_EINVAL,
                           "params[%zu] (%g) overflows the network's float32 precision", i,
                           params[i]);
    }
    for (size_t i = 0; i < net->n_params; i++)
        set_param(net, i, params[i]);
    return SCORESDE_OK;
}

void sd_resmlp_ws_free(sd_resmlp_ws *ws)
{
    if (!ws)
        return;
    for (size_t q = 0; ws->lane && q < ws->lanes; q++) {
        sd_free(ws->lane[q].grad);
        sd_free(ws->lane[q].gacc);
    }
    sd_free(ws->lane);
    sd_free(ws->mem);
    sd_free(ws);
}

void sd_resmlp_ws_set_threads(sd_resmlp_ws *ws, int n_threads)
{
    ws->n_threads = sd_nn_granted_threads(n_threads);
}

/* Carve `count` elements (rounded up to 8, so every array starts 64-byte
 * aligned in float64) from the block at *at; with base NULL only count. */
static void *carve(char *base, size_t *at, size_t count, size_t es)
{
    size_t n = (count + 7) / 8 * 8;
    void *p = base ? base + *at : NULL;
    *at += n * es;
    return p;
}

static void layout(sd_resmlp_ws *ws, char *base, size_t *total)
{
    const sd_resmlp *net = ws->net;
    size_t r = ws->max_rows, r2 = 2 * r, W = net->W, B = net->B, es = elem_size(net), at = 0;
    ws->x0 = carve(base, &at, r2 * net->n_in, es);
    ws->emb = carve(base, &at, r * net->E, es);
    ws->ep = carve(base, &at, r * B * W, es);
    ws->h = carve(base, &at, r2 * W, es);
    for (size_t b = 0; b <= B; b++) {
        ws->xh[b] = carve(base, &at, r2 * W, es);
        ws->nn[b] = carve(base, &at, r2 * W, es);
        ws->dx[b] = carve(base, &at, r * W, es);
        ws->rs[b] = carve(base, &at, r, es);
        if (b < B) {
            ws->aa[b] = carve(base, &at, r2 * W, es);
            ws->dd[b] = carve(base, &at, r * W, es);
            ws->ee[b] = carve(base, &at, r * W, es);
        }
    }
    ws->y = carve(base, &at, r2 * net->n_out, es);
    ws->g = carve(base, &at, r2 * W, es);
    ws->g2 = carve(base, &at, r2 * W, es);
    ws->g3 = carve(base, &at, r2 * W, es);
    ws->gy = carve(base, &at, r2 * net->n_out, es);
    ws->ga = carve(base, &at, r * B * W, es);
    ws->ge = carve(base, &at, r * net->E, es);
    ws->gin = carve(base, &at, r * net->n_in, es);
    *total = at;
}

static size_t n_parts(size_t n)
{
    return n / SD_RESMLP_PART_ROWS + (n % SD_RESMLP_PART_ROWS != 0);
}

/* *pw = ws viewed from one part of r rows (split.h): the arrays with two rows
 * a row (primal, then tangent) from row o2 on, the others from row o, the
 * lane's gradient accumulator, one thread; max_rows r2 / 2 for r2 rows of
 * stacked room. */
static void part_view(const sd_resmlp_ws *ws, size_t o2, size_t o, size_t r, size_t r2,
                      const sd_resmlp_lane *ln, sd_resmlp_ws *pw)
{
    const sd_resmlp *net = ws->net;
    size_t es = elem_size(net), W = net->W, B = net->B;
#define SD_AT(field, row, width) pw->field = (char *)ws->field + (row) * (width) * es
    *pw = *ws;
    SD_AT(x0, o2, net->n_in);
    SD_AT(emb, o, net->E);
    SD_AT(ep, o, B * W);
    SD_AT(h, o2, W);
    for (size_t b = 0; b <= B; b++) {
        SD_AT(xh[b], o2, W);
        SD_AT(nn[b], o2, W);
        SD_AT(dx[b], o, W);
        SD_AT(rs[b], o, 1);
        if (b < B) {
            SD_AT(aa[b], o2, W);
            SD_AT(dd[b], o, W);
            SD_AT(ee[b], o, W);
        }
    }
    SD_AT(y, o2, net->n_out);
    SD_AT(g, o2, W);
    SD_AT(g2, o2, W);
    SD_AT(g3, o2, W);
    SD_AT(gy, o2, net->n_out);
    SD_AT(ga, o, B * W);
    SD_AT(ge, o, net->E);
    SD_AT(gin, o, net->n_in);
#undef SD_AT
    pw->gacc = ln->gacc;
    pw->n = r;
    pw->max_rows = r2 / 2;
    pw->n_threads = 1;
    pw->flops = 0;
}

int sd_resmlp_ws_create(const sd_resmlp *net, size_t max_rows, int n_threads,
                        sd_resmlp_ws **out)
{
    *out = NULL;
    if (max_rows == 0 || max_rows > ((size_t)1 << 20) || n_threads < 1 || n_threads > 1024)
        return sd_fail(SCORESDE_EINVAL,
                       "a residual network workspace needs 1 .. 2^20 rows (%zu) and 1 .. 1024 "
                       "threads (%d)",
                       max_rows, n_threads);
    sd_resmlp_ws *ws = sd_calloc(1, sizeof *ws);
    if (!ws)
        return SCORESDE_ENOMEM;
    ws->net = net;
    ws->max_rows = max_rows;
    ws->n_threads = sd_nn_granted_threads(n_threads);
    bli_rntm_init(&ws->rntm);
    bli_rntm_set_num_threads(1, &ws->rntm);
    /* BLIS's small-matrix (sup) kernels pick their layout, and with it the
     * order of a k sum, from the shape and the thread count: a row's result
     * then depended on how many rows came with it (measured: 3 of 15
     * elements of a 5 x 3 product differed from the same rows in a 10 x 3
     * one). The conventional path computes every element alike. */
    bli_rntm_disable_l3_sup(&ws->rntm);
    /* Every size is at most 2^21 rows times a width product the network's
     * limits keep below 2^40 elements: the sum fits 64 bits. */
    size_t total;
    layout(ws, NULL, &total);
    ws->mem = sd_malloc(total);
    if (!ws->mem) {
        sd_free(ws);
        return sd_fail(SCORESDE_ENOMEM, "out of memory for a residual network workspace of %zu "
                                        "bytes", total);
    }
    layout(ws, ws->mem, &total);
    size_t procs = (size_t)omp_get_num_procs(), parts = n_parts(max_rows);
    ws->lanes = procs < 1 ? 1 : procs < parts ? procs : parts;
    ws->lane = sd_calloc(ws->lanes, sizeof *ws->lane);
    int rc = ws->lane ? SCORESDE_OK : SCORESDE_ENOMEM;
    for (size_t q = 0; rc == SCORESDE_OK && q < ws->lanes; q++) {
        sd_resmlp_lane *ln = &ws->lane[q];
        ln->grad = sd_malloc(net->n_params * sizeof(double));
        ln->gacc = net->prec == SD_MLP_F32 ? sd_malloc(net->n_params * sizeof(float)) : NULL;
        if (!ln->grad || (net->prec == SD_MLP_F32 && !ln->gacc))
            rc = SCORESDE_ENOMEM;
    }
    if (rc != SCORESDE_OK) {
        sd_resmlp_ws_free(ws);
        return sd_fail(rc, "out of memory for a residual network workspace's gradients");
    }
    *out = ws;
    return SCORESDE_OK;
}

uint64_t sd_resmlp_ws_gemm_flops(const sd_resmlp_ws *ws)
{
    uint64_t f = 0;
    for (size_t q = 0; q < ws->lanes; q++)
        f += ws->lane[q].flops;
    return f;
}

static int check_rows(const sd_resmlp_ws *ws, size_t n)
{
    if (n == 0 || n > ws->max_rows)
        return sd_fail(SCORESDE_EINVAL, "n (%zu) is not between 1 and the workspace's %zu rows",
                       n, ws->max_rows);
    return SCORESDE_OK;
}

/* The arguments of one call, shared by its parts. */
typedef struct res_pass {
    const sd_resmlp *net;
    const sd_resmlp_ws *ws;
    size_t n, parts;
    const double *in, *emb, *v;
    double *out, *jv;
    size_t K, nv;                 /* the stacked pass (K > 0) */
    int keep;                     /* forward, jvp: keep the backward state */
    const double *g_out, *g_tan;
    double *param_grad, *emb_grad, *in_grad;
} res_pass;

/* Part p's rows lo .. hi-1 (equal parts, split.h). */
static void part_rows(const res_pass *c, size_t p, size_t *lo, size_t *hi)
{
    *lo = c->n * p / c->parts;
    *hi = c->n * (p + 1) / c->parts;
}

#define SD_ROWS(ptr, row, width) ((ptr) ? (ptr) + (row) * (width) : NULL)

/* Part p of forward, jvp or the stacked pass on lane q (sd_nn_part_fn). The
 * stacked pass's part gets the share of the 2 max_rows stacked rows its
 * rows have. */
static void forward_part(void *ctx, size_t p, int q)
{
    const res_pass *c = ctx;
    const sd_resmlp *net = c->net;
    sd_resmlp_lane *ln = &c->ws->lane[q];
    size_t lo, hi, ni = net->n_in, E = net->E, no = net->n_out;
    part_rows(c, p, &lo, &hi);
    sd_resmlp_ws pw;
    if (c->K) {
        size_t M2 = 2 * c->ws->max_rows, o2 = M2 * lo / c->n;
        part_view(c->ws, o2, lo, hi - lo, M2 * hi / c->n - o2, ln, &pw);
        if (net->prec == SD_MLP_F32)
            res_forward_multi_f32(net, &pw, c->n, lo, hi, c->in, c->emb, c->K, c->nv, c->v,
                                  c->out, c->jv);
        else
            res_forward_multi_f64(net, &pw, c->n, lo, hi, c->in, c->emb, c->K, c->nv, c->v,
                                  c->out, c->jv);
    } else {
        part_view(c->ws, 2 * lo, lo, hi - lo, 2 * (hi - lo), ln, &pw);
        const double *in = c->in + lo * ni, *emb = c->emb + lo * E, *v = SD_ROWS(c->v, lo, ni);
        double *out = SD_ROWS(c->out, lo, no), *jv = SD_ROWS(c->jv, lo, no);
        if (net->prec == SD_MLP_F32)
            res_forward_f32(net, &pw, hi - lo, in, emb, v, out, jv, c->keep);
        else
            res_forward_f64(net, &pw, hi - lo, in, emb, v, out, jv, c->keep);
    }
    ln->flops += pw.flops;
}

/* Run a call's forward-type pass over its parts. */
static void run_forward(res_pass *c)
{
    c->parts = n_parts(c->n);
    sd_nn_split_run(sd_nn_split_threads(c->ws->n_threads, c->parts, c->ws->lanes), c->parts,
                    forward_part, c);
}

int sd_resmlp_forward(const sd_resmlp *net, sd_resmlp_ws *ws, size_t n, const double *in,
                      const double *emb, double *out)
{
    ws->state = SD_RESMLP_STATE_NONE;
    SD_TRY(check_rows(ws, n));
    res_pass c = {.net = net, .ws = ws, .n = n, .in = in, .emb = emb, .out = out, .keep = 1};
    run_forward(&c);
    ws->state = SD_RESMLP_STATE_FORWARD;
    ws->n = n;
    return SCORESDE_OK;
}

int sd_resmlp_predict(const sd_resmlp *net, sd_resmlp_ws *ws, size_t n, const double *in,
                      const double *emb, double *out)
{
    ws->state = SD_RESMLP_STATE_NONE;
    SD_TRY(check_rows(ws, n));
    res_pass c = {.net = net, .ws = ws, .n = n, .in = in, .emb = emb, .out = out};
    run_forward(&c);
    return SCORESDE_OK;
}

int sd_resmlp_jvp(const sd_resmlp *net, sd_resmlp_ws *ws, size_t n, const double *in,
                  const double *emb, const double *v, double *out, double *jv)
{
    ws->state = SD_RESMLP_STATE_NONE;
    SD_TRY(check_rows(ws, n));
    res_pass c = {.net = net, .ws = ws, .n = n, .in = in, .emb = emb, .v = v, .out = out,
                  .jv = jv, .keep = 1};
    run_forward(&c);
    ws->state = SD_RESMLP_STATE_TANGENT;
    ws->n = n;
    return SCORESDE_OK;
}

int sd_resmlp_jvp_multi(const sd_resmlp *net, sd_resmlp_ws *ws, size_t n, const double *in,
                        const double *emb, size_t K, size_t nv, const double *v, double *out,
                        double *jv)
{
    ws->state = SD_RESMLP_STATE_NONE;
    SD_TRY(check_rows(ws, n));
    if (K == 0 || nv == 0 || nv > net->n_in)
        return sd_fail(SCORESDE_EINVAL,
                       "K (%zu) must be positive and nv (%zu) in [1, %zu] (the network's inputs)",
                       K, nv, net->n_in);
    res_pass c = {.net = net, .ws = ws, .n = n, .in = in, .emb = emb, .v = v, .out = out,
                  .jv = jv, .K = K, .nv = nv};
    run_forward(&c);
    return SCORESDE_OK;
}

/* Part p of a backward pass on lane q (sd_nn_part_fn): its parameter
 * gradient into the lane's buffer (from zero), its input and feature
 * adjoints into the caller's rows. */
static void backward_part(void *ctx, size_t p, int q)
{
    const res_pass *c = ctx;
    const sd_resmlp *net = c->net;
    sd_resmlp_lane *ln = &c->ws->lane[q];
    size_t lo, hi, no = net->n_out;
    part_rows(c, p, &lo, &hi);
    sd_resmlp_ws pw;
    part_view(c->ws, 2 * lo, lo, hi - lo, 2 * (hi - lo), ln, &pw);
    double *grad = c->param_grad ? ln->grad : NULL;
    if (grad)
        memset(grad, 0, net->n_params * sizeof *grad);
    const double *g_out = SD_ROWS(c->g_out, lo, no), *g_tan = SD_ROWS(c->g_tan, lo, no);
    double *emb_grad = SD_ROWS(c->emb_grad, lo, net->E), *in_grad = SD_ROWS(c->in_grad, lo, net->n_in);
    if (net->prec == SD_MLP_F32)
        res_backward_f32(net, &pw, g_out, g_tan, grad, emb_grad, in_grad);
    else
        res_backward_f64(net, &pw, g_out, g_tan, grad, emb_grad, in_grad);
    ln->flops += pw.flops;
}

/* Add lanes 0 .. count-1's part gradients, in order, into param_grad[lo, hi)
 * (sd_nn_reduce_fn). */
static void backward_reduce(void *ctx, size_t p0, size_t count, size_t lo, size_t hi)
{
    (void)p0;
    const res_pass *c = ctx;
    for (size_t b = 0; b < count; b++) {
        const double *restrict g = c->ws->lane[b].grad;
        double *restrict pg = c->param_grad;
        for (size_t i = lo; i < hi; i++)
            pg[i] += g[i];
    }
}

#undef SD_ROWS

static int run_backward(const sd_resmlp *net, sd_resmlp_ws *ws, int want, const double *g_out,
                        const double *g_tan, double *param_grad, double *emb_grad,
                        double *in_grad)
{
    if (ws->state != want)
        return sd_fail(SCORESDE_EINVAL, "the residual network's %s needs a preceding %s on this "
                                        "workspace",
                       want == SD_RESMLP_STATE_TANGENT ? "tangent backward" : "backward",
                       want == SD_RESMLP_STATE_TANGENT ? "jvp" : "forward");
    res_pass c = {.net = net, .ws = ws, .n = ws->n, .parts = n_parts(ws->n), .g_out = g_out,
                  .g_tan = g_tan, .param_grad = param_grad, .emb_grad = emb_grad,
                  .in_grad = in_grad};
    int nt = sd_nn_split_threads(ws->n_threads, c.parts, ws->lanes);
    if (param_grad)
        sd_nn_split_sum(nt, c.parts, net->n_params, backward_part, backward_reduce, &c);
    else
        sd_nn_split_run(nt, c.parts, backward_part, &c);
    return SCORESDE_OK;
}

int sd_resmlp_backward(const sd_resmlp *net, sd_resmlp_ws *ws, const double *g_out,
                       double *param_grad, double *emb_grad, double *in_grad)
{
    return run_backward(net, ws, SD_RESMLP_STATE_FORWARD, g_out, NULL, param_grad, emb_grad,
                        in_grad);
}

int sd_resmlp_tangent_backward(const sd_resmlp *net, sd_resmlp_ws *ws, const double *g_out,
                               const double *g_tan, double *param_grad, double *emb_grad,
                               double *in_grad)
{
    return run_backward(net, ws, SD_RESMLP_STATE_TANGENT, g_out, g_tan, param_grad, emb_grad,
                        in_grad);
}
