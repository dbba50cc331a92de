/*
 * DPM-Solver++ multistep (Lu et al. 2022, arXiv:2211.01095), data prediction,
 * orders 1-3, in lambda = ln(alpha/sigma) (formulas in docs/math.md section 5).
 * Warm-up: step k (from 0) uses at most order k + 1, except that 3M takes
 * its first step with the singlestep DPM-Solver++(2S) (see dpm_first_2s).
 * The last steps use lower orders too (LOWER_ORDER_FINAL, see
 * sd_solve_multistep_order).
 * UniPC (Zhao et al. 2023, arXiv:2302.04867), the row that UNIPC = 1
 * selects, is this predictor with the UniC corrector of the predictor's
 * order after every step but the last (see unic_weights). The adaptive
 * DPM-Solver++ (the row that ADAPTIVE = 1 selects) is at the end.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "solve_internal.h"

static int dpm_prepare(sd_run *run)
{
    if (sd_opt_int(run->s, SCORESDE_SAMPLER_ORDER) > 3)
        return sd_fail(SCORESDE_EINVAL,
                       "DPM-Solver++ has ORDER 1 to 3; ORDER = %d is iPNDM's only",
                       sd_opt_int(run->s, SCORESDE_SAMPLER_ORDER));
    return sd_solve_need_sigma(run, "DPM-Solver++");
}

static size_t dpm_ws(const sd_run *run)
{
    return 3 * run->D;
}

/* The two previous data predictions; UniPC keeps the third too (UniC-3
 * uses the three the 3M predictor used) and the corrected point x_{k-1}. */
static size_t dpm_state(const sd_run *run)
{
    return 2 * run->D;
}

static size_t unipc_state(const sd_run *run)
{
    return 4 * run->D;
}

/* The predictor order of step k (warm-up, lower_order_final and the
 * step-ratio guard). */
static size_t dpm_order(const sd_run *r, size_t k)
{
    return sd_solve_multistep_order(r, k, sd_opt_size(r->s, SCORESDE_SAMPLER_ORDER), sd_solve_lambda);
}

/* Step k is 3M's singlestep 2S start. */
static int dpm_is_2s(const sd_run *r, size_t k)
{
    return k == 0 && sd_opt_size(r->s, SCORESDE_SAMPLER_ORDER) == 3 && r->N > 1;
}

/* phi_k(z) = sum_j z^j / (j + k)! (phi_0 = e^z, phi_{k+1} = (phi_k - 1/k!)/z),
 * k = 1..4: the series for |z| < 1/2, where the recurrence would cancel
 * (it divides by z up to four times), the recurrence from expm1 above. */
static double unic_phi(int k, double z)
{
    double fact = 1.0; /* k! */
    for (int i = 2; i <= k; i++)
        fact *= i;
    if (fabs(z) < 0.5) {
        double term = 1.0 / fact, sum = 0.0; /* 24 terms: 0.5^24/24! << eps */
        for (int j = 0; j < 24; j++) {
            sum += term;
            term *= z / (double)(j + k + 1);
        }
        return sum;
    }
    double p = expm1(z) / z, f = 1.0; /* phi_1; f = (i-1)! below */
    for (int i = 1; i < k; i++) {
        f *= i;
        p = (p - 1.0 / f) / z;
    }
    return p;
}

/* UniC weights of order p (1..3) for the step lambda_s -> lambda_s + h. The
 * exact step in data prediction is
 *   x_t = (sigma_t/sigma_s) x_s + alpha_t sum_{n>=0} h^(n+1) phi_{n+1}(-h) m^(n),
 * m^(n) the n-th lambda-derivative of m at lambda_s. UniC replaces the
 * n >= 1 terms by -alpha_t sum_j w_j D_j, D_j = (m(lambda_s + r_j h) - m_s)/r_j
 * = sum_n r_j^(n-1) h^n m^(n) / n!, with r_1..r_{p-1} < 0 at the previous
 * grid points and r_p = 1 at the new point, so matching n = 1..p gives the
 * Vandermonde system sum_j w_j r_j^(n-1) = g_n = -h phi_{n+1}(-h) n! (Zhao
 * et al.'s R rho = b with w = B(h) rho: B(h) cancels whenever the system is
 * solved). Local error O(h^(p+2)): one order above the predictor. For p = 1
 * the reference code takes rho = 1/2, B(h) = expm1(-h) ("bh2"), i.e.
 * w = expm1(-h)/2 = g_1 + O(h^2), of the same order; so does this library. */
