//! The announcement configuration resolved from manifests: speakers, address
//! pools with their advertisements, and BGP peers.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::ipam::{Family, addr_to_u128};
use crate::model::inventory::{Network, NetworkSubnet, SubnetAddresses};
use crate::model::{Document, ModelError, Object, Place, Source, Taint};
use crate::select::Selector;

use super::NodeView;
use super::config::{KontenaPool, Toleration};

/// A BGP peer router.
#[derive(Debug, Clone, PartialEq)]
pub struct Peer {
    /// The peer's name (MetalLB object name, or its address for Kontena).
    pub name: String,
    /// The router's address.
    pub address: IpAddr,
    /// Our AS number.
    pub my_asn: u32,
    /// The router's AS number.
    pub peer_asn: u32,
    /// Which nodes peer with it (any of them); empty: every node.
    pub node_selectors: Vec<Selector>,
}

/// How a pool's addresses are announced over BGP.
#[derive(Debug, Clone, PartialEq)]
pub struct BgpAdvert {
    /// Which nodes announce (any of them); empty: every speaker.
    pub node_selectors: Vec<Selector>,
    /// Communities attached.
    pub communities: Vec<String>,
    /// Peers by name; empty: every peer.
    pub peers: Vec<String>,
}

/// A pool's `serviceAllocation`, compiled: which services may use it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PoolScope {
    /// Lower first among the pools that allow a service; `None` after them.
    pub priority: Option<i32>,
    /// Namespaces by name.
    pub namespaces: Vec<String>,
    /// Namespaces by label (any of them).
    pub namespace_selectors: Vec<Selector>,
    /// Services by label (any of them; empty: any service).
    pub service_selectors: Vec<Selector>,
}

impl PoolScope {
    /// Whether a service of `namespace` (with the namespace's labels, if the
    /// Namespace is known) and with `service_labels` may use the pool.
    pub fn allows(
        &self,
        namespace: &str,
        namespace_labels: Option<&BTreeMap<String, String>>,
        service_labels: &BTreeMap<String, String>,
    ) -> bool {
        let namespace_ok = (self.namespaces.is_empty() && self.namespace_selectors.is_empty())
            || self.namespaces.iter().any(|n| n == namespace)
            || namespace_labels
                .is_some_and(|l| self.namespace_selectors.iter().any(|s| s.matches(l)));
        let service_ok = self.service_selectors.is_empty()
            || self
                .service_selectors
                .iter()
                .any(|s| s.matches(service_labels));
        namespace_ok && service_ok
    }
}

/// An address pool.
#[derive(Debug, Clone, PartialEq)]
pub struct AddressPool {
    /// The pool's name.
    pub name: String,
    /// Its labels (MetalLB `ipAddressPoolSelectors` match them).
    pub labels: BTreeMap<String, String>,
    /// Whether services without a pool annotation may use it.
    pub auto_assign: bool,
    /// Skip IPv4 `.0` and `.255` addresses.
    pub avoid_buggy_ips: bool,
    /// The services it is pinned to (MetalLB `serviceAllocation`); `None`:
    /// every service.
    pub scope: Option<PoolScope>,
    /// Inclusive address blocks, in config order.
    pub blocks: Vec<(IpAddr, IpAddr)>,
    /// Layer-2 advertisements: each a list of node selectors (empty: every speaker).
    pub layer2: Vec<Vec<Selector>>,
    /// BGP advertisements.
    pub bgp: Vec<BgpAdvert>,
    /// Where it was defined.
    pub source: Source,
}

/// The prefix of pool ids among networks.
pub const POOL_ID_PREFIX: &str = "address-pool/";

impl AddressPool {
    /// The pool's id among networks: `address-pool/<name>`.
    pub fn id(&self) -> String {
        format!("{POOL_ID_PREFIX}{}", self.name)
    }

    /// The pool as an external address source beside the virtual networks:
    /// id `address-pool/<name>`, one subnet per family present.
    pub fn as_network(&self) -> Network {
        let sub = |fam: Family| {
            let blocks: Vec<(IpAddr, IpAddr)> = self
                .blocks
                .iter()
                .copied()
                .filter(|(a, _)| Family::of(a) == fam)
                .collect();
            (!blocks.is_empty()).then(|| NetworkSubnet {
                pool: format!("{POOL_ID_PREFIX}{}-{fam}", self.name),
                addresses: SubnetAddresses::List {
                    family: fam,
                    blocks,
                    avoid_buggy_ips: self.avoid_buggy_ips,
                },
            })
        };
        Network {
            id: self.id(),
            namespace: String::new(),
            name: self.name.clone(),
            labels: self.labels.clone(),
            v4: sub(Family::V4),
            v6: sub(Family::V6),
            route_targets: Vec::new(),
            export_route_targets: Vec::new(),
            import_route_targets: Vec::new(),
            source: self.source.clone(),
        }
    }
}

