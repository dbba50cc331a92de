/*
 * Concurrency: threads sharing read-only objects (an SDE, models, a sampler,
 * a model file's bytes) while each also uses objects of its own (a trainer
 * on its own model, a sampler running its own OpenMP team, a loaded model).
 * Every thread's results equal, bit for bit, those of the same calls made
 * alone, and each thread's error message is its own. Built under
 * ThreadSanitizer in CI (.ci/test, build-tsan), where it finds data races.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h" /* sd_model_score_div_c */
#include "testutil.h"

enum { NT = 4, N = 6, D = 2, STEPS = 6, TRAIN_STEPS = 3 };

/* What every thread shares, read-only while the threads run. */
typedef struct {
    const scoresde_model *gmm, *mlp;
    const scoresde_sampler *sampler;
    const void *file;
    size_t file_size;
    const double *data;
} shared;

/* One thread's results (also those of the lone reference run). */
typedef struct {
    const shared *sh;
    int index;
    int rc;
    double gmm_x[N * D], mlp_x[N * D], team_x[N * D], loaded_score[N * D];
    double trained[512];
    int message_ok;
} job;

static const size_t widths[2] = {8, 8};

static scoresde_model *make_mlp(const scoresde_sde *sde)
{
    scoresde_mlp_options o;
    test_mlp_options(&o, 2, widths, SCORESDE_MLP_OUTPUT_NOISE, 4, 7);
    scoresde_model *m = NULL;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, sde, D, &o), SCORESDE_OK);
    return m;
}

/* The same test with a residual MLP (loop index 1): width 8, one block. */
static scoresde_model *make_resmlp(const scoresde_sde *sde)
{
    scoresde_resmlp_options o;
    ck_assert_int_eq(scoresde_model_resmlp_options_init(&o, sizeof o), SCORESDE_OK);
    o.width = 8;
    o.blocks = 1;
    o.embed_dim = 4;
    o.seed = 7;
    scoresde_model *m = NULL;
    ck_assert_int_eq(scoresde_model_create_resmlp(&m, sde, D, &o), SCORESDE_OK);
    return m;
}

/* Train a clone of the shared MLP of its own for a few steps. */
static int train_own(const shared *sh, double *theta)
{
    scoresde_model *m = NULL;
    scoresde_loss *loss = NULL;
    scoresde_trainer *tr = NULL;
    int rc = scoresde_model_clone(&m, sh->mlp);
    if (rc == SCORESDE_OK)
        rc = scoresde_loss_create(&loss, SCORESDE_LOSS_DSM);
    if (rc == SCORESDE_OK)
        rc = scoresde_trainer_create(&tr, m, loss);
    if (rc == SCORESDE_OK)
        rc = scoresde_trainer_set_int(tr, SCORESDE_TRAIN_BATCH, N);
    for (int k = 0; k < TRAIN_STEPS && rc == SCORESDE_OK; k++)
        rc = scoresde_trainer_step(tr, sh->data, N, D, NULL);
    if (rc == SCORESDE_OK)
        rc = scoresde_model_get_params(m, theta, scoresde_model_num_params(m));
    scoresde_trainer_free(tr);
    scoresde_loss_free(loss);
    scoresde_model_free(m);
    return rc;
}

/* A sampler of its own that runs an OpenMP team of two over blocks of two. */
static int sample_team(const shared *sh, double *x)
{
    scoresde_sampler *s = NULL;
    int rc = scoresde_sampler_clone(&s, sh->sampler);
    if (rc == SCORESDE_OK)
        rc = scoresde_sampler_set_int(s, SCORESDE_SAMPLER_THREADS, 2);
    if (rc == SCORESDE_OK)
        rc = scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BLOCK, 2);
    if (rc == SCORESDE_OK)
        rc = scoresde_sampler_sample(s, sh->mlp, NULL, N, D, 3, 0, x, NULL);
    scoresde_sampler_free(s);
    return rc;
}

static int load_and_score(const shared *sh, double *score)
{
    scoresde_model *m = NULL;
    double t[N];
    for (int i = 0; i < N; i++)
        t[i] = 0.1 + 0.15 * i;
    int rc = scoresde_model_load_buffer(&m, sh->file, sh->file_size);
    if (rc == SCORESDE_OK)
        rc = scoresde_model_score(m, sh->data, t, N, D, score);
    scoresde_model_free(m);
    return rc;
}

/* A refused call leaves a message naming this thread's own bad setting. */
static int own_message(const shared *sh, int index)
{
    scoresde_sampler *s = NULL;
    if (scoresde_sampler_clone(&s, sh->sampler) != SCORESDE_OK)
        return 0;
    int setting = 1000 + index;
    int rc = scoresde_sampler_set_int(s, setting, 1);
    char expect[16];
    snprintf(expect, sizeof expect, "%d", setting);
    int ok = rc != SCORESDE_OK && test_contains(scoresde_last_error(), expect);
    scoresde_sampler_free(s);
    return ok;
}

