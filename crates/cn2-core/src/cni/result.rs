//! The result of ADD and its form in each specification version.
//!
//! [`CniResult`] is the union of every version's fields (the 1.1.0 result).
//! [`CniResult::to_json`] renders it in a given version: 0.3.x and 0.4.0 add
//! `ips[].version` (`"4"` or `"6"`); the interface fields `mtu`, `socketPath`
//! and `pciID` and the route fields `mtu`, `advmss`, `priority`, `table` and
//! `scope` exist only from 1.1.0 and are dropped for older versions.
//! [`CniResult::from_json`] reads any supported version (a `prevResult`).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::{CniError, is_supported, version_at_least};

/// An address with its prefix length, host bits kept (`10.0.0.5/24`), or a
/// route destination (`0.0.0.0/0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    /// The address.
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

impl IpNet {
    /// An address with a prefix length; fails if the prefix is too long.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<IpNet> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(IpNet { addr, prefix })
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for IpNet {
    type Err = String;
    fn from_str(s: &str) -> Result<IpNet, String> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| format!("invalid CIDR address {s:?}: expected ADDRESS/PREFIX"))?;
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("invalid CIDR address {s:?}: bad address"))?;
        let prefix: u8 = p
            .parse()
            .map_err(|_| format!("invalid CIDR address {s:?}: bad prefix length"))?;
        IpNet::new(addr, prefix)
            .ok_or_else(|| format!("invalid CIDR address {s:?}: prefix too long"))
    }
}

impl Serialize for IpNet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IpNet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<IpNet, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// An interface the plugin created or configured.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Interface {
    /// The interface name.
    pub name: String,
    /// The hardware address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// The MTU (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// The network namespace path for a container interface; absent for a
    /// host interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    /// A vhost-user or similar socket path (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_path: Option<String>,
    /// The PCI ID of a device interface (1.1.0).
    #[serde(default, rename = "pciID", skip_serializing_if = "Option::is_none")]
    pub pci_id: Option<String>,
}

/// One address assigned by the plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpConfig {
    /// Index into the result's interfaces, if the address belongs to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
    /// The address with its prefix length.
    pub address: IpNet,
    /// The default gateway of the address's subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
}

/// A route to add in the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// The destination.
    pub dst: IpNet,
    /// The next hop; absent means the gateway of the address's subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<IpAddr>,
    /// Route MTU (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Advertised MSS (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advmss: Option<u32>,
    /// Route priority (metric) (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// Routing table (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<u32>,
    /// Route scope (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<u32>,
}

impl Route {
    /// A route to `dst` through `gw` with no 1.1.0 attributes.
    pub fn new(dst: IpNet, gw: Option<IpAddr>) -> Route {
        Route {
            dst,
            gw,
            mtu: None,
            advmss: None,
            priority: None,
            table: None,
            scope: None,
        }
    }
}

/// DNS settings for the container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dns {
    /// Name servers, in order of preference.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    /// The local domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Search domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    /// Resolver options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl Dns {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.nameservers.is_empty()
            && self.domain.is_none()
            && self.search.is_empty()
            && self.options.is_empty()
    }

    /// Reads the `nameserver`, `domain`, `search` and `options` lines of a
    /// `resolv.conf` text, as host-local's `resolvConf` does.
    pub fn from_resolv_conf(text: &str) -> Dns {
        let mut dns = Dns::default();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => dns.nameservers.extend(words.next().map(str::to_string)),
                Some("domain") => dns.domain = words.next().map(str::to_string),
                Some("search") => dns.search = words.map(str::to_string).collect(),
                Some("options") => dns.options.extend(words.map(str::to_string)),
                _ => {}
            }
        }
        dns
    }
}

/// The result of ADD: interfaces, addresses, routes and DNS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniResult {
    /// Interfaces created or configured.
    #[serde(default)]
    pub interfaces: Vec<Interface>,
    /// Addresses assigned.
    #[serde(default)]
    pub ips: Vec<IpConfig>,
    /// Routes to install.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// DNS settings.
    #[serde(default)]
    pub dns: Dns,
}

