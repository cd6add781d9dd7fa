//! Container operations, one file per verb: what `tug runtime <verb>` does.

mod create;
mod delete;
mod exec;
mod info;
mod kill;
mod pause;
mod start;
mod update;

pub use create::{create, CreateOpts};
pub use delete::delete;
pub use exec::{exec, process_from_args, ExecOpts};
pub use info::{list, oom_kills, ps_pids, state, stats};
pub use kill::{kill, parse_signal};
pub use pause::{pause, resume};
pub use start::start;
pub use update::update;

use crate::error::Result;
use crate::state::{Record, Status};
use std::path::Path;

/// A loaded container and its current status.
pub struct Container {
    pub record: Record,
    pub status: Status,
}

pub fn load(root: &Path, id: &str) -> Result<Container> {
    let record = Record::load(root, id)?;
    let status = record.status(root);
    Ok(Container { record, status })
}

/// Wait (up to `timeout`) for a process that is not our child to be gone.
pub(crate) fn wait_gone(pid: i32, start: u64, timeout: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match crate::util::proc_start_time(pid) {
            Some((t, false)) if t == start => {}
            _ => return true,
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        // Reap it if it happens to be our child (as after `run`).
        // SAFETY: waitpid with WNOHANG on a specific pid only affects that child.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}
