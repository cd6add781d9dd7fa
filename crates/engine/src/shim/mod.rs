//! The shim: one small monitor process per running container (`tug shim`).
//!
//! It creates and starts the OCI container in-process through the runtime library, then owns
//! what must outlive the daemon: the container's stdio (pipes or pty), its json-file log, and
//! its exit status. The daemon talks to it over `<dir>/shim.sock` (one JSON request line per
//! connection); when the container exits the shim deletes it, writes `<dir>/exit.json`, answers
//! waiters and ends. A daemon that restarts reconnects to the socket, or reads `exit.json`.

mod client;
mod logfile;
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
