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
    hash_of_words(&tuple_words(t), seed)
}

/// The five words of the flow hash, in order, from addresses already in
/// their 128-bit form (see [`addr_bits`]).
#[inline]
pub fn hash_words(protocol: u8, src: u128, src_port: u16, dst: u128, dst_port: u16) -> [u64; 5] {
    [
        (src >> 64) as u64,
        src as u64,
        (dst >> 64) as u64,
        dst as u64,
        (protocol as u64) << 32 | (src_port as u64) << 16 | dst_port as u64,
    ]
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
    hash_of_words(&hash_words(protocol, src, src_port, dst, dst_port), seed)
}

/// The flow hash of a tuple's five [`hash_words`], with `seed`.
#[inline]
pub fn hash_of_words(words: &[u64; 5], seed: u64) -> u64 {
    // The first round of an IPv4 source (high half 0) depends on the seed
    // alone: with the seed a constant, it is a constant, and the hash of an
    // IPv4 tuple takes four rounds of latency instead of five.
    let first = if words[0] == 0 {
        mix(seed)
    } else {
        mix(seed ^ words[0])
    };
    words[1..].iter().fold(first, |h, w| mix(h ^ w))
}

/// How many flow hashes [`hash_lanes`] computes at once.
pub const LANES: usize = 4;

/// The flow hashes of [`LANES`] tuples, given as their [`hash_words`], with
/// `seed`: the same values as [`hash_bits`] for each, computed round by
/// round across the tuples. One hash is a chain of five dependent rounds;
/// interleaving independent chains keeps the multipliers busy instead of
/// waiting on each round in turn, which is what a burst of selections is
/// bound by.
#[inline]
pub fn hash_lanes(words: &[[u64; 5]; LANES], seed: u64) -> [u64; LANES] {
    let mut h = if words.iter().all(|w| w[0] == 0) {
        // IPv4 sources only: the first round is a constant (see hash_bits).
        [mix(seed); LANES]
    } else {
        std::array::from_fn(|l| mix(seed ^ words[l][0]))
    };
    for round in 1..5 {
        for (h, w) in h.iter_mut().zip(words) {
            *h = mix(*h ^ w[round]);
        }
    }
    h
}

/// The flow hashes of `tuples` into `out[..tuples.len()]` (`out` at least
/// as long): [`flow_hash`] of each, [`LANES`] at a time ([`hash_lanes`]).
pub fn flow_hashes(tuples: &[FiveTuple], out: &mut [u64]) {
    hashes_by(tuples, tuple_words, FLOW_SEED, out);
}

/// The [`hash_words`] of a 5-tuple.
#[inline]
fn tuple_words(t: &FiveTuple) -> [u64; 5] {
    hash_words(
        t.protocol,
        addr_bits(&t.src),
        t.src_port,
        addr_bits(&t.dst),
        t.dst_port,
    )
}

/// The flow hashes, with `seed`, of items that `words` turns into their
/// [`hash_words`], into `out[..items.len()]` (`out` at least as long),
/// [`LANES`] at a time: for callers with their own tuple type (the C API).
#[inline]
pub fn hashes_by<T>(items: &[T], words: impl Fn(&T) -> [u64; 5], seed: u64, out: &mut [u64]) {
    assert!(out.len() >= items.len(), "one hash per item");
    let mut groups = items.chunks_exact(LANES);
    for (group, hashes) in (&mut groups).zip(out.chunks_exact_mut(LANES)) {
        let words = std::array::from_fn(|l| words(&group[l]));
        hashes.copy_from_slice(&hash_lanes(&words, seed));
    }
    let done = items.len() - groups.remainder().len();
    for (h, item) in out[done..].iter_mut().zip(groups.remainder()) {
        *h = hash_of_words(&words(item), seed);
    }
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

    proptest::proptest! {
        /// Four tuples hashed together, IPv4 and IPv6 mixed or not, give
        /// the one-at-a-time hashes, with any seed.
        #[test]
        fn lanes_hash_like_one_at_a_time(
            tuples in proptest::collection::vec(
                (proptest::num::u8::ANY, proptest::bool::ANY, proptest::num::u128::ANY,
                 proptest::num::u16::ANY, proptest::num::u128::ANY, proptest::num::u16::ANY),
                LANES,
            ),
            seed in proptest::num::u64::ANY,
        ) {
            let bits: Vec<_> = tuples
                .iter()
                .map(|&(p, v6, s, sp, d, dp)| {
                    let v4 = |b: u128| 0xffff_0000_0000 | (b as u32) as u128;
                    if v6 { (p, s, sp, d, dp) } else { (p, v4(s), sp, v4(d), dp) }
                })
                .collect();
            let words: [[u64; 5]; LANES] = std::array::from_fn(|l| {
                let (p, s, sp, d, dp) = bits[l];
                hash_words(p, s, sp, d, dp)
            });
            let lanes = hash_lanes(&words, seed);
            for (l, &(p, s, sp, d, dp)) in bits.iter().enumerate() {
                proptest::prop_assert_eq!(lanes[l], hash_bits(p, s, sp, d, dp, seed));
            }
        }
    }
}
