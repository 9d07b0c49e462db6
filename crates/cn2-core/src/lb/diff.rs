//! What changes between two versions of a service's load-balancer objects.
//!
//! Objects are compared by identity: a loadbalancer, listener, pool or
//! InstanceIP by name, a member by `(listener, address, port)`, a
//! FloatingIP by its parent InstanceIP. An object present in both versions
//! with different fields is **changed** (the fields are named); a pool has
//! no fields of its own (its members are objects), so it is only ever
//! created or deleted with its listener.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::IpAddr;

use serde::Serialize;

use super::{FloatingIp, InstanceIp, Listener, LoadBalancer, Member, ServiceObjects};

/// The kind of a load-balancer object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ChangeKind {
    /// A loadbalancer.
    #[serde(rename = "loadbalancer")]
    LoadBalancer,
    /// A listener.
    #[serde(rename = "listener")]
    Listener,
    /// A pool.
    #[serde(rename = "pool")]
    Pool,
    /// A pool member.
    #[serde(rename = "member")]
    Member,
    /// An InstanceIP.
    #[serde(rename = "instanceIP")]
    InstanceIp,
    /// A FloatingIP.
    #[serde(rename = "floatingIP")]
    FloatingIp,
}

impl ChangeKind {
    /// The kind as printed: `loadbalancer`, `listener`, `pool`, `member`,
    /// `instanceIP`, `floatingIP`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::LoadBalancer => "loadbalancer",
            ChangeKind::Listener => "listener",
            ChangeKind::Pool => "pool",
            ChangeKind::Member => "member",
            ChangeKind::InstanceIp => "instanceIP",
            ChangeKind::FloatingIp => "floatingIP",
        }
    }
}

/// One object created, changed or deleted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Change {
    /// The owning service, `namespace/name`.
    pub service: String,
    /// The object's kind.
    pub kind: ChangeKind,
    /// The object's name: a loadbalancer's, listener's or InstanceIP's own
    /// name; a pool's listener; `<listener>/<address>:<port>` for a member;
    /// the parent InstanceIP's name for a FloatingIP.
    pub name: String,
    /// For a changed object, the fields that differ (JSON names).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<&'static str>,
}

/// Objects created, changed and deleted, each list sorted by service, kind
/// and name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// New objects.
    pub created: Vec<Change>,
    /// Objects whose fields changed.
    pub changed: Vec<Change>,
    /// Objects that are gone.
    pub deleted: Vec<Change>,
}

impl Diff {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.created.is_empty() && self.changed.is_empty() && self.deleted.is_empty()
    }

    /// Appends another diff.
    pub fn extend(&mut self, other: Diff) {
        self.created.extend(other.created);
        self.changed.extend(other.changed);
        self.deleted.extend(other.deleted);
    }

    /// Sorts each list (service, kind, name).
    pub fn sort(&mut self) {
        self.created.sort();
        self.changed.sort();
        self.deleted.sort();
    }

    /// How many objects of `kind` were created, changed and deleted.
    pub fn count(&self, kind: ChangeKind) -> (usize, usize, usize) {
        let n = |v: &[Change]| v.iter().filter(|c| c.kind == kind).count();
        (n(&self.created), n(&self.changed), n(&self.deleted))
    }

    /// The diff as pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a diff serialises");
        s.push('\n');
        s
    }

    /// The diff as text: one line per object (`+` created, `~` changed with
    /// the fields, `-` deleted), then a summary line.
    pub fn to_text(&self) -> String {
        let mut lines: Vec<(&Change, char)> = self
            .created
            .iter()
            .map(|c| (c, '+'))
            .chain(self.changed.iter().map(|c| (c, '~')))
            .chain(self.deleted.iter().map(|c| (c, '-')))
            .collect();
        lines.sort_by(|a, b| a.0.cmp(b.0).then(a.1.cmp(&b.1)));
        let mut out = String::new();
        for (c, sign) in lines {
            let _ = write!(
                out,
                "{sign} {:<12} {} {}",
                c.kind.as_str(),
                c.service,
                c.name
            );
            if !c.fields.is_empty() {
                let _ = write!(out, " ({})", c.fields.join(", "));
            }
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "{} created, {} changed, {} deleted",
            self.created.len(),
            self.changed.len(),
            self.deleted.len()
        );
        out
    }
}

fn addr_port(a: &IpAddr, port: u16) -> String {
    match a {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// Compares items keyed by identity; `name` spells a key for the report,
/// `fields` names the differing fields.
fn compare<K: Ord, T>(
    out: &mut Diff,
    service: &str,
    kind: ChangeKind,
    old: Vec<(K, &T)>,
    new: Vec<(K, &T)>,
    name: impl Fn(&K) -> String,
    fields: impl Fn(&T, &T) -> Vec<&'static str>,
) {
    let mut old: BTreeMap<K, &T> = old.into_iter().collect();
    let change = |key: &K, fields: Vec<&'static str>| Change {
        service: service.to_string(),
        kind,
        name: name(key),
        fields,
    };
    for (key, n) in new {
        match old.remove(&key) {
            None => out.created.push(change(&key, Vec::new())),
            Some(o) => {
                let f = fields(o, n);
                if !f.is_empty() {
                    out.changed.push(change(&key, f));
                }
            }
        }
    }
    for (key, _) in old {
        out.deleted.push(change(&key, Vec::new()));
    }
}

fn lb_fields(a: &LoadBalancer, b: &LoadBalancer) -> Vec<&'static str> {
    let mut f = Vec::new();
    if a.provider != b.provider {
        f.push("provider");
    }
    if a.uid != b.uid {
        f.push("uid");
    }
    if a.vips != b.vips {
        f.push("vips");
    }
    f
}

