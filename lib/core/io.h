/*
 * The file layer (private): little-endian byte writers and bounded readers,
 * CRC-32C, atomic file saves, whole-file reads, and the libscoresde container
 * format (docs/file-format.md) that model files and checkpoints are made of.
 *
 * Every multi-byte value is little-endian on disk whatever the host's byte
 * order; doubles and floats are their IEEE-754 bit patterns.
 *
 * Thread-safety: no function here touches global state; a writer or reader
 * belongs to one thread at a time. Error messages go to the calling thread's
 * scoresde_last_error().
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SD_IO_H
#define SD_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------ */
/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, init and final xor
 * 0xFFFFFFFF: the iSCSI / ext4 / SSE4.2 "crc32" checksum).                  */

/* Continue a CRC-32C over `size` more bytes. Start with crc = 0; the result of
 * one call is the `crc` of the next, so sd_crc32c(sd_crc32c(0, a, n), b, m) is
 * the CRC of a followed by b. sd_crc32c(0, "123456789", 9) == 0xE3069283.
 * `data` may be NULL when size is 0. */
uint32_t sd_crc32c(uint32_t crc, const void *data, size_t size);

/* ------------------------------------------------------------------------ */
/* Writer: a growable byte buffer. Memory comes from sd_malloc. The first
 * failure (ENOMEM, or a size overflow) is sticky: later puts do nothing and
 * return the same code, so a run of puts can be checked once at the end with
 * sd_writer_status(). */

typedef struct sd_writer sd_writer;
struct sd_writer {
    uint8_t *data; /* the bytes written so far (NULL while nothing is allocated) */
    size_t size;   /* number of bytes written */
    size_t cap;    /* allocated bytes */
    int status;    /* SCORESDE_OK or the first failure */
};

/* An empty writer. Allocation happens on the first put. */
void sd_writer_init(sd_writer *w);
/* Release the buffer (if not taken) and reset to empty. Accepts NULL. */
void sd_writer_free(sd_writer *w);
/* SCORESDE_OK or the first failure of any put. */
int sd_writer_status(const sd_writer *w);
/* Make room for `extra` more bytes (optional; the puts grow as needed). */
int sd_writer_reserve(sd_writer *w, size_t extra);

int sd_writer_put_u8(sd_writer *w, uint8_t v);
int sd_writer_put_u32(sd_writer *w, uint32_t v);
int sd_writer_put_u64(sd_writer *w, uint64_t v);
int sd_writer_put_i64(sd_writer *w, int64_t v);
int sd_writer_put_f32(sd_writer *w, float v);
int sd_writer_put_f64(sd_writer *w, double v);
/* Raw bytes, no length prefix. `data` may be NULL when size is 0. */
int sd_writer_put_bytes(sd_writer *w, const void *data, size_t size);
/* Arrays of `count` values, no count prefix (write the count yourself). */
int sd_writer_put_u32_array(sd_writer *w, const uint32_t *v, size_t count);
int sd_writer_put_u64_array(sd_writer *w, const uint64_t *v, size_t count);
int sd_writer_put_f32_array(sd_writer *w, const float *v, size_t count);
int sd_writer_put_f64_array(sd_writer *w, const double *v, size_t count);
/* A byte string: u64 length, then the bytes (no terminating NUL). */
int sd_writer_put_string(sd_writer *w, const void *data, size_t size);
/* Overwrite 4 / 8 already-written bytes at `offset` (for lengths and counts
 * known only later). The offset must lie inside what was written. */
int sd_writer_patch_u32(sd_writer *w, size_t offset, uint32_t v);
int sd_writer_patch_u64(sd_writer *w, size_t offset, uint64_t v);

/* Hand the buffer to the caller, who frees it with sd_free, and reset the
 * writer to empty. Returns the writer's status; on failure *out is NULL and
 * the buffer is released. An empty, successful writer gives a valid
 * (1-byte) allocation and *size 0, so the result is never NULL on success. */
int sd_writer_take(sd_writer *w, uint8_t **out, size_t *size);

/* ------------------------------------------------------------------------ */
/* Reader: a bounded cursor over bytes it does not own. Every get checks the
 * remaining length first and fails with SCORESDE_ECORRUPT and a message
 * "truncated <what> at offset <n>: needs <k> bytes, <m> left". On failure the
 * cursor does not move and the output is left untouched. `what` names the
 * field being read, for the message. Offsets in messages are counted from the
 * start of the outermost buffer, also inside sub-readers. */

typedef struct sd_reader sd_reader;
struct sd_reader {
    const uint8_t *data; /* start of the readable range */
    size_t size;         /* bytes in the range */
    size_t pos;          /* cursor, 0 <= pos <= size */
    size_t base;         /* offset of data[0] in the outermost buffer */
};

/* A reader over data[0..size). `data` may be NULL only when size is 0. */
void sd_reader_init(sd_reader *r, const void *data, size_t size);
/* Bytes not yet read. */
size_t sd_reader_remaining(const sd_reader *r);
/* The cursor's offset in the outermost buffer (for messages). */
size_t sd_reader_offset(const sd_reader *r);

