/**
 * @file
 * libscoresde: samplers (reverse-time SDE and probability-flow ODE solvers).
 *
 * A scoresde_sampler holds a method and its settings. It draws samples from a
 * score model by integrating from the prior at t = T down to t = eps
 * (docs/math.md sections 3 and 5), and encodes data into latents by integrating
 * the probability-flow ODE forward.
 *
 * Methods (scoresde_sampler_method_t):
 *   PC   predictor-corrector (Song et al. 2021). At each grid time t_k,
 *        k = 0..N-1, CORRECTOR_STEPS corrector steps at t_k, then one
 *        predictor step from t_k to t_{k+1} (score_sde's order). With DENOISE,
 *        the result is the Tweedie mean (x + sigma^2 s(x, eps)) / alpha at
 *        eps (one more score evaluation). NFE = N (CORRECTOR_STEPS + 1)
 *        (+1 with DENOISE; a NONE predictor costs nothing).
 *   ODE  the probability-flow ODE dx/dt = f - g^2 s / 2 with SOLVER:
 *        Euler (order 1), Heun (2), classical RK4 (4) on the time grid, or
 *        adaptive Dormand-Prince 5(4) from T to eps (the grid is not used).
 *        NFE = N x (1, 2, 4) for the fixed steppers.
 *   EDM  Karras et al. 2022, Algorithm 2, in r = sigma/alpha (EDM's sigma)
 *        with x_edm = x / alpha, so VE-type and VP-type SDEs both work: at
 *        each grid time t_k (r_k), churn gamma = min(S_CHURN / (N + 1),
 *        sqrt(2) - 1) when S_TMIN <= r_k <= S_TMAX (else 0), raised level
 *        r_hat = r_k (1 + gamma) (capped at r(T); its time found by
 *        bisection), x_hat = x + sqrt(r_hat^2 - r_k^2) S_NOISE z, then a Heun
 *        step to r_{k+1} with d = (x_hat - D(x_hat; r_hat)) / r_hat, the
 *        denoiser D being the model's data prediction. DENOISE is EDM's
 *        final step to r = 0 (which returns D(x; r_N)); without it the
 *        result is alpha(eps) x_edm at eps. Created with GRID = KARRAS,
 *        RHO = 7 and STEPS = 17 (EDM's 18 noise levels: 17 Heun steps and
 *        the final step, NFE = 2 N + 1 = 35). Noise of step k: draw k
 *        (see Randomness).
 *   DPMPP DPM-Solver++ multistep (Lu et al. 2022) with data prediction m,
 *        lambda = ln(alpha/sigma), ORDER 1, 2 (2M) or 3 (3M) (formulas in
 *        docs/math.md section 5). Step k (from 0) uses order min(ORDER, k + 1)
 *        (warm-up), lowered on the last steps by LOWER_ORDER_FINAL (see
 *        Multistep orders below) and by the step-ratio guard below. With
 *        ORDER = 3 (and N > 1) the first step is instead
 *        the singlestep DPM-Solver++(2S) with its midpoint in lambda (one
 *        more evaluation): an order-1 first step would cap the global order
 *        at 2.
 *        Note on 3M (docs/math.md section 5): the paper and its code
 *        pair phi_3 with D2 = (D1_0 - D1_1)/(r0 + r1), half of h^2 m'' (the
 *        divided differences sit at the midpoints, (h_0 + h_1)/2 apart),
 *        while -alpha_t phi_3 multiplies the full h^2 m'' in the Taylor
 *        integral, so that form is of order 2; this library uses
 *        D2 = 2 (D1_0 - D1_1)/(r0 + r1), of order 3 (the measured slopes are
 *        in docs/guide/16-choosing-a-sampler.md).
 *        Created with GRID = LOGSNR, STEPS = 20, DENOISE = 0; NFE = N (+1 for
 *        3M, +1 with DENOISE, a Tweedie mean at eps). Deterministic.
 *        ADAPTIVE = 1 replaces the multistep by the adaptive DPM-Solver++
 *        "2/3" pair (Lu et al. 2022, section 4.2, in data prediction), with
 *        its own step size per sample: each step from lambda to lambda + h
 *        evaluates m at lambda, lambda + h/3 and lambda + 2h/3 (3 NFE) and
 *        forms the order-3 singlestep solution (kept) and an order-2 one;
 *        err = RMS_j (x3_j - x2_j) / max(ATOL, RTOL max(|x2_j|, |x_j|)),
 *        accepted if err <= 1, next h = h min(5, max(0.2, 0.9 err^(-1/3)))
 *        (at most 1 after a rejection). The first h is H_INIT in lambda
 *        units (NaN: 0.05, Lu et al.'s); H_MIN (NaN: 1e-14 of the lambda span)
 *        and MAX_STEPS apply as for DOPRI5 (SCORESDE_ENUMERIC). The grid
 *        gives only its first and last times (STEPS and ORDER are unused);
 *        NFE = 3 x attempted steps, per sample (stats: the largest). A
 *        guided adaptive run calls the guidance hook once per sample and
 *        evaluation. The local error estimate does not see the growth of
 *        errors along trajectories that pass near the boundary between
 *        modes (accuracy per NFE: docs/guide/16-choosing-a-sampler.md).
 *        UNIPC = 1 (multistep only) adds the UniC corrector (Zhao et al.
 *        2023, "UniPC", data prediction) at no extra NFE: the evaluation
 *        m_k = m(x_k, t_k) at the predicted point x_k, which step k needs
 *        anyway, first corrects x_k, then step k starts from the corrected
 *        point (with m_k kept as the history value, as the paper does). With
 *        h = lambda_k - lambda_{k-1}, p the order of step k-1's predictor,
 *        r_j = (lambda_{k-1-j} - lambda_{k-1})/h (j = 1..p-1), r_p = 1,
 *        D_j = (m_{k-1-j} - m_{k-1})/r_j, D_p = m_k - m_{k-1}:
 *          x_k = (sigma_k/sigma_{k-1}) x_{k-1} - alpha_k expm1(-h) m_{k-1}
 *                - alpha_k sum_{j=1..p} w_j D_j,
 *          sum_j w_j r_j^(n-1) = -h phi_{n+1}(-h) n!,  n = 1..p,
 *        phi_1(z) = (e^z - 1)/z, phi_{n+1}(z) = (phi_n(z) - 1/n!)/z (the
 *        paper's R rho = b with w = B(h) rho; B(h) cancels when the system
 *        is solved). For p = 1 it uses, as the reference code, rho = 1/2
 *        with B(h) = expm1(-h) ("bh2"): w_1 = expm1(-h)/2. UniC-p has local
 *        error O(h^(p+2)), so ORDER 1, 2, 3 converge at orders 2, 3, 4
 *        (the measured slopes: docs/guide/16-choosing-a-sampler.md). Not
 *        corrected: the last step (its evaluation would be an extra NFE;
 *        DENOISE's evaluation is not used for it either) and 3M's 2S
 *        first step (its local
 *        error is O(h^4) already, UniC-1's only O(h^3)). Costs: the same
 *        NFE, two more vectors of state per sample (the third previous m
 *        and x_{k-1}), O(D) work per step. ADAPTIVE = 1 ignores UNIPC.
 *   IPNDM iPNDM (Zhang and Chen 2023, the improved PNDM), 1.1: the ODE of EDM
 *        above, dx_edm/dr = d = (x_edm - D(x_edm; r)) / r, by Adams-Bashforth
 *        on the noise predictions d_k of the grid points:
 *        x_edm += (r_{k+1} - r_k) sum_j c_j d_{k-j}, with the constant-step
 *        weights c = 1; (3, -1)/2; (23, -16, 5)/12; (55, -59, 37, -9)/24 for
 *        orders 1-4, at order min(ORDER, k + 1) (warm-up), lowered on the
 *        last steps (LOWER_ORDER_FINAL) and by the step-ratio guard
 *        (STEP_RATIO_MAX). Start and end as EDM's (FINAL_STEP TWEEDIE: the
 *        step to r = 0). Created with GRID = KARRAS, STEPS = 10, ORDER = 4;
 *        NFE = N (+1 with the final step). Deterministic.
 *   DDIM  DDIM with eta (Song, Meng and Ermon 2021) in the (alpha, sigma)
 *        form, 1.1: from t = t_k to s = t_{k+1}, h = lambda_s - lambda_t,
 *        m = m(x, t), e = (x - alpha_t m)/sigma_t,
 *        sigma_eta = min(ETA sigma_s sqrt(1 - e^(-2h)), sigma_s),
 *        x_s = alpha_s m + sqrt(sigma_s^2 - sigma_eta^2) e + sigma_eta z.
 *        ETA = 0 is deterministic (the same map as DPM-Solver++ 1); ETA = 1
 *        draws x_s from the Gaussian posterior given x_t and x_0 = m (the
 *        ancestral sampler, PC's ANCESTRAL predictor). Created with
 *        GRID = LOGSNR, STEPS = 50, ETA = 0, FINAL_STEP = STOP; NFE = N
 *        (+1 with the final step). Noise of step k: draw k.
 *   DPMPP_SDE stochastic multistep DPM-Solver++ (Lu et al. 2022, the
 *        SDE-DPM-Solver++(2M) and its third-order form; k-diffusion's
 *        dpmpp_2m_sde and dpmpp_3m_sde), 1.1. With c = 1 + ETA it integrates
 *        the reverse-time family dx = [f - c g^2 s/2] dt + sqrt(ETA) g dW
 *        (ETA = 1 the reverse SDE, 0 the probability-flow ODE) exactly in
 *        its linear part:
 *          x_s = (sigma_s/sigma_t) e^(-ETA h) x_t + alpha_s [(1 - e^(-ch)) m
 *                + phi2(ch) d1 - phi3(ch) d2] + sigma_s sqrt(1 - e^(-2 ETA h)) z,
 *        phi2(y) = 1 + expm1(-y)/y, phi3(y) = phi2(y)/y - 1/2, with 3M's
 *        differences d1 ~ h m', d2 ~ h^2 m'' of the previous data
 *        predictions (ORDER 2: d1 = (m_k - m_{k-1})/r0, d2 = 0; ORDER 1:
 *        none). ORDER 1 is the exact solution for a constant data prediction
 *        (its noise exact in distribution); orders 2 and 3 are exact only for
 *        a data prediction linear or quadratic in lambda, and otherwise
 *        approximations, as the deterministic multistep formulas are
 *        (k-diffusion's default 2M SDE weights d1 by (1 - e^(-ch))/2, equal to
 *        phi2(ch) to first order in h only). Warm-up, LOWER_ORDER_FINAL and
 *        the step-ratio guard as DPMPP (no 2S start). Created with
 *        GRID = LOGSNR, STEPS = 20, ORDER = 2, ETA = 1, FINAL_STEP = STOP;
 *        NFE = N (+1 with the final step). Noise of step k: draw k.
 *   RESTART Restart sampling (Xu, Deng, Cheng, Tian, Liu and Jaakkola 2023), 1.1:
 *        EDM's steps above (with its churn settings) on the main grid, and at
 *        the grid point t_j whose r_j = sigma/alpha is nearest RESTART_TMIN
 *        (j >= 1, the first of equals; r_min = r_j), K = RESTART_K
 *        restarts, each the forward jump x_edm += sqrt(r_max^2 - r_min^2) z
 *        to r_max = RESTART_TMAX, which is the SDE's transition from t_j to
 *        the time of r_max (mean (alpha_u/alpha_s) x, variance
 *        sigma_u^2 - (alpha_u/alpha_s)^2 sigma_s^2 in x), followed by
 *        M = RESTART_STEPS Heun steps back to t_j on the levels
 *        r_m = (r_max^(1/RHO) + (m/M)(r_min^(1/RHO) - r_max^(1/RHO)))^RHO,
 *        m = 0..M (each level's time by bisection; r_M = r_j itself); then
 *        the main steps go on to eps. RESTART_K = 0 is the EDM sampler,
 *        bit for bit. Created as EDM (GRID = KARRAS, STEPS = 17) with the
 *        paper's CIFAR-10 setting RESTART_K = 2, RESTART_TMIN = 0.06,
 *        RESTART_TMAX = 0.3, RESTART_STEPS = 2 (its 3 restart noise levels);
 *        NFE = 2 N + 2 K M (+1 with the final step) = 43. Refused
 *        (SCORESDE_EINVAL) when K > 0: RESTART_TMIN >= RESTART_TMAX, r_max above r(t_0),
 *        r_j not below r_max, N + K M above MAX_STEPS, restart levels that do
 *        not decrease in t. Noise of restart i (i = 0..K-1): draw N + i.
 * Dynamic thresholding (Saharia et al. 2022; 1.1), for data known to lie in
 * [-c, c], c = THRESHOLD_BOUND: with THRESHOLD = p > 0, every data
 * prediction of the methods that use one (EDM, DPMPP and its adaptive and
 * UniPC forms, IPNDM, DDIM, DPMPP_SDE, and their final Tweedie step) is,
 * per sample, after classifier-free guidance and before the guidance hook:
 * s = the p-quantile of |m_j| over the D coordinates (the smallest |m_j|
 * with at least ceil(p D) of them at or below it), s = max(s, c),
 * m = clip(m, -s, s) c / s. PC and ODE, which use the score, ignore it.
 * Multistep orders on the last steps (DPMPP, UniPC, IPNDM, DPMPP_SDE; 1.1),
 * LOWER_ORDER_FINAL, with p = ORDER and N = STEPS: 2 (the default) caps
 * step k at order max(N - k, p - 1), i.e. the last p - 1 steps (at least
 * one) use order p - 1 (order 1 for p <= 2), whatever N: their local
 * errors O(h^p) keep the global order p of the predictor (UniPC's p + 1
 * falls to p: its last step is not corrected). 1 caps step k at N - k
 * only when N < 15 (DPM-Solver's lower_order_final with diffusers'
 * threshold, the rule of 1.0: where it switches off, at N = 15, the error
 * can grow as steps are added; see the guide). 0 never lowers. The warm-up
 * cap k + 1 applies first.
 * Multistep guard (DPMPP, UniPC, IPNDM, DPMPP_SDE; 1.1): a step uses a past point only
 * while each of the steps it spans is within STEP_RATIO_MAX (default 3) of
 * the next, in lambda = ln(alpha/sigma); otherwise it takes the highest
 * order that passes. Without it (STEP_RATIO_MAX = 1e300, 1.0's behaviour)
 * DPM-Solver++ 3M and UniPC got worse as steps were added on the uniform-t
 * grid, whose last lambda steps are much longer than the ones before. The
 * default changes results only where the guard fires (uniform t, and short
 * Karras or power grids with large ratios); log-SNR grids never fire it.
 * The per-method settings named above (EDM: GRID, STEPS; DPMPP: GRID, STEPS,
 * DENOISE; IPNDM: GRID, STEPS, ORDER; DDIM and DPMPP_SDE: GRID, STEPS, ETA,
 * FINAL_STEP; RESTART: GRID, STEPS) are where a new sampler of that method starts;
 * scoresde_sampler_default(method, setting) reports them, and
 * scoresde_sampler_setting_applies(method, setting) which settings a method
 * reads.
 *
 * Predictors, from t = t_k to u = t_{k+1} < t, h = t - u, z ~ N(0, I):
 *   EULER_MARUYAMA   x_mean = x - h [f - (1 + lam^2)/2 g^2 s],
 *                    x = x_mean + lam g sqrt(h) z   (LAM = 1: the reverse
 *                    SDE; LAM = 0: Euler on the probability-flow ODE; the
 *                    family of docs/math.md section 3 in between and beyond).
 *   REVERSE_DIFFUSION x_mean = x - F + G^2 s, x = x_mean + G z, where the
 *                    forward step from u to t is x_t = x_u + F + G z in the
 *                    exact ratio form r = alpha(t)/alpha(u), F = (r - 1) x,
 *                    G^2 = sigma(t)^2 - r^2 sigma(u)^2. For VE this is SMLD's
 *                    discretisation on the grid; for VP it is DDPM's to first
 *                    order in h (score_sde uses fixed N-level tables instead;
 *                    the ratio form follows whatever grid is chosen and also
 *                    covers sub-VP, where score_sde has no tables).
 *   ANCESTRAL        the DDPM posterior in general Gaussian form:
 *                    a = alpha_t/alpha_u, v = sigma_t^2 - a^2 sigma_u^2,
 *                    x0 = (x + sigma_t^2 s)/alpha_t,
 *                    x_mean = (a sigma_u^2/sigma_t^2) x + (alpha_u v/sigma_t^2) x0,
 *                    x = x_mean + sqrt(v sigma_u^2/sigma_t^2) z.
 *   NONE             no move (corrector-only sampling, e.g. NCSN).
 * Every predictor but EULER_MARUYAMA needs a Gaussian marginal (all built-in
 * SDEs; SCORESDE_EUNSUPPORTED for a CUSTOM SDE without one).
 *
 * Correctors, at time t = t_k with s = s(x, t), z ~ N(0, I):
 *   LANGEVIN  x_mean = x + step s, x = x_mean + sqrt(2 step) z, with
 *             a = (alpha(t)/alpha(u))^2 over the next grid step (score_sde's
 *             1 - beta_i for VP in the ratio form; 1 for VE) and the step
 *             rule BATCH_NORMS (scoresde_sampler_norms_t):
 *             NOISE_LEVEL (the default since 1.1): step = 2 a (SNR sigma(t))^2,
 *               score_sde's rule with ||z|| / ||s|| replaced by the marginal's
 *               noise level sigma(t) (for data of small spread ||s|| is
 *               about ||z|| / sigma(t)); it depends on neither the sample nor
 *               the batch and is bounded where the score vanishes. It needs
 *               the Gaussian marginal (SCORESDE_EUNSUPPORTED otherwise).
 *             PER_SAMPLE (1.0's default): step = 2 a (SNR ||z|| / ||s||)^2 with
 *               the sample's own norms (0 where ||s|| = 0). Caution: the step
 *               then grows as 1/||s||^2 near any point where the score
 *               vanishes (a mode's centre, the prior's mean, a saddle), and in
 *               D dimensions P(||s|| < e) ~ e^D, so in low dimension the kick
 *               has infinite variance: the samples are wrong (see the guide,
 *               docs/guide/03-reverse-sde.md). Kept for reproducing 1.0.
 *             BATCH: the per-sample rule with ||z|| and ||s|| averaged over
 *               the samples of a block as score_sde does, which couples those
 *               samples (see Reproducibility).
 *   ANNEALED  annealed Langevin dynamics (NCSN):
 *             step = ALD_STEP sigma(t)^2 / sigma(eps)^2,
 *             x = x + (step/2) s + sqrt(step) z.
 *   NONE      no corrector.
 *
 * Time grids (GRID), N = STEPS steps, t_0 = T > t_1 > ... > t_N = eps:
 *   UNIFORM_T  t_k = T + (k/N)(eps - T)
 *   KARRAS     uniform in r^(1/rho), r = sigma/alpha (EDM's sigma), RHO = 7
 *   LOGSNR     uniform in lambda = ln(alpha/sigma) (DPM-Solver's default)
 *   ARRAY      the caller's array (scoresde_sampler_set_grid).
 *   POWER      t_k = eps + (T - eps)(1 - k/N)^p, p = POWER (1.1): denser near
 *              eps; p = 2 suits the multistep methods (see the guide).
 * KARRAS and LOGSNR need a Gaussian marginal with sigma/alpha increasing in t
 * and positive at eps (EPS = 0 with sigma(0) = 0: SCORESDE_EINVAL); the
 * times are found by bisection to full double precision.
 *
 * Settings are set with typed setters. Each setting has a type (integer or
 * double), inclusive bounds (scoresde_sampler_bounds) and a published or
 * documented default (scoresde_sampler_default), listed with the enum.
 *
 * Randomness (see scoresde/rng.h): sample i of a run (i = first_sample +
 * position in the call) uses Philox stream i under `seed`.
 *   - prior draws (when x_T is NULL): scoresde_sde_prior_sample with stream i,
 *     draw 0, i.e. offsets SCORESDE_RNG_OFFSET(SCORESDE_RNG_PRIOR, j), j < D;
 *   - the noise of PC substep c (c = 0..CORRECTOR_STEPS-1 the correctors,
 *     c = CORRECTOR_STEPS the predictor) at grid step k, element j:
 *     offset SCORESDE_RNG_OFFSET(SCORESDE_RNG_SAMPLER,
 *                                (k (CORRECTOR_STEPS + 1) + c) D + j);
 *   - EDM churn, DDIM, DPMPP_SDE and Langevin dynamics at step k: draw
 *     number k, i.e. offset
 *     SCORESDE_RNG_OFFSET(SCORESDE_RNG_SAMPLER, k D + j); RESTART's churn
 *     likewise and its restart i draw number N + i (N = STEPS);
 *   - inpainting and likelihood probes: see those functions.
 * ODE and DPM-Solver++ runs draw nothing beyond the prior.
 *
 * Reproducibility: sample i depends only on (seed, i, the sampler's settings,
 * the model and x_T's row), never on the number of samples per call, the
 * split of a run into calls, BLOCK or THREADS, bit for bit (given a model
 * and guidance hook whose per-sample results do not depend on the batch, as
 * the library's own models guarantee). The one exception is
 * BATCH_NORMS = BATCH (1), which by design couples the samples of a block (the
 * call's samples in consecutive groups of BLOCK).
 *
 * Threads: the samples of a call are split into blocks of BLOCK samples,
 * each evaluated by the model in one batch; blocks run on THREADS OpenMP
 * threads (never more threads than blocks). A call allocates its workspace
 * once; no step allocates (the model may allocate inside its own evaluations).
 * With THREADS > 1 and more than one block a call opens one OpenMP parallel
 * region; thread q takes the q-th of THREADS consecutive runs of blocks
 * through all steps, without waiting for the other threads between steps
 * (a thread runs at most 1024 steps ahead of the slowest). The library's MLP
 * model then evaluates each block on one thread, so threads never nest.
 * With THREADS = 1 or one block (BLOCK >= n) the call runs on the calling
 * thread with no OpenMP construct at all, and the thread budget belongs to
 * the model's n_threads. Results, statistics and progress-hook calls are the
 * same for every THREADS and BLOCK (see Reproducibility). How to choose them:
 * docs/guide/09-threads.md.
 *
 * Steps, the progress hook and errors: step j (from 1) is every unfinished
 * block's j-th step (an adaptive solver's j-th round of attempts), each
 * block checked for NaN/Inf after it. The outcome is the one of running the
 * steps one after another over all blocks: the first step in which some
 * block fails ends the call with the error (code and message) of the
 * lowest-numbered failing block (blocks hold consecutive samples, so a
 * NaN/Inf found after a step names the lowest sample that became
 * non-finite in it), and the hook is not called for that step; otherwise after step j the progress hook gets (j, the least
 * advanced time over all samples, the largest nfe over all blocks), and a
 * non-zero return ends the call (SCORESDE_ECALLBACK); when every block is
 * done, the final step (a denoising evaluation, where the method has one)
 * runs, and the lowest-numbered block whose final step failed gives the
 * error. Work other threads did beyond the failing step is discarded.
 *
 * Thread safety: a sampler is read-only while it samples; any number of
 * threads may sample with one sampler (and one model) at once. The setters
 * and scoresde_sampler_free must not run concurrently with any other call on
 * the same sampler.
 * Hooks and threads: with THREADS > 1 (and more than one block) the blocks
 * run on OpenMP worker threads, so every hook evaluated per block (the
 * model's score, denoiser and divergence hooks, the guidance hook, a CUSTOM
 * SDE's drift, diffusion and schedule hooks, the Langevin score) may be
 * called from library worker threads, concurrently with itself on other
 * blocks: such hooks must be thread-safe (and `user` data shared across
 * calls must be read-only or synchronised). With THREADS = 1, or one block,
 * they are called from the calling thread. The progress hook is always
 * called from the thread that called the sampling function, once per step in
 * step order, never concurrently with itself for one call; with THREADS > 1
 * the worker threads may meanwhile be evaluating later steps.
 *
 * Errors of the batch functions (sample, inpaint, encode, langevin,
 * likelihood): SCORESDE_EINVAL (NULL pointer, zero n or D, a setting out of
 * its bounds, eps >= T, a bad grid, non-finite input, a stats struct_size
 * below the first layout), SCORESDE_EDIM (D is not the model's dimension),
 * SCORESDE_EUNSUPPORTED (the method needs a Gaussian marginal the SDE
 * lacks), SCORESDE_ENOMEM, SCORESDE_ECALLBACK (a model hook or the progress
 * hook stopped the run), SCORESDE_ENUMERIC (a sample became NaN or Inf: the
 * message names the sample, the step and the time; or the adaptive solver's
 * step fell below H_MIN or it ran out of MAX_STEPS).
 * scoresde_last_error() then says what was wrong. On failure the output
 * holds partial results and must not be used.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SCORESDE_SAMPLER_H
#define SCORESDE_SAMPLER_H

#include "common.h"
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An opaque sampler: a method and its settings. */
typedef struct scoresde_sampler scoresde_sampler;