/// Speakers, pools and peers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnnounceConfig {
    /// Which nodes run speakers; `None`: every node.
    pub speaker_selector: Option<Selector>,
    /// Tolerations of the speakers.
    pub tolerations: Vec<Toleration>,
    /// Pools in config order.
    pub pools: Vec<AddressPool>,
    /// BGP peers.
    pub peers: Vec<Peer>,
}

impl AnnounceConfig {
    /// The pool of that name.
    pub fn pool(&self, name: &str) -> Option<&AddressPool> {
        self.pools.iter().find(|p| p.name == name)
    }

    /// Whether a speaker runs on `node`: its labels match the speaker
    /// selector and each of its NoSchedule / NoExecute taints is tolerated.
    pub fn is_speaker(&self, node: &NodeView<'_>) -> bool {
        self.speaker_selector
            .as_ref()
            .is_none_or(|s| s.matches(node.labels))
            && node
                .taints
                .iter()
                .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
                .all(|t| self.tolerations.iter().any(|tol| tolerates(tol, t)))
    }

    /// Resolves the configuration objects of a manifest set.
    pub fn resolve(documents: &[Document]) -> Result<AnnounceConfig, ModelError> {
        let mut cfg = AnnounceConfig::default();
        let mut kontena_seen: Option<&Source> = None;
        let mut l2_adverts = Vec::new();
        let mut bgp_adverts = Vec::new();
        for d in documents {
            let err = |message: String| reference(d, message);
            match &d.object {
                Object::NetworkLoadBalancerConfig(k) => {
                    if let Some(prev) = kontena_seen {
                        return Err(err(format!(
                            "a second NetworkLoadBalancerConfig (the first is at {}: document {})",
                            prev.file, prev.document
                        )));
                    }
                    kontena_seen = Some(&d.source);
                    if !k.node_selector.is_empty() {
                        cfg.speaker_selector = Some(Selector::from_labels(&k.node_selector));
                    }
                    cfg.tolerations = k.tolerations.clone();
                    for (i, p) in k.peers.iter().enumerate() {
                        let node_selectors = p
                            .node_selectors
                            .iter()
                            .enumerate()
                            .map(|(j, s)| {
                                s.to_label_selector()
                                    .compile(&format!("peers[{i}].node_selectors[{j}]"))
                                    .map_err(|e| err(e.to_string()))
                            })
                            .collect::<Result<Vec<_>, _>>()?;
                        cfg.peers.push(Peer {
                            name: p.peer_address.to_string(),
                            address: p.peer_address,
                            my_asn: p.my_asn,
                            peer_asn: p.peer_asn,
                            node_selectors,
                        });
                    }
                    for (i, p) in k.address_pools.iter().enumerate() {
                        cfg.pools.push(kontena_pool(p, i, &d.source).map_err(err)?);
                    }
                    if k.address_pools.iter().any(|p| p.protocol == "bgp") && k.peers.is_empty() {
                        return Err(err(
                            "Peers have to be configured for BGP protocol".to_string()
                        ));
                    }
                }
                Object::IpAddressPool(p) => {
                    let blocks = p
                        .spec
                        .addresses
                        .iter()
                        .enumerate()
                        .map(|(i, a)| {
                            parse_block(a).map_err(|m| err(format!("spec.addresses[{i}]: {m}")))
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    let scope = match &p.spec.service_allocation {
                        None => None,
                        Some(a) => Some(PoolScope {
                            priority: a.priority.filter(|&p| p != 0),
                            namespaces: a.namespaces.clone(),
                            namespace_selectors: compile_all(
                                &a.namespace_selectors,
                                "spec.serviceAllocation.namespaceSelectors",
                            )
                            .map_err(err)?,
                            service_selectors: compile_all(
                                &a.service_selectors,
                                "spec.serviceAllocation.serviceSelectors",
                            )
                            .map_err(err)?,
                        }),
                    };
                    cfg.pools.push(AddressPool {
                        name: p.metadata.name.clone(),
                        labels: p.metadata.labels.clone(),
                        auto_assign: p.spec.auto_assign,
                        avoid_buggy_ips: p.spec.avoid_buggy_ips,
                        scope,
                        blocks,
                        layer2: Vec::new(),
                        bgp: Vec::new(),
                        source: d.source.clone(),
                    });
                }
                Object::BgpPeer(p) => {
                    let Some(address) = p.spec.peer_address else {
                        return Err(err("spec.peerAddress is missing".to_string()));
                    };
                    let node_selectors =
                        compile_all(&p.spec.node_selectors, "spec.nodeSelectors").map_err(err)?;
                    cfg.peers.push(Peer {
                        name: p.metadata.name.clone(),
                        address,
                        my_asn: p.spec.my_asn,
                        peer_asn: p.spec.peer_asn,
                        node_selectors,
                    });
                }
                Object::L2Advertisement(a) => l2_adverts.push((d, a)),
                Object::BgpAdvertisement(a) => bgp_adverts.push((d, a)),
                _ => {}
            }
        }
        let mut names = BTreeMap::new();
        for p in &cfg.pools {
            if let Some(prev) = names.insert(p.name.clone(), &p.source) {
                return Err(ModelError::Reference {
                    place: Box::new(Place {
                        file: p.source.file.clone(),
                        document: p.source.document,
                        kind: "address pool".into(),
                        name: p.name.clone(),
                    }),
                    message: format!(
                        "defined twice (first at {}: document {})",
                        prev.file, prev.document
                    ),
                });
            }
        }
        for (is_bgp, list) in [(false, &l2_adverts), (true, &bgp_adverts)] {
            for (d, a) in list {
                let err = |message: String| reference(d, message);
                let pool_sel = compile_all(
                    &a.spec.ip_address_pool_selectors,
                    "spec.ipAddressPoolSelectors",
                )
                .map_err(err)?;
                let node_selectors =
                    compile_all(&a.spec.node_selectors, "spec.nodeSelectors").map_err(err)?;
                for name in &a.spec.ip_address_pools {
                    if !cfg.pools.iter().any(|p| &p.name == name) {
                        return Err(err(format!(
                            "spec.ipAddressPools names pool {name}, which does not exist"
                        )));
                    }
                }
                let every = a.spec.ip_address_pools.is_empty() && pool_sel.is_empty();
                for pool in &mut cfg.pools {
                    let chosen = every
                        || a.spec.ip_address_pools.contains(&pool.name)
                        || pool_sel.iter().any(|s| s.matches(&pool.labels));
                    if !chosen {
                        continue;
                    }
                    if is_bgp {
                        pool.bgp.push(BgpAdvert {
                            node_selectors: node_selectors.clone(),
                            communities: a.spec.communities.clone(),
                            peers: a.spec.peers.clone(),
                        });
                    } else {
                        pool.layer2.push(node_selectors.clone());
                    }
                }
                if is_bgp && cfg.peers.is_empty() {
                    return Err(err(
                        "Peers have to be configured for BGP protocol".to_string()
                    ));
                }
            }
        }
        Ok(cfg)
    }
}

/// An error about a configuration object, naming its file, document and name.
fn reference(d: &Document, message: String) -> ModelError {
    ModelError::Reference {
        place: Box::new(Place {
            file: d.source.file.clone(),
            document: d.source.document,
            kind: d.object.kind().to_string(),
            name: d.object.display_name(),
        }),
        message,
    }
}

fn compile_all(list: &[crate::select::LabelSelector], what: &str) -> Result<Vec<Selector>, String> {
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            s.compile(&format!("{what}[{i}]"))
                .map_err(|e| e.to_string())
        })
        .collect()
}

