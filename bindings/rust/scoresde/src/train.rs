//! Score-matching losses and the trainer (loss.h, train.h).
use core::ffi::c_void;
use std::marker::PhantomData;
use std::path::Path;
use std::ptr::{self, NonNull};
use std::sync::Arc;

use scoresde_sys as sys;

use crate::enums::{Export, LossKind, LossSetting, TrainerSetting};
use crate::error::{want_len, Error, Result};
use crate::hooks::{self, guard, slice, slice_mut, user_ptr, HookResult};
use crate::model::{c_path, create, Cond, Model};

/// A user weight lambda(t): fill `out` (one weight per time).
pub type WeightFn = dyn Fn(&[f64], &mut [f64]) -> HookResult + Send + Sync;

unsafe extern "C" fn weight_tramp(t: *const f64, n: usize, out: *mut f64, user: *mut c_void) -> i32 {
    // SAFETY: user is the Box<WeightFn> the loss keeps in an Arc.
    let f = &*(user as *const Box<WeightFn>);
    guard(|| f(slice(t, n), slice_mut(out, n)))
}

/// An owned loss configuration (scoresde_loss). Evaluation is read-only and
/// thread-safe (loss.h), so Loss is Send and Sync; setters take &mut.
pub struct Loss {
    ptr: NonNull<sys::scoresde_loss>,
    reference: Option<Arc<Model>>,
    weight: Option<Arc<Box<WeightFn>>>,
}

// SAFETY: loss.h: "any number of threads may evaluate one loss at once";
// setters and free take &mut / self.
unsafe impl Send for Loss {}
unsafe impl Sync for Loss {}

impl Drop for Loss {
    fn drop(&mut self) {
        unsafe { sys::scoresde_loss_free(self.ptr.as_ptr()) }
    }
}

impl Loss {
    /// A loss of `kind` with the defaults.
    pub fn new(kind: LossKind) -> Result<Loss> {
        let mut out = ptr::null_mut();
        hooks::call(|| unsafe { sys::scoresde_loss_create(&mut out, kind.raw()) })?;
        let ptr = NonNull::new(out).ok_or_else(|| Error::new(sys::SCORESDE_ENOMEM, "NULL loss"))?;
        Ok(Loss { ptr, reference: None, weight: None })
    }

    pub(crate) fn raw(&self) -> *const sys::scoresde_loss {
        self.ptr.as_ptr()
    }

    /// The kind (`LossKind::Other` for a kind newer than this crate).
    pub fn kind(&self) -> LossKind {
        LossKind::from_raw(unsafe { sys::scoresde_loss_kind(self.raw()) })
    }

    /// Set an integer setting (TimeMode, Weighting, ... take the C enum values).
    pub fn set_int(&mut self, setting: LossSetting, value: i64) -> Result<()> {
        hooks::call(|| unsafe { sys::scoresde_loss_set_int(self.ptr.as_ptr(), setting.raw(), value) })
    }

    /// Set a double setting (Eps, FixedTime, ...).
    pub fn set_double(&mut self, setting: LossSetting, value: f64) -> Result<()> {
        hooks::call(|| unsafe { sys::scoresde_loss_set_double(self.ptr.as_ptr(), setting.raw(), value) })
    }

    /// The value of an integer setting.
    pub fn get_int(&self, setting: LossSetting) -> Result<i64> {
        let mut v = 0;
        hooks::call(|| unsafe { sys::scoresde_loss_get_int(self.raw(), setting.raw(), &mut v) })?;
        Ok(v)
    }

    /// The value of a double setting (NaN for EPS: the SDE's training eps).
    pub fn get_double(&self, setting: LossSetting) -> Result<f64> {
        let mut v = 0.0;
        hooks::call(|| unsafe { sys::scoresde_loss_get_double(self.raw(), setting.raw(), &mut v) })?;
        Ok(v)
    }

    /// (lower, upper, is_int) of a setting (EPS also takes NaN).
    pub fn bounds(setting: LossSetting) -> Result<(f64, f64, bool)> {
        let (mut lo, mut hi, mut is_int) = (0.0, 0.0, 0);
        hooks::call(|| unsafe { sys::scoresde_loss_bounds(setting.raw(), &mut lo, &mut hi, &mut is_int) })?;
        Ok((lo, hi, is_int != 0))
    }

    /// The value a new loss of `kind` starts with for `setting`.
    pub fn default_value(kind: LossKind, setting: LossSetting) -> Result<f64> {
        let mut v = 0.0;
        hooks::call(|| unsafe { sys::scoresde_loss_default(kind.raw(), setting.raw(), &mut v) })?;
        Ok(v)
    }

