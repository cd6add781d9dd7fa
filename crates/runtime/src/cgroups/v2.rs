//! The cgroup v2 manager: one directory in the unified hierarchy.

use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use super::fsutil::{self, read_keyed, read_opt, write};
use super::{stats, v2_resources, Error, Manager, Result, Stats};

const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(10);

/// Manages a container's cgroup on a v2 host (or in a hybrid host's cgroup2 mount).
pub(crate) struct V2Manager {
    mount: PathBuf,
    dir: PathBuf,
    created_below: PathBuf,
}

impl V2Manager {
    pub(crate) fn new(mount: PathBuf, dir: PathBuf, created_below: PathBuf) -> Self {
        V2Manager {
            mount,
            dir,
            created_below,
        }
    }

    /// The mount root and every ancestor of `dir` below it, top down.
    fn ancestors(&self) -> Vec<&Path> {
        let mut out: Vec<&Path> = self
            .dir
            .ancestors()
            .skip(1)
            .take_while(|a| a.starts_with(&self.mount))
            .collect();
        out.reverse();
        out
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        let (value, want) = if frozen {
            ("1", "frozen")
        } else {
            ("0", "thawed")
        };
        write(&self.dir, "cgroup.freeze", value)?;
        let start = Instant::now();
        while start.elapsed() < FREEZE_TIMEOUT {
            if self.is_frozen()? == frozen {
                return Ok(());
            }
            sleep(POLL);
        }
        Err(Error::FreezeTimeout {
            path: self.dir.clone(),
            want,
        })
    }
}

/// Enables in `dir`'s cgroup.subtree_control every controller it has. Failures
/// are ignored (e.g. a cgroup with processes cannot delegate): resources that
/// then lack their files fail clearly in `set`.
fn enable_controllers(dir: &Path) {
    let Ok(Some(available)) = read_opt(dir, "cgroup.controllers") else {
        return;
    };
    let wanted: Vec<String> = available
        .split_whitespace()
        .map(|c| format!("+{c}"))
        .collect();
    if wanted.is_empty() || write(dir, "cgroup.subtree_control", wanted.join(" ")).is_ok() {
        return;
    }
    for c in wanted {
        let _ = write(dir, "cgroup.subtree_control", c);
    }
}

impl Manager for V2Manager {
    fn create(&self) -> Result<()> {
        fsutil::create_dir(&self.dir)?;
        for dir in self.ancestors() {
            enable_controllers(dir);
        }
        Ok(())
    }

    fn add_pid(&self, pid: i32) -> Result<()> {
        write(&self.dir, "cgroup.procs", pid.to_string())
    }

    fn set(&self, r: &LinuxResources) -> Result<()> {
        v2_resources::apply(&self.dir, r)
    }

    fn freeze(&self) -> Result<()> {
        let result = self.set_frozen(true);
        if result.is_err() {
            // Do not leave the container half frozen.
            let _ = write(&self.dir, "cgroup.freeze", "0");
        }
        result
    }

    fn thaw(&self) -> Result<()> {
        self.set_frozen(false)
    }

    fn is_frozen(&self) -> Result<bool> {
        let events = read_keyed(&self.dir, "cgroup.events")?;
        Ok(events.get("frozen") == Some(&1))
    }

    fn pids(&self) -> Result<Vec<i32>> {
        let mut out = Vec::new();
        fsutil::procs_recursive(&self.dir, &mut out)?;
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    fn stats(&self) -> Result<Stats> {
        stats::v2(&self.dir)
    }

    fn oom_kill_count(&self) -> Result<u64> {
        let events = read_keyed(&self.dir, "memory.events")?;
        Ok(events.get("oom_kill").copied().unwrap_or(0))
    }

    fn destroy(&self) -> Result<()> {
        fsutil::remove_created(&self.dir, Some(&self.created_below))
    }
}
