/* Guide, "Forward SDEs" and "Randomness": perturb data with the exact kernel,
 * reproduce the noise with the public generator, and check the kernel score.
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

enum { N = 3, D = 2 };

int main(void)
{
    scoresde_sde *sde = NULL;
    CHECK(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP) == SCORESDE_OK);

    const double x0[N * D] = {1, 2, -1, 0.5, 0, 0};
    const double t[N] = {0.2, 0.5, 0.9};
    double xt[N * D], z[N * D], score[N * D];
    const uint64_t seed = 7, first_sample = 100, draw = 0;

    /* x_t = alpha x_0 + sigma z; sample i uses stream first_sample + i. */
    CHECK(scoresde_sde_perturb(sde, x0, t, N, D, seed, first_sample, draw, xt, z) ==
          SCORESDE_OK);

    double alpha[N], sigma[N];
    CHECK(scoresde_sde_marginal(sde, t, N, alpha, sigma, NULL, NULL) == SCORESDE_OK);
    for (size_t i = 0; i < N; i++) {
        /* The noise is element j of stream first_sample + i at offset
         * SCORESDE_RNG_OFFSET(SCORESDE_RNG_PERTURB, draw + j). */
        double zz[D];
        CHECK(scoresde_rng_normal(seed, first_sample + i,
                                  SCORESDE_RNG_OFFSET(SCORESDE_RNG_PERTURB, draw), D,
                                  zz) == SCORESDE_OK);
        for (size_t j = 0; j < D; j++) {
            CHECK(zz[j] == z[i * D + j]);
            CHECK(fabs(xt[i * D + j] - (alpha[i] * x0[i * D + j] + sigma[i] * zz[j])) <
                  1e-14);
        }
    }

    /* The kernel score -(x_t - alpha x_0) / sigma^2 equals -z / sigma. */
    CHECK(scoresde_sde_kernel_score(sde, xt, x0, t, N, D, score) == SCORESDE_OK);
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < D; j++)
            CHECK(fabs(score[i * D + j] + z[i * D + j] / sigma[i]) <
                  1e-12 * (1 + fabs(z[i * D + j] / sigma[i])));

    printf("x_t[0] = (%.6f, %.6f), z[0] = (%.6f, %.6f)\n", xt[0], xt[1], z[0], z[1]);
    scoresde_sde_free(sde);
    return 0;
}
