//! `kill`: send a signal to the container's init, or to every process in it (`--all`).

use super::load;
use crate::cgroups;
use crate::error::{Error, Result};
use crate::state::Status;
use std::path::Path;

/// Parse "TERM", "SIGTERM", "sigterm" or "15".
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .map(|s| s as i32)
        .map_err(|_| Error::Unsupported(format!("unknown signal {s:?}")))
}

pub fn kill(root: &Path, id: &str, signal: i32, all: bool) -> Result<()> {
    let c = load(root, id)?;
    if c.status == Status::Stopped && !all {
        return Err(Error::WrongState {
            id: id.into(),
            status: "stopped",
            op: "kill",
        });
    }
    if all {
        let m = cgroups::manager(&c.record.cgroup);
        let frozen = c.status == Status::Paused;
        for pid in m.pids()? {
            // SAFETY: kill only sends a signal; the pids come from the container's cgroup.
            unsafe { libc::kill(pid, signal) };
        }
        if frozen && signal == libc::SIGKILL {
            m.thaw()?;
        }
        return Ok(());
    }
    // SAFETY: as above; init's identity was checked against its start time by `load`.
    if unsafe { libc::kill(c.record.pid, signal) } != 0 {
        return Err(Error::sys(
            format!("kill container {id}"),
            nix::errno::Errno::last(),
        ));
    }
    Ok(())
}
