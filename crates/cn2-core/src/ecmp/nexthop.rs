//! Next hops, as the vRouter keeps them: where a route sends a packet.
//!
//! * An **interface** next hop delivers to a local pod interface.
//! * A **tunnel** next hop encapsulates towards another node's fabric IP:
//!   MPLS over UDP (the default; UDP destination port 6635, RFC 7510), MPLS
//!   over GRE (RFC 4023) or VXLAN (UDP port 4789, RFC 7348). The MPLS label
//!   or VXLAN network identifier selects the destination interface or VRF on
//!   the far node.
//! * A **composite** (ECMP) next hop holds sub next hops in **slots**. The
//!   slots are stable: removing a member leaves a [`NextHop::Discard`] in its
//!   slot instead of compacting the list (the vRouter's agent does the same),
//!   and a new member takes the first discard slot, else is appended; see
//!   [`Slots`]. A flow hashes to slot `hash % slots`; when that slot is a
//!   discard, to live member `hash % live` (live members in slot order). So
//!   removing one member moves only the flows that were on it.
//!
//! Next hops are numbered per node by [`NextHopIds`]: an id belongs to a next
//! hop's identity for as long as the next hop is in use, so a route keeps its
//! next-hop id when unrelated routes come and go, and a composite changing a
//! member gets a new id while the old one is released for reuse.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::select::Slots;

/// The UDP destination port of MPLS over UDP (RFC 7510 assigns 6635).
pub const MPLS_OVER_UDP_PORT: u16 = 6635;
/// The UDP destination port of VXLAN (RFC 7348 assigns 4789).
pub const VXLAN_PORT: u16 = 4789;

/// Tunnel encapsulations.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum Encap {
    /// MPLS over UDP (destination port 6635), the default.
    #[default]
    #[serde(rename = "MPLSoUDP")]
    MplsOverUdp,
    /// MPLS over GRE.
    #[serde(rename = "MPLSoGRE")]
    MplsOverGre,
    /// VXLAN.
    #[serde(rename = "VXLAN")]
    Vxlan,
}

impl Encap {
    /// The name CN2 gives it (`MPLSoUDP`, `MPLSoGRE`, `VXLAN`).
    pub fn name(self) -> &'static str {
        match self {
            Encap::MplsOverUdp => "MPLSoUDP",
            Encap::MplsOverGre => "MPLSoGRE",
            Encap::Vxlan => "VXLAN",
        }
    }

    /// The outer UDP destination port, or `None` for GRE.
    pub fn udp_port(self) -> Option<u16> {
        match self {
            Encap::MplsOverUdp => Some(MPLS_OVER_UDP_PORT),
            Encap::MplsOverGre => None,
            Encap::Vxlan => Some(VXLAN_PORT),
        }
    }
}

/// A next hop.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum NextHop {
    /// A local pod interface (`namespace/pod/interface`, or the address of a
    /// backend that is no known pod).
    Interface {
        /// The interface.
        interface: Arc<str>,
    },
    /// A tunnel to another node.
    Tunnel {
        /// Encapsulation.
        encap: Encap,
        /// The remote node's fabric IP.
        dst: IpAddr,
    },
    /// ECMP over sub next hops, in slot order; empty slots are
    /// [`NextHop::Discard`].
    Composite {
        /// The sub next hops.
        members: Arc<[NextHop]>,
    },
    /// Drops packets; in a composite, an empty slot.
    Discard,
}

impl NextHop {
    /// The composite of a slot-stable member list: empty slots become
    /// [`NextHop::Discard`].
    pub fn composite(slots: &Slots<NextHop>) -> NextHop {
        NextHop::Composite {
            members: slots
                .slots()
                .iter()
                .map(|s| s.clone().unwrap_or(NextHop::Discard))
                .collect(),
        }
    }

    /// The path a flow of hash `hash` takes: itself for a simple next hop,
    /// for a composite the vRouter choice (slot `hash % slots`, else live
    /// member `hash % live`); `None` when nothing is live.
    pub fn select(&self, hash: u64) -> Option<&NextHop> {
        match self {
            NextHop::Discard => None,
            NextHop::Composite { members } => {
                if members.is_empty() {
                    return None;
                }
                let at = &members[(hash % members.len() as u64) as usize];
                if *at != NextHop::Discard {
                    return Some(at);
                }
                let live = members.iter().filter(|m| **m != NextHop::Discard);
                let n = live.clone().count() as u64;
                if n == 0 {
                    return None;
                }
                live.clone().nth((hash % n) as usize)
            }
            simple => Some(simple),
        }
    }
}

