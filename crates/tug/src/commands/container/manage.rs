//! `stop`, `restart`, `kill`, `rm`, `wait`, `pause`, `unpause`, `rename` and `update`: one
//! request per container, each name printed on success, errors after (exit 1 if any).

use super::opts::{nano_cpus, ram_bytes, swap_bytes};
use super::{fatal, out, seg};
use crate::client::{enc, fail, Client, Fail, Result};
use clap::Args;
use serde_json::{json, Map, Value};

#[derive(Args)]
pub struct Names {
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

#[derive(Args)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short, long)]
    signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(short, long, visible_alias = "time", allow_hyphen_values = true)]
    timeout: Option<i64>,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

#[derive(Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long)]
    signal: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

#[derive(Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    force: bool,
    /// Remove the specified link
    #[arg(short, long)]
    link: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    volumes: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

#[derive(Args)]
pub struct RenameArgs {
    container: String,
    new_name: String,
}

#[derive(Args)]
pub struct UpdateArgs {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long)]
    blkio_weight: Option<u16>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long)]
    cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long, allow_hyphen_values = true)]
    cpu_quota: Option<i64>,
    /// Limit the CPU real-time period in microseconds
    #[arg(long)]
    cpu_rt_period: Option<i64>,
    /// Limit the CPU real-time runtime in microseconds
    #[arg(long)]
    cpu_rt_runtime: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long)]
    cpu_shares: Option<i64>,
    /// Number of CPUs
    #[arg(long)]
    cpus: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long)]
    cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long)]
    cpuset_mems: Option<String>,
    /// Memory limit
    #[arg(short, long)]
    memory: Option<String>,
    /// Memory soft limit
    #[arg(long)]
    memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long, allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    restart: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// Apply `f` to each container; print the name on success, the error otherwise.
