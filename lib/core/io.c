/*
 * The byte layer: CRC-32C, little-endian writers and bounded readers.
 * Values are encoded byte by byte with shifts, so the code is the same on
 * little- and big-endian hosts.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <string.h>

#include "internal.h"
#include "io.h"

#include "crc32c_table.h"

/* ------------------------------------------------------------------------ */
/* CRC-32C, slicing by 8: eight bytes per step through eight tables, then the
 * tail byte by byte. Roughly 1-2 GB/s on a current CPU, so checksumming a
 * model file costs little next to reading it. */

static uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static uint64_t load_le64(const uint8_t *p)
{
    return (uint64_t)load_le32(p) | ((uint64_t)load_le32(p + 4) << 32);
}

static void store_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void store_le64(uint8_t *p, uint64_t v)
{
    store_le32(p, (uint32_t)v);
    store_le32(p + 4, (uint32_t)(v >> 32));
}

uint32_t sd_crc32c(uint32_t crc, const void *data, size_t size)
{
    const uint8_t *p = data;
    uint32_t c = ~crc;
    while (size >= 8) {
        uint32_t lo = load_le32(p) ^ c;
        uint32_t hi = load_le32(p + 4);
        c = sd_crc32c_table[7][lo & 0xff] ^ sd_crc32c_table[6][(lo >> 8) & 0xff] ^
            sd_crc32c_table[5][(lo >> 16) & 0xff] ^ sd_crc32c_table[4][lo >> 24] ^
            sd_crc32c_table[3][hi & 0xff] ^ sd_crc32c_table[2][(hi >> 8) & 0xff] ^
            sd_crc32c_table[1][(hi >> 16) & 0xff] ^ sd_crc32c_table[0][hi >> 24];
        p += 8;
        size -= 8;
    }
    while (size-- > 0)
        c = (c >> 8) ^ sd_crc32c_table[0][(c ^ *p++) & 0xff];
    return ~c;
}

/* ------------------------------------------------------------------------ */
/* Writer */

void sd_writer_init(sd_writer *w)
{
    w->data = NULL;
    w->size = 0;
    w->cap = 0;
    w->status = SCORESDE_OK;
}

void sd_writer_free(sd_writer *w)
{
    if (w == NULL)
        return;
    sd_free(w->data);
    sd_writer_init(w);
}

int sd_writer_status(const sd_writer *w)
{
    return w->status;
}

int sd_writer_reserve(sd_writer *w, size_t extra)
{
    if (w->status != SCORESDE_OK)
        return w->status;
    if (extra <= w->cap - w->size)
        return SCORESDE_OK;
    if (extra > SIZE_MAX / 2 - w->size) {
        w->status = sd_fail(SCORESDE_ENOMEM, "a buffer of %zu + %zu bytes is too large", w->size,
                            extra);
        return w->status;
    }
    /* Doubling keeps the total copying linear in the final size. */
    size_t need = w->size + extra;
    size_t cap = w->cap < 256 ? 256 : w->cap;
    while (cap < need)
        cap *= 2;
    uint8_t *data = sd_malloc(cap);
    if (data == NULL) {
        w->status = SCORESDE_ENOMEM;
        return w->status;
    }
    if (w->size > 0)
        memcpy(data, w->data, w->size);
    sd_free(w->data);
    w->data = data;
    w->cap = cap;
    return SCORESDE_OK;
}

/* Room for n bytes at the end; NULL (status set) on failure. */
static uint8_t *writer_extend(sd_writer *w, size_t n)
{
    if (sd_writer_reserve(w, n) != SCORESDE_OK)
        return NULL;
    if (n == 0)
        return NULL; /* callers return the (OK) status at once: nothing to write */
    uint8_t *p = w->data + w->size;
    w->size += n;
    return p;
}

int sd_writer_put_u8(sd_writer *w, uint8_t v)
{
    uint8_t *p = writer_extend(w, 1);
    if (p == NULL)
        return w->status;
    p[0] = v;
    return SCORESDE_OK;
}

int sd_writer_put_u32(sd_writer *w, uint32_t v)
{
    uint8_t *p = writer_extend(w, 4);
    if (p == NULL)
        return w->status;
    store_le32(p, v);
    return SCORESDE_OK;
}

