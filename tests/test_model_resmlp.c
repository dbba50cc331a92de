/*
 * The residual MLP model kind: every pass against central differences for
 * every parameterisation x activation and every kind of condition, the zero
 * output layer giving the parameterisation's identity at creation, float32
 * against float64, bit-identical results across threads and chunk sizes,
 * files (round trips, truncations, byte changes, forged sizes), clones,
 * parameter copies and option errors.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "testutil.h"

#define FD_TOL 1e-6

static const char *out_name[] = {"score", "noise", "data", "edm"};
static const char *act_name[] = {"silu", "relu", "tanh", "softplus", "gelu_tanh", "gelu"};

static scoresde_resmlp_options small_options(int output, int act, int prec, uint64_t seed)
{
    scoresde_resmlp_options o;
    ck_assert_int_eq(scoresde_model_resmlp_options_init(&o, sizeof o), SCORESDE_OK);
    o.width = 6;
    o.blocks = 2;
    o.embed_dim = 4;
    o.output = output;
    o.activation = act;
    o.precision = prec;
    o.seed = seed;
    o.chunk_rows = 3; /* several chunks per call */
    return o;
}

/* A model with random parameters (the output layer too), rounded to float
 * for FLOAT32. */
static scoresde_model *make(const scoresde_sde *sde, size_t D, const scoresde_resmlp_options *o)
{
    scoresde_model *m = NULL;
    ck_assert_int_eq(scoresde_model_create_resmlp(&m, sde, D, o), SCORESDE_OK);
    size_t np = test_num_params(m);
    double *p = test_normals(o->seed + 500, np, 0.6);
    for (size_t i = 0; o->precision == SCORESDE_MLP_FLOAT32 && i < np; i++)
        p[i] = (double)(float)p[i];
    ck_assert_int_eq(scoresde_model_set_params(m, p, np), SCORESDE_OK);
    free(p);
    return m;
}

START_TEST(passes_match_finite_differences)
{
    int output = _i / 6, act = _i % 6;
    /* VP (sinusoidal embedding) and VE (Fourier) alternate over the cases. */
    int kinds[2] = {SCORESDE_SDE_VP, SCORESDE_SDE_VE};
    for (int q = _i % 2; q < 2; q += 2) {
        scoresde_sde *sde = test_make_sde(kinds[q]);
        scoresde_resmlp_options o =
            small_options(output, act, SCORESDE_MLP_FLOAT64, 100 + (uint64_t)_i);
        scoresde_model *m = make(sde, 2, &o);
        char what[64];
        snprintf(what, sizeof what, "%s/%s sde %d", out_name[output], act_name[act], kinds[q]);
        test_check_model_passes(m, NULL, FD_TOL, what);
        scoresde_model_free(m);
        scoresde_sde_free(sde);
    }
}
END_TEST

/* Conditions: real features through EMBED with a null mask, labels with
 * the null condition, CONCAT features. */
