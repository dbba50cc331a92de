/*
 * Training checkpoints: resuming from a checkpoint (buffer or file) continues
 * bit-identically to an uninterrupted run; a corrupted (every single byte
 * flipped in turn) or truncated checkpoint is refused and leaves the trainer
 * untouched; a save interrupted before the rename leaves the previous
 * checkpoint intact and loadable; mismatched models and losses are refused;
 * EMA and raw export.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "io.h"
#include "scoresde.h"
#include "testutil.h"

typedef struct {
    scoresde_sde *sde;
    scoresde_model *model;
    scoresde_loss *loss;
    scoresde_trainer *tr;
    size_t P;
} run;

static void run_open(run *r, size_t width, int loss_kind)
{
    ck_assert_int_eq(scoresde_sde_create_default(&r->sde, SCORESDE_SDE_VP), SCORESDE_OK);
    const size_t widths[2] = {width, width};
    scoresde_mlp_options o;
    test_mlp_options(&o, 2, widths, SCORESDE_MLP_OUTPUT_NOISE, 8, 12); /* NOISE: the default */
    ck_assert_int_eq(scoresde_model_create_mlp(&r->model, r->sde, 2, &o), SCORESDE_OK);
    ck_assert_int_eq(scoresde_loss_create(&r->loss, loss_kind), SCORESDE_OK);
    if (loss_kind == SCORESDE_LOSS_SSM_VR)
        ck_assert_int_eq(scoresde_loss_set_int(r->loss, SCORESDE_LOSS_TIME_MODE,
                                               SCORESDE_LOSS_TIME_UNIFORM),
                         SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_create(&r->tr, r->model, r->loss), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_set_double(r->tr, SCORESDE_TRAIN_LR, 5e-3), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_set_int(r->tr, SCORESDE_TRAIN_WARMUP, 3), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_set_double(r->tr, SCORESDE_TRAIN_WEIGHT_DECAY, 0.01),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_set_int(r->tr, SCORESDE_TRAIN_BATCH, 16), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_set_int(r->tr, SCORESDE_TRAIN_SEED, 77), SCORESDE_OK);
    r->P = scoresde_trainer_num_params(r->tr);
}

static void run_close(run *r)
{
    scoresde_trainer_free(r->tr);
    scoresde_loss_free(r->loss);
    scoresde_model_free(r->model);
    scoresde_sde_free(r->sde);
}

static double data[64 * 2];

static void make_data(void)
{
    scoresde_rng_normal(5, 0, 0, 128, data);
}

/* parameters and EMA of a run, concatenated */
static double *state_of(const run *r)
{
    double *s = malloc(2 * r->P * sizeof(double));
    ck_assert_int_eq(scoresde_model_get_params(r->model, s, r->P), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_get_ema(r->tr, s + r->P, r->P), SCORESDE_OK);
    return s;
}

/* Run A: 4 steps, checkpoint, 6 more. Run B: a fresh trainer on a fresh model
 * loads the checkpoint (from a buffer, then from a file) and does the 6 steps:
 * parameters and EMA agree bit for bit. DSM and SSM-VR (probes) losses. */
START_TEST(resume_bit_identical)
{
    make_data();
    const int kind = _i == 0 ? SCORESDE_LOSS_DSM : SCORESDE_LOSS_SSM_VR;
    run a, b, c;
    run_open(&a, 8, kind);
    ck_assert_int_eq(scoresde_trainer_fit(a.tr, data, 64, 2, 4, NULL, NULL), SCORESDE_OK);
    void *buf;
    size_t size;
    ck_assert_int_eq(scoresde_trainer_save_buffer(a.tr, &buf, &size), SCORESDE_OK);
    char path[] = "/tmp/scoresde-ckpt-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(scoresde_trainer_save(a.tr, path), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_fit(a.tr, data, 64, 2, 6, NULL, NULL), SCORESDE_OK);
    double *sa = state_of(&a);

    run_open(&b, 8, kind);
    ck_assert_int_eq(scoresde_trainer_load_buffer(b.tr, buf, size), SCORESDE_OK);
    ck_assert_uint_eq(scoresde_trainer_steps(b.tr), 4);
    ck_assert_int_eq(scoresde_trainer_fit(b.tr, data, 64, 2, 6, NULL, NULL), SCORESDE_OK);
    double *sb = state_of(&b);
    ck_assert_mem_eq(sa, sb, 2 * a.P * sizeof(double));

    run_open(&c, 8, kind);
    ck_assert_int_eq(scoresde_trainer_load(c.tr, path), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_fit(c.tr, data, 64, 2, 6, NULL, NULL), SCORESDE_OK);
    double *sc = state_of(&c);
    ck_assert_mem_eq(sa, sc, 2 * a.P * sizeof(double));
    ck_assert_uint_eq(scoresde_trainer_steps(c.tr), 10);

    /* the trainer settings travel with the checkpoint: a run whose settings
     * were changed before loading still resumes identically */
    run d;
    run_open(&d, 8, kind);
    ck_assert_int_eq(scoresde_trainer_set_double(d.tr, SCORESDE_TRAIN_LR, 0.5), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_set_int(d.tr, SCORESDE_TRAIN_SEED, 1), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_load_buffer(d.tr, buf, size), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_fit(d.tr, data, 64, 2, 6, NULL, NULL), SCORESDE_OK);
    double *sd = state_of(&d);
    ck_assert_mem_eq(sa, sd, 2 * a.P * sizeof(double));

    unlink(path);
    free(sa), free(sb), free(sc), free(sd);
    scoresde_buffer_free(buf);
    run_close(&a), run_close(&b), run_close(&c), run_close(&d);
}
END_TEST

