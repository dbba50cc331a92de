//! Samplers, probability-flow ODE solvers and likelihoods (sampler.h).
use core::ffi::c_void;
use std::ptr::{self, NonNull};
use std::sync::Arc;

use scoresde_sys as sys;

use crate::enums::{Corrector, Divergence, Grid, Method, Predictor, SamplerSetting, Solver};
use crate::error::{want_len, Error, Result};
use crate::hooks::{self, guard, slice, slice_mut, user_ptr, HookResult};
use crate::model::{BatchFn, Cond, Model};
use crate::sde::SdeRef;

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
    /// The bound on -ln p(x) per point (nats).
    pub nll: Vec<f64>,
    /// Its Monte-Carlo standard error per point.
    pub stderr: Vec<f64>,
    /// The prior term per point.
    pub prior: Vec<f64>,
    /// The score (diffusion) term per point.
    pub score: Vec<f64>,
    /// The boundary term per point.
    pub boundary: Vec<f64>,
}

/// Run statistics of one call (scoresde_sampler_stats).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    /// Score evaluations per sample.
    pub nfe: u64,
    /// Accepted steps (adaptive solvers).
    pub accepted: u64,
    /// Rejected steps (adaptive solvers).
    pub rejected: u64,
    /// The time the run ended at.
    pub t_final: f64,
    /// Redraws of samples outside the prior's support (1.1).
    pub redrawn: u64,
    /// Samples still outside it after SupportRetries redraws (1.1).
    pub outside: u64,
}

fn new_stats() -> sys::scoresde_sampler_stats {
    sys::scoresde_sampler_stats {
        struct_size: std::mem::size_of::<sys::scoresde_sampler_stats>(),
        nfe: 0, accepted: 0, rejected: 0, t_final: 0.0, redrawn: 0, outside: 0,
    }
}

fn stats(s: &sys::scoresde_sampler_stats) -> Stats {
    Stats { nfe: s.nfe, accepted: s.accepted, rejected: s.rejected, t_final: s.t_final,
            redrawn: s.redrawn, outside: s.outside }
}

/// A prior-support hook (x, dim, outside): set outside[i] for each sample
/// (row i of x) outside the prior's support (sampler.h,
/// scoresde_sampler_set_support).
pub type SupportFn = dyn Fn(&[f64], usize, &mut [bool]) -> HookResult + Send + Sync;

