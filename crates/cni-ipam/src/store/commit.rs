//! How a change is made: the record into the journal first (the commit
//! point), then the index; and how what a crash interrupted is completed
//! (same boot) or replayed (after a reboot). See the parent module's
//! documentation for the argument.

use std::net::IpAddr;

use super::journal::{Checkpoint, Record, SLOTS};
use super::table::{self, TableError};
use super::{NetworkStore, Owner, StoreError, join_ips, parse_ips};

/// The index entries a record makes: the owner's, and each address's.
fn index_entries(owner_link: &str, ips: &[IpAddr]) -> Vec<(String, String)> {
    let mut out = vec![(owner_link.to_string(), join_ips(ips))];
    out.extend(ips.iter().map(|a| (a.to_string(), owner_link.to_string())));
    out
}

impl NetworkStore {
    /// Makes the owner whose link is `owner_link` hold exactly `ips`
    /// (nothing, if empty): the record is written to the journal, then
    /// applied to the index, then the lock file names it as applied (with
    /// the hints). Durable once the journal is synced (at close).
    pub(super) fn commit(&mut self, owner_link: &str, ips: &[IpAddr]) -> Result<(), StoreError> {
        let seq = self.state.tail + 1;
        if seq.saturating_sub(self.state.checkpoint) > SLOTS {
            // The slot still holds a record the checkpoint does not cover.
            self.checkpoint()?;
        }
        let record = Record {
            seq,
            owner: owner_link.to_string(),
            ips: ips.to_vec(),
        };
        // Refused before the commit point: a record that could not be
        // applied would be retried by every later operation.
        for (key, value) in index_entries(owner_link, ips) {
            if !table::fits(&key, &value) {
                return Err(TableError::TooLarge {
                    len: key.len() + value.len(),
                    key,
                }
                .into());
            }
        }
        self.journal.write(&record)?;
        self.step();
        self.apply(&record)?;
        self.state.tail = seq;
        self.save_state()
    }

    /// Makes the index agree with `record`, whatever it held: the owner's
    /// other address records are removed, its address records are set (one
    /// naming someone else is replaced; a foreign file is left, and the
    /// reservation is then incomplete), and the owner record is set last
    /// (removed if the record holds nothing). Idempotent.
    pub(super) fn apply(&mut self, record: &Record) -> Result<(), StoreError> {
        let link = &record.owner;
        if Owner::from_link_name(link).is_none_or(|o| o.link_name() != *link) {
            // Not a name this store writes; there is nothing it may touch.
            return Ok(());
        }
        let old = match self.dir.entry(link)? {
            super::Entry::Link(t) => parse_ips(&t).unwrap_or_default(),
            _ => Vec::new(),
        };
        for a in old.iter().filter(|a| !record.ips.contains(a)) {
            self.dir.remove_if_owned(a, link)?;
        }
        for a in &record.ips {
            self.dir.set_link(link, &a.to_string())?;
            self.step();
        }
        if record.ips.is_empty() {
            self.dir.remove(link)
        } else {
            self.dir.set_link(&join_ips(&record.ips), link).map(|_| ())
        }
    }

    /// Same boot: applies the records a killed process wrote but did not
    /// note as applied.
    pub(super) fn roll_forward(&mut self) -> Result<(), StoreError> {
        while let Some(record) = self.journal.read(self.state.tail + 1)? {
            self.apply(&record)?;
            self.state.tail = record.seq;
            self.save_state()?;
        }
        Ok(())
    }

    /// After a reboot (or when the lock file cannot tell): replays every
    /// record after the checkpoint, in order, up to the first gap; erases
    /// the records after the gap (never answered, and based on a state that
    /// is now lost); makes the index durable and moves the checkpoint.
    pub(super) fn recover(&mut self) -> Result<(), StoreError> {
        let base = self.journal.checkpoint()?.map_or(0, |c| c.seq);
        let mut records = self.journal.scan()?;
        records.retain(|r| r.seq > base);
        records.sort_by_key(|r| r.seq);
        let mut tail = base;
        for record in &records {
            if record.seq != tail + 1 {
                break;
            }
            self.apply(record)?;
            tail = record.seq;
        }
        for record in records.iter().filter(|r| r.seq > tail) {
            self.journal.clear(record.seq)?;
        }
        self.state.tail = tail;
        self.checkpoint()
    }

    /// Makes the index durable (`fdatasync`), then moves the journal's
    /// checkpoint to the last record applied (written into the older header
    /// copy and synced), then saves the state.
    pub(super) fn checkpoint(&mut self) -> Result<(), StoreError> {
        self.dir.sync_index()?;
        let generation = self.journal.checkpoint()?.map_or(0, |c| c.generation) + 1;
        self.journal.write_checkpoint(Checkpoint {
            generation,
            seq: self.state.tail,
        })?;
        self.state.checkpoint = self.state.tail;
        self.save_state()
    }
}
