//! `cn2-ipam` against Debian's reference `host-local`, side by side in one
//! run, as a runtime calls them: one process per operation, configuration on
//! stdin.
//!
//! Prints, for each plugin and the ratio ours / host-local:
//! * the median of sequential ADDs and of sequential DELs;
//! * the p50 ADD latency with 10 callers in parallel on one network;
//! * ours: ADD with 10,000 existing reservations against ADD on an empty
//!   network.
//!
//! Run with `scripts/bench-ipam.sh` (or `cargo bench -p cni-ipam --bench
//! vs_host_local`). `host-local` is looked up at `/usr/lib/cni/host-local`
//! (Debian's `containernetworking-plugins`), or `$HOST_LOCAL`. State goes to
//! a temporary directory under `$CN2_BENCH_DIR` if set (a tmpfs leaves the
//! disk's `fsync` cost out), else under the system temp directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cn2_core::ipam::Cidr;
use cni_ipam::config::{Range, RangeSet};
use cni_ipam::store::{NetworkStore, Owner};

/// The plugin built with the bench profile; `$CN2_IPAM_BIN` overrides it
/// (the bench script passes the build that is shipped: static, stripped).
const OURS: &str = env!("CARGO_BIN_EXE_cn2-ipam");
const SEQ: usize = 200;
const PAR_CALLERS: usize = 10;
const PAR_EACH: usize = 20;
const PREFILL: usize = 10_000;

struct Plugin {
    label: &'static str,
    bin: PathBuf,
    ipam_type: &'static str,
}

fn conf(p: &Plugin, name: &str, data: &Path) -> String {
    format!(
        r#"{{"cniVersion":"1.0.0","name":"{name}","type":"bridge","ipam":{{"type":"{}","ranges":[[{{"subnet":"10.128.0.0/16"}}]],"routes":[{{"dst":"0.0.0.0/0"}}],"dataDir":"{}"}}}}"#,
        p.ipam_type,
        data.display()
    )
}

/// Runs one operation and returns its wall time; panics on failure.
fn call(p: &Plugin, cmd: &str, cid: &str, stdin: &str) -> Duration {
    let start = Instant::now();
    let mut child = Command::new(&p.bin)
        .env_clear()
        .env("CNI_COMMAND", cmd)
        .env("CNI_CONTAINERID", cid)
        .env("CNI_NETNS", "/var/run/netns/bench")
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", "/usr/lib/cni")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start plugin");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{} {cmd} {cid}: {}",
        p.label,
        String::from_utf8_lossy(&out.stdout)
    );
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn row(what: &str, ours: Duration, theirs: Duration, target: &str) {
    println!(
        "| {what} | {} | {} | {:.2}× | {target} |",
        ms(ours),
        ms(theirs),
        ratio(ours, theirs)
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let host_local = std::env::var_os("HOST_LOCAL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/cni/host-local"));
    if !host_local.exists() {
        eprintln!(
            "{} is missing: install Debian's containernetworking-plugins",
            host_local.display()
        );
        std::process::exit(1);
    }
    let ours = Plugin {
        label: "cn2-ipam",
        bin: std::env::var_os("CN2_IPAM_BIN").map_or_else(|| PathBuf::from(OURS), PathBuf::from),
        ipam_type: "cn2-ipam",
    };
    let theirs = Plugin {
        label: "host-local",
        bin: host_local,
        ipam_type: "host-local",
    };
    // Where the state directories live: `$CN2_BENCH_DIR` (for example a
    // tmpfs, to leave the disk's fsync cost out), else the system temp dir.
    let tmp = match std::env::var_os("CN2_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let data = |p: &Plugin, what: &str| tmp.path().join(format!("{}-{what}", p.label));

    // Warm up both binaries (page cache).
    for p in [&ours, &theirs] {
        let c = conf(p, "warm", &data(p, "warm"));
        call(p, "ADD", "warm", &c);
        call(p, "DEL", "warm", &c);
    }

    // Sequential ADD and DEL, alternating plugins so both see the same noise.
    let mut add = [Vec::new(), Vec::new()];
    let mut del = [Vec::new(), Vec::new()];
    let confs = [
        conf(&ours, "seq", &data(&ours, "seq")),
        conf(&theirs, "seq", &data(&theirs, "seq")),
    ];
    for i in 0..SEQ {
        for (k, p) in [&ours, &theirs].into_iter().enumerate() {
            add[k].push(call(p, "ADD", &format!("s{i}"), &confs[k]));
        }
    }
    for i in 0..SEQ {
        for (k, p) in [&ours, &theirs].into_iter().enumerate() {
            del[k].push(call(p, "DEL", &format!("s{i}"), &confs[k]));
        }
    }
    let [add_ours, add_theirs] = add.map(median);
    let [del_ours, del_theirs] = del.map(median);

    // Parallel callers on one network.
    let mut par = Vec::new();
    for p in [&ours, &theirs] {
        let c = conf(p, "par", &data(p, "par"));
        let lat: Vec<Duration> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..PAR_CALLERS)
                .map(|t| {
                    let c = &c;
                    s.spawn(move || {
                        (0..PAR_EACH)
                            .map(|i| call(p, "ADD", &format!("p{t}-{i}"), c))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        par.push(median(lat));
    }

    // Ours: ADD with 10,000 reservations against an empty network. The
    // reservations are made in-process (the same store the plugin uses).
    let full_data = data(&ours, "full");
    {
        let subnet: Cidr = "10.128.0.0/16".parse().unwrap();
        let set = RangeSet {
            ranges: vec![Range {
                subnet,
                start: subnet.first_u128() + 1,
                end: subnet.last_u128() - 1,
                gateway: subnet.family().addr(subnet.first_u128() + 1),
            }],
        };
        let mut store = NetworkStore::open(&full_data, "full", true)
            .unwrap()
            .unwrap();
        for i in 0..PREFILL {
            let owner = Owner::new(&format!("pre{i}"), "eth0").unwrap();
            store.add(&owner, std::slice::from_ref(&set), &[]).unwrap();
        }
        store.close().unwrap();
    }
    let full_conf = conf(&ours, "full", &full_data);
    let empty_conf = conf(&ours, "empty", &data(&ours, "empty"));
    let mut full = Vec::new();
    let mut empty = Vec::new();
    for i in 0..SEQ {
        full.push(call(&ours, "ADD", &format!("f{i}"), &full_conf));
        empty.push(call(&ours, "ADD", &format!("e{i}"), &empty_conf));
    }
    let (full, empty) = (median(full), median(empty));

    println!("{} against {}", ours.bin.display(), theirs.bin.display());
    println!(
        "state in {} ({SEQ} sequential operations per plugin, medians; {PAR_CALLERS} parallel callers × {PAR_EACH} ADDs, p50; a /16)\n",
        tmp.path().parent().unwrap().display()
    );
    println!("| case | cn2-ipam | host-local | ratio | target |");
    println!("|---|---|---|---|---|");
    row("sequential ADD", add_ours, add_theirs, "≤ 0.3×");
    row("sequential DEL", del_ours, del_theirs, "≤ 0.3×");
    row(
        &format!("ADD p50, {PAR_CALLERS} parallel callers"),
        par[0],
        par[1],
        "≤ 0.3×",
    );
    println!(
        "| cn2-ipam ADD, {PREFILL} reservations vs empty network | {} | {} (empty) | {:.2}× | ≤ 1.2× |",
        ms(full),
        ms(empty),
        ratio(full, empty)
    );
}