static void unic_weights(size_t p, double h, const double *rk, double *w)
{
    if (p == 1) {
        w[0] = 0.5 * expm1(-h);
        return;
    }
    double A[3][4], fact = 1.0;
    for (size_t n = 1; n <= p; n++) {
        fact *= (double)n;
        for (size_t j = 0; j < p; j++) {
            double v = 1.0;
            for (size_t e = 1; e < n; e++)
                v *= rk[j];
            A[n - 1][j] = v;
        }
        A[n - 1][p] = -h * unic_phi((int)n + 1, -h) * fact;
    }
    /* Gaussian elimination with partial pivoting (p <= 3; the nodes are
     * distinct, so the Vandermonde matrix is regular) */
    for (size_t c = 0; c < p; c++) {
        size_t piv = c;
        for (size_t i = c + 1; i < p; i++)
            if (fabs(A[i][c]) > fabs(A[piv][c]))
                piv = i;
        if (piv != c)
            for (size_t j = 0; j <= p; j++) {
                double tmp = A[c][j];
                A[c][j] = A[piv][j];
                A[piv][j] = tmp;
            }
        for (size_t i = c + 1; i < p; i++) {
            double f = A[i][c] / A[c][c];
            for (size_t j = c; j <= p; j++)
                A[i][j] -= f * A[c][j];
        }
    }
    for (size_t c = p; c-- > 0;) {
        double v = A[c][p];
        for (size_t j = c + 1; j < p; j++)
            v -= A[c][j] * w[j];
        w[c] = v / A[c][c];
    }
}

/* UniC at step k >= 1: correct the block's x_k (the predictor's result, at
 * which m_k = mk was just evaluated) from x_{k-1} and m_{k-1..k-p} in the
 * state, p the order of step k-1's predictor. No-op after the 2S start. */
static void dpm_unic(sd_block *b, size_t k, const double *mk)
{
    const sd_run *r = b->run;
    size_t D = r->D;
    if (dpm_is_2s(r, k - 1))
        return;
    size_t p = dpm_order(r, k - 1);
    double ls = sd_solve_lambda(r, k - 1), h = sd_solve_lambda(r, k) - ls;
    double rk[3], w[3];
    for (size_t j = 0; j + 1 < p; j++)
        rk[j] = (sd_solve_lambda(r, k - 2 - j) - ls) / h;
    rk[p - 1] = 1.0;
    unic_weights(p, h, rk, w);
    double at = r->alpha[k], ratio = r->sigma[k] / r->sigma[k - 1], c0 = -at * expm1(-h);
    for (size_t i = 0; i < b->n; i++) {
        double *x = b->x + i * D, *m1 = b->state + i * 4 * D, *m2 = m1 + D, *m3 = m2 + D;
        const double *xp = m3 + D, *mm = mk + i * D;
        for (size_t j = 0; j < D; j++) {
            double dsum = w[p - 1] * (mm[j] - m1[j]);
            if (p >= 2)
                dsum += w[0] * (m2[j] - m1[j]) / rk[0];
            if (p >= 3)
                dsum += w[1] * (m3[j] - m1[j]) / rk[1];
            x[j] = ratio * xp[j] + c0 * m1[j] - at * dsum;
        }
    }
}

/* DPM-Solver++(2S) (Lu et al. 2022, Algorithm 1, r = 1/2) for the first
 * step of 3M: a one-step warm-up of local order 3, so the first step does not
 * cap the global order at 2 as an order-1 start would (one extra NFE).
 * m0 is the data prediction at t_0; the result replaces b->x. */
