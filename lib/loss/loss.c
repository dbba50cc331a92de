/*
 * Score-matching losses: configuration and batched evaluation with the
 * parameter gradient (include/scoresde/loss.h has the formulas).
 *
 * Evaluation runs in three passes over the batch: draw times, noise and probes
 * (per sample, from the sample's own Philox stream), evaluate the model once
 * on the whole batch (score, divergence or Hutchinson terms), then form the
 * per-sample values and the backward seeds in index order. The model calls
 * are deterministic for any thread count, and every sum here runs in a fixed
 * order, so the result is bit-identical however the caller threads it.
 *
 * With a gradient, the score's backward comes first and the probe terms'
 * second. A kind with the fused probe_vjp slot (the MLP) then computes the
 * probe terms and their backward in one pass (the separate path runs the
 * Jacobian products twice: once for the terms, once again for the backward);
 * the values wait for it. The gradient's additions keep one order on both
 * paths, so the results are the same bits (tests/test_loss.c).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "scoresde/loss.h"

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "loss_internal.h"
#include "model_internal.h"
#include "sde_internal.h"
#include "scoresde/rng.h"
#include "scoresde/sde.h"
#include "settings.h"


/* The kinds by id: the name in messages and the public one
 * (scoresde_loss_kind_name). */
static const struct {
    const char *name, *key;
} kinds[] = {
    [SCORESDE_LOSS_ESM] = {"ESM", "esm"},          [SCORESDE_LOSS_ISM] = {"ISM", "ism"},
    [SCORESDE_LOSS_SSM] = {"SSM", "ssm"},          [SCORESDE_LOSS_SSM_VR] = {"SSM_VR", "ssm_vr"},
    [SCORESDE_LOSS_DSM] = {"DSM", "dsm"},          [SCORESDE_LOSS_SMLD] = {"SMLD", "smld"},
    [SCORESDE_LOSS_DDPM] = {"DDPM", "ddpm"},
};
#define KINDS ((int)(sizeof kinds / sizeof kinds[0]))

static const char *kind_name(int kind)
{
    return kind > 0 && kind < KINDS ? kinds[kind].name : "?";
}

const char *scoresde_loss_kind_name(int kind)
{
    return kind > 0 && kind < KINDS ? kinds[kind].key : NULL;
}

int scoresde_loss_kind_id(const char *name, int *kind)
{
    SD_TRY(sd_check_ptr(name, "name"));
    SD_TRY(sd_check_ptr(kind, "kind"));
    char list[128] = "";
    for (int k = 1; k < KINDS; k++) {
        if (strcmp(kinds[k].key, name) == 0) {
            *kind = k;
            return SCORESDE_OK;
        }
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s%s", k > 1 ? ", " : "", kinds[k].key);
    }
    return sd_fail(SCORESDE_EINVAL, "'%.64s' is not the name of a loss kind (one of: %s)", name,
                   list);
}

static int is_probe_kind(int kind)
{
    return kind == SCORESDE_LOSS_SSM || kind == SCORESDE_LOSS_SSM_VR;
}

static int is_level_kind(int kind)
{
    return kind == SCORESDE_LOSS_SMLD || kind == SCORESDE_LOSS_DDPM;
}

/* One row per setting; include/scoresde/loss.h lists the same types, bounds
 * and defaults. The kind-dependent default of TIME_MODE is scoresde_loss_default's.
 * KEY is the public name (scoresde_loss_setting_name), VALUES those of an
 * enum-valued setting's values (scoresde_loss_value_name). */
static const char *const time_mode_names[] = {"data", "uniform", "lognormal", "fixed",
                                              "importance"};
static const char *const weighting_names[] = {"sigma2", "g2", "uniform", "edm", "user"};
static const char *const reduction_names[] = {"mean", "half_sum"};
static const char *const probe_names[] = {"rademacher", "gaussian", "sphere"};
#define ROW_I(ID, NAME, KEY, STORE, FIELD, LO, HI, DEF, VALUES)                             \
    [ID] = {ID, NAME, STORE, offsetof(scoresde_loss, FIELD), LO, HI, 0, 0, 0, DEF, KEY, VALUES}
#define ROW_D(ID, NAME, KEY, FIELD, LO, HI, NAN_OK, DEF)                                    \
    [ID] = {ID, NAME, SD_STORE_DOUBLE, offsetof(scoresde_loss, FIELD), 0, 0, LO, HI, NAN_OK, DEF, \
            KEY, NULL}
