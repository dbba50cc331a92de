/*
 * The scoresde command-line tool: declarations shared by its subcommands.
 * The tool is the library's binding to the shell; it uses the public API
 * only (and reads the documented container format of docs/file-format.md
 * for `info` and for its own META section).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SCORESDE_CLI_H
#define SCORESDE_CLI_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <scoresde.h>

#include "table.h"

/* Exit statuses. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_INTERRUPTED = 130 };

/* ------------------------------------------------------------ messages */

/* "scoresde CMD: message" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A library call failed: print what, the status text and the library's
 * message; returns CLI_FAIL. */
int cli_lib_fail(const char *what, int rc);
/* Bad usage: print the message and a pointer to `scoresde help CMD`;
 * returns CLI_USAGE. */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The running subcommand's name (for messages). */
extern const char *cli_command;
/* Informational lines on stderr unless --quiet. */
extern int cli_quiet;
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ------------------------------------------------------------ option values */

/* Parse an integer in [lo, hi] or a finite double in [lo, hi] given to
 * option `opt`; on failure print the usage message and return -1. */
int cli_parse_int(const char *opt, const char *value, long long lo, long long hi, long long *out);
int cli_parse_u64(const char *opt, const char *value, uint64_t *out);
int cli_parse_double(const char *opt, const char *value, double lo, double hi, double *out);
/* Parse a comma-separated list of doubles (exactly `count` when count > 0,
 * else any number up to `max`): returns the number read or -1. */
int cli_parse_list(const char *opt, const char *value, double *out, size_t max, size_t count);

/* A name table: names[k] stands for values[k]; the list ends with a NULL name. */
typedef struct cli_name {
    const char *name;
    int value;
} cli_name;
/* The value of `name` in the table, or print the choices and return -1. */
int cli_lookup(const char *opt, const char *name, const cli_name *table, int *out);
/* The table's name for `value`, or "?". */
const char *cli_name_of(const cli_name *table, int value);

extern const cli_name cli_sde_names[];
/* The library's names of the sampler methods and of the values of an
 * enum-valued sampler setting (scoresde_sampler_method_id, _value_id),
 * written with '-' for '_' on the command line (either is accepted): the
 * method or value of `name`, or print the choices and return -1. */
int cli_lookup_method(const char *opt, const char *name, int *method);
int cli_lookup_value(const char *opt, int setting, const char *name, int *value);
extern const cli_name cli_model_kind_names[];
extern const cli_name cli_activation_names[];
extern const cli_name cli_output_names[];

/* ------------------------------------------------------------ files */

/* Read a whole file (at most `limit` bytes) into a malloc'd buffer. On
 * failure prints "cannot read PATH: reason" and returns -1. */
int cli_read_file(const char *path, size_t limit, unsigned char **data, size_t *size);
/* Write `size` bytes to `path` atomically: a temporary in the same
 * directory, fsync, rename. "-" writes to standard output. On failure
 * prints the reason, removes the temporary and returns -1. */
int cli_write_file(const char *path, const void *data, size_t size);

/* An output being written: a temporary file renamed over the target by
 * cli_output_commit, removed by cli_output_abort. "-" is standard output. */
typedef struct cli_output {
    FILE *f;
    char *path, *tmp;
} cli_output;
int cli_output_open(cli_output *o, const char *path);
int cli_output_commit(cli_output *o);
void cli_output_abort(cli_output *o);

/* ------------------------------------------------------------ containers */

/* The CRC-32C of docs/file-format.md ("Checksum"). */
uint32_t cli_crc32c(uint32_t crc, const void *data, size_t size);
/* Check a container's magic, size and checksum and walk its sections; 0 if
 * it is well formed, else -1 with a reason in err. *type receives the file
 * type (1 model, 2 checkpoint) and *version the format version. */
int cli_container_check(const unsigned char *buf, size_t size, uint32_t *type, uint32_t *version,
                        char *err, size_t errlen);
/* Find section `tag` (four characters) in a well-formed container: 0 and its
 * payload, or -1 when absent. */
int cli_container_find(const unsigned char *buf, size_t size, const char *tag,
                       const unsigned char **payload, size_t *len);
/* Append an optional META section holding `payload` to the container in
 * *buf (realloc'd), fixing the header's count and size and the checksum.
 * Returns 0, or -1 when out of memory. */
int cli_container_add_meta(unsigned char **buf, size_t *size, const void *payload, size_t len);

/* ------------------------------------------------------------ tool metadata
 * The tool's META section: the text "scoresde-tool 1\n" then key=value
 * lines, then (checkpoints only) a NUL byte and the bytes of the model file
 * the training run started from. List values separate items by a tab. */
