/*
 * Accuracy per NFE of the deterministic samplers (a program, never a test).
 * Data: a narrow 2-D Gaussian mixture (four components, variances 0.05 to
 * 0.2) with its exact score under the default VP SDE. Every sampler starts
 * from the same prior draws x_T and integrates the probability-flow ODE to
 * eps = 1e-3 (no final denoising, so all end at the same time); the table
 * gives the RMS distance sqrt(mean_i ||x_i - ref_i||^2) of the endpoints from
 * a Dormand-Prince reference at RTOL = ATOL = 1e-11, against the score
 * evaluations per sample (NFE), with the median and the largest distance
 * beside it: on
 * narrow mixtures a few trajectories pass near the boundary between modes,
 * where the flow separates, and dominate the RMS.
 *
 * Adaptive rows give the largest NFE of any sample (the stats) and the mean.
 * Measured (1000 samples): without UniC, the best fixed-step setting at
 * <= 30 NFE is DPM-Solver++ 3M on the log-SNR grid, RMS 2.06e-2, median
 * 4.0e-3, max 0.59: one sample (958) near a mode boundary carries most of
 * the RMS, and refining the grid only where t is in [0.31, 0.72] cuts its
 * error to 0.21. Tried through scoresde_sampler_set_grid, none below 1e-2 at
 * 30 NFE: Karras rho 1..12 (best 2.2e-2 at rho 12), blends of the log-SNR and
 * uniform-t grids (2.0e-2), t = eps + (T - eps)(1 - k/N)^p (1.6e-2 at
 * p = 2). Below 1e-2 takes Dormand-Prince at 1e-3 (RMS 6.9e-3, mean NFE 42,
 * max 74) or 3M with 100 steps (7.6e-4).
 * With the UniC corrector (UNIPC = 1, "UniPC" rows, same NFE), 3M on that
 * power grid with p = 2 (the "power p=2" rows) reaches the aim: RMS 4.9e-3
 * at 25 NFE and 2.2e-3 at 30 (median 1.2e-3, max 3.4e-2; 3M alone 1.6e-2
 * there, median 2.6e-3, max 0.50), 1.5e-2 at 20. On the log-SNR grid UniC
 * helps less at <= 30 NFE (RMS 1.66e-2 at 30, median 1.45e-3, max 0.49: the
 * same sample dominates) and much at 50 (1.6e-3 against 1.5e-2) and 100
 * (1.2e-4 against 7.6e-4). Other grids with UniPC 3M at 30 NFE: Karras rho 7
 * 1.9e-2, rho 12 1.7e-2, blend 0.9 log-SNR + 0.1 uniform t 1.6e-2, power
 * p = 1.75 5.5e-3, 2.25 1.9e-3, 2.5 2.1e-3, 2.75 2.5e-3. UniC on 2M gains
 * less (power p = 2 at 30 NFE: 1.8e-2 against 2.3e-2) and on DPM-Solver++ 1
 * (log-SNR, 30 NFE: 5.1e-2 against 1.2e-1).
 *
 * Usage: bench_sampler [samples (default 1000)]
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "scoresde.h"

static const double w[4] = {0.2, 0.3, 0.25, 0.25};
static const double mu[8] = {-1.5, -1.0, 1.5, 1.0, -1.0, 1.5, 1.0, -1.5};
static const double var[8] = {0.05, 0.1, 0.2, 0.05, 0.1, 0.2, 0.15, 0.08};

static int check(int rc, const char *what)
{
    if (rc != SCORESDE_OK) {
        fprintf(stderr, "%s: %s\n", what, scoresde_last_error());
        exit(1);
    }
    return rc;
}

static double rms(const double *x, const double *ref, size_t n)
{
    double s = 0.0;
    for (size_t e = 0; e < 2 * n; e++)
        s += (x[e] - ref[e]) * (x[e] - ref[e]);
    return sqrt(s / (double)n);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median and the largest of the per-sample distances (work: n doubles). */
static void dist_stats(const double *x, const double *ref, size_t n, double *work, double *median,
                       double *max)
{
    for (size_t i = 0; i < n; i++)
        work[i] = hypot(x[2 * i] - ref[2 * i], x[2 * i + 1] - ref[2 * i + 1]);
    qsort(work, n, sizeof *work, cmp_double);
    *median = work[n / 2];
    *max = work[n - 1];
}

