//! cgroup resources of real containers, as a user observes them: from inside the container
//! (its own /sys/fs/cgroup, /proc), from the host (the cgroup files) and through the runtime's
//! verbs (`events`, `update`, `pause`, `ps`, `kill --all`).
//!
//! Every test runs on a cgroup v1 (or hybrid) host and on a pure cgroup v2 host (see
//! `scripts/vm-tests.sh`, which runs this file in a v2 VM). Containers always get an ABSOLUTE
//! `linux.cgroupsPath` below `/tug-test-*`, and every test checks at the end that no such
//! directory is left in any hierarchy.

mod common;
use common::*;
use serde_json::{json, Value};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;

fn v2() -> bool {
    is_cgroup2_host()
}

/// (mount point, fstype, super options) of every cgroup/cgroup2 mount of this process.
fn cgroup_mounts() -> Vec<(PathBuf, String, Vec<String>)> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mountpoint = left.split(' ').nth(4)?;
            let mut r = right.split(' ');
            let fstype = r.next()?;
            let opts = r.nth(1).unwrap_or("");
            (fstype == "cgroup" || fstype == "cgroup2").then(|| {
                (
                    PathBuf::from(mountpoint),
                    fstype.to_string(),
                    opts.split(',').map(String::from).collect(),
                )
            })
        })
        .collect()
}

/// Where the hierarchy holding `ctrl` is mounted on the host (the unified mount on v2).
fn mountpoint(ctrl: &str) -> PathBuf {
    if v2() {
        return PathBuf::from("/sys/fs/cgroup");
    }
    cgroup_mounts()
        .into_iter()
        .find(|(_, t, o)| t == "cgroup" && o.iter().any(|o| o == ctrl))
        .unwrap_or_else(|| panic!("no cgroup v1 hierarchy with {ctrl} is mounted"))
        .0
}

/// A cgroup file as the container sees it (its cgroup is mounted at /sys/fs/cgroup).
fn inside(ctrl: &str, file: &str) -> String {
    if v2() {
        format!("/sys/fs/cgroup/{file}")
    } else {
        format!("/sys/fs/cgroup/{ctrl}/{file}")
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// A "key value" line of a cgroup file (memory.events, pids.events, memory.oom_control).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(key))
            .then(|| it.next()?.parse().ok())
            .flatten()
    })
}

/// Polls `f` until it returns Some, or panics after `secs` seconds naming `what`.
fn wait_for<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < end,
            "timed out after {secs} s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One test's cgroup prefix `/tug-test-<tag>-<pid>-<n>`. Dropping it removes whatever is left
/// below it in every hierarchy; `finish` also fails the test when something was left.
struct Cg {
    top: String,
}

impl Cg {
    fn new(tag: &str) -> Cg {
        Cg {
            top: unique_id(tag),
        }
    }

    /// The absolute cgroupsPath `/tug-test-…` (with `sub` appended, e.g. "a/b").
    fn path(&self, sub: &str) -> String {
        if sub.is_empty() {
            format!("/{}", self.top)
        } else {
            format!("/{}/{sub}", self.top)
        }
    }

    /// The host directory of cgroupsPath `path` in the hierarchy of `ctrl`.
    fn host_dir(path: &str, ctrl: &str) -> PathBuf {
        mountpoint(ctrl).join(path.trim_start_matches('/'))
    }

    fn host_file(path: &str, ctrl: &str, file: &str) -> String {
        read(&Cg::host_dir(path, ctrl).join(file))
            .trim()
            .to_string()
    }

    /// Directories named after this prefix in any cgroup hierarchy.
    fn leftovers(&self) -> Vec<PathBuf> {
        cgroup_mounts()
            .into_iter()
            .map(|(m, _, _)| m.join(&self.top))
            .filter(|d| d.exists())
            .collect()
    }

    fn remove_all(&self) {
        fn rm(dir: &Path) {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for e in entries.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        rm(&e.path());
                    }
                }
            }
            for _ in 0..50 {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20)); // dying tasks still count
            }
        }
        for d in self.leftovers() {
            rm(&d);
        }
    }

    /// Deletes the containers (Runtime's drop) and fails if a cgroup directory stayed.
    fn finish(self, rt: Runtime) {
        drop(rt);
        let left = self.leftovers();
        assert!(
            left.is_empty(),
            "cgroup directories left after delete: {left:?}"
        );
    }
}

