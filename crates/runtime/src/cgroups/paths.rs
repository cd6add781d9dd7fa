//! Where a container's cgroup lives: resolving `linux.cgroupsPath` against the
//! caller's cgroups (/proc/self/cgroup) and the mounted hierarchies
//! (/proc/self/mountinfo), as runc's fs driver does.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{host_mode, Error, HostMode, Result};

/// Directories of one container's cgroup. Resolve once, persist (serde) and
/// reuse: `created_below` records what existed at resolve time so that
/// `destroy` removes exactly the directories `create` made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CgroupPaths {
    /// cgroup v1: one directory per hierarchy.
    V1 {
        /// Subsystem ("memory", "cpu", "name=systemd", ...) → absolute cgroup dir.
        /// Co-mounted subsystems ("cpu,cpuacct") map to the same dir.
        dirs: BTreeMap<String, PathBuf>,
        /// Subsystem → deepest ancestor of its dir that already existed;
        /// `destroy` removes directories strictly below it.
        created_below: BTreeMap<String, PathBuf>,
    },
    /// cgroup v2: one directory in the unified hierarchy.
    V2 {
        /// The cgroup2 mount point (e.g. /sys/fs/cgroup).
        mount: PathBuf,
        /// Absolute cgroup dir.
        dir: PathBuf,
        /// Deepest ancestor of `dir` that already existed.
        created_below: PathBuf,
    },
}

/// A mounted cgroup v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted, e.g. /sys/fs/cgroup/memory.
    pub mountpoint: PathBuf,
    /// Its subsystems, e.g. ["cpu", "cpuacct"] or ["name=systemd"].
    pub subsystems: Vec<String>,
    /// The cgroup mounted there (mountinfo's root field), usually "/".
    pub root: PathBuf,
}

/// One line of /proc/self/cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProcCgroup {
    pub(crate) controllers: Vec<String>,
    pub(crate) path: PathBuf,
}

/// The cgroup-related fields of one mountinfo line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mount {
    pub(crate) root: PathBuf,
    pub(crate) mountpoint: PathBuf,
    pub(crate) fstype: String,
    pub(crate) super_opts: Vec<String>,
}

/// The requested cgroup path, split into where it is anchored and the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// True for "/foo": below the hierarchy root; false: below the caller's cgroup.
    pub(crate) absolute: bool,
    pub(crate) rel: PathBuf,
}

impl CgroupPaths {
    /// Resolves `linux.cgroupsPath` on the real host: absolute → under each
    /// hierarchy's mount; relative → under the caller's cgroup; None or
    /// empty → `id` relative to the caller's cgroup.
    pub fn resolve(cgroups_path: Option<&str>, id: &str) -> Result<Self> {
        let proc_cgroup = read_proc("/proc/self/cgroup")?;
        let mountinfo = read_proc("/proc/self/mountinfo")?;
        let target = Target::parse(cgroups_path, id)?;
        let procs = parse_proc_cgroup(&proc_cgroup);
        let mounts = parse_mountinfo(&mountinfo);
        let mut paths = resolve_from(host_mode(), &procs, &mounts, &target)?;
        paths.fill_created_below(|p| p.exists());
        Ok(paths)
    }

    /// Sets `created_below` to the deepest existing ancestor of each dir.
    pub(crate) fn fill_created_below(&mut self, exists: impl Fn(&Path) -> bool) {
        match self {
            CgroupPaths::V1 {
                dirs,
                created_below,
            } => {
                *created_below = dirs
                    .iter()
                    .map(|(k, d)| (k.clone(), deepest_existing_ancestor(d, &exists)))
                    .collect();
            }
            CgroupPaths::V2 {
                dir, created_below, ..
            } => *created_below = deepest_existing_ancestor(dir, &exists),
        }
    }
}

fn deepest_existing_ancestor(dir: &Path, exists: &impl Fn(&Path) -> bool) -> PathBuf {
    dir.ancestors()
        .skip(1)
        .find(|a| exists(a))
        .unwrap_or(Path::new("/"))
        .to_path_buf()
}

