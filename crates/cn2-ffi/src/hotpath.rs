//! The typed hot path for data-plane agents: member selection and the flow
//! table, with plain C structs and no JSON.
//!
//! **Thread safety.** `cn2_selector_select`, `cn2_selector_select_burst`,
//! `cn2_flow_table_process`, `cn2_flow_table_process_burst` and
//! `cn2_flow_table_expire` may be called from several threads at once on one
//! handle (the flow table locks one shard per lookup). Functions that change
//! a handle's configuration (`cn2_selector_add`, `cn2_selector_remove`,
//! `cn2_flow_table_map_port`) need exclusive use of it: configure first, then
//! share.

use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use cn2_core::ecmp::hash::{FLOW_SEED, hash_of_words, hash_words, hashes_by};
use cn2_core::ecmp::{Algorithm, Backend, MAGLEV_DEFAULT_SIZE, Selector};
use cn2_core::flow::{Action, DropReason, FlowTable, PacketBits, PortMap, TupleBits, VerdictBits};

use crate::boundary::{guard, guard_result};
use crate::cn2_result;

/// An IP address: `family` 4 or 6; an IPv4 address in `bytes[0..4]`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct cn2_ip {
    /// 4 or 6.
    pub family: u8,
    /// The address in network byte order.
    pub bytes: [u8; 16],
}

/// A member: address, port and weight (Maglev; at least 1).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct cn2_member {
    /// Address.
    pub address: cn2_ip,
    /// Port.
    pub port: u16,
    /// Weight (used by Maglev; 0 is invalid).
    pub weight: u32,
}

/// A connection's 5-tuple.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct cn2_five_tuple {
    /// IP protocol number (6, 17, 132).
    pub protocol: u8,
    /// Source address.
    pub src: cn2_ip,
    /// Source port.
    pub src_port: u16,
    /// Destination address.
    pub dst: cn2_ip,
    /// Destination port.
    pub dst_port: u16,
}

/// Member-selection algorithms.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cn2_lb_algorithm {
    /// The vRouter's `hash % slots` over slot-stable members.
    CN2_LB_ECMP = 0,
    /// Maglev consistent hashing, table size 65537.
    CN2_LB_MAGLEV = 1,
}

/// Flow actions.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cn2_flow_action {
    /// Forwarded untranslated.
    CN2_FLOW_FORWARD = 0,
    /// Translated (see the NAT flags and rewrite).
    CN2_FLOW_NAT = 1,
    /// Dropped (see the drop reason).
    CN2_FLOW_DROP = 2,
}

/// NAT flag: source address rewritten.
pub const CN2_NAT_SNAT: u8 = 1;
/// NAT flag: source port rewritten.
pub const CN2_NAT_SPAT: u8 = 2;
/// NAT flag: destination address rewritten.
pub const CN2_NAT_DNAT: u8 = 4;
/// NAT flag: destination port rewritten.
pub const CN2_NAT_DPAT: u8 = 8;
/// Drop reason: none.
pub const CN2_DROP_NONE: u32 = 0;
/// Drop reason: FloatingIP port without a mapping (`PORT_MAP_DROP`).
pub const CN2_DROP_PORT_MAP: u32 = 1;
/// Drop reason: mapped port of a service without members.
pub const CN2_DROP_NO_MEMBER: u32 = 2;
/// Drop reason: the flow table is full.
pub const CN2_DROP_TABLE_FULL: u32 = 3;
/// Drop reason: a live flow already holds the new connection's reply key.
pub const CN2_DROP_REVERSE_FLOW_CONFLICT: u32 = 4;
/// Drop reason: a 5-tuple mixing IPv4 and IPv6, or a member of the other family.
pub const CN2_DROP_ADDRESS_FAMILY_MISMATCH: u32 = 5;

