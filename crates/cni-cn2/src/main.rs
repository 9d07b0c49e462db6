//! `cn2`: the CNI plugin binary. Reads the CNI environment and the network
//! configuration on stdin, prints the result or a CNI error on stdout, and
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
    use cni_cn2::{Cn2Plugin, ipam::Delegate, rtnl::Kernel};
    cn2_core::cni::serve("cn2", &mut Cn2Plugin::new(Kernel, Delegate::default()))
}
