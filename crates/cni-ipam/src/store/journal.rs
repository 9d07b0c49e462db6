//! The journal: a fixed-size, preallocated file in which every change to a
//! network's reservations is made durable before the plugin answers.
//!
//! # Why a journal
//!
//! Making a change durable by itself would take syncing the index (see
//! `table`), which is sparse and grows: a sync that allocates blocks is a
//! commit of the file system's journal, every metadata change of every
//! process on that file system, often several milliseconds. Overwriting a
//! block inside a file whose blocks are already allocated and written
//! changes no metadata that `fdatasync` must flush (the size and the
//! allocation stay the same; timestamps are not flushed by `fdatasync`), so
//! `pwrite` + `fdatasync` of one block writes that block and flushes the
//! disk's cache, and nothing else.
//!
//! # Layout
//!
//! ```text
//! block 0, 1       header copies: the checkpoint (see below), written alternately
//! block 2 + s % N  the slot of record s (N = SLOTS)
//! ```
//!
//! Every block is 4096 bytes, so a record never shares a block (or a page)
//! with another one, and a torn write can damage only the record being
//! written. Each block starts with:
//!
//! ```text
//! 0..8    magic (b"cn2jhdr1" or b"cn2jrec1")
//! 8..16   generation (header) or sequence number (record), little endian
//! 16..20  payload length, little endian
//! 20..24  CRC-32C of bytes 0..20 and the payload
//! 24..    payload
//! ```
//!
//! A header's payload is the checkpoint, a little-endian `u64`; a record's is
//! `<owner record name>\n<address>,<address>…` (no addresses: the owner holds
//! nothing). A block whose magic, length or checksum does not match is not a
//! block at all: that is how a torn write is recognised.
//!
//! # Checkpoints
//!
//! The checkpoint `c` says that the index's state up to and including
//! record `c` is durable on its own, so records up to `c` are not needed
//! any more and their slots may be reused. It is written (after the index
//! is synced) before a slot that still holds a needed record is overwritten.
//! The two header copies take turns, and the valid one with the higher
//! generation counts, so a torn header write leaves the previous checkpoint.

use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::net::IpAddr;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The journal's file name in the network directory.
pub const FILE: &str = "journal";
/// The name a new journal is built under before it is renamed into place.
pub const NEW_FILE: &str = "journal.new";
/// The number of record slots: a checkpoint is needed once per `SLOTS`
/// records.
pub const SLOTS: u64 = 128;

const BLOCK: usize = 4096;
const HEADERS: u64 = 2;
const PREFIX: usize = 24;
const HEADER_MAGIC: &[u8; 8] = b"cn2jhdr1";
const RECORD_MAGIC: &[u8; 8] = b"cn2jrec1";

/// Errors of the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
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
    /// A record does not fit in one block.
    #[error("a journal record of {len} bytes does not fit in a {BLOCK}-byte block")]
    TooLarge {
        /// The payload's length.
        len: usize,
    },
}

/// One change: from record `seq` on, the owner whose record is named `owner`
/// holds exactly `ips` (none: it holds nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The sequence number; consecutive, starting at 1.
    pub seq: u64,
    /// The owner record's name.
    pub owner: String,
    /// The owner's addresses.
    pub ips: Vec<IpAddr>,
}

impl Record {
    fn payload(&self) -> String {
        let ips: Vec<String> = self.ips.iter().map(IpAddr::to_string).collect();
        format!("{}\n{}", self.owner, ips.join(","))
    }

    fn parse(seq: u64, payload: &[u8]) -> Option<Record> {
        let text = std::str::from_utf8(payload).ok()?;
        let (owner, ips) = text.split_once('\n')?;
        let ips = if ips.is_empty() {
            Vec::new()
        } else {
            ips.split(',')
                .map(|a| a.parse().ok())
                .collect::<Option<Vec<_>>>()?
        };
        Some(Record {
            seq,
            owner: owner.to_string(),
            ips,
        })
    }
}

/// The CRC-32C (Castagnoli) lookup table.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82f6_3b78
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC-32C of the concatenation of `parts`.
pub fn crc32c(parts: &[&[u8]]) -> u32 {
    let mut c = !0u32;
    for part in parts {
        for &b in *part {
            c = CRC_TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
        }
    }
    !c
}

/// Encodes a block: magic, number, payload, checksum; zero-padded.
fn encode(magic: &[u8; 8], number: u64, payload: &[u8]) -> Result<Vec<u8>, JournalError> {
    if payload.len() > BLOCK - PREFIX {
        return Err(JournalError::TooLarge { len: payload.len() });
    }
    let mut block = vec![0u8; BLOCK];
    block[0..8].copy_from_slice(magic);
    block[8..16].copy_from_slice(&number.to_le_bytes());
    block[16..20].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    let crc = crc32c(&[&block[0..20], payload]);
    block[20..24].copy_from_slice(&crc.to_le_bytes());
    block[PREFIX..PREFIX + payload.len()].copy_from_slice(payload);
    Ok(block)
}

