/*
 * Probability-flow ODE solvers: fixed-step Euler, Heun and classical RK4 on
 * the time grid, and adaptive Dormand-Prince 5(4) with per-sample step-size
 * control (control.c; each sample's steps depend on that sample alone, so
 * results do not depend on how samples are grouped). One table row per
 * stepper, carrying its Butcher tableau (and Dormand-Prince's error row);
 * one explicit Runge-Kutta routine (rk_stages) runs them all.
 * The right-hand side is the context's (sd_ode_ctx), so likelihoods reuse
 * the same steppers on an augmented state (likelihood.c).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <string.h>

#include "solve_internal.h"

/* The tableaux (Hairer, Norsett and Wanner, Solving ODEs I, II.1 and II.5).
 * Dormand and Prince (1980), the RK5(4)7M pair: FSAL (its last row of a is
 * b, so the last stage is the new solution and its F the next step's first),
 * e = b5 - b4, the error of the embedded 4th-order solution. */
static const sd_ode_stepper stepper_table[] = {
    {
        .name = "Euler",
        .id = SCORESDE_SAMPLER_SOLVER_EULER,
        .stages = 1,
        .c = {0.0},
        .b = {1.0},
    },
    {
        .name = "Heun",
        .id = SCORESDE_SAMPLER_SOLVER_HEUN,
        .stages = 2,
        .c = {0.0, 1.0},
        .a = {{0}, {1.0}},
        .b = {0.5, 0.5},
    },
    {
        .name = "RK4",
        .id = SCORESDE_SAMPLER_SOLVER_RK4,
        .stages = 4,
        .c = {0.0, 0.5, 0.5, 1.0},
        .a = {{0}, {0.5}, {0.0, 0.5}, {0.0, 0.0, 1.0}},
        .b = {1.0 / 6, 1.0 / 3, 1.0 / 3, 1.0 / 6},
    },
    {
        .name = "Dormand-Prince 5(4)",
        .id = SCORESDE_SAMPLER_SOLVER_DOPRI5,
        .stages = 7,
        .c = {0.0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1.0, 1.0},
        .a = {{0},
              {1.0 / 5},
              {3.0 / 40, 9.0 / 40},
              {44.0 / 45, -56.0 / 15, 32.0 / 9},
              {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
              {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
              {35.0 / 384, 0.0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84}},
        .b = {35.0 / 384, 0.0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84, 0.0},
        .e = {71.0 / 57600, 0.0, -71.0 / 16695, 71.0 / 1920, -17253.0 / 339200, 22.0 / 525,
              -1.0 / 40},
        .error_order = 4,
    },
};

const sd_ode_stepper *sd_ode_stepper_find(int id)
{
    for (size_t i = 0; i < sizeof stepper_table / sizeof stepper_table[0]; i++)
        if (stepper_table[i].id == id)
            return &stepper_table[i];
    return NULL;
}

int sd_solve_pf_rhs(sd_block *b, const double *y, const double *t, double *out)
{
    const sd_run *r = b->run;
    double *score = sd_ode_scratch(b);
    SD_TRY(sd_solve_model_score(b, y, t, score));
    SD_TRY(sd_solve_guide_score(b, y, t, score));
    return scoresde_sde_pf_drift(r->sde, y, t, score, b->n, r->D, out);
}

static sd_rhs_fn rhs_of(const sd_run *r)
{
    return ((const sd_ode_ctx *)r->ctx)->rhs;
}

/* The per-sample times of a step (n each, after the rhs scratch): its start
 * t0, step h and end t1. */
static double *step_times(const sd_block *b)
{
    const sd_ode_ctx *c = b->run->ctx;
    return sd_ode_scratch(b) + c->rhs_ws * b->n;
}

/* ------------------------------------------------------------ Runge-Kutta */

/* sum_j w_j k_j[e] over the m weights, from 0.0 and in order, skipping the
 * zero weights (a tableau's zeros are structural). */
static double rk_sum(const double *w, size_t m, double *const *k, size_t e)
{
    double s = 0.0;
    for (size_t j = 0; j < m; j++)
        if (w[j] != 0.0)
            s += w[j] * k[j][e];
    return s;
}

/* The one explicit Runge-Kutta routine, for every stepper: stages 1 .. s-1
 * of a step of `st` for the block's samples, sample i from its state x_i at
 * t0[i] by h[i] (0: the sample stays). Stage j is at y = x + h sum_{l<j}
 * a_jl k_l and time t0 + c_j h, except that a last stage with node 1 is at
 * t1[i], the step's end, exactly (the next grid time; Dormand-Prince's t_end
 * on a sample's last step). k[0] = F(x, t0) on entry, k[j] = F(stage j) on
 * return. The stage states go to y, the last to y_last (with FSAL the new
 * solution). Counts no evaluation. */
static int rk_stages(sd_block *b, const sd_ode_stepper *st, const double *t0, const double *h,
                     const double *t1, double *const *k, double *y, double *y_last)
{
    const sd_run *r = b->run;
    size_t Dy = r->Dy, S = st->stages;
    for (size_t j = 1; j < S; j++) {
        double *dst = j + 1 == S ? y_last : y;
        int at_end = j + 1 == S && st->c[j] == 1.0;
        for (size_t i = 0; i < b->n; i++) {
            for (size_t q = 0; q < Dy; q++) {
                size_t e = i * Dy + q;
                dst[e] = b->x[e] + h[i] * rk_sum(st->a[j], j, k, e);
            }
            b->t[i] = at_end ? t1[i] : t0[i] + h[i] * st->c[j];
        }
        SD_TRY(rhs_of(r)(b, dst, b->t, k[j]));
    }
    return SCORESDE_OK;
}

/* ------------------------------------------------------------ fixed steps */

/* Step k of the grid with a tableau without FSAL: x += h sum_j b_j k_j. */
static int fixed_step(sd_block *b, size_t k)
{
    const sd_run *r = b->run;
    const sd_ode_stepper *st = ((const sd_ode_ctx *)r->ctx)->stepper;
    size_t cnt = b->n * r->Dy;
    double *buf[SD_ODE_BUFS];
    for (int j = 0; j < SD_ODE_BUFS; j++)
        buf[j] = b->ws + (size_t)j * cnt;
    double t = r->grid[k], u = r->grid[k + 1], h = u - t;
    double *y = buf[SD_RK_STAGES], *t0 = step_times(b), *hh = t0 + b->n, *t1 = hh + b->n;
    b->t_now = t;
    for (size_t i = 0; i < b->n; i++) {
        t0[i] = b->t[i] = t;
        hh[i] = h;
        t1[i] = u;
    }
    SD_TRY(rhs_of(r)(b, b->x, b->t, buf[0]));
    SD_TRY(rk_stages(b, st, t0, hh, t1, buf, y, y));
    b->nfe += st->stages;
    for (size_t e = 0; e < cnt; e++)
        b->x[e] = b->x[e] + h * rk_sum(st->b, st->stages, buf, e);
    b->t_now = u;
    b->accepted += b->n;
    if (k + 1 == r->N)
        b->done = 1;
    return SCORESDE_OK;
}

/* ------------------------------------------------------------ Dormand-Prince
 * Adaptive steps in t with the shared per-sample controller (control.c). */

/* Per-sample state: the controller's, then k1 (Dy), F at the sample's point. */
enum { DP_K1 = SD_CTL_N };

static size_t dp_state_doubles(const sd_run *r)
{
    return DP_K1 + r->Dy;
}

static double scaled_rms(const double *v, const double *y0, const double *y1, size_t D,
                         double atol, double rtol)
{
    double s = 0.0;
    for (size_t j = 0; j < D; j++) {
        double m = fabs(y0[j]);
        if (y1 != NULL && fabs(y1[j]) > m)
            m = fabs(y1[j]);
        double q = v[j] / (atol + rtol * m);
        s += q * q;
    }
    return sqrt(s / (double)D);
}

static int dp_init(sd_block *b)
{
    const sd_run *r = b->run;
    const scoresde_sampler *s = r->s;
    size_t Dy = r->Dy, cnt = b->n * Dy, sd = dp_state_doubles(r);
    double atol = s->opt[SCORESDE_SAMPLER_ATOL], rtol = s->opt[SCORESDE_SAMPLER_RTOL];
    double span = fabs(r->t_end - r->t_start), dir = r->t_end > r->t_start ? 1.0 : -1.0;
    double *f0 = b->ws, *y1 = f0 + cnt, *f1 = y1 + cnt;
    for (size_t i = 0; i < b->n; i++)
        b->t[i] = r->t_start;
    SD_TRY(rhs_of(r)(b, b->x, b->t, f0));
    b->nfe++;
    double hinit = s->opt[SCORESDE_SAMPLER_H_INIT];
    double *h0 = b->t; /* reused: per-sample h0 before the second evaluation */
    if (!isnan(hinit)) { /* NaN: automatic */
        for (size_t i = 0; i < b->n; i++)
            h0[i] = hinit < span ? hinit : span;
    } else {
        /* Hairer, Norsett and Wanner, Solving ODEs I, II.4 (starting step). */
        for (size_t i = 0; i < b->n; i++) {
            const double *y = b->x + i * Dy, *f = f0 + i * Dy;
            double d0 = scaled_rms(y, y, NULL, Dy, atol, rtol);
            double d1 = scaled_rms(f, y, NULL, Dy, atol, rtol);
            double h = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
            h0[i] = h < span ? h : span;
            double *st = b->state + i * sd;
            st[SD_CTL_H] = d1; /* keep d1 for the second half */
            for (size_t j = 0; j < Dy; j++)
                y1[i * Dy + j] = y[j] + dir * h0[i] * f[j];
        }
        double *tt = f1 + cnt; /* times of the trial evaluation */
        for (size_t i = 0; i < b->n; i++)
            tt[i] = r->t_start + dir * h0[i];
        SD_TRY(rhs_of(r)(b, y1, tt, f1));
        b->nfe++;
        for (size_t i = 0; i < b->n; i++) {
            double *st = b->state + i * sd;
            double d1 = st[SD_CTL_H];
            for (size_t j = 0; j < Dy; j++)
                y1[i * Dy + j] = f1[i * Dy + j] - f0[i * Dy + j];
            double d2 = scaled_rms(y1 + i * Dy, b->x + i * Dy, NULL, Dy, atol, rtol) / h0[i];
            double m = d1 > d2 ? d1 : d2;
            double h1 = m <= 1e-15 ? fmax(1e-6, h0[i] * 1e-3) : pow(0.01 / m, 0.2);
            double h = fmin(100.0 * h0[i], h1);
            h0[i] = h < span ? h : span;
        }
    }
    for (size_t i = 0; i < b->n; i++) {
        double *st = b->state + i * sd;
        st[SD_CTL_T] = r->t_start;
        st[SD_CTL_H] = dir * h0[i];
        st[SD_CTL_DONE] = 0.0;
        st[SD_CTL_ACC] = st[SD_CTL_REJ] = 0.0;
        st[SD_CTL_NFE] = (double)b->nfe;
        memcpy(st + DP_K1, f0 + i * Dy, Dy * sizeof(double));
    }
    sd_control_summarise(b, sd);
    return SCORESDE_OK;
}

/* One attempted step of every unfinished sample (an FSAL tableau with an
 * error row), accepted or rejected by the controller. */
static int dp_step(sd_block *b, size_t round)
{
    const sd_run *r = b->run;
    const scoresde_sampler *s = r->s;
    const sd_ode_stepper *st = ((const sd_ode_ctx *)r->ctx)->stepper;
    size_t Dy = r->Dy, cnt = b->n * Dy, sd = dp_state_doubles(r), S = st->stages;
    double atol = s->opt[SCORESDE_SAMPLER_ATOL], rtol = s->opt[SCORESDE_SAMPLER_RTOL];
    sd_control ctl;
    sd_control_init(&ctl, s, st->error_order, fabs(r->t_end - r->t_start), "step size");
    /* k[1..S-1], the stage state, the new solution; k[0] lives in each
     * sample's state: gathered into the last buffer. */
    double *k[SD_RK_STAGES], *ytmp = b->ws + (S - 1) * cnt, *yn = ytmp + cnt;
    for (size_t j = 1; j < S; j++)
        k[j] = b->ws + (j - 1) * cnt;
    k[0] = yn + cnt;
    double *t0 = step_times(b), *hh = t0 + b->n, *t1 = hh + b->n;
    for (size_t i = 0; i < b->n; i++) {
        const double *si = b->state + i * sd;
        memcpy(k[0] + i * Dy, si + DP_K1, Dy * sizeof(double));
        int done = si[SD_CTL_DONE] != 0.0;
        t0[i] = si[SD_CTL_T];
        hh[i] = done ? 0.0 : si[SD_CTL_H];
        /* the last step lands on t_end exactly */
        t1[i] = !done && fabs(r->t_end - t0[i]) <= fabs(hh[i]) ? r->t_end
                                                               : t0[i] + hh[i] * st->c[S - 1];
    }
    SD_TRY(rk_stages(b, st, t0, hh, t1, k, ytmp, yn));
    for (size_t i = 0; i < b->n; i++) {
        double *si = b->state + i * sd;
        if (si[SD_CTL_DONE] != 0.0)
            continue;
        si[SD_CTL_NFE] += (double)(S - 1);
        double h = si[SD_CTL_H];
        const double *y = b->x + i * Dy, *yi = yn + i * Dy;
        double *e = ytmp + i * Dy;
        for (size_t j = 0; j < Dy; j++)
            e[j] = h * rk_sum(st->e, S, k, i * Dy + j);
        double err = scaled_rms(e, y, yi, Dy, atol, rtol);
        if (!isfinite(err))
            return sd_fail(SCORESDE_ENUMERIC,
                           "sample %llu: the ODE right-hand side is not finite in the step from "
                           "t = %g (h = %g), round %zu",
                           (unsigned long long)(r->first + b->i0 + i), si[SD_CTL_T], h, round + 1);
        if (sd_control_accepts(err)) {
            int last = fabs(r->t_end - si[SD_CTL_T]) <= fabs(h);
            memcpy(b->x + i * Dy, yi, Dy * sizeof(double));
            memcpy(si + DP_K1, k[S - 1] + i * Dy, Dy * sizeof(double));
            si[SD_CTL_T] = last ? r->t_end : si[SD_CTL_T] + h;
            si[SD_CTL_ACC] += 1.0;
            if (last) {
                si[SD_CTL_DONE] = 1.0;
                continue;
            }
        } else {
            si[SD_CTL_REJ] += 1.0;
        }
        SD_TRY(sd_control_next(&ctl, b, i, si, h, err, r->t_end - si[SD_CTL_T]));
    }
    sd_control_summarise(b, sd);
    return SCORESDE_OK;
}

/* ------------------------------------------------------------ the method */

int sd_ode_prepare(sd_run *run)
{
    const scoresde_sampler *s = run->s;
    sd_ode_ctx *c = run->ctx;
    const sd_ode_stepper *st = sd_ode_stepper_find(sd_opt_int(s, SCORESDE_SAMPLER_SOLVER));
    c->stepper = st;
    if (st->error_order > 0 && s->opt[SCORESDE_SAMPLER_RTOL] == 0.0 &&
        s->opt[SCORESDE_SAMPLER_ATOL] == 0.0)
        return sd_fail(SCORESDE_EINVAL, "RTOL and ATOL are both 0; the adaptive solver needs "
                                        "a positive tolerance");
    return SCORESDE_OK;
}

/* Sampling and encoding: the probability-flow drift. */
static int ode_prepare(sd_run *run)
{
    sd_ode_ctx *c = run->ctx;
    c->rhs = sd_solve_pf_rhs;
    c->rhs_ws = run->D;
    return sd_ode_prepare(run);
}

size_t sd_ode_ws(const sd_run *run)
{
    const sd_ode_ctx *c = run->ctx;
    return SD_ODE_BUFS * run->Dy + c->rhs_ws + 3; /* then step_times' */
}

size_t sd_ode_state(const sd_run *run)
{
    const sd_ode_ctx *c = run->ctx;
    return c->stepper->error_order > 0 ? dp_state_doubles(run) : 0;
}

int sd_ode_init(sd_block *b)
{
    const sd_ode_ctx *c = b->run->ctx;
    return c->stepper->error_order > 0 ? dp_init(b) : SCORESDE_OK;
}

int sd_ode_step(sd_block *b, size_t k)
{
    const sd_ode_ctx *c = b->run->ctx;
    return c->stepper->error_order > 0 ? dp_step(b, k) : fixed_step(b, k);
}

const sd_method_ops sd_method_ode = {
    .name = "ODE",
    .key = "ode",
    .method = SCORESDE_SAMPLER_ODE,
    .reads = SD_SETTING_BIT(SOLVER) | SD_READS_ADAPTIVE,
    .ctx_size = sizeof(sd_ode_ctx),
    .prepare = ode_prepare,
    .ws_doubles = sd_ode_ws,
    .state_doubles = sd_ode_state,
    .init = sd_ode_init,
    .step = sd_ode_step,
};
