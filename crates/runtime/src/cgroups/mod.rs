//! Control groups for containers: resolving where a container's cgroup lives
//! (`paths`), creating it, applying OCI resources, freezing, stats and removal,
//! for cgroup v1 (including hybrid hosts) and cgroup v2 behind one [`Manager`].
//!
//! This is the non-systemd ("fs") driver: directories are made and removed
//! directly in the cgroup filesystems.

mod bpf;
mod devices_ebpf;
mod fsutil;
mod paths;
mod stats;
mod v1;
mod v1_resources;
mod v2;
mod v2_resources;

#[cfg(test)]
mod tests_host;
#[cfg(test)]
mod tests_v2;

use std::io;
use std::path::PathBuf;

pub use paths::{v1_hierarchies, CgroupPaths, Hierarchy};
pub use stats::{
    BlkioEntry, BlkioStats, CpuStats, CpuUsage, HugetlbStats, MemoryEntry, MemoryStats, PidsStats,
    Stats, Throttling,
};

/// Result of cgroup operations.
pub type Result<T> = std::result::Result<T, Error>;

/// Errors of cgroup operations; each names the file or directory involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading a cgroup or proc file failed.
    #[error("read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    /// Writing a value to a cgroup file failed.
    #[error("write {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        source: io::Error,
    },
    /// Creating a cgroup directory failed.
    #[error("create cgroup dir {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },
    /// Removing a cgroup directory failed.
    #[error("remove cgroup dir {path}: {source}")]
    RemoveDir { path: PathBuf, source: io::Error },
    /// Opening a cgroup directory (for eBPF attach) failed.
    #[error("open cgroup dir {path}: {source}")]
    OpenDir { path: PathBuf, source: io::Error },
    /// A resource was requested whose cgroup file does not exist on this host.
    #[error("{path} does not exist: resource not supported on this host")]
    Unsupported { path: PathBuf },
    /// A v1 controller needed for a resource is not mounted.
    #[error("cgroup v1 controller {controller} is not mounted: needed for {resource}")]
    NoController {
        controller: &'static str,
        resource: &'static str,
    },
    /// No mounted cgroup hierarchy was found for the caller.
    #[error("no mounted cgroup {what} hierarchy found in /proc/self/mountinfo")]
    NoHierarchy { what: &'static str },
    /// A cgroup file had content we could not parse.
    #[error("parse {path}: unexpected content {content:?}")]
    Parse { path: PathBuf, content: String },
    /// A requested value is invalid.
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid {
        what: &'static str,
        value: String,
        reason: &'static str,
    },
    /// The cgroup did not reach the wanted freezer state in time.
    #[error("cgroup {path} did not become {want} in time")]
    FreezeTimeout { path: PathBuf, want: &'static str },
    /// A bpf(2) command failed.
    #[error("bpf {op} for device cgroup program: {source}")]
    Bpf { op: &'static str, source: io::Error },
    /// The kernel rejected the generated device program.
    #[error("load device cgroup program: {source}; verifier log: {log}")]
    BpfLoad { source: io::Error, log: String },
}

impl Error {
    /// True when the cgroup (or a file in it) does not exist, e.g. it vanished.
    pub fn is_not_found(&self) -> bool {
        match self {
            Error::Read { source, .. }
            | Error::Write { source, .. }
            | Error::CreateDir { source, .. }
            | Error::RemoveDir { source, .. }
            | Error::OpenDir { source, .. } => source.kind() == io::ErrorKind::NotFound,
            _ => false,
        }
    }
}

/// Which cgroup layout the host uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostMode {
    /// cgroup v1 controllers (also hybrid hosts with a cgroup2 mount beside).
    V1,
    /// Unified cgroup v2 hierarchy mounted at /sys/fs/cgroup.
    V2,
}

/// The host's cgroup layout: V2 when /sys/fs/cgroup is a cgroup2 filesystem.
pub fn host_mode() -> HostMode {
    use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};
    match statfs("/sys/fs/cgroup") {
        Ok(fs) if fs.filesystem_type() == CGROUP2_SUPER_MAGIC => HostMode::V2,
        _ => HostMode::V1,
    }
}

/// Operations on one container's cgroup.
pub trait Manager: Send + Sync {
    /// Creates the cgroup directories (mkdir -p) and prepares them for use.
    fn create(&self) -> Result<()>;
    /// Moves a process into the cgroup (every hierarchy on v1).
    fn add_pid(&self, pid: i32) -> Result<()>;
    /// Applies OCI resources.
    fn set(&self, r: &oci_spec::runtime::LinuxResources) -> Result<()>;
    /// Freezes all processes and waits until the cgroup is frozen.
    fn freeze(&self) -> Result<()>;
    /// Thaws the cgroup and waits until it is thawed.
    fn thaw(&self) -> Result<()>;
    /// Whether the cgroup is frozen.
    fn is_frozen(&self) -> Result<bool>;
    /// All processes in the cgroup and its descendants.
    fn pids(&self) -> Result<Vec<i32>>;
    /// Resource usage in runc's `events --stats` shape.
    fn stats(&self) -> Result<Stats>;
    /// How many processes the OOM killer killed in this cgroup.
    fn oom_kill_count(&self) -> Result<u64>;
    /// Removes the directories `create` made, children first; Ok when already gone.
    fn destroy(&self) -> Result<()>;
}

/// The manager for resolved paths.
pub fn manager(paths: &CgroupPaths) -> Box<dyn Manager> {
    match paths {
        CgroupPaths::V1 {
            dirs,
            created_below,
        } => Box::new(v1::V1Manager::new(dirs.clone(), created_below.clone())),
        CgroupPaths::V2 {
            mount,
            dir,
            created_below,
        } => Box::new(v2::V2Manager::new(
            mount.clone(),
            dir.clone(),
            created_below.clone(),
        )),
    }
}
