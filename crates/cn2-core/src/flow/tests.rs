use super::*;
use crate::ecmp::{Algorithm, Backend};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn backend(a: &str, port: u16) -> Backend {
    Backend {
        address: ip(a),
        port,
        weight: 1,
    }
}

fn table(alg: Algorithm) -> FlowTable {
    let mut t = FlowTable::new(1000, DEFAULT_IDLE_TIMEOUT).unwrap();
    let sel = Selector::new(
        alg,
        vec![backend("10.47.255.238", 80), backend("10.47.255.237", 80)],
    )
    .unwrap();
    t.map_port(
        1,
        ip("10.96.100.10"),
        6,
        8888,
        PortMap {
            target_port: 80,
            selector: sel,
        },
    );
    t
}

fn pkt(src: &str, sport: u16, dst: &str, dport: u16) -> Packet {
    Packet {
        vrf: 1,
        tuple: FiveTuple {
            protocol: 6,
            src: ip(src),
            src_port: sport,
            dst: ip(dst),
            dst_port: dport,
        },
        tcp_flags: 0,
    }
}

#[test]
fn first_packet_creates_the_nat_pair() {
    let t = table(Algorithm::Ecmp);
    let v = t.process(&pkt("10.47.255.250", 40000, "10.96.100.10", 8888), 0);
    assert!(v.created);
    assert_eq!(v.action, Action::Nat);
    let fwd = v.flow.unwrap();
    let rev = v.reverse.unwrap();
    let member = fwd.member.unwrap();
    assert_eq!(fwd.flags.names(), ["DNAT", "DPAT"]);
    assert_eq!(fwd.rewrite, Some((member.address, 80)));
    assert_eq!(rev.flags.names(), ["SNAT", "SPAT"]);
    assert_eq!(rev.rewrite, Some((ip("10.96.100.10"), 8888)));
    assert_eq!(rev.key.tuple.src, member.address);
    assert_eq!(rev.key.tuple.src_port, 80);
    assert_eq!(
        (rev.key.tuple.dst, rev.key.tuple.dst_port),
        (ip("10.47.255.250"), 40000)
    );
    assert_eq!(fwd.reverse, rev.key);
    assert_eq!(rev.reverse, fwd.key);
    assert_eq!(t.len(), 2);

    // The member's reply matches the reverse flow.
    let reply = t.process(
        &Packet {
            vrf: 1,
            tuple: rev.key.tuple,
            tcp_flags: 0,
        },
        1,
    );
    assert!(!reply.created);
    assert_eq!(reply.flow.unwrap().flags.names(), ["SNAT", "SPAT"]);
    assert_eq!(t.len(), 2);
}

#[test]
fn affinity_survives_new_members() {
    for alg in [Algorithm::Ecmp, Algorithm::Maglev { table_size: 251 }] {
        let mut t = table(alg);
        let packets: Vec<Packet> = (0..200)
            .map(|i| pkt("10.47.255.250", 30000 + i, "10.96.100.10", 8888))
            .collect();
        let before: Vec<Endpoint> = packets
            .iter()
            .map(|p| t.process(p, 0).flow.unwrap().member.unwrap())
            .collect();
        let map = t.port_map_mut(1, ip("10.96.100.10"), 6, 8888).unwrap();
        for i in 0..5 {
            map.selector
                .add(backend(&format!("10.47.1.{i}"), 80))
                .unwrap();
        }
        for (p, b) in packets.iter().zip(&before) {
            assert_eq!(t.process(p, 1).flow.unwrap().member.unwrap(), *b);
        }
    }
}

