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

/// What went wrong, by C status code ([`Error::kind`]).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// SCORESDE_EINVAL: an invalid argument.
    InvalidArgument,
    /// SCORESDE_ENOMEM: out of memory.
    OutOfMemory,
    /// SCORESDE_EDIM: mismatched dimensions or lengths.
    Dimension,
    /// SCORESDE_ENUMERIC: a non-finite or failed computation.
    Numeric,
    /// SCORESDE_ECALLBACK: a hook failed or asked to stop.
    Callback,
    /// SCORESDE_EIO: a file could not be read or written.
    Io,
    /// SCORESDE_ECORRUPT: a malformed file or buffer.
    Corrupt,
    /// SCORESDE_EVERSION: an unsupported format or library version.
    Version,
    /// SCORESDE_EUNSUPPORTED: not supported for this object.
    Unsupported,
    /// SCORESDE_EBUSY: the object is in use.
    Busy,
    /// A status this crate does not name (from a newer library).
    Other(i32),
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
    /// An error with a C status (negative) and a message.
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

    /// The kind of failure, from the status.
    pub fn kind(&self) -> ErrorKind {
        match self.status {
            sys::SCORESDE_EINVAL => ErrorKind::InvalidArgument,
            sys::SCORESDE_ENOMEM => ErrorKind::OutOfMemory,
            sys::SCORESDE_EDIM => ErrorKind::Dimension,
            sys::SCORESDE_ENUMERIC => ErrorKind::Numeric,
            sys::SCORESDE_ECALLBACK => ErrorKind::Callback,
            sys::SCORESDE_EIO => ErrorKind::Io,
            sys::SCORESDE_ECORRUPT => ErrorKind::Corrupt,
            sys::SCORESDE_EVERSION => ErrorKind::Version,
            sys::SCORESDE_EUNSUPPORTED => ErrorKind::Unsupported,
            sys::SCORESDE_EBUSY => ErrorKind::Busy,
            other => ErrorKind::Other(other),
        }
    }

    /// The status's C name, e.g. "SCORESDE_EINVAL"; "SCORESDE_UNKNOWN" for a newer code.
    pub fn status_name(&self) -> &'static str {
        match self.kind() {
            ErrorKind::InvalidArgument => "SCORESDE_EINVAL",
            ErrorKind::OutOfMemory => "SCORESDE_ENOMEM",
            ErrorKind::Dimension => "SCORESDE_EDIM",
            ErrorKind::Numeric => "SCORESDE_ENUMERIC",
            ErrorKind::Callback => "SCORESDE_ECALLBACK",
            ErrorKind::Io => "SCORESDE_EIO",
            ErrorKind::Corrupt => "SCORESDE_ECORRUPT",
            ErrorKind::Version => "SCORESDE_EVERSION",
            ErrorKind::Unsupported => "SCORESDE_EUNSUPPORTED",
            ErrorKind::Busy => "SCORESDE_EBUSY",
            ErrorKind::Other(_) => "SCORESDE_UNKNOWN",
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
