/*
 * Training: Adam(W) steps, warm-up, clipping and the EMA against their
 * formulas on set gradients; the average of two half-batch gradients equals
 * the full-batch gradient; fit is reproducible and split-invariant and its
 * progress hook stops it; bad input; and learning: DSM training of an MLP on
 * a 2-D Gaussian mixture reaches a time-weighted relative score error below
 * 0.05 against the exact mixture score; ISM and SSM-VR training at a fixed
 * noise level cut the explicit loss tenfold.
 *
 * SCORESDE_TEST_TRAIN_STEPS overrides the learning test's step budget (the
 * sanitizer CI job may lower it; the 0.05 bound is then relaxed to 0.15,
 * reported in the failure message).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "scoresde.h"
#include "testutil.h"

static scoresde_model *mlp(const scoresde_sde *sde, size_t layers, size_t width, uint64_t seed)
{
    size_t widths[SCORESDE_MLP_MAX_HIDDEN];
    for (size_t k = 0; k < layers; k++)
        widths[k] = width;
    scoresde_mlp_options o;
    test_mlp_options(&o, layers, widths, SCORESDE_MLP_OUTPUT_NOISE, 16, seed);
    scoresde_model *m = NULL;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, sde, 2, &o), SCORESDE_OK);
    return m;
}

static scoresde_loss *dsm(void)
{
    scoresde_loss *l = NULL;
    ck_assert_int_eq(scoresde_loss_create(&l, SCORESDE_LOSS_DSM), SCORESDE_OK);
    return l;
}

typedef struct {
    scoresde_sde *sde;
    scoresde_model *model;
    scoresde_loss *loss;
    scoresde_trainer *tr;
    size_t P;
    double *p0, *g, *p;
} fixture;

static void fx_open(fixture *f)
{
    f->sde = test_make_sde(SCORESDE_SDE_VP);
    f->model = mlp(f->sde, 2, 8, 3);
    f->loss = dsm();
    ck_assert_int_eq(scoresde_trainer_create(&f->tr, f->model, f->loss), SCORESDE_OK);
    f->P = scoresde_trainer_num_params(f->tr);
    ck_assert_uint_gt(f->P, 0);
    f->p0 = malloc(f->P * sizeof(double));
    f->g = malloc(f->P * sizeof(double));
    f->p = malloc(f->P * sizeof(double));
    ck_assert_int_eq(scoresde_model_get_params(f->model, f->p0, f->P), SCORESDE_OK);
    scoresde_rng_normal(99, 0, 0, f->P, f->g);
}

static void fx_close(fixture *f)
{
    free(f->p0), free(f->g), free(f->p);
    scoresde_trainer_free(f->tr);
    scoresde_loss_free(f->loss);
    scoresde_model_free(f->model);
    scoresde_sde_free(f->sde);
}

static void set_d(scoresde_trainer *tr, int s, double v)
{
    ck_assert_int_eq(scoresde_trainer_set_double(tr, s, v), SCORESDE_OK);
}
static void set_i(scoresde_trainer *tr, int s, int64_t v)
{
    ck_assert_int_eq(scoresde_trainer_set_int(tr, s, v), SCORESDE_OK);
}

static void close_to(double a, double b, double tol, const char *what, size_t k)
{
    ck_assert_msg(fabs(a - b) <= tol * fmax(1.0, fabs(b)), "%s[%zu]: %.17g vs %.17g", what, k, a,
                  b);
}

/* Two Adam steps with warm-up and weight decay against the update written
 * out; the first step with no warm-up is lr g / (|g| + eps). */
