/*
 * The layer every trainable network kind shares (private): the output
 * preconditioning, the time features, the condition's embedding parameters
 * and the workspace pool, with the model-kind slots built on them. A network
 * kind supplies only its network, as one sd_pnet_ops table; its state
 * struct starts with an sd_pmodel (so m->state is one), and its sd_model_ops
 * table points the evaluation and parameter slots at the sd_pmodel_*
 * functions below.
 *
 * Every output parameterisation is affine in the network output, per sample:
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
 * So score, Jacobian products, backward and probe backward are the
 * network's forward, jvp, backward and tangent backward on rescaled
 * arguments.
 *
 * Work is done in chunks of chunk_rows rows with a workspace from the
 * state's pool (mutex-guarded; a workspace is allocated only when none is
 * free). Threads: an evaluation runs on n_threads threads when called from
 * serial code, and on one thread when called from inside an active OpenMP
 * parallel region (e.g. a sampler's blocks with THREADS > 1): the caller's
 * threads already share the cores, and nesting BLIS's threads under them
 * oversubscribed the machine (measured, bench_sampler_mlp, PC 50 steps on
 * 4096 samples, on a loaded 2-core machine: 2 sampler x 2 model threads took
 * 6.1 s against 3.3 s for 2 x 1 before this rule, 1.98 s against 2.00 s
 * after). Results are bit-identical either way.
 * Scores (and the data and noise predictions made from them) never use
 * BLIS's threads: from outside any OpenMP region, with at least 256 rows per
 * thread, their rows are split over the n_threads threads, each part on one
 * BLIS thread: one fork and join per evaluation instead of BLIS's barriers
 * inside every GEMM, which on a loaded machine made n_threads = 2 several
 * times slower than one (issue 14; a row's score does not depend on the
 * other rows, so the bits are the same); smaller scores run on one thread.
 * The other passes run on the network engine's own threads, which share a
 * chunk's rows (lib/nn/split.h: one parallel region per chunk, each thread
 * on one BLIS thread; the same bits for every thread count).
 *
 * Conditions: CONCAT conditions are the network's own input (the network
 * reads them with sd_pmodel_concat_row); EMBED and EMBED_LAYERS conditions
 * add E c, T_k or the null vector u to the time features here (model.h,
 * "Conditional MLPs"), and their parameters follow the network's in the
 * flat vector. Where the features enter is the network's business (the
 * MLP: the first layer for EMBED, every hidden layer for EMBED_LAYERS).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SD_PRECOND_H
#define SD_PRECOND_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "model_internal.h"

struct sd_pmodel;

/* A network kind's network. Every function gets the model's sd_pmodel (the
 * kind casts it to its state) and a workspace made by ws_create. */
typedef struct sd_pnet_ops {
    size_t (*num_params)(const struct sd_pmodel *pm);
    void (*get_params)(const struct sd_pmodel *pm, double *theta);
    /* theta finite; fails (EINVAL) without changing anything if a value
     * does not fit the compute precision. */
    int (*set_params)(struct sd_pmodel *pm, const double *theta);
    /* A workspace for chunks of up to rows rows on n_threads threads. */
    int (*ws_create)(const struct sd_pmodel *pm, size_t rows, int n_threads, void **ws);
    void (*ws_free)(void *ws);
    void (*ws_set_threads)(void *ws, int n_threads);
    /* Take the network input of a chunk of r rows (rows i0.. of the batch):
     * xs (r x D, already C x), feat (r x embed_dim, the time features with
     * an EMBED condition added) and cond (for CONCAT conditions). */
    void (*load)(const struct sd_pmodel *pm, void *ws, size_t r, const double *xs,
                 const double *feat, const sd_cond *cond, size_t i0);
    /* out (r x D) = F of the loaded chunk, keeping what backward needs. */
    int (*forward)(const struct sd_pmodel *pm, void *ws, size_t r, double *out);
    /* The same bits of out, keeping no backward state (the scores). */
    int (*predict)(const struct sd_pmodel *pm, void *ws, size_t r, double *out);
    /* out (may be NULL) = F and jv = J_F (vs, 0) for tangents vs (r x D),
     * keeping what tangent_backward needs. */
    int (*jvp)(const struct sd_pmodel *pm, void *ws, size_t r, const double *vs, double *out,
               double *jv);
    /* After forward / jvp: ADD to grad (the network's parameters) the
     * gradient of sum g.F (g r x D) / sum g.J_F(vs, 0), and WRITE the
     * gradient with respect to feat into fg (r x embed_dim) unless NULL. */
    int (*backward)(const struct sd_pmodel *pm, void *ws, const double *g, double *grad,
                    double *fg);
    int (*tangent_backward)(const struct sd_pmodel *pm, void *ws, const double *g, double *grad,
                            double *fg);
    /* The stacked pass of the fused score and divergence (issue 14): out
     * (may be NULL) = F of rows i0 .. i0+r-1 of the loaded chunk and, for
     * k < K, jv[k r D ..] (r x D) = J_F (vs_k, 0) for the tangents vs
     * (K x r x D), with one GEMM per layer over the primal and tangent rows
     * stacked. The caller keeps (1 + K) r <= 2 chunk_rows. Keeps no backward
     * state. */
    int (*jvp_multi)(const struct sd_pmodel *pm, void *ws, size_t i0, size_t r, size_t K,
                     const double *vs, double *out, double *jv);
} sd_pnet_ops;

