use core::ffi::c_void;
use std::ffi::CString;
use std::path::Path;
use std::ptr::{self, NonNull};
use std::sync::Arc;

use scoresde_sys as sys;

use crate::enums::{Activation, Embedding, MlpOutput, ModelKind, Precision};
use crate::error::{want_len, Error, Result};
use crate::hooks::{self, guard, slice, slice_mut, user_ptr, HookResult, Keep};
use crate::sde::{Sde, SdeRef};

/// A batched hook over (x, t): x is n x D row-major, t has n values, the
/// closure fills `out` (n x D for scores and denoisers, n for divergences).
pub type BatchFn = dyn Fn(&[f64], &[f64], usize, &mut [f64]) -> HookResult + Send + Sync;

struct ModelHooks {
    main: Box<BatchFn>,
    divergence: Option<Box<BatchFn>>,
}

unsafe extern "C" fn main_tramp(
    x: *const f64, t: *const f64, n: usize, d: usize, out: *mut f64, user: *mut c_void,
) -> i32 {
    // SAFETY: user is the ModelHooks kept alive by every model using it; the
    // library passes n x d inputs and a distinct n x d output.
    let h = &*(user as *const ModelHooks);
    guard(|| (h.main)(slice(x, n * d), slice(t, n), d, slice_mut(out, n * d)))
}

unsafe extern "C" fn div_tramp(
    x: *const f64, t: *const f64, n: usize, d: usize, out: *mut f64, user: *mut c_void,
) -> i32 {
    let h = &*(user as *const ModelHooks);
    let f = h.divergence.as_ref().expect("divergence hook registered without a closure");
    guard(|| f(slice(x, n * d), slice(t, n), d, slice_mut(out, n)))
}

/// An owned score model (scoresde_model). Evaluation is read-only and
/// thread-safe (model.h), so Model is Send and Sync; set_params needs &mut.
pub struct Model {
    ptr: NonNull<sys::scoresde_model>,
    pub(crate) keep: Vec<Keep>,
}

// SAFETY: model.h: "any number of threads may call the evaluation functions
// ... on one model at the same time"; set_params and free take &mut / self.
unsafe impl Send for Model {}
unsafe impl Sync for Model {}

impl Drop for Model {
    fn drop(&mut self) {
        unsafe { sys::scoresde_model_free(self.ptr.as_ptr()) }
    }
}

pub(crate) fn create(keep: Vec<Keep>, f: impl FnOnce(*mut *mut sys::scoresde_model) -> i32) -> Result<Model> {
    let mut out = ptr::null_mut();
    hooks::call(|| f(&mut out))?;
    let ptr = NonNull::new(out).ok_or_else(|| Error::new(sys::SCORESDE_ENOMEM, "NULL model"))?;
    Ok(Model { ptr, keep })
}

pub(crate) fn c_path(path: &Path) -> Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::new(sys::SCORESDE_EINVAL, format!("path {path:?} contains NUL")))
}

/// The builder methods both network kinds' options share (the fields of
/// the same names in scoresde_mlp_options and scoresde_resmlp_options).
macro_rules! shared_options {
    () => {
    /// The activation function.
        pub fn activation(mut self, a: Activation) -> Self {
            self.raw.activation = a.raw();
            self
        }
        /// What the output parameterises.
        pub fn output(mut self, o: MlpOutput) -> Self {
            self.raw.output = o.raw();
            self
        }
        /// The time embedding.
        pub fn embedding(mut self, e: Embedding) -> Self {
            self.raw.embedding = e.raw();
            self
        }
        /// The arithmetic precision.
        pub fn precision(mut self, p: Precision) -> Self {
            self.raw.precision = p.raw();
            self
        }
        /// The time embedding's dimension.
        pub fn embed_dim(mut self, d: usize) -> Self {
            self.raw.embed_dim = d;
            self
        }
        /// The seed of the initial parameters.
        pub fn seed(mut self, seed: u64) -> Self {
            self.raw.seed = seed;
            self
        }
        /// Threads for evaluation (0: the library's choice).
        pub fn n_threads(mut self, n: i32) -> Self {
            self.raw.n_threads = n;
            self
        }
        /// A conditional model: `dim` condition features entering as `input`
        /// (sys::SCORESDE_MLP_COND_EMBED_LAYERS, the MLP's default, _EMBED or
        /// _CONCAT; the residual MLP takes _EMBED or _CONCAT).
        pub fn cond(mut self, dim: usize, input: u32) -> Self {
            self.raw.cond_dim = dim;
            self.raw.cond_input = input as i32;
            self
        }
        /// Integer class labels in [0, k) as the one condition feature.
        pub fn cond_classes(mut self, k: usize) -> Self {
            self.raw.cond_classes = k;
            self
        }
        /// Whether the model accepts the null condition.
        pub fn cond_null(mut self, yes: bool) -> Self {
            self.raw.cond_null = yes as i32;
            self
        }
    };
}

