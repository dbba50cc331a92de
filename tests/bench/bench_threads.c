/*
 * Thread scaling of the sampler on the MLP score model (a program, never a
 * test; issue 14, "Threads without nesting or per-step barriers").
 *
 * Model: scoresde_model_create_mlp with D = 2, three hidden layers of 256,
 * SiLU, float64 (untrained: the cost of an evaluation does not depend on the
 * weights). Workloads, under the default VP SDE:
 *   EM      PC with Euler-Maruyama, no corrector, n_em samples x steps_em steps
 *   PC      PC with reverse diffusion and one Langevin corrector step
 *   DPM2M   DPM-Solver++ 2M on the log-SNR grid
 *   ADPM    adaptive DPM-Solver++ (RTOL = ATOL = tol)
 *   DOPRI   the probability-flow ODE with Dormand-Prince (RTOL = ATOL = tol)
 * (PC, DPM2M, ADPM, DOPRI on n samples), each under every combination of
 * sampler THREADS 1/2, the model's n_threads 1/2 and BLOCK 64/1024/n, with
 * the machine as it is and with a competing busy process (a child spinning
 * at nice 0 for the whole of each such run). The runs alternate (every
 * configuration once per repeat, quiet and busy in turn) and the table
 * gives medians; `uptime`'s load is printed before each repeat.
 * Columns: seconds; the speed-up over THREADS = 1, n_threads = 1 at the same
 * BLOCK and load ("x1"); the ratio to the best one-thread configuration at
 * that load ("xbest1": below 1 means slower than one thread); per evaluation
 * and sample, microseconds; and the GEMM-bound fraction: the time the
 * network's GEMMs (2 x 272,384 flops per row and evaluation: 18 -> 256,
 * 256 -> 256 twice, 256 -> 2) take at the BLIS dgemm rate measured here for
 * the threads that run (the sampler's with several blocks, else the
 * model's n_threads), divided by the run's time.
 *
 * Usage: bench_threads [n (4096)] [steps (100)] [n_em (10000)] [steps_em (200)]
 *                      [repeats (3)] [tol (1e-3)]
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define _DEFAULT_SOURCE /* getloadavg, fork, kill */
#include <blis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "scoresde.h"

enum { DIM = 2, NW = 5, NC = 12, MAXREP = 15 };
#define ROW_FLOPS 272384.0 /* 2 (18 x 256 + 2 x 256 x 256 + 256 x 2) */

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

static double median(double *v, int n)
{
    double w[MAXREP];
    memcpy(w, v, (size_t)n * sizeof *w);
    qsort(w, (size_t)n, sizeof *w, cmp_double);
    return n % 2 ? w[n / 2] : 0.5 * (w[n / 2 - 1] + w[n / 2]);
}

static void print_load(const char *when)
{
    double l[3];
    if (getloadavg(l, 3) == 3)
        printf("# load %s: %.2f %.2f %.2f\n", when, l[0], l[1], l[2]);
}

/* A child spinning at nice 0 until killed. */
static pid_t busy_start(void)
{
    pid_t p = fork();
    if (p == 0) {
        setpriority(PRIO_PROCESS, 0, 0);
        volatile unsigned long k = 0;
        for (;;)
            k++;
    }
    return p;
}

static void busy_stop(pid_t p)
{
    if (p > 0) {
        kill(p, SIGKILL);
        waitpid(p, NULL, 0);
    }
}