    /// ESM's reference model, kept alive by the loss; None clears it.
    pub fn set_reference(&mut self, reference: Option<Arc<Model>>) -> Result<()> {
        let p = reference.as_ref().map_or(ptr::null(), |m| m.raw());
        hooks::call(|| unsafe { sys::scoresde_loss_set_reference(self.ptr.as_ptr(), p) })?;
        self.reference = reference;
        Ok(())
    }

    /// The USER weighting lambda(t) (selects it).
    pub fn set_weight<F>(&mut self, f: F) -> Result<()>
    where
        F: Fn(&[f64], &mut [f64]) -> HookResult + Send + Sync + 'static,
    {
        let h: Arc<Box<WeightFn>> = Arc::new(Box::new(f));
        hooks::call(|| unsafe {
            sys::scoresde_loss_set_weight_fn(self.ptr.as_ptr(), Some(weight_tramp), user_ptr(&h))
        })?;
        self.weight = Some(h);
        Ok(())
    }

    /// The batch loss of x0 (n x dim) for `model`; per_sample (n values) and
    /// grad (the model's parameter count; the gradient is ADDED) if given.
    #[allow(clippy::too_many_arguments)]
    pub fn eval(&self, model: &Model, x0: &[f64], seed: u64, first_sample: u64,
                per_sample: Option<&mut [f64]>, grad: Option<&mut [f64]>) -> Result<f64> {
        self.eval_cond(model, x0, None, seed, first_sample, per_sample, grad)
    }

    /// eval with the conditions of the batch (None: no condition).
    #[allow(clippy::too_many_arguments)]
    pub fn eval_cond(&self, model: &Model, x0: &[f64], cond: Option<&Cond>, seed: u64,
                     first_sample: u64, per_sample: Option<&mut [f64]>,
                     grad: Option<&mut [f64]>) -> Result<f64> {
        let d = model.dim();
        if x0.len().checked_rem(d) != Some(0) {
            return Err(Error::new(sys::SCORESDE_EDIM, format!(
                "x0 has {} values, not a multiple of the model's dimension {d}", x0.len())));
        }
        let n = x0.len() / d;
        let ps = match per_sample {
            Some(p) => {
                want_len("per_sample", p.len(), n)?;
                p.as_mut_ptr()
            }
            None => ptr::null_mut(),
        };
        let (gp, gc) = match grad {
            Some(g) => (g.as_mut_ptr(), g.len()),
            None => (ptr::null_mut(), 0),
        };
        let mut value = 0.0;
        let c = Cond::raw(cond, n)?;
        hooks::call(|| unsafe {
            sys::scoresde_loss_eval_cond(self.raw(), model.raw(), x0.as_ptr(), n, d,
                                         Cond::ptr(&c), seed, first_sample, &mut value, ps, gp,
                                         gc)
        })?;
        Ok(value)
    }
}

/// What Trainer::fit did: steps run by the call, the last batch loss and its
/// moving average (NaN when no step ran).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FitSummary {
    /// Steps run in this call.
    pub steps: u64,
    /// The last step's loss.
    pub loss: f64,
    /// The loss's moving average after the last step.
    pub ema_loss: f64,
}

struct FitState<'f> {
    hook: Option<&'f mut dyn FnMut(u64, f64, f64) -> bool>,
    last: (f64, f64),
    start: u64,
}

unsafe extern "C" fn progress_tramp(step: u64, loss: f64, ema: f64, user: *mut c_void) -> i32 {
    // SAFETY: user is the FitState on fit's stack, alive during the C call.
    let st = &mut *(user as *mut FitState<'_>);
    guard(|| {
        st.last = (loss, ema);
        if let Some(h) = st.hook.as_mut() {
            if h(step, loss, ema) {
                return Err("stopped by the progress hook".into());
            }
        }
        Ok(())
    })
}

/// Adam(W) with warm-up, clipping and an EMA (train.h), training a model
/// borrowed mutably for the trainer's lifetime, with a borrowed loss.
/// A trainer belongs to one thread at a time: it is Send, not Sync.
pub struct Trainer<'a> {
    ptr: NonNull<sys::scoresde_trainer>,
    model: &'a Model,
    _borrow: PhantomData<(&'a mut Model, &'a Loss)>,
}

// SAFETY: train.h: "a trainer belongs to one thread at a time"; moving it
// (with its exclusive borrow of the model) to another thread is allowed.
unsafe impl Send for Trainer<'_> {}

impl Drop for Trainer<'_> {
    fn drop(&mut self) {
        unsafe { sys::scoresde_trainer_free(self.ptr.as_ptr()) }
    }
}