#[test]
fn unmapped_port_drops_and_other_traffic_forwards() {
    let t = table(Algorithm::Ecmp);
    let v = t.process(&pkt("10.47.255.250", 40000, "10.96.100.10", 22), 0);
    assert_eq!(
        (v.action, v.drop_reason),
        (Action::Drop, Some(DropReason::PortMapDrop))
    );
    assert_eq!(t.len(), 0);
    // A pod connecting out: forwarded, never source-translated.
    let v = t.process(&pkt("10.47.255.238", 50000, "192.0.2.80", 443), 0);
    assert_eq!(v.action, Action::Forward);
    assert_eq!(v.flow.unwrap().flags, NatFlags::default());
    assert_eq!(v.flow.unwrap().rewrite, None);
}

#[test]
fn aging_and_fin_rst_eviction() {
    let t = table(Algorithm::Ecmp);
    t.process(&pkt("10.47.255.250", 1, "10.96.100.10", 8888), 0);
    t.process(&pkt("10.47.255.250", 2, "10.96.100.10", 8888), 100);
    assert_eq!(t.expire(150), 0);
    assert_eq!(
        t.expire(181),
        2,
        "the flow pair idle since 0 expires after 180 s"
    );
    let mut fin = pkt("10.47.255.250", 2, "10.96.100.10", 8888);
    fin.tcp_flags = TCP_FIN;
    t.process(&fin, 200);
    assert_eq!(t.expire(201), 2, "FIN marks both directions for eviction");
    assert!(t.is_empty());
}

#[test]
fn a_full_table_refuses_and_keeps_live_flows() {
    let mut t = FlowTable::new(4, 180).unwrap();
    t.map_port(
        1,
        ip("10.96.0.1"),
        6,
        80,
        PortMap {
            target_port: 80,
            selector: Selector::new(Algorithm::Ecmp, vec![backend("10.0.0.1", 80)]).unwrap(),
        },
    );
    assert!(t.process(&pkt("10.1.0.1", 1, "10.96.0.1", 80), 0).created);
    assert!(t.process(&pkt("10.1.0.1", 2, "10.96.0.1", 80), 0).created);
    let v = t.process(&pkt("10.1.0.1", 3, "10.96.0.1", 80), 0);
    assert_eq!(v.drop_reason, Some(DropReason::FlowTableFull));
    assert_eq!(t.len(), 4);
    // Established flows still work.
    assert_eq!(
        t.process(&pkt("10.1.0.1", 1, "10.96.0.1", 80), 1).action,
        Action::Nat
    );
}

#[test]
fn concurrent_processing_creates_each_flow_once() {
    let t = table(Algorithm::Maglev { table_size: 251 });
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for i in 0..500u16 {
                    let v = t.process(&pkt("10.47.255.250", i, "10.96.100.10", 8888), 0);
                    assert_eq!(v.action, Action::Nat);
                }
            });
        }
    });
    assert_eq!(t.len(), 1000);
}

fn ipv6_table() -> FlowTable {
    let mut t = FlowTable::new(1000, DEFAULT_IDLE_TIMEOUT).unwrap();
    let sel = Selector::new(
        Algorithm::Ecmp,
        vec![backend("fd00:47::238", 0), backend("fd00:47::237", 0)],
    )
    .unwrap();
    t.map_port(
        1,
        ip("fd00:96::10"),
        17,
        53,
        PortMap {
            target_port: 5353,
            selector: sel,
        },
    );
    t
}

#[test]
fn ipv6_pairs_use_the_target_port_for_members_without_one() {
    let t = ipv6_table();
    let mut p = pkt("fd00:47::250", 40000, "fd00:96::10", 53);
    p.tuple.protocol = 17;
    let v = t.process(&p, 0);
    let (fwd, rev) = (v.flow.unwrap(), v.reverse.unwrap());
    let m = fwd.member.unwrap();
    assert!(m.address.is_ipv6());
    assert_eq!(fwd.rewrite, Some((m.address, 5353)));
    assert_eq!(rev.rewrite, Some((ip("fd00:96::10"), 53)));
    assert_eq!(rev.key.tuple.src_port, 5353);
    assert_eq!(t.get(&rev.key), Some(rev));
    // An IPv4 packet to the IPv4-mapped form of the address is no match.
    let v4 = t.process(&pkt("10.0.0.1", 1, "10.0.0.2", 53), 0);
    assert_eq!(v4.action, Action::Forward);
}

