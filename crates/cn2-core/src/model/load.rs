//! Reading manifests: files, directories (recursively, in path order) and
//! stdin; multi-document YAML, JSON and `kind: List`.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::ModelError;
use super::kinds::*;
use crate::announce::config::{Advertisement, BgpPeer, IpAddressPool, NetworkLoadBalancerConfig};

/// Where an object came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The file (`-` for stdin, or a caller-chosen name).
    pub file: String,
    /// The document's index in the file, from 0 (items of a `List` share
    /// their document's index).
    pub document: usize,
}

/// One object of a known kind.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Object {
    /// `v1/Namespace`.
    Namespace(Namespace),
    /// `v1/Node`.
    Node(Node),
    /// `v1/Pod`.
    Pod(Pod),
    /// `v1/Service`.
    Service(Service),
    /// `v1/Endpoints`.
    Endpoints(Endpoints),
    /// `discovery.k8s.io/v1/EndpointSlice`.
    EndpointSlice(EndpointSlice),
    /// `k8s.cni.cncf.io/v1/NetworkAttachmentDefinition`.
    NetworkAttachmentDefinition(NetworkAttachmentDefinition),
    /// `core.contrail.juniper.net/VirtualNetwork`.
    VirtualNetwork(VirtualNetwork),
    /// `core.contrail.juniper.net/Subnet`.
    Subnet(Subnet),
    /// `configplane.juniper.net/Kubemanager`.
    Kubemanager(Kubemanager),
    /// `core.contrail.juniper.net/GlobalVrouterConfig`.
    GlobalVrouterConfig(GlobalVrouterConfig),
    /// `cn2.dev/v1` `NetworkLoadBalancerConfig` (Kontena Network Loadbalancer).
    NetworkLoadBalancerConfig(NetworkLoadBalancerConfig),
    /// `metallb.io` `IPAddressPool`.
    IpAddressPool(IpAddressPool),
    /// `metallb.io` `BGPPeer`.
    BgpPeer(BgpPeer),
    /// `metallb.io` `L2Advertisement`.
    L2Advertisement(Advertisement),
    /// `metallb.io` `BGPAdvertisement`.
    BgpAdvertisement(Advertisement),
}

impl Object {
    /// The object's kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Object::Namespace(_) => "Namespace",
            Object::Node(_) => "Node",
            Object::Pod(_) => "Pod",
            Object::Service(_) => "Service",
            Object::Endpoints(_) => "Endpoints",
            Object::EndpointSlice(_) => "EndpointSlice",
            Object::NetworkAttachmentDefinition(_) => "NetworkAttachmentDefinition",
            Object::VirtualNetwork(_) => "VirtualNetwork",
            Object::Subnet(_) => "Subnet",
            Object::Kubemanager(_) => "Kubemanager",
            Object::GlobalVrouterConfig(_) => "GlobalVrouterConfig",
            Object::NetworkLoadBalancerConfig(_) => "NetworkLoadBalancerConfig",
            Object::IpAddressPool(_) => "IPAddressPool",
            Object::BgpPeer(_) => "BGPPeer",
            Object::L2Advertisement(_) => "L2Advertisement",
            Object::BgpAdvertisement(_) => "BGPAdvertisement",
        }
    }

    /// The object's metadata.
    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Object::Namespace(o) => &o.metadata,
            Object::Node(o) => &o.metadata,
            Object::Pod(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
            Object::Endpoints(o) => &o.metadata,
            Object::EndpointSlice(o) => &o.metadata,
            Object::NetworkAttachmentDefinition(o) => &o.metadata,
            Object::VirtualNetwork(o) => &o.metadata,
            Object::Subnet(o) => &o.metadata,
            Object::Kubemanager(o) => &o.metadata,
            Object::GlobalVrouterConfig(o) => &o.metadata,
            Object::NetworkLoadBalancerConfig(o) => &o.metadata,
            Object::IpAddressPool(o) => &o.metadata,
            Object::BgpPeer(o) => &o.metadata,
            Object::L2Advertisement(o) | Object::BgpAdvertisement(o) => &o.metadata,
        }
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Object::Namespace(o) => &mut o.metadata,
            Object::Node(o) => &mut o.metadata,
            Object::Pod(o) => &mut o.metadata,
            Object::Service(o) => &mut o.metadata,
            Object::Endpoints(o) => &mut o.metadata,
            Object::EndpointSlice(o) => &mut o.metadata,
            Object::NetworkAttachmentDefinition(o) => &mut o.metadata,
            Object::VirtualNetwork(o) => &mut o.metadata,
            Object::Subnet(o) => &mut o.metadata,
            Object::Kubemanager(o) => &mut o.metadata,
            Object::GlobalVrouterConfig(o) => &mut o.metadata,
            Object::NetworkLoadBalancerConfig(o) => &mut o.metadata,
            Object::IpAddressPool(o) => &mut o.metadata,
            Object::BgpPeer(o) => &mut o.metadata,
            Object::L2Advertisement(o) | Object::BgpAdvertisement(o) => &mut o.metadata,
        }
    }

    /// Whether objects of this kind live in a namespace.
    pub fn is_namespaced(&self) -> bool {
        !matches!(
            self,
            Object::Namespace(_)
                | Object::Node(_)
                | Object::NetworkLoadBalancerConfig(_)
                | Object::GlobalVrouterConfig(_)
        )
    }

    /// `namespace/name` for namespaced objects, else the name.
    pub fn display_name(&self) -> String {
        let m = self.meta();
        if self.is_namespaced() {
            format!("{}/{}", m.namespace, m.name)
        } else {
            m.name.clone()
        }
    }
}

