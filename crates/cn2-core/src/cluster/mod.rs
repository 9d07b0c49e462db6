//! Incremental cluster state: objects and address allocations, changed one
//! object at a time, with the plan and what each change did to the
//! load-balancer objects.
//!
//! A [`Cluster`] holds every applied object, the allocator and, per service,
//! its address decision and its load-balancer objects. Applying or deleting
//! objects returns a [`Report`]: the objects rejected (with the reason) and
//! the [`Diff`] of loadbalancers, listeners, pools, members, InstanceIPs and
//! FloatingIPs created, changed and deleted. [`Cluster::plan`] puts the
//! whole plan together, the same as [`crate::plan::plan`] gives for the same
//! objects in the same order, except that next-hop ids stay with their next
//! hops from one [`Cluster::plan`] to the next.
//!
//! # Cost of a change
//!
//! * An `Endpoints` or `EndpointSlice` change touches the backends of its
//!   service only, and rebuilds that service's objects: O(that service).
//! * A `Pod` change re-maps its addresses in the interface index and
//!   rebuilds the services that list one of them as a backend.
//! * A `Service` change decides the addresses of that service and of the
//!   services still waiting for addresses (pending, or short of a family),
//!   in manifest order; the addresses of a deleted service are released.
//!   Every other service keeps its decision: O(changed + waiting services).
//! * A `Node` change only updates what routes and announcements are made
//!   from when the plan is put together.
//! * A change of networks, namespaces, the Kubemanager or address pools
//!   resolves them again and re-runs the address decisions of every
//!   service (allocations held are kept, so only what changed moves), then
//!   rebuilds the objects of the services whose decision changed:
//!   O(services).
//!
//! # Identity
//!
//! Endpoint churn changes only members and the FloatingIPs' interface lists
//! and port maps: the loadbalancer, its listeners and pools, the InstanceIPs
//! and every address keep their identity. Deleting a service deletes every
//! object it owned and releases its addresses.
//!
//! # Manifest order
//!
//! Objects are ordered by when they were first applied; replacing an object
//! keeps its place, deleting and applying it again puts it last. Address
//! decisions follow this order, as a plan of the objects in this order does.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use rustc_hash::{FxHashMap as HashMap, FxHashSet};

use crate::ecmp::NodeNextHopIds;
use crate::ipam::{Allocator, IpamError, MemoryStore, Store};
use crate::lb::endpoints::{endpoints_backends, slice_backends};
use crate::lb::{BackendIndex, Diff, InterfaceIndex, ServiceObjects, diff_service};
use crate::model::{Document, Inventory, Manifests, ModelError, Object, Service, load_str_each};
use crate::plan::{
    Decision, Plan, PlanError, Scope, ServiceResult, assemble, build_service, decide_services,
    service_key, service_network_id,
};

/// Errors of a cluster (bad objects are not errors: they are rejected and
/// reported in the [`Report`]).
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The allocator or its store failed.
    #[error(transparent)]
    Ipam(#[from] IpamError),
}

impl From<PlanError> for ClusterError {
    fn from(e: PlanError) -> ClusterError {
        match e {
            PlanError::Ipam(e) => ClusterError::Ipam(e),
        }
    }
}

/// An object's identity: its kind and `namespace/name` (or name).
pub type ObjectKey = (&'static str, String);

/// The key of a document's object.
pub fn object_key(doc: &Document) -> ObjectKey {
    (doc.object.kind(), doc.object.display_name())
}

/// What one apply or delete did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Load-balancer objects created, changed and deleted.
    pub diff: Diff,
    /// Objects not applied (or not deleted), each with the reason, naming
    /// the object and where it came from.
    pub rejected: Vec<String>,
    /// Warnings of loading (unknown kinds skipped).
    pub warnings: Vec<String>,
    /// How many objects were applied or deleted.
    pub accepted: usize,
    /// Objects asked to be deleted that were not there (also in `rejected`).
    pub not_found: Vec<ObjectKey>,
}

/// A service's identity in the indexes: `namespace/name`.
type SvcId = Arc<str>;

fn svc_id(namespace: &str, name: &str) -> SvcId {
    Arc::from(format!("{namespace}/{name}"))
}

#[derive(Debug, Clone)]
struct Entry {
    /// Position in manifest order.
    order: u64,
    doc: Document,
}

