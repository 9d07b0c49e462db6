//! Field-level validation of loaded objects, and the parsed view of a
//! service's addressing fields.
//!
//! Errors are `(field path, message)` pairs; the loader adds the file,
//! document, kind and name.

use std::net::IpAddr;

use crate::ipam::{Family, addr_to_u128};

use super::kinds::*;
use super::load::Object;

type FieldResult<T> = Result<T, (String, String)>;

fn err<T>(field: impl Into<String>, message: impl Into<String>) -> FieldResult<T> {
    Err((field.into(), message.into()))
}

/// `Service.spec.ipFamilyPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FamilyPolicy {
    /// One family: the first of `ipFamilies`.
    SingleStack,
    /// Every listed family the network can serve, at least one.
    PreferDualStack,
    /// Both families, or the candidate network does not qualify.
    RequireDualStack,
}

/// The kinds of services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceKind {
    /// `ClusterIP` (the default).
    ClusterIp,
    /// `NodePort`.
    NodePort,
    /// `LoadBalancer`.
    LoadBalancer,
    /// `ExternalName`.
    ExternalName,
}

impl ServiceKind {
    /// The Kubernetes spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceKind::ClusterIp => "ClusterIP",
            ServiceKind::NodePort => "NodePort",
            ServiceKind::LoadBalancer => "LoadBalancer",
            ServiceKind::ExternalName => "ExternalName",
        }
    }
}

/// A service's addressing fields, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAddressing {
    /// The service type.
    pub kind: ServiceKind,
    /// `clusterIP: None`.
    pub headless: bool,
    /// ClusterIPs given in the manifest, in family order.
    pub cluster_ips: Vec<IpAddr>,
    /// The families wanted, in order of preference.
    pub families: Vec<Family>,
    /// The family policy.
    pub policy: FamilyPolicy,
    /// The external addresses asked for, at most one per family:
    /// `spec.loadBalancerIP`, or the addresses listed in the annotation
    /// [`LOAD_BALANCER_IPS_ANNOTATION`].
    pub load_balancer_ips: Vec<IpAddr>,
    /// `spec.externalIPs`.
    pub external_ips: Vec<IpAddr>,
}

/// The annotation (MetalLB's) that asks for specific external addresses, a
/// comma-separated list with at most one address per IP family; it takes
/// the place of `spec.loadBalancerIP`, which cannot ask for two.
pub const LOAD_BALANCER_IPS_ANNOTATION: &str = "metallb.io/loadBalancerIPs";

