//! The plan as printed by `cn2ctl plan -o json`: a stable contract.
//!
//! Arrays are sorted (services by `namespace/name`), so the same input
//! prints the same bytes.

use std::net::IpAddr;

use serde::Serialize;

use crate::announce::Announcement;
use crate::ecmp::routes::NodeRoutes;
use crate::lb::{FloatingIp, InstanceIp, LoadBalancer};

/// Everything the system does with a set of manifests.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    /// One entry per service, sorted by namespace and name.
    pub services: Vec<ServicePlan>,
    /// Each node's routes for FloatingIP addresses, nodes sorted by name.
    pub nodes: Vec<NodeRoutes>,
    /// How external addresses are announced, sorted by address, protocol,
    /// node and peer.
    pub announcements: Vec<Announcement>,
    /// Plan-wide warnings (skipped objects, ambiguous choices).
    pub warnings: Vec<String>,
}

/// What the system does with one service.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePlan {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `ClusterIP`, `NodePort`, `LoadBalancer` or `ExternalName`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The ClusterIPs, in family order.
    #[serde(rename = "clusterIPs")]
    pub cluster_ips: Vec<IpAddr>,
    /// The external network (`namespace/name`), for LoadBalancer services.
    pub external_network: Option<String>,
    /// The address pool the external addresses come from, when they come
    /// from a pool rather than a CN2 network.
    pub address_pool: Option<String>,
    /// The external addresses, in family order.
    #[serde(rename = "externalIPs")]
    pub external_ips: Vec<IpAddr>,
    /// The member-selection algorithm (`ecmp` or `maglev`, from the
    /// annotation `cn2.dev/lb-algorithm`).
    pub lb_algorithm: &'static str,
    /// The loadbalancer, with listeners, pools and members.
    pub load_balancer: Option<LoadBalancer>,
    /// InstanceIPs: ClusterIPs, then external addresses.
    #[serde(rename = "instanceIPs")]
    pub instance_ips: Vec<InstanceIp>,
    /// FloatingIPs, one per InstanceIP.
    #[serde(rename = "floatingIPs")]
    pub floating_ips: Vec<FloatingIp>,
    /// Why the service is not (fully) served, or null.
    pub pending: Option<String>,
    /// Warnings about this service.
    pub warnings: Vec<String>,
}

/// A service's members as `address:port`, the first few and a count of the rest.
fn members(s: &ServicePlan) -> String {
    const SHOWN: usize = 4;
    let mut all: Vec<String> = s
        .load_balancer
        .iter()
        .flat_map(|lb| &lb.listeners)
        .flat_map(|l| &l.pool.members)
        .map(|m| match m.address {
            IpAddr::V4(a) => format!("{a}:{}", m.port),
            IpAddr::V6(a) => format!("[{a}]:{}", m.port),
        })
        .collect();
    all.sort();
    all.dedup();
    match all.len() {
        0 => "-".to_string(),
        n if n <= SHOWN => all.join(","),
        n => format!("{},+{}", all[..SHOWN].join(","), n - SHOWN),
    }
}

impl Plan {
    /// The plan as pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a plan serialises");
        s.push('\n');
        s
    }

    /// The plan as YAML.
    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(self).expect("a plan serialises")
    }

    /// The plan as an aligned table, one line per service.
    pub fn to_table(&self) -> String {
        let header = [
            "SERVICE",
            "TYPE",
            "CLUSTER-IPS",
            "EXTERNAL-NETWORK",
            "EXTERNAL-IPS",
            "MEMBERS",
            "STATUS",
        ];
        let join = |v: &[IpAddr]| {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            }
        };
        let mut rows: Vec<[String; 7]> = vec![header.map(String::from)];
        for s in &self.services {
            let status = match &s.pending {
                Some(reason) => format!("pending: {reason}"),
                None if s.warnings.is_empty() => "ok".to_string(),
                None => format!(
                    "ok ({} warning{})",
                    s.warnings.len(),
                    if s.warnings.len() == 1 { "" } else { "s" }
                ),
            };
            rows.push([
                format!("{}/{}", s.namespace, s.name),
                s.kind.clone(),
                join(&s.cluster_ips),
                s.external_network
                    .clone()
                    .or_else(|| s.address_pool.as_ref().map(|p| format!("pool {p}")))
                    .unwrap_or_else(|| "-".into()),
                join(&s.external_ips),
                members(s),
                status,
            ]);
        }
        let mut widths = [0usize; 7];
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        for r in &rows {
            let mut line = String::new();
            for (i, c) in r.iter().enumerate() {
                if i == 6 {
                    line.push_str(c);
                } else {
                    line.push_str(&format!("{c:<w$}  ", w = widths[i]));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        for s in &self.services {
            for w in &s.warnings {
                out.push_str(&format!("warning: {}/{}: {w}\n", s.namespace, s.name));
            }
        }
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        out
    }
}
