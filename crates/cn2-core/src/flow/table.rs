//! The storage under [`FlowTable`](super::FlowTable): fixed-size shards of
//! open-addressed, linearly probed slots, one cache line per flow.
//!
//! **Layout.** A flow is one 64-byte, 64-byte-aligned [`Entry`]: source,
//! destination and rewrite addresses as 128-bit numbers (IPv4 as
//! `::ffff:a.b.c.d`, with a family bit so that an IPv6 packet to a mapped
//! address never matches an IPv4 flow), the VRF, the low 32 bits of the last
//! use time, the three ports, the protocol and a state byte. A lookup reads
//! one cache line in the common case: the home slot, where the flow usually
//! is (linear probing keeps collisions in the following lines, which the
//! hardware prefetcher fetches with it).
//!
//! **Hash.** Slots and shards come from a private 64-bit hash of the whole key
//! (three independent 64×64→128-bit multiply-folds combined and folded once
//! more, in the style of wyhash): short, with no serial chain of rounds, so
//! that a burst of lookups hashes in parallel. It never leaves the process and
//! is not the documented [flow hash](crate::ecmp::hash), which chooses members.
//! The top bits pick the shard, the low 32 bits the home slot (by
//! multiply-shift, so shard sizes need not be powers of two).
//!
//! **Deletion** uses backward shifting (Knuth's Algorithm R): the entries of
//! the cluster after the hole move back when their home allows it, so the
//! table never holds tombstones and probe lengths do not grow with churn.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::ecmp::hash::addr_bits;

/// State bit: the slot holds a flow.
pub(super) const OCCUPIED: u8 = 1;
/// State bit: marked for early eviction (TCP FIN or RST seen).
pub(super) const EVICT: u8 = 2;
/// State bit: the key's addresses are IPv6.
pub(super) const KEY_V6: u8 = 4;
/// State bit: action NAT (else FORWARD).
pub(super) const NAT: u8 = 16;
/// State bit: the reply direction of a NAT pair (SNAT|SPAT; else DNAT|DPAT).
pub(super) const REPLY: u8 = 32;

/// A flow key in the form the table compares: addresses as 128-bit numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct RawKey {
    pub src: u128,
    pub dst: u128,
    pub vrf: u32,
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
    /// [`KEY_V6`] or 0.
    pub family: u8,
}

impl RawKey {
    /// The raw form of `(vrf, 5-tuple)`.
    #[inline]
    pub fn new(vrf: u32, t: &crate::ecmp::FiveTuple) -> RawKey {
        RawKey {
            src: addr_bits(&t.src),
            dst: addr_bits(&t.dst),
            vrf,
            src_port: t.src_port,
            dst_port: t.dst_port,
            protocol: t.protocol,
            family: if t.dst.is_ipv6() { KEY_V6 } else { 0 },
        }
    }

    /// The table's hash of the key (see the module documentation).
    #[inline]
    pub fn hash(&self) -> u64 {
        const K: [u64; 7] = [
            0xa076_1d64_78bd_642f,
            0xe703_7ed1_a0b4_28db,
            0x8ebc_6af0_9c88_c6e3,
            0x5899_65cc_7537_4cc3,
            0x1d8e_4e27_c47d_124f,
            0x9e37_79b9_7f4a_7c15,
            0xd6e8_feb8_6659_fd93,
        ];
        #[inline]
        fn fold(a: u64, b: u64) -> u64 {
            let r = (a as u128).wrapping_mul(b as u128);
            (r as u64) ^ ((r >> 64) as u64)
        }
        let ports = (self.protocol as u64) << 40
            | (self.family as u64) << 32
            | (self.src_port as u64) << 16
            | self.dst_port as u64;
        let a = fold((self.src >> 64) as u64 ^ K[0], self.src as u64 ^ K[1]);
        let b = fold((self.dst >> 64) as u64 ^ K[2], self.dst as u64 ^ K[3]);
        let c = fold(ports ^ K[4], self.vrf as u64 ^ K[5]);
        fold(a ^ b.rotate_left(23) ^ c.rotate_left(47), K[6])
    }

