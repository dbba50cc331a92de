/*
 * The method rows' declarations and the library's names (issue 15): every
 * method's defaults against a table recorded from the library before the
 * rows owned them; every setting a method declares it does not read leaves
 * every result bit-identical, and some setting of its own changes it; the
 * names of methods, settings and values (sampler, loss, trainer) round-trip,
 * name exactly the enumerators, and unknown ones are refused by name.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scoresde.h"
#include "testutil.h"

#define OK(expr) ck_assert_int_eq((expr), SCORESDE_OK)
#define S(name) SCORESDE_SAMPLER_##name

enum { METHODS = 8, SETTINGS = 48 };

/* scoresde_sampler_default(method, setting) of the library at commit 028b61d
 * (before the method rows owned their defaults), by setting (rows 1..48) and
 * method (columns PC, ODE, EDM, DPMPP, IPNDM, DDIM, DPMPP_SDE, RESTART). */
static const double recorded_defaults[SETTINGS][METHODS] = {
    {1000, 1000, 17, 20, 10, 50, 20, 17}, /* 1 */
    {NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN}, /* 2 */
    {2, 2, 2, 2, 2, 2, 2, 2}, /* 3 */
    {1, 1, 1, 1, 1, 1, 1, 1}, /* 4 */
    {1, 1, 1, 1, 1, 1, 1, 1}, /* 5 */
    {0.16, 0.16, 0.16, 0.16, 0.16, 0.16, 0.16, 0.16}, /* 6 */
    {2, 2, 2, 2, 2, 2, 2, 2}, /* 7 */
    {1, 1, 1, 0, 1, 0, 0, 1}, /* 8 */
    {1, 1, 1, 1, 1, 1, 1, 1}, /* 9 */
    {1, 1, 2, 3, 2, 3, 3, 2}, /* 10 */
    {7, 7, 7, 7, 7, 7, 7, 7}, /* 11 */
    {1, 1, 1, 1, 1, 1, 1, 1}, /* 12 */
    {64, 64, 64, 64, 64, 64, 64, 64}, /* 13 */
    {2e-05, 2e-05, 2e-05, 2e-05, 2e-05, 2e-05, 2e-05, 2e-05}, /* 14 */
    {4, 4, 4, 4, 4, 4, 4, 4}, /* 15 */
    {1e-05, 1e-05, 1e-05, 1e-05, 1e-05, 1e-05, 1e-05, 1e-05}, /* 16 */
    {1e-05, 1e-05, 1e-05, 1e-05, 1e-05, 1e-05, 1e-05, 1e-05}, /* 17 */
    {NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN}, /* 18 */
    {NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN}, /* 19 */
    {100000, 100000, 100000, 100000, 100000, 100000, 100000, 100000}, /* 20 */
    {1, 1, 1, 1, 1, 1, 1, 1}, /* 21 */
    {2, 2, 2, 2, 4, 2, 2, 2}, /* 22 */
    {0, 0, 0, 0, 0, 0, 0, 0}, /* 23 */
    {0, 0, 0, 0, 0, 0, 0, 0}, /* 24 */
    {1e+300, 1e+300, 1e+300, 1e+300, 1e+300, 1e+300, 1e+300, 1e+300}, /* 25 */
    {1, 1, 1, 1, 1, 1, 1, 1}, /* 26 */
    {0.001, 0.001, 0.001, 0.001, 0.001, 0.001, 0.001, 0.001}, /* 27 */
    {0, 0, 0, 0, 0, 0, 0, 0}, /* 28 */
    {0, 0, 0, 0, 0, 0, 0, 0}, /* 29 */
    {8, 8, 8, 8, 8, 8, 8, 8}, /* 30 */
    {2, 2, 2, 2, 2, 2, 2, 2}, /* 31 */
    {0, 0, 0, 0, 0, 0, 0, 0}, /* 32 */
    {1, 1, 1, 1, 1, 1, 1, 1}, /* 33 */
    {1, 1, 1, 1, 1, 1, 1, 1}, /* 34 */
    {0, 0, 0, 0, 0, 0, 0, 0}, /* 35 */
    {0, 0, 0, 0, 0, 0, 0, 0}, /* 36 */
    {100, 100, 100, 100, 100, 100, 100, 100}, /* 37 */
    {2, 2, 2, 2, 2, 2, 2, 2}, /* 38: 2 since the lower-order-final rule without an N threshold */
    {3, 3, 3, 3, 3, 3, 3, 3}, /* 39 */
    {1, 1, 1, 0, 1, 0, 0, 1}, /* 40 */
    {2, 2, 2, 2, 2, 2, 2, 2}, /* 41 */
    {0, 0, 0, 0, 0, 0, 1, 0}, /* 42 */
    {0, 0, 0, 0, 0, 0, 0, 0}, /* 43 */
    {1, 1, 1, 1, 1, 1, 1, 1}, /* 44 */
    {2, 2, 2, 2, 2, 2, 2, 2}, /* 45 */
    {0.06, 0.06, 0.06, 0.06, 0.06, 0.06, 0.06, 0.06}, /* 46 */
    {0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3}, /* 47 */
    {2, 2, 2, 2, 2, 2, 2, 2}, /* 48 */
};

