/*
 * The elementwise kernels of vmath.h for one precision, included twice by
 * it: VM_F64 1 (double, suffix _d) or 0 (float, suffix _f). No include
 * guard. Only IEEE additions, multiplications, divisions and bit operations
 * on the representations: no libm, no branch, no floating-point comparison
 * (which keeps GCC from if-converting a loop under its default
 * -ftrapping-math, so selections are made on bits), so a loop calling them
 * vectorises and every element gets the same bits whether it goes through
 * the vector body or a scalar remainder, on any CPU of the build's target.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#if VM_F64
#define VR double
#define VU uint64_t
#define VM(name) name##_d
#define VC(d, f) d
#define VM_SHIFT 63
#define VM_MBITS 52
#define VM_BIAS 1023
#define VM_ABS UINT64_C(0x7fffffffffffffff)
#define VM_INF UINT64_C(0x7ff0000000000000)
#else
#define VR float
#define VU uint32_t
#define VM(name) name##_f
#define VC(d, f) f
#define VM_SHIFT 31
#define VM_MBITS 23
#define VM_BIAS 127
#define VM_ABS UINT32_C(0x7fffffff)
#define VM_INF UINT32_C(0x7f800000)
#endif

SD_VM_INLINE VU VM(sd_vm_bits)(VR x)
{
    VU b;
    memcpy(&b, &x, sizeof b);
    return b;
}

SD_VM_INLINE VR VM(sd_vm_real)(VU b)
{
    VR x;
    memcpy(&x, &b, sizeof x);
    return x;
}

/* All ones where the sign bit of x is set (x < 0, also -0 and a negative
 * NaN), else 0. */
SD_VM_INLINE VU VM(sd_vm_neg)(VR x) { return (VU)0 - (VM(sd_vm_bits)(x) >> VM_SHIFT); }

/* All ones where a < b (the sign of a - b, which is exact in sign for
 * finite and infinite a, b; a NaN gives either), else 0. */
SD_VM_INLINE VU VM(sd_vm_lt)(VR a, VR b) { return VM(sd_vm_neg)(a - b); }

/* All ones where x is a NaN (|x|'s bits above infinity's), else 0. */
SD_VM_INLINE VU VM(sd_vm_nan)(VR x)
{
    return (VU)0 - ((VM_INF - (VM(sd_vm_bits)(x) & VM_ABS)) >> VM_SHIFT);
}

/* m ? a : b, bitwise. */
SD_VM_INLINE VR VM(sd_vm_pick)(VU m, VR a, VR b)
{
    return VM(sd_vm_real)((VM(sd_vm_bits)(a) & m) | (VM(sd_vm_bits)(b) & ~m));
}

/* |x|, and the magnitude of m with the sign of s. */
SD_VM_INLINE VR VM(sd_vm_abs)(VR x) { return VM(sd_vm_real)(VM(sd_vm_bits)(x) & VM_ABS); }
SD_VM_INLINE VR VM(sd_vm_copysign)(VR m, VR s)
{
    return VM(sd_vm_real)((VM(sd_vm_bits)(m) & VM_ABS) | (VM(sd_vm_bits)(s) & ~VM_ABS));
}

/* x < 0 (sign bit set) ? a : b;  0 < x ? a : b;  x a NaN ? a : b. */
SD_VM_INLINE VR VM(sd_vm_if_neg)(VR x, VR a, VR b) { return VM(sd_vm_pick)(VM(sd_vm_neg)(x), a, b); }
SD_VM_INLINE VR VM(sd_vm_if_pos)(VR x, VR a, VR b)
{
    return VM(sd_vm_pick)(VM(sd_vm_lt)((VR)0, x), a, b);
}
SD_VM_INLINE VR VM(sd_vm_if_nan)(VR x, VR a, VR b) { return VM(sd_vm_pick)(VM(sd_vm_nan)(x), a, b); }

/* max(x, lo) for finite lo (a NaN may come out as a NaN or as lo), and x
 * clamped to [-c, c] likewise. */
