/*
 * The solve module's private interface: the sampler object, a run (one call),
 * blocks of samples, and the tables of methods, predictors, correctors, ODE
 * steppers and the step-size controller. Never installed.
 *
 * A call splits its n samples into blocks of at most BLOCK samples. The state
 * of every sample lives in the caller's output array; a method advances one
 * block by one step at a time (sd_method_ops.step), so the driver (driver.c)
 * can run the blocks of a step on several threads, call the progress hook
 * between steps, and check every sample for NaN/Inf after every step.
 * Workspaces are allocated once per call: `ws` per thread, `state` per sample.
 *
 * Every call is a run of one method row (sd_method_ops) through the same
 * path: sd_solve_begin gives the run its row and the row's context (a struct
 * of the method's own file), the entry point's setter and the row's prepare
 * fill it, the driver runs the blocks, sd_solve_end frees it. Adding a
 * method is adding a file with its row (and its line in sampler.c's table).
 *
 * The files, by job (each includes this header only; the method files call
 * the shared files and never the other way round, except the entry points'
 * setters of a method's context: sd_pc_set_known, sd_likelihood_setup,
 * sd_langevin_set_score):
 *   sampler.c   the handle: settings (bounds, defaults), caller's grid, hooks,
 *               the method table
 *   run.c       the public calls: argument checks, conditions and CFG, the
 *               run's set-up, then the driver
 *   driver.c    a run's life and the driver: blocks through init, steps and
 *               finish on threads, NaN/Inf checks, progress, statistics
 *   grid.c      eps, the GRID kinds, r = sigma/alpha and its inverse
 *   helpers.c   model evaluation (conditions, CFG, thresholding), guidance,
 *               noise, the multistep step-ratio guard, the final step
 *   control.c   the step-size controller of the adaptive solvers
 *   pc.c (with inpainting), predictors.c, correctors.c   predictor-corrector
 *               and its tables
 *   ode.c       the probability-flow ODE: the Butcher tableaux of the
 *               steppers and the one Runge-Kutta routine; likelihood.c, the
 *               likelihood row on the same steppers
 *   edm.c (EDM, iPNDM), restart.c, dpm.c (DPM-Solver++, UniPC, adaptive),
 *   dpm_sde.c (DDIM, DPM-Solver++ SDE), langevin.c: the other methods
 *   bound.c, support.c   the variational bound and the prior-support pass
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SD_SOLVE_INTERNAL_H
#define SD_SOLVE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "model_internal.h" /* sd_cond and the sd_model_*_c dispatchers */

#define SD_SAMPLER_NOPT 49 /* setting ids 1..48 */

struct scoresde_sampler {
    int method;
    double opt[SD_SAMPLER_NOPT]; /* by setting id (the rows in sampler.c); ints exact */
    double *grid;                /* caller's grid (GRID = ARRAY) or NULL */
    size_t grid_count;
    scoresde_sampler_progress_fn progress;
    void *progress_user;
    scoresde_guidance_fn guidance;
    double guidance_scale;
    void *guidance_user;
    scoresde_support_fn support; /* prior-support hook (support.c), or NULL */
    void *support_user;
};

/* Setting access for the methods (values were bounds-checked when set). */
static inline size_t sd_opt_size(const scoresde_sampler *s, int id)
{
    return (size_t)s->opt[id];
}
static inline int sd_opt_int(const scoresde_sampler *s, int id)
{
    return (int)s->opt[id];
}

typedef struct sd_run sd_run;
typedef struct sd_block sd_block;
typedef struct sd_method_ops sd_method_ops;

