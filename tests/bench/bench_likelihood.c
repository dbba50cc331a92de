/*
 * The probability-flow likelihood's right-hand side against its GEMM bound,
 * the fused score + divergence (issue 14) against the old score then D
 * Jacobian-vector products (a program, never a test).
 *
 * Workload (issue 14's): scoresde_sampler_likelihood on 1000 points, RK4
 * with 50 steps (200 right-hand sides), exact divergence, an untrained MLP
 * D = 2 -> 3 x 256 SiLU (embed_dim 16, chunk_rows 1024), float64 or float32.
 * Paths: "fused" is the library's (the model's score_div slot: one stacked
 * pass of n (1 + D) rows per right-hand side); "old" is the same model with
 * the slot removed from a copy of its table, so the generic layer runs the
 * score (n rows) and then the divergence as D jvp passes (2n rows each: the
 * forward again beside the tangent). Threads: 1 (THREADS 1, one block of
 * 1000) and 2 (THREADS 2, two blocks of 500, the model on one thread in
 * each). Runs alternate old / fused; times are medians over the repeats.
 *
 * The GEMM bound: exactly the GEMMs one right-hand side runs on that path
 * (the engine's row blocks: 512-row blocks for the forward, 2 x 512 for a
 * jvp, 3 x 341 for the stacked pass; per block the 18 -> 256, 256 -> 256,
 * 256 -> 256 and 256 -> 2 products), replayed back to back on buffers of the
 * same shapes by as many threads as the run uses, each its own share of the
 * blocks. ratio = bound / actual time per right-hand side. The flops ratio
 * is fused / old GEMM flops per right-hand side (3 / 5 at D = 2).
 *
 * Usage: bench_likelihood [repeats (default 3)] [steps (default 50)]
 *                         [precision: 64 (default) or 32]
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <blis.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model_internal.h"
#include "scoresde.h"

enum { NPTS = 1000, DIM = 2, H = 256, E = 16, MAX_REP = 51 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void check(int rc, const char *what)
{
    if (rc != SCORESDE_OK) {
        fprintf(stderr, "%s: %s\n", what, scoresde_last_error());
        exit(1);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return t[n / 2];
}

static const size_t dims[5] = {DIM + E, H, H, H, DIM};

/* GEMM flops of one stacked block of m rows through the network. */
static double block_flops(size_t m)
{
    double f = 0.0;
    for (int l = 1; l <= 4; l++)
        f += 2.0 * (double)m * (double)dims[l] * (double)dims[l - 1];
    return f;
}

/* The row counts of the GEMM blocks one right-hand side runs on a block of
 * n samples: fused (n (1 + D) rows in blocks of at most 3 x 341) or old
 * (the forward's 512-row blocks, then D jvp passes in 2 x 512-row blocks). */
static size_t path_blocks(int fused, size_t n, size_t *rows)
{
    size_t c = 0;
    if (fused) {
        /* precond: sub-passes of 2 x 1024 / 3 = 682 rows; the engine's
         * blocks of 2 x 512 / 3 = 341 */
        for (size_t i1 = 0; i1 < n; i1 += 682) {
            size_t q = n - i1 < 682 ? n - i1 : 682;
            for (size_t r0 = 0; r0 < q; r0 += 341)
                rows[c++] = 3 * (q - r0 < 341 ? q - r0 : 341);
        }
        return c;
    }
    for (size_t r0 = 0; r0 < n; r0 += 512)
        rows[c++] = n - r0 < 512 ? n - r0 : 512;
    for (int k = 0; k < DIM; k++)
        for (size_t r0 = 0; r0 < n; r0 += 512)
            rows[c++] = 2 * (n - r0 < 512 ? n - r0 : 512);
    return c;
}

typedef struct replay {
    int f32;
    void *h[5], *w[4];
    rntm_t rntm;
} replay;

static void *fill(size_t cnt, int f32, unsigned seed)
{
    void *p = malloc(cnt * (f32 ? sizeof(float) : sizeof(double)));
    for (size_t i = 0; i < cnt; i++) {
        double v = 0.01 * (double)((i * 2654435761u + seed) % 2001) - 10.0;
        if (f32)
            ((float *)p)[i] = (float)v;
        else
            ((double *)p)[i] = v;
    }
    return p;
}

static void replay_init(replay *r, int f32)
{
    r->f32 = f32;
    for (int l = 0; l < 5; l++)
        r->h[l] = fill(3 * 512 * dims[l], f32, 11u + (unsigned)l);
    for (int l = 0; l < 4; l++)
        r->w[l] = fill(dims[l + 1] * dims[l], f32, 17u + (unsigned)l);
    bli_rntm_init(&r->rntm);
    bli_rntm_set_num_threads(1, &r->rntm);
}

static void replay_free(replay *r)
{
    for (int l = 0; l < 5; l++)
        free(r->h[l]);
    for (int l = 0; l < 4; l++)
        free(r->w[l]);
}

/* The engine's call: Z (m x w) = h (m x in) W^T. */
static void replay_block(replay *r, size_t m)
{
    for (int l = 1; l <= 4; l++) {
        dim_t in = (dim_t)dims[l - 1], w = (dim_t)dims[l];
        if (r->f32) {
            float one = 1, zero = 0;
            bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)m, w, in, &one, r->h[l - 1],
                         in, 1, r->w[l - 1], 1, in, &zero, r->h[l], w, 1, NULL, &r->rntm);
        } else {
            double one = 1, zero = 0;
            bli_dgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)m, w, in, &one, r->h[l - 1],
                         in, 1, r->w[l - 1], 1, in, &zero, r->h[l], w, 1, NULL, &r->rntm);
        }
    }
}

