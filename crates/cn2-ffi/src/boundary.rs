//! The panic boundary and pointer helpers shared by every export.
//!
//! No panic may unwind into C: every exported function runs its body through
//! [`guard`], which turns a panic into the function's failure value
//! (`CN2_PANIC`, NULL, 0).

use std::ffi::CStr;
use std::os::raw::c_char;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::cn2_result;

/// Runs `body`; a panic yields `on_panic`.
///
/// Always inlined: `catch_unwind` costs nothing until a panic, but as a
/// function of its own the guard would take the body's captures through
/// memory and add a call to every export (half the cost of a member
/// selection).
#[inline(always)]
pub(crate) fn guard<R>(on_panic: R, body: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(on_panic)
}

/// Runs `body` for functions returning a [`cn2_result`].
#[inline(always)]
pub(crate) fn guard_result(body: impl FnOnce() -> Result<(), cn2_result>) -> cn2_result {
    guard(cn2_result::CN2_PANIC, || match body() {
        Ok(()) => cn2_result::CN2_OK,
        Err(e) => e,
    })
}

/// A `(pointer, length)` text argument as `&str`.
///
/// # Safety
/// `ptr` must be NULL or point to `len` readable bytes that outlive `'a`.
pub(crate) unsafe fn text<'a>(ptr: *const c_char, len: usize) -> Result<&'a str, cn2_result> {
    if ptr.is_null() {
        return Err(cn2_result::CN2_NULL_PARAMETER);
    }
    // SAFETY: non-null, and the caller guarantees `len` readable bytes.
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) };
    std::str::from_utf8(bytes).map_err(|_| cn2_result::CN2_INVALID_UTF8)
}

/// A NUL-terminated text argument as `&str`.
///
/// # Safety
/// `ptr` must be NULL or point to a NUL-terminated string that outlives `'a`.
#[allow(dead_code)]
pub(crate) unsafe fn c_text<'a>(ptr: *const c_char) -> Result<&'a str, cn2_result> {
    if ptr.is_null() {
        return Err(cn2_result::CN2_NULL_PARAMETER);
    }
    // SAFETY: non-null and NUL-terminated per the caller.
    unsafe { CStr::from_ptr(ptr) }
        .to_str()
        .map_err(|_| cn2_result::CN2_INVALID_UTF8)
}

/// Hands a Rust string to C as a NUL-terminated `char *` with its length
/// (without the NUL); C frees it with `cn2_string_free`.
///
/// # Safety
/// `out` and `out_len` must be NULL-checked by the caller and writable.
pub(crate) unsafe fn give_string(s: String, out: *mut *mut c_char, out_len: *mut usize) {
    let len = s.len();
    // Interior NULs cannot occur in JSON or in our messages; replace defensively.
    let c = std::ffi::CString::new(s.replace('\0', " ")).expect("no interior NUL");
    // SAFETY: the caller checked both pointers.
    unsafe {
        *out = c.into_raw();
        *out_len = len;
    }
}
