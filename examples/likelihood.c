/*
 * likelihood: the probability-flow ODE likelihood against the exact one.
 *
 * For a 2-D Gaussian mixture p_0 under the VP SDE every marginal p_t is a
 * mixture too, so ln p_eps(x) is known in closed form
 * (scoresde_model_log_density). The program
 *   1. computes ln p_eps(x) of points drawn from p_eps through the
 *      probability-flow ODE (scoresde_sampler_likelihood: Dormand-Prince on
 *      the augmented ODE with the exact divergence) at the default tolerances
 *      and at tight ones, and prints the errors against the closed form;
 *   2. compares the exact divergence of the score with Hutchinson's estimate
 *      v^T (ds/dx) v (Rademacher probes): per point, the mean over many probes
 *      converges to the exact value, and the ODE likelihood with one probe per
 *      point is unbiased for the exact-divergence one.
 * Exit status 1 if the tight ODE error (with the exact p_T in place of the
 * prior at the end, see below) exceeds 1e-4 nats, or a Hutchinson mean
 * is more than 5 standard errors from the exact value; 2 on a library error.
 *
 * Only the public API is used: copy from it freely.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <scoresde.h>

enum { D = 2, K = 3, N = 200, M = 4000, N_DIV = 8 };

static int fail(const char *what, int rc)
{
    fprintf(stderr, "likelihood: %s failed: %s: %s\n", what, scoresde_strerror(rc),
            scoresde_last_error());
    return 2;
}

int main(void)
{
    const double w[K] = {0.5, 0.3, 0.2};
    const double mu[K * D] = {-1.5, 0.0, 1.5, 1.0, 0.5, -1.5};
    const double var[K * D] = {0.2, 0.1, 0.05, 0.3, 0.15, 0.15};
    int status = 0, rc;
    scoresde_sde *sde = NULL;
    scoresde_model *gmm = NULL;
    scoresde_sampler *ode = NULL;
    double x[N * D], t[N], exact[N], lp[N], lp_tight[N], lp_hutch[N];
    double latent[N * D], tT[N], lpT_exact[N], lpT_prior[N];
    double *probes = malloc((size_t)M * N_DIV * D * sizeof *probes);
    double *ests = malloc((size_t)M * N_DIV * sizeof *ests);
    if (probes == NULL || ests == NULL) {
        fprintf(stderr, "likelihood: out of memory\n");
        free(probes);
        free(ests);
        return 2;
    }

#define TRY(what, call)                                                                        \
    do {                                                                                       \
        if ((rc = (call)) != SCORESDE_OK) {                                                    \
            status = fail(what, rc);                                                           \
            goto done;                                                                         \
        }                                                                                      \
    } while (0)

    TRY("creating the SDE", scoresde_sde_create_default(&sde, SCORESDE_SDE_VP));
    TRY("creating the mixture", scoresde_model_create_gmm(&gmm, sde, K, D, w, mu, var));
    /* The likelihood is of p_eps, eps = the SDE's training eps (EPS = NaN, the default). */
    const double eps = scoresde_sde_training_eps(sde);
    for (int i = 0; i < N; i++)
        t[i] = eps;
    TRY("drawing points", scoresde_model_sample(gmm, t, N, D, /*seed*/ 11, 0, x));
    TRY("the exact log-density", scoresde_model_log_density(gmm, x, t, N, D, exact));

    /* 1. ODE likelihood, default (score_sde's) and tight tolerances. */
    scoresde_sampler_stats st = {.struct_size = sizeof st}, st_tight = {.struct_size = sizeof st};
    TRY("creating the ODE sampler", scoresde_sampler_create(&ode, SCORESDE_SAMPLER_ODE));
    TRY("the ODE likelihood", scoresde_sampler_likelihood(ode, gmm, x, N, D, 11, 0, lp, NULL, &st));
    TRY("setting RTOL", scoresde_sampler_set_double(ode, SCORESDE_SAMPLER_RTOL, 1e-9));
    TRY("setting ATOL", scoresde_sampler_set_double(ode, SCORESDE_SAMPLER_ATOL, 1e-9));
    TRY("the tight ODE likelihood",
        scoresde_sampler_likelihood(ode, gmm, x, N, D, 11, 0, lp_tight, latent, &st_tight));
    /* The ODE likelihood is ln p_T(x_T) + delta(T) with p_T taken to be the
     * prior N(0, I); the mixture's true p_T is N(alpha(T) mu, ...), which
     * differs by about alpha(T) |mu| |x_T| ~ 1e-2 nats. That is the model's
     * error, not the solver's: adding ln p_T^exact(x_T) - ln prior(x_T)
     * leaves only the solver's. */
    for (int i = 0; i < N; i++)
        tT[i] = scoresde_sde_end_time(sde);
    TRY("the exact ln p_T", scoresde_model_log_density(gmm, latent, tT, N, D, lpT_exact));
    TRY("the prior ln p_T", scoresde_sde_prior_logp(sde, latent, N, D, lpT_prior));
    double err = 0.0, err_tight = 0.0, err_fixed = 0.0, mean_exact = 0.0;
    for (int i = 0; i < N; i++) {
        err = fmax(err, fabs(lp[i] - exact[i]));
        err_tight = fmax(err_tight, fabs(lp_tight[i] - exact[i]));
        err_fixed = fmax(err_fixed, fabs(lp_tight[i] - lpT_prior[i] + lpT_exact[i] - exact[i]));
        mean_exact += exact[i] / N;
    }
    printf("3-component 2-D Gaussian mixture under VP, %d points from p_eps (eps = %g)\n", N, eps);
    printf("mean exact ln p_eps = %.6f nats\n\n", mean_exact);
    printf("probability-flow ODE likelihood, exact divergence\n");
    printf("  %-26s %12s %8s\n", "tolerances", "max |error|", "NFE");
    printf("  %-26s %12.3e %8llu\n", "rtol = atol = 1e-5", err, (unsigned long long)st.nfe);
    printf("  %-26s %12.3e %8llu\n", "rtol = atol = 1e-9", err_tight,
           (unsigned long long)st_tight.nfe);
    printf("  %-26s %12.3e\n", "1e-9, exact p_T for prior", err_fixed);
    printf("  (the prior N(0, I) stands in for the true p_T: that costs the first rows'\n"
           "  error; with the exact p_T at the ODE's end only the solver's remains)\n");
    int ok = err_fixed <= 1e-4;

    /* 2a. Hutchinson against the exact divergence at a few points and times:
     * M Rademacher probes each, the mean within 5 standard errors. The probes
     * come from the library's generator (point j's stream, PROBE offsets). */
    printf("\nexact divergence vs Hutchinson (%d Rademacher probes per point)\n", M);
    printf("  %6s %8s %12s %12s %9s %7s\n", "point", "t", "exact", "Hutchinson", "std err", "z");
    double xd[N_DIV * D], td[N_DIV], div[N_DIV], worst = 0.0;
    for (int j = 0; j < N_DIV; j++) {
        td[j] = 0.05 + 0.9 * j / (N_DIV - 1);
        xd[j * D] = x[j * D];
        xd[j * D + 1] = x[j * D + 1];
    }
    TRY("the exact divergence", scoresde_model_divergence(gmm, xd, td, N_DIV, D, div));
    for (int j = 0; j < N_DIV; j++) {
        double u[M * D];
        TRY("drawing probes", scoresde_rng_uniform(11, (uint64_t)j,
                                                   SCORESDE_RNG_OFFSET(SCORESDE_RNG_PROBE, 0),
                                                   M * D, u));
        for (int k = 0; k < M * D; k++)
            probes[(size_t)j * M * D + (size_t)k] = u[k] < 0.5 ? -1.0 : 1.0;
    }
    /* One probe per row: repeat each point M times to get the single-probe
     * values, whose spread gives the standard error. */
    double *xr = malloc((size_t)M * N_DIV * D * sizeof *xr), *tr = malloc((size_t)M * N_DIV * sizeof *tr);
    if (xr == NULL || tr == NULL) {
        free(xr);
        free(tr);
        fprintf(stderr, "likelihood: out of memory\n");
        status = 2;
        goto done;
    }
    for (int j = 0; j < N_DIV; j++)
        for (int m = 0; m < M; m++) {
            size_t r = (size_t)j * M + (size_t)m;
            xr[r * D] = xd[j * D];
            xr[r * D + 1] = xd[j * D + 1];
            tr[r] = td[j];
        }
    rc = scoresde_model_hutchinson(gmm, xr, tr, (size_t)M * N_DIV, D, probes, 1, ests);
    free(xr);
    free(tr);
    if (rc != SCORESDE_OK) {
        status = fail("Hutchinson estimates", rc);
        goto done;
    }
    for (int j = 0; j < N_DIV; j++) {
        double mean = 0.0, ss = 0.0;
        for (int m = 0; m < M; m++)
            mean += ests[(size_t)j * M + (size_t)m] / M;
        for (int m = 0; m < M; m++) {
            double d = ests[(size_t)j * M + (size_t)m] - mean;
            ss += d * d;
        }
        double se = sqrt(ss / (M - 1) / M);
        /* With D = 2 and +-1 probes the estimate can be exact (diagonal
         * Jacobian): then se is 0 and so must the error be. */
        double z = se > 0.0 ? (mean - div[j]) / se : (fabs(mean - div[j]) <= 1e-12 ? 0.0 : INFINITY);
        worst = fmax(worst, fabs(z));
        printf("  %6d %8.3f %12.6f %12.6f %9.2e %7.2f\n", j, td[j], div[j], mean, se, z);
    }

    /* 2b. The ODE likelihood with one Hutchinson probe per point (fixed for
     * the whole solve) scatters around the exact-divergence one; their mean
     * difference is within 5 standard errors of 0. */
    TRY("setting DIVERGENCE", scoresde_sampler_set_int(ode, SCORESDE_SAMPLER_DIVERGENCE,
                                                       SCORESDE_SAMPLER_DIVERGENCE_RADEMACHER));
    TRY("the Hutchinson ODE likelihood",
        scoresde_sampler_likelihood(ode, gmm, x, N, D, 11, 0, lp_hutch, NULL, NULL));
    double md = 0.0, sd = 0.0;
    for (int i = 0; i < N; i++)
        md += (lp_hutch[i] - lp_tight[i]) / N;
    for (int i = 0; i < N; i++)
        sd += (lp_hutch[i] - lp_tight[i] - md) * (lp_hutch[i] - lp_tight[i] - md);
    double se_md = sqrt(sd / (N - 1) / N), z_md = se_md > 0.0 ? md / se_md : 0.0;
    worst = fmax(worst, fabs(z_md));
    printf("\nODE likelihood with one Rademacher probe per point minus exact-divergence one\n");
    printf("  mean %+.3e, per-point spread %.3e, standard error %.3e, z = %.2f\n", md,
           sqrt(sd / (N - 1)), se_md, z_md);

    ok = ok && worst <= 5.0;
    printf("\n%s\n", ok ? "the ODE likelihood and Hutchinson agree with the exact values"
                        : "DISAGREEMENT (see above)");
    status = ok ? 0 : 1;
done:
    scoresde_sampler_free(ode);
    scoresde_model_free(gmm);
    scoresde_sde_free(sde);
    free(probes);
    free(ests);
    return status;
}
