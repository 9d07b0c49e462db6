//! Helpers for the process-level tests: run the built `cn2-ipam` binary with
//! a CNI environment and a configuration on stdin.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// The plugin binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_cn2-ipam");

/// A network configuration for `cn2-ipam` in `version` with the given `ipam`
/// fields (without braces) and `dataDir` set to `data`.
pub fn conf(version: &str, name: &str, data: &Path, ipam: &str) -> String {
    format!(
        r#"{{"cniVersion":"{version}","name":"{name}","type":"bridge","ipam":{{"type":"cn2-ipam","dataDir":{dir},{ipam}}}}}"#,
        dir = Value::from(data.to_str().unwrap())
    )
}

/// The environment of one verb for container `cid`, interface `eth0`.
pub fn env(cmd: &str, cid: &str) -> Vec<(String, String)> {
    let mut v = vec![
        ("CNI_COMMAND".to_string(), cmd.to_string()),
        ("CNI_PATH".to_string(), "/usr/lib/cni".to_string()),
    ];
    if matches!(cmd, "ADD" | "DEL" | "CHECK") {
        v.push(("CNI_CONTAINERID".into(), cid.into()));
        v.push(("CNI_IFNAME".into(), "eth0".into()));
    }
    if matches!(cmd, "ADD" | "CHECK") {
        v.push(("CNI_NETNS".into(), "/var/run/netns/test".into()));
    }
    v
}

/// Starts the plugin with exactly `vars` as its environment and `stdin`.
pub fn spawn(vars: &[(String, String)], stdin: &str) -> Child {
    let mut child = Command::new(BIN)
        .env_clear()
        .envs(vars.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cn2-ipam");
    let mut input = child.stdin.take().unwrap();
    // The plugin may exit before reading (a killed one), so ignore EPIPE.
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    child
}

/// The plugin's answer: stdout parsed as JSON (`Null` if empty), the exit
/// code, and stderr.
pub struct Answer {
    /// stdout as JSON.
    pub json: Value,
    /// The exit code.
    pub code: i32,
    /// stderr.
    pub stderr: String,
}

/// Waits for a started plugin.
pub fn finish(child: Child) -> Answer {
    let out = child.wait_with_output().expect("wait for cn2-ipam");
    let json = if out.stdout.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    };
    Answer {
        json,
        code: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs one verb to completion.
pub fn run(vars: &[(String, String)], stdin: &str) -> Answer {
    finish(spawn(vars, stdin))
}

/// ADD for `cid`, asserting success; returns the addresses.
pub fn add_ok(cid: &str, stdin: &str) -> Vec<String> {
    let a = run(&env("ADD", cid), stdin);
    assert_eq!(a.code, 0, "ADD {cid}: {} {}", a.json, a.stderr);
    a.json["ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ip| ip["address"].as_str().unwrap().to_string())
        .collect()
}

/// Asserts an error answer with `code` on stdout and a non-zero exit.
pub fn assert_error(a: &Answer, code: u64) {
    assert_ne!(a.code, 0, "expected failure: {}", a.json);
    assert_eq!(
        a.json["code"].as_u64(),
        Some(code),
        "{} / {}",
        a.json,
        a.stderr
    );
    assert!(a.json["msg"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(a.json["cniVersion"].is_string());
}

/// Every file below `dir`, recursively.
pub fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(all_files(&p));
            }
            out.push(p);
        }
    }
    out
}
