//! Shared test support: busybox bundles, a private runtime state root, and cleanup that runs
//! even when a test fails.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const TUG: &str = env!("CARGO_BIN_EXE_tug");
pub const BUSYBOX: &str = "/usr/bin/busybox";

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A unique container id that names tug (so leftovers are easy to spot).
pub fn unique_id(tag: &str) -> String {
    format!(
        "tug-test-{tag}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

/// A bundle directory with a busybox rootfs and an editable config.
pub struct Bundle {
    pub dir: tempfile::TempDir,
    pub config: Value,
}

impl Bundle {
    pub fn new(args: &[&str]) -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("tug-bundle-")
            .tempdir()
            .unwrap();
        let rootfs = dir.path().join("rootfs");
        for d in ["bin", "proc", "sys", "dev", "tmp", "etc", "root"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).unwrap();
        let list = Command::new(BUSYBOX).arg("--list").output().unwrap();
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet));
        }
        std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
        let out = Command::new(TUG)
            .args(["runtime", "spec", "--bundle"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "spec failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut config: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap())
                .unwrap();
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(args);
        config["root"]["readonly"] = json!(false);
        let mut b = Bundle { dir, config };
        b.save();
        b
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    pub fn save(&mut self) {
        std::fs::write(
            self.dir.path().join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }

    /// Edit the config and write it back.
    pub fn edit(&mut self, f: impl FnOnce(&mut Value)) -> &mut Self {
        f(&mut self.config);
        self.save();
        self
    }
}

/// A private runtime state root; every container made through it is force-deleted on drop.
pub struct Runtime {
    pub root: tempfile::TempDir,
    ids: std::cell::RefCell<Vec<String>>,
}

impl Runtime {
    pub fn new() -> Runtime {
        Runtime {
            root: tempfile::Builder::new()
                .prefix("tug-runtime-root-")
                .tempdir()
                .unwrap(),
            ids: Default::default(),
        }
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(TUG);
        c.arg("runtime").arg("--root").arg(self.root.path());
        c
    }

    /// Remember an id so it is deleted at the end.
    pub fn track(&self, id: &str) {
        self.ids.borrow_mut().push(id.to_string());
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let mut c = self.cmd();
        c.args(args).stdin(Stdio::null());
        c.output().unwrap()
    }

    /// `run` a bundle in the foreground and return its output.
    pub fn run_bundle(&self, bundle: &Bundle) -> Output {
        let id = unique_id("run");
        self.track(&id);
        let mut c = self.cmd();
        c.args(["run", "--bundle"])
            .arg(bundle.path())
            .arg(&id)
            .stdin(Stdio::null());
        c.output().unwrap()
    }

    pub fn create(&self, bundle: &Bundle, tag: &str) -> String {
        let id = unique_id(tag);
        self.track(&id);
        let out = self.create_cmd(&[], bundle, &id);
        assert!(out.status.success(), "create failed: {}", stderr(&out));
        id
    }

    /// `create` with extra flags. The container keeps the stdio it is given, so it gets files
    /// (a pipe would stay open until the container ends); their content is returned.
    pub fn create_cmd(&self, flags: &[&str], bundle: &Bundle, id: &str) -> Output {
        let out_path = self.root.path().join(format!("{id}.out"));
        let err_path = self.root.path().join(format!("{id}.err"));
        let status = self
            .cmd()
            .arg("create")
            .args(flags)
            .arg("--bundle")
            .arg(bundle.path())
            .arg(id)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .status()
            .unwrap();
        Output {
            status,
            stdout: std::fs::read(&out_path).unwrap(),
            stderr: std::fs::read(&err_path).unwrap(),
        }
    }

    /// What a container created by `create`/`create_cmd` wrote to its stdout so far.
    pub fn container_stdout(&self, id: &str) -> String {
        std::fs::read_to_string(self.root.path().join(format!("{id}.out"))).unwrap_or_default()
    }

    pub fn state(&self, id: &str) -> Value {
        let out = self.run(&["state", id]);
        assert!(out.status.success(), "state failed: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap().to_string()
    }

    pub fn wait_status(&self, id: &str, want: &str) {
        for _ in 0..500 {
            let out = self.run(&["state", id]);
            let st: Option<Value> = serde_json::from_slice(&out.stdout).ok();
            if st.is_some_and(|s| s["status"] == want) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!(
            "container {id} never reached status {want}: {}",
            self.status(id)
        );
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self
                .cmd()
                .args(["delete", "--force", id])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert success and return stdout.
pub fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "failed ({:?}): stdout: {} stderr: {}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// A /proc/self/status capability line ("CapEff") as a bit mask.
pub fn cap_mask(status: &str, field: &str) -> u64 {
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

pub fn is_cgroup2_host() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false)
}