impl Drop for Cg {
    fn drop(&mut self) {
        self.remove_all();
    }
}

/// A busybox bundle running `sh -c script` in cgroup `path` with `resources` merged into the
/// default resources (which deny all devices).
fn bundle(script: &str, path: &str, resources: Value) -> Bundle {
    let mut b = Bundle::new(&["sh", "-c", script]);
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = json!(path);
        for (k, v) in resources.as_object().unwrap() {
            c["linux"]["resources"][k] = v.clone();
        }
    });
    b
}

/// `create` + `start`; the container's stdout goes to a file (`rt.container_stdout`).
fn start(rt: &Runtime, b: &Bundle, tag: &str) -> String {
    let id = rt.create(b, tag);
    ok(rt.run(&["start", &id]));
    id
}

/// Waits until the container printed a line `line`, and returns all its output.
fn wait_line(rt: &Runtime, id: &str, line: &str) -> String {
    wait_for(&format!("{line:?} from container {id}"), 120, || {
        let out = rt.container_stdout(id);
        out.lines().any(|l| l == line).then_some(out)
    })
}

/// `events --stats ID` → its `data`.
fn stats(rt: &Runtime, id: &str) -> Value {
    let out = ok(rt.run(&["events", "--stats", id]));
    let v: Value =
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("events --stats: {e}: {out}"));
    assert_eq!(v["type"], "stats", "{v}");
    assert_eq!(v["id"], id, "{v}");
    v["data"].clone()
}

fn exec_out(rt: &Runtime, id: &str, cmd: &[&str]) -> String {
    let mut args = vec!["exec", id];
    args.extend_from_slice(cmd);
    ok(rt.run(&args))
}

fn pid_of(rt: &Runtime, id: &str) -> i64 {
    rt.state(id)["pid"].as_i64().unwrap()
}

// ------------------------------------------------------------------------------------ memory

#[test]
fn memory_limit_is_visible_and_exceeding_it_oom_kills() {
    let cg = Cg::new("mem");
    let rt = Runtime::new();
    let path = cg.path("");
    let limit = 32 * MIB;
    let (limit_file, oom_file) = if v2() {
        ("memory.max", "memory.events")
    } else {
        ("memory.limit_in_bytes", "memory.oom_control")
    };
    // swap == limit: no swap, so the allocation cannot escape to it (v1 memsw, v2 swap.max 0).
    let script = format!(
        "cat {lim}; echo ready; while [ ! -e /tmp/go ]; do sleep 0.1; done; \
         sh -c 'x=$(yes | head -c 200m); echo survived ${{#x}}'; echo rc=$?; \
         grep '^oom_kill ' {oom}; echo end; sleep 600",
        lim = inside("memory", limit_file),
        oom = inside("memory", oom_file)
    );
    let b = bundle(
        &script,
        &path,
        json!({"memory": {"limit": limit, "swap": limit}}),
    );
    let id = start(&rt, &b, "mem");
    let out = wait_line(&rt, &id, "ready");
    assert_eq!(
        out.lines().next(),
        Some(limit.to_string().as_str()),
        "limit file inside: {out}"
    );
    assert_eq!(
        Cg::host_file(&path, "memory", limit_file),
        limit.to_string()
    );
    if !v2() {
        assert_eq!(
            Cg::host_file(&path, "memory", "memory.memsw.limit_in_bytes"),
            limit.to_string()
        );
    }

    let s = stats(&rt, &id);
    assert_eq!(s["memory"]["usage"]["limit"], limit, "{s}");
    assert!(
        s["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0,
        "no memory usage: {s}"
    );
    assert_eq!(
        s["memory"]["swap"]["limit"], limit,
        "memory+swap limit: {s}"
    );
    assert!(s["pids"]["current"].as_u64().unwrap_or(0) >= 1, "{s}");

    // `events` (the streaming form) must report the OOM kill.
    let (mut ev, lines) = spawn_events(&rt, &id);
    // The first stats line means the loop has read the OOM count before the OOM.
    wait_for("the first line of `events`", 60, || {
        (!lines.lock().unwrap().is_empty()).then_some(())
    });
    std::fs::write(b.rootfs().join("tmp/go"), "").unwrap();
    let out = wait_line(&rt, &id, "end");
    let oom_event = (0..100).find_map(|_| {
        let found = lines.lock().unwrap().iter().any(|l| {
            serde_json::from_str::<Value>(l)
                .is_ok_and(|v| v["type"] == "oom" && v["id"] == id.as_str())
        });
        if !found {
            std::thread::sleep(Duration::from_millis(100));
        }
        found.then_some(())
    });
    let _ = ev.kill();
    let _ = ev.wait();
    let lines = lines.lock().unwrap().clone();

    assert!(
        !out.contains("survived"),
        "allocating 200 MiB under a 32 MiB limit worked: {out}"
    );
    assert!(
        out.lines().any(|l| l == "rc=137"),
        "the allocating shell was not SIGKILLed: {out}"
    );
    let inside_ooms = out.lines().find_map(|l| keyed(l, "oom_kill"));
    assert!(
        inside_ooms.is_some_and(|n| n >= 1),
        "no oom_kill count inside: {out}"
    );
    let host_ooms = keyed(&Cg::host_file(&path, "memory", oom_file), "oom_kill").unwrap();
    assert!(host_ooms >= 1, "host {oom_file} shows no oom_kill");
    assert!(
        oom_event.is_some(),
        "`events` printed no {{\"type\":\"oom\"}}: {lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("\"type\":\"stats\"")),
        "{lines:?}"
    );
    let s = stats(&rt, &id);
    assert!(
        s["memory"]["usage"]["max"].as_u64().unwrap_or(0) >= limit - MIB,
        "peak usage below the limit after OOM: {s}"
    );
    if v2() {
        // memory.events "max": how often usage hit memory.max. (v1 kernels >= 6.15 no longer
        // count memory.failcnt when memsw fails first, so it is not checked there.)
        assert!(
            s["memory"]["usage"]["failcnt"].as_u64().unwrap_or(0) > 0,
            "failcnt after OOM: {s}"
        );
    }
    assert_eq!(
        rt.status(&id),
        "running",
        "only the allocating process should have been killed"
    );
    cg.finish(rt);
}

