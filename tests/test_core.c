/*
 * Core: status texts, thread-local messages, the allocator hook, versions.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "testutil.h"

START_TEST(strerror_covers_every_status)
{
    for (int code = SCORESDE_EBUSY; code <= SCORESDE_OK; code++) {
        const char *text = scoresde_strerror(code);
        ck_assert_ptr_nonnull(text);
        ck_assert_str_ne(text, "unknown status");
    }
    ck_assert_str_eq(scoresde_strerror(-9999), "unknown status");
    ck_assert_str_eq(scoresde_strerror(1), "unknown status");
}
END_TEST

START_TEST(fail_records_message_and_returns_code)
{
    ck_assert_int_eq(sd_fail(SCORESDE_EDIM, "x has dimension %d, the model expects %d", 3, 2),
                     SCORESDE_EDIM);
    ck_assert_str_eq(scoresde_last_error(), "x has dimension 3, the model expects 2");
}
END_TEST

static void *other_thread_message(void *arg)
{
    (void)arg;
    /* A new thread starts with an empty message of its own. */
    char *copy = malloc(64);
    strncpy(copy, scoresde_last_error(), 63);
    copy[63] = '\0';
    sd_fail(SCORESDE_EINVAL, "message of the other thread");
    return copy;
}

START_TEST(messages_are_thread_local)
{
    sd_fail(SCORESDE_EINVAL, "message of the main thread");
    pthread_t th;
    void *seen;
    ck_assert_int_eq(pthread_create(&th, NULL, other_thread_message, NULL), 0);
    ck_assert_int_eq(pthread_join(th, &seen), 0);
    ck_assert_str_eq((char *)seen, "");
    free(seen);
    ck_assert_str_eq(scoresde_last_error(), "message of the main thread");
}
END_TEST

START_TEST(long_messages_are_truncated_safely)
{
    char big[2000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    sd_fail(SCORESDE_EINVAL, "%s", big);
    ck_assert_uint_lt(strlen(scoresde_last_error()), sizeof big - 1);
    ck_assert_uint_gt(strlen(scoresde_last_error()), 100);
}
END_TEST

/* A counting allocator that fails after a budget of successful calls. */
static struct {
    size_t calls, frees, budget;
} counter;

static void *counting_malloc(size_t size, void *user)
{
    ck_assert_ptr_eq(user, &counter);
    if (counter.calls >= counter.budget)
        return NULL;
    counter.calls++;
    return malloc(size);
}

static void counting_free(void *ptr, void *user)
{
    ck_assert_ptr_eq(user, &counter);
    counter.frees++;
    free(ptr);
}

START_TEST(allocator_hook_is_used_and_counts_live_blocks)
{
    counter.calls = counter.frees = 0;
    counter.budget = 2;
    ck_assert_int_eq(scoresde_set_allocator(counting_malloc, counting_free, &counter), SCORESDE_OK);
    void *a = sd_malloc(10);
    double *b = sd_calloc(7, sizeof(double));
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq((uintptr_t)a % 64, 0);
    ck_assert_uint_eq((uintptr_t)b % 64, 0);
    for (int i = 0; i < 7; i++)
        ck_assert(b[i] == 0.0);
    ck_assert_uint_eq(scoresde_live_allocations(), 2);
    /* The budget is spent: the next allocation fails with a message. */
    ck_assert_ptr_null(sd_malloc(10));
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "cannot allocate 10 bytes"));
    /* Changing the allocator while blocks are live is refused. */
    ck_assert_int_eq(scoresde_set_allocator(NULL, NULL, NULL), SCORESDE_EBUSY);
    sd_free(a);
    sd_free(b);
    sd_free(NULL);
    ck_assert_uint_eq(counter.frees, 2);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
    ck_assert_int_eq(scoresde_set_allocator(NULL, NULL, NULL), SCORESDE_OK);
}
END_TEST

START_TEST(allocator_needs_both_functions)
{
    ck_assert_int_eq(scoresde_set_allocator(counting_malloc, NULL, NULL), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_set_allocator(NULL, counting_free, NULL), SCORESDE_EINVAL);
}
END_TEST

