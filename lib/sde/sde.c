/*
 * Forward SDEs: the built-in kinds, user schedules and custom SDEs, and the
 * operations on them. The formulas are those of docs/math.md section 1; see
 * include/scoresde/sde.h for the conventions.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "sde_internal.h"

/* Hooks are called on chunks of this many times, with stack buffers, so that
 * no call allocates for coefficient evaluation. */
enum { SD_CHUNK = 64 };

/* Points at which a user schedule is checked at creation: t_k = k T / 64. */
enum { SD_SCHEDULE_CHECKS = 64 };

struct scoresde_sde {
    int kind;
    double T;
    double eps_sample, eps_train;
    double p[3]; /* kind-specific parameters, as sd_sde_describe lists them */
    scoresde_schedule_fn schedule; /* SCHEDULE's schedule, CUSTOM's marginal */
    scoresde_drift_fn drift;
    scoresde_diffusion_fn diffusion;
    void *user;
};

/* ------------------------------------------------------------ construction */

static int sde_new(scoresde_sde **out, int kind, double T, double eps_sample, double eps_train)
{
    scoresde_sde *s = sd_calloc(1, sizeof *s);
    if (s == NULL)
        return SCORESDE_ENOMEM;
    s->kind = kind;
    s->T = T;
    s->eps_sample = eps_sample;
    s->eps_train = eps_train;
    *out = s;
    return SCORESDE_OK;
}

static int check_param_finite(double v, const char *name)
{
    if (!isfinite(v))
        return sd_fail(SCORESDE_EINVAL, "%s (%g) is not finite", name, v);
    return SCORESDE_OK;
}

static int start_create(scoresde_sde **out)
{
    SD_TRY(sd_check_ptr(out, "out"));
    *out = NULL;
    return SCORESDE_OK;
}

static int check_beta(double beta_min, double beta_max)
{
    SD_TRY(check_param_finite(beta_min, "beta_min"));
    SD_TRY(check_param_finite(beta_max, "beta_max"));
    if (beta_min < 0.0)
        return sd_fail(SCORESDE_EINVAL, "beta_min (%g) is negative", beta_min);
    if (beta_max < beta_min)
        return sd_fail(SCORESDE_EINVAL, "beta_max (%g) is below beta_min (%g)", beta_max,
                       beta_min);
    if (beta_max <= 0.0)
        return sd_fail(SCORESDE_EINVAL, "beta_max (%g) must be positive", beta_max);
    return SCORESDE_OK;
}

static int check_sigmas(double sigma_min, double sigma_max)
{
    SD_TRY(check_param_finite(sigma_min, "sigma_min"));
    SD_TRY(check_param_finite(sigma_max, "sigma_max"));
    if (sigma_min <= 0.0)
        return sd_fail(SCORESDE_EINVAL, "sigma_min (%g) must be positive", sigma_min);
    if (sigma_max <= sigma_min)
        return sd_fail(SCORESDE_EINVAL, "sigma_max (%g) must exceed sigma_min (%g)", sigma_max,
                       sigma_min);
    return SCORESDE_OK;
}

static int check_T(double T)
{
    SD_TRY(check_param_finite(T, "T"));
    if (T <= 0.0)
        return sd_fail(SCORESDE_EINVAL, "T (%g) must be positive", T);
    return SCORESDE_OK;
}

static int finish_builtin(scoresde_sde **out);

static int create_vp_like(scoresde_sde **out, int kind, double beta_min, double beta_max)
{
    SD_TRY(start_create(out));
    SD_TRY(check_beta(beta_min, beta_max));
    SD_TRY(sde_new(out, kind, 1.0, 1e-3, 1e-5));
    (*out)->p[0] = beta_min;
    (*out)->p[1] = beta_max;
    return finish_builtin(out);
}

int scoresde_sde_create_vp(scoresde_sde **out, double beta_min, double beta_max)
{
    return create_vp_like(out, SCORESDE_SDE_VP, beta_min, beta_max);
}

int scoresde_sde_create_subvp(scoresde_sde **out, double beta_min, double beta_max)
{
    return create_vp_like(out, SCORESDE_SDE_SUBVP, beta_min, beta_max);
}

int scoresde_sde_create_ve(scoresde_sde **out, double sigma_min, double sigma_max)
{
    SD_TRY(start_create(out));
    SD_TRY(check_sigmas(sigma_min, sigma_max));
    SD_TRY(sde_new(out, SCORESDE_SDE_VE, 1.0, 1e-5, 1e-5));
    (*out)->p[0] = sigma_min;
    (*out)->p[1] = sigma_max;
    return finish_builtin(out);
}

int scoresde_sde_create_edm(scoresde_sde **out, double sigma_min, double sigma_max)
{
    SD_TRY(start_create(out));
    SD_TRY(check_sigmas(sigma_min, sigma_max));
    SD_TRY(sde_new(out, SCORESDE_SDE_EDM, sigma_max, sigma_min, sigma_min));
    (*out)->p[0] = sigma_min;
    (*out)->p[1] = sigma_max;
    return finish_builtin(out);
}

int scoresde_sde_create_cosine(scoresde_sde **out, double s, double T)
{
    SD_TRY(start_create(out));
    SD_TRY(check_param_finite(s, "s"));
    SD_TRY(check_param_finite(T, "T"));
    if (s < 0.0)
        return sd_fail(SCORESDE_EINVAL, "s (%g) is negative", s);
    if (!(T > 0.0 && T < 1.0))
        return sd_fail(SCORESDE_EINVAL,
                       "T (%g) must lie in (0, 1): alpha(1) = 0 makes the drift infinite", T);
    SD_TRY(sde_new(out, SCORESDE_SDE_COSINE, T, 1e-3, 1e-5));
    (*out)->p[0] = s;
    (*out)->p[1] = T;
    return finish_builtin(out);
}

