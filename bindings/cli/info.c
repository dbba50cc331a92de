/*
 * scoresde info: describe model files, checkpoints and tables. Model files
 * and checkpoints are read as docs/file-format.md documents them; models are
 * also loaded through the library, which checks them whole.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static uint32_t u32at(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t u64at(const unsigned char *p)
{
    return (uint64_t)u32at(p) | (uint64_t)u32at(p + 4) << 32;
}

static double f64at(const unsigned char *p)
{
    uint64_t b = u64at(p);
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static const char *const sde_params[][3] = {
    [SCORESDE_SDE_VE] = {"sigma_min", "sigma_max", NULL},
    [SCORESDE_SDE_VP] = {"beta_min", "beta_max", NULL},
    [SCORESDE_SDE_SUBVP] = {"beta_min", "beta_max", NULL},
    [SCORESDE_SDE_COSINE] = {"s", "T", NULL},
    [SCORESDE_SDE_EDM] = {"sigma_min", "sigma_max", NULL},
    [SCORESDE_SDE_OU] = {"theta", "s", "T"},
};

static void print_sde(const unsigned char *p, size_t n)
{
    if (n < 8)
        return;
    uint32_t kind = u32at(p), count = u32at(p + 4);
    printf("  SDE            %s", cli_name_of(cli_sde_names, (int)kind));
    for (uint32_t k = 0; k < count && 8 + 8 * (size_t)k + 8 <= n; k++) {
        const char *name = kind < sizeof sde_params / sizeof sde_params[0] && k < 3
                               ? sde_params[kind][k] : NULL;
        printf("%s%s %g", k ? ", " : " (", name != NULL ? name : "p", f64at(p + 8 + 8 * k));
    }
    printf("%s\n", count > 0 ? ")" : "");
}

static void print_mlp(const unsigned char *p, size_t n)
{
    if (n < 76)
        return;
    uint64_t L = u64at(p + 68), E = u64at(p + 24);
    if (L > 64 || 76 + 8 * L > n)
        return;
    printf("  network        MLP, %llu hidden layer%s (", (unsigned long long)L,
           L == 1 ? "" : "s");
    for (uint64_t l = 0; l < L; l++)
        printf("%s%llu", l ? " " : "", (unsigned long long)u64at(p + 76 + 8 * l));
    printf(" wide), %s, %s output, %s time embedding of %llu features, %s\n",
           cli_name_of(cli_activation_names, (int)u32at(p + 8)),
           cli_name_of(cli_output_names, (int)u32at(p + 12)),
           u32at(p + 16) == SCORESDE_MLP_EMBED_FOURIER ? "Fourier" : "sinusoidal",
           (unsigned long long)E, u32at(p + 20) == SCORESDE_MLP_FLOAT32 ? "float32" : "float64");
    size_t F = 76 + 8 * L + 4 * E;
    if (F + 24 <= n) {
        uint64_t K = u64at(p + F + 12);
        printf("  condition      %llu feature%s, %s%s%s\n", (unsigned long long)u64at(p + F),
               u64at(p + F) == 1 ? "" : "s",
               u32at(p + F + 8) == 1   ? "concatenated"
               : u32at(p + F + 8) == 3 ? "embedded in every hidden layer"
                                       : "embedded",
               K > 0 ? ", class labels" : "", u32at(p + F + 20) ? ", accepts the null condition"
                                                              : "");
    }
}

static void print_meta(const cli_meta *m)
{
    static const char *const keys[] = {"tool", "data", "columns", "cond-columns", "loss", "net",
                                       "standardize", "rows", "train-rows", "val-fraction",
                                       "seed", "steps", "target-steps", NULL};
    for (int k = 0; keys[k] != NULL; k++) {
        char *v = cli_meta_get(m, keys[k]);
        if (v == NULL)
            continue;
        for (char *q = v; *q; q++)
            *q = *q == '\t' ? ',' : *q;
        if (strcmp(keys[k], "val-fraction") == 0)
            printf("  %-14s %g\n", keys[k], strtod(v, NULL));
        else
            printf("  %-14s %s\n", keys[k], v);
        free(v);
    }
}

/* The model's own description through the library (kind, D, C, parameters,
 * transform; names: the columns, or NULL). */
static int print_model(const unsigned char *buf, size_t size, char **names, size_t n_names)
{
    scoresde_model *m = NULL;
    int rc = scoresde_model_load_buffer(&m, buf, size);
    if (rc != SCORESDE_OK)
        return cli_lib_fail("loading the model", rc);
    size_t D = scoresde_model_dim(m);
    printf("  kind           %s\n", cli_name_of(cli_model_kind_names, scoresde_model_kind(m)));
    printf("  dimension      %zu\n", D);
    printf("  condition size %zu\n", scoresde_model_cond_dim(m));
    printf("  parameters     %zu\n", scoresde_model_num_params(m));
    const unsigned char *p;
    size_t n;
    if (cli_container_find(buf, size, "SDE ", &p, &n) == 0)
        print_sde(p, n);
    if (scoresde_model_kind(m) == SCORESDE_MODEL_MLP &&
        cli_container_find(buf, size, "KIND", &p, &n) == 0)
        print_mlp(p, n);
    if (scoresde_model_has_transform(m) > 0) {
        double *shift = malloc(D * sizeof *shift), *scale = malloc(D * sizeof *scale), ld = 0;
        if (shift != NULL && scale != NULL &&
            scoresde_model_get_transform(m, shift, scale) == SCORESDE_OK) {
            scoresde_model_transform_log_det(m, &ld);
            printf("  transform      x = shift + scale * x_model (log-Jacobian %.6g)\n", ld);
            for (size_t j = 0; j < D && j < 16; j++) {
                char def[32];
                snprintf(def, sizeof def, "%zu", j + 1);
                printf("    %-12s shift %.6g, scale %.6g\n", n_names == D ? names[j] : def,
                       shift[j], scale[j]);
            }
            if (D > 16)
                printf("    ... (%zu more)\n", D - 16);
        }
        free(shift);
        free(scale);
    } else {
        printf("  transform      none (the model sees the data as they are)\n");
    }
    scoresde_model_free(m);
    return CLI_OK;
}

