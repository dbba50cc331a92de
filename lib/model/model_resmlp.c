/*
 * The residual MLP model kind (model.h, "Residual MLP models"): the
 * residual network engine (lib/nn/resmlp.h) behind the shared
 * preconditioning layer (precond.h). The engine's input row is [C x, CONCAT
 * condition] and its features are the time features with the EMBED
 * condition added.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <string.h>

#include "io.h"
#include "model_internal.h"
#include "precond.h"
#include "resmlp.h"

#define RES_NAME "residual MLP"

typedef struct res_state {
    sd_pmodel pm; /* first: m->state is the shared layer's */
    scoresde_resmlp_options opt; /* embedding resolved (never AUTO) */
    size_t n_in;                 /* D (+ C for CONCAT) */
    sd_resmlp *net;
} res_state;

typedef struct res_ws {
    sd_resmlp_ws *ws;
    double *in;         /* chunk x n_in */
    double *tin;        /* chunk x n_in: tangents (zero condition part) */
    const double *feat; /* the loaded chunk's features (the shared slot's) */
    size_t r;           /* its rows */
} res_ws;

static void res_ws_free(void *p)
{
    res_ws *w = p;
    if (!w)
        return;
    sd_resmlp_ws_free(w->ws);
    sd_free(w->in);
    sd_free(w->tin);
    sd_free(w);
}

static int res_ws_create(const sd_pmodel *pm, size_t rows, int n_threads, void **out)
{
    const res_state *st = (const res_state *)pm;
    res_ws *w = sd_calloc(1, sizeof *w);
    if (!w)
        return SCORESDE_ENOMEM;
    int rc = sd_resmlp_ws_create(st->net, rows, n_threads, &w->ws);
    if (rc == SCORESDE_OK) {
        w->in = sd_calloc(rows * st->n_in, sizeof(double));
        w->tin = sd_calloc(rows * st->n_in, sizeof(double));
        if (!w->in || !w->tin)
            rc = SCORESDE_ENOMEM;
    }
    if (rc != SCORESDE_OK) {
        res_ws_free(w);
        return rc;
    }
    *out = w;
    return SCORESDE_OK;
}

static void res_ws_set_threads(void *p, int n_threads)
{
    sd_resmlp_ws_set_threads(((res_ws *)p)->ws, n_threads);
}

static void res_load(const sd_pmodel *pm, void *p, size_t r, const double *xs, const double *feat,
                     const sd_cond *cond, size_t i0)
{
    const res_state *st = (const res_state *)pm;
    res_ws *w = p;
    size_t D = pm->dim;
    w->r = r;
    w->feat = feat;
    for (size_t i = 0; i < r; i++) {
        double *row = w->in + i * st->n_in;
        memcpy(row, xs + i * D, D * sizeof *row);
        if (sd_pmodel_concat(pm))
            sd_pmodel_concat_row(pm, cond, i0 + i, row + D);
    }
}

static int res_forward(const sd_pmodel *pm, void *p, size_t r, double *out)
{
    res_ws *w = p;
    return sd_resmlp_forward(((const res_state *)pm)->net, w->ws, r, w->in, w->feat, out);
}

static int res_predict(const sd_pmodel *pm, void *p, size_t r, double *out)
{
    res_ws *w = p;
    return sd_resmlp_predict(((const res_state *)pm)->net, w->ws, r, w->in, w->feat, out);
}

static int res_jvp(const sd_pmodel *pm, void *p, size_t r, const double *vs, double *out,
                   double *jv)
{
    const res_state *st = (const res_state *)pm;
    res_ws *w = p;
    size_t D = pm->dim;
    for (size_t i = 0; i < r; i++)
        memcpy(w->tin + i * st->n_in, vs + i * D, D * sizeof *vs);
    /* The condition part stays zero (calloc), never written. */
    return sd_resmlp_jvp(st->net, w->ws, r, w->in, w->feat, w->tin, out, jv);
}

static int res_jvp_multi(const sd_pmodel *pm, void *p, size_t i0, size_t r, size_t K,
                         const double *vs, double *out, double *jv)
{
    const res_state *st = (const res_state *)pm;
    res_ws *w = p;
    return sd_resmlp_jvp_multi(st->net, w->ws, r, w->in + i0 * st->n_in,
                               w->feat + i0 * pm->embed_dim, K, pm->dim, vs, out, jv);
}

