/*
 * The MLP model kind: the network engine (lib/nn/mlp.h) wired to a forward
 * SDE through a time embedding and an output parameterisation (model.h,
 * "MLP models").
 *
 * Every parameterisation is affine in the network output, per sample:
 *     s_i = A_i x_i + B_i F(C_i x_i, e_i)
 * with scalars from alpha(t_i), sigma(t_i):
 *     SCORE  A = 0,                 B = 1,                     C = 1
 *     NOISE  A = 0,                 B = -1/sigma,              C = 1
 *     DATA   A = -1/sigma^2,        B = alpha/sigma^2,         C = 1
 *     EDM    A = -1/(alpha^2 q),    B = sd/(sigma sqrt(q)),    C = 1/(alpha sqrt(q)),
 *            q = sigma_e^2 + sd^2, sigma_e = sigma/alpha
 * (EDM: alpha c_skip x_e - x = (c_skip - 1) x = -sigma_e^2/q x, so
 * A = -(sigma_e^2/q)/sigma^2 = -1/(alpha^2 q) with no cancellation, and
 * B = alpha c_out/sigma^2 = sd/(sigma sqrt(q)).) Hence
 *     J_s v = A v + B J_F (C v, 0),
 *     d/dtheta sum g.s = d/dtheta sum (B g).F,
 *     d/dtheta v^T J_s v = d/dtheta (B v).J_F (C v, 0),
 * where J_F (u, 0) is the network's Jacobian product for the input tangent u
 * on the x part and 0 on the features (the embedding does not depend on x).
 * So score, Jacobian products, backward and probe backward are the engine's
 * forward, jvp, backward and tangent backward on rescaled arguments.
 *
 * Work is done in chunks of chunk_rows rows with a workspace from the state's
 * pool (mutex-guarded; a workspace is allocated only when none is free).
 * Threads: an evaluation runs on n_threads threads when called from serial
 * code, and on one thread when called from inside an active OpenMP parallel
 * region (e.g. a sampler's blocks with THREADS > 1): the caller's threads
 * already share the cores, and nesting BLIS's threads under them
 * oversubscribed the machine (measured, bench_sampler_mlp, PC 50 steps on
 * 4096 samples, on a loaded 2-core machine: 2 sampler x 2 model threads took
 * 6.1 s against 3.3 s for 2 x 1 before this rule, 1.98 s against 2.00 s
 * after). Results are bit-identical either way.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <string.h>

#include "io.h"
#include "mlp.h"
#include "model_internal.h"

/* One workspace of the pool and its per-chunk scratch. */
typedef struct mlp_slot {
    struct mlp_slot *next;
    sd_mlp_ws *ws;
    double *in;   /* chunk x n_in: network inputs */
    double *tin;  /* chunk x n_in: tangents (x part, zero features) */
    double *out;  /* chunk x D */
    double *jv;   /* chunk x D */
    double *g;    /* chunk x D: rescaled adjoints */
    double *coef; /* 3 x chunk: A, B, C */
    double *ig;   /* chunk x n_in: input adjoints (EMBED conditions only) */
} mlp_slot;

typedef struct mlp_state {
    scoresde_mlp_options opt; /* embedding resolved (never AUTO); opt.widths
                                 points to widths below */
    size_t widths[SCORESDE_MLP_MAX_HIDDEN]; /* the hidden widths, copied */
    size_t n_in;              /* D + embed_dim (+ C for CONCAT) */
    sd_mlp *net;
    double *freq;             /* embed_dim/2 frequencies */
    /* The condition's parameters after the network's (model.h, "Conditional
     * MLPs"): E (embed_dim x C) or T (K x embed_dim), then u (embed_dim), in
     * double (rounded to float for FLOAT32). n_cp is 0 for CONCAT and C = 0. */
    double *cp;
    size_t n_cp;
    pthread_mutex_t lock;
    mlp_slot *pool;
} mlp_state;

static void slot_free(mlp_slot *s)
{
    if (!s)
        return;
    sd_mlp_ws_free(s->ws);
    sd_free(s->in);
    sd_free(s->tin);
    sd_free(s->out);
    sd_free(s->jv);
    sd_free(s->g);
    sd_free(s->coef);
    sd_free(s->ig);
    sd_free(s);
}

static int slot_acquire(const scoresde_model *m, mlp_slot **out)
{
    mlp_state *st = m->state;
    pthread_mutex_lock(&st->lock);
    mlp_slot *s = st->pool;
    if (s)
        st->pool = s->next;
    pthread_mutex_unlock(&st->lock);
    /* no nested parallelism: see the top of this file */
    int nt = omp_in_parallel() ? 1 : st->opt.n_threads;
    if (s) {
        sd_mlp_ws_set_threads(s->ws, nt);
        *out = s;
        return SCORESDE_OK;
    }
    size_t C = st->opt.chunk_rows, D = m->dim;
    s = sd_calloc(1, sizeof *s);
    if (!s)
        return SCORESDE_ENOMEM;
    int rc = sd_mlp_ws_create(st->net, C, 0, nt, &s->ws);
    if (rc == SCORESDE_OK) {
        s->in = sd_calloc(C * st->n_in, sizeof(double));
        s->tin = sd_calloc(C * st->n_in, sizeof(double));
        s->out = sd_malloc(C * D * sizeof(double));
        s->jv = sd_malloc(C * D * sizeof(double));
        s->g = sd_malloc(C * D * sizeof(double));
        s->coef = sd_malloc(3 * C * sizeof(double));
        s->ig = st->n_cp ? sd_malloc(C * st->n_in * sizeof(double)) : NULL;
        if (!s->in || !s->tin || !s->out || !s->jv || !s->g || !s->coef || (st->n_cp && !s->ig))
            rc = SCORESDE_ENOMEM;
    }
    if (rc != SCORESDE_OK) {
        slot_free(s);
        return rc;
    }
    *out = s;
    return SCORESDE_OK;
}