static const sd_setting loss_rows[SCORESDE_LOSS_SIGMA_DATA + 1] = {
    ROW_I(SCORESDE_LOSS_TIME_MODE, "TIME_MODE", "time_mode", SD_STORE_INT, time_mode,
          SCORESDE_LOSS_TIME_DATA, SCORESDE_LOSS_TIME_IMPORTANCE, SCORESDE_LOSS_TIME_UNIFORM,
          time_mode_names),
    ROW_I(SCORESDE_LOSS_WEIGHTING, "WEIGHTING", "weighting", SD_STORE_INT, weighting,
          SCORESDE_LOSS_WEIGHT_SIGMA2, SCORESDE_LOSS_WEIGHT_USER, SCORESDE_LOSS_WEIGHT_SIGMA2,
          weighting_names),
    ROW_I(SCORESDE_LOSS_REDUCTION, "REDUCTION", "reduction", SD_STORE_INT, reduction,
          SCORESDE_LOSS_REDUCE_MEAN, SCORESDE_LOSS_REDUCE_HALF_SUM, SCORESDE_LOSS_REDUCE_MEAN,
          reduction_names),
    ROW_I(SCORESDE_LOSS_PROBE, "PROBE", "probe", SD_STORE_INT, probe,
          SCORESDE_LOSS_PROBE_RADEMACHER, SCORESDE_LOSS_PROBE_SPHERE,
          SCORESDE_LOSS_PROBE_RADEMACHER, probe_names),
    ROW_I(SCORESDE_LOSS_NUM_PROBES, "NUM_PROBES", "num_probes", SD_STORE_SIZE, M, 1, 65536, 1,
          NULL),
    ROW_I(SCORESDE_LOSS_LEVELS, "LEVELS", "levels", SD_STORE_SIZE, N, 2, INT64_C(1) << 24, 1000,
          NULL),
    ROW_D(SCORESDE_LOSS_EPS, "EPS", "eps", eps, 0.0, 1e300, 1, NAN),
    ROW_D(SCORESDE_LOSS_FIXED_TIME, "FIXED_TIME", "fixed_time", fixed_time, -DBL_MAX, DBL_MAX, 0,
          0.0),
    ROW_D(SCORESDE_LOSS_P_MEAN, "P_MEAN", "p_mean", p_mean, -DBL_MAX, DBL_MAX, 0, -1.2),
    ROW_D(SCORESDE_LOSS_P_STD, "P_STD", "p_std", p_std, DBL_TRUE_MIN, DBL_MAX, 0, 1.2),
    ROW_D(SCORESDE_LOSS_SIGMA_DATA, "SIGMA_DATA", "sigma_data", sigma_data, DBL_TRUE_MIN,
          DBL_MAX, 0, 0.5),
};
#undef ROW_I
#undef ROW_D

static const sd_settings loss_settings = {"loss", "scoresde_loss", loss_rows,
                                          SCORESDE_LOSS_SIGMA_DATA + 1};

static int kind_ok(int kind)
{
    return kind >= SCORESDE_LOSS_ESM && kind <= SCORESDE_LOSS_DDPM;
}

const char *scoresde_loss_setting_name(int setting)
{
    return sd_setting_key(&loss_settings, setting);
}

int scoresde_loss_setting_id(const char *name, int *setting)
{
    return sd_setting_id(&loss_settings, name, setting);
}

const char *scoresde_loss_value_name(int setting, int value)
{
    return sd_setting_value_key(&loss_settings, setting, value);
}

int scoresde_loss_value_id(int setting, const char *name, int *value)
{
    return sd_setting_value_id(&loss_settings, setting, name, value);
}

int scoresde_loss_default(int kind, int setting, double *value)
{
    SD_TRY(sd_check_ptr(value, "value"));
    if (!kind_ok(kind))
        return sd_fail(SCORESDE_EINVAL, "kind (%d) is not a SCORESDE_LOSS_* kind", kind);
    const sd_setting *row = sd_setting_find(&loss_settings, setting);
    if (row == NULL)
        return SCORESDE_EINVAL;
    *value = row->def;
    if (setting == SCORESDE_LOSS_TIME_MODE && kind <= SCORESDE_LOSS_SSM_VR)
        *value = SCORESDE_LOSS_TIME_DATA; /* the unperturbed forms are the classical ones */
    return SCORESDE_OK;
}

int scoresde_loss_create(scoresde_loss **out, int kind)
{
    SD_TRY(sd_check_ptr(out, "out"));
    *out = NULL;
    if (!kind_ok(kind))
        return sd_fail(SCORESDE_EINVAL, "kind (%d) is not a SCORESDE_LOSS_* kind", kind);
    scoresde_loss *l = sd_calloc(1, sizeof *l);
    if (!l)
        return sd_fail(SCORESDE_ENOMEM, "out of memory creating a loss");
    l->kind = kind;
    for (int id = 1; id < loss_settings.count; id++) {
        double v;
        (void)scoresde_loss_default(kind, id, &v); /* cannot fail: kind and id are valid */
        sd_setting_write(&loss_rows[id], l, v);
    }
    *out = l;
    return SCORESDE_OK;
}

void scoresde_loss_free(scoresde_loss *loss)
{
    sd_free(loss);
}

int scoresde_loss_kind(const scoresde_loss *loss)
{
    return loss ? loss->kind : 0;
}

int scoresde_loss_set_int(scoresde_loss *loss, int setting, int64_t value)
{
    if (loss != NULL && setting == SCORESDE_LOSS_WEIGHTING &&
        value == SCORESDE_LOSS_WEIGHT_USER && !loss->weight_fn)
        return sd_fail(SCORESDE_EINVAL, "loss setting WEIGHTING = USER (4) needs a hook: call "
                                        "scoresde_loss_set_weight_fn");
    return sd_setting_set_int(&loss_settings, loss, setting, value);
}

int scoresde_loss_set_double(scoresde_loss *loss, int setting, double value)
{
    return sd_setting_set_double(&loss_settings, loss, setting, value);
}

int scoresde_loss_get_int(const scoresde_loss *loss, int setting, int64_t *value)
{
    return sd_setting_get_int(&loss_settings, loss, setting, value);
}

int scoresde_loss_get_double(const scoresde_loss *loss, int setting, double *value)
{
    return sd_setting_get_double(&loss_settings, loss, setting, value);
}

int scoresde_loss_bounds(int setting, double *lower, double *upper, int *is_int)
{
    return sd_setting_bounds(&loss_settings, setting, lower, upper, is_int);
}

