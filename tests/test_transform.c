/*
 * The data transform of a model (model.h, issue 13): x_data = shift +
 * scale * x_model. Identity by default; set, read, applied both ways and
 * its log-Jacobian; refusals naming the element; the model's own
 * evaluation unchanged; the XFRM section of model files (bit-identical
 * round trip, every truncation and byte change refused, forged values
 * refused, files without it still load); clone, trainer export and
 * checkpoints carry it.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "io.h"
#include "scoresde.h"
#include "testutil.h"

static const double SHIFT[2] = {300.0, -2.5};
static const double SCALE[2] = {50.0, 0.125};

static void assert_transform(const scoresde_model *m, const double *shift, const double *scale)
{
    double s[2], c[2];
    ck_assert_int_eq(scoresde_model_get_transform(m, s, c), SCORESDE_OK);
    ck_assert_mem_eq(s, shift, sizeof s);
    ck_assert_mem_eq(c, scale, sizeof c);
}

static const double ZERO[2] = {0.0, 0.0}, ONE[2] = {1.0, 1.0};

START_TEST(identity_by_default)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = test_mixture(sde);
    ck_assert_int_eq(scoresde_model_has_transform(m), 0);
    assert_transform(m, ZERO, ONE);
    double x[6] = {1, -2, 0.5, 0.25, 3, 0}, y[6];
    memcpy(y, x, sizeof x);
    ck_assert_int_eq(scoresde_model_to_data(m, y, 3), SCORESDE_OK);
    ck_assert_mem_eq(y, x, sizeof x);
    ck_assert_int_eq(scoresde_model_from_data(m, y, 3), SCORESDE_OK);
    ck_assert_mem_eq(y, x, sizeof x);
    double ld = -1;
    ck_assert_int_eq(scoresde_model_transform_log_det(m, &ld), SCORESDE_OK);
    ck_assert(ld == 0.0);
    /* either output may be skipped */
    double s[2];
    ck_assert_int_eq(scoresde_model_get_transform(m, s, NULL), SCORESDE_OK);
    ck_assert_mem_eq(s, ZERO, sizeof s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

START_TEST(set_apply_and_clear)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = test_mixture(sde);
    ck_assert_int_eq(scoresde_model_set_transform(m, SHIFT, SCALE), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_has_transform(m), 1);
    assert_transform(m, SHIFT, SCALE);
    enum { N = 200 };
    double *x = test_normals(5, 2 * N, 3.0), y[2 * N], z[2 * N];
    memcpy(y, x, sizeof y);
    ck_assert_int_eq(scoresde_model_to_data(m, y, N), SCORESDE_OK);
    for (size_t i = 0; i < 2 * N; i++) {
        double want = SHIFT[i % 2] + SCALE[i % 2] * x[i];
        ck_assert_mem_eq(&y[i], &want, sizeof want);
    }
    memcpy(z, y, sizeof z);
    ck_assert_int_eq(scoresde_model_from_data(m, z, N), SCORESDE_OK);
    for (size_t i = 0; i < 2 * N; i++) {
        double want = (y[i] - SHIFT[i % 2]) / SCALE[i % 2];
        ck_assert_mem_eq(&z[i], &want, sizeof want);
        /* the round trip: two roundings of values of size |shift| + |scale x| */
        double bound = 4 * DBL_EPSILON * (fabs(SHIFT[i % 2]) / SCALE[i % 2] + fabs(x[i]));
        ck_assert_double_le(fabs(z[i] - x[i]), bound);
    }
    double ld;
    ck_assert_int_eq(scoresde_model_transform_log_det(m, &ld), SCORESDE_OK);
    ck_assert_double_eq_tol(ld, log(50.0 * 0.125), 1e-15);
    /* n = 0 with no rows */
    ck_assert_int_eq(scoresde_model_to_data(m, NULL, 0), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_from_data(m, NULL, 0), SCORESDE_OK);
    /* replacing, then clearing */
    const double s2[2] = {1, 2}, c2[2] = {3, 4};
    ck_assert_int_eq(scoresde_model_set_transform(m, s2, c2), SCORESDE_OK);
    assert_transform(m, s2, c2);
    ck_assert_int_eq(scoresde_model_set_transform(m, NULL, NULL), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_has_transform(m), 0);
    assert_transform(m, ZERO, ONE);
    /* the explicit identity is a transform */
    ck_assert_int_eq(scoresde_model_set_transform(m, ZERO, ONE), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_has_transform(m), 1);
    free(x);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* ln p_data(x) = ln p_model(from_data(x)) - log_det: the mixture in model
 * units pushed to data units is the mixture with means shift + scale mu and
 * variances scale^2 v, whose density the library computes directly. */
START_TEST(density_change_of_variables)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    static const double w[3] = {0.5, 0.3, 0.2};
    static const double mu[6] = {-1.0, 0.5, 1.5, 1.0, 0.0, -1.5};
    static const double var[6] = {0.3, 0.2, 0.1, 0.4, 0.25, 0.15};
    double mu_d[6], var_d[6];
    for (int k = 0; k < 6; k++) {
        mu_d[k] = SHIFT[k % 2] + SCALE[k % 2] * mu[k];
        var_d[k] = SCALE[k % 2] * SCALE[k % 2] * var[k];
    }
    scoresde_model *m = NULL, *d = NULL;
    ck_assert_int_eq(scoresde_model_create_gmm(&m, sde, 3, 2, w, mu, var), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_create_gmm(&d, sde, 3, 2, w, mu_d, var_d), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_set_transform(m, SHIFT, SCALE), SCORESDE_OK);
    enum { N = 50 };
    double *x = test_normals(9, 2 * N, 1.0), t[N] = {0}, lp_m[N], lp_d[N], ld;
    ck_assert_int_eq(scoresde_model_to_data(m, x, N), SCORESDE_OK); /* data-unit points */
    ck_assert_int_eq(scoresde_model_log_density(d, x, t, N, 2, lp_d), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_from_data(m, x, N), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_log_density(m, x, t, N, 2, lp_m), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_transform_log_det(m, &ld), SCORESDE_OK);
    for (int i = 0; i < N; i++)
        ck_assert_double_eq_tol(lp_m[i] - ld, lp_d[i], 1e-10 * (1 + fabs(lp_d[i])));
    free(x);
    scoresde_model_free(m);
    scoresde_model_free(d);
    scoresde_sde_free(sde);
}
END_TEST

