//! Loaded objects resolved into what the planner works on: networks with
//! their subnets (address pools), namespaces, nodes, pods and services.
//!
//! Networks come from three places: `VirtualNetwork` objects (with their
//! `Subnet` references), NetworkAttachmentDefinitions that carry
//! `juniper.net/networks` (which create a network of the NAD's name with
//! subnets `<nad>-v4` / `<nad>-v6`), and the Kubemanager (the default external
//! network `default-external-vn`, and the service and pod networks).

use std::collections::{BTreeMap, HashMap};

use std::net::IpAddr;

use crate::announce::AnnounceConfig;
use crate::ecmp::Encap;
use crate::ipam::{AddressRange, Cidr, Family, IpamError, Pool, addr_to_u128};

use super::kinds::*;
use super::load::{Manifests, Object, Source};
use super::{ModelError, Place};

/// The label that marks the default external network.
pub const EXTERNAL_SELECTOR_LABEL: &str = "service.contrail.juniper.net/externalNetworkSelector";

/// The namespace of the Kubemanager's own networks when no Kubemanager says otherwise.
pub const DEFAULT_CONTROL_NAMESPACE: &str = "contrail";

/// A subnet of a network: where its addresses of one family come from.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkSubnet {
    /// The allocator pool name: the Subnet's `namespace/name`.
    pub pool: String,
    /// The addresses.
    pub addresses: SubnetAddresses,
}

/// The addresses of a subnet.
#[derive(Debug, Clone, PartialEq)]
pub enum SubnetAddresses {
    /// A CIDR block with CN2's reservations (network, gateway, broadcast).
    Cidr {
        /// The block.
        cidr: Cidr,
        /// The allocation ranges (the whole block, or `Subnet.spec.ranges`).
        ranges: Vec<AddressRange>,
    },
    /// An address pool's list of blocks, every address assignable.
    List {
        /// The family.
        family: Family,
        /// Inclusive blocks.
        blocks: Vec<(IpAddr, IpAddr)>,
        /// Skip IPv4 `.0` and `.255`.
        avoid_buggy_ips: bool,
    },
}

impl NetworkSubnet {
    /// The family of the subnet.
    pub fn family(&self) -> Family {
        match &self.addresses {
            SubnetAddresses::Cidr { cidr, .. } => cidr.family(),
            SubnetAddresses::List { family, .. } => *family,
        }
    }

    /// The CIDR block, for network subnets.
    pub fn cidr(&self) -> Option<Cidr> {
        match &self.addresses {
            SubnetAddresses::Cidr { cidr, .. } => Some(*cidr),
            SubnetAddresses::List { .. } => None,
        }
    }

    /// Whether `ip` lies in the subnet (allocatable or not).
    pub fn contains(&self, ip: &IpAddr) -> bool {
        match &self.addresses {
            SubnetAddresses::Cidr { cidr, .. } => cidr.contains(ip),
            SubnetAddresses::List { blocks, .. } => blocks.iter().any(|(a, b)| {
                Family::of(a) == Family::of(ip)
                    && (addr_to_u128(a)..=addr_to_u128(b)).contains(&addr_to_u128(ip))
            }),
        }
    }

    /// The subnet as text: the CIDR, or the blocks.
    pub fn describe(&self) -> String {
        match &self.addresses {
            SubnetAddresses::Cidr { cidr, .. } => cidr.to_string(),
            SubnetAddresses::List { blocks, .. } => blocks
                .iter()
                .map(|(a, b)| {
                    if a == b {
                        a.to_string()
                    } else {
                        format!("{a}-{b}")
                    }
                })
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// A fresh allocator pool over the subnet's addresses.
    pub fn build_pool(&self) -> Result<Pool, IpamError> {
        match &self.addresses {
            SubnetAddresses::Cidr { ranges, .. } => Pool::new(ranges.clone()),
            SubnetAddresses::List {
                family,
                blocks,
                avoid_buggy_ips,
            } => Pool::from_blocks(*family, blocks, *avoid_buggy_ips),
        }
    }
}

/// A virtual network.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// `namespace/name`.
    pub id: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Labels, matched by network selectors.
    pub labels: BTreeMap<String, String>,
    /// The IPv4 subnet.
    pub v4: Option<NetworkSubnet>,
    /// The IPv6 subnet.
    pub v6: Option<NetworkSubnet>,
    /// Route targets imported and exported.
    pub route_targets: Vec<String>,
    /// Route targets exported only.
    pub export_route_targets: Vec<String>,
    /// Route targets imported only.
    pub import_route_targets: Vec<String>,
    /// Where the network was defined.
    pub source: Source,
}

impl Network {
    /// The subnet of a family.
    pub fn subnet(&self, family: Family) -> Option<&NetworkSubnet> {
        match family {
            Family::V4 => self.v4.as_ref(),
            Family::V6 => self.v6.as_ref(),
        }
    }