int scoresde_sde_create_ou(scoresde_sde **out, double theta, double s, double T)
{
    SD_TRY(start_create(out));
    SD_TRY(check_param_finite(theta, "theta"));
    SD_TRY(check_param_finite(s, "s"));
    if (theta <= 0.0)
        return sd_fail(SCORESDE_EINVAL, "theta (%g) must be positive", theta);
    if (s <= 0.0)
        return sd_fail(SCORESDE_EINVAL, "s (%g) must be positive", s);
    SD_TRY(check_T(T));
    SD_TRY(sde_new(out, SCORESDE_SDE_OU, T, 1e-3, 1e-5));
    (*out)->p[0] = theta;
    (*out)->p[1] = s;
    (*out)->p[2] = T;
    return finish_builtin(out);
}

int scoresde_sde_create_default(scoresde_sde **out, int kind)
{
    SD_TRY(start_create(out));
    switch (kind) {
    case SCORESDE_SDE_VE: return scoresde_sde_create_ve(out, 0.01, 50.0);
    case SCORESDE_SDE_VP: return scoresde_sde_create_vp(out, 0.1, 20.0);
    case SCORESDE_SDE_SUBVP: return scoresde_sde_create_subvp(out, 0.1, 20.0);
    case SCORESDE_SDE_COSINE: return scoresde_sde_create_cosine(out, 0.008, 0.9946);
    case SCORESDE_SDE_EDM: return scoresde_sde_create_edm(out, 0.002, 80.0);
    case SCORESDE_SDE_OU: return scoresde_sde_create_ou(out, 1.0, sqrt(2.0), 8.0);
    case SCORESDE_SDE_SCHEDULE:
    case SCORESDE_SDE_CUSTOM:
        return sd_fail(SCORESDE_EINVAL,
                       "kind %d (SCHEDULE or CUSTOM) has no defaults: create it with its hooks",
                       kind);
    default: return sd_fail(SCORESDE_EINVAL, "kind (%d) is not an SDE kind", kind);
    }
}

static int eval_schedule_hook(const scoresde_sde *sde, const double *t, size_t n, double *alpha,
                              double *sigma, double *da, double *ds);

/* g^2 = 2 sigma sigma' - 2 (alpha'/alpha) sigma^2 of a general schedule
 * (Exercise 8.1). Round-off in a schedule whose g is zero can leave a tiny
 * negative value: within 1e-12 of the size of the two terms it counts as 0.
 * Returns false if g^2 is negative beyond that or undefined (NaN: sigma = 0
 * with an infinite sigma'). */
static bool schedule_g2(double al, double si, double da, double ds, double *g2)
{
    double a = da / al, first = 2.0 * si * ds, second = 2.0 * a * si * si;
    double q = first - second;
    if (q < 0.0 && q >= -1e-12 * (fabs(first) + fabs(second)))
        q = 0.0;
    *g2 = q;
    return isfinite(q) && q >= 0.0;
}

int scoresde_sde_create_schedule(scoresde_sde **out, double T, scoresde_schedule_fn schedule,
                                 void *user)
{
    SD_TRY(start_create(out));
    SD_TRY(check_T(T));
    if (schedule == NULL)
        return sd_fail(SCORESDE_EINVAL, "schedule is NULL");
    scoresde_sde probe = {.kind = SCORESDE_SDE_SCHEDULE, .T = T, .schedule = schedule,
                          .user = user};
    double t[SD_SCHEDULE_CHECKS], al[SD_SCHEDULE_CHECKS], si[SD_SCHEDULE_CHECKS];
    double da[SD_SCHEDULE_CHECKS], ds[SD_SCHEDULE_CHECKS];
    for (size_t k = 0; k < SD_SCHEDULE_CHECKS; k++)
        t[k] = (double)(k + 1) * T / SD_SCHEDULE_CHECKS;
    t[SD_SCHEDULE_CHECKS - 1] = T;
    int rc = eval_schedule_hook(&probe, t, SD_SCHEDULE_CHECKS, al, si, da, ds);
    if (rc == SCORESDE_ENUMERIC)
        rc = SCORESDE_EINVAL; /* a bad schedule is a bad argument at creation */
    SD_TRY(rc);
    for (size_t k = 0; k < SD_SCHEDULE_CHECKS; k++) {
        if (!isfinite(ds[k]))
            return sd_fail(SCORESDE_EINVAL, "schedule: dsigma_dt(%g) = %g is not finite", t[k],
                           ds[k]);
        double g2;
        if (!schedule_g2(al[k], si[k], da[k], ds[k], &g2))
            return sd_fail(SCORESDE_EINVAL,
                           "schedule: g^2 = 2 sigma sigma' - 2 (alpha'/alpha) sigma^2 = %g < 0 "
                           "at t = %g (sigma must not shrink faster than alpha)",
                           g2, t[k]);
    }
    SD_TRY(sde_new(out, SCORESDE_SDE_SCHEDULE, T, 1e-3, 1e-5));
    (*out)->schedule = schedule;
    (*out)->user = user;
    return SCORESDE_OK;
}

int scoresde_sde_create_custom(scoresde_sde **out, double T, scoresde_drift_fn drift,
                               scoresde_diffusion_fn diffusion, scoresde_schedule_fn marginal,
                               void *user)
{
    SD_TRY(start_create(out));
    SD_TRY(check_T(T));
    if (drift == NULL)
        return sd_fail(SCORESDE_EINVAL, "drift is NULL");
    if (diffusion == NULL)
        return sd_fail(SCORESDE_EINVAL, "diffusion is NULL");
    SD_TRY(sde_new(out, SCORESDE_SDE_CUSTOM, T, 1e-3, 1e-5));
    (*out)->drift = drift;
    (*out)->diffusion = diffusion;
    (*out)->schedule = marginal;
    (*out)->user = user;
    return SCORESDE_OK;
}

void scoresde_sde_free(scoresde_sde *sde)
{
    sd_free(sde);
}