static void *run_job(void *arg)
{
    job *j = arg;
    const shared *sh = j->sh;
    j->rc = scoresde_sampler_sample(sh->sampler, sh->gmm, NULL, N, D, 1, 0, j->gmm_x, NULL);
    if (j->rc == SCORESDE_OK)
        j->rc = scoresde_sampler_sample(sh->sampler, sh->mlp, NULL, N, D, 2, 0, j->mlp_x, NULL);
    if (j->rc == SCORESDE_OK)
        j->rc = sample_team(sh, j->team_x);
    if (j->rc == SCORESDE_OK)
        j->rc = load_and_score(sh, j->loaded_score);
    if (j->rc == SCORESDE_OK)
        j->rc = train_own(sh, j->trained);
    j->message_ok = own_message(sh, j->index);
    return NULL;
}

START_TEST(threads_share_read_only_objects)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *gmm = test_mixture(sde), *mlp = _i ? make_resmlp(sde) : make_mlp(sde);
    ck_assert_uint_le(scoresde_model_num_params(mlp), 512);
    scoresde_sampler *sampler = NULL;
    ck_assert_int_eq(scoresde_sampler_create(&sampler, SCORESDE_SAMPLER_PC), SCORESDE_OK);
    ck_assert_int_eq(scoresde_sampler_set_int(sampler, SCORESDE_SAMPLER_STEPS, STEPS),
                     SCORESDE_OK);
    void *file = NULL;
    size_t file_size = 0;
    ck_assert_int_eq(scoresde_model_save_buffer(mlp, &file, &file_size), SCORESDE_OK);
    double *data = test_data_of(gmm, N, 5);
    shared sh = {gmm, mlp, sampler, file, file_size, data};

    static job alone, jobs[NT];
    alone = (job){.sh = &sh, .index = NT};
    run_job(&alone);
    ck_assert_msg(alone.rc == SCORESDE_OK, "lone run: %s", scoresde_last_error());
    pthread_t th[NT];
    for (int k = 0; k < NT; k++) {
        jobs[k] = (job){.sh = &sh, .index = k};
        ck_assert_int_eq(pthread_create(&th[k], NULL, run_job, &jobs[k]), 0);
    }
    for (int k = 0; k < NT; k++)
        ck_assert_int_eq(pthread_join(th[k], NULL), 0);
    for (int k = 0; k < NT; k++) {
        ck_assert_int_eq(jobs[k].rc, SCORESDE_OK);
        ck_assert_mem_eq(jobs[k].gmm_x, alone.gmm_x, sizeof alone.gmm_x);
        ck_assert_mem_eq(jobs[k].mlp_x, alone.mlp_x, sizeof alone.mlp_x);
        ck_assert_mem_eq(jobs[k].team_x, alone.team_x, sizeof alone.team_x);
        ck_assert_mem_eq(jobs[k].loaded_score, alone.loaded_score, sizeof alone.loaded_score);
        ck_assert_mem_eq(jobs[k].trained, alone.trained,
                         scoresde_model_num_params(mlp) * sizeof(double));
        ck_assert_msg(jobs[k].message_ok, "thread %d saw another thread's message", k);
    }

    free(data);
    scoresde_buffer_free(file);
    scoresde_sampler_free(sampler);
    scoresde_model_free(mlp);
    scoresde_model_free(gmm);
    scoresde_sde_free(sde);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* Issue 17's last note: TSan had not run on the workspace pools added
 * for the linear-Gaussian model and the hooks' Tweedie step, nor (issue
 * 14) on the fused score and divergence. NT threads evaluate one
 * denoiser hook, one linear-Gaussian posterior (conditional, its pool
 * shared), one MLP and one residual MLP (their slot pools shared, the
 * stacked pass) at once: scores, divergences, Hutchinson estimates, the
 * fused calls and a likelihood, each repeated so pooled workspaces pass
 * between threads; every result equals the lone run's bit for bit. */
enum { PN = 40, PREP = 3 };

typedef struct {
    const scoresde_model *hook, *lg, *mlp, *res;
    const scoresde_sampler *lik;
    const double *x, *t, *probes, *y;
} pool_shared;

typedef struct {
    const pool_shared *sh;
    int rc;
    double hook_s[PN * D], hook_d[PN], lg_s[PN * D], lg_d[PN], lg_h[PN];
    double net_s[2][PN * D], net_d[2][PN], net_h[2][PN], lik[PN];
} pool_job;

static int pool_denoiser(const double *x, const double *t, size_t n, size_t d, double *x0,
                         void *user)
{
    (void)user;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            x0[i * d + j] = (0.5 + 0.1 * t[i]) * x[i * d + j];
    return 0;
}

static int pool_div(const double *x, const double *t, size_t n, size_t d, double *div, void *user)
{
    (void)x, (void)user;
    for (size_t i = 0; i < n; i++)
        div[i] = (0.5 + 0.1 * t[i]) * (double)d;
    return 0;
}

