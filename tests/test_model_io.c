/*
 * Model files: round trips, the documented byte layout, and rejection of
 * every truncation, every single-byte change, newer versions and forgeries.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "io.h"
#include "model_file.h"
#include "model_internal.h"
#include "sde_internal.h"
#include "testutil.h"

static scoresde_sde *make_sde(int kind)
{
    scoresde_sde *sde = NULL;
    int rc;
    switch (kind) {
    case SCORESDE_SDE_VE: rc = scoresde_sde_create_ve(&sde, 0.01, 50.0); break;
    case SCORESDE_SDE_VP: rc = scoresde_sde_create_vp(&sde, 0.1, 20.0); break;
    case SCORESDE_SDE_SUBVP: rc = scoresde_sde_create_subvp(&sde, 0.2, 15.0); break;
    case SCORESDE_SDE_COSINE: rc = scoresde_sde_create_cosine(&sde, 0.008, 0.9946); break;
    case SCORESDE_SDE_EDM: rc = scoresde_sde_create_edm(&sde, 0.002, 80.0); break;
    default: rc = scoresde_sde_create_ou(&sde, 0.7, 1.3, 2.5); break;
    }
    ck_assert_int_eq(rc, SCORESDE_OK);
    return sde;
}

/* A mixture with awkward values: thirds, a tiny variance, negative means. */
static scoresde_model *make_gmm(int sde_kind, size_t K, size_t D)
{
    scoresde_sde *sde = make_sde(sde_kind);
    double *w = malloc(K * sizeof *w), *mu = malloc(K * D * sizeof *mu),
           *v = malloc(K * D * sizeof *v);
    for (size_t k = 0; k < K; k++) {
        w[k] = 1.0 / 3.0 + (double)k;
        for (size_t j = 0; j < D; j++) {
            mu[k * D + j] = -1.7 + 0.9 * (double)k - 0.31 * (double)j;
            v[k * D + j] = k == 0 && j == 0 ? 1e-7 : 0.2 + 0.05 * (double)(k + j);
        }
    }
    scoresde_model *m = NULL;
    ck_assert_int_eq(scoresde_model_create_gmm(&m, sde, K, D, w, mu, v), SCORESDE_OK);
    free(w);
    free(mu);
    free(v);
    scoresde_sde_free(sde);
    return m;
}

/* Two models are the same bits: kind, dimension, SDE description, the
 * mixture's arrays, and what score, log-density and sampling return. */
static void assert_same_model(const scoresde_model *a, const scoresde_model *b)
{
    ck_assert_int_eq(scoresde_model_kind(a), scoresde_model_kind(b));
    size_t D = scoresde_model_dim(a);
    ck_assert_uint_eq(scoresde_model_dim(b), D);
    int ka, kb;
    double pa[8], pb[8];
    size_t na, nb;
    ck_assert_int_eq(sd_sde_describe(scoresde_model_sde(a), &ka, pa, &na), SCORESDE_OK);
    ck_assert_int_eq(sd_sde_describe(scoresde_model_sde(b), &kb, pb, &nb), SCORESDE_OK);
    ck_assert_int_eq(ka, kb);
    ck_assert_uint_eq(na, nb);
    ck_assert_mem_eq(pa, pb, na * sizeof(double));
    ck_assert(scoresde_sde_end_time(scoresde_model_sde(a)) == scoresde_sde_end_time(scoresde_model_sde(b)));
    const sd_gmm_state *sa = a->state, *sb = b->state;
    ck_assert_uint_eq(sa->K, sb->K);
    ck_assert_mem_eq(sa->weight, sb->weight, sa->K * sizeof(double));
    ck_assert_mem_eq(sa->log_w, sb->log_w, sa->K * sizeof(double));
    ck_assert_mem_eq(sa->mean, sb->mean, sa->K * D * sizeof(double));
    ck_assert_mem_eq(sa->var, sb->var, sa->K * D * sizeof(double));

    enum { N = 4 };
    double T = scoresde_sde_end_time(scoresde_model_sde(a));
    double t[N] = {0.0, 0.013 * T, 0.5 * T, T};
    double *x = malloc(N * D * sizeof *x), *sa_out = malloc(N * D * sizeof *x),
           *sb_out = malloc(N * D * sizeof *x);
    for (size_t q = 0; q < N * D; q++)
        x[q] = 0.37 * (double)q - 1.1;
    ck_assert_int_eq(scoresde_model_score(a, x, t, N, D, sa_out), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_score(b, x, t, N, D, sb_out), SCORESDE_OK);
    ck_assert_mem_eq(sa_out, sb_out, N * D * sizeof(double));
    double la[N], lb[N];
    ck_assert_int_eq(scoresde_model_log_density(a, x, t, N, D, la), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_log_density(b, x, t, N, D, lb), SCORESDE_OK);
    ck_assert_mem_eq(la, lb, sizeof la);
    ck_assert_int_eq(scoresde_model_sample(a, t, N, D, 42, 7, sa_out), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_sample(b, t, N, D, 42, 7, sb_out), SCORESDE_OK);
    ck_assert_mem_eq(sa_out, sb_out, N * D * sizeof(double));
    free(x);
    free(sa_out);
    free(sb_out);
}