START_TEST(test_defaults_as_recorded)
{
    for (int s = 1; s <= SETTINGS; s++)
        for (int m = 1; m <= METHODS; m++) {
            double v, want = recorded_defaults[s - 1][m - 1];
            OK(scoresde_sampler_default(m, s, &v));
            if (isnan(want))
                ck_assert_msg(isnan(v), "method %d setting %d: %g, recorded NaN", m, s, v);
            else
                ck_assert_msg(v == want, "method %d setting %d: %.17g, recorded %.17g", m, s, v,
                              want);
        }
    /* and a new sampler starts there */
    for (int m = 1; m <= METHODS; m++) {
        scoresde_sampler *smp = NULL;
        OK(scoresde_sampler_create(&smp, m));
        for (int s = 1; s <= SETTINGS; s++) {
            double lo, hi, v, want = recorded_defaults[s - 1][m - 1];
            int is_int;
            OK(scoresde_sampler_bounds(s, &lo, &hi, &is_int));
            if (is_int) {
                int64_t iv;
                OK(scoresde_sampler_get_int(smp, s, &iv));
                v = (double)iv;
            } else {
                OK(scoresde_sampler_get_double(smp, s, &v));
            }
            ck_assert_msg(isnan(want) ? isnan(v) : v == want, "method %d setting %d", m, s);
        }
        scoresde_sampler_free(smp);
    }
}
END_TEST

/* --------------------------------------------------------- applies */

/* A value of `setting` within its bounds other than `def` (GRID skips ARRAY,
 * which only set_grid sets). */
static double other_value(int setting, double def)
{
    double lo, hi;
    int is_int;
    OK(scoresde_sampler_bounds(setting, &lo, &hi, &is_int));
    if (isnan(def))
        return setting == S(H_INIT) ? 0.01 : 1e-3; /* H_INIT, H_MIN, EPS */
    double v = def + 1 <= hi ? def + 1 : is_int ? def - 1 : 0.5 * (def + lo);
    if (setting == S(GRID) && v == S(GRID_ARRAY))
        v = def + 2 <= hi ? def + 2 : def - 2;
    return v;
}

static int set_value(scoresde_sampler *s, int setting, double v)
{
    int is_int;
    OK(scoresde_sampler_bounds(setting, NULL, NULL, &is_int));
    return is_int ? scoresde_sampler_set_int(s, setting, (int64_t)v)
                  : scoresde_sampler_set_double(s, setting, v);
}

enum { RN = 5, RD = 2 };

/* Every result a sampler of its method gives: the samples and their NFE,
 * and for ODE the likelihoods and latents as well. */
typedef struct results {
    int rc;
    double x[RN * RD], logp[RN], latent[RN * RD];
    uint64_t nfe;
} results;

