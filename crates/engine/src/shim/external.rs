//! The shim's container when it runs on an external OCI runtime binary (`--runtime runc`):
//! `<runtime> create/start/kill/delete` instead of tug's in-process runtime. The container's
//! init is re-parented to the shim (a child subreaper), which reaps it as it does its own.

use super::server::Io;
use super::ShimConfig;
use crate::runtimes::External;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The runtime's state root: its own directory beside tug's, one per runtime binary.
fn root(cfg: &ShimConfig, ext: &External) -> PathBuf {
    root_beside(&cfg.runtime_root, ext)
}

/// The state root of an external runtime beside tug's runtime root `ours`.
pub(crate) fn root_beside(ours: &std::path::Path, ext: &External) -> PathBuf {
    let name = ext
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "external".into());
    let base = ours.file_name().map(|n| n.to_string_lossy().into_owned());
    ours.with_file_name(format!(
        "{}-{name}",
        base.unwrap_or_else(|| "runtime".into())
    ))
}

fn log_file(cfg: &ShimConfig) -> PathBuf {
    cfg.dir.join("runtime.log")
}

fn command(cfg: &ShimConfig, ext: &External) -> Command {
    let mut c = Command::new(&ext.path);
    c.args(&ext.args)
        .arg("--root")
        .arg(root(cfg, ext))
        .arg("--log")
        .arg(log_file(cfg))
        .arg("--log-format")
        .arg("json");
    c
}

/// The runtime's last error message (its log is JSON lines with `msg`).
fn last_error(cfg: &ShimConfig, ext: &External, verb: &str) -> String {
    let text = std::fs::read_to_string(log_file(cfg)).unwrap_or_default();
    let msg = text
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["level"] == "error")
        .and_then(|v| v["msg"].as_str().map(String::from))
        .or_else(|| text.lines().last().map(String::from))
        .unwrap_or_else(|| "failed".into());
    format!("{} {verb}: {msg}", ext.path.display())
}

fn run(cfg: &ShimConfig, ext: &External, verb: &str, mut c: Command) -> Result<(), String> {
    let status = c
        .status()
        .map_err(|e| format!("{} {verb}: {e}", ext.path.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(last_error(cfg, ext, verb))
    }
}

/// `<runtime> create`: the container's stdio are the runtime's (pipes), or a pty whose
/// master the runtime sends over a console socket.
pub(super) fn create(cfg: &ShimConfig, ext: &External) -> Result<(i32, Io), String> {
    let pid_file = cfg.dir.join("init.pid");
    let _ = std::fs::remove_file(&pid_file);
    let mut c = command(cfg, ext);
    c.arg("create")
        .arg("--bundle")
        .arg(&cfg.bundle)
        .arg("--pid-file")
        .arg(&pid_file);
    let mut io = Io {
        stdin: None,
        outputs: Vec::new(),
        master: None,
    };
    let console = if cfg.tty {
        // Socket paths are short: a private name in the temp dir, removed at once.
        let short: String = cfg.id.chars().take(16).collect();
        let path =
            std::env::temp_dir().join(format!("tug-console-{short}-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let l = UnixListener::bind(&path).map_err(|e| format!("console socket: {e}"))?;
        c.arg("--console-socket").arg(&path);
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        Some((l, path))
    } else {
        let stdin: Stdio = if cfg.stdin {
            let (r, w) = super::server::pipe()?;
            io.stdin = Some(w);
            r.into()
        } else {
            Stdio::null()
        };
        let (out_r, out_w) = super::server::pipe()?;
        let (err_r, err_w) = super::server::pipe()?;
        io.outputs = vec![(1, out_r), (2, err_r)];
        c.stdin(stdin).stdout(out_w).stderr(err_w);
        None
    };
    c.arg(&cfg.id);
    let created = run(cfg, ext, "create", c);
    if let Some((l, path)) = console {
        let master = created.as_ref().ok().map(|_| receive_master(&l));
        let _ = std::fs::remove_file(&path);
        if let Some(master) = master {
            let master = master?;
            io.outputs = vec![(1, master.try_clone().map_err(|e| e.to_string())?)];
            io.stdin = Some(master.try_clone().map_err(|e| e.to_string())?);
            io.master = Some(master);
        }
    }
    created?;
    let pid = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok())
        .ok_or_else(|| {
            format!(
                "{} create: no pid in {}",
                ext.path.display(),
                pid_file.display()
            )
        })?;
    Ok((pid, io))
}

/// The pty master the runtime sent (it connected while `create` ran; 5 s at most).
fn receive_master(l: &UnixListener) -> Result<OwnedFd, String> {
    l.set_nonblocking(true).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).map_err(|e| e.to_string())?;
                return runtime::tty::recv_master(&OwnedFd::from(s)).map_err(|e| e.to_string());
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => return Err(format!("console socket: no terminal from the runtime: {e}")),
        }
    }
}

pub(super) fn start(cfg: &ShimConfig, ext: &External) -> Result<(), String> {
    let mut c = command(cfg, ext);
    c.arg("start")
        .arg(&cfg.id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    run(cfg, ext, "start", c)
}

pub(super) fn kill(cfg: &ShimConfig, ext: &External, signal: i32) -> Result<(), String> {
    let mut c = command(cfg, ext);
    c.arg("kill")
        .arg(&cfg.id)
        .arg(signal.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    run(cfg, ext, "kill", c)
}

pub(super) fn delete(cfg: &ShimConfig, ext: &External) {
    let mut c = command(cfg, ext);
    c.arg("delete")
        .arg("--force")
        .arg(&cfg.id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _ = c.status();
}

/// Start the created container on its runtime (tug's in-process one, or the external one).
pub(super) fn start_container(cfg: &ShimConfig) -> Result<(), String> {
    match &cfg.external {
        Some(ext) => start(cfg, ext),
        None => runtime::container::start(&cfg.runtime_root, &cfg.id).map_err(|e| e.to_string()),
    }
}

pub(super) fn kill_container(cfg: &ShimConfig, signal: i32) -> Result<(), String> {
    match &cfg.external {
        Some(ext) => kill(cfg, ext, signal),
        None => runtime::container::kill(&cfg.runtime_root, &cfg.id, signal, false)
            .map_err(|e| e.to_string()),
    }
}

pub(super) fn delete_container(cfg: &ShimConfig) {
    match &cfg.external {
        Some(ext) => delete(cfg, ext),
        None => {
            let _ = runtime::container::delete(&cfg.runtime_root, &cfg.id, true);
        }
    }
}
