//! The index: a hash table in one file, mapping the names of the records
//! (`owner:<containerID>:<ifname>`, addresses) to their values, as a
//! directory of symbolic links would, but without creating or removing a
//! file per change. Creating a file is a change to the file system's own
//! journal (an inode, a directory block, bitmaps), and while the file system
//! commits, such a change can wait for the commit; writing into a file that
//! exists changes only the page cache.
//!
//! # Layout
//!
//! ```text
//! 0..4096                  header: b"cn2idx01", the number of slots (a power of two), CRC-32C
//! 4096 + 512 * i           slot i
//! ```
//!
//! A slot is 512 bytes, one disk sector, so a torn write damages at most the
//! slot being written:
//!
//! ```text
//! 0..4     CRC-32C of bytes 4..10 + key + value
//! 4        kind: 1 an entry, 2 a removed entry
//! 6..8     key length, little endian
//! 8..10    value length
//! 10..     key, value
//! ```
//!
//! An all-zero slot is empty. A key's slot is found by linear probing from
//! `FNV-1a(key) mod slots`, up to the first empty slot. Removing an entry
//! leaves a removed-entry slot (so probing goes on past it); a slot that is
//! neither empty nor valid (a torn write) counts as removed. Writing a key
//! removes any other entry with the same key on its probe sequence: after a
//! power loss, slots written at different moments can both hold a key.
//!
//! The file is sparse (never-written slots are holes) and is not synced by
//! each change: the journal makes changes durable. The index is synced at
//! each checkpoint; when probe sequences grow long it is rebuilt into a new
//! file, synced and renamed into place.

use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::journal::crc32c;

/// The index's file name in the network directory.
pub const FILE: &str = "index";
/// The name a new index is built under before it is renamed into place.
pub const NEW_FILE: &str = "index.new";

const HEADER: u64 = 4096;
const SLOT: usize = 512;
const MAGIC: &[u8; 8] = b"cn2idx01";
/// The fewest slots an index has.
const MIN_SLOTS: u64 = 1024;
/// A probe sequence longer than this asks for a rebuild.
const LONG_PROBE: u64 = 48;
const LIVE: u8 = 1;
const DEAD: u8 = 2;

/// Whether `key` and `value` fit in one slot.
pub fn fits(key: &str, value: &str) -> bool {
    10 + key.len() + value.len() <= SLOT
}

/// Errors of the index.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
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
    /// A key and value do not fit in one slot.
    #[error("{key:?} and its value take {len} bytes; at most {} fit", SLOT - 10)]
    TooLarge {
        /// The key.
        key: String,
        /// Key and value length.
        len: usize,
    },
    /// The index file is not an index.
    #[error("{path}: not an index (bad header)")]
    BadHeader {
        /// The file.
        path: PathBuf,
    },
    /// Every slot is taken (the caller rebuilds the index).
    #[error("the index is full")]
    Full,
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> TableError + 'a {
    move |source| TableError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// What a slot holds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Slot {
    Empty,
    /// Removed, or damaged: probing continues past it.
    Dead,
    Live(String, String),
}

fn encode(kind: u8, key: &str, value: &str) -> Vec<u8> {
    let mut s = vec![0u8; SLOT];
    s[4] = kind;
    s[6..8].copy_from_slice(&(key.len() as u16).to_le_bytes());
    s[8..10].copy_from_slice(&(value.len() as u16).to_le_bytes());
    s[10..10 + key.len()].copy_from_slice(key.as_bytes());
    s[10 + key.len()..10 + key.len() + value.len()].copy_from_slice(value.as_bytes());
    let crc = crc32c(&[&s[4..10 + key.len() + value.len()]]);
    s[0..4].copy_from_slice(&crc.to_le_bytes());
    s
}

fn decode(s: &[u8]) -> Slot {
    if s[..10].iter().all(|&b| b == 0) {
        return Slot::Empty;
    }
    let klen = u16::from_le_bytes([s[6], s[7]]) as usize;
    let vlen = u16::from_le_bytes([s[8], s[9]]) as usize;
    let end = 10 + klen + vlen;
    if end > SLOT || u32::from_le_bytes([s[0], s[1], s[2], s[3]]) != crc32c(&[&s[4..end]]) {
        return Slot::Dead;
    }
    match s[4] {
        LIVE => {
            let key = std::str::from_utf8(&s[10..10 + klen]);
            let value = std::str::from_utf8(&s[10 + klen..end]);
            match (key, value) {
                (Ok(k), Ok(v)) => Slot::Live(k.to_string(), v.to_string()),
                _ => Slot::Dead,
            }
        }
        _ => Slot::Dead,
    }
}

