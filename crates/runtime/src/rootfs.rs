//! The container's filesystem view: rootfs bind, spec mounts (targets resolved inside the
//! rootfs), /dev, pivot_root, masked and read-only paths.

use crate::cgroups::{self, CgroupPaths};
use crate::error::{Error, Result};
use crate::securepath::{fd_path, mkdir_all, open_in_root, touch};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// What rootfs setup needs besides the spec.
pub struct Ctx<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub cgroup: &'a CgroupPaths,
    pub new_cgroupns: bool,
    pub userns: bool,
}

/// Flags, propagation and filesystem data parsed from a mount's options.
#[derive(Debug, PartialEq)]
pub struct MountOpts {
    pub flags: MsFlags,
    pub clear: MsFlags,
    pub propagation: Vec<MsFlags>,
    pub data: Vec<String>,
    pub bind: bool,
}

pub fn parse_options(opts: &[String]) -> MountOpts {
    let mut m = MountOpts {
        flags: MsFlags::empty(),
        clear: MsFlags::empty(),
        propagation: Vec::new(),
        data: Vec::new(),
        bind: false,
    };
    for o in opts {
        let (set, clear) = match o.as_str() {
            "defaults" => (MsFlags::empty(), MsFlags::empty()),
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "bind" => {
                m.bind = true;
                (MsFlags::MS_BIND, MsFlags::empty())
            }
            "rbind" => {
                m.bind = true;
                (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty())
            }
            p => {
                if let Some(f) = propagation_flag(p) {
                    m.propagation.push(f);
                } else {
                    m.data.push(o.clone());
                }
                continue;
            }
        };
        m.flags.insert(set);
        m.flags.remove(clear);
        m.clear.insert(clear);
    }
    m
}

