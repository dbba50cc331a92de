/*
 * The MLP model kind: closed forms of every output parameterisation and of
 * both time embeddings on a linear network, finite-difference checks of the
 * score backward, Jacobian products, probe backward and exact divergence for
 * every parameterisation x activation, float32 against float64, concurrent
 * evaluation, clones, and argument errors.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "model_internal.h"
#include "testutil.h"

#define FD_H 1e-5
#define FD_TOL 1e-6

static const char *out_name[] = {"score", "noise", "data", "edm"};
static const char *act_name[] = {"silu", "relu", "tanh", "softplus"};

enum { D = 2, N = 5, M = 2 };
static const double times[N] = {0.1, 0.3, 0.5, 0.7, 0.9};

/* A small model with random (non-zero) parameters. */
static scoresde_model *small_model(const scoresde_sde *sde, int output, int act, int prec,
                                   uint64_t seed)
{
    static const size_t widths[2] = {8, 6};
    scoresde_mlp_options o;
    test_mlp_options(&o, 2, widths, output, 4, seed);
    o.activation = act;
    o.precision = prec;
    o.chunk_rows = 3; /* several chunks per call */
    scoresde_model *m = NULL;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, sde, D, &o), SCORESDE_OK);
    size_t np = test_num_params(m);
    double *p = test_normals(seed + 500, np, 0.6);
    if (prec == SCORESDE_MLP_FLOAT32)
        for (size_t i = 0; i < np; i++)
            p[i] = (double)(float)p[i];
    ck_assert_int_eq(scoresde_model_set_params(m, p, np), SCORESDE_OK);
    free(p);
    return m;
}

/* For one parameterisation x activation (loop index), under a VP SDE
 * (sinusoidal embedding) and a VE SDE (Fourier embedding): every pass
 * against central differences (testutil.h). */
START_TEST(matches_finite_differences)
{
    int output = _i / 4, act = _i % 4;
    int kinds[2] = {SCORESDE_SDE_VP, SCORESDE_SDE_VE};
    for (int q = 0; q < 2; q++) {
        scoresde_sde *sde = test_make_sde(kinds[q]);
        scoresde_model *m =
            small_model(sde, output, act, SCORESDE_MLP_FLOAT64, 100 + (uint64_t)_i);
        char what[64];
        snprintf(what, sizeof what, "%s/%s sde %d", out_name[output], act_name[act], kinds[q]);
        test_check_model_passes(m, NULL, FD_TOL, what);
        scoresde_model_free(m);
        scoresde_sde_free(sde);
    }
}
END_TEST

/* With no hidden layer the network is affine, F = Wx (c x) + We e + b, so
 * every parameterisation has a closed form written here straight from
 * docs/math.md section 2 (c_skip, c_out, c_in, c_noise unsimplified), and the
 * embedding features from model.h's definition. */