/* The BLIS dgemm rate (flop/s) on 4096 x 256 x 256 with `threads` threads. */
static double gemm_rate(int threads)
{
    enum { M = 4096, K = 256, N = 256 };
    double *a = malloc(sizeof(double) * M * K), *b = malloc(sizeof(double) * K * N);
    double *c = malloc(sizeof(double) * M * N), one = 1.0, zero = 0.0;
    if (a == NULL || b == NULL || c == NULL)
        exit(1);
    for (size_t i = 0; i < (size_t)M * K; i++)
        a[i] = 1e-3 * (double)(i % 97);
    for (size_t i = 0; i < (size_t)K * N; i++)
        b[i] = 1e-3 * (double)(i % 89);
    rntm_t rntm;
    bli_rntm_init(&rntm);
    bli_rntm_set_num_threads(threads, &rntm);
    double best = 1e300;
    for (int r = 0; r < 7; r++) {
        double t0 = now();
        for (int q = 0; q < 4; q++)
            bli_dgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, M, N, K, &one, a, K, 1, b, N, 1,
                         &zero, c, N, 1, NULL, &rntm);
        double dt = (now() - t0) / 4;
        if (dt < best)
            best = dt;
    }
    free(a);
    free(b);
    free(c);
    return 2.0 * M * N * K / best;
}

static const char *names[NW] = {"EM", "PC", "DPM2M", "ADPM", "DOPRI"};

