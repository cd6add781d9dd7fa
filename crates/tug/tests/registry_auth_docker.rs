//! The docker CLI logs in, pushes and pulls through a private `tug daemon` against registries
//! that want credentials: Debian's docker-registry with htpasswd, and tug's own registry with
//! htpasswd and with bearer tokens (where the login's identity token is what later pushes and
//! pulls use). Registry mirrors for Docker Hub names, and a `tug pull` client killed in the
//! middle of a download.

mod common;
#[path = "../../image/tests/common/mod.rs"]
mod img;

use common::*;
mod daemon;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A busybox rootfs tar (sh, echo, cat, ls) plus `extra` files.
fn rootfs_tar(dir: &Path, extra: &[(&str, &[u8])]) -> PathBuf {
    // The busybox layer is a finished tar: the extra files go in place of its end blocks.
    let base = img::busybox_layer();
    let mut out = base[..base.len() - 1024].to_vec();
    let mut t = img::Tar::new();
    for (name, data) in extra {
        t = t.file(name, data);
    }
    out.extend(t.finish());
    let p = dir.join(format!("rootfs-{}.tar", extra.len()));
    std::fs::write(&p, out).unwrap();
    p
}

/// The docker CLI with its own config directory (never the machine's `~/.docker`).
struct Docker<'a> {
    d: &'a daemon::Daemon,
    config: PathBuf,
}

impl Docker<'_> {
    fn cmd(&self, args: &[&str], input: Option<&str>) -> Output {
        let mut c = Command::new("docker")
            .env("DOCKER_HOST", format!("unix://{}", self.d.sock().display()))
            .env("DOCKER_CONFIG", &self.config)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = c.stdin.take().unwrap();
        if let Some(i) = input {
            let _ = stdin.write_all(i.as_bytes());
        }
        drop(stdin);
        c.wait_with_output().unwrap()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args, None)
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "docker {args:?} failed: {}{}",
            stdout(&o),
            stderr(&o)
        );
        stdout(&o)
    }

    fn config_json(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.config.join("config.json")).unwrap()).unwrap()
    }
}

/// login (wrong password refused, right one kept), push, pull back, run; logout, pull refused.
/// Returns the saved `auths` entry.
fn login_push_pull_run(registry: &str, user: &str, password: &str) -> serde_json::Value {
    let d = daemon::Daemon::start();
    let t = tempfile::tempdir().unwrap();
    let docker = Docker {
        d: &d,
        config: t.path().join("docker"),
    };
    let name = format!("{registry}/team/bb:v1");
    let tar = rootfs_tar(t.path(), &[("hello.txt", b"from the registry\n")]);
    docker.ok(&["import", tar.to_str().unwrap(), &name]);

    let o = docker.run(&["push", &name]);
    assert!(!o.status.success(), "push without login: {}", stdout(&o));
    let all = stdout(&o) + &stderr(&o);
    assert!(
        all.contains("unauthorized") || all.contains("authentication required"),
        "{all}"
    );

    let o = docker.cmd(
        &["login", "-u", user, "--password-stdin", registry],
        Some("wrong-password\n"),
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("Error response from daemon"),
        "{}",
        stderr(&o)
    );
    assert!(
        !docker.config.join("config.json").exists()
            || docker.config_json()["auths"].get(registry).is_none(),
        "a failed login saves nothing"
    );
    let o = docker.cmd(
        &["login", "-u", user, "--password-stdin", registry],
        Some(&format!("{password}\n")),
    );
    assert!(o.status.success(), "login: {}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("Login Succeeded"), "{}", stdout(&o));
    let entry = docker.config_json()["auths"][registry].clone();
    assert!(entry.is_object(), "{}", docker.config_json());

    let pushed = docker.ok(&["push", &name]);
    assert!(pushed.contains("v1: digest: sha256:"), "{pushed}");
    let id = docker.ok(&["image", "inspect", "-f", "{{.Id}}", &name]);
    docker.ok(&["rmi", &name]);
    docker.ok(&["image", "prune", "-af"]);
    let pulled = docker.ok(&["pull", &name]);
    assert!(pulled.contains("Downloaded newer image"), "{pulled}");
    assert_eq!(docker.ok(&["image", "inspect", "-f", "{{.Id}}", &name]), id);
    let out = docker.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &name,
        "cat",
        "/hello.txt",
    ]);
    assert_eq!(out, "from the registry\n");

    let o = docker.run(&["logout", registry]);
    assert!(o.status.success());
    assert!(docker.config_json()["auths"].get(registry).is_none());
    docker.ok(&["rmi", &name]);
    let o = docker.run(&["pull", &name]);
    assert!(!o.status.success(), "pull after logout: {}", stdout(&o));
    entry
}

