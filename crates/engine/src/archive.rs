//! A container's files from outside: `cp` both ways (`/containers/{id}/archive`), `export`
//! (a tar of the root filesystem) and `diff` (changes in the overlay's upper directory).
//!
//! Copies work on a view of the container made in a private mount namespace of one thread:
//! the rootfs (mounted there if the container is stopped) with the container's volumes and
//! binds on top, read-only ones read-only, as Docker does it. When the thread ends the view
//! goes. Paths are resolved inside that rootfs with `openat2(RESOLVE_IN_ROOT)` and walked by
//! descriptor with `O_NOFOLLOW`, so no symlink or `..` reaches the host; every write goes
//! through the image crate's confined `*at` helpers.

use crate::container::Container;
use crate::engine::{Engine, EngineError, Kind};
use crate::volume::copy::attrs_of;
use image::layer::safe::{self, Root};
use std::ffi::{CString, OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// What Docker's `X-Docker-Container-Path-Stat` header carries (base64 of this JSON).
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    /// Go's `os.FileMode`: permission bits and type bits.
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// One entry of `diff`: Docker's kinds 0 modified, 1 added, 2 deleted.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct Change {
    #[serde(rename = "Path")]
    pub path: String,
    #[serde(rename = "Kind")]
    pub kind: u8,
}

fn err(kind: Kind, msg: impl Into<String>) -> EngineError {
    EngineError::new(kind, msg)
}

fn internal(what: &str, e: impl std::fmt::Display) -> EngineError {
    err(Kind::Internal, format!("{what}: {e}"))
}

const GO_DIR: u32 = 1 << 31;
const GO_SYMLINK: u32 = 1 << 27;
const GO_DEVICE: u32 = 1 << 26;
const GO_PIPE: u32 = 1 << 25;
const GO_SOCKET: u32 = 1 << 24;
const GO_SETUID: u32 = 1 << 23;
const GO_SETGID: u32 = 1 << 22;
const GO_CHARDEV: u32 = 1 << 21;
const GO_STICKY: u32 = 1 << 20;

/// A stat mode as Go's `os.FileMode`.
pub fn go_mode(st_mode: u32) -> u32 {
    let mut m = st_mode & 0o777;
    m |= match st_mode & libc::S_IFMT {
        libc::S_IFDIR => GO_DIR,
        libc::S_IFLNK => GO_SYMLINK,
        libc::S_IFBLK => GO_DEVICE,
        libc::S_IFCHR => GO_DEVICE | GO_CHARDEV,
        libc::S_IFIFO => GO_PIPE,
        libc::S_IFSOCK => GO_SOCKET,
        _ => 0,
    };
    for (bit, go) in [
        (libc::S_ISUID, GO_SETUID),
        (libc::S_ISGID, GO_SETGID),
        (libc::S_ISVTX, GO_STICKY),
    ] {
        if st_mode & bit != 0 {
            m |= go;
        }
    }
    m
}

/// A requested container path as Docker reads it: the directory to resolve (following
/// symlinks inside the rootfs) and the final element, kept as given (`""` for a trailing
/// `/`, `"."` for a trailing `/.`).
#[derive(Debug, PartialEq, Eq)]
pub struct Requested {
    pub dir: PathBuf,
    pub base: OsString,
}

pub fn split_request(path: &str) -> Requested {
    let abs = format!("/{}", path.trim_start_matches('/'));
    let (dir, base) = abs.rsplit_once('/').unwrap_or(("", &abs));
    let base = if base == ".." { "" } else { base };
    let mut dir = clean(Path::new(dir));
    if base.is_empty() && abs.ends_with("/..") {
        dir = clean(&dir.join(".."));
    }
    Requested {
        dir,
        base: OsString::from(base),
    }
}

/// `/a/../b/./c` → `/b/c`, clamped at `/`.
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

fn rfc3339(secs: i64, nanos: i64) -> String {
    let base = image::archive::rfc3339(secs);
    if nanos == 0 {
        return base;
    }
    let frac = format!("{nanos:09}");
    format!(
        "{}.{}Z",
        base.trim_end_matches('Z'),
        frac.trim_end_matches('0')
    )
}

