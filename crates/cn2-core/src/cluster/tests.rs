use std::net::IpAddr;

use super::*;
use crate::ipam::JsonFileStore;
use crate::lb::ChangeKind as K;
use crate::model::load_str;
use crate::plan::plan;

const KM: &str = "apiVersion: configplane.juniper.net/v1\nkind: Kubemanager\nmetadata: {name: km, namespace: contrail}\nspec:\n  serviceV4Subnet: 10.96.0.0/16\n  externalNetworkV4Subnet: 203.0.113.0/24\n  externalNetworkSelectors:\n    default-external: {namespaceSelector: {}, networkSelector: {matchLabels: {service.contrail.juniper.net/externalNetworkSelector: default-external}}}\n";

fn service(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: app, uid: {name}-uid}}\nspec: {{type: LoadBalancer, ports: [{{name: http, port: 80, targetPort: 8080}}]}}\n"
    )
}

fn endpoints(name: &str, ips: &[u8]) -> String {
    let mut y = format!(
        "apiVersion: v1\nkind: Endpoints\nmetadata: {{name: {name}, namespace: app}}\nsubsets:\n  - ports: [{{name: http, port: 8080}}]\n    addresses:\n"
    );
    for i in ips {
        y.push_str(&format!("      - {{ip: 10.1.0.{i}, nodeName: n1}}\n"));
    }
    if ips.is_empty() {
        y.push_str("      []\n");
    }
    y
}

fn pod(name: &str, ip: u8) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: app}}\nspec: {{nodeName: n1}}\nstatus: {{podIPs: [{{ip: 10.1.0.{ip}}}]}}\n"
    )
}

fn apply(c: &mut Cluster<impl Store>, text: &str) -> Report {
    let r = c.apply_str("test.yaml", text).unwrap();
    assert!(r.rejected.is_empty(), "rejected: {:?}", r.rejected);
    r
}

fn names(changes: &[crate::lb::Change], kind: K) -> Vec<&str> {
    changes
        .iter()
        .filter(|c| c.kind == kind)
        .map(|c| c.name.as_str())
        .collect()
}

/// Whatever kinds appear in a list of changes.
fn kinds(changes: &[crate::lb::Change]) -> Vec<K> {
    let mut k: Vec<K> = changes.iter().map(|c| c.kind).collect();
    k.dedup();
    k
}

#[test]
fn a_new_service_creates_every_object() {
    let mut c = Cluster::new();
    let r = apply(
        &mut c,
        &format!(
            "{KM}---\n{}---\n{}",
            service("web"),
            endpoints("web", &[10, 11])
        ),
    );
    assert_eq!(names(&r.diff.created, K::LoadBalancer), ["app-web"]);
    assert_eq!(names(&r.diff.created, K::Listener), ["app-web-tcp-80"]);
    assert_eq!(names(&r.diff.created, K::Pool), ["app-web-tcp-80"]);
    assert_eq!(
        names(&r.diff.created, K::Member),
        [
            "app-web-tcp-80/10.1.0.10:8080",
            "app-web-tcp-80/10.1.0.11:8080"
        ]
    );
    assert_eq!(
        names(&r.diff.created, K::InstanceIp),
        ["app-web-external-v4", "app-web-v4"]
    );
    assert_eq!(r.diff.count(K::FloatingIp), (2, 0, 0));
    assert!(r.diff.changed.is_empty() && r.diff.deleted.is_empty());
}

