//! The real `libcni` runs a conflist `cn2` → `tuning` → `portmap` (the
//! reference plugins) through ADD, CHECK and DEL, the way a container
//! runtime does. It uses the libcni driver the `cni-ipam` crate's tests
//! keep in `crates/cni-ipam/tests/libcni-driver`.
//!
//! Needs root and the Debian packages `golang-go`,
//! `golang-github-appc-cni-dev`, `containernetworking-plugins` and
//! `iptables` (for `portmap`); skips with a reason otherwise (a failure
//! under `CN2_REQUIRE_ROOT_TESTS=1`).

mod common;
#[path = "../../cni-ipam/tests/libcni-driver/driver.rs"]
mod driver;

use std::path::Path;

use common::*;
use serde_json::Value;

#[test]
fn libcni_runs_cn2_tuning_portmap() {
    let tools = [
        ("go", "golang-go"),
        ("iptables", "iptables"),
        ("ip", "iproute2"),
        ("ping", "iputils-ping"),
    ];
    if !can_run("libcni_runs_cn2_tuning_portmap", &tools) {
        return;
    }
    for (path, pkg) in [
        (driver::LIBCNI_SRC, "golang-github-appc-cni-dev"),
        ("/usr/lib/cni/tuning", "containernetworking-plugins"),
    ] {
        if !Path::new(path).exists() {
            return skip(
                "libcni_runs_cn2_tuning_portmap",
                &format!("{path} is missing (Debian package {pkg})"),
            );
        }
    }
    let env = Env::new();
    let bin = driver::build(env.dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let path = env.cni_path();
    let mut links = HostLinks::default();
    let ns = Netns::new();
    for (i, version) in ["0.4.0", "1.0.0"].iter().enumerate() {
        let conflist = serde_json::json!({
            "cniVersion": version,
            "name": "t-libcni",
            "plugins": [
                {
                    "type": "cn2",
                    "ipam": {
                        "type": "cn2-ipam",
                        "dataDir": env.data(),
                        "ranges": [[{"subnet": "10.211.0.0/24"}], [{"subnet": "fd01:211::/64"}]],
                        "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}],
                    }
                },
                {"type": "tuning", "sysctl": {"net.ipv4.conf.eth0.arp_notify": "1"}},
                {"type": "portmap", "capabilities": {"portMappings": true}},
            ]
        });
        let conf = env.dir.path().join(format!("net-{i}.conflist"));
        std::fs::write(&conf, conflist.to_string()).unwrap();
        let conf = conf.to_str().unwrap();
        let cache = env.dir.path().join("cache");
        let cache = cache.to_str().unwrap();
        let cid = unique("libcni");
        let host = links.track(&cid, "eth0");
        let netns = ns.path();
        let args = |verb: &'static str| [verb, conf, &cid, &netns, "eth0", cache];

        let (ok, out, err) = driver::run(&bin, &path, &args("ADD"));
        assert!(ok, "{version} ADD failed: {err}");
        let result: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            result["interfaces"][1]["sandbox"],
            netns.as_str(),
            "{result}"
        );
        let addrs = addrs(&result);
        assert_eq!(addrs.len(), 2, "{result}");
        for a in &addrs {
            assert!(ping(None, a), "{version}: host -> {a}");
        }
        assert_eq!(
            ns.exec(&["cat", "/proc/sys/net/ipv4/conf/eth0/arp_notify"])
                .trim(),
            "1",
            "tuning ran after cn2"
        );
        let (ok, _, err) = driver::run(&bin, &path, &args("CHECK"));
        assert!(ok, "{version} CHECK failed: {err}");
        // CHECK through libcni notices a removed address.
        let v6 = result["ips"][1]["address"].as_str().unwrap();
        ns.exec(&["ip", "addr", "del", v6, "dev", "eth0"]);
        let (ok, _, _) = driver::run(&bin, &path, &args("CHECK"));
        assert!(!ok, "{version} CHECK passed without {v6}");
        for n in 0..2 {
            let (ok, _, err) = driver::run(&bin, &path, &args("DEL"));
            assert!(ok, "{version} DEL #{n} failed: {err}");
        }
        assert!(host_link_gone(&host));
        assert!(ns.link_gone("eth0"));
        assert!(env.reserved("t-libcni").is_empty());
    }
}