/* A small saved model, copied to plain malloc memory. */
static uint8_t *saved_small(size_t *size)
{
    scoresde_model *m = make_gmm(SCORESDE_SDE_VP, 1, 1);
    uint8_t *copy = test_save_copy(m, size);
    scoresde_model_free(m);
    return copy;
}

/* ------------------------------------------------------------------------ */

START_TEST(gmm_round_trips_bit_identically_for_every_sde)
{
    static const int kinds[] = {SCORESDE_SDE_VE, SCORESDE_SDE_VP, SCORESDE_SDE_SUBVP,
                                SCORESDE_SDE_COSINE, SCORESDE_SDE_EDM, SCORESDE_SDE_OU};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        scoresde_model *m = make_gmm(kinds[i], 3, 4);
        void *data;
        size_t size;
        ck_assert_int_eq(scoresde_model_save_buffer(m, &data, &size), SCORESDE_OK);
        scoresde_model *back = NULL;
        ck_assert_int_eq(scoresde_model_load_buffer(&back, data, size), SCORESDE_OK);
        assert_same_model(m, back);
        /* Saving the loaded model gives the same bytes: nothing drifts. */
        void *again;
        size_t size2;
        ck_assert_int_eq(scoresde_model_save_buffer(back, &again, &size2), SCORESDE_OK);
        ck_assert_uint_eq(size2, size);
        ck_assert_mem_eq(again, data, size);
        scoresde_buffer_free(again);
        scoresde_buffer_free(data);
        scoresde_model_free(back);
        scoresde_model_free(m);
    }
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