#[test]
fn a_reply_fin_evicts_both_directions() {
    let t = table(Algorithm::Ecmp);
    let v = t.process(&pkt("10.47.255.250", 7, "10.96.100.10", 8888), 0);
    let rev = v.reverse.unwrap();
    let rst = Packet {
        vrf: 1,
        tuple: rev.key.tuple,
        tcp_flags: TCP_RST,
    };
    let r = t.process(&rst, 5);
    assert_eq!(
        r.action,
        Action::Nat,
        "the closing packet is still translated"
    );
    assert!(t.get(&rev.key).unwrap().evict);
    assert!(t.get(&rev.reverse).unwrap().evict);
    assert_eq!(t.expire(6), 2);
    assert!(t.get(&rev.reverse).is_none());
    // UDP has no FIN: the flag bits mean nothing there.
    let t = ipv6_table();
    let mut p = pkt("fd00:47::250", 1, "fd00:96::10", 53);
    p.tuple.protocol = 17;
    p.tcp_flags = TCP_FIN;
    assert!(!t.process(&p, 0).flow.unwrap().evict);
}

#[test]
fn a_reply_tuple_in_use_is_a_conflict_not_an_overwrite() {
    let mut t = table(Algorithm::Ecmp);
    // A second FloatingIP over the same single member.
    let one = || Selector::new(Algorithm::Ecmp, vec![backend("10.47.255.238", 80)]).unwrap();
    for fip in ["10.96.100.20", "10.96.100.30"] {
        t.map_port(
            1,
            ip(fip),
            6,
            8888,
            PortMap {
                target_port: 80,
                selector: one(),
            },
        );
    }
    let a = t.process(&pkt("10.47.255.250", 5000, "10.96.100.20", 8888), 0);
    assert!(a.created);
    let b = t.process(&pkt("10.47.255.250", 5000, "10.96.100.30", 8888), 0);
    assert_eq!(b.drop_reason, Some(DropReason::ReverseFlowConflict));
    assert_eq!(t.len(), 2);
    assert_eq!(t.get(&a.reverse.unwrap().key), a.reverse, "untouched");
}

#[test]
fn mixed_address_families_are_dropped() {
    let t = table(Algorithm::Ecmp);
    let v = t.process(&pkt("fd00::1", 1, "10.96.100.10", 8888), 0);
    assert_eq!(v.drop_reason, Some(DropReason::AddressFamilyMismatch));
    let mut t = table(Algorithm::Ecmp);
    t.map_port(
        1,
        ip("10.96.100.99"),
        6,
        80,
        PortMap {
            target_port: 80,
            selector: Selector::new(Algorithm::Ecmp, vec![backend("fd00::5", 80)]).unwrap(),
        },
    );
    let v = t.process(&pkt("10.1.1.1", 1, "10.96.100.99", 80), 0);
    assert_eq!(v.drop_reason, Some(DropReason::AddressFamilyMismatch));
    assert!(t.is_empty());
}

#[test]
fn room_comes_back_after_expiry() {
    let mut t = FlowTable::new(4, 10).unwrap();
    t.add_floating_ip(1, ip("10.96.0.1"));
    assert!(t.process(&pkt("10.1.0.1", 1, "192.0.2.1", 80), 0).created);
    assert!(t.process(&pkt("10.1.0.1", 2, "192.0.2.1", 80), 5).created);
    assert_eq!(
        t.process(&pkt("10.1.0.1", 3, "192.0.2.1", 80), 6)
            .drop_reason,
        Some(DropReason::FlowTableFull)
    );
    assert_eq!(t.expire(11), 2, "only the flows idle since 0");
    assert!(t.process(&pkt("10.1.0.1", 3, "192.0.2.1", 80), 12).created);
    assert_eq!(t.len(), 4);
    assert_eq!(FlowTable::new(1, 10).err(), Some(FlowError::ZeroCapacity));
}

