//! Announcement configuration as manifests: the Kontena Network Loadbalancer
//! addon config and MetalLB's custom resources.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Deserializer};

use crate::model::ObjectMeta;
use crate::model::kinds::nullable;
use crate::select::LabelSelector;

/// A node selector given as a label map, or as `""` / `{}` for every node.
fn label_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Map(BTreeMap<String, String>),
        Text(String),
    }
    match Option::<Either>::deserialize(d)? {
        None => Ok(BTreeMap::new()),
        Some(Either::Map(m)) => Ok(m),
        Some(Either::Text(t)) if t.trim().is_empty() => Ok(BTreeMap::new()),
        Some(Either::Text(t)) => Err(serde::de::Error::custom(format!(
            "expected a map of node labels, got {t:?}"
        ))),
    }
}

/// `kind: NetworkLoadBalancerConfig` (`cn2.dev/v1`): the Kontena Network
/// Loadbalancer addon configuration.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct NetworkLoadBalancerConfig {
    /// Metadata (optional for this kind).
    pub metadata: ObjectMeta,
    /// Which nodes run speakers: a label map; empty means every node.
    #[serde(deserialize_with = "label_map")]
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations of the speaker pods (tainted nodes need one).
    #[serde(deserialize_with = "nullable")]
    pub tolerations: Vec<Toleration>,
    /// Address pools.
    #[serde(deserialize_with = "nullable")]
    pub address_pools: Vec<KontenaPool>,
    /// BGP peers.
    #[serde(deserialize_with = "nullable")]
    pub peers: Vec<KontenaPeer>,
}

/// One Kontena address pool.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct KontenaPool {
    /// The pool's name.
    pub name: String,
    /// `bgp` or `layer2`.
    pub protocol: String,
    /// CIDR blocks or `a-b` ranges.
    #[serde(default, deserialize_with = "nullable")]
    pub addresses: Vec<String>,
    /// Whether services without a pool annotation may get addresses from it.
    #[serde(default = "yes")]
    pub auto_assign: bool,
    /// Skip IPv4 addresses ending in `.0` or `.255`.
    #[serde(default)]
    pub avoid_buggy_ips: bool,
}

fn yes() -> bool {
    true
}

/// One Kontena BGP peer.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct KontenaPeer {
    /// The router's address.
    pub peer_address: IpAddr,
    /// The router's AS number.
    pub peer_asn: u32,
    /// Our AS number.
    pub my_asn: u32,
    /// Which nodes peer with it (any of the selectors); empty: every node.
    #[serde(default, deserialize_with = "nullable")]
    pub node_selectors: Vec<KontenaNodeSelector>,
}

/// A node selector in MetalLB's legacy spelling.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct KontenaNodeSelector {
    /// Labels that must match.
    #[serde(rename = "match-labels", deserialize_with = "nullable")]
    pub match_labels: BTreeMap<String, String>,
    /// Expressions that must hold.
    #[serde(rename = "match-expressions", deserialize_with = "nullable")]
    pub match_expressions: Vec<crate::select::LabelRequirement>,
}

impl KontenaNodeSelector {
    /// The same selector as a standard label selector.
    pub fn to_label_selector(&self) -> LabelSelector {
        LabelSelector {
            match_labels: Some(self.match_labels.clone()),
            match_expressions: Some(self.match_expressions.clone()),
        }
    }
}

/// A Kubernetes toleration.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Toleration {
    /// Taint key; empty with `Exists` tolerates every taint.
    #[serde(deserialize_with = "nullable")]
    pub key: String,
    /// `Equal` (default) or `Exists`.
    #[serde(deserialize_with = "nullable")]
    pub operator: String,
    /// Taint value, for `Equal`.
    #[serde(deserialize_with = "nullable")]
    pub value: String,
    /// Taint effect; empty matches every effect.
    #[serde(deserialize_with = "nullable")]
    pub effect: String,
}

