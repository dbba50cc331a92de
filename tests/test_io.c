/*
 * The file layer: CRC-32C, writers and readers, atomic saves, the container.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "io.h"
#include "testutil.h"

#include "crc32c_table.h"

/* The reference: the definition of the reflected CRC, one bit at a time. */
static uint32_t crc32c_bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return ~c;
}

/* A heap copy of exactly n bytes, so AddressSanitizer sees any read past it. */
static uint8_t *exact_copy(const uint8_t *p, size_t n)
{
    uint8_t *q = malloc(n > 0 ? n : 1);
    ck_assert_ptr_nonnull(q);
    if (n > 0)
        memcpy(q, p, n);
    return q;
}

/* ------------------------------------------------------------------------ */
/* CRC-32C */

START_TEST(crc32c_known_answers)
{
    /* The standard check value, and the test vectors of RFC 3720 (iSCSI),
     * appendix B.4. */
    ck_assert_uint_eq(sd_crc32c(0, "123456789", 9), 0xE3069283u);
    ck_assert_uint_eq(sd_crc32c(0, NULL, 0), 0);
    ck_assert_uint_eq(sd_crc32c(0, "a", 1), 0xC1D04330u);
    uint8_t buf[48];
    memset(buf, 0, 32);
    ck_assert_uint_eq(sd_crc32c(0, buf, 32), 0x8A9136AAu);
    memset(buf, 0xFF, 32);
    ck_assert_uint_eq(sd_crc32c(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    ck_assert_uint_eq(sd_crc32c(0, buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)(31 - i);
    ck_assert_uint_eq(sd_crc32c(0, buf, 32), 0x113FDB5Cu);
    static const uint8_t pdu[48] = {
        0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
        0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    ck_assert_uint_eq(sd_crc32c(0, pdu, sizeof pdu), 0xD9963A56u);
}
END_TEST

START_TEST(crc32c_tables_match_definition)
{
    /* table[k][n] is the raw register after byte n and k zero bytes. */
    for (unsigned n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) {
            for (int b = 0; b < 8; b++)
                c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            ck_assert_uint_eq(sd_crc32c_table[k][n], c);
        }
    }
}
END_TEST

START_TEST(crc32c_slicing_matches_bitwise_and_chains)
{
    /* Every length up to 300 at every alignment modulo 8 exercises the
     * 8-byte loop, the tail loop and their junction. */
    uint8_t buf[320];
    uint64_t state = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < sizeof buf; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        buf[i] = (uint8_t)(state >> 56);
    }
    for (size_t off = 0; off < 8; off++)
        for (size_t n = 0; n <= 300; n++)
            ck_assert_uint_eq(sd_crc32c(0, buf + off, n), crc32c_bitwise(buf + off, n));
    /* A CRC continued over a split equals the CRC of the whole. */
    uint32_t whole = sd_crc32c(0, buf, 300);
    for (size_t k = 0; k <= 300; k++)
        ck_assert_uint_eq(sd_crc32c(sd_crc32c(0, buf, k), buf + k, 300 - k), whole);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Writer and reader */

START_TEST(writer_encodes_little_endian)
{
    sd_writer w;
    sd_writer_init(&w);
    sd_writer_put_u8(&w, 0xAB);
    sd_writer_put_u32(&w, 0x01020304u);
    sd_writer_put_u64(&w, 0x0102030405060708ull);
    sd_writer_put_f64(&w, 1.0);  /* 0x3FF0000000000000 */
    sd_writer_put_f32(&w, -2.0f); /* 0xC0000000 */
    sd_writer_put_string(&w, "hi", 2);
    ck_assert_int_eq(sd_writer_status(&w), SCORESDE_OK);
    static const uint8_t expect[] = {0xAB, 4, 3, 2, 1, 8, 7, 6, 5, 4, 3, 2, 1,
                                     0, 0, 0, 0, 0, 0, 0xF0, 0x3F, 0, 0, 0, 0xC0,
                                     2, 0, 0, 0, 0, 0, 0, 0, 'h', 'i'};
    ck_assert_uint_eq(w.size, sizeof expect);
    ck_assert_mem_eq(w.data, expect, sizeof expect);
    ck_assert_int_eq(sd_writer_patch_u32(&w, 1, 0xDEADBEEFu), SCORESDE_OK);
    ck_assert_uint_eq(w.data[1], 0xEF);
    ck_assert_uint_eq(w.data[4], 0xDE);
    ck_assert_int_eq(sd_writer_patch_u64(&w, 5, 42), SCORESDE_OK);
    ck_assert_uint_eq(w.data[5], 42);
    /* A patch must lie inside what was written. */
    ck_assert_int_eq(sd_writer_patch_u64(&w, w.size - 7, 1), SCORESDE_EINVAL);
    ck_assert(test_contains(scoresde_last_error(), "cannot patch 8 bytes"));
    sd_writer_free(&w);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

START_TEST(writer_reader_round_trip_every_type)
{
    const double f64s[] = {0.0, -0.0, 1.0 / 3.0, -1e308, 4.9e-324 /* subnormal */,
                           INFINITY, -INFINITY, NAN};
    const float f32s[] = {0.0f, -0.0f, 1.0f / 3.0f, 3.4e38f, 1.4e-45f, INFINITY, NAN};
    const uint32_t u32s[] = {0, 1, 0x80000000u, UINT32_MAX};
    const uint64_t u64s[] = {0, 1, 0x8000000000000000ull, UINT64_MAX};

    sd_writer w;
    sd_writer_init(&w);
    sd_writer_put_u8(&w, 0);
    sd_writer_put_u8(&w, 255);
    for (size_t i = 0; i < 4; i++) {
        sd_writer_put_u32(&w, u32s[i]);
        sd_writer_put_u64(&w, u64s[i]);
    }
    sd_writer_put_i64(&w, INT64_MIN);
    sd_writer_put_i64(&w, -1);
    for (size_t i = 0; i < 8; i++)
        sd_writer_put_f64(&w, f64s[i]);
    for (size_t i = 0; i < 7; i++)
        sd_writer_put_f32(&w, f32s[i]);
    sd_writer_put_u32_array(&w, u32s, 4);
    sd_writer_put_u64_array(&w, u64s, 4);
    sd_writer_put_f64_array(&w, f64s, 8);
    sd_writer_put_f32_array(&w, f32s, 7);
    sd_writer_put_f64_array(&w, NULL, 0);
    sd_writer_put_bytes(&w, "raw", 3);
    sd_writer_put_string(&w, "a string", 8);
    sd_writer_put_string(&w, "", 0);
    /* Enough bytes to make the buffer grow several times. */
    for (int i = 0; i < 1000; i++)
        sd_writer_put_u32(&w, (uint32_t)i * 2654435761u);
    uint8_t *buf;
    size_t size;
    ck_assert_int_eq(sd_writer_take(&w, &buf, &size), SCORESDE_OK);
    ck_assert_ptr_null(w.data);
    uint8_t *copy = exact_copy(buf, size);
    sd_free(buf);

    sd_reader r;
    sd_reader_init(&r, copy, size);
    uint8_t b;
    uint32_t u32;
    uint64_t u64;
    int64_t i64;
    double d;
    float f;
    ck_assert_int_eq(sd_reader_get_u8(&r, &b, "b"), SCORESDE_OK);
    ck_assert_uint_eq(b, 0);
    ck_assert_int_eq(sd_reader_get_u8(&r, &b, "b"), SCORESDE_OK);
    ck_assert_uint_eq(b, 255);
    for (size_t i = 0; i < 4; i++) {
        ck_assert_int_eq(sd_reader_get_u32(&r, &u32, "u32"), SCORESDE_OK);
        ck_assert_uint_eq(u32, u32s[i]);
        ck_assert_int_eq(sd_reader_get_u64(&r, &u64, "u64"), SCORESDE_OK);
        ck_assert(u64 == u64s[i]);
    }
    ck_assert_int_eq(sd_reader_get_i64(&r, &i64, "i64"), SCORESDE_OK);
    ck_assert(i64 == INT64_MIN);
    ck_assert_int_eq(sd_reader_get_i64(&r, &i64, "i64"), SCORESDE_OK);
    ck_assert(i64 == -1);
    /* Bit patterns, not values: -0.0 and NaN must survive exactly. */
    for (size_t i = 0; i < 8; i++) {
        ck_assert_int_eq(sd_reader_get_f64(&r, &d, "f64"), SCORESDE_OK);
        ck_assert_mem_eq(&d, &f64s[i], sizeof d);
    }
    for (size_t i = 0; i < 7; i++) {
        ck_assert_int_eq(sd_reader_get_f32(&r, &f, "f32"), SCORESDE_OK);
        ck_assert_mem_eq(&f, &f32s[i], sizeof f);
    }
    uint32_t a32[4];
    uint64_t a64[4];
    double ad[8];
    float af[7];
    ck_assert_int_eq(sd_reader_get_u32_array(&r, a32, 4, "a32"), SCORESDE_OK);
    ck_assert_mem_eq(a32, u32s, sizeof a32);
    ck_assert_int_eq(sd_reader_get_u64_array(&r, a64, 4, "a64"), SCORESDE_OK);
    ck_assert_mem_eq(a64, u64s, sizeof a64);
    ck_assert_int_eq(sd_reader_get_f64_array(&r, ad, 8, "ad"), SCORESDE_OK);
    ck_assert_mem_eq(ad, f64s, sizeof ad);
    ck_assert_int_eq(sd_reader_get_f32_array(&r, af, 7, "af"), SCORESDE_OK);
    ck_assert_mem_eq(af, f32s, sizeof af);
    ck_assert_int_eq(sd_reader_get_f64_array(&r, NULL, 0, "empty"), SCORESDE_OK);
    char raw[3];
    ck_assert_int_eq(sd_reader_get_bytes(&r, raw, 3, "raw"), SCORESDE_OK);
    ck_assert_mem_eq(raw, "raw", 3);
    char *s;
    size_t slen;
    ck_assert_int_eq(sd_reader_get_string(&r, 100, &s, &slen, "name"), SCORESDE_OK);
    ck_assert_uint_eq(slen, 8);
    ck_assert_str_eq(s, "a string");
    sd_free(s);
    const uint8_t *view;
    ck_assert_int_eq(sd_reader_view_string(&r, 100, &view, &slen, "empty"), SCORESDE_OK);
    ck_assert_uint_eq(slen, 0);
    for (int i = 0; i < 1000; i++) {
        ck_assert_int_eq(sd_reader_get_u32(&r, &u32, "tail"), SCORESDE_OK);
        ck_assert_uint_eq(u32, (uint32_t)i * 2654435761u);
    }
    ck_assert_int_eq(sd_reader_expect_end(&r, "buffer"), SCORESDE_OK);
    ck_assert_int_eq(sd_reader_get_u8(&r, &b, "past the end"), SCORESDE_ECORRUPT);
    free(copy);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

START_TEST(reader_refuses_short_reads_without_moving)
{
    const uint8_t bytes[7] = {1, 2, 3, 4, 5, 6, 7};
    uint8_t *buf = exact_copy(bytes, sizeof bytes);
    sd_reader r;
    sd_reader_init(&r, buf, sizeof bytes);
    uint32_t u32 = 99;
    ck_assert_int_eq(sd_reader_skip(&r, 4, "skip"), SCORESDE_OK);
    ck_assert_int_eq(sd_reader_get_u32(&r, &u32, "the dimension"), SCORESDE_ECORRUPT);
    ck_assert_str_eq(scoresde_last_error(),
                     "truncated the dimension at offset 4: needs 4 bytes, 3 left");
    ck_assert_uint_eq(u32, 99);
    ck_assert_uint_eq(sd_reader_offset(&r), 4);
    uint64_t u64 = 99;
    double d = 99;
    float f = 99;
    int64_t i64 = 99;
    ck_assert_int_eq(sd_reader_get_u64(&r, &u64, "u64"), SCORESDE_ECORRUPT);
    ck_assert_int_eq(sd_reader_get_i64(&r, &i64, "i64"), SCORESDE_ECORRUPT);
    ck_assert_int_eq(sd_reader_get_f64(&r, &d, "f64"), SCORESDE_ECORRUPT);
    ck_assert_int_eq(sd_reader_get_f32(&r, &f, "f32"), SCORESDE_ECORRUPT);
    ck_assert(u64 == 99 && i64 == 99 && d == 99 && f == 99);
    double arr[2] = {99, 99};
    ck_assert_int_eq(sd_reader_get_f64_array(&r, arr, 1, "weights"), SCORESDE_ECORRUPT);
    ck_assert(arr[0] == 99);
    ck_assert_int_eq(sd_reader_view(&r, 4, &(const uint8_t *){NULL}, "view"), SCORESDE_ECORRUPT);
    ck_assert_int_eq(sd_reader_expect_end(&r, "header"), SCORESDE_ECORRUPT);
    ck_assert_str_eq(scoresde_last_error(), "header: 3 unexpected bytes at offset 4");
    ck_assert_uint_eq(sd_reader_remaining(&r), 3);
    /* Sub-readers bound reads to their range and report absolute offsets. */
    sd_reader sub;
    ck_assert_int_eq(sd_reader_sub(&r, 4, &sub, "section"), SCORESDE_ECORRUPT);
    ck_assert_int_eq(sd_reader_sub(&r, 2, &sub, "section"), SCORESDE_OK);
    ck_assert_uint_eq(sd_reader_offset(&r), 6);
    uint8_t b;
    ck_assert_int_eq(sd_reader_get_u8(&sub, &b, "b"), SCORESDE_OK);
    ck_assert_uint_eq(b, 5);
    ck_assert_int_eq(sd_reader_get_u32(&sub, &u32, "field"), SCORESDE_ECORRUPT);
    ck_assert_str_eq(scoresde_last_error(), "truncated field at offset 5: needs 4 bytes, 1 left");
    /* An empty reader over no memory at all. */
    sd_reader e;
    sd_reader_init(&e, NULL, 0);
    ck_assert_int_eq(sd_reader_get_u8(&e, &b, "b"), SCORESDE_ECORRUPT);
    ck_assert_int_eq(sd_reader_skip(&e, 0, "nothing"), SCORESDE_OK);
    free(buf);
}
END_TEST

START_TEST(counts_are_checked_before_allocation)
{
    uint8_t bytes[40] = {0};
    sd_reader r;
    sd_reader_init(&r, bytes, sizeof bytes);
    ck_assert_int_eq(sd_reader_check_count(&r, 5, 8, "weights"), SCORESDE_OK);
    ck_assert_int_eq(sd_reader_check_count(&r, 6, 8, "weights"), SCORESDE_ECORRUPT);
    ck_assert_str_eq(scoresde_last_error(),
                     "weights: 6 elements of 8 bytes exceed the 40 bytes left at offset 0");
    /* Counts whose byte size overflows any integer are refused, not wrapped. */
    ck_assert_int_eq(sd_reader_check_count(&r, UINT64_MAX, 8, "w"), SCORESDE_ECORRUPT);
    ck_assert_int_eq(sd_reader_check_count(&r, (uint64_t)SIZE_MAX / 8 + 1, 8, "w"),
                     SCORESDE_ECORRUPT);
    ck_assert_int_eq(sd_reader_check_count(&r, 0, 8, "w"), SCORESDE_OK);
    ck_assert_int_eq(sd_reader_check_count(&r, 1000, 0, "w"), SCORESDE_OK);

    /* A string whose length field is absurd fails before any allocation. */
    sd_writer w;
    sd_writer_init(&w);
    sd_writer_put_u64(&w, UINT64_MAX - 3);
    sd_writer_put_bytes(&w, "abc", 3);
    sd_reader_init(&r, w.data, w.size);
    char *s = NULL;
    size_t live = scoresde_live_allocations();
    ck_assert_int_eq(sd_reader_get_string(&r, SIZE_MAX, &s, NULL, "name"), SCORESDE_ECORRUPT);
    ck_assert_ptr_null(s);
    ck_assert_uint_eq(scoresde_live_allocations(), live);
    ck_assert_uint_eq(sd_reader_offset(&r), 0);
    /* And a length above the caller's bound is refused with that bound. */
    sd_writer_patch_u64(&w, 0, 3);
    sd_reader_init(&r, w.data, w.size);
    ck_assert_int_eq(sd_reader_get_string(&r, 2, &s, NULL, "name"), SCORESDE_ECORRUPT);
    ck_assert(test_contains(scoresde_last_error(), "at most 2 allowed"));
    ck_assert_int_eq(sd_reader_get_string(&r, 3, &s, NULL, "name"), SCORESDE_OK);
    ck_assert_str_eq(s, "abc");
    sd_free(s);
    sd_writer_free(&w);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* The allocation budget of test_budget_malloc. */
static size_t alloc_budget;

START_TEST(writer_out_of_memory_is_sticky)
{
    ck_assert_int_eq(
        scoresde_set_allocator(test_budget_malloc, test_budget_free, &alloc_budget),
        SCORESDE_OK);
    alloc_budget = 1; /* the first block (256 bytes), then nothing */
    sd_writer w;
    sd_writer_init(&w);
    for (int i = 0; i < 32; i++)
        ck_assert_int_eq(sd_writer_put_u64(&w, (uint64_t)i), SCORESDE_OK);
    ck_assert_int_eq(sd_writer_put_u8(&w, 1), SCORESDE_ENOMEM); /* must grow: fails */
    ck_assert_int_eq(sd_writer_put_u8(&w, 1), SCORESDE_ENOMEM);
    ck_assert_int_eq(sd_writer_patch_u32(&w, 0, 1), SCORESDE_ENOMEM);
    ck_assert_int_eq(sd_writer_status(&w), SCORESDE_ENOMEM);
    uint8_t *out = (uint8_t *)&w;
    size_t size = 7;
    ck_assert_int_eq(sd_writer_take(&w, &out, &size), SCORESDE_ENOMEM);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(size, 0);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
    /* An array whose byte size overflows is refused as well. */
    sd_writer_init(&w);
    ck_assert_int_eq(sd_writer_put_f64_array(&w, (const double *)&w, SIZE_MAX / 4), SCORESDE_ENOMEM);
    sd_writer_free(&w);
    ck_assert_int_eq(scoresde_set_allocator(NULL, NULL, NULL), SCORESDE_OK);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Container */

static const uint32_t known_tags[] = {SD_TAG_MODEL, SD_TAG_PARAMS, SD_TAG_SDE};

/* A small model-type container: three sections, one skippable. */
static void build_small(sd_writer *w, uint32_t type)
{
    size_t mark;
    sd_writer_init(w);
    sd_container_begin(w, type);
    sd_container_section_begin(w, SD_TAG_MODEL, SD_SECTION_REQUIRED, &mark);
    sd_writer_put_u32(w, 3);
    sd_writer_put_string(w, "gmm", 3);
    sd_container_section_end(w, mark);
    sd_container_section_begin(w, SD_TAG_META, 0, &mark);
    sd_writer_put_string(w, "comment", 7);
    sd_container_section_end(w, mark);
    sd_container_section_begin(w, SD_TAG_PARAMS, SD_SECTION_REQUIRED, &mark);
    const double p[3] = {0.5, -1.25, 2.0};
    sd_writer_put_u64(w, 3);
    sd_writer_put_f64_array(w, p, 3);
    sd_container_section_end(w, mark);
    ck_assert_int_eq(sd_container_finish(w), SCORESDE_OK);
}

START_TEST(container_round_trip)
{
    sd_writer w;
    build_small(&w, SD_FILE_MODEL);
    /* 32 header + (16 + 4 + 8 + 3) + (16 + 8 + 7) + (16 + 8 + 24) + 4 trailer */
    ck_assert_uint_eq(w.size, 32 + 31 + 31 + 48 + 4);
    ck_assert_mem_eq(w.data, sd_container_magic, 8);
    ck_assert_mem_eq(w.data + 32, "MODL", 4);
    sd_container c;
    ck_assert_int_eq(sd_container_open(&c, w.data, w.size, SD_FILE_MODEL, known_tags, 3),
                     SCORESDE_OK);
    ck_assert_uint_eq(c.version, SD_CONTAINER_VERSION);
    ck_assert_uint_eq(c.section_count, 3);
    ck_assert(sd_container_has(&c, SD_TAG_META));
    ck_assert(!sd_container_has(&c, SD_TAG_SDE));
    sd_reader r;
    ck_assert_int_eq(sd_container_section(&c, SD_TAG_PARAMS, &r, "parameter"), SCORESDE_OK);
    uint64_t n;
    double p[3];
    ck_assert_int_eq(sd_reader_get_u64(&r, &n, "count"), SCORESDE_OK);
    ck_assert_int_eq(sd_reader_check_count(&r, n, 8, "parameters"), SCORESDE_OK);
    ck_assert_int_eq(sd_reader_get_f64_array(&r, p, (size_t)n, "parameters"), SCORESDE_OK);
    ck_assert(p[0] == 0.5 && p[1] == -1.25 && p[2] == 2.0);
    ck_assert_int_eq(sd_reader_expect_end(&r, "parameter section"), SCORESDE_OK);
    ck_assert_uint_eq(sd_reader_offset(&r), w.size - 4);
    ck_assert_int_eq(sd_container_section(&c, SD_TAG_MODEL, &r, "model"), SCORESDE_OK);
    ck_assert_uint_eq(sd_reader_offset(&r), 48);
    ck_assert_int_eq(sd_container_section(&c, SD_TAG_SDE, &r, "SDE"), SCORESDE_ECORRUPT);
    ck_assert_str_eq(scoresde_last_error(), "the file has no SDE section (tag 'SDE ')");
    /* A checkpoint is not a model. */
    ck_assert_int_eq(sd_container_open(&c, w.data, w.size, SD_FILE_CHECKPOINT, known_tags, 3),
                     SCORESDE_EINVAL);
    ck_assert_str_eq(scoresde_last_error(), "the file is a model file (type 1), not a checkpoint file");
    sd_writer_free(&w);

    /* An empty container is valid. */
    sd_writer_init(&w);
    sd_container_begin(&w, SD_FILE_CHECKPOINT);
    ck_assert_int_eq(sd_container_finish(&w), SCORESDE_OK);
    ck_assert_uint_eq(w.size, 36);
    ck_assert_int_eq(sd_container_open(&c, w.data, w.size, SD_FILE_CHECKPOINT, NULL, 0),
                     SCORESDE_OK);
    ck_assert_uint_eq(c.section_count, 0);
    sd_writer_free(&w);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

START_TEST(container_every_truncation_is_rejected)
{
    sd_writer w;
    build_small(&w, SD_FILE_MODEL);
    for (size_t len = 0; len < w.size; len++) {
        uint8_t *copy = exact_copy(w.data, len);
        sd_container c;
        int rc = sd_container_open(&c, copy, len, SD_FILE_MODEL, known_tags, 3);
        ck_assert_msg(rc == SCORESDE_ECORRUPT, "length %zu: status %d", len, rc);
        ck_assert(scoresde_last_error()[0] != '\0');
        free(copy);
    }
    /* And so is a byte too many. */
    uint8_t *longer = malloc(w.size + 1);
    memcpy(longer, w.data, w.size);
    longer[w.size] = 0;
    sd_container c;
    ck_assert_int_eq(sd_container_open(&c, longer, w.size + 1, SD_FILE_MODEL, known_tags, 3),
                     SCORESDE_ECORRUPT);
    free(longer);
    sd_writer_free(&w);
}
END_TEST

START_TEST(container_every_byte_corruption_is_rejected)
{
    /* Every position, every non-zero xor: CRC-32C detects every error burst
     * of up to 32 bits, so each must fail, whatever field it hits. Only the
     * version's major half may legitimately read as "newer" (EVERSION). */
    sd_writer w;
    build_small(&w, SD_FILE_MODEL);
    uint8_t *copy = exact_copy(w.data, w.size);
    for (size_t pos = 0; pos < w.size; pos++) {
        for (unsigned x = 1; x < 256; x++) {
            copy[pos] = (uint8_t)(w.data[pos] ^ x);
            sd_container c;
            int rc = sd_container_open(&c, copy, w.size, SD_FILE_MODEL, known_tags, 3);
            if (pos == 10 || pos == 11)
                ck_assert_msg(rc == SCORESDE_ECORRUPT || rc == SCORESDE_EVERSION,
                              "byte %zu ^ %u: status %d", pos, x, rc);
            else
                ck_assert_msg(rc == SCORESDE_ECORRUPT, "byte %zu ^ %u: status %d", pos, x, rc);
        }
        copy[pos] = w.data[pos];
    }
    free(copy);
    sd_writer_free(&w);
}
END_TEST

/* A copy of the container `w` (exactly its size) with the n bytes at `pos`
 * replaced by `patch` and the checksum recomputed is refused as ECORRUPT,
 * with a message naming `needle` unless it is NULL. */
static void expect_patch_refused(const sd_writer *w, size_t pos, const void *patch, size_t n,
                                 const char *needle)
{
    uint8_t *d = exact_copy(w->data, w->size);
    memcpy(d + pos, patch, n);
    test_reseal(d, w->size);
    sd_container c;
    ck_assert_int_eq(sd_container_open(&c, d, w->size, SD_FILE_MODEL, known_tags, 3),
                     SCORESDE_ECORRUPT);
    if (needle != NULL)
        ck_assert(test_contains(scoresde_last_error(), needle));
    free(d);
}

START_TEST(container_structure_damage_with_valid_checksum)
{
    /* Damage that a writer could produce and the checksum cannot catch. */
    sd_writer w;
    build_small(&w, SD_FILE_MODEL);
    sd_container c;

    /* A section length running past the trailer. */
    expect_patch_refused(&w, 32 + 8, "\xFF", 1, "section 'MODL' at offset 32 claims 255 bytes");
    /* Fewer sections declared than present: bytes left over. */
    expect_patch_refused(&w, 24, "\x02", 1, "follow the 2 sections");
    /* More declared than present. */
    expect_patch_refused(&w, 24, "\x04", 1, NULL);
    /* An absurd section count. */
    expect_patch_refused(&w, 27, "\x7F", 1, "sections, at most 1024 allowed");
    /* A tag twice. */
    expect_patch_refused(&w, 32 + 31, "MODL", 4, "section 'MODL' appears twice");
    /* Version 0 never existed. */
    expect_patch_refused(&w, 10, "\x00", 1, NULL);

    /* Not our file at all. */
    uint8_t zip[64] = {'P', 'K', 3, 4};
    ck_assert_int_eq(sd_container_open(&c, zip, sizeof zip, SD_FILE_MODEL, known_tags, 3),
                     SCORESDE_ECORRUPT);
    ck_assert(test_contains(scoresde_last_error(), "not a libscoresde file"));
    ck_assert_int_eq(sd_container_open(&c, NULL, 0, SD_FILE_MODEL, NULL, 0), SCORESDE_EINVAL);
    sd_writer_free(&w);
}
END_TEST

START_TEST(container_versions_and_required_sections)
{
    sd_writer w;
    build_small(&w, SD_FILE_MODEL);
    sd_container c;

    /* A newer major version is refused, whatever follows the header. */
    uint8_t *d = exact_copy(w.data, w.size);
    d[10] = 2; /* version 2.0 */
    test_reseal(d, w.size);
    ck_assert_int_eq(sd_container_open(&c, d, w.size, SD_FILE_MODEL, known_tags, 3),
                     SCORESDE_EVERSION);
    ck_assert(test_contains(scoresde_last_error(), "format version 2.2"));
    memset(d + 12, 0xEE, w.size - 12); /* a different layout entirely */
    ck_assert_int_eq(sd_container_open(&c, d, w.size, SD_FILE_MODEL, known_tags, 3),
                     SCORESDE_EVERSION);
    free(d);

    /* A newer minor version is read. */
    d = exact_copy(w.data, w.size);
    d[8] = 7; /* version 1.7 */
    test_reseal(d, w.size);
    ck_assert_int_eq(sd_container_open(&c, d, w.size, SD_FILE_MODEL, known_tags, 3), SCORESDE_OK);
    ck_assert_uint_eq(c.version, (1u << 16) | 7u);
    free(d);

    /* An unknown section is skipped unless it is flagged required. */
    ck_assert_int_eq(sd_container_open(&c, w.data, w.size, SD_FILE_MODEL, known_tags, 2),
                     SCORESDE_OK); /* META is not known but optional */
    ck_assert_int_eq(sd_container_open(&c, w.data, w.size, SD_FILE_MODEL, known_tags + 1, 2),
                     SCORESDE_EVERSION); /* MODL is required and unknown */
    ck_assert(test_contains(scoresde_last_error(), "needs section 'MODL'"));
    sd_writer_free(&w);
}
END_TEST

START_TEST(container_writer_misuse)
{
    sd_writer w;
    sd_writer_init(&w);
    sd_writer_put_u8(&w, 1);
    ck_assert_int_eq(sd_container_begin(&w, SD_FILE_MODEL), SCORESDE_EINVAL);
    sd_writer_free(&w);
    sd_writer_init(&w);
    ck_assert_int_eq(sd_container_finish(&w), SCORESDE_EINVAL);
    sd_writer_free(&w);
    sd_writer_init(&w);
    sd_container_begin(&w, SD_FILE_MODEL);
    ck_assert_int_eq(sd_container_section_end(&w, 4), SCORESDE_EINVAL);
    sd_writer_free(&w);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Files */

static char tmpdir[256];

/* Create the test directory; path (300 bytes) receives tmpdir/name. */
static void make_tmpdir(char path[300], const char *name)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/scoresde-test-io-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(path, 300, "%s/%s", tmpdir, name);
}

/* Entries in the test directory other than "." and "..". */
static int count_entries(void)
{
    DIR *dir = opendir(tmpdir);
    ck_assert_ptr_nonnull(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(dir);
    return n;
}

static void remove_tmpdir(void)
{
    DIR *dir = opendir(tmpdir);
    struct dirent *e;
    char path[600];
    while (dir != NULL && (e = readdir(dir)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
        if (remove(path) != 0)
            rmdir(path);
    }
    if (dir != NULL)
        closedir(dir);
    rmdir(tmpdir);
}

/* The file at path is a valid model container equal to `expect`. */
static void assert_file_is(const char *path, const uint8_t *expect, size_t size)
{
    uint8_t *data;
    size_t got;
    ck_assert_int_eq(sd_file_read_all(path, 1 << 20, &data, &got), SCORESDE_OK);
    ck_assert_uint_eq(got, size);
    ck_assert_mem_eq(data, expect, size);
    sd_container c;
    ck_assert_int_eq(sd_container_open(&c, data, got, SD_FILE_MODEL, known_tags, 3), SCORESDE_OK);
    sd_free(data);
}

/* Two different valid model containers (b differs from a in one byte of MODL). */
static void build_two_files(sd_writer *a, sd_writer *b)
{
    build_small(a, SD_FILE_MODEL);
    build_small(b, SD_FILE_MODEL);
    b->data[32 + 16] ^= 1;
    test_reseal(b->data, b->size);
}

START_TEST(atomic_save_writes_and_replaces)
{
    char path[300];
    make_tmpdir(path, "model.sde");
    sd_writer a, b;
    build_two_files(&a, &b);
    ck_assert_int_eq(sd_file_save_atomic(path, a.data, a.size), SCORESDE_OK);
    assert_file_is(path, a.data, a.size);
    ck_assert_int_eq(sd_file_save_atomic(path, b.data, b.size), SCORESDE_OK);
    assert_file_is(path, b.data, b.size);
    ck_assert_int_eq(count_entries(), 1); /* no temporary left behind */
    /* A new file gets the usual permissions (0666 & ~umask), not 0600. */
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    mode_t mask = umask(022);
    umask(mask);
    ck_assert_uint_eq(st.st_mode & 0777, 0666 & ~mask);
    /* An empty file is a valid save too. */
    snprintf(path, sizeof path, "%s/empty", tmpdir);
    ck_assert_int_eq(sd_file_save_atomic(path, NULL, 0), SCORESDE_OK);
    uint8_t *data;
    size_t size = 99;
    ck_assert_int_eq(sd_file_read_all(path, 10, &data, &size), SCORESDE_OK);
    ck_assert_ptr_nonnull(data);
    ck_assert_uint_eq(size, 0);
    sd_free(data);
    ck_assert_int_eq(sd_file_save_atomic(NULL, a.data, a.size), SCORESDE_EINVAL);
    ck_assert_int_eq(sd_file_save_atomic("", a.data, a.size), SCORESDE_EINVAL);
    ck_assert_int_eq(sd_file_save_atomic(path, NULL, 3), SCORESDE_EINVAL);
    sd_writer_free(&a);
    sd_writer_free(&b);
    remove_tmpdir();
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

START_TEST(failed_save_keeps_previous_file)
{
    char path[300];
    make_tmpdir(path, "model.sde");
    sd_writer a, b;
    build_two_files(&a, &b);
    ck_assert_int_eq(sd_file_save_atomic(path, a.data, a.size), SCORESDE_OK);
    static const char *steps[] = {"", "create", "write", "fsync", "close", "rename"};
    for (int step = SD_SAVE_FAIL_CREATE; step <= SD_SAVE_FAIL_RENAME; step++) {
        ck_assert_int_eq(sd_file_save_atomic_test(path, b.data, b.size, step), SCORESDE_EIO);
        const char *msg = scoresde_last_error();
        ck_assert_msg(test_contains(msg, path) && test_contains(msg, steps[step]) &&
                          test_contains(msg, strerror(EIO)),
                      "step %d: %s", step, msg);
        assert_file_is(path, a.data, a.size);
        ck_assert_int_eq(count_entries(), 1);
    }
    sd_writer_free(&a);
    sd_writer_free(&b);
    remove_tmpdir();
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

START_TEST(real_write_failure_keeps_previous_file)
{
    /* A genuine failure, no hook: the file size limit makes write() fail with
     * EFBIG half-way through the temporary (SIGXFSZ ignored so the process
     * survives). Check runs each test in its own process, so the limit does
     * not leak into other tests. */
    char path[300];
    make_tmpdir(path, "model.sde");
    sd_writer a;
    build_small(&a, SD_FILE_MODEL);
    ck_assert_int_eq(sd_file_save_atomic(path, a.data, a.size), SCORESDE_OK);
    size_t big = 1 << 16;
    uint8_t *junk = calloc(big, 1);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {.rlim_cur = 4096, .rlim_max = RLIM_INFINITY};
    struct rlimit old;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim.rlim_max = old.rlim_max;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = sd_file_save_atomic(path, junk, big); /* no assertion while limited */
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    ck_assert_int_eq(rc, SCORESDE_EIO);
    ck_assert(test_contains(scoresde_last_error(), "write of the temporary file"));
    assert_file_is(path, a.data, a.size);
    ck_assert_int_eq(count_entries(), 1);

    /* Renaming over a directory fails at the last step: temporary removed. */
    char dirpath[300];
    snprintf(dirpath, sizeof dirpath, "%s/adir", tmpdir);
    ck_assert_int_eq(mkdir(dirpath, 0700), 0);
    ck_assert_int_eq(sd_file_save_atomic(dirpath, a.data, a.size), SCORESDE_EIO);
    ck_assert(test_contains(scoresde_last_error(), "rename"));
    ck_assert_int_eq(count_entries(), 2);

    /* A directory that does not exist: nothing can be created. */
    snprintf(dirpath, sizeof dirpath, "%s/missing/model.sde", tmpdir);
    ck_assert_int_eq(sd_file_save_atomic(dirpath, a.data, a.size), SCORESDE_EIO);
    ck_assert(test_contains(scoresde_last_error(), strerror(ENOENT)));
    free(junk);
    sd_writer_free(&a);
    remove_tmpdir();
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

START_TEST(read_all_limits_and_errors)
{
    char path[300];
    make_tmpdir(path, "data");
    uint8_t bytes[1000];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (uint8_t)(i * 7);
    ck_assert_int_eq(sd_file_save_atomic(path, bytes, sizeof bytes), SCORESDE_OK);
    uint8_t *data = NULL;
    size_t size = 0;
    ck_assert_int_eq(sd_file_read_all(path, 1000, &data, &size), SCORESDE_OK);
    ck_assert_uint_eq(size, 1000);
    ck_assert_mem_eq(data, bytes, 1000);
    sd_free(data);
    ck_assert_int_eq(sd_file_read_all(path, 999, &data, &size), SCORESDE_EIO);
    ck_assert(test_contains(scoresde_last_error(), "larger than the limit of 999"));
    ck_assert_ptr_null(data);
    /* A device of endless zeros is refused before any read. */
    ck_assert_int_eq(sd_file_read_all("/dev/zero", 200000, &data, &size), SCORESDE_EIO);
    ck_assert(test_contains(scoresde_last_error(), "a device, not a regular file"));
    snprintf(path, sizeof path, "%s/missing", tmpdir);
    ck_assert_int_eq(sd_file_read_all(path, 1000, &data, &size), SCORESDE_EIO);
    ck_assert(test_contains(scoresde_last_error(), strerror(ENOENT)));
    ck_assert_int_eq(sd_file_read_all(tmpdir, 1000, &data, &size), SCORESDE_EIO);
    ck_assert(test_contains(scoresde_last_error(), "directory"));
    ck_assert_int_eq(sd_file_read_all(NULL, 1000, &data, &size), SCORESDE_EINVAL);
    ck_assert_int_eq(sd_file_read_all(path, 1000, NULL, &size), SCORESDE_EINVAL);
    remove_tmpdir();
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("io");
    TCase *tc = tcase_create("io");
    tcase_add_test(tc, crc32c_known_answers);
    tcase_add_test(tc, crc32c_tables_match_definition);
    tcase_add_test(tc, crc32c_slicing_matches_bitwise_and_chains);
    tcase_add_test(tc, writer_encodes_little_endian);
    tcase_add_test(tc, writer_reader_round_trip_every_type);
    tcase_add_test(tc, reader_refuses_short_reads_without_moving);
    tcase_add_test(tc, counts_are_checked_before_allocation);
    tcase_add_test(tc, writer_out_of_memory_is_sticky);
    tcase_add_test(tc, container_round_trip);
    tcase_add_test(tc, container_every_truncation_is_rejected);
    tcase_add_test(tc, container_every_byte_corruption_is_rejected);
    tcase_add_test(tc, container_structure_damage_with_valid_checksum);
    tcase_add_test(tc, container_versions_and_required_sections);
    tcase_add_test(tc, container_writer_misuse);
    tcase_add_test(tc, atomic_save_writes_and_replaces);
    tcase_add_test(tc, failed_save_keeps_previous_file);
    tcase_add_test(tc, real_write_failure_keeps_previous_file);
    tcase_add_test(tc, read_all_limits_and_errors);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
