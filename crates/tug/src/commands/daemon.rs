//! `tug daemon`: the Docker Engine API on a unix socket.

use anyhow::{bail, Context, Result};
use clap::Args;
use engine::daemon::Roots;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Args)]
pub struct DaemonCli {
    /// Daemon socket(s) to listen on: unix:///path or tcp://host:port (TLS client
    /// certificates required); may be repeated
    #[arg(short = 'H', long = "host")]
    hosts: Vec<String>,
    /// Persistent state (default /var/lib/tug)
    #[arg(long)]
    data_root: Option<PathBuf>,
    /// Runtime state: sockets, shims (default /run/tug)
    #[arg(long)]
    exec_root: Option<PathBuf>,
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
    /// Daemon configuration file (Docker's daemon.json keys)
    #[arg(long, default_value = config::DEFAULT_FILE)]
    config_file: PathBuf,
    /// Register an OCI runtime: name=path; may be repeated
    #[arg(long = "add-runtime", value_name = "NAME=PATH")]
    add_runtime: Vec<String>,
    /// Default OCI runtime for containers
    #[arg(long)]
    default_runtime: Option<String>,
    /// Use TLS; implied by --tlsverify
    #[arg(long)]
    tls: bool,
    /// Use TLS and verify the remote (client certificates signed by --tlscacert)
    #[arg(long)]
    tlsverify: bool,
    /// Trust certs signed only by this CA
    #[arg(long)]
    tlscacert: Option<PathBuf>,
    /// Path to TLS certificate file
    #[arg(long)]
    tlscert: Option<PathBuf>,
    /// Path to TLS key file
    #[arg(long)]
    tlskey: Option<PathBuf>,
    /// Log level (accepted for Docker compatibility)
    #[arg(short = 'l', long)]
    log_level: Option<String>,
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
    id: String,
    mirrors: Vec<String>,
    insecure: Vec<String>,
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
            id: self.id.clone(),
            containers: all.len() as u64,
            containers_running: count(&|c| c.state.status == engine::container::Status::Running),
            containers_paused: count(&|c| c.state.status == engine::container::Status::Paused),
            containers_stopped: count(&|c| !c.state.running()),
            images: images.unwrap_or(0),
            data_root: self.roots.data.display().to_string(),
            cgroup_version: if v2 { "2" } else { "1" }.into(),
            default_runtime: self.engine.runtimes.default_name(),
            runtimes: self
                .engine
                .runtimes
                .list()
                .into_iter()
                .map(|(n, r)| (n, r.path.display().to_string(), r.args))
                .collect(),
            mirrors: self.mirrors.clone(),
            insecure_registries: self.insecure.clone(),
            ..Default::default()
        }
    }
}

/// A stable ID for this daemon's data root (`docker info`'s ID), made on first start.
fn engine_id(roots: &Roots) -> String {
    let path = roots.data.join("engine-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        if !id.trim().is_empty() {
            return id.trim().to_string();
        }
    }
    let id = uuid_like();
    let _ = runtime::util::write_atomic(&path, id.as_bytes());
    id
}

fn uuid_like() -> String {
    let mut b = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut b);
    }
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
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

/// Where the API listens.
enum Listen {
    Unix(PathBuf),
    Tcp(String),
}

/// The `-H` addresses; TCP only with TLS client certificates, as Docker requires.
fn listen_addrs(a: &DaemonCli, exec_root: &Path) -> Result<Vec<Listen>> {
    if a.hosts.is_empty() {
        return Ok(vec![Listen::Unix(engine::daemon::default_socket(
            exec_root,
        ))]);
    }
    a.hosts
        .iter()
        .map(|h| {
            if let Some(p) = h.strip_prefix("unix://") {
                return Ok(Listen::Unix(PathBuf::from(p)));
            }
            if let Some(addr) = h.strip_prefix("tcp://") {
                let addr = addr.trim_end_matches('/');
                if !a.tlsverify {
                    bail!("refusing to listen on {h} without TLS client certificates: add --tlsverify --tlscacert=CA --tlscert=CERT --tlskey=KEY (anyone reaching the port would control the host)");
                }
                if addr.is_empty() || addr.contains('/') {
                    bail!("invalid host {h:?}: use tcp://HOST:PORT");
                }
                let addr = if addr.contains(':') { addr.to_string() } else { format!("{addr}:2376") };
                return Ok(Listen::Tcp(addr));
            }
            bail!("invalid host {h:?}: use unix:///path/to/socket or tcp://HOST:PORT")
        })
        .collect()
}

