//! A node's flow table built from a plan: every FloatingIP routed on the
//! node, with its port maps and members, in the VRF of its route.

use std::net::IpAddr;

use crate::ecmp::routes::NodeRoutes;
use crate::ecmp::{Algorithm, MAGLEV_DEFAULT_SIZE, Selector};
use crate::plan::Plan;

use super::{FlowError, FlowTable, PortMap};

/// A node's flow table and the names of its VRFs (VRF `n` is `vrfs[n - 1]`).
pub struct NodeTable {
    /// The table.
    pub table: FlowTable,
    /// VRF names in number order.
    pub vrfs: Vec<String>,
}

impl NodeTable {
    /// The number of a VRF name.
    pub fn vrf_id(&self, name: &str) -> Option<u32> {
        self.vrfs
            .iter()
            .position(|v| v == name)
            .map(|i| i as u32 + 1)
    }

    /// The VRF a packet to `dst` is looked up in: the VRF holding a route to
    /// `dst`, else `default_vrf`.
    pub fn vrf_for(&self, routes: &NodeRoutes, dst: &IpAddr, default_vrf: &str) -> String {
        let p32 = format!("{dst}/32");
        let p128 = format!("{dst}/128");
        routes
            .routes
            .iter()
            .find(|r| *r.prefix == *p32 || *r.prefix == *p128)
            .map_or_else(|| default_vrf.to_string(), |r| r.vrf.to_string())
    }
}

/// Builds `node`'s flow table from `plan`; `None` if the plan has no such node.
pub fn node_table(
    plan: &Plan,
    node: &str,
    capacity: usize,
    idle_timeout: u64,
) -> Result<Option<NodeTable>, FlowError> {
    let Some(routes) = plan.nodes.iter().find(|n| n.name == node) else {
        return Ok(None);
    };
    let mut vrfs: Vec<String> = routes.routes.iter().map(|r| r.vrf.to_string()).collect();
    vrfs.sort();
    vrfs.dedup();
    let mut table = FlowTable::new(capacity, idle_timeout)?;
    for svc in &plan.services {
        let Some(lb) = &svc.load_balancer else {
            continue;
        };
        let algorithm = match svc.lb_algorithm {
            "maglev" => Algorithm::Maglev {
                table_size: MAGLEV_DEFAULT_SIZE,
            },
            _ => Algorithm::Ecmp,
        };
        for fip in &svc.floating_ips {
            for r in routes
                .routes
                .iter()
                .filter(|r| r.prefix.split('/').next() == Some(&fip.address.to_string()))
            {
                let vrf = vrfs
                    .iter()
                    .position(|v| **v == *r.vrf)
                    .expect("collected above") as u32
                    + 1;
                table.add_floating_ip(vrf, fip.address);
                for pm in &fip.port_mappings {
                    let proto = |name: &str| match name {
                        "UDP" => 17,
                        "SCTP" => 132,
                        _ => 6,
                    };
                    let Some(l) = lb
                        .listeners
                        .iter()
                        .find(|l| l.port == pm.src_port && proto(l.protocol) == pm.protocol)
                    else {
                        continue;
                    };
                    let selector = Selector::new(algorithm, l.pool.backends())
                        .expect("the default Maglev size fits");
                    table.map_port(
                        vrf,
                        fip.address,
                        pm.protocol,
                        pm.src_port,
                        PortMap {
                            target_port: pm.dst_port,
                            selector,
                        },
                    );
                }
            }
        }
    }
    Ok(Some(NodeTable { table, vrfs }))
}