fn kontena_pool(p: &KontenaPool, i: usize, source: &Source) -> Result<AddressPool, String> {
    let blocks = p
        .addresses
        .iter()
        .enumerate()
        .map(|(j, a)| parse_block(a).map_err(|m| format!("address_pools[{i}].addresses[{j}]: {m}")))
        .collect::<Result<Vec<_>, _>>()?;
    let all: Vec<Selector> = Vec::new();
    let (layer2, bgp) = match p.protocol.as_str() {
        "layer2" => (vec![all], Vec::new()),
        "bgp" => (
            Vec::new(),
            vec![BgpAdvert {
                node_selectors: Vec::new(),
                communities: Vec::new(),
                peers: Vec::new(),
            }],
        ),
        other => {
            return Err(format!(
                "address_pools[{i}].protocol: {other:?} is not bgp or layer2"
            ));
        }
    };
    Ok(AddressPool {
        name: p.name.clone(),
        labels: BTreeMap::new(),
        auto_assign: p.auto_assign,
        avoid_buggy_ips: p.avoid_buggy_ips,
        scope: None,
        blocks,
        layer2,
        bgp,
        source: source.clone(),
    })
}

/// Parses a CIDR block, an `a-b` range or a single address.
fn parse_block(text: &str) -> Result<(IpAddr, IpAddr), String> {
    let t = text.trim();
    if let Some((a, b)) = t.split_once('-') {
        let a: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| format!("{t:?}: {a:?} is not an IP address"))?;
        let b: IpAddr = b
            .trim()
            .parse()
            .map_err(|_| format!("{t:?}: {b:?} is not an IP address"))?;
        if Family::of(&a) != Family::of(&b) || addr_to_u128(&a) > addr_to_u128(&b) {
            return Err(format!("{t:?} is not an ascending range of one family"));
        }
        return Ok((a, b));
    }
    if t.contains('/') {
        let c: crate::ipam::Cidr = t.parse().map_err(|e| format!("{e}"))?;
        return Ok((c.network(), c.last()));
    }
    let a: IpAddr = t
        .parse()
        .map_err(|_| format!("{t:?} is not a CIDR, a range or an address"))?;
    Ok((a, a))
}

fn tolerates(tol: &Toleration, taint: &Taint) -> bool {
    let effect_ok = tol.effect.is_empty() || tol.effect == taint.effect;
    let key_ok = match tol.operator.as_str() {
        "Exists" => tol.key.is_empty() || tol.key == taint.key,
        _ => tol.key == taint.key && tol.value == taint.value,
    };
    effect_ok && key_ok
}
