/**
 * @file
 * libscoresde: the counter-based random number generator.
 *
 * All randomness in the library comes from Philox4x32-10 (Salmon, Moraes,
 * Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC 2011).
 * A draw is a pure function of (seed, stream, offset): there is no generator
 * state, so results never depend on batch size, chunking or thread count.
 *
 * Layout of a stream: element k of stream s under seed S comes from the Philox
 * block with key {S mod 2^32, S >> 32} and counter
 * {b mod 2^32, b >> 32, s mod 2^32, s >> 32}, where b = k / 2; the four output
 * words w0..w3 of the block give two uniforms
 *     u_a = ((w0 >> 5) * 2^26 + (w1 >> 6) + 0.5) * 2^-53    (lane 0)
 *     u_b = ((w2 >> 5) * 2^26 + (w3 >> 6) + 0.5) * 2^-53    (lane 1)
 * in the open interval (0, 1) (evaluated in double: the sum rounds to even
 * above 2^52, so the one largest integer, 2^53 - 1, gives exactly 1), and
 * two standard normals by Box-Muller,
 *     r = sqrt(-2 ln u_a),  lane 0: r cos(2 pi u_b),  lane 1: r sin(2 pi u_b),
 * with the library's own ln, cos and sin (since 1.1): polynomials evaluated
 * with IEEE double additions, multiplications, divisions and square roots,
 * never contracted into fused multiply-adds (lib/core/rng.c gives them;
 * docs/guide/08-reproducibility.md describes them). ln u_a is within 1 ulp
 * of the exact value, cos and sin of 2 pi u_b within 1.5 ulps (the angle is
 * reduced exactly, from u_b), each normal within 3 ulps of the exact
 * Box-Muller value of u_a and u_b. Every element is therefore the same bits
 * on every processor and with every compiler that evaluates double in double
 * (FLT_EVAL_METHOD 0: x86-64, aarch64, ...), like the uniforms. 1.0.0 used
 * the C library's log, cos and sin (of the rounded angle 2 pi u_b), whose last
 * bits vary between C libraries: its normals differ from these in the last
 * bits, and whatever is computed from them (samples, losses, a new model's
 * initial weights) differs accordingly (docs/abi-policy.md, "Random streams").
 *
 * How the library uses it: the noise of sample i of a run is stream i; the top
 * eight bits of the offset name the purpose of the draw (scoresde_rng_purpose_t)
 * and the low 56 bits count draws within that purpose. Each function that draws
 * noise documents its offsets, so a caller can reproduce any draw.
 *
 * All functions here are thread-safe.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SCORESDE_RNG_H
#define SCORESDE_RNG_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The purpose tags the library puts in the top 8 bits of an offset. */
typedef enum scoresde_rng_purpose_t {
    SCORESDE_RNG_PERTURB = 1,  /**< forward perturbation noise z in x_t = alpha x_0 + sigma z */
    SCORESDE_RNG_PRIOR = 2,    /**< draws from the prior at time T */
    SCORESDE_RNG_SIMULATE = 3, /**< Brownian increments of forward simulation */
    SCORESDE_RNG_TIME = 4,     /**< random times or noise levels (losses) */
    SCORESDE_RNG_PROBE = 5,    /**< probe vectors (sliced losses, Hutchinson traces) */
    SCORESDE_RNG_SAMPLER = 6,  /**< noise of reverse-time samplers */
    SCORESDE_RNG_MODEL = 7,    /**< mixture component choices, parameter initialisation */
    SCORESDE_RNG_BATCH = 8,    /**< minibatch selection in training */
    SCORESDE_RNG_INPAINT = 9,    /**< replacement noise of inpainting */
    SCORESDE_RNG_COND_DROP = 10, /**< condition dropout in training (1.1) */
    SCORESDE_RNG_BOUND = 11,     /**< times, noise and dequantisation of the likelihood bound */
    SCORESDE_RNG_SUPPORT = 12    /**< seeds of the redraws of samples outside the prior's support (1.1) */
} scoresde_rng_purpose_t;

/** The offset of draw k (k < 2^56) for a purpose: (purpose << 56) | k. */
#define SCORESDE_RNG_OFFSET(purpose, k) \
    (((uint64_t)(purpose) << 56) | ((uint64_t)(k) & ((UINT64_C(1) << 56) - 1)))

/**
 * The raw Philox4x32-10 block function: out = Philox(counter, key).
 * Matches the Random123 known-answer vectors.
 */
SCORESDE_API void scoresde_philox4x32_10(const uint32_t counter[4], const uint32_t key[2],
                                         uint32_t out[4]);

/**
 * Write elements offset .. offset+n-1 of stream `stream` under `seed` as
 * uniform doubles in (0, 1) (layout above).
 * Returns SCORESDE_OK, or SCORESDE_EINVAL if out is NULL while n > 0.
 */
SCORESDE_API int scoresde_rng_uniform(uint64_t seed, uint64_t stream, uint64_t offset,
                                      size_t n, double *out);

/**
 * Write elements offset .. offset+n-1 of stream `stream` under `seed` as
 * standard normal doubles (layout above).
 * Returns SCORESDE_OK, or SCORESDE_EINVAL if out is NULL while n > 0.
 */
SCORESDE_API int scoresde_rng_normal(uint64_t seed, uint64_t stream, uint64_t offset,
                                     size_t n, double *out);

#ifdef __cplusplus
}
#endif

#endif /* SCORESDE_RNG_H */
