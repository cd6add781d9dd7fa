//! The shim: one small monitor process per running container (`tug shim`).
//!
//! It creates and starts the OCI container in-process through the runtime library, then owns
//! what must outlive the daemon: the container's stdio (pipes or pty), its json-file log, and
//! its exit status. The daemon talks to it over `<dir>/shim.sock` (one JSON request line per
//! connection); when the container exits the shim deletes it, writes `<dir>/exit.json`, answers
//! waiters and ends. A daemon that restarts reconnects to the socket, or reads `exit.json`.

mod client;
pub(crate) mod external;
mod logfile;
mod pages;
mod proto;
mod server;

pub use client::{spawn, Client};
pub use logfile::LogFile;
pub use proto::{ExitInfo, Request, StateReply, EXIT_FILE, SOCKET};
pub use server::{owned, run};

use std::path::PathBuf;

/// How the daemon asks a shim to run a container.
#[derive(Debug, Clone)]
pub struct ShimConfig {
    pub id: String,
    pub bundle: PathBuf,
    /// The shim's own directory: control socket and exit file.
    pub dir: PathBuf,
    /// The OCI runtime's state root.
    pub runtime_root: PathBuf,
    pub log: PathBuf,
    pub log_max_size: u64,
    pub log_max_files: u32,
    pub tty: bool,
    pub stdin: bool,
    /// Hold the start until this many attach clients are connected (at most 10 s), so a
    /// short-lived container's output reaches clients that attached before `start`.
    pub wait_attach: u32,
    /// An external OCI runtime binary to run the container with (None: tug's own).
    pub external: Option<crate::runtimes::External>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("shim for {id}: {reason}")]
    Start { id: String, reason: String },
    #[error("shim {path}: {err}")]
    Io { path: PathBuf, err: std::io::Error },
    #[error("shim {path}: bad reply: {err}")]
    Protocol {
        path: PathBuf,
        err: serde_json::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

/// `dir/name` as a socket address of any length: through an open descriptor of `dir`
/// (`/proc/self/fd/N/name`), since socket paths are limited to 108 bytes. The descriptor must
/// stay open while the address is used.
fn short_path(dir: &std::path::Path, name: &str) -> std::io::Result<(std::fs::File, PathBuf)> {
    use std::os::fd::AsRawFd;
    let d = std::fs::File::open(dir)?;
    let p = PathBuf::from(format!("/proc/self/fd/{}/{name}", d.as_raw_fd()));
    Ok((d, p))
}

/// Connect to a shim's control socket in `dir`.
pub fn connect(dir: &std::path::Path) -> std::io::Result<std::os::unix::net::UnixStream> {
    let (_d, p) = short_path(dir, SOCKET)?;
    std::os::unix::net::UnixStream::connect(p)
}
