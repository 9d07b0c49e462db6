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
//!
//! Both indexes are kept per object, so that one pod or one endpoint object
//! can be added, replaced or removed at the cost of that object alone
//! ([`InterfaceIndex`], [`BackendIndex`]); the whole-inventory functions
//! [`interfaces_by_ip`] and [`backends_by_service`] build the same indexes
//! object by object, in manifest order.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use rustc_hash::{FxHashMap as HashMap, FxHashSet};

use crate::model::{EndpointSlice, Endpoints, Inventory, ObjectRef, Pod, Protocol};

/// The label of an EndpointSlice naming its service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// A pod interface an address belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodInterface {
    /// `namespace/name` of the pod.
    pub pod: String,
    /// Interface name inside the pod (`eth0`, `net1`, ...), shared by the
    /// interfaces of that name.
    pub interface: Arc<str>,
    /// The pod's node, shared by the interfaces on it.
    pub node: Arc<str>,
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

/// One pod's claim on an address.
#[derive(Debug, Clone)]
struct Claim {
    /// The pod's position in manifest order (unique per pod).
    order: u64,
    /// A primary (`status.podIPs`) address, else a secondary interface's.
    primary: bool,
    interface: Arc<PodInterface>,
}

/// Pod interfaces indexed by IP, maintained pod by pod.
///
/// When several pods claim one address (a stale pod, a manifest mistake),
/// the owner is decided as a pass over the pods in manifest order would
/// decide it: the **last** pod holding it as a primary address, else the
/// **first** pod holding it on a secondary interface.
#[derive(Debug, Clone, Default)]
pub struct InterfaceIndex {
    claims: HashMap<IpAddr, Claims>,
    names: Names,
}

/// Node and interface names, one copy of each for every interface.
#[derive(Debug, Clone, Default)]
struct Names(FxHashSet<Arc<str>>);

impl Names {
    fn get(&mut self, name: &str) -> Arc<str> {
        if let Some(n) = self.0.get(name) {
            return n.clone();
        }
        let n: Arc<str> = Arc::from(name);
        self.0.insert(n.clone());
        n
    }
}

/// The claims on one address in manifest order: almost always one, kept
/// without a list of its own.
#[derive(Debug, Clone)]
enum Claims {
    One(Claim),
    Many(Vec<Claim>),
}

impl Claims {
    fn as_slice(&self) -> &[Claim] {
        match self {
            Claims::One(c) => std::slice::from_ref(c),
            Claims::Many(list) => list,
        }
    }

    /// Adds `claim` after the claims of lower or equal order.
    fn insert(&mut self, claim: Claim) {
        if let Claims::One(first) = self {
            let first = first.clone();
            *self = Claims::Many(vec![first]);
        }
        let Claims::Many(list) = self else {
            unreachable!("a list since above")
        };
        let at = list.partition_point(|c| c.order <= claim.order);
        list.insert(at, claim);
    }

    /// Removes the claims of the pod at `order`; whether any are left.
    fn remove(&mut self, order: u64) -> bool {
        match self {
            Claims::One(c) => c.order != order,
            Claims::Many(list) => {
                list.retain(|c| c.order != order);
                !list.is_empty()
            }
        }
    }
}

/// The interfaces of one pod with their addresses: `(ip, primary, interface)`.
fn pod_interfaces(pod: &Pod, names: &mut Names) -> Vec<(IpAddr, bool, Arc<PodInterface>)> {
    let m = &pod.metadata;
    let status = pod.network_status().unwrap_or_default();
    let primary = status
        .iter()
        .find(|s| s.default && !s.interface.is_empty())
        .map_or("eth0", |s| s.interface.as_str());
    let node = names.get(&pod.spec.node_name);
    let mut iface = |name: &str, network: Option<String>| {
        Arc::new(PodInterface {
            pod: format!("{}/{}", m.namespace, m.name),
            interface: names.get(name),
            node: node.clone(),
            network,
        })
    };
    let mut out = Vec::new();
    let ips = pod.primary_ips();
    if !ips.is_empty() {
        let i = iface(primary, None);
        out.extend(ips.into_iter().map(|ip| (ip, true, i.clone())));
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
        let i = iface(&s.interface, Some(network));
        out.extend(s.ips.iter().map(|ip| (*ip, false, i.clone())));
    }
    out
}

