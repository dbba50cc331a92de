/*
 * The C twin of tests/bench/torch_peer.py (a program, never a test; issue
 * 14, "Benchmarks"). torch_peer.py runs it as a subprocess, alternately with
 * its PyTorch twin, and parses the one JSON line it prints; it can also be
 * run by hand. Only the public API (scoresde.h, linked against the shared
 * library) is used for the workloads; the GEMM bound calls BLIS directly.
 *
 * The network of every workload: VP SDE (beta 0.1 .. 20), MLP D -> 3 x 256
 * SiLU -> D, noise output (s = -F / sigma), sinusoidal time embedding of 16
 * features (the default for VP), initialised with the library's defaults
 * (W normal with variance 1 / fan_in, biases zero), float32 or float64.
 *
 * Usage: bench_peer MODE D PREC THREADS [key=value ...]
 *   MODE    train   DSM training steps (uniform t, sigma^2 weights, mean
 *                   reduction; Adam, warm-up, clipping, EMA: the trainer's
 *                   defaults), batch n (default 4096); `warm` untimed steps
 *                   (default 2), then `reps` timed steps (default 5).
 *           sample  PC sampling with the Euler-Maruyama predictor, no
 *                   corrector, no denoising step, from the prior: n samples
 *                   (default 10000), `steps` steps (default 200); a warm-up
 *                   run of `warm` steps (default 2), then `reps` timed runs
 *                   (default 1).
 *           lik     ODE likelihoods, RK4 with `steps` steps (default 50),
 *                   exact divergence, n points (default 1000) drawn N(0, I);
 *                   warm-up of `warm` steps (default 1), `reps` runs (1).
 *           gemm    the BLIS GEMM bound of the same network: the time per
 *                   row of one forward pass (all layers, first layer
 *                   D + 16 -> 256), of one tangent pass (the same GEMMs, first
 *                   layer D -> 256: a Jacobian-vector product's, whose time
 *                   features carry no tangent), measured on blocks of 4096
 *                   rows, and of one training step's forward + parameter
 *                   backward (input gradients of every layer but the first)
 *                   at batch n (default 4096); minima over `reps` (default 5).
 *           check   float64 only: the model's parameters (flat order), and
 *                   at 8 fixed points and times its score, exact divergence,
 *                   alpha, sigma, g^2, and the RK4 likelihood of `steps`
 *                   (default 50) steps, for the PyTorch twin to compare.
 *   D       data dimension, 1 .. 4096
 *   PREC    f32 or f64 (the network's precision; the API and the sampler
 *           state stay double)
 *   THREADS 1 .. 64: the model's n_threads, and for sample and lik the
 *           sampler's THREADS over blocks of `block` samples (default 256)
 * Output: one line of JSON. "times" are seconds of each timed repeat;
 * "maxrss_kb" is the process's peak resident set (VmHWM, see maxrss_kb),
 * "base_kb" the same read before anything was set up.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <blis.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "scoresde.h"

enum { H = 256, NH = 3, EMBED = 16, MAX_REP = 1000, GEMM_ROWS = 4096, CHECK_N = 8 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The peak resident set of this process image: VmHWM of /proc/self/status,
 * which starts afresh at exec. getrusage's ru_maxrss is the fallback: it
 * carries the high-water mark of the process before exec (the parent's
 * size at fork), so it overstates a small program started by a large one. */
static long maxrss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmHWM: %ld", &kb) == 1)
            break;
    if (f != NULL)
        fclose(f);
    if (kb < 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        kb = ru.ru_maxrss;
    }
    return kb;
}

static void check(int rc, const char *what)
{
    if (rc != SCORESDE_OK) {
        fprintf(stderr, "bench_peer: %s: %s\n", what, scoresde_last_error());
        exit(1);
    }
}

static void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (p == NULL) {
        fprintf(stderr, "bench_peer: out of memory (%zu bytes)\n", bytes);
        exit(1);
    }
    return p;
}

typedef struct config {
    const char *mode;
    size_t D, n, steps, block;
    int f32, threads, reps, warm;
} config;

