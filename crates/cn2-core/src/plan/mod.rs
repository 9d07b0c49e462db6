//! The planner: for every service, its ClusterIPs, its external network and
//! external addresses — what CN2's Kubemanager would decide — and the
//! load-balancer objects, routes and announcements that follow.
//!
//! Services are processed in manifest order. Address decisions run in three
//! phases ([`decide`]):
//!
//! 1. ClusterIPs given in manifests are reserved (so allocation never hands
//!    them to another service);
//! 2. allocations of services that are gone, or that are no longer wanted,
//!    are released; a LoadBalancer service keeps its external addresses and
//!    network while that network is still among its selection's candidates
//!    (**stickiness**);
//! 3. everything still missing is allocated, lowest free address first.
//!
//! Then each service's load-balancer objects are built from its decision,
//! its backends and the pod interfaces ([`build_service`]), and the plan is
//! put together with every node's routes and the announcements
//! ([`assemble`]). [`plan`] runs the three steps over a whole inventory;
//! [`crate::cluster::Cluster`] runs the same steps incrementally.

mod output;

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

pub use output::{Plan, ServicePlan};

use crate::announce::resolve::POOL_ID_PREFIX;
use crate::announce::{Announcement, NodeView, ServiceAddresses, announce};
use crate::ecmp::routes::{FloatingRoute, NodeRoutes, RouteNode, node_routes};
use crate::ipam::{Allocator, Family, IpamError, Store};
use crate::lb::{
    self, BackendIndex, InterfaceIndex, ServiceAddresses as LbAddresses, ServiceObjects,
    backends_by_service, interfaces_by_ip,
};
use crate::model::inventory::NetworkSubnet;
use crate::model::{FamilyPolicy, Inventory, Network, Service, ServiceAddressing, ServiceKind};
use crate::select::{CandidateKind, ExternalSelectors, Selection};

/// The annotation choosing the member-selection algorithm (`ecmp` or
/// `maglev`): on a Service for that service, on a Namespace for its
/// services, on the Kubemanager for the whole cluster.
pub const LB_ALGORITHM_ANNOTATION: &str = "cn2.dev/lb-algorithm";

/// The member-selection algorithm of a service: the first
/// [`LB_ALGORITHM_ANNOTATION`] found on the service, on its Namespace, or on
/// the Kubemanager (the cluster-wide default), else `ecmp`. A value other
/// than `ecmp` or `maglev` is ignored with a warning naming where it is,
/// and the next level decides.
fn lb_algorithm(inv: &Inventory, svc: &Service, warnings: &mut Vec<String>) -> &'static str {
    let ns = &svc.metadata.namespace;
    let levels = [
        (Some(&svc.metadata), "service"),
        (inv.namespaces.get(ns).map(|n| &n.metadata), "Namespace"),
        (inv.kubemanager.as_ref().map(|k| &k.metadata), "Kubemanager"),
    ];
    for (meta, level) in levels {
        let Some(value) = meta.and_then(|m| m.annotations.get(LB_ALGORITHM_ANNOTATION)) else {
            continue;
        };
        match value.trim() {
            "ecmp" => return "ecmp",
            "maglev" => return "maglev",
            other => {
                let what = match level {
                    "Namespace" => format!("Namespace {ns}"),
                    _ => level.to_string(),
                };
                warnings.push(format!(
                    "annotation {LB_ALGORITHM_ANNOTATION} on the {what}: {other:?} is not ecmp or maglev; ignored"
                ));
            }
        }
    }
    "ecmp"
}

/// Errors of planning (bad input is reported per service, as pending).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The allocator or its store failed.
    #[error(transparent)]
    Ipam(#[from] IpamError),
}

/// The owner key of one of a service's addresses.
fn owner(key: &str, role: &str, family: Family) -> String {
    format!("service/{key}/{role}/{family}")
}

