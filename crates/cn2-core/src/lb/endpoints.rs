//! Endpoint resolution: which backend addresses and ports serve a service,
//! and which pod interface each address belongs to.
//!
//! Backends come from `Endpoints` (ready `addresses` only) and
//! `EndpointSlice`s labelled `kubernetes.io/service-name` (endpoints whose
//! `conditions.ready` is not false). Addresses are mapped to pod interfaces
//! **by IP**: a pod's primary addresses (`status.podIPs`) are its `eth0` (or
//! the interface its network-status marks as default), and every entry of the
//! Multus `k8s.v1.cni.cncf.io/network-status` annotation is an interface with
//! its own addresses, so a service can be balanced over secondary interfaces.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::model::{Inventory, ObjectRef, Protocol};

/// A pod interface an address belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodInterface {
    /// `namespace/name` of the pod.
    pub pod: String,
    /// Interface name inside the pod (`eth0`, `net1`, ...).
    pub interface: String,
    /// The pod's node.
    pub node: String,
    /// The secondary network (`namespace/nad` from network-status), or
    /// `None` for the pod's primary (pod-network) interface.
    pub network: Option<String>,
}

impl PodInterface {
    /// The interface's id: `namespace/pod/interface`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.pod, self.interface)
    }
}

/// Every pod interface address of the inventory, indexed by IP.
pub fn interfaces_by_ip(inv: &Inventory) -> HashMap<IpAddr, PodInterface> {
    let mut out = HashMap::new();
    for (_, pod) in &inv.pods {
        let m = &pod.metadata;
        let status = pod.network_status().unwrap_or_default();
        let primary = status
            .iter()
            .find(|s| s.default && !s.interface.is_empty())
            .map_or("eth0", |s| s.interface.as_str());
        let iface = |name: &str, network: Option<&str>| PodInterface {
            pod: format!("{}/{}", m.namespace, m.name),
            interface: name.to_string(),
            node: pod.spec.node_name.clone(),
            network: network.map(str::to_string),
        };
        for ip in pod.primary_ips() {
            out.insert(ip, iface(primary, None));
        }
        for s in status
            .iter()
            .filter(|s| !s.interface.is_empty() && !s.default)
        {
            let network = if s.name.contains('/') {
                s.name.clone()
            } else {
                format!("{}/{}", m.namespace, s.name)
            };
            for ip in &s.ips {
                out.entry(*ip)
                    .or_insert_with(|| iface(&s.interface, Some(&network)));
            }
        }
    }
    out
}

/// One ready backend address with the ports it serves.
#[derive(Debug, Clone, PartialEq)]
pub struct Backend {
    /// The address.
    pub address: IpAddr,
    /// The node from the endpoint, if it says.
    pub node: Option<String>,
    /// The pod it targets, if it says.
    pub target: Option<ObjectRef>,
    /// `(name, port, protocol)` of each endpoint port.
    pub ports: Vec<(String, u16, Protocol)>,
}

/// Ready backends per service `(namespace, name)`, in manifest order.
pub fn backends_by_service(inv: &Inventory) -> HashMap<(String, String), Vec<Backend>> {
    let mut out: HashMap<(String, String), Vec<Backend>> = HashMap::new();
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    for (_, ep) in &inv.endpoints {
        let list = out
            .entry((ep.metadata.namespace.clone(), ep.metadata.name.clone()))
            .or_default();
        for subset in &ep.subsets {
            let ports: Vec<_> = subset
                .ports
                .iter()
                .map(|p| (p.name.clone(), p.port, p.protocol))
                .collect();
            for a in &subset.addresses {
                list.push(Backend {
                    address: a.ip,
                    node: some(&a.node_name),
                    target: a.target_ref.clone(),
                    ports: ports.clone(),
                });
            }
        }
    }
    for (_, sl) in &inv.endpoint_slices {
        let Some(svc) = sl.metadata.labels.get("kubernetes.io/service-name") else {
            continue;
        };
        let list = out
            .entry((sl.metadata.namespace.clone(), svc.clone()))
            .or_default();
        let ports: Vec<_> = sl
            .ports
            .iter()
            .filter_map(|p| p.port.map(|port| (p.name.clone(), port, p.protocol)))
            .collect();
        for e in sl
            .endpoints
            .iter()
            .filter(|e| e.conditions.ready != Some(false))
        {
            // Kubernetes uses the first address of an endpoint.
            if let Some(address) = e.addresses.first() {
                list.push(Backend {
                    address: *address,
                    node: some(&e.node_name),
                    target: e.target_ref.clone(),
                    ports: ports.clone(),
                });
            }
        }
    }
    out
}
