//! The Kubernetes and CN2 object kinds cn2 reads, as small serde structs.
//!
//! Only the fields cn2 uses are declared; every other field of a real
//! manifest is ignored. `null` is accepted wherever Kubernetes would accept an
//! omitted field.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Deserializer};

use crate::ipam::Cidr;

/// Deserialises `null` as the type's default.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Object metadata.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ObjectMeta {
    /// Object name.
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    /// Namespace (empty for cluster-scoped objects or when omitted).
    #[serde(deserialize_with = "nullable")]
    pub namespace: String,
    /// The object's UID, if the manifest carries one.
    #[serde(deserialize_with = "nullable")]
    pub uid: String,
    /// Labels.
    #[serde(deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(deserialize_with = "nullable")]
    pub annotations: BTreeMap<String, String>,
}

/// A reference to another object.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ObjectRef {
    /// Kind of the referenced object.
    #[serde(deserialize_with = "nullable")]
    pub kind: String,
    /// Namespace of the referenced object (empty: the referrer's).
    #[serde(deserialize_with = "nullable")]
    pub namespace: String,
    /// Name of the referenced object.
    #[serde(deserialize_with = "nullable")]
    pub name: String,
}

/// `v1/Namespace`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Namespace {
    /// Metadata: name, labels, annotations.
    pub metadata: ObjectMeta,
}

/// `v1/Node`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Node {
    /// Metadata: name, labels.
    pub metadata: ObjectMeta,
    /// Spec: taints.
    #[serde(deserialize_with = "nullable")]
    pub spec: NodeSpec,
    /// Status: addresses.
    #[serde(deserialize_with = "nullable")]
    pub status: NodeStatus,
}

/// `Node.spec`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct NodeSpec {
    /// Taints: pods (speakers among them) need a toleration to run there.
    #[serde(deserialize_with = "nullable")]
    pub taints: Vec<Taint>,
}

/// A node taint.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Taint {
    /// Key.
    #[serde(deserialize_with = "nullable")]
    pub key: String,
    /// Value.
    #[serde(deserialize_with = "nullable")]
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    #[serde(deserialize_with = "nullable")]
    pub effect: String,
}

/// `Node.status`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct NodeStatus {
    /// The node's addresses.
    #[serde(deserialize_with = "nullable")]
    pub addresses: Vec<NodeAddress>,
}

/// One entry of `Node.status.addresses`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct NodeAddress {
    /// `InternalIP`, `ExternalIP`, `Hostname`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The address (an IP for the IP types, a name for `Hostname`).
    pub address: String,
}

impl Node {
    /// The node's fabric IP: its first `InternalIP` address.
    pub fn internal_ip(&self) -> Option<IpAddr> {
        self.status
            .addresses
            .iter()
            .filter(|a| a.kind == "InternalIP")
            .find_map(|a| a.address.parse().ok())
    }
}

/// `v1/Pod`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Pod {
    /// Metadata; annotation `k8s.v1.cni.cncf.io/network-status` lists
    /// secondary interfaces.
    pub metadata: ObjectMeta,
    /// Spec: the node.
    #[serde(deserialize_with = "nullable")]
    pub spec: PodSpec,
    /// Status: the primary addresses.
    #[serde(deserialize_with = "nullable")]
    pub status: PodStatus,
}

/// `Pod.spec`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct PodSpec {
    /// The node the pod runs on.
    #[serde(deserialize_with = "nullable")]
    pub node_name: String,
}

/// `Pod.status`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct PodStatus {
    /// The primary address (older field).
    #[serde(rename = "podIP")]
    pub pod_ip: Option<IpAddr>,
    /// The primary addresses, one per family.
    #[serde(rename = "podIPs", deserialize_with = "nullable")]
    pub pod_ips: Vec<PodIp>,
}

/// One entry of `Pod.status.podIPs`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct PodIp {
    /// The address.
    pub ip: IpAddr,
}