static void slot_release(const scoresde_model *m, mlp_slot *s)
{
    mlp_state *st = m->state;
    pthread_mutex_lock(&st->lock);
    s->next = st->pool;
    st->pool = s;
    pthread_mutex_unlock(&st->lock);
}

static void mlp_free_state(void *state)
{
    mlp_state *st = state;
    if (!st)
        return;
    while (st->pool) {
        mlp_slot *s = st->pool;
        st->pool = s->next;
        slot_free(s);
    }
    pthread_mutex_destroy(&st->lock);
    sd_mlp_free(st->net);
    sd_free(st->freq);
    sd_free(st->cp);
    sd_free(st);
}

/* Where the condition's embedding parameters start in st->cp: E or T, then
 * the null vector u. */
static const double *cond_null_vector(const mlp_state *st)
{
    size_t rows = st->opt.cond_classes ? st->opt.cond_classes : st->opt.cond_dim;
    return st->cp + rows * st->opt.embed_dim; /* T is K x E; E is E x C: same count */
}

/* The condition's part of one input row (model.h, "Conditional MLPs"):
 * EMBED adds E c, T_k or u to the time features at row + D; CONCAT writes c
 * (0 for the null condition) at row + D + embed_dim. */
static void condition_row(const mlp_state *st, size_t D, const sd_cond *cond, size_t i,
                          double *row)
{
    size_t E = st->opt.embed_dim, C = st->opt.cond_dim;
    int null = sd_cond_is_null(cond, i);
    const double *c = null ? NULL : sd_cond_row(cond, i);
    if (st->opt.cond_input == SCORESDE_MLP_COND_CONCAT) {
        for (size_t j = 0; j < C; j++)
            row[D + E + j] = null ? 0.0 : c[j];
        return;
    }
    double *f = row + D;
    if (null) {
        const double *u = cond_null_vector(st);
        for (size_t k = 0; k < E; k++)
            f[k] += u[k];
    } else if (st->opt.cond_classes) {
        const double *T = st->cp + (size_t)c[0] * E;
        for (size_t k = 0; k < E; k++)
            f[k] += T[k];
    } else {
        for (size_t k = 0; k < E; k++) {
            double e = 0.0;
            for (size_t j = 0; j < C; j++)
                e += st->cp[k * C + j] * c[j];
            f[k] += e;
        }
    }
}

/* ADD the gradient of the condition's parameters, from the input adjoints
 * of rows i0 .. i0+r-1 in s->ig (their time-feature part, where the
 * embedding was added), to grad (the condition's part of the gradient);
 * rows in order, so the sum does not depend on threads. */
static void condition_backward(const scoresde_model *m, const mlp_slot *s, const sd_cond *cond,
                               size_t i0, size_t r, double *grad)
{
    const mlp_state *st = m->state;
    size_t D = m->dim, E = st->opt.embed_dim, C = st->opt.cond_dim;
    double *gu = grad + (cond_null_vector(st) - st->cp);
    for (size_t i = 0; i < r; i++) {
        const double *ge = s->ig + i * st->n_in + D;
        if (sd_cond_is_null(cond, i0 + i)) {
            for (size_t k = 0; k < E; k++)
                gu[k] += ge[k];
            continue;
        }
        const double *c = sd_cond_row(cond, i0 + i);
        if (st->opt.cond_classes) {
            double *gT = grad + (size_t)c[0] * E;
            for (size_t k = 0; k < E; k++)
                gT[k] += ge[k];
        } else {
            for (size_t k = 0; k < E; k++)
                for (size_t j = 0; j < C; j++)
                    grad[k * C + j] += ge[k] * c[j];
        }
    }
}

/* Coefficients and network inputs of rows i0 .. i0+r-1 (x part scaled by C,
 * then the time features, then the condition's part). */
