/*
 * The variational bound on -ln p(x_0) of the reverse-time SDE and the
 * likelihood report (scoresde/bound.h; the guide's pages 12 and 13).
 * The score term is a Monte-Carlo average over M draws (t, z) per point; the
 * prior and boundary terms are closed forms for the Gaussian marginal.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <string.h>

#include "sde_internal.h"
#include "solve_internal.h"

#define OFFSET_LIMIT (UINT64_C(1) << 56)

/* Offsets are laid out in whole Philox blocks (two elements each), so that a
 * draw's uniforms and normals never share a block (Box-Muller would couple
 * them): D rounded up to even, and a time draw's stride (u, then z). */
static uint64_t even_up(size_t D)
{
    return (uint64_t)D + (D & 1);
}
static uint64_t draw_stride(size_t D)
{
    return even_up(D) + 2;
}

/* What every point of a bound call shares. */
typedef struct bound_ctx {
    const scoresde_model *model;
    const scoresde_sde *sde;
    size_t D, M, block;
    int importance;
    sd_importance is;           /* IMPORTANCE */
    double eps, T;
    double alpha_T, sigma_T, v; /* marginal at T, prior variance */
    double boundary;            /* D ln(sigma_eps / (alpha_eps sigma_T)) */
} bound_ctx;

static int bound_prepare(const scoresde_sampler *s, const scoresde_model *model, size_t D,
                         uint64_t draws_per_point, bound_ctx *c)
{
    c->model = model;
    c->sde = scoresde_model_sde(model);
    c->D = D;
    c->M = sd_opt_size(s, SCORESDE_SAMPLER_BOUND_DRAWS);
    c->block = sd_opt_size(s, SCORESDE_SAMPLER_BLOCK);
    c->importance = sd_opt_int(s, SCORESDE_SAMPLER_BOUND_TIME) ==
                    SCORESDE_SAMPLER_BOUND_TIME_IMPORTANCE;
    if (draws_per_point > OFFSET_LIMIT)
        return sd_fail(SCORESDE_EINVAL,
                       "the bound's draws per point (%llu offsets) exceed 2^56",
                       (unsigned long long)draws_per_point);
    c->T = scoresde_sde_end_time(c->sde);
    c->eps = s->opt[SCORESDE_SAMPLER_EPS];
    if (isnan(c->eps))
        c->eps = scoresde_sde_training_eps(c->sde);
    if (!(c->eps > 0 && c->eps < c->T))
        return sd_fail(SCORESDE_EINVAL, "the bound needs 0 < eps (%g) < T (%g)", c->eps, c->T);
    double t2[2] = {c->eps, c->T}, a[2], sg[2];
    SD_TRY(scoresde_sde_marginal(c->sde, t2, 2, a, sg, NULL, NULL));
    if (!(sg[0] > 0))
        return sd_fail(SCORESDE_EINVAL, "the bound needs sigma(eps) > 0 (eps = %g)", c->eps);
    SD_TRY(scoresde_sde_prior_var(c->sde, &c->v));
    c->alpha_T = a[1];
    c->sigma_T = sg[1];
    c->boundary = (double)D * log(sg[0] / (a[0] * sg[1]));
    if (c->importance)
        SD_TRY(sd_sde_importance_prepare(c->sde, c->eps, c->T, &c->is));
    return SCORESDE_OK;
}

/* Draw m of the points [i0, i0 + n): times into t, x_t into xt, z into z. */
static int bound_draw(const bound_ctx *c, const double *x, size_t n, uint64_t seed,
                      uint64_t stream0, uint64_t base, size_t m, double *t, double *xt,
                      double *z)
{
    size_t D = c->D;
    uint64_t off = base + (uint64_t)m * draw_stride(D);
    for (size_t i = 0; i < n; i++) {
        double u;
        sd_rng_uniform(seed, stream0 + i, SCORESDE_RNG_OFFSET(SCORESDE_RNG_BOUND, off), 1, &u);
        if (c->importance)
            SD_TRY(sd_sde_importance_time(&c->is, u, &t[i]));
        else
            t[i] = c->eps + (c->T - c->eps) * u;
        sd_rng_normal(seed, stream0 + i, SCORESDE_RNG_OFFSET(SCORESDE_RNG_BOUND, off + 2), D,
                      z + i * D);
    }
    return SCORESDE_OK;
}

