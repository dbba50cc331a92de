/*
 * scoresde sample, encode and decode: the samplers from the shell.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct sample_opts {
    const char *model, *input, *output, *sampler, *solver, *predictor, *corrector, *grid;
    const char *cond, *cond_file, *columns, *cond_columns;
    long long n, steps, order, threads;
    double tol, snr, churn, guidance;
    int adaptive, unipc, denoise; /* denoise -1: the method's default */
    uint64_t seed;
    cli_table_opts table;
} sample_opts;

enum {
    OPT_SAMPLER = 1, OPT_STEPS, OPT_ORDER, OPT_TOL, OPT_SOLVER, OPT_PREDICTOR, OPT_CORRECTOR,
    OPT_SNR, OPT_GRID, OPT_CHURN, OPT_ADAPTIVE, OPT_UNIPC, OPT_DENOISE, OPT_NO_DENOISE,
    OPT_COND, OPT_COND_FILE, OPT_GUIDANCE, OPT_SEED, OPT_THREADS, OPT_COLUMNS,
    OPT_COND_COLUMNS, OPT_QUIET, OPT_HELP
};

/* Parse the options of `cmd` (sample, encode, decode); positional
 * arguments: MODEL and, for encode/decode, the input table. */
static int parse(int argc, char **argv, sample_opts *o, int inputs)
{
    static const struct option longs[] = {
        {"output", required_argument, NULL, 'o'},
        {"samples", required_argument, NULL, 'n'},
        {"sampler", required_argument, NULL, OPT_SAMPLER},
        {"method", required_argument, NULL, OPT_SAMPLER},
        {"steps", required_argument, NULL, OPT_STEPS},
        {"order", required_argument, NULL, OPT_ORDER},
        {"tol", required_argument, NULL, OPT_TOL},
        {"solver", required_argument, NULL, OPT_SOLVER},
        {"predictor", required_argument, NULL, OPT_PREDICTOR},
        {"corrector", required_argument, NULL, OPT_CORRECTOR},
        {"snr", required_argument, NULL, OPT_SNR},
        {"grid", required_argument, NULL, OPT_GRID},
        {"churn", required_argument, NULL, OPT_CHURN},
        {"adaptive", no_argument, NULL, OPT_ADAPTIVE},
        {"unipc", no_argument, NULL, OPT_UNIPC},
        {"denoise", no_argument, NULL, OPT_DENOISE},
        {"no-denoise", no_argument, NULL, OPT_NO_DENOISE},
        {"cond", required_argument, NULL, OPT_COND},
        {"cond-file", required_argument, NULL, OPT_COND_FILE},
        {"guidance", required_argument, NULL, OPT_GUIDANCE},
        {"seed", required_argument, NULL, OPT_SEED},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"columns", required_argument, NULL, OPT_COLUMNS},
        {"cond-columns", required_argument, NULL, OPT_COND_COLUMNS},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"help", no_argument, NULL, OPT_HELP},
        CLI_TABLE_LONG_OPTIONS,
        {NULL, 0, NULL, 0}};
    int c;
    while ((c = cli_next_option(argc, argv, ":o:n:q", longs, &o->table)) != -1) {
        switch (c) {
        case CLI_OPT_ERROR: return -1;
        case 'o': o->output = optarg; break;
        case 'n':
            if (cli_parse_int("samples", optarg, 1, 1LL << 40, &o->n) != 0) return -1;
            break;
        case OPT_SAMPLER: o->sampler = optarg; break;
        case OPT_SOLVER: o->solver = optarg; break;
        case OPT_PREDICTOR: o->predictor = optarg; break;
        case OPT_CORRECTOR: o->corrector = optarg; break;
        case OPT_GRID: o->grid = optarg; break;
        case OPT_COND: o->cond = optarg; break;
        case OPT_COND_FILE: o->cond_file = optarg; break;
        case OPT_COLUMNS: o->columns = optarg; break;
        case OPT_COND_COLUMNS: o->cond_columns = optarg; break;
        case OPT_ADAPTIVE: o->adaptive = 1; break;
        case OPT_UNIPC: o->unipc = 1; break;
        case OPT_DENOISE: o->denoise = 1; break;
        case OPT_NO_DENOISE: o->denoise = 0; break;
        case 'q':
        case OPT_QUIET: cli_quiet = 1; break;
        case OPT_STEPS:
            if (cli_parse_int("steps", optarg, 1, 1000000, &o->steps) != 0) return -1;
            break;
        case OPT_ORDER:
            if (cli_parse_int("order", optarg, 1, 4, &o->order) != 0) return -1;
            break;
        case OPT_THREADS:
            if (cli_parse_int("threads", optarg, 1, 1024, &o->threads) != 0) return -1;
            break;
        case OPT_TOL:
            if (cli_parse_double("tol", optarg, 1e-14, 1, &o->tol) != 0) return -1;
            break;
        case OPT_SNR:
            if (cli_parse_double("snr", optarg, 0, 100, &o->snr) != 0) return -1;
            break;
        case OPT_CHURN:
            if (cli_parse_double("churn", optarg, 0, 1e6, &o->churn) != 0) return -1;
            break;
        case OPT_GUIDANCE:
            if (cli_parse_double("guidance", optarg, -1e6, 1e6, &o->guidance) != 0) return -1;
            break;
        case OPT_SEED:
            if (cli_parse_u64("seed", optarg, &o->seed) != 0) return -1;
            break;
        case OPT_HELP: cli_help(stdout, cli_command); exit(0);
        }
    }
    if (argc - optind != 1 + inputs)
        return cli_usage(inputs ? "needs MODEL and an input table" : "needs one MODEL"), -1;
    o->model = argv[optind];
    o->input = inputs ? argv[optind + 1] : NULL;
    if (o->output == NULL)
        return cli_usage("no output given (-o OUT)"), -1;
    if (o->cond != NULL && o->cond_file != NULL)
        return cli_usage("--cond and --cond-file exclude each other"), -1;
    return 0;
}