START_TEST(conditional_passes_match_finite_differences)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_resmlp_options o = small_options(SCORESDE_MLP_OUTPUT_NOISE, SCORESDE_MLP_GELU,
                                              SCORESDE_MLP_FLOAT64, 7 + (uint64_t)_i);
    double feats[5 * 2] = {0.3, -1.0, 1.2, 0.4, -0.7, 0.9, 0.1, 0.2, 2.0, -0.5};
    double labels[5] = {0, 2, 1, 2, 0};
    unsigned char null[5] = {0, 1, 0, 0, 1};
    scoresde_cond c = {.struct_size = sizeof c, .rows = 5, .null_mask = null};
    o.cond_null = 1;
    if (_i == 0) {
        o.cond_dim = 2;
        c.C = 2;
        c.c = feats;
    } else if (_i == 1) {
        o.cond_dim = 1;
        o.cond_classes = 3;
        c.C = 1;
        c.c = labels;
    } else {
        o.cond_dim = 2;
        o.cond_input = SCORESDE_MLP_COND_CONCAT;
        c.C = 2;
        c.c = feats;
    }
    scoresde_model *m = make(sde, 3, &o);
    test_check_model_passes(m, &c, FD_TOL, _i == 0 ? "embed" : _i == 1 ? "labels" : "concat");
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* At creation F = 0, so s = A x + B 0 bit for bit, for every
 * parameterisation (precond.h's A). */
START_TEST(untrained_model_is_the_identity_preconditioning)
{
    enum { N = 6, D = 3 };
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    double t[N] = {0.05, 0.2, 0.4, 0.6, 0.8, 1.0}, alpha[N], sigma[N];
    ck_assert_int_eq(scoresde_sde_marginal(sde, t, N, alpha, sigma, NULL, NULL), SCORESDE_OK);
    double *x = test_normals(3, N * D, 1.0), s[N * D];
    for (int out = SCORESDE_MLP_OUTPUT_SCORE; out <= SCORESDE_MLP_OUTPUT_EDM; out++) {
        scoresde_resmlp_options o;
        scoresde_model_resmlp_options_init(&o, sizeof o);
        o.width = 16;
        o.blocks = 2;
        o.output = out;
        scoresde_model *m = NULL;
        ck_assert_int_eq(scoresde_model_create_resmlp(&m, sde, D, &o), SCORESDE_OK);
        ck_assert_int_eq(scoresde_model_kind(m), SCORESDE_MODEL_RESMLP);
        ck_assert_int_eq(scoresde_model_score(m, x, t, N, D, s), SCORESDE_OK);
        for (size_t i = 0; i < N; i++) {
            double A = 0.0, sd = o.sigma_data;
            if (out == SCORESDE_MLP_OUTPUT_DATA)
                A = -1.0 / (sigma[i] * sigma[i]);
            if (out == SCORESDE_MLP_OUTPUT_EDM) {
                double se = sigma[i] / alpha[i], q = se * se + sd * sd;
                A = -1.0 / (alpha[i] * alpha[i] * q);
            }
            for (size_t j = 0; j < D; j++)
                ck_assert_msg(s[i * D + j] == A * x[i * D + j], "%s: s[%zu] = %g, A x = %g",
                              out_name[out], i * D + j, s[i * D + j], A * x[i * D + j]);
        }
        scoresde_model_free(m);
    }
    free(x);
    scoresde_sde_free(sde);
}
END_TEST

/* score, J v, divergence and both gradients of one model on 50 rows. */
typedef struct {
    double s[50 * 4], jv[50 * 4], div[50];
    double *g, *pg;
} everything;

static void run(const scoresde_model *m, everything *e)
{
    enum { N = 50, D = 4 };
    double t[N];
    for (size_t i = 0; i < N; i++)
        t[i] = 0.02 + 0.019 * (double)i;
    double *x = test_normals(11, N * D, 1.0), *v = test_normals(12, N * D, 1.0);
    double *g = test_normals(13, N * D, 1.0), *pr = test_normals(14, N * 2 * D, 1.0);
    double w[N * 2];
    for (size_t i = 0; i < N * 2; i++)
        w[i] = 1.0 / (double)(i + 1);
    size_t np = test_num_params(m);
    e->g = calloc(np, sizeof *e->g);
    e->pg = calloc(np, sizeof *e->pg);
    ck_assert_int_eq(scoresde_model_score(m, x, t, N, D, e->s), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_jvp(m, x, t, N, D, v, NULL, e->jv), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_divergence(m, x, t, N, D, e->div), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_score_backward(m, x, t, N, D, g, e->g, np), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_probe_backward(m, x, t, N, D, pr, 2, w, e->pg, np),
                     SCORESDE_OK);
    free(x), free(v), free(g), free(pr);
}

static void done(everything *e)
{
    free(e->g);
    free(e->pg);
}

/* float32 against float64 with the same parameters (the float32 model's,
 * copied into the float64 one), for every parameterisation x activation:
 * 1e-4 for every pass (measured worst 8.2e-5, the probe gradient of DATA
 * with ReLU). Given parameters that float32 cannot hold (make rounds only
 * the float32 model's), the float64 model would compute a different
 * function: the probe gradient of DATA with tanh under VE at small t has an
 * entry of 8.4 (block 0's W1) with sum_p |dg/dtheta_p theta_p| = 7.5e6, so
 * rounding the parameters alone, in float64 arithmetic, moves it by 1.03e-4
 * of this measure (its first-order bound is 3.7e-3), whatever float32's
 * arithmetic does (3.5e-5 on that case). */
START_TEST(float32_agrees_with_float64)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VE);
    scoresde_resmlp_options o = small_options(_i / 6, _i % 6, SCORESDE_MLP_FLOAT32, 40);
    o.width = 24;
    scoresde_model *m32 = make(sde, 4, &o);
    o.precision = SCORESDE_MLP_FLOAT64;
    scoresde_model *m64 = make(sde, 4, &o);
    size_t np = test_num_params(m32);
    double *p = malloc(np * sizeof *p);
    ck_assert_int_eq(scoresde_model_get_params(m32, p, np), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_set_params(m64, p, np), SCORESDE_OK);
    free(p);
    everything a, b;
    run(m32, &a);
    run(m64, &b);
    ck_assert(test_rel_err(a.s, b.s, 200) < 1e-4);
    ck_assert(test_rel_err(a.jv, b.jv, 200) < 1e-4);
    ck_assert(test_rel_err(a.div, b.div, 50) < 1e-4);
    ck_assert_msg(test_rel_err(a.g, b.g, np) < 1e-4, "grad %g", test_rel_err(a.g, b.g, np));
    ck_assert_msg(test_rel_err(a.pg, b.pg, np) < 1e-4, "probe grad %g",
                  test_rel_err(a.pg, b.pg, np));
    done(&a);
    done(&b);
    scoresde_model_free(m32);
    scoresde_model_free(m64);
    scoresde_sde_free(sde);
}
END_TEST

