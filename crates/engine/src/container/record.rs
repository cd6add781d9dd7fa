//! What the engine records about one container, and the Docker JSON shapes built from it.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Docker's zero time, printed for "never".
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    pub pid: i32,
    pub exit_code: i32,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    pub oom_killed: bool,
    /// With a health check: its status and last probes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::health::Health>,
}

impl Default for State {
    fn default() -> Self {
        State {
            status: Status::Created,
            pid: 0,
            exit_code: 0,
            error: String::new(),
            started_at: ZERO_TIME.into(),
            finished_at: ZERO_TIME.into(),
            oom_killed: false,
            health: None,
        }
    }
}

impl State {
    pub fn running(&self) -> bool {
        matches!(
            self.status,
            Status::Running | Status::Paused | Status::Restarting
        )
    }

    /// Docker's `State` object.
    pub fn to_docker(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "Status": self.status.as_str(),
            "Running": self.running(),
            "Paused": self.status == Status::Paused,
            "Restarting": self.status == Status::Restarting,
            "OOMKilled": self.oom_killed,
            "Dead": self.status == Status::Dead,
            "Pid": self.pid,
            "ExitCode": self.exit_code,
            "Error": self.error,
            "StartedAt": self.started_at,
            "FinishedAt": self.finished_at,
        });
        if let Some(h) = &self.health {
            v["Health"] = serde_json::to_value(h).unwrap_or_default();
        }
        v
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    /// With the leading '/', as Docker stores it.
    pub name: String,
    pub created: String,
    /// The image ID ("sha256:…").
    pub image: String,
    /// The image as the user named it.
    pub image_name: String,
    pub path: String,
    pub args: Vec<String>,
    /// The merged container config (Docker's `Config` JSON).
    pub config: serde_json::Value,
    /// Docker's `HostConfig` JSON as given.
    pub host_config: serde_json::Value,
    pub state: State,
    pub restart_count: u32,
    pub log_path: PathBuf,
    /// Stopped by a user (restart policies other than `always` then leave it alone).
    pub manually_stopped: bool,
    /// Binds and volumes, resolved at create (Docker's `MountPoints`).
    #[serde(default)]
    pub mounts: Vec<crate::volume::parse::MountPoint>,
}

impl Container {
    pub fn tty(&self) -> bool {
        self.config["Tty"].as_bool().unwrap_or(false)
    }

    /// The command line as `docker ps` shows it.
    pub fn command(&self) -> String {
        std::iter::once(self.path.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }
}
