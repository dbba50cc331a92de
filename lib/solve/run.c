/*
 * The public calls of a sampler (sample, inpaint, encode, likelihood,
 * Langevin dynamics) and the setup they share: dimensions, statistics,
 * conditions and classifier-free guidance, eps and the grid; each then
 * hands its run to the driver (driver.c).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <string.h>

#include "solve_internal.h"

/* The statistics are an output struct (common.h): the 1.0 layout ends at
 * t_final; a caller's larger struct gets its tail zeroed. */
#define SD_STATS_FIRST SD_STRUCT_END(scoresde_sampler_stats, t_final)

static int check_stats(const scoresde_sampler_stats *stats)
{
    return stats != NULL ? sd_check_struct_out(stats->struct_size, SD_STATS_FIRST, "stats")
                         : SCORESDE_OK;
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

/* The row `ops` with its context (sd_solve_begin), then the sampler's eps
 * and the run's grid (reverse: from eps up to T) in *buf, which the caller
 * frees with sd_free, and the context with sd_solve_end, whatever the
 * status. */
static int begin_on_grid(sd_run *run, const sd_method_ops *ops, int reverse, double **buf)
{
    double eps;
    SD_TRY(sd_solve_begin(run, ops));
    SD_TRY(sd_solve_eps(run->s, run->sde, &eps));
    return sd_solve_setup_grid(run, eps, reverse, buf);
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
    run.guided = 1;
    double *buf = NULL;
    int rc = begin_on_grid(&run, sd_sampler_row(s), 0, &buf);
    if (rc == SCORESDE_OK && mask != NULL)
        sd_pc_set_known(&run, mask, known);
    if (rc == SCORESDE_OK)
        rc = sd_solve_prepare(&run);
    if (rc == SCORESDE_OK) {
        if (x_T != NULL)
            memmove(x_out, x_T, nD * sizeof *x_out);
        else
            rc = scoresde_sde_prior_sample(run.sde, n, D, seed, first_sample, 0, x_out);
    }
    if (rc == SCORESDE_OK)
        rc = sd_solve_drive(&run, n, x_out, stats);
    sd_solve_end(&run);
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
    run.guided = 1;
    sd_cond cstore;
    SD_TRY(setup_cond(&run, cond, n, 1, &cstore));
    double *buf = NULL;
    int rc = begin_on_grid(&run, &sd_method_ode, 1, &buf);
    if (rc == SCORESDE_OK)
        rc = sd_solve_prepare(&run);
    if (rc == SCORESDE_OK) {
        memmove(x_out, x0, nD * sizeof *x_out);
        rc = sd_solve_drive(&run, n, x_out, stats);
    }
    sd_solve_end(&run);
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
                 : sd_solve_setup_grid(&run, eps, 1, &buf);
    if (rc == SCORESDE_OK)
        rc = sd_solve_begin(&run, &sd_method_likelihood);
    if (rc == SCORESDE_OK)
        rc = sd_likelihood_setup(&run, n, x, &y);
    if (rc == SCORESDE_OK)
        rc = sd_solve_prepare(&run);
    if (rc == SCORESDE_OK)
        rc = sd_solve_drive(&run, n, y, stats);
    for (size_t i = 0; i < n && rc == SCORESDE_OK; i++) {
        double lp;
        rc = scoresde_sde_prior_logp(run.sde, y + i * (D + 1), 1, D, &lp);
        logp[i] = lp + y[i * (D + 1) + D];
        if (latent != NULL)
            memcpy(latent + i * D, y + i * (D + 1), D * sizeof(double));
    }
    sd_solve_end(&run);
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
    run.s = s;
    run.D = D;
    run.Dy = D;
    run.seed = seed;
    run.first = first_sample;
    run.N = sd_opt_size(s, SCORESDE_SAMPLER_STEPS);
    int rc = sd_solve_begin(&run, &sd_method_langevin);
    if (rc == SCORESDE_OK) {
        sd_langevin_set_score(&run, score, user);
        rc = sd_solve_prepare(&run);
    }
    if (rc == SCORESDE_OK) {
        memmove(x_out, x0, nD * sizeof *x_out);
        rc = sd_solve_drive(&run, n, x_out, stats);
    }
    sd_solve_end(&run);
    return rc;
}
