/*
 * Classifier-free guidance cost on the conditional MLP (a program, never a
 * test; issue 11, "Speed").
 *
 * Model: a conditional MLP, D = 2, C = 8 (EMBED), three hidden layers of 256,
 * SiLU, float64, accepting the null condition (untrained: the cost does not
 * depend on the weights). DPM-Solver++ 2M, 20 steps, BLOCK = n = 1024, one
 * thread, GUIDANCE_SCALE = 3: every evaluation is one model call of 2n rows.
 * Timed in the same run: the guided run; the same number of bare model calls
 * of 2n rows (the conditioned rows, then the null ones); and of two separate
 * n-row calls (conditioned, then null), what guidance would cost without the
 * batched call. Reported: guided run / bare 2n-row calls (the target is at
 * most 1.1) and two n-row calls / one 2n-row call.
 * Usage: bench_cfg [repeats (default 3)]; times are minima over the repeats.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scoresde.h"

enum { NS = 1024, DIM = 2, C = 8, STEPS = 20 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void check(int rc, const char *what)
{
    if (rc != SCORESDE_OK) {
        fprintf(stderr, "%s: %s\n", what, scoresde_last_error());
        exit(1);
    }
}

/* nfe evaluations of `rows` rows, in `calls` calls each (2n rows in one
 * call, or n + n), with the conditions of cond (2n rows, the last n null). */
static double bare(const scoresde_model *m, const double *x, const double *t,
                   const scoresde_cond *cond, int split, double *out, int nfe)
{
    double t0 = now();
    for (int e = 0; e < nfe; e++) {
        if (!split) {
            check(scoresde_model_predict_data_cond(m, x, t, 2 * NS, DIM, cond, out), "2n call");
            continue;
        }
        scoresde_cond a = *cond, b = *cond;
        a.rows = b.rows = NS;
        b.c = cond->c + NS * C;
        b.null_mask = cond->null_mask + NS;
        a.null_mask = cond->null_mask;
        check(scoresde_model_predict_data_cond(m, x, t, NS, DIM, &a, out), "n call");
        check(scoresde_model_predict_data_cond(m, x + NS * DIM, t, NS, DIM, &b, out + NS * DIM),
              "n call");
    }
    return now() - t0;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 3;
    if (reps < 1)
        return 2;
    scoresde_sde *sde = NULL;
    check(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP), "sde");
    scoresde_mlp_options o;
    check(scoresde_model_mlp_options_init(&o, sizeof o), "options");
    o.cond_dim = C;
    o.cond_input = SCORESDE_MLP_COND_EMBED; /* as measured in the guide (the default is EMBED_LAYERS) */
    o.cond_null = 1;
    scoresde_model *m = NULL;
    check(scoresde_model_create_mlp(&m, sde, DIM, &o), "mlp");
    scoresde_sampler *s = NULL;
    check(scoresde_sampler_create(&s, SCORESDE_SAMPLER_DPMPP), "sampler");
    check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_STEPS, STEPS), "steps");
    check(scoresde_sampler_set_int(s, SCORESDE_SAMPLER_BLOCK, NS), "block");
    check(scoresde_sampler_set_double(s, SCORESDE_SAMPLER_GUIDANCE_SCALE, 3.0), "w");
    static double x[2 * NS * DIM], out[2 * NS * DIM], t[2 * NS], c[2 * NS * C];
    static unsigned char mask[2 * NS];
    check(scoresde_sde_prior_sample(sde, 2 * NS, DIM, 7, 0, 0, x), "prior");
    memcpy(x + NS * DIM, x, NS * DIM * sizeof *x);
    check(scoresde_rng_normal(3, 0, 0, NS * C, c), "conditions");
    for (size_t i = 0; i < 2 * NS; i++) {
        t[i] = 0.5;
        mask[i] = i >= NS;
    }
    scoresde_cond cond = {sizeof cond, C, c, 2 * NS, mask};
    scoresde_cond one = {sizeof one, C, c, 1, NULL};
    double best = 1e300, b2n = 1e300, bnn = 1e300;
    scoresde_sampler_stats st = {.struct_size = sizeof st};
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        check(scoresde_sampler_sample_cond(s, m, x, NS, DIM, &one, 1, 0, out, &st), "sample");
        double dt = now() - t0;
        best = dt < best ? dt : best;
        dt = bare(m, x, t, &cond, 0, out, (int)st.nfe);
        b2n = dt < b2n ? dt : b2n;
        dt = bare(m, x, t, &cond, 1, out, (int)st.nfe);
        bnn = dt < bnn ? dt : bnn;
    }
    printf("conditional MLP D = %d, C = %d, 3 x 256 SiLU, float64; n = %d, DPM-Solver++ 2M, "
           "%llu NFE, w = 3; minimum of %d runs\n",
           DIM, C, NS, (unsigned long long)st.nfe, reps);
    printf("guided run %.4f s, bare 2n-row calls %.4f s, two n-row calls %.4f s\n", best, b2n,
           bnn);
    printf("guided / one 2n-row call per step: %.3f (target <= 1.1)\n", best / b2n);
    printf("two n-row calls / one 2n-row call: %.3f\n", bnn / b2n);
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    return 0;
}