static int prepare_chunk(const scoresde_model *m, mlp_slot *s, const double *x, const double *t,
                         const sd_cond *cond, size_t i0, size_t r)
{
    const mlp_state *st = m->state;
    size_t D = m->dim, h = st->opt.embed_dim / 2;
    double sd = st->opt.sigma_data;
    int out = st->opt.output;
    for (size_t i = 0; i < r; i++) {
        double ti = t[i0 + i], alpha, sigma, A, B, C, tau;
        SD_TRY(sd_model_marginal(m, ti, &alpha, &sigma));
        if (sigma <= 0.0 && (out != SCORESDE_MLP_OUTPUT_SCORE ||
                             st->opt.embedding == SCORESDE_MLP_EMBED_FOURIER))
            return sd_fail(SCORESDE_EINVAL,
                           "t[%zu] = %g gives sigma(t) = 0, where this MLP model (%s) is not "
                           "defined",
                           i0 + i, ti,
                           out != SCORESDE_MLP_OUTPUT_SCORE ? "its output parameterisation"
                                                            : "its Fourier embedding of ln sigma");
        switch (out) {
        case SCORESDE_MLP_OUTPUT_NOISE:
            A = 0.0;
            B = -1.0 / sigma;
            C = 1.0;
            break;
        case SCORESDE_MLP_OUTPUT_DATA:
            A = -1.0 / (sigma * sigma);
            B = alpha / (sigma * sigma);
            C = 1.0;
            break;
        case SCORESDE_MLP_OUTPUT_EDM: {
            double se = sigma / alpha, q = se * se + sd * sd, rq = sqrt(q);
            A = -1.0 / (alpha * alpha * q);
            B = sd / (sigma * rq);
            C = 1.0 / (alpha * rq);
            break;
        }
        case SCORESDE_MLP_OUTPUT_SCORE:
        default:
            A = 0.0;
            B = 1.0;
            C = 1.0;
            break;
        }
        if (out == SCORESDE_MLP_OUTPUT_EDM)
            tau = log(sigma / alpha) / 4.0; /* c_noise */
        else if (st->opt.embedding == SCORESDE_MLP_EMBED_FOURIER)
            tau = log(sigma);
        else
            tau = 999.0 * ti;
        s->coef[i] = A;
        s->coef[r + i] = B;
        s->coef[2 * r + i] = C;
        double *row = s->in + i * st->n_in;
        for (size_t j = 0; j < D; j++)
            row[j] = C * x[(i0 + i) * D + j];
        for (size_t k = 0; k < h; k++) {
            double a = tau * st->freq[k];
            row[D + k] = sin(a);
            row[D + h + k] = cos(a);
        }
        if (cond)
            condition_row(st, D, cond, i0 + i, row);
    }
    return SCORESDE_OK;
}

/* s = A x + B F for rows of a chunk, checking for non-finite results. */
static int finish_score(const scoresde_model *m, const mlp_slot *s, const double *x,
                        const double *t, size_t i0, size_t r, double *score)
{
    size_t D = m->dim;
    for (size_t i = 0; i < r; i++) {
        double A = s->coef[i], B = s->coef[r + i];
        for (size_t j = 0; j < D; j++) {
            double v = A * x[(i0 + i) * D + j] + B * s->out[i * D + j];
            if (!isfinite(v))
                return sd_fail(SCORESDE_ENUMERIC,
                               "the MLP score is not finite (%g) for sample %zu, coordinate "
                               "%zu (t = %g)",
                               v, i0 + i, j, t[i0 + i]);
            score[(i0 + i) * D + j] = v;
        }
    }
    return SCORESDE_OK;
}

/* The rows of the chunk starting at row i0 of n. */
static size_t chunk_len(const mlp_state *st, size_t n, size_t i0)
{
    return n - i0 < st->opt.chunk_rows ? n - i0 : st->opt.chunk_rows;
}

/* The score of rows i0 .. i0+r-1 into out; the forward state stays in the
 * slot's workspace for a backward pass. */
static int score_chunk(const scoresde_model *m, mlp_slot *s, const double *x, const double *t,
                       const sd_cond *cond, size_t i0, size_t r, double *out)
{
    const mlp_state *st = m->state;
    int rc = prepare_chunk(m, s, x, t, cond, i0, r);
    if (rc == SCORESDE_OK)
        rc = sd_mlp_forward(st->net, s->ws, r, s->in, s->out);
    if (rc == SCORESDE_OK)
        rc = finish_score(m, s, x, t, i0, r, out);
    return rc;
}

static int mlp_score(const scoresde_model *m, const double *x, const double *t, size_t n, const sd_cond *cond,
                     double *out)
{
    const mlp_state *st = m->state;
    mlp_slot *s;
    SD_TRY(slot_acquire(m, &s));
    int rc = SCORESDE_OK;
    for (size_t i0 = 0; i0 < n && rc == SCORESDE_OK; i0 += st->opt.chunk_rows)
        rc = score_chunk(m, s, x, t, cond, i0, chunk_len(st, n, i0), out);
    slot_release(m, s);
    return rc;
}

/* Tangent inputs of a chunk: (C v, 0 for the features). */
static void tangent_inputs(const scoresde_model *m, mlp_slot *s, const double *v, size_t ld,
                           size_t i0, size_t r)
{
    const mlp_state *st = m->state;
    size_t D = m->dim;
    for (size_t i = 0; i < r; i++) {
        double C = s->coef[2 * r + i];
        for (size_t j = 0; j < D; j++)
            s->tin[i * st->n_in + j] = C * v[(i0 + i) * ld + j];
        /* The feature part stays zero (calloc), never written. */
    }
}

/* (J_s v)_j = A v_j + B (J_F (C v, 0))_j: one function for mlp_jvp and
 * mlp_probe_vjp, so both round alike. */
static inline double jv_value(double A, double v, double B, double jvF)
{
    return A * v + B * jvF;
}

static int jv_not_finite(double val, size_t i, size_t j, const double *t)
{
    return sd_fail(SCORESDE_ENUMERIC,
                   "the MLP Jacobian product is not finite (%g) for sample %zu, coordinate %zu "
                   "(t = %g)",
                   val, i, j, t[i]);
}