fn fd_path(fd: RawFd) -> PathBuf {
    PathBuf::from(format!("/proc/thread-self/fd/{fd}"))
}

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A container's filesystem as seen from a private mount namespace of the current thread.
pub struct View<'a> {
    pub rootfs: PathBuf,
    root: Root,
    c: &'a Container,
}

impl Engine {
    /// Run `f` on a view of the container's files (rootfs, volumes and binds) in a thread
    /// with its own mount namespace; nothing made there outlives the thread.
    pub fn with_view<T: Send>(
        &self,
        c: &Container,
        with_mounts: bool,
        f: impl FnOnce(&View) -> Result<T, EngineError> + Send,
    ) -> Result<T, EngineError> {
        std::thread::scope(|s| {
            s.spawn(|| {
                let view = self.make_view(c, with_mounts)?;
                f(&view)
            })
            .join()
            .unwrap_or_else(|_| Err(err(Kind::Internal, "archive worker panicked")))
        })
    }

    fn make_view<'a>(&self, c: &'a Container, with_mounts: bool) -> Result<View<'a>, EngineError> {
        // SAFETY: unshare only detaches this thread's mount namespace and fs attributes.
        check(unsafe { libc::unshare(libc::CLONE_NEWNS | libc::CLONE_FS) })
            .map_err(|e| internal("unshare mount namespace", e))?;
        // SAFETY: the pointers are valid C strings; nothing here propagates to the host.
        check(unsafe {
            libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_SLAVE,
                std::ptr::null(),
            )
        })
        .map_err(|e| internal("make mounts private", e))?;
        let dir = self.rootfs_dir(&c.id);
        let merged = dir.join("merged");
        if !mounted_here(&merged) {
            std::fs::create_dir_all(&dir).map_err(|e| internal("create rootfs dir", e))?;
            self.images.mount(&c.image, &dir)?.leak();
        }
        let root = Root::open(&merged).map_err(|e| internal("open rootfs", e))?;
        let view = View {
            rootfs: merged,
            root,
            c,
        };
        if with_mounts {
            for mp in &c.mounts {
                view.bind(&mp.source, &mp.destination, mp.rw)
                    .map_err(|e| internal(&format!("mount {}", mp.destination.display()), e))?;
            }
        }
        Ok(view)
    }
}

/// Whether `p` is a mount point in this thread's namespace.
fn mounted_here(p: &Path) -> bool {
    let text = std::fs::read_to_string("/proc/thread-self/mountinfo").unwrap_or_default();
    let want = p.to_string_lossy();
    text.lines().any(|l| l.split(' ').nth(4) == Some(&want))
}