int scoresde_loss_set_reference(scoresde_loss *loss, const scoresde_model *reference)
{
    SD_TRY(sd_check_ptr(loss, "loss"));
    loss->reference = reference;
    return SCORESDE_OK;
}

int scoresde_loss_set_weight_fn(scoresde_loss *loss, scoresde_loss_weight_fn fn, void *user)
{
    SD_TRY(sd_check_ptr(loss, "loss"));
    SD_TRY(sd_check_ptr((const void *)(uintptr_t)fn, "fn"));
    loss->weight_fn = fn;
    loss->weight_user = user;
    loss->weighting = SCORESDE_LOSS_WEIGHT_USER;
    return SCORESDE_OK;
}

/* Workspace of one evaluation: one block, carved into arrays. */
typedef struct {
    double *t, *alpha, *sigma, *w, *x, *z, *s, *sref, *gs, *probes, *hutch, *qs, *pw, *tab;
} loss_ws;

/* The probes of sample `stream` (M x D values into v). */
static void draw_probes(const scoresde_loss *l, uint64_t seed, uint64_t stream, size_t D,
                        double *v)
{
    const size_t M = l->M;
    const uint64_t off = SCORESDE_RNG_OFFSET(SCORESDE_RNG_PROBE, 0);
    if (l->probe == SCORESDE_LOSS_PROBE_RADEMACHER) {
        sd_rng_uniform(seed, stream, off, M * D, v);
        for (size_t k = 0; k < M * D; k++)
            v[k] = v[k] < 0.5 ? -1.0 : 1.0;
        return;
    }
    sd_rng_normal(seed, stream, off, M * D, v);
    if (l->probe == SCORESDE_LOSS_PROBE_SPHERE) {
        for (size_t m = 0; m < M; m++) {
            double *vm = v + m * D, ss = 0.0;
            for (size_t j = 0; j < D; j++)
                ss += vm[j] * vm[j];
            /* ss > 0 with probability one; a zero draw would stay zero */
            const double scale = ss > 0.0 ? sqrt((double)D / ss) : 0.0;
            for (size_t j = 0; j < D; j++)
                vm[j] *= scale;
        }
    }
}

/* Draw the times t (and the DDPM level's abar into alpha/sigma later). */
static int draw_times(const scoresde_loss *l, const scoresde_sde *sde, size_t n, uint64_t seed,
                      uint64_t first, double *t, size_t *levels)
{
    const double T = scoresde_sde_end_time(sde);
    if (is_level_kind(l->kind)) {
        for (size_t i = 0; i < n; i++) {
            double u;
            sd_rng_uniform(seed, first + i, SCORESDE_RNG_OFFSET(SCORESDE_RNG_TIME, 0), 1, &u);
            size_t k = (size_t)floor(u * (double)l->N);
            if (k >= l->N)
                k = l->N - 1;
            levels[i] = k;
            /* SMLD: level k sits at t_k = k T / (N - 1), NCSN's geometric sigmas on a
             * VE SDE. DDPM: abar_k integrates beta over the first k + 1 of N steps,
             * so the model is asked at the end of that step, t = (k + 1) T / N, where
             * the continuous VP marginal matches it and sigma(t) > 0. */
            t[i] = l->kind == SCORESDE_LOSS_SMLD ? (double)k * T / (double)(l->N - 1)
                                                 : (double)(k + 1) * T / (double)l->N;
        }
        return SCORESDE_OK;
    }
    double eps = isnan(l->eps) ? scoresde_sde_training_eps(sde) : l->eps;
    switch (l->time_mode) {
    case SCORESDE_LOSS_TIME_DATA:
    case SCORESDE_LOSS_TIME_FIXED:
        if (!(l->fixed_time >= 0.0 && l->fixed_time <= T))
            return sd_fail(SCORESDE_EINVAL, "fixed time (%g) is outside [0, T = %g]",
                           l->fixed_time, T);
        for (size_t i = 0; i < n; i++)
            t[i] = l->fixed_time;
        return SCORESDE_OK;
    case SCORESDE_LOSS_TIME_UNIFORM:
        if (!(eps < T))
            return sd_fail(SCORESDE_EINVAL, "eps (%g) is not below T (%g)", eps, T);
        for (size_t i = 0; i < n; i++) {
            double u;
            sd_rng_uniform(seed, first + i, SCORESDE_RNG_OFFSET(SCORESDE_RNG_TIME, 0), 1, &u);
            t[i] = eps + u * (T - eps);
            if (t[i] > T)
                t[i] = T;
        }
        return SCORESDE_OK;
    case SCORESDE_LOSS_TIME_IMPORTANCE: {
        sd_importance is;
        SD_TRY(sd_sde_importance_prepare(sde, eps, T, &is));
        for (size_t i = 0; i < n; i++) {
            double u;
            sd_rng_uniform(seed, first + i, SCORESDE_RNG_OFFSET(SCORESDE_RNG_TIME, 0), 1, &u);
            SD_TRY(sd_sde_importance_time(&is, u, &t[i]));
        }
        return SCORESDE_OK;
    }
    default: /* LOGNORMAL */
        if (scoresde_sde_kind(sde) != SCORESDE_SDE_EDM)
            return sd_fail(SCORESDE_EUNSUPPORTED,
                           "log-normal times need an EDM SDE (sigma(t) = t); the model's SDE "
                           "has kind %d",
                           scoresde_sde_kind(sde));
        if (!(eps < T))
            return sd_fail(SCORESDE_EINVAL, "eps (%g) is not below T (%g)", eps, T);
        for (size_t i = 0; i < n; i++) {
            double g;
            sd_rng_normal(seed, first + i, SCORESDE_RNG_OFFSET(SCORESDE_RNG_TIME, 1), 1, &g);
            double s = exp(l->p_mean + l->p_std * g);
            t[i] = s < eps ? eps : (s > T ? T : s);
        }
        return SCORESDE_OK;
    }
}