fn listener_fields(a: &Listener, b: &Listener) -> Vec<&'static str> {
    let mut f = Vec::new();
    if a.protocol != b.protocol {
        f.push("protocol");
    }
    if a.port != b.port {
        f.push("port");
    }
    if a.port_name != b.port_name {
        f.push("portName");
    }
    f
}

fn member_fields(a: &Member, b: &Member) -> Vec<&'static str> {
    let mut f = Vec::new();
    if a.node != b.node {
        f.push("node");
    }
    if a.pod != b.pod {
        f.push("pod");
    }
    if a.interface != b.interface {
        f.push("interface");
    }
    if a.network != b.network {
        f.push("network");
    }
    f
}

fn iip_fields(a: &InstanceIp, b: &InstanceIp) -> Vec<&'static str> {
    let mut f = Vec::new();
    if a.address != b.address {
        f.push("address");
    }
    if a.family != b.family {
        f.push("family");
    }
    if a.network != b.network {
        f.push("network");
    }
    f
}

fn fip_fields(a: &FloatingIp, b: &FloatingIp) -> Vec<&'static str> {
    let mut f = Vec::new();
    if a.address != b.address {
        f.push("address");
    }
    if a.network != b.network {
        f.push("network");
    }
    if a.direction != b.direction {
        f.push("direction");
    }
    if a.port_mappings_enable != b.port_mappings_enable {
        f.push("portMappingsEnable");
    }
    if a.port_mappings != b.port_mappings {
        f.push("portMappings");
    }
    if a.interfaces != b.interfaces {
        f.push("interfaces");
    }
    f
}

type Named<'a, T> = Vec<(&'a str, &'a T)>;

fn lbs(o: Option<&ServiceObjects>) -> Named<'_, LoadBalancer> {
    o.map(|o| (o.load_balancer.name.as_str(), &o.load_balancer))
        .into_iter()
        .collect()
}

fn listeners(o: Option<&ServiceObjects>) -> Named<'_, Listener> {
    o.into_iter()
        .flat_map(|o| &o.load_balancer.listeners)
        .map(|l| (l.name.as_str(), l))
        .collect()
}

/// A member's identity: listener, address, port.
type MemberKey<'a> = (&'a str, IpAddr, u16);

/// The members of the listeners whose pool is not the same in `other`.
fn members<'a>(
    ls: &[(&'a str, &'a Listener)],
    other: &[(&'a str, &'a Listener)],
) -> Vec<(MemberKey<'a>, &'a Member)> {
    ls.iter()
        .filter(|(name, l)| !other.iter().any(|(n, o)| n == name && o.pool == l.pool))
        .flat_map(|(name, l)| {
            l.pool
                .members
                .iter()
                .map(move |m| ((*name, m.address, m.port), m))
        })
        .collect()
}

fn iips(o: Option<&ServiceObjects>) -> Named<'_, InstanceIp> {
    o.into_iter()
        .flat_map(|o| &o.instance_ips)
        .map(|i| (i.name.as_str(), i))
        .collect()
}

fn fips(o: Option<&ServiceObjects>) -> Named<'_, FloatingIp> {
    o.into_iter()
        .flat_map(|o| &o.floating_ips)
        .map(|f| (f.parent.as_str(), f))
        .collect()
}

/// Appends to `out` what changes for service `service` (`namespace/name`)
/// when its objects go from `old` to `new` (`None`: it has none).
pub fn diff_service(
    service: &str,
    old: Option<&ServiceObjects>,
    new: Option<&ServiceObjects>,
    out: &mut Diff,
) {
    use ChangeKind as K;
    if old == new {
        return;
    }
    let s = |k: &&str| k.to_string();
    compare(
        out,
        service,
        K::LoadBalancer,
        lbs(old),
        lbs(new),
        s,
        lb_fields,
    );
    let (old_l, new_l) = (listeners(old), listeners(new));
    compare(
        out,
        service,
        K::Listener,
        old_l.clone(),
        new_l.clone(),
        s,
        listener_fields,
    );
    compare(
        out,
        service,
        K::Pool,
        old_l.clone(),
        new_l.clone(),
        s,
        |_, _| Vec::new(),
    );
    compare(
        out,
        service,
        K::Member,
        members(&old_l, &new_l),
        members(&new_l, &old_l),
        |(l, a, p)| format!("{l}/{}", addr_port(a, *p)),
        member_fields,
    );
    compare(
        out,
        service,
        K::InstanceIp,
        iips(old),
        iips(new),
        s,
        iip_fields,
    );
    compare(
        out,
        service,
        K::FloatingIp,
        fips(old),
        fips(new),
        s,
        fip_fields,
    );
}
