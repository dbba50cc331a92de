/*
 * The sampler handle: its settings (bounds and defaults, one row each), the
 * caller's grid, and the hooks (guidance, progress). The driver that runs a
 * method is driver.c; the public calls that set up a run are run.c.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

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

/* The method rows, one line per method: its first row (its public name,
 * defaults and entry), then the rows that a setting selects in its place
 * (sd_method_ops.selector), the first selected winning. */
static const sd_method_ops *const method_table[] = {
    &sd_method_pc,
    &sd_method_ode,
    &sd_method_edm,
    &sd_method_dpmpp, &sd_method_dpmpp_adaptive, &sd_method_unipc,
    &sd_method_ipndm,
    &sd_method_ddim,
    &sd_method_dpmpp_sde,
    &sd_method_restart,
};
#define METHOD_ROWS (sizeof method_table / sizeof method_table[0])

/* The first row of `method`, or NULL for an unknown method. */
static const sd_method_ops *method_find(int method)
{
    for (size_t i = 0; i < METHOD_ROWS; i++)
        if (method_table[i]->method == method && method_table[i]->selector == 0)
            return method_table[i];
    return NULL;
}

/* The rows of the entry points that are not sampling: they run a sampler of
 * their row's method (the likelihood, ODE's) or of any method (0: Langevin
 * dynamics). Their settings are their method's too. */
static const sd_method_ops *const entry_table[] = {&sd_method_likelihood, &sd_method_langevin};
#define ENTRY_ROWS (sizeof entry_table / sizeof entry_table[0])

_Static_assert(SD_SAMPLER_NOPT <= 64, "sd_method_ops.reads holds one bit per setting id");

/* The settings every method reads beyond its rows': the driver's (STEPS,
 * THREADS, BLOCK, GUIDANCE_SCALE), the grid's (EPS, GRID, RHO, POWER), the
 * prior-support pass's, and those of the variational bound, which takes a
 * sampler of any method (scoresde_sampler_bound and _report). */
static const uint64_t driver_reads =
    SD_SETTING_BIT(STEPS) | SD_SETTING_BIT(EPS) | SD_SETTING_BIT(GRID) | SD_SETTING_BIT(RHO) |
    SD_SETTING_BIT(POWER) | SD_SETTING_BIT(THREADS) | SD_SETTING_BIT(BLOCK) |
    SD_SETTING_BIT(GUIDANCE_SCALE) | SD_SETTING_BIT(SUPPORT_RETRIES) |
    SD_SETTING_BIT(BOUND_DRAWS) | SD_SETTING_BIT(BOUND_TIME) | SD_SETTING_BIT(DEQUANT_BITS) |
    SD_SETTING_BIT(DEQUANT_DRAWS) | SD_SETTING_BIT(DATA_SCALE) | SD_SETTING_BIT(DATA_SHIFT);

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
    for (size_t i = 0; i < ENTRY_ROWS; i++)
        if (entry_table[i]->method == method || entry_table[i]->method == 0)
            reads |= entry_table[i]->reads;
    *applies = (int)((reads >> setting) & 1);
    return SCORESDE_OK;
}

const sd_method_ops *sd_sampler_row(const scoresde_sampler *s)
{
    for (size_t i = 0; i < METHOD_ROWS; i++) {
        const sd_method_ops *row = method_table[i];
        if (row->method == s->method && row->selector != 0 && sd_opt_int(s, row->selector))
            return row;
    }
    return method_find(s->method);
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
