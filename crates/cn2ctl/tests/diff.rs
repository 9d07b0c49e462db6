//! `cn2ctl diff OLD NEW`: the load-balancer objects a change of manifests
//! creates, changes and deletes.

mod common;

use common::*;
use serde_json::Value;

const BASE: &str = "apiVersion: configplane.juniper.net/v1\nkind: Kubemanager\nmetadata: {name: km, namespace: contrail}\nspec:\n  serviceV4Subnet: 10.96.0.0/16\n  externalNetworkV4Subnet: 203.0.113.0/24\n  externalNetworkSelectors:\n    default-external: {namespaceSelector: {}, networkSelector: {matchLabels: {service.contrail.juniper.net/externalNetworkSelector: default-external}}}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: app, uid: web-uid}\nspec: {type: LoadBalancer, ports: [{name: http, port: 80, targetPort: 8080}]}\n";

/// The web deployment with `replicas` pods (web-0 ...) and its endpoints.
fn web(replicas: usize) -> String {
    let mut y = String::from(BASE);
    let mut ep = String::from(
        "---\napiVersion: v1\nkind: Endpoints\nmetadata: {name: web, namespace: app}\nsubsets:\n  - ports: [{name: http, port: 8080}]\n    addresses:\n",
    );
    for i in 0..replicas {
        y.push_str(&format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: web-{i}, namespace: app}}\nspec: {{nodeName: n1}}\nstatus: {{podIPs: [{{ip: 10.1.0.{}}}]}}\n",
            i + 10
        ));
        ep.push_str(&format!(
            "      - {{ip: 10.1.0.{}, nodeName: n1}}\n",
            i + 10
        ));
    }
    y + &ep
}

fn diff(old: &str, new: &str, format: &str) -> (i32, String) {
    let dir = write_dir(&[("old.yaml", old), ("new.yaml", new)]);
    let p = |f: &str| dir.path().join(f).to_str().unwrap().to_string();
    let out = cn2ctl(
        &["diff", "-o", format, &p("old.yaml"), &p("new.yaml")],
        None,
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

/// `(kind, name, fields)` of one list of a JSON diff.
fn list(d: &Value, which: &str) -> Vec<(String, String, String)> {
    d[which]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap().to_string(),
                c["name"].as_str().unwrap().to_string(),
                c["fields"]
                    .as_array()
                    .map(|f| {
                        f.iter()
                            .map(|x| x.as_str().unwrap())
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn scaling_up_adds_members_and_interfaces_only() {
    let (code, out) = diff(&web(2), &web(3), "json");
    assert_eq!(code, 1);
    let d: Value = serde_json::from_str(&out).unwrap();
    let t = |k: &str, n: &str, f: &str| (k.to_string(), n.to_string(), f.to_string());
    assert_eq!(
        list(&d, "created"),
        [t("member", "app-web-tcp-80/10.1.0.12:8080", "")]
    );
    assert_eq!(
        list(&d, "changed"),
        [
            t("floatingIP", "app-web-external-v4", "interfaces"),
            t("floatingIP", "app-web-v4", "interfaces")
        ]
    );
    assert!(list(&d, "deleted").is_empty());
}

#[test]
fn scaling_down_removes_members_only() {
    let (code, out) = diff(&web(3), &web(1), "text");
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "- member       app/web app-web-tcp-80/10.1.0.11:8080\n\
         - member       app/web app-web-tcp-80/10.1.0.12:8080\n\
         ~ floatingIP   app/web app-web-external-v4 (interfaces)\n\
         ~ floatingIP   app/web app-web-v4 (interfaces)\n\
         0 created, 2 changed, 2 deleted\n"
    );
}

#[test]
fn the_same_manifests_make_no_difference() {
    let (code, out) = diff(&web(2), &web(2), "text");
    assert_eq!(
        (code, out.as_str()),
        (0, "0 created, 0 changed, 0 deleted\n")
    );
}

#[test]
fn deleting_a_service_deletes_everything_it_owned() {
    let without = web(1).replace(
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: app, uid: web-uid}\nspec: {type: LoadBalancer, ports: [{name: http, port: 80, targetPort: 8080}]}\n",
        "",
    );
    let (code, out) = diff(&web(1), &without, "json");
    assert_eq!(code, 1);
    let d: Value = serde_json::from_str(&out).unwrap();
    let kinds: Vec<String> = list(&d, "deleted").into_iter().map(|c| c.0).collect();
    assert_eq!(
        kinds,
        [
            "loadbalancer",
            "listener",
            "pool",
            "member",
            "instanceIP",
            "instanceIP",
            "floatingIP",
            "floatingIP"
        ]
    );
    assert!(list(&d, "created").is_empty() && list(&d, "changed").is_empty());
}

#[test]
fn a_changed_port_replaces_the_listener() {
    let moved = web(1).replace("port: 80, targetPort: 8080", "port: 8080, targetPort: 8080");
    let (_, out) = diff(&web(1), &moved, "json");
    let d: Value = serde_json::from_str(&out).unwrap();
    let names = |w| -> Vec<(String, String)> {
        list(&d, w)
            .into_iter()
            .filter(|c| c.0 == "listener")
            .map(|c| (c.0, c.1))
            .collect()
    };
    assert_eq!(
        names("created"),
        [("listener".to_string(), "app-web-tcp-8080".to_string())]
    );
    assert_eq!(
        names("deleted"),
        [("listener".to_string(), "app-web-tcp-80".to_string())]
    );
    assert!(
        list(&d, "changed")
            .iter()
            .any(|c| c.0 == "floatingIP" && c.2 == "portMappings")
    );
}

#[test]
fn a_broken_manifest_set_is_an_error() {
    let broken = format!(
        "{}---\napiVersion: v1\nkind: Service\nmetadata: {{name: bad, namespace: app}}\nspec: {{ports: [{{port: 99999}}]}}\n",
        web(1)
    );
    let dir = write_dir(&[("old.yaml", &web(1)), ("new.yaml", &broken)]);
    let p = |f: &str| dir.path().join(f).to_str().unwrap().to_string();
    let out = cn2ctl(&["diff", &p("old.yaml"), &p("new.yaml")], None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("new.yaml") && err.contains("document"),
        "{err}"
    );
}
