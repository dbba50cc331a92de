/*
 * Regression tests of the hardening findings (issue 17): each test fails on
 * the library before its fix. This program runs under OMP_THREAD_LIMIT=2
 * (tests/meson.build), the condition of the thread finding: BLIS aborts when
 * its region gets more than one thread but fewer than it asked for.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/scoresde_hardening_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void tmp_path(char *path, size_t size, const char *name)
{
    snprintf(path, size, "%s/%s", tmpdir, name);
}

/* An MLP model of two hidden layers `width` wide asking for `threads`
 * threads. */
static scoresde_model *small_mlp(const scoresde_sde *sde, size_t D, size_t width, int threads)
{
    const size_t widths[2] = {width, width};
    scoresde_mlp_options o;
    test_mlp_options(&o, 2, widths, SCORESDE_MLP_OUTPUT_NOISE, 16, 7);
    o.n_threads = threads;
    scoresde_model *m = NULL;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, sde, D, &o), SCORESDE_OK);
    return m;
}

/* Finding 1: an MLP (created, or loaded from a file) asking for more threads
 * than OMP_THREAD_LIMIT grants made BLIS abort the process ("A different
 * number of threads was created than was requested"). The count is now a
 * request, cut to what the runtime grants: asking 11 under a limit of 2 gives
 * the bits of asking 2. */