    /// Decodes one of the key's addresses.
    #[inline]
    pub fn addr(&self, bits: u128) -> IpAddr {
        decode(bits, self.family == KEY_V6)
    }
}

/// An address from its 128-bit form and family.
#[inline]
pub(super) fn decode(bits: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(bits))
    } else {
        IpAddr::V4(Ipv4Addr::from(bits as u32))
    }
}

/// One flow: exactly one cache line.
#[repr(C, align(64))]
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Entry {
    pub src: u128,
    pub dst: u128,
    /// The rewritten address: the member (DNAT) or the FloatingIP (SNAT).
    pub rewrite: u128,
    pub vrf: u32,
    /// Low 32 bits of the last use time (idle intervals below 2³¹ s compare
    /// correctly with wrapping, signed arithmetic).
    pub last_used: u32,
    pub src_port: u16,
    pub dst_port: u16,
    pub rewrite_port: u16,
    pub protocol: u8,
    /// `OCCUPIED | EVICT | KEY_V6 | NAT | REPLY` bits.
    pub state: u8,
}

const _: () = assert!(std::mem::size_of::<Entry>() == 64);

impl Entry {
    /// Whether the entry holds `k`.
    #[inline]
    fn matches(&self, k: &RawKey) -> bool {
        self.state & OCCUPIED != 0
            && self.src == k.src
            && self.dst == k.dst
            && self.vrf == k.vrf
            && self.src_port == k.src_port
            && self.dst_port == k.dst_port
            && self.protocol == k.protocol
            && self.state & KEY_V6 == k.family
    }

    /// The entry's key.
    #[inline]
    pub fn key(&self) -> RawKey {
        RawKey {
            src: self.src,
            dst: self.dst,
            vrf: self.vrf,
            src_port: self.src_port,
            dst_port: self.dst_port,
            protocol: self.protocol,
            family: self.state & KEY_V6,
        }
    }

    /// An occupied entry for `k`.
    #[inline]
    pub fn new(k: &RawKey, state: u8, rewrite: (u128, u16), now: u64) -> Entry {
        Entry {
            src: k.src,
            dst: k.dst,
            rewrite: rewrite.0,
            vrf: k.vrf,
            last_used: now as u32,
            src_port: k.src_port,
            dst_port: k.dst_port,
            rewrite_port: rewrite.1,
            protocol: k.protocol,
            state: state | OCCUPIED | k.family,
        }
    }

    /// The key of the other direction (see [`super::FlowTable`]); both
    /// directions are in one address family.
    #[inline]
    pub fn reverse_key(&self) -> RawKey {
        let k = self.key();
        let (src, src_port, dst, dst_port) = if self.state & NAT == 0 {
            (k.dst, k.dst_port, k.src, k.src_port)
        } else if self.state & REPLY == 0 {
            (self.rewrite, self.rewrite_port, k.src, k.src_port)
        } else {
            (k.dst, k.dst_port, self.rewrite, self.rewrite_port)
        };
        RawKey {
            src,
            dst,
            src_port,
            dst_port,
            ..k
        }
    }
}

/// Bytes of a huge page: slot arrays this large or larger are aligned to it
/// and, on Linux, offered to transparent huge pages.
pub(super) const HUGE_PAGE: usize = 2 << 20;

/// A zeroed array of entries (all empty: state 0), allocated once: the
/// slots of every shard of a table, each shard a [`SlotView`] of it.
///
/// A table of a million flows spans over a hundred megabytes; with 4 KiB
/// pages nearly every random lookup also misses the TLB, and a page walk
/// (doubly so in a virtual machine) costs more than the cache miss itself.
/// Arrays of at least [`HUGE_PAGE`] bytes are therefore 2 MiB-aligned and
/// advised `MADV_HUGEPAGE`, so the kernel backs them with huge pages where
/// transparent huge pages are enabled (`always` or `madvise`). One array
/// for all shards, not one per shard, so that a table whose shards are each
/// smaller than a huge page still gets them.
pub(super) struct SlotArray {
    ptr: std::ptr::NonNull<Entry>,
    n: usize,
    layout: std::alloc::Layout,
}

