//! The C enums as Rust enums. Each is `#[non_exhaustive]` and has an
//! `Other(i32)` variant: a newer library may return (or accept) values this
//! crate does not name, and those pass through unchanged.
use scoresde_sys as sys;

macro_rules! c_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:expr,)+ }) => {
        $(#[$meta])*
        #[non_exhaustive]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this crate does not name (from a newer library).
            Other(i32),
        }

        impl $name {
            /// The C value.
            pub fn raw(self) -> i32 {
                match self {
                    $($name::$variant => $value as i32,)+
                    $name::Other(v) => v,
                }
            }

            /// The variant of a C value (`Other` for one this crate does not name).
            pub fn from_raw(v: i32) -> Self {
                $(if v == $value as i32 {
                    return $name::$variant;
                })+
                $name::Other(v)
            }
        }
    };
}

c_enum! {
    /// The kind of a forward SDE (scoresde_sde_kind_t).
    SdeKind {
        /// Variance exploding.
        Ve = sys::SCORESDE_SDE_VE,
        /// Variance preserving.
        Vp = sys::SCORESDE_SDE_VP,
        /// Sub-variance preserving.
        SubVp = sys::SCORESDE_SDE_SUBVP,
        /// Defined by a schedule closure.
        Schedule = sys::SCORESDE_SDE_SCHEDULE,
        /// The cosine schedule.
        Cosine = sys::SCORESDE_SDE_COSINE,
        /// EDM (sigma(t) = t).
        Edm = sys::SCORESDE_SDE_EDM,
        /// Ornstein-Uhlenbeck.
        Ou = sys::SCORESDE_SDE_OU,
        /// Drift and diffusion closures.
        Custom = sys::SCORESDE_SDE_CUSTOM,
    }
}

c_enum! {
    /// The kind of a score model (scoresde_model_kind_t).
    ModelKind {
        /// An exact Gaussian mixture.
        Gmm = sys::SCORESDE_MODEL_GMM,
        /// A score closure.
        ScoreFn = sys::SCORESDE_MODEL_SCORE_FN,
        /// A denoiser closure (Tweedie's formula).
        DenoiserFn = sys::SCORESDE_MODEL_DENOISER_FN,
        /// A trainable MLP.
        Mlp = sys::SCORESDE_MODEL_MLP,
        /// The exact class-conditional Gaussian mixture (1.1).
        CondGmm = sys::SCORESDE_MODEL_COND_GMM,
        /// The exact linear-Gaussian posterior (1.1).
        LinearGaussian = sys::SCORESDE_MODEL_LINEAR_GAUSSIAN,
        /// The posterior of N IID observations, composed (1.1).
        Iid = sys::SCORESDE_MODEL_IID,
        /// A trainable residual MLP (1.1).
        ResMlp = sys::SCORESDE_MODEL_RESMLP,
    }
}

c_enum! {
    /// How [`crate::Model::iid`] combines single-observation scores
    /// (scoresde_iid_method_t).
    IidMethod {
        /// sum_k s_k - (N - 1) s_prior: exact at t = 0 only.
        Factorized = sys::SCORESDE_IID_FACTORIZED,
        /// Geffner et al. 2023's Gaussian correction: exact for Gaussian
        /// prior and posteriors with the given precisions.
        Gauss = sys::SCORESDE_IID_GAUSS,
    }
}

c_enum! {
    /// A sampling method (scoresde_sampler_method_t).
    Method {
        /// Predictor-corrector sampling of the reverse SDE.
        Pc = sys::SCORESDE_SAMPLER_PC,
        /// The probability-flow ODE.
        Ode = sys::SCORESDE_SAMPLER_ODE,
        /// EDM's stochastic sampler.
        Edm = sys::SCORESDE_SAMPLER_EDM,
        /// DPM-Solver++.
        Dpmpp = sys::SCORESDE_SAMPLER_DPMPP,
        /// iPNDM, Adams-Bashforth in sigma/alpha (1.1).
        Ipndm = sys::SCORESDE_SAMPLER_IPNDM,
        /// DDIM with eta (1.1).
        Ddim = sys::SCORESDE_SAMPLER_DDIM,
        /// The stochastic DPM-Solver++ (2M/3M SDE, 1.1).
        DpmppSde = sys::SCORESDE_SAMPLER_DPMPP_SDE,
        /// Restart sampling: EDM's Heun steps with restarts (1.1).
        Restart = sys::SCORESDE_SAMPLER_RESTART,
    }
}