fn hash(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn header(slots: u64) -> Vec<u8> {
    let mut h = vec![0u8; HEADER as usize];
    h[0..8].copy_from_slice(MAGIC);
    h[8..16].copy_from_slice(&slots.to_le_bytes());
    let crc = crc32c(&[&h[0..16]]);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
    h
}

/// An open index.
#[derive(Debug)]
pub struct Table {
    file: File,
    path: PathBuf,
    slots: u64,
    long_probe: std::cell::Cell<bool>,
}

impl Table {
    /// Opens the index in `dir`; `None` if there is none.
    pub fn open(dir: &Path) -> Result<Option<Table>, TableError> {
        let path = dir.join(FILE);
        let file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("open", &path)(e)),
        };
        let mut h = vec![0u8; 20];
        file.read_exact_at(&mut h, 0).map_err(io("read", &path))?;
        let slots = u64::from_le_bytes(h[8..16].try_into().expect("8 bytes"));
        if &h[0..8] != MAGIC
            || u32::from_le_bytes(h[16..20].try_into().expect("4 bytes")) != crc32c(&[&h[0..16]])
            || !slots.is_power_of_two()
        {
            return Err(TableError::BadHeader { path });
        }
        Ok(Some(Table {
            file,
            path,
            slots,
            long_probe: std::cell::Cell::new(false),
        }))
    }

    /// Builds an index holding `entries` under [`NEW_FILE`], syncs it,
    /// renames it into place and syncs the directory (`dir_handle`): when
    /// this returns, the new index is durable.
    pub fn build(
        dir: &Path,
        dir_handle: &File,
        entries: &[(String, String)],
    ) -> Result<Table, TableError> {
        let slots = (entries.len() as u64 * 3)
            .max(MIN_SLOTS)
            .next_power_of_two();
        let tmp = dir.join(NEW_FILE);
        let file = super::private_file(&tmp, true).map_err(io("create", &tmp))?;
        file.set_len(HEADER + slots * SLOT as u64)
            .map_err(io("truncate", &tmp))?;
        file.write_all_at(&header(slots), 0)
            .map_err(io("write", &tmp))?;
        let mut table = Table {
            file,
            path: tmp.clone(),
            slots,
            long_probe: std::cell::Cell::new(false),
        };
        for (k, v) in entries {
            table.put(k, v)?;
        }
        table.file.sync_all().map_err(io("fsync", &tmp))?;
        let path = dir.join(FILE);
        fs::rename(&tmp, &path).map_err(io("rename", &tmp))?;
        dir_handle.sync_all().map_err(io("fsync", dir))?;
        table.path = path;
        table.long_probe.set(false);
        Ok(table)
    }

    fn read_slot(&self, i: u64) -> Result<Slot, TableError> {
        let mut s = [0u8; SLOT];
        self.file
            .read_exact_at(&mut s, HEADER + i * SLOT as u64)
            .map_err(io("read", &self.path))?;
        Ok(decode(&s))
    }

    fn write_slot(&self, i: u64, bytes: &[u8]) -> Result<(), TableError> {
        self.file
            .write_all_at(bytes, HEADER + i * SLOT as u64)
            .map_err(io("write", &self.path))
    }

    /// Visits `key`'s probe sequence up to the first empty slot (or the
    /// whole table): each slot's index and content.
    fn probe(
        &self,
        key: &str,
        mut visit: impl FnMut(u64, &Slot) -> Result<bool, TableError>,
    ) -> Result<Option<u64>, TableError> {
        let mask = self.slots - 1;
        let start = hash(key) & mask;
        for n in 0..self.slots {
            let i = (start + n) & mask;
            let slot = self.read_slot(i)?;
            if n == LONG_PROBE {
                self.long_probe.set(true);
            }
            if slot == Slot::Empty {
                return Ok(Some(i));
            }
            if !visit(i, &slot)? {
                return Ok(None);
            }
        }
        Ok(None)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Result<Option<String>, TableError> {
        let mut found = None;
        self.probe(key, |_, slot| match slot {
            Slot::Live(k, v) if k == key => {
                found = Some(v.clone());
                Ok(false)
            }
            _ => Ok(true),
        })?;
        Ok(found)
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: &str, value: &str) -> Result<(), TableError> {
        if !fits(key, value) {
            return Err(TableError::TooLarge {
                key: key.to_string(),
                len: key.len() + value.len(),
            });
        }
        let mut holders = Vec::new();
        let mut free = None;
        let mut current = false;
        let empty = self.probe(key, |i, slot| {
            match slot {
                Slot::Live(k, v) if k == key => {
                    if holders.is_empty() && v == value {
                        current = true;
                    }
                    holders.push(i);
                }
                Slot::Dead if free.is_none() => free = Some(i),
                _ => {}
            }
            Ok(true)
        })?;
        let bytes = encode(LIVE, key, value);
        let target = match holders.first() {
            Some(&i) => i,
            None => free.or(empty).ok_or(TableError::Full)?,
        };
        if !current {
            self.write_slot(target, &bytes)?;
        }
        for &i in holders.iter().skip(1) {
            self.write_slot(i, &encode(DEAD, "", ""))?;
        }
        Ok(())
    }

    /// Removes `key` (every entry of it); whether there was one.
    pub fn remove(&mut self, key: &str) -> Result<bool, TableError> {
        let mut holders = Vec::new();
        self.probe(key, |i, slot| {
            if matches!(slot, Slot::Live(k, _) if k == key) {
                holders.push(i);
            }
            Ok(true)
        })?;
        for &i in &holders {
            self.write_slot(i, &encode(DEAD, "", ""))?;
        }
        Ok(!holders.is_empty())
    }

    /// Every entry (a key written twice, as a power loss can leave it,
    /// once: the one a lookup finds).
    pub fn scan(&self) -> Result<Vec<(String, String)>, TableError> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; SLOT * 64];
        let mut i = 0;
        while i < self.slots {
            let n = (self.slots - i).min(64) as usize;
            self.file
                .read_exact_at(&mut buf[..n * SLOT], HEADER + i * SLOT as u64)
                .map_err(io("read", &self.path))?;
            for s in buf[..n * SLOT].chunks(SLOT) {
                if let Slot::Live(k, v) = decode(s) {
                    out.push((k, v));
                }
            }
            i += n as u64;
        }
        out.sort();
        out.dedup_by(|a, b| a.0 == b.0);
        let mut found = Vec::with_capacity(out.len());
        for (k, _) in out {
            if let Some(v) = self.get(&k)? {
                found.push((k, v));
            }
        }
        Ok(found)
    }

    /// Whether a probe sequence was long: the index should be rebuilt.
    pub fn wants_rebuild(&self) -> bool {
        self.long_probe.get()
    }

    /// `fdatasync` of the index.
    pub fn sync(&self) -> Result<(), TableError> {
        self.file.sync_data().map_err(io("fdatasync", &self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_set_found_replaced_and_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let d = File::open(tmp.path()).unwrap();
        let mut t = Table::build(tmp.path(), &d, &[("a".into(), "1".into())]).unwrap();
        assert!(!tmp.path().join(NEW_FILE).exists());
        assert_eq!(t.get("a").unwrap().as_deref(), Some("1"));
        assert_eq!(t.get("b").unwrap(), None);
        // Many keys, so probe sequences collide.
        for i in 0..900 {
            t.put(&format!("k{i}"), &format!("v{i}")).unwrap();
        }
        t.put("k5", "new").unwrap();
        assert_eq!(t.get("k5").unwrap().as_deref(), Some("new"));
        for i in (0..900).step_by(2) {
            assert!(t.remove(&format!("k{i}")).unwrap());
        }
        assert!(!t.remove("k0").unwrap());
        for i in 0..900 {
            let want = (i % 2 == 1).then(|| {
                if i == 5 {
                    "new".into()
                } else {
                    format!("v{i}")
                }
            });
            assert_eq!(t.get(&format!("k{i}")).unwrap(), want, "k{i}");
        }
        assert_eq!(t.scan().unwrap().len(), 451);
        let t2 = Table::open(tmp.path()).unwrap().unwrap();
        assert_eq!(t2.get("k7").unwrap().as_deref(), Some("v7"));
        assert!(matches!(
            t.put(&"x".repeat(300), &"y".repeat(300)),
            Err(TableError::TooLarge { .. })
        ));
    }

    #[test]
    fn a_torn_slot_is_skipped_and_a_duplicate_key_is_removed_when_written() {
        let tmp = tempfile::tempdir().unwrap();
        let d = File::open(tmp.path()).unwrap();
        let mut t = Table::build(tmp.path(), &d, &[]).unwrap();
        // Three keys on one probe sequence: find where they landed.
        let mut keys = Vec::new();
        let mut i = 0;
        while keys.len() < 3 {
            let k = format!("key{i}");
            if hash(&k) & (t.slots - 1) == hash("key0") & (t.slots - 1) {
                keys.push(k);
            }
            i += 1;
        }
        for k in &keys {
            t.put(k, "v").unwrap();
        }
        let home = hash(&keys[0]) & (t.slots - 1);
        // The first slot torn: the others are still found past it.
        t.file
            .write_all_at(b"torn", HEADER + home * SLOT as u64 + 12)
            .unwrap();
        assert_eq!(t.get(&keys[0]).unwrap(), None);
        assert_eq!(t.get(&keys[2]).unwrap().as_deref(), Some("v"));
        // An older copy of keys[2] behind the newer one (as slots from two
        // moments can leave it): writing the key removes the other copy.
        let next = (home + 3) & (t.slots - 1);
        t.write_slot(next, &encode(LIVE, &keys[2], "old")).unwrap();
        t.put(&keys[2], "w").unwrap();
        assert_eq!(t.read_slot(next).unwrap(), Slot::Dead);
        assert_eq!(t.get(&keys[2]).unwrap().as_deref(), Some("w"));
        t.remove(&keys[2]).unwrap();
        assert_eq!(t.get(&keys[2]).unwrap(), None);
        assert_eq!(t.scan().unwrap(), vec![(keys[1].clone(), "v".into())]);
    }
}
