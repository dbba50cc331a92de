/*
 * The libscoresde container: header, tagged sections, CRC-32C trailer.
 * The byte layout and the compatibility rules are in docs/file-format.md.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "io.h"

/* PNG's trick: a non-ASCII first byte catches 7-bit transfers, CR LF catches
 * newline conversion, ^Z stops a DOS "type", LF catches LF -> CR LF. */
const uint8_t sd_container_magic[SD_CONTAINER_MAGIC_SIZE] = {0x89, 'S', 'D', 'E',
                                                             0x0D, 0x0A, 0x1A, 0x0A};

/* Offsets of the header fields. */
enum {
    OFF_VERSION = 8,
    OFF_TYPE = 12,
    OFF_FILE_SIZE = 16,
    OFF_COUNT = 24,
    OFF_RESERVED = 28,
};

int sd_container_begin(sd_writer *w, uint32_t file_type)
{
    if (w->status != SCORESDE_OK)
        return w->status;
    if (w->size != 0)
        return w->status = sd_fail(SCORESDE_EINVAL,
                                   "a container must start an empty writer (it holds %zu bytes)",
                                   w->size);
    sd_writer_put_bytes(w, sd_container_magic, SD_CONTAINER_MAGIC_SIZE);
    sd_writer_put_u32(w, SD_CONTAINER_VERSION);
    sd_writer_put_u32(w, file_type);
    sd_writer_put_u64(w, 0); /* file size, filled in by sd_container_finish */
    sd_writer_put_u32(w, 0); /* section count, counted by sd_container_section_end */
    return sd_writer_put_u32(w, 0); /* reserved */
}

int sd_container_section_begin(sd_writer *w, uint32_t tag, uint32_t flags, size_t *mark)
{
    *mark = w->size;
    sd_writer_put_u32(w, tag);
    sd_writer_put_u32(w, flags);
    return sd_writer_put_u64(w, 0); /* length, filled in by sd_container_section_end */
}

int sd_container_section_end(sd_writer *w, size_t mark)
{
    if (w->status != SCORESDE_OK)
        return w->status;
    if (w->size < SD_CONTAINER_HEADER_SIZE || mark < SD_CONTAINER_HEADER_SIZE ||
        mark > w->size - SD_CONTAINER_SECTION_HEADER_SIZE)
        return w->status = sd_fail(SCORESDE_EINVAL, "no section was begun at offset %zu", mark);
    uint32_t count = (uint32_t)w->data[OFF_COUNT] | ((uint32_t)w->data[OFF_COUNT + 1] << 8) |
                     ((uint32_t)w->data[OFF_COUNT + 2] << 16) |
                     ((uint32_t)w->data[OFF_COUNT + 3] << 24);
    if (count >= SD_CONTAINER_MAX_SECTIONS)
        return w->status = sd_fail(SCORESDE_EINVAL, "a container holds at most %u sections",
                                   SD_CONTAINER_MAX_SECTIONS);
    sd_writer_patch_u64(w, mark + 8, (uint64_t)(w->size - mark - SD_CONTAINER_SECTION_HEADER_SIZE));
    return sd_writer_patch_u32(w, OFF_COUNT, count + 1);
}

int sd_container_finish(sd_writer *w)
{
    if (w->status != SCORESDE_OK)
        return w->status;
    if (w->size < SD_CONTAINER_HEADER_SIZE)
        return w->status = sd_fail(SCORESDE_EINVAL, "sd_container_begin was not called");
    sd_writer_patch_u64(w, OFF_FILE_SIZE, (uint64_t)w->size + SD_CONTAINER_TRAILER_SIZE);
    return sd_writer_put_u32(w, sd_crc32c(0, w->data, w->size));
}

/* The name of a tag for messages: its four characters when printable. */
static void tag_name(uint32_t tag, char out[16])
{
    char c[4];
    bool printable = true;
    for (int i = 0; i < 4; i++) {
        c[i] = (char)((tag >> (8 * i)) & 0xff);
        if (c[i] < 0x20 || c[i] > 0x7e)
            printable = false;
    }
    if (printable)
        snprintf(out, 16, "'%c%c%c%c'", c[0], c[1], c[2], c[3]);
    else
        snprintf(out, 16, "0x%08X", (unsigned)tag);
}

