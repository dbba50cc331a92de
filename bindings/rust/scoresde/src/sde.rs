use core::ffi::c_void;
use std::marker::PhantomData;
use std::ops::Deref;
use std::ptr::{self, NonNull};
use std::sync::Arc;

use scoresde_sys as sys;

use crate::enums::SdeKind;
use crate::error::{want_len, Error, Result};
use crate::hooks::{self, guard, slice, slice_mut, user_ptr, HookResult, Keep};

/// A schedule or marginal hook: for the times `t`, fill alpha, sigma and
/// their time derivatives (four slices of t.len() values).
pub type ScheduleFn =
    dyn Fn(&[f64], &mut [f64], &mut [f64], &mut [f64], &mut [f64]) -> HookResult + Send + Sync;
/// A drift hook: f(x_i, t_i) for the n x D batch x (row-major) into `out`.
pub type DriftFn = dyn Fn(&[f64], &[f64], usize, &mut [f64]) -> HookResult + Send + Sync;
/// A diffusion hook: g(t_i) into `out`.
pub type DiffusionFn = dyn Fn(&[f64], &mut [f64]) -> HookResult + Send + Sync;

struct CustomHooks {
    drift: Box<DriftFn>,
    diffusion: Box<DiffusionFn>,
    marginal: Option<Box<ScheduleFn>>,
}

unsafe extern "C" fn schedule_tramp(
    t: *const f64, n: usize, a: *mut f64, s: *mut f64, da: *mut f64, ds: *mut f64,
    user: *mut c_void,
) -> i32 {
    // SAFETY: user is the Box<ScheduleFn> kept alive by the handle; the
    // library passes n times and four distinct output arrays of n doubles.
    let f = &*(user as *const Box<ScheduleFn>);
    guard(|| f(slice(t, n), slice_mut(a, n), slice_mut(s, n), slice_mut(da, n), slice_mut(ds, n)))
}

unsafe extern "C" fn custom_marginal_tramp(
    t: *const f64, n: usize, a: *mut f64, s: *mut f64, da: *mut f64, ds: *mut f64,
    user: *mut c_void,
) -> i32 {
    let h = &*(user as *const CustomHooks);
    let f = h.marginal.as_ref().expect("marginal hook registered without a closure");
    guard(|| f(slice(t, n), slice_mut(a, n), slice_mut(s, n), slice_mut(da, n), slice_mut(ds, n)))
}

unsafe extern "C" fn drift_tramp(
    x: *const f64, t: *const f64, n: usize, d: usize, out: *mut f64, user: *mut c_void,
) -> i32 {
    let h = &*(user as *const CustomHooks);
    guard(|| (h.drift)(slice(x, n * d), slice(t, n), d, slice_mut(out, n * d)))
}

unsafe extern "C" fn diffusion_tramp(t: *const f64, n: usize, out: *mut f64, user: *mut c_void) -> i32 {
    let h = &*(user as *const CustomHooks);
    guard(|| (h.diffusion)(slice(t, n), slice_mut(out, n)))
}

/// A borrowed SDE: every query and computation of sde.h. Obtained from an
/// [`Sde`] (by deref) or from [`crate::Model::sde`].
pub struct SdeRef<'a> {
    pub(crate) ptr: NonNull<sys::scoresde_sde>,
    _life: PhantomData<&'a sys::scoresde_sde>,
}

/// An owned forward SDE (scoresde_sde). Immutable after creation, so it is
/// Send and Sync, as sde.h promises; closures of SCHEDULE and CUSTOM SDEs must
/// then be Send + Sync too, since other threads may call them.
pub struct Sde {
    view: SdeRef<'static>,
    pub(crate) keep: Vec<Keep>,
}

// SAFETY: sde.h: "an SDE is immutable after creation and may be shared
// between threads; every function here is thread-safe on a shared SDE".
unsafe impl Send for Sde {}
unsafe impl Sync for Sde {}
unsafe impl Send for SdeRef<'_> {}
unsafe impl Sync for SdeRef<'_> {}

impl Drop for Sde {
    fn drop(&mut self) {
        // SAFETY: we own the handle; nothing borrows it past our lifetime.
        unsafe { sys::scoresde_sde_free(self.view.ptr.as_ptr()) }
    }
}

impl Deref for Sde {
    type Target = SdeRef<'static>;
    fn deref(&self) -> &SdeRef<'static> {
        &self.view
    }
}

