//! Samplers, probability-flow ODE solvers and likelihoods (sampler.h).
use core::ffi::c_void;
use std::ptr::{self, NonNull};
use std::sync::Arc;

use scoresde_sys as sys;

use crate::error::{want_len, Error, Result};
use crate::hooks::{self, guard, slice, slice_mut, user_ptr, HookResult};
use crate::model::{BatchFn, Cond, Model};
use crate::sde::SdeRef;

/// Setting names and their SCORESDE_SAMPLER_* ids (the type and bounds come
/// from the library, see [`Sampler::bounds`]). "eps", "h_init" and "h_min"
/// also take f64::NAN, the library's choice (and their default).
pub const SETTINGS: [(&str, u32); 36] = [
    ("steps", sys::SCORESDE_SAMPLER_STEPS), ("eps", sys::SCORESDE_SAMPLER_EPS),
    ("predictor", sys::SCORESDE_SAMPLER_PREDICTOR), ("corrector", sys::SCORESDE_SAMPLER_CORRECTOR),
    ("corrector_steps", sys::SCORESDE_SAMPLER_CORRECTOR_STEPS), ("snr", sys::SCORESDE_SAMPLER_SNR),
    ("batch_norms", sys::SCORESDE_SAMPLER_BATCH_NORMS), ("denoise", sys::SCORESDE_SAMPLER_DENOISE),
    ("lam", sys::SCORESDE_SAMPLER_LAM), ("grid", sys::SCORESDE_SAMPLER_GRID),
    ("rho", sys::SCORESDE_SAMPLER_RHO), ("threads", sys::SCORESDE_SAMPLER_THREADS),
    ("block", sys::SCORESDE_SAMPLER_BLOCK), ("ald_step", sys::SCORESDE_SAMPLER_ALD_STEP),
    ("solver", sys::SCORESDE_SAMPLER_SOLVER), ("rtol", sys::SCORESDE_SAMPLER_RTOL),
    ("atol", sys::SCORESDE_SAMPLER_ATOL), ("h_init", sys::SCORESDE_SAMPLER_H_INIT),
    ("h_min", sys::SCORESDE_SAMPLER_H_MIN), ("max_steps", sys::SCORESDE_SAMPLER_MAX_STEPS),
    ("divergence", sys::SCORESDE_SAMPLER_DIVERGENCE), ("order", sys::SCORESDE_SAMPLER_ORDER),
    ("s_churn", sys::SCORESDE_SAMPLER_S_CHURN), ("s_tmin", sys::SCORESDE_SAMPLER_S_TMIN),
    ("s_tmax", sys::SCORESDE_SAMPLER_S_TMAX), ("s_noise", sys::SCORESDE_SAMPLER_S_NOISE),
    ("langevin_step", sys::SCORESDE_SAMPLER_LANGEVIN_STEP),
    ("adaptive", sys::SCORESDE_SAMPLER_ADAPTIVE), ("unipc", sys::SCORESDE_SAMPLER_UNIPC),
    ("bound_draws", sys::SCORESDE_SAMPLER_BOUND_DRAWS),
    ("bound_time", sys::SCORESDE_SAMPLER_BOUND_TIME),
    ("dequant_bits", sys::SCORESDE_SAMPLER_DEQUANT_BITS),
    ("dequant_draws", sys::SCORESDE_SAMPLER_DEQUANT_DRAWS),
    ("data_scale", sys::SCORESDE_SAMPLER_DATA_SCALE),
    ("data_shift", sys::SCORESDE_SAMPLER_DATA_SHIFT),
    ("guidance_scale", sys::SCORESDE_SAMPLER_GUIDANCE_SCALE),
];

/// Kinds of a likelihood report (bound.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportKind {
    /// The probability-flow likelihood (ODE method).
    Ode,
    /// The variational bound (any method).
    Bound,
}

/// The columns of a report row, in the library's order (bound.h).
pub const REPORT_COLUMNS: [&str; 7] =
    ["prior", "flow", "boundary", "dequant", "total", "bpd", "stderr"];

/// The variational bound of each point (bound.h): nats, Monte-Carlo standard
/// errors and the terms (prior, score, boundary), nll = (prior + score) + boundary.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bound {
    pub nll: Vec<f64>,
    pub stderr: Vec<f64>,
    pub prior: Vec<f64>,
    pub score: Vec<f64>,
    pub boundary: Vec<f64>,
}

