//! The `cn2` verbs over a [`System`] and an [`Ipam`].
//!
//! # Wiring (ADD)
//!
//! Routed like the vRouter, without a bridge:
//!
//! ```text
//!   pod netns                              host netns
//!   eth0 10.244.0.5/24 ───── veth ─────── cn2a1b2c3d4e5f (proxy_arp, proxy_ndp)
//!   default via 10.244.0.1 onlink          10.244.0.5/32 dev cn2a1b2c3d4e5f
//!   10.244.0.0/24 via 10.244.0.1 onlink    fd00::5/128   dev cn2a1b2c3d4e5f
//! ```
//!
//! The veth peer is created directly inside the pod namespace. Addresses are
//! added without their prefix route when the network has a gateway, and a
//! route to the subnet through the gateway (`onlink`) replaces it: every
//! packet the pod sends goes to the host end, which answers for the gateway
//! by proxy ARP (IPv4) and a proxy NDP entry (IPv6), and the host forwards
//! by its `/32` and `/128` routes. IPv6 addresses skip duplicate address
//! detection and the pod end has `accept_dad=0`, so IPv6 is usable at once.
//!
//! # Failure
//!
//! Checks that need no state (configuration, the namespace, a clash with an
//! existing interface) run before IPAM. Once IPAM has reserved addresses, a
//! failure deletes the veth (its peer, addresses and routes go with it) and
//! releases the reservation with IPAM DEL before answering with the error.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use cn2_core::cni::{
    CniError, CniResult, Command, Dns, Interface, IpConfig, IpNet, Plugin, Request, Route,
};

use crate::config::{Cn2Conf, KNOWN_ARGS};
use crate::ipam::Ipam;
use crate::names::{
    DELETING_ALIAS, derived_mac, format_mac, host_alias, host_veth_name, parse_host_alias,
};
use crate::netlink::{AddrFlags, Link, Netlink, NetlinkError, RouteSpec, System, VethSpec};

/// Plugin-specific error code: the interface name is already taken in the pod.
pub const CODE_IFNAME_EXISTS: u32 = 100;
/// Plugin-specific error code: a kernel operation failed.
pub const CODE_KERNEL: u32 = 101;
/// Plugin-specific error code: CHECK found the attachment different from
/// `prevResult`.
pub const CODE_CHECK_FAILED: u32 = 102;
/// Plugin-specific error code: IPAM answered ADD without a usable address.
pub const CODE_NO_ADDRESS: u32 = 103;

/// The metric base of a pod route whose destination another interface of
/// the pod already routes (the interface index is added).
pub const SHARED_ROUTE_METRIC: u32 = 1024;

/// A failure of one verb, before it becomes a CNI error.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// A kernel operation failed.
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    /// The pod namespace is gone or never existed.
    #[error("{0}")]
    NoNetns(String),
    /// `CNI_IFNAME` already exists in the pod.
    #[error("interface {ifname:?} already exists in {netns}")]
    IfnameExists {
        /// The interface name.
        ifname: String,
        /// The namespace path.
        netns: String,
    },
    /// IPAM gave no address.
    #[error("IPAM plugin {0:?} returned no IP address")]
    NoAddress(String),
    /// CHECK found a difference.
    #[error("CHECK: {0}")]
    Check(String),
}

impl From<PluginError> for CniError {
    fn from(e: PluginError) -> CniError {
        let code = match &e {
            PluginError::Netlink(NetlinkError::NoNetns { .. }) | PluginError::NoNetns(_) => {
                return CniError::UnknownContainer {
                    msg: e.to_string(),
                    details: String::new(),
                };
            }
            PluginError::Netlink(_) => CODE_KERNEL,
            PluginError::IfnameExists { .. } => CODE_IFNAME_EXISTS,
            PluginError::NoAddress(_) => CODE_NO_ADDRESS,
            PluginError::Check(_) => CODE_CHECK_FAILED,
        };
        CniError::Plugin {
            code,
            msg: e.to_string(),
            details: String::new(),
        }
    }
}

/// The `cn2` plugin.
#[derive(Debug)]
pub struct Cn2Plugin<S, I> {
    /// Opens namespace handles.
    pub system: S,
    /// Runs the IPAM plugin.
    pub ipam: I,
}

/// The network address of `n` (host bits cleared).
pub fn network(n: IpNet) -> IpNet {
    let addr = match n.addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(n.prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(n.prefix))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
        }
    };
    IpNet {
        addr,
        prefix: n.prefix,
    }
}

/// Whether `n` is a single address (`/32` or `/128`).
fn is_host_route(n: IpNet) -> bool {
    n.prefix == if n.addr.is_ipv4() { 32 } else { 128 }
}

