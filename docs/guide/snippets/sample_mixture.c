/* Guide, "The reverse-time SDE and samplers" and "The probability-flow ODE":
 * sample a 2-D Gaussian mixture (its exact score, under VP) with the PC
 * sampler, the adaptive probability-flow ODE and DPM-Solver++, and check each
 * sample's component masses, means and variances against the mixture's.
 * Bounds: 5 standard errors of each statistic (a z-bound of 5) plus `slack`
 * for the sampler's discretisation (0 suffices for all three). Also shows
 * the bias of per-sample Langevin norms in 2-D. Exits 0 when every check holds. */
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

enum { K = 2, D = 2, N = 2000 };

static const double w[K] = {0.3, 0.7};
static const double mu[K * D] = {-2.0, -1.0, 2.0, 1.0};
static const double var[K * D] = {0.3, 0.5, 0.5, 0.2};

/* Assign each sample to its nearer component (in standard deviations: the
 * components are far enough apart that misassignment is negligible) and
 * compare mass, mean and variance per component. Returns 1 if all hold. */
static int moments_match(const char *what, const double *x, double slack, double *mass0)
{
    double cnt[K] = {0}, sum[K][D] = {{0}}, sq[K][D] = {{0}};
    for (size_t i = 0; i < N; i++) {
        double d[K] = {0};
        for (int k = 0; k < K; k++)
            for (int j = 0; j < D; j++) {
                double r = x[i * D + j] - mu[k * D + j];
                d[k] += r * r / var[k * D + j];
            }
        int k = d[0] < d[1] ? 0 : 1;
        cnt[k]++;
        for (int j = 0; j < D; j++) {
            sum[k][j] += x[i * D + j];
            sq[k][j] += x[i * D + j] * x[i * D + j];
        }
    }
    int good = 1;
    printf("%-28s", what);
    for (int k = 0; k < K; k++) {
        double mass = cnt[k] / N;
        printf(" mass %.3f", mass);
        if (k == 0)
            *mass0 = mass;
        good &= fabs(mass - w[k]) < 5 * sqrt(w[k] * (1 - w[k]) / N) + slack;
        for (int j = 0; j < D; j++) {
            double m = sum[k][j] / cnt[k], v = (sq[k][j] - cnt[k] * m * m) / (cnt[k] - 1);
            double vk = var[k * D + j];
            good &= fabs(m - mu[k * D + j]) < 5 * sqrt(vk / cnt[k]) + slack;
            good &= fabs(v - vk) < 5 * vk * sqrt(2 / (cnt[k] - 1)) + slack;
        }
    }
    printf(good ? "  ok\n" : "  mismatch\n");
    return good;
}

int main(void)
{
    int ok = 0;
    scoresde_sde *sde = NULL;
    scoresde_model *model = NULL;
    scoresde_sampler *pc = NULL, *ode = NULL, *dpm = NULL;
    static double x[N * D];
    scoresde_sampler_stats st = {.struct_size = sizeof st};

    CHECK(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP) == SCORESDE_OK);
    CHECK(scoresde_model_create_gmm(&model, sde, K, D, w, mu, var) == SCORESDE_OK);

    /* PC: score_sde's reverse diffusion + Langevin (snr 0.16, one corrector
     * step, the NOISE_LEVEL step rule) and final denoising, on 200 instead
     * of 1000 steps. */
    CHECK(scoresde_sampler_create(&pc, SCORESDE_SAMPLER_PC) == SCORESDE_OK);
    CHECK(scoresde_sampler_set_int(pc, SCORESDE_SAMPLER_STEPS, 200) == SCORESDE_OK);
    CHECK(scoresde_sampler_sample(pc, model, NULL, N, D, 42, 0, x, &st) == SCORESDE_OK);
    printf("PC:  NFE %llu per sample, t_final %g\n", (unsigned long long)st.nfe, st.t_final);
    CHECK(st.nfe == 200 * 2 + 1);
    double mass0;
    CHECK(moments_match("PC (RD + Langevin)", x, 0, &mass0));

    /* 1.0's per-sample Langevin norms: samples near the saddle between
     * the modes, where ||s|| is small, take huge steps, and mass moves
     * between the components (about 0.1 here, twenty standard errors). */
    CHECK(scoresde_sampler_set_int(pc, SCORESDE_SAMPLER_BATCH_NORMS,
                                   SCORESDE_SAMPLER_NORMS_PER_SAMPLE) == SCORESDE_OK);
    CHECK(scoresde_sampler_sample(pc, model, NULL, N, D, 42, 0, x, &st) == SCORESDE_OK);
    CHECK(!moments_match("PC, per-sample norms", x, 0, &mass0));
    CHECK(fabs(mass0 - w[0]) > 0.05);

    /* The probability-flow ODE with the defaults: Dormand-Prince 5(4),
     * rtol = atol = 1e-5 (score_sde's RK45). */
    CHECK(scoresde_sampler_create(&ode, SCORESDE_SAMPLER_ODE) == SCORESDE_OK);
    CHECK(scoresde_sampler_sample(ode, model, NULL, N, D, 42, 0, x, &st) == SCORESDE_OK);
    printf("ODE: NFE %llu per sample (max), %llu accepted, %llu rejected steps in all\n",
           (unsigned long long)st.nfe, (unsigned long long)st.accepted,
           (unsigned long long)st.rejected);
    CHECK(moments_match("ODE (Dormand-Prince)", x, 0, &mass0));

    /* DPM-Solver++(3M) on 20 log-SNR steps: 21 evaluations. */
    CHECK(scoresde_sampler_create(&dpm, SCORESDE_SAMPLER_DPMPP) == SCORESDE_OK);
    CHECK(scoresde_sampler_set_int(dpm, SCORESDE_SAMPLER_ORDER, 3) == SCORESDE_OK);
    CHECK(scoresde_sampler_sample(dpm, model, NULL, N, D, 42, 0, x, &st) == SCORESDE_OK);
    printf("DPM-Solver++(3M): NFE %llu per sample\n", (unsigned long long)st.nfe);
    CHECK(st.nfe == 21);
    CHECK(moments_match("DPM-Solver++(3M), 20 steps", x, 0, &mass0));
    ok = 1;
done:
    scoresde_sampler_free(dpm);
    scoresde_sampler_free(ode);
    scoresde_sampler_free(pc);
    scoresde_model_free(model);
    scoresde_sde_free(sde);
    return ok ? 0 : 1;
}
