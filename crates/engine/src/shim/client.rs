//! The daemon's side: start a shim, and talk to a running one.

use super::proto::{ExitInfo, Request, StateReply, EXIT_FILE, SOCKET};
use super::{Error, Result, ShimConfig};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Start `tug shim` for `cfg` with the tug binary `exe`; returns the container's pid once it
/// runs. The shim detaches (its own session, re-parented away from the daemon).
pub fn spawn(exe: &Path, cfg: &ShimConfig) -> Result<i32> {
    let io = |err| Error::Io {
        path: cfg.dir.clone(),
        err,
    };
    std::fs::create_dir_all(&cfg.dir).map_err(io)?;
    let (mut ready_r, ready_w) = std::io::pipe().map_err(io)?;
    let mut cmd = Command::new(exe);
    cmd.arg("shim")
        .arg("--id")
        .arg(&cfg.id)
        .arg("--bundle")
        .arg(&cfg.bundle);
    cmd.arg("--dir")
        .arg(&cfg.dir)
        .arg("--runtime-root")
        .arg(&cfg.runtime_root);
    cmd.arg("--log").arg(&cfg.log);
    cmd.arg("--log-max-size").arg(cfg.log_max_size.to_string());
    cmd.arg("--log-max-files")
        .arg(cfg.log_max_files.to_string());
    if cfg.tty {
        cmd.arg("--tty");
    }
    if cfg.stdin {
        cmd.arg("--stdin");
    }
    if cfg.wait_attach > 0 {
        cmd.arg("--wait-attach").arg(cfg.wait_attach.to_string());
    }
    if let Some(ext) = &cfg.external {
        cmd.arg("--runtime-path").arg(&ext.path);
        for a in &ext.args {
            cmd.arg(format!("--runtime-arg={a}"));
        }
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let ready_fd = std::os::fd::AsRawFd::as_raw_fd(&ready_w);
    // SAFETY: between fork and exec only dup2 runs, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(ready_fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(io)?;
    drop(ready_w);
    drop(cmd);
    let mut reply = String::new();
    BufReader::new(&mut ready_r)
        .read_line(&mut reply)
        .map_err(io)?;
    let _ = child.wait();
    let v: serde_json::Value =
        serde_json::from_str(reply.trim()).map_err(|err| Error::Protocol {
            path: cfg.dir.clone(),
            err,
        })?;
    match (v["pid"].as_i64(), v["error"].as_str()) {
        (Some(pid), _) => Ok(pid as i32),
        (_, Some(e)) => Err(Error::Start {
            id: cfg.id.clone(),
            reason: e.to_string(),
        }),
        _ => Err(Error::Start {
            id: cfg.id.clone(),
            reason: format!("unexpected reply {reply:?}"),
        }),
    }
}

/// A connection to a running shim.
pub struct Client {
    dir: PathBuf,
}

impl Client {
    pub fn new(dir: &Path) -> Client {
        Client {
            dir: dir.to_path_buf(),
        }
    }

    fn socket(&self) -> PathBuf {
        self.dir.join(SOCKET)
    }

    /// A raw connection to the control socket, for callers that speak the protocol
    /// themselves (async attach).
    pub fn connect(&self) -> std::io::Result<UnixStream> {
        super::connect(&self.dir)
    }

    /// Send one request; returns the connection positioned after the reply line, and the line.
    pub fn request(&self, req: &Request) -> Result<(BufReader<UnixStream>, String)> {
        let io = |err| Error::Io {
            path: self.socket(),
            err,
        };
        let mut s = super::connect(&self.dir).map_err(io)?;
        let mut line = serde_json::to_vec(req).expect("requests serialize");
        line.push(b'\n');
        s.write_all(&line).map_err(io)?;
        let mut r = BufReader::new(s);
        let mut reply = String::new();
        r.read_line(&mut reply).map_err(io)?;
        Ok((r, reply))
    }

    fn parse<T: serde::de::DeserializeOwned>(&self, line: &str) -> Result<T> {
        serde_json::from_str(line).map_err(|err| Error::Protocol {
            path: self.socket(),
            err,
        })
    }

    pub fn state(&self) -> Result<StateReply> {
        let (_, line) = self.request(&Request::State)?;
        self.parse(&line)
    }

    /// Block until the container exits; works also after the shim is gone (exit file).
    pub fn wait(&self) -> Result<ExitInfo> {
        match self.request(&Request::Wait) {
            Ok((_, line)) => {
                let st: StateReply = self.parse(&line)?;
                st.exit.ok_or_else(|| Error::Start {
                    id: self.dir.display().to_string(),
                    reason: "wait returned no exit".into(),
                })
            }
            Err(e) => self.exit_file().map_err(|_| e),
        }
    }

    pub fn exit_file(&self) -> Result<ExitInfo> {
        let path = self.dir.join(EXIT_FILE);
        let data = std::fs::read(&path).map_err(|err| Error::Io {
            path: path.clone(),
            err,
        })?;
        serde_json::from_slice(&data).map_err(|err| Error::Protocol { path, err })
    }

    pub fn kill(&self, signal: i32) -> Result<()> {
        self.request(&Request::Kill { signal }).map(|_| ())
    }

    pub fn resize(&self, height: u16, width: u16) -> Result<()> {
        self.request(&Request::Resize { height, width }).map(|_| ())
    }

    /// Attach: the returned stream carries output (framed unless tty) and takes stdin.
    pub fn attach(&self, stdin: bool, stdout: bool, stderr: bool) -> Result<BufReader<UnixStream>> {
        self.request(&Request::Attach {
            stdin,
            stdout,
            stderr,
        })
        .map(|(r, _)| r)
    }
}