struct sd_run {
    const scoresde_sampler *s;
    const scoresde_model *model;
    const scoresde_sde *sde;
    size_t D;        /* the model's dimension */
    size_t Dy;       /* doubles of state per sample (D, or D + 1 for likelihoods) */
    uint64_t seed;
    uint64_t first;  /* run index of the call's sample 0 */
    size_t N;        /* grid steps */
    const double *grid; /* N + 1 times in the direction of integration */
    const double *alpha, *sigma; /* marginal on the grid (NULL without marginal) */
    double t_start, t_end;       /* adaptive solvers: integrate from t_start to t_end */
    const sd_method_ops *ops;    /* the method's row */
    void *ctx;                   /* the row's context (ops->ctx_size bytes), or NULL */
    int guided;                  /* the sampler's guidance hook applies to this run */
    const sd_cond *cond;         /* the call's resolved conditions, or NULL (unconditional) */
    double cfg;                  /* classifier-free guidance w; 0: off */
};

struct sd_block {
    const sd_run *run;
    size_t i0;      /* position of the block's first sample within the call */
    size_t n;       /* samples in the block */
    double *x;      /* n x Dy state, in the caller's output */
    double *state;  /* n x state_doubles, persistent across steps */
    double *t;      /* n times (thread workspace) */
    double *ws;     /* n x ws_doubles (thread workspace) */
    double *gws;    /* n x D for the guidance hook (thread workspace), or NULL */
    double *cfg_ws; /* n x SD_CFG_WS(D, C) for classifier-free guidance, or NULL */
    uint64_t nfe;   /* score evaluations per sample (max over the block) */
    uint64_t accepted, rejected;
    double t_now;   /* time reached (least advanced sample) */
    int done;
    int rc;
    char msg[256];
};

/* A method's own default of one setting (0 ends a list). */
typedef struct sd_method_default {
    int setting;
    double value;
} sd_method_default;

/* The bit of sampler setting NAME in a set of settings (sd_method_ops.reads;
 * setting ids stay below 64). */
#define SD_SETTING_BIT(NAME) (UINT64_C(1) << SCORESDE_SAMPLER_##NAME)

/* Groups of settings that several rows read. */
#define SD_READS_FINAL (SD_SETTING_BIT(DENOISE) | SD_SETTING_BIT(FINAL_STEP))
#define SD_READS_DATA (SD_SETTING_BIT(THRESHOLD) | SD_SETTING_BIT(THRESHOLD_BOUND))
#define SD_READS_MULTISTEP                                                                     \
    (SD_SETTING_BIT(ORDER) | SD_SETTING_BIT(LOWER_ORDER_FINAL) | SD_SETTING_BIT(STEP_RATIO_MAX))
#define SD_READS_ADAPTIVE                                                                      \
    (SD_SETTING_BIT(RTOL) | SD_SETTING_BIT(ATOL) | SD_SETTING_BIT(H_INIT) |                    \
     SD_SETTING_BIT(H_MIN) | SD_SETTING_BIT(MAX_STEPS))
#define SD_READS_CHURN                                                                         \
    (SD_SETTING_BIT(S_CHURN) | SD_SETTING_BIT(S_TMIN) | SD_SETTING_BIT(S_TMAX) |               \
     SD_SETTING_BIT(S_NOISE))

/* A method's row. Its context, a struct of the method's file (the PC
 * predictor and corrector rows and inpainting's known values, the ODE
 * stepper, the likelihood probes, the Langevin score hook), is run->ctx:
 * ctx_size bytes, zeroed by sd_solve_begin, filled by the entry point's
 * setter (pc.c's, likelihood.c's, langevin.c's) and by prepare, and freed by
 * sd_solve_end; blocks only read it. */