/// A service's state: its object, decision and built objects.
#[derive(Debug, Clone)]
struct SvcState {
    /// Position in manifest order.
    order: u64,
    svc: Service,
    /// `None` until the first decision.
    decision: Option<Decision>,
    built: Option<Result<ServiceObjects, String>>,
}

impl SvcState {
    fn objects(&self) -> Option<&ServiceObjects> {
        self.built.as_ref().and_then(|b| b.as_ref().ok())
    }
}

/// Whether an object is part of the topology that address decisions of
/// every service depend on (everything but services, pods and endpoint
/// objects).
fn is_topology(o: &Object) -> bool {
    !matches!(
        o,
        Object::Service(_) | Object::Pod(_) | Object::Endpoints(_) | Object::EndpointSlice(_)
    )
}

/// Whether a decision can change without a change of its service or of the
/// topology: it is pending, or holds fewer addresses than it has families
/// (addresses released by other services may complete it).
fn unsettled(d: &Decision) -> bool {
    let fams = d.addr.families.len();
    let no_lb = d.addr.headless || d.addr.kind == crate::model::ServiceKind::ExternalName;
    !d.pending.is_empty()
        || (!no_lb && d.cluster_ips.len() < fams)
        || (d.addr.kind == crate::model::ServiceKind::LoadBalancer && d.external_ips.len() < fams)
}

/// The service an endpoint object feeds, if any.
fn endpoint_service(o: &Object) -> Option<(String, String)> {
    match o {
        Object::Endpoints(ep) => Some((ep.metadata.namespace.clone(), ep.metadata.name.clone())),
        Object::EndpointSlice(sl) => {
            slice_backends(sl).map(|(svc, _)| (sl.metadata.namespace.clone(), svc.to_string()))
        }
        _ => None,
    }
}

/// A topology change waiting for the inventory to be resolved.
struct Pending {
    key: ObjectKey,
    previous: Option<Entry>,
    /// The change's object and source, to find it in resolution errors.
    place: Option<(String, usize)>,
}

/// Cluster objects, allocations and per-service load-balancer state.
#[derive(Debug)]
pub struct Cluster<S: Store = MemoryStore> {
    alloc: Allocator<S>,
    objects: HashMap<ObjectKey, Entry>,
    /// Topology objects (not pods or endpoint objects) by manifest order.
    topology: BTreeMap<u64, ObjectKey>,
    next_order: u64,
    /// Networks, namespaces, nodes, Kubemanager and pools (services are in
    /// `services`, in the order of `service_order`).
    inv: Inventory,
    service_network: String,
    interfaces: InterfaceIndex,
    backends: BackendIndex,
    /// Backend addresses of each service (what `users` was built from).
    backend_ips: HashMap<SvcId, Vec<IpAddr>>,
    /// Address → the services listing it as a backend (with a count).
    users: HashMap<IpAddr, Vec<(SvcId, u32)>>,
    services: HashMap<SvcId, SvcState>,
    /// Services by manifest order.
    service_order: BTreeMap<u64, SvcId>,
    /// Services whose decision is [`unsettled`] or not made yet, by
    /// manifest order.
    unsettled: BTreeMap<u64, SvcId>,
    /// Next-hop ids of the last plan, kept for the next.
    next_hop_ids: NodeNextHopIds,
}

/// Service changes of one call, for the address decisions.
#[derive(Default)]
struct ServiceChanges {
    /// Services added or replaced.
    changed: Vec<SvcId>,
    /// Allocation keys of services that are gone (deleted, or whose UID changed).
    gone: Vec<String>,
}

impl Default for Cluster<MemoryStore> {
    fn default() -> Self {
        Cluster::new()
    }
}

impl Cluster<MemoryStore> {
    /// An empty cluster whose allocations live as long as it does.
    pub fn new() -> Cluster<MemoryStore> {
        Cluster::with_allocator(Allocator::in_memory())
    }
}

impl<S: Store> Cluster<S> {
    /// An empty cluster allocating through `alloc` (e.g. over a
    /// [`JsonFileStore`](crate::ipam::JsonFileStore), so that addresses
    /// survive a restart: applying the same objects again gives the same
    /// addresses).
    pub fn with_allocator(alloc: Allocator<S>) -> Cluster<S> {
        let inv = Inventory::default();
        Cluster {
            alloc,
            objects: HashMap::default(),
            topology: BTreeMap::new(),
            next_order: 0,
            service_network: service_network_id(&inv),
            inv,
            interfaces: InterfaceIndex::default(),
            backends: BackendIndex::default(),
            backend_ips: HashMap::default(),
            users: HashMap::default(),
            services: HashMap::default(),
            service_order: BTreeMap::new(),
            unsettled: BTreeMap::new(),
            next_hop_ids: NodeNextHopIds::new(),
        }
    }

