use super::*;
use crate::config::Range;
use cn2_core::ipam::Cidr;
use std::os::unix::fs::{MetadataExt, symlink};

use dir::Entry;

fn set(subnet: &str) -> RangeSet {
    let subnet: Cidr = subnet.parse().unwrap();
    let first = subnet.first_u128() + 1;
    let last = if subnet.family() == cn2_core::ipam::Family::V4 {
        subnet.last_u128() - 1
    } else {
        subnet.last_u128()
    };
    RangeSet {
        ranges: vec![Range {
            subnet,
            start: first,
            end: last,
            gateway: subnet.family().addr(first),
        }],
    }
}

fn owner(i: usize) -> Owner {
    Owner::new(&format!("c{i}"), "eth0").unwrap()
}

/// A temporary directory on a tmpfs when there is one: these tests are about
/// logic, not the disk.
fn scratch() -> tempfile::TempDir {
    match Path::new("/dev/shm").is_dir() {
        true => tempfile::tempdir_in("/dev/shm").unwrap(),
        false => tempfile::tempdir().unwrap(),
    }
}

fn open(dir: &Path) -> NetworkStore {
    NetworkStore::open(dir, "net", true).unwrap().unwrap()
}

#[test]
fn add_is_idempotent_round_robin_and_del_is_idempotent() {
    let tmp = tempfile::tempdir().unwrap();
    let sets = [set("10.0.0.0/29"), set("fd00::/120")];
    let mut s = open(tmp.path());
    let a = s.add(&owner(1), &sets, &[]).unwrap();
    assert_eq!(a[0].to_string(), "10.0.0.2");
    assert_eq!(a[1].to_string(), "fd00::2");
    assert_eq!(s.add(&owner(1), &sets, &[]).unwrap(), a);
    assert_eq!(s.release(&owner(1)).unwrap(), a);
    assert!(s.release(&owner(1)).unwrap().is_empty());
    // The freed address is not reused at once.
    let b = s.add(&owner(2), &sets, &[]).unwrap();
    assert_eq!(b[0].to_string(), "10.0.0.3");
    assert_eq!(s.holding(&owner(2)).unwrap(), Holding::Held(b));
    assert_eq!(s.holding(&owner(1)).unwrap(), Holding::Absent);
}

#[test]
fn exhaustion_requests_and_gc() {
    let tmp = tempfile::tempdir().unwrap();
    let sets = [set("10.0.0.0/29")];
    let mut s = open(tmp.path());
    let req: IpAddr = "10.0.0.5".parse().unwrap();
    assert_eq!(s.add(&owner(0), &sets, &[req]).unwrap(), vec![req]);
    let e = s.add(&owner(9), &sets, &[req]).unwrap_err();
    assert!(matches!(e, StoreError::Unavailable { .. }), "{e}");
    let gw: IpAddr = "10.0.0.1".parse().unwrap();
    assert!(matches!(
        s.add(&owner(9), &sets, &[gw]).unwrap_err(),
        StoreError::NotAllocatable { .. }
    ));
    for i in 1..5 {
        s.add(&owner(i), &sets, &[]).unwrap();
    }
    assert!(matches!(
        s.add(&owner(5), &sets, &[]).unwrap_err(),
        StoreError::Exhausted { .. }
    ));
    assert_eq!(s.usage(&sets).unwrap(), vec![5]);
    let released = s
        .gc(|o| o.container_id() == "c0" || o.container_id() == "c3")
        .unwrap();
    assert_eq!(released, 3);
    let left: Vec<String> = s
        .reservations()
        .unwrap()
        .into_iter()
        .map(|(_, o)| o.container_id().to_string())
        .collect();
    // Sorted by address: c3 holds 10.0.0.3, c0 the requested 10.0.0.5.
    assert_eq!(left, ["c3", "c0"]);
}

#[test]
fn debris_is_reclaimed_and_foreign_files_are_respected() {
    let tmp = scratch();
    let sets = [set("10.0.0.0/29"), set("fd00::/120")];
    let dir = tmp.path().join("net");
    let mut s = open(tmp.path());
    s.add(&owner(1), &sets, &[]).unwrap();
    // Debris: an address record of c2 without its owner record (an ADD
    // killed before its journal record), an address record whose owner does
    // not list it, and an empty file (host-local's crash debris).
    s.dir.link("owner:c2:eth0", "10.0.0.3").unwrap();
    s.dir.link("owner:c1:eth0", "10.0.0.5").unwrap();
    fs::write(dir.join("10.0.0.4"), "").unwrap();
    // A foreign reservation (host-local's format) is respected.
    fs::write(dir.join("10.0.0.6"), "abc\r\neth0").unwrap();
    s.close().unwrap();
    let mut s = open(tmp.path());
    assert_eq!(s.holding(&owner(2)).unwrap(), Holding::Absent);
    // Debris is not counted as used: the next ADDs get .3, .4, .5, then
    // skip the foreign .6 and the held .2: the set is full.
    assert_eq!(s.usage(&sets).unwrap(), vec![2, 1]);
    for (i, want) in [(3, "10.0.0.3"), (4, "10.0.0.4"), (5, "10.0.0.5")] {
        assert_eq!(s.add(&owner(i), &sets, &[]).unwrap()[0].to_string(), want);
    }
    assert!(!dir.join("10.0.0.4").exists());
    assert!(matches!(
        s.add(&owner(6), &sets, &[]).unwrap_err(),
        StoreError::Exhausted { .. }
    ));
    // GC keeps the foreign file and removes debris.
    fs::write(dir.join("10.0.0.4"), "").unwrap();
    s.dir.link("owner:c9:eth0", "fd00::9").unwrap();
    // An older version's link left over: ignored, and removed by GC.
    symlink("owner:c1:eth0", dir.join("10.0.0.7")).unwrap();
    assert_eq!(s.dir.entry("10.0.0.7").unwrap(), Entry::Absent);
    s.gc(|_| false).unwrap();
    assert!(fs::symlink_metadata(dir.join("10.0.0.7")).is_err());
    assert!(s.reservations().unwrap().is_empty());
    assert!(dir.join("10.0.0.6").exists());
    assert!(!dir.join("10.0.0.4").exists());
    assert_eq!(s.dir.entry("fd00::9").unwrap(), Entry::Absent);
}

