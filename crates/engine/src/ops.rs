//! Operations on running containers: pause/unpause, rename, top, stats, and exec instances.

use crate::container::{names, Container, Status};
use crate::engine::{Engine, EngineError, Kind, Result};
use crate::runtimes::External;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn internal(what: impl std::fmt::Display) -> EngineError {
    EngineError::new(Kind::Internal, what.to_string())
}

fn conflict(msg: String) -> EngineError {
    EngineError::new(Kind::Conflict, msg)
}

/// One exec instance, as Docker keeps it: in memory, for the daemon's lifetime.
#[derive(Debug, Clone)]
pub struct ExecRecord {
    pub id: String,
    pub container_id: String,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub tty: bool,
    pub privileged: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub detach_keys: String,
    pub running: bool,
    pub started: bool,
    pub exit_code: Option<i32>,
    pub pid: i32,
    pub pid_file: PathBuf,
    /// `[height, width]` asked for at create.
    pub console_size: Option<(u16, u16)>,
    /// The pty master of a running tty exec (for resize).
    pub console: Option<Arc<OwnedFd>>,
}

impl ExecRecord {
    /// Docker's `GET /exec/{id}/json`.
    pub fn to_docker(&self) -> serde_json::Value {
        let pid = if self.running {
            std::fs::read_to_string(&self.pid_file)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
                .unwrap_or(self.pid)
        } else {
            0
        };
        serde_json::json!({
            "ID": self.id,
            "Running": self.running,
            "ExitCode": self.exit_code,
            "ProcessConfig": {
                "tty": self.tty,
                "entrypoint": self.cmd.first().cloned().unwrap_or_default(),
                "arguments": self.cmd.iter().skip(1).collect::<Vec<_>>(),
                "privileged": self.privileged,
                "user": self.user,
            },
            "OpenStdin": self.attach_stdin,
            "OpenStderr": self.attach_stderr,
            "OpenStdout": self.attach_stdout,
            "CanRemove": false,
            "ContainerID": self.container_id,
            "DetachKeys": self.detach_keys,
            "Pid": pid,
        })
    }
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

impl Engine {
    fn running_container(&self, key: &str) -> Result<Container> {
        let c = self.store.get(key)?;
        if !c.state.running() {
            return Err(conflict(format!("Container {} is not running", c.id)));
        }
        Ok(c)
    }

    /// The external OCI runtime a container runs on; None for tug's own.
    fn external_of(&self, c: &Container) -> Option<External> {
        self.runtimes
            .resolve(c.host_config["Runtime"].as_str().unwrap_or_default())
            .ok()
            .flatten()
    }

    /// A container's runtime as a command line, `--root` given, ready for a verb.
    fn runtime_cli(&self, ext: Option<&External>) -> Command {
        let ours = self.runtime_root();
        match ext {
            None => {
                let mut cmd = Command::new(&self.exe);
                cmd.arg("runtime").arg("--root").arg(ours);
                cmd
            }
            Some(e) => {
                let mut cmd = Command::new(&e.path);
                cmd.args(&e.args)
                    .arg("--root")
                    .arg(crate::shim::external::root_beside(&ours, e));
                cmd
            }
        }
    }

    /// Run one verb of an external runtime on a container; its standard output.
    fn external_verb(&self, ext: &External, args: &[&str]) -> std::result::Result<Vec<u8>, String> {
        let out = self
            .runtime_cli(Some(ext))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{}: {e}", ext.path.display()))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let err = err.trim();
            return Err(format!(
                "{} {}: {}",
                ext.path.display(),
                args.first().copied().unwrap_or_default(),
                if err.is_empty() { "failed" } else { err }
            ));
        }
        Ok(out.stdout)
    }

    /// Freeze (`pause`) or thaw (`resume`) a container on its runtime.
    fn freeze(&self, c: &Container, pause: bool) -> std::result::Result<(), String> {
        match self.external_of(c) {
            Some(ext) => self
                .external_verb(&ext, &[if pause { "pause" } else { "resume" }, &c.id])
                .map(drop),
            None if pause => {
                runtime::container::pause(&self.runtime_root(), &c.id).map_err(|e| e.to_string())
            }
            None => {
                runtime::container::resume(&self.runtime_root(), &c.id).map_err(|e| e.to_string())
            }
        }
    }

