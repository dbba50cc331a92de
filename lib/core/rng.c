/*
 * Philox4x32-10 and the uniform and normal streams built on it (see rng.h).
 *
 * The streams are made RNG_LANES Philox blocks at a time: one loop runs the
 * ten rounds for every block of the pass (32 x 32 -> 64 bit multiplies, which
 * the vectoriser turns into vector ones), a second makes the uniforms or the
 * normals of every block. The normals' Box-Muller transform uses this file's
 * own logarithm and sine and cosine, not libm's: polynomials evaluated with
 * IEEE additions, multiplications, one division and one square root per
 * pair, and bit operations, with no contraction into FMAs (SD_NO_CONTRACT,
 * and the pragma under clang), so every element has the same bits on every
 * processor and with every compiler that evaluates double in double
 * (FLT_EVAL_METHOD 0: every x86-64 and aarch64 compiler), in the vector body
 * and the scalar remainder alike, in each of the SD_CLONES clones.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "simd.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#if defined(__GNUC__) || defined(__clang__)
#define SD_RNG_INLINE static inline __attribute__((always_inline))
#else
#define SD_RNG_INLINE static inline
#endif

#define PHILOX_M0 UINT32_C(0xD2511F53)
#define PHILOX_M1 UINT32_C(0xCD9E8D57)
#define PHILOX_W0 UINT32_C(0x9E3779B9)
#define PHILOX_W1 UINT32_C(0xBB67AE85)

/* Blocks per pass: the passes' arrays stay in the L1 cache. */
enum { RNG_LANES = 64 };

/* Philox4x32-10 of the counter (c0, c1, c2, c3) under the key (k0, k1), in place. */
SD_RNG_INLINE void philox_block(uint32_t *c0, uint32_t *c1, uint32_t *c2, uint32_t *c3,
                                uint32_t k0, uint32_t k1)
{
#pragma GCC unroll 10
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * *c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * *c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ *c1 ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ *c3 ^ k1;
        *c1 = (uint32_t)p1;
        *c3 = (uint32_t)p0;
        *c0 = n0;
        *c2 = n2;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
}

void scoresde_philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
    philox_block(&c0, &c1, &c2, &c3, key[0], key[1]);
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* x86-64: Philox by pmuludq on vectors of 64-bit lanes (philox_x86.h), SSE2
 * (the baseline) always, AVX2 and AVX-512F where the processor has them
 * (chosen at each call by __builtin_cpu_supports; builds with
 * SD_NO_TARGET_CLONES keep to the baseline). */
#if defined(__x86_64__) && ((defined(__GNUC__) && __GNUC__ >= 9) || defined(__clang__))
#include <immintrin.h>
#define SD_RNG_X86 1
#define PX_N 2
#define PX_NAME philox_sse2
#define PX_V px_v2
#define PX_V32 px_v2_32
#define PX_TARGET
#define PX_MUL(a, b) ((PX_V)_mm_mul_epu32((__m128i)(a), (__m128i)(b)))
#include "philox_x86.h"
#undef PX_N
#undef PX_NAME
#undef PX_V
#undef PX_V32
#undef PX_TARGET
#undef PX_MUL
#if !defined(SD_NO_TARGET_CLONES)
#define SD_RNG_X86_WIDE 1
#define PX_N 4
#define PX_NAME philox_avx2
#define PX_V px_v4
#define PX_V32 px_v4_32
#define PX_TARGET __attribute__((target("avx2")))
#define PX_MUL(a, b) ((PX_V)_mm256_mul_epu32((__m256i)(a), (__m256i)(b)))
#include "philox_x86.h"
#undef PX_N
#undef PX_NAME
#undef PX_V
#undef PX_V32
#undef PX_TARGET
#undef PX_MUL
#define PX_N 8
#define PX_NAME philox_avx512f
#define PX_V px_v8
#define PX_V32 px_v8_32
#define PX_TARGET __attribute__((target("avx512f")))
#define PX_MUL(a, b) ((PX_V)_mm512_mul_epu32((__m512i)(a), (__m512i)(b)))
#include "philox_x86.h"
#undef PX_N
#undef PX_NAME
#undef PX_V
#undef PX_V32
#undef PX_TARGET
#undef PX_MUL
#endif
#endif

