//! The reservation store behind cn2-core's [`Allocator`](cn2_core::ipam::Allocator).
//!
//! [`DiskStore`] implements [`cn2_core::ipam::Store`] over the same
//! directories, indexes, journals and locks as the plugin, so service and
//! external addresses get the same crash safety. Core pool and owner names are free
//! text (`ns/net-v4`, `service/<uid>/v4`), so they are encoded into safe
//! names: an `x`, then the text with letters, digits, `.` and `-` kept and
//! every other byte written as `_xx` (hex). Each pool is one network
//! directory; each owner holds one address per pool.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use cn2_core::ipam::{Allocation, IpamError, Store};

use super::{NetworkStore, Owner, StoreError};

/// The interface-name part of every core owner's link.
const CORE_IFNAME: &str = "core";

/// Encodes free text as a name matching `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`:
/// an `x`, then the text with every byte other than a letter, a digit, `.`
/// or `-` written as `_xx` (hex).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    out.push('x');
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("_{b:02x}"));
        }
    }
    out
}

/// Reverses [`encode`]; `None` for a name it did not produce.
fn decode(name: &str) -> Option<String> {
    let name = name.strip_prefix('x')?;
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'_' {
            let hex = name.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// cn2-core's allocation store on disk: one directory per pool under `root`.
///
/// Every `put` and `remove` is durable when it returns (each takes the pool's
/// lock and `fsync`s), so [`Store::flush`] has nothing left to do.
#[derive(Debug, Clone)]
pub struct DiskStore {
    root: PathBuf,
}

impl DiskStore {
    /// A store under `root` (created on the first write).
    pub fn new(root: &Path) -> DiskStore {
        DiskStore {
            root: root.to_path_buf(),
        }
    }

    fn open(&self, pool: &str, create: bool) -> Result<Option<NetworkStore>, IpamError> {
        NetworkStore::open(&self.root, &encode(pool), create).map_err(|e| self.err(e))
    }

    fn owner(&self, owner: &str) -> Result<Owner, IpamError> {
        Owner::new(&encode(owner), CORE_IFNAME).map_err(|e| self.err(e))
    }

    fn err(&self, e: StoreError) -> IpamError {
        IpamError::Store {
            path: self.root.display().to_string(),
            reason: e.to_string(),
        }
    }
}

impl Store for DiskStore {
    fn load(&mut self) -> Result<Vec<Allocation>, IpamError> {
        let mut out = Vec::new();
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(self.err(super::io("read", &self.root)(e))),
        };
        let mut pools = Vec::new();
        for e in entries.flatten() {
            if let Some(pool) = e.file_name().to_str().and_then(decode) {
                pools.push(pool);
            }
        }
        pools.sort();
        for pool in pools {
            let Some(store) = self.open(&pool, false)? else {
                continue;
            };
            for (address, owner) in store.reservations().map_err(|e| self.err(e))? {
                if owner.ifname() != CORE_IFNAME {
                    continue;
                }
                if let Some(owner) = decode(owner.container_id()) {
                    out.push(Allocation {
                        pool: pool.clone(),
                        owner,
                        address,
                    });
                }
            }
            store.close().map_err(|e| self.err(e))?;
        }
        Ok(out)
    }

    fn put(&mut self, pool: &str, owner: &str, address: IpAddr) -> Result<(), IpamError> {
        let o = self.owner(owner)?;
        let mut store = self.open(pool, true)?.expect("created");
        store.assign(&o, &[address]).map_err(|e| self.err(e))?;
        store.close().map_err(|e| self.err(e))
    }

    fn remove(&mut self, pool: &str, owner: &str) -> Result<(), IpamError> {
        let o = self.owner(owner)?;
        if let Some(mut store) = self.open(pool, false)? {
            store.release(&o).map_err(|e| self.err(e))?;
            store.close().map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), IpamError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cn2_core::ipam::{AddressRange, Allocator, Pool};

    #[test]
    fn names_round_trip_and_are_safe() {
        for text in [
            "ns/net-v4",
            "service/1234-abcd/v6",
            "",
            ".x",
            "-y",
            "a_b",
            "x_2f",
            "ü/..",
            "_00",
        ] {
            let e = encode(text);
            assert!(cn2_core::cni::is_valid_name(&e), "{text:?} -> {e:?}");
            assert_eq!(decode(&e).as_deref(), Some(text), "{e}");
        }
    }

    #[test]
    fn the_core_allocator_survives_a_restart_on_disk() {
        let tmp = tempfile::tempdir().unwrap();
        let pool =
            || Pool::new(vec![AddressRange::subnet("10.96.0.0/29".parse().unwrap())]).unwrap();
        {
            let mut a = Allocator::with_store(DiskStore::new(tmp.path())).unwrap();
            a.add_pool("ns/svc-v4", pool()).unwrap();
            a.allocate("ns/svc-v4", "service/one/v4").unwrap();
            a.allocate("ns/svc-v4", "service/two/v4").unwrap();
            a.request(
                "ns/svc-v4",
                "service/three/v4",
                "10.96.0.6".parse().unwrap(),
            )
            .unwrap();
            a.release("ns/svc-v4", "service/one/v4").unwrap();
            a.flush().unwrap();
        }
        let mut a = Allocator::with_store(DiskStore::new(tmp.path())).unwrap();
        a.add_pool("ns/svc-v4", pool()).unwrap();
        assert_eq!(
            a.lookup("ns/svc-v4", "service/two/v4").unwrap().to_string(),
            "10.96.0.3"
        );
        assert_eq!(
            a.lookup("ns/svc-v4", "service/three/v4")
                .unwrap()
                .to_string(),
            "10.96.0.6"
        );
        assert!(a.lookup("ns/svc-v4", "service/one/v4").is_none());
        // The freed address is the lowest again (CN2's order).
        assert_eq!(
            a.allocate("ns/svc-v4", "service/four/v4")
                .unwrap()
                .to_string(),
            "10.96.0.2"
        );
    }
}