/** Sampling methods (values frozen). */
typedef enum scoresde_sampler_method_t {
    SCORESDE_SAMPLER_PC = 1,   /**< predictor-corrector on a time grid */
    SCORESDE_SAMPLER_ODE = 2,  /**< probability-flow ODE (SOLVER setting) */
    SCORESDE_SAMPLER_EDM = 3,  /**< Karras et al. 2022, Heun in sigma/alpha with churn */
    SCORESDE_SAMPLER_DPMPP = 4, /**< DPM-Solver++ multistep, ORDER 1..3 */
    SCORESDE_SAMPLER_IPNDM = 5, /**< iPNDM, Adams-Bashforth in sigma/alpha, ORDER 1..4 (1.1) */
    SCORESDE_SAMPLER_DDIM = 6,  /**< DDIM with ETA (1.1) */
    SCORESDE_SAMPLER_DPMPP_SDE = 7, /**< stochastic DPM-Solver++ 2M / 3M SDE with ETA (1.1) */
    SCORESDE_SAMPLER_RESTART = 8    /**< Restart sampling: EDM's Heun steps with RESTART_K
                                         restarts (1.1) */
} scoresde_sampler_method_t;

/** Predictors (values of the setting SCORESDE_SAMPLER_PREDICTOR; frozen). */
typedef enum scoresde_sampler_predictor_t {
    SCORESDE_SAMPLER_PREDICTOR_NONE = 0,
    SCORESDE_SAMPLER_PREDICTOR_EULER_MARUYAMA = 1,
    SCORESDE_SAMPLER_PREDICTOR_REVERSE_DIFFUSION = 2,
    SCORESDE_SAMPLER_PREDICTOR_ANCESTRAL = 3
} scoresde_sampler_predictor_t;