impl<'a> SdeRef<'a> {
    pub(crate) fn borrowed(p: *const sys::scoresde_sde) -> Option<Self> {
        NonNull::new(p as *mut _).map(|ptr| SdeRef { ptr, _life: PhantomData })
    }

    pub(crate) fn raw(&self) -> *const sys::scoresde_sde {
        self.ptr.as_ptr()
    }
}

fn create(keep: Vec<Keep>, f: impl FnOnce(*mut *mut sys::scoresde_sde) -> i32) -> Result<Sde> {
    let mut out = ptr::null_mut();
    hooks::call(|| f(&mut out))?;
    let ptr = NonNull::new(out).ok_or_else(|| Error::new(sys::SCORESDE_ENOMEM, "NULL SDE"))?;
    Ok(Sde { view: SdeRef { ptr, _life: PhantomData }, keep })
}

impl Sde {
    /// An owned, independent copy (sharing the closures).
    pub fn try_clone(&self) -> Result<Sde> {
        self.view.try_clone_keeping(self.keep.clone())
    }

    /// A built-in SDE with its published defaults (see sde.h).
    pub fn new_default(kind: SdeKind) -> Result<Sde> {
        create(vec![], |o| unsafe { sys::scoresde_sde_create_default(o, kind.raw()) })
    }
    /// The variance-preserving SDE, beta(t) linear from beta_min to beta_max on [0, 1].
    pub fn vp(beta_min: f64, beta_max: f64) -> Result<Sde> {
        create(vec![], |o| unsafe { sys::scoresde_sde_create_vp(o, beta_min, beta_max) })
    }
    /// The sub-variance-preserving SDE with the VP SDE's linear beta(t).
    pub fn subvp(beta_min: f64, beta_max: f64) -> Result<Sde> {
        create(vec![], |o| unsafe { sys::scoresde_sde_create_subvp(o, beta_min, beta_max) })
    }
    /// The variance-exploding SDE, sigma(t) geometric from sigma_min to sigma_max.
    pub fn ve(sigma_min: f64, sigma_max: f64) -> Result<Sde> {
        create(vec![], |o| unsafe { sys::scoresde_sde_create_ve(o, sigma_min, sigma_max) })
    }
    /// The EDM SDE: sigma(t) = t, T = sigma_max, sampled down to sigma_min.
    pub fn edm(sigma_min: f64, sigma_max: f64) -> Result<Sde> {
        create(vec![], |o| unsafe { sys::scoresde_sde_create_edm(o, sigma_min, sigma_max) })
    }
    /// The cosine schedule with offset s on [0, t_end], 0 < t_end < 1.
    pub fn cosine(s: f64, t_end: f64) -> Result<Sde> {
        create(vec![], |o| unsafe { sys::scoresde_sde_create_cosine(o, s, t_end) })
    }
    /// The Ornstein-Uhlenbeck SDE dx = -theta x dt + s dw on [0, t_end].
    pub fn ou(theta: f64, s: f64, t_end: f64) -> Result<Sde> {
        create(vec![], |o| unsafe { sys::scoresde_sde_create_ou(o, theta, s, t_end) })
    }

    /// A general (alpha, sigma) SDE on [0, t_end] from a closure.
    pub fn schedule<F>(t_end: f64, schedule: F) -> Result<Sde>
    where
        F: Fn(&[f64], &mut [f64], &mut [f64], &mut [f64], &mut [f64]) -> HookResult
            + Send + Sync + 'static,
    {
        let boxed: Arc<Box<ScheduleFn>> = Arc::new(Box::new(schedule));
        let user = user_ptr(&boxed);
        create(vec![boxed as Keep], |o| unsafe {
            sys::scoresde_sde_create_schedule(o, t_end, Some(schedule_tramp), user)
        })
    }

    /// A custom SDE from drift and diffusion closures, and optionally its
    /// Gaussian marginal (as for [`Sde::schedule`]).
    pub fn custom<F, G>(t_end: f64, drift: F, diffusion: G, marginal: Option<Box<ScheduleFn>>)
        -> Result<Sde>
    where
        F: Fn(&[f64], &[f64], usize, &mut [f64]) -> HookResult + Send + Sync + 'static,
        G: Fn(&[f64], &mut [f64]) -> HookResult + Send + Sync + 'static,
    {
        let has_marginal = marginal.is_some();
        let h = Arc::new(CustomHooks { drift: Box::new(drift), diffusion: Box::new(diffusion), marginal });
        let user = user_ptr(&h);
        create(vec![h as Keep], |o| unsafe {
            sys::scoresde_sde_create_custom(
                o, t_end, Some(drift_tramp), Some(diffusion_tramp),
                if has_marginal { Some(custom_marginal_tramp) } else { None }, user)
        })
    }
}