    /// The allocator.
    pub fn allocator(&self) -> &Allocator<S> {
        &self.alloc
    }

    /// The number of objects held.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether no object is held.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Every object held, in manifest order.
    pub fn documents(&self) -> Vec<&Document> {
        let mut all: Vec<&Entry> = self.objects.values().collect();
        all.sort_by_key(|e| e.order);
        all.into_iter().map(|e| &e.doc).collect()
    }

    /// Whether an object of that key is held.
    pub fn contains(&self, key: &ObjectKey) -> bool {
        self.objects.contains_key(key)
    }

    /// Applies objects: new ones are added, ones of the same kind,
    /// namespace and name replaced. An object that contradicts the others
    /// (a VirtualNetwork naming a missing Subnet, two networks of one name)
    /// is rejected alone and the rest applied.
    pub fn apply(&mut self, manifests: Manifests) -> Result<Report, ClusterError> {
        self.change(&[], manifests)
    }

    /// Deletes the objects of these keys. A key that is not held, or whose
    /// removal would break another object (a Subnet still referenced), is
    /// reported as rejected; the others are deleted.
    pub fn delete(&mut self, keys: &[ObjectKey]) -> Result<Report, ClusterError> {
        self.change(keys, Manifests::default())
    }

    /// Makes the held objects exactly `manifests`: objects not in it are
    /// deleted, the others applied (new ones after the existing ones), as one
    /// change whose diff goes from the old set to the new one.
    pub fn replace_all(&mut self, manifests: Manifests) -> Result<Report, ClusterError> {
        let wanted: HashSet<ObjectKey> = manifests.documents.iter().map(object_key).collect();
        let gone: Vec<ObjectKey> = self
            .documents()
            .into_iter()
            .map(object_key)
            .filter(|k| !wanted.contains(k))
            .collect();
        self.change(&gone, manifests)
    }

    /// Deletes `deletes`, then applies `puts`, and reports the net diff.
    fn change(
        &mut self,
        deletes: &[ObjectKey],
        manifests: Manifests,
    ) -> Result<Report, ClusterError> {
        let mut report = Report {
            warnings: manifests.warnings,
            ..Report::default()
        };
        let mut dirty = FxHashSet::default();
        let mut pending = Vec::new();
        let mut services = ServiceChanges::default();
        for key in deletes {
            let Some(previous) = self.objects.remove(key) else {
                report
                    .rejected
                    .push(format!("{} {} not found", key.0, key.1));
                report.not_found.push(key.clone());
                continue;
            };
            if let Object::Service(svc) = &previous.doc.object {
                self.delete_service(svc, &mut services, &mut dirty, &mut report.diff);
                report.accepted += 1;
            } else if is_topology(&previous.doc.object) {
                self.topology.remove(&previous.order);
                pending.push(Pending {
                    key: key.clone(),
                    previous: Some(previous),
                    place: None,
                });
            } else {
                self.endpoint_change(key, Some(&previous), &mut dirty);
                report.accepted += 1;
            }
        }
        for doc in manifests.documents {
            let key = object_key(&doc);
            let place = Some((doc.source.file.clone(), doc.source.document));
            let order = match self.objects.get(&key) {
                Some(e) => e.order,
                None => {
                    self.next_order += 1;
                    self.next_order
                }
            };
            let topology = is_topology(&doc.object);
            if let Object::Service(svc) = &doc.object {
                self.put_service(order, svc, &mut services);
                report.accepted += 1;
                self.objects.insert(key, Entry { order, doc });
                continue;
            }
            let previous = self.objects.insert(key.clone(), Entry { order, doc });
            if topology {
                self.topology.insert(order, key.clone());
                pending.push(Pending {
                    key,
                    previous,
                    place,
                });
            } else {
                self.endpoint_change(&key, previous.as_ref(), &mut dirty);
                report.accepted += 1;
            }
        }
        self.finish(pending, services, dirty, &mut report)?;
        Ok(report)
    }