static void print_trainer(const unsigned char *p, size_t n)
{
    if (n < 180)
        return;
    static const char *const loss_kinds[] = {"?", "esm", "ism", "ssm", "ssm-vr", "dsm", "smld",
                                             "ddpm"};
    uint32_t lk = u32at(p + 104);
    printf("  training steps %llu (%llu samples drawn)\n", (unsigned long long)u64at(p + 8),
           (unsigned long long)u64at(p + 16));
    printf("  optimiser      Adam, lr %g, batch %llu, warm-up %llu, clip %g, EMA rate %g, "
           "seed %llu\n",
           f64at(p + 48), (unsigned long long)u64at(p + 40), (unsigned long long)u64at(p + 32),
           f64at(p + 88), f64at(p + 96), (unsigned long long)u64at(p + 24));
    printf("  loss           %s (weighting %u, time mode %u)%s\n",
           lk < 8 ? loss_kinds[lk] : "?", (unsigned)u32at(p + 112), (unsigned)u32at(p + 108),
           n >= 188 && f64at(p + 180) > 0 ? ", condition dropout" : "");
}

static int info_table(const char *path)
{
    sd_table t;
    cli_table_opts o = {.header = -1};
    if (cli_table_read(path, &o, &t) != CLI_OK)
        return CLI_FAIL;
    printf("%s: a table of %zu rows and %zu columns\n", path, t.rows, t.cols);
    for (size_t j = 0; j < t.cols; j++) {
        double s = 0, q = 0, lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < t.rows; i++) {
            double v = t.values[i * t.cols + j];
            s += v;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        s /= (double)t.rows;
        for (size_t i = 0; i < t.rows; i++)
            q += (t.values[i * t.cols + j] - s) * (t.values[i * t.cols + j] - s);
        q = t.rows > 1 ? sqrt(q / (double)(t.rows - 1)) : 0;
        char def[32];
        snprintf(def, sizeof def, "%zu", j + 1);
        printf("  %-14s mean %-12.6g sd %-12.6g min %-12.6g max %.6g\n",
               cli_table_unnamed(&t, j) ? def : t.names[j], s, q, lo, hi);
    }
    sd_table_free(&t);
    return CLI_OK;
}

static int info_file(const char *path)
{
    unsigned char *buf;
    size_t size;
    FILE *f = fopen(path, "rb");
    unsigned char head[8] = {0};
    size_t got = f != NULL ? fread(head, 1, 8, f) : 0;
    if (f != NULL)
        fclose(f);
    if (got < 8 || head[0] != 0x89 || memcmp(head + 1, "SDE", 3) != 0)
        return info_table(path);
    if (cli_read_file(path, (size_t)1 << 40, &buf, &size) != 0)
        return CLI_FAIL;
    char err[256];
    uint32_t type, version;
    if (cli_container_check(buf, size, &type, &version, err, sizeof err) != 0) {
        cli_error("%s: %s", path, err);
        free(buf);
        return CLI_FAIL;
    }
    cli_meta meta;
    int tool = cli_meta_parse(&meta, buf, size) == 0;
    printf("%s: libscoresde %s file, format %u.%u%s\n", path,
           type == 1 ? "model" : type == 2 ? "training checkpoint" : "unknown",
           (unsigned)(version >> 16), (unsigned)(version & 0xffff),
           tool ? ", written by the scoresde tool" : "");
    int status = CLI_OK;
    const unsigned char *p;
    size_t n, n_names = 0;
    char **names = NULL, *list = tool ? cli_meta_get(&meta, "columns") : NULL;
    if (list != NULL)
        n_names = cli_split(list, &names);
    free(list);
    if (type == 1) {
        status = print_model(buf, size, names, n_names);
    } else if (type == 2) {
        if (tool && meta.blob != NULL)
            status = print_model(meta.blob, meta.blob_len, names, n_names);
        if (cli_container_find(buf, size, "TRNR", &p, &n) == 0)
            print_trainer(p, n);
    }
    if (tool)
        print_meta(&meta);
    cli_strv_free(names, n_names);
    cli_meta_free(&meta);
    free(buf);
    return status;
}

int cli_info(int argc, char **argv)
{
    static const struct option longs[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = cli_next_option(argc, argv, ":h", longs, NULL)) != -1) {
        if (c == CLI_OPT_ERROR)
            return CLI_USAGE;
        cli_help(stdout, "info");
        return CLI_OK;
    }
    if (optind >= argc)
        return cli_usage("no FILE given");
    int status = CLI_OK;
    for (int k = optind; k < argc; k++)
        if (info_file(argv[k]) != CLI_OK)
            status = CLI_FAIL;
    return status;
}
