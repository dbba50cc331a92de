/*
 * The fully connected network engine: creation, parameters, workspaces and
 * the checked entry points. The arithmetic is in mlp_impl.h, instantiated for
 * double and float below.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "mlp.h"

#include <blis.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "internal.h"
#include "split.h"

#define SD_MLP_DEFAULT_BLOCK 512

enum { SD_MLP_STATE_NONE = 0, SD_MLP_STATE_FORWARD = 1, SD_MLP_STATE_TANGENT = 2 };

struct sd_mlp {
    sd_mlp_act act;
    sd_mlp_prec prec;
    size_t n_layers;                       /* L, the number of weight matrices */
    size_t dims[SD_MLP_MAX_HIDDEN + 2];    /* n_in, widths..., n_out */
    size_t woff[SD_MLP_MAX_HIDDEN + 1];    /* offset of W_l in the flat vector */
    size_t boff[SD_MLP_MAX_HIDDEN + 1];    /* offset of b_l */
    size_t n_emb;                          /* embedding inputs (mlp.h), the last of dims[0] */
    size_t poff[SD_MLP_MAX_HIDDEN + 1];    /* offset of P_l at l - 1, l = 2 .. L-1 */
    size_t n_params;
    size_t max_dim;                        /* the largest entry of dims */
    void *params;                          /* n_params values of the compute type */
};

/* One thread's share of a pass (split.h): its BLIS runtime, on one thread
 * and never the global one, and its scratch. */
typedef struct sd_mlp_lane {
    rntm_t rntm;
    uint64_t flops; /* GEMM flops run on this lane */
    void *y;        /* 2*block x n_out: the output GEMM of one block */
    void *g[2];     /* 2*block x max_dim: adjoints, ping-pong */
    void *ge;       /* block x n_emb: the embedding's adjoint from P_2 .. P_{L-1} */
    void *grad;     /* n_params: one block's parameter gradient */
} sd_mlp_lane;

struct sd_mlp_ws {
    const sd_mlp *net;
    size_t block;  /* rows per block */
    size_t slots;  /* blocks of stored state: max_rows rounded up to blocks */
    int n_threads;
    size_t lanes;  /* min(slots, processors): the most threads a pass uses */
    sd_mlp_lane *lane;
    int state;     /* SD_MLP_STATE_*: what the last pass stored */
    size_t n;      /* its rows */
    /* h[l], l = 0..L-1: layer inputs (x, then hidden activations), stored per
     * block slot as 2*block rows: r primal rows then r tangent rows. A pass
     * that keeps no state uses lane q's slot q as scratch. */
    void *h[SD_MLP_MAX_HIDDEN + 1];
    /* d[l], e[l], l = 1..L-1: act'(z) and u act''(z), block rows per slot. */
    void *d[SD_MLP_MAX_HIDDEN + 1];
    void *e[SD_MLP_MAX_HIDDEN + 1];
};

/* The arguments of one pass, shared by its parts (mlp_impl.h). */
typedef struct mlp_pass {
    const sd_mlp *net;
    const sd_mlp_ws *ws;
    size_t n;                   /* rows */
    const double *in, *v;       /* inputs, tangents (NULL: none) */
    double *out, *jv;
    int stored;                 /* forward: the state stays in the block slots */
    const double *g_out, *g_tan; /* backward seeds (g_tan NULL: not tangent mode) */
    double *param_grad, *in_grad;
    size_t K, nv, G, rb0, nrb;  /* the stacked pass: tangents, their columns,
                                   group size, rows of a row block, row blocks */
} mlp_pass;

/* The float32 exponential and sigmoid of the activations (vmath.h). */
float sd_mlp_expf_nonpos(float x)
{
    float em;
    return sd_vm_exp_f(x, &em);
}
float sd_mlp_sigmoidf(float z)
{
#define R float
#define SD_VM(name) name##_f
    SD_ACT_SIGMOID_PAIR(z)
    (void)o;
    return s;
#undef R
#undef SD_VM
}

#define R double
#define F(name) name##_f64
#define GEMM bli_dgemm_ex
#define R_IS_F64 1
#include "mlp_impl.h"

#define R float
#define F(name) name##_f32
#define GEMM bli_sgemm_ex
#define R_IS_F64 0
#include "mlp_impl.h"

static size_t elem_size(const sd_mlp *net)
{
    return net->prec == SD_MLP_F32 ? sizeof(float) : sizeof(double);
}