impl Service {
    /// Parses and checks the addressing fields.
    pub fn addressing(&self) -> FieldResult<ServiceAddressing> {
        let s = &self.spec;
        let kind = match s.kind.as_str() {
            "" | "ClusterIP" => ServiceKind::ClusterIp,
            "NodePort" => ServiceKind::NodePort,
            "LoadBalancer" => ServiceKind::LoadBalancer,
            "ExternalName" => ServiceKind::ExternalName,
            other => {
                return err(
                    "spec.type",
                    format!(
                        "{other:?} is not one of ClusterIP, NodePort, LoadBalancer, ExternalName"
                    ),
                );
            }
        };
        let mut headless = s.cluster_ip == "None";
        let mut cluster_ips = Vec::new();
        if !s.cluster_ips.is_empty() {
            for (i, ip) in s.cluster_ips.iter().enumerate() {
                if ip == "None" {
                    headless = true;
                    continue;
                }
                cluster_ips.push(parse_ip(&format!("spec.clusterIPs[{i}]"), ip)?);
            }
            if !s.cluster_ip.is_empty() && s.cluster_ip != s.cluster_ips[0] {
                return err("spec.clusterIP", "must equal spec.clusterIPs[0]");
            }
        } else if !s.cluster_ip.is_empty() && !headless {
            cluster_ips.push(parse_ip("spec.clusterIP", &s.cluster_ip)?);
        }
        if cluster_ips.len() == 2 && Family::of(&cluster_ips[0]) == Family::of(&cluster_ips[1]) {
            return err("spec.clusterIPs", "two addresses of the same family");
        }
        let mut families = Vec::new();
        for (i, f) in s.ip_families.iter().enumerate() {
            let fam = match f.as_str() {
                "IPv4" => Family::V4,
                "IPv6" => Family::V6,
                other => {
                    return err(
                        format!("spec.ipFamilies[{i}]"),
                        format!("{other:?} is not IPv4 or IPv6"),
                    );
                }
            };
            if families.contains(&fam) {
                return err(format!("spec.ipFamilies[{i}]"), format!("{f} listed twice"));
            }
            families.push(fam);
        }
        if families.is_empty() {
            families = cluster_ips.iter().map(Family::of).collect();
        }
        if families.is_empty() {
            families.push(Family::V4);
        }
        for (i, ip) in cluster_ips.iter().enumerate() {
            if families.get(i) != Some(&Family::of(ip)) {
                return err(
                    format!("spec.clusterIPs[{i}]"),
                    format!("{ip} does not match spec.ipFamilies[{i}]"),
                );
            }
        }
        let policy = match s.ip_family_policy.as_deref() {
            None | Some("SingleStack") => FamilyPolicy::SingleStack,
            Some("PreferDualStack") => FamilyPolicy::PreferDualStack,
            Some("RequireDualStack") => FamilyPolicy::RequireDualStack,
            Some(other) => {
                return err(
                    "spec.ipFamilyPolicy",
                    format!(
                        "{other:?} is not one of SingleStack, PreferDualStack, RequireDualStack"
                    ),
                );
            }
        };
        if policy == FamilyPolicy::SingleStack {
            families.truncate(1);
        }
        let mut load_balancer_ips = match s.load_balancer_ip.as_deref() {
            None | Some("") => Vec::new(),
            Some(ip) => vec![parse_ip("spec.loadBalancerIP", ip)?],
        };
        if let Some(list) = self.metadata.annotations.get(LOAD_BALANCER_IPS_ANNOTATION) {
            let field = format!("metadata.annotations[{LOAD_BALANCER_IPS_ANNOTATION}]");
            if !load_balancer_ips.is_empty() {
                return err(field, "spec.loadBalancerIP is set too; use one of them");
            }
            for text in list.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                let ip = parse_ip(&field, text)?;
                if load_balancer_ips
                    .iter()
                    .any(|a| Family::of(a) == Family::of(&ip))
                {
                    return err(field, format!("{ip}: one address per IP family"));
                }
                load_balancer_ips.push(ip);
            }
        }
        let external_ips = s
            .external_ips
            .iter()
            .enumerate()
            .map(|(i, ip)| parse_ip(&format!("spec.externalIPs[{i}]"), ip))
            .collect::<FieldResult<Vec<_>>>()?;
        Ok(ServiceAddressing {
            kind,
            headless,
            cluster_ips,
            families,
            policy,
            load_balancer_ips,
            external_ips,
        })
    }
}

impl Pod {
    /// The parsed Multus `k8s.v1.cni.cncf.io/network-status` annotation.
    pub fn network_status(&self) -> FieldResult<Vec<NetworkStatus>> {
        const KEY: &str = "k8s.v1.cni.cncf.io/network-status";
        match self.metadata.annotations.get(KEY) {
            None => Ok(Vec::new()),
            Some(text) => serde_json::from_str(text).map_err(|e| {
                (
                    format!("metadata.annotations[{KEY}]"),
                    format!("invalid JSON: {e}"),
                )
            }),
        }
    }

    /// The primary addresses: `status.podIPs`, else `status.podIP`.
    pub fn primary_ips(&self) -> Vec<IpAddr> {
        if self.status.pod_ips.is_empty() {
            self.status.pod_ip.into_iter().collect()
        } else {
            self.status.pod_ips.iter().map(|p| p.ip).collect()
        }
    }
}

impl NetworkAttachmentDefinition {
    /// The parsed `juniper.net/networks` annotation, if present.
    pub fn juniper_networks(&self) -> FieldResult<Option<JuniperNetworks>> {
        const KEY: &str = "juniper.net/networks";
        match self.metadata.annotations.get(KEY) {
            None => Ok(None),
            Some(text) => serde_json::from_str(text).map(Some).map_err(|e| {
                (
                    format!("metadata.annotations[{KEY}]"),
                    format!("invalid: {e}"),
                )
            }),
        }
    }
}

fn parse_ip(field: &str, text: &str) -> FieldResult<IpAddr> {
    text.parse()
        .map_err(|_| (field.to_string(), format!("{text:?} is not an IP address")))
}

fn check_port(field: String, port: u16) -> FieldResult<()> {
    if port == 0 {
        return err(field, "port must be between 1 and 65535");
    }
    Ok(())
}

