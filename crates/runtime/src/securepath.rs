//! Paths inside a container's rootfs, resolved by the kernel with `openat2(RESOLVE_IN_ROOT)`:
//! symlinks and `..` in an image can never lead outside the rootfs.

use crate::error::{Error, Result};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Component, Path, PathBuf};

/// Open `rel` inside the directory `root` with the given flags, never leaving `root`.
pub fn open_in_root(root: RawFd, rel: &Path, flags: i32) -> std::io::Result<OwnedFd> {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let c = CString::new(rel.as_os_str().as_encoded_bytes())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: open_how is plain data; all-zero is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    loop {
        // SAFETY: `c` is a valid C string and `how` a valid open_how for the call's duration.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root,
                c.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd >= 0 {
            // SAFETY: openat2 returned a fresh descriptor that nobody else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EAGAIN) && err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
}

/// Split a container path into its parent and final name, refusing `..` as the final name.
pub fn split(path: &Path) -> Result<(PathBuf, std::ffi::OsString)> {
    let mut parent = PathBuf::from("/");
    let mut last = None;
    for comp in path.components() {
        match comp {
            Component::Normal(n) => {
                if let Some(prev) = last.replace(n.to_os_string()) {
                    parent.push(prev);
                }
            }
            Component::ParentDir => {
                if let Some(prev) = last.take() {
                    parent.push(prev);
                }
                parent.push("..");
            }
            _ => {}
        }
    }
    let name = last.ok_or_else(|| Error::Unsupported(format!("path {path:?} names no file")))?;
    Ok((parent, name))
}

/// Make sure every directory of `rel` exists inside `root`, creating what is missing. A
/// dangling symlink on the way gets its target created, inside the root as the kernel resolves it.
pub fn mkdir_all(root: RawFd, rel: &Path) -> Result<OwnedFd> {
    mkdir_all_depth(root, rel, 0)
}

fn mkdir_all_depth(root: RawFd, rel: &Path, depth: u32) -> Result<OwnedFd> {
    if depth > 40 {
        return Err(Error::io(
            "mkdir",
            rel,
            std::io::Error::from_raw_os_error(libc::ELOOP),
        ));
    }
    let mut dir = open_in_root(root, Path::new("/"), libc::O_PATH | libc::O_DIRECTORY)
        .map_err(|e| Error::io("open rootfs", "/", e))?;
    let mut sofar = PathBuf::from("/");
    for comp in rel.components() {
        let name = match comp {
            Component::Normal(n) => n,
            Component::ParentDir => std::ffi::OsStr::new(".."),
            _ => continue,
        };
        let parent = sofar.clone();
        sofar.push(name);
        let c = CString::new(name.as_encoded_bytes()).expect("no NUL in a path component");
        // SAFETY: `dir` is an open directory fd and `c` a valid C string.
        let rc = unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), 0o755) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EEXIST) {
                return Err(Error::io("mkdir", &sofar, err));
            }
        }
        dir = match open_in_root(root, &sofar, libc::O_PATH | libc::O_DIRECTORY) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                let target = std::fs::read_link(fd_path(&dir).join(name))
                    .map_err(|_| Error::io("open", &sofar, e))?;
                mkdir_all_depth(root, &parent.join(target), depth + 1)?;
                open_in_root(root, &sofar, libc::O_PATH | libc::O_DIRECTORY)
                    .map_err(|e| Error::io("open", &sofar, e))?
            }
            Err(e) => return Err(Error::io("open", &sofar, e)),
        };
    }
    Ok(dir)
}

/// Create an empty regular file at `rel` (its parents too) unless something is already there.
pub fn touch(root: RawFd, rel: &Path) -> Result<()> {
    let (parent, name) = split(rel)?;
    let dir = mkdir_all(root, &parent)?;
    let c = CString::new(name.as_encoded_bytes()).expect("no NUL in a path component");
    // SAFETY: `dir` is an open directory fd and `c` a valid C string.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c.as_ptr(),
            libc::O_CREAT | libc::O_CLOEXEC | libc::O_WRONLY | libc::O_NOFOLLOW,
            0o644,
        )
    };
    if fd >= 0 {
        // SAFETY: fd was just returned by openat and is ours to close.
        unsafe { libc::close(fd) };
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EEXIST) | Some(libc::EISDIR) | Some(libc::ELOOP) | Some(libc::ENXIO) => Ok(()),
        _ => Err(Error::io("create", rel, err)),
    }
}

/// `/proc/self/fd/N`: a path the mount syscalls accept for an O_PATH descriptor.
pub fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_stay_inside_root() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        symlink(outside.path(), root.path().join("escape")).unwrap();
        symlink("../../../..", root.path().join("up")).unwrap();
        let rootfd = std::fs::File::open(root.path()).unwrap();
        mkdir_all(rootfd.as_raw_fd(), Path::new("/escape/made")).unwrap();
        mkdir_all(rootfd.as_raw_fd(), Path::new("/up/../made2")).unwrap();
        assert!(
            !outside.path().join("made").exists(),
            "mkdir followed a symlink out of the root"
        );
        assert!(root
            .path()
            .join(outside.path().strip_prefix("/").unwrap())
            .join("made")
            .is_dir());
        assert!(root.path().join("made2").is_dir());
        touch(rootfd.as_raw_fd(), Path::new("/escape/file")).unwrap();
        assert!(!outside.path().join("file").exists());
    }

    #[test]
    fn split_names_parent_and_file() {
        let (p, n) = split(Path::new("/a/b/c")).unwrap();
        assert_eq!((p, n.to_str().unwrap()), (PathBuf::from("/a/b"), "c"));
        assert!(split(Path::new("/")).is_err());
    }
}
