//! `tug login` / `tug logout` against a private daemon and Debian's docker-registry with
//! htpasswd: the daemon checks the credentials, the CLI keeps them in docker's `config.json`
//! (0600, other settings kept, readable by the docker CLI), and `tug push`/`tug pull` send
//! them as `X-Registry-Auth`.

mod common;
#[path = "../../image/tests/common/mod.rs"]
mod img;

use common::*;
mod daemon;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct Cli<'a> {
    d: &'a daemon::Daemon,
    config: PathBuf,
}

impl Cli<'_> {
    fn tug_in(&self, args: &[&str], input: &str) -> Output {
        let mut c = Command::new(TUG)
            .env_remove("DOCKER_HOST")
            .env("DOCKER_CONFIG", &self.config)
            .arg("-H")
            .arg(format!("unix://{}", self.d.sock().display()))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = c.stdin.take().unwrap().write_all(input.as_bytes());
        c.wait_with_output().unwrap()
    }

    fn tug(&self, args: &[&str]) -> Output {
        self.tug_in(args, "")
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.tug(args);
        assert!(
            o.status.success(),
            "tug {args:?}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        stdout(&o)
    }

    fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .env("DOCKER_HOST", format!("unix://{}", self.d.sock().display()))
            .env("DOCKER_CONFIG", &self.config)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn file(&self) -> PathBuf {
        self.config.join("config.json")
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.file()).unwrap()).unwrap()
    }
}

fn busybox_tar(dir: &Path) -> PathBuf {
    let p = dir.join("rootfs.tar");
    std::fs::write(&p, img::busybox_layer()).unwrap();
    p
}

