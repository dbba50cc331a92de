/*
 * The SDE module: closed-form coefficients, identities between them, the
 * general-schedule formulas (Exercise 8.1), the prior, the discretisations,
 * the reverse-time drifts, the description round trip and bad input.
 * Forward simulation against the marginals is in test_sde_sim.c.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sde_internal.h"
#include "testutil.h"

static const int builtin_kinds[] = {SCORESDE_SDE_VE,     SCORESDE_SDE_VP,  SCORESDE_SDE_SUBVP,
                                    SCORESDE_SDE_COSINE, SCORESDE_SDE_EDM, SCORESDE_SDE_OU};
enum { NBUILTIN = sizeof builtin_kinds / sizeof builtin_kinds[0] };

static scoresde_sde *make_default(int kind)
{
    scoresde_sde *sde = NULL;
    ck_assert_int_eq(scoresde_sde_create_default(&sde, kind), SCORESDE_OK);
    ck_assert_ptr_nonnull(sde);
    return sde;
}

/* Relative-or-absolute closeness. */
static void assert_close(double got, double want, double tol, const char *what, double t)
{
    if (!(fabs(got - want) <= tol * fmax(1.0, fabs(want))))
        ck_abort_msg("%s at t = %.17g: got %.17g, want %.17g", what, t, got, want);
}

/* ------------------------------------------------------------ closed forms */

