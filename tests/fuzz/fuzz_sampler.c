/*
 * Fuzz target: a sampler driven by the input. The bytes choose the SDE, the
 * method, the entry point (sample, encode, likelihood, inpaint), the batch
 * size, a run of settings (any setting number, any int64 or any double bit
 * pattern: NaN, infinities, subnormals) and optionally an explicit grid; the
 * model is a 2-D Gaussian mixture, so every run is cheap. Invariants: a
 * setting call returns a status of its contract, and a run that returns OK
 * gives finite outputs.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <string.h>

#include "fuzz.h"
#include "scoresde.h"

enum { D = 2, MAX_N = 3, MAX_GRID = 8 };

/* A cursor over the input: reads past its end give zeros. */
typedef struct {
    const uint8_t *p;
    size_t left;
} input;

static uint64_t take(input *in, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) {
        uint64_t b = in->left > 0 ? (in->left--, *in->p++) : 0;
        v |= b << (8 * i);
    }
    return v;
}

static double take_double(input *in)
{
    uint64_t bits = take(in, 8);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* Settings whose value sets the work of a run are kept small: the target
 * looks for wrong answers to odd values, not for slow runs. */
static int64_t bounded(int setting, int64_t v)
{
    uint64_t u = (uint64_t)v;
    switch (setting) {
    case SCORESDE_SAMPLER_STEPS:
        return (int64_t)(u % 40);
    case SCORESDE_SAMPLER_CORRECTOR_STEPS:
        return (int64_t)(u % 4);
    case SCORESDE_SAMPLER_MAX_STEPS:
        return (int64_t)(u % 200);
    case SCORESDE_SAMPLER_THREADS:
        return 1; /* threads are the concurrency tests' business */
    default:
        return v;
    }
}

static int contract_status(int rc)
{
    return rc == SCORESDE_OK || rc == SCORESDE_EINVAL || rc == SCORESDE_EUNSUPPORTED;
}

/* The number of names in a table of the library (ids 1, 2, ...): every
 * method and setting, the next ones included, without an edit here. */
static int count_names(const char *(*name_of)(int))
{
    int n = 0;
    while (name_of(n + 1) != NULL)
        n++;
    return n;
}

static void configure(scoresde_sampler *s, input *in)
{
    int count = (int)(take(in, 1) % 8);
    /* ids 0 .. last + 1: every setting, and an unknown id at either end */
    int ids = count_names(scoresde_sampler_setting_name) + 2;
    for (int i = 0; i < count; i++) {
        int setting = (int)(take(in, 1) % (uint64_t)ids);
        int rc;
        if (take(in, 1) & 1)
            rc = scoresde_sampler_set_double(s, setting, take_double(in));
        else
            rc = scoresde_sampler_set_int(s, setting, bounded(setting, (int64_t)take(in, 8)));
        fuzz_require(contract_status(rc), "a setting call returns a documented status", rc);
    }
    size_t grid = (size_t)(take(in, 1) % (MAX_GRID + 1));
    if (grid > 0) {
        double t[MAX_GRID];
        for (size_t i = 0; i < grid; i++)
            t[i] = take_double(in);
        int rc = scoresde_sampler_set_grid(s, t, grid);
        fuzz_require(contract_status(rc), "set_grid returns a documented status", rc);
    }
}

static void require_finite(const double *x, size_t count, const char *what)
{
    for (size_t i = 0; i < count; i++)
        fuzz_require(isfinite(x[i]), what, SCORESDE_OK);
}

static void run(const scoresde_sampler *s, const scoresde_model *m, input *in)
{
    size_t n = 1 + (size_t)(take(in, 1) % MAX_N);
    int entry = (int)(take(in, 1) % 4);
    uint64_t seed = take(in, 2);
    double x[MAX_N * D], out[MAX_N * D], logp[MAX_N];
    unsigned char mask[MAX_N * D];
    for (size_t i = 0; i < n * D; i++) {
        x[i] = (double)(int8_t)take(in, 1) / 32.0;
        mask[i] = (unsigned char)(i & 1);
    }
    int rc;
    switch (entry) {
    case 0:
        rc = scoresde_sampler_sample(s, m, NULL, n, D, seed, 0, out, NULL);
        break;
    case 1:
        rc = scoresde_sampler_encode(s, m, x, n, D, out, NULL);
        break;
    case 2:
        rc = scoresde_sampler_likelihood(s, m, x, n, D, seed, 0, logp, out, NULL);
        if (rc == SCORESDE_OK)
            require_finite(logp, n, "a likelihood that returns OK is finite");
        break;
    default:
        rc = scoresde_sampler_inpaint(s, m, x, mask, n, D, seed, 0, out, NULL);
        break;
    }
    if (rc == SCORESDE_OK)
        require_finite(out, n * D, "a run that returns OK has finite outputs");
    else
        fuzz_require(scoresde_last_error()[0] != '\0', "a refused run says why", rc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input in = {data, size};
    static const int kinds[] = {SCORESDE_SDE_VE, SCORESDE_SDE_VP, SCORESDE_SDE_SUBVP,
                                SCORESDE_SDE_COSINE, SCORESDE_SDE_EDM, SCORESDE_SDE_OU};
    int kind = kinds[take(&in, 1) % (sizeof kinds / sizeof kinds[0])];
    int method = 1 + (int)(take(&in, 1) % (uint64_t)count_names(scoresde_sampler_method_name));
    static const double w[2] = {0.6, 0.4}, mu[4] = {-1, 0.5, 1, -0.5}, var[4] = {0.2, 0.1, 0.3,
                                                                                 0.05};
    scoresde_sde *sde = NULL;
    scoresde_model *m = NULL;
    scoresde_sampler *s = NULL;
    int rc = scoresde_sde_create_default(&sde, kind);
    fuzz_require(rc == SCORESDE_OK, "a default SDE", rc);
    rc = scoresde_model_create_gmm(&m, sde, 2, D, w, mu, var);
    fuzz_require(rc == SCORESDE_OK, "the mixture", rc);
    rc = scoresde_sampler_create(&s, method);
    fuzz_require(rc == SCORESDE_OK, "a sampler", rc);

    /* A short default run unless the input asks otherwise; adaptive solvers
     * stop after a few hundred steps instead of 10^5. */
    rc = scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, 8);
    fuzz_require(rc == SCORESDE_OK, "STEPS 8", rc);
    rc = scoresde_sampler_set_int(s, SCORESDE_SAMPLER_MAX_STEPS, 200);
    fuzz_require(rc == SCORESDE_OK, "MAX_STEPS 200", rc);
    configure(s, &in);
    run(s, m, &in);

    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    fuzz_require(scoresde_live_allocations() == 0, "nothing stays allocated", rc);
    return 0;
}