START_TEST(linear_network_closed_forms)
{
    enum { E = 6, H = E / 2 };
    int kinds[2] = {SCORESDE_SDE_VP, SCORESDE_SDE_VE};
    for (int q = 0; q < 2; q++) {
        scoresde_sde *sde = test_make_sde(kinds[q]);
        for (int output = 0; output < 4; output++) {
            scoresde_mlp_options o;
            scoresde_model_mlp_options_init(&o, sizeof o);
            o.n_hidden = 0;
            o.output = output;
            o.embed_dim = E;
            o.seed = 42;
            o.fourier_scale = 0.3; /* small, so that the features vary smoothly */
            scoresde_model *m = NULL;
            ck_assert_int_eq(scoresde_model_create_mlp(&m, sde, D, &o), SCORESDE_OK);
            size_t np;
            np = scoresde_model_num_params(m);
            ck_assert_uint_eq(np, D * (D + E) + D);
            double *p = test_normals(7 + (uint64_t)output, np, 1.0);
            ck_assert_int_eq(scoresde_model_set_params(m, p, np), SCORESDE_OK);
            double *x = test_normals(8, N * D, 1.0), s[N * D];
            ck_assert_int_eq(scoresde_model_score(m, x, times, N, D, s), SCORESDE_OK);
            /* Fourier frequencies as documented: stream 2^32, MODEL offsets. */
            double wk[H];
            scoresde_rng_normal(42, UINT64_C(1) << 32, SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, 0),
                                H, wk);
            int fourier = kinds[q] != SCORESDE_SDE_VP;
            for (size_t i = 0; i < N; i++) {
                double a, sg, t = times[i];
                scoresde_sde_marginal(sde, &t, 1, &a, &sg, NULL, NULL);
                double sd = 0.5, se = sg / a;
                double c_skip = sd * sd / (se * se + sd * sd);
                double c_out = se * sd / sqrt(se * se + sd * sd);
                double c_in = 1.0 / sqrt(se * se + sd * sd);
                double c_noise = log(se) / 4.0;
                double tau = output == 3 ? c_noise : (fourier ? log(sg) : 999.0 * t);
                double feat[E], in[D];
                for (int k = 0; k < H; k++) {
                    double f = fourier ? 2.0 * M_PI * 0.3 * wk[k]
                                       : exp(-log(10000.0) * k / (double)(H - 1));
                    feat[k] = sin(f * tau);
                    feat[H + k] = cos(f * tau);
                }
                for (int j = 0; j < D; j++)
                    in[j] = output == 3 ? c_in * x[i * D + j] / a : x[i * D + j];
                for (int j = 0; j < D; j++) {
                    double F = p[D * (D + E) + j]; /* bias */
                    for (int k = 0; k < D; k++)
                        F += p[j * (D + E) + k] * in[k];
                    for (int k = 0; k < E; k++)
                        F += p[j * (D + E) + D + k] * feat[k];
                    double xij = x[i * D + j], want;
                    switch (output) {
                    case 0: want = F; break;
                    case 1: want = -F / sg; break;
                    case 2: want = (a * F - xij) / (sg * sg); break;
                    default: {
                        double den = c_skip * xij / a + c_out * F;
                        want = (a * den - xij) / (sg * sg);
                    }
                    }
                    ck_assert_msg(fabs(s[i * D + j] - want) <= 1e-12 * fmax(1.0, fabs(want)),
                                  "%s, sde %d, sample %zu: %.17g vs %.17g", out_name[output],
                                  kinds[q], i, s[i * D + j], want);
                }
            }
            free(p);
            free(x);
            scoresde_model_free(m);
        }
        scoresde_sde_free(sde);
    }
}
END_TEST

/* The same (float-representable) parameters in float32 and float64 models:
 * score, score backward and probe backward agree to single precision. */
START_TEST(float32_agrees_with_float64)
{
    int output = _i;
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m64 = small_model(sde, output, SCORESDE_MLP_SILU, SCORESDE_MLP_FLOAT64, 9);
    scoresde_model *m32 = small_model(sde, output, SCORESDE_MLP_SILU, SCORESDE_MLP_FLOAT32, 9);
    size_t np = scoresde_model_num_params(m64);
    /* small_model rounds only the float32 model's parameters: copy them. */
    double *p = malloc(np * sizeof *p);
    ck_assert_int_eq(scoresde_model_get_params(m32, p, np), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_set_params(m64, p, np), SCORESDE_OK);
    free(p);
    double *x = test_normals(11, N * D, 1.0), *g = test_normals(12, N * D, 1.0);
    double *probes = test_normals(13, N * M * D, 1.0), *w = test_normals(14, N * M, 1.0);
    double s64[N * D], s32[N * D];
    double *g64 = calloc(np, sizeof(double)), *g32 = calloc(np, sizeof(double));
    scoresde_model_score(m64, x, times, N, D, s64);
    scoresde_model_score(m32, x, times, N, D, s32);
    ck_assert_msg(test_rel_err(s32, s64, N * D) < 1e-4, "%s score %g", out_name[output],
                  test_rel_err(s32, s64, N * D));
    scoresde_model_score_backward(m64, x, times, N, D, g, g64, np);
    scoresde_model_score_backward(m32, x, times, N, D, g, g32, np);
    ck_assert_msg(test_rel_err(g32, g64, np) < 1e-4, "%s backward %g", out_name[output],
                  test_rel_err(g32, g64, np));
    memset(g64, 0, np * sizeof(double));
    memset(g32, 0, np * sizeof(double));
    scoresde_model_probe_backward(m64, x, times, N, D, probes, M, w, g64, np);
    scoresde_model_probe_backward(m32, x, times, N, D, probes, M, w, g32, np);
    ck_assert_msg(test_rel_err(g32, g64, np) < 1e-4, "%s probe backward %g", out_name[output],
                  test_rel_err(g32, g64, np));
    free(x);
    free(g);
    free(probes);
    free(w);
    free(g64);
    free(g32);
    scoresde_model_free(m64);
    scoresde_model_free(m32);
    scoresde_sde_free(sde);
}
END_TEST

