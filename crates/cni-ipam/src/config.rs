//! The plugin's configuration: host-local's `ipam` section.
//!
//! ```json
//! "ipam": {
//!   "type": "cn2-ipam",
//!   "ranges": [
//!     [{"subnet": "10.10.0.0/24", "rangeStart": "10.10.0.10", "gateway": "10.10.0.1"}],
//!     [{"subnet": "fd00:10::/64"}]
//!   ],
//!   "routes": [{"dst": "0.0.0.0/0"}],
//!   "dataDir": "/var/lib/cni/networks",
//!   "resolvConf": "/etc/resolv.conf"
//! }
//! ```
//!
//! `ranges` is a list of **range sets**; each set is a list of ranges of one
//! family, and one address is allocated from every set (two sets make a
//! dual-stack attachment). A legacy top-level `subnet` (with `rangeStart`,
//! `rangeEnd`, `gateway`) is one more set, placed first. `runtimeConfig.ipRanges`
//! (the `ipRanges` capability) replaces `ranges`.
//!
//! Reservation rules (host-local's): the network address, the gateway (the
//! configured one, else the subnet's first address) and the IPv4 broadcast
//! address are never handed out; `rangeStart` defaults to the first address
//! after the network address, `rangeEnd` to the last address before the IPv4
//! broadcast (the last address of an IPv6 subnet).
//!
//! Static requests come from `runtimeConfig.ips` (the `ips` capability),
//! `args.cni.ips` and `CNI_ARGS` `IP=a,b`; each is served from the range set
//! that contains it.

use std::net::IpAddr;
use std::path::PathBuf;

use cn2_core::cni::{CniError, Dns, IpNet, Request, Route};
use cn2_core::ipam::{Cidr, Family, addr_to_u128};
use serde::Deserialize;
use serde_json::Value;

/// The default state directory, as host-local's.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/cni/networks";

/// One range: a subnet and the window `[start, end]` addresses come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// The subnet.
    pub subnet: Cidr,
    /// The first allocatable address, as a number.
    pub start: u128,
    /// The last allocatable address, as a number.
    pub end: u128,
    /// The gateway (never allocated; reported in the result).
    pub gateway: IpAddr,
}

impl Range {
    /// The family.
    pub fn family(&self) -> Family {
        self.subnet.family()
    }

    /// Whether `addr` may be handed out from this range (inside the window,
    /// not the gateway).
    pub fn allocatable(&self, addr: &IpAddr) -> bool {
        if Family::of(addr) != self.family() {
            return false;
        }
        let n = addr_to_u128(addr);
        n >= self.start && n <= self.end && *addr != self.gateway
    }

    /// Whether `addr` lies in this range's subnet.
    pub fn in_subnet(&self, addr: &IpAddr) -> bool {
        self.subnet.contains(addr)
    }

    /// Number of addresses that may be handed out.
    pub fn capacity(&self) -> u128 {
        let n = self.end - self.start + 1;
        let g = addr_to_u128(&self.gateway);
        if Family::of(&self.gateway) == self.family() && g >= self.start && g <= self.end {
            n - 1
        } else {
            n
        }
    }

    /// The address after `n` in this range (skipping the gateway), if any.
    pub fn next_after(&self, n: u128) -> Option<u128> {
        let g = addr_to_u128(&self.gateway);
        let mut c = if n < self.start {
            self.start
        } else {
            n.checked_add(1)?
        };
        if c == g {
            c = c.checked_add(1)?;
        }
        (c >= self.start && c <= self.end).then_some(c)
    }

    /// The first allocatable address.
    pub fn first(&self) -> Option<u128> {
        // `start` is at least the network address + 1, so this cannot underflow.
        self.next_after(self.start - 1)
    }
}

/// A range set: ranges of one family; one address per set per attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeSet {
    /// The ranges, in configuration order (the allocation order).
    pub ranges: Vec<Range>,
}

impl RangeSet {
    /// The family.
    pub fn family(&self) -> Family {
        self.ranges[0].family()
    }

    /// The range of this set that may hand out `addr`.
    pub fn range_for(&self, addr: &IpAddr) -> Option<&Range> {
        self.ranges.iter().find(|r| r.allocatable(addr))
    }

    /// Whether `addr` lies in one of the set's windows (even if it is the gateway).
    pub fn contains(&self, addr: &IpAddr) -> bool {
        self.ranges.iter().any(|r| {
            let n = addr_to_u128(addr);
            r.in_subnet(addr) && n >= r.start && n <= r.end
        })
    }

