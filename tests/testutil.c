/*
 * Statistics, runner, fixture and model-file helpers shared by the unit tests.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int test_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

double test_normal_cdf(double z)
{
    return 0.5 * erfc(-z / sqrt(2.0));
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double test_ks_statistic_normal(double *x, size_t n, double mean, double sd)
{
    qsort(x, n, sizeof *x, compare_doubles);
    double d = 0.0;
    for (size_t i = 0; i < n; i++) {
        double f = test_normal_cdf((x[i] - mean) / sd);
        double above = (double)(i + 1) / (double)n - f, below = f - (double)i / (double)n;
        if (above > d)
            d = above;
        if (below > d)
            d = below;
    }
    return d;
}

void test_moments(const double *x, size_t n, size_t stride, size_t offset, double *mean,
                  double *var)
{
    double m = 0.0, v = 0.0;
    for (size_t i = 0; i < n; i++)
        m += x[i * stride + offset];
    m /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double d = x[i * stride + offset] - m;
        v += d * d;
    }
    *mean = m;
    *var = v / (double)(n - 1);
}

void *test_budget_malloc(size_t size, void *budget)
{
    size_t *left = budget;
    if (*left == 0)
        return NULL;
    (*left)--;
    return malloc(size);
}

void test_budget_free(void *ptr, void *budget)
{
    (void)budget;
    free(ptr);
}

double test_rel_err(const double *a, const double *b, size_t n)
{
    double scale = 0, worst = 0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(b[i]));
    for (size_t i = 0; i < n; i++) {
        double den = fmax(fabs(b[i]), 1e-3 * scale);
        double e = den > 0 ? fabs(a[i] - b[i]) / den : fabs(a[i] - b[i]);
        worst = fmax(worst, e);
    }
    return worst;
}

double *test_normals(uint64_t seed, size_t n, double scale)
{
    double *x = malloc(n * sizeof *x);
    ck_assert_ptr_nonnull(x);
    scoresde_rng_normal(seed, 0, 0, n, x);
    for (size_t i = 0; i < n; i++)
        x[i] *= scale;
    return x;
}

bool test_contains(const char *haystack, const char *needle)
{
    return strstr(haystack, needle) != NULL;
}

void test_expect_error_at(int rc, int status, const char *needle, const char *file, int line)
{
    const char *msg = scoresde_last_error();
    ck_assert_msg(rc == status, "%s:%d: status %d, expected %d (%s)", file, line, rc, status,
                  msg);
    ck_assert_msg(test_contains(msg, needle), "%s:%d: message \"%s\" lacks \"%s\"", file, line,
                  msg, needle);
}

scoresde_sde *test_make_sde(int kind)
{
    scoresde_sde *sde = NULL;
    ck_assert_int_eq(scoresde_sde_create_default(&sde, kind), SCORESDE_OK);
    return sde;
}

scoresde_model *test_mixture(const scoresde_sde *sde)
{
    static const double w[3] = {0.5, 0.3, 0.2};
    static const double mu[6] = {-1.0, 0.5, 1.5, 1.0, 0.0, -1.5};
    static const double var[6] = {0.3, 0.2, 0.1, 0.4, 0.25, 0.15};
    scoresde_model *m = NULL;
    ck_assert_int_eq(scoresde_model_create_gmm(&m, sde, 3, 2, w, mu, var), SCORESDE_OK);
    return m;
}

double *test_data_of(const scoresde_model *gmm, size_t n, uint64_t seed)
{
    double *t = calloc(n, sizeof *t), *x = malloc(n * 2 * sizeof *x);
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(scoresde_model_sample(gmm, t, n, 2, seed, 0, x), SCORESDE_OK);
    free(t);
    return x;
}

void test_mlp_options(scoresde_mlp_options *o, size_t n_hidden, const size_t *widths, int output,
                      size_t embed_dim, uint64_t seed)
{
    ck_assert_int_eq(scoresde_model_mlp_options_init(o, sizeof *o), SCORESDE_OK);
    o->n_hidden = n_hidden;
    o->widths = widths;
    o->output = output;
    o->embed_dim = embed_dim;
    o->seed = seed;
}

size_t test_num_params(const scoresde_model *m)
{
    size_t np = scoresde_model_num_params(m);
    ck_assert_uint_gt(np, 0);
    return np;
}

void test_assert_same_params(const scoresde_model *a, const scoresde_model *b)
{
    size_t na = test_num_params(a);
    ck_assert_uint_eq(scoresde_model_num_params(b), na);
    double *pa = malloc(na * sizeof *pa), *pb = malloc(na * sizeof *pb);
    ck_assert_int_eq(scoresde_model_get_params(a, pa, na), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_get_params(b, pb, na), SCORESDE_OK);
    ck_assert_mem_eq(pa, pb, na * sizeof *pa);
    free(pa);
    free(pb);
}

uint8_t *test_save_copy(const scoresde_model *m, size_t *size)
{
    void *data;
    ck_assert_int_eq(scoresde_model_save_buffer(m, &data, size), SCORESDE_OK);
    uint8_t *copy = malloc(*size);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, data, *size);
    scoresde_buffer_free(data);
    return copy;
}

void test_reseal(uint8_t *data, size_t size)
{
    uint32_t crc = sd_crc32c(0, data, size - 4);
    for (int i = 0; i < 4; i++)
        data[size - 4 + i] = (uint8_t)(crc >> (8 * i));
}

void test_assert_every_truncation_rejected(const uint8_t *file, size_t size)
{
    for (size_t len = 0; len < size; len++) {
        uint8_t *copy = malloc(len > 0 ? len : 1); /* exact size: ASan sees overreads */
        memcpy(copy, file, len);
        scoresde_model *m = (scoresde_model *)copy; /* a failing load clears it */
        int rc = scoresde_model_load_buffer(&m, copy, len);
        ck_assert_msg(rc == SCORESDE_ECORRUPT, "length %zu: status %d", len, rc);
        ck_assert_ptr_null(m);
        free(copy);
    }
}