/// One entry of the Multus `k8s.v1.cni.cncf.io/network-status` annotation.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct NetworkStatus {
    /// `namespace/nad` of the attachment (or the default network's name).
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    /// Interface name inside the pod (`eth0`, `net1`, ...).
    #[serde(deserialize_with = "nullable")]
    pub interface: String,
    /// The interface's addresses.
    #[serde(deserialize_with = "nullable")]
    pub ips: Vec<IpAddr>,
    /// The interface's MAC address.
    #[serde(deserialize_with = "nullable")]
    pub mac: String,
    /// Whether this is the pod's default network.
    #[serde(deserialize_with = "nullable")]
    pub default: bool,
}

/// Transport protocols of service ports.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP, IP protocol 6.
    #[default]
    #[serde(rename = "TCP")]
    Tcp,
    /// UDP, IP protocol 17.
    #[serde(rename = "UDP")]
    Udp,
    /// SCTP, IP protocol 132.
    #[serde(rename = "SCTP")]
    Sctp,
}

impl Protocol {
    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }

    /// The Kubernetes spelling: `TCP`, `UDP`, `SCTP`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

/// A port given as a number or as a name.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum IntOrString {
    /// A port number.
    Int(u16),
    /// A port name.
    String(String),
}

/// `v1/Service`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Service {
    /// Metadata; annotations steer the external-network selection.
    pub metadata: ObjectMeta,
    /// The service spec.
    #[serde(deserialize_with = "nullable")]
    pub spec: ServiceSpec,
}

/// `Service.spec`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceSpec {
    /// `ClusterIP` (default), `LoadBalancer`, `NodePort` or `ExternalName`.
    #[serde(rename = "type", deserialize_with = "nullable")]
    pub kind: String,
    /// The ClusterIP: an address, `None` (headless) or empty (allocate).
    #[serde(rename = "clusterIP", deserialize_with = "nullable")]
    pub cluster_ip: String,
    /// The ClusterIPs, one per family.
    #[serde(rename = "clusterIPs", deserialize_with = "nullable")]
    pub cluster_ips: Vec<String>,
    /// The ports.
    #[serde(deserialize_with = "nullable")]
    pub ports: Vec<ServicePort>,
    /// The pod selector; absent for selectorless services.
    pub selector: Option<BTreeMap<String, String>>,
    /// `IPv4` / `IPv6`, in order of preference.
    #[serde(deserialize_with = "nullable")]
    pub ip_families: Vec<String>,
    /// `SingleStack`, `PreferDualStack` or `RequireDualStack`.
    pub ip_family_policy: Option<String>,
    /// A requested external address.
    #[serde(rename = "loadBalancerIP")]
    pub load_balancer_ip: Option<String>,
    /// Requested external addresses.
    #[serde(rename = "externalIPs", deserialize_with = "nullable")]
    pub external_ips: Vec<String>,
    /// `Cluster` (default) or `Local`.
    pub external_traffic_policy: Option<String>,
    /// The DNS name of an `ExternalName` service.
    pub external_name: Option<String>,
}

/// One entry of `Service.spec.ports`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    /// The port's name (required when a service has several ports).
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// TCP (default), UDP or SCTP.
    #[serde(default, deserialize_with = "nullable")]
    pub protocol: Protocol,
    /// The service port.
    pub port: u16,
    /// The pods' port: a number or a named container port (default: `port`).
    pub target_port: Option<IntOrString>,
    /// The node port, for NodePort and LoadBalancer services.
    pub node_port: Option<u16>,
}

/// `v1/Endpoints`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Endpoints {
    /// Metadata: the service's namespace and name.
    pub metadata: ObjectMeta,
    /// The subsets.
    #[serde(deserialize_with = "nullable")]
    pub subsets: Vec<EndpointSubset>,
}

/// One subset of an `Endpoints` object.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct EndpointSubset {
    /// Ready addresses.
    #[serde(deserialize_with = "nullable")]
    pub addresses: Vec<EndpointAddress>,
    /// Addresses that are not ready (never members).
    #[serde(deserialize_with = "nullable")]
    pub not_ready_addresses: Vec<EndpointAddress>,
    /// The ports.
    #[serde(deserialize_with = "nullable")]
    pub ports: Vec<EndpointPort>,
}

/// One address of an `Endpoints` subset.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EndpointAddress {
    /// The backend address.
    pub ip: IpAddr,
    /// The node hosting it.
    #[serde(default, deserialize_with = "nullable")]
    pub node_name: String,
    /// The pod behind it.
    pub target_ref: Option<ObjectRef>,
}

