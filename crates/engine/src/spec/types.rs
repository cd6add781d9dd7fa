//! The Docker Engine API's container-create shapes (`Config`, `HostConfig`) and the image
//! config, with Docker's exact JSON field names.
//!
//! Every field is optional: a missing field and a JSON `null` both give the default, and
//! unknown fields are ignored, because Docker clients send many fields a daemon may not know.
//! `Entrypoint` and `Cmd` keep the difference between "not set" (`None`) and "set to empty"
//! (`Some(vec![])`), which Docker's merge rules depend on; both accept a string or a list.

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// A JSON `null` (or a missing field) as the type's default.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Docker's `StrSlice`: `null`, `"a string"` or `["a", "list"]`.
fn str_slice<'de, D>(d: D) -> Result<Option<Vec<String>>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => None,
        Some(OneOrMany::One(s)) => Some(vec![s]),
        Some(OneOrMany::Many(v)) => Some(v),
    })
}

/// The `{}` Docker uses as the value of set-like maps (`ExposedPorts`, `Volumes`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// A set written as a JSON object whose values are `{}`.
pub type EmptyMap = BTreeMap<String, Empty>;

/// `Healthcheck`: durations in nanoseconds, 0 meaning "inherit" (or the default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Healthcheck {
    #[serde(deserialize_with = "nullable")]
    pub test: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub interval: i64,
    #[serde(deserialize_with = "nullable")]
    pub timeout: i64,
    #[serde(deserialize_with = "nullable")]
    pub retries: i64,
    #[serde(deserialize_with = "nullable")]
    pub start_period: i64,
    #[serde(deserialize_with = "nullable")]
    pub start_interval: i64,
}

/// The container's `Config` in a create request (and in inspect).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ContainerConfig {
    #[serde(deserialize_with = "nullable")]
    pub hostname: String,
    #[serde(deserialize_with = "nullable")]
    pub domainname: String,
    #[serde(deserialize_with = "nullable")]
    pub user: String,
    #[serde(deserialize_with = "nullable")]
    pub attach_stdin: bool,
    #[serde(deserialize_with = "nullable")]
    pub attach_stdout: bool,
    #[serde(deserialize_with = "nullable")]
    pub attach_stderr: bool,
    #[serde(deserialize_with = "nullable")]
    pub exposed_ports: EmptyMap,
    #[serde(deserialize_with = "nullable")]
    pub tty: bool,
    #[serde(deserialize_with = "nullable")]
    pub open_stdin: bool,
    #[serde(deserialize_with = "nullable")]
    pub stdin_once: bool,
    #[serde(deserialize_with = "nullable")]
    pub env: Vec<String>,
    #[serde(deserialize_with = "str_slice")]
    pub cmd: Option<Vec<String>>,
    pub healthcheck: Option<Healthcheck>,
    #[serde(deserialize_with = "nullable")]
    pub args_escaped: bool,
    #[serde(deserialize_with = "nullable")]
    pub image: String,
    #[serde(deserialize_with = "nullable")]
    pub volumes: EmptyMap,
    #[serde(deserialize_with = "nullable")]
    pub working_dir: String,
    #[serde(deserialize_with = "str_slice")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(deserialize_with = "nullable")]
    pub network_disabled: bool,
    #[serde(deserialize_with = "nullable")]
    pub mac_address: String,
    #[serde(deserialize_with = "nullable")]
    pub on_build: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "nullable")]
    pub stop_signal: String,
    pub stop_timeout: Option<i64>,
    #[serde(deserialize_with = "nullable")]
    pub shell: Vec<String>,
}

/// The `config` object of an OCI/Docker image config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ImageConfig {
    #[serde(deserialize_with = "nullable")]
    pub user: String,
    #[serde(deserialize_with = "nullable")]
    pub exposed_ports: EmptyMap,
    #[serde(deserialize_with = "nullable")]
    pub env: Vec<String>,
    #[serde(deserialize_with = "str_slice")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(deserialize_with = "str_slice")]
    pub cmd: Option<Vec<String>>,
    #[serde(deserialize_with = "nullable")]
    pub volumes: EmptyMap,
    #[serde(deserialize_with = "nullable")]
    pub working_dir: String,
    #[serde(deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "nullable")]
    pub stop_signal: String,
    #[serde(deserialize_with = "nullable")]
    pub args_escaped: bool,
    pub healthcheck: Option<Healthcheck>,
    #[serde(deserialize_with = "nullable")]
    pub shell: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub on_build: Vec<String>,
}

