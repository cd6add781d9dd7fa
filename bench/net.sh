#!/usr/bin/env bash
# Network cost per container and TCP throughput between containers, on a private tug daemon
# (state on tmpfs) driven by the docker CLI:
#  1. `docker run --rm` on the default bridge against `--network none` (hyperfine, medians):
#     the difference is what network setup (netns, veth in the container's namespace, address,
#     route, /etc files, teardown) adds per container. Goal: <= 5 ms. (Docker 28 with Debian's
#     docker.io measured ~340 ms vs ~256 ms: ~85 ms for its network.)
#  2. TCP throughput container -> container over a user-defined bridge (busybox dd | nc).
#  The daemon keeps a few namespaces with their veth pair ready (TUG_NETNS_POOL, 2 by
#  default); TUG_NETNS_POOL=0 bench/net.sh measures setup without that pool.
# Usage: bench/net.sh [RUNS]      (TUG=path/to/tug to use another binary)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
scripts/deps.sh busybox-static hyperfine nftables python3
tug=${TUG:-$PWD/target/x86_64-unknown-linux-gnu/release/tug}
if [ ! -x "$tug" ]; then
  cargo build --release -p tug -q
fi
work=$(mktemp -d /dev/shm/tug-bench-net.XXXXXX)
br=tugb$$
octet=$(( $$ % 200 + 20 ))
sock=$work/tug.sock
export DOCKER_HOST=unix://$sock
daemon_pid=
cleanup() {
  if [ -n "$daemon_pid" ]; then
    docker rm -f srv >/dev/null 2>&1 || true
    docker network rm benchnet >/dev/null 2>&1 || true
    kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
  fi
  ip link del "$br" 2>/dev/null || true
  nft delete table ip "tug_$br" 2>/dev/null || true
  grep " $work" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
  find /sys/fs/cgroup -depth -type d -path "*/tug-bench-net-$$*" -exec rmdir {} \; 2>/dev/null || true
}
trap cleanup EXIT
TUG_BRIDGE=$br TUG_BIP=10.251.$octet.1/24 "$tug" daemon --data-root "$work/data" \
  --exec-root "$work/exec" -H "unix://$sock" --cgroup-parent "tug-bench-net-$$" \
  >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do docker version >/dev/null 2>&1 && break; sleep 0.1; done

mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp" "$work/rootfs/usr"
ln -s usr/lib "$work/rootfs/lib"; ln -s usr/lib64 "$work/rootfs/lib64"
cp /bin/busybox "$work/rootfs/bin/busybox"
for a in sh true nc dd; do ln -s busybox "$work/rootfs/bin/$a"; done
tar -C "$work/rootfs" -cf "$work/bb.tar" .
docker import "$work/bb.tar" bench/bb:net >/dev/null

echo "== docker run --rm: default bridge vs --network none ($runs runs each)"
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/run.json" \
  -n bridge "docker run --rm bench/bb:net true" \
  -n none "docker run --rm --network none bench/bb:net true" >/dev/null
python3 - "$work/run.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
b, n = r["bridge"]["median"] * 1000, r["none"]["median"] * 1000
print(f"median bridge {b:.1f} ms, none {n:.1f} ms: network setup adds {b - n:.1f} ms per container")
PY

echo "== TCP throughput container -> container over a bridge (4 GiB, python3 sockets)"
docker network create --subnet 10.252.$octet.0/24 benchnet >/dev/null
server='import socket, time
s = socket.socket(); s.bind(("0.0.0.0", 5001)); s.listen(1)
c, _ = s.accept(); n = 0; t = time.monotonic()
while True:
    b = c.recv(1 << 20)
    if not b: break
    n += len(b)
d = time.monotonic() - t
print(f"{n / d / 1e9 * 8:.2f} Gbit/s ({n >> 20} MiB in {d:.2f} s)")'
client='import socket, time
s = socket.create_connection(("srv", 5001)); buf = bytes(1 << 20)
for _ in range(4096): s.sendall(buf)
s.close()'
docker run -d --name srv --network benchnet -v /usr:/usr:ro bench/bb:net /usr/bin/python3 -c "$server" >/dev/null
sleep 0.5
docker run --rm --network benchnet -v /usr:/usr:ro bench/bb:net /usr/bin/python3 -c "$client"
docker wait srv >/dev/null
docker logs srv