static int res_backward(const sd_pmodel *pm, void *p, const double *g, double *grad, double *fg)
{
    return sd_resmlp_backward(((const res_state *)pm)->net, ((res_ws *)p)->ws, g, grad, fg,
                              NULL);
}

static int res_tangent_backward(const sd_pmodel *pm, void *p, const double *g, double *grad,
                                double *fg)
{
    return sd_resmlp_tangent_backward(((const res_state *)pm)->net, ((res_ws *)p)->ws, NULL, g,
                                      grad, fg, NULL);
}

static size_t res_net_params(const sd_pmodel *pm)
{
    return sd_resmlp_num_params(((const res_state *)pm)->net);
}

static void res_net_get(const sd_pmodel *pm, double *theta)
{
    sd_resmlp_get_params(((const res_state *)pm)->net, theta);
}

static int res_net_set(sd_pmodel *pm, const double *theta)
{
    return sd_resmlp_set_params(((res_state *)pm)->net, theta);
}

static const sd_pnet_ops res_net_ops = {
    .num_params = res_net_params,
    .get_params = res_net_get,
    .set_params = res_net_set,
    .ws_create = res_ws_create,
    .ws_free = res_ws_free,
    .ws_set_threads = res_ws_set_threads,
    .load = res_load,
    .forward = res_forward,
    .predict = res_predict,
    .jvp = res_jvp,
    .backward = res_backward,
    .tangent_backward = res_tangent_backward,
    .jvp_multi = res_jvp_multi,
};

static void res_free_state(void *state)
{
    res_state *st = state;
    if (!st)
        return;
    sd_pmodel_fini(&st->pm);
    sd_resmlp_free(st->net);
    sd_free(st);
}

static sd_pmodel_config res_config(const scoresde_resmlp_options *o, size_t D)
{
    sd_pmodel_config c = {
        .name = RES_NAME, .dim = D, .activation = o->activation, .output = o->output,
        .embedding = o->embedding, .precision = o->precision, .embed_dim = o->embed_dim,
        .fourier_scale = o->fourier_scale, .sigma_data = o->sigma_data, .seed = o->seed,
        .chunk_rows = o->chunk_rows, .n_threads = o->n_threads, .cond_dim = o->cond_dim,
        .cond_classes = o->cond_classes, .cond_input = o->cond_input, .cond_null = o->cond_null};
    return c;
}

static void res_set_options(scoresde_resmlp_options *o, const sd_pmodel_config *c)
{
    o->activation = c->activation;
    o->output = c->output;
    o->embedding = c->embedding;
    o->precision = c->precision;
    o->embed_dim = c->embed_dim;
    o->fourier_scale = c->fourier_scale;
    o->sigma_data = c->sigma_data;
    o->seed = c->seed;
    o->chunk_rows = c->chunk_rows;
    o->n_threads = c->n_threads;
    o->cond_dim = c->cond_dim;
    o->cond_input = c->cond_input;
    o->cond_classes = c->cond_classes;
    o->cond_null = c->cond_null;
}

/* The network's input count for checked options. */
static size_t res_n_in(const scoresde_resmlp_options *o, size_t D)
{
    return D + (o->cond_dim > 0 && o->cond_input == SCORESDE_MLP_COND_CONCAT ? o->cond_dim : 0);
}

/* A state from resolved, checked options; freq as for the MLP (a clone's
 * or a file's frequencies, or NULL to compute them). */
static int res_make_state(const scoresde_resmlp_options *opt, size_t D, const double *freq,
                          res_state **out)
{
    res_state *st = sd_calloc(1, sizeof *st);
    if (!st)
        return SCORESDE_ENOMEM;
    sd_pmodel_config cfg = res_config(opt, D);
    int rc = sd_pmodel_init(&st->pm, &res_net_ops, &cfg, freq);
    if (rc != SCORESDE_OK) {
        sd_free(st);
        return rc;
    }
    st->opt = *opt;
    st->n_in = res_n_in(opt, D);
    rc = sd_resmlp_create(&st->net, st->n_in, opt->embed_dim, opt->width, opt->blocks, D,
                          (sd_act)opt->activation,
                          opt->precision == SCORESDE_MLP_FLOAT32 ? SD_MLP_F32 : SD_MLP_F64,
                          opt->seed);
    if (rc != SCORESDE_OK) {
        res_free_state(st);
        return rc;
    }
    *out = st;
    return SCORESDE_OK;
}

