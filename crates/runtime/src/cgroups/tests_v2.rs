//! cgroup v2 tests against a fake cgroup tree in a temporary directory: the
//! manager writes the right values to the right files.

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use super::v2_resources::{blkio_to_io_weight, cpu_max, shares_to_weight, swap_max};
use super::{manager, CgroupPaths, Error, Manager};

const CONTROLLERS: &str = "cpuset cpu io memory hugetlb pids";
const LEAF_FILES: &[&str] = &[
    "cgroup.procs",
    "cgroup.freeze",
    "cgroup.events",
    "memory.max",
    "memory.swap.max",
    "memory.low",
    "memory.oom.group",
    "cpu.weight",
    "cpu.max",
    "cpuset.cpus",
    "cpuset.mems",
    "pids.max",
    "io.weight",
    "io.max",
    "hugetlb.2MB.max",
];

/// A fake mount with an existing "a" (both with controllers) and a leaf a/b/c.
struct Fake {
    _tmp: tempfile::TempDir,
    mount: PathBuf,
    leaf: PathBuf,
    m: Box<dyn Manager>,
}

fn fake() -> Fake {
    let tmp = tempfile::tempdir().unwrap();
    let mount = tmp.path().to_path_buf();
    for dir in [mount.clone(), mount.join("a")] {
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("cgroup.controllers"), format!("{CONTROLLERS}\n")).unwrap();
        fs::write(dir.join("cgroup.subtree_control"), "").unwrap();
    }
    let leaf = mount.join("a/b/c");
    let paths = CgroupPaths::V2 {
        mount: mount.clone(),
        dir: leaf.clone(),
        created_below: mount.join("a"),
    };
    let m = manager(&paths);
    Fake {
        _tmp: tmp,
        mount,
        leaf,
        m,
    }
}

/// `fake()` after create(), with the leaf's files present.
fn created() -> Fake {
    let f = fake();
    f.m.create().unwrap();
    for file in LEAF_FILES {
        fs::write(f.leaf.join(file), "").unwrap();
    }
    f
}

