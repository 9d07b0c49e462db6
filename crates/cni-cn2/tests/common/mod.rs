//! Helpers for the root tests: namespaces that clean up after themselves,
//! a CNI_PATH with the built plugins, and a runner for the real `cn2` binary.
//!
//! A test that cannot run (not root, a tool missing) prints why and
//! returns; with `CN2_REQUIRE_ROOT_TESTS=1` that is a failure instead.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

/// The `cn2` binary under test.
pub const CN2: &str = env!("CARGO_BIN_EXE_cn2");

/// Whether the test can run as root with `tools` installed; prints the
/// reason and returns false if not, panics instead under
/// `CN2_REQUIRE_ROOT_TESTS=1`.
pub fn can_run(test: &str, tools: &[(&str, &str)]) -> bool {
    let reason = if unsafe { libc::geteuid() } != 0 {
        Some("needs root (network namespaces and veths)".to_string())
    } else {
        tools
            .iter()
            .find(|(tool, _)| which(tool).is_none())
            .map(|(tool, pkg)| format!("needs {tool} (Debian package {pkg})"))
    };
    match reason {
        None => true,
        Some(r) => {
            skip(test, &r);
            false
        }
    }
}

/// Prints why `test` does not run; panics instead under
/// `CN2_REQUIRE_ROOT_TESTS=1`.
pub fn skip(test: &str, reason: &str) {
    if std::env::var("CN2_REQUIRE_ROOT_TESTS").as_deref() == Ok("1") {
        panic!("CN2_REQUIRE_ROOT_TESTS=1 but {test} cannot run: {reason}");
    }
    eprintln!("skipping {test}: {reason}");
}

/// The tools every root test needs, with their Debian packages.
pub const BASE_TOOLS: [(&str, &str); 2] = [("ip", "iproute2"), ("ping", "iputils-ping")];

/// Finds an executable in `PATH` (and the sbin directories).
pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file())
}

