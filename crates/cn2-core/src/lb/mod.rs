//! The load-balancer object model: how a service becomes CN2's
//! loadbalancer, listeners, pools and members, InstanceIPs and FloatingIPs.
//!
//! For every ClusterIP, NodePort or LoadBalancer service with a ClusterIP:
//!
//! * one **loadbalancer** `<namespace>-<service>`, provider `native`, whose
//!   VIPs are the ClusterIPs;
//! * one **listener** per service port (`(protocol, port)`), named
//!   `<lb>-<protocol>-<port>`, each with exactly one **pool**;
//! * one **member** per ready backend interface: the endpoint address, the
//!   endpoint port matched to the service port by name (or the only port),
//!   and the pod interface owning that address, found **by IP** (primary or
//!   Multus secondary interface; `null` for addresses of no known pod);
//! * an **InstanceIP** per ClusterIP in the service network, and for a
//!   LoadBalancer one per external address in its external network;
//! * a **FloatingIP** per InstanceIP, same address, ingress only, with a port
//!   map per listener (`srcPort` = service port, `dstPort` = target port,
//!   protocol number 6 / 17 / 132), attached to every member interface.

pub mod diff;
pub mod endpoints;

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::Serialize;

pub use diff::{Change, ChangeKind, Diff, diff_service};
pub use endpoints::{
    Backend, BackendIndex, InterfaceIndex, PodInterface, backends_by_service, interfaces_by_ip,
};

use crate::ipam::Family;
use crate::model::{IntOrString, Service};

/// A loadbalancer object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancer {
    /// `<namespace>-<service>`.
    pub name: String,
    /// Always `native` for services.
    pub provider: &'static str,
    /// The service's UID (empty when the manifest carries none).
    pub uid: String,
    /// The ClusterIPs.
    pub vips: Vec<IpAddr>,
    /// One per service port.
    pub listeners: Vec<Listener>,
}

/// A listener: one service port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Listener {
    /// `<lb>-<protocol lower-case>-<port>`.
    pub name: String,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: &'static str,
    /// The service port.
    pub port: u16,
    /// The service port's name (empty when unnamed).
    pub port_name: String,
    /// The listener's pool.
    pub pool: LbPool,
}

/// A pool: the members of one listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LbPool {
    /// Members in endpoint order (the order the composite's slots fill).
    pub members: Vec<Member>,
}

impl LbPool {
    /// The members as member selection takes them (address, port, weight 1),
    /// in slot order.
    pub fn backends(&self) -> Vec<crate::ecmp::Backend> {
        self.members
            .iter()
            .map(|m| crate::ecmp::Backend {
                address: m.address,
                port: m.port,
                weight: 1,
            })
            .collect()
    }
}

/// One backend interface.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Member {
    /// Backend address.
    pub address: IpAddr,
    /// Backend port (the resolved target port).
    pub port: u16,
    /// The node hosting it, when known.
    pub node: Option<String>,
    /// `namespace/name` of the pod, when the address is a pod's.
    pub pod: Option<String>,
    /// The pod interface name (`eth0`, `net1`, ...), when known.
    pub interface: Option<String>,
    /// The secondary network of that interface (`namespace/nad`); absent
    /// for primary interfaces and unknown addresses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

impl Member {
    /// `namespace/pod/interface`, when the member is a known pod interface.
    pub fn interface_id(&self) -> Option<String> {
        Some(format!(
            "{}/{}",
            self.pod.as_ref()?,
            self.interface.as_ref()?
        ))
    }
}

/// An InstanceIP: an address of the service in a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceIp {
    /// `<lb>-<v4|v6>` (ClusterIP) or `<lb>-external-<v4|v6>`.
    pub name: String,
    /// The address.
    pub address: IpAddr,
    /// `v4` or `v6`.
    pub family: Family,
    /// The network (`namespace/name`).
    pub network: String,
}

/// A FloatingIP with port translation, attached to the member interfaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FloatingIp {
    /// The address (its InstanceIP's).
    pub address: IpAddr,
    /// The network (`namespace/name`).
    pub network: String,
    /// The InstanceIP it stands on.
    pub parent: String,
    /// Always `ingress`: pod-originated traffic is never translated to it.
    pub direction: &'static str,
    /// Always true.
    pub port_mappings_enable: bool,
    /// One per listener.
    pub port_mappings: Vec<PortMapping>,
    /// Every member interface (`namespace/pod/interface`), sorted.
    pub interfaces: Vec<String>,
}

/// A FloatingIP port translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// IP protocol number: TCP 6, UDP 17, SCTP 132.
    pub protocol: u8,
    /// The service port.
    pub src_port: u16,
    /// The target port.
    pub dst_port: u16,
}

/// Everything one service owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceObjects {
    /// The loadbalancer with listeners, pools and members.
    pub load_balancer: LoadBalancer,
    /// InstanceIPs: ClusterIPs first, then external addresses.
    pub instance_ips: Vec<InstanceIp>,
    /// FloatingIPs, one per InstanceIP, in the same order.
    pub floating_ips: Vec<FloatingIp>,
}

