//! Delegation to the IPAM plugin named in `ipam.type`.
//!
//! As the CNI specification describes, the main plugin runs the IPAM plugin
//! found in `CNI_PATH` with the same environment (its own `CNI_COMMAND` for
//! the verb) and the whole network configuration on stdin. ADD answers with
//! a result in the request's version; the other verbs answer with nothing.
//! An IPAM error object is passed on with its code, message and details.
//!
//! [`Delegate`] makes one exception: `cn2-ipam`, the IPAM plugin built from
//! this workspace, runs inside the `cn2` process. It is the same code, on the
//! same store (`dataDir`, with the same locks), as the `cn2-ipam` binary, so
//! attachments made either way are one set of reservations; what is saved
//! is a process start per verb. Every other `ipam.type` is executed from
//! `CNI_PATH`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};

use cn2_core::cni::{CniError, CniResult, Command, Plugin, Request};
use cni_ipam::plugin::IpamPlugin;
use cni_ipam::store::PendingSync;
use serde_json::Value;

/// A failure to run the IPAM plugin or to understand it.
#[derive(Debug, thiserror::Error)]
pub enum IpamError {
    /// No executable of that name in any `CNI_PATH` directory.
    #[error("IPAM plugin {name:?} not found in CNI_PATH {path:?}")]
    NotFound {
        /// The plugin name.
        name: String,
        /// The directories searched.
        path: Vec<PathBuf>,
    },
    /// The plugin could not be started or waited for.
    #[error("running IPAM plugin {bin}: {source}")]
    Spawn {
        /// The executable.
        bin: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The plugin answered with something that is not a CNI answer.
    #[error("IPAM plugin {bin} {verb}: {msg}")]
    BadAnswer {
        /// The executable.
        bin: PathBuf,
        /// The verb.
        verb: Command,
        /// What is wrong.
        msg: String,
    },
    /// The plugin answered with a CNI error.
    #[error("IPAM plugin {verb}: {error}")]
    Failed {
        /// The verb.
        verb: Command,
        /// The plugin's error.
        error: CniError,
    },
}

impl From<IpamError> for CniError {
    fn from(e: IpamError) -> CniError {
        match e {
            IpamError::Failed { error, .. } => error,
            IpamError::NotFound { .. } => CniError::config(e.to_string(), ""),
            IpamError::Spawn { .. } => CniError::io(e.to_string(), ""),
            IpamError::BadAnswer { .. } => CniError::decode(e.to_string(), ""),
        }
    }
}

/// Runs an IPAM plugin for a verb.
pub trait Ipam {
    /// Runs `verb` for the request; ADD returns the plugin's result.
    fn call(&mut self, verb: Command, req: &Request) -> Result<Option<CniResult>, IpamError>;

