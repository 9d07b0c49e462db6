//! Member selection for a 5-tuple: the vRouter's slot-stable scheme and
//! Maglev consistent hashing.
//!
//! **vRouter (ECMP).** A composite next hop keeps its members in slots.
//! Removing a member leaves its slot empty instead of compacting the list; a
//! new member fills the first empty slot, else is appended. A flow goes to
//! slot `hash % slots`; if that slot is empty, to live member `hash % live`
//! (live members in slot order). Removing one member therefore moves only the
//! flows that were on it — but adding members changes `slots` and moves many.
//!
//! **Maglev** (Eisenbud et al., NSDI 2016). Each member has a preference
//! permutation of the `M` table slots (`M` prime, default 65537):
//! `offset = h1 % M`, `skip = h2 % (M - 1) + 1`, position `j` is
//! `(offset + j * skip) % M`. Members take turns claiming their next
//! unclaimed preferred slot until the table is full (a member of weight `w`
//! claims `w` slots per turn). A flow goes to `table[hash % M]`. Removing or
//! adding one of `N` members moves about `1/N` of the flows, and without
//! weights every member gets `floor(M/N)` or `ceil(M/N)` slots. The paper
//! advises `M > 100 N`: with fewer slots per member, a change reshuffles more
//! (at `M = 65537`, `N = 1000`, about `7/N` of the flows move).
//!
//! The build follows the paper's population loop but never materialises the
//! `N × M` permutation matrix: each member keeps only its current position
//! and skip, the next position is one addition and a conditional subtraction
//! (no division), and the memory is the table plus two words per member.

use std::net::IpAddr;

use super::EcmpError;
use super::hash::{FiveTuple, flow_hash, flow_hashes, member_hash};

/// The default Maglev table size (a prime).
pub const MAGLEV_DEFAULT_SIZE: usize = 65537;
/// The seed of a member's Maglev offset: `offset = member_hash(address, port,
/// OFFSET_SEED) % M` (the ASCII bytes of `maglev01`).
pub const OFFSET_SEED: u64 = 0x6d61_676c_6576_3031;
/// The seed of a member's Maglev skip: `skip = member_hash(address, port,
/// SKIP_SEED) % (M - 1) + 1` (the ASCII bytes of `maglev02`).
pub const SKIP_SEED: u64 = 0x6d61_676c_6576_3032;

/// The tuples [`Selector::select_burst`] hashes before it selects.
pub const SELECT_BLOCK: usize = 64;

/// A member a selector chooses: a backend address, port and weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Backend {
    /// Address.
    pub address: IpAddr,
    /// Port.
    pub port: u16,
    /// Relative weight (Maglev only; at least 1).
    pub weight: u32,
}

/// The selection algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// The vRouter's `hash % slots` over a slot-stable composite.
    Ecmp,
    /// Maglev consistent hashing with a prime table size.
    Maglev {
        /// Table size (prime).
        table_size: usize,
    },
}

impl Algorithm {
    /// Parses `ecmp` or `maglev` (the latter with the default table size).
    pub fn parse(s: &str) -> Result<Algorithm, EcmpError> {
        match s {
            "ecmp" => Ok(Algorithm::Ecmp),
            "maglev" => Ok(Algorithm::Maglev {
                table_size: MAGLEV_DEFAULT_SIZE,
            }),
            other => Err(EcmpError::UnknownAlgorithm(other.to_string())),
        }
    }
}

/// Slot-stable members of a composite next hop.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Slots<T> {
    slots: Vec<Option<T>>,
    live: Vec<usize>,
}

impl<T: PartialEq> Slots<T> {
    /// Slots filled in order.
    pub fn new(items: impl IntoIterator<Item = T>) -> Slots<T> {
        let mut s = Slots {
            slots: Vec::new(),
            live: Vec::new(),
        };
        for i in items {
            s.add(i);
        }
        s
    }

    /// Adds `item` to the first empty slot, else appends; returns its slot.
    /// An item already present keeps its slot.
    pub fn add(&mut self, item: T) -> usize {
        if let Some(i) = self.position(&item) {
            return i;
        }
        let i = match self.slots.iter().position(Option::is_none) {
            Some(i) => {
                self.slots[i] = Some(item);
                i
            }
            None => {
                self.slots.push(Some(item));
                self.slots.len() - 1
            }
        };
        let at = self.live.partition_point(|&x| x < i);
        self.live.insert(at, i);
        i
    }

