/*
 * forward-diffusion: forward diffusion of a 2-D data set, watched against theory.
 *
 * The program draws a two-moons (or swiss-roll) data set from the library's
 * counter-based generator, runs the forward SDE (VP by default, VE with --ve)
 * with the library's Euler-Maruyama simulation, and prints how the sample mean
 * and variance of each coordinate evolve next to the exact values
 *     E[x_t] = alpha(t) E[x_0],   Var[x_t] = alpha(t)^2 Var[x_0] + sigma(t)^2.
 * The z columns are the differences in standard errors (estimated from the
 * sample itself: the data are not Gaussian). The program exits with status 1 if
 * any |z| exceeds 6, so it doubles as a smoke test.
 *
 * Only the public API is used: copy from it freely.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <scoresde.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

enum { D = 2 };

static void usage(FILE *to)
{
    fprintf(to,
            "usage: scoresde-forward-diffusion [options]\n"
            "Forward-diffuse a 2-D data set and compare the sample moments with the\n"
            "exact alpha(t)^2 Var[x_0] + sigma(t)^2.\n"
            "\n"
            "  --ve            use the VE SDE (sigma from 0.01 to 50) instead of VP\n"
            "                  (beta from 0.1 to 20); VE paths start from x_0 + 0.01 z,\n"
            "                  the score_sde convention sigma(t) = s(t)\n"
            "  --swissroll     use a swiss roll instead of two moons\n"
            "  --n N           number of samples (default 10000)\n"
            "  --steps K       Euler-Maruyama steps per 0.1 of time (default 100)\n"
            "  --seed S        generator seed (default 2021)\n"
            "  --help          show this text\n"
            "\n"
            "Exit status: 0 if every |z| <= 6, 1 if not, 2 on bad usage or a library error.\n");
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "scoresde-forward-diffusion: %s: %s (%s)\n", what, scoresde_strerror(rc),
            scoresde_last_error());
    return 2;
}

/* Sample i uses stream i; the MODEL purpose offsets 0..3 give its uniforms. */
static int make_data(double *x, size_t n, int swissroll, uint64_t seed)
{
    for (size_t i = 0; i < n; i++) {
        double u[4], z[2];
        int rc = scoresde_rng_uniform(seed, i, SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, 0), 2, u);
        if (rc == SCORESDE_OK)
            rc = scoresde_rng_normal(seed, i, SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, 2), 2, z);
        if (rc != SCORESDE_OK)
            return rc;
        if (swissroll) {
            double t = 1.5 * M_PI * (1.0 + 2.0 * u[0]);
            x[i * D] = t * cos(t) / 10.0 + 0.05 * z[0];
            x[i * D + 1] = t * sin(t) / 10.0 + 0.05 * z[1];
        } else {
            double a = M_PI * u[0];
            int upper = u[1] < 0.5;
            x[i * D] = (upper ? cos(a) : 1.0 - cos(a)) + 0.1 * z[0];
            x[i * D + 1] = (upper ? sin(a) : 0.5 - sin(a)) + 0.1 * z[1];
        }
    }
    return SCORESDE_OK;
}

/* Mean, variance and fourth central moment of coordinate j. */
static void moments(const double *x, size_t n, size_t j, double *mean, double *var, double *m4)
{
    double m = 0.0, v = 0.0, q = 0.0;
    for (size_t i = 0; i < n; i++)
        m += x[i * D + j];
    m /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double d = x[i * D + j] - m;
        v += d * d;
        q += d * d * d * d;
    }
    *mean = m;
    *var = v / (double)(n - 1);
    *m4 = q / (double)n;
}

