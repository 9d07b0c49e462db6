//! Scale check of load balancing, one process per measurement so that its
//! peak RSS can be read: the generated cluster of the `lb` bench (S services
//! × 10 endpoints on 100 nodes).
//!
//! ```text
//! cargo run --release -p cn2-core --example lb_scale -- plan 10000
//! cargo run --release -p cn2-core --example lb_scale -- cluster 10000
//! cargo run --release -p cn2-core --example lb_scale -- churn 10000
//! ```
//!
//! `plan` times a full plan (load and resolve excluded) through
//! `plan::plan`, then its steps one by one; `cluster` times applying every
//! object to a `Cluster` and its plan; `churn` times 20,000 incremental
//! endpoint additions and removals (`CHURN_ROUNDS` × 2,000) and prints the
//! median and percentiles. Each prints the process's peak RSS (`VmHWM`).

#[path = "../benches/common/mod.rs"]
mod common;

use std::time::Instant;

use cn2_core::cluster::Cluster;
use cn2_core::ipam::Allocator;
use cn2_core::lb::{backends_by_service, interfaces_by_ip};
use cn2_core::model::{Inventory, load_str};
use cn2_core::plan::{ServiceResult, assemble, build_service, decide, plan, service_network_id};

fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_else(|| "unknown".into())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("plan", String::as_str);
    let services: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let text = common::cluster_yaml(services);
    let t = Instant::now();
    let manifests = load_str("generated.yaml", &text).expect("generated manifests load");
    println!("load: {:?}", t.elapsed());
    match mode {
        "plan" => {
            let inv = Inventory::resolve(&manifests).expect("resolve");
            drop(manifests);
            let t = Instant::now();
            let p = plan(&inv, &mut Allocator::in_memory()).expect("plan");
            println!(
                "plan::plan, {services} services: {:?} ({} services, {} nodes)",
                t.elapsed(),
                p.services.len(),
                p.nodes.len()
            );
            drop(p);
            // The same steps, timed one by one.
            let t = Instant::now();
            let mut alloc = Allocator::in_memory();
            let decisions = decide(&inv, &mut alloc).expect("decide");
            let decided = t.elapsed();
            let interfaces = interfaces_by_ip(&inv);
            let backends = backends_by_service(&inv);
            let network = service_network_id(&inv);
            let results: Vec<ServiceResult> = inv
                .services
                .iter()
                .zip(decisions)
                .map(|((_, svc), decision)| {
                    let built = build_service(svc, &decision, &network, &backends, &interfaces);
                    ServiceResult {
                        svc,
                        decision,
                        built,
                    }
                })
                .collect();
            let built = t.elapsed();
            let p = assemble(&inv, &interfaces, results, Vec::new());
            println!(
                "  address decisions {decided:?}, load-balancer objects {:?}, routes and announcements {:?} ({} routes)",
                built - decided,
                t.elapsed() - built,
                p.nodes.iter().map(|n| n.routes.len()).sum::<usize>()
            );
        }
        "cluster" => {
            let t = Instant::now();
            let mut c = Cluster::new();
            c.apply(manifests).expect("apply");
            let applied = t.elapsed();
            let p = c.plan();
            println!(
                "Cluster::apply of every object: {applied:?}, then Cluster::plan: {:?} ({} services)",
                t.elapsed() - applied,
                p.services.len()
            );
        }
        "churn" => {
            let mut c = Cluster::new();
            c.apply(manifests).expect("apply");
            let variants: Vec<_> = (0..services.min(2_000))
                .map(|s| {
                    let s = (s * 7919) % services;
                    [
                        load_str("u", &common::endpoints_yaml(s, common::ENDPOINTS)).unwrap(),
                        load_str("u", &common::endpoints_yaml(s, common::ENDPOINTS + 1)).unwrap(),
                    ]
                })
                .collect();
            let rounds: usize = std::env::var("CHURN_ROUNDS")
                .ok()
                .and_then(|r| r.parse().ok())
                .unwrap_or(10);
            let mut times = Vec::new();
            for round in 0..rounds {
                for v in &variants {
                    // Add the 11th endpoint on even rounds, remove it on odd ones.
                    let m = v[(round + 1) % 2].clone();
                    let t = Instant::now();
                    let r = c.apply(m).expect("apply");
                    times.push(t.elapsed());
                    assert_eq!(r.diff.created.len() + r.diff.deleted.len(), 1);
                }
            }
            times.sort();
            let q = |f: f64| times[((times.len() - 1) as f64 * f) as usize];
            println!(
                "endpoint add/remove, {services} services, {} changes: median {:?}, p90 {:?}, p99 {:?}",
                times.len(),
                q(0.5),
                q(0.9),
                q(0.99)
            );
        }
        other => {
            eprintln!("unknown mode {other:?}: use plan, cluster or churn");
            std::process::exit(2);
        }
    }
    println!("peak RSS (VmHWM): {}", peak_rss());
}