c_enum! {
    /// The PC sampler's predictor.
    Predictor {
        /// No predictor.
        None = sys::SCORESDE_SAMPLER_PREDICTOR_NONE,
        /// Euler-Maruyama.
        EulerMaruyama = sys::SCORESDE_SAMPLER_PREDICTOR_EULER_MARUYAMA,
        /// Reverse diffusion.
        ReverseDiffusion = sys::SCORESDE_SAMPLER_PREDICTOR_REVERSE_DIFFUSION,
        /// Ancestral sampling.
        Ancestral = sys::SCORESDE_SAMPLER_PREDICTOR_ANCESTRAL,
    }
}

c_enum! {
    /// The PC sampler's corrector.
    Corrector {
        /// No corrector.
        None = sys::SCORESDE_SAMPLER_CORRECTOR_NONE,
        /// Langevin dynamics.
        Langevin = sys::SCORESDE_SAMPLER_CORRECTOR_LANGEVIN,
        /// Annealed Langevin dynamics.
        Annealed = sys::SCORESDE_SAMPLER_CORRECTOR_ANNEALED,
    }
}

c_enum! {
    /// The time grid of a sampler.
    Grid {
        /// Uniform in t.
        UniformT = sys::SCORESDE_SAMPLER_GRID_UNIFORM_T,
        /// Karras et al.'s rho-spaced grid.
        Karras = sys::SCORESDE_SAMPLER_GRID_KARRAS,
        /// Uniform in log-SNR.
        LogSnr = sys::SCORESDE_SAMPLER_GRID_LOGSNR,
        /// The caller's grid ([`crate::Sampler::set_grid`]).
        Array = sys::SCORESDE_SAMPLER_GRID_ARRAY,
        /// t_k = eps + (T - eps)(1 - k/N)^POWER (1.1).
        Power = sys::SCORESDE_SAMPLER_GRID_POWER,
    }
}

c_enum! {
    /// The ODE method's solver.
    Solver {
        /// Euler.
        Euler = sys::SCORESDE_SAMPLER_SOLVER_EULER,
        /// Heun.
        Heun = sys::SCORESDE_SAMPLER_SOLVER_HEUN,
        /// Classical Runge-Kutta.
        Rk4 = sys::SCORESDE_SAMPLER_SOLVER_RK4,
        /// Adaptive Dormand-Prince 5(4).
        Dopri5 = sys::SCORESDE_SAMPLER_SOLVER_DOPRI5,
    }
}

c_enum! {
    /// How a likelihood computes the divergence.
    Divergence {
        /// Exactly.
        Exact = sys::SCORESDE_SAMPLER_DIVERGENCE_EXACT,
        /// Hutchinson's estimator with Rademacher probes.
        Rademacher = sys::SCORESDE_SAMPLER_DIVERGENCE_RADEMACHER,
        /// Hutchinson's estimator with Gaussian probes.
        Gaussian = sys::SCORESDE_SAMPLER_DIVERGENCE_GAUSSIAN,
    }
}