typedef struct worker {
    const scoresde_model *m;
    const double *x, *t;
    double *out;
    int rc;
} worker;

static void *run_worker(void *arg)
{
    worker *wk = arg;
    for (int rep = 0; rep < 20 && wk->rc == SCORESDE_OK; rep++)
        wk->rc = scoresde_model_score(wk->m, wk->x, wk->t, 64, D, wk->out);
    return NULL;
}

/* Four threads evaluating one model at once get the bits of a lone call;
 * a clone gives the same bits too. */
START_TEST(concurrent_evaluation_and_clone)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VE);
    scoresde_model *m = small_model(sde, SCORESDE_MLP_OUTPUT_EDM, SCORESDE_MLP_TANH,
                                    SCORESDE_MLP_FLOAT64, 21);
    double *x = test_normals(22, 64 * D, 1.0), t[64], ref[64 * D], outs[4][64 * D];
    for (int i = 0; i < 64; i++)
        t[i] = 0.05 + 0.9 * i / 63.0;
    ck_assert_int_eq(scoresde_model_score(m, x, t, 64, D, ref), SCORESDE_OK);
    pthread_t th[4];
    worker wk[4];
    for (int k = 0; k < 4; k++) {
        wk[k] = (worker){m, x, t, outs[k], SCORESDE_OK};
        ck_assert_int_eq(pthread_create(&th[k], NULL, run_worker, &wk[k]), 0);
    }
    for (int k = 0; k < 4; k++) {
        pthread_join(th[k], NULL);
        ck_assert_int_eq(wk[k].rc, SCORESDE_OK);
        ck_assert_mem_eq(outs[k], ref, sizeof ref);
    }
    scoresde_model *c = NULL;
    ck_assert_int_eq(scoresde_model_clone(&c, m), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_kind(c), SCORESDE_MODEL_MLP);
    ck_assert_int_eq(scoresde_model_score(c, x, t, 64, D, outs[0]), SCORESDE_OK);
    ck_assert_mem_eq(outs[0], ref, sizeof ref);
    free(x);
    scoresde_model_free(c);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

