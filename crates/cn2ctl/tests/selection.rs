//! External-network selection, addresses and stickiness, on `cn2ctl plan`.

mod common;

use common::*;

const BASE: &str = r#"
apiVersion: configplane.juniper.net/v1
kind: Kubemanager
metadata: {name: km, namespace: contrail}
spec:
  serviceV4Subnet: 10.96.0.0/16
  serviceV6Subnet: fd00:96::/112
  externalNetworkSelectors:
    default-external:
      namespaceSelector: {}
      networkSelector: {matchLabels: {ext: "yes"}}
    nothing:
      namespaceSelector: {}
    own-ns:
      networkSelector: {}
    team-a:
      namespaceSelector: {matchExpressions: [{key: team, operator: In, values: [a]}]}
      networkSelector: {matchExpressions: [{key: tier, operator: Exists}]}
---
apiVersion: v1
kind: Namespace
metadata: {name: apps}
---
apiVersion: v1
kind: Namespace
metadata: {name: net-a, labels: {team: a}}
---
apiVersion: core.contrail.juniper.net/v1
kind: Subnet
metadata: {name: ext-v4, namespace: contrail}
spec: {cidr: 203.0.113.0/29}
---
apiVersion: core.contrail.juniper.net/v1
kind: VirtualNetwork
metadata: {name: ext, namespace: contrail, labels: {ext: "yes"}}
spec:
  v4SubnetReference: {name: ext-v4}
---
apiVersion: core.contrail.juniper.net/v1
kind: Subnet
metadata: {name: wide-v4, namespace: net-a}
spec: {cidr: 198.51.100.0/24, ranges: [{key: r, ipRanges: [{from: 198.51.100.100, to: 198.51.100.101}]}]}
---
apiVersion: core.contrail.juniper.net/v1
kind: Subnet
metadata: {name: wide-v6, namespace: net-a}
spec: {cidr: "2001:db8:a::/64"}
---
apiVersion: core.contrail.juniper.net/v4
kind: VirtualNetwork
metadata: {name: wide, namespace: net-a, labels: {tier: front}}
spec:
  v4SubnetReference: {name: wide-v4}
  v6SubnetReference: {name: wide-v6}
"#;

fn svc(name: &str, annotations: &str, extra: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: apps, uid: uid-{name}, annotations: {{{annotations}}}}}\nspec:\n  type: LoadBalancer\n  ports: [{{port: 80}}]\n{extra}"
    )
}

fn plan_of(docs: &[String]) -> serde_json::Value {
    let dir = write_dir(&[("m.yaml", &format!("{BASE}{}", docs.concat()))]);
    plan_json(&[dir.path().to_str().unwrap()])
}

fn pending(plan: &serde_json::Value, id: &str) -> String {
    service(plan, id)["pending"]
        .as_str()
        .unwrap_or_else(|| panic!("{id} not pending"))
        .to_string()
}

#[test]
fn cluster_ips_are_allocated_lowest_first() {
    let plan = plan_of(&[
        svc("a", "", ""),
        svc(
            "b",
            "",
            "  ipFamilies: [IPv6, IPv4]\n  ipFamilyPolicy: RequireDualStack\n",
        ),
    ]);
    assert_eq!(
        service(&plan, "apps/a")["clusterIPs"],
        serde_json::json!(["10.96.0.2"])
    );
    assert_eq!(
        service(&plan, "apps/b")["clusterIPs"],
        serde_json::json!(["fd00:96::2", "10.96.0.3"])
    );
}

#[test]
fn selectors_null_versus_empty() {
    let plan = plan_of(&[
        svc(
            "none",
            "service.contrail.juniper.net/externalNetworkSelector: nothing",
            "",
        ),
        svc(
            "own",
            "service.contrail.juniper.net/externalNetworkSelector: own-ns",
            "",
        ),
        svc(
            "team",
            "service.contrail.juniper.net/externalNetworkSelector: team-a",
            "",
        ),
    ]);
    // networkSelector absent: no network at all.
    assert!(pending(&plan, "apps/none").contains("matches no network"));
    // namespaceSelector absent: only the service's namespace, which has none.
    assert!(pending(&plan, "apps/own").contains("matches no network"));
    // A namespace chosen by labels; Subnet.ranges limit allocation.
    assert_eq!(
        external(&plan, "apps/team"),
        (Some("net-a/wide".into()), vec!["198.51.100.100".into()])
    );
}