    /// Records a new or replaced service.
    fn put_service(&mut self, order: u64, svc: &Service, changes: &mut ServiceChanges) {
        let id = svc_id(&svc.metadata.namespace, &svc.metadata.name);
        match self.services.get_mut(&id) {
            Some(st) => {
                let old_key = service_key(&st.svc);
                if old_key != service_key(svc) {
                    changes.gone.push(old_key);
                }
                st.svc = svc.clone();
            }
            None => {
                self.service_order.insert(order, id.clone());
                // Undecided until the decisions of this call run (kept in
                // the set if they fail, so that the next call decides it).
                self.unsettled.insert(order, id.clone());
                self.services.insert(
                    id.clone(),
                    SvcState {
                        order,
                        svc: svc.clone(),
                        decision: None,
                        built: None,
                    },
                );
            }
        }
        changes.changed.push(id);
    }

    /// Forgets a deleted service: its objects are deleted, its addresses
    /// released by the next decisions.
    fn delete_service(
        &mut self,
        svc: &Service,
        changes: &mut ServiceChanges,
        dirty: &mut FxHashSet<SvcId>,
        diff: &mut Diff,
    ) {
        let id = svc_id(&svc.metadata.namespace, &svc.metadata.name);
        if let Some(st) = self.services.remove(&id) {
            self.service_order.remove(&st.order);
            self.unsettled.remove(&st.order);
            diff_service(&id, st.objects(), None, diff);
            changes.gone.push(service_key(&st.svc));
        }
        changes.changed.retain(|c| *c != id);
        dirty.remove(&id);
    }

    /// Loads manifest text (YAML or JSON, several documents, `kind: List`)
    /// named `file` in messages, and applies every good object; objects that
    /// fail to parse are rejected alone.
    pub fn apply_str(&mut self, file: &str, text: &str) -> Result<Report, ClusterError> {
        let (loaded, errors) = load_str_each(file, text);
        let mut report = self.apply(loaded)?;
        report
            .rejected
            .splice(0..0, errors.iter().map(ToString::to_string));
        Ok(report)
    }

    /// Deletes the objects named in manifest text (kind, namespace and name
    /// are used; the objects must still parse). An object that is not held
    /// is reported with its place in the text.
    pub fn delete_str(&mut self, file: &str, text: &str) -> Result<Report, ClusterError> {
        let (loaded, errors) = load_str_each(file, text);
        let mut rejected: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let mut not_found = Vec::new();
        let mut keys = Vec::new();
        for d in &loaded.documents {
            let key = object_key(d);
            if self.objects.contains_key(&key) {
                keys.push(key);
            } else {
                rejected.push(format!(
                    "{}: document {}: {} {} not found",
                    d.source.file, d.source.document, key.0, key.1
                ));
                not_found.push(key);
            }
        }
        let mut report = self.delete(&keys)?;
        rejected.append(&mut report.rejected);
        report.rejected = rejected;
        not_found.append(&mut report.not_found);
        report.not_found = not_found;
        report.warnings = loaded.warnings;
        Ok(report)
    }

    /// The plan of the objects held: every service, every node's routes and
    /// the announcements (computing routes and announcements costs
    /// O(cluster); changes do not).
    ///
    /// Next-hop ids are kept from the previous plan ([`NodeNextHopIds`]): a
    /// route keeps its next hop's id while that next hop is in use, when
    /// other routes come and go. The first plan numbers them as
    /// [`crate::plan::plan`] does.
    pub fn plan(&mut self) -> Plan {
        // A service is undecided only if the allocator's store failed in
        // the call that added it; it is decided by the next change.
        let results = self
            .service_order
            .values()
            .filter_map(|id| {
                let st = &self.services[id];
                Some(ServiceResult {
                    svc: &st.svc,
                    decision: st.decision.clone()?,
                    built: st.built.clone(),
                })
            })
            .collect();
        let mut plan = assemble(&self.inv, &self.interfaces, results, Vec::new());
        self.next_hop_ids.renumber(&mut plan.nodes);
        plan
    }

