#!/usr/bin/env bash
# tug's daemon side by side with Debian's docker.io (dockerd 20.10 + the containerd it starts),
# each on its own socket, data root and exec root under one temp dir, the same busybox image
# imported into both. hyperfine times `run --rm img true` (the docker CLI against each daemon,
# and the tug CLI against tug's), `create`, `start`, `ps -a` and 20 containers started in a loop;
# then the RSS of each idle daemon (its whole process tree) and of each running container's
# monitor (containerd-shim-runc-v2 vs tug shim), from /proc/PID/status. Prints medians and
# ratios against the goals. Containers run with --network none on both sides (neither daemon
# gets a bridge or firewall rules), so the host's networking is left alone.
# Usage: bench/engine.sh [RUNS]   (as root)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
scripts/deps.sh docker.io hyperfine busybox-static python3
cargo build --release -p tug -q
tug=$PWD/target/x86_64-unknown-linux-gnu/release/tug
work=$(mktemp -d /tmp/tug-bench-engine.XXXXXX)
tugd= dockerd=
D="docker -H unix://$work/docker.sock"
DT="docker -H unix://$work/tug.sock"
T="$tug -H unix://$work/tug.sock"
rm_all() { # CLI → remove every container of that daemon
  local ids; ids=$($1 ps -aq 2>/dev/null) || return 0
  [ -z "$ids" ] || $1 rm -f $ids >/dev/null 2>&1 || true
}
cleanup() {
  set +e
  if [ -n "$tugd" ]; then rm_all "$DT"; kill "$tugd" 2>/dev/null; wait "$tugd" 2>/dev/null; fi
  if [ -n "$dockerd" ]; then rm_all "$D"; kill "$dockerd" 2>/dev/null; wait "$dockerd" 2>/dev/null; fi
  # Shims or a containerd that outlived their daemon (only ours: they name our directory).
  for p in $(grep -l "$work" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
    [ "$p" != $$ ] && kill -9 "$p" 2>/dev/null
  done
  grep " $work" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
  for cg in tug-bench docker-bench; do
    find /sys/fs/cgroup -mindepth 1 -maxdepth 6 -type d -name "$cg" 2>/dev/null | while read -r d; do
      find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
  done
  rm -rf "$work"
}
trap cleanup EXIT

# The image: busybox with every applet.
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp"
cp /bin/busybox "$work/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$work/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$work/rootfs/etc/passwd"
tar -C "$work/rootfs" -cf "$work/busybox.tar" .

# tug's daemon: no default bridge.
TUG_BRIDGE=none "$tug" daemon --data-root "$work/tug" --exec-root "$work/tug-exec" \
  -H "unix://$work/tug.sock" --cgroup-parent tug-bench >"$work/tug.log" 2>&1 &
tugd=$!
# A private dockerd, which starts its own containerd under its exec root; an empty config file
# so that nothing of /etc/docker applies; no bridge, no iptables.
echo '{}' > "$work/daemon.json"
dockerd --config-file "$work/daemon.json" --data-root "$work/docker" --exec-root "$work/docker-exec" \
  -H "unix://$work/docker.sock" --pidfile "$work/docker.pid" --bridge=none --iptables=false \
  --ip6tables=false --ip-masq=false --storage-driver overlay2 --cgroup-parent /docker-bench \
  >"$work/docker.log" 2>&1 &
dockerd=$!
for i in $(seq 200); do
  $DT version >/dev/null 2>&1 && $D version >/dev/null 2>&1 && break
  sleep 0.1
done
$DT version >/dev/null || { cat "$work/tug.log"; exit 1; }
$D version >/dev/null || { cat "$work/docker.log"; exit 1; }
$T import "$work/busybox.tar" busybox:latest >/dev/null
$D import "$work/busybox.tar" busybox:latest >/dev/null

# RSS in KB of a process and all its descendants.
tree_rss() {
  python3 - "$1" <<'PY'
import os, sys
kids = {}
for p in os.listdir("/proc"):
    if p.isdigit():
        try:
            st = open(f"/proc/{p}/stat").read()
            ppid = int(st[st.rindex(")") + 2:].split()[1])
            kids.setdefault(ppid, []).append(int(p))
        except OSError:
            pass
def rss(pid):
    try:
        for l in open(f"/proc/{pid}/status"):
            if l.startswith("VmRSS:"):
                return int(l.split()[1])
    except OSError:
        pass
    return 0
todo, total = [int(sys.argv[1])], 0
while todo:
    p = todo.pop()
    total += rss(p)
    todo += kids.get(p, [])
print(total)
PY
}
rss_of() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# Idle daemons (after a few requests, nothing running).
for i in 1 2 3; do $D ps >/dev/null; $DT ps >/dev/null; done
sleep 2
idle_docker=$(tree_rss "$dockerd") idle_dockerd=$(rss_of "$dockerd") idle_tug=$(tree_rss "$tugd")

# Timings.
N="--network none"
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/run.json" \
  -n docker "$D run --rm $N busybox true" \
  -n tug-via-docker-cli "$DT run --rm $N busybox true" \
  -n tug "$T run --rm $N busybox true" >/dev/null
hyperfine -N --warmup 2 --runs "$runs" --export-json "$work/create.json" \
  -n docker "$D create $N busybox true" \
  -n tug-via-docker-cli "$DT create $N busybox true" \
  -n tug "$T create $N busybox true" >/dev/null
# ps -a lists the containers the create runs left (one per run on each CLI).
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/ps.json" \
  -n docker "$D ps -a" -n tug-via-docker-cli "$DT ps -a" -n tug "$T ps -a" >/dev/null
rm_all "$D"; rm_all "$DT"
hyperfine -N --warmup 2 --runs "$runs" --export-json "$work/start.json" \
  --prepare "sh -c '$D rm -f bench-s >/dev/null 2>&1; $DT rm -f bench-s >/dev/null 2>&1; $D create --name bench-s $N busybox true >/dev/null; $DT create --name bench-s $N busybox true >/dev/null'" \
  -n docker "$D start bench-s" -n tug-via-docker-cli "$DT start bench-s" -n tug "$T start bench-s" >/dev/null
rm_all "$D"; rm_all "$DT"
loop() { echo "sh -c 'for i in \$(seq 20); do $1 run -d $N busybox sleep 600 >/dev/null; done'"; }
hyperfine -N --runs "$(( runs < 5 ? runs : 5 ))" --export-json "$work/loop20.json" \
  --prepare "sh -c 'ids=\$($D ps -aq); [ -z \"\$ids\" ] || $D rm -f \$ids >/dev/null; ids=\$($DT ps -aq); [ -z \"\$ids\" ] || $DT rm -f \$ids >/dev/null'" \
  -n docker "$(loop "$D")" -n tug-via-docker-cli "$(loop "$DT")" -n tug "$(loop "$T")" >/dev/null

# Per running container: the monitor process (the parent of the container's first process),
# with 20 containers of each daemon running.
rm_all "$D"; rm_all "$DT"
for i in $(seq 20); do
  $D run -d $N busybox sleep 600 >/dev/null
  $T run -d $N busybox sleep 600 >/dev/null
done
sleep 2
shims() { # CLI → one RSS (KB) per running container's monitor
  for id in $($1 ps -q); do
    local pid ppid
    pid=$($1 inspect -f '{{.State.Pid}}' "$id")
    ppid=$(awk '{print $4}' "/proc/$pid/stat")
    rss_of "$ppid"
  done
}
shim_docker0=$(shims "$D" | tr '\n' ' ') shim_tug0=$(shims "$DT" | tr '\n' ' ')
# Steady state: tug's shim gives back its clean code pages after 5 s without activity.
sleep 7
shim_docker=$(shims "$D" | tr '\n' ' ') shim_tug=$(shims "$DT" | tr '\n' ' ')
shim_docker_name=$(cat /proc/"$(awk '{print $4}' /proc/"$($D inspect -f '{{.State.Pid}}' "$($D ps -q | head -1)")"/stat)"/comm)
shim_tug_cmd=$(tr '\0' ' ' </proc/"$(awk '{print $4}' /proc/"$($DT inspect -f '{{.State.Pid}}' "$($DT ps -q | head -1)")"/stat)"/cmdline | cut -c1-60)
busy_docker=$(tree_rss "$dockerd") busy_tug=$(tree_rss "$tugd")

python3 - "$work" "$idle_docker" "$idle_dockerd" "$idle_tug" "$shim_docker" "$shim_tug" \
  "$busy_docker" "$busy_tug" "$shim_docker_name" "$shim_tug_cmd" "$shim_docker0" "$shim_tug0" <<'PY'
import json, statistics, sys
w, idle_d, idle_dd, idle_t, shim_d, shim_t, busy_d, busy_t, dname, tcmd, shim_d0, shim_t0 = sys.argv[1:]
print("median times (ms); tug = tug CLI, tug-via-docker-cli = docker CLI against tug's daemon")
meds = {}
for name, label in [("run", "run --rm true"), ("create", "create"), ("start", "start"),
                    ("ps", "ps -a"), ("loop20", "20 x run -d")]:
    r = {x["command"]: x["median"] * 1000 for x in json.load(open(f"{w}/{name}.json"))["results"]}
    meds[name] = r
    cells = "  ".join(f"{k} {v:8.1f}" for k, v in r.items())
    print(f"  {label:14} {cells}   tug/docker {r['tug'] / r['docker']:.2f}"
          f"  (docker CLI {r['tug-via-docker-cli'] / r['docker']:.2f})")
mb = lambda kb: int(kb) / 1024
sd = [int(x) for x in shim_d.split()]
st = [int(x) for x in shim_t.split()]
print("RSS (MB)")
print(f"  idle daemon    docker {mb(idle_d):6.1f} (dockerd {mb(idle_dd):.1f} + containerd)  tug {mb(idle_t):6.1f}"
      f"   tug/docker {int(idle_t) / int(idle_d):.2f}")
print(f"  with 20 running docker {mb(busy_d):6.1f}  tug {mb(busy_t):6.1f} (daemon trees, shims not included)")
med0 = lambda v: mb(statistics.median([int(x) for x in v.split()]))
print(f"  per container  docker {mb(statistics.median(sd)):6.2f} ({dname}, n={len(sd)})"
      f"  tug {mb(statistics.median(st)):6.2f} ({tcmd.strip()}…, n={len(st)}), idle 9 s")
print(f"                 docker {med0(shim_d0):6.2f}  tug {med0(shim_t0):6.2f}  2 s after the start")
run = meds["run"]["tug"]
print("goals")
print(f"  tug run --rm <= 1/5 of docker's: {run:.1f} vs {meds['run']['docker']:.1f} ms  ->"
      f" {'met' if run * 5 <= meds['run']['docker'] else 'NOT met'}")
print(f"  idle daemon <= 15 MB: {mb(idle_t):.1f} MB -> {'met' if mb(idle_t) <= 15 else 'NOT met'}")
print(f"  shim <= 1.5 MB: {mb(statistics.median(st)):.2f} MB -> "
      f"{'met' if mb(statistics.median(st)) <= 1.5 else 'NOT met'}")
PY
