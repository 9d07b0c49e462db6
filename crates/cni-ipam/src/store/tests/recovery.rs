//! Crashes: a process killed between the steps of a change, power lost with
//! any part of the links' recent changes not yet on disk, torn records, and
//! stores written by the previous version.

use std::collections::{BTreeMap, BTreeSet};

use super::super::table;

use super::super::journal::{Journal, Record};
use super::*;

/// The index file's bytes (what the disk could hold of it).
type Links = Vec<u8>;

fn links(dir: &Path) -> Links {
    fs::read(dir.join(table::FILE)).unwrap()
}

/// Puts `want` back as the index (the journal and the lock file are kept):
/// the records as a power loss could have left them.
fn restore(dir: &Path, want: &Links) {
    fs::write(dir.join(table::FILE), want).unwrap();
}

/// Makes the lock file name another boot, as after a reboot.
fn reboot(dir: &Path) {
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join(LOCK))
        .unwrap();
    let mut s = State::read(&lock).unwrap();
    s.boot = Some("an-earlier-boot".into());
    s.write(&lock).unwrap();
}

fn state_of(dir: &Path) -> State {
    State::read(&File::open(dir.join(LOCK)).unwrap()).unwrap()
}

/// A small deterministic generator.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Asserts that no address has two live owners and returns owner -> addresses.
fn owners(s: &NetworkStore) -> BTreeMap<Owner, Vec<IpAddr>> {
    let mut by_owner: BTreeMap<Owner, Vec<IpAddr>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for (addr, o) in s.reservations().unwrap() {
        assert!(seen.insert(addr), "{addr} has two owners");
        by_owner.entry(o).or_default().push(addr);
    }
    by_owner
}

#[test]
fn power_loss_at_any_point_after_the_checkpoint_loses_no_answered_change() {
    let tmp = scratch();
    let dir = tmp.path().join("net");
    // Small sets, so addresses are freed and handed out again.
    let sets = [set("10.0.0.0/27"), set("fd00::/123")];
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    // The links after every change, with the checkpoint in force then.
    let mut history: Vec<(u64, Links)> = Vec::new();
    for _ in 0..(journal::SLOTS as usize * 4) {
        let mut s = open(tmp.path());
        let o = owner(rng.below(20));
        if rng.below(3) == 0 {
            s.release(&o).unwrap();
        } else {
            // Exhaustion is an answer too; nothing changes then.
            let _ = s.add(&o, &sets, &[]);
        }
        s.close().unwrap();
        history.push((state_of(&dir).checkpoint, links(&dir)));
    }
    let last = state_of(&dir);
    assert!(last.checkpoint >= journal::SLOTS, "the ring wrapped");
    let want = owners(&open(tmp.path()));
    assert!(want.len() > 5);
    // Every cut the disk could hold: the index as it was after any change
    // since the final checkpoint, and mixtures of those (slots from
    // different moments, as page write-back can leave them).
    // (The first of them is the state the checkpoint made durable.)
    let first = history
        .iter()
        .position(|(c, _)| *c == last.checkpoint)
        .unwrap();
    let since: Vec<&Links> = history[first.saturating_sub(1)..]
        .iter()
        .map(|(_, l)| l)
        .collect();
    assert!(since.len() > 20);
    let mut cuts: Vec<Links> = since.iter().map(|l| (*l).clone()).collect();
    let len = since[0].len();
    assert!(since.iter().all(|l| l.len() == len), "no rebuild here");
    for _ in 0..30 {
        // Each 512-byte slot (a disk sector) from a moment of its own.
        let mut mix = since[0].clone();
        for at in (0..len).step_by(512) {
            let from = since[rng.below(since.len())];
            mix[at..at + 512].copy_from_slice(&from[at..at + 512]);
        }
        cuts.push(mix);
    }
    // Recovery moves the checkpoint; each cut starts from the journal and
    // lock file as the power loss left them.
    let saved: Vec<(PathBuf, Vec<u8>)> = [journal::FILE, LOCK]
        .iter()
        .map(|f| (dir.join(f), fs::read(dir.join(f)).unwrap()))
        .collect();
    for (i, cut) in cuts.iter().enumerate() {
        for (path, bytes) in &saved {
            fs::write(path, bytes).unwrap();
        }
        restore(&dir, cut);
        reboot(&dir);
        let mut s = open(tmp.path());
        assert_eq!(owners(&s), want, "cut {i}");
        // Every owner's ADD again returns what it holds.
        for (o, ips) in &want {
            assert_eq!(&s.add(o, &sets, &[]).unwrap(), ips, "cut {i}");
        }
        s.close().unwrap();
        let st = state_of(&dir);
        assert_eq!((st.tail, st.checkpoint), (last.tail, last.tail), "cut {i}");
    }
}