static void run_all(const scoresde_sampler *s, const scoresde_model *m, results *r)
{
    memset(r, 0, sizeof *r);
    scoresde_sampler_stats st = {.struct_size = sizeof st};
    r->rc = scoresde_sampler_sample(s, m, NULL, RN, RD, 11, 3, r->x, &st);
    r->nfe = st.nfe;
    if (r->rc == SCORESDE_OK && scoresde_sampler_method(s) == S(ODE)) {
        double x0[RN * RD];
        for (size_t e = 0; e < RN * RD; e++)
            x0[e] = 0.3 * (double)e - 1.0;
        r->rc = scoresde_sampler_likelihood(s, m, x0, RN, RD, 5, 0, r->logp, r->latent, NULL);
    }
}

static int same(const results *a, const results *b)
{
    return a->rc == b->rc && a->nfe == b->nfe && memcmp(a->x, b->x, sizeof a->x) == 0 &&
           memcmp(a->logp, b->logp, sizeof a->logp) == 0 &&
           memcmp(a->latent, b->latent, sizeof a->latent) == 0;
}

/* The settings every method reads (sampler.h, scoresde_sampler_setting_applies). */
static int everyones(int setting)
{
    static const int all[] = {S(STEPS), S(EPS), S(GRID), S(RHO), S(POWER), S(THREADS),
                              S(BLOCK), S(GUIDANCE_SCALE), S(SUPPORT_RETRIES),
                              S(LANGEVIN_STEP), S(BOUND_DRAWS), S(BOUND_TIME),
                              S(DEQUANT_BITS), S(DEQUANT_DRAWS), S(DATA_SCALE),
                              S(DATA_SHIFT)};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i] == setting)
            return 1;
    return 0;
}

START_TEST(test_settings_that_do_not_apply_change_nothing)
{
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = test_mixture(sde);
    int method = _i + 1;
    scoresde_sampler *base = NULL;
    OK(scoresde_sampler_create(&base, method));
    if (method == S(PC))
        OK(scoresde_sampler_set_int(base, S(STEPS), 40)); /* 1000 by default */
    results ref, got;
    run_all(base, m, &ref);
    ck_assert_int_eq(ref.rc, SCORESDE_OK);
    int own = 0, own_changing = 0, ignored = 0;
    for (int setting = 1; setting <= SETTINGS; setting++) {
        int applies = -1;
        OK(scoresde_sampler_setting_applies(method, setting, &applies));
        ck_assert(applies == 0 || applies == 1);
        if (everyones(setting))
            ck_assert_msg(applies, "setting %d applies to every method (%d)", setting, method);
        double def;
        OK(scoresde_sampler_default(method, setting, &def));
        double v = other_value(setting, def);
        scoresde_sampler *s = NULL;
        OK(scoresde_sampler_clone(&s, base));
        OK(set_value(s, setting, v));
        run_all(s, m, &got);
        if (!applies) {
            ignored++;
            ck_assert_msg(same(&ref, &got),
                          "method %s: setting %s (declared not to apply) set from %g to %g "
                          "changed the results (rc %d)",
                          scoresde_sampler_method_name(method),
                          scoresde_sampler_setting_name(setting), def, v, got.rc);
        } else if (!everyones(setting)) {
            own++;
            own_changing += got.rc == SCORESDE_OK && !same(&ref, &got);
        }
        scoresde_sampler_free(s);
    }
    ck_assert_msg(own_changing >= 1, "method %s: none of its %d own settings changed a result",
                  scoresde_sampler_method_name(method), own);
    ck_assert_int_gt(ignored, 0);
    scoresde_sampler_free(base);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
}
END_TEST

