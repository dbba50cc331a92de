/*
 * What every fuzz target shares: the libFuzzer entry point's declaration and
 * the checksum fix-up of the "-crc" variants.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SD_FUZZ_H
#define SD_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* One input: returns 0 (libFuzzer's contract); a broken invariant aborts. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A malloc'd copy of `data` (at least one byte, so an empty input still has
 * an address) whose container header states its true size and whose CRC-32C
 * trailer is recomputed: mutations then reach the section parsers instead of
 * stopping at the checksum. Inputs shorter than a header are copied as they are. */
uint8_t *fuzz_sealed_copy(const uint8_t *data, size_t size);

/* abort() with a message when `ok` is false: a broken invariant is a finding. */
void fuzz_require(int ok, const char *what, int status);

#endif /* SD_FUZZ_H */
