/*
 * Sampling overhead and thread scaling on the MLP score model (a program,
 * never a test; issue 5, "Speed and accuracy").
 *
 * Model: scoresde_model_create_mlp with D = 2, three hidden layers of 256,
 * SiLU, float64 (the score-model benchmark's network, untrained: the cost of
 * an evaluation does not depend on the weights). 4096 samples are drawn with
 *   - PC, Euler-Maruyama predictor, no corrector (NFE = STEPS), and
 *   - DPM-Solver++ 2M on the log-SNR grid (NFE = STEPS; data predictions),
 * for splits of a 2-thread budget between the sampler (THREADS, over
 * blocks of BLOCK samples) and the model (n_threads, BLIS inside one
 * evaluation): 1 x 1, 2 x 1 and 2 x 2 (the model then runs one thread per
 * block inside the sampler's region, see sampler.h) at the given BLOCK, and
 * 1 x 1, 1 x 2 with one block of all 4096 samples (the model's threads). In the same run, the same number of bare model calls on the
 * same batch shapes (one call per block and step, blocks spread over the
 * same number of sampler threads) is timed: score calls for PC, data
 * predictions for DPM-Solver++. overhead = (total - bare) / total is the
 * sampler's own cost (grid, updates, noise, checks, scheduling).
 *
 * Usage: bench_sampler_mlp [block (default 64)] [PC steps (default 50)]
 *                          [DPM steps (default 20)] [repeats (default 3)]
 * Times are minima over the repeats (the machine may be shared).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "scoresde.h"

enum { NS = 4096, DIM = 2 };

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

/* The bare model calls a run of `nfe` evaluations per sample makes: for each
 * evaluation, one call per block of `block` rows, blocks over `nth` threads. */
static double bare_calls(const scoresde_model *m, int data, const double *x, double *out,
                         double *t, size_t block, int nth, uint64_t nfe)
{
    size_t nb = (NS + block - 1) / block;
    int rc = SCORESDE_OK;
    double t0 = now();
    for (uint64_t e = 0; e < nfe; e++) {
        double te = 1.0 - 0.9 * (double)e / (double)nfe;
#pragma omp parallel for num_threads(nth) schedule(static) reduction(| : rc) if (nth > 1)
        for (long long q = 0; q < (long long)nb; q++) {
            size_t i0 = (size_t)q * block, n = i0 + block <= NS ? block : NS - i0;
            for (size_t i = 0; i < n; i++)
                t[i0 + i] = te;
            rc |= data ? scoresde_model_predict_data(m, x + i0 * DIM, t + i0, n, DIM,
                                                     out + i0 * DIM)
                       : scoresde_model_score(m, x + i0 * DIM, t + i0, n, DIM, out + i0 * DIM);
        }
    }
    double dt = now() - t0;
    check(rc, "bare model call");
    return dt;
}

int main(int argc, char **argv)
{
    size_t block = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
    long pc_steps = argc > 2 ? strtol(argv[2], NULL, 10) : 50;
    long dpm_steps = argc > 3 ? strtol(argv[3], NULL, 10) : 20;
    int reps = argc > 4 ? atoi(argv[4]) : 3;
    if (block == 0 || block > NS || pc_steps < 1 || dpm_steps < 2 || reps < 1) {
        fprintf(stderr, "usage: bench_sampler_mlp [block] [PC steps] [DPM steps] [repeats]\n");
        return 2;
    }
    scoresde_sde *sde = NULL;
    check(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP), "sde");
    double *xT = malloc(NS * DIM * sizeof *xT), *x = malloc(NS * DIM * sizeof *x);
    double *out = malloc(NS * DIM * sizeof *out), *t = malloc(NS * sizeof *t);
    if (xT == NULL || x == NULL || out == NULL || t == NULL)
        return 1;
    check(scoresde_sde_prior_sample(sde, NS, DIM, 7, 0, 0, xT), "prior");
    printf("MLP D = 2, 3 x 256 SiLU, float64; %d samples, BLOCK %zu; minimum of %d runs\n", NS,
           block, reps);
    printf("%-22s %4s %4s %5s %5s %9s %9s %9s %9s\n", "sampler", "smp", "mdl", "block", "NFE",
           "total s", "model s", "overhead", "speed-up");
    /* sampler threads, model threads, block (0: the argument); the speed-up
     * is against the 1 x 1 row with the same block */
    static const int split[][3] = {{1, 1, 0}, {2, 1, 0}, {2, 2, 0}, {1, 1, NS}, {1, 2, NS}};
    for (int meth = 0; meth < 2; meth++) {
        double base = 0.0;
        for (size_t c = 0; c < sizeof split / sizeof split[0]; c++) {
            int sth = split[c][0], mth = split[c][1];
            size_t blk = split[c][2] > 0 ? (size_t)split[c][2] : block;
            scoresde_mlp_options o;
            check(scoresde_model_mlp_options_init(&o, sizeof o), "options");
            o.n_threads = mth;
            scoresde_model *m = NULL;
            check(scoresde_model_create_mlp(&m, sde, DIM, &o), "mlp");
            scoresde_sampler *s = NULL;
            check(scoresde_sampler_create(&s, meth == 0 ? SCORESDE_SAMPLER_PC
                                                        : SCORESDE_SAMPLER_DPMPP),
                  "sampler");
            if (meth == 0) {
                check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_PREDICTOR,
                                               SCORESDE_SAMPLER_PREDICTOR_EULER_MARUYAMA),
                      "predictor");
                check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_CORRECTOR,
                                               SCORESDE_SAMPLER_CORRECTOR_NONE),
                      "corrector");
            }
            check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS,
                                           meth == 0 ? pc_steps : dpm_steps),
                  "steps");
            check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_DENOISE, 0), "denoise");
            check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_THREADS, sth), "threads");
            check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BLOCK, (int64_t)blk), "block");
            double best = 1e300, best_bare = 1e300;
            scoresde_sampler_stats st = {.struct_size = sizeof st};
            for (int r = 0; r < reps; r++) {
                double t0 = now();
                check(scoresde_sampler_sample(s, m, xT, NS, DIM, 1, 0, x, &st), "sample");
                double dt = now() - t0;
                if (dt < best)
                    best = dt;
                /* the sampler runs at most as many threads as blocks */
                size_t nb = (NS + blk - 1) / blk;
                int eff = (size_t)sth > nb ? (int)nb : sth;
                double db = bare_calls(m, meth == 1, xT, out, t, blk, eff, st.nfe);
                if (db < best_bare)
                    best_bare = db;
            }
            if (sth == 1 && mth == 1)
                base = best;
            printf("%-22s %4d %4d %5zu %5llu %9.3f %9.3f %8.1f%% %8.2fx\n",
                   meth == 0 ? "PC Euler-Maruyama" : "DPM-Solver++ 2M", sth, mth, blk,
                   (unsigned long long)st.nfe, best, best_bare,
                   100.0 * (best - best_bare) / best, base / best);
            fflush(stdout);
            scoresde_sampler_free(s);
            scoresde_model_free(m);
        }
    }
    free(xT);
    free(x);
    free(out);
    free(t);
    scoresde_sde_free(sde);
    return 0;
}
