/*
 * The Philox4x32-10 generator: known answers, stream layout, distributions.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "internal.h"
#include "testutil.h"

/* Random123's kat_vectors for philox4x32 with 10 rounds: counter, key, answer. */
START_TEST(philox_known_answers)
{
    static const uint32_t kat[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
         0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
         0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int v = 0; v < 3; v++) {
        uint32_t out[4];
        scoresde_philox4x32_10(kat[v], kat[v] + 4, out);
        for (int w = 0; w < 4; w++)
            ck_assert_uint_eq(out[w], kat[v][6 + w]);
    }
}
END_TEST

START_TEST(stream_layout_matches_documentation)
{
    uint64_t seed = UINT64_C(0x0123456789abcdef), stream = UINT64_C(0xfedcba9876543210);
    uint64_t block = 5;
    uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)stream,
                       (uint32_t)(stream >> 32)};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t w[4];
    scoresde_philox4x32_10(ctr, key, w);
    double ua = (((double)(((uint64_t)(w[0] >> 5) << 26) | (w[1] >> 6))) + 0.5) * 0x1p-53;
    double ub = (((double)(((uint64_t)(w[2] >> 5) << 26) | (w[3] >> 6))) + 0.5) * 0x1p-53;
    double u[2], z[2];
    ck_assert_int_eq(scoresde_rng_uniform(seed, stream, 2 * block, 2, u), SCORESDE_OK);
    ck_assert(u[0] == ua && u[1] == ub);
    ck_assert_int_eq(scoresde_rng_normal(seed, stream, 2 * block, 2, z), SCORESDE_OK);
    double r = sqrt(-2.0 * log(ua));
    ck_assert(z[0] == r * cos(2.0 * M_PI * ub));
    ck_assert(z[1] == r * sin(2.0 * M_PI * ub));
}
END_TEST

START_TEST(any_split_gives_the_same_draws)
{
    enum { N = 101 };
    double whole[N], part[N];
    ck_assert_int_eq(scoresde_rng_normal(7, 3, 11, N, whole), SCORESDE_OK);
    /* Odd starting offsets and odd lengths cross block boundaries. */
    size_t cuts[] = {0, 1, 4, 37, 38, 100, N};
    for (size_t c = 0; c + 1 < sizeof cuts / sizeof cuts[0]; c++)
        scoresde_rng_normal(7, 3, 11 + cuts[c], cuts[c + 1] - cuts[c], part + cuts[c]);
    for (int i = 0; i < N; i++)
        ck_assert(whole[i] == part[i]);
}
END_TEST

START_TEST(streams_and_seeds_differ)
{
    double a[4], b[4], c[4];
    scoresde_rng_uniform(1, 0, 0, 4, a);
    scoresde_rng_uniform(1, 1, 0, 4, b);
    scoresde_rng_uniform(2, 0, 0, 4, c);
    for (int i = 0; i < 4; i++) {
        ck_assert(a[i] != b[i]);
        ck_assert(a[i] != c[i]);
    }
}
END_TEST

START_TEST(uniforms_are_open_unit_with_right_moments)
{
    enum { N = 200000 };
    double *u = malloc(N * sizeof *u);
    scoresde_rng_uniform(42, 9, 0, N, u);
    double mean = 0.0, var = 0.0;
    for (int i = 0; i < N; i++) {
        ck_assert(u[i] > 0.0 && u[i] < 1.0);
        mean += u[i];
    }
    mean /= N;
    for (int i = 0; i < N; i++)
        var += (u[i] - mean) * (u[i] - mean);
    var /= N - 1;
    /* Standard errors: sqrt(1/12 / N) for the mean, about sqrt(1/180 / N) for the variance. */
    ck_assert_double_le(fabs(mean - 0.5), 5.0 * sqrt(1.0 / 12.0 / N));
    ck_assert_double_le(fabs(var - 1.0 / 12.0), 5.0 * sqrt(1.0 / 180.0 / N));
    free(u);
}
END_TEST

START_TEST(normals_pass_kolmogorov_smirnov)
{
    enum { N = 100000 };
    double *z = malloc(N * sizeof *z);
    scoresde_rng_normal(2024, 1, 0, N, z);
    double d = test_ks_statistic_normal(z, N, 0.0, 1.0);
    /* The 0.1% critical value of the KS statistic is 1.949 / sqrt(N). */
    ck_assert_double_lt(d, 1.949 / sqrt((double)N));
    double mean = 0.0, m2 = 0.0;
    for (int i = 0; i < N; i++) {
        mean += z[i];
        m2 += z[i] * z[i];
    }
    mean /= N;
    m2 /= N;
    ck_assert_double_le(fabs(mean), 5.0 / sqrt((double)N));
    ck_assert_double_le(fabs(m2 - 1.0), 5.0 * sqrt(2.0 / N));
    free(z);
}
END_TEST

START_TEST(null_output_is_refused)
{
    ck_assert_int_eq(scoresde_rng_normal(1, 1, 0, 3, NULL), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_rng_uniform(1, 1, 0, 3, NULL), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_rng_uniform(1, 1, 0, 0, NULL), SCORESDE_OK);
}
END_TEST

START_TEST(offset_macro_tags_purpose)
{
    ck_assert_uint_eq(SCORESDE_RNG_OFFSET(SCORESDE_RNG_PRIOR, 5), (UINT64_C(2) << 56) | 5);
    ck_assert_uint_eq(SCORESDE_RNG_OFFSET(1, UINT64_MAX), (UINT64_C(1) << 56) | ((UINT64_C(1) << 56) - 1));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rng");
    TCase *tc = tcase_create("rng");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, philox_known_answers);
    tcase_add_test(tc, stream_layout_matches_documentation);
    tcase_add_test(tc, any_split_gives_the_same_draws);
    tcase_add_test(tc, streams_and_seeds_differ);
    tcase_add_test(tc, uniforms_are_open_unit_with_right_moments);
    tcase_add_test(tc, normals_pass_kolmogorov_smirnov);
    tcase_add_test(tc, null_output_is_refused);
    tcase_add_test(tc, offset_macro_tags_purpose);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
