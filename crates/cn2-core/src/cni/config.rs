//! Network configuration: one plugin's configuration and a `.conflist`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::result::{CniResult, Dns};
use super::{CniError, is_supported, is_valid_name};

/// One attachment named in a GC request: a container ID and interface.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Attachment {
    /// The container ID.
    #[serde(rename = "containerID")]
    pub container_id: String,
    /// The interface name.
    pub ifname: String,
}

/// One plugin's network configuration, as received on stdin.
///
/// The well-known fields are typed; [`NetConf::raw`] keeps the whole object
/// for plugin-specific fields.
#[derive(Debug, Clone, PartialEq)]
pub struct NetConf {
    /// `cniVersion`.
    pub cni_version: String,
    /// `name`, the network name (matches the CNI name pattern).
    pub name: String,
    /// `type`, the plugin binary.
    pub plugin_type: String,
    /// `capabilities` the runtime may fill in `runtimeConfig`.
    pub capabilities: BTreeMap<String, bool>,
    /// The `ipam` section, if any.
    pub ipam: Option<Map<String, Value>>,
    /// `dns`.
    pub dns: Option<Dns>,
    /// `prevResult`, parsed (any supported version).
    pub prev_result: Option<CniResult>,
    /// `runtimeConfig` (capability arguments: `ips`, `ipRanges`, …).
    pub runtime_config: Map<String, Value>,
    /// `args` (for example `args.cni.ips`).
    pub args: Map<String, Value>,
    /// The GC attachment list: `cni.dev/valid-attachments`, else the older
    /// `cni.dev/attachments`; `None` if neither key is present.
    pub valid_attachments: Option<Vec<Attachment>>,
    /// The whole configuration object.
    pub raw: Map<String, Value>,
}

impl NetConf {
    /// Parses a configuration. Bad JSON or a field of the wrong type is code
    /// 6; a missing or invalid `name` is code 7; an unsupported or missing
    /// `cniVersion` is code 1.
    pub fn parse(bytes: &[u8]) -> Result<NetConf, CniError> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| CniError::decode(format!("error decoding network config: {e}"), ""))?;
        NetConf::from_value(value)
    }

    /// Like [`NetConf::parse`], from a JSON value.
    pub fn from_value(value: Value) -> Result<NetConf, CniError> {
        let Value::Object(raw) = value else {
            return Err(CniError::decode("network config must be a JSON object", ""));
        };
        let cni_version = opt_str(&raw, "cniVersion")?.unwrap_or_default();
        if !is_supported(&cni_version) {
            let shown = if cni_version.is_empty() {
                "0.1.0 (no cniVersion)".to_string()
            } else {
                cni_version.clone()
            };
            return Err(CniError::incompatible(
                "incompatible CNI versions",
                format!(
                    "config is {shown:?}, plugin supports {:?}",
                    super::SUPPORTED_VERSIONS
                ),
            ));
        }
        let name = opt_str(&raw, "name")?.unwrap_or_default();
        if name.is_empty() {
            return Err(CniError::config("missing network name", ""));
        }
        if !is_valid_name(&name) {
            return Err(CniError::config(
                "invalid characters found in network name",
                name,
            ));
        }
        let plugin_type = opt_str(&raw, "type")?.unwrap_or_default();
        let capabilities =
            field::<BTreeMap<String, bool>>(&raw, "capabilities")?.unwrap_or_default();
        let ipam = field::<Map<String, Value>>(&raw, "ipam")?;
        let dns = field::<Dns>(&raw, "dns")?;
        let prev_result = match raw.get("prevResult") {
            None | Some(Value::Null) => None,
            Some(v) => Some(CniResult::from_json(v, &cni_version)?),
        };
        let runtime_config =
            field::<Map<String, Value>>(&raw, "runtimeConfig")?.unwrap_or_default();
        let args = field::<Map<String, Value>>(&raw, "args")?.unwrap_or_default();
        let valid_attachments = match raw.get("cni.dev/valid-attachments") {
            Some(_) => Some(
                field::<Option<Vec<Attachment>>>(&raw, "cni.dev/valid-attachments")?
                    .flatten()
                    .unwrap_or_default(),
            ),
            None => field::<Option<Vec<Attachment>>>(&raw, "cni.dev/attachments")?
                .map(Option::unwrap_or_default),
        };
        Ok(NetConf {
            cni_version,
            name,
            plugin_type,
            capabilities,
            ipam,
            dns,
            prev_result,
            runtime_config,
            args,
            valid_attachments,
            raw,
        })
    }
}