static int mlp_jvp(const scoresde_model *m, const double *x, const double *t, size_t n, const sd_cond *cond,
                   const double *v, double *score_out, double *jv)
{
    const mlp_state *st = m->state;
    size_t D = m->dim;
    mlp_slot *s;
    SD_TRY(slot_acquire(m, &s));
    int rc = SCORESDE_OK;
    for (size_t i0 = 0; i0 < n && rc == SCORESDE_OK; i0 += st->opt.chunk_rows) {
        size_t r = chunk_len(st, n, i0);
        rc = prepare_chunk(m, s, x, t, cond, i0, r);
        if (rc != SCORESDE_OK)
            break;
        tangent_inputs(m, s, v, D, i0, r);
        rc = sd_mlp_jvp(st->net, s->ws, r, s->in, s->tin, s->out, s->jv);
        if (rc == SCORESDE_OK && score_out)
            rc = finish_score(m, s, x, t, i0, r, score_out);
        for (size_t i = 0; rc == SCORESDE_OK && i < r; i++) {
            double A = s->coef[i], B = s->coef[r + i];
            for (size_t j = 0; j < D; j++) {
                double val = jv_value(A, v[(i0 + i) * D + j], B, s->jv[i * D + j]);
                if (!isfinite(val))
                    rc = jv_not_finite(val, i0 + i, j, t);
                jv[(i0 + i) * D + j] = val;
            }
        }
    }
    slot_release(m, s);
    return rc;
}

/* Backpropagate the chunk's output gradient (rows i0 .. i0+r of out_grad,
 * through the output coefficient B) from the forward state in the slot's
 * workspace, adding into grad. */
static int backward_chunk(const scoresde_model *m, mlp_slot *s, const sd_cond *cond,
                          const double *out_grad, size_t i0, size_t r, double *grad)
{
    const mlp_state *st = m->state;
    size_t D = m->dim;
    for (size_t i = 0; i < r; i++)
        for (size_t j = 0; j < D; j++)
            s->g[i * D + j] = s->coef[r + i] * out_grad[(i0 + i) * D + j];
    SD_TRY(sd_mlp_backward(st->net, s->ws, s->g, grad, st->n_cp ? s->ig : NULL));
    if (st->n_cp)
        condition_backward(m, s, cond, i0, r, grad + sd_mlp_num_params(st->net));
    return SCORESDE_OK;
}

static int mlp_score_backward(const scoresde_model *m, const double *x, const double *t,
                              size_t n, const sd_cond *cond, const double *out_grad, double *grad)
{
    const mlp_state *st = m->state;
    mlp_slot *s;
    SD_TRY(slot_acquire(m, &s));
    int rc = SCORESDE_OK;
    for (size_t i0 = 0; i0 < n && rc == SCORESDE_OK; i0 += st->opt.chunk_rows) {
        size_t r = chunk_len(st, n, i0);
        rc = prepare_chunk(m, s, x, t, cond, i0, r);
        if (rc == SCORESDE_OK)
            rc = sd_mlp_forward(st->net, s->ws, r, s->in, s->out);
        if (rc != SCORESDE_OK)
            break;
        rc = backward_chunk(m, s, cond, out_grad, i0, r, grad);
    }
    slot_release(m, s);
    return rc;
}

/* Fused score and backward: per chunk, the forward pass keeps its state in
 * the slot's workspace, the caller turns the chunk's score into its output
 * gradient, and the backward runs on that state. Chunks, the arithmetic of
 * each and the order in which chunks add into grad are those of mlp_score
 * followed by mlp_score_backward, so the result is bit-identical to that pair
 * with one forward pass (and one prepare_chunk) fewer per chunk. */
static int mlp_score_vjp(const scoresde_model *m, const double *x, const double *t, size_t n, const sd_cond *cond,
                         double *score, double *out_grad, sd_vjp_fill_fn fill, void *ctx,
                         double *grad)
{
    const mlp_state *st = m->state;
    mlp_slot *s;
    SD_TRY(slot_acquire(m, &s));
    int rc = SCORESDE_OK;
    for (size_t i0 = 0; i0 < n && rc == SCORESDE_OK; i0 += st->opt.chunk_rows) {
        size_t r = chunk_len(st, n, i0);
        rc = score_chunk(m, s, x, t, cond, i0, r, score);
        if (rc == SCORESDE_OK)
            rc = fill(i0, r, ctx);
        if (rc != SCORESDE_OK)
            break;
        rc = backward_chunk(m, s, cond, out_grad, i0, r, grad);
    }
    slot_release(m, s);
    return rc;
}

/* Axis tangent inputs of a chunk: (C e_k, 0 for the features), with e_k's
 * 1.0 and 0.0 multiplied as tangent_inputs multiplies a stored e_k. */
static void axis_tangent_inputs(const scoresde_model *m, mlp_slot *s, size_t k, size_t r)
{
    const mlp_state *st = m->state;
    size_t D = m->dim;
    for (size_t i = 0; i < r; i++) {
        double C = s->coef[2 * r + i];
        for (size_t j = 0; j < D; j++)
            s->tin[i * st->n_in + j] = C * (j == k ? 1.0 : 0.0);
    }
}

/* Probe terms and their backward (the probe_vjp slot; probe_backward is the
 * same pass with est NULL). Per chunk: one prepare_chunk, then per probe
 * index k one jvp whose result gives the chunk's terms v^T J v (as mlp_jvp
 * forms J_s v and the generic hutchinson/divergence sum it: same products,
 * same order per sample) and whose state the tangent backward uses. So est
 * and grad are bit-identical to a Hutchinson or divergence call followed by
 * probe_backward, with one jvp pass per probe fewer. A per-sample sum over k
 * is independent of the chunk loop order. */
