//! cgroup limits from `HostConfig` with Docker's rules: `-m`, `--memory-swap` (0 = twice
//! the memory, -1 = unlimited), `--memory-reservation`, `--cpus` (quota over a 100ms
//! period), `--cpu-shares`, `--cpu-quota/--cpu-period`, `--cpuset-*`, `--pids-limit`
//! (0 or -1 = unlimited), `--blkio-weight*` and the throttles; plus `--ulimit` as rlimits.

use super::host::Host;
use super::types::{HostConfig, ThrottleDevice, Ulimit};
use super::SpecError;
use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxThrottleDevice,
    LinuxThrottleDeviceBuilder, LinuxWeightDeviceBuilder, PosixRlimit, PosixRlimitBuilder,
    PosixRlimitType,
};
use std::path::Path;

/// Docker's smallest memory limit.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;
/// The CFS period `--cpus` uses, in microseconds.
pub const CPU_PERIOD: u64 = 100_000;

/// The checks Docker makes at create: memory, CPU and block I/O settings it would refuse.
pub fn validate(host: &dyn Host, hc: &HostConfig) -> Result<(), SpecError> {
    memory(hc)?;
    cpu(host, hc)?;
    block_io(host, hc)?;
    Ok(())
}

/// Memory limits, `None` when nothing is limited.
pub fn memory(hc: &HostConfig) -> Result<Option<LinuxMemory>, SpecError> {
    if hc.memory < 0 && hc.memory != -1 {
        return Err(SpecError::invalid(
            "memory",
            hc.memory,
            "must not be negative",
        ));
    }
    if hc.memory > 0 && hc.memory < MIN_MEMORY {
        return Err(SpecError::invalid(
            "memory",
            hc.memory,
            "minimum memory limit allowed is 6MB",
        ));
    }
    if hc.memory_reservation > 0 && hc.memory_reservation < MIN_MEMORY {
        return Err(SpecError::invalid(
            "memory reservation",
            hc.memory_reservation,
            "minimum memory reservation allowed is 6MB",
        ));
    }
    if hc.memory > 0 && hc.memory_reservation > hc.memory {
        return Err(SpecError::invalid(
            "memory reservation",
            hc.memory_reservation,
            "minimum memory limit can not be less than memory reservation limit, see usage",
        ));
    }
    let swap = match (hc.memory, hc.memory_swap) {
        (_, -1) => Some(-1),
        (m, 0) if m > 0 => Some(m * 2),
        (_, 0) => None,
        (m, s) if m <= 0 => {
            return Err(SpecError::invalid(
                "memory swap",
                s,
                "you should always set the memory limit when using memoryswap limit, see usage",
            ))
        }
        (m, s) if s < m => {
            return Err(SpecError::invalid(
                "memory swap",
                s,
                "minimum memoryswap limit should be larger than memory limit, see usage",
            ))
        }
        (_, s) => Some(s),
    };
    let swappiness = match hc.memory_swappiness {
        None | Some(-1) => None,
        Some(v @ 0..=100) => Some(v as u64),
        Some(v) => {
            return Err(SpecError::invalid(
                "memory swappiness",
                v,
                "must be in the range 0-100 (or -1 for the default)",
            ))
        }
    };
    let mut m = LinuxMemory::default();
    m.set_limit(Some(hc.memory).filter(|v| *v > 0));
    m.set_swap(swap);
    m.set_reservation(Some(hc.memory_reservation).filter(|v| *v > 0));
    m.set_swappiness(swappiness);
    m.set_disable_oom_killer(hc.oom_kill_disable.filter(|d| *d));
    Ok(Some(m).filter(|m| *m != LinuxMemory::default()))
}

