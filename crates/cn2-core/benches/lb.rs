//! Planning a generated cluster with load balancing: S ClusterIP services,
//! 10 ready endpoints each, on 100 nodes; the plan includes every service's
//! loadbalancer objects and every node's route tables.
//!
//! `cargo bench -p cn2-core --bench lb`

use std::fmt::Write;

use cn2_core::ipam::Allocator;
use cn2_core::model::{Inventory, load_str};
use cn2_core::plan::plan;

fn main() {
    divan::main();
}

const NODES: usize = 100;
const ENDPOINTS: usize = 10;

fn cluster_yaml(services: usize) -> String {
    let mut y = String::from(
        "apiVersion: configplane.juniper.net/v1\nkind: Kubemanager\nmetadata: {name: km, namespace: contrail}\nspec: {serviceV4Subnet: 10.96.0.0/12, podV4Subnet: 10.128.0.0/9}\n",
    );
    for n in 0..NODES {
        writeln!(y, "---\napiVersion: v1\nkind: Node\nmetadata: {{name: node-{n}}}\nstatus: {{addresses: [{{type: InternalIP, address: 192.168.{}.{}}}]}}", n / 250, n % 250 + 1).unwrap();
    }
    for s in 0..services {
        let ns = format!("ns-{}", s % 50);
        writeln!(y, "---\napiVersion: v1\nkind: Service\nmetadata: {{name: svc-{s}, namespace: {ns}, uid: u-{s}}}\nspec: {{ports: [{{name: http, port: 80, targetPort: 8080}}], selector: {{app: a{s}}}}}").unwrap();
        let mut ep = format!(
            "---\napiVersion: v1\nkind: Endpoints\nmetadata: {{name: svc-{s}, namespace: {ns}}}\nsubsets:\n  - ports: [{{name: http, port: 8080}}]\n    addresses:\n"
        );
        for e in 0..ENDPOINTS {
            let i = s * ENDPOINTS + e;
            let ip = format!("10.{}.{}.{}", 128 + i / 65536, (i / 256) % 256, i % 256);
            let node = (s * 7 + e * 13) % NODES;
            writeln!(y, "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p-{i}, namespace: {ns}}}\nspec: {{nodeName: node-{node}}}\nstatus: {{podIPs: [{{ip: {ip}}}]}}").unwrap();
            writeln!(ep, "      - {{ip: {ip}, nodeName: node-{node}}}").unwrap();
        }
        y.push_str(&ep);
    }
    y
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
