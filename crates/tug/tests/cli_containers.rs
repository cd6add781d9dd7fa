//! The `tug` container verbs as a Docker API client against a private `tug daemon`: run with
//! exit codes and separated streams, detached containers through ps/logs/exec/stop/rm, a real
//! pty for `-it` (resize, detach keys, attach), update of a live cgroup limit, and docker's
//! messages and exit codes for bad input. Where docker's CLI is at hand, outputs are compared.

mod common;
#[path = "../../image/tests/common/mod.rs"]
mod img;

use common::*;
mod daemon;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Daemon(daemon::Daemon);

impl std::ops::Deref for Daemon {
    type Target = daemon::Daemon;
    fn deref(&self) -> &daemon::Daemon {
        &self.0
    }
}

impl Daemon {
    fn start() -> Daemon {
        Daemon(daemon::Daemon::start())
    }

    fn host(&self) -> String {
        format!("unix://{}", self.sock().display())
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(TUG);
        c.env_remove("DOCKER_HOST")
            .arg("-H")
            .arg(self.host())
            .args(args);
        c
    }

    fn tug(&self, args: &[&str]) -> Output {
        self.cmd(args).stdin(Stdio::null()).output().unwrap()
    }

    fn tug_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut c = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(input).unwrap();
        c.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.tug(args);
        assert!(
            o.status.success(),
            "tug {args:?} failed ({:?}): {}{}",
            o.status,
            stdout(&o),
            stderr(&o)
        );
        stdout(&o)
    }

    /// The real docker CLI against the same daemon, if installed.
    fn docker_out(&self, args: &[&str]) -> Option<String> {
        let o = Command::new("docker")
            .env("DOCKER_HOST", self.host())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .ok()?;
        assert!(o.status.success(), "docker {args:?}: {}", stderr(&o));
        Some(stdout(&o))
    }

    /// tug and docker print the same for `args` (retried: "N seconds ago" can tick).
    fn same_as_docker(&self, args: &[&str]) {
        for attempt in 0.. {
            let mine = self.ok(args);
            let Some(theirs) = self.docker_out(args) else {
                return;
            };
            if mine == theirs {
                return;
            }
            assert!(attempt < 3, "tug {args:?}:\n{mine}\ndocker:\n{theirs}");
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

/// A busybox rootfs with the applets the tests use and a `nobody` user, as a tar.
fn rootfs_tar(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("rootfs");
    for d in ["bin", "etc", "tmp", "proc", "sys", "dev"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(BUSYBOX, root.join("bin/busybox")).unwrap();
    for a in [
        "sh", "cat", "echo", "sleep", "stty", "id", "pwd", "hostname", "ls", "true", "env",
    ] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).unwrap();
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    let tar = dir.join("rootfs.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    tar
}

const IMG: &str = "tug/cli:v1";

fn daemon_with_image() -> (Daemon, tempfile::TempDir) {
    let t = tempfile::tempdir().unwrap();
    let d = Daemon::start();
    let tar = rootfs_tar(t.path());
    d.ok(&["import", "-c", "CMD [\"sh\"]", tar.to_str().unwrap(), IMG]);
    (d, t)
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn run_prints_streams_and_exits_with_the_containers_code() {
    let (d, _t) = daemon_with_image();
    let o = d.tug(&[
        "run",
        "--rm",
        IMG,
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(stdout(&o), "out\n");
    assert_eq!(stderr(&o), "err\n");
    // --rm removed it.
    wait_for("--rm", Duration::from_secs(10), || {
        d.ok(&["ps", "-aq"]).is_empty()
    });

    // Flags after the image belong to the command; -e, -w, -u, -h, --entrypoint reach it.
    let o = d.ok(&[
        "run",
        "--rm",
        "-e",
        "A=1",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "-h",
        "box",
        IMG,
        "sh",
        "-c",
        "echo $A $(pwd) $(id -u) $(hostname) $0",
        "-x",
    ]);
    assert_eq!(o, "1 /tmp 65534 box -x\n");
    let o = d.ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "echo",
        IMG,
        "via",
        "entrypoint",
    ]);
    assert_eq!(o, "via entrypoint\n");

    // stdin is forwarded with -i and closed at EOF.
    let o = d.tug_stdin(
        &["run", "--rm", "-i", IMG, "sh", "-c", "cat; echo done"],
        b"hello\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "hello\ndone\n");

    // create + start -a, --cidfile.
    let cid = _t.path().join("cid");
    let id = d.ok(&[
        "create",
        "--name",
        "made",
        "--cidfile",
        cid.to_str().unwrap(),
        IMG,
        "sh",
        "-c",
        "echo created; exit 4",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id}");
    assert_eq!(std::fs::read_to_string(&cid).unwrap(), id);
    let o = d.tug(&["start", "-a", "made"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert_eq!(stdout(&o), "created\n");
    // The cidfile refuses to be reused.
    let o = d.tug(&["create", "--cidfile", cid.to_str().unwrap(), IMG]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("Container ID file found"),
        "{}",
        stderr(&o)
    );

    // A command that does not exist: 127, with docker's wording around the daemon's error.
    let o = d.tug(&["run", "--rm", IMG, "nosuchcmd"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    assert!(
        stderr(&o).starts_with("tug: Error response from daemon: "),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("Run 'tug run --help' for more information"));

    // A path that cannot run is refused at create with the reason, and both CLIs turn the
    // reason into docker's exit codes.
    for (cmd, code, reason) in [
        (
            "/no/such/prog",
            127,
            "stat /no/such/prog: no such file or directory",
        ),
        ("/etc", 126, "is a directory"),
        ("/etc/passwd", 126, "permission denied"),
    ] {
        let o = d.docker(&["run", "--rm", IMG, cmd]);
        assert_eq!(o.status.code(), Some(code), "{cmd}: {}", stderr(&o));
        assert!(stderr(&o).contains(reason), "{cmd}: {}", stderr(&o));
        let o = d.tug(&["run", "--rm", IMG, cmd]);
        assert_eq!(o.status.code(), Some(code), "{cmd}: {}", stderr(&o));
    }
    // One the kernel refuses only at exec: the reason is in the container's log, exit 1.
    d.ok(&[
        "run",
        "--name",
        "mkbad",
        IMG,
        "sh",
        "-c",
        "echo garbage >/bad; chmod +x /bad",
    ]);
    d.ok(&["commit", "mkbad", "badimg"]);
    let o = d.tug(&["run", "--name", "bad", "badimg", "/bad"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(stderr(&o), "exec /bad: exec format error\n");
    let o = d.docker(&["logs", "bad"]);
    assert_eq!(stderr(&o), "exec /bad: exec format error\n");
}

/// `--privileged` means every capability the daemon itself has (this machine's bounding set may
/// lack some), as Docker's "all capabilities available in the current environment".
#[test]
fn privileged_gets_every_capability_the_daemon_has() {
    let (d, _t) = daemon_with_image();
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |text: &str, key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
            .unwrap_or_else(|| panic!("no {key} in {text}"))
    };
    let ours = field(&status, "CapBnd:") & ((1 << 41) - 1);
    let inside = d.ok(&[
        "run",
        "--rm",
        "--privileged",
        IMG,
        "cat",
        "/proc/self/status",
    ]);
    assert_eq!(field(&inside, "CapEff:"), ours, "{inside}");
    assert_eq!(field(&inside, "CapBnd:"), ours, "{inside}");
    let inside = d.ok(&[
        "run",
        "--rm",
        "--cap-add",
        "ALL",
        "--cap-drop",
        "NET_ADMIN",
        IMG,
        "cat",
        "/proc/self/status",
    ]);
    assert_eq!(field(&inside, "CapEff:"), ours & !(1 << 12), "{inside}");
}

/// `-w` names a directory the image lacks: Docker makes it (inside the container's filesystem,
/// whatever symlinks the image holds) before the start; `--cpus` is bounded by the machine.
#[test]
fn working_dir_is_made_and_cpus_are_bounded() {
    let (d, _t) = daemon_with_image();
    assert_eq!(
        d.ok(&["run", "--rm", "-w", "/made/here", IMG, "pwd"]),
        "/made/here\n"
    );
    let o = d.tug(&[
        "run",
        "--rm",
        "-w",
        "/made/too",
        IMG,
        "sh",
        "-c",
        "pwd; ls -ld .",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("/made/too\ndrwxr-xr-x "),
        "{}",
        stdout(&o)
    );

    // Through an image's symlink to a host path: made in the container, not on the host.
    let outside = std::env::temp_dir().join(format!("tug-wd-escape-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&outside);
    let link = outside.to_str().unwrap();
    let ln = format!("ln -s {link} /esc");
    d.ok(&["run", "--name", "mklink", IMG, "sh", "-c", &ln]);
    d.ok(&["commit", "mklink", "tug/cli:link"]);
    let out = d.ok(&[
        "run",
        "--rm",
        "-w",
        "/esc/sub",
        "tug/cli:link",
        "sh",
        "-c",
        "pwd; ls -d /esc/",
    ]);
    // (The container's own view of the path, as the kernel resolved it there.)
    assert_eq!(out, format!("{link}/sub\n/esc/\n"));
    assert!(
        !outside.exists(),
        "{} was made on the host",
        outside.display()
    );

    let cpus = std::thread::available_parallelism().unwrap().get();
    let o = d.docker(&["run", "--rm", "--cpus", "1000", IMG, "true"]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("Range of CPUs is from 0.01 to"),
        "{} (host has {cpus})",
        stderr(&o)
    );
    d.ok(&["run", "--rm", "--cpus", "0.5", IMG, "true"]);
    assert_eq!(
        d.ok(&["ps", "-aq", "--filter", "ancestor=tug/cli:v1"])
            .lines()
            .count(),
        1
    );

    // A start that fails before the container runs: `--rm` still removes it, so the client
    // (which waits for the removal) returns.
    d.ok(&["create", "--name", "idle", IMG, "true"]);
    let o = Command::new("timeout")
        .arg("30")
        .arg("docker")
        .env("DOCKER_HOST", d.host())
        .args([
            "run",
            "--rm",
            "--name",
            "joiner",
            "--network",
            "container:idle",
            IMG,
            "true",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_ne!(
        o.status.code(),
        Some(124),
        "docker run --rm hung after a failed start"
    );
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = d.docker(&["inspect", "joiner"]);
    assert!(!o.status.success(), "the --rm container is still there");
}

#[test]
fn detached_container_through_ps_logs_exec_stop_rm() {
    let (d, _t) = daemon_with_image();
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-l",
        "tier=front",
        IMG,
        "sh",
        "-c",
        "echo start; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done",
    ]);
    let id = id.trim().to_string();
    assert!(
        id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
    assert_eq!(
        d.tug(&["run", "--name", "done", IMG, "sh", "-c", "exit 2"])
            .status
            .code(),
        Some(2)
    );

    // ps: running only by default, docker's table, quiet, filters and formats.
    let ps = d.ok(&["ps"]);
    let lines: Vec<&str> = ps.lines().collect();
    assert_eq!(lines.len(), 2, "{ps}");
    assert!(
        lines[0].starts_with("CONTAINER ID   IMAGE        COMMAND                  CREATED"),
        "{ps}"
    );
    assert!(lines[0].ends_with("PORTS     NAMES"), "{ps}");
    assert!(lines[1].starts_with(&id[..12]), "{ps}");
    assert!(lines[1].contains("\"sh -c echo start; i…\""), "{ps}");
    assert!(lines[1].ends_with(" web"), "{ps}");
    d.same_as_docker(&["ps"]);
    d.same_as_docker(&["ps", "-a"]);
    d.same_as_docker(&["ps", "-a", "--no-trunc"]);
    assert_eq!(d.ok(&["ps", "-q"]), format!("{}\n", &id[..12]));
    assert_eq!(d.ok(&["ps", "-aq"]).lines().count(), 2);
    assert_eq!(
        d.ok(&[
            "ps",
            "-a",
            "--filter",
            "status=exited",
            "--format",
            "{{.Names}}"
        ]),
        "done\n"
    );
    assert_eq!(
        d.ok(&[
            "ps",
            "--filter",
            "exited=2",
            "--format",
            "{{.Names}} {{.Status}}"
        ])
        .split(" Exited (2)")
        .next(),
        Some("done")
    );
    assert_eq!(
        d.ok(&[
            "ps",
            "--filter",
            "label=tier=front",
            "--format",
            "{{.Names}}"
        ]),
        "web\n"
    );
    assert_eq!(d.ok(&["ps", "-l", "--format", "{{.Names}}"]), "done\n");
    assert_eq!(
        d.ok(&[
            "ps",
            "-a",
            "--filter",
            "before=done",
            "--format",
            "{{.Names}}"
        ]),
        "web\n"
    );
    assert_eq!(
        d.ok(&[
            "ps",
            "-a",
            "--filter",
            "since=web",
            "--format",
            "{{.Names}}"
        ]),
        "done\n"
    );
    assert_eq!(
        d.ok(&["container", "ls", "-n", "2", "--format", "{{.Names}}"]),
        "done\nweb\n"
    );
    assert_eq!(
        d.ok(&["ps", "-a", "--filter", "name=^/we", "--format", "{{.ID}}"]),
        format!("{}\n", &id[..12])
    );
    let j: serde_json::Value =
        serde_json::from_str(d.ok(&["ps", "--format", "json"]).trim()).unwrap();
    assert_eq!(j["Names"], "web");
    assert_eq!(j["Labels"], "tier=front");
    assert_eq!(j["State"], "running");
    d.same_as_docker(&["ps", "-a", "--format", "{{json .}}"]);
    assert_eq!(
        d.ok(&["ps", "--format", "table {{.Names}}\\t{{.State}}"]),
        "NAMES     STATE\nweb       running\n"
    );
    let sized = d.ok(&["ps", "-s", "--format", "{{.Size}}"]);
    assert!(sized.contains("(virtual "), "{sized}");
    let bad = d.tug(&["ps", "--filter", "colour=red"]);
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(
        stderr(&bad),
        "Error response from daemon: invalid filter 'colour'\n"
    );

    // logs, and logs -f following new lines.
    wait_for("tick 3", Duration::from_secs(10), || {
        d.ok(&["logs", "web"]).contains("tick 3\n")
    });
    let logs = d.ok(&["logs", "web"]);
    assert!(logs.starts_with("start\ntick 1\n"), "{logs}");
    assert_eq!(d.ok(&["logs", "--tail", "1", "done"]), "");
    let mut follow = d
        .cmd(&["logs", "-f", "--tail", "1", "web"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut fout = follow.stdout.take().unwrap();
    let seen = Arc::new(Mutex::new(String::new()));
    let s2 = seen.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        while let Ok(n) = fout.read(&mut buf) {
            if n == 0 {
                break;
            }
            s2.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    wait_for("followed lines", Duration::from_secs(10), || {
        seen.lock().unwrap().lines().count() >= 4
    });
    let ts = d.ok(&["logs", "-t", "--tail", "1", "web"]);
    assert!(ts.starts_with("20") && ts.contains("Z tick "), "{ts}");

    // exec: output, exit code, -e/-w/-u, -d.
    let o = d.tug(&["exec", "web", "sh", "-c", "echo in-exec; exit 5"]);
    assert_eq!(o.status.code(), Some(5));
    assert_eq!(stdout(&o), "in-exec\n");
    assert_eq!(
        d.ok(&[
            "exec",
            "-e",
            "X=y",
            "-w",
            "/tmp",
            "-u",
            "nobody",
            "web",
            "sh",
            "-c",
            "echo $X $(pwd) $(id -u)"
        ]),
        "y /tmp 65534\n"
    );
    let o = d.tug_stdin(&["exec", "-i", "web", "cat"], b"through exec\n");
    assert_eq!(stdout(&o), "through exec\n");
    assert_eq!(
        d.ok(&["exec", "-d", "web", "sh", "-c", "echo bg > /tmp/bg"]),
        ""
    );
    wait_for("detached exec", Duration::from_secs(10), || {
        d.tug(&["exec", "web", "cat", "/tmp/bg"]).stdout == b"bg\n"
    });

    // inspect, top, stats.
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.Name}} {{.Config.Labels.tier}}",
            "web"
        ]),
        "running /web front\n"
    );
    assert_eq!(
        d.ok(&[
            "container",
            "inspect",
            "--format",
            "{{.State.ExitCode}}",
            "done"
        ]),
        "2\n"
    );
    let full: serde_json::Value = serde_json::from_str(&d.ok(&["inspect", "web", IMG])).unwrap();
    assert_eq!(full[0]["Id"], id.as_str());
    assert!(full[1]["Id"].as_str().unwrap().starts_with("sha256:"));
    let top = d.ok(&["top", "web"]);
    assert!(top.starts_with("UID                 PID "), "{top}");
    assert!(top.contains("sleep"), "{top}");
    let stats = d.ok(&["stats", "--no-stream"]);
    let sl: Vec<&str> = stats.lines().collect();
    assert_eq!(
        sl[0],
        "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O   BLOCK I/O   PIDS"
    );
    assert!(
        sl[1].starts_with(&format!("{}   web       ", &id[..12])),
        "{stats}"
    );
    assert!(sl[1].contains("iB / "), "{stats}");
    let pids = d.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}}",
        "web",
    ]);
    let n: u32 = pids.trim().strip_prefix("web ").unwrap().parse().unwrap();
    assert!(n >= 1, "{pids}");

    // pause/unpause, rename, restart, stop, wait, rm.
    assert_eq!(d.ok(&["pause", "web"]), "web\n");
    assert!(d
        .ok(&["ps", "--format", "{{.Status}}"])
        .contains("(Paused)"));
    assert_eq!(d.ok(&["unpause", "web"]), "web\n");
    d.ok(&["rename", "web", "site"]);
    assert_eq!(d.ok(&["ps", "--format", "{{.Names}}"]), "site\n");
    assert_eq!(d.ok(&["restart", "-t", "0", "site"]), "site\n");
    assert_eq!(d.ok(&["stop", "-t", "1", "site"]), "site\n");
    reader.join().unwrap();
    let fo = follow.wait().unwrap();
    assert!(fo.success(), "logs -f ends with the container");
    assert!(seen.lock().unwrap().contains("tick"));
    assert_eq!(d.ok(&["wait", "done"]), "2\n");
    assert_eq!(d.ok(&["rm", "site", "done"]), "site\ndone\n");
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    // rm -f of a running container.
    d.ok(&["run", "-d", "--name", "busy", IMG, "sleep", "100"]);
    let o = d.tug(&["rm", "busy"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("container is running"),
        "{}",
        stderr(&o)
    );
    assert_eq!(d.ok(&["rm", "-f", "busy"]), "busy\n");
}

#[test]
fn errors_as_docker_words_and_exits_them() {
    let (d, _t) = daemon_with_image();
    for verb in [
        &["stop", "nosuch"][..],
        &["rm", "nosuch"],
        &["logs", "nosuch"],
        &["kill", "nosuch"],
        &["exec", "nosuch", "true"],
        &["pause", "nosuch"],
        &["top", "nosuch"],
        &["update", "-m", "10m", "nosuch"],
        &["wait", "nosuch"],
    ] {
        let o = d.tug(verb);
        assert_eq!(o.status.code(), Some(1), "{verb:?}");
        assert_eq!(
            stderr(&o),
            "Error response from daemon: No such container: nosuch\n",
            "{verb:?}"
        );
        assert!(o.stdout.is_empty(), "{verb:?}");
    }
    let o = d.tug(&["inspect", "nosuch"]);
    assert_eq!((o.status.code(), stdout(&o)), (Some(1), "[]\n".to_string()));
    assert_eq!(stderr(&o), "Error: No such object: nosuch\n");
    let o = d.tug(&["start", "nosuch"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "Error response from daemon: No such container: nosuch\nError: failed to start containers: nosuch\n"
    );
    // Bad flags: 125 and docker's wording.
    let o = d.tug(&["run", "--bogus", IMG]);
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(stderr(&o), "unknown flag: --bogus\nSee 'tug run --help'.\n");
    let o = d.tug(&["ps", "--bogus"]);
    assert_eq!(o.status.code(), Some(125));
    let o = d.tug(&["run"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("'tug run' requires at least 1 argument"));
    let o = d.tug(&["run", "--rm", "--restart", "always", IMG]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("conflicting options: cannot specify both --restart and --rm"),
        "{}",
        stderr(&o)
    );
    let o = d.tug(&["run", "-m", "lots", IMG]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("invalid argument \"lots\""),
        "{}",
        stderr(&o)
    );
    // -t with a stdin that is not a terminal.
    let o = d.tug(&["run", "-it", "--rm", IMG, "true"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "the input device is not a TTY\n");
    // A missing image with --pull never, and an unknown one otherwise.
    let o = d.tug(&["run", "--pull", "never", "nosuch/image:v9"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("No such image"), "{}", stderr(&o));
    let o = d.tug(&["update", "web"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "you must provide one or more flags when using this command\n"
    );
    // Nothing was left behind by the failures.
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    // An unreachable daemon.
    let o = Command::new(TUG)
        .args(["-H", "unix:///nonexistent/tug.sock", "ps"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("Cannot connect to the tug daemon"));
}

#[test]
fn run_pulls_a_missing_image() {
    let reg = img::Registry::start(false);
    let t = tempfile::tempdir().unwrap();
    let image = daemon::busybox_in_registry(&reg, t.path());
    let d = Daemon::start();
    let o = d.tug(&["run", "--rm", &image, "echo", "pulled"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "pulled\n");
    let err = stderr(&o);
    assert!(
        err.starts_with(&format!("Unable to find image '{image}' locally\n")),
        "{err}"
    );
    assert!(d.ok(&["images", "-q"]).lines().count() == 1);
}

/// A pseudo-terminal whose output is collected in the background.
struct Pty {
    master: Arc<OwnedFd>,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl Pty {
    fn open(rows: u16, cols: u16) -> (Pty, OwnedFd) {
        let ws = nix::pty::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let p = nix::pty::openpty(Some(&ws), None).unwrap();
        let master = Arc::new(p.master);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (m, s) = (master.clone(), seen.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match nix::unistd::read(&*m, &mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => s.lock().unwrap().extend_from_slice(&buf[..n]),
                }
            }
        });
        (Pty { master, seen }, p.slave)
    }

    /// Start `cmd` on the terminal as its controlling tty (so it gets SIGWINCH).
    fn spawn(&self, slave: &OwnedFd, mut cmd: Command) -> Child {
        use std::os::unix::process::CommandExt;
        let f = || Stdio::from(slave.try_clone().unwrap());
        cmd.stdin(f()).stdout(f()).stderr(f());
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd.spawn().unwrap()
    }

    fn write(&self, s: &[u8]) {
        nix::unistd::write(&*self.master, s).unwrap();
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).to_string()
    }

    fn expect(&self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self.text().contains(what) {
            assert!(
                Instant::now() < deadline,
                "no {what:?} on the terminal: {:?}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Type `line` until `what` shows up (for effects that land asynchronously).
    fn retype_until(&self, line: &[u8], what: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let before = self.seen.lock().unwrap().len();
            self.write(line);
            std::thread::sleep(Duration::from_millis(300));
            let text = String::from_utf8_lossy(&self.seen.lock().unwrap()[before..]).to_string();
            if text.contains(what) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no {what:?} on the terminal: {:?}",
                self.text()
            );
        }
    }

    fn resize(&self, rows: u16, cols: u16) {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize from a struct we own.
        let r = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        assert_eq!(r, 0);
    }
}

/// Kills the client if a test fails before it exits.
struct Reap(Child);

impl Reap {
    fn wait(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.0.try_wait().unwrap() {
                return st;
            }
            assert!(Instant::now() < deadline, "client did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Reap {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn interactive_tty_resize_detach_and_attach() {
    let (d, _t) = daemon_with_image();
    let (pty, slave) = Pty::open(30, 100);
    let mut client = Reap(pty.spawn(&slave, d.cmd(&["run", "-it", "--name", "tty", IMG, "sh"])));
    pty.expect("# ");
    pty.write(b"stty size; echo $((6*7))-answer\n");
    pty.expect("30 100");
    pty.expect("42-answer");
    // A resize of our terminal reaches the container's.
    pty.resize(40, 120);
    pty.retype_until(b"stty size\n", "40 120");
    // ctrl-p ctrl-q detaches: the client exits 0, the container keeps running.
    pty.write(b"\x10\x11");
    let st = client.wait(Duration::from_secs(10));
    assert_eq!(st.code(), Some(0), "{}", pty.text());
    assert_eq!(
        d.ok(&["ps", "--filter", "name=tty", "--format", "{{.State}}"]),
        "running\n"
    );
    drop(slave);

    // attach: type into the same shell, leave with its exit code.
    let (pty2, slave2) = Pty::open(24, 80);
    let mut attach = Reap(pty2.spawn(&slave2, d.cmd(&["attach", "tty"])));
    std::thread::sleep(Duration::from_millis(300));
    pty2.write(b"echo attached-$((1+1))\n");
    pty2.expect("attached-2");
    pty2.write(b"exit 6\n");
    let st = attach.wait(Duration::from_secs(10));
    assert_eq!(st.code(), Some(6), "{}", pty2.text());
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "tty"
        ]),
        "exited 6\n"
    );

    // Detach keys of our own choosing; the default ones then pass through to the shell.
    let (pty3, slave3) = Pty::open(24, 80);
    let mut run = Reap(pty3.spawn(
        &slave3,
        d.cmd(&[
            "run",
            "-it",
            "--name",
            "keys",
            "--detach-keys",
            "ctrl-x,x",
            IMG,
            "sh",
        ]),
    ));
    pty3.expect("# ");
    pty3.write(b"echo before\n");
    pty3.expect("before\r\n");
    pty3.write(b"\x18x");
    let st = run.wait(Duration::from_secs(10));
    assert_eq!(st.code(), Some(0), "{}", pty3.text());
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "keys"]),
        "running\n"
    );

    // exec -it into it: the tty, its size, and the exec's exit code.
    let (pty4, slave4) = Pty::open(25, 90);
    let mut exec = Reap(pty4.spawn(&slave4, d.cmd(&["exec", "-it", "keys", "sh"])));
    pty4.expect("# ");
    pty4.write(b"stty size; exit 4\n");
    pty4.expect("25 90");
    let st = exec.wait(Duration::from_secs(10));
    assert_eq!(st.code(), Some(4), "{}", pty4.text());

    // --rm with -it removes the container when the shell exits.
    let (pty5, slave5) = Pty::open(24, 80);
    let mut rm = Reap(pty5.spawn(
        &slave5,
        d.cmd(&["run", "-it", "--rm", "--name", "gone", IMG, "sh"]),
    ));
    pty5.expect("# ");
    pty5.write(b"exit 0\n");
    let st = rm.wait(Duration::from_secs(10));
    assert_eq!(st.code(), Some(0), "{}", pty5.text());
    assert!(!d.tug(&["inspect", "gone"]).status.success());
}

#[test]
fn update_changes_the_live_cgroup_limit() {
    let (d, _t) = daemon_with_image();
    d.ok(&[
        "run", "-d", "--name", "lim", "-m", "64m", IMG, "sleep", "1000",
    ]);
    let read = || {
        d.ok(&[
            "exec",
            "lim",
            "sh",
            "-c",
            "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max",
        ])
    };
    assert_eq!(read(), "67108864\n");
    assert_eq!(d.ok(&["update", "-m", "128m", "lim"]), "lim\n");
    assert_eq!(read(), "134217728\n");
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.HostConfig.Memory}}", "lim"]),
        "134217728\n"
    );
    d.ok(&["update", "--pids-limit", "40", "--cpus", "0.5", "lim"]);
    let pids = d.ok(&[
        "exec",
        "lim",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max",
    ]);
    assert_eq!(pids, "40\n");
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}",
            "lim"
        ]),
        "500000000 40\n"
    );
    // The restart policy is updated too; not on a --rm container.
    assert_eq!(
        d.ok(&["update", "--restart", "on-failure:2", "lim"]),
        "lim\n"
    );
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}",
            "lim"
        ]),
        "on-failure:2\n"
    );
    d.ok(&["run", "-d", "--rm", "--name", "auto", IMG, "sleep", "100"]);
    let o = d.tug(&["update", "--restart", "always", "auto"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "Error response from daemon: Restart policy cannot be updated because AutoRemove is enabled for the container\n"
    );
    // A bad value changes nothing.
    let o = d.tug(&["update", "-m", "1k", "lim"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("Minimum memory limit allowed is 6MB")
            || stderr(&o).contains("minimum memory limit allowed is 6MB"),
        "{}",
        stderr(&o)
    );
    assert_eq!(read(), "134217728\n");
    // The docker CLI's update (all fields sent, zeros meaning unchanged) works too.
    if d.docker_out(&["update", "-m", "96m", "lim"]).is_some() {
        assert_eq!(read(), "100663296\n");
        assert_eq!(
            d.ok(&["inspect", "-f", "{{.HostConfig.PidsLimit}}", "lim"]),
            "40\n"
        );
    }
}

#[test]
fn run_flags_reach_the_daemon_as_dockers_do() {
    let (d, t) = daemon_with_image();
    if Command::new("docker").arg("--version").output().is_err() {
        return;
    }
    let bind = t.path().join("bind");
    std::fs::create_dir(&bind).unwrap();
    let b = bind.to_str().unwrap();
    let ro = format!("{b}:/b:ro");
    let mount = format!("type=bind,source={b},target=/b2,readonly");
    let mut flags: Vec<&str> = vec![
        "-e",
        "A=1",
        "-e",
        "TUG_TEST_FROM_ENV",
        "-e",
        "TUG_TEST_UNSET",
        "-l",
        "k=v",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "-h",
        "hh",
        "--entrypoint",
        "sh",
        "-v",
        &ro,
        "-v",
        "/anon",
        "--mount",
        "type=tmpfs,target=/t,tmpfs-size=1m",
        "--mount",
        &mount,
        "--tmpfs",
        "/run:size=1m",
        "--read-only",
        "-m",
        "64m",
        "--memory-swap",
        "128m",
        "--cpus",
        "0.5",
        "--cpu-shares",
        "512",
        "--cpuset-cpus",
        "0",
        "--pids-limit",
        "50",
        "--ulimit",
        "nofile=100:200",
        "--shm-size",
        "32m",
        "--cap-add",
        "net_admin",
        "--cap-drop",
        "CHOWN",
        "--security-opt",
        "no-new-privileges",
        "--sysctl",
        "net.ipv4.ip_forward=1",
        "--stop-signal",
        "SIGINT",
        "--stop-timeout",
        "5",
        "--restart",
        "on-failure:3",
        "--health-cmd",
        "true",
        "--health-interval",
        "5s",
        "--health-retries",
        "2",
        "--log-opt",
        "max-size=1m",
        "--network",
        "none",
        "--init",
        "--dns",
        "1.1.1.1",
        "--add-host",
        "h1:10.0.0.1",
        "-p",
        "127.0.0.1:8080:80/udp",
        "--expose",
        "90-91",
        "--privileged=false",
        "-i",
    ];
    let mut tug_args = vec!["create", "--name", "by-tug"];
    tug_args.append(&mut flags.clone());
    tug_args.extend([IMG, "-c", "sleep 1"]);
    let mut docker_args = vec!["create", "--name", "by-docker"];
    docker_args.append(&mut flags);
    docker_args.extend([IMG, "-c", "sleep 1"]);
    let o = d
        .cmd(&tug_args)
        .env("TUG_TEST_FROM_ENV", "yes")
        .env_remove("TUG_TEST_UNSET")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = Command::new("docker")
        .env("DOCKER_HOST", d.host())
        .env("TUG_TEST_FROM_ENV", "yes")
        .env_remove("TUG_TEST_UNSET")
        .args(&docker_args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    for part in ["HostConfig", "Config"] {
        let get = |n: &str| -> serde_json::Value {
            let mut v: serde_json::Value = serde_json::from_str(&d.ok(&[
                "inspect",
                "-f",
                &format!("{{{{json .{part}}}}}"),
                n,
            ]))
            .unwrap();
            if let Some(o) = v.as_object_mut() {
                o.remove("Hostname");
                // The docker CLI does not keep -e order stable for names without a value.
                if let Some(serde_json::Value::Array(env)) = o.get_mut("Env") {
                    env.sort_by_key(|e| e.to_string());
                }
            }
            v
        };
        let (mine, theirs) = (get("by-tug"), get("by-docker"));
        for (k, v) in theirs.as_object().unwrap() {
            assert_eq!(&mine[k], v, "{part}.{k}");
        }
        assert_eq!(mine, theirs, "{part}");
    }
    let env = d.ok(&["inspect", "-f", "{{json .Config.Env}}", "by-tug"]);
    assert!(env.contains("\"TUG_TEST_FROM_ENV=yes\""), "{env}");
}

#[test]
fn signals_are_proxied_to_the_container() {
    let (d, _t) = daemon_with_image();
    let mut child = Reap(
        d.cmd(&[
            "run",
            "--rm",
            IMG,
            "sh",
            "-c",
            "trap 'echo got-term; exit 9' TERM; echo ready; while true; do sleep 0.1; done",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap(),
    );
    let mut out = child.0.stdout.take().unwrap();
    let mut buf = [0u8; 6];
    out.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ready\n");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let st = child.wait(Duration::from_secs(15));
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "got-term\n");
    assert_eq!(st.code(), Some(9));
}

#[test]
fn docker_cli_resize_reaches_the_container() {
    let (d, _t) = daemon_with_image();
    if Command::new("docker").arg("--version").output().is_err() {
        return;
    }
    let (pty, slave) = Pty::open(30, 100);
    let mut cmd = Command::new("docker");
    cmd.env("DOCKER_HOST", d.host())
        .args(["run", "-it", "--rm", "--name", "dk", IMG, "sh"]);
    let mut client = Reap(pty.spawn(&slave, cmd));
    pty.expect("# ");
    pty.write(b"stty size\n");
    pty.expect("30 100");
    pty.resize(41, 121);
    pty.retype_until(b"stty size\n", "41 121");
    pty.write(b"exit 2\n");
    let st = client.wait(Duration::from_secs(10));
    assert_eq!(st.code(), Some(2), "{}", pty.text());
}
