//! `cn2-ipam`: the CNI IPAM plugin. Reads the CNI environment and the
//! configuration on stdin, prints the result or a CNI error on stdout and
//! exits non-zero on error. Logs go to stderr only.

// The C entry point instead of Rust's `main`: a plugin process lives for one
// call, and the runtime set-up before `main` (the main thread's stack guard,
// found by reading /proc/self/maps, and its signal stack) is a tenth of its
// start-up. SIGPIPE is ignored as that set-up would (a runtime that stops
// reading gets no signal death, just a failed write); a panic aborts, as a
// panic out of `main` would exit, without a CNI result either way.
#![cfg_attr(not(test), no_main)]

/// The process entry point (see the note at the top).
#[cfg(not(test))]
#[unsafe(no_mangle)]
extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    use cni_ipam::STEP_DELAY_ENV;
    use cni_ipam::plugin::IpamPlugin;
    use std::io::{Read, Write};
    use std::time::Duration;

    // SAFETY: setting a signal's disposition to SIG_IGN before any thread
    // exists has no other effect.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let mut stdin = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut stdin) {
        eprintln!("cn2-ipam: reading stdin: {e}");
    }
    let mut plugin = IpamPlugin {
        step_delay: std::env::var(STEP_DELAY_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_micros),
    };
    let var = |k: &str| std::env::var(k).ok();
    let outcome = cn2_core::cni::run(&mut plugin, &var, &stdin);
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(&outcome.stdout).and_then(|_| out.flush()) {
        eprintln!("cn2-ipam: writing stdout: {e}");
    }
    if outcome.exit_code != 0 {
        if let Ok(text) = std::str::from_utf8(&outcome.stdout) {
            eprintln!("cn2-ipam: {}", text.trim());
        }
    }
    std::process::exit(outcome.exit_code);
}