#[test]
fn endpoint_churn_touches_members_and_floating_ips_only() {
    let mut c = Cluster::new();
    apply(
        &mut c,
        &format!(
            "{KM}---\n{}---\n{}",
            service("web"),
            endpoints("web", &[10, 11, 12])
        ),
    );
    let before = c.plan();
    // Scale up.
    let r = apply(&mut c, &endpoints("web", &[10, 11, 12, 13, 14]));
    assert_eq!(
        names(&r.diff.created, K::Member),
        [
            "app-web-tcp-80/10.1.0.13:8080",
            "app-web-tcp-80/10.1.0.14:8080"
        ]
    );
    assert_eq!(kinds(&r.diff.created), [K::Member]);
    assert!(r.diff.deleted.is_empty());
    // No member is a known pod interface: FloatingIP interface lists stay
    // empty, so nothing else changes.
    assert!(r.diff.changed.is_empty(), "{:?}", r.diff.changed);
    // Scale down.
    let r = apply(&mut c, &endpoints("web", &[11]));
    assert_eq!(r.diff.count(K::Member), (0, 0, 4));
    assert_eq!(kinds(&r.diff.deleted), [K::Member]);
    assert!(r.diff.created.is_empty() && r.diff.changed.is_empty());
    let after = c.plan();
    let (b, a) = (&before.services[0], &after.services[0]);
    assert_eq!(b.cluster_ips, a.cluster_ips);
    assert_eq!(b.external_ips, a.external_ips);
    assert_eq!(b.instance_ips, a.instance_ips);
    let lb = |p: &crate::plan::ServicePlan| {
        let l = p.load_balancer.clone().unwrap();
        (l.name, l.uid, l.vips, l.listeners.len())
    };
    assert_eq!(lb(b), lb(a));
}

#[test]
fn pods_resolve_members_and_reach_floating_ips() {
    let mut c = Cluster::new();
    apply(
        &mut c,
        &format!(
            "{KM}---\n{}---\n{}",
            service("web"),
            endpoints("web", &[10, 11])
        ),
    );
    let r = apply(&mut c, &pod("web-a", 10));
    assert_eq!(
        r.diff.changed,
        [
            crate::lb::Change {
                service: "app/web".into(),
                kind: K::Member,
                name: "app-web-tcp-80/10.1.0.10:8080".into(),
                fields: vec!["pod", "interface"],
            },
            crate::lb::Change {
                service: "app/web".into(),
                kind: K::FloatingIp,
                name: "app-web-external-v4".into(),
                fields: vec!["interfaces"],
            },
            crate::lb::Change {
                service: "app/web".into(),
                kind: K::FloatingIp,
                name: "app-web-v4".into(),
                fields: vec!["interfaces"],
            },
        ]
    );
    let p = c.plan();
    assert_eq!(p.services[0].floating_ips[0].interfaces, ["app/web-a/eth0"]);
    // Deleting the pod makes the member an unknown address again.
    let r = c.delete(&[("Pod", "app/web-a".into())]).unwrap();
    assert_eq!(r.diff.count(K::Member), (0, 1, 0));
    assert!(c.plan().services[0].floating_ips[0].interfaces.is_empty());
}

#[test]
fn deleting_and_recreating_endpoints_leaves_no_stale_member() {
    let mut c = Cluster::new();
    apply(
        &mut c,
        &format!(
            "{KM}---\n{}---\n{}",
            service("web"),
            endpoints("web", &[10, 11])
        ),
    );
    let r = c.delete(&[("Endpoints", "app/web".into())]).unwrap();
    assert_eq!(r.diff.count(K::Member), (0, 0, 2));
    apply(&mut c, &endpoints("web", &[12]));
    let p = c.plan();
    let members: Vec<IpAddr> = p.services[0].load_balancer.as_ref().unwrap().listeners[0]
        .pool
        .members
        .iter()
        .map(|m| m.address)
        .collect();
    assert_eq!(members, ["10.1.0.12".parse::<IpAddr>().unwrap()]);
}

#[test]
fn deleting_a_service_deletes_its_objects_and_releases_its_addresses() {
    let mut c = Cluster::new();
    apply(
        &mut c,
        &format!(
            "{KM}---\n{}---\n{}",
            service("web"),
            endpoints("web", &[10])
        ),
    );
    let held = c.plan().services[0].clone();
    let r = c.delete(&[("Service", "app/web".into())]).unwrap();
    assert!(r.diff.created.is_empty() && r.diff.changed.is_empty());
    for kind in [
        K::LoadBalancer,
        K::Listener,
        K::Pool,
        K::Member,
        K::InstanceIp,
        K::FloatingIp,
    ] {
        assert!(r.diff.count(kind).2 >= 1, "{kind:?} deleted");
    }
    assert!(c.plan().services.is_empty());
    apply(&mut c, &service("api"));
    let api = c.plan().services[0].clone();
    assert_eq!(api.cluster_ips, held.cluster_ips);
    assert_eq!(api.external_ips, held.external_ips);
    // The old endpoints stay (they are objects of their own) but feed nothing.
    assert!(
        api.load_balancer.unwrap().listeners[0]
            .pool
            .members
            .is_empty()
    );
}

