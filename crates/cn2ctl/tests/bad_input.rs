//! Bad input: every error names the file, the document and the field, and
//! `cn2ctl` prints nothing on stdout.

mod common;

use common::*;

/// Plans `text` as `bad.yaml`; returns stderr of the failed run.
fn fails(text: &str) -> String {
    let dir = write_dir(&[
        (
            "ok.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: fine}\n",
        ),
        ("bad.yaml", text),
    ]);
    let out = cn2ctl(&["plan", "-o", "json", dir.path().to_str().unwrap()], None);
    assert!(!out.status.success(), "expected failure for:\n{text}");
    assert!(
        out.stdout.is_empty(),
        "stdout must stay empty: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn assert_names(err: &str, parts: &[&str]) {
    for p in parts {
        assert!(err.contains(p), "error should name {p:?}: {err}");
    }
}

#[test]
fn malformed_yaml() {
    let err = fails(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\nkind: Service\nmetadata: {name: [\n",
    );
    assert_names(&err, &["bad.yaml", "document 1", "line"]);
}

#[test]
fn service_with_a_bad_port() {
    let err = fails(
        "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: n}\nspec:\n  ports: [{name: a, port: 80}, {name: b, port: 0}]\n",
    );
    assert_names(
        &err,
        &[
            "bad.yaml",
            "document 0",
            "Service n/s",
            "spec.ports[1].port",
            "between 1 and 65535",
        ],
    );
    let err = fails(
        "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: n}\nspec:\n  ports: [{port: http}]\n",
    );
    assert_names(&err, &["spec.ports[0].port"]);
    let err = fails(
        "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: n}\nspec:\n  ports: [{port: 80, protocol: ICMP}]\n",
    );
    assert_names(&err, &["spec.ports[0].protocol", "ICMP"]);
}

#[test]
fn bad_cluster_ip_and_families() {
    let err = fails(
        "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: n}\nspec: {clusterIP: 10.0.0.300}\n",
    );
    assert_names(&err, &["spec.clusterIP", "10.0.0.300"]);
    let err = fails(
        "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: n}\nspec: {ipFamilies: [IPv5]}\n",
    );
    assert_names(&err, &["spec.ipFamilies[0]", "IPv5"]);
}

#[test]
fn selector_with_an_invalid_operator() {
    let err = fails(
        "apiVersion: configplane.juniper.net/v1alpha1\nkind: Kubemanager\nmetadata: {name: km, namespace: contrail}\nspec:\n  externalNetworkSelectors:\n    broken:\n      networkSelector:\n        matchExpressions: [{key: a, operator: Equals, values: [x]}]\n",
    );
    assert_names(
        &err,
        &[
            "bad.yaml",
            "Kubemanager",
            "spec.externalNetworkSelectors.broken.networkSelector",
            "Equals",
        ],
    );
}

#[test]
fn virtual_network_referencing_a_missing_subnet() {
    let err = fails(
        "apiVersion: core.contrail.juniper.net/v1alpha1\nkind: VirtualNetwork\nmetadata: {name: vn, namespace: n}\nspec: {v4SubnetReference: {name: gone}}\n",
    );
    assert_names(
        &err,
        &[
            "bad.yaml",
            "VirtualNetwork n/vn",
            "Subnet n/gone",
            "does not exist",
        ],
    );
}

#[test]
fn nad_with_bad_networks_json() {
    let err = fails(
        "apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\nmetadata:\n  name: nad\n  namespace: n\n  annotations: {juniper.net/networks: '{\"ipamV4Subnet\": \"10.0.0.0/33\"}'}\n",
    );
    assert_names(
        &err,
        &[
            "NetworkAttachmentDefinition n/nad",
            "juniper.net/networks",
            "10.0.0.0/33",
        ],
    );
    let err = fails(
        "apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\nmetadata:\n  name: nad\n  namespace: n\n  annotations: {juniper.net/networks: '{not json'}\n",
    );
    assert_names(&err, &["juniper.net/networks", "invalid"]);
}

#[test]
fn virtual_network_and_nad_conflict() {
    let err = fails(
        "apiVersion: core.contrail.juniper.net/v1alpha1\nkind: Subnet\nmetadata: {name: s4, namespace: n}\nspec: {cidr: 10.9.0.0/24}\n---\napiVersion: core.contrail.juniper.net/v1alpha1\nkind: VirtualNetwork\nmetadata: {name: dup, namespace: n}\nspec: {v4SubnetReference: {name: s4}}\n---\napiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\nmetadata:\n  name: dup\n  namespace: n\n  annotations: {juniper.net/networks: '{\"ipamV4Subnet\": \"10.8.0.0/24\"}'}\n",
    );
    assert_names(
        &err,
        &[
            "document 2",
            "NetworkAttachmentDefinition n/dup",
            "already defined",
            "document 1",
        ],
    );
}

#[test]
fn missing_kind_and_missing_file() {
    let err = fails("apiVersion: v1\nmetadata: {name: x}\n");
    assert_names(&err, &["bad.yaml", "kind"]);
    let out = cn2ctl(&["plan", "/nonexistent/manifests.yaml"], None);
    assert!(!out.status.success() && out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/manifests.yaml"));
}

#[test]
fn unknown_kinds_are_skipped_with_a_warning() {
    let dir = write_dir(&[(
        "d.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 3}\n",
    )]);
    let plan = plan_json(&[dir.path().to_str().unwrap()]);
    let w = plan["warnings"][0].as_str().unwrap();
    assert!(
        w.contains("Deployment") && w.contains("d.yaml") && w.contains("skipped"),
        "{w}"
    );
}
