/*
 * Elementwise kernels of the activations (private): e^x and e^x - 1 for
 * x <= 0, ln(1 + y) for y in [0, 1], the normal distribution function and
 * density, and the bitwise selections they are built from, in double
 * (suffix _d) and float (suffix _f). Written for this library (range
 * reductions and series from the textbook identities, the normal tail's
 * Chebyshev coefficients computed for it); no libm call, so a loop calling
 * them vectorises and the results are the same bits on every CPU of a
 * build's target, in the vector body and the scalar remainder alike. A
 * build that contracts a*b+c into FMAs changes last bits, the same way in
 * every loop of that build. Their errors are measured through the
 * activations (act.h states the bounds, tests/test_act.c checks them).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SD_VMATH_H
#define SD_VMATH_H

#include <stdint.h>
#include <string.h>

/* No contraction into FMAs here (clang; GCC's is set per kernel, act.h): the
 * bits must not depend on the processor's instruction set. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* Inlined always: a call left in a loop (GCC at -O2 leaves the larger
 * ones) keeps it from vectorising. */
#if defined(__GNUC__) || defined(__clang__)
#define SD_VM_INLINE static inline __attribute__((always_inline))
#else
#define SD_VM_INLINE static inline
#endif

#define VM_F64 1
#include "vmath_impl.h"
#undef VM_F64
#define VM_F64 0
#include "vmath_impl.h"
#undef VM_F64

#endif /* SD_VMATH_H */
