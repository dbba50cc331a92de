/*
 * Recorded results of the solve module: every method and entry point in a
 * set of representative configurations on exact models (the 2-D test
 * mixture, the class-conditional mixture), each output compared bit for bit
 * with a value recorded before a change of lib/solve's structure. A
 * restructuring that changes no result keeps every case; a change that is
 * meant to change results (a new default, another random stream) re-records.
 * The table was recorded from main's code at 11c755f, before the solve
 * module was rebuilt as tables (issue 15), and the rebuild passes it
 * unchanged.
 *
 * The recorded values are in ONE place, tests/test_sampler_golden.inc, one
 * line per case: {name, FNV-1a hash, nfe, accepted, rejected}. The hash is
 * FNV-1a over the bytes of the call's outputs (samples; encodings;
 * likelihoods' logp then latents), then of the stats' t_final, redrawn and
 * outside. To re-record, mechanically, from a build directory B:
 *
 *     SD_GOLDEN_PRINT=1 B/tests/test_sampler_golden > tests/test_sampler_golden.inc
 *
 * (print mode runs every case and writes the table in source form, nothing
 * else; review the diff: only the cases the change meant to change may move).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct golden_rec {
    const char *name;
    uint64_t hash, nfe, accepted, rejected;
} golden_rec;

static const golden_rec recorded[] = {
#include "test_sampler_golden.inc"
};

/* ------------------------------------------------------------------ cases */

enum { SAMPLE, INPAINT, ENCODE, LIKELIHOOD, LANGEVIN };

enum {
    F_GUIDE = 1,     /* the guidance hook, scale 0.7 */
    F_COND = 2,      /* conditional mixture, one label per sample (i % 2) */
    F_BROADCAST = 4, /* conditional mixture, one label row for all (1) */
    F_NULLS = 8,     /* conditional mixture, labels and every third sample null */
    F_CFG = 16,      /* classifier-free guidance, GUIDANCE_SCALE 1.5 */
    F_XT = 32,       /* the caller's x_T instead of the prior draw */
    F_SUPPORT = 64,  /* the prior-support hook (x_0 > -1.2) */
    F_ARRAY = 128,   /* the caller's grid (set_grid) */
};

typedef struct setting {
    int id; /* 0 ends the list */
    double value;
} setting;

typedef struct golden_case {
    const char *name;
    int entry, sde, method;
    unsigned flags;
    setting set[10];
} golden_case;

#define S(name) SCORESDE_SAMPLER_##name
#define VP SCORESDE_SDE_VP
#define VE SCORESDE_SDE_VE
#define SUBVP SCORESDE_SDE_SUBVP
#define PRED(p) {S(PREDICTOR), S(PREDICTOR_##p)}
#define CORR(c) {S(CORRECTOR), S(CORRECTOR_##c)}
#define SOLVER(x) {S(SOLVER), S(SOLVER_##x)}
#define STEPS(n) {S(STEPS), n}

