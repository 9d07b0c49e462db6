//! Random sequences of adds, updates and deletes: the incremental state
//! gives the plan a whole plan of the final objects gives, apart from which
//! addresses were chosen (those must still be valid and unique).

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use proptest::prelude::*;
use serde_json::Value;

use super::*;

const SERVICES: usize = 4;
const PODS: usize = 6;
const SLICES: usize = 3;

/// Backend addresses: primary pod addresses 10.1.0.1-8 and secondary
/// (Multus) addresses 172.16.0.1-4.
fn backend_ip(i: u8) -> String {
    if i < 8 {
        format!("10.1.0.{}", i + 1)
    } else {
        format!("172.16.0.{}", i - 7)
    }
}

#[derive(Debug, Clone)]
enum Spec {
    Service {
        idx: usize,
        load_balancer: bool,
        ports: u8,
    },
    Endpoints {
        idx: usize,
        addrs: Vec<(u8, bool)>,
    },
    Slice {
        idx: usize,
        service: usize,
        addrs: Vec<(u8, bool)>,
    },
    Pod {
        idx: usize,
        primary: u8,
        secondary: Option<u8>,
        node: u8,
    },
    Namespace {
        annotated: bool,
    },
    Node {
        idx: u8,
        address: u8,
    },
}

impl Spec {
    fn key(&self) -> ObjectKey {
        match self {
            Spec::Service { idx, .. } => ("Service", format!("app/svc-{idx}")),
            Spec::Endpoints { idx, .. } => ("Endpoints", format!("app/svc-{idx}")),
            Spec::Slice { idx, .. } => ("EndpointSlice", format!("app/slice-{idx}")),
            Spec::Pod { idx, .. } => ("Pod", format!("app/pod-{idx}")),
            Spec::Namespace { .. } => ("Namespace", "app".into()),
            Spec::Node { idx, .. } => ("Node", format!("n{idx}")),
        }
    }

    fn yaml(&self) -> String {
        match self {
            Spec::Service {
                idx,
                load_balancer,
                ports,
            } => {
                let ports = match ports {
                    0 => "[{name: http, port: 80, targetPort: 8080}]",
                    1 => {
                        "[{name: http, port: 80, targetPort: http}, {name: dns, port: 80, protocol: UDP, targetPort: 5353}]"
                    }
                    2 => "[{name: http, port: 80}, {port: 81}]",
                    3 => "[{name: sig, port: 9, protocol: SCTP, targetPort: 9}]",
                    _ => "[{port: 80, targetPort: 8080}]",
                };
                let kind = if *load_balancer {
                    "LoadBalancer"
                } else {
                    "ClusterIP"
                };
                format!(
                    "apiVersion: v1\nkind: Service\nmetadata: {{name: svc-{idx}, namespace: app, uid: uid-{idx}}}\nspec: {{type: {kind}, ports: {ports}}}\n"
                )
            }
            Spec::Endpoints { idx, addrs } => {
                let ready: Vec<String> = addrs
                    .iter()
                    .filter(|a| a.1)
                    .map(|a| format!("{{ip: {}}}", backend_ip(a.0)))
                    .collect();
                let not_ready: Vec<String> = addrs
                    .iter()
                    .filter(|a| !a.1)
                    .map(|a| format!("{{ip: {}}}", backend_ip(a.0)))
                    .collect();
                format!(
                    "apiVersion: v1\nkind: Endpoints\nmetadata: {{name: svc-{idx}, namespace: app}}\nsubsets:\n  - ports: [{{name: http, port: 8080}}, {{name: dns, port: 5353, protocol: UDP}}]\n    addresses: [{}]\n    notReadyAddresses: [{}]\n",
                    ready.join(", "),
                    not_ready.join(", ")
                )
            }
            Spec::Slice {
                idx,
                service,
                addrs,
            } => {
                let eps: Vec<String> = addrs
                    .iter()
                    .map(|(ip, ready)| {
                        format!(
                            "{{addresses: [{}], conditions: {{ready: {ready}}}, nodeName: n{}}}",
                            backend_ip(*ip),
                            ip % 2
                        )
                    })
                    .collect();
                format!(
                    "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: slice-{idx}, namespace: app, labels: {{kubernetes.io/service-name: svc-{service}}}}}\naddressType: IPv4\nports: [{{name: http, port: 8080}}, {{name: sig, port: 9, protocol: SCTP}}]\nendpoints: [{}]\n",
                    eps.join(", ")
                )
            }
            Spec::Pod {
                idx,
                primary,
                secondary,
                node,
            } => {
                let status = match secondary {
                    Some(s) => format!(
                        "\n  annotations:\n    k8s.v1.cni.cncf.io/network-status: '[{{\"name\": \"app/pod-subnet\", \"interface\": \"net1\", \"ips\": [\"{}\"]}}]'",
                        backend_ip(*s)
                    ),
                    None => String::new(),
                };
                format!(
                    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: pod-{idx}\n  namespace: app{status}\nspec: {{nodeName: n{node}}}\nstatus: {{podIPs: [{{ip: {}}}]}}\n",
                    backend_ip(*primary)
                )
            }
            Spec::Node { idx, address } => format!(
                "apiVersion: v1\nkind: Node\nmetadata: {{name: n{idx}}}\nstatus: {{addresses: [{{type: InternalIP, address: 192.0.2.{address}}}]}}\n"
            ),
            Spec::Namespace { annotated } => {
                let ann = if *annotated {
                    "{service.contrail.juniper.net/externalNetwork: contrail/missing}"
                } else {
                    "{}"
                };
                format!(
                    "apiVersion: v1\nkind: Namespace\nmetadata: {{name: app, annotations: {ann}}}\n"
                )
            }
        }
    }
}

