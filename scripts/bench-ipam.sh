#!/bin/sh
# cn2-ipam against Debian's host-local, side by side in one run.
#
# Builds cn2-ipam as it is shipped (scripts/build-plugins.sh: release,
# statically linked, stripped; Debian's host-local is stripped too) and runs
# crates/cni-ipam/benches/vs_host_local.rs twice: with the state in the
# system temp directory (a real disk: every operation pays its sync) and in
# /dev/shm (a tmpfs: process and file-system work only). Needs
# /usr/lib/cni/host-local (Debian package containernetworking-plugins).
set -eu
cd "$(dirname "$0")/.."
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
scripts/build-plugins.sh "$bin" >/dev/null
cargo bench -p cni-ipam --bench vs_host_local --no-run
export CN2_IPAM_BIN="$bin/cn2-ipam"
echo "### on disk"
cargo bench -q -p cni-ipam --bench vs_host_local
if [ -d /dev/shm ]; then
    echo
    echo "### on tmpfs"
    CN2_BENCH_DIR=/dev/shm cargo bench -q -p cni-ipam --bench vs_host_local
fi