int sd_mlp_create(sd_mlp **out, size_t n_in, size_t n_hidden, const size_t *widths, size_t n_out,
                  sd_mlp_act act, sd_mlp_prec prec, uint64_t seed, uint64_t stream)
{
    return sd_mlp_create_emb(out, n_in, 0, n_hidden, widths, n_out, act, prec, seed, stream);
}

int sd_mlp_create_emb(sd_mlp **out, size_t n_in, size_t n_emb, size_t n_hidden,
                      const size_t *widths, size_t n_out, sd_mlp_act act, sd_mlp_prec prec,
                      uint64_t seed, uint64_t stream)
{
    SD_TRY(sd_check_ptr(out, "out"));
    *out = NULL;
    SD_TRY(sd_check_size(n_in, "n_in"));
    if (n_emb > n_in)
        return sd_fail(SCORESDE_EINVAL, "n_emb (%zu) is above n_in (%zu)", n_emb, n_in);
    SD_TRY(sd_check_size(n_out, "n_out"));
    if (n_hidden > SD_MLP_MAX_HIDDEN)
        return sd_fail(SCORESDE_EINVAL, "n_hidden (%zu) is above the limit of %d hidden layers",
                       n_hidden, SD_MLP_MAX_HIDDEN);
    if (n_hidden > 0 && !widths)
        return sd_fail(SCORESDE_EINVAL, "widths is NULL while n_hidden is %zu", n_hidden);
    if ((unsigned)act > SD_ACT_LAST)
        return sd_fail(SCORESDE_EINVAL, "activation (%d) is not a known activation", (int)act);
    if ((unsigned)prec > SD_MLP_F32)
        return sd_fail(SCORESDE_EINVAL, "precision (%d) is not a known precision", (int)prec);
    size_t dims[SD_MLP_MAX_HIDDEN + 2];
    dims[0] = n_in;
    for (size_t l = 0; l < n_hidden; l++)
        dims[l + 1] = widths[l];
    dims[n_hidden + 1] = n_out;
    for (size_t l = 0; l <= n_hidden + 1; l++) {
        if (dims[l] == 0 || dims[l] > SD_MLP_MAX_WIDTH)
            return sd_fail(SCORESDE_EINVAL,
                           "layer %zu has width %zu; widths must be between 1 and %zu", l,
                           dims[l], (size_t)SD_MLP_MAX_WIDTH);
    }
    sd_mlp *net = sd_calloc(1, sizeof *net);
    if (!net)
        return SCORESDE_ENOMEM;
    net->act = act;
    net->prec = prec;
    net->n_layers = n_hidden + 1;
    memcpy(net->dims, dims, (n_hidden + 2) * sizeof(size_t));
    size_t total = 0, max_dim = 0, max_w = 0;
    for (size_t l = 1; l <= net->n_layers; l++) {
        /* Widths are at most 2^20 and there are at most 65 layers, so this
         * cannot overflow a 64-bit size_t. */
        net->woff[l - 1] = total;
        total += dims[l] * dims[l - 1];
        net->boff[l - 1] = total;
        total += dims[l];
        if (dims[l] * dims[l - 1] > max_w)
            max_w = dims[l] * dims[l - 1];
    }
    /* The embedding projections P_2 .. P_{L-1} after b_L (at most 63 of
     * 2^20 x 2^20: no overflow either). */
    net->n_emb = n_emb;
    for (size_t l = 2; n_emb && l < net->n_layers; l++) {
        net->poff[l - 1] = total;
        total += dims[l] * n_emb;
    }
    for (size_t l = 0; l <= net->n_layers; l++)
        if (dims[l] > max_dim)
            max_dim = dims[l];
    net->n_params = total;
    net->max_dim = max_dim;
    net->params = sd_calloc(total, elem_size(net));
    double *tmp = sd_malloc(max_w * sizeof(double));
    if (!net->params || !tmp) {
        sd_free(tmp);
        sd_mlp_free(net);
        return SCORESDE_ENOMEM;
    }
    for (size_t l = 1; l <= net->n_layers; l++) {
        size_t cnt = dims[l] * dims[l - 1];
        double gain = (act == SD_MLP_RELU && l < net->n_layers) ? 2.0 : 1.0;
        double scale = sqrt(gain / (double)dims[l - 1]);
        sd_rng_normal(seed, stream + (l - 1), SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, 0), cnt, tmp);
        for (size_t i = 0; i < cnt; i++) {
            if (prec == SD_MLP_F32)
                ((float *)net->params)[net->woff[l - 1] + i] = (float)(scale * tmp[i]);
            else
                ((double *)net->params)[net->woff[l - 1] + i] = scale * tmp[i];
        }
        /* Biases (and the P_l) stay zero (calloc). */
    }
    sd_free(tmp);
    *out = net;
    return SCORESDE_OK;
}

