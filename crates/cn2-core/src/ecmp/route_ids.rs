//! Next-hop ids that stay with their next hop from one plan to the next.
//!
//! [`node_routes`](super::routes::node_routes) numbers each node's next
//! hops afresh. A cluster planned again and again keeps a
//! [`NodeNextHopIds`] instead: a route's next hop keeps its id for as long
//! as the next hop is in use, whatever other routes come and go.

use rustc_hash::FxHashMap;

use super::nexthop::NextHopIds;
use super::routes::NodeRoutes;

/// Each node's [`NextHopIds`], kept between successive plans.
#[derive(Debug, Clone, Default)]
pub struct NodeNextHopIds {
    nodes: FxHashMap<String, NextHopIds>,
}

impl NodeNextHopIds {
    /// No ids yet: the first [`renumber`](Self::renumber) keeps the ids of
    /// a fresh numbering.
    pub fn new() -> NodeNextHopIds {
        NodeNextHopIds::default()
    }

    /// Gives `tables` (numbered as [`node_routes`](super::routes::node_routes)
    /// numbers them: equal next hops share an id) the ids held for their
    /// next hops. A next hop still in use keeps its id; a new one takes the
    /// lowest free id, in route order; then the next hops no longer in use
    /// release theirs, so a next hop replacing another (a composite that
    /// lost a member) gets a new id rather than the one it replaces. Nodes
    /// not in `tables` are forgotten.
    pub fn renumber(&mut self, tables: &mut [NodeRoutes]) {
        self.nodes
            .retain(|name, _| tables.iter().any(|t| t.name == *name));
        let mut fresh: Vec<u32> = Vec::new();
        let mut in_use: Vec<bool> = Vec::new();
        for t in tables {
            let ids = self.nodes.entry(t.name.clone()).or_default();
            fresh.clear();
            in_use.clear();
            for r in &mut t.routes {
                let i = r.nexthop.id as usize;
                if fresh.len() <= i {
                    fresh.resize(i + 1, 0);
                }
                if fresh[i] == 0 {
                    fresh[i] = ids.id(&r.nexthop.next_hop);
                }
                let id = fresh[i];
                r.nexthop.id = id;
                if in_use.len() <= id as usize {
                    in_use.resize(id as usize + 1, false);
                }
                in_use[id as usize] = true;
            }
            ids.release_unless(|_, id| in_use.get(id as usize).copied().unwrap_or(false));
        }
        self.nodes.retain(|_, ids| !ids.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::sync::Arc;

    use super::*;
    use crate::ecmp::routes::{NumberedNextHop, Route};
    use crate::ecmp::{Encap, NextHop};

    fn tunnel(last: u8) -> NextHop {
        NextHop::Tunnel {
            encap: Encap::MplsOverUdp,
            dst: IpAddr::from([192, 0, 2, last]),
        }
    }

    /// A node's table numbered afresh: ids in order of first use.
    fn table(node: &str, routes: &[(&str, NextHop)]) -> NodeRoutes {
        let mut ids = NextHopIds::new();
        NodeRoutes {
            name: node.to_string(),
            routes: routes
                .iter()
                .map(|(prefix, nh)| Route {
                    vrf: Arc::from("contrail/pod-network"),
                    prefix: Arc::from(*prefix),
                    nexthop: NumberedNextHop {
                        id: ids.id(nh),
                        next_hop: nh.clone(),
                    },
                })
                .collect(),
        }
    }

    fn ids(t: &NodeRoutes) -> Vec<(&str, u32)> {
        t.routes
            .iter()
            .map(|r| (&*r.prefix, r.nexthop.id))
            .collect()
    }

    #[test]
    fn routes_keep_their_ids_when_others_come_and_go() {
        let mut held = NodeNextHopIds::new();
        let mut first = [table(
            "n1",
            &[("10.96.0.2/32", tunnel(2)), ("10.96.0.3/32", tunnel(3))],
        )];
        held.renumber(&mut first);
        assert_eq!(ids(&first[0]), [("10.96.0.2/32", 1), ("10.96.0.3/32", 2)]);
        // A route sorting first: the others keep theirs, it gets the next id.
        let mut second = [table(
            "n1",
            &[
                ("10.96.0.1/32", tunnel(1)),
                ("10.96.0.2/32", tunnel(2)),
                ("10.96.0.3/32", tunnel(3)),
            ],
        )];
        assert_eq!(second[0].routes[0].nexthop.id, 1, "numbered afresh");
        held.renumber(&mut second);
        assert_eq!(
            ids(&second[0]),
            [
                ("10.96.0.1/32", 3),
                ("10.96.0.2/32", 1),
                ("10.96.0.3/32", 2)
            ]
        );
        // 10.96.0.2 goes and 10.96.0.3 changes its next hop: the new next hop
        // does not take an id released in the same plan.
        let mut third = [table(
            "n1",
            &[("10.96.0.1/32", tunnel(1)), ("10.96.0.3/32", tunnel(4))],
        )];
        held.renumber(&mut third);
        assert_eq!(ids(&third[0]), [("10.96.0.1/32", 3), ("10.96.0.3/32", 4)]);
        // Released ids are reused lowest first.
        let mut fourth = [table(
            "n1",
            &[
                ("10.96.0.1/32", tunnel(1)),
                ("10.96.0.3/32", tunnel(4)),
                ("10.96.0.5/32", tunnel(5)),
            ],
        )];
        held.renumber(&mut fourth);
        assert_eq!(
            ids(&fourth[0]),
            [
                ("10.96.0.1/32", 3),
                ("10.96.0.3/32", 4),
                ("10.96.0.5/32", 1)
            ]
        );
    }

    #[test]
    fn nodes_are_numbered_apart_and_forgotten_when_gone() {
        let mut held = NodeNextHopIds::new();
        let mut both = [
            table(
                "n1",
                &[("10.96.0.1/32", tunnel(1)), ("10.96.0.2/32", tunnel(2))],
            ),
            table("n2", &[("10.96.0.2/32", tunnel(2))]),
        ];
        held.renumber(&mut both);
        assert_eq!(ids(&both[1]), [("10.96.0.2/32", 1)]);
        let mut one = [table("n1", &[("10.96.0.2/32", tunnel(2))])];
        held.renumber(&mut one);
        assert_eq!(ids(&one[0]), [("10.96.0.2/32", 2)]);
        // n2 comes back: numbered afresh.
        let mut back = [table(
            "n2",
            &[("10.96.0.1/32", tunnel(1)), ("10.96.0.2/32", tunnel(2))],
        )];
        held.renumber(&mut back);
        assert_eq!(ids(&back[0]), [("10.96.0.1/32", 1), ("10.96.0.2/32", 2)]);
    }
}
