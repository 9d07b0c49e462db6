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

use std::net::{IpAddr, Ipv4Addr};

use cn2_core::ecmp::hash::{FiveTuple, mix};
use cn2_core::ecmp::{Algorithm, Backend, MAGLEV_DEFAULT_SIZE, Selector};
use cn2_core::flow::{Action, Decision, FlowTable, Packet, PortMap};

/// Connection `i`: a pseudo-random client to the service 10.96.0.10:80.
fn packet(i: u64) -> Packet {
    let r = mix(i);
    Packet {
        vrf: 1,
        tuple: FiveTuple {
            protocol: 6,
            src: IpAddr::V4(Ipv4Addr::from(r as u32)),
            src_port: (r >> 32) as u16,
            dst: IpAddr::V4(Ipv4Addr::new(10, 96, 0, 10)),
            dst_port: 80,
        },
        tcp_flags: 0,
    }
}

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
    let mut table = FlowTable::new(connections as usize * 12 / 5, 180).unwrap();
    let members: Vec<Backend> = (0..100u32)
        .map(|i| Backend {
            address: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
            port: 8080,
            weight: 1,
        })
        .collect();
    let selector = Selector::new(
        Algorithm::Maglev {
            table_size: MAGLEV_DEFAULT_SIZE,
        },
        members,
    )
    .unwrap();
    table.map_port(
        1,
        "10.96.0.10".parse().unwrap(),
        6,
        80,
        PortMap {
            target_port: 8080,
            selector,
        },
    );
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