impl View<'_> {
    /// Bind `source` at `dest` inside the rootfs (resolved in it), read-only unless `rw`.
    fn bind(&self, source: &Path, dest: &Path, rw: bool) -> io::Result<()> {
        let is_dir = std::fs::metadata(source)?.is_dir();
        let target = if is_dir {
            self.root.mkdir_all(dest)?
        } else {
            let (parent, name) = self
                .root
                .parent_of(dest)?
                .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
            if safe::lstat_at(parent.as_raw_fd(), &name)?.is_none() {
                safe::open_at(
                    parent.as_raw_fd(),
                    &name,
                    libc::O_CREAT | libc::O_WRONLY,
                    0o644,
                )?;
            }
            safe::open_at(parent.as_raw_fd(), &name, libc::O_PATH, 0)?
        };
        let (src, dst) = (cstr(source)?, cstr(&fd_path(target.as_raw_fd()))?);
        // SAFETY: valid C strings; the target is our descriptor's magic link.
        check(unsafe {
            libc::mount(
                src.as_ptr(),
                dst.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND | libc::MS_REC,
                std::ptr::null(),
            )
        })?;
        if !rw {
            let t = self.root.open_dir(dest).or_else(|_| {
                let (p, n) = self.root.existing_parent_of(dest)?;
                safe::open_at(p.as_raw_fd(), &n, libc::O_PATH, 0)
            })?;
            let dst = cstr(&fd_path(t.as_raw_fd()))?;
            // SAFETY: as above; a bind remount changes only this mount's flags.
            check(unsafe {
                libc::mount(
                    std::ptr::null(),
                    dst.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY,
                    std::ptr::null(),
                )
            })?;
        }
        Ok(())
    }

    fn not_found(&self, path: &str) -> EngineError {
        err(
            Kind::NotFound,
            format!(
                "Could not find the file {path} in container {}",
                self.c.name.trim_start_matches('/')
            ),
        )
    }

    fn resolve_dir(&self, path: &str, dir: &Path) -> Result<OwnedFd, EngineError> {
        self.root.open_dir(dir).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => self.not_found(path),
            _ => internal(&format!("open {path}"), e),
        })
    }

    /// Resolve a requested path: the directory holding it and the final name (`None`: the
    /// directory itself is meant), and the stat Docker reports.
    pub fn stat(&self, path: &str) -> Result<(OwnedFd, Option<OsString>, PathStat), EngineError> {
        let req = split_request(path);
        let dirfd = self.resolve_dir(path, &req.dir)?;
        let (st, name, base) = if req.base.is_empty() || req.base == "." {
            let st = fstat(dirfd.as_raw_fd()).map_err(|e| internal("stat", e))?;
            let shown = req
                .dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "/".into());
            (st, shown, None)
        } else {
            let st = safe::lstat_at(dirfd.as_raw_fd(), &req.base)
                .map_err(|e| internal(&format!("stat {path}"), e))?
                .ok_or_else(|| self.not_found(path))?;
            (
                st,
                req.base.to_string_lossy().into_owned(),
                Some(req.base.clone()),
            )
        };
        let link_target = if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
            self.link_target(&req.dir.join(&req.base))
        } else {
            String::new()
        };
        let stat = PathStat {
            name,
            size: st.st_size,
            mode: go_mode(st.st_mode),
            mtime: rfc3339(st.st_mtime, st.st_mtime_nsec),
            link_target,
        };
        Ok((dirfd, base, stat))
    }

    /// Where a symlink leads, resolved inside the rootfs, as a container path.
    fn link_target(&self, p: &Path) -> String {
        let Ok(fd) = runtime::securepath::open_in_root(self.root.fd(), p, libc::O_PATH) else {
            return String::new();
        };
        let real = std::fs::read_link(fd_path(fd.as_raw_fd())).unwrap_or_default();
        let root = std::fs::read_link(fd_path(self.root.fd())).unwrap_or_default();
        match real.strip_prefix(&root) {
            Ok(rel) => format!("/{}", rel.display()),
            Err(_) => String::new(),
        }
    }

    /// Write a tar of the requested path to `out`, entries named as Docker names them.
    pub fn tar_path(
        &self,
        dirfd: &OwnedFd,
        base: Option<&OsStr>,
        stat: &PathStat,
        dot: bool,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let mut b = tar::Builder::new(out);
        match base {
            Some(name) => add_entry(&mut b, dirfd.as_raw_fd(), name, Path::new(&stat.name))?,
            None => {
                let top = if dot {
                    PathBuf::from(".")
                } else {
                    PathBuf::from(&stat.name)
                };
                add_dir(&mut b, dirfd.as_raw_fd(), &top)?;
            }
        }
        b.finish()
    }

    /// Extract a tar into the directory `path` (resolved in the rootfs, symlinks followed
    /// inside it), refusing read-only places as Docker does.
    pub fn extract(
        &self,
        path: &str,
        tar_stream: &mut dyn Read,
        no_overwrite_dir_non_dir: bool,
    ) -> Result<(), EngineError> {
        let abs = clean(Path::new(&format!("/{path}")));
        let dir = self
            .root
            .open_dir(&abs)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ENOENT) => self.not_found(path),
                Some(libc::ENOTDIR) => err(Kind::Invalid, "extraction point is not a directory"),
                _ => internal(&format!("open {path}"), e),
            })?;
        self.check_writable(dir.as_raw_fd())?;
        let root = Root::open(&fd_path(dir.as_raw_fd())).map_err(|e| internal("open", e))?;
        let mut archive = tar::Archive::new(tar_stream);
        let entries = archive
            .entries()
            .map_err(|e| err(Kind::Invalid, format!("read archive: {e}")))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| err(Kind::Invalid, format!("read archive: {e}")))?;
            extract_entry(&root, &mut entry, no_overwrite_dir_non_dir)?;
        }
        Ok(())
    }

    /// The container path of an open descriptor in this view.
    fn container_path(&self, fd: RawFd) -> PathBuf {
        let real = std::fs::read_link(fd_path(fd)).unwrap_or_default();
        let root = std::fs::read_link(fd_path(self.root.fd())).unwrap_or_default();
        real.strip_prefix(&root)
            .map(|r| Path::new("/").join(r))
            .unwrap_or_default()
    }

    fn check_writable(&self, fd: RawFd) -> Result<(), EngineError> {
        let p = self.container_path(fd);
        let mp = self
            .c
            .mounts
            .iter()
            .filter(|m| p.starts_with(&m.destination))
            .max_by_key(|m| m.destination.components().count());
        match mp {
            Some(m) if !m.rw => Err(err(Kind::Invalid, "mounted volume is marked read-only")),
            Some(_) => Ok(()),
            None if self.c.host_config["ReadonlyRootfs"] == true => {
                Err(err(Kind::Invalid, "container rootfs is marked read-only"))
            }
            None => Ok(()),
        }
    }
}