/// Runs `events` for container `id` in the background; returns the child and its lines so far.
fn spawn_events(rt: &Runtime, id: &str) -> (std::process::Child, Arc<Mutex<Vec<String>>>) {
    let mut ev = rt
        .cmd()
        .args(["events", "--interval", "1s", id])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let stdout = ev.stdout.take().unwrap();
    let sink = lines.clone();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            sink.lock().unwrap().push(l);
        }
    });
    (ev, lines)
}

#[test]
fn events_reports_an_oom_that_kills_init() {
    let cg = Cg::new("oominit");
    let rt = Runtime::new();
    let limit = 32 * MIB;
    let b = bundle(
        "while [ ! -e /tmp/go ]; do sleep 0.1; done; x=$(yes | head -c 200m)",
        &cg.path(""),
        json!({"memory": {"limit": limit, "swap": limit}}),
    );
    let id = start(&rt, &b, "oominit");
    let (mut ev, lines) = spawn_events(&rt, &id);
    wait_for("the first line of `events`", 60, || {
        (!lines.lock().unwrap().is_empty()).then_some(())
    });
    std::fs::write(b.rootfs().join("tmp/go"), "").unwrap();
    rt.wait_status(&id, "stopped");
    let status = wait_for("`events` to end after the container stopped", 30, || {
        ev.try_wait().unwrap()
    });
    let _ = ev.kill();
    let oom_file = if v2() {
        "memory.events"
    } else {
        "memory.oom_control"
    };
    assert!(
        keyed(&Cg::host_file(&cg.path(""), "memory", oom_file), "oom_kill").is_some_and(|n| n >= 1)
    );
    let lines = lines.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.contains("\"type\":\"oom\"")),
        "no oom event ({status}): {lines:?}"
    );
    cg.finish(rt);
}

// --------------------------------------------------------------------------------- cpu