void sd_mlp_free(sd_mlp *net)
{
    if (!net)
        return;
    sd_free(net->params);
    sd_free(net);
}

size_t sd_mlp_num_params(const sd_mlp *net) { return net ? net->n_params : 0; }
size_t sd_mlp_n_in(const sd_mlp *net) { return net ? net->dims[0] : 0; }
size_t sd_mlp_n_out(const sd_mlp *net) { return net ? net->dims[net->n_layers] : 0; }
sd_mlp_act sd_mlp_activation(const sd_mlp *net) { return net ? net->act : SD_MLP_SILU; }
sd_mlp_prec sd_mlp_precision(const sd_mlp *net) { return net ? net->prec : SD_MLP_F64; }

int sd_mlp_get_params(const sd_mlp *net, double *params)
{
    SD_TRY(sd_check_ptr(net, "net"));
    SD_TRY(sd_check_ptr(params, "params"));
    for (size_t i = 0; i < net->n_params; i++)
        params[i] = net->prec == SD_MLP_F32 ? (double)((const float *)net->params)[i]
                                            : ((const double *)net->params)[i];
    return SCORESDE_OK;
}

int sd_mlp_set_params(sd_mlp *net, const double *params)
{
    SD_TRY(sd_check_ptr(net, "net"));
    SD_TRY(sd_check_ptr(params, "params"));
    SD_TRY(sd_check_finite(params, net->n_params, "params"));
    for (size_t i = 0; i < net->n_params; i++) {
        if (net->prec == SD_MLP_F32) {
            if (!(fabs(params[i]) < SD_FLOAT32_LIMIT))
                return sd_fail(SCORESDE_EINVAL,
                               "params[%zu] (%g) overflows the network's float32 precision", i,
                               params[i]);
        }
    }
    for (size_t i = 0; i < net->n_params; i++) {
        if (net->prec == SD_MLP_F32)
            ((float *)net->params)[i] = (float)params[i];
        else
            ((double *)net->params)[i] = params[i];
    }
    return SCORESDE_OK;
}

void sd_mlp_ws_free(sd_mlp_ws *ws)
{
    if (!ws)
        return;
    for (size_t l = 0; l <= SD_MLP_MAX_HIDDEN; l++) {
        sd_free(ws->h[l]);
        sd_free(ws->d[l]);
        sd_free(ws->e[l]);
    }
    for (size_t q = 0; ws->lane && q < ws->lanes; q++) {
        sd_free(ws->lane[q].y);
        sd_free(ws->lane[q].g[0]);
        sd_free(ws->lane[q].g[1]);
        sd_free(ws->lane[q].ge);
        sd_free(ws->lane[q].grad);
    }
    sd_free(ws->lane);
    sd_free(ws);
}

/* Allocate rows x cols elements of size es, checking the product. */
static int ws_alloc(void **p, size_t rows, size_t cols, size_t es, const char *what)
{
    size_t cnt, bytes;
    SD_TRY(sd_mul_size(rows, cols, &cnt, what));
    SD_TRY(sd_mul_size(cnt, es, &bytes, what));
    *p = sd_malloc(bytes);
    return *p ? SCORESDE_OK : SCORESDE_ENOMEM;
}

/* The thread count for a request of n_threads: a hint, cut to what the
 * OpenMP runtime will grant (above OMP_THREAD_LIMIT or inside a region that
 * may not nest, fewer; BLIS, once given these threads, aborted the process
 * when its region got fewer than it asked for) and to the processors
 * (threads beyond them only share them). */
int sd_nn_granted_threads(int n_threads)
{
    int n = n_threads < 1 ? 1 : n_threads;
    if (omp_get_active_level() >= omp_get_max_active_levels())
        return 1;
    /* Below an inactive region (a team of one: `parallel if(0)`, a one-thread
     * team) BLIS's teams would be nested ones, and libgomp creates new
     * threads for every nested team instead of reusing its top-level pool
     * (50 nested regions ran on 50 new threads), so each of BLIS's parallel
     * regions starts threads afresh: 5-18x slower than one thread (issue 14).
     * One thread there. */
    if (omp_get_level() > omp_get_active_level())
        return 1;
    int limit = omp_get_thread_limit(), procs = omp_get_num_procs();
    if (omp_in_parallel())
        limit -= omp_get_num_threads() - 1; /* the enclosing team counts against the limit */
    if (n > limit)
        n = limit;
    if (n > procs)
        n = procs;
    return n < 1 ? 1 : n;
}