fn fstat(fd: RawFd) -> io::Result<libc::stat> {
    // SAFETY: stat is plain data; all-zero is valid and the kernel overwrites it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is open and `st` a valid out pointer.
    check(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st)
}

fn header_for(st: &libc::stat, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(st.st_uid as u64);
    h.set_gid(st.st_gid as u64);
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(size);
    h
}

fn add_dir<W: Write>(b: &mut tar::Builder<W>, fd: RawFd, name: &Path) -> io::Result<()> {
    let st = fstat(fd)?;
    let mut h = header_for(&st, tar::EntryType::Directory, 0);
    let shown = if name == Path::new(".") {
        PathBuf::from("./")
    } else {
        name.to_path_buf()
    };
    b.append_data(&mut h, &shown, io::empty())?;
    let mut children = safe::list_dir(fd)?;
    children.sort();
    for child in children {
        add_entry(b, fd, &child, &name.join(&child))?;
    }
    Ok(())
}

/// Add `name` in directory `dir` (not following it) to the tar as `shown`.
fn add_entry<W: Write>(
    b: &mut tar::Builder<W>,
    dir: RawFd,
    name: &OsStr,
    shown: &Path,
) -> io::Result<()> {
    let Some(st) = safe::lstat_at(dir, name)? else {
        return Ok(());
    };
    use tar::EntryType as E;
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => {
            let fd = safe::open_at(dir, name, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
            add_dir(b, fd.as_raw_fd(), shown)
        }
        libc::S_IFREG => {
            let f = std::fs::File::from(safe::open_at(dir, name, libc::O_RDONLY, 0)?);
            let mut h = header_for(&st, E::Regular, st.st_size as u64);
            b.append_data(&mut h, shown, f.take(st.st_size as u64))
        }
        libc::S_IFLNK => {
            let target = safe::read_link_at(dir, name)?.unwrap_or_default();
            let mut h = header_for(&st, E::Symlink, 0);
            b.append_link(&mut h, shown, target)
        }
        t @ (libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO) => {
            let kind = match t {
                libc::S_IFCHR => E::Char,
                libc::S_IFBLK => E::Block,
                _ => E::Fifo,
            };
            let mut h = header_for(&st, kind, 0);
            h.set_device_major(libc::major(st.st_rdev))?;
            h.set_device_minor(libc::minor(st.st_rdev))?;
            b.append_data(&mut h, shown, io::empty())
        }
        _ => Ok(()), // sockets are not archived
    }
}