#[test]
fn missing_selector_does_not_fall_through() {
    let plan = plan_of(&[svc(
        "x",
        "service.contrail.juniper.net/externalNetworkSelector: no-such",
        "",
    )]);
    let reason = pending(&plan, "apps/x");
    assert!(
        reason.contains("no-such") && reason.contains("not configured"),
        "{reason}"
    );
}

#[test]
fn bare_network_name_means_own_namespace() {
    let plan = plan_of(&[svc(
        "x",
        "service.contrail.juniper.net/externalNetwork: wide",
        "",
    )]);
    assert!(pending(&plan, "apps/x").contains("apps/wide"));
    let plan = plan_of(&[svc(
        "x",
        "service.contrail.juniper.net/externalNetwork: net-a/wide",
        "",
    )]);
    assert_eq!(external(&plan, "apps/x").0.as_deref(), Some("net-a/wide"));
}

#[test]
fn families_and_policies() {
    let ds = "service.contrail.juniper.net/externalNetwork: net-a/wide";
    let plan = plan_of(&[
        svc(
            "req",
            ds,
            "  ipFamilies: [IPv6, IPv4]\n  ipFamilyPolicy: RequireDualStack\n",
        ),
        svc(
            "pref",
            "",
            "  ipFamilies: [IPv4, IPv6]\n  ipFamilyPolicy: PreferDualStack\n",
        ),
        svc(
            "req-v4only",
            "",
            "  ipFamilies: [IPv4, IPv6]\n  ipFamilyPolicy: RequireDualStack\n",
        ),
    ]);
    assert_eq!(
        external(&plan, "apps/req"),
        (
            Some("net-a/wide".into()),
            vec!["2001:db8:a::2".into(), "198.51.100.100".into()]
        )
    );
    // PreferDualStack on a v4-only network: v4 alone.
    assert_eq!(
        external(&plan, "apps/pref"),
        (Some("contrail/ext".into()), vec!["203.0.113.2".into()])
    );
    let reason = pending(&plan, "apps/req-v4only");
    assert!(
        reason.contains("contrail/ext has no IPv6 subnet"),
        "{reason}"
    );
}

#[test]
fn exhaustion_moves_to_the_next_candidate_and_warns() {
    // Both networks match `any`; ext (/29: 5 addresses) fills up, then wide is used.
    let mut docs = vec![];
    let extra = "---\napiVersion: core.contrail.juniper.net/v1\nkind: VirtualNetwork\nmetadata: {name: wide2, namespace: net-a, labels: {ext: \"yes\"}}\nspec: {v4SubnetReference: {name: wide-v4}}\n".to_string();
    docs.push(extra);
    for i in 0..7 {
        docs.push(svc(&format!("s{i}"), "", ""));
    }
    let plan = plan_of(&docs);
    for i in 0..5 {
        assert_eq!(
            external(&plan, &format!("apps/s{i}")).0.as_deref(),
            Some("contrail/ext")
        );
    }
    assert_eq!(
        external(&plan, "apps/s5"),
        (Some("net-a/wide2".into()), vec!["198.51.100.100".into()])
    );
    assert_eq!(
        external(&plan, "apps/s6"),
        (Some("net-a/wide2".into()), vec!["198.51.100.101".into()])
    );
    let warnings = &service(&plan, "apps/s0")["warnings"];
    let w = warnings[0].as_str().unwrap();
    assert!(
        w.contains("contrail/ext") && w.contains("net-a/wide2"),
        "{w}"
    );
}

#[test]
fn requested_addresses() {
    let plan = plan_of(&[
        svc("ok", "", "  loadBalancerIP: 203.0.113.5\n"),
        svc("taken", "", "  loadBalancerIP: 203.0.113.5\n"),
        svc(
            "outside",
            "service.contrail.juniper.net/externalNetwork: contrail/ext",
            "  loadBalancerIP: 192.0.2.9\n",
        ),
        svc("next", "", ""),
    ]);
    assert_eq!(
        external(&plan, "apps/ok").1,
        vec!["203.0.113.5".to_string()]
    );
    assert!(pending(&plan, "apps/taken").contains("203.0.113.5"));
    assert!(pending(&plan, "apps/outside").contains("192.0.2.9"));
    assert_eq!(
        external(&plan, "apps/next").1,
        vec!["203.0.113.2".to_string()]
    );
}

