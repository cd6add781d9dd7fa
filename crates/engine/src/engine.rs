//! The engine: containers from images, started through shims, watched until they exit, and
//! found again after a daemon restart (live restore).

use crate::container::{names, Container, State, Status, Store, StoreError, ZERO_TIME};
use crate::daemon::Roots;
use crate::shim::{self, ShimConfig};
use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Invalid,
    NotFound,
    Conflict,
    Internal,
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct EngineError {
    pub kind: Kind,
    pub message: String,
}

impl EngineError {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        EngineError {
            kind,
            message: message.into(),
        }
    }
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        let kind = match e {
            StoreError::NotFound(_) => Kind::NotFound,
            StoreError::NameInUse { .. } => Kind::Conflict,
            StoreError::Ambiguous(_) => Kind::Invalid,
            _ => Kind::Internal,
        };
        EngineError::new(kind, e.to_string())
    }
}

impl From<image::ServiceError> for EngineError {
    fn from(e: image::ServiceError) -> Self {
        let kind = match e.kind() {
            image::ErrorKind::NotFound => Kind::NotFound,
            image::ErrorKind::Invalid | image::ErrorKind::Unsupported => Kind::Invalid,
            image::ErrorKind::Conflict => Kind::Conflict,
            _ => Kind::Internal,
        };
        EngineError::new(kind, e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, EngineError>;

fn internal(what: impl std::fmt::Display) -> EngineError {
    EngineError::new(Kind::Internal, what.to_string())
}

/// What `wait` waits for, as Docker's `condition` parameter names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

pub struct Engine {
    pub roots: Roots,
    pub store: Store,
    pub images: image::ImageService,
    pub(crate) exe: PathBuf,
    /// Where container cgroups go: relative paths nest under the daemon's own cgroup.
    cgroup_parent: String,
    /// Bumped (and waiters woken) on every state change.
    changed: Arc<(Mutex<u64>, Condvar)>,
    /// Attach clients waiting for a container's start.
    pending_attach: Mutex<HashMap<String, u32>>,
    /// Exec instances (in memory only, as Docker keeps them).
    pub(crate) execs: Mutex<HashMap<String, crate::ops::ExecRecord>>,
    /// What happened, for `docker events`.
    pub events: crate::events::Events,
    /// The current back-off of containers a restart policy restarts.
    restart_delays: Mutex<HashMap<String, Duration>>,
    /// Networks, their endpoints and live parts (bridges, rules, DNS).
    pub networks: crate::network::Networks,
    /// OCI runtimes containers may name (`--runtime`).
    pub runtimes: crate::runtimes::Runtimes,
}

impl Engine {
    /// Open the engine's state under `roots`; `exe` is the tug binary (for shims).
    pub fn open(roots: Roots, exe: PathBuf, cgroup_parent: String) -> Result<Arc<Engine>> {
        roots.create().map_err(internal)?;
        let (store, bad) = Store::open(&roots.data)?;
        for b in bad {
            eprintln!("tug daemon: skipping container: {b}");
        }
        let images = image::ImageService::open(&roots.data.join("image"), Default::default())?;
        let networks = crate::network::Networks::open(&roots, store.clone())?;
        let engine = Arc::new(Engine {
            networks,
            roots,
            store,
            images,
            exe,
            cgroup_parent,
            changed: Arc::new((Mutex::new(0), Condvar::new())),
            pending_attach: Mutex::new(HashMap::new()),
            execs: Mutex::new(HashMap::new()),
            events: crate::events::Events::default(),
            restart_delays: Mutex::new(HashMap::new()),
            runtimes: Default::default(),
        });
        engine.reconcile();
        engine.networks.reconcile();
        Ok(engine)
    }

    pub(crate) fn runtime_root(&self) -> PathBuf {
        self.roots.exec.join("runtime")
    }

    pub(crate) fn exec_dir(&self, id: &str) -> PathBuf {
        self.roots.exec.join("containers").join(id)
    }

    pub fn shim(&self, id: &str) -> shim::Client {
        shim::Client::new(&self.exec_dir(id).join("shim"))
    }

    pub(crate) fn notify(&self) {
        let (m, cv) = &*self.changed;
        *m.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        cv.notify_all();
    }

    /// After a restart: containers whose shim still runs are watched again; the others get
    /// the exit their shim recorded.
    fn reconcile(self: &Arc<Self>) {
        for c in self.store.list() {
            if !c.state.running() {
                continue;
            }
            if self.shim(&c.id).state().is_ok() {
                self.watch(c.id.clone());
                self.monitor_health(&c.id, false);
                continue;
            }
            let exit = self.shim(&c.id).exit_file().ok();
            let _ = self.store.update(&c.id, |c| {
                c.state.status = Status::Exited;
                c.state.pid = 0;
                c.state.exit_code = exit.as_ref().map_or(255, |e| e.exit_code);
                c.state.finished_at = exit
                    .as_ref()
                    .map_or_else(runtime::util::rfc3339_now, |e| e.finished_at.clone());
                c.state.oom_killed = exit.as_ref().is_some_and(|e| e.oom_killed);
            });
            // What its run held goes, as when the exit is seen live.
            self.release_rootfs(&c.id);
            self.networks.release(&c.id);
        }
        // Restart policies apply when the daemon starts, as Docker's do.
        for c in self.store.list() {
            if c.state.running() && c.state.status != Status::Restarting {
                continue;
            }
            let Ok(policy) = crate::restart::Policy::from_host_config(&c.host_config) else {
                continue;
            };
            let restart = c.state.status == Status::Restarting
                || (c.state.status != Status::Created
                    && policy.restart_on_daemon_start(
                        c.state.exit_code,
                        c.manually_stopped,
                        c.restart_count,
                    ));
            if restart {
                if let Err(e) = self.start_run(&c.id, false) {
                    eprintln!("tug daemon: restart {}: {e}", c.id);
                }
            }
        }
    }

    /// A monitor thread: block on the shim until the container exits, then record it.
    fn watch(self: &Arc<Self>, id: String) {
        let me = self.clone();
        std::thread::spawn(move || {
            let exit = me.shim(&id).wait();
            let auto_remove = me.store.update(&id, |c| {
                c.state.status = Status::Exited;
                c.state.pid = 0;
                match &exit {
                    Ok(e) => {
                        c.state.exit_code = e.exit_code;
                        c.state.finished_at = e.finished_at.clone();
                        c.state.oom_killed = e.oom_killed;
                    }
                    Err(err) => {
                        c.state.exit_code = 255;
                        c.state.error = err.to_string();
                        c.state.finished_at = runtime::util::rfc3339_now();
                    }
                }
            });
            me.release_rootfs(&id);
            me.networks.release(&id);
            me.notify();
            let Ok(c) = auto_remove else { return };
            if c.state.oom_killed {
                me.emit(&c, "oom", &[]);
            }
            me.emit(&c, "die", &[("exitCode", c.state.exit_code.to_string())]);
            if c.host_config["AutoRemove"].as_bool().unwrap_or(false) {
                let _ = me.remove(&id, true);
                return;
            }
            me.restart_by_policy(&c);
        });
    }

    /// After an exit: start the container again if its restart policy says so, after the
    /// back-off delay (status `restarting` meanwhile; a stop or remove cancels it).
    fn restart_by_policy(self: &Arc<Self>, c: &Container) {
        let Ok(policy) = crate::restart::Policy::from_host_config(&c.host_config) else {
            return;
        };
        if !policy.restart_after_exit(c.state.exit_code, c.manually_stopped, c.restart_count) {
            self.restart_delays
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&c.id);
            return;
        }
        let ran = Duration::from_secs(
            (runtime::util::epoch_secs(&c.state.finished_at)
                - runtime::util::epoch_secs(&c.state.started_at))
            .max(0) as u64,
        );
        let delay = {
            let mut delays = self
                .restart_delays
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let d = crate::restart::next_delay(delays.get(&c.id).copied(), ran);
            delays.insert(c.id.clone(), d);
            d
        };
        let marked = self.store.update(&c.id, |c| {
            if !c.manually_stopped && c.state.status == Status::Exited {
                c.state.status = Status::Restarting;
                c.restart_count += 1;
            }
        });
        if !marked.is_ok_and(|c| c.state.status == Status::Restarting) {
            return;
        }
        self.notify();
        std::thread::sleep(delay);
        // Still wanted? A stop or remove during the delay changed the status.
        match self.store.get(&c.id) {
            Ok(now) if now.state.status == Status::Restarting => {}
            _ => return,
        }
        if let Err(e) = self.start_run(&c.id, true) {
            let msg = e.to_string();
            let _ = self.store.update(&c.id, |c| {
                c.state.status = Status::Exited;
                c.state.error = msg.clone();
            });
            self.notify();
        }
    }

    /// Create a container record from a Docker create request (`Config` + `HostConfig`).
    pub fn create(&self, name: Option<&str>, body: &serde_json::Value) -> Result<Container> {
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) if !names::valid_name(n) => {
                return Err(EngineError::new(
                    Kind::Invalid,
                    format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    ),
                ))
            }
            Some(n) => n.trim_start_matches('/').to_string(),
            None => names::generate(|n| self.store.name_taken(n)),
        };
        let image_name = body["Image"].as_str().unwrap_or_default().to_string();
        if image_name.is_empty() {
            return Err(EngineError::new(Kind::Invalid, "no image specified"));
        }
        let info = self
            .images
            .inspect(&image_name)
            .map_err(|e| match e.kind() {
                image::ErrorKind::NotFound => {
                    EngineError::new(Kind::NotFound, format!("No such image: {image_name}"))
                }
                _ => e.into(),
            })?;
        let image_config = self.images.config_json(&info)["config"].clone();
        let config = crate::prepare::merge_create(body, &image_config)
            .map_err(|e| EngineError::new(Kind::Invalid, e.to_string()))?;
        let mut host_config = body
            .get("HostConfig")
            .cloned()
            .unwrap_or(serde_json::json!({}));
        (self.runtimes.on_create(&mut host_config))
            .map_err(|e| EngineError::new(Kind::Invalid, e.to_string()))?;
        crate::restart::Policy::from_host_config(&host_config)
            .map_err(|e| EngineError::new(Kind::Invalid, e))?;
        crate::health::Check::from_config(&config)
            .map_err(|e| EngineError::new(Kind::Invalid, e))?;
        // Docker refuses impossible resources at create, before anything is made.
        let typed: crate::spec::HostConfig = serde_json::from_value(host_config.clone())
            .map_err(|e| EngineError::new(Kind::Invalid, format!("invalid HostConfig: {e}")))?;
        crate::spec::resources::validate(&crate::spec::RealHost, &typed)
            .map_err(|e| EngineError::new(Kind::Invalid, e.to_string()))?;
        let argv: Vec<String> = crate::prepare::command_line(&config);
        let id = names::new_id();
        let c = Container {
            id: id.clone(),
            name: format!("/{name}"),
            created: runtime::util::rfc3339_now(),
            image: info.record.config.to_string(),
            image_name,
            path: argv.first().cloned().unwrap_or_default(),
            args: argv.iter().skip(1).cloned().collect(),
            config,
            host_config,
            state: State::default(),
            restart_count: 0,
            log_path: self.store.container_dir(&id).join(format!("{id}-json.log")),
            manually_stopped: false,
            mounts: Vec::new(),
        };
        let c = crate::volume::attach::add_container(self, c)?;
        if let Err(e) = self.networks.on_create(&c, body) {
            let _ = self.remove(&c.id, true);
            return Err(e.into());
        }
        self.emit(&c, "create", &[]);
        self.notify();
        Ok(c)
    }

    /// Announce an attach client that will connect before the container starts.
    pub fn expect_attach(&self, id: &str) {
        *self
            .pending_attach
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id.to_string())
            .or_default() += 1;
    }

    pub(crate) fn rootfs_dir(&self, id: &str) -> PathBuf {
        self.store.container_dir(id).join("rootfs")
    }

    fn release_rootfs(&self, id: &str) {
        let merged = self.rootfs_dir(id).join("merged");
        let _ = image::snapshot::unmount(&merged);
    }

    pub fn start(self: &Arc<Self>, key: &str) -> Result<()> {
        let c = self.store.get(key)?;
        match c.state.status {
            Status::Running | Status::Restarting => return Ok(()),
            Status::Paused => {
                return Err(EngineError::new(
                    Kind::Conflict,
                    format!("cannot start a paused container, try unpause instead"),
                ))
            }
            _ => {}
        }
        self.restart_delays
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&c.id);
        self.start_run(&c.id, false)
    }

    /// Everything a start needs before the shim: the mounted rootfs with its working
    /// directory, volumes, network, the bundle's config.json, and the shim's configuration.
    fn prepare_start(self: &Arc<Self>, c: &Container) -> Result<ShimConfig> {
        let rootfs = self.mount_rootfs(&c)?;
        make_working_dir(&c, &rootfs)?;
        let bundle = self.exec_dir(&c.id).join("bundle");
        std::fs::create_dir_all(&bundle).map_err(internal)?;
        let mut extras = crate::prepare::StartExtras::default();
        extras
            .mounts
            .extend(crate::volume::attach::start_mounts(self, &c, &rootfs)?);
        self.networks.prepare(&c, &mut extras)?;
        if c.host_config["Init"].as_bool().unwrap_or(false) {
            self.add_init(&mut extras);
        }
        let external = self
            .runtimes
            .resolve(c.host_config["Runtime"].as_str().unwrap_or_default())
            .map_err(|e| EngineError::new(Kind::Invalid, e.to_string()))?;
        let mut spec = crate::prepare::oci_for(&c, &rootfs, &self.runtime_cgroup_parent(), &extras)
            .map_err(|e| EngineError::new(Kind::Invalid, e.to_string()))?;
        if external.is_some() {
            // Other runtimes may predate spec 1.2 (crun 1.8 refuses it); nothing tug writes
            // needs more than 1.0.2, the version Docker writes.
            spec.set_version("1.0.2-dev".to_string());
        }
        let data = serde_json::to_vec_pretty(&spec).map_err(internal)?;
        std::fs::write(bundle.join("config.json"), data).map_err(internal)?;
        let waiting = self
            .pending_attach
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&c.id)
            .unwrap_or(0);
        let cfg = ShimConfig {
            id: c.id.clone(),
            bundle: bundle.clone(),
            dir: self.exec_dir(&c.id).join("shim"),
            runtime_root: self.runtime_root(),
            log: c.log_path.clone(),
            log_max_size: log_opt(&c, "max-size")
                .and_then(|v| parse_size(&v))
                .unwrap_or(0),
            log_max_files: log_opt(&c, "max-file")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1),
            tty: c.tty(),
            stdin: c.config["OpenStdin"].as_bool().unwrap_or(false),
            wait_attach: waiting,
            external,
        };
        Ok(cfg)
    }

    /// Start a run of the container: mount, spec, shim, monitor. `by_policy`: a restart
    /// policy starts it (the restart count is kept).
    pub(crate) fn start_run(self: &Arc<Self>, key: &str, by_policy: bool) -> Result<()> {
        let c = self.store.get(key)?;
        // Any failure before the container runs undoes the start and records why; with
        // `--rm` the container goes too (so a client waiting for its removal is answered).
        let pid = match self.prepare_start(&c).and_then(|cfg| {
            shim::spawn(&self.exe, &cfg).map_err(|e| EngineError::new(Kind::Invalid, e.to_string()))
        }) {
            Ok(pid) => pid,
            Err(e) => {
                self.release_rootfs(&c.id);
                self.networks.release(&c.id);
                let msg = e.to_string();
                let _ = self.store.update(&c.id, |c| c.state.error = msg.clone());
                self.notify();
                if c.host_config["AutoRemove"].as_bool().unwrap_or(false) {
                    let _ = self.remove(&c.id, true);
                }
                return Err(e);
            }
        };
        self.store.update(&c.id, |c| {
            c.state = State {
                status: Status::Running,
                pid,
                started_at: runtime::util::rfc3339_now(),
                finished_at: ZERO_TIME.into(),
                ..State::default()
            };
            c.manually_stopped = false;
            if !by_policy {
                c.restart_count = 0;
            }
        })?;
        if let Ok(now) = self.store.get(&c.id) {
            self.emit(&now, "start", &[]);
        }
        self.notify();
        self.watch(c.id.clone());
        self.monitor_health(&c.id, true);
        Ok(())
    }

    /// `--init`: tug's own init at /sbin/docker-init (where Docker puts its own), bind-mounted
    /// read-only from the immutable copy of the binary so the container never sees a writable
    /// tug. The binary is static: it runs in any image.
    fn add_init(&self, extras: &mut crate::prepare::StartExtras) {
        const INIT: &str = "/sbin/docker-init";
        let exe = runtime::selfexe::sealed_path().unwrap_or_else(|_| self.exe.clone());
        extras.mounts.push(crate::spec::MountSpec {
            source: exe,
            destination: INIT.into(),
            options: vec!["rbind".into(), "ro".into(), "nosuid".into()],
        });
        extras.init_path = Some(INIT.into());
    }

    fn runtime_cgroup_parent(&self) -> String {
        self.cgroup_parent.clone()
    }

    fn mount_rootfs(&self, c: &Container) -> Result<PathBuf> {
        let dir = self.rootfs_dir(&c.id);
        let merged = dir.join("merged");
        if is_mountpoint(&merged) {
            return Ok(merged);
        }
        std::fs::create_dir_all(&dir).map_err(internal)?;
        let m = self.images.mount(&c.image, &dir)?;
        Ok(m.leak())
    }

    pub fn kill(&self, key: &str, signal: &str) -> Result<()> {
        let c = self.store.get(key)?;
        if !c.state.running() {
            return Err(EngineError::new(
                Kind::Conflict,
                format!("Container {} is not running", c.id),
            ));
        }
        if c.state.status == Status::Restarting {
            return Err(EngineError::new(
                Kind::Conflict,
                format!(
                    "Container {} is restarting, wait until the container is running",
                    c.id
                ),
            ));
        }
        let sig = runtime::container::parse_signal(signal)
            .map_err(|_| EngineError::new(Kind::Invalid, format!("Invalid signal: {signal}")))?;
        // As Docker: a killed container is not restarted by its policy (except `always`
        // when the daemon starts again).
        let _ = self.store.update(&c.id, |c| c.manually_stopped = true);
        self.shim(&c.id).kill(sig).map_err(internal)?;
        if sig == libc::SIGKILL {
            self.thaw_if_paused(&c);
        }
        self.emit(&c, "kill", &[("signal", sig.to_string())]);
        Ok(())
    }

    /// Stop: the stop signal, then SIGKILL after the timeout (seconds; default from config or 10).
    pub fn stop(&self, key: &str, timeout: Option<i64>) -> Result<bool> {
        let c = self.store.get(key)?;
        if !c.state.running() {
            return Ok(false);
        }
        let c = self.store.update(&c.id, |c| {
            c.manually_stopped = true;
            // Waiting for a restart: cancel it; there is no process to stop.
            if c.state.status == Status::Restarting {
                c.state.status = Status::Exited;
            }
        })?;
        if c.state.status == Status::Exited {
            self.notify();
            self.emit(&c, "stop", &[]);
            return Ok(true);
        }
        self.thaw_if_paused(&c);
        let signal = c.config["StopSignal"]
            .as_str()
            .unwrap_or("SIGTERM")
            .to_string();
        let t = timeout
            .or_else(|| c.config["StopTimeout"].as_i64())
            .unwrap_or(10);
        let sig = runtime::container::parse_signal(&signal).unwrap_or(libc::SIGTERM);
        let _ = self.shim(&c.id).kill(sig);
        self.emit(&c, "kill", &[("signal", sig.to_string())]);
        if t >= 0
            && self.wait_until(&c.id, Some(Duration::from_secs(t as u64)), |c| {
                !c.is_some_and(|c| c.state.running())
            })
        {
            self.emit(&c, "stop", &[]);
            return Ok(true);
        }
        self.emit(&c, "kill", &[("signal", libc::SIGKILL.to_string())]);
        let _ = self.shim(&c.id).kill(libc::SIGKILL);
        self.wait_until(&c.id, Some(Duration::from_secs(30)), |c| {
            !c.is_some_and(|c| c.state.running())
        });
        self.emit(&c, "stop", &[]);
        Ok(true)
    }

    /// `docker restart`: stop (if running), then start.
    pub fn restart(self: &Arc<Self>, key: &str, timeout: Option<i64>) -> Result<()> {
        self.stop(key, timeout)?;
        self.start(key)?;
        if let Ok(c) = self.store.get(key) {
            self.emit(&c, "restart", &[]);
        }
        Ok(())
    }

    /// Block until `done` holds for the container (None: it is gone); false on timeout.
    pub fn wait_until(
        &self,
        id: &str,
        timeout: Option<Duration>,
        done: impl Fn(Option<&Container>) -> bool,
    ) -> bool {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        let (m, cv) = &*self.changed;
        let mut g = m.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if done(self.store.get(id).ok().as_ref()) {
                return true;
            }
            let wait = match deadline {
                Some(d) => match d.checked_duration_since(std::time::Instant::now()) {
                    Some(left) => left.min(Duration::from_millis(500)),
                    None => return false,
                },
                None => Duration::from_millis(500),
            };
            g = cv
                .wait_timeout(g, wait)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Docker's `wait`: the exit code once the condition holds, judged against `baseline`
    /// (the container as it was when the client asked).
    pub fn wait_from(&self, baseline: &Container, condition: WaitCondition) -> i32 {
        let id = baseline.id.clone();
        let before = baseline.state.finished_at.clone();
        let code = std::sync::Mutex::new(baseline.state.exit_code);
        let exited = |c: Option<&Container>| match c {
            Some(c)
                if !c.state.running()
                    && c.state.status != Status::Created
                    && c.state.finished_at != before =>
            {
                *code.lock().unwrap_or_else(|p| p.into_inner()) = c.state.exit_code;
                true
            }
            Some(_) => false,
            None => true,
        };
        match condition {
            // As Docker: a container that is not running (created or exited) satisfies this now.
            WaitCondition::NotRunning if !baseline.state.running() => {}
            WaitCondition::NotRunning | WaitCondition::NextExit => {
                self.wait_until(&id, None, exited);
            }
            WaitCondition::Removed => {
                self.wait_until(&id, None, exited);
                self.wait_until(&id, None, |c| c.is_none());
            }
        }
        code.into_inner().unwrap_or_else(|p| p.into_inner())
    }

    pub fn remove(&self, key: &str, force: bool) -> Result<()> {
        let mut c = self.store.get(key)?;
        if force && c.state.status == Status::Restarting {
            c = self.store.update(&c.id, |c| {
                c.manually_stopped = true;
                if c.state.status == Status::Restarting {
                    c.state.status = Status::Exited;
                }
            })?;
        }
        if c.state.running() {
            if !force {
                return Err(EngineError::new(Kind::Conflict, format!(
                    "cannot remove container \"{}\": container is running: stop the container before removing or force remove",
                    c.name
                )));
            }
            // No restart policy brings it back while it is being removed.
            let _ = self.store.update(&c.id, |c| c.manually_stopped = true);
            self.emit(&c, "kill", &[("signal", libc::SIGKILL.to_string())]);
            let _ = self.shim(&c.id).kill(libc::SIGKILL);
            self.thaw_if_paused(&c);
            self.wait_until(&c.id, Some(Duration::from_secs(30)), |c| {
                !c.is_some_and(|c| c.state.running())
            });
        }
        self.release_rootfs(&c.id);
        self.networks.forget(&c.id);
        let _ = std::fs::remove_dir_all(self.exec_dir(&c.id));
        self.store.remove(&c.id)?;
        crate::volume::attach::on_remove(self, &c, c.host_config["AutoRemove"] == true);
        self.forget_execs(&c.id);
        self.restart_delays
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&c.id);
        self.emit(&c, "destroy", &[]);
        self.notify();
        Ok(())
    }

    pub fn log_path(&self, key: &str) -> Result<(Container, PathBuf)> {
        let c = self.store.get(key)?;
        let p = c.log_path.clone();
        Ok((c, p))
    }
}

