/*
 * Exact conditional models (class-conditional mixture, linear-Gaussian
 * posterior), conditional hooks, and conditional sampling with
 * classifier-free guidance (issue 11).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "scoresde.h"
#include "testutil.h"

#define OK(expr) ck_assert_int_eq((expr), SCORESDE_OK)

/* ------------------------------------------------------------------ fixtures */

/* Two classes of two components in 2-D, well apart: class 0 left
 * (x < 0), class 1 right; class probabilities 0.3, 0.7. */
enum { GK = 2, GM = 2, GD = 2 };
static const double g_pi[GK] = {0.3, 0.7};
static const double g_w[GK * GM] = {0.6, 0.4, 0.25, 0.75};
static const double g_mu[GK * GM * GD] = {-3, 0, -3, 3, 3, 0, 3, -3};
static const double g_var[GK * GM * GD] = {0.25, 0.16, 0.36, 0.25, 0.2, 0.3, 0.25, 0.2};

static scoresde_model *cond_gmm(int sde_kind)
{
    scoresde_sde *sde = test_make_sde(sde_kind);
    scoresde_model *m = NULL;
    OK(scoresde_model_create_cond_gmm(&m, sde, GK, GM, GD, g_pi, g_w, g_mu, g_var));
    scoresde_sde_free(sde);
    return m;
}

/* Exact mean and variance of coordinate j under class k (k = GK: the null
 * mixture), and the mass of component 0 of the class (null: of class 0). */
static void class_moments(size_t k, size_t j, double *mean, double *var)
{
    double m1 = 0, m2 = 0;
    for (size_t c = 0; c < GK; c++) {
        if (k < GK && c != k)
            continue;
        for (size_t q = 0; q < GM; q++) {
            double w = g_w[c * GM + q] * (k < GK ? 1.0 : g_pi[c]);
            double mu = g_mu[(c * GM + q) * GD + j], v = g_var[(c * GM + q) * GD + j];
            m1 += w * mu;
            m2 += w * (v + mu * mu);
        }
    }
    *mean = m1;
    *var = m2 - m1 * m1;
}

/* The samples x (n x 2) of class k (GK: null) match the exact law: the mass
 * split (class 0: y > 1.5 is component 1; class 1: y < -1.5; null: x < 0
 * is class 0), means and variances, within 4.5 standard errors plus `slack`. */
static void check_class(const double *x, size_t n, size_t k, double slack, const char *what)
{
    double p = k == GK ? g_pi[0] : g_w[k * GM + 1], hits = 0;
    for (size_t i = 0; i < n; i++) {
        double a = x[2 * i], b = x[2 * i + 1];
        hits += k == GK ? a < 0 : k == 0 ? b > 1.5 : b < -1.5;
    }
    double mass = hits / (double)n, se = sqrt(p * (1 - p) / (double)n);
    ck_assert_msg(fabs(mass - p) < 4.5 * se + slack, "%s class %zu: mass %g, exact %g", what, k,
                  mass, p);
    for (size_t j = 0; j < GD; j++) {
        double em, ev, sm, sv;
        class_moments(k, j, &em, &ev);
        test_moments(x, n, GD, j, &sm, &sv);
        ck_assert_msg(fabs(sm - em) < 4.5 * sqrt(ev / (double)n) + slack,
                      "%s class %zu coord %zu: mean %g, exact %g", what, k, j, sm, em);
        ck_assert_msg(fabs(sv - ev) < 4.5 * ev * sqrt(2.0 / (double)n) + 2 * slack * (1 + ev),
                      "%s class %zu coord %zu: variance %g, exact %g", what, k, j, sv, ev);
    }
}

static scoresde_cond label_cond(const double *labels, size_t rows, const unsigned char *mask)
{
    scoresde_cond c = {sizeof c, 1, labels, rows, mask};
    return c;
}

/* ------------------------------------------------------- the exact mixture */

START_TEST(test_cond_gmm_model)
{
    scoresde_model *m = cond_gmm(SCORESDE_SDE_VP);
    ck_assert_int_eq(scoresde_model_kind(m), SCORESDE_MODEL_COND_GMM);
    ck_assert_uint_eq(scoresde_model_cond_dim(m), 1);
    ck_assert_uint_eq(scoresde_model_cond_classes(m), GK);
    ck_assert_int_eq(scoresde_model_cond_null(m), 1);
    /* three samples: class 0, class 1, null; at t = 0.3 */
    double x[6] = {-2.5, 1.0, 2.0, -1.0, 0.5, 0.2}, t[3] = {0.3, 0.3, 0.3};
    double lab[3] = {0, 1, 0};
    unsigned char mask[3] = {0, 0, 1};
    scoresde_cond c = label_cond(lab, 3, mask);
    double s[6], lp[3], div[3];
    OK(scoresde_model_score_cond(m, x, t, 3, 2, &c, s));
    OK(scoresde_model_log_density_cond(m, x, t, 3, 2, &c, lp));
    OK(scoresde_model_divergence_cond(m, x, t, 3, 2, &c, div));
    /* the score is the gradient of ln p_t(x | c); the divergence that of the score */
    const double h = 1e-5;
    for (size_t i = 0; i < 3; i++)
        for (size_t j = 0; j < 2; j++) {
            double xp[6], xm[6], lpp[3], lpm[3], sp[6], sm[6];
            memcpy(xp, x, sizeof x);
            memcpy(xm, x, sizeof x);
            xp[2 * i + j] += h;
            xm[2 * i + j] -= h;
            OK(scoresde_model_log_density_cond(m, xp, t, 3, 2, &c, lpp));
            OK(scoresde_model_log_density_cond(m, xm, t, 3, 2, &c, lpm));
            double fd = (lpp[i] - lpm[i]) / (2 * h);
            ck_assert_msg(fabs(fd - s[2 * i + j]) < 1e-6 * (1 + fabs(fd)), "score %zu,%zu", i, j);
            OK(scoresde_model_score_cond(m, xp, t, 3, 2, &c, sp));
            OK(scoresde_model_score_cond(m, xm, t, 3, 2, &c, sm));
            (void)sp;
            (void)sm;
        }
    for (size_t i = 0; i < 3; i++) {
        double acc = 0;
        for (size_t j = 0; j < 2; j++) {
            double xp[6], xm[6], sp[6], sm[6];
            memcpy(xp, x, sizeof x);
            memcpy(xm, x, sizeof x);
            xp[2 * i + j] += h;
            xm[2 * i + j] -= h;
            OK(scoresde_model_score_cond(m, xp, t, 3, 2, &c, sp));
            OK(scoresde_model_score_cond(m, xm, t, 3, 2, &c, sm));
            acc += (sp[2 * i + j] - sm[2 * i + j]) / (2 * h);
        }
        ck_assert_msg(fabs(acc - div[i]) < 1e-5 * (1 + fabs(acc)), "divergence %zu", i);
    }
    /* the null density is the class mixture: ln sum_k pi_k p_t(x | k) */
    double xx[4] = {0.5, 0.2, 0.5, 0.2}, tt[2] = {0.3, 0.3}, l01[2] = {0, 1}, lk[2], lnull;
    scoresde_cond ck = label_cond(l01, 2, NULL);
    OK(scoresde_model_log_density_cond(m, xx, tt, 2, 2, &ck, lk));
    OK(scoresde_model_log_density(m, xx, tt, 1, 2, &lnull)); /* the 1.0 call: null */
    double want = log(g_pi[0] * exp(lk[0]) + g_pi[1] * exp(lk[1]));
    ck_assert_msg(fabs(lnull - want) < 1e-12 * fabs(want), "null %g, mixture %g", lnull, want);
    ck_assert(fabs(lp[2] - want) < 1e-12 * fabs(want));
    /* exact samples per class at t = 0 */
    size_t n = 4000;
    double *xs = malloc(n * 2 * sizeof *xs), *t0 = calloc(n, sizeof *t0);
    for (size_t k = 0; k <= GK; k++) {
        double lab1 = (double)k;
        scoresde_cond one = label_cond(k < GK ? &lab1 : NULL, 1, NULL);
        OK(scoresde_model_sample_cond(m, t0, n, 2, &one, 7, 0, xs));
        check_class(xs, n, k, 0.0, "exact");
    }
    /* a clone evaluates to the same bits */
    scoresde_model *cl = NULL;
    double s2[6];
    OK(scoresde_model_clone(&cl, m));
    OK(scoresde_model_score_cond(cl, x, t, 3, 2, &c, s2));
    ck_assert(memcmp(s, s2, sizeof s) == 0);
    ck_assert_int_eq(scoresde_model_cond_classes(cl), GK);
    scoresde_model_free(cl);
    free(xs);
    free(t0);
    scoresde_model_free(m);
}
END_TEST