static int weighting_values(const scoresde_loss *l, const scoresde_sde *sde, size_t n,
                            const double *t, const double *alpha, const double *sigma, double *w)
{
    if (l->kind == SCORESDE_LOSS_DDPM) {
        for (size_t i = 0; i < n; i++)
            w[i] = 1.0;
        return SCORESDE_OK;
    }
    if (l->kind == SCORESDE_LOSS_SMLD) {
        for (size_t i = 0; i < n; i++)
            w[i] = sigma[i] * sigma[i];
        return SCORESDE_OK;
    }
    if (l->time_mode == SCORESDE_LOSS_TIME_DATA) {
        for (size_t i = 0; i < n; i++)
            w[i] = 1.0;
        return SCORESDE_OK;
    }
    switch (l->weighting) {
    case SCORESDE_LOSS_WEIGHT_SIGMA2:
        for (size_t i = 0; i < n; i++)
            w[i] = sigma[i] * sigma[i];
        return SCORESDE_OK;
    case SCORESDE_LOSS_WEIGHT_G2:
        SD_TRY(scoresde_sde_diffusion(sde, t, n, w));
        for (size_t i = 0; i < n; i++)
            w[i] *= w[i];
        return SCORESDE_OK;
    case SCORESDE_LOSS_WEIGHT_UNIFORM:
        for (size_t i = 0; i < n; i++)
            w[i] = 1.0;
        return SCORESDE_OK;
    case SCORESDE_LOSS_WEIGHT_EDM: {
        const double sd2 = l->sigma_data * l->sigma_data;
        for (size_t i = 0; i < n; i++) {
            const double se = sigma[i] / alpha[i];
            w[i] = sigma[i] * sigma[i] * (se * se + sd2) / sd2;
        }
        return SCORESDE_OK;
    }
    default:
        if (l->weight_fn(t, n, w, l->weight_user) != 0)
            return sd_fail(SCORESDE_ECALLBACK, "the loss weight hook returned non-zero");
        for (size_t i = 0; i < n; i++)
            if (!(isfinite(w[i]) && w[i] >= 0.0))
                return sd_fail(SCORESDE_ENUMERIC,
                               "the loss weight hook gave lambda(t = %g) = %g for sample %zu "
                               "(must be finite and >= 0)",
                               t[i], w[i], i);
        return SCORESDE_OK;
    }
}

/* lambda(t_i), times 1 / ((T - eps) p(t_i)) = Z sigma^2 / ((T - eps) g^2) for
 * importance-sampled times, so that the loss keeps the expectation it has
 * with uniform times (only its variance changes). */
static int loss_weights(const scoresde_loss *l, const scoresde_sde *sde, size_t n, const double *t,
                        const double *alpha, const double *sigma, double *w, double *g)
{
    SD_TRY(weighting_values(l, sde, n, t, alpha, sigma, w));
    if (l->time_mode != SCORESDE_LOSS_TIME_IMPORTANCE || is_level_kind(l->kind))
        return SCORESDE_OK;
    const double T = scoresde_sde_end_time(sde);
    const double eps = isnan(l->eps) ? scoresde_sde_training_eps(sde) : l->eps;
    sd_importance is;
    SD_TRY(sd_sde_importance_prepare(sde, eps, T, &is));
    SD_TRY(scoresde_sde_diffusion(sde, t, n, g));
    for (size_t i = 0; i < n; i++)
        w[i] *= is.Z * sigma[i] * sigma[i] / ((T - eps) * g[i] * g[i]);
    return SCORESDE_OK;
}

/* abar_k = prod_{l <= k} (1 - beta_l) of the model's VP SDE's DDPM table. */
static int ddpm_table(const scoresde_sde *sde, size_t N, double *tab, double *tmp)
{
    if (scoresde_sde_kind(sde) != SCORESDE_SDE_VP)
        return sd_fail(SCORESDE_EUNSUPPORTED, "the DDPM loss needs a VP SDE; the model's SDE has "
                                              "kind %d",
                       scoresde_sde_kind(sde));
    const double T = scoresde_sde_end_time(sde);
    double *ones = tmp, *tl = tmp + N, *f = tmp + 2 * N;
    for (size_t k = 0; k < N; k++) {
        ones[k] = 1.0;
        tl[k] = (double)k * T / (double)(N - 1);
    }
    SD_TRY(scoresde_sde_discretize(sde, N, ones, tl, N, 1, f, tab));
    double abar = 1.0;
    for (size_t k = 0; k < N; k++) {
        abar *= 1.0 - tab[k] * tab[k];
        tab[k] = abar;
    }
    return SCORESDE_OK;
}

/* The state fill_rows needs: per-sample values go to per_sample and total
 * (rows arrive in index order, so the sum runs in index order). */
