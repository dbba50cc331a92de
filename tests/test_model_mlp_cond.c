/*
 * Conditional MLP models (model.h, "Conditional MLPs"): every pass against
 * central differences with conditions (features, labels, the null
 * condition; EMBED_LAYERS, EMBED and CONCAT), C = 0 bit-identical to the
 * 1.0 network, EMBED_LAYERS at creation bit-identical to EMBED,
 * samples independent of the batch around them, broadcast rows, float32,
 * clones and files (1.0 files still load), and bad options.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "mlp.h"
#include "model_internal.h"
#include "testutil.h"

/* Expect a code and a message fragment. */
#define EXPECT(call, code, fragment)                                                          \
    do {                                                                                      \
        ck_assert_int_eq((call), (code));                                                     \
        ck_assert_msg(strstr(scoresde_last_error(), (fragment)) != NULL,                      \
                      "message \"%s\" lacks \"%s\"", scoresde_last_error(), (fragment));      \
    } while (0)

#define FD_H 1e-5
#define FD_TOL 1e-6

enum { D = 2, N = 5, M = 2, C = 3, K = 4 };
static const double times[N] = {0.1, 0.3, 0.5, 0.7, 0.9};

/* The variants under test: how the condition enters and what it is. */
typedef struct variant {
    const char *name;
    int input;      /* SCORESDE_MLP_COND_* */
    size_t classes; /* K, or 0 for C real features */
    int null_ok;
    size_t hidden;  /* hidden layers: widths 8, 6 (, 5) */
} variant;
/* The EMBED_LAYERS ones have three hidden layers, so two projections
 * (P_2, P_3) add into the embedding's adjoint. */
static const variant variants[] = {
    {"embed", SCORESDE_MLP_COND_EMBED, 0, 1, 2},
    {"embed-no-null", SCORESDE_MLP_COND_EMBED, 0, 0, 2},
    {"labels", SCORESDE_MLP_COND_EMBED, K, 1, 2},
    {"concat", SCORESDE_MLP_COND_CONCAT, 0, 1, 2},
    {"layers", SCORESDE_MLP_COND_EMBED_LAYERS, 0, 1, 3},
    {"layers-no-null", SCORESDE_MLP_COND_EMBED_LAYERS, 0, 0, 3},
    {"layers-labels", SCORESDE_MLP_COND_EMBED_LAYERS, K, 1, 3},
};
enum { NV = sizeof variants / sizeof variants[0] };

/* The projections' parameter count of a variant (widths 6 and 5, E = 4). */
static size_t proj_params(const variant *v)
{
    return v->input == SCORESDE_MLP_COND_EMBED_LAYERS ? (6 + 5) * 4 : 0;
}

static scoresde_model *cond_model_threads(const scoresde_sde *sde, const variant *v, int output,
                                          int prec, uint64_t seed, int threads)
{
    static const size_t widths[3] = {8, 6, 5};
    scoresde_mlp_options o;
    test_mlp_options(&o, v->hidden, widths, output, 4, seed);
    o.precision = prec;
    o.chunk_rows = 3; /* several chunks per call */
    o.n_threads = threads;
    o.cond_dim = v->classes ? 1 : C;
    o.cond_input = v->input;
    o.cond_classes = v->classes;
    o.cond_null = v->null_ok;
    scoresde_model *m = NULL;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, sde, D, &o), SCORESDE_OK);
    size_t np = test_num_params(m);
    double *p = test_normals(seed + 500, np, 0.6);
    for (size_t i = 0; prec == SCORESDE_MLP_FLOAT32 && i < np; i++)
        p[i] = (double)(float)p[i];
    ck_assert_int_eq(scoresde_model_set_params(m, p, np), SCORESDE_OK);
    free(p);
    return m;
}

static scoresde_model *cond_model(const scoresde_sde *sde, const variant *v, int output, int prec,
                                  uint64_t seed)
{
    return cond_model_threads(sde, v, output, prec, seed, 1);
}

/* Per-sample conditions (labels 0..K-1 or normals) and, for a model that
 * accepts it, sample 2 null. */
typedef struct conds {
    double c[N * C];
    unsigned char mask[N];
    scoresde_cond cond;
} conds;

static void make_conds(conds *q, const scoresde_model *m)
{
    size_t Cm = scoresde_model_cond_dim(m), Km = scoresde_model_cond_classes(m);
    double *z = test_normals(77, N * C, 1.0);
    for (size_t i = 0; i < N * Cm; i++)
        q->c[i] = Km ? (double)(i % Km) : z[i];
    free(z);
    memset(q->mask, 0, sizeof q->mask);
    q->mask[2] = (unsigned char)scoresde_model_cond_null(m);
    q->cond = (scoresde_cond){sizeof(scoresde_cond), Cm, q->c, N, q->mask};
}

static double score_objective(const scoresde_model *m, const double *x, const scoresde_cond *c,
                              const double *g)
{
    double s[N * D], f = 0;
    ck_assert_int_eq(scoresde_model_score_cond(m, x, times, N, D, c, s), SCORESDE_OK);
    for (size_t i = 0; i < N * D; i++)
        f += g[i] * s[i];
    return f;
}