impl<'a> Trainer<'a> {
    /// A trainer for `model` (trainable: SCORESDE_MODEL_MLP) and `loss`.
    pub fn new(model: &'a mut Model, loss: &'a Loss) -> Result<Trainer<'a>> {
        let mut out = ptr::null_mut();
        let mp = model.raw_mut();
        hooks::call(|| unsafe { sys::scoresde_trainer_create(&mut out, mp, loss.raw()) })?;
        let ptr = NonNull::new(out).ok_or_else(|| Error::new(sys::SCORESDE_ENOMEM, "NULL trainer"))?;
        Ok(Trainer { ptr, model, _borrow: PhantomData })
    }

    fn raw(&self) -> *mut sys::scoresde_trainer {
        self.ptr.as_ptr()
    }

    /// Set a double setting (Lr ..= EmaRate).
    pub fn set_double(&mut self, setting: TrainerSetting, value: f64) -> Result<()> {
        hooks::call(|| unsafe { sys::scoresde_trainer_set_double(self.raw(), setting.raw(), value) })
    }

    /// Set an integer setting (Warmup, Batch, Seed).
    pub fn set_int(&mut self, setting: TrainerSetting, value: i64) -> Result<()> {
        hooks::call(|| unsafe { sys::scoresde_trainer_set_int(self.raw(), setting.raw(), value) })
    }

    /// The value of a double setting.
    pub fn get_double(&self, setting: TrainerSetting) -> Result<f64> {
        let mut v = 0.0;
        hooks::call(|| unsafe { sys::scoresde_trainer_get_double(self.raw(), setting.raw(), &mut v) })?;
        Ok(v)
    }

    /// The value of an integer setting (SEED: the int64 with the seed's bits).
    pub fn get_int(&self, setting: TrainerSetting) -> Result<i64> {
        let mut v = 0;
        hooks::call(|| unsafe { sys::scoresde_trainer_get_int(self.raw(), setting.raw(), &mut v) })?;
        Ok(v)
    }

    /// (lower, upper, is_int) of a setting.
    pub fn bounds(setting: TrainerSetting) -> Result<(f64, f64, bool)> {
        let (mut lo, mut hi, mut is_int) = (0.0, 0.0, 0);
        hooks::call(|| unsafe { sys::scoresde_trainer_bounds(setting.raw(), &mut lo, &mut hi, &mut is_int) })?;
        Ok((lo, hi, is_int != 0))
    }

    /// The value a new trainer starts with for `setting`.
    pub fn default_value(setting: TrainerSetting) -> Result<f64> {
        let mut v = 0.0;
        hooks::call(|| unsafe { sys::scoresde_trainer_default(setting.raw(), &mut v) })?;
        Ok(v)
    }

    /// The number of parameters the trainer updates.
    pub fn num_params(&self) -> usize {
        unsafe { sys::scoresde_trainer_num_params(self.raw()) }
    }

    /// The number of applied optimiser steps.
    pub fn steps(&self) -> u64 {
        unsafe { sys::scoresde_trainer_steps(self.raw()) }
    }

    fn rows(&self, x: &[f64], name: &str) -> Result<(usize, usize)> {
        let d = self.model.dim();
        if x.len().checked_rem(d) != Some(0) {
            return Err(Error::new(sys::SCORESDE_EDIM, format!(
                "{name} has {} values, not a multiple of the model's dimension {d}", x.len())));
        }
        Ok((x.len() / d, d))
    }

    /// One step on the batch x0 (n x dim); returns the batch loss.
    pub fn step(&mut self, x0: &[f64]) -> Result<f64> {
        self.step_cond(x0, None)
    }
    /// step with the conditions of the batch.
    pub fn step_cond(&mut self, x0: &[f64], cond: Option<&Cond>) -> Result<f64> {
        let (n, d) = self.rows(x0, "x0")?;
        let c = Cond::raw(cond, n)?;
        let mut loss = 0.0;
        hooks::call(|| unsafe {
            sys::scoresde_trainer_step_cond(self.raw(), x0.as_ptr(), n, d, Cond::ptr(&c),
                                            &mut loss)
        })?;
        Ok(loss)
    }

    /// Loss and gradient of x0 into the gradient buffer; returns the loss.
    pub fn backward(&mut self, x0: &[f64], first_sample: u64) -> Result<f64> {
        self.backward_cond(x0, None, first_sample)
    }
    /// backward with the conditions of the batch.
    pub fn backward_cond(&mut self, x0: &[f64], cond: Option<&Cond>, first_sample: u64)
        -> Result<f64> {
        let (n, d) = self.rows(x0, "x0")?;
        let c = Cond::raw(cond, n)?;
        let mut loss = 0.0;
        hooks::call(|| unsafe {
            sys::scoresde_trainer_backward_cond(self.raw(), x0.as_ptr(), n, d, Cond::ptr(&c),
                                                first_sample, &mut loss)
        })?;
        Ok(loss)
    }

    /// A copy of the gradient buffer into grad.
    pub fn get_grad(&self, grad: &mut [f64]) -> Result<()> {
        hooks::call(|| unsafe { sys::scoresde_trainer_get_grad(self.raw(), grad.as_mut_ptr(), grad.len()) })
    }

    /// Replace the gradient buffer before apply().
    pub fn set_grad(&mut self, grad: &[f64]) -> Result<()> {
        hooks::call(|| unsafe { sys::scoresde_trainer_set_grad(self.raw(), grad.as_ptr(), grad.len()) })
    }

    /// Apply one optimiser step; returns the gradient norm before clipping.
    pub fn apply(&mut self) -> Result<f64> {
        let mut norm = 0.0;
        hooks::call(|| unsafe { sys::scoresde_trainer_apply(self.raw(), &mut norm) })?;
        Ok(norm)
    }

    /// A copy of the EMA parameters into theta.
    pub fn get_ema(&self, theta: &mut [f64]) -> Result<()> {
        hooks::call(|| unsafe { sys::scoresde_trainer_get_ema(self.raw(), theta.as_mut_ptr(), theta.len()) })
    }

    /// `steps` steps on minibatches drawn from data (m x dim). `progress`
    /// (step, loss, ema_loss) is called after every step and returns true to
    /// stop early: fit then returns an error of kind [`crate::ErrorKind::Callback`]
    /// ("stopped by the progress hook"), as a sampler's run does, and the
    /// steps done are kept ([`Trainer::steps`] counts them, the stopping one
    /// included). A panic in it stops the run and resumes in the caller.
    pub fn fit(&mut self, data: &[f64], steps: u64,
               progress: Option<&mut dyn FnMut(u64, f64, f64) -> bool>) -> Result<FitSummary> {
        self.fit_cond(data, None, steps, progress)
    }
    /// fit with the dataset's conditions: row r of `cond` (m rows, or one for
    /// all) goes with data row r.
    pub fn fit_cond(&mut self, data: &[f64], cond: Option<&Cond>, steps: u64,
                    progress: Option<&mut dyn FnMut(u64, f64, f64) -> bool>)
        -> Result<FitSummary> {
        let (m, d) = self.rows(data, "data")?;
        let c = Cond::raw(cond, m)?;
        let mut st = FitState { hook: progress, last: (f64::NAN, f64::NAN), start: self.steps() };
        let user = &mut st as *mut FitState<'_> as *mut c_void;
        hooks::call(|| unsafe {
            sys::scoresde_trainer_fit_cond(self.raw(), data.as_ptr(), m, d, Cond::ptr(&c), steps,
                                           Some(progress_tramp), user)
        })?;
        Ok(FitSummary { steps: self.steps() - st.start, loss: st.last.0, ema_loss: st.last.1 })
    }

    /// The training state as checkpoint bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut data: *mut c_void = ptr::null_mut();
        let mut size = 0usize;
        hooks::call(|| unsafe { sys::scoresde_trainer_save_buffer(self.raw(), &mut data, &mut size) })?;
        // SAFETY: the library returned `size` bytes at `data`, ours to free.
        let v = unsafe { std::slice::from_raw_parts(data as *const u8, size) }.to_vec();
        unsafe { sys::scoresde_buffer_free(data) };
        Ok(v)
    }

    /// Restore checkpoint bytes (same architecture and loss configuration).
    pub fn load_bytes(&mut self, data: &[u8]) -> Result<()> {
        hooks::call(|| unsafe {
            sys::scoresde_trainer_load_buffer(self.raw(), data.as_ptr() as *const c_void, data.len())
        })
    }

    /// Save the training state atomically to a file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let p = c_path(path.as_ref())?;
        hooks::call(|| unsafe { sys::scoresde_trainer_save(self.raw(), p.as_ptr()) })
    }

    /// Restore a checkpoint file.
    pub fn load(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let p = c_path(path.as_ref())?;
        hooks::call(|| unsafe { sys::scoresde_trainer_load(self.raw(), p.as_ptr()) })
    }

    /// A new model carrying the EMA or the current (raw) parameters.
    pub fn export(&self, which: Export) -> Result<Model> {
        create(self.model.keep.clone(), |o| unsafe {
            sys::scoresde_trainer_export(o, self.raw(), which.raw())
        })
    }
}

impl std::fmt::Debug for Loss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Loss({:?})", self.kind())
    }
}

impl std::fmt::Debug for Trainer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Trainer({} params, {} steps)", self.num_params(), self.steps())
    }
}
