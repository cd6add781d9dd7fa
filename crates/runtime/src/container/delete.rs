//! `delete`: remove a stopped container (or, with `--force`, any container).

use super::{load, wait_gone};
use crate::cgroups;
use crate::error::{Error, Result};
use crate::hooks;
use crate::state::Status;
use std::path::Path;
use std::time::Duration;

pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let c = match load(root, id) {
        Ok(c) => c,
        Err(Error::NotFound(_)) if force => return Ok(()),
        Err(e) => return Err(e),
    };
    let m = cgroups::manager(&c.record.cgroup);
    match c.status {
        Status::Stopped => {}
        Status::Created => kill_all(&c.record, &*m)?,
        s if force => {
            if s == Status::Paused {
                m.thaw()?;
            }
            kill_all(&c.record, &*m)?;
        }
        s => {
            return Err(Error::NotStopped {
                id: id.into(),
                status: s.as_str(),
            })
        }
    }
    // Processes that outlived init (no pid namespace) must not keep the cgroup busy.
    if let Ok(pids) = m.pids() {
        for pid in pids {
            // SAFETY: signals to processes of the container's own cgroup.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    m.destroy()?;
    let dir = c.record.dir(root);
    std::fs::remove_dir_all(&dir).map_err(|e| Error::io("remove state dir", &dir, e))?;
    let state = c.record.oci_state(Status::Stopped);
    let poststop = c
        .record
        .spec
        .hooks()
        .as_ref()
        .and_then(|h| h.poststop().as_ref());
    if let Err(e) = hooks::run_all("poststop", poststop, &state) {
        // The spec: a failing poststop hook is logged; delete still succeeds.
        eprintln!("warning: {e}");
    }
    Ok(())
}

fn kill_all(r: &crate::state::Record, m: &dyn cgroups::Manager) -> Result<()> {
    if r.init_alive() {
        // SAFETY: init's identity was checked against its start time just before.
        unsafe { libc::kill(r.pid, libc::SIGKILL) };
    }
    for pid in m.pids().unwrap_or_default() {
        // SAFETY: signals to processes of the container's own cgroup.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    if !wait_gone(r.pid, r.pid_start, Duration::from_secs(10)) {
        return Err(Error::Init(format!(
            "container {} init {} did not die after SIGKILL",
            r.id, r.pid
        )));
    }
    Ok(())
}