static int dpm_first_2s(sd_block *b, const double *m0)
{
    const sd_run *r = b->run;
    size_t D = r->D, nD = b->n * D;
    double *xm = b->ws + nD, *mm = xm + nD;
    double ls = sd_solve_lambda(r, 0), h = sd_solve_lambda(r, 1) - ls;
    double tm, am, sm, T = r->grid[0];
    /* the time where lambda = ls + h/2, i.e. sigma/alpha = exp(-(ls + h/2)) */
    SD_TRY(sd_solve_time_of_ratio(r->sde, exp(-(ls + 0.5 * h)), r->grid[1], T, &tm));
    SD_TRY(scoresde_sde_marginal(r->sde, &tm, 1, &am, &sm, NULL, NULL));
    double ratio_m = sm / r->sigma[0], cm = -am * expm1(-0.5 * h);
    for (size_t e = 0; e < nD; e++)
        xm[e] = ratio_m * b->x[e] + cm * m0[e];
    for (size_t i = 0; i < b->n; i++)
        b->t[i] = tm;
    SD_TRY(sd_solve_model_data(b, xm, b->t, mm));
    SD_TRY(sd_solve_guide_data(b, xm, am, sm, mm));
    b->nfe++;
    double ratio = r->sigma[1] / r->sigma[0], c = -r->alpha[1] * expm1(-h);
    for (size_t e = 0; e < nD; e++)
        b->x[e] = ratio * b->x[e] + c * mm[e];
    return SCORESDE_OK;
}

/* Step k of DPM-Solver++, or with unipc of UniPC (UniC first, from k = 1). */
static int multistep(sd_block *b, size_t k, int unipc)
{
    const sd_run *r = b->run;
    size_t D = r->D, N = r->N;
    size_t sd = (unipc ? 4 : 2) * D; /* state doubles per sample */
    double *m0 = b->ws;
    b->t_now = r->grid[k];
    for (size_t i = 0; i < b->n; i++)
        b->t[i] = r->grid[k];
    SD_TRY(sd_solve_model_data(b, b->x, b->t, m0));
    SD_TRY(sd_solve_guide_data(b, b->x, r->alpha[k], r->sigma[k], m0));
    b->nfe++;
    /* UniC reuses m_k, evaluated at the predicted x_k, as the paper does:
     * the history keeps m at the predicted points, the steps start from the
     * corrected ones */
    if (unipc && k > 0)
        dpm_unic(b, k, m0);
    size_t order = dpm_order(r, k);
    int single = dpm_is_2s(r, k);
    double h = sd_solve_lambda(r, k + 1) - sd_solve_lambda(r, k), phi1 = expm1(-h);
    double at = r->alpha[k + 1], ratio = r->sigma[k + 1] / r->sigma[k];
    double c1 = -at * phi1, c2 = 0.0, c3 = 0.0, r0 = 1.0, r1 = 1.0;
    if (order >= 2)
        r0 = (sd_solve_lambda(r, k) - sd_solve_lambda(r, k - 1)) / h;
    if (order == 2)
        c2 = -0.5 * at * phi1;
    if (order == 3) {
        r1 = (sd_solve_lambda(r, k - 1) - sd_solve_lambda(r, k - 2)) / h;
        double phi2 = phi1 / h + 1.0, phi3 = phi2 / h - 0.5;
        c2 = at * phi2;
        c3 = -at * phi3;
    }
    if (unipc)
        for (size_t i = 0; i < b->n; i++)
            memcpy(b->state + i * sd + 3 * D, b->x + i * D, D * sizeof(double));
    if (single)
        SD_TRY(dpm_first_2s(b, m0));
    for (size_t i = 0; i < b->n; i++) {
        double *x = b->x + i * D, *m1 = b->state + i * sd, *m2 = m1 + D;
        const double *mm = m0 + i * D;
        for (size_t j = 0; j < D; j++) {
            if (!single) {
                double v = ratio * x[j] + c1 * mm[j];
                if (order == 2) {
                    v += c2 * (mm[j] - m1[j]) / r0;
                } else if (order == 3) {
                    double d10 = (mm[j] - m1[j]) / r0, d11 = (m1[j] - m2[j]) / r1;
                    /* d2 = h^2 m'', twice the published D2 (docs/math.md section 5) */
                    double d1 = d10 + r0 / (r0 + r1) * (d10 - d11);
                    double d2 = 2.0 * (d10 - d11) / (r0 + r1);
                    v += c2 * d1 + c3 * d2;
                }
                x[j] = v;
            }
            if (unipc)
                m2[D + j] = m2[j]; /* m3 */
            m2[j] = m1[j];
            m1[j] = mm[j];
        }
    }
    b->t_now = r->grid[k + 1];
    b->accepted += b->n;
    if (k + 1 == N)
        b->done = 1;
    return SCORESDE_OK;
}