/// One loaded object and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Where it came from.
    pub source: Source,
    /// The object.
    pub object: Object,
}

/// Everything loaded from a set of manifests, in manifest order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Manifests {
    /// The objects of known kinds, in order.
    pub documents: Vec<Document>,
    /// Warnings (skipped unknown kinds), in order.
    pub warnings: Vec<String>,
}

impl Manifests {
    /// Appends another set.
    pub fn extend(&mut self, other: Manifests) {
        self.documents.extend(other.documents);
        self.warnings.extend(other.warnings);
    }
}

/// Loads files, directories (recursively; `.yaml`, `.yml` and `.json` files)
/// and `-` (stdin). Files are processed in byte order of their path.
pub fn load_paths(paths: &[PathBuf]) -> Result<Manifests, ModelError> {
    let mut files = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            files.push(p.clone());
        } else {
            collect(p, &mut files, true)?;
        }
    }
    files.sort_by(|a, b| {
        a.as_os_str()
            .as_encoded_bytes()
            .cmp(b.as_os_str().as_encoded_bytes())
    });
    files.dedup();
    let mut out = Manifests::default();
    for f in files {
        let (name, text) = if f.as_os_str() == "-" {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| io_err(Path::new("-"), e))?;
            ("-".to_string(), s)
        } else {
            let s = std::fs::read_to_string(&f).map_err(|e| io_err(&f, e))?;
            (f.display().to_string(), s)
        };
        out.extend(load_str(&name, &text)?);
    }
    Ok(out)
}

fn io_err(path: &Path, e: std::io::Error) -> ModelError {
    ModelError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

fn collect(path: &Path, files: &mut Vec<PathBuf>, explicit: bool) -> Result<(), ModelError> {
    let meta = std::fs::metadata(path).map_err(|e| io_err(path, e))?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).map_err(|e| io_err(path, e))? {
            let entry = entry.map_err(|e| io_err(path, e))?;
            collect(&entry.path(), files, false)?;
        }
    } else if explicit
        || matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        )
    {
        files.push(path.to_path_buf());
    }
    Ok(())
}

/// Loads the documents of one file's text; `file` names it in errors. The
/// first bad document fails the whole text.
pub fn load_str(file: &str, text: &str) -> Result<Manifests, ModelError> {
    let (manifests, mut errors) = load_str_each(file, text);
    match errors.is_empty() {
        true => Ok(manifests),
        false => Err(errors.swap_remove(0)),
    }
}