#[test]
fn docker_cli_with_distribution_htpasswd() {
    let reg = img::Registry::start(true);
    let entry = login_push_pull_run(&reg.addr, "tug", "secret");
    assert_eq!(entry["auth"], "dHVnOnNlY3JldA==", "base64 of tug:secret");
}

/// tug's registry in-process, with htpasswd users and, with `token`, bearer tokens.
fn tug_registry(dir: &Path, token: bool) -> registry::Handle {
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let h = dir.join("htpasswd");
    std::fs::write(&h, format!("ann:{hash}\n")).unwrap();
    let token = if token {
        r#", "token": {"service": "tug-test"}"#
    } else {
        ""
    };
    let config: registry::Config = serde_json::from_str(&format!(
        r#"{{"auth": {{"htpasswd": "{}"{token}}}, "access": [{{"repository": "team/*", "users": ["ann"], "actions": ["*"]}}]}}"#,
        h.display()
    ))
    .unwrap();
    let opts = registry::Options {
        root: dir.join("root"),
        config,
        tls: None,
    };
    std::fs::create_dir_all(&opts.root).unwrap();
    registry::start("127.0.0.1:0", opts).unwrap()
}

#[test]
fn docker_cli_with_tug_registry_htpasswd() {
    let t = tempfile::tempdir().unwrap();
    let reg = tug_registry(t.path(), false);
    let entry = login_push_pull_run(&reg.addr.to_string(), "ann", "s3cret");
    assert!(entry.get("identitytoken").is_none(), "{entry}");
}

#[test]
fn docker_cli_with_tug_registry_tokens() {
    let t = tempfile::tempdir().unwrap();
    let reg = tug_registry(t.path(), true);
    let entry = login_push_pull_run(&reg.addr.to_string(), "ann", "s3cret");
    // The login kept an identity token, not the password: pushes and pulls bought their
    // access tokens with it (POST /token, grant_type=refresh_token).
    let token = entry["identitytoken"].as_str().unwrap_or_default();
    assert!(!token.is_empty(), "{entry}");
    assert!(!entry.to_string().contains("s3cret"));
}

/// A `tug daemon` started with extra flags (the shared harness takes none), killed on drop.
struct FlagDaemon {
    dir: tempfile::TempDir,
    child: Child,
}

impl FlagDaemon {
    fn start(flags: &[&str]) -> FlagDaemon {
        let dir = tempfile::Builder::new()
            .prefix("tug-mirror-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        let child = Command::new(TUG)
            .arg("daemon")
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("-H")
            .arg(format!("unix://{}", d.join("tug.sock").display()))
            .args(flags)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("daemon.log")).unwrap())
            .spawn()
            .unwrap();
        let fd = FlagDaemon { dir, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !fd.tug(&["images"]).status.success() {
            assert!(Instant::now() < deadline, "tug daemon did not answer");
            std::thread::sleep(Duration::from_millis(50));
        }
        fd
    }

