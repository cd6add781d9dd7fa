//! Seccomp: Docker's profile format (with `archMap`, `includes`/`excludes` on capabilities,
//! architectures and kernel versions) resolved into an OCI `LinuxSeccomp` for one container,
//! and tug's own default profile.
//!
//! tug's default profile is an allowlist written from the syscall table: everything a normal
//! program needs is allowed; the default action is `ERRNO(EPERM)`. Syscalls that act on the
//! whole machine (modules, kexec, reboot, clock, swap, accounting, mounting, namespaces,
//! tracing other processes, BPF and perf, the kernel keyring, raw I/O ports) are only allowed
//! when the container holds the capability the kernel itself would check, as Docker does.
//! Deliberate choices:
//! - `clone` is allowed only without namespace flags (an argument mask) unless the container
//!   has `CAP_SYS_ADMIN`; `clone3` answers `ENOSYS` instead, so libc falls back to `clone`
//!   (a filter cannot look inside clone3's argument struct).
//! - `personality` is allowed only for the harmless personas (Linux, 32-bit Linux, UNAME26
//!   and the query value).
//! - `ptrace`, `process_vm_*`, `kcmp`, `pidfd_getfd` and `userfaultfd` need `CAP_SYS_PTRACE`.
//! - the kernel keyring (`keyctl`, `add_key`, `request_key`) and `io_uring` are never
//!   allowed: neither is confined by namespaces.

use super::SpecError;
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall,
};
use serde::Deserialize;
use std::path::PathBuf;

/// A profile in Docker's JSON format (what `--security-opt seccomp=file.json` holds).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Profile {
    pub default_action: LinuxSeccompAction,
    pub default_errno_ret: Option<u32>,
    pub architectures: Option<Vec<Arch>>,
    pub arch_map: Option<Vec<ArchMap>>,
    pub syscalls: Option<Vec<Rule>>,
    pub flags: Option<Vec<LinuxSeccompFilterFlag>>,
    pub listener_path: Option<PathBuf>,
    pub listener_metadata: Option<String>,
}

/// An entry of `archMap`: a native architecture and the ones it can also run.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    pub architecture: Arch,
    #[serde(default)]
    pub sub_architectures: Vec<Arch>,
}

/// One syscall rule of a Docker profile.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Rule {
    /// The old single-name form.
    pub name: String,
    pub names: Vec<String>,
    pub action: LinuxSeccompAction,
    pub errno_ret: Option<u32>,
    pub args: Option<Vec<LinuxSeccompArg>>,
    pub comment: String,
    pub includes: Filter,
    pub excludes: Filter,
}

/// When a rule applies: all `caps` held, one of `arches`, kernel at least `minKernel`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Filter {
    pub caps: Vec<String>,
    pub arches: Vec<String>,
    pub min_kernel: Option<String>,
}

/// The architecture as Docker's `includes.arches` names it (Go's names).
pub fn go_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" | "i386" | "i686" => "386",
        "powerpc64" => "ppc64",
        "powerpc64le" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// The seccomp architectures a process of `arch` can use (native first).
pub fn seccomp_arches(arch: &str) -> Vec<Arch> {
    match go_arch(arch) {
        "amd64" => vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32],
        "386" => vec![Arch::ScmpArchX86],
        "arm64" => vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm],
        "arm" => vec![Arch::ScmpArchArm],
        "ppc64le" => vec![Arch::ScmpArchPpc64le],
        "ppc64" => vec![Arch::ScmpArchPpc64],
        "s390x" => vec![Arch::ScmpArchS390x, Arch::ScmpArchS390],
        "riscv64" => vec![Arch::ScmpArchRiscv64],
        "loong64" => vec![Arch::ScmpArchLoongarch64],
        "mips64" => vec![
            Arch::ScmpArchMips64,
            Arch::ScmpArchMips64n32,
            Arch::ScmpArchMips,
        ],
        "mips64le" => vec![
            Arch::ScmpArchMipsel64,
            Arch::ScmpArchMipsel64n32,
            Arch::ScmpArchMipsel,
        ],
        _ => vec![],
    }
}

/// What a rule is resolved against.
pub struct Target<'a> {
    /// The container's final capabilities, `CAP_…` names.
    pub caps: &'a [String],
    /// The host architecture (Rust or Go name).
    pub arch: &'a str,
    /// The host kernel (major, minor).
    pub kernel: (u32, u32),
}

