/*
 * sbi: simulation-based inference with a conditional score network.
 *
 * The simulator is written here in C: a parameter theta in R^2 drawn from the
 * prior N(0, I) gives an observation in R^3,
 *     y = A theta + b + e,    e ~ N(0, diag(se)).
 * The program
 *   1. simulates m pairs (theta_j, y_j);
 *   2. trains a conditional MLP (the condition is y) with denoising score
 *      matching on them (scoresde_trainer_fit_cond): it learns the score of
 *      the posterior p(theta | y) for every y at once (neural posterior
 *      estimation with a score model);
 *   3. samples the posterior for one observation y_o, the condition given
 *      once for all samples (scoresde_cond with rows = 1), with DPM-Solver++;
 *   4. compares the sample mean and covariance with the exact posterior,
 *      which for this simulator is Gaussian with
 *          Sp = (I + A^T Se^-1 A)^-1,   mp = Sp A^T Se^-1 (y_o - b),
 *      computed below in closed form (2 x 2).
 * Exit status 1 if a coordinate of the sample mean is off the exact
 * posterior mean by more than 0.5 posterior standard deviations plus 5
 * standard errors of the sample mean (a generous bound: a short training run
 * leaves the network's own error, which is the figure of interest, well
 * inside it), 2 on a library error or bad options.
 *
 * Only the public API is used: copy from it freely.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <scoresde.h>

enum { D = 2, C = 3 };

/* The simulator's constants: A (C x D, row-major), b and the noise variances. */
static const double A[C * D] = {1.0, 0.5, -0.3, 1.0, 0.8, -0.6};
static const double B[C] = {0.2, -0.1, 0.4};
static const double SE[C] = {0.1, 0.1, 0.2};

typedef struct options {
    unsigned long long sims, steps, samples, seed;
} options;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: scoresde-sbi [options]\n"
            "Posterior estimation for a linear-Gaussian simulator (theta in R^2, y in R^3)\n"
            "with a conditional score network, against the exact posterior.\n"
            "  --sims N      simulated (theta, y) pairs to train on (default 20000)\n"
            "  --steps N     training steps (default 3000)\n"
            "  --samples N   posterior samples for the observation (default 4000)\n"
            "  --seed N      seed of simulation, training and sampling (default 1)\n"
            "  --help        this text\n");
}

/* 0 on success, 1 to stop with status 0 (--help), -1 on bad options. */
static int parse(int argc, char **argv, options *o)
{
    for (int a = 1; a < argc; a++) {
        unsigned long long *dst = NULL;
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
            usage(stdout);
            return 1;
        } else if (strcmp(argv[a], "--sims") == 0) {
            dst = &o->sims;
        } else if (strcmp(argv[a], "--steps") == 0) {
            dst = &o->steps;
        } else if (strcmp(argv[a], "--samples") == 0) {
            dst = &o->samples;
        } else if (strcmp(argv[a], "--seed") == 0) {
            dst = &o->seed;
        } else {
            fprintf(stderr, "scoresde-sbi: unknown option %s\n", argv[a]);
            usage(stderr);
            return -1;
        }
        char *end = NULL;
        if (a + 1 >= argc || argv[a + 1][0] == '-' ||
            (*dst = strtoull(argv[a + 1], &end, 10), *end != '\0' || end == argv[a + 1])) {
            fprintf(stderr, "scoresde-sbi: %s needs a non-negative integer\n", argv[a]);
            return -1;
        }
        a++;
    }
    if (o->sims < 2 || o->samples < 2 || o->steps < 1 || o->sims > 100000000ULL ||
        o->samples > 100000000ULL) {
        fprintf(stderr, "scoresde-sbi: --sims and --samples need 2 .. 1e8, --steps >= 1\n");
        return -1;
    }
    return 0;
}

/* y = A theta + b + sqrt(se) z for each of the n rows (z: n x C standard normals). */
static void simulate(const double *theta, const double *z, size_t n, double *y)
{
    for (size_t i = 0; i < n; i++)
        for (int r = 0; r < C; r++) {
            double v = B[r] + sqrt(SE[r]) * z[i * C + r];
            for (int k = 0; k < D; k++)
                v += A[r * D + k] * theta[i * D + k];
            y[i * C + r] = v;
        }
}