#[test]
fn cpu_weight_quota_and_cpuset_at_flat_and_nested_paths() {
    let cg = Cg::new("cpu");
    let rt = Runtime::new();
    let files: Vec<(&str, &str, &str)> = if v2() {
        // runc's shares → weight conversion: 1 + (1024 - 2) * 9999 / 262142 = 39.
        vec![
            ("cpu", "cpu.weight", "39"),
            ("cpu", "cpu.max", "50000 100000"),
            ("cpuset", "cpuset.cpus", "0"),
            ("cpuset", "cpuset.mems", "0"),
        ]
    } else {
        vec![
            ("cpu", "cpu.shares", "1024"),
            ("cpu", "cpu.cfs_quota_us", "50000"),
            ("cpu", "cpu.cfs_period_us", "100000"),
            ("cpuset", "cpuset.cpus", "0"),
            ("cpuset", "cpuset.mems", "0"),
        ]
    };
    let cats: Vec<String> = files
        .iter()
        .map(|(c, f, _)| format!("cat {}", inside(c, f)))
        .collect();
    // Burn CPU for a second: with half a CPU of quota, periods get throttled.
    let script = format!(
        "{}; grep Cpus_allowed_list /proc/self/status; \
        timeout 1 sh -c 'while :; do :; done'; echo ready; sleep 600",
        cats.join("; ")
    );
    for sub in ["", "a/b"] {
        let path = cg.path(sub);
        let b = bundle(
            &script,
            &path,
            json!({"cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"}}),
        );
        let id = start(&rt, &b, "cpu");
        let out = wait_line(&rt, &id, "ready");
        let lines: Vec<&str> = out.lines().collect();
        for (i, (ctrl, file, want)) in files.iter().enumerate() {
            assert_eq!(
                lines.get(i).copied(),
                Some(*want),
                "{file} inside ({path}): {out}"
            );
            assert_eq!(
                Cg::host_file(&path, ctrl, file),
                *want,
                "{file} on the host ({path})"
            );
        }
        assert_eq!(
            lines[files.len()].split_whitespace().nth(1),
            Some("0"),
            "cpuset not applied: {out}"
        );
        let s = stats(&rt, &id);
        assert!(s["cpu"]["usage"]["total"].as_u64().unwrap_or(0) > 0, "{s}");
        assert!(
            s["cpu"]["throttling"]["throttledPeriods"]
                .as_u64()
                .unwrap_or(0)
                > 0,
            "quota did not throttle: {s}"
        );
        ok(rt.run(&["delete", "--force", &id]));
        assert!(
            !Cg::host_dir(&path, "cpu").exists(),
            "{path} stayed after delete"
        );
    }
    cg.finish(rt);
}

// -------------------------------------------------------------------------------- pids

#[test]
fn pids_limit_makes_fork_fail() {
    let cg = Cg::new("pids");
    let rt = Runtime::new();
    let path = cg.path("");
    let (max, cur, events) = (
        inside("pids", "pids.max"),
        inside("pids", "pids.current"),
        inside("pids", "pids.events"),
    );
    // ash exits on a failed fork, so the forking loop runs in a child shell; the outer shell
    // (pid 1) survives and looks at the result with builtins only (no forks).
    let script = format!(
        "read m < {max}; echo max=$m; \
         sh -c 'n=0; while [ $n -lt 20 ]; do sleep 600 & n=$((n+1)); echo $n > /tmp/started; done' 2>/tmp/err; \
         echo rc=$?; read s < /tmp/started; echo started=$s; read c < {cur}; echo current=$c; \
         read e < /tmp/err; echo \"err=$e\"; read ev < {events}; echo \"events=$ev\"; \
         kill -9 -1; wait; sleep 0 && echo forked-again; echo end"
    );
    let b = bundle(&script, &path, json!({"pids": {"limit": 8}}));
    let out = ok(rt.run_bundle(&b));
    let get = |k: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k}= in {out}"))
    };
    assert_eq!(get("max"), "8", "{out}");
    assert_ne!(
        get("rc"),
        "0",
        "20 background forks all worked under pids.max 8: {out}"
    );
    // pid 1 + the looping shell + 6 sleeps = 8.
    assert_eq!(get("started"), "6", "{out}");
    assert_eq!(
        get("current"),
        "7",
        "the looping shell is gone, its 6 sleeps stay: {out}"
    );
    assert!(get("err").contains("can't fork"), "{out}");
    assert!(
        keyed(get("events"), "max").is_some_and(|n| n >= 1),
        "pids.events shows no refused fork: {out}"
    );
    assert!(
        out.contains("forked-again"),
        "fork failed below the limit: {out}"
    );
    cg.finish(rt);
}

// ---------------------------------------------------------------------------------- io