static scoresde_model *make_model(const scoresde_sde *sde, const config *c)
{
    scoresde_mlp_options o;
    check(scoresde_model_mlp_options_init(&o, sizeof o), "options");
    size_t widths[NH];
    for (int l = 0; l < NH; l++)
        widths[l] = H;
    o.n_hidden = NH;
    o.widths = widths;
    o.activation = SCORESDE_MLP_SILU;
    o.output = SCORESDE_MLP_OUTPUT_NOISE;
    o.embedding = SCORESDE_MLP_EMBED_SINUSOIDAL;
    o.embed_dim = EMBED;
    o.precision = c->f32 ? SCORESDE_MLP_FLOAT32 : SCORESDE_MLP_FLOAT64;
    o.n_threads = c->threads;
    scoresde_model *m = NULL;
    check(scoresde_model_create_mlp(&m, sde, c->D, &o), "model");
    return m;
}

static scoresde_sampler *make_sampler(int lik, size_t steps, const config *c)
{
    scoresde_sampler *s = NULL;
    if (lik) {
        check(scoresde_sampler_create(&s, SCORESDE_SAMPLER_ODE), "sampler");
        check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_SOLVER, SCORESDE_SAMPLER_SOLVER_RK4),
              "solver");
        check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_DIVERGENCE,
                                       SCORESDE_SAMPLER_DIVERGENCE_EXACT),
              "divergence");
    } else {
        check(scoresde_sampler_create(&s, SCORESDE_SAMPLER_PC), "sampler");
        check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_PREDICTOR,
                                       SCORESDE_SAMPLER_PREDICTOR_EULER_MARUYAMA),
              "predictor");
        check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_CORRECTOR,
                                       SCORESDE_SAMPLER_CORRECTOR_NONE),
              "corrector");
        check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_DENOISE, 0), "denoise");
    }
    check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_GRID, SCORESDE_SAMPLER_GRID_UNIFORM_T),
          "grid");
    check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, (int64_t)steps), "steps");
    check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_THREADS, c->threads), "threads");
    check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BLOCK, (int64_t)c->block), "block");
    return s;
}

static void print_times(const double *t, int n)
{
    printf("\"times\": [");
    for (int i = 0; i < n; i++)
        printf("%s%.6e", i ? ", " : "", t[i]);
    printf("]");
}

static void print_array(const char *name, const double *v, size_t n)
{
    printf(", \"%s\": [", name);
    for (size_t i = 0; i < n; i++)
        printf("%s%.17g", i ? ", " : "", v[i]);
    printf("]");
}

/* ---------------------------------------------------------------- workloads */

static double run_train(const config *c, double *t)
{
    scoresde_sde *sde = NULL;
    check(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP), "sde");
    scoresde_model *m = make_model(sde, c);
    scoresde_loss *loss = NULL;
    check(scoresde_loss_create(&loss, SCORESDE_LOSS_DSM), "loss");
    scoresde_trainer *tr = NULL;
    check(scoresde_trainer_create(&tr, m, loss), "trainer");
    double *x = xmalloc(c->n * c->D * sizeof *x), l = 0;
    scoresde_rng_normal(1, 0, 0, c->n * c->D, x);
    for (int i = 0; i < c->warm; i++)
        check(scoresde_trainer_step(tr, x, c->n, c->D, &l), "step");
    for (int i = 0; i < c->reps; i++) {
        double t0 = now();
        check(scoresde_trainer_step(tr, x, c->n, c->D, &l), "step");
        t[i] = now() - t0;
    }
    free(x);
    scoresde_trainer_free(tr);
    scoresde_loss_free(loss);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    return l;
}

/* sample: the mean of the samples' squared norms per dimension;
 * lik: the mean log-likelihood per dimension. */