/* Threads 1 and 2 give the same bits for everything; chunk_rows 3, 7 and
 * 256 the same evaluations. */
START_TEST(threads_and_chunks_bit_identical)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_resmlp_options o = small_options(SCORESDE_MLP_OUTPUT_EDM, SCORESDE_MLP_SILU,
                                              _i ? SCORESDE_MLP_FLOAT32 : SCORESDE_MLP_FLOAT64,
                                              41);
    o.width = 70; /* above the column-split threshold of 64 */
    o.chunk_rows = 7;
    scoresde_model *m1 = make(sde, 4, &o);
    o.n_threads = 2;
    scoresde_model *m2 = make(sde, 4, &o);
    o.chunk_rows = 3;
    scoresde_model *m3 = make(sde, 4, &o);
    o.chunk_rows = 256;
    scoresde_model *m4 = make(sde, 4, &o);
    everything a, b, c, d;
    run(m1, &a);
    run(m2, &b);
    run(m3, &c);
    run(m4, &d);
    size_t np = test_num_params(m1);
    ck_assert(memcmp(a.s, b.s, sizeof a.s) == 0 && memcmp(a.jv, b.jv, sizeof a.jv) == 0);
    ck_assert(memcmp(a.div, b.div, sizeof a.div) == 0);
    ck_assert(memcmp(a.g, b.g, np * 8) == 0 && memcmp(a.pg, b.pg, np * 8) == 0);
    for (everything *e = &c; e <= &d; e += (&d - &c)) {
        ck_assert(memcmp(a.s, e->s, sizeof a.s) == 0 && memcmp(a.jv, e->jv, sizeof a.jv) == 0);
        ck_assert(memcmp(a.div, e->div, sizeof a.div) == 0);
        if (e == &d)
            break;
    }
    done(&a), done(&b), done(&c), done(&d);
    scoresde_model_free(m1);
    scoresde_model_free(m2);
    scoresde_model_free(m3);
    scoresde_model_free(m4);
    scoresde_sde_free(sde);
}
END_TEST

/* A saved model loads as the same model, and saves to the same bytes, in
 * both precisions for every parameterisation (with a condition on half). */
START_TEST(files_round_trip_bit_identically)
{
    static const int sdes[4] = {SCORESDE_SDE_VE, SCORESDE_SDE_VP, SCORESDE_SDE_EDM,
                                SCORESDE_SDE_COSINE};
    for (int prec = SCORESDE_MLP_FLOAT64; prec <= SCORESDE_MLP_FLOAT32; prec++) {
        for (int out = SCORESDE_MLP_OUTPUT_SCORE; out <= SCORESDE_MLP_OUTPUT_EDM; out++) {
            scoresde_sde *sde = test_make_sde(sdes[(out + prec) % 4]);
            scoresde_resmlp_options o = small_options(out, (out + 2 * prec) % 6, prec,
                                                      300 + (uint64_t)out);
            o.blocks = (size_t)((out + prec) % 3);
            if (out % 2) {
                o.cond_dim = 1;
                o.cond_classes = 4;
                o.cond_null = 1;
            }
            scoresde_model *m = make(sde, 3, &o);
            size_t size, size2;
            uint8_t *file = test_save_copy(m, &size);
            scoresde_model *back = NULL;
            ck_assert_int_eq(scoresde_model_load_buffer(&back, file, size), SCORESDE_OK);
            ck_assert_uint_eq(scoresde_model_cond_dim(back), o.cond_dim);
            test_assert_same_model(m, back);
            uint8_t *again = test_save_copy(back, &size2);
            ck_assert_uint_eq(size2, size);
            ck_assert_mem_eq(again, file, size);
            scoresde_model_free(back);
            scoresde_model_free(m);
            scoresde_sde_free(sde);
            free(file);
            free(again);
        }
    }
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

static uint8_t *small_file(size_t *size)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VE);
    scoresde_resmlp_options o = small_options(SCORESDE_MLP_OUTPUT_DATA, SCORESDE_MLP_RELU,
                                              SCORESDE_MLP_FLOAT32, 5);
    o.width = 2;
    o.blocks = 1;
    o.embed_dim = 2;
    o.cond_dim = 1;
    o.cond_input = SCORESDE_MLP_COND_CONCAT;
    scoresde_model *m = make(sde, 1, &o);
    uint8_t *file = test_save_copy(m, size);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    return file;
}

