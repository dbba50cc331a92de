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
 *
 * Arithmetic: no libm. Each code is built from the kernels of vmath.h (e^x
 * and e^x - 1 by range reduction and Taylor polynomial, ln(1 + y) by the
 * atanh series, the normal tail by a Chebyshev fit of its Mills ratio
 * computed for this library), plain IEEE operations and bitwise selections,
 * so every pass vectorises and the bits are the same on every CPU of the
 * build's target, across batch sizes, threads and chunks.
 *
 * Error (float and double alike), in ulps of the larger of the exact result
 * and the magnitude of the terms it is a sum of (a derivative that crosses
 * zero has no relative accuracy there in any implementation; those terms
 * are SiLU' s + |z s (1 - s)|, SiLU'' s (1 - s) (2 + |z (1 - 2 s)|),
 * GELU_TANH' (1 + t) / 2 + |z (1 - t^2) u' / 2|, GELU_TANH'' (1 - t^2)
 * (u' + |z u'' / 2| + |z t u'^2|), GELU' Phi + |z phi|, GELU'' phi (2 + z^2);
 * the others are the results themselves), subnormal results included:
 *                value  first  second derivative
 *   SILU           3      4      5
 *   RELU           0      0      0   (exact)
 *   TANH           3      5      8
 *   SOFTPLUS       2      3      5
 *   GELU_TANH      5      7     10
 *   GELU           6      4      4
 * These are the largest errors tests/test_act.c measures (double against
 * quadruple precision, float against double libm) over a dense sweep of
 * [-60, 60], every binade from the smallest subnormal to the largest finite
 * number, both signs, and random points, rounded up; sd_act_max_ulp returns
 * them. +-inf give the limits (0 or -1 and +inf or 1; the derivatives' limits),
 * a NaN gives NaN in all three outputs.
 *
 * The includer defines R, SD_VM(name) and SD_VC(d, f) (below).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SD_ACT_H
#define SD_ACT_H

#include <stdint.h>
#include <string.h>

#include "simd.h"
#include "vmath.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* SD_SIMD and the clones of each elementwise row kernel: lib/core/simd.h. */
#define SD_ACT_CLONES SD_CLONES

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

/* The activations' own arithmetic (vmath.h): every code below is plain
 * arithmetic and bit selection, so every pass vectorises. The includer
 * defines SD_VM(name) (name##_d or name##_f) and SD_VC(d, f) (the double or
 * the float constant) for R. Each clamps z to a range beyond which all three
 * outputs have reached their limits (or underflowed to 0), so infinities
 * give the limits (act(-inf) = 0 or -1, act(+inf) = +inf or 1, the
 * derivatives' limits) and no inf * 0 appears; a NaN z gives NaN in all
 * three. */
#define SD_ACT_NAN_OUT                                                                     \
    {                                                                                      \
        a = SD_VM(sd_vm_if_nan)(z, z, a);                                                  \
        d = SD_VM(sd_vm_if_nan)(z, z, d);                                                  \
        s2 = SD_VM(sd_vm_if_nan)(z, z, s2);                                                \
    }

/* s = sigmoid(zc) = S F and o = 1 - s = O G, from e = e^-|zc| = m sc
 * without cancellation: 1 / (1 + e) and e / (1 + e); S, O normal and F, G
 * powers of two (one of them 1), so products with other factors round into
 * the subnormal range once, at the end. */
#define SD_ACT_SIGMOID_PAIR(zc)                                                            \
    R sc_, em_, m_ = SD_VM(sd_vm_exp_split)(-SD_VM(sd_vm_abs)(zc), &sc_, &em_);            \
    (void)em_;                                                                             \
    R e_ = m_ * sc_, inv_ = (R)1 / ((R)1 + e_), mi_ = m_ * inv_;                           \
    R S = SD_VM(sd_vm_if_neg)(zc, mi_, inv_), F = SD_VM(sd_vm_if_neg)(zc, sc_, (R)1);      \
    R O = SD_VM(sd_vm_if_neg)(zc, inv_, mi_), G = SD_VM(sd_vm_if_neg)(zc, (R)1, sc_);      \
    R s = S * F, o = O * G;

#define SD_ACT_CODE_SILU                                                                   \
    {                                                                                      \
        R zc = SD_VM(sd_vm_clamp)(z, SD_VC(800.0, 120.0f));                                \
        R zl = SD_VM(sd_vm_max)(z, SD_VC(-800.0, -120.0f));                                \
        SD_ACT_SIGMOID_PAIR(zc)                                                            \
        a = (zl * S) * F;                                                                  \
        d = (S * ((R)1 + zc * o)) * F;                                                     \
        s2 = ((S * O) * ((R)2 + zc * (o - s))) * (F * G);                                  \
        SD_ACT_NAN_OUT                                                                     \
    }

#define SD_ACT_CODE_RELU                                                                   \
    {                                                                                      \
        a = SD_VM(sd_vm_if_pos)(z, z, (R)0);                                               \
        d = SD_VM(sd_vm_if_pos)(z, (R)1, (R)0);                                            \
        s2 = 0;                                                                            \
        SD_ACT_NAN_OUT                                                                     \
    }

/* tanh |z| = -m / (2 + m), m = e^(-2|z|) - 1 (no cancellation near 0), and
 * tanh' = 4 e / (1 + e)^2, e = e^(-2|z|) (not 1 - tanh^2, which cancels). */
#define SD_ACT_CODE_TANH                                                                   \
    {                                                                                      \
        R zc = SD_VM(sd_vm_clamp)(z, SD_VC(380.0, 60.0f)), m, sc;                          \
        R en = SD_VM(sd_vm_exp_split)((R)-2 * SD_VM(sd_vm_abs)(zc), &sc, &m);              \
        R den = (R)2 + m, dn = ((R)4 * en) / (den * den);                                  \
        a = SD_VM(sd_vm_copysign)(-m / den, zc);                                           \
        d = dn * sc;                                                                       \
        s2 = ((R)-2 * a * dn) * sc;                                                        \
        SD_ACT_NAN_OUT                                                                     \
    }

#define SD_ACT_CODE_SOFTPLUS                                                               \
    {                                                                                      \
        R zc = SD_VM(sd_vm_clamp)(z, SD_VC(800.0, 120.0f));                                \
        SD_ACT_SIGMOID_PAIR(zc)                                                            \
        a = SD_VM(sd_vm_if_pos)(z, z, (R)0) + SD_VM(sd_vm_log1p_unit)(e_);                 \
        (void)o;                                                                           \
        d = s;                                                                             \
        s2 = (S * O) * (F * G);                                                            \
        SD_ACT_NAN_OUT                                                                     \
    }

#define SD_ACT_GELU_K 0.79788456080286535588 /* sqrt(2 / pi) */
#define SD_ACT_GELU_C 0.044715
#define SD_ACT_GELU_KH SD_VC(0.7978845608028654, 0.7978845834732056f)
#define SD_ACT_GELU_KL SD_VC(-4.98465440455546e-17, -2.2670340271702116e-08f)
#define SD_ACT_GELU_KCH SD_VC(0.035677408136300125, 0.035677406936883926f)
#define SD_ACT_GELU_KCL SD_VC(-3.0875749590776575e-19, 1.1994162329997948e-09f)
/* u = k z + k c z^3 is carried to twice the working precision (k and k c as
 * sums of two numbers, the products error-free), because e^(-2|u|) turns an
 * error du into a relative error 2|u| du: that cost ~200 ulp (float) in the
 * tail. Then tanh u, 1 + tanh u and 1 - tanh^2 u from e = e^(-2|u|) (times
 * 1 + the low part) and m = e - 1, without the cancellation of 1 - t^2 and
 * 1 + t where |t| is near 1 (in float32 that cost 1e-3 relative in the
 * second derivative at |u| ~ 5), and the subnormal range entered once. */
#define SD_ACT_CODE_GELU_TANH                                                              \
    {                                                                                      \
        R zc = SD_VM(sd_vm_clamp)(z, SD_VC(30.0, 12.0f));                                  \
        R zl = SD_VM(sd_vm_max)(z, SD_VC(-30.0, -12.0f));                                  \
        R zze, zz = SD_VM(sd_vm_two_prod)(zc, zc, &zze);                                   \
        R z3e, z3 = SD_VM(sd_vm_two_prod)(zc, zz, &z3e);                                   \
        z3e += zc * zze;                                                                   \
        R a1e, a1 = SD_VM(sd_vm_two_prod)(SD_ACT_GELU_KH, zc, &a1e);                       \
        R b1e, b1 = SD_VM(sd_vm_two_prod)(SD_ACT_GELU_KCH, z3, &b1e);                      \
        R ue, u = SD_VM(sd_vm_two_sum)(a1, b1, &ue);                                       \
        R ul = ue + ((a1e + SD_ACT_GELU_KL * zc) +                                         \
                     (b1e + SD_ACT_GELU_KCH * z3e + SD_ACT_GELU_KCL * z3));                \
        R xl = SD_VM(sd_vm_if_neg)(u, (R)2 * ul, (R)-2 * ul); /* -2|u| = -2|u_h| + xl */   \
        R up = (R)SD_ACT_GELU_K * ((R)1 + (R)(3 * SD_ACT_GELU_C) * zz);                    \
        R upp = (R)(6 * SD_ACT_GELU_K * SD_ACT_GELU_C) * zc;                               \
        R m, sc, en = SD_VM(sd_vm_exp_split)((R)-2 * SD_VM(sd_vm_abs)(u), &sc, &m);        \
        m = m + (en * sc) * xl;                                                            \
        en = en + en * xl;                                                                 \
        R den = (R)2 + m;                                                                  \
        R th = SD_VM(sd_vm_copysign)(-m / den, u), r2 = (R)2 / den;                        \
        R o1 = SD_VM(sd_vm_if_neg)(u, en * r2, r2), fo = SD_VM(sd_vm_if_neg)(u, sc, (R)1); \
        R sn = ((R)4 * en) / (den * den); /* 1 - tanh^2 u = sn sc */                       \
        R p0 = SD_VM(sd_vm_if_neg)(u, (R)0, (R)0.5 * o1);                                  \
        R p1 = SD_VM(sd_vm_if_neg)(u, (R)0.5 * o1, (R)0);                                  \
        a = (((R)0.5 * zl) * o1) * fo;                                                     \
        d = p0 + (p1 + (R)0.5 * zc * sn * up) * sc;                                        \
        s2 = (sn * (up + (R)0.5 * zc * (upp - (R)2 * th * up * up))) * sc;                 \
        SD_ACT_NAN_OUT                                                                     \
    }

/* The exact form through the normal distribution of vmath.h: Phi(z) =
 * Q(|z|) for z < 0 (relative accuracy in the far tail; 1 + erf would
 * cancel) and 1 - Q(z) otherwise, Q = qn sc and phi = pn sc with the
 * subnormal range entered once. */
#define SD_ACT_CODE_GELU                                                                   \
    {                                                                                      \
        R zc = SD_VM(sd_vm_clamp)(z, SD_VC(40.0, 15.0f));                                  \
        R zl = SD_VM(sd_vm_max)(z, SD_VC(-40.0, -15.0f));                                  \
        R qn, pn, sc;                                                                      \
        SD_VM(sd_vm_ncdf)(zc, &qn, &pn, &sc);                                              \
        R c0 = SD_VM(sd_vm_if_neg)(zc, (R)0, (R)1 - qn * sc);                              \
        R c1 = SD_VM(sd_vm_if_neg)(zc, qn, (R)0);                                          \
        a = zl * c0 + (zc * c1) * sc;                                                      \
        d = c0 + (c1 + zc * pn) * sc;                                                      \
        s2 = (pn * ((R)2 - zc * zc)) * sc;                                                 \
        SD_ACT_NAN_OUT                                                                     \
    }

/* The value and first two derivatives of one activation at one z, through
 * the same code the passes run (for tests and scalar callers). */
void sd_act_eval(sd_act act, double z, double *a, double *d, double *s2);
void sd_act_evalf(sd_act act, float z, float *a, float *d, float *s2);

/* The documented bound (the table above) on the error of output k (0 the value, 1 the
 * first derivative, 2 the second) of act in float (f32) or double, in ulps
 * of the larger of the exact value and its terms' magnitude. */
double sd_act_max_ulp(sd_act act, int k, int f32);

#endif /* SD_ACT_H */
