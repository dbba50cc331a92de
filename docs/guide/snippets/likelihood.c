/* Guide, "The probability-flow ODE and likelihoods": ln p of data through the
 * probability-flow ODE (scoresde_sampler_likelihood) against the exact
 * log-density of a Gaussian mixture, and bits per dimension of b-bit data.
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

enum { K = 2, D = 2, N = 8, NH = 400 };

int main(void)
{
    int ok = 0;
    scoresde_sde *sde = NULL;
    scoresde_model *model = NULL;
    scoresde_sampler *ode = NULL;
    const double w[K] = {0.3, 0.7}, mu[K * D] = {-0.6, -0.3, 0.6, 0.3};
    const double var[K * D] = {0.05, 0.08, 0.08, 0.04};

    CHECK(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP) == SCORESDE_OK);
    CHECK(scoresde_model_create_gmm(&model, sde, K, D, w, mu, var) == SCORESDE_OK);

    /* Data at the likelihood's eps: the SDE's training eps (1e-5 for VP). */
    const double eps = scoresde_sde_training_eps(sde), T = scoresde_sde_end_time(sde);
    double t[N], tT[N], x[N * D], exact[N], logp[N], latent[N * D], lT[N], lprior[N];
    for (size_t i = 0; i < N; i++) {
        t[i] = eps;
        tT[i] = T;
    }
    CHECK(scoresde_model_sample(model, t, N, D, 3, 0, x) == SCORESDE_OK);
    CHECK(scoresde_model_log_density(model, x, t, N, D, exact) == SCORESDE_OK);

    /* Defaults: Dormand-Prince, rtol = atol = 1e-5, exact divergence. */
    CHECK(scoresde_sampler_create(&ode, SCORESDE_SAMPLER_ODE) == SCORESDE_OK);
    scoresde_sampler_stats st = {.struct_size = sizeof st};
    CHECK(scoresde_sampler_likelihood(ode, model, x, N, D, 0, 0, logp, latent, &st) == SCORESDE_OK);
    printf("NFE %llu (augmented evaluations), t_final %g\n", (unsigned long long)st.nfe,
           st.t_final);

    /* The ODE gives ln p_T(x_T) + integral of div F, with the prior N(0, I) as
     * p_T. The mixture's true p_T differs slightly from the prior (alpha(T)
     * = 0.0066 for VP); swapping in the exact ln p_T(x_T) isolates the ODE
     * part, which must match to the solver's tolerance. */
    CHECK(scoresde_model_log_density(model, latent, tT, N, D, lT) == SCORESDE_OK);
    CHECK(scoresde_sde_prior_logp(sde, latent, N, D, lprior) == SCORESDE_OK);
    double worst = 0, worst_prior = 0;
    for (size_t i = 0; i < N; i++) {
        double ode_part = logp[i] - lprior[i] + lT[i];
        worst = fmax(worst, fabs(ode_part - exact[i]));
        worst_prior = fmax(worst_prior, fabs(lT[i] - lprior[i]));
        printf("x = (%+.3f, %+.3f)  ln p: ODE %+.6f, exact %+.6f\n", x[i * D], x[i * D + 1],
               logp[i], exact[i]);
    }
    printf("largest error %.2g with the exact ln p_T (prior mismatch up to %.2g)\n", worst,
           worst_prior);
    CHECK(worst < 1e-3);
    CHECK(worst_prior < 1e-2);

    /* Hutchinson: one Rademacher probe per sample, fixed for the solve (the
     * probe of sample i comes from stream i). Each estimate is noisy, their
     * mean is unbiased: NH copies of x_0 get NH independent probes. */
    static double copies[NH * D], est[NH];
    for (size_t i = 0; i < NH; i++) {
        copies[i * D] = x[0];
        copies[i * D + 1] = x[1];
    }
    CHECK(scoresde_sampler_set_int(ode, SCORESDE_SAMPLER_DIVERGENCE,
                                   SCORESDE_SAMPLER_DIVERGENCE_RADEMACHER) == SCORESDE_OK);
    CHECK(scoresde_sampler_likelihood(ode, model, copies, NH, D, 11, 0, est, NULL, NULL) ==
          SCORESDE_OK);
    double mean = 0, sq = 0;
    for (size_t i = 0; i < NH; i++) {
        mean += est[i] / NH;
        sq += est[i] * est[i];
    }
    const double sd = sqrt((sq - NH * mean * mean) / (NH - 1));
    printf("Hutchinson: mean of %d estimates %+.4f (sd of one %.3f), exact divergence %+.4f\n",
           NH, mean, sd, logp[0]);
    CHECK(fabs(mean - logp[0]) < 5 * sd / sqrt(NH)); /* z-bound 5 */

    /* Bits per dimension of 8-bit data dequantised to u in [0, 1)^D and fed
     * to the model as y = 2u - 1 (scale 2): bpd = -ln p / (D ln 2) - 1 + 8. */
    double bpd[N];
    CHECK(scoresde_bits_per_dim(logp, N, D, 8, 2.0, bpd) == SCORESDE_OK);
    for (size_t i = 0; i < N; i++)
        CHECK(fabs(bpd[i] - (-logp[i] / (D * log(2.0)) - 1 + 8)) < 1e-12);
    printf("sample 0: %.4f bits per dimension\n", bpd[0]);
    /* A density uniform on [-1, 1]^D, ln p = -D ln 2, costs exactly 8 bits
     * per dimension: the dequantised data carry no information beyond the
     * 8 bits themselves. */
    double uniform = -D * log(2.0), b;
    CHECK(scoresde_bits_per_dim(&uniform, 1, D, 8, 2.0, &b) == SCORESDE_OK);
    printf("uniform density: %.12f bits per dimension\n", b);
    CHECK(fabs(b - 8) < 1e-12);
    ok = 1;
done:
    scoresde_sampler_free(ode);
    scoresde_model_free(model);
    scoresde_sde_free(sde);
    return ok ? 0 : 1;
}
