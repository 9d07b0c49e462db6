//! The Container Network Interface protocol, as both cn2 plugins speak it.
//!
//! A CNI plugin is a program the container runtime runs once per operation.
//! The operation arrives in environment variables (`CNI_COMMAND`,
//! `CNI_CONTAINERID`, `CNI_NETNS`, `CNI_IFNAME`, `CNI_ARGS`, `CNI_PATH`) and
//! the network configuration arrives as JSON on standard input; the answer (a
//! result, a version list, or an error object) goes to standard output, and
//! anything else the plugin wants to say goes to standard error.
//!
//! This module is the pure part of that contract, with no side effects:
//!
//! * [`Environment`] and [`Command`] — the environment, validated like the
//!   reference `skel` package and `libcni` do (container ID pattern,
//!   interface name rules, which variables each verb needs);
//! * [`CniArgs`] — `CNI_ARGS` (`K=V;K=V`, with `IgnoreUnknown`);
//! * [`NetConf`] and [`NetConfList`] — a plugin's configuration (with
//!   `prevResult`, `runtimeConfig`, `args`, and the GC attachment list) and a
//!   `.conflist`;
//! * [`CniResult`] — the result of ADD, read from and written to every
//!   supported version (0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0);
//! * [`CniError`] — the error object with the specification's codes;
//! * [`Plugin`] and [`run`] — a small runner that validates the request,
//!   dispatches the verb to a [`Plugin`] and renders what goes to stdout.
//!
//! Outside that pure part, [`serve`] is the process around it: a plugin
//! binary's whole entry point.
//!
//! Version negotiation follows the specification: the plugin answers in the
//! `cniVersion` of the request; `VERSION` lists [`SUPPORTED_VERSIONS`];
//! `CHECK` needs 0.4.0 or later, `GC` and `STATUS` need 1.1.0.

mod config;
mod env;
mod plugin;
mod process;
mod result;

pub use config::{Attachment, NetConf, NetConfList};
pub use env::{CniArgs, Command, Environment, validate_ifname};
pub use plugin::{Outcome, Plugin, Request, run};
pub use process::serve;
pub use result::{CniResult, Dns, Interface, IpConfig, IpNet, Route};

/// Every CNI specification version these plugins implement, oldest first.
pub const SUPPORTED_VERSIONS: [&str; 5] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// The newest supported version, used when a request names none.
pub const LATEST_VERSION: &str = "1.1.0";

/// Whether `version` is one of [`SUPPORTED_VERSIONS`].
pub fn is_supported(version: &str) -> bool {
    SUPPORTED_VERSIONS.contains(&version)
}

/// Compares two `major.minor.patch` versions; unparsable parts count as 0.
pub fn version_at_least(version: &str, minimum: &str) -> bool {
    fn parts(v: &str) -> [u32; 3] {
        let mut out = [0; 3];
        for (slot, p) in out.iter_mut().zip(v.split('.')) {
            *slot = p.parse().unwrap_or(0);
        }
        out
    }
    parts(version) >= parts(minimum)
}

/// A CNI error: what a plugin prints on stdout (as
/// `{"cniVersion", "code", "msg", "details"}`) before exiting non-zero.
///
/// Each variant is one of the specification's well-known codes; plugin
/// specific codes (100 and up) use [`CniError::Plugin`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CniError {
    /// Code 1: the configuration's version is not one the plugin speaks.
    #[error("{msg}")]
    IncompatibleVersion {
        /// What is wrong.
        msg: String,
        /// Further detail (the versions involved).
        details: String,
    },
    /// Code 2: a field of the configuration is not supported.
    #[error("{msg}")]
    UnsupportedField {
        /// What is wrong.
        msg: String,
        /// Further detail.
        details: String,
    },
    /// Code 3: the container is unknown or gone.
    #[error("{msg}")]
    UnknownContainer {
        /// What is wrong.
        msg: String,
        /// Further detail.
        details: String,
    },
    /// Code 4: a required environment variable is missing or invalid.
    #[error("{msg}")]
    InvalidEnvironment {
        /// What is wrong.
        msg: String,
        /// Further detail (the offending value).
        details: String,
    },
    /// Code 5: an I/O failure (reading stdin, the state directory, …).
    #[error("{msg}")]
    Io {
        /// What is wrong.
        msg: String,
        /// Further detail.
        details: String,
    },
    /// Code 6: the input could not be decoded (bad JSON).
    #[error("{msg}")]
    Decode {
        /// What is wrong.
        msg: String,
        /// Further detail.
        details: String,
    },
    /// Code 7: the network configuration is invalid.
    #[error("{msg}")]
    InvalidConfig {
        /// What is wrong.
        msg: String,
        /// Further detail.
        details: String,
    },
    /// Code 11: a transient condition; the runtime should try again later.
    #[error("{msg}")]
    TryAgainLater {
        /// What is wrong.
        msg: String,
        /// Further detail.
        details: String,
    },
    /// Code 50 (STATUS): the plugin cannot serve new ADDs.
    #[error("{msg}")]
    NotAvailable {
        /// Why.
        msg: String,
        /// Further detail.
        details: String,
    },
    /// Code 51 (STATUS): not available, and existing attachments may have
    /// limited connectivity.
    #[error("{msg}")]
    NotAvailableLimited {
        /// Why.
        msg: String,
        /// Further detail.
        details: String,
    },
    /// Any other code, such as plugin-specific codes (100 and up).
    #[error("{msg}")]
    Plugin {
        /// The code.
        code: u32,
        /// What is wrong.
        msg: String,
        /// Further detail.
        details: String,
    },
}

