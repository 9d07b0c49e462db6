//! The C API's hot path against the native Rust calls, in one run.
//!
//! `cargo bench -p cn2-ffi --bench hotpath`
//!
//! Both sides get the same members and the same 5-tuples and go through
//! their public entry points: `Selector::select` against
//! `cn2_selector_select`, `Selector::select_burst` against
//! `cn2_selector_select_burst` (calls of 256 tuples); `FlowTable::process`
//! (and `process_bits`, which the C API calls) against
//! `cn2_flow_table_process`, `FlowTable::process_burst_by` against
//! `cn2_flow_table_process_burst` (calls of 256 packets). Each side reads
//! the same fields of its answer (the member's address and port; the
//! verdict's action, flags, member, rewrite port and whether the packet
//! created the flow), field by field as a data path would, so that neither
//! side can skip work the other does.

use std::net::IpAddr;

use cn2::*;
use cn2_core::ecmp::{Algorithm, Backend, FiveTuple, MAGLEV_DEFAULT_SIZE, Selector};
use cn2_core::flow::{FlowTable, Packet, PacketBits, PortMap, TupleBits, VerdictBits};

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

/// The last byte of an address: what the benches read of a member's
/// address, on both sides.
fn last_byte(a: IpAddr) -> u8 {
    match a {
        IpAddr::V4(v4) => v4.octets()[3],
        IpAddr::V6(v6) => v6.octets()[15],
    }
}

/// What the selection benches read of a native answer.
fn native_member(m: &Backend) -> u64 {
    m.port as u64 + last_byte(m.address) as u64
}

/// What the selection benches read of a C answer.
fn c_member(m: &cn2_member) -> u64 {
    let last = if m.address.family == 6 { 15 } else { 3 };
    m.port as u64 + m.address.bytes[last] as u64
}

/// The native Maglev selector over [`backends`], as the C benches build it.
fn native_selector() -> Selector {
    Selector::new(
        Algorithm::Maglev {
            table_size: MAGLEV_DEFAULT_SIZE,
        },
        backends(),
    )
    .unwrap()
}

#[divan::bench]
fn select_native(bencher: divan::Bencher) {
    let s = native_selector();
    let ts = native_tuples();
    bencher
        .counter(divan::counter::ItemsCount::new(ts.len()))
        .bench_local(|| {
            ts.iter()
                .map(|t| {
                    let m = s.select(divan::black_box(t)).unwrap();
                    native_member(m)
                })
                .sum::<u64>()
        });
}

/// The tuples of one burst call, as a data-plane agent receives packets
/// (DPDK's bursts are 32 to 256 packets).
const BURST: usize = 64;

/// The members of [`backends`] in C form.
fn c_members() -> Vec<cn2_member> {
    backends()
        .iter()
        .map(|b| cn2_member {
            address: ip(match b.address {
                IpAddr::V4(a) => a.into(),
                _ => 0,
            }),
            port: b.port,
            weight: 1,
        })
        .collect()
}

/// A C Maglev selector over [`c_members`]; the bench frees it.
fn c_selector() -> *mut cn2_selector {
    let members = c_members();
    let mut s = std::ptr::null_mut();
    // SAFETY: valid pointers.
    let r = unsafe {
        cn2_selector_new(
            cn2_lb_algorithm::CN2_LB_MAGLEV,
            members.as_ptr(),
            members.len(),
            &mut s,
        )
    };
    assert_eq!(r, cn2_result::CN2_OK);
    s
}

#[divan::bench]
fn select_c_api(bencher: divan::Bencher) {
    let s = c_selector();
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
                sum += c_member(&out);
            }
            sum
        });
    // SAFETY: created above.
    unsafe { cn2_selector_free(s) };
}

#[divan::bench]
fn select_burst_native(bencher: divan::Bencher) {
    let s = native_selector();
    let ts = native_tuples();
    let mut out = vec![None; BURST];
    bencher
        .counter(divan::counter::ItemsCount::new(ts.len()))
        .bench_local(|| {
            let mut sum = 0;
            for burst in ts.chunks(BURST) {
                s.select_burst(divan::black_box(burst), &mut out);
                sum += out[..burst.len()]
                    .iter()
                    .map(|m| native_member(m.unwrap()))
                    .sum::<u64>();
            }
            sum
        });
}

