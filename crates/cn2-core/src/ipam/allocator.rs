//! Owner-keyed allocation over named pools.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::IpamError;
use super::pool::Pool;
use super::store::{MemoryStore, Store};

/// One address held by one owner in one pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    /// The pool (for CN2, the network's subnet) the address comes from.
    pub pool: String,
    /// Who holds it: e.g. `service/<uid>/v4`.
    pub owner: String,
    /// The address.
    pub address: IpAddr,
}

/// Hands addresses of named pools to owners.
///
/// Asking again for the same owner returns the same address (idempotence);
/// an address is never held by two owners; every change goes to the store.
#[derive(Debug)]
pub struct Allocator<S: Store = MemoryStore> {
    pools: HashMap<String, Pool>,
    held: HashMap<String, HashMap<String, IpAddr>>,
    /// Owner → the pools it holds an address in.
    owners: HashMap<String, Vec<String>>,
    /// Loaded allocations of pools that are not defined (yet).
    unplaced: HashMap<String, Vec<Allocation>>,
    store: S,
}

impl Allocator<MemoryStore> {
    /// An allocator that keeps nothing between runs.
    pub fn in_memory() -> Allocator<MemoryStore> {
        Allocator {
            pools: HashMap::new(),
            held: HashMap::new(),
            owners: HashMap::new(),
            unplaced: HashMap::new(),
            store: MemoryStore,
        }
    }
}

impl<S: Store> Allocator<S> {
    /// An allocator over `store`, starting from what it holds. Allocations
    /// are placed when their pool is added with [`Allocator::add_pool`].
    pub fn with_store(mut store: S) -> Result<Allocator<S>, IpamError> {
        let mut unplaced: HashMap<String, Vec<Allocation>> = HashMap::new();
        for a in store.load()? {
            unplaced.entry(a.pool.clone()).or_default().push(a);
        }
        Ok(Allocator {
            pools: HashMap::new(),
            held: HashMap::new(),
            owners: HashMap::new(),
            unplaced,
            store,
        })
    }

    /// Defines a pool. Stored allocations of that pool are taken again; one
    /// whose address is no longer allocatable (the subnet changed) or that
    /// collides with an earlier one is dropped from the store.
    pub fn add_pool(&mut self, name: &str, mut pool: Pool) -> Result<(), IpamError> {
        let mut held = HashMap::new();
        for a in self.unplaced.remove(name).unwrap_or_default() {
            if pool.take(&a.address).is_ok() {
                self.owners
                    .entry(a.owner.clone())
                    .or_default()
                    .push(name.to_string());
                held.insert(a.owner, a.address);
            } else {
                self.store.remove(&a.pool, &a.owner)?;
            }
        }
        self.pools.insert(name.to_string(), pool);
        self.held.insert(name.to_string(), held);
        Ok(())
    }

    /// Whether a pool of that name is defined.
    pub fn has_pool(&self, name: &str) -> bool {
        self.pools.contains_key(name)
    }

    /// The pool of that name.
    pub fn pool(&self, name: &str) -> Option<&Pool> {
        self.pools.get(name)
    }

    /// The address `owner` holds in `pool`, if any.
    pub fn lookup(&self, pool: &str, owner: &str) -> Option<IpAddr> {
        self.held.get(pool)?.get(owner).copied()
    }

    /// A pool `owner` holds an address in, with the address (the first, if
    /// it holds addresses in several pools).
    pub fn holding(&self, owner: &str) -> Option<(&str, IpAddr)> {
        let pool = self.owners.get(owner)?.first()?;
        Some((pool.as_str(), self.lookup(pool, owner)?))
    }

    /// Every owner of `pool` with its address.
    pub fn holders(&self, pool: &str) -> impl Iterator<Item = (&str, IpAddr)> {
        self.held
            .get(pool)
            .into_iter()
            .flat_map(|m| m.iter().map(|(o, a)| (o.as_str(), *a)))
    }

    /// The address of `owner` in `pool`: the one it holds, else the lowest free.
    pub fn allocate(&mut self, pool: &str, owner: &str) -> Result<IpAddr, IpamError> {
        if let Some(a) = self.lookup(pool, owner) {
            return Ok(a);
        }
        let p = self.pool_mut(pool)?;
        let addr = p.take_lowest().ok_or_else(|| IpamError::Exhausted {
            pool: pool.to_string(),
        })?;
        self.record(pool, owner, addr)
    }

    /// Gives `owner` exactly `address` in `pool`. If the owner held another
    /// address there, that one is released once the new one is taken.
    pub fn request(
        &mut self,
        pool: &str,
        owner: &str,
        address: IpAddr,
    ) -> Result<IpAddr, IpamError> {
        let old = self.lookup(pool, owner);
        if old == Some(address) {
            return Ok(address);
        }
        self.pool_mut(pool)?.take(&address)?;
        if let Some(old) = old {
            self.pool_mut(pool)?.give_back(&old);
        }
        self.record(pool, owner, address)
    }