/// Options of an MLP model (scoresde_mlp_options), starting at the library's
/// defaults (scoresde_model_mlp_options_init). The builder methods set one
/// field each; `raw_mut` reaches every field but `widths`, which only
/// [`MlpOptions::widths`] sets (the C struct holds a pointer to them, filled in
/// by [`Model::mlp`] for the duration of the call). Values are checked by
/// [`Model::mlp`], which names a bad one.
#[derive(Clone, Copy)]
pub struct MlpOptions {
    raw: sys::scoresde_mlp_options,
    /// The hidden widths given to `widths`, if any (`n_widths` of them);
    /// otherwise the library's default (256 per hidden layer).
    widths: [usize; MAX_HIDDEN],
    n_widths: Option<usize>,
}

const MAX_HIDDEN: usize = sys::SCORESDE_MLP_MAX_HIDDEN as usize;

impl Default for MlpOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl MlpOptions {
    /// The library's defaults (scoresde_model_mlp_options_init).
    pub fn new() -> Self {
        // SAFETY: an all-zero scoresde_mlp_options is a valid value (plain data).
        let mut raw: sys::scoresde_mlp_options = unsafe { std::mem::zeroed() };
        let st = unsafe {
            sys::scoresde_model_mlp_options_init(&mut raw, std::mem::size_of::<sys::scoresde_mlp_options>())
        };
        assert_eq!(st, 0, "the library refused this crate's scoresde_mlp_options size");
        MlpOptions { raw, widths: [0; MAX_HIDDEN], n_widths: None }
    }
    /// Hidden-layer widths (also sets the number of hidden layers); more than
    /// SCORESDE_MLP_MAX_HIDDEN layers is an error of Model::mlp. Without this
    /// call every hidden layer is 256 wide.
    pub fn widths(mut self, widths: &[usize]) -> Self {
        self.raw.n_hidden = widths.len();
        if widths.len() > MAX_HIDDEN {
            self.n_widths = Some(widths.len());
            return self;
        }
        self.widths[..widths.len()].copy_from_slice(widths);
        self.n_widths = Some(widths.len());
        self
    }
    shared_options!();
    /// The C struct, for options this builder has no method for.
    pub fn raw_mut(&mut self) -> &mut sys::scoresde_mlp_options {
        &mut self.raw
    }
}

/// Options of a residual MLP model (scoresde_resmlp_options, 1.1), starting
/// at the library's defaults; checked by [`Model::resmlp`].
#[derive(Clone, Copy)]
pub struct ResMlpOptions {
    raw: sys::scoresde_resmlp_options,
}

impl Default for ResMlpOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl ResMlpOptions {
    /// The library's defaults (scoresde_model_resmlp_options_init).
    pub fn new() -> Self {
        // SAFETY: an all-zero scoresde_resmlp_options is a valid value (plain data).
        let mut raw: sys::scoresde_resmlp_options = unsafe { std::mem::zeroed() };
        let st = unsafe {
            sys::scoresde_model_resmlp_options_init(
                &mut raw, std::mem::size_of::<sys::scoresde_resmlp_options>())
        };
        assert_eq!(st, 0, "the library refused this crate's scoresde_resmlp_options size");
        ResMlpOptions { raw }
    }
    /// The width W of the residual stream.
    pub fn width(mut self, w: usize) -> Self {
        self.raw.width = w;
        self
    }
    /// The number of residual blocks.
    pub fn blocks(mut self, b: usize) -> Self {
        self.raw.blocks = b;
        self
    }
    shared_options!();
    /// The C struct, for options this builder has no method for.
    pub fn raw_mut(&mut self) -> &mut sys::scoresde_resmlp_options {
        &mut self.raw
    }
}

impl Model {
    pub(crate) fn raw(&self) -> *const sys::scoresde_model {
        self.ptr.as_ptr()
    }