/* Samples of every class and of the null condition, from PC, ODE, DPM++
 * and EDM with the exact conditional score. */
START_TEST(test_cond_gmm_samplers)
{
    static const int methods[4] = {SCORESDE_SAMPLER_PC, SCORESDE_SAMPLER_ODE,
                                   SCORESDE_SAMPLER_DPMPP, SCORESDE_SAMPLER_EDM};
    static const char *names[4] = {"PC", "ODE", "DPM++", "EDM"};
    scoresde_model *m = cond_gmm(SCORESDE_SDE_VP);
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, methods[_i]));
    if (methods[_i] == SCORESDE_SAMPLER_PC) { /* per-sample Langevin norms bias 2-D (sampler.h) */
        OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 300));
        OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_CORRECTOR, SCORESDE_SAMPLER_CORRECTOR_NONE));
    }
    if (methods[_i] == SCORESDE_SAMPLER_DPMPP)
        OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 30));
    size_t n = 2000;
    double *x = malloc(n * 2 * sizeof *x);
    for (size_t k = 0; k <= GK; k++) {
        double lab = (double)k;
        scoresde_cond c = label_cond(k < GK ? &lab : NULL, 1, NULL);
        OK(scoresde_sampler_sample_cond(s, m, NULL, n, 2, &c, 100 + k, 0, x, NULL));
        check_class(x, n, k, 0.03, names[_i]);
    }
    free(x);
    scoresde_sampler_free(s);
    scoresde_model_free(m);
}
END_TEST

/* ------------------------------------------------------------ guidance */

/* One Euler step of the ODE and one DPM-Solver++(1) step with guidance
 * equal the combination written out, to rounding. */
START_TEST(test_cfg_formula)
{
    scoresde_model *m = cond_gmm(SCORESDE_SDE_VP);
    const scoresde_sde *sde = scoresde_model_sde(m);
    const double w = 2.5;
    double lab[3] = {0, 1, 1}, xT[6] = {0.3, -0.2, -1.1, 0.4, 0.8, 0.9};
    unsigned char mask[3] = {0, 0, 1}; /* sample 2 null: guidance leaves it unguided */
    scoresde_cond c = label_cond(lab, 3, mask);
    for (int method = 0; method < 2; method++) {
        scoresde_sampler *s = NULL;
        OK(scoresde_sampler_create(&s, method == 0 ? SCORESDE_SAMPLER_ODE : SCORESDE_SAMPLER_DPMPP));
        OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 1));
        if (method == 0)
            OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_SOLVER, SCORESDE_SAMPLER_SOLVER_EULER));
        else
            OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_ORDER, 1));
        OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_GUIDANCE_SCALE, w));
        double g[2], got[6], want[6], oc[6], on[6], comb[6], tt[3], al[2], sg[2];
        OK(scoresde_sampler_times(s, sde, g, 2));
        OK(scoresde_sampler_sample_cond(s, m, xT, 3, 2, &c, 0, 0, got, NULL));
        for (size_t i = 0; i < 3; i++)
            tt[i] = g[0];
        if (method == 0) {
            OK(scoresde_model_score_cond(m, xT, tt, 3, 2, &c, oc));
            OK(scoresde_model_score(m, xT, tt, 3, 2, on));
        } else {
            OK(scoresde_model_predict_data_cond(m, xT, tt, 3, 2, &c, oc));
            OK(scoresde_model_predict_data(m, xT, tt, 3, 2, on));
        }
        for (size_t e = 0; e < 6; e++)
            comb[e] = on[e] + (1 + w) * (oc[e] - on[e]);
        if (method == 0) {
            double drift[6];
            OK(scoresde_sde_pf_drift(sde, xT, tt, comb, 3, 2, drift));
            for (size_t e = 0; e < 6; e++)
                want[e] = xT[e] + (g[1] - g[0]) * drift[e];
        } else {
            OK(scoresde_sde_marginal(sde, g, 2, al, sg, NULL, NULL));
            double hl = log(al[1] / sg[1]) - log(al[0] / sg[0]);
            for (size_t e = 0; e < 6; e++)
                want[e] = sg[1] / sg[0] * xT[e] - al[1] * expm1(-hl) * comb[e];
        }
        ck_assert_msg(test_rel_err(got, want, 6) < 1e-13, "method %d: error %g", method,
                      test_rel_err(got, want, 6));
        scoresde_sampler_free(s);
    }
    scoresde_model_free(m);
}
END_TEST

/* w = 0 is the plain conditional run bit for bit, and w = -1 the null run,
 * on every method (and inpainting). */
START_TEST(test_cfg_limits)
{
    static const int methods[4] = {SCORESDE_SAMPLER_PC, SCORESDE_SAMPLER_ODE,
                                   SCORESDE_SAMPLER_DPMPP, SCORESDE_SAMPLER_EDM};
    scoresde_model *m = cond_gmm(SCORESDE_SDE_VP);
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, methods[_i]));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 12));
    size_t n = 7;
    double lab[7] = {0, 1, 1, 0, 1, 0, 0}, a[14], b[14];
    scoresde_cond c = label_cond(lab, n, NULL);
    OK(scoresde_sampler_sample_cond(s, m, NULL, n, 2, &c, 3, 0, a, NULL));
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_GUIDANCE_SCALE, 0.0));
    OK(scoresde_sampler_sample_cond(s, m, NULL, n, 2, &c, 3, 0, b, NULL));
    ck_assert(memcmp(a, b, sizeof a) == 0);
    OK(scoresde_sampler_sample_cond(s, m, NULL, n, 2, NULL, 3, 0, a, NULL));
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_GUIDANCE_SCALE, -1.0));
    OK(scoresde_sampler_sample_cond(s, m, NULL, n, 2, &c, 3, 0, b, NULL));
    ck_assert(memcmp(a, b, sizeof a) == 0);
    if (methods[_i] == SCORESDE_SAMPLER_PC) {
        unsigned char known[2] = {1, 0};
        double y[14] = {0};
        OK(scoresde_sampler_inpaint_cond(s, m, y, known, n, 2, NULL, 3, 0, a, NULL));
        OK(scoresde_sampler_inpaint_cond(s, m, y, known, n, 2, &c, 3, 0, b, NULL));
        ck_assert(memcmp(a, b, sizeof a) == 0);
    }
    scoresde_sampler_free(s);
    scoresde_model_free(m);
}
END_TEST

/* A conditional score hook that forwards to the exact mixture and counts
 * its calls and rows, checking that guided calls end with n null rows. */
typedef struct counting {
    const scoresde_model *m;
    size_t calls, rows, nulls;
} counting;

static int forward_score(const double *x, const double *t, size_t n, size_t D, const double *c,
                         size_t stride, const unsigned char *mask, double *out, void *user)
{
    counting *k = user;
    k->calls++;
    k->rows += n;
    for (size_t i = 0; i < n; i++)
        k->nulls += c == NULL || (mask != NULL && mask[i]);
    scoresde_cond cond = {sizeof cond, 1, c, stride ? n : 1, mask};
    return scoresde_model_score_cond(k->m, x, t, n, D, &cond, out) != SCORESDE_OK;
}