static double run_solve(const config *c, int lik, double *t)
{
    scoresde_sde *sde = NULL;
    check(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP), "sde");
    scoresde_model *m = make_model(sde, c);
    scoresde_sampler *warm = make_sampler(lik, (size_t)c->warm, c);
    scoresde_sampler *s = make_sampler(lik, c->steps, c);
    size_t nD = c->n * c->D;
    double *x = xmalloc(nD * sizeof *x), *out = xmalloc(nD * sizeof *out);
    double *logp = xmalloc(c->n * sizeof *logp), summary = 0;
    scoresde_rng_normal(3, 0, 0, nD, x);
    for (int i = -1; i < c->reps; i++) { /* i = -1: the short warm-up run */
        const scoresde_sampler *run = i < 0 ? warm : s;
        double t0 = now();
        if (lik)
            check(scoresde_sampler_likelihood(run, m, x, c->n, c->D, 5, 0, logp, NULL, NULL),
                  "likelihood");
        else
            check(scoresde_sampler_sample(run, m, NULL, c->n, c->D, 5, 0, out, NULL), "sample");
        if (i >= 0)
            t[i] = now() - t0;
    }
    double acc = 0;
    if (lik) {
        for (size_t i = 0; i < c->n; i++)
            acc += logp[i];
        summary = acc / (double)nD;
    } else {
        for (size_t i = 0; i < nD; i++)
            acc += out[i] * out[i];
        summary = acc / (double)nD;
    }
    free(x);
    free(out);
    free(logp);
    scoresde_sampler_free(warm);
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    return summary;
}

/* ------------------------------------------------------------- GEMM bound */

typedef struct gemm_set {
    int f32;
    rntm_t rntm;
    size_t rows, dims[NH + 2];
    void *h[NH + 2], *w[NH + 1], *g[NH + 2];
    double flops;
} gemm_set;

/* Buffers of small non-zero values (never-written pages would all map the
 * kernel's zero page and flatter the bound). */
static void *filled(size_t n, int f32)
{
    void *p = xmalloc(n * (f32 ? sizeof(float) : sizeof(double)));
    for (size_t i = 0; i < n; i++) {
        double v = 1e-3 * (double)((i * 2654435761u) % 1000) - 0.5;
        if (f32)
            ((float *)p)[i] = (float)v;
        else
            ((double *)p)[i] = v;
    }
    return p;
}

static void gemm_set_init(gemm_set *g, int f32, int threads, size_t rows, size_t in)
{
    memset(g, 0, sizeof *g);
    g->f32 = f32;
    g->rows = rows;
    size_t dims[NH + 2] = {in, H, H, H, in};
    memcpy(g->dims, dims, sizeof dims);
    for (size_t l = 0; l <= NH + 1; l++) {
        g->h[l] = filled(rows * dims[l], f32);
        g->g[l] = filled(rows * dims[l], f32);
    }
    for (size_t l = 0; l <= NH; l++)
        g->w[l] = filled(dims[l + 1] * dims[l], f32);
    bli_rntm_init(&g->rntm);
    bli_rntm_set_num_threads(threads, &g->rntm);
}

static void gemm_set_free(gemm_set *g)
{
    for (size_t l = 0; l <= NH + 1; l++) {
        free(g->h[l]);
        free(g->g[l]);
    }
    for (size_t l = 0; l <= NH; l++)
        free(g->w[l]);
}

/* C (m x n, row stride rsc) = A B (+ C if acc), general strides. */
static void gemm(gemm_set *g, size_t m, size_t n, size_t k, void *a, size_t rsa, size_t csa,
                 void *b, size_t rsb, size_t csb, int acc, void *c, size_t rsc)
{
    g->flops += 2.0 * (double)m * (double)n * (double)k;
    if (g->f32) {
        float one = 1, beta = acc ? 1.0f : 0.0f;
        bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)m, (dim_t)n, (dim_t)k, &one, a,
                     (inc_t)rsa, (inc_t)csa, b, (inc_t)rsb, (inc_t)csb, &beta, c, (inc_t)rsc, 1,
                     NULL, &g->rntm);
    } else {
        double one = 1, beta = acc ? 1.0 : 0.0;
        bli_dgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)m, (dim_t)n, (dim_t)k, &one, a,
                     (inc_t)rsa, (inc_t)csa, b, (inc_t)rsb, (inc_t)csb, &beta, c, (inc_t)rsc, 1,
                     NULL, &g->rntm);
    }
}

/* The forward GEMMs H_l = H_{l-1} W_l^T (W_l is out x in, row-major), and
 * with `backward` the parameter gradients G_l^T H_{l-1} of every layer and
 * the input gradients G_l W_l of every layer but the first. */
