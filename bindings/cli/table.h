/*
 * table.h: the data I/O module of the scoresde command-line tool.
 *
 * Reads and writes numeric tables (CSV, TSV, NumPy .npy) for the tool in
 * bindings/cli. It is a static helper library of the tool (scoresde_table),
 * not library API: nothing here is installed.
 *
 * Conventions: every function that can fail returns 0 on success or -1 with
 * a NUL-terminated message in err (errlen bytes, may be 0 to discard) that
 * names the file ("-" reads as "<stdin>" / "<stdout>"), and for text input the
 * 1-based line and column of the offending cell.
 */
#ifndef SCORESDE_CLI_TABLE_H
#define SCORESDE_CLI_TABLE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* File formats (sd_table_format.format). */
enum {
    TABLE_AUTO = 0, /* by extension: .tsv/.tab -> TSV, .npy -> NPY, otherwise CSV ("-" is CSV) */
    TABLE_CSV = 1,
    TABLE_TSV = 2,
    TABLE_NPY = 3
};

typedef struct {
    size_t rows, cols;
    double *values; /* rows x cols, row-major, ONE allocation (NULL when rows*cols == 0) */
    char **names;   /* cols entries, never NULL: "1".."cols" when no header */
} sd_table;

typedef struct {
    int format;     /* TABLE_AUTO (by extension), TABLE_CSV, TABLE_TSV, TABLE_NPY */
    int header;     /* -1 detect, 0 none, 1 present (text formats; ignored for .npy) */
    char delimiter; /* 0 detect (CSV: the first of ',' '\t' ';' on the first data line; TSV: '\t') */
} sd_table_format;

/* A format with every field "detect": { TABLE_AUTO, -1, 0 }. */
#define SD_TABLE_FORMAT_DEFAULT {TABLE_AUTO, -1, 0}

/*
 * Reads a table. path "-" = stdin (CSV unless fmt->format says otherwise).
 * fmt may be NULL (all detected). Text: '#' lines (after optional blanks) and
 * blank lines are skipped; CRLF accepted; a header row is detected when any
 * cell of the first data line is not a number (or forced with header = 1/0);
 * header names may be quoted ("a,b" with "" for a quote). Cells are parsed
 * exactly as strtod does. Refused with a message: a missing, unreadable or
 * directory path, an empty file (no rows), a non-numeric cell, a ragged row,
 * NaN or Inf, an unsupported .npy dtype or a corrupt .npy header.
 * Returns 0 (out filled, free with sd_table_free) or -1 (out zeroed).
 */
int sd_table_read(const char *path, const sd_table_format *fmt, sd_table *out, char *err, size_t errlen);

/*
 * Writes a table: to a temporary file beside path, renamed over path only
 * when complete (an incomplete output never replaces path); "-" = stdout.
 * Text formats keep the column names as a header row (quoted when needed)
 * unless fmt->header == 0; doubles printed with %.17g so values round-trip.
 * NPY is written as float64, C order, format version 1 (names are lost).
 * fmt may be NULL (format by extension, header written, ',' or '\t').
 */
int sd_table_write(const char *path, const sd_table_format *fmt, const sd_table *t, char *err, size_t errlen);

/*
 * Selects columns: spec "a,b,3" lists names or 1-based indices (a name wins
 * over an index when a column is literally called "3"); NULL or "" = all
 * columns. *idx (0-based, malloc'd, free with free()) gets *count entries.
 * Refused: an unknown name, an index out of range, an empty item.
 */
int sd_table_select(const sd_table *t, const char *spec, size_t **idx, size_t *count, char *err, size_t errlen);

/* Frees values and names and zeroes t; NULL or a zeroed table is fine. */
void sd_table_free(sd_table *t);

#ifdef __cplusplus
}
#endif

#endif