#[test]
fn io_weight() {
    let cg = Cg::new("io");
    let rt = Runtime::new();
    let path = cg.path("");
    if v2() {
        // BFQ's io.bfq.weight takes the value as is; io.weight gets runc's conversion:
        // 1 + (500 - 10) * 9999 / 990 = 4950.
        let script = "for f in io.bfq.weight io.weight; do \
            if [ -e /sys/fs/cgroup/$f ]; then echo $f; cat /sys/fs/cgroup/$f; break; fi; done; echo ready; sleep 600";
        let b = bundle(script, &path, json!({"blockIO": {"weight": 500}}));
        let id = start(&rt, &b, "io");
        let out = wait_line(&rt, &id, "ready");
        let lines: Vec<&str> = out.lines().collect();
        let want = match lines[0] {
            "io.bfq.weight" => "default 500",
            "io.weight" => "default 4950",
            other => panic!("no io weight file inside: {other}: {out}"),
        };
        assert_eq!(lines[1], want, "{out}");
        assert_eq!(Cg::host_file(&path, "io", lines[0]), want);
    } else {
        // Weight files exist only below the root: look in a fresh child.
        let probe = Cg::host_dir(&path, "blkio");
        std::fs::create_dir(&probe).unwrap();
        let file = ["blkio.bfq.weight", "blkio.weight"]
            .into_iter()
            .find(|f| probe.join(f).exists());
        std::fs::remove_dir(&probe).unwrap();
        let b = bundle(
            "cat /sys/fs/cgroup/blkio/blkio*weight",
            &path,
            json!({"blockIO": {"weight": 500}}),
        );
        match file {
            Some(f) => {
                let out = ok(rt.run_bundle(&b));
                assert!(out.contains("500"), "{f} inside: {out}");
            }
            None => {
                // This kernel has no proportional blkio weight: a clear error naming the file,
                // and nothing half-made.
                let out = rt.run_bundle(&b);
                assert!(
                    !out.status.success(),
                    "blkio weight on a host without the file: {}",
                    stdout(&out)
                );
                let err = stderr(&out);
                assert!(
                    err.contains("blkio.weight") && err.contains("not supported"),
                    "{err}"
                );
                assert!(
                    cg.leftovers().is_empty(),
                    "a failed create left {:?}",
                    cg.leftovers()
                );
                let list = ok(rt.run(&["list", "--quiet"]));
                assert!(
                    list.trim().is_empty(),
                    "a failed create left a container: {list}"
                );
            }
        }
    }
    cg.finish(rt);
}

// ----------------------------------------------------------------------------- devices

#[test]
fn device_rules_deny_and_allow_opening_nodes() {
    let cg = Cg::new("dev");
    let rt = Runtime::new();
    // /tugkmsg (1:11, /dev/kmsg) is in no default rule; /tugzero (1:5) is. CAP_SYSLOG makes the
    // device cgroup the only thing that can refuse to open kmsg.
    let script = "for d in /tugkmsg /tugzero; do \
        (exec 3<$d) 2>/dev/null && echo \"$d r ok\" || echo \"$d r denied\"; \
        (exec 3>$d) 2>/dev/null && echo \"$d w ok\" || echo \"$d w denied\"; done; \
        (exec 3>/tugkmsg) 2>&1 | grep -o 'Operation not permitted'";
    for (n, allow_kmsg) in [false, true].into_iter().enumerate() {
        let path = cg.path(&format!("c{n}"));
        let mut b = bundle(script, &path, json!({}));
        for (name, minor) in [("tugkmsg", 11), ("tugzero", 5)] {
            nix::sys::stat::mknod(
                &b.rootfs().join(name),
                nix::sys::stat::SFlag::S_IFCHR,
                nix::sys::stat::Mode::from_bits_truncate(0o666),
                nix::sys::stat::makedev(1, minor),
            )
            .unwrap();
        }
        b.edit(|c| {
            for set in ["bounding", "effective", "permitted"] {
                c["process"]["capabilities"][set]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("CAP_SYSLOG"));
            }
            if allow_kmsg {
                c["linux"]["resources"]["devices"]
                    .as_array_mut()
                    .unwrap()
                    .push(
                        json!({"allow": true, "type": "c", "major": 1, "minor": 11, "access": "r"}),
                    );
            }
        });
        if allow_kmsg {
            let out = ok(rt.run_bundle(&b));
            assert!(
                out.contains("/tugkmsg r ok"),
                "an allowed device (c 1:11 r) could not be opened: {out}"
            );
            assert!(
                out.contains("/tugkmsg w denied"),
                "access \"r\" let kmsg open for writing: {out}"
            );
            assert!(out.contains("Operation not permitted"), "{out}");
        } else {
            let out = ok(rt.run_bundle(&b));
            assert!(
                out.contains("/tugkmsg r denied") && out.contains("/tugkmsg w denied"),
                "a denied device opened: {out}"
            );
            assert!(out.contains("Operation not permitted"), "{out}");
        }
        let out = ok(rt.run_bundle(&b));
        assert!(
            out.contains("/tugzero r ok") && out.contains("/tugzero w ok"),
            "a default device (1:5) denied: {out}"
        );
        if !v2() {
            // v1: the rules are visible on the host while a container runs.
            let mut b2 = bundle("sleep 600", &path, json!({}));
            b2.edit(|c| {
                if allow_kmsg {
                    c["linux"]["resources"]["devices"].as_array_mut().unwrap()
                        .push(json!({"allow": true, "type": "c", "major": 1, "minor": 11, "access": "r"}));
                }
            });
            let id = start(&rt, &b2, "devlist");
            let list = Cg::host_file(&path, "devices", "devices.list");
            assert!(list.lines().any(|l| l == "c 1:5 rwm"), "{list}");
            assert_eq!(list.lines().any(|l| l == "c 1:11 r"), allow_kmsg, "{list}");
            assert!(!list.contains("a *:* rwm"), "all devices allowed: {list}");
            ok(rt.run(&["delete", "--force", &id]));
        }
    }
    cg.finish(rt);
}

