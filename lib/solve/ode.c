/*
 * Probability-flow ODE solvers: fixed-step Euler, Heun and classical RK4 on
 * the time grid, and adaptive Dormand-Prince 5(4) with per-sample step-size
 * control (each sample's steps depend on that sample alone, so results do
 * not depend on how samples are grouped). One table row per stepper.
 * The right-hand side is the context's (sd_ode_ctx), so likelihoods reuse
 * the same steppers on an augmented state (likelihood.c).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <string.h>

#include "solve_internal.h"

static const sd_ode_stepper stepper_table[] = {
    {"Euler", SCORESDE_SAMPLER_SOLVER_EULER, 0, 1},
    {"Heun", SCORESDE_SAMPLER_SOLVER_HEUN, 0, 2},
    {"RK4", SCORESDE_SAMPLER_SOLVER_RK4, 0, 4},
    {"Dormand-Prince 5(4)", SCORESDE_SAMPLER_SOLVER_DOPRI5, 1, 6},
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

/* F at every sample of the block at one time t; counts one evaluation. */
static int rhs_at(sd_block *b, const double *y, double t, double *out)
{
    for (size_t i = 0; i < b->n; i++)
        b->t[i] = t;
    const sd_ode_ctx *c = b->run->ctx;
    SD_TRY(c->rhs(b, y, b->t, out));
    b->nfe++;
    return SCORESDE_OK;
}

/* y_out = x + h sum_j c_j k_j over m stage buffers. */
static void axpy_n(double *y_out, const double *x, double h, size_t count, size_t m,
                   const double *c, double *const *k)
{
    for (size_t e = 0; e < count; e++) {
        double s = 0.0;
        for (size_t j = 0; j < m; j++)
            s += c[j] * k[j][e];
        y_out[e] = x[e] + h * s;
    }
}

/* ------------------------------------------------------------ fixed steps */

static int fixed_step(sd_block *b, size_t k)
{
    const sd_run *r = b->run;
    const sd_ode_stepper *st = ((const sd_ode_ctx *)r->ctx)->stepper;
    size_t cnt = b->n * r->Dy;
    double *buf[SD_ODE_BUFS];
    for (int j = 0; j < SD_ODE_BUFS; j++)
        buf[j] = b->ws + (size_t)j * cnt;
    double t = r->grid[k], u = r->grid[k + 1], h = u - t;
    double *y = buf[4];
    b->t_now = t;
    SD_TRY(rhs_at(b, b->x, t, buf[0]));
    if (st->id == SCORESDE_SAMPLER_SOLVER_EULER) {
        static const double c[1] = {1.0};
        axpy_n(b->x, b->x, h, cnt, 1, c, buf);
    } else if (st->id == SCORESDE_SAMPLER_SOLVER_HEUN) {
        static const double c1[1] = {1.0}, c2[2] = {0.5, 0.5};
        axpy_n(y, b->x, h, cnt, 1, c1, buf);
        SD_TRY(rhs_at(b, y, u, buf[1]));
        axpy_n(b->x, b->x, h, cnt, 2, c2, buf);
    } else { /* RK4 */
        static const double c1[1] = {0.5}, c4[4] = {1.0 / 6, 1.0 / 3, 1.0 / 3, 1.0 / 6};
        axpy_n(y, b->x, h, cnt, 1, c1, buf);
        SD_TRY(rhs_at(b, y, t + 0.5 * h, buf[1]));
        axpy_n(y, b->x, h, cnt, 1, c1, buf + 1);
        SD_TRY(rhs_at(b, y, t + 0.5 * h, buf[2]));
        static const double c3[1] = {1.0};
        axpy_n(y, b->x, h, cnt, 1, c3, buf + 2);
        SD_TRY(rhs_at(b, y, u, buf[3]));
        axpy_n(b->x, b->x, h, cnt, 4, c4, buf);
    }
    b->t_now = u;
    b->accepted += b->n;
    if (k + 1 == r->N)
        b->done = 1;
    return SCORESDE_OK;
}

/* ------------------------------------------------------------ Dormand-Prince */

