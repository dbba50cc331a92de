/*
 * Benchmark of the residual network engine against its GEMM bound (a
 * program, never a test). At W = 256, B = 4 blocks, 32 time features and
 * D = 2, 32, 128, batch 4096 in chunks of 256 rows (the model kind's
 * default chunk_rows), in float64 and float32 with 1 and 2 threads, it
 * measures forward, forward without backward state (sd_resmlp_predict, the
 * samplers' scores: "no state", against the forward's bound) and forward +
 * backward (parameter gradient), and the time
 * of exactly the GEMMs those passes run (same shapes, strides and BLIS
 * settings: the workspace's rntm, small-matrix kernels off) called back to
 * back: the GEMM-bound time. It prints actual / bound (issue 12's targets:
 * forward within 1.3x, forward + backward within 1.4x) and the 2-thread
 * speed-up; with 2 threads, beside the BLIS-threaded bound, the row-split
 * bound: each chunk's GEMMs single-threaded on half its rows on each of
 * two OpenMP threads at once (the engine's schedule, lib/nn/split.h). The
 * replay is checked against the engine's flop counter.
 *
 * Usage: bench_resmlp [repeats (default 5)] [max threads, 1 or 2 (default
 * 2)]. Times are minima over the
 * repeats (the machine is shared), medians alongside.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <blis.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "resmlp.h"

enum { N = 4096, R = 256, W = 256, B = 4, E = 32, MAX_REP = 51 };

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

typedef struct replay {
    int f32;
    size_t D;
    rntm_t rntm;
    uint64_t flops;
    void *x0, *emb, *p, *ep, *h, *a, *n, *y, *g, *g2, *gy, *ga, *gw;
} replay;

static void *zalloc(size_t n, int f32)
{
    return calloc(n, f32 ? sizeof(float) : sizeof(double));
}

static void gemm(replay *rp, size_t m, size_t n, size_t k, const void *a, size_t rsa, size_t csa,
                 const void *b, size_t rsb, size_t csb, int beta1, void *c, size_t rsc)
{
    rp->flops += (uint64_t)2 * m * n * k;
    rntm_t rntm = rp->rntm;
    if (rp->f32) {
        float one = 1, beta = (float)beta1;
        bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)m, (dim_t)n, (dim_t)k, &one,
                     (float *)a, (inc_t)rsa, (inc_t)csa, (float *)b, (inc_t)rsb, (inc_t)csb,
                     &beta, c, (inc_t)rsc, 1, NULL, &rntm);
    } else {
        double one = 1, beta = (double)beta1;
        bli_dgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)m, (dim_t)n, (dim_t)k, &one,
                     (double *)a, (inc_t)rsa, (inc_t)csa, (double *)b, (inc_t)rsb, (inc_t)csb,
                     &beta, c, (inc_t)rsc, 1, NULL, &rntm);
    }
}

/* The engine's GEMMs of r rows of a chunk (resmlp_impl.h), on buffers of
 * the same shapes (one buffer per role: the layout within a chunk is the
 * same). */
static void replay_rows(replay *rp, size_t r, int backward)
{
    size_t D = rp->D;
    gemm(rp, r, B * W, E, rp->emb, E, 1, rp->p, 1, E, 0, rp->ep, B * W);
    gemm(rp, r, W, D, rp->x0, D, 1, rp->p, 1, D, 0, rp->h, W);
    for (int b = 0; b < B; b++) {
        gemm(rp, r, W, W, rp->n, W, 1, rp->p, 1, W, 0, rp->a, W);
        gemm(rp, r, W, W, rp->a, W, 1, rp->p, 1, W, 1, rp->h, W);
    }
    gemm(rp, r, D, W, rp->n, W, 1, rp->p, 1, W, 0, rp->y, D);
    if (!backward)
        return;
    gemm(rp, D, W, r, rp->gy, 1, D, rp->n, W, 1, 1, rp->gw, W);
    gemm(rp, r, W, D, rp->gy, D, 1, rp->p, W, 1, 0, rp->g2, W);
    for (int b = 0; b < B; b++) {
        gemm(rp, W, W, r, rp->g, 1, W, rp->a, W, 1, 1, rp->gw, W);
        gemm(rp, r, W, W, rp->g, W, 1, rp->p, W, 1, 0, rp->g2, W);
        gemm(rp, W, W, r, rp->g2, 1, W, rp->n, W, 1, 1, rp->gw, W);
        gemm(rp, r, W, W, rp->g2, W, 1, rp->p, W, 1, 0, rp->g, W);
    }
    gemm(rp, B * W, E, r, rp->ga, 1, B * W, rp->emb, E, 1, 1, rp->gw, E);
    gemm(rp, W, D, r, rp->g, 1, W, rp->x0, D, 1, 1, rp->gw, D);
}

