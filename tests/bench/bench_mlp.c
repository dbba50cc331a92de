/*
 * Benchmark of the network engine against its GEMM bound (a program, never a
 * test). For the score network shape of the 2-D demo (in = 2, three hidden
 * layers of 256, SiLU, out = 2, batch 4096) it measures, in float64 and
 * float32 with 1 and 2 threads:
 *   - forward, forward without backward state (sd_mlp_predict, the
 *     samplers' scores), and forward + backward (parameter gradient only)
 *     throughput;
 *   - the time of exactly the GEMMs those passes run (same shapes, strides,
 *     block sizes, buffers laid out the same way, same BLIS thread count),
 *     called back to back: the GEMM-bound time;
 *   - the ratio actual / GEMM-bound ("x bound"; issue 14's targets: forward
 *     within 1.15x), and the 2-thread speed-up;
 *   - with 2 threads, beside that BLIS-threaded bound, the row-split bound:
 *     the same GEMMs single-threaded, the first half of the row blocks on
 *     one OpenMP thread and the second half on another, at once (the
 *     engine's own schedule, lib/nn/split.h).
 * The replayed GEMMs are checked against the engine's own flop counter, so
 * the bound covers every GEMM the engine runs and nothing else.
 *
 * Usage: bench_mlp [repeats (default 9)] [block rows (default: the engine's)]
 *                  [max threads, 1 or 2 (default 2)]
 * Times are the minimum over the repeats (the machine is shared; the minimum
 * is the least disturbed run), with the median alongside.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <blis.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "mlp.h"

enum { N = 4096, D = 2, H = 256, NH = 3, MAX_REP = 101 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct stats {
    double min, median;
} stats;

static stats summarise(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    stats s = {t[0], t[n / 2]};
    return s;
}

/* The GEMM replay: per layer buffers with the engine's layout (2*block rows
 * per block slot), the same calls in the same order; per thread of the
 * row-split replay its own output, adjoint and gradient buffers (the
 * engine's lanes). */
typedef struct replay {
    int f32;
    size_t block, dims[NH + 2];
    void *h[NH + 1], *w[NH + 1], *gw[2][NH + 1], *g[2][2], *y[2];
    rntm_t rntm;  /* the BLIS-threaded replay's */
    rntm_t rntm1; /* one BLIS thread: the row-split replay's */
    uint64_t flops;
} replay;

/* Replay buffers hold small non-zero values: never-written calloc pages
 * would all map the kernel's single zero page and flatter the bound. */
static void *zalloc(size_t n, size_t es)
{
    void *p = sd_malloc(n * es);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        double v = 1e-3 * (double)((i * 2654435761u) % 1000) - 0.5;
        if (es == sizeof(float))
            ((float *)p)[i] = (float)v;
        else
            ((double *)p)[i] = v;
    }
    return p;
}

static void replay_init(replay *rp, int f32, size_t block, int threads)
{
    memset(rp, 0, sizeof *rp);
    rp->f32 = f32;
    rp->block = block;
    size_t dims[NH + 2] = {D, H, H, H, D};
    memcpy(rp->dims, dims, sizeof dims);
    size_t es = f32 ? sizeof(float) : sizeof(double);
    size_t slots = (N + block - 1) / block;
    for (size_t l = 0; l <= NH; l++) {
        rp->h[l] = zalloc(2 * slots * block * dims[l], es);
        rp->w[l] = zalloc(dims[l + 1] * dims[l], es);
        for (int q = 0; q < 2; q++)
            rp->gw[q][l] = zalloc(dims[l + 1] * dims[l], es);
    }
    for (int q = 0; q < 2; q++) {
        rp->y[q] = zalloc(2 * block * D, es);
        rp->g[q][0] = zalloc(2 * block * H, es);
        rp->g[q][1] = zalloc(2 * block * H, es);
    }
    bli_rntm_init(&rp->rntm);
    bli_rntm_set_num_threads(threads, &rp->rntm);
    bli_rntm_init(&rp->rntm1);
    bli_rntm_set_num_threads(1, &rp->rntm1);
}

static void replay_free(replay *rp)
{
    for (size_t l = 0; l <= NH; l++) {
        sd_free(rp->h[l]);
        sd_free(rp->w[l]);
        for (int q = 0; q < 2; q++)
            sd_free(rp->gw[q][l]);
    }
    for (int q = 0; q < 2; q++) {
        sd_free(rp->y[q]);
        sd_free(rp->g[q][0]);
        sd_free(rp->g[q][1]);
    }
}

/* One thread's share of a replay: its BLIS runtime, flop count and buffers
 * (lane q of the replay's). */
typedef struct replay_lane {
    replay *rp;
    const rntm_t *rntm;
    uint64_t flops;
    int q;
} replay_lane;

