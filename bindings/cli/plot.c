/*
 * scoresde plot: data against samples as an SVG, in the demo's style (the
 * drawing primitives are svg.c's, shared with examples/scoresde-demo.c).
 * Two columns: a scatter panel per set; up to eight: a pair-plot matrix with
 * the data below the diagonal, the samples above it, and both sets'
 * marginal histograms on it.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "svg.h"

enum { MAX_PLOT_COLUMNS = 8, BINS = 30, OPT_COLUMNS = 1, OPT_TITLE, OPT_MAX_POINTS, OPT_HELP };

static const char data_color[] = "#3b5b92", sample_color[] = "#d9622b";

/* Every k-th row so that at most max rows remain. */
static double *thin(const double *x, size_t n, size_t D, size_t max, size_t *out_n)
{
    size_t step = n > max ? (n + max - 1) / max : 1, m = (n + step - 1) / step;
    double *y = malloc((m > 0 ? m : 1) * D * sizeof *y);
    for (size_t i = 0; y != NULL && i < m; i++)
        memcpy(y + i * D, x + i * step * D, D * sizeof *y);
    *out_n = m;
    return y;
}

static int write_plot(const char *path, const char *title, char *const *names, size_t D,
                      const double *a, size_t na, size_t all_a, const double *b, size_t nb,
                      size_t all_b)
{
    double lo[MAX_PLOT_COLUMNS], hi[MAX_PLOT_COLUMNS];
    for (size_t j = 0; j < D; j++) {
        lo[j] = INFINITY;
        hi[j] = -INFINITY;
        for (size_t i = 0; i < na; i++) {
            lo[j] = a[i * D + j] < lo[j] ? a[i * D + j] : lo[j];
            hi[j] = a[i * D + j] > hi[j] ? a[i * D + j] : hi[j];
        }
        double pad = hi[j] > lo[j] ? 0.06 * (hi[j] - lo[j]) : 0.5;
        lo[j] -= pad;
        hi[j] += pad;
    }
    cli_output out;
    if (cli_output_open(&out, path) != 0)
        return CLI_FAIL;
    FILE *f = out.f;
    const double left = 16, top = 78, gap = 26;
    char sub[2][160];
    if (na < all_a)
        snprintf(sub[0], sizeof sub[0], "%zu of %zu data rows", na, all_a);
    else
        snprintf(sub[0], sizeof sub[0], "%zu data rows", na);
    if (nb < all_b)
        snprintf(sub[1], sizeof sub[1], "%zu of %zu samples", nb, all_b);
    else
        snprintf(sub[1], sizeof sub[1], "%zu samples", nb);
    if (D == 2) {
        const double size = 360;
        int panels = b != NULL ? 2 : 1;
        svg_view v[2];
        for (int k = 0; k < panels; k++)
            v[k] = (svg_view){lo[0], hi[0], lo[1], hi[1], left + k * (size + gap), top, size, size};
        svg_begin(f, left * 2 + panels * size + (panels - 1) * gap, top + size + 44);
        for (int k = 0; k < panels; k++)
            svg_clip(f, k, &v[k]);
        svg_text(f, left, 24, 19, "start", "#111", title);
        const char *const head[2] = {"Data", "Samples"};
        const double *sets[2] = {a, b};
        const size_t ns[2] = {na, nb};
        const char *const colors[2] = {data_color, sample_color};
        for (int k = 0; k < panels; k++) {
            svg_panel(f, &v[k], head[k], sub[k], k);
            svg_points(f, &v[k], sets[k], ns[k], 2, 0, 1, colors[k], 1.6, 0.45);
            svg_group_end(f);
        }
        char axes[512];
        snprintf(axes, sizeof axes, "horizontal: %s [%.3g, %.3g]; vertical: %s [%.3g, %.3g]",
                 names[0], lo[0], hi[0], names[1], lo[1], hi[1]);
        svg_text(f, left, top + size + 28, 12.5, "start", "#555", axes);
    } else {
        const double cell = D <= 3 ? 200 : D <= 5 ? 150 : 110, cg = 8;
        double W = left * 2 + 40 + D * cell + (D - 1) * cg, H = top + 40 + D * cell + (D - 1) * cg;
        svg_begin(f, W, H);
        svg_view v[MAX_PLOT_COLUMNS][MAX_PLOT_COLUMNS];
        for (size_t r = 0; r < D; r++)
            for (size_t c = 0; c < D; c++) {
                v[r][c] = (svg_view){lo[c], hi[c], lo[r], hi[r], left + 40 + c * (cell + cg),
                                     top + r * (cell + cg), cell, cell};
                svg_clip(f, (int)(r * D + c), &v[r][c]);
            }
        svg_text(f, left, 24, 19, "start", "#111", title);
        char legend[400];
        snprintf(legend, sizeof legend, "below the diagonal: data (%s); above: %s", sub[0],
                 b != NULL ? sub[1] : "data");
        svg_text(f, left, 48, 12.5, "start", "#555", legend);
        for (size_t r = 0; r < D; r++)
            for (size_t c = 0; c < D; c++) {
                const svg_view *p = &v[r][c];
                svg_panel(f, p, r == 0 ? names[c] : NULL, NULL, (int)(r * D + c));
                if (r == c) {
                    double pa = svg_histogram_peak(p, a, na, D, c, BINS);
                    double pb = b != NULL ? svg_histogram_peak(p, b, nb, D, c, BINS) : 0;
                    double peak = pa > pb ? pa : pb;
                    svg_histogram(f, p, a, na, D, c, BINS, peak, data_color, 0.25);
                    if (b != NULL)
                        svg_histogram(f, p, b, nb, D, c, BINS, peak, sample_color, 0.25);
                } else if (r > c || b == NULL) {
                    svg_points(f, p, a, na, D, c, r, data_color, 1.2, 0.4);
                } else {
                    svg_points(f, p, b, nb, D, c, r, sample_color, 1.2, 0.4);
                }
                svg_group_end(f);
            }
        for (size_t r = 0; r < D; r++) {
            fprintf(f, "<g transform='translate(%.1f %.1f) rotate(-90)'>\n", left + 28,
                    top + r * (cell + cg) + cell / 2);
            svg_text(f, 0, 0, 13, "middle", "#222", names[r]);
            fprintf(f, "</g>\n");
        }
    }
    svg_end(f);
    return cli_output_commit(&out) == 0 ? CLI_OK : CLI_FAIL;
}

