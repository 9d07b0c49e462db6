//! What every node's route table is made from, computed once for all
//! nodes: interned paths, member sets with the next hop seen from a node
//! hosting none of their members, and the candidate routes in final order.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::{Encap, FloatingRoute, NextHop, RouteNode};
use crate::lb::Member;

fn prefix(a: &IpAddr) -> String {
    match a {
        IpAddr::V4(_) => format!("{a}/32"),
        IpAddr::V6(_) => format!("{a}/128"),
    }
}

/// What makes two members the same path: address, interface and node
/// (indexes into the interned interfaces and nodes).
type MemberKey = (IpAddr, u32, u32);

/// A path's identity: `2 × interface` for a local interface, `2 × fabric +
/// 1` for a tunnel to a fabric IP (indexes into the interned lists).
pub(super) type PathKey = u32;

pub(super) fn interface_path(interface: u32) -> PathKey {
    interface * 2
}

pub(super) fn tunnel_path(fabric: u32) -> PathKey {
    fabric * 2 + 1
}

/// Interned interface names: `namespace/pod/interface` for a pod
/// interface, else the member's address. Neither a pod's namespace and name
/// nor an interface name holds a `/`, so distinct parts give distinct names
/// and the parts can stand for the name.
#[derive(Default)]
struct Interfaces<'a> {
    by_parts: FxHashMap<(&'a str, &'a str), u32>,
    by_address: FxHashMap<IpAddr, u32>,
    names: Vec<Arc<str>>,
    buf: String,
}

impl<'a> Interfaces<'a> {
    /// The index of `m`'s interface name.
    fn index(&mut self, m: &'a Member) -> u32 {
        use std::collections::hash_map::Entry;
        let next = self.names.len() as u32;
        let buf = &mut self.buf;
        buf.clear();
        let slot = match m.pod.as_deref().zip(m.interface.as_deref()) {
            Some((pod, interface)) => match self.by_parts.entry((pod, interface)) {
                Entry::Occupied(e) => return *e.get(),
                Entry::Vacant(e) => {
                    buf.push_str(pod);
                    buf.push('/');
                    buf.push_str(interface);
                    e.insert(next)
                }
            },
            None => match self.by_address.entry(m.address) {
                Entry::Occupied(e) => return *e.get(),
                Entry::Vacant(e) => {
                    use std::fmt::Write;
                    let _ = write!(buf, "{}", m.address);
                    e.insert(next)
                }
            },
        };
        self.names.push(Arc::from(buf.as_str()));
        *slot
    }
}

/// A member of a member set: its node (an index into the nodes, `None`
/// for a node that is not in the plan) and its interface.
pub(super) struct SetMember {
    pub(super) node: Option<u32>,
    pub(super) interface: u32,
}

/// A member set, shared by the FloatingIPs with these members.
pub(super) struct MemberSet {
    /// Members in slot order, one per path.
    pub(super) members: Vec<SetMember>,
    /// The next hop seen from a node hosting no member (`None` when no
    /// member is reachable), with its key among such next hops.
    pub(super) remote: Option<(u32, NextHop)>,
}

/// Where a candidate route applies.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    /// The pod network's VRF: every node.
    Everywhere,
    /// A secondary network's VRF: the nodes with an interface in it.
    NodesInVrf,
    /// An external network's VRF: the nodes hosting a member.
    MemberNodes,
}

/// A route some nodes get, in final route order.
pub(super) struct Candidate {
    pub(super) vrf: u32,
    pub(super) prefix: u32,
    pub(super) set: u32,
    pub(super) scope: Scope,
}

/// Everything the nodes' tables are made from, computed once.
pub(super) struct Prepared {
    pub(super) vrfs: Vec<Arc<str>>,
    pub(super) prefixes: Vec<Arc<str>>,
    pub(super) interfaces: Vec<Arc<str>>,
    pub(super) fabrics: Vec<IpAddr>,
    /// The encapsulation of tunnel next hops.
    pub(super) encap: Encap,
    /// The fabric index of each node.
    pub(super) node_fabric: Vec<Option<u32>>,
    pub(super) sets: Vec<MemberSet>,
    /// How many distinct remote next hops there are (their keys are below).
    pub(super) remote_keys: u32,
    /// The member sets with a member on each node.
    pub(super) local_sets: Vec<Vec<u32>>,
    pub(super) candidates: Vec<Candidate>,
}

/// The next hop of a list of paths: none, the one path, or a composite.
pub(super) fn next_hop_of(paths: &[PathKey], p: &Prepared) -> Option<NextHop> {
    let simple = |k: PathKey| {
        let i = (k / 2) as usize;
        if k % 2 == 0 {
            NextHop::Interface {
                interface: p.interfaces[i].clone(),
            }
        } else {
            NextHop::Tunnel {
                encap: p.encap,
                dst: p.fabrics[i],
            }
        }
    };
    match paths {
        [] => None,
        [one] => Some(simple(*one)),
        many => Some(NextHop::Composite {
            members: many.iter().map(|k| simple(*k)).collect(),
        }),
    }
}

