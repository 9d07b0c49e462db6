//! The plan JSON from the C API is byte-identical to `cn2ctl plan -o json`
//! on the same input; a cluster handle is safe to share between threads.

mod common;

use std::os::raw::c_char;

use cn2::{
    cn2_cluster, cn2_cluster_apply, cn2_cluster_free, cn2_cluster_new, cn2_cluster_plan_json,
    cn2_result, cn2_string_free,
};
use common::*;

struct Handle(*mut cn2_cluster);
// SAFETY: the cluster handle is documented thread-safe (an internal lock).
unsafe impl Send for Handle {}
unsafe impl Sync for Handle {}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: created by cn2_cluster_new, freed once.
        unsafe { cn2_cluster_free(self.0) }
    }
}

fn apply(h: &Handle, text: &str) -> cn2_result {
    // SAFETY: live handle; text valid for the call.
    unsafe { cn2_cluster_apply(h.0, text.as_ptr().cast::<c_char>(), text.len()) }
}

fn plan(h: &Handle) -> String {
    let mut out: *mut c_char = std::ptr::null_mut();
    let mut len = 0usize;
    // SAFETY: live handle, writable out pointers.
    let r = unsafe { cn2_cluster_plan_json(h.0, &mut out, &mut len) };
    assert_eq!(r, cn2_result::CN2_OK);
    // SAFETY: `out` holds `len` bytes followed by NUL, owned by us until freed.
    let s = unsafe {
        std::str::from_utf8(std::slice::from_raw_parts(out.cast::<u8>(), len))
            .unwrap()
            .to_string()
    };
    // SAFETY: returned by the library, freed once.
    unsafe { cn2_string_free(out) };
    s
}

#[test]
fn plan_json_is_byte_identical_to_cn2ctl() {
    for file in [
        "examples/book/services.yaml",
        "examples/secondary-lb/secondary-lb.yaml",
        "examples/seed-examples/seed-examples.yaml",
        "examples/kontena/cluster.yaml",
        "examples/metallb/cluster.yaml",
    ] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        let h = Handle(cn2_cluster_new());
        assert_eq!(apply(&h, &text), cn2_result::CN2_OK, "{file}");
        let ours = plan(&h);
        let out = cn2ctl(&["plan", "-o", "json", file], None);
        assert!(out.status.success());
        assert_eq!(ours.as_bytes(), out.stdout.as_slice(), "{file}");
    }
}

#[test]
fn one_handle_from_several_threads() {
    let h = Handle(cn2_cluster_new());
    let base = std::fs::read_to_string(root().join("examples/book/services.yaml")).unwrap();
    assert_eq!(apply(&h, &base), cn2_result::CN2_OK);
    std::thread::scope(|s| {
        for t in 0..4 {
            let h = &h;
            s.spawn(move || {
                for i in 0..25 {
                    let svc = format!(
                        "apiVersion: v1\nkind: Service\nmetadata: {{name: t{t}-s{i}, namespace: ns-user-1, uid: t{t}-{i}}}\nspec: {{type: LoadBalancer, ports: [{{port: 80}}]}}\n"
                    );
                    assert_eq!(apply(h, &svc), cn2_result::CN2_OK);
                    assert!(plan(h).contains(&format!("t{t}-s{i}")));
                }
            });
        }
    });
    let json: serde_json::Value = serde_json::from_str(&plan(&h)).unwrap();
    let services = json["services"].as_array().unwrap();
    assert_eq!(services.len(), 3 + 100);
    let mut ips: Vec<&str> = services
        .iter()
        .flat_map(|s| s["externalIPs"].as_array().unwrap())
        .map(|v| v.as_str().unwrap())
        .collect();
    let n = ips.len();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), n, "an external address was handed out twice");
    assert_eq!(n, 101);
}
