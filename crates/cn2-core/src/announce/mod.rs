//! Announcing external addresses: address pools (Kontena Network
//! Loadbalancer, MetalLB), layer 2 ownership and BGP.
//!
//! An **address pool** is an external address source beside CN2's external
//! networks: a list of addresses (CIDR blocks and `a-b` ranges, every address
//! assignable, lowest first; `avoidBuggyIPs` skips IPv4 `.0` and `.255`). A
//! service takes its address from a pool when its annotation
//! `metallb.io/address-pool` names it, or when no external network is
//! selected for it and the pool has `autoAssign` (pools in config order).
//!
//! * **layer 2** — exactly one speaker node owns each address and answers ARP
//!   (IPv4) or NDP (IPv6) for it. The owner is chosen by rendezvous hashing,
//!   as MetalLB does: among the eligible nodes, the one whose
//!   `sha256(node + "#" + address)` is smallest (bytewise). Removing a node
//!   moves only the addresses it owned.
//! * **bgp** — every eligible node announces the `/32` or `/128` to every
//!   peer whose node selectors match it, next hop = the node's fabric IP.
//!
//! Eligible nodes are the speaker nodes (the config's `node_selector`, and
//! taints tolerated by its `tolerations`) selected by the advertisement; with
//! `externalTrafficPolicy: Local`, only those with a ready local endpoint.
//!
//! Addresses from CN2 external networks are announced by the vRouters to the
//! gateway as VPN routes: one per node that hosts a member, with the
//! network's export route targets as communities.

pub mod config;
pub mod resolve;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::Serialize;
use sha2::{Digest, Sha256};

pub use resolve::{AddressPool, AnnounceConfig, BgpAdvert, Peer};

use crate::select::Selector;

/// How an address is announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// ARP / NDP by the owning node.
    Layer2,
    /// BGP to a peer router.
    Bgp,
    /// A VPN route learnt by the gateway from a vRouter.
    Vpn,
}

/// One announcement of one address by one node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Announcement {
    /// The announced address.
    pub address: IpAddr,
    /// How it is announced.
    pub protocol: Protocol,
    /// The announcing node.
    pub node: String,
    /// Where traffic goes: the node's fabric IP.
    pub next_hop: Option<IpAddr>,
    /// The BGP peer (bgp only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<IpAddr>,
    /// Our AS number (bgp only).
    #[serde(rename = "myASN", skip_serializing_if = "Option::is_none")]
    pub my_asn: Option<u32>,
    /// The peer's AS number (bgp only).
    #[serde(rename = "peerASN", skip_serializing_if = "Option::is_none")]
    pub peer_asn: Option<u32>,
    /// Communities (bgp, vpn).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub communities: Vec<String>,
    /// The service (`namespace/name`) the address belongs to.
    pub service: String,
}

/// The rendezvous-hash weight of `node` for `address`:
/// `sha256(node + "#" + address)`; the smallest digest wins.
pub fn rendezvous_digest(node: &str, address: &IpAddr) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(node.as_bytes());
    h.update(b"#");
    h.update(address.to_string().as_bytes());
    h.finalize().into()
}

/// The layer-2 owner of `address` among `nodes`: the node with the smallest
/// rendezvous digest (ties, impossible in practice, go to the smaller name).
pub fn layer2_owner<'a>(
    nodes: impl IntoIterator<Item = &'a str>,
    address: &IpAddr,
) -> Option<&'a str> {
    nodes
        .into_iter()
        .min_by_key(|n| (rendezvous_digest(n, address), *n))
}

/// Whether any selector matches `labels`; an empty list matches everything.
pub fn any_matches(selectors: &[Selector], labels: &BTreeMap<String, String>) -> bool {
    selectors.is_empty() || selectors.iter().any(|s| s.matches(labels))
}

/// What is known of a node for announcements.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeView<'a> {
    /// Node name.
    pub name: &'a str,
    /// Labels.
    pub labels: &'a BTreeMap<String, String>,
    /// The node's fabric IP.
    pub fabric_ip: Option<IpAddr>,
    /// Taints (speakers need a toleration).
    pub taints: &'a [crate::model::Taint],
}

/// One service's external addresses to announce.
#[derive(Debug, Clone)]
pub struct ServiceAddresses<'a> {
    /// `namespace/name`.
    pub service: String,
    /// The addresses.
    pub addresses: &'a [IpAddr],
    /// The pool they come from, if any (else a CN2 network).
    pub pool: Option<&'a AddressPool>,
    /// The network's export route targets (CN2 networks).
    pub communities: Vec<String>,
    /// `externalTrafficPolicy: Local`.
    pub local_only: bool,
    /// Nodes with a ready endpoint of the service.
    pub endpoint_nodes: &'a BTreeSet<String>,
}

