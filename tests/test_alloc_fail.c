/*
 * Allocation-failure injection through the public allocator hook (SQLite's
 * way): each scenario runs once counting its allocations, then once for
 * every k with the k-th allocation failing (every `stride`-th k where a
 * scenario makes thousands). Each run must return SCORESDE_OK or
 * SCORESDE_ENOMEM with a message (or a scenario's own documented status),
 * never crash, and leave scoresde_live_allocations() at zero. Scenarios
 * cover SDEs, models (mixtures, linear-Gaussian, MLP, callbacks), files and
 * buffers, losses, the trainer and its checkpoints, and every sampler method
 * and entry point.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* ---- the injecting allocator */

static atomic_size_t calls;   /* allocations requested in this run */
static atomic_size_t fail_at; /* 1-based index of the allocation that fails; 0: none */

static void *inject_malloc(size_t size, void *user)
{
    (void)user;
    size_t k = atomic_fetch_add(&calls, 1) + 1;
    return k == atomic_load(&fail_at) ? NULL : malloc(size);
}

static void inject_free(void *ptr, void *user)
{
    (void)user;
    free(ptr);
}

/* A scenario: builds what it needs, calls entry points, frees everything
 * whatever happened, returns the first failing status (or OK). */
typedef int (*scenario_fn)(void);

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        rc = (expr);                                                                               \
        if (rc != SCORESDE_OK)                                                                     \
            goto done;                                                                             \
    } while (0)

/* Run `fn` with allocation k failing for every k (or every stride-th); the
 * returned count is the allocations of a clean run. */
static size_t inject_all(const char *name, scenario_fn fn, size_t stride)
{
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
    ck_assert_int_eq(scoresde_set_allocator(inject_malloc, inject_free, NULL), SCORESDE_OK);
    atomic_store(&calls, 0);
    atomic_store(&fail_at, 0);
    ck_assert_msg(fn() == SCORESDE_OK, "%s: the clean run fails: %s", name,
                  scoresde_last_error());
    size_t total = atomic_load(&calls);
    ck_assert_msg(total > 0, "%s allocates nothing: the scenario tests nothing", name);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
    size_t failed = 0;
    for (size_t k = 1; k <= total; k += stride) {
        atomic_store(&calls, 0);
        atomic_store(&fail_at, k);
        int rc = fn();
        ck_assert_msg(rc == SCORESDE_OK || rc == SCORESDE_ENOMEM,
                      "%s, allocation %zu of %zu failing: status %d (%s)", name, k, total, rc,
                      scoresde_last_error());
        if (rc == SCORESDE_ENOMEM) {
            failed++;
            ck_assert_msg(scoresde_last_error()[0] != '\0', "%s, allocation %zu: no message",
                          name, k);
        }
        ck_assert_msg(scoresde_live_allocations() == 0, "%s, allocation %zu failing: %zu leaked",
                      name, k, scoresde_live_allocations());
    }
    /* Failing the first allocation must fail the scenario: otherwise the
     * injection did not reach the library. */
    ck_assert_msg(failed > 0, "%s: no injected failure surfaced", name);
    ck_assert_int_eq(scoresde_set_allocator(NULL, NULL, NULL), SCORESDE_OK);
    printf("%s: %zu allocations, %zu runs with one failing, %zu returned ENOMEM\n", name,
           total, (total + stride - 1) / stride, failed);
    return total;
}

/* ---- fixtures */

static const double mix_w[3] = {0.5, 0.3, 0.2};
static const double mix_mu[6] = {-1, 0, 1, 1, 0, -2};
static const double mix_var[6] = {0.1, 0.2, 0.3, 0.1, 0.5, 0.05};
static const double points[8] = {0.5, -1.0, 1.5, 0.25, -0.75, 0.0, 2.0, -2.0};
static const double times[4] = {0.9, 0.5, 0.1, 0.3};
static const double transform_shift[2] = {10.0, -3.0}, transform_scale[2] = {2.0, 0.5};

