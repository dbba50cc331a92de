/* The README's first example: the exact score of a Gaussian mixture under the
 * VP SDE, and exact draws from its marginal p_t. */
#include <scoresde.h>
#include <stdio.h>

int main(void)
{
    scoresde_sde *sde = NULL;
    scoresde_model *model = NULL;
    const double w[2] = {0.5, 0.5}, mu[2] = {-2.0, 2.0}, var[2] = {0.1, 0.1};
    double x[4], t[4] = {0.5, 0.5, 0.5, 0.5}, s[4];

    int rc = scoresde_sde_create_default(&sde, SCORESDE_SDE_VP);
    if (rc == SCORESDE_OK)
        rc = scoresde_model_create_gmm(&model, sde, /*K*/ 2, /*D*/ 1, w, mu, var);
    if (rc == SCORESDE_OK)
        rc = scoresde_model_sample(model, t, 4, 1, /*seed*/ 42, /*first sample*/ 0, x);
    if (rc == SCORESDE_OK)
        rc = scoresde_model_score(model, x, t, 4, 1, s);
    if (rc != SCORESDE_OK) {
        fprintf(stderr, "error: %s: %s\n", scoresde_strerror(rc), scoresde_last_error());
    } else {
        for (int i = 0; i < 4; i++)
            printf("x_t = %+.4f   score = %+.4f\n", x[i], s[i]);
    }
    scoresde_model_free(model);
    scoresde_sde_free(sde);
    return rc == SCORESDE_OK ? 0 : 1;
}
