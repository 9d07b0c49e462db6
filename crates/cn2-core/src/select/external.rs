//! External-network selection for LoadBalancer services.
//!
//! Priority, first that applies wins:
//!
//! 1. the service annotation `service.contrail.juniper.net/externalNetwork`
//!    (`[namespace/]name`; a bare name means the service's namespace);
//! 2. the service annotation `service.contrail.juniper.net/externalNetworkSelector`
//!    (the name of an entry of `Kubemanager.spec.externalNetworkSelectors`);
//! 3. the same two annotations on the service's Namespace;
//! 4. the selector named `default-external`, if configured;
//! 5. otherwise no external network.
//!
//! An annotation that names something missing does not fall through to a
//! lower level. A selector's `namespaceSelector` absent means the service's
//! own namespace, `{}` every namespace; its `networkSelector` absent matches
//! no network, `{}` every network. Candidates are ordered: the service's own
//! namespace first, then `namespace/name` in byte order.

use std::collections::HashMap;
use std::sync::Arc;

use crate::announce::AddressPool;
use crate::model::{Inventory, Service};

use super::label::Selector;

/// Annotation naming an exact external network.
pub const NETWORK_ANNOTATION: &str = "service.contrail.juniper.net/externalNetwork";
/// Annotation naming an external-network selector.
pub const SELECTOR_ANNOTATION: &str = "service.contrail.juniper.net/externalNetworkSelector";
/// The selector used when nothing is annotated.
pub const DEFAULT_SELECTOR: &str = "default-external";
/// Annotation naming an address pool (MetalLB's, also used for Kontena pools).
pub const POOL_ANNOTATION: &str = "metallb.io/address-pool";
/// The older spelling of [`POOL_ANNOTATION`].
pub const LEGACY_POOL_ANNOTATION: &str = "metallb.universe.tf/address-pool";

/// How the candidates of a [`Selection`] were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandidateKind {
    /// One network named by an annotation.
    Exact,
    /// The networks a named selector matches.
    Selector,
    /// Address pools: one named by annotation, or every auto-assign pool.
    Pools,
}

/// What the annotations and selectors say about a service, before address
/// availability is considered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Networks to try in order (one, for an exact annotation).
    Candidates {
        /// Network ids (`namespace/name`) in priority order.
        networks: Arc<[String]>,
        /// How they were chosen, for messages: e.g. `selector custom-1 (service annotation)`.
        via: String,
        /// Where they came from.
        kind: CandidateKind,
    },
    /// Nothing selects a network; the reason says why.
    Pending(String),
}

#[derive(Debug, Clone)]
struct Compiled {
    namespaces: Option<Selector>,
    networks: Option<Selector>,
}

/// The Kubemanager's named selectors, compiled, with a cache of candidate
/// lists per (selector, service namespace).
#[derive(Debug, Clone, Default)]
pub struct ExternalSelectors {
    selectors: HashMap<String, Compiled>,
    cache: HashMap<(String, String), Arc<[String]>>,
}

impl ExternalSelectors {
    /// Compiles the inventory's Kubemanager selectors (validated at load).
    pub fn new(inv: &Inventory) -> ExternalSelectors {
        let mut selectors = HashMap::new();
        if let Some(km) = &inv.kubemanager {
            for (name, s) in &km.spec.external_network_selectors {
                let c = |x: &Option<crate::select::LabelSelector>| {
                    x.as_ref()
                        .map(|s| s.compile(name).expect("validated at load"))
                };
                selectors.insert(
                    name.clone(),
                    Compiled {
                        namespaces: c(&s.namespace_selector),
                        networks: c(&s.network_selector),
                    },
                );
            }
        }
        ExternalSelectors {
            selectors,
            cache: HashMap::new(),
        }
    }

