//! Result codes and their messages.

use std::os::raw::c_char;

/// The result of a cn2 call. `CN2_OK` is zero; every other value names one
/// kind of failure, and [`cn2_result_message`] describes it.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum cn2_result {
    /// Success.
    CN2_OK = 0,
    /// A required pointer argument was NULL.
    CN2_NULL_PARAMETER = 1,
    /// Text given was not valid UTF-8.
    CN2_INVALID_UTF8 = 2,
    /// Manifests could not be parsed (YAML/JSON syntax, or no object was usable).
    CN2_PARSE_ERROR = 3,
    /// An argument was out of range or inconsistent.
    CN2_INVALID_ARGUMENT = 4,
    /// Something named does not exist.
    CN2_NOT_FOUND = 5,
    /// A panic was caught at the API boundary; the handle is still usable.
    CN2_PANIC = 6,
    /// Some objects were applied and some rejected; the last error of the
    /// handle names the rejected ones.
    CN2_PARTIAL = 7,
    /// A flow table is full: the packet's flow could not be created.
    CN2_TABLE_FULL = 8,
    /// An internal failure (for example the allocator's store).
    CN2_INTERNAL = 9,
}

impl cn2_result {
    /// The message of a result code.
    pub fn message(self) -> &'static str {
        match self {
            cn2_result::CN2_OK => "success",
            cn2_result::CN2_NULL_PARAMETER => "a required pointer argument was NULL",
            cn2_result::CN2_INVALID_UTF8 => "text was not valid UTF-8",
            cn2_result::CN2_PARSE_ERROR => "the manifests could not be parsed",
            cn2_result::CN2_INVALID_ARGUMENT => "an argument was out of range or inconsistent",
            cn2_result::CN2_NOT_FOUND => "the object was not found",
            cn2_result::CN2_PANIC => "an internal panic was caught at the API boundary",
            cn2_result::CN2_PARTIAL => "some objects were rejected; see the handle's last error",
            cn2_result::CN2_TABLE_FULL => "the flow table is full",
            cn2_result::CN2_INTERNAL => "an internal failure",
        }
    }
}

/// Writes the message of `result` into `buf` (at most `len` bytes, always
/// NUL-terminated when `len > 0`) and returns the message's full length
/// without the NUL, so a caller can size its buffer: a return value `>= len`
/// means the message was cut. `buf` may be NULL when `len` is 0.
///
/// # Safety
/// `buf` must be NULL or point to `len` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cn2_result_message(
    result: cn2_result,
    buf: *mut c_char,
    len: usize,
) -> usize {
    crate::boundary::guard(0, || {
        let msg = result.message().as_bytes();
        if !buf.is_null() && len > 0 {
            let n = msg.len().min(len - 1);
            // SAFETY: the caller guarantees `len` writable bytes at `buf`.
            unsafe {
                std::ptr::copy_nonoverlapping(msg.as_ptr(), buf.cast::<u8>(), n);
                *buf.add(n) = 0;
            }
        }
        msg.len()
    })
}