static void replay_chunk(replay *rp, int backward)
{
    replay_rows(rp, R, backward);
}

/* The row split of a chunk: rows 0 .. R/2-1 on one OpenMP thread with
 * replay rp[0], the rest on another with rp[1], one BLIS thread each. */
static void replay_split(replay *rp, int backward)
{
#pragma omp parallel num_threads(2)
    {
        int q = omp_get_thread_num(), T = omp_get_num_threads();
        for (int p = q; p < 2; p += T)
            replay_rows(&rp[p], p ? R - R / 2 : R / 2, backward);
    }
}

static void replay_alloc(replay *rp, size_t D, int f32, int threads)
{
    *rp = (replay){.f32 = f32, .D = D};
    bli_rntm_init(&rp->rntm);
    bli_rntm_set_num_threads(sd_nn_granted_threads(threads), &rp->rntm);
    bli_rntm_disable_l3_sup(&rp->rntm);
    size_t big = B * W * (E > W ? E : W) + W * W + 1024;
    rp->x0 = zalloc(R * D, f32), rp->emb = zalloc(R * E, f32), rp->p = zalloc(big, f32);
    rp->ep = zalloc(R * B * W, f32), rp->h = zalloc(R * W, f32), rp->a = zalloc(R * W, f32);
    rp->n = zalloc(R * W, f32), rp->y = zalloc(R * D, f32), rp->g = zalloc(R * W, f32);
    rp->g2 = zalloc(R * W, f32), rp->gy = zalloc(R * D, f32), rp->ga = zalloc(R * B * W, f32);
    rp->gw = zalloc(big, f32);
}

static void replay_release(replay *rp)
{
    free(rp->x0), free(rp->emb), free(rp->p), free(rp->ep), free(rp->h), free(rp->a);
    free(rp->n), free(rp->y), free(rp->g), free(rp->g2), free(rp->gy), free(rp->ga);
    free(rp->gw);
}

typedef struct {
    double fwd, fwdbwd, gfwd, gfwdbwd, mfwd, mfwdbwd, pred; /* pred: sd_resmlp_predict */
    double sfwd, sfwdbwd; /* the row-split bound (2 threads) */
} result;

