//! Names and hardware addresses derived from the attachment.
//!
//! The host end of a pod's veth is named `cn2` followed by 11 hex digits of
//! a SHA-256 of the container ID and the interface name: 14 characters, under
//! the kernel's 15, and the same on every retry of the same attachment, so a
//! DEL (or a retried ADD) finds the link a previous ADD made without any
//! state on disk.

use sha2::{Digest, Sha256};

/// The prefix of every host-side link the plugin creates.
pub const HOST_PREFIX: &str = "cn2";

fn digest(kind: &[u8], container_id: &str, ifname: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(kind);
    h.update(container_id.as_bytes());
    // A separator no container ID or interface name contains.
    h.update([0]);
    h.update(ifname.as_bytes());
    h.finalize().into()
}

/// The host end's name for the attachment (`cn2` + 11 hex digits).
pub fn host_veth_name(container_id: &str, ifname: &str) -> String {
    let d = digest(b"veth:", container_id, ifname);
    let mut name = String::from(HOST_PREFIX);
    for b in &d[..6] {
        name.push_str(&format!("{b:02x}"));
    }
    name.truncate(HOST_PREFIX.len() + 11);
    name
}

/// The alias of a host end whose deletion DEL has started: the attachment
/// is gone, the link is on its way out.
pub const DELETING_ALIAS: &str = "cn2 deleting";

/// The alias the host end carries: `cn2 <network> <container ID> <ifname>`,
/// so GC can tell which attachment of which network a host link serves.
/// None of the three contains a space (they match the CNI name pattern and
/// the interface name rules).
pub fn host_alias(network: &str, container_id: &str, ifname: &str) -> String {
    format!("{HOST_PREFIX} {network} {container_id} {ifname}")
}

/// The (container ID, interface name) of a host end of `network`, from its
/// alias; `None` for a link that is not one.
pub fn parse_host_alias<'a>(alias: &'a str, network: &str) -> Option<(&'a str, &'a str)> {
    let mut parts = alias.split(' ');
    if parts.next()? != HOST_PREFIX || parts.next()? != network {
        return None;
    }
    let (cid, ifname) = (parts.next()?, parts.next()?);
    parts.next().is_none().then_some((cid, ifname))
}

/// A stable hardware address for the container end: locally administered
/// and unicast, derived from the container ID and interface name.
pub fn derived_mac(container_id: &str, ifname: &str) -> [u8; 6] {
    let d = digest(b"mac:", container_id, ifname);
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&d[..6]);
    mac[0] = (mac[0] & 0xfc) | 0x02;
    mac
}

/// Parses `aa:bb:cc:dd:ee:ff` (or with `-`); `None` if malformed or not a
/// unicast address.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split([':', '-']);
    for slot in &mut out {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *slot = u8::from_str_radix(p, 16).ok()?;
    }
    if parts.next().is_some() || out[0] & 1 == 1 {
        return None;
    }
    Some(out)
}

/// Formats a hardware address as lowercase `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &[u8]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_short_stable_and_distinct() {
        let a = host_veth_name("abc123", "eth0");
        assert_eq!(a.len(), 14);
        assert!(a.starts_with("cn2"));
        assert!(a[3..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a, host_veth_name("abc123", "eth0"));
        assert_ne!(a, host_veth_name("abc123", "net1"));
        assert_ne!(a, host_veth_name("abc124", "eth0"));
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(host_veth_name("ab", "c"), host_veth_name("a", "bc"));
    }

    #[test]
    fn aliases() {
        let a = host_alias("pods", "abc", "net1");
        assert_eq!(parse_host_alias(&a, "pods"), Some(("abc", "net1")));
        assert_eq!(parse_host_alias(&a, "other"), None);
        assert_eq!(parse_host_alias("cn2 pods abc", "pods"), None);
        assert_eq!(parse_host_alias("cn2 pods abc eth0 x", "pods"), None);
        assert_eq!(parse_host_alias("uplink", "pods"), None);
    }

    #[test]
    fn macs() {
        let m = derived_mac("abc123", "eth0");
        assert_eq!(m[0] & 0x03, 0x02, "locally administered unicast");
        assert_eq!(m, derived_mac("abc123", "eth0"));
        assert_ne!(m, derived_mac("abc123", "net1"));
        assert_eq!(
            parse_mac("0A:58:0a:00:00:05"),
            Some([0x0a, 0x58, 0x0a, 0, 0, 5])
        );
        assert_eq!(parse_mac("0a-58-0a-00-00-05").map(|m| m[5]), Some(5));
        for bad in [
            "",
            "0a:58:0a:00:00",
            "0a:58:0a:00:00:05:06",
            "zz:58:0a:00:00:05",
            "01:00:5e:00:00:01",
            "0a:5:0a:00:00:05",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
        assert_eq!(
            format_mac(&[0x0a, 0x58, 0, 0, 0, 0xff]),
            "0a:58:00:00:00:ff"
        );
    }
}