    pub(crate) fn raw_mut(&mut self) -> *mut sys::scoresde_model {
        self.ptr.as_ptr()
    }

    /// A trainable MLP score network of dimension `dim` for `sde` (copied).
    pub fn mlp(sde: &Sde, dim: usize, options: &MlpOptions) -> Result<Model> {
        let mut raw = options.raw;
        match options.n_widths {
            Some(n) if n > MAX_HIDDEN => {
                return Err(Error::new(sys::SCORESDE_EINVAL, format!(
                    "widths has {n} layers, at most {MAX_HIDDEN}")));
            }
            // The library reads n_hidden widths during the call and copies them.
            Some(n) => {
                raw.n_hidden = n;
                raw.widths = options.widths.as_ptr();
            }
            None => raw.widths = std::ptr::null(),
        }
        create(sde.keep.clone(), |o| unsafe {
            sys::scoresde_model_create_mlp(o, sde.raw(), dim, &raw)
        })
    }

    /// A trainable residual MLP score network of dimension `dim` for `sde`
    /// (copied): `blocks` pre-LayerNorm residual blocks of `width`.
    pub fn resmlp(sde: &Sde, dim: usize, options: &ResMlpOptions) -> Result<Model> {
        create(sde.keep.clone(), |o| unsafe {
            sys::scoresde_model_create_resmlp(o, sde.raw(), dim, &options.raw)
        })
    }

    /// Copy src's parameters (same kind and architecture) into this model.
    pub fn copy_params_from(&mut self, src: &Model) -> Result<()> {
        hooks::call(|| unsafe { sys::scoresde_model_copy_params(self.ptr.as_ptr(), src.raw()) })
    }

    /// The exact model of sum_k w_k N(mu_k, diag(v_k)): weights (K), means and
    /// variances (K x dim).
    pub fn gmm(sde: &Sde, dim: usize, weights: &[f64], means: &[f64], variances: &[f64])
        -> Result<Model> {
        let k = weights.len();
        want_len("means", means.len(), k * dim)?;
        want_len("variances", variances.len(), k * dim)?;
        create(sde.keep.clone(), |o| unsafe {
            sys::scoresde_model_create_gmm(o, sde.raw(), k, dim, weights.as_ptr(),
                                           means.as_ptr(), variances.as_ptr())
        })
    }

    fn with_hooks(sde: &Sde, main: Box<BatchFn>, divergence: Option<Box<BatchFn>>,
                  denoiser: bool, dim: usize) -> Result<Model> {
        let has_div = divergence.is_some();
        let h = Arc::new(ModelHooks { main, divergence });
        let user = user_ptr(&h);
        let mut keep = sde.keep.clone();
        keep.push(h as Keep);
        let div = if has_div { Some(div_tramp as unsafe extern "C" fn(_, _, _, _, _, _) -> _) } else { None };
        create(keep, |o| unsafe {
            if denoiser {
                sys::scoresde_model_create_denoiser_fn(o, sde.raw(), dim, Some(main_tramp), div, user)
            } else {
                sys::scoresde_model_create_score_fn(o, sde.raw(), dim, Some(main_tramp), div, user)
            }
        })
    }

    /// A model whose score is the closure (x, t, dim, out); `divergence`
    /// (x, t, dim, out with n values), if given, is its exact divergence.
    pub fn from_score<F>(sde: &Sde, dim: usize, score: F, divergence: Option<Box<BatchFn>>)
        -> Result<Model>
    where
        F: Fn(&[f64], &[f64], usize, &mut [f64]) -> HookResult + Send + Sync + 'static,
    {
        Self::with_hooks(sde, Box::new(score), divergence, false, dim)
    }

    /// A model from a denoiser closure (an estimate of E[x0 | x_t]), by Tweedie.
    pub fn from_denoiser<F>(sde: &Sde, dim: usize, denoiser: F, divergence: Option<Box<BatchFn>>)
        -> Result<Model>
    where
        F: Fn(&[f64], &[f64], usize, &mut [f64]) -> HookResult + Send + Sync + 'static,
    {
        Self::with_hooks(sde, Box::new(denoiser), divergence, true, dim)
    }

    /// Load a model file.
    pub fn load(path: impl AsRef<Path>) -> Result<Model> {
        let p = c_path(path.as_ref())?;
        create(vec![], |o| unsafe { sys::scoresde_model_load(o, p.as_ptr()) })
    }

