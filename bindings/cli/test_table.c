/*
 * Unit tests of the scoresde tool's data I/O module (table.h): every format,
 * every refusal and its message, and the fast number parser against strtod.
 * The module is included (not linked) so its parser can be called directly.
 */
#include "table.c"

#include <check.h>
#include <dirent.h>
#include <float.h>

static char dir[256];

static void make_dir(void)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(dir, sizeof dir, "%s/test_table.XXXXXX", base);
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        exit(EXIT_FAILURE);
    }
}

static void remove_dir(void)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    char p[600];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (unlink(p) != 0)
            rmdir(p);
    }
    closedir(d);
    rmdir(dir);
}

static const char *path_of(const char *name)
{
    static char p[8][600];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static const char *put(const char *name, const void *data, size_t n)
{
    const char *p = path_of(name);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
    return p;
}

static const char *put_text(const char *name, const char *text)
{
    return put(name, text, strlen(text));
}

static void read_ok(const char *path, const sd_table_format *fmt, sd_table *t)
{
    char err[512] = "";
    int rc = sd_table_read(path, fmt, t, err, sizeof err);
    ck_assert_msg(rc == 0, "read %s failed: %s", path, err);
}

/* Reading text gives -1 and a message containing want (with the file name). */
static void read_fails(const char *name, const char *text, const sd_table_format *fmt, const char *want)
{
    const char *p = put_text(name, text);
    char err[512] = "";
    sd_table t;
    ck_assert_int_eq(sd_table_read(p, fmt, &t, err, sizeof err), -1);
    ck_assert_msg(strstr(err, want) != NULL, "message \"%s\" lacks \"%s\"", err, want);
    ck_assert_msg(strstr(err, p) != NULL, "message \"%s\" does not name the file", err);
    ck_assert_ptr_null(t.values);
    ck_assert_ptr_null(t.names);
}

static void check_values(const sd_table *t, size_t rows, size_t cols, const double *v)
{
    ck_assert_uint_eq(t->rows, rows);
    ck_assert_uint_eq(t->cols, cols);
    /* ck_abort only on a difference: each Check assertion costs a write to
     * the test's pipe, too many for a loop over every value */
    for (size_t k = 0; k < rows * cols; k++)
        if (memcmp(&t->values[k], &v[k], sizeof(double)) != 0)
            ck_abort_msg("value %zu: %.17g != %.17g", k, t->values[k], v[k]);
}

START_TEST(test_csv_header)
{
    sd_table t;
    read_ok(put_text("a.csv", "x,y\n1,2\n-3.5,4e2\n"), NULL, &t);
    const double v[] = {1, 2, -3.5, 400};
    check_values(&t, 2, 2, v);
    ck_assert_str_eq(t.names[0], "x");
    ck_assert_str_eq(t.names[1], "y");
    sd_table_free(&t);
    ck_assert_ptr_null(t.values);
    sd_table_free(&t);
    sd_table_free(NULL);
}
END_TEST

START_TEST(test_csv_no_header)
{
    sd_table t;
    read_ok(put_text("b.csv", "1,2,3\n4,5,6"), NULL, &t); /* no final newline */
    const double v[] = {1, 2, 3, 4, 5, 6};
    check_values(&t, 2, 3, v);
    ck_assert_str_eq(t.names[0], "1");
    ck_assert_str_eq(t.names[2], "3");
    sd_table_free(&t);
    /* forced header on a numeric first line */
    sd_table_format f = {TABLE_AUTO, 1, 0};
    read_ok(put_text("c.csv", "10,20\n1,2\n"), &f, &t);
    check_values(&t, 1, 2, v);
    ck_assert_str_eq(t.names[1], "20");
    sd_table_free(&t);
    /* forced no header on a text first line */
    f.header = 0;
    read_fails("d.csv", "x,y\n1,2\n", &f, "line 1, column 1: \"x\" is not a number");
}
END_TEST

START_TEST(test_csv_syntax)
{
    sd_table t;
    /* BOM, comments, blank lines, CRLF, blanks around cells, quoted names with
     * a delimiter and a doubled quote, an empty name, a quoted number */
    read_ok(put_text("e.csv", "\xEF\xBB\xBF# comment\r\n\r\n \"a,b\" , \"say \"\"hi\"\"\",\r\n"
                                 "  # another\n1 , 2,\"3\"\r\n\n\t4,  5 ,6\r\n"),
            NULL, &t);
    const double v[] = {1, 2, 3, 4, 5, 6};
    check_values(&t, 2, 3, v);
    ck_assert_str_eq(t.names[0], "a,b");
    ck_assert_str_eq(t.names[1], "say \"hi\"");
    ck_assert_str_eq(t.names[2], "3");
    sd_table_free(&t);
    /* a quote inside an unquoted name is text; "" inside a quoted one a quote */
    read_ok(put_text("q.csv", "a\"b,\"c,\"\"d\"\n1,2\n"), NULL, &t);
    ck_assert_uint_eq(t.cols, 2);
    ck_assert_str_eq(t.names[0], "a\"b");
    ck_assert_str_eq(t.names[1], "c,\"d");
    sd_table_free(&t);
    /* a quoted numeric cell on the first line makes it a header */
    read_ok(put_text("f.csv", "\"1\",\"2\"\n3,4\n"), NULL, &t);
    ck_assert_uint_eq(t.rows, 1);
    ck_assert_str_eq(t.names[0], "1");
    sd_table_free(&t);
    /* hexadecimal and other strtod forms are accepted as strtod reads them */
    read_ok(put_text("g.csv", "0x1p3,1e2,.5,-0,1.\n"), NULL, &t);
    ck_assert_double_eq(t.values[0], 8.0);
    ck_assert_double_eq(t.values[2], 0.5);
    ck_assert(signbit(t.values[3]));
    sd_table_free(&t);
}
END_TEST

START_TEST(test_delimiters)
{
    sd_table t;
    const double v[] = {1.5, 2, 3, 4};
    read_ok(put_text("s.csv", "a;b\n1.5;2\n3;4\n"), NULL, &t);
    check_values(&t, 2, 2, v);
    sd_table_free(&t);
    read_ok(put_text("s2.csv", "\"a,x\";b\n1.5;2\n3;4\n"), NULL, &t); /* a comma inside quotes */
    check_values(&t, 2, 2, v);
    ck_assert_str_eq(t.names[0], "a,x");
    sd_table_free(&t);
    read_ok(put_text("t.csv", "a\tb\n1.5\t2\n3\t4\n"), NULL, &t);
    check_values(&t, 2, 2, v);
    sd_table_free(&t);
    read_ok(put_text("u.tsv", "a b\tc\n1.5\t2\n3\t4\n"), NULL, &t); /* TSV: a name with a comma-free blank */
    check_values(&t, 2, 2, v);
    ck_assert_str_eq(t.names[0], "a b");
    sd_table_free(&t);
    read_ok(put_text("v.tab", "a,b\tc\n1.5\t2\n3\t4\n"), NULL, &t); /* TSV: commas are text */
    ck_assert_str_eq(t.names[0], "a,b");
    sd_table_free(&t);
    sd_table_format f = {TABLE_CSV, -1, '|'};
    read_ok(put_text("w.txt", "a|b\n1.5|2\n3|4\n"), &f, &t);
    check_values(&t, 2, 2, v);
    sd_table_free(&t);
    f.delimiter = ' ';
    read_ok(put_text("x.txt", "1.5 2\n3 4\n"), &f, &t);
    check_values(&t, 2, 2, v);
    sd_table_free(&t);
    f = (sd_table_format){TABLE_TSV, -1, 0};
    read_ok(put_text("y.dat", "1.5\t2\n3\t4\n"), &f, &t);
    check_values(&t, 2, 2, v);
    sd_table_free(&t);
    /* one column */
    read_ok(put_text("z.csv", "only\n1\n2\n"), NULL, &t);
    ck_assert_uint_eq(t.cols, 1);
    ck_assert_uint_eq(t.rows, 2);
    sd_table_free(&t);
}
END_TEST

START_TEST(test_text_errors)
{
    read_fails("e1.csv", "x,y\n1,2\n3,abc\n", NULL, "line 3, column 2 (y): \"abc\" is not a number");
    read_fails("e2.csv", "1,2\n3,4x\n", NULL, "line 2, column 2: \"4x\" is not a number");
    read_fails("e3.csv", "x,y\n1,,\n", NULL, "line 2, column 2 (y): \"\" is empty, not a number");
    read_fails("e4.csv", "x,y\n1,2\n3\n", NULL, "line 3, column 2: 1 cells where the header (line 1) has 2");
    read_fails("e5.csv", "# c\n1,2\n3,4,5\n", NULL, "line 3, column 3: 3 cells where line 2 has 2");
    read_fails("e6.csv", "x,y\n1,nan\n", NULL, "line 2, column 2 (y): \"nan\" is not finite");
    read_fails("e7.csv", "x,y\n-inf,1\n", NULL, "line 2, column 1 (x): \"-inf\" is not finite");
    read_fails("e8.csv", "x,y\n1e999,1\n", NULL, "line 2, column 1 (x): \"1e999\" is not finite");
    read_fails("e9.csv", "1,NaN\n", NULL, "line 1, column 2: \"NaN\" is not finite");
    read_fails("e10.csv", "1,Inf\n", &(sd_table_format){TABLE_CSV, 0, 0}, "is not finite");
    read_fails("e11.csv", "", NULL, "empty: no data rows");
    read_fails("e12.csv", "# only a comment\n\n", NULL, "empty: no data rows");
    read_fails("e13.csv", "x,y\n# no rows\n", NULL, "no data rows after the header (line 1)");
    read_fails("e14.csv", "\"x,y\n1,2\n", NULL, "line 1, column 1: quote not closed on its line");
    read_fails("e15.csv", "\"x\"z,y\n1,2\n", NULL, "line 1, column 1: text after the closing quote");
    read_fails("e16.csv", "x,y\n\"1,2\n", NULL, "line 2, column 1 (x): \"\"1\" has no closing quote");
    read_fails("e17.csv", "x,y\n\"a\",2\n", NULL, "line 2, column 1 (x): \"\"a\"\" is not a number");
    read_fails("e18.csv", "x,y\n1,2,\n", NULL, "line 2, column 3: 3 cells where the header (line 1) has 2");
    read_fails("e19.csv", "x,y\n1,\n", NULL, "line 2, column 2 (y): \"\" is empty");
    /* a long cell is shortened in the message */
    read_fails("e21.csv", "1,1e+\n", &(sd_table_format){TABLE_CSV, 0, 0}, "line 1, column 2: \"1e+\" is not a number");
    read_fails("e22.csv", "x\n1e+\n", NULL, "line 2, column 1 (x): \"1e+\" is not a number");
    read_fails("e20.csv", "x\n123456789012345678901234567890123456789012345678901234567890z\n", NULL,
               "\"1234567890123456789012345678901234567890...\" is not a number");
}
END_TEST

START_TEST(test_file_errors)
{
    char err[512];
    sd_table t;
    const char *missing = path_of("missing.csv");
    ck_assert_int_eq(sd_table_read(missing, NULL, &t, err, sizeof err), -1);
    ck_assert_str_eq(strstr(err, ": "), ": cannot open: No such file or directory");
    ck_assert_int_eq(sd_table_read(dir, NULL, &t, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "is a directory"));
    if (geteuid() != 0) {
        const char *p = put_text("locked.csv", "1\n");
        chmod(p, 0);
        ck_assert_int_eq(sd_table_read(p, NULL, &t, err, sizeof err), -1);
        ck_assert_ptr_nonnull(strstr(err, "cannot open: Permission denied"));
    }
    ck_assert_int_eq(sd_table_read(NULL, NULL, &t, err, sizeof err), -1);
    ck_assert_int_eq(sd_table_read(put_text("k.csv", "1\n"), &(sd_table_format){9, -1, 0}, &t, err, sizeof err),
                     -1);
    ck_assert_ptr_nonnull(strstr(err, "unknown table format 9"));
    ck_assert_int_eq(sd_table_read(missing, NULL, &t, NULL, 0), -1); /* no message buffer */
}
END_TEST

START_TEST(test_stdin)
{
    const char *p = put_text("in.csv", "a,b\n1,2\n");
    ck_assert_ptr_nonnull(freopen(p, "rb", stdin));
    sd_table t;
    char err[512];
    ck_assert_int_eq(sd_table_read("-", NULL, &t, err, sizeof err), 0);
    ck_assert_uint_eq(t.rows, 1);
    ck_assert_str_eq(t.names[1], "b");
    sd_table_free(&t);
    /* errors name standard input */
    p = put_text("in2.csv", "a,b\n1,x\n");
    ck_assert_ptr_nonnull(freopen(p, "rb", stdin));
    ck_assert_int_eq(sd_table_read("-", NULL, &t, err, sizeof err), -1);
    ck_assert_str_eq(err, "<stdin>: line 2, column 2 (b): \"x\" is not a number");
}
END_TEST

/* Read and write errors of the system: a directory as standard input, a
 * full device as standard output. */
START_TEST(test_io_errors)
{
    sd_table t;
    char err[512];
    ck_assert_ptr_nonnull(freopen(dir, "r", stdin));
    ck_assert_int_eq(sd_table_read("-", NULL, &t, err, sizeof err), -1);
    ck_assert_str_eq(err, "<stdin>: line 1: read error: Is a directory");
    ck_assert_ptr_nonnull(freopen(dir, "r", stdin));
    ck_assert_int_eq(sd_table_read("-", &(sd_table_format){TABLE_NPY, -1, 0}, &t, err, sizeof err), -1);
    ck_assert_str_eq(err, "<stdin>: read error: Is a directory");
    if (freopen("/dev/full", "w", stdout) != NULL) {
        sd_table w = {1000, 2, calloc(2000, sizeof(double)), default_names(2)};
        ck_assert_int_eq(sd_table_write("-", NULL, &w, err, sizeof err), -1);
        ck_assert_str_eq(err, "<stdout>: write error: No space left on device");
        sd_table_free(&w);
    }
}
END_TEST

/* A table larger than the line buffer, and a line longer than it. */
START_TEST(test_large)
{
    size_t rows = 20000, cols = 3;
    sd_table t = {rows, cols, malloc(rows * cols * sizeof(double)), default_names(cols)};
    for (size_t k = 0; k < rows * cols; k++)
        t.values[k] = sin((double)k) * pow(10.0, (double)(k % 40) - 20.0);
    char err[512];
    const char *p = path_of("large.csv");
    ck_assert_int_eq(sd_table_write(p, NULL, &t, err, sizeof err), 0);
    sd_table r;
    read_ok(p, NULL, &r);
    ck_assert_str_eq(r.names[2], "3");
    check_values(&r, rows, cols, t.values);
    sd_table_free(&r);
    sd_table_free(&t);

    size_t wide = 50000;
    sd_table w = {2, wide, malloc(2 * wide * sizeof(double)), default_names(wide)};
    for (size_t k = 0; k < 2 * wide; k++)
        w.values[k] = 1.0 / (double)(k + 1);
    p = path_of("wide.csv");
    ck_assert_int_eq(sd_table_write(p, &(sd_table_format){TABLE_AUTO, 0, 0}, &w, err, sizeof err), 0);
    read_ok(p, NULL, &r);
    check_values(&r, 2, wide, w.values);
    sd_table_free(&r);
    sd_table_free(&w);
}
END_TEST

START_TEST(test_write_text)
{
    const char *names[] = {"a,b", "1", "q\"t", "#c", " sp", ""};
    sd_table t = {2, 6, malloc(12 * sizeof(double)), calloc(6, sizeof(char *))};
    for (size_t j = 0; j < 6; j++)
        t.names[j] = strdup(names[j]);
    const double v[] = {0.1, -0.0, 1e-310, DBL_MAX, -DBL_MIN, 1.0 / 3, 2, 3, 4, 5, 6, 7};
    memcpy(t.values, v, sizeof v);
    char err[512];
    const char *p = path_of("out.csv");
    ck_assert_int_eq(sd_table_write(p, NULL, &t, err, sizeof err), 0);
    sd_table r;
    read_ok(p, NULL, &r);
    check_values(&r, 2, 6, v);
    for (size_t j = 0; j < 5; j++)
        ck_assert_str_eq(r.names[j], names[j]);
    ck_assert_str_eq(r.names[5], "6"); /* an empty name reads back as its index */
    sd_table_free(&r);
    /* TSV by extension, and overwriting an existing file */
    p = path_of("out.tsv");
    ck_assert_int_eq(sd_table_write(p, NULL, &t, err, sizeof err), 0);
    ck_assert_int_eq(sd_table_write(p, NULL, &t, err, sizeof err), 0);
    read_ok(p, NULL, &r);
    check_values(&r, 2, 6, v);
    ck_assert_str_eq(r.names[0], "a,b");
    sd_table_free(&r);
    FILE *f = fopen(p, "r");
    char line[128];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    fclose(f);
    ck_assert_str_eq(line, "a,b\t\"1\"\t\"q\"\"t\"\t\"#c\"\t\" sp\"\t\"\"\n");
    /* no header row */
    p = path_of("nohead.csv");
    ck_assert_int_eq(sd_table_write(p, &(sd_table_format){TABLE_AUTO, 0, ';'}, &t, err, sizeof err), 0);
    read_ok(p, NULL, &r);
    check_values(&r, 2, 6, v);
    ck_assert_str_eq(r.names[0], "1");
    sd_table_free(&r);
    /* no temporary left behind */
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        ck_assert_msg(strstr(e->d_name, ".tmp.") == NULL, "temporary %s left", e->d_name);
    closedir(d);
    /* refusals */
    ck_assert_int_eq(sd_table_write(dir, NULL, &t, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "is a directory"));
    p = path_of("no/such/dir.csv");
    ck_assert_int_eq(sd_table_write(p, NULL, &t, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "cannot create a temporary file beside it: No such file or directory"));
    ck_assert_int_eq(sd_table_write(path_of("x.csv"), &(sd_table_format){7, 0, 0}, &t, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "unknown table format 7"));
    sd_table bad = {1, 1, NULL, NULL};
    ck_assert_int_eq(sd_table_write(p, NULL, &bad, err, sizeof err), -1);
    ck_assert_str_eq(err, "sd_table_write: no path or an incomplete table");
    sd_table_free(&t);
}
END_TEST

START_TEST(test_write_stdout)
{
    const char *p = path_of("stdout.csv");
    ck_assert_ptr_nonnull(freopen(p, "wb", stdout));
    sd_table t = {1, 2, malloc(2 * sizeof(double)), default_names(2)};
    t.values[0] = 0.5;
    t.values[1] = -2;
    char err[512];
    ck_assert_int_eq(sd_table_write("-", NULL, &t, err, sizeof err), 0);
    fclose(stdout);
    FILE *f = fopen(p, "r");
    char text[64] = "";
    ck_assert_uint_gt(fread(text, 1, sizeof text - 1, f), 0);
    fclose(f);
    ck_assert_str_eq(text, "\"1\",\"2\"\n0.5,-2\n");
    sd_table_free(&t);
}
END_TEST

/* ------------------------------------------------------------------ npy */

/* Builds a .npy file: version, header dictionary (padded), then data. */
static const char *put_npy(const char *name, int major, const char *dict, const void *data, size_t n)
{
    unsigned char buf[4096];
    size_t lenbytes = major == 1 ? 2 : 4, pre = 8 + lenbytes;
    size_t dl = strlen(dict);
    size_t hlen = dl + 1;
    hlen += (64 - (pre + hlen) % 64) % 64;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    for (size_t i = 0; i < lenbytes; i++)
        buf[8 + i] = (unsigned char)(hlen >> (8 * i));
    memcpy(buf + pre, dict, dl);
    memset(buf + pre + dl, ' ', hlen - dl - 1);
    buf[pre + hlen - 1] = '\n';
    ck_assert_uint_lt(pre + hlen + n, sizeof buf);
    memcpy(buf + pre + hlen, data, n);
    return put(name, buf, pre + hlen + n);
}

static void swap_bytes(void *p, size_t itemsize, size_t count)
{
    unsigned char *b = p;
    for (size_t k = 0; k < count; k++, b += itemsize)
        for (size_t i = 0; i < itemsize / 2; i++) {
            unsigned char c = b[i];
            b[i] = b[itemsize - 1 - i];
            b[itemsize - 1 - i] = c;
        }
}

START_TEST(test_npy_read)
{
    const double v[] = {1.25, -2, 3e-300, 4, 5, 6}; /* 2 x 3 */
    const double vt[] = {1.25, 4, -2, 5, 3e-300, 6}; /* the same matrix in Fortran order */
    float f32[] = {1.5f, -2.25f, 3, 4, 5, 6};
    double v32[6];
    for (int i = 0; i < 6; i++)
        v32[i] = (double)f32[i];
    sd_table t;
    char le = host_is_little() ? '<' : '>', be = host_is_little() ? '>' : '<';
    char dict[160];
    for (int major = 1; major <= 3; major++) {
        snprintf(dict, sizeof dict, "{'descr': '%cf8', 'fortran_order': False, 'shape': (2, 3), }", le);
        read_ok(put_npy("a.npy", major, dict, v, sizeof v), NULL, &t);
        check_values(&t, 2, 3, v);
        ck_assert_str_eq(t.names[2], "3");
        sd_table_free(&t);
    }
    snprintf(dict, sizeof dict, "{'descr': '%cf8', 'fortran_order': True, 'shape': (2, 3), }", le);
    read_ok(put_npy("b.npy", 1, dict, vt, sizeof vt), NULL, &t);
    check_values(&t, 2, 3, v);
    sd_table_free(&t);
    double sw[6];
    memcpy(sw, v, sizeof v);
    swap_bytes(sw, 8, 6);
    snprintf(dict, sizeof dict, "{\"descr\": \"%cf8\", \"fortran_order\": False, \"shape\": (2, 3)}", be);
    read_ok(put_npy("c.npy", 2, dict, sw, sizeof sw), NULL, &t);
    check_values(&t, 2, 3, v);
    sd_table_free(&t);
    snprintf(dict, sizeof dict, "{'descr': '%cf4', 'fortran_order': False, 'shape': (2, 3), }", le);
    read_ok(put_npy("d.npy", 1, dict, f32, sizeof f32), NULL, &t);
    check_values(&t, 2, 3, v32);
    sd_table_free(&t);
    float s32[6];
    memcpy(s32, f32, sizeof f32);
    swap_bytes(s32, 4, 6);
    snprintf(dict, sizeof dict, "{'descr': '%cf4', 'fortran_order': False, 'shape': (2, 3), }", be);
    read_ok(put_npy("e.npy", 3, dict, s32, sizeof s32), NULL, &t);
    check_values(&t, 2, 3, v32);
    sd_table_free(&t);
    /* float32 in Fortran order: the transpose of f32 read as 3 x 2 */
    snprintf(dict, sizeof dict, "{'descr': '%cf4', 'fortran_order': True, 'shape': (3, 2), }", le);
    read_ok(put_npy("f.npy", 1, dict, f32, sizeof f32), NULL, &t);
    const double v32t[] = {v32[0], v32[3], v32[1], v32[4], v32[2], v32[5]};
    check_values(&t, 3, 2, v32t);
    sd_table_free(&t);
    /* 1-D: one column; 0-D: one value; the native '=' order */
    read_ok(put_npy("g.npy", 1, "{'descr': '=f8', 'fortran_order': False, 'shape': (6,), }", v, sizeof v), NULL, &t);
    check_values(&t, 6, 1, v);
    sd_table_free(&t);
    snprintf(dict, sizeof dict, "{'descr': '%cf8', 'fortran_order': False, 'shape': (), }", le);
    read_ok(put_npy("h.npy", 1, dict, v, 8), NULL, &t);
    check_values(&t, 1, 1, v);
    sd_table_free(&t);
    /* forced format on another extension, and standard input */
    snprintf(dict, sizeof dict, "{'descr': '%cf8', 'fortran_order': False, 'shape': (2, 3), }", le);
    const char *p = put_npy("i.bin", 1, dict, v, sizeof v);
    sd_table_format fmt = {TABLE_NPY, -1, 0};
    read_ok(p, &fmt, &t);
    check_values(&t, 2, 3, v);
    sd_table_free(&t);
    ck_assert_ptr_nonnull(freopen(p, "rb", stdin));
    read_ok("-", &fmt, &t);
    check_values(&t, 2, 3, v);
    sd_table_free(&t);
}
END_TEST

static void npy_fails(int major, const char *dict, const void *data, size_t n, const char *want)
{
    const char *p = put_npy("bad.npy", major, dict, data, n);
    char err[512] = "";
    sd_table t;
    ck_assert_int_eq(sd_table_read(p, NULL, &t, err, sizeof err), -1);
    ck_assert_msg(strstr(err, want) != NULL, "message \"%s\" lacks \"%s\"", err, want);
    ck_assert_ptr_nonnull(strstr(err, p));
}

static void raw_fails(const void *bytes, size_t n, const char *want)
{
    const char *p = put("raw.npy", bytes, n);
    char err[512] = "";
    sd_table t;
    ck_assert_int_eq(sd_table_read(p, NULL, &t, err, sizeof err), -1);
    ck_assert_msg(strstr(err, want) != NULL, "message \"%s\" lacks \"%s\"", err, want);
}

START_TEST(test_npy_errors)
{
    double v[6] = {1, 2, 3, 4, 5, 6};
    npy_fails(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }", v, sizeof v,
              "unsupported .npy dtype '<i4' (float64 or float32 expected");
    npy_fails(1, "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }", v, sizeof v,
              "unsupported .npy dtype '<f2'");
    npy_fails(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }", v, sizeof v,
              "unsupported .npy dtype '|u1'");
    npy_fails(1, "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (2,), }", v, 16,
              "unsupported .npy dtype: a structured dtype");
    npy_fails(1, "{'descr': '<f8', 'shape': (2, 3), }", v, sizeof v,
              "corrupt .npy header: the header lacks 'descr', 'fortran_order' or 'shape'");
    npy_fails(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", v, sizeof v,
              "corrupt .npy header: the header has an unknown key");
    npy_fails(1, "{'descr': '<f8', 'fortran_order': Maybe, 'shape': (2, 3), }", v, sizeof v,
              "the 'fortran_order' value is not True or False");
    npy_fails(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2, 3), }", v, sizeof v,
              "the array has more than 2 dimensions");
    npy_fails(1, "{'descr': '<f8', 'fortran_order': False, 'shape': [2, 3], }", v, sizeof v,
              "the 'shape' value is not a tuple");
    npy_fails(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, x), }", v, sizeof v,
              "the 'shape' tuple is malformed");
    npy_fails(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2 3), }", v, sizeof v,
              "the 'shape' tuple is malformed");
    npy_fails(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999, 3), }", v, sizeof v,
              "a 'shape' entry overflows");
    npy_fails(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", v, sizeof v,
              "too large");
    npy_fails(1, "{'descr': <f8, 'fortran_order': False, 'shape': (2, 3), }", v, sizeof v,
              "the 'descr' value is malformed");
    npy_fails(1, "{descr: '<f8'}", v, sizeof v, "a header key is malformed");
    npy_fails(1, "['descr']", v, sizeof v, "the header is not a dictionary");
    npy_fails(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3) ; }", v, sizeof v,
              "the header dictionary is malformed");
    npy_fails(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), } extra", v, sizeof v,
              "text after the header dictionary");
    npy_fails(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 3), }", v, 0,
              "empty: the array has shape (0, 3)");
    npy_fails(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", v, 40,
              "truncated: 5 of the 6 values of shape (2, 3) present");
    npy_fails(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", v, sizeof v,
              "bytes after the 4 values of shape (2, 2)");
    v[4] = NAN;
    npy_fails(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", v, sizeof v,
              "row 2, column 2: NaN is not a finite number");
    v[4] = -INFINITY;
    npy_fails(2, "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }", v, sizeof v,
              "row 1, column 3: Inf is not a finite number");
    raw_fails("", 0, "empty: no data rows");
    raw_fails("x,y\n1,2\n", 8, "not a NumPy .npy file (bad magic string)");
    raw_fails("\x93NUMPY\x04\x00\x10\x00", 10, "unsupported .npy format version 4.0");
    raw_fails("\x93NUMPY\x01\x00\x10", 9, "truncated before the header length");
    raw_fails("\x93NUMPY\x01\x00\x00\x00", 10, "corrupt .npy header: header length 0");
    raw_fails("\x93NUMPY\x02\x00\x00\x00\x00\x01", 12, "corrupt .npy header: header length 16777216");
    raw_fails("\x93NUMPY\x01\x00\x40\x00{'descr'", 18, "corrupt .npy header: truncated (64 header bytes");
    raw_fails("\x93NUMPY\x01\x00\x04\x00{\0}\n", 14, "a NUL byte in the header");
}
END_TEST