    /// The route targets the network exports (communities of its routes).
    pub fn exported_route_targets(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .route_targets
            .iter()
            .chain(&self.export_route_targets)
            .cloned()
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Everything the planner needs, resolved and indexed.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// Namespaces by name.
    pub namespaces: HashMap<String, Namespace>,
    /// Nodes by name.
    pub nodes: BTreeMap<String, Node>,
    /// Pods in manifest order.
    pub pods: Vec<(Source, Pod)>,
    /// Services in manifest order.
    pub services: Vec<(Source, Service)>,
    /// Endpoints in manifest order.
    pub endpoints: Vec<(Source, Endpoints)>,
    /// EndpointSlices in manifest order.
    pub endpoint_slices: Vec<(Source, EndpointSlice)>,
    /// Virtual networks by `namespace/name` (byte order).
    pub networks: BTreeMap<String, Network>,
    /// The Kubemanager, if one was given.
    pub kubemanager: Option<Kubemanager>,
    /// The service network (ClusterIPs), from the Kubemanager.
    pub service_network: Option<Network>,
    /// The default pod network, from the Kubemanager.
    pub pod_network: Option<Network>,
    /// Address pools (Kontena, MetalLB) as external address sources, by
    /// id `address-pool/<name>`, in config order of [`AnnounceConfig::pools`].
    pub pool_networks: BTreeMap<String, Network>,
    /// Speakers, pools and BGP peers.
    pub announce: AnnounceConfig,
    /// The tunnel encapsulation of next hops to other nodes: the first of
    /// the GlobalVrouterConfig's `encapsulationPriorities`, else MPLSoUDP.
    pub encapsulation: Encap,
    /// Warnings of loading and resolving.
    pub warnings: Vec<String>,
}

fn whole(pool: String, cidr: Cidr) -> NetworkSubnet {
    NetworkSubnet {
        pool,
        addresses: SubnetAddresses::Cidr {
            cidr,
            ranges: vec![AddressRange::subnet(cidr)],
        },
    }
}

impl Inventory {
    /// Resolves loaded manifests. Fails on a second Kubemanager, a network
    /// defined twice (e.g. a VirtualNetwork and a NAD of the same name), a
    /// subnet reference to a missing or wrong-family Subnet.
    pub fn resolve(manifests: &Manifests) -> Result<Inventory, ModelError> {
        let mut inv = Inventory {
            warnings: manifests.warnings.clone(),
            ..Inventory::default()
        };
        let mut subnets: HashMap<String, (&Source, &Subnet)> = HashMap::new();
        let mut km_source = None;
        let mut vrouter_config_source: Option<&Source> = None;
        let mut seen: HashMap<(&str, String), &Source> = HashMap::new();
        for d in &manifests.documents {
            let s = &d.source;
            if let Some(prev) = seen.insert((d.object.kind(), d.object.display_name()), s) {
                return Err(reference(
                    s,
                    &d.object,
                    format!(
                        "defined twice (first at {}: document {})",
                        prev.file, prev.document
                    ),
                ));
            }
            match &d.object {
                Object::Namespace(o) => {
                    inv.namespaces.insert(o.metadata.name.clone(), o.clone());
                }
                Object::Node(o) => {
                    inv.nodes.insert(o.metadata.name.clone(), o.clone());
                }
                Object::Pod(o) => inv.pods.push((s.clone(), o.clone())),
                Object::Service(o) => inv.services.push((s.clone(), o.clone())),
                Object::Endpoints(o) => inv.endpoints.push((s.clone(), o.clone())),
                Object::EndpointSlice(o) => inv.endpoint_slices.push((s.clone(), o.clone())),
                Object::Subnet(o) => {
                    let id = format!("{}/{}", o.metadata.namespace, o.metadata.name);
                    subnets.insert(id, (s, o));
                }
                Object::Kubemanager(o) => {
                    if km_source.is_some() {
                        return Err(reference(
                            s,
                            &d.object,
                            "a second Kubemanager; only one may be given".into(),
                        ));
                    }
                    km_source = Some(s.clone());
                    inv.kubemanager = Some(o.clone());
                }
                Object::GlobalVrouterConfig(o) => {
                    if let Some(prev) = vrouter_config_source.replace(s) {
                        return Err(reference(
                            s,
                            &d.object,
                            format!(
                                "a second GlobalVrouterConfig (the first is at {}: document {}); \
                                 only one may be given",
                                prev.file, prev.document
                            ),
                        ));
                    }
                    let priorities = &o.spec.encapsulation_priorities.encapsulation;
                    inv.encapsulation = priorities.first().copied().unwrap_or_default();
                }
                Object::VirtualNetwork(_)
                | Object::NetworkAttachmentDefinition(_)
                | Object::NetworkLoadBalancerConfig(_)
                | Object::IpAddressPool(_)
                | Object::BgpPeer(_)
                | Object::L2Advertisement(_)
                | Object::BgpAdvertisement(_) => {}
            }
        }
        for d in &manifests.documents {
            let net = match &d.object {
                Object::VirtualNetwork(vn) => {
                    let sub = |r: &Option<ObjectRef>,
                               fam: Family|
                     -> Result<Option<NetworkSubnet>, ModelError> {
                        let Some(r) = r else { return Ok(None) };
                        let ns = if r.namespace.is_empty() {
                            &vn.metadata.namespace
                        } else {
                            &r.namespace
                        };
                        let id = format!("{ns}/{}", r.name);
                        let Some((_, subnet)) = subnets.get(&id) else {
                            return Err(reference(
                                &d.source,
                                &d.object,
                                format!("references Subnet {id}, which does not exist"),
                            ));
                        };
                        let cidr = subnet.spec.cidr.expect("validated at load");
                        let cidr: Cidr = cidr;
                        if cidr.family() != fam {
                            return Err(reference(
                                &d.source,
                                &d.object,
                                format!(
                                    "its {fam} subnet reference names Subnet {id}, whose cidr {cidr} is not {fam}"
                                ),
                            ));
                        }
                        Ok(Some(subnet_of(id, subnet)))
                    };
                    let v4 = sub(&vn.spec.v4_subnet_reference, Family::V4)?;
                    let v6 = sub(&vn.spec.v6_subnet_reference, Family::V6)?;
                    Network {
                        id: format!("{}/{}", vn.metadata.namespace, vn.metadata.name),
                        namespace: vn.metadata.namespace.clone(),
                        name: vn.metadata.name.clone(),
                        labels: vn.metadata.labels.clone(),
                        v4,
                        v6,
                        route_targets: vn.spec.route_target_list.clone(),
                        export_route_targets: vn.spec.export_route_target_list.clone(),
                        import_route_targets: vn.spec.import_route_target_list.clone(),
                        source: d.source.clone(),
                    }
                }
                Object::NetworkAttachmentDefinition(nad) => {
                    let Some(j) = nad.juniper_networks().expect("validated at load") else {
                        continue;
                    };
                    let m = &nad.metadata;
                    let check = |c: Option<Cidr>,
                                 fam: Family|
                     -> Result<Option<NetworkSubnet>, ModelError> {
                        match c {
                            Some(c) if c.family() != fam => Err(reference(
                                &d.source,
                                &d.object,
                                format!(
                                    "juniper.net/networks ipam{}Subnet {c} is not {fam}",
                                    fam.as_str().to_uppercase()
                                ),
                            )),
                            Some(c) => Ok(Some(whole(
                                format!("{}/{}-{}", m.namespace, m.name, fam),
                                c,
                            ))),
                            None => Ok(None),
                        }
                    };
                    Network {
                        id: format!("{}/{}", m.namespace, m.name),
                        namespace: m.namespace.clone(),
                        name: m.name.clone(),
                        labels: m.labels.clone(),
                        v4: check(j.ipam_v4_subnet, Family::V4)?,
                        v6: check(j.ipam_v6_subnet, Family::V6)?,
                        route_targets: j.route_target_list,
                        export_route_targets: j.export_route_target_list,
                        import_route_targets: j.import_route_target_list,
                        source: d.source.clone(),
                    }
                }
                _ => continue,
            };
            if let Some(prev) = inv.networks.get(&net.id) {
                return Err(reference(
                    &d.source,
                    &d.object,
                    format!(
                        "network {} is already defined at {}: document {} (a VirtualNetwork and a NetworkAttachmentDefinition with juniper.net/networks may not share a name)",
                        net.id, prev.source.file, prev.source.document
                    ),
                ));
            }
            inv.networks.insert(net.id.clone(), net);
        }
        if let (Some(km), Some(src)) = (&inv.kubemanager, km_source) {
            inv.add_kubemanager_networks(km.clone(), src)?;
        }
        inv.announce = AnnounceConfig::resolve(&manifests.documents)?;
        inv.pool_networks = inv
            .announce
            .pools
            .iter()
            .map(|p| {
                let n = p.as_network();
                (n.id.clone(), n)
            })
            .collect();
        Ok(inv)
    }