/// CPU limits, `None` when nothing is limited.
pub fn cpu(host: &dyn Host, hc: &HostConfig) -> Result<Option<LinuxCpu>, SpecError> {
    if hc.nano_cpus > 0 && (hc.cpu_period > 0 || hc.cpu_quota > 0) {
        return Err(SpecError::invalid(
            "nano cpus",
            hc.nano_cpus,
            "conflicting options: Nano CPUs and CPU Period/Quota cannot both be set",
        ));
    }
    if hc.nano_cpus < 0 || (hc.nano_cpus > 0 && hc.nano_cpus < 10_000_000) {
        return Err(SpecError::invalid(
            "nano cpus",
            hc.nano_cpus,
            "the range of CPUs starts at 0.01",
        ));
    }
    if hc.nano_cpus > i64::from(host.cpus()) * 1_000_000_000 {
        return Err(SpecError::CpuRange(host.cpus()));
    }
    if hc.cpu_shares < 0 {
        return Err(SpecError::invalid(
            "cpu shares",
            hc.cpu_shares,
            "must not be negative",
        ));
    }
    if hc.cpu_period != 0 && !(1000..=1_000_000).contains(&hc.cpu_period) {
        return Err(SpecError::invalid(
            "cpu period",
            hc.cpu_period,
            "must be between 1ms and 1s (1000-1000000)",
        ));
    }
    if hc.cpu_quota > 0 && hc.cpu_quota < 1000 {
        return Err(SpecError::invalid(
            "cpu quota",
            hc.cpu_quota,
            "must be at least 1ms (1000)",
        ));
    }
    let mut c = LinuxCpu::default();
    if hc.nano_cpus > 0 {
        c.set_period(Some(CPU_PERIOD));
        c.set_quota(Some(hc.nano_cpus * CPU_PERIOD as i64 / 1_000_000_000));
    } else {
        c.set_period(Some(hc.cpu_period as u64).filter(|p| *p > 0));
        c.set_quota(Some(hc.cpu_quota).filter(|q| *q != 0));
    }
    c.set_shares(Some(hc.cpu_shares as u64).filter(|s| *s > 0));
    c.set_realtime_period(Some(hc.cpu_realtime_period as u64).filter(|p| *p > 0));
    c.set_realtime_runtime(Some(hc.cpu_realtime_runtime).filter(|r| *r != 0));
    c.set_cpus(Some(hc.cpuset_cpus.clone()).filter(|s| !s.is_empty()));
    c.set_mems(Some(hc.cpuset_mems.clone()).filter(|s| !s.is_empty()));
    Ok(Some(c).filter(|c| *c != LinuxCpu::default()))
}

/// The pids limit: `None` when unset, -1 (unlimited) for 0 or a negative value.
pub fn pids(hc: &HostConfig) -> Option<LinuxPids> {
    let limit = hc.pids_limit?;
    let mut p = LinuxPids::default();
    p.set_limit(if limit <= 0 { -1 } else { limit });
    Some(p)
}

fn throttles(
    host: &dyn Host,
    list: &[ThrottleDevice],
) -> Result<Option<Vec<LinuxThrottleDevice>>, SpecError> {
    let mut out = Vec::new();
    for t in list {
        let d = block_device(host, &t.path)?;
        let x = LinuxThrottleDeviceBuilder::default()
            .major(d.0)
            .minor(d.1)
            .rate(t.rate)
            .build();
        out.push(x.map_err(|e| SpecError::invalid("blkio throttle", &t.path, e.to_string()))?);
    }
    Ok(Some(out).filter(|o| !o.is_empty()))
}

fn block_device(host: &dyn Host, path: &str) -> Result<(i64, i64), SpecError> {
    let d = host
        .device(Path::new(path))
        .map_err(|e| SpecError::Device {
            path: path.into(),
            missing: e.kind() == std::io::ErrorKind::NotFound,
            reason: e.to_string(),
        })?;
    Ok((d.major, d.minor))
}

