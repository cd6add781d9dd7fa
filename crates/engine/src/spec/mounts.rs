//! The container's mounts: Docker's default filesystems (/proc, /dev, /dev/pts, /sys,
//! /sys/fs/cgroup, /dev/mqueue, /dev/shm), the volumes and binds the engine resolved,
//! `--tmpfs` and `--mount type=tmpfs`, with Docker's ordering and override rules.

use super::types::{HostConfig, TmpfsOptions};
use super::SpecError;
use oci_spec::runtime::Mount;
use std::path::{Component, Path, PathBuf};

/// A mount the engine already resolved (a bind or a volume as a host path).
///
/// `options` are kept; `rbind` is added when neither `bind` nor `rbind` is there, and
/// `rprivate` when no propagation is given, as Docker writes binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    pub source: PathBuf,
    pub destination: PathBuf,
    pub options: Vec<String>,
}

/// Docker's default size of /dev/shm: 64 MiB.
pub const DEFAULT_SHM_SIZE: i64 = 64 * 1024 * 1024;

const PROPAGATIONS: &[&str] = &[
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(dest));
    m.set_typ(Some(typ.to_string()));
    m.set_source(Some(PathBuf::from(source)));
    m.set_options(Some(options.iter().map(|s| s.to_string()).collect()));
    m
}

/// What decides the default mounts.
pub struct Defaults {
    pub shm_size: i64,
    /// `IpcMode`: `none` has no /dev/shm, `host` binds the host's.
    pub ipc_mode: String,
    /// /sys and /sys/fs/cgroup writable (`--privileged`).
    pub writable_sys: bool,
    /// /sys/fs/cgroup writable (`--security-opt writable-cgroups=true`).
    pub writable_cgroups: bool,
}

/// Docker's default mounts, in Docker's order.
pub fn defaults(d: &Defaults) -> Result<Vec<Mount>, SpecError> {
    if d.shm_size < 0 {
        return Err(SpecError::invalid(
            "shm size",
            d.shm_size,
            "SHM size can not be less than 0",
        ));
    }
    let ro = |rw: bool| if rw { "rw" } else { "ro" };
    let mut list = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", ro(d.writable_sys)],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &[
                ro(d.writable_sys || d.writable_cgroups),
                "nosuid",
                "noexec",
                "nodev",
            ],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
    ];
    match d.ipc_mode.as_str() {
        "none" => {}
        "host" => list.push(mount(
            "/dev/shm",
            "bind",
            "/dev/shm",
            &["rbind", "nosuid", "noexec", "nodev"],
        )),
        _ => {
            let size = if d.shm_size == 0 {
                DEFAULT_SHM_SIZE
            } else {
                d.shm_size
            };
            let size = format!("size={size}");
            list.push(mount(
                "/dev/shm",
                "tmpfs",
                "shm",
                &["nosuid", "noexec", "nodev", "mode=1777", &size],
            ));
        }
    }
    Ok(list)
}

/// Which bit of mount flags an option sets, so `exec` after `noexec` replaces it.
fn flag_group(opt: &str) -> Option<&'static str> {
    Some(match opt {
        "ro" | "rw" => "ro",
        "exec" | "noexec" => "exec",
        "suid" | "nosuid" => "suid",
        "dev" | "nodev" => "dev",
        "sync" | "async" => "sync",
        "atime" | "noatime" => "atime",
        "diratime" | "nodiratime" => "diratime",
        "relatime" | "norelatime" => "relatime",
        "strictatime" | "nostrictatime" => "strictatime",
        "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
        | "runbindable" => "propagation",
        "mand" | "nomand" => "mand",
        _ => return None,
    })
}

const TMPFS_DATA: &[&str] = &[
    "size",
    "mode",
    "uid",
    "gid",
    "nr_inodes",
    "nr_blocks",
    "mpol",
];

/// Merge tmpfs options with the later one of each kind winning, keeping first-seen order.
pub fn merge_tmpfs_options(options: &[String]) -> Result<Vec<String>, SpecError> {
    let mut out: Vec<String> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for opt in options.iter().rev() {
        if opt.is_empty() || opt == "defaults" {
            continue;
        }
        let key = match flag_group(opt) {
            Some(g) => g.to_string(),
            None => match opt.split_once('=') {
                Some((k, _)) if TMPFS_DATA.contains(&k) => k.to_string(),
                _ => return Err(SpecError::invalid("tmpfs option", opt, "unknown option")),
            },
        };
        if !seen.contains(&key) {
            seen.push(key);
            out.insert(0, opt.clone());
        }
    }
    Ok(out)
}