struct sd_method_ops {
    const char *name;
    /* The public name (scoresde_sampler_method_name); NULL for a row that a
     * setting selects in place of the method's first row, and for the rows
     * of the entry points that do not sample (likelihood, Langevin). */
    const char *key;
    int method;
    /* 0 for a method's first row; for another row of the method, the
     * integer setting whose non-zero value selects it (the frozen 1.0
     * settings ADAPTIVE and UNIPC of DPMPP; sd_sampler_row). */
    int selector;
    /* Where a new sampler of the method starts where that is not the
     * settings table's default (scoresde_sampler_default); ends with setting
     * 0; NULL for none. Only the method's first row's count. */
    const sd_method_default *defaults;
    /* The settings the row reads (SD_SETTING_BIT), beyond those every method
     * reads (the driver's, the grid's and those of the entry points that take
     * any method's sampler: sampler.c's driver_reads). A method's settings
     * are the union over its rows (scoresde_sampler_setting_applies). */
    uint64_t reads;
    size_t ctx_size; /* bytes of the run's context; 0: none (run->ctx NULL) */
    /* Check the run's settings against the model and fill the context, once
     * per call before any block runs; NULL: nothing to check. */
    int (*prepare)(sd_run *run);
    size_t (*ws_doubles)(const sd_run *run);    /* per sample */
    size_t (*state_doubles)(const sd_run *run); /* per sample */
    int (*init)(sd_block *b);                   /* optional, before step 0 */
    int (*step)(sd_block *b, size_t k);         /* sets b->done after the last step */
    int (*finish)(sd_block *b);                 /* optional, after the last step */
};

/* A run's life (driver.c), the same for every entry point: sd_solve_begin
 * gives it the row `ops` and its zeroed context (SCORESDE_ENOMEM);
 * sd_solve_prepare calls the row's prepare; sd_solve_drive runs the method
 * on n samples whose state (n x Dy) is x, in place, the statistics into
 * stats (or NULL); sd_solve_end frees the context (also after a failure,
 * and after a failed sd_solve_begin). */
int sd_solve_begin(sd_run *run, const sd_method_ops *ops);
int sd_solve_prepare(sd_run *run);
int sd_solve_drive(sd_run *run, size_t n, double *x, scoresde_sampler_stats *stats);
void sd_solve_end(sd_run *run);

extern const sd_method_ops sd_method_pc;
extern const sd_method_ops sd_method_ode;
extern const sd_method_ops sd_method_edm;
extern const sd_method_ops sd_method_dpmpp;
extern const sd_method_ops sd_method_dpmpp_adaptive; /* DPMPP with ADAPTIVE = 1 */
extern const sd_method_ops sd_method_unipc;          /* DPMPP with UNIPC = 1 */
extern const sd_method_ops sd_method_ipndm;
extern const sd_method_ops sd_method_ddim;
extern const sd_method_ops sd_method_dpmpp_sde;
extern const sd_method_ops sd_method_restart;
extern const sd_method_ops sd_method_likelihood; /* the ODE on [x, delta] (likelihood.c) */
extern const sd_method_ops sd_method_langevin;   /* time-free Langevin dynamics */

/* The row a sampler runs (sampler.c): the first row of its method whose
 * selector setting is non-zero (in the table's order: ADAPTIVE before
 * UNIPC), else the method's first row. */
const sd_method_ops *sd_sampler_row(const scoresde_sampler *s);

/* EDM's own defaults, which Restart shares (edm.c). */
extern const sd_method_default sd_edm_defaults[];

/* ----------------------------------------------------------- EDM parts
 * (edm.c), shared by iPNDM and Restart (restart.c). States are
 * x_edm = x / alpha; a level is a time with its marginal and r = sigma/alpha. */
typedef struct sd_edm_level {
    double t, alpha, sigma, r;
} sd_edm_level;
/* out = D(xe; t) = the data prediction at alpha xe, every sample at time t
 * (guided, thresholded; xs: n D scratch); nfe += 1. */
int sd_edm_denoise(sd_block *b, const double *xe, double t, double alpha, double sigma,
                   double *xs, double *out);
/* b->x = the Heun step of dx_edm/dr = (x_edm - D)/r from xh at `from` to
 * `to` (xh may not be b->x; ws: 3 n D doubles); nfe += 2. */
int sd_edm_heun(sd_block *b, const double *xh, const sd_edm_level *from, const sd_edm_level *to,
                double *ws);
/* EDM's row functions: x -> x_edm; one step k (churn, then Heun; ws: 5 n D);
 * the final step (FINAL_STEP) and x = alpha x_edm. */