static void gemm(replay_lane *ln, size_t m, size_t n, size_t k, void *a, size_t rsa, size_t csa,
                 void *b, size_t rsb, size_t csb, int beta1, void *c, size_t rsc)
{
    ln->flops += (uint64_t)2 * m * n * k;
    rntm_t rntm = *ln->rntm;
    if (ln->rp->f32) {
        float one = 1, beta = (float)beta1;
        bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)m, (dim_t)n, (dim_t)k, &one, a,
                     (inc_t)rsa, (inc_t)csa, b, (inc_t)rsb, (inc_t)csb, &beta, c, (inc_t)rsc, 1,
                     NULL, &rntm);
    } else {
        double one = 1, beta = (double)beta1;
        bli_dgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)m, (dim_t)n, (dim_t)k, &one, a,
                     (inc_t)rsa, (inc_t)csa, b, (inc_t)rsb, (inc_t)csb, &beta, c, (inc_t)rsc, 1,
                     NULL, &rntm);
    }
}

static char *at(replay *rp, void *base, size_t elems)
{
    return (char *)base + elems * (rp->f32 ? sizeof(float) : sizeof(double));
}

/* The GEMMs of sd_mlp_forward and, if `backward`, of sd_mlp_backward with a
 * parameter gradient and no input gradient, for row blocks k0 .. k1-1 on
 * lane ln (each block's gradient written from zero, as the engine's). */
static void replay_blocks(replay_lane *ln, size_t k0, size_t k1, int backward)
{
    replay *rp = ln->rp;
    size_t B = rp->block, L = NH + 1;
    int q = ln->q;
    for (size_t k = k0; k < k1; k++) {
        size_t row = k * B, r = N - row < B ? N - row : B;
        for (size_t l = 1; l <= L; l++) {
            size_t in = rp->dims[l - 1], w = rp->dims[l];
            void *z = l < L ? at(rp, rp->h[l], k * 2 * B * w) : rp->y[q];
            gemm(ln, r, w, in, at(rp, rp->h[l - 1], k * 2 * B * in), in, 1, rp->w[l - 1], 1, in,
                 0, z, w);
        }
    }
    if (!backward)
        return;
    for (size_t k = k0; k < k1; k++) {
        size_t row = k * B, r = N - row < B ? N - row : B;
        void *G = rp->g[q][0], *Gn = rp->g[q][1];
        for (size_t l = L; l >= 1; l--) {
            size_t in = rp->dims[l - 1], w = rp->dims[l];
            gemm(ln, w, in, r, G, 1, w, at(rp, rp->h[l - 1], k * 2 * B * in), in, 1, 0,
                 rp->gw[q][l - 1], in);
            if (l > 1) {
                gemm(ln, r, in, w, G, w, 1, rp->w[l - 1], in, 1, 0, Gn, in);
                void *t = G;
                G = Gn;
                Gn = t;
            }
        }
    }
}

static size_t replay_n_blocks(const replay *rp)
{
    return (N + rp->block - 1) / rp->block;
}

/* Every block on one thread with the replay's BLIS threads. */
static void replay_run(replay *rp, int backward)
{
    replay_lane ln = {rp, &rp->rntm, 0, 0};
    replay_blocks(&ln, 0, replay_n_blocks(rp), backward);
    rp->flops += ln.flops;
}

/* The row-split replay: the first half of the blocks on one OpenMP thread,
 * the second on another, each GEMM on one BLIS thread. */
static void replay_split(replay *rp, int backward)
{
    size_t nb = replay_n_blocks(rp);
    uint64_t fl[2] = {0, 0};
#pragma omp parallel num_threads(2)
    {
        int q = omp_get_thread_num(), T = omp_get_num_threads();
        for (int p = q; p < 2; p += T) {
            replay_lane ln = {rp, &rp->rntm1, 0, p};
            replay_blocks(&ln, nb * (size_t)p / 2, nb * (size_t)(p + 1) / 2, backward);
            fl[p] = ln.flops;
        }
    }
    rp->flops += fl[0] + fl[1];
}

typedef struct result {
    stats fwd, fwdbwd, gemm_fwd, gemm_fwdbwd, pred;
    stats split_fwd, split_fwdbwd; /* the row-split bound (threads 2 only, else 0) */
} result;

