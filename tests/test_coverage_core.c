/*
 * Core I/O paths not reached elsewhere (issue 17's coverage goal): writers
 * whose buffer would overflow (every later put and the take report it),
 * patches out of range, empty takes, truncated arrays and strings, the
 * container's writer misuse, section limit, unknown file types and
 * non-printable tags; whole-file reads of sockets, of /proc files that grow
 * past their stated size or fail to read, NULL outputs; atomic saves to a
 * plain relative name and when every temporary name is taken.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"
#include "io.h"
#include "scoresde.h"
#include "testutil.h"

START_TEST(writer_overflow_sticks)
{
    sd_writer w;
    sd_writer_init(&w);
    ck_assert_int_eq(sd_writer_put_u32(&w, 7), SCORESDE_OK);
    test_expect_error(sd_writer_reserve(&w, SIZE_MAX / 2), SCORESDE_ENOMEM, "is too large");
    /* every later call reports the first failure and writes nothing */
    const uint32_t u4[1] = {1};
    const uint64_t u8[1] = {2};
    const float f4[1] = {3};
    ck_assert_int_eq(sd_writer_put_u32_array(&w, u4, 1), SCORESDE_ENOMEM);
    ck_assert_int_eq(sd_writer_put_u64_array(&w, u8, 1), SCORESDE_ENOMEM);
    ck_assert_int_eq(sd_writer_put_f32_array(&w, f4, 1), SCORESDE_ENOMEM);
    ck_assert_int_eq(sd_container_begin(&w, SD_FILE_MODEL), SCORESDE_ENOMEM);
    ck_assert_int_eq(sd_writer_status(&w), SCORESDE_ENOMEM);
    uint8_t *data = (uint8_t *)&w;
    size_t size = 1;
    ck_assert_int_eq(sd_writer_take(&w, &data, &size), SCORESDE_ENOMEM);
    ck_assert_ptr_null(data);
    ck_assert_uint_eq(size, 0);
    sd_writer_free(&w);
    sd_writer_free(NULL);
}
END_TEST

START_TEST(writer_patch_and_empty_take)
{
    sd_writer w;
    sd_writer_init(&w);
    uint8_t *data;
    size_t size;
    /* an empty writer still gives a buffer (of no bytes) */
    ck_assert_int_eq(sd_writer_take(&w, &data, &size), SCORESDE_OK);
    ck_assert_ptr_nonnull(data);
    ck_assert_uint_eq(size, 0);
    sd_free(data);
    sd_writer_init(&w);
    sd_writer_put_u32(&w, 1);
    test_expect_error(sd_writer_patch_u64(&w, 0, 5), SCORESDE_EINVAL,
                 "cannot patch 8 bytes at offset 0 of a 4-byte buffer");
    sd_writer_free(&w);
    sd_writer_init(&w);
    sd_writer_put_u32(&w, 1);
    test_expect_error(sd_writer_patch_u32(&w, 5, 5), SCORESDE_EINVAL, "at offset 5");
    sd_writer_free(&w);
}
END_TEST

START_TEST(reader_truncated_arrays_and_strings)
{
    uint8_t bytes[12] = {3, 0, 0, 0, 0, 0, 0, 0, 'a', 'b'};
    sd_reader r;
    uint32_t u4[3];
    uint64_t u8[2];
    float f4[3];
    uint8_t b[16];
    sd_reader_init(&r, bytes, 10);
    test_expect_error(sd_reader_get_u32_array(&r, u4, 3, "u32s"), SCORESDE_ECORRUPT, "u32s");
    test_expect_error(sd_reader_get_u64_array(&r, u8, 2, "u64s"), SCORESDE_ECORRUPT, "u64s");
    test_expect_error(sd_reader_get_f32_array(&r, f4, 3, "f32s"), SCORESDE_ECORRUPT, "f32s");
    test_expect_error(sd_reader_get_bytes(&r, b, 11, "bytes"), SCORESDE_ECORRUPT, "bytes");
    ck_assert_int_eq(sd_reader_get_bytes(&r, b, 0, "none"), SCORESDE_OK);
    ck_assert_uint_eq(sd_reader_remaining(&r), 10);
    /* a string of 3 bytes with 2 present; its length field cut short */
    char *s = NULL;
    size_t len;
    test_expect_error(sd_reader_get_string(&r, 64, &s, &len, "name"), SCORESDE_ECORRUPT, "name");
    sd_reader_init(&r, bytes, 5);
    test_expect_error(sd_reader_get_string(&r, 64, &s, &len, "name"), SCORESDE_ECORRUPT, "name");
    ck_assert_ptr_null(s);
    /* the empty string */
    uint8_t empty[8] = {0};
    sd_reader_init(&r, empty, 8);
    ck_assert_int_eq(sd_reader_get_string(&r, 64, &s, &len, "name"), SCORESDE_OK);
    ck_assert_str_eq(s, "");
    ck_assert_uint_eq(len, 0);
    sd_free(s);
}
END_TEST

START_TEST(container_writer_misuse)
{
    sd_writer w;
    sd_writer_init(&w);
    ck_assert_int_eq(sd_container_begin(&w, SD_FILE_MODEL), SCORESDE_OK);
    test_expect_error(sd_container_section_end(&w, 3), SCORESDE_EINVAL,
                 "no section was begun at offset 3");
    sd_writer_free(&w);
    /* at most SD_CONTAINER_MAX_SECTIONS sections */
    sd_writer_init(&w);
    ck_assert_int_eq(sd_container_begin(&w, SD_FILE_MODEL), SCORESDE_OK);
    for (uint32_t k = 0; k < SD_CONTAINER_MAX_SECTIONS; k++) {
        size_t mark;
        sd_container_section_begin(&w, k, 0, &mark);
        ck_assert_int_eq(sd_container_section_end(&w, mark), SCORESDE_OK);
    }
    size_t mark;
    sd_container_section_begin(&w, SD_CONTAINER_MAX_SECTIONS, 0, &mark);
    test_expect_error(sd_container_section_end(&w, mark), SCORESDE_EINVAL,
                 "a container holds at most 1024 sections");
    sd_writer_free(&w);
}
END_TEST

