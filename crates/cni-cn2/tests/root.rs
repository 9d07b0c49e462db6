//! The real `cn2` binary against the kernel, with `cn2-ipam`: namespaces of
//! the tests' own, pings between pods and from the host, every verb, Multus
//! secondary interfaces, failures that must leave nothing behind, and 100
//! parallel ADDs.
//!
//! Needs root, `ip` (iproute2) and `ping` (iputils-ping); skips with a
//! reason otherwise (a failure under `CN2_REQUIRE_ROOT_TESTS=1`).

mod common;

use common::*;
use serde_json::Value;

const K8S_ARGS: &str = "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=c;K8S_POD_UID=0d1a";

#[test]
fn add_check_del_with_pings() {
    if !can_run("add_check_del_with_pings", &BASE_TOOLS) {
        return;
    }
    let env = Env::new();
    let path = env.cni_path();
    let conf = env.conf("1.0.0", "t-life", "10.201.0.0/24", "fd01:201::/64");
    let mut links = HostLinks::default();
    let (a, b) = (Netns::new(), Netns::new());
    let (ca, cb) = (unique("ca"), unique("cb"));
    let host_a = links.track(&ca, "eth0");
    links.track(&cb, "eth0");

    let ra = cni("ADD", &path, &ca, Some(&a.path()), "eth0", K8S_ARGS, &conf).ok();
    let rb = cni("ADD", &path, &cb, Some(&b.path()), "eth0", K8S_ARGS, &conf).ok();
    assert_eq!(ra["interfaces"][0]["name"], host_a.as_str());
    assert_eq!(ra["interfaces"][1]["sandbox"], a.path().as_str());
    assert_eq!(ra["ips"][0]["interface"], 1);
    let a_addrs = addrs(&ra);
    assert_eq!(a_addrs.len(), 2);
    assert_eq!(a.exec(&["cat", "/sys/class/net/eth0/mtu"]).trim(), "1450");

    // Reachable over IPv4 and IPv6, from the host and from the other pod,
    // with no DAD wait.
    for addr in &a_addrs {
        assert!(ping(None, addr), "host -> {addr}");
        assert!(ping(Some(&b), addr), "pod b -> {addr}");
    }
    for addr in addrs(&rb) {
        assert!(ping(Some(&a), &addr), "pod a -> {addr}");
    }

    // CHECK passes, then fails once the pod's address is gone.
    let checked = with_prev(&conf, &ra);
    cni(
        "CHECK",
        &path,
        &ca,
        Some(&a.path()),
        "eth0",
        K8S_ARGS,
        &checked,
    )
    .ok();
    let v4 = ra["ips"][0]["address"].as_str().unwrap();
    a.exec(&["ip", "addr", "del", v4, "dev", "eth0"]);
    let failed = cni(
        "CHECK",
        &path,
        &ca,
        Some(&a.path()),
        "eth0",
        K8S_ARGS,
        &checked,
    );
    assert_eq!(failed.err_code(), 102, "{:?}", failed);
    assert!(failed.json["msg"].as_str().unwrap().contains(v4));

    // DEL removes both ends and the reservation; DEL again succeeds. When
    // DEL answers, the host no longer routes to the released addresses; the
    // veth itself goes a few milliseconds later.
    cni("DEL", &path, &ca, Some(&a.path()), "eth0", K8S_ARGS, &conf).ok();
    let host_routes = sh(&["ip", "-4", "route"]) + &sh(&["ip", "-6", "route"]);
    for addr in &a_addrs {
        let ip = addr.split('/').next().unwrap();
        assert!(
            !host_routes
                .lines()
                .any(|l| l.starts_with(&format!("{ip} "))),
            "host route to {ip} left after DEL:\n{host_routes}"
        );
    }
    assert!(host_link_gone(&host_a));
    assert!(a.link_gone("eth0"));
    let left = env.reserved("t-life");
    for addr in &a_addrs {
        assert!(!left.contains(addr), "{addr} still reserved: {left:?}");
    }
    assert_eq!(left.len(), 2, "pod b keeps its two addresses: {left:?}");
    cni("DEL", &path, &ca, Some(&a.path()), "eth0", K8S_ARGS, &conf).ok();
    cni("DEL", &path, &cb, Some(&b.path()), "eth0", K8S_ARGS, &conf).ok();
    assert!(env.reserved("t-life").is_empty());
}