    /// Updates the indexes for a pod or endpoint object whose previous
    /// version was `previous` (now: whatever is held under `key`), and
    /// collects the services to rebuild.
    fn endpoint_change(
        &mut self,
        key: &ObjectKey,
        previous: Option<&Entry>,
        dirty: &mut FxHashSet<SvcId>,
    ) {
        let current = self.objects.get(key);
        let mut touched_services: Vec<(String, String)> = Vec::new();
        match key.0 {
            "Pod" => {
                let mut ips = Vec::new();
                if let Some(Entry {
                    order,
                    doc:
                        Document {
                            object: Object::Pod(p),
                            ..
                        },
                }) = previous
                {
                    ips.extend(self.interfaces.remove_pod(*order, p));
                }
                if let Some(Entry {
                    order,
                    doc:
                        Document {
                            object: Object::Pod(p),
                            ..
                        },
                }) = current
                {
                    ips.extend(self.interfaces.add_pod(*order, p));
                }
                for ip in ips {
                    if let Some(users) = self.users.get(&ip) {
                        dirty.extend(users.iter().map(|(id, _)| id.clone()));
                    }
                }
                return;
            }
            "Endpoints" | "EndpointSlice" => {
                if let Some(prev) = previous {
                    if let Some(svc) = endpoint_service(&prev.doc.object) {
                        let rank = u8::from(key.0 == "EndpointSlice");
                        self.backends.set(svc.clone(), (rank, prev.order), None);
                        touched_services.push(svc);
                    }
                }
                if let Some(cur) = current {
                    match &cur.doc.object {
                        Object::Endpoints(ep) => {
                            let svc = (ep.metadata.namespace.clone(), ep.metadata.name.clone());
                            self.backends.set(
                                svc.clone(),
                                (0, cur.order),
                                Some(endpoints_backends(ep)),
                            );
                            touched_services.push(svc);
                        }
                        Object::EndpointSlice(sl) => {
                            if let Some((name, list)) = slice_backends(sl) {
                                let svc = (sl.metadata.namespace.clone(), name.to_string());
                                self.backends.set(svc.clone(), (1, cur.order), Some(list));
                                touched_services.push(svc);
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        touched_services.sort();
        touched_services.dedup();
        for (ns, name) in touched_services {
            let id = svc_id(&ns, &name);
            let ips: Vec<IpAddr> = self
                .backends
                .of(&ns, &name)
                .iter()
                .map(|b| b.address)
                .collect();
            self.set_users(&id, ips);
            dirty.insert(id);
        }
    }

    /// Records that service `id` lists `ips` as backends; only the
    /// addresses that come or go touch the address index.
    fn set_users(&mut self, id: &SvcId, mut ips: Vec<IpAddr>) {
        ips.sort_unstable();
        let old = self.backend_ips.remove(id).unwrap_or_default();
        // Both lists are sorted: walk them together.
        let (mut i, mut j) = (0, 0);
        while i < old.len() || j < ips.len() {
            match (old.get(i), ips.get(j)) {
                (Some(a), Some(b)) if a == b => {
                    i += 1;
                    j += 1;
                }
                (Some(a), b) if b.is_none_or(|b| a < b) => {
                    self.remove_user(*a, id);
                    i += 1;
                }
                (_, Some(b)) => {
                    let list = self.users.entry(*b).or_default();
                    match list.iter_mut().find(|(s, _)| s == id) {
                        Some(e) => e.1 += 1,
                        None => list.push((id.clone(), 1)),
                    }
                    j += 1;
                }
                (_, None) => unreachable!("the loop ends when both lists are done"),
            }
        }
        if !ips.is_empty() {
            self.backend_ips.insert(id.clone(), ips);
        }
    }

    fn remove_user(&mut self, ip: IpAddr, id: &SvcId) {
        if let Some(list) = self.users.get_mut(&ip) {
            if let Some(i) = list.iter().position(|(s, _)| s == id) {
                list[i].1 -= 1;
                if list[i].1 == 0 {
                    list.swap_remove(i);
                }
            }
            if list.is_empty() {
                self.users.remove(&ip);
            }
        }
    }

    /// Resolves topology changes (rejecting the ones that break resolution),
    /// re-decides addresses if anything of the topology changed, rebuilds
    /// the dirty services and records the diff.
    fn finish(
        &mut self,
        mut pending: Vec<Pending>,
        services: ServiceChanges,
        mut dirty: FxHashSet<SvcId>,
        report: &mut Report,
    ) -> Result<(), ClusterError> {
        let mut topology = false;
        if !pending.is_empty() {
            let inv = self.settle(&mut pending, report);
            report.accepted += pending.len();
            if let Some(inv) = inv {
                self.inv = inv;
                // Nodes matter to routes and announcements (put together by
                // `plan`), not to address decisions.
                topology = pending.iter().any(|p| p.key.0 != "Node");
            }
        }
        if topology {
            self.redecide(None, &[], &mut dirty)?;
        } else if !services.changed.is_empty() || !services.gone.is_empty() {
            self.redecide(Some(&services.changed), &services.gone, &mut dirty)?;
        }
        let mut ids: Vec<SvcId> = dirty.into_iter().collect();
        ids.sort();
        for id in ids {
            let Some(st) = self.services.get_mut(&id) else {
                continue;
            };
            let Some(decision) = &st.decision else {
                continue;
            };
            let built = build_service(
                &st.svc,
                decision,
                &self.service_network,
                &self.backends,
                &self.interfaces,
            );
            let old = std::mem::replace(&mut st.built, built);
            let old = old.as_ref().and_then(|b| b.as_ref().ok());
            diff_service(&id, old, st.objects(), &mut report.diff);
        }
        report.diff.sort();
        Ok(())
    }

    /// The topology objects in manifest order, as manifests.
    fn topology_manifests(&self) -> Manifests {
        Manifests {
            documents: self
                .topology
                .values()
                .map(|k| self.objects[k].doc.clone())
                .collect(),
            warnings: Vec::new(),
        }
    }

    /// Resolves the topology; while that fails on one of `pending`, reverts
    /// it and reports it. Returns the inventory, or `None` when every
    /// change was reverted. `pending` keeps the accepted changes.
    fn settle(&mut self, pending: &mut Vec<Pending>, report: &mut Report) -> Option<Inventory> {
        loop {
            if pending.is_empty() {
                return None;
            }
            let err = match Inventory::resolve(&self.topology_manifests()) {
                Ok(inv) => return Some(inv),
                Err(e) => e,
            };
            let place = match &err {
                ModelError::Field { place, .. } | ModelError::Reference { place, .. } => {
                    Some((place.file.clone(), place.document, place.name.clone()))
                }
                _ => None,
            };
            let culprit = place.and_then(|(file, document, name)| {
                pending.iter().position(|p| {
                    p.place.as_ref() == Some(&(file.clone(), document)) && p.key.1 == name
                })
            });
            let reverted: Vec<Pending> = match culprit {
                Some(i) => vec![pending.remove(i)],
                // The failure names no changed object (e.g. a deletion broke
                // a reference): undo every change.
                None => std::mem::take(pending),
            };
            for p in reverted.into_iter().rev() {
                report.rejected.push(match &p.place {
                    Some(_) => err.to_string(),
                    None => format!("deleting {} {}: {err}", p.key.0, p.key.1),
                });
                self.revert(p);
            }
        }
    }

    fn revert(&mut self, p: Pending) {
        if let Some(cur) = self.objects.remove(&p.key) {
            self.topology.remove(&cur.order);
        }
        if let Some(prev) = p.previous {
            self.topology.insert(prev.order, p.key.clone());
            self.objects.insert(p.key, prev);
        }
    }

    /// Re-runs address decisions: of every service (`changed` is `None`:
    /// the topology changed), else of the changed services and the
    /// unsettled ones, releasing the addresses of `gone` keys. Marks the
    /// services whose spec or decision changed.
    fn redecide(
        &mut self,
        changed: Option<&[SvcId]>,
        gone: &[String],
        dirty: &mut FxHashSet<SvcId>,
    ) -> Result<(), ClusterError> {
        let mut all = false;
        let ids: Vec<SvcId> = match changed {
            None => {
                let network = service_network_id(&self.inv);
                all = network != self.service_network;
                self.service_network = network;
                self.service_order.values().cloned().collect()
            }
            Some(changed) => {
                let mut by_order: BTreeMap<u64, SvcId> = self.unsettled.clone();
                for id in changed {
                    if let Some(st) = self.services.get(id) {
                        by_order.insert(st.order, id.clone());
                    }
                }
                by_order.into_values().collect()
            }
        };
        let svcs: Vec<&Service> = ids.iter().map(|id| &self.services[id].svc).collect();
        let scope = match changed {
            None => Scope::All,
            Some(_) => Scope::Some { gone },
        };
        let decisions = decide_services(&self.inv, &svcs, &mut self.alloc, scope)?;
        let changed: FxHashSet<&SvcId> = changed.into_iter().flatten().collect();
        for (id, decision) in ids.iter().zip(decisions) {
            let st = self.services.get_mut(id).expect("listed");
            if unsettled(&decision) {
                self.unsettled.insert(st.order, id.clone());
            } else {
                self.unsettled.remove(&st.order);
            }
            if all || changed.contains(id) || st.decision.as_ref() != Some(&decision) {
                dirty.insert(id.clone());
            }
            st.decision = Some(decision);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