    /// Empties the slot of `item`; returns the slot if it was present.
    pub fn remove(&mut self, item: &T) -> Option<usize> {
        let i = self.position(item)?;
        self.slots[i] = None;
        self.live.retain(|&x| x != i);
        Some(i)
    }

    /// Every slot, empty ones as `None`.
    pub fn slots(&self) -> &[Option<T>] {
        &self.slots
    }

    /// The number of live members.
    pub fn live(&self) -> usize {
        self.live.len()
    }

    /// The vRouter choice for a hash: slot `hash % slots`, or if empty live
    /// member `hash % live`.
    #[inline]
    pub fn select(&self, hash: u64) -> Option<&T> {
        self.slots.get(self.select_index(hash)?)?.as_ref()
    }

    /// The slot (an index into [`Slots::slots`]) of the vRouter choice for a
    /// hash; `None` without live members.
    #[inline]
    pub fn select_index(&self, hash: u64) -> Option<usize> {
        if self.live.is_empty() {
            return None;
        }
        // `checked_rem` and `get`: no panic path (the C API's guard then
        // costs nothing); `slots` is never empty with a live member.
        let i = hash.checked_rem(self.slots.len() as u64)? as usize;
        match self.slots.get(i) {
            Some(Some(_)) => Some(i),
            _ => self
                .live
                .get(hash.checked_rem(self.live.len() as u64)? as usize)
                .copied(),
        }
    }

    fn position(&self, item: &T) -> Option<usize> {
        self.slots.iter().position(|s| s.as_ref() == Some(item))
    }
}

/// `x % d` for a divisor fixed in advance, without a division instruction
/// (Lemire, Kaser and Kurz, "Faster remainder by direct computation",
/// 2019): with `c = ceil(2^128 / d)`, `x % d` is the top 64 bits of the
/// 192-bit product `((c * x) mod 2^128) * d`. Exact for every 64-bit `x` and
/// every `d >= 1`; four multiplications instead of a 64-bit division, which
/// costs tens of cycles and is not pipelined on common x86 cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FastMod {
    c: u128,
    d: u64,
}

impl FastMod {
    /// The remainder by `d` (at least 1).
    pub(crate) fn new(d: u64) -> FastMod {
        assert!(d >= 1, "a divisor of at least 1");
        // For d = 1, ceil(2^128 / 1) wraps to 0, and every remainder is 0.
        FastMod {
            c: (u128::MAX / d as u128).wrapping_add(1),
            d,
        }
    }

    /// `x % d`.
    #[inline]
    pub(crate) fn rem(&self, x: u64) -> u64 {
        let low = self.c.wrapping_mul(x as u128);
        let d = self.d as u128;
        let lo = (low as u64 as u128) * d;
        let hi = (low >> 64) * d;
        ((hi + (lo >> 64)) >> 64) as u64
    }
}

/// A Maglev lookup table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maglev {
    members: Vec<Backend>,
    /// Index into `members` for each of the `M` slots (empty without members).
    table: Vec<u32>,
    /// `M`, kept when there are no members.
    size: usize,
    /// `hash % M` without a division.
    modulo: FastMod,
}

fn is_prime(n: usize) -> bool {
    if n < 2 {
        return false;
    }
    let mut d = 2;
    while d * d <= n {
        if n % d == 0 {
            return false;
        }
        d += 1;
    }
    true
}