    /// Waits until what the calls so far reserved is durable; the plugin
    /// calls it before it answers an ADD. An IPAM plugin that makes its
    /// changes durable before it returns has nothing to wait for.
    fn settle(&mut self) -> Result<(), IpamError> {
        Ok(())
    }
}

/// Builds the CNI error an error object on stdout describes.
pub fn error_from_object(v: &Value) -> Option<CniError> {
    let code = u32::try_from(v.get("code")?.as_u64()?).ok()?;
    let msg = v
        .get("msg")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let details = v
        .get("details")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Some(match code {
        1 => CniError::IncompatibleVersion { msg, details },
        2 => CniError::UnsupportedField { msg, details },
        3 => CniError::UnknownContainer { msg, details },
        4 => CniError::InvalidEnvironment { msg, details },
        5 => CniError::Io { msg, details },
        6 => CniError::Decode { msg, details },
        7 => CniError::InvalidConfig { msg, details },
        11 => CniError::TryAgainLater { msg, details },
        50 => CniError::NotAvailable { msg, details },
        51 => CniError::NotAvailableLimited { msg, details },
        code => CniError::Plugin { code, msg, details },
    })
}

/// The `ipam.type` that [`Delegate`] runs in-process.
pub const IN_PROCESS: &str = "cn2-ipam";

fn ipam_type(req: &Request) -> &str {
    req.config
        .ipam
        .as_ref()
        .and_then(|i| i.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `cn2-ipam` in-process, any other IPAM plugin through [`ExecIpam`].
///
/// An in-process ADD returns as soon as the reservation is written, and
/// its `fdatasync` runs on a thread of its own while the interface is
/// wired; [`Ipam::settle`] waits for it before the plugin answers.
#[derive(Debug, Default)]
pub struct Delegate {
    exec: ExecIpam,
    syncing: Option<std::thread::JoinHandle<Result<(), CniError>>>,
}

impl Ipam for Delegate {
    fn call(&mut self, verb: Command, req: &Request) -> Result<Option<CniResult>, IpamError> {
        if ipam_type(req) != IN_PROCESS {
            return self.exec.call(verb, req);
        }
        let mut ipam = IpamPlugin::default();
        let r = match verb {
            Command::Add => ipam.add_deferred(req).and_then(|(result, sync)| {
                self.settle().map_err(CniError::from)?;
                // The sync is handed over once the thread exists, so that it
                // can still be done here if no thread can be had.
                let (give, take) = std::sync::mpsc::channel::<PendingSync>();
                let waiter = move || take.recv().map_or(Ok(()), |s| Ok(s.wait()?));
                match std::thread::Builder::new().spawn(waiter) {
                    Ok(handle) => {
                        give.send(sync).expect("the sync thread waits for it");
                        self.syncing = Some(handle);
                    }
                    Err(_) => sync.wait()?,
                }
                Ok(Some(result))
            }),
            Command::Del => ipam.del(req).map(|_| None),
            Command::Check => ipam.check(req).map(|_| None),
            Command::Gc => ipam.gc(req).map(|_| None),
            Command::Status => ipam.status(req).map(|_| None),
            Command::Version => Ok(None),
        };
        r.map_err(|error| IpamError::Failed { verb, error })
    }

    fn settle(&mut self) -> Result<(), IpamError> {
        let Some(handle) = self.syncing.take() else {
            return Ok(());
        };
        let failed = |error| IpamError::Failed {
            verb: Command::Add,
            error,
        };
        handle
            .join()
            .map_err(|_| failed(CniError::io("the IPAM sync thread panicked", "")))?
            .map_err(failed)
    }
}

impl Drop for Delegate {
    /// A sync still running is waited for: a caller that never settled
    /// still leaves nothing undone behind it.
    fn drop(&mut self) {
        let _ = self.settle();
    }
}

/// The IPAM plugin as a process found in `CNI_PATH`.
#[derive(Debug, Default)]
pub struct ExecIpam;

/// Finds `name` in the directories of `path`.
pub fn find_plugin(name: &str, path: &[PathBuf]) -> Result<PathBuf, IpamError> {
    path.iter()
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
        .ok_or_else(|| IpamError::NotFound {
            name: name.to_string(),
            path: path.to_vec(),
        })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

impl Ipam for ExecIpam {
    fn call(&mut self, verb: Command, req: &Request) -> Result<Option<CniResult>, IpamError> {
        let bin = find_plugin(ipam_type(req), &req.env.path)?;
        let spawn_err = |source| IpamError::Spawn {
            bin: bin.clone(),
            source,
        };
        let stdin = serde_json::to_vec(&Value::Object(req.config.raw.clone()))
            .expect("JSON values serialise");
        let mut cmd = Process::new(&bin);
        cmd.env("CNI_COMMAND", verb.as_str());
        let args: Vec<String> = req
            .env
            .args
            .pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let path: Vec<String> = req
            .env
            .path
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        for (key, value) in [
            ("CNI_CONTAINERID", req.env.container_id.clone()),
            ("CNI_NETNS", req.env.netns.clone()),
            ("CNI_IFNAME", req.env.ifname.clone()),
            ("CNI_ARGS", Some(args.join(";")).filter(|a| !a.is_empty())),
            ("CNI_PATH", Some(path.join(":")).filter(|p| !p.is_empty())),
        ] {
            match value {
                Some(v) => cmd.env(key, v),
                None => cmd.env_remove(key),
            };
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(spawn_err)?;
        if let Some(mut input) = child.stdin.take() {
            // A plugin that exits without reading stdin is judged by its answer.
            let _ = input.write_all(&stdin);
        }
        let out = child.wait_with_output().map_err(spawn_err)?;
        let bad = |msg: String| IpamError::BadAnswer {
            bin: bin.clone(),
            verb,
            msg,
        };
        let answer: Option<Value> = if out.stdout.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            Some(serde_json::from_slice(&out.stdout).map_err(|e| {
                bad(format!(
                    "stdout is not JSON ({e}): {:?}",
                    String::from_utf8_lossy(&out.stdout)
                ))
            })?)
        };
        if !out.status.success() {
            let error = answer
                .as_ref()
                .and_then(error_from_object)
                .unwrap_or_else(|| CniError::Plugin {
                    code: 999,
                    msg: format!("IPAM plugin {} failed ({})", bin.display(), out.status),
                    details: String::new(),
                });
            return Err(IpamError::Failed { verb, error });
        }
        if verb != Command::Add {
            return Ok(None);
        }
        let answer = answer.ok_or_else(|| bad("ADD printed no result".into()))?;
        let result = CniResult::from_json(&answer, req.version())
            .map_err(|e| bad(format!("invalid result: {}", e.msg())))?;
        Ok(Some(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_objects_keep_their_codes() {
        let e = error_from_object(&json!({"code": 11, "msg": "busy", "details": "d"})).unwrap();
        assert_eq!((e.code(), e.msg(), e.details()), (11, "busy", "d"));
        let e = error_from_object(&json!({"code": 7, "msg": "bad"})).unwrap();
        assert_eq!(e.code(), 7);
        assert_eq!(
            error_from_object(&json!({"code": 120})).unwrap().code(),
            120
        );
        assert!(error_from_object(&json!({"msg": "no code"})).is_none());
    }

    #[test]
    fn finds_executables_only() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let plain = d.path().join("plain");
        std::fs::write(&plain, "x").unwrap();
        let exe = d.path().join("exe");
        std::fs::write(&exe, "x").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = vec![PathBuf::from("/nonexistent"), d.path().to_path_buf()];
        assert_eq!(find_plugin("exe", &path).unwrap(), exe);
        let e = find_plugin("plain", &path).unwrap_err();
        assert_eq!(CniError::from(e).code(), 7);
    }
}
