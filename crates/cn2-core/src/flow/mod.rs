//! The flow table with NAT, as the vRouter keeps it.
//!
//! A flow is keyed by `(vrf, protocol, src ip, src port, dst ip, dst port)`.
//! The first packet of a connection to a FloatingIP address on a mapped port
//! chooses a member and creates two flows:
//!
//! * the **forward** flow: action NAT with `DNAT | DPAT` — the destination is
//!   rewritten to the member's address and target port;
//! * the **reverse** flow, keyed by the member's reply 5-tuple: action NAT
//!   with `SNAT | SPAT` — the source is rewritten back to the FloatingIP and
//!   the service port.
//!
//! Each references the other. Later packets of the connection use the stored
//! flow, so they keep their member even when members are added (**flow
//! affinity**). A packet to a FloatingIP on a port without a mapping is
//! dropped (`PORT_MAP_DROP`); traffic not to a FloatingIP is forwarded
//! untranslated (pod-originated connections are never source-translated).
//!
//! A connection whose two flows have both been idle longer than the idle
//! timeout (180 s by default) expires at [`FlowTable::expire`]; a TCP FIN or
//! RST in either direction marks both flows for eviction at the next sweep.
//! The table has a fixed capacity: a full table refuses new flows
//! (`FLOW_TABLE_FULL`) and never evicts a live flow to make room; a member
//! reply tuple already in use refuses the connection too
//! (`REVERSE_FLOW_CONFLICT`) rather than overwrite another flow.
//!
//! **Embedding.** A data-plane agent calls [`FlowTable::process`] (or
//! [`FlowTable::process_burst`] for a burst of packets) from any number of
//! threads. The table is split into [`SHARDS`] shards by the top bits of a
//! hash of the key, each a fixed array of one-cache-line slots (see the
//! `table` submodule for the layout) behind its own spin lock (the `lock`
//! submodule): a lookup locks one shard for a few dozen nanoseconds, never
//! the whole table, and allocates nothing. Creating a connection locks the
//! shards of both its flows, in index order, so readers see both flows or
//! neither and two creators never deadlock. A per-core table would avoid even
//! the shard lock, but needs the NIC to steer both directions of a
//! connection to the same core (symmetric RSS); one table with short-held
//! shard locks works whatever the steering. All memory is allocated when the
//! table is made. Time is passed in by the caller (any monotonic clock, in
//! seconds), so the table has no clock of its own.
//!
//! **Bursts.** A table of a million flows is far larger than the caches, so a
//! lookup is bound by one memory access. [`FlowTable::process_burst`] hashes
//! and prefetches the slots of a group of packets two groups before it looks
//! them up: the memory accesses of a burst overlap instead of queuing (the
//! staged prefetching of DPDK's bulk hash lookups). See `BENCHMARKS.md` for
//! the figures.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use rustc_hash::FxHashMap;

pub use from_plan::{NodeTable, node_table};

use crate::ecmp::Selector;
use crate::ecmp::hash::{FiveTuple, addr_bits};
use lock::{ShardGuard, ShardLock};
use table::{EVICT, Entry, KEY_V6, NAT, OCCUPIED, REPLY, RawKey, SlotArray, Slots};

/// TCP FIN flag bit.
pub const TCP_FIN: u8 = 0x01;
/// TCP RST flag bit.
pub const TCP_RST: u8 = 0x04;
/// The default idle timeout, in seconds.
pub const DEFAULT_IDLE_TIMEOUT: u64 = 180;
/// The number of shards (each with its own lock).
pub const SHARDS: usize = 64;
/// The packets [`FlowTable::process_burst`] hashes and prefetches together.
pub const BURST_GROUP: usize = 4;
/// How many groups ahead of its lookups [`FlowTable::process_burst`]
/// prefetches.
pub const BURST_GROUPS_AHEAD: usize = 2;
/// Slots an expiry sweep examines between releases of a shard's lock.
const SWEEP_CHUNK: usize = 1024;

/// Errors of flow-table configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    /// A capacity below one connection.
    #[error("a flow table needs a capacity of at least 2 flows")]
    ZeroCapacity,
    /// A capacity too large to allocate.
    #[error("a flow table of {0} flows is too large")]
    TooLarge(usize),
}

/// A flow key: `(vrf, protocol, src ip, src port, dst ip, dst port)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// The VRF the packet is in.
    pub vrf: u32,
    /// The 5-tuple.
    pub tuple: FiveTuple,
}

/// What a flow does with its packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Forwarded untranslated.
    Forward,
    /// Translated.
    Nat,
    /// Dropped.
    Drop,
}

impl Action {
    /// `FORWARD`, `NAT` or `DROP`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Forward => "FORWARD",
            Action::Nat => "NAT",
            Action::Drop => "DROP",
        }
    }
}

