/*
 * The MLP model kind: the network engine (lib/nn/mlp.h) wired to a forward
 * SDE through a time embedding and an output parameterisation (model.h,
 * "MLP models").
 *
 * The output parameterisation, time features, EMBED conditions and the
 * workspace pool are the shared layer's (precond.h); this file is the
 * network: the engine's input row is [C x, features, CONCAT condition].
 * For an EMBED_LAYERS condition the features are the engine's embedding
 * inputs (mlp.h), which also enter every hidden layer after the first.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <string.h>

#include "io.h"
#include "mlp.h"
#include "model_internal.h"
#include "precond.h"

typedef struct mlp_state {
    sd_pmodel pm;             /* first: m->state is the shared layer's */
    scoresde_mlp_options opt; /* embedding resolved (never AUTO); opt.widths
                                 points to widths below */
    size_t widths[SCORESDE_MLP_MAX_HIDDEN]; /* the hidden widths, copied */
    size_t n_in;              /* D + embed_dim (+ C for CONCAT) */
    sd_mlp *net;
} mlp_state;

/* The engine's workspace and the chunk's input rows. */
typedef struct mlp_ws {
    sd_mlp_ws *ws;
    double *in;  /* chunk x n_in: network inputs */
    double *tin; /* chunk x n_in: tangents (x part, zero features) */
    double *ig;  /* chunk x n_in: input adjoints (EMBED conditions only) */
    size_t r;    /* rows of the loaded chunk */
} mlp_ws;

static void mlp_ws_free(void *p)
{
    mlp_ws *w = p;
    if (!w)
        return;
    sd_mlp_ws_free(w->ws);
    sd_free(w->in);
    sd_free(w->tin);
    sd_free(w->ig);
    sd_free(w);
}

static int mlp_ws_create(const sd_pmodel *pm, size_t rows, int n_threads, void **out)
{
    const mlp_state *st = (const mlp_state *)pm;
    mlp_ws *w = sd_calloc(1, sizeof *w);
    if (!w)
        return SCORESDE_ENOMEM;
    int rc = sd_mlp_ws_create(st->net, rows, 0, n_threads, &w->ws);
    if (rc == SCORESDE_OK) {
        w->in = sd_calloc(rows * st->n_in, sizeof(double));
        w->tin = sd_calloc(rows * st->n_in, sizeof(double));
        w->ig = pm->n_cp ? sd_malloc(rows * st->n_in * sizeof(double)) : NULL;
        if (!w->in || !w->tin || (pm->n_cp && !w->ig))
            rc = SCORESDE_ENOMEM;
    }
    if (rc != SCORESDE_OK) {
        mlp_ws_free(w);
        return rc;
    }
    *out = w;
    return SCORESDE_OK;
}

static void mlp_ws_set_threads(void *p, int n_threads)
{
    sd_mlp_ws_set_threads(((mlp_ws *)p)->ws, n_threads);
}

/* Input rows [C x, features, CONCAT condition] of a chunk. */
static void mlp_load(const sd_pmodel *pm, void *p, size_t r, const double *xs, const double *feat,
                     const sd_cond *cond, size_t i0)
{
    const mlp_state *st = (const mlp_state *)pm;
    mlp_ws *w = p;
    size_t D = pm->dim, E = pm->embed_dim;
    w->r = r;
    for (size_t i = 0; i < r; i++) {
        double *row = w->in + i * st->n_in;
        memcpy(row, xs + i * D, D * sizeof *row);
        memcpy(row + D, feat + i * E, E * sizeof *row);
        if (sd_pmodel_concat(pm))
            sd_pmodel_concat_row(pm, cond, i0 + i, row + D + E);
    }
}

static int mlp_forward(const sd_pmodel *pm, void *p, size_t r, double *out)
{
    mlp_ws *w = p;
    return sd_mlp_forward(((const mlp_state *)pm)->net, w->ws, r, w->in, out);
}

static int mlp_predict(const sd_pmodel *pm, void *p, size_t r, double *out)
{
    mlp_ws *w = p;
    return sd_mlp_predict(((const mlp_state *)pm)->net, w->ws, r, w->in, out);
}

static int mlp_net_jvp(const sd_pmodel *pm, void *p, size_t r, const double *vs, double *out,
                   double *jv)
{
    const mlp_state *st = (const mlp_state *)pm;
    mlp_ws *w = p;
    size_t D = pm->dim;
    for (size_t i = 0; i < r; i++)
        memcpy(w->tin + i * st->n_in, vs + i * D, D * sizeof *vs);
    /* The feature part stays zero (calloc), never written. */
    return sd_mlp_jvp(st->net, w->ws, r, w->in, w->tin, out, jv);
}

