//! Node route tables (SPEC §5) on `cn2ctl plan -o json`.

mod common;

use common::*;
use serde_json::{Value, json};

fn route<'a>(plan: &'a Value, node: &str, vrf: &str, prefix: &str) -> &'a Value {
    let n = plan["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == node)
        .unwrap();
    &n["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["vrf"] == vrf && r["prefix"] == prefix)
        .unwrap_or_else(|| panic!("no route {vrf} {prefix} on {node}"))["nexthop"]
}

fn without_id(nh: &Value) -> Value {
    let mut v = nh.clone();
    v.as_object_mut().unwrap().remove("id");
    v
}

#[test]
fn book_route_tables_on_both_nodes() {
    let plan = plan_json(&["examples/book"]);
    let names: Vec<&str> = plan["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cent222", "cent333"]);
    assert_eq!(
        without_id(route(
            &plan,
            "cent222",
            "contrail/pod-network",
            "10.96.100.10/32"
        )),
        json!({"type": "composite", "members": [
            {"type": "interface", "interface": "ns-user-1/webserver-1/eth0"},
            {"type": "tunnel", "encap": "MPLSoUDP", "dst": "10.169.25.21"}]})
    );
    assert_eq!(
        without_id(route(
            &plan,
            "cent333",
            "contrail/pod-network",
            "10.96.100.10/32"
        )),
        json!({"type": "composite", "members": [
            {"type": "tunnel", "encap": "MPLSoUDP", "dst": "10.169.25.20"},
            {"type": "interface", "interface": "ns-user-1/webserver-2/eth0"}]})
    );
    // One member: an interface next hop locally, a tunnel remotely.
    assert_eq!(
        without_id(route(
            &plan,
            "cent222",
            "contrail/pod-network",
            "10.96.100.11/32"
        )),
        json!({"type": "interface", "interface": "ns-user-1/webserver-1/eth0"})
    );
    assert_eq!(
        without_id(route(
            &plan,
            "cent333",
            "contrail/pod-network",
            "10.96.100.11/32"
        )),
        json!({"type": "tunnel", "encap": "MPLSoUDP", "dst": "10.169.25.20"})
    );
    // The same composite keeps one id within a node.
    assert_eq!(
        route(&plan, "cent222", "contrail/pod-network", "10.96.100.10/32")["id"],
        route(&plan, "cent222", "contrail/pod-network", "10.96.100.12/32")["id"]
    );
    // The external address is routed in the external network on member nodes.
    assert_eq!(
        route(&plan, "cent333", "contrail/public-vn", "101.101.101.2/32")["type"],
        "composite"
    );
}

#[test]
fn routes_are_sorted_and_stable() {
    let a = cn2ctl(&["plan", "-o", "json", "examples/secondary-lb"], None);
    let plan: Value = serde_json::from_slice(&a.stdout).unwrap();
    for n in plan["nodes"].as_array().unwrap() {
        let keys: Vec<(String, String)> = n["routes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["vrf"].as_str().unwrap().into(),
                    r["prefix"].as_str().unwrap().into(),
                )
            })
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }
    // The secondary network's VRF carries the service route on nodes attached to it.
    let worker0 = plan["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "worker-0")
        .unwrap();
    assert!(
        worker0["routes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["vrf"] == "my-lb/pod-subnet" && r["prefix"] == "10.96.200.1/32")
    );
}

#[test]
fn next_hop_ids_follow_route_order_and_next_hop_identity() {
    let plan = plan_json(&["examples/book"]);
    for n in plan["nodes"].as_array().unwrap() {
        // Ids count from 1 in order of first use; equal next hops share one.
        let mut seen: Vec<Value> = Vec::new();
        for r in n["routes"].as_array().unwrap() {
            let nh = without_id(&r["nexthop"]);
            let expected = match seen.iter().position(|s| *s == nh) {
                Some(i) => i + 1,
                None => {
                    seen.push(nh);
                    seen.len()
                }
            };
            assert_eq!(
                r["nexthop"]["id"], expected,
                "{} {}",
                n["name"], r["prefix"]
            );
        }
    }
}

#[test]
fn the_readme_route_example_is_the_plan_s() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let after = readme
        .split_once("the book scenario's `cent222`:\n\n```json\n")
        .expect("the README shows a route of cent222")
        .1;
    let example: Value = serde_json::from_str(after.split_once("```").unwrap().0).unwrap();
    let plan = plan_json(&["examples/book"]);
    let shown = route(
        &plan,
        "cent222",
        example["vrf"].as_str().unwrap(),
        example["prefix"].as_str().unwrap(),
    );
    assert_eq!(example["nexthop"], *shown);
}