/// Loads every good document of one file's text and reports each bad one:
/// an object that fails to parse is left out alone. A syntax error ends the
/// stream (the parser cannot find the next document reliably), so it is the
/// last error reported.
pub fn load_str_each(file: &str, text: &str) -> (Manifests, Vec<ModelError>) {
    let mut out = Manifests::default();
    let mut errors = Vec::new();
    for (document, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = match Value::deserialize(de) {
            Ok(v) => v,
            Err(e) => {
                errors.push(ModelError::Syntax {
                    file: file.to_string(),
                    document,
                    message: e.to_string(),
                });
                break;
            }
        };
        let source = Source {
            file: file.to_string(),
            document,
        };
        let mut one = Manifests::default();
        match load_value(&source, value, "", &mut one) {
            Ok(()) => out.extend(one),
            Err(e) => errors.push(e),
        }
    }
    (out, errors)
}

/// The API groups and versions accepted for each kind.
fn accepts(kind: &str, api_version: &str) -> bool {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    match kind {
        "Namespace" | "Node" | "Pod" | "Service" | "Endpoints" | "List" => {
            group.is_empty() && version == "v1"
        }
        "EndpointSlice" => group == "discovery.k8s.io" && matches!(version, "v1" | "v1beta1"),
        "NetworkAttachmentDefinition" => group == "k8s.cni.cncf.io" && version == "v1",
        "VirtualNetwork" | "Subnet" | "GlobalVrouterConfig" => {
            group == "core.contrail.juniper.net"
                && matches!(version, "v1alpha1" | "v1" | "v3" | "v4")
        }
        "Kubemanager" => group == "configplane.juniper.net" && matches!(version, "v1alpha1" | "v1"),
        "NetworkLoadBalancerConfig" => group == "cn2.dev" && version == "v1",
        "IPAddressPool" | "L2Advertisement" | "BGPAdvertisement" => {
            group == "metallb.io" && version == "v1beta1"
        }
        "BGPPeer" => group == "metallb.io" && matches!(version, "v1beta1" | "v1beta2"),
        _ => false,
    }
}

