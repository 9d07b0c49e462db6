//! The CNI environment: the verb, the container, the interface and `CNI_ARGS`.

use std::fmt;
use std::path::PathBuf;

use super::{CniError, is_valid_name};

/// The operation the runtime asks for (`CNI_COMMAND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// Attach the container to the network.
    Add,
    /// Detach it (must succeed when repeated).
    Del,
    /// Check that the attachment is still as ADD left it (0.4.0+).
    Check,
    /// Report the supported versions.
    Version,
    /// Remove every resource not held by a valid attachment (1.1.0).
    Gc,
    /// Report whether the plugin can serve ADDs (1.1.0).
    Status,
}

impl Command {
    /// The command from its `CNI_COMMAND` spelling.
    pub fn parse(s: &str) -> Option<Command> {
        Some(match s {
            "ADD" => Command::Add,
            "DEL" => Command::Del,
            "CHECK" => Command::Check,
            "VERSION" => Command::Version,
            "GC" => Command::Gc,
            "STATUS" => Command::Status,
            _ => return None,
        })
    }

    /// The `CNI_COMMAND` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Del => "DEL",
            Command::Check => "CHECK",
            Command::Version => "VERSION",
            Command::Gc => "GC",
            Command::Status => "STATUS",
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `CNI_ARGS`: `KEY=VALUE` pairs separated by `;`.
///
/// Like the reference plugins, an unknown key is an error unless
/// `IgnoreUnknown` is `1` or `true` (see [`CniArgs::check_known`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CniArgs {
    /// The pairs in order.
    pub pairs: Vec<(String, String)>,
}

impl CniArgs {
    /// Parses `K=V;K=V`. Empty segments are skipped; a segment without `=`
    /// is an error (code 4).
    pub fn parse(s: &str) -> Result<CniArgs, CniError> {
        let mut pairs = Vec::new();
        for seg in s.split(';') {
            if seg.is_empty() {
                continue;
            }
            let (k, v) = seg
                .split_once('=')
                .ok_or_else(|| CniError::env("CNI_ARGS: invalid pair (expected KEY=VALUE)", seg))?;
            if k.is_empty() {
                return Err(CniError::env("CNI_ARGS: empty key", seg));
            }
            pairs.push((k.to_string(), v.to_string()));
        }
        Ok(CniArgs { pairs })
    }

    /// The last value given for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `IgnoreUnknown` is set to `1` or `true` (any case).
    pub fn ignore_unknown(&self) -> bool {
        self.get("IgnoreUnknown")
            .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
    }

    /// Fails (code 4) on a key outside `known` (and `IgnoreUnknown`) unless
    /// `IgnoreUnknown` is set.
    pub fn check_known(&self, known: &[&str]) -> Result<(), CniError> {
        if self.ignore_unknown() {
            return Ok(());
        }
        let unknown: Vec<&str> = self
            .pairs
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| *k != "IgnoreUnknown" && !known.contains(k))
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(CniError::env(
                format!("CNI_ARGS: unknown args {unknown:?}"),
                "set IgnoreUnknown=1 to ignore them",
            ))
        }
    }
}

/// The validated CNI environment of one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// `CNI_COMMAND`.
    pub command: Command,
    /// `CNI_CONTAINERID` (required by ADD, DEL, CHECK).
    pub container_id: Option<String>,
    /// `CNI_NETNS` (required by ADD and CHECK).
    pub netns: Option<String>,
    /// `CNI_IFNAME` (required by ADD, DEL, CHECK).
    pub ifname: Option<String>,
    /// `CNI_ARGS`.
    pub args: CniArgs,
    /// `CNI_PATH`, split on `:`.
    pub path: Vec<PathBuf>,
}