/// The addresses a service has been given.
#[derive(Debug, Clone, Copy)]
pub struct ServiceAddresses<'a> {
    /// ClusterIPs.
    pub cluster_ips: &'a [IpAddr],
    /// The service network's id.
    pub service_network: &'a str,
    /// External addresses and the network (or pool) they come from.
    pub external: Option<(&'a str, &'a [IpAddr])>,
}

/// Builds the objects of one service. Fails (with a reason for the plan's
/// `pending`) when a multi-port service has an unnamed port.
pub fn build(
    svc: &Service,
    addrs: ServiceAddresses<'_>,
    backends: &[&Backend],
    interfaces: &InterfaceIndex,
) -> Result<ServiceObjects, String> {
    let ports = &svc.spec.ports;
    if ports.len() > 1 {
        if let Some(i) = ports.iter().position(|p| p.name.is_empty()) {
            return Err(format!(
                "spec.ports[{i}] has no name: every port of a multi-port service needs one"
            ));
        }
    }
    let lb_name = format!("{}-{}", svc.metadata.namespace, svc.metadata.name);
    let single = ports.len() == 1;
    let mut listeners = Vec::with_capacity(ports.len());
    let mut mappings = Vec::with_capacity(ports.len());
    let mut attached = BTreeSet::new();
    for sp in ports {
        // Members in endpoint order (the order slots fill), each once.
        let mut members: Vec<Member> = Vec::new();
        for &b in backends {
            let matched = b
                .ports
                .iter()
                .find(|(name, _, proto)| *proto == sp.protocol && *name == sp.name)
                .or_else(|| (single && b.ports.len() == 1).then(|| &b.ports[0]));
            let port = match (matched, &sp.target_port) {
                (Some((_, port, _)), _) => *port,
                // No endpoint ports at all: a numeric target port still says where.
                (None, Some(IntOrString::Int(p))) if b.ports.is_empty() => *p,
                (None, None) if b.ports.is_empty() => sp.port,
                _ => continue,
            };
            let iface = interfaces.get(&b.address);
            let node = b
                .node
                .clone()
                .or_else(|| iface.map(|i| i.node.to_string()).filter(|n| !n.is_empty()));
            let pod = iface.map(|i| i.pod.clone()).or_else(|| {
                b.target.as_ref().filter(|t| t.kind == "Pod").map(|t| {
                    format!(
                        "{}/{}",
                        if t.namespace.is_empty() {
                            &svc.metadata.namespace
                        } else {
                            &t.namespace
                        },
                        t.name
                    )
                })
            });
            if members
                .iter()
                .any(|m| m.address == b.address && m.port == port)
            {
                continue;
            }
            members.push(Member {
                address: b.address,
                port,
                node,
                pod,
                interface: iface.map(|i| i.interface.to_string()),
                network: iface.and_then(|i| i.network.clone()),
            });
        }
        attached.extend(members.iter().filter_map(Member::interface_id));
        let dst = match &sp.target_port {
            Some(IntOrString::Int(p)) => Some(*p),
            None => Some(sp.port),
            Some(IntOrString::String(_)) => members.first().map(|m| m.port),
        };
        if let Some(dst_port) = dst {
            mappings.push(PortMapping {
                protocol: sp.protocol.number(),
                src_port: sp.port,
                dst_port,
            });
        }
        listeners.push(Listener {
            name: format!(
                "{lb_name}-{}-{}",
                sp.protocol.as_str().to_lowercase(),
                sp.port
            ),
            protocol: sp.protocol.as_str(),
            port: sp.port,
            port_name: sp.name.clone(),
            pool: LbPool { members },
        });
    }
    let interfaces: Vec<String> = attached.into_iter().collect();
    let mut instance_ips = Vec::new();
    for ip in addrs.cluster_ips {
        instance_ips.push(InstanceIp {
            name: format!("{lb_name}-{}", Family::of(ip)),
            address: *ip,
            family: Family::of(ip),
            network: addrs.service_network.to_string(),
        });
    }
    if let Some((network, ips)) = addrs.external {
        for ip in ips {
            instance_ips.push(InstanceIp {
                name: format!("{lb_name}-external-{}", Family::of(ip)),
                address: *ip,
                family: Family::of(ip),
                network: network.to_string(),
            });
        }
    }
    let floating_ips = instance_ips
        .iter()
        .map(|iip| FloatingIp {
            address: iip.address,
            network: iip.network.clone(),
            parent: iip.name.clone(),
            direction: "ingress",
            port_mappings_enable: true,
            port_mappings: mappings.clone(),
            interfaces: interfaces.clone(),
        })
        .collect();
    Ok(ServiceObjects {
        load_balancer: LoadBalancer {
            name: lb_name,
            provider: "native",
            uid: svc.metadata.uid.clone(),
            vips: addrs.cluster_ips.to_vec(),
            listeners,
        },
        instance_ips,
        floating_ips,
    })
}
