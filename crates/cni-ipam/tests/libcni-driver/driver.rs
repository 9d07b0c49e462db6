//! Builds and runs the libcni driver (`main.go` beside this file), the real
//! `libcni` from Debian's `golang-github-appc-cni-dev`, built offline
//! (`GO111MODULE=off`, `GOPATH` ending in `/usr/share/gocode`). Shared by the
//! libcni tests of `cni-ipam` and `cni-cn2`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian installs libcni's source.
pub const LIBCNI_SRC: &str = "/usr/share/gocode/src/github.com/containernetworking/cni/libcni";

/// Builds the driver into `out` (which also holds its Go caches).
pub fn build(out: &Path) -> Result<PathBuf, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cni-ipam/tests/libcni-driver");
    let bin = out.join("libcni-driver");
    let gopath = format!("{}:/usr/share/gocode", out.join("gopath").display());
    let o = Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg("main.go")
        .current_dir(&src)
        .env("GO111MODULE", "off")
        .env("GOPATH", gopath)
        .env("GOCACHE", out.join("gocache"))
        .env("GOFLAGS", "")
        .output()
        .map_err(|e| format!("cannot run go: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "go build failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(bin)
}

/// Runs the driver with `args` and `CNI_PATH`: (success, stdout, stderr).
pub fn run(bin: &Path, cni_path: &str, args: &[&str]) -> (bool, String, String) {
    let o = Command::new(bin)
        .args(args)
        .env("CNI_PATH", cni_path)
        .output()
        .expect("run the libcni driver");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}