/* One batch of n points: terms (n x 3) and standard errors, Welford over m. */
static int bound_batch(const bound_ctx *c, const double *x, size_t n, uint64_t seed,
                       uint64_t stream0, uint64_t base, double *ws, double *terms, double *se)
{
    size_t D = c->D;
    double *t = ws, *al = t + n, *sg = al + n, *g = sg + n, *mean = g + n, *m2 = mean + n;
    double *z = m2 + n, *xt = z + n * D, *score = xt + n * D;
    memset(mean, 0, 2 * n * sizeof(double));
    for (size_t m = 0; m < c->M; m++) {
        SD_TRY(bound_draw(c, x, n, seed, stream0, base, m, t, xt, z));
        SD_TRY(scoresde_sde_marginal(c->sde, t, n, al, sg, NULL, NULL));
        SD_TRY(scoresde_sde_diffusion(c->sde, t, n, g));
        for (size_t i = 0; i < n * D; i++)
            xt[i] = al[i / D] * x[i] + sg[i / D] * z[i];
        SD_TRY(scoresde_model_score(c->model, xt, t, n, D, score));
        for (size_t i = 0; i < n; i++) {
            double q = 0;
            for (size_t j = 0; j < D; j++) {
                double e = sg[i] * score[i * D + j] + z[i * D + j];
                q += e * e;
            }
            /* g^2 / (sigma^2 p(t)): Z for importance, (T - eps) g^2 / sigma^2 uniform */
            double w = c->importance ? c->is.Z
                                     : (c->T - c->eps) * g[i] * g[i] / (sg[i] * sg[i]);
            double term = 0.5 * w * q;
            if (!isfinite(term))
                return sd_fail(SCORESDE_ENUMERIC,
                               "the bound's score term of point %llu at t = %g is not finite",
                               (unsigned long long)(stream0 + i), t[i]);
            double d = term - mean[i];
            mean[i] += d / (double)(m + 1);
            m2[i] += d * (term - mean[i]);
        }
    }
    for (size_t i = 0; i < n; i++) {
        double x2 = 0;
        for (size_t j = 0; j < D; j++)
            x2 += x[i * D + j] * x[i * D + j];
        double *r = terms + i * 3;
        r[0] = 0.5 * (double)D * log(2 * M_PI * c->v) +
               (c->alpha_T * c->alpha_T * x2 + (double)D * c->sigma_T * c->sigma_T) / (2 * c->v);
        r[1] = mean[i];
        r[2] = c->boundary;
        se[i] = c->M > 1 ? sqrt(m2[i] / (double)(c->M - 1) / (double)c->M) : NAN;
    }
    return SCORESDE_OK;
}

/* The bound's terms (n x 3) and standard errors for points y, draws from base. */
static int bound_points(const bound_ctx *c, const double *y, size_t n, uint64_t seed,
                        uint64_t first, uint64_t base, double *terms, double *se)
{
    size_t B = c->block < n ? c->block : n, D = c->D;
    double *ws = sd_calloc(B, (6 + 3 * D) * sizeof(double));
    if (ws == NULL)
        return SCORESDE_ENOMEM;
    int rc = SCORESDE_OK;
    for (size_t i0 = 0; i0 < n && rc == SCORESDE_OK; i0 += B) {
        size_t nb = n - i0 < B ? n - i0 : B;
        rc = bound_batch(c, y + i0 * D, nb, seed, first + i0, base, ws, terms + i0 * 3, se + i0);
    }
    sd_free(ws);
    return rc;
}

static int check_points(const scoresde_sampler *s, const scoresde_model *model, const double *x,
                        size_t n, size_t D, const void *out, const char *out_name)
{
    SD_TRY(sd_check_ptr(s, "sampler"));
    SD_TRY(sd_check_ptr(model, "model"));
    SD_TRY(sd_check_ptr(x, "x"));
    SD_TRY(sd_check_ptr(out, out_name));
    SD_TRY(sd_check_size(n, "n"));
    SD_TRY(sd_check_size(D, "D"));
    if (D != scoresde_model_dim(model))
        return sd_fail(SCORESDE_EDIM, "D (%zu) is not the model's dimension (%zu)", D,
                       scoresde_model_dim(model));
    size_t nD; /* n x D doubles must be addressable before any is read */
    return sd_doubles_count(n, D, &nD, "x");
}

