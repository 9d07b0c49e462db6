//! The on-disk reservation store: one directory per network under `dataDir`.
//!
//! # Layout
//!
//! ```text
//! <dataDir>/<network>/   0700
//!     lock               0600, flock()ed for every operation; holds the volatile state (`state`)
//!     journal            0600, 520 KiB, preallocated: every change, made durable (`journal`)
//!     index              0600, sparse: the records, a hash table in a file (`table`)
//! ```
//!
//! The index holds two kinds of **records**, as a directory would hold names:
//!
//! ```text
//! owner:<containerID>:<ifname>  -> 10.10.0.5,fd00:10::5    (the owner's addresses)
//! 10.10.0.5                     -> owner:<containerID>:<ifname>
//! fd00:10::5                    -> owner:<containerID>:<ifname>
//! ```
//!
//! The owner record answers DEL and CHECK with one lookup whatever the
//! number of reservations. An address record answers "is this address
//! taken?" with one lookup; it counts only while the owner record it names
//! lists it back. Anything else is debris from a crash and is reclaimed,
//! never counted as used.
//!
//! # Changes and durability
//!
//! Every change is one **journal record**: "from now on this owner holds
//! exactly these addresses" (ADD) or "nothing" (DEL, GC). A change writes
//! its journal record first: that write is the **commit point**. Then it
//! makes the index agree with it, and finally notes in the lock file that
//! the record is applied. The lock is released, and one `fdatasync` of the
//! journal makes the record durable before the plugin answers. The journal
//! is preallocated and written once when it is created, so that `fdatasync`
//! writes one block and flushes the disk's cache: it needs no commit of the
//! file system's journal. Parallel callers share flushes: each syncs after
//! releasing the lock, and a sync covers every record written before it.
//!
//! A change creates or removes no file (but for the rare rebuild of the
//! index, see `table`): that too would be a change to the file system's
//! journal, which can wait for a commit in progress (whoever on the file
//! system asked for it). The index is written in the page cache
//! and reaches the disk by write-back, and at every checkpoint.
//!
//! # Crash safety
//!
//! * **A killed process** (the page cache survives): the next operation
//!   on the network, holding the lock, finds a journal record after the
//!   last one applied and applies it (roll forward): a change that reached
//!   its commit point is completed, one that did not left nothing but debris.
//! * **Power loss**: the index may have lost any of the writes since the
//!   last checkpoint, even part of a change (index slots are 512 bytes, one
//!   sector, and checksummed; a torn slot counts as removed), but every
//!   journal record whose change was answered is on disk. The lock file
//!   names the boot it was written in (`/proc/sys/kernel/random/boot_id`);
//!   the first operation after a reboot replays every record after the
//!   journal's checkpoint, in order. Applying a record is idempotent and
//!   sets the owner's records whatever they were, so the replay ends in the
//!   state the journal describes; owners with no journal record since the
//!   checkpoint were not changed, and their records are durable. Records
//!   after a gap (never answered) are erased; then the index is synced and
//!   the checkpoint advanced.
//! * **Checkpoints**: the journal has 128 slots. Before a slot whose record
//!   may still be needed is reused, the index is synced and the checkpoint
//!   moved to the last record applied: once per 128 changes.
//!
//! # Concurrency
//!
//! Every operation holds an exclusive `flock` on `<network>/lock`; the kernel
//! drops it when the process dies, so a killed plugin never blocks others.
//!
//! # Cost
//!
//! ADD probes candidate addresses after the last one handed out (host-local's
//! round-robin order), one index lookup (and one `lstat` for a foreign file)
//! each; in round-robin order the first candidate is almost always free, so
//! ADD does not slow down as reservations accumulate. DEL and CHECK look up
//! one owner record. GC and STATUS scan the index.
//!
//! # Older stores and foreign files
//!
//! A store written by an older cn2-ipam keeps the records as symbolic links
//! in the directory, has no index and no journal, an empty lock file and the
//! last addresses in `last.<set>` files. On first use its interrupted ADD
//! (`.pending -> owner:… addresses`) is rolled back, its links are copied
//! into a new index, which is made durable, and removed; the journal is
//! created with checkpoint 0, and the `last.<set>` files are read until a new
//! last address is recorded.
//!
//! A regular file named like an address (host-local's format, for a network
//! moved from host-local to cn2-ipam) is respected as a reservation of
//! someone else, unless it is empty (host-local's crash debris).

use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use cn2_core::cni::{CniError, is_valid_name, validate_ifname};
use cn2_core::ipam::addr_to_u128;