static scoresde_sampler *make_sampler(int w, long steps, long steps_em, double tol)
{
    scoresde_sampler *s = NULL;
    int method = w <= 1 ? SCORESDE_SAMPLER_PC : w == 4 ? SCORESDE_SAMPLER_ODE : SCORESDE_SAMPLER_DPMPP;
    check(scoresde_sampler_create(&s, method), "sampler");
    if (w == 0) {
        check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_PREDICTOR,
                                       SCORESDE_SAMPLER_PREDICTOR_EULER_MARUYAMA),
              "predictor");
        check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_CORRECTOR,
                                       SCORESDE_SAMPLER_CORRECTOR_NONE),
              "corrector");
    }
    if (w <= 2)
        check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, w == 0 ? steps_em : steps),
              "steps");
    if (w == 3)
        check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_ADAPTIVE, 1), "adaptive");
    if (w >= 3) {
        check(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_RTOL, tol), "rtol");
        check(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_ATOL, tol), "atol");
    }
    if (w <= 2)
        check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_DENOISE, 0), "denoise");
    return s;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 4096;
    long steps = argc > 2 ? strtol(argv[2], NULL, 10) : 100;
    size_t n_em = argc > 3 ? strtoul(argv[3], NULL, 10) : 10000;
    long steps_em = argc > 4 ? strtol(argv[4], NULL, 10) : 200;
    int reps = argc > 5 ? atoi(argv[5]) : 3;
    double tol = argc > 6 ? atof(argv[6]) : 1e-3;
    if (n < 1 || steps < 2 || n_em < 1 || steps_em < 2 || reps < 1 || reps > MAXREP ||
        !(tol > 0)) {
        fprintf(stderr, "usage: bench_threads [n] [steps] [n_em] [steps_em] [repeats] [tol]\n");
        return 2;
    }
    double rate1 = gemm_rate(1), rate2 = gemm_rate(2);
    printf("MLP D = 2, 3 x 256 SiLU, float64; n = %zu (EM: %zu x %ld steps), %ld steps, "
           "tol %g; medians of %d alternating runs\n",
           n, n_em, steps_em, steps, tol, reps);
    printf("BLIS dgemm 4096 x 256 x 256: %.2f Gflop/s on 1 thread, %.2f on 2 (%.2fx)\n",
           1e-9 * rate1, 1e-9 * rate2, rate2 / rate1);
    scoresde_sde *sde = NULL;
    check(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP), "sde");
    size_t nmax = n_em > n ? n_em : n;
    double *xT = malloc(nmax * DIM * sizeof *xT), *x = malloc(nmax * DIM * sizeof *x);
    if (xT == NULL || x == NULL)
        return 1;
    check(scoresde_sde_prior_sample(sde, nmax, DIM, 7, 0, 0, xT), "prior");
    scoresde_model *model[2];
    for (int mt = 0; mt < 2; mt++) {
        scoresde_mlp_options o;
        check(scoresde_model_mlp_options_init(&o, sizeof o), "options");
        o.n_threads = mt + 1;
        check(scoresde_model_create_mlp(&model[mt], sde, DIM, &o), "mlp");
    }
    /* configurations: sampler threads, model threads, block (0: n) */
    int cfg[NC][3];
    static const size_t blocks[3] = {64, 1024, 0};
    for (int c = 0; c < NC; c++) {
        cfg[c][0] = 1 + (c / 2) % 2;
        cfg[c][1] = 1 + c % 2;
        cfg[c][2] = (int)blocks[c / 4];
    }
    static double secs[2][NW][NC][MAXREP];
    static uint64_t nfe[NW];
    for (int r = 0; r < reps; r++) {
        for (int load = 0; load < 2; load++) {
            char when[64];
            snprintf(when, sizeof when, "repeat %d, %s", r + 1, load ? "busy" : "as is");
            print_load(when);
            fflush(stdout);
            for (int w = 0; w < NW; w++) {
                size_t nn = w == 0 ? n_em : n;
                scoresde_sampler *s = make_sampler(w, steps, steps_em, tol);
                for (int c = 0; c < NC; c++) {
                    size_t blk = cfg[c][2] > 0 ? (size_t)cfg[c][2] : nn;
                    check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_THREADS, cfg[c][0]),
                          "threads");
                    check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BLOCK, (int64_t)blk),
                          "block");
                    scoresde_sampler_stats st = {.struct_size = sizeof st};
                    pid_t busy = load ? busy_start() : 0;
                    double t0 = now();
                    check(scoresde_sampler_sample(s, model[cfg[c][1] - 1], xT, nn, DIM, 1, 0, x,
                                                  &st),
                          "sample");
                    secs[load][w][c][r] = now() - t0;
                    busy_stop(busy);
                    nfe[w] = st.nfe;
                    fprintf(stderr, "%s %s THREADS %d n_threads %d BLOCK %zu: %.3f s, NFE %llu\n",
                            names[w], load ? "busy" : "as is", cfg[c][0], cfg[c][1], blk,
                            secs[load][w][c][r], (unsigned long long)st.nfe);
                }
                scoresde_sampler_free(s);
            }
        }
    }
    print_load("at the end");
    for (int load = 0; load < 2; load++) {
        printf("\n%s\n", load ? "with a busy competing process (nice 0, spinning)"
                              : "machine as it is (shared; see the loads above)");
        printf("%-6s %4s %4s %5s %5s %9s %6s %7s %9s %6s\n", "work", "smp", "mdl", "block",
               "NFE", "median s", "x1", "xbest1", "us/eval", "GEMM");
        for (int w = 0; w < NW; w++) {
            size_t nn = w == 0 ? n_em : n;
            double med[NC], best1 = 1e300;
            for (int c = 0; c < NC; c++) {
                med[c] = median(secs[load][w][c], reps);
                if (cfg[c][0] * cfg[c][1] == 1 && med[c] < best1)
                    best1 = med[c];
            }
            for (int c = 0; c < NC; c++) {
                int base = c - (c % 4); /* THREADS 1, n_threads 1, same block */
                size_t blk = cfg[c][2] > 0 ? (size_t)cfg[c][2] : nn;
                /* the threads that run: the sampler's with several blocks, else the
                 * model's */
                size_t nb = (nn + blk - 1) / blk;
                int th = cfg[c][0] > 1 && nb > 1 ? 2 : cfg[c][1];
                double rate = th == 2 ? rate2 : rate1;
                double bound = (double)nfe[w] * (double)nn * ROW_FLOPS / rate;
                printf("%-6s %4d %4d %5zu %5llu %9.3f %5.2fx %6.2fx %9.2f %6.2f\n", names[w],
                       cfg[c][0], cfg[c][1], blk, (unsigned long long)nfe[w], med[c],
                       med[base] / med[c], best1 / med[c],
                       1e6 * med[c] / ((double)nfe[w] * (double)nn), bound / med[c]);
            }
        }
    }
    for (int mt = 0; mt < 2; mt++)
        scoresde_model_free(model[mt]);
    scoresde_sde_free(sde);
    free(xT);
    free(x);
    return 0;
}
