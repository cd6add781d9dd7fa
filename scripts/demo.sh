#!/usr/bin/env bash
# tug's main job on a fresh machine: install what is missing, build tug, then
#  1. run a container straight from an OCI bundle with tug's own runtime, and
#  2. start `tug daemon`, import a busybox base image (`tug import`), build an image from a
#     Dockerfile (`tug build`) and run it (`tug run --rm`) on the daemon's default bridge.
# Everything it starts is stopped and removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root: containers need namespaces, cgroups and mounts" >&2; exit 1; }
scripts/deps.sh
cargo build --release -p tug
tug=$PWD/target/x86_64-unknown-linux-gnu/release/tug
work=$(mktemp -d /tmp/tug-demo.XXXXXX)
daemon_pid=
cleanup() {
  if [ -n "$daemon_pid" ]; then
    "$tug" -H "unix://$work/tug.sock" rm -f demo >/dev/null 2>&1 || true
    kill "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  ip link del tugdemo0 2>/dev/null || true
  nft delete table ip tug_tugdemo0 2>/dev/null || true
  "$tug" runtime --root "$work/runtime" delete --force tug-demo >/dev/null 2>&1 || true
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
  find /sys/fs/cgroup -depth -type d -path "*/tug-demo-$$*" -exec rmdir {} \; 2>/dev/null || true
}
trap cleanup EXIT

# A busybox root filesystem.
mkdir -p "$work/bundle/rootfs/bin"
cp /bin/busybox "$work/bundle/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -sf busybox "$work/bundle/rootfs/bin/$applet"; done

echo "== 1. tug runtime: a container from an OCI bundle"
"$tug" runtime spec --bundle "$work/bundle"
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c", "echo hello from a tug container; hostname; id; grep -E '^Cap(Eff|Bnd)' /proc/self/status"]
json.dump(c, open(p, "w"), indent=2)
PY
"$tug" runtime --root "$work/runtime" run --bundle "$work/bundle" tug-demo

echo "== 2. tug daemon: import a base image, build an image from a Dockerfile, run it"
# The daemon's default bridge gets a name and subnet of its own here, removed at the end.
TUG_BRIDGE=tugdemo0 TUG_BIP=10.250.77.1/24 \
  "$tug" daemon --data-root "$work/data" --exec-root "$work/exec" -H "unix://$work/tug.sock" --cgroup-parent "tug-demo-$$" \
  > "$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$work/tug.sock" ] && break; sleep 0.1; done
t() { "$tug" -H "unix://$work/tug.sock" "$@"; }
tar -C "$work/bundle/rootfs" -c . | t import - busybox:demo
mkdir -p "$work/ctx"
cat > "$work/ctx/Dockerfile" <<'DF'
FROM busybox:demo
RUN echo "built by tug build at $(date -u +%H:%M:%S)" > /etc/motd
HEALTHCHECK --interval=1s CMD test -f /etc/motd
CMD ["sh", "-c", "cat /etc/motd; echo hello from tug run; grep -E '^(CapEff|Seccomp):' /proc/self/status; ip -4 -o addr show eth0 | awk '{print $2, $4}'"]
DF
t build -t hello:demo "$work/ctx"
t run --rm --name demo hello:demo
t images
