#!/bin/sh
# cn2-ipam against Debian's host-local, side by side in one run.
#
# Builds cn2-ipam in release (the bench profile) and runs
# crates/cni-ipam/benches/vs_host_local.rs twice: with the state on the
# system temp directory (a real disk: every operation pays its fsync) and on
# /dev/shm (a tmpfs: process and file-system work only). Needs
# /usr/lib/cni/host-local (Debian package containernetworking-plugins).
set -eu
cd "$(dirname "$0")/.."
cargo bench -p cni-ipam --bench vs_host_local --no-run
echo "### on disk"
cargo bench -q -p cni-ipam --bench vs_host_local
if [ -d /dev/shm ]; then
    echo
    echo "### on tmpfs"
    CN2_BENCH_DIR=/dev/shm cargo bench -q -p cni-ipam --bench vs_host_local
fi
