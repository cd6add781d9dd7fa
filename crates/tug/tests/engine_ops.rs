//! Operations on running containers through the real docker CLI: pause/unpause, rename,
//! top, stats and exec, against `tug daemon` on a private socket.

mod common;
#[path = "../../image/tests/common/mod.rs"]
mod img;

use common::*;

mod daemon;
use daemon::*;
use std::process::{Command, Stdio};
use std::time::Duration;

fn setup() -> (img::Registry, tempfile::TempDir, String, Daemon) {
    let reg = img::Registry::start(false);
    let t = tempfile::tempdir().unwrap();
    let image = busybox_in_registry(&reg, t.path());
    let d = Daemon::start();
    d.ok(&["pull", "-q", &image]);
    (reg, t, image, d)
}

fn fails_with(d: &Daemon, args: &[&str], needle: &str) {
    let o = d.docker(args);
    assert!(
        !o.status.success(),
        "docker {args:?} succeeded: {}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains(needle),
        "docker {args:?}: expected {needle:?} in {}",
        stderr(&o)
    );
}

/// One API call through curl; the response body.
fn api(d: &Daemon, method: &str, path: &str, body: Option<&str>) -> String {
    let mut c = Command::new("curl");
    c.args(["-s", "-m", "10", "-X", method, "--unix-socket"])
        .arg(d.sock())
        .arg(format!("http://x/v1.44{path}"));
    if let Some(b) = body {
        c.args(["-H", "Content-Type: application/json", "-d", b]);
    }
    stdout(&c.output().unwrap())
}

fn lines(d: &Daemon, name: &str) -> usize {
    d.ok(&["logs", name]).lines().count()
}

#[test]
fn pause_unpause_rename_top_stats() {
    let (_reg, _t, image, d) = setup();
    d.ok(&[
        "run",
        "-d",
        "-m",
        "64m",
        "--name",
        "count",
        &image,
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo $i; sleep 0.1; done",
    ]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(lines(&d, "count") > 0, "the counter does not run");

    // unpause of a running container, pause twice
    fails_with(&d, &["unpause", "count"], "is not paused");
    d.ok(&["pause", "count"]);
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.Paused}}",
            "count"
        ])
        .trim(),
        "paused true"
    );
    assert!(d.ok(&["ps"]).contains("(Paused)"));
    fails_with(&d, &["pause", "count"], "already paused");
    fails_with(&d, &["exec", "count", "true"], "is paused");
    std::thread::sleep(Duration::from_millis(300));
    let frozen = lines(&d, "count");
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(lines(&d, "count"), frozen, "the counter ran while paused");

    d.ok(&["unpause", "count"]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "count"])
            .trim(),
        "running"
    );
    std::thread::sleep(Duration::from_millis(1000));
    assert!(lines(&d, "count") > frozen, "the counter did not resume");

    // top
    let top = d.ok(&["top", "count"]);
    let mut rows = top.lines();
    let head = rows.next().unwrap_or_default();
    assert!(head.contains("PID") && head.contains("CMD"), "{top}");
    assert!(
        rows.any(|l| l.contains("sh -c i=0")),
        "container process missing from top: {top}"
    );
    assert!(
        !top.contains("tug daemon"),
        "top shows host processes: {top}"
    );
    let top = d.ok(&["top", "count", "-o", "pid,comm"]);
    assert!(top.starts_with("PID") && top.contains("sh"), "{top}");

    // stats
    let s = d.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}}|{{.MemUsage}}|{{.PIDs}}|{{.CPUPerc}}",
        "count",
    ]);
    let f: Vec<&str> = s.trim().split('|').collect();
    assert_eq!(f.len(), 4, "{s}");
    assert_eq!(f[0], "count", "{s}");
    let (usage, limit) = f[1].split_once(" / ").expect("usage / limit");
    assert_eq!(limit.trim(), "64MiB", "{s}");
    assert!(!usage.trim().starts_with("0B"), "no memory usage: {s}");
    assert!(f[2].trim().parse::<u32>().unwrap_or(0) >= 1, "{s}");
    assert!(f[3].ends_with('%'), "{s}");

    // a stream of stats from the API: at least two objects, with precpu from the first
    let o = Command::new("curl")
        .args(["-s", "-m", "3", "--unix-socket"])
        .arg(d.sock())
        .arg("http://x/v1.44/containers/count/stats")
        .output()
        .unwrap();
    let text = stdout(&o);
    let objs: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(objs.len() >= 2, "{text}");
    assert_eq!(objs[1]["preread"], objs[0]["read"]);
    assert!(
        objs[1]["cpu_stats"]["system_cpu_usage"]
            .as_u64()
            .unwrap_or(0)
            > 0
    );
    assert!(objs[1]["precpu_stats"]["cpu_usage"]["total_usage"]
        .as_u64()
        .is_some());

    // rename
    d.ok(&[
        "run",
        "-d",
        "--name",
        "other",
        &image,
        "sh",
        "-c",
        "exec sleep 100",
    ]);
    d.ok(&["rename", "count", "renamed"]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.Name}}", "renamed"]).trim(),
        "/renamed"
    );
    fails_with(&d, &["inspect", "count"], "No such object");
    fails_with(&d, &["rename", "other", "renamed"], "is already in use");
    fails_with(&d, &["rename", "nosuch", "ex"], "No such container");

    // paused then force-removed, and pause of a stopped container
    d.ok(&["pause", "renamed"]);
    d.ok(&["rm", "-f", "renamed"]);
    d.ok(&["stop", "-t", "0", "other"]);
    fails_with(&d, &["pause", "other"], "is not running");
    fails_with(&d, &["top", "other"], "is not running");
}