START_TEST(adam_steps)
{
    fixture f;
    fx_open(&f);
    const double lr = 0.01, wd = 0.1, b1 = 0.8, b2 = 0.99, eps = 1e-6;
    set_d(f.tr, SCORESDE_TRAIN_LR, lr);
    set_d(f.tr, SCORESDE_TRAIN_BETA1, b1);
    set_d(f.tr, SCORESDE_TRAIN_BETA2, b2);
    set_d(f.tr, SCORESDE_TRAIN_EPS, eps);
    set_d(f.tr, SCORESDE_TRAIN_CLIP, 0.0);
    set_i(f.tr, SCORESDE_TRAIN_WARMUP, 4);
    set_d(f.tr, SCORESDE_TRAIN_WEIGHT_DECAY, wd);
    double *g2 = malloc(f.P * sizeof(double)), gn;
    scoresde_rng_normal(98, 0, 0, f.P, g2);
    ck_assert_int_eq(scoresde_trainer_set_grad(f.tr, f.g, f.P), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_apply(f.tr, &gn), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_set_grad(f.tr, g2, f.P), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_apply(f.tr, NULL), SCORESDE_OK);
    ck_assert_uint_eq(scoresde_trainer_steps(f.tr), 2);
    ck_assert_int_eq(scoresde_model_get_params(f.model, f.p, f.P), SCORESDE_OK);
    double ss = 0;
    for (size_t k = 0; k < f.P; k++) {
        ss += f.g[k] * f.g[k];
        /* step 1: lr/4, m = (1-b1) g, v = (1-b2) g^2, bias-corrected to g, g^2 */
        double p1 = f.p0[k] - lr / 4 * wd * f.p0[k] - lr / 4 * f.g[k] / (fabs(f.g[k]) + eps);
        double m = b1 * (1 - b1) * f.g[k] + (1 - b1) * g2[k];
        double v = b2 * (1 - b2) * f.g[k] * f.g[k] + (1 - b2) * g2[k] * g2[k];
        double upd = (m / (1 - b1 * b1)) / (sqrt(v / (1 - b2 * b2)) + eps);
        double p2 = p1 - lr / 2 * wd * p1 - lr / 2 * upd;
        close_to(f.p[k], p2, 1e-13, "params after two steps", k);
    }
    close_to(gn, sqrt(ss), 1e-14, "grad norm", 0);
    free(g2);
    fx_close(&f);
}
END_TEST

/* Clipping rescales the buffer to norm CLIP when above it, and only then. */
START_TEST(clipping)
{
    fixture f;
    fx_open(&f);
    double ss = 0, gn;
    for (size_t k = 0; k < f.P; k++)
        ss += f.g[k] * f.g[k];
    const double norm = sqrt(ss);
    set_d(f.tr, SCORESDE_TRAIN_CLIP, norm / 4);
    ck_assert_int_eq(scoresde_trainer_set_grad(f.tr, f.g, f.P), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_apply(f.tr, &gn), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_get_grad(f.tr, f.p, f.P), SCORESDE_OK);
    for (size_t k = 0; k < f.P; k++)
        close_to(f.p[k], f.g[k] / 4, 1e-14, "clipped gradient", k);
    close_to(gn, norm, 1e-14, "norm before clipping", 0);
    set_d(f.tr, SCORESDE_TRAIN_CLIP, 2 * norm);
    ck_assert_int_eq(scoresde_trainer_set_grad(f.tr, f.g, f.P), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_apply(f.tr, NULL), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_get_grad(f.tr, f.p, f.P), SCORESDE_OK);
    ck_assert_mem_eq(f.p, f.g, f.P * sizeof(double));
    fx_close(&f);
}
END_TEST

/* EMA: e_n = d_n e_{n-1} + (1 - d_n) p_n, d_n = min(rate, (1 + n)/(10 + n)),
 * e_0 = the initial parameters; with rate 0.25 the cap takes over at n = 2. */
START_TEST(ema_rule)
{
    fixture f;
    fx_open(&f);
    const double rate = 0.25;
    set_d(f.tr, SCORESDE_TRAIN_EMA_RATE, rate);
    set_d(f.tr, SCORESDE_TRAIN_LR, 0.05);
    double *e = malloc(f.P * sizeof(double)), *got = malloc(f.P * sizeof(double));
    memcpy(e, f.p0, f.P * sizeof(double));
    ck_assert_int_eq(scoresde_trainer_get_ema(f.tr, got, f.P), SCORESDE_OK);
    ck_assert_mem_eq(got, e, f.P * sizeof(double));
    for (int n = 1; n <= 4; n++) {
        ck_assert_int_eq(scoresde_trainer_set_grad(f.tr, f.g, f.P), SCORESDE_OK);
        ck_assert_int_eq(scoresde_trainer_apply(f.tr, NULL), SCORESDE_OK);
        ck_assert_int_eq(scoresde_model_get_params(f.model, f.p, f.P), SCORESDE_OK);
        const double d = fmin(rate, (1.0 + n) / (10.0 + n));
        for (size_t k = 0; k < f.P; k++)
            e[k] = d * e[k] + (1 - d) * f.p[k];
        ck_assert_int_eq(scoresde_trainer_get_ema(f.tr, got, f.P), SCORESDE_OK);
        for (size_t k = 0; k < f.P; k++)
            close_to(got[k], e[k], 1e-15, "EMA", k);
    }
    free(e), free(got);
    fx_close(&f);
}
END_TEST