// ------------------------------------------------------------------------- pause/resume

#[test]
fn pause_freezes_and_resume_thaws() {
    let cg = Cg::new("frz");
    let rt = Runtime::new();
    let path = cg.path("a/b");
    let b = bundle(
        "i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done",
        &path,
        json!({}),
    );
    let id = start(&rt, &b, "frz");
    let count = || {
        std::fs::read_to_string(b.rootfs().join("tmp/count"))
            .unwrap_or_default()
            .trim()
            .parse::<u64>()
            .unwrap_or(0)
    };
    let frozen_file = || {
        if v2() {
            Cg::host_file(&path, "", "cgroup.freeze")
        } else {
            Cg::host_file(&path, "freezer", "freezer.state")
        }
    };
    wait_for("the counter to run", 60, || (count() > 2).then_some(()));

    ok(rt.run(&["pause", &id]));
    assert_eq!(rt.status(&id), "paused");
    assert_eq!(frozen_file(), if v2() { "1" } else { "FROZEN" });
    if v2() {
        assert_eq!(
            keyed(&Cg::host_file(&path, "", "cgroup.events"), "frozen"),
            Some(1)
        );
    }
    let before = count();
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(count(), before, "the counter advanced while paused");
    let pause_again = rt.run(&["pause", &id]);
    assert!(
        !pause_again.status.success(),
        "pausing a paused container worked"
    );

    ok(rt.run(&["resume", &id]));
    assert_eq!(rt.status(&id), "running");
    assert_eq!(frozen_file(), if v2() { "0" } else { "THAWED" });
    wait_for("the counter to advance after resume", 60, || {
        (count() > before + 2).then_some(())
    });
    let resume_again = rt.run(&["resume", &id]);
    assert!(
        !resume_again.status.success(),
        "resuming a running container worked"
    );
    cg.finish(rt);
}

// ------------------------------------------------------------------------------ update

#[test]
fn update_changes_the_limits() {
    let cg = Cg::new("upd");
    let rt = Runtime::new();
    let path = cg.path("");
    let b = bundle(
        "echo ready; sleep 600",
        &path,
        json!({"memory": {"limit": 32 * MIB}, "pids": {"limit": 10}}),
    );
    let id = start(&rt, &b, "upd");
    wait_line(&rt, &id, "ready");
    let (mem, quota) = if v2() {
        ("memory.max", "cpu.max")
    } else {
        ("memory.limit_in_bytes", "cpu.cfs_quota_us")
    };
    assert_eq!(Cg::host_file(&path, "memory", mem), (32 * MIB).to_string());
    assert_eq!(Cg::host_file(&path, "pids", "pids.max"), "10");

    ok(rt.run(&[
        "update",
        "--memory",
        "64m",
        "--pids-limit",
        "20",
        "--cpu-quota",
        "25000",
        "--cpu-period",
        "100000",
        &id,
    ]));
    assert_eq!(Cg::host_file(&path, "memory", mem), (64 * MIB).to_string());
    assert_eq!(Cg::host_file(&path, "pids", "pids.max"), "20");
    assert_eq!(
        Cg::host_file(&path, "cpu", quota),
        if v2() { "25000 100000" } else { "25000" }
    );
    let seen = exec_out(
        &rt,
        &id,
        &["cat", &inside("memory", mem), &inside("pids", "pids.max")],
    );
    assert_eq!(seen, format!("{}\n20\n", 64 * MIB), "inside after update");
    let s = stats(&rt, &id);
    assert_eq!(s["memory"]["usage"]["limit"], 64 * MIB, "{s}");
    assert_eq!(s["pids"]["limit"], 20, "{s}");

    // Bad input: a clear error, and the limits stay.
    let bad = rt.run(&["update", "--memory", "lots", &id]);
    assert!(
        !bad.status.success() && stderr(&bad).contains("lots"),
        "{}",
        stderr(&bad)
    );
    assert_eq!(Cg::host_file(&path, "memory", mem), (64 * MIB).to_string());
    cg.finish(rt);
}