/* A sampler of the chosen method with the given settings. */
static int make_sampler(const sample_opts *o, int method, scoresde_sampler **out)
{
    scoresde_sampler *s = NULL;
    int rc = scoresde_sampler_create(&s, method), v;
#define SET_INT(id, val) if (rc == SCORESDE_OK) rc = scoresde_sampler_set_int(s, id, val)
#define SET_DBL(id, val) if (rc == SCORESDE_OK) rc = scoresde_sampler_set_double(s, id, val)
    if (o->steps > 0) {
        SET_INT(SCORESDE_SAMPLER_STEPS, o->steps);
    } else if (method == SCORESDE_SAMPLER_ODE) {
        SET_INT(SCORESDE_SAMPLER_STEPS, 100);
    }
    if (o->order > 0)
        SET_INT(SCORESDE_SAMPLER_ORDER, o->order);
    if (o->tol > 0) {
        SET_DBL(SCORESDE_SAMPLER_RTOL, o->tol);
        SET_DBL(SCORESDE_SAMPLER_ATOL, o->tol);
    }
    if (o->solver != NULL) {
        if (cli_lookup_value("solver", SCORESDE_SAMPLER_SOLVER, o->solver, &v) != 0)
            goto usage;
        SET_INT(SCORESDE_SAMPLER_SOLVER, v);
    }
    if (o->predictor != NULL) {
        if (cli_lookup_value("predictor", SCORESDE_SAMPLER_PREDICTOR, o->predictor, &v) != 0)
            goto usage;
        SET_INT(SCORESDE_SAMPLER_PREDICTOR, v);
    }
    if (o->corrector != NULL) {
        if (cli_lookup_value("corrector", SCORESDE_SAMPLER_CORRECTOR, o->corrector, &v) != 0)
            goto usage;
        SET_INT(SCORESDE_SAMPLER_CORRECTOR, v);
    }
    if (o->grid != NULL) {
        if (cli_lookup_value("grid", SCORESDE_SAMPLER_GRID, o->grid, &v) != 0)
            goto usage;
        SET_INT(SCORESDE_SAMPLER_GRID, v);
    }
    if (method == SCORESDE_SAMPLER_PC) {
        /* In low dimension per-sample Langevin norms bias the result (sampler.h). */
        SET_INT(SCORESDE_SAMPLER_BATCH_NORMS, 1);
    }
    if (o->snr >= 0)
        SET_DBL(SCORESDE_SAMPLER_SNR, o->snr);
    if (o->churn > 0)
        SET_DBL(SCORESDE_SAMPLER_S_CHURN, o->churn);
    if (o->adaptive)
        SET_INT(SCORESDE_SAMPLER_ADAPTIVE, 1);
    if (o->unipc)
        SET_INT(SCORESDE_SAMPLER_UNIPC, 1);
    if (o->denoise >= 0)
        SET_INT(SCORESDE_SAMPLER_DENOISE, o->denoise);
    if (o->guidance != 0)
        SET_DBL(SCORESDE_SAMPLER_GUIDANCE_SCALE, o->guidance);
    SET_INT(SCORESDE_SAMPLER_THREADS, o->threads);
    SET_INT(SCORESDE_SAMPLER_BLOCK, 256);
#undef SET_INT
#undef SET_DBL
    if (rc != SCORESDE_OK) {
        scoresde_sampler_free(s);
        return cli_lib_fail("setting up the sampler", rc);
    }
    *out = s;
    return CLI_OK;
usage:
    scoresde_sampler_free(s);
    return CLI_USAGE;
}