/// Splits an owner key made by [`owner`] into service key, role and family.
fn parse_owner(o: &str) -> Option<(&str, &str, Family)> {
    let rest = o.strip_prefix("service/")?;
    let (rest, fam) = rest.rsplit_once('/')?;
    let (key, role) = rest.rsplit_once('/')?;
    let fam = match fam {
        "v4" => Family::V4,
        "v6" => Family::V6,
        _ => return None,
    };
    Some((key, role, fam))
}

/// The key a service's allocations are held under: its UID, else `namespace/name`.
pub fn service_key(svc: &Service) -> String {
    if svc.metadata.uid.is_empty() {
        format!("{}/{}", svc.metadata.namespace, svc.metadata.name)
    } else {
        svc.metadata.uid.clone()
    }
}

/// The address decisions for one service.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The key its allocations are held under ([`service_key`]).
    pub key: String,
    /// Its addressing fields.
    pub addr: ServiceAddressing,
    /// Why it is not (fully) served, one reason per problem.
    pub pending: Vec<String>,
    /// Warnings about it.
    pub warnings: Vec<String>,
    /// Its ClusterIPs, in family order.
    pub cluster_ips: Vec<IpAddr>,
    /// Its external network, for LoadBalancer services.
    pub external_network: Option<String>,
    /// The address pool its external addresses come from, if a pool.
    pub address_pool: Option<String>,
    /// Its external addresses, in family order.
    pub external_ips: Vec<IpAddr>,
    /// `ecmp` or `maglev`.
    pub lb_algorithm: &'static str,
}

impl Decision {
    /// Whether the service gets a loadbalancer at all: not headless, not
    /// ExternalName, and holding a ClusterIP.
    pub fn has_load_balancer(&self) -> bool {
        !self.cluster_ips.is_empty()
            && !self.addr.headless
            && self.addr.kind != ServiceKind::ExternalName
    }
}

struct Work<'a> {
    svc: &'a Service,
    key: String,
    addr: ServiceAddressing,
    pending: Vec<String>,
    warnings: Vec<String>,
    cluster_ips: Vec<IpAddr>,
    selection: Option<Selection>,
    sticky: Option<String>,
    external_network: Option<String>,
    address_pool: Option<String>,
    external_ips: Vec<IpAddr>,
    lb_algorithm: &'static str,
}

/// Plans every service of the inventory, allocating through `alloc`.
pub fn plan<S: Store>(inv: &Inventory, alloc: &mut Allocator<S>) -> Result<Plan, PlanError> {
    let decisions = decide(inv, alloc)?;
    let interfaces = interfaces_by_ip(inv);
    let backends = backends_by_service(inv);
    let service_network = service_network_id(inv);
    let results = inv
        .services
        .iter()
        .zip(decisions)
        .map(|((_, svc), decision)| {
            let built = build_service(svc, &decision, &service_network, &backends, &interfaces);
            ServiceResult {
                svc,
                decision,
                built,
            }
        })
        .collect();
    Ok(assemble(inv, &interfaces, results, inv.warnings.clone()))
}

/// Decides the addresses of every service of the inventory (in its order),
/// allocating through `alloc`: the three phases of the module docs. The
/// result has one decision per service, in the inventory's order.
pub fn decide<S: Store>(
    inv: &Inventory,
    alloc: &mut Allocator<S>,
) -> Result<Vec<Decision>, PlanError> {
    let services: Vec<&Service> = inv.services.iter().map(|(_, s)| s).collect();
    decide_services(inv, &services, alloc, Scope::All)
}

/// Which allocations a run of [`decide_services`] may release.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// The services given are all the services: the addresses of every other
    /// owner are released.
    All,
    /// Only the services given are decided (the others keep what they
    /// hold); the addresses of the services with these keys
    /// ([`service_key`]), which are gone, are released.
    Some {
        /// Keys of services that no longer exist.
        gone: &'a [String],
    },
}

