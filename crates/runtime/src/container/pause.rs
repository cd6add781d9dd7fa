//! `pause` and `resume`: freeze and thaw every process of the container.

use super::load;
use crate::cgroups;
use crate::error::{Error, Result};
use crate::state::Status;
use std::path::Path;

pub fn pause(root: &Path, id: &str) -> Result<()> {
    let c = load(root, id)?;
    if !matches!(c.status, Status::Running | Status::Created) {
        return Err(Error::WrongState {
            id: id.into(),
            status: c.status.as_str(),
            op: "pause",
        });
    }
    cgroups::manager(&c.record.cgroup).freeze()?;
    Ok(())
}

pub fn resume(root: &Path, id: &str) -> Result<()> {
    let c = load(root, id)?;
    if c.status != Status::Paused {
        return Err(Error::WrongState {
            id: id.into(),
            status: c.status.as_str(),
            op: "resume (not paused)",
        });
    }
    cgroups::manager(&c.record.cgroup).thaw()?;
    Ok(())
}
