/*
 * Small SVG drawing helpers shared by the scoresde tool's `plot` and the demo
 * (examples/scoresde-demo.c): panels mapping a data box to a pixel box,
 * point clouds, histograms, text. Plain C and stdio, no library calls.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SCORESDE_SVG_H
#define SCORESDE_SVG_H

#include <stddef.h>
#include <stdio.h>

/* A panel: the data box [xlo, xhi] x [ylo, yhi] drawn in the pixel box of
 * width w and height h whose top-left corner is (x0, y0). */
typedef struct svg_view {
    double xlo, xhi, ylo, yhi;
    double x0, y0, w, h;
} svg_view;

double svg_px(const svg_view *v, double x);
double svg_py(const svg_view *v, double y);

/* The document's start (a white page of W x H pixels) and end. */
void svg_begin(FILE *f, double W, double H);
void svg_end(FILE *f);
/* A clip path `c<id>` of the panel's box (write before the panels). */
void svg_clip(FILE *f, int id, const svg_view *v);
/* A panel's frame, light axes through the origin (where it is inside), a
 * title and subtitle above it (either may be NULL), then an open group
 * clipped to clip path `id` (close it with svg_group_end). */
void svg_panel(FILE *f, const svg_view *v, const char *title, const char *subtitle, int id);
void svg_group_end(FILE *f);
/* Points (x[i*stride + jx], x[i*stride + jy]) as dots of radius r. */
void svg_points(FILE *f, const svg_view *v, const double *x, size_t n, size_t stride,
                size_t jx, size_t jy, const char *color, double r, double opacity);
/* A histogram of x[i*stride + j] over the view's x range in `bins` bins,
 * scaled so that the tallest bar of `peak` (a density) fills the panel:
 * bars are outlined in `color`. */
void svg_histogram(FILE *f, const svg_view *v, const double *x, size_t n, size_t stride,
                   size_t j, int bins, double peak, const char *color, double opacity);
/* The largest bin density of the same histogram (to share one scale). */
double svg_histogram_peak(const svg_view *v, const double *x, size_t n, size_t stride, size_t j,
                          int bins);
/* Text with XML's special characters escaped. */
void svg_text(FILE *f, double x, double y, double size, const char *anchor, const char *color,
              const char *text);

#endif /* SCORESDE_SVG_H */