/// What happens to a packet.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cn2_flow_verdict {
    /// The action.
    pub action: cn2_flow_action,
    /// One of the `CN2_DROP_*` reasons.
    pub drop_reason: u32,
    /// `CN2_NAT_*` flags of the matched flow.
    pub nat_flags: u8,
    /// Whether `member` is set.
    pub has_member: bool,
    /// The member of the connection (address and port; a flow does not
    /// record the weight, so `weight` is 0).
    pub member: cn2_member,
    /// Whether `rewrite_*` are set.
    pub has_rewrite: bool,
    /// The rewritten address (destination for DNAT, source for SNAT).
    pub rewrite_address: cn2_ip,
    /// The rewritten port.
    pub rewrite_port: u16,
    /// Whether this packet created the flow pair.
    pub created: bool,
}

/// An opaque member selector.
pub struct cn2_selector {
    inner: Selector,
    /// The members in C form, at the positions [`Selector::select_index`]
    /// names (an ECMP hole as a zeroed member, never chosen), so that a
    /// selection copies its answer out without converting it.
    members: Vec<cn2_member>,
}

impl cn2_selector {
    /// A handle over a selector.
    pub(crate) fn new(inner: Selector) -> cn2_selector {
        let mut s = cn2_selector {
            inner,
            members: Vec::new(),
        };
        s.refresh();
        s
    }

    /// Rebuilds the C form of the members after a change.
    fn refresh(&mut self) {
        self.members = match &self.inner {
            Selector::Maglev(m) => m.members().iter().map(from_backend).collect(),
            Selector::Ecmp(s) => s
                .slots()
                .iter()
                .map(|slot| slot.as_ref().map_or(ZERO_MEMBER, from_backend))
                .collect(),
        };
    }
}

/// The unspecified IPv4 address, for unset fields.
const ZERO_IP: cn2_ip = cn2_ip {
    family: 4,
    bytes: [0; 16],
};

/// A member with every field zero but the family, for unset fields.
const ZERO_MEMBER: cn2_member = cn2_member {
    address: ZERO_IP,
    port: 0,
    weight: 0,
};

/// An opaque flow table.
pub struct cn2_flow_table {
    inner: FlowTable,
}

fn to_ip(a: &cn2_ip) -> Result<IpAddr, cn2_result> {
    match a.family {
        4 => Ok(IpAddr::V4(Ipv4Addr::new(
            a.bytes[0], a.bytes[1], a.bytes[2], a.bytes[3],
        ))),
        6 => Ok(IpAddr::V6(Ipv6Addr::from(a.bytes))),
        _ => Err(cn2_result::CN2_INVALID_ARGUMENT),
    }
}

/// Whether an address's family is 4 or 6.
#[inline]
fn family_ok(a: &cn2_ip) -> bool {
    a.family == 4 || a.family == 6
}

/// The flow hash's words of a tuple whose families are 4 or 6 (checked by
/// the caller).
#[inline]
fn tuple_words(t: &cn2_five_tuple) -> [u64; 5] {
    tuple_words_by(t, known_ip_bits)
}

/// The flow hash's words of a tuple, its addresses read by `bits`.
#[inline(always)]
fn tuple_words_by(t: &cn2_five_tuple, bits: impl Fn(&cn2_ip) -> u128) -> [u64; 5] {
    hash_words(
        t.protocol,
        bits(&t.src),
        t.src_port,
        bits(&t.dst),
        t.dst_port,
    )
}

/// An address of family 4 or 6 (checked by the caller) as 128 bits, IPv4
/// mapped.
#[inline]
fn known_ip_bits(a: &cn2_ip) -> u128 {
    if a.family == 6 {
        u128::from_be_bytes(a.bytes)
    } else {
        v4_bits(a)
    }
}

/// An IPv4 address as 128 bits, mapped (`::ffff:a.b.c.d`).
#[inline]
fn v4_bits(a: &cn2_ip) -> u128 {
    0xffff_0000_0000 | u32::from_be_bytes([a.bytes[0], a.bytes[1], a.bytes[2], a.bytes[3]]) as u128
}