/// Why a packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// To a FloatingIP on a port without a mapping.
    PortMapDrop,
    /// To a mapped port of a service without members.
    NoMember,
    /// The flow table (or the packet's shard of it) is full.
    FlowTableFull,
    /// The member's reply 5-tuple is already the key of another live flow
    /// (the same client port reaching the same member through two
    /// FloatingIPs); creating the connection would overwrite that flow.
    ReverseFlowConflict,
    /// A 5-tuple mixing IPv4 and IPv6, or a member of the other family.
    AddressFamilyMismatch,
}

impl DropReason {
    /// `PORT_MAP_DROP`, `NO_MEMBER`, `FLOW_TABLE_FULL`,
    /// `REVERSE_FLOW_CONFLICT` or `ADDRESS_FAMILY_MISMATCH`.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::PortMapDrop => "PORT_MAP_DROP",
            DropReason::NoMember => "NO_MEMBER",
            DropReason::FlowTableFull => "FLOW_TABLE_FULL",
            DropReason::ReverseFlowConflict => "REVERSE_FLOW_CONFLICT",
            DropReason::AddressFamilyMismatch => "ADDRESS_FAMILY_MISMATCH",
        }
    }
}

/// NAT flags of a flow (a bit set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NatFlags(pub u8);

impl NatFlags {
    /// Source address rewritten.
    pub const SNAT: u8 = 1;
    /// Source port rewritten.
    pub const SPAT: u8 = 2;
    /// Destination address rewritten.
    pub const DNAT: u8 = 4;
    /// Destination port rewritten.
    pub const DPAT: u8 = 8;

    /// The flags' names, in the order SNAT, SPAT, DNAT, DPAT.
    pub fn names(self) -> Vec<&'static str> {
        [
            (Self::SNAT, "SNAT"),
            (Self::SPAT, "SPAT"),
            (Self::DNAT, "DNAT"),
            (Self::DPAT, "DPAT"),
        ]
        .into_iter()
        .filter(|(b, _)| self.0 & b != 0)
        .map(|(_, n)| n)
        .collect()
    }
}

/// An address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Address.
    pub address: IpAddr,
    /// Port.
    pub port: u16,
}

/// One flow, as [`FlowTable`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// Its key.
    pub key: FlowKey,
    /// Its action.
    pub action: Action,
    /// NAT flags: `DNAT | DPAT` on the forward flow of a translated
    /// connection, `SNAT | SPAT` on its reverse flow, none otherwise.
    pub flags: NatFlags,
    /// The rewritten address and port (destination for DNAT, source for SNAT).
    pub rewrite: Option<(IpAddr, u16)>,
    /// The key of the other direction.
    pub reverse: FlowKey,
    /// The member serving a translated connection.
    pub member: Option<Endpoint>,
    /// When a packet last used it (the caller's clock, in seconds).
    pub last_used: u64,
    /// Marked for early eviction (TCP FIN or RST seen).
    pub evict: bool,
}

/// A packet as the table sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    /// The VRF it is in.
    pub vrf: u32,
    /// Its 5-tuple.
    pub tuple: FiveTuple,
    /// TCP flags (0 for other protocols).
    pub tcp_flags: u8,
}

/// What happens to a packet, with the flows involved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// The action.
    pub action: Action,
    /// Why it is dropped, if it is.
    pub drop_reason: Option<DropReason>,
    /// The flow the packet matched or created.
    pub flow: Option<Flow>,
    /// The other direction's flow, when created by this packet.
    pub reverse: Option<Flow>,
    /// Whether this packet created the flows.
    pub created: bool,
}

impl Verdict {
    fn drop(reason: DropReason) -> Verdict {
        Verdict {
            action: Action::Drop,
            drop_reason: Some(reason),
            flow: None,
            reverse: None,
            created: false,
        }
    }
}

/// What the forwarding path needs for one packet: the compact answer of
/// [`FlowTable::process_burst`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The action.
    pub action: Action,
    /// NAT flags (which of the packet's fields `rewrite` replaces).
    pub flags: NatFlags,
    /// The new address and port (destination for DNAT, source for SNAT).
    pub rewrite: Option<(IpAddr, u16)>,
    /// Why it is dropped, if it is.
    pub drop_reason: Option<DropReason>,
}

impl Decision {
    /// A placeholder for output buffers.
    pub const EMPTY: Decision = Decision {
        action: Action::Drop,
        flags: NatFlags(0),
        rewrite: None,
        drop_reason: None,
    };
}

impl From<&Verdict> for Decision {
    fn from(v: &Verdict) -> Decision {
        Decision {
            action: v.action,
            flags: v.flow.map_or(NatFlags(0), |f| f.flags),
            rewrite: v.flow.and_then(|f| f.rewrite),
            drop_reason: v.drop_reason,
        }
    }
}

/// A packet's 5-tuple with its addresses as 128-bit numbers (see
/// [`addr_bits`]) and their families: the key
/// [`FlowTable::process_bits`] takes from a caller that holds raw address
/// bytes (the C API), so that no `IpAddr` is built on the way in. Of an IPv4
/// address only the low 32 bits count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TupleBits {
    /// IP protocol number.
    pub protocol: u8,
    /// Source address.
    pub src: u128,
    /// Whether the source is IPv6.
    pub src_v6: bool,
    /// Source port.
    pub src_port: u16,
    /// Destination address.
    pub dst: u128,
    /// Whether the destination is IPv6.
    pub dst_v6: bool,
    /// Destination port.
    pub dst_port: u16,
}