static int mlp_probe_vjp(const scoresde_model *m, const double *x, const double *t, size_t n, const sd_cond *cond,
                         const double *probes, size_t M, const double *weights, double *est,
                         double *grad)
{
    const mlp_state *st = m->state;
    size_t D = m->dim;
    mlp_slot *s;
    SD_TRY(slot_acquire(m, &s));
    int rc = SCORESDE_OK;
    for (size_t i0 = 0; i0 < n && rc == SCORESDE_OK; i0 += st->opt.chunk_rows) {
        size_t r = chunk_len(st, n, i0);
        rc = prepare_chunk(m, s, x, t, cond, i0, r);
        for (size_t i = 0; est && i < r; i++)
            est[i0 + i] = 0.0;
        for (size_t k = 0; rc == SCORESDE_OK && k < M; k++) {
            if (probes)
                tangent_inputs(m, s, probes + k * D, M * D, i0, r);
            else
                axis_tangent_inputs(m, s, k, r);
            rc = sd_mlp_jvp(st->net, s->ws, r, s->in, s->tin, NULL, s->jv);
            for (size_t i = 0; rc == SCORESDE_OK && i < r; i++) {
                double A = s->coef[i], B = s->coef[r + i];
                double f = weights[(i0 + i) * M + k] * B, dot = 0.0;
                const double *v = probes ? probes + ((i0 + i) * M + k) * D : NULL;
                for (size_t j = 0; j < D; j++) {
                    double vj = v ? v[j] : (j == k ? 1.0 : 0.0);
                    double val = jv_value(A, vj, B, s->jv[i * D + j]);
                    if (!isfinite(val)) {
                        rc = jv_not_finite(val, i0 + i, j, t);
                        break;
                    }
                    if (v)
                        dot += vj * val;
                    else if (est && j == k)
                        est[i0 + i] += val;
                    /* The backward seed of w v^T J v (the tangent input
                     * already carries C: w B v). */
                    s->g[i * D + j] = f * vj;
                }
                if (v && est)
                    est[i0 + i] += dot;
            }
            if (rc == SCORESDE_OK)
                rc = sd_mlp_tangent_backward(st->net, s->ws, NULL, s->g, grad,
                                             st->n_cp ? s->ig : NULL);
            if (rc == SCORESDE_OK && st->n_cp)
                condition_backward(m, s, cond, i0, r, grad + sd_mlp_num_params(st->net));
        }
        for (size_t i = 0; rc == SCORESDE_OK && probes && est && i < r; i++)
            est[i0 + i] /= (double)M;
    }
    slot_release(m, s);
    return rc;
}

static int mlp_probe_backward(const scoresde_model *m, const double *x, const double *t,
                              size_t n, const sd_cond *cond, const double *probes, size_t M, const double *weights,
                              double *grad)
{
    return mlp_probe_vjp(m, x, t, n, cond, probes, M, weights, NULL, grad);
}

static size_t mlp_num_params(const scoresde_model *m)
{
    const mlp_state *st = m->state;
    return sd_mlp_num_params(st->net) + st->n_cp;
}

static int mlp_get_params(const scoresde_model *m, double *theta)
{
    const mlp_state *st = m->state;
    memcpy(theta + sd_mlp_num_params(st->net), st->cp, st->n_cp * sizeof *theta);
    return sd_mlp_get_params(st->net, theta);
}

/* The condition's parameters in the model's precision: check them all
 * (store 0), or store them (store 1, after a check). */
static int set_cond_params(mlp_state *st, const double *theta, int store)
{
    int f32 = st->opt.precision == SCORESDE_MLP_FLOAT32;
    for (size_t q = 0; q < st->n_cp; q++) {
        if (!store && f32 && !(fabs(theta[q]) < SD_FLOAT32_LIMIT))
            return sd_fail(SCORESDE_EINVAL,
                           "theta[%zu] (%g), a condition parameter, is beyond float32's range",
                           q + sd_mlp_num_params(st->net), theta[q]);
        if (store)
            st->cp[q] = f32 ? (double)(float)theta[q] : theta[q];
    }
    return SCORESDE_OK;
}

