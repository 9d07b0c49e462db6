//! `cn2`, the main CNI plugin: routed pod interfaces, like the vRouter.
//!
//! Each attachment is a veth pair whose container end (`CNI_IFNAME`) is
//! created directly in the pod's namespace and whose host end is named from
//! a hash of the container ID and interface name. Addresses come from the
//! IPAM plugin named in `ipam.type`; the host answers for the gateway (proxy
//! ARP and proxy NDP) and routes to the pod by `/32` and `/128` routes. See
//! [`plugin`] for the wiring, [`config`] for the configuration fields, and
//! the crate README for use with Multus.
//!
//! The CNI protocol itself (environment, configuration, results, errors)
//! is [`cn2_core::cni`]; this crate adds the side effects, behind the
//! [`netlink::Netlink`] and [`ipam::Ipam`] traits.

pub mod config;
mod detach;
pub mod ipam;
pub mod names;
pub mod netlink;
pub mod plugin;
pub mod rtnl;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

pub use plugin::Cn2Plugin;