    /// Load a model from a model file's bytes.
    pub fn from_bytes(data: &[u8]) -> Result<Model> {
        create(vec![], |o| unsafe {
            sys::scoresde_model_load_buffer(o, data.as_ptr() as *const c_void, data.len())
        })
    }

    /// Save atomically to a file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let p = c_path(path.as_ref())?;
        hooks::call(|| unsafe { sys::scoresde_model_save(self.raw(), p.as_ptr()) })
    }

    /// The bytes save() would write.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut data: *mut c_void = ptr::null_mut();
        let mut size = 0usize;
        hooks::call(|| unsafe { sys::scoresde_model_save_buffer(self.raw(), &mut data, &mut size) })?;
        // SAFETY: the library returned `size` bytes at `data`, ours to free.
        let v = unsafe { std::slice::from_raw_parts(data as *const u8, size) }.to_vec();
        unsafe { sys::scoresde_buffer_free(data) };
        Ok(v)
    }

    /// An independent copy (sharing the closures).
    pub fn try_clone(&self) -> Result<Model> {
        create(self.keep.clone(), |o| unsafe { sys::scoresde_model_clone(o, self.raw()) })
    }

    /// The data dimension D.
    pub fn dim(&self) -> usize {
        unsafe { sys::scoresde_model_dim(self.raw()) }
    }

    /// The kind (`ModelKind::Other` for a kind newer than this crate).
    pub fn kind(&self) -> ModelKind {
        ModelKind::from_raw(unsafe { sys::scoresde_model_kind(self.raw()) })
    }

    /// The model's own SDE, borrowed for as long as the model.
    pub fn sde(&self) -> SdeRef<'_> {
        SdeRef::borrowed(unsafe { sys::scoresde_model_sde(self.raw()) })
            .expect("a model always has an SDE")
    }

    /// An owned copy of the model's SDE (sharing its closures).
    pub fn sde_clone(&self) -> Result<Sde> {
        self.sde().try_clone_keeping(self.keep.clone())
    }

    fn eval(&self, f: unsafe extern "C" fn(*const sys::scoresde_model, *const f64, *const f64,
                                            usize, usize, *const sys::scoresde_cond,
                                            *mut f64) -> i32,
            x: &[f64], t: &[f64], cond: Option<&Cond>, out: &mut [f64], per_sample: bool)
        -> Result<()> {
        let n = t.len();
        let d = self.dim();
        want_len("x", x.len(), n * d)?;
        want_len("out", out.len(), if per_sample { n } else { n * d })?;
        let c = Cond::raw(cond, n)?;
        hooks::call(|| unsafe {
            f(self.raw(), x.as_ptr(), t.as_ptr(), n, d, Cond::ptr(&c), out.as_mut_ptr())
        })
    }

    /// The condition's features per sample C (0: unconditional).
    pub fn cond_dim(&self) -> usize {
        unsafe { sys::scoresde_model_cond_dim(self.raw()) }
    }
    /// K > 0 if the condition is an integer class label in [0, K), else 0.
    pub fn cond_classes(&self) -> usize {
        unsafe { sys::scoresde_model_cond_classes(self.raw()) }
    }
    /// Whether the model accepts the null condition.
    pub fn cond_null(&self) -> bool {
        unsafe { sys::scoresde_model_cond_null(self.raw()) != 0 }
    }

    /// The score s(x_i, t_i) of the batch x (t.len() rows of dim()) into out.
    pub fn score(&self, x: &[f64], t: &[f64], out: &mut [f64]) -> Result<()> {
        self.score_cond(x, t, None, out)
    }
    /// The score given the conditions of the batch (None: no condition).
    pub fn score_cond(&self, x: &[f64], t: &[f64], cond: Option<&Cond>, out: &mut [f64])
        -> Result<()> {
        self.eval(sys::scoresde_model_score_cond, x, t, cond, out, false)
    }
    /// The denoised estimate E[x0 | x_t = x] into out.
    pub fn predict_data(&self, x: &[f64], t: &[f64], out: &mut [f64]) -> Result<()> {
        self.predict_data_cond(x, t, None, out)
    }
    /// The denoised estimate with conditions (`scoresde_model_predict_data_cond`).
    pub fn predict_data_cond(&self, x: &[f64], t: &[f64], cond: Option<&Cond>,
                             out: &mut [f64]) -> Result<()> {
        self.eval(sys::scoresde_model_predict_data_cond, x, t, cond, out, false)
    }
    /// The noise estimate E[z | x_t = x] into out.
    pub fn predict_noise(&self, x: &[f64], t: &[f64], out: &mut [f64]) -> Result<()> {
        self.predict_noise_cond(x, t, None, out)
    }
    /// The noise prediction with conditions (`scoresde_model_predict_noise_cond`).
    pub fn predict_noise_cond(&self, x: &[f64], t: &[f64], cond: Option<&Cond>,
                              out: &mut [f64]) -> Result<()> {
        self.eval(sys::scoresde_model_predict_noise_cond, x, t, cond, out, false)
    }
    /// The exact divergence (n values).
    pub fn divergence(&self, x: &[f64], t: &[f64], out: &mut [f64]) -> Result<()> {
        self.divergence_cond(x, t, None, out)
    }
    /// The divergence of the score with conditions (`scoresde_model_divergence_cond`).
    pub fn divergence_cond(&self, x: &[f64], t: &[f64], cond: Option<&Cond>, out: &mut [f64])
        -> Result<()> {
        self.eval(sys::scoresde_model_divergence_cond, x, t, cond, out, true)
    }
    /// ln p_t(x_i) (mixtures only; n values).
    pub fn log_density(&self, x: &[f64], t: &[f64], out: &mut [f64]) -> Result<()> {
        self.log_density_cond(x, t, None, out)
    }
    /// ln p_t(x) with conditions (`scoresde_model_log_density_cond`).
    pub fn log_density_cond(&self, x: &[f64], t: &[f64], cond: Option<&Cond>,
                            out: &mut [f64]) -> Result<()> {
        self.eval(sys::scoresde_model_log_density_cond, x, t, cond, out, true)
    }

    /// Jacobian-vector products (ds/dx) v into jv; the score too if asked.
    pub fn jvp(&self, x: &[f64], t: &[f64], v: &[f64], score: Option<&mut [f64]>,
               jv: &mut [f64]) -> Result<()> {
        self.jvp_cond(x, t, None, v, score, jv)
    }
    /// The Jacobian-vector product with conditions (`scoresde_model_jvp_cond`).
    pub fn jvp_cond(&self, x: &[f64], t: &[f64], cond: Option<&Cond>, v: &[f64],
                    score: Option<&mut [f64]>, jv: &mut [f64]) -> Result<()> {
        let n = t.len();
        let d = self.dim();
        want_len("x", x.len(), n * d)?;
        want_len("v", v.len(), n * d)?;
        want_len("jv", jv.len(), n * d)?;
        let sp = match score {
            Some(s) => {
                want_len("score", s.len(), n * d)?;
                s.as_mut_ptr()
            }
            None => ptr::null_mut(),
        };
        let c = Cond::raw(cond, n)?;
        hooks::call(|| unsafe {
            sys::scoresde_model_jvp_cond(self.raw(), x.as_ptr(), t.as_ptr(), n, d, Cond::ptr(&c),
                                         v.as_ptr(), sp, jv.as_mut_ptr())
        })
    }

    /// Hutchinson estimates from `probes` (n x M x dim) into est (n).
    pub fn hutchinson(&self, x: &[f64], t: &[f64], probes: &[f64], m: usize, est: &mut [f64])
        -> Result<()> {
        self.hutchinson_cond(x, t, None, probes, m, est)
    }
    /// Hutchinson divergence estimates with conditions (`scoresde_model_hutchinson_cond`).
    pub fn hutchinson_cond(&self, x: &[f64], t: &[f64], cond: Option<&Cond>, probes: &[f64],
                           m: usize, est: &mut [f64]) -> Result<()> {
        let n = t.len();
        let d = self.dim();
        want_len("x", x.len(), n * d)?;
        want_len("probes", probes.len(), n * m * d)?;
        want_len("est", est.len(), n)?;
        let c = Cond::raw(cond, n)?;
        hooks::call(|| unsafe {
            sys::scoresde_model_hutchinson_cond(self.raw(), x.as_ptr(), t.as_ptr(), n, d,
                                                Cond::ptr(&c), probes.as_ptr(), m,
                                                est.as_mut_ptr())
        })
    }

    /// Exact samples of p_{t_i} (mixtures only) into out (n x dim).
    pub fn sample(&self, t: &[f64], seed: u64, first_sample: u64, out: &mut [f64]) -> Result<()> {
        self.sample_cond(t, None, seed, first_sample, out)
    }
    /// Exact samples of p_t with conditions (`scoresde_model_sample_cond`).
    pub fn sample_cond(&self, t: &[f64], cond: Option<&Cond>, seed: u64, first_sample: u64,
                       out: &mut [f64]) -> Result<()> {
        let n = t.len();
        let d = self.dim();
        want_len("out", out.len(), n * d)?;
        let c = Cond::raw(cond, n)?;
        hooks::call(|| unsafe {
            sys::scoresde_model_sample_cond(self.raw(), t.as_ptr(), n, d, Cond::ptr(&c), seed,
                                            first_sample, out.as_mut_ptr())
        })
    }

    /// Set the data transform x_data = shift + scale * x_model (dim() values
    /// each, scale > 0 and finite); saved with the model, copied by clone.
    pub fn set_transform(&mut self, shift: &[f64], scale: &[f64]) -> Result<()> {
        let d = self.dim();
        want_len("shift", shift.len(), d)?;
        want_len("scale", scale.len(), d)?;
        hooks::call(|| unsafe {
            sys::scoresde_model_set_transform(self.ptr.as_ptr(), shift.as_ptr(), scale.as_ptr())
        })
    }
    /// Remove the data transform (the identity).
    pub fn clear_transform(&mut self) -> Result<()> {
        hooks::call(|| unsafe {
            sys::scoresde_model_set_transform(self.ptr.as_ptr(), ptr::null(), ptr::null())
        })
    }
    /// The data transform as (shift, scale), or None when none is set.
    pub fn transform(&self) -> Option<(Vec<f64>, Vec<f64>)> {
        if unsafe { sys::scoresde_model_has_transform(self.raw()) } == 0 {
            return None;
        }
        let d = self.dim();
        let (mut shift, mut scale) = (vec![0.0; d], vec![0.0; d]);
        hooks::call(|| unsafe {
            sys::scoresde_model_get_transform(self.raw(), shift.as_mut_ptr(), scale.as_mut_ptr())
        })
        .ok()?;
        Some((shift, scale))
    }
    fn transform_rows(&self, x: &[f64]) -> Result<usize> {
        let d = self.dim();
        if d == 0 || !x.len().is_multiple_of(d) {
            return Err(Error::new(sys::SCORESDE_EDIM,
                                  format!("x has {} values, not whole rows of dimension {d}", x.len())));
        }
        Ok(x.len() / d)
    }
    /// Rows of dim() values from model units to data units, in place.
    pub fn to_data(&self, x: &mut [f64]) -> Result<()> {
        let n = self.transform_rows(x)?;
        hooks::call(|| unsafe { sys::scoresde_model_to_data(self.raw(), x.as_mut_ptr(), n) })
    }
    /// Rows from data units to model units, in place.
    pub fn from_data(&self, x: &mut [f64]) -> Result<()> {
        let n = self.transform_rows(x)?;
        hooks::call(|| unsafe { sys::scoresde_model_from_data(self.raw(), x.as_mut_ptr(), n) })
    }
    /// sum_j ln scale_j: ln p_data(x) = ln p_model(from_data(x)) - this.
    pub fn transform_log_det(&self) -> Result<f64> {
        let mut v = 0.0;
        hooks::call(|| unsafe { sys::scoresde_model_transform_log_det(self.raw(), &mut v) })?;
        Ok(v)
    }

    /// The number of trainable parameters; 0 for kinds without them.
    pub fn num_params(&self) -> usize {
        unsafe { sys::scoresde_model_num_params(self.raw()) }
    }
    /// A copy of the trainable parameters into theta (num_params values).
    pub fn get_params(&self, theta: &mut [f64]) -> Result<()> {
        hooks::call(|| unsafe {
            sys::scoresde_model_get_params(self.raw(), theta.as_mut_ptr(), theta.len())
        })
    }
    /// Replace the parameters (&mut: no other call may use the model meanwhile).
    pub fn set_params(&mut self, theta: &[f64]) -> Result<()> {
        hooks::call(|| unsafe {
            sys::scoresde_model_set_params(self.ptr.as_ptr(), theta.as_ptr(), theta.len())
        })
    }
    /// ADD to param_grad the gradient of sum score_grad . s(x, t).
    pub fn score_backward(&self, x: &[f64], t: &[f64], score_grad: &[f64],
                          param_grad: &mut [f64]) -> Result<()> {
        self.score_backward_cond(x, t, None, score_grad, param_grad)
    }
    /// Adds the parameter gradient of sum(score_grad * s) with conditions.
    pub fn score_backward_cond(&self, x: &[f64], t: &[f64], cond: Option<&Cond>,
                               score_grad: &[f64], param_grad: &mut [f64]) -> Result<()> {
        let n = t.len();
        let d = self.dim();
        want_len("x", x.len(), n * d)?;
        want_len("score_grad", score_grad.len(), n * d)?;
        let c = Cond::raw(cond, n)?;
        hooks::call(|| unsafe {
            sys::scoresde_model_score_backward_cond(self.raw(), x.as_ptr(), t.as_ptr(), n, d,
                                                    Cond::ptr(&c), score_grad.as_ptr(),
                                                    param_grad.as_mut_ptr(), param_grad.len())
        })
    }
    /// ADD to param_grad the gradient of sum w_im v_im^T (ds/dx) v_im.
    pub fn probe_backward(&self, x: &[f64], t: &[f64], probes: &[f64], m: usize,
                          weights: &[f64], param_grad: &mut [f64]) -> Result<()> {
        self.probe_backward_cond(x, t, None, probes, m, weights, param_grad)
    }
    /// Adds the parameter gradient of the probe sum with conditions.
    #[allow(clippy::too_many_arguments)]
    pub fn probe_backward_cond(&self, x: &[f64], t: &[f64], cond: Option<&Cond>,
                               probes: &[f64], m: usize, weights: &[f64],
                               param_grad: &mut [f64]) -> Result<()> {
        let n = t.len();
        let d = self.dim();
        want_len("x", x.len(), n * d)?;
        want_len("probes", probes.len(), n * m * d)?;
        want_len("weights", weights.len(), n * m)?;
        let c = Cond::raw(cond, n)?;
        hooks::call(|| unsafe {
            sys::scoresde_model_probe_backward_cond(self.raw(), x.as_ptr(), t.as_ptr(), n, d,
                                                    Cond::ptr(&c), probes.as_ptr(), m,
                                                    weights.as_ptr(), param_grad.as_mut_ptr(),
                                                    param_grad.len())
        })
    }
}

