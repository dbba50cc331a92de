/* Guide, "Forward SDEs": create SDEs, query them, and read their coefficients.
 * Exits 0 when every check holds. */
#include <scoresde.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define CHECK(cond)                                                     \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,      \
                    __LINE__, #cond);                                   \
            return 1;                                                   \
        }                                                               \
    } while (0)

int main(void)
{
    scoresde_sde *vp = NULL, *ve = NULL;

    /* The published defaults: VP with beta in [0.1, 20] (score_sde). */
    CHECK(scoresde_sde_create_default(&vp, SCORESDE_SDE_VP) == SCORESDE_OK);
    /* The same kind with explicit parameters: VE with sigma in [0.01, 50]. */
    CHECK(scoresde_sde_create_ve(&ve, 0.01, 50.0) == SCORESDE_OK);

    printf("VP: T = %g, sampling eps = %g, training eps = %g\n", scoresde_sde_end_time(vp),
           scoresde_sde_sampling_eps(vp), scoresde_sde_training_eps(vp));
    CHECK(scoresde_sde_kind(vp) == SCORESDE_SDE_VP);
    CHECK(scoresde_sde_sampling_eps(vp) == 1e-3 && scoresde_sde_training_eps(vp) == 1e-5);

    /* The Gaussian marginal x_t | x_0 ~ N(alpha x_0, sigma^2 I) at three times. */
    const double t[3] = {0.0, 0.5, 1.0};
    double alpha[3], sigma[3], g[3];
    CHECK(scoresde_sde_marginal(vp, t, 3, alpha, sigma, NULL, NULL) == SCORESDE_OK);
    CHECK(scoresde_sde_diffusion(vp, t, 3, g) == SCORESDE_OK);
    for (int i = 0; i < 3; i++) {
        printf("t = %.1f  alpha = %.6f  sigma = %.6f  g = %.6f\n", t[i], alpha[i], sigma[i],
               g[i]);
        /* VP preserves variance: alpha^2 + sigma^2 = 1 at every t. */
        CHECK(fabs(alpha[i] * alpha[i] + sigma[i] * sigma[i] - 1.0) < 1e-12);
        /* g(t)^2 = beta(t) = 0.1 + t (20 - 0.1). */
        CHECK(fabs(g[i] * g[i] - (0.1 + t[i] * 19.9)) < 1e-12);
    }

    /* The drift f(x, t) = -beta(t)/2 x for a batch of two 2-D points. */
    const double x[4] = {1.0, -2.0, 0.5, 3.0}, tx[2] = {0.0, 1.0};
    double f[4];
    CHECK(scoresde_sde_drift(vp, x, tx, 2, 2, f) == SCORESDE_OK);
    CHECK(fabs(f[0] + 0.05 * x[0]) < 1e-15 && fabs(f[3] + 10.0 * x[3]) < 1e-12);

    /* One step of score_sde's discrete chain (DDPM form for VP) into level
     * i = 500 of N = 1000: beta_i = bmin/N + i (bmax - bmin) / (N (N - 1)),
     * f_i = (sqrt(1 - beta_i) - 1) x, G_i = sqrt(beta_i). t_i = i T / (N - 1). */
    {
        const size_t N = SCORESDE_SDE_DEFAULT_LEVELS, i = 500;
        const double ti = (double)i / (N - 1), beta = 0.1 / N + i * 19.9 / (N * (N - 1.0));
        double fi[2], Gi;
        CHECK(scoresde_sde_discretize(vp, N, x, &ti, 1, 2, fi, &Gi) == SCORESDE_OK);
        CHECK(fabs(Gi - sqrt(beta)) < 1e-15);
        CHECK(fabs(fi[0] - (sqrt(1 - beta) - 1) * x[0]) < 1e-15);
    }

    /* The prior: N(0, I) for VP, N(0, sigma_max^2 I) for VE. */
    double v_vp, v_ve;
    CHECK(scoresde_sde_prior_var(vp, &v_vp) == SCORESDE_OK && v_vp == 1.0);
    CHECK(scoresde_sde_prior_var(ve, &v_ve) == SCORESDE_OK && fabs(v_ve - 2500.0) < 1e-9);

    /* A bad parameter is refused with a message naming it. */
    scoresde_sde *bad = NULL;
    int rc = scoresde_sde_create_vp(&bad, 0.1, 0.05);
    printf("create_vp(0.1, 0.05): %s: %s\n", scoresde_strerror(rc), scoresde_last_error());
    CHECK(rc == SCORESDE_EINVAL && bad == NULL);
    CHECK(strstr(scoresde_last_error(), "beta_max") != NULL);

    scoresde_sde_free(ve);
    scoresde_sde_free(vp);
    return 0;
}