int scoresde_sde_clone(scoresde_sde **out, const scoresde_sde *sde)
{
    SD_TRY(start_create(out));
    SD_TRY(sd_check_ptr(sde, "sde"));
    scoresde_sde *c = sd_malloc(sizeof *c);
    if (c == NULL)
        return SCORESDE_ENOMEM;
    *c = *sde;
    *out = c;
    return SCORESDE_OK;
}

int scoresde_sde_kind(const scoresde_sde *sde)
{
    return sde ? sde->kind : 0;
}

double scoresde_sde_end_time(const scoresde_sde *sde)
{
    return sde ? sde->T : NAN;
}

double scoresde_sde_sampling_eps(const scoresde_sde *sde)
{
    return sde ? sde->eps_sample : NAN;
}

double scoresde_sde_training_eps(const scoresde_sde *sde)
{
    return sde ? sde->eps_train : NAN;
}

/* ------------------------------------------------------------ description */

int sd_sde_describe(const scoresde_sde *sde, int *kind, double params[8], size_t *count)
{
    SD_TRY(sd_check_ptr(sde, "sde"));
    SD_TRY(sd_check_ptr(kind, "kind"));
    SD_TRY(sd_check_ptr(params, "params"));
    SD_TRY(sd_check_ptr(count, "count"));
    size_t c;
    switch (sde->kind) {
    case SCORESDE_SDE_VE:
    case SCORESDE_SDE_VP:
    case SCORESDE_SDE_SUBVP:
    case SCORESDE_SDE_COSINE:
    case SCORESDE_SDE_EDM: c = 2; break;
    case SCORESDE_SDE_OU: c = 3; break;
    default:
        return sd_fail(SCORESDE_EUNSUPPORTED,
                       "an SDE of kind %d is defined by hooks and cannot be described",
                       sde->kind);
    }
    *kind = sde->kind;
    for (size_t i = 0; i < 8; i++)
        params[i] = i < c ? sde->p[i] : 0.0;
    *count = c;
    return SCORESDE_OK;
}

int sd_sde_from_description(int kind, const double *params, size_t count, scoresde_sde **out)
{
    SD_TRY(start_create(out));
    SD_TRY(sd_check_ptr(params, "params"));
    size_t want = kind == SCORESDE_SDE_OU ? 3 : 2;
    if (kind < SCORESDE_SDE_VE || kind > SCORESDE_SDE_OU || kind == SCORESDE_SDE_SCHEDULE)
        return sd_fail(SCORESDE_EINVAL, "kind (%d) is not a built-in SDE kind", kind);
    if (count != want)
        return sd_fail(SCORESDE_EINVAL, "count (%zu) must be %zu for kind %d", count, want, kind);
    switch (kind) {
    case SCORESDE_SDE_VE: return scoresde_sde_create_ve(out, params[0], params[1]);
    case SCORESDE_SDE_VP: return scoresde_sde_create_vp(out, params[0], params[1]);
    case SCORESDE_SDE_SUBVP: return scoresde_sde_create_subvp(out, params[0], params[1]);
    case SCORESDE_SDE_COSINE: return scoresde_sde_create_cosine(out, params[0], params[1]);
    case SCORESDE_SDE_EDM: return scoresde_sde_create_edm(out, params[0], params[1]);
    default: return scoresde_sde_create_ou(out, params[0], params[1], params[2]);
    }
}

/* ------------------------------------------------------------ coefficients */

static bool has_marginal(const scoresde_sde *sde)
{
    return sde->kind != SCORESDE_SDE_CUSTOM || sde->schedule != NULL;
}

static int need_marginal(const scoresde_sde *sde, const char *op)
{
    if (!has_marginal(sde))
        return sd_fail(SCORESDE_EUNSUPPORTED,
                       "%s needs the Gaussian marginal, and this custom SDE has no marginal hook",
                       op);
    return SCORESDE_OK;
}

static int check_times(const scoresde_sde *sde, const double *t, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (!(t[i] >= 0.0 && t[i] <= sde->T))
            return sd_fail(SCORESDE_EINVAL, "%s[%zu] (%g) is outside [0, T = %g]", what, i, t[i],
                           sde->T);
    return SCORESDE_OK;
}

/* VP's log mean coefficient: ln alpha(t) = -t^2 (bmax - bmin)/4 - t bmin/2. */
static double vp_lmc(const scoresde_sde *s, double t)
{
    return -0.25 * t * t * (s->p[1] - s->p[0]) - 0.5 * t * s->p[0];
}

/* Marginal coefficients of a built-in kind at one time. */
static void builtin_marginal(const scoresde_sde *s, double t, double *alpha, double *sigma,
                             double *da, double *ds)
{
    double al, si, dal, dsi;
    switch (s->kind) {
    case SCORESDE_SDE_VE: {
        double lr = log(s->p[1] / s->p[0]);
        al = 1.0;
        dal = 0.0;
        si = s->p[0] * exp(t * lr);
        dsi = si * lr;
        break;
    }
    case SCORESDE_SDE_VP:
    case SCORESDE_SDE_SUBVP: {
        double lmc = vp_lmc(s, t), beta = s->p[0] + t * (s->p[1] - s->p[0]);
        al = exp(lmc);
        dal = -0.5 * beta * al;
        double one_minus_a2 = -expm1(2.0 * lmc);
        if (s->kind == SCORESDE_SDE_VP) {
            si = sqrt(one_minus_a2);
            /* sigma' = -alpha alpha' / sigma; sigma ~ sqrt(bmin t) near 0. */
            dsi = si > 0.0 ? 0.5 * beta * al * al / si : INFINITY;
        } else {
            si = one_minus_a2;
            dsi = beta * al * al;
        }
        break;
    }
    case SCORESDE_SDE_COSINE: {
        double cs = s->p[0], k = 0.5 * M_PI / (1.0 + cs);
        double c0 = cos(cs * k), u = (t + cs) * k;
        al = cos(u) / c0;
        dal = -k * sin(u) / c0;
        /* 1 - alpha^2 without cancellation: (c0^2 - cos^2 u) / c0^2
         * = sin(u - cs k) sin(u + cs k) / c0^2. */
        double one_minus_a2 = sin(t * k) * sin(u + cs * k) / (c0 * c0);
        si = sqrt(one_minus_a2);
        dsi = si > 0.0 ? -al * dal / si : INFINITY;
        break;
    }
    case SCORESDE_SDE_EDM:
        al = 1.0;
        dal = 0.0;
        si = t;
        dsi = 1.0;
        break;
    default: { /* OU */
        double th = s->p[0], sd = s->p[1];
        al = exp(-th * t);
        dal = -th * al;
        double var = sd * sd * -expm1(-2.0 * th * t) / (2.0 * th);
        si = sqrt(var);
        /* d(sigma^2)/dt = s^2 exp(-2 theta t). */
        dsi = si > 0.0 ? 0.5 * sd * sd * al * al / si : INFINITY;
        break;
    }
    }
    *alpha = al;
    *sigma = si;
    *da = dal;
    *ds = dsi;
}

