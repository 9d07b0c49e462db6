//! Every verb and version, run as a process the way a runtime runs it.

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::Value;

const VERSIONS: [&str; 5] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];
const NET: &str = r#""ranges":[[{"subnet":"10.22.0.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}]"#;

fn gc_conf(version: &str, data: &std::path::Path, key: &str, valid: &[&str]) -> String {
    let list: Vec<Value> = valid
        .iter()
        .map(|c| serde_json::json!({"containerID": c, "ifname": "eth0"}))
        .collect();
    let mut v: Value = serde_json::from_str(&conf(version, "n", data, NET)).unwrap();
    v[key] = Value::Array(list);
    v.to_string()
}

#[test]
fn add_check_del_in_every_version() {
    let tmp = tempfile::tempdir().unwrap();
    for v in VERSIONS {
        let c = conf(v, "n", tmp.path(), NET);
        let cid = format!("ctr-{}", v.replace('.', "-"));
        let a = run(&env("ADD", &cid), &c);
        assert_eq!(a.code, 0, "{v}: {}", a.json);
        assert_eq!(a.json["cniVersion"], v);
        let ip = &a.json["ips"][0];
        assert_eq!(ip["gateway"], "10.22.0.1");
        assert!(ip["address"].as_str().unwrap().ends_with("/24"));
        // 0.3.x and 0.4.0 carry ips[].version; 1.x does not.
        assert_eq!(ip.get("version").is_some(), v.starts_with("0."), "{v}");
        assert_eq!(a.json["routes"][0]["dst"], "0.0.0.0/0");
        // Idempotent ADD: same addresses, exit 0.
        let again = run(&env("ADD", &cid), &c);
        assert_eq!(again.json["ips"], a.json["ips"]);
        // CHECK exists from 0.4.0, with the result as prevResult.
        let mut with_prev: Value = serde_json::from_str(&c).unwrap();
        with_prev["prevResult"] = a.json.clone();
        let chk = run(&env("CHECK", &cid), &with_prev.to_string());
        if v.starts_with("0.3") {
            assert_error(&chk, 1);
        } else {
            assert_eq!(chk.code, 0, "{v}: {}", chk.json);
            assert!(chk.json.is_null());
        }
        // DEL twice.
        for _ in 0..2 {
            let d = run(&env("DEL", &cid), &c);
            assert_eq!(
                (d.code, d.json.clone()),
                (0, Value::Null),
                "{v}: {}",
                d.stderr
            );
        }
        if !v.starts_with("0.3") {
            assert_error(&run(&env("CHECK", &cid), &c), 3);
        }
    }
}