SD_VM_INLINE VR VM(sd_vm_max)(VR x, VR lo) { return VM(sd_vm_pick)(VM(sd_vm_lt)(x, lo), lo, x); }
SD_VM_INLINE VR VM(sd_vm_clamp)(VR x, VR c)
{
    x = VM(sd_vm_max)(x, -c);
    return VM(sd_vm_pick)(VM(sd_vm_lt)(c, x), c, x);
}

/* a b = p + *err exactly (Veltkamp's split and Dekker's product; no
 * overflow for |a|, |b| below 2^995 (double) / 2^115 (float)). */
SD_VM_INLINE VR VM(sd_vm_two_prod)(VR a, VR b, VR *err)
{
    const VR split = VC(134217729.0, 4097.0f);
    VR ca = a * split, ah = ca - (ca - a), al = a - ah;
    VR cb = b * split, bh = cb - (cb - b), bl = b - bh;
    VR p = a * b;
    *err = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
    return p;
}

/* a + b = s + *err exactly (Knuth's two-sum). */
SD_VM_INLINE VR VM(sd_vm_two_sum)(VR a, VR b, VR *err)
{
    VR s = a + b, bb = s - a;
    *err = (a - (s - bb)) + (b - bb);
    return s;
}

/*
 * e^x and e^x - 1 for x <= 0. x = n ln 2 + r with n = round(x / ln 2)
 * (round to nearest through the magic constant 1.5 2^p, so no float-to-int
 * conversion), ln 2 split in two so that n times the first part and x minus
 * it are exact, |r| <= ln 2 / 2 (plus rounding); e^r - 1 = p(r) by its
 * Taylor polynomial (degree 13 in double, 8 in float: the remainder is below
 * 0.01 ulp); 2^n = 2^n1 2^n2, two normal powers built in the exponent bits,
 * so results in the subnormal range are rounded once. e^x = (1 + p) 2^n1 2^n2
 * and e^x - 1 = (2^n - 1) + 2^n p (exactly p when n = 0). Below -760
 * (double) / -112 (float), where e^x times any factor the activations
 * apply (below 4000) rounds to 0, e^x is 0 (and e^x - 1 is -1).
 * exp_split returns the normal m = (1 + p) 2^n1 and the scale sc = 2^n2
 * apart (e^x = m sc), so that a caller multiplying e^x by other factors
 * rounds into the subnormal range once, at the end (m * (...)) * sc.
 */
SD_VM_INLINE VR VM(sd_vm_exp_split)(VR x, VR *sc, VR *em)
{
    const VR lo = VC(-760.0, -112.0f), magic = VC(0x1.8p52, 0x1.8p23f);
    VU under = VM(sd_vm_lt)(x, lo);
    VR xc = VM(sd_vm_pick)(under, lo, x);
    VR t = xc * VC(1.44269504088896340736, 1.44269504088896341f) + magic;
    VR fn = t - magic;
    /* ln 2 = hi + lo, hi with 32 (double) / 16 (float) significant bits */
    VR r = xc - fn * VC(0x1.62e42fee00000p-1, 0x1.62e4p-1f);
    r = r - fn * VC(1.908214929270587816144e-10, 1.42860682031e-6f);
#if VM_F64
    VR q = 1.605904383682161459939e-10;
    q = q * r + 2.087675698786809897921e-9;
    q = q * r + 2.505210838544171877505e-8;
    q = q * r + 2.755731922398589065256e-7;
    q = q * r + 2.755731922398589065256e-6;
    q = q * r + 2.480158730158730158730e-5;
    q = q * r + 1.984126984126984126984e-4;
#else
    VR q = 2.48015873015873015873e-5f;
    q = q * r + 1.98412698412698412698e-4f;
#endif
    q = q * r + VC(1.388888888888888888889e-3, 1.38888888888888888889e-3f);
    q = q * r + VC(8.333333333333333333333e-3, 8.33333333333333333333e-3f);
    q = q * r + VC(4.166666666666666666667e-2, 4.16666666666666666667e-2f);
    q = q * r + VC(1.666666666666666666667e-1, 1.66666666666666666667e-1f);
    q = q * r + VC(0.5, 0.5f);
    VR p = r + (r * r) * q;
    VR t1 = fn * VC(0.5, 0.5f) + magic;
    VR fn1 = t1 - magic;
    VR t2 = (fn - fn1) + magic;
    VR s1 = VM(sd_vm_real)((VM(sd_vm_bits)(t1) + VM_BIAS) << VM_MBITS);
    VR s2 = VM(sd_vm_real)((VM(sd_vm_bits)(t2) + VM_BIAS) << VM_MBITS);
    VR s = s1 * s2;
    *em = (s - VC(1.0, 1.0f)) + s * p;
    *sc = s2;
    return VM(sd_vm_pick)(under, VC(0.0, 0.0f), (VC(1.0, 1.0f) + p) * s1);
}