int sd_reader_get_u8(sd_reader *r, uint8_t *out, const char *what);
int sd_reader_get_u32(sd_reader *r, uint32_t *out, const char *what);
int sd_reader_get_u64(sd_reader *r, uint64_t *out, const char *what);
int sd_reader_get_i64(sd_reader *r, int64_t *out, const char *what);
int sd_reader_get_f32(sd_reader *r, float *out, const char *what);
int sd_reader_get_f64(sd_reader *r, double *out, const char *what);
/* Copy `size` raw bytes out. */
int sd_reader_get_bytes(sd_reader *r, void *out, size_t size, const char *what);
/* Point *out at the next `size` bytes without copying, and skip them. */
int sd_reader_view(sd_reader *r, size_t size, const uint8_t **out, const char *what);
int sd_reader_skip(sd_reader *r, size_t size, const char *what);
/* Arrays of `count` values into caller memory. The whole array is checked
 * against the remaining bytes before anything is written. */
int sd_reader_get_u32_array(sd_reader *r, uint32_t *out, size_t count, const char *what);
int sd_reader_get_u64_array(sd_reader *r, uint64_t *out, size_t count, const char *what);
int sd_reader_get_f32_array(sd_reader *r, float *out, size_t count, const char *what);
int sd_reader_get_f64_array(sd_reader *r, double *out, size_t count, const char *what);

/* Check that `count` elements of `elem_size` bytes each (overflow-safe) fit in
 * the remaining bytes. Call it on every count read from a file BEFORE
 * allocating count-sized memory: a damaged count then fails with ECORRUPT
 * ("<what>: 1e12 elements of 8 bytes exceed the 40 bytes left at offset 96")
 * instead of a huge allocation. Moves nothing. */
int sd_reader_check_count(const sd_reader *r, uint64_t count, size_t elem_size,
                          const char *what);

/* A length-prefixed byte string (u64 length, bytes). The view form points
 * into the buffer; the copying form allocates length + 1 bytes with sd_malloc
 * (only after the length is checked), NUL-terminates, and gives the caller
 * ownership (sd_free). `max_size` bounds the length (ECORRUPT beyond it). */
int sd_reader_view_string(sd_reader *r, size_t max_size, const uint8_t **out, size_t *size,
                          const char *what);
int sd_reader_get_string(sd_reader *r, size_t max_size, char **out, size_t *size,
                         const char *what);

/* A reader over the next `size` bytes, which the parent skips. Offsets in the
 * sub-reader's messages stay absolute. */
int sd_reader_sub(sd_reader *r, size_t size, sd_reader *sub, const char *what);
/* ECORRUPT unless every byte was read ("<what>: 3 unexpected bytes at ..."). */
int sd_reader_expect_end(const sd_reader *r, const char *what);

/* ------------------------------------------------------------------------ */
/* Files. */

/* Write `size` bytes to `path` atomically: the bytes go to a new temporary
 * file in the same directory ("<path>.tmp.<pid>.<n>", created exclusively,
 * mode 0666 & ~umask), which is flushed to disk (fsync) and then renamed over
 * `path`; the directory is then synced so the rename survives a crash. A
 * reader of `path` sees the old file or the new one, never a mixture; if
 * anything up to the rename fails, the temporary is removed, `path` is
 * untouched, and the result is SCORESDE_EIO with the path, the failed step
 * and strerror(errno). If only the final directory sync fails, the new file
 * is in place but its rename may not survive a power loss: SCORESDE_EIO too.
 * SCORESDE_EINVAL for a NULL/empty path or NULL data with size > 0. */
int sd_file_save_atomic(const char *path, const void *data, size_t size);

/* Test hook: the same, but pretending that step `fail_at` failed with EIO.
 * Steps: 0 none, 1 create, 2 write, 3 fsync, 4 close, 5 rename. */
enum {
    SD_SAVE_FAIL_NONE = 0,
    SD_SAVE_FAIL_CREATE,
    SD_SAVE_FAIL_WRITE,
    SD_SAVE_FAIL_FSYNC,
    SD_SAVE_FAIL_CLOSE,
    SD_SAVE_FAIL_RENAME
};
int sd_file_save_atomic_test(const char *path, const void *data, size_t size, int fail_at);

/* Read the whole file at `path` into a new sd_malloc buffer (caller frees
 * with sd_free; never NULL on success, even for an empty file). A file larger
 * than `max_size` bytes is refused with SCORESDE_EIO before it is read. Only
 * regular files are read: a directory, pipe or device is refused with
 * SCORESDE_EIO, and opening never blocks (a FIFO without a writer).
 * SCORESDE_EIO with the path and strerror(errno) if it cannot be opened or
 * read; SCORESDE_ENOMEM; SCORESDE_EINVAL for NULL arguments. */
int sd_file_read_all(const char *path, size_t max_size, uint8_t **out, size_t *size);