static const golden_case cases[] = {
    /* PC: every predictor with every corrector */
    {"pc-none-none", SAMPLE, VP, S(PC), 0, {STEPS(10), PRED(NONE), CORR(NONE)}},
    {"pc-none-langevin", SAMPLE, VP, S(PC), 0, {STEPS(10), PRED(NONE), CORR(LANGEVIN)}},
    {"pc-none-annealed", SAMPLE, VP, S(PC), 0, {STEPS(10), PRED(NONE), CORR(ANNEALED)}},
    {"pc-em-none", SAMPLE, VP, S(PC), 0, {STEPS(10), PRED(EULER_MARUYAMA), CORR(NONE)}},
    {"pc-em-langevin", SAMPLE, VP, S(PC), 0, {STEPS(10), PRED(EULER_MARUYAMA), CORR(LANGEVIN)}},
    {"pc-em-annealed", SAMPLE, VP, S(PC), 0, {STEPS(10), PRED(EULER_MARUYAMA), CORR(ANNEALED)}},
    {"pc-rd-none", SAMPLE, VP, S(PC), 0, {STEPS(10), PRED(REVERSE_DIFFUSION), CORR(NONE)}},
    {"pc-rd-langevin", SAMPLE, VP, S(PC), 0, {STEPS(10), PRED(REVERSE_DIFFUSION), CORR(LANGEVIN)}},
    {"pc-rd-annealed", SAMPLE, VP, S(PC), 0, {STEPS(10), PRED(REVERSE_DIFFUSION), CORR(ANNEALED)}},
    {"pc-anc-none", SAMPLE, VP, S(PC), 0, {STEPS(10), PRED(ANCESTRAL), CORR(NONE)}},
    {"pc-anc-langevin", SAMPLE, VP, S(PC), 0, {STEPS(10), PRED(ANCESTRAL), CORR(LANGEVIN)}},
    {"pc-anc-annealed", SAMPLE, VP, S(PC), 0, {STEPS(10), PRED(ANCESTRAL), CORR(ANNEALED)}},
    /* PC: the Langevin step rules, SDEs, corrector steps, final steps */
    {"pc-norms-sample-ve", SAMPLE, VE, S(PC), 0, {STEPS(12), {S(BATCH_NORMS), 0}}},
    {"pc-norms-batch-subvp", SAMPLE, SUBVP, S(PC), 0, {STEPS(12), {S(BATCH_NORMS), 1}}},
    {"pc-corrector-steps-2", SAMPLE, VP, S(PC), 0, {STEPS(8), {S(CORRECTOR_STEPS), 2}, {S(SNR), 0.1}}},
    {"pc-em-lam-half", SAMPLE, SUBVP, S(PC), 0, {STEPS(10), PRED(EULER_MARUYAMA), {S(LAM), 0.5}}},
    {"pc-final-stop", SAMPLE, VP, S(PC), 0, {STEPS(10), {S(FINAL_STEP), S(FINAL_STOP)}}},
    {"pc-final-to-zero", SAMPLE, VE, S(PC), 0, {STEPS(10), {S(FINAL_STEP), S(FINAL_TO_ZERO)}}},
    {"pc-karras-grid", SAMPLE, VP, S(PC), 0, {STEPS(10), {S(GRID), S(GRID_KARRAS)}}},
    {"pc-guided", SAMPLE, VP, S(PC), F_GUIDE, {STEPS(10)}},
    {"pc-cond", SAMPLE, VP, S(PC), F_COND, {STEPS(10)}},
    {"pc-cond-broadcast", SAMPLE, VP, S(PC), F_BROADCAST, {STEPS(10)}},
    {"pc-cond-nulls-cfg", SAMPLE, VP, S(PC), F_NULLS | F_CFG, {STEPS(10)}},
    {"pc-x-t", SAMPLE, VP, S(PC), F_XT, {STEPS(10)}},
    {"pc-support", SAMPLE, VP, S(PC), F_SUPPORT, {STEPS(10)}},
    {"pc-blocks-threads", SAMPLE, VP, S(PC), 0, {STEPS(10), {S(BLOCK), 5}, {S(THREADS), 2}}},
    {"pc-norms-noise-level-ve", SAMPLE, VE, S(PC), 0,
     {STEPS(12), {S(BATCH_NORMS), S(NORMS_NOISE_LEVEL)}, CORR(ANNEALED)}},
    {"pc-norms-noise-level-subvp", SAMPLE, SUBVP, S(PC), 0,
     {STEPS(12), {S(BATCH_NORMS), S(NORMS_NOISE_LEVEL)}, {S(SNR), 0.3}}},
    {"pc-denoise-0", SAMPLE, SUBVP, S(PC), 0, {STEPS(10), {S(DENOISE), 0}}},
    {"pc-power-grid", SAMPLE, VP, S(PC), 0, {STEPS(10), {S(GRID), S(GRID_POWER)}}},
    {"pc-logsnr-grid-ve", SAMPLE, VE, S(PC), 0, {STEPS(10), {S(GRID), S(GRID_LOGSNR)}}},
    /* inpainting (PC) */
    {"inpaint", INPAINT, VP, S(PC), 0, {STEPS(10)}},
    {"inpaint-ve-annealed", INPAINT, VE, S(PC), 0, {STEPS(10), CORR(ANNEALED)}},
    {"inpaint-guided-cond", INPAINT, VP, S(PC), F_GUIDE | F_COND, {STEPS(10)}},
    /* the probability-flow ODE with every stepper */
    {"ode-euler", SAMPLE, VP, S(ODE), 0, {STEPS(10), SOLVER(EULER)}},
    {"ode-heun", SAMPLE, VP, S(ODE), 0, {STEPS(10), SOLVER(HEUN)}},
    {"ode-rk4", SAMPLE, VP, S(ODE), 0, {STEPS(10), SOLVER(RK4)}},
    {"ode-dopri5", SAMPLE, VP, S(ODE), 0, {SOLVER(DOPRI5)}},
    {"ode-dopri5-ve-loose", SAMPLE, VE, S(ODE), 0, {SOLVER(DOPRI5), {S(RTOL), 1e-3}, {S(ATOL), 1e-3}}},
    {"ode-dopri5-h-init", SAMPLE, SUBVP, S(ODE), 0, {SOLVER(DOPRI5), {S(H_INIT), 0.01}, {S(RTOL), 1e-4}}},
    {"ode-dopri5-guided", SAMPLE, VP, S(ODE), F_GUIDE, {SOLVER(DOPRI5), {S(RTOL), 1e-4}}},
    {"ode-dopri5-cfg", SAMPLE, VP, S(ODE), F_COND | F_CFG, {SOLVER(DOPRI5), {S(RTOL), 1e-4}}},
    {"ode-dopri5-blocks-threads", SAMPLE, VP, S(ODE), 0,
     {SOLVER(DOPRI5), {S(RTOL), 1e-4}, {S(BLOCK), 5}, {S(THREADS), 2}}},
    {"ode-heun-array-grid", SAMPLE, VP, S(ODE), F_ARRAY, {SOLVER(HEUN)}},
    {"ode-rk4-power-grid", SAMPLE, SUBVP, S(ODE), 0,
     {STEPS(10), SOLVER(RK4), {S(GRID), S(GRID_POWER)}, {S(POWER), 3}}},
    {"ode-heun-karras-denoise-0", SAMPLE, VE, S(ODE), 0,
     {STEPS(10), SOLVER(HEUN), {S(GRID), S(GRID_KARRAS)}, {S(DENOISE), 0}}},
    /* encoding (the ODE from eps to T) */
    {"encode-euler", ENCODE, VP, S(ODE), 0, {STEPS(10), SOLVER(EULER)}},
    {"encode-rk4", ENCODE, VE, S(ODE), 0, {STEPS(10), SOLVER(RK4)}},
    {"encode-dopri5", ENCODE, VP, S(ODE), 0, {SOLVER(DOPRI5), {S(RTOL), 1e-4}}},
    {"encode-dopri5-guided", ENCODE, SUBVP, S(ODE), F_GUIDE, {SOLVER(DOPRI5), {S(RTOL), 1e-4}}},
    {"encode-heun-cond", ENCODE, VP, S(ODE), F_COND, {STEPS(10), SOLVER(HEUN)}},
    /* likelihoods, exact and Hutchinson */
    {"likelihood-exact", LIKELIHOOD, VP, S(ODE), 0, {SOLVER(DOPRI5), {S(RTOL), 1e-4}}},
    {"likelihood-rademacher", LIKELIHOOD, VP, S(ODE), 0,
     {SOLVER(DOPRI5), {S(RTOL), 1e-4}, {S(DIVERGENCE), S(DIVERGENCE_RADEMACHER)}}},
    {"likelihood-gaussian-ve", LIKELIHOOD, VE, S(ODE), 0,
     {SOLVER(DOPRI5), {S(RTOL), 1e-4}, {S(DIVERGENCE), S(DIVERGENCE_GAUSSIAN)}}},
    {"likelihood-rk4", LIKELIHOOD, SUBVP, S(ODE), 0, {STEPS(12), SOLVER(RK4)}},
    {"likelihood-cond-blocks", LIKELIHOOD, VP, S(ODE), F_COND,
     {SOLVER(DOPRI5), {S(RTOL), 1e-4}, {S(BLOCK), 5}, {S(THREADS), 2}}},
    /* EDM */
    {"edm", SAMPLE, VP, S(EDM), 0, {STEPS(12)}},
    {"edm-churn", SAMPLE, VP, S(EDM), 0,
     {STEPS(12), {S(S_CHURN), 10}, {S(S_TMIN), 0.05}, {S(S_TMAX), 50}, {S(S_NOISE), 1.003}}},
    {"edm-churn-ve", SAMPLE, VE, S(EDM), 0, {STEPS(12), {S(S_CHURN), 40}}},
    {"edm-final-stop", SAMPLE, VE, S(EDM), 0, {STEPS(12), {S(FINAL_STEP), S(FINAL_STOP)}}},
    {"edm-subvp-eps-rho", SAMPLE, SUBVP, S(EDM), 0, {STEPS(12), {S(EPS), 0.01}, {S(RHO), 5}}},
    {"edm-guided-threshold", SAMPLE, VP, S(EDM), F_GUIDE,
     {STEPS(12), {S(THRESHOLD), 0.9}, {S(THRESHOLD_BOUND), 1.5}}},
    {"edm-cfg", SAMPLE, VP, S(EDM), F_COND | F_CFG, {STEPS(12)}},
    {"edm-default", SAMPLE, VP, S(EDM), 0, {{0, 0}}},
    {"edm-final-to-zero", SAMPLE, VP, S(EDM), 0, {STEPS(12), {S(FINAL_STEP), S(FINAL_TO_ZERO)}}},
    {"edm-power-grid-subvp", SAMPLE, SUBVP, S(EDM), 0,
     {STEPS(12), {S(GRID), S(GRID_POWER)}, {S(POWER), 1.5}}},
    /* DPM-Solver++ multistep, UniPC, grids, adaptive */
    {"dpmpp-1", SAMPLE, VP, S(DPMPP), 0, {STEPS(12), {S(ORDER), 1}}},
    {"dpmpp-2", SAMPLE, VP, S(DPMPP), 0, {STEPS(12), {S(ORDER), 2}}},
    {"dpmpp-3", SAMPLE, VP, S(DPMPP), 0, {STEPS(12), {S(ORDER), 3}}},
    {"dpmpp-3-20-uniform-t", SAMPLE, VP, S(DPMPP), 0,
     {STEPS(20), {S(ORDER), 3}, {S(GRID), S(GRID_UNIFORM_T)}}},
    {"dpmpp-2-karras-ve", SAMPLE, VE, S(DPMPP), 0, {STEPS(16), {S(ORDER), 2}, {S(GRID), S(GRID_KARRAS)}}},
    {"dpmpp-3-power", SAMPLE, SUBVP, S(DPMPP), 0,
     {STEPS(16), {S(ORDER), 3}, {S(GRID), S(GRID_POWER)}, {S(POWER), 1.75}}},
    {"dpmpp-3-no-guard", SAMPLE, VP, S(DPMPP), 0,
     {STEPS(12), {S(ORDER), 3}, {S(STEP_RATIO_MAX), 1e300}, {S(LOWER_ORDER_FINAL), 0}}},
    {"dpmpp-2-tweedie", SAMPLE, VP, S(DPMPP), 0, {STEPS(10), {S(ORDER), 2}, {S(FINAL_STEP), S(FINAL_TWEEDIE)}}},
    {"dpmpp-2-array-grid", SAMPLE, VP, S(DPMPP), F_ARRAY, {{S(ORDER), 2}}},
    {"unipc-2", SAMPLE, VP, S(DPMPP), 0, {STEPS(12), {S(ORDER), 2}, {S(UNIPC), 1}}},
    {"unipc-3", SAMPLE, VP, S(DPMPP), 0, {STEPS(12), {S(ORDER), 3}, {S(UNIPC), 1}}},
    {"unipc-1-ve", SAMPLE, VE, S(DPMPP), 0, {STEPS(12), {S(ORDER), 1}, {S(UNIPC), 1}}},
    {"dpmpp-3-guided-threshold", SAMPLE, VP, S(DPMPP), F_GUIDE, {STEPS(12), {S(ORDER), 3}, {S(THRESHOLD), 0.8}}},
    {"dpmpp-2-cfg-nulls", SAMPLE, VP, S(DPMPP), F_NULLS | F_CFG, {STEPS(12), {S(ORDER), 2}}},
    {"dpmpp-adaptive", SAMPLE, VP, S(DPMPP), 0, {{S(ADAPTIVE), 1}}},
    {"dpmpp-adaptive-ve-loose", SAMPLE, VE, S(DPMPP), 0,
     {{S(ADAPTIVE), 1}, {S(RTOL), 1e-3}, {S(ATOL), 1e-3}, {S(H_INIT), 0.2}}},
    {"dpmpp-adaptive-guided", SAMPLE, VP, S(DPMPP), F_GUIDE, {{S(ADAPTIVE), 1}}},
    {"dpmpp-adaptive-blocks-threads", SAMPLE, SUBVP, S(DPMPP), 0,
     {{S(ADAPTIVE), 1}, {S(BLOCK), 5}, {S(THREADS), 2}}},
    {"dpmpp-adaptive-cond", SAMPLE, VP, S(DPMPP), F_COND, {{S(ADAPTIVE), 1}}},
    {"dpmpp-default", SAMPLE, VP, S(DPMPP), 0, {{0, 0}}},
    {"dpmpp-3-lof-0", SAMPLE, VP, S(DPMPP), 0, {STEPS(12), {S(ORDER), 3}, {S(LOWER_ORDER_FINAL), 0}}},
    {"dpmpp-3-lof-1", SAMPLE, VP, S(DPMPP), 0, {STEPS(12), {S(ORDER), 3}, {S(LOWER_ORDER_FINAL), 1}}},
    {"dpmpp-3-lof-2-20", SAMPLE, VE, S(DPMPP), 0,
     {STEPS(20), {S(ORDER), 3}, {S(LOWER_ORDER_FINAL), 2}, {S(GRID), S(GRID_KARRAS)}}},
    {"dpmpp-3-lof-1-20", SAMPLE, VE, S(DPMPP), 0,
     {STEPS(20), {S(ORDER), 3}, {S(LOWER_ORDER_FINAL), 1}, {S(GRID), S(GRID_KARRAS)}}},
    {"dpmpp-2-final-to-zero", SAMPLE, SUBVP, S(DPMPP), 0,
     {STEPS(12), {S(ORDER), 2}, {S(FINAL_STEP), S(FINAL_TO_ZERO)}}},
    {"dpmpp-3-power-ve", SAMPLE, VE, S(DPMPP), 0,
     {STEPS(14), {S(ORDER), 3}, {S(GRID), S(GRID_POWER)}, {S(POWER), 2.5}}},
    {"unipc-3-lof-0", SAMPLE, VP, S(DPMPP), 0,
     {STEPS(12), {S(ORDER), 3}, {S(UNIPC), 1}, {S(LOWER_ORDER_FINAL), 0}}},
    {"unipc-3-lof-1-power", SAMPLE, SUBVP, S(DPMPP), 0,
     {STEPS(16), {S(ORDER), 3}, {S(UNIPC), 1}, {S(LOWER_ORDER_FINAL), 1}, {S(GRID), S(GRID_POWER)}}},
    {"unipc-2-karras-final-tweedie", SAMPLE, VE, S(DPMPP), 0,
     {STEPS(12), {S(ORDER), 2}, {S(UNIPC), 1}, {S(GRID), S(GRID_KARRAS)}, {S(FINAL_STEP), S(FINAL_TWEEDIE)}}},
    {"unipc-3-guided-threshold", SAMPLE, VP, S(DPMPP), F_GUIDE,
     {STEPS(12), {S(ORDER), 3}, {S(UNIPC), 1}, {S(THRESHOLD), 0.8}}},
    {"unipc-2-cfg-nulls-blocks", SAMPLE, VP, S(DPMPP), F_NULLS | F_CFG,
     {STEPS(12), {S(ORDER), 2}, {S(UNIPC), 1}, {S(BLOCK), 5}, {S(THREADS), 2}}},
    {"unipc-3-array-grid", SAMPLE, VP, S(DPMPP), F_ARRAY, {{S(ORDER), 3}, {S(UNIPC), 1}}},
    {"unipc-3-no-guard", SAMPLE, VP, S(DPMPP), 0,
     {STEPS(20), {S(ORDER), 3}, {S(UNIPC), 1}, {S(GRID), S(GRID_UNIFORM_T)}, {S(STEP_RATIO_MAX), 1e300}}},
    {"dpmpp-adaptive-final-tweedie", SAMPLE, VP, S(DPMPP), 0,
     {{S(ADAPTIVE), 1}, {S(FINAL_STEP), S(FINAL_TWEEDIE)}, {S(RTOL), 1e-4}}},
    {"dpmpp-adaptive-final-to-zero-threshold", SAMPLE, SUBVP, S(DPMPP), 0,
     {{S(ADAPTIVE), 1}, {S(FINAL_STEP), S(FINAL_TO_ZERO)}, {S(THRESHOLD), 0.9}}},
    {"dpmpp-adaptive-and-unipc", SAMPLE, VP, S(DPMPP), 0, {{S(ADAPTIVE), 1}, {S(UNIPC), 1}}},
    {"dpmpp-adaptive-cfg", SAMPLE, VP, S(DPMPP), F_COND | F_CFG, {{S(ADAPTIVE), 1}}},
    /* iPNDM */
    {"ipndm-1", SAMPLE, VP, S(IPNDM), 0, {STEPS(10), {S(ORDER), 1}}},
    {"ipndm-2", SAMPLE, VP, S(IPNDM), 0, {STEPS(10), {S(ORDER), 2}}},
    {"ipndm-3", SAMPLE, VP, S(IPNDM), 0, {STEPS(10), {S(ORDER), 3}}},
    {"ipndm-4", SAMPLE, VP, S(IPNDM), 0, {STEPS(10), {S(ORDER), 4}}},
    {"ipndm-4-ve-20", SAMPLE, VE, S(IPNDM), 0, {STEPS(20), {S(ORDER), 4}}},
    {"ipndm-4-guided", SAMPLE, VP, S(IPNDM), F_GUIDE, {STEPS(10), {S(ORDER), 4}}},
    {"ipndm-default", SAMPLE, VP, S(IPNDM), 0, {{0, 0}}},
    {"ipndm-4-lof-0", SAMPLE, VP, S(IPNDM), 0, {STEPS(10), {S(ORDER), 4}, {S(LOWER_ORDER_FINAL), 0}}},
    {"ipndm-4-lof-1", SAMPLE, VP, S(IPNDM), 0, {STEPS(10), {S(ORDER), 4}, {S(LOWER_ORDER_FINAL), 1}}},
    {"ipndm-3-lof-2-20-subvp", SAMPLE, SUBVP, S(IPNDM), 0,
     {STEPS(20), {S(ORDER), 3}, {S(LOWER_ORDER_FINAL), 2}}},
    {"ipndm-4-final-stop", SAMPLE, VE, S(IPNDM), 0, {STEPS(10), {S(FINAL_STEP), S(FINAL_STOP)}}},
    {"ipndm-4-final-to-zero", SAMPLE, VP, S(IPNDM), 0, {STEPS(10), {S(FINAL_STEP), S(FINAL_TO_ZERO)}}},
    {"ipndm-4-power-grid", SAMPLE, VP, S(IPNDM), 0,
     {STEPS(12), {S(GRID), S(GRID_POWER)}, {S(POWER), 1.75}}},
    {"ipndm-3-logsnr-threshold-cfg", SAMPLE, VP, S(IPNDM), F_COND | F_CFG,
     {STEPS(12), {S(ORDER), 3}, {S(GRID), S(GRID_LOGSNR)}, {S(THRESHOLD), 0.9}}},
    /* DDIM */
    {"ddim-eta-0", SAMPLE, VP, S(DDIM), 0, {STEPS(12), {S(ETA), 0}}},
    {"ddim-eta-1", SAMPLE, VP, S(DDIM), 0, {STEPS(12), {S(ETA), 1}}},
    {"ddim-eta-half-ve", SAMPLE, VE, S(DDIM), 0, {STEPS(12), {S(ETA), 0.5}}},
    {"ddim-default", SAMPLE, VP, S(DDIM), 0, {{0, 0}}},
    {"ddim-final-tweedie-power", SAMPLE, SUBVP, S(DDIM), 0,
     {STEPS(12), {S(FINAL_STEP), S(FINAL_TWEEDIE)}, {S(GRID), S(GRID_POWER)}}},
    {"ddim-final-to-zero-eta-1", SAMPLE, VP, S(DDIM), 0,
     {STEPS(12), {S(ETA), 1}, {S(FINAL_STEP), S(FINAL_TO_ZERO)}}},
    /* DPM-Solver++ SDE 2M and 3M */
    {"dpmpp-sde-2m", SAMPLE, VP, S(DPMPP_SDE), 0, {STEPS(12), {S(ORDER), 2}}},
    {"dpmpp-sde-3m", SAMPLE, VP, S(DPMPP_SDE), 0, {STEPS(12), {S(ORDER), 3}}},
    {"dpmpp-sde-3m-eta-half", SAMPLE, SUBVP, S(DPMPP_SDE), 0, {STEPS(12), {S(ORDER), 3}, {S(ETA), 0.5}}},
    {"dpmpp-sde-2m-tweedie-cfg", SAMPLE, VP, S(DPMPP_SDE), F_COND | F_CFG,
     {STEPS(12), {S(ORDER), 2}, {S(FINAL_STEP), S(FINAL_TWEEDIE)}}},
    {"dpmpp-sde-default", SAMPLE, VP, S(DPMPP_SDE), 0, {{0, 0}}},
    {"dpmpp-sde-3m-lof-0", SAMPLE, VP, S(DPMPP_SDE), 0,
     {STEPS(12), {S(ORDER), 3}, {S(LOWER_ORDER_FINAL), 0}}},
    {"dpmpp-sde-3m-lof-1-power", SAMPLE, VE, S(DPMPP_SDE), 0,
     {STEPS(12), {S(ORDER), 3}, {S(LOWER_ORDER_FINAL), 1}, {S(GRID), S(GRID_POWER)}}},
    {"dpmpp-sde-2m-final-to-zero", SAMPLE, SUBVP, S(DPMPP_SDE), 0,
     {STEPS(12), {S(ORDER), 2}, {S(FINAL_STEP), S(FINAL_TO_ZERO)}}},
    /* Restart */
    {"restart", SAMPLE, VP, S(RESTART), 0, {STEPS(12)}},
    {"restart-k1-m3", SAMPLE, VE, S(RESTART), 0,
     {STEPS(12), {S(RESTART_K), 1}, {S(RESTART_STEPS), 3}, {S(RESTART_TMAX), 1.0}}},
    {"restart-k0", SAMPLE, VP, S(RESTART), 0, {STEPS(12), {S(RESTART_K), 0}}},
    {"restart-guided", SAMPLE, VP, S(RESTART), F_GUIDE, {STEPS(12)}},
    {"restart-default", SAMPLE, VP, S(RESTART), 0, {{0, 0}}},
    {"restart-final-stop-ve", SAMPLE, VE, S(RESTART), 0, {STEPS(12), {S(FINAL_STEP), S(FINAL_STOP)}}},
    {"restart-final-to-zero-power", SAMPLE, SUBVP, S(RESTART), 0,
     {STEPS(12), {S(FINAL_STEP), S(FINAL_TO_ZERO)}, {S(GRID), S(GRID_POWER)}}},
    /* Langevin dynamics on the mixture's score at t = 0 */
    {"langevin", LANGEVIN, VP, S(PC), 0, {STEPS(50), {S(LANGEVIN_STEP), 0.01}}},
    {"langevin-blocks-threads", LANGEVIN, VP, S(PC), 0,
     {STEPS(30), {S(LANGEVIN_STEP), 0.02}, {S(BLOCK), 5}, {S(THREADS), 2}}},
};

