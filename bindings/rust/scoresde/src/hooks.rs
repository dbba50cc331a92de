//! Rust closures behind the C callbacks. A closure's panic is caught at the
//! C boundary (unwinding through C is undefined behaviour): the callback
//! returns 1, the C call stops with SCORESDE_ECALLBACK, and the panic resumes
//! in the calling thread once the C call has returned. A closure returning
//! Err(message) stops the call the same way; the Error then carries that message.
use core::ffi::{c_int, c_void};
use std::any::Any;
use std::cell::RefCell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::error::{check, Error, Result};

/// What a hook returns: Ok, or Err with a message for the caller's Error.
pub type HookResult = std::result::Result<(), String>;

enum Failure {
    Panic(Box<dyn Any + Send>),
    Message(String),
}

thread_local! {
    // The library calls hooks on the thread that made the library call, so
    // the failure is found there; no state is shared between threads.
    static FAILURE: RefCell<Option<Failure>> = const { RefCell::new(None) };
}

/// Run a closure inside a C callback: 0 on success, 1 after a panic or Err.
pub(crate) fn guard(f: impl FnOnce() -> HookResult) -> c_int {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => 0,
        Ok(Err(msg)) => {
            FAILURE.with(|s| *s.borrow_mut() = Some(Failure::Message(msg)));
            1
        }
        Err(payload) => {
            FAILURE.with(|s| *s.borrow_mut() = Some(Failure::Panic(payload)));
            1
        }
    }
}

/// Make a C call that may run hooks: a hook's panic resumes here; a hook's
/// Err message is added to the library's ECALLBACK error.
pub(crate) fn call(status: impl FnOnce() -> c_int) -> Result<()> {
    FAILURE.with(|s| s.borrow_mut().take());
    let st = status();
    match FAILURE.with(|s| s.borrow_mut().take()) {
        Some(Failure::Panic(p)) => resume_unwind(p),
        Some(Failure::Message(m)) if st < 0 => {
            let e = Error::last(st);
            Err(Error::new(e.status(), format!("{} ({m})", e.message())))
        }
        _ => check(st),
    }
}

/// The boxed closures a handle's C object points to; shared (Arc) by the
/// handle, its clones and every model built on it, so they outlive all users.
pub(crate) type Keep = Arc<dyn Any + Send + Sync>;

pub(crate) fn user_ptr<T>(arc: &Arc<T>) -> *mut c_void {
    Arc::as_ptr(arc) as *mut c_void
}

/// # Safety: `p` points to `n` valid doubles (or n == 0).
pub(crate) unsafe fn slice<'a>(p: *const f64, n: usize) -> &'a [f64] {
    if n == 0 || p.is_null() {
        &[]
    } else {
        std::slice::from_raw_parts(p, n)
    }
}

/// # Safety: `p` points to `n` writable doubles that nothing else aliases.
pub(crate) unsafe fn slice_mut<'a>(p: *mut f64, n: usize) -> &'a mut [f64] {
    if n == 0 || p.is_null() {
        &mut []
    } else {
        std::slice::from_raw_parts_mut(p, n)
    }
}
