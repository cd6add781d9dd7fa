#!/usr/bin/env bash
# Pull of a ~100 MB image (a random-data layer plus busybox) from a loopback docker-registry:
# tug pull (download + verify + unpack into snapshots, ready to run) against skopeo copy to an
# OCI layout (download only), in one hyperfine run. Prints medians and tug's ratio to skopeo.
# Usage: bench/pull.sh [RUNS] [MB]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
mb=${2:-100}
scripts/deps.sh docker-registry skopeo hyperfine busybox-static python3
cargo build --release -p tug-image --example pull -q
pull=$PWD/target/x86_64-unknown-linux-gnu/release/examples/pull
work=$(mktemp -d /tmp/tug-bench-pull.XXXXXX)
reg_pid=
cleanup() {
  [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null && wait "$reg_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done

# The image: layer 1 busybox, layer 2 random data (incompressible, gzipped as registries serve it).
mkdir -p "$work/l1/bin" "$work/l2" "$work/layout/blobs/sha256"
cp /bin/busybox "$work/l1/bin/busybox"
ln -s busybox "$work/l1/bin/sh"
head -c "${mb}M" /dev/urandom > "$work/l2/data"
python3 - "$work" <<'PY'
import gzip, hashlib, json, os, subprocess, sys
w = sys.argv[1]; blobs = f"{w}/layout/blobs/sha256"
def put(b):
    d = hashlib.sha256(b).hexdigest(); open(f"{blobs}/{d}", "wb").write(b); return "sha256:" + d, len(b)
layers, diffs = [], []
for l in ("l1", "l2"):
    tar = subprocess.run(["tar", "-C", f"{w}/{l}", "-cf", "-", "."], check=True, capture_output=True).stdout
    diffs.append("sha256:" + hashlib.sha256(tar).hexdigest())
    d, n = put(gzip.compress(tar, compresslevel=1))
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": n})
cfg = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]}, "rootfs": {"type": "layers", "diff_ids": diffs}}
cd, cn = put(json.dumps(cfg).encode())
m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
     "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn}, "layers": layers}
md, mn = put(json.dumps(m).encode())
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": m["mediaType"], "digest": md, "size": mn,
  "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}, open(f"{w}/layout/index.json", "w"))
open(f"{w}/layout/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
skopeo copy -q --dest-tls-verify=false "oci:$work/layout:v1" "docker://127.0.0.1:$port/bench/big:v1"
ref=127.0.0.1:$port/bench/big:v1
size=$(du -sm "$work/layout/blobs" | cut -f1)
echo "image: ${size} MB compressed in 2 layers, registry 127.0.0.1:$port"

hyperfine --runs "$runs" --warmup 1 --export-json "$work/result.json" \
  --prepare "rm -rf $work/tug-store $work/skopeo-out" \
  -n "tug pull (download+verify+unpack)" "$pull $work/tug-store $ref --quiet" \
  -n "skopeo copy (download only)" "skopeo copy -q --src-tls-verify=false docker://$ref oci:$work/skopeo-out:v1"
python3 - "$work/result.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
med = {x["command"]: x["median"] for x in r}
tug, sko = med["tug pull (download+verify+unpack)"], med["skopeo copy (download only)"]
print(f"median tug pull   {tug*1000:8.1f} ms")
print(f"median skopeo     {sko*1000:8.1f} ms")
print(f"ratio tug/skopeo  {tug/sko:8.2f}  (goal: <= 1.00)")
PY