void sd_mlp_ws_set_threads(sd_mlp_ws *ws, int n_threads)
{
    ws->n_threads = sd_nn_granted_threads(n_threads);
}

int sd_mlp_ws_create(const sd_mlp *net, size_t max_rows, size_t block_rows, int n_threads,
                     sd_mlp_ws **out)
{
    SD_TRY(sd_check_ptr(out, "out"));
    *out = NULL;
    SD_TRY(sd_check_ptr(net, "net"));
    SD_TRY(sd_check_size(max_rows, "max_rows"));
    if (n_threads < 1 || n_threads > 1024)
        return sd_fail(SCORESDE_EINVAL, "n_threads (%d) must be between 1 and 1024", n_threads);
    size_t B = block_rows ? block_rows : SD_MLP_DEFAULT_BLOCK;
    if (B > ((size_t)1 << 24))
        return sd_fail(SCORESDE_EINVAL, "block_rows (%zu) is above the limit of 2^24", B);
    if (B > max_rows)
        B = max_rows;
    sd_mlp_ws *ws = sd_calloc(1, sizeof *ws);
    if (!ws)
        return SCORESDE_ENOMEM;
    ws->net = net;
    ws->block = B;
    ws->slots = max_rows / B + (max_rows % B != 0);
    ws->n_threads = sd_nn_granted_threads(n_threads);
    size_t procs = (size_t)omp_get_num_procs();
    ws->lanes = procs < 1 ? 1 : procs < ws->slots ? procs : ws->slots;
    ws->lane = sd_calloc(ws->lanes, sizeof *ws->lane);
    if (!ws->lane) {
        sd_free(ws);
        return SCORESDE_ENOMEM;
    }
    size_t es = elem_size(net), rows, rows2;
    int rc = sd_mul_size(ws->slots, B, &rows, "max_rows");
    if (rc == SCORESDE_OK)
        rc = sd_mul_size(rows, 2, &rows2, "max_rows");
    for (size_t l = 0; rc == SCORESDE_OK && l < net->n_layers; l++) {
        rc = ws_alloc(&ws->h[l], rows2, net->dims[l], es, "max_rows");
        if (rc == SCORESDE_OK && l > 0)
            rc = ws_alloc(&ws->d[l], rows, net->dims[l], es, "max_rows");
        if (rc == SCORESDE_OK && l > 0)
            rc = ws_alloc(&ws->e[l], rows, net->dims[l], es, "max_rows");
    }
    for (size_t q = 0; rc == SCORESDE_OK && q < ws->lanes; q++) {
        sd_mlp_lane *ln = &ws->lane[q];
        bli_rntm_init(&ln->rntm);
        bli_rntm_set_num_threads(1, &ln->rntm);
        rc = ws_alloc(&ln->y, 2 * B, net->dims[net->n_layers], es, "block_rows");
        if (rc == SCORESDE_OK)
            rc = ws_alloc(&ln->g[0], 2 * B, net->max_dim, es, "block_rows");
        if (rc == SCORESDE_OK)
            rc = ws_alloc(&ln->g[1], 2 * B, net->max_dim, es, "block_rows");
        if (rc == SCORESDE_OK && net->n_emb && net->n_layers > 2)
            rc = ws_alloc(&ln->ge, B, net->n_emb, es, "block_rows");
        if (rc == SCORESDE_OK)
            rc = ws_alloc(&ln->grad, net->n_params, 1, es, "parameters");
    }
    if (rc != SCORESDE_OK) {
        sd_mlp_ws_free(ws);
        return rc;
    }
    *out = ws;
    return SCORESDE_OK;
}

uint64_t sd_mlp_ws_gemm_flops(const sd_mlp_ws *ws)
{
    uint64_t f = 0;
    for (size_t q = 0; ws && q < ws->lanes; q++)
        f += ws->lane[q].flops;
    return f;
}

static int check_pair(const sd_mlp *net, const sd_mlp_ws *ws)
{
    SD_TRY(sd_check_ptr(net, "net"));
    SD_TRY(sd_check_ptr(ws, "ws"));
    if (ws->net != net)
        return sd_fail(SCORESDE_EINVAL, "the workspace was created for another network");
    return SCORESDE_OK;
}

