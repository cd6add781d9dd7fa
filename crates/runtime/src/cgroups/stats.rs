//! Resource usage of a cgroup, in the JSON shape runc prints as the `data` of
//! `runc events --stats` (runc's types/events.go, `omitempty` included), read
//! from v1 or v2 files. Missing files count as zero.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::fsutil::{read_keyed, read_opt, read_u64};
use super::{Error, Result};

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// All stats of one container.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    pub cpu: CpuStats,
    pub memory: MemoryStats,
    pub pids: PidsStats,
    pub blkio: BlkioStats,
    /// Page size ("2MB") → usage.
    pub hugetlb: BTreeMap<String, HugetlbStats>,
}

/// CPU time and throttling.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuStats {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

/// CPU time in nanoseconds.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuUsage {
    #[serde(skip_serializing_if = "is_zero")]
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

/// CFS throttling (times in nanoseconds).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Throttling {
    #[serde(skip_serializing_if = "is_zero")]
    pub periods: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

/// Memory usage in bytes.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryStats {
    #[serde(skip_serializing_if = "is_zero")]
    pub cache: u64,
    pub usage: MemoryEntry,
    /// Memory plus swap, as v1 reports it.
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// memory.stat as is.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

/// One memory counter; `limit` is u64::MAX when unlimited on v2.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

/// Process count; limit 0 means unlimited.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PidsStats {
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// Block I/O per device.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BlkioStats {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

/// One device counter, e.g. op "Read".
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlkioEntry {
    #[serde(skip_serializing_if = "is_zero")]
    pub major: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub minor: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub value: u64,
}

/// Hugepage usage of one page size.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HugetlbStats {
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

/// Fails with a not-found error when the cgroup itself is gone.
fn ensure_exists(dir: &Path) -> Result<()> {
    fs::metadata(dir).map(|_| ()).map_err(|source| Error::Read {
        path: dir.to_path_buf(),
        source,
    })
}

fn read_list(dir: &Path, file: &str) -> Result<Vec<u64>> {
    let text = read_opt(dir, file)?.unwrap_or_default();
    Ok(text
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect())
}

/// Stats from v1 hierarchies (subsystem → dir).
pub(crate) fn v1(dirs: &BTreeMap<String, PathBuf>) -> Result<Stats> {
    if let Some(dir) = dirs.values().next() {
        ensure_exists(dir)?;
    }
    let mut s = Stats::default();
    if let Some(dir) = dirs.get("cpuacct") {
        s.cpu.usage = v1_cpu_usage(dir)?;
    }
    if let Some(dir) = dirs.get("cpu") {
        s.cpu.throttling = throttling(dir, 1)?;
    }
    if let Some(dir) = dirs.get("memory") {
        s.memory = v1_memory(dir)?;
    }
    if let Some(dir) = dirs.get("pids") {
        s.pids = pids(dir)?;
    }
    if let Some(dir) = dirs.get("blkio") {
        s.blkio = v1_blkio(dir)?;
    }
    if let Some(dir) = dirs.get("hugetlb") {
        s.hugetlb = hugetlb(dir, v1_hugetlb_entry)?;
    }
    Ok(s)
}

/// Stats from a v2 cgroup dir.
pub(crate) fn v2(dir: &Path) -> Result<Stats> {
    ensure_exists(dir)?;
    Ok(Stats {
        cpu: CpuStats {
            usage: v2_cpu_usage(dir)?,
            throttling: throttling(dir, 1000)?,
        },
        memory: v2_memory(dir)?,
        pids: pids(dir)?,
        blkio: v2_blkio(dir)?,
        hugetlb: hugetlb(dir, v2_hugetlb_entry)?,
    })
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as u64
    } else {
        100
    }
}

fn v1_cpu_usage(dir: &Path) -> Result<CpuUsage> {
    let stat = read_keyed(dir, "cpuacct.stat")?;
    let ns_per_tick = 1_000_000_000 / clock_ticks();
    Ok(CpuUsage {
        total: read_u64(dir, "cpuacct.usage")?,
        percpu: read_list(dir, "cpuacct.usage_percpu")?,
        percpu_kernel: read_list(dir, "cpuacct.usage_percpu_sys")?,
        percpu_user: read_list(dir, "cpuacct.usage_percpu_user")?,
        kernel: stat.get("system").copied().unwrap_or(0) * ns_per_tick,
        user: stat.get("user").copied().unwrap_or(0) * ns_per_tick,
    })
}

