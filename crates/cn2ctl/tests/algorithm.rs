//! The member-selection algorithm: the annotation `cn2.dev/lb-algorithm` on
//! a service, its namespace or the Kubemanager (SPEC §6.1), and what
//! `cn2ctl flow` does with it.

mod common;

use common::*;
use serde_json::Value;

/// A Kubemanager whose annotation (if any) sets the cluster default, a
/// namespace `tuned` annotated `ns_value`, a namespace `plain` without one,
/// and one service per (namespace, service annotation).
fn manifests(cluster_default: Option<&str>, ns_value: &str) -> String {
    let km_annotations = cluster_default
        .map(|v| format!("annotations: {{cn2.dev/lb-algorithm: {v}}}"))
        .unwrap_or_default();
    let mut out = format!(
        "apiVersion: configplane.juniper.net/v1alpha1
kind: Kubemanager
metadata: {{name: km, namespace: contrail, {km_annotations}}}
spec: {{serviceV4Subnet: 10.96.0.0/16}}
---
apiVersion: v1
kind: Namespace
metadata: {{name: tuned, annotations: {{cn2.dev/lb-algorithm: {ns_value}}}}}
---
apiVersion: v1
kind: Namespace
metadata: {{name: plain}}
"
    );
    for ns in ["tuned", "plain"] {
        for (name, value) in [
            ("own-ecmp", Some("ecmp")),
            ("own-maglev", Some("maglev")),
            ("none", None),
        ] {
            let annotations = value
                .map(|v| format!("annotations: {{cn2.dev/lb-algorithm: {v}}}"))
                .unwrap_or_default();
            out.push_str(&format!(
                "---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {ns}, {annotations}}}
spec:
  ports: [{{port: 80, targetPort: 8080}}]
"
            ));
        }
    }
    out
}

fn plan_stdin(input: &str) -> Value {
    let out = cn2ctl(&["plan", "-o", "json", "-"], Some(input));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn algorithm(plan: &Value, id: &str) -> String {
    service(plan, id)["lbAlgorithm"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn service_beats_namespace_beats_kubemanager() {
    let plan = plan_stdin(&manifests(Some("maglev"), "ecmp"));
    // The service's own annotation wins everywhere.
    assert_eq!(algorithm(&plan, "tuned/own-maglev"), "maglev");
    assert_eq!(algorithm(&plan, "plain/own-ecmp"), "ecmp");
    // Then the namespace's.
    assert_eq!(algorithm(&plan, "tuned/none"), "ecmp");
    // Then the Kubemanager's, the cluster-wide default.
    assert_eq!(algorithm(&plan, "plain/none"), "maglev");
}

#[test]
fn without_annotations_the_default_is_ecmp() {
    let plan = plan_stdin(&manifests(None, "maglev"));
    assert_eq!(algorithm(&plan, "plain/none"), "ecmp");
    assert_eq!(algorithm(&plan, "tuned/none"), "maglev");
    assert_eq!(algorithm(&plan, "tuned/own-ecmp"), "ecmp");
}

#[test]
fn an_unknown_value_warns_and_the_next_level_decides() {
    let plan = plan_stdin(&manifests(Some("maglev"), "round-robin"));
    let svc = service(&plan, "tuned/none");
    assert_eq!(svc["lbAlgorithm"], "maglev", "falls to the Kubemanager");
    let warnings: Vec<&str> = svc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("Namespace tuned") && w.contains("\"round-robin\"")),
        "{warnings:?}"
    );
    // A service with its own valid annotation never looks further.
    assert!(
        service(&plan, "tuned/own-ecmp")["warnings"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// The members `cn2ctl flow` picks on cent222 for 64 connections to the
/// book scenario's ClusterIP service, with the manifests changed by `edit`.
fn members_chosen(edit: impl Fn(String) -> String) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let book = std::fs::read_to_string(root().join("examples/book/services.yaml")).unwrap();
    let path = dir.path().join("book.yaml");
    std::fs::write(&path, edit(book)).unwrap();
    let path = path.to_str().unwrap();
    (40000..40064)
        .map(|port| {
            let v = flow_json(
                path,
                &[
                    "--node",
                    "cent222",
                    "--proto",
                    "tcp",
                    "--src",
                    &format!("10.47.255.250:{port}"),
                    "--dst",
                    "10.96.100.10:8888",
                ],
            );
            v["member"]["address"].as_str().unwrap().to_string()
        })
        .collect()
}

/// The cluster default reaches the flow table: a Kubemanager annotated
/// `maglev` picks exactly the members that the service's own `maglev`
/// annotation picks, and not those of the default scheme.
#[test]
fn flow_follows_the_cluster_default() {
    let edit_line = |from: &'static str, to: &'static str| {
        move |s: String| {
            assert!(s.contains(from), "the book scenario no longer has {from:?}");
            s.replace(from, to)
        }
    };
    let by_cluster = members_chosen(edit_line(
        "metadata: {name: contrail-k8s-kubemanager, namespace: contrail}",
        "metadata: {name: contrail-k8s-kubemanager, namespace: contrail, \
         annotations: {cn2.dev/lb-algorithm: maglev}}",
    ));
    let by_service = members_chosen(edit_line(
        "metadata: {name: service-web-clusterip, namespace: ns-user-1,",
        "metadata: {annotations: {cn2.dev/lb-algorithm: maglev}, \
         name: service-web-clusterip, namespace: ns-user-1,",
    ));
    let by_default = members_chosen(|s| s);
    assert_eq!(by_cluster, by_service);
    assert_ne!(
        by_cluster, by_default,
        "Maglev and the vRouter scheme differ"
    );
    let used: std::collections::BTreeSet<&String> = by_cluster.iter().collect();
    assert_eq!(used.len(), 2, "both backends serve connections");
}