enum { NCASES = sizeof cases / sizeof cases[0], NREC = sizeof recorded / sizeof recorded[0] };
enum { N = 12, DIM = 2 };
static const uint64_t SEED = 7, FIRST = 3;

/* ------------------------------------------------------------------ models */

/* Two classes of two components in 2-D (test_cond.c's fixture). */
static scoresde_model *cond_mixture(const scoresde_sde *sde)
{
    static const double pi[2] = {0.3, 0.7}, w[4] = {0.6, 0.4, 0.25, 0.75};
    static const double mu[8] = {-3, 0, -3, 3, 3, 0, 3, -3};
    static const double var[8] = {0.25, 0.16, 0.36, 0.25, 0.2, 0.3, 0.25, 0.2};
    scoresde_model *m = NULL;
    if (scoresde_model_create_cond_gmm(&m, sde, 2, 2, 2, pi, w, mu, var) != SCORESDE_OK)
        abort();
    return m;
}

/* grad ln p(y | x, t) of a made-up likelihood, smooth in x and t. */
static int guide(const double *x, const double *t, size_t n, size_t D, double *g, void *user)
{
    (void)user;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < D; j++)
            g[i * D + j] = -(x[i * D + j] - 1.0 + 0.5 * (double)j) * (1.0 + t[i]);
    return 0;
}