fn tmpfs_mount(dest: &str, data: &[String]) -> Result<Mount, SpecError> {
    let mut options: Vec<String> = ["noexec", "nosuid", "nodev", "rprivate"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    options.extend(data.iter().cloned());
    let mut m = mount(dest, "tmpfs", "tmpfs", &[]);
    m.set_options(Some(merge_tmpfs_options(&options)?));
    Ok(m)
}

/// `--mount type=tmpfs` options as tmpfs data.
fn tmpfs_data(opts: Option<&TmpfsOptions>, read_only: bool) -> Vec<String> {
    let mut data = Vec::new();
    if read_only {
        data.push("ro".to_string());
    }
    if let Some(o) = opts {
        if o.size_bytes > 0 {
            data.push(format!("size={}", o.size_bytes));
        }
        if o.mode != 0 {
            data.push(format!("mode={:o}", o.mode));
        }
    }
    data
}

fn bind_mount(m: &MountSpec) -> Mount {
    let mut options = m.options.clone();
    if !options.iter().any(|o| o == "bind" || o == "rbind") {
        options.insert(0, "rbind".to_string());
    }
    if !options.iter().any(|o| PROPAGATIONS.contains(&o.as_str())) {
        options.push("rprivate".to_string());
    }
    let mut out = mount("", "bind", "", &[]);
    out.set_destination(m.destination.clone());
    out.set_source(Some(m.source.clone()));
    out.set_options(Some(options));
    out
}

fn check_destination(dest: &Path) -> Result<(), SpecError> {
    if !dest.is_absolute() {
        return Err(SpecError::invalid(
            "mount destination",
            dest.display(),
            "must be an absolute path",
        ));
    }
    if dest == Path::new("/") {
        return Err(SpecError::invalid(
            "mount destination",
            "/",
            "cannot be \"/\"",
        ));
    }
    Ok(())
}

fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// The user's mounts: resolved binds/volumes, `--tmpfs` and `--mount type=tmpfs`.
pub fn user_mounts(resolved: &[MountSpec], hc: &HostConfig) -> Result<Vec<Mount>, SpecError> {
    let mut list = Vec::new();
    for m in resolved {
        check_destination(&m.destination)?;
        let mut m = m.clone();
        m.destination = clean(&m.destination);
        list.push(bind_mount(&m));
    }
    for (dest, data) in &hc.tmpfs {
        check_destination(Path::new(dest))?;
        let data: Vec<String> = data.split(',').map(String::from).collect();
        list.push(tmpfs_mount(
            &clean(Path::new(dest)).to_string_lossy(),
            &data,
        )?);
    }
    for m in hc.mounts.iter().filter(|m| m.r#type == "tmpfs") {
        check_destination(Path::new(&m.target))?;
        let data = tmpfs_data(m.tmpfs_options.as_ref(), m.read_only);
        list.push(tmpfs_mount(
            &clean(Path::new(&m.target)).to_string_lossy(),
            &data,
        )?);
    }
    let mut seen: Vec<&Path> = Vec::new();
    for m in &list {
        if seen.contains(&m.destination().as_path()) {
            return Err(SpecError::DuplicateMount(m.destination().clone()));
        }
        seen.push(m.destination());
    }
    // Parents before children, as Docker sorts by path depth (stable for equal depth).
    list.sort_by_key(|m| m.destination().components().count());
    Ok(list)
}

/// Defaults minus those a user mount replaces (the same path, or anything under /dev when
/// the user mounts /dev), then the user's mounts.
pub fn combine(defaults: Vec<Mount>, user: Vec<Mount>) -> Vec<Mount> {
    let user_dev = user.iter().any(|m| m.destination() == Path::new("/dev"));
    let mut out: Vec<Mount> = defaults
        .into_iter()
        .filter(|d| !user.iter().any(|u| u.destination() == d.destination()))
        .filter(|d| !(user_dev && d.destination().starts_with("/dev")))
        .collect();
    out.extend(user);
    out
}

/// The rootfs propagation a bind with shared or slave propagation needs.
pub fn rootfs_propagation(mounts: &[Mount]) -> Option<String> {
    let has = |names: &[&str]| {
        mounts.iter().any(|m| {
            m.typ().as_deref() == Some("bind")
                && m.options()
                    .iter()
                    .flatten()
                    .any(|o| names.contains(&o.as_str()))
        })
    };
    if has(&["shared", "rshared"]) {
        Some("rshared".into())
    } else if has(&["slave", "rslave"]) {
        Some("rslave".into())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn d() -> Defaults {
        Defaults {
            shm_size: 0,
            ipc_mode: String::new(),
            writable_sys: false,
            writable_cgroups: false,
        }
    }

    #[test]
    fn shm_defaults_to_64m_and_follows_shm_size() {
        let list = defaults(&d()).unwrap();
        let shm = list
            .iter()
            .find(|m| m.destination() == Path::new("/dev/shm"))
            .unwrap();
        assert!(shm
            .options()
            .as_ref()
            .unwrap()
            .contains(&"size=67108864".to_string()));
        let list = defaults(&Defaults {
            shm_size: 1 << 20,
            ..d()
        })
        .unwrap();
        let shm = list
            .iter()
            .find(|m| m.destination() == Path::new("/dev/shm"))
            .unwrap();
        assert!(shm
            .options()
            .as_ref()
            .unwrap()
            .contains(&"size=1048576".to_string()));
        let list = defaults(&Defaults {
            ipc_mode: "none".into(),
            ..d()
        })
        .unwrap();
        assert!(!list
            .iter()
            .any(|m| m.destination() == Path::new("/dev/shm")));
        assert!(defaults(&Defaults {
            shm_size: -1,
            ..d()
        })
        .is_err());
    }

    #[test]
    fn sys_is_read_only_unless_privileged() {
        let opts = |list: &[Mount], p: &str| {
            list.iter()
                .find(|m| m.destination() == Path::new(p))
                .unwrap()
                .options()
                .clone()
                .unwrap()
        };
        let list = defaults(&d()).unwrap();
        assert!(opts(&list, "/sys").contains(&"ro".to_string()));
        assert!(opts(&list, "/sys/fs/cgroup").contains(&"ro".to_string()));
        let list = defaults(&Defaults {
            writable_sys: true,
            ..d()
        })
        .unwrap();
        assert!(!opts(&list, "/sys").contains(&"ro".to_string()));
        assert!(!opts(&list, "/sys/fs/cgroup").contains(&"ro".to_string()));
    }

    #[test]
    fn tmpfs_options_merge_with_the_last_winning() {
        assert_eq!(
            merge_tmpfs_options(&s(&[
                "noexec", "nosuid", "nodev", "rprivate", "size=1m", "exec", "size=2m"
            ]))
            .unwrap(),
            s(&["nosuid", "nodev", "rprivate", "exec", "size=2m"])
        );
        assert!(merge_tmpfs_options(&s(&["bogus=1"])).is_err());
    }

    #[test]
    fn user_mounts_replace_defaults_and_sort_by_depth() {
        let hc = HostConfig {
            tmpfs: [
                ("/run/x".to_string(), "size=1m".to_string()),
                ("/dev/shm".to_string(), String::new()),
            ]
            .into(),
            ..Default::default()
        };
        let binds = vec![MountSpec {
            source: "/srv/data".into(),
            destination: "/data/".into(),
            options: s(&["ro"]),
        }];
        let user = user_mounts(&binds, &hc).unwrap();
        assert_eq!(user[0].destination(), Path::new("/data"));
        assert_eq!(
            user[0].options().clone().unwrap(),
            s(&["rbind", "ro", "rprivate"])
        );
        let all = combine(defaults(&d()).unwrap(), user);
        let shm: Vec<&Mount> = all
            .iter()
            .filter(|m| m.destination() == Path::new("/dev/shm"))
            .collect();
        assert_eq!(shm.len(), 1);
        assert_eq!(shm[0].source().as_deref(), Some(Path::new("tmpfs")));
        assert_eq!(all.last().unwrap().destination(), Path::new("/run/x"));
    }

    #[test]
    fn duplicate_and_relative_destinations_are_refused() {
        let bind = |dest: &str| MountSpec {
            source: "/a".into(),
            destination: dest.into(),
            options: vec![],
        };
        let e = user_mounts(&[bind("/x"), bind("/x/")], &HostConfig::default()).unwrap_err();
        assert_eq!(e.to_string(), "duplicate mount point: /x");
        assert!(user_mounts(&[bind("x")], &HostConfig::default()).is_err());
    }

    #[test]
    fn shared_binds_make_the_rootfs_shared() {
        let bind = MountSpec {
            source: "/a".into(),
            destination: "/a".into(),
            options: s(&["rshared"]),
        };
        let user = user_mounts(&[bind], &HostConfig::default()).unwrap();
        assert_eq!(rootfs_propagation(&user).as_deref(), Some("rshared"));
        assert_eq!(rootfs_propagation(&defaults(&d()).unwrap()), None);
    }
}