/// `LogConfig`: the log driver and its options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct LogConfig {
    #[serde(deserialize_with = "nullable")]
    pub r#type: String,
    #[serde(deserialize_with = "nullable")]
    pub config: BTreeMap<String, String>,
}

/// One entry of `PortBindings["80/tcp"]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct PortBinding {
    #[serde(deserialize_with = "nullable")]
    pub host_ip: String,
    #[serde(deserialize_with = "nullable")]
    pub host_port: String,
}

/// `RestartPolicy`: `no`, `always`, `unless-stopped`, `on-failure` (with a retry count).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct RestartPolicy {
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub maximum_retry_count: i64,
}

/// `Mounts[].BindOptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct BindOptions {
    #[serde(deserialize_with = "nullable")]
    pub propagation: String,
    #[serde(deserialize_with = "nullable")]
    pub non_recursive: bool,
    #[serde(deserialize_with = "nullable")]
    pub create_mountpoint: bool,
}

/// `Mounts[].VolumeOptions.DriverConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct DriverConfig {
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub options: BTreeMap<String, String>,
}

/// `Mounts[].VolumeOptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct VolumeOptions {
    #[serde(deserialize_with = "nullable")]
    pub no_copy: bool,
    #[serde(deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
    pub driver_config: Option<DriverConfig>,
    #[serde(deserialize_with = "nullable")]
    pub subpath: String,
}

/// `Mounts[].TmpfsOptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct TmpfsOptions {
    #[serde(deserialize_with = "nullable")]
    pub size_bytes: i64,
    /// File mode bits (as Docker sends them: a JSON number, e.g. 1023 for 0o1777).
    #[serde(deserialize_with = "nullable")]
    pub mode: u32,
}

/// One entry of `HostConfig.Mounts` (the `--mount` flag).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Mount {
    /// `bind`, `volume` or `tmpfs`.
    #[serde(deserialize_with = "nullable")]
    pub r#type: String,
    #[serde(deserialize_with = "nullable")]
    pub source: String,
    #[serde(deserialize_with = "nullable")]
    pub target: String,
    #[serde(deserialize_with = "nullable")]
    pub read_only: bool,
    #[serde(deserialize_with = "nullable")]
    pub consistency: String,
    pub bind_options: Option<BindOptions>,
    pub volume_options: Option<VolumeOptions>,
    pub tmpfs_options: Option<TmpfsOptions>,
}

/// One entry of `HostConfig.Devices` (the `--device` flag).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct DeviceMapping {
    #[serde(deserialize_with = "nullable")]
    pub path_on_host: String,
    #[serde(deserialize_with = "nullable")]
    pub path_in_container: String,
    #[serde(deserialize_with = "nullable")]
    pub cgroup_permissions: String,
}

/// One entry of `HostConfig.Ulimits`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Ulimit {
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub soft: i64,
    #[serde(deserialize_with = "nullable")]
    pub hard: i64,
}

/// `BlkioWeightDevice` entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct WeightDevice {
    #[serde(deserialize_with = "nullable")]
    pub path: String,
    #[serde(deserialize_with = "nullable")]
    pub weight: u16,
}

/// `BlkioDevice{Read,Write}{Bps,IOps}` entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ThrottleDevice {
    #[serde(deserialize_with = "nullable")]
    pub path: String,
    #[serde(deserialize_with = "nullable")]
    pub rate: u64,
}