START_TEST(refusals)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = test_mixture(sde);
    ck_assert_int_eq(scoresde_model_set_transform(NULL, SHIFT, SCALE), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_model_set_transform(m, SHIFT, SCALE), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_set_transform(m, NULL, SCALE), SCORESDE_EINVAL);
    ck_assert(test_contains(scoresde_last_error(), "shift is NULL but scale is not"));
    ck_assert_int_eq(scoresde_model_set_transform(m, SHIFT, NULL), SCORESDE_EINVAL);
    ck_assert(test_contains(scoresde_last_error(), "scale is NULL but shift is not"));
    const double bad_scales[][2] = {{1, 0}, {1, -1}, {1, INFINITY}, {1, NAN}, {1, -0.0}};
    for (size_t k = 0; k < sizeof bad_scales / sizeof bad_scales[0]; k++) {
        ck_assert_int_eq(scoresde_model_set_transform(m, SHIFT, bad_scales[k]), SCORESDE_EINVAL);
        ck_assert(test_contains(scoresde_last_error(), "scale[1] = "));
        ck_assert(test_contains(scoresde_last_error(), "finite and positive"));
    }
    const double bad_shift[2] = {0, NAN}, inf_shift[2] = {-INFINITY, 0};
    ck_assert_int_eq(scoresde_model_set_transform(m, bad_shift, SCALE), SCORESDE_EINVAL);
    ck_assert(test_contains(scoresde_last_error(), "shift[1] = nan"));
    ck_assert_int_eq(scoresde_model_set_transform(m, inf_shift, SCALE), SCORESDE_EINVAL);
    ck_assert(test_contains(scoresde_last_error(), "shift[0] = -inf"));
    assert_transform(m, SHIFT, SCALE); /* refusals change nothing */
    double x[2] = {0, 0}, ld, s[2];
    ck_assert_int_eq(scoresde_model_to_data(NULL, x, 1), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_model_to_data(m, NULL, 1), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_model_from_data(NULL, x, 1), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_model_from_data(m, NULL, 2), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_model_transform_log_det(NULL, &ld), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_model_transform_log_det(m, NULL), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_model_get_transform(NULL, s, s), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_model_has_transform(NULL), 0);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

