#!/usr/bin/env bash
# tug's main job, end to end on a fresh machine: install what is missing, build tug, make an OCI
# bundle from Debian's busybox-static, and run a container from it with tug's own runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root: containers need namespaces, cgroups and mounts" >&2; exit 1; }
scripts/deps.sh
cargo build --release -p tug
tug=$PWD/target/release/tug
bundle=$(mktemp -d /tmp/tug-demo-bundle.XXXXXX)
root=$(mktemp -d /tmp/tug-demo-state.XXXXXX)
trap '"$tug" runtime --root "$root" delete --force tug-demo >/dev/null 2>&1 || true; rm -rf "$bundle" "$root"' EXIT
mkdir -p "$bundle/rootfs/bin"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -sf busybox "$bundle/rootfs/bin/$applet"; done
"$tug" runtime spec --bundle "$bundle"
python3 - "$bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["process"]["args"] = ["sh", "-c", "echo hello from a tug container; hostname; id; grep -E '^Cap(Eff|Bnd)' /proc/self/status"]
json.dump(c, open(p, "w"), indent=2)
PY
"$tug" runtime --root "$root" run --bundle "$bundle" tug-demo