static int make_mlp(scoresde_model **out, const scoresde_sde *sde, int output)
{
    const size_t widths[2] = {8, 6};
    scoresde_mlp_options o;
    int rc = scoresde_model_mlp_options_init(&o, sizeof o);
    if (rc != SCORESDE_OK)
        return rc;
    o.n_hidden = 2;
    o.widths = widths;
    o.output = output;
    o.embed_dim = 4;
    o.seed = 3;
    return scoresde_model_create_mlp(out, sde, 2, &o);
}

/* The score of N(0, I): -x (a callback model). */
static int unit_score(const double *x, const double *t, size_t n, size_t D, double *out,
                      void *user)
{
    (void)t;
    (void)user;
    for (size_t i = 0; i < n * D; i++)
        out[i] = -x[i];
    return 0;
}

/* ---- scenarios */

static int sc_sdes(void)
{
    static const int kinds[] = {SCORESDE_SDE_VE, SCORESDE_SDE_VP, SCORESDE_SDE_SUBVP,
                                SCORESDE_SDE_COSINE, SCORESDE_SDE_EDM, SCORESDE_SDE_OU};
    int rc = SCORESDE_OK;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0] && rc == SCORESDE_OK; i++) {
        scoresde_sde *sde = NULL, *copy = NULL;
        double a[4], s[4], x[8], f[8], G[4];
        TRY(scoresde_sde_create_default(&sde, kinds[i]));
        TRY(scoresde_sde_clone(&copy, sde));
        TRY(scoresde_sde_marginal(copy, times, 4, a, s, NULL, NULL));
        TRY(scoresde_sde_prior_sample(copy, 4, 2, 1, 0, 0, x));
        TRY(scoresde_sde_perturb(copy, points, times, 4, 2, 1, 0, 0, x, NULL));
        TRY(scoresde_sde_simulate(copy, points, 4, 2, 0.1, 0.9, 5, 1, 0, 0, x));
        TRY(scoresde_sde_discretize(copy, 10, points, times, 4, 2, f, G));
    done:
        scoresde_sde_free(copy);
        scoresde_sde_free(sde);
    }
    return rc;
}

/* Every evaluation of a model (score, divergence, JVP, Hutchinson, and where
 * it has them density and sampling) and a clone. */
static int evaluate(const scoresde_model *m, int has_density)
{
    double s[8], div[4], jv[8], est[4], logp[4], x[8], probes[16];
    scoresde_model *copy = NULL;
    for (size_t i = 0; i < 16; i++)
        probes[i] = i % 3 == 0 ? -1.0 : 1.0;
    int rc;
    TRY(scoresde_model_score(m, points, times, 4, 2, s));
    TRY(scoresde_model_divergence(m, points, times, 4, 2, div));
    TRY(scoresde_model_jvp(m, points, times, 4, 2, points, s, jv));
    TRY(scoresde_model_hutchinson(m, points, times, 4, 2, probes, 2, est));
    TRY(scoresde_model_predict_noise(m, points, times, 4, 2, s));
    if (has_density) {
        TRY(scoresde_model_log_density(m, points, times, 4, 2, logp));
        TRY(scoresde_model_sample(m, times, 4, 2, 5, 0, x));
    }
    TRY(scoresde_model_clone(&copy, m));
    TRY(scoresde_model_score(copy, points, times, 4, 2, s));
done:
    scoresde_model_free(copy);
    return rc;
}

static int sc_gmm(void)
{
    scoresde_sde *sde = NULL;
    scoresde_model *m = NULL;
    int rc;
    TRY(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP));
    TRY(scoresde_model_create_gmm(&m, sde, 3, 2, mix_w, mix_mu, mix_var));
    TRY(evaluate(m, 1));
done:
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    return rc;
}

static int sc_mlp(void)
{
    scoresde_sde *sde = NULL;
    scoresde_model *m = NULL, *other = NULL;
    int rc;
    TRY(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP));
    TRY(make_mlp(&m, sde, SCORESDE_MLP_OUTPUT_NOISE));
    TRY(evaluate(m, 0));
    TRY(make_mlp(&other, sde, SCORESDE_MLP_OUTPUT_NOISE));
    TRY(scoresde_model_copy_params(other, m));
