//! Load-balancer objects (SPEC §4) on `cn2ctl plan -o json`.

mod common;

use common::*;
use serde_json::{Value, json};

fn members(svc: &Value, listener: usize) -> Vec<(String, u64, Option<String>)> {
    svc["loadBalancer"]["listeners"][listener]["pool"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let iface = m["pod"]
                .as_str()
                .map(|p| format!("{p}/{}", m["interface"].as_str().unwrap()));
            (
                m["address"].as_str().unwrap().to_string(),
                m["port"].as_u64().unwrap(),
                iface,
            )
        })
        .collect()
}

#[test]
fn book_objects_match_the_header() {
    let plan = plan_json(&["examples/book"]);
    let ci = service(&plan, "ns-user-1/service-web-clusterip");
    let lb = &ci["loadBalancer"];
    assert_eq!(
        (lb["name"].as_str(), lb["provider"].as_str()),
        (Some("ns-user-1-service-web-clusterip"), Some("native"))
    );
    assert_eq!(lb["vips"], json!(["10.96.100.10"]));
    assert_eq!(lb["listeners"].as_array().unwrap().len(), 1);
    assert_eq!(
        lb["listeners"][0]["name"],
        "ns-user-1-service-web-clusterip-tcp-8888"
    );
    // Members in endpoint order: the order the composite's slots fill.
    let m = members(ci, 0);
    assert_eq!(
        m,
        [
            (
                "10.47.255.238".to_string(),
                80,
                Some("ns-user-1/webserver-1/eth0".to_string())
            ),
            (
                "10.47.255.237".to_string(),
                80,
                Some("ns-user-1/webserver-2/eth0".to_string())
            ),
        ]
    );
    let nodes: Vec<&str> = lb["listeners"][0]["pool"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["node"].as_str().unwrap())
        .collect();
    assert_eq!(nodes, ["cent222", "cent333"]);
    let fips = ci["floatingIPs"].as_array().unwrap();
    assert_eq!(fips.len(), 1);
    assert_eq!(fips[0]["address"], "10.96.100.10");
    assert_eq!(fips[0]["direction"], "ingress");
    assert_eq!(fips[0]["portMappingsEnable"], true);
    assert_eq!(
        fips[0]["portMappings"],
        json!([{"protocol": 6, "srcPort": 8888, "dstPort": 80}])
    );
    assert_eq!(
        fips[0]["interfaces"],
        json!(["ns-user-1/webserver-1/eth0", "ns-user-1/webserver-2/eth0"])
    );
    assert_eq!(fips[0]["parent"], ci["instanceIPs"][0]["name"]);

    let mp = service(&plan, "ns-user-1/service-web-clusterip-mp");
    let names: Vec<&str> = mp["loadBalancer"]["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["portName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["port1", "port2"]);
    assert_eq!(
        members(mp, 0),
        [(
            "10.47.255.238".to_string(),
            80,
            Some("ns-user-1/webserver-1/eth0".to_string())
        )]
    );
    assert_eq!(
        members(mp, 1),
        [(
            "10.47.255.238".to_string(),
            90,
            Some("ns-user-1/webserver-1/eth0".to_string())
        )]
    );
    assert_eq!(
        mp["floatingIPs"][0]["portMappings"],
        json!([{"protocol": 6, "srcPort": 8888, "dstPort": 80}, {"protocol": 6, "srcPort": 9999, "dstPort": 90}])
    );

    let lbsvc = service(&plan, "ns-user-1/service-web-lb");
    let iips: Vec<(&str, &str, &str)> = lbsvc["instanceIPs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["address"].as_str().unwrap(),
                i["family"].as_str().unwrap(),
                i["network"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        iips,
        [
            ("10.96.100.12", "v4", "contrail/service-network"),
            ("101.101.101.2", "v4", "contrail/public-vn")
        ]
    );
    let fips = lbsvc["floatingIPs"].as_array().unwrap();
    assert_eq!(
        fips.len(),
        2,
        "one FloatingIP for the ClusterIP, one for the external IP"
    );
    assert_eq!(fips[1]["address"], "101.101.101.2");
    assert_eq!(fips[1]["interfaces"], fips[0]["interfaces"]);
}

#[test]
fn secondary_interfaces_are_members_by_ip() {
    let plan = plan_json(&["examples/secondary-lb"]);
    let s = service(&plan, "my-lb/service-lb");
    assert_eq!(
        members(s, 0),
        [
            (
                "172.16.23.10".to_string(),
                8080,
                Some("my-lb/pod-a/net1".to_string())
            ),
            (
                "172.16.24.10".to_string(),
                8080,
                Some("my-lb/pod-b/net1".to_string())
            ),
        ]
    );
    for fip in s["floatingIPs"].as_array().unwrap() {
        assert_eq!(
            fip["interfaces"],
            json!(["my-lb/pod-a/net1", "my-lb/pod-b/net1"]),
            "net1, not eth0"
        );
    }
    assert_eq!(s["floatingIPs"].as_array().unwrap().len(), 2);
}

const PODS: &str = r#"
apiVersion: v1
kind: Node
metadata: {name: n1}
status: {addresses: [{type: InternalIP, address: 192.0.2.1}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: multi
  namespace: app
  annotations:
    k8s.v1.cni.cncf.io/network-status: '[{"name": "default", "interface": "eth0", "ips": ["10.0.0.5"], "default": true}, {"name": "app/side", "interface": "net1", "ips": ["172.20.0.5"]}]'
spec: {nodeName: n1}
status: {podIPs: [{ip: 10.0.0.5}]}
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: app}
spec: {nodeName: n1}
status: {podIPs: [{ip: 10.0.0.6}]}
"#;

fn plan_with(extra: &str) -> Value {
    let dir = write_dir(&[("m.yaml", &format!("{PODS}{extra}"))]);
    plan_json(&[dir.path().to_str().unwrap()])
}

#[test]
fn protocols_slices_readiness_and_multi_homed_pods() {
    let plan = plan_with(
        r#"---
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: app}
spec:
  clusterIP: 10.96.0.53
  ports:
    - {name: dns-udp, protocol: UDP, port: 53, targetPort: 5353}
    - {name: dns-tcp, protocol: TCP, port: 53, targetPort: 5353}
    - {name: sig, protocol: SCTP, port: 3868}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: dns-a, namespace: app, labels: {kubernetes.io/service-name: dns}}
addressType: IPv4
endpoints:
  - addresses: [172.20.0.5]
  - addresses: [10.0.0.6]
    conditions: {ready: false}
ports: [{name: dns-udp, port: 5353, protocol: UDP}, {name: dns-tcp, port: 5353, protocol: TCP}, {name: sig, port: 3868, protocol: SCTP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: dns-b, namespace: app, labels: {kubernetes.io/service-name: dns}}
addressType: IPv4
endpoints:
  - addresses: [198.51.100.9]
ports: [{name: dns-udp, port: 5353, protocol: UDP}]
"#,
    );
    let s = service(&plan, "app/dns");
    let listeners: Vec<&str> = s["loadBalancer"]["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        listeners,
        ["app-dns-udp-53", "app-dns-tcp-53", "app-dns-sctp-3868"]
    );
    // UDP: the secondary interface of the multi-homed pod and an external backend.
    assert_eq!(
        members(s, 0),
        [
            (
                "172.20.0.5".to_string(),
                5353,
                Some("app/multi/net1".to_string())
            ),
            ("198.51.100.9".to_string(), 5353, None),
        ]
    );
    // TCP and SCTP: only the first slice serves them; the not-ready endpoint never counts.
    assert_eq!(
        members(s, 1),
        [(
            "172.20.0.5".to_string(),
            5353,
            Some("app/multi/net1".to_string())
        )]
    );
    assert_eq!(
        members(s, 2),
        [(
            "172.20.0.5".to_string(),
            3868,
            Some("app/multi/net1".to_string())
        )]
    );
    assert_eq!(
        s["floatingIPs"][0]["portMappings"],
        json!([{"protocol": 17, "srcPort": 53, "dstPort": 5353}, {"protocol": 6, "srcPort": 53, "dstPort": 5353}, {"protocol": 132, "srcPort": 3868, "dstPort": 3868}])
    );
    // Only net1 of the multi-homed pod: its eth0 address is not an endpoint.
    assert_eq!(s["floatingIPs"][0]["interfaces"], json!(["app/multi/net1"]));
}

#[test]
fn unnamed_port_of_a_multi_port_service_is_pending_alone() {
    let plan = plan_with(
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: two, namespace: app}\nspec: {clusterIP: 10.96.0.7, ports: [{name: a, port: 80}, {port: 81}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: fine, namespace: app}\nspec: {clusterIP: 10.96.0.8, ports: [{port: 80}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: headless, namespace: app}\nspec: {clusterIP: None, ports: [{port: 80}]}\n",
    );
    let two = service(&plan, "app/two");
    assert!(two["pending"].as_str().unwrap().contains("spec.ports[1]"));
    assert!(two["loadBalancer"].is_null());
    assert!(service(&plan, "app/fine")["loadBalancer"].is_object());
    let headless = service(&plan, "app/headless");
    assert!(
        headless["loadBalancer"].is_null()
            && headless["floatingIPs"].as_array().unwrap().is_empty()
    );
}

fn deployment(replicas: usize) -> String {
    let mut y = String::from(
        "---\napiVersion: configplane.juniper.net/v1\nkind: Kubemanager\nmetadata: {name: km, namespace: contrail}\nspec:\n  serviceV4Subnet: 10.96.0.0/16\n  externalNetworkV4Subnet: 203.0.113.0/24\n  externalNetworkSelectors:\n    default-external: {namespaceSelector: {}, networkSelector: {matchLabels: {service.contrail.juniper.net/externalNetworkSelector: default-external}}}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: app, uid: web-uid}\nspec: {type: LoadBalancer, ports: [{name: http, port: 80, targetPort: 8080}]}\n---\napiVersion: v1\nkind: Endpoints\nmetadata: {name: web, namespace: app}\nsubsets:\n  - ports: [{name: http, port: 8080}]\n    addresses:\n",
    );
    for i in 0..replicas {
        y.push_str(&format!(
            "      - {{ip: 10.1.0.{}, nodeName: n1}}\n",
            i + 10
        ));
    }
    y
}

#[test]
fn scaling_changes_members_only() {
    let state = tempfile::tempdir().unwrap();
    let st = state.path().to_str().unwrap();
    let run = |replicas| {
        let dir = write_dir(&[("m.yaml", &deployment(replicas))]);
        plan_json(&["--state", st, dir.path().to_str().unwrap()])
    };
    let identity = |p: &Value| {
        let s = service(p, "app/web").clone();
        let lb = &s["loadBalancer"];
        let listeners: Vec<Value> = lb["listeners"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].clone())
            .collect();
        (
            lb["name"].clone(),
            lb["vips"].clone(),
            listeners,
            s["instanceIPs"].clone(),
            s["externalIPs"].clone(),
        )
    };
    let three = run(3);
    let five = run(5);
    let two = run(2);
    assert_eq!(members(service(&three, "app/web"), 0).len(), 3);
    assert_eq!(members(service(&five, "app/web"), 0).len(), 5);
    assert_eq!(members(service(&two, "app/web"), 0).len(), 2);
    assert_eq!(identity(&three), identity(&five));
    assert_eq!(identity(&three), identity(&two));
}

#[test]
fn deleting_a_service_releases_its_addresses() {
    let state = tempfile::tempdir().unwrap();
    let st = state.path().to_str().unwrap();
    let dir = write_dir(&[("m.yaml", &deployment(1))]);
    let first = plan_json(&["--state", st, dir.path().to_str().unwrap()]);
    let ext = service(&first, "app/web")["externalIPs"].clone();
    let cip = service(&first, "app/web")["clusterIPs"].clone();
    let other = deployment(1)
        .replace(
            "name: web, namespace: app, uid: web-uid",
            "name: api, namespace: app, uid: api-uid",
        )
        .replace("name: web, namespace: app}", "name: api, namespace: app}");
    let dir = write_dir(&[("m.yaml", &other)]);
    let second = plan_json(&["--state", st, dir.path().to_str().unwrap()]);
    assert_eq!(
        service(&second, "app/api")["externalIPs"],
        ext,
        "the deleted service's address is reused"
    );
    assert_eq!(service(&second, "app/api")["clusterIPs"], cip);
}
