#!/usr/bin/env bash
# Install what building and running tug needs on Debian (bookworm), plus any packages named as
# arguments (the tests add their peers: docker.io, skopeo, docker-registry, …). Idempotent.
set -euo pipefail
need=()
for pkg in busybox-static libseccomp-dev pkg-config gcc procps iproute2 nftables iptables "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "cargo not found: install a Rust toolchain (rustup) first" >&2; exit 1; }