/* Call the schedule/marginal hook for n <= SD_CHUNK times and check its output. */
static int eval_schedule_hook(const scoresde_sde *sde, const double *t, size_t n, double *alpha,
                              double *sigma, double *da, double *ds)
{
    const char *hook = sde->kind == SCORESDE_SDE_CUSTOM ? "marginal" : "schedule";
    if (sde->schedule(t, n, alpha, sigma, da, ds, sde->user) != 0)
        return sd_fail(SCORESDE_ECALLBACK, "the %s hook returned non-zero", hook);
    for (size_t i = 0; i < n; i++) {
        if (!(isfinite(alpha[i]) && alpha[i] > 0.0))
            return sd_fail(SCORESDE_ENUMERIC, "%s hook: alpha(%g) = %g must be positive",
                           hook, t[i], alpha[i]);
        if (!(isfinite(sigma[i]) && sigma[i] >= 0.0))
            return sd_fail(SCORESDE_ENUMERIC, "%s hook: sigma(%g) = %g must be >= 0", hook, t[i],
                           sigma[i]);
        if (!isfinite(da[i]))
            return sd_fail(SCORESDE_ENUMERIC, "%s hook: dalpha_dt(%g) = %g is not finite",
                           hook, t[i], da[i]);
        if (isnan(ds[i]) || (isinf(ds[i]) && !(ds[i] > 0.0 && sigma[i] == 0.0)))
            return sd_fail(SCORESDE_ENUMERIC,
                           "%s hook: dsigma_dt(%g) = %g (only +inf where sigma = 0 is "
                           "allowed)",
                           hook, t[i], ds[i]);
    }
    return SCORESDE_OK;
}

/* alpha, sigma, alpha', sigma' at n <= SD_CHUNK times (all outputs non-NULL). */
static int marginal_chunk(const scoresde_sde *sde, const double *t, size_t n, double *alpha,
                          double *sigma, double *da, double *ds)
{
    if (sde->kind == SCORESDE_SDE_SCHEDULE || sde->kind == SCORESDE_SDE_CUSTOM)
        return eval_schedule_hook(sde, t, n, alpha, sigma, da, ds);
    for (size_t i = 0; i < n; i++)
        builtin_marginal(sde, t[i], alpha + i, sigma + i, da + i, ds + i);
    return SCORESDE_OK;
}

/* Drift factor a(t) (f = a x) and g(t)^2 for n <= SD_CHUNK times; not for CUSTOM. */
static int affine_chunk(const scoresde_sde *sde, const double *t, size_t n, double *a,
                        double *g2)
{
    if (sde->kind == SCORESDE_SDE_SCHEDULE) {
        double al[SD_CHUNK], si[SD_CHUNK], da[SD_CHUNK], ds[SD_CHUNK];
        SD_TRY(eval_schedule_hook(sde, t, n, al, si, da, ds));
        for (size_t i = 0; i < n; i++) {
            a[i] = da[i] / al[i];
            if (g2 == NULL)
                continue;
            double q;
            if (!schedule_g2(al[i], si[i], da[i], ds[i], &q))
                return sd_fail(SCORESDE_ENUMERIC,
                               "schedule: g^2 = %g at t = %g (alpha %g, sigma %g, alpha' %g, "
                               "sigma' %g) is negative or undefined",
                               q, t[i], al[i], si[i], da[i], ds[i]);
            g2[i] = q;
        }
        return SCORESDE_OK;
    }
    const double *p = sde->p;
    for (size_t i = 0; i < n; i++) {
        double ti = t[i], ai, gi;
        switch (sde->kind) {
        case SCORESDE_SDE_VE: {
            double lr = log(p[1] / p[0]), s = p[0] * exp(ti * lr);
            ai = 0.0;
            gi = 2.0 * lr * s * s;
            break;
        }
        case SCORESDE_SDE_VP:
        case SCORESDE_SDE_SUBVP: {
            double beta = p[0] + ti * (p[1] - p[0]);
            ai = -0.5 * beta;
            gi = sde->kind == SCORESDE_SDE_VP ? beta : beta * -expm1(4.0 * vp_lmc(sde, ti));
            break;
        }
        case SCORESDE_SDE_COSINE: {
            /* alpha^2 + sigma^2 = 1 gives g^2 = -2 alpha'/alpha. */
            double k = 0.5 * M_PI / (1.0 + p[0]);
            ai = -k * tan((ti + p[0]) * k);
            gi = -2.0 * ai;
            break;
        }
        case SCORESDE_SDE_EDM:
            ai = 0.0;
            gi = 2.0 * ti;
            break;
        default: /* OU */
            ai = -p[0];
            gi = p[1] * p[1];
            break;
        }
        a[i] = ai;
        if (g2)
            g2[i] = gi;
    }
    return SCORESDE_OK;
}