/* Data parallelism in-process: gradients of the two halves of a batch (each
 * with its rows' global sample indices) average to the full-batch gradient,
 * and the losses likewise. Then set_grad of that average and apply moves the
 * model exactly as the full-batch step does. */
START_TEST(half_batches_average)
{
    fixture f, h;
    fx_open(&f);
    fx_open(&h);
    scoresde_model *gmm = test_mixture(f.sde);
    const size_t n = 16;
    double *x = test_data_of(gmm, n, 5), lf, l1, l2;
    double *g1 = malloc(f.P * sizeof(double)), *g2 = malloc(f.P * sizeof(double));
    ck_assert_int_eq(scoresde_trainer_backward(f.tr, x, n, 2, 0, &lf), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_get_grad(f.tr, f.g, f.P), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_backward(h.tr, x, n / 2, 2, 0, &l1), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_get_grad(h.tr, g1, f.P), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_backward(h.tr, x + n, n / 2, 2, n / 2, &l2), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_get_grad(h.tr, g2, f.P), SCORESDE_OK);
    close_to((l1 + l2) / 2, lf, 1e-14, "loss", 0);
    double scale = 0;
    for (size_t k = 0; k < f.P; k++)
        scale = fmax(scale, fabs(f.g[k]));
    ck_assert_double_gt(scale, 0);
    for (size_t k = 0; k < f.P; k++) {
        g1[k] = (g1[k] + g2[k]) / 2;
        ck_assert_msg(fabs(g1[k] - f.g[k]) <= 1e-13 * scale, "gradient %zu: %.17g vs %.17g", k,
                      g1[k], f.g[k]);
    }
    /* the averaged gradient drives the same step */
    ck_assert_int_eq(scoresde_trainer_set_grad(h.tr, g1, f.P), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_apply(h.tr, NULL), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_apply(f.tr, NULL), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_get_params(f.model, f.p, f.P), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_get_params(h.model, g2, f.P), SCORESDE_OK);
    for (size_t k = 0; k < f.P; k++)
        close_to(g2[k], f.p[k], 1e-12, "parameters after the step", k);
    free(x), free(g1), free(g2);
    scoresde_model_free(gmm);
    fx_close(&h);
    fx_close(&f);
}
END_TEST

static int stop_at_3(uint64_t step, double loss, double ema, void *user)
{
    int *calls = user;
    ck_assert(isfinite(loss) && isfinite(ema));
    ck_assert_uint_eq(step, (uint64_t)(*calls + 1));
    (*calls)++;
    return step == 3;
}

/* fit: the same run in one call or split over calls gives the same bits; a
 * different seed does not; the progress hook sees every step and stops. */
