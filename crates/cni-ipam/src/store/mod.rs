//! The on-disk reservation store: one directory per network under `dataDir`.
//!
//! # Layout
//!
//! ```text
//! <dataDir>/<network>/            0700
//!     lock                        0600, flock()ed for every operation
//!     owner:<containerID>:<ifname> a reservation record (JSON: containerID, ifname, ips)
//!     10.10.0.5                   the same inode as the owner file (a hard link)
//!     fd00:10::5                  another hard link, for a second range set
//!     last.<set>                  the last address handed out from range set <set>
//!     .pending                    only while an ADD is in progress
//! ```
//!
//! A reservation is **one inode** with several names: the owner file (the
//! owner → addresses index, so DEL and CHECK open one file whatever the
//! number of reservations) and one name per address (so "is this address
//! taken?" is one `lstat`). An address name counts as taken only while the
//! owner file its record names is the same inode; anything else is debris
//! from a crash and is reclaimed.
//!
//! # Crash safety
//!
//! ADD writes the record to `.pending`, `fsync`s it, links it under each
//! address name and under the owner name, then removes `.pending` (the
//! commit point) and `fsync`s the directory. A process that dies anywhere
//! before the commit leaves `.pending` behind; the next operation on the
//! network, holding the lock, rolls it back: every name that is the same
//! inode as `.pending` is removed. `.pending` is only linked after its
//! content is complete and durable, so a record is never seen half-written.
//! DEL removes the address names first, then the owner file; a DEL cut short
//! leaves an owner file whose addresses are no longer linked, which CHECK
//! reports, ADD repairs and a repeated DEL finishes.
//!
//! # Concurrency
//!
//! Every operation holds an exclusive `flock` on `<network>/lock`; the kernel
//! drops it when the process dies, so a killed plugin never blocks others.
//!
//! # Cost
//!
//! ADD probes candidate addresses after the last one handed out (host-local's
//! round-robin order), one `lstat` each; with round-robin order the first
//! candidate is almost always free, so ADD does not slow down as
//! reservations accumulate. DEL and CHECK read one record. GC and STATUS
//! scan the directory.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cn2_core::cni::{CniError, is_valid_name, validate_ifname};
use cn2_core::ipam::addr_to_u128;
use serde::{Deserialize, Serialize};

use crate::config::RangeSet;

const LOCK: &str = "lock";
const PENDING: &str = ".pending";
const OWNER_PREFIX: &str = "owner:";
const MAX_RECORD: u64 = 64 * 1024;

/// Errors of the reservation store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file system call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A network name, container ID or interface name is not a safe name.
    #[error(
        "invalid {what} {name:?}: it must match ^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$ (interface names: no '/', ':' or whitespace)"
    )]
    InvalidName {
        /// Which name.
        what: &'static str,
        /// The name given.
        name: String,
    },
    /// Every address of a range set is taken.
    #[error("no IP addresses available in range set {set}")]
    Exhausted {
        /// The range set (its subnets).
        set: String,
    },
    /// A requested address is held by another attachment.
    #[error("requested IP address {address} is not available in range set {set}")]
    Unavailable {
        /// The address.
        address: IpAddr,
        /// The range set.
        set: String,
    },
    /// A requested address may not be handed out (the gateway, the network
    /// or broadcast address, outside `rangeStart`..`rangeEnd`).
    #[error("requested IP address {address} cannot be allocated: {reason}")]
    NotAllocatable {
        /// The address.
        address: IpAddr,
        /// Why.
        reason: String,
    },
}