/// One port of an endpoint subset or slice.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct EndpointPort {
    /// The port's name, matching the service port's name.
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// The backend port.
    pub port: u16,
    /// The protocol.
    #[serde(default, deserialize_with = "nullable")]
    pub protocol: Protocol,
}

/// `discovery.k8s.io/v1/EndpointSlice`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct EndpointSlice {
    /// Metadata; label `kubernetes.io/service-name` names the service.
    pub metadata: ObjectMeta,
    /// `IPv4`, `IPv6` or `FQDN`.
    #[serde(deserialize_with = "nullable")]
    pub address_type: String,
    /// The endpoints.
    #[serde(deserialize_with = "nullable")]
    pub endpoints: Vec<SliceEndpoint>,
    /// The ports.
    #[serde(deserialize_with = "nullable")]
    pub ports: Vec<SlicePort>,
}

/// One endpoint of an `EndpointSlice`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct SliceEndpoint {
    /// The endpoint's addresses (Kubernetes uses the first).
    #[serde(deserialize_with = "nullable")]
    pub addresses: Vec<IpAddr>,
    /// Conditions; `ready: false` excludes the endpoint.
    #[serde(deserialize_with = "nullable")]
    pub conditions: SliceConditions,
    /// The node hosting it.
    #[serde(deserialize_with = "nullable")]
    pub node_name: String,
    /// The pod behind it.
    pub target_ref: Option<ObjectRef>,
}

/// `EndpointSlice.endpoints[].conditions`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct SliceConditions {
    /// Ready; absent means ready (Kubernetes' rule).
    pub ready: Option<bool>,
}

/// One port of an `EndpointSlice` (every field optional there).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct SlicePort {
    /// The port's name.
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    /// The backend port.
    pub port: Option<u16>,
    /// The protocol.
    #[serde(deserialize_with = "nullable")]
    pub protocol: Protocol,
}

/// `k8s.cni.cncf.io/v1/NetworkAttachmentDefinition`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct NetworkAttachmentDefinition {
    /// Metadata; annotation `juniper.net/networks` makes it a CN2 network.
    pub metadata: ObjectMeta,
    /// Spec: the CNI config.
    #[serde(deserialize_with = "nullable")]
    pub spec: NadSpec,
}

/// `NetworkAttachmentDefinition.spec`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct NadSpec {
    /// The CNI network config, as JSON text.
    #[serde(deserialize_with = "nullable")]
    pub config: String,
}

/// The JSON of a NAD's `juniper.net/networks` annotation.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct JuniperNetworks {
    /// The IPv4 subnet.
    pub ipam_v4_subnet: Option<Cidr>,
    /// The IPv6 subnet.
    pub ipam_v6_subnet: Option<Cidr>,
    /// Route targets, imported and exported.
    #[serde(deserialize_with = "nullable")]
    pub route_target_list: Vec<String>,
    /// Route targets imported only.
    #[serde(deserialize_with = "nullable")]
    pub import_route_target_list: Vec<String>,
    /// Route targets exported only.
    #[serde(deserialize_with = "nullable")]
    pub export_route_target_list: Vec<String>,
    /// Whether traffic leaving to the fabric is source-translated.
    #[serde(rename = "fabricSNAT")]
    pub fabric_snat: Option<bool>,
    /// Whether this is a pod network.
    pub pod_network: Option<bool>,
}

/// `core.contrail.juniper.net/VirtualNetwork` (v1alpha1, v1, v3, v4).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct VirtualNetwork {
    /// Metadata: namespace, name, labels (matched by network selectors).
    pub metadata: ObjectMeta,
    /// The spec.
    #[serde(deserialize_with = "nullable")]
    pub spec: VirtualNetworkSpec,
}