START_TEST(allocation_overflow_is_refused)
{
    ck_assert_ptr_null(sd_calloc(SIZE_MAX / 2, 4));
    ck_assert_ptr_null(sd_malloc(SIZE_MAX - 8));
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

START_TEST(argument_checks_name_the_argument)
{
    double x[4] = {0, 1, 2, 3};
    ck_assert_int_eq(sd_check_ptr(NULL, "score_out"), SCORESDE_EINVAL);
    ck_assert_str_eq(scoresde_last_error(), "score_out is NULL");
    ck_assert_int_eq(sd_check_batch(x, 0, 2, "x"), SCORESDE_EINVAL);
    ck_assert_int_eq(sd_check_batch(x, 2, 0, "x"), SCORESDE_EINVAL);
    ck_assert_int_eq(sd_check_batch(x, SIZE_MAX, 2, "x"), SCORESDE_EINVAL);
    ck_assert_int_eq(sd_check_batch(NULL, 2, 2, "x"), SCORESDE_EINVAL);
    ck_assert_int_eq(sd_check_batch(x, 2, 2, "x"), SCORESDE_OK);
    x[2] = 0.0 / 0.0;
    ck_assert_int_eq(sd_check_finite(x, 4, "x"), SCORESDE_EINVAL);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "x[2] is not finite"));
}
END_TEST

/* The finiteness scan tests eight entries at a time: every non-finite kind
 * at every position of arrays around the block sizes is found, and the first
 * one is named, whatever follows it; the smallest subnormal and the largest
 * finite values pass. */
START_TEST(finite_scan_finds_the_first_nonfinite_entry)
{
    const double bad[3] = {NAN, INFINITY, -INFINITY};
    double x[40];
    char want[64];
    for (size_t count = 1; count <= 40; count++) {
        for (size_t i = 0; i < count; i++)
            x[i] = (i % 3 == 0) ? DBL_MAX : (i % 3 == 1) ? -4.9e-324 : (double)i;
        ck_assert_int_eq(sd_check_finite(x, count, "x"), SCORESDE_OK);
        for (size_t at = 0; at < count; at++)
            for (int k = 0; k < 3; k++) {
                double keep = x[at];
                x[at] = bad[k];
                if (at + 1 < count)
                    x[count - 1] = bad[(k + 1) % 3]; /* a later one is not named */
                ck_assert_int_eq(sd_check_finite(x, count, "x"), SCORESDE_EINVAL);
                snprintf(want, sizeof want, "x[%zu] is not finite", at);
                ck_assert_ptr_nonnull(strstr(scoresde_last_error(), want));
                x[at] = keep;
                x[count - 1] = (count - 1) % 3 == 0 ? DBL_MAX
                               : (count - 1) % 3 == 1 ? -4.9e-324 : (double)(count - 1);
            }
    }
}
END_TEST

START_TEST(version_matches_header)
{
    ck_assert_uint_eq(scoresde_version_number(), SCORESDE_VERSION_NUMBER);
    ck_assert_str_eq(scoresde_version_string(), SCORESDE_VERSION_STRING);
    ck_assert_uint_eq(SCORESDE_VERSION_NUMBER, SCORESDE_VERSION_MAJOR * 10000u +
                                                    SCORESDE_VERSION_MINOR * 100u +
                                                    SCORESDE_VERSION_PATCH);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, strerror_covers_every_status);
    tcase_add_test(tc, fail_records_message_and_returns_code);
    tcase_add_test(tc, messages_are_thread_local);
    tcase_add_test(tc, long_messages_are_truncated_safely);
    tcase_add_test(tc, allocator_hook_is_used_and_counts_live_blocks);
    tcase_add_test(tc, allocator_needs_both_functions);
    tcase_add_test(tc, allocation_overflow_is_refused);
    tcase_add_test(tc, argument_checks_name_the_argument);
    tcase_add_test(tc, finite_scan_finds_the_first_nonfinite_entry);
    tcase_add_test(tc, version_matches_header);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