/// Decides the addresses of `services` (in manifest order), with the
/// networks, namespaces and Kubemanager of `inv`: the three phases of the
/// module docs. With [`Scope::Some`], the services not given must be ones
/// whose decision cannot change (nothing they depend on changed, and they
/// are not pending); their allocations are left alone. The result has one
/// decision per service given, in order.
pub fn decide_services<S: Store>(
    inv: &Inventory,
    services: &[&Service],
    alloc: &mut Allocator<S>,
    scope: Scope<'_>,
) -> Result<Vec<Decision>, PlanError> {
    register_pools(inv, alloc)?;
    // A ClusterIP and an external address per family, at most.
    alloc.reserve(services.len() * 2);
    let mut selectors = ExternalSelectors::new(inv);
    let mut work: Vec<Work> = services
        .iter()
        .map(|&svc| Work {
            svc,
            key: service_key(svc),
            addr: svc.addressing().expect("validated at load"),
            pending: Vec::new(),
            warnings: Vec::new(),
            cluster_ips: Vec::new(),
            selection: None,
            sticky: None,
            external_network: None,
            address_pool: None,
            external_ips: Vec::new(),
            lb_algorithm: "ecmp",
        })
        .collect();

    for w in &mut work {
        w.lb_algorithm = lb_algorithm(inv, w.svc, &mut w.warnings);
    }

    // Phase 1: ClusterIPs given in manifests.
    let svc_net = inv.service_network.as_ref();
    for w in &mut work {
        for ip in w.addr.cluster_ips.clone() {
            let fam = Family::of(&ip);
            if let Some(sub) = svc_net
                .and_then(|n| n.subnet(fam))
                .filter(|s| s.contains(&ip))
            {
                if let Err(e) = alloc.request(&sub.pool, &owner(&w.key, "cluster", fam), ip) {
                    w.pending.push(match e {
                        IpamError::AddressInUse { .. } => {
                            format!("clusterIP {ip} is already in use")
                        }
                        other => format!("clusterIP {ip}: {other}"),
                    });
                    continue;
                }
            }
            w.cluster_ips.push(ip);
        }
    }

    // Phase 2: release what is no longer wanted; decide stickiness.
    let wanted: HashMap<&str, &Work> = work
        .iter()
        .filter(|w| !w.addr.headless && w.addr.kind != ServiceKind::ExternalName)
        .map(|w| (w.key.as_str(), w))
        .collect();
    let keep = |o: &str| {
        parse_owner(o).is_some_and(|(key, role, fam)| {
            wanted.get(key).is_some_and(|w| {
                w.addr.families.contains(&fam)
                    && (role == "cluster"
                        || (role == "external" && w.addr.kind == ServiceKind::LoadBalancer))
            })
        })
    };
    match scope {
        Scope::All => alloc.retain_owners(keep)?,
        Scope::Some { gone } => {
            let keys = gone
                .iter()
                .map(String::as_str)
                .chain(work.iter().map(|w| w.key.as_str()));
            for key in keys {
                for role in ["cluster", "external"] {
                    for fam in [Family::V4, Family::V6] {
                        let o = owner(key, role, fam);
                        if !keep(&o) {
                            alloc.release_owner(&o)?;
                        }
                    }
                }
            }
        }
    }
    for w in &mut work {
        if w.addr.kind != ServiceKind::LoadBalancer {
            continue;
        }
        let selection = selectors.select(inv, w.svc);
        if alloc.is_empty() {
            w.selection = Some(selection);
            continue;
        }
        let held: Vec<(Family, String, IpAddr)> = w
            .addr
            .families
            .iter()
            .filter_map(|&f| {
                let o = owner(&w.key, "external", f);
                alloc.holding(&o).map(|(p, a)| (f, p.to_string(), a))
            })
            .collect();
        if !held.is_empty() {
            let keep = match &selection {
                Selection::Candidates { networks, .. } => networks
                    .iter()
                    .map(|id| inv.network(id).expect("candidates exist"))
                    .find(|n| {
                        held.iter()
                            .all(|(f, p, _)| n.subnet(*f).is_some_and(|s| &s.pool == p))
                    })
                    .filter(|n| {
                        let assigned: Vec<Family> = w
                            .addr
                            .families
                            .iter()
                            .copied()
                            .filter(|&f| n.subnet(f).is_some())
                            .collect();
                        let held_f: Vec<Family> = held.iter().map(|h| h.0).collect();
                        let all = assigned.len() == w.addr.families.len();
                        let policy_ok = w.addr.policy == FamilyPolicy::PreferDualStack || all;
                        policy_ok && assigned == held_f && requests_agree(&w.addr, &held)
                    })
                    .map(|n| n.id.clone()),
                Selection::Pending(_) => None,
            };
            match keep {
                Some(id) => w.sticky = Some(id),
                None => {
                    for (f, p, _) in &held {
                        alloc.release(p, &owner(&w.key, "external", *f))?;
                    }
                }
            }
        }
        w.selection = Some(selection);
    }

    // Phase 3: allocate what is missing, in manifest order.
    for w in &mut work {
        if w.addr.headless || w.addr.kind == ServiceKind::ExternalName {
            continue;
        }
        allocate_cluster_ips(inv, alloc, w)?;
        if w.addr.kind == ServiceKind::LoadBalancer {
            allocate_external(inv, alloc, w)?;
        }
    }
    alloc.flush()?;
    Ok(work
        .into_iter()
        .map(|w| Decision {
            key: w.key,
            addr: w.addr,
            pending: w.pending,
            warnings: w.warnings,
            cluster_ips: w.cluster_ips,
            external_network: w.external_network,
            address_pool: w.address_pool,
            external_ips: w.external_ips,
            lb_algorithm: w.lb_algorithm,
        })
        .collect())
}

