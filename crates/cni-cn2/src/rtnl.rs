//! [`Netlink`] over the kernel: synchronous rtnetlink requests on a socket
//! bound to one namespace.
//!
//! A netlink socket belongs to the network namespace it was created in, for
//! its whole life. The host handle's socket is created on the calling thread
//! (the plugin runs in the host namespace). A pod handle's socket is created
//! on a short-lived thread that `setns`es into the pod namespace, creates the
//! socket and exits; the main thread then uses that socket for every request,
//! so no thread of the plugin other than that one ever changes namespace.
//! Sysctls of a pod namespace are written the same way (`/proc/sys/net`
//! shows the namespace of the thread that opens it).

use std::fs::File;
use std::io::Write;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use cn2_core::cni::IpNet;
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
    RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use crate::netlink::{AddrFlags, Link, Netlink, NetlinkError, RouteSpec, System, VethSpec};

/// The kernel's [`System`]: handles are [`RtNetlink`] sockets.
#[derive(Debug, Default)]
pub struct Kernel;

impl System for Kernel {
    type Handle = RtNetlink;

    fn host(&mut self) -> Result<RtNetlink, NetlinkError> {
        let ns = File::open("/proc/thread-self/ns/net").map_err(|source| NetlinkError::Io {
            op: "open the host network namespace".into(),
            source,
        })?;
        let sock = open_socket()?;
        Ok(RtNetlink {
            sock,
            ns: ns.into(),
            in_own_ns: true,
            seq: 0,
        })
    }

    fn netns(&mut self, path: &str) -> Result<RtNetlink, NetlinkError> {
        let no_netns = |source| NetlinkError::NoNetns {
            path: path.to_string(),
            source,
        };
        let ns: OwnedFd = File::open(path).map_err(no_netns)?.into();
        let raw = ns.as_raw_fd();
        let sock = std::thread::scope(|s| {
            s.spawn(|| -> Result<Socket, NetlinkError> {
                enter(raw).map_err(no_netns)?;
                open_socket()
            })
            .join()
            .unwrap_or_else(|_| {
                Err(NetlinkError::Io {
                    op: "open a netlink socket in the pod namespace".into(),
                    source: std::io::Error::other("the namespace thread panicked"),
                })
            })
        })?;
        Ok(RtNetlink {
            sock,
            ns,
            in_own_ns: false,
            seq: 0,
        })
    }

    fn delete_link_detached(&mut self, index: u32) -> Result<(), NetlinkError> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK;
        header.sequence_number = 1;
        let mut packet = NetlinkMessage::new(
            header,
            NetlinkPayload::from(RouteNetlinkMessage::DelLink(m)),
        );
        packet.finalize();
        let mut request = vec![0; packet.buffer_len()];
        packet.serialize(&mut request);
        crate::detach::send_detached(&request).map_err(|source| NetlinkError::Io {
            op: format!("start the deletion of link {index}"),
            source,
        })
    }
}

