#!/usr/bin/env bash
# Regenerates crates/tug/symbol-order.txt: the functions (and named constants) that `tug runtime`
# processes execute, hottest first, which crates/tug/build.rs hands to lld so that release builds
# lay them out next to each other. The kernel maps 64 KB of text around each page that faults,
# so a runtime process's resident memory follows how scattered its code is in the binary.
#
# Each round links the release binary with a linker map, runs create/start/state/delete of a
# busybox bundle (and, less often, run/exec/pause/resume/kill of a second one and an error)
# under perf (instruction samples and page-fault addresses), maps what was hit to symbols
# and writes the list; names from the previous list that still exist are kept after them.
# Later rounds see the functions that earlier layouts hid behind a neighbour's fault.
# Names go stale: symbol hashes change with dependencies and their features, and ThinLTO's
# `.llvm.N` suffixes (on internal functions it shares between modules) change with the code of
# their crate. Rerun this after changing the runtime's code (a stale list only costs memory,
# about 1 MB for a runtime process; build.rs tells lld to ignore names it does not find).
# Usage: bench/symbol-order.sh [ROUNDS] [CYCLES]   (as root; default 3 rounds of 150 cycles)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
cycles=${2:-150}
scripts/deps.sh linux-perf python3
order=$PWD/crates/tug/symbol-order.txt
tug=$PWD/target/x86_64-unknown-linux-gnu/release/tug
work=$(mktemp -d /run/tug-symorder.XXXXXX)
cleanup() {
  [ -x "$tug" ] && for c in sym sym2; do "$tug" runtime --root "$work/state" delete --force $c >/dev/null 2>&1; done
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/bundle/rootfs/bin"
cp /bin/busybox "$work/bundle/rootfs/bin/busybox"
ln -s busybox "$work/bundle/rootfs/bin/true"
# The bundle of bench/runtime.sh: its spec version and process take their own code paths.
cargo build --release -p tug -q
"$tug" runtime spec --bundle "$work/bundle"
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["true"]
c["ociVersion"] = "1.0.2"
json.dump(c, open(p, "w"), indent=2)
PY

# A second bundle whose process keeps running, for the verbs that need one (a third as many
# rounds of those: their own code comes after what every cycle runs).
cp -a "$work/bundle" "$work/bundle2"
ln -s busybox "$work/bundle2/rootfs/bin/sleep"
python3 - "$work/bundle2/config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["process"]["args"] = ["sleep", "30"]
json.dump(c, open(p, "w"), indent=2)
PY

cat > "$work/cycles.sh" <<SH
set -e
r="$tug runtime --root $work/state"
for i in \$(seq $cycles); do
  \$r create --bundle $work/bundle sym
  \$r state sym >/dev/null
  \$r start sym
  \$r delete --force sym
  if [ \$((i % 3)) = 0 ]; then
    \$r run -d --bundle $work/bundle2 sym2 </dev/null >/dev/null 2>&1
    \$r exec sym2 true </dev/null >/dev/null 2>&1
    \$r pause sym2
    \$r resume sym2
    \$r kill sym2 KILL
    \$r delete --force sym2
    \$r state missing >/dev/null 2>&1 || true
  fi
done
SH

cat > "$work/order.py" <<'PY'
# order.py MAP PREV OUT PERF.DATA...: the input sections that `tug` processes touched, named
# by a symbol each, hottest first; then PREV's names that the map still has.
import bisect, re, subprocess, sys
from collections import Counter

mapfile, prev, out, datas = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
line_re = re.compile(r'^\s*([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+( +)(.*)$')
prefix = re.compile(r'^\.(text|rodata|data\.rel\.ro|data|bss|tdata|tbss)\.((unlikely|hot|startup|exit|split)\.)?')
secs = []  # [start, size, symbol or None]
names = set()
for line in open(mapfile):
    m = line_re.match(line)
    if not m:
        continue
    vma, size, indent, rest = int(m[1], 16), int(m[2], 16), len(m[3]), m[4]
    if indent < 4:  # output section
        continue
    if indent < 12:  # input section: "file:(name)"
        sec = rest[rest.rfind(':(') + 2:-1] if rest.endswith(')') else ''
        x = prefix.sub('', sec) if prefix.match(sec) else ''
        # Rust's sections are named after their mangled symbol (the map shows it demangled).
        sym = x if x.startswith(('_ZN', '_R', 'anon.')) else None
        if size > 0:
            secs.append([vma, size, sym])
        if sym:
            names.add(sym)
    elif secs and secs[-1][2] is None and secs[-1][0] <= vma < secs[-1][0] + secs[-1][1]:
        s = rest.strip()
        if re.fullmatch(r'[A-Za-z_][A-Za-z0-9_.$]*', s):  # C symbols are not mangled
            secs[-1][2] = s
            names.add(s)
secs.sort()
starts = [s[0] for s in secs]
hits = Counter()
for data in datas:
    field = 'ip' if data.endswith('.ins') else 'addr'
    p = subprocess.run(['perf', 'script', '-i', data, '-F', 'comm,' + field],
                       capture_output=True, text=True, check=True)
    for line in p.stdout.splitlines():
        parts = line.split()
        if len(parts) != 2 or not parts[0].startswith('tug'):
            continue
        a = int(parts[1], 16)
        i = bisect.bisect_right(starts, a) - 1
        if i >= 0 and a < secs[i][0] + secs[i][1] and secs[i][2]:
            hits[secs[i][2]] += 1
order = [n for n, _ in sorted(hits.items(), key=lambda t: -t[1])]
seen = set(order)
try:
    for n in open(prev).read().split():
        if n in names and n not in seen:
            order.append(n)
            seen.add(n)
except FileNotFoundError:
    pass
with open(out, 'w') as f:
    f.write(''.join(n + '\n' for n in order))
print('symbol-order.txt: %d symbols hit in this round, %d in all' % (len(hits), len(order)))
PY

for round in $(seq "$rounds"); do
  echo "round $round/$rounds: linking with a map"
  TUG_LINK_MAP=$work/tug.map cargo build --release -p tug -q
  for c in sym sym2; do "$tug" runtime --root "$work/state" delete --force $c >/dev/null 2>&1 || true; done
  sh "$work/cycles.sh" # warm: the sealed copy of this binary is made once
  perf record -q -e page-faults -c 1 -d -o "$work/perf.pf" -- sh "$work/cycles.sh" 2>/dev/null
  perf record -q -e instructions:u -c 97 -o "$work/perf.ins" -- sh "$work/cycles.sh" 2>/dev/null
  python3 "$work/order.py" "$work/tug.map" "$order" "$work/order.txt" "$work/perf.pf" "$work/perf.ins"
  cp "$work/order.txt" "$order"
done
echo "linking with the new order"
cargo build --release -p tug -q