#[test]
fn login_saves_docker_config_and_push_pull_use_it() {
    let reg = img::Registry::start(true);
    let d = daemon::Daemon::start();
    let t = tempfile::tempdir().unwrap();
    let cli = Cli {
        d: &d,
        config: t.path().join("docker"),
    };
    let addr = reg.addr.as_str();
    let name = format!("{addr}/team/bb:v1");
    cli.ok(&["import", busybox_tar(t.path()).to_str().unwrap(), &name]);

    // Bad invocations say what is wrong and save nothing.
    let o = cli.tug_in(&["login", "--password-stdin", addr], "secret\n");
    assert_eq!(
        stderr(&o).trim(),
        "Must provide --username with --password-stdin"
    );
    let o = cli.tug_in(
        &["login", "-u", "tug", "-p", "x", "--password-stdin", addr],
        "secret\n",
    );
    assert!(stderr(&o).contains("mutually exclusive"), "{}", stderr(&o));
    let o = cli.tug(&["login", addr]);
    assert!(
        stderr(&o).contains("Cannot perform an interactive login from a non TTY device"),
        "{}",
        stderr(&o)
    );
    let o = cli.tug_in(&["login", "-u", "tug", "--password-stdin", addr], "nope\n");
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(&format!(
            "Error response from daemon: login attempt to http://{addr}/v2/ failed with status: 401 Unauthorized"
        )),
        "{}",
        stderr(&o)
    );
    assert!(!cli.file().exists(), "a failed login writes nothing");

    // Without credentials the registry refuses the push.
    let o = cli.tug(&["push", &name]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("unauthorized"), "{}", stderr(&o));

    // Settings already in the file stay; the login adds its entry, readable by owner only.
    std::fs::create_dir_all(&cli.config).unwrap();
    std::fs::write(cli.file(), r#"{"detachKeys": "ctrl-x,x", "auths": {}}"#).unwrap();
    let o = cli.tug_in(
        &["login", "-u", "tug", "--password-stdin", addr],
        "secret\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "Login Succeeded\n");
    let j = cli.json();
    assert_eq!(j["detachKeys"], "ctrl-x,x");
    assert_eq!(j["auths"][addr]["auth"], "dHVnOnNlY3JldA==");
    let mode = std::fs::metadata(cli.file()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(&cli.config)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "written atomically: {leftovers:?}");

    // push and pull send the saved credentials; docker's CLI reads the same file.
    let pushed = cli.ok(&["push", &name]);
    assert!(pushed.contains("v1: digest: sha256:"), "{pushed}");
    cli.ok(&["rmi", &name]);
    let pulled = cli.ok(&["pull", &name]);
    assert!(pulled.ends_with(&format!("{name}\n")), "{pulled}");
    cli.ok(&["rmi", &name]);
    let o = cli.docker(&["pull", &name]);
    assert!(o.status.success(), "{}", stderr(&o));

    // `-p` works too (with docker's warning), and a second login replaces the entry.
    let o = cli.tug(&[
        "login",
        "-u",
        "tug",
        "-p",
        "secret",
        &format!("http://{addr}/"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("--password via the CLI is insecure"));
    assert_eq!(cli.json()["auths"].as_object().unwrap().len(), 1);

    // logout forgets; pulls are anonymous again and refused.
    assert_eq!(
        cli.ok(&["logout", addr]),
        format!("Removing login credentials for {addr}\n")
    );
    assert_eq!(
        cli.ok(&["logout", addr]),
        format!("Not logged in to {addr}\n")
    );
    assert_eq!(cli.json()["detachKeys"], "ctrl-x,x");
    cli.ok(&["rmi", &name]);
    let o = cli.tug(&["pull", &name]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("unauthorized"), "{}", stderr(&o));
}

#[test]
fn a_bad_registry_auth_header_is_refused() {
    let d = daemon::Daemon::start();
    let mut s = std::os::unix::net::UnixStream::connect(d.sock()).unwrap();
    s.write_all(
        b"POST /v1.44/images/create?fromImage=127.0.0.1%3A1%2Fx&tag=v1 HTTP/1.0\r\nX-Registry-Auth: !!notbase64\r\nContent-Length: 0\r\n\r\n",
    )
    .unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(&mut s, &mut out).unwrap();
    assert!(out.starts_with("HTTP/1.0 400"), "{out}");
    assert!(out.contains("invalid X-Registry-Auth header"), "{out}");
}

/// Against tug's registry with bearer tokens, the login's identity token replaces the password
/// in config.json, and pushes and pulls buy their tokens with it.
#[test]
fn login_to_a_token_registry_keeps_the_identity_token() {
    let t = tempfile::tempdir().unwrap();
    let h = t.path().join("htpasswd");
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    std::fs::write(&h, format!("ann:{hash}\n")).unwrap();
    let config: registry::Config = serde_json::from_str(&format!(
        r#"{{"auth": {{"htpasswd": "{}", "token": {{"service": "tug-test"}}}}}}"#,
        h.display()
    ))
    .unwrap();
    let root = t.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let reg = registry::start(
        "127.0.0.1:0",
        registry::Options {
            root,
            config,
            tls: None,
        },
    )
    .unwrap();
    let addr = reg.addr.to_string();
    let d = daemon::Daemon::start();
    let cli = Cli {
        d: &d,
        config: t.path().join("docker"),
    };
    let name = format!("{addr}/ann/bb:v1");
    cli.ok(&["import", busybox_tar(t.path()).to_str().unwrap(), &name]);
    let o = cli.tug_in(
        &["login", "-u", "ann", "--password-stdin", &addr],
        "s3cret\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let entry = cli.json()["auths"][addr.as_str()].clone();
    assert_eq!(entry["auth"], "YW5uOg==", "user name only: {entry}");
    assert!(
        !entry["identitytoken"].as_str().unwrap_or("").is_empty(),
        "{entry}"
    );
    cli.ok(&["push", &name]);
    cli.ok(&["rmi", &name]);
    cli.ok(&["pull", &name]);
    let o = cli.docker(&["run", "--rm", "--network", "none", &name, "echo", "ok"]);
    assert_eq!(stdout(&o), "ok\n", "{}", stderr(&o));
    // A forged identity token is refused.
    let mut j = cli.json();
    j["auths"][addr.as_str()]["identitytoken"] = serde_json::json!("forged.token");
    std::fs::write(cli.file(), j.to_string()).unwrap();
    cli.ok(&["rmi", &name]);
    let o = cli.tug(&["pull", &name]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("unauthorized"), "{}", stderr(&o));
}