/// Block I/O weight and throttles, `None` when nothing is set.
pub fn block_io(host: &dyn Host, hc: &HostConfig) -> Result<Option<LinuxBlockIo>, SpecError> {
    let weight_ok = |w: u16| w == 0 || (10..=1000).contains(&w);
    if !weight_ok(hc.blkio_weight) {
        return Err(SpecError::invalid(
            "blkio weight",
            hc.blkio_weight,
            "must be in the range 10-1000",
        ));
    }
    let mut weights = Vec::new();
    for w in &hc.blkio_weight_device {
        if !weight_ok(w.weight) {
            return Err(SpecError::invalid(
                "blkio weight",
                w.weight,
                "must be in the range 10-1000",
            ));
        }
        let (major, minor) = block_device(host, &w.path)?;
        let x = LinuxWeightDeviceBuilder::default()
            .major(major)
            .minor(minor)
            .weight(w.weight)
            .build();
        weights.push(x.map_err(|e| SpecError::invalid("blkio weight", &w.path, e.to_string()))?);
    }
    let mut b = LinuxBlockIo::default();
    b.set_weight(Some(hc.blkio_weight).filter(|w| *w > 0));
    b.set_weight_device(Some(weights).filter(|w| !w.is_empty()));
    b.set_throttle_read_bps_device(throttles(host, &hc.blkio_device_read_bps)?);
    b.set_throttle_write_bps_device(throttles(host, &hc.blkio_device_write_bps)?);
    b.set_throttle_read_iops_device(throttles(host, &hc.blkio_device_read_iops)?);
    b.set_throttle_write_iops_device(throttles(host, &hc.blkio_device_write_iops)?);
    Ok(Some(b).filter(|b| *b != LinuxBlockIo::default()))
}

/// `--ulimit name=soft:hard` as an rlimit; -1 means unlimited.
fn rlimit(u: &Ulimit) -> Result<PosixRlimit, SpecError> {
    let name = format!("RLIMIT_{}", u.name.to_ascii_uppercase());
    let typ: PosixRlimitType = serde_json::from_value(serde_json::Value::String(name))
        .map_err(|_| SpecError::invalid("ulimit", &u.name, "unknown ulimit type"))?;
    let value = |v: i64| if v < 0 { u64::MAX } else { v as u64 };
    let (soft, hard) = (value(u.soft), value(u.hard));
    if soft > hard {
        return Err(SpecError::invalid(
            "ulimit",
            format!("{}={}:{}", u.name, u.soft, u.hard),
            "soft limit must be less than or equal to hard limit",
        ));
    }
    PosixRlimitBuilder::default()
        .typ(typ)
        .soft(soft)
        .hard(hard)
        .build()
        .map_err(|e| SpecError::invalid("ulimit", &u.name, e.to_string()))
}

