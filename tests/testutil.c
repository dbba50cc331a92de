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
