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
//! Flows idle longer than the idle timeout (180 s by default) expire at
//! [`FlowTable::expire`]; a TCP FIN or RST marks both flows of a connection
//! for early eviction. The table has a fixed capacity: a full table refuses
//! new flows (`FLOW_TABLE_FULL`) and never evicts a live flow to make room.
//!
//! **Embedding.** The table is split into shards, each behind its own lock,
//! chosen by the flow hash: a lookup locks one shard, never the whole table,
//! and allocates nothing. Time is passed in by the caller (any monotonic
//! clock, in seconds), so the table has no clock of its own.

use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustc_hash::FxHashMap;

pub use from_plan::{NodeTable, node_table};

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use crate::ecmp::hash::{FiveTuple, addr_bits, flow_hash, mix};
use crate::ecmp::{Backend, Selector};

/// TCP FIN flag bit.
pub const TCP_FIN: u8 = 0x01;
/// TCP RST flag bit.
pub const TCP_RST: u8 = 0x04;
/// The default idle timeout, in seconds.
pub const DEFAULT_IDLE_TIMEOUT: u64 = 180;
const SHARDS: usize = 64;

/// Errors of flow-table configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    /// A zero capacity.
    #[error("a flow table needs a capacity of at least 2 flows")]
    ZeroCapacity,
}

/// A flow key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    /// The VRF the packet is in.
    pub vrf: u32,
    /// The 5-tuple.
    pub tuple: FiveTuple,
}

impl FlowKey {
    /// The key's 64-bit hash: the flow hash mixed with the VRF.
    #[inline]
    pub fn hash64(&self) -> u64 {
        mix(flow_hash(&self.tuple) ^ self.vrf as u64)
    }
}

impl Hash for FlowKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash64());
    }
}

/// A hasher that passes an already well-mixed `u64` through.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = mix(self.0 ^ *b as u64);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type FlowMap = HashMap<FlowKey, Flow, BuildHasherDefault<PassThrough>>;

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
    /// The flow table is full.
    FlowTableFull,
}