/* Every single-byte corruption and every truncation is refused (CRC, size,
 * magic or version), and the trainer is left exactly as it was. */
START_TEST(corrupt_and_truncated_refused)
{
    make_data();
    run a, b;
    run_open(&a, 4, SCORESDE_LOSS_DSM);
    run_open(&b, 4, SCORESDE_LOSS_DSM);
    ck_assert_int_eq(scoresde_trainer_fit(a.tr, data, 64, 2, 3, NULL, NULL), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_fit(b.tr, data, 64, 2, 1, NULL, NULL), SCORESDE_OK);
    void *buf;
    size_t size;
    ck_assert_int_eq(scoresde_trainer_save_buffer(a.tr, &buf, &size), SCORESDE_OK);
    double *before = state_of(&b);
    uint8_t *bad = malloc(size);
    for (size_t k = 0; k < size; k++) {
        memcpy(bad, buf, size);
        bad[k] ^= 0x20;
        int rc = scoresde_trainer_load_buffer(b.tr, bad, size);
        ck_assert_msg(rc == SCORESDE_ECORRUPT || rc == SCORESDE_EVERSION,
                      "byte %zu flipped: rc %d (%s)", k, rc, scoresde_last_error());
    }
    for (size_t len = 0; len < size; len += (len < 64 ? 1 : 7))
        ck_assert_int_eq(scoresde_trainer_load_buffer(b.tr, buf, len), SCORESDE_ECORRUPT);
    double *after = state_of(&b);
    ck_assert_mem_eq(before, after, 2 * b.P * sizeof(double));
    ck_assert_uint_eq(scoresde_trainer_steps(b.tr), 1);
    /* the intact buffer still loads */
    ck_assert_int_eq(scoresde_trainer_load_buffer(b.tr, buf, size), SCORESDE_OK);
    ck_assert_uint_eq(scoresde_trainer_steps(b.tr), 3);
    free(bad), free(before), free(after);
    scoresde_buffer_free(buf);
    run_close(&a), run_close(&b);
}
END_TEST

/* A save that fails before the rename (simulated through the file layer's
 * test hook, which trainer_save's atomic write goes through) leaves the
 * previous checkpoint in place and loadable, with no temporary left over. */
START_TEST(interrupted_save_keeps_previous)
{
    make_data();
    run a, b;
    run_open(&a, 4, SCORESDE_LOSS_DSM);
    char dir[] = "/tmp/scoresde-ckdir-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/run.ckpt", dir);
    ck_assert_int_eq(scoresde_trainer_fit(a.tr, data, 64, 2, 2, NULL, NULL), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_save(a.tr, path), SCORESDE_OK);
    double *at2 = state_of(&a);
    ck_assert_int_eq(scoresde_trainer_fit(a.tr, data, 64, 2, 3, NULL, NULL), SCORESDE_OK);
    void *buf;
    size_t size;
    ck_assert_int_eq(scoresde_trainer_save_buffer(a.tr, &buf, &size), SCORESDE_OK);
    for (int step = SD_SAVE_FAIL_CREATE; step <= SD_SAVE_FAIL_RENAME; step++)
        ck_assert_int_eq(sd_file_save_atomic_test(path, buf, size, step), SCORESDE_EIO);
    run_open(&b, 4, SCORESDE_LOSS_DSM);
    ck_assert_int_eq(scoresde_trainer_load(b.tr, path), SCORESDE_OK);
    ck_assert_uint_eq(scoresde_trainer_steps(b.tr), 2);
    double *got = state_of(&b);
    ck_assert_mem_eq(at2, got, 2 * a.P * sizeof(double));
    /* only the checkpoint is in the directory */
    char cmd[300];
    snprintf(cmd, sizeof cmd, "test $(ls -A %s | wc -l) -eq 1", dir);
    ck_assert_int_eq(system(cmd), 0);
    /* a completed save replaces it */
    ck_assert_int_eq(scoresde_trainer_save(a.tr, path), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_load(b.tr, path), SCORESDE_OK);
    ck_assert_uint_eq(scoresde_trainer_steps(b.tr), 5);
    unlink(path);
    rmdir(dir);
    free(at2), free(got);
    scoresde_buffer_free(buf);
    run_close(&a), run_close(&b);
}
END_TEST