static int forward_data(const double *x, const double *t, size_t n, size_t D, const double *c,
                        size_t stride, const unsigned char *mask, double *out, void *user)
{
    counting *k = user;
    scoresde_cond cond = {sizeof cond, 1, c, stride ? n : 1, mask};
    return scoresde_model_predict_data_cond(k->m, x, t, n, D, &cond, out) != SCORESDE_OK;
}

START_TEST(test_cond_hooks)
{
    scoresde_model *g = cond_gmm(SCORESDE_SDE_VP);
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    counting cnt = {g, 0, 0, 0};
    scoresde_model *h = NULL, *d = NULL, *strict = NULL;
    OK(scoresde_model_create_cond_score_fn(&h, sde, 2, 1, 1, forward_score, NULL, &cnt));
    OK(scoresde_model_create_cond_denoiser_fn(&d, sde, 2, 1, 1, forward_data, NULL, &cnt));
    OK(scoresde_model_create_cond_score_fn(&strict, sde, 2, 1, 0, forward_score, NULL, &cnt));
    ck_assert_int_eq(scoresde_model_kind(h), SCORESDE_MODEL_SCORE_FN);
    ck_assert_uint_eq(scoresde_model_cond_dim(h), 1);
    ck_assert_int_eq(scoresde_model_cond_null(strict), 0);
    /* hook sampling is the mixture's, bit for bit; the denoiser hook's score
     * is Tweedie of the same */
    size_t n = 9;
    double lab[9] = {0, 1, 0, 1, 1, 0, 0, 1, 1}, a[18], b[18];
    scoresde_cond c = label_cond(lab, n, NULL);
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, SCORESDE_SAMPLER_PC));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 10));
    OK(scoresde_sampler_sample_cond(s, g, NULL, n, 2, &c, 5, 0, a, NULL));
    OK(scoresde_sampler_sample_cond(s, h, NULL, n, 2, &c, 5, 0, b, NULL));
    ck_assert(memcmp(a, b, sizeof a) == 0);
    double t[9], sg[18], sd[18];
    for (size_t i = 0; i < n; i++)
        t[i] = 0.2 + 0.05 * (double)i;
    OK(scoresde_model_score_cond(g, a, t, n, 2, &c, sg));
    OK(scoresde_model_score_cond(d, a, t, n, 2, &c, sd));
    ck_assert(test_rel_err(sd, sg, 2 * n) < 1e-9);
    /* guidance: one call of 2n rows per evaluation, the last n null */
    scoresde_sampler_stats st = {.struct_size = sizeof st};
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_GUIDANCE_SCALE, 1.5));
    cnt.calls = cnt.rows = cnt.nulls = 0;
    OK(scoresde_sampler_sample_cond(s, h, NULL, n, 2, &c, 5, 0, b, &st));
    ck_assert_uint_eq(st.nfe, 10 * 2 + 1);
    ck_assert_uint_eq(cnt.calls, st.nfe);
    ck_assert_uint_eq(cnt.rows, 2 * n * st.nfe);
    ck_assert_uint_eq(cnt.nulls, n * st.nfe);
    /* the same with the ODE method */
    scoresde_sampler *o = NULL;
    OK(scoresde_sampler_create(&o, SCORESDE_SAMPLER_ODE));
    OK(scoresde_sampler_set_double(o, SCORESDE_SAMPLER_GUIDANCE_SCALE, 1.5));
    cnt.calls = cnt.rows = 0;
    OK(scoresde_sampler_sample_cond(o, h, NULL, n, 2, &c, 5, 0, b, &st));
    ck_assert_uint_eq(cnt.calls, st.nfe);
    ck_assert_uint_eq(cnt.rows, 2 * n * st.nfe);
    /* guidance needs a model with a null condition, and a conditional one */
    test_expect_error(scoresde_sampler_sample_cond(s, strict, NULL, n, 2, &c, 5, 0, b, NULL),
                      SCORESDE_EINVAL, "null condition");
    scoresde_model *plain = test_mixture(sde);
    test_expect_error(scoresde_sampler_sample(s, plain, NULL, n, 2, 5, 0, b, NULL), SCORESDE_EINVAL,
                      "unconditional");
    test_expect_error(scoresde_sampler_encode(o, plain, a, n, 2, b, NULL), SCORESDE_EINVAL,
                      "unconditional");
    /* a strict model refuses the null condition before any hook runs */
    cnt.calls = 0;
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_GUIDANCE_SCALE, 0.0));
    test_expect_error(scoresde_sampler_sample(s, strict, NULL, n, 2, 5, 0, b, NULL),
                      SCORESDE_EINVAL, "null condition");
    ck_assert_uint_eq(cnt.calls, 0);
    /* creation errors */
    scoresde_model *bad = (scoresde_model *)1;
    test_expect_error(
        scoresde_model_create_cond_score_fn(&bad, sde, 2, 0, 1, forward_score, NULL, NULL),
        SCORESDE_EINVAL, "C");
    ck_assert_ptr_null(bad);
    test_expect_error(scoresde_model_create_cond_score_fn(&bad, sde, 2, 1, 1, NULL, NULL, NULL),
                      SCORESDE_EINVAL, "score");
    test_expect_error(
        scoresde_model_create_cond_denoiser_fn(&bad, sde, 0, 1, 1, forward_data, NULL, NULL),
        SCORESDE_EINVAL, "D");
    scoresde_model_free(plain);
    scoresde_sampler_free(o);
    scoresde_sampler_free(s);
    scoresde_model_free(strict);
    scoresde_model_free(d);
    scoresde_model_free(h);
    scoresde_sde_free(sde);
    scoresde_model_free(g);
}
END_TEST

/* Sample i is the same bits whatever the batch, the blocks, the threads
 * and the other samples' conditions, guided or not. */
START_TEST(test_cond_reproducible)
{
    scoresde_model *m = cond_gmm(SCORESDE_SDE_VE);
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, _i == 0 ? SCORESDE_SAMPLER_PC : SCORESDE_SAMPLER_DPMPP));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 15));
    OK(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_GUIDANCE_SCALE, _i == 2 ? 3.0 : 0.0));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BLOCK, 3));
    OK(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_THREADS, 2));
    size_t n = 8;
    double lab[8] = {0, 1, 1, 0, 1, 0, 0, 1}, other[8] = {1, 0, 0, 1, 1, 1, 0, 0};
    unsigned char mask[8] = {0, 0, 1, 0, 0, 0, 0, 0};
    double all[16], mix[16], one[2];
    scoresde_cond c = label_cond(lab, n, mask);
    OK(scoresde_sampler_sample_cond(s, m, NULL, n, 2, &c, 11, 40, all, NULL));
    scoresde_cond o = label_cond(other, n, NULL);
    other[4] = lab[4];
    OK(scoresde_sampler_sample_cond(s, m, NULL, n, 2, &o, 11, 40, mix, NULL));
    ck_assert(memcmp(all + 8, mix + 8, 2 * sizeof(double)) == 0);
    scoresde_cond b = label_cond(&lab[4], 1, NULL); /* a broadcast row */
    OK(scoresde_sampler_sample_cond(s, m, NULL, 1, 2, &b, 11, 44, one, NULL));
    ck_assert(memcmp(all + 8, one, sizeof one) == 0);
    scoresde_sampler_free(s);
    scoresde_model_free(m);
}
END_TEST

/* ------------------------------------------------------- linear-Gaussian */

enum { LD = 2, LC = 3 };
static const double l_m0[LD] = {0.5, -1.0};
static const double l_S0[LD * LD] = {1.0, 0.3, 0.3, 0.5};
static const double l_A[LC * LD] = {1.0, 0.0, 0.5, 1.0, -0.3, 0.8};
static const double l_b[LC] = {0.1, -0.2, 0.0};
static const double l_Se[LC * LC] = {0.2, 0.05, 0.0, 0.05, 0.3, 0.0, 0.0, 0.0, 0.25};