/* The conditions of n samples in model units: --cond (one row for all) or
 * --cond-file (n rows, or 1). *rows receives 1 or n. */
static int read_conditions(const sample_opts *o, const cli_model *cm, size_t n, double **c,
                           size_t *rows)
{
    *c = NULL;
    *rows = 0;
    if (cm->C == 0) {
        if (o->cond != NULL || o->cond_file != NULL)
            return cli_usage("the model is unconditional: --cond and --cond-file do not apply");
        return CLI_OK;
    }
    if (o->cond == NULL && o->cond_file == NULL) {
        if (scoresde_model_cond_null(cm->model) && o->guidance == 0)
            return CLI_OK; /* the null condition: the unconditional model */
        return cli_usage("the model is conditional on %zu value%s (%s...): give --cond or "
                         "--cond-file", cm->C, cm->C == 1 ? "" : "s", cm->cond_names[0]);
    }
    if (o->cond != NULL) {
        *c = malloc(cm->C * sizeof **c);
        if (*c == NULL)
            return CLI_FAIL;
        if (cli_parse_list("cond", o->cond, *c, cm->C, cm->C) < 0) {
            free(*c);
            *c = NULL;
            return CLI_USAGE;
        }
        *rows = 1;
    } else {
        sd_table t;
        if (cli_table_read(o->cond_file, &o->table, &t) != CLI_OK)
            return CLI_FAIL;
        if (t.cols != cm->C || (t.rows != 1 && t.rows != n)) {
            cli_error("%s has %zu rows of %zu values; the model's condition has %zu values and "
                      "%zu samples need %zu rows (or 1)",
                      o->cond_file, t.rows, t.cols, cm->C, n, n);
            sd_table_free(&t);
            return CLI_FAIL;
        }
        *rows = t.rows;
        *c = t.values;
        t.values = NULL;
        sd_table_free(&t);
    }
    cli_model_cond_to_model(cm, *c, *rows);
    return CLI_OK;
}

static int to_data(const cli_model *cm, double *x, size_t n)
{
    if (scoresde_model_has_transform(cm->model) <= 0)
        return CLI_OK;
    int rc = scoresde_model_to_data(cm->model, x, n);
    return rc == SCORESDE_OK ? CLI_OK : cli_lib_fail("the data transform", rc);
}

static int from_data(const cli_model *cm, double *x, size_t n)
{
    if (scoresde_model_has_transform(cm->model) <= 0)
        return CLI_OK;
    int rc = scoresde_model_from_data(cm->model, x, n);
    return rc == SCORESDE_OK ? CLI_OK : cli_lib_fail("the data transform", rc);
}