unsafe extern "C" fn support_tramp(x: *const f64, n: usize, d: usize, outside: *mut u8,
                                   user: *mut c_void) -> i32 {
    // SAFETY: user is the Box<SupportFn> the sampler keeps in an Arc.
    let f = &*(user as *const Box<SupportFn>);
    guard(|| {
        let mut flags = vec![false; n];
        f(slice(x, n * d), d, &mut flags)?;
        for (i, &b) in flags.iter().enumerate() {
            *outside.add(i) = b as u8;
        }
        Ok(())
    })
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
    support: Option<Arc<Box<SupportFn>>>,
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
    /// A sampler of `method` with the defaults.
    pub fn new(method: Method) -> Result<Sampler> {
        let mut out = ptr::null_mut();
        hooks::call(|| unsafe { sys::scoresde_sampler_create(&mut out, method.raw()) })?;
        let ptr = NonNull::new(out).ok_or_else(|| Error::new(sys::SCORESDE_ENOMEM, "NULL sampler"))?;
        Ok(Sampler { ptr, guidance: None, progress: None, support: None })
    }

    /// An independent copy (settings, grid and hooks, whose closures it shares).
    pub fn try_clone(&self) -> Result<Sampler> {
        let mut out = ptr::null_mut();
        hooks::call(|| unsafe { sys::scoresde_sampler_clone(&mut out, self.raw()) })?;
        let ptr = NonNull::new(out).ok_or_else(|| Error::new(sys::SCORESDE_ENOMEM, "NULL sampler"))?;
        Ok(Sampler { ptr, guidance: self.guidance.clone(), progress: self.progress.clone(),
                     support: self.support.clone() })
    }

    fn raw(&self) -> *const sys::scoresde_sampler {
        self.ptr.as_ptr()
    }

    /// The method (`Method::Other` for one newer than this crate).
    pub fn method(&self) -> Method {
        Method::from_raw(unsafe { sys::scoresde_sampler_method(self.raw()) })
    }

    /// (lower, upper, is_int) of a setting.
    pub fn bounds(setting: SamplerSetting) -> Result<(f64, f64, bool)> {
        let (mut lo, mut hi, mut is_int) = (0.0, 0.0, 0);
        hooks::call(|| unsafe {
            sys::scoresde_sampler_bounds(setting.raw(), &mut lo, &mut hi, &mut is_int)
        })?;
        Ok((lo, hi, is_int != 0))
    }

    /// The value a new sampler of `method` starts with for a setting (NaN
    /// where the library chooses).
    pub fn default_value(method: Method, setting: SamplerSetting) -> Result<f64> {
        let mut v = 0.0;
        hooks::call(|| unsafe { sys::scoresde_sampler_default(method.raw(), setting.raw(), &mut v) })?;
        Ok(v)
    }

    /// Set an integer setting (Steps, Block, ...; the library refuses a
    /// double setting with EINVAL). The enum-valued settings have their own
    /// setters ([`Sampler::set_predictor`], ...).
    pub fn set_int(&mut self, setting: SamplerSetting, value: i64) -> Result<&mut Self> {
        let p = self.ptr.as_ptr();
        hooks::call(|| unsafe { sys::scoresde_sampler_set_int(p, setting.raw(), value) })?;
        Ok(self)
    }

    /// Set a double setting (Eps, Snr, Rtol, ...; EINVAL for an integer one).
    pub fn set_f64(&mut self, setting: SamplerSetting, value: f64) -> Result<&mut Self> {
        let p = self.ptr.as_ptr();
        hooks::call(|| unsafe { sys::scoresde_sampler_set_double(p, setting.raw(), value) })?;
        Ok(self)
    }

    /// The value of an integer setting.
    pub fn get_int(&self, setting: SamplerSetting) -> Result<i64> {
        let mut v = 0i64;
        hooks::call(|| unsafe { sys::scoresde_sampler_get_int(self.raw(), setting.raw(), &mut v) })?;
        Ok(v)
    }

    /// The value of a double setting.
    pub fn get_f64(&self, setting: SamplerSetting) -> Result<f64> {
        let mut v = 0.0;
        hooks::call(|| unsafe { sys::scoresde_sampler_get_double(self.raw(), setting.raw(), &mut v) })?;
        Ok(v)
    }

    /// The number of steps (STEPS).
    pub fn set_steps(&mut self, steps: u64) -> Result<&mut Self> {
        let v = i64::try_from(steps).map_err(|_| {
            Error::new(sys::SCORESDE_EINVAL, format!("steps ({steps}) does not fit an int64"))
        })?;
        self.set_int(SamplerSetting::Steps, v)
    }

    /// The PC sampler's predictor.
    pub fn set_predictor(&mut self, p: Predictor) -> Result<&mut Self> {
        self.set_int(SamplerSetting::Predictor, p.raw().into())
    }

    /// The PC sampler's corrector.
    pub fn set_corrector(&mut self, c: Corrector) -> Result<&mut Self> {
        self.set_int(SamplerSetting::Corrector, c.raw().into())
    }

    /// The kind of time grid (`Grid::Array` is set by [`Sampler::set_grid`]).
    pub fn set_grid_kind(&mut self, g: Grid) -> Result<&mut Self> {
        self.set_int(SamplerSetting::Grid, g.raw().into())
    }

    /// The ODE method's solver.
    pub fn set_solver(&mut self, s: Solver) -> Result<&mut Self> {
        self.set_int(SamplerSetting::Solver, s.raw().into())
    }

    /// How the likelihood computes the divergence.
    pub fn set_divergence(&mut self, d: Divergence) -> Result<&mut Self> {
        self.set_int(SamplerSetting::Divergence, d.raw().into())
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

    /// The prior-support closure (x, dim, outside); None removes it. Flagged
    /// samples are redrawn (at most SupportRetries times each); Stats
    /// reports redrawn and outside.
    pub fn set_support(&mut self, f: Option<Box<SupportFn>>) -> Result<()> {
        let h = f.map(Arc::new);
        let (cb, user) = match &h {
            Some(a) => (Some(support_tramp as unsafe extern "C" fn(_, _, _, _, _) -> _), user_ptr(a)),
            None => (None, ptr::null_mut()),
        };
        hooks::call(|| unsafe { sys::scoresde_sampler_set_support(self.ptr.as_ptr(), cb, user) })?;
        self.support = h;
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
    #[allow(clippy::too_many_arguments)]
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
    #[allow(clippy::too_many_arguments)]
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
        write!(f, "Sampler({:?})", self.method())
    }
}
