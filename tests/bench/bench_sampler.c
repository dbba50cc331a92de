/*
 * Accuracy per NFE of the deterministic samplers (a program, never a test).
 * For each of three Gaussian mixtures with their exact scores under the
 * default VP SDE, every sampler starts from the same prior draws x_T and
 * integrates the probability-flow ODE to eps = 1e-3 (FINAL_STEP = STOP, so
 * all end at the same time); the table gives the RMS distance
 * sqrt(mean_i ||x_i - ref_i||^2) of the endpoints from a Dormand-Prince
 * reference at RTOL = ATOL = 1e-11 (it moves by 4e-11 RMS at 1e-12, and
 * agrees with RK4 on 4000 power-grid steps to 4e-11), for every method and
 * grid at NFE
 * 5, 10, 15, 20, 25, 30 and 50 (the most steps whose NFE fits; "-" where
 * none does), and marks with "!" an entry larger than the one before it
 * (a method getting worse as steps are added). That distance is per
 * sample, over its D coordinates, and the targets are checked with
 * it; below each table the best at each budget is given both per sample and
 * per coordinate, sqrt(mean over the n D entries of (x - ref)^2) = the per
 * sample figure / sqrt(D), which does not grow with D, with the
 * configuration that reached it, and the configurations the guide recommends
 * are given at every NFE from 5 to 50. The stochastic methods (DDIM with ETA > 0, DPMPP_SDE, RESTART)
 * have no such endpoint and are not listed. The figures are in
 * docs/guide/16-choosing-a-sampler.md.
 *
 * Usage: bench_sampler [samples (default 400)] [STEP_RATIO_MAX (default: the
 * library's)]
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "scoresde.h"

typedef struct mixture {
    const char *name;
    size_t K, D;
    const double *w, *mu, *var;
} mixture;

/* A: narrow, four components in 2-D (variances 0.05 to 0.2). */
static const double a_w[4] = {0.2, 0.3, 0.25, 0.25};
static const double a_mu[8] = {-1.5, -1.0, 1.5, 1.0, -1.0, 1.5, 1.0, -1.5};
static const double a_var[8] = {0.05, 0.1, 0.2, 0.05, 0.1, 0.2, 0.15, 0.08};
/* B: two unequal components in 2-D, one wide and one narrow. */
static const double b_w[2] = {0.8, 0.2};
static const double b_mu[4] = {-0.5, 0.0, 2.0, 1.0};
static const double b_var[4] = {0.6, 0.4, 0.02, 0.03};
/* C: three components in 8-D (filled in main). */
static double c_w[3] = {0.5, 0.3, 0.2}, c_mu[24], c_var[24];

static const mixture mixtures[] = {
    {"A: 4 narrow components, D = 2", 4, 2, a_w, a_mu, a_var},
    {"B: 2 components (wide 0.8, narrow 0.2), D = 2", 2, 2, b_w, b_mu, b_var},
    {"C: 3 components, D = 8", 3, 8, c_w, c_mu, c_var},
};

static void check(int rc, const char *what)
{
    if (rc != SCORESDE_OK) {
        fprintf(stderr, "%s: %s\n", what, scoresde_last_error());
        exit(1);
    }
}

/* The two RMS distances of the endpoints x from ref (n x D): per sample,
 * sqrt(mean_i ||x_i - ref_i||^2), and per coordinate, sqrt(mean over the
 * n D entries), 1/sqrt(D) of the first. */
static void rms(const double *x, const double *ref, size_t n, size_t D, double *per_sample,
                double *per_coord)
{
    double s = 0.0;
    for (size_t e = 0; e < n * D; e++)
        s += (x[e] - ref[e]) * (x[e] - ref[e]);
    *per_sample = sqrt(s / (double)n);
    *per_coord = sqrt(s / (double)(n * D));
}

typedef struct row {
    const char *name;
    int method, solver, order, unipc;
    int per, extra; /* NFE per step, and once (3M's 2S start) */
} row;

