//! A small plugin runner: validate the request, dispatch the verb, render
//! stdout.
//!
//! [`run`] is pure: it takes the environment through a lookup function and
//! stdin as bytes, and returns what to print on stdout with the exit code. A
//! plugin binary's `main` feeds it the process environment and stdin, writes
//! [`Outcome::stdout`] and exits with [`Outcome::exit_code`]; its own logs
//! go to stderr.

use serde_json::Value;

use super::config::NetConf;
use super::env::{Command, Environment};
use super::result::CniResult;
use super::{CniError, LATEST_VERSION, SUPPORTED_VERSIONS, is_supported, version_at_least};

/// One validated invocation: the environment and the configuration.
#[derive(Debug, Clone)]
pub struct Request {
    /// The environment.
    pub env: Environment,
    /// The configuration from stdin.
    pub config: NetConf,
}

impl Request {
    /// The `cniVersion` the answer is given in.
    pub fn version(&self) -> &str {
        &self.config.cni_version
    }
}

/// What a CNI plugin does for each verb. VERSION is answered by [`run`].
pub trait Plugin {
    /// ADD: attach and return the result.
    fn add(&mut self, req: &Request) -> Result<CniResult, CniError>;
    /// DEL: detach; must succeed when repeated or when nothing is attached.
    fn del(&mut self, req: &Request) -> Result<(), CniError>;
    /// CHECK: verify that the attachment is as ADD left it.
    fn check(&mut self, req: &Request) -> Result<(), CniError>;
    /// GC: release everything not held by `config.valid_attachments`.
    fn gc(&mut self, req: &Request) -> Result<(), CniError>;
    /// STATUS: succeed if ADDs can be served, else code 50 or 51.
    fn status(&mut self, req: &Request) -> Result<(), CniError>;
}

/// What to print on stdout and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The bytes for stdout (a result, a version list, an error, or nothing).
    pub stdout: Vec<u8>,
    /// 0 on success, 1 after an error.
    pub exit_code: i32,
}

impl Outcome {
    fn ok(value: Option<Value>) -> Outcome {
        let stdout = value.map(line).unwrap_or_default();
        Outcome {
            stdout,
            exit_code: 0,
        }
    }

    fn error(e: &CniError, version: &str) -> Outcome {
        Outcome {
            stdout: line(e.to_json(version)),
            exit_code: 1,
        }
    }
}

fn line(v: Value) -> Vec<u8> {
    let mut out = serde_json::to_vec(&v).expect("JSON values serialise");
    out.push(b'\n');
    out
}

