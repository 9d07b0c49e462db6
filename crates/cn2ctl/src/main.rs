//! `cn2ctl`: the command a user runs first.
//!
//! `cn2ctl plan [-o table|json|yaml] [--state DIR] PATH...` reads Kubernetes
//! manifests (files, directories, `-` for stdin) and prints what cn2 does with
//! every service: its ClusterIPs, its external network and external
//! addresses, or why it is pending.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use cn2_core::ipam::{Allocator, JsonFileStore, Store};
use cn2_core::model::{Inventory, load_paths};
use cn2_core::plan::{Plan, plan};

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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
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
