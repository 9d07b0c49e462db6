//! An in-memory [`System`] and [`Ipam`] for the unit tests.
//!
//! The fake keeps several namespaces with links, addresses, routes, proxy
//! neighbours and sysctls, and enforces the kernel rules the wiring depends
//! on: names are unique per namespace, a veth's ends die together, a
//! gateway must be covered by a connected route unless the route is
//! `onlink`, a per-interface sysctl needs the interface, and duplicates are
//! `EEXIST`. A named operation can be made to fail to test rollback.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::os::fd::RawFd;
use std::rc::Rc;

use cn2_core::cni::{CniError, CniResult, Command, IpConfig, IpNet, Request, Route};

use crate::ipam::{Ipam, IpamError};
use crate::netlink::{AddrFlags, Link, Netlink, NetlinkError, RouteSpec, System, VethSpec};
use crate::plugin::network;

/// A link in a fake namespace.
#[derive(Debug, Clone)]
pub struct FakeLink {
    /// The link as reported.
    pub link: Link,
    /// The namespace and index of a veth peer.
    pub peer: Option<(RawFd, u32)>,
}

/// One fake namespace.
#[derive(Debug, Default, Clone)]
pub struct FakeNs {
    /// Links.
    pub links: Vec<FakeLink>,
    /// Addresses per link index.
    pub addrs: Vec<(u32, IpNet, AddrFlags)>,
    /// Routes.
    pub routes: Vec<RouteSpec>,
    /// Proxy neighbours (link index, address).
    pub proxies: Vec<(u32, IpAddr)>,
    /// Sysctls written.
    pub sysctls: BTreeMap<String, String>,
}

/// The whole fake world.
#[derive(Debug, Default)]
pub struct World {
    /// Namespaces by fake descriptor; 0 is the host.
    pub ns: BTreeMap<RawFd, FakeNs>,
    /// Namespace paths.
    pub paths: BTreeMap<String, RawFd>,
    /// The next interface index.
    pub next_index: u32,
    /// Host links whose deletion was started detached and has not finished
    /// (see [`FakeSystem::settle`]).
    pub detached: Vec<u32>,
    /// Operations that fail with `EPERM` (matched against the op name
    /// `create_veth`, `add_route:pod`, `add_addr:host`, …).
    pub fail: BTreeSet<String>,
}

/// A handle on the fake world.
#[derive(Debug, Clone, Default)]
pub struct FakeSystem(pub Rc<RefCell<World>>);

impl FakeSystem {
    /// A world with a host namespace only.
    pub fn new() -> FakeSystem {
        let s = FakeSystem::default();
        {
            let mut w = s.0.borrow_mut();
            w.ns.insert(0, FakeNs::default());
            w.next_index = 2;
        }
        s
    }

    /// Adds an empty namespace at `path`.
    pub fn add_netns(&self, path: &str) -> RawFd {
        let mut w = self.0.borrow_mut();
        let fd = w.ns.len() as RawFd + 100;
        w.ns.insert(fd, FakeNs::default());
        w.paths.insert(path.to_string(), fd);
        fd
    }

    /// Removes the namespace at `path` with everything in it (the host ends
    /// of its veths go too, as in the kernel).
    pub fn remove_netns(&self, path: &str) {
        let mut w = self.0.borrow_mut();
        if let Some(fd) = w.paths.remove(path) {
            let idx: Vec<u32> = w.ns[&fd].links.iter().map(|l| l.link.index).collect();
            for i in idx {
                w.delete(fd, i);
            }
            w.ns.remove(&fd);
        }
    }

    /// A copy of the namespace `fd` (0 for the host).
    pub fn ns(&self, fd: RawFd) -> FakeNs {
        self.0.borrow().ns[&fd].clone()
    }

    /// Finishes the detached link deletions.
    pub fn settle(&self) {
        let mut w = self.0.borrow_mut();
        for index in std::mem::take(&mut w.detached) {
            w.delete(0, index);
        }
    }

    /// Makes the operation named `op` fail.
    pub fn fail(&self, op: &str) {
        self.0.borrow_mut().fail.insert(op.to_string());
    }
}

