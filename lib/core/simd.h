/*
 * Vectorisation requests shared by the library's elementwise kernels
 * (private): the activations (lib/nn/act.h, act_pass.h), the networks'
 * passes, and the random number generator (lib/core/rng.c).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SD_SIMD_H
#define SD_SIMD_H

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

/* SD_NO_CONTRACT keeps GCC from contracting a * b + c into an FMA in a
 * function (GCC's C default is -ffp-contract=fast wherever the target has
 * FMAs: the AVX-512F clones below, aarch64, ...), so its results are the
 * bits of the IEEE operations as written on every processor. Clang
 * contracts only within one expression by default; a file that must not
 * contract at all says `#pragma STDC FP_CONTRACT OFF` under clang (act.h,
 * vmath.h, rng.c). */
#if defined(__GNUC__) && !defined(__clang__)
#define SD_NO_CONTRACT __attribute__((optimize("fp-contract=off")))
#else
#define SD_NO_CONTRACT
#endif

/* SD_CLONES compiles an elementwise kernel for AVX-512F, AVX2 and the
 * baseline of x86-64, the loader picking the widest the processor has
 * (GCC's target_clones; an ifunc). Each clone runs the same IEEE operations
 * on wider vectors with contraction into FMAs (which AVX-512F has) off, so
 * every clone gives the bits of the baseline and results stay the same on
 * every processor. Clang builds compile the kernels once for the baseline
 * (clang 14 gives a static function's clones a global resolver, so the two
 * networks' kernels of one name collide at link time); with
 * SD_NO_TARGET_CLONES, GCC's too. Either way SD_CLONES includes
 * SD_NO_CONTRACT. */
#if defined(__x86_64__) && defined(__ELF__) && defined(__GNUC__) && !defined(__clang__) &&   \
    !defined(SD_NO_TARGET_CLONES) && __GNUC__ >= 8
#define SD_CLONES __attribute__((target_clones("avx512f", "avx2", "default"))) SD_NO_CONTRACT
#else
#define SD_CLONES SD_NO_CONTRACT
#endif

#endif /* SD_SIMD_H */
