//! The `cn2` plugin's own configuration fields.
//!
//! ```json
//! {
//!   "cniVersion": "1.0.0", "name": "pods", "type": "cn2",
//!   "mtu": 1450,
//!   "defaultRoute": true,
//!   "capabilities": {"mac": true},
//!   "ipam": {"type": "cn2-ipam", "ranges": [[{"subnet": "10.244.0.0/24"}]]}
//! }
//! ```
//!
//! * `mtu` — MTU of both veth ends (default: the kernel's, 1500);
//! * `defaultRoute` — whether the pod gets a default route through this
//!   interface; by default only the primary interface (`eth0`) does, so
//!   secondary Multus interfaces (`net1`, …) never steal the pod's default
//!   route;
//! * `runtimeConfig.mac` (the `mac` capability), else `args.cni.mac`, else
//!   `MAC` in `CNI_ARGS` — the container end's hardware address; without any
//!   of them it is derived from the container ID and interface name;
//! * `ipam.type` — the IPAM plugin to run from `CNI_PATH` (required).

use cn2_core::cni::{CniError, Request};
use serde_json::Value;

use crate::names::parse_mac;

/// The interface name that counts as the pod's primary interface.
pub const PRIMARY_IFNAME: &str = "eth0";

/// The `CNI_ARGS` keys the plugin knows (others need `IgnoreUnknown`).
pub const KNOWN_ARGS: [&str; 6] = [
    "K8S_POD_NAMESPACE",
    "K8S_POD_NAME",
    "K8S_POD_INFRA_CONTAINER_ID",
    "K8S_POD_UID",
    "IP",
    "MAC",
];

/// A configuration problem; every one is CNI code 7 (invalid config) except
/// a bad `CNI_ARGS` value, which is code 4.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A field has the wrong type or value.
    #[error("network config field {field:?}: {msg}")]
    Field {
        /// The field (dotted path).
        field: &'static str,
        /// What is wrong.
        msg: String,
    },
    /// The `ipam` section or its `type` is missing.
    #[error("network config has no ipam.type: the cn2 plugin needs an IPAM plugin")]
    NoIpam,
    /// `MAC` in `CNI_ARGS` is not a unicast hardware address.
    #[error("CNI_ARGS MAC={0:?} is not a unicast hardware address")]
    ArgsMac(String),
}

impl From<ConfigError> for CniError {
    fn from(e: ConfigError) -> CniError {
        match e {
            ConfigError::ArgsMac(_) => CniError::env(e.to_string(), ""),
            _ => CniError::config(e.to_string(), ""),
        }
    }
}

/// The fields of the configuration the plugin acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cn2Conf {
    /// MTU of both veth ends.
    pub mtu: Option<u32>,
    /// Whether this interface carries the pod's default route.
    pub default_route: bool,
    /// The container end's hardware address, if the runtime chose one.
    pub mac: Option<[u8; 6]>,
    /// The IPAM plugin's binary name.
    pub ipam_type: String,
}

fn mac_field(v: &Value, field: &'static str) -> Result<Option<[u8; 6]>, ConfigError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => parse_mac(s).map(Some).ok_or_else(|| ConfigError::Field {
            field,
            msg: format!("{s:?} is not a unicast hardware address"),
        }),
        other => Err(ConfigError::Field {
            field,
            msg: format!("expected a string, got {other}"),
        }),
    }
}

