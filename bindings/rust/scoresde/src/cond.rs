//! Exact conditional models and conditional hooks (model.h, 1.1).
use core::ffi::c_void;
use std::sync::Arc;

use scoresde_sys as sys;

use crate::error::{want_len, Result};
use crate::hooks::{guard, slice, slice_mut, user_ptr, HookResult, Keep};
use crate::model::{create, Model};
use crate::sde::Sde;

/// A conditional hook: (x, t, dim, c, null, out), where c holds n rows of
/// the condition (a broadcast row repeated; zeros for null samples) and
/// null\[i\] says sample i takes the null condition.
pub type CondBatchFn =
    dyn Fn(&[f64], &[f64], usize, &[f64], &[bool], &mut [f64]) -> HookResult + Send + Sync;

struct CondHooks {
    cdim: usize,
    main: Box<CondBatchFn>,
    divergence: Option<Box<CondBatchFn>>,
}

/// The n x C rows and n null flags of a hook call, as the closure sees them.
unsafe fn cond_rows(cdim: usize, n: usize, c: *const f64, stride: usize, mask: *const u8)
    -> (Vec<f64>, Vec<bool>) {
    let mut rows = vec![0.0; n * cdim];
    let mut null = vec![c.is_null(); n];
    for i in 0..n {
        if !mask.is_null() && *mask.add(i) != 0 {
            null[i] = true;
        }
        if !null[i] {
            rows[i * cdim..(i + 1) * cdim].copy_from_slice(slice(c.add(i * stride), cdim));
        }
    }
    (rows, null)
}

#[allow(clippy::too_many_arguments)]
unsafe fn tramp(h: &CondHooks, f: &CondBatchFn, x: *const f64, t: *const f64, n: usize, d: usize,
                c: *const f64, stride: usize, mask: *const u8, out: *mut f64, width: usize) -> i32 {
    let (rows, null) = cond_rows(h.cdim, n, c, stride, mask);
    guard(|| f(slice(x, n * d), slice(t, n), d, &rows, &null, slice_mut(out, n * width)))
}

unsafe extern "C" fn main_tramp(x: *const f64, t: *const f64, n: usize, d: usize, c: *const f64,
                                stride: usize, mask: *const u8, out: *mut f64,
                                user: *mut c_void) -> i32 {
    // SAFETY: user is the CondHooks kept alive by every model using it.
    let h = &*(user as *const CondHooks);
    tramp(h, &*h.main, x, t, n, d, c, stride, mask, out, d)
}

unsafe extern "C" fn div_tramp(x: *const f64, t: *const f64, n: usize, d: usize, c: *const f64,
                               stride: usize, mask: *const u8, out: *mut f64,
                               user: *mut c_void) -> i32 {
    let h = &*(user as *const CondHooks);
    let f = h.divergence.as_ref().expect("divergence hook registered without a closure");
    tramp(h, &**f, x, t, n, d, c, stride, mask, out, 1)
}

impl Model {
    /// The exact class-conditional mixture of K = class_probs.len() classes
    /// of m components in dim dimensions: weights (K x m), means and
    /// variances (K x m x dim). The condition is the label k as f64.
    pub fn cond_gmm(sde: &Sde, m: usize, dim: usize, class_probs: &[f64], weights: &[f64],
                    means: &[f64], variances: &[f64]) -> Result<Model> {
        let k = class_probs.len();
        want_len("weights", weights.len(), k * m)?;
        want_len("means", means.len(), k * m * dim)?;
        want_len("variances", variances.len(), k * m * dim)?;
        create(sde.keep.clone(), |o| unsafe {
            sys::scoresde_model_create_cond_gmm(o, sde.raw(), k, m, dim, class_probs.as_ptr(),
                                                weights.as_ptr(), means.as_ptr(),
                                                variances.as_ptr())
        })
    }

    /// The exact linear-Gaussian posterior: prior N(prior_mean, prior_cov) of
    /// dim = prior_mean.len(), y = A theta + b + N(0, noise_cov) of c = b-less
    /// dimension a.len() / dim; b None is zero.
    pub fn linear_gaussian(sde: &Sde, prior_mean: &[f64], prior_cov: &[f64], a: &[f64],
                           b: Option<&[f64]>, noise_cov: &[f64]) -> Result<Model> {
        let d = prior_mean.len();
        let c = a.len().checked_div(d).unwrap_or(0);
        want_len("prior_cov", prior_cov.len(), d * d)?;
        want_len("A", a.len(), c * d)?;
        want_len("noise_cov", noise_cov.len(), c * c)?;
        if let Some(b) = b {
            want_len("b", b.len(), c)?;
        }
        let bp = b.map_or(std::ptr::null(), |b| b.as_ptr());
        create(sde.keep.clone(), |o| unsafe {
            sys::scoresde_model_create_linear_gaussian(o, sde.raw(), d, c, prior_mean.as_ptr(),
                                                       prior_cov.as_ptr(), a.as_ptr(), bp,
                                                       noise_cov.as_ptr())
        })
    }

    fn with_cond_hooks(sde: &Sde, dim: usize, cdim: usize, accepts_null: bool,
                       main: Box<CondBatchFn>, divergence: Option<Box<CondBatchFn>>,
                       denoiser: bool) -> Result<Model> {
        let has_div = divergence.is_some();
        let h = Arc::new(CondHooks { cdim, main, divergence });
        let user = user_ptr(&h);
        let mut keep = sde.keep.clone();
        keep.push(h as Keep);
        type Tramp = unsafe extern "C" fn(*const f64, *const f64, usize, usize, *const f64, usize,
                                          *const u8, *mut f64, *mut c_void) -> i32;
        let div: Option<Tramp> = if has_div { Some(div_tramp) } else { None };
        let null = accepts_null as i32;
        create(keep, |o| unsafe {
            if denoiser {
                sys::scoresde_model_create_cond_denoiser_fn(o, sde.raw(), dim, cdim, null,
                                                            Some(main_tramp), div, user)
            } else {
                sys::scoresde_model_create_cond_score_fn(o, sde.raw(), dim, cdim, null,
                                                         Some(main_tramp), div, user)
            }
        })
    }

    /// A conditional model (cond_dim cdim) whose score is the closure; the
    /// divergence closure, if given, writes n values.
    pub fn from_cond_score<F>(sde: &Sde, dim: usize, cdim: usize, accepts_null: bool, score: F,
                              divergence: Option<Box<CondBatchFn>>) -> Result<Model>
    where
        F: Fn(&[f64], &[f64], usize, &[f64], &[bool], &mut [f64]) -> HookResult
            + Send + Sync + 'static,
    {
        Self::with_cond_hooks(sde, dim, cdim, accepts_null, Box::new(score), divergence, false)
    }

    /// A conditional model from a denoiser closure, by Tweedie.
    pub fn from_cond_denoiser<F>(sde: &Sde, dim: usize, cdim: usize, accepts_null: bool,
                                 denoiser: F, divergence: Option<Box<CondBatchFn>>)
        -> Result<Model>
    where
        F: Fn(&[f64], &[f64], usize, &[f64], &[bool], &mut [f64]) -> HookResult
            + Send + Sync + 'static,
    {
        Self::with_cond_hooks(sde, dim, cdim, accepts_null, Box::new(denoiser), divergence, true)
    }
}