/// Per-node next-hop ids, keyed by next-hop identity.
///
/// Ids start at 1 (0 is left for "no next hop"). A next hop keeps its id
/// until it is released; released ids are reused lowest first, so a node's
/// numbering stays dense and deterministic for a given sequence of changes.
#[derive(Debug, Clone, Default)]
pub struct NextHopIds {
    ids: FxHashMap<NextHop, u32>,
    free: BTreeSet<u32>,
    next: u32,
}

impl NextHopIds {
    /// No ids yet.
    pub fn new() -> NextHopIds {
        NextHopIds::default()
    }

    /// The id of `nh`, allocating one if it has none.
    pub fn id(&mut self, nh: &NextHop) -> u32 {
        if let Some(&id) = self.ids.get(nh) {
            return id;
        }
        let id = match self.free.pop_first() {
            Some(id) => id,
            None => {
                self.next += 1;
                self.next
            }
        };
        self.ids.insert(nh.clone(), id);
        id
    }

    /// The id of `nh`, if it has one.
    pub fn get(&self, nh: &NextHop) -> Option<u32> {
        self.ids.get(nh).copied()
    }

    /// Releases the id of `nh` for reuse; returns it.
    pub fn release(&mut self, nh: &NextHop) -> Option<u32> {
        let id = self.ids.remove(nh)?;
        self.free.insert(id);
        Some(id)
    }

    /// Releases the ids of the next hops for which `keep(next hop, id)` is
    /// false.
    pub fn release_unless(&mut self, mut keep: impl FnMut(&NextHop, u32) -> bool) {
        let free = &mut self.free;
        self.ids.retain(|nh, id| {
            let kept = keep(nh, *id);
            if !kept {
                free.insert(*id);
            }
            kept
        });
    }

    /// The number of next hops with an id.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no next hop has an id.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tunnel(last: u8) -> NextHop {
        NextHop::Tunnel {
            encap: Encap::default(),
            dst: IpAddr::from([10, 169, 25, last]),
        }
    }

    #[test]
    fn encapsulation_ports() {
        assert_eq!(Encap::default(), Encap::MplsOverUdp);
        assert_eq!(Encap::MplsOverUdp.udp_port(), Some(6635));
        assert_eq!(Encap::Vxlan.udp_port(), Some(4789));
        assert_eq!(Encap::MplsOverGre.udp_port(), None);
    }

    #[test]
    fn composite_slots_hold_discards_and_refill() {
        let local = NextHop::Interface {
            interface: Arc::from("ns/web-1/eth0"),
        };
        let mut slots = Slots::new([local.clone(), tunnel(20), tunnel(21)]);
        slots.remove(&tunnel(20));
        let NextHop::Composite { members } = NextHop::composite(&slots) else {
            panic!("a composite");
        };
        assert_eq!(&*members, &[local.clone(), NextHop::Discard, tunnel(21)]);
        assert_eq!(slots.add(tunnel(22)), 1, "the hole is refilled");
        assert_eq!(slots.add(tunnel(23)), 3, "then members are appended");
    }

    #[test]
    fn composite_selection_rehashes_only_the_discarded_slot() {
        let full = NextHop::composite(&Slots::new([tunnel(1), tunnel(2), tunnel(3)]));
        let mut slots = Slots::new([tunnel(1), tunnel(2), tunnel(3)]);
        slots.remove(&tunnel(2));
        let holed = NextHop::composite(&slots);
        for h in 0..3000u64 {
            let before = full.select(h).unwrap();
            let after = holed.select(h).unwrap();
            assert_ne!(*after, NextHop::Discard);
            if *before != tunnel(2) {
                assert_eq!(before, after, "hash {h} moved off a live member");
            }
        }
        // hash 1 hits the hole (slot 1) and goes to live member 1 % 2 = 1.
        assert_eq!(holed.select(1), Some(&tunnel(3)));
        assert_eq!(NextHop::Discard.select(7), None);
        assert_eq!(tunnel(9).select(7), Some(&tunnel(9)));
    }

    #[test]
    fn ids_are_stable_and_reused_lowest_first() {
        let mut ids = NextHopIds::new();
        let a = ids.id(&tunnel(1));
        let b = ids.id(&tunnel(2));
        let c = ids.id(&tunnel(3));
        assert_eq!((a, b, c), (1, 2, 3));
        assert_eq!(ids.id(&tunnel(2)), 2, "same identity, same id");
        assert_eq!(ids.release(&tunnel(2)), Some(2));
        assert_eq!(ids.release(&tunnel(2)), None);
        assert_eq!(ids.get(&tunnel(3)), Some(3), "others keep theirs");
        assert_eq!(ids.id(&tunnel(4)), 2, "the freed id is reused");
        assert_eq!(ids.id(&tunnel(5)), 4);
        assert_eq!(ids.len(), 4);
    }
}
