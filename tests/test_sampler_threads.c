/*
 * The sampler driver's threads (issue 14): THREADS 1, 2, 3 x BLOCK 1, 7, 64
 * and n give the same samples, statistics and progress-hook calls (steps,
 * times, nfe, in order, on the calling thread), bit for bit, for every
 * method family (fixed grids, PC with noise, the per-sample adaptive
 * solvers); configurations recorded before the change keep their hashes under
 * every split; and a failing run reports the same error whatever the split:
 * the lowest-numbered failing sample's block at the earliest failing step,
 * with a cancelling progress hook taking its place in the same step order.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlp.h" /* sd_nn_granted_threads */
#include "testutil.h"

#define OK(expr) ck_assert_int_eq((expr), SCORESDE_OK)
#define S(name) SCORESDE_SAMPLER_##name

static const int threads[] = {1, 2, 3};
static const size_t blocks[] = {1, 7, 64, 0}; /* 0: n, one block */

/* FNV-1a over the bytes of n doubles (as test_sampler_methods.c). */
static uint64_t hash_doubles(const double *x, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    const unsigned char *p = (const unsigned char *)x;
    for (size_t i = 0; i < n * sizeof(double); i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* ------------------------------------------------------------ progress log */

enum { MAX_CALLS = 4096 };

typedef struct call {
    uint64_t step, nfe;
    double t;
} call;

typedef struct plog {
    pthread_t caller;
    size_t count;
    int wrong_thread;
    uint64_t cancel_at; /* 0: never */
    call calls[MAX_CALLS];
} plog;

static int record(uint64_t step, double t, uint64_t nfe, void *user)
{
    plog *p = user;
    if (!pthread_equal(pthread_self(), p->caller))
        p->wrong_thread = 1;
    if (p->count < MAX_CALLS)
        p->calls[p->count] = (call){step, nfe, t};
    p->count++;
    return p->cancel_at != 0 && step == p->cancel_at;
}

static void log_reset(plog *p, uint64_t cancel_at)
{
    p->caller = pthread_self();
    p->count = 0;
    p->wrong_thread = 0;
    p->cancel_at = cancel_at;
}

/* The same hook calls: steps 1, 2, ... in order, equal times and nfe. */
static void assert_same_log(const plog *a, const plog *b, const char *what)
{
    ck_assert_msg(a->count == b->count, "%s: %zu progress calls, reference %zu", what,
                  a->count, b->count);
    ck_assert(a->count <= MAX_CALLS);
    for (size_t i = 0; i < a->count; i++) {
        ck_assert_msg(a->calls[i].step == i + 1, "%s: call %zu has step %llu", what, i,
                      (unsigned long long)a->calls[i].step);
        ck_assert_msg(memcmp(&a->calls[i].t, &b->calls[i].t, sizeof(double)) == 0 &&
                          a->calls[i].nfe == b->calls[i].nfe,
                      "%s: call %zu (t %.17g, nfe %llu), reference (t %.17g, nfe %llu)", what,
                      i, a->calls[i].t, (unsigned long long)a->calls[i].nfe, b->calls[i].t,
                      (unsigned long long)b->calls[i].nfe);
    }
    ck_assert_msg(!a->wrong_thread, "%s: the progress hook ran off the calling thread", what);
}

/* ------------------------------------------------------------ every split */

typedef struct mcase {
    const char *name;
    int sde, method;
    int set[6][2]; /* integer settings, {0, 0} ends */
    double churn;  /* EDM's S_CHURN (noise per step), 0 for none */
} mcase;

static const mcase cases[] = {
    {"PC EM + Langevin", SCORESDE_SDE_VP, S(PC),
     {{S(PREDICTOR), S(PREDICTOR_EULER_MARUYAMA)}, {S(STEPS), 25}, {S(CORRECTOR_STEPS), 2}},
     0},
    {"PC reverse diffusion, per-sample norms", SCORESDE_SDE_VE, S(PC),
     {{S(STEPS), 20}, {S(BATCH_NORMS), 0}}, 0},
    {"ODE Heun", SCORESDE_SDE_VP, S(ODE), {{S(STEPS), 15}, {S(SOLVER), S(SOLVER_HEUN)}}, 0},
    {"ODE Dormand-Prince", SCORESDE_SDE_VP, S(ODE), {{S(SOLVER), S(SOLVER_DOPRI5)}}, 0},
    {"DPM-Solver++ 2M", SCORESDE_SDE_VP, S(DPMPP), {{S(STEPS), 15}, {S(ORDER), 2}}, 0},
    {"UniPC 3M", SCORESDE_SDE_VP, S(DPMPP),
     {{S(STEPS), 12}, {S(ORDER), 3}, {S(UNIPC), 1}, {S(FINAL_STEP), S(FINAL_TWEEDIE)}}, 0},
    {"adaptive DPM-Solver++", SCORESDE_SDE_VP, S(DPMPP), {{S(ADAPTIVE), 1}}, 0},
    {"adaptive DPM-Solver++ (VE)", SCORESDE_SDE_VE, S(DPMPP), {{S(ADAPTIVE), 1}}, 0},
    {"EDM with churn", SCORESDE_SDE_VE, S(EDM), {{S(STEPS), 10}}, 20.0},
    {"DDIM ETA 1", SCORESDE_SDE_VP, S(DDIM), {{S(STEPS), 12}}, 0},
    {"DPM-Solver++ 2M SDE", SCORESDE_SDE_VP, S(DPMPP_SDE), {{S(STEPS), 12}}, 0},
    {"iPNDM 4", SCORESDE_SDE_VP, S(IPNDM), {{S(STEPS), 10}}, 0},
    {"Restart", SCORESDE_SDE_VE, S(RESTART), {{S(STEPS), 10}}, 0},
};

static scoresde_sampler *case_sampler(const mcase *c)
{
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, c->method));
    for (int j = 0; c->set[j][0] != 0; j++)
        OK(scoresde_sampler_set_int(s, c->set[j][0], c->set[j][1]));
    if (c->method == S(DDIM))
        OK(scoresde_sampler_set_double(s, S(ETA), 1.0));
    if (c->churn > 0.0)
        OK(scoresde_sampler_set_double(s, S(S_CHURN), c->churn));
    return s;
}