impl World {
    fn delete(&mut self, fd: RawFd, index: u32) {
        let Some(ns) = self.ns.get_mut(&fd) else {
            return;
        };
        let Some(pos) = ns.links.iter().position(|l| l.link.index == index) else {
            return;
        };
        let link = ns.links.remove(pos);
        ns.addrs.retain(|a| a.0 != index);
        ns.routes.retain(|r| r.oif != index);
        ns.proxies.retain(|p| p.0 != index);
        if let Some((pfd, pidx)) = link.peer {
            self.delete(pfd, pidx);
        }
    }
}

/// A handle bound to one fake namespace.
#[derive(Debug)]
pub struct FakeHandle {
    world: Rc<RefCell<World>>,
    fd: RawFd,
    role: &'static str,
}

fn kernel(op: &str, errno: i32) -> NetlinkError {
    NetlinkError::Kernel {
        op: op.to_string(),
        errno,
    }
}

impl FakeHandle {
    fn with<T>(
        &mut self,
        op: &str,
        f: impl FnOnce(&mut World, RawFd) -> Result<T, NetlinkError>,
    ) -> Result<T, NetlinkError> {
        let mut w = self.world.borrow_mut();
        let full = format!("{op}:{}", self.role);
        if w.fail.contains(op) || w.fail.contains(&full) {
            return Err(kernel(op, libc::EPERM));
        }
        if !w.ns.contains_key(&self.fd) {
            return Err(kernel(op, libc::ENOENT));
        }
        f(&mut w, self.fd)
    }
}

fn has_link(ns: &FakeNs, index: u32) -> bool {
    ns.links.iter().any(|l| l.link.index == index)
}

impl Netlink for FakeHandle {
    fn ns_fd(&self) -> RawFd {
        self.fd
    }

    fn create_veth(&mut self, spec: &VethSpec) -> Result<(), NetlinkError> {
        self.with("create_veth", |w, fd| {
            let taken =
                |w: &World, f: RawFd, n: &str| w.ns[&f].links.iter().any(|l| l.link.name == n);
            if !w.ns.contains_key(&spec.peer_ns_fd) {
                return Err(kernel("create_veth", libc::EBADF));
            }
            if taken(w, fd, &spec.name) || taken(w, spec.peer_ns_fd, &spec.peer_name) {
                return Err(kernel("create_veth", libc::EEXIST));
            }
            let (a, b) = (w.next_index, w.next_index + 1);
            w.next_index += 2;
            let mk = |index, name: &str, mac: [u8; 6]| Link {
                index,
                name: name.to_string(),
                mac: mac.to_vec(),
                mtu: spec.mtu.unwrap_or(1500),
                up: false,
                kind: Some("veth".into()),
                alias: None,
            };
            let host_mac = [0x0e, 0, 0, 0, (a >> 8) as u8, a as u8];
            let peer_mac = spec.peer_mac.unwrap_or([0x0e, 1, 0, 0, 0, b as u8]);
            w.ns.get_mut(&fd).unwrap().links.push(FakeLink {
                link: mk(a, &spec.name, host_mac),
                peer: Some((spec.peer_ns_fd, b)),
            });
            w.ns.get_mut(&spec.peer_ns_fd)
                .unwrap()
                .links
                .push(FakeLink {
                    link: mk(b, &spec.peer_name, peer_mac),
                    peer: Some((fd, a)),
                });
            Ok(())
        })
    }

    fn get_link(&mut self, name: &str) -> Result<Option<Link>, NetlinkError> {
        self.with("get_link", |w, fd| {
            Ok(w.ns[&fd]
                .links
                .iter()
                .find(|l| l.link.name == name)
                .map(|l| l.link.clone()))
        })
    }

    fn list_links(&mut self) -> Result<Vec<Link>, NetlinkError> {
        self.with("list_links", |w, fd| {
            Ok(w.ns[&fd].links.iter().map(|l| l.link.clone()).collect())
        })
    }

    fn del_link(&mut self, index: u32) -> Result<(), NetlinkError> {
        self.with("del_link", |w, fd| {
            if !has_link(&w.ns[&fd], index) {
                return Err(kernel("del_link", libc::ENODEV));
            }
            w.delete(fd, index);
            Ok(())
        })
    }

    fn set_alias(&mut self, index: u32, alias: &str) -> Result<(), NetlinkError> {
        self.with("set_alias", |w, fd| {
            let ns = w.ns.get_mut(&fd).unwrap();
            let l = ns
                .links
                .iter_mut()
                .find(|l| l.link.index == index)
                .ok_or_else(|| kernel("set_alias", libc::ENODEV))?;
            l.link.alias = Some(alias.to_string());
            Ok(())
        })
    }

