#!/usr/bin/env bash
# Run one host command inside a small qemu VM booted with a pure cgroup v2 kernel.
#   tests/vm/run.sh [--keep] -- CMD [ARGS...]
# See tests/vm/README.md for the environment variables and the layout inside.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${VM_CACHE:-$repo/.cache/vm}
timeout_s=${VM_TIMEOUT:-300}
base_rev=1 # bump when the base initramfs layout below changes

log() { echo "tug-vm: $*" >&2; }
die() {
	log "error: $*"
	exit 125
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
usage() {
	echo "usage: tests/vm/run.sh [--keep] -- CMD [ARGS...]   (CMD: absolute path of a host executable)" >&2
	exit 2
}

keep=0
while [ $# -gt 0 ]; do
	case $1 in
	--keep) keep=1 ;;
	--) shift && break ;;
	*) usage ;;
	esac
	shift
done
[ $# -ge 1 ] || usage
[[ $1 == /* && -f $1 && -x $1 ]] || die "CMD must be the absolute path of an executable file: $1"
[[ $timeout_s =~ ^[0-9]+$ && $timeout_s -ge 30 ]] || die "VM_TIMEOUT must be a number of seconds >= 30"
t0=$(now)

# ---------------------------------------------------------------- downloads
apt_opts=(-q)
[ "$EUID" -ne 0 ] || apt_opts+=(-o APT::Sandbox::User=root)

mkdir -p "$cache/runs"
exec 9>"$cache/lock"
flock 9 # one fetch/build of the cache at a time

# A fresh machine (e.g. a new Debian container) has no package lists yet: as root, fetch them
# once when something is not known or cannot be downloaded.
updated=0
apt_update() {
	[ "$EUID" -eq 0 ] && [ "$updated" = 0 ] || return 1
	updated=1
	log "apt-get update ..."
	apt-get update -q >"$cache/apt-update.log" 2>&1 ||
		die "apt-get update failed (are Debian's repositories reachable? see $cache/apt-update.log)"
}
# apt_install PKG...: install packages (as root), or fail naming them.
apt_install() {
	[ "$EUID" -eq 0 ] || die "missing packages; as root run: apt-get install $*"
	log "apt-get install $* ..."
	local try
	for try in 1 2; do
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			-o DPkg::Lock::Timeout=300 "$@" >"$cache/apt-install.log" 2>&1 && return 0
		[ "$try" = 1 ] && apt_update || break
	done
	cat "$cache/apt-install.log" >&2
	die "apt-get install $* failed (see $cache/apt-install.log)"
}

# What apt would fetch now: one apt-cache call (~0.7 s) for every package we need.
pkgs=(linux-image-cloud-amd64 qemu-system-x86 seabios ${VM_KERNEL_PKG:-})
apt_info() { apt-cache show --no-all-versions "${pkgs[@]}" 2>/dev/null | grep -E '^(Package|Version|Depends):' || true; }
info=$(apt_info)
for p in "${pkgs[@]}"; do
	if ! grep -qx "Package: $p" <<<"$info"; then
		apt_update && info=$(apt_info)
		break
	fi
done
# field PKG FIELD: a field of PKG's candidate; fails clearly if apt does not know PKG.
field() {
	local v
	v=$(awk -v p="$1" -v f="$2:" '$1 == "Package:" { cur = $2 } cur == p && $1 == f { sub(/^[^ ]+ /, ""); print; exit }' <<<"$info")
	[ -n "$v" ] || die "apt knows no package '$1': cannot fetch it (run apt-get update? are Debian's repositories reachable?)"
	echo "$v"
}
version() { local v; v=$(field "$1" Version) && echo "${v//:/_}"; }

# fetch DEST PKG...: apt-get download PKGs and unpack them into DEST, unless DEST exists.
fetch() {
	local dest=$1 tmp deb
	shift
	[ -d "$dest" ] && return 0
	log "fetching $* ..."
	tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
	if ! (cd "$tmp" && apt-get download "${apt_opts[@]}" "$@") >"$tmp/apt.log" 2>&1 &&
		! { apt_update && (cd "$tmp" && apt-get download "${apt_opts[@]}" "$@") >"$tmp/apt.log" 2>&1; }; then
		cat "$tmp/apt.log" >&2
		rm -rf "$tmp"
		die "could not download $* with apt-get (needs Debian's apt repositories)"
	fi
	for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$tmp/root"; done
	mv "$tmp/root" "$dest"
	rm -rf "$tmp"
}

# The VM's userland (and depmod, cpio below) is the host's static busybox.
bb=/usr/bin/busybox
static_bb() { [ -x $bb ] && ! ldd $bb >/dev/null 2>&1; }
static_bb || apt_install busybox-static
static_bb || die "$bb must be a static busybox (apt-get install busybox-static)"

if [ -n "${VM_KERNEL_PKG:-}" ]; then
	kpkg=$VM_KERNEL_PKG kv=$(version "$VM_KERNEL_PKG")
else # the meta package depends on exactly its own version of the kernel package
	kpkg=$(field linux-image-cloud-amd64 Depends | sed 's/[ ,].*//') kv=$(version linux-image-cloud-amd64)
fi
kver=${kpkg#linux-image-}
kdir=$cache/${kpkg}_$kv
fetch "$kdir" "$kpkg"
kernel=$kdir/boot/vmlinuz-$kver
[ -f "$kernel" ] || die "no $kernel in $kpkg"
[ -f "$kdir/lib/modules/$kver/modules.dep" ] || $bb depmod -b "$kdir" "$kver"

qdir=$cache/qemu_$(version qemu-system-x86)
fetch "$qdir" qemu-system-x86 qemu-system-common qemu-system-data
qemu=$qdir/usr/bin/qemu-system-x86_64
sdir=$cache/seabios_$(version seabios)
fetch "$sdir" seabios

# qemu 7.2 comes from a private folder; install the shared libraries it lacks.
missing=$(ldd "$qemu" | awk '/not found/ { print $1 }' | tr '\n' ' ')
if [ -n "$missing" ]; then
	libs=()
	for p in $(field qemu-system-x86 Depends | tr ',' '\n' | awk '$1 ~ /^lib/ { print $1 }'); do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || libs+=("$p")
	done
	[ "${#libs[@]}" -gt 0 ] || die "qemu lacks $missing, which no lib* dependency of qemu-system-x86 provides"
	log "qemu lacks $missing"
	apt_install "${libs[@]}"
	missing=$(ldd "$qemu" | awk '/not found/ { print $1 }' | tr '\n' ' ')
	[ -z "$missing" ] || die "qemu still lacks shared libraries: $missing"
fi

# ---------------------------------------------------------------- initramfs
# A newc archive of a staged tree (names relative, owned by root).
cpio_of() { (cd "$1" && find . -mindepth 1 | sed 's|^\./||' | $bb cpio -o -H newc -R 0:0 2>/dev/null); }


# Base part (busybox + applets + /init + /etc), cached by content.
base=$cache/base-$( (echo "$base_rev"; cat "$here/init" $bb) | sha256sum | cut -c1-16).cpio
if [ ! -f "$base" ]; then
	rm -f "$cache"/base-*.cpio # older layouts
	st=$(mktemp -d "$cache/.base.XXXXXX")
	mkdir -p "$st"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,run,tmp,root,newroot,harness}
	chmod 1777 "$st/tmp" && chmod 0700 "$st/root"
	install -m 0755 "$here/init" "$st/init"
	cp $bb "$st$bb"
	for a in $($bb --list); do ln -s $bb "$st/bin/$a"; done
	printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$st/etc/passwd"
	printf '%s\n' 'root:x:0:' 'tty:x:5:' 'nogroup:x:65534:' >"$st/etc/group"
	printf '%s\n' '127.0.0.1 localhost tug-vm' '::1 localhost' >"$st/etc/hosts"
	[ "$EUID" -ne 0 ] || mknod "$st/dev/console" c 5 1
	cpio_of "$st" >"$base.tmp" && mv "$base.tmp" "$base"
	rm -rf "$st"
fi
flock -u 9

# Per-run part: CMD, TUG_BIN, VM_EXTRA_PATHS, the libraries they need, modules, config.
find "$cache/runs" -mindepth 1 -maxdepth 1 -mmin +1440 -exec rm -rf {} + # stale --keep runs
run=$(mktemp -d "$cache/runs/run.XXXXXX")
st=$run/root
mkdir -p "$st/harness"
qpid=
cleanup() {
	[ -z "$qpid" ] || kill "$qpid" 2>/dev/null || true # timeout(1) passes it on to qemu
	wait 2>/dev/null || true                            # for qemu and the console reader
	if [ "$keep" = 1 ]; then log "kept $run"; else rm -rf "$run"; fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

declare -A staged=()
# add_file PATH: copy PATH (dereferenced) to the same path in the VM, plus its ldd libraries.
add_file() {
	local p=$1 out lib
	[ -z "${staged[$p]:-}" ] || return 0
	staged[$p]=1
	mkdir -p "$st$(dirname "$p")"
	cp -L --preserve=mode,timestamps "$p" "$st$p"
	out=$(ldd "$p" 2>&1) || return 0 # static, or not an ELF executable
	! grep -q 'not found' <<<"$out" || die "$p needs libraries missing on the host: $(grep 'not found' <<<"$out" | tr -s ' \t\n' ' ')"
	for lib in $(awk '/=> \// { print $3 } $1 ~ /^\// { print $1 }' <<<"$out"); do add_file "$lib"; done
}
add_file "$1"
if [ -n "${TUG_BIN:-}" ]; then
	[[ $TUG_BIN == /* && -x $TUG_BIN ]] || die "TUG_BIN must be the absolute path of an executable: $TUG_BIN"
	add_file "$TUG_BIN"
fi
IFS=: read -ra extras <<<"${VM_EXTRA_PATHS:-}"
for p in "${extras[@]}"; do
	[ -n "$p" ] || continue
	[[ $p == /* && -e $p ]] || die "VM_EXTRA_PATHS entry must be an existing absolute path: $p"
	if [ -d "$p" ]; then (cd / && cp -a --parents "${p#/}" "$st"); else add_file "$p"; fi
done

modules=()
for m in ${VM_MODULES:-}; do
	md=$kdir/lib/modules/$kver
	if grep -q "/${m//[-_]/[-_]}\.ko\$" "$md/modules.builtin"; then continue; fi
	line=$(grep -m1 "/${m//[-_]/[-_]}\.ko:" "$md/modules.dep") || die "kernel $kver has no module '$m'"
	for ko in ${line/:/}; do
		mkdir -p "$st/lib/modules/$kver/$(dirname "$ko")"
		cp "$md/$ko" "$st/lib/modules/$kver/$ko"
	done
	cp "$md/modules.dep" "$st/lib/modules/$kver/"
	modules+=("$m")
done

q() { printf "'%s'" "${1//\'/\'\\\'\'}"; } # single-quote for sh
inner=$((timeout_s - 20)) # the in-VM timeout leaves time to boot and report
echo "VM_MODULES=$(q "${modules[*]}")" >"$st/harness/vm.conf"
{
	[ -z "${VM_CWD:-}" ] || echo "cd $(q "$VM_CWD") || exit 126"
	read -ra envs <<<"${VM_ENV:-}"
	for kv in "${envs[@]}"; do
		[[ $kv == [A-Za-z_]*=* ]] || die "VM_ENV entries must be NAME=VALUE: $kv"
		echo "export $(q "$kv")"
	done
	printf 'exec timeout %s' "$inner"
	for a in "$@"; do printf ' %s' "$(q "$a")"; done
	echo
} >"$st/harness/cmd.sh"
{ cat "$base" && cpio_of "$st"; } >"$run/initrd.cpio"

# ---------------------------------------------------------------- boot
log "prepared in $(since "$t0") s (initramfs $(($(stat -c %s "$run/initrd.cpio") / 1048576)) MiB, kernel $kver); booting ..."
t1=$(now)
mkfifo "$run/console.fifo"
timeout -k 10 "$timeout_s" "$qemu" -L "$sdir/usr/share/seabios" -L "$qdir/usr/share/qemu" \
	-M pc -cpu max -smp "${VM_SMP:-2}" -m "${VM_MEM:-2G}" -nic none -vga none -nographic -no-reboot \
	-kernel "$kernel" -initrd "$run/initrd.cpio" \
	-append "console=ttyS0 cgroup_no_v1=all quiet panic=-1 ${VM_APPEND:-}" \
	</dev/null >"$run/console.fifo" 2>&1 &
qpid=$!
# Console: keep a clean copy, show it live; drop CRs and the firmware's escape sequences.
# (in the background so that a signal to this script is handled at once)
sed -u 's/\r//g; s/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g' <"$run/console.fifo" |
	tee "$run/console.log" | awk '{ print "vm| " $0; fflush() }' &
wait $!
rc=0
wait "$qpid" || rc=$?
qpid=

# ---------------------------------------------------------------- report
# A kernel message (e.g. the OOM killer's) can land between "test NAME ... " and its result,
# which then starts the next line: drop such messages and remember the pending name.
awk '
	function result(res, name) { n[res]++; printf "tug-vm:   %-8s %s\n", res, name; pending = "" }
	{ sub(/ *\[ *[0-9]+\.[0-9]+\] .*$/, "") }
	match($0, /^test .+ \.\.\. (ok|FAILED|ignored)/) {
		s = $0; sub(/^test /, "", s); name = s; sub(/ \.\.\. .*/, "", name)
		res = s; sub(/^.* \.\.\. /, "", res); sub(/[ ,].*/, "", res)
		result(res, name); next
	}
	/^test .+ \.\.\.$/ { pending = $0; sub(/^test /, "", pending); sub(/ \.\.\.$/, "", pending); next }
	pending != "" && match($0, /^(ok|FAILED|ignored)/) { res = $0; sub(/[ ,].*/, "", res); result(res, pending) }
	END { if (NR && (n["ok"] + n["FAILED"] + n["ignored"]))
		printf "tug-vm: tests: %d passed, %d failed, %d ignored\n", n["ok"], n["FAILED"], n["ignored"] }
' "$run/console.log" >&2
code=$(sed -n 's/.*TUG-VM-EXIT \([0-9][0-9]*\)$/\1/p' "$run/console.log" | tail -n1)
if [ -z "$code" ]; then
	grep -h 'TUG-VM-INIT-ERROR' "$run/console.log" >&2 || true
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		log "FAILED: the VM timed out after ${timeout_s} s (VM_TIMEOUT) without finishing"
		exit 124
	fi
	log "FAILED: the VM stopped without the TUG-VM-EXIT marker (kernel panic, init error or qemu failure; qemu status $rc, console above)"
	exit 125
fi
[ "$code" != 143 ] || log "exit code 143: the command was killed by the in-VM timeout (${inner} s)?"
log "command exited with $code (vm $(since "$t1") s, total $(since "$t0") s)"
exit "$code"
