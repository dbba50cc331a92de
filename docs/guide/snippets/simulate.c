/* Guide, "Forward SDEs": simulate the forward SDE by Euler-Maruyama and compare
 * the sample mean and variance of x_1 with the exact marginal.
 * Exits 0 when every check holds. */
#include <scoresde.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                     \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,      \
                    __LINE__, #cond);                                   \
            goto done;                                                  \
        }                                                               \
    } while (0)

enum { N = 4000, STEPS = 200 };

int main(void)
{
    int ok = 0;
    scoresde_sde *sde = NULL;
    double *x = malloc(N * sizeof *x);
    CHECK(x != NULL);
    CHECK(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP) == SCORESDE_OK);

    /* Every path starts at x_0 = 2 (D = 1) and runs from t = 0 to t = 0.5. */
    for (size_t i = 0; i < N; i++)
        x[i] = 2.0;
    CHECK(scoresde_sde_simulate(sde, x, N, 1, 0.0, 0.5, STEPS, /*seed*/ 1, /*first_sample*/ 0,
                                /*draw*/ 0, x) == SCORESDE_OK);

    double mean = 0, var = 0;
    for (size_t i = 0; i < N; i++)
        mean += x[i];
    mean /= N;
    for (size_t i = 0; i < N; i++)
        var += (x[i] - mean) * (x[i] - mean);
    var /= N - 1;

    const double t = 0.5;
    double alpha, sigma;
    CHECK(scoresde_sde_marginal(sde, &t, 1, &alpha, &sigma, NULL, NULL) == SCORESDE_OK);
    printf("mean %.4f (exact %.4f)  variance %.4f (exact %.4f)\n", mean, 2 * alpha, var,
           sigma * sigma);
    /* 5 standard errors of the sample mean and variance, plus 0.02 for the
     * O(dt) bias of Euler-Maruyama with 200 steps. */
    CHECK(fabs(mean - 2 * alpha) < 5 * sigma / sqrt(N) + 0.02);
    CHECK(fabs(var - sigma * sigma) < 5 * sigma * sigma * sqrt(2.0 / (N - 1)) + 0.02);
    ok = 1;
done:
    scoresde_sde_free(sde);
    free(x);
    return ok ? 0 : 1;
}