/// Moves the calling thread into the network namespace `fd`.
fn enter(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: setns only reads the descriptor; a bad one is EBADF/EINVAL.
    let rc = unsafe { libc::setns(fd, libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn open_socket() -> Result<Socket, NetlinkError> {
    let io = |op: &str| {
        let op = op.to_string();
        move |source| NetlinkError::Io { op, source }
    };
    let mut sock = Socket::new(NETLINK_ROUTE).map_err(io("create a netlink socket"))?;
    sock.bind_auto().map_err(io("bind the netlink socket"))?;
    sock.connect(&SocketAddr::new(0, 0))
        .map_err(io("connect the netlink socket"))?;
    // Best effort: extended acks make the kernel's refusals more precise.
    let _ = sock.set_ext_ack(true);
    Ok(sock)
}

/// A rtnetlink socket bound to one network namespace.
#[derive(Debug)]
pub struct RtNetlink {
    sock: Socket,
    ns: OwnedFd,
    in_own_ns: bool,
    seq: u32,
}

impl RtNetlink {
    /// Sends one request and collects the answers: for a dump every message
    /// up to `NLMSG_DONE`, otherwise the messages before the acknowledgement.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        op: &dyn Fn() -> String,
    ) -> Result<Vec<RouteNetlinkMessage>, NetlinkError> {
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags | if dump { 0 } else { NLM_F_ACK };
        self.seq = self.seq.wrapping_add(1);
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut buf = vec![0; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.sock
            .send(&buf, 0)
            .map_err(|source| NetlinkError::Io { op: op(), source })?;
        let mut out = Vec::new();
        loop {
            let (data, _) = self
                .sock
                .recv_from_full()
                .map_err(|source| NetlinkError::Io { op: op(), source })?;
            let mut off = 0;
            while off < data.len() {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[off..])
                    .map_err(|e| NetlinkError::Decode {
                        op: op(),
                        msg: e.to_string(),
                    })?;
                let len = reply.header.length as usize;
                if len == 0 {
                    break;
                }
                off += (len + 3) & !3;
                if reply.header.sequence_number != self.seq {
                    continue;
                }
                match reply.payload {
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(out),
                            Some(code) => Err(NetlinkError::Kernel {
                                op: op(),
                                errno: -code.get(),
                            }),
                        };
                    }
                    NetlinkPayload::InnerMessage(m) => out.push(m),
                    _ => {}
                }
            }
        }
    }
}