/* In-place inverse of an n x n matrix by Gauss-Jordan (n <= 3 here). */
static void inverse(double *a, size_t n)
{
    double aug[3][6];
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < 2 * n; j++)
            aug[i][j] = j < n ? a[i * n + j] : (j - n == i);
    for (size_t c = 0; c < n; c++) {
        size_t p = c;
        for (size_t i = c + 1; i < n; i++)
            if (fabs(aug[i][c]) > fabs(aug[p][c]))
                p = i;
        for (size_t j = 0; j < 2 * n; j++) {
            double tmp = aug[c][j];
            aug[c][j] = aug[p][j];
            aug[p][j] = tmp;
        }
        double d = aug[c][c];
        for (size_t j = 0; j < 2 * n; j++)
            aug[c][j] /= d;
        for (size_t i = 0; i < n; i++)
            if (i != c) {
                double f = aug[i][c];
                for (size_t j = 0; j < 2 * n; j++)
                    aug[i][j] -= f * aug[c][j];
            }
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            a[i * n + j] = aug[i][n + j];
}

/* The closed-form posterior of N observations ys (N x C): precision
 * S0^-1 + N A^T Se^-1 A, mean from S0^-1 m0 + A^T Se^-1 sum (y_i - b). */
static void posterior(const double *ys, size_t N, double *mp, double *Sp)
{
    double S0i[4], Sei[9], P[4], h[2];
    memcpy(S0i, l_S0, sizeof S0i);
    memcpy(Sei, l_Se, sizeof Sei);
    inverse(S0i, LD);
    inverse(Sei, LC);
    for (size_t i = 0; i < LD; i++) {
        h[i] = 0;
        for (size_t j = 0; j < LD; j++) {
            h[i] += S0i[i * LD + j] * l_m0[j];
            double acc = S0i[i * LD + j];
            for (size_t q = 0; q < LC; q++)
                for (size_t r = 0; r < LC; r++)
                    acc += (double)N * l_A[q * LD + i] * Sei[q * LC + r] * l_A[r * LD + j];
            P[i * LD + j] = acc;
        }
        for (size_t k = 0; k < N; k++)
            for (size_t q = 0; q < LC; q++)
                for (size_t r = 0; r < LC; r++)
                    h[i] += l_A[q * LD + i] * Sei[q * LC + r] * (ys[k * LC + r] - l_b[r]);
    }
    memcpy(Sp, P, sizeof P);
    inverse(Sp, LD);
    for (size_t i = 0; i < LD; i++)
        mp[i] = Sp[i * LD] * h[0] + Sp[i * LD + 1] * h[1];
}

static scoresde_model *linear_gaussian(int sde_kind)
{
    scoresde_sde *sde = test_make_sde(sde_kind);
    scoresde_model *m = NULL;
    OK(scoresde_model_create_linear_gaussian(&m, sde, LD, LC, l_m0, l_S0, l_A, l_b, l_Se));
    scoresde_sde_free(sde);
    return m;
}

static const double l_y[LC] = {1.2, -0.4, 0.9};

/* Mean and covariance of samples x (n x 2) match (mp, Sp): means within 4.5
 * standard errors plus slack, covariance entries within 4.5 of theirs. */
static void check_gaussian(const double *x, size_t n, const double *mp, const double *Sp,
                           double slack, const char *what)
{
    double mean[2] = {0, 0}, cov[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < 2; j++)
            mean[j] += x[2 * i + j] / (double)n;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < 2; j++)
            for (size_t k = 0; k < 2; k++)
                cov[j * 2 + k] += (x[2 * i + j] - mean[j]) * (x[2 * i + k] - mean[k]) / (double)(n - 1);
    for (size_t j = 0; j < 2; j++) {
        ck_assert_msg(fabs(mean[j] - mp[j]) < 4.5 * sqrt(Sp[3 * j] / (double)n) + slack,
                      "%s: mean %zu is %g, exact %g", what, j, mean[j], mp[j]);
        for (size_t k = 0; k < 2; k++) {
            double se = sqrt((Sp[3 * j] * Sp[3 * k] + Sp[2 * j + k] * Sp[2 * j + k]) / (double)n);
            ck_assert_msg(fabs(cov[2 * j + k] - Sp[2 * j + k]) < 4.5 * se + slack,
                          "%s: covariance %zu,%zu is %g, exact %g", what, j, k, cov[2 * j + k],
                          Sp[2 * j + k]);
        }
    }
}

/* A sampler of `method` for moment checks: PC with 300 steps and no corrector. */
static scoresde_sampler *moment_sampler(int method)
{
    scoresde_sampler *smp = NULL;
    OK(scoresde_sampler_create(&smp, method));
    if (method == SCORESDE_SAMPLER_PC) {
        OK(scoresde_sampler_set_int(smp, SCORESDE_SAMPLER_STEPS, 300));
        OK(scoresde_sampler_set_int(smp, SCORESDE_SAMPLER_CORRECTOR,
                                    SCORESDE_SAMPLER_CORRECTOR_NONE));
    }
    return smp;
}

START_TEST(test_linear_gaussian_model)
{
    scoresde_model *m = linear_gaussian(SCORESDE_SDE_VP);
    ck_assert_int_eq(scoresde_model_kind(m), SCORESDE_MODEL_LINEAR_GAUSSIAN);
    ck_assert_uint_eq(scoresde_model_cond_dim(m), LC);
    ck_assert_int_eq(scoresde_model_cond_null(m), 1);
    const scoresde_sde *sde = scoresde_model_sde(m);
    double mp[2], Sp[4];
    posterior(l_y, 1, mp, Sp);
    /* the score at t against -(alpha^2 Sp + sigma^2 I)^-1 (x - alpha mp);
     * the null condition against the prior's */
    double x[4] = {0.3, -0.7, 1.5, 0.2}, t[2] = {0.4, 0.4}, s[4], al, sg, div[2], lp[2];
    unsigned char mask[2] = {0, 1};
    scoresde_cond c = {sizeof c, LC, l_y, 1, mask};
    OK(scoresde_model_score_cond(m, x, t, 2, 2, &c, s));
    OK(scoresde_model_divergence_cond(m, x, t, 2, 2, &c, div));
    OK(scoresde_model_log_density_cond(m, x, t, 2, 2, &c, lp));
    OK(scoresde_sde_marginal(sde, t, 1, &al, &sg, NULL, NULL));
    for (size_t i = 0; i < 2; i++) {
        const double *mu = i == 0 ? mp : l_m0, *S = i == 0 ? Sp : l_S0;
        double Ct[4], want[2], d[2] = {x[2 * i] - al * mu[0], x[2 * i + 1] - al * mu[1]};
        for (size_t e = 0; e < 4; e++)
            Ct[e] = al * al * S[e] + (e == 0 || e == 3 ? sg * sg : 0.0);
        double det = Ct[0] * Ct[3] - Ct[1] * Ct[2];
        inverse(Ct, 2);
        want[0] = -(Ct[0] * d[0] + Ct[1] * d[1]);
        want[1] = -(Ct[2] * d[0] + Ct[3] * d[1]);
        ck_assert_msg(test_rel_err(s + 2 * i, want, 2) < 1e-12, "score %zu", i);
        ck_assert(fabs(div[i] + Ct[0] + Ct[3]) < 1e-12 * fabs(div[i]));
        double q = -0.5 * (d[0] * -want[0] + d[1] * -want[1]);
        double lw = q - 0.5 * log(det) - log(2 * M_PI);
        ck_assert_msg(fabs(lp[i] - lw) < 1e-12 * fabs(lw), "ln p %zu: %g, exact %g", i, lp[i], lw);
    }
    /* exact samples */
    size_t n = 4000;
    double *xs = malloc(n * 2 * sizeof *xs), *t0 = calloc(n, sizeof *t0);
    scoresde_cond one = {sizeof one, LC, l_y, 1, NULL};
    OK(scoresde_model_sample_cond(m, t0, n, 2, &one, 3, 0, xs));
    check_gaussian(xs, n, mp, Sp, 0.0, "exact posterior");
    OK(scoresde_model_sample(m, t0, n, 2, 3, 0, xs));
    check_gaussian(xs, n, l_m0, l_S0, 0.0, "exact prior");
    /* posterior samples from the samplers */
    static const int methods[3] = {SCORESDE_SAMPLER_PC, SCORESDE_SAMPLER_ODE,
                                   SCORESDE_SAMPLER_DPMPP};
    for (int k = 0; k < 3; k++) {
        scoresde_sampler *smp = moment_sampler(methods[k]);
        OK(scoresde_sampler_sample_cond(smp, m, NULL, n, 2, &one, 9, 0, xs, NULL));
        check_gaussian(xs, n, mp, Sp, 0.02, "sampler posterior");
        scoresde_sampler_free(smp);
    }
    free(xs);
    free(t0);
    scoresde_model_free(m);
}
END_TEST

