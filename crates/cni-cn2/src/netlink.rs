//! The kernel operations the plugin needs, behind a small trait.
//!
//! [`Netlink`] is one handle bound to one network namespace: the host's, or a
//! pod's. Everything the plugin does to links, addresses, routes, proxy
//! neighbours and per-namespace sysctls goes through it, so the wiring logic
//! in [`crate::plugin`] runs unchanged over the real kernel
//! ([`crate::rtnl::RtNetlink`]) and over the in-crate fake used by the unit
//! tests. [`System`] opens handles.

use std::net::IpAddr;
use std::os::fd::RawFd;

use cn2_core::cni::IpNet;

/// A failure of a kernel operation.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// The kernel refused a request (`errno` is positive, as in `errno.h`).
    #[error("{op}: {}", std::io::Error::from_raw_os_error(*errno))]
    Kernel {
        /// What was being done (for example `create veth cn2ab… / eth0`).
        op: String,
        /// The error number.
        errno: i32,
    },
    /// A socket or file operation failed.
    #[error("{op}: {source}")]
    Io {
        /// What was being done.
        op: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The kernel's answer could not be decoded.
    #[error("{op}: undecodable netlink answer: {msg}")]
    Decode {
        /// What was being done.
        op: String,
        /// The decoder's message.
        msg: String,
    },
    /// The network namespace path does not exist or is not a namespace.
    #[error("network namespace {path:?} is not available: {source}")]
    NoNetns {
        /// The path given in `CNI_NETNS`.
        path: String,
        /// Why it could not be opened.
        source: std::io::Error,
    },
}

impl NetlinkError {
    /// The `errno` of a refused request or failed I/O, if there is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Kernel { errno, .. } => Some(*errno),
            NetlinkError::Io { source, .. } | NetlinkError::NoNetns { source, .. } => {
                source.raw_os_error()
            }
            NetlinkError::Decode { .. } => None,
        }
    }

    /// Whether the error says that the object is already gone (`ENODEV`,
    /// `ENOENT`, `ESRCH`, `EADDRNOTAVAIL`), which teardown treats as success.
    pub fn is_gone(&self) -> bool {
        matches!(
            self.errno(),
            Some(libc::ENODEV | libc::ENOENT | libc::ESRCH | libc::EADDRNOTAVAIL)
        )
    }

    /// Whether the error says that the object already exists (`EEXIST`).
    pub fn is_exists(&self) -> bool {
        self.errno() == Some(libc::EEXIST)
    }
}

/// A link as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The interface index.
    pub index: u32,
    /// The interface name.
    pub name: String,
    /// The hardware address (six bytes for Ethernet-like links).
    pub mac: Vec<u8>,
    /// The MTU.
    pub mtu: u32,
    /// Whether the link is administratively up.
    pub up: bool,
    /// The link kind (`veth`, …), when the kernel names one.
    pub kind: Option<String>,
    /// The interface alias (`IFLA_IFALIAS`), if set.
    pub alias: Option<String>,
}

/// A unicast route in the main table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// The destination (`0.0.0.0/0` for a default route).
    pub dst: IpNet,
    /// The next hop, if any; without one the route is scope link.
    pub gw: Option<IpAddr>,
    /// The output interface index.
    pub oif: u32,
    /// Whether the next hop is taken to be on the link without a connected
    /// route covering it (`onlink`).
    pub onlink: bool,
    /// The metric, if set.
    pub priority: Option<u32>,
}

/// Flags for a new address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddrFlags {
    /// Skip duplicate address detection (`IFA_F_NODAD`): an IPv6 address is
    /// usable at once instead of after the DAD wait.
    pub nodad: bool,
    /// Do not add the prefix route for the address (`IFA_F_NOPREFIXROUTE`).
    pub noprefixroute: bool,
}

/// The parameters of a veth pair created across two namespaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VethSpec {
    /// The name of the end created in the handle's own namespace.
    pub name: String,
    /// The name of the peer end.
    pub peer_name: String,
    /// The namespace the peer is created in, as a file descriptor (see
    /// [`Netlink::ns_fd`] of the peer namespace's handle).
    pub peer_ns_fd: RawFd,
    /// The MTU of both ends, if not the kernel's default.
    pub mtu: Option<u32>,
    /// The hardware address of the peer end, if not random.
    pub peer_mac: Option<[u8; 6]>,
}

