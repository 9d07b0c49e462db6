//! Established-flow lookups in bursts, over a hot set of a chosen size: how
//! the cost of a lookup grows as the flows it touches outgrow the caches
//! and the TLB.
//!
//! `cargo run --release -p cn2-core --example flow_burst -- HOT [CONNECTIONS]`
//!
//! Fills a table with `CONNECTIONS` connections (default 500,000, so
//! 1,000,000 flows, in a table of 2.4 times that capacity, as the
//! `dataplane` bench does), then looks up 100,000 packets of established
//! connections 300 times through [`FlowTable::process_burst`] and prints the
//! time per lookup. The packets come from the first `HOT` connections, or
//! from all of them when `HOT` is 0.

use cn2_core::ecmp::hash::mix;
use cn2_core::flow::{Action, Decision, Packet};

#[path = "../benches/flows/mod.rs"]
mod flows;

use flows::{packet, table};

fn argument(n: usize, default: Option<u64>) -> u64 {
    match std::env::args().nth(n) {
        Some(s) => s.parse().unwrap_or_else(|_| {
            eprintln!("flow_burst: argument {n} ({s:?}) is not a number");
            std::process::exit(2)
        }),
        None => default.unwrap_or_else(|| {
            eprintln!("usage: flow_burst HOT [CONNECTIONS]");
            std::process::exit(2)
        }),
    }
}

fn main() {
    let hot = argument(1, None);
    let connections = argument(2, Some(500_000)).max(1);
    let table = table(connections as usize * 12 / 5);
    for i in 0..connections {
        assert!(table.process(&packet(i), 0).created);
    }
    let spread = if hot == 0 {
        connections
    } else {
        hot.min(connections)
    };
    let order: Vec<Packet> = (0..100_000u64)
        .map(|i| packet(mix(i ^ 0xabcd) % spread))
        .collect();
    let mut out = vec![Decision::EMPTY; order.len()];
    let rounds = 300;
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        table.process_burst(&order, 1, &mut out);
        assert!(out.iter().all(|d| d.action == Action::Nat));
    }
    let ns = start.elapsed().as_nanos() as f64 / (rounds * order.len()) as f64;
    println!(
        "{ns:.2} ns per lookup ({:.2} M/s), hot set {spread} of {connections} connections",
        1000.0 / ns
    );
}