/* The ODE posterior log-density matches the closed form within 1e-3 nats
 * (the prior's ln p_T swapped for the exact one, as test_sampler does). */
/* A clone gives the same bits; the Jacobian-vector product (exact: the
 * Jacobian is -(alpha^2 S + sigma^2 I)^-1 whatever x) matches central
 * differences of the score, with the observation and for the null
 * condition, and returns the score beside it when asked. */
START_TEST(test_linear_gaussian_clone_jvp)
{
    scoresde_model *m = linear_gaussian(SCORESDE_SDE_VP), *c = NULL;
    OK(scoresde_model_clone(&c, m));
    ck_assert_uint_eq(scoresde_model_cond_dim(c), LC);
    double x[4] = {0.3, -0.7, 1.5, 0.2}, t[2] = {0.4, 0.9}, v[4] = {0.6, -0.2, -1.0, 0.5};
    unsigned char mask[2] = {0, 1};
    scoresde_cond cd = {sizeof cd, LC, l_y, 1, mask};
    double s1[4], s2[4], jv[4], sj[4];
    OK(scoresde_model_score_cond(m, x, t, 2, LD, &cd, s1));
    OK(scoresde_model_score_cond(c, x, t, 2, LD, &cd, s2));
    ck_assert_mem_eq(s1, s2, sizeof s1);
    OK(scoresde_model_jvp_cond(c, x, t, 2, LD, &cd, v, sj, jv));
    ck_assert_mem_eq(sj, s1, sizeof s1);
    const double h = 1e-5;
    for (size_t i = 0; i < 2; i++) {
        double xp[4], xm[4], sp[4], sm[4];
        memcpy(xp, x, sizeof x);
        memcpy(xm, x, sizeof x);
        for (size_t j = 0; j < LD; j++) {
            xp[i * LD + j] += h * v[i * LD + j];
            xm[i * LD + j] -= h * v[i * LD + j];
        }
        OK(scoresde_model_score_cond(m, xp, t, 2, LD, &cd, sp));
        OK(scoresde_model_score_cond(m, xm, t, 2, LD, &cd, sm));
        for (size_t j = 0; j < LD; j++) {
            double fd = (sp[i * LD + j] - sm[i * LD + j]) / (2 * h);
            ck_assert_msg(fabs(fd - jv[i * LD + j]) < 1e-7 * (1 + fabs(fd)),
                          "sample %zu coordinate %zu: jvp %g, differences %g", i, j,
                          jv[i * LD + j], fd);
        }
    }
    OK(scoresde_model_jvp_cond(m, x, t, 2, LD, &cd, v, NULL, s2));
    ck_assert_mem_eq(s2, jv, sizeof jv);
    scoresde_model_free(c);
    scoresde_model_free(m);
}
END_TEST

START_TEST(test_linear_gaussian_likelihood)
{
    scoresde_model *m = linear_gaussian(_i == 0 ? SCORESDE_SDE_VP : SCORESDE_SDE_VE);
    const scoresde_sde *sde = scoresde_model_sde(m);
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, SCORESDE_SAMPLER_ODE));
    size_t n = 5;
    double ys[5 * LC], x[10], t[5], want[5], got[5], lat[10], tT[5], lT[5], lpr[5];
    for (size_t i = 0; i < n; i++) {
        t[i] = scoresde_sde_training_eps(sde);
        tT[i] = scoresde_sde_end_time(sde);
        for (size_t q = 0; q < LC; q++)
            ys[i * LC + q] = l_y[q] + 0.3 * (double)i - 0.2 * (double)q;
    }
    scoresde_cond c = {sizeof c, LC, ys, n, NULL};
    OK(scoresde_model_sample_cond(m, t, n, 2, &c, 4, 0, x));
    OK(scoresde_model_log_density_cond(m, x, t, n, 2, &c, want));
    OK(scoresde_sampler_likelihood_cond(s, m, x, n, 2, &c, 0, 0, got, lat, NULL));
    OK(scoresde_model_log_density_cond(m, lat, tT, n, 2, &c, lT));
    OK(scoresde_sde_prior_logp(sde, lat, n, 2, lpr));
    for (size_t i = 0; i < n; i++) {
        got[i] += lT[i] - lpr[i];
        ck_assert_msg(fabs(got[i] - want[i]) < 1e-3, "sample %zu: ln p %g, exact %g", i, got[i],
                      want[i]);
    }
    scoresde_sampler_free(s);
    scoresde_model_free(m);
}
END_TEST


/* ------------------------------------------------------- IID observations */

/* N observations around l_y. */
static void iid_obs(size_t N, double *ys)
{
    for (size_t k = 0; k < N; k++)
        for (size_t q = 0; q < LC; q++)
            ys[k * LC + q] = l_y[q] + 0.35 * (double)k - 0.25 * (double)((k + q) % 3);
}

/* The precisions of the fixture: the prior's and one observation's posterior. */
static void iid_precisions(double *P0, double *Pp)
{
    double mp[2];
    memcpy(P0, l_S0, 4 * sizeof(double));
    inverse(P0, LD);
    posterior(l_y, 1, mp, Pp);
    inverse(Pp, LD);
}

/* The exact score of N(alpha mp, alpha^2 Sp + sigma^2 I) at x (2-D). */
static void gauss_score(const double *mp, const double *Sp, double al, double sg,
                        const double *x, double *out)
{
    double Ct[4], d[2] = {x[0] - al * mp[0], x[1] - al * mp[1]};
    for (size_t e = 0; e < 4; e++)
        Ct[e] = al * al * Sp[e] + (e == 0 || e == 3 ? sg * sg : 0.0);
    inverse(Ct, 2);
    out[0] = -(Ct[0] * d[0] + Ct[1] * d[1]);
    out[1] = -(Ct[2] * d[0] + Ct[3] * d[1]);
}

/* A prior model given as a hook: the linear-Gaussian model's null condition
 * (the prior N(m0, S0), not diagonal, so no mixture model can stand in). */
static int prior_hook(const double *x, const double *t, size_t n, size_t D, double *out,
                      void *user)
{
    return scoresde_model_score_cond(user, x, t, n, D, NULL, out);
}

/* A custom SDE's hooks: dx = dW. */
static int zero_drift(const double *x, const double *t, size_t n, size_t D, double *f, void *user)
{
    (void)x, (void)t, (void)user;
    memset(f, 0, n * D * sizeof *f);
    return 0;
}

static int unit_diffusion(const double *t, size_t n, double *g, void *user)
{
    (void)t, (void)user;
    for (size_t i = 0; i < n; i++)
        g[i] = 1.0;
    return 0;
}

/* A conditional hook refusing the null condition (forwards to the model). */
static int cond_score_hook(const double *x, const double *t, size_t n, size_t D,
                           const double *c, size_t stride, const unsigned char *mask,
                           double *out, void *user)
{
    scoresde_cond cond = {sizeof cond, LC, c, stride ? n : 1, mask};
    return scoresde_model_score_cond(user, x, t, n, D, &cond, out) != SCORESDE_OK;
}

/* GAUSS with the exact linear-Gaussian model is exact at every t: the score
 * at several times (through the null condition or a separate prior model),
 * its Jacobian products and divergence, the ODE log-density, and the
 * moments of PC and DPM++ samples, against the closed-form N-observation
 * posterior, for N = 1, 2, 5. */