static double probe_objective(const scoresde_model *m, const double *x, const scoresde_cond *c,
                              const double *probes, const double *w)
{
    double v[N * D], jv[N * D], f = 0;
    for (size_t k = 0; k < M; k++) {
        for (size_t i = 0; i < N; i++)
            memcpy(v + i * D, probes + (i * M + k) * D, D * sizeof(double));
        ck_assert_int_eq(scoresde_model_jvp_cond(m, x, times, N, D, c, v, NULL, jv), SCORESDE_OK);
        for (size_t i = 0; i < N; i++)
            for (size_t j = 0; j < D; j++)
                f += w[i * M + k] * v[i * D + j] * jv[i * D + j];
    }
    return f;
}

/* Parameter gradients (network and condition parameters) of sum(g.s) and of
 * the probe terms, through the separate and the fused paths, and the
 * Jacobian product, against central differences; for every variant and the
 * four output parameterisations. */
START_TEST(conditional_gradients_match_finite_differences)
{
    const variant *va = &variants[_i / 4];
    int output = _i % 4;
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = cond_model(sde, va, output, SCORESDE_MLP_FLOAT64, 40 + (uint64_t)_i);
    conds q;
    make_conds(&q, m);
    size_t np = scoresde_model_num_params(m);
    double *x = test_normals(1, N * D, 1.0), *g = test_normals(2, N * D, 1.0);
    double *probes = test_normals(3, N * M * D, 1.0), *w = test_normals(4, N * M, 1.0);
    double *grad = calloc(np, sizeof *grad), *pgrad = calloc(np, sizeof *pgrad);
    double *fgrad = calloc(np, sizeof *fgrad), *est = calloc(N, sizeof *est);
    double *fd = malloc(np * sizeof *fd), *pfd = malloc(np * sizeof *pfd);
    double *p = malloc(np * sizeof *p);
    ck_assert_int_eq(scoresde_model_score_backward_cond(m, x, times, N, D, &q.cond, g, grad, np),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_probe_backward_cond(m, x, times, N, D, &q.cond, probes, M, w,
                                                        pgrad, np),
                     SCORESDE_OK);
    /* The fused probe path: same bits as the separate one. */
    sd_cond rc;
    const sd_cond *rcp;
    ck_assert_int_eq(sd_cond_resolve(m, &q.cond, N, &rc, &rcp), SCORESDE_OK);
    ck_assert_int_eq(sd_model_probe_vjp(m, x, times, N, D, rcp, probes, M, w, est, fgrad, np),
                     SCORESDE_OK);
    ck_assert(memcmp(fgrad, pgrad, np * sizeof *fgrad) == 0);
    scoresde_model_get_params(m, p, np);
    for (size_t k = 0; k < np; k++) {
        double keep = p[k];
        p[k] = keep + FD_H;
        scoresde_model_set_params(m, p, np);
        double fp = score_objective(m, x, &q.cond, g), pp = probe_objective(m, x, &q.cond, probes, w);
        p[k] = keep - FD_H;
        scoresde_model_set_params(m, p, np);
        double fm = score_objective(m, x, &q.cond, g), pm = probe_objective(m, x, &q.cond, probes, w);
        p[k] = keep;
        fd[k] = (fp - fm) / (2 * FD_H);
        pfd[k] = (pp - pm) / (2 * FD_H);
    }
    scoresde_model_set_params(m, p, np);
    double e1 = test_rel_err(grad, fd, np), e2 = test_rel_err(pgrad, pfd, np);
    ck_assert_msg(e1 < FD_TOL, "%s output %d: score backward error %g", va->name, output, e1);
    ck_assert_msg(e2 < FD_TOL, "%s output %d: probe backward error %g", va->name, output, e2);
    /* The condition's parameters do get a gradient (EMBED, EMBED_LAYERS),
     * and so do the projections, before them (EMBED_LAYERS). */
    size_t ncp = va->input != SCORESDE_MLP_COND_CONCAT
                     ? (va->classes ? K : C) * 4 + (va->null_ok ? 4 : 0) : 0;
    size_t npp = proj_params(va);
    double gnorm = 0, pnorm = 0;
    for (size_t k = np - ncp; k < np; k++)
        gnorm += fabs(grad[k]);
    for (size_t k = np - ncp - npp; k < np - ncp; k++)
        pnorm += fabs(grad[k]) + fabs(pgrad[k]);
    ck_assert(ncp == 0 || gnorm > 0);
    ck_assert(npp == 0 || pnorm > 0);

    double *v = test_normals(5, N * D, 1.0);
    double jv[N * D], xp[N * D], xm[N * D], sp[N * D], sm[N * D], jfd[N * D];
    ck_assert_int_eq(scoresde_model_jvp_cond(m, x, times, N, D, &q.cond, v, NULL, jv), SCORESDE_OK);
    for (size_t i = 0; i < N * D; i++) {
        xp[i] = x[i] + FD_H * v[i];
        xm[i] = x[i] - FD_H * v[i];
    }
    scoresde_model_score_cond(m, xp, times, N, D, &q.cond, sp);
    scoresde_model_score_cond(m, xm, times, N, D, &q.cond, sm);
    for (size_t i = 0; i < N * D; i++)
        jfd[i] = (sp[i] - sm[i]) / (2 * FD_H);
    ck_assert_msg(test_rel_err(jv, jfd, N * D) < FD_TOL, "%s: jvp", va->name);
    /* and the divergence, Hutchinson and the rest (testutil) */
    test_check_model_passes(m, &q.cond, FD_TOL, va->name);
    free(v);
    free(x);
    free(g);
    free(probes);
    free(w);
    free(grad);
    free(pgrad);
    free(fgrad);
    free(est);
    free(fd);
    free(pfd);
    free(p);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* Sample i's score depends only on its own x, t and condition: the same bits
 * alone, in a batch with other conditions, as a broadcast row, and in float32
 * close to float64. */
START_TEST(samples_do_not_depend_on_the_batch)
{
    const variant *va = &variants[_i];
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = cond_model(sde, va, SCORESDE_MLP_OUTPUT_NOISE, SCORESDE_MLP_FLOAT64, 9);
    conds q;
    make_conds(&q, m);
    size_t Cm = scoresde_model_cond_dim(m);
    double *x = test_normals(11, N * D, 1.0), s[N * D], one[D], b[N * D];
    ck_assert_int_eq(scoresde_model_score_cond(m, x, times, N, D, &q.cond, s), SCORESDE_OK);
    for (size_t i = 0; i < N; i++) {
        scoresde_cond ci = {sizeof ci, Cm, q.c + i * Cm, 1, q.mask + i};
        ck_assert_int_eq(scoresde_model_score_cond(m, x + i * D, times + i, 1, D, &ci, one),
                         SCORESDE_OK);
        ck_assert(memcmp(one, s + i * D, sizeof one) == 0);
    }
    /* Two threads: the same bits, for the score and the gradient. */
    scoresde_model *m2 = cond_model_threads(sde, va, SCORESDE_MLP_OUTPUT_NOISE,
                                            SCORESDE_MLP_FLOAT64, 9, 2);
    ck_assert_int_eq(scoresde_model_score_cond(m2, x, times, N, D, &q.cond, b), SCORESDE_OK);
    ck_assert(memcmp(s, b, sizeof s) == 0);
    size_t np2 = scoresde_model_num_params(m);
    double *g1 = calloc(np2, sizeof *g1), *g2 = calloc(np2, sizeof *g2);
    ck_assert_int_eq(scoresde_model_score_backward_cond(m, x, times, N, D, &q.cond, x, g1, np2),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_score_backward_cond(m2, x, times, N, D, &q.cond, x, g2, np2),
                     SCORESDE_OK);
    ck_assert(memcmp(g1, g2, np2 * sizeof *g1) == 0);
    free(g1);
    free(g2);
    scoresde_model_free(m2);
    /* One row broadcast = that row repeated. */
    double rep[N * C];
    for (size_t i = 0; i < N; i++)
        memcpy(rep + i * Cm, q.c + Cm, Cm * sizeof *rep);
    scoresde_cond all = {sizeof all, Cm, rep, N, NULL}, bc = {sizeof bc, Cm, q.c + Cm, 1, NULL};
    ck_assert_int_eq(scoresde_model_score_cond(m, x, times, N, D, &all, s), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_score_cond(m, x, times, N, D, &bc, b), SCORESDE_OK);
    ck_assert(memcmp(s, b, sizeof s) == 0);
    /* The null condition is the 1.0 call, and differs from a real one. */
    if (va->null_ok) {
        scoresde_cond nul = {sizeof nul, Cm, NULL, 0, NULL};
        ck_assert_int_eq(scoresde_model_score_cond(m, x, times, N, D, &nul, s), SCORESDE_OK);
        ck_assert_int_eq(scoresde_model_score(m, x, times, N, D, b), SCORESDE_OK);
        ck_assert(memcmp(s, b, sizeof s) == 0);
        ck_assert_int_eq(scoresde_model_score_cond(m, x, times, N, D, &all, b), SCORESDE_OK);
        ck_assert(memcmp(s, b, sizeof s) != 0);
    } else {
        ck_assert_int_eq(scoresde_model_score(m, x, times, N, D, b), SCORESDE_EINVAL);
    }
    /* float32 with the same (float-representable) parameters. */
    scoresde_model *m32 = cond_model(sde, va, SCORESDE_MLP_OUTPUT_NOISE, SCORESDE_MLP_FLOAT32, 9);
    scoresde_model *m64 = cond_model(sde, va, SCORESDE_MLP_OUTPUT_NOISE, SCORESDE_MLP_FLOAT32, 9);
    size_t np = scoresde_model_num_params(m32);
    double *p = malloc(np * sizeof *p);
    scoresde_model_get_params(m32, p, np);
    scoresde_model_free(m64);
    m64 = cond_model(sde, va, SCORESDE_MLP_OUTPUT_NOISE, SCORESDE_MLP_FLOAT64, 9);
    ck_assert_int_eq(scoresde_model_set_params(m64, p, np), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_score_cond(m32, x, times, N, D, &q.cond, s), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_score_cond(m64, x, times, N, D, &q.cond, b), SCORESDE_OK);
    ck_assert_msg(test_rel_err(s, b, N * D) < 1e-5, "%s: float32 %g", va->name,
                  test_rel_err(s, b, N * D));
    double *g = test_normals(12, N * D, 1.0), *g32 = calloc(np, sizeof *g32),
           *g64 = calloc(np, sizeof *g64);
    ck_assert_int_eq(scoresde_model_score_backward_cond(m32, x, times, N, D, &q.cond, g, g32, np),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_score_backward_cond(m64, x, times, N, D, &q.cond, g, g64, np),
                     SCORESDE_OK);
    ck_assert(test_rel_err(g32, g64, np) < 1e-4);
    free(g);
    free(g32);
    free(g64);
    free(p);
    free(x);
    scoresde_model_free(m32);
    scoresde_model_free(m64);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* C = 0 is the 1.0 network: a 1.0-layout options struct and the full one
 * with cond_dim 0 give the same parameters and the same bits from every
 * pass, and the model's file is the 1.0 payload (which a 1.0-version file
 * header still loads). */
START_TEST(unconditional_is_the_1_0_network)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VE);
    static const size_t widths[2] = {8, 6};
    scoresde_mlp_options o;
    test_mlp_options(&o, 2, widths, SCORESDE_MLP_OUTPUT_EDM, 4, 5);
    scoresde_mlp_options old = o;
    old.struct_size = SD_STRUCT_END(scoresde_mlp_options, n_threads);
    o.cond_dim = 0;
    scoresde_model *a = NULL, *b = NULL;
    ck_assert_int_eq(scoresde_model_create_mlp(&a, sde, D, &old), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_create_mlp(&b, sde, D, &o), SCORESDE_OK);
    ck_assert_uint_eq(scoresde_model_cond_dim(a), 0);
    size_t np = scoresde_model_num_params(a);
    ck_assert_uint_eq(np, scoresde_model_num_params(b));
    ck_assert_uint_eq(np, 8 * (D + 4 + 1) + 6 * (8 + 1) + D * (6 + 1));
    double *pa = malloc(np * sizeof *pa), *pb = malloc(np * sizeof *pb);
    scoresde_model_get_params(a, pa, np);
    scoresde_model_get_params(b, pb, np);
    ck_assert(memcmp(pa, pb, np * sizeof *pa) == 0);
    double *x = test_normals(1, N * D, 1.0), *g = test_normals(2, N * D, 1.0);
    double sa[N * D], sb[N * D];
    ck_assert_int_eq(scoresde_model_score(a, x, times, N, D, sa), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_score_cond(b, x, times, N, D, NULL, sb), SCORESDE_OK);
    ck_assert(memcmp(sa, sb, sizeof sa) == 0);
    memset(pa, 0, np * sizeof *pa);
    memset(pb, 0, np * sizeof *pb);
    ck_assert_int_eq(scoresde_model_score_backward(a, x, times, N, D, g, pa, np), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_score_backward_cond(b, x, times, N, D, NULL, g, pb, np),
                     SCORESDE_OK);
    ck_assert(memcmp(pa, pb, np * sizeof *pa) == 0);
    /* A condition for it is refused. */
    double c[C] = {0};
    scoresde_cond cd = {sizeof cd, C, c, 1, NULL};
    ck_assert_int_eq(scoresde_model_score_cond(b, x, times, N, D, &cd, sb), SCORESDE_EINVAL);

    /* The file: a 1.0 header (version 0x00010000) on the same bytes loads. */
    void *data;
    size_t size;
    ck_assert_int_eq(scoresde_model_save_buffer(a, &data, &size), SCORESDE_OK);
    uint8_t *file = data;
    ck_assert_uint_eq(file[8], 2); /* minor 2 */
    file[8] = 0;
    test_reseal(file, size);
    scoresde_model *back = NULL;
    ck_assert_int_eq(scoresde_model_load_buffer(&back, file, size), SCORESDE_OK);
    ck_assert_uint_eq(scoresde_model_cond_dim(back), 0);
    ck_assert_int_eq(scoresde_model_score(back, x, times, N, D, sb), SCORESDE_OK);
    ck_assert(memcmp(sa, sb, sizeof sa) == 0);
    scoresde_buffer_free(data);
    scoresde_model_free(back);
    free(pa);
    free(pb);
    free(x);
    free(g);
    scoresde_model_free(a);
    scoresde_model_free(b);
    scoresde_sde_free(sde);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* The engine's embedding inputs (mlp.h), with tangents on them too (the
 * model's are zero): three hidden layers (P_2, P_3), random parameters,
 * blocks of 3 of 7 rows; the parameter and input gradients of sum(w.out)
 * and of sum(go.out) + sum(gt.Jv), and J v, against central differences. */