START_TEST(marginals_match_closed_forms)
{
    const double ts[] = {0.0, 1e-4, 0.1, 0.37, 0.5, 0.9, 1.0};
    enum { NT = sizeof ts / sizeof ts[0] };
    double al[NT], si[NT], da[NT], ds[NT];
    const double bmin = 0.1, bmax = 20.0, smin = 0.01, smax = 50.0;

    scoresde_sde *vp = make_default(SCORESDE_SDE_VP);
    ck_assert_int_eq(scoresde_sde_marginal(vp, ts, NT, al, si, da, ds), SCORESDE_OK);
    for (int k = 0; k < NT; k++) {
        double t = ts[k], lmc = -t * t * (bmax - bmin) / 4 - t * bmin / 2;
        assert_close(al[k], exp(lmc), 1e-14, "VP alpha", t);
        assert_close(si[k], sqrt(1 - exp(2 * lmc)), 1e-12, "VP sigma", t);
        assert_close(da[k], -(bmin + t * (bmax - bmin)) / 2 * exp(lmc), 1e-13, "VP alpha'", t);
    }
    ck_assert(isinf(ds[0]) && ds[0] > 0); /* sigma ~ sqrt(bmin t) */
    scoresde_sde_free(vp);

    scoresde_sde *sub = make_default(SCORESDE_SDE_SUBVP);
    ck_assert_int_eq(scoresde_sde_marginal(sub, ts, NT, al, si, NULL, NULL), SCORESDE_OK);
    for (int k = 0; k < NT; k++) {
        double t = ts[k], lmc = -t * t * (bmax - bmin) / 4 - t * bmin / 2;
        assert_close(al[k], exp(lmc), 1e-14, "subVP alpha", t);
        assert_close(si[k], 1 - exp(2 * lmc), 1e-12, "subVP sigma", t);
    }
    scoresde_sde_free(sub);

    scoresde_sde *ve = make_default(SCORESDE_SDE_VE);
    ck_assert_int_eq(scoresde_sde_marginal(ve, ts, NT, al, si, da, ds), SCORESDE_OK);
    for (int k = 0; k < NT; k++) {
        double t = ts[k];
        assert_close(al[k], 1.0, 0, "VE alpha", t);
        assert_close(si[k], smin * pow(smax / smin, t), 1e-13, "VE sigma", t);
        assert_close(ds[k], smin * pow(smax / smin, t) * log(smax / smin), 1e-13, "VE sigma'", t);
        assert_close(da[k], 0.0, 0, "VE alpha'", t);
    }
    scoresde_sde_free(ve);

    scoresde_sde *cs = make_default(SCORESDE_SDE_COSINE);
    ck_assert(scoresde_sde_end_time(cs) == 0.9946);
    ck_assert_int_eq(scoresde_sde_marginal(cs, ts, NT - 1, al, si, da, ds), SCORESDE_OK);
    for (int k = 0; k < NT - 1; k++) {
        double t = ts[k], s = 0.008;
        double a = cos((t + s) / (1 + s) * M_PI / 2) / cos(s / (1 + s) * M_PI / 2);
        assert_close(al[k], a, 1e-14, "cosine alpha", t);
        assert_close(si[k], sqrt(1 - a * a), 1e-12, "cosine sigma", t);
    }
    scoresde_sde_free(cs);

    scoresde_sde *edm = make_default(SCORESDE_SDE_EDM);
    ck_assert(scoresde_sde_end_time(edm) == 80.0);
    ck_assert(scoresde_sde_sampling_eps(edm) == 0.002);
    const double te[] = {0.0, 0.002, 1.0, 17.5, 80.0};
    ck_assert_int_eq(scoresde_sde_marginal(edm, te, 5, al, si, da, ds), SCORESDE_OK);
    for (int k = 0; k < 5; k++) {
        assert_close(al[k], 1.0, 0, "EDM alpha", te[k]);
        assert_close(si[k], te[k], 0, "EDM sigma", te[k]);
        assert_close(ds[k], 1.0, 0, "EDM sigma'", te[k]);
    }
    scoresde_sde_free(edm);

    scoresde_sde *ou = NULL;
    ck_assert_int_eq(scoresde_sde_create_ou(&ou, 0.7, 1.3, 5.0), SCORESDE_OK);
    const double to[] = {0.0, 0.01, 1.0, 2.5, 5.0};
    ck_assert_int_eq(scoresde_sde_marginal(ou, to, 5, al, si, da, ds), SCORESDE_OK);
    for (int k = 0; k < 5; k++) {
        double t = to[k];
        assert_close(al[k], exp(-0.7 * t), 1e-14, "OU alpha", t);
        assert_close(si[k], sqrt(1.69 * (1 - exp(-1.4 * t)) / 1.4), 1e-13, "OU sigma", t);
    }
    scoresde_sde_free(ou);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* Central differences of alpha and sigma agree with the analytic derivatives. */
START_TEST(derivatives_match_finite_differences)
{
    for (int k = 0; k < NBUILTIN; k++) {
        scoresde_sde *sde = make_default(builtin_kinds[k]);
        double T = scoresde_sde_end_time(sde);
        for (int m = 1; m <= 19; m++) {
            double t = T * m / 20.0, h = 1e-5 * T;
            double tt[3] = {t - h, t, t + h}, al[3], si[3], da[3], ds[3];
            ck_assert_int_eq(scoresde_sde_marginal(sde, tt, 3, al, si, da, ds), SCORESDE_OK);
            /* Truncation error h^2 f'''/6 plus rounding eps |f| / h: 1e-7 relative
             * to the size of the function and its derivative is ample. */
            double fa = (al[2] - al[0]) / (2 * h), fs = (si[2] - si[0]) / (2 * h);
            double sa = fabs(da[1]) + fabs(al[1]) / T, ss = fabs(ds[1]) + fabs(si[1]) / T;
            if (fabs(fa - da[1]) > 1e-6 * sa || fabs(fs - ds[1]) > 1e-6 * ss)
                ck_abort_msg("kind %d t %g: alpha' %g vs %g, sigma' %g vs %g", builtin_kinds[k], t,
                             da[1], fa, ds[1], fs);
        }
        scoresde_sde_free(sde);
    }
}
END_TEST

/* d/dt (alpha^2 v0 + sigma^2) = 2 a (alpha^2 v0 + sigma^2) + g^2 (docs/math.md section 1),
 * with a from the drift of x = 1 and g from the diffusion: this ties the marginal
 * to the drift and diffusion of every kind. */
START_TEST(variance_ode_holds)
{
    const double v0s[] = {0.0, 1.0, 3.0};
    for (int k = 0; k < NBUILTIN; k++) {
        scoresde_sde *sde = make_default(builtin_kinds[k]);
        double T = scoresde_sde_end_time(sde);
        for (int m = 1; m <= 19; m++) {
            double t = T * m / 20.0, h = 1e-5 * T;
            double tt[3] = {t - h, t, t + h}, al[3], si[3], one = 1.0, a, g;
            ck_assert_int_eq(scoresde_sde_marginal(sde, tt, 3, al, si, NULL, NULL), SCORESDE_OK);
            ck_assert_int_eq(scoresde_sde_drift(sde, &one, &t, 1, 1, &a), SCORESDE_OK);
            ck_assert_int_eq(scoresde_sde_diffusion(sde, &t, 1, &g), SCORESDE_OK);
            for (int v = 0; v < 3; v++) {
                double var[3];
                for (int q = 0; q < 3; q++)
                    var[q] = al[q] * al[q] * v0s[v] + si[q] * si[q];
                double lhs = (var[2] - var[0]) / (2 * h), rhs = 2 * a * var[1] + g * g;
                double scale = fabs(2 * a * var[1]) + g * g + var[1] / T;
                if (fabs(lhs - rhs) > 1e-6 * scale)
                    ck_abort_msg("kind %d t %g v0 %g: dVar/dt %.12g vs %.12g", builtin_kinds[k], t,
                                 v0s[v], lhs, rhs);
            }
        }
        scoresde_sde_free(sde);
    }
}
END_TEST

START_TEST(vp_keeps_unit_variance_and_subvp_stays_below)
{
    scoresde_sde *vp = make_default(SCORESDE_SDE_VP), *sub = make_default(SCORESDE_SDE_SUBVP);
    for (int m = 0; m <= 200; m++) {
        double t = m / 200.0, av, sv, as, ss;
        ck_assert_int_eq(scoresde_sde_marginal(vp, &t, 1, &av, &sv, NULL, NULL), SCORESDE_OK);
        ck_assert_int_eq(scoresde_sde_marginal(sub, &t, 1, &as, &ss, NULL, NULL), SCORESDE_OK);
        /* Unit-variance data: Var x_t = alpha^2 + sigma^2. */
        assert_close(av * av + sv * sv, 1.0, 1e-14, "VP variance", t);
        ck_assert(as == av);
        ck_assert(ss <= sv);
        ck_assert(as * as + ss * ss <= 1.0 + 1e-15);
        if (m > 0)
            ck_assert(ss < sv); /* strictly, while 0 < sigma_VP < 1 */
    }
    scoresde_sde_free(vp);
    scoresde_sde_free(sub);
}
END_TEST

START_TEST(default_parameters_and_eps)
{
    struct {
        int kind;
        double T, eps_s, eps_t;
        double p[3];
        size_t count;
    } want[] = {
        {SCORESDE_SDE_VE, 1.0, 1e-5, 1e-5, {0.01, 50.0, 0}, 2},
        {SCORESDE_SDE_VP, 1.0, 1e-3, 1e-5, {0.1, 20.0, 0}, 2},
        {SCORESDE_SDE_SUBVP, 1.0, 1e-3, 1e-5, {0.1, 20.0, 0}, 2},
        {SCORESDE_SDE_COSINE, 0.9946, 1e-3, 1e-5, {0.008, 0.9946, 0}, 2},
        {SCORESDE_SDE_EDM, 80.0, 0.002, 0.002, {0.002, 80.0, 0}, 2},
        {SCORESDE_SDE_OU, 8.0, 1e-3, 1e-5, {1.0, M_SQRT2, 8.0}, 3},
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        scoresde_sde *sde = make_default(want[k].kind);
        ck_assert_int_eq(scoresde_sde_kind(sde), want[k].kind);
        ck_assert(scoresde_sde_end_time(sde) == want[k].T);
        ck_assert(scoresde_sde_sampling_eps(sde) == want[k].eps_s);
        ck_assert(scoresde_sde_training_eps(sde) == want[k].eps_t);
        int kind;
        double p[8];
        size_t count;
        ck_assert_int_eq(sd_sde_describe(sde, &kind, p, &count), SCORESDE_OK);
        ck_assert_int_eq(kind, want[k].kind);
        ck_assert_uint_eq(count, want[k].count);
        for (size_t i = 0; i < count; i++)
            ck_assert(p[i] == want[k].p[i]);
        scoresde_sde_free(sde);
    }
}
END_TEST

/* ------------------------------------------------------------ clone, describe */

START_TEST(clone_and_description_round_trip)
{
    scoresde_sde *made[NBUILTIN + 3];
    size_t nm = 0;
    for (int k = 0; k < NBUILTIN; k++)
        made[nm++] = make_default(builtin_kinds[k]);
    ck_assert_int_eq(scoresde_sde_create_vp(&made[nm++], 0.0, 3.5), SCORESDE_OK);
    ck_assert_int_eq(scoresde_sde_create_ve(&made[nm++], 0.5, 1348.0), SCORESDE_OK);
    ck_assert_int_eq(scoresde_sde_create_ou(&made[nm++], 2.5, 0.3, 1.5), SCORESDE_OK);
    const double fr[] = {0.0, 0.123, 0.5, 0.77, 1.0};
    for (size_t k = 0; k < nm; k++) {
        scoresde_sde *clone = NULL, *rebuilt = NULL;
        int kind;
        double p[8];
        size_t count;
        ck_assert_int_eq(scoresde_sde_clone(&clone, made[k]), SCORESDE_OK);
        ck_assert_int_eq(sd_sde_describe(made[k], &kind, p, &count), SCORESDE_OK);
        ck_assert_int_eq(sd_sde_from_description(kind, p, count, &rebuilt), SCORESDE_OK);
        scoresde_sde *all[3] = {made[k], clone, rebuilt};
        double T = scoresde_sde_end_time(made[k]);
        double al[3][5], si[3][5], g[3][5], t[5];
        for (int i = 0; i < 5; i++)
            t[i] = fr[i] * T;
        for (int c = 0; c < 3; c++) {
            ck_assert_int_eq(scoresde_sde_kind(all[c]), kind);
            ck_assert(scoresde_sde_end_time(all[c]) == T);
            ck_assert(scoresde_sde_sampling_eps(all[c]) == scoresde_sde_sampling_eps(made[k]));
            ck_assert_int_eq(scoresde_sde_marginal(all[c], t, 5, al[c], si[c], NULL, NULL),
                             SCORESDE_OK);
            ck_assert_int_eq(scoresde_sde_diffusion(all[c], t, 5, g[c]), SCORESDE_OK);
        }
        for (int c = 1; c < 3; c++)
            for (int i = 0; i < 5; i++)
                ck_assert(al[c][i] == al[0][i] && si[c][i] == si[0][i] && g[c][i] == g[0][i]);
        scoresde_sde_free(clone);
        scoresde_sde_free(rebuilt);
        scoresde_sde_free(made[k]);
    }
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

static int vp_schedule_hook(const double *t, size_t n, double *alpha, double *sigma,
                            double *dalpha_dt, double *dsigma_dt, void *user)
{
    return scoresde_sde_marginal(user, t, n, alpha, sigma, dalpha_dt, dsigma_dt);
}

START_TEST(hook_sdes_cannot_be_described)
{
    scoresde_sde *vp = make_default(SCORESDE_SDE_VP), *sch = NULL;
    ck_assert_int_eq(scoresde_sde_create_schedule(&sch, 1.0, vp_schedule_hook, vp), SCORESDE_OK);
    int kind;
    double p[8];
    size_t count;
    ck_assert_int_eq(sd_sde_describe(sch, &kind, p, &count), SCORESDE_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "hooks"));
    scoresde_sde *out = (scoresde_sde *)&kind; /* must be reset to NULL on failure */
    ck_assert_int_eq(sd_sde_from_description(SCORESDE_SDE_SCHEDULE, p, 2, &out), SCORESDE_EINVAL);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(sd_sde_from_description(SCORESDE_SDE_VP, p, 3, &out), SCORESDE_EINVAL);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "count (3)"));
    p[0] = 0.1;
    p[1] = -1.0;
    ck_assert_int_eq(sd_sde_from_description(SCORESDE_SDE_VP, p, 2, &out), SCORESDE_EINVAL);
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "beta_max (-1)"));
    ck_assert_int_eq(sd_sde_from_description(99, p, 2, &out), SCORESDE_EINVAL);
    ck_assert_int_eq(sd_sde_describe(NULL, &kind, p, &count), SCORESDE_EINVAL);
    scoresde_sde_free(sch);
    scoresde_sde_free(vp);
}
END_TEST

