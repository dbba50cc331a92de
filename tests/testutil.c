/*
 * Statistics and runner helpers shared by the unit tests.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>

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
