#!/usr/bin/env bash
# tug's registry server side by side with Debian's docker-registry (CNCF distribution 2.8):
# skopeo pushes and pulls 1, 10 and 100 MB single-layer images to and from each server, and curl
# pushes 100 MB in 10 MB chunks (PATCH + Content-Range; skopeo only pushes whole blobs); then the
# idle and peak (busy) RSS of each server. Prints medians over RUNS and docker-registry/tug ratios
# (above 1: tug is faster), and the CPU each server spent on each operation (what is left of the
# time is the client's: skopeo hashes and copies every byte too). Each run pushes a fresh layer,
# so no blob is skipped or mounted.
# Usage: bench/registry.sh [RUNS]   (as root; TUG=path/to/tug uses that binary instead of building)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
scripts/deps.sh skopeo docker-registry curl python3 bc
if [ -n "${TUG:-}" ]; then tug=$TUG; else cargo build --release -p tug -q; tug=$PWD/target/x86_64-unknown-linux-gnu/release/tug; fi
work=$(mktemp -d /tmp/tug-regbench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
export HOME=$work/home   # skopeo's blob info cache: fresh, so it never mounts across repositories
mkdir -p "$HOME"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# tug
"$tug" registry serve --addr 127.0.0.1:0 --root "$work/tug-root" > "$work/tug.log" 2>&1 &
pids+=($!); tug_pid=$!
for _ in $(seq 50); do grep -q listening "$work/tug.log" && break; sleep 0.1; done
tug_addr=$(sed -n 's/.*listening on //p' "$work/tug.log")
# docker-registry
dr_port=$(free_port)
cat > "$work/dr.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/dr-root}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$dr_port}
YML
docker-registry serve "$work/dr.yml" > "$work/dr.log" 2>&1 &
pids+=($!); dr_pid=$!
dr_addr=127.0.0.1:$dr_port
for _ in $(seq 50); do curl -sf "http://$dr_addr/v2/" >/dev/null && break; sleep 0.1; done

rss() { awk -v k="$2:" '$1==k {print $2}' "/proc/$1/status"; }
curl -sf "http://$tug_addr/v2/" >/dev/null; curl -sf "http://$dr_addr/v2/" >/dev/null
sleep 1
echo "idle tug $(rss $tug_pid VmRSS)" >> "$work/rss.txt"
echo "idle docker-registry $(rss $dr_pid VmRSS)" >> "$work/rss.txt"

# layout DIR MB: an OCI layout whose one layer is MB of random data, gzip-wrapped (skopeo keeps it as is)
layout() {
  local d=$1 mb=$2 l c m
  mkdir -p "$d/blobs/sha256"
  head -c "${mb}M" /dev/urandom | gzip -1 > "$d/layer"
  l=$(sha256sum "$d/layer" | cut -d' ' -f1); mv "$d/layer" "$d/blobs/sha256/$l"
  printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$l" > "$d/c"
  c=$(sha256sum "$d/c" | cut -d' ' -f1); mv "$d/c" "$d/blobs/sha256/$c"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
    "$c" "$(stat -c %s "$d/blobs/sha256/$c")" "$l" "$(stat -c %s "$d/blobs/sha256/$l")" > "$d/m"
  m=$(sha256sum "$d/m" | cut -d' ' -f1)
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' "$m" "$(stat -c %s "$d/m")" > "$d/index.json"
  mv "$d/m" "$d/blobs/sha256/$m"
  echo '{"imageLayoutVersion":"1.0.0"}' > "$d/oci-layout"
}
now() { date +%s.%N; }
timed() { local t0 t1; t0=$(now); "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }; t1=$(now); echo "$t1 - $t0" | bc -l; }
# cpu PID: the server's user+system CPU so far, in clock ticks (all its threads, also exited ones)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
# measure SERVER WHAT CMD...: wall time of CMD and the CPU the server spent meanwhile
measure() {
  local s=$1 what=$2 pid c0 t; shift 2
  pid=$([ "$s" = tug ] && echo "$tug_pid" || echo "$dr_pid")
  c0=$(cpu "$pid"); t=$(timed "$@")
  echo "$s $what $t" >> "$work/times.txt"
  echo "$s $what $(( ($(cpu "$pid") - c0) * 1000 / hz ))" >> "$work/cpu.txt"
}
# chunked ADDR REPO FILE: POST, 10 MB PATCHes with Content-Range, PUT ?digest
chunked() {
  local addr=$1 repo=$2 f=$3 loc size off=0 n=$((10 << 20)) d
  d=sha256:$(sha256sum "$f" | cut -d' ' -f1); size=$(stat -c %s "$f")
  loc=$(curl -sSf -X POST -D - -o /dev/null "http://$addr/v2/$repo/blobs/uploads/" | tr -d '\r' | awk 'tolower($1)=="location:" {print $2}')
  while [ $off -lt "$size" ]; do
    local len=$(( size - off < n ? size - off : n ))
    loc=$(tail -c +$((off + 1)) "$f" | head -c $len | curl -sSf -X PATCH -D - -o /dev/null \
      -H "Content-Type: application/octet-stream" -H "Content-Range: $off-$((off + len - 1))" --data-binary @- \
      "$(case $loc in http*) echo "$loc";; *) echo "http://$addr$loc";; esac)" | tr -d '\r' | awk 'tolower($1)=="location:" {print $2}')
    off=$((off + len))
  done
  case $loc in http*) ;; *) loc=http://$addr$loc;; esac
  case $loc in *\?*) loc="$loc&digest=$d";; *) loc="$loc?digest=$d";; esac
  curl -sSf -X PUT -o /dev/null "$loc"
}