static int support(const double *x, size_t n, size_t D, unsigned char *outside, void *user)
{
    (void)user;
    for (size_t i = 0; i < n; i++)
        outside[i] = !(x[i * D] > -1.2);
    return 0;
}

/* The time-free score for Langevin dynamics: the model's score at t = 0. */
static int score_at_zero(const double *x, const double *t, size_t n, size_t D, double *out,
                         void *user)
{
    return scoresde_model_score(user, x, t, n, D, out) != SCORESDE_OK;
}

/* ------------------------------------------------------------------ runs */

static uint64_t fnv1a(uint64_t h, const void *p, size_t bytes)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < bytes; i++) {
        h ^= c[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* The first failing call's status ends a run (print mode runs outside Check). */
#define TRY(expr)                                                                              \
    do {                                                                                       \
        if (rc == SCORESDE_OK)                                                                 \
            rc = (expr);                                                                       \
    } while (0)

static int apply(scoresde_sampler *s, const setting *set)
{
    int rc = SCORESDE_OK;
    for (int j = 0; j < 10 && set[j].id != 0; j++) {
        double lo, hi;
        int is_int = 0;
        TRY(scoresde_sampler_bounds(set[j].id, &lo, &hi, &is_int));
        if (is_int)
            TRY(scoresde_sampler_set_int(s, set[j].id, (int64_t)set[j].value));
        else
            TRY(scoresde_sampler_set_double(s, set[j].id, set[j].value));
    }
    return rc;
}

/* Run case c; its record (hash and stats) into *out. Returns the first failing
 * call's status (its message in scoresde_last_error). */
static int run_case(const golden_case *c, golden_rec *out)
{
    scoresde_sde *sde = test_make_sde(c->sde);
    unsigned condf = F_COND | F_BROADCAST | F_NULLS;
    scoresde_model *m = (c->flags & condf) ? cond_mixture(sde) : test_mixture(sde);
    scoresde_sampler *s = NULL;
    int rc = scoresde_sampler_create(&s, c->method);
    if (c->flags & F_ARRAY) {
        static const double g[] = {1.0, 0.8, 0.6, 0.42, 0.27, 0.15, 0.07, 0.025, 1e-3};
        TRY(scoresde_sampler_set_grid(s, g, sizeof g / sizeof g[0]));
    }
    TRY(apply(s, c->set));
    if (c->flags & F_GUIDE)
        TRY(scoresde_sampler_set_guidance(s, guide, NULL, 0.7));
    if (c->flags & F_CFG)
        TRY(scoresde_sampler_set_double(s, S(GUIDANCE_SCALE), 1.5));
    if (c->flags & F_SUPPORT)
        TRY(scoresde_sampler_set_support(s, support, NULL));

    double labels[N], one = 1.0;
    unsigned char nulls[N];
    for (size_t i = 0; i < N; i++) {
        labels[i] = (double)(i % 2);
        nulls[i] = i % 3 == 0;
    }
    scoresde_cond cond = {sizeof cond, 1, labels, N, NULL};
    if (c->flags & F_BROADCAST) {
        cond.c = &one;
        cond.rows = 1;
    }
    if (c->flags & F_NULLS)
        cond.null_mask = nulls;
    const scoresde_cond *cp = (c->flags & condf) ? &cond : NULL;

    /* data for inpainting, encoding and likelihoods; x_T for F_XT */
    double data[N * DIM], x[N * DIM], logp[N];
    for (size_t e = 0; e < N * DIM; e++)
        data[e] = 0.9 * sin(1.3 * (double)e + 0.4) + (e % 2 ? 0.2 : -0.3);
    scoresde_sampler_stats st = {.struct_size = sizeof st};
    uint64_t h = 1469598103934665603ULL;
    if (c->entry == SAMPLE) {
        TRY(scoresde_sampler_sample_cond(s, m, (c->flags & F_XT) ? data : NULL, N, DIM, cp, SEED,
                                        FIRST, x, &st));
        h = fnv1a(h, x, sizeof x);
    } else if (c->entry == INPAINT) {
        static const unsigned char mask[DIM] = {1, 0};
        TRY(scoresde_sampler_inpaint_cond(s, m, data, mask, N, DIM, cp, SEED, FIRST, x, &st));
        h = fnv1a(h, x, sizeof x);
    } else if (c->entry == ENCODE) {
        TRY(scoresde_sampler_encode_cond(s, m, data, N, DIM, cp, x, &st));
        h = fnv1a(h, x, sizeof x);
    } else if (c->entry == LIKELIHOOD) {
        TRY(scoresde_sampler_likelihood_cond(s, m, data, N, DIM, cp, SEED, FIRST, logp, x, &st));
        h = fnv1a(h, logp, sizeof logp);
        h = fnv1a(h, x, sizeof x);
    } else {
        TRY(scoresde_sampler_langevin(s, score_at_zero, m, data, N, DIM, SEED, FIRST, x, &st));
        h = fnv1a(h, x, sizeof x);
    }
    h = fnv1a(h, &st.t_final, sizeof st.t_final);
    h = fnv1a(h, &st.redrawn, sizeof st.redrawn);
    h = fnv1a(h, &st.outside, sizeof st.outside);
    *out = (golden_rec){c->name, h, st.nfe, st.accepted, st.rejected};
    scoresde_sampler_free(s);
    scoresde_model_free(m);
    scoresde_sde_free(sde);
    return rc;
}

/* ------------------------------------------------------------------ tests */

START_TEST(test_golden)
{
    const golden_case *c = &cases[_i];
    const golden_rec *want = NULL;
    for (size_t r = 0; r < NREC; r++)
        if (strcmp(recorded[r].name, c->name) == 0)
            want = &recorded[r];
    ck_assert_msg(want != NULL, "case %s has no recorded value (re-record: see the top of %s)",
                  c->name, __FILE__);
    golden_rec got;
    int rc = run_case(c, &got);
    ck_assert_msg(rc == SCORESDE_OK, "case %s: status %d (%s)", c->name, rc, scoresde_last_error());
    ck_assert_msg(got.hash == want->hash && got.nfe == want->nfe &&
                      got.accepted == want->accepted && got.rejected == want->rejected,
                  "case %s: hash 0x%016llx nfe %llu accepted %llu rejected %llu; recorded "
                  "0x%016llx %llu %llu %llu",
                  c->name, (unsigned long long)got.hash, (unsigned long long)got.nfe,
                  (unsigned long long)got.accepted, (unsigned long long)got.rejected,
                  (unsigned long long)want->hash, (unsigned long long)want->nfe,
                  (unsigned long long)want->accepted, (unsigned long long)want->rejected);
}
END_TEST

/* Every record belongs to a case (names unique): a stale table fails. */
START_TEST(test_table_matches_cases)
{
    ck_assert_int_eq(NREC, NCASES);
    for (size_t a = 0; a < NCASES; a++)
        for (size_t b = a + 1; b < NCASES; b++)
            ck_assert_msg(strcmp(cases[a].name, cases[b].name) != 0, "case %s twice",
                          cases[a].name);
    for (size_t r = 0; r < NREC; r++) {
        int found = 0;
        for (size_t a = 0; a < NCASES; a++)
            found |= strcmp(recorded[r].name, cases[a].name) == 0;
        ck_assert_msg(found, "recorded %s has no case", recorded[r].name);
    }
}
END_TEST

/* Print mode: the table in source form on stdout (see the top). */
START_TEST(test_print_table)
{
    printf("/* Recorded by SD_GOLDEN_PRINT=1 tests/test_sampler_golden (see its top):\n"
           " * {case, FNV-1a hash, nfe, accepted, rejected}. */\n");
    for (size_t a = 0; a < NCASES; a++) {
        golden_rec r;
        int rc = run_case(&cases[a], &r);
        ck_assert_msg(rc == SCORESDE_OK, "case %s: status %d (%s)", cases[a].name, rc,
                      scoresde_last_error());
        printf("{\"%s\", 0x%016llxULL, %llu, %llu, %llu},\n", r.name, (unsigned long long)r.hash,
               (unsigned long long)r.nfe, (unsigned long long)r.accepted,
               (unsigned long long)r.rejected);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sampler_golden");
    TCase *tc = tcase_create("recorded");
    tcase_set_timeout(tc, 600);
    if (getenv("SD_GOLDEN_PRINT") != NULL) {
        /* one test in this process, Check silent: stdout is the table */
        tcase_add_test(tc, test_print_table);
        suite_add_tcase(s, tc);
        SRunner *sr = srunner_create(s);
        srunner_set_fork_status(sr, CK_NOFORK);
        srunner_run_all(sr, CK_SILENT);
        int failed = srunner_ntests_failed(sr);
        if (failed)
            fprintf(stderr, "printing the table failed: run the test for the message\n");
        srunner_free(sr);
        return failed ? 1 : 0;
    }
    tcase_add_test(tc, test_table_matches_cases);
    tcase_add_loop_test(tc, test_golden, 0, NCASES);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