START_TEST(test_npy_write)
{
    sd_table t = {3, 2, malloc(6 * sizeof(double)), default_names(2)};
    const double v[] = {0.1, -0.0, 1e-310, 7, -8.5, 1e300};
    memcpy(t.values, v, sizeof v);
    char err[512];
    const char *p = path_of("w.npy");
    ck_assert_int_eq(sd_table_write(p, NULL, &t, err, sizeof err), 0);
    sd_table r;
    read_ok(p, NULL, &r);
    check_values(&r, 3, 2, v);
    sd_table_free(&r);
    /* the layout: version 1.0, header padded to 64 bytes, little-endian float64 */
    unsigned char buf[256];
    FILE *f = fopen(p, "rb");
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    ck_assert_uint_eq(n, 128 + sizeof v);
    ck_assert_int_eq(memcmp(buf, "\x93NUMPY\x01\x00\x76\x00", 10), 0);
    ck_assert_int_eq(memcmp(buf + 10, "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }", 59), 0);
    ck_assert_int_eq(buf[127], '\n');
    ck_assert_int_eq(buf[128], 0x9a); /* 0.1 = 0x3FB999999999999A, least significant byte first */
    /* the same table through CSV gives the same bytes back */
    const char *c = path_of("w.csv");
    ck_assert_int_eq(sd_table_write(c, NULL, &t, err, sizeof err), 0);
    read_ok(c, NULL, &r);
    check_values(&r, 3, 2, v);
    sd_table_free(&r);
    sd_table_free(&t);
}
END_TEST