START_TEST(test_applies_refusals)
{
    int a;
    test_expect_error(scoresde_sampler_setting_applies(S(PC), S(STEPS), NULL), SCORESDE_EINVAL,
                      "applies");
    test_expect_error(scoresde_sampler_setting_applies(0, S(STEPS), &a), SCORESDE_EINVAL,
                      "method 0");
    test_expect_error(scoresde_sampler_setting_applies(METHODS + 1, S(STEPS), &a),
                      SCORESDE_EINVAL, "method 9");
    test_expect_error(scoresde_sampler_setting_applies(S(PC), 0, &a), SCORESDE_EINVAL,
                      "setting 0");
    test_expect_error(scoresde_sampler_setting_applies(S(PC), SETTINGS + 1, &a),
                      SCORESDE_EINVAL, "setting 49");
    /* the aliases select rows of DPMPP: their settings are DPMPP's */
    OK(scoresde_sampler_setting_applies(S(DPMPP), S(RTOL), &a));
    ck_assert_int_eq(a, 1);
    OK(scoresde_sampler_setting_applies(S(DPMPP), S(UNIPC), &a));
    ck_assert_int_eq(a, 1);
    OK(scoresde_sampler_setting_applies(S(ODE), S(UNIPC), &a));
    ck_assert_int_eq(a, 0);
}
END_TEST

/* ----------------------------------------------------------- names */

static void assert_name_form(const char *name)
{
    ck_assert_ptr_nonnull(name);
    ck_assert_int_gt((int)strlen(name), 0);
    for (const char *p = name; *p; p++)
        ck_assert_msg(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_',
                      "name '%s' is not lower case, digits and '_'", name);
}

START_TEST(test_method_names)
{
    static const char *const want[METHODS + 1] = {NULL,   "pc",   "ode",       "edm",    "dpmpp",
                                                  "ipndm", "ddim", "dpmpp_sde", "restart"};
    for (int m = 1; m <= METHODS; m++) {
        const char *name = scoresde_sampler_method_name(m);
        assert_name_form(name);
        ck_assert_str_eq(name, want[m]);
        int id = 0;
        OK(scoresde_sampler_method_id(name, &id));
        ck_assert_int_eq(id, m);
    }
    ck_assert_ptr_null(scoresde_sampler_method_name(0));
    ck_assert_ptr_null(scoresde_sampler_method_name(METHODS + 1));
    ck_assert_ptr_null(scoresde_sampler_method_name(-1));
    int id = 0;
    test_expect_error(scoresde_sampler_method_id("DPMPP", &id), SCORESDE_EINVAL,
                      "'DPMPP' is not the name of a sampler method (one of: pc, ode, edm, dpmpp, "
                      "ipndm, ddim, dpmpp_sde, restart)");
    test_expect_error(scoresde_sampler_method_id(NULL, &id), SCORESDE_EINVAL, "name");
    test_expect_error(scoresde_sampler_method_id("pc", NULL), SCORESDE_EINVAL, "method");
}
END_TEST

/* The upper-case name the library's messages give a setting: the message of
 * the getter of the other type ("... setting NAME (id) is ..."). */
static void message_name(int (*get_int)(const void *, int, int64_t *),
                         int (*get_double)(const void *, int, double *), const void *obj,
                         int setting, char *out, size_t size)
{
    int64_t i;
    double d;
    int rc = get_int(obj, setting, &i);
    if (rc == SCORESDE_OK)
        rc = get_double(obj, setting, &d);
    ck_assert_int_eq(rc, SCORESDE_EINVAL);
    const char *msg = scoresde_last_error(), *p = strstr(msg, "setting ");
    ck_assert_ptr_nonnull(p);
    p += strlen("setting ");
    size_t n = strcspn(p, " ");
    ck_assert_uint_lt(n, size);
    memcpy(out, p, n);
    out[n] = '\0';
}

/* Every id from 1 has a name until the first without; the names round-trip,
 * are the upper-case names of the library's messages (the enumerators'
 * suffixes) in lower case, and an unknown name is refused. Returns the count. */
static int check_settings(const char *(*name_of)(int), int (*id_of)(const char *, int *),
                          int (*get_int)(const void *, int, int64_t *),
                          int (*get_double)(const void *, int, double *), const void *obj,
                          const char *object)
{
    int count = 0;
    for (int id = 1; name_of(id) != NULL; id++) {
        const char *name = name_of(id);
        assert_name_form(name);
        int back = 0;
        OK(id_of(name, &back));
        ck_assert_int_eq(back, id);
        char upper[64], lower[64];
        message_name(get_int, get_double, obj, id, upper, sizeof upper);
        for (size_t k = 0; k <= strlen(upper); k++)
            lower[k] = (char)tolower((unsigned char)upper[k]);
        ck_assert_str_eq(name, lower);
        count = id;
    }
    ck_assert_ptr_null(name_of(0));
    ck_assert_ptr_null(name_of(-3));
    int id;
    char want[128];
    snprintf(want, sizeof want, "'no_such' is not the name of a %s setting", object);
    test_expect_error(id_of("no_such", &id), SCORESDE_EINVAL, want);
    test_expect_error(id_of(NULL, &id), SCORESDE_EINVAL, "name");
    return count;
}

