/* Guide, "The probability-flow ODE": DPM-Solver++ against the exact flow of a
 * Gaussian, N(mu, s^2) under VP, where
 *     x_t - alpha_t mu = sqrt((alpha_t^2 s^2 + sigma_t^2) / (alpha_T^2 s^2 + sigma_T^2))
 *                        (x_T - alpha_T mu).
 * Halving the step multiplies the error by about 2^-2 for 2M and 2^-3 for 3M
 * (with this library's D2, twice the published one), on the Karras grid
 * from 80 to 320 steps, where the errors are in their asymptotic regime. (On
 * the default log-SNR grid this smooth problem shows order 2 for 2M but about
 * 4 for 3M, so it would not single out the order.) Exits 0 when the measured
 * orders are within 0.25 of 2 and 3. */
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

int main(void)
{
    int ok = 0;
    scoresde_sde *sde = NULL;
    scoresde_model *model = NULL;
    scoresde_sampler *dpm = NULL;
    const double w = 1, mu = 1.0, s2 = 0.25, xT = 1.7;

    CHECK(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP) == SCORESDE_OK);
    CHECK(scoresde_model_create_gmm(&model, sde, 1, 1, &w, &mu, &s2) == SCORESDE_OK);
    const double T = scoresde_sde_end_time(sde), eps = scoresde_sde_sampling_eps(sde);
    double ts[2] = {T, eps}, a[2], sg[2];
    CHECK(scoresde_sde_marginal(sde, ts, 2, a, sg, NULL, NULL) == SCORESDE_OK);
    const double exact =
        a[1] * mu + sqrt((a[1] * a[1] * s2 + sg[1] * sg[1]) / (a[0] * a[0] * s2 + sg[0] * sg[0])) *
                        (xT - a[0] * mu);

    CHECK(scoresde_sampler_create(&dpm, SCORESDE_SAMPLER_DPMPP) == SCORESDE_OK);
    CHECK(scoresde_sampler_set_int(dpm, SCORESDE_SAMPLER_GRID, SCORESDE_SAMPLER_GRID_KARRAS) ==
          SCORESDE_OK); /* RHO = 7 */
    for (int order = 2; order <= 3; order++) {
        CHECK(scoresde_sampler_set_int(dpm, SCORESDE_SAMPLER_ORDER, order) == SCORESDE_OK);
        double prev = 0;
        for (int steps = 80; steps <= 320; steps *= 2) {
            double x;
            CHECK(scoresde_sampler_set_int(dpm, SCORESDE_SAMPLER_STEPS, steps) == SCORESDE_OK);
            CHECK(scoresde_sampler_sample(dpm, model, &xT, 1, 1, 0, 0, &x, NULL) == SCORESDE_OK);
            double err = fabs(x - exact);
            if (steps == 80)
                printf("order %d: %2d steps, error %.3e\n", order, steps, err);
            else {
                double slope = log2(prev / err);
                printf("order %d: %2d steps, error %.3e, measured order %.2f\n", order, steps,
                       err, slope);
                CHECK(fabs(slope - order) < 0.25);
            }
            prev = err;
        }
    }
    ok = 1;
done:
    scoresde_sampler_free(dpm);
    scoresde_model_free(model);
    scoresde_sde_free(sde);
    return ok ? 0 : 1;
}
