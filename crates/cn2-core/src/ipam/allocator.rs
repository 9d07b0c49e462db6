//! Owner-keyed allocation over named pools.

use std::net::IpAddr;

use rustc_hash::FxHashMap;
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
///
/// Pools are kept in a vector and named through one index, and each owner
/// has one small list of `(pool, address)`, so an allocation costs one hash
/// of the owner and one of the pool name.
#[derive(Debug)]
pub struct Allocator<S: Store = MemoryStore> {
    pools: Vec<Pool>,
    pool_names: Vec<String>,
    pool_index: FxHashMap<String, usize>,
    /// Owner → the pools it holds an address in, with the address.
    owners: FxHashMap<String, Vec<(usize, IpAddr)>>,
    /// Loaded allocations of pools that are not defined (yet).
    unplaced: FxHashMap<String, Vec<Allocation>>,
    store: S,
}

impl Allocator<MemoryStore> {
    /// An allocator that keeps nothing between runs.
    pub fn in_memory() -> Allocator<MemoryStore> {
        Allocator::from_parts(MemoryStore, FxHashMap::default())
    }
}

impl<S: Store> Allocator<S> {
    fn from_parts(store: S, unplaced: FxHashMap<String, Vec<Allocation>>) -> Allocator<S> {
        Allocator {
            pools: Vec::new(),
            pool_names: Vec::new(),
            pool_index: FxHashMap::default(),
            owners: FxHashMap::default(),
            unplaced,
            store,
        }
    }

    /// An allocator over `store`, starting from what it holds. Allocations
    /// are placed when their pool is added with [`Allocator::add_pool`].
    pub fn with_store(mut store: S) -> Result<Allocator<S>, IpamError> {
        let mut unplaced: FxHashMap<String, Vec<Allocation>> = FxHashMap::default();
        for a in store.load()? {
            unplaced.entry(a.pool.clone()).or_default().push(a);
        }
        Ok(Allocator::from_parts(store, unplaced))
    }

    /// Defines a pool. Stored allocations of that pool are taken again; one
    /// whose address is no longer allocatable (the subnet changed) or that
    /// collides with an earlier one is dropped from the store. Defining a
    /// pool that exists replaces its ranges the same way.
    pub fn add_pool(&mut self, name: &str, pool: Pool) -> Result<(), IpamError> {
        let idx = match self.pool_index.get(name) {
            Some(&i) => {
                // Redefinition: current holders are placed again in the new pool.
                let mut moved = Vec::new();
                for (owner, list) in self.owners.iter_mut() {
                    list.retain(|&(p, a)| {
                        if p == i {
                            moved.push(Allocation {
                                pool: name.to_string(),
                                owner: owner.clone(),
                                address: a,
                            });
                        }
                        p != i
                    });
                }
                self.owners.retain(|_, l| !l.is_empty());
                self.unplaced
                    .entry(name.to_string())
                    .or_default()
                    .extend(moved);
                self.pools[i] = pool;
                i
            }
            None => {
                self.pools.push(pool);
                self.pool_names.push(name.to_string());
                self.pool_index
                    .insert(name.to_string(), self.pools.len() - 1);
                self.pools.len() - 1
            }
        };
        for a in self.unplaced.remove(name).unwrap_or_default() {
            if self.pools[idx].take(&a.address).is_ok() {
                self.owners
                    .entry(a.owner)
                    .or_default()
                    .push((idx, a.address));
            } else {
                self.store.remove(&a.pool, &a.owner)?;
            }
        }
        Ok(())
    }

    /// Makes room for `additional` more owners without rehashing.
    pub fn reserve(&mut self, additional: usize) {
        self.owners.reserve(additional);
    }

    /// Whether no owner holds anything (stored allocations of undefined
    /// pools included).
    pub fn is_empty(&self) -> bool {
        self.owners.is_empty() && self.unplaced.values().all(Vec::is_empty)
    }

    /// Whether a pool of that name is defined.
    pub fn has_pool(&self, name: &str) -> bool {
        self.pool_index.contains_key(name)
    }

    /// The pool of that name.
    pub fn pool(&self, name: &str) -> Option<&Pool> {
        self.pool_index.get(name).map(|&i| &self.pools[i])
    }

    /// The address `owner` holds in `pool`, if any.
    pub fn lookup(&self, pool: &str, owner: &str) -> Option<IpAddr> {
        let i = *self.pool_index.get(pool)?;
        self.owners
            .get(owner)?
            .iter()
            .find(|(p, _)| *p == i)
            .map(|(_, a)| *a)
    }

