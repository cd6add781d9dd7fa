//! What a process inside a container observes: namespaces, user, capabilities, rlimits,
//! mounts, devices, seccomp, sysctls, and the protections against escaping to the host.

mod common;
use common::*;
use serde_json::json;

fn run_sh(edit: impl FnOnce(&mut serde_json::Value), script: &str) -> String {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sh", "-c", script]);
    b.edit(edit);
    ok(rt.run_bundle(&b))
}

#[test]
fn pid_uts_and_hostname() {
    let out = run_sh(
        |c| {
            c["hostname"] = json!("box1");
            c["domainname"] = json!("example.test");
        },
        "echo $$; hostname; cat /proc/sys/kernel/domainname; ps -o pid | wc -l",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1", "not pid 1 in a new pid namespace: {out}");
    assert_eq!(lines[1], "box1");
    assert_eq!(lines[2], "example.test");
    assert!(
        lines[3].trim().parse::<i32>().unwrap() <= 4,
        "host processes visible: {out}"
    );
}

#[test]
fn capabilities_are_exactly_the_configured_sets() {
    let caps = json!(["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"]);
    let status = run_sh(
        |c| {
            c["process"]["capabilities"] = json!({"bounding": caps, "effective": ["CAP_KILL"], "permitted": caps,
            "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]});
        },
        "cat /proc/self/status",
    );
    let want_all = (1u64 << 5) | (1 << 10) | (1 << 29);
    assert_eq!(cap_mask(&status, "CapBnd"), want_all);
    assert_eq!(
        cap_mask(&status, "CapPrm"),
        want_all & !0 & want_all,
        "{status}"
    );
    // After exec with an ambient set, effective = permitted ∩ ambient semantics: KILL only ambient.
    assert_eq!(cap_mask(&status, "CapAmb"), 1 << 5);
    assert_eq!(cap_mask(&status, "CapInh"), 1 << 5);
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
}

#[test]
fn user_groups_umask_and_cwd() {
    let out = run_sh(
        |c| {
            c["process"]["user"] =
                json!({"uid": 1000, "gid": 1001, "additionalGids": [5, 6], "umask": 63});
            c["process"]["cwd"] = json!("/tmp");
        },
        "id -u; id -g; id -G; umask; pwd; cat /proc/self/status | grep CapEff",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1000");
    assert_eq!(lines[1], "1001");
    assert_eq!(lines[2], "1001 5 6");
    assert_eq!(lines[3], "0077");
    assert_eq!(lines[4], "/tmp");
    assert_eq!(
        cap_mask(&out, "CapEff"),
        0,
        "a non-root user kept effective caps: {out}"
    );
}

#[test]
fn rlimits_and_oom_score_and_no_new_privileges() {
    let out = run_sh(|c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256},
                                         {"type": "RLIMIT_NPROC", "hard": 300, "soft": 200}]);
        c["process"]["oomScoreAdj"] = json!(345);
        c["process"]["noNewPrivileges"] = json!(false);
    }, "ulimit -n; ulimit -Hn; ulimit -u; cat /proc/self/oom_score_adj; grep NoNewPrivs /proc/self/status");
    assert_eq!(out, "256\n512\n200\n345\nNoNewPrivs:\t0\n");
}

#[test]
fn mounts_masked_and_readonly_paths_and_readonly_root() {
    let out = run_sh(|c| {
        c["root"]["readonly"] = json!(true);
        c["linux"]["maskedPaths"] = json!(["/proc/cmdline", "/proc/tty", "/proc/kcore"]);
        c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "size=1m", "mode=1777"]}));
    }, "touch /x 2>&1 | grep -c 'Read-only'; echo t > /tmp/ok && cat /tmp/ok; \
        wc -c < /proc/cmdline; ls /proc/tty | wc -l; echo 1 > /proc/sys/kernel/hostname 2>/dev/null || echo sysro; \
        grep ' /tmp ' /proc/self/mountinfo; grep ' /dev/pts ' /proc/self/mountinfo");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1", "root not read-only: {out}");
    assert_eq!(lines[1], "t");
    assert_eq!(lines[2].trim(), "0", "/proc/cmdline not masked: {out}");
    assert_eq!(lines[3].trim(), "0", "/proc/tty not masked: {out}");
    assert_eq!(lines[4], "sysro", "/proc/sys writable: {out}");
    assert!(
        lines[5].contains("tmpfs")
            && lines[5].contains("nosuid")
            && lines[5].contains("size=1024k"),
        "{out}"
    );
    assert!(
        lines[6].contains("devpts") && lines[6].contains("ptmxmode=666"),
        "{out}"
    );
}

