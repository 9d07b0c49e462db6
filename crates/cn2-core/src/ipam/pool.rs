//! A pool of addresses of one family as a set of free intervals.
//!
//! The free addresses are kept as disjoint inclusive intervals in a
//! `BTreeMap` (start → end). Taking the lowest free address, taking the first
//! free address after a given one (round-robin), taking a requested address
//! and giving one back are all `O(log k)` in the number `k` of intervals,
//! whatever the size of the ranges: an IPv6 `/64` costs as little as a `/29`,
//! and nothing is ever materialised address by address.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::IpamError;
use super::cidr::{Family, addr_to_u128};
use super::range::AddressRange;

/// Free addresses of one family drawn from one or more ranges.
#[derive(Debug, Clone)]
pub struct Pool {
    family: Family,
    ranges: Vec<AddressRange>,
    /// Allocatable intervals (sorted, disjoint, merged), fixed at creation.
    usable: Vec<(u128, u128)>,
    /// Currently free intervals, start → end, inclusive.
    free: BTreeMap<u128, u128>,
    free_count: u128,
}

impl Pool {
    /// A pool over the given ranges, which must all be of one family.
    pub fn new(ranges: Vec<AddressRange>) -> Result<Pool, IpamError> {
        let family = ranges.first().ok_or(IpamError::NoRanges)?.family();
        let mut usable = Vec::new();
        for r in &ranges {
            if r.family() != family {
                return Err(IpamError::MixedFamilies { subnet: r.subnet });
            }
            r.validate()?;
            usable.extend(r.usable_intervals());
        }
        Ok(Pool::from_intervals(family, ranges, usable))
    }

    /// A pool of address blocks in which every address is assignable (no
    /// network, gateway or broadcast reservation: an address pool is a list
    /// of addresses, not a subnet). With `avoid_buggy_ips`, IPv4 addresses
    /// ending in `.0` or `.255` are skipped.
    pub fn from_blocks(
        family: Family,
        blocks: &[(IpAddr, IpAddr)],
        avoid_buggy_ips: bool,
    ) -> Result<Pool, IpamError> {
        let mut usable = Vec::new();
        for (a, b) in blocks {
            if Family::of(a) != family || Family::of(b) != family {
                return Err(IpamError::MixedBlock { start: *a, end: *b });
            }
            let (lo, hi) = (addr_to_u128(a), addr_to_u128(b));
            if lo > hi {
                return Err(IpamError::EmptyRange { start: *a, end: *b });
            }
            if avoid_buggy_ips && family == Family::V4 {
                // Split at every x.y.z.0 and x.y.z.255.
                let mut start = lo;
                while start <= hi {
                    let block_end = (start | 0xff).min(hi);
                    let first = if start & 0xff == 0 { start + 1 } else { start };
                    let last = if block_end & 0xff == 0xff {
                        block_end - 1
                    } else {
                        block_end
                    };
                    if first <= last {
                        usable.push((first, last));
                    }
                    start = block_end + 1;
                }
            } else {
                usable.push((lo, hi));
            }
        }
        if usable.is_empty() && blocks.is_empty() {
            return Err(IpamError::NoRanges);
        }
        Ok(Pool::from_intervals(family, Vec::new(), usable))
    }