START_TEST(every_truncation_and_byte_change_is_rejected)
{
    size_t size;
    uint8_t *file = small_file(&size);
    test_assert_every_truncation_rejected(file, size);
    test_assert_every_byte_change_rejected(file, size);
    free(file);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* Checksummed files whose KIND payload asks for a huge network, or holds
 * a value out of range, are refused before anything large is allocated. */
START_TEST(forged_payloads_are_refused)
{
    size_t size;
    uint8_t *file = small_file(&size);
    /* Find the payload's width (u64 2) then block count (u64 1): after the
     * head's thread count (u32 1). */
    size_t at = 0;
    for (size_t i = 0; i + 20 <= size; i++) {
        uint64_t w, b;
        uint32_t th;
        memcpy(&th, file + i, 4);
        memcpy(&w, file + i + 4, 8);
        memcpy(&b, file + i + 12, 8);
        if (th == 1 && w == 2 && b == 1) {
            at = i + 4;
            break;
        }
    }
    ck_assert_uint_gt(at, 0);
    struct {
        size_t off;
        uint64_t value;
        const char *message;
    } cases[] = {
        {at, 65536, "parameters, the file's parameter section"},
        {at, 0, "width"},
        {at + 8, 64, "parameters, the file's parameter section"},
        {at + 8, 65, "block count"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        uint8_t *f = malloc(size);
        memcpy(f, file, size);
        memcpy(f + cases[k].off, &cases[k].value, 8);
        test_reseal(f, size);
        size_t largest = 0;
        ck_assert_int_eq(scoresde_set_allocator(test_watch_malloc, test_watch_free, &largest),
                         SCORESDE_OK);
        scoresde_model *m = NULL;
        int rc = scoresde_model_load_buffer(&m, f, size);
        ck_assert_int_eq(scoresde_set_allocator(NULL, NULL, NULL), SCORESDE_OK);
        ck_assert_uint_lt(largest, 4 * size); /* nothing the file does not back */
        ck_assert_int_eq(rc, SCORESDE_ECORRUPT);
        ck_assert_msg(test_contains(scoresde_last_error(), cases[k].message), "%s",
                      scoresde_last_error());
        ck_assert_ptr_null(m);
        free(f);
    }
    free(file);
}
END_TEST

/* Clones and parameter copies; copies between different shapes refused. */
START_TEST(clone_and_copy_params)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_resmlp_options o = small_options(SCORESDE_MLP_OUTPUT_NOISE, SCORESDE_MLP_SILU,
                                              SCORESDE_MLP_FLOAT64, 8);
    scoresde_model *a = make(sde, 2, &o), *c = NULL;
    ck_assert_int_eq(scoresde_model_clone(&c, a), SCORESDE_OK);
    test_assert_same_model(a, c);
    o.seed = 9;
    scoresde_model *b = NULL;
    ck_assert_int_eq(scoresde_model_create_resmlp(&b, sde, 2, &o), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_copy_params(b, a), SCORESDE_OK);
    test_assert_same_params(a, b);
    o.width = 7;
    scoresde_model *w = NULL;
    ck_assert_int_eq(scoresde_model_create_resmlp(&w, sde, 2, &o), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_copy_params(w, a), SCORESDE_EDIM);
    o.width = 6;
    o.cond_dim = 1;
    scoresde_model *k = NULL;
    ck_assert_int_eq(scoresde_model_create_resmlp(&k, sde, 2, &o), SCORESDE_OK);
    size_t np = test_num_params(k);
    ck_assert_uint_eq(np, test_num_params(a) + 4); /* E (4 x 1) */
    ck_assert_int_eq(scoresde_model_copy_params(k, a), SCORESDE_EDIM);
    /* an MLP is another kind */
    scoresde_mlp_options mo;
    scoresde_model_mlp_options_init(&mo, sizeof mo);
    scoresde_model *mlp = NULL;
    ck_assert_int_eq(scoresde_model_create_mlp(&mlp, sde, 2, &mo), SCORESDE_OK);
    ck_assert_int_ne(scoresde_model_copy_params(mlp, a), SCORESDE_OK);
    /* float32 range refused for the condition's parameters too */
    o.precision = SCORESDE_MLP_FLOAT32;
    scoresde_model *k32 = NULL;
    ck_assert_int_eq(scoresde_model_create_resmlp(&k32, sde, 2, &o), SCORESDE_OK);
    double *p = calloc(np, sizeof *p);
    p[np - 1] = 1e300;
    ck_assert_int_eq(scoresde_model_set_params(k32, p, np), SCORESDE_EINVAL);
    ck_assert(test_contains(scoresde_last_error(), "condition parameter"));
    p[np - 1] = 0;
    p[0] = 1e300;
    ck_assert_int_eq(scoresde_model_set_params(k32, p, np), SCORESDE_EINVAL);
    free(p);
    scoresde_model_free(a), scoresde_model_free(b), scoresde_model_free(c);
    scoresde_model_free(w), scoresde_model_free(k), scoresde_model_free(mlp);
    scoresde_model_free(k32);
    scoresde_sde_free(sde);
}
END_TEST

START_TEST(bad_options)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VE);
    scoresde_model *m = NULL;
    scoresde_resmlp_options o;
    ck_assert_int_eq(scoresde_model_resmlp_options_init(NULL, sizeof o), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_model_resmlp_options_init(&o, 8), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_model_create_resmlp(NULL, sde, 2, NULL), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_model_create_resmlp(&m, NULL, 2, NULL), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_model_create_resmlp(&m, sde, 0, NULL), SCORESDE_EINVAL);
    static const char *messages[] = {"width (0)",        "blocks (65)",    "activation (6)",
                                     "output (4)",       "embed_dim (3)",  "chunk_rows (0)",
                                     "n_threads (0)",    "cond_dim > 0",   "opts",
                                     "D (1048576) is above"};
    for (int k = 0; k < 10; k++) {
        scoresde_model_resmlp_options_init(&o, sizeof o);
        size_t D = 2;
        switch (k) {
        case 0: o.width = 0; break;
        case 1: o.blocks = 65; break;
        case 2: o.activation = 6; break;
        case 3: o.output = 4; break;
        case 4: o.embed_dim = 3; break;
        case 5: o.chunk_rows = 0; break;
        case 6: o.n_threads = 0; break;
        case 7: o.cond_classes = 2; break;
        case 8: o.struct_size = 8; break;
        default: D = (size_t)1 << 20; break;
        }
        ck_assert_int_eq(scoresde_model_create_resmlp(&m, sde, D, &o), SCORESDE_EINVAL);
        ck_assert_msg(test_contains(scoresde_last_error(), messages[k]), "%s",
                      scoresde_last_error());
        ck_assert_ptr_null(m);
    }
    /* sigma(t) = 0 under a NOISE output */
    scoresde_sde *vp = test_make_sde(SCORESDE_SDE_VP);
    ck_assert_int_eq(scoresde_model_create_resmlp(&m, vp, 2, NULL), SCORESDE_OK);
    double x[2] = {0.1, 0.2}, t = 0.0, s[2];
    ck_assert_int_eq(scoresde_model_score(m, x, &t, 1, 2, s), SCORESDE_EINVAL);
    ck_assert(test_contains(scoresde_last_error(), "this residual MLP model"));
    scoresde_model_free(m);
    scoresde_sde_free(vp);
    scoresde_sde_free(sde);
}
END_TEST

