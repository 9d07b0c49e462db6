//! A real runtime: Debian's podman with its CNI backend starts two
//! containers on a `cn2` network and one pings the other over IPv4 and
//! IPv6. Everything podman uses is the test's own: `containers.conf`
//! (through `CONTAINERS_CONF`), the CNI config directory, the storage root,
//! run root and tmp dir, and a busybox rootfs (`podman run --rootfs`).
//!
//! Needs root and the Debian packages `podman`, `runc` and
//! `busybox-static`; skips with a reason otherwise (a failure under
//! `CN2_REQUIRE_ROOT_TESTS=1`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

const BUSYBOX: &str = "/bin/busybox";

/// podman with the test's own configuration and state.
struct Podman {
    dir: PathBuf,
}

impl Podman {
    fn cmd(&self, args: &[&str]) -> Output {
        let d = |p: &str| self.dir.join(p).display().to_string();
        Command::new("podman")
            .env("CONTAINERS_CONF", d("containers.conf"))
            .args(["--root", &d("root"), "--runroot", &d("runroot")])
            .args(["--tmpdir", &d("tmp"), "--storage-driver", "vfs"])
            .args(args)
            .output()
            .expect("run podman")
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.cmd(args);
        assert!(
            o.status.success(),
            "podman {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.cmd(&["rm", "-f", "-a"]);
    }
}

fn rootfs(dir: &Path) {
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::copy(BUSYBOX, dir.join("bin/busybox")).unwrap();
    for applet in ["sh", "ping", "sleep", "ip"] {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet)).unwrap();
    }
}

#[test]
fn podman_containers_reach_each_other() {
    let tools = [("podman", "podman"), ("runc", "runc"), ("ip", "iproute2")];
    if !can_run("podman_containers_reach_each_other", &tools) {
        return;
    }
    if !Path::new(BUSYBOX).is_file() {
        return skip(
            "podman_containers_reach_each_other",
            "/bin/busybox is missing (Debian package busybox-static)",
        );
    }
    let env = Env::new();
    let dir = env.dir.path();
    let net = "t-podman";
    std::fs::create_dir(dir.join("cni-conf")).unwrap();
    std::fs::write(
        dir.join("cni-conf").join(format!("{net}.conflist")),
        serde_json::json!({
            "cniVersion": "1.0.0",
            "name": net,
            "plugins": [{
                "type": "cn2",
                "ipam": {
                    "type": "cn2-ipam",
                    "dataDir": env.data(),
                    "ranges": [[{"subnet": "10.212.0.0/24"}], [{"subnet": "fd01:212::/64"}]],
                    "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}],
                }
            }]
        })
        .to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.join("containers.conf"),
        format!(
            "[engine]\ncgroup_manager = \"cgroupfs\"\nruntime = \"runc\"\nevents_logger = \"file\"\n\
             [network]\nnetwork_backend = \"cni\"\ncni_plugin_dirs = [\"{bin}\", \"/usr/lib/cni\"]\n\
             network_config_dir = \"{conf}\"\n",
            bin = env.bin().display(),
            conf = dir.join("cni-conf").display()
        ),
    )
    .unwrap();
    let root = dir.join("rootfs");
    rootfs(&root);
    let root = root.to_str().unwrap();
    let podman = Podman {
        dir: dir.to_path_buf(),
    };
    assert!(podman.ok(&["network", "ls"]).contains(net));

    // Rootful podman asks for the largest rlimits by default, which a
    // container host may refuse; small explicit ones always fit.
    fn run<'a>(net: &'a str, root: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut a = vec![
            "run",
            "--network",
            net,
            "--runtime",
            "runc",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
            "--rootfs",
            root,
        ];
        a.splice(1..1, extra.iter().copied());
        a
    }
    let name = unique("cn2pa");
    let mut a = run(net, root, &["-d", "--name", &name]);
    a.extend(["sleep", "300"]);
    podman.ok(&a);
    let v4 = podman.ok(&[
        "inspect",
        &name,
        "--format",
        "{{(index .NetworkSettings.Networks \"t-podman\").IPAddress}}",
    ]);
    let v6 = podman.ok(&[
        "inspect",
        &name,
        "--format",
        "{{(index .NetworkSettings.Networks \"t-podman\").GlobalIPv6Address}}",
    ]);
    assert!(v4.starts_with("10.212.0."), "{v4}");
    assert!(v6.starts_with("fd01:212::"), "{v6}");
    assert_eq!(env.reserved(net).len(), 2);

    let script = format!("ping -c 1 -W 2 {v4} && ping -c 1 -W 2 {v6}");
    let mut b = run(net, root, &["--rm"]);
    b.extend(["sh", "-c", &script]);
    let out = podman.ok(&b);
    assert_eq!(out.matches(" 0% packet loss").count(), 2, "{out}");
    assert!(ping(None, &v4) && ping(None, &v6), "host -> container");

    podman.ok(&["rm", "-f", &name]);
    assert!(
        env.reserved(net).is_empty(),
        "podman's DEL released the addresses"
    );
}
