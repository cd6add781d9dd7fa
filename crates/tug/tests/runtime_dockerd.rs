//! runc compatibility for real: Debian's dockerd (through containerd and its runc shim) drives
//! `tug-runc` as an extra runtime. Runs on a private socket, data root and containerd namespace.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Dockerd {
    dir: tempfile::TempDir,
    child: Child,
    cgroup_parent: String,
}

impl Dockerd {
    fn start() -> Dockerd {
        let dir = tempfile::Builder::new()
            .prefix("tug-dockerd-")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path();
        std::os::unix::fs::symlink(TUG, d.join("tug-runc")).unwrap();
        let cgroup_parent = format!("/tug-dockerd-test-{}", std::process::id());
        let config = serde_json::json!({
            "runtimes": {"tug": {"path": d.join("tug-runc")}},
            "bridge": "none", "iptables": false, "ip-masq": false, "ip-forward": false,
            "storage-driver": "vfs",
            "data-root": d.join("data"), "exec-root": d.join("exec"),
            "pidfile": d.join("docker.pid"), "hosts": [format!("unix://{}", d.join("docker.sock").display())],
            "containerd-namespace": format!("tugtest{}", std::process::id()),
            "containerd-plugins-namespace": format!("tugtestp{}", std::process::id()),
            "cgroup-parent": cgroup_parent,
        });
        std::fs::write(d.join("daemon.json"), config.to_string()).unwrap();
        let child = Command::new("dockerd")
            .arg("--config-file")
            .arg(d.join("daemon.json"))
            .stdout(std::fs::File::create(d.join("dockerd.log")).unwrap())
            .stderr(Stdio::from(
                std::fs::File::create(d.join("dockerd.err")).unwrap(),
            ))
            .spawn()
            .expect("dockerd (Debian's docker.io) must be installed: scripts/deps.sh installs it");
        let dk = Dockerd {
            dir,
            child,
            cgroup_parent,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while dk
            .docker(&["version", "--format", "{{.Server.Version}}"])
            .status
            .code()
            != Some(0)
        {
            assert!(
                Instant::now() < deadline,
                "dockerd did not start: {}",
                std::fs::read_to_string(dk.dir.path().join("dockerd.err")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        dk
    }

    fn sock(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .env("DOCKER_HOST", format!("unix://{}", self.sock().display()))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let _ = self.docker(&["rm", "-f", "tugc1"]);
        // SAFETY: SIGTERM to the dockerd we started; it stops its containerd too.
        unsafe { libc_kill(self.child.id() as i32, 15) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = Command::new("umount")
            .arg("-R")
            .arg(self.dir.path().join("exec"))
            .stderr(Stdio::null())
            .status();
        for h in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            remove_cgroup_tree(&h.path().join(self.cgroup_parent.trim_start_matches('/')));
        }
        remove_cgroup_tree(
            &Path::new("/sys/fs/cgroup").join(self.cgroup_parent.trim_start_matches('/')),
        );
    }
}

fn remove_cgroup_tree(p: &Path) {
    if let Ok(entries) = std::fs::read_dir(p) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_cgroup_tree(&e.path());
            }
        }
        let _ = std::fs::remove_dir(p);
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

fn out(o: std::process::Output) -> String {
    assert!(
        o.status.success(),
        "docker failed: {}{}",
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

#[test]
fn dockerd_runs_containers_through_tug_runc() {
    let dk = Dockerd::start();
    let b = Bundle::new(&["true"]);
    let tar = Command::new("tar")
        .arg("-C")
        .arg(b.rootfs())
        .args(["-c", "."])
        .output()
        .unwrap();
    let mut import = Command::new("docker")
        .env("DOCKER_HOST", format!("unix://{}", dk.sock().display()))
        .args(["import", "-", "tugbusybox:1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(import.stdin.as_mut().unwrap(), &tar.stdout).unwrap();
    drop(import.stdin.take());
    assert!(import.wait().unwrap().success());

    let o = out(dk.docker(&[
        "run",
        "--rm",
        "--runtime",
        "tug",
        "tugbusybox:1",
        "sh",
        "-c",
        "echo hi from tug; cat /proc/self/status | grep NoNewPrivs; echo $$",
    ]));
    assert_eq!(o, "hi from tug\nNoNewPrivs:\t0\n1\n");
    let o = dk.docker(&[
        "run",
        "--rm",
        "--runtime",
        "tug",
        "tugbusybox:1",
        "sh",
        "-c",
        "exit 42",
    ]);
    assert_eq!(o.status.code(), Some(42));

    out(dk.docker(&[
        "run",
        "-d",
        "--name",
        "tugc1",
        "--runtime",
        "tug",
        "tugbusybox:1",
        "sleep",
        "300",
    ]));
    let inspect = out(dk.docker(&[
        "inspect",
        "--format",
        "{{.HostConfig.Runtime}} {{.State.Status}}",
        "tugc1",
    ]));
    assert_eq!(inspect.trim(), "tug running");
    assert_eq!(
        out(dk.docker(&["exec", "tugc1", "sh", "-c", "echo exec ok"])),
        "exec ok\n"
    );
    let top = out(dk.docker(&["top", "tugc1"]));
    assert!(top.contains("sleep 300"), "{top}");
    out(dk.docker(&["pause", "tugc1"]));
    assert_eq!(
        out(dk.docker(&["inspect", "--format", "{{.State.Status}}", "tugc1"])).trim(),
        "paused"
    );
    out(dk.docker(&["unpause", "tugc1"]));
    out(dk.docker(&["update", "--memory", "64m", "--memory-swap", "64m", "tugc1"]));
    let stats = out(dk.docker(&["stats", "--no-stream", "--format", "{{.MemUsage}}", "tugc1"]));
    assert!(
        stats.contains("64MiB"),
        "memory limit not visible to docker stats: {stats}"
    );
    out(dk.docker(&["stop", "-t", "1", "tugc1"]));
    assert_eq!(
        out(dk.docker(&["inspect", "--format", "{{.State.Status}}", "tugc1"])).trim(),
        "exited"
    );
    out(dk.docker(&["rm", "tugc1"]));
}