START_TEST(fit_reproducible)
{
    fixture a, b;
    fx_open(&a);
    fx_open(&b);
    scoresde_model *gmm = test_mixture(a.sde);
    double *data = test_data_of(gmm, 64, 8);
    set_i(a.tr, SCORESDE_TRAIN_BATCH, 16);
    set_i(b.tr, SCORESDE_TRAIN_BATCH, 16);
    set_i(a.tr, SCORESDE_TRAIN_SEED, 4);
    set_i(b.tr, SCORESDE_TRAIN_SEED, 4);
    set_d(a.tr, SCORESDE_TRAIN_LR, 1e-2);
    set_d(b.tr, SCORESDE_TRAIN_LR, 1e-2);
    ck_assert_int_eq(scoresde_trainer_fit(a.tr, data, 64, 2, 5, NULL, NULL), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_fit(b.tr, data, 64, 2, 2, NULL, NULL), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_fit(b.tr, data, 64, 2, 3, NULL, NULL), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_get_params(a.model, a.p, a.P), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_get_params(b.model, b.p, b.P), SCORESDE_OK);
    ck_assert_mem_eq(a.p, b.p, a.P * sizeof(double));
    ck_assert(memcmp(a.p, a.p0, a.P * sizeof(double)) != 0);
    ck_assert_int_eq(scoresde_trainer_get_ema(a.tr, a.p, a.P), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_get_ema(b.tr, b.p, b.P), SCORESDE_OK);
    ck_assert_mem_eq(a.p, b.p, a.P * sizeof(double));
    /* another seed, another run */
    fixture c;
    fx_open(&c);
    set_i(c.tr, SCORESDE_TRAIN_BATCH, 16);
    set_i(c.tr, SCORESDE_TRAIN_SEED, 5);
    set_d(c.tr, SCORESDE_TRAIN_LR, 1e-2);
    int calls = 0;
    ck_assert_int_eq(scoresde_trainer_fit(c.tr, data, 64, 2, 10, stop_at_3, &calls),
                     SCORESDE_ECALLBACK);
    ck_assert_int_eq(calls, 3);
    ck_assert_uint_eq(scoresde_trainer_steps(c.tr), 3);
    ck_assert_int_eq(scoresde_trainer_fit(c.tr, data, 64, 2, 2, NULL, NULL), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_get_params(c.model, c.p, c.P), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_get_params(a.model, a.p, a.P), SCORESDE_OK);
    ck_assert(memcmp(a.p, c.p, a.P * sizeof(double)) != 0);
    free(data);
    scoresde_model_free(gmm);
    fx_close(&a);
    fx_close(&b);
    fx_close(&c);
}
END_TEST

static int64_t int_bound(double b)
{
    /* the int64 range's ends are reported rounded to +-2^63 */
    if (b >= 0x1p63)
        return INT64_MAX;
    return b <= -0x1p63 ? INT64_MIN : (int64_t)b;
}

/* The settings table: bounds and default of every setting, a new trainer at
 * the defaults, both bounds round-trip through set/get and through a
 * checkpoint, the values just beyond them are refused, and an id of the
 * other type is refused by every typed call. */
