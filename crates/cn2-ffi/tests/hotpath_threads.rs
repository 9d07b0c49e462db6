//! The typed hot path called from several threads at once.

use cn2::*;

fn ip(a: [u8; 4]) -> cn2_ip {
    let mut bytes = [0u8; 16];
    bytes[..4].copy_from_slice(&a);
    cn2_ip { family: 4, bytes }
}

fn tuple(i: u32) -> cn2_five_tuple {
    cn2_five_tuple {
        protocol: 6,
        src: ip(i.to_be_bytes()),
        src_port: (i % 60000) as u16 + 1024,
        dst: ip([10, 96, 0, 10]),
        dst_port: 80,
    }
}

struct Shared<T>(*mut T);
// SAFETY: the handles are documented safe for concurrent select / process.
unsafe impl<T> Send for Shared<T> {}
unsafe impl<T> Sync for Shared<T> {}

#[test]
fn selector_and_flow_table_from_four_threads() {
    let members: Vec<cn2_member> = (1..=8)
        .map(|i| cn2_member {
            address: ip([10, 0, 0, i]),
            port: 8080,
            weight: 1,
        })
        .collect();
    let mut sel = std::ptr::null_mut();
    let mut table = std::ptr::null_mut();
    // SAFETY: valid pointers for every call; handles freed once at the end.
    unsafe {
        assert_eq!(
            cn2_selector_new(
                cn2_lb_algorithm::CN2_LB_MAGLEV,
                members.as_ptr(),
                members.len(),
                &mut sel
            ),
            cn2_result::CN2_OK
        );
        assert_eq!(
            cn2_flow_table_new(100_000, 180, &mut table),
            cn2_result::CN2_OK
        );
        let vip = ip([10, 96, 0, 10]);
        assert_eq!(
            cn2_flow_table_map_port(
                table,
                1,
                &vip,
                6,
                80,
                8080,
                cn2_lb_algorithm::CN2_LB_MAGLEV,
                members.as_ptr(),
                members.len()
            ),
            cn2_result::CN2_OK
        );
    }
    let (s, t) = (Shared(sel), Shared(table));
    std::thread::scope(|scope| {
        for th in 0..4u32 {
            let (s, t) = (&s, &t);
            scope.spawn(move || {
                // Bursts of 100 from every thread at once pick what single
                // calls pick.
                let burst: Vec<cn2_five_tuple> = (0..5_000u32).map(tuple).collect();
                let mut picked = vec![
                    cn2_member {
                        address: ip([0; 4]),
                        port: 0,
                        weight: 0,
                    };
                    burst.len()
                ];
                for (ts, out) in burst.chunks(100).zip(picked.chunks_mut(100)) {
                    // SAFETY: live handle; concurrent selection is documented safe.
                    let r = unsafe {
                        cn2_selector_select_burst(s.0, ts.as_ptr(), ts.len(), out.as_mut_ptr())
                    };
                    assert_eq!(r, cn2_result::CN2_OK);
                }
                for i in 0..5_000u32 {
                    let tp = tuple(i);
                    let mut a = cn2_member {
                        address: ip([0; 4]),
                        port: 0,
                        weight: 0,
                    };
                    let mut v = std::mem::MaybeUninit::<cn2_flow_verdict>::uninit();
                    // SAFETY: live handles; concurrent select/process is documented safe.
                    unsafe {
                        assert_eq!(cn2_selector_select(s.0, &tp, &mut a), cn2_result::CN2_OK);
                        assert_eq!(
                            cn2_flow_table_process(t.0, 1, &tp, 0, th as u64, v.as_mut_ptr()),
                            cn2_result::CN2_OK
                        );
                        let v = v.assume_init();
                        assert_eq!(v.action, cn2_flow_action::CN2_FLOW_NAT);
                        // The flow table's selector is the same Maglev over the same members.
                        assert_eq!((v.member.address, v.member.port), (a.address, a.port));
                        assert_eq!(picked[i as usize], a, "burst and single call agree");
                    }
                }
                // Flow bursts from every thread at once find the same flows.
                let packets: Vec<cn2_flow_packet> = burst
                    .iter()
                    .map(|&tuple| cn2_flow_packet {
                        vrf: 1,
                        tuple,
                        tcp_flags: 0,
                    })
                    .collect();
                let mut verdicts = Vec::with_capacity(100);
                for (chunk, members) in packets.chunks(100).zip(picked.chunks(100)) {
                    verdicts.clear();
                    // SAFETY: live handle; `chunk.len()` packets and room for
                    // as many verdicts, which the call writes.
                    unsafe {
                        let r = cn2_flow_table_process_burst(
                            t.0,
                            chunk.as_ptr(),
                            chunk.len(),
                            th as u64,
                            verdicts.as_mut_ptr(),
                        );
                        assert_eq!(r, cn2_result::CN2_OK);
                        verdicts.set_len(chunk.len());
                    }
                    for (v, m) in verdicts.iter().zip(members) {
                        let v: &cn2_flow_verdict = v;
                        assert_eq!(v.action, cn2_flow_action::CN2_FLOW_NAT);
                        assert!(!v.created, "every connection exists already");
                        assert_eq!((v.member.address, v.member.port), (m.address, m.port));
                    }
                }
            });
        }
    });
    // SAFETY: live handles, freed once.
    unsafe {
        assert_eq!(
            cn2_flow_table_expire(t.0, 10_000),
            10_000,
            "5,000 connections, two flows each"
        );
        cn2_selector_free(s.0);
        cn2_flow_table_free(t.0);
    }
}