    fn set_up(&mut self, index: u32) -> Result<(), NetlinkError> {
        self.with("set_up", |w, fd| {
            let ns = w.ns.get_mut(&fd).unwrap();
            let l = ns
                .links
                .iter_mut()
                .find(|l| l.link.index == index)
                .ok_or_else(|| kernel("set_up", libc::ENODEV))?;
            l.link.up = true;
            Ok(())
        })
    }

    fn add_addr(&mut self, index: u32, addr: IpNet, flags: AddrFlags) -> Result<(), NetlinkError> {
        self.with("add_addr", |w, fd| {
            let ns = w.ns.get_mut(&fd).unwrap();
            if !has_link(ns, index) {
                return Err(kernel("add_addr", libc::ENODEV));
            }
            if ns.addrs.iter().any(|a| a.0 == index && a.1 == addr) {
                return Err(kernel("add_addr", libc::EEXIST));
            }
            ns.addrs.push((index, addr, flags));
            Ok(())
        })
    }

    fn del_addr(&mut self, index: u32, addr: IpNet) -> Result<(), NetlinkError> {
        self.with("del_addr", |w, fd| {
            let ns = w.ns.get_mut(&fd).unwrap();
            let before = ns.addrs.len();
            ns.addrs.retain(|a| !(a.0 == index && a.1 == addr));
            if ns.addrs.len() == before {
                return Err(kernel("del_addr", libc::EADDRNOTAVAIL));
            }
            Ok(())
        })
    }

    fn get_addrs(&mut self, index: u32) -> Result<Vec<IpNet>, NetlinkError> {
        self.with("get_addrs", |w, fd| {
            Ok(w.ns[&fd]
                .addrs
                .iter()
                .filter(|a| a.0 == index)
                .map(|a| a.1)
                .collect())
        })
    }

    fn add_route(&mut self, route: &RouteSpec) -> Result<(), NetlinkError> {
        self.with("add_route", |w, fd| {
            let ns = w.ns.get_mut(&fd).unwrap();
            let link = ns
                .links
                .iter()
                .find(|l| l.link.index == route.oif)
                .ok_or_else(|| kernel("add_route", libc::ENODEV))?;
            if !link.link.up {
                return Err(kernel("add_route", libc::ENETDOWN));
            }
            if let Some(gw) = route.gw {
                let connected = ns.addrs.iter().any(|(i, a, f)| {
                    *i == route.oif
                        && !f.noprefixroute
                        && network(*a)
                            == network(IpNet {
                                addr: gw,
                                prefix: a.prefix,
                            })
                });
                if !route.onlink && !connected {
                    return Err(kernel("add_route", libc::ENETUNREACH));
                }
            }
            if ns
                .routes
                .iter()
                .any(|r| network(r.dst) == network(route.dst) && r.priority == route.priority)
            {
                return Err(kernel("add_route", libc::EEXIST));
            }
            ns.routes.push(route.clone());
            Ok(())
        })
    }

    fn del_route(&mut self, route: &RouteSpec) -> Result<(), NetlinkError> {
        self.with("del_route", |w, fd| {
            let ns = w.ns.get_mut(&fd).unwrap();
            let pos = ns
                .routes
                .iter()
                .position(|r| {
                    r.dst == route.dst
                        && r.oif == route.oif
                        && r.gw == route.gw
                        && r.priority == route.priority
                })
                .ok_or_else(|| kernel("del_route", libc::ESRCH))?;
            ns.routes.remove(pos);
            Ok(())
        })
    }

    fn get_routes(&mut self, oif: u32) -> Result<Vec<RouteSpec>, NetlinkError> {
        self.with("get_routes", |w, fd| {
            Ok(w.ns[&fd]
                .routes
                .iter()
                .filter(|r| r.oif == oif)
                .cloned()
                .collect())
        })
    }

    fn add_proxy_neigh(&mut self, index: u32, addr: IpAddr) -> Result<(), NetlinkError> {
        self.with("add_proxy_neigh", |w, fd| {
            let ns = w.ns.get_mut(&fd).unwrap();
            if !has_link(ns, index) {
                return Err(kernel("add_proxy_neigh", libc::ENODEV));
            }
            ns.proxies.push((index, addr));
            Ok(())
        })
    }

