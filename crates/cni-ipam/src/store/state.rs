//! The network's volatile state, kept in its lock file: the last journal
//! record applied, the journal's checkpoint, and the last address handed out per range set.
//!
//! It is written without any `fsync`: within one boot every process sees
//! the page cache, so what the last operation wrote is what the next one
//! reads. After a reboot it is not trusted (it names the previous boot), and
//! the journal is scanned instead. The last addresses handed out only order
//! the search for a free one, so they are kept across a reboot when they can
//! be read. The note that a range set was found exhausted stands only while
//! nothing has changed since, and not across a reboot.

use std::fs::File;
use std::net::IpAddr;
use std::os::unix::fs::FileExt;

const MAGIC: &str = "cn2-ipam-state 1";
/// The state is padded to this size, so rewriting it seldom changes the
/// file's size.
const PADDED: usize = 512;
const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

/// The volatile state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct State {
    /// The boot the state was written in (`None`: unknown, never trusted).
    pub boot: Option<String>,
    /// The last record applied to the index.
    pub tail: u64,
    /// The journal's checkpoint (a copy: a stale one only brings the next
    /// checkpoint forward).
    pub checkpoint: u64,
    /// The last address handed out, per range set.
    pub hints: Vec<Option<IpAddr>>,
    /// Range sets found exhausted, and when.
    pub full: Vec<Full>,
}

/// A range set found without a free address, with what would change if an
/// address were freed since: the last record applied (any change through the
/// store) and the directory's modification time (any name added or removed,
/// by anyone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full {
    /// The range set's index.
    pub set: usize,
    /// A hash of the range set's configuration.
    pub config: u64,
    /// The last record applied then.
    pub tail: u64,
    /// The directory's modification time then, in nanoseconds.
    pub mtime: i128,
}

impl Full {
    fn parse(text: &str) -> Option<Full> {
        let mut it = text.split(':');
        let full = Full {
            set: it.next()?.parse().ok()?,
            config: u64::from_str_radix(it.next()?, 16).ok()?,
            tail: it.next()?.parse().ok()?,
            mtime: it.next()?.parse().ok()?,
        };
        it.next().is_none().then_some(full)
    }
}

/// This boot's identity, `None` if the kernel does not tell.
pub fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string(BOOT_ID).ok()?;
    let id = id.trim();
    (!id.is_empty() && !id.contains(char::is_whitespace)).then(|| id.to_string())
}

impl State {
    /// The state in `file`, `None` if there is none (an empty lock file, as
    /// older versions left it) or it cannot be read.
    pub fn read(file: &File) -> Option<State> {
        let mut buf = vec![0u8; PADDED];
        let mut len = 0;
        loop {
            if len == buf.len() {
                buf.resize(buf.len() * 2, 0);
            }
            let n = file.read_at(&mut buf[len..], len as u64).ok()?;
            if n == 0 {
                break;
            }
            len += n;
        }
        let end = buf[..len].iter().position(|&b| b == 0).unwrap_or(len);
        let text = std::str::from_utf8(&buf[..end]).ok()?;
        let mut lines = text.lines();
        if lines.next()? != MAGIC {
            return None;
        }
        let boot = match lines.next()? {
            "-" => None,
            b => Some(b.to_string()),
        };
        let mut numbers = lines.next()?.split(' ').map(|n| n.parse::<u64>().ok());
        let tail = numbers.next()??;
        let checkpoint = numbers.next()??;
        let hints = lines
            .next()
            .unwrap_or("")
            .split(' ')
            .filter(|h| !h.is_empty())
            .map(|h| h.parse().ok())
            .collect();
        let full = lines
            .next()
            .unwrap_or("")
            .split(' ')
            .filter_map(Full::parse)
            .collect();
        Some(State {
            boot,
            tail,
            checkpoint,
            hints,
            full,
        })
    }

    /// Writes the state into `file` (no `fsync`).
    pub fn write(&self, file: &File) -> std::io::Result<()> {
        let hints: Vec<String> = self
            .hints
            .iter()
            .map(|h| h.map_or_else(|| "-".to_string(), |a| a.to_string()))
            .collect();
        let full: Vec<String> = self
            .full
            .iter()
            .map(|f| format!("{}:{:x}:{}:{}", f.set, f.config, f.tail, f.mtime))
            .collect();
        let mut text = format!(
            "{MAGIC}\n{}\n{} {}\n{}\n{}\n",
            self.boot.as_deref().unwrap_or("-"),
            self.tail,
            self.checkpoint,
            hints.join(" "),
            full.join(" ")
        )
        .into_bytes();
        if text.len() < PADDED {
            text.resize(PADDED, 0);
        }
        file.write_all_at(&text, 0)?;
        let len = file.metadata()?.len();
        if len > text.len() as u64 {
            file.set_len(text.len() as u64)?;
        }
        Ok(())
    }

    /// Whether this state was written in the current boot, `boot`.
    pub fn is_current(&self, boot: Option<&str>) -> bool {
        boot.is_some() && self.boot.as_deref() == boot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_an_empty_lock_file_has_none() {
        let tmp = tempfile::tempdir().unwrap();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(tmp.path().join("lock"))
            .unwrap();
        assert_eq!(State::read(&f), None);
        let mut s = State {
            boot: boot_id(),
            tail: 300,
            checkpoint: 256,
            hints: vec![Some("10.0.0.9".parse().unwrap()), None],
            full: vec![Full {
                set: 1,
                config: 0xdead_beef_0102,
                tail: 299,
                mtime: 1_764_590_000_123_456_789,
            }],
        };
        s.write(&f).unwrap();
        assert_eq!(State::read(&f), Some(s.clone()));
        assert!(s.is_current(boot_id().as_deref()));
        assert!(!s.is_current(Some("another-boot")));
        assert!(!s.is_current(None));
        s.hints = vec![Some("fd00:1:2:3:4:5:6:7".parse().unwrap()); 40];
        s.write(&f).unwrap();
        assert_eq!(State::read(&f), Some(s.clone()));
        s.hints.clear();
        s.write(&f).unwrap();
        assert_eq!(State::read(&f), Some(s));
        assert_eq!(f.metadata().unwrap().len(), PADDED as u64);
    }
}