    /// A pool `owner` holds an address in, with the address (the first, if
    /// it holds addresses in several pools).
    pub fn holding(&self, owner: &str) -> Option<(&str, IpAddr)> {
        let &(p, a) = self.owners.get(owner)?.first()?;
        Some((self.pool_names[p].as_str(), a))
    }

    /// Every owner of `pool` with its address (a scan of all owners).
    pub fn holders(&self, pool: &str) -> impl Iterator<Item = (&str, IpAddr)> {
        let i = self.pool_index.get(pool).copied();
        self.owners.iter().flat_map(move |(o, list)| {
            list.iter()
                .filter(move |(p, _)| Some(*p) == i)
                .map(move |(_, a)| (o.as_str(), *a))
        })
    }

    /// The address of `owner` in `pool`: the one it holds, else the lowest free.
    pub fn allocate(&mut self, pool: &str, owner: &str) -> Result<IpAddr, IpamError> {
        let i = self.index(pool)?;
        if let Some(a) = self.held_in(i, owner) {
            return Ok(a);
        }
        let addr = self.pools[i]
            .take_lowest()
            .ok_or_else(|| IpamError::Exhausted {
                pool: pool.to_string(),
            })?;
        self.record(i, owner, addr)
    }

    /// Gives `owner` exactly `address` in `pool`. If the owner held another
    /// address there, that one is released once the new one is taken.
    pub fn request(
        &mut self,
        pool: &str,
        owner: &str,
        address: IpAddr,
    ) -> Result<IpAddr, IpamError> {
        let i = self.index(pool)?;
        let old = self.held_in(i, owner);
        if old == Some(address) {
            return Ok(address);
        }
        self.pools[i].take(&address)?;
        if let Some(old) = old {
            self.pools[i].give_back(&old);
            if let Some(list) = self.owners.get_mut(owner) {
                list.retain(|(p, _)| *p != i);
            }
        }
        self.record(i, owner, address)
    }

    /// Releases what `owner` holds in `pool`; returns the address if it held one.
    pub fn release(&mut self, pool: &str, owner: &str) -> Result<Option<IpAddr>, IpamError> {
        let Some(&i) = self.pool_index.get(pool) else {
            return Ok(None);
        };
        let Some(list) = self.owners.get_mut(owner) else {
            return Ok(None);
        };
        let Some(pos) = list.iter().position(|(p, _)| *p == i) else {
            return Ok(None);
        };
        let (_, addr) = list.swap_remove(pos);
        if list.is_empty() {
            self.owners.remove(owner);
        }
        self.pools[i].give_back(&addr);
        self.store.remove(pool, owner)?;
        Ok(Some(addr))
    }

    /// Releases every allocation of owners for which `keep` is false, in
    /// every pool, including stored ones whose pool is no longer defined.
    pub fn retain_owners(&mut self, mut keep: impl FnMut(&str) -> bool) -> Result<(), IpamError> {
        let gone: Vec<String> = self.owners.keys().filter(|o| !keep(o)).cloned().collect();
        for owner in gone {
            for (p, addr) in self.owners.remove(&owner).unwrap_or_default() {
                self.pools[p].give_back(&addr);
                self.store.remove(&self.pool_names[p], &owner)?;
            }
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

    /// Releases everything `owner` holds, in every pool (stored allocations
    /// of pools not defined yet included).
    pub fn release_owner(&mut self, owner: &str) -> Result<(), IpamError> {
        for (p, addr) in self.owners.remove(owner).unwrap_or_default() {
            self.pools[p].give_back(&addr);
            self.store.remove(&self.pool_names[p], owner)?;
        }
        for list in self.unplaced.values_mut() {
            for a in list.iter().filter(|a| a.owner == owner) {
                self.store.remove(&a.pool, &a.owner)?;
            }
            list.retain(|a| a.owner != owner);
        }
        Ok(())
    }

    /// Makes every change durable in the store.
    pub fn flush(&mut self) -> Result<(), IpamError> {
        self.store.flush()
    }

    fn index(&self, pool: &str) -> Result<usize, IpamError> {
        self.pool_index
            .get(pool)
            .copied()
            .ok_or_else(|| IpamError::UnknownPool {
                pool: pool.to_string(),
            })
    }

    fn held_in(&self, i: usize, owner: &str) -> Option<IpAddr> {
        self.owners
            .get(owner)?
            .iter()
            .find(|(p, _)| *p == i)
            .map(|(_, a)| *a)
    }

    fn record(&mut self, i: usize, owner: &str, address: IpAddr) -> Result<IpAddr, IpamError> {
        match self.owners.get_mut(owner) {
            Some(list) => list.push((i, address)),
            None => {
                self.owners.insert(owner.to_string(), vec![(i, address)]);
            }
        }
        self.store.put(&self.pool_names[i], owner, address)?;
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
