//! The verbs over the fake kernel and IPAM.

use std::collections::HashMap;

use cn2_core::cni::{CniError, Command, Environment, NetConf, Plugin, Request, Route, run};
use serde_json::Value;

use crate::fake::{FakeIpam, FakeSystem};
use crate::names::{DELETING_ALIAS, host_veth_name};
use crate::plugin::{CODE_CHECK_FAILED, CODE_IFNAME_EXISTS, Cn2Plugin};

const NETNS: &str = "/run/netns/pod1";

fn request(cmd: &str, ifname: &str, conf: &str) -> Request {
    let mut m = HashMap::new();
    for (k, v) in [
        ("CNI_COMMAND", cmd),
        ("CNI_CONTAINERID", "ctr1"),
        ("CNI_NETNS", NETNS),
        ("CNI_IFNAME", ifname),
        ("CNI_PATH", "/opt/cni/bin"),
        (
            "CNI_ARGS",
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=p;K8S_POD_INFRA_CONTAINER_ID=ctr1;K8S_POD_UID=u",
        ),
    ] {
        m.insert(k.to_string(), v.to_string());
    }
    Request {
        env: Environment::from_vars(&move |k| m.get(k).cloned()).unwrap(),
        config: NetConf::parse(conf.as_bytes()).unwrap(),
    }
}

const CONF: &str =
    r#"{"cniVersion":"1.0.0","name":"pods","type":"cn2","mtu":1450,"ipam":{"type":"fake"}}"#;

struct Setup {
    sys: FakeSystem,
    ipam: FakeIpam,
    pod: i32,
    plugin: Cn2Plugin<FakeSystem, FakeIpam>,
}

fn setup() -> Setup {
    let sys = FakeSystem::new();
    let pod = sys.add_netns(NETNS);
    let ipam = FakeIpam::default();
    Setup {
        plugin: Cn2Plugin::new(sys.clone(), ipam.clone()),
        sys,
        ipam,
        pod,
    }
}

fn with_prev(result: &cn2_core::cni::CniResult) -> String {
    let mut v: Value = serde_json::from_str(CONF).unwrap();
    v["prevResult"] = result.to_json("1.0.0").unwrap();
    v.to_string()
}

#[test]
fn add_wires_both_ends() {
    let mut s = setup();
    let r = s.plugin.add(&request("ADD", "eth0", CONF)).unwrap();
    let host_name = host_veth_name("ctr1", "eth0");
    let host = s.sys.ns(0);
    let pod = s.sys.ns(s.pod);

    let hl = &host.links[0].link;
    assert_eq!(hl.name, host_name);
    assert!(hl.up);
    assert_eq!(hl.mtu, 1450);
    let pl = &pod.links[0].link;
    assert_eq!(pl.name, "eth0");
    assert!(pl.up);
    assert_eq!(pl.mac[0] & 3, 2, "derived MAC is locally administered");

    // Addresses without prefix routes; IPv6 without DAD.
    let addrs: Vec<String> = pod.addrs.iter().map(|a| a.1.to_string()).collect();
    assert_eq!(addrs, ["10.1.0.2/24", "fd00:1::2/64"]);
    assert!(pod.addrs.iter().all(|a| a.2.noprefixroute));
    assert!(pod.addrs[1].2.nodad && !pod.addrs[0].2.nodad);
    assert_eq!(pod.sysctls["net/ipv6/conf/eth0/accept_dad"], "0");

    // Pod routes: subnets and defaults through the gateways, on-link.
    let routes: Vec<String> = pod
        .routes
        .iter()
        .map(|r| format!("{} {:?} {}", r.dst, r.gw.map(|g| g.to_string()), r.onlink))
        .collect();
    assert_eq!(
        routes,
        [
            r#"10.1.0.0/24 Some("10.1.0.1") true"#,
            r#"fd00:1::/64 Some("fd00:1::1") true"#,
            r#"0.0.0.0/0 Some("10.1.0.1") true"#,
            r#"::/0 Some("fd00:1::1") true"#,
        ]
    );

    // Host: host routes to the pod, proxy ARP/NDP, forwarding.
    let host_routes: Vec<String> = host.routes.iter().map(|r| r.dst.to_string()).collect();
    assert_eq!(host_routes, ["10.1.0.2/32", "fd00:1::2/128"]);
    assert!(
        host.routes
            .iter()
            .all(|r| r.oif == hl.index && r.gw.is_none())
    );
    assert_eq!(host.proxies, [(hl.index, "fd00:1::1".parse().unwrap())]);
    assert_eq!(
        host.sysctls[&format!("net/ipv4/conf/{host_name}/proxy_arp")],
        "1"
    );
    assert_eq!(
        host.sysctls[&format!("net/ipv6/conf/{host_name}/proxy_ndp")],
        "1"
    );
    for key in [
        format!("net/ipv4/neigh/{host_name}/proxy_delay"),
        format!("net/ipv6/neigh/{host_name}/proxy_delay"),
        format!("net/ipv6/conf/{host_name}/accept_dad"),
    ] {
        assert_eq!(host.sysctls[&key], "0", "{key}");
    }
    assert_eq!(host.sysctls["net/ipv4/ip_forward"], "1");
    assert_eq!(host.sysctls["net/ipv6/conf/all/forwarding"], "1");

    // The result, as Multus reads it.
    let j = r.to_json("1.0.0").unwrap();
    assert_eq!(j["interfaces"][0]["name"], host_name.as_str());
    assert!(j["interfaces"][0].get("sandbox").is_none());
    assert_eq!(j["interfaces"][1]["name"], "eth0");
    assert_eq!(j["interfaces"][1]["sandbox"], NETNS);
    assert_eq!(
        j["interfaces"][1]["mac"],
        crate::names::format_mac(&pl.mac).as_str()
    );
    assert_eq!(j["ips"][0]["interface"], 1);
    assert_eq!(j["ips"][1]["interface"], 1);
    assert_eq!(j["ips"][0]["gateway"], "10.1.0.1");
    assert_eq!(j["routes"].as_array().unwrap().len(), 4);
}