    /// Decides which networks a service may take its external address from.
    pub fn select(&mut self, inv: &Inventory, svc: &Service) -> Selection {
        let ns = svc.metadata.namespace.as_str();
        let sa = &svc.metadata.annotations;
        if let Some(pool) = sa
            .get(POOL_ANNOTATION)
            .or_else(|| sa.get(LEGACY_POOL_ANNOTATION))
        {
            let pool = pool.trim();
            return match inv.announce.pool(pool) {
                Some(p) if !pool_allows(inv, p, svc) => Selection::Pending(format!(
                    "address pool {pool} named by service annotation {POOL_ANNOTATION} is pinned \
                     by its serviceAllocation to other namespaces or services"
                )),
                Some(p) => Selection::Candidates {
                    networks: Arc::from(vec![p.id()]),
                    via: format!("service annotation {POOL_ANNOTATION}"),
                    kind: CandidateKind::Pools,
                },
                None => Selection::Pending(format!(
                    "address pool {pool} named by service annotation {POOL_ANNOTATION} is not configured"
                )),
            };
        }
        let na = inv.namespaces.get(ns).map(|n| &n.metadata.annotations);
        let levels = [
            (sa.get(NETWORK_ANNOTATION), false, "service annotation"),
            (sa.get(SELECTOR_ANNOTATION), true, "service annotation"),
            (
                na.and_then(|a| a.get(NETWORK_ANNOTATION)),
                false,
                "namespace annotation",
            ),
            (
                na.and_then(|a| a.get(SELECTOR_ANNOTATION)),
                true,
                "namespace annotation",
            ),
        ];
        for (value, is_selector, origin) in levels {
            let Some(value) = value.map(|v| v.trim()) else {
                continue;
            };
            if !is_selector {
                let id = if value.contains('/') {
                    value.to_string()
                } else {
                    format!("{ns}/{value}")
                };
                let via = format!("{origin} {NETWORK_ANNOTATION}");
                if !inv.networks.contains_key(&id) {
                    return Selection::Pending(format!(
                        "external network {id} named by {via} does not exist"
                    ));
                }
                return Selection::Candidates {
                    networks: Arc::from(vec![id]),
                    via,
                    kind: CandidateKind::Exact,
                };
            }
            return self.by_selector(inv, value, ns, &format!("{origin} {SELECTOR_ANNOTATION}"));
        }
        if self.selectors.contains_key(DEFAULT_SELECTOR) {
            return self.by_selector(inv, DEFAULT_SELECTOR, ns, "the default");
        }
        // Pools pinned to the service (by serviceAllocation) first, lower
        // priority numbers before higher and before none; then the pools
        // that are not pinned; config order among equals.
        let mut auto: Vec<(u8, i32, &AddressPool)> = inv
            .announce
            .pools
            .iter()
            .filter(|p| p.auto_assign && pool_allows(inv, p, svc))
            .map(|p| match &p.scope {
                Some(scope) => match scope.priority {
                    Some(priority) => (0, priority, p),
                    None => (1, 0, p),
                },
                None => (2, 0, p),
            })
            .collect();
        auto.sort_by_key(|&(rank, priority, _)| (rank, priority));
        let auto: Vec<String> = auto.into_iter().map(|(_, _, p)| p.id()).collect();
        if !auto.is_empty() {
            return Selection::Candidates {
                networks: auto.into(),
                via: "address pools with autoAssign".to_string(),
                kind: CandidateKind::Pools,
            };
        }
        Selection::Pending("no external network selected".to_string())
    }

    fn by_selector(&mut self, inv: &Inventory, name: &str, ns: &str, origin: &str) -> Selection {
        let via = format!("selector {name} ({origin})");
        let Some(sel) = self.selectors.get(name) else {
            return Selection::Pending(format!(
                "external network selector {name} named by {origin} is not configured in the Kubemanager's spec.externalNetworkSelectors"
            ));
        };
        let key = (name.to_string(), ns.to_string());
        let networks = match self.cache.get(&key) {
            Some(n) => n.clone(),
            None => {
                let n: Arc<[String]> = candidates(inv, sel, ns).into();
                self.cache.insert(key, n.clone());
                n
            }
        };
        if networks.is_empty() {
            return Selection::Pending(format!("{via} matches no network"));
        }
        Selection::Candidates {
            networks,
            via,
            kind: CandidateKind::Selector,
        }
    }
}

fn candidates(inv: &Inventory, sel: &Compiled, service_ns: &str) -> Vec<String> {
    let Some(net_sel) = &sel.networks else {
        return Vec::new();
    };
    let ns_ok = |ns: &str| match &sel.namespaces {
        None => ns == service_ns,
        Some(s) if s.is_everything() => true,
        Some(s) => inv
            .namespaces
            .get(ns)
            .is_some_and(|n| s.matches(&n.metadata.labels)),
    };
    let (mut own, mut other): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    // `inv.networks` iterates in byte order of `namespace/name`.
    for (id, net) in &inv.networks {
        if ns_ok(&net.namespace) && net_sel.matches(&net.labels) {
            if net.namespace == service_ns {
                own.push(id.clone());
            } else {
                other.push(id.clone());
            }
        }
    }
    own.extend(other);
    own
}

/// Whether a pool's `serviceAllocation` (if any) lets `svc` use it.
fn pool_allows(inv: &Inventory, pool: &AddressPool, svc: &Service) -> bool {
    pool.scope.as_ref().is_none_or(|scope| {
        let ns = svc.metadata.namespace.as_str();
        let labels = inv.namespaces.get(ns).map(|n| &n.metadata.labels);
        scope.allows(ns, labels, &svc.metadata.labels)
    })
}