impl Environment {
    /// Reads and validates the environment through `var` (which returns a
    /// variable's value; an empty value counts as missing).
    ///
    /// Every error is code 4 (invalid environment), as in the reference
    /// `skel`: a missing or unknown `CNI_COMMAND`, a variable the verb needs
    /// that is missing (ADD and CHECK need `CNI_CONTAINERID`, `CNI_NETNS`,
    /// `CNI_IFNAME`, `CNI_PATH`; DEL the same without `CNI_NETNS`; GC
    /// `CNI_PATH`), an invalid container ID or interface name, or a
    /// malformed `CNI_ARGS`.
    pub fn from_vars(var: &dyn Fn(&str) -> Option<String>) -> Result<Environment, CniError> {
        let get = |k: &str| var(k).filter(|v| !v.is_empty());
        let cmd_text = get("CNI_COMMAND")
            .ok_or_else(|| CniError::env("required env variables [CNI_COMMAND] missing", ""))?;
        let command = Command::parse(&cmd_text)
            .ok_or_else(|| CniError::env(format!("unknown CNI_COMMAND: {cmd_text}"), ""))?;
        let (need_id, need_netns, need_if, need_path) = match command {
            Command::Add | Command::Check => (true, true, true, true),
            Command::Del => (true, false, true, true),
            Command::Gc => (false, false, false, true),
            Command::Version | Command::Status => (false, false, false, false),
        };
        let mut missing = Vec::new();
        for (name, needed) in [
            ("CNI_CONTAINERID", need_id),
            ("CNI_NETNS", need_netns),
            ("CNI_IFNAME", need_if),
            ("CNI_PATH", need_path),
        ] {
            if needed && get(name).is_none() {
                missing.push(name);
            }
        }
        if !missing.is_empty() {
            return Err(CniError::env(
                format!("required env variables [{}] missing", missing.join(",")),
                "",
            ));
        }
        let container_id = get("CNI_CONTAINERID");
        if let Some(id) = &container_id {
            if !is_valid_name(id) {
                return Err(CniError::env(
                    "invalid characters in containerID",
                    id.clone(),
                ));
            }
        }
        let ifname = get("CNI_IFNAME");
        if let Some(name) = &ifname {
            validate_ifname(name)?;
        }
        let args = CniArgs::parse(&get("CNI_ARGS").unwrap_or_default())?;
        let path = get("CNI_PATH")
            .map(|p| {
                p.split(':')
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Environment {
            command,
            container_id,
            netns: get("CNI_NETNS"),
            ifname,
            args,
            path,
        })
    }

    /// The container ID (empty if not given).
    pub fn container_id(&self) -> &str {
        self.container_id.as_deref().unwrap_or("")
    }

    /// The interface name (empty if not given).
    pub fn ifname(&self) -> &str {
        self.ifname.as_deref().unwrap_or("")
    }
}

/// Checks an interface name the way the kernel and `libcni` do: not empty,
/// at most 15 bytes, not `.` or `..`, no `/`, `:` or whitespace (code 4).
pub fn validate_ifname(name: &str) -> Result<(), CniError> {
    if name.is_empty() {
        return Err(CniError::env("interface name is empty", ""));
    }
    if name.len() > 15 {
        return Err(CniError::env(
            "interface name is too long",
            "interface name should be less than 16 characters",
        ));
    }
    if name == "." || name == ".." {
        return Err(CniError::env("interface name is . or ..", name));
    }
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c == '\0' || c.is_whitespace())
    {
        return Err(CniError::env(
            "interface name contains / or : or whitespace characters",
            name,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Result<Environment, CniError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Environment::from_vars(&move |k| m.get(k).cloned())
    }

    const ADD: [(&str, &str); 5] = [
        ("CNI_COMMAND", "ADD"),
        ("CNI_CONTAINERID", "abc123"),
        ("CNI_NETNS", "/var/run/netns/x"),
        ("CNI_IFNAME", "eth0"),
        ("CNI_PATH", "/opt/cni/bin:/usr/lib/cni"),
    ];

    #[test]
    fn full_add_environment() {
        let e = env(&ADD).unwrap();
        assert_eq!(e.command, Command::Add);
        assert_eq!(e.container_id(), "abc123");
        assert_eq!(e.path.len(), 2);
    }

    #[test]
    fn missing_and_invalid_variables_are_code_4() {
        let e = env(&ADD[..3]).unwrap_err();
        assert_eq!(e.code(), 4);
        assert!(e.msg().contains("CNI_IFNAME") && e.msg().contains("CNI_PATH"));
        assert_eq!(env(&[]).unwrap_err().code(), 4);
        assert_eq!(env(&[("CNI_COMMAND", "FROB")]).unwrap_err().code(), 4);
        // DEL does not need the netns; VERSION and STATUS need nothing more.
        let mut del = ADD.to_vec();
        del[0].1 = "DEL";
        del.remove(2);
        env(&del).unwrap();
        env(&[("CNI_COMMAND", "VERSION")]).unwrap();
        env(&[("CNI_COMMAND", "STATUS")]).unwrap();
        assert_eq!(env(&[("CNI_COMMAND", "GC")]).unwrap_err().code(), 4);
        for bad_id in ["../x", "a/b", "-x", ".hidden", "a b"] {
            let mut v = ADD.to_vec();
            v[1].1 = bad_id;
            assert_eq!(env(&v).unwrap_err().code(), 4, "{bad_id}");
        }
        for bad_if in ["a/b", "a:b", "a b", ".", "..", "sixteen-chars-xx"] {
            let mut v = ADD.to_vec();
            v[3].1 = bad_if;
            assert_eq!(env(&v).unwrap_err().code(), 4, "{bad_if}");
        }
        let mut v = ADD.to_vec();
        v[3].1 = "fifteen-chars-x";
        env(&v).unwrap();
    }

    #[test]
    fn cni_args() {
        let a = CniArgs::parse("IgnoreUnknown=1;K8S_POD_NAME=p;IP=10.0.0.5,fd00::5;").unwrap();
        assert_eq!(a.get("IP"), Some("10.0.0.5,fd00::5"));
        assert!(a.ignore_unknown());
        a.check_known(&["IP"]).unwrap();
        let b = CniArgs::parse("K8S_POD_NAME=p;IP=1.2.3.4").unwrap();
        let e = b.check_known(&["IP"]).unwrap_err();
        assert_eq!(e.code(), 4);
        assert!(e.msg().contains("K8S_POD_NAME"));
        assert_eq!(CniArgs::parse("novalue").unwrap_err().code(), 4);
        assert_eq!(CniArgs::parse("=x").unwrap_err().code(), 4);
        assert!(CniArgs::parse("").unwrap().pairs.is_empty());
        assert!(
            CniArgs::parse("IgnoreUnknown=true")
                .unwrap()
                .ignore_unknown()
        );
        assert!(!CniArgs::parse("IgnoreUnknown=0").unwrap().ignore_unknown());
    }
}
