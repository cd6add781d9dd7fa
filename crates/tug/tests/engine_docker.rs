//! The engine through the real docker CLI: `tug daemon` on a private socket, an image pulled
//! from a local registry, and containers run, logged, stopped and removed as Docker users do.

mod common;
#[path = "../../image/tests/common/mod.rs"]
mod img;

use common::*;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Daemon {
    dir: tempfile::TempDir,
    child: Option<Child>,
    cgroup_parent: String,
}

impl Daemon {
    fn start() -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("tug-e2e-")
            .tempdir()
            .unwrap();
        let mut d = Daemon {
            dir,
            child: None,
            cgroup_parent: format!("tug-e2e-{}", std::process::id()),
        };
        d.spawn();
        d
    }

    fn sock(&self) -> PathBuf {
        self.dir.path().join("tug.sock")
    }

    fn spawn(&mut self) {
        let d = self.dir.path();
        let child = Command::new(TUG)
            .arg("daemon")
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("-H")
            .arg(format!("unix://{}", self.sock().display()))
            .arg("--cgroup-parent")
            .arg(&self.cgroup_parent)
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(d.join("daemon.log"))
                    .unwrap(),
            )
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.docker(&["version"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "tug daemon did not answer: {}",
                std::fs::read_to_string(d.join("daemon.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .env("DOCKER_HOST", format!("unix://{}", self.sock().display()))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.docker(args);
        assert!(
            o.status.success(),
            "docker {args:?} failed ({:?}): {}{}",
            o.status,
            stdout(&o),
            stderr(&o)
        );
        stdout(&o)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            let ids = self.docker(&["ps", "-aq"]);
            for id in stdout(&ids).split_whitespace() {
                let _ = self.docker(&["rm", "-f", id]);
            }
        }
        self.kill9();
        // Anything still mounted under our directory (a failed test) goes too.
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let root = self.dir.path().to_string_lossy().to_string();
        let mut ours: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&root))
            .collect();
        ours.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in ours {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
        for h in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            for base in [
                h.path(),
                h.path().join(own_cgroup(&h.file_name().to_string_lossy())),
            ] {
                let _ = std::fs::remove_dir(base.join(&self.cgroup_parent));
            }
        }
        let _ = std::fs::remove_dir(PathBuf::from("/sys/fs/cgroup").join(&self.cgroup_parent));
    }
}

/// This process's cgroup path in one v1 hierarchy (relative, no leading '/').
fn own_cgroup(controller: &str) -> String {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    text.lines()
        .find_map(|l| {
            let mut p = l.splitn(3, ':');
            let (_, c, path) = (p.next()?, p.next()?, p.next()?);
            c.split(',')
                .any(|x| x == controller)
                .then(|| path.trim_start_matches('/').to_string())
        })
        .unwrap_or_default()
}

/// A busybox image in a local registry, pushed by skopeo; returns its reference.
fn busybox_in_registry(reg: &img::Registry, t: &std::path::Path) -> String {
    let layout = t.join("layout");
    img::make_layout(
        &layout,
        "v1",
        &[img::TestImage {
            arch: "amd64",
            layers: vec![img::busybox_layer()],
        }],
    );
    let src = format!("oci:{}:v1", layout.display());
    let reference = format!("{}/tug/busybox:v1", reg.addr);
    img::skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &src,
        &format!("docker://{reference}"),
    ]);
    reference
}

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