fn cap_name(c: &str) -> String {
    let up = c.to_ascii_uppercase();
    if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

fn min_kernel(s: &str, source: &str) -> Result<(u32, u32), SpecError> {
    super::host::parse_kernel(s).ok_or_else(|| SpecError::SeccompProfile {
        source_name: source.to_string(),
        reason: format!("invalid minKernel {s:?}"),
    })
}

fn arch_in(list: &[String], arch: &str) -> bool {
    list.iter()
        .any(|a| go_arch(a) == go_arch(arch) || (a == "x86" && go_arch(arch) == "386"))
}

/// Whether a rule's includes/excludes let it apply to `t`.
fn applies(rule: &Rule, t: &Target, source: &str) -> Result<bool, SpecError> {
    let holds = |c: &String| t.caps.contains(&cap_name(c));
    let ex = &rule.excludes;
    if !ex.arches.is_empty() && arch_in(&ex.arches, t.arch) {
        return Ok(false);
    }
    if ex.caps.iter().any(holds) {
        return Ok(false);
    }
    if let Some(k) = &ex.min_kernel {
        if t.kernel >= min_kernel(k, source)? {
            return Ok(false);
        }
    }
    let inc = &rule.includes;
    if !inc.arches.is_empty() && !arch_in(&inc.arches, t.arch) {
        return Ok(false);
    }
    if !inc.caps.iter().all(holds) {
        return Ok(false);
    }
    if let Some(k) = &inc.min_kernel {
        if t.kernel < min_kernel(k, source)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Resolve a Docker-format profile for one container. `source` names the profile in errors.
pub fn resolve(profile: &Profile, t: &Target, source: &str) -> Result<LinuxSeccomp, SpecError> {
    let bad = |reason: &str| SpecError::SeccompProfile {
        source_name: source.to_string(),
        reason: reason.to_string(),
    };
    let arches = match (&profile.architectures, &profile.arch_map) {
        (Some(a), Some(m)) if !a.is_empty() && !m.is_empty() => {
            return Err(bad(
                "both 'architectures' and 'archMap' are specified, use either one",
            ))
        }
        (_, Some(map)) if !map.is_empty() => {
            let native = seccomp_arches(t.arch).first().copied();
            map.iter()
                .filter(|m| Some(m.architecture) == native)
                .flat_map(|m| std::iter::once(m.architecture).chain(m.sub_architectures.clone()))
                .collect()
        }
        (Some(a), _) => a.clone(),
        _ => Vec::new(),
    };
    let mut syscalls = Vec::new();
    for rule in profile.syscalls.iter().flatten() {
        if !rule.name.is_empty() && !rule.names.is_empty() {
            return Err(bad("a syscall rule has both 'name' and 'names', use one"));
        }
        if !applies(rule, t, source)? {
            continue;
        }
        let names = if rule.names.is_empty() {
            vec![rule.name.clone()]
        } else {
            rule.names.clone()
        };
        let mut s = LinuxSyscall::default();
        s.set_names(names);
        s.set_action(rule.action);
        s.set_errno_ret(rule.errno_ret);
        s.set_args(rule.args.clone().filter(|a| !a.is_empty()));
        syscalls.push(s);
    }
    let mut out = LinuxSeccomp::default();
    out.set_default_action(profile.default_action);
    out.set_default_errno_ret(profile.default_errno_ret);
    out.set_architectures(Some(arches).filter(|a| !a.is_empty()));
    out.set_flags(profile.flags.clone().filter(|f| !f.is_empty()));
    out.set_listener_path(profile.listener_path.clone());
    out.set_listener_metadata(profile.listener_metadata.clone());
    out.set_syscalls(Some(syscalls));
    Ok(out)
}

/// Parse a profile from its JSON text.
pub fn parse(json: &str, source: &str) -> Result<Profile, SpecError> {
    serde_json::from_str(json).map_err(|e| SpecError::SeccompProfile {
        source_name: source.to_string(),
        reason: format!("decode: {e}"),
    })
}

/// Syscalls any container may make: everything ordinary programs do with files, memory,
/// processes, signals, time, sockets, IPC and scheduling. Names that do not exist on an
/// architecture (the 32-bit variants on 64-bit hosts) are skipped by the runtime.
const ALLOWED: &[&str] = &[
    // files and directories
    "access",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "close",
    "close_range",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futimesat",
    "getcwd",
    "getdents",
    "getdents64",
    "getxattr",
    "getxattrat",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listxattr",
    "listxattrat",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "newfstatat",
    "oldfstat",
    "oldlstat",
    "oldstat",
    "open",
    "openat",
    "openat2",
    "pipe",
    "pipe2",
    "pread64",
    "preadv",
    "preadv2",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readdir",
    "readlink",
    "readlinkat",
    "readv",
    "removexattr",
    "removexattrat",
    "rename",
    "renameat",
    "renameat2",
    "rmdir",
    "sendfile",
    "sendfile64",
    "setxattr",
    "setxattrat",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "tee",
    "truncate",
    "truncate64",
    "umask",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vmsplice",
    "write",
    "writev",
    "cachestat",
    "statmount",
    "listmount",
    // asynchronous I/O
    "io_cancel",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "io_setup",
    "io_submit",
    "ioprio_get",
    "ioprio_set",
    // polling and events
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "poll",
    "ppoll",
    "ppoll_time64",
    "pselect6",
    "pselect6_time64",
    "select",
    "_newselect",
    "signalfd",
    "signalfd4",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    // memory
    "brk",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mremap",
    "mseal",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "remap_file_pages",
    // processes, threads, credentials
    "arch_prctl",
    "capget",
    "capset",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "fork",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "get_robust_list",
    "get_thread_area",
    "getcpu",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "getrusage",
    "getsid",
    "gettid",
    "getuid",
    "getuid32",
    "ioctl",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lsm_get_self_attr",
    "lsm_list_modules",
    "lsm_set_self_attr",
    "modify_ldt",
    "nice",
    "pidfd_open",
    "pidfd_send_signal",
    "prctl",
    "prlimit64",
    "process_mrelease",
    "rseq",
    "seccomp",
    "set_robust_list",
    "set_thread_area",
    "set_tid_address",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "setsid",
    "setuid",
    "setuid32",
    "tgkill",
    "tkill",
    "ugetrlimit",
    "uname",
    "olduname",
    "uretprobe",
    "vfork",
    "wait4",
    "waitid",
    "waitpid",
    // signals
    "pause",
    "restart_syscall",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sigaction",
    "sigaltstack",
    "signal",
    "sigpending",
    "sigprocmask",
    "sigreturn",
    "sigsuspend",
    // time (reading it; setting it needs CAP_SYS_TIME, which the kernel checks for adjtimex)
    "adjtimex",
    "alarm",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "getitimer",
    "gettimeofday",
    "nanosleep",
    "setitimer",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "times",
    // sockets
    "accept",
    "accept4",
    "bind",
    "connect",
    "getpeername",
    "getsockname",
    "getsockopt",
    "listen",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "send",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setsockopt",
    "shutdown",
    "socket",
    "socketcall",
    "socketpair",
    // System V and POSIX IPC (namespaced)
    "ipc",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    // scheduling and system information
    "getrandom",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "sysinfo",
];

/// Syscalls that exist only on some architectures, with the Go names of those.
const ARCH_ONLY: &[(&[&str], &[&str])] = &[
    (
        &["arm", "arm64"],
        &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "breakpoint",
            "cacheflush",
            "set_tls",
            "sync_file_range2",
        ],
    ),
    (&["ppc64le", "ppc64"], &["sync_file_range2", "swapcontext"]),
    (
        &["s390", "s390x"],
        &[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ],
    ),
    (&["riscv64"], &["riscv_flush_icache", "riscv_hwprobe"]),
];

/// Syscalls allowed only with a capability, the same one the kernel checks.
const CAP_GATED: &[(&str, &[&str])] = &[
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "name_to_handle_at",
            "open_tree",
            "open_tree_attr",
            "perf_event_open",
            "pivot_root",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "swapoff",
            "swapon",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["kexec_file_load", "kexec_load", "reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    (
        "CAP_SYS_MODULE",
        &["delete_module", "finit_module", "init_module"],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
            "userfaultfd",
        ],
    ),
    ("CAP_SYS_RAWIO", &["ioperm", "iopl"]),
    (
        "CAP_SYS_TIME",
        &["clock_settime", "clock_settime64", "settimeofday", "stime"],
    ),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        "CAP_SYS_NICE",
        &[
            "get_mempolicy",
            "mbind",
            "migrate_pages",
            "move_pages",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
];

/// `personality` values that change nothing dangerous: PER_LINUX, PER_LINUX32, UNAME26,
/// PER_LINUX32|UNAME26, and 0xffffffff (query the current persona).
const SAFE_PERSONAS: &[u64] = &[0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// The clone flags that create namespaces: NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER,
/// NEWPID, NEWNET.
pub const CLONE_NAMESPACE_FLAGS: u64 =
    0x0002_0000 | 0x0200_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000 | 0x2000_0000 | 0x4000_0000;

const ENOSYS: u32 = 38;
const EPERM: u32 = 1;

fn rule(names: &[&str], action: LinuxSeccompAction) -> Rule {
    Rule {
        names: names.iter().map(|s| s.to_string()).collect(),
        action,
        ..Default::default()
    }
}

fn arg(index: usize, value: u64, value_two: u64, op: LinuxSeccompOperator) -> LinuxSeccompArg {
    let b = LinuxSeccompArgBuilder::default()
        .index(index)
        .value(value)
        .op(op);
    let b = if op == LinuxSeccompOperator::ScmpCmpMaskedEq {
        b.value_two(value_two)
    } else {
        b
    };
    // Every field is set, so building cannot fail.
    b.build().unwrap_or_default()
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// tug's default profile in Docker's format (before resolution).
pub fn default_docker_profile() -> Profile {
    use LinuxSeccompAction::{ScmpActAllow as Allow, ScmpActErrno as Errno};
    let mut rules = vec![rule(ALLOWED, Allow)];
    for value in SAFE_PERSONAS {
        let mut r = rule(&["personality"], Allow);
        r.args = Some(vec![arg(0, *value, 0, LinuxSeccompOperator::ScmpCmpEq)]);
        rules.push(r);
    }
    for (arches, names) in ARCH_ONLY {
        let mut r = rule(names, Allow);
        r.includes.arches = strs(arches);
        rules.push(r);
    }
    // clone without namespace flags; the flags are argument 1 on s390.
    for (index, arches_in, arches_out) in [
        (0, vec![], strs(&["s390", "s390x"])),
        (1, strs(&["s390", "s390x"]), vec![]),
    ] {
        let mut r = rule(&["clone"], Allow);
        r.args = Some(vec![arg(
            index,
            CLONE_NAMESPACE_FLAGS,
            0,
            LinuxSeccompOperator::ScmpCmpMaskedEq,
        )]);
        r.excludes.caps = strs(&["CAP_SYS_ADMIN"]);
        r.includes.arches = arches_in;
        r.excludes.arches = arches_out;
        rules.push(r);
    }
    let mut r = rule(&["clone3"], Errno);
    r.errno_ret = Some(ENOSYS);
    r.excludes.caps = strs(&["CAP_SYS_ADMIN"]);
    rules.push(r);
    for (cap, names) in CAP_GATED {
        let mut r = rule(names, Allow);
        r.includes.caps = vec![cap.to_string()];
        rules.push(r);
    }
    Profile {
        default_action: Errno,
        default_errno_ret: Some(EPERM),
        arch_map: Some(
            [
                Arch::ScmpArchX86_64,
                Arch::ScmpArchAarch64,
                Arch::ScmpArchS390x,
                Arch::ScmpArchMips64,
                Arch::ScmpArchMipsel64,
            ]
            .into_iter()
            .map(|a| {
                let all = seccomp_arches(arch_go_name(a));
                ArchMap {
                    architecture: a,
                    sub_architectures: all.into_iter().skip(1).collect(),
                }
            })
            .collect(),
        ),
        syscalls: Some(rules),
        ..Default::default()
    }
}

fn arch_go_name(a: Arch) -> &'static str {
    match a {
        Arch::ScmpArchX86_64 => "amd64",
        Arch::ScmpArchAarch64 => "arm64",
        Arch::ScmpArchS390x => "s390x",
        Arch::ScmpArchMips64 => "mips64",
        Arch::ScmpArchMipsel64 => "mips64le",
        _ => "",
    }
}

/// tug's default seccomp profile for a container holding `caps` (`CAP_…` names) on `arch`
/// (`x86_64`, `aarch64`, or Go's names).
pub fn default_profile(caps: &[String], arch: &str) -> LinuxSeccomp {
    let t = Target {
        caps,
        arch,
        kernel: (u32::MAX, u32::MAX),
    };
    // The built-in profile has no malformed parts (a unit test resolves it), so this cannot fail.
    resolve(&default_docker_profile(), &t, "builtin").unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod eval {
    //! A small evaluator of resolved profiles, enough to test what they allow.
    use super::*;

    /// The action (and errno) a profile gives a call of `name` with `args`.
    pub fn action(p: &LinuxSeccomp, name: &str, args: &[u64]) -> (LinuxSeccompAction, Option<u32>) {
        let matches = |s: &LinuxSyscall| {
            s.names().iter().any(|n| n == name)
                && s.args().iter().flatten().all(|a| {
                    let v = args.get(a.index()).copied().unwrap_or(0);
                    match a.op() {
                        LinuxSeccompOperator::ScmpCmpEq => v == a.value(),
                        LinuxSeccompOperator::ScmpCmpNe => v != a.value(),
                        LinuxSeccompOperator::ScmpCmpMaskedEq => {
                            v & a.value() == a.value_two().unwrap_or(0)
                        }
                        LinuxSeccompOperator::ScmpCmpLt => v < a.value(),
                        LinuxSeccompOperator::ScmpCmpLe => v <= a.value(),
                        LinuxSeccompOperator::ScmpCmpGt => v > a.value(),
                        LinuxSeccompOperator::ScmpCmpGe => v >= a.value(),
                    }
                })
        };
        let hits: Vec<&LinuxSyscall> = p
            .syscalls()
            .iter()
            .flatten()
            .filter(|s| matches(s))
            .collect();
        if let Some(allow) = hits
            .iter()
            .find(|s| s.action() == LinuxSeccompAction::ScmpActAllow)
        {
            return (allow.action(), None);
        }
        match hits.first() {
            Some(s) => (s.action(), s.errno_ret()),
            None => (p.default_action(), p.default_errno_ret()),
        }
    }

    pub fn allowed(p: &LinuxSeccomp, name: &str, args: &[u64]) -> bool {
        action(p, name, args).0 == LinuxSeccompAction::ScmpActAllow
    }
}

#[cfg(test)]
mod tests {
    use super::eval::{action, allowed};
    use super::*;

    fn default_caps() -> Vec<String> {
        strs(super::super::caps::DEFAULT)
    }

    fn with(cap: &str) -> Vec<String> {
        let mut c = default_caps();
        c.push(cap.to_string());
        c
    }

    #[test]
    fn builtin_profile_resolves_without_error() {
        let t = Target {
            caps: &[],
            arch: "x86_64",
            kernel: (6, 1),
        };
        resolve(&default_docker_profile(), &t, "builtin").unwrap();
    }

    #[test]
    fn ordinary_syscalls_are_allowed() {
        let p = default_profile(&default_caps(), "x86_64");
        for name in [
            "read",
            "write",
            "openat",
            "execve",
            "mmap",
            "futex",
            "exit_group",
            "socket",
            "connect",
            "epoll_wait",
            "getdents64",
            "rt_sigaction",
            "wait4",
            "chroot",
            "pipe",
            "pipe2",
            "dup3",
            "fcntl",
            "getrandom",
            "clock_gettime",
            "nanosleep",
        ] {
            assert!(allowed(&p, name, &[]), "{name} should be allowed");
        }
        // clone as fork and pthread_create use it: no namespace flags.
        assert!(allowed(&p, "clone", &[0x01200011])); // SIGCHLD|CHILD_SETTID|CHILD_CLEARTID
        assert!(allowed(&p, "clone", &[0x003d0f00])); // CLONE_THREAD and friends
        assert!(allowed(&p, "personality", &[0x8]));
    }

    #[test]
    fn dangerous_syscalls_are_denied_with_eperm() {
        let p = default_profile(&default_caps(), "x86_64");
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(p.default_errno_ret(), Some(1));
        for name in [
            "mount",
            "umount2",
            "bpf",
            "kexec_load",
            "kexec_file_load",
            "reboot",
            "init_module",
            "finit_module",
            "delete_module",
            "perf_event_open",
            "ptrace",
            "unshare",
            "setns",
            "keyctl",
            "add_key",
            "request_key",
            "pivot_root",
            "swapon",
            "swapoff",
            "syslog",
            "acct",
            "open_by_handle_at",
            "userfaultfd",
            "iopl",
            "ioperm",
            "quotactl",
            "settimeofday",
            "clock_settime",
            "io_uring_setup",
            "process_vm_readv",
        ] {
            assert!(!allowed(&p, name, &[]), "{name} should be denied");
        }
        assert!(!allowed(&p, "personality", &[0x0040000])); // ADDR_NO_RANDOMIZE
    }

    #[test]
    fn clone_with_namespace_flags_is_denied_and_clone3_says_enosys() {
        let p = default_profile(&default_caps(), "x86_64");
        assert!(!allowed(&p, "clone", &[0x4000_0000 | 17])); // CLONE_NEWNET|SIGCHLD
        assert!(!allowed(&p, "clone", &[0x1000_0000])); // CLONE_NEWUSER
        assert_eq!(
            action(&p, "clone3", &[]),
            (LinuxSeccompAction::ScmpActErrno, Some(38))
        );
    }

    #[test]
    fn sys_admin_unlocks_mount_and_namespaces() {
        let p = default_profile(&with("CAP_SYS_ADMIN"), "x86_64");
        for name in ["mount", "umount2", "unshare", "setns", "bpf", "clone3"] {
            assert!(
                allowed(&p, name, &[]),
                "{name} should be allowed with CAP_SYS_ADMIN"
            );
        }
        assert!(allowed(&p, "clone", &[0x4000_0000]));
        assert!(!allowed(&p, "kexec_load", &[]));
    }

    #[test]
    fn sys_ptrace_unlocks_ptrace() {
        let p = default_profile(&with("CAP_SYS_PTRACE"), "x86_64");
        assert!(allowed(&p, "ptrace", &[]));
        assert!(allowed(&p, "process_vm_readv", &[]));
        assert!(!allowed(&p, "mount", &[]));
    }

    #[test]
    fn dropping_a_default_cap_removes_its_syscall() {
        let caps: Vec<String> = default_caps()
            .into_iter()
            .filter(|c| c != "CAP_SYS_CHROOT")
            .collect();
        assert!(!allowed(&default_profile(&caps, "x86_64"), "chroot", &[]));
    }

    #[test]
    fn architectures_follow_the_host() {
        let p = default_profile(&default_caps(), "x86_64");
        assert_eq!(
            p.architectures().clone().unwrap(),
            [Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
        );
        let p = default_profile(&default_caps(), "aarch64");
        assert_eq!(
            p.architectures().clone().unwrap(),
            [Arch::ScmpArchAarch64, Arch::ScmpArchArm]
        );
        assert!(allowed(&p, "set_tls", &[]));
        assert!(!allowed(
            &default_profile(&default_caps(), "x86_64"),
            "set_tls",
            &[]
        ));
    }

    #[test]
    fn docker_format_includes_and_excludes_resolve() {
        let json = r#"{
            "defaultAction": "SCMP_ACT_ERRNO",
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
                        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": []}],
            "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
                {"names": ["arm_only"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}},
                {"names": ["not_admin"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["SYS_ADMIN"]}},
                {"name": "old_style", "action": "SCMP_ACT_LOG", "comment": "single name"}
            ]}"#;
        let p = parse(json, "test.json").unwrap();
        let caps = default_caps();
        let t = Target {
            caps: &caps,
            arch: "x86_64",
            kernel: (4, 4),
        };
        let r = resolve(&p, &t, "test.json").unwrap();
        assert_eq!(
            r.architectures().clone().unwrap(),
            [Arch::ScmpArchX86_64, Arch::ScmpArchX86]
        );
        assert!(allowed(&r, "read", &[]));
        assert!(!allowed(&r, "mount", &[]));
        assert!(!allowed(&r, "ptrace", &[]));
        assert!(!allowed(&r, "arm_only", &[]));
        assert!(allowed(&r, "not_admin", &[]));
        assert_eq!(
            action(&r, "old_style", &[]).0,
            LinuxSeccompAction::ScmpActLog
        );
        let admin = with("CAP_SYS_ADMIN");
        let t = Target {
            caps: &admin,
            arch: "x86_64",
            kernel: (5, 10),
        };
        let r = resolve(&p, &t, "test.json").unwrap();
        assert!(allowed(&r, "mount", &[]) && allowed(&r, "ptrace", &[]));
        assert!(!allowed(&r, "not_admin", &[]));
    }

    #[test]
    fn malformed_profiles_are_refused_by_name() {
        let e = parse("{not json", "p.json").unwrap_err();
        assert!(
            e.to_string().starts_with("seccomp profile p.json: decode"),
            "{e}"
        );
        let p = parse(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86"],
                "archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}"#,
            "p.json",
        )
        .unwrap();
        let t = Target {
            caps: &[],
            arch: "x86_64",
            kernel: (6, 1),
        };
        assert!(resolve(&p, &t, "p.json").is_err());
        let p = parse(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"a","names":["b"],"action":"SCMP_ACT_ERRNO"}]}"#,
            "p.json",
        )
        .unwrap();
        assert!(resolve(&p, &t, "p.json").is_err());
    }
}