/* ------------------------------------------------------------------------ */
/* The container format (docs/file-format.md).
 *
 *   header   32 bytes: magic, version, file type, file size, section count,
 *            reserved
 *   sections each: u32 tag, u32 flags, u64 length, `length` bytes
 *   trailer  u32 CRC-32C of every byte before it
 */

#define SD_CONTAINER_MAGIC_SIZE 8
extern const uint8_t sd_container_magic[SD_CONTAINER_MAGIC_SIZE];

/* Format version: major in the high 16 bits, minor in the low 16. A reader
 * refuses a newer major (SCORESDE_EVERSION) and reads any minor of a major it
 * knows (minors only add sections or append fields to a section). */
#define SD_CONTAINER_VERSION_MAJOR 1u
#define SD_CONTAINER_VERSION_MINOR 2u /* 1.1: conditional models, COND_DROPOUT; 1.2: XFRM */
#define SD_CONTAINER_VERSION ((SD_CONTAINER_VERSION_MAJOR << 16) | SD_CONTAINER_VERSION_MINOR)

#define SD_CONTAINER_HEADER_SIZE 32u
#define SD_CONTAINER_SECTION_HEADER_SIZE 16u
#define SD_CONTAINER_TRAILER_SIZE 4u
/* More sections than this are refused as corrupt (keeps lookups cheap). */
#define SD_CONTAINER_MAX_SECTIONS 1024u

/* File types. */
enum { SD_FILE_MODEL = 1, SD_FILE_CHECKPOINT = 2 };

/* Section tags: four ASCII characters, stored as the little-endian u32 of
 * those bytes so a hex dump shows them. The registry is docs/file-format.md. */
#define SD_TAG(a, b, c, d) \
    ((uint32_t)(uint8_t)(a) | ((uint32_t)(uint8_t)(b) << 8) | ((uint32_t)(uint8_t)(c) << 16) | \
     ((uint32_t)(uint8_t)(d) << 24))
#define SD_TAG_MODEL SD_TAG('M', 'O', 'D', 'L')      /* model description */
#define SD_TAG_SDE SD_TAG('S', 'D', 'E', ' ')        /* SDE description */
#define SD_TAG_PARAMS SD_TAG('P', 'A', 'R', 'M')     /* model parameters */
#define SD_TAG_KIND SD_TAG('K', 'I', 'N', 'D')       /* per-kind model state */
#define SD_TAG_TRAINER SD_TAG('T', 'R', 'N', 'R')    /* trainer state (checkpoints) */
#define SD_TAG_OPTIMIZER SD_TAG('O', 'P', 'T', 'M')  /* optimiser state (checkpoints) */
#define SD_TAG_META SD_TAG('M', 'E', 'T', 'A')       /* free-form metadata, skippable */
#define SD_TAG_TRANSFORM SD_TAG('X', 'F', 'R', 'M')  /* the model's data transform (1.2) */

/* Section flags. A reader that meets a section it does not know skips it,
 * unless the section carries SD_SECTION_REQUIRED: then the file needs a newer
 * reader and opening it fails with SCORESDE_EVERSION. Other bits are reserved
 * (written 0, ignored). */
#define SD_SECTION_REQUIRED 0x1u

/* Writing: sd_container_begin, then for each section begin / puts / end, then
 * sd_container_finish, then sd_writer_take. The container starts at offset 0
 * of an empty writer. Errors are sticky in the writer like any put. */
int sd_container_begin(sd_writer *w, uint32_t file_type);
/* Start a section; *mark remembers where, for sd_container_section_end. */
int sd_container_section_begin(sd_writer *w, uint32_t tag, uint32_t flags, size_t *mark);
int sd_container_section_end(sd_writer *w, size_t mark);
/* Fill in the file size and append the CRC-32C. */
int sd_container_finish(sd_writer *w);

/* A validated container over a caller-owned buffer (no allocation). */
typedef struct sd_container {
    const uint8_t *data;    /* the whole file */
    size_t size;
    uint32_t version;       /* as stored (major << 16 | minor) */
    uint32_t file_type;
    uint32_t section_count;
} sd_container;

/* Validate a whole container, in this order: the size can hold a header and a
 * trailer, the magic, the major version (SCORESDE_EVERSION if newer), the
 * stored file size equals `size`, the CRC-32C, then every section header
 * (lengths inside the file, sections exactly filling the space up to the
 * trailer, no tag twice, count as stored), then the file type
 * (SCORESDE_EINVAL if it is not `expected_type`), then that every section
 * flagged REQUIRED is one of known_tags[0..n_known) (SCORESDE_EVERSION if not).
 * Any other damage: SCORESDE_ECORRUPT with what and where. */
int sd_container_open(sd_container *c, const void *data, size_t size, uint32_t expected_type,
                      const uint32_t *known_tags, size_t n_known);

/* A reader over the payload of the section with `tag`. Returns SCORESDE_OK,
 * or SCORESDE_ECORRUPT ("the file has no <what> section") if absent;
 * sd_container_has tells without failing. */
int sd_container_section(const sd_container *c, uint32_t tag, sd_reader *out, const char *what);
bool sd_container_has(const sd_container *c, uint32_t tag);

#endif /* SD_IO_H */
