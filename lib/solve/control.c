/*
 * The step-size controller of the adaptive solvers, per sample: Dormand-
 * Prince 5(4) in t (ode.c) and the adaptive DPM-Solver++ in lambda (dpm.c).
 * A later adaptive method keeps the SD_CTL_* doubles first in each sample's
 * state, computes a scaled error estimate err of each attempted step (an RMS
 * over the sample's coordinates, each scaled by its tolerance), moves the
 * sample when sd_control_accepts(err), and asks sd_control_next for the next
 * step. The rule (Hairer, Norsett and Wanner, Solving ODEs I, II.4): accept
 * iff err <= 1; the next step is h fac with
 *     fac = clamp(0.9 err^(-1/(q+1)), 0.2, 5)  (5 when err = 0),
 * q the order of the error estimate, and fac at most 1 after a rejection;
 * it is clipped to what is left to the end; below H_MIN (NaN: 1e-14 of the
 * span) or after MAX_STEPS attempted steps the sample fails with
 * SCORESDE_ENUMERIC, naming it.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>

#include "solve_internal.h"

/* Sample i of block b at time t has used up MAX_STEPS attempted steps. */
static int out_of_steps(const sd_block *b, size_t i, double t)
{
    const sd_run *r = b->run;
    return sd_fail(SCORESDE_ENUMERIC,
                   "sample %llu did not reach t = %g within MAX_STEPS (%g) steps; it is at t = %g",
                   (unsigned long long)(r->first + b->i0 + i), r->t_end,
                   r->s->opt[SCORESDE_SAMPLER_MAX_STEPS], t);
}

void sd_control_init(sd_control *c, const scoresde_sampler *s, unsigned error_order, double span,
                     const char *step)
{
    double hmin = s->opt[SCORESDE_SAMPLER_H_MIN];
    c->exponent = -1.0 / (double)(error_order + 1);
    c->h_min = isnan(hmin) ? 1e-14 * span : hmin;
    c->max_steps = s->opt[SCORESDE_SAMPLER_MAX_STEPS];
    c->step = step;
}

int sd_control_next(const sd_control *c, const sd_block *b, size_t i, double *st, double h,
                    double err, double rest)
{
    double fac = err == 0.0 ? 5.0 : 0.9 * pow(err, c->exponent);
    fac = fmin(sd_control_accepts(err) ? 5.0 : 1.0, fmax(0.2, fac));
    double hn = h * fac;
    if (fabs(hn) < c->h_min)
        return sd_fail(SCORESDE_ENUMERIC, "sample %llu: the %s %g fell below H_MIN (%g) at t = %g",
                       (unsigned long long)(b->run->first + b->i0 + i), c->step, fabs(hn),
                       c->h_min, st[SD_CTL_T]);
    if (fabs(hn) >= fabs(rest))
        hn = rest;
    st[SD_CTL_H] = hn;
    if (st[SD_CTL_ACC] + st[SD_CTL_REJ] >= c->max_steps)
        return out_of_steps(b, i, st[SD_CTL_T]);
    return SCORESDE_OK;
}

void sd_control_summarise(sd_block *b, size_t stride)
{
    const sd_run *r = b->run;
    int backward = r->t_end < r->t_start, done = 1;
    double tn = r->t_end, nfe = 0.0, acc = 0.0, rej = 0.0;
    for (size_t i = 0; i < b->n; i++) {
        const double *st = b->state + i * stride;
        done &= st[SD_CTL_DONE] != 0.0;
        if (backward ? st[SD_CTL_T] > tn : st[SD_CTL_T] < tn)
            tn = st[SD_CTL_T];
        if (st[SD_CTL_NFE] > nfe)
            nfe = st[SD_CTL_NFE];
        acc += st[SD_CTL_ACC];
        rej += st[SD_CTL_REJ];
    }
    b->t_now = tn;
    b->done = done;
    b->nfe = (uint64_t)nfe;
    b->accepted = (uint64_t)acc;
    b->rejected = (uint64_t)rej;
}
