/*
 * The sampler handle (settings with bounds and defaults, grids) and the driver
 * that runs a method over blocks of samples on several threads.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "sde_internal.h"
#include "settings.h"
#include "solve_internal.h"

/* ------------------------------------------------------------------ settings */

/* One row per setting (lib/core/settings.h), each kept in s->opt[id]; the
 * header lists the same bounds and defaults. A method row's own defaults
 * (sd_method_ops.defaults) replace `def` for a sampler of that method; NaN
 * ("the library chooses") only for EPS, H_INIT and H_MIN. KEY is the public
 * name (scoresde_sampler_setting_name), and an enum-valued setting (ROW_E)
 * names its values LO..HI (scoresde_sampler_value_name). */
static const char *const predictor_names[] = {"none", "euler_maruyama", "reverse_diffusion",
                                              "ancestral"};
static const char *const corrector_names[] = {"none", "langevin", "annealed"};
static const char *const norms_names[] = {"per_sample", "batch", "noise_level"};
static const char *const grid_names[] = {"uniform_t", "karras", "logsnr", "array", "power"};
static const char *const solver_names[] = {"euler", "heun", "rk4", "dopri5"};
static const char *const divergence_names[] = {"exact", "rademacher", "gaussian"};
static const char *const bound_time_names[] = {"uniform", "importance"};
static const char *const final_names[] = {"stop", "tweedie", "to_zero"};
#define OPT(ID) (offsetof(scoresde_sampler, opt) + (size_t)(ID) * sizeof(double))
#define ROW_E(ID, KEY, LO, HI, DEF, VALUES)                                                     \
    [SCORESDE_SAMPLER_##ID] = {SCORESDE_SAMPLER_##ID, #ID, SD_STORE_INT_DOUBLE,                   \
                               OPT(SCORESDE_SAMPLER_##ID), LO, HI, 0, 0, 0, DEF, KEY, VALUES}
#define ROW_I(ID, KEY, LO, HI, DEF) ROW_E(ID, KEY, LO, HI, DEF, NULL)
#define ROW_D(ID, KEY, LO, HI, NAN_OK, DEF)                                                     \
    [SCORESDE_SAMPLER_##ID] = {SCORESDE_SAMPLER_##ID, #ID, SD_STORE_DOUBLE,                       \
                               OPT(SCORESDE_SAMPLER_##ID), 0, 0, LO, HI, NAN_OK, DEF, KEY, NULL}
static const sd_setting sampler_rows[SD_SAMPLER_NOPT] = {
    ROW_I(STEPS, "steps", 1, 1000000, 1000),
    ROW_D(EPS, "eps", 0, 1e300, 1, NAN),
    ROW_E(PREDICTOR, "predictor", 0, 3, SCORESDE_SAMPLER_PREDICTOR_REVERSE_DIFFUSION,
          predictor_names),
    ROW_E(CORRECTOR, "corrector", 0, 2, SCORESDE_SAMPLER_CORRECTOR_LANGEVIN, corrector_names),
    ROW_I(CORRECTOR_STEPS, "corrector_steps", 0, 1000, 1),
    ROW_D(SNR, "snr", 0, 100, 0, 0.16),
    ROW_E(BATCH_NORMS, "batch_norms", 0, 2, SCORESDE_SAMPLER_NORMS_NOISE_LEVEL, norms_names),
    ROW_I(DENOISE, "denoise", 0, 1, 1),
    ROW_D(LAM, "lam", 0, 100, 0, 1),
    /* 4 = ARRAY: set_grid only */
    ROW_E(GRID, "grid", 1, 5, SCORESDE_SAMPLER_GRID_UNIFORM_T, grid_names),
    ROW_D(RHO, "rho", 1e-3, 1e3, 0, 7),
    ROW_I(THREADS, "threads", 1, 1024, 1),
    ROW_I(BLOCK, "block", 1, 1048576, 64),
    ROW_D(ALD_STEP, "ald_step", 1e-12, 1e3, 0, 2e-5),
    ROW_E(SOLVER, "solver", 1, 4, SCORESDE_SAMPLER_SOLVER_DOPRI5, solver_names),
    ROW_D(RTOL, "rtol", 0, 1, 0, 1e-5),
    ROW_D(ATOL, "atol", 0, 1e300, 0, 1e-5),
    ROW_D(H_INIT, "h_init", 1e-300, 1e300, 1, NAN),
    ROW_D(H_MIN, "h_min", 0, 1e300, 1, NAN),
    ROW_I(MAX_STEPS, "max_steps", 1, 1000000000, 100000),
    ROW_E(DIVERGENCE, "divergence", 1, 3, SCORESDE_SAMPLER_DIVERGENCE_EXACT, divergence_names),
    ROW_I(ORDER, "order", 1, 4, 2), /* 4: IPNDM only */
    ROW_D(S_CHURN, "s_churn", 0, 1e6, 0, 0),
    ROW_D(S_TMIN, "s_tmin", 0, 1e300, 0, 0),
    ROW_D(S_TMAX, "s_tmax", 0, 1e300, 0, 1e300),
    ROW_D(S_NOISE, "s_noise", 0, 10, 0, 1),
    ROW_D(LANGEVIN_STEP, "langevin_step", 1e-300, 1e300, 0, 1e-3),
    ROW_I(ADAPTIVE, "adaptive", 0, 1, 0),
    ROW_I(UNIPC, "unipc", 0, 1, 0),
    ROW_I(BOUND_DRAWS, "bound_draws", 1, 1000000, 8),
    ROW_E(BOUND_TIME, "bound_time", 1, 2, SCORESDE_SAMPLER_BOUND_TIME_IMPORTANCE,
          bound_time_names),
    ROW_I(DEQUANT_BITS, "dequant_bits", 0, 32, 0),
    ROW_I(DEQUANT_DRAWS, "dequant_draws", 1, 1000000, 1),
    ROW_D(DATA_SCALE, "data_scale", 1e-300, 1e300, 0, 1),
    ROW_D(DATA_SHIFT, "data_shift", -1e300, 1e300, 0, 0),
    ROW_D(GUIDANCE_SCALE, "guidance_scale", -1e6, 1e6, 0, 0),
    ROW_I(SUPPORT_RETRIES, "support_retries", 0, 1000000, 100),
    ROW_I(LOWER_ORDER_FINAL, "lower_order_final", 0, 2, 2),
    ROW_D(STEP_RATIO_MAX, "step_ratio_max", 1, 1e300, 0, 3),
    ROW_E(FINAL_STEP, "final_step", 0, 2, SCORESDE_SAMPLER_FINAL_TWEEDIE, final_names),
    ROW_D(POWER, "power", 0.1, 100, 0, 2),
    ROW_D(ETA, "eta", 0, 100, 0, 0),
    ROW_D(THRESHOLD, "threshold", 0, 1, 0, 0),
    ROW_D(THRESHOLD_BOUND, "threshold_bound", 1e-300, 1e300, 0, 1),
    ROW_I(RESTART_K, "restart_k", 0, 1000000, 2),
    ROW_D(RESTART_TMIN, "restart_tmin", 0, 1e300, 0, 0.06),
    ROW_D(RESTART_TMAX, "restart_tmax", 1e-300, 1e300, 0, 0.3),
    ROW_I(RESTART_STEPS, "restart_steps", 1, 1000000, 2),
};
#undef OPT
#undef ROW_E
#undef ROW_I
#undef ROW_D

static const sd_settings sampler_settings = {"sampler", "scoresde_sampler", sampler_rows,
                                             SD_SAMPLER_NOPT};

/* The method rows; a method's first row is its entry (ADAPTIVE selects the
 * second DPMPP row at sampling). */
static const sd_method_ops *const method_table[] = {
    &sd_method_pc,    &sd_method_ode,  &sd_method_edm,       &sd_method_dpmpp,
    &sd_method_dpmpp_adaptive,         &sd_method_ipndm,     &sd_method_ddim,
    &sd_method_dpmpp_sde,              &sd_method_restart,
};
#define METHOD_ROWS (sizeof method_table / sizeof method_table[0])

static const sd_method_ops *method_find(int method)
{
    for (size_t i = 0; i < METHOD_ROWS; i++)
        if (method_table[i]->method == method)
            return method_table[i];
    return NULL;
}

_Static_assert(SD_SAMPLER_NOPT <= 64, "sd_method_ops.reads holds one bit per setting id");

/* The settings every method reads: the driver's (STEPS, THREADS, BLOCK,
 * GUIDANCE_SCALE), the grid's (EPS, GRID, RHO, POWER), the prior-support
 * pass's, and those of the entry points that take a sampler of any method
 * (scoresde_sampler_langevin, scoresde_sampler_bound and _report). */
static const uint64_t driver_reads =
    SD_SETTING_BIT(STEPS) | SD_SETTING_BIT(EPS) | SD_SETTING_BIT(GRID) | SD_SETTING_BIT(RHO) |
    SD_SETTING_BIT(POWER) | SD_SETTING_BIT(THREADS) | SD_SETTING_BIT(BLOCK) |
    SD_SETTING_BIT(GUIDANCE_SCALE) | SD_SETTING_BIT(SUPPORT_RETRIES) |
    SD_SETTING_BIT(LANGEVIN_STEP) | SD_SETTING_BIT(BOUND_DRAWS) | SD_SETTING_BIT(BOUND_TIME) |
    SD_SETTING_BIT(DEQUANT_BITS) | SD_SETTING_BIT(DEQUANT_DRAWS) | SD_SETTING_BIT(DATA_SCALE) |
    SD_SETTING_BIT(DATA_SHIFT);

/* Where a new sampler of `method` starts (a known method and setting): the
 * method's own default (its first row's list, documented in sampler.h), else
 * the settings table's. */
static double setting_default(int method, int setting)
{
    const sd_method_default *d = method_find(method)->defaults;
    for (; d != NULL && d->setting != 0; d++)
        if (d->setting == setting)
            return d->value;
    return sampler_rows[setting].def;
}

static int method_fail(int method)
{
    return sd_fail(SCORESDE_EINVAL, "method %d is not a sampler method", method);
}

const char *scoresde_sampler_method_name(int method)
{
    const sd_method_ops *ops = method_find(method);
    return ops != NULL ? ops->key : NULL;
}

int scoresde_sampler_method_id(const char *name, int *method)
{
    SD_TRY(sd_check_ptr(name, "name"));
    SD_TRY(sd_check_ptr(method, "method"));
    char list[128] = "";
    for (size_t i = 0; i < METHOD_ROWS; i++) {
        const char *key = method_table[i]->key;
        if (key == NULL)
            continue;
        if (strcmp(key, name) == 0) {
            *method = method_table[i]->method;
            return SCORESDE_OK;
        }
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s%s", used > 0 ? ", " : "", key);
    }
    return sd_fail(SCORESDE_EINVAL, "'%.64s' is not the name of a sampler method (one of: %s)",
                   name, list);
}

const char *scoresde_sampler_setting_name(int setting)
{
    return sd_setting_key(&sampler_settings, setting);
}

int scoresde_sampler_setting_id(const char *name, int *setting)
{
    return sd_setting_id(&sampler_settings, name, setting);
}

const char *scoresde_sampler_value_name(int setting, int value)
{
    return sd_setting_value_key(&sampler_settings, setting, value);
}

int scoresde_sampler_value_id(int setting, const char *name, int *value)
{
    return sd_setting_value_id(&sampler_settings, setting, name, value);
}

int scoresde_sampler_setting_applies(int method, int setting, int *applies)
{
    SD_TRY(sd_check_ptr(applies, "applies"));
    if (method_find(method) == NULL)
        return method_fail(method);
    if (sd_setting_find(&sampler_settings, setting) == NULL)
        return SCORESDE_EINVAL;
    uint64_t reads = driver_reads;
    for (size_t i = 0; i < METHOD_ROWS; i++)
        if (method_table[i]->method == method)
            reads |= method_table[i]->reads;
    *applies = (int)((reads >> setting) & 1);
    return SCORESDE_OK;
}

int scoresde_sampler_create(scoresde_sampler **out, int method)
{
    SD_TRY(sd_check_ptr(out, "out"));
    *out = NULL;
    if (method_find(method) == NULL)
        return method_fail(method);
    scoresde_sampler *s = sd_calloc(1, sizeof *s);
    if (s == NULL)
        return SCORESDE_ENOMEM;
    s->method = method;
    for (int i = 1; i < SD_SAMPLER_NOPT; i++)
        if (sampler_rows[i].id == i) /* ids without a setting (yet) have no row */
            sd_setting_write(&sampler_rows[i], s, setting_default(method, i));
    *out = s;
    return SCORESDE_OK;
}

int scoresde_sampler_clone(scoresde_sampler **out, const scoresde_sampler *s)
{
    SD_TRY(sd_check_ptr(out, "out"));
    *out = NULL;
    SD_TRY(sd_check_ptr(s, "sampler"));
    scoresde_sampler *c = sd_malloc(sizeof *c);
    if (c == NULL)
        return SCORESDE_ENOMEM;
    *c = *s;
    if (s->grid != NULL) {
        c->grid = sd_malloc(s->grid_count * sizeof(double));
        if (c->grid == NULL) {
            sd_free(c);
            return SCORESDE_ENOMEM;
        }
        memcpy(c->grid, s->grid, s->grid_count * sizeof(double));
    }
    *out = c;
    return SCORESDE_OK;
}

void scoresde_sampler_free(scoresde_sampler *s)
{
    if (s == NULL)
        return;
    sd_free(s->grid);
    sd_free(s);
}

int scoresde_sampler_method(const scoresde_sampler *s)
{
    return s != NULL ? s->method : 0;
}

static void drop_grid(scoresde_sampler *s)
{
    sd_free(s->grid);
    s->grid = NULL;
    s->grid_count = 0;
}

int scoresde_sampler_set_int(scoresde_sampler *s, int setting, int64_t value)
{
    if (s != NULL && setting == SCORESDE_SAMPLER_GRID && value == SCORESDE_SAMPLER_GRID_ARRAY)
        return sd_fail(SCORESDE_EINVAL,
                       "sampler setting GRID = ARRAY (4) is set by scoresde_sampler_set_grid");
    SD_TRY(sd_setting_set_int(&sampler_settings, s, setting, value));
    /* DENOISE is FINAL_STEP's alias: 0 = STOP, 1 = TWEEDIE */
    if (setting == SCORESDE_SAMPLER_DENOISE)
        s->opt[SCORESDE_SAMPLER_FINAL_STEP] = (double)value;
    else if (setting == SCORESDE_SAMPLER_FINAL_STEP)
        s->opt[SCORESDE_SAMPLER_DENOISE] = value != SCORESDE_SAMPLER_FINAL_STOP;
    /* A caller's grid fixes STEPS: a new GRID or STEPS drops it, and with
     * STEPS the grid returns to the method's own (GRID = ARRAY without an
     * array would leave nothing to sample on). */
    if ((setting == SCORESDE_SAMPLER_GRID || setting == SCORESDE_SAMPLER_STEPS) &&
        s->grid != NULL) {
        drop_grid(s);
        if (setting == SCORESDE_SAMPLER_STEPS)
            s->opt[SCORESDE_SAMPLER_GRID] = setting_default(s->method, SCORESDE_SAMPLER_GRID);
    }
    return SCORESDE_OK;
}

int scoresde_sampler_set_double(scoresde_sampler *s, int setting, double value)
{
    return sd_setting_set_double(&sampler_settings, s, setting, value);
}

int scoresde_sampler_get_int(const scoresde_sampler *s, int setting, int64_t *value)
{
    return sd_setting_get_int(&sampler_settings, s, setting, value);
}

int scoresde_sampler_get_double(const scoresde_sampler *s, int setting, double *value)
{
    return sd_setting_get_double(&sampler_settings, s, setting, value);
}

int scoresde_sampler_bounds(int setting, double *lower, double *upper, int *is_int)
{
    SD_TRY(sd_setting_bounds(&sampler_settings, setting, lower, upper, is_int));
    (void)setting; /* GRID's bounds include ARRAY, which set_int refuses (set_grid's) */
    return SCORESDE_OK;
}

int scoresde_sampler_default(int method, int setting, double *value)
{
    SD_TRY(sd_check_ptr(value, "value"));
    if (method_find(method) == NULL)
        return method_fail(method);
    if (sd_setting_find(&sampler_settings, setting) == NULL)
        return SCORESDE_EINVAL;
    *value = setting_default(method, setting);
    return SCORESDE_OK;
}

int scoresde_sampler_set_grid(scoresde_sampler *s, const double *t, size_t count)
{
    SD_TRY(sd_check_ptr(s, "sampler"));
    SD_TRY(sd_check_ptr(t, "t"));
    if (count < 2)
        return sd_fail(SCORESDE_EINVAL, "the grid has %zu times; it needs at least 2", count);
    const int64_t max_steps = sampler_rows[SCORESDE_SAMPLER_STEPS].ihi;
    if (count - 1 > (size_t)max_steps)
        return sd_fail(SCORESDE_EINVAL, "the grid has %zu steps, more than STEPS' limit %lld",
                       count - 1, (long long)max_steps);
    for (size_t k = 0; k < count; k++) {
        if (!isfinite(t[k]))
            return sd_fail(SCORESDE_EINVAL, "grid time t[%zu] = %g is not finite", k, t[k]);
        if (k > 0 && !(t[k] < t[k - 1]))
            return sd_fail(SCORESDE_EINVAL,
                           "the grid is not strictly decreasing: t[%zu] = %g follows t[%zu] = %g",
                           k, t[k], k - 1, t[k - 1]);
    }
    if (!(t[count - 1] > 0.0))
        return sd_fail(SCORESDE_EINVAL, "the grid's last time t[%zu] = %g is not positive",
                       count - 1, t[count - 1]);
    double *copy = sd_malloc(count * sizeof *copy);
    if (copy == NULL)
        return SCORESDE_ENOMEM;
    memcpy(copy, t, count * sizeof *copy);
    drop_grid(s);
    s->grid = copy;
    s->grid_count = count;
    s->opt[SCORESDE_SAMPLER_STEPS] = (double)(count - 1);
    s->opt[SCORESDE_SAMPLER_GRID] = SCORESDE_SAMPLER_GRID_ARRAY;
    s->opt[SCORESDE_SAMPLER_EPS] = t[count - 1];
    return SCORESDE_OK;
}

int scoresde_sampler_set_guidance(scoresde_sampler *s, scoresde_guidance_fn fn, void *user,
                                  double scale)
{
    SD_TRY(sd_check_ptr(s, "sampler"));
    if (!isfinite(scale))
        return sd_fail(SCORESDE_EINVAL, "the guidance scale (%g) is not finite", scale);
    s->guidance = fn;
    s->guidance_scale = fn != NULL ? scale : 0.0;
    s->guidance_user = fn != NULL ? user : NULL;
    return SCORESDE_OK;
}

int scoresde_sampler_set_progress(scoresde_sampler *s, scoresde_sampler_progress_fn fn, void *user)
{
    SD_TRY(sd_check_ptr(s, "sampler"));
    s->progress = fn;
    s->progress_user = fn != NULL ? user : NULL;
    return SCORESDE_OK;
}

/* ------------------------------------------------------------------ grids */

int sd_solve_out_of_steps(const sd_block *b, size_t i, double t)
{
    const sd_run *r = b->run;
    return sd_fail(SCORESDE_ENUMERIC,
                   "sample %llu did not reach t = %g within MAX_STEPS (%g) steps; it is at t = %g",
                   (unsigned long long)(r->first + b->i0 + i), r->t_end,
                   r->s->opt[SCORESDE_SAMPLER_MAX_STEPS], t);
}

int sd_solve_eps(const scoresde_sampler *s, const scoresde_sde *sde, double *eps)
{
    double T = scoresde_sde_end_time(sde);
    double e = s->opt[SCORESDE_SAMPLER_EPS];
    if (isnan(e))
        e = scoresde_sde_sampling_eps(sde);
    if (!(e < T))
        return sd_fail(SCORESDE_EINVAL, "eps (%g) is not below the SDE's end time T (%g)", e, T);
    if (s->grid != NULL && !(s->grid[0] <= T))
        return sd_fail(SCORESDE_EINVAL, "the grid starts at t[0] = %g, after the SDE's T (%g)",
                       s->grid[0], T);
    *eps = e;
    return SCORESDE_OK;
}

size_t sd_solve_ratio_guard(const sd_run *r, size_t k, size_t order,
                            double (*v)(const sd_run *r, size_t k))
{
    double rmax = r->s->opt[SCORESDE_SAMPLER_STEP_RATIO_MAX];
    if (!(rmax < 1e300))
        return order;
    size_t q = 1;
    double h_next = v(r, k + 1) - v(r, k);
    while (q < order) {
        double h = v(r, k + 1 - q) - v(r, k - q); /* the step before the ones accepted */
        double ratio = fabs(h) > fabs(h_next) ? fabs(h / h_next) : fabs(h_next / h);
        if (!(ratio <= rmax))
            break;
        h_next = h;
        q++;
    }
    return q;
}

size_t sd_solve_multistep_order(const sd_run *r, size_t k, size_t order,
                                 double (*v)(const sd_run *r, size_t k))
{
    size_t N = r->N, last = N - k; /* steps left, this one included */
    int lof = sd_opt_int(r->s, SCORESDE_SAMPLER_LOWER_ORDER_FINAL);
    if (lof == 2 && last + 1 < order)
        last = order - 1; /* the last order - 1 steps at order - 1 */
    if (order > k + 1)
        order = k + 1;
    if ((lof == 2 || (lof == 1 && N < 15)) && order > last)
        order = last;
    return sd_solve_ratio_guard(r, k, order, v);
}

int sd_solve_need_sigma(const sd_run *run, const char *what)
{
    if (run->alpha == NULL)
        return sd_fail(SCORESDE_EUNSUPPORTED,
                       "%s needs the SDE's Gaussian marginal, which this SDE lacks", what);
    for (size_t k = 0; k <= run->N; k++)
        if (!(run->sigma[k] > 0.0))
            return sd_fail(SCORESDE_EINVAL, "%s needs sigma > 0 on the grid; sigma(t[%zu] = %g) = %g",
                           what, k, run->grid[k], run->sigma[k]);
    return SCORESDE_OK;
}

int sd_solve_final_factor(const sd_run *r, double *factor)
{
    int final = sd_opt_int(r->s, SCORESDE_SAMPLER_FINAL_STEP);
    *factor = final == SCORESDE_SAMPLER_FINAL_STOP ? 0.0 : 1.0;
    if (final == SCORESDE_SAMPLER_FINAL_TO_ZERO) {
        double t0 = 0.0, a0;
        SD_TRY(scoresde_sde_marginal(r->sde, &t0, 1, &a0, NULL, NULL, NULL));
        *factor = a0;
    }
    return SCORESDE_OK;
}

/* r(t) = sigma(t) / alpha(t), the noise-to-signal ratio (EDM's sigma). */
int sd_solve_ratio_at(const scoresde_sde *sde, double t, double *r)
{
    double a, sg;
    SD_TRY(scoresde_sde_marginal(sde, &t, 1, &a, &sg, NULL, NULL));
    *r = sg / a;
    if (!isfinite(*r))
        return sd_fail(SCORESDE_ENUMERIC, "sigma/alpha at t = %g is not finite", t);
    return SCORESDE_OK;
}

/* The time in [lo, hi] where r(t) = target, r increasing: the shared
 * bisection (lib/sde/level.c) to the last bit, then the midpoint of the
 * final bracket. */
int sd_solve_time_of_ratio(const scoresde_sde *sde, double target, double lo, double hi,
                           double *t)
{
    SD_TRY(sd_sde_level_bracket(sde, sd_solve_ratio_at, target, &lo, &hi));
    *t = 0.5 * (lo + hi);
    return SCORESDE_OK;
}

int sd_solve_grid(const scoresde_sampler *s, const scoresde_sde *sde, double eps, double *t,
                  size_t count)
{
    size_t N = count - 1;
    double T = scoresde_sde_end_time(sde);
    int kind = sd_opt_int(s, SCORESDE_SAMPLER_GRID);
    if (kind == SCORESDE_SAMPLER_GRID_ARRAY) {
        memcpy(t, s->grid, count * sizeof *t);
        return SCORESDE_OK;
    }
    t[0] = T;
    t[N] = eps;
    if (kind == SCORESDE_SAMPLER_GRID_UNIFORM_T) {
        for (size_t k = 1; k < N; k++)
            t[k] = T + ((double)k / (double)N) * (eps - T);
        return SCORESDE_OK;
    }
    if (kind == SCORESDE_SAMPLER_GRID_POWER) {
        double p = s->opt[SCORESDE_SAMPLER_POWER];
        for (size_t k = 1; k < N; k++)
            t[k] = eps + (T - eps) * pow(1.0 - (double)k / (double)N, p);
        for (size_t k = 1; k <= N; k++)
            if (!(t[k] < t[k - 1]))
                return sd_fail(SCORESDE_EINVAL,
                               "the POWER grid is not strictly decreasing at t[%zu] = %g: too "
                               "many steps for POWER = %g",
                               k, t[k], p);
        return SCORESDE_OK;
    }
    double rmax, rmin;
    SD_TRY(sd_solve_ratio_at(sde, T, &rmax));
    SD_TRY(sd_solve_ratio_at(sde, eps, &rmin));
    if (rmin == 0.0) /* a setting, not a numerical failure: EPS = 0 where sigma(0) = 0 */
        return sd_fail(SCORESDE_EINVAL,
                       "the %s grid needs sigma/alpha > 0 at eps, and it is 0 at eps = %g: set "
                       "EPS above 0 (or NaN, the SDE's sampling eps)",
                       kind == SCORESDE_SAMPLER_GRID_KARRAS ? "KARRAS" : "LOGSNR", eps);
    if (!(rmin > 0.0 && rmax > rmin))
        return sd_fail(SCORESDE_ENUMERIC,
                       "sigma/alpha must increase from eps to T for this grid; it is %g at "
                       "eps = %g and %g at T = %g",
                       rmin, eps, rmax, T);
    double rho = s->opt[SCORESDE_SAMPLER_RHO];
    for (size_t k = 1; k < N; k++) {
        double f = (double)k / (double)N, r;
        if (kind == SCORESDE_SAMPLER_GRID_KARRAS) {
            double a = pow(rmax, 1.0 / rho), b = pow(rmin, 1.0 / rho);
            r = pow(a + f * (b - a), rho);
        } else { /* LOGSNR: uniform in ln r = -lambda */
            r = exp(log(rmax) + f * (log(rmin) - log(rmax)));
        }
        SD_TRY(sd_solve_time_of_ratio(sde, r, eps, T, &t[k]));
    }
    for (size_t k = 1; k <= N; k++)
        if (!(t[k] < t[k - 1]))
            return sd_fail(SCORESDE_ENUMERIC,
                           "the grid is not strictly decreasing at t[%zu] = %g (t[%zu] = %g): "
                           "too many steps for the schedule, or sigma/alpha not increasing",
                           k, t[k], k - 1, t[k - 1]);
    return SCORESDE_OK;
}

int scoresde_sampler_times(const scoresde_sampler *s, const scoresde_sde *sde, double *t,
                           size_t count)
{
    SD_TRY(sd_check_ptr(s, "sampler"));
    SD_TRY(sd_check_ptr(sde, "sde"));
    SD_TRY(sd_check_ptr(t, "t"));
    size_t N = sd_opt_size(s, SCORESDE_SAMPLER_STEPS);
    if (count != N + 1)
        return sd_fail(SCORESDE_EINVAL, "count (%zu) is not STEPS + 1 (%zu)", count, N + 1);
    double eps;
    SD_TRY(sd_solve_eps(s, sde, &eps));
    return sd_solve_grid(s, sde, eps, t, count);
}

/* ------------------------------------------------------------------ helpers */

static int guidance_grad(sd_block *b, const double *x, const double *t)
{
    const scoresde_sampler *s = b->run->s;
    size_t nD = b->n * b->run->D;
    if (s->guidance(x, t, b->n, b->run->D, b->gws, s->guidance_user) != 0)
        return sd_fail(SCORESDE_ECALLBACK, "the guidance hook failed (at t = %g)", t[0]);
    for (size_t e = 0; e < nD; e++)
        if (!isfinite(b->gws[e]))
            return sd_fail(SCORESDE_ENUMERIC,
                           "the guidance hook wrote %g for sample %llu, element %zu (t = %g)",
                           b->gws[e], (unsigned long long)(b->run->first + b->i0 + e / b->run->D),
                           e % b->run->D, t[e / b->run->D]);
    return SCORESDE_OK;
}

int sd_solve_guide_score(sd_block *b, const double *x, const double *t, double *score)
{
    const scoresde_sampler *s = b->run->s;
    if (s->guidance == NULL || b->gws == NULL)
        return SCORESDE_OK;
    SD_TRY(guidance_grad(b, x, t));
    size_t nD = b->n * b->run->D;
    for (size_t e = 0; e < nD; e++)
        score[e] += s->guidance_scale * b->gws[e];
    return SCORESDE_OK;
}

int sd_solve_guide_data(sd_block *b, const double *x, double alpha, double sigma, double *m)
{
    const scoresde_sampler *s = b->run->s;
    if (s->guidance == NULL || b->gws == NULL)
        return SCORESDE_OK;
    SD_TRY(guidance_grad(b, x, b->t));
    size_t nD = b->n * b->run->D;
    double c = sigma * sigma / alpha * s->guidance_scale;
    for (size_t e = 0; e < nD; e++)
        m[e] += c * b->gws[e];
    return SCORESDE_OK;
}

const sd_cond *sd_solve_block_cond(const sd_block *b, sd_cond *view)
{
    if (b->run->cond == NULL)
        return NULL;
    *view = sd_cond_rows(b->run->cond, b->i0);
    return view;
}

/* One batched call of 2n rows for classifier-free guidance: rows i < n are
 * sample i with its condition, rows n + i the same point with the null
 * condition, each condition row copied (null rows zero), so the model sees
 * a plain per-row condition whatever the caller's broadcast. */
static int cfg_eval(sd_block *b, const double *x, const double *t, int data, double *out)
{
    const sd_run *r = b->run;
    size_t D = r->D, C = scoresde_model_cond_dim(r->model), n = b->n, nD = n * D;
    double *x2 = b->cfg_ws, *t2 = x2 + 2 * nD, *o2 = t2 + 2 * n, *c2 = o2 + 2 * nD;
    unsigned char *mask = (unsigned char *)(c2 + 2 * n * C);
    sd_cond view;
    const sd_cond *cv = sd_solve_block_cond(b, &view);
    memcpy(x2, x, nD * sizeof *x2);
    memcpy(x2 + nD, x, nD * sizeof *x2);
    memcpy(t2, t, n * sizeof *t2);
    memcpy(t2 + n, t, n * sizeof *t2);
    memset(c2, 0, 2 * n * C * sizeof *c2);
    for (size_t i = 0; i < n; i++) {
        mask[i] = (unsigned char)sd_cond_is_null(cv, i);
        mask[n + i] = 1;
        if (!mask[i])
            memcpy(c2 + i * C, sd_cond_row(cv, i), C * sizeof *c2);
    }
    sd_cond both = {c2, C, mask};
    SD_TRY(data ? sd_model_predict_data_cf(r->model, x2, t2, 2 * n, D, &both, o2)
                : sd_model_score_cf(r->model, x2, t2, 2 * n, D, &both, o2));
    double g = 1.0 + r->cfg;
    for (size_t e = 0; e < nD; e++)
        out[e] = o2[nD + e] + g * (o2[e] - o2[nD + e]);
    return SCORESDE_OK;
}

/* A state a step made non-finite is the sampler's numeric failure
 * (ENUMERIC), not a bad argument of the model call that would follow; the
 * model calls below (sd_model_*_cf) then skip their own scan of x, so each
 * evaluation reads x once for its check. */
int sd_solve_check_state(const sd_block *b, const double *x, const double *t)
{
    const sd_run *r = b->run;
    for (size_t i = 0; i < b->n; i++)
        for (size_t j = 0; j < r->D; j++)
            if (!isfinite(x[i * r->D + j]))
                return sd_fail(SCORESDE_ENUMERIC,
                               "sample %llu: the state is not finite at t = %g (the step "
                               "before it diverged)",
                               (unsigned long long)(r->first + b->i0 + i), t[i]);
    return SCORESDE_OK;
}

static int model_eval(sd_block *b, const double *x, const double *t, int data, double *out)
{
    const sd_run *r = b->run;
    SD_TRY(sd_solve_check_state(b, x, t));
    if (r->cfg != 0.0)
        return cfg_eval(b, x, t, data, out);
    sd_cond view;
    const sd_cond *cv = sd_solve_block_cond(b, &view);
    return data ? sd_model_predict_data_cf(r->model, x, t, b->n, r->D, cv, out)
                : sd_model_score_cf(r->model, x, t, b->n, r->D, cv, out);
}

int sd_solve_model_score(sd_block *b, const double *x, const double *t, double *out)
{
    return model_eval(b, x, t, 0, out);
}

/* Dynamic thresholding of one sample's data prediction m (D values): s =
 * the p-quantile of |m_j| (the smallest value with at least ceil(p D) of the
 * |m_j| at or below it, found by bisection on the value so nothing is
 * allocated), s = max(s, c), m = clip(m, -s, s) c / s. */
static void threshold_one(double *m, size_t D, double p, double c)
{
    double hi = 0.0;
    for (size_t j = 0; j < D; j++)
        hi = fmax(hi, fabs(m[j]));
    size_t need = (size_t)ceil(p * (double)D);
    if (need < 1)
        need = 1;
    double lo = 0.0;
    for (int it = 0; it < 200; it++) {
        double mid = 0.5 * (lo + hi);
        if (!(mid > lo && mid < hi))
            break;
        size_t cnt = 0;
        for (size_t j = 0; j < D; j++)
            cnt += fabs(m[j]) <= mid;
        if (cnt >= need)
            hi = mid;
        else
            lo = mid;
    }
    double sq = fmax(hi, c);
    for (size_t j = 0; j < D; j++)
        m[j] = fmin(fmax(m[j], -sq), sq) * (c / sq);
}

int sd_solve_model_data(sd_block *b, const double *x, const double *t, double *out)
{
    SD_TRY(model_eval(b, x, t, 1, out));
    double p = b->run->s->opt[SCORESDE_SAMPLER_THRESHOLD];
    if (p > 0.0)
        for (size_t i = 0; i < b->n; i++)
            threshold_one(out + i * b->run->D, b->run->D, p,
                          b->run->s->opt[SCORESDE_SAMPLER_THRESHOLD_BOUND]);
    return SCORESDE_OK;
}

int sd_solve_score_at(sd_block *b, const double *x, double t, double *score)
{
    for (size_t i = 0; i < b->n; i++)
        b->t[i] = t;
    SD_TRY(sd_solve_model_score(b, x, b->t, score));
    SD_TRY(sd_solve_guide_score(b, x, b->t, score));
    b->nfe++;
    return SCORESDE_OK;
}

void sd_solve_noise(const sd_block *b, uint64_t draw, double *z)
{
    const sd_run *r = b->run;
    for (size_t i = 0; i < b->n; i++)
        sd_rng_normal(r->seed, r->first + b->i0 + i,
                      SCORESDE_RNG_OFFSET(SCORESDE_RNG_SAMPLER, draw * r->D), r->D,
                      z + i * r->D);
}

/* ------------------------------------------------------------------ driver
 *
 * A run is a sequence of rounds: round 0 is every block's init, round j >= 1
 * every unfinished block's step j - 1, each block checked for NaN/Inf after
 * its part of the round. Thread q of the team owns the blocks
 * [q nb / nth, (q + 1) nb / nth) for the whole run and takes them through
 * the rounds one after another without waiting for the other threads: there
 * is one parallel region per run, no barrier per step. Each thread reports
 * each round (its lowest failing block, its blocks' least advanced time, the
 * largest nfe, whether all are done) into a ring of SD_RING records; the
 * calling thread (thread 0) takes the completed records in round order and
 * decides exactly what a barrier after every round would have decided:
 *   - a round in which some block failed ends the run with the error (code
 *     and message) of the lowest-numbered failing block of that round, the
 *     earliest failing round; later rounds other threads ran ahead do not
 *     count;
 *   - after round j >= 1 the progress hook gets (j, the least advanced time
 *     over all blocks, the largest nfe over all blocks), on the calling
 *     thread, in step order; a non-zero return ends the run (ECALLBACK);
 *   - when every block is done the rounds end; then the first block (in
 *     block order) whose finish failed gives the error.
 * A thread runs at most SD_RING rounds ahead of the oldest record not yet
 * taken (the ring's slack, not a barrier). A thread whose blocks are all done
 * runs their finish at once and retires: its final values stand in for its
 * reports in every later round. With one thread (THREADS = 1, one block, or a
 * team of one) the calling thread runs the same loop with no OpenMP
 * construct at all, so a model's own threads (an MLP's n_threads) are a
 * top-level team and never nest inside an inactive region. */

enum { SD_RING = 1024 };
enum { PHASE_INIT, PHASE_STEP, PHASE_FINISH };
#define SD_NO_BLOCK SIZE_MAX

typedef struct drv_rec {
    int pending;  /* threads yet to report this round */
    int all_done; /* every block done after it */
    size_t fail;  /* the lowest failing block, or SD_NO_BLOCK */
    double t_now; /* the least advanced time */
    uint64_t nfe; /* the largest nfe */
} drv_rec;

typedef struct drv {
    const sd_run *run;
    sd_block *blk;
    size_t nb;
    int team;     /* threads reporting */
    int backward; /* integration runs towards smaller t */
    double *ws;
    size_t ws_per_thread, gd, cd;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t taken;  /* rounds the calling thread has decided on */
    int retired;   /* threads whose blocks are all done */
    drv_rec final; /* their merged final values */
    int stop;      /* the rounds are over: rc says why */
    int finished;  /* ... because every block is done */
    int rc;
    drv_rec ring[SD_RING];
} drv;

static void rec_open(const drv *d, drv_rec *r)
{
    *r = (drv_rec){d->team - d->retired, 1, SD_NO_BLOCK, d->run->t_end, 0};
}

/* Merge a report (or the retired threads' final values) into a record. */
static void rec_merge(const drv *d, drv_rec *r, const drv_rec *c)
{
    r->all_done &= c->all_done;
    if (c->fail < r->fail)
        r->fail = c->fail;
    if (d->backward ? c->t_now > r->t_now : c->t_now < r->t_now)
        r->t_now = c->t_now;
    if (c->nfe > r->nfe)
        r->nfe = c->nfe;
}

/* The calling thread, holding the lock: decide on every completed round in
 * order (the hook runs with the lock released). Wakes the waiting threads
 * when it freed a slot or stopped the run. */
static void drv_take(drv *d)
{
    const scoresde_sampler *s = d->run->s;
    int woke = 0;
    while (!d->stop) {
        drv_rec *r = &d->ring[d->taken % SD_RING];
        if (r->pending > 0)
            break;
        size_t round = d->taken;
        if (r->fail != SD_NO_BLOCK) {
            d->rc = sd_fail(d->blk[r->fail].rc, "%s", d->blk[r->fail].msg);
            d->stop = 1;
            break;
        }
        if (round > 0 && s->progress != NULL) {
            double t_now = r->t_now;
            uint64_t nfe = r->nfe;
            pthread_mutex_unlock(&d->lock);
            int cancel = s->progress((uint64_t)round, t_now, nfe, s->progress_user);
            pthread_mutex_lock(&d->lock);
            if (cancel != 0) {
                d->rc = sd_fail(SCORESDE_ECALLBACK,
                                "the progress hook cancelled the run after step %zu (t = %g)",
                                round, t_now);
                d->stop = 1;
                break;
            }
        }
        if (round > 0 && r->all_done) {
            d->finished = 1;
            d->stop = 1;
            break;
        }
        d->taken++;
        /* the freed slot opens the round SD_RING - 1 after the oldest open one */
        rec_open(d, r);
        if (d->retired > 0)
            rec_merge(d, r, &d->final);
        woke = 1;
    }
    if (woke || d->stop)
        pthread_cond_broadcast(&d->cond);
}

/* Init, step k or finish of one block, then its NaN/Inf check; a failure
 * leaves the block's code and message in b->rc, b->msg. */
static int block_phase(const sd_method_ops *ops, sd_block *b, int phase, size_t k)
{
    int rc = SCORESDE_OK;
    if (phase == PHASE_INIT)
        rc = ops->init != NULL ? ops->init(b) : SCORESDE_OK;
    else if (phase == PHASE_STEP)
        rc = ops->step(b, k);
    else
        rc = ops->finish != NULL ? ops->finish(b) : SCORESDE_OK;
    if (rc == SCORESDE_OK) {
        const sd_run *r = b->run;
        for (size_t i = 0; i < b->n && rc == SCORESDE_OK; i++)
            for (size_t j = 0; j < r->Dy; j++)
                if (!isfinite(b->x[i * r->Dy + j])) {
                    const char *when = phase == PHASE_INIT     ? "at the start"
                                       : phase == PHASE_FINISH ? "in the final denoising"
                                                               : "at step";
                    rc = sd_fail(SCORESDE_ENUMERIC,
                                 "sample %llu became non-finite (element %zu = %g) %s %zu "
                                 "(t = %g)",
                                 (unsigned long long)(r->first + b->i0 + i), j,
                                 b->x[i * r->Dy + j], when,
                                 phase == PHASE_STEP ? k + 1 : (phase == PHASE_INIT ? 0 : k),
                                 b->t_now);
                    break;
                }
    }
    if (rc != SCORESDE_OK) {
        b->rc = rc;
        snprintf(b->msg, sizeof b->msg, "%s", scoresde_last_error());
    }
    return rc;
}

/* Thread `tid` of the run's team: its blocks through every round, then (on
 * thread 0) the decisions until the run stops. */
static void drv_thread(drv *d, int tid)
{
    const sd_run *run = d->run;
    const sd_method_ops *ops = run->ops;
    size_t lo = d->nb * (size_t)tid / (size_t)d->team;
    size_t hi = d->nb * ((size_t)tid + 1) / (size_t)d->team;
    size_t wsd = ops->ws_doubles(run);
    for (size_t q = lo; q < hi; q++) {
        sd_block *b = &d->blk[q];
        b->t = d->ws + (size_t)tid * d->ws_per_thread;
        b->ws = b->t + b->n;
        b->gws = d->gd > 0 ? b->ws + b->n * wsd : NULL;
        b->cfg_ws = d->cd > 0 ? b->ws + b->n * (wsd + d->gd) : NULL;
    }
    for (size_t j = 0;; j++) {
        pthread_mutex_lock(&d->lock);
        while (!d->stop && j >= d->taken + SD_RING) {
            if (tid == 0)
                drv_take(d);
            if (!d->stop && j >= d->taken + SD_RING)
                pthread_cond_wait(&d->cond, &d->lock);
        }
        int stop = d->stop;
        pthread_mutex_unlock(&d->lock);
        if (stop)
            break;
        drv_rec c = {0, 1, SD_NO_BLOCK, run->t_end, 0};
        for (size_t q = lo; q < hi; q++) {
            sd_block *b = &d->blk[q];
            if ((j == 0 || !b->done) &&
                block_phase(ops, b, j == 0 ? PHASE_INIT : PHASE_STEP, j == 0 ? 0 : j - 1) != SCORESDE_OK) {
                c.fail = q;
                break;
            }
            drv_rec one = {0, b->done, SD_NO_BLOCK, b->t_now, b->nfe};
            rec_merge(d, &c, &one);
        }
        int retire = c.fail == SD_NO_BLOCK && c.all_done;
        pthread_mutex_lock(&d->lock);
        drv_rec *r = &d->ring[j % SD_RING];
        rec_merge(d, r, &c);
        r->pending--;
        if (retire) {
            /* the rounds after j already open count this thread as reported */
            d->retired++;
            rec_merge(d, &d->final, &c);
            for (size_t i = j + 1; i < d->taken + SD_RING; i++) {
                drv_rec *ri = &d->ring[i % SD_RING];
                rec_merge(d, ri, &c);
                ri->pending--;
            }
        }
        if (tid == 0)
            drv_take(d);
        else if (r->pending == 0 || retire)
            pthread_cond_broadcast(&d->cond);
        pthread_mutex_unlock(&d->lock);
        if (c.fail != SD_NO_BLOCK)
            break;
        if (retire) {
            for (size_t q = lo; q < hi; q++)
                block_phase(ops, &d->blk[q], PHASE_FINISH, run->N);
            break;
        }
    }
    if (tid != 0)
        return;
    pthread_mutex_lock(&d->lock);
    while (!d->stop) {
        drv_take(d);
        if (!d->stop)
            pthread_cond_wait(&d->cond, &d->lock);
    }
    pthread_mutex_unlock(&d->lock);
}

/* The statistics are an output struct (common.h): the 1.0 layout ends at
 * t_final; a caller's larger struct gets its tail zeroed. */
#define SD_STATS_FIRST SD_STRUCT_END(scoresde_sampler_stats, t_final)

static int check_stats(const scoresde_sampler_stats *stats)
{
    return stats != NULL ? sd_check_struct_out(stats->struct_size, SD_STATS_FIRST, "stats")
                         : SCORESDE_OK;
}

/* Run the method of `run` on n samples whose state (n x Dy) is x. */
static int drive(sd_run *run, size_t n, double *x, scoresde_sampler_stats *stats)
{
    const scoresde_sampler *s = run->s;
    const sd_method_ops *ops = run->ops;
    size_t B = sd_opt_size(s, SCORESDE_SAMPLER_BLOCK);
    if (B > n)
        B = n;
    size_t nb = (n + B - 1) / B;
    int nth = sd_opt_int(s, SCORESDE_SAMPLER_THREADS);
    if ((size_t)nth > nb)
        nth = (int)nb;
    size_t wsd = ops->ws_doubles(run), std = ops->state_doubles(run);
    /* guidance needs n x D more per thread (not for likelihoods or Langevin) */
    size_t gd = s->guidance != NULL && run->guided ? run->D : 0;
    /* classifier-free guidance: the 2n-row batch */
    size_t cd = run->cfg != 0.0 ? SD_CFG_WS(run->D, scoresde_model_cond_dim(run->model)) : 0;
    size_t ws_per_thread = B * (wsd + 1 + gd + cd);
    sd_block *blk = sd_calloc(nb, sizeof *blk);
    double *ws = sd_calloc((size_t)nth, ws_per_thread * sizeof(double));
    double *state = std > 0 ? sd_calloc(n, std * sizeof(double)) : NULL;
    drv *d = sd_calloc(1, sizeof *d);
    int rc = SCORESDE_OK, sync = 0;
    if (blk == NULL || ws == NULL || (std > 0 && state == NULL) || d == NULL) {
        rc = SCORESDE_ENOMEM;
        goto out;
    }
    if (pthread_mutex_init(&d->lock, NULL) != 0) {
        rc = SCORESDE_ENOMEM;
        goto out;
    }
    if (pthread_cond_init(&d->cond, NULL) != 0) {
        pthread_mutex_destroy(&d->lock);
        rc = SCORESDE_ENOMEM;
        goto out;
    }
    sync = 1;
    for (size_t q = 0; q < nb; q++) {
        sd_block *b = &blk[q];
        b->run = run;
        b->i0 = q * B;
        b->n = (q + 1) * B <= n ? B : n - q * B;
        b->x = x + b->i0 * run->Dy;
        b->state = state != NULL ? state + b->i0 * std : NULL;
        b->t_now = run->t_start;
    }
    d->run = run;
    d->blk = blk;
    d->nb = nb;
    d->backward = run->t_end < run->t_start;
    d->ws = ws;
    d->ws_per_thread = ws_per_thread;
    d->gd = gd;
    d->cd = cd;
    d->final = (drv_rec){0, 1, SD_NO_BLOCK, run->t_end, 0};
    if (nth == 1) {
        d->team = 1;
        for (size_t j = 0; j < SD_RING; j++)
            rec_open(d, &d->ring[j]);
        drv_thread(d, 0);
    } else {
#pragma omp parallel num_threads(nth)
        {
            /* the team may be smaller than asked (nested calls, thread limits) */
#pragma omp single
            {
                d->team = omp_get_num_threads();
                for (size_t j = 0; j < SD_RING; j++)
                    rec_open(d, &d->ring[j]);
            }
            drv_thread(d, omp_get_thread_num());
        }
    }
    rc = d->rc;
    if (rc == SCORESDE_OK && d->finished)
        for (size_t q = 0; q < nb; q++)
            if (blk[q].rc != SCORESDE_OK) {
                rc = sd_fail(blk[q].rc, "%s", blk[q].msg);
                break;
            }
    if (rc == SCORESDE_OK) {
        scoresde_sampler_stats v = {.struct_size = sizeof v, .t_final = run->t_end};
        for (size_t q = 0; q < nb; q++) {
            if (blk[q].nfe > v.nfe)
                v.nfe = blk[q].nfe;
            v.accepted += blk[q].accepted;
            v.rejected += blk[q].rejected;
        }
        if (stats != NULL)
            sd_write_struct_out(stats, stats->struct_size, &v, sizeof v);
    }
out:
    if (sync) {
        pthread_cond_destroy(&d->cond);
        pthread_mutex_destroy(&d->lock);
    }
    sd_free(d);
    sd_free(state);
    sd_free(ws);
    sd_free(blk);
    return rc;
}

/* Set up the run's grid and marginal arrays (owned by the caller through
 * *buf, freed with sd_free). reverse: the grid from eps up to T. */
static int setup_grid(sd_run *run, double eps, int reverse, double **buf)
{
    const scoresde_sampler *s = run->s;
    size_t N = sd_opt_size(s, SCORESDE_SAMPLER_STEPS);
    size_t count = N + 1;
    double *g = sd_calloc(3 * count, sizeof(double));
    if (g == NULL)
        return SCORESDE_ENOMEM;
    *buf = g;
    SD_TRY(sd_solve_grid(s, run->sde, eps, g, count));
    if (reverse)
        for (size_t k = 0; k < count / 2; k++) {
            double tmp = g[k];
            g[k] = g[count - 1 - k];
            g[count - 1 - k] = tmp;
        }
    run->N = N;
    run->grid = g;
    run->t_start = g[0];
    run->t_end = g[N];
    int rc = scoresde_sde_marginal(run->sde, g, count, g + count, g + 2 * count, NULL, NULL);
    if (rc == SCORESDE_OK) {
        run->alpha = g + count;
        run->sigma = g + 2 * count;
    } else if (rc != SCORESDE_EUNSUPPORTED) {
        return rc;
    }
    return SCORESDE_OK;
}

/* A run of `model` under `s`, with the fields every entry point sets the same
 * way; callers add the method, guidance and conditioning. */
static sd_run run_init(const scoresde_sampler *s, const scoresde_model *model, uint64_t seed,
                       uint64_t first)
{
    sd_run run = {0};
    run.s = s;
    run.model = model;
    run.sde = scoresde_model_sde(model);
    run.D = scoresde_model_dim(model);
    run.Dy = run.D;
    run.seed = seed;
    run.first = first;
    return run;
}

/* D must be positive and the model's dimension; n positive; n x D fits. */
static int check_dims(const scoresde_model *model, size_t n, size_t D, size_t *nD)
{
    SD_TRY(sd_check_size(n, "n"));
    SD_TRY(sd_check_size(D, "D"));
    size_t Dm = scoresde_model_dim(model);
    if (D != Dm)
        return sd_fail(SCORESDE_EDIM, "D (%zu) is not the model's dimension (%zu)", D, Dm);
    return sd_doubles_count(n, D, nD, "n x D");
}

/* The checks of the ODE-only entry points (encode, likelihood): `in` holds n
 * finite rows of the model's dimension D, `out` is an output array, and
 * `needs` starts the message for a sampler of another method ("encoding
 * needs"). Writes n x D through nD. */
static int check_ode_entry(const scoresde_sampler *s, const scoresde_model *model, const double *in,
                           const char *in_name, size_t n, size_t D, const void *out,
                           const char *out_name, const scoresde_sampler_stats *stats,
                           const char *needs, size_t *nD)
{
    SD_TRY(sd_check_ptr(s, "sampler"));
    SD_TRY(sd_check_ptr(model, "model"));
    SD_TRY(sd_check_ptr(in, in_name));
    SD_TRY(sd_check_ptr(out, out_name));
    SD_TRY(check_dims(model, n, D, nD));
    SD_TRY(check_stats(stats));
    if (s->method != SCORESDE_SAMPLER_ODE)
        return sd_fail(SCORESDE_EINVAL, "%s the ODE method (%d); this sampler's method is %d",
                       needs, SCORESDE_SAMPLER_ODE, s->method);
    return sd_check_finite(in, *nD, in_name);
}

/* The call's conditions (`cond` resolved into *store, run->cond) and, for
 * entry points that guide (guided), the classifier-free guidance scale,
 * which needs a conditional model that accepts the null condition. */
static int setup_cond(sd_run *run, const scoresde_cond *cond, size_t n, int guided,
                      sd_cond *store)
{
    const scoresde_model *m = run->model;
    SD_TRY(sd_cond_resolve(m, cond, n, store, &run->cond));
    double w = run->s->opt[SCORESDE_SAMPLER_GUIDANCE_SCALE];
    if (!guided || w == 0.0)
        return SCORESDE_OK;
    if (scoresde_model_cond_dim(m) == 0)
        return sd_fail(SCORESDE_EINVAL,
                       "GUIDANCE_SCALE is %g, but the model is unconditional: classifier-free "
                       "guidance needs a conditional model",
                       w);
    if (!scoresde_model_cond_null(m))
        return sd_fail(SCORESDE_EINVAL,
                       "GUIDANCE_SCALE is %g, but the model does not accept the null condition "
                       "that classifier-free guidance evaluates",
                       w);
    run->cfg = w;
    return SCORESDE_OK;
}

static int sample_impl(const scoresde_sampler *s, const scoresde_model *model, const double *x_T,
                       size_t n, size_t D, const scoresde_cond *cond, uint64_t seed,
                       uint64_t first_sample, double *x_out, scoresde_sampler_stats *stats,
                       const unsigned char *mask, const double *known)
{
    SD_TRY(sd_check_ptr(s, "sampler"));
    SD_TRY(sd_check_ptr(model, "model"));
    SD_TRY(sd_check_ptr(x_out, "x_out"));
    size_t nD;
    SD_TRY(check_dims(model, n, D, &nD));
    SD_TRY(check_stats(stats));
    if (x_T != NULL)
        SD_TRY(sd_check_finite(x_T, nD, "x_T"));
    sd_run run = run_init(s, model, seed, first_sample);
    sd_cond cstore;
    SD_TRY(setup_cond(&run, cond, n, 1, &cstore));
    run.ops = method_find(s->method);
    if (s->method == SCORESDE_SAMPLER_DPMPP && sd_opt_int(s, SCORESDE_SAMPLER_ADAPTIVE))
        run.ops = &sd_method_dpmpp_adaptive;
    run.guided = 1;
    run.mask = mask;
    run.known = known;
    double eps, *buf = NULL;
    int rc = sd_solve_eps(s, run.sde, &eps);
    if (rc == SCORESDE_OK)
        rc = setup_grid(&run, eps, 0, &buf);
    if (rc == SCORESDE_OK)
        rc = ((const sd_method_ops *)run.ops)->prepare(&run);
    if (rc == SCORESDE_OK) {
        if (x_T != NULL)
            memmove(x_out, x_T, nD * sizeof *x_out);
        else
            rc = scoresde_sde_prior_sample(run.sde, n, D, seed, first_sample, 0, x_out);
    }
    if (rc == SCORESDE_OK)
        rc = drive(&run, n, x_out, stats);
    sd_free(buf);
    if (rc == SCORESDE_OK)
        rc = sd_solve_support(s, model, cond, n, D, seed, first_sample, x_out, mask, known, stats);
    return rc;
}

int scoresde_sampler_sample_cond(const scoresde_sampler *s, const scoresde_model *model,
                                 const double *x_T, size_t n, size_t D,
                                 const scoresde_cond *cond, uint64_t seed,
                                 uint64_t first_sample, double *x_out,
                                 scoresde_sampler_stats *stats)
{
    return sample_impl(s, model, x_T, n, D, cond, seed, first_sample, x_out, stats, NULL, NULL);
}

int scoresde_sampler_sample(const scoresde_sampler *s, const scoresde_model *model,
                            const double *x_T, size_t n, size_t D, uint64_t seed,
                            uint64_t first_sample, double *x_out, scoresde_sampler_stats *stats)
{
    return scoresde_sampler_sample_cond(s, model, x_T, n, D, NULL, seed, first_sample, x_out,
                                        stats);
}

int scoresde_sampler_inpaint(const scoresde_sampler *s, const scoresde_model *model,
                             const double *y, const unsigned char *mask, size_t n, size_t D,
                             uint64_t seed, uint64_t first_sample, double *x_out,
                             scoresde_sampler_stats *stats)
{
    return scoresde_sampler_inpaint_cond(s, model, y, mask, n, D, NULL, seed, first_sample,
                                         x_out, stats);
}

int scoresde_sampler_inpaint_cond(const scoresde_sampler *s, const scoresde_model *model,
                                  const double *y, const unsigned char *mask, size_t n, size_t D,
                                  const scoresde_cond *cond, uint64_t seed,
                                  uint64_t first_sample, double *x_out,
                                  scoresde_sampler_stats *stats)
{
    SD_TRY(sd_check_ptr(s, "sampler"));
    SD_TRY(sd_check_ptr(model, "model"));
    SD_TRY(sd_check_ptr(y, "y"));
    SD_TRY(sd_check_ptr(mask, "mask"));
    size_t nD;
    SD_TRY(check_dims(model, n, D, &nD));
    if (s->method != SCORESDE_SAMPLER_PC)
        return sd_fail(SCORESDE_EINVAL,
                       "inpainting needs the PC method (%d); this sampler's method is %d",
                       SCORESDE_SAMPLER_PC, s->method);
    for (size_t e = 0; e < nD; e++)
        if (mask[e % D] && !isfinite(y[e]))
            return sd_fail(SCORESDE_EINVAL, "known value y[%zu] (sample %zu, element %zu) = %g "
                                            "is not finite",
                           e, e / D, e % D, y[e]);
    if (y == x_out)
        return sd_fail(SCORESDE_EINVAL, "y and x_out must not be the same array");
    return sample_impl(s, model, NULL, n, D, cond, seed, first_sample, x_out, stats, mask, y);
}

int scoresde_sampler_encode(const scoresde_sampler *s, const scoresde_model *model,
                            const double *x0, size_t n, size_t D, double *x_out,
                            scoresde_sampler_stats *stats)
{
    return scoresde_sampler_encode_cond(s, model, x0, n, D, NULL, x_out, stats);
}

int scoresde_sampler_encode_cond(const scoresde_sampler *s, const scoresde_model *model,
                                 const double *x0, size_t n, size_t D,
                                 const scoresde_cond *cond, double *x_out,
                                 scoresde_sampler_stats *stats)
{
    size_t nD;
    SD_TRY(check_ode_entry(s, model, x0, "x0", n, D, x_out, "x_out", stats, "encoding needs", &nD));
    sd_run run = run_init(s, model, 0, 0);
    run.ops = &sd_method_ode;
    run.guided = 1;
    sd_cond cstore;
    SD_TRY(setup_cond(&run, cond, n, 1, &cstore));
    double eps, *buf = NULL;
    int rc = sd_solve_eps(s, run.sde, &eps);
    if (rc == SCORESDE_OK)
        rc = setup_grid(&run, eps, 1, &buf);
    if (rc == SCORESDE_OK)
        rc = sd_method_ode.prepare(&run);
    if (rc == SCORESDE_OK) {
        memmove(x_out, x0, nD * sizeof *x_out);
        rc = drive(&run, n, x_out, stats);
    }
    sd_free(buf);
    return rc;
}

int scoresde_sampler_likelihood(const scoresde_sampler *s, const scoresde_model *model,
                                const double *x, size_t n, size_t D, uint64_t seed,
                                uint64_t first_sample, double *logp, double *latent,
                                scoresde_sampler_stats *stats)
{
    return scoresde_sampler_likelihood_cond(s, model, x, n, D, NULL, seed, first_sample, logp,
                                            latent, stats);
}

int scoresde_sampler_likelihood_cond(const scoresde_sampler *s, const scoresde_model *model,
                                     const double *x, size_t n, size_t D,
                                     const scoresde_cond *cond, uint64_t seed,
                                     uint64_t first_sample, double *logp, double *latent,
                                     scoresde_sampler_stats *stats)
{
    size_t nD;
    SD_TRY(check_ode_entry(s, model, x, "x", n, D, logp, "logp", stats, "likelihoods need", &nD));
    sd_run run = run_init(s, model, seed, first_sample);
    run.ops = &sd_method_ode;
    sd_cond cstore;
    SD_TRY(setup_cond(&run, cond, n, 0, &cstore));
    double eps = s->opt[SCORESDE_SAMPLER_EPS], T = scoresde_sde_end_time(run.sde), *buf = NULL, *y = NULL;
    if (isnan(eps))
        eps = scoresde_sde_training_eps(run.sde);
    if (!(eps < T))
        return sd_fail(SCORESDE_EINVAL, "eps (%g) is not below the SDE's end time T (%g)", eps, T);
    int rc = sd_opt_int(s, SCORESDE_SAMPLER_GRID) == SCORESDE_SAMPLER_GRID_ARRAY
                 ? sd_fail(SCORESDE_EINVAL, "likelihoods integrate from eps to T; a caller's "
                                            "grid (GRID = ARRAY) is not used for them")
                 : setup_grid(&run, eps, 1, &buf);
    if (rc == SCORESDE_OK)
        rc = sd_solve_likelihood_setup(&run, n, x, &y);
    if (rc == SCORESDE_OK)
        rc = sd_method_ode.prepare(&run);
    if (rc == SCORESDE_OK)
        rc = drive(&run, n, y, stats);
    for (size_t i = 0; i < n && rc == SCORESDE_OK; i++) {
        double lp;
        rc = scoresde_sde_prior_logp(run.sde, y + i * (D + 1), 1, D, &lp);
        logp[i] = lp + y[i * (D + 1) + D];
        if (latent != NULL)
            memcpy(latent + i * D, y + i * (D + 1), D * sizeof(double));
    }
    sd_free(y);
    sd_free(buf);
    return rc;
}

int scoresde_bits_per_dim(const double *logp, size_t n, size_t D, unsigned bits, double scale,
                          double *bpd)
{
    SD_TRY(sd_check_ptr(logp, "logp"));
    SD_TRY(sd_check_ptr(bpd, "bpd"));
    SD_TRY(sd_check_size(n, "n"));
    SD_TRY(sd_check_size(D, "D"));
    if (bits == 0 || bits > 64)
        return sd_fail(SCORESDE_EINVAL, "bits (%u) must be in [1, 64]", bits);
    if (!(isfinite(scale) && scale > 0.0))
        return sd_fail(SCORESDE_EINVAL, "scale (%g) must be finite and positive", scale);
    SD_TRY(sd_check_doubles(logp, n, 1, "logp"));
    for (size_t i = 0; i < n; i++)
        bpd[i] = -logp[i] / ((double)D * log(2.0)) - log2(scale) + (double)bits;
    return SCORESDE_OK;
}

int scoresde_sampler_langevin(const scoresde_sampler *s, scoresde_score_fn score, void *user,
                              const double *x0, size_t n, size_t D, uint64_t seed,
                              uint64_t first_sample, double *x_out, scoresde_sampler_stats *stats)
{
    SD_TRY(sd_check_ptr(s, "sampler"));
    if (score == NULL)
        return sd_fail(SCORESDE_EINVAL, "score is NULL");
    SD_TRY(sd_check_ptr(x0, "x0"));
    SD_TRY(sd_check_ptr(x_out, "x_out"));
    SD_TRY(sd_check_size(n, "n"));
    SD_TRY(sd_check_size(D, "D"));
    SD_TRY(check_stats(stats));
    size_t nD;
    SD_TRY(sd_doubles_count(n, D, &nD, "n x D"));
    SD_TRY(sd_check_doubles(x0, n, D, "x0"));
    sd_run run = {0};
    void *hook_mem[2];
    run.s = s;
    run.D = D;
    run.Dy = D;
    run.seed = seed;
    run.first = first_sample;
    run.N = sd_opt_size(s, SCORESDE_SAMPLER_STEPS);
    SD_TRY(sd_solve_langevin_setup(&run, score, user, hook_mem));
    memmove(x_out, x0, nD * sizeof *x_out);
    return drive(&run, n, x_out, stats);
}