static int mlp_set_params(scoresde_model *m, double const *theta)
{
    mlp_state *st = m->state;
    const double *tc = theta + sd_mlp_num_params(st->net);
    SD_TRY(set_cond_params(st, tc, 0));
    SD_TRY(sd_mlp_set_params(st->net, theta));
    return set_cond_params(st, tc, 1);
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
    if (a->cond_dim != b->cond_dim || a->cond_classes != b->cond_classes ||
        (a->cond_dim && (a->cond_input != b->cond_input || !a->cond_null != !b->cond_null)))
        return sd_fail(SCORESDE_EDIM,
                       "dst and src take different conditions (cond_dim %zu and %zu, "
                       "cond_classes %zu and %zu, or cond_input or cond_null differ)",
                       a->cond_dim, b->cond_dim, a->cond_classes, b->cond_classes);
    return SCORESDE_OK;
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
    if (pthread_mutex_init(&st->lock, NULL) != 0) {
        sd_free(st);
        return sd_fail(SCORESDE_ENOMEM, "could not create the MLP model's workspace lock");
    }
    st->opt = *opt;
    memcpy(st->widths, opt->widths, opt->n_hidden * sizeof *st->widths);
    st->opt.widths = st->widths;
    size_t C = opt->cond_dim, E = opt->embed_dim;
    int embed = C > 0 && opt->cond_input == SCORESDE_MLP_COND_EMBED;
    st->n_in = D + E + (C > 0 && !embed ? C : 0);
    st->n_cp = embed ? (opt->cond_classes ? opt->cond_classes : C) * E + (opt->cond_null ? E : 0)
                     : 0;
    size_t h = opt->embed_dim / 2;
    st->freq = sd_malloc(h * sizeof(double));
    st->cp = sd_calloc(st->n_cp ? st->n_cp : 1, sizeof(double)); /* u starts at zero */
    if (!st->freq || !st->cp) {
        mlp_free_state(st);
        return SCORESDE_ENOMEM;
    }
    if (freq != NULL) {
        memcpy(st->freq, freq, h * sizeof(double));
    } else if (opt->embedding == SCORESDE_MLP_EMBED_FOURIER) {
        sd_rng_normal(opt->seed, UINT64_C(1) << 32, SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, 0), h,
                      st->freq);
        for (size_t k = 0; k < h; k++)
            st->freq[k] *= 2.0 * M_PI * opt->fourier_scale;
    } else {
        for (size_t k = 0; k < h; k++)
            st->freq[k] = h > 1 ? exp(-log(10000.0) * (double)k / (double)(h - 1)) : 1.0;
    }
    int rc = sd_mlp_create(&st->net, st->n_in, opt->n_hidden, st->widths, D,
                           (sd_mlp_act)opt->activation,
                           opt->precision == SCORESDE_MLP_FLOAT32 ? SD_MLP_F32 : SD_MLP_F64,
                           opt->seed, 0);
    if (rc == SCORESDE_OK && embed) {
        /* E ~ N(0, 1/C) or T ~ N(0, 1), then u = 0 (model.h). */
        size_t n_emb = st->n_cp - (opt->cond_null ? E : 0);
        double scale = opt->cond_classes ? 1.0 : sqrt(1.0 / (double)C);
        sd_rng_normal(opt->seed, (UINT64_C(1) << 32) + 1,
                      SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, 0), n_emb, st->cp);
        for (size_t q = 0; q < n_emb; q++)
            st->cp[q] *= scale;
        rc = set_cond_params(st, st->cp, 1); /* normals are far inside float's range */
    }
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
    SD_TRY(mlp_make_state(&s->opt, src->dim, s->freq, &c));
    size_t np = sd_mlp_num_params(s->net);
    double *theta = sd_malloc(np * sizeof *theta);
    if (!theta) {
        mlp_free_state(c);
        return SCORESDE_ENOMEM;
    }
    sd_mlp_get_params(s->net, theta);
    int rc = sd_mlp_set_params(c->net, theta);
    sd_free(theta);
    memcpy(c->cp, s->cp, s->n_cp * sizeof *c->cp);
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
    sd_writer_put_u64(w, (uint64_t)m->dim);
    sd_writer_put_u32(w, (uint32_t)o->activation);
    sd_writer_put_u32(w, (uint32_t)o->output);
    sd_writer_put_u32(w, (uint32_t)o->embedding);
    sd_writer_put_u32(w, (uint32_t)o->precision);
    sd_writer_put_u64(w, (uint64_t)o->embed_dim);
    sd_writer_put_f64(w, o->fourier_scale);
    sd_writer_put_f64(w, o->sigma_data);
    sd_writer_put_u64(w, o->seed);
    sd_writer_put_u64(w, (uint64_t)o->chunk_rows);
    sd_writer_put_u32(w, (uint32_t)o->n_threads);
    sd_writer_put_u64(w, (uint64_t)o->n_hidden);
    for (size_t l = 0; l < o->n_hidden; l++)
        sd_writer_put_u64(w, (uint64_t)o->widths[l]);
    /* The frequencies themselves, not only the seed: they are computed with
     * exp or a Philox normal (log, sqrt, cos), whose last bit may differ
     * between libms, and the file must rebuild the same bits anywhere. */
    sd_writer_put_f64_array(w, st->freq, o->embed_dim / 2);
    /* Format 1.1: a conditional model appends its condition options; an
     * unconditional one writes the 1.0 payload exactly. */
    if (o->cond_dim > 0) {
        sd_writer_put_u64(w, (uint64_t)o->cond_dim);
        sd_writer_put_u32(w, (uint32_t)o->cond_input);
        sd_writer_put_u64(w, (uint64_t)o->cond_classes);
        sd_writer_put_u32(w, (uint32_t)(o->cond_null != 0));
    }
    return sd_writer_status(w);
}

/* A u32 enum field that must lie in [lo, hi], as an int. */
static int get_enum(struct sd_reader *r, int lo, int hi, int *out, const char *what)
{
    uint32_t v;
    size_t at = sd_reader_offset(r);
    SD_TRY(sd_reader_get_u32(r, &v, what));
    if (v < (uint32_t)lo || v > (uint32_t)hi)
        return sd_fail(SCORESDE_ECORRUPT, "the MLP %s at offset %zu (%u) is not between %d and %d",
                       what, at, v, lo, hi);
    *out = (int)v;
    return SCORESDE_OK;
}

