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
//! Next-hop ids are those a fresh [`NextHopIds`](super::NextHopIds) gives
//! when the node's routes ask for them in route order (VRF, then prefix):
//! equal next hops share one id (a service's ClusterIP and external address,
//! two services over the same pods, two single-member services on the same
//! remote node), and ids count from 1 in order of first use.
//! [`NodeNextHopIds`](super::route_ids::NodeNextHopIds) keeps ids across
//! successive plans instead.
//!
//! # Cost
//!
//! The work is done once per FloatingIP and member set, not once per node:
//! every path is interned as a small integer (a local interface, or a tunnel
//! to a fabric IP), so a next hop's identity is a short list of integers.
//! From a node that hosts none of a set's members, the set's next hop is the
//! same (tunnels to every member's node) and is built once and shared; only
//! the nodes hosting a member build their own. Routes are emitted in their
//! final order, from a candidate list sorted once.

mod prepared;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::lb::Member;
use prepared::{PathKey, Scope, interface_path, next_hop_of, prepare, tunnel_path};

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

/// Computes every node's routes for the FloatingIPs; `pod_network` is the
/// VRF of primary interfaces, `encap` the encapsulation of tunnels to other
/// nodes.
pub fn node_routes(
    nodes: &[RouteNode<'_>],
    fips: &[FloatingRoute<'_>],
    pod_network: &str,
    encap: Encap,
) -> Vec<NodeRoutes> {
    let p = prepare(nodes, fips, pod_network, encap);
    let vrf_rank: FxHashMap<&str, u32> = p
        .vrfs
        .iter()
        .enumerate()
        .map(|(i, v)| (&**v, i as u32))
        .collect();
    // Per node, reset after each: the key of the next hop of each set with
    // a local member, those next hops by key (from `p.remote_keys` on), the
    // paths of those sets one after the other, and the id of each key.
    let mut local: Vec<Option<u32>> = vec![None; p.sets.len()];
    let mut local_hops: Vec<NextHop> = Vec::new();
    let mut paths: Vec<PathKey> = Vec::new();
    let mut spans: Vec<(u32, usize, usize)> = Vec::new();
    let mut ids: Vec<u32> = Vec::new();
    let mut out = Vec::with_capacity(nodes.len());
    for (n, node) in nodes.iter().enumerate() {
        let mut in_vrf = vec![false; p.vrfs.len()];
        for net in &node.networks {
            if let Some(&r) = vrf_rank.get(net.as_str()) {
                in_vrf[r as usize] = true;
            }
        }
        paths.clear();
        spans.clear();
        for &s in &p.local_sets[n] {
            let start = paths.len();
            paths.extend(p.sets[s as usize].members.iter().filter_map(|m| {
                let at = m.node?;
                if at as usize == n {
                    Some(interface_path(m.interface))
                } else {
                    Some(tunnel_path(p.node_fabric[at as usize]?))
                }
            }));
            spans.push((s, start, paths.len()));
        }
        // Sets with equal paths from here share one next hop.
        local_hops.clear();
        let mut keys: FxHashMap<&[PathKey], u32> = FxHashMap::default();
        keys.reserve(spans.len());
        for &(s, start, end) in &spans {
            let own = &paths[start..end];
            let next = p.remote_keys + local_hops.len() as u32;
            let key = *keys.entry(own).or_insert_with(|| {
                local_hops.push(next_hop_of(own, &p).expect("a local member is a path"));
                next
            });
            local[s as usize] = Some(key);
        }
        ids.clear();
        ids.resize(p.remote_keys as usize + local_hops.len(), 0);
        let mut next_id = 0;
        let mut last: Option<(u32, u32)> = None;
        let mut routes: Vec<Route> = Vec::with_capacity(p.candidates.len());
        for c in &p.candidates {
            if last == Some((c.vrf, c.prefix)) {
                continue; // a FloatingIP of the same address came first
            }
            let is_local =
                local[c.set as usize].map(|k| (k, &local_hops[(k - p.remote_keys) as usize]));
            let nh = match c.scope {
                Scope::MemberNodes => is_local,
                Scope::NodesInVrf if !in_vrf[c.vrf as usize] => continue,
                _ => is_local.or_else(|| {
                    let (k, nh) = p.sets[c.set as usize].remote.as_ref()?;
                    Some((*k, nh))
                }),
            };
            let Some((key, nh)) = nh else { continue };
            let id = &mut ids[key as usize];
            if *id == 0 {
                next_id += 1;
                *id = next_id;
            }
            last = Some((c.vrf, c.prefix));
            routes.push(Route {
                vrf: p.vrfs[c.vrf as usize].clone(),
                prefix: p.prefixes[c.prefix as usize].clone(),
                nexthop: NumberedNextHop {
                    id: *id,
                    next_hop: nh.clone(),
                },
            });
        }
        for &s in &p.local_sets[n] {
            local[s as usize] = None;
        }
        out.push(NodeRoutes {
            name: node.name.to_string(),
            routes,
        });
    }
    out
}
