//! Tests on the real host (need root): a v1 cgroup below the caller's own
//! cgroups, and a device eBPF program on a cgroup2 hierarchy. Everything made
//! is removed by a guard, also when an assertion fails.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use oci_spec::runtime::LinuxResources;

use super::paths::{parse_mountinfo, parse_proc_cgroup};
use super::{bpf, host_mode, manager, CgroupPaths, Error, HostMode, Manager};

fn is_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    eprintln!("skipped: needs root");
    false
}

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// Kills the probe and removes the cgroup when the test ends, however it ends.
struct Guard {
    m: Box<dyn Manager>,
    child: Option<Child>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = self.m.thaw();
        let _ = self.m.destroy();
    }
}

impl Guard {
    fn kill_child(&mut self) {
        let mut c = self.child.take().expect("probe running");
        c.kill().unwrap();
        c.wait().unwrap();
    }
}

/// A shell that, once told to, reports whether it may read /dev/full (1:7)
/// and /dev/zero (1:5), then sleeps.
fn spawn_probe() -> Child {
    let script = "read x; \
        if head -c1 /dev/full >/dev/null 2>&1; then echo full-ok; else echo full-denied; fi; \
        if head -c1 /dev/zero >/dev/null 2>&1; then echo zero-ok; else echo zero-denied; fi; \
        exec sleep 30";
    Command::new("sh")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

fn run_probe(child: &mut Child) -> (String, String) {
    child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    let out: ChildStdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    let a = lines.next().unwrap().unwrap();
    let b = lines.next().unwrap().unwrap();
    (a, b)
}

fn devices_only() -> LinuxResources {
    serde_json::from_str(
        r#"{"devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"}
        ]}"#,
    )
    .unwrap()
}

fn set_memory(m: &dyn Manager, limit: i64, swap: i64) {
    let r: LinuxResources =
        serde_json::from_value(serde_json::json!({"memory": {"limit": limit, "swap": swap}}))
            .unwrap();
    m.set(&r).unwrap();
}

fn read(dir: &Path, file: &str) -> String {
    fs::read_to_string(dir.join(file))
        .unwrap()
        .trim()
        .to_string()
}

fn v1_dirs(p: &CgroupPaths) -> (Vec<(String, PathBuf)>, Vec<PathBuf>) {
    match p {
        CgroupPaths::V1 {
            dirs,
            created_below,
        } => (
            dirs.clone().into_iter().collect(),
            created_below.values().cloned().collect(),
        ),
        other => panic!("v1 host resolved {other:?}"),
    }
}