/// The conditions of a batch (scoresde_cond): rows of `dim` features, one per
/// sample or one for every sample, and an optional per-sample null mask.
#[derive(Clone, Copy, Debug)]
pub struct Cond<'a> {
    dim: usize,
    values: Option<&'a [f64]>,
    null_mask: Option<&'a [u8]>,
}

impl<'a> Cond<'a> {
    /// Rows of `dim` features: values.len() / dim rows (n, or 1 for all samples).
    pub fn rows(values: &'a [f64], dim: usize) -> Cond<'a> {
        Cond { dim, values: Some(values), null_mask: None }
    }
    /// The null condition for every sample (models that accept it).
    pub fn null(dim: usize) -> Cond<'a> {
        Cond { dim, values: None, null_mask: None }
    }
    /// Samples with a non-zero mask entry take the null condition.
    pub fn with_null_mask(mut self, mask: &'a [u8]) -> Cond<'a> {
        self.null_mask = Some(mask);
        self
    }

    pub(crate) fn raw(cond: Option<&Cond>, n: usize) -> Result<Option<sys::scoresde_cond>> {
        let Some(c) = cond else { return Ok(None) };
        if let Some(m) = c.null_mask {
            want_len("null_mask", m.len(), n)?;
        }
        let rows = match c.values {
            Some(v) if c.dim > 0 && v.len() == c.dim => 1,
            Some(v) => {
                want_len("cond", v.len(), n * c.dim)?;
                n
            }
            None => 0,
        };
        Ok(Some(sys::scoresde_cond {
            struct_size: core::mem::size_of::<sys::scoresde_cond>(),
            C: c.dim,
            c: c.values.map_or(ptr::null(), |v| v.as_ptr()),
            rows,
            null_mask: c.null_mask.map_or(ptr::null(), |m| m.as_ptr()),
        }))
    }

    pub(crate) fn ptr(raw: &Option<sys::scoresde_cond>) -> *const sys::scoresde_cond {
        raw.as_ref().map_or(ptr::null(), |c| c as *const _)
    }
}
