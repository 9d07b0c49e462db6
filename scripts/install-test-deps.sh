#!/usr/bin/env bash
# Installs the Debian packages the test suite uses (network namespaces, the
# reference CNI plugins, real CNI clients). Run as root; a no-op for packages
# already present. Without them, tests that need them skip with a reason
# (and fail under CN2_REQUIRE_ROOT_TESTS=1).
set -euo pipefail

packages=(
    iproute2        # ip netns, veth: root tests build their own namespaces
    iputils-ping    # reachability checks between test namespaces
    valgrind        # the C API tests run under it
    pkg-config      # the C API's pkg-config file is tested
    containernetworking-plugins  # the reference bridge / host-local plugins
    golang-go                    # builds the libcni driver of the interop tests
    golang-github-appc-cni-dev   # the real libcni, built offline from /usr/share/gocode
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "install-test-deps: missing ${missing[*]}; run as root to install them" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
for attempt in 1 2 3; do
    if apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
        exit 0
    fi
    echo "install-test-deps: attempt $attempt failed; retrying" >&2
    sleep 5
done
echo "install-test-deps: could not install ${missing[*]}" >&2
exit 1
