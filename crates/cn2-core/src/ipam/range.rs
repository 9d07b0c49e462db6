//! Address ranges and the addresses that are never handed out.
//!
//! A range is a CIDR block, optionally narrowed by a first and last address,
//! with a gateway. Following CN2 (and host-local), these are never allocated:
//! the network address, the gateway (the configured one, else the first usable
//! address), the IPv4 broadcast address and the last address of an IPv6
//! block.

use std::net::IpAddr;

use super::IpamError;
use super::cidr::{Cidr, Family, addr_to_u128};

/// One allocatable range: a subnet, an optional narrower `[start, end]`
/// window and the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressRange {
    /// The subnet the range lies in.
    pub subnet: Cidr,
    /// The first address that may be handed out (defaults to the subnet's first usable).
    pub start: Option<IpAddr>,
    /// The last address that may be handed out (defaults to the subnet's last usable).
    pub end: Option<IpAddr>,
    /// The gateway. `None` means the first usable address of the subnet.
    pub gateway: Option<IpAddr>,
}

impl AddressRange {
    /// A range covering a whole subnet with the default gateway.
    pub fn subnet(subnet: Cidr) -> AddressRange {
        AddressRange {
            subnet,
            start: None,
            end: None,
            gateway: None,
        }
    }

    /// The family of the range.
    pub fn family(&self) -> Family {
        self.subnet.family()
    }

    /// The effective gateway: the configured one, else the first usable address.
    pub fn gateway(&self) -> Option<IpAddr> {
        if self.gateway.is_some() {
            return self.gateway;
        }
        let first = self.subnet.first_u128();
        (self.subnet.size() > 2).then(|| self.family().addr(first + 1))
    }

    /// Checks that start, end and gateway lie in the subnet and `start <= end`.
    pub fn validate(&self) -> Result<(), IpamError> {
        for (what, addr) in [
            ("rangeStart", self.start),
            ("rangeEnd", self.end),
            ("gateway", self.gateway),
        ] {
            if let Some(a) = addr {
                if !self.subnet.contains(&a) {
                    return Err(IpamError::OutsideSubnet {
                        what,
                        address: a,
                        subnet: self.subnet,
                    });
                }
            }
        }
        if let (Some(s), Some(e)) = (self.start, self.end) {
            if addr_to_u128(&s) > addr_to_u128(&e) {
                return Err(IpamError::EmptyRange { start: s, end: e });
            }
        }
        Ok(())
    }

    /// The inclusive numeric intervals of allocatable addresses, in order.
    ///
    /// At most two intervals: the gateway may split the window.
    pub fn usable_intervals(&self) -> Vec<(u128, u128)> {
        let first = self.subnet.first_u128();
        let last = self.subnet.last_u128();
        // Blocks of one or two addresses (/32, /31, /128, /127) are point-to-point:
        // every address is usable.
        let (lo_limit, hi_limit) = if self.subnet.size() <= 2 {
            (first, last)
        } else {
            (first + 1, last - 1)
        };
        let lo = self
            .start
            .map_or(lo_limit, |s| addr_to_u128(&s).max(lo_limit));
        let hi = self
            .end
            .map_or(hi_limit, |e| addr_to_u128(&e).min(hi_limit));
        if lo > hi {
            return Vec::new();
        }
        match self.gateway().map(|g| addr_to_u128(&g)) {
            Some(g) if g >= lo && g <= hi => {
                let mut out = Vec::with_capacity(2);
                if g > lo {
                    out.push((lo, g - 1));
                }
                if g < hi {
                    out.push((g + 1, hi));
                }
                out
            }
            _ => vec![(lo, hi)],
        }
    }

    /// Whether `addr` may be handed out from this range.
    pub fn is_usable(&self, addr: &IpAddr) -> bool {
        if Family::of(addr) != self.family() {
            return false;
        }
        let n = addr_to_u128(addr);
        self.usable_intervals()
            .iter()
            .any(|&(lo, hi)| n >= lo && n <= hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> AddressRange {
        AddressRange::subnet(s.parse().unwrap())
    }

    #[test]
    fn reserves_network_gateway_broadcast() {
        let v4 = r("10.200.0.0/24");
        assert_eq!(v4.usable_intervals(), vec![(0x0ac8_0002, 0x0ac8_00fe)]);
        assert!(!v4.is_usable(&"10.200.0.1".parse().unwrap()));
        assert!(v4.is_usable(&"10.200.0.2".parse().unwrap()));
        assert!(!v4.is_usable(&"10.200.0.255".parse().unwrap()));
    }

    #[test]
    fn ipv6_last_address_is_reserved() {
        let v6 = r("fd00:103::/120");
        let iv = v6.usable_intervals();
        let last = v6.subnet.last_u128();
        assert_eq!(iv, vec![(v6.subnet.first_u128() + 2, last - 1)]);
    }

    #[test]
    fn gateway_in_the_middle_splits() {
        let mut x = r("192.168.1.0/29");
        x.gateway = Some("192.168.1.4".parse().unwrap());
        let iv = x.usable_intervals();
        assert_eq!(iv.len(), 2);
        let count: u128 = iv.iter().map(|(a, b)| b - a + 1).sum();
        assert_eq!(count, 5); // .1 .2 .3 .5 .6
    }

    #[test]
    fn window_and_validation() {
        let mut x = r("10.0.0.0/24");
        x.start = Some("10.0.0.100".parse().unwrap());
        x.end = Some("10.0.0.110".parse().unwrap());
        assert_eq!(x.usable_intervals(), vec![(0x0a00_0064, 0x0a00_006e)]);
        x.validate().unwrap();
        x.end = Some("10.0.1.1".parse().unwrap());
        assert!(x.validate().unwrap_err().to_string().contains("rangeEnd"));
    }
}
