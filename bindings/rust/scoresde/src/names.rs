//! The library's names of methods, settings and setting values (1.1,
//! scoresde/common.h's Names): the one table the C library keeps, so this
//! crate copies none. Names are lower case ("dpmpp_sde", "restart_tmin").
use std::ffi::{c_char, c_int, CStr, CString};

use scoresde_sys as sys;

use crate::enums::{LossKind, LossSetting, Method, SamplerSetting, TrainerSetting};
use crate::error::{check, Error, Result};

/// A name the library returns: static storage, or NULL for an unknown id.
fn static_name(p: *const c_char) -> Option<&'static str> {
    if p.is_null() {
        return None;
    }
    // SAFETY: the library's names are NUL-terminated ASCII in static storage.
    unsafe { CStr::from_ptr(p) }.to_str().ok()
}

/// `name` as a C string (a name with a NUL byte is no name of the library's).
fn c_name(name: &str) -> Result<CString> {
    CString::new(name).map_err(|_| Error::new(sys::SCORESDE_EINVAL, format!("{name:?} holds a NUL")))
}

fn id_of(name: &str, f: unsafe extern "C" fn(*const c_char, *mut c_int) -> c_int) -> Result<i32> {
    let c = c_name(name)?;
    let mut id = 0;
    // SAFETY: c is a valid C string and id a valid out pointer.
    check(unsafe { f(c.as_ptr(), &mut id) })?;
    Ok(id)
}

/// Every name of a table whose ids run 1, 2, ... (up to the first without one).
fn all_names(f: unsafe extern "C" fn(c_int) -> *const c_char) -> Vec<(&'static str, i32)> {
    let mut out = Vec::new();
    // SAFETY: the name functions take any id.
    while let Some(name) = static_name(unsafe { f(out.len() as c_int + 1) }) {
        out.push((name, out.len() as i32 + 1));
    }
    out
}

macro_rules! named {
    ($ty:ident, $name_fn:ident, $id_fn:ident, $what:literal) => {
        impl $ty {
            #[doc = concat!("The library's name of the ", $what, " (None for one it does not know).")]
            pub fn name(self) -> Option<&'static str> {
                // SAFETY: takes any id.
                static_name(unsafe { sys::$name_fn(self.raw()) })
            }

            #[doc = concat!("The ", $what, " of a library name (EINVAL for an unknown name).")]
            pub fn from_name(name: &str) -> Result<Self> {
                id_of(name, sys::$id_fn).map(Self::from_raw)
            }

            #[doc = concat!("Every ", $what, " of the library, with its name, in id order.")]
            pub fn all() -> Vec<(&'static str, Self)> {
                all_names(sys::$name_fn).into_iter().map(|(n, id)| (n, Self::from_raw(id))).collect()
            }
        }
    };
}

named!(Method, scoresde_sampler_method_name, scoresde_sampler_method_id, "sampling method");
named!(SamplerSetting, scoresde_sampler_setting_name, scoresde_sampler_setting_id, "sampler setting");
named!(LossKind, scoresde_loss_kind_name, scoresde_loss_kind_id, "loss kind");
named!(LossSetting, scoresde_loss_setting_name, scoresde_loss_setting_id, "loss setting");
named!(TrainerSetting, scoresde_trainer_setting_name, scoresde_trainer_setting_id, "trainer setting");

impl SamplerSetting {
    /// The library's name of value `value` of this enum-valued setting
    /// ("reverse_diffusion" for Predictor's ReverseDiffusion), or None.
    pub fn value_name(self, value: i32) -> Option<&'static str> {
        // SAFETY: takes any setting and value.
        static_name(unsafe { sys::scoresde_sampler_value_name(self.raw(), value) })
    }

    /// The value of this enum-valued setting named `name` (EINVAL listing
    /// the names for an unknown one).
    pub fn value_from_name(self, name: &str) -> Result<i32> {
        let c = c_name(name)?;
        let mut v = 0;
        // SAFETY: c is a valid C string and v a valid out pointer.
        check(unsafe { sys::scoresde_sampler_value_id(self.raw(), c.as_ptr(), &mut v) })?;
        Ok(v)
    }
}

impl Method {
    /// Whether `setting` applies to this method: some call with a sampler of
    /// the method reads it (otherwise it is stored and ignored).
    pub fn setting_applies(self, setting: SamplerSetting) -> Result<bool> {
        let mut applies = 0;
        // SAFETY: applies is a valid out pointer.
        check(unsafe { sys::scoresde_sampler_setting_applies(self.raw(), setting.raw(), &mut applies) })?;
        Ok(applies != 0)
    }
}
