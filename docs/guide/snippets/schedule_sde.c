/* Guide, "Forward SDEs": a general (alpha, sigma) schedule from a callback.
 * Here the callback reproduces the built-in cosine schedule, and the two SDEs
 * are compared. Exits 0 when every check holds. */
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

static const double PI = 3.14159265358979323846;

/* iDDPM cosine: alpha = cos(((t+s)/(1+s)) pi/2) / cos((s/(1+s)) pi/2),
 * sigma = sqrt(1 - alpha^2); the offset s comes through `user`. */
static int cosine(const double *t, size_t n, double *alpha, double *sigma, double *dalpha,
                  double *dsigma, void *user)
{
    const double s = *(const double *)user;
    const double c0 = cos(s / (1 + s) * PI / 2), k = PI / (2 * (1 + s));
    for (size_t i = 0; i < n; i++) {
        double a = cos((t[i] + s) * k) / c0;
        double da = -k * sin((t[i] + s) * k) / c0;
        double sg = sqrt(1 - a * a);
        alpha[i] = a;
        dalpha[i] = da;
        sigma[i] = sg;
        dsigma[i] = sg > 0 ? -a * da / sg : INFINITY; /* sigma ~ sqrt(t) at t = 0 */
    }
    return 0;
}

int main(void)
{
    double s = 0.008;
    scoresde_sde *mine = NULL, *builtin = NULL;
    CHECK(scoresde_sde_create_schedule(&mine, 0.9946, cosine, &s) == SCORESDE_OK);
    CHECK(scoresde_sde_create_cosine(&builtin, 0.008, 0.9946) == SCORESDE_OK);

    const double t[4] = {0.1, 0.4, 0.7, 0.95};
    double g1[4], g2[4], a1[4], a2[4];
    CHECK(scoresde_sde_diffusion(mine, t, 4, g1) == SCORESDE_OK);
    CHECK(scoresde_sde_diffusion(builtin, t, 4, g2) == SCORESDE_OK);
    CHECK(scoresde_sde_marginal(mine, t, 4, a1, NULL, NULL, NULL) == SCORESDE_OK);
    CHECK(scoresde_sde_marginal(builtin, t, 4, a2, NULL, NULL, NULL) == SCORESDE_OK);
    for (int i = 0; i < 4; i++) {
        printf("t = %.2f  alpha %.9f / %.9f  g %.9f / %.9f\n", t[i], a1[i], a2[i], g1[i], g2[i]);
        CHECK(fabs(a1[i] - a2[i]) < 1e-12);
        CHECK(fabs(g1[i] - g2[i]) < 1e-9 * g2[i]);
    }

    /* The SDE keeps the pointer `&s`: s must outlive it. */
    scoresde_sde_free(mine);
    scoresde_sde_free(builtin);
    return 0;
}
