//! The C API's hot path against the native Rust calls, in one run.
//!
//! `cargo bench -p cn2-ffi --bench hotpath`
//!
//! Both sides get the same members and the same 5-tuples and go through
//! their public entry points: `Selector::select` against
//! `cn2_selector_select`; `FlowTable::process` (and `process_bits`, which the
//! C API calls) against `cn2_flow_table_process`. Each consumes its whole
//! answer (the chosen member, the verdict), so that neither side can skip
//! work the other does.

use std::net::IpAddr;

use cn2::*;
use cn2_core::ecmp::{Algorithm, Backend, FiveTuple, MAGLEV_DEFAULT_SIZE, Selector};
use cn2_core::flow::{FlowTable, Packet, PortMap, TupleBits};

fn main() {
    divan::main();
}

fn ip(a: u32) -> cn2_ip {
    let mut bytes = [0u8; 16];
    bytes[..4].copy_from_slice(&a.to_be_bytes());
    cn2_ip { family: 4, bytes }
}

fn c_tuples() -> Vec<cn2_five_tuple> {
    (0..4096u32)
        .map(|i| cn2_five_tuple {
            protocol: 6,
            src: ip(0x0a01_0000 + i),
            src_port: 1024 + i as u16,
            dst: ip(0x0a60_000a),
            dst_port: 80,
        })
        .collect()
}

fn native_tuples() -> Vec<FiveTuple> {
    (0..4096u32)
        .map(|i| FiveTuple {
            protocol: 6,
            src: IpAddr::from((0x0a01_0000 + i).to_be_bytes()),
            src_port: 1024 + i as u16,
            dst: "10.96.0.10".parse().unwrap(),
            dst_port: 80,
        })
        .collect()
}

fn backends() -> Vec<Backend> {
    (1..=100u32)
        .map(|i| Backend {
            address: IpAddr::from((0x0a00_0000 + i).to_be_bytes()),
            port: 8080,
            weight: 1,
        })
        .collect()
}

#[divan::bench]
fn select_native(bencher: divan::Bencher) {
    let s = Selector::new(
        Algorithm::Maglev {
            table_size: MAGLEV_DEFAULT_SIZE,
        },
        backends(),
    )
    .unwrap();
    let ts = native_tuples();
    bencher
        .counter(divan::counter::ItemsCount::new(ts.len()))
        .bench_local(|| {
            ts.iter()
                .map(|t| {
                    let m = *s.select(divan::black_box(t)).unwrap();
                    divan::black_box(m).port as u64
                })
                .sum::<u64>()
        });
}

#[divan::bench]
fn select_c_api(bencher: divan::Bencher) {
    let members: Vec<cn2_member> = backends()
        .iter()
        .map(|b| cn2_member {
            address: ip(match b.address {
                IpAddr::V4(a) => a.into(),
                _ => 0,
            }),
            port: b.port,
            weight: 1,
        })
        .collect();
    let mut s = std::ptr::null_mut();
    // SAFETY: valid pointers; freed below.
    unsafe {
        cn2_selector_new(
            cn2_lb_algorithm::CN2_LB_MAGLEV,
            members.as_ptr(),
            members.len(),
            &mut s,
        )
    };
    let ts = c_tuples();
    bencher
        .counter(divan::counter::ItemsCount::new(ts.len()))
        .bench_local(|| {
            let mut out = cn2_member {
                address: ip(0),
                port: 0,
                weight: 0,
            };
            let mut sum = 0u64;
            for t in &ts {
                // SAFETY: live handle, valid pointers.
                unsafe { cn2_selector_select(s, divan::black_box(t), &mut out) };
                sum += divan::black_box(out).port as u64;
            }
            sum
        });
    // SAFETY: created above.
    unsafe { cn2_selector_free(s) };
}

/// The native table of the flow benches: the C one's capacity, port
/// mapping and members.
fn native_table() -> FlowTable {
    let mut t = FlowTable::new(100_000, 180).unwrap();
    let sel = Selector::new(
        Algorithm::Maglev {
            table_size: MAGLEV_DEFAULT_SIZE,
        },
        backends(),
    )
    .unwrap();
    t.map_port(
        1,
        "10.96.0.10".parse().unwrap(),
        6,
        80,
        PortMap {
            target_port: 8080,
            selector: sel,
        },
    );
    t
}

#[divan::bench]
fn flow_lookup_native(bencher: divan::Bencher) {
    let t = native_table();
    let ps: Vec<Packet> = native_tuples()
        .into_iter()
        .map(|tuple| Packet {
            vrf: 1,
            tuple,
            tcp_flags: 0,
        })
        .collect();
    for p in &ps {
        t.process(p, 0);
    }
    bencher
        .counter(divan::counter::ItemsCount::new(ps.len()))
        .bench_local(|| {
            ps.iter()
                .map(|p| divan::black_box(t.process(divan::black_box(p), 1)).created as u64)
                .sum::<u64>()
        });
}

/// The flow table keyed by address bits, as the C API calls it: the
/// native cost of `cn2_flow_table_process` without the C boundary.
#[divan::bench]
fn flow_lookup_native_bits(bencher: divan::Bencher) {
    let t = native_table();
    let ps: Vec<TupleBits> = native_tuples().iter().map(TupleBits::from).collect();
    for p in &ps {
        t.process_bits(1, p, 0, 0);
    }
    bencher
        .counter(divan::counter::ItemsCount::new(ps.len()))
        .bench_local(|| {
            ps.iter()
                .map(|p| {
                    divan::black_box(t.process_bits(1, divan::black_box(p), 0, 1)).created as u64
                })
                .sum::<u64>()
        });
}

#[divan::bench]
fn flow_lookup_c_api(bencher: divan::Bencher) {
    let members: Vec<cn2_member> = (1..=100u32)
        .map(|i| cn2_member {
            address: ip(0x0a00_0000 + i),
            port: 8080,
            weight: 1,
        })
        .collect();
    let mut t = std::ptr::null_mut();
    let vip = ip(0x0a60_000a);
    let ts = c_tuples();
    // SAFETY: valid pointers; freed below.
    unsafe {
        cn2_flow_table_new(100_000, 180, &mut t);
        cn2_flow_table_map_port(
            t,
            1,
            &vip,
            6,
            80,
            8080,
            cn2_lb_algorithm::CN2_LB_MAGLEV,
            members.as_ptr(),
            members.len(),
        );
    }
    let mut v = std::mem::MaybeUninit::<cn2_flow_verdict>::uninit();
    for tp in &ts {
        // SAFETY: live handle, valid pointers.
        unsafe { cn2_flow_table_process(t, 1, tp, 0, 0, v.as_mut_ptr()) };
    }
    bencher
        .counter(divan::counter::ItemsCount::new(ts.len()))
        .bench_local(|| {
            let mut n = 0u64;
            for tp in &ts {
                // SAFETY: live handle, valid pointers.
                unsafe {
                    cn2_flow_table_process(t, 1, divan::black_box(tp), 0, 1, v.as_mut_ptr());
                    n += divan::black_box(v.assume_init()).created as u64;
                }
            }
            n
        });
    // SAFETY: created above.
    unsafe { cn2_flow_table_free(t) };
}