#[test]
fn v1_lifecycle_on_host() {
    if host_mode() != HostMode::V1 || !is_root() {
        eprintln!("skipped: needs a cgroup v1 host and root");
        return;
    }
    let name = unique("tug-test-v1");
    let paths = CgroupPaths::resolve(Some(&format!("{name}/inner")), "unused").unwrap();
    let (dirs, below) = v1_dirs(&paths);
    let dir = |s: &str| dirs.iter().find(|(k, _)| k == s).unwrap().1.clone();
    let mut g = Guard {
        m: manager(&paths),
        child: None,
    };
    g.m.create().unwrap();
    assert!(dirs.iter().all(|(_, d)| d.is_dir()));
    assert!(!read(&dir("cpuset"), "cpuset.cpus").is_empty());

    let r: LinuxResources = serde_json::from_str(
        r#"{"memory": {"limit": 268435456, "swap": 536870912, "reservation": 134217728},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
            "pids": {"limit": 64},
            "devices": [
                {"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"}]}"#,
    )
    .unwrap();
    g.m.set(&r).unwrap();
    let mem = dir("memory");
    let has_memsw = mem.join("memory.memsw.limit_in_bytes").exists();
    assert_eq!(read(&mem, "memory.limit_in_bytes"), "268435456");
    assert_eq!(read(&mem, "memory.soft_limit_in_bytes"), "134217728");
    if has_memsw {
        assert_eq!(read(&mem, "memory.memsw.limit_in_bytes"), "536870912");
        // Raising and lowering both need the right write order.
        set_memory(g.m.as_ref(), 1 << 30, 2 << 30);
        assert_eq!(
            read(&mem, "memory.memsw.limit_in_bytes"),
            (2u64 << 30).to_string()
        );
        set_memory(g.m.as_ref(), 128 << 20, 256 << 20);
        assert_eq!(
            read(&mem, "memory.limit_in_bytes"),
            (128u64 << 20).to_string()
        );
        assert_eq!(
            read(&mem, "memory.memsw.limit_in_bytes"),
            (256u64 << 20).to_string()
        );
    }
    assert_eq!(read(&dir("cpu"), "cpu.shares"), "512");
    assert_eq!(read(&dir("cpu"), "cpu.cfs_quota_us"), "50000");
    assert_eq!(read(&dir("cpu"), "cpu.cfs_period_us"), "100000");
    assert_eq!(read(&dir("pids"), "pids.max"), "64");
    assert_eq!(read(&dir("cpuset"), "cpuset.cpus"), "0");
    assert_eq!(
        read(&dir("devices"), "devices.list"),
        "c 1:3 rwm\nc 1:5 rwm"
    );
    if !dirs.iter().any(|(k, _)| k == "hugetlb") {
        let h: LinuxResources =
            serde_json::from_str(r#"{"hugepageLimits": [{"pageSize": "2MB", "limit": 1}]}"#)
                .unwrap();
        let err = g.m.set(&h).unwrap_err();
        assert!(
            matches!(
                err,
                Error::NoController {
                    controller: "hugetlb",
                    ..
                }
            ),
            "{err}"
        );
    }

    let mut child = spawn_probe();
    let pid = child.id() as i32;
    g.m.add_pid(pid).unwrap();
    assert_eq!(g.m.pids().unwrap(), [pid]);
    assert_eq!(
        run_probe(&mut child),
        ("full-denied".into(), "zero-ok".into())
    );
    g.child = Some(child);

    g.m.freeze().unwrap();
    assert!(g.m.is_frozen().unwrap());
    g.m.thaw().unwrap();
    assert!(!g.m.is_frozen().unwrap());

    let s = g.m.stats().unwrap();
    assert!(s.memory.usage.usage > 0, "{s:?}");
    assert!(s.memory.usage.limit > 0, "{s:?}");
    assert_eq!(s.pids.current, 1, "{s:?}");
    assert_eq!(s.pids.limit, 64, "{s:?}");
    assert!(s.cpu.usage.total > 0, "{s:?}");
    assert_eq!(g.m.oom_kill_count().unwrap(), 0);

    g.kill_child();
    g.m.destroy().unwrap();
    for (_, d) in &dirs {
        assert!(!d.exists(), "{d:?} left behind");
        assert!(!d.parent().unwrap().exists(), "parent of {d:?} left behind");
    }
    assert!(
        below.iter().all(|b| b.is_dir()),
        "pre-existing cgroups must stay"
    );
    g.m.destroy().unwrap();
}

/// The cgroup2 mount and the caller's cgroup in it.
fn cgroup2_home() -> Option<PathBuf> {
    let mounts = parse_mountinfo(&fs::read_to_string("/proc/self/mountinfo").unwrap());
    let procs = parse_proc_cgroup(&fs::read_to_string("/proc/self/cgroup").unwrap());
    let mount = mounts.into_iter().find(|m| m.fstype == "cgroup2")?;
    let own = procs.into_iter().find(|p| p.controllers.is_empty())?.path;
    let rel = own.strip_prefix(&mount.root).ok()?.to_path_buf();
    Some(mount.mountpoint.join(rel))
}

#[test]
fn device_program_on_cgroup2() {
    let Some(home) = cgroup2_home().filter(|_| is_root()) else {
        eprintln!("skipped: needs root and a cgroup2 mount");
        return;
    };
    let dir = home.join(unique("tug-test-bpf"));
    let paths = CgroupPaths::V2 {
        mount: home.clone(),
        dir: dir.clone(),
        created_below: home.clone(),
    };
    let mut g = Guard {
        m: manager(&paths),
        child: None,
    };
    g.m.create().unwrap();
    g.m.set(&devices_only()).unwrap();
    g.m.set(&devices_only()).unwrap();
    let attached = bpf::query(&bpf::open_cgroup(&dir).unwrap()).unwrap();
    assert_eq!(
        attached.len(),
        1,
        "the second set replaces the first program"
    );

    let mut child = spawn_probe();
    let pid = child.id() as i32;
    g.m.add_pid(pid).unwrap();
    assert_eq!(g.m.pids().unwrap(), [pid]);
    assert_eq!(
        run_probe(&mut child),
        ("full-denied".into(), "zero-ok".into())
    );
    g.child = Some(child);

    g.m.freeze().unwrap();
    assert!(g.m.is_frozen().unwrap());
    g.m.thaw().unwrap();
    assert!(!g.m.is_frozen().unwrap());

    g.kill_child();
    g.m.destroy().unwrap();
    assert!(!dir.exists());
    assert!(home.is_dir());
}
