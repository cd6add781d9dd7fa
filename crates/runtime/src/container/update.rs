//! `update`: change a container's resources while it runs.

use super::load;
use crate::cgroups;
use crate::error::{Error, Result};
use crate::state::Status;
use oci_spec::runtime::LinuxResources;
use std::path::Path;

/// Apply `resources` (merged over what the container has) and record them.
pub fn update(root: &Path, id: &str, resources: &LinuxResources) -> Result<()> {
    let mut c = load(root, id)?;
    if c.status == Status::Stopped {
        return Err(Error::WrongState {
            id: id.into(),
            status: "stopped",
            op: "update",
        });
    }
    cgroups::manager(&c.record.cgroup).set(resources)?;
    let mut merged = c
        .record
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    merge(&mut merged, resources);
    if let Some(linux) = c.record.spec.linux_mut() {
        linux.set_resources(Some(merged));
    }
    c.record.save(root)
}

fn merge(into: &mut LinuxResources, from: &LinuxResources) {
    if from.memory().is_some() {
        into.set_memory(from.memory().clone());
    }
    if from.cpu().is_some() {
        into.set_cpu(from.cpu().clone());
    }
    if from.pids().is_some() {
        into.set_pids(*from.pids());
    }
    if from.block_io().is_some() {
        into.set_block_io(from.block_io().clone());
    }
    if from.unified().is_some() {
        into.set_unified(from.unified().clone());
    }
}