impl CniError {
    /// Code 1 with a message.
    pub fn incompatible(msg: impl Into<String>, details: impl Into<String>) -> CniError {
        CniError::IncompatibleVersion {
            msg: msg.into(),
            details: details.into(),
        }
    }
    /// Code 4 with a message.
    pub fn env(msg: impl Into<String>, details: impl Into<String>) -> CniError {
        CniError::InvalidEnvironment {
            msg: msg.into(),
            details: details.into(),
        }
    }
    /// Code 5 with a message.
    pub fn io(msg: impl Into<String>, details: impl Into<String>) -> CniError {
        CniError::Io {
            msg: msg.into(),
            details: details.into(),
        }
    }
    /// Code 6 with a message.
    pub fn decode(msg: impl Into<String>, details: impl Into<String>) -> CniError {
        CniError::Decode {
            msg: msg.into(),
            details: details.into(),
        }
    }
    /// Code 7 with a message.
    pub fn config(msg: impl Into<String>, details: impl Into<String>) -> CniError {
        CniError::InvalidConfig {
            msg: msg.into(),
            details: details.into(),
        }
    }
    /// Code 11 with a message.
    pub fn try_again(msg: impl Into<String>, details: impl Into<String>) -> CniError {
        CniError::TryAgainLater {
            msg: msg.into(),
            details: details.into(),
        }
    }
    /// Code 50 with a message.
    pub fn not_available(msg: impl Into<String>, details: impl Into<String>) -> CniError {
        CniError::NotAvailable {
            msg: msg.into(),
            details: details.into(),
        }
    }

    /// The specification's numeric code.
    pub fn code(&self) -> u32 {
        match self {
            CniError::IncompatibleVersion { .. } => 1,
            CniError::UnsupportedField { .. } => 2,
            CniError::UnknownContainer { .. } => 3,
            CniError::InvalidEnvironment { .. } => 4,
            CniError::Io { .. } => 5,
            CniError::Decode { .. } => 6,
            CniError::InvalidConfig { .. } => 7,
            CniError::TryAgainLater { .. } => 11,
            CniError::NotAvailable { .. } => 50,
            CniError::NotAvailableLimited { .. } => 51,
            CniError::Plugin { code, .. } => *code,
        }
    }

    /// The message.
    pub fn msg(&self) -> &str {
        match self {
            CniError::IncompatibleVersion { msg, .. }
            | CniError::UnsupportedField { msg, .. }
            | CniError::UnknownContainer { msg, .. }
            | CniError::InvalidEnvironment { msg, .. }
            | CniError::Io { msg, .. }
            | CniError::Decode { msg, .. }
            | CniError::InvalidConfig { msg, .. }
            | CniError::TryAgainLater { msg, .. }
            | CniError::NotAvailable { msg, .. }
            | CniError::NotAvailableLimited { msg, .. }
            | CniError::Plugin { msg, .. } => msg,
        }
    }

    /// The details (may be empty).
    pub fn details(&self) -> &str {
        match self {
            CniError::IncompatibleVersion { details, .. }
            | CniError::UnsupportedField { details, .. }
            | CniError::UnknownContainer { details, .. }
            | CniError::InvalidEnvironment { details, .. }
            | CniError::Io { details, .. }
            | CniError::Decode { details, .. }
            | CniError::InvalidConfig { details, .. }
            | CniError::TryAgainLater { details, .. }
            | CniError::NotAvailable { details, .. }
            | CniError::NotAvailableLimited { details, .. }
            | CniError::Plugin { details, .. } => details,
        }
    }

    /// The error object in `version` (details omitted when empty).
    pub fn to_json(&self, version: &str) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("cniVersion".into(), version.into());
        m.insert("code".into(), self.code().into());
        m.insert("msg".into(), self.msg().into());
        if !self.details().is_empty() {
            m.insert("details".into(), self.details().into());
        }
        serde_json::Value::Object(m)
    }
}

/// The CNI name pattern `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`, used for container
/// IDs and network names. A name that passes can never be a path (`/`, `..`
/// as a whole, NUL) and is safe as a single file name component.
pub fn is_valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_json_has_the_spec_fields() {
        let e = CniError::config("bad subnet", "10.0.0.0/33");
        let j = e.to_json("0.4.0");
        assert_eq!(
            j.to_string(),
            r#"{"cniVersion":"0.4.0","code":7,"msg":"bad subnet","details":"10.0.0.0/33"}"#
        );
        let j = CniError::try_again("busy", "").to_json("1.1.0");
        assert_eq!(j["code"], 11);
        assert!(j.get("details").is_none());
        assert_eq!(CniError::not_available("full", "").code(), 50);
    }

    #[test]
    fn names_and_versions() {
        assert!(is_valid_name("a"));
        assert!(is_valid_name("abc-1.2_x"));
        for bad in ["", ".", "..", "-a", "a/b", "a\0", "../x", "a b", "ä"] {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
        assert!(version_at_least("1.1.0", "1.1.0"));
        assert!(version_at_least("1.0.0", "0.4.0"));
        assert!(!version_at_least("0.3.1", "0.4.0"));
        assert!(!is_supported("0.2.0") && is_supported("0.3.1"));
    }
}