static int forward_score(const double *x, const double *t, size_t n, size_t D, double *out, void *user)
{
    (void)t;
    (void)user;
    for (size_t i = 0; i < n * D; i++)
        out[i] = -x[i];
    return 0;
}

/* Every kind holds one, clone copies it, and evaluation ignores it. */
START_TEST(every_kind_and_clone)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *kinds[3] = {test_mixture(sde), NULL, NULL};
    ck_assert_int_eq(scoresde_model_create_score_fn(&kinds[1], sde, 2, forward_score, NULL, NULL), SCORESDE_OK);
    const size_t widths[1] = {8};
    scoresde_mlp_options o;
    test_mlp_options(&o, 1, widths, SCORESDE_MLP_OUTPUT_NOISE, 4, 3);
    ck_assert_int_eq(scoresde_model_create_mlp(&kinds[2], sde, 2, &o), SCORESDE_OK);
    double x[6] = {1, -2, 0.5, 0.25, 3, 0}, t[3] = {0.1, 0.5, 0.9};
    for (int k = 0; k < 3; k++) {
        scoresde_model *m = kinds[k];
        double before[6], after[6];
        ck_assert_int_eq(scoresde_model_score(m, x, t, 3, 2, before), SCORESDE_OK);
        ck_assert_int_eq(scoresde_model_set_transform(m, SHIFT, SCALE), SCORESDE_OK);
        ck_assert_int_eq(scoresde_model_score(m, x, t, 3, 2, after), SCORESDE_OK);
        ck_assert_mem_eq(before, after, sizeof before);
        scoresde_model *c = NULL, *cc = NULL;
        ck_assert_int_eq(scoresde_model_clone(&c, m), SCORESDE_OK);
        assert_transform(c, SHIFT, SCALE);
        ck_assert_int_eq(scoresde_model_set_transform(c, NULL, NULL), SCORESDE_OK);
        assert_transform(m, SHIFT, SCALE); /* the copy is the clone's own */
        ck_assert_int_eq(scoresde_model_clone(&cc, c), SCORESDE_OK);
        ck_assert_int_eq(scoresde_model_has_transform(cc), 0);
        scoresde_model_free(cc);
        scoresde_model_free(c);
        scoresde_model_free(m);
    }
    scoresde_sde_free(sde);
}
END_TEST

/* ------------------------------------------------------------------ files */

/* The offset of the XFRM section header in a file, or 0. */
static size_t find_xfrm(const uint8_t *file, size_t size)
{
    for (size_t i = 32; i + 4 <= size; i++)
        if (memcmp(file + i, "XFRM", 4) == 0)
            return i;
    return 0;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_f64(uint8_t *p, double v)
{
    uint64_t b;
    memcpy(&b, &v, 8);
    put_u64(p, b);
}

START_TEST(files_round_trip)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VE);
    scoresde_model *m = test_mixture(sde);
    size_t plain_size, size;
    uint8_t *plain = test_save_copy(m, &plain_size);
    ck_assert_uint_eq(find_xfrm(plain, plain_size), 0); /* no transform: no section */
    ck_assert_int_eq(scoresde_model_set_transform(m, SHIFT, SCALE), SCORESDE_OK);
    uint8_t *file = test_save_copy(m, &size);
    ck_assert_uint_eq(size, plain_size + 16 + 8 + 32);
    size_t at = find_xfrm(file, size);
    ck_assert_uint_eq(at, plain_size - 4); /* the last section */
    ck_assert_uint_eq(file[at + 4], 1);    /* REQUIRED */
    ck_assert_uint_eq(file[8], 2);         /* format 1.2 */
    scoresde_model *back = NULL;
    ck_assert_int_eq(scoresde_model_load_buffer(&back, file, size), SCORESDE_OK);
    assert_transform(back, SHIFT, SCALE);
    size_t size2;
    uint8_t *again = test_save_copy(back, &size2);
    ck_assert_uint_eq(size2, size);
    ck_assert_mem_eq(again, file, size);
    free(again);
    scoresde_model_free(back);

    /* the same through a file */
    char path[] = "/tmp/test_transform_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(scoresde_model_save(m, path), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_load(&back, path), SCORESDE_OK);
    assert_transform(back, SHIFT, SCALE);
    scoresde_model_free(back);
    unlink(path);

    test_assert_every_truncation_rejected(file, size);
    test_assert_every_byte_change_rejected(file, size);

    /* old files (1.0 and 1.1 headers, no XFRM) load with no transform */
    for (uint8_t minor = 0; minor < 2; minor++) {
        plain[8] = minor;
        test_reseal(plain, plain_size);
        ck_assert_int_eq(scoresde_model_load_buffer(&back, plain, plain_size), SCORESDE_OK);
        ck_assert_int_eq(scoresde_model_has_transform(back), 0);
        scoresde_model_free(back);
    }
    free(plain);
    free(file);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* A file whose XFRM holds values a transform cannot: each refused with
 * ECORRUPT naming the field. */