/* e^x = exp_split(x) * sc, rounded once. */
SD_VM_INLINE VR VM(sd_vm_exp)(VR x, VR *em)
{
    VR sc, m = VM(sd_vm_exp_split)(x, &sc, em);
    return m * sc;
}

/*
 * ln(1 + y) for 0 <= y <= 1: 1 + y = 2^k (1 + f), k = 1 and f = y / 2 - 1 / 2
 * (exact) for y > sqrt 2 - 1, else k = 0 and f = y; with s = f / (2 + f),
 * ln(1 + f) = 2 atanh s = f - s (f - 2 U), U = s^2 / 3 + s^4 / 5 + ... (10
 * terms in double, 5 in float: |s| <= 0.172 and the remainder is below
 * 0.01 ulp), so the rounding of s only enters through the small s f.
 */
SD_VM_INLINE VR VM(sd_vm_log1p_unit)(VR y)
{
    VU big = VM(sd_vm_lt)(VC(0.4142135623730950488017, 0.414213562373095049f), y);
    VR f = VM(sd_vm_pick)(big, VC(0.5, 0.5f) * y - VC(0.5, 0.5f), y);
    VR k = VM(sd_vm_pick)(big, VC(1.0, 1.0f), VC(0.0, 0.0f));
    VR s = f / (VC(2.0, 2.0f) + f), s2 = s * s;
#if VM_F64
    VR u = 1.0 / 21;
    u = u * s2 + 1.0 / 19;
    u = u * s2 + 1.0 / 17;
    u = u * s2 + 1.0 / 15;
    u = u * s2 + 1.0 / 13;
    u = u * s2 + 1.0 / 11;
#else
    VR u = 1.0f / 11;
#endif
    u = u * s2 + VC(1.0 / 9, 1.0f / 9);
    u = u * s2 + VC(1.0 / 7, 1.0f / 7);
    u = u * s2 + VC(1.0 / 5, 1.0f / 5);
    u = u * s2 + VC(1.0 / 3, 1.0f / 3);
    u = u * s2;
    VR l = f - s * (f - VC(2.0, 2.0f) * u);
    return k * VC(0x1.62e42fee00000p-1, 0x1.62e4p-1f) +
           (l + k * VC(1.908214929270587816144e-10, 1.42860682031e-6f));
}

/*
 * The upper tail Q(|z|) = qn sc and the density phi(z) = pn sc of the
 * standard normal distribution, qn and pn normal and sc a power of two (so
 * Phi(z) = qn sc for z < 0 and 1 - qn sc otherwise).
 * With t = |z|, the upper tail is Q(t) = e^(-t^2 / 2) N(t), N(t) = e^(t^2 / 2)
 * Q(t) smooth and positive on [0, inf), written N = H(y) / (t + 4) with
 * y = 8 / (t + 4) - 1 in (-1, 1] and H a Chebyshev series on [-1, 1]
 * (interpolation at the Chebyshev points, coefficients computed for this
 * library in 50-digit arithmetic: 29 terms in double, 13 in float, then
 * turned into powers of y, whose coefficients' magnitudes sum to 2.01 = H(1),
 * so Horner's rule loses nothing). t^2 is split into h + l exactly (Dekker's product), so the
 * exponent carries no rounding of t^2: e^(-t^2/2) = e^(-h/2) (1 - l/2).
 * t is clamped to 40 (double) / 15 (float), beyond which Q is 0.
 */