static void gemm_set_run(gemm_set *g, int backward)
{
    size_t m = g->rows;
    for (size_t l = 1; l <= NH + 1; l++) {
        size_t in = g->dims[l - 1], out = g->dims[l];
        gemm(g, m, out, in, g->h[l - 1], in, 1, g->w[l - 1], 1, in, 0, g->h[l], out);
    }
    if (!backward)
        return;
    for (size_t l = NH + 1; l >= 1; l--) {
        size_t in = g->dims[l - 1], out = g->dims[l];
        /* dW_l (out x in) = G_l^T (out x m) H_{l-1} (m x in): stored in w[l-1]'s shape */
        gemm(g, out, in, m, g->g[l], 1, out, g->h[l - 1], in, 1, 1, g->w[l - 1], in);
        if (l > 1) /* G_{l-1} (m x in) = G_l (m x out) W_l (out x in) */
            gemm(g, m, in, out, g->g[l], out, 1, g->w[l - 1], in, 1, 0, g->g[l - 1], in);
    }
}

/* The minimum over reps of one run of the set, and its flops. */
static double gemm_set_time(gemm_set *g, int backward, int reps, double *flops)
{
    double best = INFINITY;
    gemm_set_run(g, backward); /* warm-up */
    for (int r = 0; r < reps; r++) {
        g->flops = 0;
        double t0 = now();
        gemm_set_run(g, backward);
        double dt = now() - t0;
        if (dt < best)
            best = dt;
    }
    *flops = g->flops;
    return best;
}

static void run_gemm(const config *c)
{
    gemm_set g;
    double fl_fwd, fl_tan, fl_train;
    size_t in = c->D + EMBED;
    /* a forward pass: the first layer reads the D inputs and the time features */
    gemm_set_init(&g, c->f32, c->threads, GEMM_ROWS, in);
    g.dims[NH + 1] = c->D;
    double fwd = gemm_set_time(&g, 0, c->reps, &fl_fwd);
    gemm_set_free(&g);
    /* a tangent pass: the first layer's tangent input is the D coordinates only */
    gemm_set_init(&g, c->f32, c->threads, GEMM_ROWS, c->D);
    double tan = gemm_set_time(&g, 0, c->reps, &fl_tan);
    gemm_set_free(&g);
    /* one training step's forward and parameter backward at batch n */
    gemm_set_init(&g, c->f32, c->threads, c->n, in);
    g.dims[NH + 1] = c->D;
    double train = gemm_set_time(&g, 1, c->reps, &fl_train);
    gemm_set_free(&g);
    printf("\"blis\": \"BLIS %s\", ", bli_info_get_version_str());
    printf("\"fwd_per_row\": %.6e, \"tan_per_row\": %.6e, \"train_step\": %.6e, "
           "\"fwd_flops_per_row\": %.6e, \"tan_flops_per_row\": %.6e, \"train_flops\": %.6e",
           fwd / GEMM_ROWS, tan / GEMM_ROWS, train, fl_fwd / GEMM_ROWS, fl_tan / GEMM_ROWS,
           fl_train);
}

/* ------------------------------------------------------------------ check */

static void run_check(const config *c)
{
    scoresde_sde *sde = NULL;
    check(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP), "sde");
    scoresde_model *m = make_model(sde, c);
    size_t np = scoresde_model_num_params(m), D = c->D, nD = CHECK_N * D;
    double *theta = xmalloc(np * sizeof *theta);
    check(scoresde_model_get_params(m, theta, np), "params");
    double x[CHECK_N * 4096], t[CHECK_N], score[CHECK_N * 4096], div[CHECK_N];
    double alpha[CHECK_N], sigma[CHECK_N], g2[CHECK_N], logp[CHECK_N];
    if (D > 4096) {
        fprintf(stderr, "bench_peer: check takes D <= 4096\n");
        exit(1);
    }
    scoresde_rng_normal(11, 0, 0, nD, x);
    for (size_t i = 0; i < CHECK_N; i++)
        t[i] = 0.02 + 0.96 * (double)i / (CHECK_N - 1);
    check(scoresde_model_score(m, x, t, CHECK_N, D, score), "score");
    check(scoresde_model_divergence(m, x, t, CHECK_N, D, div), "divergence");
    check(scoresde_sde_marginal(sde, t, CHECK_N, alpha, sigma, NULL, NULL), "marginal");
    check(scoresde_sde_diffusion(sde, t, CHECK_N, g2), "diffusion");
    for (size_t i = 0; i < CHECK_N; i++)
        g2[i] *= g2[i];
    scoresde_sampler *s = make_sampler(1, c->steps, c);
    check(scoresde_sampler_likelihood(s, m, x, CHECK_N, D, 5, 0, logp, NULL, NULL),
          "likelihood");
    printf("\"eps_train\": %.17g, \"eps_sample\": %.17g", scoresde_sde_training_eps(sde),
           scoresde_sde_sampling_eps(sde));
    print_array("params", theta, np);
    print_array("x", x, nD);
    print_array("t", t, CHECK_N);
    print_array("score", score, nD);
    print_array("div", div, CHECK_N);
    print_array("alpha", alpha, CHECK_N);
    print_array("sigma", sigma, CHECK_N);
    print_array("g2", g2, CHECK_N);
    print_array("logp", logp, CHECK_N);
    free(theta);
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}