/// An address from its 128-bit form (IPv4 mapped) and family.
#[inline]
fn ip_from_bits(bits: u128, v6: bool) -> cn2_ip {
    if v6 {
        cn2_ip {
            family: 6,
            bytes: bits.to_be_bytes(),
        }
    } else {
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&(bits as u32).to_be_bytes());
        cn2_ip { family: 4, bytes }
    }
}

fn from_ip(a: IpAddr) -> cn2_ip {
    let mut bytes = [0u8; 16];
    match a {
        IpAddr::V4(v4) => {
            bytes[..4].copy_from_slice(&v4.octets());
            cn2_ip { family: 4, bytes }
        }
        IpAddr::V6(v6) => cn2_ip {
            family: 6,
            bytes: v6.octets(),
        },
    }
}

fn to_backend(m: &cn2_member) -> Result<Backend, cn2_result> {
    Ok(Backend {
        address: to_ip(&m.address)?,
        port: m.port,
        weight: m.weight,
    })
}

fn from_backend(b: &Backend) -> cn2_member {
    cn2_member {
        address: from_ip(b.address),
        port: b.port,
        weight: b.weight,
    }
}

/// A 5-tuple in the flow table's raw form, without building addresses.
#[inline]
fn to_tuple_bits(t: &cn2_five_tuple) -> Result<TupleBits, cn2_result> {
    if family_ok(&t.src) && family_ok(&t.dst) {
        Ok(known_tuple_bits(t))
    } else {
        Err(cn2_result::CN2_INVALID_ARGUMENT)
    }
}

/// [`to_tuple_bits`] of a tuple whose families are 4 or 6 (checked by the
/// caller).
#[inline]
fn known_tuple_bits(t: &cn2_five_tuple) -> TupleBits {
    TupleBits {
        protocol: t.protocol,
        src: known_ip_bits(&t.src),
        src_v6: t.src.family == 6,
        src_port: t.src_port,
        dst: known_ip_bits(&t.dst),
        dst_v6: t.dst.family == 6,
        dst_port: t.dst_port,
    }
}

/// The core algorithm of a C one.
pub(crate) fn algorithm(a: cn2_lb_algorithm) -> Algorithm {
    match a {
        cn2_lb_algorithm::CN2_LB_ECMP => Algorithm::Ecmp,
        cn2_lb_algorithm::CN2_LB_MAGLEV => Algorithm::Maglev {
            table_size: MAGLEV_DEFAULT_SIZE,
        },
    }
}

/// # Safety
/// `ptr` must be NULL (then `n` must be 0) or point to `n` members.
unsafe fn members(ptr: *const cn2_member, n: usize) -> Result<Vec<Backend>, cn2_result> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if ptr.is_null() {
        return Err(cn2_result::CN2_NULL_PARAMETER);
    }
    // SAFETY: non-null and `n` members per the caller.
    unsafe { std::slice::from_raw_parts(ptr, n) }
        .iter()
        .map(to_backend)
        .collect()
}

/// Creates a member selector over `n` members at `members` (NULL if `n` is
/// 0). Free it with [`cn2_selector_free`]. `CN2_INVALID_ARGUMENT` for an
/// address family other than 4 or 6, or a Maglev member of weight 0.
///
/// # Safety
/// `members` must point to `n` members; `out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cn2_selector_new(
    algorithm_: cn2_lb_algorithm,
    members_: *const cn2_member,
    n: usize,
    out: *mut *mut cn2_selector,
) -> cn2_result {
    guard_result(|| {
        if out.is_null() {
            return Err(cn2_result::CN2_NULL_PARAMETER);
        }
        // SAFETY: per the caller.
        let list = unsafe { members(members_, n) }?;
        let inner = Selector::new(algorithm(algorithm_), list)
            .map_err(|_| cn2_result::CN2_INVALID_ARGUMENT)?;
        // SAFETY: checked above.
        unsafe { *out = Box::into_raw(Box::new(cn2_selector::new(inner))) };
        Ok(())
    })
}