typedef struct {
    const scoresde_loss *l;
    loss_ws *ws;
    size_t D, M;
    double *per_sample;
    int scale; /* turn dQ/ds into the seed w_i / n dQ/ds (a gradient is wanted) */
    int defer; /* the probe terms come after the score's backward (fused
                  probe pass): keep Q's score part in ws->qs, values later */
    double inv_n;
    double total;
} fill_ctx;

/* Sample i's value w_i Q into per_sample and total (called in index order). */
static int add_value(fill_ctx *fc, size_t i, double q)
{
    const loss_ws *ws = fc->ws;
    const double v = ws->w[i] * q;
    if (!isfinite(v))
        return sd_fail(SCORESDE_ENUMERIC, "the %s loss of sample %zu (t = %g) is not finite",
                       kind_name(fc->l->kind), i, ws->t[i]);
    if (fc->per_sample)
        fc->per_sample[i] = v;
    fc->total += v;
    return SCORESDE_OK;
}

/* Per-sample values and backward seeds of rows i0 .. i0+r-1, whose scores
 * are in ws->s (an sd_vjp_fill_fn). The seeds never depend on the probe
 * terms (ws->hutch), so with fc->defer the values wait for them. */
static int fill_rows(size_t i0, size_t r, void *ctx)
{
    fill_ctx *fc = ctx;
    const scoresde_loss *l = fc->l;
    loss_ws *ws = fc->ws;
    const int kind = l->kind;
    const size_t D = fc->D, M = fc->M;
    for (size_t i = i0; i < i0 + r; i++) {
        const double *s = ws->s + i * D, *z = ws->z + i * D;
        double *gs = ws->gs + i * D, q = 0.0;
        int probe_term = 0; /* Q = (score part q) + hutch[i] */
        switch (kind) {
        case SCORESDE_LOSS_ESM:
            for (size_t j = 0; j < D; j++) {
                gs[j] = s[j] - ws->sref[i * D + j];
                q += gs[j] * gs[j];
            }
            q *= 0.5;
            break;
        case SCORESDE_LOSS_ISM:
        case SCORESDE_LOSS_SSM_VR:
            for (size_t j = 0; j < D; j++) {
                gs[j] = s[j];
                q += s[j] * s[j];
            }
            q = 0.5 * q;
            probe_term = 1;
            break;
        case SCORESDE_LOSS_SSM: {
            const double *v = ws->probes + i * M * D;
            for (size_t j = 0; j < D; j++)
                gs[j] = 0.0;
            for (size_t m = 0; m < M; m++) {
                double a = 0.0;
                for (size_t j = 0; j < D; j++)
                    a += v[m * D + j] * s[j];
                q += 0.5 * a * a;
                for (size_t j = 0; j < D; j++)
                    gs[j] += a * v[m * D + j];
            }
            for (size_t j = 0; j < D; j++)
                gs[j] /= (double)M;
            q = q / (double)M;
            probe_term = 1;
            break;
        }
        case SCORESDE_LOSS_DDPM: {
            const double sg = ws->sigma[i];
            for (size_t j = 0; j < D; j++) {
                const double e = -sg * s[j] - z[j];
                q += e * e;
                gs[j] = -sg * e;
            }
            q *= 0.5;
            break;
        }
        default: { /* DSM, SMLD */
            const double inv = 1.0 / ws->sigma[i];
            for (size_t j = 0; j < D; j++) {
                gs[j] = s[j] + z[j] * inv;
                q += gs[j] * gs[j];
            }
            q *= 0.5;
            break;
        }
        }
        if (fc->defer) {
            ws->qs[i] = q;
        } else {
            if (probe_term)
                q += ws->hutch[i];
            SD_TRY(add_value(fc, i, q));
        }
        if (fc->scale)
            for (size_t j = 0; j < D; j++)
                gs[j] *= ws->w[i] * fc->inv_n;
    }
    return SCORESDE_OK;
}

/* Whether this evaluation takes the fused probe path: a gradient of a loss
 * with probe terms (ISM, SSM, SSM_VR) on a kind with the probe_vjp slot. */
static int fused_probes(const scoresde_loss *l, const scoresde_model *model, const double *grad)
{
    return grad != NULL && (l->kind == SCORESDE_LOSS_ISM || is_probe_kind(l->kind)) &&
           model->ops->probe_vjp != NULL;
}