fn v2_cpu_usage(dir: &Path) -> Result<CpuUsage> {
    let stat = read_keyed(dir, "cpu.stat")?;
    let ns = |k: &str| stat.get(k).copied().unwrap_or(0) * 1000;
    Ok(CpuUsage {
        total: ns("usage_usec"),
        kernel: ns("system_usec"),
        user: ns("user_usec"),
        ..Default::default()
    })
}

/// From cpu.stat; v1 has throttled_time in ns, v2 throttled_usec (scale 1000).
fn throttling(dir: &Path, scale: u64) -> Result<Throttling> {
    let stat = read_keyed(dir, "cpu.stat")?;
    let get = |k: &str| stat.get(k).copied().unwrap_or(0);
    Ok(Throttling {
        periods: get("nr_periods"),
        throttled_periods: get("nr_throttled"),
        throttled_time: get("throttled_time") + get("throttled_usec") * scale,
    })
}

fn v1_memory_entry(dir: &Path, prefix: &str) -> Result<MemoryEntry> {
    let f = |suffix: &str| format!("{prefix}.{suffix}");
    Ok(MemoryEntry {
        limit: read_u64(dir, &f("limit_in_bytes"))?,
        usage: read_u64(dir, &f("usage_in_bytes"))?,
        max: read_u64(dir, &f("max_usage_in_bytes"))?,
        failcnt: read_u64(dir, &f("failcnt"))?,
    })
}

fn v1_memory(dir: &Path) -> Result<MemoryStats> {
    let raw = read_keyed(dir, "memory.stat")?;
    Ok(MemoryStats {
        cache: raw.get("cache").copied().unwrap_or(0),
        usage: v1_memory_entry(dir, "memory")?,
        swap: v1_memory_entry(dir, "memory.memsw")?,
        kernel: v1_memory_entry(dir, "memory.kmem")?,
        kernel_tcp: v1_memory_entry(dir, "memory.kmem.tcp")?,
        raw,
    })
}

fn v2_memory(dir: &Path) -> Result<MemoryStats> {
    let raw = read_keyed(dir, "memory.stat")?;
    let events = read_keyed(dir, "memory.events")?;
    let swap_events = read_keyed(dir, "memory.swap.events")?;
    let usage = MemoryEntry {
        limit: read_u64(dir, "memory.max")?,
        usage: read_u64(dir, "memory.current")?,
        max: read_u64(dir, "memory.peak")?,
        failcnt: events.get("max").copied().unwrap_or(0),
    };
    // v1 reports swap as memory+swap; do the same for compatibility.
    let swap = MemoryEntry {
        limit: read_u64(dir, "memory.swap.max")?.saturating_add(usage.limit),
        usage: read_u64(dir, "memory.swap.current")? + usage.usage,
        max: read_u64(dir, "memory.swap.peak")?,
        failcnt: swap_events.get("max").copied().unwrap_or(0),
    };
    Ok(MemoryStats {
        cache: raw.get("file").copied().unwrap_or(0),
        usage,
        swap,
        raw,
        ..Default::default()
    })
}

fn pids(dir: &Path) -> Result<PidsStats> {
    let limit = read_u64(dir, "pids.max")?;
    Ok(PidsStats {
        current: read_u64(dir, "pids.current")?,
        limit: if limit == u64::MAX { 0 } else { limit },
    })
}

/// Parses v1 blkio lines "maj:min Op value" ("Total n" lines are skipped).
pub(crate) fn parse_v1_blkio(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (major, minor) = it.next()?.split_once(':')?;
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op: it.next()?.to_string(),
                value: it.next()?.parse().ok()?,
            })
        })
        .collect()
}

/// The first of `files` with entries (CFQ, then BFQ, then throttle counters).
fn v1_blkio_first(dir: &Path, files: &[&str]) -> Result<Vec<BlkioEntry>> {
    for file in files {
        let entries = parse_v1_blkio(&read_opt(dir, file)?.unwrap_or_default());
        if !entries.is_empty() {
            return Ok(entries);
        }
    }
    Ok(Vec::new())
}

fn v1_blkio(dir: &Path) -> Result<BlkioStats> {
    Ok(BlkioStats {
        io_service_bytes_recursive: v1_blkio_first(
            dir,
            &[
                "blkio.io_service_bytes_recursive",
                "blkio.bfq.io_service_bytes_recursive",
                "blkio.throttle.io_service_bytes_recursive",
            ],
        )?,
        io_serviced_recursive: v1_blkio_first(
            dir,
            &[
                "blkio.io_serviced_recursive",
                "blkio.bfq.io_serviced_recursive",
                "blkio.throttle.io_serviced_recursive",
            ],
        )?,
    })
}

