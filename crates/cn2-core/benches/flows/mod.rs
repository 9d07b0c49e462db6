//! The flows of the data-plane bench and the `flow_burst` example: a
//! FloatingIP service 10.96.0.10:80 over Maglev members, and its clients.

use std::net::{IpAddr, Ipv4Addr};

use cn2_core::ecmp::hash::{FiveTuple, mix};
use cn2_core::ecmp::{Algorithm, Backend, MAGLEV_DEFAULT_SIZE, Selector};
use cn2_core::flow::{FlowTable, Packet, PortMap};

/// `n` members 10.0.0.0, 10.0.0.1, ... on port 8080.
pub fn backends(n: u32) -> Vec<Backend> {
    (0..n)
        .map(|i| Backend {
            address: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
            port: 8080,
            weight: 1,
        })
        .collect()
}

/// Connection `i`: a pseudo-random client to the service 10.96.0.10:80.
pub fn packet(i: u64) -> Packet {
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

/// An empty table of `capacity` flows with the service mapped over 100
/// members.
pub fn table(capacity: usize) -> FlowTable {
    let mut t = FlowTable::new(capacity, 180).unwrap();
    let selector = Selector::new(
        Algorithm::Maglev {
            table_size: MAGLEV_DEFAULT_SIZE,
        },
        backends(100),
    )
    .unwrap();
    t.map_port(
        1,
        "10.96.0.10".parse().unwrap(),
        6,
        80,
        PortMap {
            target_port: 8080,
            selector,
        },
    );
    t
}