impl Target {
    pub(crate) fn parse(cgroups_path: Option<&str>, id: &str) -> Result<Self> {
        let raw = cgroups_path.filter(|p| !p.is_empty()).unwrap_or(id);
        let absolute = raw.starts_with('/');
        let mut rel = PathBuf::new();
        for c in Path::new(raw).components() {
            match c {
                Component::Normal(n) => rel.push(n),
                Component::RootDir | Component::CurDir => {}
                _ => return Err(invalid_path(raw, "must not contain \"..\"")),
            }
        }
        if rel.as_os_str().is_empty() {
            // "/" would make the hierarchy root the container's cgroup.
            return Err(invalid_path(raw, "must name a cgroup below the root"));
        }
        Ok(Target { absolute, rel })
    }
}

fn invalid_path(raw: &str, reason: &'static str) -> Error {
    Error::Invalid {
        what: "cgroups path",
        value: raw.to_string(),
        reason,
    }
}

fn read_proc(path: &str) -> Result<String> {
    fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.into(),
        source,
    })
}

/// Builds the paths (without `created_below`) from parsed host data.
pub(crate) fn resolve_from(
    mode: HostMode,
    procs: &[ProcCgroup],
    mounts: &[Mount],
    target: &Target,
) -> Result<CgroupPaths> {
    match mode {
        HostMode::V1 => resolve_v1(procs, mounts, target),
        HostMode::V2 => resolve_v2(procs, mounts, target),
    }
}

fn resolve_v1(procs: &[ProcCgroup], mounts: &[Mount], target: &Target) -> Result<CgroupPaths> {
    let mut dirs = BTreeMap::new();
    for proc in procs.iter().filter(|p| !p.controllers.is_empty()) {
        let Some(mount) = find_v1_mount(mounts, proc) else {
            continue;
        };
        let dir = cgroup_dir(mount, &proc.path, target);
        for c in &proc.controllers {
            dirs.insert(c.clone(), dir.clone());
        }
    }
    if dirs.is_empty() {
        return Err(Error::NoHierarchy { what: "v1" });
    }
    Ok(CgroupPaths::V1 {
        dirs,
        created_below: BTreeMap::new(),
    })
}

fn resolve_v2(procs: &[ProcCgroup], mounts: &[Mount], target: &Target) -> Result<CgroupPaths> {
    let own = procs
        .iter()
        .find(|p| p.controllers.is_empty())
        .map(|p| p.path.clone())
        .unwrap_or_else(|| PathBuf::from("/"));
    let mount = mounts
        .iter()
        .filter(|m| m.fstype == "cgroup2")
        .find(|m| own.starts_with(&m.root))
        .ok_or(Error::NoHierarchy { what: "v2" })?;
    Ok(CgroupPaths::V2 {
        mount: mount.mountpoint.clone(),
        dir: cgroup_dir(mount, &own, target),
        created_below: mount.mountpoint.clone(),
    })
}

fn find_v1_mount<'a>(mounts: &'a [Mount], proc: &ProcCgroup) -> Option<&'a Mount> {
    let candidates = mounts.iter().filter(|m| {
        m.fstype == "cgroup" && proc.controllers.iter().all(|c| m.super_opts.contains(c))
    });
    let candidates: Vec<&Mount> = candidates.collect();
    candidates
        .iter()
        .find(|m| proc.path.starts_with(&m.root))
        .or(candidates.first())
        .copied()
}

/// The directory for `target` in the hierarchy mounted at `mount`, where the
/// caller's own cgroup is `own`.
fn cgroup_dir(mount: &Mount, own: &Path, target: &Target) -> PathBuf {
    if target.absolute {
        return mount.mountpoint.join(&target.rel);
    }
    let below_root = own.strip_prefix(&mount.root).unwrap_or(own);
    let below_root = below_root.strip_prefix("/").unwrap_or(below_root);
    mount.mountpoint.join(below_root).join(&target.rel)
}