/// The service network's id (also when no Kubemanager defines it).
pub fn service_network_id(inv: &Inventory) -> String {
    inv.service_network.as_ref().map_or_else(
        || format!("{}/service-network", inv.control_namespace()),
        |n| n.id.clone(),
    )
}

/// Builds the load-balancer objects of one service from its decision:
/// `None` when it gets no loadbalancer (headless, ExternalName, no
/// ClusterIP), `Some(Err(reason))` when its ports are unusable (the reason
/// makes it pending).
pub fn build_service(
    svc: &Service,
    d: &Decision,
    service_network: &str,
    backends: &BackendIndex,
    interfaces: &InterfaceIndex,
) -> Option<Result<ServiceObjects, String>> {
    if !d.has_load_balancer() {
        return None;
    }
    let external = d.external_network.clone().or_else(|| {
        d.address_pool
            .as_ref()
            .map(|p| format!("{POOL_ID_PREFIX}{p}"))
    });
    let addrs = LbAddresses {
        cluster_ips: &d.cluster_ips,
        service_network,
        external: external.as_deref().map(|n| (n, d.external_ips.as_slice())),
    };
    let m = &svc.metadata;
    let b = backends.of(&m.namespace, &m.name);
    Some(lb::build(svc, addrs, &b, interfaces))
}

/// One service's decision and objects, as [`assemble`] takes them.
#[derive(Debug)]
pub struct ServiceResult<'a> {
    /// The service.
    pub svc: &'a Service,
    /// Its address decision.
    pub decision: Decision,
    /// Its objects, from [`build_service`].
    pub built: Option<Result<ServiceObjects, String>>,
}

