//! System endpoints: `_ping`, `version`, `info`.

use crate::server::{json, Body};
use crate::version::{API_VERSION, MIN_API_VERSION};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Response;
use serde::Serialize;

/// What the daemon knows about itself, for `GET /info`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SystemInfo {
    pub id: String,
    pub containers: u64,
    pub containers_running: u64,
    pub containers_paused: u64,
    pub containers_stopped: u64,
    pub images: u64,
    pub data_root: String,
    pub cgroup_version: String,
    pub default_runtime: String,
    /// Name, path and fixed arguments of each OCI runtime.
    pub runtimes: Vec<(String, String, Vec<String>)>,
    /// `registry-mirrors` (URLs) and `insecure-registries` (host[:port] or CIDR).
    pub mirrors: Vec<String>,
    pub insecure_registries: Vec<String>,
    pub warnings: Vec<String>,
}

pub trait SystemBackend: Send + Sync {
    fn info(&self) -> SystemInfo;
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn ncpu() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn mem_total() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

pub fn ping(head: bool) -> Response<Body> {
    let body = if head {
        Bytes::new()
    } else {
        Bytes::from_static(b"OK")
    };
    Response::builder()
        .header("Api-Version", API_VERSION)
        .header("Ostype", "linux")
        .header("Docker-Experimental", "false")
        .header("Builder-Version", "1")
        .header("Swarm", "inactive")
        .header("Cache-Control", "no-cache, no-store, must-revalidate")
        .header("Pragma", "no-cache")
        .header("Content-Type", "text/plain; charset=utf-8")
        .body(Full::new(body).map_err(|never| match never {}).boxed())
        .expect("valid response")
}

pub fn version() -> Response<Body> {
    let v = env!("CARGO_PKG_VERSION");
    let details = serde_json::json!({
        "ApiVersion": API_VERSION, "Arch": "amd64", "BuildTime": "", "Experimental": "false",
        "GitCommit": "", "GoVersion": "", "KernelVersion": kernel(), "MinAPIVersion": MIN_API_VERSION, "Os": "linux"
    });
    json(
        200,
        &serde_json::json!({
            "Platform": {"Name": "tug"},
            "Components": [{"Name": "Engine", "Version": v, "Details": details}],
            "Version": v, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "", "GoVersion": "", "Os": "linux", "Arch": std::env::consts::ARCH.replace("x86_64", "amd64"),
            "KernelVersion": kernel(), "BuildTime": ""
        }),
    )
}

pub fn info(b: &dyn SystemBackend) -> Response<Body> {
    let i = b.info();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let runtimes: serde_json::Map<String, serde_json::Value> = i
        .runtimes
        .iter()
        .map(|(n, p, args)| {
            let mut v = serde_json::json!({"path": p});
            if !args.is_empty() {
                v["runtimeArgs"] = serde_json::json!(args);
            }
            (n.clone(), v)
        })
        .collect();
    let registry = registry_config(&i);
    json(
        200,
        &serde_json::json!({
            "ID": i.id, "Containers": i.containers, "ContainersRunning": i.containers_running,
            "ContainersPaused": i.containers_paused, "ContainersStopped": i.containers_stopped,
            "Images": i.images, "Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "extfs"]],
            "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"], "Authorization": null,
                        "Log": ["json-file"]},
            "MemoryLimit": true, "SwapLimit": true, "CpuCfsPeriod": true, "CpuCfsQuota": true,
            "CPUShares": true, "CPUSet": true, "PidsLimit": true, "IPv4Forwarding": true,
            "BridgeNfIptables": false, "BridgeNfIp6tables": false, "Debug": false, "NFd": 0,
            "OomKillDisable": false, "NGoroutines": 0, "SystemTime": now(), "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs", "CgroupVersion": i.cgroup_version, "NEventsListener": 0,
            "KernelVersion": kernel(), "OperatingSystem": os_name(), "OSVersion": "", "OSType": "linux",
            "Architecture": std::env::consts::ARCH, "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": registry,
            "NCPU": ncpu(), "MemTotal": mem_total(), "GenericResources": null, "DockerRootDir": i.data_root,
            "HttpProxy": "", "HttpsProxy": "", "NoProxy": "", "Name": host.trim(), "Labels": [],
            "ExperimentalBuild": false, "ServerVersion": env!("CARGO_PKG_VERSION"),
            "Runtimes": runtimes, "DefaultRuntime": i.default_runtime,
            "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false,
                      "Error": "", "RemoteManagers": null},
            "LiveRestoreEnabled": true, "Isolation": "", "InitBinary": "tug",
            "ContainerdCommit": {"ID": "", "Expected": ""}, "RuncCommit": {"ID": "", "Expected": ""},
            "InitCommit": {"ID": "", "Expected": ""},
            "SecurityOptions": ["name=seccomp,profile=builtin"],
            "Warnings": if i.warnings.is_empty() { serde_json::Value::Null } else { serde_json::json!(i.warnings) }
        }),
    )
}