fn extract_entry<R: Read>(
    root: &Root,
    entry: &mut tar::Entry<R>,
    no_overwrite_dir_non_dir: bool,
) -> Result<(), EngineError> {
    let raw = entry
        .path()
        .map_err(|e| err(Kind::Invalid, format!("read archive: {e}")))?
        .into_owned();
    let path = safe::clean(&raw);
    let werr = |e: io::Error| internal(&format!("extract {}", path.display()), e);
    let Some((parent, name)) = root.parent_of(&path).map_err(werr)? else {
        return Ok(()); // the extraction directory itself
    };
    let pfd = parent.as_raw_fd();
    let h = entry.header();
    let kind = h.entry_type();
    let is_dir = kind == tar::EntryType::Directory;
    if let Some(existing) = safe::lstat_at(pfd, &name).map_err(werr)? {
        let was_dir = existing.st_mode & libc::S_IFMT == libc::S_IFDIR;
        if no_overwrite_dir_non_dir && was_dir && !is_dir {
            return Err(err(
                Kind::Invalid,
                format!(
                    "cannot overwrite directory \"/{}\" with non-directory \"/{}\"",
                    path.display(),
                    path.display()
                ),
            ));
        }
        if no_overwrite_dir_non_dir && !was_dir && is_dir {
            return Err(err(
                Kind::Invalid,
                format!(
                    "cannot overwrite non-directory \"/{}\" with directory \"/{}\"",
                    path.display(),
                    path.display()
                ),
            ));
        }
    }
    let mut st: libc::stat = unsafe_zeroed_stat();
    st.st_mode = h.mode().unwrap_or(0o644);
    st.st_uid = h.uid().unwrap_or(0) as u32;
    st.st_gid = h.gid().unwrap_or(0) as u32;
    st.st_mtime = h.mtime().unwrap_or(0) as i64;
    let attrs = attrs_of(&st);
    use tar::EntryType as E;
    match kind {
        E::Directory => safe::create_dir(pfd, &name, &attrs)
            .and_then(|_| safe::set_times_at(pfd, &name, attrs.mtime)),
        E::Regular | E::Continuous => safe::create_file(pfd, &name, entry, &attrs),
        E::Symlink => {
            let target = entry
                .link_name()
                .ok()
                .flatten()
                .map(|t| t.into_owned())
                .unwrap_or_default();
            safe::create_symlink(pfd, &name, &target, &attrs)
        }
        E::Link => {
            let target = entry
                .link_name()
                .ok()
                .flatten()
                .map(|t| safe::clean(&t))
                .unwrap_or_default();
            root.existing_parent_of(&target)
                .and_then(|(td, tn)| safe::create_hardlink(td.as_raw_fd(), &tn, pfd, &name))
        }
        E::Char | E::Block | E::Fifo => {
            let t = match kind {
                E::Char => libc::S_IFCHR,
                E::Block => libc::S_IFBLK,
                _ => libc::S_IFIFO,
            };
            let dev = libc::makedev(
                h.device_major().ok().flatten().unwrap_or(0),
                h.device_minor().ok().flatten().unwrap_or(0),
            );
            safe::create_node(pfd, &name, t, dev, &attrs)
        }
        _ => Ok(()),
    }
    .map_err(werr)
}