/* The exact posterior for observation y: prior N(0, I), so
 * precision P = I + A^T Se^-1 A and mean Sp A^T Se^-1 (y - b). */
static void exact_posterior(const double *y, double mp[D], double Sp[D * D])
{
    double P[D * D] = {1.0, 0.0, 0.0, 1.0}, h[D] = {0.0, 0.0};
    for (int r = 0; r < C; r++)
        for (int k = 0; k < D; k++) {
            h[k] += A[r * D + k] * (y[r] - B[r]) / SE[r];
            for (int l = 0; l < D; l++)
                P[k * D + l] += A[r * D + k] * A[r * D + l] / SE[r];
        }
    double det = P[0] * P[3] - P[1] * P[2];
    Sp[0] = P[3] / det;
    Sp[1] = Sp[2] = -P[1] / det;
    Sp[3] = P[0] / det;
    mp[0] = Sp[0] * h[0] + Sp[1] * h[1];
    mp[1] = Sp[2] * h[0] + Sp[3] * h[1];
}

static void moments(const double *x, size_t n, double mean[D], double cov[D * D])
{
    for (int k = 0; k < D; k++) {
        mean[k] = 0.0;
        for (size_t i = 0; i < n; i++)
            mean[k] += x[i * D + k] / (double)n;
    }
    for (int k = 0; k < D; k++)
        for (int l = 0; l < D; l++) {
            double s = 0.0;
            for (size_t i = 0; i < n; i++)
                s += (x[i * D + k] - mean[k]) * (x[i * D + l] - mean[l]);
            cov[k * D + l] = s / (double)(n - 1);
        }
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "scoresde-sbi: %s failed: %s: %s\n", what, scoresde_strerror(rc),
            scoresde_last_error());
    return 2;
}

