/*
 * Statistics and runner helpers shared by the unit tests.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SD_TESTUTIL_H
#define SD_TESTUTIL_H

#include <check.h>
#include <stddef.h>

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

/* An allocator for scoresde_set_allocator whose `user` points to a size_t
 * budget: each allocation spends one, and none is made once it is zero. */
void *test_budget_malloc(size_t size, void *budget);
void test_budget_free(void *ptr, void *budget);

#endif /* SD_TESTUTIL_H */