impl From<&FiveTuple> for TupleBits {
    fn from(t: &FiveTuple) -> TupleBits {
        TupleBits {
            protocol: t.protocol,
            src: addr_bits(&t.src),
            src_v6: t.src.is_ipv6(),
            src_port: t.src_port,
            dst: addr_bits(&t.dst),
            dst_v6: t.dst.is_ipv6(),
            dst_port: t.dst_port,
        }
    }
}

/// A packet with its 5-tuple as [`TupleBits`]: what
/// [`FlowTable::process_burst_by`] reads of each of its items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PacketBits {
    /// The VRF it is in.
    pub vrf: u32,
    /// Its 5-tuple.
    pub tuple: TupleBits,
    /// TCP flags (0 for other protocols).
    pub tcp_flags: u8,
}

/// What happens to a packet, as [`FlowTable::process_bits`] answers: the
/// fields of [`Verdict`] a forwarding path uses, with addresses as 128-bit
/// numbers (IPv4 as `::ffff:a.b.c.d`) in the flow's family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerdictBits {
    /// The action.
    pub action: Action,
    /// Why it is dropped, if it is.
    pub drop_reason: Option<DropReason>,
    /// NAT flags of the matched flow.
    pub flags: NatFlags,
    /// The rewritten address and port (destination for DNAT, source for
    /// SNAT).
    pub rewrite: Option<(u128, u16)>,
    /// The member serving a translated connection.
    pub member: Option<(u128, u16)>,
    /// Whether the flow's addresses are IPv6.
    pub v6: bool,
    /// Whether this packet created the flows.
    pub created: bool,
}

impl VerdictBits {
    /// The answer for a packet that matched the stored flow `e`.
    #[inline]
    fn of_entry(e: &Entry) -> VerdictBits {
        let nat = e.state & NAT != 0;
        let reply = e.state & REPLY != 0;
        VerdictBits {
            action: if nat { Action::Nat } else { Action::Forward },
            drop_reason: None,
            flags: nat_flags(e.state),
            rewrite: nat.then_some((e.rewrite, e.rewrite_port)),
            member: match (nat, reply) {
                (false, _) => None,
                (true, false) => Some((e.rewrite, e.rewrite_port)),
                (true, true) => Some((e.src, e.src_port)),
            },
            v6: e.state & KEY_V6 != 0,
            created: false,
        }
    }
}

impl From<&Verdict> for VerdictBits {
    fn from(v: &Verdict) -> VerdictBits {
        let flow = v.flow;
        VerdictBits {
            action: v.action,
            drop_reason: v.drop_reason,
            flags: flow.map_or(NatFlags(0), |f| f.flags),
            rewrite: flow
                .and_then(|f| f.rewrite)
                .map(|(a, p)| (addr_bits(&a), p)),
            member: flow
                .and_then(|f| f.member)
                .map(|m| (addr_bits(&m.address), m.port)),
            v6: flow.is_some_and(|f| f.key.tuple.dst.is_ipv6()),
            created: v.created,
        }
    }
}

/// One FloatingIP port mapping with its members.
#[derive(Debug, Clone)]
pub struct PortMap {
    /// The target port members listen on (for members with port 0).
    pub target_port: u16,
    /// The member selector.
    pub selector: Selector,
}

/// A shard: its slots behind a spin lock, and their address for prefetching.
struct Shard {
    slots: ShardLock<Slots>,
    /// Address of the first slot (the table's memory never moves).
    base: usize,
    /// Number of slots.
    n: usize,
}

/// A sharded, fixed-capacity flow table with NAT (see the module
/// documentation).
pub struct FlowTable {
    /// The shards, each over its part of `_memory` (declared first: fields
    /// drop in order, so no shard outlives the memory).
    shards: Box<[Shard]>,
    /// The slots of every shard, owned here and reached only through them.
    _memory: SlotArray,
    capacity: usize,
    count: AtomicUsize,
    idle_timeout: u64,
    /// The latest time seen, to widen stored 32-bit times back to 64 bits.
    clock: AtomicU64,
    /// FloatingIPs: `(vrf, address)` → `(protocol, port)` → mapping.
    fips: FxHashMap<(u32, IpAddr), FxHashMap<(u8, u16), PortMap>>,
}

#[inline]
fn shard_of(hash: u64) -> usize {
    (hash >> 58) as usize % SHARDS
}

#[inline]
fn lock(m: &ShardLock<Slots>) -> ShardGuard<'_, Slots> {
    m.lock()
}