static int dpm_step(sd_block *b, size_t k)
{
    return multistep(b, k, 0);
}

static int unipc_step(sd_block *b, size_t k)
{
    return multistep(b, k, 1);
}

/* Optional Tweedie denoising at eps. */
static int dpm_finish(sd_block *b)
{
    const sd_run *r = b->run;
    double f;
    SD_TRY(sd_solve_final_factor(r, &f));
    if (f == 0.0)
        return SCORESDE_OK;
    size_t nD = b->n * r->D;
    for (size_t i = 0; i < b->n; i++)
        b->t[i] = r->grid[r->N];
    SD_TRY(sd_solve_model_data(b, b->x, b->t, b->ws));
    SD_TRY(sd_solve_guide_data(b, b->x, r->alpha[r->N], r->sigma[r->N], b->ws));
    b->nfe++;
    for (size_t e = 0; e < nD; e++)
        b->x[e] = f * b->ws[e];
    return SCORESDE_OK;
}

const sd_method_ops sd_method_dpmpp = {
    .name = "DPM-Solver++",
    .key = "dpmpp",
    .method = SCORESDE_SAMPLER_DPMPP,
    .defaults = (const sd_method_default[]){{SCORESDE_SAMPLER_GRID, SCORESDE_SAMPLER_GRID_LOGSNR},
                                           {SCORESDE_SAMPLER_STEPS, 20},
                                           {SCORESDE_SAMPLER_DENOISE, 0},
                                           {SCORESDE_SAMPLER_FINAL_STEP,
                                            SCORESDE_SAMPLER_FINAL_STOP},
                                           {0, 0}},
    .reads = SD_READS_MULTISTEP | SD_READS_FINAL | SD_READS_DATA,
    .prepare = dpm_prepare,
    .ws_doubles = dpm_ws,
    .state_doubles = dpm_state,
    .step = dpm_step,
    .finish = dpm_finish,
};

const sd_method_ops sd_method_unipc = {
    .name = "UniPC",
    .method = SCORESDE_SAMPLER_DPMPP,
    .selector = SCORESDE_SAMPLER_UNIPC,
    .reads = SD_SETTING_BIT(UNIPC) | SD_READS_MULTISTEP | SD_READS_FINAL | SD_READS_DATA,
    .prepare = dpm_prepare,
    .ws_doubles = dpm_ws,
    .state_doubles = unipc_state,
    .step = unipc_step,
    .finish = dpm_finish,
};

/* ------------------------------------------------------------------------
 * Adaptive DPM-Solver++ (ADAPTIVE = 1): the singlestep 3-stage data-prediction
 * solver with stages at lambda + h/3 and lambda + 2h/3 (Lu et al. 2022,
 * DPM-Solver-3 with r1 = 1/3, r2 = 2/3, in the data-prediction form of
 * DPM-Solver++), paired with the order-2 solution from the same three
 * evaluations for a local error estimate, with per-sample step control in
 * lambda (the adaptive DPM-Solver-23 of Lu et al. 2022, section 4.2, here per
 * sample so sample i never depends on the batch). Derivation, with the exact
 * step x_s = (sigma_s/sigma) x + sigma_s int e^l m(l) dl expanded about m0:
 *   x_s = (sigma_s/sigma) x - alpha_s expm1(-h) m0 + alpha_s p2(h) h m'
 *         + alpha_s p3(h) h^2 m'' + O(h^4),
 *   p2(h) = 1 + expm1(-h)/h ~ h/2,  p3(h) = 1/2 - p2(h)/h ~ h/6.
 * D1 = (m(u_r) - m0)/r = h m' + (r h^2/2) m'' + O(h^3): with r = 2/3,
 * p2 D1 matches p2 h m' + p3 h^2 m'' to O(h^4) locally (p3 ~ h/6 = p2 r/2),
 * order 3; with r = 1/3 it leaves (h/12 - h/6) h^2 m'', order 2. The step
 * size in lambda comes from the shared controller (control.c) with that
 * order-2 estimate. */