/* A u64 count field that must lie in [lo, hi]. */
static int get_count(struct sd_reader *r, uint64_t lo, uint64_t hi, size_t *out,
                     const char *what)
{
    uint64_t v;
    size_t at = sd_reader_offset(r);
    SD_TRY(sd_reader_get_u64(r, &v, what));
    if (v < lo || v > hi)
        return sd_fail(SCORESDE_ECORRUPT,
                       "the MLP %s at offset %zu (%llu) is not between %llu and %llu", what, at,
                       (unsigned long long)v, (unsigned long long)lo, (unsigned long long)hi);
    *out = (size_t)v;
    return SCORESDE_OK;
}

/* The generic layer's view of the model's conditions (model_internal.h). */
static void mlp_set_cond_fields(scoresde_model *m)
{
    const scoresde_mlp_options *o = &((const mlp_state *)m->state)->opt;
    m->cond_dim = o->cond_dim;
    m->cond_labels = o->cond_classes;
    m->cond_null = o->cond_dim > 0 && o->cond_null;
}

static int mlp_load_state(scoresde_model *m, struct sd_reader *r, size_t n_params)
{
    scoresde_mlp_options o;
    scoresde_model_mlp_options_init(&o, sizeof o);
    size_t widths[SCORESDE_MLP_MAX_HIDDEN];
    o.widths = widths;
    size_t D;
    SD_TRY(get_count(r, m->dim, m->dim, &D, "dimension (must equal the model's)"));
    SD_TRY(get_enum(r, SCORESDE_MLP_SILU, SCORESDE_MLP_SOFTPLUS, &o.activation, "activation"));
    SD_TRY(get_enum(r, SCORESDE_MLP_OUTPUT_SCORE, SCORESDE_MLP_OUTPUT_EDM, &o.output,
                    "output parameterisation"));
    /* Files hold the resolved embedding, never AUTO. */
    SD_TRY(get_enum(r, SCORESDE_MLP_EMBED_FOURIER, SCORESDE_MLP_EMBED_SINUSOIDAL, &o.embedding,
                    "embedding"));
    SD_TRY(get_enum(r, SCORESDE_MLP_FLOAT64, SCORESDE_MLP_FLOAT32, &o.precision, "precision"));
    SD_TRY(get_count(r, 2, 4096, &o.embed_dim, "embedding dimension"));
    SD_TRY(sd_reader_get_f64(r, &o.fourier_scale, "Fourier scale"));
    SD_TRY(sd_reader_get_f64(r, &o.sigma_data, "sigma_data"));
    SD_TRY(sd_reader_get_u64(r, &o.seed, "seed"));
    SD_TRY(get_count(r, 1, (uint64_t)1 << 20, &o.chunk_rows, "chunk_rows"));
    int threads;
    SD_TRY(get_enum(r, 1, 1024, &threads, "thread count"));
    o.n_threads = threads;
    SD_TRY(get_count(r, 0, SCORESDE_MLP_MAX_HIDDEN, &o.n_hidden, "hidden layer count"));
    for (size_t l = 0; l < o.n_hidden; l++)
        SD_TRY(get_count(r, 1, SD_MLP_MAX_WIDTH, &widths[l], "hidden width"));

    size_t h = o.embed_dim / 2;
    SD_TRY(sd_reader_check_count(r, h, sizeof(double), "embedding frequencies"));
    double freq[2048];
    SD_TRY(sd_reader_get_f64_array(r, freq, h, "embedding frequencies"));
    for (size_t k = 0; k < h; k++)
        if (!isfinite(freq[k]))
            return sd_fail(SCORESDE_ECORRUPT, "the MLP embedding frequency %zu (%g) is not finite",
                           k, freq[k]);
    /* Format 1.0 ends here (unconditional); 1.1's conditional models go on. */
    if (sd_reader_remaining(r) > 0) {
        SD_TRY(get_count(r, 1, 4096, &o.cond_dim, "condition dimension"));
        SD_TRY(get_enum(r, SCORESDE_MLP_COND_CONCAT, SCORESDE_MLP_COND_EMBED, &o.cond_input,
                        "condition input"));
        SD_TRY(get_count(r, 0, (uint64_t)1 << 20, &o.cond_classes, "condition classes"));
        SD_TRY(get_enum(r, 0, 1, &o.cond_null, "null-condition flag"));
    }
    SD_TRY(mlp_check_options(&o, D, SCORESDE_ECORRUPT, "the file's MLP "));

    /* The architecture's parameter count must be the file's (PARM, already
     * bounded by the bytes present) before anything is allocated: a forged
     * width cannot ask for memory the file does not back. With at most 65
     * layers of at most 2^20 + 1 inputs and 2^20 outputs the sum fits in
     * 64 bits. */
    int embed = o.cond_dim > 0 && o.cond_input == SCORESDE_MLP_COND_EMBED;
    uint64_t want = 0, fan_in = (uint64_t)D + o.embed_dim + (embed ? 0 : o.cond_dim);
    for (size_t l = 0; l <= o.n_hidden; l++) {
        uint64_t width = l < o.n_hidden ? widths[l] : D;
        want += width * (fan_in + 1);
        fan_in = width;
    }
    if (embed) /* at most 2^20 x 4096 + 4096 */
        want += (uint64_t)(o.cond_classes ? o.cond_classes : o.cond_dim) * o.embed_dim +
                (o.cond_null ? o.embed_dim : 0);
    if (want != (uint64_t)n_params)
        return sd_fail(SCORESDE_ECORRUPT,
                       "the MLP described has %llu parameters, the file's parameter section %zu",
                       (unsigned long long)want, n_params);

    mlp_state *st;
    SD_TRY(mlp_make_state(&o, D, freq, &st));
    if (sd_mlp_num_params(st->net) + st->n_cp != n_params) {
        mlp_free_state(st);
        return sd_fail(SCORESDE_ECORRUPT, "the MLP has %zu parameters, the file %zu",
                       sd_mlp_num_params(st->net) + st->n_cp, n_params);
    }
    m->state = st;
    mlp_set_cond_fields(m);
    return SCORESDE_OK;
}

