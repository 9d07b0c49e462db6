//! The tunnel encapsulation of next hops to other nodes: the first of the
//! GlobalVrouterConfig's `encapsulationPriorities` (SPEC §5), on `cn2ctl
//! plan -o json`.

mod common;

use common::*;
use serde_json::Value;

/// The book scenario with a GlobalVrouterConfig whose priorities are `list`.
fn book_with(list: &str) -> String {
    let book = std::fs::read_to_string(root().join("examples/book/services.yaml")).unwrap();
    format!(
        "{book}\n---\napiVersion: core.contrail.juniper.net/v4\nkind: GlobalVrouterConfig\n\
         metadata: {{name: default-global-vrouter-config}}\n\
         spec: {{encapsulationPriorities: {{encapsulation: {list}}}}}\n"
    )
}

/// Every tunnel next hop's encapsulation in the plan, sorted and deduplicated.
fn encaps(plan: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if m.get("type").and_then(Value::as_str) == Some("tunnel") {
                    out.push(m["encap"].as_str().unwrap().to_string());
                }
                m.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&plan["nodes"], &mut out);
    out.sort();
    out.dedup();
    out
}

#[test]
fn without_a_config_tunnels_are_mpls_over_udp() {
    assert_eq!(encaps(&plan_json(&["examples/book"])), ["MPLSoUDP"]);
}

#[test]
fn the_first_priority_is_used() {
    for (list, want) in [
        ("[VXLAN, MPLSoUDP, MPLSoGRE]", "VXLAN"),
        ("[MPLSoGRE, MPLSoUDP]", "MPLSoGRE"),
        ("[MPLSoUDP, VXLAN]", "MPLSoUDP"),
        ("[]", "MPLSoUDP"),
    ] {
        let dir = write_dir(&[("book.yaml", &book_with(list))]);
        let plan = plan_json(&[dir.path().to_str().unwrap()]);
        assert_eq!(encaps(&plan), [want], "{list}");
    }
}

#[test]
fn bad_configs_are_errors_naming_the_field() {
    for (manifests, words) in [
        (
            book_with("[MPLSoUDP, GRE]"),
            "spec.encapsulationPriorities.encapsulation[1]",
        ),
        (book_with("[VXLAN, MPLSoGRE, VXLAN]"), "VXLAN listed twice"),
        (
            format!(
                "{}---\napiVersion: core.contrail.juniper.net/v4\nkind: GlobalVrouterConfig\n\
                 metadata: {{name: second}}\nspec: {{}}\n",
                book_with("[VXLAN]")
            ),
            "a second GlobalVrouterConfig",
        ),
    ] {
        let dir = write_dir(&[("book.yaml", &manifests)]);
        let out = cn2ctl(&["plan", dir.path().to_str().unwrap()], None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && out.stdout.is_empty(), "{words}");
        assert!(
            stderr.contains("book.yaml") && stderr.contains(words),
            "{words}: {stderr}"
        );
    }
}