START_TEST(bad_options_and_times)
{
    scoresde_sde *vp = test_make_sde(SCORESDE_SDE_VP);
    scoresde_mlp_options o;
    scoresde_model *m = NULL;
    ck_assert_int_eq(scoresde_model_mlp_options_init(NULL, sizeof o), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_model_mlp_options_init(&o, offsetof(scoresde_mlp_options, n_threads)), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_model_mlp_options_init(&o, sizeof o), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_create_mlp(NULL, vp, 2, &o), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_model_create_mlp(&m, NULL, 2, &o), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_model_create_mlp(&m, vp, 0, &o), SCORESDE_EINVAL);
    scoresde_mlp_options b = o;
    b.struct_size = sizeof o + 8;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, vp, 2, &b), SCORESDE_EINVAL);
    ck_assert(strstr(scoresde_last_error(), "larger than this library's layout") != NULL);
    b = o;
    b.n_hidden = SCORESDE_MLP_MAX_HIDDEN + 1;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, vp, 2, &b), SCORESDE_EINVAL);
    ck_assert(strstr(scoresde_last_error(), "n_hidden") != NULL);
    b = o;
    const size_t zero_width[2] = {8, 0};
    b.n_hidden = 2;
    b.widths = zero_width;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, vp, 2, &b), SCORESDE_EINVAL);
    ck_assert(strstr(scoresde_last_error(), "widths[1]") != NULL);
    b = o;
    b.activation = 7;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, vp, 2, &b), SCORESDE_EINVAL);
    b = o;
    b.output = -1;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, vp, 2, &b), SCORESDE_EINVAL);
    b = o;
    b.embedding = 3;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, vp, 2, &b), SCORESDE_EINVAL);
    b = o;
    b.embed_dim = 5;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, vp, 2, &b), SCORESDE_EINVAL);
    ck_assert(strstr(scoresde_last_error(), "embed_dim (5)") != NULL);
    b = o;
    b.fourier_scale = NAN;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, vp, 2, &b), SCORESDE_EINVAL);
    b = o;
    b.sigma_data = 0;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, vp, 2, &b), SCORESDE_EINVAL);
    b = o;
    b.precision = 2;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, vp, 2, &b), SCORESDE_EINVAL);
    b = o;
    b.chunk_rows = 0;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, vp, 2, &b), SCORESDE_EINVAL);
    b = o;
    b.n_threads = 0;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, vp, 2, &b), SCORESDE_EINVAL);
    ck_assert_ptr_null(m);

    /* sigma(0) = 0 under VP: the noise parameterisation is undefined there,
     * the direct score with a sinusoidal embedding is not. */
    static const size_t four[1] = {4};
    o.n_hidden = 1;
    o.widths = four;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, vp, 2, &o), SCORESDE_OK);
    double x[2] = {0.1, 0.2}, t0 = 0.0, s[2];
    ck_assert_int_eq(scoresde_model_score(m, x, &t0, 1, 2, s), SCORESDE_EINVAL);
    ck_assert(strstr(scoresde_last_error(), "sigma(t) = 0") != NULL);
    scoresde_model_free(m);
    o.output = SCORESDE_MLP_OUTPUT_SCORE;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, vp, 2, &o), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_score(m, x, &t0, 1, 2, s), SCORESDE_OK);
    /* Parameters that overflow the network: reported, not returned. */
    size_t n_big;
    n_big = scoresde_model_num_params(m);
    double *big = malloc(n_big * sizeof *big);
    for (size_t i = 0; i < n_big; i++)
        big[i] = 1e200;
    ck_assert_int_eq(scoresde_model_set_params(m, big, n_big), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_score(m, x, &t0, 1, 2, s), SCORESDE_ENUMERIC);
    ck_assert(strstr(scoresde_last_error(), "not finite") != NULL);
    free(big);
    scoresde_model_free(m);
    /* NULL options: the defaults (3 x 256, noise output). */
    ck_assert_int_eq(scoresde_model_create_mlp(&m, vp, 2, NULL), SCORESDE_OK);
    size_t np;
    np = scoresde_model_num_params(m);
    ck_assert_uint_eq(np, (2 + 16) * 256 + 256 + 2 * (256 * 256 + 256) + 256 * 2 + 2);
    scoresde_model_free(m);
    scoresde_sde_free(vp);
}
END_TEST

static scoresde_model *shaped_model(const scoresde_sde *sde, size_t dim, size_t embed_dim,
                                    size_t n_hidden, size_t w0, size_t w1, int prec)
{
    scoresde_mlp_options o;
    ck_assert_int_eq(scoresde_model_mlp_options_init(&o, sizeof o), SCORESDE_OK);
    o.n_hidden = n_hidden;
    const size_t widths[2] = {w0, w1};
    o.widths = widths;
    o.embed_dim = embed_dim;
    o.precision = prec;
    scoresde_model *m = NULL;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, sde, dim, &o), SCORESDE_OK);
    return m;
}

static bool has_params(const scoresde_model *m, const double *want, size_t np)
{
    double *p = malloc(np * sizeof *p);
    ck_assert_int_eq(scoresde_model_get_params(m, p, np), SCORESDE_OK);
    bool same = memcmp(p, want, np * sizeof *p) == 0;
    free(p);
    return same;
}

/* The 1.0 layout of the options ends at n_threads (model.h). Computed here
 * from the public struct, independently of the library's macro. */
#define OPTIONS_1_0 (offsetof(scoresde_mlp_options, n_threads) + sizeof(int))

/* Parameters and a score of a model, to compare two models bit for bit. */
static void same_model(const scoresde_model *a, const scoresde_model *b)
{
    test_assert_same_params(a, b);
    const double x[D] = {0.3, -0.7}, t = 0.4;
    double sa[D], sb[D];
    ck_assert_int_eq(scoresde_model_score(a, x, &t, 1, D, sa), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_score(b, x, &t, 1, D, sb), SCORESDE_OK);
    ck_assert_mem_eq(sa, sb, sizeof sa);
}