int cli_sample(int argc, char **argv)
{
    sample_opts o = {.sampler = "dpmpp", .threads = 1, .snr = -1, .denoise = -1,
                     .table = {.header = -1}};
    if (parse(argc, argv, &o, 0) != 0)
        return CLI_USAGE;
    if (o.n == 0)
        return cli_usage("no sample count given (-n N)");
    int method;
    if (cli_lookup_method("sampler", o.sampler, &method) != 0)
        return CLI_USAGE;
    cli_model cm;
    if (cli_model_load(&cm, o.model) != CLI_OK)
        return CLI_FAIL;
    int status;
    size_t n = (size_t)o.n, rows = 0;
    double *c = NULL, *x = NULL;
    scoresde_sampler *s = NULL;
    if ((status = read_conditions(&o, &cm, n, &c, &rows)) != CLI_OK)
        goto done;
    if ((status = make_sampler(&o, method, &s)) != CLI_OK)
        goto done;
    x = n <= SIZE_MAX / sizeof *x / cm.D ? malloc(n * cm.D * sizeof *x) : NULL;
    if (x == NULL) {
        cli_error("out of memory for %zu samples", n);
        status = CLI_FAIL;
        goto done;
    }
    scoresde_cond cond = {.struct_size = sizeof cond, .C = cm.C, .c = c, .rows = rows};
    scoresde_sampler_stats st = {.struct_size = sizeof st};
    double t0 = cli_now();
    int rc = scoresde_sampler_sample_cond(s, cm.model, NULL, n, cm.D, cm.C > 0 ? &cond : NULL,
                                          o.seed, 0, x, &st);
    if (rc != SCORESDE_OK) {
        status = cli_lib_fail("sampling", rc);
        goto done;
    }
    if ((status = to_data(&cm, x, n)) != CLI_OK)
        goto done;
    status = cli_table_write(o.output, &o.table, x, n, cm.D, cm.names);
    if (status == CLI_OK)
        cli_note("scoresde sample: %zu samples (%s, NFE %llu, %.1f s) into %s", n, o.sampler,
                 (unsigned long long)st.nfe, cli_now() - t0, o.output);
done:
    free(x);
    free(c);
    scoresde_sampler_free(s);
    cli_model_free(&cm);
    return status;
}

/* Rows of a table in the model's columns: by --columns, else by the model's
 * names when the table has them all, else every column (which must then be
 * the model's D, or D + C with the conditions last). Conditions likewise
 * (into *c, model units, or NULL). */
int cli_model_rows(const cli_model *cm, const sd_table *t, const char *columns,
                   const char *cond_columns, int want_cond, const char *path, double **x,
                   double **c)
{
    *x = *c = NULL;
    size_t *xi = NULL, nx = 0, *ci = NULL, nc = 0;
    char *byname = NULL;
    int status = CLI_FAIL;
    if (columns == NULL && t->names != NULL) {
        /* The model's own column names, when the table has all of them. */
        size_t len = 1;
        for (size_t j = 0; j < cm->D; j++)
            len += strlen(cm->names[j]) + 1;
        byname = malloc(len);
        int all = byname != NULL;
        if (byname != NULL)
            byname[0] = '\0';
        for (size_t j = 0; all && j < cm->D; j++) {
            int found = 0;
            for (size_t k = 0; k < t->cols; k++)
                found |= t->names[k] != NULL && strcmp(t->names[k], cm->names[j]) == 0;
            all &= found && strchr(cm->names[j], ',') == NULL;
            strcat(byname, j ? "," : "");
            strcat(byname, cm->names[j]);
        }
        if (all)
            columns = byname;
    }
    if (columns != NULL) {
        if (cli_table_columns(t, path, columns, &xi, &nx) != CLI_OK)
            goto done;
    } else if (t->cols == cm->D || t->cols == cm->D + cm->C) {
        nx = cm->D;
        xi = malloc(nx * sizeof *xi);
        for (size_t j = 0; xi != NULL && j < nx; j++)
            xi[j] = j;
    } else {
        cli_error("%s has %zu columns; the model has dimension %zu%s (choose them with "
                  "--columns)", path, t->cols, cm->D, cm->C > 0 ? " and a condition" : "");
        goto done;
    }
    if (xi == NULL)
        goto done;
    if (nx != cm->D) {
        cli_error("%s: %zu columns chosen; the model has dimension %zu", path, nx, cm->D);
        goto done;
    }
    if (cm->C > 0 && want_cond) {
        char *cn = NULL;
        if (cond_columns == NULL) {
            size_t len = 1;
            for (size_t q = 0; q < cm->C; q++)
                len += strlen(cm->cond_names[q]) + 1;
            cn = malloc(len);
            if (cn != NULL) {
                cn[0] = '\0';
                for (size_t q = 0; q < cm->C; q++) {
                    strcat(cn, q ? "," : "");
                    strcat(cn, cm->cond_names[q]);
                }
            }
            cond_columns = cn;
        }
        int named = t->names != NULL;
        for (size_t q = 0; named && q < cm->C; q++) {
            int found = 0;
            for (size_t k = 0; k < t->cols; k++)
                found |= t->names[k] != NULL && strcmp(t->names[k], cm->cond_names[q]) == 0;
            named &= found;
        }
        int ok;
        if (cn != NULL && !named && t->cols == cm->D + cm->C) {
            /* No names to go by: the conditions are the columns after the data's. */
            nc = cm->C;
            ci = malloc(nc * sizeof *ci);
            for (size_t q = 0; ci != NULL && q < nc; q++)
                ci[q] = cm->D + q;
            ok = ci != NULL;
        } else {
            ok = cond_columns != NULL &&
                 cli_table_columns(t, path, cond_columns, &ci, &nc) == CLI_OK;
        }
        free(cn);
        if (!ok)
            goto done;
        if (nc != cm->C) {
            cli_error("%s: %zu condition columns chosen; the model's condition has %zu", path,
                      nc, cm->C);
            goto done;
        }
        *c = cli_table_gather(t, ci, nc);
        if (*c == NULL)
            goto done;
        cli_model_cond_to_model(cm, *c, t->rows);
    }
    *x = cli_table_gather(t, xi, nx);
    status = *x != NULL ? CLI_OK : CLI_FAIL;
done:
    if (status != CLI_OK) {
        free(*c);
        *c = NULL;
    }
    free(byname);
    free(xi);
    free(ci);
    return status;
}