/** Correctors (values of the setting SCORESDE_SAMPLER_CORRECTOR; frozen). */
typedef enum scoresde_sampler_corrector_t {
    SCORESDE_SAMPLER_CORRECTOR_NONE = 0,
    SCORESDE_SAMPLER_CORRECTOR_LANGEVIN = 1,
    SCORESDE_SAMPLER_CORRECTOR_ANNEALED = 2
} scoresde_sampler_corrector_t;

/** Langevin corrector step rules (values of the setting
 *  SCORESDE_SAMPLER_BATCH_NORMS; frozen; 1.1 added NOISE_LEVEL, the default). */
typedef enum scoresde_sampler_norms_t {
    SCORESDE_SAMPLER_NORMS_PER_SAMPLE = 0,  /**< 2 a (SNR ||z_i|| / ||s_i||)^2 (1.0's default) */
    SCORESDE_SAMPLER_NORMS_BATCH = 1,       /**< the norms averaged over a block (score_sde) */
    SCORESDE_SAMPLER_NORMS_NOISE_LEVEL = 2  /**< 2 a (SNR sigma(t))^2 (1.1; the default) */
} scoresde_sampler_norms_t;

/** Time grids (values of the setting SCORESDE_SAMPLER_GRID; frozen). */
typedef enum scoresde_sampler_grid_t {
    SCORESDE_SAMPLER_GRID_UNIFORM_T = 1,
    SCORESDE_SAMPLER_GRID_KARRAS = 2,
    SCORESDE_SAMPLER_GRID_LOGSNR = 3,
    SCORESDE_SAMPLER_GRID_ARRAY = 4, /**< set by scoresde_sampler_set_grid only */
    SCORESDE_SAMPLER_GRID_POWER = 5  /**< t_k = eps + (T - eps)(1 - k/N)^POWER (1.1) */
} scoresde_sampler_grid_t;

