//! `cn2_cluster_selector` and the handle's plan: selectors for many
//! listeners share one plan, and any change is seen by the next call.

use cn2::*;

fn book() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/book/services.yaml"
    ))
    .unwrap()
}

/// The members of `service`'s TCP 8888 listener, by way of a selector.
fn members(c: *const cn2_cluster, service: &str) -> Result<usize, cn2_result> {
    let ns = "ns-user-1";
    let mut s = std::ptr::null_mut();
    // SAFETY: a live handle, readable texts, a writable out pointer.
    let r = unsafe {
        cn2_cluster_selector(
            c,
            ns.as_ptr().cast(),
            ns.len(),
            service.as_ptr().cast(),
            service.len(),
            6,
            8888,
            cn2_lb_algorithm::CN2_LB_MAGLEV,
            &mut s,
        )
    };
    if r != cn2_result::CN2_OK {
        return Err(r);
    }
    // Count the distinct members over many connections.
    let mut seen = std::collections::BTreeSet::new();
    for port in 1..=200u16 {
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&[10, 47, 255, 250]);
        let tuple = cn2_five_tuple {
            protocol: 6,
            src: cn2_ip { family: 4, bytes },
            src_port: port,
            dst: cn2_ip { family: 4, bytes },
            dst_port: 8888,
        };
        let mut m = std::mem::MaybeUninit::<cn2_member>::uninit();
        // SAFETY: a live selector, valid pointers.
        match unsafe { cn2_selector_select(s, &tuple, m.as_mut_ptr()) } {
            // SAFETY: written by the call.
            cn2_result::CN2_OK => seen.insert(unsafe { m.assume_init() }.address.bytes),
            cn2_result::CN2_NOT_FOUND => false,
            other => panic!("select: {other:?}"),
        };
    }
    // SAFETY: created above.
    unsafe { cn2_selector_free(s) };
    Ok(seen.len())
}

fn plan_json(c: *const cn2_cluster) -> String {
    let (mut p, mut len) = (std::ptr::null_mut(), 0);
    // SAFETY: a live handle, writable out pointers; the string is freed below.
    unsafe {
        assert_eq!(
            cn2_cluster_plan_json(c, &mut p, &mut len),
            cn2_result::CN2_OK
        );
        let text = std::str::from_utf8(std::slice::from_raw_parts(p.cast::<u8>(), len))
            .unwrap()
            .to_string();
        cn2_string_free(p);
        text
    }
}

#[test]
fn selectors_follow_every_change() {
    let c = cn2_cluster_new();
    let text = book();
    // SAFETY: a live handle and `text.len()` readable bytes.
    let applied = unsafe { cn2_cluster_apply(c, text.as_ptr().cast(), text.len()) };
    assert_eq!(applied, cn2_result::CN2_OK);
    let first = plan_json(c);
    assert_eq!(members(c, "service-web-clusterip"), Ok(2));
    assert_eq!(members(c, "service-web-clusterip"), Ok(2), "asked again");
    assert_eq!(
        members(c, "no-such-service"),
        Err(cn2_result::CN2_NOT_FOUND)
    );
    assert_eq!(plan_json(c), first, "no change, the same plan");

    // One endpoint gone: the next selector has one member.
    let one = "apiVersion: v1\nkind: Endpoints\nmetadata: {name: service-web-clusterip, namespace: ns-user-1}\nsubsets:\n  - addresses:\n      - {ip: 10.47.255.238, nodeName: cent222, targetRef: {kind: Pod, namespace: ns-user-1, name: webserver-1}}\n    ports: [{port: 80, protocol: TCP}]\n";
    // SAFETY: as above.
    let applied = unsafe { cn2_cluster_apply(c, one.as_ptr().cast(), one.len()) };
    assert_eq!(applied, cn2_result::CN2_OK);
    assert_eq!(members(c, "service-web-clusterip"), Ok(1));
    assert_ne!(plan_json(c), first);

    // The Endpoints deleted: a selector without members.
    // SAFETY: as above.
    let deleted = unsafe { cn2_cluster_delete(c, one.as_ptr().cast(), one.len()) };
    assert_eq!(deleted, cn2_result::CN2_OK);
    assert_eq!(members(c, "service-web-clusterip"), Ok(0));
    // SAFETY: created above, freed once.
    unsafe { cn2_cluster_free(c) };
}