/* ------------------------------------------------------------ bad input */

#define EXPECT_FAIL(call, code, text)                                                        \
    do {                                                                                     \
        ck_assert_int_eq((call), (code));                                                    \
        if (strstr(scoresde_last_error(), (text)) == NULL)                                   \
            ck_abort_msg("%s: message \"%s\" lacks \"%s\"", #call, scoresde_last_error(), \
                         (text));                                                            \
    } while (0)

START_TEST(invalid_parameters_are_refused_by_name)
{
    scoresde_sde *s = (scoresde_sde *)&s;
    EXPECT_FAIL(scoresde_sde_create_vp(&s, -0.1, 20), SCORESDE_EINVAL, "beta_min (-0.1)");
    ck_assert_ptr_null(s);
    EXPECT_FAIL(scoresde_sde_create_vp(&s, 0.1, 0.05), SCORESDE_EINVAL,
                "beta_max (0.05) is below beta_min (0.1)");
    EXPECT_FAIL(scoresde_sde_create_vp(&s, 0.0, 0.0), SCORESDE_EINVAL, "beta_max (0)");
    EXPECT_FAIL(scoresde_sde_create_vp(&s, NAN, 20), SCORESDE_EINVAL, "beta_min (nan)");
    EXPECT_FAIL(scoresde_sde_create_subvp(&s, 0.1, INFINITY), SCORESDE_EINVAL, "beta_max (inf)");
    EXPECT_FAIL(scoresde_sde_create_subvp(&s, 2, 1), SCORESDE_EINVAL, "beta_max (1)");
    EXPECT_FAIL(scoresde_sde_create_ve(&s, 0.0, 50), SCORESDE_EINVAL, "sigma_min (0)");
    EXPECT_FAIL(scoresde_sde_create_ve(&s, -1.0, 50), SCORESDE_EINVAL, "sigma_min (-1)");
    EXPECT_FAIL(scoresde_sde_create_ve(&s, 0.01, 0.01), SCORESDE_EINVAL,
                "sigma_max (0.01) must exceed sigma_min (0.01)");
    EXPECT_FAIL(scoresde_sde_create_ve(&s, 0.01, NAN), SCORESDE_EINVAL, "sigma_max (nan)");
    EXPECT_FAIL(scoresde_sde_create_edm(&s, 0.5, 0.1), SCORESDE_EINVAL, "sigma_max (0.1)");
    EXPECT_FAIL(scoresde_sde_create_edm(&s, -INFINITY, 80), SCORESDE_EINVAL, "sigma_min (-inf)");
    EXPECT_FAIL(scoresde_sde_create_cosine(&s, -0.1, 0.9), SCORESDE_EINVAL, "s (-0.1)");
    EXPECT_FAIL(scoresde_sde_create_cosine(&s, 0.008, 1.0), SCORESDE_EINVAL, "T (1)");
    EXPECT_FAIL(scoresde_sde_create_cosine(&s, 0.008, 0.0), SCORESDE_EINVAL, "T (0)");
    EXPECT_FAIL(scoresde_sde_create_ou(&s, 0.0, 1, 1), SCORESDE_EINVAL, "theta (0)");
    EXPECT_FAIL(scoresde_sde_create_ou(&s, 1, -2, 1), SCORESDE_EINVAL, "s (-2)");
    EXPECT_FAIL(scoresde_sde_create_ou(&s, 1, 1, -3), SCORESDE_EINVAL, "T (-3)");
    EXPECT_FAIL(scoresde_sde_create_ou(&s, 1, 1, INFINITY), SCORESDE_EINVAL, "T (inf)");
    EXPECT_FAIL(scoresde_sde_create_default(&s, SCORESDE_SDE_SCHEDULE), SCORESDE_EINVAL,
                "has no defaults");
    EXPECT_FAIL(scoresde_sde_create_default(&s, SCORESDE_SDE_CUSTOM), SCORESDE_EINVAL,
                "has no defaults");
    EXPECT_FAIL(scoresde_sde_create_default(&s, 0), SCORESDE_EINVAL, "kind (0)");
    EXPECT_FAIL(scoresde_sde_create_default(&s, 9), SCORESDE_EINVAL, "kind (9)");
    EXPECT_FAIL(scoresde_sde_create_default(NULL, SCORESDE_SDE_VP), SCORESDE_EINVAL,
                "out is NULL");
    ck_assert_ptr_null(s);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

START_TEST(null_and_empty_handles)
{
    scoresde_sde *s = NULL;
    scoresde_sde_free(NULL);
    ck_assert_int_eq(scoresde_sde_kind(NULL), 0);
    ck_assert(isnan(scoresde_sde_end_time(NULL)));
    ck_assert(isnan(scoresde_sde_sampling_eps(NULL)));
    ck_assert(isnan(scoresde_sde_training_eps(NULL)));
    EXPECT_FAIL(scoresde_sde_clone(&s, NULL), SCORESDE_EINVAL, "sde is NULL");
    scoresde_sde *vp = make_default(SCORESDE_SDE_VP);
    EXPECT_FAIL(scoresde_sde_clone(NULL, vp), SCORESDE_EINVAL, "out is NULL");
    s = vp; /* a failing clone clears *out */
    EXPECT_FAIL(scoresde_sde_clone(&s, NULL), SCORESDE_EINVAL, "sde is NULL");
    ck_assert_ptr_null(s);
    double t = 0.5, a;
    EXPECT_FAIL(scoresde_sde_marginal(NULL, &t, 1, &a, NULL, NULL, NULL), SCORESDE_EINVAL,
                "sde is NULL");
    EXPECT_FAIL(scoresde_sde_marginal(vp, NULL, 1, &a, NULL, NULL, NULL), SCORESDE_EINVAL,
                "t is NULL");
    EXPECT_FAIL(scoresde_sde_marginal(vp, &t, 0, &a, NULL, NULL, NULL), SCORESDE_EINVAL,
                "n is zero");
    /* All outputs NULL is allowed (it only validates). */
    ck_assert_int_eq(scoresde_sde_marginal(vp, &t, 1, NULL, NULL, NULL, NULL), SCORESDE_OK);
    scoresde_sde_free(vp);
}
END_TEST

START_TEST(times_outside_the_interval_are_refused)
{
    scoresde_sde *vp = make_default(SCORESDE_SDE_VP), *edm = make_default(SCORESDE_SDE_EDM);
    double a[3];
    double bad1[3] = {0.5, 1.0000001, 0.2}, bad2[3] = {0.5, -1e-300, 0.2},
           bad3[3] = {0.5, 0.1, NAN}, ok[3] = {0.0, 80.0, 3.0};
    EXPECT_FAIL(scoresde_sde_marginal(vp, bad1, 3, a, NULL, NULL, NULL), SCORESDE_EINVAL,
                "t[1] (1) is outside [0, T = 1]");
    EXPECT_FAIL(scoresde_sde_marginal(vp, bad2, 3, a, NULL, NULL, NULL), SCORESDE_EINVAL, "t[1]");
    EXPECT_FAIL(scoresde_sde_diffusion(vp, bad3, 3, a), SCORESDE_EINVAL, "t[2] (nan)");
    ck_assert_int_eq(scoresde_sde_marginal(edm, ok, 3, a, NULL, NULL, NULL), SCORESDE_OK);
    /* EDM's T is sigma_max = 80, so 1.0000001 is a valid time there. */
    ck_assert_int_eq(scoresde_sde_marginal(edm, bad1, 3, a, NULL, NULL, NULL), SCORESDE_OK);
    scoresde_sde_free(vp);
    scoresde_sde_free(edm);
}
END_TEST

/* ------------------------------------------------------------ Exercise 8.1 */

/* A schedule hook that reads alpha and sigma off another SDE. */
static int borrowed_schedule(const double *t, size_t n, double *alpha, double *sigma,
                             double *dalpha_dt, double *dsigma_dt, void *user)
{
    return scoresde_sde_marginal(user, t, n, alpha, sigma, dalpha_dt, dsigma_dt) != SCORESDE_OK;
}

/* The general-schedule formulas a = alpha'/alpha and
 * g^2 = 2 sigma sigma' - 2 a sigma^2 (seed 000, Exercise 8.1) give back the
 * drift and diffusion of VP, sub-VP, VE, EDM, cosine and OU. */
START_TEST(general_schedule_reproduces_builtin_sdes)
{
    const int kinds[] = {SCORESDE_SDE_VP, SCORESDE_SDE_SUBVP, SCORESDE_SDE_VE,
                         SCORESDE_SDE_EDM, SCORESDE_SDE_COSINE, SCORESDE_SDE_OU};
    enum { N = 40, D = 2 };
    for (size_t q = 0; q < sizeof kinds / sizeof kinds[0]; q++) {
        scoresde_sde *ref = make_default(kinds[q]), *gen = NULL;
        double T = scoresde_sde_end_time(ref);
        ck_assert_int_eq(scoresde_sde_create_schedule(&gen, T, borrowed_schedule, ref),
                         SCORESDE_OK);
        ck_assert_int_eq(scoresde_sde_kind(gen), SCORESDE_SDE_SCHEDULE);
        double t[N], x[N * D], f1[N * D], f2[N * D], g1[N], g2[N];
        for (int i = 0; i < N; i++) {
            t[i] = T * (i + 1) / N; /* sigma'(0) is infinite for VP-like schedules */
            x[2 * i] = 1.0 + 0.1 * i;
            x[2 * i + 1] = -3.0 + 0.05 * i;
        }
        ck_assert_int_eq(scoresde_sde_drift(ref, x, t, N, D, f1), SCORESDE_OK);
        ck_assert_int_eq(scoresde_sde_drift(gen, x, t, N, D, f2), SCORESDE_OK);
        ck_assert_int_eq(scoresde_sde_diffusion(ref, t, N, g1), SCORESDE_OK);
        ck_assert_int_eq(scoresde_sde_diffusion(gen, t, N, g2), SCORESDE_OK);
        for (int i = 0; i < N; i++) {
            /* g^2 from the general formula suffers cancellation between its two
             * terms (relative 1e-16 of each); 1e-10 is a loose bound on it. */
            assert_close(g2[i], g1[i], 1e-10, "g", t[i]);
            for (int j = 0; j < D; j++)
                assert_close(f2[i * D + j], f1[i * D + j], 1e-12, "f", t[i]);
        }
        double v1, v2;
        ck_assert_int_eq(scoresde_sde_prior_var(gen, &v2), SCORESDE_OK);
        ck_assert_int_eq(scoresde_sde_prior_var(ref, &v1), SCORESDE_OK);
        /* The general prior is sigma(T)^2, which is the built-in one where
         * sigma(T) is the prior scale exactly (VE, EDM). */
        if (kinds[q] == SCORESDE_SDE_VE || kinds[q] == SCORESDE_SDE_EDM)
            assert_close(v2, v1, 1e-13, "prior", T);
        scoresde_sde_free(gen);
        scoresde_sde_free(ref);
    }
}
END_TEST

/* sigma = 1 - t with alpha = 1: the noise would have to shrink (g^2 < 0). */
static int shrinking_schedule(const double *t, size_t n, double *alpha, double *sigma,
                              double *dalpha_dt, double *dsigma_dt, void *user)
{
    (void)user;
    for (size_t i = 0; i < n; i++) {
        alpha[i] = 1.0;
        sigma[i] = 2.0 - t[i];
        dalpha_dt[i] = 0.0;
        dsigma_dt[i] = -1.0;
    }
    return 0;
}

/* alpha reaches 0 at t = 0.5; fails on request. */
static int bad_schedule(const double *t, size_t n, double *alpha, double *sigma,
                        double *dalpha_dt, double *dsigma_dt, void *user)
{
    if (user != NULL)
        return 7;
    for (size_t i = 0; i < n; i++) {
        alpha[i] = 1.0 - 2.0 * t[i];
        sigma[i] = t[i];
        dalpha_dt[i] = -2.0;
        dsigma_dt[i] = 1.0;
    }
    return 0;
}

START_TEST(invalid_schedules_are_refused)
{
    scoresde_sde *s = NULL;
    int stop = 1;
    EXPECT_FAIL(scoresde_sde_create_schedule(&s, 1.0, shrinking_schedule, NULL), SCORESDE_EINVAL,
                "g^2");
    ck_assert_ptr_nonnull(strstr(scoresde_last_error(), "< 0 at t = 0.015625"));
    EXPECT_FAIL(scoresde_sde_create_schedule(&s, 1.0, bad_schedule, NULL), SCORESDE_EINVAL,
                "alpha(0.5) = 0 must be positive");
    EXPECT_FAIL(scoresde_sde_create_schedule(&s, 0.4, bad_schedule, &stop), SCORESDE_ECALLBACK,
                "schedule hook returned non-zero");
    EXPECT_FAIL(scoresde_sde_create_schedule(&s, 0.4, NULL, NULL), SCORESDE_EINVAL,
                "schedule is NULL");
    EXPECT_FAIL(scoresde_sde_create_schedule(&s, 0.0, bad_schedule, NULL), SCORESDE_EINVAL,
                "T (0)");
    EXPECT_FAIL(scoresde_sde_create_schedule(&s, NAN, bad_schedule, NULL), SCORESDE_EINVAL,
                "T (nan)");
    ck_assert_ptr_null(s);
    /* On (0, 0.4] the schedule is valid. */
    ck_assert_int_eq(scoresde_sde_create_schedule(&s, 0.4, bad_schedule, NULL), SCORESDE_OK);
    scoresde_sde_free(s);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* ------------------------------------------------------------ prior */

START_TEST(prior_logp_matches_formula_and_samples_have_prior_moments)
{
    enum { D = 3 };
    const double want_var[] = {2500.0, 1.0, 1.0, -1.0, 6400.0, 1.0};
    const double x[2 * D] = {0.3, -1.2, 2.0, 40.0, 0.0, -7.5};
    for (int k = 0; k < NBUILTIN; k++) {
        scoresde_sde *sde = make_default(builtin_kinds[k]);
        double v, lp[2];
        ck_assert_int_eq(scoresde_sde_prior_var(sde, &v), SCORESDE_OK);
        if (want_var[k] > 0)
            assert_close(v, want_var[k], 1e-15, "prior variance", 0.0);
        else { /* cosine: sigma(T)^2 */
            double T = scoresde_sde_end_time(sde), s;
            scoresde_sde_marginal(sde, &T, 1, NULL, &s, NULL, NULL);
            ck_assert(v == s * s);
        }
        ck_assert_int_eq(scoresde_sde_prior_logp(sde, x, 2, D, lp), SCORESDE_OK);
        for (int i = 0; i < 2; i++) {
            double ss = 0;
            for (int j = 0; j < D; j++)
                ss += x[i * D + j] * x[i * D + j];
            assert_close(lp[i], -0.5 * D * log(2 * M_PI * v) - ss / (2 * v), 1e-14, "logp", v);
        }
        /* Samples: 20000 x 3 values, mean within 5 standard errors of 0,
         * variance within 5 of v (standard error v sqrt(2/(n-1))). */
        enum { NS = 20000 };
        double *xs = malloc(NS * D * sizeof *xs), mean, var;
        ck_assert_int_eq(scoresde_sde_prior_sample(sde, NS, D, 11, 0, 0, xs), SCORESDE_OK);
        for (int j = 0; j < D; j++) {
            test_moments(xs, NS, D, (size_t)j, &mean, &var);
            ck_assert(fabs(mean) <= 5 * sqrt(v / NS));
            ck_assert(fabs(var - v) <= 5 * v * sqrt(2.0 / (NS - 1)));
        }
        /* The documented offsets: sample 5 is stream 5, PRIOR offsets 0..D-1. */
        double z[D];
        scoresde_rng_normal(11, 5, SCORESDE_RNG_OFFSET(SCORESDE_RNG_PRIOR, 0), D, z);
        for (int j = 0; j < D; j++)
            ck_assert(xs[5 * D + j] == sqrt(v) * z[j]);
        free(xs);
        scoresde_sde_free(sde);
    }
}
END_TEST

/* ------------------------------------------------------------ discretisation */

START_TEST(discretized_vp_and_ve_tables_match_closed_forms)
{
    enum { N = 1000, D = 2 };
    scoresde_sde *vp = make_default(SCORESDE_SDE_VP), *ve = make_default(SCORESDE_SDE_VE);
    const double bmin = 0.1, bmax = 20.0, smin = 0.01, smax = 50.0;
    const size_t levels[] = {0, 1, 2, 500, 998, 999};
    for (size_t q = 0; q < sizeof levels / sizeof levels[0]; q++) {
        size_t i = levels[q];
        double t = (double)i / (N - 1), x[D] = {1.5, -2.0}, f[D], G;
        /* VP: betas = linspace(bmin/N, bmax/N, N). */
        double beta = bmin / N + (double)i * (bmax / N - bmin / N) / (N - 1);
        ck_assert_int_eq(scoresde_sde_discretize(vp, N, x, &t, 1, D, f, &G), SCORESDE_OK);
        assert_close(G, sqrt(beta), 1e-14, "VP G", t);
        for (int j = 0; j < D; j++)
            assert_close(f[j], (sqrt(1 - beta) - 1) * x[j], 1e-14, "VP f", t);
        /* VE: sigmas = exp(linspace(ln smin, ln smax, N)), sigma_{-1} = 0. */
        double si = exp(log(smin) + (double)i * (log(smax) - log(smin)) / (N - 1));
        double sp = i == 0 ? 0.0 : exp(log(smin) + (double)(i - 1) * (log(smax) - log(smin)) / (N - 1));
        ck_assert_int_eq(scoresde_sde_discretize(ve, N, x, &t, 1, D, f, &G), SCORESDE_OK);
        assert_close(G, sqrt(si * si - sp * sp), 1e-12, "VE G", t);
        ck_assert(f[0] == 0.0 && f[1] == 0.0);
        /* A time a rounding error below the level selects the same level. */
        double tl = nextafter(t, -1.0), Gl;
        if (tl >= 0) {
            ck_assert_int_eq(scoresde_sde_discretize(ve, N, x, &tl, 1, D, f, &Gl), SCORESDE_OK);
            ck_assert(Gl == G);
        }
    }
    scoresde_sde_free(vp);
    scoresde_sde_free(ve);
}
END_TEST

/* The exact-ratio form composes to the marginal: with m_i = r_i m_{i-1} and
 * v_i = r_i^2 v_{i-1} + G_i^2 from m_{-1} = 1, v_{-1} = 0, every level has
 * m_i = alpha(t_i), v_i = sigma(t_i)^2. The VE SMLD table does the same. */
START_TEST(ratio_discretization_composes_to_the_marginal)
{
    const int kinds[] = {SCORESDE_SDE_SUBVP, SCORESDE_SDE_COSINE, SCORESDE_SDE_EDM,
                         SCORESDE_SDE_OU, SCORESDE_SDE_VE};
    enum { N = 100 };
    for (size_t q = 0; q < sizeof kinds / sizeof kinds[0]; q++) {
        scoresde_sde *sde = make_default(kinds[q]);
        double T = scoresde_sde_end_time(sde), m = 1.0, v = 0.0;
        for (int i = 0; i < N; i++) {
            double t = T * i / (N - 1), one = 1.0, f, G, al, si;
            ck_assert_int_eq(scoresde_sde_discretize(sde, N, &one, &t, 1, 1, &f, &G), SCORESDE_OK);
            double r = 1.0 + f;
            m *= r;
            v = r * r * v + G * G;
            ck_assert_int_eq(scoresde_sde_marginal(sde, &t, 1, &al, &si, NULL, NULL), SCORESDE_OK);
            assert_close(m, al, 1e-12, "product of ratios", t);
            assert_close(v, si * si, 1e-11, "composed variance", t);
        }
        scoresde_sde_free(sde);
    }
}
END_TEST

/* ------------------------------------------------------------ reverse time */

/* For Gaussian data N(0, s0^2 I) the exact score is -x / v(t) with
 * v = alpha^2 s0^2 + sigma^2, and the probability-flow ODE is linear:
 * dx/dt = x v'(t) / (2 v) (docs/math.md section 2). */
START_TEST(pf_drift_of_a_gaussian_is_the_exact_flow)
{
    const double s0 = 0.7;
    for (int k = 0; k < NBUILTIN; k++) {
        scoresde_sde *sde = make_default(builtin_kinds[k]);
        double T = scoresde_sde_end_time(sde);
        for (int m = 1; m <= 9; m++) {
            double t = T * m / 10.0, h = 1e-5 * T;
            double tt[3] = {t - h, t, t + h}, al[3], si[3], v[3];
            scoresde_sde_marginal(sde, tt, 3, al, si, NULL, NULL);
            for (int q = 0; q < 3; q++)
                v[q] = al[q] * al[q] * s0 * s0 + si[q] * si[q];
            double x[2] = {0.4, -1.7}, sc[2] = {-x[0] / v[1], -x[1] / v[1]}, out[2];
            double tv[1] = {t};
            ck_assert_int_eq(scoresde_sde_pf_drift(sde, x, tv, sc, 1, 2, out), SCORESDE_OK);
            double dv = (v[2] - v[0]) / (2 * h);
            for (int j = 0; j < 2; j++) {
                double want = x[j] * dv / (2 * v[1]);
                if (fabs(out[j] - want) > 1e-6 * (fabs(want) + fabs(x[j]) / T))
                    ck_abort_msg("kind %d t %g: pf drift %.12g, exact flow %.12g",
                                 builtin_kinds[k], t, out[j], want);
            }
        }
        scoresde_sde_free(sde);
    }
}
END_TEST

START_TEST(reverse_drift_family)
{
    enum { N = 3, D = 2 };
    const double lams[] = {0.0, 0.5, 1.0, 2.0};
    scoresde_sde *sde = make_default(SCORESDE_SDE_SUBVP);
    double x[N * D] = {1, 2, -1, 0.5, 3, -3}, sc[N * D] = {-0.3, 0.2, 1.1, -2, 0, 4};
    double t[N] = {0.01, 0.5, 1.0}, f[N * D], g[N], out[N * D], pf[N * D];
    scoresde_sde_drift(sde, x, t, N, D, f);
    scoresde_sde_diffusion(sde, t, N, g);
    for (size_t q = 0; q < 4; q++) {
        double lam = lams[q];
        ck_assert_int_eq(scoresde_sde_reverse_drift(sde, x, t, sc, N, D, lam, out), SCORESDE_OK);
        for (int i = 0; i < N; i++)
            for (int j = 0; j < D; j++) {
                double want = f[i * D + j] - 0.5 * (1 + lam * lam) * g[i] * g[i] * sc[i * D + j];
                assert_close(out[i * D + j], want, 1e-14, "reverse drift", t[i]);
            }
        if (lam == 1.0) /* Anderson: f - g^2 s */
            for (int i = 0; i < N * D; i++)
                assert_close(out[i], f[i] - g[i / D] * g[i / D] * sc[i], 1e-14, "lam 1", lam);
    }
    ck_assert_int_eq(scoresde_sde_pf_drift(sde, x, t, sc, N, D, pf), SCORESDE_OK);
    scoresde_sde_reverse_drift(sde, x, t, sc, N, D, 0.0, out);
    ck_assert(memcmp(pf, out, sizeof pf) == 0);
    EXPECT_FAIL(scoresde_sde_reverse_drift(sde, x, t, sc, N, D, -0.1, out), SCORESDE_EINVAL,
                "lam (-0.1)");
    EXPECT_FAIL(scoresde_sde_reverse_drift(sde, x, t, sc, N, D, NAN, out), SCORESDE_EINVAL,
                "lam (nan)");
    EXPECT_FAIL(scoresde_sde_reverse_drift(sde, x, t, NULL, N, D, 1.0, out), SCORESDE_EINVAL,
                "score is NULL");
    scoresde_sde_free(sde);
}
END_TEST

/* ------------------------------------------------------------ perturbation */

START_TEST(perturb_uses_documented_noise_and_kernel_score_is_minus_z_over_sigma)
{
    enum { N = 5, D = 3 };
    for (int k = 0; k < NBUILTIN; k++) {
        scoresde_sde *sde = make_default(builtin_kinds[k]);
        double T = scoresde_sde_end_time(sde);
        double x0[N * D], t[N], xt[N * D], z[N * D], sc[N * D], inplace[N * D];
        for (int i = 0; i < N * D; i++)
            x0[i] = inplace[i] = 0.3 * i - 2.0;
        for (int i = 0; i < N; i++)
            t[i] = T * (0.1 + 0.2 * i);
        ck_assert_int_eq(scoresde_sde_perturb(sde, x0, t, N, D, 9, 40, 6, xt, z), SCORESDE_OK);
        ck_assert_int_eq(scoresde_sde_perturb(sde, inplace, t, N, D, 9, 40, 6, inplace, NULL),
                         SCORESDE_OK);
        ck_assert(memcmp(inplace, xt, sizeof xt) == 0);
        ck_assert_int_eq(scoresde_sde_kernel_score(sde, xt, x0, t, N, D, sc), SCORESDE_OK);
        for (int i = 0; i < N; i++) {
            double al, si, zr[D];
            scoresde_sde_marginal(sde, &t[i], 1, &al, &si, NULL, NULL);
            scoresde_rng_normal(9, 40 + (uint64_t)i, SCORESDE_RNG_OFFSET(SCORESDE_RNG_PERTURB, 6),
                                D, zr);
            for (int j = 0; j < D; j++) {
                ck_assert(z[i * D + j] == zr[j]);
                ck_assert(xt[i * D + j] == al * x0[i * D + j] + si * zr[j]);
                assert_close(sc[i * D + j], -zr[j] / si, 1e-9, "kernel score", t[i]);
            }
        }
        scoresde_sde_free(sde);
    }
    scoresde_sde *vp = make_default(SCORESDE_SDE_VP);
    double x = 1.0, t0 = 0.0, s;
    EXPECT_FAIL(scoresde_sde_kernel_score(vp, &x, &x, &t0, 1, 1, &s), SCORESDE_EINVAL,
                "sigma(t) = 0");
    scoresde_sde_free(vp);
}
END_TEST

/* ------------------------------------------------------------ custom SDEs */

struct hook_state {
    int fail_drift, fail_diffusion, nan_drift, negative_g;
    double theta;
};

static int custom_drift(const double *x, const double *t, size_t n, size_t D, double *f, void *user)
{
    const struct hook_state *h = user;
    if (h->fail_drift)
        return 1;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < D; j++)
            f[i * D + j] = -h->theta * x[i * D + j] + sin(t[i]);
    if (h->nan_drift)
        f[n * D - 1] = NAN;
    return 0;
}

static int custom_diffusion(const double *t, size_t n, double *g, void *user)
{
    const struct hook_state *h = user;
    if (h->fail_diffusion)
        return 2;
    for (size_t i = 0; i < n; i++)
        g[i] = h->negative_g ? -1.0 : 0.5 + t[i];
    return 0;
}

START_TEST(custom_sde_without_marginal)
{
    struct hook_state h = {.theta = 0.8};
    scoresde_sde *c = NULL;
    ck_assert_int_eq(scoresde_sde_create_custom(&c, 3.0, custom_drift, custom_diffusion, NULL, &h),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_sde_kind(c), SCORESDE_SDE_CUSTOM);
    enum { N = 70, D = 2 }; /* more than one internal chunk of 64 */
    double x[N * D], t[N], f[N * D], g[N], G[N], out[N * D], v;
    for (int i = 0; i < N; i++) {
        t[i] = 3.0 * i / (N - 1);
        x[2 * i] = 0.1 * i;
        x[2 * i + 1] = -0.2 * i;
    }
    ck_assert_int_eq(scoresde_sde_drift(c, x, t, N, D, f), SCORESDE_OK);
    ck_assert_int_eq(scoresde_sde_diffusion(c, t, N, g), SCORESDE_OK);
    for (int i = 0; i < N; i++) {
        ck_assert(g[i] == 0.5 + t[i]);
        ck_assert(f[2 * i] == -0.8 * x[2 * i] + sin(t[i]));
    }
    /* Euler-Maruyama discretisation with dt = T/N. */
    ck_assert_int_eq(scoresde_sde_discretize(c, 1000, x, t, N, D, out, G), SCORESDE_OK);
    for (int i = 0; i < N; i++) {
        double lev = nearbyint(t[i] * 999 / 3.0), ti = lev * 3.0 / 999, dt = 3.0 / 1000;
        assert_close(G[i], (0.5 + ti) * sqrt(dt), 1e-14, "EM G", t[i]);
        assert_close(out[2 * i], (-0.8 * x[2 * i] + sin(ti)) * dt, 1e-14, "EM f", t[i]);
    }
    /* Everything needing the marginal is unsupported. */
    EXPECT_FAIL(scoresde_sde_marginal(c, t, N, g, NULL, NULL, NULL), SCORESDE_EUNSUPPORTED,
                "no marginal hook");
    EXPECT_FAIL(scoresde_sde_perturb(c, x, t, N, D, 1, 0, 0, out, NULL), SCORESDE_EUNSUPPORTED,
                "perturb");
    EXPECT_FAIL(scoresde_sde_kernel_score(c, x, x, t, N, D, out), SCORESDE_EUNSUPPORTED,
                "kernel_score");
    EXPECT_FAIL(scoresde_sde_prior_var(c, &v), SCORESDE_EUNSUPPORTED, "prior");
    EXPECT_FAIL(scoresde_sde_prior_sample(c, N, D, 1, 0, 0, out), SCORESDE_EUNSUPPORTED, "prior");
    EXPECT_FAIL(scoresde_sde_prior_logp(c, x, N, D, g), SCORESDE_EUNSUPPORTED, "prior");
    /* Reverse drift and simulation work from the hooks. */
    ck_assert_int_eq(scoresde_sde_reverse_drift(c, x, t, x, N, D, 1.0, out), SCORESDE_OK);
    for (int i = 0; i < N * D; i++)
        assert_close(out[i], f[i] - g[i / D] * g[i / D] * x[i], 1e-14, "custom reverse", 0);
    ck_assert_int_eq(scoresde_sde_simulate(c, x, N, D, 0.0, 3.0, 10, 1, 0, 0, out), SCORESDE_OK);
    /* Hook failures and bad hook values. */
    h.fail_drift = 1;
    EXPECT_FAIL(scoresde_sde_drift(c, x, t, N, D, f), SCORESDE_ECALLBACK, "drift hook");
    EXPECT_FAIL(scoresde_sde_simulate(c, x, N, D, 0.0, 1.0, 5, 1, 0, 0, out), SCORESDE_ECALLBACK,
                "drift hook");
    h.fail_drift = 0;
    h.fail_diffusion = 1;
    EXPECT_FAIL(scoresde_sde_diffusion(c, t, N, g), SCORESDE_ECALLBACK, "diffusion hook");
    EXPECT_FAIL(scoresde_sde_reverse_drift(c, x, t, x, N, D, 1.0, out), SCORESDE_ECALLBACK,
                "diffusion hook");
    h.fail_diffusion = 0;
    h.nan_drift = 1;
    EXPECT_FAIL(scoresde_sde_drift(c, x, t, N, D, f), SCORESDE_ENUMERIC, "not finite");
    h.nan_drift = 0;
    h.negative_g = 1;
    EXPECT_FAIL(scoresde_sde_diffusion(c, t, N, g), SCORESDE_ENUMERIC, "g(0) = -1");
    scoresde_sde_free(c);

    EXPECT_FAIL(scoresde_sde_create_custom(&c, 1.0, NULL, custom_diffusion, NULL, &h),
                SCORESDE_EINVAL, "drift is NULL");
    EXPECT_FAIL(scoresde_sde_create_custom(&c, 1.0, custom_drift, NULL, NULL, &h),
                SCORESDE_EINVAL, "diffusion is NULL");
    EXPECT_FAIL(scoresde_sde_create_custom(&c, -1.0, custom_drift, custom_diffusion, NULL, &h),
                SCORESDE_EINVAL, "T (-1)");
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
}
END_TEST

/* Hooks that delegate to a built-in SDE passed as `user`. */
static int delegate_drift(const double *x, const double *t, size_t n, size_t D, double *f,
                          void *user)
{
    return scoresde_sde_drift(user, x, t, n, D, f) != SCORESDE_OK;
}

static int delegate_diffusion(const double *t, size_t n, double *g, void *user)
{
    return scoresde_sde_diffusion(user, t, n, g) != SCORESDE_OK;
}

/* A custom SDE with a marginal hook behaves as the built-in it describes: the
 * same marginal, the same exact-ratio discretisation, the same perturbation,
 * and the prior N(0, sigma(T)^2). */
START_TEST(custom_sde_with_marginal_matches_builtin)
{
    scoresde_sde *sub = make_default(SCORESDE_SDE_SUBVP), *c = NULL;
    ck_assert_int_eq(scoresde_sde_create_custom(&c, 1.0, delegate_drift, delegate_diffusion,
                                                borrowed_schedule, sub),
                     SCORESDE_OK);
    enum { N = 9, D = 2 };
    double x[N * D], t[N], f1[N * D], f2[N * D], G1[N], G2[N];
    for (int i = 0; i < N; i++) {
        t[i] = i / (N - 1.0);
        x[2 * i] = 1.0 - 0.2 * i;
        x[2 * i + 1] = 0.5 * i;
    }
    ck_assert_int_eq(scoresde_sde_discretize(sub, 50, x, t, N, D, f1, G1), SCORESDE_OK);
    ck_assert_int_eq(scoresde_sde_discretize(c, 50, x, t, N, D, f2, G2), SCORESDE_OK);
    ck_assert(memcmp(f1, f2, sizeof f1) == 0 && memcmp(G1, G2, sizeof G1) == 0);
    ck_assert_int_eq(scoresde_sde_perturb(sub, x, t, N, D, 3, 0, 0, f1, NULL), SCORESDE_OK);
    ck_assert_int_eq(scoresde_sde_perturb(c, x, t, N, D, 3, 0, 0, f2, NULL), SCORESDE_OK);
    ck_assert(memcmp(f1, f2, sizeof f1) == 0);
    double v, T = 1.0, sT;
    ck_assert_int_eq(scoresde_sde_prior_var(c, &v), SCORESDE_OK);
    scoresde_sde_marginal(sub, &T, 1, NULL, &sT, NULL, NULL);
    ck_assert(v == sT * sT);
    scoresde_sde_free(c);
    scoresde_sde_free(sub);
}
END_TEST

/* Every operation refuses NULL pointers, zero sizes and bad ranges by name. */
START_TEST(operations_refuse_bad_arguments)
{
    scoresde_sde *vp = make_default(SCORESDE_SDE_VP);
    double x[4] = {1, 2, 3, 4}, t[2] = {0.5, 0.6}, o[4], g[2];
    EXPECT_FAIL(scoresde_sde_drift(NULL, x, t, 2, 2, o), SCORESDE_EINVAL, "sde is NULL");
    EXPECT_FAIL(scoresde_sde_drift(vp, NULL, t, 2, 2, o), SCORESDE_EINVAL, "x is NULL");
    EXPECT_FAIL(scoresde_sde_drift(vp, x, NULL, 2, 2, o), SCORESDE_EINVAL, "t is NULL");
    EXPECT_FAIL(scoresde_sde_drift(vp, x, t, 2, 2, NULL), SCORESDE_EINVAL, "f_out is NULL");
    EXPECT_FAIL(scoresde_sde_drift(vp, x, t, 0, 2, o), SCORESDE_EINVAL, "n is zero");
    EXPECT_FAIL(scoresde_sde_drift(vp, x, t, 2, 0, o), SCORESDE_EINVAL, "D is zero");
    EXPECT_FAIL(scoresde_sde_drift(vp, x, t, SIZE_MAX, 2, o), SCORESDE_EINVAL, "overflow");
    EXPECT_FAIL(scoresde_sde_diffusion(vp, t, 2, NULL), SCORESDE_EINVAL, "g_out is NULL");
    EXPECT_FAIL(scoresde_sde_diffusion(vp, t, 0, g), SCORESDE_EINVAL, "n is zero");
    EXPECT_FAIL(scoresde_sde_perturb(vp, x, t, 2, 2, 1, 0, 0, NULL, NULL), SCORESDE_EINVAL,
                "xt_out is NULL");
    EXPECT_FAIL(scoresde_sde_perturb(vp, NULL, t, 2, 2, 1, 0, 0, o, NULL), SCORESDE_EINVAL,
                "x0 is NULL");
    EXPECT_FAIL(scoresde_sde_kernel_score(vp, x, NULL, t, 2, 2, o), SCORESDE_EINVAL,
                "x0 is NULL");
    EXPECT_FAIL(scoresde_sde_kernel_score(vp, x, x, t, 2, 2, NULL), SCORESDE_EINVAL,
                "score_out is NULL");
    EXPECT_FAIL(scoresde_sde_prior_var(vp, NULL), SCORESDE_EINVAL, "var is NULL");
    EXPECT_FAIL(scoresde_sde_prior_sample(vp, 0, 2, 1, 0, 0, o), SCORESDE_EINVAL, "n is zero");
    EXPECT_FAIL(scoresde_sde_prior_sample(vp, 2, 2, 1, 0, 0, NULL), SCORESDE_EINVAL,
                "x_out is NULL");
    EXPECT_FAIL(scoresde_sde_prior_logp(vp, x, 2, 0, o), SCORESDE_EINVAL, "D is zero");
    EXPECT_FAIL(scoresde_sde_prior_logp(vp, x, 2, 2, NULL), SCORESDE_EINVAL, "logp_out is NULL");
    EXPECT_FAIL(scoresde_sde_discretize(vp, 1, x, t, 2, 2, o, g), SCORESDE_EINVAL,
                "N (1) must be at least 2");
    EXPECT_FAIL(scoresde_sde_discretize(vp, 10, x, t, 2, 2, o, NULL), SCORESDE_EINVAL,
                "G_out is NULL");
    EXPECT_FAIL(scoresde_sde_reverse_drift(vp, x, t, x, 2, 2, 1.0, NULL), SCORESDE_EINVAL,
                "out is NULL");
    EXPECT_FAIL(scoresde_sde_simulate(vp, x, 2, 2, 0.5, 0.5, 10, 1, 0, 0, o), SCORESDE_EINVAL,
                "t1 (0.5) must be after t0 (0.5)");
    EXPECT_FAIL(scoresde_sde_simulate(vp, x, 2, 2, -0.1, 0.5, 10, 1, 0, 0, o), SCORESDE_EINVAL,
                "t0 (-0.1)");
    EXPECT_FAIL(scoresde_sde_simulate(vp, x, 2, 2, 0.1, 1.5, 10, 1, 0, 0, o), SCORESDE_EINVAL,
                "t1 (1.5)");
    EXPECT_FAIL(scoresde_sde_simulate(vp, x, 2, 2, 0.1, 0.5, 0, 1, 0, 0, o), SCORESDE_EINVAL,
                "steps is zero");
    EXPECT_FAIL(scoresde_sde_simulate(vp, x, 2, 2, 0.1, 0.5, 10, 1, 0, 0, NULL), SCORESDE_EINVAL,
                "x_out is NULL");
    EXPECT_FAIL(scoresde_sde_simulate(vp, x, 2, 2, 0.1, 0.5, 10, 1, 0, UINT64_C(1) << 56, o),
                SCORESDE_EINVAL, "2^56");
    /* steps is uint64_t: a count beyond 2^32 reaches the range check intact
     * (2^55 steps x D = 2 draws is exactly one beyond the 2^56 of a purpose). */
    EXPECT_FAIL(scoresde_sde_simulate(vp, x, 2, 2, 0.1, 0.5, UINT64_C(1) << 55, 1, 0, 1, o),
                SCORESDE_EINVAL, "steps (36028797018963968) x 2 exceeds the 2^56");
    /* draw = 2^56 - 2^33 leaves room for exactly 2^32 steps of D = 2: one more
     * is refused, not truncated to 1 by a 32-bit conversion. */
    EXPECT_FAIL(scoresde_sde_simulate(vp, x, 2, 2, 0.1, 0.5, (UINT64_C(1) << 32) + 1, 1, 0,
                                      (UINT64_C(1) << 56) - (UINT64_C(1) << 33), o),
                SCORESDE_EINVAL, "steps (4294967297)");
    EXPECT_FAIL(scoresde_sde_simulate(vp, x, 0, 2, 0.1, 0.5, 10, 1, 0, 0, o), SCORESDE_EINVAL,
                "n is zero");
    t[1] = 2.0;
    EXPECT_FAIL(scoresde_sde_drift(vp, x, t, 2, 2, o), SCORESDE_EINVAL, "t[1] (2)");
    EXPECT_FAIL(scoresde_sde_perturb(vp, x, t, 2, 2, 1, 0, 0, o, NULL), SCORESDE_EINVAL, "t[1]");
    EXPECT_FAIL(scoresde_sde_discretize(vp, 10, x, t, 2, 2, o, g), SCORESDE_EINVAL, "t[1]");
    EXPECT_FAIL(scoresde_sde_reverse_drift(vp, x, t, x, 2, 2, 1.0, o), SCORESDE_EINVAL, "t[1]");
    EXPECT_FAIL(scoresde_sde_kernel_score(vp, x, x, t, 2, 2, o), SCORESDE_EINVAL, "t[1]");
    scoresde_sde_free(vp);
}
END_TEST

/* Allocation failures surface as ENOMEM with nothing leaked. */
static size_t alloc_budget;

START_TEST(allocation_failure_is_reported)
{
    ck_assert_int_eq(
        scoresde_set_allocator(test_budget_malloc, test_budget_free, &alloc_budget),
        SCORESDE_OK);
    scoresde_sde *s = NULL, *c = NULL;
    alloc_budget = 0;
    ck_assert_int_eq(scoresde_sde_create_default(&s, SCORESDE_SDE_VP), SCORESDE_ENOMEM);
    ck_assert_ptr_null(s);
    alloc_budget = 1;
    ck_assert_int_eq(scoresde_sde_create_default(&s, SCORESDE_SDE_VP), SCORESDE_OK);
    ck_assert_int_eq(scoresde_sde_clone(&c, s), SCORESDE_ENOMEM);
    ck_assert_ptr_null(c);
    double x = 1.0;
    ck_assert_int_eq(scoresde_sde_simulate(s, &x, 1, 1, 0.0, 1.0, 3, 1, 0, 0, &x),
                     SCORESDE_ENOMEM);
    scoresde_sde_free(s);
    ck_assert_uint_eq(scoresde_live_allocations(), 0);
    ck_assert_int_eq(scoresde_set_allocator(NULL, NULL, NULL), SCORESDE_OK);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sde");
    TCase *tc = tcase_create("sde");
    tcase_add_test(tc, marginals_match_closed_forms);
    tcase_add_test(tc, derivatives_match_finite_differences);
    tcase_add_test(tc, variance_ode_holds);
    tcase_add_test(tc, vp_keeps_unit_variance_and_subvp_stays_below);
    tcase_add_test(tc, default_parameters_and_eps);
    tcase_add_test(tc, clone_and_description_round_trip);
    tcase_add_test(tc, hook_sdes_cannot_be_described);
    tcase_add_test(tc, invalid_parameters_are_refused_by_name);
    tcase_add_test(tc, null_and_empty_handles);
    tcase_add_test(tc, times_outside_the_interval_are_refused);
    tcase_add_test(tc, general_schedule_reproduces_builtin_sdes);
    tcase_add_test(tc, invalid_schedules_are_refused);
    tcase_add_test(tc, prior_logp_matches_formula_and_samples_have_prior_moments);
    tcase_add_test(tc, discretized_vp_and_ve_tables_match_closed_forms);
    tcase_add_test(tc, ratio_discretization_composes_to_the_marginal);
    tcase_add_test(tc, pf_drift_of_a_gaussian_is_the_exact_flow);
    tcase_add_test(tc, reverse_drift_family);
    tcase_add_test(tc, perturb_uses_documented_noise_and_kernel_score_is_minus_z_over_sigma);
    tcase_add_test(tc, custom_sde_without_marginal);
    tcase_add_test(tc, custom_sde_with_marginal_matches_builtin);
    tcase_add_test(tc, operations_refuse_bad_arguments);
    tcase_add_test(tc, allocation_failure_is_reported);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
