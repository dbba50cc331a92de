/* Guide, "Scores and models": models from the caller's score function and
 * from the caller's denoiser. The data are a single point at mu, so under the
 * SDE p_t = N(alpha mu, sigma^2 I): the exact denoiser is mu and the exact
 * score -(x - alpha mu) / sigma^2. Exits 0 when every check holds. */
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

struct point_data {
    const scoresde_sde *sde;
    double mu;
    int fail; /* set to make the score hook report a failure */
};

/* A batched score: one call for all n samples; the user pointer comes last. */
static int point_score(const double *x, const double *t, size_t n, size_t D, double *out,
                       void *user)
{
    const struct point_data *p = user;
    if (p->fail)
        return 1; /* any non-zero value stops the library call */
    for (size_t i = 0; i < n; i++) {
        double a, s;
        if (scoresde_sde_marginal(p->sde, &t[i], 1, &a, &s, NULL, NULL) != SCORESDE_OK)
            return 1;
        for (size_t j = 0; j < D; j++)
            out[i * D + j] = -(x[i * D + j] - a * p->mu) / (s * s);
    }
    return 0;
}

static int point_denoiser(const double *x, const double *t, size_t n, size_t D, double *x0,
                          void *user)
{
    const struct point_data *p = user;
    (void)x;
    (void)t;
    for (size_t k = 0; k < n * D; k++)
        x0[k] = p->mu;
    return 0;
}

int main(void)
{
    scoresde_sde *sde = NULL;
    scoresde_model *by_score = NULL, *by_denoiser = NULL;
    CHECK(scoresde_sde_create_default(&sde, SCORESDE_SDE_VE) == SCORESDE_OK);
    struct point_data data = {sde, 1.5, 0};

    CHECK(scoresde_model_create_score_fn(&by_score, sde, 2, point_score, NULL, &data) ==
          SCORESDE_OK);
    CHECK(scoresde_model_create_denoiser_fn(&by_denoiser, sde, 2, point_denoiser, NULL,
                                            &data) == SCORESDE_OK);

    const double x[4] = {0.3, -4.0, 2.0, 1.0}, t[2] = {0.2, 0.7};
    double s1[4], s2[4];
    CHECK(scoresde_model_score(by_score, x, t, 2, 2, s1) == SCORESDE_OK);
    /* The denoiser model turns D into a score by Tweedie's formula. */
    CHECK(scoresde_model_score(by_denoiser, x, t, 2, 2, s2) == SCORESDE_OK);
    for (int k = 0; k < 4; k++) {
        printf("score %+.8f  via denoiser %+.8f\n", s1[k], s2[k]);
        CHECK(fabs(s1[k] - s2[k]) < 1e-9 * (1 + fabs(s1[k])));
    }

    /* No divergence hook: the exact divergence is unsupported, but
     * Hutchinson estimates work through finite-difference JVPs. Two probes
     * per sample that together span R^2 give the exact trace: -2 / sigma^2. */
    double div[2];
    CHECK(scoresde_model_divergence(by_score, x, t, 2, 2, div) == SCORESDE_EUNSUPPORTED);
    const double probes[2 * 2 * 2] = {1, 1, 1, -1, 1, 1, 1, -1};
    double est[2], sigma[2];
    CHECK(scoresde_model_hutchinson(by_score, x, t, 2, 2, probes, 2, est) == SCORESDE_OK);
    CHECK(scoresde_sde_marginal(sde, t, 2, NULL, sigma, NULL, NULL) == SCORESDE_OK);
    for (int i = 0; i < 2; i++)
        CHECK(fabs(est[i] + 2 / (sigma[i] * sigma[i])) < 1e-6 / (sigma[i] * sigma[i]));

    /* A hook that fails makes the call return SCORESDE_ECALLBACK. */
    data.fail = 1;
    int rc = scoresde_model_score(by_score, x, t, 2, 2, s1);
    printf("failing hook: %s: %s\n", scoresde_strerror(rc), scoresde_last_error());
    CHECK(rc == SCORESDE_ECALLBACK);

    scoresde_model_free(by_denoiser);
    scoresde_model_free(by_score);
    scoresde_sde_free(sde);
    return 0;
}