void test_assert_every_byte_change_rejected(const uint8_t *file, size_t size)
{
    uint8_t *copy = malloc(size);
    memcpy(copy, file, size);
    for (size_t pos = 0; pos < size; pos++) {
        for (unsigned x = 1; x < 256; x++) {
            copy[pos] = (uint8_t)(file[pos] ^ x);
            scoresde_model *m = NULL;
            int rc = scoresde_model_load_buffer(&m, copy, size);
            /* Only the major half of the version can read as "newer". */
            bool ok = rc == SCORESDE_ECORRUPT ||
                      (rc == SCORESDE_EVERSION && (pos == 10 || pos == 11));
            ck_assert_msg(ok, "byte %zu ^ 0x%02x: status %d", pos, x, rc);
            ck_assert_ptr_null(m);
        }
        copy[pos] = file[pos];
    }
    free(copy);
}

void test_forge_begin(sd_writer *w, uint32_t file_type, uint32_t model_kind, const char *name,
                      uint64_t dim, uint32_t sde_kind, uint32_t sde_count, const double *sde,
                      size_t n_sde)
{
    size_t mark;
    sd_writer_init(w);
    sd_container_begin(w, file_type);
    sd_container_section_begin(w, SD_TAG_MODEL, SD_SECTION_REQUIRED, &mark);
    sd_writer_put_u32(w, model_kind);
    sd_writer_put_string(w, name, strlen(name));
    sd_writer_put_u64(w, dim);
    sd_container_section_end(w, mark);
    sd_container_section_begin(w, SD_TAG_SDE, SD_SECTION_REQUIRED, &mark);
    sd_writer_put_u32(w, sde_kind);
    sd_writer_put_u32(w, sde_count);
    sd_writer_put_f64_array(w, sde, n_sde);
    sd_container_section_end(w, mark);
}

bool test_countdown_fails(test_countdown *c)
{
    bool fails = c->fail_at >= 0 && c->calls >= c->fail_at;
    c->calls++;
    return fails;
}

int test_vp_schedule(const double *t, size_t n, double *alpha, double *sigma, double *dalpha,
                     double *dsigma, void *user)
{
    if (test_countdown_fails(user))
        return 1;
    for (size_t i = 0; i < n; i++) {
        alpha[i] = exp(-t[i]);
        dalpha[i] = -alpha[i];
        double v = -expm1(-2.0 * t[i]);
        sigma[i] = sqrt(v);
        dsigma[i] = sigma[i] > 0.0 ? (1.0 - v) / sigma[i] : INFINITY;
    }
    return 0;
}

/* ---- every pass of a trainable model against central differences */

enum { FDM_N = 5, FDM_M = 2 };
static const double fdm_times[FDM_N] = {0.1, 0.3, 0.5, 0.7, 0.9};
#define FDM_H 1e-5

static double fdm_score_objective(const scoresde_model *m, const scoresde_cond *c, size_t D,
                                  const double *x, const double *g, double *s)
{
    double f = 0;
    ck_assert_int_eq(scoresde_model_score_cond(m, x, fdm_times, FDM_N, D, c, s), SCORESDE_OK);
    for (size_t i = 0; i < FDM_N * D; i++)
        f += g[i] * s[i];
    return f;
}