fn setting_id(name: &str) -> Result<i32> {
    SETTINGS.iter().find(|(n, _)| *n == name).map(|(_, id)| *id as i32).ok_or_else(|| {
        Error::new(sys::SCORESDE_EINVAL, format!("unknown sampler setting {name:?}"))
    })
}

/// Run statistics of one call (scoresde_sampler_stats).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    pub nfe: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub t_final: f64,
}

fn new_stats() -> sys::scoresde_sampler_stats {
    sys::scoresde_sampler_stats {
        struct_size: std::mem::size_of::<sys::scoresde_sampler_stats>(),
        nfe: 0, accepted: 0, rejected: 0, t_final: 0.0,
    }
}

fn stats(s: &sys::scoresde_sampler_stats) -> Stats {
    Stats { nfe: s.nfe, accepted: s.accepted, rejected: s.rejected, t_final: s.t_final }
}

/// A progress hook (step, t, nfe) -> true to stop the run (SCORESDE_ECALLBACK).
pub type ProgressFn = dyn Fn(u64, f64, u64) -> bool + Send + Sync;

unsafe extern "C" fn progress_tramp(step: u64, t: f64, nfe: u64, user: *mut c_void) -> i32 {
    // SAFETY: user is the Box<ProgressFn> the sampler keeps in an Arc.
    let f = &*(user as *const Box<ProgressFn>);
    guard(|| if f(step, t, nfe) { Err("stopped by the progress hook".into()) } else { Ok(()) })
}

unsafe extern "C" fn batch_tramp(
    x: *const f64, t: *const f64, n: usize, d: usize, out: *mut f64, user: *mut c_void,
) -> i32 {
    // SAFETY: user is a Box<BatchFn> kept alive (sampler or call frame).
    let f = &*(user as *const Box<BatchFn>);
    guard(|| f(slice(x, n * d), slice(t, n), d, slice_mut(out, n * d)))
}

/// A sampling method and its settings (scoresde_sampler). Sampling is
/// read-only and thread-safe (sampler.h): Send and Sync; setters take &mut.
/// Hooks run on the calling thread, except the guidance hook with
/// THREADS > 1 (then a panic in it is reported as ECALLBACK, not resumed).
pub struct Sampler {
    ptr: NonNull<sys::scoresde_sampler>,
    guidance: Option<Arc<Box<BatchFn>>>,
    progress: Option<Arc<Box<ProgressFn>>>,
}

// SAFETY: see the type's documentation; the closures are Send + Sync.
unsafe impl Send for Sampler {}
unsafe impl Sync for Sampler {}

impl Drop for Sampler {
    fn drop(&mut self) {
        unsafe { sys::scoresde_sampler_free(self.ptr.as_ptr()) }
    }
}

impl Sampler {
    /// A sampler for sys::SCORESDE_SAMPLER_PC, ODE, EDM or DPMPP with the defaults.
    pub fn new(method: u32) -> Result<Sampler> {
        let mut out = ptr::null_mut();
        hooks::call(|| unsafe { sys::scoresde_sampler_create(&mut out, method as i32) })?;
        let ptr = NonNull::new(out).ok_or_else(|| Error::new(sys::SCORESDE_ENOMEM, "NULL sampler"))?;
        Ok(Sampler { ptr, guidance: None, progress: None })
    }

    /// An independent copy (settings, grid and hooks, whose closures it shares).
    pub fn try_clone(&self) -> Result<Sampler> {
        let mut out = ptr::null_mut();
        hooks::call(|| unsafe { sys::scoresde_sampler_clone(&mut out, self.raw()) })?;
        let ptr = NonNull::new(out).ok_or_else(|| Error::new(sys::SCORESDE_ENOMEM, "NULL sampler"))?;
        Ok(Sampler { ptr, guidance: self.guidance.clone(), progress: self.progress.clone() })
    }

    fn raw(&self) -> *const sys::scoresde_sampler {
        self.ptr.as_ptr()
    }

    pub fn method(&self) -> i32 {
        unsafe { sys::scoresde_sampler_method(self.raw()) }
    }