    /// Releases what `owner` holds in `pool`; returns the address if it held one.
    pub fn release(&mut self, pool: &str, owner: &str) -> Result<Option<IpAddr>, IpamError> {
        let Some(addr) = self.held.get_mut(pool).and_then(|m| m.remove(owner)) else {
            return Ok(None);
        };
        if let Some(p) = self.pools.get_mut(pool) {
            p.give_back(&addr);
        }
        if let Some(list) = self.owners.get_mut(owner) {
            list.retain(|p| p != pool);
            if list.is_empty() {
                self.owners.remove(owner);
            }
        }
        self.store.remove(pool, owner)?;
        Ok(Some(addr))
    }

    /// Releases every allocation of owners for which `keep` is false, in
    /// every pool, including stored ones whose pool is no longer defined.
    pub fn retain_owners(&mut self, mut keep: impl FnMut(&str) -> bool) -> Result<(), IpamError> {
        let mut gone = Vec::new();
        for (pool, m) in &self.held {
            for owner in m.keys() {
                if !keep(owner) {
                    gone.push((pool.clone(), owner.clone()));
                }
            }
        }
        for (pool, owner) in gone {
            self.release(&pool, &owner)?;
        }
        for list in self.unplaced.values_mut() {
            for a in list.iter() {
                if !keep(&a.owner) {
                    self.store.remove(&a.pool, &a.owner)?;
                }
            }
            list.retain(|a| keep(&a.owner));
        }
        Ok(())
    }

    /// Makes every change durable in the store.
    pub fn flush(&mut self) -> Result<(), IpamError> {
        self.store.flush()
    }

    fn pool_mut(&mut self, pool: &str) -> Result<&mut Pool, IpamError> {
        self.pools
            .get_mut(pool)
            .ok_or_else(|| IpamError::UnknownPool {
                pool: pool.to_string(),
            })
    }

    fn record(&mut self, pool: &str, owner: &str, address: IpAddr) -> Result<IpAddr, IpamError> {
        let pools = self.owners.entry(owner.to_string()).or_default();
        if !pools.iter().any(|p| p == pool) {
            pools.push(pool.to_string());
        }
        self.held
            .entry(pool.to_string())
            .or_default()
            .insert(owner.to_string(), address);
        self.store.put(&Allocation {
            pool: pool.to_string(),
            owner: owner.to_string(),
            address,
        })?;
        Ok(address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipam::{AddressRange, JsonFileStore};
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn pool(s: &str) -> Pool {
        Pool::new(vec![AddressRange::subnet(s.parse().unwrap())]).unwrap()
    }

    #[test]
    fn idempotent_and_exhaustion_names_the_pool() {
        let mut a = Allocator::in_memory();
        a.add_pool("ns/net-v4", pool("10.0.0.0/29")).unwrap();
        let x = a.allocate("ns/net-v4", "svc-1").unwrap();
        assert_eq!(a.allocate("ns/net-v4", "svc-1").unwrap(), x);
        for i in 2..=5 {
            a.allocate("ns/net-v4", &format!("svc-{i}")).unwrap();
        }
        let err = a.allocate("ns/net-v4", "svc-6").unwrap_err().to_string();
        assert!(err.contains("ns/net-v4"), "{err}");
        assert_eq!(
            a.release("ns/net-v4", "svc-3")
                .unwrap()
                .unwrap()
                .to_string(),
            "10.0.0.4"
        );
        assert_eq!(
            a.allocate("ns/net-v4", "svc-6").unwrap().to_string(),
            "10.0.0.4"
        );
    }

    #[test]
    fn state_survives_a_restart() {
        let dir = std::env::temp_dir().join(format!("cn2-alloc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let mut a = Allocator::with_store(JsonFileStore::open(&dir).unwrap()).unwrap();
            a.add_pool("p", pool("10.0.0.0/24")).unwrap();
            a.allocate("p", "one").unwrap();
            a.allocate("p", "two").unwrap();
            a.release("p", "one").unwrap();
            a.flush().unwrap();
        }
        let mut a = Allocator::with_store(JsonFileStore::open(&dir).unwrap()).unwrap();
        a.add_pool("p", pool("10.0.0.0/24")).unwrap();
        assert_eq!(a.lookup("p", "two").unwrap().to_string(), "10.0.0.3");
        assert_eq!(a.allocate("p", "three").unwrap().to_string(), "10.0.0.2");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    proptest! {
        /// Never two owners for one address, whatever the sequence.
        #[test]
        fn never_two_owners(ops in prop::collection::vec((0u8..3, 0u8..20, 2u8..20), 1..200)) {
            let mut a = Allocator::in_memory();
            a.add_pool("p", pool("10.0.0.0/28")).unwrap();
            for (op, owner, host) in ops {
                let owner = format!("o{owner}");
                match op {
                    0 => { let _ = a.allocate("p", &owner); }
                    1 => { let _ = a.request("p", &owner, format!("10.0.0.{host}").parse().unwrap()); }
                    _ => { a.release("p", &owner).unwrap(); }
                }
                let addrs: Vec<IpAddr> = a.holders("p").map(|(_, x)| x).collect();
                let unique: HashSet<_> = addrs.iter().collect();
                prop_assert_eq!(unique.len(), addrs.len());
                prop_assert_eq!(a.pool("p").unwrap().free_count() as usize, 13 - addrs.len());
            }
        }
    }
}