/* sum_i sum_k w_ik v_ik^T J_i v_ik, exactly through the model's jvp. */
static double fdm_probe_objective(const scoresde_model *m, const scoresde_cond *c, size_t D,
                                  const double *x, const double *probes, const double *w,
                                  double *v, double *jv)
{
    double f = 0;
    for (size_t k = 0; k < FDM_M; k++) {
        for (size_t i = 0; i < FDM_N; i++)
            memcpy(v + i * D, probes + (i * FDM_M + k) * D, D * sizeof(double));
        ck_assert_int_eq(scoresde_model_jvp_cond(m, x, fdm_times, FDM_N, D, c, v, NULL, jv),
                         SCORESDE_OK);
        for (size_t i = 0; i < FDM_N; i++)
            for (size_t j = 0; j < D; j++)
                f += w[i * FDM_M + k] * v[i * D + j] * jv[i * D + j];
    }
    return f;
}

void test_check_model_passes(scoresde_model *m, const scoresde_cond *c, double tol,
                             const char *what)
{
    size_t D = scoresde_model_dim(m), nd = FDM_N * D, np = test_num_params(m);
    double *x = test_normals(1, nd, 1.0), *g = test_normals(2, nd, 1.0);
    double *probes = test_normals(3, nd * FDM_M, 1.0), *w = test_normals(4, FDM_N * FDM_M, 1.0);
    double *v = test_normals(5, nd, 1.0);
    double *grad = calloc(np, sizeof *grad), *pgrad = calloc(np, sizeof *pgrad);
    double *fd = malloc(np * sizeof *fd), *pfd = malloc(np * sizeof *pfd);
    double *p = malloc(np * sizeof *p);
    double *s = malloc(nd * sizeof *s), *s2 = malloc(nd * sizeof *s2), *jv = malloc(nd * 8);
    double *sp = malloc(nd * 8), *sm = malloc(nd * 8), *xp = malloc(nd * 8), *xm = malloc(nd * 8);
    double *jfd = malloc(nd * 8), *vs = malloc(nd * 8), *axes = malloc(nd * D * 8);
    ck_assert_int_eq(scoresde_model_score_backward_cond(m, x, fdm_times, FDM_N, D, c, g, grad, np),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_probe_backward_cond(m, x, fdm_times, FDM_N, D, c, probes,
                                                        FDM_M, w, pgrad, np),
                     SCORESDE_OK);
    scoresde_model_get_params(m, p, np);
    for (size_t k = 0; k < np; k++) {
        double keep = p[k];
        p[k] = keep + FDM_H;
        scoresde_model_set_params(m, p, np);
        double fp = fdm_score_objective(m, c, D, x, g, s);
        double pp = fdm_probe_objective(m, c, D, x, probes, w, vs, jv);
        p[k] = keep - FDM_H;
        scoresde_model_set_params(m, p, np);
        double fm = fdm_score_objective(m, c, D, x, g, s);
        double pm = fdm_probe_objective(m, c, D, x, probes, w, vs, jv);
        p[k] = keep;
        fd[k] = (fp - fm) / (2 * FDM_H);
        pfd[k] = (pp - pm) / (2 * FDM_H);
    }
    scoresde_model_set_params(m, p, np);
    double e1 = test_rel_err(grad, fd, np), e2 = test_rel_err(pgrad, pfd, np);
    ck_assert_msg(e1 < tol, "%s: score backward error %g", what, e1);
    ck_assert_msg(e2 < tol, "%s: probe backward error %g", what, e2);

    /* Jacobian product along v, and its score output. */
    ck_assert_int_eq(scoresde_model_jvp_cond(m, x, fdm_times, FDM_N, D, c, v, s, jv),
                     SCORESDE_OK);
    scoresde_model_score_cond(m, x, fdm_times, FDM_N, D, c, s2);
    ck_assert(test_rel_err(s, s2, nd) < 1e-14);
    for (size_t i = 0; i < nd; i++) {
        xp[i] = x[i] + FDM_H * v[i];
        xm[i] = x[i] - FDM_H * v[i];
    }
    scoresde_model_score_cond(m, xp, fdm_times, FDM_N, D, c, sp);
    scoresde_model_score_cond(m, xm, fdm_times, FDM_N, D, c, sm);
    for (size_t i = 0; i < nd; i++)
        jfd[i] = (sp[i] - sm[i]) / (2 * FDM_H);
    double e3 = test_rel_err(jv, jfd, nd);
    ck_assert_msg(e3 < tol, "%s: jvp error %g", what, e3);

    /* Exact divergence against the trace of a central-difference Jacobian. */
    double div[FDM_N], tr[FDM_N] = {0}, est[FDM_N];
    ck_assert_int_eq(scoresde_model_divergence_cond(m, x, fdm_times, FDM_N, D, c, div),
                     SCORESDE_OK);
    for (size_t j = 0; j < D; j++) {
        memcpy(xp, x, nd * 8);
        memcpy(xm, x, nd * 8);
        for (size_t i = 0; i < FDM_N; i++) {
            xp[i * D + j] += FDM_H;
            xm[i * D + j] -= FDM_H;
        }
        scoresde_model_score_cond(m, xp, fdm_times, FDM_N, D, c, sp);
        scoresde_model_score_cond(m, xm, fdm_times, FDM_N, D, c, sm);
        for (size_t i = 0; i < FDM_N; i++)
            tr[i] += (sp[i * D + j] - sm[i * D + j]) / (2 * FDM_H);
    }
    double e4 = test_rel_err(div, tr, FDM_N);
    ck_assert_msg(e4 < tol, "%s: divergence error %g", what, e4);
    /* Hutchinson with the D axis probes is exactly div / D. */
    for (size_t i = 0; i < FDM_N; i++)
        for (size_t k = 0; k < D; k++)
            for (size_t j = 0; j < D; j++)
                axes[(i * D + k) * D + j] = j == k ? 1.0 : 0.0;
    ck_assert_int_eq(scoresde_model_hutchinson_cond(m, x, fdm_times, FDM_N, D, c, axes, D, est),
                     SCORESDE_OK);
    for (size_t i = 0; i < FDM_N; i++)
        ck_assert(fabs(est[i] * (double)D - div[i]) <= 1e-12 * fmax(1.0, fabs(div[i])));
    free(x), free(g), free(probes), free(w), free(v), free(grad), free(pgrad), free(fd);
    free(pfd), free(p), free(s), free(s2), free(jv), free(sp), free(sm), free(xp), free(xm);
    free(jfd), free(vs), free(axes);
}