static int mlp_net_jvp_multi(const sd_pmodel *pm, void *p, size_t i0, size_t r, size_t K,
                             const double *vs, double *out, double *jv)
{
    const mlp_state *st = (const mlp_state *)pm;
    mlp_ws *w = p;
    return sd_mlp_jvp_multi(st->net, w->ws, r, w->in + i0 * st->n_in, K, pm->dim, vs, out, jv);
}

/* The feature part of the input adjoints, for the EMBED condition. */
static void feature_adjoints(const mlp_state *st, const mlp_ws *w, double *fg)
{
    size_t D = st->pm.dim, E = st->pm.embed_dim;
    for (size_t i = 0; i < w->r; i++)
        memcpy(fg + i * E, w->ig + i * st->n_in + D, E * sizeof *fg);
}

static int mlp_backward(const sd_pmodel *pm, void *p, const double *g, double *grad, double *fg)
{
    const mlp_state *st = (const mlp_state *)pm;
    mlp_ws *w = p;
    SD_TRY(sd_mlp_backward(st->net, w->ws, g, grad, fg ? w->ig : NULL));
    if (fg)
        feature_adjoints(st, w, fg);
    return SCORESDE_OK;
}

static int mlp_tangent_backward(const sd_pmodel *pm, void *p, const double *g, double *grad,
                                double *fg)
{
    const mlp_state *st = (const mlp_state *)pm;
    mlp_ws *w = p;
    SD_TRY(sd_mlp_tangent_backward(st->net, w->ws, NULL, g, grad, fg ? w->ig : NULL));
    if (fg)
        feature_adjoints(st, w, fg);
    return SCORESDE_OK;
}

static size_t mlp_net_params(const sd_pmodel *pm)
{
    return sd_mlp_num_params(((const mlp_state *)pm)->net);
}

static void mlp_net_get(const sd_pmodel *pm, double *theta)
{
    sd_mlp_get_params(((const mlp_state *)pm)->net, theta);
}

static int mlp_net_set(sd_pmodel *pm, const double *theta)
{
    return sd_mlp_set_params(((mlp_state *)pm)->net, theta);
}

static const sd_pnet_ops mlp_net_ops = {
    .num_params = mlp_net_params,
    .get_params = mlp_net_get,
    .set_params = mlp_net_set,
    .ws_create = mlp_ws_create,
    .ws_free = mlp_ws_free,
    .ws_set_threads = mlp_ws_set_threads,
    .load = mlp_load,
    .forward = mlp_forward,
    .predict = mlp_predict,
    .jvp = mlp_net_jvp,
    .backward = mlp_backward,
    .tangent_backward = mlp_tangent_backward,
    .jvp_multi = mlp_net_jvp_multi,
};

static void mlp_free_state(void *state)
{
    mlp_state *st = state;
    if (!st)
        return;
    sd_pmodel_fini(&st->pm);
    sd_mlp_free(st->net);
    sd_free(st);
}

/* Same layer sizes (D is equal already): embedding width, depth, widths. */
static int mlp_same_shape(const scoresde_model *dst, const scoresde_model *src)
{
    const scoresde_mlp_options *a = &((const mlp_state *)dst->state)->opt;
    const scoresde_mlp_options *b = &((const mlp_state *)src->state)->opt;
    if (a->embed_dim != b->embed_dim)
        return sd_fail(SCORESDE_EDIM, "dst has embed_dim %zu and src %zu", a->embed_dim,
                       b->embed_dim);
    if (a->n_hidden != b->n_hidden)
        return sd_fail(SCORESDE_EDIM, "dst has %zu hidden layers and src %zu", a->n_hidden,
                       b->n_hidden);
    for (size_t l = 0; l < a->n_hidden; l++)
        if (a->widths[l] != b->widths[l])
            return sd_fail(SCORESDE_EDIM, "hidden layer %zu has width %zu in dst and %zu in src",
                           l, a->widths[l], b->widths[l]);
    return sd_pmodel_same_cond(&((const mlp_state *)dst->state)->pm,
                               &((const mlp_state *)src->state)->pm);
}

/* Whether the features (time and condition) enter every hidden layer. */
static int mlp_layers_embed(const scoresde_mlp_options *o)
{
    return o->cond_dim > 0 && o->cond_input == SCORESDE_MLP_COND_EMBED_LAYERS;
}