#[test]
fn bursts_decide_like_single_packets() {
    let a = table(Algorithm::Maglev { table_size: 251 });
    let b = table(Algorithm::Maglev { table_size: 251 });
    let mut packets: Vec<Packet> = (0..100u16)
        .map(|i| pkt("10.47.255.250", 1000 + i % 40, "10.96.100.10", 8888))
        .collect();
    packets.push(pkt("10.47.255.250", 1, "10.96.100.10", 22));
    packets.push(pkt("10.47.255.238", 1, "192.0.2.9", 443));
    packets[7].tcp_flags = TCP_FIN;
    let mut out = vec![Decision::EMPTY; packets.len()];
    a.process_burst(&packets, 3, &mut out);
    for (p, d) in packets.iter().zip(&out) {
        assert_eq!(*d, Decision::from(&b.process(p, 3)));
    }
    assert_eq!(out[0].flags.names(), ["DNAT", "DPAT"]);
    assert_eq!(out[100].drop_reason, Some(DropReason::PortMapDrop));
    assert_eq!(out[101].action, Action::Forward);
    assert_eq!((a.len(), a.expire(4)), (b.len(), b.expire(4)));
}

/// A burst read from the caller's own items answers, packet by packet, what
/// `process_bits` answers for the same packets one at a time: created and
/// found flows, a FIN, a port-map drop, a packet not to a FloatingIP and a
/// 5-tuple that mixes address families.
#[test]
fn bursts_of_bits_answer_like_process_bits() {
    let a = table(Algorithm::Maglev { table_size: 251 });
    let b = table(Algorithm::Maglev { table_size: 251 });
    let mut packets: Vec<Packet> = (0..60u16)
        .map(|i| pkt("10.47.255.250", 3000 + i % 25, "10.96.100.10", 8888))
        .collect();
    packets.push(pkt("10.47.255.250", 1, "10.96.100.10", 22));
    packets.push(pkt("10.47.255.238", 1, "192.0.2.9", 443));
    packets.push(pkt("fd00::1", 1, "10.96.100.10", 8888));
    packets[30].tcp_flags = TCP_FIN;
    // The caller's own form: here, the packets themselves.
    let read = |p: &Packet| PacketBits {
        vrf: p.vrf,
        tuple: TupleBits::from(&p.tuple),
        tcp_flags: p.tcp_flags,
    };
    let mut got = vec![None; packets.len()];
    a.process_burst_by(&packets, 3, read, |i, v| {
        assert!(got[i].replace(v).is_none(), "one answer per packet");
    });
    for (i, p) in packets.iter().enumerate() {
        let want = b.process_bits(p.vrf, &TupleBits::from(&p.tuple), p.tcp_flags, 3);
        assert_eq!(got[i], Some(want), "packet {i}");
    }
    assert_eq!(got[0].unwrap().flags.0, NatFlags::DNAT | NatFlags::DPAT);
    assert_eq!(got[60].unwrap().drop_reason, Some(DropReason::PortMapDrop));
    assert_eq!(got[61].unwrap().action, Action::Forward);
    assert_eq!(
        got[62].unwrap().drop_reason,
        Some(DropReason::AddressFamilyMismatch)
    );
    assert_eq!((a.len(), a.expire(4)), (b.len(), b.expire(4)));
}

