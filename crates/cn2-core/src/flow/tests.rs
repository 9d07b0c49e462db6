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