START_TEST(forged_values_refused)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = test_mixture(sde);
    ck_assert_int_eq(scoresde_model_set_transform(m, SHIFT, SCALE), SCORESDE_OK);
    size_t size;
    uint8_t *file = test_save_copy(m, &size);
    const size_t pay = find_xfrm(file, size) + 16;
    struct {
        size_t offset; /* within the payload */
        double value;
        const char *message;
    } cases[] = {
        {8, NAN, "shift[0] (nan) is invalid (a shift must be finite)"},
        {16, INFINITY, "shift[1] (inf) is invalid"},
        {24, 0.0, "scale[0] (0) is invalid (a scale must be finite and positive)"},
        {32, -2.0, "scale[1] (-2) is invalid"},
        {32, NAN, "scale[1] (nan) is invalid"},
    };
    scoresde_model *back = NULL;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        uint8_t *d = malloc(size);
        memcpy(d, file, size);
        put_f64(d + pay + cases[k].offset, cases[k].value);
        test_reseal(d, size);
        ck_assert_int_eq(scoresde_model_load_buffer(&back, d, size), SCORESDE_ECORRUPT);
        ck_assert_msg(test_contains(scoresde_last_error(), cases[k].message), "%s", scoresde_last_error());
        ck_assert_ptr_null(back);
        free(d);
    }
    /* another dimension */
    uint8_t *d = malloc(size + 8);
    memcpy(d, file, size);
    put_u64(d + pay, 3);
    test_reseal(d, size);
    ck_assert_int_eq(scoresde_model_load_buffer(&back, d, size), SCORESDE_ECORRUPT);
    ck_assert(test_contains(scoresde_last_error(), "the data transform has dimension 3, the model 2"));
    /* a payload 8 bytes short, or 8 bytes long (the section is the last) */
    for (int longer = 0; longer < 2; longer++) {
        size_t n = longer ? size + 8 : size - 8;
        memcpy(d, file, size - 4);
        if (longer)
            memset(d + size - 4, 0, 8);
        put_u64(d + pay - 8, 8 + 32 + (longer ? 8 : -8)); /* the section's length */
        put_u64(d + 16, n);                               /* the file's size */
        test_reseal(d, n);
        ck_assert_int_eq(scoresde_model_load_buffer(&back, d, n), SCORESDE_ECORRUPT);
        ck_assert_ptr_null(back);
    }
    free(d);
    free(file);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* ---------------------------------------------------- training carries it */

typedef struct {
    scoresde_sde *sde;
    scoresde_model *model;
    scoresde_loss *loss;
    scoresde_trainer *tr;
} run;