/* One workspace of the pool and its per-chunk scratch. */
typedef struct sd_pslot {
    struct sd_pslot *next;
    void *ws;     /* the network's */
    double *xs;   /* chunk x D: C x */
    double *vs;   /* chunk x D: C v */
    double *feat; /* chunk x embed_dim */
    double *fg;   /* chunk x embed_dim: feature adjoints (EMBED conditions only) */
    double *out;  /* chunk x D */
    double *jv;   /* chunk x D */
    double *g;    /* chunk x D: rescaled adjoints */
    double *coef; /* 3 x chunk: A, B, C */
    double *mv;   /* 2 chunk x D: stacked tangents C v_k (sd_pmodel_score_div) */
    double *mjv;  /* 2 chunk x D: their J_F products */
} sd_pslot;

/* The preconditioned network's shared state: the first member of a network
 * kind's state. */
typedef struct sd_pmodel {
    const sd_pnet_ops *net;
    const char *name;    /* "MLP", "residual MLP": messages */
    size_t dim;          /* D */
    int output;          /* SCORESDE_MLP_OUTPUT_* */
    int embedding;       /* SCORESDE_MLP_EMBED_FOURIER or _SINUSOIDAL (never AUTO) */
    size_t embed_dim;    /* E = 2 h */
    double sigma_data;
    double *freq;        /* h frequencies */
    size_t chunk_rows;
    int n_threads;
    int f32;             /* parameters rounded to float */
    /* conditions (model.h, "Conditional MLPs") */
    size_t cond_dim, cond_classes;
    int cond_input, cond_null;
    /* The EMBED condition's parameters after the network's: E (E x C) or T
     * (K x E), then u (E), in double (rounded to float for FLOAT32). n_cp is
     * 0 for CONCAT and C = 0. */
    double *cp;
    size_t n_cp;
    pthread_mutex_t lock;
    sd_pslot *pool;
} sd_pmodel;

/* The options every network kind has (resolved and checked before
 * sd_pmodel_init: embedding never AUTO). */
typedef struct sd_pmodel_config {
    const char *name; /* "MLP": messages */
    size_t dim;
    int activation, output, embedding, precision;
    size_t embed_dim;
    double fourier_scale, sigma_data;
    uint64_t seed;
    size_t chunk_rows;
    int n_threads;
    size_t cond_dim, cond_classes;
    int cond_input, cond_null;
} sd_pmodel_config;

/* The checks of the shared options, in field order, for creation (code
 * EINVAL, where "") and loading (ECORRUPT, where "the file's MLP "):
 * activation, output, embedding (AUTO accepted), embed_dim, fourier_scale,
 * sigma_data, precision, chunk_rows, n_threads, then the condition's. */
int sd_pmodel_check(const sd_pmodel_config *c, int code, const char *where);

/* AUTO: SINUSOIDAL for VP and sub-VP SDEs, FOURIER otherwise (model.h);
 * other values unchanged. */
int sd_pmodel_resolve_embedding(int embedding, const scoresde_sde *sde);

/* Files. A network kind's KIND payload starts with the head (u64 D; u32
 * activation, output, embedding, precision; u64 embed_dim; f64
 * fourier_scale, sigma_data; u64 seed, chunk_rows; u32 n_threads), has the
 * kind's own fields, the h = embed_dim / 2 frequencies (f64) and the
 * condition (u64 cond_dim; u32 cond_input; u64 cond_classes; u32 cond_null)
 * where the kind's layout puts them (docs/file-format.md). The readers
 * check each value's range as they read it (ECORRUPT naming the field and
 * its offset); get_head needs c->name and c->dim (the model's D) set. */
void sd_pmodel_put_head(struct sd_writer *w, const sd_pmodel_config *c);
int sd_pmodel_get_head(struct sd_reader *r, sd_pmodel_config *c);
void sd_pmodel_put_cond(struct sd_writer *w, const sd_pmodel_config *c);
/* cond_dim must be at least min_dim (1 where the section means "conditional"). */
int sd_pmodel_get_cond(struct sd_reader *r, uint64_t min_dim, sd_pmodel_config *c);
/* The frequencies (finite) into freq (at least 2048 doubles). */
int sd_pmodel_get_freq(struct sd_reader *r, const sd_pmodel_config *c, double *freq);
/* A u32 field in [lo, hi] as an int; a u64 count in [lo, hi]. */
int sd_pmodel_get_enum(struct sd_reader *r, const char *kind, int lo, int hi, int *out,
                       const char *what);