/* The shared options of an MLP's options (precond.h). */
static sd_pmodel_config mlp_config(const scoresde_mlp_options *o, size_t D)
{
    sd_pmodel_config c = {
        .name = "MLP", .dim = D, .activation = o->activation, .output = o->output,
        .embedding = o->embedding, .precision = o->precision, .embed_dim = o->embed_dim,
        .fourier_scale = o->fourier_scale, .sigma_data = o->sigma_data, .seed = o->seed,
        .chunk_rows = o->chunk_rows, .n_threads = o->n_threads, .cond_dim = o->cond_dim,
        .cond_classes = o->cond_classes, .cond_input = o->cond_input, .cond_null = o->cond_null};
    return c;
}

/* A state from resolved, checked options (opt->widths non-NULL), the network
 * initialised from the seed; the widths are copied into the state.
 * freq: the embedding's h frequencies to copy (a clone's or a file's, so the
 * copy is bit-identical whatever the libm), or NULL to compute them. */
static int mlp_make_state(const scoresde_mlp_options *opt, size_t D, const double *freq,
                          mlp_state **out)
{
    mlp_state *st = sd_calloc(1, sizeof *st);
    if (!st)
        return SCORESDE_ENOMEM;
    sd_pmodel_config cfg = mlp_config(opt, D);
    int rc = sd_pmodel_init(&st->pm, &mlp_net_ops, &cfg, freq);
    if (rc != SCORESDE_OK) {
        sd_free(st);
        return rc;
    }
    st->opt = *opt;
    memcpy(st->widths, opt->widths, opt->n_hidden * sizeof *st->widths);
    st->opt.widths = st->widths;
    st->n_in = D + opt->embed_dim + (sd_pmodel_concat(&st->pm) ? opt->cond_dim : 0);
    size_t n_emb = mlp_layers_embed(opt) ? opt->embed_dim : 0;
    rc = sd_mlp_create_emb(&st->net, st->n_in, n_emb, opt->n_hidden, st->widths, D,
                       (sd_mlp_act)opt->activation,
                       opt->precision == SCORESDE_MLP_FLOAT32 ? SD_MLP_F32 : SD_MLP_F64,
                       opt->seed, 0);
    if (rc != SCORESDE_OK) {
        mlp_free_state(st);
        return rc;
    }
    *out = st;
    return SCORESDE_OK;
}

static int mlp_clone_state(const scoresde_model *src, void **out)
{
    const mlp_state *s = src->state;
    mlp_state *c;
    SD_TRY(mlp_make_state(&s->opt, src->dim, s->pm.freq, &c));
    int rc = sd_pmodel_copy_params(&c->pm, &s->pm);
    if (rc != SCORESDE_OK) {
        mlp_free_state(c);
        return rc;
    }
    *out = c;
    return SCORESDE_OK;
}

/* ------------------------------------------------------------------ files
 * KIND payload (docs/file-format.md, "MLP"): the resolved options, then the
 * embedding's frequencies. The parameters travel in PARM. */

static int mlp_check_options(const scoresde_mlp_options *o, size_t D, int code,
                             const char *where);

static int mlp_save_state(const scoresde_model *m, struct sd_writer *w)
{
    const mlp_state *st = m->state;
    const scoresde_mlp_options *o = &st->opt;
    sd_pmodel_config c = mlp_config(o, m->dim);
    sd_pmodel_put_head(w, &c);
    sd_writer_put_u64(w, (uint64_t)o->n_hidden);
    for (size_t l = 0; l < o->n_hidden; l++)
        sd_writer_put_u64(w, (uint64_t)o->widths[l]);
    /* The frequencies themselves, not only the seed: they are computed with
     * exp or a Philox normal (log, sqrt, cos), whose last bit may differ
     * between libms, and the file must rebuild the same bits anywhere. */
    sd_writer_put_f64_array(w, st->pm.freq, o->embed_dim / 2);
    /* Format 1.1: a conditional model appends its condition options; an
     * unconditional one writes the 1.0 payload exactly. */
    if (o->cond_dim > 0)
        sd_pmodel_put_cond(w, &c);
    return sd_writer_status(w);
}

