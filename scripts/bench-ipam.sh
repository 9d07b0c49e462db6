#!/bin/sh
# cn2-ipam against Debian's host-local, side by side in one run.
#
# Builds cn2-ipam in release, strips a copy of it (as distribution packages
# install plugins; Debian's host-local is stripped too) and runs
# crates/cni-ipam/benches/vs_host_local.rs twice: with the state in the
# system temp directory (a real disk: every operation pays its fsync) and in
# /dev/shm (a tmpfs: process and file-system work only). Needs
# /usr/lib/cni/host-local (Debian package containernetworking-plugins).
set -eu
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
cargo build --release -p cni-ipam --bin cn2-ipam
cargo bench -p cni-ipam --bench vs_host_local --no-run
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
cp "$target/release/cn2-ipam" "$bin/cn2-ipam"
strip "$bin/cn2-ipam"
export CN2_IPAM_BIN="$bin/cn2-ipam"
echo "### on disk"
cargo bench -q -p cni-ipam --bench vs_host_local
if [ -d /dev/shm ]; then
    echo
    echo "### on tmpfs"
    CN2_BENCH_DIR=/dev/shm cargo bench -q -p cni-ipam --bench vs_host_local
fi
