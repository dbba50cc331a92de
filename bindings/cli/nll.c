/*
 * scoresde nll: negative log-likelihoods of data rows, in data units.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#ifndef M_LN2
#define M_LN2 0.69314718055994530942
#endif

enum { DEQUANT_CHUNK = 64 };
enum { OPT_COLUMNS = 1, OPT_COND_COLUMNS, OPT_BITS, OPT_HUTCHINSON, OPT_PER_ROW, OPT_TOL,
       OPT_SEED, OPT_THREADS, OPT_QUIET, OPT_HELP };

/* Mean and its standard error. */
static void mean_se(const double *v, size_t n, double *mean, double *se)
{
    double s = 0.0, q = 0.0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    s /= (double)n;
    for (size_t i = 0; i < n; i++)
        q += (v[i] - s) * (v[i] - s);
    *mean = s;
    *se = n > 1 ? sqrt(q / (double)(n - 1) / (double)n) : NAN;
}

int cli_nll(int argc, char **argv)
{
    static const struct option longs[] = {
        {"columns", required_argument, NULL, OPT_COLUMNS},
        {"cond-columns", required_argument, NULL, OPT_COND_COLUMNS},
        {"bits", required_argument, NULL, OPT_BITS},
        {"hutchinson", required_argument, NULL, OPT_HUTCHINSON},
        {"per-row", required_argument, NULL, OPT_PER_ROW},
        {"tol", required_argument, NULL, OPT_TOL},
        {"seed", required_argument, NULL, OPT_SEED},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"help", no_argument, NULL, OPT_HELP},
        CLI_TABLE_LONG_OPTIONS,
        {NULL, 0, NULL, 0}};
    const char *columns = NULL, *cond_columns = NULL, *per_row = NULL;
    long long bits = 0, probes = 0, threads = 1;
    double tol = 1e-5;
    uint64_t seed = 0;
    cli_table_opts topts = {.header = -1};
    int c;
    while ((c = cli_next_option(argc, argv, ":q", longs, &topts)) != -1) {
        switch (c) {
        case CLI_OPT_ERROR: return CLI_USAGE;
        case OPT_COLUMNS: columns = optarg; break;
        case OPT_COND_COLUMNS: cond_columns = optarg; break;
        case OPT_PER_ROW: per_row = optarg; break;
        case 'q':
        case OPT_QUIET: cli_quiet = 1; break;
        case OPT_BITS:
            if (cli_parse_int("bits", optarg, 1, 32, &bits) != 0) return CLI_USAGE;
            break;
        case OPT_HUTCHINSON:
            if (cli_parse_int("hutchinson", optarg, 1, 100000, &probes) != 0) return CLI_USAGE;
            break;
        case OPT_THREADS:
            if (cli_parse_int("threads", optarg, 1, 1024, &threads) != 0) return CLI_USAGE;
            break;
        case OPT_TOL:
            if (cli_parse_double("tol", optarg, 1e-14, 1, &tol) != 0) return CLI_USAGE;
            break;
        case OPT_SEED:
            if (cli_parse_u64("seed", optarg, &seed) != 0) return CLI_USAGE;
            break;
        case OPT_HELP: cli_help(stdout, "nll"); exit(0);
        }
    }
    if (argc - optind != 2)
        return cli_usage("needs MODEL and DATA");
    const char *model_path = argv[optind], *data_path = argv[optind + 1];

    cli_model cm;
    if (cli_model_load(&cm, model_path) != CLI_OK)
        return CLI_FAIL;
    sd_table t = {0};
    double *x = NULL, *cond = NULL, *logp = NULL, *acc = NULL, *out = NULL;
    scoresde_sampler *s = NULL;
    int status = cli_table_read(data_path, &topts, &t);
    if (status != CLI_OK)
        goto done;
    status = cli_model_rows(&cm, &t, columns, cond_columns, 1, data_path, &x, &cond);
    if (status != CLI_OK)
        goto done;
    size_t n = t.rows, D = cm.D;
    status = CLI_FAIL;
    logp = malloc(n * sizeof *logp);
    acc = calloc(n, sizeof *acc);
    out = malloc(2 * n * sizeof *out);
    if (logp == NULL || acc == NULL || out == NULL) {
        cli_error("out of memory");
        goto done;
    }
    if (bits > 0) {
        /* B-bit integers: x + u, u uniform on [0, 1)^D from stream i (purpose
         * BOUND), a density on unit bins whose -ln bounds the discrete one. */
        double top = ldexp(1.0, (int)bits) - 1.0;
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; j < D; j++) {
                double v = x[i * D + j];
                if (v != floor(v) || v < 0 || v > top) {
                    cli_error("%s: row %zu, column %zu: %.17g is not a %lld-bit integer "
                              "(0 .. %.0f)", data_path, i + 1, j + 1, v, bits, top);
                    goto done;
                }
            }
            double u[DEQUANT_CHUNK];
            for (size_t j = 0; j < D; j += DEQUANT_CHUNK) {
                size_t k = D - j < DEQUANT_CHUNK ? D - j : DEQUANT_CHUNK;
                scoresde_rng_uniform(seed, i, SCORESDE_RNG_OFFSET(SCORESDE_RNG_BOUND, j), k, u);
                for (size_t q = 0; q < k; q++)
                    x[i * D + j + q] += u[q];
            }
        }
    }
    double log_det = 0.0;
    int rc = SCORESDE_OK;
    if (scoresde_model_has_transform(cm.model) > 0) {
        rc = scoresde_model_from_data(cm.model, x, n);
        if (rc == SCORESDE_OK)
            rc = scoresde_model_transform_log_det(cm.model, &log_det);
        if (rc != SCORESDE_OK) {
            cli_lib_fail("the data transform", rc);
            goto done;
        }
    }
    rc = scoresde_sampler_create(&s, SCORESDE_SAMPLER_ODE);
    if (rc == SCORESDE_OK)
        rc = scoresde_sampler_set_double(s, SCORESDE_SAMPLER_RTOL, tol);
    if (rc == SCORESDE_OK)
        rc = scoresde_sampler_set_double(s, SCORESDE_SAMPLER_ATOL, tol);
    if (rc == SCORESDE_OK)
        rc = scoresde_sampler_set_int(s, SCORESDE_SAMPLER_THREADS, threads);
    if (rc == SCORESDE_OK)
        rc = scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BLOCK, 128);
    if (rc == SCORESDE_OK && probes > 0)
        rc = scoresde_sampler_set_int(s, SCORESDE_SAMPLER_DIVERGENCE,
                                      SCORESDE_SAMPLER_DIVERGENCE_RADEMACHER);
    if (rc != SCORESDE_OK) {
        cli_lib_fail("setting up the likelihood", rc);
        goto done;
    }
    scoresde_cond cd = {.struct_size = sizeof cd, .C = cm.C, .c = cond, .rows = n};
    scoresde_sampler_stats st = {.struct_size = sizeof st};
    uint64_t nfe = 0;
    double t0 = cli_now();
    /* Probe set k uses streams k n .. k n + n - 1, so the sets are independent. */
    long long sets = probes > 0 ? probes : 1;
    for (long long k = 0; k < sets; k++) {
        rc = scoresde_sampler_likelihood_cond(s, cm.model, x, n, D, cm.C > 0 ? &cd : NULL, seed,
                                              (uint64_t)k * n, logp, NULL, &st);
        if (rc != SCORESDE_OK) {
            cli_lib_fail("the likelihood", rc);
            goto done;
        }
        nfe += st.nfe;
        for (size_t i = 0; i < n; i++)
            acc[i] += logp[i] / (double)sets;
    }
    double *nll = logp, *bpd = acc;
    for (size_t i = 0; i < n; i++) {
        nll[i] = -acc[i] + log_det;
        bpd[i] = nll[i] / ((double)D * M_LN2);
    }
    double m_nll, se_nll, m_bpd, se_bpd;
    mean_se(nll, n, &m_nll, &se_nll);
    mean_se(bpd, n, &m_bpd, &se_bpd);
    printf("rows %zu\n", n);
    printf("nll %.6f +- %.6f nats per row%s\n", m_nll, se_nll,
           bits > 0 ? " (a bound on the discrete -ln P)" : "");
    printf("bpd %.6f +- %.6f bits per dimension\n", m_bpd, se_bpd);
    printf("nfe %llu%s\n", (unsigned long long)nfe,
           probes > 0 ? " (Hutchinson, Rademacher probes)" : " (exact divergence)");
    cli_note("scoresde nll: %.1f s", cli_now() - t0);
    status = CLI_OK;
    if (per_row != NULL) {
        for (size_t i = 0; i < n; i++) {
            out[2 * i] = nll[i];
            out[2 * i + 1] = bpd[i];
        }
        char nll_name[] = "nll", bpd_name[] = "bpd";
        char *names[2] = {nll_name, bpd_name};
        status = cli_table_write(per_row, &topts, out, n, 2, names);
    }
    fflush(stdout);
done:
    free(x);
    free(cond);
    free(logp);
    free(acc);
    free(out);
    sd_table_free(&t);
    scoresde_sampler_free(s);
    cli_model_free(&cm);
    return status;
}