static int sampler_get_int(const void *s, int id, int64_t *v)
{
    return scoresde_sampler_get_int(s, id, v);
}
static int sampler_get_double(const void *s, int id, double *v)
{
    return scoresde_sampler_get_double(s, id, v);
}
static int loss_get_int(const void *s, int id, int64_t *v)
{
    return scoresde_loss_get_int(s, id, v);
}
static int loss_get_double(const void *s, int id, double *v)
{
    return scoresde_loss_get_double(s, id, v);
}
static int trainer_get_int(const void *s, int id, int64_t *v)
{
    return scoresde_trainer_get_int(s, id, v);
}
static int trainer_get_double(const void *s, int id, double *v)
{
    return scoresde_trainer_get_double(s, id, v);
}

/* Named values: every value within the bounds of an enum-valued setting has
 * a name that round-trips, none outside; returns the number of such settings. */
static int check_values(int count, const char *(*value_of)(int, int),
                        int (*value_id)(int, const char *, int *),
                        int (*bounds)(int, double *, double *, int *))
{
    int named = 0;
    for (int id = 1; id <= count; id++) {
        double lo, hi;
        int is_int, v;
        OK(bounds(id, &lo, &hi, &is_int));
        if (!is_int || value_of(id, (int)lo) == NULL) { /* doubles: no cast of their bounds */
            test_expect_error(value_id(id, "none", &v), SCORESDE_EINVAL, "has no named values");
            continue;
        }
        named++;
        for (int x = (int)lo; x <= (int)hi; x++) {
            const char *name = value_of(id, x);
            assert_name_form(name);
            OK(value_id(id, name, &v));
            ck_assert_int_eq(v, x);
        }
        ck_assert_ptr_null(value_of(id, (int)lo - 1));
        ck_assert_ptr_null(value_of(id, (int)hi + 1));
        test_expect_error(value_id(id, "no_such", &v), SCORESDE_EINVAL, "(one of: ");
        test_expect_error(value_id(id, NULL, &v), SCORESDE_EINVAL, "name");
        test_expect_error(value_id(id, value_of(id, (int)lo), NULL), SCORESDE_EINVAL, "value");
    }
    int v;
    test_expect_error(value_id(0, "x", &v), SCORESDE_EINVAL, "setting 0");
    ck_assert_ptr_null(value_of(0, 0));
    ck_assert_ptr_null(value_of(count + 1, 0));
    return named;
}

START_TEST(test_sampler_names)
{
    scoresde_sampler *s = NULL;
    OK(scoresde_sampler_create(&s, S(PC)));
    ck_assert_int_eq(check_settings(scoresde_sampler_setting_name, scoresde_sampler_setting_id,
                                    sampler_get_int, sampler_get_double, s, "sampler"),
                     SETTINGS);
    ck_assert_int_eq(check_values(SETTINGS, scoresde_sampler_value_name,
                                  scoresde_sampler_value_id, scoresde_sampler_bounds),
                     8);
    ck_assert_str_eq(scoresde_sampler_value_name(S(PREDICTOR), S(PREDICTOR_REVERSE_DIFFUSION)),
                     "reverse_diffusion");
    ck_assert_str_eq(scoresde_sampler_value_name(S(GRID), S(GRID_UNIFORM_T)), "uniform_t");
    ck_assert_str_eq(scoresde_sampler_value_name(S(FINAL_STEP), S(FINAL_TO_ZERO)), "to_zero");
    int v;
    test_expect_error(scoresde_sampler_value_id(S(GRID), "uniform", &v), SCORESDE_EINVAL,
                      "'uniform' is not a value of sampler setting GRID (one of: uniform_t, "
                      "karras, logsnr, array, power)");
    scoresde_sampler_free(s);
}
END_TEST

