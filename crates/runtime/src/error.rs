//! The runtime's error type: one kind per cause, each naming the object it is about.

use std::path::PathBuf;

pub type Result<T> = std::result::Result<T, Error>;

/// Broad classes of failure, for callers that map errors to exit codes or HTTP statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    NotFound,
    Conflict,
    Invalid,
    System,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("container does not exist: {0}")]
    NotFound(String),
    #[error("container with id exists: {0}")]
    Exists(String),
    #[error("invalid container id {0:?}: use letters, digits, '_', '-', '.' (1-1024 characters)")]
    InvalidId(String),
    #[error("invalid config {path}: {reason}")]
    InvalidSpec { path: PathBuf, reason: String },
    #[error("{0}")]
    Unsupported(String),
    #[error("container {id} is {status}: cannot {op}")]
    WrongState {
        id: String,
        status: &'static str,
        op: &'static str,
    },
    #[error("cannot delete container {id} that is not stopped: {status}")]
    NotStopped { id: String, status: &'static str },
    #[error("{op} {path}: {err}")]
    Io {
        op: &'static str,
        path: PathBuf,
        err: std::io::Error,
    },
    #[error("{op}: {err}")]
    Sys { op: String, err: nix::Error },
    #[error("cgroup: {0}")]
    Cgroup(crate::cgroups::Error),
    #[error("seccomp: {0}")]
    Seccomp(String),
    #[error("{hook} hook #{index} ({path}): {reason}")]
    Hook {
        hook: &'static str,
        index: usize,
        path: String,
        reason: String,
    },
    #[error("container init: {0}")]
    Init(String),
    #[error("exec: {0:?}: executable file not found in $PATH")]
    ExecNotFound(String),
    /// The program named by a path cannot be run: missing, a directory, not executable.
    #[error("exec: {arg0:?}: {reason}")]
    ExecNotRunnable { arg0: String, reason: String },
    #[error("state file {path}: {err}")]
    State {
        path: PathBuf,
        err: serde_json::Error,
    },
}

impl Error {
    pub fn kind(&self) -> Kind {
        match self {
            Error::NotFound(_) => Kind::NotFound,
            Error::Exists(_) | Error::WrongState { .. } | Error::NotStopped { .. } => {
                Kind::Conflict
            }
            Error::InvalidId(_)
            | Error::InvalidSpec { .. }
            | Error::Unsupported(_)
            | Error::ExecNotFound(_)
            | Error::ExecNotRunnable { .. } => Kind::Invalid,
            _ => Kind::System,
        }
    }

    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            err: source,
        }
    }

    pub fn sys(op: impl Into<String>, source: nix::Error) -> Self {
        Error::Sys {
            op: op.into(),
            err: source,
        }
    }

    pub fn spec(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::InvalidSpec {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

impl From<crate::cgroups::Error> for Error {
    fn from(e: crate::cgroups::Error) -> Self {
        Error::Cgroup(e)
    }
}

/// An OS error worded as Go words it, so runc's and Docker's messages (and the clients that
/// read them) match: "no such file or directory", "exec format error".
pub fn os_text(e: &std::io::Error) -> String {
    let full = e.to_string();
    let text = full.split(" (os error").next().unwrap_or(&full);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