static const char *type_name(uint32_t type)
{
    switch (type) {
    case SD_FILE_MODEL:
        return "a model";
    case SD_FILE_CHECKPOINT:
        return "a checkpoint";
    default:
        return "of an unknown type";
    }
}

/* Reads the section header at the reader's cursor; skips the payload. */
static int read_section(sd_reader *r, uint32_t *tag, uint32_t *flags, sd_reader *payload)
{
    uint64_t len;
    SD_TRY(sd_reader_get_u32(r, tag, "section tag"));
    SD_TRY(sd_reader_get_u32(r, flags, "section flags"));
    size_t at = sd_reader_offset(r);
    SD_TRY(sd_reader_get_u64(r, &len, "section length"));
    if (len > sd_reader_remaining(r)) {
        char name[16];
        tag_name(*tag, name);
        return sd_fail(SCORESDE_ECORRUPT,
                       "section %s at offset %zu claims %llu bytes, only %zu remain before the checksum",
                       name, at - 8, (unsigned long long)len, sd_reader_remaining(r));
    }
    return sd_reader_sub(r, (size_t)len, payload, "section");
}

/* A reader over the sections area: after the header, before the trailer. */
static void sections_reader(const sd_container *c, sd_reader *r)
{
    sd_reader_init(r, c->data + SD_CONTAINER_HEADER_SIZE,
                   c->size - SD_CONTAINER_HEADER_SIZE - SD_CONTAINER_TRAILER_SIZE);
    r->base = SD_CONTAINER_HEADER_SIZE;
}