/* ------------------------------------------------------------------- main */

static int usage(void)
{
    fprintf(stderr, "usage: bench_peer train|sample|lik|gemm|check D f32|f64 THREADS "
                    "[n=N] [steps=N] [reps=N] [warm=N] [block=N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    long base = maxrss_kb();
    if (argc < 5)
        return usage();
    config c = {.mode = argv[1]};
    long D = strtol(argv[2], NULL, 10), th = strtol(argv[4], NULL, 10);
    if (D < 1 || D > 4096 || th < 1 || th > 64)
        return usage();
    c.D = (size_t)D;
    c.threads = (int)th;
    if (strcmp(argv[3], "f32") == 0)
        c.f32 = 1;
    else if (strcmp(argv[3], "f64") != 0)
        return usage();
    const int train = !strcmp(c.mode, "train"), sample = !strcmp(c.mode, "sample");
    const int lik = !strcmp(c.mode, "lik"), gemm_mode = !strcmp(c.mode, "gemm");
    const int check_mode = !strcmp(c.mode, "check");
    if (!(train || sample || lik || gemm_mode || check_mode))
        return usage();
    c.n = sample ? 10000 : lik ? 1000 : 4096;
    c.steps = sample ? 200 : 50;
    c.reps = train ? 5 : gemm_mode ? 5 : 1;
    c.warm = lik ? 1 : 2;
    c.block = 256;
    for (int a = 5; a < argc; a++) {
        const char *eq = strchr(argv[a], '=');
        if (eq == NULL)
            return usage();
        long v = strtol(eq + 1, NULL, 10);
        size_t klen = (size_t)(eq - argv[a]);
        if (v < 1)
            return usage();
        if (klen == 1 && argv[a][0] == 'n')
            c.n = (size_t)v;
        else if (klen == 5 && !strncmp(argv[a], "steps", 5))
            c.steps = (size_t)v;
        else if (klen == 4 && !strncmp(argv[a], "reps", 4) && v <= MAX_REP)
            c.reps = (int)v;
        else if (klen == 4 && !strncmp(argv[a], "warm", 4))
            c.warm = (int)v;
        else if (klen == 5 && !strncmp(argv[a], "block", 5))
            c.block = (size_t)v;
        else
            return usage();
    }
    if (check_mode && c.f32) {
        fprintf(stderr, "bench_peer: check compares float64 models\n");
        return 2;
    }
    static double t[MAX_REP];
    printf("{\"side\": \"lib\", \"mode\": \"%s\", \"D\": %zu, \"prec\": \"%s\", \"threads\": %d, "
           "\"n\": %zu, \"steps\": %zu, \"block\": %zu, ",
           c.mode, c.D, c.f32 ? "f32" : "f64", c.threads, c.n, c.steps, c.block);
    if (train || sample || lik) {
        double summary = train ? run_train(&c, t) : run_solve(&c, lik, t);
        print_times(t, c.reps);
        printf(", \"summary\": %.10g", summary);
    } else if (gemm_mode) {
        run_gemm(&c);
    } else {
        run_check(&c);
    }
    printf(", \"maxrss_kb\": %ld, \"base_kb\": %ld}\n", maxrss_kb(), base);
    return 0;
}
