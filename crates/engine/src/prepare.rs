//! From engine records to what the spec layer takes and gives: the create request merged with
//! the image config, the command line, and the OCI spec of a container about to start.

use crate::container::Container;
use crate::spec::{self, ContainerConfig, CreateRequest, ImageConfig, SpecError};

/// Docker's create body + the image's `config` (OCI image config JSON) → the merged `Config`.
pub fn merge_create(
    body: &serde_json::Value,
    image_config: &serde_json::Value,
) -> Result<serde_json::Value, SpecError> {
    let req: CreateRequest = serde_json::from_value(body.clone())
        .map_err(|e| SpecError::invalid("request", "body", e.to_string()))?;
    let image: ImageConfig = if image_config.is_null() {
        ImageConfig::default()
    } else {
        serde_json::from_value(image_config.clone())
            .map_err(|e| SpecError::invalid("image config", "config", e.to_string()))?
    };
    let merged = spec::merge(&req.config, &image)?;
    if spec::merge::command(&merged).is_empty() {
        return Err(SpecError::NoCommand);
    }
    Ok(serde_json::to_value(&merged).expect("configs serialize"))
}

/// The process command line of a merged config.
pub fn command_line(config: &serde_json::Value) -> Vec<String> {
    serde_json::from_value::<ContainerConfig>(config.clone())
        .map(|c| spec::merge::command(&c))
        .unwrap_or_default()
}

/// What the engine's other parts add to a container's spec at start: volume and bind
/// mounts (volumes), joined namespaces and /etc/hosts-style files (network), and tug's
/// init binary (`--init`). Each part fills its own fields in `Engine::start`.
#[derive(Debug, Default, Clone)]
pub struct StartExtras {
    pub mounts: Vec<spec::MountSpec>,
    pub namespaces: spec::NamespacePaths,
    pub init_path: Option<std::path::PathBuf>,
}

/// The OCI spec for a container about to start on `rootfs`, its cgroup under `cgroup_parent`.
pub fn oci_for(
    c: &Container,
    rootfs: &std::path::Path,
    cgroup_parent: &str,
    extras: &StartExtras,
) -> Result<oci_spec::runtime::Spec, SpecError> {
    let config: ContainerConfig = serde_json::from_value(c.config.clone())
        .map_err(|e| SpecError::invalid("config", &c.id, e.to_string()))?;
    let host_config: spec::HostConfig = serde_json::from_value(c.host_config.clone())
        .map_err(|e| SpecError::invalid("host config", &c.id, e.to_string()))?;
    let host = spec::RealHost;
    let mut input = spec::SpecInput::new(&c.id, &config, &host_config, rootfs, &host);
    input.cgroup_parent = cgroup_parent.to_string();
    input.mounts = extras.mounts.clone();
    input.namespaces = extras.namespaces.clone();
    input.init_path = extras.init_path.clone();
    spec::to_oci(&input)
}