static void run_open(run *r)
{
    r->sde = test_make_sde(SCORESDE_SDE_VP);
    const size_t widths[1] = {8};
    scoresde_mlp_options o;
    test_mlp_options(&o, 1, widths, SCORESDE_MLP_OUTPUT_NOISE, 4, 3);
    ck_assert_int_eq(scoresde_model_create_mlp(&r->model, r->sde, 2, &o), SCORESDE_OK);
    ck_assert_int_eq(scoresde_loss_create(&r->loss, SCORESDE_LOSS_DSM), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_create(&r->tr, r->model, r->loss), SCORESDE_OK);
}

static void run_close(run *r)
{
    scoresde_trainer_free(r->tr);
    scoresde_loss_free(r->loss);
    scoresde_model_free(r->model);
    scoresde_sde_free(r->sde);
}

START_TEST(export_and_checkpoints)
{
    run a, b;
    run_open(&a);
    run_open(&b);
    ck_assert_int_eq(scoresde_model_set_transform(a.model, SHIFT, SCALE), SCORESDE_OK);
    double x[8] = {1, 2, 3, 4, -1, -2, 0.5, 0.25};
    ck_assert_int_eq(scoresde_trainer_step(a.tr, x, 4, 2, NULL), SCORESDE_OK);
    for (int which = SCORESDE_TRAIN_EXPORT_EMA; which <= SCORESDE_TRAIN_EXPORT_RAW; which++) {
        scoresde_model *e = NULL;
        ck_assert_int_eq(scoresde_trainer_export(&e, a.tr, which), SCORESDE_OK);
        assert_transform(e, SHIFT, SCALE);
        scoresde_model_free(e);
    }
    void *data;
    size_t size;
    ck_assert_int_eq(scoresde_trainer_save_buffer(a.tr, &data, &size), SCORESDE_OK);
    ck_assert_uint_ne(find_xfrm(data, size), 0);
    ck_assert_int_eq(scoresde_trainer_load_buffer(b.tr, data, size), SCORESDE_OK);
    assert_transform(b.model, SHIFT, SCALE);
    test_assert_same_params(a.model, b.model);

    /* every truncation refused, leaving the trainer's model untouched */
    const double s2[2] = {7, 8}, c2[2] = {9, 10};
    ck_assert_int_eq(scoresde_model_set_transform(b.model, s2, c2), SCORESDE_OK);
    for (size_t n = 0; n < size; n++) {
        uint8_t *p = malloc(n ? n : 1);
        memcpy(p, data, n);
        ck_assert_int_ne(scoresde_trainer_load_buffer(b.tr, p, n), SCORESDE_OK);
        free(p);
    }
    /* a forged scale */
    uint8_t *f = malloc(size);
    memcpy(f, data, size);
    put_f64(f + find_xfrm(f, size) + 16 + 8 + 16, -1.0);
    test_reseal(f, size);
    ck_assert_int_eq(scoresde_trainer_load_buffer(b.tr, f, size), SCORESDE_ECORRUPT);
    ck_assert(test_contains(scoresde_last_error(), "checkpoint: the data transform's scale[0] (-1) is invalid"));
    assert_transform(b.model, s2, c2);
    free(f);
    scoresde_buffer_free(data);

    /* a checkpoint of a model without a transform (as every older one) clears it */
    ck_assert_int_eq(scoresde_model_set_transform(a.model, NULL, NULL), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_save_buffer(a.tr, &data, &size), SCORESDE_OK);
    ck_assert_uint_eq(find_xfrm(data, size), 0);
    ((uint8_t *)data)[8] = 1; /* a 1.1 header */
    test_reseal(data, size);
    ck_assert_int_eq(scoresde_trainer_load_buffer(b.tr, data, size), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_has_transform(b.model), 0);
    scoresde_buffer_free(data);
    run_close(&a);
    run_close(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("transform");
    TCase *tc = tcase_create("transform");
    tcase_add_test(tc, identity_by_default);
    tcase_add_test(tc, set_apply_and_clear);
    tcase_add_test(tc, density_change_of_variables);
    tcase_add_test(tc, refusals);
    tcase_add_test(tc, every_kind_and_clone);
    tcase_add_test(tc, files_round_trip);
    tcase_add_test(tc, forged_values_refused);
    tcase_add_test(tc, export_and_checkpoints);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