/// Computes the announcements of one service; warnings go to `warnings`.
pub fn announce(
    cfg: &AnnounceConfig,
    nodes: &[NodeView<'_>],
    svc: &ServiceAddresses<'_>,
    warnings: &mut Vec<String>,
) -> Vec<Announcement> {
    let mut out = Vec::new();
    let Some(pool) = svc.pool else {
        // A CN2 external network: the gateway learns one VPN route per node
        // that hosts a member.
        for addr in svc.addresses {
            for n in nodes.iter().filter(|n| svc.endpoint_nodes.contains(n.name)) {
                out.push(Announcement {
                    address: *addr,
                    protocol: Protocol::Vpn,
                    node: n.name.to_string(),
                    next_hop: n.fabric_ip,
                    peer: None,
                    my_asn: None,
                    peer_asn: None,
                    communities: svc.communities.clone(),
                    service: svc.service.clone(),
                });
            }
        }
        let hosts = svc.endpoint_nodes.len();
        if hosts > 1 && !svc.addresses.is_empty() {
            warnings.push(format!(
                "the gateway learns each external address from {hosts} nodes: enable multipath (e.g. `multipath vpn-unequal-cost`) to use them all"
            ));
        }
        return out;
    };
    let eligible: Vec<&NodeView> = nodes
        .iter()
        .filter(|n| cfg.is_speaker(n))
        .filter(|n| !svc.local_only || svc.endpoint_nodes.contains(n.name))
        .collect();
    if !pool.layer2.is_empty() {
        let l2: Vec<&str> = eligible
            .iter()
            .filter(|n| pool.layer2.iter().any(|sel| any_matches(sel, n.labels)))
            .map(|n| n.name)
            .collect();
        for addr in svc.addresses {
            match layer2_owner(l2.iter().copied(), addr) {
                Some(owner) => out.push(Announcement {
                    address: *addr,
                    protocol: Protocol::Layer2,
                    node: owner.to_string(),
                    next_hop: nodes
                        .iter()
                        .find(|n| n.name == owner)
                        .and_then(|n| n.fabric_ip),
                    peer: None,
                    my_asn: None,
                    peer_asn: None,
                    communities: Vec::new(),
                    service: svc.service.clone(),
                }),
                None => warnings.push(format!("no eligible node announces {addr} over layer 2")),
            }
        }
    }
    let mut bgp: BTreeMap<(IpAddr, String, IpAddr), Announcement> = BTreeMap::new();
    for adv in &pool.bgp {
        for n in eligible
            .iter()
            .filter(|n| any_matches(&adv.node_selectors, n.labels))
        {
            for peer in cfg
                .peers
                .iter()
                .filter(|p| adv.peers.is_empty() || adv.peers.contains(&p.name))
            {
                if !any_matches(&peer.node_selectors, n.labels) {
                    continue;
                }
                for addr in svc.addresses {
                    let a = bgp
                        .entry((*addr, n.name.to_string(), peer.address))
                        .or_insert_with(|| Announcement {
                            address: *addr,
                            protocol: Protocol::Bgp,
                            node: n.name.to_string(),
                            next_hop: n.fabric_ip,
                            peer: Some(peer.address),
                            my_asn: Some(peer.my_asn),
                            peer_asn: Some(peer.peer_asn),
                            communities: Vec::new(),
                            service: svc.service.clone(),
                        });
                    a.communities.extend(adv.communities.iter().cloned());
                    a.communities.sort();
                    a.communities.dedup();
                }
            }
        }
    }
    if !pool.bgp.is_empty() && bgp.is_empty() && !svc.addresses.is_empty() {
        warnings.push(
            "no eligible node peers with a BGP router for this service's addresses".to_string(),
        );
    }
    out.extend(bgp.into_values());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendezvous_digest_is_sha256_of_node_hash_address() {
        // Known answers from coreutils: `printf 'node-a#192.0.2.1' | sha256sum`.
        let hex = |d: [u8; 32]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(rendezvous_digest("node-a", &"192.0.2.1".parse().unwrap())),
            "9028b03eebd9c50f45e3cb24b507db170990cd5f206b44ba22be4e1dc2acad0a"
        );
        assert_eq!(
            hex(rendezvous_digest("worker-0", &"fd00::1".parse().unwrap())),
            "aeea3f3d8e2b58612bef9a9cb87b2c940ce6615d3b2752b9aff8b10e6fa1fc2e"
        );
    }

    #[test]
    fn removing_a_node_moves_only_its_addresses() {
        let nodes: Vec<String> = (0..8).map(|i| format!("worker-{i}")).collect();
        let addrs: Vec<IpAddr> = (0..2000u32)
            .map(|i| IpAddr::from(std::net::Ipv4Addr::from(0xc633_6400 + i)))
            .collect();
        let owner = |ns: &[String], a: &IpAddr| {
            layer2_owner(ns.iter().map(String::as_str), a)
                .unwrap()
                .to_string()
        };
        let before: Vec<String> = addrs.iter().map(|a| owner(&nodes, a)).collect();
        let fewer: Vec<String> = nodes.iter().filter(|n| *n != "worker-3").cloned().collect();
        let mut moved = 0;
        for (a, b) in addrs.iter().zip(&before) {
            let after = owner(&fewer, a);
            if *b == "worker-3" {
                moved += 1;
                assert_ne!(after, "worker-3");
            } else {
                assert_eq!(&after, b, "{a} moved although its owner stayed");
            }
        }
        // Every node owns a fair share (~1/8 of 2000).
        assert!((150..350).contains(&moved), "worker-3 owned {moved}");
    }
}
