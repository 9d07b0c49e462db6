//! The fixed flow hash: the same 5-tuple gives the same value in every
//! process, version and language binding.
//!
//! **cn2 flow hash v1.** Addresses are taken as 128-bit numbers, an IPv4
//! address as its IPv4-mapped IPv6 form (`::ffff:a.b.c.d`). Starting from
//! `h = 0x9E3779B97F4A7C15`, for each of the five 64-bit words
//!
//! 1. high half of the source, 2. low half of the source,
//! 3. high half of the destination, 4. low half of the destination,
//! 5. `protocol << 32 | source port << 16 | destination port`,
//!
//! `h = mix(h ^ word)`, where `mix` is the SplitMix64 finaliser:
//! `x ^= x >> 30; x *= 0xbf58476d1ce4e5b9; x ^= x >> 27;
//! x *= 0x94d049bb133111eb; x ^= x >> 31` (wrapping multiplication).
//! Five multiplications pairs, no table, no allocation.

use std::net::IpAddr;

/// The default seed of the flow hash.
pub const FLOW_SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// A connection's 5-tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FiveTuple {
    /// IP protocol number (6 TCP, 17 UDP, 132 SCTP).
    pub protocol: u8,
    /// Source address.
    pub src: IpAddr,
    /// Source port.
    pub src_port: u16,
    /// Destination address.
    pub dst: IpAddr,
    /// Destination port.
    pub dst_port: u16,
}

/// SplitMix64's finaliser.
#[inline]
pub fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// An address as 128 bits, IPv4 mapped into IPv6.
#[inline]
pub fn addr_bits(a: &IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => 0xffff_0000_0000 | u32::from(*v4) as u128,
        IpAddr::V6(v6) => u128::from(*v6),
    }
}

/// The flow hash of a 5-tuple with a seed.
#[inline]
pub fn hash_with_seed(t: &FiveTuple, seed: u64) -> u64 {
    hash_bits(
        t.protocol,
        addr_bits(&t.src),
        t.src_port,
        addr_bits(&t.dst),
        t.dst_port,
        seed,
    )
}

/// The flow hash from addresses already in their 128-bit form (see
/// [`addr_bits`]): the same value as [`hash_with_seed`], for callers that hold
/// raw address bytes (the C API).
#[inline]
pub fn hash_bits(
    protocol: u8,
    src: u128,
    src_port: u16,
    dst: u128,
    dst_port: u16,
    seed: u64,
) -> u64 {
    let words = [
        (src >> 64) as u64,
        src as u64,
        (dst >> 64) as u64,
        dst as u64,
        (protocol as u64) << 32 | (src_port as u64) << 16 | dst_port as u64,
    ];
    words.iter().fold(seed, |h, w| mix(h ^ w))
}

/// The flow hash of a 5-tuple (seed [`FLOW_SEED`]).
#[inline]
pub fn flow_hash(t: &FiveTuple) -> u64 {
    hash_with_seed(t, FLOW_SEED)
}

/// A hash of a member's identity (address and port) with a seed; Maglev
/// uses two seeds for a member's offset and skip.
pub fn member_hash(address: &IpAddr, port: u16, seed: u64) -> u64 {
    let a = addr_bits(address);
    [(a >> 64) as u64, a as u64, port as u64]
        .iter()
        .fold(seed, |h, w| mix(h ^ w))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(p: u8, s: &str, sp: u16, d: &str, dp: u16) -> FiveTuple {
        FiveTuple {
            protocol: p,
            src: s.parse().unwrap(),
            src_port: sp,
            dst: d.parse().unwrap(),
            dst_port: dp,
        }
    }

    /// Known answers from an independent Python implementation of the
    /// definition above (arbitrary-precision integers masked to 64 bits).
    #[test]
    fn known_answers() {
        assert_eq!(
            flow_hash(&t(6, "10.47.255.250", 40000, "10.96.100.10", 8888)),
            0xdcb4abff5183d597
        );
        assert_eq!(
            flow_hash(&t(17, "fd00::1", 53, "fd00::2", 5353)),
            0x624e0ea2e1692236
        );
        assert_eq!(
            flow_hash(&t(6, "0.0.0.0", 0, "0.0.0.0", 0)),
            0xf5cf03e72a64dad7
        );
    }
}
