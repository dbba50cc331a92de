/*
 * Activations shared by every network kind (private): the enum, the float32
 * sigmoid the SiLU pass uses, and one block of code per activation giving
 * the value and the first two derivatives, from which each network's
 * precision template builds its elementwise passes (act_pass.h).
 *
 * For z of type R, each SD_ACT_CODE_<NAME> sets a = act(z), d = act'(z) and
 * s2 = act''(z):
 *   SILU       a = z s, s = sigmoid(z); a' = s (1 + z (1 - s));
 *              a'' = s (1 - s) (2 + z (1 - 2 s)).
 *   RELU       max(z, 0); a' = 1 for z > 0, else 0 (also at z = 0); a'' = 0.
 *   TANH       a' = 1 - a^2, a'' = -2 a (1 - a^2).
 *   SOFTPLUS   ln(1 + e^z) = max(z, 0) + ln(1 + e^-|z|) (never overflows);
 *              a' = sigmoid(z), a'' = s (1 - s).
 *   GELU_TANH  the tanh form of Hendrycks and Gimpel: a = z (1 + tanh u) / 2,
 *              u = k (z + c z^3), k = sqrt(2 / pi), c = 0.044715;
 *              a' = (1 + t) / 2 + z (1 - t^2) u' / 2,
 *              a'' = (1 - t^2) (u' + z (u'' - 2 t u'^2) / 2), t = tanh u,
 *              u' = k (1 + 3 c z^2), u'' = 6 k c z.
 *   GELU       the exact form a = z Phi(z), Phi(z) = erfc(-z / sqrt 2) / 2;
 *              a' = Phi(z) + z phi(z), a'' = phi(z) (2 - z^2), phi the normal
 *              density.
 * The includer defines R and R_SIGMOID, R_TANH, R_EXP, R_LOG1P, R_ERFC for R.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SD_ACT_H
#define SD_ACT_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* SD_SIMD asks the compiler to vectorise an elementwise loop ("omp simd":
 * elementwise, so vectorising changes no bit). Instrumented builds make no
 * such request: clang's UBSan (its null, alignment and pointer-overflow
 * checks on every access; the fuzzers' builds use it too) and clang's
 * coverage counters (b_coverage: lib/meson.build then defines
 * SD_MLP_NO_SIMD_REQUEST) put branches and calls into each iteration, so the
 * loops cannot vectorise there and clang says so (-Wpass-failed). Those
 * builds are for checking, not speed. Plain builds, gcc's and clang's, keep
 * the request, so .ci/clang-werror still fails on a request clang cannot
 * honour. gcc never sees the test (no __clang__). */
#if defined(__clang__) && defined(__has_feature) && !defined(SD_MLP_NO_SIMD_REQUEST)
#if __has_feature(undefined_behavior_sanitizer)
#define SD_MLP_NO_SIMD_REQUEST 1
#endif
#endif
#ifdef SD_MLP_NO_SIMD_REQUEST
#define SD_SIMD
#else
#define SD_SIMD _Pragma("omp simd")
#endif

/* Values frozen: they are the public scoresde_mlp_activation_t values. */
typedef enum sd_act {
    SD_ACT_SILU = 0,
    SD_ACT_RELU = 1,
    SD_ACT_TANH = 2,
    SD_ACT_SOFTPLUS = 3,
    SD_ACT_GELU_TANH = 4,
    SD_ACT_GELU = 5
} sd_act;
#define SD_ACT_LAST SD_ACT_GELU

#define SD_ACT_CODE_SILU                                                                   \
    {                                                                                      \
        R s = R_SIGMOID(z);                                                                \
        a = z * s;                                                                         \
        d = s * ((R)1 + z * ((R)1 - s));                                                   \
        s2 = s * ((R)1 - s) * ((R)2 + z * ((R)1 - (R)2 * s));                              \
    }

#define SD_ACT_CODE_RELU                                                                   \
    {                                                                                      \
        a = z > 0 ? z : 0;                                                                 \
        d = z > 0 ? (R)1 : (R)0;                                                           \
        s2 = 0;                                                                            \
    }

#define SD_ACT_CODE_TANH                                                                   \
    {                                                                                      \
        a = R_TANH(z);                                                                     \
        d = (R)1 - a * a;                                                                  \
        s2 = (R)-2 * a * d;                                                                \
    }

#define SD_ACT_CODE_SOFTPLUS                                                               \
    {                                                                                      \
        R s = (R)1 / ((R)1 + R_EXP(-z));                                                   \
        a = (z > 0 ? z : 0) + R_LOG1P(R_EXP(-(z > 0 ? z : -z)));                           \
        d = s;                                                                             \
        s2 = s * ((R)1 - s);                                                               \
    }

#define SD_ACT_GELU_K 0.79788456080286535588 /* sqrt(2 / pi) */
#define SD_ACT_GELU_C 0.044715
/* tanh u, 1 + tanh u and 1 - tanh^2 u from e = e^(-2|u|), without the
 * cancellation of 1 - t^2 and 1 + t where |t| is near 1 (in float32 that
 * cost 1e-3 relative in the second derivative at |u| ~ 5). */