static result run(sd_mlp_prec prec, int threads, int reps, size_t block_req)
{
    size_t widths[NH] = {H, H, H};
    sd_mlp *net = NULL;
    sd_mlp_ws *ws = NULL;
    if (sd_mlp_create(&net, D, NH, widths, D, SD_MLP_SILU, prec, 1, 0) != SCORESDE_OK ||
        sd_mlp_ws_create(net, N, block_req, threads, &ws) != SCORESDE_OK) {
        fprintf(stderr, "setup failed: %s\n", scoresde_last_error());
        exit(1);
    }
    size_t np = sd_mlp_num_params(net);
    double *x = malloc(N * D * sizeof *x), *y = malloc(N * D * sizeof *y);
    double *g = malloc(N * D * sizeof *g), *grad = calloc(np, sizeof *grad);
    scoresde_rng_normal(2, 0, 0, N * D, x);
    scoresde_rng_normal(3, 0, 0, N * D, g);
    size_t block = block_req ? block_req : 512;
    if (block > N)
        block = N;
    replay rp;
    replay_init(&rp, prec == SD_MLP_F32, block, threads);

    /* Check that the replay is the engine's GEMM work, then warm up. */
    uint64_t f0 = sd_mlp_ws_gemm_flops(ws);
    sd_mlp_forward(net, ws, N, x, y);
    sd_mlp_backward(net, ws, g, grad, NULL);
    uint64_t engine = sd_mlp_ws_gemm_flops(ws) - f0;
    replay_run(&rp, 1);
    uint64_t serial = rp.flops;
    replay_split(&rp, 1);
    if (serial != engine || rp.flops - serial != engine) {
        fprintf(stderr, "replays run %llu and %llu GEMM flops, the engine %llu\n",
                (unsigned long long)serial, (unsigned long long)(rp.flops - serial),
                (unsigned long long)engine);
        exit(1);
    }

    double t[7][MAX_REP];
    for (int i = 0; i < reps; i++) {
        double t0 = now();
        sd_mlp_forward(net, ws, N, x, y);
        double t1 = now();
        sd_mlp_forward(net, ws, N, x, y);
        sd_mlp_backward(net, ws, g, grad, NULL);
        double t2 = now();
        replay_run(&rp, 0);
        double t3 = now();
        replay_run(&rp, 1);
        double t4 = now();
        t[0][i] = t1 - t0;
        t[1][i] = t2 - t1;
        t[2][i] = t3 - t2;
        t[3][i] = t4 - t3;
        t[4][i] = t[5][i] = 0;
        if (threads > 1) {
            replay_split(&rp, 0);
            double t5 = now();
            replay_split(&rp, 1);
            t[4][i] = t5 - t4;
            t[5][i] = now() - t5;
        }
        double t6 = now();
        sd_mlp_predict(net, ws, N, x, y);
        t[6][i] = now() - t6;
    }
    result res = {.fwd = summarise(t[0], reps), .fwdbwd = summarise(t[1], reps),
                  .gemm_fwd = summarise(t[2], reps), .gemm_fwdbwd = summarise(t[3], reps),
                  .split_fwd = summarise(t[4], reps), .split_fwdbwd = summarise(t[5], reps),
                  .pred = summarise(t[6], reps)};
    replay_free(&rp);
    free(x);
    free(y);
    free(g);
    free(grad);
    sd_mlp_ws_free(ws);
    sd_mlp_free(net);
    return res;
}

static void line(const char *what, stats act, stats bound, stats act1, stats split)
{
    printf("  %-14s %9.2f ms (median %8.2f)  GEMM-bound %8.2f ms  %5.2fx bound", what,
           1e3 * act.min, 1e3 * act.median, 1e3 * bound.min, act.min / bound.min);
    if (split.min > 0)
        printf("  row-split bound %8.2f ms  %5.2fx it", 1e3 * split.min, act.min / split.min);
    if (act1.min > 0)
        printf("  2-thread speed-up %4.2fx", act1.min / act.min);
    printf("\n");
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 9;
    size_t block = argc > 2 ? (size_t)atol(argv[2]) : 0;
    if (reps < 1 || reps > MAX_REP) {
        fprintf(stderr, "repeats must be between 1 and %d\n", MAX_REP);
        return 1;
    }
    printf("MLP %d -> %d x %d (SiLU) -> %d, batch %d, block rows %zu, %d repeats (min)\n", D, NH,
           H, D, N, block ? block : (size_t)512, reps);
    int max_threads = argc > 3 ? atoi(argv[3]) : 2;
    if (max_threads < 1 || max_threads > 2) {
        fprintf(stderr, "max threads must be 1 or 2\n");
        return 1;
    }
    for (int p = 0; p < 2; p++) {
        sd_mlp_prec prec = p ? SD_MLP_F32 : SD_MLP_F64;
        result r1 = run(prec, 1, reps, block);
        stats none = {0, 0};
        printf("%s, 1 thread:\n", p ? "float32" : "float64");
        line("forward", r1.fwd, r1.gemm_fwd, none, none);
        line("fwd, no state", r1.pred, r1.gemm_fwd, none, none);
        line("fwd+backward", r1.fwdbwd, r1.gemm_fwdbwd, none, none);
        fflush(stdout);
        if (max_threads < 2)
            continue;
        result r2 = run(prec, 2, reps, block);
        printf("%s, 2 threads:\n", p ? "float32" : "float64");
        line("forward", r2.fwd, r2.gemm_fwd, r1.fwd, r2.split_fwd);
        line("fwd, no state", r2.pred, r2.gemm_fwd, r1.pred, r2.split_fwd);
        line("fwd+backward", r2.fwdbwd, r2.gemm_fwdbwd, r1.fwdbwd, r2.split_fwdbwd);
        printf("  GEMM-bound 2-thread speed-up: BLIS threads forward %4.2fx, fwd+backward "
               "%4.2fx; row split forward %4.2fx, fwd+backward %4.2fx\n",
               r1.gemm_fwd.min / r2.gemm_fwd.min, r1.gemm_fwdbwd.min / r2.gemm_fwdbwd.min,
               r1.gemm_fwd.min / r2.split_fwd.min, r1.gemm_fwdbwd.min / r2.split_fwdbwd.min);
    }
    return 0;
}