START_TEST(test_iid_gauss_exact)
{
    static const size_t Ns[3] = {1, 2, 5};
    size_t N = Ns[_i];
    scoresde_model *m = linear_gaussian(SCORESDE_SDE_VP), *iid = NULL, *iid2 = NULL, *pm = NULL;
    const scoresde_sde *sde = scoresde_model_sde(m);
    double ys[5 * LC], P0[4], Pp[4], mN[2], SN[4];
    iid_obs(N, ys);
    iid_precisions(P0, Pp);
    posterior(ys, N, mN, SN);
    OK(scoresde_model_create_iid(&iid, m, NULL, N, ys, SCORESDE_IID_GAUSS, P0, Pp));
    ck_assert_int_eq(scoresde_model_kind(iid), SCORESDE_MODEL_IID);
    ck_assert_uint_eq(scoresde_model_cond_dim(iid), 0);
    ck_assert_uint_eq(scoresde_model_dim(iid), LD);
    OK(scoresde_model_create_score_fn(&pm, sde, LD, prior_hook, NULL, m));
    OK(scoresde_model_create_iid(&iid2, m, pm, N, ys, SCORESDE_IID_GAUSS, P0, Pp));
    static const double ts[5] = {0.0, 0.01, 0.2, 0.5, 1.0};
    for (size_t k = 0; k < 5; k++) {
        double x[6] = {0.3, -0.7, 1.5, 0.2, -2.0, 0.9}, t[3] = {ts[k], ts[k], ts[k]};
        double s[6], s2[6], want[6], v[6] = {0.6, -0.2, -1.0, 0.5, 0.3, 0.3}, jv[6], sj[6];
        double div[3], al, sg;
        OK(scoresde_sde_marginal(sde, t, 1, &al, &sg, NULL, NULL));
        OK(scoresde_model_score(iid, x, t, 3, LD, s));
        OK(scoresde_model_score(iid2, x, t, 3, LD, s2));
        OK(scoresde_model_jvp(iid, x, t, 3, LD, v, sj, jv));
        OK(scoresde_model_divergence(iid, x, t, 3, LD, div));
        ck_assert_mem_eq(sj, s, sizeof s);
        double Ct[4];
        for (size_t e = 0; e < 4; e++)
            Ct[e] = al * al * SN[e] + (e == 0 || e == 3 ? sg * sg : 0.0);
        inverse(Ct, 2);
        for (size_t i = 0; i < 3; i++) {
            gauss_score(mN, SN, al, sg, x + 2 * i, want + 2 * i);
            double jw[2] = {-(Ct[0] * v[2 * i] + Ct[1] * v[2 * i + 1]),
                            -(Ct[2] * v[2 * i] + Ct[3] * v[2 * i + 1])};
            ck_assert_msg(test_rel_err(jv + 2 * i, jw, 2) < 1e-10, "N %zu t %g: jvp", N, ts[k]);
            ck_assert_msg(fabs(div[i] + Ct[0] + Ct[3]) < 1e-10 * (Ct[0] + Ct[3]),
                          "N %zu t %g: divergence %g, exact %g", N, ts[k], div[i],
                          -(Ct[0] + Ct[3]));
        }
        ck_assert_msg(test_rel_err(s, want, 6) < 1e-10, "N %zu t %g: score error %g", N, ts[k],
                      test_rel_err(s, want, 6));
        ck_assert_msg(test_rel_err(s2, want, 6) < 1e-10, "N %zu t %g: prior model", N, ts[k]);
    }
    /* the ODE log-density at the end time's exact prior (as test_linear_gaussian_likelihood) */
    scoresde_sampler *ode = NULL;
    OK(scoresde_sampler_create(&ode, SCORESDE_SAMPLER_ODE));
    double x3[6], got[3], lat[6], lT[3], lpr[3];
    for (size_t i = 0; i < 3; i++) /* within two posterior sd of the mean */
        for (size_t j = 0; j < 2; j++)
            x3[2 * i + j] = mN[j] + (0.7 * (double)i - 0.8 + 0.5 * (double)j) * sqrt(SN[3 * j]);
    OK(scoresde_sampler_likelihood(ode, iid, x3, 3, LD, 0, 0, got, lat, NULL));
    OK(scoresde_sde_prior_logp(sde, lat, 3, LD, lpr));
    double eps = scoresde_sde_training_eps(sde), T = scoresde_sde_end_time(sde), al, sg;
    for (size_t i = 0; i < 3; i++) {
        double tt[2] = {eps, T}, w = 0;
        for (int e = 0; e < 2; e++) {
            const double *pt = e == 0 ? x3 + 2 * i : lat + 2 * i;
            OK(scoresde_sde_marginal(sde, &tt[e], 1, &al, &sg, NULL, NULL));
            double Ct[4], d[2] = {pt[0] - al * mN[0], pt[1] - al * mN[1]};
            for (size_t q = 0; q < 4; q++)
                Ct[q] = al * al * SN[q] + (q == 0 || q == 3 ? sg * sg : 0.0);
            double det = Ct[0] * Ct[3] - Ct[1] * Ct[2];
            inverse(Ct, 2);
            double quad = d[0] * (Ct[0] * d[0] + Ct[1] * d[1]) + d[1] * (Ct[2] * d[0] + Ct[3] * d[1]);
            double lp = -0.5 * quad - 0.5 * log(det) - log(2 * M_PI);
            if (e == 0)
                w = lp;
            else
                lT[i] = lp;
        }
        got[i] += lT[i] - lpr[i];
        ck_assert_msg(fabs(got[i] - w) < 1e-3, "N %zu sample %zu: ln p %g, exact %g", N, i, got[i],
                      w);
    }
    scoresde_sampler_free(ode);
    /* sampler moments: PC (no corrector) and DPM++ */
    size_t n = 4000;
    double *xs = malloc(n * 2 * sizeof *xs);
    static const int methods[2] = {SCORESDE_SAMPLER_PC, SCORESDE_SAMPLER_DPMPP};
    for (int k = 0; k < 2; k++) {
        scoresde_sampler *smp = moment_sampler(methods[k]);
        OK(scoresde_sampler_sample(smp, iid, NULL, n, LD, 21, 0, xs, NULL));
        check_gaussian(xs, n, mN, SN, 0.02 / sqrt((double)N), "IID GAUSS posterior");
        scoresde_sampler_free(smp);
    }
    free(xs);
    scoresde_model *cl = NULL;
    OK(scoresde_model_clone(&cl, iid));
    double x[2] = {0.1, 0.2}, t[1] = {0.3}, a[2], b[2];
    OK(scoresde_model_score(iid, x, t, 1, LD, a));
    scoresde_model_free(iid);
    OK(scoresde_model_score(cl, x, t, 1, LD, b));
    ck_assert_mem_eq(a, b, sizeof a);
    scoresde_model_free(cl);
    scoresde_model_free(iid2);
    scoresde_model_free(pm);
    scoresde_model_free(m);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* FACTORIZED: bit for bit the single-observation model at N = 1, exact at
 * t = 0 (sigma = 0) for N = 2, 5, and measurably wrong at t > 0 (the
 * documented approximation); its divergence is the combination of the
 * components'. */
START_TEST(test_iid_factorized)
{
    scoresde_model *m = linear_gaussian(SCORESDE_SDE_VP), *iid = NULL;
    const scoresde_sde *sde = scoresde_model_sde(m);
    double ys[5 * LC], x[4] = {0.3, -0.7, 1.5, 0.2}, t[2] = {0.4, 0.4}, s[4], w[4];
    iid_obs(5, ys);
    OK(scoresde_model_create_iid(&iid, m, NULL, 1, ys, SCORESDE_IID_FACTORIZED, NULL, NULL));
    scoresde_cond one = {sizeof one, LC, ys, 1, NULL};
    OK(scoresde_model_score(iid, x, t, 2, LD, s));
    OK(scoresde_model_score_cond(m, x, t, 2, LD, &one, w));
    ck_assert_mem_eq(s, w, sizeof s);
    scoresde_model_free(iid);
    /* GAUSS at N = 1 is the single-observation score to rounding */
    double P0[4], Pp[4];
    iid_precisions(P0, Pp);
    OK(scoresde_model_create_iid(&iid, m, NULL, 1, ys, SCORESDE_IID_GAUSS, P0, Pp));
    OK(scoresde_model_score(iid, x, t, 2, LD, s));
    ck_assert(test_rel_err(s, w, 4) < 1e-13);
    scoresde_model_free(iid);
    for (size_t N = 2; N <= 5; N += 3) {
        double mN[2], SN[4], al, sg, div[2], d1[2], d0[2];
        posterior(ys, N, mN, SN);
        OK(scoresde_model_create_iid(&iid, m, NULL, N, ys, SCORESDE_IID_FACTORIZED, NULL, NULL));
        double t0[2] = {0.0, 0.0};
        OK(scoresde_sde_marginal(sde, t0, 1, &al, &sg, NULL, NULL));
        ck_assert(sg == 0.0);
        OK(scoresde_model_score(iid, x, t0, 2, LD, s));
        for (size_t i = 0; i < 2; i++)
            gauss_score(mN, SN, al, sg, x + 2 * i, w + 2 * i);
        ck_assert_msg(test_rel_err(s, w, 4) < 1e-12, "N %zu at t = 0: error %g", N,
                      test_rel_err(s, w, 4));
        OK(scoresde_sde_marginal(sde, t, 1, &al, &sg, NULL, NULL));
        OK(scoresde_model_score(iid, x, t, 2, LD, s));
        for (size_t i = 0; i < 2; i++)
            gauss_score(mN, SN, al, sg, x + 2 * i, w + 2 * i);
        ck_assert_msg(test_rel_err(s, w, 4) > 1e-2, "N %zu at t = 0.4: the approximation "
                      "should show (error %g)", N, test_rel_err(s, w, 4));
        /* divergence: sum of the observations' minus (N - 1) the prior's */
        OK(scoresde_model_divergence(iid, x, t, 2, LD, div));
        double want[2] = {0, 0};
        for (size_t k = 0; k < N; k++) {
            scoresde_cond ck = {sizeof ck, LC, ys + k * LC, 1, NULL};
            OK(scoresde_model_divergence_cond(m, x, t, 2, LD, &ck, d1));
            want[0] += d1[0];
            want[1] += d1[1];
        }
        OK(scoresde_model_divergence_cond(m, x, t, 2, LD, NULL, d0));
        for (size_t i = 0; i < 2; i++)
            ck_assert(fabs(div[i] - (want[i] - (double)(N - 1) * d0[i])) < 1e-12 * fabs(div[i]));
        /* the Jacobian products' diagonal sums to the divergence */
        double v1[4] = {1, 0, 1, 0}, v2[4] = {0, 1, 0, 1}, j1[4], j2[4];
        OK(scoresde_model_jvp(iid, x, t, 2, LD, v1, NULL, j1));
        OK(scoresde_model_jvp(iid, x, t, 2, LD, v2, NULL, j2));
        for (size_t i = 0; i < 2; i++)
            ck_assert(fabs(j1[2 * i] + j2[2 * i + 1] - div[i]) < 1e-12 * fabs(div[i]));
        scoresde_model_free(iid);
    }
    scoresde_model_free(m);
}
END_TEST

/* Each refusal of scoresde_model_create_iid with its code and message. */
START_TEST(test_iid_errors)
{
    scoresde_model *m = linear_gaussian(SCORESDE_SDE_VP), *bad = NULL, *gmm = NULL;
    scoresde_model *other = linear_gaussian(SCORESDE_SDE_VE), *pm = NULL, *pm3 = NULL;
    double ys[2 * LC], P0[4], Pp[4], Pbad[4] = {1, 0, 0, -1}, Psmall[4];
    iid_obs(2, ys);
    iid_precisions(P0, Pp);
    int G = SCORESDE_IID_GAUSS, F = SCORESDE_IID_FACTORIZED;
    test_expect_error(scoresde_model_create_iid(NULL, m, NULL, 2, ys, F, NULL, NULL), SCORESDE_EINVAL, "out");
    test_expect_error(scoresde_model_create_iid(&bad, NULL, NULL, 2, ys, F, NULL, NULL), SCORESDE_EINVAL,
           "cond_model");
    ck_assert_ptr_null(bad);
    test_expect_error(scoresde_model_create_iid(&bad, m, NULL, 0, ys, F, NULL, NULL), SCORESDE_EINVAL, "N");
    test_expect_error(scoresde_model_create_iid(&bad, m, NULL, 2, NULL, F, NULL, NULL), SCORESDE_EINVAL, "y");
    double ynan[2 * LC];
    memcpy(ynan, ys, sizeof ynan);
    ynan[4] = NAN;
    test_expect_error(scoresde_model_create_iid(&bad, m, NULL, 2, ynan, F, NULL, NULL), SCORESDE_EINVAL,
           "sample 1");
    test_expect_error(scoresde_model_create_iid(&bad, m, NULL, 2, ys, 9, NULL, NULL), SCORESDE_EINVAL,
           "not an IID method");
    test_expect_error(scoresde_model_create_iid(&bad, m, NULL, 2, ys, F, P0, NULL), SCORESDE_EINVAL,
           "takes no precisions");
    test_expect_error(scoresde_model_create_iid(&bad, m, NULL, 2, ys, G, NULL, Pp), SCORESDE_EINVAL,
           "prior_precision");
    test_expect_error(scoresde_model_create_iid(&bad, m, NULL, 2, ys, G, P0, NULL), SCORESDE_EINVAL,
           "posterior_precision");
    test_expect_error(scoresde_model_create_iid(&bad, m, NULL, 2, ys, G, P0, Pbad), SCORESDE_EINVAL,
           "not positive definite");
    for (int e = 0; e < 4; e++)
        Psmall[e] = 0.4 * P0[e];
    test_expect_error(scoresde_model_create_iid(&bad, m, NULL, 2, ys, G, P0, Psmall), SCORESDE_EINVAL,
           "combined precision");
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    gmm = test_mixture(sde);
    test_expect_error(scoresde_model_create_iid(&bad, gmm, NULL, 2, ys, F, NULL, NULL), SCORESDE_EINVAL,
           "unconditional");
    test_expect_error(scoresde_model_create_iid(&bad, m, m, 2, ys, F, NULL, NULL), SCORESDE_EINVAL,
           "prior_model is conditional");
    OK(scoresde_model_create_score_fn(&pm3, sde, 3, prior_hook, NULL, m));
    test_expect_error(scoresde_model_create_iid(&bad, m, pm3, 2, ys, F, NULL, NULL), SCORESDE_EDIM,
           "prior_model has dimension 3");
    OK(scoresde_model_create_score_fn(&pm, scoresde_model_sde(other), LD, prior_hook, NULL, m));
    test_expect_error(scoresde_model_create_iid(&bad, m, pm, 2, ys, F, NULL, NULL), SCORESDE_EINVAL,
           "prior_model's SDE");
    scoresde_model_free(pm);
    scoresde_sde *vp2 = NULL;
    OK(scoresde_sde_create_vp(&vp2, 0.2, 15.0));
    OK(scoresde_model_create_score_fn(&pm, vp2, LD, prior_hook, NULL, m));
    test_expect_error(scoresde_model_create_iid(&bad, m, pm, 2, ys, F, NULL, NULL), SCORESDE_EINVAL,
           "other parameters");
    /* a conditional model refusing the null condition needs a prior model */
    scoresde_model *hook = NULL;
    OK(scoresde_model_create_cond_score_fn(&hook, sde, LD, LC, 0, cond_score_hook, NULL, m));
    test_expect_error(scoresde_model_create_iid(&bad, hook, NULL, 2, ys, F, NULL, NULL), SCORESDE_EINVAL,
           "null condition");
    /* GAUSS needs a Gaussian marginal; FACTORIZED does not (a custom SDE
     * without one, prior model and conditional model on it) */
    scoresde_sde *cu = NULL;
    scoresde_model *hc = NULL, *pc = NULL, *fc = NULL;
    OK(scoresde_sde_create_custom(&cu, 1.0, zero_drift, unit_diffusion, NULL, NULL));
    OK(scoresde_model_create_cond_score_fn(&hc, cu, LD, LC, 1, cond_score_hook, NULL, m));
    OK(scoresde_model_create_score_fn(&pc, cu, LD, prior_hook, NULL, m));
    test_expect_error(scoresde_model_create_iid(&bad, hc, pc, 2, ys, G, P0, Pp), SCORESDE_EUNSUPPORTED,
           "Gaussian marginal");
    OK(scoresde_model_create_iid(&fc, hc, pc, 2, ys, F, NULL, NULL));
    scoresde_model_free(fc);
    scoresde_model_free(pc);
    scoresde_model_free(hc);
    scoresde_sde_free(cu);
    /* the composed model has no density, samples, parameters or file */
    scoresde_model *iid = NULL;
    OK(scoresde_model_create_iid(&iid, m, NULL, 2, ys, F, NULL, NULL));
    double x[2] = {0, 0}, t[1] = {0.5}, lp[1];
    ck_assert_int_eq(scoresde_model_log_density(iid, x, t, 1, LD, lp), SCORESDE_EUNSUPPORTED);
    ck_assert_int_eq(scoresde_model_sample(iid, t, 1, LD, 0, 0, x), SCORESDE_EUNSUPPORTED);
    ck_assert_uint_eq(scoresde_model_num_params(iid), 0);
    void *buf = NULL;
    size_t size = 0;
    ck_assert_int_eq(scoresde_model_save_buffer(iid, &buf, &size), SCORESDE_EUNSUPPORTED);
    scoresde_cond cc = {sizeof cc, LC, ys, 1, NULL};
    double s[2];
    ck_assert_int_eq(scoresde_model_score_cond(iid, x, t, 1, LD, &cc, s), SCORESDE_EINVAL);
    scoresde_model_free(iid);
    scoresde_model_free(hook);
    scoresde_model_free(pm);
    scoresde_model_free(pm3);
    scoresde_sde_free(vp2);
    scoresde_sde_free(sde);
    scoresde_model_free(gmm);
    scoresde_model_free(other);
    scoresde_model_free(m);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* ------------------------------------------------------------- bad input */

START_TEST(test_cond_errors)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = cond_gmm(SCORESDE_SDE_VP), *bad = (scoresde_model *)1;
    double x[4] = {0, 0, 1, 1}, t[2] = {0.5, 0.5}, out[4];
    double lab[2] = {0, 2}, nan_lab[2] = {0, NAN}, frac[2] = {0.5, 1};
    scoresde_cond c = label_cond(lab, 2, NULL);
    test_expect_error(scoresde_model_score_cond(m, x, t, 2, 2, &c, out), SCORESDE_EINVAL,
                      "sample 1");
    c.c = nan_lab;
    test_expect_error(scoresde_model_score_cond(m, x, t, 2, 2, &c, out), SCORESDE_EINVAL,
                      "not finite");
    c.c = frac;
    test_expect_error(scoresde_model_score_cond(m, x, t, 2, 2, &c, out), SCORESDE_EINVAL, "0.5");
    c.c = lab;
    c.C = 2;
    test_expect_error(scoresde_model_score_cond(m, x, t, 2, 2, &c, out), SCORESDE_EDIM, "cond->C");
    /* the samplers check the condition too */
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, SCORESDE_SAMPLER_ODE));
    c.C = 1;
    test_expect_error(scoresde_sampler_sample_cond(s, m, NULL, 2, 2, &c, 0, 0, out, NULL),
                      SCORESDE_EINVAL, "class labels");
    double ok_lab[3] = {0, 1, 0};
    scoresde_cond three = label_cond(ok_lab, 3, NULL);
    test_expect_error(scoresde_sampler_sample_cond(s, m, NULL, 2, 2, &three, 0, 0, out, NULL),
                      SCORESDE_EINVAL, "cond->rows");
    test_expect_error(
        scoresde_sampler_likelihood_cond(s, m, x, 2, 2, &three, 0, 0, out, NULL, NULL),
        SCORESDE_EINVAL, "cond->rows");
    test_expect_error(scoresde_sampler_encode_cond(s, m, x, 2, 2, &three, out, NULL),
                      SCORESDE_EINVAL, "cond->rows");
    scoresde_model *plain = test_mixture(sde);
    test_expect_error(scoresde_sampler_sample_cond(s, plain, NULL, 2, 2, &three, 0, 0, out, NULL),
                      SCORESDE_EINVAL, "unconditional");
    test_expect_error(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_GUIDANCE_SCALE, NAN),
                      SCORESDE_EINVAL, "GUIDANCE_SCALE");
    /* constructors */
    test_expect_error(scoresde_model_create_cond_gmm(&bad, sde, 0, GM, GD, g_pi, g_w, g_mu, g_var),
                      SCORESDE_EINVAL, "K");
    ck_assert_ptr_null(bad);
    double negw[4] = {0.6, -0.4, 0.25, 0.75};
    test_expect_error(
        scoresde_model_create_cond_gmm(&bad, sde, GK, GM, GD, g_pi, negw, g_mu, g_var),
        SCORESDE_EINVAL, "weights[1]");
    test_expect_error(scoresde_model_create_cond_gmm(&bad, sde, GK, GM, GD, NULL, g_w, g_mu, g_var),
                      SCORESDE_EINVAL, "class_probs");
    double S0bad[4] = {1.0, 2.0, 2.0, 1.0}, S0asym[4] = {1.0, 0.3, 0.2, 0.5};
    test_expect_error(
        scoresde_model_create_linear_gaussian(&bad, sde, LD, LC, l_m0, S0bad, l_A, l_b, l_Se),
        SCORESDE_EINVAL, "prior_cov is not positive definite");
    test_expect_error(
        scoresde_model_create_linear_gaussian(&bad, sde, LD, LC, l_m0, S0asym, l_A, l_b, l_Se),
        SCORESDE_EINVAL, "prior_cov is not symmetric");
    test_expect_error(
        scoresde_model_create_linear_gaussian(&bad, sde, LD, LC, l_m0, l_S0, l_A, l_b, NULL),
        SCORESDE_EINVAL, "noise_cov");
    double Anan[6] = {1, 0, NAN, 1, 0, 0};
    test_expect_error(
        scoresde_model_create_linear_gaussian(&bad, sde, LD, LC, l_m0, l_S0, Anan, l_b, l_Se),
        SCORESDE_EINVAL, "A");
    test_expect_error(
        scoresde_model_create_linear_gaussian(&bad, sde, LD, 0, l_m0, l_S0, l_A, l_b, l_Se),
        SCORESDE_EINVAL, "C");
    ck_assert_ptr_null(bad);
    /* the exact conditional models have no file form */
    void *buf = NULL;
    size_t size = 0;
    ck_assert_int_eq(scoresde_model_save_buffer(m, &buf, &size), SCORESDE_EUNSUPPORTED);
    scoresde_model_free(plain);
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

static Suite *cond_suite(void)
{
    Suite *s = suite_create("cond");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_cond_gmm_model);
    tcase_add_loop_test(tc, test_cond_gmm_samplers, 0, 4);
    tcase_add_test(tc, test_cfg_formula);
    tcase_add_loop_test(tc, test_cfg_limits, 0, 4);
    tcase_add_test(tc, test_cond_hooks);
    tcase_add_loop_test(tc, test_cond_reproducible, 0, 3);
    tcase_add_test(tc, test_linear_gaussian_model);
    tcase_add_test(tc, test_linear_gaussian_clone_jvp);
    tcase_add_loop_test(tc, test_linear_gaussian_likelihood, 0, 2);
    tcase_add_test(tc, test_cond_errors);
    tcase_add_loop_test(tc, test_iid_gauss_exact, 0, 3);
    tcase_add_test(tc, test_iid_factorized);
    tcase_add_test(tc, test_iid_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(cond_suite());
}
