//! Processes around the container's main one: exec, terminals (console socket), and hooks.

mod common;
use common::*;
use serde_json::json;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::process::Stdio;

fn running(rt: &Runtime, edit: impl FnOnce(&mut serde_json::Value)) -> (Bundle, String) {
    let mut b = Bundle::new(&["sleep", "60"]);
    b.edit(edit);
    let id = rt.create(&b, "proc");
    ok(rt.run(&["start", &id]));
    (b, id)
}

#[test]
fn exec_runs_inside_the_container_namespaces_and_cgroup() {
    let rt = Runtime::new();
    let (_b, id) = running(&rt, |c| c["hostname"] = json!("execbox"));
    let out = ok(rt.run(&[
        "exec",
        "--env",
        "FOO=bar",
        "--cwd",
        "/tmp",
        &id,
        "sh",
        "-c",
        "hostname; echo $FOO; pwd; echo $$; cat /proc/1/cmdline | tr '\\0' ' '",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "execbox");
    assert_eq!(lines[1], "bar");
    assert_eq!(lines[2], "/tmp");
    assert_ne!(
        lines[3], "1",
        "exec'd process is not in the container's pid namespace"
    );
    assert_eq!(lines[4].trim(), "sleep 60");
    let pids: Vec<i64> =
        serde_json::from_str(&ok(rt.run(&["ps", "--format", "json", &id]))).unwrap();
    assert_eq!(
        pids.len(),
        1,
        "only init should remain after exec ends: {pids:?}"
    );
}

#[test]
fn exec_exit_code_user_and_caps() {
    let rt = Runtime::new();
    let (_b, id) = running(&rt, |_| {});
    let out = rt.run(&["exec", &id, "sh", "-c", "exit 5"]);
    assert_eq!(out.status.code(), Some(5));
    let out = ok(rt.run(&["exec", "--user", "1000:1000", &id, "id"]));
    assert_eq!(out.trim(), "uid=1000 gid=1000");
    let out = ok(rt.run(&[
        "exec",
        "--cap",
        "CAP_SYS_ADMIN",
        &id,
        "grep",
        "CapEff",
        "/proc/self/status",
    ]));
    assert_ne!(
        cap_mask(&out, "CapEff") & (1 << 21),
        0,
        "--cap CAP_SYS_ADMIN not granted: {out}"
    );
    let out = rt.run(&["exec", &id, "no-such-binary"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("executable file not found"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn exec_with_a_process_file_and_detach() {
    let rt = Runtime::new();
    let (b, id) = running(&rt, |_| {});
    let mut p = b.config["process"].clone();
    p["args"] = json!(["sh", "-c", "echo from-process-json > /tmp/mark; sleep 30"]);
    let pfile = b.path().join("process.json");
    std::fs::write(&pfile, p.to_string()).unwrap();
    let pidfile = b.path().join("exec.pid");
    let status = rt
        .cmd()
        .args(["exec", "--detach", "--process"])
        .arg(&pfile)
        .arg("--pid-file")
        .arg(&pidfile)
        .arg(&id)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    for _ in 0..200 {
        if ok(rt.run(&["exec", &id, "cat", "/tmp/mark"])).contains("from-process-json") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let pids: Vec<i64> =
        serde_json::from_str(&ok(rt.run(&["ps", "--format", "json", &id]))).unwrap();
    assert!(pids.contains(&(pid as i64)), "{pids:?} lacks {pid}");
    ok(rt.run(&["kill", "--all", &id, "KILL"]));
    rt.wait_status(&id, "stopped");
}

/// Receive a pty master sent to a console socket.
fn accept_master(listener: &UnixListener) -> OwnedFd {
    let (conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 256];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([i32; 1]);
    let msg = nix::sys::socket::recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        nix::sys::socket::MsgFlags::empty(),
    )
    .unwrap();
    for c in msg.cmsgs().unwrap() {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the kernel installed this descriptor for us.
            return unsafe { OwnedFd::from_raw_fd(fds[0]) };
        }
    }
    panic!("no descriptor received on the console socket");
}

fn read_until(master: &OwnedFd, needle: &str) -> String {
    let mut all = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !all.contains(needle) && std::time::Instant::now() < deadline {
        let mut fds = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(master),
            nix::poll::PollFlags::POLLIN,
        )];
        if nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(200u16)).unwrap() > 0 {
            let mut buf = [0u8; 4096];
            match nix::unistd::read(master, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => all.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    }
    all
}

#[test]
fn terminal_through_a_console_socket() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "tty; [ -t 0 ] && echo stdin-is-a-tty; stty size; read line; echo got:$line",
    ]);
    b.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["consoleSize"] = json!({"height": 33, "width": 99});
    });
    let sock = b.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let id = unique_id("tty");
    rt.track(&id);
    let creator = std::thread::spawn({
        let cmd_root = rt.root.path().to_path_buf();
        let bundle = b.path().to_path_buf();
        let sock = sock.clone();
        let id = id.clone();
        move || {
            std::process::Command::new(TUG)
                .arg("runtime")
                .arg("--root")
                .arg(cmd_root)
                .args(["create", "--console-socket"])
                .arg(sock)
                .arg("--bundle")
                .arg(bundle)
                .arg(id)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap()
        }
    });
    let master = accept_master(&listener);
    assert!(creator.join().unwrap().success());
    ok(rt.run(&["start", &id]));
    let out = read_until(&master, "99");
    assert!(out.contains("/dev/pts/0"), "{out:?}");
    assert!(out.contains("stdin-is-a-tty"), "{out:?}");
    assert!(out.contains("33 99"), "console size not applied: {out:?}");
    nix::unistd::write(&master, b"typed\n").unwrap();
    let out = read_until(&master, "got:typed");
    assert!(out.contains("got:typed"), "{out:?}");
}

