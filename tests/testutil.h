/*
 * Statistics, runner, fixture and model-file helpers shared by the unit tests.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SD_TESTUTIL_H
#define SD_TESTUTIL_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io.h"
#include "scoresde.h"

/* Run a suite, print Check's summary, return the process exit status. */
int test_run_suite(Suite *s);

/* The standard normal CDF. */
double test_normal_cdf(double z);

/* Kolmogorov-Smirnov statistic sup |F_n - F| of a sample (sorted in place)
 * against N(mean, sd^2). */
double test_ks_statistic_normal(double *x, size_t n, double mean, double sd);

/* Sample mean and unbiased variance of x[i*stride + offset], i < n. */
void test_moments(const double *x, size_t n, size_t stride, size_t offset, double *mean,
                  double *var);

/* max_i |a_i - b_i| / max(|b_i|, 1e-3 max_k |b_k|): component-wise relative
 * error, with a floor so that components that cancel to nearly zero are
 * measured against the vector's scale rather than against their own. */
double test_rel_err(const double *a, const double *b, size_t n);

/* n standard normals (malloc'd) of Philox `seed`, stream 0, offset 0, times
 * `scale`. */
double *test_normals(uint64_t seed, size_t n, double scale);

/* An allocator for scoresde_set_allocator whose `user` points to a size_t
 * budget: each allocation spends one, and none is made once it is zero. */
void *test_budget_malloc(size_t size, void *budget);
void test_budget_free(void *ptr, void *budget);

/* An allocator for scoresde_set_allocator whose `user` points to a size_t
 * that records the largest request; requests above 64 MiB fail. */
void *test_watch_malloc(size_t size, void *largest);
void test_watch_free(void *ptr, void *largest);

/* strstr(haystack, needle) != NULL: does a message name `needle`? */
bool test_contains(const char *haystack, const char *needle);

/* A refusal: the call returned `status` and the calling thread's last error
 * names `needle`; on failure the message gives the caller's file and line. */
#define test_expect_error(rc, status, needle)                                                  \
    test_expect_error_at((rc), (status), (needle), __FILE__, __LINE__)
void test_expect_error_at(int rc, int status, const char *needle, const char *file, int line);

/* An SDE of `kind` with its default parameters (asserts success). */
scoresde_sde *test_make_sde(int kind);

/* The 2-D, 3-component Gaussian mixture (weights 0.5, 0.3, 0.2) used as the
 * data of the loss and training tests, under `sde`. */
scoresde_model *test_mixture(const scoresde_sde *sde);

/* n samples (malloc'd, n x 2) of the 2-D model `gmm` at t = 0, seed `seed`,
 * stream 0. */
double *test_data_of(const scoresde_model *gmm, size_t n, uint64_t seed);

/* Options for a test MLP: the defaults, then n_hidden hidden layers of
 * `widths` (kept by pointer), the output parameterisation, embedding size and
 * seed; the caller sets any other field. */
void test_mlp_options(scoresde_mlp_options *o, size_t n_hidden, const size_t *widths, int output,
                      size_t embed_dim, uint64_t seed);

/* The model's number of parameters, asserted positive. */
size_t test_num_params(const scoresde_model *m);

/* a and b have the same (positive) number of parameters, equal bit for bit. */
void test_assert_same_params(const scoresde_model *a, const scoresde_model *b);

/* Every pass of a trainable model m (conditions c, or NULL) on 5 rows at
 * times 0.1 .. 0.9 against central differences (step 1e-5), within tol
 * (component-wise relative, test_rel_err): the parameter gradients of
 * sum(g.s) and of the probe terms, J v (and its score output against the
 * score), the exact divergence against the trace of the difference
 * Jacobian, and Hutchinson with the axis probes against div / D. */
void test_check_model_passes(scoresde_model *m, const scoresde_cond *c, double tol,
                             const char *what);

/* ---- model files */

/* A model's saved file, copied to plain malloc memory (so ASan sees the exact
 * size); *size receives its length. */
uint8_t *test_save_copy(const scoresde_model *m, size_t *size);

/* b is the same model as a: kind, dimension, parameters, and bit-identical
 * scores and J v at seven times, also through a clone of b. */
void test_assert_same_model(const scoresde_model *a, const scoresde_model *b);

/* Recompute the CRC-32C trailer after editing a container's bytes. */
void test_reseal(uint8_t *data, size_t size);

/* Every proper prefix of a valid model file (length 0 to size - 1, each in a
 * buffer of exactly its size) is refused with ECORRUPT and a NULL model. */
void test_assert_every_truncation_rejected(const uint8_t *file, size_t size);

/* Every single-byte change of a valid model file (each byte XOR 1..255) is
 * refused with a NULL model: ECORRUPT, or EVERSION at the major version
 * (bytes 10 and 11). */
void test_assert_every_byte_change_rejected(const uint8_t *file, size_t size);

/* Start a forged model container in a fresh `w`: the header of `file_type`,
 * then the MODL section (model kind, name, D) and the SDE section (kind,
 * count, then the first n_sde of `sde`). The caller adds the KIND (and later)
 * sections and calls sd_container_finish. */
void test_forge_begin(sd_writer *w, uint32_t file_type, uint32_t model_kind, const char *name,
                      uint64_t dim, uint32_t sde_kind, uint32_t sde_count, const double *sde,
                      size_t n_sde);

/* ---- hooks that fail on purpose */

/* A call counter: test_countdown_fails counts a call and is true from call
 * number fail_at (0-based) on; never while fail_at is negative. */
typedef struct {
    long calls, fail_at;
} test_countdown;

bool test_countdown_fails(test_countdown *c);

/* A schedule hook (scoresde_schedule_fn) of VP with beta = 2: alpha = e^-t,
 * sigma^2 = 1 - e^-2t. `user` is a test_countdown: each call counts, and
 * the hook returns 1 when test_countdown_fails says so. */
int test_vp_schedule(const double *t, size_t n, double *alpha, double *sigma, double *dalpha,
                     double *dsigma, void *user);

#endif /* SD_TESTUTIL_H */