/// The `cn2-ipam` binary of the same build (`cargo test --workspace` builds
/// it next to `cn2`).
pub fn cn2_ipam() -> PathBuf {
    let p = Path::new(CN2).with_file_name("cn2-ipam");
    assert!(
        p.is_file(),
        "{} is missing: build it first (cargo build -p cni-ipam, or cargo test --workspace)",
        p.display()
    );
    p
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique to this process and call.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs a command, panicking with its output if it fails.
pub fn sh(args: &[&str]) -> String {
    let o = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        o.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Whether a command succeeds (output discarded).
pub fn ok(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A network namespace `cn2t-…`, deleted on drop (even on panic).
pub struct Netns {
    /// The namespace name.
    pub name: String,
}

impl Netns {
    /// Creates a namespace.
    pub fn new() -> Netns {
        let name = unique("cn2t-");
        sh(&["ip", "netns", "add", &name]);
        Netns { name }
    }

    /// The path a runtime passes in `CNI_NETNS`.
    pub fn path(&self) -> String {
        format!("/var/run/netns/{}", self.name)
    }

    /// Runs a command inside the namespace.
    pub fn exec(&self, args: &[&str]) -> String {
        let mut v = vec!["ip", "netns", "exec", &self.name];
        v.extend_from_slice(args);
        sh(&v)
    }

    /// Whether a command succeeds inside the namespace.
    pub fn exec_ok(&self, args: &[&str]) -> bool {
        let mut v = vec!["ip", "netns", "exec", &self.name];
        v.extend_from_slice(args);
        ok(&v)
    }

    /// Whether the namespace has a link called `name`.
    pub fn has_link(&self, name: &str) -> bool {
        self.exec_ok(&["ip", "link", "show", "dev", name])
    }

    /// Whether the link `name` is gone within [`TEARDOWN_WAIT`] (DEL
    /// answers before the kernel has finished deleting the veth).
    pub fn link_gone(&self, name: &str) -> bool {
        eventually(|| !self.has_link(name))
    }
}

impl Netns {
    /// Deletes the namespace (the path in `CNI_NETNS` then names nothing).
    pub fn delete(&self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.delete();
    }
}

/// Host links deleted on drop, in case a test fails before its DEL.
#[derive(Default)]
pub struct HostLinks(pub Vec<String>);

impl HostLinks {
    /// Remembers the host end of (container, ifname).
    pub fn track(&mut self, cid: &str, ifname: &str) -> String {
        let n = cni_cn2::names::host_veth_name(cid, ifname);
        self.0.push(n.clone());
        n
    }
}

impl Drop for HostLinks {
    fn drop(&mut self) {
        for l in &self.0 {
            let _ = Command::new("ip")
                .args(["link", "del", l])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Whether the host has a link called `name`.
pub fn host_has_link(name: &str) -> bool {
    ok(&["ip", "link", "show", "dev", name])
}

/// How long a test waits for a veth that DEL handed to a detached process.
pub const TEARDOWN_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether `cond` holds within [`TEARDOWN_WAIT`], polled every 10 ms.
pub fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > TEARDOWN_WAIT {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Whether the host link `name` is gone within [`TEARDOWN_WAIT`].
pub fn host_link_gone(name: &str) -> bool {
    eventually(|| !host_has_link(name))
}

/// A test's own CNI_PATH and IPAM data directory.
pub struct Env {
    /// Temporary directory holding `bin/` and `data/`.
    pub dir: tempfile::TempDir,
}

impl Env {
    /// `bin/` with `cn2` linked in (`cn2` runs `cn2-ipam` in-process).
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::os::unix::fs::symlink(CN2, bin.join("cn2")).unwrap();
        Env { dir }
    }

    /// Links the `cn2-ipam` binary into `bin/` as `name`: an `ipam.type`
    /// other than `cn2-ipam` makes `cn2` execute it, as it does any IPAM
    /// plugin.
    pub fn link_ipam_binary(&self, name: &str) {
        std::os::unix::fs::symlink(cn2_ipam(), self.bin().join(name)).unwrap();
    }

    /// The CNI_PATH: our `bin/`, then Debian's plugins.
    pub fn cni_path(&self) -> String {
        format!("{}:/usr/lib/cni", self.bin().display())
    }

    /// The `bin/` directory.
    pub fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    /// The IPAM data directory.
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Adds an executable script to `bin/`.
    pub fn script(&self, name: &str, text: &str) {
        use std::os::unix::fs::PermissionsExt;
        let p = self.bin().join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// A dual-stack `cn2` network config on `subnet4`/`subnet6` with
    /// cn2-ipam.
    pub fn conf(&self, version: &str, name: &str, subnet4: &str, subnet6: &str) -> String {
        serde_json::json!({
            "cniVersion": version,
            "name": name,
            "type": "cn2",
            "mtu": 1450,
            "ipam": {
                "type": "cn2-ipam",
                "dataDir": self.data(),
                "ranges": [[{"subnet": subnet4}], [{"subnet": subnet6}]],
                "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}],
            }
        })
        .to_string()
    }

    /// The addresses reserved on network `name`, in cn2-ipam's store or in
    /// host-local's files.
    pub fn reserved(&self, name: &str) -> Vec<String> {
        if self.data().join(name).join("index").exists() {
            // cn2-ipam's store: read through the store itself.
            let store = cni_ipam::store::NetworkStore::open(&self.data(), name, false)
                .unwrap()
                .unwrap();
            return store
                .reservations()
                .unwrap()
                .into_iter()
                .map(|(a, _)| a.to_string())
                .collect();
        }
        // host-local's: a file per address.
        let Ok(rd) = std::fs::read_dir(self.data().join(name)) else {
            return Vec::new();
        };
        rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
            .collect()
    }
}

/// One pod (`eth0`) on one network of its own, with the test environment
/// around it; everything is removed on drop.
pub struct OnePod {
    /// The pod's host end, deleted on drop if a test stops before DEL.
    _links: HostLinks,
    /// `CNI_PATH` and the IPAM data.
    pub env: Env,
    /// The network configuration.
    pub conf: String,
    /// The pod namespace.
    pub ns: Netns,
    /// The container ID.
    pub cid: String,
    /// The name of the veth's host end.
    pub host: String,
}

impl OnePod {
    /// A pod whose network `net` has the given subnets, in CNI `version`.
    pub fn new(version: &str, net: &str, subnet4: &str, subnet6: &str) -> OnePod {
        let env = Env::new();
        let conf = env.conf(version, net, subnet4, subnet6);
        let mut links = HostLinks::default();
        let cid = unique(net);
        let host = links.track(&cid, "eth0");
        OnePod {
            _links: links,
            env,
            conf,
            ns: Netns::new(),
            cid,
            host,
        }
    }

    /// Runs `cmd` for the pod's `eth0` (`netns`: `CNI_NETNS`, if any).
    pub fn call(&self, cmd: &str, netns: Option<&str>) -> Answer {
        let path = self.env.cni_path();
        cni(cmd, &path, &self.cid, netns, "eth0", "", &self.conf)
    }

    /// Runs `cmd` with the pod's namespace.
    pub fn cni(&self, cmd: &str) -> Answer {
        self.call(cmd, Some(&self.ns.path()))
    }
}

/// What the plugin answered.
#[derive(Debug)]
pub struct Answer {
    /// stdout as JSON (`Null` when empty).
    pub json: Value,
    /// The exit code.
    pub code: i32,
    /// stderr.
    pub stderr: String,
}

impl Answer {
    /// Panics with the answer unless it succeeded.
    pub fn ok(self) -> Value {
        assert_eq!(self.code, 0, "plugin failed: {} {}", self.json, self.stderr);
        self.json
    }

    /// The CNI error code of a failure.
    pub fn err_code(&self) -> u64 {
        assert_ne!(self.code, 0, "expected a failure: {}", self.json);
        self.json["code"]
            .as_u64()
            .expect("error object with a code")
    }
}

/// Runs the plugin with the CNI environment; `netns` may be `None` (DEL).
pub fn cni(
    cmd: &str,
    cni_path: &str,
    cid: &str,
    netns: Option<&str>,
    ifname: &str,
    args: &str,
    conf: &str,
) -> Answer {
    let mut c = Command::new(CN2);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CNI_COMMAND", cmd)
        .env("CNI_CONTAINERID", cid)
        .env("CNI_IFNAME", ifname)
        .env("CNI_PATH", cni_path)
        .env("CNI_ARGS", args);
    if let Some(n) = netns {
        c.env("CNI_NETNS", n);
    }
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cn2");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(conf.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let json = if out.stdout.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    };
    Answer {
        json,
        code: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The addresses of a result, without prefix lengths.
pub fn addrs(result: &Value) -> Vec<String> {
    result["ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ip| {
            ip["address"]
                .as_str()
                .unwrap()
                .split('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// `conf` with `prevResult` set to `result`.
pub fn with_prev(conf: &str, result: &Value) -> String {
    let mut v: Value = serde_json::from_str(conf).unwrap();
    v["prevResult"] = result.clone();
    v.to_string()
}

/// Pings `addr` once (from the namespace `from`, or the host), waiting at
/// most two seconds.
pub fn ping(from: Option<&Netns>, addr: &str) -> bool {
    let args = ["ping", "-c", "1", "-W", "2", addr];
    match from {
        Some(ns) => ns.exec_ok(&args),
        None => ok(&args),
    }
}