/// Bursts of every length around the pipeline's group sizes, including the
/// empty one and partial last groups, decide like single packets.
#[test]
fn bursts_of_every_short_length_decide_like_single_packets() {
    let group = super::BURST_GROUP;
    for n in 0..=group * (super::BURST_GROUPS_AHEAD + 2) + 1 {
        let a = table(Algorithm::Ecmp);
        let b = table(Algorithm::Ecmp);
        // Every packet twice: the first creates, the second finds.
        let packets: Vec<Packet> = (0..n as u16)
            .map(|i| pkt("10.47.255.250", 2000 + i / 2, "10.96.100.10", 8888))
            .collect();
        let mut out = vec![Decision::EMPTY; n + 1];
        a.process_burst(&packets, 1, &mut out);
        for (i, p) in packets.iter().enumerate() {
            assert_eq!(
                out[i],
                Decision::from(&b.process(p, 1)),
                "packet {i} of {n}"
            );
        }
        assert_eq!(out[n], Decision::EMPTY, "nothing written past the burst");
        assert_eq!(a.len(), b.len());
    }
}

proptest::proptest! {
    /// For any client (IPv4 or IPv6), the pair is consistent: the forward
    /// flow rewrites to the member, the member's reply finds the reverse flow
    /// which rewrites back to the FloatingIP, and the connection keeps its
    /// member.
    #[test]
    fn pairs_are_consistent(
        clients in proptest::collection::vec((proptest::bool::ANY, proptest::num::u32::ANY, 1u16..), 1..60),
    ) {
        let t4 = table(Algorithm::Ecmp);
        let t6 = ipv6_table();
        let mut connections = std::collections::BTreeSet::new();
        for (v6, addr, port) in clients {
            let (t, p) = if v6 {
                let mut p = pkt("fd00::1", port, "fd00:96::10", 53);
                p.tuple.src = IpAddr::V6(std::net::Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, (addr >> 16) as u16, addr as u16));
                p.tuple.protocol = 17;
                (&t6, p)
            } else {
                let mut p = pkt("10.0.0.1", port, "10.96.100.10", 8888);
                p.tuple.src = IpAddr::V4(std::net::Ipv4Addr::from(addr));
                (&t4, p)
            };
            let v = t.process(&p, 0);
            let fwd = v.flow.unwrap();
            proptest::prop_assert_eq!(v.created, connections.insert((v6, addr, port)));
            proptest::prop_assert_eq!(fwd.key.tuple, p.tuple);
            let m = fwd.member.unwrap();
            proptest::prop_assert_eq!(fwd.rewrite, Some((m.address, m.port)));
            let reply = Packet { vrf: 1, tuple: fwd.reverse.tuple, tcp_flags: 0 };
            proptest::prop_assert_eq!(reply.tuple.src, m.address);
            proptest::prop_assert_eq!(reply.tuple.dst, p.tuple.src);
            let r = t.process(&reply, 1).flow.unwrap();
            proptest::prop_assert_eq!(r.rewrite, Some((p.tuple.dst, p.tuple.dst_port)));
            proptest::prop_assert_eq!(r.reverse, fwd.key);
            proptest::prop_assert_eq!(t.process(&p, 2).flow.unwrap().member, Some(m));
        }
        proptest::prop_assert_eq!(t4.len() + t6.len(), 2 * connections.len());
    }

    /// Expiry removes exactly the flows idle longer than the timeout, at any
    /// mix of last-use times.
    #[test]
    fn expiry_is_exact(uses in proptest::collection::vec((0u16..500, 0u64..400), 1..200), now in 180u64..600) {
        let t = FlowTable::new(1000, DEFAULT_IDLE_TIMEOUT).unwrap();
        let mut last = std::collections::BTreeMap::new();
        let mut sorted = uses.clone();
        sorted.sort_by_key(|u| u.1);
        for (port, at) in sorted {
            t.process(&pkt("10.1.0.1", port, "192.0.2.1", 80), at);
            last.insert(port, at);
        }
        let stale = last.values().filter(|&&at| now - at.min(now) > DEFAULT_IDLE_TIMEOUT).count();
        proptest::prop_assert_eq!(t.expire(now), 2 * stale);
        for (port, at) in last {
            let k = FlowKey { vrf: 1, tuple: pkt("10.1.0.1", port, "192.0.2.1", 80).tuple };
            let alive = now - at.min(now) <= DEFAULT_IDLE_TIMEOUT;
            proptest::prop_assert_eq!(t.get(&k).map(|f| f.last_used), alive.then_some(at));
        }
    }
}