START_TEST(test_loss_and_trainer_names)
{
    scoresde_loss *loss = NULL;
    OK(scoresde_loss_create(&loss, SCORESDE_LOSS_DSM));
    int n = check_settings(scoresde_loss_setting_name, scoresde_loss_setting_id, loss_get_int,
                           loss_get_double, loss, "loss");
    ck_assert_int_eq(n, SCORESDE_LOSS_SIGMA_DATA);
    ck_assert_int_eq(check_values(n, scoresde_loss_value_name, scoresde_loss_value_id,
                                  scoresde_loss_bounds),
                     4);
    ck_assert_str_eq(scoresde_loss_value_name(SCORESDE_LOSS_REDUCTION,
                                              SCORESDE_LOSS_REDUCE_HALF_SUM),
                     "half_sum");
    ck_assert_str_eq(scoresde_loss_setting_name(SCORESDE_LOSS_NUM_PROBES), "num_probes");
    /* kinds: 1 .. DDPM, each round-tripping and selecting its kind */
    static const char *const kinds[] = {NULL,  "esm",  "ism", "ssm", "ssm_vr",
                                        "dsm", "smld", "ddpm"};
    for (int k = SCORESDE_LOSS_ESM; k <= SCORESDE_LOSS_DDPM; k++) {
        ck_assert_str_eq(scoresde_loss_kind_name(k), kinds[k]);
        int back = 0;
        OK(scoresde_loss_kind_id(kinds[k], &back));
        ck_assert_int_eq(back, k);
        scoresde_loss *l = NULL;
        OK(scoresde_loss_create(&l, back));
        ck_assert_int_eq(scoresde_loss_kind(l), k);
        scoresde_loss_free(l);
    }
    ck_assert_ptr_null(scoresde_loss_kind_name(0));
    ck_assert_ptr_null(scoresde_loss_kind_name(SCORESDE_LOSS_DDPM + 1));
    int kind;
    test_expect_error(scoresde_loss_kind_id("DSM", &kind), SCORESDE_EINVAL,
                      "'DSM' is not the name of a loss kind (one of: esm, ism, ssm, ssm_vr, dsm, "
                      "smld, ddpm)");
    test_expect_error(scoresde_loss_kind_id(NULL, &kind), SCORESDE_EINVAL, "name");
    test_expect_error(scoresde_loss_kind_id("dsm", NULL), SCORESDE_EINVAL, "kind");

    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = test_mixture(sde);
    static const size_t widths[1] = {8};
    scoresde_mlp_options o;
    test_mlp_options(&o, 1, widths, SCORESDE_MLP_OUTPUT_SCORE, 4, 1);
    scoresde_model *net = NULL;
    OK(scoresde_model_create_mlp(&net, sde, 2, &o));
    scoresde_trainer *tr = NULL;
    OK(scoresde_trainer_create(&tr, net, loss));
    n = check_settings(scoresde_trainer_setting_name, scoresde_trainer_setting_id,
                       trainer_get_int, trainer_get_double, tr, "trainer");
    ck_assert_int_eq(n, SCORESDE_TRAIN_COND_DROPOUT);
    ck_assert_str_eq(scoresde_trainer_setting_name(SCORESDE_TRAIN_WEIGHT_DECAY), "weight_decay");
    scoresde_trainer_free(tr);
    scoresde_model_free(net);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    scoresde_loss_free(loss);
}
END_TEST

static Suite *rows_suite(void)
{
    Suite *s = suite_create("sampler_rows");
    TCase *tc = tcase_create("rows");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_defaults_as_recorded);
    tcase_add_loop_test(tc, test_settings_that_do_not_apply_change_nothing, 0, METHODS);
    tcase_add_test(tc, test_applies_refusals);
    tcase_add_test(tc, test_method_names);
    tcase_add_test(tc, test_sampler_names);
    tcase_add_test(tc, test_loss_and_trainer_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(rows_suite());
}