/* The words of blocks block .. block + nb - 1 (mod 2^63, as element k mod
 * 2^64 is in block k / 2) of the stream, nb <= RNG_LANES: the vector
 * functions above, then the plain loop for what they leave. */
static void philox_pass(uint64_t seed, uint64_t stream, uint64_t block, int nb,
                        uint32_t w[4][RNG_LANES])
{
    int done = 0;
#ifdef SD_RNG_X86_WIDE
    if (__builtin_cpu_supports("avx512f"))
        done = philox_avx512f(seed, stream, block, nb, w);
    else if (__builtin_cpu_supports("avx2"))
        done = philox_avx2(seed, stream, block, nb, w);
    else
#endif
#ifdef SD_RNG_X86
        done = philox_sse2(seed, stream, block, nb, w);
#endif
    SD_SIMD
    for (int l = done; l < nb; l++) {
        uint64_t b = (block + (uint64_t)l) & (UINT64_MAX >> 1);
        uint32_t c0 = (uint32_t)b, c1 = (uint32_t)(b >> 32);
        uint32_t c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
        philox_block(&c0, &c1, &c2, &c3, (uint32_t)seed, (uint32_t)(seed >> 32));
        w[0][l] = c0;
        w[1][l] = c1;
        w[2][l] = c2;
        w[3][l] = c3;
    }
}

/* ((hi >> 5) 2^26 + (lo >> 6) + 0.5) 2^-53 (rng.h): the 53-bit integer is
 * built exactly from its two halves (signed 32-bit conversions, which vectorise),
 * then rounded once by the + 0.5, as an integer-to-double conversion of it would be. */
SD_RNG_INLINE double to_open_unit(uint32_t hi, uint32_t lo)
{
    double m = (double)(int32_t)(hi >> 5) * 0x1p26 + (double)(int32_t)(lo >> 6);
    return (m + 0.5) * 0x1p-53;
}

