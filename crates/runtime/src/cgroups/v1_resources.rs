//! Applying OCI `linux.resources` to cgroup v1 files, as runc's fs driver does.

use std::path::Path;

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxDeviceType, LinuxHugepageLimit, LinuxMemory,
    LinuxNetwork, LinuxResources, LinuxThrottleDevice,
};

use super::fsutil::{read_u64, write};
use super::v1::V1Manager;
use super::{Error, Result};

/// Applies every resource in `r`; a resource needing an unmounted controller
/// or a missing file fails with an error naming it.
pub(crate) fn apply(m: &V1Manager, r: &LinuxResources) -> Result<()> {
    if let Some(mem) = r.memory() {
        memory(m, mem)?;
    }
    if let Some(c) = r.cpu() {
        cpu(m, c)?;
        cpuset(m, c)?;
    }
    if let Some(p) = r.pids() {
        let dir = m.require("pids", "pids limit")?;
        write(dir, "pids.max", pids_value(p.limit()))?;
    }
    if let Some(b) = r.block_io() {
        blkio(m, b)?;
    }
    if let Some(h) = r.hugepage_limits() {
        hugetlb(m, h)?;
    }
    if let Some(d) = r.devices() {
        devices(m, d)?;
    }
    if let Some(n) = r.network() {
        network(m, n)?;
    }
    reject_unified(r)
}

pub(crate) fn pids_value(limit: i64) -> String {
    if limit > 0 {
        limit.to_string()
    } else {
        "max".to_string()
    }
}

fn reject_unified(r: &LinuxResources) -> Result<()> {
    match r.unified() {
        Some(u) if !u.is_empty() => Err(Error::Invalid {
            what: "linux.resources.unified",
            value: format!("{:?}", u.keys().collect::<Vec<_>>()),
            reason: "unified resources need cgroup v2",
        }),
        _ => Ok(()),
    }
}

fn memory(m: &V1Manager, mem: &LinuxMemory) -> Result<()> {
    let limit = mem.limit().filter(|v| *v != 0);
    let reservation = mem.reservation().filter(|v| *v != 0);
    let oom = mem.disable_oom_killer().filter(|d| *d);
    let wanted = limit.is_some() || mem.swap().filter(|v| *v != 0).is_some();
    if !wanted && reservation.is_none() && mem.swappiness().is_none() && oom.is_none() {
        return Ok(());
    }
    let dir = m.require("memory", "memory limits")?;
    memory_and_swap(dir, limit, mem.swap().filter(|v| *v != 0))?;
    if let Some(r) = reservation {
        write(dir, "memory.soft_limit_in_bytes", r.to_string())?;
    }
    if let Some(s) = mem.swappiness() {
        if s > 100 {
            return Err(Error::Invalid {
                what: "memory swappiness",
                value: s.to_string(),
                reason: "must be between 0 and 100",
            });
        }
        write(dir, "memory.swappiness", s.to_string())?;
    }
    if oom.is_some() {
        write(dir, "memory.oom_control", "1")?;
    }
    Ok(())
}

/// Writes memory.limit_in_bytes and memory.memsw.limit_in_bytes in the order
/// that keeps limit <= memsw true after each write.
fn memory_and_swap(dir: &Path, limit: Option<i64>, swap: Option<i64>) -> Result<()> {
    const LIMIT: &str = "memory.limit_in_bytes";
    const MEMSW: &str = "memory.memsw.limit_in_bytes";
    let mut swap = swap;
    if limit == Some(-1) && swap.is_none() && dir.join(MEMSW).exists() {
        swap = Some(-1);
    }
    match (limit, swap) {
        (Some(l), Some(s)) => {
            let current = read_u64(dir, LIMIT)?;
            if s == -1 || (s > 0 && current < s as u64) {
                write(dir, MEMSW, s.to_string())?;
                write(dir, LIMIT, l.to_string())
            } else {
                write(dir, LIMIT, l.to_string())?;
                write(dir, MEMSW, s.to_string())
            }
        }
        (l, s) => {
            if let Some(l) = l {
                write(dir, LIMIT, l.to_string())?;
            }
            match s {
                Some(s) => write(dir, MEMSW, s.to_string()),
                None => Ok(()),
            }
        }
    }
}

fn cpu(m: &V1Manager, c: &LinuxCpu) -> Result<()> {
    let shares = c.shares().filter(|v| *v != 0);
    let period = c.period().filter(|v| *v != 0);
    let quota = c.quota().filter(|v| *v != 0);
    let rt_period = c.realtime_period().filter(|v| *v != 0);
    let rt_runtime = c.realtime_runtime().filter(|v| *v != 0);
    let any = shares.is_some() || period.is_some() || quota.is_some();
    let any = any || rt_period.is_some() || rt_runtime.is_some();
    if !any && c.burst().is_none() && c.idle().is_none() {
        return Ok(());
    }
    let dir = m.require("cpu", "cpu shares/quota")?;
    if let Some(s) = shares {
        write(dir, "cpu.shares", s.to_string())?;
    }
    if let Some(p) = rt_period {
        write(dir, "cpu.rt_period_us", p.to_string())?;
    }
    if let Some(r) = rt_runtime {
        write(dir, "cpu.rt_runtime_us", r.to_string())?;
    }
    quota_and_period(dir, quota, period)?;
    if let Some(b) = c.burst() {
        write(dir, "cpu.cfs_burst_us", b.to_string())?;
    }
    if let Some(i) = c.idle() {
        write(dir, "cpu.idle", i.to_string())?;
    }
    Ok(())
}