/// Parses io.stat lines "maj:min rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0".
pub(crate) fn parse_io_stat(text: &str) -> BlkioStats {
    let mut out = BlkioStats::default();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let Some((major, minor)) = it.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        for (key, value) in it.filter_map(|kv| kv.split_once('=')) {
            let Ok(value) = value.parse() else { continue };
            let (list, op) = match key {
                "rbytes" => (&mut out.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut out.io_service_bytes_recursive, "Write"),
                "dbytes" => (&mut out.io_service_bytes_recursive, "Discard"),
                "rios" => (&mut out.io_serviced_recursive, "Read"),
                "wios" => (&mut out.io_serviced_recursive, "Write"),
                "dios" => (&mut out.io_serviced_recursive, "Discard"),
                _ => continue,
            };
            let op = op.to_string();
            list.push(BlkioEntry {
                major,
                minor,
                op,
                value,
            });
        }
    }
    out
}

fn v2_blkio(dir: &Path) -> Result<BlkioStats> {
    Ok(parse_io_stat(
        &read_opt(dir, "io.stat")?.unwrap_or_default(),
    ))
}

/// Hugepage sizes present in `dir` (from "hugetlb.<size>.<suffix>" files).
fn hugetlb<F>(dir: &Path, entry: F) -> Result<BTreeMap<String, HugetlbStats>>
where
    F: Fn(&Path, &str) -> Result<HugetlbStats>,
{
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(_) => return Ok(BTreeMap::new()),
    };
    let mut out = BTreeMap::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let mut parts = name.split('.');
        if let (Some("hugetlb"), Some(size), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        {
            if !out.contains_key(size) {
                out.insert(size.to_string(), entry(dir, size)?);
            }
        }
    }
    Ok(out)
}

fn v1_hugetlb_entry(dir: &Path, size: &str) -> Result<HugetlbStats> {
    Ok(HugetlbStats {
        usage: read_u64(dir, &format!("hugetlb.{size}.usage_in_bytes"))?,
        max: read_u64(dir, &format!("hugetlb.{size}.max_usage_in_bytes"))?,
        failcnt: read_u64(dir, &format!("hugetlb.{size}.failcnt"))?,
    })
}

fn v2_hugetlb_entry(dir: &Path, size: &str) -> Result<HugetlbStats> {
    let events = read_keyed(dir, &format!("hugetlb.{size}.events"))?;
    Ok(HugetlbStats {
        usage: read_u64(dir, &format!("hugetlb.{size}.current"))?,
        max: 0,
        failcnt: events.get("max").copied().unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_matches_runc() {
        let mut s = Stats::default();
        s.cpu.usage.total = 5;
        s.cpu.throttling.throttled_periods = 2;
        s.memory.usage.usage = 7;
        s.hugetlb.insert("2MB".into(), HugetlbStats::default());
        s.blkio.io_service_bytes_recursive.push(BlkioEntry {
            major: 8,
            minor: 0,
            op: "Read".into(),
            value: 9,
        });
        let v = serde_json::to_value(&s).unwrap();
        let want = serde_json::json!({
            "cpu": {"usage": {"total": 5, "kernel": 0, "user": 0},
                    "throttling": {"throttledPeriods": 2}},
            "memory": {"usage": {"limit": 0, "usage": 7, "failcnt": 0},
                       "swap": {"limit": 0, "failcnt": 0},
                       "kernel": {"limit": 0, "failcnt": 0},
                       "kernelTCP": {"limit": 0, "failcnt": 0}},
            "pids": {},
            "blkio": {"ioServiceBytesRecursive": [{"major": 8, "op": "Read", "value": 9}]},
            "hugetlb": {"2MB": {"failcnt": 0}}
        });
        assert_eq!(v, want);
        let back: Stats = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn parses_blkio_and_io_stat() {
        let v1 = parse_v1_blkio("8:0 Read 10\n8:0 Write 20\nTotal 30\n");
        assert_eq!(v1.len(), 2);
        assert_eq!(
            (v1[1].major, v1[1].op.as_str(), v1[1].value),
            (8, "Write", 20)
        );
        let v2 = parse_io_stat("253:1 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n");
        assert_eq!(v2.io_service_bytes_recursive[0].value, 4096);
        assert_eq!(v2.io_service_bytes_recursive[0].minor, 1);
        assert_eq!(v2.io_serviced_recursive[0].op, "Read");
        assert_eq!(v2.io_serviced_recursive.len(), 3);
    }
}