impl From<StoreError> for CniError {
    fn from(e: StoreError) -> CniError {
        let msg = e.to_string();
        match e {
            StoreError::Io { .. } => CniError::io(msg, ""),
            StoreError::InvalidName { .. } => CniError::config(msg, ""),
            StoreError::Exhausted { .. } => CniError::Plugin {
                code: crate::CODE_EXHAUSTED,
                msg,
                details: String::new(),
            },
            StoreError::Unavailable { .. } => CniError::Plugin {
                code: crate::CODE_ADDRESS_IN_USE,
                msg,
                details: String::new(),
            },
            StoreError::NotAllocatable { .. } => CniError::config(msg, ""),
        }
    }
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Who holds a reservation: a container ID and an interface name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Owner {
    container_id: String,
    ifname: String,
}

impl Owner {
    /// An owner; both names are checked so they can never leave the
    /// network's directory (no `/`, `..`, NUL).
    pub fn new(container_id: &str, ifname: &str) -> Result<Owner, StoreError> {
        if !is_valid_name(container_id) {
            return Err(StoreError::InvalidName {
                what: "container ID",
                name: container_id.to_string(),
            });
        }
        if validate_ifname(ifname).is_err() {
            return Err(StoreError::InvalidName {
                what: "interface name",
                name: ifname.to_string(),
            });
        }
        Ok(Owner {
            container_id: container_id.to_string(),
            ifname: ifname.to_string(),
        })
    }

    /// The container ID.
    pub fn container_id(&self) -> &str {
        &self.container_id
    }

    /// The interface name.
    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    fn file_name(&self) -> String {
        // Neither part may contain ':' or '/', so the name is unambiguous and
        // a single path component.
        format!("{OWNER_PREFIX}{}:{}", self.container_id, self.ifname)
    }
}

/// The content of a reservation (the owner file and its address links).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    #[serde(rename = "containerID")]
    container_id: String,
    ifname: String,
    ips: Vec<IpAddr>,
}

impl Record {
    fn owner(&self) -> Option<Owner> {
        Owner::new(&self.container_id, &self.ifname).ok()
    }
}

/// What an owner holds, as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holding {
    /// No reservation.
    Absent,
    /// A complete reservation: every address is linked to the owner's record.
    Held(Vec<IpAddr>),
    /// A record whose addresses are not all linked (a DEL cut short, or a
    /// damaged directory); the addresses that are still linked are listed.
    Damaged(Vec<IpAddr>),
}

/// One network's reservations, locked for the lifetime of the value.
#[derive(Debug)]
pub struct NetworkStore {
    dir: PathBuf,
    dir_handle: File,
    _lock: File,
    step_delay: Option<Duration>,
}