/// `VirtualNetwork.spec`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct VirtualNetworkSpec {
    /// The IPv4 Subnet.
    pub v4_subnet_reference: Option<ObjectRef>,
    /// The IPv6 Subnet.
    pub v6_subnet_reference: Option<ObjectRef>,
    /// Route targets, imported and exported.
    #[serde(deserialize_with = "nullable")]
    pub route_target_list: Vec<String>,
    /// Route targets imported only.
    #[serde(deserialize_with = "nullable")]
    pub import_route_target_list: Vec<String>,
    /// Route targets exported only.
    #[serde(deserialize_with = "nullable")]
    pub export_route_target_list: Vec<String>,
    /// Fabric source NAT.
    #[serde(rename = "fabricSNAT")]
    pub fabric_snat: Option<bool>,
    /// Fabric forwarding.
    pub fabric_forwarding: Option<bool>,
}

/// `core.contrail.juniper.net/Subnet`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Subnet {
    /// Metadata.
    pub metadata: ObjectMeta,
    /// The spec.
    #[serde(deserialize_with = "nullable")]
    pub spec: SubnetSpec,
}

/// `Subnet.spec`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct SubnetSpec {
    /// The block.
    pub cidr: Option<Cidr>,
    /// The gateway (default: the first usable address).
    pub default_gateway: Option<IpAddr>,
    /// Allocation ranges; when present, only these are allocated from.
    #[serde(deserialize_with = "nullable")]
    pub ranges: Vec<SubnetRange>,
}

/// One keyed entry of `Subnet.spec.ranges`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct SubnetRange {
    /// The range's key.
    #[serde(deserialize_with = "nullable")]
    pub key: String,
    /// The address windows.
    #[serde(deserialize_with = "nullable")]
    pub ip_ranges: Vec<IpWindow>,
}

/// An inclusive `from`–`to` address window.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct IpWindow {
    /// First address.
    pub from: IpAddr,
    /// Last address.
    pub to: IpAddr,
}

/// `configplane.juniper.net/Kubemanager` (v1alpha1, v1).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Kubemanager {
    /// Metadata; its namespace is where the default networks live.
    pub metadata: ObjectMeta,
    /// The spec.
    #[serde(deserialize_with = "nullable")]
    pub spec: KubemanagerSpec,
}

/// `Kubemanager.spec`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct KubemanagerSpec {
    /// Named external-network selectors.
    #[serde(deserialize_with = "nullable")]
    pub external_network_selectors: BTreeMap<String, ExternalNetworkSelector>,
    /// The IPv4 service (ClusterIP) subnet.
    pub service_v4_subnet: Option<Cidr>,
    /// The IPv6 service subnet.
    pub service_v6_subnet: Option<Cidr>,
    /// The IPv4 pod subnet.
    pub pod_v4_subnet: Option<Cidr>,
    /// The IPv6 pod subnet.
    pub pod_v6_subnet: Option<Cidr>,
    /// The IPv4 subnet of the default external network.
    pub external_network_v4_subnet: Option<Cidr>,
    /// The IPv6 subnet of the default external network.
    pub external_network_v6_subnet: Option<Cidr>,
}

/// `core.contrail.juniper.net/GlobalVrouterConfig`: settings every node's
/// vRouter shares; of them, the tunnel encapsulation order.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct GlobalVrouterConfig {
    /// Metadata (the object is cluster-wide).
    pub metadata: ObjectMeta,
    /// The spec.
    #[serde(deserialize_with = "nullable")]
    pub spec: GlobalVrouterConfigSpec,
}

/// `GlobalVrouterConfig.spec`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct GlobalVrouterConfigSpec {
    /// Tunnel encapsulations, most preferred first.
    #[serde(deserialize_with = "nullable")]
    pub encapsulation_priorities: EncapsulationPriorities,
}

/// `GlobalVrouterConfig.spec.encapsulationPriorities`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct EncapsulationPriorities {
    /// `MPLSoUDP`, `MPLSoGRE` or `VXLAN`, most preferred first; tunnel next
    /// hops use the first (empty: MPLSoUDP).
    #[serde(deserialize_with = "nullable")]
    pub encapsulation: Vec<crate::ecmp::Encap>,
}

/// One entry of `Kubemanager.spec.externalNetworkSelectors`.
///
/// `None` and an empty selector differ: see [`crate::select`].
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ExternalNetworkSelector {
    /// Which namespaces' networks qualify; absent: the service's own.
    pub namespace_selector: Option<crate::select::LabelSelector>,
    /// Which networks qualify; absent: none.
    pub network_selector: Option<crate::select::LabelSelector>,
}