impl CniResult {
    /// Reads a result (for example a `prevResult`) of any supported version.
    /// The version is taken from `cniVersion` in `value`, else `default_version`.
    pub fn from_json(value: &Value, default_version: &str) -> Result<CniResult, CniError> {
        let obj = value
            .as_object()
            .ok_or_else(|| CniError::decode("a CNI result must be a JSON object", ""))?;
        let version = obj
            .get("cniVersion")
            .and_then(Value::as_str)
            .unwrap_or(default_version);
        if !is_supported(version) {
            return Err(CniError::incompatible(
                format!("unsupported result version {version:?}"),
                format!("supported: {}", super::SUPPORTED_VERSIONS.join(", ")),
            ));
        }
        let mut obj = obj.clone();
        obj.remove("cniVersion");
        if !version_at_least(version, "1.0.0") {
            if let Some(Value::Array(ips)) = obj.get_mut("ips") {
                for ip in ips.iter_mut() {
                    let Some(m) = ip.as_object_mut() else {
                        continue;
                    };
                    let declared = m.remove("version");
                    let family = m
                        .get("address")
                        .and_then(Value::as_str)
                        .and_then(|a| a.parse::<IpNet>().ok())
                        .map(|n| if n.addr.is_ipv4() { "4" } else { "6" });
                    if let (Some(Value::String(d)), Some(f)) = (&declared, family) {
                        if d != f {
                            return Err(CniError::decode(
                                format!("result ips[].version {d:?} does not match its address"),
                                "",
                            ));
                        }
                    }
                }
            }
        }
        let mut r: CniResult = serde_json::from_value(Value::Object(obj))
            .map_err(|e| CniError::decode(format!("invalid CNI result: {e}"), ""))?;
        if !version_at_least(version, "1.1.0") {
            r.strip_1_1_fields();
        }
        Ok(r)
    }

    fn strip_1_1_fields(&mut self) {
        for i in &mut self.interfaces {
            i.mtu = None;
            i.socket_path = None;
            i.pci_id = None;
        }
        for r in &mut self.routes {
            r.mtu = None;
            r.advmss = None;
            r.priority = None;
            r.table = None;
            r.scope = None;
        }
    }

    /// The result in the form of `version`, with `cniVersion` set.
    pub fn to_json(&self, version: &str) -> Result<Value, CniError> {
        if !is_supported(version) {
            return Err(CniError::incompatible(
                format!("cannot convert a result to version {version:?}"),
                format!("supported: {}", super::SUPPORTED_VERSIONS.join(", ")),
            ));
        }
        let mut r = self.clone();
        if !version_at_least(version, "1.1.0") {
            r.strip_1_1_fields();
        }
        let mut m = Map::new();
        m.insert("cniVersion".into(), version.into());
        if !r.interfaces.is_empty() {
            m.insert("interfaces".into(), to_value(&r.interfaces));
        }
        let old = !version_at_least(version, "1.0.0");
        if !r.ips.is_empty() {
            let ips: Vec<Value> = r
                .ips
                .iter()
                .map(|ip| {
                    let mut v = to_value(ip);
                    if old {
                        let fam = if ip.address.addr.is_ipv4() { "4" } else { "6" };
                        if let Some(o) = v.as_object_mut() {
                            // `version` first, as the 0.x results print it.
                            let mut n = Map::new();
                            n.insert("version".into(), fam.into());
                            n.extend(std::mem::take(o));
                            *o = n;
                        }
                    }
                    v
                })
                .collect();
            m.insert("ips".into(), Value::Array(ips));
        }
        if !r.routes.is_empty() {
            m.insert("routes".into(), to_value(&r.routes));
        }
        if !r.dns.is_empty() {
            m.insert("dns".into(), to_value(&r.dns));
        }
        Ok(Value::Object(m))
    }
}