#define SD_VM_CLEN(c)                                                                          do {                                                                                           VR bn_ = y2 * b1 - b2 + (c);                                                               b2 = b1;                                                                                   b1 = bn_;                                                                              } while (0)
SD_VM_INLINE void VM(sd_vm_ncdf)(VR z, VR *qn, VR *pn, VR *sc)
{
    const VR kk = VC(4.0, 4.0f), tmax = VC(40.0, 15.0f);
    VR t = VM(sd_vm_abs)(z);
    t = VM(sd_vm_pick)(VM(sd_vm_lt)(tmax, t), tmax, t);
    /* h + l = t^2 exactly */
    VR l, h = VM(sd_vm_two_prod)(t, t, &l);
    VR em;
    VR g = VM(sd_vm_exp_split)(VC(-0.5, -0.5f) * h, sc, &em);
    g = g - g * (VC(0.5, 0.5f) * l);
    /* w = 1 / (t + 4), the sum's rounding error e corrected */
    VR e, s = VM(sd_vm_two_sum)(t, kk, &e);
    VR w = VC(1.0, 1.0f) / s;
    w = w - w * (e / s);
    VR y = VC(8.0, 8.0f) * w - VC(1.0, 1.0f);
#if VM_F64
    VR hh = -2.918348826914361408005e-12;
    hh = hh * y + 4.084135508490618525648e-11;
    hh = hh * y + -2.450280347743326103846e-11;
    hh = hh * y + -3.932279238208837347444e-10;
    hh = hh * y + 5.685451847117496590209e-10;
    hh = hh * y + 1.681695157911197649822e-9;
    hh = hh * y + -4.452832628514400774727e-9;
    hh = hh * y + -2.886066000400230473658e-9;
    hh = hh * y + 2.269178194464742033001e-8;
    hh = hh * y + -1.297232044264548639964e-8;
    hh = hh * y + -8.8267025725624322347e-8;
    hh = hh * y + 1.552133239555020483439e-7;
    hh = hh * y + 2.735007709646074510531e-7;
    hh = hh * y + -0.000001021864739358102345362;
    hh = hh * y + -6.3036184740228467577e-7;
    hh = hh * y + 0.000005920325639298637075658;
    hh = hh * y + 7.168400022142596788836e-7;
    hh = hh * y + -0.00003514472785068945820586;
    hh = hh * y + -0.000001908288169234606853732;
    hh = hh * y + 0.0002310949418773684168574;
    hh = hh * y + 0.0001333443155949307038988;
    hh = hh * y + -0.001630818458191452162923;
    hh = hh * y + -0.003479692367591386853596;
    hh = hh * y + 0.007540188966753461336996;
    hh = hh * y + 0.06039657489094266344567;
    hh = hh * y + 0.1865218579596568226696;
    hh = hh * y + 0.3871374007422144734025;
    hh = hh * y + 0.607896641971892108094;
    hh = hh * y + 0.7552851304157514933674;
#else
    VR hh = -2.107076856489783240849e-7f;
    hh = hh * y + -0.00002115047754981811379337f;
    hh = hh * y + -0.000001099902594638931794943f;
    hh = hh * y + 0.0002154840467540025596301f;
    hh = hh * y + 0.0001329446293223163315579f;
    hh = hh * y + -0.001621949952739596287227f;
    hh = hh * y + -0.003479588007569013668943f;
    hh = hh * y + 0.007537677477381822746743f;
    hh = hh * y + 0.06039656262041474755204f;
    hh = hh * y + 0.18652216698412960594f;
    hh = hh * y + 0.3871374011695989467813f;
    hh = hh * y + 0.6078966310048657220486f;
    hh = hh * y + 0.7552851304157514933674f;
#endif
    *qn = g * (w * hh);
    *pn = g * VC(0.3989422804014326779399, 0.398942280401432678f);
}

#undef VR
#undef VU
#undef VM
#undef VC
#undef VM_SHIFT
#undef VM_MBITS
#undef VM_BIAS
#undef VM_ABS
#undef VM_INF