    /// (lower, upper, is_int) of a setting, by name.
    pub fn bounds(name: &str) -> Result<(f64, f64, bool)> {
        let id = setting_id(name)?;
        let (mut lo, mut hi, mut is_int) = (0.0, 0.0, 0);
        hooks::call(|| unsafe { sys::scoresde_sampler_bounds(id, &mut lo, &mut hi, &mut is_int) })?;
        Ok((lo, hi, is_int != 0))
    }

    /// The value a new sampler of `method` starts with for a setting, by name
    /// (NaN where the library chooses).
    pub fn default_value(method: u32, name: &str) -> Result<f64> {
        let id = setting_id(name)?;
        let mut v = 0.0;
        hooks::call(|| unsafe { sys::scoresde_sampler_default(method as i32, id, &mut v) })?;
        Ok(v)
    }

    /// Set a setting by name: integer settings need an integral value (enum
    /// settings take the sys::SCORESDE_SAMPLER_PREDICTOR_* etc. values as f64).
    pub fn set(&mut self, name: &str, value: f64) -> Result<&mut Self> {
        let id = setting_id(name)?;
        let p = self.ptr.as_ptr();
        if Self::bounds(name)?.2 {
            if value.fract() != 0.0 || !value.is_finite() {
                return Err(Error::new(sys::SCORESDE_EINVAL,
                                      format!("setting {name} takes an integer, not {value}")));
            }
            hooks::call(|| unsafe { sys::scoresde_sampler_set_int(p, id, value as i64) })?;
        } else {
            hooks::call(|| unsafe { sys::scoresde_sampler_set_double(p, id, value) })?;
        }
        Ok(self)
    }

    /// Read a setting by name (integer settings converted to f64).
    pub fn get(&self, name: &str) -> Result<f64> {
        let id = setting_id(name)?;
        if Self::bounds(name)?.2 {
            let mut v = 0i64;
            hooks::call(|| unsafe { sys::scoresde_sampler_get_int(self.raw(), id, &mut v) })?;
            Ok(v as f64)
        } else {
            let mut v = 0.0;
            hooks::call(|| unsafe { sys::scoresde_sampler_get_double(self.raw(), id, &mut v) })?;
            Ok(v)
        }
    }

    /// The caller's decreasing time grid (STEPS becomes t.len() - 1).
    pub fn set_grid(&mut self, t: &[f64]) -> Result<()> {
        hooks::call(|| unsafe { sys::scoresde_sampler_set_grid(self.ptr.as_ptr(), t.as_ptr(), t.len()) })
    }

    /// The grid for `sde` into t (STEPS + 1 times).
    pub fn times(&self, sde: &SdeRef<'_>, t: &mut [f64]) -> Result<()> {
        hooks::call(|| unsafe { sys::scoresde_sampler_times(self.raw(), sde.raw(), t.as_mut_ptr(), t.len()) })
    }

    /// The guidance closure (x, t, dim, grad_out) with its scale; None removes it.
    pub fn set_guidance(&mut self, f: Option<Box<BatchFn>>, scale: f64) -> Result<()> {
        let h = f.map(Arc::new);
        let (cb, user) = match &h {
            Some(a) => (Some(batch_tramp as unsafe extern "C" fn(_, _, _, _, _, _) -> _), user_ptr(a)),
            None => (None, ptr::null_mut()),
        };
        hooks::call(|| unsafe { sys::scoresde_sampler_set_guidance(self.ptr.as_ptr(), cb, user, scale) })?;
        self.guidance = h;
        Ok(())
    }

    /// The progress closure (step, t, nfe) -> stop?; None removes it.
    pub fn set_progress(&mut self, f: Option<Box<ProgressFn>>) -> Result<()> {
        let h = f.map(Arc::new);
        let (cb, user) = match &h {
            Some(a) => (Some(progress_tramp as unsafe extern "C" fn(_, _, _, _) -> _), user_ptr(a)),
            None => (None, ptr::null_mut()),
        };
        hooks::call(|| unsafe { sys::scoresde_sampler_set_progress(self.ptr.as_ptr(), cb, user) })?;
        self.progress = h;
        Ok(())
    }

    /// n = out.len() / dim samples (sample i of the call is sample
    /// first_sample + i of the run), from the prior or from x_t (same length
    /// as out).
    pub fn sample(&self, model: &Model, x_t: Option<&[f64]>, seed: u64, first_sample: u64,
                  out: &mut [f64]) -> Result<Stats> {
        self.sample_cond(model, x_t, None, seed, first_sample, out)
    }

