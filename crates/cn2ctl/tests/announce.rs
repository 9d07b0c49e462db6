//! Announcements of external addresses (Kontena / MetalLB pools, layer 2,
//! BGP, VPN routes to the gateway), on `cn2ctl plan -o json`.

mod common;

use common::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn announcements<'a>(plan: &'a Value, service: &str) -> Vec<&'a Value> {
    plan["announcements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["service"] == service)
        .collect()
}

/// The rendezvous owner, recomputed here: smallest sha256(node#address).
fn owner<'a>(nodes: &[&'a str], address: &str) -> &'a str {
    nodes
        .iter()
        .min_by_key(|n| Sha256::digest(format!("{n}#{address}").as_bytes()).to_vec())
        .unwrap()
}

#[test]
fn kontena_example_matches_its_header() {
    let plan = plan_json(&["examples/kontena"]);
    let fe = service(&plan, "web/frontend");
    assert_eq!(fe["addressPool"], "default");
    assert_eq!(fe["externalIPs"], serde_json::json!(["192.0.2.0"]));
    let mut bgp: Vec<(String, String)> = announcements(&plan, "web/frontend")
        .iter()
        .map(|a| {
            assert_eq!(a["protocol"], "bgp");
            assert_eq!(
                (a["myASN"].as_u64(), a["peerASN"].as_u64()),
                (Some(65000), Some(65530))
            );
            (
                a["node"].as_str().unwrap().into(),
                a["peer"].as_str().unwrap().into(),
            )
        })
        .collect();
    bgp.sort();
    assert_eq!(
        bgp,
        [
            ("worker-0".into(), "198.51.100.1".into()),
            ("worker-1".into(), "198.51.100.2".into())
        ]
    );

    let intranet = service(&plan, "web/intranet");
    assert_eq!(intranet["externalIPs"], serde_json::json!(["10.10.0.100"]));
    let l2 = announcements(&plan, "web/intranet");
    assert_eq!(l2.len(), 1, "exactly one owner");
    assert_eq!(l2[0]["protocol"], "layer2");
    // control-0 is tainted and not tolerated: only the workers are eligible.
    assert_eq!(
        l2[0]["node"],
        owner(&["worker-0", "worker-1"], "10.10.0.100")
    );

    let local: Vec<&str> = announcements(&plan, "web/local-only")
        .iter()
        .map(|a| a["node"].as_str().unwrap())
        .collect();
    assert_eq!(local, ["worker-1"]);
}

#[test]
fn metallb_example_matches_its_header() {
    let plan = plan_json(&["examples/metallb"]);
    assert_eq!(
        service(&plan, "shop/api")["externalIPs"],
        serde_json::json!(["203.0.113.1"])
    );
    let l2 = announcements(&plan, "shop/api");
    assert_eq!(l2.len(), 1);
    assert_eq!(l2[0]["node"], owner(&["edge-a", "edge-b"], "203.0.113.1"));
    let co = service(&plan, "shop/checkout");
    assert_eq!(co["addressPool"], "bgp-pool");
    assert_eq!(
        co["externalIPs"],
        serde_json::json!(["198.51.100.10", "2001:db8:100::10"])
    );
    let bgp = announcements(&plan, "shop/checkout");
    assert_eq!(bgp.len(), 6, "3 nodes x 2 addresses");
    assert!(bgp.iter().all(
        |a| a["communities"] == serde_json::json!(["65000:100"]) && a["peer"] == "192.0.2.254"
    ));
    let search = service(&plan, "shop/search");
    assert_eq!(
        search["externalIPs"],
        serde_json::json!(["198.51.100.15", "2001:db8:100::15"]),
        "the addresses the annotation asks for"
    );
    assert_eq!(announcements(&plan, "shop/search").len(), 6);
}