#[test]
fn a_del_cut_short_is_repaired() {
    let tmp = tempfile::tempdir().unwrap();
    let sets = [set("10.0.0.0/29"), set("fd00::/120")];
    let mut s = open(tmp.path());
    let a = s.add(&owner(1), &sets, &[]).unwrap();
    s.dir.remove(&a[0].to_string()).unwrap();
    assert_eq!(s.holding(&owner(1)).unwrap(), Holding::Damaged(vec![a[1]]));
    // ADD repairs by releasing the rest and allocating again.
    let b = s.add(&owner(1), &sets, &[]).unwrap();
    assert_eq!(s.holding(&owner(1)).unwrap(), Holding::Held(b));
    s.release(&owner(1)).unwrap();
    assert_eq!(s.reservations().unwrap(), vec![]);
}

#[test]
fn names_cannot_escape() {
    let tmp = tempfile::tempdir().unwrap();
    for bad in ["..", "../x", "a/b", ""] {
        assert!(NetworkStore::open(tmp.path(), bad, true).is_err(), "{bad}");
        assert!(Owner::new(bad, "eth0").is_err(), "{bad}");
    }
    assert!(Owner::new("c", "../x").is_err());
    assert!(Owner::new("c", "..").is_err());
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn modes_are_private() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut s = open(&data);
    s.add(&owner(1), &[set("10.0.0.0/29")], &[]).unwrap();
    let mut files = 0;
    for e in fs::read_dir(data.join("net")).unwrap() {
        let m = e.unwrap().metadata().unwrap();
        if m.is_file() {
            assert_eq!(m.mode() & 0o777, 0o600);
            files += 1;
        }
    }
    assert_eq!(files, 3); // lock, journal and index
    drop(s);
    assert_eq!(
        fs::metadata(data.join("net")).unwrap().mode() & 0o777,
        0o700
    );
    assert_eq!(fs::metadata(&data).unwrap().mode() & 0o777, 0o700);
}

mod recovery;

#[test]
fn an_exhausted_set_is_noted_until_something_changes() {
    let tmp = scratch();
    let dir = tmp.path().join("net");
    let sets = [set("10.0.0.0/29")];
    let exhausted = |s: &mut NetworkStore, i| {
        matches!(
            s.add(&owner(i), &sets, &[]),
            Err(StoreError::Exhausted { .. })
        )
    };
    let mut s = open(tmp.path());
    for i in 1..5 {
        s.add(&owner(i), &sets, &[]).unwrap();
    }
    // host-local's reservation of the fifth address.
    fs::write(dir.join("10.0.0.6"), "abc\r\neth0").unwrap();
    assert!(s.state.full.is_empty());
    assert!(exhausted(&mut s, 9));
    assert_eq!(s.state.full.len(), 1);
    let note = s.state.full[0];
    s.close().unwrap();
    // The note is kept and answers the next ADD.
    let mut s = open(tmp.path());
    assert_eq!(s.state.full, [note]);
    assert!(exhausted(&mut s, 9));
    // Another configuration of the set is not covered by it.
    let wider = [set("10.0.0.0/28")];
    assert_eq!(
        s.add(&owner(9), &wider, &[]).unwrap()[0].to_string(),
        "10.0.0.7"
    );
    s.release(&owner(9)).unwrap();
    // A release through the store voids it.
    assert!(exhausted(&mut s, 9));
    s.release(&owner(2)).unwrap();
    assert_eq!(
        s.add(&owner(9), &sets, &[]).unwrap()[0].to_string(),
        "10.0.0.3"
    );
    // So does a name removed by someone else (the directory's mtime).
    assert!(exhausted(&mut s, 10));
    std::thread::sleep(std::time::Duration::from_millis(50));
    fs::remove_file(dir.join("10.0.0.6")).unwrap();
    assert_eq!(
        s.add(&owner(10), &sets, &[]).unwrap()[0].to_string(),
        "10.0.0.6"
    );
}

/// `close_deferred` lets the next caller in at once (the lock is released
/// before the sync), and what it wrote is there for that caller.
#[test]
fn deferred_close_releases_the_lock_before_the_sync() {
    let tmp = scratch();
    let sets = [set("10.0.0.0/29")];
    let mut s = open(tmp.path());
    let a = s.add(&owner(1), &sets, &[]).unwrap();
    let pending = s.close_deferred().unwrap();
    // The lock is free: taking it without waiting succeeds.
    let lock = File::open(tmp.path().join("net").join(LOCK)).unwrap();
    dir::flock(&lock, libc::LOCK_EX | libc::LOCK_NB).expect("the lock is released");
    drop(lock);
    let mut next = open(tmp.path());
    assert_eq!(next.holding(&owner(1)).unwrap(), Holding::Held(a.clone()));
    let b = next.add(&owner(2), &sets, &[]).unwrap();
    assert_ne!(a, b);
    next.close().unwrap();
    pending.wait().unwrap();
    assert_eq!(
        open(tmp.path()).holding(&owner(1)).unwrap(),
        Holding::Held(a)
    );
}