    /// PC imputation: mask (dim flags, true = known) and y (n x dim).
    pub fn inpaint(&self, model: &Model, y: &[f64], mask: &[bool], seed: u64, first_sample: u64,
                   out: &mut [f64]) -> Result<Stats> {
        self.inpaint_cond(model, y, mask, None, seed, first_sample, out)
    }

    /// Latents of data x0 through the probability-flow ODE (ODE method).
    pub fn encode(&self, model: &Model, x0: &[f64], out: &mut [f64]) -> Result<Stats> {
        self.encode_cond(model, x0, None, out)
    }

    /// ln p_eps(x_i) into logp (ODE method); the latents too if asked.
    pub fn likelihood(&self, model: &Model, x: &[f64], seed: u64, first_sample: u64,
                      logp: &mut [f64], latent: Option<&mut [f64]>) -> Result<Stats> {
        self.likelihood_cond(model, x, None, seed, first_sample, logp, latent)
    }

    /// [`Sampler::sample`] with conditions (None: the 1.0 call); the
    /// guidance_scale setting applies.
    pub fn sample_cond(&self, model: &Model, x_t: Option<&[f64]>, cond: Option<&Cond>, seed: u64,
                       first_sample: u64, out: &mut [f64]) -> Result<Stats> {
        let d = model.dim();
        let n = rows(out.len(), d, "out")?;
        let xp = match x_t {
            Some(x) => {
                want_len("x_t", x.len(), out.len())?;
                x.as_ptr()
            }
            None => ptr::null(),
        };
        let c = Cond::raw(cond, n)?;
        let mut st = new_stats();
        hooks::call(|| unsafe {
            sys::scoresde_sampler_sample_cond(self.raw(), model.raw(), xp, n, d, Cond::ptr(&c),
                                              seed, first_sample, out.as_mut_ptr(), &mut st)
        })?;
        Ok(stats(&st))
    }

    /// [`Sampler::inpaint`] with conditions.
    pub fn inpaint_cond(&self, model: &Model, y: &[f64], mask: &[bool], cond: Option<&Cond>,
                        seed: u64, first_sample: u64, out: &mut [f64]) -> Result<Stats> {
        let d = model.dim();
        let n = rows(out.len(), d, "out")?;
        want_len("y", y.len(), out.len())?;
        // the C call reads dim flags: a shorter mask must not reach it
        if mask.len() != d {
            return Err(Error::new(sys::SCORESDE_EDIM,
                                  format!("the mask has {} entries; the model's dimension is {d}",
                                          mask.len())));
        }
        let m: Vec<u8> = mask.iter().map(|&b| b as u8).collect();
        let c = Cond::raw(cond, n)?;
        let mut st = new_stats();
        hooks::call(|| unsafe {
            sys::scoresde_sampler_inpaint_cond(self.raw(), model.raw(), y.as_ptr(), m.as_ptr(), n,
                                               d, Cond::ptr(&c), seed, first_sample,
                                               out.as_mut_ptr(), &mut st)
        })?;
        Ok(stats(&st))
    }

    /// [`Sampler::encode`] with conditions.
    pub fn encode_cond(&self, model: &Model, x0: &[f64], cond: Option<&Cond>, out: &mut [f64])
        -> Result<Stats> {
        let d = model.dim();
        let n = rows(x0.len(), d, "x0")?;
        want_len("out", out.len(), x0.len())?;
        let c = Cond::raw(cond, n)?;
        let mut st = new_stats();
        hooks::call(|| unsafe {
            sys::scoresde_sampler_encode_cond(self.raw(), model.raw(), x0.as_ptr(), n, d,
                                              Cond::ptr(&c), out.as_mut_ptr(), &mut st)
        })?;
        Ok(stats(&st))
    }