int sd_edm_init(sd_block *b);
int sd_edm_step(sd_block *b, size_t k);
int sd_edm_finish(sd_block *b);
/* Restart's jump (restart.c): x_edm += c z for the block, z (n D scratch)
 * the sampler noise of draw number `draw`. */
void sd_restart_jump(sd_block *b, uint64_t draw, double c, double *z);

/* ----------------------------------------------------------- PC parts */

typedef struct sd_predictor_ops {
    const char *name;
    int id;
    int needs_marginal;
    unsigned nfe; /* score evaluations per step */
    /* Move the block from grid time k to k + 1, noise draw number `draw`. */
    int (*step)(sd_block *b, size_t k, uint64_t draw);
} sd_predictor_ops;

typedef struct sd_corrector_ops {
    const char *name;
    int id;
    int needs_marginal;
    int (*step)(sd_block *b, size_t k, uint64_t draw);
} sd_corrector_ops;

const sd_predictor_ops *sd_predictor_find(int id);
const sd_corrector_ops *sd_corrector_find(int id);

/* Inpainting (a PC run): the known coordinates (mask: D flags, non-zero =
 * known; known: the call's n x D values) into the run's PC context. */
void sd_pc_set_known(sd_run *run, const unsigned char *mask, const double *known);

/* ----------------------------------------------------------- ODE steppers */

/* An explicit Runge-Kutta stepper: its Butcher tableau (c, a, b: stage j at
 * t + c_j h, y + h sum_{l<j} a_jl k_l; the solution y + h sum_j b_j k_j)
 * and, for an adaptive pair, its error row e = b - b_hat and the order of
 * that estimate. An adaptive pair is FSAL (first same as last): the last
 * row of a is b, so the last stage's state is the new solution and its F the
 * next step's k_0 (ode.c's adaptive step relies on it). */
#define SD_RK_STAGES 7
typedef struct sd_ode_stepper {
    const char *name;
    int id;
    unsigned stages; /* s: F evaluations per step (FSAL: s - 1 new ones) */
    double c[SD_RK_STAGES];
    double a[SD_RK_STAGES][SD_RK_STAGES];
    double b[SD_RK_STAGES];
    double e[SD_RK_STAGES];
    unsigned error_order; /* 0: fixed steps on the grid; q: e h is O(h^(q+1)) */
} sd_ode_stepper;

const sd_ode_stepper *sd_ode_stepper_find(int id);

/* The right-hand side of an ODE on states of run->Dy doubles per sample:
 * out_i = F(y_i, t_i) for the block's n samples. */
typedef int (*sd_rhs_fn)(sd_block *b, const double *y, const double *t, double *out);

/* The ODE rows' context (ode.c): the stepper of SOLVER, the right-hand side
 * and the scratch doubles per sample it needs. A row that integrates
 * another ODE (likelihood.c) puts this struct first in its own context. */
typedef struct sd_ode_ctx {
    const sd_ode_stepper *stepper;
    sd_rhs_fn rhs;
    size_t rhs_ws;
} sd_ode_ctx;

/* The ODE row's functions, for rows that reuse them: prepare's stepper and
 * tolerance checks (the context's rhs already set), workspaces, init, step. */
int sd_ode_prepare(sd_run *run);
size_t sd_ode_ws(const sd_run *run);
size_t sd_ode_state(const sd_run *run);
int sd_ode_init(sd_block *b);
int sd_ode_step(sd_block *b, size_t k);

/* ODE workspace: SD_ODE_BUFS stage buffers of n x Dy, the rhs scratch
 * (rhs_ws n doubles), then the step's times (3 n). */
#define SD_ODE_BUFS 9
static inline double *sd_ode_scratch(const sd_block *b)
{
    return b->ws + SD_ODE_BUFS * b->run->Dy * b->n;
}

/* ----------------------------------------------------------- step control
 * (control.c): the one controller of the adaptive solvers. Each sample's
 * state starts with the SD_CTL_* doubles: its time t (the message's), its
 * next step h (in the method's variable), done, accepted, rejected and nfe. */