static int eval_impl(const scoresde_loss *l, const scoresde_model *model, const double *x0,
                     size_t n, size_t D, const sd_cond *cond, const sd_cond *ref_cond,
                     uint64_t seed, uint64_t first, double *value, double *per_sample,
                     double *grad, size_t count, loss_ws *ws, size_t *levels)
{
    const scoresde_sde *sde = scoresde_model_sde(model);
    const int kind = l->kind;
    const int perturbed = kind >= SCORESDE_LOSS_DSM || l->time_mode != SCORESDE_LOSS_TIME_DATA;
    const size_t nD = n * D;

    SD_TRY(draw_times(l, sde, n, seed, first, ws->t, levels));
    if (perturbed) {
        SD_TRY(scoresde_sde_marginal(sde, ws->t, n, ws->alpha, ws->sigma, NULL, NULL));
        for (size_t i = 0; i < n; i++)
            sd_rng_normal(seed, first + i, SCORESDE_RNG_OFFSET(SCORESDE_RNG_PERTURB, 0), D,
                          ws->z + i * D);
        double *ca = ws->alpha, *cs = ws->sigma;
        if (kind == SCORESDE_LOSS_DDPM) {
            SD_TRY(ddpm_table(sde, l->N, ws->tab, ws->tab + l->N));
            /* the perturbation uses the discrete table; sigma stays the model's */
            ca = ws->gs;
            cs = ws->gs + n;
            for (size_t i = 0; i < n; i++) {
                ca[i] = sqrt(ws->tab[levels[i]]);
                cs[i] = sqrt(1.0 - ws->tab[levels[i]]);
            }
        }
        for (size_t i = 0; i < n; i++) {
            if (kind >= SCORESDE_LOSS_DSM && !(ws->sigma[i] > 0.0))
                return sd_fail(SCORESDE_EINVAL,
                               "sigma(t) is zero at t = %g (sample %zu): denoising needs noise",
                               ws->t[i], i);
            for (size_t j = 0; j < D; j++)
                ws->x[i * D + j] = ca[i] * x0[i * D + j] + cs[i] * ws->z[i * D + j];
        }
    } else {
        memcpy(ws->x, x0, nD * sizeof(double));
        for (size_t i = 0; i < n; i++)
            ws->alpha[i] = 1.0, ws->sigma[i] = 0.0;
    }
    SD_TRY(loss_weights(l, sde, n, ws->t, ws->alpha, ws->sigma, ws->w, ws->gs));
    const double c = l->reduction == SCORESDE_LOSS_REDUCE_MEAN ? 2.0 / (double)D : 1.0;
    for (size_t i = 0; i < n; i++)
        ws->w[i] *= c;

    /* the model: what the per-sample values need besides the score (on the
     * fused path, the probe terms come with their backward, after the score's) */
    const size_t M = l->M;
    const int fused = fused_probes(l, model, grad);
    /* a value without gradient: the score and the probe terms in one call
     * (sd_model_score_div_c, issue 14), below */
    const int joint = grad == NULL && (kind == SCORESDE_LOSS_ISM || is_probe_kind(kind));
    if (kind == SCORESDE_LOSS_ISM) {
        if (!fused && !joint)
            SD_TRY(sd_model_divergence_c(model, ws->x, ws->t, n, D, cond, ws->hutch));
    } else if (is_probe_kind(kind)) {
        for (size_t i = 0; i < n; i++)
            draw_probes(l, seed, first + i, D, ws->probes + i * M * D);
        if (!fused && !joint)
            SD_TRY(sd_model_hutchinson_c(model, ws->x, ws->t, n, D, cond, ws->probes, M,
                                         ws->hutch));
    }
    if (kind == SCORESDE_LOSS_ESM)
        SD_TRY(sd_model_score_c(l->reference, ws->x, ws->t, n, D, ref_cond, ws->sref));

    /* The score, the per-sample values and the backward seeds gs = w_i/n dQ/ds
     * (fill_rows), then the score's backward: fused, so a kind that keeps
     * its forward state (the MLP) runs the forward once. */
    const double inv_n = 1.0 / (double)n;
    fill_ctx fc = {l, ws, D, M, per_sample, grad != NULL, fused, inv_n, 0.0};
    if (grad) {
        SD_TRY(sd_model_score_vjp(model, ws->x, ws->t, n, D, cond, ws->s, ws->gs, fill_rows, &fc,
                                  grad, count));
    } else {
        if (joint)
            SD_TRY(sd_model_score_div_c(model, ws->x, ws->t, n, D, cond,
                                        kind == SCORESDE_LOSS_ISM ? NULL : ws->probes, M, ws->s,
                                        ws->hutch, NULL));
        else
            SD_TRY(sd_model_score_c(model, ws->x, ws->t, n, D, cond, ws->s));
        SD_TRY(fill_rows(0, n, &fc));
    }
    if (!grad) {
        *value = fc.total / (double)n;
        return SCORESDE_OK;
    }

    /* The probe terms' backward, added after the score's (both paths, so the
     * additions into grad run in one order): tr J = sum_j e_j^T J e_j for ISM,
     * the D axis probes with weight w_i / n; M probes with w_i / (n M) for
     * SSM and SSM_VR. */
    if (kind == SCORESDE_LOSS_ISM) {
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < D; j++)
                ws->pw[i * D + j] = ws->w[i] * inv_n;
    } else if (is_probe_kind(kind)) {
        for (size_t i = 0; i < n; i++)
            for (size_t m = 0; m < M; m++)
                ws->pw[i * M + m] = ws->w[i] * inv_n / (double)M;
    }
    if (fused) {
        /* One pass gives the terms (bit for bit those of divergence or
         * hutchinson) and their backward; the values follow, in index order. */
        const int ism = kind == SCORESDE_LOSS_ISM;
        SD_TRY(sd_model_probe_vjp(model, ws->x, ws->t, n, D, cond, ism ? NULL : ws->probes,
                                  ism ? D : M, ws->pw, ws->hutch, grad, count));
        for (size_t i = 0; i < n; i++)
            SD_TRY(add_value(&fc, i, ws->qs[i] + ws->hutch[i]));
    } else if (kind == SCORESDE_LOSS_ISM) {
        memset(ws->probes, 0, nD * D * sizeof(double));
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < D; j++)
                ws->probes[(i * D + j) * D + j] = 1.0;
        SD_TRY(sd_model_probe_backward_c(model, ws->x, ws->t, n, D, cond, ws->probes, D, ws->pw,
                                         grad, count));
    } else if (is_probe_kind(kind)) {
        SD_TRY(sd_model_probe_backward_c(model, ws->x, ws->t, n, D, cond, ws->probes, M, ws->pw,
                                         grad, count));
    }
    *value = fc.total / (double)n;
    return SCORESDE_OK;
}