fn addrs() -> impl Strategy<Value = Vec<(u8, bool)>> {
    prop::collection::vec((0u8..12, prop::bool::weighted(0.8)), 0..5)
}

fn spec() -> impl Strategy<Value = Spec> {
    prop_oneof![
        (0..SERVICES, any::<bool>(), 0u8..5).prop_map(|(idx, load_balancer, ports)| {
            Spec::Service {
                idx,
                load_balancer,
                ports,
            }
        }),
        (0..SERVICES, addrs()).prop_map(|(idx, addrs)| Spec::Endpoints { idx, addrs }),
        (0..SLICES, 0..SERVICES, addrs()).prop_map(|(idx, service, addrs)| Spec::Slice {
            idx,
            service,
            addrs
        }),
        (0..PODS, 0u8..8, prop::option::of(8u8..12), 0u8..2).prop_map(
            |(idx, primary, secondary, node)| Spec::Pod {
                idx,
                primary,
                secondary,
                node
            }
        ),
        prop::bool::weighted(0.3).prop_map(|annotated| Spec::Namespace { annotated }),
        (0u8..3, 1u8..4).prop_map(|(idx, address)| Spec::Node { idx, address }),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Apply(Spec),
    Delete(Spec),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => spec().prop_map(Op::Apply),
        1 => spec().prop_map(Op::Delete),
    ]
}

const BASE: &str = "apiVersion: configplane.juniper.net/v1\nkind: Kubemanager\nmetadata: {name: km, namespace: contrail}\nspec:\n  serviceV4Subnet: 10.96.0.0/24\n  externalNetworkV4Subnet: 203.0.113.0/24\n  externalNetworkSelectors:\n    default-external: {namespaceSelector: {}, networkSelector: {matchLabels: {service.contrail.juniper.net/externalNetworkSelector: default-external}}}\n---\napiVersion: v1\nkind: Node\nmetadata: {name: n0}\nstatus: {addresses: [{type: InternalIP, address: 192.0.2.1}]}\n---\napiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus: {addresses: [{type: InternalIP, address: 192.0.2.2}]}\n";

