//! Interop with the reference implementation: the real `libcni` (through a
//! small Go driver in `tests/libcni-driver`) runs a conflist whose main
//! plugin is the reference `bridge` with `"ipam": {"type": "cn2-ipam"}`, in a
//! network namespace of its own.
//!
//! Needs root and the Debian packages `containernetworking-plugins`,
//! `golang-go` and `golang-github-appc-cni-dev`. Without them the test
//! prints why and returns, unless `CN2_REQUIRE_ROOT_TESTS=1`, where a skip
//! is a failure.

mod common;
#[path = "libcni-driver/driver.rs"]
mod driver;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const BRIDGE: &str = "/usr/lib/cni/bridge";

fn skip(reason: &str) {
    if std::env::var("CN2_REQUIRE_ROOT_TESTS").as_deref() == Ok("1") {
        panic!("CN2_REQUIRE_ROOT_TESTS=1 but the test cannot run: {reason}");
    }
    eprintln!("skipping libcni interop test: {reason}");
}

/// Removes the namespace and the bridge however the test ends.
struct Cleanup {
    netns: String,
    bridge: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

fn addresses_in(netns: &str, dev: &str) -> String {
    let o = Command::new("ip")
        .args(["-n", netns, "-o", "addr", "show", "dev", dev])
        .output()
        .expect("run ip");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn reference_bridge_with_cn2_ipam_through_libcni() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return skip("not root (it creates a network namespace and a bridge)");
    }
    for (path, pkg) in [
        (BRIDGE, "containernetworking-plugins"),
        (driver::LIBCNI_SRC, "golang-github-appc-cni-dev"),
    ] {
        if !Path::new(path).exists() {
            return skip(&format!("{path} is missing (Debian package {pkg})"));
        }
    }
    if Command::new("go").arg("version").output().is_err() {
        return skip("go is missing (Debian package golang-go)");
    }
    let tmp = tempfile::tempdir().unwrap();
    let bin = driver::build(tmp.path()).unwrap_or_else(|e| panic!("{e}"));
    // Our plugin first on CNI_PATH, the reference plugins after it.
    let plugins = tmp.path().join("bin");
    std::fs::create_dir(&plugins).unwrap();
    std::os::unix::fs::symlink(common::BIN, plugins.join("cn2-ipam")).unwrap();
    let cni_path = format!("{}:/usr/lib/cni", plugins.display());
    let id = std::process::id();
    let guard = Cleanup {
        netns: format!("cn2-ipam-{id}"),
        bridge: format!("cn2t{}", id % 100_000),
    };
    let st = Command::new("ip")
        .args(["netns", "add", &guard.netns])
        .status()
        .unwrap();
    assert!(st.success(), "ip netns add failed");
    let netns_path = format!("/var/run/netns/{}", guard.netns);
    let data = tmp.path().join("data");
    for (i, version) in ["0.4.0", "1.0.0"].iter().enumerate() {
        let conflist = serde_json::json!({
            "cniVersion": version,
            "name": "cn2-interop",
            "plugins": [{
                "type": "bridge",
                "bridge": guard.bridge,
                "isGateway": true,
                "ipam": {
                    "type": "cn2-ipam",
                    "ranges": [[{"subnet": "10.99.0.0/24"}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": data,
                }
            }]
        });
        let conf = tmp.path().join(format!("net-{i}.conflist"));
        std::fs::write(&conf, conflist.to_string()).unwrap();
        let conf = conf.to_str().unwrap();
        let cache = tmp.path().join("cache");
        let cache = cache.to_str().unwrap();
        let cid = format!("interop-{i}");
        let ifname = format!("eth{i}");
        let args = |verb: &'static str| [verb, conf, &cid, &netns_path, &ifname, cache];

        let (ok, out, err) = driver::run(&bin, &cni_path, &args("ADD"));
        assert!(ok, "{version} ADD failed: {err}");
        let result: Value = serde_json::from_str(&out).unwrap();
        let addr = result["ips"][0]["address"].as_str().unwrap().to_string();
        assert!(addr.starts_with("10.99.0."), "{result}");
        let shown = addresses_in(&guard.netns, &ifname);
        assert!(shown.contains(&addr), "{addr} not on {ifname}: {shown}");

        let (ok, _, err) = driver::run(&bin, &cni_path, &args("CHECK"));
        assert!(ok, "{version} CHECK failed: {err}");
        for n in 0..2 {
            let (ok, _, err) = driver::run(&bin, &cni_path, &args("DEL"));
            assert!(ok, "{version} DEL #{n} failed: {err}");
        }
        assert!(addresses_in(&guard.netns, &ifname).is_empty());
        // The reservation is gone.
        let left: Vec<_> = std::fs::read_dir(data.join("cn2-interop"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().into_string().unwrap())
            .filter(|n| n.starts_with("owner:") || n.starts_with("10."))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
    drop(guard);
}