static double mlp_param_limit(const scoresde_model *m)
{
    const mlp_state *st = m->state;
    return st->opt.precision == SCORESDE_MLP_FLOAT32 ? SD_FLOAT32_LIMIT : INFINITY;
}

const sd_model_ops sd_model_mlp_ops = {
    .name = "MLP",
    .kind = SCORESDE_MODEL_MLP,
    .score = mlp_score,
    .jvp = mlp_jvp,
    .clone_state = mlp_clone_state,
    .free_state = mlp_free_state,
    .save_state = mlp_save_state,
    .load_state = mlp_load_state,
    .num_params = mlp_num_params,
    .get_params = mlp_get_params,
    .set_params = mlp_set_params,
    .param_limit = mlp_param_limit,
    .same_shape = mlp_same_shape,
    .score_backward = mlp_score_backward,
    .score_vjp = mlp_score_vjp,
    .probe_backward = mlp_probe_backward,
    .probe_vjp = mlp_probe_vjp,
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
    if (o->activation < SCORESDE_MLP_SILU || o->activation > SCORESDE_MLP_SOFTPLUS)
        return sd_fail(code, "%sactivation (%d) is not a SCORESDE_MLP_* activation", where,
                       o->activation);
    if (o->output < SCORESDE_MLP_OUTPUT_SCORE || o->output > SCORESDE_MLP_OUTPUT_EDM)
        return sd_fail(code, "%soutput (%d) is not a SCORESDE_MLP_OUTPUT_* value", where,
                       o->output);
    if (o->embedding < SCORESDE_MLP_EMBED_AUTO || o->embedding > SCORESDE_MLP_EMBED_SINUSOIDAL)
        return sd_fail(code, "%sembedding (%d) is not a SCORESDE_MLP_EMBED_* value", where,
                       o->embedding);
    if (o->embed_dim < 2 || o->embed_dim > 4096 || o->embed_dim % 2 != 0)
        return sd_fail(code, "%sembed_dim (%zu) must be even and between 2 and 4096", where,
                       o->embed_dim);
    if (!(isfinite(o->fourier_scale) && o->fourier_scale > 0))
        return sd_fail(code, "%sfourier_scale (%g) must be positive and finite", where,
                       o->fourier_scale);
    if (!(isfinite(o->sigma_data) && o->sigma_data > 0))
        return sd_fail(code, "%ssigma_data (%g) must be positive and finite", where,
                       o->sigma_data);
    if (o->precision != SCORESDE_MLP_FLOAT64 && o->precision != SCORESDE_MLP_FLOAT32)
        return sd_fail(code, "%sprecision (%d) is not a SCORESDE_MLP_* precision", where,
                       o->precision);
    if (o->chunk_rows < 1 || o->chunk_rows > ((size_t)1 << 20))
        return sd_fail(code, "%schunk_rows (%zu) is not between 1 and 2^20", where,
                       o->chunk_rows);
    if (o->n_threads < 1 || o->n_threads > 1024)
        return sd_fail(code, "%sn_threads (%d) is not between 1 and 1024", where, o->n_threads);
    if (o->cond_dim > 4096)
        return sd_fail(code, "%scond_dim (%zu) is above 4096", where, o->cond_dim);
    if (o->cond_dim > 0) {
        if (o->cond_input != SCORESDE_MLP_COND_CONCAT && o->cond_input != SCORESDE_MLP_COND_EMBED)
            return sd_fail(code, "%scond_input (%d) is not a SCORESDE_MLP_COND_* value", where,
                           o->cond_input);
        if (o->cond_classes > ((size_t)1 << 20))
            return sd_fail(code, "%scond_classes (%zu) is above 2^20", where, o->cond_classes);
        if (o->cond_classes > 0 &&
            (o->cond_dim != 1 || o->cond_input != SCORESDE_MLP_COND_EMBED))
            return sd_fail(code,
                           "%scond_classes (%zu) needs cond_dim 1 (the label) and cond_input "
                           "SCORESDE_MLP_COND_EMBED",
                           where, o->cond_classes);
    } else if (o->cond_classes > 0 || o->cond_null) {
        return sd_fail(code, "%scond_classes and cond_null need cond_dim > 0", where);
    }
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
    o->cond_input = SCORESDE_MLP_COND_EMBED;
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
    if (o.embedding == SCORESDE_MLP_EMBED_AUTO) {
        int k = scoresde_sde_kind(sde);
        o.embedding = (k == SCORESDE_SDE_VP || k == SCORESDE_SDE_SUBVP)
                          ? SCORESDE_MLP_EMBED_SINUSOIDAL
                          : SCORESDE_MLP_EMBED_FOURIER;
    }
    o.cond_null = o.cond_dim > 0 && o.cond_null; /* stored as 0 or 1 */
    mlp_state *st;
    SD_TRY(mlp_make_state(&o, D, NULL, &st));
    SD_TRY(sd_model_create(out, &sd_model_mlp_ops, sde, D, st));
    mlp_set_cond_fields(*out);
    return SCORESDE_OK;
}
