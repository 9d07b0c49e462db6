//! How a change is made: the record into the journal first (the commit
//! point), then the links; and how what a crash interrupted is completed
//! (same boot) or replayed (after a reboot). See the parent module's
//! documentation for the argument.

use std::net::IpAddr;

use super::journal::{Checkpoint, JournalError, Record, SLOTS};
use super::{NetworkStore, Owner, PENDING, StoreError, join_ips, parse_ips};

impl NetworkStore {
    /// Makes the owner whose link is `owner_link` hold exactly `ips`
    /// (nothing, if empty): the record is written to the journal, then
    /// applied to the links, then the lock file names it as applied (with
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
        match self.journal.write(&record) {
            Ok(()) => {}
            Err(JournalError::TooLarge { .. }) => return self.commit_without_record(&record),
            Err(e) => return Err(e.into()),
        }
        self.step();
        self.apply(&record)?;
        self.state.tail = seq;
        self.save_state()
    }

    /// A change too large for a journal block: applied directly and made
    /// durable with a directory `fsync`; the checkpoint then moves past
    /// every record, so that no older record of this owner is replayed over
    /// it. The owner link comes last, so a crash leaves only debris.
    fn commit_without_record(&mut self, record: &Record) -> Result<(), StoreError> {
        self.apply(record)?;
        self.checkpoint()
    }

    /// Makes the links agree with `record`, whatever they were: the owner's
    /// other address links are removed, its address links are set (an
    /// address link naming someone else is replaced; a foreign file is
    /// left, and the reservation is then incomplete), and the owner link
    /// is set last (removed if the record holds nothing). Idempotent.
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
    /// is now lost); makes the directory durable and moves the checkpoint.
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

    /// Makes the directory durable (`fsync`), then moves the journal's
    /// checkpoint to the last record applied (written into the older header
    /// copy and synced), then saves the state.
    pub(super) fn checkpoint(&mut self) -> Result<(), StoreError> {
        self.dir.sync()?;
        let generation = self.journal.checkpoint()?.map_or(0, |c| c.generation) + 1;
        self.journal.write_checkpoint(Checkpoint {
            generation,
            seq: self.state.tail,
        })?;
        self.state.checkpoint = self.state.tail;
        self.save_state()
    }

    /// Rolls back an ADD of an older version that did not reach its commit
    /// point (the removal of `.pending -> owner:… addresses`), and makes the
    /// rollback durable.
    pub(super) fn undo_legacy_add(&mut self) -> Result<(), StoreError> {
        let target = match self.dir.entry(PENDING)? {
            super::Entry::Absent => return Ok(()),
            super::Entry::Link(t) => t,
            _ => String::new(),
        };
        if let Some((owner_link, ips)) = target.split_once(' ') {
            // That ADD released the owner's old reservation before it wrote
            // `.pending`, so every link naming this owner is the failed ADD's.
            for ip in parse_ips(ips).unwrap_or_default() {
                self.dir.remove_if_owned(&ip, owner_link)?;
            }
            if Owner::from_link_name(owner_link).is_some() {
                self.dir.remove(owner_link)?;
            }
        }
        self.dir.remove(PENDING)?;
        self.dir.sync()
    }
}