/// Selects the member for a 5-tuple into `*out`; `CN2_NOT_FOUND` when the
/// selector has no member, `CN2_INVALID_ARGUMENT` for an address family
/// other than 4 or 6. No allocation, no lock: the same member as the Rust
/// `Selector::select` for the same 5-tuple (the documented flow hash over
/// the address bytes as given).
///
/// # Safety
/// `selector` must be a live handle; `tuple` readable; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cn2_selector_select(
    selector: *const cn2_selector,
    tuple: *const cn2_five_tuple,
    out: *mut cn2_member,
) -> cn2_result {
    guard_result(|| {
        // SAFETY: NULL-checked; valid per the caller.
        let (s, t) = unsafe { (selector.as_ref(), tuple.as_ref()) };
        let (Some(s), Some(t)) = (s, t) else {
            return Err(cn2_result::CN2_NULL_PARAMETER);
        };
        if out.is_null() {
            return Err(cn2_result::CN2_NULL_PARAMETER);
        }
        if !family_ok(&t.src) || !family_ok(&t.dst) {
            return Err(cn2_result::CN2_INVALID_ARGUMENT);
        }
        let h = hash_of_words(&tuple_words(t), FLOW_SEED);
        let m = s
            .inner
            .select_index(h)
            .and_then(|i| s.members.get(i))
            .ok_or(cn2_result::CN2_NOT_FOUND)?;
        // SAFETY: checked above.
        unsafe { out.write(*m) };
        Ok(())
    })
}

/// A burst call's input and its output, to be written.
type Burst<'a, I, O> = (&'a [I], &'a mut [MaybeUninit<O>]);

/// The input and output of a burst call: `None` for an empty burst (whose
/// pointers may be NULL), `CN2_NULL_PARAMETER` for a NULL one otherwise.
///
/// # Safety
/// Unless `n` is 0, `input` must point to `n` readable items and `out` to
/// `n` writable ones, not overlapping them, for `'a`.
unsafe fn burst_slices<'a, I, O>(
    input: *const I,
    out: *mut O,
    n: usize,
) -> Result<Option<Burst<'a, I, O>>, cn2_result> {
    if n == 0 {
        return Ok(None);
    }
    if input.is_null() || out.is_null() {
        return Err(cn2_result::CN2_NULL_PARAMETER);
    }
    // SAFETY: non-null, and valid for `n` items per the caller.
    Ok(Some(unsafe {
        (
            std::slice::from_raw_parts(input, n),
            std::slice::from_raw_parts_mut(out.cast::<MaybeUninit<O>>(), n),
        )
    }))
}

/// The tuples [`cn2_selector_select_burst`] hashes before it selects: a
/// burst of at most this many is checked as it is hashed.
const BURST_BLOCK: usize = 256;

