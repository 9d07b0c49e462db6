//! Where allocations are kept between runs.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::IpamError;
use super::allocator::Allocation;

/// Persistence for an [`Allocator`](super::Allocator).
///
/// The allocator calls [`Store::load`] once, then [`Store::put`] and
/// [`Store::remove`] for every change, and [`Store::flush`] when a batch of
/// changes is complete. A store that writes through on every call may make
/// `flush` a no-op.
pub trait Store {
    /// Every allocation recorded so far.
    fn load(&mut self) -> Result<Vec<Allocation>, IpamError>;
    /// Records that `owner` holds `address` in `pool` (replacing any record
    /// of the same pool and owner).
    fn put(&mut self, pool: &str, owner: &str, address: IpAddr) -> Result<(), IpamError>;
    /// Forgets the allocation of `owner` in `pool`.
    fn remove(&mut self, pool: &str, owner: &str) -> Result<(), IpamError>;
    /// Makes every change so far durable.
    fn flush(&mut self) -> Result<(), IpamError>;
}

/// A store that keeps nothing: allocations live as long as the allocator.
#[derive(Debug, Default, Clone, Copy)]
pub struct MemoryStore;

impl Store for MemoryStore {
    fn load(&mut self) -> Result<Vec<Allocation>, IpamError> {
        Ok(Vec::new())
    }
    fn put(&mut self, _: &str, _: &str, _: IpAddr) -> Result<(), IpamError> {
        Ok(())
    }
    fn remove(&mut self, _: &str, _: &str) -> Result<(), IpamError> {
        Ok(())
    }
    fn flush(&mut self) -> Result<(), IpamError> {
        Ok(())
    }
}

/// A store kept as one JSON file, rewritten atomically on [`Store::flush`]
/// (temporary file, fsync, rename, directory fsync): after a crash the file
/// holds either the previous or the new state, never a mixture.
#[derive(Debug)]
pub struct JsonFileStore {
    path: PathBuf,
    records: BTreeMap<(String, String), Allocation>,
    dirty: bool,
}

impl JsonFileStore {
    /// The store in `dir/allocations.json`; the directory is created if missing.
    pub fn open(dir: &Path) -> Result<JsonFileStore, IpamError> {
        let path = dir.join("allocations.json");
        fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let mut records = BTreeMap::new();
        match fs::read(&path) {
            Ok(bytes) => {
                let list: Vec<Allocation> =
                    serde_json::from_slice(&bytes).map_err(|e| IpamError::Store {
                        path: path.display().to_string(),
                        reason: format!("corrupt state file: {e}"),
                    })?;
                for a in list {
                    records.insert((a.pool.clone(), a.owner.clone()), a);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&path, e)),
        }
        Ok(JsonFileStore {
            path,
            records,
            dirty: false,
        })
    }

    /// The file the store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn io_err(path: &Path, e: std::io::Error) -> IpamError {
    IpamError::Store {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

impl Store for JsonFileStore {
    fn load(&mut self) -> Result<Vec<Allocation>, IpamError> {
        Ok(self.records.values().cloned().collect())
    }

    fn put(&mut self, pool: &str, owner: &str, address: IpAddr) -> Result<(), IpamError> {
        let a = Allocation {
            pool: pool.to_string(),
            owner: owner.to_string(),
            address,
        };
        self.records.insert((a.pool.clone(), a.owner.clone()), a);
        self.dirty = true;
        Ok(())
    }

    fn remove(&mut self, pool: &str, owner: &str) -> Result<(), IpamError> {
        if self
            .records
            .remove(&(pool.to_string(), owner.to_string()))
            .is_some()
        {
            self.dirty = true;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), IpamError> {
        if !self.dirty && self.path.exists() {
            return Ok(());
        }
        let list: Vec<&Allocation> = self.records.values().collect();
        let mut bytes = serde_json::to_vec_pretty(&list).expect("allocations serialise");
        bytes.push(b'\n');
        let tmp = self.path.with_extension("json.tmp");
        let mut f = fs::File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        f.write_all(&bytes).map_err(|e| io_err(&tmp, e))?;
        f.sync_all().map_err(|e| io_err(&tmp, e))?;
        fs::rename(&tmp, &self.path).map_err(|e| io_err(&self.path, e))?;
        if let Some(dir) = self.path.parent() {
            fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io_err(dir, e))?;
        }
        self.dirty = false;
        Ok(())
    }
}