START_TEST(test_every_split)
{
    const mcase *c = &cases[_i];
    enum { N = 100, D = 2 };
    scoresde_sde *sde = test_make_sde(c->sde);
    scoresde_model *m = test_mixture(sde);
    scoresde_sampler *s = case_sampler(c);
    static plog ref_log, log;
    static double ref[N * D], x[N * D];
    scoresde_sampler_stats ref_st = {.struct_size = sizeof ref_st}, st = ref_st;
    log_reset(&ref_log, 0);
    OK(scoresde_sampler_set_progress(s, record, &ref_log));
    OK(scoresde_sampler_set_int(s, S(BLOCK), N));
    OK(scoresde_sampler_sample(s, m, NULL, N, D, 11, 3, ref, &ref_st));
    ck_assert_uint_gt(ref_log.count, 0);
    for (size_t ti = 0; ti < sizeof threads / sizeof threads[0]; ti++)
        for (size_t bi = 0; bi < sizeof blocks / sizeof blocks[0]; bi++) {
            char what[128];
            snprintf(what, sizeof what, "%s, THREADS %d, BLOCK %zu", c->name, threads[ti],
                     blocks[bi] ? blocks[bi] : (size_t)N);
            OK(scoresde_sampler_set_int(s, S(THREADS), threads[ti]));
            OK(scoresde_sampler_set_int(s, S(BLOCK), blocks[bi] ? (int64_t)blocks[bi] : N));
            log_reset(&log, 0);
            OK(scoresde_sampler_set_progress(s, record, &log));
            memset(x, 0, sizeof x);
            OK(scoresde_sampler_sample(s, m, NULL, N, D, 11, 3, x, &st));
            ck_assert_msg(memcmp(x, ref, sizeof x) == 0, "%s: samples differ", what);
            /* the largest nfe over blocks: equal per sample, so for any split */
            ck_assert_msg(st.nfe == ref_st.nfe && st.accepted == ref_st.accepted &&
                              st.rejected == ref_st.rejected,
                          "%s: stats differ", what);
            /* the hook's per-step least advanced time and largest nfe are over
             * all blocks, so they do not depend on the split either */
            assert_same_log(&log, &ref_log, what);
        }
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* ------------------------------------------------------------ recorded hashes
 * Configurations of test_sampler_methods.c's table, recorded before issue 15
 * (16 samples of the test mixture, seed 5, STEP_RATIO_MAX = 1e300 and
 * LOWER_ORDER_FINAL = 1, 1.0's behaviour), under every split; the hashes are
 * that table's (recorded again for 1.1's normals). */
typedef struct ref_case {
    int sde, method;
    int set[4][2];
    uint64_t hash;
} ref_case;

static const ref_case ref_cases[] = {
    {SCORESDE_SDE_VP, S(PC), {{S(STEPS), 30}, {S(BATCH_NORMS), 0}}, 0x974c170907f24bb1ULL},
    {SCORESDE_SDE_SUBVP, S(PC), {{S(STEPS), 30}, {S(BATCH_NORMS), 1}}, 0x84cf100753b04439ULL},
    {SCORESDE_SDE_VP, S(ODE), {{S(STEPS), 20}, {S(SOLVER), S(SOLVER_HEUN)}}, 0xaea992ca3c9c4bdeULL},
    {SCORESDE_SDE_VP, S(EDM), {{S(STEPS), 12}}, 0xaf94a0100a59a2ffULL},
    {SCORESDE_SDE_VP, S(DPMPP), {{S(STEPS), 20}, {S(ORDER), 3}, {S(UNIPC), 1}}, 0x795534d37d0e07aeULL},
    {SCORESDE_SDE_VP, S(DPMPP), {{S(ADAPTIVE), 1}}, 0xf15179e4a63779abULL},
};

START_TEST(test_recorded_splits)
{
    const ref_case *c = &ref_cases[_i];
    scoresde_sde *sde = test_make_sde(c->sde);
    scoresde_model *m = test_mixture(sde);
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, c->method));
    for (int j = 0; c->set[j][0] != 0; j++)
        OK(scoresde_sampler_set_int(s, c->set[j][0], c->set[j][1]));
    OK(scoresde_sampler_set_double(s, S(STEP_RATIO_MAX), 1e300));
    OK(scoresde_sampler_set_int(s, S(LOWER_ORDER_FINAL), 1));
    for (size_t ti = 0; ti < sizeof threads / sizeof threads[0]; ti++)
        for (size_t bi = 0; bi < sizeof blocks / sizeof blocks[0]; bi++) {
            /* BATCH_NORMS = 1 couples a block's samples: only BLOCK 64 = n
             * (16 samples, one block) reproduces the recorded run */
            if (c->method == S(PC) && c->set[1][1] == 1 && blocks[bi] != 64 && blocks[bi] != 0)
                continue;
            OK(scoresde_sampler_set_int(s, S(THREADS), threads[ti]));
            OK(scoresde_sampler_set_int(s, S(BLOCK), blocks[bi] ? (int64_t)blocks[bi] : 16));
            double x[32];
            OK(scoresde_sampler_sample(s, m, NULL, 16, 2, 5, 0, x, NULL));
            uint64_t h = hash_doubles(x, 32);
            ck_assert_msg(h == c->hash, "case %d, THREADS %d, BLOCK %zu: 0x%016llx, recorded "
                                        "0x%016llx",
                          _i, threads[ti], blocks[bi], (unsigned long long)h,
                          (unsigned long long)c->hash);
        }
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* ------------------------------------------------------------ errors
 * Under the VE SDE the probability-flow drift is -g^2/2 times the score, so a
 * zero score leaves every state where it started. Row i of x_T is
 * (code_i, 0): the hook writes 1e308 into the score of each row whose code
 * is k at the evaluation of grid time t_k (the Euler step k, from t_k), so
 * that sample overflows to Inf at step k + 1 and in no other way (a finite
 * score: the model's own check of the hook's output stays silent). */
