//! Running `cn2ctl` as a process in tests.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `cn2ctl` with `args` and optional stdin.
pub fn cn2ctl(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cn2ctl"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cn2ctl runs");
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// `cn2ctl ARGS...`, which must succeed; its output parsed as JSON.
fn json_of(all: &[&str]) -> Value {
    let out = cn2ctl(all, None);
    assert!(
        out.status.success(),
        "cn2ctl {all:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("cn2ctl {all:?} printed no JSON: {e}"))
}

/// `cn2ctl flow PATH -o json ARGS...`, which must succeed; the parsed output.
pub fn flow_json(path: &str, args: &[&str]) -> Value {
    let mut all = vec!["flow", path, "-o", "json"];
    all.extend_from_slice(args);
    json_of(&all)
}

/// `cn2ctl plan -o json ARGS...`, which must succeed; the parsed output.
pub fn plan_json(args: &[&str]) -> Value {
    let mut all = vec!["plan", "-o", "json"];
    all.extend_from_slice(args);
    json_of(&all)
}

/// The plan entry of service `ns/name`.
pub fn service<'a>(plan: &'a Value, id: &str) -> &'a Value {
    plan["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            format!(
                "{}/{}",
                s["namespace"].as_str().unwrap(),
                s["name"].as_str().unwrap()
            ) == id
        })
        .unwrap_or_else(|| panic!("service {id} not in plan"))
}

/// A service's external network and addresses as strings.
pub fn external(plan: &Value, id: &str) -> (Option<String>, Vec<String>) {
    let s = service(plan, id);
    let net = s["externalNetwork"].as_str().map(String::from);
    let ips = s["externalIPs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    (net, ips)
}

/// Writes `files` (name, text) into a new temporary directory.
pub fn write_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}