START_TEST(mlp_threads_above_the_runtime_limit)
{
    enum { N = 1024, D = 3 };
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *two = small_mlp(sde, D, 256, 2), *many = small_mlp(sde, D, 256, 11);
    double *x = test_normals(1, N * D, 1.0), t[N], a[N * D], b[N * D];
    for (size_t i = 0; i < N; i++)
        t[i] = 0.1 + 0.8 * (double)i / N;
    ck_assert_int_eq(scoresde_model_score(two, x, t, N, D, a), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_score(many, x, t, N, D, b), SCORESDE_OK);
    ck_assert_mem_eq(a, b, sizeof a);

    /* The same request read from a model file. */
    make_tmpdir();
    char path[300];
    tmp_path(path, sizeof path, "threads.sde");
    ck_assert_int_eq(scoresde_model_save(many, path), SCORESDE_OK);
    scoresde_model *loaded = NULL;
    ck_assert_int_eq(scoresde_model_load(&loaded, path), SCORESDE_OK);
    memset(b, 0, sizeof b);
    ck_assert_int_eq(scoresde_model_score(loaded, x, t, N, D, b), SCORESDE_OK);
    ck_assert_mem_eq(a, b, sizeof a);
    unlink(path);
    rmdir(tmpdir);
    scoresde_model_free(loaded);
    scoresde_model_free(many);
    scoresde_model_free(two);
    scoresde_sde_free(sde);
    free(x);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* Finding 6: loading /dev/zero read it into a doubling buffer up to the
 * 2^40-byte limit, and a FIFO without a writer blocked in open(). Both are
 * refused at once, with the kind of file named. */
START_TEST(loading_a_file_that_is_not_regular)
{
    scoresde_model *m = (scoresde_model *)1;
    ck_assert_int_eq(scoresde_model_load(&m, "/dev/zero"), SCORESDE_EIO);
    ck_assert_ptr_null(m);
    ck_assert(test_contains(scoresde_last_error(), "/dev/zero"));
    ck_assert(test_contains(scoresde_last_error(), "a device, not a regular file"));

    make_tmpdir();
    char fifo[300];
    tmp_path(fifo, sizeof fifo, "fifo");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(scoresde_model_load(&m, fifo), SCORESDE_EIO);
    ck_assert(test_contains(scoresde_last_error(), "a pipe, not a regular file"));

    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *net = small_mlp(sde, 2, 16, 1);
    scoresde_loss *loss = NULL;
    ck_assert_int_eq(scoresde_loss_create(&loss, SCORESDE_LOSS_DSM), SCORESDE_OK);
    scoresde_trainer *tr = NULL;
    ck_assert_int_eq(scoresde_trainer_create(&tr, net, loss), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_load(tr, fifo), SCORESDE_EIO);
    ck_assert(test_contains(scoresde_last_error(), "a pipe, not a regular file"));
    ck_assert_int_eq(scoresde_trainer_load(tr, "/dev/zero"), SCORESDE_EIO);
    ck_assert(test_contains(scoresde_last_error(), "a device, not a regular file"));
    scoresde_trainer_free(tr);
    scoresde_loss_free(loss);
    scoresde_model_free(net);
    scoresde_sde_free(sde);
    unlink(fifo);
    rmdir(tmpdir);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* A trainer of a small MLP with the DSM loss, for the optimiser findings. */
typedef struct {
    scoresde_sde *sde;
    scoresde_model *net;
    scoresde_loss *loss;
    scoresde_trainer *tr;
    size_t P;
} small_trainer;

static void trainer_open_precision(small_trainer *t, int precision)
{
    static const size_t widths[1] = {8};
    scoresde_mlp_options o;
    test_mlp_options(&o, 1, widths, SCORESDE_MLP_OUTPUT_NOISE, 4, 3);
    o.precision = precision;
    t->sde = test_make_sde(SCORESDE_SDE_VP);
    ck_assert_int_eq(scoresde_model_create_mlp(&t->net, t->sde, 2, &o), SCORESDE_OK);
    ck_assert_int_eq(scoresde_loss_create(&t->loss, SCORESDE_LOSS_DSM), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_create(&t->tr, t->net, t->loss), SCORESDE_OK);
    t->P = scoresde_trainer_num_params(t->tr);
}

static void trainer_open(small_trainer *t)
{
    trainer_open_precision(t, SCORESDE_MLP_FLOAT64);
}

static void trainer_close(small_trainer *t)
{
    scoresde_trainer_free(t->tr);
    scoresde_loss_free(t->loss);
    scoresde_model_free(t->net);
    scoresde_sde_free(t->sde);
}

/* The trainer's checkpoint as plain malloc memory. */
static uint8_t *checkpoint_copy(const scoresde_trainer *tr, size_t *size)
{
    void *buf = NULL;
    ck_assert_int_eq(scoresde_trainer_save_buffer(tr, &buf, size), SCORESDE_OK);
    uint8_t *copy = malloc(*size);
    memcpy(copy, buf, *size);
    scoresde_buffer_free(buf);
    return copy;
}

/* The offset of section `tag`'s payload in a container (docs/file-format.md:
 * a 32-byte header, then u32 tag, u32 flags, u64 length, payload). */
static size_t section_payload(const uint8_t *data, size_t size, uint32_t tag)
{
    for (size_t off = 32; off + 16 <= size;) {
        uint32_t t;
        uint64_t len;
        memcpy(&t, data + off, 4);
        memcpy(&len, data + off + 8, 8);
        if (t == tag)
            return off + 16;
        off += 16 + (size_t)len;
    }
    ck_abort_msg("section not found");
    return 0;
}

/* Finding 2a: settings inside their bounds (LR 10, WEIGHT_DECAY 1e308,
 * WARMUP 0) made a step overflow: it returned EINVAL "theta[0] is not
 * finite" after the step count, master copy, moments and EMA had become inf.
 * Now the step is refused with ENUMERIC and nothing changes. */
START_TEST(adam_refuses_an_update_that_overflows)
{
    small_trainer t;
    trainer_open(&t);
    const size_t P = t.P;
    ck_assert_int_eq(scoresde_trainer_set_double(t.tr, SCORESDE_TRAIN_LR, 10.0), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_set_double(t.tr, SCORESDE_TRAIN_WEIGHT_DECAY, 1e308),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_set_int(t.tr, SCORESDE_TRAIN_WARMUP, 0), SCORESDE_OK);
    double *grad = test_normals(5, P, 1.0), *before = malloc(P * sizeof(double));
    double *after = malloc(P * sizeof(double)), *ema = malloc(P * sizeof(double));
    size_t size0, size1;
    uint8_t *ckpt0 = checkpoint_copy(t.tr, &size0);
    ck_assert_int_eq(scoresde_model_get_params(t.net, before, P), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_set_grad(t.tr, grad, P), SCORESDE_OK);
    double norm = -1.0;
    ck_assert_int_eq(scoresde_trainer_apply(t.tr, &norm), SCORESDE_ENUMERIC);
    ck_assert(test_contains(scoresde_last_error(), "the update of parameter 0 is not finite"));
    ck_assert_uint_eq(scoresde_trainer_steps(t.tr), 0);
    ck_assert_int_eq(scoresde_model_get_params(t.net, after, P), SCORESDE_OK);
    ck_assert_mem_eq(before, after, P * sizeof(double));
    ck_assert_int_eq(scoresde_trainer_get_ema(t.tr, ema, P), SCORESDE_OK);
    ck_assert_mem_eq(before, ema, P * sizeof(double));
    ck_assert_int_eq(scoresde_trainer_get_grad(t.tr, after, P), SCORESDE_OK);
    ck_assert_mem_eq(grad, after, P * sizeof(double));
    /* The whole state is as it was: the checkpoint is the same bytes, and
     * it loads. */
    uint8_t *ckpt1 = checkpoint_copy(t.tr, &size1);
    ck_assert_uint_eq(size0, size1);
    ck_assert_mem_eq(ckpt0, ckpt1, size0);
    ck_assert_int_eq(scoresde_trainer_load_buffer(t.tr, ckpt1, size1), SCORESDE_OK);
    /* With sane settings the same gradient steps. */
    ck_assert_int_eq(scoresde_trainer_set_double(t.tr, SCORESDE_TRAIN_WEIGHT_DECAY, 0.0),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_set_double(t.tr, SCORESDE_TRAIN_LR, 1e-3), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_apply(t.tr, &norm), SCORESDE_OK);
    ck_assert_uint_eq(scoresde_trainer_steps(t.tr), 1);
    free(ckpt0);
    free(ckpt1);
    free(grad);
    free(before);
    free(after);
    free(ema);
    trainer_close(&t);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* Parameters past float32's range into a float32 MLP: every way in refuses
 * them naming the parameter, and nothing is stored (never inf). The
 * trainer's step used to commit a master value beyond the range (checked
 * finite as a double) and then fail to set the model: steps advanced,
 * model and master copy disagreed. */
START_TEST(float32_parameters_past_the_range_refused)
{
    small_trainer f32, f64;
    trainer_open_precision(&f32, SCORESDE_MLP_FLOAT32);
    trainer_open(&f64);
    const size_t P = f32.P;
    double *before = malloc(P * sizeof(double)), *theta = malloc(P * sizeof(double));
    double *after = malloc(P * sizeof(double));
    ck_assert_int_eq(scoresde_model_get_params(f32.net, before, P), SCORESDE_OK);

    /* set_params: from FLT_MAX + half an ulp (rounds to inf) on; just below
     * it rounds to FLT_MAX and is stored */
    memcpy(theta, before, P * sizeof(double));
    theta[3] = -0x1.ffffffp127;
    test_expect_error(scoresde_model_set_params(f32.net, theta, P), SCORESDE_EINVAL,
                      "params[3] (-3.40282e+38) overflows");
    theta[3] = 1e300;
    test_expect_error(scoresde_model_set_params(f32.net, theta, P), SCORESDE_EINVAL, "params[3]");
    ck_assert_int_eq(scoresde_model_get_params(f32.net, after, P), SCORESDE_OK);
    ck_assert_mem_eq(before, after, P * sizeof(double));
    theta[3] = 0x1.fffffefp127;
    ck_assert_int_eq(scoresde_model_set_params(f32.net, theta, P), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_get_params(f32.net, after, P), SCORESDE_OK);
    ck_assert(after[3] == FLT_MAX);
    ck_assert_int_eq(scoresde_model_set_params(f32.net, before, P), SCORESDE_OK);

    /* a condition parameter of a conditional float32 MLP (the last ones) */
    {
        static const size_t widths[1] = {8};
        scoresde_mlp_options o;
        test_mlp_options(&o, 1, widths, SCORESDE_MLP_OUTPUT_NOISE, 4, 3);
        o.precision = SCORESDE_MLP_FLOAT32;
        o.cond_dim = 2;
        scoresde_model *cm = NULL;
        ck_assert_int_eq(scoresde_model_create_mlp(&cm, f32.sde, 2, &o), SCORESDE_OK);
        size_t Pc = test_num_params(cm);
        double *tc = malloc(Pc * sizeof(double)), *tb = malloc(Pc * sizeof(double));
        ck_assert_int_eq(scoresde_model_get_params(cm, tc, Pc), SCORESDE_OK);
        memcpy(tb, tc, Pc * sizeof(double));
        tc[Pc - 1] = 0x1.ffffffp127;
        test_expect_error(scoresde_model_set_params(cm, tc, Pc), SCORESDE_EINVAL,
                          "a condition parameter, is beyond float32's range");
        ck_assert_int_eq(scoresde_model_get_params(cm, tc, Pc), SCORESDE_OK);
        ck_assert_mem_eq(tb, tc, Pc * sizeof(double));
        free(tc);
        free(tb);
        scoresde_model_free(cm);
    }

    /* copy_params from a float64 model holding 1e39 */
    memcpy(theta, before, P * sizeof(double));
    theta[7] = 1e39;
    ck_assert_int_eq(scoresde_model_set_params(f64.net, theta, P), SCORESDE_OK);
    test_expect_error(scoresde_model_copy_params(f32.net, f64.net), SCORESDE_EINVAL,
                      "params[7] (1e+39) overflows the network's float32 precision");
    ck_assert_int_eq(scoresde_model_get_params(f32.net, after, P), SCORESDE_OK);
    ck_assert_mem_eq(before, after, P * sizeof(double));

    /* a float32 model's file whose PARM value 0 is 1e39 (resealed) */
    size_t size;
    uint8_t *file = test_save_copy(f32.net, &size);
    double big = 1e39;
    memcpy(file + section_payload(file, size, SD_TAG_PARAMS) + 8, &big, sizeof big);
    test_reseal(file, size);
    scoresde_model *loaded = (scoresde_model *)1;
    test_expect_error(scoresde_model_load_buffer(&loaded, file, size), SCORESDE_ECORRUPT,
                      "params[0] (1e+39) overflows");
    ck_assert_ptr_null(loaded);
    free(file);

    /* a checkpoint of the float64 trainer holding 1e39, into the float32 one */
    scoresde_trainer *t64 = NULL;
    ck_assert_int_eq(scoresde_trainer_create(&t64, f64.net, f64.loss), SCORESDE_OK);
    uint8_t *ckpt = checkpoint_copy(t64, &size);
    scoresde_trainer_free(t64);
    test_expect_error(scoresde_trainer_load_buffer(f32.tr, ckpt, size), SCORESDE_ECORRUPT,
                      "cannot step: the update of parameter 7 would not be finite or beyond "
                      "float32's range");
    ck_assert_uint_eq(scoresde_trainer_steps(f32.tr), 0);
    free(ckpt);

    /* a trainer step: weight decay 1e39 (LR 1, no warm-up) takes parameter 5
     * (1) to about -1e39, finite as a double; the others are 0 and stay
     * small. Refused before anything moves. */
    memset(theta, 0, P * sizeof(double));
    theta[5] = 1.0;
    ck_assert_int_eq(scoresde_model_set_params(f32.net, theta, P), SCORESDE_OK);
    scoresde_trainer_free(f32.tr);
    ck_assert_int_eq(scoresde_trainer_create(&f32.tr, f32.net, f32.loss), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_set_double(f32.tr, SCORESDE_TRAIN_LR, 1.0), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_set_double(f32.tr, SCORESDE_TRAIN_WEIGHT_DECAY, 1e39),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_set_int(f32.tr, SCORESDE_TRAIN_WARMUP, 0), SCORESDE_OK);
    double *grad = test_normals(6, P, 1.0);
    ck_assert_int_eq(scoresde_trainer_set_grad(f32.tr, grad, P), SCORESDE_OK);
    test_expect_error(scoresde_trainer_apply(f32.tr, NULL), SCORESDE_ENUMERIC,
                      "the update of parameter 5 is not finite or beyond float32's range");
    ck_assert_uint_eq(scoresde_trainer_steps(f32.tr), 0);
    ck_assert_int_eq(scoresde_model_get_params(f32.net, after, P), SCORESDE_OK);
    ck_assert_mem_eq(theta, after, P * sizeof(double));
    ck_assert_int_eq(scoresde_trainer_get_ema(f32.tr, after, P), SCORESDE_OK);
    ck_assert_mem_eq(theta, after, P * sizeof(double));
    /* the same step into a float64 model is finite, and taken */
    ck_assert_int_eq(scoresde_model_set_params(f64.net, theta, P), SCORESDE_OK);
    scoresde_trainer_free(f64.tr);
    ck_assert_int_eq(scoresde_trainer_create(&f64.tr, f64.net, f64.loss), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_set_double(f64.tr, SCORESDE_TRAIN_LR, 1.0), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_set_double(f64.tr, SCORESDE_TRAIN_WEIGHT_DECAY, 1e39),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_set_int(f64.tr, SCORESDE_TRAIN_WARMUP, 0), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_set_grad(f64.tr, grad, P), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_apply(f64.tr, NULL), SCORESDE_OK);
    ck_assert_uint_eq(scoresde_trainer_steps(f64.tr), 1);
    ck_assert_int_eq(scoresde_model_get_params(f64.net, after, P), SCORESDE_OK);
    ck_assert(after[5] < -1e38);
    free(grad);
    free(before);
    free(theta);
    free(after);
    trainer_close(&f32);
    trainer_close(&f64);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* Finding 2b: a checkpoint whose first moment is finite but huge (5.9e305)
 * was accepted, and its first step then made everything inf. The loader now
 * refuses a state that cannot step, and leaves the trainer as it was. */
START_TEST(checkpoint_with_huge_moments_refused)
{
    small_trainer t;
    trainer_open(&t);
    const size_t P = t.P;
    size_t size;
    uint8_t *ckpt = checkpoint_copy(t.tr, &size);
    /* OPTM: u64 count, then P master values, P first moments, P second
     * moments, P EMA values. */
    size_t m0 = section_payload(ckpt, size, SD_TAG_OPTIMIZER) + 8 + P * sizeof(double);
    const double huge = 5.9e305;
    memcpy(ckpt + m0 + 3 * sizeof(double), &huge, sizeof huge);
    test_reseal(ckpt, size);
    ck_assert_int_eq(scoresde_trainer_load_buffer(t.tr, ckpt, size), SCORESDE_ECORRUPT);
    ck_assert(test_contains(scoresde_last_error(), "cannot step"));
    ck_assert(test_contains(scoresde_last_error(), "parameter 3 "));
    /* A large moment that still steps finitely is accepted. */
    const double large = 1e300;
    memcpy(ckpt + m0 + 3 * sizeof(double), &large, sizeof large);
    memcpy(ckpt + m0 + (P + 3) * sizeof(double), &large, sizeof large);
    test_reseal(ckpt, size);
    ck_assert_int_eq(scoresde_trainer_load_buffer(t.tr, ckpt, size), SCORESDE_OK);
    double *grad = test_normals(6, P, 1.0);
    ck_assert_int_eq(scoresde_trainer_set_grad(t.tr, grad, P), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_apply(t.tr, NULL), SCORESDE_OK);
    free(grad);
    free(ckpt);
    trainer_close(&t);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* Finding 4: perturb with draw = 2^56 - 1 and D = 2 returned OK with z[1]
 * drawn from the PRIOR purpose, and prior_sample wrapped likewise into
 * SIMULATE. Both now refuse draws past 2^56; the last draws that fit work. */
START_TEST(draws_past_a_purpose_refused)
{
    enum { D = 2 };
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    const uint64_t limit = UINT64_C(1) << 56;
    double x0[D] = {0.5, -0.5}, t[1] = {0.5}, xt[D], z[D];
    ck_assert_int_eq(scoresde_sde_perturb(sde, x0, t, 1, D, 1, 0, limit - 1, xt, z),
                     SCORESDE_EINVAL);
    ck_assert(test_contains(scoresde_last_error(), "exceeds the 2^56 draws"));
    ck_assert_int_eq(scoresde_sde_perturb(sde, x0, t, 1, D, 1, 0, limit - D, xt, z),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_sde_prior_sample(sde, 1, D, 1, 0, limit - 1, xt), SCORESDE_EINVAL);
    ck_assert(test_contains(scoresde_last_error(), "exceeds the 2^56 draws"));
    ck_assert_int_eq(scoresde_sde_prior_sample(sde, 1, D, 1, 0, limit - D, xt), SCORESDE_OK);
    scoresde_sde_free(sde);
}
END_TEST

/* Finding 5: parameters valid one by one but whose consequences overflow
 * were accepted (VE (1e-300, 1e300): sigma(0) NaN and an infinite prior
 * variance; VE (1e-310, 1e-300): likelihoods of +-inf; OU theta = 1e308;
 * EDM sigma_max = 1e300; cosine and OU with T below their default eps).
 * Each is refused at creation, naming the parameters. */
START_TEST(sde_parameters_with_impossible_consequences)
{
    scoresde_sde *sde = (scoresde_sde *)1;
    ck_assert_int_eq(scoresde_sde_create_ve(&sde, 1e-300, 1e300), SCORESDE_EINVAL);
    ck_assert_ptr_null(sde);
    ck_assert(test_contains(scoresde_last_error(), "sigma_min = 1e-300, sigma_max = 1e+300"));
    ck_assert(test_contains(scoresde_last_error(), "sigma(0)"));
    ck_assert_int_eq(scoresde_sde_create_ve(&sde, 1e-310, 1e-300), SCORESDE_EINVAL);
    ck_assert(test_contains(scoresde_last_error(), "sigma_min = 1e-310"));
    ck_assert(test_contains(scoresde_last_error(), "sigma^2 must be finite and positive"));
    ck_assert_int_eq(scoresde_sde_create_ou(&sde, 1e308, 1.0, 1.0), SCORESDE_EINVAL);
    ck_assert(test_contains(scoresde_last_error(), "theta = 1e+308"));
    ck_assert_int_eq(scoresde_sde_create_edm(&sde, 0.002, 1e300), SCORESDE_EINVAL);
    ck_assert(test_contains(scoresde_last_error(), "sigma_max = 1e+300"));
    ck_assert_int_eq(scoresde_sde_create_cosine(&sde, 0.008, 1e-12), SCORESDE_EINVAL);
    ck_assert(test_contains(scoresde_last_error(), "not below T (1e-12)"));
    ck_assert_int_eq(scoresde_sde_create_ou(&sde, 1.0, 1.0, 1e-12), SCORESDE_EINVAL);
    ck_assert(test_contains(scoresde_last_error(), "not below T (1e-12)"));
    ck_assert_ptr_null(sde);
    /* Wide but sound parameters still create. */
    ck_assert_int_eq(scoresde_sde_create_ve(&sde, 1e-100, 1e100), SCORESDE_OK);
    scoresde_sde_free(sde);
    ck_assert_int_eq(scoresde_sde_create_ou(&sde, 100.0, 1.0, 2e-3), SCORESDE_OK);
    scoresde_sde_free(sde);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* The shared fixtures of the input walks: the 2-D mixture under VP, its
 * loss and trainer, and an ODE and a PC sampler. */
typedef struct {
    scoresde_sde *sde;
    scoresde_model *gmm;
    small_trainer tr;
    scoresde_loss *loss;
    scoresde_sampler *ode, *pc;
} walk_fixture;

static void walk_open(walk_fixture *w)
{
    w->sde = test_make_sde(SCORESDE_SDE_VP);
    w->gmm = test_mixture(w->sde);
    trainer_open(&w->tr);
    ck_assert_int_eq(scoresde_loss_create(&w->loss, SCORESDE_LOSS_DSM), SCORESDE_OK);
    ck_assert_int_eq(scoresde_sampler_create(&w->ode, SCORESDE_SAMPLER_ODE), SCORESDE_OK);
    ck_assert_int_eq(scoresde_sampler_create(&w->pc, SCORESDE_SAMPLER_PC), SCORESDE_OK);
    ck_assert_int_eq(scoresde_sampler_set_int(w->ode, SCORESDE_SAMPLER_STEPS, 4), SCORESDE_OK);
    ck_assert_int_eq(scoresde_sampler_set_int(w->pc, SCORESDE_SAMPLER_STEPS, 4), SCORESDE_OK);
}

static void walk_close(walk_fixture *w)
{
    scoresde_sampler_free(w->pc);
    scoresde_sampler_free(w->ode);
    scoresde_loss_free(w->loss);
    trainer_close(&w->tr);
    scoresde_model_free(w->gmm);
    scoresde_sde_free(w->sde);
}

/* A score hook for Langevin: the standard normal's. */
static int normal_score(const double *x, const double *t, size_t n, size_t D, double *out,
                        void *user)
{
    (void)t, (void)user;
    for (size_t i = 0; i < n * D; i++)
        out[i] = -x[i];
    return 0;
}

/* Each call of a walk returns EINVAL with a message naming `arg`. */
#define EXPECT_REFUSED(call, arg)                                                         \
    do {                                                                                  \
        ck_assert_msg((call) == SCORESDE_EINVAL, "%s did not return EINVAL", #call);      \
        ck_assert_msg(test_contains(scoresde_last_error(), arg), "%s: message \"%s\"",    \
                      #call, scoresde_last_error());                                      \
        walked++;                                                                         \
    } while (0)

/* Finding 3 (values): every public batch entry point refuses a NaN in any of
 * its input arrays with EINVAL naming the argument and the index, before
 * computing anything. */
START_TEST(nan_inputs_refused_naming_the_argument)
{
    enum { N = 2, D = 2 };
    walk_fixture w;
    walk_open(&w);
    const scoresde_model *m = w.gmm;
    const scoresde_sde *sde = w.sde;
    double x[N * D] = {0.1, -0.2, 0.3, 0.4}, t[N] = {0.5, 0.5}, nan_x[N * D], nan_t[N];
    double out[N * D * 4], out2[N * D * 4];
    unsigned char mask[D] = {1, 0};
    memcpy(nan_x, x, sizeof x);
    memcpy(nan_t, t, sizeof t);
    nan_x[3] = NAN;
    nan_t[1] = NAN;
    size_t P = w.tr.P, walked = 0;
    double *grad = calloc(P, sizeof(double));
    grad[P - 1] = NAN;
    EXPECT_REFUSED(scoresde_model_score(m, nan_x, t, N, D, out), "x[3]");
    EXPECT_REFUSED(scoresde_model_score(m, x, nan_t, N, D, out), "t[1]");
    EXPECT_REFUSED(scoresde_model_predict_data(m, nan_x, t, N, D, out), "x[3]");
    EXPECT_REFUSED(scoresde_model_predict_noise(m, nan_x, t, N, D, out), "x[3]");
    EXPECT_REFUSED(scoresde_model_divergence(m, nan_x, t, N, D, out), "x[3]");
    EXPECT_REFUSED(scoresde_model_jvp(m, x, t, N, D, nan_x, out, out2), "v[3]");
    EXPECT_REFUSED(scoresde_model_hutchinson(m, x, t, N, D, nan_x, 1, out), "probes[3]");
    EXPECT_REFUSED(scoresde_model_log_density(m, nan_x, t, N, D, out), "x[3]");
    EXPECT_REFUSED(scoresde_model_set_params(w.tr.net, grad, P), "theta[");
    EXPECT_REFUSED(scoresde_sde_marginal(sde, nan_t, N, out, out2, NULL, NULL), "t[1]");
    EXPECT_REFUSED(scoresde_sde_diffusion(sde, nan_t, N, out), "t[1]");
    EXPECT_REFUSED(scoresde_sde_drift(sde, nan_x, t, N, D, out), "x[3]");
    EXPECT_REFUSED(scoresde_sde_perturb(sde, nan_x, t, N, D, 1, 0, 0, out, NULL), "x0[3]");
    EXPECT_REFUSED(scoresde_sde_kernel_score(sde, nan_x, x, t, N, D, out), "xt[3]");
    EXPECT_REFUSED(scoresde_sde_kernel_score(sde, x, nan_x, t, N, D, out), "x0[3]");
    EXPECT_REFUSED(scoresde_sde_prior_logp(sde, nan_x, N, D, out), "x[3]");
    EXPECT_REFUSED(scoresde_sde_reverse_drift(sde, x, t, nan_x, N, D, 1.0, out), "score[3]");
    EXPECT_REFUSED(scoresde_sde_simulate(sde, nan_x, N, D, 0.1, 0.5, 4, 1, 0, 0, out), "x0[3]");
    EXPECT_REFUSED(scoresde_sampler_sample(w.ode, m, nan_x, N, D, 1, 0, out, NULL), "x_T[3]");
    EXPECT_REFUSED(scoresde_sampler_encode(w.ode, m, nan_x, N, D, out, NULL), "x0[3]");
    EXPECT_REFUSED(scoresde_sampler_likelihood(w.ode, m, nan_x, N, D, 1, 0, out, NULL, NULL),
                   "x[3]");
    nan_x[3] = 0.0, nan_x[2] = NAN; /* a known (masked) value */
    EXPECT_REFUSED(scoresde_sampler_inpaint(w.pc, m, nan_x, mask, N, D, 1, 0, out, NULL),
                   "y[2]");
    nan_x[2] = 0.3, nan_x[3] = NAN;
    EXPECT_REFUSED(scoresde_sampler_langevin(w.pc, normal_score, NULL, nan_x, N, D, 1, 0, out,
                                             NULL),
                   "x0[3]");
    EXPECT_REFUSED(scoresde_bits_per_dim(nan_t, N, D, 8, 1.0, out), "logp[1]");
    EXPECT_REFUSED(scoresde_loss_eval(w.loss, m, nan_x, N, D, 1, 0, out, NULL, NULL, 0),
                   "x0 row 1");
    EXPECT_REFUSED(scoresde_trainer_set_grad(w.tr.tr, grad, P), "grad[");
    EXPECT_REFUSED(scoresde_trainer_step(w.tr.tr, nan_x, N, D, out), "x0 row 1");
    ck_assert_uint_ge(walked, 15);
    free(grad);
    walk_close(&w);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* Finding 3 (sizes): entry points that checked n x D but not its byte size
 * (or n x D x M) scanned or wrote past the caller's arrays before refusing,
 * and langevin memmove()d a wrapped size. Each now refuses counts whose byte
 * size overflows before touching any element; the arrays here hold a few
 * doubles, so a scan would be caught by ASan or crash. */
START_TEST(impossible_sizes_refused_before_any_access)
{
    enum { D = 2 };
    walk_fixture w;
    walk_open(&w);
    const scoresde_model *m = w.gmm;
    const size_t huge = SIZE_MAX / sizeof(double) + 1; /* fits size_t, its bytes do not */
    const size_t rows = huge / D + 1;                  /* rows x D fits, its bytes do not */
    double *buf = calloc(16, sizeof(double)), t[4] = {0.5, 0.5, 0.5, 0.5};
    unsigned char mask[D] = {1, 0};
    size_t walked = 0;
    EXPECT_REFUSED(scoresde_rng_uniform(1, 0, 0, huge, buf), "overflow");
    EXPECT_REFUSED(scoresde_rng_normal(1, 0, 0, huge, buf), "overflow");
    EXPECT_REFUSED(scoresde_sde_marginal(w.sde, t, huge, buf, NULL, NULL, NULL), "overflow");
    EXPECT_REFUSED(scoresde_sde_diffusion(w.sde, t, huge, buf), "overflow");
    EXPECT_REFUSED(scoresde_model_hutchinson(m, buf, t, 1, D, buf, huge / D + 1, buf),
                   "overflow");
    EXPECT_REFUSED(scoresde_bits_per_dim(buf, huge, D, 8, 1.0, buf), "overflow");
    EXPECT_REFUSED(scoresde_sampler_sample(w.ode, m, buf, rows, D, 1, 0, buf, NULL), "overflow");
    EXPECT_REFUSED(scoresde_sampler_encode(w.ode, m, buf, rows, D, buf, NULL), "overflow");
    EXPECT_REFUSED(scoresde_sampler_likelihood(w.ode, m, buf, rows, D, 1, 0, buf, NULL, NULL),
                   "overflow");
    EXPECT_REFUSED(scoresde_sampler_inpaint(w.pc, m, buf, mask, rows, D, 1, 0, buf + 8, NULL),
                   "overflow");
    EXPECT_REFUSED(scoresde_sampler_langevin(w.pc, normal_score, NULL, buf, rows, D, 1, 0, buf,
                                             NULL),
                   "overflow");
    EXPECT_REFUSED(scoresde_model_score(m, buf, t, rows, D, buf), "overflow");
    EXPECT_REFUSED(scoresde_sde_prior_sample(w.sde, rows, D, 1, 0, 0, buf), "overflow");
    free(buf);
    walk_close(&w);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* An allocator that counts the blocks it gives and the largest size. */
typedef struct {
    size_t blocks, largest;
} alloc_count;

static void *counting_malloc(size_t size, void *user)
{
    alloc_count *c = user;
    c->blocks++;
    if (size > c->largest)
        c->largest = size;
    return malloc(size);
}

static void counting_free(void *ptr, void *user)
{
    (void)user;
    free(ptr);
}

/* Finding 8: the mixture model allocated its marginals (2n doubles) and a
 * workspace on every evaluation, and the predictions' Tweedie step its
 * marginals, so each sampler step allocated, in proportion to n. The
 * workspace is now bounded (chunks of marginals) and kept in a pool, the
 * predictions take their marginals in chunks on the stack: repeated
 * evaluations of a large batch allocate nothing, and no block grows with n. */
START_TEST(mixture_evaluations_allocate_a_bounded_pool)
{
    enum { N = 100000, D = 2 };
    alloc_count c = {0, 0};
    ck_assert_int_eq(scoresde_set_allocator(counting_malloc, counting_free, &c), SCORESDE_OK);
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *gmm = test_mixture(sde);
    double *x = test_normals(9, N * D, 1.0), *t = malloc(N * sizeof(double));
    double *out = malloc(N * D * sizeof(double)), *first = malloc(N * D * sizeof(double));
    for (size_t i = 0; i < N; i++)
        t[i] = 0.01 + 0.98 * (double)(i % 1000) / 1000.0;
    ck_assert_int_eq(scoresde_model_score(gmm, x, t, N, D, first), SCORESDE_OK);
    c.blocks = c.largest = 0;
    for (int rep = 0; rep < 3; rep++) {
        ck_assert_int_eq(scoresde_model_score(gmm, x, t, N, D, out), SCORESDE_OK);
        ck_assert_int_eq(scoresde_model_divergence(gmm, x, t, N, D, out + N), SCORESDE_OK);
        ck_assert_int_eq(scoresde_model_log_density(gmm, x, t, N, D, out + N), SCORESDE_OK);
        ck_assert_int_eq(scoresde_model_predict_data(gmm, x, t, N, D, out), SCORESDE_OK);
        ck_assert_int_eq(scoresde_model_predict_noise(gmm, x, t, N, D, out), SCORESDE_OK);
    }
    ck_assert_uint_eq(c.blocks, 0);
    ck_assert_int_eq(scoresde_model_score(gmm, x, t, N, D, out), SCORESDE_OK);
    ck_assert_mem_eq(out, first, N * D * sizeof(double));
    /* One sample alone scores to the bits it has inside the batch (the
     * chunk boundaries change nothing). */
    double one[D];
    ck_assert_int_eq(scoresde_model_score(gmm, x + 777 * D, t + 777, 1, D, one), SCORESDE_OK);
    ck_assert_mem_eq(one, first + 777 * D, sizeof one);
    ck_assert_uint_lt(c.largest, 64 * 1024);
    scoresde_model_free(gmm);
    scoresde_sde_free(sde);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
    ck_assert_int_eq(scoresde_set_allocator(NULL, NULL, NULL), SCORESDE_OK);
    free(x);
    free(t);
    free(out);
    free(first);
}
END_TEST

/* Hooks for the per-step allocation test: a denoiser that shrinks x, its
 * conditional twin that also shifts by the condition's first feature (null:
 * no shift), and a score hook. */
static int shrink_denoiser(const double *x, const double *t, size_t n, size_t D, double *x0,
                           void *user)
{
    (void)t, (void)user;
    for (size_t k = 0; k < n * D; k++)
        x0[k] = 0.5 * x[k];
    return 0;
}

static int shift_denoiser(const double *x, const double *t, size_t n, size_t D, const double *c,
                          size_t c_stride, const unsigned char *null_mask, double *x0, void *user)
{
    (void)t, (void)user;
    for (size_t i = 0; i < n; i++) {
        int null = c == NULL || (null_mask != NULL && null_mask[i]);
        for (size_t j = 0; j < D; j++)
            x0[i * D + j] = 0.5 * x[i * D + j] + (null ? 0.0 : 0.1 * c[i * c_stride]);
    }
    return 0;
}

static int unit_score(const double *x, const double *t, size_t n, size_t D, double *s, void *user)
{
    (void)t, (void)user;
    for (size_t k = 0; k < n * D; k++)
        s[k] = -x[k];
    return 0;
}

static int shift_score(const double *x, const double *t, size_t n, size_t D, const double *c,
                       size_t c_stride, const unsigned char *null_mask, double *s, void *user)
{
    (void)t, (void)user;
    for (size_t i = 0; i < n; i++) {
        int null = c == NULL || (null_mask != NULL && null_mask[i]);
        for (size_t j = 0; j < D; j++)
            s[i * D + j] = (null ? 0.0 : 0.1 * c[i * c_stride]) - x[i * D + j];
    }
    return 0;
}

/* Blocks one sampler call allocates with `steps` steps (a conditional one,
 * guided by `guidance`, when cond is non-NULL). */
static size_t sampler_call_blocks(alloc_count *count, int method, int steps,
                                  const scoresde_model *m, const scoresde_cond *cond,
                                  double guidance)
{
    enum { N = 300, D = 2 };
    scoresde_sampler *s = NULL;
    ck_assert_int_eq(scoresde_sampler_create(&s, method), SCORESDE_OK);
    ck_assert_int_eq(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, steps), SCORESDE_OK);
    if (method == SCORESDE_SAMPLER_ODE)
        ck_assert_int_eq(
            scoresde_sampler_set_int(s, SCORESDE_SAMPLER_SOLVER, SCORESDE_SAMPLER_SOLVER_HEUN),
            SCORESDE_OK);
    if (guidance != 0.0)
        ck_assert_int_eq(
            scoresde_sampler_set_double(s, SCORESDE_SAMPLER_GUIDANCE_SCALE, guidance),
            SCORESDE_OK);
    double *x = malloc(N * D * sizeof(double));
    count->blocks = 0;
    int rc = cond ? scoresde_sampler_sample_cond(s, m, NULL, N, D, cond, 3, 0, x, NULL)
                  : scoresde_sampler_sample(s, m, NULL, N, D, 3, 0, x, NULL);
    ck_assert_msg(rc == SCORESDE_OK, "%s", scoresde_last_error());
    size_t blocks = count->blocks;
    for (size_t k = 0; k < N * D; k++)
        ck_assert(isfinite(x[k]));
    free(x);
    scoresde_sampler_free(s);
    return blocks;
}

/* Finding 8 for the hook models: the denoiser hook's Tweedie step allocated
 * the marginals of every sample on every evaluation, so sampling with it
 * allocated per step. Now a sampler call with 40 steps allocates exactly the
 * blocks one with 5 steps does, for every method, the score and denoiser
 * hooks, their conditional twins, per-sample conditions and guidance, the
 * linear-Gaussian posterior (which allocated its marginals and scratch per
 * evaluation: now a pool as the mixture's), and (as the guide says) the
 * mixture and an MLP. */
START_TEST(hook_models_allocate_per_call_not_per_step)
{
    enum { N = 300, D = 2 };
    alloc_count c = {0, 0};
    ck_assert_int_eq(scoresde_set_allocator(counting_malloc, counting_free, &c), SCORESDE_OK);
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m[7] = {NULL, NULL, NULL, NULL, test_mixture(sde), small_mlp(sde, D, 8, 1),
                            NULL};
    ck_assert_int_eq(scoresde_model_create_denoiser_fn(&m[0], sde, D, shrink_denoiser, NULL, NULL),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_create_score_fn(&m[1], sde, D, unit_score, NULL, NULL),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_create_cond_denoiser_fn(&m[2], sde, D, 1, 1, shift_denoiser,
                                                             NULL, NULL),
                     SCORESDE_OK);
    ck_assert_int_eq(
        scoresde_model_create_cond_score_fn(&m[3], sde, D, 1, 1, shift_score, NULL, NULL),
        SCORESDE_OK);
    /* the exact linear-Gaussian posterior, y = theta_0 + e (C = 1) */
    const double m0[D] = {0.0, 0.0}, S0[D * D] = {1.0, 0.3, 0.3, 1.0}, A[D] = {1.0, 0.0};
    const double b[1] = {0.0}, Se[1] = {0.5};
    ck_assert_int_eq(scoresde_model_create_linear_gaussian(&m[6], sde, D, 1, m0, S0, A, b, Se),
                     SCORESDE_OK);
    /* hooks without a divergence hook refuse the divergence, allocating nothing */
    {
        double x1[D] = {0.5, -0.5}, t1 = 0.5, div;
        c.blocks = 0;
        test_expect_error(scoresde_model_divergence(m[0], x1, &t1, 1, D, &div),
                          SCORESDE_EUNSUPPORTED, "without a divergence hook");
        test_expect_error(scoresde_model_divergence(m[1], x1, &t1, 1, D, &div),
                          SCORESDE_EUNSUPPORTED, "without a divergence hook");
        ck_assert_uint_eq(c.blocks, 0);
    }
    double y[N];
    unsigned char null_mask[N];
    for (size_t i = 0; i < N; i++) {
        y[i] = (double)(i % 7) - 3.0;
        null_mask[i] = i % 5 == 0;
    }
    scoresde_cond cond = {sizeof cond, 1, y, N, null_mask};
    const int methods[4] = {SCORESDE_SAMPLER_PC, SCORESDE_SAMPLER_ODE, SCORESDE_SAMPLER_EDM,
                            SCORESDE_SAMPLER_DPMPP};
    for (int k = 0; k < 7; k++)
        for (int mi = 0; mi < 4; mi++)
            for (int guided = 0; guided < (k == 2 || k == 3 || k == 6 ? 2 : 1); guided++) {
                const scoresde_cond *cd = k == 2 || k == 3 || k == 6 ? &cond : NULL;
                double w = guided ? 1.5 : 0.0;
                /* the first call fills the model's pools (mixture, MLP) */
                sampler_call_blocks(&c, methods[mi], 5, m[k], cd, w);
                size_t few = sampler_call_blocks(&c, methods[mi], 5, m[k], cd, w);
                size_t many = sampler_call_blocks(&c, methods[mi], 40, m[k], cd, w);
                ck_assert_msg(many == few,
                              "model %d, method %d, guidance %g: %zu blocks with 40 steps, %zu "
                              "with 5",
                              k, methods[mi], w, many, few);
            }
    for (int k = 0; k < 7; k++)
        scoresde_model_free(m[k]);
    scoresde_sde_free(sde);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
    ck_assert_int_eq(scoresde_set_allocator(NULL, NULL, NULL), SCORESDE_OK);
}
END_TEST

/* Blocks one likelihood call (RK4, `steps` steps, divergence `div`)
 * allocates. */
static size_t likelihood_call_blocks(alloc_count *count, int div, int steps,
                                     const scoresde_model *m, const scoresde_cond *cond)
{
    enum { N = 300, D = 2 };
    scoresde_sampler *s = NULL;
    ck_assert_int_eq(scoresde_sampler_create(&s, SCORESDE_SAMPLER_ODE), SCORESDE_OK);
    ck_assert_int_eq(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, steps), SCORESDE_OK);
    ck_assert_int_eq(
        scoresde_sampler_set_int(s, SCORESDE_SAMPLER_SOLVER, SCORESDE_SAMPLER_SOLVER_RK4),
        SCORESDE_OK);
    ck_assert_int_eq(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_DIVERGENCE, div), SCORESDE_OK);
    double *x = malloc(N * D * sizeof(double)), *lp = malloc(N * sizeof(double));
    for (size_t k = 0; k < N * D; k++)
        x[k] = 0.8 * sin((double)k);
    count->blocks = 0;
    int rc = scoresde_sampler_likelihood_cond(s, m, x, N, D, cond, 3, 0, lp, NULL, NULL);
    ck_assert_msg(rc == SCORESDE_OK, "%s", scoresde_last_error());
    size_t blocks = count->blocks;
    for (size_t i = 0; i < N; i++)
        ck_assert(isfinite(lp[i]));
    free(x);
    free(lp);
    scoresde_sampler_free(s);
    return blocks;
}

static int unit_div(const double *x, const double *t, size_t n, size_t D, double *div,
                    void *user)
{
    (void)x, (void)t, (void)user;
    for (size_t i = 0; i < n; i++)
        div[i] = -(double)D;
    return 0;
}

static int half_div(const double *x, const double *t, size_t n, size_t D, double *div,
                    void *user)
{
    (void)x, (void)t, (void)user;
    for (size_t i = 0; i < n; i++)
        div[i] = 0.5 * (double)D;
    return 0;
}

/* Issue 17's last note: the likelihood's divergence helpers allocated
 * their probe arrays on every evaluation (804 blocks at 40 steps against
 * 104 at 5 for an MLP). The fused score and divergence now runs on the
 * block's workspace: a likelihood call with 40 RK4 steps allocates exactly
 * the blocks one with 5 does, exact and Hutchinson, for every kind: the
 * mixture, the class-conditional mixture, the linear-Gaussian posterior,
 * the IID posteriors (both methods), an MLP, a residual MLP, the score and
 * denoiser hooks with a divergence hook and (Hutchinson, by central
 * differences) without, and a conditional hook. */
START_TEST(likelihood_allocates_per_call_not_per_step)
{
    enum { N = 300, D = 2, KINDS = 12 };
    alloc_count c = {0, 0};
    ck_assert_int_eq(scoresde_set_allocator(counting_malloc, counting_free, &c), SCORESDE_OK);
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m[KINDS] = {test_mixture(sde), NULL, NULL, NULL, NULL, small_mlp(sde, D, 16, 1)};
    /* class-conditional mixture: 3 classes of 2 components */
    {
        const double cp[3] = {1, 1, 2}, w[6] = {1, 2, 1, 1, 3, 1};
        const double mu[12] = {-1, 0, 1, 0, 0, 1, 0, -1, 0.5, 0.5, -0.5, -0.5};
        const double var[12] = {0.3, 0.3, 0.5, 0.5, 0.2, 0.4, 0.4, 0.2, 0.3, 0.3, 0.6, 0.6};
        ck_assert_int_eq(scoresde_model_create_cond_gmm(&m[1], sde, 3, 2, D, cp, w, mu, var),
                         SCORESDE_OK);
    }
    const double m0[D] = {0.0, 0.0}, S0[D * D] = {1.0, 0.3, 0.3, 1.0}, A[D] = {1.0, 0.0};
    const double b[1] = {0.0}, Se[1] = {0.5};
    ck_assert_int_eq(scoresde_model_create_linear_gaussian(&m[2], sde, D, 1, m0, S0, A, b, Se),
                     SCORESDE_OK);
    {
        const double ys[3] = {0.2, -0.3, 0.5};
        const double det = 1.0 - 0.09, P0[4] = {1.0 / det, -0.3 / det, -0.3 / det, 1.0 / det};
        const double Pp[4] = {P0[0] + 2.0, P0[1], P0[2], P0[3]}; /* + A^T Se^-1 A */
        ck_assert_int_eq(scoresde_model_create_iid(&m[3], m[2], NULL, 3, ys,
                                                   SCORESDE_IID_FACTORIZED, NULL, NULL),
                         SCORESDE_OK);
        ck_assert_int_eq(
            scoresde_model_create_iid(&m[4], m[2], NULL, 3, ys, SCORESDE_IID_GAUSS, P0, Pp),
            SCORESDE_OK);
    }
    {
        scoresde_resmlp_options o;
        ck_assert_int_eq(scoresde_model_resmlp_options_init(&o, sizeof o), SCORESDE_OK);
        o.width = 16;
        o.blocks = 1;
        o.chunk_rows = 128;
        ck_assert_int_eq(scoresde_model_create_resmlp(&m[6], sde, D, &o), SCORESDE_OK);
    }
    ck_assert_int_eq(scoresde_model_create_score_fn(&m[7], sde, D, unit_score, unit_div, NULL),
                     SCORESDE_OK);
    ck_assert_int_eq(
        scoresde_model_create_denoiser_fn(&m[8], sde, D, shrink_denoiser, half_div, NULL),
        SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_create_score_fn(&m[9], sde, D, unit_score, NULL, NULL),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_create_denoiser_fn(&m[10], sde, D, shrink_denoiser, NULL, NULL),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_create_cond_denoiser_fn(&m[11], sde, D, 1, 1, shift_denoiser,
                                                             NULL, NULL),
                     SCORESDE_OK);
    double y[N];
    unsigned char null_mask[N];
    for (size_t i = 0; i < N; i++) {
        y[i] = (double)(i % 3);
        null_mask[i] = i % 5 == 0;
    }
    scoresde_cond labels = {sizeof labels, 1, y, N, NULL};
    scoresde_cond feats = {sizeof feats, 1, y, N, null_mask};
    const int divs[2] = {SCORESDE_SAMPLER_DIVERGENCE_EXACT, SCORESDE_SAMPLER_DIVERGENCE_RADEMACHER};
    for (int k = 0; k < KINDS; k++)
        for (int dv = k >= 9 ? 1 : 0; dv < 2; dv++) {
            const scoresde_cond *cd = k == 1 ? &labels : k == 2 || k == 11 ? &feats : NULL;
            /* the first call fills the model's pools (mixtures, networks) */
            likelihood_call_blocks(&c, divs[dv], 5, m[k], cd);
            size_t few = likelihood_call_blocks(&c, divs[dv], 5, m[k], cd);
            size_t many = likelihood_call_blocks(&c, divs[dv], 40, m[k], cd);
            ck_assert_msg(many == few,
                          "model %d, divergence %d: %zu blocks with 40 steps, %zu with 5", k,
                          divs[dv], many, few);
        }
    for (int k = 0; k < KINDS; k++)
        scoresde_model_free(m[k]);
    scoresde_sde_free(sde);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
    ck_assert_int_eq(scoresde_set_allocator(NULL, NULL, NULL), SCORESDE_OK);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hardening");
    TCase *tc = tcase_create("hardening");
    tcase_add_test(tc, mlp_threads_above_the_runtime_limit);
    tcase_add_test(tc, loading_a_file_that_is_not_regular);
    tcase_add_test(tc, adam_refuses_an_update_that_overflows);
    tcase_add_test(tc, checkpoint_with_huge_moments_refused);
    tcase_add_test(tc, float32_parameters_past_the_range_refused);
    tcase_add_test(tc, draws_past_a_purpose_refused);
    tcase_add_test(tc, sde_parameters_with_impossible_consequences);
    tcase_add_test(tc, nan_inputs_refused_naming_the_argument);
    tcase_add_test(tc, impossible_sizes_refused_before_any_access);
    tcase_add_test(tc, mixture_evaluations_allocate_a_bounded_pool);
    tcase_add_test(tc, hook_models_allocate_per_call_not_per_step);
    tcase_add_test(tc, likelihood_allocates_per_call_not_per_step);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
