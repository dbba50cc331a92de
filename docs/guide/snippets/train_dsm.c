/* Guide, "Losses": train an MLP's score on a 2-D Gaussian mixture with
 * denoising score matching (scoresde_loss + scoresde_trainer), and check that
 * the loss on a fixed held-out batch goes down. Exits 0 when every check
 * holds. */
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

enum { D = 2, M = 4096, NEVAL = 2048 };

int main(void)
{
    int ok = 0;
    scoresde_sde *sde = NULL;
    scoresde_model *data_model = NULL, *net = NULL;
    scoresde_loss *loss = NULL;
    scoresde_trainer *tr = NULL;
    static double data[M * D], held_out[NEVAL * D], t0[M];
    const double w[2] = {0.4, 0.6}, mu[4] = {-1.5, -0.5, 1.5, 0.5}, var[4] = {0.1, 0.1, 0.1, 0.1};

    /* The data: exact draws (t = 0) of a two-component mixture. */
    CHECK(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP) == SCORESDE_OK);
    CHECK(scoresde_model_create_gmm(&data_model, sde, 2, D, w, mu, var) == SCORESDE_OK);
    CHECK(scoresde_model_sample(data_model, t0, M, D, 1, 0, data) == SCORESDE_OK);
    CHECK(scoresde_model_sample(data_model, t0, NEVAL, D, 2, 0, held_out) == SCORESDE_OK);

    /* The network: an MLP with two hidden layers of 32 (NOISE output). */
    scoresde_mlp_options opts;
    CHECK(scoresde_model_mlp_options_init(&opts, sizeof opts) == SCORESDE_OK);
    opts.n_hidden = 2;
    static const size_t widths[2] = {32, 32}; /* NULL: every layer 256 */
    opts.widths = widths;
    CHECK(scoresde_model_create_mlp(&net, sde, D, &opts) == SCORESDE_OK);

    /* score_sde's loss: DSM, t ~ U(1e-5, 1), lambda = sigma^2, mean over D. */
    CHECK(scoresde_loss_create(&loss, SCORESDE_LOSS_DSM) == SCORESDE_OK);

    /* score_sde's optimiser, except a shorter warm-up and a larger step for a
     * run of 400 steps (WARMUP 5000 would keep lr near 0 throughout). */
    CHECK(scoresde_trainer_create(&tr, net, loss) == SCORESDE_OK);
    CHECK(scoresde_trainer_set_double(tr, SCORESDE_TRAIN_LR, 1e-2) == SCORESDE_OK);
    CHECK(scoresde_trainer_set_int(tr, SCORESDE_TRAIN_WARMUP, 20) == SCORESDE_OK);
    CHECK(scoresde_trainer_set_int(tr, SCORESDE_TRAIN_BATCH, 128) == SCORESDE_OK);

    /* The held-out loss uses a fixed seed: the same times and noise before
     * and after, so only the parameters differ. */
    double before, after;
    CHECK(scoresde_loss_eval(loss, net, held_out, NEVAL, D, 99, 0, &before, NULL, NULL, 0) ==
          SCORESDE_OK);
    CHECK(scoresde_trainer_fit(tr, data, M, D, 400, NULL, NULL) == SCORESDE_OK);
    CHECK(scoresde_loss_eval(loss, net, held_out, NEVAL, D, 99, 0, &after, NULL, NULL, 0) ==
          SCORESDE_OK);
    printf("held-out DSM loss %.4f -> %.4f after %llu steps\n", before, after,
           (unsigned long long)scoresde_trainer_steps(tr));
    CHECK(scoresde_trainer_steps(tr) == 400);
    CHECK(after < 0.8 * before);

    /* The same loss by hand for one sample: the default MEAN reduction is
     * (1/D) ||sigma s + z||^2 at t ~ U(eps, T), from the streams the header
     * names (time: TIME purpose, element 0; noise: PERTURB, elements j < D). */
    const double eps = scoresde_sde_training_eps(sde), T = scoresde_sde_end_time(sde);
    double u, t, z[D], xt[D], s[D], sigma, alpha, v1;
    CHECK(scoresde_rng_uniform(99, 0, SCORESDE_RNG_OFFSET(SCORESDE_RNG_TIME, 0), 1, &u) ==
          SCORESDE_OK);
    t = eps + u * (T - eps);
    CHECK(scoresde_rng_normal(99, 0, SCORESDE_RNG_OFFSET(SCORESDE_RNG_PERTURB, 0), D, z) ==
          SCORESDE_OK);
    CHECK(scoresde_sde_marginal(sde, &t, 1, &alpha, &sigma, NULL, NULL) == SCORESDE_OK);
    for (int j = 0; j < D; j++)
        xt[j] = alpha * held_out[j] + sigma * z[j];
    CHECK(scoresde_model_score(net, xt, &t, 1, D, s) == SCORESDE_OK);
    double by_hand = 0;
    for (int j = 0; j < D; j++)
        by_hand += (sigma * s[j] + z[j]) * (sigma * s[j] + z[j]) / D;
    CHECK(scoresde_loss_eval(loss, net, held_out, 1, D, 99, 0, &v1, NULL, NULL, 0) ==
          SCORESDE_OK);
    printf("sample 0: loss %.12f, by hand %.12f\n", v1, by_hand);
    CHECK(fabs(v1 - by_hand) < 1e-12 * (1 + by_hand));
    ok = 1;
done:
    scoresde_trainer_free(tr);
    scoresde_loss_free(loss);
    scoresde_model_free(net);
    scoresde_model_free(data_model);
    scoresde_sde_free(sde);
    return ok ? 0 : 1;
}