static int mlp_load_state(scoresde_model *m, struct sd_reader *r, size_t n_params)
{
    scoresde_mlp_options o;
    scoresde_model_mlp_options_init(&o, sizeof o);
    size_t widths[SCORESDE_MLP_MAX_HIDDEN];
    o.widths = widths;
    size_t D = m->dim;
    sd_pmodel_config c = mlp_config(&o, D);
    SD_TRY(sd_pmodel_get_head(r, &c));
    SD_TRY(sd_pmodel_get_count(r, "MLP", 0, SCORESDE_MLP_MAX_HIDDEN, &o.n_hidden,
                               "hidden layer count"));
    for (size_t l = 0; l < o.n_hidden; l++)
        SD_TRY(sd_pmodel_get_count(r, "MLP", 1, SD_MLP_MAX_WIDTH, &widths[l], "hidden width"));
    double freq[2048];
    SD_TRY(sd_pmodel_get_freq(r, &c, freq));
    /* Format 1.0 ends here (unconditional); 1.1's conditional models go on. */
    if (sd_reader_remaining(r) > 0)
        SD_TRY(sd_pmodel_get_cond(r, 1, &c));
    o.activation = c.activation;
    o.output = c.output;
    o.embedding = c.embedding;
    o.precision = c.precision;
    o.embed_dim = c.embed_dim;
    o.fourier_scale = c.fourier_scale;
    o.sigma_data = c.sigma_data;
    o.seed = c.seed;
    o.chunk_rows = c.chunk_rows;
    o.n_threads = c.n_threads;
    o.cond_dim = c.cond_dim;
    o.cond_input = c.cond_input;
    o.cond_classes = c.cond_classes;
    o.cond_null = c.cond_null;
    SD_TRY(mlp_check_options(&o, D, SCORESDE_ECORRUPT, "the file's MLP "));

    /* The architecture's parameter count must be the file's (PARM, already
     * bounded by the bytes present) before anything is allocated: a forged
     * width cannot ask for memory the file does not back. With at most 65
     * layers of at most 2^20 + 1 inputs and 2^20 outputs the sum fits in
     * 64 bits. */
    int concat = o.cond_dim > 0 && o.cond_input == SCORESDE_MLP_COND_CONCAT;
    uint64_t want = 0, fan_in = (uint64_t)D + o.embed_dim + (concat ? o.cond_dim : 0);
    for (size_t l = 0; l <= o.n_hidden; l++) {
        uint64_t width = l < o.n_hidden ? widths[l] : D;
        want += width * (fan_in + 1);
        /* EMBED_LAYERS: P (width x embed_dim) for hidden layers 2 .. L-1 */
        if (mlp_layers_embed(&o) && l > 0 && l < o.n_hidden)
            want += width * o.embed_dim;
        fan_in = width;
    }
    want += sd_pmodel_cond_params(o.embed_dim, o.cond_dim, o.cond_classes, o.cond_input,
                                  o.cond_null);
    if (want != (uint64_t)n_params)
        return sd_fail(SCORESDE_ECORRUPT,
                       "the MLP described has %llu parameters, the file's parameter section %zu",
                       (unsigned long long)want, n_params);

    mlp_state *st;
    SD_TRY(mlp_make_state(&o, D, freq, &st));
    if (sd_mlp_num_params(st->net) + st->pm.n_cp != n_params) {
        mlp_free_state(st);
        return sd_fail(SCORESDE_ECORRUPT, "the MLP has %zu parameters, the file %zu",
                       sd_mlp_num_params(st->net) + st->pm.n_cp, n_params);
    }
    m->state = st;
    sd_pmodel_set_cond_fields(m, &st->pm);
    return SCORESDE_OK;
}

const sd_model_ops sd_model_mlp_ops = {
    .name = "MLP",
    .kind = SCORESDE_MODEL_MLP,
    .score = sd_pmodel_score,
    .jvp = sd_pmodel_jvp,
    .divergence = sd_pmodel_divergence,
    .score_div = sd_pmodel_score_div,
    .clone_state = mlp_clone_state,
    .free_state = mlp_free_state,
    .save_state = mlp_save_state,
    .load_state = mlp_load_state,
    .num_params = sd_pmodel_num_params,
    .get_params = sd_pmodel_get_params,
    .set_params = sd_pmodel_set_params,
    .param_limit = sd_pmodel_param_limit,
    .same_shape = mlp_same_shape,
    .score_backward = sd_pmodel_score_backward,
    .score_vjp = sd_pmodel_score_vjp,
    .probe_backward = sd_pmodel_probe_backward,
    .probe_vjp = sd_pmodel_probe_vjp,
};

/* The option checks shared by creation (EINVAL) and loading (ECORRUPT, with
 * where = "the file's MLP "). Embedding AUTO is accepted here; a file never
 * holds it (loading checks that itself). o->widths is non-NULL (creation
 * replaces a NULL by the default widths first). */