/// `metallb.io/v1beta1` `IPAddressPool`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct IpAddressPool {
    /// Metadata; labels are matched by `ipAddressPoolSelectors`.
    pub metadata: ObjectMeta,
    /// The spec.
    #[serde(deserialize_with = "nullable")]
    pub spec: IpAddressPoolSpec,
}

/// `IPAddressPool.spec`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct IpAddressPoolSpec {
    /// CIDR blocks or `a-b` ranges.
    #[serde(deserialize_with = "nullable")]
    pub addresses: Vec<String>,
    /// Whether services without a pool annotation may get addresses from it.
    pub auto_assign: bool,
    /// Skip IPv4 addresses ending in `.0` or `.255`.
    #[serde(rename = "avoidBuggyIPs")]
    pub avoid_buggy_ips: bool,
    /// Which services may take addresses from the pool, and its priority
    /// among the pools that allow a service; absent: every service.
    pub service_allocation: Option<ServiceAllocation>,
}

impl Default for IpAddressPoolSpec {
    fn default() -> Self {
        IpAddressPoolSpec {
            addresses: Vec::new(),
            auto_assign: true,
            avoid_buggy_ips: false,
            service_allocation: None,
        }
    }
}

/// `IPAddressPool.spec.serviceAllocation`: pins a pool to namespaces and
/// services.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceAllocation {
    /// Among the pools that allow a service, a lower number is tried first;
    /// absent (or 0): after those with a priority.
    pub priority: Option<i32>,
    /// Namespaces by name (a service's namespace must be one of these or
    /// match one of `namespaceSelectors`; both empty: any namespace).
    #[serde(deserialize_with = "nullable")]
    pub namespaces: Vec<String>,
    /// Namespaces by label.
    #[serde(deserialize_with = "nullable")]
    pub namespace_selectors: Vec<LabelSelector>,
    /// Services by label (any of them; empty: any service).
    #[serde(deserialize_with = "nullable")]
    pub service_selectors: Vec<LabelSelector>,
}

/// `metallb.io` `BGPPeer` (v1beta1, v1beta2).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct BgpPeer {
    /// Metadata.
    pub metadata: ObjectMeta,
    /// The spec.
    #[serde(deserialize_with = "nullable")]
    pub spec: BgpPeerSpec,
}

/// `BGPPeer.spec`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct BgpPeerSpec {
    /// Our AS number.
    #[serde(rename = "myASN")]
    pub my_asn: u32,
    /// The router's AS number.
    #[serde(rename = "peerASN")]
    pub peer_asn: u32,
    /// The router's address.
    pub peer_address: Option<IpAddr>,
    /// Which nodes peer with it (any of the selectors); empty: every node.
    #[serde(deserialize_with = "nullable")]
    pub node_selectors: Vec<LabelSelector>,
}

/// `metallb.io/v1beta1` `L2Advertisement` and `BGPAdvertisement`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Advertisement {
    /// Metadata.
    pub metadata: ObjectMeta,
    /// The spec.
    #[serde(deserialize_with = "nullable")]
    pub spec: AdvertisementSpec,
}

/// The spec of an advertisement.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct AdvertisementSpec {
    /// Pools by name; with no names and no selectors, every pool.
    #[serde(deserialize_with = "nullable")]
    pub ip_address_pools: Vec<String>,
    /// Pools by labels.
    #[serde(deserialize_with = "nullable")]
    pub ip_address_pool_selectors: Vec<LabelSelector>,
    /// Which nodes announce (any of the selectors); empty: every speaker.
    #[serde(deserialize_with = "nullable")]
    pub node_selectors: Vec<LabelSelector>,
    /// BGP communities (BGPAdvertisement only).
    #[serde(deserialize_with = "nullable")]
    pub communities: Vec<String>,
    /// Peers by name (BGPAdvertisement only); empty: every peer.
    #[serde(deserialize_with = "nullable")]
    pub peers: Vec<String>,
}