/// `metallb.io/loadBalancerIPs`: the addresses asked for, checked like
/// `spec.loadBalancerIP`.
#[test]
fn load_balancer_ips_annotation() {
    let pool = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p, namespace: metallb-system}\nspec: {addresses: [192.0.2.0/28]}\n";
    let svc = |name: &str, annotation: &str, extra: &str| {
        format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default, \
             annotations: {{metallb.io/loadBalancerIPs: \"{annotation}\"}}}}\n\
             spec: {{type: LoadBalancer, ports: [{{port: 80}}]{extra}}}\n"
        )
    };
    let good = format!(
        "{pool}{}{}{}",
        svc("asks", "192.0.2.9", ""),
        svc("same", "192.0.2.9", ""),
        svc("outside", "203.0.113.1", "")
    );
    let dir = write_dir(&[("c.yaml", &good)]);
    let plan = plan_json(&[dir.path().to_str().unwrap()]);
    assert_eq!(
        service(&plan, "default/asks")["externalIPs"],
        serde_json::json!(["192.0.2.9"])
    );
    for (name, words) in [("same", "already in use"), ("outside", "203.0.113.1")] {
        let pending = service(&plan, &format!("default/{name}"))["pending"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(pending.contains(words), "{name}: {pending:?}");
    }

    for (annotation, extra, words) in [
        ("192.0.2.1, 192.0.2.2", "", "one address per IP family"),
        ("192.0.2.300", "", "\"192.0.2.300\" is not an IP address"),
        (
            "192.0.2.1",
            ", loadBalancerIP: 192.0.2.1",
            "spec.loadBalancerIP is set too",
        ),
    ] {
        let dir = write_dir(&[(
            "bad.yaml",
            &format!("{pool}{}", svc("bad", annotation, extra)),
        )]);
        let out = cn2ctl(&["plan", dir.path().to_str().unwrap()], None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && out.stdout.is_empty(),
            "{annotation}"
        );
        assert!(
            stderr.contains("metadata.annotations[metallb.io/loadBalancerIPs]")
                && stderr.contains(words),
            "{annotation}: {stderr}"
        );
    }
}

#[test]
fn book_gateway_routes_and_multipath_warning() {
    let plan = plan_json(&["examples/book"]);
    let vpn = announcements(&plan, "ns-user-1/service-web-lb");
    let got: Vec<(&str, &str, &str)> = vpn
        .iter()
        .map(|a| {
            (
                a["protocol"].as_str().unwrap(),
                a["node"].as_str().unwrap(),
                a["nextHop"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("vpn", "cent222", "10.169.25.20"),
            ("vpn", "cent333", "10.169.25.21")
        ]
    );
    assert!(vpn.iter().all(|a| a["address"] == "101.101.101.2"
        && a["communities"] == serde_json::json!(["target:64512:101"])));
    let w = service(&plan, "ns-user-1/service-web-lb")["warnings"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert!(w.contains("multipath"), "{w}");
}

#[test]
fn bgp_pool_without_peers_is_a_config_error() {
    let dir = write_dir(&[(
        "lb.yaml",
        "kind: NetworkLoadBalancerConfig\napiVersion: cn2.dev/v1\naddress_pools:\n  - {name: default, protocol: bgp, addresses: [192.0.2.0/28]}\n",
    )]);
    let out = cn2ctl(&["plan", dir.path().to_str().unwrap()], None);
    assert!(!out.status.success() && out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Peers have to be configured for BGP protocol") && err.contains("lb.yaml"),
        "{err}"
    );
}

const L2_CONFIG: &str = "kind: NetworkLoadBalancerConfig\napiVersion: cn2.dev/v1\ntolerations: [{key: dedicated, operator: Exists, effect: NoSchedule}]\naddress_pools:\n  - {name: l2, protocol: layer2, addresses: [192.0.2.0/26]}\n";

fn nodes(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("---\napiVersion: v1\nkind: Node\nmetadata: {{name: {n}}}\nspec: {{taints: [{{key: dedicated, value: lb, effect: NoSchedule}}]}}\nstatus: {{addresses: [{{type: InternalIP, address: 10.0.0.{}}}]}}\n", n.len()))
        .collect()
}

fn services(n: usize) -> String {
    (0..n)
        .map(|i| format!("---\napiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, namespace: default, uid: u{i}}}\nspec: {{type: LoadBalancer, clusterIP: 10.96.0.{}, ports: [{{port: 80}}]}}\n", i + 1))
        .collect()
}

fn l2_owners(node_names: &[&str]) -> Vec<(String, String)> {
    let dir = write_dir(&[(
        "c.yaml",
        &format!("{L2_CONFIG}{}{}", nodes(node_names), services(40)),
    )]);
    let plan = plan_json(&[dir.path().to_str().unwrap()]);
    plan["announcements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["address"].as_str().unwrap().to_string(),
                a["node"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn layer2_owner_follows_rendezvous_and_moves_only_with_its_node() {
    let all = ["alpha", "bravo", "charlie", "delta", "echo"];
    let before = l2_owners(&all);
    assert_eq!(
        before.len(),
        40,
        "tolerated taints: every address has an owner"
    );
    for (addr, node) in &before {
        assert_eq!(node, owner(&all, addr), "{addr}");
    }
    let without = ["alpha", "bravo", "delta", "echo"];
    let after = l2_owners(&without);
    let mut moved = 0;
    for ((a1, n1), (a2, n2)) in before.iter().zip(&after) {
        assert_eq!(a1, a2);
        if n1 == "charlie" {
            moved += 1;
            assert_eq!(n2, owner(&without, a2));
        } else {
            assert_eq!(n1, n2, "{a1} moved although its owner stayed");
        }
    }
    assert!(moved > 0, "charlie owned something");
}

#[test]
fn pools_as_address_source() {
    let cfg = "kind: NetworkLoadBalancerConfig\napiVersion: cn2.dev/v1\naddress_pools:\n  - {name: tiny, protocol: layer2, addresses: [192.0.2.10-192.0.2.11]}\n  - {name: manual, protocol: layer2, addresses: [198.51.100.7/32], auto_assign: false}\n";
    let named = "---\napiVersion: v1\nkind: Service\nmetadata: {name: named, namespace: default, annotations: {metallb.io/address-pool: manual}}\nspec: {type: LoadBalancer, clusterIP: 10.96.1.1, ports: [{port: 80}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: ghost, namespace: default, annotations: {metallb.io/address-pool: nope}}\nspec: {type: LoadBalancer, clusterIP: 10.96.1.2, ports: [{port: 80}]}\n";
    let dir = write_dir(&[("c.yaml", &format!("{cfg}{named}{}", services(3)))]);
    let plan = plan_json(&[dir.path().to_str().unwrap()]);
    assert_eq!(
        service(&plan, "default/named")["externalIPs"],
        serde_json::json!(["198.51.100.7"])
    );
    assert!(
        service(&plan, "default/ghost")["pending"]
            .as_str()
            .unwrap()
            .contains("address pool nope")
    );
    // Auto-assign takes the pools in order; the manual pool is never used for it.
    assert_eq!(
        service(&plan, "default/s0")["externalIPs"],
        serde_json::json!(["192.0.2.10"])
    );
    assert_eq!(
        service(&plan, "default/s1")["externalIPs"],
        serde_json::json!(["192.0.2.11"])
    );
    let reason = service(&plan, "default/s2")["pending"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains("address-pool/tiny") && reason.contains("no free IPv4"),
        "{reason}"
    );
    // No nodes: nothing to announce on, and the plan says so.
    assert!(
        service(&plan, "default/s0")["warnings"][0]
            .as_str()
            .unwrap()
            .contains("no eligible node")
    );
}

/// MetalLB `serviceAllocation`: a pool pinned to namespaces or services is
/// only theirs, and is tried before the pools that are not pinned, lower
/// priority numbers first.
#[test]
fn service_allocation_pins_pools() {
    let pool = |name: &str, addresses: &str, allocation: &str| {
        format!(
            "---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n\
             metadata: {{name: {name}, namespace: metallb-system}}\n\
             spec: {{addresses: [{addresses}]{allocation}}}\n"
        )
    };
    let svc = |ns: &str, name: &str, meta: &str| {
        format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {ns}{meta}}}\n\
             spec: {{type: LoadBalancer, ports: [{{port: 80}}]}}\n"
        )
    };
    let manifests = [
        pool("general", "198.51.100.0/28", ""),
        pool(
            "team-a",
            "192.0.2.10/32",
            ", serviceAllocation: {priority: 20, namespaces: [team-a]}",
        ),
        pool(
            "premium",
            "203.0.113.0/28",
            ", serviceAllocation: {priority: 10, serviceSelectors: [{matchLabels: {tier: premium}}]}",
        ),
        pool(
            "prod",
            "192.0.2.64/28",
            ", serviceAllocation: {namespaceSelectors: [{matchLabels: {env: prod}}]}",
        ),
        "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {env: prod}}\n".into(),
        svc("team-a", "first", ""),
        svc("team-a", "second", ""),
        svc("team-a", "vip", ", labels: {tier: premium}"),
        svc("shop", "cart", ""),
        svc("other", "plain", ""),
        svc(
            "other",
            "intruder",
            ", annotations: {metallb.io/address-pool: team-a}",
        ),
    ]
    .concat();
    let dir = write_dir(&[("c.yaml", &manifests)]);
    let plan = plan_json(&[dir.path().to_str().unwrap()]);
    let pool_of = |id: &str| {
        let s = service(&plan, id);
        (
            s["addressPool"].as_str().map(str::to_string),
            s["externalIPs"][0].as_str().map(str::to_string),
        )
    };
    let want = |pool: &str, ip: &str| (Some(pool.to_string()), Some(ip.to_string()));
    assert_eq!(pool_of("team-a/first"), want("team-a", "192.0.2.10"));
    // The pinned pool is full: the next service falls to the unpinned one.
    assert_eq!(pool_of("team-a/second"), want("general", "198.51.100.0"));
    // Two pinned pools allow it; priority 10 comes before 20.
    assert_eq!(pool_of("team-a/vip"), want("premium", "203.0.113.0"));
    // Pinned by namespace labels, without priority: still before unpinned.
    assert_eq!(pool_of("shop/cart"), want("prod", "192.0.2.64"));
    assert_eq!(pool_of("other/plain"), want("general", "198.51.100.1"));
    let pending = service(&plan, "other/intruder")["pending"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        pending.contains("address pool team-a") && pending.contains("serviceAllocation"),
        "{pending:?}"
    );

    let bad = pool(
        "broken",
        "192.0.2.0/28",
        ", serviceAllocation: {serviceSelectors: [{matchExpressions: [{key: app, operator: Near}]}]}",
    );
    let dir = write_dir(&[("bad.yaml", &bad)]);
    let out = cn2ctl(&["plan", dir.path().to_str().unwrap()], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && out.stdout.is_empty());
    assert!(
        stderr.contains("bad.yaml")
            && stderr.contains("spec.serviceAllocation.serviceSelectors[0]"),
        "{stderr}"
    );
}