/** ODE solvers (values of the setting SCORESDE_SAMPLER_SOLVER; frozen). */
typedef enum scoresde_sampler_solver_t {
    SCORESDE_SAMPLER_SOLVER_EULER = 1,
    SCORESDE_SAMPLER_SOLVER_HEUN = 2,
    SCORESDE_SAMPLER_SOLVER_RK4 = 3,
    SCORESDE_SAMPLER_SOLVER_DOPRI5 = 4 /**< adaptive Dormand-Prince 5(4) */
} scoresde_sampler_solver_t;

/**
 * Settings: type, [bounds], default. Values frozen; only ever added.
 * A setting irrelevant to the sampler's method is stored and ignored
 * (scoresde_sampler_setting_applies says which).
 * The defaults are those of scoresde_sampler_default: EDM and DPMPP start
 * some settings elsewhere (see the methods at the top).
 * EPS, H_INIT and H_MIN are the only settings that accept NaN, which means
 * "the library chooses" (the value named in the comment) and is where they
 * start; scoresde_sampler_bounds gives their finite range.
 */
typedef enum scoresde_sampler_setting_t {
    SCORESDE_SAMPLER_STEPS = 1,           /**< int [1, 1e6], 1000 (score_sde's N);
                                               EDM 17, DPMPP 20 */
    SCORESDE_SAMPLER_EPS = 2,             /**< double [0, 1e300] or NaN, NaN: the time
                                               sampling ends at. NaN = the SDE's
                                               sampling eps (likelihoods: its training
                                               eps); 0 samples to t = 0 (the KARRAS and
                                               LOGSNR grids and DPMPP need sigma(eps) > 0).
                                               Must be below T */
    SCORESDE_SAMPLER_PREDICTOR = 3,       /**< int [0, 3], REVERSE_DIFFUSION (score_sde) */
    SCORESDE_SAMPLER_CORRECTOR = 4,       /**< int [0, 2], LANGEVIN (score_sde) */
    SCORESDE_SAMPLER_CORRECTOR_STEPS = 5, /**< int [0, 1000], 1 */
    SCORESDE_SAMPLER_SNR = 6,             /**< double [0, 100], 0.16 (score_sde) */
    SCORESDE_SAMPLER_BATCH_NORMS = 7,     /**< int [0, 2], NOISE_LEVEL: the Langevin step
                                               rule (scoresde_sampler_norms_t; 1.0: 0,
                                               per-sample norms, and [0, 1]) */
    SCORESDE_SAMPLER_DENOISE = 8,         /**< int [0, 1], 1 (score_sde's noise_removal);
                                               DPMPP 0 */
    SCORESDE_SAMPLER_LAM = 9,             /**< double [0, 100], 1 (the reverse SDE) */
    SCORESDE_SAMPLER_GRID = 10,           /**< int [1, 5] (4 via set_grid only), UNIFORM_T;
                                               EDM KARRAS, DPMPP LOGSNR */
    SCORESDE_SAMPLER_RHO = 11,            /**< double [0.001, 1000], 7 (Karras et al.) */
    SCORESDE_SAMPLER_THREADS = 12,        /**< int [1, 1024], 1 */
    SCORESDE_SAMPLER_BLOCK = 13,          /**< int [1, 1048576], 64 samples per model batch */
    SCORESDE_SAMPLER_ALD_STEP = 14,       /**< double [1e-12, 1000], 2e-5 (NCSN's step_lr) */
    SCORESDE_SAMPLER_SOLVER = 15,         /**< int [1, 4], DOPRI5 (score_sde's RK45) */
    SCORESDE_SAMPLER_RTOL = 16,           /**< double [0, 1], 1e-5 (score_sde) */
    SCORESDE_SAMPLER_ATOL = 17,           /**< double [0, 1e300], 1e-5 (score_sde) */
    SCORESDE_SAMPLER_H_INIT = 18,         /**< double [1e-300, 1e300] or NaN, NaN: the first
                                               step of an adaptive solver. NaN = automatic
                                               (DOPRI5: Hairer's starting-step rule, one
                                               extra evaluation; adaptive DPMPP: 0.05 in
                                               lambda) */
    SCORESDE_SAMPLER_H_MIN = 19,          /**< double [0, 1e300] or NaN, NaN: the smallest
                                               step of an adaptive solver before it fails.
                                               NaN = 1e-14 of the span (t, or lambda for
                                               DPMPP); 0 = no minimum (MAX_STEPS still
                                               applies) */
    SCORESDE_SAMPLER_MAX_STEPS = 20,      /**< int [1, 1e9], 100000 steps per sample */
    SCORESDE_SAMPLER_DIVERGENCE = 21,     /**< int [1, 3], EXACT: likelihood divergence */
    SCORESDE_SAMPLER_ORDER = 22,          /**< int [1, 4] (1.0: [1, 3]), 2: DPM-Solver++
                                               order (2M; 1-3); IPNDM 4 (1-4) */
    SCORESDE_SAMPLER_S_CHURN = 23,        /**< double [0, 1e6], 0: EDM churn */
    SCORESDE_SAMPLER_S_TMIN = 24,         /**< double [0, 1e300], 0: EDM churn from r >= S_TMIN */
    SCORESDE_SAMPLER_S_TMAX = 25,         /**< double [0, 1e300], 1e300 (infinity) */
    SCORESDE_SAMPLER_S_NOISE = 26,        /**< double [0, 10], 1: EDM churn noise scale */
    SCORESDE_SAMPLER_LANGEVIN_STEP = 27,  /**< double [1e-300, 1e300], 1e-3: Langevin delta */
    SCORESDE_SAMPLER_ADAPTIVE = 28,       /**< int [0, 1], 0: DPMPP with per-sample adaptive
                                               steps (RTOL, ATOL; see the method list) */
    SCORESDE_SAMPLER_UNIPC = 29,          /**< int [0, 1], 0: DPMPP multistep with the UniC
                                               corrector (see the method list) */
    /* The likelihood bound and report (scoresde/bound.h): */
    SCORESDE_SAMPLER_BOUND_DRAWS = 30,    /**< int [1, 1e6], 8: time draws per point */
    SCORESDE_SAMPLER_BOUND_TIME = 31,     /**< int [1, 2], IMPORTANCE: time distribution
                                               (scoresde_sampler_bound_time_t) */
    SCORESDE_SAMPLER_DEQUANT_BITS = 32,   /**< int [0, 32], 0: bits of discrete data
                                               (0 = continuous data) */
    SCORESDE_SAMPLER_DEQUANT_DRAWS = 33,  /**< int [1, 1e6], 1: dequantisation draws */
    SCORESDE_SAMPLER_DATA_SCALE = 34,     /**< double [1e-300, 1e300], 1: model input
                                               = scale (data) + shift */
    SCORESDE_SAMPLER_DATA_SHIFT = 35,     /**< double [-1e300, 1e300], 0 */
    SCORESDE_SAMPLER_GUIDANCE_SCALE = 36, /**< double [-1e6, 1e6], 0 (off): classifier-free
                                               guidance w (1.1; see Conditions below) */
    SCORESDE_SAMPLER_SUPPORT_RETRIES = 37, /**< int [0, 1e6], 100: redraws per sample outside
                                               the prior's support (scoresde_sampler_set_support) */
    /* 1.1 (issue 15): */
    SCORESDE_SAMPLER_LOWER_ORDER_FINAL = 38, /**< int [0, 2], 2: the multistep methods'
                                               orders on their last steps (Multistep
                                               orders above): 2 the last ORDER - 1
                                               steps at ORDER - 1, at every N; 1 step k
                                               at N - k when N < 15 (1.0's rule);
                                               0: never lowered */
    SCORESDE_SAMPLER_STEP_RATIO_MAX = 39, /**< double [1, 1e300], 3: multistep methods use
                                               a past point only while consecutive steps
                                               in lambda = ln(alpha/sigma) are within this
                                               ratio of each other, else a lower order;
                                               1e300: no guard (1.0) */
    SCORESDE_SAMPLER_FINAL_STEP = 40,     /**< int [0, 2] (scoresde_sampler_final_t), the
                                               method's DENOISE: what happens at eps.
                                               DENOISE is its alias (0 = STOP, 1 = TWEEDIE) */
    SCORESDE_SAMPLER_POWER = 41,          /**< double [0.1, 100], 2: the exponent p of
                                               GRID = POWER */
    SCORESDE_SAMPLER_ETA = 42,            /**< double [0, 100], 0: the noise of DDIM (0:
                                               deterministic, 1: ancestral) and of
                                               DPMPP_SDE (default 1: the reverse SDE) */
    SCORESDE_SAMPLER_THRESHOLD = 43,      /**< double [0, 1], 0 (off): dynamic thresholding
                                               quantile p (Saharia et al. 2022 use 0.995),
                                               see Dynamic thresholding */
    SCORESDE_SAMPLER_THRESHOLD_BOUND = 44, /**< double [1e-300, 1e300], 1: the data's bound
                                               c (data in [-c, c]) */
    SCORESDE_SAMPLER_RESTART_K = 45,      /**< int [0, 1e6], 2: RESTART's restarts K
                                               (0: the EDM sampler) */
    SCORESDE_SAMPLER_RESTART_TMIN = 46,   /**< double [0, 1e300], 0.06: RESTART's lower
                                               level, in r = sigma/alpha (the grid point
                                               nearest it is used) */
    SCORESDE_SAMPLER_RESTART_TMAX = 47,   /**< double [1e-300, 1e300], 0.3: RESTART's upper
                                               level r_max, above RESTART_TMIN */
    SCORESDE_SAMPLER_RESTART_STEPS = 48   /**< int [1, 1e6], 2: RESTART's Heun steps per
                                               restart */
} scoresde_sampler_setting_t;