/* Versioned options (common.h): a struct from an older header (struct_size =
 * the 1.0 layout) is read up to its size only, whatever bytes follow it in
 * the caller's memory; a struct from a newer header (larger struct_size) and
 * one smaller than the 1.0 layout are refused with EINVAL. */
START_TEST(options_struct_versions)
{
    ck_assert_uint_le(OPTIONS_1_0, sizeof(scoresde_mlp_options));
    scoresde_sde *vp = test_make_sde(SCORESDE_SDE_VP);
    static const size_t widths[2] = {7, 5};

    /* The reference: the current layout. */
    scoresde_mlp_options o;
    ck_assert_int_eq(scoresde_model_mlp_options_init(&o, sizeof o), SCORESDE_OK);
    ck_assert_uint_eq(o.struct_size, sizeof o);
    o.n_hidden = 2;
    o.widths = widths;
    o.embed_dim = 4;
    o.seed = 9;
    scoresde_model *ref = NULL, *old = NULL;
    ck_assert_int_eq(scoresde_model_create_mlp(&ref, vp, D, &o), SCORESDE_OK);

    /* An older caller's struct inside a larger buffer: init writes exactly
     * OPTIONS_1_0 bytes, create reads no more; the garbage after it stays
     * and is ignored. */
    unsigned char buf[sizeof(scoresde_mlp_options) + 64];
    memset(buf, 0xA5, sizeof buf);
    scoresde_mlp_options *po = (scoresde_mlp_options *)(void *)buf;
    ck_assert_int_eq(scoresde_model_mlp_options_init(po, OPTIONS_1_0), SCORESDE_OK);
    ck_assert_uint_eq(po->struct_size, OPTIONS_1_0);
    ck_assert_uint_eq(po->n_hidden, 3);
    ck_assert_ptr_null(po->widths);
    ck_assert_int_eq(po->n_threads, 1);
    for (size_t k = OPTIONS_1_0; k < sizeof buf; k++)
        ck_assert_uint_eq(buf[k], 0xA5);
    po->n_hidden = 2;
    po->widths = widths;
    po->embed_dim = 4;
    po->seed = 9;
    ck_assert_int_eq(scoresde_model_create_mlp(&old, vp, D, po), SCORESDE_OK);
    same_model(ref, old);
    scoresde_model_free(old);

    /* Newer header: refused, by init and by create, naming the sizes. */
    scoresde_model *m = ref;
    ck_assert_int_eq(scoresde_model_mlp_options_init(po, sizeof o + 8), SCORESDE_EINVAL);
    ck_assert(strstr(scoresde_last_error(), "larger than this library's layout") != NULL);
    po->struct_size = sizeof o + 8;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, vp, D, po), SCORESDE_EINVAL);
    ck_assert(strstr(scoresde_last_error(), "newer libscoresde") != NULL);
    ck_assert_ptr_null(m);
    /* Older than 1.0: refused too. */
    ck_assert_int_eq(scoresde_model_mlp_options_init(po, OPTIONS_1_0 - 1), SCORESDE_EINVAL);
    ck_assert(strstr(scoresde_last_error(), "smaller than the first released layout") != NULL);
    po->struct_size = OPTIONS_1_0 - 1;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, vp, D, po), SCORESDE_EINVAL);
    ck_assert(strstr(scoresde_last_error(), "smaller than the first released layout") != NULL);
    ck_assert_int_eq(scoresde_model_mlp_options_init(po, 0), SCORESDE_EINVAL);

    scoresde_model_free(ref);
    scoresde_sde_free(vp);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* widths: NULL means 256 per hidden layer; a given array is read at creation
 * and copied (changing or freeing it later does not affect the model). */