/// Checks what serde's types cannot: value ranges, cross-field rules and
/// JSON embedded in annotations.
pub(super) fn validate(object: &Object) -> FieldResult<()> {
    match object {
        Object::Service(svc) => validate_service(svc),
        Object::Pod(pod) => pod.network_status().map(drop),
        Object::NetworkAttachmentDefinition(nad) => {
            nad.juniper_networks()?;
            if !nad.spec.config.is_empty() {
                serde_json::from_str::<serde_json::Value>(&nad.spec.config)
                    .map_err(|e| ("spec.config".to_string(), format!("invalid JSON: {e}")))?;
            }
            Ok(())
        }
        Object::Node(node) => {
            for (i, a) in node.status.addresses.iter().enumerate() {
                if a.kind.ends_with("IP") {
                    parse_ip(&format!("status.addresses[{i}].address"), &a.address)?;
                }
            }
            Ok(())
        }
        Object::Endpoints(ep) => {
            for (i, s) in ep.subsets.iter().enumerate() {
                for (j, p) in s.ports.iter().enumerate() {
                    check_port(format!("subsets[{i}].ports[{j}].port"), p.port)?;
                }
            }
            Ok(())
        }
        Object::VirtualNetwork(vn) => {
            for (field, r) in [
                ("spec.v4SubnetReference", &vn.spec.v4_subnet_reference),
                ("spec.v6SubnetReference", &vn.spec.v6_subnet_reference),
            ] {
                if r.as_ref().is_some_and(|r| r.name.is_empty()) {
                    return err(format!("{field}.name"), "missing");
                }
            }
            Ok(())
        }
        Object::Subnet(sub) => validate_subnet(sub),
        Object::Kubemanager(km) => {
            for (name, sel) in &km.spec.external_network_selectors {
                for (part, s) in [
                    ("namespaceSelector", &sel.namespace_selector),
                    ("networkSelector", &sel.network_selector),
                ] {
                    if let Some(s) = s {
                        let field = format!("spec.externalNetworkSelectors.{name}.{part}");
                        s.compile(&field).map_err(|e| (field, e.to_string()))?;
                    }
                }
            }
            Ok(())
        }
        Object::GlobalVrouterConfig(c) => {
            let list = &c.spec.encapsulation_priorities.encapsulation;
            for (i, e) in list.iter().enumerate() {
                if list[..i].contains(e) {
                    return err(
                        format!("spec.encapsulationPriorities.encapsulation[{i}]"),
                        format!("{} listed twice", e.name()),
                    );
                }
            }
            Ok(())
        }
        Object::Namespace(_)
        | Object::EndpointSlice(_)
        | Object::NetworkLoadBalancerConfig(_)
        | Object::IpAddressPool(_)
        | Object::BgpPeer(_)
        | Object::L2Advertisement(_)
        | Object::BgpAdvertisement(_) => Ok(()),
    }
}

fn validate_service(svc: &Service) -> FieldResult<()> {
    let mut seen = std::collections::HashSet::new();
    for (i, p) in svc.spec.ports.iter().enumerate() {
        check_port(format!("spec.ports[{i}].port"), p.port)?;
        match &p.target_port {
            Some(IntOrString::Int(0)) => {
                return err(
                    format!("spec.ports[{i}].targetPort"),
                    "port must be between 1 and 65535",
                );
            }
            Some(IntOrString::String(s)) if s.is_empty() || s.len() > 15 => {
                return err(
                    format!("spec.ports[{i}].targetPort"),
                    format!("{s:?} is not a valid port name"),
                );
            }
            _ => {}
        }
        if !seen.insert((p.protocol, p.port)) {
            return err(
                format!("spec.ports[{i}]"),
                format!("duplicate port {}/{}", p.protocol.as_str(), p.port),
            );
        }
    }
    if let Some(p) = svc.spec.external_traffic_policy.as_deref() {
        if !matches!(p, "Cluster" | "Local") {
            return err(
                "spec.externalTrafficPolicy",
                format!("{p:?} is not Cluster or Local"),
            );
        }
    }
    svc.addressing().map(drop)
}

fn validate_subnet(sub: &Subnet) -> FieldResult<()> {
    let Some(cidr) = sub.spec.cidr else {
        return err("spec.cidr", "missing");
    };
    if let Some(gw) = sub.spec.default_gateway {
        if !cidr.contains(&gw) {
            return err("spec.defaultGateway", format!("{gw} is outside {cidr}"));
        }
    }
    for (i, r) in sub.spec.ranges.iter().enumerate() {
        for (j, w) in r.ip_ranges.iter().enumerate() {
            let at = format!("spec.ranges[{i}].ipRanges[{j}]");
            for a in [w.from, w.to] {
                if !cidr.contains(&a) {
                    return err(&at, format!("{a} is outside {cidr}"));
                }
            }
            if addr_to_u128(&w.from) > addr_to_u128(&w.to) {
                return err(&at, format!("from {} is after to {}", w.from, w.to));
            }
        }
    }
    Ok(())
}
