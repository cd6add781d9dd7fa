//! `tug daemon`: the Docker Engine API on a unix socket.

use anyhow::{bail, Context, Result};
use clap::Args;
use engine::daemon::Roots;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Args)]
pub struct DaemonCli {
    /// Socket to listen on (unix:///path); may be repeated
    #[arg(short = 'H', long = "host")]
    hosts: Vec<String>,
    /// Persistent state
    #[arg(long, default_value = "/var/lib/tug")]
    data_root: PathBuf,
    /// Runtime state (sockets, shims)
    #[arg(long, default_value = "/run/tug")]
    exec_root: PathBuf,
    /// Group allowed to use the socket besides root
    #[arg(short = 'G', long, default_value = "tug")]
    group: String,
    /// Log format: text or json
    #[arg(long, default_value = "text")]
    log_format: String,
    /// Parent cgroup of containers (relative: under the daemon's own cgroup)
    #[arg(long, default_value = "tug")]
    cgroup_parent: String,
    /// Preferred Docker registry mirror (http:// or https:// URL); may be repeated
    #[arg(long = "registry-mirror", value_name = "URL")]
    registry_mirrors: Vec<String>,
    /// Registry reached over plain http (host[:port]); may be repeated
    #[arg(long = "insecure-registry", value_name = "HOST")]
    insecure_registries: Vec<String>,
}

/// `--registry-mirror` and `--insecure-registry` as the image service's host settings.
fn registry_hosts(a: &DaemonCli) -> Result<image::registry::HostsConfig> {
    let mut hosts = image::registry::HostsConfig::default();
    for i in &a.insecure_registries {
        let h = i
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/');
        if h.is_empty() || h.contains(['?', '#']) {
            bail!("invalid insecure registry {i:?}: use host[:port]");
        }
        hosts.insecure.push(h.to_string());
    }
    for m in &a.registry_mirrors {
        let (secure, rest) = if let Some(r) = m.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = m.strip_prefix("http://") {
            (false, r)
        } else {
            bail!("invalid mirror: unsupported scheme in {m:?}: use http:// or https://");
        };
        let host = rest.trim_end_matches('/');
        if host.is_empty() || host.contains(['/', '?', '#']) {
            bail!("invalid mirror: {m:?}: path, query, or fragment at end of the URI");
        }
        if !secure {
            hosts.insecure.push(host.to_string());
        }
        hosts
            .mirrors
            .entry("docker.io".into())
            .or_default()
            .push(host.to_string());
    }
    Ok(hosts)
}

struct System {
    roots: Roots,
    engine: Arc<engine::engine::Engine>,
}

impl api::SystemBackend for System {
    fn info(&self) -> api::SystemInfo {
        let v2 = runtime::cgroups::host_mode() == runtime::cgroups::HostMode::V2;
        let all = self.engine.store.list();
        let count = |f: &dyn Fn(&engine::container::Container) -> bool| {
            all.iter().filter(|c| f(c)).count() as u64
        };
        let images = self.engine.images.list().map(|l| {
            l.iter()
                .map(|i| i.record.config.to_string())
                .collect::<std::collections::BTreeSet<_>>()
                .len() as u64
        });
        api::SystemInfo {
            id: String::new(),
            containers: all.len() as u64,
            containers_running: count(&|c| c.state.status == engine::container::Status::Running),
            containers_paused: count(&|c| c.state.status == engine::container::Status::Paused),
            containers_stopped: count(&|c| !c.state.running()),
            images: images.unwrap_or(0),
            data_root: self.roots.data.display().to_string(),
            cgroup_version: if v2 { "2" } else { "1" }.into(),
            default_runtime: "tug".into(),
            runtimes: vec![
                ("tug".into(), "tug-runc".into()),
                ("runc".into(), "runc".into()),
            ],
            ..Default::default()
        }
    }
}

fn log(json: bool, level: &str, msg: &str) {
    if json {
        let line =
            serde_json::json!({"level": level, "msg": msg, "time": runtime::util::rfc3339_now()});
        eprintln!("{line}");
    } else {
        eprintln!("{} {level} {msg}", runtime::util::rfc3339_now());
    }
}

/// The unix socket paths to listen on; TCP needs TLS client certificates, not supported yet.
fn socket_paths(a: &DaemonCli) -> Result<Vec<PathBuf>> {
    if a.hosts.is_empty() {
        return Ok(vec![engine::daemon::default_socket(&a.exec_root)]);
    }
    a.hosts
        .iter()
        .map(|h| match h.strip_prefix("unix://") {
            Some(p) => Ok(PathBuf::from(p)),
            None if h.starts_with("tcp://") => {
                bail!("refusing to listen on {h}: TCP needs TLS client certificates, which tug daemon does not support yet")
            }
            None => bail!("invalid host {h:?}: use unix:///path/to/socket"),
        })
        .collect()
}

fn group_id(name: &str) -> Option<u32> {
    let text = std::fs::read_to_string("/etc/group").ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.first() == Some(&name))
            .then(|| f.get(2)?.parse().ok())
            .flatten()
    })
}

fn bind(path: &Path, group: &str) -> Result<tokio::net::UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let _ = std::fs::remove_file(path);
    let l = tokio::net::UnixListener::bind(path)
        .with_context(|| format!("listen on {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    if let Some(gid) = group_id(group) {
        std::os::unix::fs::chown(path, Some(0), Some(gid))?;
    }
    Ok(l)
}

pub fn main(a: DaemonCli) -> i32 {
    let json = a.log_format == "json";
    match run(a) {
        Ok(()) => 0,
        Err(e) => {
            log(json, "error", &format!("tug daemon: {e:#}"));
            1
        }
    }
}

fn run(a: DaemonCli) -> Result<()> {
    let json = a.log_format == "json";
    let registry_hosts = registry_hosts(&a)?;
    let roots = Roots {
        data: a.data_root.clone(),
        exec: a.exec_root.clone(),
    };
    roots.create()?;
    let _lock = roots.lock()?;
    let sockets = socket_paths(&a)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        let exe = std::env::current_exe().context("find the tug binary")?;
        let parent = a.cgroup_parent.clone();
        let engine = tokio::task::block_in_place(|| {
            engine::engine::Engine::open(roots.clone(), exe, parent)
        })
        .map_err(|e| anyhow::anyhow!("open engine state: {e}"))?;
        engine.images.registry().set_hosts(registry_hosts);
        let system = Arc::new(System {
            roots: roots.clone(),
            engine: engine.clone(),
        });
        let backends = Arc::new(api::Backends { system, engine });
        let mut tasks = Vec::new();
        for path in &sockets {
            let l = bind(path, &a.group)?;
            log(
                json,
                "info",
                &format!("API listening on {}", path.display()),
            );
            tasks.push(tokio::spawn(api::serve(l, backends.clone())));
        }
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        log(json, "info", "shutting down; containers keep running");
        for p in &sockets {
            let _ = std::fs::remove_file(p);
        }
        Ok(())
    });
    // Requests still blocked (waits, followed logs) must not hold the exit: the containers
    // and their shims carry on without the daemon.
    rt.shutdown_background();
    result
}