/* Per-sample state: the controller's (h in lambda), then lambda. */
enum {
    AD_T = SD_CTL_T,
    AD_H = SD_CTL_H,
    AD_DONE = SD_CTL_DONE,
    AD_ACC = SD_CTL_ACC,
    AD_REJ = SD_CTL_REJ,
    AD_NFE = SD_CTL_NFE,
    AD_LAM = SD_CTL_N,
    AD_NSTATE
};

/* p2(h) = 1 + expm1(-h)/h, with its series where the quotient cancels. */
static double ad_p2(double h)
{
    if (fabs(h) < 1e-3)
        return h * (0.5 - h * (1.0 / 6.0 - h * (1.0 / 24.0 - h / 120.0)));
    return 1.0 + expm1(-h) / h;
}

/* Workspace per sample: m0, u, m1, m2, x_low (D each), then the 8 marginals
 * of the stages and the AW_N arrays of the batched time inversion. */
enum { AW_LAM, AW_POS, AW_LO, AW_HI, AW_TGT, AW_MID, AW_MA, AW_MS, AW_ACT, AW_N };

static size_t dpa_ws(const sd_run *run)
{
    return 5 * run->D + 8 + AW_N;
}

/* The batched time inversion's arrays (n each) after the stage marginals. */
static double *ad_scratch(const sd_block *b, int which)
{
    return b->ws + 5 * b->run->D * b->n + 8 * b->n + (size_t)which * b->n;
}

/* The marginal at the m times t[] into a[], s[]: one call for all; if it
 * fails, one call per time, so the error is the first failing time's, as
 * the calls one by one gave it. */
static int ad_marginals(const sd_run *r, const double *t, size_t m, double *a, double *sg)
{
    if (m == 0 || scoresde_sde_marginal(r->sde, t, m, a, sg, NULL, NULL) == SCORESDE_OK)
        return SCORESDE_OK;
    for (size_t j = 0; j < m; j++)
        SD_TRY(scoresde_sde_marginal(r->sde, t + j, 1, a + j, sg + j, NULL, NULL));
    return SCORESDE_OK;
}

/* The times where lambda = lam_j (sigma/alpha = exp(-lam_j)) for m samples
 * of the block, lam_j and the sample's position in the block at
 * ad_scratch(AW_LAM) and (AW_POS), j < m, and the marginals there: b->t[i],
 * a[i], sg[i]. Each sample's time is sd_solve_time_of_ratio's bisection on
 * [t_end, t_start] (sd_sde_level_bracket's), run for all m samples at once:
 * every round evaluates
 * sigma/alpha at the midpoints of the samples still bisecting in one
 * marginal call, so each sample sees the same midpoints and comparisons,
 * hence the same bits, as its own bisection, and the error is the one the
 * samples one by one would give (the first sample's whose bisection or
 * marginal fails). */