/// Selects the members for the `n` 5-tuples at `tuples` into `out[0..n]`:
/// `out[i]` is what [`cn2_selector_select`] gives for `tuples[i]`, at less
/// cost per tuple (one call per burst; the flow hashes of a block of tuples
/// are computed four at a time before its members are looked up). Returns
/// `CN2_NOT_FOUND` when the selector has no member and
/// `CN2_INVALID_ARGUMENT` when a tuple has an address family other than 4
/// or 6; either way nothing is written. With `n` 0 it returns `CN2_OK`, and
/// `tuples` and `out` may be NULL. No allocation, no lock.
///
/// # Safety
/// `selector` must be a live handle; `tuples` must point to `n` readable
/// tuples and `out` to `n` writable members, not overlapping them.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cn2_selector_select_burst(
    selector: *const cn2_selector,
    tuples: *const cn2_five_tuple,
    n: usize,
    out: *mut cn2_member,
) -> cn2_result {
    guard_result(|| {
        // SAFETY: NULL-checked; valid per the caller.
        let s = unsafe { selector.as_ref() }.ok_or(cn2_result::CN2_NULL_PARAMETER)?;
        // SAFETY: per the caller.
        let Some((tuples, out)) = (unsafe { burst_slices(tuples, out, n) })? else {
            return Ok(());
        };
        // Any hash finds a member exactly when the selector has one.
        if s.inner.select_index(0).is_none() {
            return Err(cn2_result::CN2_NOT_FOUND);
        }
        // A burst of up to one block is checked while it is hashed, before
        // anything is written; a longer one is checked first.
        if n > BURST_BLOCK
            && !tuples
                .iter()
                .all(|t| family_ok(&t.src) && family_ok(&t.dst))
        {
            return Err(cn2_result::CN2_INVALID_ARGUMENT);
        }
        let member = |h: u64| {
            s.inner
                .select_index(h)
                .and_then(|i| s.members.get(i))
                .copied()
                .unwrap_or(ZERO_MEMBER)
        };
        // Hashes first, selections after, a block at a time: the rounds of
        // independent hashes interleave, and so do the table reads.
        let mut hashes = [0u64; BURST_BLOCK];
        for (block, answers) in tuples.chunks(BURST_BLOCK).zip(out.chunks_mut(BURST_BLOCK)) {
            let wrong_family = std::cell::Cell::new(false);
            let words = |t: &cn2_five_tuple| {
                tuple_words_by(t, |a| match a.family {
                    4 => v4_bits(a),
                    6 => u128::from_be_bytes(a.bytes),
                    _ => {
                        wrong_family.set(true);
                        0
                    }
                })
            };
            hashes_by(block, words, FLOW_SEED, &mut hashes);
            if wrong_family.get() {
                return Err(cn2_result::CN2_INVALID_ARGUMENT);
            }
            for (a, &h) in answers.iter_mut().zip(&hashes[..block.len()]) {
                a.write(member(h));
            }
        }
        Ok(())
    })
}

/// Adds a member (ECMP: into the first empty slot; Maglev: table rebuilt).
///
/// # Safety
/// `selector` must be a live handle not used by other threads meanwhile.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cn2_selector_add(
    selector: *mut cn2_selector,
    member: *const cn2_member,
) -> cn2_result {
    guard_result(|| {
        // SAFETY: NULL-checked; exclusive per the caller.
        let (s, m) = unsafe { (selector.as_mut(), member.as_ref()) };
        let (Some(s), Some(m)) = (s, m) else {
            return Err(cn2_result::CN2_NULL_PARAMETER);
        };
        s.inner
            .add(to_backend(m)?)
            .map_err(|_| cn2_result::CN2_INVALID_ARGUMENT)?;
        s.refresh();
        Ok(())
    })
}

/// Removes a member (ECMP: its slot is left empty; Maglev: table rebuilt).
///
/// # Safety
/// `selector` must be a live handle not used by other threads meanwhile.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cn2_selector_remove(
    selector: *mut cn2_selector,
    member: *const cn2_member,
) -> cn2_result {
    guard_result(|| {
        // SAFETY: NULL-checked; exclusive per the caller.
        let (s, m) = unsafe { (selector.as_mut(), member.as_ref()) };
        let (Some(s), Some(m)) = (s, m) else {
            return Err(cn2_result::CN2_NULL_PARAMETER);
        };
        s.inner
            .remove(&to_backend(m)?)
            .map_err(|_| cn2_result::CN2_INVALID_ARGUMENT)?;
        s.refresh();
        Ok(())
    })
}

/// Frees a selector. NULL is accepted and does nothing.
///
/// # Safety
/// `selector` must be NULL or a live handle, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cn2_selector_free(selector: *mut cn2_selector) {
    guard((), || {
        if !selector.is_null() {
            // SAFETY: from cn2_selector_new.
            drop(unsafe { Box::from_raw(selector) });
        }
    })
}