#[test]
fn a_torn_last_record_loses_only_that_change_and_a_gap_ends_the_replay() {
    let tmp = scratch();
    let dir = tmp.path().join("net");
    let sets = [set("10.0.0.0/29")];
    let base = {
        let mut s = open(tmp.path());
        s.add(&owner(1), &sets, &[]).unwrap();
        s.close().unwrap();
        links(&dir)
    };
    for i in 2..=4 {
        let mut s = open(tmp.path());
        s.add(&owner(i), &sets, &[]).unwrap();
        s.close().unwrap();
    }
    // Records 1..=4; the power fails while record 3 is being written (so
    // 3 and 4 were never answered), and only the state after record 1
    // reached the disk.
    let j = Journal::open(&dir).unwrap().unwrap();
    let torn = j.read(3).unwrap().unwrap();
    j.write(&Record {
        owner: "owner:c9:eth0".into(),
        ..torn
    })
    .unwrap();
    let bytes = fs::read(dir.join(journal::FILE)).unwrap();
    let pos = bytes
        .windows(13)
        .position(|w| w == b"owner:c9:eth0")
        .unwrap();
    let f = OpenOptions::new()
        .write(true)
        .open(dir.join(journal::FILE))
        .unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"X", pos as u64).unwrap();
    restore(&dir, &base);
    reboot(&dir);
    let s = open(tmp.path());
    let got: Vec<String> = owners(&s)
        .into_keys()
        .map(|o| o.container_id().to_string())
        .collect();
    assert_eq!(got, ["c1", "c2"]);
    assert_eq!(state_of(&dir).tail, 2);
    drop(s);
    // Record 4 came after the gap: it is erased, not replayed later.
    let j = Journal::open(&dir).unwrap().unwrap();
    assert_eq!(j.read(4).unwrap(), None);
    assert!(j.scan().unwrap().iter().all(|r| r.seq <= 2));
}

#[test]
fn a_change_killed_after_its_record_is_completed_by_the_next_caller() {
    let tmp = scratch();
    let sets = [set("10.0.0.0/29"), set("fd00::/120")];
    let mut s = open(tmp.path());
    s.add(&owner(1), &sets, &[]).unwrap();
    // c2's ADD wrote its record and one address link, then died.
    let seq = s.state.tail + 1;
    let ips: Vec<IpAddr> = vec!["10.0.0.3".parse().unwrap(), "fd00::3".parse().unwrap()];
    s.journal
        .write(&Record {
            seq,
            owner: "owner:c2:eth0".into(),
            ips: ips.clone(),
        })
        .unwrap();
    s.dir.link("owner:c2:eth0", "10.0.0.3").unwrap();
    drop(s);
    let s = open(tmp.path());
    assert_eq!(s.holding(&owner(2)).unwrap(), Holding::Held(ips));
    assert_eq!(s.state.tail, seq);
    // c3's ADD died before its record: only debris, which is reclaimed.
    let mut s = s;
    s.dir.link("owner:c3:eth0", "10.0.0.4").unwrap();
    drop(s);
    let mut s = open(tmp.path());
    assert_eq!(s.holding(&owner(3)).unwrap(), Holding::Absent);
    assert_eq!(
        s.add(&owner(4), &sets, &[]).unwrap()[0].to_string(),
        "10.0.0.4"
    );
}

#[test]
fn a_store_written_by_the_previous_version_is_read() {
    // The previous version's layout: the same links, `last.<set>` files, an
    // empty lock file, no journal; here with an ADD of c3 interrupted after
    // its address and owner links (before `.pending` was removed).
    let tmp = scratch();
    let dir = tmp.path().join("net");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join(LOCK), "").unwrap();
    for (name, target) in [
        ("owner:c1:eth0", "10.0.0.2,fd00::2"),
        ("10.0.0.2", "owner:c1:eth0"),
        ("fd00::2", "owner:c1:eth0"),
        ("owner:c2:eth0", "10.0.0.5,fd00::9"),
        ("10.0.0.5", "owner:c2:eth0"),
        ("fd00::9", "owner:c2:eth0"),
        (".pending", "owner:c3:eth0 10.0.0.6,fd00::a"),
        ("10.0.0.6", "owner:c3:eth0"),
        ("fd00::a", "owner:c3:eth0"),
        ("owner:c3:eth0", "10.0.0.6,fd00::a"),
    ] {
        symlink(target, dir.join(name)).unwrap();
    }
    fs::write(dir.join("last.0"), "10.0.0.5").unwrap();
    fs::write(dir.join("last.1"), "fd00::9").unwrap();
    let sets = [set("10.0.0.0/29"), set("fd00::/120")];
    let mut s = open(tmp.path());
    assert!(dir.join(journal::FILE).exists());
    assert!(fs::symlink_metadata(dir.join(PENDING)).is_err());
    let held = |s: &NetworkStore, i| match s.holding(&owner(i)).unwrap() {
        Holding::Held(ips) => ips.iter().map(IpAddr::to_string).collect::<Vec<_>>(),
        other => panic!("c{i}: {other:?}"),
    };
    assert_eq!(held(&s, 1), ["10.0.0.2", "fd00::2"]);
    assert_eq!(held(&s, 2), ["10.0.0.5", "fd00::9"]);
    assert_eq!(s.holding(&owner(3)).unwrap(), Holding::Absent);
    // Round-robin continues after the old version's last addresses.
    assert_eq!(
        s.add(&owner(4), &sets, &[]).unwrap(),
        [
            "10.0.0.6".parse::<IpAddr>().unwrap(),
            "fd00::a".parse().unwrap()
        ]
    );
    assert_eq!(s.release(&owner(1)).unwrap().len(), 2);
    s.close().unwrap();
    // And it survives a power loss like any store.
    reboot(&dir);
    let s = open(tmp.path());
    assert_eq!(s.state.boot, state::boot_id());
    assert_eq!(held(&s, 2), ["10.0.0.5", "fd00::9"]);
    assert_eq!(held(&s, 4), ["10.0.0.6", "fd00::a"]);
    assert_eq!(s.holding(&owner(1)).unwrap(), Holding::Absent);
}
