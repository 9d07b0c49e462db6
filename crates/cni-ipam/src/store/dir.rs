//! The network's names: the records in the index (see `table`), and the
//! regular files other tools leave in the directory under an address's
//! name (host-local's reservations, its empty crash debris), which are
//! respected. Also the move of an older version's symbolic links into the
//! index.

use std::fs::{self, File};
use std::io::ErrorKind;
use std::net::IpAddr;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use super::table::{self, Table, TableError};
use super::{OWNER_PREFIX, PENDING, StoreError, io, parse_ips};

/// What a name is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Nothing.
    Absent,
    /// One of our records, with its value.
    Link(String),
    /// An empty regular file named like an address (debris of another tool).
    Empty,
    /// Any other file named like an address: someone else's; never touched,
    /// never handed out.
    Foreign,
}

/// A network directory, open, with its index.
#[derive(Debug)]
pub struct Dir {
    path: PathBuf,
    handle: File,
    table: Option<Table>,
}

fn is_address(name: &str) -> bool {
    name.parse::<IpAddr>().is_ok()
}

impl Dir {
    /// Opens the directory at `path` (not yet its index); `None` if it does
    /// not exist.
    pub fn open(path: PathBuf) -> Result<Option<Dir>, StoreError> {
        match File::open(&path) {
            Ok(handle) => Ok(Some(Dir {
                path,
                handle,
                table: None,
            })),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("open", &path)(e)),
        }
    }

    /// Opens the index; `false` if there is none. A new index that a killed
    /// process did not finish building is removed.
    pub fn open_index(&mut self) -> Result<bool, StoreError> {
        self.remove_file(table::NEW_FILE)?;
        self.table = Table::open(&self.path)?;
        Ok(self.table.is_some())
    }

    /// Creates the index from the symbolic links an older version kept the
    /// records in (after rolling back its interrupted ADD), makes it
    /// durable, then removes the links.
    pub fn migrate(&mut self) -> Result<(), StoreError> {
        let raw = |name: &str| -> Option<String> {
            fs::read_link(self.path.join(name))
                .ok()
                .and_then(|t| t.into_os_string().into_string().ok())
        };
        let mut dropped = Vec::new();
        if let Some(pending) = raw(PENDING) {
            // The older version's ADD released the owner's old reservation
            // before it wrote `.pending`, so every link naming this owner is
            // the failed ADD's.
            if let Some((owner, ips)) = pending.split_once(' ') {
                for ip in parse_ips(ips).unwrap_or_default() {
                    if raw(&ip.to_string()).as_deref() == Some(owner) {
                        dropped.push(ip.to_string());
                    }
                }
                if owner.starts_with(OWNER_PREFIX) && !owner.contains('/') {
                    dropped.push(owner.to_string());
                }
            }
        }
        let mut entries = Vec::new();
        let mut links = vec![PENDING.to_string()];
        for name in self.dir_names()? {
            if !(name.starts_with(OWNER_PREFIX) || is_address(&name)) {
                continue;
            }
            if let Some(target) = raw(&name) {
                links.push(name.clone());
                if !dropped.contains(&name) {
                    entries.push((name, target));
                }
            }
        }
        self.table = Some(Table::build(&self.path, &self.handle, &entries)?);
        for name in links {
            self.remove_file(&name)?;
        }
        Ok(())
    }

    fn table(&self) -> &Table {
        self.table.as_ref().expect("index open")
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open directory (for `fsync`).
    pub fn handle(&self) -> &File {
        &self.handle
    }

    /// The path of `name` in the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// What `name` is: absent, one of our records (with its value), or a
    /// file named like an address that we did not write.
    pub fn entry(&self, name: &str) -> Result<Entry, StoreError> {
        if let Some(v) = self.table().get(name)? {
            return Ok(Entry::Link(v));
        }
        if !is_address(name) {
            return Ok(Entry::Absent);
        }
        let p = self.join(name);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_file() && m.len() == 0 => Ok(Entry::Empty),
            Ok(m) if m.is_file() => Ok(Entry::Foreign),
            // A symbolic link here is an older version's, left over.
            Ok(_) => Ok(Entry::Absent),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Entry::Absent),
            Err(e) => Err(io("stat", &p)(e)),
        }
    }

    /// Sets the record `name` to `target`.
    pub fn link(&mut self, target: &str, name: &str) -> Result<(), StoreError> {
        if self.table().wants_rebuild() {
            self.rebuild()?;
        }
        let table = self.table.as_mut().expect("index open");
        match table.put(name, target) {
            Err(TableError::Full) => {
                self.rebuild()?;
                let table = self.table.as_mut().expect("index open");
                Ok(table.put(name, target)?)
            }
            r => Ok(r?),
        }
    }

    /// Rewrites the index into a new file (dropping removed entries; larger
    /// if needed), durably.
    fn rebuild(&mut self) -> Result<(), StoreError> {
        let entries = self.table().scan()?;
        self.table = Some(Table::build(&self.path, &self.handle, &entries)?);
        Ok(())
    }

    /// Makes the record `name` -> `target`, replacing a record or an empty
    /// file found there; a foreign file is left alone (`false`).
    pub fn set_link(&mut self, target: &str, name: &str) -> Result<bool, StoreError> {
        match self.entry(name)? {
            Entry::Link(t) if t == target => return Ok(true),
            Entry::Foreign => return Ok(false),
            Entry::Empty => self.remove_file(name)?,
            Entry::Absent | Entry::Link(_) => {}
        }
        self.link(target, name)?;
        Ok(true)
    }

    /// Removes the record `name`, or the empty file of that name; a missing
    /// name is not an error. A foreign file is never removed.
    pub fn remove(&mut self, name: &str) -> Result<(), StoreError> {
        let table = self.table.as_mut().expect("index open");
        if !table.remove(name)? && is_address(name) && self.entry(name)? == Entry::Empty {
            self.remove_file(name)?;
        }
        Ok(())
    }

    fn remove_file(&self, name: &str) -> Result<(), StoreError> {
        let p = self.join(name);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("remove", &p)(e)),
        }
    }

    /// Removes the address record `addr` if it names `owner_link`.
    pub fn remove_if_owned(&mut self, addr: &IpAddr, owner_link: &str) -> Result<bool, StoreError> {
        let name = addr.to_string();
        match self.entry(&name)? {
            Entry::Link(t) if t == owner_link => {
                self.remove(&name)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn dir_names(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.path).map_err(io("read", &self.path))? {
            let e = e.map_err(io("read", &self.path))?;
            if let Ok(name) = e.file_name().into_string() {
                out.push(name);
            }
        }
        Ok(out)
    }

    /// Removes symbolic links an older version's records were kept in, left
    /// over when moving them into the index was interrupted after the index
    /// was made durable (they are ignored otherwise).
    pub fn remove_stale_links(&self) -> Result<(), StoreError> {
        for name in self.dir_names()? {
            if (name.starts_with(OWNER_PREFIX) || is_address(&name))
                && fs::symlink_metadata(self.join(&name)).is_ok_and(|m| m.file_type().is_symlink())
            {
                self.remove_file(&name)?;
            }
        }
        Ok(())
    }

    /// Every record's name, and the names of regular files named like
    /// addresses (a scan of the index and of the directory).
    pub fn names(&self) -> Result<Vec<String>, StoreError> {
        let mut out: Vec<String> = self.table().scan()?.into_iter().map(|(k, _)| k).collect();
        for name in self.dir_names()? {
            if is_address(&name)
                && fs::symlink_metadata(self.join(&name)).is_ok_and(|m| m.is_file())
            {
                out.push(name);
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// `fdatasync` of the index: every record set or removed so far is
    /// durable.
    pub fn sync_index(&self) -> Result<(), StoreError> {
        Ok(self.table().sync()?)
    }
}

/// `flock(2)`, retried when interrupted.
pub fn flock(f: &File, op: libc::c_int) -> std::io::Result<()> {
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