#[test]
fn no_selection_is_pending() {
    let text = BASE.replace("    default-external:\n", "    unused-default:\n");
    let dir = write_dir(&[("m.yaml", &format!("{text}{}", svc("x", "", "")))]);
    let plan = plan_json(&[dir.path().to_str().unwrap()]);
    assert_eq!(pending(&plan, "apps/x"), "no external network selected");
}

#[test]
fn stickiness_and_release_with_state() {
    let state = tempfile::tempdir().unwrap();
    let st = state.path().to_str().unwrap();
    let run = |docs: &[String]| {
        let dir = write_dir(&[("m.yaml", &format!("{BASE}{}", docs.concat()))]);
        plan_json(&["--state", st, dir.path().to_str().unwrap()])
    };
    let first = run(&[svc("a", "", ""), svc("b", "", "")]);
    assert_eq!(
        external(&first, "apps/a"),
        (Some("contrail/ext".into()), vec!["203.0.113.2".into()])
    );

    // A network that sorts earlier appears: existing services stay, a new one takes it.
    let early = "---\napiVersion: core.contrail.juniper.net/v1\nkind: Subnet\nmetadata: {name: early-v4, namespace: apps}\nspec: {cidr: 192.0.2.0/24}\n---\napiVersion: core.contrail.juniper.net/v1\nkind: VirtualNetwork\nmetadata: {name: early, namespace: apps, labels: {ext: \"yes\"}}\nspec: {v4SubnetReference: {name: early-v4}}\n".to_string();
    let second = run(&[
        early.clone(),
        svc("a", "", ""),
        svc("b", "", ""),
        svc("c", "", ""),
    ]);
    assert_eq!(
        external(&second, "apps/a"),
        (Some("contrail/ext".into()), vec!["203.0.113.2".into()])
    );
    assert_eq!(
        external(&second, "apps/b"),
        (Some("contrail/ext".into()), vec!["203.0.113.3".into()])
    );
    assert_eq!(
        external(&second, "apps/c"),
        (Some("apps/early".into()), vec!["192.0.2.2".into()])
    );

    // Same input again: same bytes.
    let dir = write_dir(&[(
        "m.yaml",
        &format!(
            "{BASE}{early}{}{}{}",
            svc("a", "", ""),
            svc("b", "", ""),
            svc("c", "", "")
        ),
    )]);
    let p = dir.path().to_str().unwrap();
    let x = cn2ctl(&["plan", "-o", "json", "--state", st, p], None);
    let y = cn2ctl(&["plan", "-o", "json", "--state", st, p], None);
    assert_eq!(x.stdout, y.stdout);

    // An annotation change disqualifies the network: a moves, its old address is freed.
    let third = run(&[
        early.clone(),
        svc(
            "a",
            "service.contrail.juniper.net/externalNetwork: net-a/wide",
            "",
        ),
        svc("b", "", ""),
        svc("c", "", ""),
    ]);
    assert_eq!(external(&third, "apps/a").0.as_deref(), Some("net-a/wide"));
    // a's old address 203.0.113.2 in ext is free again: the next service asking for ext gets it.
    let fourth = run(&[
        early.clone(),
        svc("b", "", ""),
        svc("c", "", ""),
        svc(
            "d",
            "service.contrail.juniper.net/externalNetwork: contrail/ext",
            "",
        ),
    ]);
    assert_eq!(
        external(&fourth, "apps/d").1,
        vec!["203.0.113.2".to_string()]
    );
    // a was deleted: its address in wide is released and reusable.
    let fifth = run(&[
        early,
        svc("b", "", ""),
        svc("c", "", ""),
        svc(
            "d",
            "service.contrail.juniper.net/externalNetwork: contrail/ext",
            "",
        ),
        svc(
            "e",
            "service.contrail.juniper.net/externalNetwork: net-a/wide",
            "",
        ),
    ]);
    assert_eq!(
        external(&fifth, "apps/e").1,
        vec!["198.51.100.100".to_string()]
    );
}

#[test]
fn ipv6_slash_64_is_fast() {
    let mut docs = Vec::new();
    for i in 0..2000 {
        docs.push(svc(
            &format!("v6-{i}"),
            "service.contrail.juniper.net/externalNetwork: net-a/wide",
            "  ipFamilies: [IPv6]\n",
        ));
    }
    let plan = plan_of(&docs);
    assert_eq!(
        external(&plan, "apps/v6-1999").1,
        vec!["2001:db8:a::7d1".to_string()]
    );
}