/// The TLS acceptor for TCP listeners: `--tlsverify` needs the CA, certificate and key.
fn tls_acceptor(a: &DaemonCli) -> Result<api::tls::Acceptor> {
    let (Some(ca), Some(cert), Some(key)) = (&a.tlscacert, &a.tlscert, &a.tlskey) else {
        bail!("--tlsverify needs --tlscacert, --tlscert and --tlskey");
    };
    Ok(api::tls::acceptor(ca, cert, key)?)
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

fn run(mut a: DaemonCli) -> Result<()> {
    let runtimes = config::load(&mut a)?;
    let json = a.log_format == "json";
    let registry_hosts = registry_hosts(&a)?;
    let roots = Roots {
        data: a.data_root.clone().unwrap_or_else(|| "/var/lib/tug".into()),
        exec: a.exec_root.clone().unwrap_or_else(|| "/run/tug".into()),
    };
    let listen = listen_addrs(&a, &roots.exec)?;
    let tls = if listen.iter().any(|l| matches!(l, Listen::Tcp(_))) {
        Some(tls_acceptor(&a)?)
    } else {
        None
    };
    let external: std::collections::BTreeMap<String, engine::runtimes::External> = runtimes
        .into_iter()
        .map(|(n, r)| {
            let e = engine::runtimes::External {
                path: r.path,
                args: r.runtime_args,
            };
            (n, e)
        })
        .collect();
    let table = engine::runtimes::Runtimes::default();
    table.set(external.clone(), a.default_runtime.clone())?;
    roots.create()?;
    let _lock = roots.lock()?;
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
        engine.runtimes.set(external, a.default_runtime.clone())?;
        let system = Arc::new(System {
            id: engine_id(&roots),
            roots: roots.clone(),
            engine: engine.clone(),
            mirrors: a.registry_mirrors.clone(),
            insecure: a.insecure_registries.clone(),
        });
        let backends = Arc::new(api::Backends { system, engine });
        let mut sockets = Vec::new();
        for l in &listen {
            match l {
                Listen::Unix(path) => {
                    let l = bind(path, &a.group)?;
                    tokio::spawn(api::serve(l, backends.clone()));
                    sockets.push(path.clone());
                    log(
                        json,
                        "info",
                        &format!("API listening on {}", path.display()),
                    );
                }
                Listen::Tcp(addr) => {
                    let l = tokio::net::TcpListener::bind(addr.as_str())
                        .await
                        .with_context(|| format!("listen on tcp://{addr}"))?;
                    let acceptor = tls.clone().context("tls")?;
                    tokio::spawn(api::serve_tls(l, acceptor, backends.clone()));
                    log(
                        json,
                        "info",
                        &format!("API listening on {addr} (TLS, client certificates required)"),
                    );
                }
            }
        }
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        log(json, "info", "shutting down; containers keep running");
        backends.engine.networks.shutdown();
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

/// `--config-file`: Docker's daemon.json, merged with the flags (a setting given both ways
/// is refused, as dockerd does).
mod config {
    use super::DaemonCli;
    use anyhow::{bail, Context, Result};
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    pub const DEFAULT_FILE: &str = "/etc/tug/daemon.json";

    /// Keys tug reads from daemon.json.
    const KNOWN: &[&str] = &[
        "hosts",
        "data-root",
        "exec-root",
        "group",
        "log-format",
        "cgroup-parent",
        "tls",
        "tlsverify",
        "tlscacert",
        "tlscert",
        "tlskey",
        "registry-mirrors",
        "insecure-registries",
        "runtimes",
        "default-runtime",
        "log-level",
    ];
    /// Docker keys that tug accepts and that change nothing (its behaviour is fixed).
    const ACCEPTED: &[&str] = &[
        "debug",
        "live-restore",
        "storage-driver",
        "log-driver",
        "log-opts",
        "experimental",
        "features",
        "exec-opts",
        "ipv6",
        "iptables",
        "userland-proxy",
    ];

    /// One runtime of `runtimes` (or `--add-runtime`).
    #[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
    pub struct RuntimeEntry {
        pub path: PathBuf,
        #[serde(default, rename = "runtimeArgs")]
        pub runtime_args: Vec<String>,
    }

    fn both(key: &str, flag: impl std::fmt::Debug, file: impl std::fmt::Debug) -> anyhow::Error {
        anyhow::anyhow!(
            "unable to configure the tug daemon with file {}: the following directives are specified both as a flag and in the configuration file: {key}: (from flag: {flag:?}, from file: {file:?})",
            DEFAULT_FILE
        )
    }

    fn str_list(v: &serde_json::Value, key: &str) -> Result<Vec<String>> {
        serde_json::from_value(v.clone())
            .with_context(|| format!("{key}: expected a list of strings"))
    }

    fn path(v: &serde_json::Value, key: &str) -> Result<PathBuf> {
        v.as_str()
            .map(PathBuf::from)
            .with_context(|| format!("{key}: expected a string"))
    }

    fn set_once<T: std::fmt::Debug>(key: &str, flag: &mut Option<T>, file: T) -> Result<()> {
        match flag {
            Some(f) => Err(both(key, &*f, file)),
            None => {
                *flag = Some(file);
                Ok(())
            }
        }
    }

    fn set_list(key: &str, flag: &mut Vec<String>, file: Vec<String>) -> Result<()> {
        if !flag.is_empty() && !file.is_empty() {
            return Err(both(key, &*flag, file));
        }
        if flag.is_empty() {
            *flag = file;
        }
        Ok(())
    }

    /// Read the file (a missing default file is no error) into the flags; returns the runtimes.
    pub fn load(a: &mut DaemonCli) -> Result<BTreeMap<String, RuntimeEntry>> {
        let mut runtimes = parse_add_runtime(&a.add_runtime)?;
        let file = a.config_file.clone();
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound && file == Path::new(DEFAULT_FILE) =>
            {
                return Ok(runtimes)
            }
            Err(e) => bail!(
                "unable to configure the tug daemon with file {}: {e}",
                file.display()
            ),
        };
        let v: serde_json::Value = serde_json::from_str(&text).with_context(|| {
            format!(
                "unable to configure the tug daemon with file {}",
                file.display()
            )
        })?;
        let obj = v
            .as_object()
            .with_context(|| format!("{}: not a JSON object", file.display()))?;
        let unknown: Vec<&str> = obj
            .keys()
            .map(String::as_str)
            .filter(|k| !KNOWN.contains(k) && !ACCEPTED.contains(k))
            .collect();
        if !unknown.is_empty() {
            bail!(
                "unable to configure the tug daemon with file {}: the following directives don't match any configuration option: {}",
                file.display(),
                unknown.join(", ")
            );
        }
        for (k, v) in obj {
            apply(a, &mut runtimes, k, v).with_context(|| {
                format!(
                    "unable to configure the tug daemon with file {}",
                    file.display()
                )
            })?;
        }
        Ok(runtimes)
    }

    fn apply(
        a: &mut DaemonCli,
        runtimes: &mut BTreeMap<String, RuntimeEntry>,
        k: &str,
        v: &serde_json::Value,
    ) -> Result<()> {
        match k {
            "hosts" => set_list(k, &mut a.hosts, str_list(v, k)?)?,
            "data-root" => set_once(k, &mut a.data_root, path(v, k)?)?,
            "exec-root" => set_once(k, &mut a.exec_root, path(v, k)?)?,
            "group" => a.group = v.as_str().context("group: expected a string")?.into(),
            "log-format" => {
                a.log_format = v.as_str().context("log-format: expected a string")?.into()
            }
            "cgroup-parent" => {
                a.cgroup_parent = v
                    .as_str()
                    .context("cgroup-parent: expected a string")?
                    .into()
            }
            "tls" => a.tls |= v.as_bool().context("tls: expected true or false")?,
            "tlsverify" => {
                a.tlsverify |= v.as_bool().context("tlsverify: expected true or false")?
            }
            "tlscacert" => set_once(k, &mut a.tlscacert, path(v, k)?)?,
            "tlscert" => set_once(k, &mut a.tlscert, path(v, k)?)?,
            "tlskey" => set_once(k, &mut a.tlskey, path(v, k)?)?,
            "registry-mirrors" => set_list(k, &mut a.registry_mirrors, str_list(v, k)?)?,
            "insecure-registries" => set_list(k, &mut a.insecure_registries, str_list(v, k)?)?,
            "default-runtime" => set_once(
                k,
                &mut a.default_runtime,
                v.as_str()
                    .context("default-runtime: expected a string")?
                    .to_string(),
            )?,
            "log-level" => a.log_level = v.as_str().map(String::from),
            "runtimes" => {
                let file: BTreeMap<String, RuntimeEntry> = serde_json::from_value(v.clone())
                    .context(
                        "runtimes: expected {\"name\": {\"path\": …, \"runtimeArgs\": […]}}",
                    )?;
                for (name, r) in file {
                    if runtimes.contains_key(&name) {
                        bail!("runtime name '{name}' is specified both as a flag and in the configuration file");
                    }
                    runtimes.insert(name, r);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// `--add-runtime name=path`.
    fn parse_add_runtime(flags: &[String]) -> Result<BTreeMap<String, RuntimeEntry>> {
        let mut out = BTreeMap::new();
        for f in flags {
            let Some((name, path)) = f
                .split_once('=')
                .filter(|(n, p)| !n.is_empty() && !p.is_empty())
            else {
                bail!("invalid --add-runtime {f:?}: use name=path");
            };
            out.insert(
                name.to_string(),
                RuntimeEntry {
                    path: path.into(),
                    runtime_args: Vec::new(),
                },
            );
        }
        Ok(out)
    }
}
