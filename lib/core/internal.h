/*
 * Helpers shared by the library's modules; never installed.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SD_INTERNAL_H
#define SD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scoresde.h"

/* Record a detailed message for the calling thread and return `code`. */
int sd_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Allocation through the process-wide allocator. Blocks are 64-byte aligned.
 * On failure, NULL is returned and the ENOMEM message is recorded.
 * sd_calloc checks n * size for overflow and zeroes the block. */
void *sd_malloc(size_t size);
void *sd_calloc(size_t n, size_t size);
void sd_free(void *ptr);

/* Argument checks that record a message naming the argument. Each returns
 * SCORESDE_OK or the error code. `what` is the name the message uses. */
int sd_check_ptr(const void *ptr, const char *what);
int sd_check_size(size_t value, const char *what);      /* value > 0 */
int sd_check_batch(const void *ptr, size_t n, size_t dim, const char *what);
int sd_check_finite(const double *x, size_t count, const char *what);

/* An input array of a x b doubles (a, b > 0): as sd_check_batch (its byte
 * size fits in size_t, checked before any element is read; not NULL), and
 * every value is finite. The message names `what` and the first bad index. */
int sd_check_doubles(const double *x, size_t a, size_t b, const char *what);

/* a x b for an array of doubles into *count, or EINVAL recorded (naming
 * `what`) if the count or its byte size overflows size_t. */
int sd_doubles_count(size_t a, size_t b, size_t *count, const char *what);

/* Random draws of one purpose: draw + count x per (count named `what` in the
 * message) must not exceed the 2^56 offsets of a purpose
 * (SCORESDE_RNG_OFFSET), or later draws would wrap into the next purpose. */
int sd_check_draws(uint64_t draw, uint64_t count, uint64_t per, const char *what);

/* n * D for a batch, or 0 with EINVAL recorded if it overflows. */
int sd_mul_size(size_t a, size_t b, size_t *out, const char *what);

/* Versioned structs (common.h). An input struct's struct_size must lie in
 * [first, current]: `first` is the size of the first released layout (the
 * end of its last field), `current` this library's sizeof; the fields beyond
 * the caller's size take their defaults. An output struct needs only
 * size >= first: sd_write_struct_out copies the fields both sides know and
 * zeroes the caller's bytes beyond this library's layout. `what` names the
 * argument in the message. */
int sd_check_struct_in(size_t size, size_t first, size_t current, const char *what);
int sd_check_struct_out(size_t size, size_t first, const char *what);
void sd_write_struct_out(void *dst, size_t dst_size, const void *src, size_t src_size);

/* The end of a struct's field: the struct_size of the layout that ends there. */
#define SD_STRUCT_END(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

/* The smallest double that rounds (to nearest) to float32 infinity, FLT_MAX
 * plus half an ulp: float32 storage holds the finite doubles below it in
 * magnitude (rounded), and none from it on. */
#define SD_FLOAT32_LIMIT 0x1.ffffffp127

/* Uniform (0,1) and standard normal fills, as scoresde_rng_* without checks. */
void sd_rng_uniform(uint64_t seed, uint64_t stream, uint64_t offset, size_t n, double *out);
void sd_rng_normal(uint64_t seed, uint64_t stream, uint64_t offset, size_t n, double *out);

/* The normals' own ln u for u in [2^-54, 1], and sin(2 pi u), cos(2 pi u)
 * for u in [0, 1] (rng.c), as the streams evaluate them; their largest
 * errors in ulps of the exact result, which tests/test_rng_accuracy.c
 * measures over the whole range. */
double sd_rng_log(double u);
void sd_rng_sincos_2pi(double u, double *sn, double *cs);
#define SD_RNG_LOG_MAX_ULP 1.0
#define SD_RNG_SIN_MAX_ULP 1.5
#define SD_RNG_COS_MAX_ULP 1.5
/* ... and of a normal, sqrt(-2 ln u_a) cos(2 pi u_b) or sin, in ulps of the
 * exact value from the same uniforms. */
#define SD_RNG_NORMAL_MAX_ULP 3.0

/* Return `code` from the enclosing function if the expression fails. */
#define SD_TRY(expr)                  \
    do {                              \
        int sd_try_rc_ = (expr);      \
        if (sd_try_rc_ != SCORESDE_OK) \
            return sd_try_rc_;        \
    } while (0)

#endif /* SD_INTERNAL_H */
