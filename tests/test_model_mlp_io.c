/*
 * MLP model files: bit-identical round trips for both precisions and every
 * output parameterisation, rejection of every truncation and every
 * single-byte change of a small file, and forged files (valid checksum, bad
 * architecture) refused without large allocations; a training checkpoint
 * handed to the model loader is named as such.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "io.h"
#include "model_internal.h"
#include "testutil.h"

static scoresde_sde *make_sde(int kind)
{
    scoresde_sde *sde = NULL;
    int rc = kind == SCORESDE_SDE_VE    ? scoresde_sde_create_ve(&sde, 0.01, 50.0)
             : kind == SCORESDE_SDE_VP  ? scoresde_sde_create_vp(&sde, 0.1, 20.0)
             : kind == SCORESDE_SDE_EDM ? scoresde_sde_create_edm(&sde, 0.002, 80.0)
                                        : scoresde_sde_create_cosine(&sde, 0.008, 0.9946);
    ck_assert_int_eq(rc, SCORESDE_OK);
    return sde;
}

/* An MLP with non-trivial parameters (not the seed's initialisation, so a
 * loader that re-initialised instead of reading PARM would be caught). */
static scoresde_model *make_mlp(int sde_kind, size_t D, int output, int prec, int act,
                                int embedding, size_t n_hidden, const size_t *widths,
                                size_t embed_dim, uint64_t seed)
{
    scoresde_sde *sde = make_sde(sde_kind);
    scoresde_mlp_options o;
    test_mlp_options(&o, n_hidden, widths, output, embed_dim, seed);
    o.activation = act;
    o.embedding = embedding;
    o.fourier_scale = 3.0 + 1.0 / 3.0;
    o.sigma_data = 0.7;
    o.precision = prec;
    o.chunk_rows = 3;
    o.n_threads = 2;
    scoresde_model *m = NULL;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, sde, D, &o), SCORESDE_OK);
    scoresde_sde_free(sde);
    size_t np = test_num_params(m);
    double *p = malloc(np * sizeof *p);
    ck_assert_int_eq(scoresde_model_get_params(m, p, np), SCORESDE_OK);
    for (size_t i = 0; i < np; i++) {
        p[i] = p[i] * 1.1 + 0.01 * sin(3.7 * (double)i + (double)seed);
        if (prec == SCORESDE_MLP_FLOAT32)
            p[i] = (double)(float)p[i];
    }
    p[0] = -0.0;
    ck_assert_int_eq(scoresde_model_set_params(m, p, np), SCORESDE_OK);
    free(p);
    return m;
}

/* Same parameters bit for bit, same scores and Jacobian products bit for bit. */
static void assert_same_mlp(const scoresde_model *a, const scoresde_model *b)
{
    ck_assert_int_eq(scoresde_model_kind(b), SCORESDE_MODEL_MLP);
    test_assert_same_model(a, b);
}