fn unsafe_zeroed_stat() -> libc::stat {
    // SAFETY: stat is plain data; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

impl Engine {
    /// `HEAD /containers/{id}/archive`: the stat of a path.
    pub fn archive_stat(&self, key: &str, path: &str) -> Result<PathStat, EngineError> {
        let c = self.store.get(key)?;
        self.with_view(&c, true, |v| Ok(v.stat(path)?.2))
    }

    /// `GET /containers/{id}/archive`: `on_stat` gets the stat (or the error) before the tar
    /// is written to `out`.
    pub fn archive_get(
        &self,
        key: &str,
        path: &str,
        on_stat: impl FnOnce(Result<PathStat, EngineError>) + Send,
        out: &mut (dyn Write + Send),
    ) {
        let c = match self.store.get(key) {
            Ok(c) => c,
            Err(e) => return on_stat(Err(e.into())),
        };
        let dot = path.ends_with("/.") || path == ".";
        let mut on_stat = Some(on_stat);
        let r = self.with_view(&c, true, |v| {
            let (dirfd, base, stat) = v.stat(path)?;
            (on_stat.take().expect("once"))(Ok(stat.clone()));
            let _ = v.tar_path(&dirfd, base.as_deref(), &stat, dot, out);
            Ok(())
        });
        if let (Err(e), Some(f)) = (r, on_stat) {
            f(Err(e));
        }
    }

    /// `PUT /containers/{id}/archive`: extract a tar into a directory of the container.
    pub fn archive_put(
        &self,
        key: &str,
        path: &str,
        tar_stream: &mut (dyn Read + Send),
        no_overwrite_dir_non_dir: bool,
    ) -> Result<(), EngineError> {
        let c = self.store.get(key)?;
        self.with_view(&c, true, |v| {
            v.extract(path, tar_stream, no_overwrite_dir_non_dir)
        })
    }

    /// `GET /containers/{id}/export`: the root filesystem (without volumes) as a tar.
    pub fn export(&self, key: &str, out: &mut (dyn Write + Send)) -> Result<(), EngineError> {
        let c = self.store.get(key)?;
        self.with_view(&c, false, |v| {
            let fd = v
                .root
                .open_dir(Path::new("/"))
                .map_err(|e| internal("open rootfs", e))?;
            let mut b = tar::Builder::new(out);
            let mut children = safe::list_dir(fd.as_raw_fd()).map_err(|e| internal("list", e))?;
            children.sort();
            for child in children {
                add_entry(&mut b, fd.as_raw_fd(), &child, Path::new(&child))
                    .map_err(|e| internal("export", e))?;
            }
            b.finish().map_err(|e| internal("export", e))
        })
    }

    /// `GET /containers/{id}/changes`: what the container changed against its image.
    pub fn changes(&self, key: &str) -> Result<Vec<Change>, EngineError> {
        let c = self.store.get(key)?;
        let upper = self.rootfs_dir(&c.id).join("upper");
        let info = self.images.inspect(&c.image)?;
        let snaps = image::snapshot::Snapshotter::open(&self.roots.data.join("image"))
            .map_err(|e| internal("open snapshots", e))?;
        let lowers: Vec<PathBuf> = info.chain_ids.iter().rev().map(|ch| snaps.fs(ch)).collect();
        let mut out = Vec::new();
        if upper.is_dir() {
            walk_upper(&upper, Path::new("/"), &lowers, &mut out)
                .map_err(|e| internal("read changes", e))?;
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }
}

fn in_lower(lowers: &[PathBuf], rel: &Path) -> bool {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    lowers
        .iter()
        .any(|l| std::fs::symlink_metadata(l.join(rel)).is_ok())
}

fn walk_upper(dir: &Path, at: &Path, lowers: &[PathBuf], out: &mut Vec<Change>) -> io::Result<()> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let md = e.metadata()?;
        let path = at.join(e.file_name());
        let shown = path.to_string_lossy().into_owned();
        if md.file_type().is_char_device() && md.rdev() == 0 {
            out.push(Change {
                path: shown,
                kind: 2,
            });
            continue;
        }
        let kind = if in_lower(lowers, &path) { 0 } else { 1 };
        out.push(Change { path: shown, kind });
        if md.is_dir() {
            walk_upper(&e.path(), &path, lowers, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_split_as_docker_reads_them() {
        let r = |p: &str| {
            let q = split_request(p);
            (
                q.dir.to_string_lossy().into_owned(),
                q.base.to_string_lossy().into_owned(),
            )
        };
        assert_eq!(r("/etc/passwd"), ("/etc".into(), "passwd".into()));
        assert_eq!(r("etc/"), ("/etc".into(), "".into()));
        assert_eq!(r("/etc/."), ("/etc".into(), ".".into()));
        assert_eq!(r("/"), ("/".into(), "".into()));
        assert_eq!(r("../../etc/shadow"), ("/etc".into(), "shadow".into()));
        assert_eq!(r("/a/b/.."), ("/a".into(), "".into()));
    }

    #[test]
    fn go_modes() {
        assert_eq!(go_mode(libc::S_IFDIR | 0o755), GO_DIR | 0o755);
        assert_eq!(go_mode(libc::S_IFLNK | 0o777), GO_SYMLINK | 0o777);
        assert_eq!(go_mode(libc::S_IFREG | 0o4755), GO_SETUID | 0o755);
    }
}