static int pool_run(pool_job *j)
{
    const pool_shared *sh = j->sh;
    scoresde_cond cond = {sizeof cond, 1, sh->y, PN, NULL};
    for (int rep = 0; rep < PREP; rep++) {
        SD_TRY(scoresde_model_score(sh->hook, sh->x, sh->t, PN, D, j->hook_s));
        SD_TRY(scoresde_model_divergence(sh->hook, sh->x, sh->t, PN, D, j->hook_d));
        SD_TRY(scoresde_model_score_cond(sh->lg, sh->x, sh->t, PN, D, &cond, j->lg_s));
        SD_TRY(scoresde_model_divergence_cond(sh->lg, sh->x, sh->t, PN, D, &cond, j->lg_d));
        SD_TRY(scoresde_model_hutchinson_cond(sh->lg, sh->x, sh->t, PN, D, &cond, sh->probes, 2,
                                              j->lg_h));
        const scoresde_model *nets[2] = {sh->mlp, sh->res};
        for (int k = 0; k < 2; k++) {
            SD_TRY(sd_model_score_div_c(nets[k], sh->x, sh->t, PN, D, NULL, NULL, 0, j->net_s[k],
                                        j->net_d[k], NULL));
            SD_TRY(sd_model_score_div_c(nets[k], sh->x, sh->t, PN, D, NULL, sh->probes, 2,
                                        j->net_s[k], j->net_h[k], NULL));
        }
        SD_TRY(scoresde_sampler_likelihood(sh->lik, sh->mlp, sh->x, PN, D, 1, 0, j->lik, NULL,
                                           NULL));
    }
    return SCORESDE_OK;
}

static void *pool_thread(void *arg)
{
    pool_job *j = arg;
    j->rc = pool_run(j);
    return NULL;
}

START_TEST(threads_share_pooled_and_fused_models)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    pool_shared sh;
    scoresde_model *hook = NULL, *lg = NULL, *mlp = make_mlp(sde), *res = make_resmlp(sde);
    ck_assert_int_eq(scoresde_model_create_denoiser_fn(&hook, sde, D, pool_denoiser, pool_div, NULL),
                     SCORESDE_OK);
    const double m0[D] = {0.0, 0.0}, S0[D * D] = {1.0, 0.3, 0.3, 1.0}, A[D] = {1.0, 0.0};
    const double Se[1] = {0.5};
    ck_assert_int_eq(scoresde_model_create_linear_gaussian(&lg, sde, D, 1, m0, S0, A, NULL, Se),
                     SCORESDE_OK);
    size_t np = scoresde_model_num_params(res);
    double *p = test_normals(71, np, 0.3);
    ck_assert_int_eq(scoresde_model_set_params(res, p, np), SCORESDE_OK);
    scoresde_sampler *lik = NULL;
    ck_assert_int_eq(scoresde_sampler_create(&lik, SCORESDE_SAMPLER_ODE), SCORESDE_OK);
    ck_assert_int_eq(scoresde_sampler_set_int(lik, SCORESDE_SAMPLER_SOLVER,
                                              SCORESDE_SAMPLER_SOLVER_RK4),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_sampler_set_int(lik, SCORESDE_SAMPLER_STEPS, 4), SCORESDE_OK);
    double *x = test_normals(72, PN * D, 1.0), *probes = test_normals(73, PN * 2 * D, 1.0);
    double t[PN], y[PN];
    for (size_t i = 0; i < PN; i++) {
        t[i] = 0.05 + 0.9 * (double)i / PN;
        y[i] = 0.1 * (double)(i % 7);
    }
    sh = (pool_shared){hook, lg, mlp, res, lik, x, t, probes, y};
    pool_job *alone = calloc(1, sizeof *alone), *jobs = calloc(NT, sizeof *jobs);
    alone->sh = &sh;
    ck_assert_msg(pool_run(alone) == SCORESDE_OK, "%s", scoresde_last_error());
    pthread_t th[NT];
    for (int k = 0; k < NT; k++) {
        jobs[k].sh = &sh;
        ck_assert_int_eq(pthread_create(&th[k], NULL, pool_thread, &jobs[k]), 0);
    }
    for (int k = 0; k < NT; k++)
        ck_assert_int_eq(pthread_join(th[k], NULL), 0);
    for (int k = 0; k < NT; k++) {
        ck_assert_int_eq(jobs[k].rc, SCORESDE_OK);
        /* everything after sh, in one block */
        ck_assert_mem_eq((const char *)&jobs[k] + offsetof(pool_job, hook_s),
                         (const char *)alone + offsetof(pool_job, hook_s),
                         sizeof(pool_job) - offsetof(pool_job, hook_s));
    }
    free(alone);
    free(jobs);
    free(x);
    free(probes);
    free(p);
    scoresde_sampler_free(lik);
    scoresde_model_free(hook);
    scoresde_model_free(lg);
    scoresde_model_free(mlp);
    scoresde_model_free(res);
    scoresde_sde_free(sde);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("concurrency");
    TCase *tc = tcase_create("shared");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, threads_share_read_only_objects, 0, 2);
    tcase_add_test(tc, threads_share_pooled_and_fused_models);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
