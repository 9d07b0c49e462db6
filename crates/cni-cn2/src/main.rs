//! `cn2`: the CNI plugin binary. Reads the CNI environment and the network
//! configuration on stdin, prints the result or a CNI error on stdout, and
//! exits non-zero on error. Logs go to stderr only.

use std::io::{Read, Write};

use cni_cn2::Cn2Plugin;
use cni_cn2::ipam::Delegate;
use cni_cn2::rtnl::Kernel;

fn main() {
    let mut stdin = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut stdin) {
        eprintln!("cn2: reading stdin: {e}");
    }
    let mut plugin = Cn2Plugin::new(Kernel, Delegate::default());
    let var = |k: &str| std::env::var(k).ok();
    let outcome = cn2_core::cni::run(&mut plugin, &var, &stdin);
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(&outcome.stdout).and_then(|_| out.flush()) {
        eprintln!("cn2: writing stdout: {e}");
    }
    if outcome.exit_code != 0 {
        if let Ok(text) = std::str::from_utf8(&outcome.stdout) {
            eprintln!("cn2: {}", text.trim());
        }
    }
    std::process::exit(outcome.exit_code);
}
