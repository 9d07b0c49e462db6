//! Each node's route tables (VRFs) for FloatingIP addresses.
//!
//! A node has a VRF for the pod network and one per secondary network a
//! local interface belongs to. For a FloatingIP of the service network, every
//! node's pod-network VRF holds a `/32` (or `/128`) route, and so does the
//! VRF of each secondary network a member interface is on, on the nodes that
//! have that network. An external FloatingIP is routed in its external
//! network's VRF on the nodes that host a member (where the gateway sends
//! its traffic). The next hop is:
//!
//! * an **interface** next hop when the only member is local;
//! * a **tunnel** next hop (MPLSoUDP to the remote node's fabric IP) when the
//!   only member is remote;
//! * a **composite** (ECMP) next hop of one sub next hop per member path
//!   otherwise, members in slot order.
//!
//! Next-hop ids are numbered per node in route order (VRF, then prefix),
//! starting at 1; FloatingIPs with the same members (a service's ClusterIP
//! and external address, two services over the same pods) share one next
//! hop and its id.

use std::collections::BTreeSet;

use rustc_hash::FxHashMap;
use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;

use crate::lb::Member;

pub use super::nexthop::{Encap, NextHop};

/// A next hop with its per-node id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NumberedNextHop {
    /// The id, stable within the node's plan.
    pub id: u32,
    /// The next hop.
    #[serde(flatten)]
    pub next_hop: NextHop,
}

/// One route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    /// The VRF (network id).
    pub vrf: Arc<str>,
    /// `address/32` or `address/128`.
    pub prefix: Arc<str>,
    /// Where it goes.
    pub nexthop: NumberedNextHop,
}

/// A node's routes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeRoutes {
    /// The node.
    pub name: String,
    /// Routes sorted by VRF and prefix.
    pub routes: Vec<Route>,
}

/// A FloatingIP to route.
#[derive(Debug, Clone)]
pub struct FloatingRoute<'a> {
    /// The address.
    pub address: IpAddr,
    /// The network the FloatingIP is in.
    pub network: &'a str,
    /// Whether that is the service network (else an external network).
    pub in_service_network: bool,
    /// The members behind it.
    pub members: Vec<&'a Member>,
}

/// A node as route computation sees it.
#[derive(Debug, Clone)]
pub struct RouteNode<'a> {
    /// Name.
    pub name: &'a str,
    /// Fabric IP.
    pub fabric_ip: Option<IpAddr>,
    /// Secondary networks of the node's local interfaces.
    pub networks: BTreeSet<String>,
}

fn prefix(a: &IpAddr) -> String {
    match a {
        IpAddr::V4(_) => format!("{a}/32"),
        IpAddr::V6(_) => format!("{a}/128"),
    }
}

/// What makes two members the same path: address, interface and node.
type MemberKey<'a> = (IpAddr, Option<String>, &'a str);

/// A member as route computation needs it, prepared once per FloatingIP.
struct PreparedMember<'a> {
    node: &'a str,
    interface: Arc<str>,
}

/// A FloatingIP prepared once for all nodes.
struct PreparedFip<'a> {
    prefix: Arc<str>,
    /// VRFs of the route: the pod network and the members' secondary networks.
    service_vrfs: Vec<Arc<str>>,
    external_vrf: Option<Arc<str>>,
    members: Vec<PreparedMember<'a>>,
    /// Index of the member set (FloatingIPs with equal sets share next hops).
    set: usize,
}