fn resources(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

fn content(dir: &Path, file: &str) -> String {
    fs::read_to_string(dir.join(file)).unwrap()
}

#[test]
fn create_enables_controllers_from_the_mount_down() {
    let f = fake();
    f.m.create().unwrap();
    assert!(f.leaf.is_dir());
    let want = "+cpuset +cpu +io +memory +hugetlb +pids";
    assert_eq!(content(&f.mount, "cgroup.subtree_control"), want);
    assert_eq!(content(&f.mount.join("a"), "cgroup.subtree_control"), want);
    // a/b has no cgroup.controllers in the fake tree: nothing to enable there.
    assert!(!f.mount.join("a/b/cgroup.subtree_control").exists());
    assert!(!f.leaf.join("cgroup.subtree_control").exists());
}

#[test]
fn set_writes_every_resource() {
    let f = created();
    let r = resources(
        r#"{
        "memory": {"limit": 536870912, "swap": 805306368, "reservation": 268435456},
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0"},
        "pids": {"limit": 100},
        "blockIO": {"weight": 500,
            "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
            "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
        "unified": {"memory.oom.group": "1"}
    }"#,
    );
    f.m.set(&r).unwrap();
    let expect = [
        ("memory.max", "536870912"),
        ("memory.swap.max", "268435456"),
        ("memory.low", "268435456"),
        ("cpu.weight", "39"),
        ("cpu.max", "50000 100000"),
        ("cpuset.cpus", "0-1"),
        ("cpuset.mems", "0"),
        ("pids.max", "100"),
        ("io.weight", "4950"),
        ("io.max", "8:0 rbps=1048576 wiops=100"),
        ("hugetlb.2MB.max", "4194304"),
        ("memory.oom.group", "1"),
    ];
    for (file, value) in expect {
        assert_eq!(content(&f.leaf, file), value, "{file}");
    }
}

#[test]
fn unlimited_values() {
    let f = created();
    let r = resources(
        r#"{"memory": {"limit": -1}, "cpu": {"quota": -1, "period": 200000}, "pids": {"limit": 0}}"#,
    );
    f.m.set(&r).unwrap();
    assert_eq!(content(&f.leaf, "memory.max"), "max");
    assert_eq!(content(&f.leaf, "memory.swap.max"), "max");
    assert_eq!(content(&f.leaf, "cpu.max"), "max 200000");
    assert_eq!(content(&f.leaf, "pids.max"), "max");
    assert_eq!(
        content(&f.leaf, "memory.low"),
        "",
        "reservation unset: untouched"
    );
}

#[test]
fn conversions() {
    assert_eq!(shares_to_weight(2), 1);
    assert_eq!(shares_to_weight(1024), 39);
    assert_eq!(shares_to_weight(262_144), 10_000);
    assert_eq!(blkio_to_io_weight(10), 1);
    assert_eq!(blkio_to_io_weight(1000), 10_000);
    assert_eq!(cpu_max(Some(5000), None).as_deref(), Some("5000"));
    assert_eq!(cpu_max(None, Some(100_000)).as_deref(), Some("max 100000"));
    assert_eq!(cpu_max(None, None), None);
    assert_eq!(swap_max(-1, 100).unwrap().as_deref(), Some("max"));
    assert_eq!(swap_max(0, -1).unwrap().as_deref(), Some("max"));
    assert_eq!(swap_max(0, 100).unwrap(), None);
    assert_eq!(swap_max(300, 100).unwrap().as_deref(), Some("200"));
    assert_eq!(swap_max(100, 100).unwrap().as_deref(), Some("0"));
    assert!(swap_max(50, 100).is_err());
    assert!(swap_max(100, 0).is_err());
}

#[test]
fn unsupported_resources_name_the_file() {
    let f = created();
    let err = f.m.set(&resources(
        r#"{"hugepageLimits": [{"pageSize": "1GB", "limit": 1}]}"#,
    ));
    match err.unwrap_err() {
        Error::Unsupported { path } => assert_eq!(path, f.leaf.join("hugetlb.1GB.max")),
        other => panic!("expected unsupported, got {other}"),
    }
    let err =
        f.m.set(&resources(r#"{"cpu": {"realtimeRuntime": 100}}"#))
            .unwrap_err();
    assert!(err.to_string().contains("cpu.rt_runtime_us"), "{err}");
    let err =
        f.m.set(&resources(r#"{"network": {"classID": 7}}"#))
            .unwrap_err();
    assert!(err.to_string().contains("net_cls.classid"), "{err}");
}

#[test]
fn unified_rejects_paths() {
    let f = created();
    for key in ["../../etc/passwd", "a/b", ".", ""] {
        let json = serde_json::json!({ "unified": { key: "1" } }).to_string();
        let err = f.m.set(&resources(&json)).unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{key}: {err}");
    }
}

#[test]
fn freeze_thaw_and_counters() {
    let f = created();
    fs::write(f.leaf.join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
    f.m.freeze().unwrap();
    assert_eq!(content(&f.leaf, "cgroup.freeze"), "1");
    assert!(f.m.is_frozen().unwrap());
    fs::write(f.leaf.join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
    f.m.thaw().unwrap();
    assert_eq!(content(&f.leaf, "cgroup.freeze"), "0");
    assert!(!f.m.is_frozen().unwrap());
    fs::write(f.leaf.join("memory.events"), "oom 3\noom_kill 2\n").unwrap();
    assert_eq!(f.m.oom_kill_count().unwrap(), 2);
    fs::write(f.leaf.join("cgroup.procs"), "34\n12\n").unwrap();
    fs::create_dir(f.leaf.join("sub")).unwrap();
    fs::write(f.leaf.join("sub/cgroup.procs"), "56\n").unwrap();
    assert_eq!(f.m.pids().unwrap(), [12, 34, 56]);
}

#[test]
fn stats_from_v2_files() {
    let f = created();
    let files = [
        ("cpu.stat", "usage_usec 100\nuser_usec 60\nsystem_usec 40\nnr_periods 5\nnr_throttled 2\nthrottled_usec 7\n"),
        ("memory.current", "4096\n"),
        ("memory.max", "max\n"),
        ("memory.stat", "anon 200\nfile 100\n"),
        ("pids.current", "3\n"),
        ("pids.max", "max\n"),
        ("io.stat", "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n"),
        ("hugetlb.2MB.current", "2097152\n"),
    ];
    for (file, value) in files {
        fs::write(f.leaf.join(file), value).unwrap();
    }
    let s = f.m.stats().unwrap();
    assert_eq!(
        (s.cpu.usage.total, s.cpu.usage.user, s.cpu.usage.kernel),
        (100_000, 60_000, 40_000)
    );
    assert_eq!(s.cpu.throttling.throttled_time, 7000);
    assert_eq!(s.cpu.throttling.throttled_periods, 2);
    assert_eq!(
        (s.memory.usage.usage, s.memory.usage.limit),
        (4096, u64::MAX)
    );
    assert_eq!(s.memory.cache, 100);
    assert_eq!(s.memory.raw["anon"], 200);
    assert_eq!((s.pids.current, s.pids.limit), (3, 0));
    assert_eq!(s.blkio.io_service_bytes_recursive[1].value, 20);
    assert_eq!(s.hugetlb["2MB"].usage, 2_097_152);
}

#[test]
fn stats_of_a_vanished_cgroup_is_not_found() {
    let f = fake();
    let err = f.m.stats().unwrap_err();
    assert!(err.is_not_found(), "{err}");
    f.m.destroy().unwrap();
}
