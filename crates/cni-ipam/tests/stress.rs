//! Many processes at once, and processes killed with SIGKILL in the middle
//! of ADD.

mod common;

use std::collections::{HashMap, HashSet};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};

use cni_ipam::store::{Holding, NetworkStore};
use common::*;

#[test]
fn two_hundred_concurrent_adds_get_distinct_addresses() {
    let tmp = tempfile::tempdir().unwrap();
    let c = conf("1.0.0", "conc", tmp.path(), r#""subnet":"10.60.0.0/16""#);
    let children: Vec<_> = (0..200)
        .map(|i| spawn(&env("ADD", &format!("c{i}")), &c))
        .collect();
    let mut seen = HashSet::new();
    for (i, child) in children.into_iter().enumerate() {
        let a = finish(child);
        assert_eq!(a.code, 0, "c{i}: {} {}", a.json, a.stderr);
        let ip = a.json["ips"][0]["address"].as_str().unwrap().to_string();
        assert!(seen.insert(ip.clone()), "{ip} handed out twice");
    }
    assert_eq!(seen.len(), 200);
}

/// Who holds each address according to the store, as the next caller sees
/// it (that opening completes a change killed after its commit point).
fn owners_on_disk(dir: &Path) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    let name = dir.file_name().unwrap().to_str().unwrap();
    let Some(store) = NetworkStore::open(dir.parent().unwrap(), name, false).unwrap() else {
        return out;
    };
    for (ip, o) in store.reservations().unwrap() {
        // Each owner's view must agree with the address's.
        match store.holding(&o).unwrap() {
            Holding::Held(ips) => assert!(ips.contains(&ip), "{ip}: {o:?} holds {ips:?}"),
            other => panic!("{ip}: {o:?} is {other:?}"),
        }
        out.entry(ip.to_string()).or_default().push(format!(
            "owner:{}:{}",
            o.container_id(),
            o.ifname()
        ));
    }
    out
}

/// A small deterministic generator for kill delays.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn sigkill_during_add_never_gives_an_address_two_owners() {
    // A process kill leaves the page cache intact, so what is tested here
    // does not depend on the disk; a tmpfs keeps the test fast and steady.
    let tmp = if Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    // Dual-stack, so an ADD has several linking steps to be cut between.
    let ipam = r#""ranges":[[{"subnet":"10.70.0.0/16"}],[{"subnet":"fd00:70::/64"}]]"#;
    let c = conf("1.0.0", "crash", tmp.path(), ipam);
    let dir = tmp.path().join("crash");
    let seed = std::process::id() as u64 ^ 0x9e37_79b9_7f4a_7c15;
    let mut rng = XorShift(seed | 1);
    println!("seed {seed}");
    let mut slow = env("ADD", "x");
    // Test-only pause between the steps of ADD (see cni_ipam::STEP_DELAY_ENV).
    slow.push((cni_ipam::STEP_DELAY_ENV.to_string(), "300".to_string()));
    let started = Instant::now();
    let mut owners = Vec::new();
    let mut killed: Vec<String> = Vec::new();
    let mut round = 0;
    while round < 200 && started.elapsed() < Duration::from_secs(12) {
        // Three at a time, so a killed holder of the lock is also exercised.
        let batch: Vec<_> = (0..3)
            .map(|k| {
                let cid = format!("c{round}-{k}");
                let mut vars = slow.clone();
                vars.iter_mut()
                    .find(|(k, _)| k == "CNI_CONTAINERID")
                    .unwrap()
                    .1 = cid.clone();
                owners.push(cid.clone());
                (cid, spawn(&vars, &c))
            })
            .collect();
        for (cid, mut child) in batch {
            std::thread::sleep(Duration::from_micros(rng.next() % 5_000));
            let _ = child.kill();
            let status = child.wait().unwrap();
            if status.signal() == Some(libc::SIGKILL) {
                killed.push(cid);
            }
        }
        round += 1;
        let held = owners_on_disk(&dir);
        for (ip, who) in &held {
            assert_eq!(who.len(), 1, "{ip} has owners {who:?}");
        }
    }
    // Killed ADDs that had committed before the kill; the rest were rolled
    // back by the next caller. Both kinds must occur for the test to mean much.
    let standing: HashSet<String> = owners_on_disk(&dir).into_values().flatten().collect();
    let committed = killed
        .iter()
        .filter(|cid| standing.contains(&format!("owner:{cid}:eth0")))
        .count();
    println!(
        "{} ADDs, {} killed, of which {committed} had committed, in {:?}",
        owners.len(),
        killed.len(),
        started.elapsed()
    );
    assert!(killed.len() > 50, "too few kills landed ({})", killed.len());
    assert!(
        committed >= 5 && killed.len() - committed >= 5,
        "kills did not land on both sides of the commit point"
    );
    // Every owner can ADD again, and all addresses are distinct.
    let mut seen = HashSet::new();
    for cid in &owners {
        for ip in add_ok(cid, &c) {
            assert!(seen.insert(ip.clone()), "{ip} handed out twice");
        }
    }
    let held = owners_on_disk(&dir);
    assert_eq!(held.len(), owners.len() * 2);
    assert!(held.values().all(|w| w.len() == 1));
    // Nothing left in the directory but the store's three files.
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["index", "journal", "lock"]);
}