/**
 * The end of a run at eps (values of SCORESDE_SAMPLER_FINAL_STEP; 1.1; frozen).
 * DENOISE = 0 sets STOP, DENOISE = 1 TWEEDIE; DENOISE reads 1 for TWEEDIE and
 * TO_ZERO. The ODE method ignores both (its result is x(eps)).
 */
typedef enum scoresde_sampler_final_t {
    SCORESDE_SAMPLER_FINAL_STOP = 0,    /**< the state at eps; no evaluation */
    SCORESDE_SAMPLER_FINAL_TWEEDIE = 1, /**< the Tweedie mean E[x_0 | x_eps] =
                                             (x + sigma^2 s) / alpha at eps; +1 NFE */
    SCORESDE_SAMPLER_FINAL_TO_ZERO = 2  /**< a first-order step from eps to sigma = 0
                                             (EDM's choice): alpha(0) times the Tweedie
                                             mean, +1 NFE; equal to TWEEDIE for SDEs with
                                             alpha(0) = 1 (all built-in ones) */
} scoresde_sampler_final_t;

/** Time distributions of the bound (values of SCORESDE_SAMPLER_BOUND_TIME). */
typedef enum scoresde_sampler_bound_time_t {
    SCORESDE_SAMPLER_BOUND_TIME_UNIFORM = 1,   /**< t uniform on [eps, T] */
    SCORESDE_SAMPLER_BOUND_TIME_IMPORTANCE = 2 /**< density proportional to g^2 / sigma^2 */
} scoresde_sampler_bound_time_t;

/** Divergence estimators for likelihoods (values of the setting
 *  SCORESDE_SAMPLER_DIVERGENCE; frozen). */
typedef enum scoresde_sampler_divergence_t {
    SCORESDE_SAMPLER_DIVERGENCE_EXACT = 1,      /**< scoresde_model_divergence */
    SCORESDE_SAMPLER_DIVERGENCE_RADEMACHER = 2, /**< Hutchinson-Skilling, +-1 probes */
    SCORESDE_SAMPLER_DIVERGENCE_GAUSSIAN = 3    /**< Hutchinson-Skilling, N(0, I) probes */
} scoresde_sampler_divergence_t;

/**
 * Run statistics, a versioned output struct (common.h): set struct_size =
 * sizeof(scoresde_sampler_stats) before the call. Any struct_size from the
 * first layout (ending at t_final) up is accepted (SCORESDE_EINVAL below
 * it): the library writes the fields it knows that fit and zeroes the
 * caller's bytes beyond its own layout; struct_size itself is not written.
 * Fields are only ever appended.
 */
typedef struct scoresde_sampler_stats {
    size_t struct_size;
    uint64_t nfe;      /**< score evaluations per sample (the largest over the call's samples) */
    uint64_t accepted; /**< accepted steps, summed over samples (fixed steps count as accepted) */
    uint64_t rejected; /**< rejected steps (adaptive solvers), summed over samples */
    double t_final;    /**< the time the outputs are at (eps for sampling, T for encoding) */
    /* ---- 1.1 ---- */
    uint64_t redrawn;  /**< redraws of samples outside the prior's support, summed over samples
                            (scoresde_sampler_set_support; 0 without the hook) */
    uint64_t outside;  /**< samples still outside it after SUPPORT_RETRIES redraws */
} scoresde_sampler_stats;

/**
 * Progress hook, called by the calling thread after every step of a run:
 * `step` counts completed steps (adaptive: rounds in which every unfinished
 * sample attempted one step), `t` is the time reached (adaptive: the time of
 * the least advanced sample), `nfe` the score evaluations per sample so far.
 * Return 0 to continue; non-zero cancels the run, which returns
 * SCORESDE_ECALLBACK.
 */
