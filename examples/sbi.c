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
 * --two-moons runs the two-moons task of the SBI benchmark (Greenberg et al.
 * 2019; Lueckmann et al. 2021) instead: theta uniform on [-1, 1]^2, and
 *     y = (r cos a + 0.25 - |theta_1 + theta_2| / sqrt 2,
 *          r sin a + (theta_2 - theta_1) / sqrt 2),
 * a ~ U(-pi/2, pi/2), r ~ N(0.1, 0.01^2). For y_o = (0, 0) the posterior is
 * two thin crescents, mirror images across theta_1 + theta_2 = 0; mapping a
 * sample back to p = y_o + (|theta_1 + theta_2|, theta_1 - theta_2) / sqrt 2
 * must give back the simulator's radius |p - (0.25, 0)| ~ N(0.1, 0.01^2)
 * and angle, uniform on (-pi/2, pi/2) (the prior's box does not cut the
 * crescents, and the map is a rotation on each half, so the posterior is
 * the simulator's noise carried over). The program prints these shape
 * figures and exits 1 if either crescent holds less than 30% of the
 * samples or the mean radius is more than 0.05 off 0.1 (generous: a short
 * run blurs crescents 0.01 wide; the posterior not learnt at all, the
 * prior, gives a mean radius of about 0.64).
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

static const double PI = 3.14159265358979323846;

/* The linear-Gaussian simulator's constants: A (C x D, row-major), b and the noise variances. */
static const double A[C * D] = {1.0, 0.5, -0.3, 1.0, 0.8, -0.6};
static const double B[C] = {0.2, -0.1, 0.4};
static const double SE[C] = {0.1, 0.1, 0.2};

typedef struct options {
    unsigned long long sims, steps, samples, seed;
    int two_moons;
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
            "  --two-moons   the two-moons benchmark task instead (y in R^2), shape figures\n"
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
        } else if (strcmp(argv[a], "--two-moons") == 0) {
            o->two_moons = 1;
            continue;
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

/* Each function below keeps `status` and a `done` label for TRY. */
#define TRY(what, call)                                                                        \
    do {                                                                                       \
        int rc_ = (call);                                                                      \
        if (rc_ != SCORESDE_OK) {                                                              \
            status = fail(what, rc_);                                                          \
            goto done;                                                                         \
        }                                                                                      \
    } while (0)

/* Train a conditional MLP (the condition: the c_dim numbers of y) with DSM on
 * the m pairs (theta_j, y_j), then draw n samples of the posterior for y_o:
 * one condition row for every sample. Returns 0, or 2 on a library error. */
static int learn_posterior(const options *o, size_t c_dim, const double *theta, const double *y,
                           const double *y_o, double *post)
{
    int status = 0;
    scoresde_sde *sde = NULL;
    scoresde_model *net = NULL, *ema = NULL;
    scoresde_loss *loss = NULL;
    scoresde_trainer *trainer = NULL;
    scoresde_sampler *dpm = NULL;
    TRY("creating the SDE", scoresde_sde_create_default(&sde, SCORESDE_SDE_VP));
    scoresde_mlp_options mo;
    TRY("initialising the MLP options", scoresde_model_mlp_options_init(&mo, sizeof mo));
    const size_t widths[2] = {64, 64};
    mo.n_hidden = 2;
    mo.widths = widths;
    mo.cond_dim = c_dim; /* y enters through a learned embedding, in every hidden layer
                            (EMBED_LAYERS, the default) */
    mo.seed = o->seed;
    TRY("creating the MLP", scoresde_model_create_mlp(&net, sde, D, &mo));
    TRY("creating the loss", scoresde_loss_create(&loss, SCORESDE_LOSS_DSM));
    TRY("creating the trainer", scoresde_trainer_create(&trainer, net, loss));
    TRY("setting LR", scoresde_trainer_set_double(trainer, SCORESDE_TRAIN_LR, 3e-3));
    TRY("setting WARMUP", scoresde_trainer_set_int(trainer, SCORESDE_TRAIN_WARMUP, 100));
    TRY("setting EMA_RATE", scoresde_trainer_set_double(trainer, SCORESDE_TRAIN_EMA_RATE, 0.995));
    TRY("setting BATCH", scoresde_trainer_set_int(trainer, SCORESDE_TRAIN_BATCH, 256));
    TRY("setting SEED", scoresde_trainer_set_int(trainer, SCORESDE_TRAIN_SEED, (int64_t)o->seed));
    scoresde_cond pairs = {sizeof pairs, c_dim, y, (size_t)o->sims, NULL}; /* row j: y_j */
    TRY("training", scoresde_trainer_fit_cond(trainer, theta, (size_t)o->sims, D, &pairs, o->steps,
                                              NULL, NULL));
    TRY("exporting the EMA model", scoresde_trainer_export(&ema, trainer, SCORESDE_TRAIN_EXPORT_EMA));
    TRY("creating the sampler", scoresde_sampler_create(&dpm, SCORESDE_SAMPLER_DPMPP));
    TRY("setting STEPS", scoresde_sampler_set_int(dpm, SCORESDE_SAMPLER_STEPS, 50));
    scoresde_cond obs = {sizeof obs, c_dim, y_o, 1, NULL};
    TRY("sampling the posterior", scoresde_sampler_sample_cond(dpm, ema, NULL, (size_t)o->samples,
                                                               D, &obs, o->seed, 0, post, NULL));
    printf("%llu simulations, %llu DSM steps (2 x 64 MLP), %llu posterior samples "
           "(DPM-Solver++, 50 steps)\n", o->sims, o->steps, o->samples);
done:
    scoresde_sampler_free(dpm);
    scoresde_model_free(ema);
    scoresde_trainer_free(trainer);
    scoresde_loss_free(loss);
    scoresde_model_free(net);
    scoresde_sde_free(sde);
    return status;
}

/* The linear-Gaussian task against its closed-form posterior: 0, 1 (mean
 * off) or 2. theta: sims x D, y and z: sims x C, post: samples x D. */
static int run_linear_gaussian(const options *o, double *theta, double *y, double *z, double *post)
{
    int status = 0;
    const size_t m = (size_t)o->sims, n = (size_t)o->samples;
    /* theta from the prior (stream 0), the simulator's noise (stream 1). */
    const uint64_t sim = SCORESDE_RNG_OFFSET(SCORESDE_RNG_SIMULATE, 0);
    TRY("drawing theta", scoresde_rng_normal(o->seed, 0, sim, m * D, theta));
    TRY("drawing the noise", scoresde_rng_normal(o->seed, 1, sim, m * C, z));
    simulate(theta, z, m, y);

    /* The observation: the simulator at a fixed theta_o with its own noise (stream 2). */
    const double theta_o[D] = {0.7, -0.4};
    double z_o[C], y_o[C], mp[D], Sp[D * D];
    TRY("drawing the observation's noise", scoresde_rng_normal(o->seed, 2, sim, C, z_o));
    simulate(theta_o, z_o, 1, y_o);
    exact_posterior(y_o, mp, Sp);

    printf("linear-Gaussian simulator: theta ~ N(0, I_2), y = A theta + b + e in R^3\n");
    if ((status = learn_posterior(o, C, theta, y, y_o, post)) != 0)
        goto done;
    double mean[D], cov[D * D];
    moments(post, n, mean, cov);
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
            printf("  %-22s %12.5f %12.5f\n", name, cov[k * D + l], Sp[k * D + l]);
        }
    printf("\nposterior mean %s (tolerance: 0.5 posterior sd + 5 standard errors per coordinate)\n",
           ok ? "within tolerance" : "OFF");
    status = ok ? 0 : 1;
done:
    return status;
}

/* The two-moons simulator for n rows: u (n uniforms) gives the angle, z (n
 * standard normals) the radius. */
static void simulate_moons(const double *theta, const double *u, const double *z, size_t n,
                           double *y)
{
    for (size_t i = 0; i < n; i++) {
        double a = PI * (u[i] - 0.5), r = 0.1 + 0.01 * z[i];
        double t1 = theta[i * D], t2 = theta[i * D + 1];
        y[i * 2] = r * cos(a) + 0.25 - fabs(t1 + t2) / sqrt(2.0);
        y[i * 2 + 1] = r * sin(a) + (t2 - t1) / sqrt(2.0);
    }
}

/* The two-moons task for y_o = (0, 0) with its shape figures: 0, 1 or 2.
 * theta: sims x D, y: sims x 2, un: 2 sims scratch, post: samples x D. */
static int run_two_moons(const options *o, double *theta, double *y, double *un, double *post)
{
    int status = 0;
    const size_t m = (size_t)o->sims, n = (size_t)o->samples;
    const uint64_t sim = SCORESDE_RNG_OFFSET(SCORESDE_RNG_SIMULATE, 0);
    TRY("drawing theta", scoresde_rng_uniform(o->seed, 0, sim, m * D, theta));
    for (size_t k = 0; k < m * D; k++)
        theta[k] = 2.0 * theta[k] - 1.0; /* U(-1, 1)^2 */
    TRY("drawing the angles", scoresde_rng_uniform(o->seed, 1, sim, m, un));
    TRY("drawing the radii", scoresde_rng_normal(o->seed, 2, sim, m, un + m));
    simulate_moons(theta, un, un + m, m, y);

    printf("two moons: theta ~ U(-1, 1)^2, y in R^2, observation y_o = (0, 0)\n");
    const double y_o[2] = {0.0, 0.0};
    if ((status = learn_posterior(o, 2, theta, y, y_o, post)) != 0)
        goto done;
    /* Back through the simulator: p = y_o + (|t1 + t2|, t1 - t2) / sqrt 2. */
    double upper = 0, in_box = 0, r_mean = 0, r_sq = 0, a_sq = 0, front = 0;
    for (size_t i = 0; i < n; i++) {
        double t1 = post[i * D], t2 = post[i * D + 1];
        double p1 = y_o[0] + fabs(t1 + t2) / sqrt(2.0), p2 = y_o[1] + (t1 - t2) / sqrt(2.0);
        double r = hypot(p1 - 0.25, p2), a = atan2(p2, p1 - 0.25);
        upper += (t1 + t2 > 0) / (double)n;
        in_box += (fabs(t1) <= 1 && fabs(t2) <= 1) / (double)n;
        front += (fabs(a) <= PI / 2) / (double)n;
        r_mean += r / (double)n;
        r_sq += r * r / (double)n;
        a_sq += a * a / (double)n;
    }
    double r_sd = sqrt(fmax(r_sq - r_mean * r_mean, 0.0) * (double)n / (double)(n - 1));
    printf("\n  %-40s %10s %10s\n", "shape figure", "sample", "exact");
    printf("  %-40s %10.4f %10.4f\n", "crescent theta_1 + theta_2 > 0 (share)", upper, 0.5);
    printf("  %-40s %10.4f %10.4f\n", "inside the prior's box (share)", in_box, 1.0);
    printf("  %-40s %10.4f %10.4f\n", "radius |p - (0.25, 0)|, mean", r_mean, 0.1);
    printf("  %-40s %10.4f %10.4f\n", "radius, standard deviation", r_sd, 0.01);
    printf("  %-40s %10.4f %10.4f\n", "angle in [-pi/2, pi/2] (share)", front, 1.0);
    printf("  %-40s %10.4f %10.4f\n", "angle, root mean square", sqrt(a_sq), PI / sqrt(12.0));
    int ok = upper >= 0.3 && upper <= 0.7 && fabs(r_mean - 0.1) <= 0.05;
    printf("\ncrescents %s (tolerance: each holds >= 30%% of the samples, mean radius 0.1 +- 0.05)\n",
           ok ? "within tolerance" : "OFF");
    status = ok ? 0 : 1;
done:
    return status;
}

int main(int argc, char **argv)
{
    options o = {.sims = 20000, .steps = 3000, .samples = 4000, .seed = 1, .two_moons = 0};
    int p = parse(argc, argv, &o);
    if (p != 0)
        return p > 0 ? 0 : 2;
    const size_t m = (size_t)o.sims, n = (size_t)o.samples;
    double *theta = malloc(m * D * sizeof *theta), *y = malloc(m * C * sizeof *y);
    double *noise = malloc(m * C * sizeof *noise), *post = malloc(n * D * sizeof *post);
    int status;
    if (theta == NULL || y == NULL || noise == NULL || post == NULL) {
        fprintf(stderr, "scoresde-sbi: out of memory\n");
        status = 2;
    } else if (o.two_moons) {
        status = run_two_moons(&o, theta, y, noise, post);
    } else {
        status = run_linear_gaussian(&o, theta, y, noise, post);
    }
    free(post);
    free(noise);
    free(y);
    free(theta);
    return status;
}
