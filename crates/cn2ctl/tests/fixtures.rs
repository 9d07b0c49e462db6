//! The scenarios of `examples/` with the expected results written in their
//! header comments, checked on `cn2ctl plan -o json`.

mod common;

use common::*;

/// Reads the `# ns/name externalNetwork X externalIPs [a, b]` lines of a
/// fixture's header, so the test checks exactly what the file promises.
fn header_expectations(path: &str) -> Vec<(String, String, Vec<String>)> {
    let text = std::fs::read_to_string(root().join(path)).unwrap();
    let mut out = Vec::new();
    for line in text.lines().take_while(|l| l.starts_with('#')) {
        let words: Vec<&str> = line.trim_start_matches('#').split_whitespace().collect();
        if words.len() >= 5 && words[1] == "externalNetwork" && words[3] == "externalIPs" {
            let ips = line[line.find('[').unwrap() + 1..line.find(']').unwrap()]
                .split(',')
                .map(|s| s.trim().to_string())
                .collect();
            out.push((words[0].to_string(), words[2].to_string(), ips));
        }
    }
    out
}

#[test]
fn seed_examples_match_their_header() {
    let plan = plan_json(&["examples/seed-examples"]);
    let expected = header_expectations("examples/seed-examples/seed-examples.yaml");
    assert_eq!(expected.len(), 6, "the header lists six resolved services");
    for (id, net, ips) in expected {
        assert_eq!(external(&plan, &id), (Some(net), ips), "{id}");
        assert!(service(&plan, &id)["pending"].is_null(), "{id}");
    }
    let seven = service(&plan, "app-ns/example-7");
    let reason = seven["pending"].as_str().unwrap();
    assert!(reason.contains("custom-namespace/no-such-vn"), "{reason}");
    assert_eq!(external(&plan, "app-ns/example-7"), (None, vec![]));
    // Given ClusterIPs are kept as they are.
    assert_eq!(
        service(&plan, "app-ns/example-1")["clusterIPs"],
        serde_json::json!(["10.96.0.11"])
    );
}

#[test]
fn book_load_balancer_gets_the_public_network() {
    let plan = plan_json(&["examples/book"]);
    assert_eq!(
        external(&plan, "ns-user-1/service-web-lb"),
        (
            Some("contrail/public-vn".into()),
            vec!["101.101.101.2".into()]
        )
    );
    assert_eq!(
        service(&plan, "ns-user-1/service-web-lb")["clusterIPs"],
        serde_json::json!(["10.96.100.12"])
    );
    for id in [
        "ns-user-1/service-web-clusterip",
        "ns-user-1/service-web-clusterip-mp",
    ] {
        let s = service(&plan, id);
        assert_eq!(s["type"], "ClusterIP");
        assert_eq!(external(&plan, id), (None, vec![]));
        assert!(s["pending"].is_null());
    }
}

#[test]
fn secondary_lb_and_dual_stack() {
    let plan = plan_json(&["examples/secondary-lb"]);
    assert_eq!(
        external(&plan, "my-lb/service-lb"),
        (Some("my-lb/lb-subnet".into()), vec!["192.168.102.2".into()])
    );
    assert_eq!(
        external(&plan, "my-lb/service-ds"),
        (
            Some("my-lb/lb-dual".into()),
            vec!["192.168.103.2".into(), "fd00:103::2".into()]
        )
    );
    assert_eq!(
        service(&plan, "my-lb/service-ds")["clusterIPs"],
        serde_json::json!(["10.96.200.2", "fd00:96::2"])
    );
    let v4only = service(&plan, "my-lb/service-ds-v4only");
    let reason = v4only["pending"].as_str().unwrap();
    assert!(
        reason.contains("my-lb/lb-subnet") && reason.contains("IPv6"),
        "{reason}"
    );
    assert!(v4only["externalIPs"].as_array().unwrap().is_empty());
}

#[test]
fn same_input_gives_the_same_bytes() {
    let a = cn2ctl(&["plan", "-o", "json", "examples/seed-examples"], None);
    let b = cn2ctl(&["plan", "-o", "json", "examples/seed-examples"], None);
    assert!(a.status.success());
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn table_and_yaml_outputs() {
    let out = cn2ctl(&["plan", "examples/seed-examples"], None);
    let table = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("SERVICE") && lines[0].contains("EXTERNAL-IPS"));
    let col = lines[0].find("EXTERNAL-NETWORK").unwrap();
    let row = lines
        .iter()
        .find(|l| l.starts_with("app-ns/example-1 "))
        .unwrap();
    assert!(
        row[col..].starts_with("contrail/default-external-vn"),
        "aligned columns: {row}"
    );
    assert!(table.contains("pending: external network custom-namespace/no-such-vn"));
    let out = cn2ctl(&["plan", "-o", "yaml", "examples/seed-examples"], None);
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(
        yaml.contains("externalNetwork: contrail/default-external-vn"),
        "{yaml}"
    );
}

#[test]
fn stdin_is_read_with_a_dash() {
    let text = std::fs::read_to_string(root().join("examples/book/services.yaml")).unwrap();
    let out = cn2ctl(&["plan", "-o", "json", "-"], Some(&text));
    assert!(out.status.success());
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        external(&plan, "ns-user-1/service-web-lb").1,
        vec!["101.101.101.2".to_string()]
    );
}