/// The container's `HostConfig` in a create request (and in inspect).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct HostConfig {
    #[serde(deserialize_with = "nullable")]
    pub binds: Vec<String>,
    #[serde(rename = "ContainerIDFile", deserialize_with = "nullable")]
    pub container_id_file: String,
    pub log_config: Option<LogConfig>,
    #[serde(deserialize_with = "nullable")]
    pub network_mode: String,
    #[serde(deserialize_with = "nullable")]
    pub port_bindings: BTreeMap<String, Option<Vec<PortBinding>>>,
    pub restart_policy: Option<RestartPolicy>,
    #[serde(deserialize_with = "nullable")]
    pub auto_remove: bool,
    #[serde(deserialize_with = "nullable")]
    pub volume_driver: String,
    #[serde(deserialize_with = "nullable")]
    pub volumes_from: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub mounts: Vec<Mount>,
    #[serde(deserialize_with = "nullable")]
    pub cap_add: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub cap_drop: Vec<String>,
    /// `private` or `host`; empty means the daemon's default (private on cgroup v2 hosts,
    /// host on v1 and hybrid hosts, as Docker).
    #[serde(deserialize_with = "nullable")]
    pub cgroupns_mode: String,
    #[serde(deserialize_with = "nullable")]
    pub dns: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub dns_options: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub dns_search: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub extra_hosts: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub group_add: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub ipc_mode: String,
    #[serde(deserialize_with = "nullable")]
    pub cgroup: String,
    #[serde(deserialize_with = "nullable")]
    pub links: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub oom_score_adj: i64,
    #[serde(deserialize_with = "nullable")]
    pub pid_mode: String,
    #[serde(deserialize_with = "nullable")]
    pub privileged: bool,
    #[serde(deserialize_with = "nullable")]
    pub publish_all_ports: bool,
    #[serde(deserialize_with = "nullable")]
    pub readonly_rootfs: bool,
    #[serde(deserialize_with = "nullable")]
    pub security_opt: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub storage_opt: BTreeMap<String, String>,
    #[serde(deserialize_with = "nullable")]
    pub tmpfs: BTreeMap<String, String>,
    #[serde(rename = "UTSMode", deserialize_with = "nullable")]
    pub uts_mode: String,
    #[serde(deserialize_with = "nullable")]
    pub userns_mode: String,
    #[serde(deserialize_with = "nullable")]
    pub shm_size: i64,
    #[serde(deserialize_with = "nullable")]
    pub sysctls: BTreeMap<String, String>,
    #[serde(deserialize_with = "nullable")]
    pub runtime: String,
    #[serde(deserialize_with = "nullable")]
    pub isolation: String,
    /// `[height, width]` of the terminal, sent with `-t`.
    pub console_size: Option<[u64; 2]>,
    #[serde(deserialize_with = "nullable")]
    pub annotations: BTreeMap<String, String>,
    // Resources.
    #[serde(deserialize_with = "nullable")]
    pub cpu_shares: i64,
    #[serde(deserialize_with = "nullable")]
    pub memory: i64,
    #[serde(deserialize_with = "nullable")]
    pub nano_cpus: i64,
    #[serde(deserialize_with = "nullable")]
    pub cgroup_parent: String,
    #[serde(deserialize_with = "nullable")]
    pub blkio_weight: u16,
    #[serde(deserialize_with = "nullable")]
    pub blkio_weight_device: Vec<WeightDevice>,
    #[serde(deserialize_with = "nullable")]
    pub blkio_device_read_bps: Vec<ThrottleDevice>,
    #[serde(deserialize_with = "nullable")]
    pub blkio_device_write_bps: Vec<ThrottleDevice>,
    #[serde(rename = "BlkioDeviceReadIOps", deserialize_with = "nullable")]
    pub blkio_device_read_iops: Vec<ThrottleDevice>,
    #[serde(rename = "BlkioDeviceWriteIOps", deserialize_with = "nullable")]
    pub blkio_device_write_iops: Vec<ThrottleDevice>,
    #[serde(deserialize_with = "nullable")]
    pub cpu_period: i64,
    #[serde(deserialize_with = "nullable")]
    pub cpu_quota: i64,
    #[serde(deserialize_with = "nullable")]
    pub cpu_realtime_period: i64,
    #[serde(deserialize_with = "nullable")]
    pub cpu_realtime_runtime: i64,
    #[serde(deserialize_with = "nullable")]
    pub cpuset_cpus: String,
    #[serde(deserialize_with = "nullable")]
    pub cpuset_mems: String,
    #[serde(deserialize_with = "nullable")]
    pub devices: Vec<DeviceMapping>,
    #[serde(deserialize_with = "nullable")]
    pub device_cgroup_rules: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub memory_reservation: i64,
    #[serde(deserialize_with = "nullable")]
    pub memory_swap: i64,
    /// -1 or `null`: the kernel's default.
    pub memory_swappiness: Option<i64>,
    pub oom_kill_disable: Option<bool>,
    /// `null`: unset; 0 or -1: unlimited.
    pub pids_limit: Option<i64>,
    #[serde(deserialize_with = "nullable")]
    pub ulimits: Vec<Ulimit>,
    pub init: Option<bool>,
    /// `null`: Docker's defaults; a list (even empty) replaces them.
    pub masked_paths: Option<Vec<String>>,
    /// `null`: Docker's defaults; a list (even empty) replaces them.
    pub readonly_paths: Option<Vec<String>>,
}

