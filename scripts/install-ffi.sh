#!/usr/bin/env bash
# Builds the C library in release mode and installs it under PREFIX
# (default /usr/local): lib/libcn2.{a,so}, include/cn2.h, lib/pkgconfig/cn2.pc.
# Then: cc app.c $(pkg-config --cflags --libs cn2)
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${1:-/usr/local}
cargo build --release -p cn2-ffi
target=${CARGO_TARGET_DIR:-target}/release
version=$(cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "cn2-ffi"))')
install -D -m 0644 "$target/libcn2.a" "$prefix/lib/libcn2.a"
install -D -m 0755 "$target/libcn2.so" "$prefix/lib/libcn2.so"
install -D -m 0644 crates/cn2-ffi/include/cn2.h "$prefix/include/cn2.h"
mkdir -p "$prefix/lib/pkgconfig"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" crates/cn2-ffi/cn2.pc.in > "$prefix/lib/pkgconfig/cn2.pc"
echo "installed cn2 $version under $prefix"