fn host_prefix(addr: IpAddr) -> IpNet {
    IpNet {
        addr,
        prefix: if addr.is_ipv4() { 32 } else { 128 },
    }
}

fn default_dst(v4: bool) -> IpNet {
    if v4 {
        IpNet {
            addr: Ipv4Addr::UNSPECIFIED.into(),
            prefix: 0,
        }
    } else {
        IpNet {
            addr: Ipv6Addr::UNSPECIFIED.into(),
            prefix: 0,
        }
    }
}

/// The routes ADD installs in the pod for `ips` (with gateways) and the
/// IPAM `routes`, in order: per address with a gateway the subnet through
/// the gateway; the default route per family when `default_route`; then
/// the IPAM routes (their default routes only when `default_route`), each
/// through its own gateway or its family's, never twice.
pub fn pod_routes(ips: &[IpConfig], ipam_routes: &[Route], default_route: bool) -> Vec<Route> {
    let mut out: Vec<Route> = Vec::new();
    let push = |r: Route, out: &mut Vec<Route>| {
        if !out.iter().any(|o| network(o.dst) == network(r.dst)) {
            out.push(r);
        }
    };
    let gw_of = |v4: bool| {
        ips.iter()
            .find(|ip| ip.address.addr.is_ipv4() == v4 && ip.gateway.is_some())
            .and_then(|ip| ip.gateway)
    };
    for ip in ips {
        let max = if ip.address.addr.is_ipv4() { 32 } else { 128 };
        if let Some(gw) = ip.gateway {
            if ip.address.prefix < max {
                push(Route::new(network(ip.address), Some(gw)), &mut out);
            }
        }
    }
    if default_route {
        for v4 in [true, false] {
            if let Some(gw) = gw_of(v4) {
                push(Route::new(default_dst(v4), Some(gw)), &mut out);
            }
        }
    }
    for r in ipam_routes {
        let v4 = r.dst.addr.is_ipv4();
        if r.dst.prefix == 0 && !default_route {
            continue;
        }
        let gw = r.gw.or_else(|| gw_of(v4));
        push(
            Route {
                dst: network(r.dst),
                gw,
                ..r.clone()
            },
            &mut out,
        );
    }
    out
}

fn ignore_gone(r: Result<(), NetlinkError>) -> Result<(), NetlinkError> {
    match r {
        Err(e) if e.is_gone() => Ok(()),
        other => other,
    }
}

fn log(msg: impl std::fmt::Display) {
    eprintln!("cn2: {msg}");
}

impl<S: System, I: Ipam> Cn2Plugin<S, I> {
    /// A plugin over `system` and `ipam`.
    pub fn new(system: S, ipam: I) -> Self {
        Cn2Plugin { system, ipam }
    }

    fn open_pod(&mut self, netns: &str) -> Result<S::Handle, PluginError> {
        self.system.netns(netns).map_err(|e| match e {
            NetlinkError::NoNetns { .. } => PluginError::NoNetns(e.to_string()),
            e => PluginError::Netlink(e),
        })
    }

