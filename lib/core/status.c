/*
 * Status texts and the thread-local detailed message.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "simd.h"

static _Thread_local char last_message[512];

const char *scoresde_strerror(int status)
{
    switch (status) {
    case SCORESDE_OK: return "success";
    case SCORESDE_EINVAL: return "invalid argument";
    case SCORESDE_ENOMEM: return "out of memory";
    case SCORESDE_EDIM: return "dimension mismatch";
    case SCORESDE_ENUMERIC: return "numeric failure (NaN or Inf)";
    case SCORESDE_ECALLBACK: return "stopped by a callback";
    case SCORESDE_EIO: return "input/output error";
    case SCORESDE_ECORRUPT: return "corrupt or truncated data";
    case SCORESDE_EVERSION: return "unsupported format version";
    case SCORESDE_EUNSUPPORTED: return "operation not supported";
    case SCORESDE_EBUSY: return "resource busy";
    default: return "unknown status";
    }
}

const char *scoresde_last_error(void)
{
    return last_message;
}

int sd_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    return code;
}

int sd_check_ptr(const void *ptr, const char *what)
{
    if (ptr == NULL)
        return sd_fail(SCORESDE_EINVAL, "%s is NULL", what);
    return SCORESDE_OK;
}

int sd_check_size(size_t value, const char *what)
{
    if (value == 0)
        return sd_fail(SCORESDE_EINVAL, "%s is zero", what);
    return SCORESDE_OK;
}

int sd_mul_size(size_t a, size_t b, size_t *out, const char *what)
{
    if (b != 0 && a > SIZE_MAX / b) {
        *out = 0;
        return sd_fail(SCORESDE_EINVAL, "%s: %zu x %zu overflows size_t", what, a, b);
    }
    *out = a * b;
    return SCORESDE_OK;
}

int sd_check_draws(uint64_t draw, uint64_t count, uint64_t per, const char *what)
{
    const uint64_t limit = UINT64_C(1) << 56;
    if (draw >= limit || (per != 0 && count > (limit - draw) / per))
        return sd_fail(SCORESDE_EINVAL,
                       "draw (%llu) + %s (%llu) x %llu exceeds the 2^56 draws of a purpose",
                       (unsigned long long)draw, what, (unsigned long long)count,
                       (unsigned long long)per);
    return SCORESDE_OK;
}

int sd_doubles_count(size_t a, size_t b, size_t *count, const char *what)
{
    SD_TRY(sd_mul_size(a, b, count, what));
    if (*count > SIZE_MAX / sizeof(double)) {
        *count = 0;
        return sd_fail(SCORESDE_EINVAL, "%s: %zu x %zu doubles overflow size_t", what, a, b);
    }
    return SCORESDE_OK;
}

int sd_check_batch(const void *ptr, size_t n, size_t dim, const char *what)
{
    size_t count;
    if (n == 0)
        return sd_fail(SCORESDE_EINVAL, "%s: the batch size n is zero", what);
    if (dim == 0)
        return sd_fail(SCORESDE_EINVAL, "%s: the dimension D is zero", what);
    SD_TRY(sd_doubles_count(n, dim, &count, what));
    return sd_check_ptr(ptr, what);
}

int sd_check_doubles(const double *x, size_t a, size_t b, const char *what)
{
    SD_TRY(sd_check_batch(x, a, b, what));
    return sd_check_finite(x, a * b, what);
}

/* The start of the first block of eight entries of x[0..count) holding an
 * Inf or a NaN (exponent bits all set), or the start of the last partial
 * block: each block is tested with no early exit, which the compiler turns
 * into vector compares and an OR. The entry points check every array they
 * are given, a few times per sampler step, so the branchy scalar test was a
 * visible share of a sampling run. */
SD_CLONES static size_t finite_blocks(const double *x, size_t count)
{
    const uint64_t exponent = UINT64_C(0x7ff0000000000000);
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        uint64_t bad = 0;
        for (int j = 0; j < 8; j++) {
            uint64_t bits;
            memcpy(&bits, &x[i + j], sizeof bits);
            bad |= (uint64_t)((bits & exponent) == exponent);
        }
        if (bad)
            break;
    }
    return i;
}

int sd_check_finite(const double *x, size_t count, const char *what)
{
    for (size_t i = finite_blocks(x, count); i < count; i++)
        if (!isfinite(x[i]))
            return sd_fail(SCORESDE_EINVAL, "%s[%zu] is not finite (%g)", what, i, x[i]);
    return SCORESDE_OK;
}

int sd_check_struct_in(size_t size, size_t first, size_t current, const char *what)
{
    if (size < first)
        return sd_fail(SCORESDE_EINVAL,
                       "%s->struct_size (%zu) is smaller than the first released layout (%zu)",
                       what, size, first);
    if (size > current)
        return sd_fail(SCORESDE_EINVAL,
                       "%s->struct_size (%zu) is larger than this library's layout (%zu): the "
                       "program was built against a newer libscoresde",
                       what, size, current);
    return SCORESDE_OK;
}

int sd_check_struct_out(size_t size, size_t first, const char *what)
{
    if (size < first)
        return sd_fail(SCORESDE_EINVAL,
                       "%s->struct_size (%zu) is smaller than the first released layout (%zu)",
                       what, size, first);
    return SCORESDE_OK;
}

void sd_write_struct_out(void *dst, size_t dst_size, const void *src, size_t src_size)
{
    /* The leading struct_size field is the caller's and stays as it is. */
    size_t head = sizeof(size_t);
    size_t common = dst_size < src_size ? dst_size : src_size;
    if (common > head)
        memcpy((char *)dst + head, (const char *)src + head, common - head);
    if (dst_size > common)
        memset((char *)dst + common, 0, dst_size - common);
}