/* g(t) for n <= SD_CHUNK times, any kind. */
static int diffusion_chunk(const scoresde_sde *sde, const double *t, size_t n, double *g)
{
    if (sde->kind == SCORESDE_SDE_CUSTOM) {
        if (sde->diffusion(t, n, g, sde->user) != 0)
            return sd_fail(SCORESDE_ECALLBACK, "the diffusion hook returned non-zero");
        for (size_t i = 0; i < n; i++)
            if (!(isfinite(g[i]) && g[i] >= 0.0))
                return sd_fail(SCORESDE_ENUMERIC, "diffusion hook: g(%g) = %g must be finite and >= 0",
                               t[i], g[i]);
        return SCORESDE_OK;
    }
    double a[SD_CHUNK];
    SD_TRY(affine_chunk(sde, t, n, a, g));
    for (size_t i = 0; i < n; i++)
        g[i] = sqrt(g[i]);
    return SCORESDE_OK;
}

/* f(x, t) for n samples (any n): a(t) x for the affine kinds, the hook for CUSTOM. */
static int drift_batch(const scoresde_sde *sde, const double *x, const double *t, size_t n,
                       size_t D, double *f)
{
    if (sde->kind == SCORESDE_SDE_CUSTOM) {
        if (sde->drift(x, t, n, D, f, sde->user) != 0)
            return sd_fail(SCORESDE_ECALLBACK, "the drift hook returned non-zero");
        for (size_t k = 0; k < n * D; k++)
            if (!isfinite(f[k]))
                return sd_fail(SCORESDE_ENUMERIC,
                               "drift hook: f[%zu] = %g is not finite (sample %zu, t = %g)", k,
                               f[k], k / D, t[k / D]);
        return SCORESDE_OK;
    }
    double a[SD_CHUNK];
    for (size_t i0 = 0; i0 < n; i0 += SD_CHUNK) {
        size_t m = n - i0 < SD_CHUNK ? n - i0 : SD_CHUNK;
        SD_TRY(affine_chunk(sde, t + i0, m, a, NULL));
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < D; j++)
                f[(i0 + i) * D + j] = a[i] * x[(i0 + i) * D + j];
    }
    return SCORESDE_OK;
}

/* ------------------------------------------------------------ public coefficients */

static int check_sde_times(const scoresde_sde *sde, const double *t, size_t n)
{
    SD_TRY(sd_check_ptr(sde, "sde"));
    SD_TRY(sd_check_size(n, "n"));
    size_t count;
    SD_TRY(sd_doubles_count(n, 1, &count, "t"));
    SD_TRY(sd_check_ptr(t, "t"));
    return check_times(sde, t, n, "t");
}

/* The checks every batched operation starts with. */
static int check_batch_op(const scoresde_sde *sde, const double *x, const char *xname,
                          const double *t, size_t n, size_t D, const void *out,
                          const char *outname)
{
    SD_TRY(sd_check_ptr(sde, "sde"));
    SD_TRY(sd_check_doubles(x, n, D, xname));
    SD_TRY(sd_check_ptr(t, "t"));
    SD_TRY(sd_check_ptr(out, outname));
    return check_times(sde, t, n, "t");
}

int scoresde_sde_marginal(const scoresde_sde *sde, const double *t, size_t n, double *alpha,
                          double *sigma, double *dalpha_dt, double *dsigma_dt)
{
    SD_TRY(check_sde_times(sde, t, n));
    SD_TRY(need_marginal(sde, "marginal"));
    double al[SD_CHUNK], si[SD_CHUNK], da[SD_CHUNK], ds[SD_CHUNK];
    for (size_t i0 = 0; i0 < n; i0 += SD_CHUNK) {
        size_t m = n - i0 < SD_CHUNK ? n - i0 : SD_CHUNK;
        SD_TRY(marginal_chunk(sde, t + i0, m, al, si, da, ds));
        size_t bytes = m * sizeof(double);
        if (alpha)
            memcpy(alpha + i0, al, bytes);
        if (sigma)
            memcpy(sigma + i0, si, bytes);
        if (dalpha_dt)
            memcpy(dalpha_dt + i0, da, bytes);
        if (dsigma_dt)
            memcpy(dsigma_dt + i0, ds, bytes);
    }
    return SCORESDE_OK;
}

int scoresde_sde_drift(const scoresde_sde *sde, const double *x, const double *t, size_t n,
                       size_t D, double *f_out)
{
    SD_TRY(check_batch_op(sde, x, "x", t, n, D, f_out, "f_out"));
    return drift_batch(sde, x, t, n, D, f_out);
}

int scoresde_sde_diffusion(const scoresde_sde *sde, const double *t, size_t n, double *g_out)
{
    SD_TRY(check_sde_times(sde, t, n));
    SD_TRY(sd_check_ptr(g_out, "g_out"));
    for (size_t i0 = 0; i0 < n; i0 += SD_CHUNK) {
        size_t m = n - i0 < SD_CHUNK ? n - i0 : SD_CHUNK;
        SD_TRY(diffusion_chunk(sde, t + i0, m, g_out + i0));
    }
    return SCORESDE_OK;
}

/* ------------------------------------------------------------ perturbation */

int scoresde_sde_perturb(const scoresde_sde *sde, const double *x0, const double *t, size_t n,
                         size_t D, uint64_t seed, uint64_t first_sample, uint64_t draw,
                         double *xt_out, double *z_out)
{
    SD_TRY(check_batch_op(sde, x0, "x0", t, n, D, xt_out, "xt_out"));
    SD_TRY(sd_check_draws(draw, D, 1, "D"));
    SD_TRY(need_marginal(sde, "perturb"));
    double al[SD_CHUNK], si[SD_CHUNK], da[SD_CHUNK], ds[SD_CHUNK];
    for (size_t i0 = 0; i0 < n; i0 += SD_CHUNK) {
        size_t m = n - i0 < SD_CHUNK ? n - i0 : SD_CHUNK;
        SD_TRY(marginal_chunk(sde, t + i0, m, al, si, da, ds));
        for (size_t i = 0; i < m; i++) {
            size_t row = (i0 + i) * D;
            /* z goes to z_out if given, else straight into xt_out's row. */
            double *z = z_out ? z_out + row : xt_out + row;
            if (z_out == NULL && xt_out == x0) {
                /* In place without z_out: combine element by element. */
                for (size_t j = 0; j < D; j++) {
                    double zj;
                    sd_rng_normal(seed, first_sample + i0 + i,
                                  SCORESDE_RNG_OFFSET(SCORESDE_RNG_PERTURB, draw + j), 1, &zj);
                    xt_out[row + j] = al[i] * x0[row + j] + si[i] * zj;
                }
                continue;
            }
            sd_rng_normal(seed, first_sample + i0 + i,
                          SCORESDE_RNG_OFFSET(SCORESDE_RNG_PERTURB, draw), D, z);
            for (size_t j = 0; j < D; j++)
                xt_out[row + j] = al[i] * x0[row + j] + si[i] * z[j];
        }
    }
    return SCORESDE_OK;
}

