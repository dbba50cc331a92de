use core::ffi::{c_char, c_int};
use std::ffi::CStr;
use std::fmt;

use scoresde_sys as sys;

/// A failed libscoresde call: the C status and the library's message
/// (scoresde_last_error() of the failing call), or a length check of this crate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    status: i32,
    message: String,
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn cstr(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: the library returns NUL-terminated strings that stay valid
    // until the next failing call on this thread; we copy at once.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

impl Error {
    pub fn new(status: i32, message: impl Into<String>) -> Self {
        Error { status, message: message.into() }
    }

    /// The error of the calling thread's last failed C call.
    pub(crate) fn last(status: c_int) -> Self {
        // SAFETY: scoresde_last_error never returns NULL and is thread-local.
        Error::new(status, cstr(unsafe { sys::scoresde_last_error() }))
    }

    /// The C status code (negative, one of `scoresde_sys::SCORESDE_E*`; a
    /// newer library may return codes this crate does not name).
    pub fn status(&self) -> i32 {
        self.status
    }

    /// The library's detailed message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The status's C name, e.g. "SCORESDE_EINVAL"; "SCORESDE_UNKNOWN" for a newer code.
    pub fn status_name(&self) -> &'static str {
        match self.status {
            sys::SCORESDE_EINVAL => "SCORESDE_EINVAL",
            sys::SCORESDE_ENOMEM => "SCORESDE_ENOMEM",
            sys::SCORESDE_EDIM => "SCORESDE_EDIM",
            sys::SCORESDE_ENUMERIC => "SCORESDE_ENUMERIC",
            sys::SCORESDE_ECALLBACK => "SCORESDE_ECALLBACK",
            sys::SCORESDE_EIO => "SCORESDE_EIO",
            sys::SCORESDE_ECORRUPT => "SCORESDE_ECORRUPT",
            sys::SCORESDE_EVERSION => "SCORESDE_EVERSION",
            sys::SCORESDE_EUNSUPPORTED => "SCORESDE_EUNSUPPORTED",
            sys::SCORESDE_EBUSY => "SCORESDE_EBUSY",
            _ => "SCORESDE_UNKNOWN",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status_name(), self.message)
    }
}

impl std::error::Error for Error {}

/// Turn a C status into a Result (with the thread's message on failure).
pub(crate) fn check(status: c_int) -> Result<()> {
    if status < 0 {
        Err(Error::last(status))
    } else {
        Ok(())
    }
}

/// A length check of this crate, reported like the library's EDIM.
pub(crate) fn want_len(name: &str, got: usize, expected: usize) -> Result<()> {
    if got != expected {
        return Err(Error::new(
            sys::SCORESDE_EDIM,
            format!("{name} has {got} values, expected {expected}"),
        ));
    }
    Ok(())
}