enum { SD_CTL_T, SD_CTL_H, SD_CTL_DONE, SD_CTL_ACC, SD_CTL_REJ, SD_CTL_NFE, SD_CTL_N };

typedef struct sd_control {
    double exponent;  /* -1 / (q + 1), q the order of the error estimate */
    double h_min;     /* H_MIN, or for NaN 1e-14 of the span */
    double max_steps; /* MAX_STEPS: attempted steps per sample */
    const char *step; /* what a step is, in messages ("step size", "lambda step") */
} sd_control;

/* The controller of a run's solver: error estimates of order error_order,
 * `span` the length of the integration in the step's variable. */
void sd_control_init(sd_control *c, const scoresde_sampler *s, unsigned error_order, double span,
                     const char *step);
/* A step with scaled error err is accepted iff err <= 1. */
static inline int sd_control_accepts(double err)
{
    return err <= 1.0;
}
/* After sample i's attempted step h with error err (accepted: the caller
 * has moved it and counted it; its last step needs no call), its next step
 * into st[SD_CTL_H], clipped to `rest` (what is left, signed like h).
 * SCORESDE_ENUMERIC below H_MIN or after MAX_STEPS attempted steps. */
int sd_control_next(const sd_control *c, const sd_block *b, size_t i, double *st, double h,
                    double err, double rest);
/* The block's t_now (least advanced), done, nfe (largest), accepted and
 * rejected (sums) from its samples' states of `stride` doubles. */
void sd_control_summarise(sd_block *b, size_t stride);

/* ----------------------------------------------------------- shared helpers */

/* PC workspace layout per sample: score, z, tmp (D each) */
#define SD_PC_WS 3

/* The model's score or data prediction for the block's samples at times t
 * (n values), with the block's conditions and, when run->cfg != 0, the
 * classifier-free combination out = o_null + (1 + w)(o_cond - o_null) from
 * one model call of 2n rows (the block's n conditioned rows, then the same
 * n points with the null condition). Guidance hooks are the callers'. */
/* SCORESDE_ENUMERIC naming the first sample of the block whose state x
 * (n x D) is not finite at its time t[i]: a step diverged, which is the
 * solver's numeric failure, not a bad argument of the model call after it. */
int sd_solve_check_state(const sd_block *b, const double *x, const double *t);
int sd_solve_model_score(sd_block *b, const double *x, const double *t, double *out);
int sd_solve_model_data(sd_block *b, const double *x, const double *t, double *out);
/* The block's view of the call's conditions (NULL for an unconditional run). */
const sd_cond *sd_solve_block_cond(const sd_block *b, sd_cond *view);
/* Doubles per sample of the CFG workspace: the 2n points, times, outputs,
 * condition rows and null flags. */
#define SD_CFG_WS(D, C) (4 * (D) + 2 * (C) + 3)

/* s = model score at the block's x with every sample at time t; nfe += 1. */
int sd_solve_score_at(sd_block *b, const double *x, double t, double *score);
/* Guidance (no-op without a hook): score += scale * g(x, t), or for a data
 * prediction at one time with marginal (alpha, sigma),
 * m += (sigma^2 / alpha) scale g (Tweedie). */
int sd_solve_guide_score(sd_block *b, const double *x, const double *t, double *score);
int sd_solve_guide_data(sd_block *b, const double *x, double alpha, double sigma, double *m);
/* Fill z (n x D) with the sampler noise of draw number `draw` per sample. */
void sd_solve_noise(const sd_block *b, uint64_t draw, double *z);
/* The probability-flow drift as an sd_rhs_fn (Dy = D, rhs_ws = D); it does
 * not count evaluations (the stepper does). */
int sd_solve_pf_rhs(sd_block *b, const double *y, const double *t, double *out);

/* Likelihood (a run of sd_method_likelihood): allocate the augmented
 * states y (n x (D + 1), then the probes) from data x, set run->Dy and the
 * context's probes. Free y with sd_free. */
