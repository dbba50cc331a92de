/* Guide, "Randomness and reproducibility": a run's draws do not depend on how
 * it is split into calls, and every draw can be rebuilt from the generator.
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

enum { N = 8, D = 3 };

int main(void)
{
    const uint64_t seed = 2024;
    scoresde_sde *sde = NULL;
    CHECK(scoresde_sde_create_default(&sde, SCORESDE_SDE_VE) == SCORESDE_OK);

    /* Eight prior samples in one call ... */
    double whole[N * D], parts[N * D];
    CHECK(scoresde_sde_prior_sample(sde, N, D, seed, 0, 0, whole) == SCORESDE_OK);
    /* ... and in three calls of 3, 1 and 4 samples: sample i is stream i. */
    CHECK(scoresde_sde_prior_sample(sde, 3, D, seed, 0, 0, parts) == SCORESDE_OK);
    CHECK(scoresde_sde_prior_sample(sde, 1, D, seed, 3, 0, parts + 3 * D) == SCORESDE_OK);
    CHECK(scoresde_sde_prior_sample(sde, 4, D, seed, 4, 0, parts + 4 * D) == SCORESDE_OK);
    CHECK(memcmp(whole, parts, sizeof whole) == 0);

    /* Sample 5 rebuilt from the generator: stream 5, purpose PRIOR, draws 0..D-1,
     * scaled by the prior's standard deviation. */
    double z[D], v;
    CHECK(scoresde_rng_normal(seed, 5, SCORESDE_RNG_OFFSET(SCORESDE_RNG_PRIOR, 0), D, z) ==
          SCORESDE_OK);
    CHECK(scoresde_sde_prior_var(sde, &v) == SCORESDE_OK);
    for (int j = 0; j < D; j++)
        CHECK(whole[5 * D + j] == sqrt(v) * z[j]);

    /* Different purposes (and different `draw` values) never share numbers:
     * perturbing at t = T from zero data draws from PERTURB, not PRIOR. */
    double zero[D] = {0, 0, 0}, t = scoresde_sde_end_time(sde), xt[D];
    CHECK(scoresde_sde_perturb(sde, zero, &t, 1, D, seed, 5, 0, xt, NULL) == SCORESDE_OK);
    CHECK(xt[0] != whole[5 * D]);

    printf("sample 5 = (%.6f, %.6f, %.6f)\n", whole[5 * D], whole[5 * D + 1], whole[5 * D + 2]);
    scoresde_sde_free(sde);
    return 0;
}