/// Docker's `RegistryConfig`: insecure CIDRs (loopback always), per-registry index configs,
/// and the docker.io mirrors.
fn registry_config(i: &SystemInfo) -> serde_json::Value {
    let mut cidrs = vec!["127.0.0.0/8".to_string()];
    let mut index = serde_json::Map::new();
    for r in &i.insecure_registries {
        if r.contains('/') {
            cidrs.push(r.clone());
        } else {
            index.insert(
                r.clone(),
                serde_json::json!({"Name": r, "Mirrors": [], "Secure": false, "Official": false}),
            );
        }
    }
    let mirrors: Vec<String> = i
        .mirrors
        .iter()
        .map(|m| format!("{}/", m.trim_end_matches('/')))
        .collect();
    index.insert(
        "docker.io".into(),
        serde_json::json!({"Name": "docker.io", "Mirrors": mirrors, "Secure": true, "Official": true}),
    );
    serde_json::json!({
        "AllowNondistributableArtifactsCIDRs": null, "AllowNondistributableArtifactsHostnames": null,
        "InsecureRegistryCIDRs": cidrs, "IndexConfigs": index, "Mirrors": mirrors,
    })
}

fn os_name() -> String {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

fn now() -> String {
    runtime::util::rfc3339_now()
}

/// `POST /auth`: check credentials against a registry as `docker login` does (the client
/// keeps them); answers `Login Succeeded` and the registry's identity token, if it gave one.
pub async fn auth(
    e: std::sync::Arc<engine::engine::Engine>,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<Response<Body>, crate::error::ApiError> {
    use crate::error::{ApiError, Kind};
    use image::registry::{auth::AuthConfig, RegistryError};
    let body = http_body_util::Limited::new(req.into_body(), 64 << 10)
        .collect()
        .await
        .map_err(|err| ApiError::invalid(format!("auth: read body: {err}")))?
        .to_bytes();
    let cfg: AuthConfig = serde_json::from_slice(&body)
        .map_err(|err| ApiError::invalid(format!("auth: invalid JSON body: {err}")))?;
    let host = image::registry::auth::server_host(&cfg.server_address);
    let token = e
        .images
        .registry()
        .login(&host, &cfg)
        .await
        .map_err(|err| match &err {
            RegistryError::Unauthorized { detail, .. } if detail.starts_with("login attempt") => {
                ApiError::new(Kind::Unauthorized, detail.clone())
            }
            RegistryError::Unauthorized { .. } => {
                ApiError::new(Kind::Unauthorized, err.to_string())
            }
            RegistryError::Invalid { .. } | RegistryError::TooLarge(_) => {
                ApiError::invalid(err.to_string())
            }
            _ => ApiError::new(Kind::Unavailable, err.to_string()),
        })?;
    Ok(json(
        200,
        &serde_json::json!({"Status": "Login Succeeded", "IdentityToken": token.unwrap_or_default()}),
    ))
}
