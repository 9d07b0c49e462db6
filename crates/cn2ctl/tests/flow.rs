//! `cn2ctl flow` on the book scenario (SPEC §6).

mod common;

use common::*;
use serde_json::Value;

fn flow(args: &[&str]) -> Value {
    flow_json("examples/book", args)
}

#[test]
fn first_packet_to_a_cluster_ip_creates_the_nat_pair() {
    let v = flow(&[
        "--node",
        "cent222",
        "--proto",
        "tcp",
        "--src",
        "10.47.255.250:40000",
        "--dst",
        "10.96.100.10:8888",
    ]);
    assert_eq!(v["action"], "NAT");
    let member = v["member"]["address"].as_str().unwrap().to_string();
    assert!(["10.47.255.237", "10.47.255.238"].contains(&member.as_str()));
    assert_eq!(v["member"]["port"], 80);
    assert_eq!(v["forward"]["flags"], serde_json::json!(["DNAT", "DPAT"]));
    assert_eq!(v["forward"]["rewrite"]["address"], member.as_str());
    assert_eq!(v["reverse"]["flags"], serde_json::json!(["SNAT", "SPAT"]));
    assert_eq!(v["reverse"]["key"]["src"], member.as_str());
    assert_eq!(v["reverse"]["key"]["srcPort"], 80);
    assert_eq!(v["reverse"]["key"]["dst"], "10.47.255.250");
    assert_eq!(v["reverse"]["rewrite"]["address"], "10.96.100.10");
    assert_eq!(v["reverse"]["rewrite"]["port"], 8888);
    // The same question always gets the same answer.
    assert_eq!(
        v,
        flow(&[
            "--node",
            "cent222",
            "--proto",
            "tcp",
            "--src",
            "10.47.255.250:40000",
            "--dst",
            "10.96.100.10:8888"
        ])
    );
}

#[test]
fn many_connections_use_both_members_and_the_multiport_maps() {
    let mut seen = std::collections::BTreeSet::new();
    for port in 40000..40016 {
        let v = flow(&[
            "--node",
            "cent333",
            "--proto",
            "tcp",
            "--src",
            &format!("10.47.255.250:{port}"),
            "--dst",
            "10.96.100.10:8888",
        ]);
        seen.insert(v["member"]["address"].as_str().unwrap().to_string());
    }
    assert_eq!(seen.len(), 2, "ECMP spreads connections over both members");
    let v = flow(&[
        "--node",
        "cent333",
        "--proto",
        "tcp",
        "--src",
        "10.47.255.250:1",
        "--dst",
        "10.96.100.11:9999",
    ]);
    assert_eq!(
        (
            v["member"]["address"].as_str(),
            v["member"]["port"].as_u64()
        ),
        (Some("10.47.255.238"), Some(90))
    );
}

#[test]
fn unmapped_ports_drop_and_other_traffic_forwards() {
    let v = flow(&[
        "--node",
        "cent222",
        "--proto",
        "tcp",
        "--src",
        "10.47.255.250:40000",
        "--dst",
        "10.96.100.10:22",
    ]);
    assert_eq!(
        (v["action"].as_str(), v["dropReason"].as_str()),
        (Some("DROP"), Some("PORT_MAP_DROP"))
    );
    let v = flow(&[
        "--node",
        "cent222",
        "--proto",
        "udp",
        "--src",
        "10.47.255.250:40000",
        "--dst",
        "10.96.100.10:8888",
    ]);
    assert_eq!(v["dropReason"], "PORT_MAP_DROP", "the mapping is TCP only");
    // A pod's own connection out is never translated.
    let v = flow(&[
        "--node",
        "cent222",
        "--proto",
        "tcp",
        "--src",
        "10.47.255.238:40000",
        "--dst",
        "192.0.2.1:443",
    ]);
    assert_eq!(v["action"], "FORWARD");
    assert_eq!(v["forward"]["flags"], serde_json::json!([]));
    assert!(v["forward"]["rewrite"].is_null());
}

#[test]
fn external_address_in_its_network() {
    let v = flow(&[
        "--node",
        "cent333",
        "--proto",
        "tcp",
        "--src",
        "192.0.2.77:5555",
        "--dst",
        "101.101.101.2:8888",
    ]);
    assert_eq!(v["vrf"], "contrail/public-vn");
    assert_eq!(v["action"], "NAT");
    assert_eq!(v["reverse"]["rewrite"]["address"], "101.101.101.2");
}

#[test]
fn unknown_node_is_an_error() {
    let out = cn2ctl(
        &[
            "flow",
            "examples/book",
            "--node",
            "nope",
            "--proto",
            "tcp",
            "--src",
            "10.0.0.1:1",
            "--dst",
            "10.96.100.10:8888",
        ],
        None,
    );
    assert!(!out.status.success() && out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("node nope"));
}
