//! The cgroup v1 manager: one directory per mounted hierarchy.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use super::fsutil::{self, read, read_keyed, write};
use super::{stats, v1_resources, Error, Manager, Result, Stats};

const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(10);

/// Manages a container's cgroup on a v1 (or hybrid) host.
pub(crate) struct V1Manager {
    dirs: BTreeMap<String, PathBuf>,
    created_below: BTreeMap<String, PathBuf>,
}

impl V1Manager {
    pub(crate) fn new(
        dirs: BTreeMap<String, PathBuf>,
        created_below: BTreeMap<String, PathBuf>,
    ) -> Self {
        V1Manager {
            dirs,
            created_below,
        }
    }

    /// The dir of `subsystem`, if that hierarchy is mounted.
    pub(crate) fn dir(&self, subsystem: &str) -> Option<&Path> {
        self.dirs.get(subsystem).map(PathBuf::as_path)
    }

    /// The dir of `controller`, or an error naming the resource that needs it.
    pub(crate) fn require(
        &self,
        controller: &'static str,
        resource: &'static str,
    ) -> Result<&Path> {
        self.dir(controller).ok_or(Error::NoController {
            controller,
            resource,
        })
    }

    /// Each distinct dir once (co-mounted subsystems share one), with its subsystem.
    fn unique_dirs(&self) -> Vec<(&str, &Path)> {
        let mut seen = BTreeSet::new();
        self.dirs
            .iter()
            .filter(|(_, d)| seen.insert(d.as_path()))
            .map(|(k, d)| (k.as_str(), d.as_path()))
            .collect()
    }

    fn freezer(&self) -> Result<&Path> {
        self.require("freezer", "freeze")
    }

    fn set_freezer_state(&self, want: &'static str) -> Result<()> {
        let dir = self.freezer()?;
        write(dir, "freezer.state", want)?;
        let start = Instant::now();
        for i in 1.. {
            if read(dir, "freezer.state")?.trim() == want {
                return Ok(());
            }
            if start.elapsed() > FREEZE_TIMEOUT {
                break;
            }
            if i % 10 == 0 {
                // Freezing can stall on tasks in uninterruptible sleep; ask again.
                write(dir, "freezer.state", want)?;
            }
            sleep(POLL);
        }
        Err(Error::FreezeTimeout {
            path: dir.to_path_buf(),
            want,
        })
    }
}

/// Copies `file` (cpuset.cpus or cpuset.mems) from the nearest ancestor with a
/// value down to `dir`: a new cpuset cgroup starts empty and accepts no tasks.
fn inherit_cpuset(dir: &Path, file: &str) -> Result<()> {
    if !read(dir, file)?.trim().is_empty() {
        return Ok(());
    }
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    inherit_cpuset(parent, file)?;
    let value = read(parent, file)?;
    write(dir, file, value.trim())
}

impl Manager for V1Manager {
    fn create(&self) -> Result<()> {
        for (_, dir) in self.unique_dirs() {
            fsutil::create_dir(dir)?;
        }
        if let Some(dir) = self.dir("cpuset") {
            inherit_cpuset(dir, "cpuset.cpus")?;
            inherit_cpuset(dir, "cpuset.mems")?;
        }
        Ok(())
    }

    fn add_pid(&self, pid: i32) -> Result<()> {
        for (_, dir) in self.unique_dirs() {
            write(dir, "cgroup.procs", pid.to_string())?;
        }
        Ok(())
    }

    fn set(&self, r: &LinuxResources) -> Result<()> {
        v1_resources::apply(self, r)
    }

    fn freeze(&self) -> Result<()> {
        let result = self.set_freezer_state("FROZEN");
        if result.is_err() {
            // Do not leave the container half frozen.
            let _ = write(self.freezer()?, "freezer.state", "THAWED");
        }
        result
    }

    fn thaw(&self) -> Result<()> {
        self.set_freezer_state("THAWED")
    }

    fn is_frozen(&self) -> Result<bool> {
        match self.dir("freezer") {
            Some(dir) => Ok(read(dir, "freezer.state")?.trim() == "FROZEN"),
            None => Ok(false),
        }
    }

    fn pids(&self) -> Result<Vec<i32>> {
        let preferred = ["pids", "memory", "freezer", "cpu", "devices"];
        let dir = preferred
            .iter()
            .find_map(|s| self.dir(s))
            .or_else(|| self.dirs.values().next().map(PathBuf::as_path));
        let mut out = Vec::new();
        if let Some(dir) = dir {
            fsutil::procs_recursive(dir, &mut out)?;
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    fn stats(&self) -> Result<Stats> {
        stats::v1(&self.dirs)
    }

    fn oom_kill_count(&self) -> Result<u64> {
        match self.dir("memory") {
            Some(dir) => Ok(read_keyed(dir, "memory.oom_control")?
                .get("oom_kill")
                .copied()
                .unwrap_or(0)),
            None => Ok(0),
        }
    }

    fn destroy(&self) -> Result<()> {
        let mut first_err = None;
        for (subsystem, dir) in self.unique_dirs() {
            let below = self.created_below.get(subsystem).map(PathBuf::as_path);
            if let Err(e) = fsutil::remove_created(dir, below) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}