static int ad_times(sd_block *b, size_t m, double *a, double *sg)
{
    const sd_run *r = b->run;
    const double *lam = ad_scratch(b, AW_LAM), *pos = ad_scratch(b, AW_POS);
    double *lo = ad_scratch(b, AW_LO), *hi = ad_scratch(b, AW_HI), *tgt = ad_scratch(b, AW_TGT);
    double *mid = ad_scratch(b, AW_MID), *ma = ad_scratch(b, AW_MA), *ms = ad_scratch(b, AW_MS);
    double *act = ad_scratch(b, AW_ACT); /* positions (< m) still bisecting */
    size_t na = 0, fail = m; /* the first failing position, m: none */
    int fail_rc = SCORESDE_OK;
    char fail_msg[256] = "";
    for (size_t j = 0; j < m; j++) {
        lo[j] = r->t_end;
        hi[j] = r->t_start;
        tgt[j] = exp(-lam[j]);
        act[na++] = (double)j;
    }
    while (na > 0) { /* each round leaves fewer doubles in every interval */
        size_t nm = 0;
        for (size_t q = 0; q < na; q++) {
            size_t j = (size_t)act[q];
            double md = 0.5 * (lo[j] + hi[j]);
            if (!(md > lo[j] && md < hi[j]))
                continue; /* this sample's interval cannot shrink: done */
            act[nm] = (double)j;
            mid[nm++] = md;
        }
        na = nm;
        if (na == 0)
            break;
        int batch = scoresde_sde_marginal(r->sde, mid, na, ma, ms, NULL, NULL);
        size_t keep = 0;
        for (size_t q = 0; q < na; q++) {
            size_t j = (size_t)act[q];
            int rc = batch == SCORESDE_OK ? SCORESDE_OK
                                          : scoresde_sde_marginal(r->sde, &mid[q], 1, &ma[q],
                                                                  &ms[q], NULL, NULL);
            double ratio = ms[q] / ma[q];
            if (rc == SCORESDE_OK && !isfinite(ratio))
                rc = sd_fail(SCORESDE_ENUMERIC, "sigma/alpha at t = %g is not finite", mid[q]);
            if (rc != SCORESDE_OK) {
                if (j < fail) {
                    fail = j;
                    fail_rc = rc;
                    snprintf(fail_msg, sizeof fail_msg, "%s", scoresde_last_error());
                }
                continue; /* its bisection ends here */
            }
            if (ratio < tgt[j])
                lo[j] = mid[q];
            else
                hi[j] = mid[q];
            act[keep++] = (double)j;
        }
        na = keep;
    }
    /* the final marginals, of the samples before the first failure */
    for (size_t j = 0; j < fail; j++)
        mid[j] = 0.5 * (lo[j] + hi[j]);
    SD_TRY(ad_marginals(r, mid, fail, ma, ms));
    if (fail < m)
        return sd_fail(fail_rc, "%s", fail_msg);
    for (size_t j = 0; j < m; j++) {
        size_t i = (size_t)pos[j];
        b->t[i] = mid[j];
        a[i] = ma[j];
        sg[i] = ms[j];
    }
    return SCORESDE_OK;
}

static int dpa_prepare(sd_run *run)
{
    SD_TRY(dpm_prepare(run));
    const scoresde_sampler *s = run->s;
    if (!(s->opt[SCORESDE_SAMPLER_ATOL] > 0.0) && !(s->opt[SCORESDE_SAMPLER_RTOL] > 0.0))
        return sd_fail(SCORESDE_EINVAL,
                       "adaptive DPM-Solver++ needs RTOL or ATOL above 0 (both are 0)");
    return SCORESDE_OK;
}

static size_t dpa_state(const sd_run *run)
{
    (void)run;
    return AD_NSTATE;
}

static double dpa_lam_end(const sd_run *r)
{
    return sd_solve_lambda(r, r->N);
}

static int dpa_init(sd_block *b)
{
    const sd_run *r = b->run;
    double span = dpa_lam_end(r) - sd_solve_lambda(r, 0);
    double h = r->s->opt[SCORESDE_SAMPLER_H_INIT];
    if (isnan(h))
        h = 0.05; /* Lu et al.'s starting step in lambda */
    for (size_t i = 0; i < b->n; i++) {
        double *st = b->state + i * AD_NSTATE;
        st[AD_LAM] = sd_solve_lambda(r, 0);
        st[AD_H] = h < span ? h : span;
        st[AD_T] = r->t_start;
        st[AD_DONE] = st[AD_ACC] = st[AD_REJ] = st[AD_NFE] = 0.0;
    }
    sd_control_summarise(b, AD_NSTATE);
    return SCORESDE_OK;
}

/* One model evaluation of the block: out = m(y, t) with guidance; per
 * sample times in b->t, marginals in a[], s[]. */