int scoresde_loss_eval_cond(const scoresde_loss *loss, const scoresde_model *model,
                            const double *x0, size_t n, size_t D, const scoresde_cond *cond,
                            uint64_t seed, uint64_t first_sample, double *value,
                            double *per_sample, double *grad, size_t count)
{
    SD_TRY(sd_check_ptr(loss, "loss"));
    sd_cond rc;
    const sd_cond *rcp;
    SD_TRY(sd_cond_resolve(model, cond, n, &rc, &rcp));
    return sd_loss_eval_buf(loss, model, x0, n, D, rcp, seed, first_sample, value, per_sample,
                            grad, count, NULL);
}

int scoresde_loss_eval(const scoresde_loss *loss, const scoresde_model *model, const double *x0,
                       size_t n, size_t D, uint64_t seed, uint64_t first_sample, double *value,
                       double *per_sample, double *grad, size_t count)
{
    return scoresde_loss_eval_cond(loss, model, x0, n, D, NULL, seed, first_sample, value,
                                   per_sample, grad, count);
}

/* ESM's reference sees the model's condition when it takes the same one; an
 * unconditional reference sees none. */
static int reference_cond(const scoresde_model *ref, const scoresde_model *model,
                          const sd_cond *cond, size_t n, const sd_cond **out)
{
    *out = NULL;
    if (ref->cond_dim == 0)
        return SCORESDE_OK;
    if (ref->cond_dim != model->cond_dim || ref->cond_labels != model->cond_labels)
        return sd_fail(SCORESDE_EDIM,
                       "the reference model takes %zu condition features (%zu classes), the "
                       "model %zu (%zu classes)",
                       ref->cond_dim, ref->cond_labels, model->cond_dim, model->cond_labels);
    for (size_t i = 0; !ref->cond_null && i < n; i++)
        if (sd_cond_is_null(cond, i))
            return sd_fail(SCORESDE_EINVAL,
                           "sample %zu has the null condition, which the reference model does "
                           "not accept",
                           i);
    *out = cond;
    return SCORESDE_OK;
}

void sd_loss_buf_free(sd_loss_buf *buf)
{
    if (!buf)
        return;
    sd_free(buf->block);
    buf->block = NULL;
    buf->bytes = 0;
}

int sd_loss_eval_buf(const scoresde_loss *loss, const scoresde_model *model, const double *x0,
                     size_t n, size_t D, const sd_cond *cond, uint64_t seed,
                     uint64_t first_sample, double *value, double *per_sample, double *grad,
                     size_t count, sd_loss_buf *buf)
{
    SD_TRY(sd_check_ptr(loss, "loss"));
    SD_TRY(sd_check_ptr(model, "model"));
    SD_TRY(sd_check_ptr(value, "value"));
    SD_TRY(sd_check_batch(x0, n, D, "x0"));
    if (D != scoresde_model_dim(model))
        return sd_fail(SCORESDE_EDIM, "x0 has dimension %zu, the model expects %zu", D,
                       scoresde_model_dim(model));
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < D; j++)
            if (!isfinite(x0[i * D + j]))
                return sd_fail(SCORESDE_EINVAL, "x0 row %zu (column %zu) is not finite (%g)", i, j,
                               x0[i * D + j]);
    const int kind = loss->kind;
    if (kind == SCORESDE_LOSS_ESM) {
        if (!loss->reference)
            return sd_fail(SCORESDE_EINVAL, "the ESM loss has no reference model "
                                            "(scoresde_loss_set_reference)");
        if (scoresde_model_dim(loss->reference) != D)
            return sd_fail(SCORESDE_EDIM, "the reference model has dimension %zu, x0 has %zu",
                           scoresde_model_dim(loss->reference), D);
    }
    const sd_cond *ref_cond = NULL;
    if (kind == SCORESDE_LOSS_ESM && cond)
        SD_TRY(reference_cond(loss->reference, model, cond, n, &ref_cond));
    if (kind >= SCORESDE_LOSS_DSM && !is_level_kind(kind) &&
        loss->time_mode == SCORESDE_LOSS_TIME_DATA)
        return sd_fail(SCORESDE_EINVAL, "time mode DATA is not valid for the %s loss "
                                        "(it needs perturbed data)",
                       kind_name(kind));
    if (grad) {
        size_t np = scoresde_model_num_params(model);
        if (np == 0)
            return sd_fail(SCORESDE_EUNSUPPORTED,
                           "the model (kind %d) has no trainable parameters to differentiate",
                           scoresde_model_kind(model));
        if (count != np)
            return sd_fail(SCORESDE_EDIM, "count (%zu) differs from the model's %zu parameters",
                           count, np);
    } else if (count != 0) {
        return sd_fail(SCORESDE_EINVAL, "grad is NULL but count is %zu", count);
    }

    /* workspace: 6 n + 5 n D + n M D + n M (+ n D^2 for the ISM gradient on
     * the separate path) + 4 N, and the n levels */
    const size_t M = is_probe_kind(kind) ? loss->M : 1;
    size_t nD, nMD, probe_len, pw_len, tab_len, total;
    SD_TRY(sd_mul_size(n, D, &nD, "n x D"));
    SD_TRY(sd_mul_size(nD, M, &nMD, "n x M x D"));
    probe_len = nMD;
    pw_len = n * M;
    if (kind == SCORESDE_LOSS_ISM && grad) {
        /* the separate path's axis probes; the fused one makes them itself */
        if (!fused_probes(loss, model, grad))
            SD_TRY(sd_mul_size(nD, D, &probe_len, "n x D x D"));
        pw_len = nD;
    }
    tab_len = kind == SCORESDE_LOSS_DDPM ? 4 * loss->N : 0;
    const size_t nd6 = nD < 2 * n ? 2 * n : nD; /* gs doubles as DDPM's 2n coefficients */
    /* every term is below SIZE_MAX / 8 (checked products of sizes of arrays the
     * caller holds), so only the sum can overflow */
    total = 6 * n + 4 * nD + nd6;
    /* the n levels (size_t, the size of a double on every supported target,
     * checked below) ride at the end of the same block */
    const size_t rest[4] = {probe_len, pw_len, tab_len, n};
    for (int k = 0; k < 4; k++) {
        if (rest[k] > SIZE_MAX / sizeof(double) - total)
            return sd_fail(SCORESDE_EINVAL, "the loss workspace for n = %zu overflows", n);
        total += rest[k];
    }
    _Static_assert(sizeof(size_t) <= sizeof(double), "levels share the workspace block");
    const size_t bytes = total * sizeof(double);
    double *block;
    if (buf && buf->bytes >= bytes) {
        block = buf->block; /* the caller's, grown to fit an earlier call */
    } else {
        block = sd_malloc(bytes);
        if (!block)
            return sd_fail(SCORESDE_ENOMEM, "out of memory for the loss workspace (%zu doubles)",
                           total);
        if (buf) {
            sd_free(buf->block);
            buf->block = block;
            buf->bytes = bytes;
        }
    }
    size_t *levels = (size_t *)(void *)(block + total - n);
    loss_ws ws;
    double *p = block;
    ws.t = p, p += n;
    ws.alpha = p, p += n;
    ws.sigma = p, p += n;
    ws.w = p, p += n;
    ws.hutch = p, p += n;
    ws.qs = p, p += n;
    ws.x = p, p += nD;
    ws.z = p, p += nD;
    ws.s = p, p += nD;
    ws.sref = p, p += nD;
    ws.gs = p, p += nd6;
    ws.probes = p, p += probe_len;
    ws.pw = p, p += pw_len;
    ws.tab = p;
    memset(ws.z, 0, nD * sizeof(double));
    int rc = eval_impl(loss, model, x0, n, D, cond, ref_cond, seed, first_sample, value,
                       per_sample, grad, count, &ws, levels);
    if (!buf)
        sd_free(block);
    return rc;
}