#[test]
fn del_after_the_netns_is_gone() {
    if !can_run("del_after_the_netns_is_gone", &BASE_TOOLS) {
        return;
    }
    let pod = OnePod::new("0.4.0", "t-gone", "10.202.0.0/24", "fd01:202::/64");
    let r = pod.cni("ADD").ok();
    assert_eq!(r["ips"][0]["version"], "4", "a 0.4.0 result");
    assert_eq!(pod.env.reserved("t-gone").len(), 2);
    pod.ns.delete();
    pod.cni("DEL").ok();
    pod.call("DEL", None).ok();
    assert!(host_link_gone(&pod.host));
    assert!(pod.env.reserved("t-gone").is_empty());
}

#[test]
fn add_again_right_after_del() {
    if !can_run("add_again_right_after_del", &BASE_TOOLS) {
        return;
    }
    let pod = OnePod::new("1.0.0", "t-again", "10.213.0.0/24", "fd01:213::/64");
    // The second ADD comes while the first pair's deletion may still be
    // under way (the runtime recreating the sandbox's network at once).
    for round in 0..3 {
        let r = pod.cni("ADD").ok();
        for addr in addrs(&r) {
            assert!(ping(None, &addr), "round {round}: host -> {addr}");
        }
        pod.cni("DEL").ok();
    }
    assert!(host_link_gone(&pod.host));
    assert!(pod.ns.link_gone("eth0"));
    assert!(pod.env.reserved("t-again").is_empty());
}

#[test]
fn every_version_add_check_del() {
    if !can_run("every_version_add_check_del", &BASE_TOOLS) {
        return;
    }
    let env = Env::new();
    env.link_ipam_binary("cn2-ipam-exec");
    let path = env.cni_path();
    let _links = HostLinks::default();
    // Each version with cn2-ipam in-process and with its binary executed.
    for (v, ipam) in ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]
        .iter()
        .flat_map(|v| [(*v, "cn2-ipam"), (*v, "cn2-ipam-exec")])
    {
        let conf = env
            .conf(v, "t-ver", "10.203.0.0/24", "fd01:203::/64")
            .replace("\"cn2-ipam\"", &format!("\"{ipam}\""));
        let ns = Netns::new();
        let cid = unique("ver");
        let r = cni("ADD", &path, &cid, Some(&ns.path()), "eth0", "", &conf).ok();
        assert_eq!(r["cniVersion"], v);
        assert_eq!(r["interfaces"][1]["mtu"].is_u64(), v == "1.1.0", "{v}");
        if v != "0.3.0" && v != "0.3.1" {
            let c = with_prev(&conf, &r);
            cni("CHECK", &path, &cid, Some(&ns.path()), "eth0", "", &c).ok();
        }
        cni("DEL", &path, &cid, Some(&ns.path()), "eth0", "", &conf).ok();
    }
    for ipam in ["cn2-ipam", "cn2-ipam-exec"] {
        let conf = env
            .conf("1.1.0", "t-ver", "10.203.0.0/24", "fd01:203::/64")
            .replace("\"cn2-ipam\"", &format!("\"{ipam}\""));
        cni("STATUS", &path, "x", None, "eth0", "", &conf).ok();
        // GC with no valid attachment releases a leaked reservation.
        let ns = Netns::new();
        let cid = unique("leak");
        let leaked = HostLinks(vec![cni_cn2::names::host_veth_name(&cid, "eth0")]);
        cni("ADD", &path, &cid, Some(&ns.path()), "eth0", "", &conf).ok();
        assert_eq!(env.reserved("t-ver").len(), 2, "{ipam}");
        let mut gc: Value = serde_json::from_str(&conf).unwrap();
        gc["cni.dev/valid-attachments"] = serde_json::json!([]);
        cni("GC", &path, "x", None, "eth0", "", &gc.to_string()).ok();
        assert!(env.reserved("t-ver").is_empty(), "{ipam}");
        assert!(!host_has_link(&leaked.0[0]), "GC removes the host end");
        assert!(!ns.has_link("eth0"), "and the pod end with it");
    }
}

