/* Guide, "Conditional models and classifier-free guidance": posterior
 * sampling for one observation of the exact linear-Gaussian model (the
 * sample mean within 5 standard errors of the closed-form posterior mean,
 * which the program computes for this 1-D case), a class-conditional
 * mixture sampled per class, and classifier-free guidance, which with a
 * large w pushes class 1's samples further from the other class.
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

enum { N = 2000 };

static double mean_of(const double *x, size_t n, size_t stride)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i * stride];
    return s / (double)n;
}

int main(void)
{
    int ok = 0;
    static double x[2 * N];
    scoresde_sde *sde = NULL;
    scoresde_model *lg = NULL, *mix = NULL;
    scoresde_sampler *s = NULL;
    CHECK(scoresde_sde_create_vp(&sde, 0.1, 20.0) == SCORESDE_OK);

    /* theta ~ N(0, 1), y = 2 theta + N(0, 0.5): the posterior given y has
     * precision 1 + 4 / 0.5 = 9 and mean (2 / 0.5) y / 9 */
    double m0 = 0, S0 = 1, A = 2, Se = 0.5, y = 1.5;
    CHECK(scoresde_model_create_linear_gaussian(&lg, sde, 1, 1, &m0, &S0, &A, NULL, &Se) ==
          SCORESDE_OK);
    double Sp = 1.0 / (1.0 / S0 + A * A / Se), mp = Sp * A * y / Se;
    CHECK(scoresde_sampler_create(&s, SCORESDE_SAMPLER_DPMPP) == SCORESDE_OK);
    scoresde_cond obs = {sizeof obs, 1, &y, 1, NULL}; /* one row for every sample */
    CHECK(scoresde_sampler_sample_cond(s, lg, NULL, N, 1, &obs, 1, 0, x, NULL) == SCORESDE_OK);
    double m = mean_of(x, N, 1);
    printf("posterior mean %.4f (exact %.4f)\n", m, mp);
    CHECK(fabs(m - mp) < 5 * sqrt(Sp / N));

    /* two classes, one component each, at x = -2 and x = +2 */
    double pi[2] = {0.5, 0.5}, w[2] = {1, 1}, mu[4] = {-2, 0, 2, 0}, v[4] = {1, 1, 1, 1};
    CHECK(scoresde_model_create_cond_gmm(&mix, sde, 2, 1, 2, pi, w, mu, v) == SCORESDE_OK);
    double label = 1;
    scoresde_cond c1 = {sizeof c1, 1, &label, 1, NULL};
    CHECK(scoresde_sampler_sample_cond(s, mix, NULL, N, 2, &c1, 2, 0, x, NULL) == SCORESDE_OK);
    double plain = mean_of(x, N, 2);
    CHECK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_GUIDANCE_SCALE, 3.0) == SCORESDE_OK);
    CHECK(scoresde_sampler_sample_cond(s, mix, NULL, N, 2, &c1, 2, 0, x, NULL) == SCORESDE_OK);
    double guided = mean_of(x, N, 2);
    printf("class 1 mean %.3f (exact 2), with w = 3: %.3f\n", plain, guided);
    CHECK(fabs(plain - 2.0) < 5 * sqrt(1.0 / N) + 0.02 && guided > plain + 0.1);
    ok = 1;
done:
    scoresde_sampler_free(s);
    scoresde_model_free(mix);
    scoresde_model_free(lg);
    scoresde_sde_free(sde);
    return ok ? 0 : 1;
}