/* Dormand and Prince (1980), the RK5(4)7M pair; e = b5 - b4 (FSAL). */
static const double dp_c[7] = {0.0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1.0, 1.0};
static const double dp_a[7][6] = {
    {0},
    {1.0 / 5},
    {3.0 / 40, 9.0 / 40},
    {44.0 / 45, -56.0 / 15, 32.0 / 9},
    {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
    {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
    {35.0 / 384, 0.0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84},
};
static const double dp_e[7] = {71.0 / 57600,  0.0,          -71.0 / 16695, 71.0 / 1920,
                               -17253.0 / 339200, 22.0 / 525, -1.0 / 40};

/* Per-sample state: t, h, done, accepted, rejected, nfe, then k1 (Dy). */
enum { DP_T, DP_H, DP_DONE, DP_ACC, DP_REJ, DP_NFE, DP_K1 };

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

static void dp_summarise(sd_block *b)
{
    const sd_run *r = b->run;
    size_t sd = dp_state_doubles(r);
    int backward = r->t_end < r->t_start, done = 1;
    double tn = r->t_end, nfe = 0, acc = 0, rej = 0;
    for (size_t i = 0; i < b->n; i++) {
        const double *st = b->state + i * sd;
        done &= st[DP_DONE] != 0.0;
        if (backward ? st[DP_T] > tn : st[DP_T] < tn)
            tn = st[DP_T];
        if (st[DP_NFE] > nfe)
            nfe = st[DP_NFE];
        acc += st[DP_ACC];
        rej += st[DP_REJ];
    }
    b->t_now = tn;
    b->done = done;
    b->nfe = (uint64_t)nfe;
    b->accepted = (uint64_t)acc;
    b->rejected = (uint64_t)rej;
}

static int dp_init(sd_block *b)
{
    const sd_run *r = b->run;
    const scoresde_sampler *s = r->s;
    size_t Dy = r->Dy, cnt = b->n * Dy, sd = dp_state_doubles(r);
    double atol = s->opt[SCORESDE_SAMPLER_ATOL], rtol = s->opt[SCORESDE_SAMPLER_RTOL];
    double span = fabs(r->t_end - r->t_start), dir = r->t_end > r->t_start ? 1.0 : -1.0;
    double *f0 = b->ws, *y1 = f0 + cnt, *f1 = y1 + cnt;
    SD_TRY(rhs_at(b, b->x, r->t_start, f0));
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
            st[DP_H] = d1; /* keep d1 for the second half */
            for (size_t j = 0; j < Dy; j++)
                y1[i * Dy + j] = y[j] + dir * h0[i] * f[j];
        }
        double *tt = f1 + cnt; /* times of the trial evaluation */
        for (size_t i = 0; i < b->n; i++)
            tt[i] = r->t_start + dir * h0[i];
        SD_TRY(((const sd_ode_ctx *)r->ctx)->rhs(b, y1, tt, f1));
        b->nfe++;
        for (size_t i = 0; i < b->n; i++) {
            double *st = b->state + i * sd;
            double d1 = st[DP_H];
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
        st[DP_T] = r->t_start;
        st[DP_H] = dir * h0[i];
        st[DP_DONE] = 0.0;
        st[DP_ACC] = st[DP_REJ] = 0.0;
        st[DP_NFE] = (double)b->nfe;
        memcpy(st + DP_K1, f0 + i * Dy, Dy * sizeof(double));
    }
    dp_summarise(b);
    return SCORESDE_OK;
}

static int dp_step(sd_block *b, size_t round)
{
    const sd_run *r = b->run;
    const scoresde_sampler *s = r->s;
    size_t Dy = r->Dy, cnt = b->n * Dy, sd = dp_state_doubles(r);
    double atol = s->opt[SCORESDE_SAMPLER_ATOL], rtol = s->opt[SCORESDE_SAMPLER_RTOL];
    double span = fabs(r->t_end - r->t_start);
    double hmin =
        isnan(s->opt[SCORESDE_SAMPLER_H_MIN]) ? 1e-14 * span : s->opt[SCORESDE_SAMPLER_H_MIN];
    double maxsteps = s->opt[SCORESDE_SAMPLER_MAX_STEPS];
    double *k[7], *ytmp = b->ws + 6 * cnt, *y5 = b->ws + 7 * cnt;
    for (int j = 1; j < 7; j++)
        k[j] = b->ws + (size_t)(j - 1) * cnt;
    /* k[0] lives in each sample's state: gather it into the last buffer. */
    k[0] = b->ws + 8 * cnt;
    for (size_t i = 0; i < b->n; i++)
        memcpy(k[0] + i * Dy, b->state + i * sd + DP_K1, Dy * sizeof(double));
    for (int stage = 1; stage < 7; stage++) {
        double *dst = stage == 6 ? y5 : ytmp;
        for (size_t i = 0; i < b->n; i++) {
            const double *st = b->state + i * sd;
            const double *y = b->x + i * Dy;
            double h = st[DP_DONE] != 0.0 ? 0.0 : st[DP_H];
            for (size_t j = 0; j < Dy; j++) {
                double acc = 0.0;
                for (int q = 0; q < stage; q++)
                    acc += dp_a[stage][q] * k[q][i * Dy + j];
                dst[i * Dy + j] = y[j] + h * acc;
            }
            b->t[i] = st[DP_T] + h * dp_c[stage];
            if (stage == 6 && st[DP_DONE] == 0.0 && fabs(r->t_end - st[DP_T]) <= fabs(h))
                b->t[i] = r->t_end; /* the last step lands on t_end exactly */
        }
        SD_TRY(((const sd_ode_ctx *)r->ctx)->rhs(b, dst, b->t, k[stage]));
    }
    for (size_t i = 0; i < b->n; i++) {
        double *st = b->state + i * sd;
        if (st[DP_DONE] != 0.0)
            continue;
        st[DP_NFE] += 6.0;
        double h = st[DP_H];
        const double *y = b->x + i * Dy, *yn = y5 + i * Dy;
        double *e = ytmp + i * Dy;
        for (size_t j = 0; j < Dy; j++) {
            double acc = 0.0;
            for (int q = 0; q < 7; q++)
                acc += dp_e[q] * k[q][i * Dy + j];
            e[j] = h * acc;
        }
        double err = scaled_rms(e, y, yn, Dy, atol, rtol);
        if (!isfinite(err))
            return sd_fail(SCORESDE_ENUMERIC,
                           "sample %llu: the ODE right-hand side is not finite in the step from "
                           "t = %g (h = %g), round %zu",
                           (unsigned long long)(r->first + b->i0 + i), st[DP_T], h, round + 1);
        int accept = err <= 1.0;
        double fac = err == 0.0 ? 5.0 : 0.9 * pow(err, -0.2);
        fac = fmin(accept ? 5.0 : 1.0, fmax(0.2, fac));
        if (accept) {
            int last = fabs(r->t_end - st[DP_T]) <= fabs(h);
            memcpy(b->x + i * Dy, yn, Dy * sizeof(double));
            memcpy(st + DP_K1, k[6] + i * Dy, Dy * sizeof(double));
            st[DP_T] = last ? r->t_end : st[DP_T] + h;
            st[DP_ACC] += 1.0;
            if (last) {
                st[DP_DONE] = 1.0;
                continue;
            }
        } else {
            st[DP_REJ] += 1.0;
        }
        double hn = h * fac, rest = r->t_end - st[DP_T];
        if (fabs(hn) < hmin)
            return sd_fail(SCORESDE_ENUMERIC,
                           "sample %llu: the step size %g fell below H_MIN (%g) at t = %g",
                           (unsigned long long)(r->first + b->i0 + i), fabs(hn), hmin, st[DP_T]);
        if (fabs(hn) >= fabs(rest))
            hn = rest;
        st[DP_H] = hn;
        if (st[DP_ACC] + st[DP_REJ] >= maxsteps)
            return sd_solve_out_of_steps(b, i, st[DP_T]);
    }
    dp_summarise(b);
    return SCORESDE_OK;
}

/* ------------------------------------------------------------ the method */

int sd_ode_prepare(sd_run *run)
{
    const scoresde_sampler *s = run->s;
    sd_ode_ctx *c = run->ctx;
    const sd_ode_stepper *st = sd_ode_stepper_find(sd_opt_int(s, SCORESDE_SAMPLER_SOLVER));
    c->stepper = st;
    if (st->adaptive && s->opt[SCORESDE_SAMPLER_RTOL] == 0.0 &&
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
    return SD_ODE_BUFS * run->Dy + c->rhs_ws + 1;
}

size_t sd_ode_state(const sd_run *run)
{
    const sd_ode_ctx *c = run->ctx;
    return c->stepper->adaptive ? dp_state_doubles(run) : 0;
}

int sd_ode_init(sd_block *b)
{
    const sd_ode_ctx *c = b->run->ctx;
    return c->stepper->adaptive ? dp_init(b) : SCORESDE_OK;
}

int sd_ode_step(sd_block *b, size_t k)
{
    const sd_ode_ctx *c = b->run->ctx;
    return c->stepper->adaptive ? dp_step(b, k) : fixed_step(b, k);
}

const sd_method_ops sd_method_ode = {
    .name = "ODE",
    .method = SCORESDE_SAMPLER_ODE,
    .ctx_size = sizeof(sd_ode_ctx),
    .prepare = ode_prepare,
    .ws_doubles = sd_ode_ws,
    .state_doubles = sd_ode_state,
    .init = sd_ode_init,
    .step = sd_ode_step,
};
