//! OCI hooks: run a hook binary with the container state on stdin, under its timeout.

use crate::error::{Error, Result};
use crate::state::OciState;
use oci_spec::runtime::Hook;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Run every hook of one kind in order; the first failure stops and is returned.
pub fn run_all(kind: &'static str, hooks: Option<&Vec<Hook>>, state: &OciState) -> Result<()> {
    let json = serde_json::to_vec(state).expect("state serializes");
    for (index, hook) in hooks.into_iter().flatten().enumerate() {
        run_one(hook, &json).map_err(|reason| Error::Hook {
            hook: kind,
            index,
            path: hook.path().display().to_string(),
            reason,
        })?;
    }
    Ok(())
}

fn run_one(hook: &Hook, state: &[u8]) -> std::result::Result<(), String> {
    let args = hook.args().clone().unwrap_or_default();
    let mut cmd = Command::new(hook.path());
    if let Some(argv0) = args.first() {
        std::os::unix::process::CommandExt::arg0(&mut cmd, argv0);
    }
    cmd.args(args.iter().skip(1)).env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("start: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine: ignore EPIPE.
        let _ = stdin.write_all(state);
    }
    let timeout = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Duration::from_secs(t as u64));
    let started = Instant::now();
    let status = loop {
        match child.try_wait().map_err(|e| format!("wait: {e}"))? {
            Some(s) => break s,
            None if timeout.is_some_and(|t| started.elapsed() >= t) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "timed out after {}s",
                    timeout.unwrap_or_default().as_secs()
                ));
            }
            None => std::thread::sleep(Duration::from_millis(2)),
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut out = String::new();
    let mut errs = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut errs);
    }
    Err(format!(
        "{status}, stdout: {}, stderr: {}",
        out.trim(),
        errs.trim()
    ))
}
