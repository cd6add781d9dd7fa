#!/usr/bin/env bash
# tug's whole test suite, on a fresh machine as root: installs what is missing, checks
# formatting and lints, runs unit and integration tests (real containers), then the cgroup
# tests again inside a VM booted with a pure cgroup v2 kernel.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root: the tests create namespaces, cgroups and mounts" >&2; exit 1; }
scripts/deps.sh docker.io skopeo openssl curl docker-registry docker-compose runc
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -A clippy::all -D clippy::undocumented_unsafe_blocks
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
if [ -x scripts/vm-tests.sh ]; then
  scripts/vm-tests.sh
fi