static int res_clone_state(const scoresde_model *src, void **out)
{
    const res_state *s = src->state;
    res_state *c;
    SD_TRY(res_make_state(&s->opt, src->dim, s->pm.freq, &c));
    int rc = sd_pmodel_copy_params(&c->pm, &s->pm);
    if (rc != SCORESDE_OK) {
        res_free_state(c);
        return rc;
    }
    *out = c;
    return SCORESDE_OK;
}

static int res_same_shape(const scoresde_model *dst, const scoresde_model *src)
{
    const res_state *a = dst->state, *b = src->state;
    if (a->opt.width != b->opt.width || a->opt.blocks != b->opt.blocks ||
        a->opt.embed_dim != b->opt.embed_dim)
        return sd_fail(SCORESDE_EDIM,
                       "dst has width %zu, %zu blocks and embed_dim %zu, src %zu, %zu and %zu",
                       a->opt.width, a->opt.blocks, a->opt.embed_dim, b->opt.width,
                       b->opt.blocks, b->opt.embed_dim);
    return sd_pmodel_same_cond(&a->pm, &b->pm);
}

/* The checks shared by creation (EINVAL) and loading (ECORRUPT). */
static int res_check_options(const scoresde_resmlp_options *o, size_t D, int code,
                             const char *where)
{
    if (o->width < 1 || o->width > SD_RESMLP_MAX_WIDTH)
        return sd_fail(code, "%swidth (%zu) is not between 1 and %zu", where, o->width,
                       (size_t)SD_RESMLP_MAX_WIDTH);
    if (o->blocks > SD_RESMLP_MAX_BLOCKS)
        return sd_fail(code, "%sblocks (%zu) is above %d", where, o->blocks,
                       SD_RESMLP_MAX_BLOCKS);
    /* EMBED already enters every block here: the MLP's per-layer row has
     * no meaning of its own, and is refused even with C = 0 so that no
     * residual MLP file ever holds it. */
    if (o->cond_input == SCORESDE_MLP_COND_EMBED_LAYERS)
        return sd_fail(code,
                       "%scond_input SCORESDE_MLP_COND_EMBED_LAYERS is the MLP's; the residual "
                       "MLP's SCORESDE_MLP_COND_EMBED already enters every block",
                       where);
    sd_pmodel_config c = res_config(o, D);
    SD_TRY(sd_pmodel_check(&c, code, where));
    if (D > SD_MLP_MAX_WIDTH - o->embed_dim - o->cond_dim)
        return sd_fail(code, "%sD (%zu) is above the network's limit", where, D);
    return SCORESDE_OK;
}

/* ------------------------------------------------------------------ files
 * KIND payload (docs/file-format.md, "Residual MLP"): the shared head, the
 * width and block count, the frequencies, the condition. The parameters
 * travel in PARM. */

static int res_save_state(const scoresde_model *m, struct sd_writer *w)
{
    const res_state *st = m->state;
    sd_pmodel_config c = res_config(&st->opt, m->dim);
    sd_pmodel_put_head(w, &c);
    sd_writer_put_u64(w, (uint64_t)st->opt.width);
    sd_writer_put_u64(w, (uint64_t)st->opt.blocks);
    sd_writer_put_f64_array(w, st->pm.freq, st->opt.embed_dim / 2);
    sd_pmodel_put_cond(w, &c);
    return sd_writer_status(w);
}

static int res_load_state(scoresde_model *m, struct sd_reader *r, size_t n_params)
{
    scoresde_resmlp_options o;
    scoresde_model_resmlp_options_init(&o, sizeof o);
    size_t D = m->dim;
    sd_pmodel_config c = res_config(&o, D);
    SD_TRY(sd_pmodel_get_head(r, &c));
    SD_TRY(sd_pmodel_get_count(r, RES_NAME, 1, SD_RESMLP_MAX_WIDTH, &o.width, "width"));
    SD_TRY(sd_pmodel_get_count(r, RES_NAME, 0, SD_RESMLP_MAX_BLOCKS, &o.blocks, "block count"));
    double freq[2048];
    SD_TRY(sd_pmodel_get_freq(r, &c, freq));
    SD_TRY(sd_pmodel_get_cond(r, 0, &c));
    if (sd_reader_remaining(r) > 0)
        return sd_fail(SCORESDE_ECORRUPT, "the %s state has %zu bytes past its end", RES_NAME,
                       sd_reader_remaining(r));
    res_set_options(&o, &c);
    SD_TRY(res_check_options(&o, D, SCORESDE_ECORRUPT, "the file's " RES_NAME " "));
    /* The parameter count before any allocation (the limits keep it in 64
     * bits): a forged width cannot ask for memory the file does not back. */
    uint64_t want = sd_resmlp_count(res_n_in(&o, D), o.embed_dim, o.width, o.blocks, D) +
                    sd_pmodel_cond_params(o.embed_dim, o.cond_dim, o.cond_classes, o.cond_input,
                                          o.cond_null);
    if (want != (uint64_t)n_params)
        return sd_fail(SCORESDE_ECORRUPT,
                       "the %s described has %llu parameters, the file's parameter section %zu",
                       RES_NAME, (unsigned long long)want, n_params);
    res_state *st;
    SD_TRY(res_make_state(&o, D, freq, &st));
    m->state = st;
    sd_pmodel_set_cond_fields(m, &st->pm);
    return SCORESDE_OK;
}