#[test]
fn bind_mounts_are_readonly_when_asked_and_propagation_is_set() {
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("f"), "from host").unwrap();
    let src = host.path().to_str().unwrap().to_string();
    let out = run_sh(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/data", "type": "bind", "source": src, "options": ["rbind", "ro", "rprivate"]}));
    }, "cat /data/f; echo; echo x > /data/g 2>/dev/null || echo denied; grep ' /data ' /proc/self/mountinfo");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "from host");
    assert_eq!(lines[1], "denied");
    assert!(lines[2].contains(" ro,"), "{out}");
    assert!(!host.path().join("g").exists());
}

#[test]
fn devices_nodes_and_the_device_cgroup() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sh", "-c", "ls -l /dev/tugnull; echo hi > /dev/tugnull && echo wrote; \
        (head -c1 /mem >/dev/null 2>&1 && echo opened || echo blocked); mknod /tmp/x c 1 1 2>/dev/null || echo nomknod; \
        ls /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty | wc -l; readlink /dev/fd; readlink /dev/ptmx"]);
    // The image carries a device node for /dev/mem (1:1): only the device cgroup stops it.
    nix::sys::stat::mknod(
        &b.rootfs().join("mem"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 1),
    )
    .unwrap();
    b.edit(|c| {
        c["linux"]["devices"] = json!([{"path": "/dev/tugnull", "type": "c", "major": 1, "minor": 3, "fileMode": 438, "uid": 0, "gid": 0}]);
        c["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"}]);
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set].as_array_mut().unwrap().push(json!("CAP_MKNOD"));
        }
    });
    let out = ok(rt.run_bundle(&b));
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("crw-rw-rw-") && lines[0].contains("1,   3"),
        "{out}"
    );
    assert_eq!(lines[1], "wrote");
    assert_eq!(
        lines[2], "blocked",
        "the device cgroup let /dev/mem open: {out}"
    );
    assert_eq!(
        lines[3], "nomknod",
        "mknod of a denied device worked: {out}"
    );
    assert_eq!(lines[4].trim(), "6");
    assert_eq!(lines[5], "/proc/self/fd");
    assert_eq!(lines[6], "pts/ptmx");
}

fn seccomp_profile() -> serde_json::Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
            {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
             "args": [{"index": 1, "value": 448, "op": "SCMP_CMP_EQ"}]},
            {"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
             "args": [{"index": 2, "value": 448, "op": "SCMP_CMP_EQ"}]}
        ]
    })
}

#[test]
fn seccomp_denies_with_errno_and_argument_conditions() {
    for nnp in [true, false] {
        let out = run_sh(|c| {
            c["linux"]["seccomp"] = seccomp_profile();
            c["process"]["noNewPrivileges"] = json!(nnp);
        }, "mkdir /tmp/d 2>&1; touch /tmp/f; chmod 700 /tmp/f 2>&1; chmod 600 /tmp/f && echo chmod600ok; grep Seccomp: /proc/self/status");
        assert!(
            out.contains("Operation not permitted"),
            "mkdir allowed (nnp={nnp}): {out}"
        );
        assert!(
            out.contains("Permission denied"),
            "chmod 700 allowed (nnp={nnp}): {out}"
        );
        assert!(
            out.contains("chmod600ok"),
            "chmod 600 denied (nnp={nnp}): {out}"
        );
        assert!(out.contains("Seccomp:\t2"), "{out}");
    }
}

#[test]
fn sysctls_and_their_namespace_check() {
    let out = run_sh(
        |c| {
            c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"});
        },
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni",
    );
    assert_eq!(out, "1\n1234\n");
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| {
        c["linux"]["sysctl"] = json!({"kernel.panic": "5"});
    });
    let out = rt.run_bundle(&b);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("kernel.panic"), "{}", stderr(&out));
}

#[test]
fn user_namespace_with_mappings() {
    let out = run_sh(
        |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "user"}));
            c["linux"]["uidMappings"] =
                json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            c["linux"]["gidMappings"] =
                json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            // sysfs needs the network namespace's owner; keep the example simple.
            c["mounts"]
                .as_array_mut()
                .unwrap()
                .retain(|m| m["type"] != "sysfs" && m["type"] != "cgroup");
        },
        "id -u; cat /proc/self/uid_map; cat /proc/self/gid_map",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
}

#[test]
fn time_namespace_offsets() {
    let out = run_sh(
        |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "time"}));
            c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 86400000, "nanosecs": 0}});
        },
        "cut -d. -f1 /proc/uptime",
    );
    let up: u64 = out.trim().parse().unwrap();
    assert!(up >= 86_400_000, "boottime offset not applied: {up}");
}