pub fn propagation_flag(name: &str) -> Option<MsFlags> {
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

fn sys_mount(
    src: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
    what: &Path,
) -> Result<()> {
    mount(src, target, fstype, flags, data)
        .map_err(|e| Error::sys(format!("mount {}", what.display()), e))
}

/// Before any mount: stop our mounts from leaking to the host, and make the rootfs a mount.
pub fn prepare_root(ctx: &Ctx) -> Result<()> {
    let prop = ctx
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
        .map(|p| {
            propagation_flag(p)
                .ok_or_else(|| Error::Unsupported(format!("rootfsPropagation {p:?} is unknown")))
        })
        .transpose()?
        .map(|f| f | MsFlags::MS_REC)
        .unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
    sys_mount(None, Path::new("/"), None, prop, None, Path::new("/"))?;
    make_parent_private(ctx.rootfs)?;
    let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
    sys_mount(Some(ctx.rootfs), ctx.rootfs, None, flags, None, ctx.rootfs)
}

/// pivot_root needs the rootfs's parent mount not to be shared.
fn make_parent_private(rootfs: &Path) -> Result<()> {
    let mut dir = rootfs.to_path_buf();
    loop {
        match mount(
            None::<&str>,
            &dir,
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        ) {
            Ok(()) => return Ok(()),
            Err(nix::errno::Errno::EINVAL) if dir.pop() => continue,
            Err(e) => return Err(Error::sys(format!("make {} private", dir.display()), e)),
        }
    }
}

fn open_root(rootfs: &Path) -> Result<OwnedFd> {
    let f = std::fs::File::open(rootfs).map_err(|e| Error::io("open rootfs", rootfs, e))?;
    Ok(f.into())
}

/// All mounts of the spec, then /dev's nodes and links.
pub fn mount_all(ctx: &Ctx) -> Result<()> {
    let root = open_root(ctx.rootfs)?;
    for m in ctx.spec.mounts().iter().flatten() {
        mount_one(ctx, root.as_raw_fd(), m)?;
    }
    create_devices(ctx, root.as_raw_fd())?;
    create_dev_links(root.as_raw_fd())
}

fn reopen(root: i32, dest: &Path) -> Result<OwnedFd> {
    open_in_root(root, dest, libc::O_PATH).map_err(|e| Error::io("open mount target", dest, e))
}

fn mount_one(ctx: &Ctx, root: i32, m: &Mount) -> Result<()> {
    let dest = m.destination();
    let typ = m.typ().as_deref().unwrap_or("none");
    let opts = parse_options(m.options().as_deref().unwrap_or(&[]));
    if typ == "cgroup" || typ == "cgroup2" {
        return mount_cgroup(ctx, root, dest, &opts);
    }
    let data = opts.data.join(",");
    let data = (!data.is_empty()).then_some(data.as_str());
    if opts.bind || typ == "bind" {
        let src = m.source().clone().unwrap_or_default();
        let src = if src.is_absolute() {
            src
        } else {
            ctx.bundle.join(src)
        };
        let meta = std::fs::metadata(&src).map_err(|e| Error::io("bind mount source", &src, e))?;
        if meta.is_dir() {
            mkdir_all(root, dest)?;
        } else {
            touch(root, dest)?;
        }
        let target = reopen(root, dest)?;
        let flags = MsFlags::MS_BIND | (opts.flags & MsFlags::MS_REC);
        sys_mount(Some(&src), &fd_path(&target), None, flags, None, dest)?;
        let extra = opts.flags - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        if !extra.is_empty() {
            let target = reopen(root, dest)?;
            remount(&fd_path(&target), extra, dest)?;
        }
    } else {
        mkdir_all(root, dest)?;
        let target = reopen(root, dest)?;
        let src = m.source().clone().unwrap_or_else(|| PathBuf::from(typ));
        sys_mount(
            Some(&src),
            &fd_path(&target),
            Some(typ),
            opts.flags,
            data,
            dest,
        )?;
    }
    apply_propagation(root, dest, &opts.propagation)
}

fn apply_propagation(root: i32, dest: &Path, props: &[MsFlags]) -> Result<()> {
    for p in props {
        let target = reopen(root, dest)?;
        sys_mount(None, &fd_path(&target), None, *p, None, dest)?;
    }
    Ok(())
}

/// Remount a bind mount with `flags`, keeping the flags the kernel locks (nodev, nosuid, noexec,
/// atime) as they are, so it also works inside a user namespace.
fn remount(target: &Path, flags: MsFlags, what: &Path) -> Result<()> {
    let locked = nix::sys::statvfs::statvfs(target)
        .map(|s| {
            let f = s.flags();
            use nix::sys::statvfs::FsFlags as F;
            let mut m = MsFlags::empty();
            for (a, b) in [
                (F::ST_NOSUID, MsFlags::MS_NOSUID),
                (F::ST_NODEV, MsFlags::MS_NODEV),
                (F::ST_NOEXEC, MsFlags::MS_NOEXEC),
                (F::ST_NOATIME, MsFlags::MS_NOATIME),
                (F::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
                (F::ST_RELATIME, MsFlags::MS_RELATIME),
            ] {
                if f.contains(a) {
                    m |= b;
                }
            }
            m
        })
        .unwrap_or(MsFlags::empty());
    let all = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags | locked;
    sys_mount(None, target, None, all, None, what)
}

/// `/sys/fs/cgroup` inside the container: the container's own cgroups, never the host's tree.
fn mount_cgroup(ctx: &Ctx, root: i32, dest: &Path, opts: &MountOpts) -> Result<()> {
    mkdir_all(root, dest)?;
    let flags = opts.flags - MsFlags::MS_RDONLY;
    match ctx.cgroup {
        CgroupPaths::V2 { dir, .. } => {
            let target = reopen(root, dest)?;
            if ctx.new_cgroupns {
                sys_mount(
                    Some(Path::new("cgroup2")),
                    &fd_path(&target),
                    Some("cgroup2"),
                    opts.flags,
                    None,
                    dest,
                )
            } else {
                sys_mount(
                    Some(dir),
                    &fd_path(&target),
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None,
                    dest,
                )?;
                let target = reopen(root, dest)?;
                remount(
                    &fd_path(&target),
                    flags | (opts.flags & MsFlags::MS_RDONLY),
                    dest,
                )
            }
        }
        CgroupPaths::V1 { dirs, .. } => {
            let target = reopen(root, dest)?;
            let tmpfs = Path::new("tmpfs");
            sys_mount(
                Some(tmpfs),
                &fd_path(&target),
                Some("tmpfs"),
                flags,
                Some("mode=755"),
                dest,
            )?;
            for h in cgroups::v1_hierarchies()? {
                mount_v1_hierarchy(ctx, root, dest, opts, dirs, &h)?;
            }
            if opts.flags.contains(MsFlags::MS_RDONLY) {
                let target = reopen(root, dest)?;
                sys_mount(
                    None,
                    &fd_path(&target),
                    None,
                    MsFlags::MS_REMOUNT | flags | MsFlags::MS_RDONLY,
                    Some("mode=755"),
                    dest,
                )?;
            }
            Ok(())
        }
    }
}

fn mount_v1_hierarchy(
    ctx: &Ctx,
    root: i32,
    dest: &Path,
    opts: &MountOpts,
    dirs: &std::collections::BTreeMap<String, PathBuf>,
    h: &cgroups::Hierarchy,
) -> Result<()> {
    let Some(dir) = h.subsystems.iter().find_map(|s| dirs.get(s)) else {
        return Ok(());
    };
    let name = h.subsystems.join(",");
    let short = name.strip_prefix("name=").unwrap_or(&name).to_string();
    let sub = dest.join(&short);
    mkdir_all(root, &sub)?;
    let target = reopen(root, &sub)?;
    let flags = opts.flags - MsFlags::MS_RDONLY;
    if ctx.new_cgroupns {
        sys_mount(
            Some(Path::new("cgroup")),
            &fd_path(&target),
            Some("cgroup"),
            flags,
            Some(&name),
            &sub,
        )?;
    } else {
        sys_mount(
            Some(dir),
            &fd_path(&target),
            None,
            MsFlags::MS_BIND,
            None,
            &sub,
        )?;
    }
    let target = reopen(root, &sub)?;
    remount(
        &fd_path(&target),
        flags | (opts.flags & MsFlags::MS_RDONLY),
        &sub,
    )?;
    if h.subsystems.len() > 1 {
        let dev = open_in_root(root, dest, libc::O_PATH | libc::O_DIRECTORY)
            .map_err(|e| Error::io("open", dest, e))?;
        for s in &h.subsystems {
            symlink_at(dev.as_raw_fd(), &short, s);
        }
    }
    Ok(())
}

fn symlink_at(dir: i32, target: &str, name: &str) {
    let (Ok(t), Ok(n)) = (CString::new(target), CString::new(name)) else {
        return;
    };
    // SAFETY: both are valid C strings; `dir` is an open directory descriptor. An existing
    // entry (EEXIST) is fine, so the result is ignored.
    unsafe { libc::symlinkat(t.as_ptr(), dir, n.as_ptr()) };
}

/// The devices every container gets, as runc creates them.
fn default_devices() -> Vec<(&'static str, u64, u64)> {
    vec![
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ]
}

fn create_devices(ctx: &Ctx, root: i32) -> Result<()> {
    for (path, major, minor) in default_devices() {
        let dev = LinuxDevice::default();
        let mut dev = dev;
        dev.set_path(PathBuf::from(path));
        dev.set_typ(LinuxDeviceType::C);
        dev.set_major(major as i64);
        dev.set_minor(minor as i64);
        dev.set_file_mode(Some(0o666));
        dev.set_uid(Some(0));
        dev.set_gid(Some(0));
        make_device(ctx, root, &dev)?;
    }
    for dev in ctx
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
    {
        make_device(ctx, root, dev)?;
    }
    Ok(())
}

fn make_device(ctx: &Ctx, root: i32, dev: &LinuxDevice) -> Result<()> {
    let path = dev.path();
    if ctx.userns {
        touch(root, path)?;
        let target = reopen(root, path)?;
        return sys_mount(
            Some(path),
            &fd_path(&target),
            None,
            MsFlags::MS_BIND,
            None,
            path,
        );
    }
    let (parent, name) = crate::securepath::split(path)?;
    let dir = mkdir_all(root, &parent)?;
    let kind = match dev.typ() {
        LinuxDeviceType::B => libc::S_IFBLK,
        LinuxDeviceType::P => libc::S_IFIFO,
        _ => libc::S_IFCHR,
    };
    let mode = kind | dev.file_mode().unwrap_or(0o666);
    let rdev = libc::makedev(dev.major() as u32, dev.minor() as u32);
    let c = CString::new(name.as_encoded_bytes()).expect("no NUL in a path component");
    // SAFETY: `dir` is an open directory fd, `c` a valid C string; an old entry is replaced.
    unsafe {
        libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0);
    }
    // SAFETY: as above; mknodat only reads its arguments.
    if unsafe { libc::mknodat(dir.as_raw_fd(), c.as_ptr(), mode, rdev) } != 0 {
        return Err(Error::io("mknod", path, std::io::Error::last_os_error()));
    }
    let (uid, gid) = (dev.uid().unwrap_or(0), dev.gid().unwrap_or(0));
    // SAFETY: `c` names the node just made in `dir`; AT_SYMLINK_NOFOLLOW keeps it there.
    if unsafe {
        libc::fchownat(
            dir.as_raw_fd(),
            c.as_ptr(),
            uid,
            gid,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    } != 0
    {
        return Err(Error::io("chown", path, std::io::Error::last_os_error()));
    }
    Ok(())
}

fn create_dev_links(root: i32) -> Result<()> {
    let Ok(dev) = open_in_root(root, Path::new("/dev"), libc::O_PATH | libc::O_DIRECTORY) else {
        return Ok(());
    };
    let kcore = Path::new("/proc/kcore").exists();
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
        ("core", "/proc/kcore"),
    ] {
        if name == "core" && !kcore {
            continue;
        }
        symlink_at(dev.as_raw_fd(), target, name);
    }
    Ok(())
}

/// Make the rootfs the container's `/`: pivot_root, or a move + chroot with `--no-pivot`.
pub fn enter_root(rootfs: &Path, no_pivot: bool) -> Result<()> {
    if no_pivot {
        nix::unistd::chdir(rootfs).map_err(|e| Error::sys("chdir rootfs", e))?;
        sys_mount(
            Some(rootfs),
            Path::new("/"),
            None,
            MsFlags::MS_MOVE,
            None,
            rootfs,
        )?;
        nix::unistd::chroot(".").map_err(|e| Error::sys("chroot", e))?;
    } else {
        let old = std::fs::File::open("/").map_err(|e| Error::io("open", "/", e))?;
        nix::unistd::chdir(rootfs).map_err(|e| Error::sys("chdir rootfs", e))?;
        nix::unistd::pivot_root(".", ".").map_err(|e| Error::sys("pivot_root", e))?;
        nix::unistd::fchdir(&old).map_err(|e| Error::sys("fchdir old root", e))?;
        let slave = MsFlags::MS_SLAVE | MsFlags::MS_REC;
        sys_mount(
            None,
            Path::new("."),
            None,
            slave,
            None,
            Path::new("old root"),
        )?;
        umount2(".", MntFlags::MNT_DETACH).map_err(|e| Error::sys("unmount old root", e))?;
    }
    nix::unistd::chdir("/").map_err(|e| Error::sys("chdir /", e))
}

/// After pivot: masked and read-only paths, a read-only root, the rootfs propagation.
pub fn finalize(spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    for p in linux
        .and_then(|l| l.readonly_paths().as_ref())
        .into_iter()
        .flatten()
    {
        readonly_path(Path::new(p))?;
    }
    for p in linux
        .and_then(|l| l.masked_paths().as_ref())
        .into_iter()
        .flatten()
    {
        mask_path(Path::new(p))?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        remount(Path::new("/"), MsFlags::MS_RDONLY, Path::new("/"))?;
    }
    if let Some(p) = linux.and_then(|l| l.rootfs_propagation().as_deref()) {
        let f = propagation_flag(p).unwrap_or(MsFlags::MS_PRIVATE);
        sys_mount(None, Path::new("/"), None, f, None, Path::new("/"))?;
    }
    Ok(())
}

fn readonly_path(p: &Path) -> Result<()> {
    match mount(
        Some(p),
        p,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    ) {
        Ok(()) => remount(p, MsFlags::MS_RDONLY, p),
        Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(e) => Err(Error::sys(format!("bind {} read-only", p.display()), e)),
    }
}

fn mask_path(p: &Path) -> Result<()> {
    let res = if p.is_dir() {
        let flags = MsFlags::MS_RDONLY;
        mount(Some("tmpfs"), p, Some("tmpfs"), flags, None::<&str>)
    } else {
        mount(
            Some("/dev/null"),
            p,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
    };
    match res {
        Ok(()) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(e) => Err(Error::sys(format!("mask {}", p.display()), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[&str]) -> MountOpts {
        parse_options(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn options_split_into_flags_propagation_and_data() {
        let m = opts(&["nosuid", "ro", "mode=755", "size=65536k", "rslave"]);
        assert_eq!(m.flags, MsFlags::MS_NOSUID | MsFlags::MS_RDONLY);
        assert_eq!(m.data, vec!["mode=755", "size=65536k"]);
        assert_eq!(m.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
        assert!(!m.bind);
        let b = opts(&["rbind", "ro", "rw"]);
        assert!(b.bind);
        assert_eq!(b.flags, MsFlags::MS_BIND | MsFlags::MS_REC);
    }
}