int cli_plot(int argc, char **argv)
{
    static const struct option longs[] = {
        {"output", required_argument, NULL, 'o'},
        {"columns", required_argument, NULL, OPT_COLUMNS},
        {"title", required_argument, NULL, OPT_TITLE},
        {"max-points", required_argument, NULL, OPT_MAX_POINTS},
        {"help", no_argument, NULL, OPT_HELP},
        CLI_TABLE_LONG_OPTIONS,
        {NULL, 0, NULL, 0}};
    const char *output = NULL, *columns = NULL, *title = NULL;
    long long max_points = 5000;
    cli_table_opts topts = {.header = -1};
    int c;
    while ((c = cli_next_option(argc, argv, ":o:", longs, &topts)) != -1) {
        switch (c) {
        case CLI_OPT_ERROR: return CLI_USAGE;
        case 'o': output = optarg; break;
        case OPT_COLUMNS: columns = optarg; break;
        case OPT_TITLE: title = optarg; break;
        case OPT_MAX_POINTS:
            if (cli_parse_int("max-points", optarg, 10, 10000000, &max_points) != 0)
                return CLI_USAGE;
            break;
        case OPT_HELP: cli_help(stdout, "plot"); exit(0);
        }
    }
    int inputs = argc - optind;
    if (inputs < 1 || inputs > 2)
        return cli_usage("needs DATA and, optionally, SAMPLES");
    if (output == NULL)
        return cli_usage("no output given (-o FIG.svg)");
    const char *data_path = argv[optind], *samples_path = inputs == 2 ? argv[optind + 1] : NULL;
    sd_table t = {0}, u = {0};
    size_t *idx = NULL, *uidx = NULL, D = 0, uD = 0;
    double *a = NULL, *b = NULL, *ta = NULL, *tb = NULL;
    char **names = NULL;
    int status = cli_table_read(data_path, &topts, &t);
    if (status != CLI_OK)
        goto done;
    status = CLI_FAIL;
    if (columns != NULL) {
        if (cli_table_columns(&t, data_path, columns, &idx, &D) != CLI_OK)
            goto done;
    } else {
        D = t.cols < MAX_PLOT_COLUMNS ? t.cols : MAX_PLOT_COLUMNS;
        if (t.cols > MAX_PLOT_COLUMNS)
            cli_note("scoresde plot: %s has %zu columns; drawing the first %d (choose others "
                     "with --columns)", data_path, t.cols, MAX_PLOT_COLUMNS);
        idx = malloc(D * sizeof *idx);
        for (size_t j = 0; idx != NULL && j < D; j++)
            idx[j] = j;
    }
    if (idx == NULL)
        goto done;
    if (D < 1 || D > MAX_PLOT_COLUMNS) {
        status = cli_usage("%zu columns chosen; plot draws 1 to %d", D, MAX_PLOT_COLUMNS);
        goto done;
    }
    names = calloc(D, sizeof *names);
    for (size_t j = 0; names != NULL && j < D; j++) {
        char def[32];
        snprintf(def, sizeof def, "column %zu", idx[j] + 1);
        names[j] = strdup(cli_table_unnamed(&t, idx[j]) ? def : t.names[idx[j]]);
    }
    a = cli_table_gather(&t, idx, D);
    if (names == NULL || a == NULL)
        goto done;
    if (samples_path != NULL) {
        if (cli_table_read(samples_path, &topts, &u) != CLI_OK)
            goto done;
        /* The samples' columns: by the data's names where the samples have them, else
         * the same positions. */
        uidx = malloc(D * sizeof *uidx);
        if (uidx == NULL)
            goto done;
        for (size_t j = 0; j < D; j++) {
            uidx[j] = idx[j];
            for (size_t k = 0; u.names != NULL && t.names != NULL && k < u.cols; k++)
                if (u.names[k] != NULL && t.names[idx[j]] != NULL &&
                    strcmp(u.names[k], t.names[idx[j]]) == 0)
                    uidx[j] = k;
            if (uidx[j] >= u.cols) {
                cli_error("%s has %zu columns; the data's column '%s' is not among them",
                          samples_path, u.cols, names[j]);
                goto done;
            }
        }
        uD = D;
        b = cli_table_gather(&u, uidx, uD);
        if (b == NULL)
            goto done;
    }
    size_t na, nb = 0;
    ta = thin(a, t.rows, D, (size_t)max_points, &na);
    if (b != NULL)
        tb = thin(b, u.rows, D, (size_t)max_points, &nb);
    if (ta == NULL || (b != NULL && tb == NULL))
        goto done;
    char head[600];
    snprintf(head, sizeof head, "%s%s%s", title != NULL ? title : data_path,
             title == NULL && samples_path != NULL ? " against " : "",
             title == NULL && samples_path != NULL ? samples_path : "");
    status = write_plot(output, head, names, D, ta, na, t.rows, tb, nb, u.rows);
    if (status == CLI_OK)
        cli_note("scoresde plot: wrote %s", output);
done:
    if (status == CLI_FAIL && a == NULL && names != NULL)
        cli_error("out of memory");
    if (names != NULL)
        for (size_t j = 0; j < D; j++)
            free(names[j]);
    free(names);
    free(idx);
    free(uidx);
    free(a);
    free(b);
    free(ta);
    free(tb);
    sd_table_free(&t);
    sd_table_free(&u);
    return status;
}