// SAFETY: a SlotArray owns its entries like a Box<[Entry]> does.
unsafe impl Send for SlotArray {}
// SAFETY: a SlotArray hands out its memory only through `views`, whose
// caller takes over the synchronisation.
unsafe impl Sync for SlotArray {}

impl SlotArray {
    /// `n` empty entries.
    pub fn new(n: usize) -> SlotArray {
        let size = n.max(1) * std::mem::size_of::<Entry>();
        let align = if size >= HUGE_PAGE {
            HUGE_PAGE
        } else {
            std::mem::align_of::<Entry>()
        };
        let layout = std::alloc::Layout::from_size_align(size, align).expect("a valid layout");
        // SAFETY: the layout has a non-zero size. (Not `alloc_zeroed`: with
        // a large alignment it would zero, and so fault in every page, before
        // the advice below could take effect.)
        let raw = unsafe { std::alloc::alloc(layout) } as *mut Entry;
        let Some(ptr) = std::ptr::NonNull::new(raw) else {
            std::alloc::handle_alloc_error(layout);
        };
        #[cfg(target_os = "linux")]
        if align == HUGE_PAGE {
            // SAFETY: the range is exactly our own, page-aligned allocation;
            // the advice only changes how the kernel backs it. Failure (huge
            // pages disabled) leaves ordinary pages, which is fine.
            unsafe { libc::madvise(raw.cast(), size, libc::MADV_HUGEPAGE) };
        }
        // SAFETY: `size` bytes at `raw` are ours; zero bytes are empty entries.
        unsafe { std::ptr::write_bytes(raw.cast::<u8>(), 0, size) };
        SlotArray { ptr, n, layout }
    }

    /// The array cut into consecutive views of `each` slots (the last one
    /// shorter if `each` does not divide the length).
    ///
    /// # Safety
    /// The views must not be used after the array is dropped; each view is
    /// the only access to its slots, so its user must serialise access to it
    /// (a shard's lock does).
    pub unsafe fn views(&mut self, each: usize) -> Vec<SlotView> {
        assert!(each >= 1, "views of at least one slot");
        (0..self.n)
            .step_by(each)
            .map(|start| SlotView {
                // SAFETY: `start < n`, inside the allocation.
                ptr: unsafe { self.ptr.add(start) },
                n: each.min(self.n - start),
            })
            .collect()
    }
}

impl Drop for SlotArray {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; entries need no drop.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr().cast(), self.layout) }
    }
}

/// One shard's part of a [`SlotArray`], used as a slice of entries.
pub(super) struct SlotView {
    ptr: std::ptr::NonNull<Entry>,
    n: usize,
}

// SAFETY: a view is the only access to its entries (see `SlotArray::views`),
// which are plain data.
unsafe impl Send for SlotView {}

impl std::ops::Deref for SlotView {
    type Target = [Entry];
    fn deref(&self) -> &[Entry] {
        // SAFETY: `n` initialised entries of a live array (the contract of
        // `SlotArray::views`), reached through this view alone.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.n) }
    }
}

impl std::ops::DerefMut for SlotView {
    fn deref_mut(&mut self) -> &mut [Entry] {
        // SAFETY: as in `deref`, and `&mut self` is exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.n) }
    }
}

/// One shard's slots.
pub(super) struct Slots {
    pub slots: SlotView,
    /// Occupied slots.
    pub len: usize,
}

/// The home slot of a hash in a shard of `n` slots.
#[inline]
pub(super) fn home(hash: u64, n: usize) -> usize {
    (((hash as u32) as u64 * n as u64) >> 32) as usize
}

impl Slots {
    /// The slots of `view`, all empty.
    pub fn new(view: SlotView) -> Slots {
        debug_assert!(view.iter().all(|e| e.state & OCCUPIED == 0));
        Slots {
            slots: view,
            len: 0,
        }
    }

    #[inline]
    fn next(&self, i: usize) -> usize {
        if i + 1 == self.slots.len() { 0 } else { i + 1 }
    }

    /// The slot holding `k`, probing from `hash`'s home.
    #[inline]
    pub fn find(&self, k: &RawKey, hash: u64) -> Option<usize> {
        let mut i = home(hash, self.slots.len());
        loop {
            let e = &self.slots[i];
            if e.state & OCCUPIED == 0 {
                return None;
            }
            if e.matches(k) {
                return Some(i);
            }
            i = self.next(i);
        }
    }