/* ------------------------------------------------------------- select */

START_TEST(test_select)
{
    sd_table t;
    read_ok(put_text("sel.csv", "a,b,3,dup,dup\n1,2,3,4,5\n"), NULL, &t);
    size_t *idx, n;
    char err[512];
    ck_assert_int_eq(sd_table_select(&t, NULL, &idx, &n, err, sizeof err), 0);
    ck_assert_uint_eq(n, 5);
    ck_assert_uint_eq(idx[4], 4);
    free(idx);
    ck_assert_int_eq(sd_table_select(&t, "", &idx, &n, err, sizeof err), 0);
    ck_assert_uint_eq(n, 5);
    free(idx);
    ck_assert_int_eq(sd_table_select(&t, " b , 1,3,5", &idx, &n, err, sizeof err), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_uint_eq(idx[0], 1);
    ck_assert_uint_eq(idx[1], 0);
    ck_assert_uint_eq(idx[2], 2); /* the column named "3" */
    ck_assert_uint_eq(idx[3], 4);
    free(idx);
    ck_assert_int_eq(sd_table_select(&t, "a,zz", &idx, &n, err, sizeof err), -1);
    ck_assert_str_eq(err, "column list \"a,zz\": unknown column \"zz\" (the columns are: a, b, 3, dup, dup)");
    ck_assert_ptr_null(idx);
    ck_assert_int_eq(sd_table_select(&t, "a,,b", &idx, &n, err, sizeof err), -1);
    ck_assert_str_eq(err, "column list \"a,,b\": item 2 is empty");
    ck_assert_int_eq(sd_table_select(&t, "6", &idx, &n, err, sizeof err), -1);
    ck_assert_str_eq(err, "column list \"6\": column 6 is out of range (the data have 5 columns)");
    ck_assert_int_eq(sd_table_select(&t, "0", &idx, &n, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "column 0 is out of range"));
    ck_assert_int_eq(sd_table_select(&t, "dup", &idx, &n, err, sizeof err), -1);
    ck_assert_str_eq(err, "column list \"dup\": the name \"dup\" belongs to 2 columns; give the index");
    sd_table_free(&t);
    /* a long list of names is shortened */
    size_t cols = 100;
    sd_table w = {1, cols, calloc(cols, sizeof(double)), default_names(cols)};
    ck_assert_int_eq(sd_table_select(&w, "nope", &idx, &n, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, ", ..."));
    sd_table_free(&w);
}
END_TEST

/* ------------------------------------------------------ number parsing */

static uint64_t rng_state = 0x243F6A8885A308D3u;

static uint64_t next_random(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void check_parse(const char *s)
{
    char *e1, *e2;
    double a = parse_double(s, &e1), b = strtod(s, &e2);
    if (memcmp(&a, &b, sizeof a) != 0 || e1 != e2) /* as in check_values */
        ck_abort_msg("\"%s\": %.17g (end %td) but strtod %.17g (end %td)", s, a, e1 - s, b, e2 - s);
}

/* The fast parser gives strtod's value and end on: random decimal strings of
 * 1-20 digits and exponents around the fast path's range, the values the
 * writer prints, strings rounded near midpoints between doubles, and odd
 * forms. */
START_TEST(test_parse_exact)
{
    char s[96];
    for (int i = 0; i < 1000000; i++) {
        uint64_t r = next_random();
        int digits = 1 + (int)(r % 20), point = (int)((r >> 8) % 22) - 1;
        char *p = s;
        if (r >> 63)
            *p++ = '-';
        for (int k = 0; k < digits; k++) {
            if (k == point)
                *p++ = '.';
            *p++ = (char)('0' + next_random() % 10);
        }
        if ((r >> 20) % 4 != 0)
            p += sprintf(p, "e%d", (int)((r >> 24) % 80) - 40);
        *p = '\0';
        check_parse(s);
    }
    for (int i = 0; i < 300000; i++) {
        uint64_t bits = next_random();
        double d;
        memcpy(&d, &bits, sizeof d);
        d = ldexp(frexp(d, &(int){0}), (int)(next_random() % 180) - 90);
        if (!isfinite(d))
            continue;
        snprintf(s, sizeof s, "%.17g", d);
        check_parse(s);
        /* the midpoint above d, printed to 16-19 significant digits */
        double up = nextafter(d, INFINITY);
        long double mid = ((long double)d + (long double)up) / 2;
        snprintf(s, sizeof s, "%.*Le", 15 + i % 4, mid);
        check_parse(s);
    }
    const char *odd[] = {"0",    "-0",     "+0.000", "00012",  "1e",    "1e+",      "1e-x",       ".5",
                         "5.",   ".",      "-",      "+",      "e5",    "0x1A",     "0x",         "1p5",
                         "inf",  "-nan",   "1e400",  "1e-400", "12345678901234567890", "9007199254740993",
                         "1.7976931348623157e308", "4.9406564584124654e-324",         "1e27",       "1e-27",
                         "123456789012345678e27",  "0.000000000000000000000000000000001", "1E5",    "1e0000000000000000005"};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++)
        check_parse(odd[i]);
}
END_TEST

int main(void)
{
    make_dir();
    Suite *s = suite_create("table");
    TCase *tc = tcase_create("table");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_csv_header);
    tcase_add_test(tc, test_csv_no_header);
    tcase_add_test(tc, test_csv_syntax);
    tcase_add_test(tc, test_delimiters);
    tcase_add_test(tc, test_text_errors);
    tcase_add_test(tc, test_file_errors);
    tcase_add_test(tc, test_stdin);
    tcase_add_test(tc, test_io_errors);
    tcase_add_test(tc, test_large);
    tcase_add_test(tc, test_write_text);
    tcase_add_test(tc, test_write_stdout);
    tcase_add_test(tc, test_npy_read);
    tcase_add_test(tc, test_npy_errors);
    tcase_add_test(tc, test_npy_write);
    tcase_add_test(tc, test_select);
    tcase_add_test(tc, test_parse_exact);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    remove_dir();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
