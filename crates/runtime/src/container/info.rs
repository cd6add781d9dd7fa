//! `state`, `list` and `ps`: what is there and what runs in it.

use super::load;
use crate::cgroups;
use crate::error::Result;
use crate::state::{self, OciState};
use std::path::Path;

pub fn state(root: &Path, id: &str) -> Result<OciState> {
    let c = load(root, id)?;
    Ok(c.record.oci_state(c.status))
}

/// Every container under `root`; ones whose state cannot be read are skipped.
pub fn list(root: &Path) -> Result<Vec<OciState>> {
    Ok(state::list_ids(root)?
        .iter()
        .filter_map(|id| state(root, id).ok())
        .collect())
}

pub fn ps_pids(root: &Path, id: &str) -> Result<Vec<i32>> {
    let c = load(root, id)?;
    let mut pids = cgroups::manager(&c.record.cgroup).pids()?;
    pids.sort_unstable();
    Ok(pids)
}

/// Resource usage of the container's cgroup, in the shape of `runc events --stats`.
pub fn stats(root: &Path, id: &str) -> Result<cgroups::Stats> {
    let c = load(root, id)?;
    Ok(cgroups::manager(&c.record.cgroup).stats()?)
}

/// How many times the kernel's OOM killer struck inside the container so far.
pub fn oom_kills(root: &Path, id: &str) -> Result<u64> {
    let c = load(root, id)?;
    Ok(cgroups::manager(&c.record.cgroup).oom_kill_count()?)
}