impl Maglev {
    /// Builds the table for `members` with `table_size` slots (a prime larger
    /// than the number of members).
    pub fn new(members: Vec<Backend>, table_size: usize) -> Result<Maglev, EcmpError> {
        if !is_prime(table_size) {
            return Err(EcmpError::NotPrime(table_size));
        }
        if members.len() >= table_size {
            return Err(EcmpError::TooManyMembers {
                members: members.len(),
                table_size,
            });
        }
        if members.iter().any(|m| m.weight == 0) {
            return Err(EcmpError::ZeroWeight);
        }
        let m = table_size as u64;
        let mut table = vec![u32::MAX; table_size];
        if members.is_empty() {
            return Ok(Maglev {
                members,
                table: Vec::new(),
                size: table_size,
                modulo: FastMod::new(m),
            });
        }
        // Current permutation position and step of each member.
        let mut pos: Vec<u64> = Vec::with_capacity(members.len());
        let mut skip: Vec<u64> = Vec::with_capacity(members.len());
        for b in &members {
            pos.push(member_hash(&b.address, b.port, OFFSET_SEED) % m);
            skip.push(member_hash(&b.address, b.port, SKIP_SEED) % (m - 1) + 1);
        }
        let mut filled = 0usize;
        'fill: loop {
            for (i, b) in members.iter().enumerate() {
                for _ in 0..b.weight {
                    let mut c = pos[i];
                    while table[c as usize] != u32::MAX {
                        c += skip[i];
                        if c >= m {
                            c -= m;
                        }
                    }
                    table[c as usize] = i as u32;
                    c += skip[i];
                    if c >= m {
                        c -= m;
                    }
                    pos[i] = c;
                    filled += 1;
                    if filled == table_size {
                        break 'fill;
                    }
                }
            }
        }
        Ok(Maglev {
            members,
            table,
            size: table_size,
            modulo: FastMod::new(m),
        })
    }

    /// The table size `M`.
    pub fn table_size(&self) -> usize {
        self.size
    }

    /// The members.
    pub fn members(&self) -> &[Backend] {
        &self.members
    }

    /// How many table slots each member holds.
    pub fn slot_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.members.len()];
        for &i in &self.table {
            c[i as usize] += 1;
        }
        c
    }

    /// The member for a hash: `members()[table[hash % M]]`.
    #[inline]
    pub fn select(&self, hash: u64) -> Option<&Backend> {
        self.select_index(hash).and_then(|i| self.members.get(i))
    }

    /// The position in [`Maglev::members`] of the member for a hash.
    #[inline]
    pub fn select_index(&self, hash: u64) -> Option<usize> {
        self.table
            .get(self.modulo.rem(hash) as usize)
            .map(|&i| i as usize)
    }
}

/// A member selector: one of the two algorithms over a member list.
///
/// Both hash the 5-tuple with the [flow hash](flow_hash). Updates keep each
/// algorithm's promise: the vRouter scheme keeps every member in its slot
/// (a removal leaves a hole, an addition fills the first hole), so a removal
/// moves only the removed member's flows; Maglev rebuilds its table with the
/// same size, which moves about `1/N` of the flows. Flows already in a
/// [flow table](crate::flow) keep their member either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// The vRouter scheme.
    Ecmp(Slots<Backend>),
    /// Maglev.
    Maglev(Maglev),
}