#define M(x) SCORESDE_SAMPLER_##x
static const row rows[] = {
    {"ODE Euler", M(ODE), M(SOLVER_EULER), 0, 0, 1, 0},
    {"ODE Heun", M(ODE), M(SOLVER_HEUN), 0, 0, 2, 0},
    {"ODE RK4", M(ODE), M(SOLVER_RK4), 0, 0, 4, 0},
    {"EDM Heun", M(EDM), 0, 0, 0, 2, 0},
    {"DPM-Solver++ 1", M(DPMPP), 0, 1, 0, 1, 0},
    {"DPM-Solver++ 2M", M(DPMPP), 0, 2, 0, 1, 0},
    {"DPM-Solver++ 3M", M(DPMPP), 0, 3, 0, 1, 1},
    {"UniPC 2M", M(DPMPP), 0, 2, 1, 1, 0},
    {"UniPC 3M", M(DPMPP), 0, 3, 1, 1, 1},
    {"iPNDM 2", M(IPNDM), 0, 2, 0, 1, 0},
    {"iPNDM 3", M(IPNDM), 0, 3, 0, 1, 0},
    {"iPNDM 4", M(IPNDM), 0, 4, 0, 1, 0},
};

static const struct {
    const char *name;
    int grid;
    double power;
} grids[] = {{"uniform t", M(GRID_UNIFORM_T), 0},
             {"Karras 7", M(GRID_KARRAS), 0},
             {"log-SNR", M(GRID_LOGSNR), 0},
             {"power 1.75", M(GRID_POWER), 1.75},
             {"power 2", M(GRID_POWER), 2},
             {"power 2.5", M(GRID_POWER), 2.5},
             {"power 3", M(GRID_POWER), 3}};

/* The endpoint errors (per sample and per coordinate, as rms) of method row
 * c on grid `grid` (POWER `power` if > 0) with `steps` steps from xT, ending
 * at eps with FINAL_STEP = STOP; the sampler's status (x: workspace). */
static int endpoint_error(const row *c, int grid, double power, int64_t steps, double ratio,
                          const scoresde_model *m, const double *xT, const double *ref, size_t n,
                          size_t D, double *x, double *e, double *ec)
{
    scoresde_sampler *s = NULL;
    check(scoresde_sampler_create(&s, c->method), "sampler");
    check(scoresde_sampler_set_int(s, M(STEPS), steps), "steps");
    check(scoresde_sampler_set_int(s, M(GRID), grid), "grid");
    if (power > 0)
        check(scoresde_sampler_set_double(s, M(POWER), power), "power");
    check(scoresde_sampler_set_int(s, M(FINAL_STEP), M(FINAL_STOP)), "final");
    if (!isnan(ratio))
        check(scoresde_sampler_set_double(s, M(STEP_RATIO_MAX), ratio), "ratio");
    if (c->solver != 0)
        check(scoresde_sampler_set_int(s, M(SOLVER), c->solver), "solver");
    if (c->order != 0)
        check(scoresde_sampler_set_int(s, M(ORDER), c->order), "order");
    if (c->unipc != 0)
        check(scoresde_sampler_set_int(s, M(UNIPC), 1), "unipc");
    int rc = scoresde_sampler_sample(s, m, xT, n, D, 0, 0, x, NULL);
    scoresde_sampler_free(s);
    if (rc == SCORESDE_OK)
        rms(x, ref, n, D, e, ec);
    return rc;
}

/* The configurations the guide recommends (rows[] index, POWER): iPNDM 4 on
 * POWER 1.75 for 10 to 15 evaluations, UniPC 3M on POWER 2.5 from 20 on. */
static const struct {
    size_t row;
    double power;
} recommended[] = {{11, 1.75}, {8, 2.5}};

