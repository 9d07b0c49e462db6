//! Planning a generated cluster with load balancing: S ClusterIP services,
//! 10 ready endpoints each, on 100 nodes; the plan includes every service's
//! loadbalancer objects and every node's route tables.
//!
//! Then the incremental path: one endpoint added to or removed from one
//! service, applied to a [`Cluster`] holding the same objects, at 1,000 and
//! 10,000 services (the cost must not grow with the cluster).
//!
//! `cargo bench -p cn2-core --bench lb`

mod common;

use cn2_core::cluster::Cluster;
use cn2_core::ipam::Allocator;
use cn2_core::model::{Inventory, Manifests, load_str};
use cn2_core::plan::plan;
use common::{ENDPOINTS, NODES, cluster_yaml, endpoints_yaml};

fn main() {
    divan::main();
}

fn inventory(services: usize) -> Inventory {
    Inventory::resolve(&load_str("generated.yaml", &cluster_yaml(services)).unwrap()).unwrap()
}

#[divan::bench(args = [1_000, 10_000], sample_count = 5, sample_size = 1)]
fn full_plan(bencher: divan::Bencher, services: usize) {
    let inv = inventory(services);
    bencher.bench_local(|| {
        let mut alloc = Allocator::in_memory();
        let p = plan(&inv, &mut alloc).unwrap();
        assert_eq!(p.nodes.len(), NODES);
        (p, alloc)
    });
}

/// A cluster holding the generated objects, and each service's Endpoints
/// object with its 10 endpoints and with an 11th.
fn cluster(services: usize) -> (Cluster, Vec<[Manifests; 2]>) {
    let text = cluster_yaml(services);
    let mut c = Cluster::new();
    let r = c.apply(load_str("generated.yaml", &text).unwrap()).unwrap();
    assert!(r.rejected.is_empty());
    let variants = (0..services)
        .map(|s| {
            let ep = |n| load_str("update.yaml", &endpoints_yaml(s, n)).unwrap();
            [ep(ENDPOINTS), ep(ENDPOINTS + 1)]
        })
        .collect();
    (c, variants)
}

/// One endpoint added to, or removed from, one service's Endpoints object,
/// applied incrementally (services visited in a scattered order; each
/// iteration flips one service between 10 and 11 endpoints). The input
/// object is prepared outside the timing, as a watch event arrives parsed.
#[divan::bench(args = [1_000, 10_000], sample_count = 200, sample_size = 50)]
fn endpoint_add_or_remove(bencher: divan::Bencher, services: usize) {
    let (mut c, variants) = cluster(services);
    let mut state = vec![0usize; services];
    let mut i = 0usize;
    bencher
        .with_inputs(|| {
            i += 1;
            let s = (i * 7919) % services;
            state[s] ^= 1;
            variants[s][state[s]].clone()
        })
        .bench_local_values(|m| {
            let r = c.apply(m).unwrap();
            assert_eq!(r.diff.created.len() + r.diff.deleted.len(), 1);
            r
        });
}

/// A new service (no endpoints yet) applied to the cluster: address
/// decisions re-run over every service.
#[divan::bench(args = [1_000, 10_000], sample_count = 10, sample_size = 1)]
fn service_add(bencher: divan::Bencher, services: usize) {
    let (mut c, _) = cluster(services);
    let mut i = 0usize;
    bencher
        .with_inputs(|| {
            i += 1;
            load_str(
                "new.yaml",
                &format!("apiVersion: v1\nkind: Service\nmetadata: {{name: extra-{i}, namespace: ns-0, uid: x-{i}}}\nspec: {{ports: [{{name: http, port: 80}}]}}\n"),
            )
            .unwrap()
        })
        .bench_local_values(|m| c.apply(m).unwrap());
}

/// Building the whole cluster incrementally in one apply, without the plan.
#[divan::bench(args = [10_000], sample_count = 3, sample_size = 1)]
fn cluster_build(bencher: divan::Bencher, services: usize) {
    let m = load_str("generated.yaml", &cluster_yaml(services)).unwrap();
    bencher.with_inputs(|| m.clone()).bench_local_values(|m| {
        let mut c = Cluster::new();
        c.apply(m).unwrap();
        c
    });
}