    fn from_intervals(
        family: Family,
        ranges: Vec<AddressRange>,
        mut usable: Vec<(u128, u128)>,
    ) -> Pool {
        usable.sort_unstable();
        let mut merged: Vec<(u128, u128)> = Vec::with_capacity(usable.len());
        for (lo, hi) in usable {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        let free: BTreeMap<u128, u128> = merged.iter().copied().collect();
        let free_count = merged
            .iter()
            .fold(0u128, |acc, (lo, hi)| acc.saturating_add(hi - lo + 1));
        Pool {
            family,
            ranges,
            usable: merged,
            free,
            free_count,
        }
    }

    /// The family of the pool.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The ranges the pool was built from (empty for a pool of blocks).
    pub fn ranges(&self) -> &[AddressRange] {
        &self.ranges
    }

    /// Number of free addresses (saturating).
    pub fn free_count(&self) -> u128 {
        self.free_count
    }

    /// Whether no address is free.
    pub fn is_exhausted(&self) -> bool {
        self.free.is_empty()
    }

    /// Whether `addr` is one the pool may hand out (free or not).
    pub fn is_usable(&self, addr: &IpAddr) -> bool {
        if Family::of(addr) != self.family {
            return false;
        }
        let n = addr_to_u128(addr);
        let i = self.usable.partition_point(|&(lo, _)| lo <= n);
        i > 0 && self.usable[i - 1].1 >= n
    }

    /// Whether `addr` is usable and currently free.
    pub fn is_free(&self, addr: &IpAddr) -> bool {
        if Family::of(addr) != self.family {
            return false;
        }
        let n = addr_to_u128(addr);
        matches!(self.free.range(..=n).next_back(), Some((_, &hi)) if hi >= n)
    }

    /// Takes the lowest free address.
    pub fn take_lowest(&mut self) -> Option<IpAddr> {
        let (&lo, _) = self.free.iter().next()?;
        self.remove(lo);
        Some(self.family.addr(lo))
    }

    /// Takes the first free address after `after`, wrapping to the lowest:
    /// host-local's round-robin order, which does not reuse a just-freed
    /// address at once.
    pub fn take_after(&mut self, after: &IpAddr) -> Option<IpAddr> {
        if Family::of(after) != self.family {
            return self.take_lowest();
        }
        let n = addr_to_u128(after);
        let candidate = match self.free.range(..=n).next_back() {
            Some((_, &hi)) if hi > n => Some(n + 1),
            _ => self
                .free
                .range(n.saturating_add(1)..)
                .next()
                .map(|(&lo, _)| lo),
        };
        match candidate {
            Some(c) => {
                self.remove(c);
                Some(self.family.addr(c))
            }
            None => self.take_lowest(),
        }
    }

    /// Takes a requested address; fails if it is outside the pool or taken.
    pub fn take(&mut self, addr: &IpAddr) -> Result<(), IpamError> {
        if !self.is_usable(addr) {
            return Err(IpamError::NotInPool { address: *addr });
        }
        if !self.is_free(addr) {
            return Err(IpamError::AddressInUse { address: *addr });
        }
        self.remove(addr_to_u128(addr));
        Ok(())
    }

    /// Gives an address back. Giving back an address that is not usable or
    /// already free is a no-op, so a release can be repeated safely.
    pub fn give_back(&mut self, addr: &IpAddr) {
        if !self.is_usable(addr) || self.is_free(addr) {
            return;
        }
        let n = addr_to_u128(addr);
        let mut lo = n;
        let mut hi = n;
        // Merge with the interval ending right before n.
        if let Some((&plo, &phi)) = self.free.range(..n).next_back() {
            if phi.checked_add(1) == Some(n) && self.same_usable_run(phi, n) {
                lo = plo;
                self.free.remove(&plo);
            }
        }
        // Merge with the interval starting right after n.
        if let Some(next) = n.checked_add(1) {
            if let Some(nhi) = self.free.get(&next).copied() {
                if self.same_usable_run(n, next) {
                    hi = nhi;
                    self.free.remove(&next);
                }
            }
        }
        self.free.insert(lo, hi);
        self.free_count = self.free_count.saturating_add(1);
    }

    /// Whether two adjacent numbers lie in one usable interval (merging free
    /// intervals across a reserved address would make it allocatable).
    fn same_usable_run(&self, a: u128, b: u128) -> bool {
        let i = self.usable.partition_point(|&(lo, _)| lo <= a);
        i > 0 && self.usable[i - 1].1 >= b
    }

    /// Removes the free number `n` (which must be free).
    fn remove(&mut self, n: u128) {
        let (&lo, &hi) = self
            .free
            .range(..=n)
            .next_back()
            .expect("remove called on a free address");
        debug_assert!(hi >= n);
        self.free.remove(&lo);
        if lo < n {
            self.free.insert(lo, n - 1);
        }
        if n < hi {
            self.free.insert(n + 1, hi);
        }
        self.free_count -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn pool(s: &str) -> Pool {
        Pool::new(vec![AddressRange::subnet(s.parse().unwrap())]).unwrap()
    }

    #[test]
    fn lowest_first_and_exhaustion() {
        let mut p = pool("10.0.0.0/29");
        let got: Vec<String> = std::iter::from_fn(|| p.take_lowest())
            .map(|a| a.to_string())
            .collect();
        assert_eq!(
            got,
            ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]
        );
        assert!(p.is_exhausted());
        p.give_back(&"10.0.0.4".parse().unwrap());
        assert_eq!(p.take_lowest().unwrap().to_string(), "10.0.0.4");
    }

    #[test]
    fn blocks_reserve_nothing_unless_avoiding_buggy_ips() {
        let a = |s: &str| s.parse::<IpAddr>().unwrap();
        let mut p = Pool::from_blocks(
            Family::V4,
            &[
                (a("192.0.2.0"), a("192.0.2.1")),
                (a("198.51.100.255"), a("198.51.101.0")),
            ],
            false,
        )
        .unwrap();
        let all: Vec<String> = std::iter::from_fn(|| p.take_lowest())
            .map(|x| x.to_string())
            .collect();
        assert_eq!(
            all,
            ["192.0.2.0", "192.0.2.1", "198.51.100.255", "198.51.101.0"]
        );
        let mut p =
            Pool::from_blocks(Family::V4, &[(a("10.0.0.0"), a("10.0.2.255"))], true).unwrap();
        assert_eq!(p.free_count(), 3 * 254);
        assert_eq!(p.take_lowest().unwrap().to_string(), "10.0.0.1");
        assert!(!p.is_usable(&a("10.0.1.255")) && !p.is_usable(&a("10.0.2.0")));
        assert!(Pool::from_blocks(Family::V6, &[(a("10.0.0.0"), a("10.0.0.1"))], false).is_err());
    }

    #[test]
    fn round_robin_after_last() {
        let mut p = pool("10.0.0.0/29");
        let a = p.take_lowest().unwrap();
        p.give_back(&a);
        // The freed .2 is not reused at once.
        assert_eq!(p.take_after(&a).unwrap().to_string(), "10.0.0.3");
        let last: IpAddr = "10.0.0.6".parse().unwrap();
        assert_eq!(p.take_after(&last).unwrap().to_string(), "10.0.0.2");
    }

    #[test]
    fn huge_ipv6_pool_is_cheap() {
        let mut p = pool("fd00::/64");
        assert_eq!(p.free_count(), (1u128 << 64) - 3);
        for _ in 0..10_000 {
            p.take_lowest().unwrap();
        }
        assert_eq!(p.take_lowest().unwrap().to_string(), "fd00::2712");
    }

    #[test]
    fn gateway_is_never_merged_back() {
        let mut p = pool("10.0.0.0/24");
        let a: IpAddr = "10.0.0.2".parse().unwrap();
        p.take(&a).unwrap();
        p.give_back(&a);
        p.give_back(&"10.0.0.1".parse().unwrap());
        assert!(!p.is_free(&"10.0.0.1".parse().unwrap()));
        assert_eq!(p.take_lowest().unwrap().to_string(), "10.0.0.2");
    }

    #[test]
    fn requested_address_errors_name_it() {
        let mut p = pool("10.0.0.0/24");
        p.take(&"10.0.0.9".parse().unwrap()).unwrap();
        let e = p.take(&"10.0.0.9".parse().unwrap()).unwrap_err();
        assert!(e.to_string().contains("10.0.0.9"));
        let e = p.take(&"10.0.1.9".parse().unwrap()).unwrap_err();
        assert!(e.to_string().contains("10.0.1.9"));
    }

    proptest! {
        /// Random take/give sequences agree with a naive set model: never
        /// two holders of one address, the lowest free is really the lowest.
        #[test]
        fn agrees_with_a_set_model(ops in prop::collection::vec((0u8..3, 0u32..40), 1..300)) {
            let mut p = pool("10.1.0.0/26");
            let usable: BTreeSet<u32> = (2..=62).collect();
            let mut taken = BTreeSet::new();
            let base = 0x0a01_0000u32;
            for (op, x) in ops {
                match op {
                    0 => {
                        let got = p.take_lowest();
                        let want = usable.iter().find(|n| !taken.contains(*n)).copied();
                        prop_assert_eq!(got, want.map(|n| IpAddr::from(std::net::Ipv4Addr::from(base + n))));
                        if let Some(n) = want { taken.insert(n); }
                    }
                    1 => {
                        let a = IpAddr::from(std::net::Ipv4Addr::from(base + x));
                        let ok = p.take(&a).is_ok();
                        prop_assert_eq!(ok, usable.contains(&x) && !taken.contains(&x));
                        if ok { taken.insert(x); }
                    }
                    _ => {
                        p.give_back(&IpAddr::from(std::net::Ipv4Addr::from(base + x)));
                        taken.remove(&x);
                    }
                }
                prop_assert_eq!(p.free_count(), (usable.len() - taken.len()) as u128);
            }
        }
    }
}