enum { EN = 100, ESTEPS = 8 };

typedef struct fail_plan {
    double grid[ESTEPS + 1];
    double mid[ESTEPS]; /* RK4's middle stages, t_k + h/2 as ode.c computes them */
    int at_mid;         /* plant at mid[k] instead of grid[k] */
} fail_plan;

static int planted(const double *x, const double *t, size_t n, size_t D, double *out, void *user)
{
    const fail_plan *p = user;
    for (size_t i = 0; i < n; i++) {
        int k = -1;
        for (int j = 0; j <= ESTEPS; j++)
            if (p->at_mid ? j < ESTEPS && t[i] == p->mid[j] : t[i] == p->grid[j])
                k = j;
        for (size_t j = 0; j < D; j++)
            out[i * D + j] = k >= 0 && x[i * D] == (double)k ? 1e308 : 0.0;
    }
    return 0;
}

/* Run the planted failures (codes[i] for sample i, -1: never) under every
 * split: each gives `status`, the same message, naming `needle`, and the same
 * progress calls (cancel_at: the hook's cancelling step, 0: never). */
static void expect_failure_with(int solver, const int *codes, uint64_t cancel_at, int status,
                                const char *needle, size_t calls)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VE);
    static fail_plan plan;
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, S(ODE)));
    OK(scoresde_sampler_set_int(s, S(SOLVER), solver));
    OK(scoresde_sampler_set_int(s, S(STEPS), ESTEPS));
    OK(scoresde_sampler_times(s, sde, plan.grid, ESTEPS + 1));
    for (int k = 0; k < ESTEPS; k++)
        plan.mid[k] = plan.grid[k] + 0.5 * (plan.grid[k + 1] - plan.grid[k]);
    plan.at_mid = solver == S(SOLVER_RK4);
    scoresde_model *m = NULL;
    OK(scoresde_model_create_score_fn(&m, sde, 2, planted, NULL, &plan));
    static double xT[EN * 2], x[EN * 2];
    for (size_t i = 0; i < EN; i++) {
        xT[2 * i] = codes[i];
        xT[2 * i + 1] = 0.0;
    }
    static plog ref_log, log;
    char ref_msg[512] = "";
    for (size_t ti = 0; ti < sizeof threads / sizeof threads[0]; ti++)
        for (size_t bi = 0; bi < sizeof blocks / sizeof blocks[0]; bi++) {
            OK(scoresde_sampler_set_int(s, S(THREADS), threads[ti]));
            OK(scoresde_sampler_set_int(s, S(BLOCK), blocks[bi] ? (int64_t)blocks[bi] : EN));
            int first = ti == 0 && bi == 0;
            plog *p = first ? &ref_log : &log;
            log_reset(p, cancel_at);
            OK(scoresde_sampler_set_progress(s, record, p));
            int rc = scoresde_sampler_sample(s, m, xT, EN, 2, 1, 0, x, NULL);
            char what[64];
            snprintf(what, sizeof what, "THREADS %d, BLOCK %zu", threads[ti], blocks[bi]);
            ck_assert_msg(rc == status, "%s: status %d, expected %d (%s)", what, rc, status,
                          scoresde_last_error());
            if (first) {
                ck_assert_msg(test_contains(scoresde_last_error(), needle), "'%s' lacks '%s'",
                              scoresde_last_error(), needle);
                snprintf(ref_msg, sizeof ref_msg, "%s", scoresde_last_error());
                ck_assert_uint_eq(ref_log.count, calls);
                ck_assert(!ref_log.wrong_thread);
            } else {
                ck_assert_msg(strcmp(scoresde_last_error(), ref_msg) == 0,
                              "%s: '%s', reference '%s'", what, scoresde_last_error(), ref_msg);
                assert_same_log(&log, &ref_log, what);
            }
        }
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}

