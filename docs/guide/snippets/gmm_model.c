/* Guide, "Scores and models": the exact model of a Gaussian mixture, its
 * score, predictions, divergence, log-density and exact samples.
 * Exits 0 when every check holds. */
#include <scoresde.h>
#include <math.h>
#include <stdio.h>

#define CHECK(cond)                                                     \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,      \
                    __LINE__, #cond);                                   \
            return 1;                                                   \
        }                                                               \
    } while (0)

enum { K = 2, D = 2, N = 4 };

int main(void)
{
    scoresde_sde *sde = NULL;
    scoresde_model *model = NULL;
    const double w[K] = {0.3, 0.7};
    const double mu[K * D] = {-2, 0, 2, 1};
    const double var[K * D] = {0.1, 0.2, 0.3, 0.1};

    CHECK(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP) == SCORESDE_OK);
    CHECK(scoresde_model_create_gmm(&model, sde, K, D, w, mu, var) == SCORESDE_OK);
    scoresde_sde_free(sde); /* the model keeps its own copy */

    const double t[N] = {0.1, 0.3, 0.6, 0.9};
    double x[N * D], s[N * D], x0[N * D], eps[N * D], div[N], logp[N];
    CHECK(scoresde_model_sample(model, t, N, D, /*seed*/ 3, /*first_sample*/ 0, x) ==
          SCORESDE_OK);
    CHECK(scoresde_model_score(model, x, t, N, D, s) == SCORESDE_OK);
    CHECK(scoresde_model_predict_data(model, x, t, N, D, x0) == SCORESDE_OK);
    CHECK(scoresde_model_predict_noise(model, x, t, N, D, eps) == SCORESDE_OK);
    CHECK(scoresde_model_divergence(model, x, t, N, D, div) == SCORESDE_OK);
    CHECK(scoresde_model_log_density(model, x, t, N, D, logp) == SCORESDE_OK);

    double alpha[N], sigma[N];
    CHECK(scoresde_sde_marginal(scoresde_model_sde(model), t, N, alpha, sigma, NULL, NULL) ==
          SCORESDE_OK);
    for (size_t i = 0; i < N; i++) {
        printf("t = %.1f  x = (%+.3f, %+.3f)  s = (%+.3f, %+.3f)  div = %+.3f  ln p = %+.3f\n",
               t[i], x[i * D], x[i * D + 1], s[i * D], s[i * D + 1], div[i], logp[i]);
        for (size_t j = 0; j < D; j++) {
            size_t k = i * D + j;
            /* Tweedie: x0_hat = (x + sigma^2 s) / alpha; eps_hat = -sigma s. */
            CHECK(fabs(x0[k] - (x[k] + sigma[i] * sigma[i] * s[k]) / alpha[i]) < 1e-12);
            CHECK(fabs(eps[k] + sigma[i] * s[k]) < 1e-12);
        }
    }

    /* The score is the gradient of ln p_t: a central difference agrees. */
    const double h = 1e-5;
    double xp[D] = {x[0] + h, x[1]}, xm[D] = {x[0] - h, x[1]}, lp, lm;
    CHECK(scoresde_model_log_density(model, xp, t, 1, D, &lp) == SCORESDE_OK);
    CHECK(scoresde_model_log_density(model, xm, t, 1, D, &lm) == SCORESDE_OK);
    CHECK(fabs((lp - lm) / (2 * h) - s[0]) < 1e-6 * (1 + fabs(s[0])));

    /* A batch of the wrong dimension is refused. */
    CHECK(scoresde_model_score(model, x, t, N, 3, s) == SCORESDE_EDIM);
    printf("wrong D: %s\n", scoresde_last_error());

    scoresde_model_free(model);
    return 0;
}
