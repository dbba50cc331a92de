/*
 * Helpers of the fuzz targets (fuzz.h).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"
#include "scoresde.h"

/* The header's file-size field (docs/file-format.md). */
enum { FILE_SIZE_OFFSET = 16 };

uint8_t *fuzz_sealed_copy(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size > 0 ? size : 1);
    if (copy == NULL)
        abort();
    if (size > 0)
        memcpy(copy, data, size);
    if (size < SD_CONTAINER_HEADER_SIZE + SD_CONTAINER_TRAILER_SIZE)
        return copy;
    for (int i = 0; i < 8; i++)
        copy[FILE_SIZE_OFFSET + i] = (uint8_t)((uint64_t)size >> (8 * i));
    uint32_t crc = sd_crc32c(0, copy, size - SD_CONTAINER_TRAILER_SIZE);
    for (int i = 0; i < 4; i++)
        copy[size - SD_CONTAINER_TRAILER_SIZE + i] = (uint8_t)(crc >> (8 * i));
    return copy;
}

void fuzz_require(int ok, const char *what, int status)
{
    if (ok)
        return;
    fprintf(stderr, "fuzz invariant broken: %s (status %d: %s)\n", what, status,
            scoresde_last_error());
    abort();
}