START_TEST(settings_table)
{
    fixture f, g;
    fx_open(&f);
    fx_open(&g);
    for (int id = SCORESDE_TRAIN_LR; id <= SCORESDE_TRAIN_COND_DROPOUT; id++) {
        double lo, hi, def;
        int is_int = -1;
        ck_assert_int_eq(scoresde_trainer_bounds(id, &lo, &hi, &is_int), SCORESDE_OK);
        ck_assert_int_eq(is_int, id >= SCORESDE_TRAIN_WARMUP && id <= SCORESDE_TRAIN_SEED);
        ck_assert_int_eq(scoresde_trainer_default(id, &def), SCORESDE_OK);
        ck_assert(def >= lo && def <= hi);
        if (is_int) {
            int64_t got, lo_i = int_bound(lo), hi_i = int_bound(hi);
            ck_assert_int_eq(scoresde_trainer_get_int(g.tr, id, &got), SCORESDE_OK);
            ck_assert_msg((double)got == def, "setting %d: %lld, default %g", id,
                          (long long)got, def);
            ck_assert_int_eq(scoresde_trainer_set_int(f.tr, id, lo_i), SCORESDE_OK);
            ck_assert_int_eq(scoresde_trainer_get_int(f.tr, id, &got), SCORESDE_OK);
            ck_assert_int_eq(got, lo_i);
            if (lo_i > INT64_MIN)
                ck_assert_int_eq(scoresde_trainer_set_int(f.tr, id, lo_i - 1), SCORESDE_EINVAL);
            if (hi_i < INT64_MAX)
                ck_assert_int_eq(scoresde_trainer_set_int(f.tr, id, hi_i + 1), SCORESDE_EINVAL);
            ck_assert_int_eq(scoresde_trainer_set_int(f.tr, id, hi_i), SCORESDE_OK);
            ck_assert_int_eq(scoresde_trainer_get_int(f.tr, id, &got), SCORESDE_OK);
            ck_assert_int_eq(got, hi_i);
            double d;
            test_expect_error(scoresde_trainer_set_double(f.tr, id, lo), SCORESDE_EINVAL,
                              "is an integer (use scoresde_trainer_set_int)");
            test_expect_error(scoresde_trainer_get_double(f.tr, id, &d), SCORESDE_EINVAL,
                              "is an integer (use scoresde_trainer_get_int)");
        } else {
            double got;
            ck_assert_int_eq(scoresde_trainer_get_double(g.tr, id, &got), SCORESDE_OK);
            ck_assert_msg(got == def, "setting %d: %g, default %g", id, got, def);
            ck_assert_int_eq(scoresde_trainer_set_double(f.tr, id, lo), SCORESDE_OK);
            ck_assert_int_eq(scoresde_trainer_get_double(f.tr, id, &got), SCORESDE_OK);
            ck_assert(got == lo);
            ck_assert_int_eq(scoresde_trainer_set_double(f.tr, id, nextafter(lo, -INFINITY)),
                             SCORESDE_EINVAL);
            ck_assert_int_eq(scoresde_trainer_set_double(f.tr, id, nextafter(hi, INFINITY)),
                             SCORESDE_EINVAL);
            ck_assert_int_eq(scoresde_trainer_set_double(f.tr, id, NAN), SCORESDE_EINVAL);
            ck_assert_int_eq(scoresde_trainer_set_double(f.tr, id, INFINITY), SCORESDE_EINVAL);
            ck_assert_int_eq(scoresde_trainer_set_double(f.tr, id, hi), SCORESDE_OK);
            ck_assert_int_eq(scoresde_trainer_get_double(f.tr, id, &got), SCORESDE_OK);
            ck_assert(got == hi);
            int64_t i;
            test_expect_error(scoresde_trainer_set_int(f.tr, id, 0), SCORESDE_EINVAL,
                              "is a double (use scoresde_trainer_set_double)");
            test_expect_error(scoresde_trainer_get_int(f.tr, id, &i), SCORESDE_EINVAL,
                              "is a double (use scoresde_trainer_get_double)");
        }
    }
    /* every setting at its upper bound survives a checkpoint (the file holds
     * every setting and its loader accepts what the setters accept) */
    ck_assert_int_eq(scoresde_trainer_set_int(f.tr, SCORESDE_TRAIN_SEED, -1), SCORESDE_OK);
    void *buf;
    size_t size;
    ck_assert_int_eq(scoresde_trainer_save_buffer(f.tr, &buf, &size), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_load_buffer(g.tr, buf, size), SCORESDE_OK);
    scoresde_buffer_free(buf);
    for (int id = SCORESDE_TRAIN_LR; id <= SCORESDE_TRAIN_COND_DROPOUT; id++) {
        double a, b;
        int64_t ia, ib;
        if (id >= SCORESDE_TRAIN_WARMUP && id <= SCORESDE_TRAIN_SEED) {
            ck_assert_int_eq(scoresde_trainer_get_int(f.tr, id, &ia), SCORESDE_OK);
            ck_assert_int_eq(scoresde_trainer_get_int(g.tr, id, &ib), SCORESDE_OK);
            ck_assert_int_eq(ia, ib);
        } else {
            ck_assert_int_eq(scoresde_trainer_get_double(f.tr, id, &a), SCORESDE_OK);
            ck_assert_int_eq(scoresde_trainer_get_double(g.tr, id, &b), SCORESDE_OK);
            ck_assert(a == b);
        }
    }
    int64_t seed;
    ck_assert_int_eq(scoresde_trainer_get_int(g.tr, SCORESDE_TRAIN_SEED, &seed), SCORESDE_OK);
    ck_assert_int_eq(seed, -1);
    /* unknown ids, NULL arguments */
    double v;
    int64_t i;
    const int bad_ids[2] = {0, SCORESDE_TRAIN_COND_DROPOUT + 1};
    for (int k = 0; k < 2; k++) {
        const int id = bad_ids[k];
        test_expect_error(scoresde_trainer_bounds(id, NULL, NULL, NULL), SCORESDE_EINVAL,
                          "is not a trainer setting");
        test_expect_error(scoresde_trainer_default(id, &v), SCORESDE_EINVAL,
                          "is not a trainer setting");
        ck_assert_int_eq(scoresde_trainer_set_int(f.tr, id, 1), SCORESDE_EINVAL);
        ck_assert_int_eq(scoresde_trainer_set_double(f.tr, id, 1.0), SCORESDE_EINVAL);
        ck_assert_int_eq(scoresde_trainer_get_int(f.tr, id, &i), SCORESDE_EINVAL);
        ck_assert_int_eq(scoresde_trainer_get_double(f.tr, id, &v), SCORESDE_EINVAL);
    }
    ck_assert_int_eq(scoresde_trainer_default(SCORESDE_TRAIN_LR, NULL), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_trainer_get_int(NULL, SCORESDE_TRAIN_SEED, &i), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_trainer_get_int(f.tr, SCORESDE_TRAIN_SEED, NULL), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_trainer_get_double(NULL, SCORESDE_TRAIN_LR, &v), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_trainer_set_int(NULL, SCORESDE_TRAIN_SEED, 1), SCORESDE_EINVAL);
    ck_assert_int_eq(scoresde_trainer_set_double(NULL, SCORESDE_TRAIN_LR, 0.1), SCORESDE_EINVAL);
    ck_assert_uint_eq(scoresde_trainer_num_params(NULL), 0);
    ck_assert_uint_eq(scoresde_trainer_steps(NULL), 0);
    fx_close(&f);
    fx_close(&g);
}
END_TEST