typedef struct setting {
    const char *name, *grid_name;
    int method, solver, grid, order, unipc;
} setting;

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 1000;
    if (n == 0)
        n = 1000;
    scoresde_sde *sde = NULL;
    scoresde_model *m = NULL;
    check(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP), "sde");
    check(scoresde_model_create_gmm(&m, sde, 4, 2, w, mu, var), "model");
    double *xT = malloc(2 * n * sizeof *xT), *ref = malloc(2 * n * sizeof *ref);
    double *x = malloc(2 * n * sizeof *x), *work = malloc(n * sizeof *work);
    if (xT == NULL || ref == NULL || x == NULL || work == NULL)
        return 1;
    check(scoresde_sde_prior_sample(sde, n, 2, 2024, 0, 0, xT), "prior");
    scoresde_sampler *s = NULL;
    scoresde_sampler_stats st = {.struct_size = sizeof st};
    check(scoresde_sampler_create(&s, SCORESDE_SAMPLER_ODE), "sampler");
    check(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_RTOL, 1e-11), "rtol");
    check(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_ATOL, 1e-11), "atol");
    check(scoresde_sampler_sample(s, m, xT, n, 2, 0, 0, ref, &st), "reference");
    printf("VP, 4-component 2-D mixture (variances 0.05-0.2), %zu samples, T = 1 -> eps = 1e-3\n",
           n);
    printf("reference: Dormand-Prince 5(4), tol 1e-11, NFE %llu\n\n",
           (unsigned long long)st.nfe);
    scoresde_sampler_free(s);

    static const setting fixed[] = {
        {"ODE Euler", "uniform t", SCORESDE_SAMPLER_ODE, SCORESDE_SAMPLER_SOLVER_EULER, 1, 0, 0},
        {"ODE Heun", "uniform t", SCORESDE_SAMPLER_ODE, SCORESDE_SAMPLER_SOLVER_HEUN, 1, 0, 0},
        {"ODE Heun", "log-SNR", SCORESDE_SAMPLER_ODE, SCORESDE_SAMPLER_SOLVER_HEUN, 3, 0, 0},
        {"ODE RK4", "uniform t", SCORESDE_SAMPLER_ODE, SCORESDE_SAMPLER_SOLVER_RK4, 1, 0, 0},
        {"ODE RK4", "log-SNR", SCORESDE_SAMPLER_ODE, SCORESDE_SAMPLER_SOLVER_RK4, 3, 0, 0},
        {"EDM Heun", "Karras rho 7", SCORESDE_SAMPLER_EDM, 0, 2, 0, 0},
        {"EDM Heun", "log-SNR", SCORESDE_SAMPLER_EDM, 0, 3, 0, 0},
        {"DPM-Solver++ 1", "log-SNR", SCORESDE_SAMPLER_DPMPP, 0, 3, 1, 0},
        {"DPM-Solver++ 2M", "log-SNR", SCORESDE_SAMPLER_DPMPP, 0, 3, 2, 0},
        {"DPM-Solver++ 2M", "Karras rho 7", SCORESDE_SAMPLER_DPMPP, 0, 2, 2, 0},
        {"DPM-Solver++ 3M", "log-SNR", SCORESDE_SAMPLER_DPMPP, 0, 3, 3, 0},
        {"DPM-Solver++ 3M", "Karras rho 7", SCORESDE_SAMPLER_DPMPP, 0, 2, 3, 0},
        {"DPM-Solver++ 3M", "uniform t", SCORESDE_SAMPLER_DPMPP, 0, 1, 3, 0},
        {"UniPC 1 (bh2)", "log-SNR", SCORESDE_SAMPLER_DPMPP, 0, 3, 1, 1},
        {"UniPC 2M", "log-SNR", SCORESDE_SAMPLER_DPMPP, 0, 3, 2, 1},
        {"UniPC 2M", "Karras rho 7", SCORESDE_SAMPLER_DPMPP, 0, 2, 2, 1},
        {"UniPC 3M", "log-SNR", SCORESDE_SAMPLER_DPMPP, 0, 3, 3, 1},
        {"UniPC 3M", "Karras rho 7", SCORESDE_SAMPLER_DPMPP, 0, 2, 3, 1},
        {"UniPC 3M", "uniform t", SCORESDE_SAMPLER_DPMPP, 0, 1, 3, 1},
        /* grid 0: t_k = eps + (T - eps)(1 - k/N)^2 through set_grid */
        {"DPM-Solver++ 2M", "power p=2", SCORESDE_SAMPLER_DPMPP, 0, 0, 2, 0},
        {"DPM-Solver++ 3M", "power p=2", SCORESDE_SAMPLER_DPMPP, 0, 0, 3, 0},
        {"UniPC 2M", "power p=2", SCORESDE_SAMPLER_DPMPP, 0, 0, 2, 1},
        {"UniPC 3M", "power p=2", SCORESDE_SAMPLER_DPMPP, 0, 0, 3, 1},
    };
    static const int budgets[] = {10, 15, 20, 25, 30, 50, 100};
    printf("%-18s %-13s %4s  %9s  %9s  %9s\n", "method", "grid", "NFE", "RMS", "median", "max");
    for (size_t q = 0; q < sizeof fixed / sizeof fixed[0]; q++) {
        const setting *c = &fixed[q];
        for (size_t b = 0; b < sizeof budgets / sizeof budgets[0]; b++) {
            /* the most steps whose NFE fits the budget */
            int per = c->method == SCORESDE_SAMPLER_EDM ? 2
                      : c->method == SCORESDE_SAMPLER_ODE
                          ? (c->solver == SCORESDE_SAMPLER_SOLVER_EULER  ? 1
                             : c->solver == SCORESDE_SAMPLER_SOLVER_HEUN ? 2
                                                                         : 4)
                          : 1;
            int extra = c->method == SCORESDE_SAMPLER_DPMPP && c->order == 3 ? 1 : 0;
            int64_t steps = (budgets[b] - extra) / per;
            if (steps < 1)
                continue;
            check(scoresde_sampler_create(&s, c->method), "sampler");
            check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, steps), "steps");
            if (c->grid > 0) {
                check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_GRID, c->grid), "grid");
            } else {
                /* T and eps from the uniform grid, then the power grid */
                double *t = malloc((size_t)(steps + 1) * sizeof *t);
                if (t == NULL)
                    return 1;
                check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_GRID, 1), "grid");
                check(scoresde_sampler_times(s, sde, t, (size_t)steps + 1), "times");
                double T = t[0], eps = t[steps];
                for (int64_t k = 1; k < steps; k++) {
                    double u = 1.0 - (double)k / (double)steps;
                    t[k] = eps + (T - eps) * u * u;
                }
                check(scoresde_sampler_set_grid(s, t, (size_t)steps + 1), "set_grid");
                free(t);
            }
            check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_DENOISE, 0), "denoise");
            if (c->method == SCORESDE_SAMPLER_ODE)
                check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_SOLVER, c->solver), "solver");
            if (c->method == SCORESDE_SAMPLER_DPMPP) {
                check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_ORDER, c->order), "order");
                check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_UNIPC, c->unipc), "unipc");
            }
            check(scoresde_sampler_sample(s, m, xT, n, 2, 0, 0, x, &st), c->name);
            double med, max;
            dist_stats(x, ref, n, work, &med, &max);
            printf("%-18s %-13s %4llu  %9.2e  %9.2e  %9.2e\n", c->name, c->grid_name,
                   (unsigned long long)st.nfe, rms(x, ref, n), med, max);
            scoresde_sampler_free(s);
        }
    }
    printf("\n%-18s %-13s %4s  %9s  %9s  %9s  %s\n", "method", "tolerance", "NFE", "RMS",
           "median", "max", "(NFE: max over samples; mean)");
    for (double tol = 1e-2; tol > 1e-9; tol /= 10) {
        check(scoresde_sampler_create(&s, SCORESDE_SAMPLER_ODE), "sampler");
        check(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_RTOL, tol), "rtol");
        check(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_ATOL, tol), "atol");
        check(scoresde_sampler_sample(s, m, xT, n, 2, 0, 0, x, &st), "dopri");
        double med, max;
        dist_stats(x, ref, n, work, &med, &max);
        /* Dormand-Prince: 6 new evaluations per attempted step (FSAL), plus
         * the first evaluation and Hairer's starting-step evaluation */
        double mean = 6.0 * (double)(st.accepted + st.rejected) / (double)n + 2.0;
        printf("%-18s %-13.0e %4llu  %9.2e  %9.2e  %9.2e  mean %.0f\n", "Dormand-Prince 5(4)",
               tol, (unsigned long long)st.nfe, rms(x, ref, n), med, max, mean);
        scoresde_sampler_free(s);
    }
    /* adaptive DPM-Solver++ 2/3: 3 evaluations per attempted step */
    for (double tol = 1e-2; tol > 1e-7; tol /= 10) {
        check(scoresde_sampler_create(&s, SCORESDE_SAMPLER_DPMPP), "sampler");
        check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_ADAPTIVE, 1), "adaptive");
        check(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_RTOL, tol), "rtol");
        check(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_ATOL, tol), "atol");
        check(scoresde_sampler_sample(s, m, xT, n, 2, 0, 0, x, &st), "adaptive dpm");
        double med, max;
        dist_stats(x, ref, n, work, &med, &max);
        double mean = 3.0 * (double)(st.accepted + st.rejected) / (double)n;
        printf("%-18s %-13.0e %4llu  %9.2e  %9.2e  %9.2e  mean %.0f\n", "adaptive DPM++ 2/3",
               tol, (unsigned long long)st.nfe, rms(x, ref, n), med, max, mean);
        scoresde_sampler_free(s);
    }
    free(xT);
    free(ref);
    free(x);
    free(work);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    return 0;
}
