//! Filesystem writes confined to one directory. Parents are resolved with
//! `openat2(RESOLVE_IN_ROOT)` (`..` and symlinks, absolute or relative, stay inside), and the
//! final component is always created, replaced or changed relative to its parent's descriptor
//! with `*at` calls that do not follow it. Nothing here can write outside the root.

use crate::sys::{self, check, cstr};
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

/// A directory that writes are confined to.
pub struct Root {
    fd: OwnedFd,
}

/// A path made relative and clean: no `.`, no `..` (clamped at the root), no empty parts.
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
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

fn errno(e: i32) -> io::Error {
    io::Error::from_raw_os_error(e)
}

/// `fstatat` without following the final symlink; `None` when missing.
pub fn lstat_at(dir: RawFd, name: &OsStr) -> io::Result<Option<libc::stat>> {
    let c = cstr(name)?;
    // SAFETY: stat is plain data; all-zero is valid and the kernel overwrites it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid C string and `st` a valid out pointer for the call.
    let r = unsafe { libc::fstatat(dir, c.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
    match check(r) {
        Ok(_) => Ok(Some(st)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Open `name` in `dir` without following a symlink there.
pub fn open_at(dir: RawFd, name: &OsStr, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let c = cstr(name)?;
    // SAFETY: `c` is a valid C string for the call.
    let fd = check(unsafe {
        libc::openat(
            dir,
            c.as_ptr(),
            flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    })?;
    // SAFETY: openat returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The target of symlink `name` in `dir`; `None` if it is not a symlink.
pub fn read_link_at(dir: RawFd, name: &OsStr) -> io::Result<Option<PathBuf>> {
    let c = cstr(name)?;
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: `c` is a valid C string and `buf` a writable buffer of the given length.
    let n = unsafe { libc::readlinkat(dir, c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EINVAL) | Some(libc::ENOENT) => Ok(None),
            _ => Err(e),
        };
    }
    buf.truncate(n as usize);
    Ok(Some(PathBuf::from(OsString::from_vec(buf))))
}

/// Remove `name` in `dir`, recursively if it is a directory (never following symlinks).
pub fn remove_all_at(dir: RawFd, name: &OsStr) -> io::Result<()> {
    let Some(st) = lstat_at(dir, name)? else {
        return Ok(());
    };
    let c = cstr(name)?;
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        let sub = open_at(dir, name, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
        for child in list_dir(sub.as_raw_fd())? {
            remove_all_at(sub.as_raw_fd(), &child)?;
        }
        // SAFETY: `c` is a valid C string for the call.
        check(unsafe { libc::unlinkat(dir, c.as_ptr(), libc::AT_REMOVEDIR) })?;
    } else {
        // SAFETY: `c` is a valid C string for the call.
        check(unsafe { libc::unlinkat(dir, c.as_ptr(), 0) })?;
    }
    Ok(())
}

/// The names in a directory (without `.` and `..`).
pub fn list_dir(dir: RawFd) -> io::Result<Vec<OsString>> {
    // Read through /proc so the descriptor's offset is not shared with callers.
    let path = format!("/proc/self/fd/{dir}");
    let mut out = Vec::new();
    for e in std::fs::read_dir(path)? {
        out.push(e?.file_name());
    }
    Ok(out)
}

/// Attributes to give a created entry.
#[derive(Debug, Clone, Default)]
pub struct Attrs {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Change owner (only root can).
    pub chown: bool,
    pub mtime: i64,
    pub xattrs: Vec<(OsString, Vec<u8>)>,
}

impl Root {
    /// Open `dir` as a root.
    pub fn open(dir: &Path) -> io::Result<Root> {
        Ok(Root {
            fd: sys::open_dir(dir)?,
        })
    }

    /// The root's descriptor.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Open the directory `rel` inside the root (resolving symlinks inside the root).
    pub fn open_dir(&self, rel: &Path) -> io::Result<OwnedFd> {
        sys::open_in_root(self.fd(), rel, libc::O_RDONLY | libc::O_DIRECTORY)
    }

    /// Open the directory `rel`, creating missing directories (mode 0755) on the way.
    pub fn mkdir_all(&self, rel: &Path) -> io::Result<OwnedFd> {
        self.mkdir_all_depth(rel, 0)
    }

    fn mkdir_all_depth(&self, rel: &Path, depth: u32) -> io::Result<OwnedFd> {
        if depth > 40 {
            return Err(errno(libc::ELOOP));
        }
        let mut cur = self.open_dir(Path::new("."))?;
        let mut prefix = PathBuf::new();
        for c in clean(rel).components() {
            let name = c.as_os_str();
            prefix.push(name);
            match self.open_dir(&prefix) {
                Ok(fd) => cur = fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    let cn = cstr(name)?;
                    // SAFETY: `cn` is a valid C string for the call.
                    let r = unsafe { libc::mkdirat(cur.as_raw_fd(), cn.as_ptr(), 0o755) };
                    match check(r) {
                        Ok(_) => {}
                        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                            // A dangling symlink: create its target, inside the root.
                            if let Some(target) = read_link_at(cur.as_raw_fd(), name)? {
                                let base = prefix.parent().unwrap_or(Path::new(""));
                                let dest = if target.is_absolute() {
                                    target
                                } else {
                                    base.join(target)
                                };
                                self.mkdir_all_depth(&clean(&dest), depth + 1)?;
                            }
                        }
                        Err(e) => return Err(e),
                    }
                    cur = self.open_dir(&prefix)?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(cur)
    }

    /// The parent directory of `rel` (created if missing) and the final name; `None` for the
    /// root itself.
    pub fn parent_of(&self, rel: &Path) -> io::Result<Option<(OwnedFd, OsString)>> {
        let rel = clean(rel);
        let Some(name) = rel.file_name().map(OsStr::to_os_string) else {
            return Ok(None);
        };
        let parent = self.mkdir_all(rel.parent().unwrap_or(Path::new("")))?;
        Ok(Some((parent, name)))
    }

    /// The parent directory of `rel` without creating anything.
    pub fn existing_parent_of(&self, rel: &Path) -> io::Result<(OwnedFd, OsString)> {
        let rel = clean(rel);
        let name = rel
            .file_name()
            .map(OsStr::to_os_string)
            .ok_or_else(|| errno(libc::EINVAL))?;
        let parent = self.open_dir(rel.parent().unwrap_or(Path::new("")))?;
        Ok((parent, name))
    }
}

/// Make room for a new entry `name` in `dir`: remove what is there unless both are directories.
/// Returns whether a directory was kept.
pub fn make_room(dir: RawFd, name: &OsStr, new_is_dir: bool) -> io::Result<bool> {
    match lstat_at(dir, name)? {
        None => Ok(false),
        Some(st) if new_is_dir && st.st_mode & libc::S_IFMT == libc::S_IFDIR => Ok(true),
        Some(_) => remove_all_at(dir, name).map(|_| false),
    }
}

/// Create (or keep) directory `name` in `dir` and give it `attrs` (times are set later).
pub fn create_dir(dir: RawFd, name: &OsStr, attrs: &Attrs) -> io::Result<()> {
    if !make_room(dir, name, true)? {
        let c = cstr(name)?;
        // SAFETY: `c` is a valid C string for the call.
        check(unsafe { libc::mkdirat(dir, c.as_ptr(), 0o700) })?;
    }
    let fd = open_at(dir, name, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    set_fd_attrs(fd.as_raw_fd(), attrs)
}

/// Create regular file `name` in `dir` with the contents of `data`.
pub fn create_file(
    dir: RawFd,
    name: &OsStr,
    data: &mut dyn io::Read,
    attrs: &Attrs,
) -> io::Result<()> {
    make_room(dir, name, false)?;
    let fd = open_at(
        dir,
        name,
        libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
        0o600,
    )?;
    let mut f = std::fs::File::from(fd);
    io::copy(data, &mut f)?;
    set_fd_attrs(f.as_raw_fd(), attrs)?;
    set_times_fd(f.as_raw_fd(), attrs.mtime)
}

/// Create symlink `name` → `target` in `dir` (the target is stored, never followed).
pub fn create_symlink(dir: RawFd, name: &OsStr, target: &Path, attrs: &Attrs) -> io::Result<()> {
    make_room(dir, name, false)?;
    let (c, t) = (cstr(name)?, cstr(target)?);
    // SAFETY: both are valid C strings for the call.
    check(unsafe { libc::symlinkat(t.as_ptr(), dir, c.as_ptr()) })?;
    if attrs.chown {
        // SAFETY: `c` is a valid C string; AT_SYMLINK_NOFOLLOW changes the link itself.
        check(unsafe {
            libc::fchownat(
                dir,
                c.as_ptr(),
                attrs.uid,
                attrs.gid,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })?;
    }
    set_times_at(dir, name, attrs.mtime)
}

/// Create device node, fifo or socket `name` in `dir`.
pub fn create_node(
    dir: RawFd,
    name: &OsStr,
    kind: libc::mode_t,
    dev: libc::dev_t,
    attrs: &Attrs,
) -> io::Result<()> {
    make_room(dir, name, false)?;
    let c = cstr(name)?;
    // SAFETY: `c` is a valid C string for the call.
    check(unsafe { libc::mknodat(dir, c.as_ptr(), kind | (attrs.mode & 0o7777), dev) })?;
    let fd = open_at(dir, name, libc::O_PATH, 0)?;
    let path = cstr(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
    if attrs.chown {
        // SAFETY: `path` names the node we just made through its O_PATH descriptor.
        check(unsafe { libc::chown(path.as_ptr(), attrs.uid, attrs.gid) })?;
    }
    // SAFETY: as above.
    check(unsafe { libc::chmod(path.as_ptr(), attrs.mode & 0o7777) })?;
    set_times_at(dir, name, attrs.mtime)
}

/// Hard-link `name` in `dir` to `target_name` in `target_dir` (the link itself if a symlink).
pub fn create_hardlink(
    target_dir: RawFd,
    target_name: &OsStr,
    dir: RawFd,
    name: &OsStr,
) -> io::Result<()> {
    if lstat_at(target_dir, target_name)?.is_none() {
        return Err(errno(libc::ENOENT));
    }
    make_room(dir, name, false)?;
    let (t, c) = (cstr(target_name)?, cstr(name)?);
    // SAFETY: both are valid C strings; flags 0 does not follow a symlink target.
    check(unsafe { libc::linkat(target_dir, t.as_ptr(), dir, c.as_ptr(), 0) })?;
    Ok(())
}

/// Owner, mode and extended attributes, through a descriptor. Owner first: chown clears
/// set-id bits.
pub fn set_fd_attrs(fd: RawFd, attrs: &Attrs) -> io::Result<()> {
    if attrs.chown {
        // SAFETY: fchown on a descriptor we hold.
        check(unsafe { libc::fchown(fd, attrs.uid, attrs.gid) })?;
    }
    // SAFETY: fchmod on a descriptor we hold.
    check(unsafe { libc::fchmod(fd, (attrs.mode & 0o7777) as libc::mode_t) })?;
    for (k, v) in &attrs.xattrs {
        set_xattr(fd, k, v)?;
    }
    Ok(())
}

/// Set an extended attribute where the filesystem allows it; refusals are skipped.
pub fn set_xattr(fd: RawFd, name: &OsStr, value: &[u8]) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: `c` is a valid C string and `value` a valid buffer of its length.
    let r = unsafe { libc::fsetxattr(fd, c.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    match check(r) {
        Ok(_) => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTSUP) | Some(libc::EPERM)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Set an extended attribute; every failure is an error.
pub fn set_xattr_strict(fd: RawFd, name: &str, value: &[u8]) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: `c` is a valid C string and `value` a valid buffer of its length.
    let r = unsafe { libc::fsetxattr(fd, c.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    check(r).map(|_| ())
}

fn timespecs(mtime: i64) -> [libc::timespec; 2] {
    let t = libc::timespec {
        tv_sec: mtime as libc::time_t,
        tv_nsec: 0,
    };
    [t, t]
}

/// Set atime and mtime through a descriptor.
pub fn set_times_fd(fd: RawFd, mtime: i64) -> io::Result<()> {
    let ts = timespecs(mtime);
    // SAFETY: `ts` is a valid array of two timespecs for the call.
    check(unsafe { libc::futimens(fd, ts.as_ptr()) }).map(|_| ())
}

/// Set atime and mtime of `name` in `dir` without following a symlink.
pub fn set_times_at(dir: RawFd, name: &OsStr, mtime: i64) -> io::Result<()> {
    let c = cstr(name)?;
    let ts = timespecs(mtime);
    // SAFETY: `c` is a valid C string and `ts` two valid timespecs for the call.
    check(unsafe { libc::utimensat(dir, c.as_ptr(), ts.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) })
        .map(|_| ())
}

/// Whether `name` is a plain name usable as a final component.
pub fn is_plain_name(name: &OsStr) -> bool {
    let b = name.as_bytes();
    !b.is_empty() && b != b"." && b != b".." && !b.contains(&b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_clamps_at_root() {
        for (i, o) in [
            ("../../etc/passwd", "etc/passwd"),
            ("/abs/x", "abs/x"),
            ("./a/./b/../c", "a/c"),
            ("a/../../..", ""),
            ("", ""),
        ] {
            assert_eq!(clean(Path::new(i)), PathBuf::from(o), "{i}");
        }
    }

    #[test]
    fn mkdir_all_follows_symlinks_inside_only() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        let outside = t.path().join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("esc")).unwrap();
        std::os::unix::fs::symlink("../../..", root.join("up")).unwrap();
        let r = Root::open(&root).unwrap();
        r.mkdir_all(Path::new("esc/a")).unwrap();
        r.mkdir_all(Path::new("up/b")).unwrap();
        assert!(std::fs::read_dir(&outside).unwrap().next().is_none());
        assert!(root.join("b").is_dir());
        assert!(root
            .join(outside.strip_prefix("/").unwrap())
            .join("a")
            .is_dir());
    }
}