impl InterfaceIndex {
    /// Adds the interfaces of `pod`, which stands at position `order` in
    /// manifest order; returns the addresses it claims.
    pub fn add_pod(&mut self, order: u64, pod: &Pod) -> Vec<IpAddr> {
        let ifaces = pod_interfaces(pod, &mut self.names);
        let mut ips = Vec::with_capacity(ifaces.len());
        for (ip, primary, interface) in ifaces {
            let claim = Claim {
                order,
                primary,
                interface,
            };
            match self.claims.entry(ip) {
                std::collections::hash_map::Entry::Occupied(mut e) => e.get_mut().insert(claim),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(Claims::One(claim));
                }
            }
            ips.push(ip);
        }
        ips
    }

    /// Removes the interfaces of the pod at position `order` (as added with
    /// [`InterfaceIndex::add_pod`]); returns the addresses it claimed.
    pub fn remove_pod(&mut self, order: u64, pod: &Pod) -> Vec<IpAddr> {
        let mut ips = Vec::new();
        for (ip, _, _) in pod_interfaces(pod, &mut self.names) {
            if let Some(claims) = self.claims.get_mut(&ip)
                && !claims.remove(order)
            {
                self.claims.remove(&ip);
            }
            ips.push(ip);
        }
        ips
    }

    /// The interface owning `ip`, if any.
    pub fn get(&self, ip: &IpAddr) -> Option<&PodInterface> {
        Self::owner(self.claims.get(ip)?.as_slice())
    }

    fn owner(list: &[Claim]) -> Option<&PodInterface> {
        list.iter()
            .rev()
            .find(|c| c.primary)
            .or_else(|| list.first())
            .map(|c| &*c.interface)
    }

    /// Every owned address with its interface, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&IpAddr, &PodInterface)> {
        self.claims
            .iter()
            .filter_map(|(ip, claims)| Some((ip, Self::owner(claims.as_slice())?)))
    }

    /// The number of addresses with an owner.
    pub fn len(&self) -> usize {
        self.claims.len()
    }

    /// Whether no pod claims any address.
    pub fn is_empty(&self) -> bool {
        self.claims.is_empty()
    }
}

/// Every pod interface address of the inventory, indexed by IP.
pub fn interfaces_by_ip(inv: &Inventory) -> InterfaceIndex {
    let mut index = InterfaceIndex::default();
    for (i, (_, pod)) in inv.pods.iter().enumerate() {
        index.add_pod(i as u64, pod);
    }
    index
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
    pub ports: Arc<[(String, u16, Protocol)]>,
}