int sd_container_open(sd_container *c, const void *data, size_t size, uint32_t expected_type,
                      const uint32_t *known_tags, size_t n_known)
{
    if (data == NULL)
        return sd_fail(SCORESDE_EINVAL, "data is NULL");
    const uint8_t *bytes = data;
    const size_t min_size = SD_CONTAINER_HEADER_SIZE + SD_CONTAINER_TRAILER_SIZE;

    /* The magic first, so that a wrong file is called wrong, not truncated. */
    size_t cmp = size < SD_CONTAINER_MAGIC_SIZE ? size : SD_CONTAINER_MAGIC_SIZE;
    if (memcmp(bytes, sd_container_magic, cmp) != 0)
        return sd_fail(SCORESDE_ECORRUPT,
                       "not a libscoresde file: the magic number at offset 0 does not match");
    if (size < min_size)
        return sd_fail(SCORESDE_ECORRUPT,
                       "truncated file: %zu bytes, a libscoresde file has at least %zu", size,
                       min_size);

    sd_reader r;
    sd_reader_init(&r, bytes, size);
    uint32_t version, type, count, reserved;
    uint64_t file_size;
    sd_reader_skip(&r, SD_CONTAINER_MAGIC_SIZE, "magic");
    sd_reader_get_u32(&r, &version, "format version");
    sd_reader_get_u32(&r, &type, "file type");
    sd_reader_get_u64(&r, &file_size, "file size");
    sd_reader_get_u32(&r, &count, "section count");
    sd_reader_get_u32(&r, &reserved, "reserved header field"); /* ignored in 1.x */
    (void)reserved;

    /* The version before anything else: a newer major may lay out everything
     * after it differently, even where the checksum is. */
    uint32_t major = version >> 16, minor = version & 0xffff;
    if (major > SD_CONTAINER_VERSION_MAJOR)
        return sd_fail(SCORESDE_EVERSION,
                       "the file has format version %u.%u; this library reads versions up to "
                       "%u.x: use a newer libscoresde",
                       major, minor, SD_CONTAINER_VERSION_MAJOR);
    if (major == 0)
        return sd_fail(SCORESDE_ECORRUPT, "invalid format version 0.%u at offset %d", minor,
                       OFF_VERSION);

    if (file_size != (uint64_t)size)
        return sd_fail(SCORESDE_ECORRUPT,
                       "the header at offset %d says the file has %llu bytes, but %zu are "
                       "present (truncated or damaged)",
                       OFF_FILE_SIZE, (unsigned long long)file_size, size);

    size_t body = size - SD_CONTAINER_TRAILER_SIZE;
    uint32_t stored = (uint32_t)bytes[body] | ((uint32_t)bytes[body + 1] << 8) |
                      ((uint32_t)bytes[body + 2] << 16) | ((uint32_t)bytes[body + 3] << 24);
    uint32_t computed = sd_crc32c(0, bytes, body);
    if (stored != computed)
        return sd_fail(SCORESDE_ECORRUPT,
                       "checksum mismatch: the file stores CRC-32C 0x%08X at offset %zu, its "
                       "contents give 0x%08X (the file is damaged)",
                       (unsigned)stored, body, (unsigned)computed);

    if (count > SD_CONTAINER_MAX_SECTIONS)
        return sd_fail(SCORESDE_ECORRUPT, "the header declares %u sections, at most %u allowed",
                       count, SD_CONTAINER_MAX_SECTIONS);

    c->data = bytes;
    c->size = size;
    c->version = version;
    c->file_type = type;
    c->section_count = count;

    /* Walk the sections: every length inside the file, no tag twice, and the
     * sections exactly filling the space before the trailer. */
    sd_reader s;
    sections_reader(c, &s);
    for (uint32_t i = 0; i < count; i++) {
        uint32_t tag, flags;
        sd_reader payload;
        SD_TRY(read_section(&s, &tag, &flags, &payload));
        sd_reader prev;
        sections_reader(c, &prev);
        for (uint32_t j = 0; j < i; j++) {
            uint32_t ptag, pflags;
            sd_reader pp;
            read_section(&prev, &ptag, &pflags, &pp); /* validated on the way here */
            if (ptag == tag) {
                char name[16];
                tag_name(tag, name);
                return sd_fail(SCORESDE_ECORRUPT, "section %s appears twice (sections %u and %u)",
                               name, j, i);
            }
        }
    }
    if (sd_reader_remaining(&s) != 0)
        return sd_fail(SCORESDE_ECORRUPT,
                       "%zu bytes at offset %zu follow the %u sections the header declares",
                       sd_reader_remaining(&s), sd_reader_offset(&s), count);

    if (type != expected_type)
        return sd_fail(SCORESDE_EINVAL, "the file is %s file (type %u), not %s file",
                       type_name(type), type, type_name(expected_type));

    sections_reader(c, &s);
    for (uint32_t i = 0; i < count; i++) {
        uint32_t tag, flags;
        sd_reader payload;
        read_section(&s, &tag, &flags, &payload);
        if (!(flags & SD_SECTION_REQUIRED))
            continue;
        bool known = false;
        for (size_t k = 0; k < n_known && !known; k++)
            known = known_tags[k] == tag;
        if (!known) {
            char name[16];
            tag_name(tag, name);
            return sd_fail(SCORESDE_EVERSION,
                           "the file (format version %u.%u) needs section %s, which this "
                           "library does not know: use a newer libscoresde",
                           major, minor, name);
        }
    }
    return SCORESDE_OK;
}

static bool find_section(const sd_container *c, uint32_t tag, sd_reader *out)
{
    sd_reader s;
    sections_reader(c, &s);
    for (uint32_t i = 0; i < c->section_count; i++) {
        uint32_t t, flags;
        sd_reader payload;
        read_section(&s, &t, &flags, &payload); /* validated by sd_container_open */
        if (t == tag) {
            *out = payload;
            return true;
        }
    }
    return false;
}

int sd_container_section(const sd_container *c, uint32_t tag, sd_reader *out, const char *what)
{
    if (!find_section(c, tag, out)) {
        char name[16];
        tag_name(tag, name);
        return sd_fail(SCORESDE_ECORRUPT, "the file has no %s section (tag %s)", what, name);
    }
    return SCORESDE_OK;
}

bool sd_container_has(const sd_container *c, uint32_t tag)
{
    sd_reader r;
    return find_section(c, tag, &r);
}