/* encode (forward: data to latents) and decode (latents to data). */
static int transport(int argc, char **argv, int forward)
{
    sample_opts o = {.threads = 1, .snr = -1, .denoise = -1, .table = {.header = -1}};
    if (parse(argc, argv, &o, 1) != 0)
        return CLI_USAGE;
    cli_model cm;
    if (cli_model_load(&cm, o.model) != CLI_OK)
        return CLI_FAIL;
    sd_table t = {0};
    double *x = NULL, *c = NULL;
    scoresde_sampler *s = NULL;
    size_t rows = 0;
    int status = cli_table_read(o.input, &o.table, &t);
    if (status != CLI_OK)
        goto done;
    if (forward) {
        if ((status = cli_model_rows(&cm, &t, o.columns, o.cond_columns,
                                     o.cond == NULL && o.cond_file == NULL, o.input, &x,
                                     &c)) != CLI_OK)
            goto done;
        rows = c != NULL ? t.rows : 0;
        if ((status = from_data(&cm, x, t.rows)) != CLI_OK)
            goto done;
    } else {
        if (t.cols != cm.D) {
            cli_error("%s has %zu columns; the model's latents have %zu", o.input, t.cols, cm.D);
            status = CLI_FAIL;
            goto done;
        }
        x = t.values;
        t.values = NULL;
    }
    if (c == NULL && (status = read_conditions(&o, &cm, t.rows, &c, &rows)) != CLI_OK)
        goto done;
    if ((status = make_sampler(&o, SCORESDE_SAMPLER_ODE, &s)) != CLI_OK)
        goto done;
    scoresde_cond cond = {.struct_size = sizeof cond, .C = cm.C, .c = c, .rows = rows};
    scoresde_sampler_stats st = {.struct_size = sizeof st};
    int rc = forward ? scoresde_sampler_encode_cond(s, cm.model, x, t.rows, cm.D,
                                                    cm.C > 0 ? &cond : NULL, x, &st)
                     : scoresde_sampler_sample_cond(s, cm.model, x, t.rows, cm.D,
                                                    cm.C > 0 ? &cond : NULL, o.seed, 0, x, &st);
    if (rc != SCORESDE_OK) {
        status = cli_lib_fail(forward ? "encoding" : "decoding", rc);
        goto done;
    }
    if (!forward && (status = to_data(&cm, x, t.rows)) != CLI_OK)
        goto done;
    status = cli_table_write(o.output, &o.table, x, t.rows, cm.D, cm.names);
    if (status == CLI_OK)
        cli_note("scoresde %s: %zu rows (NFE %llu) into %s", cli_command, t.rows,
                 (unsigned long long)st.nfe, o.output);
done:
    free(x);
    free(c);
    sd_table_free(&t);
    scoresde_sampler_free(s);
    cli_model_free(&cm);
    return status;
}

int cli_encode(int argc, char **argv)
{
    return transport(argc, argv, 1);
}

int cli_decode(int argc, char **argv)
{
    return transport(argc, argv, 0);
}
