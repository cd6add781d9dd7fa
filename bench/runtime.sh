#!/usr/bin/env bash
# create+start+delete of a busybox bundle with tug, runc and crun in one hyperfine run, then the
# peak RSS of each runtime process. Prints medians and tug's ratios to the others.
# Usage: bench/runtime.sh [RUNS]   (as root)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
scripts/deps.sh runc crun hyperfine time util-linux
cargo build --release -p tug -q
tug=$PWD/target/x86_64-unknown-linux-gnu/release/tug
# State roots on tmpfs as the defaults (/run/tug/runtime, /run/runc) are.
work=$(mktemp -d /run/tug-bench.XXXXXX)
cleanup() {
  for r in tug runc crun; do "$(bin $r)" --root "$work/state-$r" delete --force "bench-$r" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
bin() { case $1 in tug) echo "$tug runtime";; runc) echo runc;; crun) echo crun;; esac; }
trap cleanup EXIT
mkdir -p "$work/bundle/rootfs/bin"
cp /bin/busybox "$work/bundle/rootfs/bin/busybox"
ln -s busybox "$work/bundle/rootfs/bin/true"
$tug runtime spec --bundle "$work/bundle"
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["true"]
c["ociVersion"] = "1.0.2"  # crun 1.8 knows no later version
json.dump(c, open(p, "w"), indent=2)
PY
: > "$work/empty"
cycle() { # runtime → one create+start+delete as a shell command
  local r=$1 b; b=$(bin "$r")
  echo "$b --root $work/state-$r create --bundle $work/bundle bench-$r && $b --root $work/state-$r start bench-$r && $b --root $work/state-$r delete --force bench-$r"
}
# crun 1.8 refuses a hybrid cgroup host unless the unified hierarchy looks empty: give the whole
# run a private mount namespace with an empty file over that one (tug and runc do not read it).
inner=$work/inner.sh
cat > "$inner" <<IN
set -e
if [ -f /sys/fs/cgroup/unified/cgroup.controllers ]; then mount --bind $work/empty /sys/fs/cgroup/unified/cgroup.controllers; fi
hyperfine -N --warmup 3 --runs $runs --export-json $work/hf.json \
  -n tug "sh -c '$(cycle tug)'" -n runc "sh -c '$(cycle runc)'" -n crun "sh -c '$(cycle crun)'"
for r in tug runc crun; do
  b="\$(case \$r in tug) echo '$tug runtime';; *) echo \$r;; esac)"
  for i in 1 2 3 4 5; do
    for verb in create start delete; do
      case \$verb in
        create) args="create --bundle $work/bundle bench-\$r";;
        start) args="start bench-\$r";;
        delete) args="delete --force bench-\$r";;
      esac
      /usr/bin/time -f "\$r \$verb %M" -a -o $work/rss.txt \$b --root $work/state-\$r \$args >/dev/null
    done
  done
done
IN
unshare -m --propagation private sh "$inner"
python3 - "$work/hf.json" "$work/rss.txt" <<'PY'
import json, statistics, sys
hf = json.load(open(sys.argv[1]))
med = {r["command"]: statistics.median(r["times"]) * 1000 for r in hf["results"]}
print("\ncreate+start+delete, median of %d runs (ms):" % len(hf["results"][0]["times"]))
for k, v in med.items():
    print("  %-5s %7.2f ms" % (k, v))
for other in ("runc", "crun"):
    print("  tug / %s = %.2f" % (other, med["tug"] / med[other]))
rss = {}
for line in open(sys.argv[2]):
    r, verb, kb = line.split()
    rss.setdefault(r, {}).setdefault(verb, []).append(int(kb))
print("\npeak RSS per runtime process, median of 5 (KB):")
for r, verbs in rss.items():
    cells = ", ".join("%s %d" % (v, statistics.median(x)) for v, x in verbs.items())
    peak = max(statistics.median(x) for x in verbs.values())
    print("  %-5s %s  -> peak %.1f MB" % (r, cells, peak / 1024))
PY