static const int budgets[] = {5, 10, 15, 20, 25, 30, 50};
enum { NB = sizeof budgets / sizeof budgets[0] };

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 400;
    double ratio = argc > 2 ? strtod(argv[2], NULL) : NAN;
    if (n == 0)
        n = 400;
    for (int k = 0; k < 3; k++)
        for (int j = 0; j < 8; j++) {
            c_mu[k * 8 + j] = 1.2 * cos(1.3 * k + 0.7 * j);
            c_var[k * 8 + j] = 0.05 + 0.1 * ((k + j) % 3);
        }
    scoresde_sde *sde = NULL;
    check(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP), "sde");
    for (size_t q = 0; q < sizeof mixtures / sizeof mixtures[0]; q++) {
        const mixture *mx = &mixtures[q];
        size_t D = mx->D;
        scoresde_model *m = NULL;
        check(scoresde_model_create_gmm(&m, sde, mx->K, D, mx->w, mx->mu, mx->var), "model");
        double *xT = malloc(D * n * sizeof *xT), *ref = malloc(D * n * sizeof *ref);
        double *x = malloc(D * n * sizeof *x);
        if (xT == NULL || ref == NULL || x == NULL)
            return 1;
        check(scoresde_sde_prior_sample(sde, n, D, 2024, 0, 0, xT), "prior");
        scoresde_sampler *s = NULL;
        scoresde_sampler_stats st = {.struct_size = sizeof st};
        check(scoresde_sampler_create(&s, M(ODE)), "sampler");
        check(scoresde_sampler_set_double(s, M(RTOL), 1e-11), "rtol");
        check(scoresde_sampler_set_double(s, M(ATOL), 1e-11), "atol");
        check(scoresde_sampler_sample(s, m, xT, n, D, 0, 0, ref, &st), "reference");
        scoresde_sampler_free(s);
        printf("\nVP, mixture %s, %zu samples, T = 1 -> eps = 1e-3; reference NFE %llu\n",
               mx->name, n, (unsigned long long)st.nfe);
        printf("%-17s %-11s", "method", "grid");
        for (int b = 0; b < NB; b++)
            printf("  NFE %-5d", budgets[b]);
        printf("\n");
        double best[NB], best_c[NB];
        const char *best_m[NB], *best_g[NB];
        for (int b = 0; b < NB; b++) {
            best[b] = best_c[b] = INFINITY;
            best_m[b] = best_g[b] = "-";
        }
        for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++)
            for (size_t g = 0; g < sizeof grids / sizeof grids[0]; g++) {
                const row *c = &rows[r];
                printf("%-17s %-11s", c->name, grids[g].name);
                double prev = INFINITY;
                for (int b = 0; b < NB; b++) {
                    int64_t steps = (budgets[b] - c->extra) / c->per;
                    if (steps < 1) {
                        printf("  %-9s", "-");
                        continue;
                    }
                    double e, ec;
                    if (endpoint_error(c, grids[g].grid, grids[g].power, steps, ratio, m, xT, ref,
                                       n, D, x, &e, &ec) != SCORESDE_OK) {
                        printf("  %-9s", "fail");
                        continue;
                    }
                    printf("  %8.2e%c", e, e > prev ? '!' : ' ');
                    prev = e;
                    if (e < best[b]) {
                        best[b] = e;
                        best_c[b] = ec;
                        best_m[b] = c->name;
                        best_g[b] = grids[g].name;
                    }
                }
                printf("\n");
            }
        printf("%-29s", "best, per sample");
        for (int b = 0; b < NB; b++)
            printf("  %8.2e ", best[b]);
        printf("\n%-29s", "best, per coordinate");
        for (int b = 0; b < NB; b++)
            printf("  %8.2e ", best_c[b]);
        printf("\n");
        for (int b = 0; b < NB; b++)
            printf("best at NFE %d: %s, %s (per sample %.3g, per coordinate %.3g)\n",
                   budgets[b], best_m[b], best_g[b], best[b], best_c[b]);
        printf("the recommended configurations at every NFE from 5 to 50 (per sample; '!': "
               "larger than at one NFE less):\n");
        for (size_t k = 0; k < sizeof recommended / sizeof recommended[0]; k++) {
            const row *c = &rows[recommended[k].row];
            printf("%s, power %g:", c->name, recommended[k].power);
            double prev = INFINITY;
            for (int nfe = 5; nfe <= 50; nfe++) {
                double e, ec;
                int64_t steps = (nfe - c->extra) / c->per;
                if (endpoint_error(c, M(GRID_POWER), recommended[k].power, steps, ratio, m, xT,
                                   ref, n, D, x, &e, &ec) != SCORESDE_OK)
                    e = NAN;
                printf("%s %d: %.2e%c", (nfe - 5) % 8 == 0 ? "\n " : "", nfe, e,
                       e > prev ? '!' : ' ');
                prev = e;
            }
            printf("\n");
        }
        free(xT);
        free(ref);
        free(x);
        scoresde_model_free(m);
    }
    scoresde_sde_free(sde);
    return 0;
}
