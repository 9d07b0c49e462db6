//! Selectors for every listener of a generated cluster through the C API:
//! what an agent does after each change.
//!
//! `cargo run --release -p cn2-ffi --example cluster_selectors -- [SERVICES]`
//!
//! Applies the cluster of the load-balancing bench (SERVICES ClusterIP
//! services, default 10,000, each with 10 endpoints, on 100 nodes), then
//! times `cn2_cluster_selector` for the first listener and for all the
//! others, and prints both.

use std::time::Instant;

use cn2::*;

#[path = "../../cn2-core/benches/common/mod.rs"]
#[allow(dead_code)]
mod common;

fn main() {
    let services: usize = match std::env::args().nth(1) {
        None => 10_000,
        Some(s) => s.parse().unwrap_or_else(|_| {
            eprintln!("cluster_selectors: SERVICES ({s:?}) is not a number");
            std::process::exit(2)
        }),
    };
    let yaml = common::cluster_yaml(services);
    let c = cn2_cluster_new();
    // SAFETY: a live handle and `yaml.len()` readable bytes.
    let r = unsafe { cn2_cluster_apply(c, yaml.as_ptr().cast(), yaml.len()) };
    assert_eq!(r, cn2_result::CN2_OK, "the generated cluster applies");
    let selector = |s: usize| {
        let (ns, name) = (format!("ns-{}", s % 50), format!("svc-{s}"));
        let mut out = std::ptr::null_mut();
        // SAFETY: a live handle, readable texts, a writable out pointer; the
        // selector is freed at once.
        unsafe {
            let r = cn2_cluster_selector(
                c,
                ns.as_ptr().cast(),
                ns.len(),
                name.as_ptr().cast(),
                name.len(),
                6,
                80,
                cn2_lb_algorithm::CN2_LB_MAGLEV,
                &mut out,
            );
            assert_eq!(r, cn2_result::CN2_OK, "{ns}/{name}");
            cn2_selector_free(out);
        }
    };
    let start = Instant::now();
    selector(0);
    let first = start.elapsed();
    let start = Instant::now();
    for s in 1..services {
        selector(s);
    }
    let rest = start.elapsed();
    println!(
        "{services} services: first selector {:.1} ms (the plan), the other {} {:.1} ms ({:.1} us each)",
        first.as_secs_f64() * 1e3,
        services - 1,
        rest.as_secs_f64() * 1e3,
        rest.as_secs_f64() * 1e6 / (services - 1).max(1) as f64
    );
    // SAFETY: created above, freed once.
    unsafe { cn2_cluster_free(c) };
}
