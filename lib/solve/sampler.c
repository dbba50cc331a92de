/*
 * The sampler handle: its settings (bounds and defaults, one row each), the
 * caller's grid, and the hooks (guidance, progress). The driver that runs a
 * method is driver.c; the public calls that set up a run are run.c.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <string.h>

#include "settings.h"
#include "solve_internal.h"

/* ------------------------------------------------------------------ settings */

/* One row per setting (lib/core/settings.h), each kept in s->opt[id]; the
 * header lists the same bounds and defaults. The per-method exceptions to
 * `def` are in setting_default; NaN ("the library chooses") only for EPS,
 * H_INIT and H_MIN. */
#define OPT(ID) (offsetof(scoresde_sampler, opt) + (size_t)(ID) * sizeof(double))
#define ROW_I(ID, LO, HI, DEF)                                                                  \
    [SCORESDE_SAMPLER_##ID] = {SCORESDE_SAMPLER_##ID, #ID, SD_STORE_INT_DOUBLE,                   \
                               OPT(SCORESDE_SAMPLER_##ID), LO, HI, 0, 0, 0, DEF}
#define ROW_D(ID, LO, HI, NAN_OK, DEF)                                                          \
    [SCORESDE_SAMPLER_##ID] = {SCORESDE_SAMPLER_##ID, #ID, SD_STORE_DOUBLE,                       \
                               OPT(SCORESDE_SAMPLER_##ID), 0, 0, LO, HI, NAN_OK, DEF}
static const sd_setting sampler_rows[SD_SAMPLER_NOPT] = {
    ROW_I(STEPS, 1, 1000000, 1000),
    ROW_D(EPS, 0, 1e300, 1, NAN),
    ROW_I(PREDICTOR, 0, 3, SCORESDE_SAMPLER_PREDICTOR_REVERSE_DIFFUSION),
    ROW_I(CORRECTOR, 0, 2, SCORESDE_SAMPLER_CORRECTOR_LANGEVIN),
    ROW_I(CORRECTOR_STEPS, 0, 1000, 1),
    ROW_D(SNR, 0, 100, 0, 0.16),
    ROW_I(BATCH_NORMS, 0, 2, SCORESDE_SAMPLER_NORMS_NOISE_LEVEL),
    ROW_I(DENOISE, 0, 1, 1),
    ROW_D(LAM, 0, 100, 0, 1),
    ROW_I(GRID, 1, 5, SCORESDE_SAMPLER_GRID_UNIFORM_T), /* 4 = ARRAY: set_grid only */
    ROW_D(RHO, 1e-3, 1e3, 0, 7),
    ROW_I(THREADS, 1, 1024, 1),
    ROW_I(BLOCK, 1, 1048576, 64),
    ROW_D(ALD_STEP, 1e-12, 1e3, 0, 2e-5),
    ROW_I(SOLVER, 1, 4, SCORESDE_SAMPLER_SOLVER_DOPRI5),
    ROW_D(RTOL, 0, 1, 0, 1e-5),
    ROW_D(ATOL, 0, 1e300, 0, 1e-5),
    ROW_D(H_INIT, 1e-300, 1e300, 1, NAN),
    ROW_D(H_MIN, 0, 1e300, 1, NAN),
    ROW_I(MAX_STEPS, 1, 1000000000, 100000),
    ROW_I(DIVERGENCE, 1, 3, SCORESDE_SAMPLER_DIVERGENCE_EXACT),
    ROW_I(ORDER, 1, 4, 2), /* 4: IPNDM only */
    ROW_D(S_CHURN, 0, 1e6, 0, 0),
    ROW_D(S_TMIN, 0, 1e300, 0, 0),
    ROW_D(S_TMAX, 0, 1e300, 0, 1e300),
    ROW_D(S_NOISE, 0, 10, 0, 1),
    ROW_D(LANGEVIN_STEP, 1e-300, 1e300, 0, 1e-3),
    ROW_I(ADAPTIVE, 0, 1, 0),
    ROW_I(UNIPC, 0, 1, 0),
    ROW_I(BOUND_DRAWS, 1, 1000000, 8),
    ROW_I(BOUND_TIME, 1, 2, SCORESDE_SAMPLER_BOUND_TIME_IMPORTANCE),
    ROW_I(DEQUANT_BITS, 0, 32, 0),
    ROW_I(DEQUANT_DRAWS, 1, 1000000, 1),
    ROW_D(DATA_SCALE, 1e-300, 1e300, 0, 1),
    ROW_D(DATA_SHIFT, -1e300, 1e300, 0, 0),
    ROW_D(GUIDANCE_SCALE, -1e6, 1e6, 0, 0),
    ROW_I(SUPPORT_RETRIES, 0, 1000000, 100),
    ROW_I(LOWER_ORDER_FINAL, 0, 1, 1),
    ROW_D(STEP_RATIO_MAX, 1, 1e300, 0, 3),
    ROW_I(FINAL_STEP, 0, 2, SCORESDE_SAMPLER_FINAL_TWEEDIE),
    ROW_D(POWER, 0.1, 100, 0, 2),
    ROW_D(ETA, 0, 100, 0, 0),
    ROW_D(THRESHOLD, 0, 1, 0, 0),
    ROW_D(THRESHOLD_BOUND, 1e-300, 1e300, 0, 1),
    ROW_I(RESTART_K, 0, 1000000, 2),
    ROW_D(RESTART_TMIN, 0, 1e300, 0, 0.06),
    ROW_D(RESTART_TMAX, 1e-300, 1e300, 0, 0.3),
    ROW_I(RESTART_STEPS, 1, 1000000, 2),
};
#undef OPT
#undef ROW_I
#undef ROW_D

static const sd_settings sampler_settings = {"sampler", "scoresde_sampler", sampler_rows,
                                             SD_SAMPLER_NOPT};

static const sd_method_ops *const method_table[] = {&sd_method_pc, &sd_method_ode,
                                                    &sd_method_edm, &sd_method_dpmpp,
                                                    &sd_method_ipndm, &sd_method_ddim,
                                                    &sd_method_dpmpp_sde, &sd_method_restart};

static const sd_method_ops *method_find(int method)
{
    for (size_t i = 0; i < sizeof method_table / sizeof method_table[0]; i++)
        if (method_table[i]->method == method)
            return method_table[i];
    return NULL;
}

/* Where a new sampler of `method` starts (a known method and setting): the
 * table's value, except for the published per-method settings (EDM: Karras
 * et al.'s 18 noise levels on their grid, Restart's main grid too; DPMPP: DPM-Solver's log-SNR grid,
 * 20 steps, no final denoising), documented in sampler.h. */
static double setting_default(int method, int setting)
{
    if (method == SCORESDE_SAMPLER_EDM || method == SCORESDE_SAMPLER_RESTART) {
        if (setting == SCORESDE_SAMPLER_GRID)
            return SCORESDE_SAMPLER_GRID_KARRAS;
        if (setting == SCORESDE_SAMPLER_STEPS)
            return 17;
    } else if (method == SCORESDE_SAMPLER_IPNDM) {
        if (setting == SCORESDE_SAMPLER_GRID)
            return SCORESDE_SAMPLER_GRID_KARRAS;
        if (setting == SCORESDE_SAMPLER_STEPS)
            return 10;
        if (setting == SCORESDE_SAMPLER_ORDER)
            return 4;
    } else if (method == SCORESDE_SAMPLER_DDIM || method == SCORESDE_SAMPLER_DPMPP_SDE) {
        if (setting == SCORESDE_SAMPLER_GRID)
            return SCORESDE_SAMPLER_GRID_LOGSNR;
        if (setting == SCORESDE_SAMPLER_STEPS)
            return method == SCORESDE_SAMPLER_DDIM ? 50 : 20;
        if (setting == SCORESDE_SAMPLER_ETA)
            return method == SCORESDE_SAMPLER_DDIM ? 0 : 1;
        if (setting == SCORESDE_SAMPLER_DENOISE || setting == SCORESDE_SAMPLER_FINAL_STEP)
            return SCORESDE_SAMPLER_FINAL_STOP;
    } else if (method == SCORESDE_SAMPLER_DPMPP) {
        if (setting == SCORESDE_SAMPLER_GRID)
            return SCORESDE_SAMPLER_GRID_LOGSNR;
        if (setting == SCORESDE_SAMPLER_STEPS)
            return 20;
        if (setting == SCORESDE_SAMPLER_DENOISE || setting == SCORESDE_SAMPLER_FINAL_STEP)
            return SCORESDE_SAMPLER_FINAL_STOP;
    }
    return sampler_rows[setting].def;
}

const sd_method_ops *sd_sampler_row(const scoresde_sampler *s)
{
    if (s->method == SCORESDE_SAMPLER_DPMPP && sd_opt_int(s, SCORESDE_SAMPLER_ADAPTIVE))
        return &sd_method_dpmpp_adaptive;
    return method_find(s->method);
}

int scoresde_sampler_create(scoresde_sampler **out, int method)
{
    SD_TRY(sd_check_ptr(out, "out"));
    *out = NULL;
    if (method_find(method) == NULL)
        return sd_fail(SCORESDE_EINVAL, "method %d is not a sampler method", method);
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
        return sd_fail(SCORESDE_EINVAL, "method %d is not a sampler method", method);
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