/// The `cniVersion` named in stdin if it is a supported one, else the latest:
/// the version an error is reported in.
fn reply_version(stdin: &[u8]) -> String {
    serde_json::from_slice::<Value>(stdin)
        .ok()
        .and_then(|v| {
            v.get("cniVersion")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .filter(|v| is_supported(v))
        .unwrap_or_else(|| LATEST_VERSION.to_string())
}

/// Runs one CNI invocation against `plugin`.
///
/// Order of checks, as the reference `skel` does: the environment (code 4),
/// then for VERSION the answer; otherwise the configuration (code 6 bad JSON,
/// 1 unsupported version, 7 invalid), the verb's minimum version (CHECK
/// 0.4.0, GC and STATUS 1.1.0; code 1), then the plugin.
pub fn run(plugin: &mut dyn Plugin, var: &dyn Fn(&str) -> Option<String>, stdin: &[u8]) -> Outcome {
    let version = reply_version(stdin);
    let env = match Environment::from_vars(var) {
        Ok(e) => e,
        Err(e) => return Outcome::error(&e, &version),
    };
    if env.command == Command::Version {
        return version_answer(stdin);
    }
    let config = match NetConf::parse(stdin) {
        Ok(c) => c,
        Err(e) => return Outcome::error(&e, &version),
    };
    let minimum = match env.command {
        Command::Check => Some("0.4.0"),
        Command::Gc | Command::Status => Some("1.1.0"),
        _ => None,
    };
    if let Some(min) = minimum {
        if !version_at_least(&config.cni_version, min) {
            let e = CniError::incompatible(
                format!("config version does not allow {}", env.command),
                format!("{} needs cniVersion {min} or later", env.command),
            );
            return Outcome::error(&e, &version);
        }
    }
    let req = Request { env, config };
    let answer = match req.env.command {
        Command::Add => plugin
            .add(&req)
            .and_then(|r| r.to_json(req.version()).map(Some)),
        Command::Del => plugin.del(&req).map(|_| None),
        Command::Check => plugin.check(&req).map(|_| None),
        Command::Gc => plugin.gc(&req).map(|_| None),
        Command::Status => plugin.status(&req).map(|_| None),
        Command::Version => unreachable!("VERSION is answered above"),
    };
    match answer {
        Ok(v) => Outcome::ok(v),
        Err(e) => Outcome::error(&e, req.version()),
    }
}

/// The VERSION answer: in the requested version when stdin names a
/// supported one, else the latest; stdin may be empty.
fn version_answer(stdin: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(stdin);
    if !text.trim().is_empty() {
        if let Err(e) = serde_json::from_slice::<Value>(stdin) {
            let e = CniError::decode(format!("error decoding VERSION request: {e}"), "");
            return Outcome::error(&e, LATEST_VERSION);
        }
    }
    let version = reply_version(stdin);
    Outcome::ok(Some(serde_json::json!({
        "cniVersion": version,
        "supportedVersions": SUPPORTED_VERSIONS,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A plugin that records the verbs it sees and answers with one address.
    #[derive(Default)]
    struct Fake {
        seen: Vec<Command>,
        fail_status: bool,
    }

    impl Plugin for Fake {
        fn add(&mut self, req: &Request) -> Result<CniResult, CniError> {
            self.seen.push(req.env.command);
            Ok(CniResult {
                ips: vec![super::super::IpConfig {
                    interface: None,
                    address: "10.0.0.2/24".parse().unwrap(),
                    gateway: Some("10.0.0.1".parse().unwrap()),
                }],
                ..CniResult::default()
            })
        }
        fn del(&mut self, req: &Request) -> Result<(), CniError> {
            self.seen.push(req.env.command);
            Ok(())
        }
        fn check(&mut self, req: &Request) -> Result<(), CniError> {
            self.seen.push(req.env.command);
            Ok(())
        }
        fn gc(&mut self, req: &Request) -> Result<(), CniError> {
            self.seen.push(req.env.command);
            Ok(())
        }
        fn status(&mut self, req: &Request) -> Result<(), CniError> {
            self.seen.push(req.env.command);
            if self.fail_status {
                Err(CniError::not_available("full", ""))
            } else {
                Ok(())
            }
        }
    }

    fn go(p: &mut Fake, cmd: &str, stdin: &str) -> (Value, i32) {
        let mut m = HashMap::new();
        for (k, v) in [
            ("CNI_COMMAND", cmd),
            ("CNI_CONTAINERID", "c1"),
            ("CNI_NETNS", "/proc/1/ns/net"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_PATH", "/usr/lib/cni"),
        ] {
            m.insert(k.to_string(), v.to_string());
        }
        let o = run(p, &move |k| m.get(k).cloned(), stdin.as_bytes());
        let v = if o.stdout.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&o.stdout).unwrap()
        };
        (v, o.exit_code)
    }

    fn conf(v: &str) -> String {
        format!(r#"{{"cniVersion":"{v}","name":"n","type":"fake"}}"#)
    }

    #[test]
    fn add_answers_in_the_request_version() {
        for v in SUPPORTED_VERSIONS {
            let (out, code) = go(&mut Fake::default(), "ADD", &conf(v));
            assert_eq!(code, 0);
            assert_eq!(out["cniVersion"], v);
            assert_eq!(
                out["ips"][0].get("version").is_some(),
                !version_at_least(v, "1.0.0")
            );
        }
    }

    #[test]
    fn version_with_and_without_stdin() {
        let (out, code) = go(&mut Fake::default(), "VERSION", "");
        assert_eq!(code, 0);
        assert_eq!(out["cniVersion"], LATEST_VERSION);
        assert_eq!(out["supportedVersions"].as_array().unwrap().len(), 5);
        let (out, _) = go(&mut Fake::default(), "VERSION", r#"{"cniVersion":"0.3.1"}"#);
        assert_eq!(out["cniVersion"], "0.3.1");
        let (out, code) = go(&mut Fake::default(), "VERSION", "{");
        assert_eq!((out["code"].as_u64(), code), (Some(6), 1));
    }

    #[test]
    fn errors_go_to_stdout_with_codes() {
        let (out, code) = go(&mut Fake::default(), "ADD", "{bad");
        assert_eq!((out["code"].as_u64(), code), (Some(6), 1));
        assert_eq!(out["cniVersion"], LATEST_VERSION);
        let (out, _) = go(&mut Fake::default(), "ADD", &conf("0.2.0"));
        assert_eq!(out["code"], 1);
        let (out, _) = go(&mut Fake::default(), "CHECK", &conf("0.3.1"));
        assert_eq!(out["code"], 1);
        assert_eq!(out["cniVersion"], "0.3.1");
        let (out, _) = go(&mut Fake::default(), "GC", &conf("1.0.0"));
        assert_eq!(out["code"], 1);
        let mut f = Fake {
            fail_status: true,
            ..Fake::default()
        };
        let (out, code) = go(&mut f, "STATUS", &conf("1.1.0"));
        assert_eq!((out["code"].as_u64(), code), (Some(50), 1));
        let o = run(&mut Fake::default(), &|_| None, b"");
        assert_eq!(o.exit_code, 1);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["code"], 4);
    }

    #[test]
    fn verbs_dispatch() {
        let mut f = Fake::default();
        for cmd in ["ADD", "CHECK", "DEL", "GC", "STATUS"] {
            let (out, code) = go(&mut f, cmd, &conf("1.1.0"));
            assert_eq!(code, 0, "{cmd}: {out}");
        }
        assert_eq!(
            f.seen,
            [
                Command::Add,
                Command::Check,
                Command::Del,
                Command::Gc,
                Command::Status
            ]
        );
    }
}