static int dpa_eval(sd_block *b, const double *y, const double *a, const double *sg,
                    double *out)
{
    const sd_run *r = b->run;
    size_t D = r->D;
    SD_TRY(sd_solve_model_data(b, y, b->t, out));
    if (r->s->guidance != NULL && r->guided)
        for (size_t i = 0; i < b->n; i++) {
            /* Tweedie guidance needs one (alpha, sigma) per call: do it per sample */
            sd_block one = *b;
            one.n = 1;
            one.t = b->t + i;
            one.gws = b->gws + i * D;
            SD_TRY(sd_solve_guide_data(&one, y + i * D, a[i], sg[i], out + i * D));
        }
    return SCORESDE_OK;
}

/* Per-sample times and marginals of the samples' next stage, at lambda + c h
 * (c = 1: the step's end, exactly t_end on a sample's last step). Done
 * samples are evaluated at their final point (results unused). The
 * marginals at the current points (c = 0) and the inversions lambda -> t
 * are batched over the block's samples (the same bits as one by one). */
static int dpa_stage(sd_block *b, double c, double *a, double *sg)
{
    const sd_run *r = b->run;
    double *lam = ad_scratch(b, AW_LAM), *pos = ad_scratch(b, AW_POS);
    size_t m = 0;
    for (size_t i = 0; i < b->n; i++) {
        const double *st = b->state + i * AD_NSTATE;
        if (st[AD_DONE] != 0.0) {
            b->t[i] = r->t_end;
            a[i] = r->alpha[r->N];
            sg[i] = r->sigma[r->N];
        } else if (c == 0.0) {
            b->t[i] = st[AD_T];
            pos[m++] = (double)i;
        } else if (c == 1.0 && st[AD_LAM] + st[AD_H] >= dpa_lam_end(r)) {
            b->t[i] = r->t_end;
            a[i] = r->alpha[r->N];
            sg[i] = r->sigma[r->N];
        } else {
            lam[m] = st[AD_LAM] + c * st[AD_H];
            pos[m++] = (double)i;
        }
    }
    if (c != 0.0)
        return ad_times(b, m, a, sg);
    /* c = 0: gather the times, one marginal call, scatter */
    double *tt = ad_scratch(b, AW_MID), *ma = ad_scratch(b, AW_MA), *ms = ad_scratch(b, AW_MS);
    for (size_t j = 0; j < m; j++)
        tt[j] = b->t[(size_t)pos[j]];
    SD_TRY(ad_marginals(r, tt, m, ma, ms));
    for (size_t j = 0; j < m; j++) {
        a[(size_t)pos[j]] = ma[j];
        sg[(size_t)pos[j]] = ms[j];
    }
    return SCORESDE_OK;
}

