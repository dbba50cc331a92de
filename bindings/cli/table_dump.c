/*
 * table_dump IN [OUT]: reads IN with sd_table_read (format by extension),
 * prints "rows cols", the column names and every value in hexadecimal (%a,
 * exact), and writes the table to OUT when given. check_npy.py drives it
 * against NumPy's own files. A test helper, never installed.
 */
#include "table.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: table_dump IN [OUT]\n");
        return 2;
    }
    sd_table t;
    char err[512];
    if (sd_table_read(argv[1], NULL, &t, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("%zu %zu\n", t.rows, t.cols);
    for (size_t j = 0; j < t.cols; j++)
        printf("%s\n", t.names[j]);
    for (size_t k = 0; k < t.rows * t.cols; k++)
        printf("%a\n", t.values[k]);
    int rc = 0;
    if (argc == 3 && sd_table_write(argv[2], NULL, &t, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        rc = 1;
    }
    sd_table_free(&t);
    return rc;
}