int main(int argc, char **argv)
{
    int ve = 0, swissroll = 0;
    size_t n = 10000, steps = 100;
    unsigned long long seed = 2021;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[a], "--ve") == 0) {
            ve = 1;
        } else if (strcmp(argv[a], "--swissroll") == 0) {
            swissroll = 1;
        } else if (a + 1 < argc && (strcmp(argv[a], "--n") == 0 || strcmp(argv[a], "--steps") == 0 ||
                                    strcmp(argv[a], "--seed") == 0)) {
            char *end;
            unsigned long long v = strtoull(argv[a + 1], &end, 10);
            if (*end != '\0' || end == argv[a + 1] || argv[a + 1][0] == '-') {
                fprintf(stderr, "scoresde-forward-diffusion: %s needs a non-negative integer\n", argv[a]);
                return 2;
            }
            if (strcmp(argv[a], "--seed") == 0)
                seed = v;
            else if (strcmp(argv[a], "--n") == 0)
                n = (size_t)v;
            else
                steps = (size_t)v;
            a++;
        } else {
            fprintf(stderr, "scoresde-forward-diffusion: unknown argument '%s'\n", argv[a]);
            usage(stderr);
            return 2;
        }
    }
    if (n < 2 || steps < 1) {
        fprintf(stderr, "scoresde-forward-diffusion: --n must be at least 2 and --steps at least 1\n");
        return 2;
    }

    scoresde_sde *sde = NULL;
    int rc = scoresde_sde_create_default(&sde, ve ? SCORESDE_SDE_VE : SCORESDE_SDE_VP);
    if (rc != SCORESDE_OK)
        return fail("creating the SDE", rc);
    double *x0 = malloc(n * D * sizeof *x0), *x = malloc(n * D * sizeof *x);
    double *tv = malloc(n * sizeof *tv);
    if (x0 == NULL || x == NULL || tv == NULL) {
        fprintf(stderr, "scoresde-forward-diffusion: out of memory\n");
        return 2;
    }
    int status = 0;
    rc = make_data(x0, n, swissroll, seed);
    if (rc != SCORESDE_OK) {
        status = fail("making the data", rc);
        goto done;
    }
    double mean0[D], var0[D], m4;
    for (size_t j = 0; j < D; j++)
        moments(x0, n, j, &mean0[j], &var0[j], &m4);

    /* Start at t = 0 from the data perturbed by the t = 0 marginal: x_0 itself
     * for VP (sigma(0) = 0), x_0 + smin z for VE (its sigma(0) = smin). */
    for (size_t i = 0; i < n; i++)
        tv[i] = 0.0;
    rc = scoresde_sde_perturb(sde, x0, tv, n, D, seed, 0, 0, x, NULL);
    if (rc != SCORESDE_OK) {
        status = fail("perturbing to t = 0", rc);
        goto done;
    }

    printf("%s SDE, %s data, n = %zu, %zu Euler-Maruyama steps per 0.1, seed %llu\n",
           ve ? "VE" : "VP", swissroll ? "swiss-roll" : "two-moons", n, steps, seed);
    printf("exact: mean = alpha E[x0], var = alpha^2 Var[x0] + sigma^2; z in standard errors\n\n");
    printf("%5s %9s %9s | %9s %9s %6s | %9s %9s %6s | %9s %9s %6s\n", "t", "alpha", "sigma",
           "mean x", "exact", "z", "var x", "exact", "z", "var y", "exact", "z");
    double worst = 0.0;
    for (int seg = 0; seg <= 10; seg++) {
        double t = seg / 10.0;
        if (seg > 0) {
            /* Each segment's Brownian increments follow the previous ones in
             * the sample's stream: the draw counter advances by steps * D. */
            uint64_t draw = (uint64_t)(seg - 1) * steps * D;
            rc = scoresde_sde_simulate(sde, x, n, D, (seg - 1) / 10.0, t, steps, seed, 0, draw, x);
            if (rc != SCORESDE_OK) {
                status = fail("simulating", rc);
                goto done;
            }
        }
        double alpha, sigma;
        rc = scoresde_sde_marginal(sde, &t, 1, &alpha, &sigma, NULL, NULL);
        if (rc != SCORESDE_OK) {
            status = fail("evaluating the marginal", rc);
            goto done;
        }
        double mean[D], var[D], zm = 0.0, zv[D];
        for (size_t j = 0; j < D; j++) {
            moments(x, n, j, &mean[j], &var[j], &m4);
            double exact_var = alpha * alpha * var0[j] + sigma * sigma;
            double se_var = sqrt(fmax(m4 - var[j] * var[j], 1e-300) / (double)n);
            zv[j] = (var[j] - exact_var) / se_var;
            if (j == 0)
                zm = (mean[0] - alpha * mean0[0]) / sqrt(var[0] / (double)n);
            if (fabs(zv[j]) > worst)
                worst = fabs(zv[j]);
        }
        if (seg == 0)
            zm = zv[0] = zv[1] = 0.0; /* the data's own moments: nothing to compare */
        if (fabs(zm) > worst)
            worst = fabs(zm);
        printf("%5.2f %9.4f %9.4f | %9.4f %9.4f %6.2f | %9.4f %9.4f %6.2f | %9.4f %9.4f %6.2f\n", t,
               alpha, sigma, mean[0], alpha * mean0[0], zm, var[0],
               alpha * alpha * var0[0] + sigma * sigma, zv[0], var[1],
               alpha * alpha * var0[1] + sigma * sigma, zv[1]);
    }
    printf("\nlargest |z| = %.2f (%s)\n", worst, worst <= 6.0 ? "agrees" : "DISAGREES");
    status = worst <= 6.0 ? 0 : 1;
done:
    free(x0);
    free(x);
    free(tv);
    scoresde_sde_free(sde);
    return status;
}