/* The configuration, for checkpoints: every setting, in a fixed order. */
int sd_loss_write_config(const scoresde_loss *l, sd_writer *w)
{
    sd_writer_put_u32(w, (uint32_t)l->kind);
    sd_writer_put_u32(w, (uint32_t)l->time_mode);
    sd_writer_put_u32(w, (uint32_t)l->weighting);
    sd_writer_put_u32(w, (uint32_t)l->reduction);
    sd_writer_put_u32(w, (uint32_t)l->probe);
    sd_writer_put_u64(w, (uint64_t)l->M);
    sd_writer_put_u64(w, (uint64_t)l->N);
    sd_writer_put_f64(w, l->eps);
    sd_writer_put_f64(w, l->fixed_time);
    sd_writer_put_f64(w, l->p_mean);
    sd_writer_put_f64(w, l->p_std);
    return sd_writer_put_f64(w, l->sigma_data);
}

int sd_loss_check_config(const scoresde_loss *l, sd_reader *r)
{
    uint32_t u[5];
    uint64_t M, N;
    double d[5];
    for (int k = 0; k < 5; k++)
        SD_TRY(sd_reader_get_u32(r, &u[k], "loss setting"));
    SD_TRY(sd_reader_get_u64(r, &M, "loss probes M"));
    SD_TRY(sd_reader_get_u64(r, &N, "loss levels N"));
    for (int k = 0; k < 5; k++)
        SD_TRY(sd_reader_get_f64(r, &d[k], "loss setting"));
    const uint32_t have_u[5] = {(uint32_t)l->kind, (uint32_t)l->time_mode,
                                (uint32_t)l->weighting, (uint32_t)l->reduction,
                                (uint32_t)l->probe};
    const double have_d[5] = {l->eps, l->fixed_time, l->p_mean, l->p_std, l->sigma_data};
    static const char *const un[5] = {"kind", "time mode", "weighting", "reduction", "probe"};
    static const char *const dn[5] = {"eps", "fixed time", "P_mean", "P_std", "sigma_data"};
    for (int k = 0; k < 5; k++)
        if (u[k] != have_u[k])
            return sd_fail(SCORESDE_EINVAL,
                           "the checkpoint's loss has %s %u, the trainer's loss %u", un[k],
                           u[k], have_u[k]);
    if (M != l->M || N != l->N)
        return sd_fail(SCORESDE_EINVAL,
                       "the checkpoint's loss has M = %llu, N = %llu; the trainer's M = %zu, "
                       "N = %zu",
                       (unsigned long long)M, (unsigned long long)N, l->M, l->N);
    for (int k = 0; k < 5; k++)
        if (memcmp(&d[k], &have_d[k], sizeof(double)) != 0)
            return sd_fail(SCORESDE_EINVAL, "the checkpoint's loss has %s %g, the trainer's %g",
                           dn[k], d[k], have_d[k]);
    return SCORESDE_OK;
}
