//! `cn2-ipam`: the CNI IPAM plugin. Reads the CNI environment and the
//! configuration on stdin, prints the result or a CNI error on stdout and
//! exits non-zero on error. Logs go to stderr only.

use std::io::{Read, Write};
use std::time::Duration;

use cni_ipam::STEP_DELAY_ENV;
use cni_ipam::plugin::IpamPlugin;

fn main() {
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