typedef int (*scoresde_sampler_progress_fn)(uint64_t step, double t, uint64_t nfe, void *user);

/**
 * Guidance hook (conditional generation, score_sde's controllable generation):
 * write grad_x ln p(y | x_i, t_i) for the n x D batch x into grad_out (the
 * condition y is the caller's, through `user`). The samplers then use the
 * score s + scale * grad everywhere they use the score: PC predictors,
 * correctors and denoising (also when inpainting, where it makes the
 * conditional exact: see scoresde_sampler_inpaint), the probability-flow ODE
 * (sampling and encoding),
 * and, through Tweedie, the data predictions of EDM and DPM-Solver++
 * (m + (sigma^2 / alpha) scale grad). Likelihoods and Langevin dynamics do
 * not use it. Return 0, or non-zero to stop (SCORESDE_ECALLBACK); a
 * non-finite gradient gives SCORESDE_ENUMERIC.
 */
typedef int (*scoresde_guidance_fn)(const double *x, const double *t, size_t n, size_t D,
                                    double *grad_out, void *user);

/**
 * Create a sampler for `method` with every setting at its default
 * (scoresde_sampler_default(method, ...)).
 * SCORESDE_EINVAL for a NULL out or an unknown method, SCORESDE_ENOMEM.
 * *out is set to NULL on failure. Free with scoresde_sampler_free.
 * Thread-safe.
 */
SCORESDE_API int scoresde_sampler_create(scoresde_sampler **out, int method);

/**
 * An independent copy of `s` into *out: method, settings, the caller's grid
 * array (copied) and the hook pointers with their `user` pointers (shared,
 * not copied). SCORESDE_EINVAL for a NULL out or s, SCORESDE_ENOMEM; *out is
 * NULL on failure. Free with scoresde_sampler_free. Thread-safe, as long as
 * no setter runs on `s` at the same time.
 */
SCORESDE_API int scoresde_sampler_clone(scoresde_sampler **out, const scoresde_sampler *s);

/** Free a sampler; NULL is accepted. Not thread-safe on `s`. */
SCORESDE_API void scoresde_sampler_free(scoresde_sampler *s);

/** The sampler's method (a scoresde_sampler_method_t), or 0 for NULL. Thread-safe. */
SCORESDE_API int scoresde_sampler_method(const scoresde_sampler *s);

/**
 * Set an integer setting. SCORESDE_EINVAL for NULL, an unknown setting, a
 * double setting (the message names it), or a value outside the bounds
 * (setting GRID to ARRAY this way is refused: use scoresde_sampler_set_grid).
 * Setting GRID or STEPS drops a caller's grid array. Not thread-safe on `s`.
 */
SCORESDE_API int scoresde_sampler_set_int(scoresde_sampler *s, int setting, int64_t value);

/**
 * Set a double setting. SCORESDE_EINVAL for NULL, an unknown setting, an
 * integer setting, NaN for a setting other than EPS, H_INIT and H_MIN, or a
 * value outside the bounds (NaN selects the library's choice for those three).
 * Not thread-safe on `s`.
 */
SCORESDE_API int scoresde_sampler_set_double(scoresde_sampler *s, int setting, double value);

/**
 * Read an integer setting into *value. SCORESDE_EINVAL for a NULL s or value,
 * an unknown setting or a double setting. Thread-safe (as long as no setter
 * runs on `s`).
 */
SCORESDE_API int scoresde_sampler_get_int(const scoresde_sampler *s, int setting,
                                          int64_t *value);

/**
 * Read a double setting into *value (NaN where the library chooses).
 * SCORESDE_EINVAL for a NULL s or value, an unknown setting or an integer
 * setting. Thread-safe (as long as no setter runs on `s`).
 */
SCORESDE_API int scoresde_sampler_get_double(const scoresde_sampler *s, int setting,
                                             double *value);

/**
 * The inclusive bounds of a setting (as doubles for either type) and whether
 * it is an integer setting (*is_int 1 or 0); any output may be NULL. The
 * bounds are finite; EPS, H_INIT and H_MIN also take NaN. GRID's upper bound
 * is POWER (1.1; LOGSNR in 1.0); ARRAY (4) within it is set by
 * scoresde_sampler_set_grid only.
 * SCORESDE_EINVAL for an unknown setting. Thread-safe.
 */
SCORESDE_API int scoresde_sampler_bounds(int setting, double *lower, double *upper,
                                         int *is_int);

/**
 * The value a new sampler of `method` starts with for `setting`, as a double
 * (integer settings exactly; NaN for EPS, H_INIT and H_MIN). It depends on
 * the method only for the per-method settings (see the methods at the top).
 * SCORESDE_EINVAL for a NULL value, an unknown method or setting.
 * Thread-safe.
 */
SCORESDE_API int scoresde_sampler_default(int method, int setting, double *value);

/**
 * Whether `setting` applies to `method` (1.1): *applies = 1 when some call
 * with a sampler of that method reads the setting (under some value of the
 * others: RTOL applies to DPMPP through ADAPTIVE = 1, RHO to every method
 * through GRID = KARRAS), else 0, in which case the setting is stored and
 * ignored: changing it changes no result of any call with that sampler.
 * Every method reads STEPS, EPS, GRID, RHO, POWER, THREADS, BLOCK,
 * GUIDANCE_SCALE and SUPPORT_RETRIES (sampling), LANGEVIN_STEP
 * (scoresde_sampler_langevin) and the bound's settings BOUND_DRAWS,
 * BOUND_TIME, DEQUANT_BITS, DEQUANT_DRAWS, DATA_SCALE and DATA_SHIFT
 * (scoresde/bound.h), which take any method's sampler; the others are the
 * method's own (the methods at the top of this header). ADAPTIVE and UNIPC
 * are DPMPP's. SCORESDE_EINVAL for a NULL applies, an unknown method or
 * setting. Thread-safe.
 */
SCORESDE_API int scoresde_sampler_setting_applies(int method, int setting, int *applies);

/**
 * Names (1.1; the form of scoresde/common.h's Names). The public name of a
 * method ("pc", "ode", "edm", "dpmpp", "ipndm", "ddim", "dpmpp_sde",
 * "restart"), static storage, or NULL for an unknown method (no error
 * recorded); method ids run from 1 with no gaps. Thread-safe.
 */
SCORESDE_API const char *scoresde_sampler_method_name(int method);

/**
 * The method named `name` into *method (1.1). SCORESDE_EINVAL for a NULL
 * name or method, or a name that is not a method's (the message lists them).
 * Thread-safe.
 */
SCORESDE_API int scoresde_sampler_method_id(const char *name, int *method);

/**
 * The public name of a setting (1.1: "restart_tmin" for
 * SCORESDE_SAMPLER_RESTART_TMIN), static storage, or NULL for an unknown id
 * (no error recorded); setting ids run from 1 with no gaps. Thread-safe.
 */
SCORESDE_API const char *scoresde_sampler_setting_name(int setting);

/**
 * The setting named `name` into *setting (1.1). SCORESDE_EINVAL for a NULL
 * name or setting, or a name that is not a setting's. Thread-safe.
 */
SCORESDE_API int scoresde_sampler_setting_id(const char *name, int *setting);

/**
 * The public name of value `value` of an enum-valued setting (1.1: PREDICTOR,
 * CORRECTOR, BATCH_NORMS, GRID, SOLVER, DIVERGENCE, BOUND_TIME, FINAL_STEP;
 * "reverse_diffusion" for SCORESDE_SAMPLER_PREDICTOR_REVERSE_DIFFUSION,
 * "uniform_t" for SCORESDE_SAMPLER_GRID_UNIFORM_T), static storage; NULL for
 * another setting or a value outside the setting's bounds (no error
 * recorded). Every value within the bounds of these settings has a name
 * (GRID's "array" included, which only scoresde_sampler_set_grid sets).
 * Thread-safe.
 */
SCORESDE_API const char *scoresde_sampler_value_name(int setting, int value);

/**
 * The value named `name` of an enum-valued setting into *value (1.1).
 * SCORESDE_EINVAL for a NULL name or value, an unknown setting, a setting
 * without named values, or a name that is not one of its values (the message
 * lists them). Thread-safe.
 */
SCORESDE_API int scoresde_sampler_value_id(int setting, const char *name, int *value);