c_enum! {
    /// A sampler setting (scoresde_sampler_setting_t); its type and bounds
    /// come from the library ([`crate::Sampler::bounds`]).
    SamplerSetting {
        /// Number of steps (integer).
        Steps = sys::SCORESDE_SAMPLER_STEPS,
        /// The smallest time (NaN: the library's choice).
        Eps = sys::SCORESDE_SAMPLER_EPS,
        /// The predictor ([`Predictor`]).
        Predictor = sys::SCORESDE_SAMPLER_PREDICTOR,
        /// The corrector ([`Corrector`]).
        Corrector = sys::SCORESDE_SAMPLER_CORRECTOR,
        /// Corrector steps per step (integer).
        CorrectorSteps = sys::SCORESDE_SAMPLER_CORRECTOR_STEPS,
        /// The Langevin corrector's signal-to-noise ratio.
        Snr = sys::SCORESDE_SAMPLER_SNR,
        /// The Langevin step rule (integer: SCORESDE_SAMPLER_NORMS_*; 1.1 default NOISE_LEVEL).
        BatchNorms = sys::SCORESDE_SAMPLER_BATCH_NORMS,
        /// A final denoising step (integer flag).
        Denoise = sys::SCORESDE_SAMPLER_DENOISE,
        /// The reverse SDE's lambda.
        Lam = sys::SCORESDE_SAMPLER_LAM,
        /// The time grid ([`Grid`]).
        Grid = sys::SCORESDE_SAMPLER_GRID,
        /// The Karras grid's rho.
        Rho = sys::SCORESDE_SAMPLER_RHO,
        /// Threads (integer).
        Threads = sys::SCORESDE_SAMPLER_THREADS,
        /// Samples per block (integer).
        Block = sys::SCORESDE_SAMPLER_BLOCK,
        /// Annealed Langevin's step.
        AldStep = sys::SCORESDE_SAMPLER_ALD_STEP,
        /// The ODE solver ([`Solver`]).
        Solver = sys::SCORESDE_SAMPLER_SOLVER,
        /// Relative tolerance of adaptive solvers.
        Rtol = sys::SCORESDE_SAMPLER_RTOL,
        /// Absolute tolerance of adaptive solvers.
        Atol = sys::SCORESDE_SAMPLER_ATOL,
        /// The first step of adaptive solvers (NaN: the library's choice).
        HInit = sys::SCORESDE_SAMPLER_H_INIT,
        /// The smallest step of adaptive solvers (NaN: the library's choice).
        HMin = sys::SCORESDE_SAMPLER_H_MIN,
        /// The most steps of adaptive solvers (integer).
        MaxSteps = sys::SCORESDE_SAMPLER_MAX_STEPS,
        /// The likelihood's divergence ([`Divergence`]).
        Divergence = sys::SCORESDE_SAMPLER_DIVERGENCE,
        /// DPM-Solver++'s order (integer).
        Order = sys::SCORESDE_SAMPLER_ORDER,
        /// EDM's S_churn.
        SChurn = sys::SCORESDE_SAMPLER_S_CHURN,
        /// EDM's S_tmin.
        STmin = sys::SCORESDE_SAMPLER_S_TMIN,
        /// EDM's S_tmax.
        STmax = sys::SCORESDE_SAMPLER_S_TMAX,
        /// EDM's S_noise.
        SNoise = sys::SCORESDE_SAMPLER_S_NOISE,
        /// The Langevin sampler's step.
        LangevinStep = sys::SCORESDE_SAMPLER_LANGEVIN_STEP,
        /// DPM-Solver++ with per-sample adaptive steps (integer flag).
        Adaptive = sys::SCORESDE_SAMPLER_ADAPTIVE,
        /// DPM-Solver++ multistep with the UniC corrector (integer flag).
        Unipc = sys::SCORESDE_SAMPLER_UNIPC,
        /// Time draws per point of the variational bound (integer, 1.1).
        BoundDraws = sys::SCORESDE_SAMPLER_BOUND_DRAWS,
        /// The bound's time distribution (integer: SCORESDE_SAMPLER_BOUND_TIME_*, 1.1).
        BoundTime = sys::SCORESDE_SAMPLER_BOUND_TIME,
        /// Bits of discrete data for dequantisation (integer, 0 = continuous, 1.1).
        DequantBits = sys::SCORESDE_SAMPLER_DEQUANT_BITS,
        /// Dequantisation draws per point (integer, 1.1).
        DequantDraws = sys::SCORESDE_SAMPLER_DEQUANT_DRAWS,
        /// Model input = scale * data + shift: the scale (1.1).
        DataScale = sys::SCORESDE_SAMPLER_DATA_SCALE,
        /// Model input = scale * data + shift: the shift (1.1).
        DataShift = sys::SCORESDE_SAMPLER_DATA_SHIFT,
        /// Classifier-free guidance scale w (0 = off, 1.1).
        GuidanceScale = sys::SCORESDE_SAMPLER_GUIDANCE_SCALE,
        /// Redraws per sample outside the prior's support (integer, 1.1).
        SupportRetries = sys::SCORESDE_SAMPLER_SUPPORT_RETRIES,
        /// Lower orders on the last steps of short multistep runs (integer flag, 1.1).
        LowerOrderFinal = sys::SCORESDE_SAMPLER_LOWER_ORDER_FINAL,
        /// The multistep step-ratio guard (1.1).
        StepRatioMax = sys::SCORESDE_SAMPLER_STEP_RATIO_MAX,
        /// The end at eps ([`FinalStep`], 1.1; DENOISE is its alias).
        FinalStep = sys::SCORESDE_SAMPLER_FINAL_STEP,
        /// The exponent of the power grid (1.1).
        Power = sys::SCORESDE_SAMPLER_POWER,
        /// The noise of DDIM and DPM-Solver++ SDE (1.1).
        Eta = sys::SCORESDE_SAMPLER_ETA,
        /// Dynamic thresholding's quantile (0 = off, 1.1).
        Threshold = sys::SCORESDE_SAMPLER_THRESHOLD,
        /// Dynamic thresholding's data bound (1.1).
        ThresholdBound = sys::SCORESDE_SAMPLER_THRESHOLD_BOUND,
        /// Restart's number of restarts K (1.1).
        RestartK = sys::SCORESDE_SAMPLER_RESTART_K,
        /// Restart's lower noise level, in sigma/alpha (1.1).
        RestartTmin = sys::SCORESDE_SAMPLER_RESTART_TMIN,
        /// Restart's upper noise level, in sigma/alpha (1.1).
        RestartTmax = sys::SCORESDE_SAMPLER_RESTART_TMAX,
        /// Restart's Heun steps per restart (1.1).
        RestartSteps = sys::SCORESDE_SAMPLER_RESTART_STEPS,
    }
}