int scoresde_sde_kernel_score(const scoresde_sde *sde, const double *xt, const double *x0,
                              const double *t, size_t n, size_t D, double *score_out)
{
    SD_TRY(check_batch_op(sde, xt, "xt", t, n, D, score_out, "score_out"));
    SD_TRY(sd_check_doubles(x0, n, D, "x0"));
    SD_TRY(need_marginal(sde, "kernel_score"));
    double al[SD_CHUNK], si[SD_CHUNK], da[SD_CHUNK], ds[SD_CHUNK];
    for (size_t i0 = 0; i0 < n; i0 += SD_CHUNK) {
        size_t m = n - i0 < SD_CHUNK ? n - i0 : SD_CHUNK;
        SD_TRY(marginal_chunk(sde, t + i0, m, al, si, da, ds));
        for (size_t i = 0; i < m; i++) {
            if (si[i] == 0.0)
                return sd_fail(SCORESDE_EINVAL,
                               "t[%zu] (%g): sigma(t) = 0, where the kernel score is undefined",
                               i0 + i, t[i0 + i]);
            double inv = 1.0 / (si[i] * si[i]);
            size_t row = (i0 + i) * D;
            for (size_t j = 0; j < D; j++)
                score_out[row + j] = -(xt[row + j] - al[i] * x0[row + j]) * inv;
        }
    }
    return SCORESDE_OK;
}

/* ------------------------------------------------------------ prior */

int scoresde_sde_prior_var(const scoresde_sde *sde, double *var)
{
    SD_TRY(sd_check_ptr(sde, "sde"));
    SD_TRY(sd_check_ptr(var, "var"));
    SD_TRY(need_marginal(sde, "prior_var"));
    switch (sde->kind) {
    case SCORESDE_SDE_VE: *var = sde->p[1] * sde->p[1]; return SCORESDE_OK;
    case SCORESDE_SDE_VP:
    case SCORESDE_SDE_SUBVP: *var = 1.0; return SCORESDE_OK;
    case SCORESDE_SDE_EDM: *var = sde->T * sde->T; return SCORESDE_OK;
    case SCORESDE_SDE_OU: *var = sde->p[1] * sde->p[1] / (2.0 * sde->p[0]); return SCORESDE_OK;
    default: {
        double al, si, da, ds;
        SD_TRY(marginal_chunk(sde, &sde->T, 1, &al, &si, &da, &ds));
        if (!(si > 0.0))
            return sd_fail(SCORESDE_ENUMERIC, "sigma(T = %g) is zero: no prior", sde->T);
        *var = si * si;
        return SCORESDE_OK;
    }
    }
}

/* The names of a built-in kind's parameters, in sd_sde_describe's order. */
static const char *const builtin_param_names[][3] = {
    [SCORESDE_SDE_VE] = {"sigma_min", "sigma_max", NULL},
    [SCORESDE_SDE_VP] = {"beta_min", "beta_max", NULL},
    [SCORESDE_SDE_SUBVP] = {"beta_min", "beta_max", NULL},
    [SCORESDE_SDE_COSINE] = {"s", "T", NULL},
    [SCORESDE_SDE_EDM] = {"sigma_min", "sigma_max", NULL},
    [SCORESDE_SDE_OU] = {"theta", "s", "T"},
};

/* Refuse a built-in SDE whose parameters, each valid alone, have
 * consequences that are not: record the message naming them all. */
static int refuse_builtin(const scoresde_sde *s, const char *fmt, double a, double b)
{
    char what[160], params[200];
    snprintf(what, sizeof what, fmt, a, b);
    size_t len = 0;
    for (size_t i = 0; i < 3 && builtin_param_names[s->kind][i] && len < sizeof params; i++)
        len += (size_t)snprintf(params + len, sizeof params - len, "%s%s = %g", i ? ", " : "",
                                builtin_param_names[s->kind][i], s->p[i]);
    return sd_fail(SCORESDE_EINVAL, "the parameters %s give %s", params, what);
}

/* The one place where a built-in SDE's consequences are checked, at creation
 * (files go through the same creators): the default eps lie below T; at the
 * times the library uses (0, both eps, T/2, T) alpha is finite and positive,
 * sigma^2 finite and (after 0) positive, g^2 finite and >= 0; the prior
 * variance is finite and positive. The drift factor needs no check: it is 0
 * (VE, EDM), -beta/2 or -theta of finite parameters, or the cosine's
 * -k tan((t + s) k), finite for every finite argument (no double is an odd
 * multiple of pi/2). */
