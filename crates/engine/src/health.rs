//! Health checks as Docker runs them: the image's or container's `Healthcheck` command is
//! executed inside the running container every interval; its exit code makes the container
//! `healthy` or, after `Retries` failures in a row, `unhealthy`. The state (with the last
//! five probes) shows in inspect, `docker ps` and events.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Docker's defaults for fields left at zero.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: u32 = 3;
/// Probes kept in `State.Health.Log`.
const LOG_ENTRIES: usize = 5;
/// Output kept per probe.
pub const MAX_OUTPUT: usize = 4096;

pub const STARTING: &str = "starting";
pub const HEALTHY: &str = "healthy";
pub const UNHEALTHY: &str = "unhealthy";

/// A container's health check, from `Config.Healthcheck` (durations in nanoseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The command: `["CMD", args…]` runs args; `["CMD-SHELL", line]` runs `/bin/sh -c line`.
    pub argv: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    pub retries: u32,
}

impl Check {
    /// The check to run, or None when there is none (no `Healthcheck`, `["NONE"]`).
    pub fn from_config(config: &serde_json::Value) -> Result<Option<Check>, String> {
        let h = &config["Healthcheck"];
        let test: Vec<String> = h["Test"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let argv = match test.first().map(String::as_str) {
            None | Some("NONE") => return Ok(None),
            Some("CMD") => test[1..].to_vec(),
            Some("CMD-SHELL") => {
                let shell: Vec<String> = config["Shell"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(String::from))
                            .collect()
                    })
                    .filter(|s: &Vec<String>| !s.is_empty())
                    .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
                shell.into_iter().chain([test[1..].join(" ")]).collect()
            }
            Some(other) => return Err(format!("unknown Healthcheck type {other:?}")),
        };
        if argv.is_empty() {
            return Ok(None);
        }
        let dur = |key: &str, default: Duration| -> Result<Duration, String> {
            match h[key].as_i64().unwrap_or(0) {
                0 => Ok(default),
                n if n < 0 => Err(format!("{key} in Healthcheck cannot be negative")),
                n if n < 1_000_000 && key != "StartPeriod" => {
                    Err(format!("{key} in Healthcheck cannot be less than 1ms"))
                }
                n => Ok(Duration::from_nanos(n as u64)),
            }
        };
        let retries = match h["Retries"].as_i64().unwrap_or(0) {
            0 => DEFAULT_RETRIES,
            n if n < 0 => return Err("Retries in Healthcheck cannot be negative".into()),
            n => n as u32,
        };
        Ok(Some(Check {
            argv,
            interval: dur("Interval", DEFAULT_INTERVAL)?,
            timeout: dur("Timeout", DEFAULT_TIMEOUT)?,
            start_period: dur("StartPeriod", Duration::ZERO)?,
            start_interval: dur("StartInterval", DEFAULT_START_INTERVAL)?,
            retries,
        }))
    }

    /// The wait before the next probe: the start interval while in the start period (when
    /// one is set), else the interval.
    pub fn next_wait(&self, since_start: Duration) -> Duration {
        if !self.start_period.is_zero() && since_start < self.start_period {
            self.start_interval.min(self.interval)
        } else {
            self.interval
        }
    }
}

/// One probe's result, as in `State.Health.Log`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Probe {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

/// `State.Health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    pub status: String,
    pub failing_streak: u32,
    pub log: Vec<Probe>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            status: STARTING.into(),
            failing_streak: 0,
            log: Vec::new(),
        }
    }
}