fn log_opt(c: &Container, key: &str) -> Option<String> {
    c.host_config["LogConfig"]["Config"][key]
        .as_str()
        .map(String::from)
}

/// "10m", "1k", "512" → bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mul) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1u64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (&s[..], 1),
    };
    num.parse::<u64>().ok().map(|n| n * mul)
}

fn is_mountpoint(p: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = p.to_string_lossy();
    text.lines().any(|l| l.split(' ').nth(4) == Some(&want))
}

/// Docker creates a missing `WorkingDir` in the container's filesystem (owned by root) before
/// the start, whatever the image holds; resolved inside the rootfs, so an image's symlinks
/// cannot point it elsewhere.
fn make_working_dir(c: &Container, rootfs: &Path) -> Result<()> {
    let dir = c.config["WorkingDir"].as_str().unwrap_or_default();
    if !dir.starts_with('/') || dir.trim_matches('/').is_empty() {
        return Ok(());
    }
    let root = std::fs::File::open(rootfs).map_err(internal)?;
    runtime::securepath::mkdir_all(root.as_raw_fd(), Path::new(dir))
        .map(drop)
        .map_err(|e| {
            EngineError::new(
                Kind::Invalid,
                format!("cannot create the working directory {dir:?}: {e}"),
            )
        })
}