#[test]
fn multus_secondary_interfaces() {
    if !can_run("multus_secondary_interfaces", &BASE_TOOLS) {
        return;
    }
    let env = Env::new();
    let path = env.cni_path();
    let nets = [
        (
            "eth0",
            env.conf("0.3.1", "t-m0", "10.204.0.0/24", "fd01:204::/64"),
        ),
        (
            "net1",
            env.conf("0.3.1", "t-m1", "10.205.0.0/24", "fd01:205::/64"),
        ),
        (
            "net2",
            env.conf("0.3.1", "t-m2", "10.206.0.0/24", "fd01:206::/64"),
        ),
    ];
    let mut links = HostLinks::default();
    let (p1, p2) = (Netns::new(), Netns::new());
    let (c1, c2) = (unique("m1"), unique("m2"));
    let mut p1_addrs = Vec::new();
    for (ifname, conf) in &nets {
        links.track(&c1, ifname);
        links.track(&c2, ifname);
        let args1 = format!(
            "IgnoreUnknown=true;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p1;K8S_POD_INFRA_CONTAINER_ID={c1};K8S_POD_UID=u1"
        );
        let r = cni("ADD", &path, &c1, Some(&p1.path()), ifname, &args1, conf).ok();
        // What Multus reads for the network-status annotation.
        assert_eq!(r["interfaces"][1]["name"], *ifname);
        assert_eq!(r["interfaces"][1]["sandbox"], p1.path().as_str());
        assert!(
            r["ips"]
                .as_array()
                .unwrap()
                .iter()
                .all(|ip| ip["interface"] == 1)
        );
        p1_addrs.extend(addrs(&r));
        cni("ADD", &path, &c2, Some(&p2.path()), ifname, K8S_ARGS, conf).ok();
    }
    // One default route per family, through eth0.
    for fam in ["-4", "-6"] {
        let defaults = p1.exec(&["ip", fam, "route", "show", "default"]);
        assert_eq!(defaults.lines().count(), 1, "{defaults}");
        assert!(defaults.contains("dev eth0"), "{defaults}");
    }
    assert_eq!(p1_addrs.len(), 6);
    for addr in &p1_addrs {
        assert!(ping(None, addr), "host -> {addr}");
        assert!(ping(Some(&p2), addr), "pod 2 -> {addr}");
    }
    for (ifname, conf) in &nets {
        cni("DEL", &path, &c1, Some(&p1.path()), ifname, "", conf).ok();
        cni("DEL", &path, &c2, Some(&p2.path()), ifname, "", conf).ok();
        assert!(p1.link_gone(ifname));
    }
    for l in &links.0 {
        assert!(host_link_gone(l), "{l}");
    }
    for n in ["t-m0", "t-m1", "t-m2"] {
        assert!(env.reserved(n).is_empty(), "{n}");
    }
}

/// Asserts that nothing of (cid, ifname) is left: no host end, no pod end,
/// no host route into the pod's range, no reservation.
fn assert_nothing_left(env: &Env, ns: Option<&Netns>, cid: &str, net: &str, prefix: &str) {
    let host = cni_cn2::names::host_veth_name(cid, "eth0");
    assert!(!host_has_link(&host), "host end {host} left");
    if let Some(ns) = ns {
        // The test's own pre-existing eth0 (with its peer eth0p) may stay.
        assert!(!ns.has_link("eth0") || ns.has_link("eth0p"), "pod end left");
        let routes = ns.exec(&["ip", "route"]);
        assert!(!routes.contains(prefix), "pod routes left: {routes}");
    }
    let routes = sh(&["ip", "route"]);
    assert!(!routes.contains(prefix), "host routes left: {routes}");
    assert!(env.reserved(net).is_empty(), "reservation left");
}