int sd_likelihood_setup(sd_run *run, size_t n, const double *x, double **y_out);

/* Langevin dynamics (a run of sd_method_langevin): the caller's score hook
 * into the context. */
void sd_langevin_set_score(sd_run *run, scoresde_score_fn score, void *user);

/* The run's grid (STEPS + 1 times, sampling order T ... eps, or with
 * reverse from eps up to T) and the marginal on it (run->alpha, sigma; NULL
 * for an SDE without one), in *buf (the caller frees it with sd_free). */
int sd_solve_setup_grid(sd_run *run, double eps, int reverse, double **buf);

/* The grid of a sampler for an SDE, in sampling order (T ... eps). */
int sd_solve_grid(const scoresde_sampler *s, const scoresde_sde *sde, double eps, double *t,
                  size_t count);
/* r(t) = sigma(t) / alpha(t) at one time, and the time in [lo, hi] where r
 * takes a value (bisection to the last bit; r increasing). */
int sd_solve_ratio_at(const scoresde_sde *sde, double t, double *r);
int sd_solve_time_of_ratio(const scoresde_sde *sde, double target, double lo, double hi,
                           double *t);

/* The effective eps (the setting, or the SDE's for NaN), checked against T. */
int sd_solve_eps(const scoresde_sampler *s, const scoresde_sde *sde, double *eps);

/* The prior-support pass after a sample or inpaint call (support.c; see
 * scoresde_sampler_set_support): the caller's arguments of that call, x_out
 * holding its n samples; mask and known are inpainting's (NULL when
 * sampling). A no-op without the hook. */
int sd_solve_support(const scoresde_sampler *s, const scoresde_model *model,
                     const scoresde_cond *cond, size_t n, size_t D, uint64_t seed,
                     uint64_t first_sample, double *x_out, const unsigned char *mask,
                     const double *known, scoresde_sampler_stats *stats);

/* lambda = ln(alpha/sigma), the log signal-to-noise ratio, at grid point k
 * (needs the Gaussian marginal and sigma > 0: sd_solve_need_sigma). The
 * data-prediction methods step in it and their ratio guards measure it. */
double sd_solve_lambda(const sd_run *r, size_t k);

/* The step-ratio guard of the multistep methods: the largest order q <=
 * order for step k (from grid point k to k + 1) such that the q steps
 * k - q + 1 .. k, measured in the method's variable v(k) (lambda, or r), are
 * each within a ratio `rmax` of the next (max(h_j / h_{j+1}, h_{j+1} / h_j)
 * <= rmax, rmax = STEP_RATIO_MAX; 1e300: no guard). Order 1 always passes. */
size_t sd_solve_ratio_guard(const sd_run *r, size_t k, size_t order,
                            double (*v)(const sd_run *r, size_t k));

/* The order of step k of a multistep method of order `order` (ORDER; DPMPP,
 * UniPC, IPNDM, DPMPP_SDE): at most k + 1 (the warm-up); on the last steps
 * (LOWER_ORDER_FINAL) at most max(N - k, order - 1) with 2, at most N - k
 * with 1 when N < 15, no limit with 0; then the step-ratio guard's, in the
 * method's variable v. */
size_t sd_solve_multistep_order(const sd_run *r, size_t k, size_t order,
                                 double (*v)(const sd_run *r, size_t k));

/* The data-prediction methods' check: the SDE has a Gaussian marginal
 * (SCORESDE_EUNSUPPORTED) and sigma > 0 at every grid time (SCORESDE_EINVAL);
 * the messages begin with `what` ("DDIM", "the EDM sampler"). */
int sd_solve_need_sigma(const sd_run *run, const char *what);

/* FINAL_STEP as the factor on the Tweedie mean at eps: 0 for STOP (no final
 * evaluation), 1 for TWEEDIE, alpha(0) for TO_ZERO. */
int sd_solve_final_factor(const sd_run *r, double *factor);

#endif /* SD_SOLVE_INTERNAL_H */