    /// Creates the veth and configures both ends. On error the caller
    /// deletes the host end (if `created` says it exists).
    #[allow(clippy::too_many_arguments)]
    fn wire(
        &mut self,
        req: &Request,
        conf: &Cn2Conf,
        host: &mut S::Handle,
        pod: &mut S::Handle,
        host_name: &str,
        ipam: &CniResult,
        created: &mut bool,
    ) -> Result<CniResult, PluginError> {
        let ifname = req.env.ifname();
        let netns = req.env.netns.clone().unwrap_or_default();
        let mac = conf
            .mac
            .unwrap_or_else(|| derived_mac(req.env.container_id(), ifname));
        host.create_veth(&VethSpec {
            name: host_name.to_string(),
            peer_name: ifname.to_string(),
            peer_ns_fd: pod.ns_fd(),
            mtu: conf.mtu,
            peer_mac: Some(mac),
        })?;
        *created = true;
        let missing = |name: &str| {
            PluginError::Netlink(NetlinkError::Kernel {
                op: format!("find the new link {name}"),
                errno: libc::ENODEV,
            })
        };
        let hl: Link = host
            .get_link(host_name)?
            .ok_or_else(|| missing(host_name))?;
        let pl: Link = pod.get_link(ifname)?.ok_or_else(|| missing(ifname))?;
        let has_v4 = ipam.ips.iter().any(|ip| ip.address.addr.is_ipv4());
        let has_v6 = ipam.ips.iter().any(|ip| ip.address.addr.is_ipv6());

        // Pod end: no DAD, up, addresses, routes.
        if has_v6 {
            pod.set_sysctl(&format!("net/ipv6/conf/{ifname}/accept_dad"), "0")?;
        }
        pod.set_up(pl.index)?;
        for ip in &ipam.ips {
            pod.add_addr(
                pl.index,
                ip.address,
                AddrFlags {
                    nodad: ip.address.addr.is_ipv6(),
                    noprefixroute: ip.gateway.is_some(),
                },
            )?;
        }
        let routes = pod_routes(&ipam.ips, &ipam.routes, conf.default_route);
        for r in &routes {
            let spec = RouteSpec {
                dst: r.dst,
                gw: r.gw,
                oif: pl.index,
                onlink: r.gw.is_some(),
                priority: r.priority,
            };
            match pod.add_route(&spec) {
                // Another interface of the pod has this route (the same
                // network attached twice): add ours beside it, with a metric
                // of its own, so either survives the other's removal.
                Err(e) if e.is_exists() && r.priority.is_none() => pod.add_route(&RouteSpec {
                    priority: Some(SHARED_ROUTE_METRIC + pl.index),
                    ..spec
                })?,
                other => other?,
            }
        }

        // Host end: answer for the gateway, forward, route to the pod.
        // Proxy answers go out at once (the default delays them by up to
        // 0.8 s), and the host end's own IPv6 link-local address skips DAD.
        if has_v4 {
            host.set_sysctl(&format!("net/ipv4/conf/{host_name}/proxy_arp"), "1")?;
            host.set_sysctl(&format!("net/ipv4/neigh/{host_name}/proxy_delay"), "0")?;
            host.set_sysctl("net/ipv4/ip_forward", "1")?;
        }
        if has_v6 {
            host.set_sysctl(&format!("net/ipv6/conf/{host_name}/accept_dad"), "0")?;
            host.set_sysctl(&format!("net/ipv6/conf/{host_name}/proxy_ndp"), "1")?;
            host.set_sysctl(&format!("net/ipv6/neigh/{host_name}/proxy_delay"), "0")?;
            host.set_sysctl("net/ipv6/conf/all/forwarding", "1")?;
        }
        host.set_alias(
            hl.index,
            &host_alias(&req.config.name, req.env.container_id(), ifname),
        )?;
        host.set_up(hl.index)?;
        for ip in &ipam.ips {
            host.add_route(&RouteSpec {
                dst: host_prefix(ip.address.addr),
                gw: None,
                oif: hl.index,
                onlink: false,
                priority: None,
            })?;
        }
        let mut proxied = Vec::new();
        for ip in &ipam.ips {
            if let Some(gw @ IpAddr::V6(_)) = ip.gateway {
                if !proxied.contains(&gw) {
                    host.add_proxy_neigh(hl.index, gw)?;
                    proxied.push(gw);
                }
            }
        }

        let dns = if ipam.dns.is_empty() {
            req.config.dns.clone().unwrap_or_default()
        } else {
            ipam.dns.clone()
        };
        Ok(CniResult {
            interfaces: vec![
                Interface {
                    name: host_name.to_string(),
                    mac: Some(format_mac(&hl.mac)),
                    mtu: Some(hl.mtu),
                    ..Interface::default()
                },
                Interface {
                    name: ifname.to_string(),
                    mac: Some(format_mac(&mac)),
                    mtu: Some(pl.mtu),
                    sandbox: Some(netns),
                    ..Interface::default()
                },
            ],
            ips: ipam
                .ips
                .iter()
                .map(|ip| IpConfig {
                    interface: Some(1),
                    ..ip.clone()
                })
                .collect(),
            routes,
            dns: Dns { ..dns },
        })
    }