    /// Whether `extra` more entries fit, always keeping one slot empty so
    /// that every probe ends.
    #[inline]
    pub fn has_room(&self, extra: usize) -> bool {
        self.len + extra < self.slots.len()
    }

    /// Stores `e` (whose key is absent) in the first empty slot from home.
    #[inline]
    pub fn insert(&mut self, e: Entry, hash: u64) {
        debug_assert!(self.has_room(1));
        let mut i = home(hash, self.slots.len());
        while self.slots[i].state & OCCUPIED != 0 {
            i = self.next(i);
        }
        self.slots[i] = e;
        self.len += 1;
    }

    /// Empties slot `i` and shifts the rest of its cluster back.
    pub fn remove_at(&mut self, i: usize) {
        let n = self.slots.len();
        let mut hole = i;
        let mut j = self.next(i);
        while self.slots[j].state & OCCUPIED != 0 {
            let h = home(self.slots[j].key().hash(), n);
            // The entry at j may fill the hole if the hole lies on its probe
            // path, i.e. between its home and j (cyclically).
            let dist_home = (j + n - h) % n;
            let dist_hole = (j + n - hole) % n;
            if dist_home >= dist_hole {
                self.slots[hole] = self.slots[j];
                hole = j;
            }
            j = self.next(j);
        }
        self.slots[hole] = Entry::default();
        self.len -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(i: u16) -> RawKey {
        RawKey {
            src: 0xffff_0a00_0000 | i as u128,
            dst: 0xffff_0a60_000a,
            vrf: 1,
            src_port: i,
            dst_port: 80,
            protocol: 6,
            family: 0,
        }
    }

    #[test]
    fn an_entry_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Entry>(), 64);
        assert_eq!(std::mem::align_of::<Entry>(), 64);
    }

    #[test]
    fn large_arrays_are_huge_page_aligned_and_cut_into_views() {
        let mut a = SlotArray::new(HUGE_PAGE / 64 + 10);
        // SAFETY: `a` outlives the views, used by this thread alone.
        let views = unsafe { a.views(HUGE_PAGE / 128) };
        assert_eq!(views[0].as_ptr() as usize % HUGE_PAGE, 0);
        let lens: Vec<usize> = views.iter().map(|v| v.len()).collect();
        assert_eq!(lens, [HUGE_PAGE / 128, HUGE_PAGE / 128, 10]);
        assert_eq!(
            views[1].as_ptr() as usize - views[0].as_ptr() as usize,
            HUGE_PAGE / 2,
            "consecutive"
        );
        assert!(
            views.iter().all(|v| v.iter().all(|e| e.state == 0)),
            "all slots start empty"
        );
    }

    proptest! {
        /// A nearly full shard (collisions, clusters that wrap around the
        /// end) keeps every flow findable through any order of insertions
        /// and removals.
        #[test]
        fn probing_and_backward_shift_keep_every_flow_findable(
            n in 8usize..40,
            ops in prop::collection::vec((any::<bool>(), 0u16..48), 1..300),
        ) {
            let mut array = SlotArray::new(n);
            // SAFETY: `array` outlives the view, used by this thread alone.
            let mut s = Slots::new(unsafe { array.views(n) }.remove(0));
            let mut model = std::collections::BTreeSet::new();
            for (insert, i) in ops {
                let k = key(i);
                let h = k.hash();
                if insert {
                    if !model.contains(&i) && s.has_room(1) {
                        s.insert(Entry::new(&k, 0, (0, 0), 0), h);
                        model.insert(i);
                    }
                } else if let Some(at) = s.find(&k, h) {
                    s.remove_at(at);
                    prop_assert!(model.remove(&i));
                } else {
                    prop_assert!(!model.contains(&i));
                }
                prop_assert_eq!(s.len, model.len());
                for j in 0..48u16 {
                    let found = s.find(&key(j), key(j).hash()).map(|at| s.slots[at].key());
                    prop_assert_eq!(found, model.contains(&j).then(|| key(j)));
                }
            }
        }
    }
}
