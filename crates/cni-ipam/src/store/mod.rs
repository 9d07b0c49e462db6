//! The on-disk reservation store: one directory per network under `dataDir`.
//!
//! # Layout
//!
//! ```text
//! <dataDir>/<network>/              0700
//!     lock                          0600, flock()ed for every operation
//!     owner:<containerID>:<ifname>  -> 10.10.0.5,fd00:10::5    (symlink: the owner's addresses)
//!     10.10.0.5                     -> owner:<containerID>:<ifname>
//!     fd00:10::5                    -> owner:<containerID>:<ifname>
//!     last.<set>                    0600, the last address handed out from range set <set>
//!     .pending                      -> owner:<containerID>:<ifname> 10.10.0.5,fd00:10::5
//!                                   (only while an ADD is in progress)
//! ```
//!
//! Records are **symbolic links** whose targets carry the data; they are
//! never followed. Creating a symlink is atomic (it exists with its whole
//! target or not at all), and a symlink is pure metadata, so a record can
//! never be seen half-written or empty, and a single directory `fsync`
//! makes a whole operation durable. (Symlinks have no permission bits of
//! their own; the 0700 directory keeps them private.)
//!
//! The owner link is the owner → addresses index: DEL and CHECK read one
//! link whatever the number of reservations. An address link answers "is
//! this address taken?" with one `readlink`; it counts only while the owner
//! link it names lists it back. Anything else is debris from a crash and is
//! reclaimed, never counted as used.
//!
//! # Crash safety
//!
//! ADD first creates `.pending` (the intent: owner and addresses), then the
//! address links, then the owner link, and finally removes `.pending`: that
//! removal is the commit point. A process that dies before it leaves
//! `.pending` behind; the next operation on the network, holding the lock,
//! rolls the ADD back (removes the address and owner links `.pending`
//! names). DEL removes the address links first, then the owner link; a DEL
//! cut short leaves an owner link whose addresses are gone, which CHECK
//! reports, ADD repairs and a repeated DEL finishes.
//!
//! Every change is made durable with one `fsync` of the directory before the
//! plugin answers. It is issued after the lock is released, so concurrent
//! callers share journal commits instead of queueing behind each other's
//! `fsync`; the file system commits directory operations in order, so an
//! operation that saw another's changes is never durable without them.
//!
//! # Concurrency
//!
//! Every operation holds an exclusive `flock` on `<network>/lock`; the kernel
//! drops it when the process dies, so a killed plugin never blocks others.
//!
//! # Cost
//!
//! ADD probes candidate addresses after the last one handed out (host-local's
//! round-robin order), one `readlink` each; in round-robin order the first
//! candidate is almost always free, so ADD does not slow down as
//! reservations accumulate. DEL and CHECK read one owner link. GC and STATUS
//! scan the directory.
//!
//! # Foreign files
//!
//! A regular file named like an address (host-local's format, for a network
//! moved from host-local to cn2-ipam) is respected as a reservation of
//! someone else, unless it is empty (host-local's crash debris).

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, symlink};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cn2_core::cni::{CniError, is_valid_name, validate_ifname};
use cn2_core::ipam::addr_to_u128;

use crate::config::RangeSet;

const LOCK: &str = "lock";
const PENDING: &str = ".pending";
const OWNER_PREFIX: &str = "owner:";

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

    /// The owner link's name. Neither part may contain `:` or `/`, so the
    /// name is unambiguous and a single path component.
    fn link_name(&self) -> String {
        format!("{OWNER_PREFIX}{}:{}", self.container_id, self.ifname)
    }

    /// The owner of an owner link's name.
    fn from_link_name(name: &str) -> Option<Owner> {
        let rest = name.strip_prefix(OWNER_PREFIX)?;
        let (cid, ifname) = rest.split_once(':')?;
        Owner::new(cid, ifname).ok()
    }
}

fn join_ips(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_ips(text: &str) -> Option<Vec<IpAddr>> {
    text.split(',').map(|a| a.parse().ok()).collect()
}

/// What an owner holds, as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holding {
    /// No reservation.
    Absent,
    /// A complete reservation: every address links back to the owner.
    Held(Vec<IpAddr>),
    /// An owner link whose addresses do not all link back (a DEL cut short,
    /// or a damaged directory); the addresses that still do are listed.
    Damaged(Vec<IpAddr>),
}