c_enum! {
    /// What a sampler does at eps (scoresde_sampler_final_t, 1.1).
    FinalStep {
        /// The state at eps.
        Stop = sys::SCORESDE_SAMPLER_FINAL_STOP,
        /// The Tweedie mean at eps.
        Tweedie = sys::SCORESDE_SAMPLER_FINAL_TWEEDIE,
        /// A first-order step to sigma = 0.
        ToZero = sys::SCORESDE_SAMPLER_FINAL_TO_ZERO,
    }
}

c_enum! {
    /// A score-matching loss (scoresde_loss_kind_t).
    LossKind {
        /// Explicit score matching against a reference model.
        Esm = sys::SCORESDE_LOSS_ESM,
        /// Implicit score matching.
        Ism = sys::SCORESDE_LOSS_ISM,
        /// Sliced score matching.
        Ssm = sys::SCORESDE_LOSS_SSM,
        /// Sliced score matching, variance reduced.
        SsmVr = sys::SCORESDE_LOSS_SSM_VR,
        /// Denoising score matching.
        Dsm = sys::SCORESDE_LOSS_DSM,
        /// SMLD's discrete-level denoising loss.
        Smld = sys::SCORESDE_LOSS_SMLD,
        /// DDPM's noise-prediction loss.
        Ddpm = sys::SCORESDE_LOSS_DDPM,
    }
}

c_enum! {
    /// A loss setting (scoresde_loss_setting_t).
    LossSetting {
        /// How times are drawn (integer: SCORESDE_LOSS_TIME_*).
        TimeMode = sys::SCORESDE_LOSS_TIME_MODE,
        /// The weighting lambda(t) (integer: SCORESDE_LOSS_WEIGHT_*).
        Weighting = sys::SCORESDE_LOSS_WEIGHTING,
        /// Mean or half sum over dimensions (integer).
        Reduction = sys::SCORESDE_LOSS_REDUCTION,
        /// The sliced losses' probes (integer).
        Probe = sys::SCORESDE_LOSS_PROBE,
        /// Probes per sample (integer).
        NumProbes = sys::SCORESDE_LOSS_NUM_PROBES,
        /// Noise levels of the discrete losses (integer).
        Levels = sys::SCORESDE_LOSS_LEVELS,
        /// The smallest time.
        Eps = sys::SCORESDE_LOSS_EPS,
        /// The time of the fixed time mode.
        FixedTime = sys::SCORESDE_LOSS_FIXED_TIME,
        /// The log-normal time mode's mean.
        PMean = sys::SCORESDE_LOSS_P_MEAN,
        /// The log-normal time mode's standard deviation.
        PStd = sys::SCORESDE_LOSS_P_STD,
        /// The data's standard deviation (EDM weighting).
        SigmaData = sys::SCORESDE_LOSS_SIGMA_DATA,
    }
}