void test_assert_same_model(const scoresde_model *a, const scoresde_model *b)
{
    ck_assert_int_eq(scoresde_model_kind(b), scoresde_model_kind(a));
    size_t D = scoresde_model_dim(a);
    ck_assert_uint_eq(scoresde_model_dim(b), D);
    test_assert_same_params(a, b);

    enum { N = 7 };
    double T = scoresde_sde_end_time(scoresde_model_sde(a));
    double t[N] = {0.01 * T, 0.1 * T, 0.25 * T, 0.5 * T, 0.7 * T, 0.9 * T, T};
    double *x = malloc(N * D * sizeof *x), *v = malloc(N * D * sizeof *v);
    double *sa = malloc(N * D * sizeof *sa), *sb = malloc(N * D * sizeof *sb);
    double *ja = malloc(N * D * sizeof *ja), *jb = malloc(N * D * sizeof *jb);
    for (size_t q = 0; q < N * D; q++) {
        x[q] = 1.3 * sin(0.9 * (double)q + 0.2);
        v[q] = cos(1.7 * (double)q);
    }
    ck_assert_int_eq(scoresde_model_score(a, x, t, N, D, sa), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_score(b, x, t, N, D, sb), SCORESDE_OK);
    ck_assert_mem_eq(sa, sb, N * D * sizeof *sa);
    ck_assert_int_eq(scoresde_model_jvp(a, x, t, N, D, v, NULL, ja), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_jvp(b, x, t, N, D, v, NULL, jb), SCORESDE_OK);
    ck_assert_mem_eq(ja, jb, N * D * sizeof *ja);
    /* A clone of the loaded model is the same model too. */
    scoresde_model *c = NULL;
    ck_assert_int_eq(scoresde_model_clone(&c, b), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_score(c, x, t, N, D, sb), SCORESDE_OK);
    ck_assert_mem_eq(sa, sb, N * D * sizeof *sa);
    scoresde_model_free(c);
    free(x);
    free(v);
    free(sa);
    free(sb);
    free(ja);
    free(jb);
}

void *test_watch_malloc(size_t size, void *largest)
{
    size_t *l = largest;
    if (size > *l)
        *l = size;
    return size > ((size_t)1 << 26) ? NULL : malloc(size); /* 64 MiB: never needed in tests */
}

void test_watch_free(void *ptr, void *largest)
{
    (void)largest;
    free(ptr);
}