#[divan::bench]
fn select_burst_c_api(bencher: divan::Bencher) {
    let s = c_selector();
    let ts = c_tuples();
    let mut out = vec![c_members()[0]; BURST];
    bencher
        .counter(divan::counter::ItemsCount::new(ts.len()))
        .bench_local(|| {
            let mut sum = 0;
            for burst in ts.chunks(BURST) {
                // SAFETY: live handle, `burst.len()` tuples and members.
                let r = unsafe {
                    cn2_selector_select_burst(
                        s,
                        divan::black_box(burst.as_ptr()),
                        burst.len(),
                        out.as_mut_ptr(),
                    )
                };
                assert_eq!(r, cn2_result::CN2_OK);
                sum += out[..burst.len()].iter().map(c_member).sum::<u64>();
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
    let sel = native_selector();
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
                .map(|p| {
                    let v = t.process(divan::black_box(p), 1);
                    let member = v.flow.and_then(|f| f.member);
                    v.created as u64
                        + v.action as u64
                        + v.flow.map_or(0, |f| f.flags.0 as u64)
                        + member.map_or(0, |m| m.port as u64 + last_byte(m.address) as u64)
                        + v.flow.and_then(|f| f.rewrite).map_or(0, |r| r.1 as u64)
                })
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
                .map(|p| bits_verdict_fields(&t.process_bits(1, divan::black_box(p), 0, 1)))
                .sum::<u64>()
        });
}

/// The C flow table of the flow benches: capacity 100,000, the service
/// mapped over 100 members by Maglev, every tuple of [`c_tuples`] already
/// a connection. The bench frees it.
fn c_flow_table() -> *mut cn2_flow_table {
    let members: Vec<cn2_member> = (1..=100u32)
        .map(|i| cn2_member {
            address: ip(0x0a00_0000 + i),
            port: 8080,
            weight: 1,
        })
        .collect();
    let mut t = std::ptr::null_mut();
    let vip = ip(0x0a60_000a);
    // SAFETY: valid pointers.
    unsafe {
        assert_eq!(cn2_flow_table_new(100_000, 180, &mut t), cn2_result::CN2_OK);
        let r = cn2_flow_table_map_port(
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
        assert_eq!(r, cn2_result::CN2_OK);
    }
    let mut v = std::mem::MaybeUninit::<cn2_flow_verdict>::uninit();
    for tp in &c_tuples() {
        // SAFETY: live handle, valid pointers.
        unsafe { cn2_flow_table_process(t, 1, tp, 0, 0, v.as_mut_ptr()) };
    }
    t
}

/// What the flow benches read of a C verdict.
fn c_verdict_fields(v: &cn2_flow_verdict) -> u64 {
    v.created as u64
        + v.action as u64
        + v.nat_flags as u64
        + if v.has_member {
            v.member.port as u64 + v.member.address.bytes[3] as u64
        } else {
            0
        }
        + if v.has_rewrite {
            v.rewrite_port as u64
        } else {
            0
        }
}

/// What the flow benches read of a native verdict in bits.
fn bits_verdict_fields(v: &VerdictBits) -> u64 {
    v.created as u64
        + v.action as u64
        + v.flags.0 as u64
        + v.member.map_or(0, |m| m.1 as u64 + m.0 as u8 as u64)
        + v.rewrite.map_or(0, |r| r.1 as u64)
}

/// Bursts of [`BURST`] established flows, natively: `process_burst_by`
/// (what the C burst call runs) reading packets as bits.
#[divan::bench]
fn flow_burst_native(bencher: divan::Bencher) {
    let t = native_table();
    let ps: Vec<PacketBits> = native_tuples()
        .iter()
        .map(|tuple| PacketBits {
            vrf: 1,
            tuple: TupleBits::from(tuple),
            tcp_flags: 0,
        })
        .collect();
    for p in &ps {
        t.process_bits(1, &p.tuple, 0, 0);
    }
    bencher
        .counter(divan::counter::ItemsCount::new(ps.len()))
        .bench_local(|| {
            let mut n = 0u64;
            for burst in ps.chunks(BURST) {
                t.process_burst_by(
                    divan::black_box(burst),
                    1,
                    |p| *p,
                    |_, v| n += bits_verdict_fields(&v),
                );
            }
            n
        });
}

/// The same bursts through `cn2_flow_table_process_burst`.
#[divan::bench]
fn flow_burst_c_api(bencher: divan::Bencher) {
    let t = c_flow_table();
    let ps: Vec<cn2_flow_packet> = c_tuples()
        .into_iter()
        .map(|tuple| cn2_flow_packet {
            vrf: 1,
            tuple,
            tcp_flags: 0,
        })
        .collect();
    let mut out: Vec<std::mem::MaybeUninit<cn2_flow_verdict>> = Vec::with_capacity(BURST);
    out.resize_with(BURST, std::mem::MaybeUninit::uninit);
    bencher
        .counter(divan::counter::ItemsCount::new(ps.len()))
        .bench_local(|| {
            let mut n = 0u64;
            for burst in ps.chunks(BURST) {
                // SAFETY: live handle, `burst.len()` packets and verdicts.
                let r = unsafe {
                    cn2_flow_table_process_burst(
                        t,
                        divan::black_box(burst.as_ptr()),
                        burst.len(),
                        1,
                        out.as_mut_ptr().cast(),
                    )
                };
                assert_eq!(r, cn2_result::CN2_OK);
                for v in &out[..burst.len()] {
                    // SAFETY: written by the call.
                    n += c_verdict_fields(unsafe { v.assume_init_ref() });
                }
            }
            n
        });
    // SAFETY: created above.
    unsafe { cn2_flow_table_free(t) };
}

#[divan::bench]
fn flow_lookup_c_api(bencher: divan::Bencher) {
    let t = c_flow_table();
    let ts = c_tuples();
    let mut v = std::mem::MaybeUninit::<cn2_flow_verdict>::uninit();
    bencher
        .counter(divan::counter::ItemsCount::new(ts.len()))
        .bench_local(|| {
            let mut n = 0u64;
            for tp in &ts {
                // SAFETY: live handle, valid pointers; written by the call.
                unsafe {
                    cn2_flow_table_process(t, 1, divan::black_box(tp), 0, 1, v.as_mut_ptr());
                    n += c_verdict_fields(v.assume_init_ref());
                }
            }
            n
        });
    // SAFETY: created above.
    unsafe { cn2_flow_table_free(t) };
}