for run in $(seq "$runs"); do
  for mb in 1 10 100; do
    rm -rf "$work/img"; layout "$work/img" $mb
    for s in tug docker-registry; do
      addr=$([ $s = tug ] && echo "$tug_addr" || echo "$dr_addr")
      measure $s push-${mb}MB skopeo copy -q --dest-tls-verify=false "oci:$work/img:latest" "docker://$addr/bench/m$mb-r$run:latest"
      rm -rf "$work/pull"
      measure $s pull-${mb}MB skopeo copy -q --src-tls-verify=false "docker://$addr/bench/m$mb-r$run:latest" "dir:$work/pull"
    done
  done
  head -c 100M /dev/urandom > "$work/chunk"
  for s in tug docker-registry; do
    addr=$([ $s = tug ] && echo "$tug_addr" || echo "$dr_addr")
    measure $s push-100MB-chunked chunked "$addr" "bench/chunked-r$run" "$work/chunk"
  done
done
echo "busy tug $(rss $tug_pid VmHWM)" >> "$work/rss.txt"
echo "busy docker-registry $(rss $dr_pid VmHWM)" >> "$work/rss.txt"

python3 - "$work/times.txt" "$work/rss.txt" "$runs" "$work/cpu.txt" <<'PY'
import statistics, sys
def medians(path):
    t = {}
    for line in open(path):
        s, what, v = line.split()
        t.setdefault((what, s), []).append(float(v))
    return {k: statistics.median(v) for k, v in t.items()}
t, c = medians(sys.argv[1]), medians(sys.argv[4])
order = ["push-1MB", "pull-1MB", "push-10MB", "pull-10MB", "push-100MB", "pull-100MB", "push-100MB-chunked"]
print(f"registry bench, median of {sys.argv[3]} runs (seconds, client included)")
print(f"{'':22}{'tug':>10}{'docker-registry':>17}{'ratio':>8}")
for w in order:
    a, b = t[(w, "tug")], t[(w, "docker-registry")]
    print(f"{w:22}{a:10.3f}{b:17.3f}{b / a:8.2f}")
print("server CPU (user+system, ms; 10 ms ticks), median")
for w in order:
    a, b = c[(w, "tug")], c[(w, "docker-registry")]
    print(f"{w:22}{a:10.0f}{b:17.0f}{b / a if a else float('inf'):8.2f}")
rss = {}
for line in open(sys.argv[2]):
    k, s, v = line.split()
    rss[(k, s)] = int(v)
for k, label in [("idle", "RSS idle (MiB)"), ("busy", "RSS peak (MiB)")]:
    a, b = rss[(k, "tug")] / 1024, rss[(k, "docker-registry")] / 1024
    print(f"{label:22}{a:10.1f}{b:17.1f}{b / a:8.2f}")
PY