/* Seconds of the GEMMs of `rhs` right-hand sides on nth threads, each
 * replaying its own block of NPTS / nth samples. */
static double gemm_bound(int fused, int nth, int f32, long rhs, double *flops_per_rhs)
{
    size_t rows[64], nb = path_blocks(fused, NPTS / (size_t)nth, rows);
    double f = 0.0;
    for (size_t b = 0; b < nb; b++)
        f += block_flops(rows[b]);
    *flops_per_rhs = f * nth;
    replay rep[2];
    for (int k = 0; k < nth; k++)
        replay_init(&rep[k], f32);
    double t0 = now();
#pragma omp parallel for num_threads(nth) schedule(static, 1) if (nth > 1)
    for (int k = 0; k < nth; k++)
        for (long e = 0; e < rhs; e++)
            for (size_t b = 0; b < nb; b++)
                replay_block(&rep[k], rows[b]);
    double dt = now() - t0;
    for (int k = 0; k < nth; k++)
        replay_free(&rep[k]);
    return dt;
}

static double run(const scoresde_sampler *s, scoresde_model *m, const double *x, double *lp,
                  int fused)
{
    sd_model_ops plain = *m->ops;
    const sd_model_ops *saved = m->ops;
    plain.score_div = NULL;
    plain.score_div_ws = NULL;
    if (!fused)
        m->ops = &plain;
    scoresde_sampler_stats st = {.struct_size = sizeof st};
    double t0 = now();
    int rc = scoresde_sampler_likelihood(s, m, x, NPTS, DIM, 1, 0, lp, NULL, &st);
    double dt = now() - t0;
    m->ops = saved;
    check(rc, "likelihood");
    return dt;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 3;
    long steps = argc > 2 ? strtol(argv[2], NULL, 10) : 50;
    int f32 = argc > 3 && atoi(argv[3]) == 32;
    if (reps < 1 || reps > MAX_REP || steps < 1) {
        fprintf(stderr, "usage: bench_likelihood [repeats 1..%d] [steps >= 1] [64|32]\n", MAX_REP);
        return 2;
    }
    scoresde_sde *sde = NULL;
    check(scoresde_sde_create_vp(&sde, 0.1, 20.0), "sde");
    scoresde_mlp_options o;
    check(scoresde_model_mlp_options_init(&o, sizeof o), "options");
    o.precision = f32 ? SCORESDE_MLP_FLOAT32 : SCORESDE_MLP_FLOAT64;
    scoresde_model *m = NULL;
    check(scoresde_model_create_mlp(&m, sde, DIM, &o), "mlp");
    double *x = malloc(NPTS * DIM * sizeof(double)), *lp = malloc(NPTS * sizeof(double));
    double *lp_old = malloc(NPTS * sizeof(double));
    check(scoresde_rng_normal(3, 0, 0, NPTS * DIM, x), "data");
    long rhs = 4 * steps;
    printf("PF-ODE likelihood: %d points, RK4 %ld steps (%ld right-hand sides), exact "
           "divergence, MLP %d -> 3 x %d SiLU, float%d; medians of %d alternating runs\n",
           NPTS, steps, rhs, DIM, H, f32 ? 32 : 64, reps);
    for (int nth = 1; nth <= 2; nth++) {
        scoresde_sampler *s = NULL;
        check(scoresde_sampler_create(&s, SCORESDE_SAMPLER_ODE), "sampler");
        check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_SOLVER, SCORESDE_SAMPLER_SOLVER_RK4),
              "solver");
        check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, steps), "steps");
        check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_THREADS, nth), "threads");
        check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BLOCK, NPTS / nth), "block");
        double told[MAX_REP], tfused[MAX_REP], bold[MAX_REP], bfused[MAX_REP], fo = 0, ff = 0;
        run(s, m, x, lp, 1); /* warm the pools */
        for (int r = 0; r < reps; r++) {
            told[r] = run(s, m, x, lp_old, 0) / (double)rhs;
            tfused[r] = run(s, m, x, lp, 1) / (double)rhs;
            bold[r] = gemm_bound(0, nth, f32, rhs, &fo) / (double)rhs;
            bfused[r] = gemm_bound(1, nth, f32, rhs, &ff) / (double)rhs;
        }
        double maxd = 0.0;
        for (size_t i = 0; i < NPTS; i++) {
            double d = lp[i] - lp_old[i];
            maxd = d > maxd ? d : -d > maxd ? -d : maxd;
        }
        double to = median(told, reps), tf = median(tfused, reps);
        double bo = median(bold, reps), bf = median(bfused, reps);
        printf("  %d thread%s: old %8.3f ms/rhs (GEMM-bound %7.3f, ratio %4.2f)   fused %8.3f "
               "ms/rhs (GEMM-bound %7.3f, ratio %4.2f)   speed-up %4.2fx\n",
               nth, nth > 1 ? "s" : " ", 1e3 * to, 1e3 * bo, bo / to, 1e3 * tf, 1e3 * bf,
               bf / tf, to / tf);
        printf("             GEMM flops per rhs: old %.3g, fused %.3g (ratio %.3f); max |ln p "
               "fused - old| = %.3g\n",
               fo, ff, ff / fo, maxd);
        scoresde_sampler_free(s);
    }
    free(x);
    free(lp);
    free(lp_old);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    return 0;
}