    /// The network (virtual network or address pool) of that id.
    pub fn network(&self, id: &str) -> Option<&Network> {
        self.networks.get(id).or_else(|| self.pool_networks.get(id))
    }

    /// The namespace of the Kubemanager's own networks.
    pub fn control_namespace(&self) -> &str {
        self.kubemanager
            .as_ref()
            .map(|k| k.metadata.namespace.as_str())
            .filter(|n| !n.is_empty())
            .unwrap_or(DEFAULT_CONTROL_NAMESPACE)
    }

    fn add_kubemanager_networks(&mut self, km: Kubemanager, src: Source) -> Result<(), ModelError> {
        let ns = self.control_namespace().to_string();
        let s = &km.spec;
        let mk = |name: &str,
                  v4: Option<Cidr>,
                  v6: Option<Cidr>,
                  labels: BTreeMap<String, String>| Network {
            id: format!("{ns}/{name}"),
            namespace: ns.clone(),
            name: name.to_string(),
            labels,
            v4: v4.map(|c| whole(format!("{ns}/{name}-v4"), c)),
            v6: v6.map(|c| whole(format!("{ns}/{name}-v6"), c)),
            route_targets: Vec::new(),
            export_route_targets: Vec::new(),
            import_route_targets: Vec::new(),
            source: src.clone(),
        };
        if s.external_network_v4_subnet.is_some() || s.external_network_v6_subnet.is_some() {
            let labels = BTreeMap::from([(
                EXTERNAL_SELECTOR_LABEL.to_string(),
                "default-external".to_string(),
            )]);
            let net = mk(
                "default-external-vn",
                s.external_network_v4_subnet,
                s.external_network_v6_subnet,
                labels,
            );
            if let Some(prev) = self.networks.get(&net.id) {
                return Err(ModelError::Reference {
                    place: Box::new(Place {
                        file: src.file.clone(),
                        document: src.document,
                        kind: "Kubemanager".into(),
                        name: format!("{}/{}", ns, km.metadata.name),
                    }),
                    message: format!(
                        "spec.externalNetworkV4Subnet/V6Subnet create network {}, which is already defined at {}: document {}",
                        net.id, prev.source.file, prev.source.document
                    ),
                });
            }
            self.networks.insert(net.id.clone(), net);
        }
        if s.service_v4_subnet.is_some() || s.service_v6_subnet.is_some() {
            self.service_network = Some(mk(
                "service-network",
                s.service_v4_subnet,
                s.service_v6_subnet,
                BTreeMap::new(),
            ));
        }
        if s.pod_v4_subnet.is_some() || s.pod_v6_subnet.is_some() {
            self.pod_network = Some(mk(
                "pod-network",
                s.pod_v4_subnet,
                s.pod_v6_subnet,
                BTreeMap::new(),
            ));
        }
        Ok(())
    }
}

fn subnet_of(id: String, s: &Subnet) -> NetworkSubnet {
    let cidr = s.spec.cidr.expect("validated at load");
    let gateway = s.spec.default_gateway;
    let windows: Vec<&IpWindow> = s.spec.ranges.iter().flat_map(|r| &r.ip_ranges).collect();
    let ranges = if windows.is_empty() {
        vec![AddressRange {
            subnet: cidr,
            start: None,
            end: None,
            gateway,
        }]
    } else {
        windows
            .into_iter()
            .map(|w| AddressRange {
                subnet: cidr,
                start: Some(w.from),
                end: Some(w.to),
                gateway,
            })
            .collect()
    };
    NetworkSubnet {
        pool: id,
        addresses: SubnetAddresses::Cidr { cidr, ranges },
    }
}

fn reference(source: &Source, object: &Object, message: String) -> ModelError {
    ModelError::Reference {
        place: Box::new(Place {
            file: source.file.clone(),
            document: source.document,
            kind: object.kind().to_string(),
            name: object.display_name(),
        }),
        message,
    }
}