static void expect_failure(const int *codes, uint64_t cancel_at, int status, const char *needle,
                           size_t calls)
{
    expect_failure_with(S(SOLVER_EULER), codes, cancel_at, status, needle, calls);
}

START_TEST(test_error_order)
{
    int codes[EN];
    for (size_t i = 0; i < EN; i++)
        codes[i] = -1;
    /* the plan itself: no code, no failure, 8 calls */
    expect_failure(codes, 0, SCORESDE_OK, "", ESTEPS);
    /* the earliest step wins over the lower sample: sample 97 fails at step
     * 4 (code 3), sample 10 at step 6 */
    codes[97] = 3;
    codes[10] = 5;
    expect_failure(codes, 0, SCORESDE_ENUMERIC, "sample 97 became non-finite", 3);
    ck_assert(test_contains(scoresde_last_error(), "at step 4"));
    /* the same step: the lowest sample (in block order) wins */
    codes[60] = 3;
    codes[20] = 3;
    expect_failure(codes, 0, SCORESDE_ENUMERIC, "sample 20 became non-finite", 3);
    /* a cancel after step 3 precedes the failures of step 4 */
    expect_failure(codes, 3, SCORESDE_ECALLBACK, "cancelled the run after step 3", 3);
    /* a cancel after step 4 comes too late: step 4 failed, no hook call for it */
    expect_failure(codes, 4, SCORESDE_ENUMERIC, "sample 20 became non-finite", 3);
    /* a failure at the first step, in the last sample */
    for (size_t i = 0; i < EN; i++)
        codes[i] = -1;
    codes[EN - 1] = 0;
    expect_failure(codes, 0, SCORESDE_ENUMERIC, "sample 99 became non-finite", 0);
    /* a cancel at the last step */
    codes[EN - 1] = -1;
    expect_failure(codes, ESTEPS, SCORESDE_ECALLBACK, "after step 8", ESTEPS);
    /* RK4, planted at the middle time of step 3 (code 2): the second stage's
     * score overflows, so the third stage's point is Inf and its evaluation
     * finds a non-finite state: the sampler's ENUMERIC (one scan of x per
     * evaluation, the model's own scan of x skipped), not the model's EINVAL
     * for a non-finite argument */
    codes[42] = 2;
    expect_failure_with(S(SOLVER_RK4), codes, 0, SCORESDE_ENUMERIC,
                        "sample 42: the state is not finite at t = ", 2);
}
END_TEST

