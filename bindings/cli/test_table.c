/* Unit tests of the scoresde tool's data I/O module (table.h). */
#include "table.h"

#include <check.h>
#include <stdlib.h>

START_TEST(test_placeholder)
{
    sd_table t = {0};
    sd_table_free(&t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("table");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, test_placeholder);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