START_TEST(file_layout_matches_the_documentation)
{
    /* Build the file by hand from docs/file-format.md's tables and compare
     * with what the library writes, byte for byte. */
    scoresde_model *m = make_gmm(SCORESDE_SDE_VP, 2, 3);
    const sd_gmm_state *s = m->state;
    sd_writer w;
    sd_writer_init(&w);
    static const uint8_t magic[8] = {0x89, 'S', 'D', 'E', 0x0D, 0x0A, 0x1A, 0x0A};
    sd_writer_put_bytes(&w, magic, 8);
    sd_writer_put_u32(&w, 0x00010002u); /* version 1.2 */
    sd_writer_put_u32(&w, 1);           /* model */
    sd_writer_put_u64(&w, 0);           /* file size, patched below */
    sd_writer_put_u32(&w, 3);           /* sections */
    sd_writer_put_u32(&w, 0);
    /* MODL: kind, name, dimension */
    sd_writer_put_bytes(&w, "MODL", 4);
    sd_writer_put_u32(&w, 1);
    sd_writer_put_u64(&w, 4 + 8 + strlen(m->ops->name) + 8);
    sd_writer_put_u32(&w, SCORESDE_MODEL_GMM);
    sd_writer_put_string(&w, m->ops->name, strlen(m->ops->name));
    sd_writer_put_u64(&w, 3);
    /* SDE: kind, count, parameters */
    sd_writer_put_bytes(&w, "SDE ", 4);
    sd_writer_put_u32(&w, 1);
    sd_writer_put_u64(&w, 4 + 4 + 2 * 8);
    sd_writer_put_u32(&w, SCORESDE_SDE_VP);
    sd_writer_put_u32(&w, 2);
    sd_writer_put_f64(&w, 0.1);
    sd_writer_put_f64(&w, 20.0);
    /* KIND: K, D, weights, means, variances */
    sd_writer_put_bytes(&w, "KIND", 4);
    sd_writer_put_u32(&w, 1);
    sd_writer_put_u64(&w, 16 + 8 * (2 + 6 + 6));
    sd_writer_put_u64(&w, 2);
    sd_writer_put_u64(&w, 3);
    sd_writer_put_f64_array(&w, s->weight, 2);
    sd_writer_put_f64_array(&w, s->mean, 6);
    sd_writer_put_f64_array(&w, s->var, 6);
    sd_writer_patch_u64(&w, 16, w.size + 4);
    sd_writer_put_u32(&w, sd_crc32c(0, w.data, w.size));
    ck_assert_int_eq(sd_writer_status(&w), SCORESDE_OK);

    void *data;
    size_t size;
    ck_assert_int_eq(scoresde_model_save_buffer(m, &data, &size), SCORESDE_OK);
    ck_assert_uint_eq(size, w.size);
    ck_assert_mem_eq(data, w.data, size);
    scoresde_buffer_free(data);
    sd_writer_free(&w);
    scoresde_model_free(m);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

START_TEST(save_and_load_through_a_path)
{
    char dir[] = "/tmp/scoresde-test-model-io-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/gmm.sde", dir);
    scoresde_model *m = make_gmm(SCORESDE_SDE_EDM, 2, 2);
    ck_assert_int_eq(scoresde_model_save(m, path), SCORESDE_OK);
    scoresde_model *back = NULL;
    ck_assert_int_eq(scoresde_model_load(&back, path), SCORESDE_OK);
    assert_same_model(m, back);
    scoresde_model_free(back);

    /* Replacing the file with a different model. */
    scoresde_model *m2 = make_gmm(SCORESDE_SDE_OU, 1, 2);
    ck_assert_int_eq(scoresde_model_save(m2, path), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_load(&back, path), SCORESDE_OK);
    assert_same_model(m2, back);
    scoresde_model_free(back);

    /* A damaged file: the message names the path and the damage. */
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, 60, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 60, SEEK_SET);
    fputc(c ^ 0x10, f);
    fclose(f);
    back = (scoresde_model *)m;
    ck_assert_int_eq(scoresde_model_load(&back, path), SCORESDE_ECORRUPT);
    ck_assert_ptr_null(back);
    ck_assert(test_contains(scoresde_last_error(), path));
    ck_assert(test_contains(scoresde_last_error(), "checksum mismatch"));

    /* Errors of the file system. */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/none/gmm.sde", dir);
    ck_assert_int_eq(scoresde_model_save(m, missing), SCORESDE_EIO);
    ck_assert(test_contains(scoresde_last_error(), strerror(ENOENT)));
    ck_assert_int_eq(scoresde_model_load(&back, missing), SCORESDE_EIO);
    ck_assert(test_contains(scoresde_last_error(), missing));
    unlink(path);
    ck_assert_int_eq(rmdir(dir), 0); /* no temporary was left behind */
    scoresde_model_free(m);
    scoresde_model_free(m2);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

