//! Applying OCI `linux.resources` to cgroup v2 files, with runc's conversions
//! from v1 values (cpu shares → cpu.weight, blkio weight → io.weight, swap).

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory, LinuxResources, LinuxThrottleDevice,
};

use super::fsutil::write;
use super::v1_resources::{page_size, pids_value};
use super::{bpf, devices_ebpf, Error, Result};

/// Applies every resource in `r` to the cgroup at `dir`; `unified` entries go
/// last so they can override the converted values.
pub(crate) fn apply(dir: &Path, r: &LinuxResources) -> Result<()> {
    if let Some(m) = r.memory() {
        memory(dir, m)?;
    }
    if let Some(c) = r.cpu() {
        cpu(dir, c)?;
    }
    if let Some(p) = r.pids() {
        write(dir, "pids.max", pids_value(p.limit()))?;
    }
    if let Some(b) = r.block_io() {
        io(dir, b)?;
    }
    for h in r.hugepage_limits().iter().flatten() {
        hugetlb(dir, h)?;
    }
    if let Some(rules) = r.devices().as_deref().filter(|d| !d.is_empty()) {
        bpf::attach_device_program(dir, &devices_ebpf::program(rules)?)?;
    }
    if let Some(n) = r.network() {
        if n.class_id().is_some() || n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(Error::Unsupported {
                path: dir.join("net_cls.classid"),
            });
        }
    }
    if let Some(u) = r.unified() {
        unified(dir, u.iter().collect())?;
    }
    Ok(())
}

/// "" for unset (0), "max" for -1, else the number.
fn num(v: i64) -> Option<String> {
    match v {
        0 => None,
        -1 => Some("max".into()),
        v => Some(v.to_string()),
    }
}

/// memory.swap.max from OCI's memory+swap total.
pub(crate) fn swap_max(swap: i64, limit: i64) -> Result<Option<String>> {
    let invalid = |reason| Error::Invalid {
        what: "memory swap",
        value: swap.to_string(),
        reason,
    };
    match (swap, limit) {
        (0, -1) | (-1, _) => Ok(Some("max".into())),
        (0, _) => Ok(None),
        (_, 0) | (_, -1) => Err(invalid("swap limit needs a memory limit")),
        (s, l) if s < l || l < 0 => Err(invalid("memory+swap must be >= the memory limit")),
        (s, l) if s == l => Ok(Some("0".into())),
        (s, l) => Ok(Some((s - l).to_string())),
    }
}

fn memory(dir: &Path, m: &LinuxMemory) -> Result<()> {
    let limit = m.limit().unwrap_or(0);
    if let Some(swap) = swap_max(m.swap().unwrap_or(0), limit)? {
        match write(dir, "memory.swap.max", swap.as_str()) {
            // No swap accounting: unlimited or no swap is what we have anyway.
            Err(Error::Unsupported { .. }) if swap == "max" || swap == "0" => {}
            other => other?,
        }
    }
    if let Some(v) = num(limit) {
        write(dir, "memory.max", v)?;
    }
    if let Some(v) = num(m.reservation().unwrap_or(0)) {
        write(dir, "memory.low", v)?;
    }
    // swappiness and disableOOMKiller have no v2 equivalent; runc ignores them too.
    Ok(())
}

/// cpu.shares (2..262144) → cpu.weight (1..10000).
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// blkio weight (10..1000) → io.weight (1..10000).
pub(crate) fn blkio_to_io_weight(weight: u16) -> u64 {
    let w = u64::from(weight.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

/// cpu.max: "quota [period]", "max" for no quota.
pub(crate) fn cpu_max(quota: Option<i64>, period: Option<u64>) -> Option<String> {
    let quota = quota.filter(|q| *q != 0);
    let period = period.filter(|p| *p != 0);
    if quota.is_none() && period.is_none() {
        return None;
    }
    let mut s = match quota {
        Some(q) if q > 0 => q.to_string(),
        _ => "max".to_string(),
    };
    if let Some(p) = period {
        s.push_str(&format!(" {p}"));
    }
    Some(s)
}

fn cpu(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if c.realtime_runtime().is_some_and(|v| v != 0) || c.realtime_period().is_some_and(|v| v != 0) {
        return Err(Error::Unsupported {
            path: dir.join("cpu.rt_runtime_us"),
        });
    }
    if let Some(i) = c.idle() {
        write(dir, "cpu.idle", i.to_string())?;
    }
    if let Some(s) = c.shares().filter(|s| *s != 0) {
        write(dir, "cpu.weight", shares_to_weight(s).to_string())?;
    }
    if let Some(v) = cpu_max(c.quota(), c.period()) {
        write(dir, "cpu.max", v)?;
    }
    if let Some(b) = c.burst() {
        write(dir, "cpu.max.burst", b.to_string())?;
    }
    if let Some(v) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        write(dir, "cpuset.cpus", v)?;
    }
    if let Some(v) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        write(dir, "cpuset.mems", v)?;
    }
    Ok(())
}

fn io(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    let bfq = dir.join("io.bfq.weight").exists();
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        if bfq {
            write(dir, "io.bfq.weight", w.to_string())?;
        } else {
            write(dir, "io.weight", blkio_to_io_weight(w).to_string())?;
        }
    }
    for d in b.weight_device().iter().flatten() {
        let Some(w) = d.weight() else { continue };
        let dev = format!("{}:{}", d.major(), d.minor());
        if bfq {
            write(dir, "io.bfq.weight", format!("{dev} {w}"))?;
        } else {
            write(dir, "io.weight", format!("{dev} {}", blkio_to_io_weight(w)))?;
        }
    }
    for line in io_max_lines(b) {
        write(dir, "io.max", line)?;
    }
    Ok(())
}

/// One io.max line per device: "maj:min rbps=N wbps=N riops=N wiops=N".
pub(crate) fn io_max_lines(b: &LinuxBlockIo) -> Vec<String> {
    let mut per_dev: BTreeMap<(i64, i64), Vec<String>> = BTreeMap::new();
    let lists: [(&str, &Option<Vec<LinuxThrottleDevice>>); 4] = [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ];
    for (key, list) in lists {
        for d in list.iter().flatten() {
            let entry = per_dev.entry((d.major(), d.minor())).or_default();
            entry.push(format!("{key}={}", d.rate()));
        }
    }
    per_dev
        .into_iter()
        .map(|((maj, min), kv)| format!("{maj}:{min} {}", kv.join(" ")))
        .collect()
}

fn hugetlb(dir: &Path, h: &LinuxHugepageLimit) -> Result<()> {
    let size = page_size(h)?;
    let limit = h.limit().to_string();
    write(dir, &format!("hugetlb.{size}.max"), limit.as_str())?;
    let rsvd = format!("hugetlb.{size}.rsvd.max");
    if dir.join(&rsvd).exists() {
        write(dir, &rsvd, limit)?;
    }
    Ok(())
}

fn unified(dir: &Path, mut entries: Vec<(&String, &String)>) -> Result<()> {
    entries.sort();
    for (key, value) in entries {
        let bad = key.is_empty() || key.contains('/') || key.contains("..") || key == ".";
        if bad {
            return Err(Error::Invalid {
                what: "unified resource name",
                value: key.clone(),
                reason: "must be a file name in the cgroup directory",
            });
        }
        write(dir, key, value.as_str())?;
    }
    Ok(())
}
