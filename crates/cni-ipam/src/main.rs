//! `cn2-ipam`: the CNI IPAM plugin. Reads the CNI environment and the
//! configuration on stdin, prints the result or a CNI error on stdout and
//! exits non-zero on error. Logs go to stderr only.

#![cfg_attr(not(test), no_main)]

/// The process entry point, in place of Rust's `main` for a faster start
/// (see [`cn2_core::cni::serve`]).
#[cfg(not(test))]
#[unsafe(no_mangle)]
extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    let mut plugin = cni_ipam::plugin::IpamPlugin {
        step_delay: std::env::var(cni_ipam::STEP_DELAY_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
            .map(std::time::Duration::from_micros),
    };
    cn2_core::cni::serve("cn2-ipam", &mut plugin)
}
