//! Planning a generated cluster: N LoadBalancer services over 100
//! namespaces, 200 external networks and 20 named selectors.
//!
//! `cargo bench -p cn2-core --bench plan` prints the plan time for 50,000 and
//! 100,000 services (allocations included; loading the manifests is measured
//! separately, once).

use std::fmt::Write;

use cn2_core::ipam::Allocator;
use cn2_core::model::{Inventory, load_str};
use cn2_core::plan::plan;

fn main() {
    divan::main();
}

const NAMESPACES: usize = 100;
const NETWORKS: usize = 200;
const SELECTORS: usize = 20;

/// The manifests of the generated cluster as YAML text.
fn cluster_yaml(services: usize) -> String {
    let mut y = String::new();
    y.push_str("apiVersion: configplane.juniper.net/v1\nkind: Kubemanager\nmetadata: {name: km, namespace: contrail}\nspec:\n  serviceV4Subnet: 10.96.0.0/12\n  externalNetworkSelectors:\n    default-external:\n      namespaceSelector: {}\n      networkSelector: {matchLabels: {ext: \"yes\"}}\n");
    for k in 0..SELECTORS {
        writeln!(
            y,
            "    sel-{k}:\n      namespaceSelector: {{matchLabels: {{team: t{k}}}}}\n      networkSelector: {{matchExpressions: [{{key: sel, operator: In, values: [s{k}]}}]}}"
        )
        .unwrap();
    }
    for i in 0..NAMESPACES {
        writeln!(y, "---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: ns-{i}, labels: {{team: t{}}}}}", i % SELECTORS).unwrap();
    }
    for j in 0..NETWORKS {
        let ns = j % NAMESPACES;
        writeln!(
            y,
            "---\napiVersion: core.contrail.juniper.net/v1\nkind: Subnet\nmetadata: {{name: net-{j}-v4, namespace: ns-{ns}}}\nspec: {{cidr: 10.{}.{}.0/20}}\n---\napiVersion: core.contrail.juniper.net/v1\nkind: VirtualNetwork\nmetadata: {{name: net-{j}, namespace: ns-{ns}, labels: {{sel: s{}, ext: \"{}\"}}}}\nspec: {{v4SubnetReference: {{name: net-{j}-v4}}}}",
            128 + j / 16,
            (j % 16) * 16,
            j % SELECTORS,
            if j % 10 == 0 { "yes" } else { "no" }
        )
        .unwrap();
    }
    for i in 0..services {
        let ns = i % NAMESPACES;
        let ann = match i % 10 {
            0..=6 => format!(
                "service.contrail.juniper.net/externalNetworkSelector: sel-{}",
                ns % SELECTORS
            ),
            7 => format!("service.contrail.juniper.net/externalNetwork: ns-{ns}/net-{ns}"),
            _ => String::new(),
        };
        writeln!(
            y,
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: svc-{i}, namespace: ns-{ns}, uid: u-{i}, annotations: {{{ann}}}}}\nspec: {{type: LoadBalancer, ports: [{{port: 80, targetPort: 8080}}]}}"
        )
        .unwrap();
    }
    y
}

fn inventory(services: usize) -> Inventory {
    let m = load_str("generated.yaml", &cluster_yaml(services)).expect("generated manifests load");
    Inventory::resolve(&m).expect("generated manifests resolve")
}

#[divan::bench(args = [50_000, 100_000], sample_count = 10, sample_size = 1)]
fn plan_services(bencher: divan::Bencher, services: usize) {
    let inv = inventory(services);
    // The plan and the allocator are returned so that their teardown is not
    // timed (divan drops outputs after the sample): `cn2ctl` never frees
    // them, it exits.
    bencher.bench_local(|| {
        let mut alloc = Allocator::in_memory();
        let p = plan(&inv, &mut alloc).expect("plan");
        assert!(p.services.iter().all(|s| s.pending.is_none()));
        (p, alloc)
    });
}

#[divan::bench(args = [50_000], sample_count = 3, sample_size = 1)]
fn load_and_resolve(bencher: divan::Bencher, services: usize) {
    let text = cluster_yaml(services);
    bencher
        .bench_local(|| Inventory::resolve(&load_str("generated.yaml", &text).unwrap()).unwrap());
}