/// The body of `POST /containers/create`: the config with `HostConfig` and
/// `NetworkingConfig` beside it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct CreateRequest {
    #[serde(flatten)]
    pub config: ContainerConfig,
    #[serde(deserialize_with = "nullable")]
    pub host_config: HostConfig,
    /// Left to the network layer; kept as sent.
    #[serde(deserialize_with = "nullable")]
    pub networking_config: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_docker_cli_sends_including_nulls_and_unknown_fields() {
        let body = r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":false,
            "AttachStdout":true,"AttachStderr":true,"Tty":false,"OpenStdin":false,
            "StdinOnce":false,"Env":null,"Cmd":"echo hi","Image":"busybox","Volumes":{},
            "WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{},
            "SomethingNew":{"x":1},
            "ExposedPorts":{"80/tcp":{}},
            "HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},
              "NetworkMode":"default","PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]},
              "RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":true,
              "CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"UTSMode":"",
              "ConsoleSize":[40,120],"PidsLimit":null,"MemorySwappiness":null,
              "Mounts":[{"Type":"tmpfs","Target":"/x","TmpfsOptions":{"SizeBytes":1024}}],
              "MaskedPaths":null,"Isolation":"","Unknown":true},
            "NetworkingConfig":{"EndpointsConfig":{}}}"#;
        let r: CreateRequest = serde_json::from_str(body).unwrap();
        assert_eq!(r.config.cmd, Some(vec!["echo hi".to_string()]));
        assert_eq!(r.config.entrypoint, None);
        assert!(r.config.env.is_empty());
        assert!(r.config.exposed_ports.contains_key("80/tcp"));
        assert_eq!(r.config.image, "busybox");
        assert!(r.host_config.auto_remove);
        assert_eq!(r.host_config.console_size, Some([40, 120]));
        assert_eq!(r.host_config.pids_limit, None);
        assert_eq!(r.host_config.masked_paths, None);
        assert_eq!(
            r.host_config.port_bindings["80/tcp"].as_ref().unwrap()[0].host_port,
            "8080"
        );
        assert_eq!(
            r.host_config.mounts[0]
                .tmpfs_options
                .as_ref()
                .unwrap()
                .size_bytes,
            1024
        );
    }

    #[test]
    fn empty_entrypoint_differs_from_none() {
        let c: ContainerConfig = serde_json::from_str(r#"{"Entrypoint":[]}"#).unwrap();
        assert_eq!(c.entrypoint, Some(vec![]));
        let c: ContainerConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c.entrypoint, None);
    }

    #[test]
    fn image_config_reads_an_oci_config_object() {
        let c: ImageConfig = serde_json::from_str(
            r#"{"Env":["PATH=/bin"],"Cmd":["sh"],"Healthcheck":{"Test":["CMD","true"],
                "Interval":1000000000},"StopSignal":"SIGQUIT","Volumes":null}"#,
        )
        .unwrap();
        assert_eq!(c.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(c.healthcheck.unwrap().interval, 1_000_000_000);
        assert_eq!(c.stop_signal, "SIGQUIT");
    }

    #[test]
    fn a_wrongly_typed_field_is_an_error() {
        assert!(serde_json::from_str::<HostConfig>(r#"{"Memory":"lots"}"#).is_err());
    }
}