static int check_builtin(const scoresde_sde *s)
{
    /* Every kind's training eps is at most its sampling eps (sde_new's
     * callers), so this also keeps the training eps below T. */
    if (!(s->eps_sample < s->T))
        return refuse_builtin(s, "a sampling eps (%g) not below T (%g)", s->eps_sample, s->T);
    const double t[5] = {0.0, s->eps_train, s->eps_sample, 0.5 * s->T, s->T};
    double a[5], g2[5];
    SD_TRY(affine_chunk(s, t, 5, a, g2));
    for (size_t i = 0; i < 5; i++) {
        double al, si, da, ds;
        builtin_marginal(s, t[i], &al, &si, &da, &ds);
        if (!(isfinite(al) && al > 0.0))
            return refuse_builtin(s, "alpha(%g) = %g (it must be finite and positive)", t[i], al);
        if (!(isfinite(si * si) && (t[i] == 0.0 || si * si > 0.0)))
            return refuse_builtin(s, "sigma(%g) = %g (sigma^2 must be finite and positive)", t[i],
                                  si);
        if (!(isfinite(g2[i]) && g2[i] >= 0.0))
            return refuse_builtin(s, "g^2(%g) = %g (it must be finite and >= 0)", t[i], g2[i]);
    }
    double var;
    SD_TRY(scoresde_sde_prior_var(s, &var));
    if (!(isfinite(var) && var > 0.0))
        return refuse_builtin(s, "a prior variance of %g (it must be finite and positive)", var,
                              0.0);
    return SCORESDE_OK;
}

/* Check a new built-in SDE; on failure free it and set *out to NULL. */
static int finish_builtin(scoresde_sde **out)
{
    int rc = check_builtin(*out);
    if (rc != SCORESDE_OK) {
        scoresde_sde_free(*out);
        *out = NULL;
    }
    return rc;
}

int scoresde_sde_prior_sample(const scoresde_sde *sde, size_t n, size_t D, uint64_t seed,
                              uint64_t first_sample, uint64_t draw, double *x_out)
{
    SD_TRY(sd_check_ptr(sde, "sde"));
    SD_TRY(sd_check_batch(x_out, n, D, "x_out"));
    SD_TRY(sd_check_draws(draw, D, 1, "D"));
    double var;
    SD_TRY(scoresde_sde_prior_var(sde, &var));
    double sd = sqrt(var);
    for (size_t i = 0; i < n; i++) {
        double *row = x_out + i * D;
        sd_rng_normal(seed, first_sample + i, SCORESDE_RNG_OFFSET(SCORESDE_RNG_PRIOR, draw), D,
                      row);
        for (size_t j = 0; j < D; j++)
            row[j] *= sd;
    }
    return SCORESDE_OK;
}

int scoresde_sde_prior_logp(const scoresde_sde *sde, const double *x, size_t n, size_t D,
                            double *logp_out)
{
    SD_TRY(sd_check_ptr(sde, "sde"));
    SD_TRY(sd_check_doubles(x, n, D, "x"));
    SD_TRY(sd_check_ptr(logp_out, "logp_out"));
    double var;
    SD_TRY(scoresde_sde_prior_var(sde, &var));
    double c = -0.5 * (double)D * log(2.0 * M_PI * var);
    for (size_t i = 0; i < n; i++) {
        double ss = 0.0;
        for (size_t j = 0; j < D; j++)
            ss += x[i * D + j] * x[i * D + j];
        logp_out[i] = c - ss / (2.0 * var);
    }
    return SCORESDE_OK;
}

/* ------------------------------------------------------------ discretisation */

int scoresde_sde_discretize(const scoresde_sde *sde, size_t N, const double *x, const double *t,
                            size_t n, size_t D, double *f_out, double *G_out)
{
    SD_TRY(check_batch_op(sde, x, "x", t, n, D, f_out, "f_out"));
    SD_TRY(sd_check_ptr(G_out, "G_out"));
    if (N < 2)
        return sd_fail(SCORESDE_EINVAL, "N (%zu) must be at least 2", N);
    double Nm1 = (double)(N - 1), Nd = (double)N, T = sde->T;
    for (size_t i = 0; i < n; i++) {
        double lev = nearbyint(t[i] * Nm1 / T);
        size_t level = (size_t)lev;
        double ti = lev * T / Nm1, r, G;
        const double *xi = x + i * D;
        double *fi = f_out + i * D;
        if (sde->kind == SCORESDE_SDE_VP) {
            double beta = sde->p[0] / Nd + (double)level * (sde->p[1] - sde->p[0]) / (Nd * Nm1);
            r = sqrt(1.0 - beta);
            G = sqrt(beta);
        } else if (sde->kind == SCORESDE_SDE_VE) {
            double lr = log(sde->p[1] / sde->p[0]);
            double s = sde->p[0] * exp(lev / Nm1 * lr);
            double sp = level == 0 ? 0.0 : sde->p[0] * exp((lev - 1.0) / Nm1 * lr);
            r = 1.0;
            G = sqrt(s * s - sp * sp);
        } else if (has_marginal(sde)) {
            double al[2], si[2], da[2], ds[2], tt[2];
            tt[0] = ti;
            SD_TRY(marginal_chunk(sde, tt, 1, al, si, da, ds));
            if (level == 0) {
                al[1] = 1.0;
                si[1] = 0.0;
            } else {
                tt[1] = (lev - 1.0) * T / Nm1;
                SD_TRY(marginal_chunk(sde, tt + 1, 1, al + 1, si + 1, da + 1, ds + 1));
            }
            r = al[0] / al[1];
            double v = si[0] * si[0] - r * r * si[1] * si[1];
            if (!(v >= 0.0))
                return sd_fail(SCORESDE_ENUMERIC,
                               "discretize: sigma_i^2 - r^2 sigma_{i-1}^2 = %g < 0 at level %zu",
                               v, level);
            G = sqrt(v);
        } else {
            /* Euler-Maruyama with dt = T / N, as score_sde's default. */
            double dt = T / Nd, g;
            SD_TRY(drift_batch(sde, xi, &ti, 1, D, fi));
            SD_TRY(diffusion_chunk(sde, &ti, 1, &g));
            for (size_t j = 0; j < D; j++)
                fi[j] *= dt;
            G_out[i] = g * sqrt(dt);
            continue;
        }
        for (size_t j = 0; j < D; j++)
            fi[j] = (r - 1.0) * xi[j];
        G_out[i] = G;
    }
    return SCORESDE_OK;
}

/* ------------------------------------------------------------ reverse time */

