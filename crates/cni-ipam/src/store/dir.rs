//! The network directory's names: reading, creating and removing the
//! symbolic links that hold the reservations, without ever following one.

use std::fs::{self, File};
use std::io::ErrorKind;
use std::net::IpAddr;
use std::os::unix::fs::symlink;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use super::{StoreError, io};

/// What a name in the network directory is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Nothing.
    Absent,
    /// One of our links, with its target.
    Link(String),
    /// An empty regular file (debris of another tool).
    Empty,
    /// Any other file: someone else's; never touched, never handed out.
    Foreign,
}

/// A network directory, open.
#[derive(Debug)]
pub struct Dir {
    path: PathBuf,
    handle: File,
}

impl Dir {
    /// Opens the directory at `path`; `None` if it does not exist.
    pub fn open(path: PathBuf) -> Result<Option<Dir>, StoreError> {
        match File::open(&path) {
            Ok(handle) => Ok(Some(Dir { path, handle })),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("open", &path)(e)),
        }
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

    /// What `name` is: absent, one of our links (with its target), or a
    /// file we did not write.
    pub fn entry(&self, name: &str) -> Result<Entry, StoreError> {
        let p = self.join(name);
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

    /// Creates the link `name` -> `target`.
    pub fn link(&self, target: &str, name: &str) -> Result<(), StoreError> {
        let p = self.join(name);
        symlink(target, &p).map_err(io("link", &p))
    }

    /// Makes `name` the link -> `target`, replacing one of our links or an
    /// empty file found there; a foreign file is left alone (`false`).
    pub fn set_link(&self, target: &str, name: &str) -> Result<bool, StoreError> {
        match self.entry(name)? {
            Entry::Link(t) if t == target => return Ok(true),
            Entry::Foreign => return Ok(false),
            Entry::Absent => {}
            Entry::Link(_) | Entry::Empty => self.remove(name)?,
        }
        self.link(target, name)?;
        Ok(true)
    }

    /// Removes `name`; a missing name is not an error.
    pub fn remove(&self, name: &str) -> Result<(), StoreError> {
        let p = self.join(name);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("remove", &p)(e)),
        }
    }

    /// Removes the address link `addr` if it names `owner_link`.
    pub fn remove_if_owned(&self, addr: &IpAddr, owner_link: &str) -> Result<bool, StoreError> {
        let name = addr.to_string();
        match self.entry(&name)? {
            Entry::Link(t) if t == owner_link => {
                self.remove(&name)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Every name in the directory.
    pub fn names(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.path).map_err(io("read", &self.path))? {
            let e = e.map_err(io("read", &self.path))?;
            if let Ok(name) = e.file_name().into_string() {
                out.push(name);
            }
        }
        Ok(out)
    }

    /// `fsync` of the directory: every link made or removed so far is
    /// durable (a commit of the file system's journal).
    pub fn sync(&self) -> Result<(), StoreError> {
        self.handle.sync_all().map_err(io("fsync", &self.path))
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
