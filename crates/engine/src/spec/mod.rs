//! From a Docker container-create request and its image's config to an OCI runtime spec,
//! with Docker's defaults as a user observes them inside the container.
//!
//! Pure logic, no daemon: the only facts taken from the machine (device numbers, cgroup
//! version, kernel version, architecture, host name) come through the [`Host`] trait, and
//! user names are resolved inside the container's rootfs.
//!
//! The flow is: [`types::CreateRequest`] (JSON) → [`merge::merge`] with the image's
//! [`types::ImageConfig`] → [`oci::to_oci`] → [`spec_json`] to write a deterministic
//! `config.json`.

pub mod caps;
pub mod devices;
pub mod host;
pub mod merge;
pub mod mounts;
pub mod oci;
pub mod resources;
pub mod seccomp;
pub mod security;
pub mod types;
pub mod user;

pub use host::{Host, HostDevice, RealHost, StaticHost};
pub use merge::merge;
pub use oci::{to_oci, MountSpec, NamespacePaths, SpecInput};
pub use types::{ContainerConfig, CreateRequest, HostConfig, ImageConfig};

use std::path::PathBuf;

/// What kind of failure a [`SpecError`] is, for the API to map to a status in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request asks for something invalid or unsupported (400).
    Invalid,
    /// Something the request names does not exist: a user, a group, a device (404).
    NotFound,
}

/// Why a spec could not be made. Messages name the object and the cause.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// Neither the request nor the image gives a command.
    #[error("no command specified")]
    NoCommand,
    /// A user name that the rootfs's /etc/passwd does not have.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UnknownUser(String),
    /// A group name that the rootfs's /etc/group does not have.
    #[error("unable to find group {0}: no matching entries in group file")]
    UnknownGroup(String),
    /// A capability name tug does not know.
    #[error("unknown capability: {0:?}")]
    UnknownCapability(String),
    /// A field of the request has a value Docker would refuse.
    #[error("invalid {field} {value:?}: {reason}")]
    InvalidValue {
        field: &'static str,
        value: String,
        reason: String,
    },
    /// `--cpus` beyond the machine.
    #[error("Range of CPUs is from 0.01 to {0}.00, as there are only {0} CPUs available")]
    CpuRange(u32),
    /// A `--security-opt` that is malformed or unsupported.
    #[error("invalid security option {option:?}: {reason}")]
    SecurityOpt { option: String, reason: String },
    /// A seccomp profile that cannot be read or used.
    #[error("seccomp profile {source_name}: {reason}")]
    SeccompProfile { source_name: String, reason: String },
    /// A host device named by `--device` (or a blkio option) that cannot be used.
    #[error("device {path}: {reason}")]
    Device {
        path: PathBuf,
        reason: String,
        missing: bool,
    },
    /// Two mounts for one path in the container.
    #[error("duplicate mount point: {0}")]
    DuplicateMount(PathBuf),
    /// A file of the rootfs (passwd, group) that exists but cannot be read.
    #[error("read {path}: {err}")]
    Io { path: PathBuf, err: std::io::Error },
}

impl SpecError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            SpecError::UnknownUser(_) | SpecError::UnknownGroup(_) => ErrorKind::NotFound,
            SpecError::Device { missing: true, .. } => ErrorKind::NotFound,
            _ => ErrorKind::Invalid,
        }
    }

    pub(crate) fn invalid(
        field: &'static str,
        value: impl ToString,
        reason: impl Into<String>,
    ) -> SpecError {
        SpecError::InvalidValue {
            field,
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// The spec as JSON with a stable order: object keys sorted and capability sets sorted by
/// name (oci-spec keeps them in hash sets), so two runs write byte-identical files.
pub fn spec_json(spec: &oci_spec::runtime::Spec) -> serde_json::Value {
    let mut v = serde_json::to_value(spec).unwrap_or_default();
    if let Some(caps) = v
        .pointer_mut("/process/capabilities")
        .and_then(|c| c.as_object_mut())
    {
        for set in caps.values_mut() {
            if let Some(list) = set.as_array_mut() {
                list.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
        }
    }
    sort_keys(v)
}

fn sort_keys(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(map) => {
            let sorted: std::collections::BTreeMap<String, serde_json::Value> =
                map.into_iter().map(|(k, v)| (k, sort_keys(v))).collect();
            serde_json::Value::Object(sorted.into_iter().collect())
        }
        serde_json::Value::Array(list) => {
            serde_json::Value::Array(list.into_iter().map(sort_keys).collect())
        }
        other => other,
    }
}
