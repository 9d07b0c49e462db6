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
//! starting at 1; one next hop used by several routes keeps one id.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use serde::Serialize;

use crate::lb::Member;

/// Tunnel encapsulations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Encap {
    /// MPLS over UDP (destination port 6635), the default.
    #[serde(rename = "MPLSoUDP")]
    MplsOverUdp,
    /// MPLS over GRE.
    #[serde(rename = "MPLSoGRE")]
    MplsOverGre,
    /// VXLAN.
    #[serde(rename = "VXLAN")]
    Vxlan,
}

/// A next hop.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum NextHop {
    /// A local pod interface (`namespace/pod/interface`, or the address of a
    /// backend that is no known pod).
    Interface {
        /// The interface.
        interface: String,
    },
    /// A tunnel to another node.
    Tunnel {
        /// Encapsulation.
        encap: Encap,
        /// The remote node's fabric IP.
        dst: IpAddr,
    },
    /// ECMP over sub next hops, in slot order.
    Composite {
        /// The sub next hops.
        members: Vec<NextHop>,
    },
}

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
    pub vrf: String,
    /// `address/32` or `address/128`.
    pub prefix: String,
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

/// The path to one member, as seen from `node`.
fn path(node: &str, m: &Member, fabric: &HashMap<&str, IpAddr>, encap: Encap) -> Option<NextHop> {
    let at = m.node.as_deref()?;
    if at == node {
        Some(NextHop::Interface {
            interface: m.interface_id().unwrap_or_else(|| m.address.to_string()),
        })
    } else {
        Some(NextHop::Tunnel {
            encap,
            dst: *fabric.get(at)?,
        })
    }
}

/// Computes every node's routes for the FloatingIPs; `pod_network` is the
/// VRF of primary interfaces.
pub fn node_routes(
    nodes: &[RouteNode<'_>],
    fips: &[FloatingRoute<'_>],
    pod_network: &str,
) -> Vec<NodeRoutes> {
    let fabric: HashMap<&str, IpAddr> = nodes
        .iter()
        .filter_map(|n| Some((n.name, n.fabric_ip?)))
        .collect();
    let mut out = Vec::with_capacity(nodes.len());
    for n in nodes {
        let mut table: BTreeMap<(String, String), NextHop> = BTreeMap::new();
        for f in fips {
            let hosts = f.members.iter().any(|m| m.node.as_deref() == Some(n.name));
            let vrfs: Vec<String> = if f.in_service_network {
                let mut v = vec![pod_network.to_string()];
                let secondary: BTreeSet<&String> = f
                    .members
                    .iter()
                    .filter_map(|m| m.network.as_ref())
                    .collect();
                v.extend(
                    secondary
                        .into_iter()
                        .filter(|net| n.networks.contains(*net))
                        .cloned(),
                );
                v
            } else if hosts {
                vec![f.network.to_string()]
            } else {
                continue;
            };
            // Members in slot order, one path each.
            let mut seen = BTreeSet::new();
            let paths: Vec<NextHop> = f
                .members
                .iter()
                .filter(|m| seen.insert((m.address, m.interface_id())))
                .filter_map(|m| path(n.name, m, &fabric, Encap::MplsOverUdp))
                .collect();
            let nh = match paths.len() {
                0 => continue,
                1 => paths.into_iter().next().expect("one path"),
                _ => NextHop::Composite { members: paths },
            };
            for vrf in vrfs {
                table.insert((vrf, prefix(&f.address)), nh.clone());
            }
        }
        let mut ids: HashMap<NextHop, u32> = HashMap::new();
        let routes = table
            .into_iter()
            .map(|((vrf, prefix), next_hop)| {
                let next = ids.len() as u32 + 1;
                let id = *ids.entry(next_hop.clone()).or_insert(next);
                Route {
                    vrf,
                    prefix,
                    nexthop: NumberedNextHop { id, next_hop },
                }
            })
            .collect();
        out.push(NodeRoutes {
            name: n.name.to_string(),
            routes,
        });
    }
    out
}