static int mlp_check_options(const scoresde_mlp_options *o, size_t D, int code,
                             const char *where)
{
    if (o->n_hidden > SCORESDE_MLP_MAX_HIDDEN)
        return sd_fail(code, "%sn_hidden (%zu) is above %d", where, o->n_hidden,
                       SCORESDE_MLP_MAX_HIDDEN);
    for (size_t l = 0; l < o->n_hidden; l++)
        if (o->widths[l] < 1 || o->widths[l] > SD_MLP_MAX_WIDTH)
            return sd_fail(code, "%swidths[%zu] (%zu) is not between 1 and %zu", where, l,
                           o->widths[l], (size_t)SD_MLP_MAX_WIDTH);
    sd_pmodel_config c = mlp_config(o, D);
    SD_TRY(sd_pmodel_check(&c, code, where));
    if (D > SD_MLP_MAX_WIDTH - o->embed_dim - o->cond_dim)
        return sd_fail(code, "%sD (%zu) is above the network's limit", where, D);
    return SCORESDE_OK;
}

/* The 1.0 layout of scoresde_mlp_options ends at n_threads: a program built
 * against that header passes this struct_size. */
#define MLP_OPTIONS_FIRST SD_STRUCT_END(scoresde_mlp_options, n_threads)

/* The default hidden widths, read when opts->widths is NULL. */
static const size_t default_widths[SCORESDE_MLP_MAX_HIDDEN] = {
#define W8 256, 256, 256, 256, 256, 256, 256, 256
    W8, W8, W8, W8, W8, W8, W8, W8
#undef W8
};

/* The defaults of the full current layout. */
static void mlp_defaults(scoresde_mlp_options *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->n_hidden = 3;
    o->widths = NULL;
    o->activation = SCORESDE_MLP_SILU;
    o->output = SCORESDE_MLP_OUTPUT_NOISE;
    o->embedding = SCORESDE_MLP_EMBED_AUTO;
    o->embed_dim = 16;
    o->fourier_scale = 16.0;
    o->sigma_data = 0.5;
    o->precision = SCORESDE_MLP_FLOAT64;
    o->seed = 0;
    o->chunk_rows = 1024;
    o->n_threads = 1;
    o->cond_dim = 0;
    o->cond_input = SCORESDE_MLP_COND_EMBED_LAYERS;
    o->cond_classes = 0;
    o->cond_null = 0;
}

int scoresde_model_mlp_options_init(scoresde_mlp_options *opts, size_t struct_size)
{
    SD_TRY(sd_check_ptr(opts, "opts"));
    SD_TRY(sd_check_struct_in(struct_size, MLP_OPTIONS_FIRST, sizeof *opts, "opts"));
    scoresde_mlp_options d;
    mlp_defaults(&d);
    d.struct_size = struct_size;
    /* Only the caller's struct_size bytes exist: an older caller's struct ends there. */
    memcpy(opts, &d, struct_size);
    return SCORESDE_OK;
}

int scoresde_model_create_mlp(scoresde_model **out, const scoresde_sde *sde, size_t D,
                              const scoresde_mlp_options *opts)
{
    SD_TRY(sd_check_ptr(out, "out"));
    *out = NULL;
    SD_TRY(sd_check_ptr(sde, "sde"));
    SD_TRY(sd_check_size(D, "D"));
    scoresde_mlp_options o;
    mlp_defaults(&o);
    if (opts) {
        SD_TRY(sd_check_struct_in(opts->struct_size, MLP_OPTIONS_FIRST, sizeof o, "opts"));
        /* Fields beyond the caller's struct_size keep their defaults. */
        memcpy(&o, opts, opts->struct_size);
        o.struct_size = sizeof o;
    }
    if (o.n_hidden > SCORESDE_MLP_MAX_HIDDEN)
        return sd_fail(SCORESDE_EINVAL, "n_hidden (%zu) is above %d", o.n_hidden,
                       SCORESDE_MLP_MAX_HIDDEN);
    /* Read the caller's widths once, here: the array need not outlive the call. */
    size_t widths[SCORESDE_MLP_MAX_HIDDEN];
    memcpy(widths, o.widths ? o.widths : default_widths, o.n_hidden * sizeof *widths);
    o.widths = widths;
    SD_TRY(mlp_check_options(&o, D, SCORESDE_EINVAL, ""));
    o.embedding = sd_pmodel_resolve_embedding(o.embedding, sde);
    o.cond_null = o.cond_dim > 0 && o.cond_null; /* stored as 0 or 1 */
    mlp_state *st;
    SD_TRY(mlp_make_state(&o, D, NULL, &st));
    SD_TRY(sd_model_create(out, &sd_model_mlp_ops, sde, D, st));
    sd_pmodel_set_cond_fields(*out, &st->pm);
    return SCORESDE_OK;
}