START_TEST(bad_input)
{
    fixture f;
    fx_open(&f);
    scoresde_model *gmm = test_mixture(f.sde);
    scoresde_trainer *t = NULL;
    test_expect_error(scoresde_trainer_create(&t, gmm, f.loss), SCORESDE_EUNSUPPORTED,
                      "no trainable parameters");
    ck_assert_ptr_null(t);
    test_expect_error(scoresde_trainer_create(&t, NULL, f.loss), SCORESDE_EINVAL, "model");
    test_expect_error(scoresde_trainer_create(&t, f.model, NULL), SCORESDE_EINVAL, "loss");
    test_expect_error(scoresde_trainer_set_double(f.tr, SCORESDE_TRAIN_LR, 0.0), SCORESDE_EINVAL,
                      "LR = 0 is outside");
    test_expect_error(scoresde_trainer_set_double(f.tr, SCORESDE_TRAIN_LR, NAN), SCORESDE_EINVAL,
                      "LR = NaN is outside");
    test_expect_error(scoresde_trainer_set_double(f.tr, SCORESDE_TRAIN_LR, 11.0), SCORESDE_EINVAL,
                      "LR = 11 is outside");
    test_expect_error(scoresde_trainer_set_double(f.tr, SCORESDE_TRAIN_BETA2, 1.0), SCORESDE_EINVAL,
                      "BETA2 = 1 is outside");
    test_expect_error(scoresde_trainer_set_double(f.tr, SCORESDE_TRAIN_EMA_RATE, 1.5),
                      SCORESDE_EINVAL, "EMA_RATE = 1.5 is outside");
    test_expect_error(scoresde_trainer_set_int(f.tr, SCORESDE_TRAIN_BATCH, 0), SCORESDE_EINVAL,
                      "BATCH = 0 is outside");
    test_expect_error(scoresde_trainer_set_int(f.tr, SCORESDE_TRAIN_WARMUP, -1), SCORESDE_EINVAL,
                      "WARMUP = -1 is outside");
    test_expect_error(scoresde_trainer_get_grad(f.tr, f.p, f.P + 1), SCORESDE_EDIM, "count");
    f.g[3] = NAN;
    test_expect_error(scoresde_trainer_set_grad(f.tr, f.g, f.P), SCORESDE_EINVAL, "grad[3]");
    double x[6] = {0, 1, 2, NAN, 4, 5};
    test_expect_error(scoresde_trainer_step(f.tr, x, 3, 2, NULL), SCORESDE_EINVAL, "x0 row 1");
    test_expect_error(scoresde_trainer_fit(f.tr, x, 3, 2, 1, NULL, NULL), SCORESDE_EINVAL,
                      "data row 1");
    test_expect_error(scoresde_trainer_step(f.tr, x, 2, 3, NULL), SCORESDE_EDIM, "dimension 3");
    test_expect_error(scoresde_trainer_step(f.tr, x, 0, 2, NULL), SCORESDE_EINVAL, "zero");
    ck_assert_uint_eq(scoresde_trainer_steps(f.tr), 0);
    /* a gradient whose norm overflows: ENUMERIC, nothing moves */
    for (size_t k = 0; k < f.P; k++)
        f.g[k] = 1e300;
    ck_assert_int_eq(scoresde_trainer_set_grad(f.tr, f.g, f.P), SCORESDE_OK);
    test_expect_error(scoresde_trainer_apply(f.tr, NULL), SCORESDE_ENUMERIC, "overflows");
    ck_assert_int_eq(scoresde_model_get_params(f.model, f.p, f.P), SCORESDE_OK);
    ck_assert_mem_eq(f.p, f.p0, f.P * sizeof(double));
    ck_assert_uint_eq(scoresde_trainer_steps(f.tr), 0);
    scoresde_trainer_free(NULL);
    scoresde_model_free(gmm);
    fx_close(&f);
}
END_TEST

