/*
 * SVG drawing helpers (see svg.h).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "svg.h"

#include <math.h>
#include <stdlib.h>

double svg_px(const svg_view *v, double x)
{
    return v->x0 + (x - v->xlo) / (v->xhi - v->xlo) * v->w;
}

double svg_py(const svg_view *v, double y)
{
    return v->y0 + (v->yhi - y) / (v->yhi - v->ylo) * v->h;
}

void svg_begin(FILE *f, double W, double H)
{
    fprintf(f,
            "<svg xmlns='http://www.w3.org/2000/svg' width='%.0f' height='%.0f' "
            "viewBox='0 0 %.0f %.0f' font-family='Helvetica, Arial, sans-serif'>\n",
            W, H, W, H);
    fprintf(f, "<rect width='100%%' height='100%%' fill='white'/>\n");
}

void svg_end(FILE *f)
{
    fprintf(f, "</svg>\n");
}

void svg_clip(FILE *f, int id, const svg_view *v)
{
    fprintf(f,
            "<clipPath id='c%d'><rect x='%.1f' y='%.1f' width='%.1f' height='%.1f'/>"
            "</clipPath>\n",
            id, v->x0, v->y0, v->w, v->h);
}

void svg_text(FILE *f, double x, double y, double size, const char *anchor, const char *color,
              const char *text)
{
    fprintf(f, "<text x='%.1f' y='%.1f' font-size='%.1f' text-anchor='%s' fill='%s'>", x, y, size,
            anchor, color);
    for (const char *p = text; *p; p++) {
        switch (*p) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '\'': fputs("&apos;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            if ((unsigned char)*p >= 0x20 || *p == '\t')
                fputc(*p, f);
        }
    }
    fprintf(f, "</text>\n");
}

void svg_panel(FILE *f, const svg_view *v, const char *title, const char *subtitle, int id)
{
    fprintf(f,
            "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='#fbfbfd' "
            "stroke='#c8c8d0'/>\n",
            v->x0, v->y0, v->w, v->h);
    if (v->ylo < 0 && v->yhi > 0)
        fprintf(f, "<path d='M%.1f %.1fH%.1f' stroke='#e4e4ea' stroke-width='1'/>\n", v->x0,
                svg_py(v, 0), v->x0 + v->w);
    if (v->xlo < 0 && v->xhi > 0)
        fprintf(f, "<path d='M%.1f %.1fV%.1f' stroke='#e4e4ea' stroke-width='1'/>\n",
                svg_px(v, 0), v->y0, v->y0 + v->h);
    if (title != NULL)
        svg_text(f, v->x0 + v->w / 2, v->y0 - (subtitle != NULL ? 26 : 8), 17, "middle", "#222",
                 title);
    if (subtitle != NULL)
        svg_text(f, v->x0 + v->w / 2, v->y0 - 9, 12.5, "middle", "#666", subtitle);
    fprintf(f, "<g clip-path='url(#c%d)'>\n", id);
}

void svg_group_end(FILE *f)
{
    fprintf(f, "</g>\n");
}

void svg_points(FILE *f, const svg_view *v, const double *x, size_t n, size_t stride,
                size_t jx, size_t jy, const char *color, double r, double opacity)
{
    fprintf(f, "<g fill='%s' fill-opacity='%.2f'>\n", color, opacity);
    for (size_t i = 0; i < n; i++) {
        double a = svg_px(v, x[i * stride + jx]), b = svg_py(v, x[i * stride + jy]);
        if (!(a >= v->x0 - 5 && a <= v->x0 + v->w + 5 && b >= v->y0 - 5 && b <= v->y0 + v->h + 5))
            continue;
        fprintf(f, "<circle cx='%.1f' cy='%.1f' r='%.1f'/>\n", a, b, r);
    }
    fprintf(f, "</g>\n");
}

/* Bin counts of column j over [xlo, xhi]; counts has `bins` entries. */
static void bin(const svg_view *v, const double *x, size_t n, size_t stride, size_t j, int bins,
                double *counts)
{
    for (int b = 0; b < bins; b++)
        counts[b] = 0;
    for (size_t i = 0; i < n; i++) {
        double u = (x[i * stride + j] - v->xlo) / (v->xhi - v->xlo);
        if (u >= 0 && u < 1)
            counts[(int)(u * bins)] += 1;
    }
}

double svg_histogram_peak(const svg_view *v, const double *x, size_t n, size_t stride, size_t j,
                          int bins)
{
    double *c = malloc((size_t)bins * sizeof *c), peak = 0;
    if (c == NULL || n == 0) {
        free(c);
        return 0;
    }
    bin(v, x, n, stride, j, bins, c);
    for (int b = 0; b < bins; b++)
        peak = c[b] / (double)n > peak ? c[b] / (double)n : peak;
    free(c);
    return peak;
}

void svg_histogram(FILE *f, const svg_view *v, const double *x, size_t n, size_t stride,
                   size_t j, int bins, double peak, const char *color, double opacity)
{
    double *c = malloc((size_t)bins * sizeof *c);
    if (c == NULL || n == 0 || !(peak > 0)) {
        free(c);
        return;
    }
    bin(v, x, n, stride, j, bins, c);
    double bw = v->w / bins;
    fprintf(f, "<path fill='%s' fill-opacity='%.2f' stroke='%s' stroke-width='1' d='", color,
            opacity, color);
    for (int b = 0; b < bins; b++) {
        double hgt = c[b] / (double)n / peak * v->h * 0.92;
        if (hgt > 0)
            fprintf(f, "M%.1f %.1fh%.1fv%.1fh%.1fz", v->x0 + b * bw, v->y0 + v->h, bw, -hgt, -bw);
    }
    fprintf(f, "'/>\n");
    free(c);
}
