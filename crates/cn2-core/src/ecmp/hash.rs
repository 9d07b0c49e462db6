//! The fixed flow hash: the same 5-tuple gives the same value in every
//! process, version and language binding.
//!
//! Rust's `DefaultHasher` is randomly keyed per process and may change between
//! releases, so two agents (or an agent and a C program using the FFI) would
//! pick different members for one connection. cn2 instead specifies its hash
//! exactly:
//!
//! **cn2 flow hash v1.** Addresses are taken as 128-bit numbers, an IPv4
//! address as its IPv4-mapped IPv6 form (`::ffff:a.b.c.d`). Starting from
//! `h = 0x9E3779B97F4A7C15` ([`FLOW_SEED`]), for each of the five 64-bit words
//!
//! 1. high half of the source, 2. low half of the source,
//! 3. high half of the destination, 4. low half of the destination,
//! 5. `protocol << 32 | source port << 16 | destination port`,
//!
//! `h = mix(h ^ word)`, where `mix` is the finaliser of SplitMix64 (Steele,
//! Lea and Flood, OOPSLA 2014), David Stafford's "Mix13" variant of
//! MurmurHash3's 64-bit finaliser:
//! `x ^= x >> 30; x *= 0xbf58476d1ce4e5b9; x ^= x >> 27;
//! x *= 0x94d049bb133111eb; x ^= x >> 31` (multiplication modulo 2⁶⁴).
//! Each word passes through a full-avalanche bijection, so every input bit
//! affects every output bit; the cost is ten multiplications, with no table
//! and no allocation.
//!
//! **Member hash.** A member's identity (address and port) is hashed the same
//! way over three words — address high half, address low half, port — from a
//! caller-given seed; Maglev uses two fixed seeds for a member's offset and
//! skip ([`crate::ecmp::select`]).
//!
//! A reference implementation in Python, from which the known answers in the
//! tests were computed:
//!
//! ```text
//! import ipaddress
//! M = (1 << 64) - 1
//! def mix(x):
//!     x ^= x >> 30; x = (x * 0xbf58476d1ce4e5b9) & M
//!     x ^= x >> 27; x = (x * 0x94d049bb133111eb) & M
//!     return x ^ (x >> 31)
//! def bits(a):
//!     a = ipaddress.ip_address(a)
//!     return int(a) | 0xffff00000000 if a.version == 4 else int(a)
//! def fold(h, words):
//!     for w in words: h = mix(h ^ w)
//!     return h
//! def flow_hash(proto, src, sport, dst, dport, seed=0x9E3779B97F4A7C15):
//!     s, d = bits(src), bits(dst)
//!     return fold(seed, [s >> 64, s & M, d >> 64, d & M,
//!                        proto << 32 | sport << 16 | dport])
//! def member_hash(addr, port, seed):
//!     a = bits(addr)
//!     return fold(seed, [a >> 64, a & M, port])
//! ```

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
pub const fn mix(mut x: u64) -> u64 {
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
    let src_high = (src >> 64) as u64;
    // The first round of an IPv4 source (high half 0) depends on the seed
    // alone: with the seed a constant, it is a constant, and the hash of an
    // IPv4 tuple takes four rounds of latency instead of five.
    let first = if src_high == 0 {
        mix(seed)
    } else {
        mix(seed ^ src_high)
    };
    let words = [
        src as u64,
        (dst >> 64) as u64,
        dst as u64,
        (protocol as u64) << 32 | (src_port as u64) << 16 | dst_port as u64,
    ];
    words.iter().fold(first, |h, w| mix(h ^ w))
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

    /// Known answers from the Python reference in the module documentation
    /// (arbitrary-precision integers masked to 64 bits), not from this code.
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

    #[test]
    fn member_known_answers() {
        let a: IpAddr = "10.47.255.238".parse().unwrap();
        assert_eq!(
            member_hash(&a, 80, 0x6d61_676c_6576_3031),
            0x1674197425732280
        );
        assert_eq!(
            member_hash(&a, 80, 0x6d61_676c_6576_3032),
            0x4ca05fe21fa0e667
        );
        let b: IpAddr = "fd00::10".parse().unwrap();
        assert_eq!(
            member_hash(&b, 8080, 0x6d61_676c_6576_3031),
            0xc5755ee6bbe11180
        );
    }

    #[test]
    fn every_field_matters() {
        let base = t(6, "10.0.0.1", 1000, "10.0.0.2", 80);
        let variants = [
            t(17, "10.0.0.1", 1000, "10.0.0.2", 80),
            t(6, "10.0.0.3", 1000, "10.0.0.2", 80),
            t(6, "10.0.0.1", 1001, "10.0.0.2", 80),
            t(6, "10.0.0.1", 1000, "10.0.0.4", 80),
            t(6, "10.0.0.1", 1000, "10.0.0.2", 81),
            t(6, "10.0.0.2", 80, "10.0.0.1", 1000),
            t(6, "::ffff:10.0.0.1", 1000, "10.0.0.2", 80),
        ];
        let h = flow_hash(&base);
        for (i, v) in variants.iter().enumerate() {
            if i == 6 {
                // The IPv4-mapped form of an address is the address.
                assert_eq!(flow_hash(v), h);
            } else {
                assert_ne!(flow_hash(v), h, "variant {i}");
            }
        }
    }
}