    fn tug(&self, args: &[&str]) -> Output {
        Command::new(TUG)
            .env_remove("DOCKER_HOST")
            .env("DOCKER_CONFIG", self.dir.path().join("docker"))
            .arg("-H")
            .arg(format!(
                "unix://{}",
                self.dir.path().join("tug.sock").display()
            ))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

impl Drop for FlagDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn registry_mirror_serves_docker_hub_names() {
    // The mirror: a registry on loopback holding library/mirrored:v1.
    let mirror = img::Registry::start(false);
    let src = daemon::Daemon::start();
    let t = tempfile::tempdir().unwrap();
    let docker = Docker {
        d: &src,
        config: t.path().join("docker"),
    };
    let tar = rootfs_tar(t.path(), &[("which", b"mirror\n")]);
    let on_mirror = format!("{}/library/mirrored:v1", mirror.addr);
    docker.ok(&["import", tar.to_str().unwrap(), &on_mirror]);
    docker.ok(&["push", &on_mirror]);
    let id = docker.ok(&["image", "inspect", "-f", "{{.Id}}", &on_mirror]);

    // A mirror must be an http(s) URL: the daemon refuses to start, and makes nothing.
    let data = t.path().join("never");
    let o = Command::new(TUG)
        .arg("daemon")
        .args(["--registry-mirror", "127.0.0.1:1", "--data-root"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("invalid mirror"), "{}", stderr(&o));
    assert!(!data.exists());

    // A daemon with the mirror pulls `mirrored:v1` (docker.io/library/mirrored:v1) from it.
    let d = FlagDaemon::start(&["--registry-mirror", &format!("http://{}", mirror.addr)]);
    let o = d.tug(&["pull", "mirrored:v1"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("docker.io/library/mirrored:v1"),
        "{}",
        stdout(&o)
    );
    let o = d.tug(&["image", "inspect", "-f", "{{.Id}}", "mirrored:v1"]);
    assert_eq!(stdout(&o), id);
    // Not on the mirror: the fallback to Docker Hub fails at once and says where it went.
    let start = Instant::now();
    let o = d.tug(&["pull", "absent-from-mirror:v1"]);
    assert!(!o.status.success());
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    assert!(
        stderr(&o).contains("registry-1.docker.io"),
        "{}",
        stderr(&o)
    );
}

/// Relays loopback TCP at about `rate` bytes a second, so a download takes a while.
fn slow_proxy(upstream: String, rate: usize) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut client) = c else { return };
            let Ok(mut server) = std::net::TcpStream::connect(&upstream) else {
                continue;
            };
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c2, &mut s2);
            });
            std::thread::spawn(move || {
                let mut buf = vec![0u8; rate / 20];
                loop {
                    match server.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if client.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                let _ = client.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    addr
}

/// Every blob file in the daemon's content store matches its name.
fn assert_blobs_verify(data_root: &Path) {
    let dir = data_root.join("image/blobs/sha256");
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if !p.is_file() {
            continue;
        }
        let out = Command::new("sha256sum").arg(&p).output().unwrap();
        let sum = stdout(&out).split(' ').next().unwrap_or("").to_string();
        assert_eq!(
            p.file_name().unwrap().to_string_lossy(),
            sum,
            "corrupt blob {}",
            p.display()
        );
    }
}

#[test]
fn pull_client_killed_mid_download() {
    let reg = img::Registry::start(false);
    let d = daemon::Daemon::start();
    let t = tempfile::tempdir().unwrap();
    let docker = Docker {
        d: &d,
        config: t.path().join("docker"),
    };
    // 12 MB of random data: incompressible, so the layer is that large on the wire.
    let mut big = vec![0u8; 12 << 20];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut big)
        .unwrap();
    let want = stdout(
        &Command::new("sh")
            .arg("-c")
            .arg("sha256sum | cut -d' ' -f1")
            .stdin(Stdio::from(
                std::fs::File::open({
                    let p = t.path().join("big");
                    std::fs::write(&p, &big).unwrap();
                    p
                })
                .unwrap(),
            ))
            .output()
            .unwrap(),
    );
    let tar = rootfs_tar(t.path(), &[("big", &big)]);
    let direct = format!("{}/team/big:v1", reg.addr);
    docker.ok(&["import", tar.to_str().unwrap(), &direct]);
    docker.ok(&["push", &direct]);
    docker.ok(&["rmi", &direct]);
    docker.ok(&["image", "prune", "-af"]);

    // Through a ~4 MB/s relay the layer takes ~3 s: kill the client once the layer started.
    let slow = slow_proxy(reg.addr.clone(), 4 << 20);
    let name = format!("{slow}/team/big:v1");
    let host = format!("unix://{}", d.sock().display());
    let mut client = Command::new(TUG)
        .env_remove("DOCKER_HOST")
        .env("DOCKER_CONFIG", t.path().join("docker"))
        .args(["-H", &host, "pull", &name])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(client.stdout.take().unwrap()).lines();
    let started = lines.any(|l| l.is_ok_and(|l| l.contains("Pulling fs layer")));
    assert!(started);
    std::thread::sleep(Duration::from_millis(300));
    let _ = client.kill();
    let _ = client.wait();

    // A second pull completes with the right content, whatever the first left behind.
    let o = Command::new(TUG)
        .env_remove("DOCKER_HOST")
        .env("DOCKER_CONFIG", t.path().join("docker"))
        .args(["-H", &host, "pull", &name])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let got = docker.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &name,
        "sh",
        "-c",
        "sha256sum /big | cut -d' ' -f1",
    ]);
    assert_eq!(got, want);
    assert_blobs_verify(&d.dir.path().join("data"));
}
