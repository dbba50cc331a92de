/* Guide, "Losses": one step of denoising score matching assembled by hand
 * from the SDE and model calls (what scoresde_loss_eval does for DSM; see
 * train_dsm.c for the library's loss and trainer). Loss, sigma^2 weighting,
 * 1/2-sum over dimensions, mean over the batch:
 *     L = (1/n) sum_i 1/2 sigma_i^2 || s(x_t,i, t_i) + z_i / sigma_i ||^2.
 * Checks the gradient against a central difference and that a small gradient
 * step lowers L on the same batch. Exits 0 when every check holds. */
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

enum { N = 64, D = 2 };

struct batch {
    double x0[N * D], t[N], xt[N * D], z[N * D], sigma[N];
};

/* The loss of `net` on the batch; with grad != NULL, also ADD its parameter
 * gradient to grad (count values). */
static int dsm_loss(const scoresde_model *net, const struct batch *b, double *loss,
                    double *grad, size_t count)
{
    double s[N * D], ds[N * D];
    int rc = scoresde_model_score(net, b->xt, b->t, N, D, s);
    if (rc != SCORESDE_OK)
        return rc;
    double L = 0;
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < D; j++) {
            size_t k = i * D + j;
            double r = s[k] + b->z[k] / b->sigma[i]; /* s minus the kernel score */
            L += 0.5 * b->sigma[i] * b->sigma[i] * r * r / N;
            ds[k] = b->sigma[i] * b->sigma[i] * r / N; /* dL/ds */
        }
    *loss = L;
    if (grad != NULL)
        rc = scoresde_model_score_backward(net, b->xt, b->t, N, D, ds, grad, count);
    return rc;
}

int main(void)
{
    int ok = 0;
    const uint64_t seed = 5, step = 0;
    scoresde_sde *sde = NULL;
    scoresde_model *net = NULL;
    double *theta = NULL, *grad = NULL;
    size_t count = 0;
    static struct batch b;

    CHECK(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP) == SCORESDE_OK);
    scoresde_mlp_options opts;
    CHECK(scoresde_model_mlp_options_init(&opts, sizeof opts) == SCORESDE_OK);
    opts.n_hidden = 2;
    static const size_t widths[2] = {32, 32}; /* NULL: every layer 256 */
    opts.widths = widths;
    CHECK(scoresde_model_create_mlp(&net, sde, D, &opts) == SCORESDE_OK);

    /* Data: two clusters. Times t ~ U(eps, T) under the TIME purpose; then
     * x_t = alpha x_0 + sigma z with z kept (the PERTURB purpose). The
     * training step moves both to fresh numbers: the time at offset `step`,
     * the noise at draw = step * D. */
    const double eps = scoresde_sde_training_eps(sde), T = scoresde_sde_end_time(sde);
    for (size_t i = 0; i < N; i++) {
        double u;
        CHECK(scoresde_rng_uniform(seed, i, SCORESDE_RNG_OFFSET(SCORESDE_RNG_TIME, step), 1,
                                   &u) == SCORESDE_OK);
        b.t[i] = eps + (T - eps) * u;
        b.x0[i * D] = (i % 2) ? 1.5 : -1.5;
        b.x0[i * D + 1] = (i % 2) ? 0.5 : -0.5;
    }
    CHECK(scoresde_sde_perturb(sde, b.x0, b.t, N, D, seed, 0, step * D, b.xt, b.z) ==
          SCORESDE_OK);
    CHECK(scoresde_sde_marginal(sde, b.t, N, NULL, b.sigma, NULL, NULL) == SCORESDE_OK);

    count = scoresde_model_num_params(net);
    CHECK(count > 0);
    theta = malloc(count * sizeof *theta);
    grad = calloc(count, sizeof *grad); /* score_backward adds: start from zero */
    CHECK(theta != NULL && grad != NULL);
    double L0, Lp, Lm, L1;
    CHECK(dsm_loss(net, &b, &L0, grad, count) == SCORESDE_OK);

    /* The gradient of one parameter against a central difference. */
    CHECK(scoresde_model_get_params(net, theta, count) == SCORESDE_OK);
    const size_t p = 3;
    const double h = 1e-6, keep = theta[p];
    theta[p] = keep + h;
    CHECK(scoresde_model_set_params(net, theta, count) == SCORESDE_OK);
    CHECK(dsm_loss(net, &b, &Lp, NULL, 0) == SCORESDE_OK);
    theta[p] = keep - h;
    CHECK(scoresde_model_set_params(net, theta, count) == SCORESDE_OK);
    CHECK(dsm_loss(net, &b, &Lm, NULL, 0) == SCORESDE_OK);
    theta[p] = keep;
    printf("dL/dtheta[%zu]: backward %.8f, central difference %.8f\n", p, grad[p],
           (Lp - Lm) / (2 * h));
    CHECK(fabs(grad[p] - (Lp - Lm) / (2 * h)) < 1e-5 * (1 + fabs(grad[p])));

    /* A plain gradient step (the trainer uses Adam, lr 2e-4, as score_sde). */
    double norm2 = 0;
    for (size_t k = 0; k < count; k++)
        norm2 += grad[k] * grad[k];
    const double lr = 1e-3 / sqrt(norm2);
    for (size_t k = 0; k < count; k++)
        theta[k] -= lr * grad[k];
    CHECK(scoresde_model_set_params(net, theta, count) == SCORESDE_OK);
    CHECK(dsm_loss(net, &b, &L1, NULL, 0) == SCORESDE_OK);
    printf("loss %.6f -> %.6f after one step\n", L0, L1);
    CHECK(L1 < L0);
    ok = 1;
done:
    free(grad);
    free(theta);
    scoresde_model_free(net);
    scoresde_sde_free(sde);
    return ok ? 0 : 1;
}