/// A new period can be rejected while the old quota does not fit it; then the
/// quota goes first.
fn quota_and_period(dir: &Path, quota: Option<i64>, period: Option<u64>) -> Result<()> {
    if let Some(p) = period {
        match write(dir, "cpu.cfs_period_us", p.to_string()) {
            Err(Error::Write { source, .. })
                if source.raw_os_error() == Some(libc::EINVAL) && quota.is_some() =>
            {
                write(dir, "cpu.cfs_quota_us", quota.unwrap_or(-1).to_string())?;
                write(dir, "cpu.cfs_period_us", p.to_string())?;
            }
            other => other?,
        }
    }
    if let Some(q) = quota {
        write(dir, "cpu.cfs_quota_us", q.to_string())?;
    }
    Ok(())
}

fn cpuset(m: &V1Manager, c: &LinuxCpu) -> Result<()> {
    let cpus = c.cpus().as_deref().filter(|s| !s.is_empty());
    let mems = c.mems().as_deref().filter(|s| !s.is_empty());
    if cpus.is_none() && mems.is_none() {
        return Ok(());
    }
    let dir = m.require("cpuset", "cpuset cpus/mems")?;
    if let Some(v) = cpus {
        write(dir, "cpuset.cpus", v)?;
    }
    if let Some(v) = mems {
        write(dir, "cpuset.mems", v)?;
    }
    Ok(())
}

fn blkio(m: &V1Manager, b: &LinuxBlockIo) -> Result<()> {
    let dir = || m.require("blkio", "block io");
    let bfq = m
        .dir("blkio")
        .is_some_and(|d| d.join("blkio.bfq.weight").exists());
    let (weight_file, weight_dev_file) = if bfq {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    } else {
        ("blkio.weight", "blkio.weight_device")
    };
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        write(dir()?, weight_file, w.to_string())?;
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        write(dir()?, "blkio.leaf_weight", w.to_string())?;
    }
    for d in b.weight_device().iter().flatten() {
        let dev = format!("{}:{}", d.major(), d.minor());
        if let Some(w) = d.weight() {
            write(dir()?, weight_dev_file, format!("{dev} {w}"))?;
        }
        if let Some(w) = d.leaf_weight() {
            write(dir()?, "blkio.leaf_weight_device", format!("{dev} {w}"))?;
        }
    }
    let throttles = [
        (
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ];
    for (file, list) in throttles {
        for d in list.iter().flatten() {
            write(dir()?, file, throttle_line(d))?;
        }
    }
    Ok(())
}

fn throttle_line(d: &LinuxThrottleDevice) -> String {
    format!("{}:{} {}", d.major(), d.minor(), d.rate())
}

/// Checks a hugepage size ("2MB") before it becomes part of a file name.
pub(crate) fn page_size(h: &LinuxHugepageLimit) -> Result<&str> {
    let size = h.page_size().as_str();
    if size.is_empty() || !size.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Error::Invalid {
            what: "hugepage size",
            value: size.to_string(),
            reason: "expected a size like 2MB or 1GB",
        });
    }
    Ok(size)
}

fn hugetlb(m: &V1Manager, limits: &[LinuxHugepageLimit]) -> Result<()> {
    if limits.is_empty() {
        return Ok(());
    }
    let dir = m.require("hugetlb", "hugepage limits")?;
    for h in limits {
        let size = page_size(h)?;
        let limit = h.limit().to_string();
        write(
            dir,
            &format!("hugetlb.{size}.limit_in_bytes"),
            limit.as_str(),
        )?;
        let rsvd = format!("hugetlb.{size}.rsvd.limit_in_bytes");
        if dir.join(&rsvd).exists() {
            write(dir, &rsvd, limit)?;
        }
    }
    Ok(())
}

/// The v1 rule text "type major:minor access" with "*" wildcards.
pub(crate) fn device_rule(rule: &LinuxDeviceCgroup) -> String {
    let typ = rule.typ().unwrap_or(LinuxDeviceType::A);
    let typ = typ.as_str();
    let num = |n: Option<i64>| n.filter(|n| *n >= 0).map_or("*".into(), |n| n.to_string());
    let access = rule
        .access()
        .as_deref()
        .filter(|a| !a.is_empty())
        .unwrap_or("rwm");
    format!("{typ} {}:{} {access}", num(rule.major()), num(rule.minor()))
}

fn devices(m: &V1Manager, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    if rules.is_empty() {
        return Ok(());
    }
    let dir = m.require("devices", "device rules")?;
    for rule in rules {
        let file = if rule.allow() {
            "devices.allow"
        } else {
            "devices.deny"
        };
        write(dir, file, device_rule(rule))?;
    }
    Ok(())
}

fn network(m: &V1Manager, n: &LinuxNetwork) -> Result<()> {
    if let Some(id) = n.class_id() {
        let dir = m.require("net_cls", "network class id")?;
        write(dir, "net_cls.classid", id.to_string())?;
    }
    for p in n.priorities().iter().flatten() {
        let dir = m.require("net_prio", "network priorities")?;
        write(
            dir,
            "net_prio.ifpriomap",
            format!("{} {}", p.name(), p.priority()),
        )?;
    }
    Ok(())
}