/// The rlimits from `--ulimit`; none given leaves the process with what it inherits.
pub fn rlimits(ulimits: &[Ulimit]) -> Result<Option<Vec<PosixRlimit>>, SpecError> {
    let list = ulimits.iter().map(rlimit).collect::<Result<Vec<_>, _>>()?;
    Ok(Some(list).filter(|l| !l.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: i64 = 1024 * 1024;

    #[test]
    fn memory_swap_follows_docker() {
        let hc = HostConfig {
            memory: 64 * MB,
            ..Default::default()
        };
        let m = memory(&hc).unwrap().unwrap();
        assert_eq!((m.limit(), m.swap()), (Some(64 * MB), Some(128 * MB)));
        let hc = HostConfig {
            memory: 64 * MB,
            memory_swap: -1,
            ..Default::default()
        };
        assert_eq!(memory(&hc).unwrap().unwrap().swap(), Some(-1));
        let hc = HostConfig {
            memory: 64 * MB,
            memory_swap: 100 * MB,
            ..Default::default()
        };
        assert_eq!(memory(&hc).unwrap().unwrap().swap(), Some(100 * MB));
        let hc = HostConfig {
            memory: 64 * MB,
            memory_swap: 32 * MB,
            ..Default::default()
        };
        assert!(memory(&hc).is_err());
        let hc = HostConfig {
            memory_swap: 32 * MB,
            ..Default::default()
        };
        assert!(memory(&hc).is_err());
        assert!(memory(&HostConfig::default()).unwrap().is_none());
    }

    #[test]
    fn memory_limits_are_checked() {
        let hc = HostConfig {
            memory: MB,
            ..Default::default()
        };
        assert!(memory(&hc).unwrap_err().to_string().contains("6MB"));
        let hc = HostConfig {
            memory: 64 * MB,
            memory_reservation: 128 * MB,
            ..Default::default()
        };
        assert!(memory(&hc).is_err());
        let hc = HostConfig {
            memory_swappiness: Some(101),
            ..Default::default()
        };
        assert!(memory(&hc).is_err());
        let hc = HostConfig {
            memory_swappiness: Some(-1),
            ..Default::default()
        };
        assert!(memory(&hc).unwrap().is_none());
    }

    #[test]
    fn cpus_become_quota_over_a_100ms_period() {
        let host = crate::spec::StaticHost::default();
        let hc = HostConfig {
            nano_cpus: 1_500_000_000,
            ..Default::default()
        };
        let c = cpu(&host, &hc).unwrap().unwrap();
        assert_eq!((c.quota(), c.period()), (Some(150_000), Some(100_000)));
        let hc = HostConfig {
            nano_cpus: 1,
            ..Default::default()
        };
        assert!(cpu(&host, &hc).is_err());
        let hc = HostConfig {
            nano_cpus: 1_000_000_000,
            cpu_quota: 50_000,
            ..Default::default()
        };
        assert!(cpu(&host, &hc).is_err());
        let hc = HostConfig {
            cpu_quota: 50_000,
            cpu_period: 200_000,
            cpu_shares: 512,
            cpuset_cpus: "0-1".into(),
            ..Default::default()
        };
        let c = cpu(&host, &hc).unwrap().unwrap();
        assert_eq!(
            (c.quota(), c.period(), c.shares()),
            (Some(50_000), Some(200_000), Some(512))
        );
        assert_eq!(c.cpus().as_deref(), Some("0-1"));
        assert!(cpu(&host, &HostConfig::default()).unwrap().is_none());
        // No more than the machine has, in Docker's words.
        let hc = |n| HostConfig {
            nano_cpus: n,
            ..Default::default()
        };
        assert!(cpu(&host, &hc(4_000_000_000)).is_ok());
        assert_eq!(
            cpu(&host, &hc(4_000_000_001)).unwrap_err().to_string(),
            "Range of CPUs is from 0.01 to 4.00, as there are only 4 CPUs available"
        );
    }

    #[test]
    fn pids_zero_and_negative_mean_unlimited() {
        let p = |v| {
            pids(&HostConfig {
                pids_limit: v,
                ..Default::default()
            })
            .map(|p| p.limit())
        };
        assert_eq!(p(None), None);
        assert_eq!(p(Some(0)), Some(-1));
        assert_eq!(p(Some(-1)), Some(-1));
        assert_eq!(p(Some(10)), Some(10));
    }

    #[test]
    fn ulimits_become_rlimits() {
        let u = |name: &str, soft, hard| Ulimit {
            name: name.into(),
            soft,
            hard,
        };
        let r = rlimits(&[u("nofile", 1024, 2048), u("core", -1, -1)])
            .unwrap()
            .unwrap();
        assert_eq!(r[0].typ(), PosixRlimitType::RlimitNofile);
        assert_eq!((r[0].soft(), r[0].hard()), (1024, 2048));
        assert_eq!(r[1].hard(), u64::MAX);
        assert!(rlimits(&[u("bogus", 1, 1)]).is_err());
        assert!(rlimits(&[u("nofile", 10, 1)]).is_err());
        assert!(rlimits(&[]).unwrap().is_none());
    }

    #[test]
    fn block_io_weights_and_throttles() {
        use crate::spec::host::StaticHost;
        use crate::spec::types::WeightDevice;
        let host = StaticHost::default();
        let hc = HostConfig {
            blkio_weight: 300,
            blkio_weight_device: vec![WeightDevice {
                path: "/dev/sda".into(),
                weight: 200,
            }],
            blkio_device_read_bps: vec![ThrottleDevice {
                path: "/dev/sda".into(),
                rate: 1024,
            }],
            ..Default::default()
        };
        let b = block_io(&host, &hc).unwrap().unwrap();
        assert_eq!(b.weight(), Some(300));
        assert_eq!(b.weight_device().as_ref().unwrap()[0].major(), 8);
        assert_eq!(
            b.throttle_read_bps_device().as_ref().unwrap()[0].rate(),
            1024
        );
        let hc = HostConfig {
            blkio_weight: 5,
            ..Default::default()
        };
        assert!(block_io(&host, &hc).is_err());
        assert!(block_io(&host, &HostConfig::default()).unwrap().is_none());
    }
}