int sd_writer_put_u64(sd_writer *w, uint64_t v)
{
    uint8_t *p = writer_extend(w, 8);
    if (p == NULL)
        return w->status;
    store_le64(p, v);
    return SCORESDE_OK;
}

int sd_writer_put_i64(sd_writer *w, int64_t v)
{
    return sd_writer_put_u64(w, (uint64_t)v);
}

int sd_writer_put_f32(sd_writer *w, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    return sd_writer_put_u32(w, bits);
}

int sd_writer_put_f64(sd_writer *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return sd_writer_put_u64(w, bits);
}

int sd_writer_put_bytes(sd_writer *w, const void *data, size_t size)
{
    if (size == 0)
        return w->status;
    uint8_t *p = writer_extend(w, size);
    if (p == NULL)
        return w->status;
    memcpy(p, data, size);
    return SCORESDE_OK;
}

/* Room for count elements of elem bytes, with the product checked. */
static uint8_t *writer_extend_array(sd_writer *w, size_t count, size_t elem)
{
    if (w->status != SCORESDE_OK)
        return NULL;
    if (count > SIZE_MAX / elem) {
        w->status = sd_fail(SCORESDE_ENOMEM, "an array of %zu x %zu bytes is too large", count,
                            elem);
        return NULL;
    }
    return writer_extend(w, count * elem);
}

int sd_writer_put_u32_array(sd_writer *w, const uint32_t *v, size_t count)
{
    uint8_t *p = writer_extend_array(w, count, 4);
    if (p == NULL)
        return w->status;
    for (size_t i = 0; i < count; i++)
        store_le32(p + 4 * i, v[i]);
    return SCORESDE_OK;
}

int sd_writer_put_u64_array(sd_writer *w, const uint64_t *v, size_t count)
{
    uint8_t *p = writer_extend_array(w, count, 8);
    if (p == NULL)
        return w->status;
    for (size_t i = 0; i < count; i++)
        store_le64(p + 8 * i, v[i]);
    return SCORESDE_OK;
}

int sd_writer_put_f32_array(sd_writer *w, const float *v, size_t count)
{
    uint8_t *p = writer_extend_array(w, count, 4);
    if (p == NULL)
        return w->status;
    for (size_t i = 0; i < count; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], sizeof bits);
        store_le32(p + 4 * i, bits);
    }
    return SCORESDE_OK;
}

int sd_writer_put_f64_array(sd_writer *w, const double *v, size_t count)
{
    uint8_t *p = writer_extend_array(w, count, 8);
    if (p == NULL)
        return w->status;
    for (size_t i = 0; i < count; i++) {
        uint64_t bits;
        memcpy(&bits, &v[i], sizeof bits);
        store_le64(p + 8 * i, bits);
    }
    return SCORESDE_OK;
}

int sd_writer_put_string(sd_writer *w, const void *data, size_t size)
{
    SD_TRY(sd_writer_put_u64(w, (uint64_t)size));
    return sd_writer_put_bytes(w, data, size);
}

static int writer_check_patch(sd_writer *w, size_t offset, size_t n)
{
    if (w->status != SCORESDE_OK)
        return w->status;
    if (offset > w->size || n > w->size - offset)
        w->status = sd_fail(SCORESDE_EINVAL,
                            "cannot patch %zu bytes at offset %zu of a %zu-byte buffer", n,
                            offset, w->size);
    return w->status;
}

int sd_writer_patch_u32(sd_writer *w, size_t offset, uint32_t v)
{
    SD_TRY(writer_check_patch(w, offset, 4));
    store_le32(w->data + offset, v);
    return SCORESDE_OK;
}

int sd_writer_patch_u64(sd_writer *w, size_t offset, uint64_t v)
{
    SD_TRY(writer_check_patch(w, offset, 8));
    store_le64(w->data + offset, v);
    return SCORESDE_OK;
}

