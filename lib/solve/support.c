/*
 * Prior-support rejection (scoresde_sampler_set_support): samples the
 * caller's hook flags as outside the prior's support are redrawn, one at a
 * time, each redraw a sampling call for that sample alone under a seed drawn
 * from its own stream (purpose SCORESDE_RNG_SUPPORT), so a sample's result
 * never depends on the rest of the batch.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <string.h>

#include "solve_internal.h"

int scoresde_sampler_set_support(scoresde_sampler *s, scoresde_support_fn fn, void *user)
{
    SD_TRY(sd_check_ptr(s, "sampler"));
    s->support = fn;
    s->support_user = fn != NULL ? user : NULL;
    return SCORESDE_OK;
}

/* The seed of redraw r of the sample with run index `stream` (sampler.h). */
static uint64_t redraw_seed(uint64_t seed, uint64_t stream, uint64_t r)
{
    uint64_t b = SCORESDE_RNG_OFFSET(SCORESDE_RNG_SUPPORT, 2 * r) / 2;
    uint32_t ctr[4] = {(uint32_t)b, (uint32_t)(b >> 32), (uint32_t)stream,
                       (uint32_t)(stream >> 32)};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)}, w[4];
    scoresde_philox4x32_10(ctr, key, w);
    return (uint64_t)w[0] | ((uint64_t)w[1] << 32);
}

/* Ask the hook about n rows of x; flags zeroed first. */
static int ask(const scoresde_sampler *s, const double *x, size_t n, size_t D,
               unsigned char *flags)
{
    memset(flags, 0, n);
    if (s->support(x, n, D, flags, s->support_user) != 0)
        return sd_fail(SCORESDE_ECALLBACK, "the prior-support hook returned non-zero");
    return SCORESDE_OK;
}

/* The condition of the call's sample i alone (one row). */
static const scoresde_cond *cond_row(const scoresde_cond *cond, size_t i, scoresde_cond *one)
{
    if (cond == NULL)
        return NULL;
    *one = *cond;
    one->struct_size = sizeof *one;
    if (cond->c != NULL && cond->rows != 1)
        one->c = cond->c + i * cond->C;
    one->rows = 1;
    if (cond->null_mask != NULL)
        one->null_mask = cond->null_mask + i;
    return one;
}

int sd_solve_support(const scoresde_sampler *s, const scoresde_model *model,
                     const scoresde_cond *cond, size_t n, size_t D, uint64_t seed,
                     uint64_t first_sample, double *x_out, const unsigned char *mask,
                     const double *known, scoresde_sampler_stats *stats)
{
    if (s->support == NULL)
        return SCORESDE_OK;
    unsigned char *flags = sd_malloc(n);
    if (flags == NULL)
        return SCORESDE_ENOMEM;
    /* the redraws' sampler: these settings, no support or progress hook */
    scoresde_sampler one = *s;
    one.support = NULL;
    one.progress = NULL;
    size_t retries = sd_opt_size(s, SCORESDE_SAMPLER_SUPPORT_RETRIES);
    uint64_t redrawn = 0, outside = 0, acc = 0, rej = 0;
    int rc = ask(s, x_out, n, D, flags);
    for (size_t i = 0; rc == SCORESDE_OK && i < n; i++) {
        unsigned char out = flags[i];
        for (size_t r = 0; rc == SCORESDE_OK && out && r < retries; r++) {
            scoresde_cond row;
            scoresde_sampler_stats st = {.struct_size = sizeof st};
            uint64_t sd = redraw_seed(seed, first_sample + i, r);
            double *xi = x_out + i * D;
            const scoresde_cond *ci = cond_row(cond, i, &row);
            rc = mask != NULL ? scoresde_sampler_inpaint_cond(&one, model, known + i * D, mask, 1,
                                                              D, ci, sd, first_sample + i, xi, &st)
                              : scoresde_sampler_sample_cond(&one, model, NULL, 1, D, ci, sd,
                                                             first_sample + i, xi, &st);
            redrawn++;
            acc += st.accepted;
            rej += st.rejected;
            if (rc == SCORESDE_OK)
                rc = ask(s, xi, 1, D, &out);
        }
        outside += rc == SCORESDE_OK && out;
    }
    sd_free(flags);
    if (rc == SCORESDE_OK && stats != NULL) {
        stats->accepted += acc;
        stats->rejected += rej;
        if (stats->struct_size >= SD_STRUCT_END(scoresde_sampler_stats, outside)) {
            stats->redrawn = redrawn;
            stats->outside = outside;
        }
    }
    return rc;
}
