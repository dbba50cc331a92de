/*
 * table.c: CSV, TSV and NumPy .npy tables for the scoresde tool (table.h).
 *
 * Text input is streamed through one line buffer (it grows only for a line
 * longer than itself) and parsed straight into the value array, which grows
 * by half its size when full and is trimmed at the end: the data are read
 * once and held once (with glibc, large blocks grow by mremap, so the peak
 * stays below 1.5x the final array plus the line buffer). Numbers are parsed
 * by strtod in the C locale, so the values are exactly strtod's whatever
 * locale the program runs in.
 */
#define _GNU_SOURCE
#include "table.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINE_BUFFER_INITIAL ((size_t)1 << 18)
#define NPY_CHUNK ((size_t)1 << 16)
#define NPY_HEADER_MAX ((size_t)1 << 20)
#define QUOTE_SHOWN 40

static void set_error(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_error(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static const char *shown_name(const char *path, int writing)
{
    if (strcmp(path, "-") == 0)
        return writing ? "<stdout>" : "<stdin>";
    return path;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

static int resolve_format(const char *path, const sd_table_format *fmt)
{
    int f = fmt != NULL ? fmt->format : TABLE_AUTO;
    if (f != TABLE_AUTO)
        return f;
    if (strcmp(path, "-") == 0)
        return TABLE_CSV;
    if (ends_with(path, ".npy"))
        return TABLE_NPY;
    if (ends_with(path, ".tsv") || ends_with(path, ".tab"))
        return TABLE_TSV;
    return TABLE_CSV;
}

/* The C locale for the duration of one call (strtod and printf then use '.'). */
typedef struct {
    locale_t c_locale, previous;
} c_locale_scope;

static int c_locale_enter(c_locale_scope *s)
{
    s->c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (s->c_locale == (locale_t)0)
        return -1;
    s->previous = uselocale(s->c_locale);
    return 0;
}

static void c_locale_leave(c_locale_scope *s)
{
    uselocale(s->previous);
    freelocale(s->c_locale);
}

void sd_table_free(sd_table *t)
{
    if (t == NULL)
        return;
    if (t->names != NULL)
        for (size_t j = 0; j < t->cols; j++)
            free(t->names[j]);
    free(t->names);
    free(t->values);
    memset(t, 0, sizeof *t);
}

static char **default_names(size_t cols)
{
    char **names = calloc(cols ? cols : 1, sizeof *names);
    if (names == NULL)
        return NULL;
    for (size_t j = 0; j < cols; j++) {
        char buf[32];
        snprintf(buf, sizeof buf, "%zu", j + 1);
        names[j] = strdup(buf);
        if (names[j] == NULL) {
            for (size_t k = 0; k < j; k++)
                free(names[k]);
            free(names);
            return NULL;
        }
    }
    return names;
}

/* ------------------------------------------------------------------ files */

/* Opens path for reading ("-" = stdin); refuses directories. */
static FILE *open_input(const char *path, char *err, size_t errlen)
{
    if (strcmp(path, "-") == 0)
        return stdin;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        set_error(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        set_error(err, errlen, "%s: is a directory, not a data file", path);
        fclose(f);
        return NULL;
    }
    return f;
}

static void close_input(FILE *f)
{
    if (f != NULL && f != stdin)
        fclose(f);
}

/* ------------------------------------------------------------ line reader */

typedef struct {
    FILE *f;
    char *buf;
    size_t cap, len, pos;
    int eof;
    size_t lineno; /* of the line last returned */
    int first;
} line_reader;

/* 1: *line is the next line, NUL-terminated, without "\n" or "\r\n";
 * 0: end of input; -1: read error or out of memory (errno says which). */
static int next_line(line_reader *lr, char **line)
{
    for (;;) {
        char *start = lr->buf + lr->pos;
        char *nl = lr->len > lr->pos ? memchr(start, '\n', lr->len - lr->pos) : NULL;
        if (nl != NULL || (lr->eof && lr->pos < lr->len)) {
            char *end = nl != NULL ? nl : lr->buf + lr->len;
            lr->pos = (size_t)(end - lr->buf) + (nl != NULL);
            if (end > start && end[-1] == '\r')
                end--;
            *end = '\0';
            lr->lineno++;
            if (lr->first) {
                lr->first = 0;
                if ((unsigned char)start[0] == 0xEF && (unsigned char)start[1] == 0xBB &&
                    (unsigned char)start[2] == 0xBF)
                    start += 3;
            }
            *line = start;
            return 1;
        }
        if (lr->eof)
            return 0;
        if (lr->pos > 0) {
            memmove(lr->buf, lr->buf + lr->pos, lr->len - lr->pos);
            lr->len -= lr->pos;
            lr->pos = 0;
        }
        if (lr->len + 1 >= lr->cap) {
            size_t cap = lr->cap ? lr->cap * 2 : LINE_BUFFER_INITIAL;
            char *b = realloc(lr->buf, cap);
            if (b == NULL) {
                errno = ENOMEM;
                return -1;
            }
            lr->buf = b;
            lr->cap = cap;
        }
        size_t got = fread(lr->buf + lr->len, 1, lr->cap - 1 - lr->len, lr->f);
        lr->len += got;
        if (got == 0) {
            if (ferror(lr->f))
                return -1;
            lr->eof = 1;
        }
    }
}

/* ------------------------------------------------------------ text cells */

static int is_blank(char c, char delim)
{
    return (c == ' ' || c == '\t') && c != delim;
}

/* One cell of a line split with quotes: text (unquoted, NUL-terminated in
 * place), whether it was quoted. Returns the position after the delimiter,
 * NULL at the end of the line, or sets *bad (1 unterminated quote, 2 text
 * after the closing quote). */
static char *split_cell(char *p, char delim, char **text, int *quoted, int *bad, int *last)
{
    *bad = 0;
    *quoted = 0;
    while (is_blank(*p, delim))
        p++;
    if (*p == '"') {
        char *out = p, *q = p + 1;
        *quoted = 1;
        *text = out;
        for (;;) {
            if (*q == '\0') {
                *bad = 1;
                return NULL;
            }
            if (*q == '"') {
                if (q[1] == '"') {
                    *out++ = '"';
                    q += 2;
                    continue;
                }
                q++;
                break;
            }
            *out++ = *q++;
        }
        while (is_blank(*q, delim))
            q++;
        if (*q != '\0' && *q != delim) {
            *out = '\0';
            *bad = 2;
            return NULL;
        }
        *last = *q == '\0';
        *out = '\0';
        return *last ? q : q + 1;
    }
    char *end = p;
    while (*end != '\0' && *end != delim)
        end++;
    *last = *end == '\0';
    char *next = *last ? end : end + 1;
    char *trim = end;
    while (trim > p && is_blank(trim[-1], delim))
        trim--;
    *trim = '\0';
    *text = p;
    return next;
}

/*
 * parse_double: strtod's value and end, faster. Decimal numbers of at most
 * 19 significant digits with a decimal exponent of magnitude <= 27 are
 * computed as one x87 extended multiplication or division of two exact
 * operands (one rounding, error <= half an extended ulp); the result is
 * rounded to double unless it lies within one extended ulp of a midpoint
 * between two doubles, where double rounding could differ from strtod's
 * single rounding. Everything else (and those near-midpoint cases, about
 * 3 in 2048) goes to strtod. Where long double is not x87 extended, always
 * strtod. test_table compares the two on millions of strings.
 */
#if defined(__LDBL_MANT_DIG__) && __LDBL_MANT_DIG__ == 64 && (defined(__x86_64__) || defined(__i386__))
#define TABLE_FAST_PARSE 1
static const long double pow10_ld[28] = {
    1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,  1e8L,  1e9L,  1e10L, 1e11L, 1e12L, 1e13L,
    1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L, 1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L};
#endif

#ifdef TABLE_FAST_PARSE
/* Digits at *p into the significand w (leading zeros skipped while sig is
 * 0), each adding step to the decimal exponent; -1 past 19 significant. */
static int take_digits(const char **p, uint64_t *w, int *sig, int *dexp, int step, int *any)
{
    const char *q = *p;
    for (; *q >= '0' && *q <= '9'; q++) {
        *any = 1;
        *dexp += step;
        if (*sig == 0 && *q == '0')
            continue;
        if (*sig == 19)
            return -1;
        *w = *w * 10 + (uint64_t)(*q - '0');
        (*sig)++;
    }
    *p = q;
    return 0;
}
#endif

static double parse_double(const char *s, char **end)
{
#ifdef TABLE_FAST_PARSE
    const char *p = s;
    int neg = 0;
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    uint64_t w = 0;
    int sig = 0, dexp = 0, any = 0;
    if (take_digits(&p, &w, &sig, &dexp, 0, &any) != 0)
        goto slow;
    if (*p == '.') {
        p++;
        if (take_digits(&p, &w, &sig, &dexp, -1, &any) != 0)
            goto slow;
    }
    if (!any)
        goto slow; /* "inf", "nan", hex, "." or no number: strtod decides */
    if (*p == 'e' || *p == 'E') {
        const char *q = p + 1;
        int eneg = 0, e = 0;
        if (*q == '-' || *q == '+')
            eneg = *q++ == '-';
        if (*q >= '0' && *q <= '9') {
            while (*q >= '0' && *q <= '9') {
                if (e > 10000)
                    goto slow;
                e = e * 10 + (*q++ - '0');
            }
            dexp += eneg ? -e : e;
            p = q;
        }
    }
    if (*p == 'x' || *p == 'X' || *p == 'p' || *p == 'P')
        goto slow;
    if (w == 0) {
        *end = (char *)p;
        return neg ? -0.0 : 0.0;
    }
    if (dexp < -27 || dexp > 27)
        goto slow;
    {
        long double r = dexp >= 0 ? (long double)w * pow10_ld[dexp] : (long double)w / pow10_ld[-dexp];
        uint64_t mant;
        memcpy(&mant, &r, sizeof mant);
        unsigned low = (unsigned)(mant & 0x7FF);
        if (low >= 0x3FF && low <= 0x401)
            goto slow;
        *end = (char *)p;
        double d = (double)r;
        return neg ? -d : d;
    }
slow:
#endif
    return strtod(s, end);
}

/* 1 when the whole text is a number for strtod (blanks around allowed). */
static int parses_as_number(const char *s, double *v)
{
    char *end;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '\0')
        return 0;
    double x = strtod(s, &end);
    if (end == s)
        return 0;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end != '\0')
        return 0;
    if (v != NULL)
        *v = x;
    return 1;
}

/* Counts the cells of a line as split_cell splits it: a quote opens a
 * quoted cell only at the cell's start, and "" inside one is a quote. */
static size_t count_cells(const char *line, char delim)
{
    size_t n = 1;
    int in_quote = 0, at_start = 1;
    for (const char *p = line; *p; p++) {
        if (in_quote) {
            if (*p == '"' && p[1] == '"')
                p++;
            else if (*p == '"')
                in_quote = 0;
        } else if (*p == delim) {
            n++;
            at_start = 1;
        } else if (at_start && *p == '"') {
            in_quote = 1;
            at_start = 0;
        } else if (!is_blank(*p, delim)) {
            at_start = 0;
        }
    }
    return n;
}

static char detect_delimiter(const char *line)
{
    static const char candidates[] = {',', '\t', ';'};
    for (size_t i = 0; i < sizeof candidates; i++)
        if (count_cells(line, candidates[i]) > 1)
            return candidates[i];
    return ',';
}

/* The text of the cell that starts at p, for a message. */
static void cell_excerpt(const char *p, char delim, char *out, size_t outlen)
{
    while (is_blank(*p, delim))
        p++;
    size_t n = 0;
    while (p[n] != '\0' && p[n] != delim)
        n++;
    while (n > 0 && is_blank(p[n - 1], delim))
        n--;
    if (n > QUOTE_SHOWN)
        snprintf(out, outlen, "%.*s...", QUOTE_SHOWN, p);
    else
        snprintf(out, outlen, "%.*s", (int)n, p);
}

typedef struct {
    const char *file;
    char delim;
    size_t cols;
    char **names; /* NULL: no header */
    char *err;
    size_t errlen;
} text_ctx;

static void cell_error(const text_ctx *c, size_t lineno, size_t col, const char *what, const char *cellstart)
{
    char shown[QUOTE_SHOWN + 8];
    cell_excerpt(cellstart, c->delim, shown, sizeof shown);
    if (c->names != NULL)
        set_error(c->err, c->errlen, "%s: line %zu, column %zu (%s): \"%s\" %s", c->file, lineno, col + 1,
                  c->names[col], shown, what);
    else
        set_error(c->err, c->errlen, "%s: line %zu, column %zu: \"%s\" %s", c->file, lineno, col + 1, shown,
                  what);
}

static void ragged_error(const text_ctx *c, size_t lineno, const char *line, size_t expected_line)
{
    size_t n = count_cells(line, c->delim);
    if (c->names != NULL)
        set_error(c->err, c->errlen, "%s: line %zu, column %zu: %zu cells where the header (line %zu) has %zu",
                  c->file, lineno, n < c->cols ? n + 1 : c->cols + 1, n, expected_line, c->cols);
    else
        set_error(c->err, c->errlen, "%s: line %zu, column %zu: %zu cells where line %zu has %zu", c->file,
                  lineno, n < c->cols ? n + 1 : c->cols + 1, n, expected_line, c->cols);
}

/* Parses one data line into dst[0..cols). 0 or -1 (message set). */
static int parse_data_line(const text_ctx *c, char *line, size_t lineno, size_t first_line, double *dst)
{
    char *p = line;
    const char delim = c->delim;
    for (size_t j = 0; j < c->cols; j++) {
        char *cell = p;
        while (is_blank(*p, delim))
            p++;
        double v;
        char *end;
        if (*p == '"') {
            /* a quoted number: its text must be a number */
            char *close = strchr(p + 1, '"');
            if (close == NULL) {
                cell_error(c, lineno, j, "has no closing quote", cell);
                return -1;
            }
            *close = '\0';
            int ok = parses_as_number(p + 1, &v);
            *close = '"';
            if (!ok) {
                cell_error(c, lineno, j, "is not a number", cell);
                return -1;
            }
            end = close + 1;
        } else {
            v = parse_double(p, &end);
            if (end == p) {
                cell_error(c, lineno, j, *p == delim || *p == '\0' ? "is empty, not a number" : "is not a number",
                           cell);
                return -1;
            }
        }
        p = end;
        while (is_blank(*p, delim))
            p++;
        if (j + 1 < c->cols) {
            if (*p != delim) {
                if (*p == '\0') {
                    ragged_error(c, lineno, line, first_line);
                    return -1;
                }
                cell_error(c, lineno, j, "is not a number", cell);
                return -1;
            }
            p++;
        } else if (*p != '\0') {
            if (*p == delim) {
                ragged_error(c, lineno, line, first_line);
                return -1;
            }
            cell_error(c, lineno, j, "is not a number", cell);
            return -1;
        }
        if (!isfinite(v)) {
            cell_error(c, lineno, j, "is not finite (NaN, Inf or out of the double range)", cell);
            return -1;
        }
        dst[j] = v;
    }
    return 0;
}

static int skip_line(const char *line)
{
    while (*line == ' ' || *line == '\t')
        line++;
    return *line == '\0' || *line == '#';
}

/* Grows *values to hold at least need doubles (by half when full). */
static int reserve(double **values, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap < 1024 ? 1024 : *cap + *cap / 2;
    if (n < need)
        n = need;
    if (n > SIZE_MAX / sizeof(double))
        return -1;
    double *v = realloc(*values, n * sizeof(double));
    if (v == NULL)
        return -1;
    *values = v;
    *cap = n;
    return 0;
}

static int read_text(FILE *f, const char *file, int format, const sd_table_format *fmt, sd_table *out, char *err,
                     size_t errlen)
{
    line_reader lr = {.f = f, .first = 1};
    text_ctx c = {.file = file, .err = err, .errlen = errlen};
    double *values = NULL;
    size_t cap = 0, rows = 0, first_line = 0;
    char **names = NULL;
    char *line;
    int r, rc = -1;
    int header = fmt != NULL ? fmt->header : -1;

    /* the first line that is not blank or a comment: header or data */
    while ((r = next_line(&lr, &line)) == 1 && skip_line(line))
        ;
    if (r < 0)
        goto read_failed;
    if (r == 0) {
        set_error(err, errlen, "%s: empty: no data rows", file);
        goto done;
    }
    first_line = lr.lineno;
    c.delim = fmt != NULL && fmt->delimiter != 0 ? fmt->delimiter : format == TABLE_TSV ? '\t' : detect_delimiter(line);
    c.cols = count_cells(line, c.delim);

    {
        /* split the first line (with quotes) to decide header or data */
        char **cells = calloc(c.cols, sizeof *cells);
        int *quoted = calloc(c.cols, sizeof *quoted);
        if (cells == NULL || quoted == NULL) {
            free(cells);
            free(quoted);
            set_error(err, errlen, "%s: out of memory", file);
            goto done;
        }
        char *p = line;
        size_t n = 0;
        int any_text = 0;
        for (;;) {
            int bad, last;
            char *next = split_cell(p, c.delim, &cells[n], &quoted[n], &bad, &last);
            if (bad) {
                set_error(err, errlen, "%s: line %zu, column %zu: %s", file, lr.lineno, n + 1,
                          bad == 1 ? "quote not closed on its line" : "text after the closing quote");
                free(cells);
                free(quoted);
                goto done;
            }
            if (quoted[n] || !parses_as_number(cells[n], NULL))
                any_text = 1;
            n++;
            if (last || n == c.cols)
                break;
            p = next;
        }
        c.cols = n;
        int is_header = header == 1 || (header == -1 && any_text);
        if (is_header) {
            names = calloc(c.cols, sizeof *names);
            for (size_t j = 0; names != NULL && j < c.cols; j++) {
                char num[32];
                if (cells[j][0] == '\0')
                    snprintf(num, sizeof num, "%zu", j + 1);
                names[j] = strdup(cells[j][0] == '\0' ? num : cells[j]);
                if (names[j] == NULL) {
                    for (size_t k = 0; k < j; k++)
                        free(names[k]);
                    free(names);
                    names = NULL;
                }
            }
            if (names == NULL) {
                free(cells);
                free(quoted);
                set_error(err, errlen, "%s: out of memory", file);
                goto done;
            }
            c.names = names;
        } else {
            if (reserve(&values, &cap, c.cols) != 0) {
                free(cells);
                free(quoted);
                set_error(err, errlen, "%s: out of memory", file);
                goto done;
            }
            for (size_t j = 0; j < c.cols; j++) {
                double v;
                if (!parses_as_number(cells[j], &v)) {
                    cell_error(&c, lr.lineno, j, cells[j][0] == '\0' ? "is empty, not a number" : "is not a number",
                               cells[j]);
                    free(cells);
                    free(quoted);
                    goto done;
                }
                if (!isfinite(v)) {
                    cell_error(&c, lr.lineno, j, "is not finite (NaN, Inf or out of the double range)", cells[j]);
                    free(cells);
                    free(quoted);
                    goto done;
                }
                values[j] = v;
            }
            rows = 1;
        }
        free(cells);
        free(quoted);
    }

    while ((r = next_line(&lr, &line)) == 1) {
        if (skip_line(line))
            continue;
        if (rows == SIZE_MAX / c.cols || reserve(&values, &cap, (rows + 1) * c.cols) != 0) {
            set_error(err, errlen, "%s: line %zu: out of memory after %zu rows", file, lr.lineno, rows);
            goto done;
        }
        if (parse_data_line(&c, line, lr.lineno, first_line, values + rows * c.cols) != 0)
            goto done;
        rows++;
    }
    if (r < 0)
        goto read_failed;
    if (rows == 0) {
        set_error(err, errlen, "%s: no data rows after the header (line %zu)", file, first_line);
        goto done;
    }
    if (cap > rows * c.cols) {
        double *v = realloc(values, rows * c.cols * sizeof(double));
        if (v != NULL)
            values = v;
    }
    if (names == NULL && (names = default_names(c.cols)) == NULL) {
        set_error(err, errlen, "%s: out of memory", file);
        goto done;
    }
    out->rows = rows;
    out->cols = c.cols;
    out->values = values;
    out->names = names;
    values = NULL;
    names = NULL;
    rc = 0;
    goto done;

read_failed:
    set_error(err, errlen, "%s: line %zu: read error: %s", file, lr.lineno + 1, strerror(errno));
done:
    free(lr.buf);
    free(values);
    if (names != NULL) {
        for (size_t j = 0; j < c.cols; j++)
            free(names[j]);
        free(names);
    }
    return rc;
}

/* ------------------------------------------------------------------- npy */

static int host_is_little(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

typedef struct {
    const char *s, *end;
} npy_lexer;

static void npy_skip(npy_lexer *l)
{
    while (l->s < l->end && (*l->s == ' ' || *l->s == '\t' || *l->s == '\n' || *l->s == '\r'))
        l->s++;
}

static int npy_accept(npy_lexer *l, char ch)
{
    npy_skip(l);
    if (l->s < l->end && *l->s == ch) {
        l->s++;
        return 1;
    }
    return 0;
}

/* A Python string literal ('x' or "x", no escapes) into out. */
static int npy_string(npy_lexer *l, char *out, size_t outlen)
{
    npy_skip(l);
    if (l->s >= l->end || (*l->s != '\'' && *l->s != '"'))
        return -1;
    char q = *l->s++;
    size_t n = 0;
    while (l->s < l->end && *l->s != q) {
        if (*l->s == '\\' || n + 1 >= outlen)
            return -1;
        out[n++] = *l->s++;
    }
    if (l->s >= l->end)
        return -1;
    l->s++;
    out[n] = '\0';
    return 0;
}

static int npy_word(npy_lexer *l, const char *w)
{
    npy_skip(l);
    size_t n = strlen(w);
    if ((size_t)(l->end - l->s) >= n && memcmp(l->s, w, n) == 0) {
        l->s += n;
        return 1;
    }
    return 0;
}

typedef struct {
    int have_descr, have_order, have_shape;
    char descr[32];
    int structured;
    int fortran;
    size_t ndim;
    size_t shape[2];
} npy_header;

/* Parses the header dictionary; on failure a reason in why. */
static int npy_parse_header(const char *text, size_t len, npy_header *h, const char **why)
{
    npy_lexer l = {text, text + len};
    memset(h, 0, sizeof *h);
    if (!npy_accept(&l, '{')) {
        *why = "the header is not a dictionary";
        return -1;
    }
    for (;;) {
        if (npy_accept(&l, '}'))
            break;
        char key[32];
        if (npy_string(&l, key, sizeof key) != 0 || !npy_accept(&l, ':')) {
            *why = "a header key is malformed";
            return -1;
        }
        if (strcmp(key, "descr") == 0) {
            npy_skip(&l);
            if (l.s < l.end && *l.s == '[') {
                h->structured = 1;
                *why = "structured dtype";
                return -1;
            }
            if (npy_string(&l, h->descr, sizeof h->descr) != 0) {
                *why = "the 'descr' value is malformed";
                return -1;
            }
            h->have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (npy_word(&l, "True"))
                h->fortran = 1;
            else if (npy_word(&l, "False"))
                h->fortran = 0;
            else {
                *why = "the 'fortran_order' value is not True or False";
                return -1;
            }
            h->have_order = 1;
        } else if (strcmp(key, "shape") == 0) {
            if (!npy_accept(&l, '(')) {
                *why = "the 'shape' value is not a tuple";
                return -1;
            }
            h->ndim = 0;
            for (;;) {
                if (npy_accept(&l, ')'))
                    break;
                npy_skip(&l);
                if (l.s >= l.end || *l.s < '0' || *l.s > '9') {
                    *why = "the 'shape' tuple is malformed";
                    return -1;
                }
                size_t v = 0;
                while (l.s < l.end && *l.s >= '0' && *l.s <= '9') {
                    size_t d = (size_t)(*l.s - '0');
                    if (v > (SIZE_MAX - d) / 10) {
                        *why = "a 'shape' entry overflows";
                        return -1;
                    }
                    v = v * 10 + d;
                    l.s++;
                }
                if (h->ndim >= 2) {
                    *why = "the array has more than 2 dimensions";
                    return -1;
                }
                h->shape[h->ndim++] = v;
                if (!npy_accept(&l, ',')) {
                    if (!npy_accept(&l, ')')) {
                        *why = "the 'shape' tuple is malformed";
                        return -1;
                    }
                    break;
                }
            }
            h->have_shape = 1;
        } else {
            *why = "the header has an unknown key";
            return -1;
        }
        if (!npy_accept(&l, ',')) {
            if (!npy_accept(&l, '}')) {
                *why = "the header dictionary is malformed";
                return -1;
            }
            break;
        }
    }
    if (!h->have_descr || !h->have_order || !h->have_shape) {
        *why = "the header lacks 'descr', 'fortran_order' or 'shape'";
        return -1;
    }
    npy_skip(&l);
    if (l.s != l.end) {
        *why = "text after the header dictionary";
        return -1;
    }
    return 0;
}

static double npy_decode(const unsigned char *p, size_t itemsize, int swap)
{
    unsigned char b[8];
    if (swap)
        for (size_t i = 0; i < itemsize; i++)
            b[i] = p[itemsize - 1 - i];
    else
        memcpy(b, p, itemsize);
    if (itemsize == 8) {
        double d;
        memcpy(&d, b, 8);
        return d;
    }
    float x;
    memcpy(&x, b, 4);
    return (double)x;
}

static int read_npy(FILE *f, const char *file, sd_table *out, char *err, size_t errlen)
{
    unsigned char pre[12];
    char *htext = NULL;
    unsigned char *chunk = NULL;
    double *values = NULL;
    int rc = -1;
    size_t got = fread(pre, 1, 8, f);
    if (got == 0 && !ferror(f)) {
        set_error(err, errlen, "%s: empty: no data rows", file);
        return -1;
    }
    if (got < 8 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        if (ferror(f))
            set_error(err, errlen, "%s: read error: %s", file, strerror(errno));
        else
            set_error(err, errlen, "%s: not a NumPy .npy file (bad magic string)", file);
        return -1;
    }
    int major = pre[6], minor = pre[7];
    size_t hlen, lenbytes = major == 1 ? 2 : 4;
    if (major < 1 || major > 3) {
        set_error(err, errlen, "%s: unsupported .npy format version %d.%d (1.0, 2.0 and 3.0 are read)", file, major,
                  minor);
        return -1;
    }
    if (fread(pre + 8, 1, lenbytes, f) != lenbytes) {
        set_error(err, errlen, "%s: corrupt .npy header: truncated before the header length", file);
        return -1;
    }
    hlen = lenbytes == 2 ? (size_t)pre[8] | (size_t)pre[9] << 8
                         : (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    if (hlen == 0 || hlen > NPY_HEADER_MAX) {
        set_error(err, errlen, "%s: corrupt .npy header: header length %zu", file, hlen);
        return -1;
    }
    htext = malloc(hlen);
    if (htext == NULL) {
        set_error(err, errlen, "%s: out of memory", file);
        return -1;
    }
    if (fread(htext, 1, hlen, f) != hlen) {
        set_error(err, errlen, "%s: corrupt .npy header: truncated (%zu header bytes announced)", file, hlen);
        goto done;
    }
    if (memchr(htext, '\0', hlen) != NULL) {
        set_error(err, errlen, "%s: corrupt .npy header: a NUL byte in the header", file);
        goto done;
    }
    npy_header h;
    const char *why = "";
    if (npy_parse_header(htext, hlen, &h, &why) != 0) {
        if (h.structured)
            set_error(err, errlen, "%s: unsupported .npy dtype: a structured dtype (float64 or float32 expected)",
                      file);
        else
            set_error(err, errlen, "%s: corrupt .npy header: %s", file, why);
        goto done;
    }
    size_t itemsize;
    int swap;
    const char *d = h.descr;
    char order = d[0];
    if ((order == '<' || order == '>' || order == '=') && (strcmp(d + 1, "f8") == 0 || strcmp(d + 1, "f4") == 0)) {
        itemsize = d[2] == '8' ? 8 : 4;
        int file_little = order == '<' || (order == '=' && host_is_little());
        swap = file_little != host_is_little();
    } else {
        set_error(err, errlen, "%s: unsupported .npy dtype '%s' (float64 or float32 expected: '<f8', '>f8', '<f4', '>f4')",
                  file, d);
        goto done;
    }
    size_t rows = h.ndim == 0 ? 1 : h.shape[0];
    size_t cols = h.ndim == 2 ? h.shape[1] : 1;
    if (rows == 0 || cols == 0) {
        set_error(err, errlen, "%s: empty: the array has shape (%zu, %zu), no data", file, rows, cols);
        goto done;
    }
    if (rows > SIZE_MAX / cols || rows * cols > SIZE_MAX / sizeof(double)) {
        set_error(err, errlen, "%s: corrupt .npy header: shape (%zu, %zu) too large", file, rows, cols);
        goto done;
    }
    size_t total = rows * cols;
    values = malloc(total * sizeof(double));
    chunk = malloc(NPY_CHUNK * itemsize);
    if (values == NULL || chunk == NULL) {
        set_error(err, errlen, "%s: out of memory for a %zu x %zu array", file, rows, cols);
        goto done;
    }
    for (size_t k = 0; k < total;) {
        size_t want = total - k < NPY_CHUNK ? total - k : NPY_CHUNK;
        size_t n = fread(chunk, itemsize, want, f);
        if (n < want && ferror(f)) {
            set_error(err, errlen, "%s: read error: %s", file, strerror(errno));
            goto done;
        }
        for (size_t i = 0; i < n; i++, k++) {
            size_t r = h.fortran ? k % rows : k / cols;
            size_t c = h.fortran ? k / rows : k % cols;
            double v = npy_decode(chunk + i * itemsize, itemsize, swap);
            if (!isfinite(v)) {
                set_error(err, errlen, "%s: row %zu, column %zu: %s is not a finite number", file, r + 1, c + 1,
                          isnan(v) ? "NaN" : "Inf");
                goto done;
            }
            values[r * cols + c] = v;
        }
        if (n < want) {
            set_error(err, errlen, "%s: truncated: %zu of the %zu values of shape (%zu, %zu) present", file, k,
                      total, rows, cols);
            goto done;
        }
    }
    if (fgetc(f) != EOF) {
        set_error(err, errlen, "%s: corrupt .npy file: bytes after the %zu values of shape (%zu, %zu)", file, total,
                  rows, cols);
        goto done;
    }
    if ((out->names = default_names(cols)) == NULL) {
        set_error(err, errlen, "%s: out of memory", file);
        goto done;
    }
    out->rows = rows;
    out->cols = cols;
    out->values = values;
    values = NULL;
    rc = 0;
done:
    free(htext);
    free(chunk);
    free(values);
    return rc;
}

int sd_table_read(const char *path, const sd_table_format *fmt, sd_table *out, char *err, size_t errlen)
{
    if (out == NULL || path == NULL) {
        set_error(err, errlen, "sd_table_read: no path or no output table");
        return -1;
    }
    memset(out, 0, sizeof *out);
    const char *file = shown_name(path, 0);
    int format = resolve_format(path, fmt);
    if (format != TABLE_CSV && format != TABLE_TSV && format != TABLE_NPY) {
        set_error(err, errlen, "%s: unknown table format %d", file, format);
        return -1;
    }
    c_locale_scope loc;
    if (c_locale_enter(&loc) != 0) {
        set_error(err, errlen, "%s: cannot create the C locale", file);
        return -1;
    }
    int rc = -1;
    FILE *f = open_input(path, err, errlen);
    if (f != NULL) {
        rc = format == TABLE_NPY ? read_npy(f, file, out, err, errlen)
                                 : read_text(f, file, format, fmt, out, err, errlen);
        close_input(f);
    }
    c_locale_leave(&loc);
    return rc;
}

/* ----------------------------------------------------------------- write */

static int name_needs_quotes(const char *s, char delim)
{
    if (s[0] == '\0' || s[0] == '#' || s[0] == ' ' || s[0] == '\t' || parses_as_number(s, NULL))
        return 1;
    size_t n = strlen(s);
    if (s[n - 1] == ' ' || s[n - 1] == '\t')
        return 1;
    for (const char *p = s; *p; p++)
        if (*p == delim || *p == '"' || *p == '\n' || *p == '\r')
            return 1;
    return 0;
}

static void write_name(FILE *f, const char *s, char delim)
{
    if (!name_needs_quotes(s, delim)) {
        fputs(s, f);
        return;
    }
    putc('"', f);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            putc('"', f);
        putc(*p, f);
    }
    putc('"', f);
}

static void write_text(FILE *f, const sd_table_format *fmt, int format, const sd_table *t)
{
    char delim = fmt != NULL && fmt->delimiter != 0 ? fmt->delimiter : format == TABLE_TSV ? '\t' : ',';
    if (fmt == NULL || fmt->header != 0) {
        for (size_t j = 0; j < t->cols; j++) {
            if (j > 0)
                putc(delim, f);
            write_name(f, t->names[j], delim);
        }
        putc('\n', f);
    }
    char line[64];
    for (size_t i = 0; i < t->rows; i++) {
        const double *row = t->values + i * t->cols;
        for (size_t j = 0; j < t->cols; j++) {
            int n = snprintf(line, sizeof line, "%.17g", row[j]);
            line[n] = j + 1 < t->cols ? delim : '\n';
            fwrite(line, 1, (size_t)n + 1, f);
        }
    }
}

static void write_npy(FILE *f, const sd_table *t)
{
    char dict[128];
    int n = snprintf(dict, sizeof dict, "{'descr': '<f8', 'fortran_order': False, 'shape': (%zu, %zu), }", t->rows,
                     t->cols);
    /* magic (6) + version (2) + length (2) + dictionary + padding + '\n': a multiple of 64 */
    size_t used = 10 + (size_t)n + 1;
    size_t pad = (64 - used % 64) % 64;
    size_t hlen = (size_t)n + pad + 1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};
    fwrite(pre, 1, sizeof pre, f);
    fwrite(dict, 1, (size_t)n, f);
    for (size_t i = 0; i < pad; i++)
        putc(' ', f);
    putc('\n', f);
    size_t total = t->rows * t->cols;
    if (host_is_little()) {
        fwrite(t->values, sizeof(double), total, f);
        return;
    }
    for (size_t k = 0; k < total; k++) {
        unsigned char b[8], s[8];
        memcpy(b, &t->values[k], 8);
        for (int i = 0; i < 8; i++)
            s[i] = b[7 - i];
        fwrite(s, 1, 8, f);
    }
}

int sd_table_write(const char *path, const sd_table_format *fmt, const sd_table *t, char *err, size_t errlen)
{
    if (path == NULL || t == NULL || (t->rows * t->cols > 0 && t->values == NULL) ||
        (t->cols > 0 && t->names == NULL)) {
        set_error(err, errlen, "sd_table_write: no path or an incomplete table");
        return -1;
    }
    const char *file = shown_name(path, 1);
    int format = resolve_format(path, fmt);
    if (format != TABLE_CSV && format != TABLE_TSV && format != TABLE_NPY) {
        set_error(err, errlen, "%s: unknown table format %d", file, format);
        return -1;
    }
    int to_stdout = strcmp(path, "-") == 0;
    char *tmp = NULL;
    FILE *f = stdout;
    if (!to_stdout) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            set_error(err, errlen, "%s: is a directory", path);
            return -1;
        }
        size_t n = strlen(path);
        tmp = malloc(n + 16);
        if (tmp == NULL) {
            set_error(err, errlen, "%s: out of memory", path);
            return -1;
        }
        memcpy(tmp, path, n);
        memcpy(tmp + n, ".tmp.XXXXXX", 12);
        int fd = mkstemp(tmp);
        if (fd < 0) {
            set_error(err, errlen, "%s: cannot create a temporary file beside it: %s", path, strerror(errno));
            free(tmp);
            return -1;
        }
        mode_t mask = umask(0);
        umask(mask);
        (void)fchmod(fd, 0666 & ~mask);
        f = fdopen(fd, "wb");
        if (f == NULL) {
            set_error(err, errlen, "%s: cannot write: %s", path, strerror(errno));
            close(fd);
            unlink(tmp);
            free(tmp);
            return -1;
        }
    }
    c_locale_scope loc;
    int have_locale = c_locale_enter(&loc) == 0;
    if (!have_locale) {
        set_error(err, errlen, "%s: cannot create the C locale", file);
        if (!to_stdout) {
            fclose(f);
            unlink(tmp);
            free(tmp);
        }
        return -1;
    }
    if (format == TABLE_NPY)
        write_npy(f, t);
    else
        write_text(f, fmt, format, t);
    c_locale_leave(&loc);

    int failed = fflush(f) != 0 || ferror(f);
    int saved = errno;
    if (to_stdout) {
        if (failed) {
            set_error(err, errlen, "%s: write error: %s", file, strerror(saved));
            return -1;
        }
        return 0;
    }
    if (!failed && fsync(fileno(f)) != 0 && errno != EINVAL && errno != EROFS) {
        failed = 1;
        saved = errno;
    }
    if (fclose(f) != 0 && !failed) {
        failed = 1;
        saved = errno;
    }
    if (!failed && rename(tmp, path) != 0) {
        failed = 1;
        saved = errno;
    }
    if (failed) {
        set_error(err, errlen, "%s: write error: %s (the file was not replaced)", path, strerror(saved));
        unlink(tmp);
    }
    free(tmp);
    return failed ? -1 : 0;
}