int sd_pmodel_get_count(struct sd_reader *r, const char *kind, uint64_t lo, uint64_t hi,
                        size_t *out, const char *what);

/* Fill a zeroed *pm (the network is set by the caller, after): the lock, the
 * frequencies (freq: h values to copy, a clone's or a file's, so the copy is
 * bit-identical whatever the libm; NULL: computed from the seed) and the
 * condition's parameters (E ~ N(0, 1/C) or T ~ N(0, 1) from Philox stream
 * 2^32 + 1, u = 0). On failure everything it made is freed. */
int sd_pmodel_init(sd_pmodel *pm, const sd_pnet_ops *net, const sd_pmodel_config *cfg,
                   const double *freq);
/* Free what sd_pmodel_init and the pool made (not the network). */
void sd_pmodel_fini(sd_pmodel *pm);

/* The model's view of the conditions (model_internal.h) from pm. */
void sd_pmodel_set_cond_fields(scoresde_model *m, const sd_pmodel *pm);

/* The CONCAT condition of row i (C values, 0 for the null condition) into dst. */
void sd_pmodel_concat_row(const sd_pmodel *pm, const sd_cond *cond, size_t i, double *dst);

/* Whether a cond_input value adds the condition's embedding to the features
 * here (EMBED, EMBED_LAYERS: the network decides where features enter). */
static inline int sd_pmodel_embedded(int cond_input)
{
    return cond_input == SCORESDE_MLP_COND_EMBED || cond_input == SCORESDE_MLP_COND_EMBED_LAYERS;
}

/* Whether the condition is CONCAT input (the network's) or embedded (ours). */
static inline int sd_pmodel_concat(const sd_pmodel *pm)
{
    return pm->cond_dim > 0 && pm->cond_input == SCORESDE_MLP_COND_CONCAT;
}

/* Model-kind slots (model_internal.h) for any network kind. */
int sd_pmodel_score(const scoresde_model *m, const double *x, const double *t, size_t n,
                    const sd_cond *cond, double *out);
int sd_pmodel_jvp(const scoresde_model *m, const double *x, const double *t, size_t n,
                  const sd_cond *cond, const double *v, double *score_out, double *jv);
int sd_pmodel_score_backward(const scoresde_model *m, const double *x, const double *t, size_t n,
                             const sd_cond *cond, const double *out_grad, double *grad);
int sd_pmodel_score_vjp(const scoresde_model *m, const double *x, const double *t, size_t n,
                        const sd_cond *cond, double *score, double *out_grad, sd_vjp_fill_fn fill,
                        void *ctx, double *grad);
int sd_pmodel_probe_vjp(const scoresde_model *m, const double *x, const double *t, size_t n,
                        const sd_cond *cond, const double *probes, size_t M,
                        const double *weights, double *est, double *grad);
/* Probe pass without backward: grad NULL (weights then unread). */
int sd_pmodel_divergence(const scoresde_model *m, const double *x, const double *t, size_t n,
                         const sd_cond *cond, double *div);
/* The score_div slot (model_internal.h): per chunk, one prepare_chunk and
 * the stacked pass of the network (net->jvp_multi) for the D axis tangents
 * (probes NULL) or the M probes, the score from its primal rows; the terms
 * (J_s v)_j = A v_j + B (J_F (C v))_j and their sums per sample are formed
 * as sd_pmodel_divergence / the generic Hutchinson form them (same
 * products, same order). ws is not used (the pool's slot holds the
 * tangents). */
int sd_pmodel_score_div(const scoresde_model *m, const double *x, const double *t, size_t n,
                        const sd_cond *cond, const double *probes, size_t M, double *score,
                        double *div, double *ws);
int sd_pmodel_probe_backward(const scoresde_model *m, const double *x, const double *t, size_t n,
                             const sd_cond *cond, const double *probes, size_t M,
                             const double *weights, double *grad);
size_t sd_pmodel_num_params(const scoresde_model *m);
/* The param_limit slot: SD_FLOAT32_LIMIT for float32 storage, else inf. */
double sd_pmodel_param_limit(const scoresde_model *m);
int sd_pmodel_get_params(const scoresde_model *m, double *theta);
int sd_pmodel_set_params(scoresde_model *m, const double *theta);

/* Copy src's parameters (same architecture) into dst: clones. */
int sd_pmodel_copy_params(sd_pmodel *dst, const sd_pmodel *src);

/* The condition's shape is the same in a and b, else EDIM (same_shape). */
int sd_pmodel_same_cond(const sd_pmodel *a, const sd_pmodel *b);

/* The EMBED condition's parameter count for these options (0 for CONCAT or
 * no condition), at most 2^20 x 4096 + 4096. */
uint64_t sd_pmodel_cond_params(size_t embed_dim, size_t cond_dim, size_t cond_classes,
                               int cond_input, int cond_null);

#endif /* SD_PRECOND_H */
