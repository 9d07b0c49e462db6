//! The process around a [`Plugin`]: what a plugin binary's entry point does
//! with the real standard streams, environment and exit status.

use std::io::{Read, Write};

use super::plugin::{Plugin, run};

/// Runs `plugin` as the process it is: reads the configuration from stdin,
/// the request from the environment, writes the answer to stdout, repeats an
/// error on stderr prefixed with `name`, and exits with the runner's status.
///
/// For an entry point that replaces Rust's `main` (`#![no_main]` with an
/// `extern "C" fn main`): a plugin process lives for one call, and the
/// runtime's set-up before `main` (the main thread's stack guard, found by
/// reading `/proc/self/maps`, and its signal stack) is about a tenth of its
/// start-up. What of that set-up matters here is done first: SIGPIPE is
/// ignored, so a runtime that stops reading makes a write fail instead of
/// killing the plugin. (A panic then aborts; out of Rust's `main` it would
/// exit with 101; neither gives a CNI result.)
pub fn serve(name: &str, plugin: &mut dyn Plugin) -> ! {
    // SAFETY: setting a signal's disposition to SIG_IGN has no other
    // effect; children started with `std::process::Command` get the default
    // back.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let mut stdin = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut stdin) {
        eprintln!("{name}: reading stdin: {e}");
    }
    let var = |k: &str| std::env::var(k).ok();
    let outcome = run(plugin, &var, &stdin);
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(&outcome.stdout).and_then(|_| out.flush()) {
        eprintln!("{name}: writing stdout: {e}");
    }
    if outcome.exit_code != 0 {
        if let Ok(text) = std::str::from_utf8(&outcome.stdout) {
            eprintln!("{name}: {}", text.trim());
        }
    }
    std::process::exit(outcome.exit_code);
}