impl DropReason {
    /// `PORT_MAP_DROP`, `NO_MEMBER` or `FLOW_TABLE_FULL`.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::PortMapDrop => "PORT_MAP_DROP",
            DropReason::NoMember => "NO_MEMBER",
            DropReason::FlowTableFull => "FLOW_TABLE_FULL",
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

/// One flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// Its key.
    pub key: FlowKey,
    /// Its action.
    pub action: Action,
    /// NAT flags.
    pub flags: NatFlags,
    /// The rewritten address and port (destination for DNAT, source for SNAT).
    pub rewrite: Option<(IpAddr, u16)>,
    /// The key of the other direction.
    pub reverse: FlowKey,
    /// The member chosen for the connection.
    pub member: Option<Backend>,
    /// When a packet last used it.
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

/// What happens to a packet.
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

/// One FloatingIP port mapping with its members.
#[derive(Debug, Clone)]
pub struct PortMap {
    /// The target port members listen on (when members carry no port of their own).
    pub target_port: u16,
    /// The member selector.
    pub selector: Selector,
}

#[derive(Default)]
struct Shard {
    flows: FlowMap,
}

/// A sharded flow table with NAT.
pub struct FlowTable {
    shards: Box<[Mutex<Shard>]>,
    capacity: usize,
    count: AtomicUsize,
    idle_timeout: u64,
    /// FloatingIPs: `(vrf, address bits)` → `(protocol, port)` → mapping.
    fips: FxHashMap<(u32, u128), FxHashMap<(u8, u16), PortMap>>,
}

/// The shard of a key: the hash's top bits (the map uses the low ones).
fn shard_of(key: &FlowKey) -> usize {
    (key.hash64() >> 58) as usize % SHARDS
}

impl FlowTable {
    /// A table of at most `capacity` flows (a connection uses two).
    pub fn new(capacity: usize, idle_timeout: u64) -> Result<FlowTable, FlowError> {
        if capacity < 2 {
            return Err(FlowError::ZeroCapacity);
        }
        let per_shard = capacity / SHARDS + 1;
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    flows: FlowMap::with_capacity_and_hasher(per_shard, Default::default()),
                })
            })
            .collect();
        Ok(FlowTable {
            shards,
            capacity,
            count: AtomicUsize::new(0),
            idle_timeout,
            fips: FxHashMap::default(),
        })
    }

    /// Declares a FloatingIP port mapping: packets in `vrf` to `address`,
    /// `protocol` and `port` go to a member of `map`. Replacing a mapping
    /// leaves existing flows as they are (affinity).
    pub fn map_port(&mut self, vrf: u32, address: IpAddr, protocol: u8, port: u16, map: PortMap) {
        self.fips
            .entry((vrf, addr_bits(&address)))
            .or_default()
            .insert((protocol, port), map);
    }

    /// Declares a FloatingIP address without port mappings (every port drops).
    pub fn add_floating_ip(&mut self, vrf: u32, address: IpAddr) {
        self.fips.entry((vrf, addr_bits(&address))).or_default();
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
            .get_mut(&(vrf, addr_bits(&address)))?
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

    /// Looks a flow up without changing it.
    pub fn get(&self, key: &FlowKey) -> Option<Flow> {
        let shard = self.shards[shard_of(key)]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        shard.flows.get(key).copied()
    }

    /// Processes one packet at time `now`.
    pub fn process(&self, pkt: &Packet, now: u64) -> Verdict {
        let key = FlowKey {
            vrf: pkt.vrf,
            tuple: pkt.tuple,
        };
        let closing = pkt.tuple.protocol == 6 && pkt.tcp_flags & (TCP_FIN | TCP_RST) != 0;
        {
            let mut shard = self.shards[shard_of(&key)]
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(f) = shard.flows.get_mut(&key) {
                f.last_used = now;
                f.evict |= closing;
                let flow = *f;
                drop(shard);
                if closing {
                    self.mark(&flow.reverse);
                }
                return Verdict {
                    action: flow.action,
                    drop_reason: None,
                    flow: Some(flow),
                    reverse: None,
                    created: false,
                };
            }
        }
        let t = pkt.tuple;
        let (fwd, rev) = match self.fips.get(&(pkt.vrf, addr_bits(&t.dst))) {
            None => {
                let rkey = FlowKey {
                    vrf: pkt.vrf,
                    tuple: reply(&t, t.dst, t.dst_port),
                };
                let fwd = Flow {
                    key,
                    action: Action::Forward,
                    flags: NatFlags::default(),
                    rewrite: None,
                    reverse: rkey,
                    member: None,
                    last_used: now,
                    evict: closing,
                };
                let rev = Flow {
                    key: rkey,
                    reverse: key,
                    ..fwd
                };
                (fwd, rev)
            }
            Some(ports) => {
                let Some(map) = ports.get(&(t.protocol, t.dst_port)) else {
                    return Verdict::drop(DropReason::PortMapDrop);
                };
                let Some(member) = map.selector.select(&t).copied() else {
                    return Verdict::drop(DropReason::NoMember);
                };
                let port = if member.port == 0 {
                    map.target_port
                } else {
                    member.port
                };
                let rkey = FlowKey {
                    vrf: pkt.vrf,
                    tuple: reply(&t, member.address, port),
                };
                let fwd = Flow {
                    key,
                    action: Action::Nat,
                    flags: NatFlags(NatFlags::DNAT | NatFlags::DPAT),
                    rewrite: Some((member.address, port)),
                    reverse: rkey,
                    member: Some(member),
                    last_used: now,
                    evict: closing,
                };
                let rev = Flow {
                    key: rkey,
                    flags: NatFlags(NatFlags::SNAT | NatFlags::SPAT),
                    rewrite: Some((t.dst, t.dst_port)),
                    reverse: key,
                    ..fwd
                };
                (fwd, rev)
            }
        };
        {
            let mut shard = self.shards[shard_of(&key)]
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(existing) = shard.flows.get(&key).copied() {
                // Another thread created it first: use that one.
                return Verdict {
                    action: existing.action,
                    drop_reason: None,
                    flow: Some(existing),
                    reverse: None,
                    created: false,
                };
            }
            // Capacity is reserved only for a flow that is really new, under
            // the shard's lock, so racing duplicates never count.
            if self.count.fetch_add(2, Ordering::AcqRel) + 2 > self.capacity {
                self.count.fetch_sub(2, Ordering::AcqRel);
                return Verdict::drop(DropReason::FlowTableFull);
            }
            shard.flows.insert(key, fwd);
        }
        let mut shard = self.shards[shard_of(&rev.key)]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if shard.flows.insert(rev.key, rev).is_some() {
            // A stale flow held the reply key: it is replaced, not counted twice.
            self.count.fetch_sub(1, Ordering::AcqRel);
        }
        Verdict {
            action: fwd.action,
            drop_reason: None,
            flow: Some(fwd),
            reverse: Some(rev),
            created: true,
        }
    }

    fn mark(&self, key: &FlowKey) {
        let mut shard = self.shards[shard_of(key)]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(f) = shard.flows.get_mut(key) {
            f.evict = true;
        }
    }

    /// Removes flows idle for longer than the idle timeout at `now`, and
    /// flows marked for eviction; returns how many were removed.
    pub fn expire(&self, now: u64) -> usize {
        let mut removed = 0;
        for s in self.shards.iter() {
            let mut shard = s.lock().unwrap_or_else(|p| p.into_inner());
            let before = shard.flows.len();
            shard
                .flows
                .retain(|_, f| !f.evict && now.saturating_sub(f.last_used) <= self.idle_timeout);
            removed += before - shard.flows.len();
        }
        self.count.fetch_sub(removed, Ordering::AcqRel);
        removed
    }
}

/// The reply 5-tuple of `t` when the far end is `addr:port`.
fn reply(t: &FiveTuple, addr: IpAddr, port: u16) -> FiveTuple {
    FiveTuple {
        protocol: t.protocol,
        src: addr,
        src_port: port,
        dst: t.src,
        dst_port: t.src_port,
    }
}

mod from_plan;
#[cfg(test)]
mod tests;