/* A trainer: a few DSM steps change the parameters (the output layer
 * first, from zero); a checkpoint resumes bit for bit; EMA exports. */
START_TEST(trains_through_the_kind_table)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_resmlp_options o = small_options(SCORESDE_MLP_OUTPUT_NOISE, SCORESDE_MLP_SILU,
                                              SCORESDE_MLP_FLOAT64, 3);
    o.width = 16;
    scoresde_model *m = NULL;
    ck_assert_int_eq(scoresde_model_create_resmlp(&m, sde, 2, &o), SCORESDE_OK);
    scoresde_loss *loss = NULL;
    ck_assert_int_eq(scoresde_loss_create(&loss, SCORESDE_LOSS_DSM), SCORESDE_OK);
    scoresde_trainer *tr = NULL;
    ck_assert_int_eq(scoresde_trainer_create(&tr, m, loss), SCORESDE_OK);
    scoresde_model *gmm = test_mixture(sde);
    double *data = test_data_of(gmm, 64, 5);
    size_t np = test_num_params(m);
    double *before = malloc(np * 8), *after = malloc(np * 8);
    scoresde_model_get_params(m, before, np);
    double lv;
    for (int k = 0; k < 3; k++)
        ck_assert_int_eq(scoresde_trainer_step(tr, data, 64, 2, &lv), SCORESDE_OK);
    ck_assert(isfinite(lv));
    scoresde_model_get_params(m, after, np);
    ck_assert(memcmp(before, after, np * 8) != 0);
    /* A checkpoint resumes bit for bit: two more steps from the saved state
     * in a second trainer equal two more steps of the first. */
    void *ckpt = NULL;
    size_t ckpt_size = 0;
    ck_assert_int_eq(scoresde_trainer_save_buffer(tr, &ckpt, &ckpt_size), SCORESDE_OK);
    scoresde_model *m2 = NULL;
    ck_assert_int_eq(scoresde_model_create_resmlp(&m2, sde, 2, &o), SCORESDE_OK);
    scoresde_trainer *tr2 = NULL;
    ck_assert_int_eq(scoresde_trainer_create(&tr2, m2, loss), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_load_buffer(tr2, ckpt, ckpt_size), SCORESDE_OK);
    double l1, l2;
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(scoresde_trainer_step(tr, data, 64, 2, &l1), SCORESDE_OK);
        ck_assert_int_eq(scoresde_trainer_step(tr2, data, 64, 2, &l2), SCORESDE_OK);
        ck_assert(l1 == l2);
    }
    scoresde_model_get_params(m, before, np);
    scoresde_model_get_params(m2, after, np);
    ck_assert(memcmp(before, after, np * 8) == 0);
    scoresde_model *ema = NULL;
    ck_assert_int_eq(scoresde_trainer_export(&ema, tr, SCORESDE_TRAIN_EXPORT_EMA), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_kind(ema), SCORESDE_MODEL_RESMLP);
    scoresde_model_free(ema);
    scoresde_trainer_free(tr2);
    scoresde_model_free(m2);
    scoresde_buffer_free(ckpt);
    free(before), free(after), free(data);
    scoresde_trainer_free(tr);
    scoresde_loss_free(loss);
    scoresde_model_free(gmm);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* After the first evaluation of each kind of pass, evaluations allocate
 * nothing (the workspace pool keeps the slot): counted with a budget
 * allocator installed before the model exists. */
