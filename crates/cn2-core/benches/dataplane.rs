//! Data-plane structures: Maglev table build, established-flow lookups and
//! new-flow setup.
//!
//! `cargo bench -p cn2-core --bench dataplane`
//!
//! Targets: Maglev build (M = 65537, N = 1,000) ≤ 3 ms; established-flow
//! lookups in a table of 1,000,000 flows ≥ 20 million/s on one core; new
//! connections (forward and reverse flow with NAT) ≥ 2 million/s on one core.

use cn2_core::ecmp::hash::{FiveTuple, mix};
use cn2_core::ecmp::{Algorithm, MAGLEV_DEFAULT_SIZE, Maglev, Selector};
use cn2_core::flow::{Action, Decision, FlowTable, Packet};

mod flows;

use flows::{backends, packet, table};

fn main() {
    divan::main();
}

/// The connections every established-flow case looks up.
const CONNECTIONS: u64 = 500_000;

/// A table of capacity 1,200,000 holding [`CONNECTIONS`] connections
/// (1,000,000 flows), all made at time 0.
fn established_table() -> FlowTable {
    let t = table(1_200_000);
    for i in 0..CONNECTIONS {
        assert!(t.process(&packet(i), 0).created);
    }
    assert_eq!(t.len(), 1_000_000);
    t
}

/// `order` looked up in one [`FlowTable::process_burst`] call per sample;
/// every packet must find its NAT flow.
fn bench_bursts(bencher: divan::Bencher, t: &FlowTable, order: &[Packet]) {
    let mut out = vec![Decision::EMPTY; order.len()];
    bencher
        .counter(divan::counter::ItemsCount::new(order.len()))
        .bench_local(|| {
            t.process_burst(order, 1, &mut out);
            assert!(out.iter().all(|d| d.action == Action::Nat));
        });
}

#[divan::bench(args = [100, 1000])]
fn maglev_build_65537(bencher: divan::Bencher, n: u32) {
    let members = backends(n);
    bencher.bench_local(|| Maglev::new(members.clone(), MAGLEV_DEFAULT_SIZE).unwrap());
}

/// Lookups of established flows in a table of 1,000,000 flows (500,000
/// connections), one core, random order.
#[divan::bench(sample_count = 20)]
fn established_lookup_1m_flows(bencher: divan::Bencher) {
    let t = established_table();
    let order: Vec<Packet> = (0..100_000u64)
        .map(|i| packet(mix(i ^ 0xabcd) % CONNECTIONS))
        .collect();
    bencher
        .counter(divan::counter::ItemsCount::new(order.len()))
        .bench_local(|| {
            let mut nat = 0u32;
            for p in &order {
                nat += (t.process(p, 1).action == Action::Nat) as u32;
            }
            nat
        });
}

/// The same lookups in one [`FlowTable::process_burst`] call (keys hashed
/// and slots prefetched in groups ahead of the lookups).
#[divan::bench(sample_count = 20)]
fn established_burst_1m_flows(bencher: divan::Bencher) {
    let t = established_table();
    let order: Vec<Packet> = (0..100_000u64)
        .map(|i| packet(mix(i ^ 0xabcd) % CONNECTIONS))
        .collect();
    bench_bursts(bencher, &t, &order);
}

/// Bursts over a hot set of 4,096 connections in the same table: the
/// lookups' own cost, with the flows in the caches.
#[divan::bench(sample_count = 20)]
fn established_burst_hot_set(bencher: divan::Bencher) {
    let t = established_table();
    let order: Vec<Packet> = (0..100_000u64).map(|i| packet(mix(i) % 4096)).collect();
    bench_bursts(bencher, &t, &order);
}

/// Lookups of established flows in the same 1,000,000-flow table, over a
/// hot set of 4,096 connections (traffic with locality: packets of active
/// connections arrive in trains).
#[divan::bench(sample_count = 20)]
fn established_lookup_hot_set(bencher: divan::Bencher) {
    let t = established_table();
    let order: Vec<Packet> = (0..100_000u64).map(|i| packet(mix(i) % 4096)).collect();
    bencher
        .counter(divan::counter::ItemsCount::new(order.len()))
        .bench_local(|| {
            let mut nat = 0u32;
            for p in &order {
                nat += (t.process(p, 1).action == Action::Nat) as u32;
            }
            nat
        });
}

/// New connections: forward and reverse flow with NAT, member chosen by Maglev.
#[divan::bench(sample_count = 20)]
fn new_flow_setup(bencher: divan::Bencher) {
    const N: u64 = 100_000;
    let packets: Vec<Packet> = (0..N).map(packet).collect();
    bencher
        .counter(divan::counter::ItemsCount::new(N as usize))
        .with_inputs(|| table(2 * N as usize + 2))
        .bench_local_values(|t| {
            for p in &packets {
                assert!(t.process(p, 0).created);
            }
            t
        });
}

/// Member selection for a 5-tuple over 100 members: the flow hash plus the
/// vRouter slot choice or the Maglev table lookup (M = 65537).
#[divan::bench(args = ["ecmp", "maglev"])]
fn select_member(bencher: divan::Bencher, algorithm: &str) {
    let selector = Selector::new(Algorithm::parse(algorithm).unwrap(), backends(100)).unwrap();
    let tuples: Vec<FiveTuple> = (0..10_000u64).map(|i| packet(i).tuple).collect();
    bencher
        .counter(divan::counter::ItemsCount::new(tuples.len()))
        .bench_local(|| {
            tuples
                .iter()
                .map(|t| selector.select(t).map_or(0, |b| b.port as u64))
                .sum::<u64>()
        });
}

/// New connections arriving in a burst ([`FlowTable::process_burst`]):
/// the forward slot is prefetched with the burst.
#[divan::bench(sample_count = 20)]
fn new_flow_setup_burst(bencher: divan::Bencher) {
    const N: u64 = 100_000;
    let packets: Vec<Packet> = (0..N).map(packet).collect();
    bencher
        .counter(divan::counter::ItemsCount::new(N as usize))
        .with_inputs(|| (table(2 * N as usize + 2), vec![Decision::EMPTY; N as usize]))
        .bench_local_values(|(t, mut out)| {
            t.process_burst(&packets, 0, &mut out);
            assert_eq!(t.len(), 2 * N as usize);
            (t, out)
        });
}

/// A sweep of [`FlowTable::expire`] over 1,000,000 live flows that removes
/// nothing: the scan cost, and so how long a sweep holds each of the 64
/// shards (a 64th of it).
#[divan::bench(sample_count = 20)]
fn expire_sweep_1m_flows(bencher: divan::Bencher) {
    let t = established_table();
    bencher.bench_local(|| assert_eq!(t.expire(100), 0));
}
