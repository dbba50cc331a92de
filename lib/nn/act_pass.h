/*
 * The elementwise activation passes of a network layer, instantiated in each
 * network's precision template (mlp_impl.h, resmlp_impl.h) after it defines
 * R, F(name) and R_IS_F64. No include guard: included once per
 * instantiation. The activations' formulas and errors are in act.h.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "act.h"

#if R_IS_F64
#define SD_VM(name) name##_d
#define SD_VC(d, f) d
#else
#define SD_VM(name) name##_f
#define SD_VC(d, f) f
#endif

/*
 * The activation pass of one hidden layer on one block of r rows: Z holds the
 * GEMM result (z without bias; in tangent mode followed by r rows of u = t W^T).
 * It leaves h = act(z + b) in the first r rows, act'(z) in D (D NULL, outside
 * tangent mode: a pass that keeps no backward state, which then neither
 * computes nor stores act'; h has the same bits) and, in tangent
 * mode, t = act'(z) u in the next r rows and E = u act''(z). CODE computes
 * a = act(z), d = act'(z), s2 = act''(z) from z; the compiler drops s2 where
 * it is not used. The pass runs on the calling thread: the engines share a
 * call's rows among threads (split.h), and rows are independent. Every CODE
 * is plain arithmetic and bit selection (no libm),
 * so each loop is vectorised (SD_SIMD; elementwise, so no bit changes), and
 * with GCC each row's kernel is compiled for AVX-512F, AVX2 and the
 * baseline, the processor choosing at load time (SD_ACT_CLONES, act.h): the
 * same IEEE operations at other vector widths, with no contraction into
 * FMAs, so the same bits on every processor. The bias is added here, in the same pass
 * over the GEMM's result (the fused bias + activation). With EP not NULL (the residual
 * network's embedding projection: row i at EP + i ld_ep, its bias pb), the primal rows
 * then get h += EP_i + pb while they are hot, the arithmetic of a separate pass.
 */
#define SD_ACT_DEFINE_PASS(NAME, CODE)                                                     \
    SD_ACT_CLONES static void F(NAME##_row)(int tangent, size_t w, R *restrict zr,        \
                                            const R *restrict bias, R *restrict dr,       \
                                            R *restrict ur, R *restrict er,               \
                                            const R *restrict ep, const R *restrict pb)   \
    {                                                                                      \
        if (!tangent && !dr) {                                                             \
            SD_SIMD                                                                        \
            for (size_t j = 0; j < w; j++) {                                               \
                R z = zr[j] + bias[j], a, d, s2;                                           \
                CODE;                                                                      \
                (void)d;                                                                   \
                (void)s2;                                                                  \
                zr[j] = a;                                                                 \
            }                                                                              \
        } else if (!tangent) {                                                             \
            SD_SIMD                                                                        \
            for (size_t j = 0; j < w; j++) {                                               \
                R z = zr[j] + bias[j], a, d, s2;                                           \
                CODE;                                                                      \
                (void)s2;                                                                  \
                zr[j] = a;                                                                 \
                dr[j] = d;                                                                 \
            }                                                                              \
        } else {                                                                           \
            SD_SIMD                                                                        \
            for (size_t j = 0; j < w; j++) {                                               \
                R z = zr[j] + bias[j], a, d, s2;                                           \
                CODE;                                                                      \
                R u = ur[j];                                                               \
                zr[j] = a;                                                                 \
                dr[j] = d;                                                                 \
                ur[j] = d * u;                                                             \
                er[j] = u * s2;                                                            \
            }                                                                              \
        }                                                                                  \
        if (ep) {                                                                          \
            SD_SIMD                                                                        \
            for (size_t j = 0; j < w; j++)                                                 \
                zr[j] += ep[j] + pb[j];                                                    \
        }                                                                                  \
    }                                                                                      \
    static void F(NAME)(int tangent, size_t r, size_t w, R *restrict Z,                   \
                        const R *restrict bias, R *restrict D, R *restrict E,             \
                        const R *restrict EP, size_t ld_ep, const R *restrict pb)         \
    {                                                                                      \
        for (size_t i = 0; i < r; i++)                                                     \
            F(NAME##_row)(tangent, w, Z + i * w, bias, D ? D + i * w : NULL,               \
                          tangent ? Z + (r + i) * w : NULL, tangent ? E + i * w : NULL,    \
                          EP ? EP + i * ld_ep : NULL, pb);                                 \
    }

SD_ACT_DEFINE_PASS(pass_silu, SD_ACT_CODE_SILU)
SD_ACT_DEFINE_PASS(pass_relu, SD_ACT_CODE_RELU)
SD_ACT_DEFINE_PASS(pass_tanh, SD_ACT_CODE_TANH)
SD_ACT_DEFINE_PASS(pass_softplus, SD_ACT_CODE_SOFTPLUS)
SD_ACT_DEFINE_PASS(pass_gelu_tanh, SD_ACT_CODE_GELU_TANH)
SD_ACT_DEFINE_PASS(pass_gelu, SD_ACT_CODE_GELU)

/* The activation pass with the residual network's embedding added (EP, ld_ep, pb as
 * in the pass above; EP NULL for none). */
static void F(activate_add)(sd_act act, int tangent, size_t r, size_t w, R *Z, const R *bias,
                            R *D, R *E, const R *EP, size_t ld_ep, const R *pb)
{
    switch (act) {
    case SD_ACT_RELU: F(pass_relu)(tangent, r, w, Z, bias, D, E, EP, ld_ep, pb); break;
    case SD_ACT_TANH: F(pass_tanh)(tangent, r, w, Z, bias, D, E, EP, ld_ep, pb); break;
    case SD_ACT_SOFTPLUS:
        F(pass_softplus)(tangent, r, w, Z, bias, D, E, EP, ld_ep, pb);
        break;
    case SD_ACT_GELU_TANH:
        F(pass_gelu_tanh)(tangent, r, w, Z, bias, D, E, EP, ld_ep, pb);
        break;
    case SD_ACT_GELU: F(pass_gelu)(tangent, r, w, Z, bias, D, E, EP, ld_ep, pb); break;
    case SD_ACT_SILU:
    default: F(pass_silu)(tangent, r, w, Z, bias, D, E, EP, ld_ep, pb); break;
    }
}

static inline void F(activate)(sd_act act, int tangent, size_t r, size_t w, R *Z,
                               const R *bias, R *D, R *E)
{
    F(activate_add)(act, tangent, r, w, Z, bias, D, E, NULL, 0, NULL);
}

/* Tangent rows times act' (Dv, r rows): T rows at Z + r w. */
static inline void F(times_act_prime)(size_t r, size_t T, size_t w, R *Z, const R *Dv)
{
    R *Zt = Z + r * w;
    for (size_t q = 0; q < T; q++) {
        R *restrict ur = Zt + q * w;
        const R *restrict dr = Dv + (q % r) * w;
        SD_SIMD
        for (size_t j = 0; j < w; j++)
            ur[j] = dr[j] * ur[j];
    }
}

#undef SD_ACT_DEFINE_PASS
#undef SD_VM
#undef SD_VC