fn some(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// The ready backends of an `Endpoints` object (its service has the same
/// namespace and name).
pub fn endpoints_backends(ep: &Endpoints) -> Vec<Backend> {
    let mut list = Vec::new();
    for subset in &ep.subsets {
        let ports: Arc<[_]> = subset
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
    list
}

/// The service an EndpointSlice belongs to (label
/// `kubernetes.io/service-name`, in the slice's namespace), and its ready
/// backends; `None` for a slice without that label.
pub fn slice_backends(sl: &EndpointSlice) -> Option<(&str, Vec<Backend>)> {
    let svc = sl.metadata.labels.get(SERVICE_NAME_LABEL)?;
    let ports: Arc<[_]> = sl
        .ports
        .iter()
        .filter_map(|p| p.port.map(|port| (p.name.clone(), port, p.protocol)))
        .collect();
    let list = sl
        .endpoints
        .iter()
        .filter(|e| e.conditions.ready != Some(false))
        // Kubernetes uses the first address of an endpoint.
        .filter_map(|e| {
            Some(Backend {
                address: *e.addresses.first()?,
                node: some(&e.node_name),
                target: e.target_ref.clone(),
                ports: ports.clone(),
            })
        })
        .collect();
    Some((svc, list))
}

/// Where a service's backends came from: the `Endpoints` object (rank 0)
/// or an EndpointSlice (rank 1), and the object's position in manifest
/// order. Backends are listed in this order.
pub type BackendSource = (u8, u64);

/// Ready backends per service, maintained per endpoint object.
#[derive(Debug, Clone, Default)]
pub struct BackendIndex {
    /// Namespace → service name → backends by source.
    by_service: HashMap<String, HashMap<String, BTreeMap<BackendSource, Vec<Backend>>>>,
}

impl BackendIndex {
    /// Sets (or, with an empty list, clears) the backends that `source`
    /// gives service `(namespace, name)`.
    pub fn set(
        &mut self,
        service: (String, String),
        source: BackendSource,
        backends: Option<Vec<Backend>>,
    ) {
        let (namespace, name) = service;
        match backends {
            Some(list) => {
                self.by_service
                    .entry(namespace)
                    .or_default()
                    .entry(name)
                    .or_default()
                    .insert(source, list);
            }
            None => {
                let Some(ns) = self.by_service.get_mut(&namespace) else {
                    return;
                };
                if let Some(m) = ns.get_mut(&name) {
                    m.remove(&source);
                    if m.is_empty() {
                        ns.remove(&name);
                    }
                }
                if ns.is_empty() {
                    self.by_service.remove(&namespace);
                }
            }
        }
    }

    /// The backends of a service: its `Endpoints` object's, then its
    /// slices', each in manifest order.
    pub fn of(&self, namespace: &str, name: &str) -> Vec<&Backend> {
        self.by_service
            .get(namespace)
            .and_then(|ns| ns.get(name))
            .map(|m| m.values().flatten().collect())
            .unwrap_or_default()
    }
}

/// Ready backends of every service of the inventory.
pub fn backends_by_service(inv: &Inventory) -> BackendIndex {
    let mut index = BackendIndex::default();
    for (i, (_, ep)) in inv.endpoints.iter().enumerate() {
        let m = &ep.metadata;
        index.set(
            (m.namespace.clone(), m.name.clone()),
            (0, i as u64),
            Some(endpoints_backends(ep)),
        );
    }
    for (i, (_, sl)) in inv.endpoint_slices.iter().enumerate() {
        if let Some((svc, list)) = slice_backends(sl) {
            index.set(
                (sl.metadata.namespace.clone(), svc.to_string()),
                (1, i as u64),
                Some(list),
            );
        }
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Object, load_str};

    fn objects(text: &str) -> Vec<Object> {
        load_str("t.yaml", text)
            .unwrap()
            .documents
            .into_iter()
            .map(|d| d.object)
            .collect()
    }

    fn pod(name: &str, primary: &str, secondary: Option<&str>) -> Pod {
        let ann = secondary.map_or(String::new(), |ip| {
            format!(
                "\n  annotations:\n    k8s.v1.cni.cncf.io/network-status: '[{{\"name\": \"net\", \"interface\": \"net1\", \"ips\": [\"{ip}\"]}}]'"
            )
        });
        match objects(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: ns{ann}\nspec: {{nodeName: n1}}\nstatus: {{podIPs: [{{ip: {primary}}}]}}\n"
        ))
        .remove(0)
        {
            Object::Pod(p) => p,
            _ => unreachable!(),
        }
    }

    fn owner(index: &InterfaceIndex, ip: &str) -> Option<String> {
        index.get(&ip.parse().unwrap()).map(PodInterface::id)
    }

    #[test]
    fn primary_and_secondary_addresses_are_interfaces() {
        let mut index = InterfaceIndex::default();
        let ips = index.add_pod(1, &pod("a", "10.0.0.1", Some("172.16.0.1")));
        assert_eq!(ips.len(), 2);
        assert_eq!(owner(&index, "10.0.0.1").as_deref(), Some("ns/a/eth0"));
        assert_eq!(owner(&index, "172.16.0.1").as_deref(), Some("ns/a/net1"));
        let net1 = index.get(&"172.16.0.1".parse().unwrap()).unwrap();
        assert_eq!(net1.network.as_deref(), Some("ns/net"));
        index.remove_pod(1, &pod("a", "10.0.0.1", Some("172.16.0.1")));
        assert!(index.is_empty());
    }

    #[test]
    fn a_shared_address_belongs_as_a_pass_in_manifest_order_decides() {
        // The last primary claim wins over earlier ones and over secondaries;
        // without a primary claim, the first secondary claim wins.
        let mut index = InterfaceIndex::default();
        index.add_pod(1, &pod("a", "10.0.0.9", Some("172.16.0.1")));
        index.add_pod(3, &pod("c", "10.0.0.3", Some("172.16.0.1")));
        assert_eq!(owner(&index, "172.16.0.1").as_deref(), Some("ns/a/net1"));
        index.add_pod(2, &pod("b", "172.16.0.1", None));
        assert_eq!(owner(&index, "172.16.0.1").as_deref(), Some("ns/b/eth0"));
        // Removing the owner gives the address back to the next claim.
        index.remove_pod(2, &pod("b", "172.16.0.1", None));
        assert_eq!(owner(&index, "172.16.0.1").as_deref(), Some("ns/a/net1"));
        index.remove_pod(1, &pod("a", "10.0.0.9", Some("172.16.0.1")));
        assert_eq!(owner(&index, "172.16.0.1").as_deref(), Some("ns/c/net1"));
    }

    #[test]
    fn only_ready_addresses_are_backends() {
        let objs = objects(
            "apiVersion: v1\nkind: Endpoints\nmetadata: {name: s, namespace: ns}\nsubsets:\n  - addresses: [{ip: 10.0.0.1, nodeName: n1}]\n    notReadyAddresses: [{ip: 10.0.0.2}]\n    ports: [{name: http, port: 8080}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s-1, namespace: ns, labels: {kubernetes.io/service-name: s}}\nendpoints:\n  - {addresses: [10.0.0.3]}\n  - {addresses: [10.0.0.4], conditions: {ready: false}}\n  - {addresses: [10.0.0.5], conditions: {ready: true}}\nports: [{name: http, port: 8080}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: orphan, namespace: ns}\nendpoints: [{addresses: [10.0.0.6]}]\n",
        );
        let Object::Endpoints(ep) = &objs[0] else {
            unreachable!()
        };
        let list: Vec<String> = endpoints_backends(ep)
            .iter()
            .map(|b| b.address.to_string())
            .collect();
        assert_eq!(list, ["10.0.0.1"]);
        let Object::EndpointSlice(sl) = &objs[1] else {
            unreachable!()
        };
        let (svc, list) = slice_backends(sl).unwrap();
        assert_eq!(svc, "s");
        let list: Vec<String> = list.iter().map(|b| b.address.to_string()).collect();
        assert_eq!(list, ["10.0.0.3", "10.0.0.5"]);
        let Object::EndpointSlice(orphan) = &objs[2] else {
            unreachable!()
        };
        assert!(slice_backends(orphan).is_none());
        // Endpoints first, then slices; clearing a source removes its backends.
        let mut index = BackendIndex::default();
        let key = ("ns".to_string(), "s".to_string());
        index.set(key.clone(), (1, 5), slice_backends(sl).map(|x| x.1));
        index.set(key.clone(), (0, 9), Some(endpoints_backends(ep)));
        let order: Vec<String> = index
            .of("ns", "s")
            .iter()
            .map(|b| b.address.to_string())
            .collect();
        assert_eq!(order, ["10.0.0.1", "10.0.0.3", "10.0.0.5"]);
        index.set(key.clone(), (1, 5), None);
        index.set(key, (0, 9), None);
        assert!(index.of("ns", "s").is_empty());
        assert!(index.by_service.is_empty());
    }
}