static result run(size_t D, sd_mlp_prec prec, int threads, int reps)
{
    sd_resmlp *net = NULL;
    sd_resmlp_ws *ws = NULL;
    if (sd_resmlp_create(&net, D, E, W, B, D, SD_ACT_SILU, prec, 1) != SCORESDE_OK ||
        sd_resmlp_ws_create(net, R, threads, &ws) != SCORESDE_OK) {
        fprintf(stderr, "setup failed: %s\n", scoresde_last_error());
        exit(1);
    }
    size_t np = sd_resmlp_num_params(net);
    double *theta = malloc(np * sizeof *theta);
    scoresde_rng_normal(4, 0, 0, np, theta);
    for (size_t i = 0; i < np; i++)
        theta[i] *= 0.05;
    sd_resmlp_set_params(net, theta);
    double *x = malloc(N * D * 8), *e = malloc(N * E * 8), *y = malloc(N * D * 8);
    double *g = malloc(N * D * 8), *grad = calloc(np, 8);
    scoresde_rng_normal(2, 0, 0, N * D, x);
    scoresde_rng_normal(3, 0, 0, N * E, e);
    scoresde_rng_normal(5, 0, 0, N * D, g);
    int f32 = prec == SD_MLP_F32;
    replay rp, rs[2];
    replay_alloc(&rp, D, f32, threads);
    replay_alloc(&rs[0], D, f32, 1);
    replay_alloc(&rs[1], D, f32, 1);

    uint64_t f0 = sd_resmlp_ws_gemm_flops(ws);
    sd_resmlp_forward(net, ws, R, x, e, y);
    sd_resmlp_backward(net, ws, g, grad, NULL, NULL);
    uint64_t engine = sd_resmlp_ws_gemm_flops(ws) - f0;
    rp.flops = 0;
    replay_chunk(&rp, 1);
    replay_split(rs, 1);
    if (rp.flops != engine || rs[0].flops + rs[1].flops != engine) {
        fprintf(stderr, "replays run %llu and %llu GEMM flops per chunk, the engine %llu\n",
                (unsigned long long)rp.flops, (unsigned long long)(rs[0].flops + rs[1].flops),
                (unsigned long long)engine);
        exit(1);
    }
    double t[7][MAX_REP];
    for (int i = 0; i < reps; i++) {
        double t0 = now();
        for (size_t c = 0; c < N; c += R)
            sd_resmlp_forward(net, ws, R, x + c * D, e + c * E, y + c * D);
        double t1 = now();
        for (size_t c = 0; c < N; c += R) {
            sd_resmlp_forward(net, ws, R, x + c * D, e + c * E, y + c * D);
            sd_resmlp_backward(net, ws, g + c * D, grad, NULL, NULL);
        }
        double t2 = now();
        for (size_t c = 0; c < N; c += R)
            replay_chunk(&rp, 0);
        double t3 = now();
        for (size_t c = 0; c < N; c += R)
            replay_chunk(&rp, 1);
        double t4 = now();
        t[0][i] = t1 - t0, t[1][i] = t2 - t1, t[2][i] = t3 - t2, t[3][i] = t4 - t3;
        t[4][i] = t[5][i] = 0;
        if (threads > 1) {
            for (size_t c = 0; c < N; c += R)
                replay_split(rs, 0);
            double t5 = now();
            for (size_t c = 0; c < N; c += R)
                replay_split(rs, 1);
            t[4][i] = t5 - t4, t[5][i] = now() - t5;
        }
        double t6 = now();
        for (size_t c = 0; c < N; c += R)
            sd_resmlp_predict(net, ws, R, x + c * D, e + c * E, y + c * D);
        t[6][i] = now() - t6;
    }
    result res;
    double *out[7] = {&res.fwd,  &res.fwdbwd,  &res.gfwd, &res.gfwdbwd,
                      &res.sfwd, &res.sfwdbwd, &res.pred};
    double *med[2] = {&res.mfwd, &res.mfwdbwd};
    for (int k = 0; k < 7; k++) {
        qsort(t[k], (size_t)reps, sizeof(double), cmp_double);
        *out[k] = t[k][0];
        if (k < 2)
            *med[k] = t[k][reps / 2];
    }
    replay_release(&rp);
    replay_release(&rs[0]);
    replay_release(&rs[1]);
    free(theta), free(x), free(e), free(y), free(g), free(grad);
    sd_resmlp_ws_free(ws);
    sd_resmlp_free(net);
    return res;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    if (reps < 1 || reps > MAX_REP) {
        fprintf(stderr, "repeats must be between 1 and %d\n", MAX_REP);
        return 1;
    }
    printf("residual MLP W %d, %d blocks, %d features, SiLU, batch %d in chunks of %d, %d "
           "repeats (min)\n",
           W, B, E, N, R, reps);
    static const size_t dims[3] = {2, 32, 128};
    int max_threads = argc > 2 ? atoi(argv[2]) : 2;
    if (max_threads < 1 || max_threads > 2) {
        fprintf(stderr, "max threads must be 1 or 2\n");
        return 1;
    }
    result one[2][3];
    for (int p = 0; p < 2; p++)
        for (int th = 1; th <= max_threads; th++)
            for (int d = 0; d < 3; d++) {
                result r = run(dims[d], p ? SD_MLP_F32 : SD_MLP_F64, th, reps);
                printf("%s %d thread%s D %3zu: forward %7.2f ms (median %7.2f) bound %7.2f "
                       "ratio %4.2f | no state %7.2f ms ratio %4.2f | fwd+bwd %7.2f ms (median "
                       "%7.2f) bound %7.2f ratio %4.2f",
                       p ? "float32" : "float64", th, th > 1 ? "s" : " ", dims[d],
                       1e3 * r.fwd, 1e3 * r.mfwd, 1e3 * r.gfwd, r.fwd / r.gfwd, 1e3 * r.pred,
                       r.pred / r.gfwd, 1e3 * r.fwdbwd, 1e3 * r.mfwdbwd, 1e3 * r.gfwdbwd,
                       r.fwdbwd / r.gfwdbwd);
                if (th == 1)
                    one[p][d] = r;
                else
                    printf(" | row-split bound %7.2f / %7.2f ms, ratio %4.2f / %4.2f | 2-thread "
                           "speed-up %4.2fx / %4.2fx",
                           1e3 * r.sfwd, 1e3 * r.sfwdbwd, r.fwd / r.sfwd, r.fwdbwd / r.sfwdbwd,
                           one[p][d].fwd / r.fwd, one[p][d].fwdbwd / r.fwdbwd);
                printf("\n");
                fflush(stdout); /* a line per configuration, as it is measured */
            }
    return 0;
}
