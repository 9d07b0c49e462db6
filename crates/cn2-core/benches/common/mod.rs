//! The generated cluster of the load-balancing bench and the `lb_scale`
//! example: S ClusterIP services over 50 namespaces, 10 ready endpoints
//! each (one pod per endpoint), on 100 nodes.

use std::fmt::Write;

/// Nodes of the generated cluster.
pub const NODES: usize = 100;
/// Ready endpoints per service.
pub const ENDPOINTS: usize = 10;

/// The `Endpoints` object of service `s` with its first `n` endpoints.
pub fn endpoints_yaml(s: usize, n: usize) -> String {
    let mut y = format!(
        "apiVersion: v1\nkind: Endpoints\nmetadata: {{name: svc-{s}, namespace: ns-{}}}\nsubsets:\n  - ports: [{{name: http, port: 8080}}]\n    addresses:\n",
        s % 50
    );
    for e in 0..n {
        writeln!(
            y,
            "      - {{ip: {}, nodeName: node-{}}}",
            endpoint_ip(s, e),
            endpoint_node(s, e)
        )
        .unwrap();
    }
    y
}

fn endpoint_ip(s: usize, e: usize) -> String {
    let i = s * ENDPOINTS + e;
    format!("10.{}.{}.{}", 128 + i / 65536, (i / 256) % 256, i % 256)
}

fn endpoint_node(s: usize, e: usize) -> usize {
    (s * 7 + e * 13) % NODES
}

/// The whole cluster as YAML.
pub fn cluster_yaml(services: usize) -> String {
    let mut y = String::from(
        "apiVersion: configplane.juniper.net/v1\nkind: Kubemanager\nmetadata: {name: km, namespace: contrail}\nspec: {serviceV4Subnet: 10.96.0.0/12, podV4Subnet: 10.128.0.0/9}\n",
    );
    for n in 0..NODES {
        writeln!(y, "---\napiVersion: v1\nkind: Node\nmetadata: {{name: node-{n}}}\nstatus: {{addresses: [{{type: InternalIP, address: 192.168.{}.{}}}]}}", n / 250, n % 250 + 1).unwrap();
    }
    for s in 0..services {
        let ns = format!("ns-{}", s % 50);
        writeln!(y, "---\napiVersion: v1\nkind: Service\nmetadata: {{name: svc-{s}, namespace: {ns}, uid: u-{s}}}\nspec: {{ports: [{{name: http, port: 80, targetPort: 8080}}], selector: {{app: a{s}}}}}").unwrap();
        for e in 0..ENDPOINTS {
            let i = s * ENDPOINTS + e;
            writeln!(y, "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p-{i}, namespace: {ns}}}\nspec: {{nodeName: node-{}}}\nstatus: {{podIPs: [{{ip: {}}}]}}", endpoint_node(s, e), endpoint_ip(s, e)).unwrap();
        }
        y.push_str("---\n");
        y.push_str(&endpoints_yaml(s, ENDPOINTS));
    }
    y
}