#[test]
fn a_connection_ages_as_a_pair() {
    let t = table(Algorithm::Ecmp);
    let p = pkt("10.47.255.250", 9, "10.96.100.10", 8888);
    let rev = t.process(&p, 0).reverse.unwrap();
    // A one-way stream: only the forward flow sees packets.
    t.process(&p, 100);
    assert_eq!(
        t.expire(181),
        0,
        "the silent reverse flow stays with its pair"
    );
    assert_eq!(t.get(&rev.key).map(|f| f.last_used), Some(0));
    // Only the reply direction in use keeps the pair too.
    t.process(
        &Packet {
            vrf: 1,
            tuple: rev.key.tuple,
            tcp_flags: 0,
        },
        250,
    );
    assert_eq!(t.expire(281), 0);
    assert_eq!(t.expire(431), 2, "both idle: both go");
    assert!(t.is_empty());
}

#[test]
fn many_pairs_expire_whole_under_concurrent_traffic() {
    let t = FlowTable::new(20_000, 10).unwrap();
    for i in 0..8000u16 {
        t.process(&pkt("10.1.0.1", i, "192.0.2.1", 80), u64::from(i % 2) * 20);
    }
    let during = std::thread::scope(|s| {
        s.spawn(|| {
            for i in 8000..9000u16 {
                t.process(&pkt("10.1.0.1", i, "192.0.2.1", 80), 25);
            }
        });
        t.expire(25)
    });
    // A pair whose lower shard was busy waits for the next sweep.
    assert_eq!(during % 2, 0, "flows go in pairs");
    assert_eq!(during + t.expire(25), 8000, "the 4,000 pairs idle since 0");
    assert_eq!(t.len(), 2 * (4000 + 1000));
    for i in 0..9000u16 {
        let k = FlowKey {
            vrf: 1,
            tuple: pkt("10.1.0.1", i, "192.0.2.1", 80).tuple,
        };
        let f = t.get(&k);
        assert_eq!(f.is_some(), i >= 8000 || i % 2 == 1, "flow {i}");
        if let Some(f) = f {
            assert!(t.get(&f.reverse).is_some(), "flow {i} lost its pair");
        }
    }
}

#[test]
fn a_departed_members_connections_are_evicted() {
    let mut t = table(Algorithm::Ecmp);
    let mut by_member = std::collections::BTreeMap::<IpAddr, usize>::new();
    for i in 0..300u16 {
        let v = t.process(&pkt("10.47.255.250", 20000 + i, "10.96.100.10", 8888), 0);
        *by_member
            .entry(v.flow.unwrap().member.unwrap().address)
            .or_default() += 1;
    }
    // A Forward pair that merely talks to the member's address stays.
    t.process(&pkt("10.47.255.250", 1, "10.47.255.238", 80), 0);
    let gone = backend("10.47.255.238", 80);
    let map = t.port_map_mut(1, ip("10.96.100.10"), 6, 8888).unwrap();
    map.selector.remove(&gone).unwrap();
    let marked = t.evict_member(gone.address, gone.port);
    assert_eq!(marked, 2 * by_member[&gone.address], "both flows of each");
    assert_eq!(t.evict_member(gone.address, gone.port), 0, "already marked");
    assert_eq!(t.expire(1), marked);
    assert_eq!(t.len(), 2 * (300 - by_member[&gone.address]) + 2);
    // The clients' next connections go to the remaining member.
    let v = t.process(&pkt("10.47.255.250", 20000, "10.96.100.10", 8888), 2);
    assert_eq!(v.flow.unwrap().member.unwrap().address, ip("10.47.255.237"));
}