    /// The pids in a container, from its runtime.
    fn container_pids(&self, c: &Container) -> std::result::Result<Vec<i32>, String> {
        match self.external_of(c) {
            Some(ext) => {
                let out = self.external_verb(&ext, &["ps", "--format", "json", &c.id])?;
                let mut pids: Vec<i32> = serde_json::from_slice(&out)
                    .map_err(|e| format!("{} ps: {e}", ext.path.display()))?;
                pids.sort_unstable();
                Ok(pids)
            }
            None => {
                runtime::container::ps_pids(&self.runtime_root(), &c.id).map_err(|e| e.to_string())
            }
        }
    }

    /// Resource usage of a container, from its runtime (`events --stats` for other runtimes).
    fn container_stats(
        &self,
        c: &Container,
    ) -> std::result::Result<runtime::cgroups::Stats, String> {
        match self.external_of(c) {
            Some(ext) => {
                let out = self.external_verb(&ext, &["events", "--stats", &c.id])?;
                let event: serde_json::Value = serde_json::from_slice(&out)
                    .map_err(|e| format!("{} events: {e}", ext.path.display()))?;
                serde_json::from_value(event["data"].clone())
                    .map_err(|e| format!("{} events: {e}", ext.path.display()))
            }
            None => {
                runtime::container::stats(&self.runtime_root(), &c.id).map_err(|e| e.to_string())
            }
        }
    }

    /// Thaw a paused container (before killing it, so the signal is delivered).
    pub(crate) fn thaw_if_paused(&self, c: &Container) {
        if c.state.status == Status::Paused {
            let _ = self.freeze(c, false);
            let _ = self.store.update(&c.id, |c| {
                if c.state.status == Status::Paused {
                    c.state.status = Status::Running;
                }
            });
            self.notify();
        }
    }

    pub fn pause(&self, key: &str) -> Result<()> {
        let c = self.running_container(key)?;
        if c.state.status == Status::Paused {
            return Err(conflict(format!("Container {} is already paused", c.id)));
        }
        self.freeze(&c, true)
            .map_err(|e| internal(format!("Cannot pause container {}: {e}", c.id)))?;
        self.store
            .update(&c.id, |c| c.state.status = Status::Paused)?;
        self.emit(&c, "pause", &[]);
        self.notify();
        Ok(())
    }

    pub fn unpause(&self, key: &str) -> Result<()> {
        let c = self.store.get(key)?;
        if c.state.status != Status::Paused {
            return Err(conflict(format!("Container {} is not paused", c.id)));
        }
        self.freeze(&c, false)
            .map_err(|e| internal(format!("Cannot unpause container {}: {e}", c.id)))?;
        self.store
            .update(&c.id, |c| c.state.status = Status::Running)?;
        self.emit(&c, "unpause", &[]);
        self.notify();
        Ok(())
    }