fn opt_str(raw: &Map<String, Value>, key: &str) -> Result<Option<String>, CniError> {
    field::<String>(raw, key)
}

fn field<T: serde::de::DeserializeOwned>(
    raw: &Map<String, Value>,
    key: &str,
) -> Result<Option<T>, CniError> {
    match raw.get(key) {
        None => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| CniError::decode(format!("network config field {key:?}: {e}"), "")),
    }
}

/// A network configuration list (`.conflist`): plugins run in order.
#[derive(Debug, Clone, PartialEq)]
pub struct NetConfList {
    /// `cniVersion` of the list.
    pub cni_version: String,
    /// `cniVersions` (1.1.0): the versions the list may be run with.
    pub cni_versions: Vec<String>,
    /// The network name.
    pub name: String,
    /// `disableCheck`.
    pub disable_check: bool,
    /// `disableGC` (1.1.0).
    pub disable_gc: bool,
    /// The plugin configurations, as written in the list.
    pub plugins: Vec<Map<String, Value>>,
}

impl NetConfList {
    /// Parses a conflist (code 6 for bad JSON, 7 for a missing name or an
    /// empty plugin list, 1 for an unsupported version).
    pub fn parse(bytes: &[u8]) -> Result<NetConfList, CniError> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| CniError::decode(format!("error decoding conflist: {e}"), ""))?;
        let Value::Object(raw) = value else {
            return Err(CniError::decode("conflist must be a JSON object", ""));
        };
        let cni_versions = field::<Vec<String>>(&raw, "cniVersions")?.unwrap_or_default();
        let mut cni_version = opt_str(&raw, "cniVersion")?.unwrap_or_default();
        if let Some(best) = cni_versions
            .iter()
            .filter(|v| is_supported(v))
            .max_by(|a, b| {
                if super::version_at_least(a, b) {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Less
                }
            })
        {
            cni_version = best.clone();
        }
        if !is_supported(&cni_version) {
            return Err(CniError::incompatible(
                "incompatible CNI versions",
                format!("conflist is {cni_version:?}"),
            ));
        }
        let name = opt_str(&raw, "name")?.unwrap_or_default();
        if !is_valid_name(&name) {
            return Err(CniError::config("missing or invalid network name", name));
        }
        let plugins = field::<Vec<Map<String, Value>>>(&raw, "plugins")?.unwrap_or_default();
        if plugins.is_empty() {
            return Err(CniError::config("conflist has no plugins", name));
        }
        Ok(NetConfList {
            cni_version,
            cni_versions,
            name,
            disable_check: field::<bool>(&raw, "disableCheck")?.unwrap_or(false),
            disable_gc: field::<bool>(&raw, "disableGC")?.unwrap_or(false),
            plugins,
        })
    }

    /// The configuration the runtime gives plugin `index`: the plugin's own
    /// object with the list's `name` and `cniVersion` injected, and
    /// `prevResult` (the previous plugin's result) when given.
    pub fn plugin_config(&self, index: usize, prev: Option<&CniResult>) -> Result<Value, CniError> {
        let mut m = self
            .plugins
            .get(index)
            .cloned()
            .ok_or_else(|| CniError::config(format!("no plugin {index} in conflist"), ""))?;
        m.insert("name".into(), self.name.clone().into());
        m.insert("cniVersion".into(), self.cni_version.clone().into());
        if let Some(p) = prev {
            m.insert("prevResult".into(), p.to_json(&self.cni_version)?);
        }
        Ok(Value::Object(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_common_fields() {
        let c = NetConf::parse(
            br#"{"cniVersion":"0.4.0","name":"net1","type":"bridge",
                "capabilities":{"ips":true},
                "ipam":{"type":"cn2-ipam","subnet":"10.0.0.0/24"},
                "runtimeConfig":{"ips":["10.0.0.9/24"]},
                "args":{"cni":{"ips":["10.0.0.8"]}},
                "prevResult":{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.0.0.2/24"}]},
                "custom":7}"#,
        )
        .unwrap();
        assert_eq!(c.name, "net1");
        assert_eq!(c.plugin_type, "bridge");
        assert_eq!(c.ipam.unwrap()["type"], "cn2-ipam");
        assert_eq!(c.prev_result.unwrap().ips.len(), 1);
        assert_eq!(c.runtime_config["ips"][0], "10.0.0.9/24");
        assert_eq!(c.args["cni"]["ips"][0], "10.0.0.8");
        assert_eq!(c.raw["custom"], 7);
        assert!(c.capabilities["ips"]);
        assert!(c.valid_attachments.is_none());
    }

    #[test]
    fn errors_have_the_right_codes() {
        assert_eq!(NetConf::parse(b"{not json").unwrap_err().code(), 6);
        assert_eq!(NetConf::parse(b"[]").unwrap_err().code(), 6);
        assert_eq!(
            NetConf::parse(br#"{"cniVersion":"1.0.0","name":5}"#)
                .unwrap_err()
                .code(),
            6
        );
        assert_eq!(
            NetConf::parse(br#"{"cniVersion":"0.2.0","name":"n"}"#)
                .unwrap_err()
                .code(),
            1
        );
        assert_eq!(NetConf::parse(br#"{"name":"n"}"#).unwrap_err().code(), 1);
        assert_eq!(
            NetConf::parse(br#"{"cniVersion":"1.0.0"}"#)
                .unwrap_err()
                .code(),
            7
        );
        for bad in ["..", "../etc", "a/b", ".x"] {
            let text = format!(r#"{{"cniVersion":"1.0.0","name":"{bad}"}}"#);
            assert_eq!(
                NetConf::parse(text.as_bytes()).unwrap_err().code(),
                7,
                "{bad}"
            );
        }
    }

    #[test]
    fn gc_attachments_new_and_old_keys() {
        let c = NetConf::parse(
            br#"{"cniVersion":"1.1.0","name":"n","cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"}]}"#,
        )
        .unwrap();
        assert_eq!(c.valid_attachments.unwrap()[0].container_id, "a");
        let c = NetConf::parse(
            br#"{"cniVersion":"1.1.0","name":"n","cni.dev/attachments":[{"containerID":"b","ifname":"eth0"}]}"#,
        )
        .unwrap();
        assert_eq!(c.valid_attachments.unwrap()[0].container_id, "b");
        let c = NetConf::parse(
            br#"{"cniVersion":"1.1.0","name":"n","cni.dev/valid-attachments":null}"#,
        )
        .unwrap();
        assert_eq!(c.valid_attachments, Some(vec![]));
    }

    #[test]
    fn conflist_injects_name_version_and_prev_result() {
        let l = NetConfList::parse(
            br#"{"cniVersion":"0.3.1","cniVersions":["0.4.0","1.0.0","9.0.0"],"name":"pods",
                "plugins":[{"type":"bridge","ipam":{"type":"cn2-ipam"}},{"type":"portmap"}]}"#,
        )
        .unwrap();
        assert_eq!(l.cni_version, "1.0.0");
        let prev = CniResult {
            ips: vec![super::super::IpConfig {
                interface: None,
                address: "10.0.0.2/24".parse().unwrap(),
                gateway: None,
            }],
            ..CniResult::default()
        };
        let c = NetConf::from_value(l.plugin_config(1, Some(&prev)).unwrap()).unwrap();
        assert_eq!(c.name, "pods");
        assert_eq!(c.plugin_type, "portmap");
        assert_eq!(c.prev_result.unwrap(), prev);
        assert_eq!(
            NetConfList::parse(br#"{"cniVersion":"1.0.0","name":"x","plugins":[]}"#)
                .unwrap_err()
                .code(),
            7
        );
    }
}
