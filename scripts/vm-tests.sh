#!/usr/bin/env bash
# Run tug's cgroup integration tests (crates/tug/tests/runtime_cgroups.rs) inside a small qemu VM
# that boots a pure cgroup v2 kernel (tests/vm/run.sh), so that the v2 code paths (unified
# hierarchy, subtree_control delegation, eBPF device filter, cgroup.freeze) run for real even on a
# cgroup v1/hybrid host.
#
#   scripts/vm-tests.sh [LIBTEST ARGS...]      e.g. scripts/vm-tests.sh memory_limit --nocapture
#
# Needs: x86_64 Debian (bookworm) with Rust/cargo, run as root (as the tests are). The first run
# fetches the VM's kernel, qemu and seabios with apt (tests/vm/run.sh; ~40 MB, cached in
# .cache/vm/) and apt-get installs what is missing (busybox-static, qemu's shared libraries).
# Nothing is skipped: anything that cannot be built, fetched or run fails with a message.
#
# Environment: VM_TIMEOUT (seconds for the whole VM, default 900) and the other VM_* variables of
# tests/vm/README.md are passed on.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
log() { echo "vm-tests: $*" >&2; }
die() {
	log "FAILED: $*"
	exit 1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

[ "$(uname -m)" = x86_64 ] || die "the VM boots Debian's amd64 kernel; this machine is $(uname -m)"
[ "$EUID" -eq 0 ] || die "run as root: the tests create cgroups, mount and mknod (and apt-get installs what is missing)"
command -v cargo >/dev/null || die "cargo not found: install Rust (rustup, or apt-get install cargo)"
command -v apt-get >/dev/null || die "apt-get not found: tests/vm/run.sh fetches the VM's kernel and qemu from Debian's repositories"

t0=$(now)
log "building tug and the runtime_cgroups test binary ..."
json=$(mktemp)
trap 'rm -f "$json"' EXIT
# Cargo's progress and errors go to stderr (shown); the JSON artifact list goes to $json.
if ! cargo test -p tug --test runtime_cgroups --no-run --message-format=json >"$json"; then
	die "cargo could not build the tests (errors above)"
fi
# One compiler-artifact line per unit; pick the executables of the test target and of tug.
exe_of() { grep -F '"reason":"compiler-artifact"' "$json" | grep -F "$1" | grep -o '"executable":"[^"]*"' | tail -n1 | cut -d'"' -f4; }
test_bin=$(exe_of '"kind":["test"],"crate_types":["bin"],"name":"runtime_cgroups"')
tug_bin=$(exe_of '"kind":["bin"],"crate_types":["bin"],"name":"tug"')
[ -n "$test_bin" ] && [ -x "$test_bin" ] || die "cargo built no runtime_cgroups test executable (see $json)"
[ -n "$tug_bin" ] && [ -x "$tug_bin" ] || die "cargo built no tug executable"
log "built in $(since "$t0") s: $test_bin, $tug_bin"

t1=$(now)
out=$(mktemp)
trap 'rm -f "$json" "$out"' EXIT
rc=0
# stderr of run.sh (its summary lines) is shown and kept for the final verdict.
TUG_BIN=$tug_bin VM_TIMEOUT=${VM_TIMEOUT:-900} VM_ENV="RUST_BACKTRACE=1 ${VM_ENV:-}" \
	"$repo/tests/vm/run.sh" -- "$test_bin" --test-threads=1 "$@" 2> >(tee "$out" >&2) || rc=$?
wait # for tee
vm_s=$(since "$t1")

passed=$(sed -n 's/^tug-vm: tests: \([0-9]*\) passed.*/\1/p' "$out" | tail -n1)
failed=$(sed -n 's/^tug-vm: tests: [0-9]* passed, \([0-9]*\) failed.*/\1/p' "$out" | tail -n1)
summary="${passed:-0} passed, ${failed:-?} failed; VM part $vm_s s, total $(since "$t0") s"
case $rc in
0)
	[ "${passed:-0}" -gt 0 ] || die "no test ran in the VM (filter matched nothing?); $summary"
	log "PASSED: cgroup v2 tests in the VM: $summary"
	;;
101) die "test failures in the cgroup v2 VM: $summary (failed tests are listed above as 'tug-vm:   FAILED')" ;;
124) die "the VM timed out (VM_TIMEOUT=${VM_TIMEOUT:-900} s): $summary" ;;
125) die "the VM harness failed (download, staging, kernel panic or qemu; see the tug-vm: lines above): $summary" ;;
143) die "the tests were killed by the timeout inside the VM: $summary" ;;
*) die "the test binary exited with $rc in the VM: $summary" ;;
esac