// --------------------------------------------------------------------- cgroup namespace

#[test]
fn cgroup_namespace_hides_the_host_tree() {
    let cg = Cg::new("cgns");
    let rt = Runtime::new();
    let path = cg.path("a/b");
    // Directories below the container's own cgroup mount(s): none, whatever the host has.
    let dirs = if v2() {
        "find /sys/fs/cgroup -mindepth 1 -type d"
    } else {
        "find /sys/fs/cgroup -mindepth 2 -type d"
    };
    let script = format!(
        "cat /proc/self/cgroup; echo ---; {dirs}; echo ---; cat {}; echo ready; sleep 600",
        inside(
            "memory",
            if v2() {
                "memory.max"
            } else {
                "memory.limit_in_bytes"
            }
        )
    );
    for cgroupns in [true, false] {
        let mut b = bundle(&script, &path, json!({"memory": {"limit": 40 * MIB}}));
        if !cgroupns {
            b.edit(|c| {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|n| n["type"] != "cgroup")
            });
        }
        let id = start(&rt, &b, "cgns");
        let out = wait_line(&rt, &id, "ready");
        let parts: Vec<&str> = out.split("---\n").collect();
        let proc_cgroup = parts[0];
        assert!(!proc_cgroup.trim().is_empty(), "{out}");
        let want_path = if cgroupns {
            "/".to_string()
        } else {
            path.clone()
        };
        if v2() {
            assert_eq!(
                proc_cgroup.trim(),
                format!("0::{want_path}"),
                "cgroupns={cgroupns}: {out}"
            );
        } else {
            for line in proc_cgroup.lines() {
                let (_, p) = line.rsplit_once(':').unwrap();
                if line.contains(":memory:") || line.contains(":pids:") || line.contains(":cpu:") {
                    assert_eq!(p, want_path, "cgroupns={cgroupns}: {line} in {out}");
                }
                if cgroupns && !line.starts_with("0::") {
                    assert_eq!(p, "/", "cgroupns: {line} in {out}");
                }
            }
        }
        assert_eq!(
            parts[1].trim(),
            "",
            "the container sees cgroup directories (host tree?): {out}"
        );
        assert_eq!(
            parts[2].lines().next(),
            Some((40 * MIB).to_string().as_str()),
            "its own limit at /sys/fs/cgroup: {out}"
        );
        // The host sees the real path.
        let pid = pid_of(&rt, &id);
        let host_view = read(Path::new(&format!("/proc/{pid}/cgroup")));
        let want = if v2() {
            format!("0::{path}")
        } else {
            format!("memory:{path}")
        };
        assert!(
            host_view.lines().any(|l| l.ends_with(&want)),
            "host /proc/{pid}/cgroup: {host_view}"
        );
        ok(rt.run(&["delete", "--force", &id]));
    }
    cg.finish(rt);
}

// ------------------------------------------------------------------------ nested paths