int sd_writer_take(sd_writer *w, uint8_t **out, size_t *size)
{
    *out = NULL;
    *size = 0;
    int rc = w->status;
    if (rc == SCORESDE_OK && w->data == NULL)
        rc = sd_writer_reserve(w, 1);
    if (rc != SCORESDE_OK) {
        sd_writer_free(w);
        return rc;
    }
    *out = w->data;
    *size = w->size;
    sd_writer_init(w);
    return SCORESDE_OK;
}

/* ------------------------------------------------------------------------ */
/* Reader */

void sd_reader_init(sd_reader *r, const void *data, size_t size)
{
    r->data = data;
    r->size = data == NULL ? 0 : size;
    r->pos = 0;
    r->base = 0;
}

size_t sd_reader_remaining(const sd_reader *r)
{
    return r->size - r->pos;
}

size_t sd_reader_offset(const sd_reader *r)
{
    return r->base + r->pos;
}

/* Check that n bytes remain; on success return a pointer to them and advance. */
static int reader_take(sd_reader *r, size_t n, const uint8_t **p, const char *what)
{
    size_t left = r->size - r->pos;
    if (n > left)
        return sd_fail(SCORESDE_ECORRUPT, "truncated %s at offset %zu: needs %zu bytes, %zu left",
                       what, sd_reader_offset(r), n, left);
    /* An empty reader may have no data at all: no arithmetic on NULL. */
    *p = r->data == NULL ? NULL : r->data + r->pos;
    r->pos += n;
    return SCORESDE_OK;
}

int sd_reader_get_u8(sd_reader *r, uint8_t *out, const char *what)
{
    const uint8_t *p = NULL;
    SD_TRY(reader_take(r, 1, &p, what));
    *out = p[0];
    return SCORESDE_OK;
}

int sd_reader_get_u32(sd_reader *r, uint32_t *out, const char *what)
{
    const uint8_t *p = NULL;
    SD_TRY(reader_take(r, 4, &p, what));
    *out = load_le32(p);
    return SCORESDE_OK;
}

int sd_reader_get_u64(sd_reader *r, uint64_t *out, const char *what)
{
    const uint8_t *p = NULL;
    SD_TRY(reader_take(r, 8, &p, what));
    *out = load_le64(p);
    return SCORESDE_OK;
}

int sd_reader_get_i64(sd_reader *r, int64_t *out, const char *what)
{
    const uint8_t *p = NULL;
    SD_TRY(reader_take(r, 8, &p, what));
    uint64_t bits = load_le64(p);
    /* memcpy, not a cast: the conversion of values above INT64_MAX to int64_t
     * is implementation-defined, the two's-complement bit copy is not. */
    memcpy(out, &bits, sizeof bits);
    return SCORESDE_OK;
}

int sd_reader_get_f32(sd_reader *r, float *out, const char *what)
{
    const uint8_t *p = NULL;
    SD_TRY(reader_take(r, 4, &p, what));
    uint32_t bits = load_le32(p);
    memcpy(out, &bits, sizeof bits);
    return SCORESDE_OK;
}

int sd_reader_get_f64(sd_reader *r, double *out, const char *what)
{
    const uint8_t *p = NULL;
    SD_TRY(reader_take(r, 8, &p, what));
    uint64_t bits = load_le64(p);
    memcpy(out, &bits, sizeof bits);
    return SCORESDE_OK;
}

int sd_reader_get_bytes(sd_reader *r, void *out, size_t size, const char *what)
{
    const uint8_t *p = NULL;
    SD_TRY(reader_take(r, size, &p, what));
    if (size > 0)
        memcpy(out, p, size);
    return SCORESDE_OK;
}

int sd_reader_view(sd_reader *r, size_t size, const uint8_t **out, const char *what)
{
    return reader_take(r, size, out, what);
}

int sd_reader_skip(sd_reader *r, size_t size, const char *what)
{
    const uint8_t *p = NULL;
    return reader_take(r, size, &p, what);
}

int sd_reader_check_count(const sd_reader *r, uint64_t count, size_t elem_size, const char *what)
{
    size_t left = r->size - r->pos;
    /* Compare by division so that a huge count cannot overflow the product. */
    if (elem_size == 0 ? count > SIZE_MAX : count > left / elem_size)
        return sd_fail(SCORESDE_ECORRUPT,
                       "%s: %llu elements of %zu bytes exceed the %zu bytes left at offset %zu",
                       what, (unsigned long long)count, elem_size, left, sd_reader_offset(r));
    return SCORESDE_OK;
}

