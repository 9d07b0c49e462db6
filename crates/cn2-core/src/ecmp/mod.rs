//! Next hops, slot-stable ECMP composites, member selection and per-node
//! route tables.
//!
//! * [`hash`] — the fixed, documented flow hash;
//! * [`nexthop`] — interface, tunnel and composite next hops, their per-node
//!   ids;
//! * [`select`] — member selection: the vRouter's slot-stable scheme and
//!   Maglev, behind one [`Selector`];
//! * [`routes`] — each node's VRF tables: a route per FloatingIP address to
//!   an interface, a tunnel or a composite next hop;
//! * [`route_ids`] — next-hop ids kept from one plan to the next.

pub mod hash;
pub mod nexthop;
pub mod route_ids;
pub mod routes;
pub mod select;

pub use hash::{FiveTuple, flow_hash};
pub use nexthop::{Encap, NextHop, NextHopIds};
pub use route_ids::NodeNextHopIds;
pub use select::{Algorithm, Backend, MAGLEV_DEFAULT_SIZE, Maglev, Selector, Slots};

/// Errors of member selection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EcmpError {
    /// A Maglev table size that is not prime.
    #[error("Maglev table size {0} is not prime")]
    NotPrime(usize),
    /// More members than table slots.
    #[error("{members} members do not fit a Maglev table of {table_size} slots")]
    TooManyMembers {
        /// Members given.
        members: usize,
        /// Table size.
        table_size: usize,
    },
    /// A member of weight 0.
    #[error("member weights must be at least 1")]
    ZeroWeight,
    /// An unknown algorithm name.
    #[error("unknown load-balancing algorithm {0:?} (expected ecmp or maglev)")]
    UnknownAlgorithm(String),
}
