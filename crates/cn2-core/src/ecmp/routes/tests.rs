//! Route tables against a plain, node-by-node computation of the same
//! rules, and the numbering of next hops.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::ecmp::NextHopIds;

/// The rules of the module docs, computed for each node and FloatingIP on
/// its own, ids from a fresh [`NextHopIds`] in route order.
fn reference(nodes: &[RouteNode<'_>], fips: &[FloatingRoute<'_>], pod: &str) -> Vec<NodeRoutes> {
    let fabric = |name: &str| nodes.iter().find(|n| n.name == name)?.fabric_ip;
    nodes
        .iter()
        .map(|n| {
            let mut routes: Vec<(String, String, NextHop)> = Vec::new();
            for f in fips {
                let mut seen = BTreeSet::new();
                let chosen: Vec<&Member> = f
                    .members
                    .iter()
                    .copied()
                    .filter(|m| seen.insert((m.address, m.interface_id())))
                    .filter(|m| m.node.is_some())
                    .collect();
                let paths: Vec<NextHop> = chosen
                    .iter()
                    .filter_map(|m| {
                        let at = m.node.as_deref()?;
                        if at == n.name {
                            let name = m.interface_id().unwrap_or_else(|| m.address.to_string());
                            Some(NextHop::Interface {
                                interface: Arc::from(name),
                            })
                        } else {
                            Some(NextHop::Tunnel {
                                encap: Encap::MplsOverUdp,
                                dst: fabric(at)?,
                            })
                        }
                    })
                    .collect();
                let nh = match paths.len() {
                    0 => continue,
                    1 => paths[0].clone(),
                    _ => NextHop::Composite {
                        members: paths.into(),
                    },
                };
                let vrfs: Vec<String> = if f.in_service_network {
                    let secondary: BTreeSet<&String> = f
                        .members
                        .iter()
                        .filter_map(|m| m.network.as_ref())
                        .collect();
                    std::iter::once(pod.to_string())
                        .chain(
                            secondary
                                .into_iter()
                                .filter(|v| n.networks.contains(*v))
                                .cloned(),
                        )
                        .collect()
                } else if chosen.iter().any(|m| m.node.as_deref() == Some(n.name)) {
                    vec![f.network.to_string()]
                } else {
                    Vec::new()
                };
                let p = match f.address {
                    IpAddr::V4(a) => format!("{a}/32"),
                    IpAddr::V6(a) => format!("{a}/128"),
                };
                for v in vrfs {
                    routes.push((v, p.clone(), nh.clone()));
                }
            }
            routes.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
            routes.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
            let mut ids = NextHopIds::new();
            NodeRoutes {
                name: n.name.to_string(),
                routes: routes
                    .into_iter()
                    .map(|(vrf, prefix, nh)| Route {
                        vrf: Arc::from(vrf),
                        prefix: Arc::from(prefix),
                        nexthop: NumberedNextHop {
                            id: ids.id(&nh),
                            next_hop: nh,
                        },
                    })
                    .collect(),
            }
        })
        .collect()
}

fn member(
    address: [u8; 4],
    node: Option<&str>,
    pod: Option<&str>,
    network: Option<&str>,
) -> Member {
    Member {
        address: IpAddr::from(address),
        port: 80,
        node: node.map(String::from),
        pod: pod.map(String::from),
        interface: pod.map(|_| if network.is_some() { "net1" } else { "eth0" }.to_string()),
        network: network.map(String::from),
    }
}

fn node<'a>(name: &'a str, fabric: Option<[u8; 4]>, networks: &[&str]) -> RouteNode<'a> {
    RouteNode {
        name,
        fabric_ip: fabric.map(IpAddr::from),
        networks: networks.iter().map(|s| s.to_string()).collect(),
    }
}

fn service_fip<'a>(address: [u8; 4], members: &[&'a Member]) -> FloatingRoute<'a> {
    FloatingRoute {
        address: IpAddr::from(address),
        network: "contrail/service-network",
        in_service_network: true,
        members: members.to_vec(),
    }
}

const POD: &str = "contrail/pod-network";