fn load_value(
    source: &Source,
    value: Value,
    at: &str,
    out: &mut Manifests,
) -> Result<(), ModelError> {
    if value.is_null() {
        return Ok(()); // an empty document
    }
    let field_err = |kind: &str, name: &str, field: &str, message: String| ModelError::Field {
        place: Box::new(super::Place {
            file: source.file.clone(),
            document: source.document,
            kind: kind.to_string(),
            name: name.to_string(),
        }),
        field: format!("{at}{field}"),
        message,
    };
    let Value::Object(map) = &value else {
        return Err(field_err(
            "document",
            "",
            "(root)",
            "expected an object".into(),
        ));
    };
    let kind = match map.get("kind") {
        Some(Value::String(k)) => k.clone(),
        _ => {
            return Err(field_err(
                "object",
                "",
                "kind",
                "missing or not a string".into(),
            ));
        }
    };
    let api_version = map
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let raw_name = {
        let get = |p: &str| value.pointer(p).and_then(Value::as_str).unwrap_or("");
        match (get("/metadata/namespace"), get("/metadata/name")) {
            ("", name) => name.to_string(),
            (ns, name) => format!("{ns}/{name}"),
        }
    };
    if !accepts(&kind, &api_version) {
        out.warnings.push(format!(
            "{}: document {}: {at}kind {kind} ({api_version}) {raw_name} is not used; skipped",
            source.file, source.document
        ));
        return Ok(());
    }
    if kind == "List" {
        let Some(Value::Array(items)) = map.get("items") else {
            return Err(field_err(
                "List",
                "",
                "items",
                "missing or not a list".into(),
            ));
        };
        for (i, item) in items.iter().enumerate() {
            load_value(source, item.clone(), &format!("{at}items[{i}]."), out)?;
        }
        return Ok(());
    }
    fn typed<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, (String, String)> {
        serde_path_to_error::deserialize(v)
            .map_err(|e| (e.path().to_string(), e.inner().to_string()))
    }
    let parsed = match kind.as_str() {
        "Namespace" => typed(value).map(Object::Namespace),
        "Node" => typed(value).map(Object::Node),
        "Pod" => typed(value).map(Object::Pod),
        "Service" => typed(value).map(Object::Service),
        "Endpoints" => typed(value).map(Object::Endpoints),
        "EndpointSlice" => typed(value).map(Object::EndpointSlice),
        "NetworkAttachmentDefinition" => typed(value).map(Object::NetworkAttachmentDefinition),
        "VirtualNetwork" => typed(value).map(Object::VirtualNetwork),
        "Subnet" => typed(value).map(Object::Subnet),
        "Kubemanager" => typed(value).map(Object::Kubemanager),
        "GlobalVrouterConfig" => typed(value).map(Object::GlobalVrouterConfig),
        "NetworkLoadBalancerConfig" => typed(value).map(Object::NetworkLoadBalancerConfig),
        "IPAddressPool" => typed(value).map(Object::IpAddressPool),
        "BGPPeer" => typed(value).map(Object::BgpPeer),
        "L2Advertisement" => typed(value).map(Object::L2Advertisement),
        "BGPAdvertisement" => typed(value).map(Object::BgpAdvertisement),
        _ => unreachable!("accepts() admits only these kinds"),
    };
    let mut object =
        parsed.map_err(|(field, message)| field_err(&kind, &raw_name, &field, message))?;
    if let Object::NetworkLoadBalancerConfig(c) = &mut object {
        if c.metadata.name.is_empty() {
            c.metadata.name = "network-loadbalancer".to_string();
        }
    }
    if object.meta().name.is_empty() {
        return Err(field_err(&kind, "", "metadata.name", "missing".into()));
    }
    if object.is_namespaced() && object.meta().namespace.is_empty() {
        object.meta_mut().namespace = "default".to_string();
    }
    if let Err((field, message)) = super::validate::validate(&object) {
        return Err(field_err(&kind, &object.display_name(), &field, message));
    }
    out.documents.push(Document {
        source: source.clone(),
        object,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_json_and_list() {
        let text = "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n---\n{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [{\"apiVersion\": \"v1\", \"kind\": \"Namespace\", \"metadata\": {\"name\": \"b\"}}, {\"apiVersion\": \"apps/v1\", \"kind\": \"Deployment\", \"metadata\": {\"name\": \"d\"}}]}\n";
        let m = load_str("x.yaml", text).unwrap();
        let names: Vec<_> = m
            .documents
            .iter()
            .map(|d| d.object.display_name())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(m.documents[1].source.document, 2);
        assert_eq!(m.warnings.len(), 1);
        assert!(m.warnings[0].contains("Deployment") && m.warnings[0].contains("x.yaml"));
    }

    #[test]
    fn errors_name_file_document_and_field() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: n}\nspec:\n  ports: [{port: 80}, {port: 99999}]\n";
        let e = load_str("svc.yaml", text).unwrap_err().to_string();
        assert!(
            e.contains("svc.yaml") && e.contains("document 1") && e.contains("spec.ports[1].port"),
            "{e}"
        );
        assert!(e.contains("n/s"), "{e}");
    }

    #[test]
    fn each_bad_document_is_reported_alone() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 0}]}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n";
        let (m, errors) = load_str_each("x.yaml", text);
        let names: Vec<_> = m
            .documents
            .iter()
            .map(|d| d.object.display_name())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].to_string().contains("document 1"),
            "{}",
            errors[0]
        );
        assert!(load_str("x.yaml", text).is_err());
    }

    #[test]
    fn syntax_errors_have_a_location() {
        let e = load_str("bad.yaml", "kind: Service\n  x: [\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("bad.yaml: document 0:"), "{e}");
        assert!(e.contains("line"), "{e}");
    }

    #[test]
    fn unknown_fields_are_ignored_and_namespace_defaults() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, generation: 4, managedFields: []}\nspec: {nodeName: n1, containers: [{name: c, image: x}]}\nstatus: {phase: Running, podIPs: [{ip: 10.0.0.1}]}\n";
        let m = load_str("p.yaml", text).unwrap();
        assert_eq!(m.documents[0].object.display_name(), "default/p");
    }
}