#[test]
fn a_broken_object_is_rejected_alone() {
    let mut c = Cluster::new();
    let text = format!(
        "{KM}---\n{}---\napiVersion: core.contrail.juniper.net/v1\nkind: VirtualNetwork\nmetadata: {{name: vn, namespace: app}}\nspec: {{v4SubnetReference: {{name: missing}}}}\n---\n{}",
        service("web"),
        service("api")
    );
    let r = c.apply_str("m.yaml", &text).unwrap();
    assert_eq!(r.rejected.len(), 1, "{:?}", r.rejected);
    assert!(r.rejected[0].contains("app/missing"), "{}", r.rejected[0]);
    assert!(!c.contains(&("VirtualNetwork", "app/vn".into())));
    assert_eq!(c.plan().services.len(), 2);
    assert_eq!(r.accepted, 3);
}

#[test]
fn a_deletion_that_breaks_a_reference_is_rejected() {
    let mut c = Cluster::new();
    apply(
        &mut c,
        "apiVersion: core.contrail.juniper.net/v1\nkind: Subnet\nmetadata: {name: s, namespace: app}\nspec: {cidr: 192.0.2.0/24}\n---\napiVersion: core.contrail.juniper.net/v1\nkind: VirtualNetwork\nmetadata: {name: vn, namespace: app}\nspec: {v4SubnetReference: {name: s}}\n",
    );
    let r = c.delete(&[("Subnet", "app/s".into())]).unwrap();
    assert_eq!(r.rejected.len(), 1);
    assert!(c.contains(&("Subnet", "app/s".into())));
    let r = c.delete(&[("Service", "app/none".into())]).unwrap();
    assert_eq!(r.rejected, ["Service app/none not found"]);
}

#[test]
fn allocations_survive_a_restart() {
    let dir = tempfile_dir();
    let text = format!("{KM}---\n{}---\n{}", service("a"), service("b"));
    let first = {
        let mut c = Cluster::with_allocator(
            Allocator::with_store(JsonFileStore::open(&dir).unwrap()).unwrap(),
        );
        apply(&mut c, &service("z"));
        apply(&mut c, &text);
        c.plan()
    };
    let mut c =
        Cluster::with_allocator(Allocator::with_store(JsonFileStore::open(&dir).unwrap()).unwrap());
    // A different order, and without `z`: the addresses stay.
    apply(
        &mut c,
        &format!("{KM}---\n{}---\n{}", service("b"), service("a")),
    );
    let again = c.plan();
    let addrs = |p: &Plan, n: &str| {
        let s = p.services.iter().find(|s| s.name == n).unwrap();
        (s.cluster_ips.clone(), s.external_ips.clone())
    };
    assert_eq!(addrs(&first, "a"), addrs(&again, "a"));
    assert_eq!(addrs(&first, "b"), addrs(&again, "b"));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn tempfile_dir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "cn2-cluster-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn the_book_example_plans_as_a_whole_plan_does() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/book/services.yaml"
    ))
    .unwrap();
    let m = load_str("services.yaml", &text).unwrap();
    let whole = plan(
        &Inventory::resolve(&m).unwrap(),
        &mut Allocator::in_memory(),
    )
    .unwrap();
    // Applied in one go.
    let mut c = Cluster::new();
    apply(&mut c, &text);
    assert_eq!(c.plan(), whole);
    // Applied object by object, in the same order.
    let mut c = Cluster::new();
    for d in &m.documents {
        let r = c
            .apply(Manifests {
                documents: vec![d.clone()],
                warnings: Vec::new(),
            })
            .unwrap();
        assert!(r.rejected.is_empty());
    }
    assert_eq!(c.plan(), whole);
}