/// Decodes a block written by [`encode`] with `magic`: its number and
/// payload, or `None` for anything else (zeros, another kind, a torn write).
fn decode<'a>(magic: &[u8; 8], block: &'a [u8]) -> Option<(u64, &'a [u8])> {
    if block.len() < PREFIX || &block[0..8] != magic {
        return None;
    }
    let number = u64::from_le_bytes(block[8..16].try_into().ok()?);
    let len = u32::from_le_bytes(block[16..20].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(block[20..24].try_into().ok()?);
    let payload = block.get(PREFIX..PREFIX + len)?;
    (crc32c(&[&block[0..20], payload]) == crc).then_some((number, payload))
}

/// The checkpoint a valid header holds, with the header's generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// Incremented by every header write; the higher valid copy counts.
    pub generation: u64,
    /// The last record whose effect is durable in the index itself.
    pub seq: u64,
}

/// An open journal file.
#[derive(Debug)]
pub struct Journal {
    file: File,
    path: PathBuf,
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> JournalError + 'a {
    move |source| JournalError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

impl Journal {
    /// Opens the journal in `dir`; `None` if there is none yet.
    pub fn open(dir: &Path) -> Result<Option<Journal>, JournalError> {
        let path = dir.join(FILE);
        match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(file) => Ok(Some(Journal { file, path })),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("open", &path)(e)),
        }
    }

    /// Creates the journal in `dir` with checkpoint 0 and every block
    /// written (so that later overwrites allocate nothing): built under
    /// [`NEW_FILE`], synced, renamed into place, and the directory synced
    /// through `dir_handle`. The index must be durable already: its state
    /// is what checkpoint 0 stands for.
    pub fn create(dir: &Path, dir_handle: &File) -> Result<Journal, JournalError> {
        let tmp = dir.join(NEW_FILE);
        let path = dir.join(FILE);
        let file = super::private_file(&tmp, true).map_err(io("create", &tmp))?;
        let mut image = vec![0u8; BLOCK * (HEADERS + SLOTS) as usize];
        let header = encode(HEADER_MAGIC, 1, &0u64.to_le_bytes())?;
        image[BLOCK..2 * BLOCK].copy_from_slice(&header);
        file.write_all_at(&image, 0).map_err(io("write", &tmp))?;
        file.sync_all().map_err(io("fsync", &tmp))?;
        fs::rename(&tmp, &path).map_err(io("rename", &tmp))?;
        dir_handle.sync_all().map_err(io("fsync", dir))?;
        Ok(Journal { file, path })
    }

    fn read_block(&self, index: u64) -> Result<Vec<u8>, JournalError> {
        let mut block = vec![0u8; BLOCK];
        let mut done = 0;
        while done < BLOCK {
            let n = self
                .file
                .read_at(&mut block[done..], index * BLOCK as u64 + done as u64)
                .map_err(io("read", &self.path))?;
            if n == 0 {
                // A short file: the rest reads as zeros, which decode rejects.
                break;
            }
            done += n;
        }
        Ok(block)
    }

    fn slot(seq: u64) -> u64 {
        HEADERS + seq % SLOTS
    }

    /// Record `seq`, if its slot holds it, whole.
    pub fn read(&self, seq: u64) -> Result<Option<Record>, JournalError> {
        let block = self.read_block(Self::slot(seq))?;
        Ok(decode(RECORD_MAGIC, &block)
            .filter(|(n, _)| *n == seq)
            .and_then(|(n, payload)| Record::parse(n, payload)))
    }

    /// Every whole record in the journal, in no particular order.
    pub fn scan(&self) -> Result<Vec<Record>, JournalError> {
        let mut out = Vec::new();
        for slot in 0..SLOTS {
            let block = self.read_block(HEADERS + slot)?;
            if let Some((seq, payload)) = decode(RECORD_MAGIC, &block) {
                if Self::slot(seq) == HEADERS + slot {
                    out.extend(Record::parse(seq, payload));
                }
            }
        }
        Ok(out)
    }

    /// Writes `record` into its slot (into the page cache: [`Journal::sync`]
    /// makes it durable).
    pub fn write(&self, record: &Record) -> Result<(), JournalError> {
        let block = encode(RECORD_MAGIC, record.seq, record.payload().as_bytes())?;
        self.file
            .write_all_at(&block, Self::slot(record.seq) * BLOCK as u64)
            .map_err(io("write", &self.path))
    }

    /// Zeroes the slot of record `seq` (a record that must never be
    /// replayed).
    pub fn clear(&self, seq: u64) -> Result<(), JournalError> {
        self.file
            .write_all_at(&[0u8; BLOCK], Self::slot(seq) * BLOCK as u64)
            .map_err(io("write", &self.path))
    }

    /// The valid header with the highest generation, if any.
    pub fn checkpoint(&self) -> Result<Option<Checkpoint>, JournalError> {
        let mut best: Option<Checkpoint> = None;
        for index in 0..HEADERS {
            let block = self.read_block(index)?;
            let Some((generation, payload)) = decode(HEADER_MAGIC, &block) else {
                continue;
            };
            let Ok(seq) = <[u8; 8]>::try_from(payload).map(u64::from_le_bytes) else {
                continue;
            };
            if best.is_none_or(|b| generation > b.generation) {
                best = Some(Checkpoint { generation, seq });
            }
        }
        Ok(best)
    }

    /// Writes `checkpoint` into the header copy its generation selects and
    /// makes the journal durable. The caller must have made the index
    /// durable up to `checkpoint.seq` first.
    pub fn write_checkpoint(&self, checkpoint: Checkpoint) -> Result<(), JournalError> {
        let block = encode(
            HEADER_MAGIC,
            checkpoint.generation,
            &checkpoint.seq.to_le_bytes(),
        )?;
        self.file
            .write_all_at(&block, (checkpoint.generation % HEADERS) * BLOCK as u64)
            .map_err(io("write", &self.path))?;
        self.sync()
    }

    /// `fdatasync`: every record written so far, by this process or any
    /// other, is durable when this returns.
    pub fn sync(&self) -> Result<(), JournalError> {
        self.file.sync_data().map_err(io("fdatasync", &self.path))
    }

    /// A second handle on the same journal (a duplicated descriptor): its
    /// [`Journal::sync`] flushes what either handle wrote.
    pub fn try_clone(&self) -> Result<Journal, JournalError> {
        Ok(Journal {
            file: self.file.try_clone().map_err(io("dup", &self.path))?,
            path: self.path.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        assert_eq!(crc32c(&[b"123456789"]), 0xe306_9283);
        assert_eq!(crc32c(&[b"1234", b"56789"]), 0xe306_9283);
    }

    fn record(seq: u64, ips: &[&str]) -> Record {
        Record {
            seq,
            owner: "owner:c1:eth0".into(),
            ips: ips.iter().map(|a| a.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn records_round_trip_and_torn_ones_are_rejected() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = File::open(tmp.path()).unwrap();
        let j = Journal::create(tmp.path(), &dir).unwrap();
        assert_eq!(
            j.checkpoint().unwrap(),
            Some(Checkpoint {
                generation: 1,
                seq: 0
            })
        );
        assert!(j.scan().unwrap().is_empty());
        let r = record(5, &["10.0.0.2", "fd00::2"]);
        j.write(&r).unwrap();
        j.write(&record(6, &[])).unwrap();
        assert_eq!(j.read(5).unwrap(), Some(r.clone()));
        assert_eq!(j.read(6).unwrap(), Some(record(6, &[])));
        // The slot of 5 + SLOTS holds 5, not 5 + SLOTS.
        assert_eq!(j.read(5 + SLOTS).unwrap(), None);
        // A torn write: any byte of the used part changed.
        let mut block = encode(RECORD_MAGIC, 5, r.payload().as_bytes()).unwrap();
        for i in [0, 9, 17, 21, 30] {
            block[i] ^= 0x40;
            assert!(decode(RECORD_MAGIC, &block).is_none(), "byte {i}");
            block[i] ^= 0x40;
        }
        assert!(decode(RECORD_MAGIC, &block).is_some());
        assert!(decode(HEADER_MAGIC, &block).is_none());
        j.clear(5).unwrap();
        assert_eq!(j.read(5).unwrap(), None);
        assert_eq!(j.scan().unwrap(), vec![record(6, &[])]);
        assert!(matches!(
            j.write(&Record {
                seq: 7,
                owner: "x".repeat(BLOCK),
                ips: vec![]
            }),
            Err(JournalError::TooLarge { .. })
        ));
    }

    #[test]
    fn the_newer_valid_header_counts() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = File::open(tmp.path()).unwrap();
        let j = Journal::create(tmp.path(), &dir).unwrap();
        let c2 = Checkpoint {
            generation: 2,
            seq: 40,
        };
        j.write_checkpoint(c2).unwrap();
        assert_eq!(j.checkpoint().unwrap(), Some(c2));
        j.write_checkpoint(Checkpoint {
            generation: 3,
            seq: 90,
        })
        .unwrap();
        assert_eq!(j.checkpoint().unwrap().unwrap().seq, 90);
        // Tear the newer copy (block 1): the older one stands.
        j.file.write_all_at(&[0xff; 16], BLOCK as u64 + 8).unwrap();
        assert_eq!(j.checkpoint().unwrap(), Some(c2));
        assert!(!tmp.path().join(NEW_FILE).exists());
        assert_eq!(
            fs::metadata(tmp.path().join(FILE)).unwrap().len(),
            BLOCK as u64 * (HEADERS + SLOTS)
        );
    }
}
