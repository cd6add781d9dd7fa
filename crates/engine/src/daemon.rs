//! The daemon's own directories and the guard that keeps two daemons off one data root.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Where a daemon keeps its state.
#[derive(Debug, Clone)]
pub struct Roots {
    /// Persistent state (`--data-root`, default /var/lib/tug).
    pub data: PathBuf,
    /// Runtime state that a reboot may drop (`--exec-root`, default /run/tug).
    pub exec: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("data root {root} is in use by another tug daemon (pid {pid})")]
    InUse { root: PathBuf, pid: String },
    #[error("{what} {path}: {err}")]
    Io {
        what: &'static str,
        path: PathBuf,
        err: std::io::Error,
    },
}

/// Held for the daemon's lifetime: an exclusive lock on `<data-root>/tug.lock`.
pub struct Lock {
    _file: File,
}

impl Roots {
    pub fn create(&self) -> Result<(), Error> {
        for dir in [&self.data, &self.exec] {
            std::fs::create_dir_all(dir).map_err(|err| Error::Io {
                what: "create",
                path: dir.clone(),
                err,
            })?;
        }
        Ok(())
    }

    /// Take the data root for this process, or say which daemon has it.
    pub fn lock(&self) -> Result<Lock, Error> {
        let path = self.data.join("tug.lock");
        let io = |err| Error::Io {
            what: "lock",
            path: path.clone(),
            err,
        };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        // SAFETY: flock on a descriptor we own; no memory is involved.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            return Err(Error::InUse {
                root: self.data.clone(),
                pid: pid.trim().to_string(),
            });
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        Ok(Lock { _file: file })
    }
}

/// The default socket path for an exec root.
pub fn default_socket(exec_root: &Path) -> PathBuf {
    exec_root.join("tug.sock")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_root_fails_with_the_holder() {
        let d = tempfile::tempdir().unwrap();
        let roots = Roots {
            data: d.path().join("data"),
            exec: d.path().join("exec"),
        };
        roots.create().unwrap();
        let first = roots.lock().unwrap();
        // flock locks belong to open file descriptions: a second open in this process conflicts.
        let err = roots.lock().err().unwrap().to_string();
        assert!(
            err.contains("in use by another tug daemon")
                && err.contains(&std::process::id().to_string()),
            "{err}"
        );
        drop(first);
        assert!(roots.lock().is_ok());
    }
}
