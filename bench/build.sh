#!/usr/bin/env bash
# Builds with tug (through its daemon), Debian's docker.io legacy builder (DOCKER_BUILDKIT=0,
# a private dockerd) and buildah, in one hyperfine run each: a small build (FROM a local
# busybox image, RUN, COPY, CMD) cold (--no-cache) and fully cached, and a 3-stage build
# cold. Every tool has its own state under one temp dir. Prints medians and tug's ratios.
# Usage: bench/build.sh [RUNS]   (as root)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
scripts/deps.sh docker.io buildah hyperfine busybox-static python3
cargo build --release -p tug -q
tug=$PWD/target/x86_64-unknown-linux-gnu/release/tug
work=$(mktemp -d /tmp/tug-bench-build.XXXXXX)
tugd= dockerd=
cleanup() {
  [ -n "$tugd" ] && kill "$tugd" 2>/dev/null && wait "$tugd" 2>/dev/null || true
  [ -n "$dockerd" ] && kill "$dockerd" 2>/dev/null && wait "$dockerd" 2>/dev/null || true
  buildah --root "$work/buildah" --runroot "$work/buildah-run" rm --all >/dev/null 2>&1 || true
  grep " $work" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
  find /sys/fs/cgroup -depth -type d -path "*/tug-bench*" -exec rmdir {} \; 2>/dev/null || true
}
trap cleanup EXIT

# The base image: busybox with every applet.
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp"
cp /bin/busybox "$work/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$work/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$work/rootfs/etc/passwd"
tar -C "$work/rootfs" -cf "$work/busybox.tar" .

# Contexts.
mkdir -p "$work/small" "$work/multi"
head -c 100000 /dev/urandom > "$work/small/data.bin"
cat > "$work/small/Dockerfile" <<'DF'
FROM busybox
RUN echo built > /built
COPY data.bin /data.bin
CMD ["cat", "/built"]
DF
cat > "$work/multi/Dockerfile" <<'DF'
FROM busybox AS a
RUN echo a > /a
FROM busybox AS b
RUN echo b > /b
FROM busybox
COPY --from=a /a /a
COPY --from=b /b /b
CMD ["cat", "/a", "/b"]
DF

# tug's daemon.
"$tug" daemon --data-root "$work/tug" --exec-root "$work/tug-exec" -H "unix://$work/tug.sock" \
  --cgroup-parent tug-bench >"$work/tug.log" 2>&1 &
tugd=$!
# A private dockerd (no bridge, no iptables: builds need neither).
dockerd --data-root "$work/docker" --exec-root "$work/docker-exec" -H "unix://$work/docker.sock" \
  --pidfile "$work/docker.pid" --bridge=none --iptables=false --ip6tables=false \
  --storage-driver overlay2 >"$work/docker.log" 2>&1 &
dockerd=$!
for i in $(seq 100); do
  "$tug" -H "unix://$work/tug.sock" images >/dev/null 2>&1 && docker -H "unix://$work/docker.sock" version >/dev/null 2>&1 && break
  sleep 0.1
done
"$tug" -H "unix://$work/tug.sock" import "$work/busybox.tar" busybox:latest >/dev/null
docker -H "unix://$work/docker.sock" import "$work/busybox.tar" busybox:latest >/dev/null
docker -H "unix://$work/docker.sock" save -o "$work/busybox-docker.tar" busybox:latest
B="buildah --root $work/buildah --runroot $work/buildah-run --storage-driver overlay"
$B pull -q "docker-archive:$work/busybox-docker.tar" >/dev/null
$B tag "$(  $B images -q | head -1)" localhost/busybox:latest docker.io/library/busybox:latest

T="$tug -H unix://$work/tug.sock build -q"
D="env DOCKER_BUILDKIT=0 docker -H unix://$work/docker.sock build -q"
BB="$B build --quiet --isolation chroot --pull=never"
# Warm every cache once.
for ctx in small multi; do
  $T -t "$ctx" "$work/$ctx" >/dev/null; $D -t "$ctx" "$work/$ctx" >/dev/null 2>&1; $BB --layers -t "$ctx" "$work/$ctx" >/dev/null
done
hf() { # name → hyperfine JSON for the three tools
  local name=$1 tflags=$2 dflags=$3 bflags=$4 ctx=$5
  hyperfine -N --warmup 1 --runs "$runs" --export-json "$work/$name.json" \
    -n tug "$T $tflags -t $ctx $work/$ctx" \
    -n docker "$D $dflags -t $ctx $work/$ctx" \
    -n buildah "$BB $bflags -t $ctx $work/$ctx" >/dev/null
}
hf small-cold --no-cache --no-cache "--no-cache" small
hf small-cached "" "" "--layers" small
hf multi-cold --no-cache --no-cache "--no-cache" multi
python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
for name in ["small-cold", "small-cached", "multi-cold"]:
    r = {x["command"]: x for x in json.load(open(f"{w}/{name}.json"))["results"]}
    med = {k: v["median"] * 1000 for k, v in r.items()}
    line = "  ".join(f"{k} {v:7.1f} ms" for k, v in med.items())
    print(f"{name:13} {line}   tug/docker {med['tug']/med['docker']:.2f}  tug/buildah {med['tug']/med['buildah']:.2f}")
PY