/// `process_bits` makes the same flows and decisions as `process`: two
/// tables fed the same packets (new connections, established ones, replies,
/// FIN, unmapped ports, other traffic, IPv6, mixed families) answer alike
/// and end up holding the same flows.
#[test]
fn processing_by_address_bits_decides_like_process() {
    let mut packets = Vec::new();
    for i in 0..40u16 {
        packets.push(pkt("10.47.255.250", 40000 + i % 10, "10.96.100.10", 8888));
    }
    packets.push(pkt("10.47.255.250", 1, "10.96.100.10", 9999));
    packets.push(pkt("10.1.1.1", 2, "10.2.2.2", 80));
    packets.push(pkt("10.2.2.2", 80, "10.1.1.1", 2));
    packets.push(pkt("fd00::1", 3, "10.96.100.10", 8888));
    packets.push(pkt("10.1.1.1", 3, "fd00::1", 8888));
    let mut fin = pkt("10.47.255.250", 40003, "10.96.100.10", 8888);
    fin.tcp_flags = TCP_FIN;
    packets.push(fin);
    let mut v6 = pkt("fd00:47::250", 40000, "fd00:96::10", 53);
    v6.tuple.protocol = 17;
    packets.push(v6);
    packets.push(v6);
    for alg in [Algorithm::Ecmp, Algorithm::Maglev { table_size: 251 }] {
        let (a, b) = (table(alg), table(alg));
        let (c, d) = (ipv6_table(), ipv6_table());
        for (now, p) in packets.iter().enumerate() {
            let now = now as u64;
            let (x, y) = if p.tuple.dst.is_ipv6() {
                (&c, &d)
            } else {
                (&a, &b)
            };
            let native = x.process(p, now);
            let bits = y.process_bits(p.vrf, &TupleBits::from(&p.tuple), p.tcp_flags, now);
            assert_eq!(VerdictBits::from(&native), bits, "{p:?}");
            // The reply to a new connection matches its reverse flow.
            if let Some(rev) = native.reverse {
                let reply = y.process_bits(rev.key.vrf, &TupleBits::from(&rev.key.tuple), 0, now);
                assert!(!reply.created);
                if native.action == Action::Nat {
                    assert_eq!(reply.flags.names(), ["SNAT", "SPAT"]);
                    let member = (addr_bits(&rev.key.tuple.src), rev.key.tuple.src_port);
                    assert_eq!(reply.member, Some(member));
                } else {
                    assert_eq!((reply.action, reply.member), (Action::Forward, None));
                }
                x.process(
                    &Packet {
                        vrf: rev.key.vrf,
                        tuple: rev.key.tuple,
                        tcp_flags: 0,
                    },
                    now,
                );
            }
        }
        assert_eq!((a.len(), c.len()), (b.len(), d.len()));
        assert_eq!(a.expire(1000), b.expire(1000));
    }
}

/// Of an IPv4 address in `TupleBits` only the low 32 bits count.
#[test]
fn ipv4_address_bits_need_no_mapping_prefix() {
    let t = table(Algorithm::Ecmp);
    let p = pkt("10.47.255.250", 40000, "10.96.100.10", 8888);
    let created = t.process(&p, 0);
    let mut bits = TupleBits::from(&p.tuple);
    bits.src = u32::from_be_bytes([10, 47, 255, 250]) as u128;
    bits.dst = u32::from_be_bytes([10, 96, 100, 10]) as u128;
    let v = t.process_bits(1, &bits, 0, 1);
    assert!(!v.created, "the existing flow matched");
    assert_eq!(v, VerdictBits::from(&t.process(&p, 1)));
    assert_eq!(
        v.member,
        created
            .flow
            .unwrap()
            .member
            .map(|m| (addr_bits(&m.address), m.port))
    );
    assert!(!v.v6);
}