impl Selector {
    /// A selector over `members` with `algorithm`.
    pub fn new(algorithm: Algorithm, members: Vec<Backend>) -> Result<Selector, EcmpError> {
        Ok(match algorithm {
            Algorithm::Ecmp => Selector::Ecmp(Slots::new(members)),
            Algorithm::Maglev { table_size } => Selector::Maglev(Maglev::new(members, table_size)?),
        })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Selector::Ecmp(_) => Algorithm::Ecmp,
            Selector::Maglev(m) => Algorithm::Maglev { table_size: m.size },
        }
    }

    /// The live members (vRouter: in slot order).
    pub fn members(&self) -> Vec<Backend> {
        match self {
            Selector::Ecmp(s) => s.slots().iter().flatten().copied().collect(),
            Selector::Maglev(m) => m.members.clone(),
        }
    }

    /// The member for a 5-tuple; `None` without members.
    #[inline]
    pub fn select(&self, t: &FiveTuple) -> Option<&Backend> {
        self.select_hash(flow_hash(t))
    }

    /// The members for a burst of 5-tuples: `out[i]` is
    /// `self.select(&tuples[i])` (`out` must be at least as long as
    /// `tuples`). The tuples go in blocks of [`SELECT_BLOCK`]: first the
    /// block's hashes, [`LANES`](super::hash::LANES) at a time
    /// ([`flow_hashes`]), then its selections, so that the rounds of
    /// independent hashes interleave and so do the table reads.
    pub fn select_burst<'a>(&'a self, tuples: &[FiveTuple], out: &mut [Option<&'a Backend>]) {
        assert!(out.len() >= tuples.len(), "one answer per tuple");
        let mut hashes = [0u64; SELECT_BLOCK];
        for (block, answers) in tuples
            .chunks(SELECT_BLOCK)
            .zip(out.chunks_mut(SELECT_BLOCK))
        {
            flow_hashes(block, &mut hashes);
            for (a, &h) in answers.iter_mut().zip(&hashes[..block.len()]) {
                *a = self.select_hash(h);
            }
        }
    }

    /// The member for a flow hash already computed.
    #[inline]
    pub fn select_hash(&self, h: u64) -> Option<&Backend> {
        match self {
            Selector::Ecmp(s) => s.select(h),
            Selector::Maglev(m) => m.select(h),
        }
    }

    /// Where the member for a flow hash is: for Maglev its position in
    /// [`Maglev::members`], for the vRouter scheme its slot in
    /// [`Slots::slots`]; `None` without members. For callers that keep
    /// their own copy of the members in that order (the C API keeps them
    /// in C form).
    #[inline]
    pub fn select_index(&self, h: u64) -> Option<usize> {
        match self {
            Selector::Ecmp(s) => s.select_index(h),
            Selector::Maglev(m) => m.select_index(h),
        }
    }

    /// Adds a member (ECMP: first empty slot; Maglev: table rebuilt).
    pub fn add(&mut self, b: Backend) -> Result<(), EcmpError> {
        match self {
            Selector::Ecmp(s) => {
                s.add(b);
            }
            Selector::Maglev(m) => {
                if !m.members.contains(&b) {
                    let mut members = m.members.clone();
                    members.push(b);
                    *m = Maglev::new(members, m.size)?;
                }
            }
        }
        Ok(())
    }

    /// Removes a member (ECMP: its slot is left empty; Maglev: table rebuilt).
    pub fn remove(&mut self, b: &Backend) -> Result<(), EcmpError> {
        match self {
            Selector::Ecmp(s) => {
                s.remove(b);
            }
            Selector::Maglev(m) => {
                if m.members.contains(b) {
                    let members: Vec<Backend> =
                        m.members.iter().copied().filter(|x| x != b).collect();
                    *m = Maglev::new(members, m.size)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn backends(n: u32) -> Vec<Backend> {
        (0..n)
            .map(|i| Backend {
                address: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
                port: 8080,
                weight: 1,
            })
            .collect()
    }

    /// Deterministic pseudo-random 5-tuples.
    fn tuples(n: usize) -> Vec<FiveTuple> {
        (0..n as u64)
            .map(|i| {
                let r = super::super::hash::mix(i.wrapping_add(0x1234_5678));
                FiveTuple {
                    protocol: 6,
                    src: IpAddr::V4(Ipv4Addr::from(r as u32)),
                    src_port: (r >> 32) as u16,
                    dst: "10.96.0.10".parse().unwrap(),
                    dst_port: 80,
                }
            })
            .collect()
    }

    fn moved(a: &Selector, b: &Selector, ts: &[FiveTuple]) -> (usize, Vec<(Backend, Backend)>) {
        let mut n = 0;
        let mut pairs = Vec::new();
        for t in ts {
            let (x, y) = (a.select(t).unwrap(), b.select(t).unwrap());
            if x != y {
                n += 1;
                pairs.push((*x, *y));
            }
        }
        (n, pairs)
    }

    #[test]
    fn slots_are_stable() {
        let mut s = Slots::new(["a", "b", "c"]);
        assert_eq!(s.remove(&"b"), Some(1));
        assert_eq!(s.slots(), &[Some("a"), None, Some("c")]);
        assert_eq!(s.add("d"), 1, "a new member fills the first hole");
        assert_eq!(s.add("e"), 3, "else it is appended");
        assert_eq!(s.live(), 4);
    }

    #[test]
    fn ecmp_removal_moves_only_the_removed_members_flows() {
        let ts = tuples(100_000);
        let all = backends(10);
        let a = Selector::new(Algorithm::Ecmp, all.clone()).unwrap();
        let mut b = a.clone();
        b.remove(&all[3]).unwrap();
        let (n, pairs) = moved(&a, &b, &ts);
        assert!(
            pairs.iter().all(|(from, _)| *from == all[3]),
            "only member 3's flows move"
        );
        let frac = n as f64 / ts.len() as f64;
        assert!((0.08..0.12).contains(&frac), "about 1/10 moved: {frac}");
        // A new member takes the hole: member 3's former flows go to it and
        // nobody else moves.
        let newcomer = backends(11)[10];
        b.add(newcomer).unwrap();
        let mut expect = all.clone();
        expect[3] = newcomer;
        assert_eq!(b.members(), expect);
        let (_, pairs) = moved(&a, &b, &ts);
        assert!(
            pairs
                .iter()
                .all(|(from, to)| *from == all[3] && *to == newcomer)
        );
    }

    #[test]
    fn maglev_balance_at_100_members() {
        let m = Maglev::new(backends(100), MAGLEV_DEFAULT_SIZE).unwrap();
        let counts = m.slot_counts();
        let avg = MAGLEV_DEFAULT_SIZE as f64 / 100.0;
        let max = *counts.iter().max().unwrap() as f64;
        assert!(max / avg <= 1.05, "max/avg = {}", max / avg);
    }

    #[test]
    fn maglev_disruption_is_about_one_nth() {
        let ts = tuples(100_000);
        let all = backends(100);
        let a = Selector::new(
            Algorithm::Maglev {
                table_size: MAGLEV_DEFAULT_SIZE,
            },
            all.clone(),
        )
        .unwrap();
        let mut removed = a.clone();
        removed.remove(&all[42]).unwrap();
        let (n, _) = moved(&a, &removed, &ts);
        assert!(
            (n as f64) / (ts.len() as f64) <= 2.0 / 100.0,
            "removal moved {n}"
        );
        let mut added = a.clone();
        added
            .add(Backend {
                address: "10.9.9.9".parse().unwrap(),
                port: 8080,
                weight: 1,
            })
            .unwrap();
        let (n, _) = moved(&a, &added, &ts);
        assert!(
            (n as f64) / (ts.len() as f64) <= 2.0 / 100.0,
            "addition moved {n}"
        );
    }

    #[test]
    fn maglev_weights_and_validation() {
        let mut bs = backends(2);
        bs[1].weight = 3;
        let m = Maglev::new(bs, 1009).unwrap();
        let c = m.slot_counts();
        let ratio = c[1] as f64 / c[0] as f64;
        assert!((2.7..3.3).contains(&ratio), "{c:?}");
        assert!(matches!(
            Maglev::new(backends(2), 65536),
            Err(EcmpError::NotPrime(65536))
        ));
        assert!(Maglev::new(backends(20), 17).is_err());
    }

    #[test]
    fn same_tuple_same_member() {
        let ts = tuples(1000);
        for alg in [Algorithm::Ecmp, Algorithm::Maglev { table_size: 251 }] {
            let a = Selector::new(alg, backends(7)).unwrap();
            let b = Selector::new(alg, backends(7)).unwrap();
            assert_eq!(moved(&a, &b, &ts).0, 0);
        }
    }

    #[test]
    fn maglev_updates_keep_the_table_size() {
        let alg = Algorithm::Maglev { table_size: 251 };
        let mut sel = Selector::new(alg, backends(3)).unwrap();
        sel.add(backends(4)[3]).unwrap();
        for b in backends(4) {
            sel.remove(&b).unwrap();
        }
        assert_eq!(sel.algorithm(), alg);
        assert!(sel.members().is_empty());
        assert_eq!(sel.select(&tuples(1)[0]), None, "no members, no choice");
        sel.add(backends(1)[0]).unwrap();
        let Selector::Maglev(m) = &sel else {
            panic!("a Maglev selector")
        };
        assert_eq!((m.table_size(), m.slot_counts()), (251, vec![251]));
    }

    #[test]
    fn fast_remainder_edges() {
        for d in [1u64, 2, 3, 7, 251, 65537, 1 << 32, u64::MAX - 1, u64::MAX] {
            let f = FastMod::new(d);
            for x in [0u64, 1, d - 1, d, d.wrapping_add(1), u64::MAX, u64::MAX - 1] {
                assert_eq!(f.rem(x), x % d, "{x} % {d}");
            }
        }
    }

    /// A burst selects what one call per tuple selects, for bursts of every
    /// length around the lane count and the block, IPv4 and IPv6 tuples
    /// mixed within a group or not, and without members.
    #[test]
    fn bursts_select_like_single_calls() {
        let mut ts = tuples(150);
        for (i, t) in ts.iter_mut().enumerate().skip(20) {
            if i % 3 == 0 {
                t.src = format!("fd00::{i:x}").parse().unwrap();
                t.dst = "fd00::a".parse().unwrap();
            }
        }
        let maglev = Algorithm::Maglev { table_size: 251 };
        for sel in [
            Selector::new(Algorithm::Ecmp, backends(7)).unwrap(),
            Selector::new(maglev, backends(7)).unwrap(),
            Selector::new(maglev, Vec::new()).unwrap(),
        ] {
            for n in [0, 1, 3, 4, 5, 8, 19, 63, 64, 65, 130] {
                for start in [0, 18] {
                    let burst = &ts[start.min(150 - n)..][..n];
                    let mut out = vec![None; n + 1];
                    sel.select_burst(burst, &mut out);
                    let single: Vec<_> = burst.iter().map(|t| sel.select(t)).collect();
                    assert_eq!(&out[..n], &single[..], "{n} tuples from {start}");
                    assert_eq!(out[n], None, "nothing written past the burst");
                }
            }
        }
    }

    /// Maglev picks `members[table[hash % M]]`, and `select_index` names
    /// the member `select` returns, for both algorithms.
    #[test]
    fn selection_by_index_matches_the_definition() {
        let mut ecmp = Selector::new(Algorithm::Ecmp, backends(9)).unwrap();
        ecmp.remove(&backends(9)[4]).unwrap();
        let maglev = Selector::new(
            Algorithm::Maglev {
                table_size: MAGLEV_DEFAULT_SIZE,
            },
            backends(100),
        )
        .unwrap();
        for i in 0..10_000u64 {
            let h = super::super::hash::mix(i);
            let Selector::Maglev(m) = &maglev else {
                unreachable!()
            };
            let by_definition = &m.members[m.table[(h % m.size as u64) as usize] as usize];
            assert_eq!(maglev.select_hash(h), Some(by_definition));
            assert_eq!(
                Some(&m.members()[maglev.select_index(h).unwrap()]),
                maglev.select_hash(h)
            );
            let Selector::Ecmp(s) = &ecmp else {
                unreachable!()
            };
            let slot = ecmp.select_index(h).unwrap();
            assert_eq!(s.slots()[slot].as_ref(), ecmp.select_hash(h));
            assert!(s.slots()[slot].is_some(), "never an empty slot");
        }
        let empty = Selector::new(Algorithm::Ecmp, Vec::new()).unwrap();
        assert_eq!(empty.select_index(1), None);
    }

    proptest::proptest! {
        /// Slot stability under any sequence of additions and removals:
        /// members never change slots, a removal leaves a hole, an addition
        /// takes the first hole else appends, and every hash picks a live
        /// member.
        #[test]
        fn slots_never_move_members(
            ops in proptest::collection::vec((proptest::bool::ANY, 0u8..12), 1..80),
            hashes in proptest::collection::vec(proptest::num::u64::ANY, 16),
        ) {
            let mut s: Slots<u8> = Slots::new([]);
            let mut model: Vec<Option<u8>> = Vec::new();
            for (add, x) in ops {
                if add {
                    let expect = if let Some(i) = model.iter().position(|m| *m == Some(x)) {
                        i
                    } else if let Some(i) = model.iter().position(Option::is_none) {
                        model[i] = Some(x);
                        i
                    } else {
                        model.push(Some(x));
                        model.len() - 1
                    };
                    proptest::prop_assert_eq!(s.add(x), expect);
                } else {
                    let expect = model.iter().position(|m| *m == Some(x));
                    if let Some(i) = expect {
                        model[i] = None;
                    }
                    proptest::prop_assert_eq!(s.remove(&x), expect);
                }
                proptest::prop_assert_eq!(s.slots(), &model[..]);
                let live: Vec<u8> = model.iter().flatten().copied().collect();
                proptest::prop_assert_eq!(s.live(), live.len());
                for &h in &hashes {
                    let want = match model.get((h % model.len().max(1) as u64) as usize) {
                        Some(Some(x)) => Some(*x),
                        _ if live.is_empty() => None,
                        _ => Some(live[(h % live.len() as u64) as usize]),
                    };
                    proptest::prop_assert_eq!(s.select(h).copied(), want);
                }
            }
        }

        /// The division-free remainder equals `%` for any dividend and
        /// divisor, and for divisors of table sizes.
        #[test]
        fn fast_remainder_is_exact(x in proptest::num::u64::ANY, d in 1u64.., small in 1u64..1_000_000) {
            proptest::prop_assert_eq!(FastMod::new(d).rem(x), x % d);
            proptest::prop_assert_eq!(FastMod::new(small).rem(x), x % small);
        }

        /// Maglev fills every slot, and without weights every member holds
        /// `floor(M/N)` or `ceil(M/N)` slots (members take turns).
        #[test]
        fn maglev_fills_evenly(n in 1u32..60, size in proptest::sample::select(vec![251usize, 1009, 4099])) {
            let m = Maglev::new(backends(n), size).unwrap();
            let counts = m.slot_counts();
            proptest::prop_assert_eq!(counts.iter().sum::<usize>(), size);
            let lo = size / n as usize;
            proptest::prop_assert!(counts.iter().all(|&c| c == lo || c == lo + 1), "{:?}", counts);
        }
    }
}