/// Puts the plan together: every service's entry (sorted), every node's
/// routes and the announcements of external addresses. `inv` provides the
/// nodes, networks and announcement config; `warnings` are plan-wide.
pub fn assemble(
    inv: &Inventory,
    interfaces: &InterfaceIndex,
    results: Vec<ServiceResult<'_>>,
    warnings: Vec<String>,
) -> Plan {
    let nodes = routes_of(inv, interfaces, &results);
    let (announcements, extra) = announce_all(inv, &results);
    let mut services: Vec<ServicePlan> = results
        .into_iter()
        .zip(extra)
        .map(|(r, extra)| {
            let d = r.decision;
            let mut pending = d.pending;
            let (load_balancer, instance_ips, floating_ips) = match r.built {
                Some(Ok(o)) => (Some(o.load_balancer), o.instance_ips, o.floating_ips),
                Some(Err(reason)) => {
                    pending.push(reason);
                    (None, Vec::new(), Vec::new())
                }
                None => (None, Vec::new(), Vec::new()),
            };
            let mut warnings = d.warnings;
            warnings.extend(extra);
            ServicePlan {
                namespace: r.svc.metadata.namespace.clone(),
                name: r.svc.metadata.name.clone(),
                kind: d.addr.kind.as_str().to_string(),
                cluster_ips: d.cluster_ips,
                external_network: d.external_network,
                address_pool: d.address_pool,
                external_ips: d.external_ips,
                lb_algorithm: d.lb_algorithm,
                load_balancer,
                instance_ips,
                floating_ips,
                pending: (!pending.is_empty()).then(|| pending.join("; ")),
                warnings,
            }
        })
        .collect();
    services.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    Plan {
        services,
        nodes,
        announcements,
        warnings,
    }
}