static int zero_score(const double *x, const double *t, size_t n, size_t D, double *s, void *u)
{
    (void)x, (void)t, (void)u;
    memset(s, 0, n * D * sizeof(double));
    return 0;
}

/* E_t E_x sigma^2 ||s - s*||^2 / E_t E_x sigma^2 ||s*||^2 over x ~ p_t,
 * t ~ U(eps, 1): the ESM loss (sigma^2 weighting, uniform times) of s against
 * the exact mixture, over the ESM loss of the zero score, same draws. */
static double relative_error(const scoresde_model *s, const scoresde_model *exact,
                             const double *x0, size_t n)
{
    scoresde_loss *l = NULL;
    scoresde_model *zero = NULL;
    ck_assert_int_eq(scoresde_loss_create(&l, SCORESDE_LOSS_ESM), SCORESDE_OK);
    ck_assert_int_eq(scoresde_loss_set_int(l, SCORESDE_LOSS_TIME_MODE, SCORESDE_LOSS_TIME_UNIFORM),
                     SCORESDE_OK);
    ck_assert_int_eq(scoresde_loss_set_reference(l, exact), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_create_score_fn(&zero, scoresde_model_sde(exact), 2,
                                                    zero_score, NULL, NULL),
                     SCORESDE_OK);
    double num, den;
    ck_assert_int_eq(scoresde_loss_eval(l, s, x0, n, 2, 777, 0, &num, NULL, NULL, 0), SCORESDE_OK);
    ck_assert_int_eq(scoresde_loss_eval(l, zero, x0, n, 2, 777, 0, &den, NULL, NULL, 0),
                     SCORESDE_OK);
    scoresde_model_free(zero);
    scoresde_loss_free(l);
    return num / den;
}

START_TEST(dsm_learns_mixture)
{
    uint64_t steps = 1500;
    const char *env = getenv("SCORESDE_TEST_TRAIN_STEPS");
    if (env && atoi(env) > 0)
        steps = (uint64_t)atoi(env);
    const double bound = steps >= 1500 ? 0.05 : 0.15;
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *exact = test_mixture(sde), *net = mlp(sde, 3, 64, 1);
    double *data = test_data_of(exact, 8192, 1), *eval = test_data_of(exact, 4096, 2);
    const double before = relative_error(net, exact, eval, 4096);
    scoresde_loss *l = dsm();
    scoresde_trainer *tr = NULL;
    ck_assert_int_eq(scoresde_trainer_create(&tr, net, l), SCORESDE_OK);
    set_d(tr, SCORESDE_TRAIN_LR, 3e-3);
    set_i(tr, SCORESDE_TRAIN_WARMUP, 100);
    set_d(tr, SCORESDE_TRAIN_EMA_RATE, 0.995);
    set_i(tr, SCORESDE_TRAIN_BATCH, 256);
    set_i(tr, SCORESDE_TRAIN_SEED, 42);
    ck_assert_int_eq(scoresde_trainer_fit(tr, data, 8192, 2, steps, NULL, NULL), SCORESDE_OK);
    const double raw = relative_error(net, exact, eval, 4096);
    size_t P = scoresde_trainer_num_params(tr);
    double *theta = malloc(P * sizeof(double));
    ck_assert_int_eq(scoresde_trainer_get_ema(tr, theta, P), SCORESDE_OK);
    ck_assert_int_eq(scoresde_model_set_params(net, theta, P), SCORESDE_OK);
    const double ema = relative_error(net, exact, eval, 4096);
    ck_assert_msg(ema < bound && ema < before / 5,
                  "relative score error: before %.4f, raw %.4f, EMA %.4f after %llu steps "
                  "(bound %.2f)",
                  before, raw, ema, (unsigned long long)steps, bound);
    free(theta), free(data), free(eval);
    scoresde_trainer_free(tr);
    scoresde_loss_free(l);
    scoresde_model_free(net);
    scoresde_model_free(exact);
    scoresde_sde_free(sde);
}
END_TEST

