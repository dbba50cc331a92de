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
    ck_assert(scoresde_sde_T(cs) == 0.9946);
    ck_assert_int_eq(scoresde_sde_marginal(cs, ts, NT - 1, al, si, da, ds), SCORESDE_OK);
    for (int k = 0; k < NT - 1; k++) {
        double t = ts[k], s = 0.008;
        double a = cos((t + s) / (1 + s) * M_PI / 2) / cos(s / (1 + s) * M_PI / 2);
        assert_close(al[k], a, 1e-14, "cosine alpha", t);
        assert_close(si[k], sqrt(1 - a * a), 1e-12, "cosine sigma", t);
    }
    scoresde_sde_free(cs);

    scoresde_sde *edm = make_default(SCORESDE_SDE_EDM);
    ck_assert(scoresde_sde_T(edm) == 80.0);
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
        double T = scoresde_sde_T(sde);
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

/* d/dt (alpha^2 v0 + sigma^2) = 2 a (alpha^2 v0 + sigma^2) + g^2 (MATH.md section 1),
 * with a from the drift of x = 1 and g from the diffusion: this ties the marginal
 * to the drift and diffusion of every kind. */
START_TEST(variance_ode_holds)
{
    const double v0s[] = {0.0, 1.0, 3.0};
    for (int k = 0; k < NBUILTIN; k++) {
        scoresde_sde *sde = make_default(builtin_kinds[k]);
        double T = scoresde_sde_T(sde);
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
        ck_assert(scoresde_sde_T(sde) == want[k].T);
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
        ck_assert_int_eq(scoresde_sde_clone(made[k], &clone), SCORESDE_OK);
        ck_assert_int_eq(sd_sde_describe(made[k], &kind, p, &count), SCORESDE_OK);
        ck_assert_int_eq(sd_sde_from_description(kind, p, count, &rebuilt), SCORESDE_OK);
        scoresde_sde *all[3] = {made[k], clone, rebuilt};
        double T = scoresde_sde_T(made[k]);
        double al[3][5], si[3][5], g[3][5], t[5];
        for (int i = 0; i < 5; i++)
            t[i] = fr[i] * T;
        for (int c = 0; c < 3; c++) {
            ck_assert_int_eq(scoresde_sde_kind(all[c]), kind);
            ck_assert(scoresde_sde_T(all[c]) == T);
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
    ck_assert_int_eq(scoresde_sde_kind(NULL), SCORESDE_EINVAL);
    ck_assert(isnan(scoresde_sde_T(NULL)));
    ck_assert(isnan(scoresde_sde_sampling_eps(NULL)));
    ck_assert(isnan(scoresde_sde_training_eps(NULL)));
    EXPECT_FAIL(scoresde_sde_clone(NULL, &s), SCORESDE_EINVAL, "sde is NULL");
    scoresde_sde *vp = make_default(SCORESDE_SDE_VP);
    EXPECT_FAIL(scoresde_sde_clone(vp, NULL), SCORESDE_EINVAL, "out is NULL");
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
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
