//! The engine through the real docker CLI: `tug daemon` on a private socket, an image pulled
//! from a local registry, and containers run, logged, stopped and removed as Docker users do.

mod common;
#[path = "../../image/tests/common/mod.rs"]
mod img;

use common::*;

mod daemon;
use daemon::*;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn docker_pull_run_logs_stop_rm() {
    let reg = img::Registry::start(false);
    let t = tempfile::tempdir().unwrap();
    let image = busybox_in_registry(&reg, t.path());
    let d = Daemon::start();

    let pulled = d.ok(&["pull", &image]);
    assert!(pulled.contains("Downloaded newer image"), "{pulled}");
    assert!(
        d.ok(&["images"]).contains("tug/busybox"),
        "image not listed"
    );

    assert_eq!(
        d.ok(&["run", "--rm", &image, "echo", "hello from tug"]),
        "hello from tug\n"
    );
    let o = d.docker(&[
        "run",
        "--rm",
        &image,
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(stdout(&o), "out\n");
    assert_eq!(stderr(&o), "err\n");

    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        &image,
        "sh",
        "-c",
        "echo started; exec sleep 60",
    ]);
    assert_eq!(id.trim().len(), 64);
    let ps = d.ok(&["ps"]);
    assert!(ps.contains("web") && ps.contains("Up"), "{ps}");
    for _ in 0..100 {
        if d.ok(&["logs", "web"]) == "started\n" {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(d.ok(&["logs", "web"]), "started\n");
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.State.Running}} {{.Config.Tty}} {{.Name}}",
            "web"
        ])
        .trim(),
        "true false /web"
    );
    let rm = d.docker(&["rm", "web"]);
    assert!(
        !rm.status.success() && stderr(&rm).contains("running"),
        "{}",
        stderr(&rm)
    );
    d.ok(&["stop", "-t", "1", "web"]);
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "web"
        ])
        .trim(),
        "exited 137"
    );
    d.ok(&["rm", "web"]);
    assert!(!d.ok(&["ps", "-a"]).contains("web"));

    let nope = d.docker(&["rm", "nosuch"]);
    assert!(
        stderr(&nope).contains("No such container: nosuch"),
        "{}",
        stderr(&nope)
    );
    let nope = d.docker(&["inspect", "nosuch"]);
    assert!(
        stderr(&nope).contains("No such object: nosuch"),
        "{}",
        stderr(&nope)
    );
}

#[test]
fn stdin_is_piped_through_attach() {
    let reg = img::Registry::start(false);
    let t = tempfile::tempdir().unwrap();
    let image = busybox_in_registry(&reg, t.path());
    let d = Daemon::start();
    d.ok(&["pull", "-q", &image]);
    let mut child = Command::new("docker")
        .env("DOCKER_HOST", format!("unix://{}", d.sock().display()))
        .args([
            "run",
            "--rm",
            "-i",
            &image,
            "sh",
            "-c",
            "read x; echo got:$x",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"piped\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(stdout(&o), "got:piped\n", "{}", stderr(&o));
}

#[test]
fn containers_survive_a_daemon_kill() {
    let reg = img::Registry::start(false);
    let t = tempfile::tempdir().unwrap();
    let image = busybox_in_registry(&reg, t.path());
    let mut d = Daemon::start();
    d.ok(&["pull", "-q", &image]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "keep",
        &image,
        "sh",
        "-c",
        "echo before; sleep 2; echo after; exit 7",
    ]);
    let pid = d
        .ok(&["inspect", "-f", "{{.State.Pid}}", "keep"])
        .trim()
        .to_string();
    d.kill9();
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the container died with the daemon"
    );
    d.spawn();
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Running}}", "keep"])
            .trim(),
        "true"
    );
    assert_eq!(d.ok(&["wait", "keep"]).trim(), "7");
    assert_eq!(d.ok(&["logs", "keep"]), "before\nafter\n");
}
