//! The few facts about the host machine a spec depends on, behind a trait so the spec
//! logic is testable with fixed values ([`StaticHost`]) and real with [`RealHost`].

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// A device node on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDevice {
    pub path: PathBuf,
    /// `'c'` (character) or `'b'` (block).
    pub kind: char,
    pub major: i64,
    pub minor: i64,
    /// Permission bits of the node.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// What the spec needs to know about the machine it will run on.
pub trait Host {
    /// The device node at `path` (symlinks followed); an error if it is not a device.
    fn device(&self, path: &Path) -> io::Result<HostDevice>;
    /// Every device node under the directory `dir`, recursively, in path order.
    fn devices_under(&self, dir: &Path) -> io::Result<Vec<HostDevice>>;
    /// True on a cgroup v2 (unified) host; false on v1 and hybrid hosts.
    fn cgroup2(&self) -> bool;
    /// The kernel's (major, minor) version.
    fn kernel(&self) -> (u32, u32);
    /// The machine architecture as Rust names it (`x86_64`, `aarch64`, …).
    fn arch(&self) -> String;
    /// The host's name (containers on the host network see it).
    fn hostname(&self) -> String;
    /// How many CPUs the daemon may run on (Docker's bound for `--cpus`).
    fn cpus(&self) -> u32;
    /// The daemon's capability bounding set (bit N: capability N): what "all capabilities"
    /// can mean here.
    fn bounding_caps(&self) -> u64;
}

/// The machine this process runs on.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealHost;

impl Host for RealHost {
    fn device(&self, path: &Path) -> io::Result<HostDevice> {
        let meta = std::fs::metadata(path)?;
        to_device(path, &meta)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a device node"))
    }

    fn devices_under(&self, dir: &Path) -> io::Result<Vec<HostDevice>> {
        let mut out = Vec::new();
        walk(dir, &mut out)?;
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    fn cgroup2(&self) -> bool {
        nix::sys::statfs::statfs("/sys/fs/cgroup")
            .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
            .unwrap_or(false)
    }

    fn kernel(&self) -> (u32, u32) {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        parse_kernel(release.trim()).unwrap_or((0, 0))
    }

    fn arch(&self) -> String {
        std::env::consts::ARCH.to_string()
    }

    fn hostname(&self) -> String {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default()
    }

    fn bounding_caps(&self) -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("CapBnd:"))
                    .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            })
            .unwrap_or(u64::MAX)
    }

    fn cpus(&self) -> u32 {
        nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))
            .map(|set| {
                (0..nix::sched::CpuSet::count())
                    .filter(|&c| set.is_set(c).unwrap_or(false))
                    .count() as u32
            })
            .unwrap_or(1)
            .max(1)
    }
}

/// `"6.1.0-13-amd64"` → `(6, 1)`.
pub fn parse_kernel(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

fn to_device(path: &Path, meta: &std::fs::Metadata) -> Option<HostDevice> {
    let ft = meta.file_type();
    let kind = if ft.is_char_device() {
        'c'
    } else if ft.is_block_device() {
        'b'
    } else {
        return None;
    };
    let rdev = meta.rdev();
    Some(HostDevice {
        path: path.to_path_buf(),
        kind,
        major: libc::major(rdev) as i64,
        minor: libc::minor(rdev) as i64,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
    })
}

/// Directories under /dev that hold no devices a container should get (as runc skips them).
const SKIP_DIRS: &[&str] = &["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];

fn walk(dir: &Path, out: &mut Vec<HostDevice>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            let name = entry.file_name();
            if !SKIP_DIRS.iter().any(|s| name == *s) {
                walk(&path, out)?;
            }
        } else if path != Path::new("/dev/console") {
            out.extend(to_device(&path, &meta));
        }
    }
    Ok(())
}

/// A host described by values: for tests and for callers that already know the facts.
#[derive(Debug, Clone)]
pub struct StaticHost {
    pub devices: Vec<HostDevice>,
    pub cgroup2: bool,
    pub kernel: (u32, u32),
    pub arch: String,
    pub hostname: String,
    pub cpus: u32,
}

impl Default for StaticHost {
    fn default() -> Self {
        let dev = |path: &str, kind, major, minor| HostDevice {
            path: PathBuf::from(path),
            kind,
            major,
            minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        };
        StaticHost {
            devices: vec![
                dev("/dev/fuse", 'c', 10, 229),
                dev("/dev/null", 'c', 1, 3),
                dev("/dev/sda", 'b', 8, 0),
                dev("/dev/snd/pcmC0D0p", 'c', 116, 2),
                dev("/dev/snd/timer", 'c', 116, 33),
            ],
            cgroup2: true,
            kernel: (6, 1),
            arch: "x86_64".into(),
            hostname: "host".into(),
            cpus: 4,
        }
    }
}

impl Host for StaticHost {
    fn device(&self, path: &Path) -> io::Result<HostDevice> {
        self.devices
            .iter()
            .find(|d| d.path == path)
            .cloned()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn devices_under(&self, dir: &Path) -> io::Result<Vec<HostDevice>> {
        let found: Vec<HostDevice> = self
            .devices
            .iter()
            .filter(|d| d.path.starts_with(dir))
            .cloned()
            .collect();
        if found.is_empty() {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        Ok(found)
    }

    fn cgroup2(&self) -> bool {
        self.cgroup2
    }

    fn kernel(&self) -> (u32, u32) {
        self.kernel
    }

    fn arch(&self) -> String {
        self.arch.clone()
    }

    fn hostname(&self) -> String {
        self.hostname.clone()
    }

    fn bounding_caps(&self) -> u64 {
        u64::MAX
    }

    fn cpus(&self) -> u32 {
        self.cpus
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_release_parses() {
        assert_eq!(parse_kernel("6.18.44-fc-v595"), Some((6, 18)));
        assert_eq!(parse_kernel("4.8"), Some((4, 8)));
        assert_eq!(parse_kernel("garbage"), None);
    }

    #[test]
    fn real_host_reads_dev_null() {
        let d = RealHost.device(Path::new("/dev/null")).unwrap();
        assert_eq!((d.kind, d.major, d.minor), ('c', 1, 3));
        assert!(RealHost.device(Path::new("/etc/hostname")).is_err());
    }
}
