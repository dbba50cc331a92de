/*
 * Philox4x32-10 and the uniform and normal streams built on it (see rng.h).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>

#include "internal.h"

#define PHILOX_M0 UINT32_C(0xD2511F53)
#define PHILOX_M1 UINT32_C(0xCD9E8D57)
#define PHILOX_W0 UINT32_C(0x9E3779B9)
#define PHILOX_W1 UINT32_C(0xBB67AE85)

static inline void philox_block(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                                uint32_t k0, uint32_t k1, uint32_t out[4])
{
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

void scoresde_philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4])
{
    philox_block(counter[0], counter[1], counter[2], counter[3], key[0], key[1], out);
}

static inline double to_open_unit(uint32_t hi, uint32_t lo)
{
    uint64_t bits = ((uint64_t)(hi >> 5) << 26) | (lo >> 6);
    return ((double)bits + 0.5) * 0x1p-53;
}

static inline void stream_block(uint64_t seed, uint64_t stream, uint64_t block, uint32_t w[4])
{
    philox_block((uint32_t)block, (uint32_t)(block >> 32), (uint32_t)stream,
                 (uint32_t)(stream >> 32), (uint32_t)seed, (uint32_t)(seed >> 32), w);
}

void sd_rng_uniform(uint64_t seed, uint64_t stream, uint64_t offset, size_t n, double *out)
{
    uint32_t w[4];
    for (size_t j = 0; j < n; j++) {
        uint64_t k = offset + j;
        if (j == 0 || k % 2 == 0)
            stream_block(seed, stream, k / 2, w);
        out[j] = k % 2 == 0 ? to_open_unit(w[0], w[1]) : to_open_unit(w[2], w[3]);
    }
}

void sd_rng_normal(uint64_t seed, uint64_t stream, uint64_t offset, size_t n, double *out)
{
    uint32_t w[4];
    double r = 0.0, angle = 0.0;
    for (size_t j = 0; j < n; j++) {
        uint64_t k = offset + j;
        if (j == 0 || k % 2 == 0) {
            stream_block(seed, stream, k / 2, w);
            r = sqrt(-2.0 * log(to_open_unit(w[0], w[1])));
            angle = 2.0 * M_PI * to_open_unit(w[2], w[3]);
        }
        out[j] = k % 2 == 0 ? r * cos(angle) : r * sin(angle);
    }
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