int scoresde_sde_reverse_drift(const scoresde_sde *sde, const double *x, const double *t,
                               const double *score, size_t n, size_t D, double lam, double *out)
{
    SD_TRY(check_batch_op(sde, x, "x", t, n, D, out, "out"));
    SD_TRY(sd_check_doubles(score, n, D, "score"));
    if (!(isfinite(lam) && lam >= 0.0))
        return sd_fail(SCORESDE_EINVAL, "lam (%g) must be finite and >= 0", lam);
    double w = 0.5 * (1.0 + lam * lam);
    double g[SD_CHUNK];
    SD_TRY(drift_batch(sde, x, t, n, D, out));
    for (size_t i0 = 0; i0 < n; i0 += SD_CHUNK) {
        size_t m = n - i0 < SD_CHUNK ? n - i0 : SD_CHUNK;
        SD_TRY(diffusion_chunk(sde, t + i0, m, g));
        for (size_t i = 0; i < m; i++) {
            size_t row = (i0 + i) * D;
            double c = w * g[i] * g[i];
            for (size_t j = 0; j < D; j++)
                out[row + j] -= c * score[row + j];
        }
    }
    return SCORESDE_OK;
}

int scoresde_sde_pf_drift(const scoresde_sde *sde, const double *x, const double *t,
                          const double *score, size_t n, size_t D, double *out)
{
    return scoresde_sde_reverse_drift(sde, x, t, score, n, D, 0.0, out);
}

/* ------------------------------------------------------------ simulation */

/* Simulation runs blocks of SIM_ROWS samples through all steps, drawing the
 * Brownian increments of SIM_STEPS steps per generator call: a sample's
 * increments of consecutive steps are consecutive offsets of its stream, so one
 * call fills both Box-Muller lanes of every Philox block (D = 1 would otherwise
 * waste half of each). The workspace does not grow with n. */
enum { SIM_ROWS = 256, SIM_STEPS = 16 };

int scoresde_sde_simulate(const scoresde_sde *sde, const double *x0, size_t n, size_t D,
                          double t0, double t1, uint64_t steps, uint64_t seed,
                          uint64_t first_sample, uint64_t draw, double *x_out)
{
    SD_TRY(sd_check_ptr(sde, "sde"));
    SD_TRY(sd_check_doubles(x0, n, D, "x0"));
    SD_TRY(sd_check_ptr(x_out, "x_out"));
    if (steps == 0)
        return sd_fail(SCORESDE_EINVAL, "steps is zero");
    if (!(t0 >= 0.0 && t0 <= sde->T))
        return sd_fail(SCORESDE_EINVAL, "t0 (%g) is outside [0, T = %g]", t0, sde->T);
    if (!(t1 >= 0.0 && t1 <= sde->T))
        return sd_fail(SCORESDE_EINVAL, "t1 (%g) is outside [0, T = %g]", t1, sde->T);
    if (!(t1 > t0))
        return sd_fail(SCORESDE_EINVAL, "t1 (%g) must be after t0 (%g)", t1, t0);
    SD_TRY(sd_check_draws(draw, steps, D, "steps"));
    size_t rows = n < SIM_ROWS ? n : SIM_ROWS;
    size_t zcount, fcount;
    SD_TRY(sd_mul_size(rows * D, SIM_STEPS, &zcount, "simulate workspace"));
    fcount = rows * D;
    if (zcount > SIZE_MAX / sizeof(double) - fcount - rows)
        return sd_fail(SCORESDE_ENOMEM, "simulate: the workspace for D = %zu overflows", D);
    double *work = sd_malloc((zcount + fcount + rows) * sizeof(double));
    if (work == NULL)
        return SCORESDE_ENOMEM;
    double *z = work, *f = work + zcount, *tv = f + fcount;
    if (x_out != x0)
        memmove(x_out, x0, n * D * sizeof(double));
    double dt = (t1 - t0) / (double)steps, sq = sqrt(dt);
    int rc = SCORESDE_OK;
    for (size_t i0 = 0; i0 < n && rc == SCORESDE_OK; i0 += SIM_ROWS) {
        size_t m = n - i0 < SIM_ROWS ? n - i0 : SIM_ROWS;
        double *xb = x_out + i0 * D;
        for (uint64_t k0 = 0; k0 < steps && rc == SCORESDE_OK; k0 += SIM_STEPS) {
            size_t ks = (size_t)(steps - k0 < SIM_STEPS ? steps - k0 : SIM_STEPS);
            uint64_t off = SCORESDE_RNG_OFFSET(SCORESDE_RNG_SIMULATE, draw + k0 * D);
            for (size_t i = 0; i < m; i++)
                sd_rng_normal(seed, first_sample + i0 + i, off, ks * D, z + i * ks * D);
            for (uint64_t k = k0; k < k0 + ks; k++) {
                double tk = t0 + (double)k * dt, g;
                for (size_t i = 0; i < m; i++)
                    tv[i] = tk;
                rc = drift_batch(sde, xb, tv, m, D, f);
                if (rc == SCORESDE_OK)
                    rc = diffusion_chunk(sde, tv, 1, &g);
                if (rc != SCORESDE_OK)
                    break;
                double gs = g * sq;
                for (size_t i = 0; i < m; i++) {
                    double *xi = xb + i * D;
                    const double *fi = f + i * D, *zi = z + (i * ks + (size_t)(k - k0)) * D;
                    bool finite = true;
                    for (size_t j = 0; j < D; j++) {
                        xi[j] += fi[j] * dt + gs * zi[j];
                        finite &= isfinite(xi[j]) != 0;
                    }
                    if (!finite) {
                        rc = sd_fail(SCORESDE_ENUMERIC,
                                     "simulate: sample %zu became non-finite at step %llu (t = %g)",
                                     i0 + i, (unsigned long long)k, tk + dt);
                        break;
                    }
                }
                if (rc != SCORESDE_OK)
                    break;
            }
        }
    }
    sd_free(work);
    return rc;
}
