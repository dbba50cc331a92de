/* Guide, "Scores and models": a small MLP score network, its parameters, an
 * EMA copy, and the backward pass. Exits 0 when every check holds. */
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

enum { D = 2, N = 3 };

int main(void)
{
    int ok = 0;
    scoresde_sde *sde = NULL;
    scoresde_model *net = NULL, *ema = NULL;
    double *theta = NULL, *grad = NULL;
    size_t count = 0;

    CHECK(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP) == SCORESDE_OK);

    /* Start from the defaults, then change what you need. */
    scoresde_mlp_options opts;
    CHECK(scoresde_model_mlp_options_init(&opts, sizeof opts) == SCORESDE_OK);
    opts.n_hidden = 2;
    static const size_t widths[2] = {32, 32}; /* NULL: every layer 256 */
    opts.widths = widths;
    opts.output = SCORESDE_MLP_OUTPUT_NOISE; /* the default: predict the noise */
    opts.seed = 11;
    CHECK(scoresde_model_create_mlp(&net, sde, D, &opts) == SCORESDE_OK);
    CHECK(scoresde_model_create_mlp(&ema, sde, D, &opts) == SCORESDE_OK);

    /* (D + 16) x 32 + 32, 32 x 32 + 32, 32 x D + D parameters. */
    count = scoresde_model_num_params(net);
    CHECK(count > 0);
    printf("parameters: %zu\n", count);
    CHECK(count == (D + 16) * 32 + 32 + 32 * 32 + 32 + 32 * D + D);

    const double x[N * D] = {0.1, -0.3, 1.0, 0.5, -1.2, 2.0}, t[N] = {0.1, 0.5, 0.9};
    double s[N * D], s_ema[N * D];
    CHECK(scoresde_model_score(net, x, t, N, D, s) == SCORESDE_OK);

    /* Set an EMA model to the network's parameters: same scores, same bits. */
    CHECK(scoresde_model_copy_params(ema, net) == SCORESDE_OK);
    CHECK(scoresde_model_score(ema, x, t, N, D, s_ema) == SCORESDE_OK);
    for (int k = 0; k < N * D; k++)
        CHECK(s[k] == s_ema[k]);

    /* Gradient of L = sum_ij s_ij with respect to the parameters, checked by
     * a central difference in one parameter. */
    theta = malloc(count * sizeof *theta);
    grad = calloc(count, sizeof *grad);
    CHECK(theta != NULL && grad != NULL);
    const double ones[N * D] = {1, 1, 1, 1, 1, 1};
    CHECK(scoresde_model_score_backward(net, x, t, N, D, ones, grad, count) == SCORESDE_OK);
    CHECK(scoresde_model_get_params(net, theta, count) == SCORESDE_OK);
    const size_t p = 5;
    const double h = 1e-6, keep = theta[p];
    double Lp = 0, Lm = 0;
    theta[p] = keep + h;
    CHECK(scoresde_model_set_params(net, theta, count) == SCORESDE_OK);
    CHECK(scoresde_model_score(net, x, t, N, D, s) == SCORESDE_OK);
    for (int k = 0; k < N * D; k++)
        Lp += s[k];
    theta[p] = keep - h;
    CHECK(scoresde_model_set_params(net, theta, count) == SCORESDE_OK);
    CHECK(scoresde_model_score(net, x, t, N, D, s) == SCORESDE_OK);
    for (int k = 0; k < N * D; k++)
        Lm += s[k];
    printf("dL/dtheta[%zu]: backward %.8f, central difference %.8f\n", p, grad[p],
           (Lp - Lm) / (2 * h));
    CHECK(fabs(grad[p] - (Lp - Lm) / (2 * h)) < 1e-5 * (1 + fabs(grad[p])));
    ok = 1;
done:
    free(grad);
    free(theta);
    scoresde_model_free(ema);
    scoresde_model_free(net);
    scoresde_sde_free(sde);
    return ok ? 0 : 1;
}