START_TEST(mismatches_and_export)
{
    make_data();
    run a, wide, other;
    run_open(&a, 4, SCORESDE_LOSS_DSM);
    run_open(&wide, 6, SCORESDE_LOSS_DSM);
    run_open(&other, 4, SCORESDE_LOSS_SSM_VR);
    ck_assert_int_eq(scoresde_trainer_fit(a.tr, data, 64, 2, 3, NULL, NULL), SCORESDE_OK);
    void *buf;
    size_t size;
    ck_assert_int_eq(scoresde_trainer_save_buffer(a.tr, &buf, &size), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_load_buffer(wide.tr, buf, size), SCORESDE_EDIM);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "parameters"));
    ck_assert_int_eq(scoresde_trainer_load_buffer(other.tr, buf, size), SCORESDE_EINVAL);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "kind"));
    ck_assert_int_eq(scoresde_trainer_load(a.tr, "/nonexistent/dir/x.ckpt"), SCORESDE_EIO);
    /* a model file is not a checkpoint: a GMM model file is refused */
    scoresde_model *g = NULL;
    const double w = 1, mu[2] = {0, 0}, var[2] = {1, 1};
    ck_assert_int_eq(scoresde_model_create_gmm(&g, a.sde, 1, 2, &w, mu, var), SCORESDE_OK);
    void *mbuf;
    size_t msize;
    ck_assert_int_eq(scoresde_model_save_buffer(g, &mbuf, &msize), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_load_buffer(a.tr, mbuf, msize), SCORESDE_EINVAL);
    scoresde_buffer_free(mbuf);
    scoresde_model_free(g);
    /* export: EMA and raw parameters in independent clones */
    scoresde_model *e = NULL, *r = NULL;
    ck_assert_int_eq(scoresde_trainer_export(&e, a.tr, SCORESDE_TRAIN_EXPORT_EMA), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_export(&r, a.tr, SCORESDE_TRAIN_EXPORT_RAW), SCORESDE_OK);
    double *pe = malloc(a.P * sizeof(double)), *pr = malloc(a.P * sizeof(double)),
           *want = malloc(a.P * sizeof(double));
    ck_assert_int_eq(scoresde_model_get_params(e, pe, a.P), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_get_ema(a.tr, want, a.P), SCORESDE_OK);
    ck_assert_mem_eq(pe, want, a.P * sizeof(double));
    ck_assert_int_eq(scoresde_model_get_params(r, pr, a.P), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_get_params(a.model, want, a.P), SCORESDE_OK);
    ck_assert_mem_eq(pr, want, a.P * sizeof(double));
    ck_assert(memcmp(pe, pr, a.P * sizeof(double)) != 0);
    scoresde_model_free(e);
    ck_assert_int_eq(scoresde_trainer_export(&e, a.tr, 5), SCORESDE_EINVAL);
    ck_assert_ptr_null(e);
    free(pe), free(pr), free(want);
    scoresde_model_free(r);
    scoresde_buffer_free(buf);
    run_close(&a), run_close(&wide), run_close(&other);
}
END_TEST

static Suite *ckpt_suite(void)
{
    Suite *s = suite_create("train_ckpt");
    TCase *tc = tcase_create("ckpt");
    tcase_add_loop_test(tc, resume_bit_identical, 0, 2);
    tcase_add_test(tc, corrupt_and_truncated_refused);
    tcase_add_test(tc, interrupted_save_keeps_previous);
    tcase_add_test(tc, mismatches_and_export);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(ckpt_suite()); }