#[test]
fn secondary_interface_gets_no_default_route() {
    let mut s = setup();
    s.plugin.ipam.routes = vec![
        Route::new("0.0.0.0/0".parse().unwrap(), None),
        Route::new("192.168.7.0/24".parse().unwrap(), None),
    ];
    let r = s.plugin.add(&request("ADD", "net1", CONF)).unwrap();
    let pod = s.sys.ns(s.pod);
    assert!(pod.routes.iter().all(|r| r.dst.prefix != 0));
    let extra = pod
        .routes
        .iter()
        .find(|r| r.dst.to_string() == "192.168.7.0/24")
        .expect("IPAM route installed");
    assert_eq!(extra.gw, Some("10.1.0.1".parse().unwrap()));
    assert!(r.routes.iter().all(|r| r.dst.prefix != 0));
    // Asked for explicitly, a secondary network carries the default route.
    let conf = CONF.replace(r#""mtu":1450"#, r#""defaultRoute":true"#);
    let mut s = setup();
    s.plugin.add(&request("ADD", "net1", &conf)).unwrap();
    assert!(s.sys.ns(s.pod).routes.iter().any(|r| r.dst.prefix == 0));
}

#[test]
fn runtime_config_mac_is_used() {
    let mut s = setup();
    let conf = CONF.replace(
        r#""mtu":1450"#,
        r#""capabilities":{"mac":true},"runtimeConfig":{"mac":"0a:58:0a:01:00:09"}"#,
    );
    let r = s.plugin.add(&request("ADD", "eth0", &conf)).unwrap();
    assert_eq!(
        s.sys.ns(s.pod).links[0].link.mac,
        [0x0a, 0x58, 0x0a, 1, 0, 9]
    );
    assert_eq!(r.interfaces[1].mac.as_deref(), Some("0a:58:0a:01:00:09"));
}

fn assert_clean(s: &Setup) {
    let host = s.sys.ns(0);
    let pod = s.sys.ns(s.pod);
    assert!(host.links.is_empty(), "host links left: {:?}", host.links);
    assert!(pod.links.is_empty(), "pod links left: {:?}", pod.links);
    assert!(host.routes.is_empty() && pod.routes.is_empty());
    assert!(host.proxies.is_empty() && pod.addrs.is_empty());
    assert!(s.ipam.held.borrow().is_empty(), "reservation left");
}

#[test]
fn add_failing_part_way_undoes_everything() {
    for op in [
        "create_veth",
        "set_sysctl:pod",
        "add_addr",
        "add_route:pod",
        "set_sysctl:host",
        "add_route:host",
        "add_proxy_neigh",
    ] {
        let mut s = setup();
        s.sys.fail(op);
        let e = s.plugin.add(&request("ADD", "eth0", CONF)).unwrap_err();
        assert_eq!(e.code(), 101, "{op}: {e:?}");
        assert!(
            e.msg().contains(op.split(':').next().unwrap()),
            "{op}: {e:?}"
        );
        assert_clean(&s);
        assert_eq!(*s.ipam.calls.borrow(), [Command::Add, Command::Del], "{op}");
    }
}

#[test]
fn ipam_failure_is_passed_on_and_leaves_nothing() {
    let mut s = setup();
    s.plugin.ipam.fail_add = Some(CniError::try_again("store busy", "retry"));
    let e = s.plugin.add(&request("ADD", "eth0", CONF)).unwrap_err();
    assert_eq!(
        (e.code(), e.msg(), e.details()),
        (11, "store busy", "retry")
    );
    assert_clean(&s);
}

/// The reservation must be durable before ADD answers: a failure to make
/// it so fails the ADD, which then undoes everything like any other.
#[test]
fn add_waits_for_a_durable_reservation() {
    let mut s = setup();
    s.plugin.add(&request("ADD", "eth0", CONF)).unwrap();
    assert_eq!(*s.ipam.settles.borrow(), 1);

    let mut s = setup();
    s.plugin.ipam.fail_settle = Some(CniError::io("fdatasync: disk gone", ""));
    let e = s.plugin.add(&request("ADD", "eth0", CONF)).unwrap_err();
    assert_eq!((e.code(), e.msg()), (5, "fdatasync: disk gone"));
    assert_clean(&s);
    assert_eq!(*s.ipam.calls.borrow(), [Command::Add, Command::Del]);
}

#[test]
fn existing_ifname_and_missing_netns_fail_before_ipam() {
    let mut s = setup();
    s.plugin.add(&request("ADD", "eth0", CONF)).unwrap();
    let held = s.ipam.held.borrow().clone();
    let e = s.plugin.add(&request("ADD", "eth0", CONF)).unwrap_err();
    assert_eq!(e.code(), CODE_IFNAME_EXISTS);
    // The first attachment is untouched, its reservation kept.
    assert_eq!(*s.ipam.held.borrow(), held);
    assert_eq!(s.sys.ns(s.pod).links.len(), 1);
    assert_eq!(s.ipam.calls.borrow().len(), 1);

    let mut s = setup();
    s.sys.remove_netns(NETNS);
    let e = s.plugin.add(&request("ADD", "eth0", CONF)).unwrap_err();
    assert_eq!(e.code(), 3);
    assert!(s.ipam.calls.borrow().is_empty());
    assert!(s.sys.ns(0).links.is_empty());
}

#[test]
fn leftover_host_end_is_replaced() {
    let mut s = setup();
    s.plugin.add(&request("ADD", "eth0", CONF)).unwrap();
    // The pod end vanishes (say, the runtime recreated the namespace) but
    // the host end stays: the retried ADD replaces it.
    s.sys.0.borrow_mut().ns.get_mut(&s.pod).unwrap().links[0].peer = None;
    let pod_index = s.sys.ns(s.pod).links[0].link.index;
    {
        let mut w = s.sys.0.borrow_mut();
        let pod = w.ns.get_mut(&s.pod).unwrap();
        pod.links.retain(|l| l.link.index != pod_index);
        pod.addrs.clear();
        pod.routes.clear();
    }
    s.plugin.add(&request("ADD", "eth0", CONF)).unwrap();
    assert_eq!(s.sys.ns(0).links.len(), 1);
    assert_eq!(s.sys.ns(s.pod).links.len(), 1);
}

#[test]
fn del_is_idempotent_and_always_releases() {
    let mut s = setup();
    s.plugin.add(&request("ADD", "eth0", CONF)).unwrap();
    s.plugin.del(&request("DEL", "eth0", CONF)).unwrap();
    s.sys.settle();
    assert_clean(&s);
    s.plugin.del(&request("DEL", "eth0", CONF)).unwrap();

    // The namespace is gone before DEL: the host end went with it, and the
    // reservation is still released.
    let mut s = setup();
    s.plugin.add(&request("ADD", "eth0", CONF)).unwrap();
    s.sys.remove_netns(NETNS);
    assert!(s.sys.ns(0).links.is_empty());
    assert!(!s.ipam.held.borrow().is_empty());
    s.plugin.del(&request("DEL", "eth0", CONF)).unwrap();
    assert!(s.ipam.held.borrow().is_empty());

    // A failing kernel does not keep the reservation.
    let mut s = setup();
    s.plugin.add(&request("ADD", "eth0", CONF)).unwrap();
    s.sys.fail("del_route");
    let e = s.plugin.del(&request("DEL", "eth0", CONF)).unwrap_err();
    assert_eq!(e.code(), 101);
    assert!(s.ipam.held.borrow().is_empty());

    // Without a detached process, DEL deletes the link itself.
    let mut s = setup();
    s.plugin.add(&request("ADD", "eth0", CONF)).unwrap();
    s.sys.fail("delete_link_detached");
    s.plugin.del(&request("DEL", "eth0", CONF)).unwrap();
    assert!(s.sys.0.borrow().detached.is_empty());
    assert_clean(&s);
}

#[test]
fn del_answers_before_the_link_is_gone_and_add_finishes_it() {
    let mut s = setup();
    s.plugin.add(&request("ADD", "eth0", CONF)).unwrap();
    s.plugin.del(&request("DEL", "eth0", CONF)).unwrap();
    // Answered: nothing routes to the released addresses any more, the
    // reservation is gone, the pair is marked and its deletion under way.
    let host = s.sys.ns(0);
    assert!(host.routes.is_empty(), "{:?}", host.routes);
    assert!(s.ipam.held.borrow().is_empty());
    assert_eq!(host.links.len(), 1);
    assert_eq!(host.links[0].link.alias.as_deref(), Some(DELETING_ALIAS));
    assert_eq!(s.sys.0.borrow().detached, vec![host.links[0].link.index]);

    // The same attachment is added again before the deletion ends: ADD
    // deletes the old pair itself instead of refusing the taken name.
    s.plugin.add(&request("ADD", "eth0", CONF)).unwrap();
    let host = s.sys.ns(0);
    assert_eq!(host.links.len(), 1);
    assert_ne!(host.links[0].link.alias.as_deref(), Some(DELETING_ALIAS));
    assert_eq!(s.sys.ns(s.pod).links.len(), 1);
    // The late deletion does not touch the new pair (another index).
    s.sys.settle();
    assert_eq!(s.sys.ns(0).links.len(), 1);
    assert_eq!(s.sys.ns(s.pod).links.len(), 1);
}

#[test]
fn check_compares_with_prev_result() {
    let mut s = setup();
    let r = s.plugin.add(&request("ADD", "eth0", CONF)).unwrap();
    let conf = with_prev(&r);
    s.plugin.check(&request("CHECK", "eth0", &conf)).unwrap();

    // Without prevResult.
    let e = s.plugin.check(&request("CHECK", "eth0", CONF)).unwrap_err();
    assert_eq!(e.code(), CODE_CHECK_FAILED);

    // A MAC that differs.
    let mut other = r.clone();
    other.interfaces[1].mac = Some("0a:00:00:00:00:01".into());
    let e = s
        .plugin
        .check(&request("CHECK", "eth0", &with_prev(&other)))
        .unwrap_err();
    assert!(e.msg().contains("MAC"), "{e:?}");

    // An address removed behind the plugin's back.
    s.sys
        .0
        .borrow_mut()
        .ns
        .get_mut(&s.pod)
        .unwrap()
        .addrs
        .retain(|a| !a.1.addr.is_ipv6());
    let e = s
        .plugin
        .check(&request("CHECK", "eth0", &conf))
        .unwrap_err();
    assert_eq!(e.code(), CODE_CHECK_FAILED);
    assert!(e.msg().contains("fd00:1::2/64"), "{e:?}");

    // A route removed.
    let mut s = setup();
    let r = s.plugin.add(&request("ADD", "eth0", CONF)).unwrap();
    s.sys
        .0
        .borrow_mut()
        .ns
        .get_mut(&s.pod)
        .unwrap()
        .routes
        .retain(|r| r.dst.prefix != 0);
    let e = s
        .plugin
        .check(&request("CHECK", "eth0", &with_prev(&r)))
        .unwrap_err();
    assert!(e.msg().contains("route to 0.0.0.0/0"), "{e:?}");

    // The pod gone.
    s.sys.remove_netns(NETNS);
    let e = s
        .plugin
        .check(&request("CHECK", "eth0", &with_prev(&r)))
        .unwrap_err();
    assert_eq!(e.code(), 3);
}

#[test]
fn gc_and_status_go_to_ipam() {
    let mut s = setup();
    let conf = CONF.replace("1.0.0", "1.1.0");
    s.plugin.gc(&request("GC", "eth0", &conf)).unwrap();
    s.plugin.status(&request("STATUS", "eth0", &conf)).unwrap();
    assert_eq!(*s.ipam.calls.borrow(), [Command::Gc, Command::Status]);
}

#[test]
fn gc_removes_host_ends_of_stale_attachments_of_this_network() {
    let mut s = setup();
    let other_net = CONF.replace(r#""name":"pods""#, r#""name":"other""#);
    s.plugin.add(&request("ADD", "eth0", CONF)).unwrap();
    s.plugin.add(&request("ADD", "net1", CONF)).unwrap();
    s.plugin.add(&request("ADD", "net2", &other_net)).unwrap();
    // The same network twice in one pod: each interface has its own subnet
    // route, the later one with a metric of its own.
    let subnet: Vec<Option<u32>> = s
        .sys
        .ns(s.pod)
        .routes
        .iter()
        .filter(|r| r.dst.to_string() == "10.1.0.0/24")
        .map(|r| r.priority)
        .collect();
    assert_eq!(subnet.len(), 3, "{subnet:?}");
    assert_eq!(subnet[0], None);
    assert!(subnet[1].is_some() && subnet[1] != subnet[2]);
    // An unrelated host link is never touched.
    s.sys
        .0
        .borrow_mut()
        .ns
        .get_mut(&0)
        .unwrap()
        .links
        .push(crate::fake::FakeLink {
            link: crate::netlink::Link {
                index: 999,
                name: "uplink".into(),
                mac: vec![0; 6],
                mtu: 1500,
                up: true,
                kind: None,
                alias: Some("cn2 pods ctr9".into()),
            },
            peer: None,
        });
    let names = |s: &Setup| -> Vec<String> {
        s.sys
            .ns(0)
            .links
            .iter()
            .map(|l| l.link.name.clone())
            .collect()
    };
    // No attachment list: nothing is deleted.
    let gc = CONF.replace("1.0.0", "1.1.0");
    s.plugin.gc(&request("GC", "eth0", &gc)).unwrap();
    assert_eq!(names(&s).len(), 4);
    // eth0 stays valid; net1 of "pods" goes; "other" is another network's.
    let mut v: Value = serde_json::from_str(&gc).unwrap();
    v["cni.dev/valid-attachments"] = serde_json::json!([{"containerID": "ctr1", "ifname": "eth0"}]);
    s.plugin.gc(&request("GC", "eth0", &v.to_string())).unwrap();
    assert_eq!(
        names(&s),
        [
            host_veth_name("ctr1", "eth0"),
            host_veth_name("ctr1", "net2"),
            "uplink".to_string()
        ]
    );
    assert!(s.sys.ns(s.pod).links.iter().all(|l| l.link.name != "net1"));
}

#[test]
fn unknown_cni_args_need_ignore_unknown() {
    let mut s = setup();
    let mut req = request("ADD", "eth0", CONF);
    req.env.args = cn2_core::cni::CniArgs::parse("K8S_POD_NAME=p;FOO=bar").unwrap();
    assert_eq!(s.plugin.add(&req).unwrap_err().code(), 4);
    req.env.args = cn2_core::cni::CniArgs::parse("K8S_POD_NAME=p;K8S_POD_UID=u").unwrap();
    s.plugin.add(&req).unwrap();
}

#[test]
fn every_version_through_the_runner() {
    for v in cn2_core::cni::SUPPORTED_VERSIONS {
        let mut s = setup();
        let conf = CONF.replace("1.0.0", v);
        let mut m = HashMap::new();
        for (k, val) in [
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "ctr1"),
            ("CNI_NETNS", NETNS),
            ("CNI_IFNAME", "eth0"),
            ("CNI_PATH", "/opt/cni/bin"),
        ] {
            m.insert(k.to_string(), val.to_string());
        }
        let o = run(&mut s.plugin, &move |k| m.get(k).cloned(), conf.as_bytes());
        assert_eq!(o.exit_code, 0, "{v}");
        let j: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(j["cniVersion"], v);
        assert_eq!(j["ips"][0]["interface"], 1);
        assert_eq!(j["interfaces"][1]["sandbox"], NETNS);
    }
}

#[test]
fn ipv4_only_networks_touch_no_ipv6_settings() {
    let mut s = setup();
    s.plugin.ipam.v4_only = true;
    s.plugin.add(&request("ADD", "eth0", CONF)).unwrap();
    let host = s.sys.ns(0);
    assert!(host.sysctls.keys().all(|k| !k.contains("ipv6")));
    assert!(s.sys.ns(s.pod).sysctls.is_empty());
    assert!(host.proxies.is_empty());
}