/* ---------------------------------------------------------------- select */

int sd_table_select(const sd_table *t, const char *spec, size_t **idx, size_t *count, char *err, size_t errlen)
{
    *idx = NULL;
    *count = 0;
    if (spec == NULL || spec[0] == '\0') {
        size_t *all = malloc((t->cols ? t->cols : 1) * sizeof *all);
        if (all == NULL) {
            set_error(err, errlen, "out of memory");
            return -1;
        }
        for (size_t j = 0; j < t->cols; j++)
            all[j] = j;
        *idx = all;
        *count = t->cols;
        return 0;
    }
    size_t items = 1;
    for (const char *p = spec; *p; p++)
        items += *p == ',';
    size_t *sel = malloc(items * sizeof *sel);
    if (sel == NULL) {
        set_error(err, errlen, "out of memory");
        return -1;
    }
    size_t n = 0;
    const char *p = spec;
    for (;;) {
        const char *end = strchr(p, ',');
        if (end == NULL)
            end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        size_t len = (size_t)(b - a);
        if (len == 0) {
            set_error(err, errlen, "column list \"%s\": item %zu is empty", spec, n + 1);
            free(sel);
            return -1;
        }
        size_t found = SIZE_MAX, matches = 0;
        for (size_t j = 0; j < t->cols; j++)
            if (strlen(t->names[j]) == len && memcmp(t->names[j], a, len) == 0) {
                if (matches++ == 0)
                    found = j;
            }
        if (matches > 1) {
            set_error(err, errlen, "column list \"%s\": the name \"%.*s\" belongs to %zu columns; give the index",
                      spec, (int)len, a, matches);
            free(sel);
            return -1;
        }
        if (matches == 0) {
            size_t v = 0;
            int digits = 1;
            for (const char *q = a; q < b; q++) {
                if (*q < '0' || *q > '9' || v > (SIZE_MAX - 9) / 10) {
                    digits = 0;
                    break;
                }
                v = v * 10 + (size_t)(*q - '0');
            }
            if (digits && (v < 1 || v > t->cols)) {
                set_error(err, errlen, "column list \"%s\": column %zu is out of range (the data have %zu columns)",
                          spec, v, t->cols);
                free(sel);
                return -1;
            }
            if (!digits) {
                char names[256];
                size_t used = 0;
                names[0] = '\0';
                for (size_t j = 0; j < t->cols; j++) {
                    size_t w = strlen(t->names[j]) + (j ? 2 : 0);
                    if (used + w + 6 >= sizeof names) {
                        snprintf(names + used, sizeof names - used, ", ...");
                        break;
                    }
                    used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", j ? ", " : "", t->names[j]);
                }
                set_error(err, errlen, "column list \"%s\": unknown column \"%.*s\" (the columns are: %s)", spec,
                          (int)len, a, names);
                free(sel);
                return -1;
            }
            found = v - 1;
        }
        sel[n++] = found;
        if (*end == '\0')
            break;
        p = end + 1;
    }
    *idx = sel;
    *count = n;
    return 0;
}