fn link_from(msg: &LinkMessage) -> Link {
    let mut link = Link {
        index: msg.header.index,
        name: String::new(),
        mac: Vec::new(),
        mtu: 0,
        up: msg.header.flags.contains(LinkFlags::Up),
        kind: None,
        alias: None,
    };
    for a in &msg.attributes {
        match a {
            LinkAttribute::IfName(n) => link.name = n.clone(),
            LinkAttribute::Address(m) => link.mac = m.clone(),
            LinkAttribute::Mtu(m) => link.mtu = *m,
            LinkAttribute::IfAlias(a) => link.alias = Some(a.clone()),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        link.kind = Some(k.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    link
}

fn family(addr: &IpAddr) -> AddressFamily {
    if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

fn addr_message(index: u32, addr: IpNet) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = family(&addr.addr);
    m.header.prefix_len = addr.prefix;
    m.header.index = index;
    m.attributes.push(AddressAttribute::Local(addr.addr));
    m.attributes.push(AddressAttribute::Address(addr.addr));
    m
}

fn ip_of(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// The rtnetlink message of a main-table unicast route.
fn route_message(route: &RouteSpec) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = family(&route.dst.addr);
    m.header.destination_prefix_length = route.dst.prefix;
    m.header.table = RouteHeader::RT_TABLE_MAIN;
    m.header.protocol = RouteProtocol::Boot;
    m.header.kind = RouteType::Unicast;
    m.header.scope = if route.gw.is_some() {
        RouteScope::Universe
    } else {
        RouteScope::Link
    };
    if route.onlink {
        m.header.flags = RouteFlags::Onlink;
    }
    if route.dst.prefix > 0 {
        m.attributes
            .push(RouteAttribute::Destination(route.dst.addr.into()));
    }
    if let Some(gw) = route.gw {
        m.attributes.push(RouteAttribute::Gateway(gw.into()));
    }
    m.attributes.push(RouteAttribute::Oif(route.oif));
    if let Some(p) = route.priority {
        m.attributes.push(RouteAttribute::Priority(p));
    }
    m
}

impl Netlink for RtNetlink {
    fn ns_fd(&self) -> RawFd {
        self.ns.as_raw_fd()
    }

    fn create_veth(&mut self, spec: &VethSpec) -> Result<(), NetlinkError> {
        let mut peer = LinkMessage::default();
        peer.attributes
            .push(LinkAttribute::IfName(spec.peer_name.clone()));
        peer.attributes
            .push(LinkAttribute::NetNsFd(spec.peer_ns_fd));
        if let Some(mtu) = spec.mtu {
            peer.attributes.push(LinkAttribute::Mtu(mtu));
        }
        if let Some(mac) = spec.peer_mac {
            peer.attributes.push(LinkAttribute::Address(mac.to_vec()));
        }
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(spec.name.clone()));
        if let Some(mtu) = spec.mtu {
            m.attributes.push(LinkAttribute::Mtu(mtu));
        }
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]));
        self.request(
            RouteNetlinkMessage::NewLink(m),
            NLM_F_CREATE | NLM_F_EXCL,
            &|| format!("create veth {} / {}", spec.name, spec.peer_name),
        )?;
        Ok(())
    }

    fn get_link(&mut self, name: &str) -> Result<Option<Link>, NetlinkError> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(m), 0, &|| {
            format!("get link {name}")
        }) {
            Ok(msgs) => Ok(msgs.iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(link_from(l)),
                _ => None,
            })),
            Err(e) if e.is_gone() => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn list_links(&mut self) -> Result<Vec<Link>, NetlinkError> {
        let msgs = self.request(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
            &|| "list links".to_string(),
        )?;
        Ok(msgs
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(link_from(l)),
                _ => None,
            })
            .collect())
    }

    fn del_link(&mut self, index: u32) -> Result<(), NetlinkError> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        self.request(RouteNetlinkMessage::DelLink(m), 0, &|| {
            format!("delete link {index}")
        })?;
        Ok(())
    }

    fn set_alias(&mut self, index: u32, alias: &str) -> Result<(), NetlinkError> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.attributes.push(LinkAttribute::IfAlias(alias.to_string()));
        self.request(RouteNetlinkMessage::SetLink(m), 0, &|| {
            format!("set the alias of link {index}")
        })?;
        Ok(())
    }

    fn set_up(&mut self, index: u32) -> Result<(), NetlinkError> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        self.request(RouteNetlinkMessage::SetLink(m), 0, &|| {
            format!("set link {index} up")
        })?;
        Ok(())
    }

    fn add_addr(&mut self, index: u32, addr: IpNet, flags: AddrFlags) -> Result<(), NetlinkError> {
        let mut m = addr_message(index, addr);
        let mut f = AddressFlags::empty();
        if flags.nodad {
            f |= AddressFlags::Nodad;
        }
        if flags.noprefixroute {
            f |= AddressFlags::Noprefixroute;
        }
        m.attributes.push(AddressAttribute::Flags(f));
        self.request(
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_CREATE | NLM_F_EXCL,
            &|| format!("add address {addr} to link {index}"),
        )?;
        Ok(())
    }

    fn del_addr(&mut self, index: u32, addr: IpNet) -> Result<(), NetlinkError> {
        self.request(
            RouteNetlinkMessage::DelAddress(addr_message(index, addr)),
            0,
            &|| format!("delete address {addr} from link {index}"),
        )?;
        Ok(())
    }

    fn get_addrs(&mut self, index: u32) -> Result<Vec<IpNet>, NetlinkError> {
        let msgs = self.request(
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            NLM_F_DUMP,
            &|| format!("list addresses of link {index}"),
        )?;
        let mut out = Vec::new();
        for m in msgs {
            let RouteNetlinkMessage::NewAddress(a) = m else {
                continue;
            };
            if a.header.index != index {
                continue;
            }
            let mut local = None;
            let mut address = None;
            for attr in &a.attributes {
                match attr {
                    AddressAttribute::Local(ip) => local = Some(*ip),
                    AddressAttribute::Address(ip) => address = Some(*ip),
                    _ => {}
                }
            }
            if let Some(ip) = local.or(address) {
                out.extend(IpNet::new(ip, a.header.prefix_len));
            }
        }
        Ok(out)
    }

    fn add_route(&mut self, route: &RouteSpec) -> Result<(), NetlinkError> {
        self.request(
            RouteNetlinkMessage::NewRoute(route_message(route)),
            NLM_F_CREATE | NLM_F_EXCL,
            &|| {
                format!(
                    "add route {} via {:?} dev {}",
                    route.dst, route.gw, route.oif
                )
            },
        )?;
        Ok(())
    }

    fn del_route(&mut self, route: &RouteSpec) -> Result<(), NetlinkError> {
        self.request(
            RouteNetlinkMessage::DelRoute(route_message(route)),
            0,
            &|| {
                format!(
                    "delete route {} via {:?} dev {}",
                    route.dst, route.gw, route.oif
                )
            },
        )?;
        Ok(())
    }

    fn get_routes(&mut self, oif: u32) -> Result<Vec<RouteSpec>, NetlinkError> {
        let msgs = self.request(
            RouteNetlinkMessage::GetRoute(RouteMessage::default()),
            NLM_F_DUMP,
            &|| format!("list routes of link {oif}"),
        )?;
        let mut out = Vec::new();
        for m in msgs {
            let RouteNetlinkMessage::NewRoute(r) = m else {
                continue;
            };
            if r.header.kind != RouteType::Unicast {
                continue;
            }
            let mut table = u32::from(r.header.table);
            let mut dst = None;
            let mut gw = None;
            let mut route_oif = None;
            let mut priority = None;
            for a in &r.attributes {
                match a {
                    RouteAttribute::Table(t) => table = *t,
                    RouteAttribute::Destination(d) => dst = ip_of(d),
                    RouteAttribute::Gateway(g) => gw = ip_of(g),
                    RouteAttribute::Oif(o) => route_oif = Some(*o),
                    RouteAttribute::Priority(p) => priority = Some(*p),
                    _ => {}
                }
            }
            if table != u32::from(RouteHeader::RT_TABLE_MAIN) || route_oif != Some(oif) {
                continue;
            }
            let unspecified = match r.header.address_family {
                AddressFamily::Inet => IpAddr::from([0u8; 4]),
                AddressFamily::Inet6 => IpAddr::from([0u16; 8]),
                _ => continue,
            };
            let Some(dst) = IpNet::new(
                dst.unwrap_or(unspecified),
                r.header.destination_prefix_length,
            ) else {
                continue;
            };
            out.push(RouteSpec {
                dst,
                gw,
                oif,
                onlink: r.header.flags.contains(RouteFlags::Onlink),
                priority,
            });
        }
        Ok(out)
    }

    fn add_proxy_neigh(&mut self, index: u32, addr: IpAddr) -> Result<(), NetlinkError> {
        let mut m = NeighbourMessage::default();
        m.header.family = family(&addr);
        m.header.ifindex = index;
        m.header.state = NeighbourState::Permanent;
        m.header.flags = NeighbourFlags::Proxy;
        m.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::from(
                addr,
            )));
        self.request(
            RouteNetlinkMessage::NewNeighbour(m),
            NLM_F_CREATE | NLM_F_EXCL,
            &|| format!("add proxy neighbour {addr} on link {index}"),
        )?;
        Ok(())
    }

    fn set_sysctl(&mut self, key: &str, value: &str) -> Result<(), NetlinkError> {
        let path = format!("/proc/sys/{key}");
        let write = || -> Result<(), NetlinkError> {
            File::create(&path)
                .and_then(|mut f| f.write_all(value.as_bytes()))
                .map_err(|source| NetlinkError::Io {
                    op: format!("write {value} to {path}"),
                    source,
                })
        };
        if self.in_own_ns {
            return write();
        }
        let fd = self.ns.as_raw_fd();
        std::thread::scope(|s| {
            s.spawn(|| {
                enter(fd).map_err(|source| NetlinkError::Io {
                    op: "enter the pod namespace".into(),
                    source,
                })?;
                write()
            })
            .join()
            .unwrap_or_else(|_| {
                Err(NetlinkError::Io {
                    op: format!("write {path}"),
                    source: std::io::Error::other("the namespace thread panicked"),
                })
            })
        })
    }
}