/// Hints the CPU to fetch the cache line at `addr`; never faults.
#[inline(always)]
fn prefetch(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch is only a hint; it never faults or reads into
        // the program, whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(addr as *const i8) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

impl FlowTable {
    /// A table of at most `capacity` flows (a connection uses two) whose flows
    /// expire after `idle_timeout` seconds without a packet.
    ///
    /// Each shard gets 1.5 times its share of the capacity in slots (plus a
    /// few), so linear probes stay short; a shard that fills up anyway (an
    /// extreme skew of the hash) refuses new flows like a full table.
    pub fn new(capacity: usize, idle_timeout: u64) -> Result<FlowTable, FlowError> {
        if capacity < 2 {
            return Err(FlowError::ZeroCapacity);
        }
        let share = capacity.div_ceil(SHARDS);
        let per_page = table::HUGE_PAGE / std::mem::size_of::<Entry>();
        let n = share
            .checked_add(share / 2 + 16)
            // Large shards fill whole huge pages.
            .map(|n| {
                if n >= per_page / 2 {
                    n.next_multiple_of(per_page)
                } else {
                    n
                }
            })
            .filter(|n| n.checked_mul(SHARDS * 64).is_some() && *n < u32::MAX as usize)
            .ok_or(FlowError::TooLarge(capacity))?;
        let mut memory = SlotArray::new(n * SHARDS);
        // SAFETY: the table keeps `memory` until it is dropped, after the
        // shards (see the field order), and each view is used only under its
        // shard's lock.
        let views = unsafe { memory.views(n) };
        debug_assert_eq!(views.len(), SHARDS);
        let shards = views
            .into_iter()
            .map(|view| Shard {
                base: view.as_ptr() as usize,
                n,
                slots: ShardLock::new(Slots::new(view)),
            })
            .collect::<Box<[Shard]>>();
        Ok(FlowTable {
            shards,
            _memory: memory,
            capacity,
            count: AtomicUsize::new(0),
            idle_timeout,
            clock: AtomicU64::new(0),
            fips: FxHashMap::default(),
        })
    }

    /// Declares a FloatingIP port mapping: packets in `vrf` to `address`,
    /// `protocol` and `port` go to a member of `map`. Replacing a mapping
    /// leaves existing flows as they are (affinity).
    pub fn map_port(&mut self, vrf: u32, address: IpAddr, protocol: u8, port: u16, map: PortMap) {
        self.fips
            .entry((vrf, address))
            .or_default()
            .insert((protocol, port), map);
    }

    /// Declares a FloatingIP address without port mappings (every port drops).
    pub fn add_floating_ip(&mut self, vrf: u32, address: IpAddr) {
        self.fips.entry((vrf, address)).or_default();
    }

    /// The port mapping of a FloatingIP, for updates of its members.
    pub fn port_map_mut(
        &mut self,
        vrf: u32,
        address: IpAddr,
        protocol: u8,
        port: u16,
    ) -> Option<&mut PortMap> {
        self.fips
            .get_mut(&(vrf, address))?
            .get_mut(&(protocol, port))
    }

    /// The number of flows.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Whether the table holds no flow.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most flows the table holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Looks a flow up without changing it.
    pub fn get(&self, key: &FlowKey) -> Option<Flow> {
        let k = RawKey::new(key.vrf, &key.tuple);
        let h = k.hash();
        let slots = lock(&self.shards[shard_of(h)].slots);
        let i = slots.find(&k, h)?;
        Some(self.flow(&slots.slots[i]))
    }

    /// Widens a stored 32-bit time with the latest time seen.
    fn widen(&self, low: u32) -> u64 {
        let clock = self.clock.load(Ordering::Relaxed);
        clock.wrapping_sub((clock as u32).wrapping_sub(low) as u64)
    }

    /// Records `now` as the latest time seen (rarely a write: the clock moves
    /// once a second).
    #[inline]
    fn tick(&self, now: u64) {
        if now > self.clock.load(Ordering::Relaxed) {
            self.clock.fetch_max(now, Ordering::Relaxed);
        }
    }

    /// The public form of an entry.
    fn flow(&self, e: &Entry) -> Flow {
        let k = e.key();
        let key = raw_to_key(&k);
        let reverse = raw_to_key(&e.reverse_key());
        let nat = e.state & NAT != 0;
        let reply = e.state & REPLY != 0;
        let rewrite = nat.then(|| (k.addr(e.rewrite), e.rewrite_port));
        Flow {
            key,
            action: if nat { Action::Nat } else { Action::Forward },
            flags: nat_flags(e.state),
            rewrite,
            reverse,
            member: match (nat, reply) {
                (false, _) => None,
                (true, false) => rewrite.map(|(address, port)| Endpoint { address, port }),
                (true, true) => Some(Endpoint {
                    address: key.tuple.src,
                    port: key.tuple.src_port,
                }),
            },
            last_used: self.widen(e.last_used),
            evict: e.state & EVICT != 0,
        }
    }

    /// Processes one packet at time `now` (seconds of a monotonic clock):
    /// the stored flow if the connection has one, else the new pair of flows
    /// or the drop.
    pub fn process(&self, pkt: &Packet, now: u64) -> Verdict {
        self.tick(now);
        let k = RawKey::new(pkt.vrf, &pkt.tuple);
        let h = k.hash();
        let closing = closing(pkt);
        match self.hit(&k, h, now, closing) {
            Some(e) => {
                if closing {
                    self.mark(&e.reverse_key());
                }
                let flow = self.flow(&e);
                Verdict {
                    action: flow.action,
                    drop_reason: None,
                    flow: Some(flow),
                    reverse: None,
                    created: false,
                }
            }
            None => self.create(pkt, &k, h, now, closing),
        }
    }

    /// The stored flow of `k` (whose table hash is `h`), recorded as used at
    /// `now`: a copy, taken under its shard's lock.
    #[inline]
    fn hit(&self, k: &RawKey, h: u64, now: u64, closing: bool) -> Option<Entry> {
        self.hit_with(k, h, now, closing, |e| *e)
    }

    /// What `read` makes of the stored flow of `k` (whose table hash is
    /// `h`), recorded as used at `now`, under its shard's lock.
    #[inline(always)]
    fn hit_with<R>(
        &self,
        k: &RawKey,
        h: u64,
        now: u64,
        closing: bool,
        read: impl FnOnce(&Entry) -> R,
    ) -> Option<R> {
        let mut slots = lock(&self.shards[shard_of(h)].slots);
        slots.find(k, h).map(|i| {
            let e = &mut slots.slots[i];
            touch(e, now, closing);
            read(e)
        })
    }

    /// [`FlowTable::process`] for a tuple given as address bits, answering
    /// with address bits: the same flows and decisions, without building an
    /// `IpAddr` or a [`Flow`] for a packet of a known connection (the first
    /// packet of a connection goes through [`FlowTable::process`]'s path).
    /// For callers that hold raw address bytes, such as the C API; inlined,
    /// so that such a caller fills its own answer straight from the flow.
    #[inline]
    pub fn process_bits(&self, vrf: u32, t: &TupleBits, tcp_flags: u8, now: u64) -> VerdictBits {
        self.tick(now);
        let k = key_of_bits(vrf, t);
        let h = k.hash();
        let closing = closing_bits(t, tcp_flags);
        let hit = self.hit_with(&k, h, now, closing, |e| {
            (VerdictBits::of_entry(e), closing.then(|| e.reverse_key()))
        });
        match hit {
            Some((v, reverse)) => {
                if let Some(r) = reverse {
                    self.mark(&r);
                }
                v
            }
            None => self.create_bits(vrf, *t, tcp_flags, now),
        }
    }

    /// The first packet of a connection for [`FlowTable::process_bits`]:
    /// out of line, and given only the packet, so that the lookup before it
    /// keeps its key in registers.
    #[inline(never)]
    fn create_bits(&self, vrf: u32, t: TupleBits, tcp_flags: u8, now: u64) -> VerdictBits {
        let pkt = Packet {
            vrf,
            tuple: FiveTuple {
                protocol: t.protocol,
                src: table::decode(t.src, t.src_v6),
                src_port: t.src_port,
                dst: table::decode(t.dst, t.dst_v6),
                dst_port: t.dst_port,
            },
            tcp_flags,
        };
        // The same key as the lookup's (IPv4 addresses mapped as there).
        let k = RawKey::new(vrf, &pkt.tuple);
        VerdictBits::from(&self.create(&pkt, &k, k.hash(), now, closing(&pkt)))
    }

    /// Prefetches the home slot of `hash` and the next: at the table's load,
    /// a third of the lookups probe one slot further.
    #[inline]
    fn prefetch_home(&self, hash: u64) {
        let s = &self.shards[shard_of(hash)];
        let at = s.base + table::home(hash, s.n) * std::mem::size_of::<Entry>();
        prefetch(at);
        prefetch(at + std::mem::size_of::<Entry>());
    }

    /// Processes a burst of packets at time `now`, writing one [`Decision`]
    /// per packet to `out` (which must be at least as long as `packets`).
    ///
    /// The lookups are software-pipelined in groups of [`BURST_GROUP`]
    /// packets: the keys of a group are hashed together and its slots
    /// prefetched back to back, [`BURST_GROUPS_AHEAD`] groups before the
    /// group is looked up, so that the memory accesses (and address
    /// translations) of a burst overlap. Packets without a flow go through
    /// [`FlowTable::process`]. Nothing is allocated.
    pub fn process_burst(&self, packets: &[Packet], now: u64, out: &mut [Decision]) {
        assert!(out.len() >= packets.len(), "one decision per packet");
        self.pipeline(
            packets,
            now,
            |p| (RawKey::new(p.vrf, &p.tuple), closing(p)),
            |e, k| {
                let nat = e.state & NAT != 0;
                Decision {
                    action: if nat { Action::Nat } else { Action::Forward },
                    flags: nat_flags(e.state),
                    rewrite: nat.then(|| (k.addr(e.rewrite), e.rewrite_port)),
                    drop_reason: None,
                }
            },
            |p, k, h, closing| Decision::from(&self.create(p, k, h, now, closing)),
            |i, d| out[i] = d,
        );
    }

    /// [`FlowTable::process_burst`] for packets in the caller's own form,
    /// which `read` gives as [`PacketBits`], answering with [`VerdictBits`]
    /// (as [`FlowTable::process_bits`] does) through `write(i, verdict)` for
    /// the `i`-th packet: for callers that keep packets and answers in types
    /// of their own, such as the C API, without a copy of the burst.
    #[inline]
    pub fn process_burst_by<T>(
        &self,
        items: &[T],
        now: u64,
        read: impl Fn(&T) -> PacketBits,
        write: impl FnMut(usize, VerdictBits),
    ) {
        self.pipeline(
            items,
            now,
            |item| {
                let p = read(item);
                (
                    key_of_bits(p.vrf, &p.tuple),
                    closing_bits(&p.tuple, p.tcp_flags),
                )
            },
            |e, _| VerdictBits::of_entry(e),
            |item, _, _, _| {
                let p = read(item);
                self.create_bits(p.vrf, p.tuple, p.tcp_flags, now)
            },
            write,
        );
    }

    /// The burst pipeline under [`FlowTable::process_burst`] and
    /// [`FlowTable::process_burst_by`]: `key` gives an item's key and
    /// whether it closes its connection, `hit` the answer from the stored
    /// flow (read in place, under its shard's lock), `miss` the answer for
    /// an item without a flow (given its key and hash), and `emit` takes the
    /// answer of item `i`.
    ///
    /// The lookups are software-pipelined in groups of [`BURST_GROUP`]
    /// items: the keys of a group are built and hashed together and the
    /// group's home slots prefetched back to back, [`BURST_GROUPS_AHEAD`]
    /// groups before the group is looked up. Prefetches issued close
    /// together start their address translations and memory accesses
    /// together, where one prefetch per packet spread between lookups would
    /// let them queue. Nothing is allocated.
    #[inline(always)]
    fn pipeline<T, D>(
        &self,
        items: &[T],
        now: u64,
        key: impl Fn(&T) -> (RawKey, bool),
        hit: impl Fn(&Entry, &RawKey) -> D,
        miss: impl Fn(&T, &RawKey, u64, bool) -> D,
        mut emit: impl FnMut(usize, D),
    ) {
        self.tick(now);
        const RING: usize = BURST_GROUPS_AHEAD + 1;
        let mut keys = [[(RawKey::default(), false); BURST_GROUP]; RING];
        let mut hashes = [[0u64; BURST_GROUP]; RING];
        let groups = items.len().div_ceil(BURST_GROUP);
        let group = |g: usize| &items[g * BURST_GROUP..((g + 1) * BURST_GROUP).min(items.len())];
        let prepare = |g: usize,
                       keys: &mut [(RawKey, bool); BURST_GROUP],
                       hashes: &mut [u64; BURST_GROUP]| {
            let ps = group(g);
            for ((p, k), h) in ps.iter().zip(keys.iter_mut()).zip(hashes.iter_mut()) {
                *k = key(p);
                *h = k.0.hash();
            }
            for &h in &hashes[..ps.len()] {
                self.prefetch_home(h);
            }
        };
        for g in 0..groups.min(BURST_GROUPS_AHEAD) {
            prepare(g, &mut keys[g % RING], &mut hashes[g % RING]);
        }
        for g in 0..groups {
            let ahead = g + BURST_GROUPS_AHEAD;
            if ahead < groups {
                prepare(ahead, &mut keys[ahead % RING], &mut hashes[ahead % RING]);
            }
            let (keys, hashes) = (&keys[g % RING], &hashes[g % RING]);
            for (j, p) in group(g).iter().enumerate() {
                let ((k, closing), h) = (&keys[j], hashes[j]);
                let closing = *closing;
                let found = self.hit_with(k, h, now, closing, |e| {
                    (hit(e, k), closing.then(|| e.reverse_key()))
                });
                let answer = match found {
                    Some((answer, reverse)) => {
                        if let Some(r) = reverse {
                            self.mark(&r);
                        }
                        answer
                    }
                    None => miss(p, k, h, closing),
                };
                emit(g * BURST_GROUP + j, answer);
            }
        }
    }

    /// Creates the flows of a packet that matched none.
    fn create(&self, pkt: &Packet, k: &RawKey, h: u64, now: u64, closing: bool) -> Verdict {
        let t = &pkt.tuple;
        if t.src.is_ipv6() != t.dst.is_ipv6() {
            return Verdict::drop(DropReason::AddressFamilyMismatch);
        }
        let evict = if closing { EVICT } else { 0 };
        let (fwd, rev) = match self.fips.get(&(pkt.vrf, t.dst)) {
            None => {
                // Not to a FloatingIP: forwarded as is, both directions.
                let fwd = Entry::new(k, evict, (0, 0), now);
                let rk = fwd.reverse_key();
                (fwd, Entry::new(&rk, evict, (0, 0), now))
            }
            Some(ports) => {
                let Some(map) = ports.get(&(t.protocol, t.dst_port)) else {
                    return Verdict::drop(DropReason::PortMapDrop);
                };
                let Some(member) = map.selector.select(t) else {
                    return Verdict::drop(DropReason::NoMember);
                };
                if member.address.is_ipv6() != t.dst.is_ipv6() {
                    return Verdict::drop(DropReason::AddressFamilyMismatch);
                }
                let port = if member.port == 0 {
                    map.target_port
                } else {
                    member.port
                };
                let member_bits = addr_bits(&member.address);
                let fwd = Entry::new(k, NAT | evict, (member_bits, port), now);
                let rk = fwd.reverse_key();
                let rev = Entry::new(&rk, NAT | REPLY | evict, (k.dst, k.dst_port), now);
                (fwd, rev)
            }
        };
        let rk = rev.key();
        let rh = rk.hash();
        // The reverse slot is a cache miss of its own: start it now, to
        // overlap with taking the locks.
        self.prefetch_home(rh);
        let (a, b) = (shard_of(h), shard_of(rh));
        // Both shards are locked (in index order, so two creators never wait
        // on each other): readers see both flows of a pair or neither.
        let (mut ga, mut gb) = if a == b {
            (lock(&self.shards[a].slots), None)
        } else if a < b {
            let ga = lock(&self.shards[a].slots);
            (ga, Some(lock(&self.shards[b].slots)))
        } else {
            let gb = lock(&self.shards[b].slots);
            (lock(&self.shards[a].slots), Some(gb))
        };
        if let Some(i) = ga.find(k, h) {
            // Another thread created it first: use that one.
            let e = &mut ga.slots[i];
            touch(e, now, closing);
            let flow = self.flow(e);
            return Verdict {
                action: flow.action,
                drop_reason: None,
                flow: Some(flow),
                reverse: None,
                created: false,
            };
        }
        let rslots = gb.as_deref_mut().unwrap_or(&mut ga);
        if rslots.find(&rk, rh).is_some() {
            return Verdict::drop(DropReason::ReverseFlowConflict);
        }
        let room = match gb.as_deref() {
            None => ga.has_room(2),
            Some(g) => ga.has_room(1) && g.has_room(1),
        };
        // Capacity is reserved only for a pair that is really new, under the
        // shard locks, so racing duplicates never count.
        if !room || self.count.fetch_add(2, Ordering::AcqRel) + 2 > self.capacity {
            if room {
                self.count.fetch_sub(2, Ordering::AcqRel);
            }
            return Verdict::drop(DropReason::FlowTableFull);
        }
        ga.insert(fwd, h);
        gb.as_deref_mut().unwrap_or(&mut ga).insert(rev, rh);
        drop(gb);
        drop(ga);
        let (fwd, rev) = (self.flow(&fwd), self.flow(&rev));
        Verdict {
            action: fwd.action,
            drop_reason: None,
            flow: Some(fwd),
            reverse: Some(rev),
            created: true,
        }
    }

    /// Marks the flow of `k` for eviction.
    fn mark(&self, k: &RawKey) {
        let h = k.hash();
        let mut slots = lock(&self.shards[shard_of(h)].slots);
        if let Some(i) = slots.find(k, h) {
            slots.slots[i].state |= EVICT;
        }
    }

    /// Marks every connection served by the member `address:port` for
    /// eviction at the next [`FlowTable::expire`]; returns how many flows
    /// were marked.
    ///
    /// Affinity keeps a connection on its member even after the member
    /// leaves the selector; when the member is gone for good (its pod
    /// deleted), its connections would otherwise wait out the idle timeout.
    /// Call this after removing the member from the port maps, so that the
    /// clients' next connections go to the remaining members.
    pub fn evict_member(&self, address: IpAddr, port: u16) -> usize {
        let bits = addr_bits(&address);
        let family = if address.is_ipv6() { table::KEY_V6 } else { 0 };
        let mut marked = 0;
        for shard in self.shards.iter() {
            for chunk in 0..shard.n.div_ceil(SWEEP_CHUNK) {
                ShardLock::<Slots>::pause();
                let mut g = lock(&shard.slots);
                let end = ((chunk + 1) * SWEEP_CHUNK).min(shard.n);
                for e in &mut g.slots[chunk * SWEEP_CHUNK..end] {
                    let served = e.state & OCCUPIED != 0
                        && e.state & NAT != 0
                        && e.state & table::KEY_V6 == family
                        && if e.state & REPLY == 0 {
                            (e.rewrite, e.rewrite_port) == (bits, port)
                        } else {
                            (e.src, e.src_port) == (bits, port)
                        };
                    if served && e.state & EVICT == 0 {
                        e.state |= EVICT;
                        marked += 1;
                    }
                }
            }
        }
        marked
    }

    /// Removes, at `now`, the connections whose flows are both idle for
    /// longer than the idle timeout, and those marked for eviction; returns
    /// how many flows were removed. Run it periodically (the vRouter's agent
    /// sweeps its table every few seconds).
    ///
    /// Flows go in pairs, as the vRouter's agent ages them: a connection whose
    /// packets all flow one way (a UDP stream, say) keeps its silent reverse
    /// flow as long as the forward one is used, so a late reply still finds
    /// its translation. The sweep locks one shard at a time, plus the shard
    /// of a partner flow: a higher shard is locked in order, a lower one only
    /// if it is free at once (else the pair waits for the next sweep), so a
    /// sweep never deadlocks with connections being created. The shard is
    /// released and retaken every 1,024 slots, so lookups wait at most a
    /// few microseconds for a sweep.
    pub fn expire(&self, now: u64) -> usize {
        self.tick(now);
        let now32 = now as u32;
        let timeout = self.idle_timeout.min(i32::MAX as u64) as i64;
        // Signed: a flow used after `now` (by a thread that read the clock
        // later than the sweeper) is not idle at all.
        let idle = |e: &Entry| now32.wrapping_sub(e.last_used) as i32 as i64 > timeout;
        let dead = |e: &Entry| e.state & EVICT != 0 || idle(e);
        let mut removed = 0;
        for s in 0..SHARDS {
            let mut g = lock(&self.shards[s].slots);
            let mut i = 0;
            let mut examined = 0usize;
            while i < g.slots.len() {
                examined += 1;
                if examined % SWEEP_CHUNK == 0 {
                    // Let waiting lookups in. Entries may shift meanwhile:
                    // one skipped now goes at the next sweep.
                    drop(g);
                    ShardLock::<Slots>::pause();
                    g = lock(&self.shards[s].slots);
                }
                let e = g.slots[i];
                if e.state & OCCUPIED == 0 || !dead(&e) {
                    i += 1;
                    continue;
                }
                let rk = e.reverse_key();
                let rh = rk.hash();
                let r = shard_of(rh);
                let evicted = e.state & EVICT != 0;
                if r == s {
                    match g.find(&rk, rh) {
                        Some(j) if !evicted && !dead(&g.slots[j]) => i += 1,
                        Some(_) => {
                            g.remove_at(i);
                            // Found again: the removal may have shifted it.
                            let j = g.find(&rk, rh).expect("the partner is still here");
                            g.remove_at(j);
                            removed += 2;
                            // Shifting may have moved an unexamined entry
                            // back to the partner's slot.
                            i = i.min(j);
                        }
                        None => {
                            g.remove_at(i);
                            removed += 1;
                        }
                    }
                    continue;
                }
                let other = if r > s {
                    Some(lock(&self.shards[r].slots))
                } else {
                    self.shards[r].slots.try_lock()
                };
                let Some(mut o) = other else {
                    i += 1;
                    continue;
                };
                match o.find(&rk, rh) {
                    Some(j) if !evicted && !dead(&o.slots[j]) => i += 1,
                    Some(j) => {
                        o.remove_at(j);
                        g.remove_at(i);
                        removed += 2;
                    }
                    None => {
                        g.remove_at(i);
                        removed += 1;
                    }
                }
            }
        }
        self.count.fetch_sub(removed, Ordering::AcqRel);
        removed
    }
}

/// The NAT flags of a stored flow's state bits.
#[inline]
fn nat_flags(state: u8) -> NatFlags {
    NatFlags(match (state & NAT != 0, state & REPLY != 0) {
        (false, _) => 0,
        (true, false) => NatFlags::DNAT | NatFlags::DPAT,
        (true, true) => NatFlags::SNAT | NatFlags::SPAT,
    })
}

/// Whether a packet closes its connection (TCP FIN or RST).
#[inline]
fn closing(pkt: &Packet) -> bool {
    pkt.tuple.protocol == 6 && pkt.tcp_flags & (TCP_FIN | TCP_RST) != 0
}

/// Whether a packet given as bits closes its connection (TCP FIN or RST).
#[inline]
fn closing_bits(t: &TupleBits, tcp_flags: u8) -> bool {
    t.protocol == 6 && tcp_flags & (TCP_FIN | TCP_RST) != 0
}

/// The key of a tuple given as bits (IPv4 addresses mapped as
/// [`RawKey::new`] maps them).
#[inline]
fn key_of_bits(vrf: u32, t: &TupleBits) -> RawKey {
    let v4 = |bits: u128| 0xffff_0000_0000 | bits as u32 as u128;
    RawKey {
        src: if t.src_v6 { t.src } else { v4(t.src) },
        dst: if t.dst_v6 { t.dst } else { v4(t.dst) },
        vrf,
        src_port: t.src_port,
        dst_port: t.dst_port,
        protocol: t.protocol,
        family: if t.dst_v6 { KEY_V6 } else { 0 },
    }
}

/// Records a packet on an entry: its time, and FIN or RST.
#[inline]
fn touch(e: &mut Entry, now: u64, closing: bool) {
    let now = now as u32;
    if e.last_used != now {
        e.last_used = now;
    }
    if closing {
        e.state |= EVICT;
    }
}

fn raw_to_key(k: &RawKey) -> FlowKey {
    FlowKey {
        vrf: k.vrf,
        tuple: FiveTuple {
            protocol: k.protocol,
            src: k.addr(k.src),
            src_port: k.src_port,
            dst: k.addr(k.dst),
            dst_port: k.dst_port,
        },
    }
}

mod from_plan;
mod lock;
mod table;
#[cfg(test)]
mod tests;
