/*
 * The Philox4x32-10 generator: known answers, stream layout, splits,
 * distributions.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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
    /* Box-Muller with the library's own ln, sin and cos (rng.c) */
    double r = sqrt(-2.0 * sd_rng_log(ua)), sn, cs;
    sd_rng_sincos_2pi(ub, &sn, &cs);
    ck_assert(z[0] == r * cs);
    ck_assert(z[1] == r * sn);
}
END_TEST

/* Every element of a long call (the vector passes' bodies and remainders,
 * both lanes of each block, an odd start) is the transform of the scalar
 * functions applied to its block's uniforms. */
START_TEST(normals_are_the_documented_transform_everywhere)
{
    enum { N = 1001 };
    double z[N], u[N + 1];
    ck_assert_int_eq(scoresde_rng_normal(5, 6, 7, N, z), SCORESDE_OK);
    ck_assert_int_eq(scoresde_rng_uniform(5, 6, 6, N + 1, u), SCORESDE_OK);
    for (int j = 0; j < N; j++) {
        int a = (j + 1) / 2 * 2; /* element 7 + j is in the block of uniforms a, a + 1 */
        double r = sqrt(-2.0 * sd_rng_log(u[a])), sn, cs;
        sd_rng_sincos_2pi(u[a + 1], &sn, &cs);
        ck_assert_msg(z[j] == ((7 + j) % 2 == 0 ? r * cs : r * sn), "element %d", 7 + j);
    }
}
END_TEST

/* FNV-1a of the bits of n doubles. */
static uint64_t bits_hash(const double *x, size_t n)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < n; i++) {
        uint64_t b;
        memcpy(&b, &x[i], sizeof b);
        for (int k = 0; k < 8; k++) {
            h ^= (b >> (8 * k)) & 0xff;
            h *= UINT64_C(0x100000001b3);
        }
    }
    return h;
}

/* Known answers, the same on every processor and compiler: the uniforms
 * are 1.0.0's, the normals those of 1.1 (1.0.0's came from libm's log, cos
 * and sin; docs/guide/08-reproducibility.md keeps them as history). */
START_TEST(known_answers)
{
    static const double z_kat[6] = {-0x1.7a329ebd5102ap+0, 0x1.f7820dd3083d8p-2,
                                     -0x1.2a295f74c40dcp-1, -0x1.71a6041b91697p+0,
                                     -0x1.df01fcfd81533p-1, -0x1.66014bbd173b9p-5};
    static const double u_kat[6] = {0x1.30b2f750d48e9p-2, 0x1.cba2d6972f38bp-2,
                                     0x1.30baf800ea1a5p-2, 0x1.60c2fed0f3f8ap-1,
                                     0x1.4a35fd5b49596p-1, 0x1.03cdbc595c802p-1};
    double z[6], u[6];
    ck_assert_int_eq(scoresde_rng_normal(2024, 1, 0, 6, z), SCORESDE_OK);
    ck_assert_int_eq(scoresde_rng_uniform(2024, 1, 0, 6, u), SCORESDE_OK);
    for (int i = 0; i < 6; i++) {
        ck_assert_msg(z[i] == z_kat[i], "normal %d: %a", i, z[i]);
        ck_assert_msg(u[i] == u_kat[i], "uniform %d: %a", i, u[i]);
    }
    enum { N = 1 << 16 };
    double *x = malloc(N * sizeof *x);
    ck_assert(x);
    uint64_t off = SCORESDE_RNG_OFFSET(SCORESDE_RNG_SAMPLER, 12345);
    scoresde_rng_normal(UINT64_C(0x0123456789abcdef), 77, off, N, x);
    ck_assert_msg(bits_hash(x, N) == UINT64_C(0x50ff51c44518596c), "normals: hash %#llx",
                  (unsigned long long)bits_hash(x, N));
    scoresde_rng_uniform(UINT64_C(0x0123456789abcdef), 77, off, N, x);
    ck_assert_msg(bits_hash(x, N) == UINT64_C(0xde0c2c55c478003a), "uniforms: hash %#llx",
                  (unsigned long long)bits_hash(x, N));
    free(x);
}
END_TEST

/* Any split of [offset, offset + n) into calls gives the same bits, for both
 * streams: starts and lengths odd and even, within one pass of the
 * generator and across its passes of 64 blocks. */
START_TEST(any_split_gives_the_same_draws)
{
    enum { N = 1001 };
    static const size_t cuts[] = {0, 1, 4, 37, 38, 100, 127, 128, 129, 256, 259, 600, 601, N};
    static double whole[N], part[N];
    for (int uniform = 0; uniform < 2; uniform++) {
        int (*fill)(uint64_t, uint64_t, uint64_t, size_t, double *) =
            uniform ? scoresde_rng_uniform : scoresde_rng_normal;
        ck_assert_int_eq(fill(7, 3, 11, N, whole), SCORESDE_OK);
        for (size_t c = 0; c + 1 < sizeof cuts / sizeof cuts[0]; c++)
            fill(7, 3, 11 + cuts[c], cuts[c + 1] - cuts[c], part + cuts[c]);
        for (int i = 0; i < N; i++)
            ck_assert(whole[i] == part[i]);
        /* one element at a time */
        for (int i = 0; i < N; i++) {
            double one;
            fill(7, 3, 11 + (uint64_t)i, 1, &one);
            ck_assert(one == whole[i]);
        }
    }
}
END_TEST

/* Element k of a stream is element k mod 2^64: a call across the end of
 * the offsets continues at 0. */
START_TEST(offsets_wrap_around)
{
    double across[6], end[3], start[3];
    scoresde_rng_normal(9, 9, UINT64_MAX - 2, 6, across);
    scoresde_rng_normal(9, 9, UINT64_MAX - 2, 3, end);
    scoresde_rng_normal(9, 9, 0, 3, start);
    for (int i = 0; i < 3; i++) {
        ck_assert(across[i] == end[i]);
        ck_assert(across[3 + i] == start[i]);
    }
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
    tcase_add_test(tc, normals_are_the_documented_transform_everywhere);
    tcase_add_test(tc, known_answers);
    tcase_add_test(tc, any_split_gives_the_same_draws);
    tcase_add_test(tc, offsets_wrap_around);
    tcase_add_test(tc, streams_and_seeds_differ);
    tcase_add_test(tc, uniforms_are_open_unit_with_right_moments);
    tcase_add_test(tc, normals_pass_kolmogorov_smirnov);
    tcase_add_test(tc, null_output_is_refused);
    tcase_add_test(tc, offset_macro_tags_purpose);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