c_enum! {
    /// A trainer setting (scoresde_train_setting_t).
    TrainerSetting {
        /// Learning rate.
        Lr = sys::SCORESDE_TRAIN_LR,
        /// Adam's beta1.
        Beta1 = sys::SCORESDE_TRAIN_BETA1,
        /// Adam's beta2.
        Beta2 = sys::SCORESDE_TRAIN_BETA2,
        /// Adam's epsilon.
        Eps = sys::SCORESDE_TRAIN_EPS,
        /// Decoupled weight decay.
        WeightDecay = sys::SCORESDE_TRAIN_WEIGHT_DECAY,
        /// Gradient-norm clipping.
        Clip = sys::SCORESDE_TRAIN_CLIP,
        /// The EMA's rate.
        EmaRate = sys::SCORESDE_TRAIN_EMA_RATE,
        /// Warm-up steps (integer).
        Warmup = sys::SCORESDE_TRAIN_WARMUP,
        /// Minibatch size (integer).
        Batch = sys::SCORESDE_TRAIN_BATCH,
        /// The seed of minibatches and the loss (integer).
        Seed = sys::SCORESDE_TRAIN_SEED,
        /// Probability of replacing a sample's condition by the null one (1.1).
        CondDropout = sys::SCORESDE_TRAIN_COND_DROPOUT,
    }
}

c_enum! {
    /// Which parameters [`crate::Trainer::export`] carries.
    Export {
        /// The exponential moving average.
        Ema = sys::SCORESDE_TRAIN_EXPORT_EMA,
        /// The current parameters.
        Raw = sys::SCORESDE_TRAIN_EXPORT_RAW,
    }
}

c_enum! {
    /// The MLP's activation function.
    Activation {
        /// SiLU (x sigmoid(x)).
        Silu = sys::SCORESDE_MLP_SILU,
        /// ReLU.
        Relu = sys::SCORESDE_MLP_RELU,
        /// tanh.
        Tanh = sys::SCORESDE_MLP_TANH,
        /// softplus.
        Softplus = sys::SCORESDE_MLP_SOFTPLUS,
        /// GELU, tanh form (1.1).
        GeluTanh = sys::SCORESDE_MLP_GELU_TANH,
        /// GELU, exact (erf) form (1.1).
        Gelu = sys::SCORESDE_MLP_GELU,
    }
}

c_enum! {
    /// What the MLP's output parameterises.
    MlpOutput {
        /// The score itself.
        Score = sys::SCORESDE_MLP_OUTPUT_SCORE,
        /// The noise (epsilon prediction).
        Noise = sys::SCORESDE_MLP_OUTPUT_NOISE,
        /// The data (x0 prediction).
        Data = sys::SCORESDE_MLP_OUTPUT_DATA,
        /// EDM's preconditioned denoiser.
        Edm = sys::SCORESDE_MLP_OUTPUT_EDM,
    }
}

c_enum! {
    /// The MLP's time embedding.
    Embedding {
        /// The library's choice.
        Auto = sys::SCORESDE_MLP_EMBED_AUTO,
        /// Random Fourier features.
        Fourier = sys::SCORESDE_MLP_EMBED_FOURIER,
        /// Sinusoidal features.
        Sinusoidal = sys::SCORESDE_MLP_EMBED_SINUSOIDAL,
    }
}

c_enum! {
    /// The MLP's arithmetic precision.
    Precision {
        /// float64 throughout.
        Float64 = sys::SCORESDE_MLP_FLOAT64,
        /// float32 computation.
        Float32 = sys::SCORESDE_MLP_FLOAT32,
    }
}
