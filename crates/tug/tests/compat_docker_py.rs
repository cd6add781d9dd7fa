//! docker-py (the Python `docker` package) against a private `tug daemon`: the scripts in
//! tests/py/ do what users of the library do (images, containers, exec, attach, logs, archives,
//! volumes, networks, events) and check what they observe; each prints `ALL OK` when every
//! check passed. Results are cross-checked here through the docker CLI.

mod common;
mod daemon;
#[path = "../../image/tests/common/mod.rs"]
mod img;

use common::*;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// A busybox root filesystem tar with every applet linked, root and an `app` user.
pub fn busybox_rootfs() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let header = |kind: tar::EntryType, mode: u32, size: u64| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h
    };
    for d in [
        "bin", "etc", "tmp", "root", "proc", "sys", "dev", "home/app",
    ] {
        let mut h = header(tar::EntryType::Directory, 0o755, 0);
        b.append_data(&mut h, d, std::io::empty()).unwrap();
    }
    let data = std::fs::read(BUSYBOX).unwrap();
    let mut h = header(tar::EntryType::Regular, 0o755, data.len() as u64);
    b.append_data(&mut h, "bin/busybox", data.as_slice())
        .unwrap();
    let list = Command::new(BUSYBOX).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            let mut h = header(tar::EntryType::Symlink, 0o777, 0);
            b.append_link(&mut h, format!("bin/{applet}"), "busybox")
                .unwrap();
        }
    }
    for (p, c) in [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
        ),
        ("etc/group", "root:x:0:\napp:x:1000:\n"),
    ] {
        let mut h = header(tar::EntryType::Regular, 0o644, c.len() as u64);
        b.append_data(&mut h, p, c.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

/// A private daemon with `busybox:latest` (every applet) imported.
fn daemon_with_busybox() -> daemon::Daemon {
    let d = daemon::Daemon::start();
    let mut ch = Command::new(TUG)
        .env_remove("DOCKER_HOST")
        .arg("-H")
        .arg(host(&d))
        .args(["import", "-", "busybox:latest"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    ch.stdin
        .take()
        .unwrap()
        .write_all(&busybox_rootfs())
        .unwrap();
    let o = ch.wait_with_output().unwrap();
    assert!(o.status.success(), "import: {}", stderr(&o));
    d
}

fn host(d: &daemon::Daemon) -> String {
    format!("unix://{}", d.sock().display())
}

/// Runs tests/py/SCRIPT with the daemon's address and ARGS; asserts it got to `ALL OK`.
fn py(d: &daemon::Daemon, script: &str, args: &[&str]) -> Output {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(script);
    let o = Command::new("python3")
        .arg(&path)
        .arg(host(d))
        .args(args)
        .env_remove("DOCKER_HOST")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        o.status.success() && stdout(&o).contains("ALL OK"),
        "{script} failed ({:?}):\n{}\n{}\ndaemon log:\n{}",
        o.status,
        stdout(&o),
        stderr(&o),
        std::fs::read_to_string(d.dir.path().join("daemon.log"))
            .unwrap_or_default()
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .join("\n")
    );
    o
}

#[test]
fn docker_py_containers() {
    let d = daemon_with_busybox();
    let host_dir = tempfile::tempdir().unwrap();
    std::fs::write(host_dir.path().join("greeting"), "from the host\n").unwrap();
    let port = img::free_port();
    py(
        &d,
        "containers.py",
        &[host_dir.path().to_str().unwrap(), &port.to_string()],
    );
    // The script removed what it made; the docker CLI sees the same.
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    assert!(!d.ok(&["volume", "ls", "-q"]).contains("pywww"));
    assert!(
        std::fs::read_dir(host_dir.path()).unwrap().count() == 1,
        "the read-only bind mount was written"
    );
}

#[test]
fn docker_py_images() {
    let reg = img::Registry::start(false);
    let t = tempfile::tempdir().unwrap();
    let image = daemon::busybox_in_registry(&reg, t.path());
    let d = daemon::Daemon::start();
    py(&d, "images.py", &[&image, &reg.addr]);
    assert_eq!(d.ok(&["images", "-q"]), "");
    // What the script pushed is in the registry.
    let o = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw"])
        .arg(format!("docker://{}/py/copy:v2", reg.addr))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn docker_py_volumes_networks_events() {
    let d = daemon_with_busybox();
    py(&d, "volumes_networks_events.py", &[]);
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    assert_eq!(d.ok(&["volume", "ls", "-q"]), "");
    let nets = d.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!nets.contains("pynet"), "{nets}");
}