/// Creates a flow table of at most `capacity` flows (a connection takes two)
/// whose flows expire after `idle_timeout` seconds idle.
///
/// # Safety
/// `out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cn2_flow_table_new(
    capacity: usize,
    idle_timeout: u64,
    out: *mut *mut cn2_flow_table,
) -> cn2_result {
    guard_result(|| {
        if out.is_null() {
            return Err(cn2_result::CN2_NULL_PARAMETER);
        }
        let inner =
            FlowTable::new(capacity, idle_timeout).map_err(|_| cn2_result::CN2_INVALID_ARGUMENT)?;
        // SAFETY: checked above.
        unsafe { *out = Box::into_raw(Box::new(cn2_flow_table { inner })) };
        Ok(())
    })
}

/// Maps a FloatingIP port: packets in `vrf` to `address`:`port` with
/// `protocol` go to one of `n` members (their own port, or `target_port`
/// when a member's port is 0), chosen with `algorithm`.
///
/// # Safety
/// `table` must be a live handle used by no other thread meanwhile;
/// `address` readable; `members` must point to `n` members.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn cn2_flow_table_map_port(
    table: *mut cn2_flow_table,
    vrf: u32,
    address: *const cn2_ip,
    protocol: u8,
    port: u16,
    target_port: u16,
    algorithm_: cn2_lb_algorithm,
    members_: *const cn2_member,
    n: usize,
) -> cn2_result {
    guard_result(|| {
        // SAFETY: NULL-checked; exclusive per the caller.
        let (t, a) = unsafe { (table.as_mut(), address.as_ref()) };
        let (Some(t), Some(a)) = (t, a) else {
            return Err(cn2_result::CN2_NULL_PARAMETER);
        };
        // SAFETY: per the caller.
        let list = unsafe { members(members_, n) }?;
        let selector = Selector::new(algorithm(algorithm_), list)
            .map_err(|_| cn2_result::CN2_INVALID_ARGUMENT)?;
        t.inner.map_port(
            vrf,
            to_ip(a)?,
            protocol,
            port,
            PortMap {
                target_port,
                selector,
            },
        );
        Ok(())
    })
}

/// Processes one packet at time `now` (seconds of any monotonic clock):
/// matches its flow or creates the flow pair, and fills `*out`. No
/// allocation; locks one shard of the table.
///
/// # Safety
/// `table` must be a live handle; `tuple` readable; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cn2_flow_table_process(
    table: *const cn2_flow_table,
    vrf: u32,
    tuple: *const cn2_five_tuple,
    tcp_flags: u8,
    now: u64,
    out: *mut cn2_flow_verdict,
) -> cn2_result {
    guard_result(|| {
        // SAFETY: NULL-checked; valid per the caller.
        let (t, tp) = unsafe { (table.as_ref(), tuple.as_ref()) };
        let (Some(t), Some(tp)) = (t, tp) else {
            return Err(cn2_result::CN2_NULL_PARAMETER);
        };
        if out.is_null() {
            return Err(cn2_result::CN2_NULL_PARAMETER);
        }
        let v = t
            .inner
            .process_bits(vrf, &to_tuple_bits(tp)?, tcp_flags, now);
        let verdict = c_verdict(&v);
        // SAFETY: checked above.
        unsafe { out.write(verdict) };
        Ok(())
    })
}

/// A packet for [`cn2_flow_table_process_burst`]: its VRF, 5-tuple and TCP
/// flags (0 for other protocols).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct cn2_flow_packet {
    /// The VRF the packet is in.
    pub vrf: u32,
    /// Its 5-tuple.
    pub tuple: cn2_five_tuple,
    /// TCP flags (FIN and RST mark the connection for eviction).
    pub tcp_flags: u8,
}