done:
    scoresde_model_free(other);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    return rc;
}

static int sc_callback(void)
{
    scoresde_sde *sde = NULL;
    scoresde_model *m = NULL;
    int rc;
    TRY(scoresde_sde_create_default(&sde, SCORESDE_SDE_VE));
    TRY(scoresde_model_create_score_fn(&m, sde, 2, unit_score, NULL, NULL));
    double s[8], jv[8];
    TRY(scoresde_model_score(m, points, times, 4, 2, s));
    TRY(scoresde_model_jvp(m, points, times, 4, 2, points, s, jv));
done:
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    return rc;
}

/* The other model kinds: class-conditional mixture, linear-Gaussian
 * posterior, denoiser and conditional score hooks. */
static int unit_denoiser(const double *x, const double *t, size_t n, size_t D, double *out,
                         void *user)
{
    (void)t, (void)user;
    for (size_t i = 0; i < n * D; i++)
        out[i] = 0.5 * x[i];
    return 0;
}

static int cond_unit_score(const double *x, const double *t, size_t n, size_t D, const double *c,
                           size_t c_stride, const unsigned char *null_mask, double *out,
                           void *user)
{
    (void)c, (void)c_stride, (void)null_mask;
    return unit_score(x, t, n, D, out, user);
}

static int sc_other_models(void)
{
    static const double probs[2] = {0.4, 0.6}, cw[4] = {0.5, 0.5, 0.3, 0.7};
    static const double pm[2] = {0, 0}, P[4] = {1, 0.2, 0.2, 1}, A[2] = {1, 1}, N[1] = {0.5};
    static const double labels[4] = {0, 1, 1, 0}, mu[8] = {-1, 0, 1, 1, 0, -2, 2, 2};
    static const double var[8] = {0.1, 0.2, 0.3, 0.1, 0.5, 0.05, 1, 2};
    scoresde_sde *sde = NULL;
    scoresde_model *cg = NULL, *lg = NULL, *dn = NULL, *cs = NULL;
    double s[8];
    int rc;
    TRY(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP));
    TRY(scoresde_model_create_cond_gmm(&cg, sde, 2, 2, 2, probs, cw, mu, var));
    scoresde_cond cond = {sizeof cond, 1, labels, 4, NULL};
    TRY(scoresde_model_score_cond(cg, points, times, 4, 2, &cond, s));
    TRY(scoresde_model_create_linear_gaussian(&lg, sde, 2, 1, pm, P, A, NULL, N));
    TRY(evaluate(lg, 1));
    TRY(scoresde_model_create_denoiser_fn(&dn, sde, 2, unit_denoiser, NULL, NULL));
    TRY(scoresde_model_score(dn, points, times, 4, 2, s));
    TRY(scoresde_model_create_cond_score_fn(&cs, sde, 2, 1, 1, cond_unit_score, NULL, NULL));
    TRY(scoresde_model_score_cond(cs, points, times, 4, 2, &cond, s));
done:
    scoresde_model_free(cs);
    scoresde_model_free(dn);
    scoresde_model_free(lg);
    scoresde_model_free(cg);
    scoresde_sde_free(sde);
    return rc;
}

/* Save to a buffer and to a file, load both back. */
static int round_trip(const scoresde_model *m, const char *path)
{
    void *data = NULL;
    size_t size = 0;
    scoresde_model *a = NULL, *b = NULL;
    int rc;
    TRY(scoresde_model_save_buffer(m, &data, &size));
    TRY(scoresde_model_load_buffer(&a, data, size));
    TRY(scoresde_model_save(m, path));
    TRY(scoresde_model_load(&b, path));
done:
    scoresde_model_free(b);
    scoresde_model_free(a);
    scoresde_buffer_free(data);
    return rc;
}

static char model_path[64];