#[test]
fn exec_runs_in_the_container() {
    let (_reg, _t, image, d) = setup();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ex",
        &image,
        "sh",
        "-c",
        "exec sleep 1000",
    ]);

    assert_eq!(d.ok(&["exec", "ex", "echo", "hi"]), "hi\n");
    let o = d.docker(&["exec", "ex", "sh", "-c", "echo out; echo err >&2; exit 5"]);
    assert_eq!(o.status.code(), Some(5));
    assert_eq!(stdout(&o), "out\n");
    assert_eq!(stderr(&o), "err\n");
    assert_eq!(
        d.ok(&[
            "exec",
            "-e",
            "FOO=bar",
            "-w",
            "/tmp",
            "-u",
            "1000:1000",
            "ex",
            "sh",
            "-c",
            "echo $FOO $(pwd) $(id -u):$(id -g)",
        ]),
        "bar /tmp 1000:1000\n"
    );
    // the process lives in the container's pid namespace: the container's init is pid 1
    let init = d.ok(&["exec", "ex", "cat", "/proc/1/cmdline"]);
    assert!(init.contains("sleep"), "{init:?}");

    // -i with piped stdin
    let mut child = Command::new("docker")
        .env("DOCKER_HOST", format!("unix://{}", d.sock().display()))
        .args(["exec", "-i", "ex", "sh", "-c", "read a; echo got:$a; cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"piped\nrest\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(stdout(&o), "got:piped\nrest\n", "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(0));

    // -t: output through a terminal (CRLF line endings)
    let o = d.docker(&["exec", "-t", "ex", "sh", "-c", "test -t 1 && echo tty"]);
    assert_eq!(stdout(&o), "tty\r\n", "{}", stderr(&o));

    // a tty exec started detached through the API, resized while it runs
    let created = api(
        &d,
        "POST",
        "/containers/ex/exec",
        Some(r#"{"Tty":true,"Cmd":["sh","-c","sleep 1; stty size > /tmp/size"]}"#),
    );
    let eid = serde_json::from_str::<serde_json::Value>(&created).unwrap()["Id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_string();
    api(
        &d,
        "POST",
        &format!("/exec/{eid}/start"),
        Some(r#"{"Detach":true,"Tty":true}"#),
    );
    let running = api(&d, "GET", &format!("/exec/{eid}/json"), None);
    let v: serde_json::Value = serde_json::from_str(&running).unwrap();
    assert_eq!(v["Running"], true, "{running}");
    assert!(v["Pid"].as_i64().unwrap_or(0) > 0, "{running}");
    let execs = d.ok(&["inspect", "-f", "{{json .ExecIDs}}", "ex"]);
    assert!(execs.contains(&eid), "{execs}");
    api(&d, "POST", &format!("/exec/{eid}/resize?h=33&w=77"), None);
    let mut v = serde_json::Value::Null;
    for _ in 0..50 {
        v = serde_json::from_str(&api(&d, "GET", &format!("/exec/{eid}/json"), None)).unwrap();
        if v["Running"] == false {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(v["ExitCode"], 0, "{v}");
    assert_eq!(d.ok(&["exec", "ex", "cat", "/tmp/size"]), "33 77\n");
    let again = api(&d, "POST", &format!("/exec/{eid}/start"), Some("{}"));
    assert!(again.contains("already"), "{again}");
    let nope = api(&d, "GET", "/exec/nosuch/json", None);
    assert!(nope.contains("No such exec instance"), "{nope}");

    // -d: runs on after the client is gone
    d.ok(&[
        "exec",
        "-d",
        "ex",
        "sh",
        "-c",
        "sleep 0.3; echo done > /tmp/d",
    ]);
    let mut got = String::new();
    for _ in 0..50 {
        let o = d.docker(&["exec", "ex", "cat", "/tmp/d"]);
        got = stdout(&o);
        if o.status.success() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(got, "done\n");

    // a missing command is the process's failure, not the daemon's
    let o = d.docker(&["exec", "ex", "/no/such/binary"]);
    assert_ne!(o.status.code(), Some(0));

    fails_with(&d, &["exec", "nosuch", "true"], "No such container: nosuch");
    d.ok(&["stop", "-t", "0", "ex"]);
    fails_with(&d, &["exec", "ex", "true"], "is not running");
}