/// One network's reservations, locked for the lifetime of the value.
///
/// Changes are made durable by [`NetworkStore::close`], which releases the
/// lock and then `fsync`s the directory; dropping the value does the same,
/// ignoring errors.
#[derive(Debug)]
pub struct NetworkStore {
    dir: PathBuf,
    dir_handle: File,
    lock: Option<File>,
    dirty: bool,
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
        flock(&lock, libc::LOCK_EX).map_err(io("lock", &lock_path))?;
        let mut store = NetworkStore {
            dir,
            dir_handle,
            lock: Some(lock),
            dirty: false,
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

    /// Releases the lock, then makes every change durable (one directory
    /// `fsync`, shared with concurrent callers' journal commits).
    pub fn close(mut self) -> Result<(), StoreError> {
        self.finish()
    }

    fn finish(&mut self) -> Result<(), StoreError> {
        if let Some(lock) = self.lock.take() {
            // Closing the descriptor releases the lock.
            drop(lock);
        }
        if std::mem::take(&mut self.dirty) {
            self.dir_handle.sync_all().map_err(io("fsync", &self.dir))?;
        }
        Ok(())
    }

    fn step(&self) {
        if let Some(d) = self.step_delay {
            std::thread::sleep(d);
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// What the name `name` is: absent, one of our links (with its target),
    /// or a file we did not write.
    fn entry(&self, name: &str) -> Result<Entry, StoreError> {
        let p = self.path(name);
        match fs::read_link(&p) {
            Ok(t) => Ok(Entry::Link(
                t.into_os_string().into_string().unwrap_or_default(),
            )),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Entry::Absent),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                // Not a symlink: a file we did not write.
                let m = fs::symlink_metadata(&p).map_err(io("stat", &p))?;
                if m.is_file() && m.len() == 0 {
                    Ok(Entry::Empty)
                } else {
                    Ok(Entry::Foreign)
                }
            }
            Err(e) => Err(io("readlink", &p)(e)),
        }
    }

    fn link(&mut self, target: &str, name: &str) -> Result<(), StoreError> {
        let p = self.path(name);
        self.dirty = true;
        symlink(target, &p).map_err(io("link", &p))
    }

    fn remove(&mut self, name: &str) -> Result<(), StoreError> {
        let p = self.path(name);
        match fs::remove_file(&p) {
            Ok(()) => {
                self.dirty = true;
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("remove", &p)(e)),
        }
    }

    /// Removes the address link `addr` if it names `owner_link`.
    fn remove_if_owned(&mut self, addr: &IpAddr, owner_link: &str) -> Result<bool, StoreError> {
        let name = addr.to_string();
        match self.entry(&name)? {
            Entry::Link(t) if t == owner_link => {
                self.remove(&name)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Rolls back an ADD that did not reach its commit point.
    fn recover(&mut self) -> Result<bool, StoreError> {
        let target = match self.entry(PENDING)? {
            Entry::Absent => return Ok(false),
            Entry::Link(t) => t,
            _ => String::new(),
        };
        if let Some((owner_link, ips)) = target.split_once(' ') {
            // ADD releases an owner's old reservation before it writes
            // `.pending`, so every link naming this owner is the failed ADD's.
            for ip in parse_ips(ips).unwrap_or_default() {
                self.remove_if_owned(&ip, owner_link)?;
            }
            if Owner::from_link_name(owner_link).is_some() {
                self.remove(owner_link)?;
            }
        }
        self.remove(PENDING)?;
        Ok(true)
    }

    /// Whether the address link `name` is a live reservation (its owner
    /// link lists it back); `None` if it is debris.
    fn live_owner(&self, name: &str, entry: &Entry) -> Result<Option<String>, StoreError> {
        let Entry::Link(owner_link) = entry else {
            return Ok(None);
        };
        if Owner::from_link_name(owner_link).is_none() {
            return Ok(None);
        }
        match self.entry(owner_link)? {
            Entry::Link(ips) if ips.split(',').any(|a| a == name) => Ok(Some(owner_link.clone())),
            _ => Ok(None),
        }
    }

    /// Whether `addr` can be taken; debris found under its name is removed.
    fn take_if_free(&mut self, addr: &IpAddr) -> Result<bool, StoreError> {
        let name = addr.to_string();
        let entry = self.entry(&name)?;
        match entry {
            Entry::Absent => Ok(true),
            Entry::Foreign => Ok(false),
            Entry::Empty => {
                self.remove(&name)?;
                Ok(true)
            }
            Entry::Link(_) => {
                if self.live_owner(&name, &entry)?.is_some() {
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
        let link = owner.link_name();
        let ips = match self.entry(&link)? {
            Entry::Absent => return Ok(Holding::Absent),
            Entry::Link(t) => match parse_ips(&t) {
                Some(ips) => ips,
                None => return Ok(Holding::Damaged(Vec::new())),
            },
            _ => return Ok(Holding::Damaged(Vec::new())),
        };
        let mut linked = Vec::with_capacity(ips.len());
        for ip in &ips {
            if matches!(self.entry(&ip.to_string())?, Entry::Link(t) if t == link) {
                linked.push(*ip);
            }
        }
        if linked.len() == ips.len() && !linked.is_empty() {
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
        if let Err(e) = self.commit(owner, &chosen) {
            // Undo whatever part of the reservation was made.
            let _ = self.recover();
            return Err(e);
        }
        for (idx, a) in chosen.iter().enumerate() {
            self.write_hint(idx, a);
        }
        Ok(chosen)
    }

    fn commit(&mut self, owner: &Owner, ips: &[IpAddr]) -> Result<(), StoreError> {
        let owner_link = owner.link_name();
        let list = join_ips(ips);
        self.link(&format!("{owner_link} {list}"), PENDING)?;
        self.step();
        for ip in ips {
            self.link(&owner_link, &ip.to_string())?;
            self.step();
        }
        self.link(&list, &owner_link)?;
        self.step();
        // The commit point: from here on the reservation stands.
        self.remove(PENDING)?;
        self.step();
        Ok(())
    }

    fn hint_name(idx: usize) -> String {
        format!("last.{idx}")
    }

    /// Records the last address handed out from set `idx`. A hint only
    /// orders the search, so a torn or missing hint is simply ignored.
    fn write_hint(&self, idx: usize, addr: &IpAddr) {
        let _ = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(self.path(&Self::hint_name(idx)))
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
    fn probe(&mut self, idx: usize, set: &RangeSet) -> Result<IpAddr, StoreError> {
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
        let link = owner.link_name();
        let ips = match self.entry(&link)? {
            Entry::Absent => return Ok(Vec::new()),
            Entry::Link(t) => parse_ips(&t).unwrap_or_default(),
            _ => Vec::new(),
        };
        let mut freed = Vec::new();
        for ip in &ips {
            if self.remove_if_owned(ip, &link)? {
                freed.push(*ip);
            }
        }
        self.remove(&link)?;
        Ok(freed)
    }

    /// Gives `owner` exactly `ips` (replacing what it held), without range
    /// sets: for callers that decide addresses themselves, such as the
    /// core allocator through [`DiskStore`]. Fails if an address is held
    /// by another owner.
    pub fn assign(&mut self, owner: &Owner, ips: &[IpAddr]) -> Result<(), StoreError> {
        if self.holding(owner)? == Holding::Held(ips.to_vec()) {
            return Ok(());
        }
        self.release(owner)?;
        for a in ips {
            if !self.take_if_free(a)? {
                return Err(StoreError::Unavailable {
                    address: *a,
                    set: self.dir.display().to_string(),
                });
            }
        }
        if ips.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.commit(owner, ips) {
            let _ = self.recover();
            return Err(e);
        }
        Ok(())
    }

    /// Releases every reservation whose owner `keep` rejects, and removes
    /// debris (address links without a live owner, owner links with a bad
    /// name). Returns the number of reservations released.
    pub fn gc(&mut self, mut keep: impl FnMut(&Owner) -> bool) -> Result<usize, StoreError> {
        let mut released = 0;
        let mut addresses = Vec::new();
        for name in self.names()? {
            if name.starts_with(OWNER_PREFIX) {
                match Owner::from_link_name(&name) {
                    Some(o) if o.link_name() == name => {
                        if !keep(&o) {
                            self.release(&o)?;
                            released += 1;
                        }
                    }
                    _ => self.remove(&name)?,
                }
            } else if name.parse::<IpAddr>().is_ok() {
                addresses.push(name);
            }
        }
        for name in addresses {
            let entry = self.entry(&name)?;
            match entry {
                Entry::Empty => self.remove(&name)?,
                Entry::Link(_) if self.live_owner(&name, &entry)?.is_none() => {
                    self.remove(&name)?
                }
                _ => {}
            }
        }
        Ok(released)
    }

    fn names(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir).map_err(io("read", &self.dir))? {
            let e = e.map_err(io("read", &self.dir))?;
            if let Ok(name) = e.file_name().into_string() {
                out.push(name);
            }
        }
        Ok(out)
    }

    /// Every live reservation, address and owner, in address order (a
    /// directory scan). Foreign reservations are not listed.
    pub fn reservations(&self) -> Result<Vec<(IpAddr, Owner)>, StoreError> {
        let mut out = Vec::new();
        for name in self.names()? {
            let Ok(addr) = name.parse::<IpAddr>() else {
                continue;
            };
            let entry = self.entry(&name)?;
            if let Some(owner) = self.live_owner(&name, &entry)? {
                if let Some(o) = Owner::from_link_name(&owner) {
                    out.push((addr, o));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// For each set, how many of its addresses are taken, by live or
    /// foreign reservations (a directory scan).
    pub fn usage(&self, sets: &[RangeSet]) -> Result<Vec<u128>, StoreError> {
        let mut used = vec![0u128; sets.len()];
        for name in self.names()? {
            let Ok(addr) = name.parse::<IpAddr>() else {
                continue;
            };
            let Some(i) = sets.iter().position(|s| s.range_for(&addr).is_some()) else {
                continue;
            };
            let entry = self.entry(&name)?;
            let taken = match entry {
                Entry::Foreign => true,
                Entry::Link(_) => self.live_owner(&name, &entry)?.is_some(),
                _ => false,
            };
            if taken {
                used[i] += 1;
            }
        }
        Ok(used)
    }
}

impl Drop for NetworkStore {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// What a name in the network directory is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// Nothing.
    Absent,
    /// One of our links, with its target.
    Link(String),
    /// An empty regular file (debris of another tool).
    Empty,
    /// Any other file: someone else's; never touched, never handed out.
    Foreign,
}

fn flock(f: &File, op: libc::c_int) -> std::io::Result<()> {
    loop {
        // SAFETY: flock on a descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(f.as_raw_fd(), op) };
        if rc == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

mod core_store;

pub use core_store::DiskStore;

#[cfg(test)]
mod tests;