#[test]
fn equal_next_hops_share_an_id_in_order_of_first_use() {
    let a = member([10, 0, 0, 1], Some("n1"), Some("ns/a"), None);
    let b = member([10, 0, 0, 2], Some("n2"), Some("ns/b"), None);
    let c = member([10, 0, 0, 3], Some("n2"), Some("ns/c"), None);
    let nodes = [
        node("n1", Some([192, 0, 2, 1]), &[]),
        node("n2", Some([192, 0, 2, 2]), &[]),
    ];
    // .9 sorts after .10: ids follow route order, not input order.
    let fips = [
        service_fip([10, 96, 0, 9], &[&b]),
        service_fip([10, 96, 0, 10], &[&a, &b]),
        service_fip([10, 96, 0, 11], &[&c]),
        service_fip([10, 96, 0, 12], &[&a, &b]),
    ];
    let tables = node_routes(&nodes, &fips, POD, Encap::default());
    assert_eq!(tables, reference(&nodes, &fips, POD));
    let ids = |n: usize| -> Vec<(&str, u32)> {
        tables[n]
            .routes
            .iter()
            .map(|r| (&*r.prefix, r.nexthop.id))
            .collect()
    };
    // On n1, .11 and .9 are both a tunnel to n2: one next hop.
    assert_eq!(
        ids(0),
        [
            ("10.96.0.10/32", 1),
            ("10.96.0.11/32", 2),
            ("10.96.0.12/32", 1),
            ("10.96.0.9/32", 2)
        ]
    );
    // On n2 they are two local interfaces.
    assert_eq!(
        ids(1),
        [
            ("10.96.0.10/32", 1),
            ("10.96.0.11/32", 2),
            ("10.96.0.12/32", 1),
            ("10.96.0.9/32", 3)
        ]
    );
}

#[test]
fn external_addresses_are_routed_on_member_nodes_only() {
    let a = member([10, 0, 0, 1], Some("n1"), Some("ns/a"), None);
    let nodes = [
        node("n1", Some([192, 0, 2, 1]), &[]),
        node("n2", Some([192, 0, 2, 2]), &[]),
    ];
    let fips = [FloatingRoute {
        address: IpAddr::from([203, 0, 113, 5]),
        network: "ns/public",
        in_service_network: false,
        members: vec![&a],
    }];
    let tables = node_routes(&nodes, &fips, POD, Encap::default());
    assert_eq!(tables, reference(&nodes, &fips, POD));
    assert_eq!(tables[0].routes.len(), 1);
    assert_eq!(&*tables[0].routes[0].vrf, "ns/public");
    assert!(tables[1].routes.is_empty());
}

fn arb_member() -> impl Strategy<Value = Member> {
    (
        1u8..5,
        prop::option::weighted(0.9, 0usize..4),
        prop::option::weighted(0.8, 0usize..3),
        prop::option::weighted(0.3, 0usize..2),
    )
        .prop_map(|(last, node, pod, network)| {
            // n3 is not among the nodes.
            let node = node.map(|n| ["n0", "n1", "n2", "n3"][n]);
            let pod = pod.map(|p| ["ns/p0", "ns/p1", "ns/p2"][p]);
            let network = network.map(|n| ["ns/blue", "ns/red"][n]);
            member([10, 0, 0, last], node, pod, network)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The table computation shared by all nodes gives what each node's own
    /// computation gives, ids included.
    #[test]
    fn tables_equal_a_node_by_node_computation(
        pool in prop::collection::vec(arb_member(), 1..8),
        fips in prop::collection::vec(
            (0u8..6, 0usize..3, prop::collection::vec(0usize..8, 0..6)),
            0..10,
        ),
        fabrics in prop::collection::vec(prop::option::weighted(0.8, 1u8..3), 3),
        networks in prop::collection::vec(prop::collection::vec(0usize..2, 0..2), 3),
    ) {
        let nets = ["ns/blue", "ns/red"];
        let node_networks: Vec<Vec<&str>> =
            networks.iter().map(|n| n.iter().map(|i| nets[*i]).collect()).collect();
        // Two nodes may share a fabric IP; one may have none.
        let nodes: Vec<RouteNode> = ["n0", "n1", "n2"]
            .iter()
            .zip(&fabrics)
            .zip(&node_networks)
            .map(|((name, fabric), nets)| node(name, fabric.map(|f| [192, 0, 2, f]), nets))
            .collect();
        let routes: Vec<FloatingRoute> = fips
            .iter()
            .map(|(last, network, members)| {
                let network = ["contrail/service-network", "ns/public", "ns/other"][*network];
                FloatingRoute {
                    address: if *last == 5 {
                        "fd00::5".parse().unwrap()
                    } else {
                        IpAddr::from([10, 96, 0, 8 + last])
                    },
                    network,
                    in_service_network: network == "contrail/service-network",
                    members: members.iter().map(|i| &pool[i % pool.len()]).collect(),
                }
            })
            .collect();
        prop_assert_eq!(node_routes(&nodes, &routes, POD, Encap::default()), reference(&nodes, &routes, POD));
    }
}