#[test]
fn failures_leave_nothing_behind() {
    if !can_run("failures_leave_nothing_behind", &BASE_TOOLS) {
        return;
    }
    let env = Env::new();
    let path = env.cni_path();
    let _links = HostLinks::default();
    let marker = env.dir.path().join("ipam-calls");

    // An IPAM plugin that fails: its error comes back with its code.
    env.script(
        "failing-ipam",
        "#!/bin/sh\necho '{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"no addresses today\"}'\nexit 1\n",
    );
    let conf = env
        .conf("1.0.0", "t-fail", "10.207.0.0/24", "fd01:207::/64")
        .replace("\"cn2-ipam\"", "\"failing-ipam\"");
    let ns = Netns::new();
    let cid = unique("f1");
    let a = cni("ADD", &path, &cid, Some(&ns.path()), "eth0", "", &conf);
    assert_eq!(a.err_code(), 11);
    assert_eq!(a.json["msg"], "no addresses today");
    assert_nothing_left(&env, Some(&ns), &cid, "t-fail", "10.207.");

    // An IPAM plugin whose result cannot be wired (the same address twice):
    // the kernel refuses part-way, after the veth and the first address,
    // and ADD removes what it made and calls IPAM
    // DEL before answering.
    env.script(
        "dup-addr-ipam",
        &format!(
            "#!/bin/sh\necho \"$CNI_COMMAND\" >> {m}\nif [ \"$CNI_COMMAND\" = ADD ]; then echo '{{\"cniVersion\":\"1.0.0\",\"ips\":[{{\"address\":\"10.208.0.5/24\",\"gateway\":\"10.208.0.1\"}},{{\"address\":\"10.208.0.5/24\"}}]}}'; fi\n",
            m = marker.display()
        ),
    );
    let conf = env
        .conf("1.0.0", "t-fail", "10.208.0.0/24", "fd01:208::/64")
        .replace("\"cn2-ipam\"", "\"dup-addr-ipam\"");
    let cid = unique("f2");
    let a = cni("ADD", &path, &cid, Some(&ns.path()), "eth0", "", &conf);
    assert_eq!(a.err_code(), 101, "{a:?}");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ADD\nDEL\n");
    assert_nothing_left(&env, Some(&ns), &cid, "t-fail", "10.208.");

    // The interface name is taken in the pod: nothing reserved, the
    // existing interface untouched.
    let conf = env.conf("1.0.0", "t-fail", "10.209.0.0/24", "fd01:209::/64");
    ns.exec(&[
        "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p",
    ]);
    let cid = unique("f3");
    let a = cni("ADD", &path, &cid, Some(&ns.path()), "eth0", "", &conf);
    assert_eq!(a.err_code(), 100);
    assert!(ns.has_link("eth0"));
    assert_nothing_left(&env, Some(&ns), &cid, "t-fail", "10.209.");

    // The netns path does not exist.
    let cid = unique("f4");
    let a = cni(
        "ADD",
        &path,
        &cid,
        Some("/var/run/netns/cn2t-nonexistent"),
        "eth0",
        "",
        &conf,
    );
    assert_eq!(a.err_code(), 3);
    assert_nothing_left(&env, None, &cid, "t-fail", "10.209.");
}

/// Runs `cmd` for every pod's `eth0`, all at once (a thread per pod).
fn all_at_once(cmd: &str, path: &str, conf: &str, pods: &[(Netns, String)]) -> Vec<Answer> {
    std::thread::scope(|s| {
        let handles: Vec<_> = pods
            .iter()
            .map(|(ns, cid)| {
                s.spawn(move || cni(cmd, path, cid, Some(&ns.path()), "eth0", "", conf))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn hundred_parallel_adds_and_dels() {
    if !can_run("hundred_parallel_adds_and_dels", &BASE_TOOLS) {
        return;
    }
    const N: usize = 100;
    let env = Env::new();
    let path = env.cni_path();
    let conf = env.conf("1.0.0", "t-par", "10.210.0.0/24", "fd01:210::/64");
    let mut links = HostLinks::default();
    let pods: Vec<(Netns, String)> = (0..N)
        .map(|i| (Netns::new(), format!("par{i}-{}", std::process::id())))
        .collect();
    for (_, cid) in &pods {
        links.track(cid, "eth0");
    }
    let results = all_at_once("ADD", &path, &conf, &pods);
    let mut all = Vec::new();
    for r in results {
        all.extend(addrs(&r.ok()));
    }
    let mut distinct = all.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 2 * N, "addresses must be distinct");
    assert_eq!(env.reserved("t-par").len(), 2 * N);
    for d in all_at_once("DEL", &path, &conf, &pods) {
        d.ok();
    }
    for l in &links.0 {
        assert!(host_link_gone(l), "{l} left");
    }
    assert!(env.reserved("t-par").is_empty());
    let routes = sh(&["ip", "route"]);
    assert!(!routes.contains("10.210."), "{routes}");
}