impl SdeRef<'_> {
    pub(crate) fn try_clone_keeping(&self, keep: Vec<Keep>) -> Result<Sde> {
        create(keep, |o| unsafe { sys::scoresde_sde_clone(o, self.raw()) })
    }

    /// The kind (`SdeKind::Other` for a kind newer than this crate).
    pub fn kind(&self) -> SdeKind {
        SdeKind::from_raw(unsafe { sys::scoresde_sde_kind(self.raw()) })
    }
    /// The end time T.
    pub fn end_time(&self) -> f64 {
        unsafe { sys::scoresde_sde_end_time(self.raw()) }
    }
    /// The smallest time a sampler integrates down to by default.
    pub fn sampling_eps(&self) -> f64 {
        unsafe { sys::scoresde_sde_sampling_eps(self.raw()) }
    }
    /// The smallest time a loss draws by default.
    pub fn training_eps(&self) -> f64 {
        unsafe { sys::scoresde_sde_training_eps(self.raw()) }
    }

    /// alpha, sigma and their derivatives at the times t (each output t.len()).
    pub fn marginal(&self, t: &[f64], alpha: &mut [f64], sigma: &mut [f64], dalpha: &mut [f64],
                    dsigma: &mut [f64]) -> Result<()> {
        let n = t.len();
        for (name, s) in [("alpha", &*alpha), ("sigma", &*sigma), ("dalpha", &*dalpha),
                          ("dsigma", &*dsigma)] {
            want_len(name, s.len(), n)?;
        }
        hooks::call(|| unsafe {
            sys::scoresde_sde_marginal(self.raw(), t.as_ptr(), n, alpha.as_mut_ptr(),
                                       sigma.as_mut_ptr(), dalpha.as_mut_ptr(), dsigma.as_mut_ptr())
        })
    }

    /// The drift f(x_i, t_i) of the n x D batch x (n = t.len()) into out.
    pub fn drift(&self, x: &[f64], t: &[f64], dim: usize, out: &mut [f64]) -> Result<()> {
        let n = t.len();
        want_len("x", x.len(), n * dim)?;
        want_len("out", out.len(), n * dim)?;
        hooks::call(|| unsafe {
            sys::scoresde_sde_drift(self.raw(), x.as_ptr(), t.as_ptr(), n, dim, out.as_mut_ptr())
        })
    }

    /// The diffusion g(t_i) into out.
    pub fn diffusion(&self, t: &[f64], out: &mut [f64]) -> Result<()> {
        want_len("out", out.len(), t.len())?;
        hooks::call(|| unsafe {
            sys::scoresde_sde_diffusion(self.raw(), t.as_ptr(), t.len(), out.as_mut_ptr())
        })
    }

    /// x_t = alpha x0 + sigma z, z from stream first_sample + i (sde.h).
    #[allow(clippy::too_many_arguments)]
    pub fn perturb(&self, x0: &[f64], t: &[f64], dim: usize, seed: u64, first_sample: u64,
                   draw: u64, xt: &mut [f64], z: Option<&mut [f64]>) -> Result<()> {
        let n = t.len();
        want_len("x0", x0.len(), n * dim)?;
        want_len("xt", xt.len(), n * dim)?;
        let zp = match z {
            Some(z) => {
                want_len("z", z.len(), n * dim)?;
                z.as_mut_ptr()
            }
            None => ptr::null_mut(),
        };
        hooks::call(|| unsafe {
            sys::scoresde_sde_perturb(self.raw(), x0.as_ptr(), t.as_ptr(), n, dim, seed,
                                      first_sample, draw, xt.as_mut_ptr(), zp)
        })
    }

    /// The kernel score -(x_t - alpha x0) / sigma^2.
    pub fn kernel_score(&self, xt: &[f64], x0: &[f64], t: &[f64], dim: usize, out: &mut [f64])
        -> Result<()> {
        let n = t.len();
        want_len("xt", xt.len(), n * dim)?;
        want_len("x0", x0.len(), n * dim)?;
        want_len("out", out.len(), n * dim)?;
        hooks::call(|| unsafe {
            sys::scoresde_sde_kernel_score(self.raw(), xt.as_ptr(), x0.as_ptr(), t.as_ptr(), n,
                                           dim, out.as_mut_ptr())
        })
    }

    /// The prior variance v of N(0, v I).
    pub fn prior_var(&self) -> Result<f64> {
        let mut v = 0.0;
        hooks::call(|| unsafe { sys::scoresde_sde_prior_var(self.raw(), &mut v) })?;
        Ok(v)
    }

    /// Prior samples into out (n x dim, n = out.len() / dim).
    pub fn prior_sample(&self, dim: usize, seed: u64, first_sample: u64, draw: u64,
                        out: &mut [f64]) -> Result<()> {
        let n = out.len().checked_div(dim).unwrap_or(0);
        want_len("out", out.len(), n * dim)?;
        hooks::call(|| unsafe {
            sys::scoresde_sde_prior_sample(self.raw(), n, dim, seed, first_sample, draw,
                                           out.as_mut_ptr())
        })
    }

    /// The prior log-density of each row of x into out.
    pub fn prior_logp(&self, x: &[f64], dim: usize, out: &mut [f64]) -> Result<()> {
        let n = out.len();
        want_len("x", x.len(), n * dim)?;
        hooks::call(|| unsafe {
            sys::scoresde_sde_prior_logp(self.raw(), x.as_ptr(), n, dim, out.as_mut_ptr())
        })
    }

    /// One discretised forward step over `levels` levels: f (n x dim) and G (n).
    pub fn discretize(&self, levels: usize, x: &[f64], t: &[f64], dim: usize, f: &mut [f64],
                      g: &mut [f64]) -> Result<()> {
        let n = t.len();
        want_len("x", x.len(), n * dim)?;
        want_len("f", f.len(), n * dim)?;
        want_len("G", g.len(), n)?;
        hooks::call(|| unsafe {
            sys::scoresde_sde_discretize(self.raw(), levels, x.as_ptr(), t.as_ptr(), n, dim,
                                         f.as_mut_ptr(), g.as_mut_ptr())
        })
    }

    /// The reverse-time drift f - (1 + lam^2)/2 g^2 score.
    pub fn reverse_drift(&self, x: &[f64], t: &[f64], score: &[f64], dim: usize, lam: f64,
                         out: &mut [f64]) -> Result<()> {
        let n = t.len();
        want_len("x", x.len(), n * dim)?;
        want_len("score", score.len(), n * dim)?;
        want_len("out", out.len(), n * dim)?;
        hooks::call(|| unsafe {
            sys::scoresde_sde_reverse_drift(self.raw(), x.as_ptr(), t.as_ptr(), score.as_ptr(),
                                            n, dim, lam, out.as_mut_ptr())
        })
    }

    /// The probability-flow drift f - g^2 score / 2.
    pub fn pf_drift(&self, x: &[f64], t: &[f64], score: &[f64], dim: usize, out: &mut [f64])
        -> Result<()> {
        let n = t.len();
        want_len("x", x.len(), n * dim)?;
        want_len("score", score.len(), n * dim)?;
        want_len("out", out.len(), n * dim)?;
        hooks::call(|| unsafe {
            sys::scoresde_sde_pf_drift(self.raw(), x.as_ptr(), t.as_ptr(), score.as_ptr(), n,
                                       dim, out.as_mut_ptr())
        })
    }

    /// Euler-Maruyama paths, in place: x holds n x dim starting points and
    /// receives the paths at t1.
    #[allow(clippy::too_many_arguments)]
    pub fn simulate(&self, x: &mut [f64], dim: usize, t0: f64, t1: f64, steps: u64, seed: u64,
                    first_sample: u64, draw: u64) -> Result<()> {
        let n = x.len().checked_div(dim).unwrap_or(0);
        want_len("x", x.len(), n * dim)?;
        let p = x.as_mut_ptr();
        hooks::call(|| unsafe {
            sys::scoresde_sde_simulate(self.raw(), p, n, dim, t0, t1, steps, seed, first_sample,
                                       draw, p)
        })
    }
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn both<T: Send + Sync>() {}
    both::<Sde>();
}