START_TEST(no_allocation_after_the_first_evaluation)
{
    size_t budget = (size_t)1 << 30;
    ck_assert_int_eq(scoresde_set_allocator(test_budget_malloc, test_budget_free, &budget),
                     SCORESDE_OK);
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_resmlp_options o = small_options(SCORESDE_MLP_OUTPUT_EDM, SCORESDE_MLP_SILU,
                                              SCORESDE_MLP_FLOAT32, 3);
    scoresde_model *m = make(sde, 4, &o);
    size_t np = test_num_params(m);
    everything a;
    run(m, &a);
    done(&a);
    size_t left = budget;
    run(m, &a);
    done(&a);
    ck_assert_uint_eq(budget, left);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    ck_assert_uint_gt(np, 0);
    ck_assert_int_eq(scoresde_set_allocator(NULL, NULL, NULL), SCORESDE_OK);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("model_resmlp");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, passes_match_finite_differences, 0, 24);
    tcase_add_loop_test(tc, conditional_passes_match_finite_differences, 0, 3);
    tcase_add_test(tc, untrained_model_is_the_identity_preconditioning);
    tcase_add_loop_test(tc, float32_agrees_with_float64, 0, 24);
    tcase_add_loop_test(tc, threads_and_chunks_bit_identical, 0, 2);
    tcase_add_test(tc, files_round_trip_bit_identically);
    tcase_add_test(tc, every_truncation_and_byte_change_is_rejected);
    tcase_add_test(tc, forged_payloads_are_refused);
    tcase_add_test(tc, clone_and_copy_params);
    tcase_add_test(tc, bad_options);
    tcase_add_test(tc, trains_through_the_kind_table);
    tcase_add_test(tc, no_allocation_after_the_first_evaluation);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(suite()); }