/**
 * Use the caller's time grid: `count` >= 2 finite times, strictly decreasing,
 * t[count-1] > 0 (copied). STEPS becomes count - 1 and GRID becomes ARRAY;
 * EPS is then t[count-1], and t[0] is checked against the model's T at
 * sampling (t[0] <= T; t[0] < T starts the run at t[0], with x_T then the
 * caller's or the prior's draw). Setting GRID or STEPS afterwards drops the
 * array; setting STEPS also returns GRID to the method's default grid (EPS
 * keeps the array's last time until it is set again).
 * SCORESDE_EINVAL for a NULL s or t, a count below 2 or above 1e6 + 1, or
 * naming the first bad entry; SCORESDE_ENOMEM. Not thread-safe on `s`.
 */
SCORESDE_API int scoresde_sampler_set_grid(scoresde_sampler *s, const double *t, size_t count);

/**
 * Install (or, with fn NULL, remove) the guidance hook with its scale (finite,
 * any sign). `user` is the caller's to keep alive. A guided run needs D more
 * doubles of workspace per sample. SCORESDE_EINVAL for a NULL s or a
 * non-finite scale. Not thread-safe on `s`.
 */
SCORESDE_API int scoresde_sampler_set_guidance(scoresde_sampler *s, scoresde_guidance_fn fn,
                                               void *user, double scale);

/**
 * Prior-support hook (simulation-based inference with a bounded prior, e.g.
 * a uniform box): set outside[i] non-zero for each sample x_i (row i of the
 * n x D batch) that lies outside the prior's support, zero otherwise (the
 * library zeroes outside before the call). Return 0, or non-zero to stop
 * (SCORESDE_ECALLBACK). Called from the calling thread.
 */
typedef int (*scoresde_support_fn)(const double *x, size_t n, size_t D, unsigned char *outside,
                                   void *user);

/**
 * Install (or, with fn NULL, remove) the prior-support hook. After a
 * sample or inpaint call (and their _cond twins) has drawn its n samples,
 * the hook sees the whole batch once; each flagged sample i is redrawn, up
 * to SUPPORT_RETRIES times, until the hook (then called with that one
 * sample, n = 1) accepts it. Redraw r = 0, 1, ... of the call's sample i
 * (run index first_sample + i) is the same call for that sample alone
 * (n = 1, first_sample + i, its condition row, its inpainting row), from a
 * fresh prior draw (x_T is not reused: an ODE run from it would repeat the
 * same point), under the seed
 *     seed_r = w0 + 2^32 w1,  (w0, w1, w2, w3) = Philox block b = k / 2 of
 *     stream first_sample + i under `seed` (scoresde/rng.h's layout), with
 *     k = SCORESDE_RNG_OFFSET(SCORESDE_RNG_SUPPORT, 2 r),
 * so every draw is counter-based and sample i's result, redraws included,
 * depends only on (seed, its run index, its condition), never on the batch,
 * BLOCK or THREADS. The redraw runs without the progress hook. A sample
 * still outside after SUPPORT_RETRIES redraws keeps its last draw and is
 * counted in stats->outside (the caller decides; SUPPORT_RETRIES = 0 only
 * counts); stats->redrawn counts the redraws, accepted and rejected add the
 * redraws' steps, nfe stays the first pass's per-sample largest. Costs: a
 * redraw is a whole sampling run of one sample (one model row per
 * evaluation), so the hook suits priors whose support holds most of the
 * posterior's mass (sbi's rejection of leakage). Encoding and likelihoods
 * do not use it. `user` is the caller's to keep alive. SCORESDE_EINVAL for
 * a NULL s. Not thread-safe on `s`.
 */
SCORESDE_API int scoresde_sampler_set_support(scoresde_sampler *s, scoresde_support_fn fn,
                                              void *user);

/**
 * Install (or, with fn NULL, remove) the progress hook. `user` is passed back
 * unchanged and is the caller's to keep alive. SCORESDE_EINVAL for a NULL s.
 * Not thread-safe on `s`.
 */
SCORESDE_API int scoresde_sampler_set_progress(scoresde_sampler *s, scoresde_sampler_progress_fn fn,
                                               void *user);

/**
 * The sampler's time grid for `sde`: t[0..count-1] with count = STEPS + 1,
 * t[0] = T, t[count-1] = eps (see the grids above). SCORESDE_EINVAL for NULL,
 * a count other than STEPS + 1, eps >= T; SCORESDE_EUNSUPPORTED if the grid
 * needs a marginal the SDE lacks; SCORESDE_ENUMERIC if sigma/alpha is not
 * increasing. Thread-safe.
 */
SCORESDE_API int scoresde_sampler_times(const scoresde_sampler *s, const scoresde_sde *sde,
                                        double *t, size_t count);

/**
 * Draw `n` samples with `model` into x_out (n x D; D must be the model's
 * dimension, else SCORESDE_EDIM). The call's sample i is sample
 * first_sample + i of the run (see Randomness).
 * x_T (n x D, finite) gives the starting points at the grid's first time; NULL
 * draws them from the SDE's prior. x_T may equal x_out. stats may be NULL.
 * Works with every method. Errors: see the top of this header.
 * Thread-safe (sampler and model are only read).
 */
SCORESDE_API int scoresde_sampler_sample(const scoresde_sampler *s, const scoresde_model *model,
                                         const double *x_T, size_t n, size_t D, uint64_t seed,
                                         uint64_t first_sample, double *x_out,
                                         scoresde_sampler_stats *stats);

/**
 * Inpainting (imputation) with the PC method (score_sde's replacement
 * method): mask (D flags, non-zero = known) and y (n x D; only the
 * known entries are read, and must be finite) give each sample's known
 * coordinates. The run is scoresde_sampler_sample's with the prior start,
 * except that the known coordinates are replaced by alpha(t) y + sigma(t) z
 * (fresh noise) at the start (t_0) and after every corrector and predictor
 * update (at the update's time), and set to y exactly at the end. Replacement
 * noise of update draw d (numbered as in Randomness; the start is
 * d = STEPS (CORRECTOR_STEPS + 1)), element j: offset
 * SCORESDE_RNG_OFFSET(SCORESDE_RNG_INPAINT, d D + j). A PC run therefore
 * needs (STEPS (CORRECTOR_STEPS + 1) + 1) D <= 2^56 (SCORESDE_EINVAL
 * otherwise), the limit of every purpose's offsets.
 * Accuracy: replacement alone is biased: the free coordinates see the
 * unconditional score, not the conditional one (they never learn that the
 * known coordinates of x_0 are y; docs/guide/03-reverse-sde.md gives its
 * size on a mixture). It becomes exact when the guidance hook (scale 1), which this function
 * applies as scoresde_sampler_sample does, supplies grad_{x_t} ln p(y | x_t),
 * y the known coordinates of x_0: the guided score is then the conditional
 * score grad ln p_t(x_t | y), and the replacement is consistent with it,
 * because under p_t(x_t | y) the known coordinates alpha(t) y + sigma(t) z
 * are independent of the free ones given y (the noise is diagonal), exactly
 * what the fresh draw imposes. For a diagonal Gaussian mixture p(y | x_t) is
 * closed-form: sum_k P(k | x_t) N(y; m_k, c_k) over the known coordinates,
 * with the component's posterior m_kj = mu_kj + alpha v_kj (x_tj -
 * alpha mu_kj) / (alpha^2 v_kj + sigma^2), c_kj = v_kj sigma^2 /
 * (alpha^2 v_kj + sigma^2) (tested against the exact conditional law in
 * tests/test_sampler.c, test_inpainting_exact). What remains is the
 * sampler's discretisation error.
 * SCORESDE_EDIM if D is not the model's dimension; SCORESDE_EINVAL for a
 * NULL mask or y, another method, a non-finite known value or y == x_out;
 * SCORESDE_EUNSUPPORTED without a Gaussian marginal; otherwise as
 * scoresde_sampler_sample. Thread-safe.
 */
SCORESDE_API int scoresde_sampler_inpaint(const scoresde_sampler *s,
                                          const scoresde_model *model, const double *y,
                                          const unsigned char *mask, size_t n, size_t D,
                                          uint64_t seed, uint64_t first_sample, double *x_out,
                                          scoresde_sampler_stats *stats);

/**
 * Encode data into latents: integrate the probability-flow ODE forward from
 * eps to the grid's first time (T) with the sampler's SOLVER (ODE method
 * only, else SCORESDE_EINVAL), on the sampler's grid reversed (fixed steps) or
 * adaptively. x0 (n x D, finite; D the model's dimension, else SCORESDE_EDIM)
 * holds data at time eps; x_out (n x D, may equal x0) receives x_T. Sampling
 * with the same sampler from x_T inverts the map up to the solver's error.
 * Deterministic; no random draws, hence no seed.
 * Errors as scoresde_sampler_sample. Thread-safe.
 */