/* Cancelling after step 1 of an adaptive run whose blocks take different
 * numbers of rounds: the same single call under every split. */
START_TEST(test_cancel_adaptive)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = test_mixture(sde);
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, S(ODE)));
    static plog ref_log, log;
    static double x[200];
    for (size_t ti = 0; ti < sizeof threads / sizeof threads[0]; ti++)
        for (size_t bi = 0; bi < sizeof blocks / sizeof blocks[0]; bi++) {
            OK(scoresde_sampler_set_int(s, S(THREADS), threads[ti]));
            OK(scoresde_sampler_set_int(s, S(BLOCK), blocks[bi] ? (int64_t)blocks[bi] : 100));
            int first = ti == 0 && bi == 0;
            plog *p = first ? &ref_log : &log;
            log_reset(p, 2);
            OK(scoresde_sampler_set_progress(s, record, p));
            test_expect_error(scoresde_sampler_sample(s, m, NULL, 100, 2, 4, 0, x, NULL),
                              SCORESDE_ECALLBACK, "after step 2");
            if (!first)
                assert_same_log(&log, &ref_log, "adaptive cancel");
        }
    ck_assert_uint_eq(ref_log.count, 2);
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

/* ------------------------------------------------------------ no nesting
 * With one thread or one block the driver opens no OpenMP construct: the
 * model's callbacks run at level 0 (where an MLP's own threads form a
 * top-level team); with several threads and blocks they run one level down,
 * in an active team. */
static int level_probe(const double *x, const double *t, size_t n, size_t D, double *out,
                       void *user)
{
    _Atomic int *worst = user; /* the deepest level and inactive levels seen, as 10 a + l */
    int code = 10 * (omp_get_level() - omp_get_active_level()) + omp_get_level();
    /* an atomic maximum, not an omp critical: the threads are the driver's
     * team, and a C11 atomic is what ThreadSanitizer sees through */
    int seen = atomic_load(worst);
    while (code > seen && !atomic_compare_exchange_weak(worst, &seen, code))
        ;
    for (size_t e = 0; e < n * D; e++)
        out[e] = -x[e];
    return 0;
}

