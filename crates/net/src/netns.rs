//! Named network namespaces: a new namespace kept alive by a bind mount of its nsfs file on a
//! path (as `ip netns add` does), entered by a short-lived thread for configuration, and
//! removed by unmounting that path.

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("network namespace {path}: {op}: {err}")]
    Sys {
        path: PathBuf,
        op: &'static str,
        err: std::io::Error,
    },
    #[error("network namespace {0}: the configuring thread panicked")]
    Panicked(PathBuf),
}

pub type Result<T> = std::result::Result<T, Error>;

fn sys<'a>(path: &'a Path, op: &'static str) -> impl Fn(std::io::Error) -> Error + 'a {
    move |err| Error::Sys {
        path: path.to_path_buf(),
        op,
        err,
    }
}

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_encoded_bytes()).unwrap_or_default()
}

/// A new, empty network namespace bound on `path` (its parent directory is created).
pub fn create(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(sys(path, "create directory"))?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(sys(path, "create mount point"))?;
    let target = path.to_path_buf();
    let made = std::thread::spawn(move || -> std::io::Result<()> {
        // SAFETY: unshare affects only this short-lived thread, which exits right after.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let src = cstr(Path::new("/proc/thread-self/ns/net"));
        let dst = cstr(&target);
        // SAFETY: both paths are valid NUL-terminated strings; a bind mount has no data.
        let rc = unsafe {
            libc::mount(
                src.as_ptr(),
                dst.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    })
    .join()
    .map_err(|_| Error::Panicked(path.to_path_buf()))?;
    if let Err(e) = made {
        let _ = std::fs::remove_file(path);
        return Err(sys(path, "unshare and bind")(e));
    }
    Ok(())
}

/// Bind the namespace at `from` (a bound path or `/proc/<pid>/ns/net`) on `path` too.
pub fn bind(from: &Path, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(sys(path, "create directory"))?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(sys(path, "create mount point"))?;
    let (src, dst) = (cstr(from), cstr(path));
    // SAFETY: both paths are valid NUL-terminated strings; a bind mount has no data.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        let _ = std::fs::remove_file(path);
        return Err(sys(path, "bind")(err));
    }
    Ok(())
}

/// Unmount and remove a namespace's path; a path already gone is fine.
pub fn delete(path: &Path) -> Result<()> {
    let p = cstr(path);
    // SAFETY: `p` is a valid NUL-terminated path; MNT_DETACH needs no other argument.
    let rc = unsafe { libc::umount2(p.as_ptr(), libc::MNT_DETACH) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if !matches!(err.raw_os_error(), Some(libc::EINVAL | libc::ENOENT)) {
            return Err(sys(path, "unmount")(err));
        }
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(sys(path, "remove")(e)),
        _ => Ok(()),
    }
}

/// Is a namespace bound on `path`?
pub fn exists(path: &Path) -> bool {
    let want = path.to_string_lossy();
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|t| t.lines().any(|l| l.split(' ').nth(4) == Some(&want)))
        .unwrap_or(false)
}

/// Run `f` on a thread that joined the namespace at `path` (any nsfs file: a bound path or
/// `/proc/<pid>/ns/net`). `f` gets the host namespace as an open file, to place links there.
pub fn run_in<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce(&std::fs::File) -> T + Send + 'static,
) -> Result<T> {
    let ns = std::fs::File::open(path).map_err(sys(path, "open"))?;
    let host = std::fs::File::open("/proc/thread-self/ns/net").map_err(sys(path, "open host"))?;
    let p = path.to_path_buf();
    std::thread::spawn(move || -> Result<T> {
        // SAFETY: setns on a descriptor we hold; it changes only this thread's namespace,
        // and the thread ends when `f` returns.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(sys(&p, "enter")(std::io::Error::last_os_error()));
        }
        Ok(f(&host))
    })
    .join()
    .map_err(|_| Error::Panicked(path.to_path_buf()))?
}