SD_RNG_INLINE uint64_t bits_of(double x)
{
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

SD_RNG_INLINE double real_of(uint64_t b)
{
    double x;
    memcpy(&x, &b, sizeof x);
    return x;
}

/* c[0] + z (c[1] + z (c[2] + ... + z c[n - 1])), by Horner's rule. */
SD_RNG_INLINE double horner(const double *c, int n, double z)
{
    double p = c[n - 1];
#ifndef __clang__ /* clang unrolls it unasked, and an unroll request would come after vectorising */
#pragma GCC unroll 8
#endif
    for (int i = n - 2; i >= 0; i--)
        p = p * z + c[i];
    return p;
}

/* The polynomials' coefficients, constant term first: Chebyshev fits in
 * 60-digit arithmetic (mpmath.chebyfit on the interval, degree given),
 * rounded to double. */
enum { RNG_LOG_TERMS = 8, RNG_SIN_TERMS = 7, RNG_COS_TERMS = 7 };
/* g(z) = (2 atanh s - 2 s) / s^3, z = s^2 in [0, (3 - 2 sqrt 2)^2]: degree 7,
 * relative error 3e-18 */
static const double rng_log_g[RNG_LOG_TERMS] = {
    0.66666666666666663, 0.40000000000000879, 0.28571428570803614, 0.22222222391713917,
    0.18181795640132906, 0.15386239702814658, 0.13268773138656886, 0.13086626147840102};
/* S(z) = (sin(2 pi t) - 2 pi t) / t^3, z = t^2 in [0, 1/64]: degree 6, 7e-20 */
static const double rng_sin_s[RNG_SIN_TERMS] = {
    -41.341702240399762, 81.605249276075043, -76.705859753042915, 42.0586939378057,
    -15.094641279579799, 3.8198307439800163, -0.71244406267831928};
/* C(z) = (1 - cos(2 pi t)) / t^2 on the same interval: degree 6, 4e-19 */
static const double rng_cos_c[RNG_COS_TERMS] = {
    19.739208802178716, -64.939394022668239, 85.456817206643805, -60.244641352702011,
    26.426253275854723, -7.9032069115696784, 1.6990343940660637};

/*
 * ln u for the uniforms' u in [2^-54, 1]. u = 2^k m with m in [sqrt(1/2),
 * sqrt 2) (bit operations on the representation: adding the distance from
 * 1 to sqrt(1/2) carries into the exponent exactly when the mantissa is at
 * least sqrt 2's), f = m - 1 (exact), s = f / (2 + f), and
 *     ln m = 2 atanh s = f - (h - s (h + R)),  h = f^2 / 2,  R = s^2 g(s^2),
 * g(z) = (2 atanh s - 2 s) / s^3 = 2/3 + 2z/5 + ... on z in [0, 0.0295] by
 * the polynomial above (its error is far below the roundings, as R is at
 * most 1/50 of the result);
 * k ln 2 with ln 2 split in two, the first part with 32 significant bits so
 * that k times it is exact. The error is at most SD_RNG_LOG_MAX_ULP ulps
 * (internal.h; tests/test_rng_accuracy.c measures it).
 */
SD_RNG_INLINE double rng_log(double u)
{
    const uint64_t sqrt_half = UINT64_C(0x3fe6a09e667f3bcd), one = UINT64_C(0x3ff0000000000000);
    uint64_t b = bits_of(u) + (one - sqrt_half);
    /* k + 1023 in the low bits of a double 2^52 + k + 1023, exactly */
    double k = real_of((b >> 52) | UINT64_C(0x4330000000000000)) - (0x1p52 + 1023.0);
    double f = real_of((b & UINT64_C(0x000fffffffffffff)) + sqrt_half) - 1.0;
    double s = f / (2.0 + f), z = s * s;
    double g = horner(rng_log_g, RNG_LOG_TERMS, z);
    double h = 0.5 * f * f, r = z * g;
    return k * 0x1.62e42fee00000p-1 - ((h - (s * (h + r) + k * 0x1.a39ef35793c76p-33)) - f);
}

/*
 * sin(2 pi u) and cos(2 pi u) for u in [0, 1]. The reduction works on u
 * itself: q = round(4 u) (the magic constant 1.5 2^52 rounds to nearest,
 * ties to even), t = u - q / 4, exact (u is a multiple of 2^-54) with |t| <=
 * 1/8, so 2 pi u = q pi / 2 + 2 pi t with no rounding at all. With z = t^2,
 *     sin(2 pi t) = t a + t z S(z),   cos(2 pi t) = 1 - z C(z),
 * a = 2 pi = a1 + a2 (a1 with 26 significant bits, a2 the rest rounded: their
 * sum is 2 pi to 2^-78) and t split alike into th + tl, so that the leading
 * term th a1 is exact and sin's error is little more than its last
 * rounding; S and C the polynomials above; the quadrant q mod 4 swaps and
 * negates them by bit operations. The errors are at most
 * SD_RNG_SIN_MAX_ULP and SD_RNG_COS_MAX_ULP ulps (internal.h).
 */
SD_RNG_INLINE void rng_sincos_2pi(double u, double *sn, double *cs)
{
    const double magic = 0x1.8p52;
    double qm = 4.0 * u + magic;
    uint64_t q = bits_of(qm);
    double t = u - 0.25 * (qm - magic), z = t * t;
    double sp = horner(rng_sin_s, RNG_SIN_TERMS, z);
    /* t a = th a1 + (tl a1 + t a2): th and a1 with 26 significant bits, so
     * their product is exact */
    double th = real_of(bits_of(t) & ~((UINT64_C(1) << 27) - 1)), tl = t - th;
    double s = th * 0x1.921fb5p+2 + ((tl * 0x1.921fb5p+2 + t * 0x1.110b4611a6263p-24) + (t * z) * sp);
    double cp = horner(rng_cos_c, RNG_COS_TERMS, z);
    double c = 1.0 - z * cp;
    /* quadrant q: (sin, cos) = (s, c), (c, -s), (-s, -c), (-c, s) for q = 0, 1, 2, 3 (4 as 0) */
    uint64_t swap = (uint64_t)0 - (q & 1), sign = UINT64_C(1) << 63;
    uint64_t bs = bits_of(s), bc = bits_of(c);
    *sn = real_of(((bs & ~swap) | (bc & swap)) ^ ((q << 62) & sign));
    *cs = real_of(((bc & ~swap) | (bs & swap)) ^ (((q + 1) << 62) & sign));
}

SD_NO_CONTRACT double sd_rng_log(double u) { return rng_log(u); }

SD_NO_CONTRACT void sd_rng_sincos_2pi(double u, double *sn, double *cs)
{
    rng_sincos_2pi(u, sn, cs);
}

/* A pass: the 2 nb elements of blocks block .. block + nb - 1 into out, the
 * normals or the uniforms. */
SD_CLONES static void stream_pass(int normal, uint64_t seed, uint64_t stream, uint64_t block,
                                  int nb, double *out)
{
    uint32_t w[4][RNG_LANES];
    philox_pass(seed, stream, block, nb, w);
    if (!normal) {
        SD_SIMD
        for (int l = 0; l < nb; l++) {
            out[2 * l] = to_open_unit(w[0][l], w[1][l]);
            out[2 * l + 1] = to_open_unit(w[2][l], w[3][l]);
        }
        return;
    }
    SD_SIMD
    for (int l = 0; l < nb; l++) {
        double r = sqrt(-2.0 * rng_log(to_open_unit(w[0][l], w[1][l])));
        double sn, cs;
        rng_sincos_2pi(to_open_unit(w[2][l], w[3][l]), &sn, &cs);
        out[2 * l] = r * cs;
        out[2 * l + 1] = r * sn;
    }
}

/* Elements offset .. offset + n - 1 through passes of at most RNG_LANES blocks. */
static void rng_fill(int normal, uint64_t seed, uint64_t stream, uint64_t offset, size_t n,
                     double *out)
{
    double buf[2 * RNG_LANES];
    size_t j = 0;
    while (j < n) {
        uint64_t k = offset + j;
        size_t skip = (size_t)(k & 1), want = n - j;
        size_t nb = want >= 2 * RNG_LANES ? RNG_LANES : (skip + want + 1) / 2;
        stream_pass(normal, seed, stream, k / 2, (int)nb, buf);
        size_t cnt = 2 * nb - skip < want ? 2 * nb - skip : want;
        memcpy(out + j, buf + skip, cnt * sizeof *out);
        j += cnt;
    }
}

void sd_rng_uniform(uint64_t seed, uint64_t stream, uint64_t offset, size_t n, double *out)
{
    rng_fill(0, seed, stream, offset, n, out);
}

void sd_rng_normal(uint64_t seed, uint64_t stream, uint64_t offset, size_t n, double *out)
{
    rng_fill(1, seed, stream, offset, n, out);
}

int scoresde_rng_uniform(uint64_t seed, uint64_t stream, uint64_t offset, size_t n, double *out)
{
    size_t count;
    SD_TRY(sd_doubles_count(n, 1, &count, "out"));
    if (n > 0)
        SD_TRY(sd_check_ptr(out, "out"));
    sd_rng_uniform(seed, stream, offset, n, out);
    return SCORESDE_OK;
}

int scoresde_rng_normal(uint64_t seed, uint64_t stream, uint64_t offset, size_t n, double *out)
{
    size_t count;
    SD_TRY(sd_doubles_count(n, 1, &count, "out"));
    if (n > 0)
        SD_TRY(sd_check_ptr(out, "out"));
    sd_rng_normal(seed, stream, offset, n, out);
    return SCORESDE_OK;
}