/// Parses /proc/self/cgroup ("id:controllers:path" lines).
pub(crate) fn parse_proc_cgroup(text: &str) -> Vec<ProcCgroup> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?;
            let path = parts.next()?;
            Some(ProcCgroup {
                controllers: controllers
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(String::from)
                    .collect(),
                path: PathBuf::from(path),
            })
        })
        .collect()
}

/// Parses the cgroup and cgroup2 mounts out of /proc/self/mountinfo.
pub(crate) fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_mountinfo_line).collect()
}

fn parse_mountinfo_line(line: &str) -> Option<Mount> {
    let (left, right) = line.split_once(" - ")?;
    let fields: Vec<&str> = left.split(' ').collect();
    let mut right = right.split(' ');
    let fstype = right.next()?;
    if fstype != "cgroup" && fstype != "cgroup2" {
        return None;
    }
    let _source = right.next()?;
    let super_opts = right.next().unwrap_or("");
    Some(Mount {
        root: PathBuf::from(unescape(fields.get(3)?)),
        mountpoint: PathBuf::from(unescape(fields.get(4)?)),
        fstype: fstype.to_string(),
        super_opts: super_opts.split(',').map(String::from).collect(),
    })
}

/// Undoes mountinfo's octal escapes ("\040" for a space).
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            let d = std::str::from_utf8(d).ok()?;
            u8::from_str_radix(d, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(b)) => {
                out.push(b);
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mounted cgroup v1 hierarchies of the host.
pub fn v1_hierarchies() -> Result<Vec<Hierarchy>> {
    let known = known_subsystems(&read_proc("/proc/cgroups")?);
    let mounts = parse_mountinfo(&read_proc("/proc/self/mountinfo")?);
    Ok(hierarchies_from(&mounts, &known))
}

/// Subsystem names listed in /proc/cgroups.
pub(crate) fn known_subsystems(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect()
}

pub(crate) fn hierarchies_from(mounts: &[Mount], known: &BTreeSet<String>) -> Vec<Hierarchy> {
    mounts
        .iter()
        .filter(|m| m.fstype == "cgroup")
        .map(|m| Hierarchy {
            mountpoint: m.mountpoint.clone(),
            subsystems: m
                .super_opts
                .iter()
                .filter(|o| known.contains(*o) || o.starts_with("name="))
                .cloned()
                .collect(),
            root: m.root.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/sys\\040temd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
";
    const PROC_CGROUP: &str = "\
9:name=systemd:/user.slice
4:memory:/process_api/abc
2:cpu,cpuacct:/
0::/user.slice/x.scope
";

    fn resolve_fake(mode: HostMode, path: Option<&str>) -> CgroupPaths {
        let target = Target::parse(path, "ctr1").unwrap();
        let procs = parse_proc_cgroup(PROC_CGROUP);
        let mounts = parse_mountinfo(MOUNTINFO);
        resolve_from(mode, &procs, &mounts, &target).unwrap()
    }

    fn v1_dirs(p: &CgroupPaths) -> BTreeMap<String, PathBuf> {
        match p {
            CgroupPaths::V1 { dirs, .. } => dirs.clone(),
            other => panic!("expected v1 paths, got {other:?}"),
        }
    }

    #[test]
    fn v1_relative_nests_under_callers_cgroup_per_hierarchy() {
        let dirs = v1_dirs(&resolve_fake(HostMode::V1, Some("a/b")));
        assert_eq!(
            dirs["memory"],
            Path::new("/sys/fs/cgroup/memory/process_api/abc/a/b")
        );
        assert_eq!(dirs["cpu"], Path::new("/sys/fs/cgroup/cpu,cpuacct/a/b"));
        assert_eq!(dirs["cpuacct"], dirs["cpu"]);
        assert_eq!(
            dirs["name=systemd"],
            Path::new("/sys/fs/cgroup/sys temd/user.slice/a/b")
        );
        assert_eq!(dirs.len(), 4);
    }

    #[test]
    fn v1_absolute_and_default_paths() {
        let dirs = v1_dirs(&resolve_fake(HostMode::V1, Some("/x/y")));
        assert_eq!(dirs["memory"], Path::new("/sys/fs/cgroup/memory/x/y"));
        let dirs = v1_dirs(&resolve_fake(HostMode::V1, None));
        assert_eq!(
            dirs["memory"],
            Path::new("/sys/fs/cgroup/memory/process_api/abc/ctr1")
        );
        let dirs = v1_dirs(&resolve_fake(HostMode::V1, Some("")));
        assert_eq!(dirs["cpu"], Path::new("/sys/fs/cgroup/cpu,cpuacct/ctr1"));
    }

    #[test]
    fn v2_paths_and_created_below() {
        let mut p = resolve_fake(HostMode::V2, Some("/a/b/c"));
        p.fill_created_below(|d| {
            d == Path::new("/sys/fs/cgroup/unified/a") || d.ends_with("unified")
        });
        let expected = CgroupPaths::V2 {
            mount: "/sys/fs/cgroup/unified".into(),
            dir: "/sys/fs/cgroup/unified/a/b/c".into(),
            created_below: "/sys/fs/cgroup/unified/a".into(),
        };
        assert_eq!(p, expected);
        match resolve_fake(HostMode::V2, None) {
            CgroupPaths::V2 { dir, .. } => {
                assert_eq!(
                    dir,
                    Path::new("/sys/fs/cgroup/unified/user.slice/x.scope/ctr1")
                )
            }
            other => panic!("expected v2, got {other:?}"),
        }
    }

    #[test]
    fn dotdot_is_rejected() {
        assert!(Target::parse(Some("/a/../../etc"), "x").is_err());
        assert!(Target::parse(Some("a/.."), "x").is_err());
        assert!(Target::parse(Some("/"), "x").is_err());
    }

    #[test]
    fn hierarchies_keep_only_subsystems() {
        let known = known_subsystems(
            "#subsys_name\thierarchy\nmemory\t4\t1\t1\ncpu\t2\t1\t1\ncpuacct\t2\t1\t1\n",
        );
        let h = hierarchies_from(&parse_mountinfo(MOUNTINFO), &known);
        let subs: Vec<Vec<String>> = h.iter().map(|h| h.subsystems.clone()).collect();
        assert_eq!(
            subs,
            [vec!["cpu", "cpuacct"], vec!["memory"], vec!["name=systemd"]]
        );
        assert_eq!(h[0].root, Path::new("/"));
    }

    #[test]
    fn resolve_on_this_host() {
        let own = parse_proc_cgroup(&fs::read_to_string("/proc/self/cgroup").unwrap());
        match (
            host_mode(),
            CgroupPaths::resolve(Some("rel-x"), "id").unwrap(),
        ) {
            (
                HostMode::V1,
                CgroupPaths::V1 {
                    dirs,
                    created_below,
                },
            ) => {
                let mem = own.iter().find(|p| p.controllers == ["memory"]).unwrap();
                let rel = mem.path.strip_prefix("/").unwrap();
                let mount = v1_hierarchies()
                    .unwrap()
                    .into_iter()
                    .find(|h| h.subsystems == ["memory"]);
                let mount = mount.unwrap().mountpoint;
                assert_eq!(dirs["memory"], mount.join(rel).join("rel-x"));
                assert_eq!(created_below["memory"], mount.join(rel));
                let abs = CgroupPaths::resolve(Some("/abs-x/y"), "id").unwrap();
                assert_eq!(v1_dirs(&abs)["memory"], mount.join("abs-x/y"));
                let none = CgroupPaths::resolve(None, "id").unwrap();
                assert_eq!(v1_dirs(&none)["memory"], mount.join(rel).join("id"));
            }
            (HostMode::V2, CgroupPaths::V2 { dir, .. }) => {
                assert!(dir.ends_with("rel-x"), "{dir:?}");
            }
            (mode, p) => panic!("host mode {mode:?} but resolved {p:?}"),
        }
    }
}