/// One handle on one network namespace.
///
/// Teardown callers use [`NetlinkError::is_gone`] to treat "already gone" as
/// success.
pub trait Netlink {
    /// A file descriptor referring to this handle's namespace, for
    /// [`VethSpec::peer_ns_fd`].
    fn ns_fd(&self) -> RawFd;
    /// Creates a veth pair: [`VethSpec::name`] here, the peer directly in
    /// the namespace [`VethSpec::peer_ns_fd`] (never moved after creation).
    fn create_veth(&mut self, spec: &VethSpec) -> Result<(), NetlinkError>;
    /// The link called `name`, or `None` if there is none.
    fn get_link(&mut self, name: &str) -> Result<Option<Link>, NetlinkError>;
    /// Every link of the namespace.
    fn list_links(&mut self) -> Result<Vec<Link>, NetlinkError>;
    /// Deletes a link (a veth's peer goes with it).
    fn del_link(&mut self, index: u32) -> Result<(), NetlinkError>;
    /// Sets a link's alias (`IFLA_IFALIAS`; the kernel takes it only on an
    /// existing link, not at creation).
    fn set_alias(&mut self, index: u32, alias: &str) -> Result<(), NetlinkError>;
    /// Sets a link administratively up.
    fn set_up(&mut self, index: u32) -> Result<(), NetlinkError>;
    /// Adds an address to a link.
    fn add_addr(&mut self, index: u32, addr: IpNet, flags: AddrFlags) -> Result<(), NetlinkError>;
    /// Removes an address from a link.
    fn del_addr(&mut self, index: u32, addr: IpNet) -> Result<(), NetlinkError>;
    /// The addresses of a link (both families; link-local IPv6 included).
    fn get_addrs(&mut self, index: u32) -> Result<Vec<IpNet>, NetlinkError>;
    /// Adds a route to the main table.
    fn add_route(&mut self, route: &RouteSpec) -> Result<(), NetlinkError>;
    /// Deletes a main-table route (matched by destination, gateway, output
    /// link and metric).
    fn del_route(&mut self, route: &RouteSpec) -> Result<(), NetlinkError>;
    /// The unicast main-table routes that leave through link `oif`.
    fn get_routes(&mut self, oif: u32) -> Result<Vec<RouteSpec>, NetlinkError>;
    /// Adds a proxy neighbour entry: the link answers neighbour discovery
    /// for `addr` (IPv6 proxy NDP; needs `proxy_ndp` and forwarding).
    fn add_proxy_neigh(&mut self, index: u32, addr: IpAddr) -> Result<(), NetlinkError>;
    /// Writes a sysctl of this namespace, `key` relative to `/proc/sys`
    /// (for example `net/ipv4/conf/eth0/proxy_arp`).
    fn set_sysctl(&mut self, key: &str, value: &str) -> Result<(), NetlinkError>;
}

/// Opens namespace handles.
pub trait System {
    /// The handle type.
    type Handle: Netlink;
    /// A handle on the namespace the plugin runs in (the host's).
    fn host(&mut self) -> Result<Self::Handle, NetlinkError>;
    /// A handle on the namespace at `path` (`CNI_NETNS`);
    /// [`NetlinkError::NoNetns`] if there is none there.
    fn netns(&mut self, path: &str) -> Result<Self::Handle, NetlinkError>;
    /// Deletes the host link `index` without waiting for the kernel to
    /// finish: the caller goes on at once. Unregistering a device waits for
    /// RCU grace periods (about 15 ms per link on a 250 Hz kernel), which is
    /// most of a synchronous DEL. An error means the deletion was not
    /// started; a deletion that is started and then fails (the link went
    /// away meanwhile) is not reported. Interface indexes are not reused
    /// within a namespace, so a link created later under the same name is
    /// never hit.
    fn delete_link_detached(&mut self, index: u32) -> Result<(), NetlinkError>;
}
