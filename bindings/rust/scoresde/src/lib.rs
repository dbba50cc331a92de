#![deny(missing_docs)]
//! A safe Rust API over libscoresde (score-based generative modelling through
//! SDEs). Owned handles free themselves on Drop; every fallible call returns
//! `Result<_, Error>` with the C status and the library's message; batches are
//! slices of f64 (n x D row-major, one time per sample); hooks are closures,
//! whose panics are caught at the C boundary and resumed in the caller.
//!
//! ```
//! use scoresde::{Model, Sde};
//! # fn main() -> scoresde::Result<()> {
//! scoresde::check_version()?;
//! let sde = Sde::vp(0.1, 20.0)?;                                   // score_sde's VP SDE
//! let gmm = Model::gmm(&sde, 1, &[0.5, 0.5], &[-2.0, 2.0], &[0.1, 0.1])?;
//! let mut x = [0.0; 4];
//! gmm.sample(&[0.5; 4], 1, 0, &mut x)?;                          // exact samples of p_t
//! let mut s = [0.0; 4];
//! gmm.score(&x, &[0.5; 4], &mut s)?;                             // grad log p_t
//! let mine = Model::from_score(&sde, 1, |x, _t, _d, out| { out.iter_mut().zip(x).for_each(|(o, v)| *o = -v); Ok(()) }, None)?;
//! let back = Model::from_bytes(&gmm.to_bytes()?)?;               // a model file in memory
//! # let _ = (mine, back); Ok(()) }
//! ```
//!
//! Binding a new C function: it appears in `scoresde-sys` by regenerating
//! (`scoresde-sys/generate.sh`); add one method calling it through
//! `hooks::call` with the slice lengths checked by `want_len`.

mod cond;
mod enums;
mod error;
mod hooks;
mod model;
mod names;
mod sampler;
mod sde;
mod train;

pub use cond::CondBatchFn;
pub use enums::{Activation, Corrector, Divergence, Embedding, Export, FinalStep, Grid, IidMethod,
                LossKind, LossSetting, Method, MlpOutput, ModelKind, Precision, Predictor,
                SamplerSetting, SdeKind, Solver, TrainerSetting};
pub use error::{Error, ErrorKind, Result};
pub use hooks::HookResult;
pub use model::{BatchFn, Cond, MlpOptions, Model, ResMlpOptions};
pub use sampler::{bits_per_dim, Bound, ProgressFn, ReportKind, Sampler, Stats, SupportFn,
                  REPORT_COLUMNS};
pub use train::{FitSummary, Loss, Trainer, WeightFn};
pub use sde::{DiffusionFn, DriftFn, ScheduleFn, Sde, SdeRef};
pub use scoresde_sys as sys;

use error::{check, cstr};

/// The oldest library this crate declares (MAJOR * 10000 + MINOR * 100 + PATCH).
pub const MIN_VERSION: u32 = 10000;

/// The loaded library's version, "MAJOR.MINOR.PATCH".
pub fn version() -> String {
    cstr(unsafe { sys::scoresde_version_string() })
}

/// The loaded library's version number.
pub fn version_number() -> u32 {
    unsafe { sys::scoresde_version_number() }
}

/// Ok if the loaded library is one this crate can use (same major version,
/// not older than MIN_VERSION), else an EVERSION error saying why.
pub fn check_version() -> Result<()> {
    let have = version_number();
    if have / 10000 != MIN_VERSION / 10000 || have < MIN_VERSION {
        return Err(Error::new(sys::SCORESDE_EVERSION, format!(
            "libscoresde {} is loaded; this crate needs {}.{}.{} or a later {}.x",
            version(), MIN_VERSION / 10000, MIN_VERSION / 100 % 100, MIN_VERSION % 100,
            MIN_VERSION / 10000)));
    }
    Ok(())
}

/// The static English text of a status code.
pub fn strerror(status: i32) -> String {
    cstr(unsafe { sys::scoresde_strerror(status) })
}

/// Blocks the library has allocated and not freed (leak checks).
pub fn live_allocations() -> usize {
    unsafe { sys::scoresde_live_allocations() }
}

/// SCORESDE_RNG_OFFSET(purpose, k).
pub const fn rng_offset(purpose: u32, k: u64) -> u64 {
    sys::scoresde_rng_offset(purpose, k)
}

/// Uniforms in (0, 1): elements offset .. offset + out.len() of a Philox stream.
pub fn rng_uniform(seed: u64, stream: u64, offset: u64, out: &mut [f64]) -> Result<()> {
    check(unsafe { sys::scoresde_rng_uniform(seed, stream, offset, out.len(), out.as_mut_ptr()) })
}

/// Standard normals: elements offset .. offset + out.len() of a Philox stream.
pub fn rng_normal(seed: u64, stream: u64, offset: u64, out: &mut [f64]) -> Result<()> {
    check(unsafe { sys::scoresde_rng_normal(seed, stream, offset, out.len(), out.as_mut_ptr()) })
}

/// The raw Philox4x32-10 block.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut out = [0u32; 4];
    unsafe { sys::scoresde_philox4x32_10(counter.as_ptr(), key.as_ptr(), out.as_mut_ptr()) };
    out
}
