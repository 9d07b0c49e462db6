//! Scale check of load balancing, one process per measurement so that its
//! peak RSS can be read: the generated cluster of the `lb` bench (S services
//! × 10 endpoints on 100 nodes).
//!
//! ```text
//! cargo run --release -p cn2-core --example lb_scale -- plan 10000
//! cargo run --release -p cn2-core --example lb_scale -- churn 10000
//! ```
//!
//! `plan` times a full plan (load and resolve excluded) through
//! `plan::plan`, then through a `Cluster` holding the objects; `churn` times
//! 20,000 incremental endpoint additions and removals and prints the
//! median and percentiles. Both print the process's peak RSS (`VmHWM`).

#[path = "../benches/common/mod.rs"]
mod common;

use std::time::Instant;

use cn2_core::cluster::Cluster;
use cn2_core::ipam::Allocator;
use cn2_core::model::{Inventory, load_str};
use cn2_core::plan::plan;

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
            let t = Instant::now();
            let p = plan(&inv, &mut Allocator::in_memory()).expect("plan");
            println!(
                "plan::plan, {services} services: {:?} ({} services, {} nodes)",
                t.elapsed(),
                p.services.len(),
                p.nodes.len()
            );
            drop(p);
            let t = Instant::now();
            let mut c = Cluster::new();
            c.apply(manifests).expect("apply");
            let applied = t.elapsed();
            let p = c.plan();
            println!(
                "cluster apply: {applied:?}, then plan: {:?} ({} services)",
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
            eprintln!("unknown mode {other:?}: use plan or churn");
            std::process::exit(2);
        }
    }
    println!("peak RSS (VmHWM): {}", peak_rss());
}