/// `(prefix, next-hop id)` of a node's routes in a VRF.
fn next_hop_ids<'a>(p: &'a Plan, node: &str, vrf: &str) -> Vec<(&'a str, u32)> {
    p.nodes
        .iter()
        .find(|n| n.name == node)
        .unwrap()
        .routes
        .iter()
        .filter(|r| &*r.vrf == vrf)
        .map(|r| (&*r.prefix, r.nexthop.id))
        .collect()
}

#[test]
fn routes_keep_their_next_hop_ids_from_plan_to_plan() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/book/services.yaml"
    ))
    .unwrap();
    let mut c = Cluster::new();
    apply(&mut c, &text);
    let pods = "contrail/pod-network";
    let first = c.plan();
    assert_eq!(
        next_hop_ids(&first, "cent222", pods),
        [
            ("10.96.100.10/32", 1),
            ("10.96.100.11/32", 2),
            ("10.96.100.12/32", 1)
        ]
    );
    // A service over webserver-2 alone, whose route sorts first: a tunnel
    // to cent333 from cent222, a next hop of its own.
    let extra = "apiVersion: v1\nkind: Service\nmetadata: {name: extra, namespace: ns-user-1, uid: extra-uid}\nspec: {type: ClusterIP, clusterIP: 10.96.100.1, ports: [{port: 80}]}\n---\napiVersion: v1\nkind: Endpoints\nmetadata: {name: extra, namespace: ns-user-1}\nsubsets:\n  - addresses: [{ip: 10.47.255.237, nodeName: cent333, targetRef: {kind: Pod, namespace: ns-user-1, name: webserver-2}}]\n    ports: [{port: 80}]\n";
    apply(&mut c, extra);
    let second = c.plan();
    assert_eq!(
        next_hop_ids(&second, "cent222", pods),
        [
            ("10.96.100.1/32", 3),
            ("10.96.100.10/32", 1),
            ("10.96.100.11/32", 2),
            ("10.96.100.12/32", 1)
        ]
    );
    // A whole plan numbers in route order instead.
    let manifests = Manifests {
        documents: c.documents().into_iter().cloned().collect(),
        warnings: Vec::new(),
    };
    let whole = plan(
        &Inventory::resolve(&manifests).unwrap(),
        &mut Allocator::in_memory(),
    )
    .unwrap();
    assert_eq!(
        next_hop_ids(&whole, "cent222", pods)[0],
        ("10.96.100.1/32", 1)
    );
    // The multi-port service goes: its id is released, the others stay.
    c.delete(&[("Service", "ns-user-1/service-web-clusterip-mp".into())])
        .unwrap();
    let third = c.plan();
    assert_eq!(
        next_hop_ids(&third, "cent222", pods),
        [
            ("10.96.100.1/32", 3),
            ("10.96.100.10/32", 1),
            ("10.96.100.12/32", 1)
        ]
    );
    // A plan without changes keeps every id.
    assert_eq!(c.plan(), third);
}

#[test]
fn replacing_the_whole_set_diffs_two_manifest_sets() {
    let mut c = Cluster::new();
    apply(
        &mut c,
        &format!(
            "{KM}---\n{}---\n{}---\n{}",
            service("web"),
            endpoints("web", &[10, 11]),
            service("old")
        ),
    );
    let new = load_str(
        "new.yaml",
        &format!(
            "{KM}---\n{}---\n{}",
            service("web"),
            endpoints("web", &[11, 12])
        ),
    )
    .unwrap();
    let r = c.replace_all(new).unwrap();
    assert_eq!(
        names(&r.diff.created, K::Member),
        ["app-web-tcp-80/10.1.0.12:8080"]
    );
    let deleted: Vec<(&str, K)> = r
        .diff
        .deleted
        .iter()
        .map(|c| (c.service.as_str(), c.kind))
        .collect();
    assert!(deleted.contains(&("app/web", K::Member)));
    assert!(deleted.contains(&("app/old", K::LoadBalancer)));
    assert_eq!(c.plan().services.len(), 1);
}

mod random;
