//! Restart policies as Docker has them (`no`, `on-failure[:N]`, `always`, `unless-stopped`),
//! with Docker's back-off between restarts: 100 ms doubling up to a minute, back to the
//! start once a container ran for 10 s.

use std::time::Duration;

const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run at least this long resets the back-off.
const RESET_AFTER: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    No,
    Always,
    UnlessStopped,
    /// At most this many restarts (0: no limit).
    OnFailure(u32),
}

impl Policy {
    /// From `HostConfig.RestartPolicy` (`{"Name": …, "MaximumRetryCount": …}`), refusing what
    /// Docker refuses.
    pub fn from_host_config(hc: &serde_json::Value) -> Result<Policy, String> {
        let p = &hc["RestartPolicy"];
        let name = p["Name"].as_str().unwrap_or("");
        let max = p["MaximumRetryCount"].as_i64().unwrap_or(0);
        let policy = match name {
            "" | "no" => Policy::No,
            "always" => Policy::Always,
            "unless-stopped" => Policy::UnlessStopped,
            "on-failure" => {
                if max < 0 {
                    return Err(
                        "invalid restart policy: maximum retry count cannot be negative".into(),
                    );
                }
                Policy::OnFailure(max as u32)
            }
            other => {
                return Err(format!(
                    "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
                ))
            }
        };
        if max != 0 && !matches!(policy, Policy::OnFailure(_)) {
            return Err(format!(
                "invalid restart policy: maximum retry count can only be used with 'on-failure'{}",
                if max < 0 {
                    " and cannot be negative"
                } else {
                    ""
                }
            ));
        }
        if policy != Policy::No && hc["AutoRemove"].as_bool().unwrap_or(false) {
            return Err("can't create 'AutoRemove' container with restart policy".into());
        }
        Ok(policy)
    }

    /// Whether a container that just exited with `exit_code` is started again.
    /// `manually_stopped`: a user stopped it (`docker stop`/`kill` never restarts; Docker
    /// cancels the policy for that run). `restarts`: how often the policy restarted it.
    pub fn restart_after_exit(self, exit_code: i32, manually_stopped: bool, restarts: u32) -> bool {
        if manually_stopped {
            return false;
        }
        match self {
            Policy::No => false,
            Policy::Always | Policy::UnlessStopped => true,
            Policy::OnFailure(max) => exit_code != 0 && (max == 0 || restarts < max),
        }
    }

    /// Whether the daemon starts a stopped container when it starts itself: `always` even
    /// after a manual stop, `unless-stopped` only if nobody stopped it.
    pub fn restart_on_daemon_start(
        self,
        exit_code: i32,
        manually_stopped: bool,
        restarts: u32,
    ) -> bool {
        match self {
            Policy::Always => true,
            Policy::UnlessStopped => !manually_stopped,
            Policy::OnFailure(_) => self.restart_after_exit(exit_code, manually_stopped, restarts),
            Policy::No => false,
        }
    }
}

/// The delay before the next restart, given the previous one (None: first restart) and how
/// long the container ran this time.
pub fn next_delay(previous: Option<Duration>, ran: Duration) -> Duration {
    match previous {
        Some(d) if ran < RESET_AFTER => (d * 2).min(MAX_DELAY),
        _ => FIRST_DELAY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(name: &str, max: i64) -> Result<Policy, String> {
        Policy::from_host_config(
            &json!({"RestartPolicy": {"Name": name, "MaximumRetryCount": max}}),
        )
    }

    #[test]
    fn policies_parse_and_refuse_as_docker() {
        assert_eq!(p("", 0), Ok(Policy::No));
        assert_eq!(p("no", 0), Ok(Policy::No));
        assert_eq!(p("always", 0), Ok(Policy::Always));
        assert_eq!(p("unless-stopped", 0), Ok(Policy::UnlessStopped));
        assert_eq!(p("on-failure", 3), Ok(Policy::OnFailure(3)));
        assert!(p("sometimes", 0)
            .unwrap_err()
            .contains("unknown policy 'sometimes'"));
        assert!(p("always", 2)
            .unwrap_err()
            .contains("only be used with 'on-failure'"));
        assert!(p("on-failure", -1)
            .unwrap_err()
            .contains("cannot be negative"));
        let auto = json!({"AutoRemove": true, "RestartPolicy": {"Name": "always"}});
        assert!(Policy::from_host_config(&auto)
            .unwrap_err()
            .contains("AutoRemove"));
        assert_eq!(Policy::from_host_config(&json!({})), Ok(Policy::No));
    }

    #[test]
    fn who_restarts() {
        assert!(!Policy::No.restart_after_exit(1, false, 0));
        assert!(Policy::Always.restart_after_exit(0, false, 100));
        assert!(!Policy::Always.restart_after_exit(0, true, 0));
        assert!(Policy::OnFailure(2).restart_after_exit(1, false, 1));
        assert!(!Policy::OnFailure(2).restart_after_exit(1, false, 2));
        assert!(!Policy::OnFailure(0).restart_after_exit(0, false, 0));
        assert!(Policy::OnFailure(0).restart_after_exit(7, false, 99));
        assert!(Policy::Always.restart_on_daemon_start(0, true, 0));
        assert!(!Policy::UnlessStopped.restart_on_daemon_start(0, true, 0));
        assert!(Policy::UnlessStopped.restart_on_daemon_start(0, false, 0));
    }

    #[test]
    fn back_off_doubles_to_a_minute_and_resets_after_a_long_run() {
        let short = Duration::from_secs(1);
        let mut d = next_delay(None, short);
        assert_eq!(d, Duration::from_millis(100));
        d = next_delay(Some(d), short);
        assert_eq!(d, Duration::from_millis(200));
        for _ in 0..20 {
            d = next_delay(Some(d), short);
        }
        assert_eq!(d, Duration::from_secs(60));
        assert_eq!(
            next_delay(Some(d), Duration::from_secs(11)),
            Duration::from_millis(100)
        );
    }
}