static int sc_files(void)
{
    scoresde_sde *sde = NULL;
    scoresde_model *gmm = NULL, *mlp = NULL, *copy = NULL;
    int rc;
    TRY(scoresde_sde_create_default(&sde, SCORESDE_SDE_EDM));
    TRY(scoresde_model_create_gmm(&gmm, sde, 3, 2, mix_w, mix_mu, mix_var));
    TRY(make_mlp(&mlp, sde, SCORESDE_MLP_OUTPUT_EDM));
    TRY(scoresde_model_set_transform(mlp, transform_shift, transform_scale)); /* the XFRM section */
    TRY(scoresde_model_clone(&copy, mlp));
    TRY(round_trip(gmm, model_path));
    TRY(round_trip(mlp, model_path));
done:
    scoresde_model_free(copy);
    scoresde_model_free(mlp);
    scoresde_model_free(gmm);
    scoresde_sde_free(sde);
    return rc;
}

static int sc_losses(void)
{
    scoresde_sde *sde = NULL;
    scoresde_model *m = NULL;
    int rc;
    TRY(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP));
    TRY(make_mlp(&m, sde, SCORESDE_MLP_OUTPUT_NOISE));
    size_t P = scoresde_model_num_params(m);
    double grad[512];
    ck_assert_uint_le(P, 512);
    for (int kind = SCORESDE_LOSS_ESM; kind <= SCORESDE_LOSS_DDPM && rc == SCORESDE_OK; kind++) {
        scoresde_loss *loss = NULL;
        double value;
        if (kind == SCORESDE_LOSS_ESM || kind == SCORESDE_LOSS_SMLD) /* need a reference / VE */
            continue;
        rc = scoresde_loss_create(&loss, kind);
        if (rc == SCORESDE_OK && kind <= SCORESDE_LOSS_SSM_VR) /* at a noise level */
            rc = scoresde_loss_set_int(loss, SCORESDE_LOSS_TIME_MODE, SCORESDE_LOSS_TIME_UNIFORM);
        if (rc == SCORESDE_OK)
            rc = scoresde_loss_eval(loss, m, points, 4, 2, 9, 0, &value, NULL, grad, P);
        scoresde_loss_free(loss);
    }
done:
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    return rc;
}

static char ckpt_path[64];

static int sc_trainer(void)
{
    scoresde_sde *sde = NULL;
    scoresde_model *m = NULL, *exported = NULL;
    scoresde_loss *loss = NULL;
    scoresde_trainer *tr = NULL, *tr2 = NULL;
    void *data = NULL;
    size_t size = 0;
    int rc;
    TRY(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP));
    TRY(make_mlp(&m, sde, SCORESDE_MLP_OUTPUT_NOISE));
    TRY(scoresde_model_set_transform(m, transform_shift, transform_scale)); /* in checkpoints */
    TRY(scoresde_loss_create(&loss, SCORESDE_LOSS_DSM));
    TRY(scoresde_trainer_create(&tr, m, loss));
    TRY(scoresde_trainer_set_int(tr, SCORESDE_TRAIN_BATCH, 4));
    TRY(scoresde_trainer_step(tr, points, 4, 2, NULL));
    TRY(scoresde_trainer_fit(tr, points, 4, 2, 2, NULL, NULL));
    TRY(scoresde_trainer_save_buffer(tr, &data, &size));
    TRY(scoresde_trainer_load_buffer(tr, data, size));
    TRY(scoresde_trainer_save(tr, ckpt_path));
    TRY(scoresde_trainer_load(tr, ckpt_path));
    TRY(scoresde_trainer_export(&exported, tr, SCORESDE_TRAIN_EXPORT_EMA));
    TRY(scoresde_trainer_create(&tr2, exported, loss));
done:
    scoresde_trainer_free(tr2);
    scoresde_model_free(exported);
    scoresde_buffer_free(data);
    scoresde_trainer_free(tr);
    scoresde_loss_free(loss);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    return rc;
}