use crate::config::RangeSet;

use dir::{Dir, Entry};
use journal::{Journal, JournalError};
use state::State;
use table::TableError;

const LOCK: &str = "lock";
const PENDING: &str = ".pending";
/// Older versions kept the last address handed out from set N in `last.N`.
const LEGACY_HINT_PREFIX: &str = "last.";
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
    /// The journal could not be read or written.
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    /// The index could not be read or written.
    #[error("index: {0}")]
    Table(#[from] TableError),
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
            StoreError::Io { .. } | StoreError::Journal(_) | StoreError::Table(_) => {
                CniError::io(msg, "")
            }
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

    /// The owner record's name. Neither part may contain `:` or `/`, so the
    /// name is unambiguous and a single path component.
    fn link_name(&self) -> String {
        format!("{OWNER_PREFIX}{}:{}", self.container_id, self.ifname)
    }

    /// The owner of an owner record's name.
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
    /// A complete reservation: every address record names the owner.
    Held(Vec<IpAddr>),
    /// An owner record whose addresses do not all name it back (a DEL cut short,
    /// or a damaged directory); the addresses that still do are listed.
    Damaged(Vec<IpAddr>),
}

/// One network's reservations, locked for the lifetime of the value.
///
/// Changes are made durable by [`NetworkStore::close`], which releases the
/// lock and then syncs the journal; dropping the value does the same,
/// ignoring errors.
#[derive(Debug)]
pub struct NetworkStore {
    dir: Dir,
    lock: Option<File>,
    journal: Journal,
    state: State,
    step_delay: Option<Duration>,
}

