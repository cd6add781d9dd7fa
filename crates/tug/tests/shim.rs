//! The shim as the daemon uses it: it runs a container detached from its starter, logs in
//! json-file format, streams attach with Docker's framing, and records the exit status.

mod common;
use common::*;
use engine::shim::{spawn, Client, ShimConfig};
use serde_json::json;
use std::io::{Read, Write};
use std::path::Path;

struct Shimmed {
    _dir: tempfile::TempDir,
    cfg: ShimConfig,
    _bundle: Bundle,
}

impl Shimmed {
    fn client(&self) -> Client {
        Client::new(&self.cfg.dir)
    }

    fn log_lines(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.cfg.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Shimmed {
    fn drop(&mut self) {
        let _ = std::process::Command::new(TUG)
            .arg("runtime")
            .arg("--root")
            .arg(&self.cfg.runtime_root)
            .args(["delete", "--force", &self.cfg.id])
            .output();
    }
}

fn start(args: &[&str], tty: bool, stdin: bool) -> (Shimmed, i32) {
    let mut b = Bundle::new(args);
    b.edit(|c| c["process"]["terminal"] = json!(tty));
    let dir = tempfile::Builder::new()
        .prefix("tug-shim-")
        .tempdir()
        .unwrap();
    let cfg = ShimConfig {
        id: unique_id("shim"),
        bundle: b.path().to_path_buf(),
        dir: dir.path().join("shim"),
        runtime_root: dir.path().join("runtime"),
        log: dir.path().join("ctr-json.log"),
        log_max_size: 0,
        log_max_files: 1,
        tty,
        stdin,
        wait_attach: 0,
        external: None,
    };
    let pid = spawn(Path::new(TUG), &cfg).unwrap();
    (
        Shimmed {
            _dir: dir,
            cfg,
            _bundle: b,
        },
        pid,
    )
}

fn ppid(pid: i32) -> i32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Split Docker's multiplexed stream into (stream, bytes) frames.
fn demux(mut data: &[u8]) -> Vec<(u8, String)> {
    let mut out = Vec::new();
    while data.len() >= 8 {
        let len = u32::from_be_bytes([data[4], data[5], data[6], data[7]]) as usize;
        out.push((
            data[0],
            String::from_utf8_lossy(&data[8..8 + len]).into_owned(),
        ));
        data = &data[8 + len..];
    }
    out
}

#[test]
fn runs_detached_logs_json_file_and_records_the_exit() {
    let (s, pid) = start(
        &["sh", "-c", "echo out; echo err >&2; sleep 0.3; exit 3"],
        false,
        false,
    );
    let shim_pid = ppid(pid);
    assert_ne!(shim_pid, std::process::id() as i32);
    // The container's init is forked from the shim: the shim must not run from the host binary.
    let exe = std::fs::read_link(format!("/proc/{shim_pid}/exe")).unwrap();
    assert_ne!(
        exe,
        std::fs::canonicalize(TUG).unwrap(),
        "shim runs from the host binary"
    );
    let w = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/{shim_pid}/exe"));
    assert!(
        w.is_err(),
        "the shim's executable can be opened for writing"
    );
    assert_ne!(
        ppid(shim_pid),
        std::process::id() as i32,
        "the shim is still our child: it would die with the daemon"
    );
    let exit = s.client().wait().unwrap();
    assert_eq!(exit.exit_code, 3);
    assert!(!exit.oom_killed);
    let lines = s.log_lines();
    let mut got: Vec<(String, String)> = lines
        .iter()
        .map(|l| {
            (
                l["stream"].as_str().unwrap().into(),
                l["log"].as_str().unwrap().into(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("stderr".to_string(), "err\n".to_string()),
            ("stdout".to_string(), "out\n".to_string())
        ]
    );
    // The shim is gone afterwards, the exit file stays, the OCI container is deleted.
    for _ in 0..100 {
        if !Path::new(&format!("/proc/{shim_pid}")).exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!s.cfg.dir.join("shim.sock").exists());
    assert_eq!(s.client().exit_file().unwrap().exit_code, 3);
    assert!(!s.cfg.runtime_root.join(&s.cfg.id).exists());
}

#[test]
fn attach_streams_with_docker_framing_and_takes_stdin() {
    let (s, _pid) = start(
        &["sh", "-c", "read x; echo got:$x; echo warn >&2"],
        false,
        true,
    );
    let mut conn = s.client().attach(true, true, true).unwrap();
    conn.get_mut().write_all(b"hello\n").unwrap();
    conn.get_mut().shutdown(std::net::Shutdown::Write).unwrap();
    let mut data = Vec::new();
    conn.read_to_end(&mut data).unwrap();
    let mut frames = demux(&data);
    frames.sort();
    assert_eq!(
        frames,
        [(1, "got:hello\n".to_string()), (2, "warn\n".to_string())]
    );
    assert_eq!(s.client().wait().unwrap().exit_code, 0);
}

#[test]
fn tty_output_is_raw_and_resize_reaches_the_pty() {
    let (s, _pid) = start(&["sh", "-c", "sleep 0.5; tty; stty size"], true, false);
    s.client().resize(30, 100).unwrap();
    assert_eq!(s.client().wait().unwrap().exit_code, 0);
    let text: String = s
        .log_lines()
        .iter()
        .map(|l| l["log"].as_str().unwrap().to_string())
        .collect();
    assert!(text.contains("/dev/pts/0"), "{text:?}");
    assert!(text.contains("30 100"), "{text:?}");
}

#[test]
fn kill_and_state() {
    let (s, pid) = start(&["sleep", "60"], false, false);
    let st = s.client().state().unwrap();
    assert!(st.running);
    assert_eq!(st.pid, pid);
    s.client().kill(9).unwrap();
    assert_eq!(s.client().wait().unwrap().exit_code, 137);
}

#[test]
fn a_bad_bundle_is_reported_by_spawn() {
    let b = Bundle::new(&["no-such-program"]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = ShimConfig {
        id: unique_id("shimbad"),
        bundle: b.path().to_path_buf(),
        dir: dir.path().join("shim"),
        runtime_root: dir.path().join("runtime"),
        log: dir.path().join("log"),
        log_max_size: 0,
        log_max_files: 1,
        tty: false,
        stdin: false,
        wait_attach: 0,
        external: None,
    };
    let err = spawn(Path::new(TUG), &cfg).unwrap_err().to_string();
    assert!(err.contains("executable file not found"), "{err}");
    assert!(!cfg.runtime_root.join(&cfg.id).exists());
}