#[test]
fn version_with_and_without_stdin() {
    let a = run(&env("VERSION", ""), "");
    assert_eq!(a.code, 0);
    assert_eq!(a.json["cniVersion"], "1.1.0");
    let listed: Vec<&str> = a.json["supportedVersions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(listed, VERSIONS);
    for v in VERSIONS {
        let a = run(&env("VERSION", ""), &format!(r#"{{"cniVersion":"{v}"}}"#));
        assert_eq!((a.code, a.json["cniVersion"].as_str()), (0, Some(v)));
    }
}

#[test]
fn slash_29_gives_exactly_five() {
    let tmp = tempfile::tempdir().unwrap();
    let c = conf("1.0.0", "small", tmp.path(), r#""subnet":"192.168.7.0/29""#);
    let mut got = HashSet::new();
    for i in 0..5 {
        let ips = add_ok(&format!("c{i}"), &c);
        got.insert(ips[0].clone());
    }
    let want: HashSet<String> = (2..=6).map(|h| format!("192.168.7.{h}/29")).collect();
    assert_eq!(got, want);
    let sixth = run(&env("ADD", "c5"), &c);
    assert_error(&sixth, u64::from(cni_ipam::CODE_EXHAUSTED));
    assert_eq!(sixth.json["cniVersion"], "1.0.0");
    // STATUS reports the exhaustion with code 50 (1.1.0 only).
    let c11 = conf("1.1.0", "small", tmp.path(), r#""subnet":"192.168.7.0/29""#);
    let st = run(&env("STATUS", ""), &c11);
    assert_error(&st, 50);
    assert!(st.json["msg"].as_str().unwrap().contains("exhausted"));
    assert_error(&run(&env("STATUS", ""), &c), 1);
    // Freeing one address makes the plugin available again.
    assert_eq!(run(&env("DEL", "c2"), &c).code, 0);
    assert_eq!(run(&env("STATUS", ""), &c11).code, 0);
    assert_eq!(add_ok("c5", &c).len(), 1);
}

#[test]
fn status_is_50_when_the_store_is_unusable() {
    let tmp = tempfile::tempdir().unwrap();
    let c11 = conf("1.1.0", "broken", tmp.path(), NET);
    // No network directory yet: every ADD can create it.
    assert_eq!(run(&env("STATUS", ""), &c11).code, 0);
    // A lock that cannot be opened fails every ADD (code 5), and STATUS says so.
    std::fs::create_dir_all(tmp.path().join("broken/lock")).unwrap();
    assert_error(&run(&env("ADD", "c1"), &c11), 5);
    let st = run(&env("STATUS", ""), &c11);
    assert_error(&st, 50);
    assert!(
        st.json["msg"].as_str().unwrap().contains("lock"),
        "{}",
        st.json
    );
}

#[test]
fn round_robin_does_not_reuse_a_freed_address_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let c = conf("1.0.0", "rr", tmp.path(), NET);
    let first = add_ok("a", &c);
    assert_eq!(first, ["10.22.0.2/24"]);
    assert_eq!(run(&env("DEL", "a"), &c).code, 0);
    assert_eq!(add_ok("b", &c), ["10.22.0.3/24"]);
}

#[test]
fn gc_with_new_and_old_attachment_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let c = conf("1.1.0", "n", tmp.path(), NET);
    let mut held = Vec::new();
    for cid in ["keep", "drop1", "drop2"] {
        held.push(add_ok(cid, &c)[0].clone());
    }
    let g = run(
        &env("GC", ""),
        &gc_conf(
            "1.1.0",
            tmp.path(),
            "cni.dev/valid-attachments",
            &["keep", "drop2"],
        ),
    );
    assert_eq!(g.code, 0, "{}", g.json);
    // drop1 is gone, the others remain (ADD is idempotent for them).
    assert_eq!(add_ok("keep", &c)[0], held[0]);
    assert_eq!(add_ok("drop2", &c)[0], held[2]);
    assert_error(&run(&env("CHECK", "drop1"), &c), 3);
    let g = run(
        &env("GC", ""),
        &gc_conf("1.1.0", tmp.path(), "cni.dev/attachments", &["keep"]),
    );
    assert_eq!(g.code, 0);
    assert_error(&run(&env("CHECK", "drop2"), &c), 3);
    assert_eq!(run(&env("CHECK", "keep"), &c).code, 0);
    // GC needs 1.1.0 and an attachment list.
    assert_error(
        &run(
            &env("GC", ""),
            &gc_conf("1.0.0", tmp.path(), "cni.dev/valid-attachments", &[]),
        ),
        1,
    );
    assert_error(&run(&env("GC", ""), &c), 7);
}

#[test]
fn input_errors_have_spec_codes_on_stdout() {
    let tmp = tempfile::tempdir().unwrap();
    let c = conf("1.0.0", "n", tmp.path(), NET);
    assert_error(&run(&env("ADD", "x"), "{not json"), 6);
    assert_error(&run(&env("ADD", "x"), ""), 6);
    // Missing variables: code 4.
    let mut e = env("ADD", "x");
    e.retain(|(k, _)| k != "CNI_NETNS");
    let a = run(&e, &c);
    assert_error(&a, 4);
    assert!(a.json["msg"].as_str().unwrap().contains("CNI_NETNS"));
    assert_error(&run(&[], &c), 4);
    let mut e = env("ADD", "x");
    e[0].1 = "EXPLODE".into();
    assert_error(&run(&e, &c), 4);
    let mut e = env("ADD", "x");
    e.push(("CNI_ARGS".into(), "UNKNOWN=1".into()));
    assert_error(&run(&e, &c), 4);
    // Unknown version: code 1.
    assert_error(
        &run(&env("ADD", "x"), &conf("0.2.0", "n", tmp.path(), NET)),
        1,
    );
    assert_error(
        &run(&env("ADD", "x"), &conf("7.0.0", "n", tmp.path(), NET)),
        1,
    );
    // Invalid configuration: code 7.
    assert_error(
        &run(
            &env("ADD", "x"),
            &conf("1.0.0", "n", tmp.path(), r#""subnet":"10.0.0.0/33""#),
        ),
        7,
    );
    // Errors are answered in the request's version.
    let a = run(
        &env("ADD", "x"),
        &conf("0.4.0", "n", tmp.path(), r#""subnet":"10.0.0.1/24""#),
    );
    assert_error(&a, 7);
    assert_eq!(a.json["cniVersion"], "0.4.0");
    // Nothing was reserved by any of these.
    assert_eq!(add_ok("y", &c), ["10.22.0.2/24"]);
}

#[test]
fn path_traversal_is_rejected_and_nothing_is_written_outside() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    for name in ["..", "../evil", "a/b", "/abs", ".hidden", "x\\u0000y"] {
        let c = conf("1.0.0", name, &data, NET);
        assert_error(&run(&env("ADD", "ok"), &c), 7);
    }
    let c = conf("1.0.0", "n", &data, NET);
    for cid in ["..", "../../evil", "a/b", "-x", ".x"] {
        assert_error(&run(&env("ADD", cid), &c), 4);
        assert_error(&run(&env("DEL", cid), &c), 4);
    }
    let mut e = env("ADD", "ok");
    e.iter_mut().find(|(k, _)| k == "CNI_IFNAME").unwrap().1 = "../../x".into();
    assert_error(&run(&e, &c), 4);
    // Nothing at all exists outside dataDir, and nothing inside it either.
    let outside: Vec<_> = all_files(tmp.path());
    assert!(outside.is_empty(), "{outside:?}");
}

#[test]
fn static_addresses_from_every_source_and_dual_stack() {
    let tmp = tempfile::tempdir().unwrap();
    let ipam = r#""ranges":[[{"subnet":"10.30.0.0/24"}],[{"subnet":"fd00:30::/64"}]]"#;
    let c = conf("1.1.0", "ds", tmp.path(), ipam);
    let ips = add_ok("plain", &c);
    assert_eq!(ips, ["10.30.0.2/24", "fd00:30::2/64"]);
    // runtimeConfig.ips (the `ips` capability).
    let mut v: Value = serde_json::from_str(&c).unwrap();
    v["runtimeConfig"] = serde_json::json!({"ips": ["10.30.0.50/24", "fd00:30::50/64"]});
    assert_eq!(
        add_ok("rt", &v.to_string()),
        ["10.30.0.50/24", "fd00:30::50/64"]
    );
    // args.cni.ips.
    let mut v: Value = serde_json::from_str(&c).unwrap();
    v["args"] = serde_json::json!({"cni": {"ips": ["10.30.0.60"]}});
    assert_eq!(add_ok("args", &v.to_string())[0], "10.30.0.60/24");
    // CNI_ARGS IP=.
    let mut e = env("ADD", "cniargs");
    e.push((
        "CNI_ARGS".into(),
        "IgnoreUnknown=1;K8S_POD_NAME=p;IP=10.30.0.70".into(),
    ));
    let a = run(&e, &c);
    assert_eq!(a.code, 0, "{}", a.json);
    assert_eq!(a.json["ips"][0]["address"], "10.30.0.70/24");
    // A requested address held by someone else: plugin code 101.
    let mut e = env("ADD", "thief");
    e.push(("CNI_ARGS".into(), "IP=10.30.0.70".into()));
    assert_error(&run(&e, &c), u64::from(cni_ipam::CODE_ADDRESS_IN_USE));
    // The gateway or an address outside every range: code 7.
    let mut e = env("ADD", "gw");
    e.push(("CNI_ARGS".into(), "IP=10.30.0.1".into()));
    assert_error(&run(&e, &c), 7);
    let mut e = env("ADD", "outside");
    e.push(("CNI_ARGS".into(), "IP=192.0.2.1".into()));
    assert_error(&run(&e, &c), 7);
    // runtimeConfig.ipRanges replaces ranges.
    let mut v: Value = serde_json::from_str(&c).unwrap();
    v["runtimeConfig"] = serde_json::json!({"ipRanges": [[{"subnet": "10.31.0.0/24", "rangeStart": "10.31.0.100"}]]});
    assert_eq!(add_ok("ranges", &v.to_string()), ["10.31.0.100/24"]);
}

#[test]
fn resolv_conf_becomes_dns() {
    let tmp = tempfile::tempdir().unwrap();
    let rc = tmp.path().join("resolv.conf");
    std::fs::write(
        &rc,
        "nameserver 10.96.0.10\nsearch svc.cluster.local\noptions ndots:5\n",
    )
    .unwrap();
    let ipam = format!(
        r#""subnet":"10.40.0.0/24","resolvConf":{}"#,
        Value::from(rc.to_str().unwrap())
    );
    let c = conf("1.0.0", "dns", tmp.path(), &ipam);
    let a = run(&env("ADD", "d"), &c);
    assert_eq!(a.code, 0, "{}", a.json);
    assert_eq!(a.json["dns"]["nameservers"][0], "10.96.0.10");
    assert_eq!(a.json["dns"]["search"][0], "svc.cluster.local");
    assert_eq!(a.json["dns"]["options"][0], "ndots:5");
}

#[test]
fn stdout_carries_only_the_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let c = conf("1.0.0", "n", tmp.path(), r#""subnet":"10.50.0.0/30""#);
    // /30 leaves one address; the second ADD fails and logs to stderr.
    add_ok("one", &c);
    let a = run(&env("ADD", "two"), &c);
    assert_error(&a, u64::from(cni_ipam::CODE_EXHAUSTED));
    assert!(
        a.stderr.contains("no IP addresses available"),
        "{}",
        a.stderr
    );
}