#[test]
fn joining_a_namespace_by_path() {
    // A network namespace made here (no traffic leaves it): the container must see its loopback
    // state, i.e. the same namespace inode.
    let rt = Runtime::new();
    let holder = Bundle::new(&["sleep", "60"]);
    let id = rt.create(&holder, "nsholder");
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let want = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let mut b = Bundle::new(&["readlink", "/proc/self/ns/net"]);
    b.edit(|c| {
        for ns in c["linux"]["namespaces"].as_array_mut().unwrap() {
            if ns["type"] == "network" {
                ns["path"] = json!(format!("/proc/{pid}/ns/net"));
            }
        }
    });
    assert_eq!(ok(rt.run_bundle(&b)).trim(), want.to_str().unwrap());
}

#[test]
fn no_pivot_works() {
    let rt = Runtime::new();
    let b = Bundle::new(&[
        "sh",
        "-c",
        "ls /bin/busybox && cat /proc/self/mountinfo | head -1",
    ]);
    let id = unique_id("nopivot");
    rt.track(&id);
    let out = rt
        .cmd()
        .args(["run", "--no-pivot", "-b"])
        .arg(b.path())
        .arg(&id)
        .output()
        .unwrap();
    assert!(ok(out).starts_with("/bin/busybox"));
}

#[test]
fn no_host_descriptor_leaks_and_preserve_fds() {
    use std::os::fd::AsRawFd;
    let leak = std::fs::File::open("/etc/hostname").unwrap();
    let raw = leak.as_raw_fd();
    // Make it inheritable, as a careless caller would.
    // SAFETY: fcntl on a descriptor we own.
    unsafe { libc_fcntl_clear_cloexec(raw) };
    let out = run_sh(|_| {}, "ls /proc/self/fd | sort -n | tr '\\n' ' '");
    assert_eq!(
        out.trim(),
        "0 1 2 3",
        "descriptors leaked into the container: {out}"
    );
    drop(leak);
}

/// Clear FD_CLOEXEC on `fd`.
///
/// # Safety
/// `fd` must be an open descriptor owned by the caller.
unsafe fn libc_fcntl_clear_cloexec(fd: i32) {
    extern "C" {
        fn fcntl(fd: i32, cmd: i32, ...) -> i32;
    }
    // SAFETY: F_SETFD (2) with 0 only changes descriptor flags.
    unsafe { fcntl(fd, 2, 0) };
}

#[test]
fn symlinks_in_the_image_cannot_redirect_mounts_to_the_host() {
    let outside = tempfile::tempdir().unwrap();
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sh", "-c", "echo inside > /evil/mnt/proof; echo done"]);
    // The image plants an absolute symlink to a host directory, and the config mounts on it.
    std::os::unix::fs::symlink(outside.path(), b.rootfs().join("evil")).unwrap();
    std::os::unix::fs::symlink("../../../../../../..", b.rootfs().join("up")).unwrap();
    b.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/evil/mnt", "type": "tmpfs", "source": "tmpfs"}));
        m.push(
            json!({"destination": "/up/tmp/tug-escape-probe", "type": "tmpfs", "source": "tmpfs"}),
        );
    });
    assert_eq!(ok(rt.run_bundle(&b)), "done\n");
    assert!(
        !outside.path().join("mnt").exists(),
        "a mount point was created on the host"
    );
    assert!(
        !std::path::Path::new("/tmp/tug-escape-probe").exists(),
        "a mount point escaped via .."
    );
    assert!(b
        .rootfs()
        .join(outside.path().strip_prefix("/").unwrap())
        .join("mnt")
        .is_dir());
}

#[test]
fn the_runtime_binary_is_not_reachable_from_a_container() {
    // While a container is created (its init is still the runtime), the init's executable must
    // be a protected copy: not the host binary, and never writable, even after the runtime ends.
    let rt = Runtime::new();
    let b = Bundle::new(&["true"]);
    let id = rt.create(&b, "exe");
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    let host = std::fs::canonicalize(TUG).unwrap();
    assert_ne!(exe, host, "the container's init runs from the host binary");
    // Hold the executable as an attacker in the container would, let every runtime process
    // end, then try to open it for writing: it must stay refused (sealed or immutable).
    let held = std::fs::File::open(format!("/proc/{pid}/exe")).unwrap();
    ok(rt.run(&["delete", "--force", &id]));
    let fd = std::os::fd::AsRawFd::as_raw_fd(&held);
    let w = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/self/fd/{fd}"));
    assert!(
        w.is_err(),
        "the runtime's executable could be opened for writing"
    );
}

#[test]
fn apparmor_request_gets_a_clear_message_when_not_enabled() {
    if std::path::Path::new("/sys/module/apparmor/parameters/enabled").exists() {
        return; // this host has AppArmor: the profile would be applied instead
    }
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| c["process"]["apparmorProfile"] = json!("tug-default"));
    let out = rt.run_bundle(&b);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("AppArmor is not enabled"),
        "{}",
        stderr(&out)
    );
}
