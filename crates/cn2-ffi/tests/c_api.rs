//! Builds the C tests against `include/cn2.h` and the static library, runs
//! them, and runs them again under valgrind (no leaks, no invalid access).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory holding `libcn2.a`: the profile directory above `deps/`.
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Compiles `tests/c/NAME.c` into a temporary directory.
fn build_c(name: &str, out: &Path) -> PathBuf {
    compile(
        &crate_dir().join(format!("tests/c/{name}.c")),
        &out.join(name),
    )
}

/// Builds `libcn2.a` with the cargo running these tests (`cargo test` builds
/// the crate only as an rlib for them), into the same target directory, once.
fn static_lib() -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let target_dir = lib_dir().parent().unwrap().to_path_buf();
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.args(["build", "--quiet", "-p", "cn2-ffi", "--lib"])
            .env("CARGO_TARGET_DIR", &target_dir);
        if lib_dir().file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("cargo runs");
        assert!(status.success(), "building libcn2.a failed");
    });
    let lib = lib_dir().join("libcn2.a");
    assert!(
        lib.exists(),
        "{} is missing after building cn2-ffi",
        lib.display()
    );
    lib
}

/// Compiles one C file against the header and the static library.
fn compile(source: &Path, exe: &Path) -> PathBuf {
    let lib = static_lib();
    let status = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-g", "-I"])
        .arg(crate_dir().join("include"))
        .arg(source)
        .arg(&lib)
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(exe)
        .status()
        .expect("cc runs");
    assert!(status.success(), "compiling {} failed", source.display());
    exe.to_path_buf()
}

/// Runs `exe args` under valgrind (when available) and returns its stdout.
fn run_checked(exe: &Path, args: &[&Path]) -> String {
    let out = Command::new(exe).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{} failed:\n{}{}",
        exe.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if valgrind_available() {
        let vg = Command::new("valgrind")
            .args([
                "--quiet",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite,indirect",
                "--show-leak-kinds=definite,indirect",
                "--error-exitcode=99",
            ])
            .arg(exe)
            .args(args)
            .output()
            .unwrap();
        assert!(
            vg.status.success(),
            "valgrind found errors:\n{}",
            String::from_utf8_lossy(&vg.stderr)
        );
    }
    String::from_utf8(out.stdout).unwrap()
}

fn book() -> PathBuf {
    crate_dir().join("../../examples/book/services.yaml")
}

fn valgrind_available() -> bool {
    let ok = Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CN2_REQUIRE_ROOT_TESTS").as_deref() != Ok("1"),
            "valgrind is required in CI (scripts/install-test-deps.sh installs it)"
        );
        eprintln!("skipping the valgrind run: valgrind is not installed");
    }
    ok
}

/// The pkg-config template, filled for a prefix laid out as
/// `scripts/install-ffi.sh` installs, gives flags that build a C program.
#[test]
fn pkg_config_file_builds_a_program() {
    let prefix = tempfile::tempdir().unwrap();
    let p = prefix.path();
    std::fs::create_dir_all(p.join("lib/pkgconfig")).unwrap();
    std::fs::create_dir_all(p.join("include")).unwrap();
    std::fs::copy(static_lib(), p.join("lib/libcn2.a")).unwrap();
    std::fs::copy(crate_dir().join("include/cn2.h"), p.join("include/cn2.h")).unwrap();
    let pc = std::fs::read_to_string(crate_dir().join("cn2.pc.in"))
        .unwrap()
        .replace("@PREFIX@", p.to_str().unwrap())
        .replace("@VERSION@", env!("CARGO_PKG_VERSION"));
    std::fs::write(p.join("lib/pkgconfig/cn2.pc"), pc).unwrap();
    let flags = Command::new("pkg-config")
        .args(["--static", "--cflags", "--libs", "cn2"])
        .env("PKG_CONFIG_PATH", p.join("lib/pkgconfig"))
        .output()
        .expect("pkg-config runs (scripts/install-test-deps.sh installs it)");
    assert!(
        flags.status.success(),
        "{}",
        String::from_utf8_lossy(&flags.stderr)
    );
    let flags = String::from_utf8(flags.stdout).unwrap();
    let exe = p.join("version");
    std::fs::write(
        p.join("version.c"),
        "#include <cn2.h>\n#include <stdio.h>\nint main(void) { printf(\"%s\\n\", cn2_version()); return 0; }\n",
    )
    .unwrap();
    let status = Command::new("cc")
        .arg(p.join("version.c"))
        .args(flags.split_whitespace())
        .arg("-o")
        .arg(&exe)
        .status()
        .unwrap();
    assert!(status.success());
    let out = Command::new(&exe).output().unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        env!("CARGO_PKG_VERSION")
    );
}