/* A sealed container of `type` with one empty section `tag` (flags given). */
static uint8_t *one_section(uint32_t type, uint32_t tag, uint32_t flags, size_t *size)
{
    sd_writer w;
    sd_writer_init(&w);
    sd_container_begin(&w, type);
    size_t mark;
    sd_container_section_begin(&w, tag, flags, &mark);
    sd_container_section_end(&w, mark);
    ck_assert_int_eq(sd_container_finish(&w), SCORESDE_OK);
    uint8_t *data;
    ck_assert_int_eq(sd_writer_take(&w, &data, size), SCORESDE_OK);
    return data;
}

START_TEST(container_names_in_messages)
{
    sd_container c;
    size_t size;
    /* a file type this library does not know */
    uint8_t *f = one_section(7, SD_TAG_META, 0, &size);
    test_expect_error(sd_container_open(&c, f, size, SD_FILE_MODEL, NULL, 0), SCORESDE_EINVAL,
                 "the file is of an unknown type file (type 7), not a model file");
    sd_free(f);
    /* a required section with a non-printable tag */
    f = one_section(SD_FILE_MODEL, 0x01020304u, SD_SECTION_REQUIRED, &size);
    test_expect_error(sd_container_open(&c, f, size, SD_FILE_MODEL, NULL, 0), SCORESDE_EVERSION,
                 "needs section 0x01020304");
    sd_free(f);
    /* a section header cut inside its flags, then inside its length */
    for (size_t cut = 6; cut <= 12; cut += 6) {
        f = one_section(SD_FILE_MODEL, SD_TAG_META, 0, &size);
        size_t n = SD_CONTAINER_HEADER_SIZE + cut;
        uint64_t total = n + SD_CONTAINER_TRAILER_SIZE;
        for (int k = 0; k < 8; k++)
            f[16 + k] = (uint8_t)(total >> (8 * k));
        test_reseal(f, (size_t)total);
        test_expect_error(sd_container_open(&c, f, (size_t)total, SD_FILE_MODEL, NULL, 0),
                     SCORESDE_ECORRUPT, cut == 6 ? "section flags" : "section length");
        sd_free(f);
    }
}
END_TEST

static char dir[64];

static void make_dir(void)
{
    strcpy(dir, "/tmp/sd_cov_core_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(read_all_special_files)
{
    uint8_t *out = NULL;
    size_t size = 0;
    test_expect_error(sd_file_read_all("/never/opened", 64, NULL, &size), SCORESDE_EINVAL,
                 "out is NULL");
    test_expect_error(sd_file_read_all("/never/opened", 64, &out, NULL), SCORESDE_EINVAL,
                 "size is NULL");
    /* /proc files state a size of 0 and have contents */
    test_expect_error(sd_file_read_all("/proc/self/status", 1 << 20, &out, &size), SCORESDE_EIO,
                 "it grew while being read");
    ck_assert_ptr_null(out);
    /* reading the process's memory at offset 0 fails */
    test_expect_error(sd_file_read_all("/proc/self/mem", 1 << 20, &out, &size), SCORESDE_EIO,
                 "cannot read /proc/self/mem");
    /* a socket is neither a pipe nor a device */
    make_dir();
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s/sock", dir);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    int rc = sd_file_read_all(a.sun_path, 64, &out, &size);
    close(fd);
    /* opening a socket fails (ENXIO) on Linux before it can be inspected */
    ck_assert_int_eq(rc, SCORESDE_EIO);
    ck_assert_ptr_null(out);
    remove_dir();
}
END_TEST

START_TEST(save_relative_and_names_taken)
{
    make_dir();
    char cwd[4096];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(dir), 0);
    static const uint8_t data[3] = {1, 2, 3};
    ck_assert_int_eq(sd_file_save_atomic("plain.bin", data, 3), SCORESDE_OK);
    uint8_t *back;
    size_t size;
    ck_assert_int_eq(sd_file_read_all("plain.bin", 64, &back, &size), SCORESDE_OK);
    ck_assert_uint_eq(size, 3);
    ck_assert_mem_eq(back, data, 3);
    sd_free(back);
    /* every temporary name of this process taken */
    char name[64];
    for (int n = 0; n < 1000; n++) {
        snprintf(name, sizeof name, "busy.bin.tmp.%ld.%d", (long)getpid(), n);
        int fd = open(name, O_WRONLY | O_CREAT | O_EXCL, 0600);
        ck_assert_int_ge(fd, 0);
        close(fd);
    }
    test_expect_error(sd_file_save_atomic("busy.bin", data, 3), SCORESDE_EIO,
                 "cannot create a temporary file to save busy.bin");
    ck_assert_int_eq(access("busy.bin", F_OK), -1);
    ck_assert_int_eq(chdir(cwd), 0);
    remove_dir();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("coverage_core");
    TCase *tc = tcase_create("io");
    tcase_add_test(tc, writer_overflow_sticks);
    tcase_add_test(tc, writer_patch_and_empty_take);
    tcase_add_test(tc, reader_truncated_arrays_and_strings);
    tcase_add_test(tc, container_writer_misuse);
    tcase_add_test(tc, container_names_in_messages);
    tcase_add_test(tc, read_all_special_files);
    tcase_add_test(tc, save_relative_and_names_taken);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(suite());
}
