//! The state directory of one container (`<root>/<id>/`): what `create` recorded and how the
//! current status is derived from the live system.

use crate::cgroups::CgroupPaths;
use crate::error::{Error, Result};
use crate::util;
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// File whose presence means "created, not yet started"; the init process listens on it.
pub const START_SOCKET: &str = "start.sock";
const STATE_FILE: &str = "state.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// What tug records about a container at create time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub pid: i32,
    /// Start time of `pid` (clock ticks since boot) so a reused pid is never mistaken for ours.
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    pub cgroup: CgroupPaths,
    pub spec: Spec,
    #[serde(default)]
    pub use_systemd_cgroup: bool,
}

/// The state JSON of the OCI runtime spec, as `runc state` prints it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "HashMap::is_empty", default)]
    pub annotations: HashMap<String, String>,
}

pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.+".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_string()))
    }
}

pub fn container_dir(root: &Path, id: &str) -> Result<PathBuf> {
    validate_id(id)?;
    Ok(root.join(id))
}

impl Record {
    pub fn load(root: &Path, id: &str) -> Result<Self> {
        let dir = container_dir(root, id)?;
        let path = dir.join(STATE_FILE);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_string()))
            }
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        serde_json::from_slice(&data).map_err(|err| Error::State { path, err })
    }

    pub fn save(&self, root: &Path) -> Result<()> {
        let path = root.join(&self.id).join(STATE_FILE);
        let data = serde_json::to_vec(self).map_err(|err| Error::State {
            path: path.clone(),
            err,
        })?;
        util::write_atomic(&path, &data)
    }

    pub fn dir(&self, root: &Path) -> PathBuf {
        root.join(&self.id)
    }

    /// Whether the init process recorded at create time is still alive (not a zombie).
    pub fn init_alive(&self) -> bool {
        self.pid > 0
            && matches!(util::proc_start_time(self.pid), Some((t, false)) if t == self.pid_start)
    }

    pub fn status(&self, root: &Path) -> Status {
        if !self.init_alive() {
            return Status::Stopped;
        }
        if self.dir(root).join(START_SOCKET).exists() {
            return Status::Created;
        }
        let frozen = crate::cgroups::manager(&self.cgroup)
            .is_frozen()
            .unwrap_or(false);
        if frozen {
            Status::Paused
        } else {
            Status::Running
        }
    }

    pub fn oci_state(&self, status: Status) -> OciState {
        let pid = if status == Status::Stopped {
            0
        } else {
            self.pid
        };
        OciState {
            oci_version: self.spec.version().clone(),
            id: self.id.clone(),
            pid,
            status: status.as_str().to_string(),
            bundle: self.bundle.clone(),
            rootfs: self.rootfs.clone(),
            created: self.created.clone(),
            owner: self.owner.clone(),
            annotations: self.spec.annotations().clone().unwrap_or_default(),
        }
    }
}

/// Ids of all containers under `root`, sorted.
pub fn list_ids(root: &Path) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read dir", root, e)),
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join(STATE_FILE).exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(validate_id("abc-1_2.x").is_ok());
        for bad in ["", ".", "..", "a/b", "../x", "a b"] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
    }
}