impl Health {
    /// Record a probe; true when the status changed. Failures during the start period do
    /// not count, unless the container was already healthy once.
    pub fn record(&mut self, probe: Probe, check: &Check, in_start_period: bool) -> bool {
        let before = self.status.clone();
        if probe.exit_code == 0 {
            self.failing_streak = 0;
            self.status = HEALTHY.into();
        } else if !(in_start_period && self.status == STARTING) {
            self.failing_streak += 1;
            if self.failing_streak >= check.retries {
                self.status = UNHEALTHY.into();
            }
        }
        self.log.push(probe);
        if self.log.len() > LOG_ENTRIES {
            self.log.remove(0);
        }
        self.status != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(retries: u32) -> Check {
        Check::from_config(&json!({"Healthcheck": {"Test": ["CMD", "true"], "Retries": retries}}))
            .unwrap()
            .unwrap()
    }

    fn probe(code: i32) -> Probe {
        Probe {
            start: "s".into(),
            end: "e".into(),
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn checks_parse_with_docker_s_defaults() {
        let c = Check::from_config(&json!({"Healthcheck": {"Test": ["CMD-SHELL", "test -f /ok"]}}))
            .unwrap()
            .unwrap();
        assert_eq!(c.argv, ["/bin/sh", "-c", "test -f /ok"]);
        assert_eq!(c.interval, Duration::from_secs(30));
        assert_eq!(c.retries, 3);
        let c = Check::from_config(&json!({
            "Shell": ["/bin/ash", "-e", "-c"],
            "Healthcheck": {"Test": ["CMD-SHELL", "x"], "Interval": 1_000_000_000i64, "Retries": 1}
        }))
        .unwrap()
        .unwrap();
        assert_eq!(c.argv, ["/bin/ash", "-e", "-c", "x"]);
        assert_eq!(c.interval, Duration::from_secs(1));
        assert_eq!(Check::from_config(&json!({})).unwrap(), None);
        assert_eq!(
            Check::from_config(&json!({"Healthcheck": {"Test": ["NONE"]}})).unwrap(),
            None
        );
        assert!(Check::from_config(&json!({"Healthcheck": {"Test": ["BOGUS"]}})).is_err());
        assert!(Check::from_config(
            &json!({"Healthcheck": {"Test": ["CMD", "x"], "Interval": 10}})
        )
        .unwrap_err()
        .contains("less than 1ms"));
    }

    #[test]
    fn status_follows_the_failing_streak() {
        let c = check(2);
        let mut h = Health::default();
        assert!(!h.record(probe(1), &c, false));
        assert_eq!(h.status, STARTING);
        assert!(h.record(probe(1), &c, false));
        assert_eq!(h.status, UNHEALTHY);
        assert!(h.record(probe(0), &c, false));
        assert_eq!((h.status.as_str(), h.failing_streak), (HEALTHY, 0));
        for _ in 0..10 {
            h.record(probe(0), &c, false);
        }
        assert_eq!(h.log.len(), 5);
    }

    #[test]
    fn start_period_failures_do_not_count() {
        let c = check(1);
        let mut h = Health::default();
        assert!(!h.record(probe(1), &c, true));
        assert_eq!((h.status.as_str(), h.failing_streak), (STARTING, 0));
        assert!(h.record(probe(1), &c, false));
        assert_eq!(h.status, UNHEALTHY);
    }
}

use crate::container::Status;
use crate::engine::Engine;
use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

impl Engine {
    /// Start probing a container that just started (or was found running after a daemon
    /// restart): its health starts as `starting`. The monitor ends when this run ends.
    pub(crate) fn monitor_health(self: &Arc<Self>, id: &str, fresh: bool) {
        let Ok(c) = self.store.get(id) else { return };
        let Ok(Some(check)) = Check::from_config(&c.config) else {
            return;
        };
        let run = c.state.started_at.clone();
        if fresh || c.state.health.is_none() {
            let _ = self.store.update(&c.id, |c| {
                c.state.health = Some(Health::default());
            });
        }
        let me = self.clone();
        let id = c.id.clone();
        std::thread::spawn(move || {
            let t0 = Instant::now();
            loop {
                std::thread::sleep(check.next_wait(t0.elapsed()));
                let Ok(c) = me.store.get(&id) else { return };
                if c.state.started_at != run
                    || !matches!(c.state.status, Status::Running | Status::Paused)
                {
                    return;
                }
                if c.state.status == Status::Paused {
                    continue;
                }
                let probe = me.probe(&c.id, &check);
                let in_start = t0.elapsed() < check.start_period;
                let mut changed = None;
                let _ = me.store.update(&id, |c| {
                    if c.state.started_at == run && c.state.running() {
                        let h = c.state.health.get_or_insert_with(Health::default);
                        if h.record(probe, &check, in_start) {
                            changed = Some(h.status.clone());
                        }
                    }
                });
                if let Some(status) = changed {
                    if let Ok(c) = me.store.get(&id) {
                        me.emit(&c, &format!("health_status: {status}"), &[]);
                    }
                    me.notify();
                }
            }
        });
    }

    /// Run the check once inside the container, as an exec; a probe that outlives the
    /// timeout is killed and fails.
    fn probe(&self, id: &str, check: &Check) -> Probe {
        let start = runtime::util::rfc3339_now();
        let fail = |msg: String| Probe {
            start: start.clone(),
            end: runtime::util::rfc3339_now(),
            exit_code: -1,
            output: msg,
        };
        let body =
            serde_json::json!({"Cmd": check.argv, "AttachStdout": true, "AttachStderr": true});
        let exec_id = match self.exec_create(id, &body) {
            Ok(e) => e,
            Err(e) => return fail(e.to_string()),
        };
        let result = self.run_probe(&exec_id, check);
        self.execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&exec_id);
        match result {
            Ok((code, output)) => Probe {
                start,
                end: runtime::util::rfc3339_now(),
                exit_code: code,
                output,
            },
            Err(msg) => fail(msg),
        }
    }

    fn run_probe(&self, exec_id: &str, check: &Check) -> Result<(i32, String), String> {
        let (rec, mut cmd, _) = self
            .exec_command(exec_id, Some(false))
            .map_err(|e| e.to_string())?;
        // One pipe for both streams, as the probe's output is shown merged.
        let (reader, writer) = std::io::pipe().map_err(|e| e.to_string())?;
        let writer2 = writer.try_clone().map_err(|e| e.to_string())?;
        cmd.stdin(std::process::Stdio::null())
            .stdout(writer)
            .stderr(writer2);
        let mut child = cmd.spawn().map_err(|e| e.to_string())?;
        drop(cmd);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = reader.take(MAX_OUTPUT as u64).read_to_end(&mut buf);
            let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
        });
        let deadline = Instant::now() + check.timeout;
        let code = loop {
            match child.try_wait() {
                Ok(Some(st)) => break st.code().unwrap_or(-1),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    // The probe in the container first, then the runtime's exec process.
                    if let Some(pid) = std::fs::read_to_string(&rec.pid_file)
                        .ok()
                        .and_then(|s| s.trim().parse::<i32>().ok())
                    {
                        // SAFETY: kill(2) with a pid the runtime recorded for this probe.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                    let _ = child.kill();
                    let _ = child.wait();
                    self.exec_finished(exec_id, -1);
                    let _ = std::fs::remove_file(&rec.pid_file);
                    return Err(format!(
                        "Health check exceeded timeout ({:?})",
                        check.timeout
                    ));
                }
            }
        };
        // A background process of the probe may keep the pipe open: don't wait for it long.
        let output = rx.recv_timeout(Duration::from_secs(1)).unwrap_or_default();
        self.exec_finished(exec_id, code);
        let _ = std::fs::remove_file(&rec.pid_file);
        Ok((code, output))
    }
}