START_TEST(widths_pointer)
{
    scoresde_sde *vp = test_make_sde(SCORESDE_SDE_VP);
    scoresde_mlp_options o;
    ck_assert_int_eq(scoresde_model_mlp_options_init(&o, sizeof o), SCORESDE_OK);
    o.n_hidden = 2;
    o.embed_dim = 4;
    scoresde_model *a = NULL, *b = NULL, *c = NULL;
    ck_assert_int_eq(scoresde_model_create_mlp(&a, vp, D, &o), SCORESDE_OK);
    ck_assert_uint_eq(scoresde_model_num_params(a),
                      (D + 4) * 256 + 256 + 256 * 256 + 256 + 256 * D + D);
    const size_t explicit256[2] = {256, 256};
    o.widths = explicit256;
    ck_assert_int_eq(scoresde_model_create_mlp(&b, vp, D, &o), SCORESDE_OK);
    same_model(a, b);

    size_t *heap = malloc(2 * sizeof *heap);
    heap[0] = 3, heap[1] = 4;
    o.widths = heap;
    ck_assert_int_eq(scoresde_model_create_mlp(&c, vp, D, &o), SCORESDE_OK);
    heap[0] = heap[1] = 1000;
    free(heap);
    o.widths = NULL;
    ck_assert_uint_eq(scoresde_model_num_params(c), (D + 4) * 3 + 3 + 3 * 4 + 4 + 4 * D + D);
    /* The copy keeps the widths: a clone and a file round trip agree. */
    scoresde_model *cc = NULL, *loaded = NULL;
    ck_assert_int_eq(scoresde_model_clone(&cc, c), SCORESDE_OK);
    same_model(c, cc);
    void *bytes = NULL;
    size_t size = 0;
    ck_assert_int_eq(scoresde_model_save_buffer(cc, &bytes, &size), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_load_buffer(&loaded, bytes, size), SCORESDE_OK);
    same_model(c, loaded);
    ck_assert_int_eq(scoresde_model_copy_params(cc, loaded), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_copy_params(a, c), SCORESDE_EDIM);
    scoresde_buffer_free(bytes);
    scoresde_model_free(loaded);
    scoresde_model_free(cc);

    /* n_hidden = 0 with widths NULL: a single affine layer. */
    scoresde_model *lin = NULL;
    o.n_hidden = 0;
    ck_assert_int_eq(scoresde_model_create_mlp(&lin, vp, D, &o), SCORESDE_OK);
    ck_assert_uint_eq(scoresde_model_num_params(lin), (D + 4) * D + D);
    scoresde_model_free(lin);
    /* n_hidden above the bound is refused before the widths are read. */
    o.n_hidden = SCORESDE_MLP_MAX_HIDDEN + 1;
    ck_assert_int_eq(scoresde_model_create_mlp(&lin, vp, D, &o), SCORESDE_EINVAL);
    ck_assert(strstr(scoresde_last_error(), "n_hidden (65) is above 64") != NULL);

    scoresde_model_free(a);
    scoresde_model_free(b);
    scoresde_model_free(c);
    scoresde_sde_free(vp);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

START_TEST(copy_params_between_models)
{
    scoresde_sde *vp = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *a = small_model(vp, SCORESDE_MLP_OUTPUT_NOISE, SCORESDE_MLP_SILU,
                                    SCORESDE_MLP_FLOAT64, 1);
    scoresde_model *b = small_model(vp, SCORESDE_MLP_OUTPUT_NOISE, SCORESDE_MLP_SILU,
                                    SCORESDE_MLP_FLOAT64, 2);
    size_t np = test_num_params(a);
    double *pa = malloc(np * sizeof *pa), *pb = malloc(np * sizeof *pb);
    ck_assert_int_eq(scoresde_model_get_params(a, pa, np), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_get_params(b, pb, np), SCORESDE_OK);
    ck_assert(memcmp(pa, pb, np * sizeof *pa) != 0);
    double *x = test_normals(9, N * D, 1.0), sa[N * D], sb[N * D];
    ck_assert_int_eq(scoresde_model_score(a, x, times, N, D, sa), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_score(b, x, times, N, D, sb), SCORESDE_OK);
    ck_assert(memcmp(sa, sb, sizeof sa) != 0);

    /* Same architecture: the parameters, hence the scores, become a's bits. */
    ck_assert_int_eq(scoresde_model_copy_params(b, a), SCORESDE_OK);
    ck_assert(has_params(b, pa, np));
    ck_assert_int_eq(scoresde_model_score(b, x, times, N, D, sb), SCORESDE_OK);
    ck_assert_mem_eq(sa, sb, sizeof sa);
    ck_assert_int_eq(scoresde_model_copy_params(a, a), SCORESDE_OK);
    ck_assert(has_params(a, pa, np));

    /* Across precisions: float64 -> float32 rounds to nearest, float32 ->
     * float64 is exact. */
    scoresde_model *f = small_model(vp, SCORESDE_MLP_OUTPUT_NOISE, SCORESDE_MLP_SILU,
                                    SCORESDE_MLP_FLOAT32, 3);
    ck_assert_int_eq(scoresde_model_copy_params(f, a), SCORESDE_OK);
    for (size_t i = 0; i < np; i++)
        pb[i] = (double)(float)pa[i];
    ck_assert(has_params(f, pb, np));
    ck_assert_int_eq(scoresde_model_copy_params(b, f), SCORESDE_OK);
    ck_assert(has_params(b, pb, np));
    /* A float64 value beyond float32's range: EINVAL, dst unchanged. */
    pa[np / 2] = 1e300;
    ck_assert_int_eq(scoresde_model_set_params(a, pa, np), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_copy_params(f, a), SCORESDE_EINVAL);
    ck_assert(has_params(f, pb, np));

    /* Shapes differ: EDIM naming the difference, dst unchanged. */
    struct {
        size_t dim, embed, n_hidden, w0, w1;
        const char *msg;
    } bad[] = {
        {3, 4, 2, 8, 6, "dst has dimension 2 and src 3"},
        {2, 6, 2, 8, 6, "dst has embed_dim 4 and src 6"},
        {2, 4, 1, 8, 6, "dst has 2 hidden layers and src 1"},
        {2, 4, 2, 8, 7, "hidden layer 1 has width 6 in dst and 7 in src"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        scoresde_model *o = shaped_model(vp, bad[k].dim, bad[k].embed, bad[k].n_hidden,
                                         bad[k].w0, bad[k].w1, SCORESDE_MLP_FLOAT64);
        ck_assert_int_eq(scoresde_model_copy_params(b, o), SCORESDE_EDIM);
        ck_assert_msg(strstr(scoresde_last_error(), bad[k].msg), "%s", scoresde_last_error());
        ck_assert(has_params(b, pb, np));
        scoresde_model_free(o);
    }

    /* Kinds without parameters, another trainable kind, NULL. */
    double w = 1, mu = 0, var = 1;
    scoresde_model *g = NULL;
    ck_assert_int_eq(scoresde_model_create_gmm(&g, vp, 1, D, &w, (double[]){mu, mu},
                                               (double[]){var, var}),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_copy_params(g, a), SCORESDE_EUNSUPPORTED);
    ck_assert(strstr(scoresde_last_error(), "dst is a Gaussian-mixture model"));
    ck_assert_int_eq(scoresde_model_copy_params(a, g), SCORESDE_EUNSUPPORTED);
    ck_assert(strstr(scoresde_last_error(), "src is a Gaussian-mixture model"));
    sd_model_ops other = sd_model_mlp_ops;
    other.name = "other-trainable";
    void *state;
    ck_assert_int_eq(other.clone_state(a, &state), SCORESDE_OK);
    scoresde_model *o = NULL;
    ck_assert_int_eq(sd_model_create(&o, &other, vp, D, state), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_copy_params(o, b), SCORESDE_EINVAL);
    ck_assert(strstr(scoresde_last_error(), "dst is a other-trainable model and src a MLP"));
    ck_assert_int_eq(scoresde_model_copy_params(NULL, a), SCORESDE_EINVAL);
    ck_assert(strstr(scoresde_last_error(), "dst"));
    ck_assert_int_eq(scoresde_model_copy_params(a, NULL), SCORESDE_EINVAL);
    ck_assert(strstr(scoresde_last_error(), "src"));

    scoresde_model_free(o);
    scoresde_model_free(g);
    scoresde_model_free(f);
    scoresde_model_free(a);
    scoresde_model_free(b);
    scoresde_sde_free(vp);
    free(x);
    free(pa);
    free(pb);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

static Suite *model_mlp_suite(void)
{
    Suite *s = suite_create("model_mlp");
    TCase *tc = tcase_create("mlp");
    tcase_add_loop_test(tc, matches_finite_differences, 0, 16);
    tcase_add_test(tc, linear_network_closed_forms);
    tcase_add_loop_test(tc, float32_agrees_with_float64, 0, 4);
    tcase_add_test(tc, concurrent_evaluation_and_clone);
    tcase_add_test(tc, bad_options_and_times);
    tcase_add_test(tc, copy_params_between_models);
    tcase_add_test(tc, options_struct_versions);
    tcase_add_test(tc, widths_pointer);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(model_mlp_suite()); }
