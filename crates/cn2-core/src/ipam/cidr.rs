//! CIDR blocks and the numeric view of addresses used by the allocator.
//!
//! Addresses of both families are handled as `u128` numbers inside their
//! family (an IPv4 address is its 32-bit value), which makes ranges, offsets
//! and interval arithmetic the same code for IPv4 and IPv6.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::IpamError;

/// An IP family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Family {
    /// IPv4.
    #[serde(rename = "v4")]
    V4,
    /// IPv6.
    #[serde(rename = "v6")]
    V6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// Number of bits in an address of this family.
    pub fn bits(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }

    /// The short name used in plans: `v4` or `v6`.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::V4 => "v4",
            Family::V6 => "v6",
        }
    }

    /// The Kubernetes spelling: `IPv4` or `IPv6`.
    pub fn kube_name(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }

    /// Turns a number inside this family back into an address.
    pub fn addr(self, n: u128) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(Ipv4Addr::from(n as u32)),
            Family::V6 => IpAddr::V6(Ipv6Addr::from(n)),
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The number of an address inside its family.
pub fn addr_to_u128(addr: &IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u32::from(*a) as u128,
        IpAddr::V6(a) => u128::from(*a),
    }
}

/// A CIDR block such as `10.96.0.0/12` or `fd00::/64`.
///
/// The stored address is always the network address (host bits cleared), so
/// two spellings of one block compare equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// A block from an address and a prefix length; host bits are cleared.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Cidr, IpamError> {
        let family = Family::of(&addr);
        if prefix > family.bits() {
            return Err(IpamError::InvalidCidr {
                text: format!("{addr}/{prefix}"),
                reason: format!("prefix length exceeds {}", family.bits()),
            });
        }
        let n = addr_to_u128(&addr) & mask(family, prefix);
        Ok(Cidr {
            addr: family.addr(n),
            prefix,
        })
    }

    /// The family of the block.
    pub fn family(&self) -> Family {
        Family::of(&self.addr)
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The network address.
    pub fn network(&self) -> IpAddr {
        self.addr
    }

    /// The first address of the block as a number.
    pub fn first_u128(&self) -> u128 {
        addr_to_u128(&self.addr)
    }

    /// The last address of the block as a number (the IPv4 broadcast).
    pub fn last_u128(&self) -> u128 {
        self.first_u128() | !mask(self.family(), self.prefix) & family_max(self.family())
    }

    /// The last address of the block (the IPv4 broadcast address).
    pub fn last(&self) -> IpAddr {
        self.family().addr(self.last_u128())
    }

    /// Whether `addr` lies inside the block.
    pub fn contains(&self, addr: &IpAddr) -> bool {
        Family::of(addr) == self.family()
            && addr_to_u128(addr) & mask(self.family(), self.prefix) == self.first_u128()
    }

    /// Number of addresses in the block (saturating at `u128::MAX` for `/0` IPv6).
    pub fn size(&self) -> u128 {
        let host_bits = u32::from(self.family().bits() - self.prefix);
        1u128.checked_shl(host_bits).unwrap_or(u128::MAX)
    }
}

fn family_max(family: Family) -> u128 {
    match family {
        Family::V4 => u32::MAX as u128,
        Family::V6 => u128::MAX,
    }
}

fn mask(family: Family, prefix: u8) -> u128 {
    let bits = u32::from(family.bits());
    let host = bits - u32::from(prefix);
    let all = family_max(family);
    if host >= 128 {
        0
    } else {
        (all >> host) << host & all
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = IpamError;

    fn from_str(s: &str) -> Result<Cidr, IpamError> {
        let bad = |reason: &str| IpamError::InvalidCidr {
            text: s.to_string(),
            reason: reason.to_string(),
        };
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| bad("expected ADDRESS/PREFIX"))?;
        let addr: IpAddr = addr.trim().parse().map_err(|_| bad("invalid address"))?;
        let prefix: u8 = prefix
            .trim()
            .parse()
            .map_err(|_| bad("invalid prefix length"))?;
        Cidr::new(addr, prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        let c: Cidr = "10.96.7.9/12".parse().unwrap();
        assert_eq!(c.to_string(), "10.96.0.0/12");
        assert_eq!(c.last().to_string(), "10.111.255.255");
        assert_eq!(c.size(), 1 << 20);
        let v6: Cidr = "fd00:103::1/64".parse().unwrap();
        assert_eq!(v6.to_string(), "fd00:103::/64");
        assert_eq!(v6.last().to_string(), "fd00:103::ffff:ffff:ffff:ffff");
        assert!(v6.contains(&"fd00:103::2".parse().unwrap()));
        assert!(!v6.contains(&"10.0.0.1".parse().unwrap()));
        let all: Cidr = "::/0".parse().unwrap();
        assert_eq!(all.size(), u128::MAX);
        assert_eq!("0.0.0.0/0".parse::<Cidr>().unwrap().size(), 1 << 32);
    }

    #[test]
    fn rejects_bad_text() {
        for bad in ["10.0.0.0", "10.0.0.0/33", "x/8", "fd00::/129", "10.0.0.0/a"] {
            let err = bad.parse::<Cidr>().unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }
}