typedef struct cli_meta {
    char *text;                  /* NUL-terminated, malloc'd */
    const unsigned char *blob;   /* into the container's buffer, or NULL */
    size_t blob_len;
} cli_meta;
void cli_meta_set(cli_meta *m, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The value of key (malloc'd) or NULL. */
char *cli_meta_get(const cli_meta *m, const char *key);
/* Parse the META section of a container; 0 if it is the tool's, else -1
 * (m->text NULL). */
int cli_meta_parse(cli_meta *m, const unsigned char *buf, size_t size);
void cli_meta_free(cli_meta *m);
/* Split a tab-separated list into *items (malloc'd array of malloc'd
 * strings); returns the count. */
size_t cli_split(const char *list, char ***items);
void cli_strv_free(char **items, size_t n);

/* ------------------------------------------------------------ models */

/* A model file as the tool reads it: the model, its file bytes, and the
 * tool's metadata when present. */
typedef struct cli_model {
    scoresde_model *model;
    unsigned char *bytes;
    size_t size;
    cli_meta meta;
    char **names, **cond_names;  /* column names (x1.. when absent) */
    size_t D, C;
    double *cond_shift, *cond_scale; /* the tool's standardisation of the condition */
} cli_model;
/* Load a model file (not a checkpoint). Prints the error and returns
 * CLI_FAIL or CLI_OK. */
int cli_model_load(cli_model *cm, const char *path);
void cli_model_free(cli_model *cm);
/* Save `model` with the tool's metadata `meta` (may be NULL) to path, atomically. */
int cli_model_save(const scoresde_model *model, const cli_meta *meta, const char *path);

/* Condition rows in model units: standardise c (rows x C) in place with the
 * model's condition transform (identity when there is none). */
void cli_model_cond_to_model(const cli_model *cm, double *c, size_t rows);

/* ------------------------------------------------------------ tables */

/* Options of the table reader shared by every subcommand (--format,
 * --header/--no-header, --delimiter; table.h's sd_table_format). */
typedef struct cli_table_opts {
    const char *format; /* csv, tsv, npy or NULL (by extension) */
    int header;         /* -1 detect, 0 none, 1 present */
    char delimiter;     /* 0 detect */
} cli_table_opts;
/* Read a table; on failure print the reader's message and return CLI_FAIL. */
int cli_table_read(const char *path, const cli_table_opts *o, sd_table *t);
/* Write rows x cols values with names (may be NULL: x1..); CLI_OK or CLI_FAIL. */
int cli_table_write(const char *path, const cli_table_opts *o, const double *values,
                    size_t rows, size_t cols, char *const *names);
/* Resolve a column list ("a,b,3") to indices; CLI_OK, or CLI_FAIL with the
 * message printed. */
int cli_table_columns(const sd_table *t, const char *path, const char *spec, size_t **idx,
                      size_t *count);
/* 1 if column j has no name of its own (the reader's "1".."cols" of a table
 * without a header). */
int cli_table_unnamed(const sd_table *t, size_t j);
/* Gather the chosen columns into a new rows x count array. */
double *cli_table_gather(const sd_table *t, const size_t *idx, size_t count);

/* The rows of table t in the model's columns (x, n x D, data units) and, for a
 * conditional model with want_cond, its condition columns (c, n x C, model
 * units): by --columns / --cond-columns, else by the model's stored names
 * when the table has them, else the first D columns (and the next C). */
int cli_model_rows(const cli_model *cm, const sd_table *t, const char *columns,
                   const char *cond_columns, int want_cond, const char *path, double **x,
                   double **c);

/* Shared long options of the table reader, and their handler: returns 1 if
 * `opt` was one of them (then consumed), 0 otherwise, -1 on a bad value. */
enum { CLI_OPT_FORMAT = 1000, CLI_OPT_HEADER, CLI_OPT_NO_HEADER, CLI_OPT_DELIMITER };
int cli_table_option(int opt, const char *arg, cli_table_opts *o);
/* The next option of a subcommand's command line (getopt_long from the
 * first argument after the subcommand's name on the first call): table
 * options are applied to *topts; returns the option, -1 at the end, or
 * CLI_OPT_ERROR after printing the usage message (an unknown option, a
 * missing value, a bad table option). */
enum { CLI_OPT_ERROR = -2 };
struct option;
int cli_next_option(int argc, char **argv, const char *shorts, const struct option *longs,
                    cli_table_opts *topts);
/* Standardise rows x cols values in place: (a - shift) / scale by column. */
void cli_standardize(double *a, size_t rows, size_t cols, const double *shift,
                     const double *scale);
#define CLI_TABLE_LONG_OPTIONS                                                                 \
    {"format", required_argument, NULL, CLI_OPT_FORMAT},                                       \
        {"header", no_argument, NULL, CLI_OPT_HEADER},                                         \
        {"no-header", no_argument, NULL, CLI_OPT_NO_HEADER},                                   \
        {"delimiter", required_argument, NULL, CLI_OPT_DELIMITER}

/* ------------------------------------------------------------ subcommands */

int cli_train(int argc, char **argv);
int cli_sample(int argc, char **argv);
int cli_encode(int argc, char **argv);
int cli_decode(int argc, char **argv);
int cli_nll(int argc, char **argv);
int cli_info(int argc, char **argv);
int cli_plot(int argc, char **argv);
/* Print the help of a subcommand (NULL: the overview) to f; 0, or -1 if unknown. */
int cli_help(FILE *f, const char *command);

double cli_now(void);

#endif /* SCORESDE_CLI_H */