/* sd_mlp_forward (keep) and sd_mlp_predict. */
static int forward_checked(const sd_mlp *net, sd_mlp_ws *ws, size_t n, const double *in,
                           double *out, int keep)
{
    SD_TRY(check_pair(net, ws));
    ws->state = SD_MLP_STATE_NONE;
    SD_TRY(sd_check_size(n, "n"));
    SD_TRY(sd_check_batch(in, n, net->dims[0], "in"));
    SD_TRY(sd_check_batch(out, n, net->dims[net->n_layers], "out"));
    if (net->prec == SD_MLP_F32)
        forward_f32(net, ws, n, in, NULL, out, NULL, keep);
    else
        forward_f64(net, ws, n, in, NULL, out, NULL, keep);
    if (keep && n <= ws->slots * ws->block) {
        ws->state = SD_MLP_STATE_FORWARD;
        ws->n = n;
    }
    return SCORESDE_OK;
}

int sd_mlp_forward(const sd_mlp *net, sd_mlp_ws *ws, size_t n, const double *in, double *out)
{
    return forward_checked(net, ws, n, in, out, 1);
}

int sd_mlp_predict(const sd_mlp *net, sd_mlp_ws *ws, size_t n, const double *in, double *out)
{
    return forward_checked(net, ws, n, in, out, 0);
}

int sd_mlp_jvp(const sd_mlp *net, sd_mlp_ws *ws, size_t n, const double *in, const double *v,
               double *out, double *jv)
{
    SD_TRY(check_pair(net, ws));
    ws->state = SD_MLP_STATE_NONE;
    SD_TRY(sd_check_size(n, "n"));
    if (n > ws->slots * ws->block)
        return sd_fail(SCORESDE_EINVAL, "n (%zu) is above the workspace's %zu rows", n,
                       ws->slots * ws->block);
    SD_TRY(sd_check_batch(in, n, net->dims[0], "in"));
    SD_TRY(sd_check_batch(v, n, net->dims[0], "v"));
    SD_TRY(sd_check_batch(jv, n, net->dims[net->n_layers], "jv"));
    if (net->prec == SD_MLP_F32)
        forward_f32(net, ws, n, in, v, out, jv, 1);
    else
        forward_f64(net, ws, n, in, v, out, jv, 1);
    ws->state = SD_MLP_STATE_TANGENT;
    ws->n = n;
    return SCORESDE_OK;
}

int sd_mlp_backward(const sd_mlp *net, sd_mlp_ws *ws, const double *out_grad, double *param_grad,
                    double *in_grad)
{
    SD_TRY(check_pair(net, ws));
    SD_TRY(sd_check_ptr(out_grad, "out_grad"));
    if (ws->state != SD_MLP_STATE_FORWARD)
        return sd_fail(SCORESDE_EINVAL,
                       "backward needs a preceding forward of at most max_rows rows on this "
                       "workspace");
    if (net->prec == SD_MLP_F32)
        backward_f32(net, ws, out_grad, NULL, param_grad, in_grad);
    else
        backward_f64(net, ws, out_grad, NULL, param_grad, in_grad);
    return SCORESDE_OK;
}

int sd_mlp_tangent_backward(const sd_mlp *net, sd_mlp_ws *ws, const double *g_out,
                            const double *g_tan, double *param_grad, double *in_grad)
{
    SD_TRY(check_pair(net, ws));
    SD_TRY(sd_check_ptr(g_tan, "g_tan"));
    if (ws->state != SD_MLP_STATE_TANGENT)
        return sd_fail(SCORESDE_EINVAL,
                       "tangent backward needs a preceding jvp on this workspace");
    if (net->prec == SD_MLP_F32)
        backward_f32(net, ws, g_out, g_tan, param_grad, in_grad);
    else
        backward_f64(net, ws, g_out, g_tan, param_grad, in_grad);
    return SCORESDE_OK;
}

int sd_mlp_jvp_multi(const sd_mlp *net, sd_mlp_ws *ws, size_t n, const double *in, size_t K,
                     size_t nv, const double *v, double *out, double *jv)
{
    SD_TRY(check_pair(net, ws));
    ws->state = SD_MLP_STATE_NONE;
    SD_TRY(sd_check_size(n, "n"));
    SD_TRY(sd_check_size(K, "K"));
    if (nv == 0 || nv > net->dims[0])
        return sd_fail(SCORESDE_EINVAL, "nv (%zu) is not in [1, %zu] (the network's inputs)", nv,
                       net->dims[0]);
    SD_TRY(sd_check_batch(in, n, net->dims[0], "in"));
    SD_TRY(sd_check_ptr(v, "v"));
    SD_TRY(sd_check_ptr(jv, "jv"));
    if (net->prec == SD_MLP_F32)
        forward_multi_f32(net, ws, n, in, K, nv, v, out, jv);
    else
        forward_multi_f64(net, ws, n, in, K, nv, v, out, jv);
    return SCORESDE_OK;
}