START_TEST(test_no_nesting)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    _Atomic int worst = -1;
    scoresde_model *m = NULL;
    OK(scoresde_model_create_score_fn(&m, sde, 2, level_probe, NULL, (void *)&worst));
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, S(DPMPP)));
    static double x[2 * 50];
    static const struct { int threads, block, level; } runs[] = {
        {1, 7, 0}, {2, 50, 0}, {3, 64, 0}, {2, 7, 1}, {3, 1, 1},
    };
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        OK(scoresde_sampler_set_int(s, S(THREADS), runs[r].threads));
        OK(scoresde_sampler_set_int(s, S(BLOCK), runs[r].block));
        worst = -1;
        OK(scoresde_sampler_sample(s, m, NULL, 50, 2, 1, 0, x, NULL));
        /* never an inactive level (code >= 10); level 1 only with a team */
        int code = atomic_load(&worst);
        ck_assert_msg(code == runs[r].level || (runs[r].level == 1 && code == 0),
                      "THREADS %d, BLOCK %d: level code %d", runs[r].threads, runs[r].block,
                      code);
    }
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    /* an MLP evaluation below an inactive region takes one thread: libgomp
     * would start new threads for each of BLIS's nested teams */
    int top = sd_nn_granted_threads(2), inside = -1, procs = omp_get_num_procs();
    ck_assert_int_eq(top, procs < 2 || omp_get_thread_limit() < 2 ? 1 : 2);
#pragma omp parallel if (0)
    inside = sd_nn_granted_threads(2);
    ck_assert_int_eq(inside, 1);
}
END_TEST

/* An MLP score called from serial code splits its rows over n_threads
 * threads (precond.c): the same bits as one thread, across chunk boundaries
 * (chunk_rows 50 against parts of 266 and 267 rows), in both precisions. */
START_TEST(test_mlp_row_split)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    enum { NR = 533 };
    static double x[2 * NR], t[NR], a[2 * NR], b[2 * NR];
    OK(scoresde_sde_prior_sample(sde, NR, 2, 9, 0, 0, x));
    for (size_t i = 0; i < NR; i++)
        t[i] = 1e-3 + 0.997 * (double)i / NR;
    scoresde_model *m[2];
    for (int k = 0; k < 2; k++) {
        scoresde_mlp_options o;
        OK(scoresde_model_mlp_options_init(&o, sizeof o));
        static const size_t widths[2] = {40, 40};
        o.n_hidden = 2;
        o.widths = widths;
        o.chunk_rows = 50;
        o.seed = 4;
        o.precision = _i ? SCORESDE_MLP_FLOAT32 : SCORESDE_MLP_FLOAT64;
        o.n_threads = k ? 2 : 1;
        OK(scoresde_model_create_mlp(&m[k], sde, 2, &o));
    }
    OK(scoresde_model_score(m[0], x, t, NR, 2, a));
    OK(scoresde_model_score(m[1], x, t, NR, 2, b));
    ck_assert(memcmp(a, b, sizeof a) == 0);
    OK(scoresde_model_predict_data(m[0], x, t, NR, 2, a));
    OK(scoresde_model_predict_data(m[1], x, t, NR, 2, b));
    ck_assert(memcmp(a, b, sizeof a) == 0);
    /* and a sampler run on one block, where the model's threads work */
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, S(DPMPP)));
    OK(scoresde_sampler_set_int(s, S(BLOCK), NR));
    OK(scoresde_sampler_sample(s, m[0], NULL, NR, 2, 2, 0, a, NULL));
    OK(scoresde_sampler_sample(s, m[1], NULL, NR, 2, 2, 0, b, NULL));
    ck_assert(memcmp(a, b, sizeof a) == 0);
    scoresde_sampler_free(s);
    scoresde_model_free(m[0]);
    scoresde_model_free(m[1]);
    scoresde_sde_free(sde);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("sampler_threads");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_every_split, 0, (int)(sizeof cases / sizeof cases[0]));
    tcase_add_loop_test(tc, test_recorded_splits, 0, (int)(sizeof ref_cases / sizeof ref_cases[0]));
    tcase_add_test(tc, test_error_order);
    tcase_add_test(tc, test_cancel_adaptive);
    tcase_add_test(tc, test_no_nesting);
    tcase_add_loop_test(tc, test_mlp_row_split, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(suite());
}
