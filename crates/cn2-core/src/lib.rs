//! # cn2-core
//!
//! The brain of cn2: Kubernetes LoadBalancer and ClusterIP services the
//! Cloud-Native Contrail (CN2) way, as pure Rust with no netlink, no processes
//! and no global state.
//!
//! Data flows one way: **manifests → model → decisions → tables → renderers**.
//!
//! * [`model`] — typed Kubernetes / CN2 objects and the manifest loader.
//! * [`select`] — label selectors and the external-network selection.
//! * [`ipam`] — range sets, the address allocator and its stores.
//! * [`ecmp`] — the flow hash, slot-stable ECMP, Maglev, node route tables.
//! * [`flow`] — the flow table with NAT, affinity and aging.
//! * [`lb`] — loadbalancers, listeners, pools, members, InstanceIPs and
//!   FloatingIPs with port maps.
//! * [`plan`] — the plan: what the system does with every service.
//! * [`announce`] — address pools, layer-2 ownership and BGP announcements.
//! * [`cluster`] — incremental state: objects applied and deleted one at a
//!   time, the plan, and what each change did to the load-balancer objects.
//! * [`cni`] — the CNI protocol shared by the `cn2` and `cn2-ipam` plugins.

pub mod announce;
pub mod cluster;
pub mod cni;
pub mod ecmp;
pub mod flow;
pub mod ipam;
pub mod lb;
pub mod model;
pub mod plan;
pub mod select;