#[test]
fn nested_cgroups_path_is_created_and_removed() {
    let cg = Cg::new("nest");
    let rt = Runtime::new();
    let ctrls = ["memory", "pids", "cpu", "freezer"];
    let mem = if v2() {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    };

    // 1. Nothing exists: /tug-test-X/a/b is made, and all of it removed by delete.
    let path = cg.path("a/b");
    let b = bundle(
        "echo ready; sleep 600",
        &path,
        json!({"memory": {"limit": 24 * MIB}, "pids": {"limit": 30}}),
    );
    let id = start(&rt, &b, "nest");
    wait_line(&rt, &id, "ready");
    let pid = pid_of(&rt, &id);
    for ctrl in ctrls {
        if !v2()
            && ctrl == "freezer"
            && cgroup_mounts()
                .iter()
                .all(|(_, _, o)| !o.iter().any(|o| o == "freezer"))
        {
            continue;
        }
        let procs = Cg::host_file(&path, ctrl, "cgroup.procs");
        assert!(
            procs.lines().any(|l| l == pid.to_string()),
            "init {pid} not in {ctrl} {path}: {procs}"
        );
        if v2() {
            break;
        }
    }
    assert_eq!(Cg::host_file(&path, "memory", mem), (24 * MIB).to_string());
    assert_eq!(Cg::host_file(&path, "pids", "pids.max"), "30");
    if v2() {
        for anc in [cg.path(""), cg.path("a")] {
            let sc = Cg::host_file(&anc, "", "cgroup.subtree_control");
            for c in ["cpu", "memory", "pids", "io", "cpuset"] {
                assert!(
                    sc.split_whitespace().any(|x| x == c),
                    "{c} not delegated in {anc}: {sc}"
                );
            }
        }
    }
    ok(rt.run(&["delete", "--force", &id]));
    assert!(
        cg.leftovers().is_empty(),
        "left after delete: {:?}",
        cg.leftovers()
    );

    // 2. The parent exists (with another child): only what create made goes away.
    let keep: Vec<PathBuf> = if v2() {
        vec![Cg::host_dir(&cg.path("keep"), "")]
    } else {
        cgroup_mounts()
            .into_iter()
            .filter(|(_, t, _)| t == "cgroup")
            .map(|(m, _, _)| m.join(&cg.top).join("keep"))
            .collect()
    };
    for d in &keep {
        std::fs::create_dir_all(d).unwrap();
    }
    let b = bundle(
        "echo ready; sleep 600",
        &path,
        json!({"memory": {"limit": 24 * MIB}}),
    );
    let id = start(&rt, &b, "nest2");
    wait_line(&rt, &id, "ready");
    assert_eq!(Cg::host_file(&path, "memory", mem), (24 * MIB).to_string());
    ok(rt.run(&["delete", "--force", &id]));
    for d in &keep {
        assert!(
            d.is_dir(),
            "a pre-existing cgroup was removed: {}",
            d.display()
        );
        let top = d.parent().unwrap();
        assert!(
            !top.join("a").exists(),
            "{}/a stayed after delete",
            top.display()
        );
    }
    cg.remove_all();
    cg.finish(rt);
}

// ------------------------------------------------------------------------ ps / kill --all

#[test]
fn ps_lists_the_processes_and_kill_all_ends_them() {
    let cg = Cg::new("ps");
    let rt = Runtime::new();
    let path = cg.path("");
    let b = bundle(
        "sleep 601 & sleep 602 & sleep 603 & echo ready; wait",
        &path,
        json!({}),
    );
    let id = start(&rt, &b, "ps");
    wait_line(&rt, &id, "ready");
    let listed = || -> Vec<i64> {
        serde_json::from_str(ok(rt.run(&["ps", "--format", "json", &id])).trim()).unwrap()
    };
    let pids = wait_for("4 processes in ps", 60, || {
        Some(listed()).filter(|p| p.len() == 4)
    });
    let mut host: Vec<i64> = Cg::host_file(&path, "pids", "cgroup.procs")
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    host.sort();
    let mut sorted = pids.clone();
    sorted.sort();
    assert_eq!(sorted, host, "ps differs from the cgroup's processes");
    let mut names: Vec<String> = pids
        .iter()
        .map(|p| {
            read(Path::new(&format!("/proc/{p}/comm")))
                .trim()
                .to_string()
        })
        .collect();
    names.sort();
    assert_eq!(names, ["sh", "sleep", "sleep", "sleep"]);
    assert!(pids.contains(&pid_of(&rt, &id)));

    ok(rt.run(&["kill", "--all", &id, "KILL"]));
    rt.wait_status(&id, "stopped");
    let alive = |p: &i64| {
        std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| !r.trim_start().starts_with('Z'))
        })
    };
    wait_for("every process to end", 30, || {
        (!pids.iter().any(alive)).then_some(())
    });
    assert_eq!(
        Cg::host_file(&path, "pids", "cgroup.procs"),
        "",
        "processes left in the cgroup"
    );
    assert_eq!(listed(), Vec::<i64>::new());
    ok(rt.run(&["delete", &id]));
    cg.finish(rt);
}