#[test]
fn exec_with_a_tty_in_the_foreground() {
    // A foreground `exec -t` proxies the pty to our stdio (here pipes).
    let rt = Runtime::new();
    let (_b, id) = running(&rt, |_| {});
    let out = rt
        .cmd()
        .args(["exec", "-t", &id, "sh", "-c", "tty; exit 3"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "stderr: {}", stderr(&out));
    assert!(stdout(&out).contains("/dev/pts/"), "{}", stdout(&out));
}

fn hook(path: &str, script: &str) -> serde_json::Value {
    json!({"path": path, "args": ["sh", "-c", script]})
}

#[test]
fn hooks_run_at_their_moments_with_state_on_stdin() {
    let rt = Runtime::new();
    let marks = tempfile::tempdir().unwrap();
    let m = marks.path().to_str().unwrap().to_string();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "cat /hookdir/startContainer 2>/dev/null || echo missing",
    ]);
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/hookdir", "type": "bind", "source": m, "options": ["rbind", "rw"]}));
        c["hooks"] = json!({
            "prestart": [hook("/bin/sh", &format!("cat > {m}/prestart"))],
            "createRuntime": [hook("/bin/sh", &format!("cat > {m}/createRuntime"))],
            "createContainer": [hook("/bin/sh", &format!("cat > {m}/createContainer; hostname > {m}/createContainer.hostname"))],
            // Runs inside the container: its path and files are the container's.
            "startContainer": [hook("/bin/sh", "echo started-inside > /hookdir/startContainer; cat > /hookdir/startContainer.state")],
            "poststart": [hook("/bin/sh", &format!("cat > {m}/poststart"))],
            "poststop": [hook("/bin/sh", &format!("cat > {m}/poststop"))]
        });
        c["hostname"] = json!("hooked");
    });
    let out = ok(rt.run_bundle(&b));
    assert_eq!(
        out, "started-inside\n",
        "startContainer did not run in the container before the process"
    );
    for kind in [
        "prestart",
        "createRuntime",
        "createContainer",
        "poststart",
        "poststop",
        "startContainer.state",
    ] {
        let s: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(marks.path().join(kind))
                .unwrap_or_else(|_| panic!("{kind} hook did not run")),
        )
        .unwrap();
        assert!(
            s["id"].as_str().unwrap().starts_with("tug-test-"),
            "{kind}: {s}"
        );
        assert!(
            s["pid"].as_i64().unwrap() > 0 || kind == "poststop",
            "{kind}: {s}"
        );
        assert_eq!(
            s["bundle"],
            b.path().canonicalize().unwrap().to_str().unwrap(),
            "{kind}"
        );
    }
    // createContainer runs in the container's namespaces (its hostname).
    assert_eq!(
        std::fs::read_to_string(marks.path().join("createContainer.hostname"))
            .unwrap()
            .trim(),
        "hooked"
    );
}

#[test]
fn a_failing_hook_fails_create_and_cleans_up() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| c["hooks"] = json!({"createRuntime": [hook("/bin/sh", "echo nope >&2; exit 3")]}));
    let out = rt.run_bundle(&b);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("createRuntime hook #0") && stderr(&out).contains("nope"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_dir(rt.root.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().is_dir())
            .count(),
        0
    );
}

#[test]
fn a_hook_that_hangs_is_killed_at_its_timeout() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| c["hooks"] = json!({"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "sleep 30"], "timeout": 1}]}));
    let t = std::time::Instant::now();
    let out = rt.run_bundle(&b);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("timed out"), "{}", stderr(&out));
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
}