int scoresde_sampler_bound(const scoresde_sampler *s, const scoresde_model *model,
                           const double *x, size_t n, size_t D, uint64_t seed,
                           uint64_t first_sample, double *nll, double *stderr_out, double *terms)
{
    SD_TRY(check_points(s, model, x, n, D, nll, "nll"));
    SD_TRY(sd_check_finite(x, n * D, "x"));
    bound_ctx c;
    SD_TRY(bound_prepare(s, model, D, (uint64_t)sd_opt_size(s, SCORESDE_SAMPLER_BOUND_DRAWS) *
                                          draw_stride(D), &c));
    double *buf = sd_calloc(n, 4 * sizeof(double)), *t3 = buf, *se = buf + 3 * n;
    if (buf == NULL)
        return SCORESDE_ENOMEM;
    int rc = bound_points(&c, x, n, seed, first_sample, 0, t3, se);
    for (size_t i = 0; i < n && rc == SCORESDE_OK; i++) {
        nll[i] = (t3[3 * i] + t3[3 * i + 1]) + t3[3 * i + 2];
        if (stderr_out != NULL)
            stderr_out[i] = se[i];
    }
    if (rc == SCORESDE_OK && terms != NULL)
        memcpy(terms, t3, 3 * n * sizeof(double));
    sd_free(buf);
    return rc;
}

/* ------------------------------------------------------------------ report */

/* Data checks and y = scale v + shift for dequantisation draw k (b > 0: u
 * from the draw's offsets). */
static void report_inputs(const scoresde_sampler *s, const double *x, size_t n, size_t D,
                          uint64_t seed, uint64_t first, uint64_t base, double *y)
{
    int b = sd_opt_int(s, SCORESDE_SAMPLER_DEQUANT_BITS);
    double scale = s->opt[SCORESDE_SAMPLER_DATA_SCALE], shift = s->opt[SCORESDE_SAMPLER_DATA_SHIFT];
    double levels = ldexp(1.0, b);
    for (size_t i = 0; i < n; i++) {
        double *yi = y + i * D;
        const double *xi = x + i * D;
        if (b > 0) {
            sd_rng_uniform(seed, first + i, SCORESDE_RNG_OFFSET(SCORESDE_RNG_BOUND, base), D, yi);
            for (size_t j = 0; j < D; j++)
                yi[j] = scale * ((xi[j] + yi[j]) / levels) + shift;
        } else {
            for (size_t j = 0; j < D; j++)
                yi[j] = scale * xi[j] + shift;
        }
    }
}

static int check_report_data(const double *x, size_t nD, int b)
{
    if (b == 0)
        return sd_check_finite(x, nD, "x");
    double top = ldexp(1.0, b) - 1;
    for (size_t i = 0; i < nD; i++)
        if (!(x[i] >= 0 && x[i] <= top && x[i] == floor(x[i])))
            return sd_fail(SCORESDE_EINVAL,
                           "x[%zu] = %g is not an integer in [0, %g] (DEQUANT_BITS = %d)", i,
                           x[i], top, b);
    return SCORESDE_OK;
}

/* One draw's rows (PRIOR, FLOW, BOUNDARY) and standard errors for inputs y. */
static int report_draw(const scoresde_sampler *s, const scoresde_model *model, int kind,
                       const bound_ctx *c, const double *y, size_t n, size_t D, uint64_t seed,
                       uint64_t first, uint64_t base, double *ws, double *t3, double *se,
                       scoresde_sampler_stats *st)
{
    if (kind == SCORESDE_REPORT_BOUND)
        return bound_points(c, y, n, seed, first, base, t3, se);
    double *logp = ws, *lat = ws + n, lp;
    SD_TRY(scoresde_sampler_likelihood(s, model, y, n, D, seed, first, logp, lat, st));
    int exact = sd_opt_int(s, SCORESDE_SAMPLER_DIVERGENCE) == SCORESDE_SAMPLER_DIVERGENCE_EXACT;
    for (size_t i = 0; i < n; i++) {
        SD_TRY(scoresde_sde_prior_logp(c->sde, lat + i * D, 1, D, &lp));
        t3[3 * i] = -lp;
        t3[3 * i + 1] = -(logp[i] - lp);
        t3[3 * i + 2] = 0;
        se[i] = exact ? 0 : NAN;
    }
    return SCORESDE_OK;
}

