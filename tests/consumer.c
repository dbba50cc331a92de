/* A program outside the project, built against the installed library by
 * tests/check_consumer.sh: through pkg-config (shared, and fully static with
 * --static) and through CMake's find_package. It calls into the parts that
 * need the library's own dependencies: BLIS (an MLP evaluation), OpenMP (two
 * threads) and libm (the closed-form check). Exits 1 on a wrong result. */
#include <scoresde.h>
#include <math.h>
#include <stdio.h>

static int fail(const char *what, int status)
{
    fprintf(stderr, "consumer: %s: %s: %s\n", what, scoresde_strerror(status),
            scoresde_last_error());
    return 1;
}

int main(void)
{
    if (scoresde_version_number() != SCORESDE_VERSION_NUMBER) {
        fprintf(stderr, "consumer: header %s but library %s\n", SCORESDE_VERSION_STRING,
                scoresde_version_string());
        return 1;
    }
    scoresde_sde *sde = NULL;
    scoresde_model *gmm = NULL, *mlp = NULL;
    int st = scoresde_sde_create_vp(&sde, 0.1, 20.0);
    if (st < 0)
        return fail("scoresde_sde_create_vp", st);

    /* One Gaussian N(mu, v): score = -(x - alpha mu) / (alpha^2 v + sigma^2). */
    const double w[] = {1.0}, mu[] = {1.5}, v[] = {0.5}, x[] = {0.25}, t[] = {0.3};
    double alpha, sigma, score;
    st = scoresde_model_create_gmm(&gmm, sde, 1, 1, w, mu, v);
    if (st < 0)
        return fail("scoresde_model_create_gmm", st);
    st = scoresde_model_score(gmm, x, t, 1, 1, &score);
    if (st < 0)
        return fail("scoresde_model_score", st);
    st = scoresde_sde_marginal(sde, t, 1, &alpha, &sigma, NULL, NULL);
    if (st < 0)
        return fail("scoresde_sde_marginal", st);
    double exact = -(x[0] - alpha * mu[0]) / (alpha * alpha * v[0] + sigma * sigma);
    if (fabs(score - exact) > 1e-12 * fmax(1.0, fabs(exact))) {
        fprintf(stderr, "consumer: mixture score %.17g, closed form %.17g\n", score, exact);
        return 1;
    }

    /* An MLP on two threads: BLIS GEMMs inside an OpenMP region. */
    scoresde_mlp_options opt;
    st = scoresde_model_mlp_options_init(&opt, sizeof opt);
    if (st < 0)
        return fail("scoresde_model_mlp_options_init", st);
    const size_t widths[] = {64, 64};
    opt.n_hidden = 2, opt.widths = widths, opt.n_threads = 2, opt.chunk_rows = 8;
    st = scoresde_model_create_mlp(&mlp, sde, 1, &opt);
    if (st < 0)
        return fail("scoresde_model_create_mlp", st);
    double xs[64], ts[64], out[64];
    for (int i = 0; i < 64; i++)
        xs[i] = 0.05 * i - 1.6, ts[i] = 0.01 + 0.015 * i;
    st = scoresde_model_score(mlp, xs, ts, 64, 1, out);
    if (st < 0)
        return fail("scoresde_model_score (mlp)", st);
    for (int i = 0; i < 64; i++)
        if (!isfinite(out[i])) {
            fprintf(stderr, "consumer: MLP score %d is %g\n", i, out[i]);
            return 1;
        }
    scoresde_model_free(mlp);
    scoresde_model_free(gmm);
    scoresde_sde_free(sde);
    printf("consumer: libscoresde %s works (mixture score exact, MLP on BLIS and OpenMP)\n",
           scoresde_version_string());
    return 0;
}