impl NetworkStore {
    /// Opens (and with `create`, creates) `<data_dir>/<network>`, takes its
    /// lock and rolls back an interrupted ADD. Without `create`, a missing
    /// directory gives `Ok(None)`.
    pub fn open(
        data_dir: &Path,
        network: &str,
        create: bool,
    ) -> Result<Option<NetworkStore>, StoreError> {
        if !is_valid_name(network) {
            return Err(StoreError::InvalidName {
                what: "network name",
                name: network.to_string(),
            });
        }
        let dir = data_dir.join(network);
        if create {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(data_dir)
                .map_err(io("create", data_dir))?;
            match fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io("create", &dir)(e)),
            }
        }
        let dir_handle = match File::open(&dir) {
            Ok(f) => f,
            Err(e) if !create && e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("open", &dir)(e)),
        };
        let lock_path = dir.join(LOCK);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io("open", &lock_path))?;
        loop {
            // SAFETY: flock on a descriptor we own; no memory is involved.
            let rc = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                break;
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != ErrorKind::Interrupted {
                return Err(io("lock", &lock_path)(e));
            }
        }
        let mut store = NetworkStore {
            dir,
            dir_handle,
            _lock: lock,
            step_delay: None,
        };
        store.recover()?;
        Ok(Some(store))
    }

    /// The network's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Pauses for `delay` between the steps of an ADD. This exists only so
    /// crash tests can kill the plugin in the middle of an ADD.
    pub fn set_step_delay(&mut self, delay: Option<Duration>) {
        self.step_delay = delay;
    }

    fn step(&self) {
        if let Some(d) = self.step_delay {
            std::thread::sleep(d);
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn sync_dir(&self) -> Result<(), StoreError> {
        self.dir_handle.sync_all().map_err(io("fsync", &self.dir))
    }

    fn lstat(&self, name: &str) -> Result<Option<fs::Metadata>, StoreError> {
        let p = self.path(name);
        match fs::symlink_metadata(&p) {
            Ok(m) => Ok(Some(m)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("stat", &p)(e)),
        }
    }

    fn read_record(&self, name: &str) -> Option<Record> {
        let mut buf = Vec::new();
        File::open(self.path(name))
            .ok()?
            .take(MAX_RECORD)
            .read_to_end(&mut buf)
            .ok()?;
        serde_json::from_slice(&buf).ok()
    }

    fn remove(&self, name: &str) -> Result<(), StoreError> {
        let p = self.path(name);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("remove", &p)(e)),
        }
    }

    /// Removes `name` if it is the inode `ino`.
    fn remove_if_same(&self, name: &str, ino: u64) -> Result<bool, StoreError> {
        match self.lstat(name)? {
            Some(m) if m.ino() == ino => {
                self.remove(name)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Rolls back an ADD that did not reach its commit point.
    fn recover(&mut self) -> Result<bool, StoreError> {
        let Some(meta) = self.lstat(PENDING)? else {
            return Ok(false);
        };
        // `.pending` is linked elsewhere only once its record is complete; an
        // unreadable record therefore has no other names.
        if let Some(rec) = self.read_record(PENDING) {
            for ip in &rec.ips {
                self.remove_if_same(&ip.to_string(), meta.ino())?;
            }
            if let Some(owner) = rec.owner() {
                self.remove_if_same(&owner.file_name(), meta.ino())?;
            }
        }
        self.remove(PENDING)?;
        self.sync_dir()?;
        Ok(true)
    }

    /// Whether the address name `name` (with metadata `m`) is a live
    /// reservation: a regular file whose record's owner file is the same inode.
    fn is_live(&self, name: &str, m: &fs::Metadata) -> Result<bool, StoreError> {
        if !m.file_type().is_file() {
            // Not ours; never hand it out.
            return Ok(true);
        }
        if m.nlink() < 2 {
            return Ok(false);
        }
        let Some(owner) = self.read_record(name).and_then(|r| r.owner()) else {
            return Ok(false);
        };
        Ok(matches!(self.lstat(&owner.file_name())?, Some(o) if o.ino() == m.ino()))
    }

    /// Whether `addr` can be taken; debris found under its name is removed.
    fn take_if_free(&self, addr: &IpAddr) -> Result<bool, StoreError> {
        let name = addr.to_string();
        match self.lstat(&name)? {
            None => Ok(true),
            Some(m) => {
                if self.is_live(&name, &m)? {
                    Ok(false)
                } else {
                    self.remove(&name)?;
                    Ok(true)
                }
            }
        }
    }

    /// What `owner` holds.
    pub fn holding(&self, owner: &Owner) -> Result<Holding, StoreError> {
        let name = owner.file_name();
        let Some(meta) = self.lstat(&name)? else {
            return Ok(Holding::Absent);
        };
        let Some(rec) = self.read_record(&name) else {
            return Ok(Holding::Damaged(Vec::new()));
        };
        let mut linked = Vec::with_capacity(rec.ips.len());
        for ip in &rec.ips {
            if matches!(self.lstat(&ip.to_string())?, Some(m) if m.ino() == meta.ino()) {
                linked.push(*ip);
            }
        }
        if rec.owner().as_ref() == Some(owner)
            && linked.len() == rec.ips.len()
            && !linked.is_empty()
        {
            Ok(Holding::Held(linked))
        } else {
            Ok(Holding::Damaged(linked))
        }
    }

    /// Reserves one address per range set for `owner` and returns them in
    /// set order. If the owner already holds a complete reservation that
    /// fits the sets, that is returned unchanged (idempotent ADD).
    ///
    /// Each address in `requested` is served from the set that contains it;
    /// the other sets get the next free address after the last one handed
    /// out.
    pub fn add(
        &mut self,
        owner: &Owner,
        sets: &[RangeSet],
        requested: &[IpAddr],
    ) -> Result<Vec<IpAddr>, StoreError> {
        match self.holding(owner)? {
            Holding::Held(ips)
                if ips.len() == sets.len()
                    && ips.iter().zip(sets).all(|(a, s)| s.range_for(a).is_some()) =>
            {
                return Ok(ips);
            }
            Holding::Absent => {}
            _ => {
                self.release(owner)?;
            }
        }
        self.step();
        let mut remaining: Vec<IpAddr> = requested.to_vec();
        let mut chosen = Vec::with_capacity(sets.len());
        for (idx, set) in sets.iter().enumerate() {
            let want = remaining
                .iter()
                .position(|a| set.contains(a))
                .map(|i| remaining.remove(i));
            let addr = match want {
                Some(a) => {
                    if set.range_for(&a).is_none() {
                        return Err(StoreError::NotAllocatable {
                            address: a,
                            reason: "it is the gateway of its range".into(),
                        });
                    }
                    if !self.take_if_free(&a)? {
                        return Err(StoreError::Unavailable {
                            address: a,
                            set: set.describe(),
                        });
                    }
                    a
                }
                None => self.probe(idx, set)?,
            };
            chosen.push(addr);
        }
        if let Some(a) = remaining.first() {
            return Err(StoreError::NotAllocatable {
                address: *a,
                reason: "no configured range contains it".into(),
            });
        }
        let record = Record {
            container_id: owner.container_id.clone(),
            ifname: owner.ifname.clone(),
            ips: chosen.clone(),
        };
        match self.commit(owner, &record) {
            Ok(()) => {}
            Err(e) => {
                // Undo whatever part of the reservation was made.
                let _ = self.recover();
                return Err(e);
            }
        }
        for (idx, a) in chosen.iter().enumerate() {
            self.write_hint(idx, a);
        }
        Ok(chosen)
    }

    fn commit(&mut self, owner: &Owner, record: &Record) -> Result<(), StoreError> {
        let pending = self.path(PENDING);
        let mut bytes = serde_json::to_vec(record).expect("records serialise");
        bytes.push(b'\n');
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&pending)
            .map_err(io("create", &pending))?;
        self.step();
        f.write_all(&bytes).map_err(io("write", &pending))?;
        f.sync_all().map_err(io("fsync", &pending))?;
        drop(f);
        self.step();
        for ip in &record.ips {
            let target = self.path(&ip.to_string());
            fs::hard_link(&pending, &target).map_err(io("link", &target))?;
            self.step();
        }
        let target = self.path(&owner.file_name());
        fs::hard_link(&pending, &target).map_err(io("link", &target))?;
        self.step();
        // The commit point: from here on the reservation stands.
        fs::remove_file(&pending).map_err(io("remove", &pending))?;
        self.step();
        self.sync_dir()
    }

    fn hint_name(idx: usize) -> String {
        format!("last.{idx}")
    }

    /// Records the last address handed out from set `idx`. A hint only
    /// orders the search, so it is written without fsync and a torn or
    /// missing hint is ignored.
    fn write_hint(&self, idx: usize, addr: &IpAddr) {
        let path = self.path(&Self::hint_name(idx));
        let _ = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .and_then(|mut f| f.write_all(addr.to_string().as_bytes()));
    }

    fn read_hint(&self, idx: usize) -> Option<IpAddr> {
        fs::read_to_string(self.path(&Self::hint_name(idx)))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The next free address of `set` after the last one handed out,
    /// wrapping around; `Exhausted` after one full turn.
    fn probe(&self, idx: usize, set: &RangeSet) -> Result<IpAddr, StoreError> {
        let fam = set.family();
        // Position: (range index, number); start after the hint when it is
        // in the set, else before the first address.
        let mut pos: Option<(usize, u128)> = self.read_hint(idx).and_then(|h| {
            let n = addr_to_u128(&h);
            set.ranges
                .iter()
                .position(|r| r.in_subnet(&h) && n >= r.start && n <= r.end)
                .map(|ri| (ri, n))
        });
        let mut left = set.capacity();
        while left > 0 {
            let next = match pos {
                None => set.ranges[0].first().map(|n| (0, n)),
                Some((ri, n)) => set.ranges[ri].next_after(n).map(|m| (ri, m)),
            };
            let (ri, n) = match next {
                Some(x) => x,
                None => {
                    // Past the end of a range: the first address of the next
                    // range, wrapping to the first range.
                    let mut ri = pos.map_or(0, |(ri, _)| ri + 1) % set.ranges.len();
                    loop {
                        if let Some(n) = set.ranges[ri].first() {
                            break (ri, n);
                        }
                        ri = (ri + 1) % set.ranges.len();
                    }
                }
            };
            pos = Some((ri, n));
            let addr = fam.addr(n);
            if self.take_if_free(&addr)? {
                return Ok(addr);
            }
            left -= 1;
        }
        Err(StoreError::Exhausted {
            set: set.describe(),
        })
    }

    /// Releases what `owner` holds; returns the addresses that were freed.
    /// Releasing nothing is not an error (DEL is idempotent).
    pub fn release(&mut self, owner: &Owner) -> Result<Vec<IpAddr>, StoreError> {
        let name = owner.file_name();
        let Some(meta) = self.lstat(&name)? else {
            return Ok(Vec::new());
        };
        let mut freed = Vec::new();
        if let Some(rec) = self.read_record(&name) {
            for ip in &rec.ips {
                if self.remove_if_same(&ip.to_string(), meta.ino())? {
                    freed.push(*ip);
                }
            }
        }
        self.remove(&name)?;
        self.sync_dir()?;
        Ok(freed)
    }

    /// Releases every reservation whose owner `keep` rejects, and removes
    /// debris (address names without a live owner). Returns the number of
    /// reservations released.
    pub fn gc(&mut self, mut keep: impl FnMut(&Owner) -> bool) -> Result<usize, StoreError> {
        let mut released = 0;
        let mut addresses = Vec::new();
        for (name, _) in self.entries()? {
            if let Some(rest) = name.strip_prefix(OWNER_PREFIX) {
                let owner = self.read_record(&name).and_then(|r| r.owner());
                match owner {
                    Some(o) if o.file_name()[OWNER_PREFIX.len()..] == *rest => {
                        if !keep(&o) {
                            self.release(&o)?;
                            released += 1;
                        }
                    }
                    _ => {
                        // An owner file whose record does not name it: debris.
                        self.remove(&name)?;
                        released += 1;
                    }
                }
            } else if name.parse::<IpAddr>().is_ok() {
                addresses.push(name);
            }
        }
        for name in addresses {
            if let Some(m) = self.lstat(&name)? {
                if !self.is_live(&name, &m)? {
                    self.remove(&name)?;
                }
            }
        }
        self.sync_dir()?;
        Ok(released)
    }

    fn entries(&self) -> Result<Vec<(String, ())>, StoreError> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir).map_err(io("read", &self.dir))? {
            let e = e.map_err(io("read", &self.dir))?;
            if let Some(name) = e.file_name().to_str() {
                out.push((name.to_string(), ()));
            }
        }
        Ok(out)
    }

    /// Every live reservation: address and owner (a directory scan).
    pub fn reservations(&self) -> Result<Vec<(IpAddr, Owner)>, StoreError> {
        let mut out = Vec::new();
        for (name, _) in self.entries()? {
            let Ok(addr) = name.parse::<IpAddr>() else {
                continue;
            };
            if let Some(m) = self.lstat(&name)? {
                if self.is_live(&name, &m)? {
                    if let Some(o) = self.read_record(&name).and_then(|r| r.owner()) {
                        out.push((addr, o));
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// For each set, how many of its addresses are reserved (a directory scan).
    pub fn usage(&self, sets: &[RangeSet]) -> Result<Vec<u128>, StoreError> {
        let mut used = vec![0u128; sets.len()];
        for (addr, _) in self.reservations()? {
            if let Some(i) = sets.iter().position(|s| s.range_for(&addr).is_some()) {
                used[i] += 1;
            }
        }
        Ok(used)
    }
}

#[cfg(test)]
mod tests;