fn for_each(names: &[String], f: impl Fn(&str) -> Result<()>) -> Result<i32> {
    let mut failed = false;
    for n in names {
        match f(n) {
            Ok(()) => out(&format!("{n}\n"))?,
            Err(e) if fatal(&e) => return Err(e),
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

/// `stop` and `restart`.
pub fn stop(c: &Client, a: StopArgs, verb: &str) -> Result<i32> {
    let mut q = Vec::new();
    if let Some(t) = a.timeout {
        q.push(format!("t={t}"));
    }
    if let Some(s) = &a.signal {
        q.push(format!("signal={}", enc(s)));
    }
    let q = if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    };
    for_each(&a.containers, |n| {
        c.post(&format!("/containers/{}/{verb}{q}", seg(n)))
    })
}

pub fn kill(c: &Client, a: KillArgs) -> Result<i32> {
    let q = a
        .signal
        .as_ref()
        .map(|s| format!("?signal={}", enc(s)))
        .unwrap_or_default();
    for_each(&a.containers, |n| {
        c.post(&format!("/containers/{}/kill{q}", seg(n)))
    })
}

pub fn rm(c: &Client, a: RmArgs) -> Result<i32> {
    let mut q = Vec::new();
    if a.force {
        q.push("force=1");
    }
    if a.volumes {
        q.push("v=1");
    }
    if a.link {
        q.push("link=1");
    }
    let q = if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    };
    for_each(&a.containers, |n| {
        let n = n.trim_start_matches('/');
        let mut r = c.request("DELETE", &format!("/containers/{}{q}", seg(n)), None)?;
        let _ = std::io::copy(&mut r, &mut std::io::sink());
        Ok(())
    })
}

/// `pause` and `unpause`.
pub fn each(c: &Client, a: Names, verb: &str) -> Result<i32> {
    for_each(&a.containers, |n| {
        c.post(&format!("/containers/{}/{verb}", seg(n)))
    })
}

pub fn wait(c: &Client, a: Names) -> Result<i32> {
    let mut failed = false;
    for n in &a.containers {
        let r = c
            .request("POST", &format!("/containers/{}/wait", seg(n)), None)
            .and_then(|r| r.json());
        match r {
            Ok(v) => out(&format!("{}\n", v["StatusCode"].as_i64().unwrap_or(0)))?,
            Err(e) if fatal(&e) => return Err(e),
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

pub fn rename(c: &Client, a: RenameArgs) -> Result<i32> {
    let new = a.new_name.trim();
    if a.container.trim().is_empty() || new.is_empty() {
        return fail("Error: Neither old nor new names may be empty");
    }
    match c.post(&format!(
        "/containers/{}/rename?name={}",
        seg(&a.container),
        enc(new)
    )) {
        Ok(()) => Ok(0),
        Err(e) if fatal(&e) => Err(e),
        Err(e) => {
            eprintln!("{e}");
            fail(format!(
                "Error: failed to rename container named {}",
                a.container
            ))
        }
    }
}

/// The `POST /containers/{id}/update` body for `update`'s flags.
fn update_body(a: &UpdateArgs) -> Result<Value> {
    let mut m = Map::new();
    let size = |v: &Option<String>, flag: &str, swap: bool| -> Result<Option<i64>> {
        let Some(v) = v else { return Ok(None) };
        let r = if swap { swap_bytes(v) } else { ram_bytes(v) };
        r.map(Some)
            .map_err(|e| Fail(format!("invalid argument \"{v}\" for \"{flag}\" flag: {e}")))
    };
    if let Some(v) = a.blkio_weight {
        m.insert("BlkioWeight".into(), json!(v));
    }
    if let Some(v) = a.cpu_period {
        m.insert("CpuPeriod".into(), json!(v));
    }
    if let Some(v) = a.cpu_quota {
        m.insert("CpuQuota".into(), json!(v));
    }
    if let Some(v) = a.cpu_rt_period {
        m.insert("CpuRealtimePeriod".into(), json!(v));
    }
    if let Some(v) = a.cpu_rt_runtime {
        m.insert("CpuRealtimeRuntime".into(), json!(v));
    }
    if let Some(v) = a.cpu_shares {
        m.insert("CpuShares".into(), json!(v));
    }
    if a.cpus.is_some() {
        m.insert("NanoCpus".into(), json!(nano_cpus(a.cpus.as_deref())?));
    }
    if let Some(v) = &a.cpuset_cpus {
        m.insert("CpusetCpus".into(), json!(v));
    }
    if let Some(v) = &a.cpuset_mems {
        m.insert("CpusetMems".into(), json!(v));
    }
    if let Some(v) = size(&a.memory, "-m, --memory", false)? {
        m.insert("Memory".into(), json!(v));
    }
    if let Some(v) = size(&a.memory_reservation, "--memory-reservation", false)? {
        m.insert("MemoryReservation".into(), json!(v));
    }
    if let Some(v) = size(&a.memory_swap, "--memory-swap", true)? {
        m.insert("MemorySwap".into(), json!(v));
    }
    if let Some(v) = a.pids_limit {
        m.insert("PidsLimit".into(), json!(v));
    }
    if let Some(r) = &a.restart {
        let (name, max) = r.split_once(':').unwrap_or((r, "0"));
        let max: i64 = max
            .parse()
            .map_err(|_| Fail(format!("invalid restart policy format: {r}")))?;
        m.insert(
            "RestartPolicy".into(),
            json!({"Name": name, "MaximumRetryCount": max}),
        );
    }
    if m.is_empty() {
        return fail("you must provide one or more flags when using this command");
    }
    Ok(Value::Object(m))
}

pub fn update(c: &Client, a: UpdateArgs) -> Result<i32> {
    let body = update_body(&a)?;
    let mut failed = false;
    for n in &a.containers {
        match c.post_json(&format!("/containers/{}/update", seg(n)), &body) {
            Ok(v) => {
                for w in v["Warnings"].as_array().into_iter().flatten() {
                    if let Some(w) = w.as_str() {
                        eprintln!("{w}");
                    }
                }
                out(&format!("{n}\n"))?;
            }
            Err(e) if fatal(&e) => return Err(e),
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}