START_TEST(every_truncation_is_rejected)
{
    size_t size;
    uint8_t *file = saved_small(&size);
    test_assert_every_truncation_rejected(file, size);
    scoresde_model *m;
    ck_assert_int_eq(scoresde_model_load_buffer(&m, NULL, 0), SCORESDE_ECORRUPT);
    free(file);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

START_TEST(every_single_byte_change_is_rejected)
{
    size_t size;
    uint8_t *file = saved_small(&size);
    test_assert_every_byte_change_rejected(file, size);
    free(file);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

START_TEST(newer_versions_are_refused)
{
    size_t size;
    uint8_t *file = saved_small(&size);
    scoresde_model *m = NULL;

    /* Format version 2.0. */
    file[10] = 2;
    test_reseal(file, size);
    ck_assert_int_eq(scoresde_model_load_buffer(&m, file, size), SCORESDE_EVERSION);
    ck_assert(test_contains(scoresde_last_error(), "format version 2.2"));
    file[10] = 1;

    /* A newer minor version, 1.4, is read. */
    file[8] = 4;
    test_reseal(file, size);
    ck_assert_int_eq(scoresde_model_load_buffer(&m, file, size), SCORESDE_OK);
    scoresde_model_free(m);

    /* A required section this library does not know. */
    sd_writer w;
    sd_writer_init(&w);
    sd_writer_put_bytes(&w, file, size - 4);
    size_t mark = w.size;
    sd_writer_put_bytes(&w, "NEWS", 4);
    sd_writer_put_u32(&w, SD_SECTION_REQUIRED);
    sd_writer_put_u64(&w, 1);
    sd_writer_put_u8(&w, 9);
    sd_writer_patch_u32(&w, 24, 4);
    sd_writer_patch_u64(&w, 16, w.size + 4);
    sd_writer_put_u32(&w, sd_crc32c(0, w.data, w.size));
    ck_assert_int_eq(scoresde_model_load_buffer(&m, w.data, w.size), SCORESDE_EVERSION);
    ck_assert(test_contains(scoresde_last_error(), "needs section 'NEWS'"));
    /* The same section without the flag is skipped. */
    w.data[mark + 4] = 0;
    test_reseal(w.data, w.size);
    ck_assert_int_eq(scoresde_model_load_buffer(&m, w.data, w.size), SCORESDE_OK);
    scoresde_model_free(m);
    sd_writer_free(&w);

    /* A model kind from the future. */
    file[8] = 0;
    file[32 + 16] = 99; /* MODL's kind */
    test_reseal(file, size);
    ck_assert_int_eq(scoresde_model_load_buffer(&m, file, size), SCORESDE_EVERSION);
    ck_assert(test_contains(scoresde_last_error(), "kind 99"));
    ck_assert_ptr_null(m);
    free(file);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* A model file written section by section, for forgeries with a valid CRC. */
typedef struct forged {
    uint32_t kind;
    uint64_t dim;
    uint32_t sde_kind, sde_count;
    double sde[3];
    uint64_t K;
    uint64_t kind_dim; /* the KIND section's own D (0: the same as dim) */
    size_t n_values;   /* doubles actually present after K and D */
    double values[8];
    uint32_t file_type;
} forged;

static void forge(const forged *f, sd_writer *w)
{
    size_t mark;
    test_forge_begin(w, f->file_type, f->kind, "forged", f->dim, f->sde_kind, f->sde_count,
                     f->sde, f->sde_count < 3 ? f->sde_count : 3);
    sd_container_section_begin(w, SD_TAG_KIND, SD_SECTION_REQUIRED, &mark);
    sd_writer_put_u64(w, f->K);
    sd_writer_put_u64(w, f->kind_dim != 0 ? f->kind_dim : f->dim);
    sd_writer_put_f64_array(w, f->values, f->n_values);
    sd_container_section_end(w, mark);
    ck_assert_int_eq(sd_container_finish(w), SCORESDE_OK);
}

static int load_forged(const forged *f)
{
    sd_writer w;
    forge(f, &w);
    scoresde_model *m = NULL;
    int rc = scoresde_model_load_buffer(&m, w.data, w.size);
    scoresde_model_free(m);
    sd_writer_free(&w);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
    return rc;
}

START_TEST(forged_files_are_rejected)
{
    /* K = 1, D = 1: weight 1, mean 0.5, variance 2. */
    const forged good = {.kind = SCORESDE_MODEL_GMM, .dim = 1, .sde_kind = SCORESDE_SDE_VP,
                         .sde_count = 2, .sde = {0.1, 20.0}, .K = 1, .n_values = 3,
                         .values = {1.0, 0.5, 2.0}, .file_type = SD_FILE_MODEL};
    ck_assert_int_eq(load_forged(&good), SCORESDE_OK);
    forged f;

    f = good, f.file_type = SD_FILE_CHECKPOINT;
    ck_assert_int_eq(load_forged(&f), SCORESDE_EINVAL);
    ck_assert(test_contains(scoresde_last_error(),
                            "this is a training checkpoint (file type 2), not a model file; "
                            "load it with scoresde_trainer_load"));
    f = good, f.values[2] = -2.0;
    ck_assert_int_eq(load_forged(&f), SCORESDE_ECORRUPT);
    ck_assert(test_contains(scoresde_last_error(), "mixture variance 0 is -2"));
    f = good, f.values[1] = NAN;
    ck_assert_int_eq(load_forged(&f), SCORESDE_ECORRUPT);
    f = good, f.values[0] = 0.5;
    ck_assert_int_eq(load_forged(&f), SCORESDE_ECORRUPT);
    ck_assert(test_contains(scoresde_last_error(), "sum to"));
    f = good, f.K = 0;
    ck_assert_int_eq(load_forged(&f), SCORESDE_ECORRUPT);
    /* Huge counts fail on the size check, before any allocation. */
    f = good, f.K = UINT64_MAX / 2;
    ck_assert_int_eq(load_forged(&f), SCORESDE_ECORRUPT);
    ck_assert(test_contains(scoresde_last_error(), "exceed"));
    f = good, f.dim = UINT64_MAX;
    ck_assert_int_eq(load_forged(&f), SCORESDE_ECORRUPT);
    f = good, f.dim = 0;
    ck_assert_int_eq(load_forged(&f), SCORESDE_ECORRUPT);
    f = good, f.kind_dim = 2; /* the mixture's D disagrees with the model's */
    ck_assert_int_eq(load_forged(&f), SCORESDE_ECORRUPT);
    f = good, f.dim = 2; /* 2 K D values needed, 2 present */
    ck_assert_int_eq(load_forged(&f), SCORESDE_ECORRUPT);
    /* An SDE the creators refuse, a wrong count, a callback kind. */
    f = good, f.sde[1] = 0.01; /* beta_max < beta_min */
    ck_assert_int_eq(load_forged(&f), SCORESDE_ECORRUPT);
    ck_assert(test_contains(scoresde_last_error(), "SDE description"));
    f = good, f.sde_count = 3;
    ck_assert_int_eq(load_forged(&f), SCORESDE_ECORRUPT);
    f = good, f.sde_count = 1000;
    ck_assert_int_eq(load_forged(&f), SCORESDE_ECORRUPT);
    f = good, f.sde_kind = SCORESDE_SDE_CUSTOM;
    ck_assert_int_eq(load_forged(&f), SCORESDE_ECORRUPT);
    f = good, f.kind = SCORESDE_MODEL_SCORE_FN;
    ck_assert_int_eq(load_forged(&f), SCORESDE_ECORRUPT);
    ck_assert(test_contains(scoresde_last_error(), "callback model"));
}
END_TEST

static int dummy_score(const double *x, const double *t, size_t n, size_t D, double *out,
                       void *user)
{
    (void)t;
    (void)user;
    for (size_t q = 0; q < n * D; q++)
        out[q] = -x[q];
    return 0;
}

static int dummy_schedule(const double *t, size_t n, double *alpha, double *sigma, double *da,
                          double *ds, void *user)
{
    (void)user;
    for (size_t i = 0; i < n; i++) {
        alpha[i] = 1.0;
        sigma[i] = t[i];
        da[i] = 0.0;
        ds[i] = 1.0;
    }
    return 0;
}

START_TEST(unsavable_models_and_bad_arguments)
{
    scoresde_sde *sde = make_sde(SCORESDE_SDE_VP);
    scoresde_model *hook;
    ck_assert_int_eq(scoresde_model_create_score_fn(&hook, sde, 2, dummy_score, NULL, NULL),
                     SCORESDE_OK);
    void *data = (void *)sde;
    size_t size = 5;
    ck_assert_int_eq(scoresde_model_save_buffer(hook, &data, &size), SCORESDE_EUNSUPPORTED);
    ck_assert(test_contains(scoresde_last_error(), "cannot be saved"));
    ck_assert_ptr_null(data);
    ck_assert_uint_eq(size, 0);
    ck_assert_int_eq(scoresde_model_save(hook, "/tmp/never-written.sde"), SCORESDE_EUNSUPPORTED);
    ck_assert_int_eq(access("/tmp/never-written.sde", F_OK), -1);
    scoresde_model_free(hook);

    /* A mixture on an SDE given by callbacks cannot be saved either. */
    scoresde_sde *sched;
    ck_assert_int_eq(scoresde_sde_create_schedule(&sched, 1.0, dummy_schedule, NULL),
                     SCORESDE_OK);
    double w = 1, mu = 0, v = 1;
    scoresde_model *g;
    ck_assert_int_eq(scoresde_model_create_gmm(&g, sched, 1, 1, &w, &mu, &v), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_save_buffer(g, &data, &size), SCORESDE_EUNSUPPORTED);
    ck_assert(test_contains(scoresde_last_error(), "callbacks"));
    scoresde_model_free(g);
    scoresde_sde_free(sched);

    scoresde_model *m = make_gmm(SCORESDE_SDE_VP, 1, 1);
    ck_assert_int_eq(scoresde_model_save_buffer(NULL, &data, &size), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_model_save_buffer(m, NULL, &size), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_model_save_buffer(m, &data, NULL), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_model_save(NULL, "/tmp/x"), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_model_save(m, NULL), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_model_save(m, ""), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_model_load(NULL, "/tmp/x"), SCORESDE_EINVAL);
    scoresde_model *out;
    ck_assert_int_eq(scoresde_model_load(&out, NULL), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_model_load_buffer(NULL, &w, 8), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_model_load_buffer(&out, NULL, 8), SCORESDE_EINVAL);
    scoresde_buffer_free(NULL);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* A test-only trainable kind, s(x) = b - x with the D parameters b: its KIND
 * payload is just u64 D (the "architecture"); the values go to PARM. */

typedef struct shift_state {
    size_t D;
    double *b;
} shift_state;

static void shift_free(void *state)
{
    shift_state *s = state;
    if (s != NULL)
        sd_free(s->b);
    sd_free(s);
}

static shift_state *shift_alloc(size_t D)
{
    shift_state *s = sd_calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->D = D;
    s->b = sd_calloc(D, sizeof(double));
    if (s->b == NULL) {
        sd_free(s);
        return NULL;
    }
    return s;
}

static int shift_score(const scoresde_model *m, const double *x, const double *t, size_t n,
                       const sd_cond *cond, double *out)
{
    (void)t;
    const shift_state *s = m->state;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < s->D; j++)
            out[i * s->D + j] = s->b[j] - x[i * s->D + j];
    return SCORESDE_OK;
}

static int shift_clone(const scoresde_model *src, void **out)
{
    const shift_state *s = src->state;
    shift_state *c = shift_alloc(s->D);
    if (c == NULL)
        return SCORESDE_ENOMEM;
    memcpy(c->b, s->b, s->D * sizeof(double));
    *out = c;
    return SCORESDE_OK;
}

static size_t shift_num_params(const scoresde_model *m)
{
    return ((const shift_state *)m->state)->D;
}

static int shift_get(const scoresde_model *m, double *theta)
{
    const shift_state *s = m->state;
    memcpy(theta, s->b, s->D * sizeof(double));
    return SCORESDE_OK;
}

static int shift_set(scoresde_model *m, const double *theta)
{
    shift_state *s = m->state;
    memcpy(s->b, theta, s->D * sizeof(double));
    return SCORESDE_OK;
}

static int shift_save(const scoresde_model *m, struct sd_writer *w)
{
    return sd_writer_put_u64(w, ((const shift_state *)m->state)->D);
}

static int shift_load(scoresde_model *m, struct sd_reader *r, size_t n_params)
{
    (void)n_params; /* read_params checks it against the shift's D */
    uint64_t D;
    SD_TRY(sd_reader_get_u64(r, &D, "shift dimension"));
    if (D != m->dim)
        return sd_fail(SCORESDE_ECORRUPT, "shift dimension %llu, model %zu",
                       (unsigned long long)D, m->dim);
    shift_state *s = shift_alloc(m->dim);
    if (s == NULL)
        return SCORESDE_ENOMEM;
    m->state = s;
    return SCORESDE_OK;
}

static const sd_model_ops shift_ops = {
    .name = "test-shift",
    .kind = 77,
    .score = shift_score,
    .clone_state = shift_clone,
    .free_state = shift_free,
    .save_state = shift_save,
    .load_state = shift_load,
    .num_params = shift_num_params,
    .get_params = shift_get,
    .set_params = shift_set,
};

static const sd_model_ops *const test_kinds[] = {&sd_model_gmm_ops, &shift_ops};

static scoresde_model *make_shift(size_t D)
{
    scoresde_sde *sde = make_sde(SCORESDE_SDE_VE);
    scoresde_model *m = NULL;
    ck_assert_int_eq(sd_model_create(&m, &shift_ops, sde, D, shift_alloc(D)), SCORESDE_OK);
    scoresde_sde_free(sde);
    double *theta = malloc(D * sizeof *theta);
    for (size_t j = 0; j < D; j++)
        theta[j] = j == 0 ? -0.0 : 1.0 / (3.0 + (double)j) - 0.25;
    ck_assert_int_eq(scoresde_model_set_params(m, theta, D), SCORESDE_OK);
    free(theta);
    return m;
}

static int load_kinds(const uint8_t *data, size_t size, scoresde_model **out)
{
    return sd_model_load_buffer_kinds(out, data, size, test_kinds, 2);
}

START_TEST(trainable_kinds_store_parameters)
{
    scoresde_model *m = make_shift(3);
    void *data;
    size_t size;
    ck_assert_int_eq(scoresde_model_save_buffer(m, &data, &size), SCORESDE_OK);
    uint8_t *file = malloc(size);
    memcpy(file, data, size);
    scoresde_buffer_free(data);
    /* MODL 16+4+18+8, SDE 16+8+16, KIND 16+8, then PARM: u64 3, 3 f64. */
    size_t parm = 32 + 46 + 40 + 24;
    ck_assert_mem_eq(file + parm, "PARM", 4);
    ck_assert_uint_eq(parm + 16 + 8 + 24 + 4, size);

    scoresde_model *back = NULL;
    ck_assert_int_eq(load_kinds(file, size, &back), SCORESDE_OK);
    double a[3], b[3];
    ck_assert_int_eq(scoresde_model_get_params(m, a, 3), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_get_params(back, b, 3), SCORESDE_OK);
    ck_assert_mem_eq(a, b, sizeof a); /* -0.0 included */
    double x[3] = {0.5, -1, 2}, t = 0.5, sa[3], sb[3];
    ck_assert_int_eq(scoresde_model_score(m, x, &t, 1, 3, sa), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_score(back, x, &t, 1, 3, sb), SCORESDE_OK);
    ck_assert_mem_eq(sa, sb, sizeof sa);
    scoresde_model_free(back);
    /* The library's own table does not know this kind: a newer file. */
    ck_assert_int_eq(scoresde_model_load_buffer(&back, file, size), SCORESDE_EVERSION);
    ck_assert(test_contains(scoresde_last_error(), "kind 77 ('test-shift')"));

    /* Every truncation and every single-byte change of this file fails too. */
    for (size_t len = 0; len < size; len++) {
        uint8_t *copy = malloc(len > 0 ? len : 1);
        memcpy(copy, file, len);
        ck_assert_int_eq(load_kinds(copy, len, &back), SCORESDE_ECORRUPT);
        free(copy);
    }
    for (size_t pos = 0; pos < size; pos++) {
        for (unsigned v = 1; v < 256; v += 2) { /* every odd xor: bit 0 always flips */
            file[pos] ^= (uint8_t)v;
            int rc = load_kinds(file, size, &back);
            ck_assert_msg(rc == SCORESDE_ECORRUPT ||
                              (rc == SCORESDE_EVERSION && (pos == 10 || pos == 11)),
                          "byte %zu ^ %u: %d", pos, v, rc);
            file[pos] ^= (uint8_t)v;
        }
    }

    /* Forgeries with a valid checksum: a wrong count, a NaN, no PARM. */
    file[parm + 16] = 2;
    test_reseal(file, size);
    ck_assert_int_eq(load_kinds(file, size, &back), SCORESDE_ECORRUPT);
    ck_assert(test_contains(scoresde_last_error(), "2 parameters, the model described needs 3"));
    /* A count beyond the section's bytes fails before the kind is built. */
    file[parm + 16] = 4;
    test_reseal(file, size);
    ck_assert_int_eq(load_kinds(file, size, &back), SCORESDE_ECORRUPT);
    ck_assert(test_contains(scoresde_last_error(), "parameters: 4 elements of 8 bytes exceed"));
    file[parm + 16] = 3;
    double nan = NAN;
    uint64_t bits;
    memcpy(&bits, &nan, 8);
    for (int i = 0; i < 8; i++)
        file[parm + 24 + 8 + i] = (uint8_t)(bits >> (8 * i));
    test_reseal(file, size);
    ck_assert_int_eq(load_kinds(file, size, &back), SCORESDE_ECORRUPT);
    ck_assert(test_contains(scoresde_last_error(), "parameter 1"));
    /* Drop PARM: 3 sections, file ends after KIND. */
    size_t cut = parm + 4;
    file[24] = 3;
    for (int i = 0; i < 8; i++)
        file[16 + i] = (uint8_t)((uint64_t)cut >> (8 * i));
    test_reseal(file, cut);
    ck_assert_int_eq(load_kinds(file, cut, &back), SCORESDE_ECORRUPT);
    ck_assert(test_contains(scoresde_last_error(), "no parameter section"));
    ck_assert_ptr_null(back);
    free(file);

    /* A mixture file carrying a PARM section is damaged. */
    size_t gsize;
    uint8_t *g = saved_small(&gsize);
    sd_writer w;
    sd_writer_init(&w);
    sd_writer_put_bytes(&w, g, gsize - 4);
    sd_writer_put_bytes(&w, "PARM", 4);
    sd_writer_put_u32(&w, SD_SECTION_REQUIRED);
    sd_writer_put_u64(&w, 8);
    sd_writer_put_u64(&w, 0);
    sd_writer_patch_u32(&w, 24, 4);
    sd_writer_patch_u64(&w, 16, w.size + 4);
    sd_writer_put_u32(&w, sd_crc32c(0, w.data, w.size));
    ck_assert_int_eq(load_kinds(w.data, w.size, &back), SCORESDE_ECORRUPT);
    ck_assert(test_contains(scoresde_last_error(), "has parameters"));
    sd_writer_free(&w);
    free(g);
    scoresde_model_free(m);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

static size_t alloc_budget;

START_TEST(allocation_failures_leak_nothing)
{
    /* Every allocation of a save and of a load fails in turn: the call
     * reports ENOMEM and frees everything it had. */
    ck_assert_int_eq(
        scoresde_set_allocator(test_budget_malloc, test_budget_free, &alloc_budget),
        SCORESDE_OK);
    alloc_budget = SIZE_MAX;
    scoresde_model *m = make_gmm(SCORESDE_SDE_VE, 2, 3);
    void *data;
    size_t size;
    ck_assert_int_eq(scoresde_model_save_buffer(m, &data, &size), SCORESDE_OK);
    size_t live = scoresde_live_allocations();
    int saves_ok = 0, loads_ok = 0;
    for (size_t budget = 0; budget < 40; budget++) {
        void *d2;
        size_t s2;
        alloc_budget = budget;
        int rc = scoresde_model_save_buffer(m, &d2, &s2);
        ck_assert(rc == SCORESDE_OK || rc == SCORESDE_ENOMEM);
        if (rc == SCORESDE_OK) {
            saves_ok++;
            scoresde_buffer_free(d2);
        }
        ck_assert_uint_eq(scoresde_live_allocations(), live);
        scoresde_model *back = NULL;
        alloc_budget = budget;
        rc = scoresde_model_load_buffer(&back, data, size);
        ck_assert(rc == SCORESDE_OK || rc == SCORESDE_ENOMEM);
        if (rc == SCORESDE_OK) {
            loads_ok++;
            scoresde_model_free(back);
        }
        ck_assert_uint_eq(scoresde_live_allocations(), live);
    }
    /* Small budgets fail, large ones succeed: both paths were exercised. */
    ck_assert_int_gt(saves_ok, 0);
    ck_assert_int_lt(saves_ok, 40);
    ck_assert_int_gt(loads_ok, 0);
    ck_assert_int_lt(loads_ok, 40);
    scoresde_buffer_free(data);
    scoresde_model_free(m);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
    ck_assert_int_eq(scoresde_set_allocator(NULL, NULL, NULL), SCORESDE_OK);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("model_io");
    TCase *tc = tcase_create("model_io");
    tcase_add_test(tc, gmm_round_trips_bit_identically_for_every_sde);
    tcase_add_test(tc, file_layout_matches_the_documentation);
    tcase_add_test(tc, save_and_load_through_a_path);
    tcase_add_test(tc, every_truncation_is_rejected);
    tcase_add_test(tc, every_single_byte_change_is_rejected);
    tcase_add_test(tc, newer_versions_are_refused);
    tcase_add_test(tc, forged_files_are_rejected);
    tcase_add_test(tc, unsavable_models_and_bad_arguments);
    tcase_add_test(tc, trainable_kinds_store_parameters);
    tcase_add_test(tc, allocation_failures_leak_nothing);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