#[test]
fn cluster_api_from_c() {
    let dir = tempfile::tempdir().unwrap();
    let exe = build_c("test_cluster", dir.path());
    let plan = dir.path().join("plan.json");
    let stdout = run_checked(&exe, &[&book(), &plan]);
    assert!(stdout.contains("all checks passed"), "{stdout}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
    assert_eq!(json["services"].as_array().unwrap().len(), 3);
}

#[test]
fn hot_path_from_c() {
    let dir = tempfile::tempdir().unwrap();
    let exe = build_c("test_hotpath", dir.path());
    let stdout = run_checked(&exe, &[]);
    assert!(stdout.contains("all checks passed"), "{stdout}");
}

/// The example program of `examples/c/` builds, runs and prints the plan.
#[test]
fn example_program_prints_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let exe = compile(
        &crate_dir().join("../../examples/c/plan.c"),
        &dir.path().join("plan"),
    );
    let stdout = run_checked(&exe, &[&book()]);
    let json_start = stdout.find('{').expect("a JSON plan");
    let plan: serde_json::Value = serde_json::from_str(&stdout[json_start..]).unwrap();
    let lb = plan["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "service-web-lb")
        .unwrap();
    assert_eq!(lb["externalIPs"], serde_json::json!(["101.101.101.2"]));
}

/// The selection example of `examples/c/` builds, runs (under valgrind too),
/// prints the plan, and selects for each connection the member the Rust API
/// selects: a Maglev table over the same members of the plan, the same
/// 5-tuple.
#[test]
fn example_program_selects_members_like_rust() {
    use cn2_core::ecmp::{Algorithm, FiveTuple, MAGLEV_DEFAULT_SIZE, Selector};
    use std::net::SocketAddr;

    let dir = tempfile::tempdir().unwrap();
    let exe = compile(
        &crate_dir().join("../../examples/c/select.c"),
        &dir.path().join("select"),
    );
    let stdout = run_checked(&exe, &[&book()]);
    let json_start = stdout.find('{').expect("a JSON plan");
    let json_end = stdout.find("\nmaglev ").expect("the selector line");
    let plan: serde_json::Value = serde_json::from_str(&stdout[json_start..=json_end]).unwrap();
    assert_eq!(plan["services"].as_array().unwrap().len(), 3);

    // The Rust side: the same plan's members of the same listener.
    let mut cluster = cn2_core::cluster::Cluster::new();
    let text = std::fs::read_to_string(book()).unwrap();
    cluster.apply_str("book", &text).unwrap();
    let rust_plan = cluster.plan();
    let service = rust_plan
        .services
        .iter()
        .find(|s| s.namespace == "ns-user-1" && s.name == "service-web-clusterip")
        .unwrap();
    let listener = service.load_balancer.as_ref().unwrap().listeners[0].clone();
    assert_eq!((listener.protocol, listener.port), ("TCP", 8888));
    let members = listener.pool.backends();
    assert_eq!(members.len(), 2);
    let selector = Selector::new(
        Algorithm::Maglev {
            table_size: MAGLEV_DEFAULT_SIZE,
        },
        members.clone(),
    )
    .unwrap();

    let mut chosen = std::collections::BTreeSet::new();
    let mut singles = Vec::new();
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("select "))
        .collect();
    assert_eq!(lines.len(), 8, "{stdout}");
    for line in lines {
        // select tcp SRC -> DST member MEMBER
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!((f[1], f[3], f[5]), ("tcp", "->", "member"), "{line}");
        let (src, dst, member): (SocketAddr, SocketAddr, SocketAddr) = (
            f[2].parse().unwrap(),
            f[4].parse().unwrap(),
            f[6].parse().unwrap(),
        );
        assert_eq!(dst, "10.96.100.10:8888".parse().unwrap());
        let tuple = FiveTuple {
            protocol: 6,
            src: src.ip(),
            src_port: src.port(),
            dst: dst.ip(),
            dst_port: dst.port(),
        };
        let want = selector.select(&tuple).unwrap();
        assert_eq!(
            (member.ip(), member.port()),
            (want.address, want.port),
            "{line}"
        );
        chosen.insert(member);
        singles.push(format!("burst tcp {src} member {member}"));
    }
    // The burst call picks what the single calls picked, tuple by tuple.
    let bursts: Vec<&str> = stdout.lines().filter(|l| l.starts_with("burst ")).collect();
    assert_eq!(bursts, singles, "{stdout}");
    assert!(
        chosen.iter().all(|m| members
            .iter()
            .any(|b| (b.address, b.port) == (m.ip(), m.port()))),
        "{chosen:?}"
    );
}