/// The plan as JSON with allocated addresses replaced by tokens naming
/// their service and role, route ids dropped and routes sorted. Checks that
/// every allocated address lies in its subnet and has one owner.
fn normalised(plan: &Plan) -> Value {
    let mut tokens: BTreeMap<String, String> = BTreeMap::new();
    let mut seen = HashSet::new();
    for s in &plan.services {
        let id = format!("{}/{}", s.namespace, s.name);
        for (role, list, net) in [
            ("cluster", &s.cluster_ips, "10.96.0."),
            ("external", &s.external_ips, "203.0.113."),
        ] {
            for (i, a) in list.iter().enumerate() {
                assert!(a.to_string().starts_with(net), "{a} outside {net}0/24");
                assert!(seen.insert(*a), "{a} given twice");
                tokens.insert(a.to_string(), format!("<{id} {role} {i}>"));
            }
        }
    }
    let mut v = serde_json::to_value(plan).unwrap();
    fn walk(v: &mut Value, tokens: &BTreeMap<String, String>) {
        match v {
            Value::String(s) => {
                let cut = s.find('/').unwrap_or(s.len());
                if let Some(t) = tokens.get(&s[..cut]) {
                    *s = format!("{t}{}", &s[cut..]);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, tokens)),
            Value::Object(o) => {
                o.remove("id");
                o.values_mut().for_each(|x| walk(x, tokens));
                for k in ["routes", "announcements"] {
                    if let Some(Value::Array(a)) = o.get_mut(k) {
                        a.sort_by_key(|x| x.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    walk(&mut v, &tokens);
    v
}

/// The plan with every next-hop id 0.
fn without_next_hop_ids(mut p: Plan) -> Plan {
    for r in p.nodes.iter_mut().flat_map(|n| &mut n.routes) {
        r.nexthop.id = 0;
    }
    p
}

/// Within each node, one id per distinct next hop, and ids from 1.
fn assert_ids_name_next_hops(p: &Plan) {
    for n in &p.nodes {
        let mut by_id: BTreeMap<u32, &crate::ecmp::NextHop> = BTreeMap::new();
        let mut by_hop: HashMap<&crate::ecmp::NextHop, u32> = HashMap::default();
        for r in &n.routes {
            let (id, nh) = (r.nexthop.id, &r.nexthop.next_hop);
            assert!(id >= 1, "{}: id 0", n.name);
            assert_eq!(
                *by_id.entry(id).or_insert(nh),
                nh,
                "{}: id {id} names two next hops",
                n.name
            );
            assert_eq!(
                *by_hop.entry(nh).or_insert(id),
                id,
                "{}: a next hop with two ids",
                n.name
            );
        }
    }
}

/// The diff between the load-balancer objects of two plans.
fn plan_diff(old: &Plan, new: &Plan) -> crate::lb::Diff {
    let objects = |p: &Plan| -> BTreeMap<String, crate::lb::ServiceObjects> {
        p.services
            .iter()
            .filter_map(|s| {
                Some((
                    format!("{}/{}", s.namespace, s.name),
                    crate::lb::ServiceObjects {
                        load_balancer: s.load_balancer.clone()?,
                        instance_ips: s.instance_ips.clone(),
                        floating_ips: s.floating_ips.clone(),
                    },
                ))
            })
            .collect()
    };
    let (old, new) = (objects(old), objects(new));
    let mut d = crate::lb::Diff::default();
    let ids: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for id in ids {
        crate::lb::diff_service(id, old.get(id), new.get(id), &mut d);
    }
    d.sort();
    d
}

fn member_count(p: &Plan) -> usize {
    p.services
        .iter()
        .filter_map(|s| s.load_balancer.as_ref())
        .flat_map(|l| &l.listeners)
        .map(|l| l.pool.members.len())
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn incremental_state_equals_a_whole_plan(ops in prop::collection::vec(op(), 1..40)) {
        let mut c = Cluster::new();
        let r = c.apply_str("base.yaml", BASE).unwrap();
        prop_assert!(r.rejected.is_empty());
        for op in &ops {
            let before = c.plan();
            let r = match op {
                Op::Apply(s) => {
                    let r = c.apply_str("op.yaml", &s.yaml()).unwrap();
                    prop_assert!(r.rejected.is_empty(), "{:?}", r.rejected);
                    r
                }
                Op::Delete(s) => {
                    let key = s.key();
                    let held = c.contains(&key);
                    let r = c.delete(&[key]).unwrap();
                    prop_assert_eq!(r.rejected.is_empty(), held);
                    r
                }
            };
            // The reported diff is exactly the difference between the plans.
            prop_assert_eq!(r.diff, plan_diff(&before, &c.plan()));
        }
        let manifests = Manifests {
            documents: c.documents().into_iter().cloned().collect(),
            warnings: Vec::new(),
        };
        let whole = plan(&Inventory::resolve(&manifests).unwrap(), &mut Allocator::in_memory()).unwrap();
        let incremental = c.plan();
        prop_assert_eq!(member_count(&incremental), member_count(&whole));
        prop_assert_eq!(normalised(&incremental), normalised(&whole));
        // Every address the plan shows is held in the allocator, once.
        let held: Vec<IpAddr> = incremental
            .services
            .iter()
            .flat_map(|s| s.cluster_ips.iter().chain(&s.external_ips))
            .copied()
            .collect();
        let alloc = c.allocator();
        for a in &held {
            let pool = if a.to_string().starts_with("10.96.") {
                "contrail/service-network-v4"
            } else {
                "contrail/default-external-vn-v4"
            };
            prop_assert!(!alloc.pool(pool).unwrap().is_free(a), "{} is free in {}", a, pool);
        }
    }
}

/// A store shared with the test, so that a whole plan can start from the
/// cluster's allocations.
#[derive(Debug, Clone, Default)]
struct SharedStore(std::rc::Rc<std::cell::RefCell<BTreeMap<(String, String), IpAddr>>>);

impl crate::ipam::Store for SharedStore {
    fn load(&mut self) -> Result<Vec<crate::ipam::Allocation>, crate::ipam::IpamError> {
        Ok(self
            .0
            .borrow()
            .iter()
            .map(|((pool, owner), a)| crate::ipam::Allocation {
                pool: pool.clone(),
                owner: owner.clone(),
                address: *a,
            })
            .collect())
    }
    fn put(
        &mut self,
        pool: &str,
        owner: &str,
        address: IpAddr,
    ) -> Result<(), crate::ipam::IpamError> {
        self.0
            .borrow_mut()
            .insert((pool.to_string(), owner.to_string()), address);
        Ok(())
    }
    fn remove(&mut self, pool: &str, owner: &str) -> Result<(), crate::ipam::IpamError> {
        self.0
            .borrow_mut()
            .remove(&(pool.to_string(), owner.to_string()));
        Ok(())
    }
    fn flush(&mut self) -> Result<(), crate::ipam::IpamError> {
        Ok(())
    }
}

/// Few addresses: a service subnet and an external network with one usable
/// address each (a /30 less network, gateway and broadcast), for 4
/// services, so services wait for addresses and take them when others are
/// deleted.
const SCARCE: &str = "apiVersion: configplane.juniper.net/v1\nkind: Kubemanager\nmetadata: {name: km, namespace: contrail}\nspec:\n  serviceV4Subnet: 10.96.0.0/30\n  externalNetworkV4Subnet: 203.0.113.0/30\n  externalNetworkSelectors:\n    default-external: {namespaceSelector: {}, networkSelector: {matchLabels: {service.contrail.juniper.net/externalNetworkSelector: default-external}}}\n";

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// With scarce addresses, the incremental state (which re-decides only
    /// changed and waiting services) is exactly what a whole plan gives when
    /// it starts from the same allocations.
    #[test]
    fn incremental_decisions_equal_a_whole_plan_on_the_same_allocations(
        ops in prop::collection::vec(op(), 1..40),
    ) {
        let store = SharedStore::default();
        let mut c = Cluster::with_allocator(Allocator::with_store(store.clone()).unwrap());
        let r = c.apply_str("base.yaml", SCARCE).unwrap();
        prop_assert!(r.rejected.is_empty(), "{:?}", r.rejected);
        for op in &ops {
            match op {
                Op::Apply(s) => {
                    c.apply_str("op.yaml", &s.yaml()).unwrap();
                }
                Op::Delete(s) => {
                    c.delete(&[s.key()]).unwrap();
                }
            }
            let manifests = Manifests {
                documents: c.documents().into_iter().cloned().collect(),
                warnings: Vec::new(),
            };
            let snapshot = SharedStore(std::rc::Rc::new(std::cell::RefCell::new(store.0.borrow().clone())));
            let mut alloc = Allocator::with_store(snapshot).unwrap();
            let whole = plan(&Inventory::resolve(&manifests).unwrap(), &mut alloc).unwrap();
            // Next-hop ids are kept from plan to plan: equal up to them.
            let incremental = c.plan();
            assert_ids_name_next_hops(&incremental);
            prop_assert_eq!(without_next_hop_ids(incremental), without_next_hop_ids(whole));
        }
    }
}
