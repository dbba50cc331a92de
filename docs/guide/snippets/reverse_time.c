/* Guide, "Reverse-time SDE" and "Probability flow": the reverse-time drift
 * from the SDE module, used to integrate the probability-flow ODE by hand
 * (Heun's method) for a single Gaussian, whose exact flow is known.
 * Exits 0 when every check holds. */
#include <scoresde.h>
#include <math.h>
#include <stdio.h>

#define CHECK(cond)                                                     \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,      \
                    __LINE__, #cond);                                   \
            goto done;                                                  \
        }                                                               \
    } while (0)

/* The probability-flow velocity F(x, t) = f - g^2 s / 2 for one sample. */
static int velocity(const scoresde_model *m, double x, double t, double *F)
{
    double s;
    int rc = scoresde_model_score(m, &x, &t, 1, 1, &s);
    if (rc == SCORESDE_OK)
        rc = scoresde_sde_pf_drift(scoresde_model_sde(m), &x, &t, &s, 1, 1, F);
    return rc;
}

int main(void)
{
    int ok = 0;
    scoresde_sde *sde = NULL;
    scoresde_model *m = NULL;
    const double mu = 1.0, s2 = 0.25, w = 1.0; /* data N(1, 0.5^2) */
    CHECK(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP) == SCORESDE_OK);
    CHECK(scoresde_model_create_gmm(&m, sde, 1, 1, &w, &mu, &s2) == SCORESDE_OK);

    /* lam = 1 (reverse SDE) and lam = 0 (probability flow) drifts differ by
     * g^2 s / 2, since (1 + lam^2) / 2 goes from 1/2 to 1. */
    double x = 0.7, t = 0.4, s, g, rev, pf;
    CHECK(scoresde_model_score(m, &x, &t, 1, 1, &s) == SCORESDE_OK);
    CHECK(scoresde_sde_diffusion(sde, &t, 1, &g) == SCORESDE_OK);
    CHECK(scoresde_sde_reverse_drift(sde, &x, &t, &s, 1, 1, 1.0, &rev) == SCORESDE_OK);
    CHECK(scoresde_sde_pf_drift(sde, &x, &t, &s, 1, 1, &pf) == SCORESDE_OK);
    CHECK(fabs((pf - rev) - g * g * s / 2) < 1e-12 * (1 + fabs(pf)));

    /* Heun from T = 1 down to eps = 1e-3 in 200 steps, from x_T = 1.3. */
    const double T = scoresde_sde_end_time(sde), eps = scoresde_sde_sampling_eps(sde);
    const int steps = 200;
    double y = 1.3, tk = T;
    for (int k = 0; k < steps; k++) {
        double h = (eps - T) / steps, F1, F2;
        CHECK(velocity(m, y, tk, &F1) == SCORESDE_OK);
        double y1 = y + h * F1;
        CHECK(velocity(m, y1, tk + h, &F2) == SCORESDE_OK);
        y += h * (F1 + F2) / 2;
        tk = (k + 1 == steps) ? eps : tk + h;
    }

    /* The exact flow of N(mu, s2): x_t - alpha_t mu scales by
     * sqrt((alpha_t^2 s2 + sigma_t^2) / (alpha_u^2 s2 + sigma_u^2)). */
    const double tt[2] = {T, eps};
    double a[2], sg[2];
    CHECK(scoresde_sde_marginal(sde, tt, 2, a, sg, NULL, NULL) == SCORESDE_OK);
    double exact = a[1] * mu + sqrt((a[1] * a[1] * s2 + sg[1] * sg[1]) /
                                    (a[0] * a[0] * s2 + sg[0] * sg[0])) * (1.3 - a[0] * mu);
    printf("x_eps: Heun %.8f, exact %.8f\n", y, exact);
    CHECK(fabs(y - exact) < 1e-4);
    ok = 1;
done:
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    return ok ? 0 : 1;
}
