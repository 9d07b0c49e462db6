//! Address management: range sets, the allocator and its stores.
//!
//! One engine serves service ClusterIPs, external IPs and pod addresses:
//!
//! * [`Cidr`] and [`AddressRange`] describe where addresses come from and
//!   which are never handed out (network, gateway, IPv4 broadcast, last IPv6
//!   address);
//! * [`Pool`] keeps the free addresses of one family as intervals, so the
//!   lowest free address (CN2's order) or the next after the last one
//!   (host-local's round-robin) is found in logarithmic time, even in an IPv6
//!   `/64`;
//! * [`Allocator`] hands addresses to **owners** (a service UID and family, a
//!   container ID and interface), idempotently, and records every change in
//!   a [`Store`], so allocations survive a restart.

mod allocator;
mod cidr;
mod pool;
mod range;
mod store;

use std::net::IpAddr;

pub use allocator::{Allocation, Allocator};
pub use cidr::{Cidr, Family, addr_to_u128};
pub use pool::Pool;
pub use range::AddressRange;
pub use store::{JsonFileStore, MemoryStore, Store};

/// Errors of address management.
#[derive(Debug, thiserror::Error)]
pub enum IpamError {
    /// A CIDR text could not be parsed.
    #[error("invalid CIDR {text:?}: {reason}")]
    InvalidCidr {
        /// The text given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A range boundary or gateway lies outside its subnet.
    #[error("{what} {address} is outside subnet {subnet}")]
    OutsideSubnet {
        /// Which field (`rangeStart`, `rangeEnd`, `gateway`).
        what: &'static str,
        /// The address given.
        address: IpAddr,
        /// The subnet.
        subnet: Cidr,
    },
    /// `start` is after `end`.
    #[error("range start {start} is after range end {end}")]
    EmptyRange {
        /// Range start.
        start: IpAddr,
        /// Range end.
        end: IpAddr,
    },
    /// A pool was built from no ranges.
    #[error("a pool needs at least one range")]
    NoRanges,
    /// A pool's ranges are of different families.
    #[error("range {subnet} is not of the same IP family as the others in its pool")]
    MixedFamilies {
        /// The odd range.
        subnet: Cidr,
    },
    /// An address block mixes families.
    #[error("address block {start}-{end} mixes IP families or is of the wrong family")]
    MixedBlock {
        /// First address.
        start: IpAddr,
        /// Last address.
        end: IpAddr,
    },
    /// A requested address is not one the pool may hand out.
    #[error("address {address} is not allocatable in this pool")]
    NotInPool {
        /// The address requested.
        address: IpAddr,
    },
    /// A requested address is held by another owner.
    #[error("address {address} is already in use")]
    AddressInUse {
        /// The address requested.
        address: IpAddr,
    },
    /// No free address is left.
    #[error("no free address left in {pool}")]
    Exhausted {
        /// The pool (network) that is full.
        pool: String,
    },
    /// No pool of that name is known.
    #[error("unknown address pool {pool}")]
    UnknownPool {
        /// The pool name.
        pool: String,
    },
    /// The store failed to read or write.
    #[error("allocation store {path}: {reason}")]
    Store {
        /// Where the store lives.
        path: String,
        /// What went wrong.
        reason: String,
    },
}
