//! A private `tug daemon` for tests driven through the real docker CLI, a busybox image in a
//! local registry, and cleanup of everything the daemon made (containers, mounts, cgroups).
#![allow(dead_code)]

use super::common::*;
use super::img;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Daemon {
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    cgroup_parent: String,
    /// This daemon's own default bridge (and its nftables table), so that daemons of tests
    /// running at once never share addresses, and all of it goes with the daemon.
    pub bridge: String,
    pub bridge_ip: String,
    /// Extra environment of the daemon process.
    env: Vec<(String, String)>,
    /// More `tug daemon` arguments (listeners, config file, runtimes).
    pub extra: Vec<String>,
}

/// A bridge name and a /24 of 10.128.0.0/9 unique to this test process and daemon.
fn own_bridge() -> (String, String) {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let pid = std::process::id();
    let n = (pid * 8 + k) % (128 * 256);
    (
        format!("tugt{pid}n{k}"),
        format!("10.{}.{}.1/24", 128 + n / 256, n % 256),
    )
}

impl Daemon {
    pub fn start() -> Daemon {
        Daemon::start_with_env(&[])
    }

    /// A daemon started with more arguments.
    pub fn start_with_args(args: &[&str]) -> Daemon {
        let mut d = Daemon::new_with_env(&[]);
        d.extra = args.iter().map(|s| s.to_string()).collect();
        d.spawn();
        d
    }

    /// A daemon with extra environment variables (e.g. `SSL_CERT_FILE`).
    pub fn start_with_env(env: &[(&str, &str)]) -> Daemon {
        let mut d = Daemon::new_with_env(env);
        d.spawn();
        d
    }

    fn new_with_env(env: &[(&str, &str)]) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("tug-e2e-")
            .tempdir()
            .unwrap();
        let (bridge, bridge_ip) = own_bridge();
        Daemon {
            dir,
            child: None,
            cgroup_parent: format!("tug-e2e-{}", std::process::id()),
            bridge,
            bridge_ip,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            extra: Vec::new(),
        }
    }

    pub fn sock(&self) -> PathBuf {
        self.dir.path().join("tug.sock")
    }

    pub fn spawn(&mut self) {
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
            .args(&self.extra)
            .env("TUG_BRIDGE", &self.bridge)
            .env("TUG_BIP", &self.bridge_ip)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
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

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .env("DOCKER_HOST", format!("unix://{}", self.sock().display()))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
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
            // User-defined networks: their bridges and firewall tables go with them.
            let nets = self.docker(&["network", "ls", "-q", "--filter", "type=custom"]);
            for id in stdout(&nets).split_whitespace() {
                let _ = self.docker(&["network", "rm", id]);
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
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(Stdio::null())
            .status();
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &format!("tug_{}", self.bridge)])
            .stderr(Stdio::null())
            .status();
    }
}

/// This process's cgroup path in one v1 hierarchy (relative, no leading '/').
pub fn own_cgroup(controller: &str) -> String {
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
pub fn busybox_in_registry(reg: &img::Registry, t: &std::path::Path) -> String {
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
