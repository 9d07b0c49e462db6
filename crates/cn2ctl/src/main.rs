//! `cn2ctl`: the command a user runs first.
//!
//! `cn2ctl plan [-o table|json|yaml] [--state DIR] PATH...` reads Kubernetes
//! manifests (files, directories, `-` for stdin) and prints what cn2 does with
//! every service: its ClusterIPs, its external network and external
//! addresses, or why it is pending.
//!
//! `cn2ctl flow PATH... --node N --proto tcp --src IP:PORT --dst IP:PORT`
//! asks node N's flow table what happens to a connection's first packet.
//!
//! `cn2ctl diff [-o text|json] OLD NEW` prints which load-balancer objects
//! (loadbalancers, listeners, pools, members, InstanceIPs, FloatingIPs) are
//! created, changed and deleted when the manifests OLD are replaced by NEW;
//! like `kubectl diff`, it exits 0 when nothing changes, 1 when something
//! does, and 2 on an error.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use cn2_core::cluster::Cluster;
use cn2_core::ecmp::FiveTuple;
use cn2_core::flow::{DEFAULT_IDLE_TIMEOUT, Flow, Packet, node_table};
use cn2_core::ipam::{Allocator, JsonFileStore, Store};
use cn2_core::lb::Diff;
use cn2_core::model::{Inventory, Manifests, load_paths};
use cn2_core::plan::{Plan, plan};
use serde_json::{Value, json};

/// Kubernetes service networking the Cloud-Native Contrail way.
#[derive(Parser)]
#[command(name = "cn2ctl", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print what cn2 does with every service of a set of manifests.
    Plan {
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Table)]
        output: Format,
        /// Keep address allocations in DIR between runs (stickiness across
        /// changed manifests); without it every run starts empty.
        #[arg(long, value_name = "DIR")]
        state: Option<PathBuf>,
        /// Manifest files or directories (recursively); `-` reads stdin.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Show which load-balancer objects change when the manifests OLD are
    /// replaced by NEW (exit status 0: no change, 1: changes, 2: error).
    Diff {
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value_t = DiffFormat::Text)]
        output: DiffFormat,
        /// The manifests before: a file or a directory (recursively).
        #[arg(value_name = "OLD")]
        old: PathBuf,
        /// The manifests after: a file or a directory (recursively).
        #[arg(value_name = "NEW")]
        new: PathBuf,
    },
    /// Ask a node's flow table what happens to the first packet of a
    /// connection: the member chosen and both flows with their NAT actions.
    Flow {
        /// The node the packet enters.
        #[arg(long)]
        node: String,
        /// The transport protocol.
        #[arg(long, value_enum)]
        proto: Proto,
        /// Source `IP:PORT` (`[IPv6]:PORT` for IPv6).
        #[arg(long, value_name = "IP:PORT")]
        src: SocketAddr,
        /// Destination `IP:PORT`.
        #[arg(long, value_name = "IP:PORT")]
        dst: SocketAddr,
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value_t = FlowFormat::Text)]
        output: FlowFormat,
        /// Manifest files or directories (recursively); `-` reads stdin.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum DiffFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum Proto {
    Tcp,
    Udp,
    Sctp,
}

#[derive(Clone, Copy, ValueEnum)]
enum FlowFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
    Yaml,
}