/// Every node's routes for the FloatingIPs of every service.
fn routes_of(
    inv: &Inventory,
    interfaces: &InterfaceIndex,
    results: &[ServiceResult<'_>],
) -> Vec<NodeRoutes> {
    let mut secondary: HashMap<&str, BTreeSet<String>> = HashMap::new();
    for (_, i) in interfaces.iter() {
        if let Some(net) = &i.network {
            secondary.entry(&*i.node).or_default().insert(net.clone());
        }
    }
    let nodes: Vec<RouteNode> = inv
        .nodes
        .values()
        .map(|n| RouteNode {
            name: &n.metadata.name,
            fabric_ip: n.internal_ip(),
            networks: secondary
                .remove(n.metadata.name.as_str())
                .unwrap_or_default(),
        })
        .collect();
    let service_network = service_network_id(inv);
    let mut fips = Vec::new();
    for o in results
        .iter()
        .filter_map(|r| r.built.as_ref().and_then(|b| b.as_ref().ok()))
    {
        let mut members: Vec<&lb::Member> = Vec::new();
        for m in o
            .load_balancer
            .listeners
            .iter()
            .flat_map(|l| &l.pool.members)
        {
            if !members.iter().any(|x| x.address == m.address) {
                members.push(m);
            }
        }
        for f in &o.floating_ips {
            fips.push(FloatingRoute {
                address: f.address,
                network: &f.network,
                in_service_network: f.network == service_network,
                members: members.clone(),
            });
        }
    }
    let pod_network = inv.pod_network.as_ref().map_or_else(
        || format!("{}/pod-network", inv.control_namespace()),
        |n| n.id.clone(),
    );
    node_routes(&nodes, &fips, &pod_network, inv.encapsulation)
}

/// Announcements of every service's external addresses, sorted, and the
/// warnings about them per service (in the order of `results`).
fn announce_all(
    inv: &Inventory,
    results: &[ServiceResult<'_>],
) -> (Vec<Announcement>, Vec<Vec<String>>) {
    let nodes: Vec<NodeView> = inv
        .nodes
        .values()
        .map(|n| NodeView {
            name: &n.metadata.name,
            labels: &n.metadata.labels,
            fabric_ip: n.internal_ip(),
            taints: &n.spec.taints,
        })
        .collect();
    let mut out = Vec::new();
    let mut warnings = vec![Vec::new(); results.len()];
    for (r, warn) in results
        .iter()
        .zip(warnings.iter_mut())
        .filter(|(r, _)| !r.decision.external_ips.is_empty())
    {
        let d = &r.decision;
        let member_nodes: BTreeSet<String> = r
            .built
            .iter()
            .filter_map(|b| b.as_ref().ok())
            .flat_map(|o| &o.load_balancer.listeners)
            .flat_map(|l| &l.pool.members)
            .filter_map(|m| m.node.clone())
            .collect();
        let m = &r.svc.metadata;
        let pool = d.address_pool.as_deref().and_then(|p| inv.announce.pool(p));
        let communities = d
            .external_network
            .as_deref()
            .and_then(|id| inv.network(id))
            .map(Network::exported_route_targets)
            .unwrap_or_default();
        let svc = ServiceAddresses {
            service: format!("{}/{}", m.namespace, m.name),
            addresses: &d.external_ips,
            pool,
            communities,
            local_only: r.svc.spec.external_traffic_policy.as_deref() == Some("Local"),
            endpoint_nodes: &member_nodes,
        };
        out.extend(announce(&inv.announce, &nodes, &svc, warn));
    }
    out.sort();
    (out, warnings)
}

/// Whether held addresses satisfy the service's requested addresses.
fn requests_agree(addr: &ServiceAddressing, held: &[(Family, String, IpAddr)]) -> bool {
    held.iter()
        .all(|(f, _, a)| requested(addr, *f).is_none_or(|r| r == *a))
}

/// The address a service requests for a family (`loadBalancerIP` or the
/// `metallb.io/loadBalancerIPs` annotation, then `externalIPs`).
fn requested(addr: &ServiceAddressing, family: Family) -> Option<IpAddr> {
    addr.load_balancer_ips
        .iter()
        .chain(&addr.external_ips)
        .copied()
        .find(|a| Family::of(a) == family)
}

fn register_pools<S: Store>(inv: &Inventory, alloc: &mut Allocator<S>) -> Result<(), PlanError> {
    let nets = inv
        .networks
        .values()
        .chain(inv.pool_networks.values())
        .chain(inv.service_network.as_ref());
    for net in nets {
        for sub in [&net.v4, &net.v6].into_iter().flatten() {
            if !alloc.has_pool(&sub.pool) {
                alloc.add_pool(&sub.pool, sub.build_pool()?)?;
            }
        }
    }
    Ok(())
}

fn allocate_cluster_ips<S: Store>(
    inv: &Inventory,
    alloc: &mut Allocator<S>,
    w: &mut Work,
) -> Result<(), PlanError> {
    if !w.addr.cluster_ips.is_empty() {
        return Ok(()); // given in the manifest, reserved in phase 1
    }
    let net = inv.service_network.as_ref();
    let mut missing = Vec::new();
    for &f in &w.addr.families {
        let Some(sub) = net.and_then(|n| n.subnet(f)) else {
            missing.push(f);
            continue;
        };
        match alloc.allocate(&sub.pool, &owner(&w.key, "cluster", f)) {
            Ok(ip) => w.cluster_ips.push(ip),
            Err(IpamError::Exhausted { pool }) => {
                w.pending.push(format!("no free ClusterIP left in {pool}"))
            }
            Err(e) => return Err(e.into()),
        }
    }
    let tolerated = w.addr.policy == FamilyPolicy::PreferDualStack && !w.cluster_ips.is_empty();
    if !missing.is_empty() && !tolerated {
        let fields: Vec<String> = missing
            .iter()
            .map(|f| format!("spec.service{}Subnet", f.as_str().to_uppercase()))
            .collect();
        w.pending.push(format!(
            "no ClusterIP given and no service subnet to allocate one from (Kubemanager {})",
            fields.join(", ")
        ));
    }
    Ok(())
}

/// The families a network would assign to a service, or `None` if it does
/// not qualify. With `why`, the reasons it does not qualify are appended.
fn qualify<S: Store>(
    alloc: &Allocator<S>,
    net: &Network,
    addr: &ServiceAddressing,
    mut why: Option<&mut Vec<String>>,
) -> Option<Vec<Family>> {
    let mut assign = Vec::with_capacity(addr.families.len());
    let mut failed = false;
    for &f in &addr.families {
        let problem = match net.subnet(f) {
            None => why
                .as_ref()
                .map(|_| format!("has no {} subnet", f.kube_name())),
            Some(sub) => match check_subnet(alloc, sub, requested(addr, f), why.is_some()) {
                Ok(()) => {
                    assign.push(f);
                    continue;
                }
                Err(p) => p,
            },
        };
        failed = true;
        if let (Some(w), Some(p)) = (why.as_deref_mut(), problem) {
            w.push(p);
        }
    }
    let ok = match addr.policy {
        FamilyPolicy::PreferDualStack => !assign.is_empty(),
        _ => !failed,
    };
    ok.then_some(assign)
}

/// Whether a subnet can serve a request; the reason is only spelled out
/// when `explain` is set (skipping a full network must stay cheap).
fn check_subnet<S: Store>(
    alloc: &Allocator<S>,
    sub: &NetworkSubnet,
    request: Option<IpAddr>,
    explain: bool,
) -> Result<(), Option<String>> {
    let pool = alloc.pool(&sub.pool).expect("pools registered");
    let reason = match request {
        Some(ip) if !sub.contains(&ip) => {
            format!(
                "does not contain requested address {ip} ({})",
                sub.describe()
            )
        }
        Some(ip) if !pool.is_usable(&ip) => {
            format!("cannot hand out requested address {ip} (reserved or outside its ranges)")
        }
        Some(ip) if !pool.is_free(&ip) => format!("has requested address {ip} already in use"),
        Some(_) => return Ok(()),
        None if pool.is_exhausted() => {
            if !explain {
                return Err(None);
            }
            format!("has no free {} address", sub.family().kube_name())
        }
        None => return Ok(()),
    };
    Err(explain.then_some(reason))
}

fn allocate_external<S: Store>(
    inv: &Inventory,
    alloc: &mut Allocator<S>,
    w: &mut Work,
) -> Result<(), PlanError> {
    let Some(Selection::Candidates {
        networks,
        via,
        kind,
    }) = w.selection.clone()
    else {
        if let Some(Selection::Pending(reason)) = &w.selection {
            w.pending.push(reason.clone());
        }
        return Ok(());
    };
    if kind == CandidateKind::Selector && networks.len() > 1 {
        w.warnings.push(format!(
            "{via} matched {} networks: {}",
            networks.len(),
            networks.join(", ")
        ));
    }
    let chosen: Option<(&Network, Vec<Family>)> = if let Some(id) = &w.sticky {
        let net = inv.network(id).expect("candidates exist");
        let fams = w
            .addr
            .families
            .iter()
            .copied()
            .filter(|&f| net.subnet(f).is_some())
            .collect();
        Some((net, fams))
    } else {
        let found = networks.iter().find_map(|id| {
            let net = inv.network(id).expect("candidates exist");
            qualify(alloc, net, &w.addr, None).map(|fams| (net, fams))
        });
        if found.is_none() {
            let problems: Vec<String> = networks
                .iter()
                .map(|id| {
                    let mut why = Vec::new();
                    qualify(
                        alloc,
                        inv.network(id).expect("candidates exist"),
                        &w.addr,
                        Some(&mut why),
                    );
                    format!("{id} {}", why.join(", "))
                })
                .collect();
            w.pending.push(match kind {
                CandidateKind::Selector => {
                    format!("no network of {via} qualifies: {}", problems.join("; "))
                }
                CandidateKind::Exact => format!("external network {}", problems.join("; ")),
                CandidateKind::Pools => {
                    format!("no pool of {via} qualifies: {}", problems.join("; "))
                }
            });
        }
        found
    };
    let Some((net, fams)) = chosen else {
        return Ok(());
    };
    for f in fams {
        let sub = net.subnet(f).expect("qualified");
        let o = owner(&w.key, "external", f);
        let ip = match requested(&w.addr, f) {
            Some(r) => alloc.request(&sub.pool, &o, r)?,
            None => alloc.allocate(&sub.pool, &o)?,
        };
        w.external_ips.push(ip);
    }
    if kind == CandidateKind::Pools {
        w.address_pool = Some(net.name.clone());
    } else {
        w.external_network = Some(net.id.clone());
    }
    Ok(())
}