/// Processes the `n` packets at `packets` at time `now`, in order, into
/// `out[0..n]`: `out[i]` is what [`cn2_flow_table_process`] would give for
/// `packets[i]` at that point, at less cost per packet (one call per burst;
/// the flows' slots are prefetched in groups ahead of the lookups, so their
/// memory accesses overlap). Returns `CN2_INVALID_ARGUMENT`, having changed
/// and written nothing, when a packet has an address family other than 4
/// or 6. With `n` 0 it returns `CN2_OK`, and `packets` and `out` may be
/// NULL. No allocation; locks one shard at a time.
///
/// # Safety
/// `table` must be a live handle; `packets` must point to `n` readable
/// packets and `out` to `n` writable verdicts, not overlapping them.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cn2_flow_table_process_burst(
    table: *const cn2_flow_table,
    packets: *const cn2_flow_packet,
    n: usize,
    now: u64,
    out: *mut cn2_flow_verdict,
) -> cn2_result {
    guard_result(|| {
        // SAFETY: NULL-checked; valid per the caller.
        let t = unsafe { table.as_ref() }.ok_or(cn2_result::CN2_NULL_PARAMETER)?;
        // SAFETY: per the caller.
        let Some((packets, out)) = (unsafe { burst_slices(packets, out, n) })? else {
            return Ok(());
        };
        if !packets
            .iter()
            .all(|p| family_ok(&p.tuple.src) && family_ok(&p.tuple.dst))
        {
            return Err(cn2_result::CN2_INVALID_ARGUMENT);
        }
        t.inner.process_burst_by(
            packets,
            now,
            |p| PacketBits {
                vrf: p.vrf,
                tuple: known_tuple_bits(&p.tuple),
                tcp_flags: p.tcp_flags,
            },
            |i, v| {
                out[i].write(c_verdict(&v));
            },
        );
        Ok(())
    })
}

/// The C form of a verdict.
#[inline]
fn c_verdict(v: &VerdictBits) -> cn2_flow_verdict {
    cn2_flow_verdict {
        action: match v.action {
            Action::Forward => cn2_flow_action::CN2_FLOW_FORWARD,
            Action::Nat => cn2_flow_action::CN2_FLOW_NAT,
            Action::Drop => cn2_flow_action::CN2_FLOW_DROP,
        },
        drop_reason: match v.drop_reason {
            None => CN2_DROP_NONE,
            Some(DropReason::PortMapDrop) => CN2_DROP_PORT_MAP,
            Some(DropReason::NoMember) => CN2_DROP_NO_MEMBER,
            Some(DropReason::FlowTableFull) => CN2_DROP_TABLE_FULL,
            Some(DropReason::ReverseFlowConflict) => CN2_DROP_REVERSE_FLOW_CONFLICT,
            Some(DropReason::AddressFamilyMismatch) => CN2_DROP_ADDRESS_FAMILY_MISMATCH,
        },
        nat_flags: v.flags.0,
        has_member: v.member.is_some(),
        member: v.member.map_or(ZERO_MEMBER, |(a, port)| cn2_member {
            address: ip_from_bits(a, v.v6),
            port,
            weight: 0,
        }),
        has_rewrite: v.rewrite.is_some(),
        rewrite_address: v.rewrite.map_or(ZERO_IP, |(a, _)| ip_from_bits(a, v.v6)),
        rewrite_port: v.rewrite.map_or(0, |(_, p)| p),
        created: v.created,
    }
}

/// Removes flows idle longer than the idle timeout at `now` and flows marked
/// by TCP FIN/RST; returns how many (0 for NULL).
///
/// # Safety
/// `table` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cn2_flow_table_expire(table: *const cn2_flow_table, now: u64) -> usize {
    guard(0, || {
        // SAFETY: NULL-checked; live per the caller.
        unsafe { table.as_ref() }.map_or(0, |t| t.inner.expire(now))
    })
}

/// Frees a flow table. NULL is accepted and does nothing.
///
/// # Safety
/// `table` must be NULL or a live handle, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cn2_flow_table_free(table: *mut cn2_flow_table) {
    guard((), || {
        if !table.is_null() {
            // SAFETY: from cn2_flow_table_new.
            drop(unsafe { Box::from_raw(table) });
        }
    })
}