fn to_value<T: Serialize>(t: &T) -> Value {
    serde_json::to_value(t).expect("CNI result types serialise")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> CniResult {
        CniResult {
            interfaces: vec![Interface {
                name: "eth0".into(),
                mac: Some("0a:58:0a:00:00:05".into()),
                mtu: Some(1450),
                sandbox: Some("/var/run/netns/x".into()),
                socket_path: None,
                pci_id: Some("0000:00:1f.6".into()),
            }],
            ips: vec![
                IpConfig {
                    interface: Some(0),
                    address: "10.0.0.5/24".parse().unwrap(),
                    gateway: Some("10.0.0.1".parse().unwrap()),
                },
                IpConfig {
                    interface: None,
                    address: "fd00::5/64".parse().unwrap(),
                    gateway: None,
                },
            ],
            routes: vec![Route {
                table: Some(100),
                mtu: Some(1400),
                ..Route::new("0.0.0.0/0".parse().unwrap(), None)
            }],
            dns: Dns {
                nameservers: vec!["10.0.0.10".into()],
                ..Dns::default()
            },
        }
    }

    #[test]
    fn every_version_has_its_shape() {
        let r = sample();
        let v03 = r.to_json("0.3.1").unwrap();
        assert_eq!(v03["cniVersion"], "0.3.1");
        assert_eq!(v03["ips"][0]["version"], "4");
        assert_eq!(v03["ips"][1]["version"], "6");
        assert!(v03["interfaces"][0].get("mtu").is_none());
        assert!(v03["interfaces"][0].get("pciID").is_none());
        assert!(v03["routes"][0].get("table").is_none());
        let v10 = r.to_json("1.0.0").unwrap();
        assert!(v10["ips"][0].get("version").is_none());
        assert!(v10["routes"][0].get("mtu").is_none());
        let v11 = r.to_json("1.1.0").unwrap();
        assert_eq!(v11["interfaces"][0]["mtu"], 1450);
        assert_eq!(v11["interfaces"][0]["pciID"], "0000:00:1f.6");
        assert_eq!(v11["routes"][0]["table"], 100);
        assert_eq!(v11["routes"][0]["mtu"], 1400);
        assert_eq!(v11["ips"][0]["interface"], 0);
        assert!(v11["ips"][1].get("interface").is_none());
        assert_eq!(v11["dns"]["nameservers"][0], "10.0.0.10");
        assert!(r.to_json("0.2.0").unwrap_err().code() == 1);
    }

    #[test]
    fn round_trips_through_every_version() {
        let r = sample();
        for v in super::super::SUPPORTED_VERSIONS {
            let back = CniResult::from_json(&r.to_json(v).unwrap(), "1.1.0").unwrap();
            if v == "1.1.0" {
                assert_eq!(back, r);
            } else {
                assert_eq!(back.ips, r.ips, "{v}");
                assert_eq!(back.interfaces[0].mtu, None);
            }
        }
    }

    #[test]
    fn reads_old_results_and_rejects_bad_ones() {
        let old =
            json!({"cniVersion": "0.3.0", "ips": [{"version": "4", "address": "10.1.2.3/16"}]});
        let r = CniResult::from_json(&old, "1.0.0").unwrap();
        assert_eq!(r.ips[0].address.to_string(), "10.1.2.3/16");
        let wrong =
            json!({"cniVersion": "0.4.0", "ips": [{"version": "6", "address": "10.1.2.3/16"}]});
        assert_eq!(CniResult::from_json(&wrong, "1.0.0").unwrap_err().code(), 6);
        let bad = json!({"cniVersion": "1.0.0", "ips": [{"address": "10.1.2.3"}]});
        assert_eq!(CniResult::from_json(&bad, "1.0.0").unwrap_err().code(), 6);
        let unknown = json!({"cniVersion": "9.9.9"});
        assert_eq!(
            CniResult::from_json(&unknown, "1.0.0").unwrap_err().code(),
            1
        );
    }

    #[test]
    fn resolv_conf() {
        let d = Dns::from_resolv_conf(
            "# comment\nnameserver 10.0.0.10\nnameserver fd00::10\ndomain example.com\nsearch a.example b.example\noptions ndots:5 edns0\n",
        );
        assert_eq!(d.nameservers, ["10.0.0.10", "fd00::10"]);
        assert_eq!(d.domain.as_deref(), Some("example.com"));
        assert_eq!(d.search, ["a.example", "b.example"]);
        assert_eq!(d.options, ["ndots:5", "edns0"]);
    }
}