int main(int argc, char **argv)
{
    options o = {.sims = 20000, .steps = 3000, .samples = 4000, .seed = 1};
    int p = parse(argc, argv, &o);
    if (p != 0)
        return p > 0 ? 0 : 2;
    const size_t m = (size_t)o.sims, n = (size_t)o.samples;
    int status = 0, rc;
    scoresde_sde *sde = NULL;
    scoresde_model *net = NULL, *ema = NULL;
    scoresde_loss *loss = NULL;
    scoresde_trainer *trainer = NULL;
    scoresde_sampler *dpm = NULL;
    double *theta = malloc(m * D * sizeof *theta), *z = malloc(m * C * sizeof *z);
    double *y = malloc(m * C * sizeof *y), *post = malloc(n * D * sizeof *post);
    if (theta == NULL || z == NULL || y == NULL || post == NULL) {
        fprintf(stderr, "scoresde-sbi: out of memory\n");
        status = 2;
        goto done;
    }

#define TRY(what, call)                                                                        \
    do {                                                                                       \
        if ((rc = (call)) != SCORESDE_OK) {                                                    \
            status = fail(what, rc);                                                           \
            goto done;                                                                         \
        }                                                                                      \
    } while (0)

    /* 1. Simulate: theta from the prior (stream 0), the simulator's noise (stream 1). */
    const uint64_t sim = SCORESDE_RNG_OFFSET(SCORESDE_RNG_SIMULATE, 0);
    TRY("drawing theta", scoresde_rng_normal(o.seed, 0, sim, m * D, theta));
    TRY("drawing the noise", scoresde_rng_normal(o.seed, 1, sim, m * C, z));
    simulate(theta, z, m, y);

    /* The observation: the simulator at a fixed theta_o with its own noise (stream 2). */
    const double theta_o[D] = {0.7, -0.4};
    double z_o[C], y_o[C], mp[D], Sp[D * D];
    TRY("drawing the observation's noise", scoresde_rng_normal(o.seed, 2, sim, C, z_o));
    simulate(theta_o, z_o, 1, y_o);
    exact_posterior(y_o, mp, Sp);

    /* 2. A conditional MLP, y entering through a learned embedding, trained with DSM. */
    TRY("creating the SDE", scoresde_sde_create_default(&sde, SCORESDE_SDE_VP));
    scoresde_mlp_options mo;
    TRY("initialising the MLP options", scoresde_model_mlp_options_init(&mo, sizeof mo));
    const size_t widths[2] = {64, 64};
    mo.n_hidden = 2;
    mo.widths = widths;
    mo.cond_dim = C;
    mo.seed = o.seed;
    TRY("creating the MLP", scoresde_model_create_mlp(&net, sde, D, &mo));
    TRY("creating the loss", scoresde_loss_create(&loss, SCORESDE_LOSS_DSM));
    TRY("creating the trainer", scoresde_trainer_create(&trainer, net, loss));
    TRY("setting LR", scoresde_trainer_set_double(trainer, SCORESDE_TRAIN_LR, 3e-3));
    TRY("setting WARMUP", scoresde_trainer_set_int(trainer, SCORESDE_TRAIN_WARMUP, 100));
    TRY("setting EMA_RATE", scoresde_trainer_set_double(trainer, SCORESDE_TRAIN_EMA_RATE, 0.995));
    TRY("setting BATCH", scoresde_trainer_set_int(trainer, SCORESDE_TRAIN_BATCH, 256));
    TRY("setting SEED", scoresde_trainer_set_int(trainer, SCORESDE_TRAIN_SEED, (int64_t)o.seed));
    scoresde_cond pairs = {sizeof pairs, C, y, m, NULL}; /* row j: theta_j's observation */
    TRY("training", scoresde_trainer_fit_cond(trainer, theta, m, D, &pairs, o.steps, NULL, NULL));
    TRY("exporting the EMA model", scoresde_trainer_export(&ema, trainer, SCORESDE_TRAIN_EXPORT_EMA));

    /* 3. The posterior for y_o: one condition row for every sample. */
    TRY("creating the sampler", scoresde_sampler_create(&dpm, SCORESDE_SAMPLER_DPMPP));
    TRY("setting STEPS", scoresde_sampler_set_int(dpm, SCORESDE_SAMPLER_STEPS, 50));
    scoresde_cond obs = {sizeof obs, C, y_o, 1, NULL};
    TRY("sampling the posterior",
        scoresde_sampler_sample_cond(dpm, ema, NULL, n, D, &obs, o.seed, 0, post, NULL));

    /* 4. Against the closed form. */
    double mean[D], cov[D * D];
    moments(post, n, mean, cov);
    printf("linear-Gaussian simulator: theta ~ N(0, I_2), y = A theta + b + e in R^3\n");
    printf("%zu simulations, %llu DSM steps (2 x 64 MLP), %zu posterior samples (DPM-Solver++, 50 steps)\n",
           m, o.steps, n);
    printf("observation y_o = (%.4f, %.4f, %.4f) from theta_o = (%.2f, %.2f)\n\n", y_o[0], y_o[1],
           y_o[2], theta_o[0], theta_o[1]);
    printf("  %-22s %12s %12s %12s\n", "", "sample", "exact", "|diff|/sd");
    int ok = 1;
    for (int k = 0; k < D; k++) {
        double sd = sqrt(Sp[k * D + k]), off = fabs(mean[k] - mp[k]);
        char name[32];
        snprintf(name, sizeof name, "mean[%d]", k);
        printf("  %-22s %12.4f %12.4f %12.3f\n", name, mean[k], mp[k], off / sd);
        if (off > 0.5 * sd + 5.0 * sd / sqrt((double)n))
            ok = 0;
    }
    for (int k = 0; k < D; k++)
        for (int l = k; l < D; l++) {
            char name[32];
            snprintf(name, sizeof name, "cov[%d][%d]", k, l);
            printf("  %-22s %12.5f %12.5f %12s\n", name, cov[k * D + l], Sp[k * D + l], "");
        }
    printf("\nposterior mean %s (tolerance: 0.5 posterior sd + 5 standard errors per coordinate)\n",
           ok ? "within tolerance" : "OFF");
    if (!ok)
        status = 1;

done:
    scoresde_sampler_free(dpm);
    scoresde_model_free(ema);
    scoresde_trainer_free(trainer);
    scoresde_loss_free(loss);
    scoresde_model_free(net);
    scoresde_sde_free(sde);
    free(post);
    free(y);
    free(z);
    free(theta);
    return status;
}