impl NetworkStore {
    /// Opens (and with `create`, creates) `<data_dir>/<network>`, takes its
    /// lock and completes or undoes what a crash interrupted (see the module
    /// documentation). Without `create`, a missing directory gives
    /// `Ok(None)`.
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
        let path = data_dir.join(network);
        if create {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(data_dir)
                .map_err(io("create", data_dir))?;
            match fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io("create", &path)(e)),
            }
        }
        let mut dir = match Dir::open(path)? {
            Some(d) => d,
            None if !create => return Ok(None),
            None => {
                let p = data_dir.join(network);
                return Err(io("open", &p)(ErrorKind::NotFound.into()));
            }
        };
        let lock_path = dir.join(LOCK);
        let lock = private_file(&lock_path, false).map_err(io("open", &lock_path))?;
        dir::flock(&lock, libc::LOCK_EX).map_err(io("lock", &lock_path))?;
        let saved = State::read(&lock);
        let boot = state::boot_id();
        let mut journal = Journal::open(dir.path())?;
        if !dir.open_index()? {
            // An older version's store (or a new one): its links move into
            // a new index. A journal without its index describes changes
            // to something that is gone; a new one starts.
            dir.migrate()?;
            if journal.take().is_some() {
                let p = dir.join(journal::FILE);
                fs::remove_file(&p).map_err(io("remove", &p))?;
            }
        }
        let (journal, created) = match journal {
            Some(j) => (j, false),
            None => (Journal::create(dir.path(), dir.handle())?, true),
        };
        let mut store = NetworkStore {
            dir,
            lock: Some(lock),
            journal,
            state: State::default(),
            step_delay: None,
        };
        store.state.hints = saved.as_ref().map(|s| s.hints.clone()).unwrap_or_default();
        match saved {
            _ if created => {
                // A new journal: the directory was synced when it was made.
                store.state.boot = boot;
                store.save_state()?;
            }
            Some(s) if s.is_current(boot.as_deref()) => {
                store.state = s;
                store.roll_forward()?;
            }
            _ => {
                store.state.boot = boot;
                store.recover()?;
            }
        }
        Ok(Some(store))
    }

    /// The network's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Pauses for `delay` between the steps of an ADD. This exists only so
    /// crash tests can kill the plugin in the middle of an ADD.
    pub fn set_step_delay(&mut self, delay: Option<Duration>) {
        self.step_delay = delay;
    }

    /// Releases the lock, then makes every change durable (one `fdatasync`
    /// of the journal, which also covers what concurrent callers wrote).
    pub fn close(mut self) -> Result<(), StoreError> {
        self.finish()
    }

    /// Releases the lock and returns the `fdatasync` still to be done, for a
    /// caller with other work before it answers (the `cn2` plugin wires the
    /// interface meanwhile). Nothing may be answered as done before
    /// [`PendingSync::wait`] succeeds; until then a power loss may undo the
    /// changes, as if the operation had not happened.
    pub fn close_deferred(mut self) -> Result<PendingSync, StoreError> {
        let journal = self.journal.try_clone()?;
        // Closing the descriptor releases the lock; `finish` then has
        // nothing left to do.
        drop(self.lock.take());
        Ok(PendingSync { journal })
    }

    fn finish(&mut self) -> Result<(), StoreError> {
        if let Some(lock) = self.lock.take() {
            // Closing the descriptor releases the lock.
            drop(lock);
            // Also when nothing changed here: what this operation read and
            // answered may have been written by a process killed before its
            // own sync.
            self.journal.sync()?;
        }
        Ok(())
    }

    fn step(&self) {
        if let Some(d) = self.step_delay {
            std::thread::sleep(d);
        }
    }

    fn save_state(&self) -> Result<(), StoreError> {
        let lock = self.lock.as_ref().expect("locked");
        self.state
            .write(lock)
            .map_err(io("write", &self.dir.join(LOCK)))
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
        match self.dir.entry(owner_link)? {
            Entry::Link(ips) if ips.split(',').any(|a| a == name) => Ok(Some(owner_link.clone())),
            _ => Ok(None),
        }
    }

    /// Whether `addr` can be taken; debris found under its name is removed.
    fn take_if_free(&mut self, addr: &IpAddr) -> Result<bool, StoreError> {
        let name = addr.to_string();
        let entry = self.dir.entry(&name)?;
        match entry {
            Entry::Absent => Ok(true),
            Entry::Foreign => Ok(false),
            Entry::Empty => {
                self.dir.remove(&name)?;
                Ok(true)
            }
            Entry::Link(_) => {
                if self.live_owner(&name, &entry)?.is_some() {
                    Ok(false)
                } else {
                    self.dir.remove(&name)?;
                    Ok(true)
                }
            }
        }
    }

    /// What `owner` holds.
    pub fn holding(&self, owner: &Owner) -> Result<Holding, StoreError> {
        let link = owner.link_name();
        let ips = match self.dir.entry(&link)? {
            Entry::Absent => return Ok(Holding::Absent),
            Entry::Link(t) => match parse_ips(&t) {
                Some(ips) => ips,
                None => return Ok(Holding::Damaged(Vec::new())),
            },
            _ => return Ok(Holding::Damaged(Vec::new())),
        };
        let mut linked = Vec::with_capacity(ips.len());
        for ip in &ips {
            if matches!(self.dir.entry(&ip.to_string())?, Entry::Link(t) if t == link) {
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
        for (idx, a) in chosen.iter().enumerate() {
            self.set_hint(idx, *a);
        }
        // The hints are saved with the record's application.
        self.commit(&owner.link_name(), &chosen)?;
        self.step();
        Ok(chosen)
    }

    /// Records `addr` as the last address handed out from set `idx`. A hint
    /// only orders the search; it is saved with the next change.
    fn set_hint(&mut self, idx: usize, addr: IpAddr) {
        if self.state.hints.len() <= idx {
            self.state.hints.resize(idx + 1, None);
        }
        self.state.hints[idx] = Some(addr);
    }

    /// The last address handed out from set `idx`: from the lock file, or
    /// from the `last.<idx>` file an older version wrote.
    fn hint(&self, idx: usize) -> Option<IpAddr> {
        if let Some(Some(a)) = self.state.hints.get(idx) {
            return Some(*a);
        }
        fs::read_to_string(self.dir.join(&format!("{LEGACY_HINT_PREFIX}{idx}")))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The directory's modification time, in nanoseconds: it changes when
    /// any name is added or removed.
    fn dir_mtime(&self) -> Result<i128, StoreError> {
        let m = self
            .dir
            .handle()
            .metadata()
            .map_err(io("stat", self.dir.path()))?;
        Ok(i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()))
    }

    /// The note that set `idx` (configured as `set`) is exhausted, if it
    /// was found so with nothing changed since.
    fn known_full(&self, idx: usize, config: u64) -> Result<bool, StoreError> {
        let Some(full) = self.state.full.iter().find(|f| f.set == idx) else {
            return Ok(false);
        };
        Ok(full.config == config
            && full.tail == self.state.tail
            && full.mtime == self.dir_mtime()?)
    }

    /// The next free address of `set` after the last one handed out,
    /// wrapping around; `Exhausted` after one full turn. A set found
    /// exhausted is noted in the lock file, and until something changes,
    /// the next ADD's answer is the same without the turn.
    fn probe(&mut self, idx: usize, set: &RangeSet) -> Result<IpAddr, StoreError> {
        let config = config_hash(set);
        if self.known_full(idx, config)? {
            return Err(StoreError::Exhausted {
                set: set.describe(),
            });
        }
        let fam = set.family();
        // Position: (range index, number); start after the hint when it is
        // in the set, else before the first address.
        let mut pos: Option<(usize, u128)> = self.hint(idx).and_then(|h| {
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
        let full = state::Full {
            set: idx,
            config,
            tail: self.state.tail,
            mtime: self.dir_mtime()?,
        };
        self.state.full.retain(|f| f.set != idx);
        self.state.full.push(full);
        self.save_state()?;
        Err(StoreError::Exhausted {
            set: set.describe(),
        })
    }

    /// Releases what `owner` holds; returns the addresses that were freed.
    /// Releasing nothing is not an error (DEL is idempotent).
    pub fn release(&mut self, owner: &Owner) -> Result<Vec<IpAddr>, StoreError> {
        let link = owner.link_name();
        let ips = match self.dir.entry(&link)? {
            Entry::Absent => return Ok(Vec::new()),
            Entry::Link(t) => parse_ips(&t).unwrap_or_default(),
            _ => Vec::new(),
        };
        let mut freed = Vec::new();
        for ip in ips {
            if matches!(self.dir.entry(&ip.to_string())?, Entry::Link(t) if t == link) {
                freed.push(ip);
            }
        }
        self.commit(&link, &[])?;
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
                    set: self.dir.path().display().to_string(),
                });
            }
        }
        if ips.is_empty() {
            return Ok(());
        }
        self.commit(&owner.link_name(), ips)
    }

    /// Releases every reservation whose owner `keep` rejects, and removes
    /// debris (address records without a live owner, owner records with a
    /// bad name, an older version's leftover links). Returns the number of
    /// reservations released.
    pub fn gc(&mut self, mut keep: impl FnMut(&Owner) -> bool) -> Result<usize, StoreError> {
        self.dir.remove_stale_links()?;
        let mut released = 0;
        let mut addresses = Vec::new();
        for name in self.dir.names()? {
            if name.starts_with(OWNER_PREFIX) {
                match Owner::from_link_name(&name) {
                    Some(o) if o.link_name() == name => {
                        if !keep(&o) {
                            self.release(&o)?;
                            released += 1;
                        }
                    }
                    _ => self.dir.remove(&name)?,
                }
            } else if name.parse::<IpAddr>().is_ok() {
                addresses.push(name);
            }
        }
        for name in addresses {
            let entry = self.dir.entry(&name)?;
            match entry {
                Entry::Empty => self.dir.remove(&name)?,
                Entry::Link(_) if self.live_owner(&name, &entry)?.is_none() => {
                    self.dir.remove(&name)?
                }
                _ => {}
            }
        }
        Ok(released)
    }

    /// Every live reservation, address and owner, in address order (a
    /// directory scan). Foreign reservations are not listed.
    pub fn reservations(&self) -> Result<Vec<(IpAddr, Owner)>, StoreError> {
        let mut out = Vec::new();
        for name in self.dir.names()? {
            let Ok(addr) = name.parse::<IpAddr>() else {
                continue;
            };
            let entry = self.dir.entry(&name)?;
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
        for name in self.dir.names()? {
            let Ok(addr) = name.parse::<IpAddr>() else {
                continue;
            };
            let Some(i) = sets.iter().position(|s| s.range_for(&addr).is_some()) else {
                continue;
            };
            let entry = self.dir.entry(&name)?;
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

/// A hash (FNV-1a) of a range set's configuration: its ranges, windows and
/// gateways.
fn config_hash(set: &RangeSet) -> u64 {
    format!("{:?}", set.ranges)
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// Opens `path` for reading and writing, created 0600 if missing, and
/// emptied first if `truncate`: every file of a store is opened this way.
fn private_file(path: &Path, truncate: bool) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(truncate)
        .mode(0o600)
        .open(path)
}

/// The `fdatasync` that makes a closed store's changes durable
/// ([`NetworkStore::close_deferred`]).
#[derive(Debug)]
pub struct PendingSync {
    journal: Journal,
}

impl PendingSync {
    /// Makes the changes durable: one `fdatasync` of the journal.
    pub fn wait(self) -> Result<(), StoreError> {
        Ok(self.journal.sync()?)
    }
}

impl Drop for NetworkStore {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

mod commit;
mod core_store;
mod dir;
mod journal;
mod state;
mod table;

pub use core_store::DiskStore;

#[cfg(test)]
mod tests;