const sd_model_ops sd_model_resmlp_ops = {
    .name = RES_NAME,
    .kind = SCORESDE_MODEL_RESMLP,
    .score = sd_pmodel_score,
    .jvp = sd_pmodel_jvp,
    .divergence = sd_pmodel_divergence,
    .score_div = sd_pmodel_score_div,
    .clone_state = res_clone_state,
    .free_state = res_free_state,
    .save_state = res_save_state,
    .load_state = res_load_state,
    .num_params = sd_pmodel_num_params,
    .get_params = sd_pmodel_get_params,
    .set_params = sd_pmodel_set_params,
    .param_limit = sd_pmodel_param_limit,
    .same_shape = res_same_shape,
    .score_backward = sd_pmodel_score_backward,
    .score_vjp = sd_pmodel_score_vjp,
    .probe_backward = sd_pmodel_probe_backward,
    .probe_vjp = sd_pmodel_probe_vjp,
};

static void res_defaults(scoresde_resmlp_options *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->width = 256;
    o->blocks = 4;
    o->activation = SCORESDE_MLP_SILU;
    o->output = SCORESDE_MLP_OUTPUT_NOISE;
    o->embedding = SCORESDE_MLP_EMBED_AUTO;
    o->embed_dim = 32;
    o->fourier_scale = 16.0;
    o->sigma_data = 0.5;
    o->precision = SCORESDE_MLP_FLOAT64;
    o->seed = 0;
    o->chunk_rows = 256;
    o->n_threads = 1;
    o->cond_dim = 0;
    o->cond_input = SCORESDE_MLP_COND_EMBED;
    o->cond_classes = 0;
    o->cond_null = 0;
}

/* The first layout is 1.1's full struct. */
#define RES_OPTIONS_FIRST SD_STRUCT_END(scoresde_resmlp_options, cond_null)

int scoresde_model_resmlp_options_init(scoresde_resmlp_options *opts, size_t struct_size)
{
    SD_TRY(sd_check_ptr(opts, "opts"));
    SD_TRY(sd_check_struct_in(struct_size, RES_OPTIONS_FIRST, sizeof *opts, "opts"));
    scoresde_resmlp_options d;
    res_defaults(&d);
    d.struct_size = struct_size;
    memcpy(opts, &d, struct_size);
    return SCORESDE_OK;
}

int scoresde_model_create_resmlp(scoresde_model **out, const scoresde_sde *sde, size_t D,
                                 const scoresde_resmlp_options *opts)
{
    SD_TRY(sd_check_ptr(out, "out"));
    *out = NULL;
    SD_TRY(sd_check_ptr(sde, "sde"));
    SD_TRY(sd_check_size(D, "D"));
    scoresde_resmlp_options o;
    res_defaults(&o);
    if (opts) {
        SD_TRY(sd_check_struct_in(opts->struct_size, RES_OPTIONS_FIRST, sizeof o, "opts"));
        memcpy(&o, opts, opts->struct_size);
        o.struct_size = sizeof o;
    }
    SD_TRY(res_check_options(&o, D, SCORESDE_EINVAL, ""));
    o.embedding = sd_pmodel_resolve_embedding(o.embedding, sde);
    o.cond_null = o.cond_dim > 0 && o.cond_null; /* stored as 0 or 1 */
    res_state *st;
    SD_TRY(res_make_state(&o, D, NULL, &st));
    SD_TRY(sd_model_create(out, &sd_model_resmlp_ops, sde, D, st));
    sd_pmodel_set_cond_fields(*out, &st->pm);
    return SCORESDE_OK;
}