static int dpa_step(sd_block *b, size_t round)
{
    const sd_run *r = b->run;
    const scoresde_sampler *s = r->s;
    size_t D = r->D, n = b->n, nD = n * D;
    double atol = s->opt[SCORESDE_SAMPLER_ATOL], rtol = s->opt[SCORESDE_SAMPLER_RTOL];
    double lam_end = dpa_lam_end(r);
    sd_control ctl;
    sd_control_init(&ctl, s, 2, lam_end - sd_solve_lambda(r, 0), "lambda step"); /* x_h - x_low: order 2 */
    double *m0 = b->ws, *u = m0 + nD, *m1 = u + nD, *m2 = m1 + nD, *xl = m2 + nD;
    double *A0 = xl + nD, *S0 = A0 + n, *A1 = S0 + n, *S1 = A1 + n, *A2 = S1 + n, *S2 = A2 + n;
    double *AS = S2 + n, *SS = AS + n;
    const double r1 = 1.0 / 3.0, r2 = 2.0 / 3.0;
    /* stage 0: m0 at the samples' current points */
    SD_TRY(dpa_stage(b, 0.0, A0, S0));
    SD_TRY(dpa_eval(b, b->x, A0, S0, m0));
    /* stage 1 at lambda + h/3 (order 1 from m0) */
    SD_TRY(dpa_stage(b, r1, A1, S1));
    for (size_t i = 0; i < n; i++) {
        double h = b->state[i * AD_NSTATE + AD_H];
        int done = b->state[i * AD_NSTATE + AD_DONE] != 0.0;
        double ra = done ? 1.0 : S1[i] / S0[i], c0 = done ? 0.0 : -A1[i] * expm1(-r1 * h);
        for (size_t j = 0; j < D; j++)
            u[i * D + j] = ra * b->x[i * D + j] + c0 * m0[i * D + j];
    }
    SD_TRY(dpa_eval(b, u, A1, S1, m1));
    /* stage 2 at lambda + 2h/3 (order 2: D1 from stage 1) */
    SD_TRY(dpa_stage(b, r2, A2, S2));
    for (size_t i = 0; i < n; i++) {
        double h = b->state[i * AD_NSTATE + AD_H];
        int done = b->state[i * AD_NSTATE + AD_DONE] != 0.0;
        double ra = done ? 1.0 : S2[i] / S0[i], c0 = done ? 0.0 : -A2[i] * expm1(-r2 * h);
        double c1 = done ? 0.0 : A2[i] * ad_p2(r2 * h) * r2 / r1;
        for (size_t j = 0; j < D; j++) {
            size_t e = i * D + j;
            u[e] = ra * b->x[e] + c0 * m0[e] + c1 * (m1[e] - m0[e]);
        }
    }
    SD_TRY(dpa_eval(b, u, A2, S2, m2));
    /* the step's end: order 3 (D1 from stage 2) and order 2 (from stage 1) */
    SD_TRY(dpa_stage(b, 1.0, AS, SS));
    for (size_t i = 0; i < n; i++) {
        double *st = b->state + i * AD_NSTATE;
        if (st[AD_DONE] != 0.0)
            continue;
        st[AD_NFE] += 3.0;
        double h = st[AD_H];
        int last = st[AD_LAM] + h >= lam_end;
        double ra = SS[i] / S0[i], c0 = -AS[i] * expm1(-h), p2 = AS[i] * ad_p2(h);
        double *x = b->x + i * D, *xh = u + i * D, *xlo = xl + i * D;
        double err = 0.0;
        for (size_t j = 0; j < D; j++) {
            size_t e = i * D + j;
            double base = ra * x[j] + c0 * m0[e];
            xh[j] = base + p2 * (m2[e] - m0[e]) / r2;
            xlo[j] = base + p2 * (m1[e] - m0[e]) / r1;
            double sc = fmax(atol, rtol * fmax(fabs(xlo[j]), fabs(x[j])));
            double q = (xh[j] - xlo[j]) / sc;
            err += q * q;
        }
        err = sqrt(err / (double)D);
        if (!isfinite(err))
            return sd_fail(SCORESDE_ENUMERIC,
                           "sample %llu: the data prediction is not finite in the step from "
                           "t = %g (lambda step %g), round %zu",
                           (unsigned long long)(r->first + b->i0 + i), st[AD_T], h, round + 1);
        if (sd_control_accepts(err)) {
            memcpy(x, xh, D * sizeof(double));
            st[AD_ACC] += 1.0;
            st[AD_T] = b->t[i];
            if (last) {
                st[AD_LAM] = lam_end;
                st[AD_DONE] = 1.0;
                continue;
            }
            st[AD_LAM] += h;
        } else {
            st[AD_REJ] += 1.0;
        }
        SD_TRY(sd_control_next(&ctl, b, i, st, h, err, lam_end - st[AD_LAM]));
    }
    sd_control_summarise(b, AD_NSTATE);
    return SCORESDE_OK;
}

const sd_method_ops sd_method_dpmpp_adaptive = {
    .name = "adaptive DPM-Solver++",
    .method = SCORESDE_SAMPLER_DPMPP,
    .selector = SCORESDE_SAMPLER_ADAPTIVE,
    .reads = SD_SETTING_BIT(ADAPTIVE) | SD_READS_ADAPTIVE | SD_READS_FINAL | SD_READS_DATA,
    .prepare = dpa_prepare,
    .ws_doubles = dpa_ws,
    .state_doubles = dpa_state,
    .init = dpa_init,
    .step = dpa_step,
    .finish = dpm_finish,
};