START_TEST(round_trips_bit_identically)
{
    static const size_t widths[3] = {7, 5, 6};
    static const int sdes[4] = {SCORESDE_SDE_VE, SCORESDE_SDE_VP, SCORESDE_SDE_EDM,
                                SCORESDE_SDE_COSINE};
    static const int embeds[4] = {SCORESDE_MLP_EMBED_AUTO, SCORESDE_MLP_EMBED_SINUSOIDAL,
                                  SCORESDE_MLP_EMBED_FOURIER, SCORESDE_MLP_EMBED_AUTO};
    int cases = 0;
    for (int prec = SCORESDE_MLP_FLOAT64; prec <= SCORESDE_MLP_FLOAT32; prec++) {
        for (int out = SCORESDE_MLP_OUTPUT_SCORE; out <= SCORESDE_MLP_OUTPUT_EDM; out++) {
            /* Vary everything else along with the parameterisation: SDE,
             * activation, embedding, depth (0 hidden layers included). */
            int k = (out + prec) % 4;
            size_t n_hidden = (size_t)((out + 2 * prec) % 4);
            scoresde_model *m =
                make_mlp(sdes[k], 3, out, prec, (out + prec) % 4, embeds[k], n_hidden, widths,
                         out == SCORESDE_MLP_OUTPUT_EDM ? 6 : 4, 1000u + 17u * (uint64_t)out);
            size_t size;
            uint8_t *file = test_save_copy(m, &size);
            scoresde_model *back = NULL;
            ck_assert_int_eq(scoresde_model_load_buffer(&back, file, size), SCORESDE_OK);
            assert_same_mlp(m, back);
            size_t size2;
            uint8_t *again = test_save_copy(back, &size2);
            ck_assert_uint_eq(size2, size);
            ck_assert_mem_eq(again, file, size);
            scoresde_model_free(back);
            scoresde_model_free(m);
            free(file);
            free(again);
            cases++;
        }
    }
    ck_assert_int_eq(cases, 8);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

START_TEST(the_kind_payload_is_as_documented)
{
    /* D = 2, one hidden layer of 3, embed_dim 4 (2 frequencies), float32,
     * DATA output, tanh, Fourier (VE: AUTO resolves to it), seed 1017. */
    static const size_t w[1] = {3};
    scoresde_model *m = make_mlp(SCORESDE_SDE_VE, 2, SCORESDE_MLP_OUTPUT_DATA,
                                 SCORESDE_MLP_FLOAT32, SCORESDE_MLP_TANH,
                                 SCORESDE_MLP_EMBED_AUTO, 1, w, 4, 1017);
    size_t size;
    uint8_t *file = test_save_copy(m, &size);
    /* header 32; MODL 16 + 4 + (8 + 3 "MLP") + 8 = 39; SDE 16 + 8 + 16 = 40. */
    size_t kind = 32 + 39 + 40;
    ck_assert_mem_eq(file + kind, "KIND", 4);
    uint64_t len;
    memcpy(&len, file + kind + 8, 8); /* little-endian host in CI */
    ck_assert_uint_eq(len, 76 + 8 * 1 + 8 * 2);
    const uint8_t *p = file + kind + 16;
    uint64_t u64;
    uint32_t u32;
    double f64;
    memcpy(&u64, p + 0, 8); ck_assert_uint_eq(u64, 2);
    memcpy(&u32, p + 8, 4); ck_assert_uint_eq(u32, SCORESDE_MLP_TANH);
    memcpy(&u32, p + 12, 4); ck_assert_uint_eq(u32, SCORESDE_MLP_OUTPUT_DATA);
    memcpy(&u32, p + 16, 4); ck_assert_uint_eq(u32, SCORESDE_MLP_EMBED_FOURIER);
    memcpy(&u32, p + 20, 4); ck_assert_uint_eq(u32, SCORESDE_MLP_FLOAT32);
    memcpy(&u64, p + 24, 8); ck_assert_uint_eq(u64, 4);
    memcpy(&f64, p + 32, 8); ck_assert(f64 == 3.0 + 1.0 / 3.0);
    memcpy(&f64, p + 40, 8); ck_assert(f64 == 0.7);
    memcpy(&u64, p + 48, 8); ck_assert_uint_eq(u64, 1017);
    memcpy(&u64, p + 56, 8); ck_assert_uint_eq(u64, 3);
    memcpy(&u32, p + 64, 4); ck_assert_uint_eq(u32, 2);
    memcpy(&u64, p + 68, 8); ck_assert_uint_eq(u64, 1);
    memcpy(&u64, p + 76, 8); ck_assert_uint_eq(u64, 3);
    /* The frequencies: 2 pi fourier_scale W_k, W_k the documented normals. */
    double z[2];
    sd_rng_normal(1017, UINT64_C(1) << 32, SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, 0), 2, z);
    for (int k = 0; k < 2; k++) {
        memcpy(&f64, p + 84 + 8 * k, 8);
        ck_assert(f64 == z[k] * (2.0 * M_PI * (3.0 + 1.0 / 3.0)));
    }
    /* PARM: 3 x (2 + 4 + 1) + 2 x (3 + 1) = 29 parameters. */
    const uint8_t *parm = p + len;
    ck_assert_mem_eq(parm, "PARM", 4);
    memcpy(&u64, parm + 16, 8); ck_assert_uint_eq(u64, 29);
    ck_assert_uint_eq((size_t)(parm - file) + 16 + 8 + 29 * 8 + 4, size);
    free(file);
    scoresde_model_free(m);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* The smallest interesting file: D = 1, one hidden layer of 2, 2 features. */
static uint8_t *small_file(size_t *size)
{
    static const size_t w[1] = {2};
    scoresde_model *m =
        make_mlp(SCORESDE_SDE_VP, 1, SCORESDE_MLP_OUTPUT_NOISE, SCORESDE_MLP_FLOAT32,
                 SCORESDE_MLP_SILU, SCORESDE_MLP_EMBED_AUTO, 1, w, 2, 5);
    uint8_t *file = test_save_copy(m, size);
    scoresde_model_free(m);
    return file;
}

START_TEST(every_truncation_is_rejected)
{
    size_t size;
    uint8_t *file = small_file(&size);
    scoresde_model *m = NULL;
    ck_assert_int_eq(scoresde_model_load_buffer(&m, file, size), SCORESDE_OK);
    scoresde_model_free(m);
    test_assert_every_truncation_rejected(file, size);
    free(file);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

START_TEST(every_single_byte_change_is_rejected)
{
    size_t size;
    uint8_t *file = small_file(&size);
    test_assert_every_byte_change_rejected(file, size);
    free(file);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* ------------------------------------------------ forgeries, valid checksum */

typedef struct mlp_forged {
    uint64_t dim, kind_dim;
    uint32_t act, out, embed, prec;
    uint64_t embed_dim;
    double fourier_scale, sigma_data;
    uint64_t seed, chunk_rows;
    uint32_t threads;
    uint64_t n_hidden;
    uint64_t widths[4];
    size_t n_widths_written;
    double freq[4];
    size_t n_freq_written;
    uint64_t parm_count;
    size_t n_params_written;
} mlp_forged;

static uint8_t *forge(const mlp_forged *f, size_t *size)
{
    sd_writer w;
    size_t mark;
    static const double vp[2] = {0.1, 20.0};
    test_forge_begin(&w, SD_FILE_MODEL, SCORESDE_MODEL_MLP, "MLP", f->dim, SCORESDE_SDE_VP, 2, vp,
                     2);
    sd_container_section_begin(&w, SD_TAG_KIND, SD_SECTION_REQUIRED, &mark);
    sd_writer_put_u64(&w, f->kind_dim);
    sd_writer_put_u32(&w, f->act);
    sd_writer_put_u32(&w, f->out);
    sd_writer_put_u32(&w, f->embed);
    sd_writer_put_u32(&w, f->prec);
    sd_writer_put_u64(&w, f->embed_dim);
    sd_writer_put_f64(&w, f->fourier_scale);
    sd_writer_put_f64(&w, f->sigma_data);
    sd_writer_put_u64(&w, f->seed);
    sd_writer_put_u64(&w, f->chunk_rows);
    sd_writer_put_u32(&w, f->threads);
    sd_writer_put_u64(&w, f->n_hidden);
    sd_writer_put_u64_array(&w, f->widths, f->n_widths_written);
    sd_writer_put_f64_array(&w, f->freq, f->n_freq_written);
    sd_container_section_end(&w, mark);
    sd_container_section_begin(&w, SD_TAG_PARAMS, SD_SECTION_REQUIRED, &mark);
    sd_writer_put_u64(&w, f->parm_count);
    for (size_t i = 0; i < f->n_params_written; i++)
        sd_writer_put_f64(&w, 0.25 - 0.01 * (double)i);
    sd_container_section_end(&w, mark);
    ck_assert_int_eq(sd_container_finish(&w), SCORESDE_OK);
    uint8_t *copy = malloc(w.size);
    memcpy(copy, w.data, w.size);
    *size = w.size;
    sd_writer_free(&w);
    return copy;
}

/* Allocation sizes seen while a forged file loads. */
static size_t largest_request;

/* Load a forgery under the watching allocator; the status, and the largest
 * block asked for through *largest. */
static int load_forged(const mlp_forged *f, size_t *largest)
{
    size_t size;
    uint8_t *file = forge(f, &size);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
    ck_assert_int_eq(scoresde_set_allocator(test_watch_malloc, test_watch_free, &largest_request), SCORESDE_OK);
    largest_request = 0;
    scoresde_model *m = NULL;
    int rc = scoresde_model_load_buffer(&m, file, size);
    if (rc == SCORESDE_OK) {
        double x = 0.3, t = 0.5, s;
        ck_assert_int_eq(scoresde_model_score(m, &x, &t, 1, 1, &s), SCORESDE_OK);
    } else {
        ck_assert_ptr_null(m);
    }
    scoresde_model_free(m);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
    ck_assert_int_eq(scoresde_set_allocator(NULL, NULL, NULL), SCORESDE_OK);
    *largest = largest_request;
    free(file);
    return rc;
}

/* A training checkpoint handed to the model loader (buffer or file) is
 * refused with EINVAL and a message that says what it is and what loads it. */
START_TEST(a_checkpoint_is_not_a_model_file)
{
    static const size_t widths[1] = {4};
    scoresde_model *m = make_mlp(SCORESDE_SDE_VP, 2, SCORESDE_MLP_OUTPUT_NOISE,
                                 SCORESDE_MLP_FLOAT64, SCORESDE_MLP_SILU,
                                 SCORESDE_MLP_EMBED_SINUSOIDAL, 1, widths, 4, 5);
    scoresde_loss *loss = NULL;
    scoresde_trainer *tr = NULL;
    ck_assert_int_eq(scoresde_loss_create(&loss, SCORESDE_LOSS_DSM), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_create(&tr, m, loss), SCORESDE_OK);
    void *bytes = NULL;
    size_t size = 0;
    ck_assert_int_eq(scoresde_trainer_save_buffer(tr, &bytes, &size), SCORESDE_OK);
    const char *want = "this is a training checkpoint (file type 2), not a model file; "
                       "load it with scoresde_trainer_load";
    scoresde_model *out = m; /* a failing load clears *out */
    ck_assert_int_eq(scoresde_model_load_buffer(&out, bytes, size), SCORESDE_EINVAL);
    ck_assert_ptr_null(out);
    ck_assert_msg(test_contains(scoresde_last_error(), want), "message: %s", scoresde_last_error());

    char path[] = "/tmp/scoresde-test-ckpt-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(bytes, 1, size, f), size);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(scoresde_model_load(&out, path), SCORESDE_EINVAL);
    ck_assert_ptr_null(out);
    ck_assert_msg(test_contains(scoresde_last_error(), want), "message: %s", scoresde_last_error());
    /* and the trainer itself takes it back */
    ck_assert_int_eq(scoresde_trainer_load(tr, path), SCORESDE_OK);
    ck_assert_int_eq(remove(path), 0);

    scoresde_buffer_free(bytes);
    scoresde_trainer_free(tr);
    scoresde_loss_free(loss);
    scoresde_model_free(m);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

START_TEST(forged_files_are_refused_without_large_allocations)
{
    /* D = 1, one hidden layer of 2, 2 features: 2 x (1 + 2 + 1) + 1 x (2 + 1)
     * = 11 parameters. */
    const mlp_forged good = {.dim = 1, .kind_dim = 1, .act = SCORESDE_MLP_SILU,
                             .out = SCORESDE_MLP_OUTPUT_NOISE,
                             .embed = SCORESDE_MLP_EMBED_SINUSOIDAL,
                             .prec = SCORESDE_MLP_FLOAT64, .embed_dim = 2,
                             .fourier_scale = 16.0, .sigma_data = 0.5, .seed = 3,
                             .chunk_rows = 16, .threads = 1, .n_hidden = 1, .widths = {2},
                             .n_widths_written = 1, .freq = {1.0}, .n_freq_written = 1,
                             .parm_count = 11, .n_params_written = 11};
    size_t big;
    ck_assert_int_eq(load_forged(&good, &big), SCORESDE_OK);
    const size_t small = (size_t)1 << 16; /* no forged file needs more than this */
    mlp_forged f;
    struct {
        const char *what;
        mlp_forged f;
        const char *message;
    } cases[32];
    size_t nc = 0;
#define CASE(field_change, msg)                       \
    do {                                              \
        f = good;                                     \
        field_change;                                 \
        cases[nc].what = #field_change;               \
        cases[nc].f = f;                              \
        cases[nc].message = msg;                      \
        nc++;                                         \
    } while (0)
    CASE(f.widths[0] = 0, "hidden width at offset");
    CASE(f.widths[0] = (uint64_t)1 << 20, "has 5242881 parameters, the file's parameter section 11");
    CASE(f.widths[0] = UINT64_MAX, "hidden width");
    CASE(f.n_hidden = 64, "hidden width"); /* widths missing: short payload */
    CASE(f.n_hidden = 65, "hidden layer count");
    CASE(f.n_hidden = UINT64_MAX, "hidden layer count");
    CASE((f.n_hidden = 4, f.n_widths_written = 4, f.widths[1] = f.widths[2] = f.widths[3] =
                                                      (uint64_t)1 << 20),
         "parameters, the file's parameter section 11");
    CASE(f.parm_count = UINT64_MAX, "parameters: 18446744073709551615 elements");
    CASE((f.widths[0] = 1000, f.parm_count = 4003), "parameters: 4003 elements");
    CASE(f.act = 6, "activation");
    CASE(f.act = UINT32_MAX, "activation");
    CASE(f.out = 4, "output parameterisation");
    CASE(f.embed = SCORESDE_MLP_EMBED_AUTO, "embedding at offset");
    CASE(f.embed = 3, "embedding at offset");
    CASE(f.prec = 2, "precision");
    CASE(f.embed_dim = 3, "embed_dim (3) must be even");
    CASE(f.embed_dim = 0, "embedding dimension");
    CASE(f.embed_dim = UINT64_MAX, "embedding dimension");
    CASE(f.fourier_scale = -1.0, "fourier_scale (-1)");
    CASE(f.sigma_data = NAN, "sigma_data (nan)");
    CASE(f.sigma_data = 0.0, "sigma_data (0)");
    CASE(f.chunk_rows = 0, "chunk_rows");
    CASE(f.chunk_rows = ((uint64_t)1 << 20) + 1, "chunk_rows");
    CASE(f.threads = 0, "thread count");
    CASE(f.threads = 1025, "thread count");
    CASE(f.kind_dim = 2, "dimension (must equal the model's)");
    CASE(f.freq[0] = INFINITY, "frequency 0 (inf) is not finite");
    CASE(f.n_freq_written = 0, "embedding frequencies");
    CASE(f.parm_count = 10, "has 11 parameters, the file's parameter section 10");
#undef CASE
    for (size_t i = 0; i < nc; i++) {
        int rc = load_forged(&cases[i].f, &big);
        ck_assert_msg(rc == SCORESDE_ECORRUPT, "%s: status %d", cases[i].what, rc);
        ck_assert_msg(test_contains(scoresde_last_error(), cases[i].message), "%s: message '%s'",
                      cases[i].what, scoresde_last_error());
        ck_assert_msg(big <= small, "%s: asked for %zu bytes", cases[i].what, big);
    }

    /* A float32 model whose file holds a value float32 cannot represent
     * exactly (0.24): damage, not silently rounded. */
    f = good, f.prec = SCORESDE_MLP_FLOAT32;
    ck_assert_int_eq(load_forged(&f, &big), SCORESDE_ECORRUPT); /* 0.24 is not a float */
    ck_assert(test_contains(scoresde_last_error(), "not representable at the model's precision"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("model_mlp_io");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, round_trips_bit_identically);
    tcase_add_test(tc, the_kind_payload_is_as_documented);
    tcase_add_test(tc, every_truncation_is_rejected);
    tcase_add_test(tc, every_single_byte_change_is_rejected);
    tcase_add_test(tc, forged_files_are_refused_without_large_allocations);
    tcase_add_test(tc, a_checkpoint_is_not_a_model_file);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