    /// ln p_eps(x_i | c_i) into logp (ODE method); the latents too if asked.
    pub fn likelihood_cond(&self, model: &Model, x: &[f64], cond: Option<&Cond>, seed: u64,
                           first_sample: u64, logp: &mut [f64], latent: Option<&mut [f64]>)
        -> Result<Stats> {
        let d = model.dim();
        let n = rows(x.len(), d, "x")?;
        want_len("logp", logp.len(), n)?;
        let lp = match latent {
            Some(l) => {
                want_len("latent", l.len(), x.len())?;
                l.as_mut_ptr()
            }
            None => ptr::null_mut(),
        };
        let c = Cond::raw(cond, n)?;
        let mut st = new_stats();
        hooks::call(|| unsafe {
            sys::scoresde_sampler_likelihood_cond(self.raw(), model.raw(), x.as_ptr(), n, d,
                                                  Cond::ptr(&c), seed, first_sample,
                                                  logp.as_mut_ptr(), lp, &mut st)
        })?;
        Ok(stats(&st))
    }

    /// The variational bound on -ln p(x_i) of the model's reverse SDE (bound.h).
    pub fn bound(&self, model: &Model, x: &[f64], seed: u64, first_sample: u64)
                 -> Result<Bound> {
        let d = model.dim();
        let n = rows(x.len(), d, "x")?;
        let (mut nll, mut se, mut terms) = (vec![0.0; n], vec![0.0; n], vec![0.0; 3 * n]);
        hooks::call(|| unsafe {
            sys::scoresde_sampler_bound(self.raw(), model.raw(), x.as_ptr(), n, d, seed,
                                        first_sample, nll.as_mut_ptr(), se.as_mut_ptr(),
                                        terms.as_mut_ptr())
        })?;
        let col = |j: usize| terms.iter().skip(j).step_by(3).copied().collect();
        Ok(Bound { nll, stderr: se, prior: col(0), score: col(1), boundary: col(2) })
    }

    /// A likelihood report (bound.h): n rows of the 7 REPORT_COLUMNS into `rows`
    /// (n x 7, row-major).
    pub fn report(&self, model: &Model, kind: ReportKind, x: &[f64], seed: u64,
                  first_sample: u64, rows_out: &mut [f64]) -> Result<Stats> {
        let d = model.dim();
        let n = rows(x.len(), d, "x")?;
        let c = REPORT_COLUMNS.len();
        want_len("rows", rows_out.len(), n * c)?;
        let k = match kind {
            ReportKind::Ode => sys::SCORESDE_REPORT_ODE,
            ReportKind::Bound => sys::SCORESDE_REPORT_BOUND,
        } as i32;
        let mut st = new_stats();
        hooks::call(|| unsafe {
            sys::scoresde_sampler_report(self.raw(), model.raw(), k, x.as_ptr(), n, d, seed,
                                         first_sample, rows_out.as_mut_ptr(), c, &mut st)
        })?;
        Ok(stats(&st))
    }

    /// Langevin dynamics for a time-free score closure (x, dim, out) from x0.
    pub fn langevin<F>(&self, score: F, x0: &[f64], dim: usize, seed: u64, first_sample: u64,
                       out: &mut [f64]) -> Result<Stats>
    where
        F: Fn(&[f64], usize, &mut [f64]) -> HookResult + Send + Sync + 'static,
    {
        let n = rows(x0.len(), dim, "x0")?;
        want_len("out", out.len(), x0.len())?;
        let f: Box<BatchFn> = Box::new(move |x, _t, d, o| score(x, d, o));
        let mut st = new_stats();
        hooks::call(|| unsafe {
            sys::scoresde_sampler_langevin(self.raw(), Some(batch_tramp),
                                           &f as *const Box<BatchFn> as *mut c_void,
                                           x0.as_ptr(), n, dim, seed, first_sample,
                                           out.as_mut_ptr(), &mut st)
        })?;
        Ok(stats(&st))
    }
}

fn rows(len: usize, d: usize, name: &str) -> Result<usize> {
    if len.checked_rem(d) != Some(0) {
        return Err(Error::new(sys::SCORESDE_EDIM,
                              format!("{name} has {len} values, not a multiple of dimension {d}")));
    }
    Ok(len / d)
}

/// Bits per dimension of `bits`-bit data fed to the model as scale u + shift.
pub fn bits_per_dim(logp: &[f64], dim: usize, bits: u32, scale: f64, bpd: &mut [f64]) -> Result<()> {
    want_len("bpd", bpd.len(), logp.len())?;
    hooks::call(|| unsafe {
        sys::scoresde_bits_per_dim(logp.as_ptr(), logp.len(), dim, bits, scale, bpd.as_mut_ptr())
    })
}

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sampler(method {})", self.method())
    }
}