    /// Takes the attachment apart; collects errors and keeps going.
    ///
    /// The host routes to the pod go first and synchronously: once DEL
    /// answers, nothing routes to the addresses it releases. The veth is
    /// then deleted by a detached process ([`System::delete_link_detached`];
    /// the pod end goes with the host end), because the kernel's
    /// unregistration of a device waits for RCU grace periods and would be
    /// most of DEL's time. An ADD of the same attachment that comes before
    /// that deletion finishes deletes the old pair itself.
    fn unwire(&mut self, req: &Request, errors: &mut Vec<PluginError>) {
        let ifname = req.env.ifname().to_string();
        let host_name = host_veth_name(req.env.container_id(), &ifname);
        let mut host_end_deleted = false;
        match self.system.host() {
            Ok(mut host) => match host.get_link(&host_name) {
                Ok(Some(l)) => {
                    match host.get_routes(l.index) {
                        Ok(routes) => {
                            for r in routes.iter().filter(|r| is_host_route(r.dst)) {
                                if let Err(e) = ignore_gone(host.del_route(r)) {
                                    errors.push(e.into());
                                }
                            }
                        }
                        Err(e) => errors.push(e.into()),
                    }
                    // Marked, so that an ADD coming before the deletion
                    // ends knows the pair is not a live attachment.
                    if let Err(e) = ignore_gone(host.set_alias(l.index, DELETING_ALIAS)) {
                        errors.push(e.into());
                    }
                    let deleted = match self.system.delete_link_detached(l.index) {
                        Ok(()) => Ok(()),
                        Err(e) => {
                            log(format_args!("{e}; deleting {host_name} in place"));
                            ignore_gone(host.del_link(l.index))
                        }
                    };
                    match deleted {
                        Ok(()) => host_end_deleted = true,
                        Err(e) => errors.push(e.into()),
                    }
                }
                Ok(None) => {}
                Err(e) => errors.push(e.into()),
            },
            Err(e) => errors.push(e.into()),
        }
        // The pod end goes with the host end. Without a host end, look for a
        // pod end left alone; a namespace that is gone is not an error.
        if host_end_deleted {
            return;
        }
        if let Some(netns) = req.env.netns.as_deref() {
            if let Ok(mut pod) = self.system.netns(netns) {
                let r = pod.get_link(&ifname).and_then(|l| match l {
                    Some(l) if l.kind.as_deref() == Some("veth") => {
                        ignore_gone(pod.del_link(l.index))
                    }
                    _ => Ok(()),
                });
                if let Err(e) = r {
                    errors.push(e.into());
                }
            }
        }
    }

    fn check_attachment(&mut self, req: &Request) -> Result<(), PluginError> {
        let fail = |m: String| Err(PluginError::Check(m));
        let Some(prev) = req.config.prev_result.as_ref() else {
            return fail("prevResult is required".into());
        };
        let ifname = req.env.ifname();
        let Some(idx) = prev
            .interfaces
            .iter()
            .position(|i| i.name == ifname && i.sandbox.is_some())
        else {
            return fail(format!(
                "prevResult has no interface {ifname:?} in a sandbox"
            ));
        };
        let netns = req.env.netns.clone().unwrap_or_default();
        let mut pod = self.open_pod(&netns)?;
        let Some(pl) = pod.get_link(ifname)? else {
            return fail(format!("interface {ifname:?} is missing from {netns}"));
        };
        if let Some(mac) = &prev.interfaces[idx].mac {
            if !mac.eq_ignore_ascii_case(&format_mac(&pl.mac)) {
                return fail(format!(
                    "interface {ifname:?} has MAC {} instead of {mac}",
                    format_mac(&pl.mac)
                ));
            }
        }
        if !pl.up {
            return fail(format!("interface {ifname:?} is down"));
        }
        let addrs = pod.get_addrs(pl.index)?;
        let ours: Vec<&IpConfig> = prev
            .ips
            .iter()
            .filter(|ip| ip.interface == Some(idx))
            .collect();
        for ip in &ours {
            if !addrs.contains(&ip.address) {
                return fail(format!("address {} is missing from {ifname:?}", ip.address));
            }
        }
        let routes = pod.get_routes(pl.index)?;
        for r in &prev.routes {
            let found = routes
                .iter()
                .any(|k| network(k.dst) == network(r.dst) && (r.gw.is_none() || k.gw == r.gw));
            if !found {
                return fail(format!("route to {} is missing from {ifname:?}", r.dst));
            }
        }
        let host_name = host_veth_name(req.env.container_id(), ifname);
        let mut host = self.system.host()?;
        let Some(hl) = host.get_link(&host_name)? else {
            return fail(format!("host interface {host_name:?} is missing"));
        };
        let host_routes = host.get_routes(hl.index)?;
        for ip in &ours {
            let dst = host_prefix(ip.address.addr);
            if !host_routes.iter().any(|r| r.dst == dst) {
                return fail(format!("host route to {dst} via {host_name} is missing"));
            }
        }
        Ok(())
    }
}