#define SD_ACT_CODE_GELU_TANH                                                              \
    {                                                                                      \
        R zz = z * z;                                                                      \
        R u = (R)SD_ACT_GELU_K * (z + (R)SD_ACT_GELU_C * zz * z);                          \
        R up = (R)SD_ACT_GELU_K * ((R)1 + (R)(3 * SD_ACT_GELU_C) * zz);                    \
        R upp = (R)(6 * SD_ACT_GELU_K * SD_ACT_GELU_C) * z;                                \
        R em = R_EXP((R)-2 * (u < 0 ? -u : u)), den = (R)1 + em;                           \
        R th = (u < 0 ? em - (R)1 : (R)1 - em) / den;                                      \
        R onep = (u < 0 ? (R)2 * em : (R)2) / den, sech2 = (R)4 * em / (den * den);        \
        a = (R)0.5 * z * onep;                                                             \
        d = (R)0.5 * onep + (R)0.5 * z * sech2 * up;                                       \
        s2 = sech2 * (up + (R)0.5 * z * (upp - (R)2 * th * up * up));                      \
    }

/* Phi(z) = erfc(-z / sqrt 2) / 2, which keeps its relative accuracy for
 * negative z (1 + erf would cancel). */
#define SD_ACT_CODE_GELU                                                                   \
    {                                                                                      \
        R cdf = (R)0.5 * R_ERFC(-z * (R)0.70710678118654752440);                           \
        R pdf = (R)0.39894228040143267794 * R_EXP((R)-0.5 * z * z);                        \
        a = z * cdf;                                                                       \
        d = cdf + z * pdf;                                                                 \
        s2 = pdf * ((R)2 - z * z);                                                         \
    }

/*
 * e^x for x <= 0 in float32, branch-free and inlined so that the float32
 * SiLU pass vectorises (libm's expf is an opaque call per element). Cody and
 * Waite's reduction x = n ln 2 + r with ln 2 split in two (the first part,
 * 355/512, has 9 bits, so n times it is exact for |n| <= 126), |r| <= ln 2 / 2
 * (plus rounding), and Cephes' degree-7 minimax polynomial for e^r (published
 * coefficients, expf.c of the Cephes library); 2^n is built in the exponent
 * bits. Error: at most SD_MLP_EXPF_MAX_ULP (mlp.h) units in the last place of
 * the correctly rounded result for -87 <= x <= 0 (tests/test_mlp.c measures
 * it against double exp on a sweep of that range); below -87, where e^x <
 * 1.65e-38, it returns 0 (libm returns subnormals down to -103.97).
 * -inf and NaN give 0 (the SiLU pass still propagates a NaN z through
 * a = z s). The selects are done on the bits, because a conditional keeps
 * GCC from if-converting (and so vectorising) the loop under its default
 * -ftrapping-math. Only IEEE additions, multiplications and a conversion
 * to int: the result is the same whether an element goes through the vector
 * body or a scalar remainder, so the thread split and alignment never change
 * a bit. (A build that contracts a*b+c into FMAs changes the last bits, but
 * the same way in every loop of that build.)
 */
static inline float sd_expf_nonpos(float x)
{
    const float lo = -87.0f;
    /* xc = x where x >= lo, else lo (also for NaN and -inf, so the cast below
     * is always defined), selected on the bits: a conditional would keep the
     * loop scalar. */
    uint32_t keep = (uint32_t)0 - (uint32_t)(x >= lo), xb, lb;
    memcpy(&xb, &x, sizeof xb);
    memcpy(&lb, &lo, sizeof lb);
    xb = (xb & keep) | (lb & ~keep);
    float xc;
    memcpy(&xc, &xb, sizeof xc);
    /* n = round(x / ln 2), ties away from zero; xc <= 0 so subtracting 0.5
     * and truncating rounds. n is in [-126, 0]. */
    int32_t n = (int32_t)(xc * 1.44269504088896341f - 0.5f);
    float fn = (float)n;
    float r = xc - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float e = p * (r * r) + r + 1.0f;
    int32_t bits = (n + 127) * (INT32_C(1) << 23); /* 2^n, a normal float */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float y = e * scale;
    /* 0 below lo: clear the bits where x < lo (or x is NaN). */
    uint32_t ybits;
    memcpy(&ybits, &y, sizeof ybits);
    ybits &= keep;
    memcpy(&y, &ybits, sizeof y);
    return y;
}

/* sigmoid(z) = 1 / (1 + e^-z) for z >= 0 and e^z / (1 + e^z) otherwise,
 * with e = e^-|z| in (0, 1], so nothing overflows and the relative error
 * stays a few ulp for every z (a few ulp of e, plus two roundings). */
static inline float sd_sigmoidf(float z)
{
    float e = sd_expf_nonpos(-fabsf(z));
    /* numerator 1 where z >= 0, else e, selected on the bits as above */
    const float one = 1.0f;
    uint32_t pos = (uint32_t)0 - (uint32_t)(z >= 0.0f), eb, ob, nb;
    memcpy(&eb, &e, sizeof eb);
    memcpy(&ob, &one, sizeof ob);
    nb = (ob & pos) | (eb & ~pos);
    float num;
    memcpy(&num, &nb, sizeof num);
    return num / (1.0f + e);
}

/* The value and first two derivatives of one activation at one z, through
 * the same code the passes run (for tests and scalar callers). */
void sd_act_eval(sd_act act, double z, double *a, double *d, double *s2);
void sd_act_evalf(sd_act act, float z, float *a, float *d, float *s2);

#endif /* SD_ACT_H */