    /// Number of addresses the set may hand out.
    pub fn capacity(&self) -> u128 {
        self.ranges
            .iter()
            .fold(0u128, |a, r| a.saturating_add(r.capacity()))
    }

    /// A short description for messages: the subnets.
    pub fn describe(&self) -> String {
        self.ranges
            .iter()
            .map(|r| r.subnet.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The parsed `ipam` section with the request's static addresses.
#[derive(Debug, Clone)]
pub struct IpamConfig {
    /// Range sets; one address is allocated from each.
    pub sets: Vec<RangeSet>,
    /// Routes to report.
    pub routes: Vec<Route>,
    /// The state directory (one subdirectory per network).
    pub data_dir: PathBuf,
    /// DNS read from `resolvConf`, if configured.
    pub dns: Option<Dns>,
    /// Static addresses requested for this attachment.
    pub requested: Vec<IpAddr>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRange {
    subnet: Option<String>,
    range_start: Option<IpAddr>,
    range_end: Option<IpAddr>,
    gateway: Option<IpAddr>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawIpam {
    #[serde(flatten)]
    legacy: RawRange,
    #[serde(default)]
    ranges: Vec<Vec<RawRange>>,
    #[serde(default)]
    routes: Vec<Route>,
    data_dir: Option<PathBuf>,
    resolv_conf: Option<PathBuf>,
}

fn bad(msg: impl Into<String>, details: impl Into<String>) -> CniError {
    CniError::config(msg, details)
}

impl IpamConfig {
    /// Reads the configuration of a request (code 7 when invalid, 6 when a
    /// field has the wrong type).
    pub fn from_request(req: &Request) -> Result<IpamConfig, CniError> {
        let ipam = req
            .config
            .ipam
            .clone()
            .ok_or_else(|| bad("missing \"ipam\" section", ""))?;
        let raw: RawIpam = serde_json::from_value(Value::Object(ipam))
            .map_err(|e| CniError::decode(format!("invalid \"ipam\" section: {e}"), ""))?;
        let mut raw_sets = raw.ranges;
        if let Some(v) = req.config.runtime_config.get("ipRanges") {
            let rt: Vec<Vec<RawRange>> = serde_json::from_value(v.clone()).map_err(|e| {
                CniError::decode(format!("invalid runtimeConfig.ipRanges: {e}"), "")
            })?;
            if !rt.is_empty() {
                raw_sets = rt;
            }
        }
        if raw.legacy.subnet.is_some() {
            raw_sets.insert(0, vec![raw.legacy]);
        }
        let mut sets = Vec::with_capacity(raw_sets.len());
        for (i, raw_set) in raw_sets.into_iter().enumerate() {
            if raw_set.is_empty() {
                return Err(bad(format!("range set {i} is empty"), ""));
            }
            let ranges = raw_set
                .into_iter()
                .map(canonical)
                .collect::<Result<Vec<_>, _>>()?;
            let set = RangeSet { ranges };
            let fam = set.family();
            for r in &set.ranges {
                if r.family() != fam {
                    return Err(bad(
                        format!("range set {i} mixes IP families"),
                        r.subnet.to_string(),
                    ));
                }
            }
            sets.push(set);
        }
        if sets.is_empty() {
            return Err(bad(
                "no IP ranges specified",
                "set ipam.ranges or ipam.subnet",
            ));
        }
        // No two ranges (in one set or across sets) may overlap.
        let all: Vec<(usize, &Range)> = sets
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.ranges.iter().map(move |r| (i, r)))
            .collect();
        for (a, (ia, ra)) in all.iter().enumerate() {
            for (ib, rb) in &all[a + 1..] {
                if ra.family() == rb.family() && ra.start <= rb.end && rb.start <= ra.end {
                    return Err(bad(
                        format!(
                            "range {} (set {ia}) overlaps range {} (set {ib})",
                            ra.subnet, rb.subnet
                        ),
                        "",
                    ));
                }
            }
        }
        let dns = match &raw.resolv_conf {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| bad(format!("cannot read resolvConf {}: {e}", p.display()), ""))?;
                Some(Dns::from_resolv_conf(&text))
            }
            None => None,
        };
        Ok(IpamConfig {
            sets,
            routes: raw.routes,
            data_dir: raw
                .data_dir
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            dns,
            requested: requested_ips(req)?,
        })
    }
}

/// Applies host-local's defaults and checks to one range.
fn canonical(r: RawRange) -> Result<Range, CniError> {
    let text = r
        .subnet
        .ok_or_else(|| bad("a range needs a \"subnet\"", ""))?;
    let net: IpNet = text
        .parse()
        .map_err(|e: String| bad(format!("invalid subnet: {e}"), text.clone()))?;
    let subnet: Cidr = text
        .parse()
        .map_err(|e: cn2_core::ipam::IpamError| bad(e.to_string(), text.clone()))?;
    if net.addr != subnet.network() {
        return Err(bad(
            format!(
                "network {text} has host bits set; the network address is {}",
                subnet.network()
            ),
            "",
        ));
    }
    let fam = subnet.family();
    if subnet.prefix() + 2 > fam.bits() {
        return Err(bad(
            format!("network {subnet} is too small to allocate from"),
            "",
        ));
    }
    let first = subnet.first_u128() + 1;
    let last = match fam {
        Family::V4 => subnet.last_u128() - 1,
        Family::V6 => subnet.last_u128(),
    };
    let check = |what: &str, a: &IpAddr| -> Result<u128, CniError> {
        let n = addr_to_u128(a);
        if !subnet.contains(a) || n < first || n > last {
            return Err(bad(
                format!("{what} {a} is not an allocatable address of {subnet}"),
                "",
            ));
        }
        Ok(n)
    };
    let start = match &r.range_start {
        Some(a) => check("rangeStart", a)?,
        None => first,
    };
    let end = match &r.range_end {
        Some(a) => check("rangeEnd", a)?,
        None => last,
    };
    if start > end {
        return Err(bad(
            format!(
                "rangeStart {} is after rangeEnd {}",
                fam.addr(start),
                fam.addr(end)
            ),
            "",
        ));
    }
    let gateway = match r.gateway {
        Some(g) => {
            if !subnet.contains(&g) {
                return Err(bad(format!("gateway {g} is outside subnet {subnet}"), ""));
            }
            g
        }
        None => fam.addr(first),
    };
    let range = Range {
        subnet,
        start,
        end,
        gateway,
    };
    if range.capacity() == 0 {
        return Err(bad(
            format!("range {subnet} has no allocatable address"),
            "",
        ));
    }
    Ok(range)
}

/// Static addresses from `runtimeConfig.ips`, `args.cni.ips` and `CNI_ARGS IP=`.
fn requested_ips(req: &Request) -> Result<Vec<IpAddr>, CniError> {
    req.env.args.check_known(&[
        "IP",
        "K8S_POD_NAME",
        "K8S_POD_NAMESPACE",
        "K8S_POD_INFRA_CONTAINER_ID",
        "K8S_POD_UID",
    ])?;
    let mut texts: Vec<(String, &str)> = Vec::new();
    let list =
        |v: Option<&Value>, what: &'static str| -> Result<Vec<(String, &'static str)>, CniError> {
            match v {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|x| {
                        x.as_str().map(|s| (s.to_string(), what)).ok_or_else(|| {
                            CniError::decode(format!("{what} must be a list of strings"), "")
                        })
                    })
                    .collect(),
                Some(_) => Err(CniError::decode(
                    format!("{what} must be a list of strings"),
                    "",
                )),
            }
        };
    texts.extend(list(
        req.config.runtime_config.get("ips"),
        "runtimeConfig.ips",
    )?);
    texts.extend(list(
        req.config.args.get("cni").and_then(|c| c.get("ips")),
        "args.cni.ips",
    )?);
    if let Some(ip) = req.env.args.get("IP") {
        texts.extend(
            ip.split(',')
                .filter(|s| !s.is_empty())
                .map(|s| (s.to_string(), "CNI_ARGS IP")),
        );
    }
    let mut out: Vec<IpAddr> = Vec::new();
    for (t, what) in texts {
        let t = t.trim();
        let addr: IpAddr = match t.split_once('/') {
            Some((a, _)) => t
                .parse::<IpNet>()
                .ok()
                .map(|n| n.addr)
                .filter(|_| !a.is_empty()),
            None => t.parse().ok(),
        }
        .ok_or_else(|| bad(format!("{what}: invalid address {t:?}"), ""))?;
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cn2_core::cni::{Environment, NetConf};

    fn req(ipam: &str, extra: &str, cni_args: &str) -> Request {
        let text =
            format!(r#"{{"cniVersion":"1.0.0","name":"n","type":"bridge","ipam":{ipam}{extra}}}"#);
        let config = NetConf::parse(text.as_bytes()).unwrap();
        let args = cni_args.to_string();
        let env = Environment::from_vars(&move |k| match k {
            "CNI_COMMAND" => Some("ADD".into()),
            "CNI_CONTAINERID" => Some("c".into()),
            "CNI_NETNS" => Some("/x".into()),
            "CNI_IFNAME" => Some("eth0".into()),
            "CNI_PATH" => Some("/bin".into()),
            "CNI_ARGS" => Some(args.clone()),
            _ => None,
        })
        .unwrap();
        Request { env, config }
    }

    fn cfg(ipam: &str) -> Result<IpamConfig, CniError> {
        IpamConfig::from_request(&req(ipam, "", ""))
    }

    #[test]
    fn defaults_follow_host_local() {
        let c = cfg(r#"{"type":"cn2-ipam","subnet":"10.0.0.0/29"}"#).unwrap();
        let r = &c.sets[0].ranges[0];
        assert_eq!(r.gateway.to_string(), "10.0.0.1");
        assert_eq!(r.capacity(), 5);
        assert!(!r.allocatable(&"10.0.0.0".parse().unwrap()));
        assert!(!r.allocatable(&"10.0.0.1".parse().unwrap()));
        assert!(!r.allocatable(&"10.0.0.7".parse().unwrap()));
        assert!(r.allocatable(&"10.0.0.6".parse().unwrap()));
        assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        let v6 = cfg(r#"{"ranges":[[{"subnet":"fd00::/125"}]]}"#).unwrap();
        // The last IPv6 address is usable, as in host-local.
        assert_eq!(v6.sets[0].capacity(), 6);
    }

    #[test]
    fn sets_windows_and_gateway_in_the_middle() {
        let c = cfg(
            r#"{"ranges":[[{"subnet":"10.0.0.0/24","rangeStart":"10.0.0.10","rangeEnd":"10.0.0.20","gateway":"10.0.0.15"}],
                          [{"subnet":"fd00::/64"}]],
                "routes":[{"dst":"0.0.0.0/0"}],"dataDir":"/tmp/x"}"#,
        )
        .unwrap();
        assert_eq!(c.sets.len(), 2);
        assert_eq!(c.sets[0].capacity(), 10);
        let r = &c.sets[0].ranges[0];
        assert_eq!(
            r.next_after(addr_to_u128(&"10.0.0.14".parse().unwrap())),
            Some(0x0a00_0010)
        );
        assert_eq!(r.first(), Some(0x0a00_000a));
        assert_eq!(c.routes.len(), 1);
    }

    #[test]
    fn invalid_configs_are_code_7() {
        for ipam in [
            r#"{}"#,
            r#"{"subnet":"10.0.0.1/24"}"#,
            r#"{"subnet":"10.0.0.0/31"}"#,
            r#"{"subnet":"10.0.0.0/24","rangeStart":"10.0.1.5"}"#,
            r#"{"subnet":"10.0.0.0/24","rangeStart":"10.0.0.9","rangeEnd":"10.0.0.5"}"#,
            r#"{"subnet":"10.0.0.0/24","gateway":"10.9.0.1"}"#,
            r#"{"ranges":[[{"subnet":"10.0.0.0/24"},{"subnet":"fd00::/64"}]]}"#,
            r#"{"ranges":[[{"subnet":"10.0.0.0/24"}],[{"subnet":"10.0.0.0/25"}]]}"#,
            r#"{"ranges":[[]]}"#,
            r#"{"subnet":"banana"}"#,
        ] {
            assert_eq!(cfg(ipam).unwrap_err().code(), 7, "{ipam}");
        }
        assert_eq!(cfg(r#"{"ranges":"x"}"#).unwrap_err().code(), 6);
    }

    #[test]
    fn static_requests_and_runtime_ranges() {
        let r = req(
            r#"{"subnet":"10.0.0.0/24"}"#,
            r#","runtimeConfig":{"ips":["10.0.0.9/24"],"ipRanges":[[{"subnet":"10.1.0.0/24"}]]},"args":{"cni":{"ips":["10.0.0.8"]}}"#,
            "IgnoreUnknown=1;IP=10.0.0.7,10.0.0.8",
        );
        let c = IpamConfig::from_request(&r).unwrap();
        let want: Vec<IpAddr> = ["10.0.0.9", "10.0.0.8", "10.0.0.7"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(c.requested, want);
        // The legacy subnet first, then runtimeConfig.ipRanges replacing ranges.
        assert_eq!(c.sets.len(), 2);
        assert_eq!(c.sets[1].ranges[0].subnet.to_string(), "10.1.0.0/24");
        let r = req(r#"{"subnet":"10.0.0.0/24"}"#, "", "FOO=1");
        assert_eq!(IpamConfig::from_request(&r).unwrap_err().code(), 4);
        let r = req(r#"{"subnet":"10.0.0.0/24"}"#, "", "IP=banana");
        assert_eq!(IpamConfig::from_request(&r).unwrap_err().code(), 7);
    }
}