enum { EN = 7, ENI = 5, ENE = 3, ENO = 2 };

static double engine_objective(sd_mlp *net, sd_mlp_ws *ws, const double *x, const double *v,
                               const double *go, const double *gt)
{
    double out[EN * ENO], jv[EN * ENO], f = 0;
    if (!v)
        ck_assert_int_eq(sd_mlp_forward(net, ws, EN, x, out), SCORESDE_OK);
    else
        ck_assert_int_eq(sd_mlp_jvp(net, ws, EN, x, v, out, jv), SCORESDE_OK);
    for (size_t i = 0; i < EN * ENO; i++)
        f += go[i] * out[i] + (v ? gt[i] * jv[i] : 0.0);
    return f;
}

START_TEST(engine_embedding_inputs_match_finite_differences)
{
    static const size_t widths[3] = {6, 5, 4};
    static const sd_mlp_act acts[3] = {SD_MLP_SILU, SD_MLP_TANH, SD_MLP_GELU};
    sd_mlp *net = NULL, *plain = NULL;
    sd_mlp_ws *ws = NULL;
    ck_assert_int_eq(sd_mlp_create_emb(&net, ENI, ENE, 3, widths, ENO, acts[_i], SD_MLP_F64, 7, 0),
                     SCORESDE_OK);
    ck_assert_int_eq(sd_mlp_create(&plain, ENI, 3, widths, ENO, acts[_i], SD_MLP_F64, 7, 0),
                     SCORESDE_OK);
    size_t np = sd_mlp_num_params(net);
    ck_assert_uint_eq(np, sd_mlp_num_params(plain) + (5 + 4) * ENE);
    sd_mlp_free(plain);
    double *p = test_normals(8, np, 0.7);
    ck_assert_int_eq(sd_mlp_set_params(net, p), SCORESDE_OK);
    ck_assert_int_eq(sd_mlp_ws_create(net, EN, 3, 1, &ws), SCORESDE_OK);
    double *x = test_normals(9, EN * ENI, 1.0), *v = test_normals(10, EN * ENI, 1.0);
    double *go = test_normals(11, EN * ENO, 1.0), *gt = test_normals(12, EN * ENO, 1.0);
    double *grad = calloc(np, sizeof *grad), *fd = malloc(np * sizeof *fd);
    double ig[EN * ENI], fdi[EN * ENI], out[EN * ENO], jv[EN * ENO];
    for (int tangent = 0; tangent < 2; tangent++) {
        const double *vt = tangent ? v : NULL;
        memset(grad, 0, np * sizeof *grad);
        if (tangent) {
            ck_assert_int_eq(sd_mlp_jvp(net, ws, EN, x, v, out, jv), SCORESDE_OK);
            ck_assert_int_eq(sd_mlp_tangent_backward(net, ws, go, gt, grad, ig), SCORESDE_OK);
        } else {
            ck_assert_int_eq(sd_mlp_forward(net, ws, EN, x, out), SCORESDE_OK);
            ck_assert_int_eq(sd_mlp_backward(net, ws, go, grad, ig), SCORESDE_OK);
        }
        for (size_t k = 0; k < np; k++) {
            double keep = p[k];
            p[k] = keep + FD_H;
            sd_mlp_set_params(net, p);
            double fp = engine_objective(net, ws, x, vt, go, gt);
            p[k] = keep - FD_H;
            sd_mlp_set_params(net, p);
            double fm = engine_objective(net, ws, x, vt, go, gt);
            p[k] = keep;
            fd[k] = (fp - fm) / (2 * FD_H);
        }
        sd_mlp_set_params(net, p);
        for (size_t k = 0; k < EN * ENI; k++) {
            double keep = x[k];
            x[k] = keep + FD_H;
            double fp = engine_objective(net, ws, x, vt, go, gt);
            x[k] = keep - FD_H;
            double fm = engine_objective(net, ws, x, vt, go, gt);
            x[k] = keep;
            fdi[k] = (fp - fm) / (2 * FD_H);
        }
        double ep = test_rel_err(grad, fd, np), ei = test_rel_err(ig, fdi, EN * ENI);
        ck_assert_msg(ep < FD_TOL, "act %d tangent %d: parameter gradient error %g", _i, tangent,
                      ep);
        ck_assert_msg(ei < FD_TOL, "act %d tangent %d: input gradient error %g", _i, tangent, ei);
    }
    /* J v along v, e's tangent included */
    double xp[EN * ENI], xm[EN * ENI], yp[EN * ENO], ym[EN * ENO], jfd[EN * ENO];
    for (size_t i = 0; i < EN * ENI; i++) {
        xp[i] = x[i] + FD_H * v[i];
        xm[i] = x[i] - FD_H * v[i];
    }
    ck_assert_int_eq(sd_mlp_forward(net, ws, EN, xp, yp), SCORESDE_OK);
    ck_assert_int_eq(sd_mlp_forward(net, ws, EN, xm, ym), SCORESDE_OK);
    for (size_t i = 0; i < EN * ENO; i++)
        jfd[i] = (yp[i] - ym[i]) / (2 * FD_H);
    ck_assert_int_eq(sd_mlp_jvp(net, ws, EN, x, v, out, jv), SCORESDE_OK);
    ck_assert_msg(test_rel_err(jv, jfd, EN * ENO) < FD_TOL, "act %d: J v", _i);
    /* More embedding inputs than inputs is refused. */
    sd_mlp *bad = NULL;
    EXPECT(sd_mlp_create_emb(&bad, ENI, ENI + 1, 3, widths, ENO, acts[_i], SD_MLP_F64, 7, 0),
           SCORESDE_EINVAL, "n_emb (6) is above n_in (5)");
    ck_assert_ptr_null(bad);
    free(p);
    free(x);
    free(v);
    free(go);
    free(gt);
    free(grad);
    free(fd);
    sd_mlp_ws_free(ws);
    sd_mlp_free(net);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* EMBED_LAYERS at creation (P_l zero) is the EMBED model of the same
 * options and seed: the same parameters with the projections' zeros
 * inserted after the network's, and the same bits from every pass; with
 * projections set it differs. One hidden layer has no projection: the same
 * parameter count as EMBED. */
START_TEST(layers_start_as_embed)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    static const size_t widths[3] = {8, 6, 5};
    scoresde_mlp_options o;
    test_mlp_options(&o, 3, widths, SCORESDE_MLP_OUTPUT_EDM, 4, 17);
    o.chunk_rows = 3;
    o.cond_dim = C;
    o.cond_null = 1;
    scoresde_model *a = NULL, *b = NULL;
    ck_assert_int_eq(o.cond_input, SCORESDE_MLP_COND_EMBED_LAYERS); /* the default */
    ck_assert_int_eq(scoresde_model_create_mlp(&a, sde, D, &o), SCORESDE_OK);
    o.cond_input = SCORESDE_MLP_COND_EMBED;
    ck_assert_int_eq(scoresde_model_create_mlp(&b, sde, D, &o), SCORESDE_OK);
    size_t na = scoresde_model_num_params(a), nb = scoresde_model_num_params(b);
    size_t net = 8 * (D + 4 + 1) + 6 * (8 + 1) + 5 * (6 + 1) + D * (5 + 1), npp = (6 + 5) * 4;
    ck_assert_uint_eq(nb, net + C * 4 + 4);
    ck_assert_uint_eq(na, nb + npp);
    double *pa = malloc(na * sizeof *pa), *pb = malloc(nb * sizeof *pb);
    scoresde_model_get_params(a, pa, na);
    scoresde_model_get_params(b, pb, nb);
    ck_assert(memcmp(pa, pb, net * sizeof *pa) == 0);
    for (size_t k = net; k < net + npp; k++)
        ck_assert(pa[k] == 0.0);
    ck_assert(memcmp(pa + net + npp, pb + net, (nb - net) * sizeof *pa) == 0);
    conds q;
    make_conds(&q, a);
    double *x = test_normals(1, N * D, 1.0), *v = test_normals(2, N * D, 1.0);
    double sa[N * D], sb[N * D], ja[N * D], jb[N * D], da[N], db[N];
    ck_assert_int_eq(scoresde_model_score_cond(a, x, times, N, D, &q.cond, sa), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_score_cond(b, x, times, N, D, &q.cond, sb), SCORESDE_OK);
    ck_assert(memcmp(sa, sb, sizeof sa) == 0);
    ck_assert_int_eq(scoresde_model_jvp_cond(a, x, times, N, D, &q.cond, v, NULL, ja),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_jvp_cond(b, x, times, N, D, &q.cond, v, NULL, jb),
                     SCORESDE_OK);
    ck_assert(memcmp(ja, jb, sizeof ja) == 0);
    ck_assert_int_eq(scoresde_model_divergence_cond(a, x, times, N, D, &q.cond, da), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_divergence_cond(b, x, times, N, D, &q.cond, db), SCORESDE_OK);
    ck_assert(memcmp(da, db, sizeof da) == 0);
    /* The gradients of the shared parameters agree too (the projections'
     * zeros pass nothing on). */
    double *ga = calloc(na, sizeof *ga), *gb = calloc(nb, sizeof *gb);
    ck_assert_int_eq(scoresde_model_score_backward_cond(a, x, times, N, D, &q.cond, v, ga, na),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_score_backward_cond(b, x, times, N, D, &q.cond, v, gb, nb),
                     SCORESDE_OK);
    ck_assert(memcmp(ga, gb, net * sizeof *ga) == 0);
    ck_assert(memcmp(ga + net + npp, gb + net, (nb - net) * sizeof *ga) == 0);
    /* Projections set: another function. */
    pa[net + 3] = 0.5;
    ck_assert_int_eq(scoresde_model_set_params(a, pa, na), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_score_cond(a, x, times, N, D, &q.cond, sa), SCORESDE_OK);
    ck_assert(memcmp(sa, sb, sizeof sa) != 0);
    scoresde_model_free(a);
    scoresde_model_free(b);
    /* One hidden layer: nothing to project into. */
    test_mlp_options(&o, 1, widths, SCORESDE_MLP_OUTPUT_NOISE, 4, 17);
    o.cond_dim = C;
    ck_assert_int_eq(scoresde_model_create_mlp(&a, sde, D, &o), SCORESDE_OK);
    o.cond_input = SCORESDE_MLP_COND_EMBED;
    ck_assert_int_eq(scoresde_model_create_mlp(&b, sde, D, &o), SCORESDE_OK);
    ck_assert_uint_eq(scoresde_model_num_params(a), scoresde_model_num_params(b));
    free(ga);
    free(gb);
    free(pa);
    free(pb);
    free(x);
    free(v);
    scoresde_model_free(a);
    scoresde_model_free(b);
    scoresde_sde_free(sde);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* The condition fields of a conditional MLP's KIND payload (u64 C, u32
 * cond_input, u64 K, u32 cond_null) at the end of the payload: their offset
 * in the file, found as the one place holding this model's values. */