impl Cn2Conf {
    /// Reads the plugin's fields from a request.
    pub fn from_request(req: &Request) -> Result<Cn2Conf, ConfigError> {
        let raw = &req.config.raw;
        let mtu = match raw.get("mtu") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let m = v.as_u64().ok_or_else(|| ConfigError::Field {
                    field: "mtu",
                    msg: format!("expected a number, got {v}"),
                })?;
                if !(68..=65535).contains(&m) {
                    return Err(ConfigError::Field {
                        field: "mtu",
                        msg: format!("{m} is outside 68..=65535"),
                    });
                }
                Some(m as u32)
            }
        };
        let default_route = match raw.get("defaultRoute") {
            None | Some(Value::Null) => req.env.ifname() == PRIMARY_IFNAME,
            Some(Value::Bool(b)) => *b,
            Some(v) => {
                return Err(ConfigError::Field {
                    field: "defaultRoute",
                    msg: format!("expected true or false, got {v}"),
                });
            }
        };
        let mut mac = mac_field(
            req.config.runtime_config.get("mac").unwrap_or(&Value::Null),
            "runtimeConfig.mac",
        )?;
        if mac.is_none() {
            let from_args = req
                .config
                .args
                .get("cni")
                .and_then(|c| c.get("mac"))
                .unwrap_or(&Value::Null);
            mac = mac_field(from_args, "args.cni.mac")?;
        }
        if mac.is_none() {
            if let Some(m) = req.env.args.get("MAC") {
                mac = Some(parse_mac(m).ok_or_else(|| ConfigError::ArgsMac(m.to_string()))?);
            }
        }
        let ipam_type = req
            .config
            .ipam
            .as_ref()
            .and_then(|i| i.get("type"))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or(ConfigError::NoIpam)?;
        if !cn2_core::cni::is_valid_name(ipam_type) {
            return Err(ConfigError::Field {
                field: "ipam.type",
                msg: format!("{ipam_type:?} is not a plugin name"),
            });
        }
        Ok(Cn2Conf {
            mtu,
            default_route,
            mac,
            ipam_type: ipam_type.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cn2_core::cni::{Environment, NetConf};
    use std::collections::HashMap;

    fn req(ifname: &str, args: &str, conf: &str) -> Request {
        let mut m = HashMap::new();
        for (k, v) in [
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "c1"),
            ("CNI_NETNS", "/run/netns/x"),
            ("CNI_IFNAME", ifname),
            ("CNI_PATH", "/opt/cni/bin"),
            ("CNI_ARGS", args),
        ] {
            m.insert(k.to_string(), v.to_string());
        }
        Request {
            env: Environment::from_vars(&move |k| m.get(k).cloned()).unwrap(),
            config: NetConf::parse(conf.as_bytes()).unwrap(),
        }
    }

    const BASE: &str =
        r#"{"cniVersion":"1.0.0","name":"n","type":"cn2","ipam":{"type":"cn2-ipam"}"#;

    #[test]
    fn defaults_and_primary() {
        let c = Cn2Conf::from_request(&req("eth0", "", &format!("{BASE}}}"))).unwrap();
        assert_eq!(c.mtu, None);
        assert!(c.default_route);
        assert_eq!(c.mac, None);
        assert_eq!(c.ipam_type, "cn2-ipam");
        let c = Cn2Conf::from_request(&req("net1", "", &format!("{BASE}}}"))).unwrap();
        assert!(!c.default_route);
        let c = Cn2Conf::from_request(&req(
            "net1",
            "",
            &format!(r#"{BASE},"defaultRoute":true,"mtu":1450}}"#),
        ))
        .unwrap();
        assert!(c.default_route);
        assert_eq!(c.mtu, Some(1450));
    }

    #[test]
    fn mac_sources_in_order() {
        let conf = format!(
            r#"{BASE},"runtimeConfig":{{"mac":"0a:00:00:00:00:01"}},"args":{{"cni":{{"mac":"0a:00:00:00:00:02"}}}}}}"#
        );
        let c = Cn2Conf::from_request(&req("eth0", "MAC=0a:00:00:00:00:03", &conf)).unwrap();
        assert_eq!(c.mac.unwrap()[5], 1);
        let conf = format!(r#"{BASE},"args":{{"cni":{{"mac":"0a:00:00:00:00:02"}}}}}}"#);
        let c = Cn2Conf::from_request(&req("eth0", "MAC=0a:00:00:00:00:03", &conf)).unwrap();
        assert_eq!(c.mac.unwrap()[5], 2);
        let c = Cn2Conf::from_request(&req("eth0", "MAC=0a:00:00:00:00:03", &format!("{BASE}}}")))
            .unwrap();
        assert_eq!(c.mac.unwrap()[5], 3);
        let e = Cn2Conf::from_request(&req("eth0", "MAC=zz", &format!("{BASE}}}"))).unwrap_err();
        assert_eq!(CniError::from(e).code(), 4);
    }

    #[test]
    fn bad_fields_are_code_7() {
        for bad in [
            r#"{"cniVersion":"1.0.0","name":"n","type":"cn2"}"#.to_string(),
            format!(r#"{BASE},"mtu":"big"}}"#),
            format!(r#"{BASE},"mtu":10}}"#),
            format!(r#"{BASE},"defaultRoute":"yes"}}"#),
            format!(r#"{BASE},"runtimeConfig":{{"mac":"ff:ff:ff:ff:ff:ff"}}}}"#),
            r#"{"cniVersion":"1.0.0","name":"n","type":"cn2","ipam":{"type":"../x"}}"#.to_string(),
        ] {
            let e = Cn2Conf::from_request(&req("eth0", "", &bad)).unwrap_err();
            assert_eq!(CniError::from(e).code(), 7, "{bad}");
        }
    }
}