/// Computes every node's routes for the FloatingIPs; `pod_network` is the
/// VRF of primary interfaces.
pub fn node_routes(
    nodes: &[RouteNode<'_>],
    fips: &[FloatingRoute<'_>],
    pod_network: &str,
) -> Vec<NodeRoutes> {
    let fabric: FxHashMap<&str, IpAddr> = nodes
        .iter()
        .filter_map(|n| Some((n.name, n.fabric_ip?)))
        .collect();
    let pod_vrf: Arc<str> = Arc::from(pod_network);
    let mut names: FxHashMap<String, Arc<str>> = FxHashMap::default();
    let mut intern = |s: String| {
        names
            .entry(s.clone())
            .or_insert_with(|| Arc::from(s))
            .clone()
    };
    let mut sets: FxHashMap<Vec<MemberKey>, usize> = FxHashMap::default();
    let mut prepared: Vec<PreparedFip> = fips
        .iter()
        .map(|f| {
            // Members in slot order, one path each, placed on a known node.
            let mut seen = BTreeSet::new();
            let chosen: Vec<&Member> = f
                .members
                .iter()
                .copied()
                .filter(|m| seen.insert((m.address, m.interface_id())))
                .filter(|m| m.node.is_some())
                .collect();
            let key: Vec<MemberKey> = chosen
                .iter()
                .map(|m| (m.address, m.interface_id(), m.node.as_deref().unwrap_or("")))
                .collect();
            let next = sets.len();
            let set = *sets.entry(key).or_insert(next);
            let members = chosen
                .iter()
                .map(|m| PreparedMember {
                    node: m.node.as_deref().unwrap_or(""),
                    interface: intern(m.interface_id().unwrap_or_else(|| m.address.to_string())),
                })
                .collect();
            let mut service_vrfs = Vec::new();
            if f.in_service_network {
                service_vrfs.push(pod_vrf.clone());
                let secondary: BTreeSet<&String> = f
                    .members
                    .iter()
                    .filter_map(|m| m.network.as_ref())
                    .collect();
                service_vrfs.extend(secondary.into_iter().map(|n| intern(n.clone())));
            }
            PreparedFip {
                prefix: Arc::from(prefix(&f.address)),
                service_vrfs,
                external_vrf: (!f.in_service_network).then(|| intern(f.network.to_string())),
                members,
                set,
            }
        })
        .collect();
    // Routes come out in prefix order within each VRF; VRFs are ranked once.
    prepared.sort_by(|a, b| a.prefix.cmp(&b.prefix));
    let mut vrf_names: Vec<Arc<str>> = prepared
        .iter()
        .flat_map(|f| f.service_vrfs.iter().chain(&f.external_vrf))
        .cloned()
        .chain([pod_vrf.clone()])
        .collect();
    vrf_names.sort();
    vrf_names.dedup();
    let rank: FxHashMap<&str, usize> = vrf_names
        .iter()
        .enumerate()
        .map(|(i, v)| (&**v, i))
        .collect();
    let mut out = Vec::with_capacity(nodes.len());
    for n in nodes {
        // The next hop of each member set, as seen from this node; member
        // sets number the next hops (equal sets share one).
        let mut by_set: FxHashMap<usize, Option<(u32, NextHop)>> = FxHashMap::default();
        let mut routes: Vec<Route> = Vec::new();
        for f in &prepared {
            let vrfs: &[Arc<str>] = if !f.service_vrfs.is_empty() {
                &f.service_vrfs
            } else if f.members.iter().any(|m| m.node == n.name) {
                std::slice::from_ref(f.external_vrf.as_ref().expect("an external FloatingIP"))
            } else {
                continue;
            };
            let entry = by_set.entry(f.set).or_insert_with(|| {
                let paths: Vec<NextHop> = f
                    .members
                    .iter()
                    .filter_map(|m| {
                        if m.node == n.name {
                            Some(NextHop::Interface {
                                interface: m.interface.clone(),
                            })
                        } else {
                            Some(NextHop::Tunnel {
                                encap: Encap::MplsOverUdp,
                                dst: *fabric.get(m.node)?,
                            })
                        }
                    })
                    .collect();
                let nh = match paths.len() {
                    0 => return None,
                    1 => paths.into_iter().next().expect("one path"),
                    _ => NextHop::Composite {
                        members: paths.into(),
                    },
                };
                Some((f.set as u32, nh))
            });
            let Some((id, nh)) = entry else { continue };
            for vrf in vrfs {
                if !f.service_vrfs.is_empty() && **vrf != *pod_vrf && !n.networks.contains(&**vrf) {
                    continue; // a secondary network this node has no interface in
                }
                routes.push(Route {
                    vrf: vrf.clone(),
                    prefix: f.prefix.clone(),
                    nexthop: NumberedNextHop {
                        id: *id,
                        next_hop: nh.clone(),
                    },
                });
            }
        }
        // Stable: prefix order is kept within each VRF.
        routes.sort_by_key(|r| rank[&*r.vrf]);
        routes.dedup_by(|a, b| a.vrf == b.vrf && a.prefix == b.prefix);
        // Ids in route order, starting at 1, one per distinct next hop.
        let mut renumber: FxHashMap<u32, u32> = FxHashMap::default();
        for r in &mut routes {
            let next = renumber.len() as u32 + 1;
            r.nexthop.id = *renumber.entry(r.nexthop.id).or_insert(next);
        }
        out.push(NodeRoutes {
            name: n.name.to_string(),
            routes,
        });
    }
    out
}