impl<S: System, I: Ipam> Plugin for Cn2Plugin<S, I> {
    fn add(&mut self, req: &Request) -> Result<CniResult, CniError> {
        req.env.args.check_known(&KNOWN_ARGS)?;
        let conf = Cn2Conf::from_request(req)?;
        let ifname = req.env.ifname().to_string();
        let netns = req.env.netns.clone().unwrap_or_default();
        let host_name = host_veth_name(req.env.container_id(), &ifname);

        // Checks that reserve nothing.
        let mut host = self.system.host().map_err(PluginError::from)?;
        let mut pod = self.open_pod(&netns)?;
        let stale = host.get_link(&host_name).map_err(PluginError::from)?;
        // A DEL of this attachment whose detached deletion is still under
        // way: finish it here, which frees the pod's interface name.
        if let Some(l) = &stale {
            if l.alias.as_deref() == Some(DELETING_ALIAS) {
                ignore_gone(host.del_link(l.index)).map_err(PluginError::from)?;
            }
        }
        if pod.get_link(&ifname).map_err(PluginError::from)?.is_some() {
            return Err(PluginError::IfnameExists { ifname, netns }.into());
        }
        // A host end of this attachment without its pod end is left over
        // from an interrupted ADD: remove it.
        if let Some(l) = stale.filter(|l| l.alias.as_deref() != Some(DELETING_ALIAS)) {
            log(format_args!("removing leftover link {host_name}"));
            ignore_gone(host.del_link(l.index)).map_err(PluginError::from)?;
        }

        let ipam = self.ipam.call(Command::Add, req)?.unwrap_or_default();
        let mut created = false;
        let wired = if ipam.ips.is_empty() {
            Err(PluginError::NoAddress(conf.ipam_type.clone()))
        } else {
            self.wire(
                req,
                &conf,
                &mut host,
                &mut pod,
                &host_name,
                &ipam,
                &mut created,
            )
        };
        // The reservation is durable before anything is answered; a
        // failure to make it so undoes the ADD like any other.
        let wired = wired.map_err(CniError::from).and_then(|result| {
            self.ipam.settle()?;
            Ok(result)
        });
        match wired {
            Ok(result) => Ok(result),
            Err(e) => {
                log(format_args!("ADD failed, undoing: {e}"));
                if created {
                    let undo = host
                        .get_link(&host_name)
                        .and_then(|l| l.map_or(Ok(()), |l| ignore_gone(host.del_link(l.index))));
                    if let Err(u) = undo {
                        log(format_args!("undo: {u}"));
                    }
                }
                if let Err(u) = self.ipam.settle() {
                    log(format_args!("undo: {u}"));
                }
                if let Err(u) = self.ipam.call(Command::Del, req) {
                    log(format_args!("undo: {u}"));
                }
                Err(e)
            }
        }
    }

    fn del(&mut self, req: &Request) -> Result<(), CniError> {
        let mut errors = Vec::new();
        self.unwire(req, &mut errors);
        // The reservation is released whatever happened to the links.
        let ipam = self.ipam.call(Command::Del, req);
        for e in &errors {
            log(format_args!("DEL: {e}"));
        }
        ipam?;
        match errors.into_iter().next() {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    fn check(&mut self, req: &Request) -> Result<(), CniError> {
        req.env.args.check_known(&KNOWN_ARGS)?;
        Cn2Conf::from_request(req)?;
        self.ipam.call(Command::Check, req)?;
        self.check_attachment(req)?;
        Ok(())
    }

    /// GC: deletes the host ends of this network (known by their alias)
    /// whose attachment is not in `cni.dev/valid-attachments` (their pod
    /// ends go with them) and host ends left marked by a DEL whose detached
    /// deletion did not happen, then passes GC on to IPAM. Without an attachment
    /// list no link is touched.
    fn gc(&mut self, req: &Request) -> Result<(), CniError> {
        let mut first_error: Option<CniError> = None;
        if let Some(valid) = &req.config.valid_attachments {
            let r = self.system.host().and_then(|mut host| {
                for l in host.list_links()? {
                    // A DEL's detached deletion that did not happen.
                    if l.alias.as_deref() == Some(DELETING_ALIAS) {
                        ignore_gone(host.del_link(l.index))?;
                        continue;
                    }
                    let Some((cid, ifname)) = l
                        .alias
                        .as_deref()
                        .and_then(|a| parse_host_alias(a, &req.config.name))
                    else {
                        continue;
                    };
                    let keep = valid
                        .iter()
                        .any(|a| a.container_id == cid && a.ifname == ifname);
                    if !keep {
                        log(format_args!("GC: removing {} ({cid}, {ifname})", l.name));
                        ignore_gone(host.del_link(l.index))?;
                    }
                }
                Ok(())
            });
            if let Err(e) = r {
                first_error = Some(PluginError::from(e).into());
            }
        }
        self.ipam.call(Command::Gc, req)?;
        first_error.map_or(Ok(()), Err)
    }

    fn status(&mut self, req: &Request) -> Result<(), CniError> {
        self.ipam.call(Command::Status, req)?;
        Ok(())
    }
}