/* The bytes of an array of count elements of elem bytes, checked first. */
static int reader_take_array(sd_reader *r, size_t count, size_t elem, const uint8_t **p,
                             const char *what)
{
    SD_TRY(sd_reader_check_count(r, count, elem, what));
    return reader_take(r, count * elem, p, what);
}

int sd_reader_get_u32_array(sd_reader *r, uint32_t *out, size_t count, const char *what)
{
    const uint8_t *p = NULL;
    SD_TRY(reader_take_array(r, count, 4, &p, what));
    for (size_t i = 0; i < count; i++)
        out[i] = load_le32(p + 4 * i);
    return SCORESDE_OK;
}

int sd_reader_get_u64_array(sd_reader *r, uint64_t *out, size_t count, const char *what)
{
    const uint8_t *p = NULL;
    SD_TRY(reader_take_array(r, count, 8, &p, what));
    for (size_t i = 0; i < count; i++)
        out[i] = load_le64(p + 8 * i);
    return SCORESDE_OK;
}

int sd_reader_get_f32_array(sd_reader *r, float *out, size_t count, const char *what)
{
    const uint8_t *p = NULL;
    SD_TRY(reader_take_array(r, count, 4, &p, what));
    for (size_t i = 0; i < count; i++) {
        uint32_t bits = load_le32(p + 4 * i);
        memcpy(&out[i], &bits, sizeof bits);
    }
    return SCORESDE_OK;
}

int sd_reader_get_f64_array(sd_reader *r, double *out, size_t count, const char *what)
{
    const uint8_t *p = NULL;
    SD_TRY(reader_take_array(r, count, 8, &p, what));
    for (size_t i = 0; i < count; i++) {
        uint64_t bits = load_le64(p + 8 * i);
        memcpy(&out[i], &bits, sizeof bits);
    }
    return SCORESDE_OK;
}

int sd_reader_view_string(sd_reader *r, size_t max_size, const uint8_t **out, size_t *size,
                          const char *what)
{
    sd_reader probe = *r; /* the cursor only moves if the whole string is there */
    uint64_t len;
    SD_TRY(sd_reader_get_u64(&probe, &len, what));
    if (len > max_size)
        return sd_fail(SCORESDE_ECORRUPT, "%s at offset %zu is %llu bytes long, at most %zu allowed",
                       what, sd_reader_offset(r), (unsigned long long)len, max_size);
    SD_TRY(sd_reader_check_count(&probe, len, 1, what));
    SD_TRY(reader_take(&probe, (size_t)len, out, what));
    *size = (size_t)len;
    *r = probe;
    return SCORESDE_OK;
}

int sd_reader_get_string(sd_reader *r, size_t max_size, char **out, size_t *size,
                         const char *what)
{
    sd_reader probe = *r;
    const uint8_t *p = NULL;
    size_t len;
    SD_TRY(sd_reader_view_string(&probe, max_size, &p, &len, what));
    char *s = sd_malloc(len + 1);
    if (s == NULL)
        return SCORESDE_ENOMEM;
    if (len > 0)
        memcpy(s, p, len);
    s[len] = '\0';
    *out = s;
    if (size != NULL)
        *size = len;
    *r = probe;
    return SCORESDE_OK;
}

int sd_reader_sub(sd_reader *r, size_t size, sd_reader *sub, const char *what)
{
    size_t start = sd_reader_offset(r);
    const uint8_t *p = NULL;
    SD_TRY(reader_take(r, size, &p, what));
    sub->data = p;
    sub->size = size;
    sub->pos = 0;
    sub->base = start;
    return SCORESDE_OK;
}

int sd_reader_expect_end(const sd_reader *r, const char *what)
{
    size_t left = r->size - r->pos;
    if (left != 0)
        return sd_fail(SCORESDE_ECORRUPT, "%s: %zu unexpected bytes at offset %zu", what, left,
                       sd_reader_offset(r));
    return SCORESDE_OK;
}