int scoresde_sampler_report(const scoresde_sampler *s, const scoresde_model *model, int kind,
                            const double *x, size_t n, size_t D, uint64_t seed,
                            uint64_t first_sample, double *terms, size_t columns,
                            scoresde_sampler_stats *stats)
{
    SD_TRY(check_points(s, model, x, n, D, terms, "terms"));
    if (kind != SCORESDE_REPORT_ODE && kind != SCORESDE_REPORT_BOUND)
        return sd_fail(SCORESDE_EINVAL, "kind %d is not a report kind (ODE 1, BOUND 2)", kind);
    if (columns == 0 || columns > SCORESDE_REPORT_COLUMNS)
        return sd_fail(SCORESDE_EINVAL, "columns (%zu) is not in [1, %d]", columns,
                       SCORESDE_REPORT_COLUMNS);
    if (stats != NULL)
        SD_TRY(sd_check_struct_out(stats->struct_size, SD_STRUCT_END(scoresde_sampler_stats, t_final),
                                   "stats"));
    int b = sd_opt_int(s, SCORESDE_SAMPLER_DEQUANT_BITS);
    SD_TRY(check_report_data(x, n * D, b));
    uint64_t M = sd_opt_size(s, SCORESDE_SAMPLER_BOUND_DRAWS);
    uint64_t K = b > 0 ? sd_opt_size(s, SCORESDE_SAMPLER_DEQUANT_DRAWS) : 1;
    uint64_t S = b > 0 ? even_up(D) + M * draw_stride(D) : 0; /* offsets per dequantisation draw */
    if (b > 0 && K > OFFSET_LIMIT / S)
        return sd_fail(SCORESDE_EINVAL, "DEQUANT_DRAWS (%llu) x offsets per draw (%llu) exceed 2^56",
                       (unsigned long long)K, (unsigned long long)S);
    bound_ctx c = {0};
    c.sde = scoresde_model_sde(model);
    c.T = scoresde_sde_end_time(c.sde);
    if (kind == SCORESDE_REPORT_BOUND)
        SD_TRY(bound_prepare(s, model, D, b > 0 ? K * S : M * draw_stride(D), &c));
    /* y (n x D), ODE workspace (n + n x D), draw rows (3n), se (n), sums (3n),
     * the totals' mean and squares (2n) */
    double *buf = sd_calloc(n, (2 * D + 10) * sizeof(double));
    if (buf == NULL)
        return SCORESDE_ENOMEM;
    double *y = buf, *ws = y + n * D, *t3 = ws + n + n * D, *se = t3 + 3 * n, *acc = se + n;
    double *tot_mean = acc + 3 * n, *tot_m2 = tot_mean + n;
    memset(acc, 0, 5 * n * sizeof(double));
    scoresde_sampler_stats st = {.struct_size = sizeof st};
    uint64_t nfe = 0;
    int rc = SCORESDE_OK;
    for (uint64_t k = 0; k < K && rc == SCORESDE_OK; k++) {
        report_inputs(s, x, n, D, seed, first_sample, k * S, y);
        rc = report_draw(s, model, kind, &c, y, n, D, seed, first_sample, k * S + (b > 0 ? even_up(D) : 0),
                         ws, t3, se, &st);
        nfe = kind == SCORESDE_REPORT_BOUND ? nfe + M : (st.nfe > nfe ? st.nfe : nfe);
        for (size_t i = 0; i < n && rc == SCORESDE_OK; i++) {
            double tot = (t3[3 * i] + t3[3 * i + 1]) + t3[3 * i + 2];
            for (int j = 0; j < 3; j++)
                acc[3 * i + j] += t3[3 * i + j];
            /* Welford over the K per-draw totals (K > 1); K = 1 keeps se. */
            double d = tot - tot_mean[i];
            tot_mean[i] += d / (double)(k + 1);
            tot_m2[i] += d * (tot - tot_mean[i]);
        }
    }
    double dequant = (double)D * ((double)b * M_LN2 - log(s->opt[SCORESDE_SAMPLER_DATA_SCALE]));
    for (size_t i = 0; i < n && rc == SCORESDE_OK; i++) {
        double row[SCORESDE_REPORT_COLUMNS];
        for (int j = 0; j < 3; j++)
            row[j] = acc[3 * i + j] / (double)K;
        row[SCORESDE_REPORT_DEQUANT] = dequant;
        row[SCORESDE_REPORT_TOTAL] = ((row[0] + row[1]) + row[2]) + dequant;
        row[SCORESDE_REPORT_BPD] = row[SCORESDE_REPORT_TOTAL] / ((double)D * M_LN2);
        row[SCORESDE_REPORT_STDERR] =
            K > 1 ? sqrt(tot_m2[i] / (double)(K - 1) / (double)K) : se[i];
        memcpy(terms + i * columns, row, columns * sizeof(double));
    }
    if (rc == SCORESDE_OK && stats != NULL) {
        scoresde_sampler_stats v = {.struct_size = sizeof v, .nfe = nfe, .accepted = st.accepted,
                                    .rejected = st.rejected, .t_final = c.T};
        sd_write_struct_out(stats, stats->struct_size, &v, sizeof v);
    }
    sd_free(buf);
    return rc;
}
