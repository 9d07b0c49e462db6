//! # cni-ipam
//!
//! The `cn2-ipam` CNI IPAM plugin: host-local's configuration and
//! allocation order over a crash-safe, multi-process-safe reservation store.
//!
//! * [`config`] — the `ipam` section: range sets, routes, `dataDir`,
//!   `resolvConf`, static address requests.
//! * [`store`] — the on-disk reservations, one directory per network; also
//!   a [`cn2_core::ipam::Store`] for the core allocator ([`store::DiskStore`]).
//! * [`plugin`] — the CNI verbs over the two, run by
//!   [`cn2_core::cni::run`].

pub mod config;
pub mod plugin;
pub mod store;

/// Plugin-specific error code: a range set has no free address.
pub const CODE_EXHAUSTED: u32 = 100;
/// Plugin-specific error code: a requested address is held by another attachment.
pub const CODE_ADDRESS_IN_USE: u32 = 101;
/// Plugin-specific error code: CHECK found the reservation incomplete.
pub const CODE_RESERVATION_DAMAGED: u32 = 102;

/// Name of the test-only environment variable that makes ADD pause this many
/// microseconds between its steps, so crash tests can kill it mid-way.
pub const STEP_DELAY_ENV: &str = "CN2_IPAM_TEST_STEP_DELAY_US";