pub(super) fn prepare(
    nodes: &[RouteNode<'_>],
    fips: &[FloatingRoute<'_>],
    pod_network: &str,
    encap: Encap,
) -> Prepared {
    let mut node_index: FxHashMap<&str, u32> = FxHashMap::default();
    for (i, n) in nodes.iter().enumerate() {
        node_index.entry(n.name).or_insert(i as u32);
    }
    let mut fabrics: Vec<IpAddr> = Vec::new();
    let node_fabric: Vec<Option<u32>> = nodes
        .iter()
        .map(|n| {
            let ip = n.fabric_ip?;
            let at = fabrics.iter().position(|f| *f == ip).unwrap_or_else(|| {
                fabrics.push(ip);
                fabrics.len() - 1
            });
            Some(at as u32)
        })
        .collect();
    let mut interfaces = Interfaces::default();
    // Nodes not in the plan get indexes after the plan's nodes.
    let mut unknown_nodes: FxHashMap<&str, u32> = FxHashMap::default();
    let mut set_index: FxHashMap<Vec<MemberKey>, u32> = FxHashMap::default();
    let mut sets: Vec<MemberSet> = Vec::new();
    // FloatingIPs as (address text, VRF names, set, external).
    let mut routed: Vec<(String, Vec<&str>, u32, bool)> = Vec::with_capacity(fips.len());
    let mut paths: Vec<(IpAddr, u32, Option<&str>)> = Vec::new();
    for f in fips {
        // Members in slot order, one path each, placed on a node.
        paths.clear();
        for m in &f.members {
            let interface = interfaces.index(m);
            if !paths.iter().any(|p| p.0 == m.address && p.1 == interface) {
                paths.push((m.address, interface, m.node.as_deref()));
            }
        }
        let key: Vec<MemberKey> = paths
            .iter()
            .filter_map(|&(address, interface, node)| {
                let node = node?;
                let at = match node_index.get(node) {
                    Some(&i) => i,
                    None => {
                        let next = (nodes.len() + unknown_nodes.len()) as u32;
                        *unknown_nodes.entry(node).or_insert(next)
                    }
                };
                Some((address, interface, at))
            })
            .collect();
        let next = sets.len() as u32;
        let set = *set_index.entry(key).or_insert_with_key(|key| {
            sets.push(MemberSet {
                members: key
                    .iter()
                    .map(|&(_, interface, at)| SetMember {
                        node: ((at as usize) < nodes.len()).then_some(at),
                        interface,
                    })
                    .collect(),
                remote: None,
            });
            next
        });
        let vrfs: Vec<&str> = if f.in_service_network {
            let secondary: BTreeSet<&str> = f
                .members
                .iter()
                .filter_map(|m| m.network.as_deref())
                .collect();
            std::iter::once(pod_network).chain(secondary).collect()
        } else {
            vec![f.network]
        };
        routed.push((prefix(&f.address), vrfs, set, !f.in_service_network));
    }
    // VRFs and prefixes are ranked by name, so that sorting by rank sorts
    // routes by VRF, then prefix.
    let (vrf_names, vrf_rank) = ranked(
        routed
            .iter()
            .flat_map(|r| r.1.iter().copied())
            .chain([pod_network])
            .collect(),
    );
    let (prefix_names, prefix_rank) = ranked(routed.iter().map(|r| r.0.as_str()).collect());
    let pod_rank = vrf_rank[pod_network];
    let vrf_rank = &vrf_rank;
    let mut candidates: Vec<Candidate> = routed
        .iter()
        .flat_map(|(prefix, vrfs, set, external)| {
            let prefix = prefix_rank[prefix.as_str()];
            vrfs.iter().map(move |v| {
                let vrf = vrf_rank[v];
                let scope = if *external {
                    Scope::MemberNodes
                } else if vrf == pod_rank {
                    Scope::Everywhere
                } else {
                    Scope::NodesInVrf
                };
                Candidate {
                    vrf,
                    prefix,
                    set: *set,
                    scope,
                }
            })
        })
        .collect();
    // Stable: FloatingIPs with the same address keep their order.
    candidates.sort_by_key(|c| (c.vrf, c.prefix));
    let mut prepared = Prepared {
        vrfs: vrf_names.iter().map(|v| Arc::from(*v)).collect(),
        prefixes: prefix_names.iter().map(|p| Arc::from(*p)).collect(),
        interfaces: interfaces.names,
        fabrics,
        encap,
        node_fabric,
        sets: Vec::new(),
        remote_keys: 0,
        local_sets: vec![Vec::new(); nodes.len()],
        candidates,
    };
    // The next hop of each set from a node hosting no member.
    let mut remote: FxHashMap<Vec<PathKey>, (u32, NextHop)> = FxHashMap::default();
    for (s, set) in sets.iter_mut().enumerate() {
        let paths: Vec<PathKey> = set
            .members
            .iter()
            .filter_map(|m| Some(tunnel_path(prepared.node_fabric[m.node? as usize]?)))
            .collect();
        let mut nodes_of_set: Vec<u32> = set.members.iter().filter_map(|m| m.node).collect();
        nodes_of_set.sort_unstable();
        nodes_of_set.dedup();
        for n in nodes_of_set {
            prepared.local_sets[n as usize].push(s as u32);
        }
        let next = remote.len() as u32;
        set.remote = match remote.entry(paths) {
            std::collections::hash_map::Entry::Occupied(e) => Some(e.get().clone()),
            std::collections::hash_map::Entry::Vacant(e) => {
                next_hop_of(e.key(), &prepared).map(|nh| e.insert((next, nh)).clone())
            }
        };
    }
    prepared.remote_keys = remote.len() as u32;
    prepared.sets = sets;
    prepared
}

/// The distinct names, sorted, with each name's rank among them.
fn ranked(mut names: Vec<&str>) -> (Vec<&str>, FxHashMap<&str, u32>) {
    names.sort_unstable();
    names.dedup();
    let rank = names
        .iter()
        .enumerate()
        .map(|(i, n)| (*n, i as u32))
        .collect();
    (names, rank)
}
