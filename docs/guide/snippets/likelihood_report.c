/* Guide, "Reporting likelihoods": the variational bound next to the
 * probability-flow likelihood for 8-bit data on a Gaussian mixture, with
 * every term of the report, and the terms adding up to the total.
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

enum { K = 2, D = 2, N = 200, C = SCORESDE_REPORT_COLUMNS };

static double mean_col(const double *rows, int col)
{
    double m = 0;
    for (int i = 0; i < N; i++)
        m += rows[i * C + col] / N;
    return m;
}

int main(void)
{
    int ok = 0;
    scoresde_sde *sde = NULL;
    scoresde_model *model = NULL;
    scoresde_sampler *s = NULL;
    static double x[N * D], ode[N * C], bound[N * C];
    const double w[K] = {0.3, 0.7}, mu[K * D] = {-0.4, -0.2, 0.4, 0.2};
    const double var[K * D] = {0.05, 0.08, 0.08, 0.04};

    CHECK(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP) == SCORESDE_OK);
    CHECK(scoresde_model_create_gmm(&model, sde, K, D, w, mu, var) == SCORESDE_OK);
    /* 8-bit data: samples of the model mapped from [-1, 1) to 0..255 */
    static double t0[N]; /* all zero: samples of p_0 */
    CHECK(scoresde_model_sample(model, t0, N, D, 1, 0, x) == SCORESDE_OK);
    for (int i = 0; i < N * D; i++)
        x[i] = fmin(255, fmax(0, floor((x[i] + 1) * 128)));

    CHECK(scoresde_sampler_create(&s, SCORESDE_SAMPLER_ODE) == SCORESDE_OK);
    CHECK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_DEQUANT_BITS, 8) == SCORESDE_OK);
    CHECK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_DATA_SCALE, 2) == SCORESDE_OK);
    CHECK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_DATA_SHIFT, -1) == SCORESDE_OK);
    CHECK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BOUND_DRAWS, 16) == SCORESDE_OK);
    CHECK(scoresde_sampler_report(s, model, SCORESDE_REPORT_ODE, x, N, D, 7, 0, ode, C,
                                  NULL) == SCORESDE_OK);
    CHECK(scoresde_sampler_report(s, model, SCORESDE_REPORT_BOUND, x, N, D, 7, 0, bound, C,
                                  NULL) == SCORESDE_OK);
    printf("            prior    flow  boundary dequant   total    bpd\n");
    const char *names[2] = {"ODE  ", "bound"};
    const double *rows[2] = {ode, bound};
    for (int k = 0; k < 2; k++) {
        printf("%s", names[k]);
        for (int c = 0; c <= SCORESDE_REPORT_BPD; c++)
            printf(" %8.3f", mean_col(rows[k], c));
        printf("\n");
    }
    for (int i = 0; i < N; i++) {
        const double *r = bound + i * C;
        CHECK(r[SCORESDE_REPORT_TOTAL] == ((r[0] + r[1]) + r[2]) + r[3]);
    }
    /* the bound is an upper bound: above the ODE's figure on average (the
     * exact score; 3 standard errors of the mean over the points) */
    double diff = mean_col(bound, SCORESDE_REPORT_TOTAL) - mean_col(ode, SCORESDE_REPORT_TOTAL);
    double se = 0;
    for (int i = 0; i < N; i++)
        se += bound[i * C + SCORESDE_REPORT_STDERR] * bound[i * C + SCORESDE_REPORT_STDERR];
    se = sqrt(se) / N;
    printf("bound - ODE: %.3f nats (+- %.3f)\n", diff, se);
    CHECK(diff > -3 * se);
    ok = 1;
done:
    scoresde_sampler_free(s);
    scoresde_model_free(model);
    scoresde_sde_free(sde);
    return ok ? 0 : 1;
}