/// Everything that makes `cn2ctl` fail.
#[derive(Debug, thiserror::Error)]
enum CtlError {
    #[error(transparent)]
    Model(#[from] cn2_core::model::ModelError),
    #[error(transparent)]
    Ipam(#[from] cn2_core::ipam::IpamError),
    #[error(transparent)]
    Plan(#[from] cn2_core::plan::PlanError),
    #[error(transparent)]
    Flow(#[from] cn2_core::flow::FlowError),
    #[error(transparent)]
    Cluster(#[from] cn2_core::cluster::ClusterError),
    #[error("node {0} is not among the manifests' nodes")]
    UnknownNode(String),
}

/// Loads a manifest set for `diff`, rejecting it whole if any object is bad
/// (as `plan` does).
fn load_set(path: &PathBuf) -> Result<Manifests, CtlError> {
    let manifests = load_paths(std::slice::from_ref(path))?;
    Inventory::resolve(&manifests)?;
    Ok(manifests)
}

/// What changes when the manifests at `old` are replaced by those at `new`:
/// `old` is applied to an empty cluster, then replaced by `new`, so the
/// services of both keep their addresses as a running cluster would.
fn diff(old: &PathBuf, new: &PathBuf) -> Result<Diff, CtlError> {
    let (old, new) = (load_set(old)?, load_set(new)?);
    let mut cluster = Cluster::new();
    cluster.apply(old)?;
    Ok(cluster.replace_all(new)?.diff)
}

fn make_plan(paths: &[PathBuf], state: Option<&PathBuf>) -> Result<Plan, CtlError> {
    let manifests = load_paths(paths)?;
    let inventory = Inventory::resolve(&manifests)?;
    fn run<S: Store>(inv: &Inventory, mut alloc: Allocator<S>) -> Result<Plan, CtlError> {
        Ok(plan(inv, &mut alloc)?)
    }
    match state {
        Some(dir) => run(
            &inventory,
            Allocator::with_store(JsonFileStore::open(dir)?)?,
        ),
        None => run(&inventory, Allocator::in_memory()),
    }
}

fn flow_json(f: &Flow, vrfs: &[String]) -> Value {
    let t = &f.key.tuple;
    json!({
        "key": {
            "vrf": vrfs.get(f.key.vrf as usize - 1),
            "protocol": t.protocol,
            "src": t.src, "srcPort": t.src_port,
            "dst": t.dst, "dstPort": t.dst_port,
        },
        "action": f.action.as_str(),
        "flags": f.flags.names(),
        "rewrite": f.rewrite.map(|(a, p)| json!({"address": a, "port": p})),
    })
}

fn flow(
    node: &str,
    proto: Proto,
    src: SocketAddr,
    dst: SocketAddr,
    paths: &[PathBuf],
) -> Result<Value, CtlError> {
    let p = make_plan(paths, None)?;
    let nt = node_table(&p, node, 1024, DEFAULT_IDLE_TIMEOUT)?
        .ok_or_else(|| CtlError::UnknownNode(node.to_string()))?;
    let routes = p
        .nodes
        .iter()
        .find(|n| n.name == node)
        .expect("node_table found it");
    let default_vrf = routes
        .routes
        .first()
        .map_or_else(|| "pod-network".to_string(), |r| r.vrf.to_string());
    let vrf_name = nt.vrf_for(routes, &dst.ip(), &default_vrf);
    // A VRF without FloatingIP routes on this node gets the next number: no
    // service is mapped there, so its traffic is forwarded untranslated.
    let mut names = nt.vrfs.clone();
    let vrf = nt.vrf_id(&vrf_name).unwrap_or_else(|| {
        names.push(vrf_name.clone());
        names.len() as u32
    });
    let packet = Packet {
        vrf,
        tuple: FiveTuple {
            protocol: match proto {
                Proto::Tcp => 6,
                Proto::Udp => 17,
                Proto::Sctp => 132,
            },
            src: src.ip(),
            src_port: src.port(),
            dst: dst.ip(),
            dst_port: dst.port(),
        },
        tcp_flags: 0,
    };
    let v = nt.table.process(&packet, 0);
    let to_json = |f: &Flow| flow_json(f, &names);
    Ok(json!({
        "node": node,
        "vrf": vrf_name,
        "action": v.action.as_str(),
        "dropReason": v.drop_reason.map(|r| r.as_str()),
        "member": v.flow.and_then(|f| f.member).map(|m| json!({"address": m.address, "port": m.port})),
        "forward": v.flow.as_ref().map(to_json),
        "reverse": v.reverse.as_ref().map(to_json),
    }))
}

fn flow_text(v: &Value) -> String {
    let mut out = format!(
        "node {} vrf {}: {}",
        v["node"].as_str().unwrap_or(""),
        v["vrf"].as_str().unwrap_or(""),
        v["action"].as_str().unwrap_or("")
    );
    if let Some(r) = v["dropReason"].as_str() {
        out.push_str(&format!(" ({r})"));
    }
    out.push('\n');
    if let Some(m) = v["member"].as_object() {
        out.push_str(&format!(
            "member   {}:{}\n",
            m["address"].as_str().unwrap_or(""),
            m["port"]
        ));
    }
    for dir in ["forward", "reverse"] {
        let f = &v[dir];
        if f.is_null() {
            continue;
        }
        let k = &f["key"];
        let flags: Vec<&str> = f["flags"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let rewrite = f["rewrite"]
            .as_object()
            .map(|r| format!(" -> {}:{}", r["address"].as_str().unwrap_or(""), r["port"]))
            .unwrap_or_default();
        out.push_str(&format!(
            "{dir:<8} {} {}:{} > {}:{}  {} {}{rewrite}\n",
            k["protocol"],
            k["src"].as_str().unwrap_or(""),
            k["srcPort"],
            k["dst"].as_str().unwrap_or(""),
            k["dstPort"],
            f["action"].as_str().unwrap_or(""),
            flags.join("|"),
        ));
    }
    out
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Diff { output, old, new } => match diff(&old, &new) {
            Ok(d) => {
                match output {
                    DiffFormat::Text => print!("{}", d.to_text()),
                    DiffFormat::Json => print!("{}", d.to_json()),
                }
                if d.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => {
                eprintln!("cn2ctl: error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Flow {
            node,
            proto,
            src,
            dst,
            output,
            paths,
        } => match flow(&node, proto, src, dst, &paths) {
            Ok(v) => {
                match output {
                    FlowFormat::Json => {
                        println!("{}", serde_json::to_string_pretty(&v).expect("JSON"))
                    }
                    FlowFormat::Text => print!("{}", flow_text(&v)),
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("cn2ctl: error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Plan {
            output,
            state,
            paths,
        } => match make_plan(&paths, state.as_ref()) {
            Ok(p) => {
                let text = match output {
                    Format::Table => p.to_table(),
                    Format::Json => p.to_json(),
                    Format::Yaml => p.to_yaml(),
                };
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("cn2ctl: error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