static size_t cond_fields_at(const uint8_t *file, size_t size, const scoresde_model *m,
                             int input)
{
    uint8_t want[24];
    uint64_t c = scoresde_model_cond_dim(m), k = scoresde_model_cond_classes(m);
    uint32_t in = (uint32_t)input, nul = (uint32_t)scoresde_model_cond_null(m);
    memcpy(want, &c, 8);
    memcpy(want + 8, &in, 4);
    memcpy(want + 12, &k, 8);
    memcpy(want + 20, &nul, 4);
    size_t at = 0, hits = 0;
    for (size_t i = 0; i + 24 <= size; i++)
        if (memcmp(file + i, want, 24) == 0) {
            at = i;
            hits++;
        }
    ck_assert_uint_eq(hits, 1);
    return at;
}

/* Clones and files keep C, the options and the condition's parameters. */
START_TEST(clones_and_files_keep_the_condition)
{
    const variant *va = &variants[_i];
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = cond_model(sde, va, SCORESDE_MLP_OUTPUT_DATA, SCORESDE_MLP_FLOAT64, 3);
    conds q;
    make_conds(&q, m);
    double *x = test_normals(1, N * D, 1.0), s[N * D], b[N * D];
    ck_assert_int_eq(scoresde_model_score_cond(m, x, times, N, D, &q.cond, s), SCORESDE_OK);
    scoresde_model *cl = NULL, *back = NULL;
    ck_assert_int_eq(scoresde_model_clone(&cl, m), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_score_cond(cl, x, times, N, D, &q.cond, b), SCORESDE_OK);
    ck_assert(memcmp(s, b, sizeof s) == 0);
    void *data;
    size_t size;
    ck_assert_int_eq(scoresde_model_save_buffer(m, &data, &size), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_load_buffer(&back, data, size), SCORESDE_OK);
    ck_assert_uint_eq(scoresde_model_cond_dim(back), scoresde_model_cond_dim(m));
    ck_assert_uint_eq(scoresde_model_cond_classes(back), va->classes);
    ck_assert_int_eq(scoresde_model_cond_null(back), va->null_ok);
    ck_assert_int_eq(scoresde_model_score_cond(back, x, times, N, D, &q.cond, b), SCORESDE_OK);
    ck_assert(memcmp(s, b, sizeof s) == 0);
    /* copy_params needs the same condition shapes. */
    ck_assert_int_eq(scoresde_model_copy_params(back, m), SCORESDE_OK);
    scoresde_model *other = cond_model(sde, &variants[(_i + 1) % NV], SCORESDE_MLP_OUTPUT_DATA,
                                       SCORESDE_MLP_FLOAT64, 3);
    ck_assert_int_eq(scoresde_model_copy_params(other, m), SCORESDE_EDIM);
    /* Truncating the condition fields is corrupt. */
    scoresde_model *bad = NULL;
    ck_assert_int_ne(scoresde_model_load_buffer(&bad, data, size - 9), SCORESDE_OK);
    ck_assert_ptr_null(bad);
    /* The stored cond_input: another row implies another parameter count
     * (or is unknown) and is corrupt, whatever the row. */
    size_t at = cond_fields_at(data, size, m, va->input);
    uint8_t *f = malloc(size);
    static const uint32_t forged[] = {SCORESDE_MLP_COND_CONCAT, SCORESDE_MLP_COND_EMBED,
                                      SCORESDE_MLP_COND_EMBED_LAYERS, 4, 0};
    for (size_t k = 0; k < sizeof forged / sizeof forged[0]; k++) {
        if ((int)forged[k] == va->input)
            continue;
        /* labels with CONCAT are refused as options; EMBED and EMBED_LAYERS
         * differ in P (this variant's depth has projections) */
        memcpy(f, data, size);
        memcpy(f + at + 8, &forged[k], 4);
        test_reseal(f, size);
        test_expect_error(scoresde_model_load_buffer(&bad, f, size), SCORESDE_ECORRUPT,
                          forged[k] >= 4 || forged[k] == 0 ? "condition input"
                          : va->classes && forged[k] == SCORESDE_MLP_COND_CONCAT
                              ? "cond_classes"
                              : "parameters");
        ck_assert_ptr_null(bad);
    }
    free(f);
    scoresde_buffer_free(data);
    scoresde_model_free(other);
    scoresde_model_free(back);
    scoresde_model_free(cl);
    scoresde_model_free(m);
    free(x);
    scoresde_sde_free(sde);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

START_TEST(bad_condition_options)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_mlp_options o;
    scoresde_model *m = NULL;
    scoresde_model_mlp_options_init(&o, sizeof o);
    ck_assert_int_eq(o.cond_dim, 0);
    ck_assert_int_eq(o.cond_input, SCORESDE_MLP_COND_EMBED_LAYERS); /* the MLP's default */
    o.cond_dim = 2;
    o.cond_input = 7;
    EXPECT(scoresde_model_create_mlp(&m, sde, D, &o), SCORESDE_EINVAL, "cond_input (7)");
    o.cond_input = SCORESDE_MLP_COND_EMBED;
    o.cond_classes = 3;
    EXPECT(scoresde_model_create_mlp(&m, sde, D, &o), SCORESDE_EINVAL, "needs cond_dim 1");
    o.cond_dim = 1;
    o.cond_input = SCORESDE_MLP_COND_CONCAT;
    EXPECT(scoresde_model_create_mlp(&m, sde, D, &o), SCORESDE_EINVAL, "SCORESDE_MLP_COND_EMBED");
    ck_assert(test_contains(scoresde_last_error(), "one-hot row, cond_dim = 3"));
    o.cond_dim = 0;
    o.cond_classes = 0;
    o.cond_null = 1;
    EXPECT(scoresde_model_create_mlp(&m, sde, D, &o), SCORESDE_EINVAL, "need cond_dim > 0");
    o.cond_null = 0;
    o.cond_dim = 5000;
    EXPECT(scoresde_model_create_mlp(&m, sde, D, &o), SCORESDE_EINVAL, "cond_dim (5000)");
    ck_assert_ptr_null(m);
    /* EMBED_LAYERS: labels are fine, CONCAT's refusal names it; C = 0 reads
     * no cond_input at all (the 1.0 network: unconditional_is_the_1_0_network). */
    scoresde_model_mlp_options_init(&o, sizeof o);
    o.cond_dim = 1;
    o.cond_classes = 3;
    o.cond_input = SCORESDE_MLP_COND_EMBED_LAYERS;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, sde, D, &o), SCORESDE_OK);
    ck_assert_uint_eq(scoresde_model_cond_classes(m), 3);
    scoresde_model_free(m);
    m = NULL;
    o.cond_input = SCORESDE_MLP_COND_CONCAT;
    EXPECT(scoresde_model_create_mlp(&m, sde, D, &o), SCORESDE_EINVAL, "_EMBED_LAYERS");
    o.cond_input = 4;
    EXPECT(scoresde_model_create_mlp(&m, sde, D, &o), SCORESDE_EINVAL, "cond_input (4)");
    o.cond_dim = 0;
    o.cond_classes = 0;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, sde, D, &o), SCORESDE_OK);
    ck_assert_uint_eq(scoresde_model_cond_dim(m), 0);
    scoresde_model_free(m);
    m = NULL;
    /* The residual MLP's EMBED already enters every block: it refuses the
     * MLP's per-layer row, with or without a condition. */
    scoresde_resmlp_options ro;
    scoresde_model_resmlp_options_init(&ro, sizeof ro);
    ck_assert_int_eq(ro.cond_input, SCORESDE_MLP_COND_EMBED);
    ro.width = 8;
    ro.blocks = 1;
    ro.cond_input = SCORESDE_MLP_COND_EMBED_LAYERS;
    EXPECT(scoresde_model_create_resmlp(&m, sde, D, &ro), SCORESDE_EINVAL,
           "SCORESDE_MLP_COND_EMBED_LAYERS is the MLP's");
    ro.cond_dim = C;
    EXPECT(scoresde_model_create_resmlp(&m, sde, D, &ro), SCORESDE_EINVAL,
           "already enters every block");
    ck_assert_ptr_null(m);
    scoresde_sde_free(sde);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("model_mlp_cond");
    TCase *tc = tcase_create("cond");
    tcase_add_loop_test(tc, conditional_gradients_match_finite_differences, 0, 4 * NV);
    tcase_add_loop_test(tc, samples_do_not_depend_on_the_batch, 0, NV);
    tcase_add_test(tc, unconditional_is_the_1_0_network);
    tcase_add_test(tc, layers_start_as_embed);
    tcase_add_loop_test(tc, engine_embedding_inputs_match_finite_differences, 0, 3);
    tcase_add_loop_test(tc, clones_and_files_keep_the_condition, 0, NV);
    tcase_add_test(tc, bad_condition_options);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(suite()); }