/* One sampler run of `method` through every entry point that takes it. */
static int sample_all(int method, const scoresde_model *m, const scoresde_sde *sde)
{
    scoresde_sampler *s = NULL, *copy = NULL;
    double out[8], logp[4], t[9];
    static const unsigned char mask[8] = {1, 0, 0, 1, 1, 0, 0, 1};
    int rc;
    TRY(scoresde_sampler_create(&s, method));
    TRY(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 8));
    TRY(scoresde_sampler_clone(&copy, s));
    TRY(scoresde_sampler_times(copy, sde, t, 9));
    TRY(scoresde_sampler_sample(copy, m, NULL, 4, 2, 1, 0, out, NULL));
    if (method == SCORESDE_SAMPLER_ODE) {
        TRY(scoresde_sampler_encode(copy, m, points, 4, 2, out, NULL));
        TRY(scoresde_sampler_likelihood(copy, m, points, 4, 2, 1, 0, logp, NULL, NULL));
    }
    if (method == SCORESDE_SAMPLER_PC)
        TRY(scoresde_sampler_inpaint(copy, m, points, mask, 4, 2, 1, 0, out, NULL));
    TRY(scoresde_sampler_langevin(copy, unit_score, NULL, points, 4, 2, 1, 0, out, NULL));
done:
    scoresde_sampler_free(copy);
    scoresde_sampler_free(s);
    return rc;
}

static int sc_samplers(void)
{
    scoresde_sde *sde = NULL;
    scoresde_model *m = NULL;
    int rc;
    TRY(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP));
    TRY(scoresde_model_create_gmm(&m, sde, 3, 2, mix_w, mix_mu, mix_var));
    for (int method = SCORESDE_SAMPLER_PC; method <= SCORESDE_SAMPLER_DPMPP; method++)
        TRY(sample_all(method, m, sde));
done:
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    return rc;
}

/* The samplers on an MLP (its workspaces are allocated per call). */
static int sc_samplers_mlp(void)
{
    scoresde_sde *sde = NULL;
    scoresde_model *m = NULL;
    int rc;
    TRY(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP));
    TRY(make_mlp(&m, sde, SCORESDE_MLP_OUTPUT_NOISE));
    for (int method = SCORESDE_SAMPLER_PC; method <= SCORESDE_SAMPLER_DPMPP; method++) {
        scoresde_sampler *s = NULL;
        double out[8];
        rc = scoresde_sampler_create(&s, method);
        if (rc == SCORESDE_OK)
            rc = scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 4);
        if (rc == SCORESDE_OK)
            rc = scoresde_sampler_sample(s, m, NULL, 4, 2, 1, 0, out, NULL);
        scoresde_sampler_free(s);
        if (rc != SCORESDE_OK)
            goto done;
    }
done:
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    return rc;
}

/* ---- tests */

#define INJECT_TEST(name, fn, stride)                                                              \
    START_TEST(test_##name) { inject_all(#name, fn, stride); }                                     \
    END_TEST

INJECT_TEST(sdes, sc_sdes, 1)
INJECT_TEST(gmm, sc_gmm, 1)
INJECT_TEST(mlp, sc_mlp, 1)
INJECT_TEST(callback, sc_callback, 1)
INJECT_TEST(other_models, sc_other_models, 1)
INJECT_TEST(files, sc_files, 1)
INJECT_TEST(losses, sc_losses, 1)
INJECT_TEST(trainer, sc_trainer, 1)
INJECT_TEST(samplers, sc_samplers, 1)
INJECT_TEST(samplers_mlp, sc_samplers_mlp, 1)

int main(void)
{
    snprintf(model_path, sizeof model_path, "alloc_fail_model_%ld.sde", (long)getpid());
    snprintf(ckpt_path, sizeof ckpt_path, "alloc_fail_ckpt_%ld.sde", (long)getpid());
    Suite *s = suite_create("alloc_fail");
    TCase *tc = tcase_create("inject");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_sdes);
    tcase_add_test(tc, test_gmm);
    tcase_add_test(tc, test_mlp);
    tcase_add_test(tc, test_callback);
    tcase_add_test(tc, test_other_models);
    tcase_add_test(tc, test_files);
    tcase_add_test(tc, test_losses);
    tcase_add_test(tc, test_trainer);
    tcase_add_test(tc, test_samplers);
    tcase_add_test(tc, test_samplers_mlp);
    suite_add_tcase(s, tc);
    int status = test_run_suite(s);
    remove(model_path);
    remove(ckpt_path);
    return status;
}