    fn set_sysctl(&mut self, key: &str, value: &str) -> Result<(), NetlinkError> {
        self.with("set_sysctl", |w, fd| {
            let ns = w.ns.get_mut(&fd).unwrap();
            let parts: Vec<&str> = key.split('/').collect();
            if let ["net", _, "conf" | "neigh", dev, _] = parts.as_slice() {
                if *dev != "all"
                    && *dev != "default"
                    && !ns.links.iter().any(|l| l.link.name == *dev)
                {
                    return Err(NetlinkError::Io {
                        op: format!("write {key}"),
                        source: std::io::Error::from_raw_os_error(libc::ENOENT),
                    });
                }
            }
            ns.sysctls.insert(key.to_string(), value.to_string());
            Ok(())
        })
    }
}

impl System for FakeSystem {
    type Handle = FakeHandle;

    fn host(&mut self) -> Result<FakeHandle, NetlinkError> {
        Ok(FakeHandle {
            world: self.0.clone(),
            fd: 0,
            role: "host",
        })
    }

    fn netns(&mut self, path: &str) -> Result<FakeHandle, NetlinkError> {
        let fd = self
            .0
            .borrow()
            .paths
            .get(path)
            .copied()
            .ok_or_else(|| NetlinkError::NoNetns {
                path: path.to_string(),
                source: std::io::Error::from_raw_os_error(libc::ENOENT),
            })?;
        Ok(FakeHandle {
            world: self.0.clone(),
            fd,
            role: "pod",
        })
    }

    fn delete_link_detached(&mut self, index: u32) -> Result<(), NetlinkError> {
        let mut w = self.0.borrow_mut();
        if w.fail.contains("delete_link_detached") {
            return Err(kernel("delete_link_detached", libc::EAGAIN));
        }
        w.detached.push(index);
        Ok(())
    }
}

/// A fake IPAM: hands out `10.1.0.<n>/24` (gateway `.1`) and `fd00:1::<n>/64`
/// (gateway `::1`) per attachment, and records every call.
#[derive(Debug, Default, Clone)]
pub struct FakeIpam {
    /// Reservations by (container ID, interface).
    pub held: Rc<RefCell<BTreeMap<(String, String), u8>>>,
    /// Every verb called, in order.
    pub calls: Rc<RefCell<Vec<Command>>>,
    /// Fail ADD with this error.
    pub fail_add: Option<CniError>,
    /// Fail [`Ipam::settle`] with this error (the reservation could not be
    /// made durable).
    pub fail_settle: Option<CniError>,
    /// How many times [`Ipam::settle`] was called.
    pub settles: Rc<RefCell<usize>>,
    /// Extra routes in the ADD result.
    pub routes: Vec<Route>,
    /// Hand out IPv4 only.
    pub v4_only: bool,
}

impl Ipam for FakeIpam {
    fn call(&mut self, verb: Command, req: &Request) -> Result<Option<CniResult>, IpamError> {
        self.calls.borrow_mut().push(verb);
        let key = (
            req.env.container_id().to_string(),
            req.env.ifname().to_string(),
        );
        match verb {
            Command::Add => {
                if let Some(e) = &self.fail_add {
                    return Err(IpamError::Failed {
                        verb,
                        error: e.clone(),
                    });
                }
                let mut held = self.held.borrow_mut();
                let n = held.len() as u8 + 2;
                held.insert(key, n);
                let mut ips = vec![IpConfig {
                    interface: None,
                    address: format!("10.1.0.{n}/24").parse().unwrap(),
                    gateway: Some("10.1.0.1".parse().unwrap()),
                }];
                if !self.v4_only {
                    ips.push(IpConfig {
                        interface: None,
                        address: format!("fd00:1::{n}/64").parse().unwrap(),
                        gateway: Some("fd00:1::1".parse().unwrap()),
                    });
                }
                Ok(Some(CniResult {
                    ips,
                    routes: self.routes.clone(),
                    ..CniResult::default()
                }))
            }
            Command::Del => {
                self.held.borrow_mut().remove(&key);
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    fn settle(&mut self) -> Result<(), IpamError> {
        *self.settles.borrow_mut() += 1;
        match &self.fail_settle {
            Some(e) => Err(IpamError::Failed {
                verb: Command::Add,
                error: e.clone(),
            }),
            None => Ok(()),
        }
    }
}