/* ISM and SSM-VR training at a fixed small noise level (t = 0.05 under VP)
 * reduce the explicit loss against the exact score at that level at least
 * tenfold from initialisation. */
START_TEST(ism_ssm_learn_at_a_level)
{
    const int kind = _i == 0 ? SCORESDE_LOSS_ISM : SCORESDE_LOSS_SSM_VR;
    const double t = 0.05;
    scoresde_sde *sde = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *exact = test_mixture(sde), *net = mlp(sde, 2, 64, 7);
    double *data = test_data_of(exact, 8192, 3), *eval = test_data_of(exact, 4096, 4);
    scoresde_loss *esm = NULL, *l = NULL;
    ck_assert_int_eq(scoresde_loss_create(&esm, SCORESDE_LOSS_ESM), SCORESDE_OK);
    ck_assert_int_eq(scoresde_loss_create(&l, kind), SCORESDE_OK);
    scoresde_loss *both[2] = {esm, l};
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(scoresde_loss_set_int(both[k], SCORESDE_LOSS_TIME_MODE,
                                               SCORESDE_LOSS_TIME_FIXED),
                         SCORESDE_OK);
        ck_assert_int_eq(scoresde_loss_set_double(both[k], SCORESDE_LOSS_FIXED_TIME, t),
                         SCORESDE_OK);
    }
    ck_assert_int_eq(scoresde_loss_set_reference(esm, exact), SCORESDE_OK);
    double before, after;
    ck_assert_int_eq(scoresde_loss_eval(esm, net, eval, 4096, 2, 5, 0, &before, NULL, NULL, 0),
                     SCORESDE_OK);
    scoresde_trainer *tr = NULL;
    ck_assert_int_eq(scoresde_trainer_create(&tr, net, l), SCORESDE_OK);
    set_d(tr, SCORESDE_TRAIN_LR, 3e-3);
    set_i(tr, SCORESDE_TRAIN_WARMUP, 50);
    set_i(tr, SCORESDE_TRAIN_BATCH, 128);
    ck_assert_int_eq(scoresde_trainer_fit(tr, data, 8192, 2, 600, NULL, NULL), SCORESDE_OK);
    ck_assert_int_eq(scoresde_loss_eval(esm, net, eval, 4096, 2, 5, 0, &after, NULL, NULL, 0),
                     SCORESDE_OK);
    ck_assert_msg(after < before / 10, "%s: explicit loss %.4g before, %.4g after training",
                  _i == 0 ? "ISM" : "SSM_VR", before, after);
    free(data), free(eval);
    scoresde_trainer_free(tr);
    scoresde_loss_free(l);
    scoresde_loss_free(esm);
    scoresde_model_free(net);
    scoresde_model_free(exact);
    scoresde_sde_free(sde);
}
END_TEST

static Suite *train_suite(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("train");
    tcase_add_test(tc, adam_steps);
    tcase_add_test(tc, clipping);
    tcase_add_test(tc, ema_rule);
    tcase_add_test(tc, half_batches_average);
    tcase_add_test(tc, fit_reproducible);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, settings_table);
    tcase_add_test(tc, dsm_learns_mixture);
    tcase_add_loop_test(tc, ism_ssm_learn_at_a_level, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(train_suite()); }
