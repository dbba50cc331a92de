/* The README's conditional example: learn the posterior of theta given y for
 * the simulator theta ~ N(0, 1), y = theta + N(0, 0.25), then sample it for
 * one observation y = 1 (exact posterior: N(0.8, 0.2)). */
#include <scoresde.h>
#include <stdio.h>

enum { M = 4000, N = 1000 };

int main(void)
{
    static double theta[M], y[M], x[N];
    scoresde_sde *sde = NULL;
    scoresde_model *net = NULL, *post = NULL;
    scoresde_loss *loss = NULL;
    scoresde_trainer *tr = NULL;
    scoresde_sampler *s = NULL;
    scoresde_mlp_options mo;
    const size_t widths[2] = {64, 64};
    int rc = scoresde_rng_normal(/*seed*/ 1, /*stream*/ 0, 0, M, theta);
    if (rc == SCORESDE_OK)
        rc = scoresde_rng_normal(1, 1, 0, M, y);
    for (int j = 0; j < M; j++)
        y[j] = theta[j] + 0.5 * y[j]; /* the simulator */
    if (rc == SCORESDE_OK)
        rc = scoresde_sde_create_default(&sde, SCORESDE_SDE_VP);
    if (rc == SCORESDE_OK)
        rc = scoresde_model_mlp_options_init(&mo, sizeof mo);
    mo.n_hidden = 2, mo.widths = widths, mo.cond_dim = 1; /* a conditional MLP, C = 1 */
    if (rc == SCORESDE_OK)
        rc = scoresde_model_create_mlp(&net, sde, /*D*/ 1, &mo);
    if (rc == SCORESDE_OK)
        rc = scoresde_loss_create(&loss, SCORESDE_LOSS_DSM);
    if (rc == SCORESDE_OK)
        rc = scoresde_trainer_create(&tr, net, loss);
    if (rc == SCORESDE_OK)
        rc = scoresde_trainer_set_double(tr, SCORESDE_TRAIN_LR, 3e-3);
    if (rc == SCORESDE_OK)
        rc = scoresde_trainer_set_int(tr, SCORESDE_TRAIN_WARMUP, 100);
    scoresde_cond pairs = {sizeof pairs, /*C*/ 1, y, /*rows*/ M, NULL}; /* y_j for theta_j */
    if (rc == SCORESDE_OK)
        rc = scoresde_trainer_fit_cond(tr, theta, M, 1, &pairs, /*steps*/ 1000, NULL, NULL);
    if (rc == SCORESDE_OK)
        rc = scoresde_trainer_export(&post, tr, SCORESDE_TRAIN_EXPORT_RAW);
    if (rc == SCORESDE_OK)
        rc = scoresde_sampler_create(&s, SCORESDE_SAMPLER_DPMPP);
    const double y_obs = 1.0;
    scoresde_cond obs = {sizeof obs, 1, &y_obs, /*rows*/ 1, NULL}; /* y_obs for every sample */
    if (rc == SCORESDE_OK)
        rc = scoresde_sampler_sample_cond(s, post, NULL, N, 1, &obs, /*seed*/ 2, 0, x, NULL);
    if (rc != SCORESDE_OK) {
        fprintf(stderr, "error: %s: %s\n", scoresde_strerror(rc), scoresde_last_error());
    } else {
        double mean = 0.0;
        for (int i = 0; i < N; i++)
            mean += x[i] / N;
        printf("posterior mean given y = 1: %.3f (exact 0.8)\n", mean);
    }
    scoresde_sampler_free(s);
    scoresde_model_free(post);
    scoresde_trainer_free(tr);
    scoresde_loss_free(loss);
    scoresde_model_free(net);
    scoresde_sde_free(sde);
    return rc == SCORESDE_OK ? 0 : 1;
}