    pub fn rename(&self, key: &str, new_name: &str) -> Result<()> {
        let new_name = new_name.trim_start_matches('/');
        if new_name.is_empty() {
            return Err(EngineError::new(
                Kind::Invalid,
                "Neither old nor new names may be empty",
            ));
        }
        if !names::valid_name(new_name) {
            return Err(EngineError::new(
                Kind::Invalid,
                format!(
                    "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                ),
            ));
        }
        let c = self.store.get(key)?;
        if c.name.trim_start_matches('/') == new_name {
            return Err(conflict(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        let renamed = self.store.rename(&c.id, new_name).map_err(|e| {
            let e: EngineError = e.into();
            if e.kind == Kind::Conflict {
                conflict(format!("Error when allocating new name: {}", e.message))
            } else {
                e
            }
        })?;
        self.emit(&renamed, "rename", &[("oldName", c.name.clone())]);
        self.notify();
        Ok(())
    }

    /// Docker's `top`: `ps` output for the processes in the container's cgroup.
    pub fn top(&self, key: &str, ps_args: &str) -> Result<(Vec<String>, Vec<Vec<String>>)> {
        let c = self.running_container(key)?;
        let pids = self.container_pids(&c).map_err(internal)?;
        let args: Vec<&str> = if ps_args.trim().is_empty() {
            vec!["-ef"]
        } else {
            ps_args.split_whitespace().collect()
        };
        let out = Command::new("ps")
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| internal(format!("ps: {e}")))?;
        if !out.status.success() {
            return Err(internal(format!(
                "Error running ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
    }

    /// Docker's stats object for one reading; `pre` is the previous reading (or None).
    pub fn stats(&self, key: &str) -> Result<(Container, Option<StatsSample>)> {
        let c = self.store.get(key)?;
        if !c.state.running() {
            return Ok((c, None));
        }
        let s = match self.container_stats(&c) {
            Ok(s) => s,
            Err(_) => return Ok((c, None)),
        };
        Ok((
            c,
            Some(StatsSample {
                read: runtime::util::rfc3339_now(),
                stats: s,
                system_cpu: system_cpu_usage(),
            }),
        ))
    }

    // ---- exec ----

    pub fn exec_create(&self, key: &str, body: &serde_json::Value) -> Result<String> {
        let c = self.running_container(key)?;
        if c.state.status == Status::Paused {
            return Err(conflict(format!(
                "Container {} is paused, unpause the container before exec",
                c.id
            )));
        }
        let cmd = strings(&body["Cmd"]);
        if cmd.is_empty() {
            return Err(EngineError::new(Kind::Invalid, "No exec command specified"));
        }
        let id = names::new_id();
        let dir = self.exec_dir(&c.id).join("execs");
        let rec = ExecRecord {
            id: id.clone(),
            container_id: c.id.clone(),
            cmd,
            env: strings(&body["Env"]),
            working_dir: body["WorkingDir"].as_str().unwrap_or_default().to_string(),
            user: body["User"].as_str().unwrap_or_default().to_string(),
            tty: body["Tty"].as_bool().unwrap_or(false),
            privileged: body["Privileged"].as_bool().unwrap_or(false),
            attach_stdin: body["AttachStdin"].as_bool().unwrap_or(false),
            attach_stdout: body["AttachStdout"].as_bool().unwrap_or(false),
            attach_stderr: body["AttachStderr"].as_bool().unwrap_or(false),
            detach_keys: body["DetachKeys"].as_str().unwrap_or_default().to_string(),
            running: false,
            started: false,
            exit_code: None,
            pid: 0,
            pid_file: dir.join(format!("{id}.pid")),
            console_size: body["ConsoleSize"].as_array().and_then(|a| {
                let h = a.first()?.as_u64()? as u16;
                let w = a.get(1)?.as_u64()? as u16;
                (h > 0 && w > 0).then_some((h, w))
            }),
            console: None,
        };
        self.execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), rec);
        Ok(id)
    }

    pub fn exec_get(&self, id: &str) -> Result<ExecRecord> {
        self.execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| EngineError::new(Kind::NotFound, format!("No such exec instance: {id}")))
    }

    /// The command that runs the exec instance: `tug runtime exec --process …` with the
    /// process built from the container's own process and the exec's overrides. Its stdio is
    /// the caller's to set. Marks the instance started (a second start is a conflict).
    /// With a tty, the listening console socket comes too: hand it to `exec_console` once the
    /// command is spawned to receive the pty master.
    pub fn exec_command(
        &self,
        id: &str,
        tty: Option<bool>,
    ) -> Result<(ExecRecord, Command, Option<UnixListener>)> {
        let rec = self.exec_get(id)?;
        if rec.started {
            return Err(conflict(format!(
                "Error: Exec command {id} has already run"
            )));
        }
        let c = self.running_container(&rec.container_id)?;
        if c.state.status == Status::Paused {
            return Err(conflict(format!(
                "Container {} is paused, unpause the container before exec",
                c.id
            )));
        }
        let tty = tty.unwrap_or(rec.tty);
        let bundle = self.exec_dir(&c.id).join("bundle").join("config.json");
        let spec: serde_json::Value = std::fs::read(&bundle)
            .map_err(internal)
            .and_then(|d| serde_json::from_slice(&d).map_err(internal))?;
        let mut p = spec["process"].clone();
        p["args"] = serde_json::json!(rec.cmd);
        p["terminal"] = serde_json::json!(tty);
        if let Some((h, w)) = rec.console_size {
            p["consoleSize"] = serde_json::json!({"height": h, "width": w});
        }
        let mut env = strings(&p["env"]);
        for e in &rec.env {
            let key = e.split('=').next().unwrap_or_default();
            env.retain(|x| x.split('=').next() != Some(key));
            env.push(e.clone());
        }
        if !rec.working_dir.is_empty() {
            p["cwd"] = serde_json::json!(rec.working_dir);
        }
        if !rec.user.is_empty() {
            let rootfs = self.rootfs_dir(&c.id).join("merged");
            let u = crate::spec::user::resolve(&rootfs, &rec.user, &[])
                .map_err(|e| EngineError::new(Kind::Invalid, e.to_string()))?;
            p["user"] = serde_json::json!({
                "uid": u.uid, "gid": u.gid, "additionalGids": u.additional_gids,
            });
            env.retain(|x| !x.starts_with("HOME="));
            env.push(format!("HOME={}", u.home));
        }
        p["env"] = serde_json::json!(env);
        if rec.privileged {
            // Keep the container's capability sets: privileged exec is not supported beyond that.
        }
        let dir = self.exec_dir(&c.id).join("execs");
        std::fs::create_dir_all(&dir).map_err(internal)?;
        let file = dir.join(format!("{id}.json"));
        std::fs::write(&file, serde_json::to_vec(&p).map_err(internal)?).map_err(internal)?;
        let mut cmd = self.runtime_cli(self.external_of(&c).as_ref());
        cmd.arg("exec")
            .arg("--process")
            .arg(&file)
            .arg("--pid-file")
            .arg(&rec.pid_file);
        let mut listener = None;
        if tty {
            // Short: socket paths are limited to 108 bytes.
            let sock = self.roots.exec.join(format!("exec-{}.sock", &id[..12]));
            let _ = std::fs::remove_file(&sock);
            let l = UnixListener::bind(&sock).map_err(internal)?;
            l.set_nonblocking(true).map_err(internal)?;
            listener = Some(l);
            cmd.arg("--tty").arg("--console-socket").arg(&sock);
        }
        cmd.arg(&c.id);
        let mut execs = self.execs.lock().unwrap_or_else(|p| p.into_inner());
        let r = execs.get_mut(id).ok_or_else(|| {
            EngineError::new(Kind::NotFound, format!("No such exec instance: {id}"))
        })?;
        if r.started {
            return Err(conflict(format!(
                "Error: Exec command {id} has already run"
            )));
        }
        r.started = true;
        r.running = true;
        r.tty = tty;
        Ok((r.clone(), cmd, listener))
    }

    /// Receive the pty master of a tty exec over its console socket (within 30 s, or until
    /// `alive` says the runner is gone); kept for resize.
    pub fn exec_console(
        &self,
        id: &str,
        listener: UnixListener,
        alive: impl Fn() -> bool,
    ) -> Result<Arc<OwnedFd>> {
        let path = listener
            .local_addr()
            .ok()
            .and_then(|a| a.as_pathname().map(PathBuf::from));
        let deadline = Instant::now() + Duration::from_secs(30);
        let got = loop {
            match listener.accept() {
                Ok((s, _)) => {
                    let _ = s.set_nonblocking(false);
                    break runtime::tty::recv_master(&OwnedFd::from(s)).map_err(internal);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if !alive() || Instant::now() > deadline {
                        break Err(internal("exec: the process did not get a terminal"));
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => break Err(internal(e)),
            }
        };
        if let Some(p) = path {
            let _ = std::fs::remove_file(p);
        }
        let master = Arc::new(got?);
        if let Some(r) = self
            .execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(id)
        {
            r.console = Some(master.clone());
        }
        Ok(master)
    }

    /// Resize a tty exec's terminal; a no-op without one.
    pub fn exec_resize(&self, id: &str, height: u16, width: u16) -> Result<()> {
        let r = self.exec_get(id)?;
        if let Some(m) = &r.console {
            runtime::tty::set_size(m.as_raw_fd(), height, width);
        }
        Ok(())
    }

    /// Ids of the container's exec instances that run now (inspect's `ExecIDs`).
    pub fn exec_ids(&self, container_id: &str) -> Vec<String> {
        let execs = self.execs.lock().unwrap_or_else(|p| p.into_inner());
        let mut ids: Vec<String> = execs
            .values()
            .filter(|r| r.container_id == container_id && r.running)
            .map(|r| r.id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Forget a removed container's exec instances.
    pub(crate) fn forget_execs(&self, container_id: &str) {
        self.execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, r| r.container_id != container_id);
    }

    /// Record the runner's pid once it is spawned.
    pub fn exec_spawned(&self, id: &str, pid: i32) {
        if let Some(r) = self
            .execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(id)
        {
            r.pid = pid;
        }
    }

    /// Record an exec instance's end.
    pub fn exec_finished(&self, id: &str, code: i32) {
        let mut execs = self.execs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = execs.get_mut(id) {
            r.running = false;
            r.exit_code = Some(code);
            r.console = None;
            let _ = std::fs::remove_file(&r.pid_file);
            let _ = std::fs::remove_file(r.pid_file.with_extension("json"));
        }
    }
}

/// The HostConfig fields `POST /containers/{id}/update` may change.
const UPDATABLE: [&str; 14] = [
    "BlkioWeight",
    "CpuPeriod",
    "CpuQuota",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
    "CpuShares",
    "NanoCpus",
    "CpusetCpus",
    "CpusetMems",
    "Memory",
    "MemoryReservation",
    "MemorySwap",
    "PidsLimit",
    "RestartPolicy",
];

/// Docker's update leaves a field alone when the request has its zero value.
fn is_unset(key: &str, v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => true,
        serde_json::Value::Number(n) => key != "PidsLimit" && n.as_f64() == Some(0.0),
        serde_json::Value::String(s) => s.is_empty(),
        serde_json::Value::Object(o) => o
            .get("Name")
            .and_then(|n| n.as_str())
            .is_none_or(str::is_empty),
        _ => false,
    }
}

impl Engine {
    /// Resize a container's terminal (a no-op without one).
    pub fn resize(&self, key: &str, height: u16, width: u16) -> Result<()> {
        let c = self.running_container(key)?;
        if !c.tty() || height == 0 || width == 0 {
            return Ok(());
        }
        self.shim(&c.id)
            .resize(height, width)
            .map_err(|e| internal(format!("Cannot resize container {}: {e}", c.id)))
    }

    /// Docker's `update`: new resource limits (and restart policy) recorded in the container's
    /// HostConfig and, on a running container, applied to its cgroup through the runtime.
    /// Returns the warnings.
    pub fn update(&self, key: &str, body: &serde_json::Value) -> Result<Vec<String>> {
        let c = self.store.get(key)?;
        let mut hc = c.host_config.clone();
        if !hc.is_object() {
            hc = serde_json::json!({});
        }
        for k in UPDATABLE {
            if let Some(v) = body.get(k).filter(|v| !is_unset(k, v)) {
                hc[k] = v.clone();
            }
        }
        let old = &c.host_config;
        let new_memory = body.get("Memory").and_then(|v| v.as_i64()).unwrap_or(0);
        let new_swap = body.get("MemorySwap").and_then(|v| v.as_i64()).unwrap_or(0);
        let old_swap = old["MemorySwap"].as_i64().unwrap_or(0);
        if new_memory > 0 && new_swap == 0 && old_swap > 0 && new_memory > old_swap {
            return Err(EngineError::new(
                Kind::Invalid,
                "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time",
            ));
        }
        if body
            .get("RestartPolicy")
            .is_some_and(|v| !is_unset("RestartPolicy", v))
            && old["AutoRemove"].as_bool() == Some(true)
            && hc["RestartPolicy"]["Name"]
                .as_str()
                .is_some_and(|n| n != "no")
        {
            return Err(EngineError::new(
                Kind::Invalid,
                "Restart policy cannot be updated because AutoRemove is enabled for the container",
            ));
        }
        let typed: crate::spec::HostConfig = serde_json::from_value(hc.clone())
            .map_err(|e| EngineError::new(Kind::Invalid, format!("invalid update: {e}")))?;
        let invalid = |e: crate::spec::SpecError| EngineError::new(Kind::Invalid, e.to_string());
        let memory = crate::spec::resources::memory(&typed).map_err(invalid)?;
        let cpu = crate::spec::resources::cpu(&crate::spec::RealHost, &typed).map_err(invalid)?;
        let pids = crate::spec::resources::pids(&typed);
        if c.state.running() {
            let mut r = serde_json::json!({});
            if let Some(m) = memory {
                r["memory"] = serde_json::to_value(m).map_err(internal)?;
            }
            if let Some(cpu) = cpu {
                r["cpu"] = serde_json::to_value(cpu).map_err(internal)?;
            }
            if let Some(p) = pids {
                r["pids"] = serde_json::to_value(p).map_err(internal)?;
            }
            if typed.blkio_weight > 0 {
                r["blockIO"] = serde_json::json!({"weight": typed.blkio_weight});
            }
            self.runtime_update(&c.id, &r)?;
        }
        self.store.update(&c.id, |c| c.host_config = hc.clone())?;
        self.notify();
        Ok(Vec::new())
    }

    /// `tug runtime update --resources - ID` with `resources` (OCI LinuxResources JSON).
    fn runtime_update(&self, id: &str, resources: &serde_json::Value) -> Result<()> {
        use std::io::Write;
        let mut child = Command::new(&self.exe)
            .arg("runtime")
            .arg("--root")
            .arg(self.runtime_root())
            .arg("update")
            .arg("--resources")
            .arg("-")
            .arg(id)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| internal(format!("Cannot update container {id}: {e}")))?;
        if let Some(mut i) = child.stdin.take() {
            let _ = i.write_all(resources.to_string().as_bytes());
        }
        let out = child
            .wait_with_output()
            .map_err(|e| internal(format!("Cannot update container {id}: {e}")))?;
        if !out.status.success() {
            return Err(internal(format!(
                "Cannot update container {id}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }
}

/// One stats reading.
#[derive(Debug, Clone)]
pub struct StatsSample {
    pub read: String,
    pub stats: runtime::cgroups::Stats,
    pub system_cpu: u64,
}

/// Host CPU time in nanoseconds, from the `cpu` line of /proc/stat (as Docker computes it).
pub fn system_cpu_usage() -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return 0;
    };
    // SAFETY: sysconf has no preconditions.
    let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let ticks: u64 = line
        .split_whitespace()
        .skip(1)
        .take(7)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    ticks * (1_000_000_000 / tck)
}

pub fn online_cpus() -> u64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as u64
}

/// Total host memory in bytes (Docker's memory limit when none is set).
pub fn host_memory() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Split `ps` output into titles and the rows whose PID is one of `pids`.
pub fn parse_ps(out: &str, pids: &[i32]) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let mut lines = out.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    let pid_col = titles.iter().position(|t| t == "PID").ok_or_else(|| {
        EngineError::new(
            Kind::Invalid,
            "Couldn't find PID field in ps output".to_string(),
        )
    })?;
    let n = titles.len();
    let mut procs = Vec::new();
    for l in lines.filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = l.split_whitespace().collect();
        if fields.len() < n {
            continue;
        }
        let Ok(pid) = fields[pid_col].parse::<i32>() else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        let mut row: Vec<String> = fields[..n - 1].iter().map(|s| s.to_string()).collect();
        row.push(fields[n - 1..].join(" "));
        procs.push(row);
    }
    Ok((titles, procs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_rows_filtered_by_pid_and_command_kept_whole() {
        let out = "UID PID PPID C STIME TTY TIME CMD\n\
                   root 1 0 0 10:00 ? 00:00:01 /sbin/init splash\n\
                   root 42 1 0 10:01 ? 00:00:00 sleep 1000\n";
        let (t, p) = parse_ps(out, &[42]).unwrap();
        assert_eq!(t.len(), 8);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0][1], "42");
        assert_eq!(p[0][7], "sleep 1000");
        assert!(parse_ps("A B\n1 2\n", &[1]).is_err());
    }

    #[test]
    fn system_cpu_is_positive() {
        assert!(system_cpu_usage() > 0);
        assert!(online_cpus() >= 1);
        assert!(host_memory() > 0);
    }
}