SCORESDE_API int scoresde_sampler_encode(const scoresde_sampler *s, const scoresde_model *model,
                                         const double *x0, size_t n, size_t D, double *x_out,
                                         scoresde_sampler_stats *stats);

/**
 * Plain Langevin dynamics for a time-free score (a fixed target's
 * grad log p, e.g. -grad E of an energy): STEPS steps of
 *     x <- x + delta s(x) + sqrt(2 delta) z,   delta = LANGEVIN_STEP,
 * from x0 (n x D, finite; may equal x_out) into x_out. The hook is the model
 * score type, called with t = 0 for every sample; non-zero from it gives
 * SCORESDE_ECALLBACK, a non-finite state SCORESDE_ENUMERIC. Noise of step k:
 * draw k (see Randomness), so results are reproducible as for sampling;
 * BLOCK, THREADS and the progress hook apply (the progress time is 0). With
 * the exact score the target is invariant up to the O(delta) bias of the
 * unadjusted scheme (for N(m, v), the stationary variance is
 * v / (1 - delta / (2 v))). Any method's sampler may be used; only the
 * settings named here matter. SCORESDE_EINVAL for a NULL s, score, x0 or
 * x_out, zero n or D, non-finite x0, a stats struct_size below the first
 * layout; SCORESDE_ENOMEM. Thread-safe if the hook is.
 */
SCORESDE_API int scoresde_sampler_langevin(const scoresde_sampler *s, scoresde_score_fn score,
                                           void *user, const double *x0, size_t n, size_t D,
                                           uint64_t seed, uint64_t first_sample, double *x_out,
                                           scoresde_sampler_stats *stats);

/**
 * Log-likelihoods ln p_eps(x_i) of data under `model` through the
 * probability-flow ODE (docs/math.md section 6): the augmented ODE on [x, delta],
 * d delta/dt = div F = D a(t) - g(t)^2 div s / 2, is integrated from eps to
 * T with the sampler's SOLVER (ODE method only, else SCORESDE_EINVAL; the
 * defaults give score_sde's setting: Dormand-Prince, RTOL = ATOL = 1e-5), and
 * ln p = ln p_T(x_T) + delta(T). Here EPS = NaN (the default) means the SDE's
 * training eps (1e-5 for VE, VP, sub-VP), not its sampling eps; GRID = ARRAY
 * is refused.
 * DIVERGENCE selects the exact divergence (scoresde_model_divergence) or a
 * Hutchinson estimate v^T (ds/dx) v with one probe per sample, fixed for the
 * whole solve: sample i (= first_sample + position) draws it from stream i at
 * offsets SCORESDE_RNG_OFFSET(SCORESDE_RNG_PROBE, j), j < D (Gaussian:
 * normals; Rademacher: uniform u < 0.5 gives -1, else +1); the exact
 * divergence draws nothing.
 * x: n x D finite data (D the model's dimension, else SCORESDE_EDIM);
 * logp: n values; latent: n x D (x_T) or NULL.
 * stats as scoresde_sampler_sample (nfe counts augmented evaluations, each one
 * score and one divergence or probe product). Errors as the sampling call,
 * plus SCORESDE_EUNSUPPORTED when the model has no exact divergence.
 * Thread-safe.
 */
SCORESDE_API int scoresde_sampler_likelihood(const scoresde_sampler *s,
                                             const scoresde_model *model, const double *x,
                                             size_t n, size_t D, uint64_t seed,
                                             uint64_t first_sample, double *logp,
                                             double *latent, scoresde_sampler_stats *stats);

/* ------------------------------------------------------------- conditions
 * Conditional sampling (1.1). Each batch entry point has a `_cond` twin that
 * takes `const scoresde_cond *cond` (scoresde/common.h) right after its input
 * batch arguments (x_T or y/mask or x0 or x, n, D), as the model's twins do;
 * the 1.0 function is its twin with cond NULL. Row i of the condition belongs
 * to the call's sample i; cond->rows = 1 gives every sample the same
 * condition (posterior sampling for one observation). The condition is
 * checked once per call, as by scoresde_model_score_cond, with its errors
 * (SCORESDE_EINVAL, SCORESDE_EDIM). Sample i's result depends on its own
 * condition only: it is the same bits whatever the other samples'
 * conditions, the batch, BLOCK or THREADS (given a model whose per-sample
 * results do not depend on the batch, as the library's own models).
 *
 * Classifier-free guidance (Ho and Salimans 2022): with GUIDANCE_SCALE = w
 * != 0, every model evaluation of sample, inpaint and encode uses
 *     s = s(x | null) + (1 + w) (s(x | c) - s(x | null))
 * in place of s(x | c); methods that use the data prediction (EDM,
 * DPM-Solver++ and its adaptive and UniPC forms) combine
 * m(x | null) + (1 + w)(m(x | c) - m(x | null)) the same way, which is the
 * same combination, since m is affine in s at one time. w = 0 is the plain
 * conditional score; w = -1 the null one. diffusers' guidance_scale is 1 + w
 * (its 1 is no guidance; its 7.5 is w = 6.5). The two terms are one model
 * call of 2n rows per evaluation: the n points with their conditions, then
 * the same points with the null condition; NFE counts evaluations, not rows.
 * The guidance hook (scoresde_sampler_set_guidance) is added to the combined
 * score. A guided run needs 4 D + 2 C + 3 more doubles of workspace per
 * sample of a block. Likelihoods ignore GUIDANCE_SCALE (a guided score has no
 * density to integrate). With w != 0, a model that is unconditional or does
 * not accept the null condition gives SCORESDE_EINVAL.
 */

/** scoresde_sampler_sample with conditions (row i for sample i, or one row for all). */
SCORESDE_API int scoresde_sampler_sample_cond(const scoresde_sampler *s,
                                              const scoresde_model *model, const double *x_T,
                                              size_t n, size_t D, const scoresde_cond *cond,
                                              uint64_t seed, uint64_t first_sample,
                                              double *x_out, scoresde_sampler_stats *stats);

/**
 * scoresde_sampler_inpaint with conditions: the free coordinates follow the
 * conditional (and, with GUIDANCE_SCALE, guided) score.
 */
SCORESDE_API int scoresde_sampler_inpaint_cond(const scoresde_sampler *s,
                                               const scoresde_model *model, const double *y,
                                               const unsigned char *mask, size_t n, size_t D,
                                               const scoresde_cond *cond, uint64_t seed,
                                               uint64_t first_sample, double *x_out,
                                               scoresde_sampler_stats *stats);

/** scoresde_sampler_encode with conditions (the conditional probability-flow ODE). */
SCORESDE_API int scoresde_sampler_encode_cond(const scoresde_sampler *s,
                                              const scoresde_model *model, const double *x0,
                                              size_t n, size_t D, const scoresde_cond *cond,
                                              double *x_out, scoresde_sampler_stats *stats);

/**
 * scoresde_sampler_likelihood with conditions: ln p_eps(x_i | c_i) through the
 * conditional probability-flow ODE (the posterior log-density for a
 * simulator's observation c_i). GUIDANCE_SCALE is not applied.
 */
SCORESDE_API int scoresde_sampler_likelihood_cond(const scoresde_sampler *s,
                                                  const scoresde_model *model, const double *x,
                                                  size_t n, size_t D, const scoresde_cond *cond,
                                                  uint64_t seed, uint64_t first_sample,
                                                  double *logp, double *latent,
                                                  scoresde_sampler_stats *stats);

/**
 * Bits per dimension of `bits`-bit data dequantised uniformly to u in [0, 1)^D
 * and fed to the model as y = scale u + shift (the shift does not enter):
 *     bpd_i = -logp_i / (D ln 2) - log2(scale) + bits,
 * the discrete bound of docs/math.md section 6 (score_sde's constant is bits = 8
 * with its scale). logp: n values of ln p_y(y_i). SCORESDE_EINVAL for NULL,
 * n or D zero, bits outside [1, 64], scale not finite and positive, or a
 * non-finite logp. Thread-safe.
 */
SCORESDE_API int scoresde_bits_per_dim(const double *logp, size_t n, size_t D, unsigned bits,
                                       double scale, double *bpd);

#ifdef __cplusplus
}
#endif

#endif /* SCORESDE_SAMPLER_H */
