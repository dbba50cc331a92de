/*
 * Regression tests of the hardening findings (issue 17): each test fails on
 * the library before its fix. This program runs under OMP_THREAD_LIMIT=2
 * (tests/meson.build), the condition of the thread finding: BLIS aborts when
 * its region gets more than one thread but fewer than it asked for.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <errno.h>
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

/* A small MLP model for the VP SDE asking for `threads` threads. */
static scoresde_model *small_mlp(const scoresde_sde *sde, size_t D, int threads)
{
    static const size_t widths[2] = {256, 256};
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
    scoresde_model *two = small_mlp(sde, D, 2), *many = small_mlp(sde, D, 11);
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
    scoresde_model *net = small_mlp(sde, 2, 1);
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

int main(void)
{
    Suite *s = suite_create("hardening");
    TCase *tc = tcase_create("hardening");
    tcase_add_test(tc, mlp_threads_above_the_runtime_limit);
    tcase_add_test(tc, loading_a_file_that_is_not_regular);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
